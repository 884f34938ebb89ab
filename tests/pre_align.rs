//! Drift alignment against known drift: analytic blob images sampled at exactly known sub-pixel
//! offsets (no interpolation in the truth), clean and with noise + vertical curtains.

use fibstack::preprocess::align::{
    align_stack, apply_shifts, estimate_drift, AlignMode, AlignParams, Boundary, Detrend,
    Interpolation,
};
use fibstack::preprocess::phasecorr::{BandPass, PhaseCorrParams};
use fibstack::progress::Silent;
use fibstack::rng::Rng;
use ndarray::Array3;

/// Sample field: sum of Gaussian blobs, evaluated analytically.
struct Field {
    blobs: Vec<(f64, f64, f64, f64)>, // y, x, radius, amplitude
}

impl Field {
    fn new(seed: u64, extent: f64, n: usize) -> Self {
        let mut r = Rng::stream(seed, 0);
        let blobs = (0..n)
            .map(|_| {
                (
                    r.uniform() * extent - 20.0,
                    r.uniform() * extent - 20.0,
                    1.5 + 4.0 * r.uniform(),
                    if r.uniform() < 0.5 { 1.0 } else { -0.7 },
                )
            })
            .collect();
        Field { blobs }
    }
    fn at(&self, y: f64, x: f64) -> f64 {
        let mut s = 0.0;
        for &(by, bx, r, a) in &self.blobs {
            let d2 = (y - by).powi(2) + (x - bx).powi(2);
            if d2 < 25.0 * r * r {
                s += a * (-d2 / (2.0 * r * r)).exp();
            }
        }
        s
    }
}

/// Stack whose slice k shows the field moved by `drift[k]` (content at `p` in slice k is
/// field(p - drift[k])), plus optional noise and vertical stripes.
fn stack(
    field: &Field,
    drift: &[[f64; 2]],
    n: usize,
    noise: f64,
    stripes: f64,
    seed: u64,
) -> Array3<f32> {
    let nz = drift.len();
    let mut v = Array3::<f32>::zeros((nz, n, n));
    for k in 0..nz {
        let mut r = Rng::stream(seed, 1000 + k as u64);
        let cols: Vec<f64> = (0..n).map(|_| stripes * r.normal()).collect();
        for y in 0..n {
            for x in 0..n {
                let val = field.at(y as f64 + 10.0 - drift[k][0], x as f64 + 10.0 - drift[k][1]);
                v[[k, y, x]] = (100.0 + 40.0 * val + cols[x] + noise * r.normal()) as f32;
            }
        }
    }
    v
}

fn random_walk(nz: usize, step: f64, seed: u64) -> Vec<[f64; 2]> {
    let mut r = Rng::stream(seed, 7);
    let mut d = vec![[0.0, 0.0]];
    for _ in 1..nz {
        let last = *d.last().unwrap();
        d.push([last[0] + step * r.normal(), last[1] + step * r.normal()]);
    }
    d
}

/// RMS over slices and axes of (applied shift + drift) relative to slice 0.
fn rms_error(est: &fibstack::preprocess::align::DriftEstimate, drift: &[[f64; 2]]) -> f64 {
    let mut s = 0.0;
    for (e, d) in est.slices.iter().zip(drift) {
        let ey = e.cum_dy_px + (d[0] - drift[0][0]);
        let ex = e.cum_dx_px + (d[1] - drift[0][1]);
        s += ey * ey + ex * ex;
    }
    (s / (2 * drift.len()) as f64).sqrt()
}

#[test]
fn chain_recovers_random_walk_clean() {
    let field = Field::new(3, 200.0, 900);
    let drift = random_walk(30, 1.5, 5);
    let v = stack(&field, &drift, 128, 0.0, 0.0, 1);
    let est = estimate_drift(v.view(), &AlignParams::default(), &Silent).unwrap();
    let rms = rms_error(&est, &drift);
    eprintln!("chain clean: RMS error of cumulative drift = {rms:.4} px over 30 slices");
    assert!(rms <= 0.1, "rms {rms}");
    assert_eq!(est.slices.iter().filter(|s| s.flagged).count(), 0);
}

#[test]
fn template_recovers_random_walk_clean() {
    let field = Field::new(4, 200.0, 900);
    let drift = random_walk(30, 1.5, 6);
    let v = stack(&field, &drift, 128, 0.0, 0.0, 2);
    let p = AlignParams {
        mode: AlignMode::Template,
        template_k: 4,
        ..Default::default()
    };
    let est = estimate_drift(v.view(), &p, &Silent).unwrap();
    let rms = rms_error(&est, &drift);
    eprintln!("template clean: RMS error = {rms:.4} px");
    assert!(rms <= 0.1, "rms {rms}");
}

