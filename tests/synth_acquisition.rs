//! The acquisition model: what is recorded is what was applied.

use fibstack::synth::acquisition::*;
use fibstack::synth::curtains::CurtainModel;
use fibstack::synth::structures;
use fibstack::volume::{GreyData, LabelVolume, VoxelSize, VoxelSource};
use ndarray::{Array2, Array3, Axis};

fn vox(d: [f64; 3]) -> VoxelSize {
    VoxelSize::new(d, VoxelSource::CommandLine)
}

/// A solid cylinder along z (disk of radius r px at (cy, cx) in every slice).
fn rod(shape: [usize; 3], cy: f64, cx: f64, r: f64, d: [f64; 3]) -> LabelVolume {
    let a = Array3::from_shape_fn(shape, |(_, j, i)| {
        u8::from((j as f64 - cy).powi(2) + (i as f64 - cx).powi(2) <= r * r)
    });
    LabelVolume::new(a, vox(d))
}

fn f32_slices(v: &GreyData) -> Array3<f32> {
    match v {
        GreyData::U8(a) => a.mapv(|x| x as f32),
        GreyData::U16(a) => a.mapv(|x| x as f32),
        GreyData::F32(a) => a.clone(),
    }
}

/// Background-subtracted intensity centroid (row, col) of one slice.
fn centroid(s: &Array2<f32>, bg: f32) -> (f64, f64) {
    let (mut m, mut my, mut mx) = (0.0, 0.0, 0.0);
    for ((j, i), v) in s.indexed_iter() {
        let w = (*v - bg) as f64;
        m += w;
        my += w * j as f64;
        mx += w * i as f64;
    }
    (my / m, mx / m)
}

#[test]
fn clean_render_is_the_phase_levels_on_the_truth_grid() {
    let (lab, _) = structures::channels([6, 20, 24], vox([10.0; 3]), 0, 3, 8).unwrap();
    let mut p = AcquisitionParams::clean();
    p.levels = Some(vec![0.2, 0.6]);
    let r = render(&lab, &p, 1).unwrap();
    assert_eq!(r.grey.shape(), [6, 20, 24]);
    assert_eq!(r.grey, r.clean);
    let g = f32_slices(&r.grey.data);
    for (v, l) in g.iter().zip(lab.data.iter()) {
        let want = if *l == 0 {
            (0.2f32 * 255.0).round()
        } else {
            (0.6f32 * 255.0).round()
        };
        assert_eq!(*v, want);
    }
    assert!(r.truth.drift_px.iter().all(|d| *d == [0.0, 0.0]));
}

#[test]
fn drift_applied_equals_drift_recorded() {
    let lab = rod([40, 64, 64], 31.0, 33.0, 9.0, [20.0; 3]);
    let mut p = AcquisitionParams::clean();
    p.drift = DriftParams {
        enabled: true,
        step_sigma_px: 0.4,
        jump_probability: 0.1,
        jump_sigma_px: 3.0,
    };
    p.levels = Some(vec![0.0, 1.0]);
    p.outside = Outside::Level(0.0);
    p.bit_depth = 16;
    let r = render(&lab, &p, 42).unwrap();
    let g = f32_slices(&r.grey.data);
    let c0 = centroid(&g.index_axis(Axis(0), 0).to_owned(), 0.0);
    let mut worst: f64 = 0.0;
    let mut moved: f64 = 0.0;
    for k in 0..40 {
        let c = centroid(&g.index_axis(Axis(0), k).to_owned(), 0.0);
        let d = r.truth.drift_px[k];
        assert_eq!(r.truth.total_shift_px[k], d);
        worst = worst
            .max((c.0 - c0.0 - d[0]).abs())
            .max((c.1 - c0.1 - d[1]).abs());
        moved = moved.max(d[0].abs()).max(d[1].abs());
    }
    assert!(moved > 1.0, "drift should be visible: max {moved} px");
    eprintln!("drift: max |measured − recorded| = {worst:.2e} px over 40 slices (max drift {moved:.2} px)");
    // bilinear interpolation preserves the first moment; 16-bit rounding leaves ~1e-4 px
    assert!(
        worst < 0.01,
        "measured vs recorded drift differ by {worst} px"
    );
}

#[test]
fn tilt_geometry_foreshortens_rows_and_shifts_the_face() {
    // rod at truth row 40 (of 80), dy = dx = 10 nm, dz = 30 nm, θ = 52°
    let d = [30.0, 10.0, 10.0];
    let lab = rod([12, 80, 48], 40.0, 24.0, 6.0, d);
    let mut p = AcquisitionParams::clean();
    p.tilt = Some(TiltParams::default());
    p.levels = Some(vec![0.0, 1.0]);
    p.outside = Outside::Level(0.0);
    p.bit_depth = 16;
    let r = render(&lab, &p, 3).unwrap();
    let s = 52f64.to_radians().sin();
    let rows = (80.0 * s).floor() as usize;
    assert_eq!(r.grey.shape(), [12, rows, 48]);
    assert!((r.truth.y_stretch - 1.0 / s).abs() < 1e-12);
    assert_eq!(r.grey.voxel.nm, [30.0, 10.0, 10.0]);
    let g = f32_slices(&r.grey.data);
    for k in 0..12 {
        let shift = -(k as f64) * 30.0 * 52f64.to_radians().cos() / 10.0;
        assert!((r.truth.face_shift_px[k] - shift).abs() < 1e-12);
        let c = centroid(&g.index_axis(Axis(0), k).to_owned(), 0.0);
        // a truth row y appears at image row y·sin θ + shift (rows: dy_img = dx; shift ≤ 0: up)
        let want = 40.0 * s + shift;
        assert!(
            (c.0 - want).abs() < 0.05,
            "slice {k}: row {} vs {want}",
            c.0
        );
        assert!((c.1 - 24.0).abs() < 0.01);
    }
}

