//! Local thickness: analytic shapes, a slow reference twin (proptest), PoreSpy comparison.

use fibstack::metrics::edt::edt;
use fibstack::metrics::local_thickness::{local_thickness, local_thickness_map, TIE_MARGIN};
use ndarray::Array3;
use proptest::prelude::*;

/// Digital ball of physical radius `r` (nm) centred at voxel `c`.
fn ball(shape: (usize, usize, usize), c: [f64; 3], r: f64, v: [f64; 3]) -> Array3<bool> {
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let d2 = ((z as f64 - c[0]) * v[0]).powi(2)
            + ((y as f64 - c[1]) * v[1]).powi(2)
            + ((x as f64 - c[2]) * v[2]).powi(2);
        d2 <= r * r
    })
}

#[test]
fn sphere_thickness_is_its_diameter_within_one_voxel() {
    for (r, v) in [
        (10.0, [1.0, 1.0, 1.0]),
        (7.5, [1.0, 1.0, 1.0]),
        (20.0, [2.0, 1.0, 1.0]),
        (60.0, [10.0, 4.0, 5.0]),
    ] {
        let n = |d: f64| (2.0 * r / d) as usize + 5;
        let shape = (n(v[0]), n(v[1]), n(v[2]));
        let c = [
            (shape.0 / 2) as f64,
            (shape.1 / 2) as f64,
            (shape.2 / 2) as f64,
        ];
        let m = ball(shape, c, r, v);
        let t = local_thickness_map(m.view(), v).unwrap();
        let vmax = v.iter().cloned().fold(0.0, f64::max);
        for (tt, mm) in t.iter().zip(m.iter()) {
            if *mm {
                assert!(
                    (*tt as f64 - 2.0 * r).abs() <= vmax,
                    "r {r} voxel {v:?}: {tt}"
                );
            } else {
                assert_eq!(*tt, 0.0);
            }
        }
    }
}

#[test]
fn rod_thickness_is_its_diameter_within_one_voxel() {
    // cylinders along x (axis 2) and along z (axis 0), anisotropic voxels
    for (r, v) in [(6.0, [1.0, 1.0, 1.0]), (30.0, [5.0, 3.0, 3.0])] {
        let ny = (2.0 * r / v[1]) as usize + 5;
        let nzc = (2.0 * r / v[0]) as usize + 5;
        let cy = (ny / 2) as f64;
        let cz = (nzc / 2) as f64;
        let rod_x = Array3::from_shape_fn((nzc, ny, 12), |(z, y, _)| {
            ((z as f64 - cz) * v[0]).powi(2) + ((y as f64 - cy) * v[1]).powi(2) <= r * r
        });
        let nx = (2.0 * r / v[2]) as usize + 5;
        let cx = (nx / 2) as f64;
        let rod_z = Array3::from_shape_fn((12, ny, nx), |(_, y, x)| {
            ((y as f64 - cy) * v[1]).powi(2) + ((x as f64 - cx) * v[2]).powi(2) <= r * r
        });
        let vmax = v.iter().cloned().fold(0.0, f64::max);
        for m in [rod_x, rod_z] {
            let t = local_thickness_map(m.view(), v).unwrap();
            for (tt, mm) in t.iter().zip(m.iter()) {
                if *mm {
                    assert!(
                        (*tt as f64 - 2.0 * r).abs() <= vmax,
                        "rod r {r} voxel {v:?}: {tt}"
                    );
                }
            }
        }
    }
}

#[test]
fn slab_even_thickness_is_exact_and_one_voxel_plate_is_two_voxels() {
    let mut m = Array3::from_elem((10, 6, 6), false);
    for z in 2..8 {
        m.index_axis_mut(ndarray::Axis(0), z).fill(true);
    }
    let t = local_thickness_map(m.view(), [3.0, 1.0, 1.0]).unwrap();
    assert!(t.iter().zip(m.iter()).all(|(t, m)| !*m || *t == 18.0));
    // one-voxel plate: EDT is one spacing, so the thickness is 2 spacings (centre-to-centre convention)
    let mut p = Array3::from_elem((3, 5, 5), false);
    p.index_axis_mut(ndarray::Axis(0), 1).fill(true);
    let (map, s) = local_thickness(p.mapv(|b| b as u8).view(), 1, [4.0, 1.0, 1.0], 10).unwrap();
    assert_eq!(map[[1, 2, 2]], 8.0);
    assert_eq!(s.mean_nm, Some(8.0));
}