#[test]
fn noisy_striped_stack_within_0_3_px() {
    let field = Field::new(8, 200.0, 900);
    let drift = random_walk(30, 1.5, 9);
    // noise σ = 4 grey levels on a contrast of ~40, curtains σ = 6 grey levels per column
    let v = stack(&field, &drift, 128, 4.0, 6.0, 3);
    let mut results = vec![];
    for (name, p) in [
        ("chain", AlignParams::default()),
        (
            "chain+bandpass",
            AlignParams {
                corr: PhaseCorrParams {
                    bandpass: Some(BandPass {
                        lo_px: 2.0,
                        hi_px: Some(20.0),
                    }),
                    ..Default::default()
                },
                ..Default::default()
            },
        ),
        (
            "chain+notch",
            AlignParams {
                corr: PhaseCorrParams {
                    curtain_notch: 2,
                    ..Default::default()
                },
                ..Default::default()
            },
        ),
        (
            "template",
            AlignParams {
                mode: AlignMode::Template,
                ..Default::default()
            },
        ),
        (
            "template+notch",
            AlignParams {
                mode: AlignMode::Template,
                corr: PhaseCorrParams {
                    curtain_notch: 2,
                    ..Default::default()
                },
                ..Default::default()
            },
        ),
    ] {
        let est = estimate_drift(v.view(), &p, &Silent).unwrap();
        let rms = rms_error(&est, &drift);
        eprintln!("noisy+stripes {name}: RMS error = {rms:.4} px");
        results.push((name, rms));
    }
    for (name, rms) in results {
        assert!(rms <= 0.3, "{name}: rms {rms}");
    }
}

#[test]
fn detrend_keeps_real_inclination() {
    // structure inclined: features move +0.4 px/slice in y (real, keep it) plus stage jitter
    let field = Field::new(12, 200.0, 900);
    let mut r = Rng::stream(1, 2);
    let jitter: Vec<[f64; 2]> = (0..40)
        .map(|k| {
            if k == 0 {
                [0.0, 0.0]
            } else {
                [0.8 * r.normal(), 0.8 * r.normal()]
            }
        })
        .collect();
    let drift: Vec<[f64; 2]> = jitter
        .iter()
        .enumerate()
        .map(|(k, j)| [0.4 * k as f64 + j[0], -0.2 * k as f64 + j[1]])
        .collect();
    let v = stack(&field, &drift, 128, 0.0, 0.0, 4);
    let p = AlignParams {
        detrend: Detrend::Linear,
        ..Default::default()
    };
    let est = estimate_drift(v.view(), &p, &Silent).unwrap();
    // fitted trend of the measured curve = -(inclination)
    assert!(
        (est.trend_px_per_slice[0] + 0.4).abs() < 0.02,
        "{:?}",
        est.trend_px_per_slice
    );
    assert!(
        (est.trend_px_per_slice[1] - 0.2).abs() < 0.02,
        "{:?}",
        est.trend_px_per_slice
    );
    // the applied shifts undo the jitter only: residual positions keep the inclination
    let j_lin: Vec<f64> = {
        // the jitter's own linear part is also removed by detrending; compare against that
        let jy: Vec<f64> = jitter.iter().map(|j| j[0]).collect();
        let (a, b) = fibstack::preprocess::align::linear_fit(&jy);
        jy.iter()
            .enumerate()
            .map(|(k, v)| v - (a + b * k as f64) + a)
            .collect()
    };
    let mut s = 0.0;
    for (k, e) in est.slices.iter().enumerate() {
        // position of a feature after alignment = drift + cum; expected = trend 0.4 k (+ const)
        let resid = drift[k][0] + e.cum_dy_px;
        let want = drift[k][0] - j_lin[k] + j_lin[0];
        s += (resid - want).powi(2);
    }
    let rms = (s / 40.0).sqrt();
    eprintln!("detrend: RMS deviation from the kept inclination = {rms:.4} px");
    assert!(rms < 0.15, "rms {rms}");

    // and full alignment (default) removes it
    let full = estimate_drift(v.view(), &AlignParams::default(), &Silent).unwrap();
    let last = full.slices.last().unwrap();
    assert!((last.cum_dy_px + drift[39][0]).abs() < 0.2);
}

