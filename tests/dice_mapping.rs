//! The truth → processed-grid mapping of `validate` on cases with a known answer:
//! 1. face-on images (no tilt) with drift: after alignment, the ideal mapping is the truth itself,
//!    shifted by the crop origin (exact, every voxel);
//! 2. every effect off except the 52° tilt (foreshortening + face shift): the truth mapped through
//!    the chain reproduces the segmentation of the noiseless render except at boundaries, and
//!    every disagreeing voxel lies within one truth voxel (two rows in y) of a phase boundary;
//! 3. a crop after the chain selects the same box out of the mapping.

use fibstack::preprocess::align::{align_volume, AlignParams};
use fibstack::preprocess::geometry::correct_geometry;
use fibstack::progress::Silent;
use fibstack::synth::acquisition::{AcquisitionParams, TiltParams};
use fibstack::synth::{generate, Preset, SynthSpec};
use fibstack::validate::{
    confusion, truth_on_grid, Alignment, ChainTransform, Confusion, UNSCORED,
};
use ndarray::{s, Array3, ArrayView3, Axis};

fn electrode(acq: AcquisitionParams, shape: [usize; 3], seed: u64) -> fibstack::synth::SynthOutput {
    let spec = SynthSpec {
        preset: Preset::Electrode,
        shape: Some(shape),
        seed,
        acquisition: acq,
        ..Default::default()
    };
    generate(&spec).unwrap()
}

#[test]
fn face_on_drift_ideal_mapping_is_the_shifted_truth() {
    let mut acq = AcquisitionParams::clean();
    acq.drift.enabled = true;
    acq.drift.jump_probability = 0.2; // a few whole-pixel jumps too
    let out = electrode(acq, [16, 48, 56], 5);
    let r = out.rendered.as_ref().unwrap();
    let (aligned, rep) = align_volume(&r.grey, &AlignParams::default(), &Silent).unwrap();
    let t = ChainTransform::new(r.grey.shape(), Some(&rep), None).unwrap();
    assert_eq!(t.shape, aligned.shape());
    let m = truth_on_grid(out.labels.view(), &r.truth, &t, Alignment::Ideal).unwrap();
    let (y0, x0) = (rep.crop_region.y0 as usize, rep.crop_region.x0 as usize);
    let [nz, h, w] = aligned.shape();
    let want = out.labels.data.slice(s![.., y0..y0 + h, x0..x0 + w]);
    assert_eq!(m.dim(), (nz, h, w));
    assert_eq!(m.view(), want, "ideal mapping = truth at the crop origin");
    // a crop after the chain (e.g. a workflow `crop` step) picks the same box out of the mapping
    let c = t
        .clone()
        .cropped([3, 5, 7], [nz - 5, h - 9, w - 11])
        .unwrap();
    let mc = truth_on_grid(out.labels.view(), &r.truth, &c, Alignment::Ideal).unwrap();
    let want_c = out
        .labels
        .data
        .slice(s![3..nz - 2, y0 + 5..y0 + h - 4, x0 + 7..x0 + w - 4]);
    assert_eq!(
        mc.view(),
        want_c,
        "cropped ideal mapping = truth in the box"
    );
    assert!(t.clone().cropped([0, 0, 1], [nz, h, w]).is_err());
    // the applied shifts differ from the ideal ones by the alignment error: where it is below
    // half a pixel on both axes, the two lookups are the same voxel
    let a = truth_on_grid(out.labels.view(), &r.truth, &t, Alignment::Applied).unwrap();
    for k in 0..nz {
        let e = [
            t.align_shifts[k][0] + r.truth.total_shift_px[k][0],
            t.align_shifts[k][1] + r.truth.total_shift_px[k][1],
        ];
        let same = a.index_axis(Axis(0), k) == m.index_axis(Axis(0), k);
        println!("slice {k}: alignment error {e:.2?} px, same lookup: {same}");
        if e[0].abs() < 0.5 && e[1].abs() < 0.5 {
            let c = confusion(
                a.index_axis(Axis(0), k).insert_axis(Axis(0)),
                m.index_axis(Axis(0), k).insert_axis(Axis(0)),
            )
            .unwrap();
            // rounding can still flip where the fractional parts straddle .5
            assert!(c.accuracy() > 0.8, "slice {k}: {}", c.accuracy());
        }
    }
}

