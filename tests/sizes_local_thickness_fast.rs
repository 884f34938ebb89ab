//! Fast (coarse-grid) local thickness: against the exact method (error bounds) and analytic
//! shapes (slab, sphere), plus thread-count independence.

use fibstack::metrics::local_thickness::{
    local_thickness_fast_map, local_thickness_map, local_thickness_mode, ThicknessMode, METHOD_FAST,
};
use ndarray::Array3;

/// Union of seeded random balls (radii `r_lo..r_hi` voxels along the finest axis) in a box.
fn balls(
    shape: (usize, usize, usize),
    n: usize,
    r_lo: f64,
    r_hi: f64,
    v: [f64; 3],
    seed: u64,
) -> Array3<bool> {
    let mut rng = fibstack::rng::Rng::stream(seed, 0);
    let vmin = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let cs: Vec<([f64; 3], f64)> = (0..n)
        .map(|_| {
            let c = [
                rng.uniform() * shape.0 as f64,
                rng.uniform() * shape.1 as f64,
                rng.uniform() * shape.2 as f64,
            ];
            (c, (r_lo + (r_hi - r_lo) * rng.uniform()) * vmin)
        })
        .collect();
    Array3::from_shape_fn(shape, |(z, y, x)| {
        cs.iter().any(|(c, r)| {
            ((z as f64 - c[0]) * v[0]).powi(2)
                + ((y as f64 - c[1]) * v[1]).powi(2)
                + ((x as f64 - c[2]) * v[2]).powi(2)
                <= r * r
        })
    })
}

/// Mean |fast − exact| and the fraction within `tol` (nm), over the phase.
fn errors(
    fast: &Array3<f32>,
    exact: &Array3<f32>,
    mask: &Array3<bool>,
    tol: f64,
) -> (f64, f64, f64) {
    let (mut n, mut sum, mut bias, mut within) = (0usize, 0.0, 0.0, 0usize);
    for ((f, e), m) in fast.iter().zip(exact.iter()).zip(mask.iter()) {
        if !*m {
            assert_eq!(*f, 0.0);
            continue;
        }
        let d = *f as f64 - *e as f64;
        n += 1;
        sum += d.abs();
        bias += d;
        within += (d.abs() <= tol) as usize;
    }
    let nf = n as f64;
    (sum / nf, bias / nf, within as f64 / nf)
}

#[test]
fn fast_mode_is_close_to_the_exact_one_on_random_balls() {
    // porous media of overlapping balls, isotropic and anisotropic voxels
    for (v, seed, rlo, rhi, n) in [
        ([1.0, 1.0, 1.0], 1, 3.0, 10.0, 60),
        ([2.0, 1.0, 1.0], 2, 4.0, 12.0, 40),
        ([1.0, 1.0, 1.0], 3, 2.0, 5.0, 400),
    ] {
        let mask = balls((64, 72, 80), n, rlo, rhi, v, seed);
        let exact = local_thickness_map(mask.view(), v).unwrap();
        let fast = local_thickness_fast_map(mask.view(), v).unwrap();
        let vmax = v.iter().cloned().fold(0.0, f64::max);
        let (mae, bias, within) = errors(&fast, &exact, &mask, 2.0 * vmax);
        let mean_exact: f64 = exact
            .iter()
            .zip(mask.iter())
            .filter(|(_, m)| **m)
            .map(|(e, _)| *e as f64)
            .sum::<f64>()
            / mask.iter().filter(|m| **m).count() as f64;
        println!(
            "voxel {v:?}, radii {rlo}..{rhi}: mean |fast - exact| {mae:.3} nm, bias {bias:+.3} nm, within 2 voxels {:.1} %, mean exact {mean_exact:.2} nm",
            100.0 * within
        );
        assert!(mae <= 1.5 * vmax, "mean abs error {mae}");
        assert!(bias.abs() <= 0.1 * mean_exact, "bias {bias}");
        assert!(within >= 0.80, "within 2 voxels: {within}");
    }
}