#[test]
fn applied_alignment_matches_truth_and_crops() {
    let field = Field::new(21, 200.0, 900);
    let drift = vec![[0.0, 0.0], [2.25, -1.5], [3.5, 0.75], [1.0, 2.0]];
    let v = stack(&field, &drift, 96, 0.0, 0.0, 5);
    for interp in [Interpolation::Bilinear, Interpolation::Fourier] {
        let p = AlignParams {
            interpolation: interp,
            ..Default::default()
        };
        let r = align_stack(v.view(), &p, &Silent).unwrap();
        let c = r.report.crop_region;
        // crop: y needs y - cum >= 0 with cum_dy = -drift -> y0 = 0, y1 = 95 - 3.5
        assert_eq!((c.y0, c.height), (0, 92), "{c:?}");
        // x >= 1.5 -> 2; x <= 95 - 2.0 = 93 (92 if the estimate is a hair below -2)
        assert!(c.x0 == 2 && (91..=92).contains(&c.width), "{c:?}");
        // every aligned slice equals slice 0 in the common region (up to interpolation error)
        let s0 = v.index_axis(ndarray::Axis(0), 0);
        let mut worst = 0.0f32;
        for k in 1..4 {
            for y in 5..c.height - 5 {
                for x in 5..c.width - 5 {
                    let a = r.aligned[[k, y, x]];
                    let b = s0[[y + c.y0 as usize, x + c.x0 as usize]];
                    worst = worst.max((a - b).abs());
                }
            }
        }
        eprintln!("{interp:?}: worst grey difference after alignment {worst:.3} (contrast 40)");
        assert!(worst < 4.0, "{worst}");
    }
    let p = AlignParams {
        boundary: Boundary::Pad,
        fill: -5.0,
        ..Default::default()
    };
    let r = align_stack(v.view(), &p, &Silent).unwrap();
    assert_eq!(r.aligned.dim(), (4, 96, 96));
    assert_eq!(r.aligned[[2, 95, 50]], -5.0);
    let shifts = vec![[0.0, 0.0]; 3];
    assert!(apply_shifts(v.view(), &shifts, &p, &Silent).is_err());
}

/// `interpolation = nearest`: the applied shifts are the bilinear mode's rounded to whole pixels,
/// and every aligned pixel is an input pixel moved by exactly that shift (no resampling).
#[test]
fn nearest_moves_whole_pixels_by_the_rounded_shifts() {
    let field = Field::new(22, 200.0, 900);
    let drift = vec![[0.0, 0.0], [2.3, -1.6], [3.7, 0.4], [1.2, 2.6], [-0.6, 1.5]];
    let v = stack(&field, &drift, 96, 0.5, 0.0, 6);
    let bil = align_stack(v.view(), &AlignParams::default(), &Silent).unwrap();
    let p = AlignParams {
        interpolation: Interpolation::Nearest,
        ..Default::default()
    };
    let r = align_stack(v.view(), &p, &Silent).unwrap();
    let c = r.report.crop_region;
    for (k, (n, b)) in r.report.slices.iter().zip(&bil.report.slices).enumerate() {
        assert_eq!(n.cum_dy_px, b.cum_dy_px.round(), "slice {k}");
        assert_eq!(n.cum_dx_px, b.cum_dx_px.round(), "slice {k}");
        // the measured (unrounded) curve is kept beside it
        assert_eq!(n.raw_cum_dy_px, b.raw_cum_dy_px);
        // out(y, x) = in(y - dy, x - dx), in the crop's frame
        let (dy, dx) = (n.cum_dy_px as i64, n.cum_dx_px as i64);
        for y in 0..c.height {
            for x in 0..c.width {
                let (sy, sx) = (y as i64 + c.y0 - dy, x as i64 + c.x0 - dx);
                assert_eq!(
                    r.aligned[[k, y, x]],
                    v[[k, sy as usize, sx as usize]],
                    "slice {k} ({y}, {x})"
                );
            }
        }
    }
}

/// Table of cumulative / per-pair errors for window × band-pass × notch on clean, noisy and
/// striped stacks (run with `--ignored --nocapture`; used to choose the defaults).
#[test]
#[ignore]
fn explore_settings() {
    use fibstack::preprocess::phasecorr::Window;
    let field = Field::new(3, 200.0, 900);
    let drift = random_walk(30, 1.5, 5);
    for (noise, stripes) in [(0.0, 0.0), (4.0, 0.0), (0.0, 6.0), (4.0, 6.0)] {
        let v = stack(&field, &drift, 128, noise, stripes, 1);
        for w in [Window::None, Window::Hann] {
            for bp in [None, Some((1.0, 30.0)), Some((2.0, 30.0))] {
                for notch in [0, 2] {
                    let p = AlignParams {
                        corr: PhaseCorrParams {
                            window: w,
                            bandpass: bp.map(|(lo_px, hi_px)| BandPass {
                                lo_px,
                                hi_px: Some(hi_px),
                            }),
                            curtain_notch: notch,
                            ..Default::default()
                        },
                        ..Default::default()
                    };
                    let est = estimate_drift(v.view(), &p, &Silent).unwrap();
                    let mut pe = 0.0;
                    for k in 1..30 {
                        let t = -(drift[k][0] - drift[k - 1][0]);
                        pe += (est.slices[k].dy_px - t).powi(2);
                    }
                    eprintln!(
                        "noise {noise} stripes {stripes} {w:?} bp {bp:?} notch {notch}: cum rms {:.3} pair rms dy {:.3}",
                        rms_error(&est, &drift),
                        (pe / 29.0).sqrt()
                    );
                }
            }
        }
    }
}

