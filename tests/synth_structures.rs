//! Ground-truth structures: every recorded value is checked against the labels it describes, or
//! against an independent (slow, obvious) reference.

use fibstack::synth::structures::*;
use fibstack::synth::{generate, Preset, StructureTruth, SynthSpec};
use fibstack::volume::{VoxelSize, VoxelSource};
use ndarray::Array3;

fn vox(v: f64) -> VoxelSize {
    VoxelSize::new([v, v, v], VoxelSource::CommandLine)
}

/// Slow reference: paint every particle by testing every voxel against every particle.
fn naive_particles(shape: [usize; 3], d: [f64; 3], ps: &[Particle]) -> Array3<bool> {
    Array3::from_shape_fn(shape, |(k, j, i)| {
        let p = [k as f64 * d[0], j as f64 * d[1], i as f64 * d[2]];
        ps.iter().any(|q| {
            let v = [
                p[0] - q.centre_nm[0],
                p[1] - q.centre_nm[1],
                p[2] - q.centre_nm[2],
            ];
            let r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
            let par = v[0] * q.long_axis[0] + v[1] * q.long_axis[1] + v[2] * q.long_axis[2];
            let perp2 = (r2 - par * par).max(0.0);
            par * par / (q.semi_axes_nm[2] * q.semi_axes_nm[2])
                + perp2 / (q.semi_axes_nm[0] * q.semi_axes_nm[0])
                <= 1.0
        })
    })
}

#[test]
fn electrode_fractions_match_labels_and_particles_match_naive_painting() {
    for (aspect, binder) in [(1.0, 0.1), (2.5, 0.05), (1.0, 0.0)] {
        let p = ElectrodeParams {
            aspect,
            binder_fraction: binder,
            ..Default::default()
        };
        let shape = [24, 40, 36];
        let (lab, t) = electrode(&p, shape, vox(20.0), 7).unwrap();
        let total = (24 * 40 * 36) as f64;
        assert_eq!(t.active_fraction, lab.count(ACTIVE) as f64 / total);
        assert_eq!(t.binder_fraction, lab.count(BINDER) as f64 / total);
        assert!(t.reached_target);
        assert!(t.active_fraction >= p.active_fraction);
        // binder count is exact
        assert_eq!(lab.count(BINDER), (binder * total).round() as usize);
        // active + binder == naive painting of the particle list (binder only takes pore)
        let naive = naive_particles(shape, [20.0; 3], &t.particles);
        for (n, l) in naive.iter().zip(lab.data.iter()) {
            assert_eq!(*n, *l == ACTIVE, "aspect {aspect}");
        }
        assert_eq!(t.particle_count, t.particles.len());
        let rmin = p.median_radius_nm * (-2.5 * p.radius_log_sigma).exp();
        let rmax = p.median_radius_nm * (2.5 * p.radius_log_sigma).exp();
        for q in &t.particles {
            assert!(q.radius_nm >= rmin && q.radius_nm <= rmax);
            let vol = q.semi_axes_nm[0] * q.semi_axes_nm[1] * q.semi_axes_nm[2];
            assert!((vol.cbrt() - q.radius_nm).abs() < 1e-6 * q.radius_nm);
        }
    }
}

#[test]
fn electrode_binder_sits_next_to_particles() {
    let (lab, _) = electrode(&ElectrodeParams::default(), [24, 40, 40], vox(20.0), 3).unwrap();
    let [nz, ny, nx] = lab.shape();
    let mut touching = 0;
    let mut n = 0;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if lab.data[[k, j, i]] != BINDER {
                    continue;
                }
                n += 1;
                let mut t = false;
                for (dk, dj, di) in [
                    (1, 0, 0),
                    (-1, 0, 0),
                    (0, 1, 0),
                    (0, -1, 0),
                    (0, 0, 1),
                    (0, 0, -1),
                ] {
                    let (a, b, c) = (k as i64 + dk, j as i64 + dj, i as i64 + di);
                    if a >= 0
                        && b >= 0
                        && c >= 0
                        && (a as usize) < nz
                        && (b as usize) < ny
                        && (c as usize) < nx
                        && lab.data[[a as usize, b as usize, c as usize]] != PORE
                    {
                        t = true;
                    }
                }
                if t {
                    touching += 1;
                }
            }
        }
    }
    // binder forms shells and bridges attached to the solid: almost every voxel touches solid
    assert!(touching as f64 > 0.9 * n as f64, "{touching} of {n}");
}

