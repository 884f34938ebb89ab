//! Particles: sphere packings of known radii, watershed split of touching spheres, nearest
//! neighbours, per-particle surface and sphericity, labelling against a reference.

use fibstack::metrics::particles::{label_particles, particles, Connectivity, ParticleOptions};
use fibstack::rng::Rng;
use ndarray::Array3;
use proptest::prelude::*;

#[path = "support/twins.rs"]
mod twins;

/// Non-touching spheres (physical radii, nm) at random positions; returns labels and truth.
fn packing(
    seed: u64,
    shape: (usize, usize, usize),
    v: [f64; 3],
    n: usize,
) -> (Array3<u8>, Vec<([f64; 3], f64)>) {
    let mut rng = Rng::stream(seed, 0);
    let ext = [
        shape.0 as f64 * v[0],
        shape.1 as f64 * v[1],
        shape.2 as f64 * v[2],
    ];
    let mut spheres: Vec<([f64; 3], f64)> = Vec::new();
    let mut tries = 0;
    while spheres.len() < n && tries < 10_000 {
        tries += 1;
        let r = 4.0 + rng.uniform() * 8.0; // 4..12 nm
        let c = [0, 1, 2].map(|i| r + 2.0 * v[i] + rng.uniform() * (ext[i] - 2.0 * r - 4.0 * v[i]));
        // keep a gap of 2 voxels (largest spacing) so digital spheres never touch
        let gap = 2.0 * v.iter().cloned().fold(0.0, f64::max);
        if spheres.iter().all(|(c2, r2)| {
            ((c[0] - c2[0]).powi(2) + (c[1] - c2[1]).powi(2) + (c[2] - c2[2]).powi(2)).sqrt()
                > r + r2 + gap
        }) {
            spheres.push((c, r));
        }
    }
    let l = Array3::from_shape_fn(shape, |(z, y, x)| {
        let p = [z as f64 * v[0], y as f64 * v[1], x as f64 * v[2]];
        spheres.iter().any(|(c, r)| {
            (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2) <= r * r
        }) as u8
    });
    (l, spheres)
}

