//! Porosity: published fractions of real volumes, profile consistency, deposit detection, windowed
//! statistics and the REV curve on analytic volumes.

use fibstack::metrics::porosity::{
    detect_deposit, phase_fractions, profile, rev_curve, window_stats, write_profiles_csv, Axis,
    DepositOptions,
};
use fibstack::volume::{VoxelSize, VoxelSource};
use ndarray::{s, Array3};
use std::path::Path;
use twins::read_tiff_u8;

#[path = "support/twins.rs"]
mod twins;

fn cal(nm: [f64; 3]) -> VoxelSize {
    VoxelSize::new(nm, VoxelSource::CommandLine)
}

#[test]
fn taufactor_electrode_fractions_match_published() {
    let Some(a) = read_tiff_u8("../shared/data/volumes/taufactor_electrode_256.tiff") else {
        return;
    };
    assert_eq!(a.shape(), &[256, 256, 256]);
    let v = cal([390.625; 3]);
    let r = phase_fractions(a.view(), &v).unwrap();
    let labels: Vec<u8> = r.phases.iter().map(|p| p.label).collect();
    assert_eq!(labels, vec![0, 85, 170]);
    for (l, want) in [(0, 0.449917), (85, 0.400466), (170, 0.149616)] {
        let got = r.fraction(l);
        assert!((got - want).abs() < 5e-7, "label {l}: {got} vs {want}");
    }
    // 100 um box
    assert!((r.total_volume * 1e-9 - 1e6).abs() < 1e-3);
    // profiles along every axis average back to the global fraction
    for axis in Axis::ALL {
        let p = profile(a.view(), axis, &v).unwrap();
        let f0 = p.fraction_of(0);
        let mean = f0.iter().sum::<f64>() / f0.len() as f64;
        assert!((mean - r.fraction(0)).abs() < 1e-12);
    }
}

#[test]
fn fiberform_subvolume_void_fractions_match_puma() {
    let Some(g) = read_tiff_u8("../shared/data/volumes/puma_fiberform_100.tif") else {
        return;
    };
    assert_eq!(g.shape(), &[100, 100, 100]);
    // void = grey < 90 (PuMA's cutoff) -> label 0, solid -> 1
    let l = g.mapv(|v| (v >= 90) as u8);
    let v = cal([1300.0; 3]);
    let f = |a: ndarray::ArrayView3<u8>| phase_fractions(a, &v).unwrap().fraction(0);
    let cases = [
        (f(l.slice(s![.., .., 50..100])), 0.702066, 5e-7),
        (f(l.slice(s![.., 50..100, ..])), 0.837194, 5e-7),
        (f(l.slice(s![50..100, .., ..])), 0.829498, 5e-7),
        (f(l.slice(s![.., .., 99..100])), 0.5621, 5e-5),
        (f(l.slice(s![.., .., 0..1])), 0.9921, 5e-5),
    ];
    for (i, (got, want, tol)) in cases.iter().enumerate() {
        assert!((got - want).abs() < *tol, "case {i}: {got} vs {want}");
    }
    // the x profile gives the single-slice values too
    let p = profile(l.view(), Axis::X, &v).unwrap();
    let fx = p.fraction_of(0);
    assert!((fx[99] - 0.5621).abs() < 5e-5 && (fx[0] - 0.9921).abs() < 5e-5);
    assert_eq!(p.length_unit, "nm");
    assert!((p.position[0] - 650.0).abs() < 1e-9);
}