#[test]
fn electrode_radii_follow_the_log_normal() {
    let p = ElectrodeParams {
        median_radius_nm: 60.0,
        radius_log_sigma: 0.25,
        active_fraction: 0.6,
        binder_fraction: 0.0,
        max_overlap: 1.0,
        ..Default::default()
    };
    let (_, t) = electrode(&p, [60, 100, 100], vox(10.0), 11).unwrap();
    let n = t.particles.len() as f64;
    assert!(n > 300.0, "{n}");
    let ln: Vec<f64> = t
        .particles
        .iter()
        .map(|q| (q.radius_nm / 60.0).ln())
        .collect();
    let mean = ln.iter().sum::<f64>() / n;
    let sd = (ln.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    // truncation at ±2.5σ shrinks the sd by ~3 %; tolerances ≈ 4 standard errors
    assert!(
        mean.abs() < 4.0 * 0.25 / n.sqrt(),
        "mean ln(r/median) {mean}"
    );
    assert!((sd - 0.25).abs() < 0.03, "sd {sd}");
}

#[test]
fn electrode_same_seed_same_result_and_thread_independent() {
    let p = ElectrodeParams::default();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| electrode(&p, [20, 32, 32], vox(20.0), 5).unwrap())
    };
    let (a, ta) = run(1);
    let (b, tb) = run(2);
    assert_eq!(a.data, b.data);
    assert_eq!(ta, tb);
    let (c, _) = electrode(&p, [20, 32, 32], vox(20.0), 6).unwrap();
    assert_ne!(a.data, c.data);
}

#[test]
fn li_deposit_porosity_falls_with_packing_and_truth_matches_labels() {
    let mut last = 1.1;
    for packing in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let p = LiDepositParams {
            packing,
            ..Default::default()
        };
        let (lab, t) = li_deposit(&p, [32, 64, 64], vox(20.0), 2).unwrap();
        let [nz, ny, nx] = lab.shape();
        // collector: exactly the recorded bottom rows
        for j in 0..ny {
            let row_is_coll = (0..nz).all(|k| (0..nx).all(|i| lab.data[[k, j, i]] == COLLECTOR));
            assert_eq!(row_is_coll, j >= t.collector_rows[0], "row {j}");
        }
        // independent count of the layer porosity
        let layer = (t.thickness_nominal_nm / 20.0).round() as usize;
        let top = t.collector_rows[0];
        let mut pore = 0;
        for k in 0..nz {
            for j in top - layer..top {
                for i in 0..nx {
                    if lab.data[[k, j, i]] == PORE {
                        pore += 1;
                    }
                }
            }
        }
        let por = pore as f64 / (layer * nz * nx) as f64;
        assert!((por - t.layer_porosity).abs() < 1e-12);
        assert!(
            por < last,
            "packing {packing}: porosity {por} not below {last}"
        );
        last = por;
        // dense-equivalent thickness = lithium volume / area
        let li = lab.count(LITHIUM) as f64;
        assert!((t.dense_equivalent_thickness_nm - li * 20.0 / (nz * nx) as f64).abs() < 1e-9);
        // no lithium above the tallest allowed column (1.8 × nominal)
        for k in 0..nz {
            for j in 0..top {
                for i in 0..nx {
                    if lab.data[[k, j, i]] == LITHIUM {
                        assert!(
                            ((top - j) as f64 - 0.5) * 20.0 <= 1.8 * t.thickness_nominal_nm + 1e-9
                        );
                    }
                }
            }
        }
        if packing == 0.0 {
            assert!(por > 0.85, "whiskers should be porous: {por}");
        }
        if packing == 1.0 {
            assert!(por < 0.15, "dense grains: {por}");
        }
    }
}

#[test]
fn pressure_series_porosity_decreases() {
    let spec = SynthSpec {
        shape: Some([16, 48, 48]),
        render: false,
        ..Default::default()
    };
    let series =
        fibstack::synth::pressure_series(&spec, &fibstack::synth::presets::PRESSURE_SERIES_KPA)
            .unwrap();
    let por: Vec<f64> = series
        .iter()
        .map(|(_, o)| match &o.truth.structure {
            StructureTruth::LiDeposit(t) => t.layer_porosity,
            _ => panic!("not a deposit"),
        })
        .collect();
    for w in por.windows(2) {
        assert!(w[1] < w[0], "{por:?}");
    }
}

