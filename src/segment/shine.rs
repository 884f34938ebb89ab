//! Shine-through correction for the pore / first-solid threshold.
//!
//! In a FIB-SEM slice, a pore is open towards the material that has not been milled yet: the
//! detector sees the walls a few slices deeper through it, so pore pixels in front of solid read
//! brighter than pore pixels in front of more pore, and some cross the pore threshold. This module
//! estimates that brightening *from the stack itself* and moves the pore threshold pixel by pixel:
//!
//! 1. classify with the given thresholds; class means `m_c`;
//! 2. contrast map `S = m_{class} − m_0`, blurred in-plane by σ: `B_z` for every slice;
//! 3. least squares over the pixels classified as pore:
//!    `g = a + b₀·B_z + Σ_{j=1..D} b_j·B_{z+j}` — `b₀` absorbs the in-plane blur of nearby solid,
//!    `b_j` is the shine-through from `j` slices deeper (slice order = milling order);
//! 4. predicted brightening `s = Σ_j b_j·B_{z+j}`; a pixel is pore when `g ≤ t₀ + s/2` (the midpoint
//!    between the brightened pore level and the first solid level); the other thresholds are kept.
//!
//! Assumptions: the stack is aligned (slice z+j lies behind slice z at the same pixel) and slice
//! index increases with milling depth. The fit and the fractions before and after are reported.