/// `labels` with phase `p` grown (`grow`) or shrunk by a box of ±`ry` rows and ±`rx` columns
/// in-plane, as 0/1 (1 = phase `p`).
fn morph(labels: ArrayView3<u8>, p: u8, ry: usize, rx: usize, grow: bool) -> Array3<u8> {
    let (nz, ny, nx) = labels.dim();
    Array3::from_shape_fn((nz, ny, nx), |(k, y, x)| {
        let ys = y.saturating_sub(ry)..(y + ry + 1).min(ny);
        let xs = x.saturating_sub(rx)..(x + rx + 1).min(nx);
        let sl = labels.slice(s![k, ys, xs]);
        let hit = if grow {
            sl.iter().any(|&l| l == p)
        } else {
            sl.iter().all(|&l| l == p)
        };
        hit as u8
    })
}

fn two_class(v: ArrayView3<u8>) -> Array3<u8> {
    v.mapv(|l| {
        if l == UNSCORED {
            UNSCORED
        } else {
            (l != 0) as u8
        }
    })
}

#[test]
fn tilt_only_truth_reproduces_noiseless_segmentation() {
    let mut acq = AcquisitionParams::clean();
    acq.tilt = Some(TiltParams::default()); // foreshortening by sin 52° and face shift
    let out = electrode(acq, [24, 72, 64], 3);
    let r = out.rendered.as_ref().unwrap();
    let acq = &r.truth;
    assert!(acq.face_shift_px[23] < -10.0, "face shift present");
    let (aligned, arep) = align_volume(&r.grey, &AlignParams::default(), &Silent).unwrap();
    let (geo, grep) = correct_geometry(&aligned, 52.0, None, true, false).unwrap();
    // pore below the midpoint between the pore (0.12) and binder (0.38) levels, 8-bit
    let t_pore = 0.25f32 * 255.0;
    let seg = geo.to_f32().mapv(|v| (v > t_pore) as u8); // 0 pore, 1 solid
    let t = ChainTransform::new(r.grey.shape(), Some(&arep), Some(&grep)).unwrap();
    assert_eq!(t.shape, geo.shape());
    let mapped = truth_on_grid(out.labels.view(), acq, &t, Alignment::Applied).unwrap();
    let truth2 = two_class(mapped.view());
    let c: Confusion = confusion(seg.view(), truth2.view()).unwrap();
    let total = c.total() + c.unscored;
    // phase correlation underestimates the face shift on this stack (11.3 px instead of 14.2 px
    // after 23 slices: the structure changes from slice to slice), so the bottom rows of the last
    // slices still show the region below the truth box (rendered at the pore level): unscored
    println!("{} of {total} voxels map outside the truth", c.unscored);
    assert!(
        (c.unscored as f64) < 0.02 * total as f64,
        "{} of {total} voxels map outside the truth",
        c.unscored
    );
    let (d0, d1) = (c.dice(0), c.dice(1));
    println!(
        "tilt only, applied: Dice pore {d0:.4} solid {d1:.4} accuracy {:.4}",
        c.accuracy()
    );
    // boundary voxels: each disagreement must sit within ±2 rows / ±1 column of a truth boundary
    let pore_grown = morph(out.labels.view(), 0, 2, 1, true); // 1 where a pore is near
    let pore_core = morph(out.labels.view(), 0, 2, 1, false); // 1 where only pore is near
    let near_pore = truth_on_grid(pore_grown.view(), acq, &t, Alignment::Applied).unwrap();
    let deep_pore = truth_on_grid(pore_core.view(), acq, &t, Alignment::Applied).unwrap();
    let mut bad = 0usize;
    let mut wrong = 0usize;
    for (((&s, &tr), &np), &dp) in seg
        .iter()
        .zip(truth2.iter())
        .zip(near_pore.iter())
        .zip(deep_pore.iter())
    {
        if tr == UNSCORED || s == tr {
            continue;
        }
        wrong += 1;
        // segmented pore where the truth is solid: a pore must be near; segmented solid where
        // the truth is pore: the voxel must not be deep inside a pore
        if (s == 0 && np != 1) || (s == 1 && dp == 1) {
            bad += 1;
        }
    }
    println!("{wrong} disagreeing voxels, {bad} away from a boundary");
    assert_eq!(
        bad, 0,
        "{bad} of {wrong} disagreements are not at a boundary"
    );
    assert!(d0 > 0.95 && d1 > 0.95, "Dice pore {d0} solid {d1}");
    // with a perfect alignment instead of the applied one the score also counts the chain's
    // alignment error, which on this clean but small stack grows to ~3 px (printed, not a
    // property of the mapping)
    let ideal = two_class(
        truth_on_grid(out.labels.view(), acq, &t, Alignment::Ideal)
            .unwrap()
            .view(),
    );
    let ci = confusion(seg.view(), ideal.view()).unwrap();
    println!("tilt only, ideal alignment: Dice pore {:.4}", ci.dice(0));
    // per slice the content is right too (not only the totals): Dice of every slice > 0.9
    for k in 0..seg.dim().0 {
        let a = seg.index_axis(Axis(0), k).insert_axis(Axis(0)).to_owned();
        let b = truth2
            .index_axis(Axis(0), k)
            .insert_axis(Axis(0))
            .to_owned();
        let ck = confusion(a.view(), b.view()).unwrap();
        assert!(ck.dice(0) > 0.9, "slice {k}: Dice pore {}", ck.dice(0));
    }
}