#[test]
fn sphere_packing_diameters_within_one_voxel_of_truth() {
    for (seed, v) in [(1u64, [1.0, 1.0, 1.0]), (2, [1.5, 0.8, 0.8])] {
        let (l, truth) = packing(seed, (60, 70, 70), v, 25);
        assert!(truth.len() >= 15, "packing too sparse");
        let p = particles(l.view(), 1, v, &ParticleOptions::default()).unwrap();
        assert_eq!(p.summary.count as usize, truth.len());
        let vmax = v.iter().cloned().fold(0.0, f64::max);
        let mut worst: f64 = 0.0;
        let mut worst_sph: f64 = 0.0;
        for (c, r) in &truth {
            // match by centroid
            let q = p
                .particles
                .iter()
                .min_by(|a, b| dist(a.centroid_nm, *c).total_cmp(&dist(b.centroid_nm, *c)))
                .unwrap();
            assert!(
                dist(q.centroid_nm, *c) < 0.5 * vmax,
                "centroid off: {:?} vs {c:?}",
                q.centroid_nm
            );
            let e = (q.esd_nm - 2.0 * r).abs();
            worst = worst.max(e);
            assert!(e <= vmax, "ESD {} vs diameter {}", q.esd_nm, 2.0 * r);
            if let Some(sph) = q.sphericity {
                assert!(sph <= 1.0, "sphericity {sph} > 1");
                worst_sph = worst_sph.max(1.0 - sph);
            }
            assert!(!q.touches_border);
            let area = 4.0 * std::f64::consts::PI * r * r;
            assert!(
                (q.surface_area_nm2 / area - 1.0).abs() < 0.05,
                "area {} vs {area}",
                q.surface_area_nm2
            );
            assert!(q.surface_area_faces_nm2 / area > 1.3);
        }
        println!("voxel {v:?}: {} spheres, worst |ESD - 2r| = {worst:.3} nm, worst |sphericity - 1| = {worst_sph:.3}", truth.len());
        // nearest neighbour: brute force over true centres
        for q in &p.particles {
            let nn = p
                .particles
                .iter()
                .filter(|o| o.id != q.id)
                .map(|o| dist(o.centroid_nm, q.centroid_nm))
                .fold(f64::INFINITY, f64::min);
            assert!((q.nn_distance_nm.unwrap() - nn).abs() < 1e-9);
        }
    }
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Sphericity never exceeds 1 and is left out where the digital surface is too coarse: a single
/// voxel used to read 1.61. Digital balls of radius 7–20 voxels read within 1.5 % of 1; a prolate
/// spheroid reads its exact value within 3 %; a grid-aligned cube reads high (flat faces).
#[test]
fn sphericity_is_at_most_one_and_matches_known_shapes() {
    let pi = std::f64::consts::PI;
    let grid = |n: usize, inside: &dyn Fn(f64, f64, f64) -> bool| {
        let c = n as f64 / 2.0;
        ndarray::Array3::from_shape_fn((n, n, n), |(z, y, x)| {
            inside(z as f64 - c, y as f64 - c, x as f64 - c) as u8
        })
    };
    let sph_of = |l: &ndarray::Array3<u8>| {
        let p = particles(l.view(), 1, [1.0; 3], &ParticleOptions::default()).unwrap();
        assert_eq!(p.summary.count, 1);
        p.particles[0].sphericity
    };
    // too small: no value
    let mut one = ndarray::Array3::<u8>::zeros((3, 3, 3));
    one[[1, 1, 1]] = 1;
    assert_eq!(sph_of(&one), None);
    for r in [7.0, 10.0, 14.0, 20.0] {
        let l = grid(2 * r as usize + 6, &|z, y, x| {
            z * z + y * y + x * x <= r * r
        });
        let s = sph_of(&l).unwrap();
        assert!(s <= 1.0 && s > 0.985, "ball r = {r}: {s}");
    }
    // a cube of side 12: π^(1/3) 6^(2/3) / 6 = 0.806. The 13-direction Crofton estimate is
    // lowest on flat faces aligned with the grid (measured 0.88 × the true area here), so the
    // cube reads 0.917: below 1, above the truth; documented in the sizes method page
    let cube = grid(16, &|z, y, x| {
        z.abs() < 6.0 && y.abs() < 6.0 && x.abs() < 6.0
    });
    let s = sph_of(&cube).unwrap();
    assert!(s > 0.806 && s < 0.93, "cube {s}");
    // prolate spheroid a = 3c (c = 6): Wadell sphericity from the exact spheroid area
    let (a, c) = (18.0f64, 6.0f64);
    let e = (1.0 - c * c / (a * a)).sqrt();
    let area = 2.0 * pi * c * c * (1.0 + a / (c * e) * e.asin());
    let vol = 4.0 / 3.0 * pi * a * c * c;
    let truth = pi.cbrt() * (6.0 * vol).powf(2.0 / 3.0) / area;
    let l = grid(44, &|z, y, x| {
        (z / a).powi(2) + (y / c).powi(2) + (x / c).powi(2) <= 1.0
    });
    let s = sph_of(&l).unwrap();
    assert!((s - truth).abs() < 0.03 * truth, "spheroid {s} vs {truth}");
}

#[test]
fn watershed_splits_two_overlapping_spheres() {
    let r = 10.0;
    let shape = (30, 30, 50);
    let c1 = [15.0, 15.0, 15.0];
    let c2 = [15.0, 15.0, 33.0]; // centres 18 apart: overlapping (neck)
    let l = Array3::from_shape_fn(shape, |(z, y, x)| {
        let p = [z as f64, y as f64, x as f64];
        (dist(p, c1) <= r || dist(p, c2) <= r) as u8
    });
    let plain = particles(l.view(), 1, [1.0; 3], &ParticleOptions::default()).unwrap();
    assert_eq!(plain.summary.count, 1);
    let opts = ParticleOptions {
        split: true,
        ..ParticleOptions::default()
    };
    let s = particles(l.view(), 1, [1.0; 3], &opts).unwrap();
    assert_eq!(
        s.summary.count,
        2,
        "{:?}",
        s.particles.iter().map(|p| p.voxels).collect::<Vec<_>>()
    );
    let total: u64 = s.particles.iter().map(|p| p.voxels).sum();
    assert_eq!(total, plain.particles[0].voxels);
    for p in &s.particles {
        assert!((p.voxels as f64 / total as f64 - 0.5).abs() < 0.02);
    }
    // the split plane is the neck at x = 24
    let xs: Vec<f64> = s.particles.iter().map(|p| p.centroid_nm[2]).collect();
    assert!(xs.iter().any(|&x| x < 24.0) && xs.iter().any(|&x| x > 24.0));
}

#[test]
fn border_flag_empty_and_full_phases() {
    let mut l = Array3::<u8>::zeros((6, 6, 6));
    l[[0, 2, 2]] = 1;
    l[[3, 3, 3]] = 1;
    let p = particles(l.view(), 1, [1.0; 3], &ParticleOptions::default()).unwrap();
    assert_eq!(p.summary.count, 2);
    assert_eq!(p.summary.count_interior, 1);
    assert!(p.particles[0].touches_border && !p.particles[1].touches_border);
    let e = particles(l.view(), 7, [1.0; 3], &ParticleOptions::default()).unwrap();
    assert_eq!(e.summary.count, 0);
    assert!(e.summary.esd_mean_nm.is_none() && e.summary.note.is_some());
    let full = Array3::<u8>::ones((5, 5, 5));
    for split in [false, true] {
        let f = particles(
            full.view(),
            1,
            [1.0; 3],
            &ParticleOptions {
                split,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(f.summary.count, 1);
        assert!(f.particles[0].touches_border && f.particles[0].nn_distance_nm.is_none());
        assert!(!serde_json::to_string(&f.summary).unwrap().contains("NaN"));
    }
    // identical centroids (two particles symmetric about the same point are impossible; use the
    // k-d tree with duplicates through the public helper)
    let mut parts = p.particles.clone();
    parts[1].centroid_nm = parts[0].centroid_nm;
    fibstack::metrics::particles::nearest_neighbours(&mut parts);
    assert_eq!(parts[0].nn_distance_nm, Some(0.0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn labelling_is_the_same_partition_as_the_reference(
        nz in 1usize..7, ny in 1usize..7, nx in 1usize..7,
        bits in proptest::collection::vec(0u8..10, 343), dens in 2u8..7, conn26 in any::<bool>(),
    ) {
        let mask = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| bits[(z * 7 + y) * 7 + x] < dens);
        let conn = if conn26 { Connectivity::TwentySix } else { Connectivity::Six };
        let (fast, n) = label_particles(mask.view(), conn).unwrap();
        let slow = twins::min_propagation_labels(&mask, conn);
        // same partition: a bijection between label values
        let mut map = std::collections::HashMap::new();
        for (f, s) in fast.iter().zip(slow.iter()) {
            prop_assert_eq!(*f == 0, *s == 0);
            if *f != 0 {
                let e = map.entry(*f).or_insert(*s);
                prop_assert_eq!(*e, *s);
            }
        }
        let distinct: std::collections::HashSet<_> = map.values().collect();
        prop_assert_eq!(distinct.len(), map.len());
        prop_assert_eq!(n as usize, map.len());
    }
}