#[test]
fn fast_mode_slab_and_sphere_thickness() {
    // slab 20 voxels thick along z: diameter 20 in the slab's interior (away from the x/y edges)
    let slab = Array3::from_shape_fn((30, 40, 40), |(z, _, _)| (5..25).contains(&z));
    let t = local_thickness_fast_map(slab.view(), [1.0; 3]).unwrap();
    for z in 5..25 {
        for y in 12..28 {
            for x in 12..28 {
                assert!(
                    (t[[z, y, x]] - 20.0).abs() <= 2.0,
                    "slab {z},{y},{x}: {}",
                    t[[z, y, x]]
                );
            }
        }
    }
    // sphere of radius 24 nm, voxel (2, 1, 1) nm: diameter 48 within 2 coarse voxels (4 nm along z)
    let v = [2.0, 1.0, 1.0];
    let r = 24.0;
    let sh = (30, 56, 56);
    let m = Array3::from_shape_fn(sh, |(z, y, x)| {
        ((z as f64 - 15.0) * v[0]).powi(2) + (y as f64 - 28.0).powi(2) + (x as f64 - 28.0).powi(2)
            <= r * r
    });
    let t = local_thickness_fast_map(m.view(), v).unwrap();
    let (mut n, mut sum, mut within) = (0, 0.0, 0);
    for (tt, mm) in t.iter().zip(m.iter()) {
        if *mm {
            n += 1;
            sum += *tt as f64;
            within += ((*tt as f64 - 2.0 * r).abs() <= 2.0 * v[0]) as usize;
        }
    }
    let (mean, frac) = (sum / n as f64, within as f64 / n as f64);
    println!(
        "sphere r {r}: mean diameter {mean:.3} nm, within 2 voxels of 2r: {:.1} %",
        100.0 * frac
    );
    // the rim of the coarse sphere holds smaller balls (coarse voxels outside the largest one)
    // (measured: mean 44.2 nm, 85 % within 2 voxels)
    assert!((mean - 2.0 * r).abs() <= 2.5 * v[0], "mean {mean}");
    assert!(frac >= 0.8, "within 2 voxels: {frac}");
}

#[test]
fn fast_mode_thin_features_and_edge_cases() {
    // a one-voxel plate vanishes on the coarse grid: its voxels get their own ball, 2·dz here,
    // which is the exact value
    let plate = Array3::from_shape_fn((9, 10, 10), |(z, _, _)| z == 4);
    let v = [3.0, 1.0, 2.0];
    let t = local_thickness_fast_map(plate.view(), v).unwrap();
    assert_eq!(t, local_thickness_map(plate.view(), v).unwrap());
    for (tt, mm) in t.iter().zip(plate.iter()) {
        assert_eq!(*tt, if *mm { 6.0 } else { 0.0 });
    }
    // no background: +inf like the exact method; empty phase: zeros
    let full = Array3::from_elem((4, 5, 6), true);
    assert!(local_thickness_fast_map(full.view(), [1.0; 3])
        .unwrap()
        .iter()
        .all(|v| v.is_infinite()));
    let empty = Array3::from_elem((4, 5, 6), false);
    assert!(local_thickness_fast_map(empty.view(), [1.0; 3])
        .unwrap()
        .iter()
        .all(|v| *v == 0.0));
    // background only in a minority of each coarse voxel: the exact method is used
    let mut sparse = Array3::from_elem((6, 6, 6), true);
    sparse[[2, 2, 2]] = false;
    assert_eq!(
        local_thickness_fast_map(sparse.view(), [1.0; 3]).unwrap(),
        local_thickness_map(sparse.view(), [1.0; 3]).unwrap()
    );
    assert!(local_thickness_fast_map(full.view(), [0.0, 1.0, 1.0]).is_err());
    // the statistics name the method
    let l = plate.mapv(|m| m as u8);
    let (_, s) = local_thickness_mode(l.view(), 1, [1.0; 3], 10, ThicknessMode::Fast).unwrap();
    assert_eq!(s.method, METHOD_FAST);
}

#[test]
fn fast_mode_is_identical_for_any_thread_count() {
    let mask = balls((33, 47, 70), 50, 2.0, 8.0, [1.5, 1.0, 1.0], 9);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| local_thickness_fast_map(mask.view(), [1.5, 1.0, 1.0]).unwrap())
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}