#[test]
fn wrong_chain_is_rejected() {
    let out = electrode(AcquisitionParams::default(), [20, 40, 40], 1);
    let r = out.rendered.as_ref().unwrap();
    let (aligned, arep) = align_volume(&r.grey, &AlignParams::default(), &Silent).unwrap();
    let (_, grep) = correct_geometry(&aligned, 52.0, None, true, false).unwrap();
    // geometry report without its alignment: shapes do not chain
    assert!(ChainTransform::new(r.grey.shape(), None, Some(&grep)).is_err());
    // a transform for another raw stack
    let t = ChainTransform::new([6, 41, 40], None, None).unwrap();
    assert!(truth_on_grid(out.labels.view(), &r.truth, &t, Alignment::Applied).is_err());
    let _ = arep;
}

/// Why the "Dice ≥ 0.95 for every phase" cannot hold for the electrode's carbon binder:
/// with every acquisition effect off, face-on images segment perfectly, but the 52° tilt alone
/// (each image row spans 1/sin 52° = 1.27 truth rows, so the 1–2-voxel binder shells are averaged
/// with their neighbours) caps the binder's Dice at 0.90 even with the ideal thresholds (the
/// midpoints between the pure grey levels) and the exact geometry (no alignment, no denoising).
/// Pore and active material keep 0.985 there. This is the most favourable case: the processed
/// grid then coincides with the truth's voxel grid (with the sampling phase varying over the
/// slices, README: binder 0.84–0.85).
#[test]
fn tilt_alone_caps_the_binder_dice() {
    let shape = [64, 96, 96]; // the simulator's default electrode stack
    let seg3 = |g: &Array3<f32>| {
        // pure levels (8-bit): pore 0.12, binder 0.38, active material 0.68
        let (t0, t1) = (0.25f32 * 255.0, 0.53f32 * 255.0);
        g.mapv(|v| {
            if v <= t0 {
                0u8
            } else if v <= t1 {
                2
            } else {
                1
            }
        })
    };
    let score = |tilt: bool| -> Confusion {
        let mut acq = AcquisitionParams::clean();
        if tilt {
            acq.tilt = Some(TiltParams::default());
        }
        let out = electrode(acq, shape, 1);
        let r = out.rendered.as_ref().unwrap();
        let (geo, grep) = if tilt {
            // stretch and shear by the known geometry: no alignment error at all
            let (g, rep) = correct_geometry(&r.grey, 52.0, None, true, true).unwrap();
            (g, Some(rep))
        } else {
            (r.grey.clone(), None)
        };
        let t = ChainTransform::new(r.grey.shape(), None, grep.as_ref()).unwrap();
        let mapped = truth_on_grid(out.labels.view(), &r.truth, &t, Alignment::Applied).unwrap();
        confusion(seg3(&geo.to_f32()).view(), mapped.view()).unwrap()
    };
    let face_on = score(false);
    let tilted = score(true);
    for (what, c) in [("face-on", &face_on), ("tilt only", &tilted)] {
        println!(
            "{what}: Dice pore {:.4}, active material {:.4}, binder {:.4} ({} unscored)",
            c.dice(0),
            c.dice(1),
            c.dice(2),
            c.unscored
        );
    }
    for l in 0..3 {
        assert!(
            face_on.dice(l) > 0.999,
            "face-on label {l}: {}",
            face_on.dice(l)
        );
    }
    assert!(tilted.dice(2) < 0.92, "binder {}", tilted.dice(2));
    assert!(tilted.dice(0) > 0.97 && tilted.dice(1) > 0.97);
}
