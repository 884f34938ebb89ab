//! EDT: brute-force reference twin (proptest) and peer values (scipy, edt package).

use fibstack::metrics::edt::{edt, edt_squared};
use ndarray::Array3;
use proptest::prelude::*;

/// Slow reference: min over all background voxels of the anisotropic distance.
fn brute_edt(mask: &Array3<bool>, v: [f64; 3]) -> Array3<f64> {
    let bg: Vec<[usize; 3]> = mask
        .indexed_iter()
        .filter(|(_, &m)| !m)
        .map(|((z, y, x), _)| [z, y, x])
        .collect();
    Array3::from_shape_fn(mask.dim(), |(z, y, x)| {
        if !mask[[z, y, x]] {
            return 0.0;
        }
        bg.iter()
            .map(|b| {
                let dz = (z as f64 - b[0] as f64) * v[0];
                let dy = (y as f64 - b[1] as f64) * v[1];
                let dx = (x as f64 - b[2] as f64) * v[2];
                (dz * dz + dy * dy + dx * dx).sqrt()
            })
            .fold(f64::INFINITY, f64::min)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn edt_equals_brute_force(
        nz in 1usize..7, ny in 1usize..7, nx in 1usize..7,
        bits in proptest::collection::vec(0u8..10, 343),
        vz in 0.3f64..4.0, vy in 0.3f64..4.0, vx in 0.3f64..4.0,
    ) {
        let mask = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| bits[(z * 7 + y) * 7 + x] < 8);
        let v = [vz, vy, vx];
        let fast = edt(mask.view(), v).unwrap();
        let slow = brute_edt(&mask, v);
        for (f, s) in fast.iter().zip(slow.iter()) {
            if s.is_infinite() {
                prop_assert!(f.is_infinite());
            } else {
                prop_assert!((*f as f64 - s).abs() <= 1e-5 * (1.0 + s), "{f} vs {s}");
            }
        }
    }
}

#[test]
fn anisotropic_point_source_distances_are_exact() {
    // single background voxel in the middle: distance is the plain anisotropic norm
    let (nz, ny, nx) = (7, 9, 11);
    let mut m = Array3::from_elem((nz, ny, nx), true);
    m[[3, 4, 5]] = false;
    let v = [20.0, 5.0, 4.0];
    let d2 = edt_squared(m.view(), v).unwrap();
    for ((z, y, x), val) in d2.indexed_iter() {
        let want = ((z as f64 - 3.0) * 20.0).powi(2)
            + ((y as f64 - 4.0) * 5.0).powi(2)
            + ((x as f64 - 5.0) * 4.0).powi(2);
        assert!((*val as f64 - want).abs() <= 1e-6 * want.max(1.0));
    }
}

#[test]
fn edt_matches_scipy_and_edt_package_on_random_anisotropic_volumes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/peer/sizes_edt.json");
    let text = std::fs::read_to_string(path).expect("fixture fixtures/peer/sizes_edt.json");
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut worst: f64 = 0.0;
    for case in j["cases"].as_array().unwrap() {
        let sh: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let v: Vec<f64> = case["voxel_nm"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let flat: Vec<bool> = case["mask"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() == 1)
            .collect();
        let mask = Array3::from_shape_vec((sh[0], sh[1], sh[2]), flat).unwrap();
        let d = edt(mask.view(), [v[0], v[1], v[2]]).unwrap();
        for key in ["scipy", "edt"] {
            let peer = case[key].as_array().unwrap();
            for (ours, p) in d.iter().zip(peer) {
                let p = p.as_f64().unwrap();
                let e = (*ours as f64 - p).abs();
                worst = worst.max(e);
                assert!(
                    e <= 1e-4,
                    "{key}: ours {ours} peer {p} (shape {sh:?}, voxel {v:?})"
                );
            }
        }
    }
    println!("EDT worst |ours - peer| = {worst:.3e} nm");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]
    /// Longer lines with runs of background (the 1-D passes restart the envelope at every
    /// background voxel and skip background runs), and the same result on 1, 2 and 3 threads.
    #[test]
    fn edt_equals_brute_force_on_long_lines_and_any_thread_count(
        (nz, ny, nx) in (1usize..30, 1usize..30, 1usize..30),
        p in prop_oneof![0.5f64..0.9, 0.9f64..0.995],
        seed in any::<u64>(),
        vz in 0.3f64..4.0, vy in 0.3f64..4.0, vx in 0.3f64..4.0,
    ) {
        let mut rng = fibstack::rng::Rng::stream(seed, 2);
        let mut prev = true;
        let mask = Array3::from_shape_fn((nz, ny, nx), |_| {
            if rng.uniform() < 0.3 {
                prev = rng.uniform() < p;
            }
            prev
        });
        let v = [vz, vy, vx];
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| edt(mask.view(), v).unwrap())
        };
        let fast = run(1);
        let slow = brute_edt(&mask, v);
        for (f, s) in fast.iter().zip(slow.iter()) {
            if s.is_infinite() {
                prop_assert!(f.is_infinite());
            } else {
                prop_assert!((*f as f64 - s).abs() <= 1e-5 * (1.0 + s), "{f} vs {s}");
            }
        }
        for t in [2, 3] {
            prop_assert!(run(t) == fast, "{t} threads differ");
        }
    }
}