use crate::error::ParamError;
use crate::preprocess::denoise::gaussian_2d;
use crate::segment::threshold::class_of;
use ndarray::{Array2, Array3, ArrayView3, Axis, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters of [`correct_shine_through`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShineParams {
    /// Slices behind the face that can shine through (1–16).
    pub depth: usize,
    /// In-plane Gaussian σ (pixels) of the shine-through and of the nearby-solid term (0–20).
    pub sigma_px: f64,
    /// Most fit → reclassify rounds (1–10); later rounds refit on the corrected pore set. The
    /// rounds stop early once the pore fraction changes by less than [`SHINE_CONVERGED`].
    pub iterations: usize,
}

/// Change of the pore fraction (absolute, between two rounds) below which the rounds stop.
pub const SHINE_CONVERGED: f64 = 1e-4;

impl Default for ShineParams {
    fn default() -> Self {
        ShineParams {
            depth: 4,
            sigma_px: 1.5,
            iterations: 2,
        }
    }
}

impl ShineParams {
    /// Check that every parameter lies in its range (depth 1–16, σ 0–20 px, iterations 1–10).
    pub fn validate(&self) -> Result<(), ParamError> {
        if !(1..=16).contains(&self.depth) {
            return Err(ParamError::new(
                "shine_depth",
                self.depth,
                "must be 1..=16 slices (4 is a good start)",
            ));
        }
        if !(1..=10).contains(&self.iterations) {
            return Err(ParamError::new(
                "shine_iterations",
                self.iterations,
                "must be 1..=10 (2 is a good start)",
            ));
        }
        crate::error::in_range("shine_sigma_px", self.sigma_px, 0.0, 20.0).map(|_| ())
    }
}

/// The fitted model and what the correction changed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ShineFit {
    /// Slices behind the face that were modelled (from [`ShineParams::depth`]).
    pub depth: usize,
    /// In-plane Gaussian σ (pixels) used (from [`ShineParams::sigma_px`]).
    pub sigma_px: f64,
    /// Pore grey level with nothing nearby or behind (`a`, grey values).
    pub pore_level: f64,
    /// `b₀`: nearby solid in the same slice (dimensionless, per unit of contrast).
    pub in_plane: f64,
    /// `b_j`, j = 1..=depth: shine-through from j slices deeper (dimensionless).
    pub behind: Vec<f64>,
    /// Pixels used in the fit (classified as pore).
    pub n_fit: u64,
    /// Fit → reclassify rounds run.
    pub rounds: usize,
    /// Whether the last round changed the pore fraction by less than [`SHINE_CONVERGED`]
    /// (false when the rounds ran out first).
    pub converged: bool,
    /// Pore fraction after each round.
    pub pore_fraction_per_round: Vec<f64>,
    /// Class means before the correction (grey values).
    pub class_means: Vec<f64>,
    /// Mean and largest threshold shift `s/2` applied (grey values).
    pub mean_shift: f64,
    /// Largest threshold shift `s/2` applied (grey values).
    pub max_shift: f64,
    /// Class fractions before and after.
    pub fractions_before: Vec<f64>,
    /// Class fractions after the correction (unit "1").
    pub fractions_after: Vec<f64>,
}

/// Classes (0 = pore, …) of `grey` with `thresholds` corrected for shine-through; see the module
/// docs. Returns class indices (map them to label values yourself) and the fit.
///
/// ```
/// use fibstack::segment::shine::{correct_shine_through, ShineParams};
/// // pore (20) everywhere except a solid slab at z = 3; the pore of slice 2, just in front of
/// // it, shows the slab shining through: 20 + 0.4 × 80 = 52
/// let mut g = ndarray::Array3::<f32>::from_elem((6, 16, 16), 20.0);
/// g.slice_mut(ndarray::s![3, .., ..]).fill(100.0);
/// g.slice_mut(ndarray::s![2, .., ..]).fill(52.0);
/// let (classes, fit) = correct_shine_through(g.view(), &[60.0], &ShineParams::default()).unwrap();
/// assert_eq!(classes[[2, 8, 8]], 0);
/// assert_eq!(classes[[3, 8, 8]], 1);
/// assert!((fit.behind[0] - 0.4).abs() < 0.05, "{:?}", fit.behind);
/// ```
pub fn correct_shine_through(
    grey: ArrayView3<f32>,
    thresholds: &[f64],
    p: &ShineParams,
) -> Result<(Array3<u8>, ShineFit), ParamError> {
    p.validate()?;
    if thresholds.is_empty() {
        return Err(ParamError::new(
            "thresholds",
            "[]",
            "shine-through correction needs at least one threshold (pore / solid)",
        ));
    }
    let k = thresholds.len() + 1;
    let mut classes = Array3::<u8>::zeros(grey.raw_dim());
    Zip::from(&mut classes)
        .and(&grey)
        .par_for_each(|c, &g| *c = class_of(g as f64, thresholds) as u8);
    let (cnt, means) = crate::segment::threshold::class_stats(grey, classes.view(), k);
    let total: u64 = cnt.iter().sum();
    let before: Vec<f64> = cnt
        .iter()
        .map(|&n| n as f64 / total.max(1) as f64)
        .collect();
    if cnt[0] == 0 || cnt[1] == 0 {
        return Err(ParamError::new(
            "thresholds",
            format!("{thresholds:?}"),
            "the pore class or the first solid class is empty; check the thresholds",
        ));
    }
    // contrast of each class above the pore level; the pore class mean is itself raised by the
    // shine-through, so after the first fit the fitted pore level `a` replaces it
    let mut contrast: Vec<f32> = means.iter().map(|m| (m - means[0]) as f32).collect();
    let t0 = thresholds[0];
    let t1 = thresholds.get(1).copied().unwrap_or(f64::INFINITY);
    let mut coef = Vec::new();
    let mut n_fit = 0;
    let mut shifts = Vec::new();
    // fit on the pixels classified as pore, reclassify, and refit on the corrected pore set: the
    // first fit misses the brightest pores (they were above the threshold) and underestimates
    let mut per_round = Vec::new();
    let mut converged = false;
    let mut previous = before[0];
    for _ in 0..p.iterations {
        let blurred = contrast_map(&classes, &contrast, p.sigma_px);
        let (c, n) = fit(grey, &classes, &blurred, p.depth)?;
        shifts = reclassify(grey, &mut classes, &blurred, &c[2..], t0, t1, k);
        contrast = means
            .iter()
            .enumerate()
            .map(|(i, m)| if i == 0 { 0.0 } else { (m - c[0]) as f32 })
            .collect();
        coef = c;
        n_fit = n;
        let pore = shifts.iter().map(|(_, _, n)| n[0]).sum::<u64>() as f64 / total.max(1) as f64;
        per_round.push(pore);
        converged = (pore - previous).abs() < SHINE_CONVERGED;
        previous = pore;
        if converged {
            break;
        }
    }
    let behind: Vec<f64> = coef[2..].to_vec();
    let mut after = vec![0u64; k];
    let (mut ssum, mut smax) = (0.0, 0.0f64);
    for (s, mx, n) in &shifts {
        ssum += s;
        smax = smax.max(*mx);
        for c in 0..k {
            after[c] += n[c];
        }
    }
    Ok((
        classes,
        ShineFit {
            depth: p.depth,
            sigma_px: p.sigma_px,
            pore_level: coef[0],
            in_plane: coef[1],
            behind,
            n_fit,
            rounds: per_round.len(),
            converged,
            pore_fraction_per_round: per_round,
            class_means: means,
            mean_shift: ssum / total.max(1) as f64,
            max_shift: smax,
            fractions_before: before,
            fractions_after: after
                .iter()
                .map(|&n| n as f64 / total.max(1) as f64)
                .collect(),
        },
    ))
}

/// Apply [`correct_shine_through`] to a segmentation of `grey` (as f32): `labels` (written with
/// `thresholds` and one label value per class, as [`crate::segment::segment_volume`] does) are
/// rewritten from the corrected classes.
pub fn correct_labels(
    grey: ArrayView3<f32>,
    labels: &mut crate::volume::LabelVolume,
    thresholds: &[f64],
    label_values: &[u8],
    p: &ShineParams,
) -> Result<ShineFit, ParamError> {
    if label_values.len() != thresholds.len() + 1 || grey.shape() != labels.data.shape() {
        return Err(ParamError::new(
            "labels",
            format!("{label_values:?}"),
            "need one label value per class and a grey volume of the labels' shape",
        ));
    }
    let (classes, fit) = correct_shine_through(grey, thresholds, p)?;
    Zip::from(&mut labels.data)
        .and(&classes)
        .par_for_each(|l, &c| *l = label_values[c as usize]);
    Ok(fit)
}

/// Per slice: class contrast `m_c − m_0` blurred in-plane by σ.
fn contrast_map(classes: &Array3<u8>, contrast: &[f32], sigma: f64) -> Vec<Array2<f32>> {
    (0..classes.dim().0)
        .into_par_iter()
        .map(|z| {
            let s = classes
                .index_axis(Axis(0), z)
                .mapv(|c| contrast[c as usize].max(0.0));
            if sigma > 0.0 {
                gaussian_2d(s.view(), [sigma, sigma], 4.0)
            } else {
                s
            }
        })
        .collect()
}

/// Least squares over pore pixels of `g = a + b₀·B_z + Σ_j b_j·B_{z+j}`; returns the
/// coefficients `[a, b₀, b₁ … b_D]` and the number of pixels.
fn fit(
    grey: ArrayView3<f32>,
    classes: &Array3<u8>,
    blurred: &[Array2<f32>],
    depth: usize,
) -> Result<(Vec<f64>, u64), ParamError> {
    let nz = classes.dim().0;
    let m = depth + 2;
    // normal equations per slice, added in slice order (thread-count independent)
    let parts: Vec<(Vec<f64>, u64)> = (0..nz)
        .into_par_iter()
        .map(|z| {
            let mut ata = vec![0.0f64; m * m + m];
            let mut n = 0u64;
            let mut x = vec![0.0f64; m];
            let gz = grey.index_axis(Axis(0), z);
            let cz = classes.index_axis(Axis(0), z);
            for ((iy, ix), &c) in cz.indexed_iter() {
                if c != 0 {
                    continue;
                }
                x[0] = 1.0;
                x[1] = blurred[z][[iy, ix]] as f64;
                for j in 1..=depth {
                    x[1 + j] = if z + j < nz {
                        blurred[z + j][[iy, ix]] as f64
                    } else {
                        0.0
                    };
                }
                let g = gz[[iy, ix]] as f64;
                for a in 0..m {
                    for b in 0..m {
                        ata[a * m + b] += x[a] * x[b];
                    }
                    ata[m * m + a] += x[a] * g;
                }
                n += 1;
            }
            (ata, n)
        })
        .collect();
    let mut ata = vec![0.0f64; m * m + m];
    let mut n_fit = 0u64;
    for (a, n) in &parts {
        for (t, v) in ata.iter_mut().zip(a) {
            *t += v;
        }
        n_fit += n;
    }
    let coef = solve(&ata[..m * m], &ata[m * m..], m).ok_or_else(|| {
        ParamError::new(
            "shine-through fit",
            format!("{n_fit} pore pixels"),
            "is degenerate (too few pore pixels, or no solid anywhere near them); turn the correction off",
        )
    })?;
    Ok((coef, n_fit))
}

/// Pixels with `g ≤ t₁` become pore when `g ≤ t₀ + s/2` (`s` = predicted shine-through, the
/// shift capped to `[0, t₁ − t₀]`), first solid otherwise. Per slice: (sum of shifts, largest
/// shift, class counts).
fn reclassify(
    grey: ArrayView3<f32>,
    classes: &mut Array3<u8>,
    blurred: &[Array2<f32>],
    behind: &[f64],
    t0: f64,
    t1: f64,
    k: usize,
) -> Vec<(f64, f64, Vec<u64>)> {
    let nz = classes.dim().0;
    classes
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(z, mut cz)| {
            let gz = grey.index_axis(Axis(0), z);
            let (mut ssum, mut smax) = (0.0f64, 0.0f64);
            let mut n = vec![0u64; k];
            for ((iy, ix), c) in cz.indexed_iter_mut() {
                let g = gz[[iy, ix]] as f64;
                if g <= t1 {
                    let mut s = 0.0;
                    for (j, b) in behind.iter().enumerate() {
                        if z + j + 1 < nz {
                            s += b * blurred[z + j + 1][[iy, ix]] as f64;
                        }
                    }
                    let shift = (s / 2.0).max(0.0).min((t1 - t0).max(0.0));
                    ssum += shift;
                    smax = smax.max(shift);
                    *c = u8::from(g > t0 + shift);
                }
                n[*c as usize] += 1;
            }
            (ssum, smax, n)
        })
        .collect()
}