#[test]
fn same_seed_same_bytes_and_thread_count_does_not_matter() {
    let (lab, _) = structures::electrode(
        &structures::ElectrodeParams::default(),
        [20, 40, 40],
        vox([20.0; 3]),
        9,
    )
    .unwrap();
    let mut p = AcquisitionParams::default();
    p.curtain.second_angle_deg = Some(8.0);
    let run = |threads: usize, seed: u64| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| render(&lab, &p, seed).unwrap())
    };
    let a = run(1, 5);
    let b = run(2, 5);
    let c = run(2, 5);
    assert_eq!(a.grey, b.grey);
    assert_eq!(a.clean, b.clean);
    assert_eq!(a.truth, b.truth);
    assert_eq!(b.grey, c.grey);
    let d = run(2, 6);
    assert_ne!(a.grey, d.grey);
}

#[test]
fn curtain_stripes_match_the_recorded_profiles() {
    // uniform solid: any column structure comes from the stripes
    let lab = LabelVolume::new(Array3::from_elem((6, 60, 80), 1u8), vox([20.0; 3]));
    let mut p = AcquisitionParams::clean();
    p.levels = Some(vec![0.1, 0.5]);
    p.bit_depth = 16;
    p.curtain = CurtainParams {
        enabled: true,
        model: CurtainModel::Additive,
        amplitude: 0.05,
        shadow_gain: 0.0,
        evolution_rad_per_slice: 0.3,
        ..Default::default()
    };
    let r = render(&lab, &p, 11).unwrap();
    let st = &r.truth.stripes[0];
    let g = f32_slices(&r.grey.data);
    let cl = f32_slices(&r.clean.data);
    for k in 0..6 {
        let ph = 0.3 * k as f64;
        for c in 0..80 {
            let u = c + st.margin;
            let want =
                0.05 * (ph.cos() * st.profile_a[u] as f64 + ph.sin() * st.profile_b[u] as f64);
            for row in [0, 30, 59] {
                let got = (g[[k, row, c]] - cl[[k, row, c]]) as f64 / 65535.0;
                assert!((got - want).abs() < 2e-5, "k {k} c {c}: {got} vs {want}");
            }
        }
    }
    // profiles have unit RMS and slowly changing slices stay correlated
    let rms = (st
        .profile_a
        .iter()
        .map(|v| (*v as f64).powi(2))
        .sum::<f64>()
        / st.profile_a.len() as f64)
        .sqrt();
    assert!((rms - 1.0).abs() < 1e-4);
}

#[test]
fn curtains_are_stronger_below_dense_features() {
    // top half solid, bottom half pore: stripe amplitude grows down the image
    let lab = LabelVolume::new(
        Array3::from_shape_fn((4, 100, 200), |(_, j, _)| u8::from(j < 50)),
        vox([20.0; 3]),
    );
    let mut p = AcquisitionParams::clean();
    p.bit_depth = 16;
    p.curtain.enabled = true;
    p.curtain.model = CurtainModel::Additive;
    p.curtain.shadow_gain = 3.0;
    let r = render(&lab, &p, 2).unwrap();
    let g = f32_slices(&r.grey.data);
    let cl = f32_slices(&r.clean.data);
    let row_std = |row: usize| {
        let v: Vec<f64> = (0..200)
            .map(|c| (g[[0, row, c]] - cl[[0, row, c]]) as f64)
            .collect();
        let m = v.iter().sum::<f64>() / 200.0;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 200.0).sqrt()
    };
    assert!(
        row_std(49) > 2.0 * row_std(0),
        "{} vs {}",
        row_std(49),
        row_std(0)
    );
}