#[test]
fn staircase_is_taufactors_slanted_strip() {
    // TauFactor: img = zeros((N, N+1, N+1)); img[i, i:i+2, i:i+2] = 1 for i < N
    let (lab, taus) = staircase(20, vox(1.0)).unwrap();
    assert_eq!(lab.shape(), [20, 21, 21]);
    assert_eq!(lab.count(SOLID), 80);
    for i in 0..20 {
        for j in 0..21 {
            for k in 0..21 {
                let expect = j >= i && j < i + 2 && k >= i && k < i + 2;
                assert_eq!(lab.data[[i, j, k]] == SOLID, expect);
            }
        }
    }
    assert_eq!(taus[0].tortuosity_factor, Some(7.51667));
    assert_eq!((taus[0].phase, taus[0].axis), (1, 0));
}

#[test]
fn channel_fractions_are_analytic() {
    for axis in 0..3 {
        let shape = [24, 30, 36];
        let (lab, taus) = channels(shape, vox(10.0), axis, 3, 8).unwrap();
        let cross: Vec<usize> = (0..3).filter(|&a| a != axis).collect();
        // n_a = full periods × width + the partial period, by hand
        let n = |len: usize| {
            let off = (8 - 3) / 2;
            (len / 8) * 3 + (len % 8).saturating_sub(off).min(3)
        };
        let expect = (n(shape[cross[0]]) * n(shape[cross[1]])) as f64
            / (shape[cross[0]] * shape[cross[1]]) as f64;
        let got = lab.count(PORE) as f64 / lab.data.len() as f64;
        assert!(
            (got - expect).abs() < 1e-12,
            "axis {axis}: {got} vs {expect}"
        );
        assert_eq!(taus[axis].tortuosity_factor, Some(1.0));
        for a in cross {
            assert!(!taus[a].percolates);
        }
        // every channel runs straight through: each line along the axis is all pore or all solid
        let v = lab.data.view();
        for lane in v.lanes(ndarray::Axis(axis)) {
            assert!(lane.iter().all(|&x| x == lane[0]));
        }
    }
}

#[test]
fn sphere_voxel_counts_approach_the_analytic_volume() {
    let list = [
        ([300.0, 300.0, 300.0], 100.0),
        ([300.0, 300.0, 700.0], 150.0),
    ];
    let (lab, s) = spheres([60, 60, 100], vox(10.0), &list).unwrap();
    assert_eq!(lab.count(SOLID), s[0].voxels + s[1].voxels);
    for sp in &s {
        let rel = (sp.voxels as f64 - sp.analytic_voxels).abs() / sp.analytic_voxels;
        assert!(
            rel < 0.02,
            "r = {} nm: {} voxels vs {}",
            sp.radius_nm,
            sp.voxels,
            sp.analytic_voxels
        );
    }
    let (lat, ls) = sphere_lattice([40, 40, 40], vox(10.0), 60.0, 200.0).unwrap();
    assert_eq!(ls.len(), 8);
    assert_eq!(lat.count(SOLID), ls.iter().map(|q| q.voxels).sum::<usize>());
    assert!(ls.iter().all(|q| q.voxels == ls[0].voxels));
}

#[test]
fn inclined_plane_angle_is_recovered_from_the_labels() {
    for (angle, axis) in [(20.0, 2), (-35.0, 0), (0.0, 2)] {
        let (lab, t) = inclined_plane(
            [40, 60, 80],
            VoxelSize::new([10.0, 5.0, 8.0], VoxelSource::CommandLine),
            angle,
            axis,
        )
        .unwrap();
        // interface height (nm) per column from the solid count, then a least-squares slope
        let [nz, ny, nx] = lab.shape();
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        let (len, d) = if axis == 2 { (nx, 8.0) } else { (nz, 10.0) };
        for w in 0..len {
            let (k, i) = if axis == 2 { (nz / 2, w) } else { (w, nx / 2) };
            let solid = (0..ny).filter(|&j| lab.data[[k, j, i]] == SOLID).count();
            if solid > 0 && solid < ny {
                xs.push(w as f64 * d);
                ys.push((ny - solid) as f64 * 5.0);
            }
        }
        let n = xs.len() as f64;
        let mx = xs.iter().sum::<f64>() / n;
        let my = ys.iter().sum::<f64>() / n;
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        let got = (sxy / sxx).atan().to_degrees();
        assert!((got - angle).abs() < 0.5, "{got} vs {angle}");
        assert_eq!(t.angle_deg, angle);
    }
}