/// Solve the symmetric system `A·x = b` (`A` m×m row-major) by Gaussian elimination with partial
/// pivoting; `None` when singular.
fn solve(a: &[f64], b: &[f64], m: usize) -> Option<Vec<f64>> {
    let mut a: Vec<Vec<f64>> = (0..m).map(|i| a[i * m..(i + 1) * m].to_vec()).collect();
    let mut b = b.to_vec();
    let scale = (0..m)
        .map(|i| a[i][i].abs())
        .fold(0.0, f64::max)
        .max(1e-300);
    for col in 0..m {
        let piv = (col..m).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() <= 1e-12 * scale {
            // a regressor that is zero everywhere (e.g. no slice that deep): drop it
            a[col].iter_mut().for_each(|v| *v = 0.0);
            a[col][col] = 1.0;
            b[col] = 0.0;
            for (r, row) in a.iter_mut().enumerate() {
                if r != col {
                    row[col] = 0.0;
                }
            }
            continue;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let prow = a[col].clone();
        let pb = b[col];
        for (r, (row, br)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
            if r != col {
                let f = row[col] / prow[col];
                if f != 0.0 {
                    for (v, p) in row[col..].iter_mut().zip(&prow[col..]) {
                        *v -= f * p;
                    }
                    *br -= f * pb;
                }
            }
        }
    }
    let x: Vec<f64> = (0..m).map(|i| b[i] / a[i][i]).collect();
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Independent forward model: random columns of solid, pore pixels brightened by the blurred
    /// solid `j` slices deeper with known weights, plus noise. The fit must find the weights and
    /// the corrected classes must match the truth far better than the plain threshold.
    #[test]
    fn recovers_known_shine_through() {
        let (nz, ny, nx) = (24, 48, 48);
        let mut r = Rng::new(5);
        // truth: blobs of solid (label 1) — random boxes
        let mut truth = Array3::<u8>::zeros((nz, ny, nx));
        for _ in 0..60 {
            let (z0, y0, x0) = (
                (r.uniform() * nz as f64) as usize,
                (r.uniform() * ny as f64) as usize,
                (r.uniform() * nx as f64) as usize,
            );
            let (dz, dy, dx) = (
                2 + (r.uniform() * 4.0) as usize,
                3 + (r.uniform() * 8.0) as usize,
                3 + (r.uniform() * 8.0) as usize,
            );
            truth
                .slice_mut(ndarray::s![
                    z0..(z0 + dz).min(nz),
                    y0..(y0 + dy).min(ny),
                    x0..(x0 + dx).min(nx)
                ])
                .fill(1);
        }
        let (pore, solid) = (20.0f64, 100.0f64);
        let weights = [0.35, 0.18, 0.09];
        let mut g = Array3::<f32>::zeros((nz, ny, nx));
        for z in 0..nz {
            let mut shine = ndarray::Array2::<f32>::zeros((ny, nx));
            for (j, w) in weights.iter().enumerate() {
                if z + j + 1 < nz {
                    let s = truth.index_axis(Axis(0), z + j + 1);
                    Zip::from(&mut shine)
                        .and(&s)
                        .for_each(|a, &l| *a += (w * (solid - pore)) as f32 * l as f32);
                }
            }
            for ((y, x), v) in g.index_axis_mut(Axis(0), z).indexed_iter_mut() {
                let l = truth[[z, y, x]];
                *v = if l == 1 {
                    solid as f32
                } else {
                    pore as f32 + shine[[y, x]]
                } + (r.normal() * 3.0) as f32;
            }
        }
        let t = [(pore + solid) / 2.0];
        let plain = g.mapv(|v| class_of(v as f64, &t) as u8);
        let (fixed, fit) = correct_shine_through(
            g.view(),
            &t,
            &ShineParams {
                depth: 4,
                sigma_px: 0.0,
                iterations: 3,
            },
        )
        .unwrap();
        let wrong = |c: &Array3<u8>| {
            c.iter().zip(truth.iter()).filter(|(a, b)| a != b).count() as f64 / c.len() as f64
        };
        let (e0, e1) = (wrong(&plain), wrong(&fixed));
        eprintln!(
            "misclassified plain {e0}, corrected {e1}; fit {:?}",
            fit.behind
        );
        for (j, w) in weights.iter().enumerate() {
            assert!(
                (fit.behind[j] - w).abs() < 0.03,
                "b_{}: {:?}",
                j + 1,
                fit.behind
            );
        }
        assert!(fit.behind[3].abs() < 0.03, "{:?}", fit.behind);
        assert!(
            e0 > 0.01,
            "the test needs shine-through that fools the plain threshold: {e0}"
        );
        assert!(e1 < 0.2 * e0, "misclassified: plain {e0}, corrected {e1}");
        // up to 10 rounds: they stop once the pore fraction settles, and the fit stays right
        let run = |iterations| {
            correct_shine_through(
                g.view(),
                &t,
                &ShineParams {
                    depth: 4,
                    sigma_px: 0.0,
                    iterations,
                },
            )
            .unwrap()
            .1
        };
        let f10 = run(10);
        let pf = &f10.pore_fraction_per_round;
        assert!(f10.converged && f10.rounds < 10, "{pf:?}");
        assert_eq!(pf.len(), f10.rounds);
        assert!((pf[pf.len() - 1] - pf[pf.len() - 2]).abs() < SHINE_CONVERGED);
        assert!((pf[pf.len() - 1] - f10.fractions_after[0]).abs() < 1e-12);
        for (j, w) in weights.iter().enumerate() {
            assert!((f10.behind[j] - w).abs() < 0.03, "{:?}", f10.behind);
        }
        let f1 = run(1);
        assert_eq!((f1.rounds, f1.pore_fraction_per_round.len()), (1, 1));
    }

    #[test]
    fn bad_parameters_are_named() {
        let g = Array3::<f32>::zeros((2, 4, 4));
        let e = correct_shine_through(
            g.view(),
            &[1.0],
            &ShineParams {
                depth: 0,
                sigma_px: 1.0,
                iterations: 3,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("shine_depth"), "{e}");
        let e = correct_shine_through(g.view(), &[], &ShineParams::default()).unwrap_err();
        assert!(e.to_string().contains("threshold"), "{e}");
        // every voxel in one class
        let e = correct_shine_through(g.view(), &[1.0], &ShineParams::default()).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