#[test]
fn noise_has_the_modelled_variance_and_saturation_is_counted() {
    let lab = LabelVolume::new(Array3::from_elem((4, 64, 64), 1u8), vox([20.0; 3]));
    let mut p = AcquisitionParams::clean();
    p.levels = Some(vec![0.0, 0.5]);
    p.bit_depth = 16;
    p.noise = NoiseParams {
        enabled: true,
        counts_at_full_scale: 200.0,
        gaussian_sigma: 0.02,
    };
    let r = render(&lab, &p, 4).unwrap();
    let g = f32_slices(&r.grey.data);
    let n = g.len() as f64;
    let m = g.iter().map(|v| *v as f64 / 65535.0).sum::<f64>() / n;
    let var = g
        .iter()
        .map(|v| (*v as f64 / 65535.0 - m).powi(2))
        .sum::<f64>()
        / n;
    let want = 0.5 / 200.0 + 0.02f64.powi(2);
    assert!((m - 0.5).abs() < 0.002, "mean {m}");
    assert!((var / want - 1.0).abs() < 0.05, "variance {var} vs {want}");
    // a level at full scale saturates about half the pixels; the count is recorded
    p.levels = Some(vec![0.0, 1.0]);
    p.bit_depth = 8;
    let r = render(&lab, &p, 4).unwrap();
    let n255 = match &r.grey.data {
        GreyData::U8(a) => a.iter().filter(|&&v| v == 255).count(),
        _ => unreachable!(),
    };
    assert_eq!(r.truth.saturated_high, n255);
    assert!(n255 > 6000 && n255 < 10000, "{n255}");
}

#[test]
fn shine_through_lights_pores_in_front_of_solid_only() {
    // slice 0 all pore; slice 1 has a solid block on the left half
    let mut a = Array3::<u8>::zeros((3, 30, 40));
    for j in 0..30 {
        for i in 0..20 {
            a[[1, j, i]] = 1;
            a[[2, j, i]] = 1;
        }
    }
    let lab = LabelVolume::new(a, vox([20.0; 3]));
    let mut p = AcquisitionParams::clean();
    p.bit_depth = 16;
    p.levels = Some(vec![0.1, 0.7]);
    p.shine_through.enabled = true;
    p.shine_through.strength = 0.3;
    let r = render(&lab, &p, 0).unwrap();
    let g = f32_slices(&r.grey.data);
    let left = g[[0, 15, 5]] as f64 / 65535.0;
    let right = g[[0, 15, 35]] as f64 / 65535.0;
    assert!((right - 0.1).abs() < 1e-4, "no solid behind: {right}");
    // weights 0.3 (slice 1) + 0.3·e^(−1/1.5) (slice 2) of the 0.6 contrast
    let want = 0.1 + 0.6 * (0.3 + 0.3 * (-1.0f64 / 1.5).exp());
    assert!((left - want).abs() < 1e-3, "{left} vs {want}");
    // the clean volume has no shine-through
    let c = f32_slices(&r.clean.data);
    assert!((c[[0, 15, 5]] as f64 / 65535.0 - 0.1).abs() < 1e-4);
}

#[test]
fn bad_acquisition_parameters_are_param_errors() {
    let lab = LabelVolume::new(Array3::from_elem((2, 8, 8), 1u8), vox([20.0; 3]));
    let cases: Vec<(AcquisitionParams, &str)> = vec![
        (
            AcquisitionParams {
                bit_depth: 12,
                ..Default::default()
            },
            "bit_depth",
        ),
        (
            AcquisitionParams {
                levels: Some(vec![0.1, 1.5]),
                ..Default::default()
            },
            "levels[1]",
        ),
        (
            AcquisitionParams {
                tilt: Some(TiltParams {
                    angle_deg: 95.0,
                    ..Default::default()
                }),
                ..Default::default()
            },
            "tilt angle_deg",
        ),
        (
            {
                let mut p = AcquisitionParams::default();
                p.drift.jump_probability = 2.0;
                p
            },
            "drift jump_probability",
        ),
        (
            {
                let mut p = AcquisitionParams::default();
                p.curtain.angle_deg = 60.0;
                p
            },
            "curtain angle_deg",
        ),
        (
            {
                let mut p = AcquisitionParams::default();
                p.noise.gaussian_sigma = -0.1;
                p
            },
            "noise gaussian_sigma",
        ),
    ];
    for (p, name) in cases {
        let e = render(&lab, &p, 0).expect_err("must fail");
        assert_eq!(e.name, name);
        assert!(!e.fix.is_empty());
    }
}

#[test]
fn outside_modes_fill_what_shifts_into_view() {
    // collector-like bottom rows (label 2); face shift moves content up, so new rows enter below
    let a = Array3::from_shape_fn((10, 40, 16), |(_, j, _)| if j >= 34 { 2u8 } else { 0 });
    let lab = LabelVolume::new(a, vox([40.0, 10.0, 10.0]));
    let mut p = AcquisitionParams::clean();
    p.levels = Some(vec![0.1, 0.5, 0.9]);
    p.tilt = Some(TiltParams {
        foreshorten: false,
        ..Default::default()
    });
    let last_row = |p: &AcquisitionParams| {
        let r = render(&lab, p, 0).unwrap();
        assert!(r.truth.face_shift_px[9] < -20.0);
        match r.clean.data {
            GreyData::U8(a) => a[[9, 39, 8]],
            _ => unreachable!(),
        }
    };
    p.outside = Outside::Edge;
    assert_eq!(last_row(&p), (0.9f32 as f64 * 255.0).round() as u8);
    p.outside = Outside::PoreLevel;
    assert_eq!(last_row(&p), (0.1f32 as f64 * 255.0).round() as u8);
    p.outside = Outside::Level(0.0);
    assert_eq!(last_row(&p), 0);
}