#[test]
fn native_u16_path_equals_f32_path() {
    use fibstack::preprocess::align::align_volume;
    use fibstack::volume::{GreyData, GreyVolume, VoxelSize};
    let field = Field::new(30, 200.0, 900);
    let drift = vec![[0.0, 0.0], [1.3, -0.4], [2.1, 0.9], [0.2, 1.7], [-0.6, 0.3]];
    let v = stack(&field, &drift, 64, 0.0, 0.0, 6).mapv(|x| (x * 100.0).round());
    let g = GreyVolume::from_u16(v.mapv(|x| x as u16), VoxelSize::default());
    let p = AlignParams::default();
    let (out, rep) = align_volume(&g, &p, &Silent).unwrap();
    let reference = align_stack(v.view(), &p, &Silent).unwrap();
    assert_eq!(rep.slices, reference.report.slices);
    let GreyData::U16(a) = &out.data else {
        panic!("type kept")
    };
    let b = reference.aligned.mapv(fibstack::preprocess::align::to_u16);
    assert_eq!(a, &b);
}

#[test]
fn unrelated_slice_is_flagged() {
    let field = Field::new(40, 200.0, 900);
    let drift = random_walk(10, 1.0, 2);
    let mut v = stack(&field, &drift, 96, 0.0, 0.0, 7);
    // slice 6 shows something else entirely (pure noise)
    let mut r = Rng::stream(5, 5);
    for y in 0..96 {
        for x in 0..96 {
            v[[6, y, x]] = (100.0 + 20.0 * r.normal()) as f32;
        }
    }
    let est = estimate_drift(v.view(), &AlignParams::default(), &Silent).unwrap();
    let flagged: Vec<usize> = est
        .slices
        .iter()
        .filter(|s| s.flagged)
        .map(|s| s.slice)
        .collect();
    eprintln!(
        "flagged {flagged:?}; quality of slices 5..8: {:?}",
        est.slices[5..8]
            .iter()
            .map(|s| (s.quality, s.peak_ratio))
            .collect::<Vec<_>>()
    );
    // both pairs touching slice 6 (6 vs 5, 7 vs 6) are poor
    assert_eq!(flagged, vec![6, 7]);
    // their measured shifts are far off (the noise slice correlates with nothing) and in opposite
    // directions: slice 6 is put at the median of the nearest unflagged pairs (3, 4, 5 | 8, 9)
    // and pair 7 takes the rest of the two pairs' sum, so slices 7.. keep their measured position
    let off = estimate_drift(
        v.view(),
        &AlignParams {
            flag_replace_px: 0.0,
            ..Default::default()
        },
        &Silent,
    )
    .unwrap();
    assert!(off.slices.iter().all(|s| !s.replaced));
    let mut dy: Vec<f64> = [3, 4, 5, 8, 9]
        .iter()
        .map(|&g| off.slices[g].dy_px)
        .collect();
    dy.sort_by(f64::total_cmp);
    let (s6, s7) = (&est.slices[6], &est.slices[7]);
    assert!(s6.replaced && s7.replaced);
    assert_eq!(s6.dy_px, dy[2], "median of 3, 4, 5, 8, 9");
    assert_eq!(
        s6.measured_px,
        Some([off.slices[6].dy_px, off.slices[6].dx_px])
    );
    let m6 = s6.measured_px.unwrap();
    assert!((m6[0] - s6.dy_px).abs() > 4.0 || (m6[1] - s6.dx_px).abs() > 4.0);
    for k in 7..10 {
        assert!((est.slices[k].cum_dy_px - off.slices[k].cum_dy_px).abs() < 1e-9);
        assert!((est.slices[k].cum_dx_px - off.slices[k].cum_dx_px).abs() < 1e-9);
    }
    assert_eq!(est.slices.iter().filter(|s| s.replaced).count(), 2);
    // the registration of slice 6 itself (random content) is the local trend instead of a 10-px
    // jump, and every slice is within 2 px
    let err = |e: &fibstack::preprocess::align::DriftEstimate, k: usize| {
        (e.slices[k].cum_dy_px + drift[k][0] - drift[0][0])
            .abs()
            .max((e.slices[k].cum_dx_px + drift[k][1] - drift[0][1]).abs())
    };
    eprintln!(
        "slice 6 error: {:.2} px replaced, {:.2} px measured",
        err(&est, 6),
        err(&off, 6)
    );
    assert!(err(&est, 6) < 2.0 && err(&off, 6) > 8.0);
    for k in 0..10 {
        assert!(err(&est, k) < 2.0, "slice {k}: {}", err(&est, k));
    }
}
