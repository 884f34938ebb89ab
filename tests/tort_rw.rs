//! Random-walk tortuosity: analytic cases, thread-count independence, agreement with the
//! steady-state solver (mirror boundaries ≡ TauFactor's half-voxel Dirichlet planes).

use fibstack::metrics::tortuosity::random_walk::{
    tortuosity_rw, RandomWalkOptions, RandomWalkOutput,
};
use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, SteadyStateOptions};
use fibstack::progress::Silent;
use fibstack::rng::Rng;
use ndarray::Array3;

fn rw(a: &Array3<u8>, d: [f64; 3], axes: &[usize], o: &RandomWalkOptions) -> RandomWalkOutput {
    tortuosity_rw(a.view(), 1, d, axes, o, &Silent).unwrap()
}

/// Porous test volume: box-blurred uniform noise thresholded at the given fraction.
pub fn blobs(shape: (usize, usize, usize), seed: u64, frac: f64, blur: usize) -> Array3<u8> {
    let mut rng = Rng::new(seed);
    let mut f = Array3::from_shape_fn(shape, |_| rng.uniform());
    for ax in 0..3 {
        let g = f.clone();
        let n = shape_of(&g)[ax] as isize;
        for ((z, y, x), v) in f.indexed_iter_mut() {
            let mut s = 0.0;
            let mut c = 0.0;
            for k in -(blur as isize)..=(blur as isize) {
                let mut p = [z as isize, y as isize, x as isize];
                p[ax] += k;
                if p[ax] >= 0 && p[ax] < n {
                    s += g[[p[0] as usize, p[1] as usize, p[2] as usize]];
                    c += 1.0;
                }
            }
            *v = s / c;
        }
    }
    let mut vals: Vec<f64> = f.iter().copied().collect();
    vals.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let thr = vals[((vals.len() as f64) * frac) as usize];
    f.mapv(|v| (v < thr) as u8)
}

fn shape_of(a: &Array3<f64>) -> [usize; 3] {
    let s = a.shape();
    [s[0], s[1], s[2]]
}

#[test]
fn open_space_tau_one_within_one_percent() {
    // per-walker relative SD of the slope ≈ 2.5, so 1e6 walkers give SE ≈ 0.25 %
    let a = Array3::<u8>::ones((10, 10, 10));
    for d in [[1.0, 1.0, 1.0], [20.0, 5.0, 5.0]] {
        let o = RandomWalkOptions {
            walkers: Some(1_000_000),
            steps: Some(128),
            seed: 3,
            ..Default::default()
        };
        let out = rw(&a, d, &[0, 1, 2], &o);
        for r in &out.results {
            let t = r.tortuosity_factor.unwrap();
            assert!((t - 1.0).abs() < 0.01, "{d:?} axis {}: {t}", r.axis);
            // the interval is a 95 % interval: check it is honest within 3 widths, not coverage
            let half = (r.ci_high.unwrap() - r.ci_low.unwrap()) / 2.0;
            assert!((t - 1.0).abs() < 3.0 * half, "{r:?}");
            assert_eq!(r.porosity_total, 1.0);
            assert!((r.deff_over_d0 - 1.0 / t).abs() < 1e-12);
        }
        // free-space MSD is isotropic in nm
        let c = out.msd.free_nm2_per_step;
        let want = 1.0 / (1.0 / (d[0] * d[0]) + 1.0 / (d[1] * d[1]) + 1.0 / (d[2] * d[2]));
        assert!((c - want).abs() < 1e-12);
    }
}

#[test]
fn straight_channels_along_one_across_infinite() {
    let mut a = Array3::<u8>::zeros((16, 12, 12));
    for z in 0..16 {
        for y in 3..6 {
            for x in 2..5 {
                a[[z, y, x]] = 1;
            }
        }
    }
    let o = RandomWalkOptions {
        walkers: Some(200_000),
        steps: Some(512),
        seed: 9,
        ..Default::default()
    };
    let out = rw(&a, [1.0; 3], &[0, 1, 2], &o);
    let z = &out.results[0];
    assert!((z.tortuosity_factor.unwrap() - 1.0).abs() < 0.02, "{z:?}");
    for r in &out.results[1..] {
        assert!(!r.percolating);
        assert_eq!(r.tortuosity_factor, None);
        assert_eq!(r.deff_over_d0, 0.0);
        let j = serde_json::to_value(r).unwrap();
        assert!(j["tortuosity_factor"].is_null());
    }
}