#[test]
fn undefined_cases_give_none_and_notes_never_nan() {
    let empty = Array3::<u8>::zeros((4, 4, 4));
    let (_, s) = local_thickness(empty.view(), 1, [1.0; 3], 10).unwrap();
    assert_eq!(s.phase_voxels, 0);
    assert!(s.mean_nm.is_none() && s.note.is_some());
    let full = Array3::<u8>::ones((4, 4, 4));
    let (map, s) = local_thickness(full.view(), 1, [1.0; 3], 10).unwrap();
    assert!(map.iter().all(|v| v.is_infinite()));
    assert!(s.mean_nm.is_none() && s.note.as_deref().unwrap_or("").contains("no background"));
    assert!(local_thickness(full.view(), 1, [1.0; 3], 0).is_err());
    assert!(local_thickness(full.view(), 1, [-1.0, 1.0, 1.0], 4).is_err());
    let json = serde_json::to_string(&s).unwrap();
    assert!(!json.contains("NaN"));
}

#[test]
fn distribution_is_volume_weighted_and_cumulative() {
    // two slabs: 2 voxels thick (area 8x8) and 6 voxels thick (area 8x8)
    let mut l = Array3::<u8>::zeros((13, 8, 8));
    for z in 1..3 {
        l.index_axis_mut(ndarray::Axis(0), z).fill(1);
    }
    for z in 5..11 {
        l.index_axis_mut(ndarray::Axis(0), z).fill(1);
    }
    let (_, s) = local_thickness(l.view(), 1, [1.0; 3], 6).unwrap();
    // 1/4 of the volume has thickness 2, 3/4 has thickness 6
    assert!((s.mean_nm.unwrap() - (0.25 * 2.0 + 0.75 * 6.0)).abs() < 1e-9);
    assert_eq!(s.median_nm, Some(6.0));
    let d = &s.distribution;
    assert_eq!(d.bin_edges_nm.len(), 7);
    assert!((d.volume_fraction.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert_eq!(*d.cumulative_fraction.last().unwrap(), 1.0);
    assert!((d.volume_fraction[2] - 0.25).abs() < 1e-12); // bin [2, 3)
}

/// Slow reference: for each phase voxel v, max over all phase centres c with
/// |v − c|² < EDT(c)²·(1 − margin) of 2·EDT(c); EDT by brute force.
fn reference(mask: &Array3<bool>, v: [f64; 3]) -> Array3<f64> {
    let pts: Vec<[usize; 3]> = mask
        .indexed_iter()
        .map(|((z, y, x), _)| [z, y, x])
        .collect();
    let d2 = |a: [usize; 3], b: [usize; 3]| -> f64 {
        (0..3)
            .map(|i| ((a[i] as f64 - b[i] as f64) * v[i]).powi(2))
            .sum()
    };
    let r2: Vec<f64> = pts
        .iter()
        .map(|&p| {
            if !mask[p] {
                return 0.0;
            }
            pts.iter()
                .filter(|&&b| !mask[b])
                .map(|&b| d2(p, b))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    Array3::from_shape_fn(mask.dim(), |(z, y, x)| {
        let p = [z, y, x];
        if !mask[p] {
            return 0.0;
        }
        let mut best: f64 = 0.0;
        for (i, &c) in pts.iter().enumerate() {
            if mask[c] && d2(p, c) < r2[i] * (1.0 - TIE_MARGIN) {
                best = best.max(2.0 * r2[i].sqrt());
            }
        }
        best
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn local_thickness_equals_reference_twin(
        nz in 1usize..8, ny in 1usize..8, nx in 1usize..8,
        bits in proptest::collection::vec(0u8..10, 512),
        dens in 6u8..10,
        vz in 0.5f64..3.0, vy in 0.5f64..3.0, vx in 0.5f64..3.0,
    ) {
        let mask = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| bits[(z * 8 + y) * 8 + x] < dens);
        prop_assume!(mask.iter().any(|m| !m));
        let v = [vz, vy, vx];
        let fast = local_thickness_map(mask.view(), v).unwrap();
        let slow = reference(&mask, v);
        for (f, s) in fast.iter().zip(slow.iter()) {
            prop_assert!((*f as f64 - s).abs() <= 1e-4 * (1.0 + s), "{f} vs {s}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]
    /// Larger, denser volumes: balls of several voxels, so the ridge tables and skip lists matter.
    #[test]
    fn local_thickness_equals_reference_twin_larger_balls(
        seed in any::<u64>(),
        vz in 0.5f64..2.5, vy in 0.5f64..2.5, vx in 0.5f64..2.5,
    ) {
        let mut rng = fibstack::rng::Rng::stream(seed, 0);
        let mask = Array3::from_shape_fn((14, 15, 16), |_| rng.uniform() < 0.985);
        prop_assume!(mask.iter().any(|m| !m));
        let v = [vz, vy, vx];
        let fast = local_thickness_map(mask.view(), v).unwrap();
        let slow = reference(&mask, v);
        for (f, s) in fast.iter().zip(slow.iter()) {
            prop_assert!((*f as f64 - s).abs() <= 1e-4 * (1.0 + s), "{f} vs {s}");
        }
    }
}

#[test]
fn compare_porespy_local_thickness() {
    // PoreSpy returns the radius (voxels) of the largest integer-radius sphere covering a voxel;
    // we return the diameter 2·EDT(c) with the exact EDT radius. Expect ours/2 ≥ PoreSpy's radius
    // and, on average, within one voxel.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/peer/sizes_local_thickness.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    for case in j["cases"].as_array().unwrap() {
        let sh: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let flat: Vec<bool> = case["mask"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() == 1)
            .collect();
        let mask = Array3::from_shape_vec((sh[0], sh[1], sh[2]), flat).unwrap();
        let ps: Vec<f64> = case["porespy_radius_vox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let t = local_thickness_map(mask.view(), [1.0; 3]).unwrap();
        let d = edt(mask.view(), [1.0; 3]).unwrap();
        let (mut n, mut sum_diff, mut within1, mut below) = (0usize, 0.0, 0usize, 0usize);
        let (mut mean_ours, mut mean_ps) = (0.0, 0.0);
        for ((tt, p), (m, dd)) in t.iter().zip(&ps).zip(mask.iter().zip(d.iter())) {
            if !*m || *dd < 1.0 {
                continue;
            }
            n += 1;
            let ours_r = *tt as f64 / 2.0;
            sum_diff += ours_r - p;
            mean_ours += ours_r;
            mean_ps += p;
            if (ours_r - p).abs() <= 1.0 {
                within1 += 1;
            }
            if ours_r < p - 1e-9 {
                below += 1;
            }
        }
        let nf = n as f64;
        println!(
            "shape {sh:?}: {n} phase voxels, mean radius ours {:.3} PoreSpy {:.3}, mean(ours-PoreSpy) {:.3} vox, within 1 voxel {:.1} %, ours below PoreSpy {:.2} %",
            mean_ours / nf, mean_ps / nf, sum_diff / nf, 100.0 * within1 as f64 / nf, 100.0 * below as f64 / nf
        );
        assert!((sum_diff / nf).abs() <= 1.0);
        assert!(within1 as f64 / nf >= 0.9);
        // exact radii are never smaller than PoreSpy's integer ones (measured: 0 voxels)
        assert!((below as f64) / nf < 0.01);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5, failure_persistence: None, ..ProptestConfig::default() })]
    /// Rows longer than 64 voxels (the painting keeps one bit per voxel in 64-bit words) and
    /// balls of several voxels; also the map is identical on 1, 2 and 3 threads.
    #[test]
    fn local_thickness_equals_reference_twin_long_rows_and_any_thread_count(
        seed in any::<u64>(),
        nx in 60usize..140,
        vz in 0.7f64..2.0, vy in 0.7f64..2.0, vx in 0.7f64..2.0,
    ) {
        let mut rng = fibstack::rng::Rng::stream(seed, 1);
        let mask = Array3::from_shape_fn((6, 7, nx), |_| rng.uniform() < 0.97);
        prop_assume!(mask.iter().any(|m| !m));
        let v = [vz, vy, vx];
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| local_thickness_map(mask.view(), v).unwrap())
        };
        let fast = run(1);
        let slow = reference(&mask, v);
        for (f, s) in fast.iter().zip(slow.iter()) {
            prop_assert!((*f as f64 - s).abs() <= 1e-4 * (1.0 + s), "{f} vs {s}");
        }
        for t in [2, 3] {
            prop_assert!(run(t) == fast, "{t} threads differ");
        }
    }
}