#[test]
fn profile_rows_sum_to_one_and_counts_to_total() {
    let a = Array3::from_shape_fn((5, 7, 9), |(z, y, x)| ((z * 3 + y * y + x) % 4) as u8);
    let v = cal([10.0, 20.0, 30.0]);
    let tot = phase_fractions(a.view(), &v).unwrap();
    for axis in Axis::ALL {
        let p = profile(a.view(), axis, &v).unwrap();
        assert_eq!(p.position.len(), a.shape()[axis.index()]);
        for row in &p.fractions {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        for l in p.labels.clone() {
            let c: u64 = p.count_of(l).iter().sum();
            assert_eq!(c, tot.get(l).unwrap().count);
        }
        let d = v.nm[axis.index()];
        assert!((p.slice_thickness - d).abs() < 1e-12);
        assert!((p.position[1] - 1.5 * d).abs() < 1e-12);
        let mut csv = Vec::new();
        write_profiles_csv(std::slice::from_ref(&p), &Default::default(), &mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert!(text.starts_with(&format!(
            "axis,index,position_nm,label,phase_name,voxels,fraction\n{},0,",
            axis.name()
        )));
        assert_eq!(text.lines().count(), p.position.len() * p.labels.len() + 1);
    }
}

/// Layered Li-deposit model along z: collector (label 2) in z < 4, a deposit with 30 % pore in
/// 4 ≤ z < 14, then electrolyte (pore, label 0) to z = 20.
fn deposit_volume() -> Array3<u8> {
    Array3::from_shape_fn((20, 10, 10), |(z, y, x)| {
        if z < 4 {
            2
        } else if z < 14 {
            // 30 pore voxels out of 100 per slice
            if (y * 10 + x) % 10 < 3 {
                0
            } else {
                1
            }
        } else {
            0
        }
    })
}

#[test]
fn deposit_bottom_top_and_porosity_on_layered_model() {
    let a = deposit_volume();
    let v = cal([50.0, 10.0, 10.0]);
    let p = profile(a.view(), Axis::Z, &v).unwrap();
    let opts = DepositOptions {
        phase: 0,
        collector: Some(2),
        threshold: None,
        reverse: false,
    };
    let d = detect_deposit(&p, &opts).unwrap().unwrap();
    assert_eq!((d.bottom_index, d.top_index), (4, 13));
    assert_eq!(d.bottom, 200.0);
    assert_eq!(d.top, 700.0);
    assert_eq!(d.thickness, 500.0);
    assert_eq!(d.collector_top, Some(200.0));
    assert!((d.mean_porosity - 0.3).abs() < 1e-12);
    assert!((d.threshold - 0.35).abs() < 1e-12);
    // without the collector label the collector counts as solid: deposit starts at 0
    let d2 = detect_deposit(
        &p,
        &DepositOptions {
            collector: None,
            ..opts
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!((d2.bottom_index, d2.top_index), (0, 13));
    // flipped volume with --rev gives the same heights
    let flipped = a.slice(s![..;-1, .., ..]).to_owned();
    let pf = profile(flipped.view(), Axis::Z, &v).unwrap();
    let d3 = detect_deposit(
        &pf,
        &DepositOptions {
            reverse: true,
            ..opts
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (d3.bottom, d3.top, d3.mean_porosity),
        (d.bottom, d.top, d.mean_porosity)
    );
    assert_eq!((d3.bottom_index, d3.top_index), (15, 6));
    // no solid at all -> None; bad threshold -> error
    let e = Array3::<u8>::zeros((4, 3, 3));
    let pe = profile(e.view(), Axis::Z, &v).unwrap();
    assert!(detect_deposit(&pe, &opts).unwrap().is_none());
    assert!(detect_deposit(
        &p,
        &DepositOptions {
            threshold: Some(1.5),
            ..opts
        }
    )
    .is_err());
}

#[test]
fn window_stats_on_half_filled_volume() {
    // x < 8 pore, x >= 8 solid; 4-voxel windows never straddle the boundary
    let a = Array3::from_shape_fn((8, 8, 16), |(_, _, x)| (x >= 8) as u8);
    let v = cal([5.0; 3]);
    let w = window_stats(a.view(), 0, 20.0, &v).unwrap();
    assert_eq!(w.window_voxels, [4, 4, 4]);
    assert_eq!(w.stats.n, 2 * 2 * 4);
    assert_eq!(w.stats.mean, 0.5);
    assert_eq!((w.stats.min, w.stats.max), (0.0, 1.0));
    // sample std of 8 zeros and 8 ones
    assert!((w.stats.std - (16.0f64 * 0.25 / 15.0).sqrt()).abs() < 1e-12);
    assert_eq!(w.windows[1].origin, [0, 0, 4]);
    // windows of 3 voxels drop the partial ones: 2 x 2 x 5
    let w3 = window_stats(a.view(), 0, 15.0, &v).unwrap();
    assert_eq!(w3.stats.n, 2 * 2 * 5);
    // a window larger than the volume is clipped and noted
    let big = window_stats(a.view(), 0, 1000.0, &v).unwrap();
    assert_eq!(big.stats.n, 1);
    assert_eq!(big.stats.mean, 0.5);
    assert!(big.note.unwrap().contains("clipped"));
    assert!(window_stats(a.view(), 0, -1.0, &v).is_err());
}

#[test]
fn rev_curve_spread_shrinks_and_mean_tracks_fraction() {
    // checkerboard of 2-voxel blocks: fraction 0.5 exactly in every even-sized cube
    let a = Array3::from_shape_fn((32, 32, 32), |(z, y, x)| {
        ((z / 2 + y / 2 + x / 2) % 2) as u8
    });
    let v = cal([10.0; 3]);
    let r = rev_curve(a.view(), 0, &v, 6).unwrap();
    assert_eq!(r.fraction, 0.5);
    assert!(r.points.len() >= 4);
    let first = &r.points[0];
    let last = r.points.last().unwrap();
    assert_eq!(first.window_voxels, [2, 2, 2]);
    assert_eq!(last.window_voxels, [32, 32, 32]);
    assert_eq!(last.stats.mean, 0.5);
    assert_eq!(last.stats.std, 0.0);
    assert!(first.stats.std > last.stats.std);
    for p in &r.points {
        assert!(p.stats.min <= p.stats.mean && p.stats.mean <= p.stats.max);
        assert!(p.stats.std.is_finite());
    }
    // uniform volume: every sub-cube has fraction 1, spread 0
    let u = Array3::<u8>::zeros((6, 7, 8));
    let r = rev_curve(u.view(), 0, &VoxelSize::default(), 5).unwrap();
    assert!(r
        .points
        .iter()
        .all(|p| p.stats.mean == 1.0 && p.stats.std == 0.0));
    assert!(r.note.is_some());
}

/// Keys whose value is null anywhere in a JSON tree (serde_json writes NaN / inf as null).
fn null_keys(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Null => out.push(key.to_string()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| null_keys(x, key, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| null_keys(x, k, out)),
        _ => {}
    }
}

#[test]
fn degenerate_volumes_give_defined_reports() {
    use fibstack::metrics::porosity::{porosity_report, PorosityOptions};
    let allowed = [
        "note",
        "deposit",
        "windows",
        "rev_curve",
        "collector_top",
        "volume_um3",
    ];
    let cases: Vec<(Array3<u8>, VoxelSize)> = vec![
        (Array3::zeros((5, 6, 7)), cal([3.0, 2.0, 1.0])), // all pore
        (Array3::ones((5, 6, 7)), cal([3.0, 2.0, 1.0])),  // pore absent
        (
            Array3::from_shape_fn((1, 6, 7), |(_, y, x)| ((x + y) % 2) as u8),
            cal([3.0, 2.0, 1.0]),
        ),
        (
            Array3::from_shape_fn((9, 1, 1), |(z, _, _)| (z % 3 == 0) as u8),
            VoxelSize::default(),
        ),
    ];
    for (l, v) in cases {
        for deposit in [false, true] {
            let opts = PorosityOptions {
                window_nm: Some(4.0),
                deposit,
                ..PorosityOptions::default()
            };
            let r = porosity_report(l.view(), &v, &opts).unwrap();
            let j = serde_json::to_value(&r).unwrap();
            let mut nulls = Vec::new();
            null_keys(&j, "", &mut nulls);
            for k in &nulls {
                assert!(
                    allowed.contains(&k.as_str()),
                    "null (NaN?) at {k} for shape {:?}",
                    l.shape()
                );
            }
            assert!(r.porosity.value.is_finite());
            for p in &r.profiles {
                assert!(p.fraction.iter().all(|f| f.is_finite()));
            }
        }
    }
}

/// The simulator's Li deposit (fixtures/synth/li-deposit, label 2 = collector at the high-y end,
/// heights along −y): deposit detection reproduces the generator's truth.
#[test]
fn synthetic_li_deposit_matches_simulator_truth() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/synth/li-deposit");
    let (lp, tp) = (dir.join("truth/labels.tif"), dir.join("truth.json"));
    if !lp.exists() || !tp.exists() {
        eprintln!("SKIP: {} is absent", dir.display());
        return;
    }
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&tp).unwrap()).unwrap();
    let l = fibstack::io::read_labels(&lp, &Default::default()).unwrap();
    let v = cal([20.0, 20.0, 20.0]);
    assert_eq!(
        truth["voxel_size_nm"],
        serde_json::json!([20.0, 20.0, 20.0])
    );
    let r = phase_fractions(l.view(), &v).unwrap();
    for pf in truth["phase_fractions"].as_array().unwrap() {
        let lab = pf["label"].as_u64().unwrap() as u8;
        assert_eq!(r.get(lab).unwrap().count, pf["voxels"].as_u64().unwrap());
    }
    let p = profile(l.view(), Axis::Y, &v).unwrap();
    let d = detect_deposit(
        &p,
        &DepositOptions {
            phase: 0,
            collector: Some(2),
            threshold: None,
            reverse: true,
        },
    )
    .unwrap()
    .unwrap();
    let s = &truth["structure"];
    assert_eq!(
        d.collector_top.unwrap(),
        s["collector_thickness_nm"].as_f64().unwrap()
    );
    assert_eq!(d.bottom, s["collector_thickness_nm"].as_f64().unwrap());
    // half the maximum solid fraction is where half the columns have ended: the median column
    // height, i.e. the nominal thickness, up to the sampling error of a median of N heights
    // (σ_median ≈ 1.25·σ/√N); 3 of those
    let nominal = s["thickness_nominal_nm"].as_f64().unwrap();
    let sigma = s["morphology"]["height_rel_sigma"].as_f64().unwrap() * nominal;
    let n = s["grain_count"].as_f64().unwrap();
    let tol = 3.0 * 1.25 * sigma / n.sqrt() + 20.0;
    assert!(
        (d.thickness - nominal).abs() <= tol,
        "{} vs {nominal} ± {tol}",
        d.thickness
    );
    // the mean porosity is the pore fraction of the detected slab, counted directly
    let (a, b) = (
        d.bottom_index.min(d.top_index),
        d.bottom_index.max(d.top_index) + 1,
    );
    let slab = l.data.slice(ndarray::s![.., a..b, ..]);
    let pore = slab.iter().filter(|&&x| x == 0).count() as f64 / slab.len() as f64;
    assert!((d.mean_porosity - pore).abs() < 1e-12);
    // dense-equivalent thickness = integral of the lithium fraction over height
    let li: f64 = p.fraction_of(1).iter().sum::<f64>() * p.slice_thickness;
    assert!((li - s["dense_equivalent_thickness_nm"].as_f64().unwrap()).abs() < 1e-9);
}