#[test]
fn same_result_with_one_and_two_threads() {
    let a = blobs((12, 14, 16), 5, 0.5, 1);
    let o = RandomWalkOptions {
        walkers: Some(5000),
        seed: 77,
        max_steps: 1 << 13,
        ..Default::default()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut out = pool.install(|| rw(&a, [2.0, 1.0, 1.0], &[0, 1, 2], &o));
        out.results.iter_mut().for_each(|r| r.time_s = 0.0);
        out
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one, two);
    // a different seed gives a different walk
    let o2 = RandomWalkOptions {
        seed: 78,
        ..o.clone()
    };
    let mut other = rw(&a, [2.0, 1.0, 1.0], &[0, 1, 2], &o2);
    other.results.iter_mut().for_each(|r| r.time_s = 0.0);
    assert_ne!(one.msd, other.msd);
}

#[test]
fn anisotropic_open_space_steps_are_isotropic_in_nm() {
    let a = Array3::<u8>::ones((6, 7, 8));
    let o = RandomWalkOptions {
        walkers: Some(400_000),
        steps: Some(256),
        seed: 1,
        ..Default::default()
    };
    let out = rw(&a, [3.0, 1.0, 0.5], &[0, 1, 2], &o);
    for r in &out.results {
        assert!((r.tortuosity_factor.unwrap() - 1.0).abs() < 0.02, "{r:?}");
    }
    // the MSD curves in nm agree across axes at the end
    let k = out.msd.steps.len() - 1;
    let m: Vec<f64> = (0..3).map(|a| out.msd.msd_nm2[a][k]).collect();
    for a in 1..3 {
        assert!((m[a] / m[0] - 1.0).abs() < 0.02, "{m:?}");
    }
}

#[test]
fn agrees_with_steady_state_on_random_porous_volume() {
    let a = blobs((28, 28, 28), 21, 0.55, 2);
    let d = [1.0, 1.0, 1.0];
    let o = RandomWalkOptions {
        seed: 4,
        max_steps: 1 << 14,
        ..Default::default()
    };
    let out = rw(&a, d, &[0, 1, 2], &o);
    for r in &out.results {
        let fd = tortuosity_fd(
            a.view(),
            1,
            d,
            r.axis_index,
            &SteadyStateOptions::default(),
            &Silent,
        )
        .unwrap();
        let t_fd = fd.tortuosity_factor.unwrap();
        let t = r.tortuosity_factor.unwrap();
        eprintln!(
            "axis {}: rw {t:.4} [{:.4}, {:.4}] steps {:?} walkers {:?}; fd {t_fd:.4}",
            r.axis,
            r.ci_low.unwrap(),
            r.ci_high.unwrap_or(f64::INFINITY),
            r.steps,
            r.walkers
        );
        assert!((t / t_fd - 1.0).abs() < 0.05);
        assert!(r.ci_low.unwrap() <= t_fd && t_fd <= r.ci_high.unwrap());
    }
}

#[test]
fn bad_parameters_are_errors() {
    let a = Array3::<u8>::ones((4, 4, 4));
    let bad = [
        RandomWalkOptions {
            precision: 0.0,
            ..Default::default()
        },
        RandomWalkOptions {
            walkers: Some(3),
            ..Default::default()
        },
        RandomWalkOptions {
            steps: Some(1),
            ..Default::default()
        },
        RandomWalkOptions {
            confidence: 1.5,
            ..Default::default()
        },
    ];
    for o in bad {
        assert!(tortuosity_rw(a.view(), 1, [1.0; 3], &[0], &o, &Silent).is_err());
    }
    let o = RandomWalkOptions::default();
    assert!(tortuosity_rw(a.view(), 1, [1.0, -1.0, 1.0], &[0], &o, &Silent).is_err());
    assert!(tortuosity_rw(a.view(), 1, [1.0; 3], &[5], &o, &Silent).is_err());
    // empty phase: not percolating, infinite, no walk
    let out = tortuosity_rw(a.view(), 7, [1.0; 3], &[0, 1, 2], &o, &Silent).unwrap();
    assert!(out
        .results
        .iter()
        .all(|r| !r.percolating && r.tortuosity_factor.is_none()));
}

#[test]
fn msd_csv_and_png() {
    let a = Array3::<u8>::ones((5, 5, 5));
    let o = RandomWalkOptions {
        walkers: Some(1000),
        steps: Some(640),
        ..Default::default()
    };
    let out = rw(&a, [1.0; 3], &[0], &o);
    let csv = out.msd.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "step,msd_z_nm2,msd_y_nm2,msd_x_nm2,msd_free_nm2");
    assert_eq!(lines.len(), 1 + out.msd.steps.len());
    // the convergence plot: in open space the apparent τ(t) = MSD_free/MSD tends to 1 on every axis
    let plot = fibstack::report::figures::msd_plot(&out.msd);
    assert_eq!(plot.series.len(), 3);
    for s in &plot.series {
        let last = *s.y.last().unwrap();
        assert!((last - 1.0).abs() < 0.15, "{}: apparent τ {last}", s.name);
    }
    assert!(plot.x_label.contains("steps") && plot.y_label.contains("(1)"));
}
