//! The simulator's physical curtain model (`synth::curtains`, the default): stripes only where
//! the face is material, multiplicative with the signal, stronger below hard features, the
//! recorded profiles reproduce every stripe value; and `synth-curtains` on real images.

use fibstack::synth::acquisition::*;
use fibstack::synth::curtains::{add_curtains, AddCurtainsParams, CurtainModel};
use fibstack::volume::{GreyData, LabelVolume, VoxelSize, VoxelSource};
use ndarray::{Array2, Array3};

fn vox(v: [f64; 3]) -> VoxelSize {
    VoxelSize::new(v, VoxelSource::CommandLine)
}

fn f32_slices(d: &GreyData) -> Array3<f32> {
    match d {
        GreyData::U8(a) => a.mapv(|v| v as f32),
        GreyData::U16(a) => a.mapv(|v| v as f32),
        GreyData::F32(a) => a.clone(),
    }
}

fn physical() -> CurtainParams {
    CurtainParams {
        enabled: true,
        ..Default::default()
    }
}

/// Left half pore, right half two phases (levels 0.3 and 0.6 in vertical bands): the pore
/// columns carry no stripe at all, and the relative stripe value is the same in both phases
/// (multiplicative: the absolute stripe doubles where the signal doubles).
#[test]
fn stripes_only_in_material_and_relative_to_the_signal() {
    let lab = LabelVolume::new(
        Array3::from_shape_fn((3, 80, 120), |(_, _, x)| {
            if x < 60 {
                0
            } else if (x / 10) % 2 == 0 {
                1
            } else {
                2
            }
        }),
        vox([20.0; 3]),
    );
    let mut p = AcquisitionParams::clean();
    p.levels = Some(vec![0.1, 0.3, 0.6]);
    p.bit_depth = 16;
    p.curtain = CurtainParams {
        shadow_gain: 0.0,
        // stripes that do not change along their length: every row shows the recorded profile
        stripe_length_px: 1e9,
        ..physical()
    };
    assert_eq!(p.curtain.model, CurtainModel::Physical, "the default model");
    let r = render(&lab, &p, 3).unwrap();
    let g = f32_slices(&r.grey.data);
    let cl = f32_slices(&r.clean.data);
    let st = &r.truth.stripes[0];
    for k in 0..3 {
        let ph = st.evolution_rad_per_slice * k as f64;
        for c in 0..120 {
            let u = c + st.margin;
            let s = st.amplitude
                * (ph.cos() * st.profile_a[u] as f64 + ph.sin() * st.profile_b[u] as f64);
            for row in [0, 40, 79] {
                let (a, b) = (g[[k, row, c]] as f64, cl[[k, row, c]] as f64);
                if c < 59 {
                    assert_eq!(a, b, "pore column {c} changed");
                } else if c > 60 && c % 10 != 0 && c % 10 != 9 {
                    // inside a phase band: I = I0 (1 + s), to the 16-bit rounding of both (and
                    // the 4.5e-5 of fresh profile the AR(1) rows still mix in)
                    let want = b * (1.0 + s);
                    assert!((a - want).abs() <= 2.5, "k {k} c {c}: {a} vs {want}");
                }
            }
        }
    }
}

/// Stripes are stronger below a hard (bright) layer than above it, and a pore band in between
/// carries none.
#[test]
fn seeded_below_hard_features() {
    // rows 0-29 soft material (0.15), 30-49 hard (0.9), 50-99 soft again
    let lab = LabelVolume::new(
        Array3::from_shape_fn(
            (2, 100, 240),
            |(_, y, _)| {
                if (30..50).contains(&y) {
                    2
                } else {
                    1
                }
            },
        ),
        vox([20.0; 3]),
    );
    let mut p = AcquisitionParams::clean();
    p.levels = Some(vec![0.1, 0.15, 0.9]);
    p.bit_depth = 16;
    p.curtain = CurtainParams {
        shadow_gain: 3.0,
        shadow_length_px: 20.0,
        stripe_length_px: 1e9,
        ..physical()
    };
    let r = render(&lab, &p, 8).unwrap();
    let g = f32_slices(&r.grey.data);
    let cl = f32_slices(&r.clean.data);
    let rel_std = |row: usize| {
        let v: Vec<f64> = (0..240)
            .map(|c| g[[0, row, c]] as f64 / cl[[0, row, c]] as f64 - 1.0)
            .collect();
        let m = v.iter().sum::<f64>() / 240.0;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 240.0).sqrt()
    };
    let (above, below, far) = (rel_std(25), rel_std(55), rel_std(99));
    println!("relative stripe RMS above {above:.4}, just below {below:.4}, far below {far:.4}");
    assert!(below > 1.8 * above, "{below} vs {above}");
    assert!(far < 0.7 * below, "decays downward: {far} vs {below}");
}