#[test]
fn generated_truth_counts_fractions_from_labels() {
    for preset in Preset::ALL {
        let spec = SynthSpec {
            preset,
            shape: if preset == Preset::Staircase {
                None
            } else {
                Some([16, 40, 40])
            },
            render: false,
            ..Default::default()
        };
        let out = generate(&spec).unwrap();
        let total = out.labels.data.len() as f64;
        let mut sum = 0.0;
        for f in &out.truth.phase_fractions {
            assert_eq!(f.voxels, out.labels.count(f.label));
            assert!((f.fraction - f.voxels as f64 / total).abs() < 1e-15);
            sum += f.fraction;
        }
        assert!((sum - 1.0).abs() < 1e-12);
        assert!((out.truth.porosity - out.labels.count(0) as f64 / total).abs() < 1e-15);
        assert_eq!(out.truth.voxel_size_nm, [20.0; 3]);
        // truth.json parses back (floats to within the last digit: serde_json's default parser)
        let js = serde_json::to_string(&out.truth).unwrap();
        let back: fibstack::synth::Truth = serde_json::from_str(&js).unwrap();
        assert_eq!(back.phase_fractions.len(), out.truth.phase_fractions.len());
        assert!((back.porosity - out.truth.porosity).abs() <= 1e-15);
        assert_eq!(back.labels_shape, out.truth.labels_shape);
    }
}

#[test]
fn out_of_range_parameters_give_param_errors_naming_them() {
    let e = |r: Result<_, fibstack::ParamError>| r.err().expect("should fail").name;
    let base = ElectrodeParams::default();
    let bad = ElectrodeParams {
        active_fraction: 0.95,
        ..base.clone()
    };
    assert_eq!(
        e(electrode(&bad, [10, 10, 10], vox(20.0), 0).map(|_| ())),
        "active_fraction"
    );
    let bad = ElectrodeParams {
        median_radius_nm: 5.0,
        ..base.clone()
    };
    assert_eq!(
        e(electrode(&bad, [10, 10, 10], vox(20.0), 0).map(|_| ())),
        "median_radius_nm"
    );
    let bad = ElectrodeParams {
        aspect: 0.5,
        ..base
    };
    assert_eq!(
        e(electrode(&bad, [20, 20, 20], vox(20.0), 0).map(|_| ())),
        "aspect"
    );
    let bad = LiDepositParams {
        packing: 1.5,
        ..Default::default()
    };
    assert_eq!(
        e(li_deposit(&bad, [10, 40, 40], vox(20.0), 0).map(|_| ())),
        "packing"
    );
    let bad = LiDepositParams {
        thickness_nm: Some(1e6),
        ..Default::default()
    };
    assert_eq!(
        e(li_deposit(&bad, [10, 40, 40], vox(20.0), 0).map(|_| ())),
        "thickness_nm"
    );
    assert_eq!(
        e(channels([8, 8, 8], vox(1.0), 0, 4, 4).map(|_| ())),
        "channel width/pitch"
    );
    assert_eq!(e(open_box([0, 8, 8], vox(1.0)).map(|_| ())), "shape[0]");
    assert_eq!(
        e(inclined_plane([8, 8, 8], vox(1.0), 89.0, 2).map(|_| ())),
        "angle_deg"
    );
    assert_eq!(
        e(open_box(
            [8, 8, 8],
            VoxelSize::new([1.0, -1.0, 1.0], VoxelSource::CommandLine)
        )
        .map(|_| ())),
        "voxel size dy"
    );
    let spec = SynthSpec {
        preset: Preset::Box,
        pressure_kpa: Some(70.0),
        ..Default::default()
    };
    assert_eq!(e(generate(&spec).map(|_| ())), "pressure_kpa");
    let spec = SynthSpec {
        preset: Preset::LiDeposit,
        pressure_kpa: Some(-1.0),
        ..Default::default()
    };
    assert_eq!(e(generate(&spec).map(|_| ())), "pressure_kpa");
    let spec = SynthSpec {
        preset: Preset::Staircase,
        shape: Some([8, 8, 8]),
        ..Default::default()
    };
    assert_eq!(e(generate(&spec).map(|_| ())), "shape");
    assert_eq!(e("bogus".parse::<Preset>().map(|_| ())), "preset");
    assert_eq!(
        "sphere_lattice".parse::<Preset>().unwrap(),
        Preset::SphereLattice
    );
}