/// Every other effect on (tilt, drift, shine-through, shading, noise): the physical curtains
/// leave the pore pixels of the acquisition as they are without curtains (the noise draws
/// stay in step), and the additive model does not.
#[test]
fn pores_untouched_with_every_effect_on() {
    let (lab, _) = fibstack::synth::structures::electrode(
        &fibstack::synth::structures::ElectrodeParams::default(),
        [20, 64, 64],
        vox([20.0; 3]),
        4,
    )
    .unwrap();
    let p = AcquisitionParams::default();
    let mut q = p.clone();
    q.curtain.enabled = false;
    let a = render(&lab, &p, 5).unwrap();
    let b = render(&lab, &q, 5).unwrap();
    let (ga, gb) = (f32_slices(&a.grey.data), f32_slices(&b.grey.data));
    let cl = f32_slices(&a.clean.data);
    let lmin = (p.levels().iter().cloned().fold(1.0, f64::min) * 255.0) as f32;
    // pixels whose clean value is the pore level are pore (up to the bilinear edges)
    let (mut same, mut n, mut diff_mat) = (0usize, 0usize, 0usize);
    for ((x, y), c) in ga.iter().zip(gb.iter()).zip(cl.iter()) {
        if (*c - lmin).abs() < 0.5 {
            n += 1;
            same += usize::from(x == y);
        } else if x != y {
            diff_mat += 1;
        }
    }
    // all but a handful on pore/solid boundaries (a material fraction just above 0 that moves
    // the clean value by less than half a grey level)
    assert!(
        n > 1000 && same * 1000 >= n * 999,
        "{same} of {n} pore pixels equal"
    );
    assert!(diff_mat > 1000, "curtains in the material: {diff_mat}");
    let mut r = p.clone();
    r.curtain.model = CurtainModel::Additive;
    let c = render(&lab, &r, 5).unwrap();
    let gc = f32_slices(&c.grey.data);
    let changed = gc
        .iter()
        .zip(gb.iter())
        .zip(cl.iter())
        .filter(|((x, y), c)| (**c - lmin).abs() < 0.5 && x != y)
        .count();
    assert!(
        changed > n / 4,
        "the additive model stripes the pores: {changed} of {n}"
    );
}

/// `synth-curtains` on a real image: pores (below the mask threshold) unchanged; material
/// modulated by the recorded profile; the same seed gives the same result.
#[test]
fn curtains_on_a_real_image() {
    let img = Array2::from_shape_fn((60, 90), |(y, x)| {
        if x < 30 {
            20.0
        } else {
            150.0 + 30.0 * ((y as f32) / 10.0).sin()
        }
    });
    let p = AddCurtainsParams {
        threshold: Some(80.0),
        seed: 4,
        ..Default::default()
    };
    let d = GreyData::F32(img.clone().insert_axis(ndarray::Axis(0)));
    let a = add_curtains(&d, &p).unwrap();
    let b = add_curtains(&d, &p).unwrap();
    assert_eq!(a, b);
    for y in 0..60 {
        for x in 0..27 {
            assert_eq!(a[[0, y, x]], img[[y, x]]);
        }
    }
    let changed = (0..60)
        .flat_map(|y| (33..90).map(move |x| (y, x)))
        .filter(|&(y, x)| (a[[0, y, x]] - img[[y, x]]).abs() > 0.5)
        .count();
    assert!(changed > 1000, "{changed}");
    assert!(add_curtains(
        &d,
        &AddCurtainsParams {
            amplitude: 0.0,
            ..p
        }
    )
    .is_err());
    assert!(add_curtains(
        &d,
        &AddCurtainsParams {
            angle_deg: 50.0,
            ..p
        }
    )
    .is_err());
}
