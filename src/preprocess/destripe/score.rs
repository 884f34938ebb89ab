//! How well a destriping worked on a real slice, without a ground truth
//! (`fibstack destripe --score`, `fibstack destripe-score RAW OUT`).
//!
//! Vertical curtains show as column-to-column changes of the column means; real structure
//! mostly does not (it averages out over the rows). So, for the raw slice and for the destriped
//! one, with **the same mask** (made from the raw slice, [`crate::preprocess::material`]):
//!
//! 1. material column profile `m(x)`: the mean of the material pixels of column `x` (columns
//!    with fewer than `min_pixels` material pixels are left out); pore profile likewise;
//! 2. high-pass: `h(x) = m(x) − mean of m over the kept columns in [x − w/2, x + w/2]`
//!    (`w = window_px`, 31 by default: stripes narrower than ~30 px; the window is cut at the
//!    image borders);
//! 3. energy `E = Σₓ h(x)²` over the kept columns (summed over the slices of a stack).
//!
//! The score reports `E_after / E_before` in the material (curtains removed: small is good), in
//! the pores (stripes added there: must not exceed 1) and, from the row means `r(y)` of the
//! whole slice with the same high-pass along y, the **kept** fraction of the horizontal
//! structure `E_after / E_before` (close to 1 is good: destriping must not touch it).
//! Figures the project's own acceptance uses: material ≤ 0.15 (an 85 % drop), pores ≤ 1.0, rows
//! ≥ 0.98.
//!
//! ```
//! use fibstack::preprocess::destripe::score::{score_slice, ScoreParams};
//! use ndarray::Array2;
//! // a dark pore band on top, striped material below; "destriped" = without the stripes
//! let raw = Array2::from_shape_fn((64, 64), |(y, x)| {
//!     if y < 16 { 20.0 } else { 200.0 + if x % 5 == 0 { 10.0 } else { 0.0 } + x as f32 * 0.1 }
//! });
//! let out = &raw - &Array2::from_shape_fn((64, 64), |(y, x)| {
//!     if y >= 16 && x % 5 == 0 { 10.0 } else { 0.0 }
//! });
//! let s = score_slice(raw.view(), out.view(), &ScoreParams::default()).unwrap();
//! assert!(s.material.ratio.unwrap() < 0.01);
//! ```

use crate::error::ParamError;
use crate::preprocess::denoise::slice_f32;
use crate::preprocess::material::{material_mask, MaterialMaskParams, DEFAULT_MASK_SMOOTH_PX};
use crate::volume::GreyData;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Default high-pass window (px).
pub const DEFAULT_SCORE_WINDOW: usize = 31;
/// Default minimum number of region pixels for a column to count.
pub const DEFAULT_SCORE_MIN_PIXELS: usize = 8;

/// Parameters of the destriping score (`--score-*` flags, `[score]`-style workflow keys).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreParams {
    /// Score: window (px, odd, ≥ 3) of the moving average the column and row profiles are
    /// high-passed against.
    #[arg(long = "score-window", default_value_t = DEFAULT_SCORE_WINDOW, value_name = "PX")]
    pub window_px: usize,
    /// Score: grey value (of the raw slice smoothed by --score-smooth-px) above which a pixel
    /// is material; default per smoothed raw slice: Otsu when it has two populations, else
    /// its dark tail (median − 3 robust σ).
    #[arg(
        long = "score-threshold",
        value_name = "GREY",
        allow_hyphen_values = true
    )]
    pub threshold: Option<f64>,
    /// Score: Gaussian σ (px) of the smoothing before the mask threshold (0 = none).
    #[arg(long = "score-smooth-px", default_value_t = DEFAULT_MASK_SMOOTH_PX, value_name = "PX")]
    pub smooth_px: f64,
    /// Score: a column counts for a region when it holds at least this many of its pixels.
    #[arg(long = "score-min-pixels", default_value_t = DEFAULT_SCORE_MIN_PIXELS, value_name = "N")]
    pub min_pixels: usize,
}

impl Default for ScoreParams {
    fn default() -> Self {
        ScoreParams {
            window_px: DEFAULT_SCORE_WINDOW,
            threshold: None,
            smooth_px: DEFAULT_MASK_SMOOTH_PX,
            min_pixels: DEFAULT_SCORE_MIN_PIXELS,
        }
    }
}

impl ScoreParams {
    /// The mask parameters.
    pub fn mask(&self) -> MaterialMaskParams {
        MaterialMaskParams {
            threshold: self.threshold,
            smooth_px: self.smooth_px,
        }
    }

    /// Check every value.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.window_px < 3 || self.window_px.is_multiple_of(2) || self.window_px > 100_001 {
            return Err(ParamError::new(
                "score window (px)",
                self.window_px,
                "must be an odd width >= 3 (31 is the default)",
            ));
        }
        if self.min_pixels == 0 {
            return Err(ParamError::new(
                "score min pixels",
                self.min_pixels,
                "must be at least 1 (8 is the default)",
            ));
        }
        self.mask().validate()
    }
}

/// Energies of one profile before and after.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct RegionScore {
    /// High-pass energy of the raw slice's profile (grey² summed over the kept columns/rows).
    pub energy_before: f64,
    /// The same for the destriped slice.
    pub energy_after: f64,
    /// `energy_after / energy_before`; `None` when there was nothing to measure.
    pub ratio: Option<f64>,
    /// Columns (rows for the row profile) that counted.
    pub count: usize,
}

impl RegionScore {
    fn new(before: f64, after: f64, count: usize) -> Self {
        RegionScore {
            energy_before: before,
            energy_after: after,
            ratio: (before > 0.0).then(|| after / before),
            count,
        }
    }

    fn add(&mut self, o: &RegionScore) {
        *self = RegionScore::new(
            self.energy_before + o.energy_before,
            self.energy_after + o.energy_after,
            self.count + o.count,
        );
    }
}

/// The score of one slice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SliceScore {
    /// Column-mean high-pass energy in the material (curtains: small ratio is good).
    pub material: RegionScore,
    /// The same in the pores (must not rise: ratio ≤ 1).
    pub pore: RegionScore,
    /// Row-mean high-pass energy of the whole slice (kept horizontal structure: ratio ≈ 1).
    pub rows: RegionScore,
    /// Mask threshold used (grey value of the smoothed raw slice); `None` for a flat slice.
    pub threshold: Option<f64>,
    /// Fraction of the slice's pixels that are material.
    pub material_fraction: f64,
}

/// What `fibstack destripe --score` / `destripe-score --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestripeScore {
    /// The parameters the score was computed with.
    pub params: ScoreParams,
    /// Energies summed over the slices; ratios of the sums.
    pub material: RegionScore,
    /// Column-mean high-pass energy in the pores, summed over the slices (must not rise: ratio ≤ 1).
    pub pore: RegionScore,
    /// Row-mean high-pass energy of the whole slices, summed (kept horizontal structure: ratio ≈ 1).
    pub rows: RegionScore,
    /// `1 − material ratio`: the fraction of the material's column-profile energy removed.
    pub material_reduction: Option<f64>,
    /// Per slice.
    pub slices: Vec<SliceScore>,
}

/// `h = p − moving mean of p over the kept entries (window w)`; returns `Σ h²` over the kept
/// entries and their count.
pub fn highpass_energy(p: &[f64], keep: &[bool], w: usize) -> (f64, usize) {
    let n = p.len();
    let r = w / 2;
    let mut cs = vec![0f64; n + 1];
    let mut ck = vec![0usize; n + 1];
    for i in 0..n {
        cs[i + 1] = cs[i] + if keep[i] { p[i] } else { 0.0 };
        ck[i + 1] = ck[i] + keep[i] as usize;
    }
    let (mut e, mut c) = (0f64, 0usize);
    for i in 0..n {
        if !keep[i] {
            continue;
        }
        let (a, b) = (i.saturating_sub(r), (i + r + 1).min(n));
        let mean = (cs[b] - cs[a]) / (ck[b] - ck[a]) as f64;
        e += (p[i] - mean).powi(2);
        c += 1;
    }
    (e, c)
}

/// Column means of `img` over the pixels where `mask == want`, and which columns have at least
/// `min` of them.
fn column_profile(
    img: ArrayView2<f32>,
    mask: &Array2<bool>,
    want: bool,
    min: usize,
) -> (Vec<f64>, Vec<bool>) {
    let nx = img.ncols();
    let mut s = vec![0f64; nx];
    let mut c = vec![0usize; nx];
    for (row, mrow) in img.rows().into_iter().zip(mask.rows()) {
        for x in 0..nx {
            if mrow[x] == want {
                s[x] += row[x] as f64;
                c[x] += 1;
            }
        }
    }
    let keep: Vec<bool> = c.iter().map(|&k| k >= min).collect();
    let p = s
        .iter()
        .zip(&c)
        .map(|(a, &k)| if k > 0 { a / k as f64 } else { 0.0 })
        .collect();
    (p, keep)
}

/// Score one destriped slice `out` against its raw slice `raw` (same shape).
pub fn score_slice(
    raw: ArrayView2<f32>,
    out: ArrayView2<f32>,
    p: &ScoreParams,
) -> Result<SliceScore, ParamError> {
    p.validate()?;
    if raw.dim() != out.dim() {
        return Err(ParamError::new(
            "destriped slice size",
            format!("{}x{}", out.nrows(), out.ncols()),
            format!(
                "must equal the raw slice's {}x{}: score a destriped image against its own input",
                raw.nrows(),
                raw.ncols()
            ),
        ));
    }
    let (mask, t) = material_mask(raw, &p.mask())?;
    let region = |want: bool| {
        let (a, keep) = column_profile(raw, &mask, want, p.min_pixels);
        let (b, _) = column_profile(out, &mask, want, p.min_pixels);
        let (ea, n) = highpass_energy(&a, &keep, p.window_px);
        let (eb, _) = highpass_energy(&b, &keep, p.window_px);
        RegionScore::new(ea, eb, n)
    };
    let rows = {
        let rm = |img: ArrayView2<f32>| -> Vec<f64> {
            img.rows()
                .into_iter()
                .map(|r| r.iter().map(|v| *v as f64).sum::<f64>() / r.len().max(1) as f64)
                .collect()
        };
        let keep = vec![true; raw.nrows()];
        let (ea, n) = highpass_energy(&rm(raw), &keep, p.window_px);
        let (eb, _) = highpass_energy(&rm(out), &keep, p.window_px);
        RegionScore::new(ea, eb, n)
    };
    let nm = mask.iter().filter(|&&m| m).count();
    Ok(SliceScore {
        material: region(true),
        pore: region(false),
        rows,
        threshold: t,
        material_fraction: nm as f64 / mask.len().max(1) as f64,
    })
}

/// Score every slice of a destriped stack against the raw stack (same shape); slices are
/// converted to f32 one at a time.
pub fn score_stack(
    raw: &GreyData,
    out: &GreyData,
    p: &ScoreParams,
) -> Result<DestripeScore, ParamError> {
    p.validate()?;
    if raw.shape() != out.shape() {
        return Err(ParamError::new(
            "destriped stack shape",
            format!("{:?}", out.shape()),
            format!(
                "must equal the raw stack's {:?}: score a destriped stack against its own input",
                raw.shape()
            ),
        ));
    }
    let slices = (0..raw.shape()[0])
        .into_par_iter()
        .map(|z| score_slice(slice_f32(raw, z).view(), slice_f32(out, z).view(), p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(summarise(*p, slices))
}

/// Sum per-slice scores into a [`DestripeScore`].
pub fn summarise(p: ScoreParams, slices: Vec<SliceScore>) -> DestripeScore {
    let (mut m, mut q, mut r) = (
        RegionScore::default(),
        RegionScore::default(),
        RegionScore::default(),
    );
    for s in &slices {
        m.add(&s.material);
        q.add(&s.pore);
        r.add(&s.rows);
    }
    DestripeScore {
        params: p,
        material: m,
        pore: q,
        rows: r,
        material_reduction: m.ratio.map(|v| 1.0 - v),
        slices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Naive twin of the high-pass energy: every window mean written out.
    fn naive(p: &[f64], keep: &[bool], w: usize) -> f64 {
        let r = (w / 2) as isize;
        let n = p.len() as isize;
        let mut e = 0.0;
        for i in 0..n {
            if !keep[i as usize] {
                continue;
            }
            let idx: Vec<usize> = (i - r..=i + r)
                .filter(|&j| j >= 0 && j < n && keep[j as usize])
                .map(|j| j as usize)
                .collect();
            let m = idx.iter().map(|&j| p[j]).sum::<f64>() / idx.len() as f64;
            e += (p[i as usize] - m).powi(2);
        }
        e
    }

    #[test]
    fn highpass_energy_matches_the_naive_twin() {
        for seed in 0..20u64 {
            let mut rng = Rng::new(seed);
            let n = 1 + (rng.uniform() * 80.0) as usize;
            let p: Vec<f64> = (0..n).map(|_| rng.uniform() * 10.0).collect();
            let keep: Vec<bool> = (0..n).map(|_| rng.uniform() > 0.3).collect();
            let w = 3 + 2 * (rng.uniform() * 10.0) as usize;
            let (e, c) = highpass_energy(&p, &keep, w);
            assert!((e - naive(&p, &keep, w)).abs() < 1e-9);
            assert_eq!(c, keep.iter().filter(|&&k| k).count());
        }
    }

    #[test]
    fn stripes_spread_into_pores_are_seen() {
        // pores (top half, dark) clean, material (bottom half) with stripes; a "destriper" that
        // moves half of each stripe into the pore rows
        let (ny, nx) = (80, 120);
        let mut rng = Rng::new(9);
        let mut s: Vec<f32> = (0..nx).map(|_| rng.uniform() as f32 * 8.0 - 4.0).collect();
        // zero mean: moving stripes between rows leaves every row mean as it was
        let mean = s.iter().sum::<f32>() / nx as f32;
        s.iter_mut().for_each(|v| *v -= mean);
        let raw = Array2::from_shape_fn(
            (ny, nx),
            |(y, x)| {
                if y < ny / 2 {
                    30.0
                } else {
                    180.0 + s[x]
                }
            },
        );
        let out = Array2::from_shape_fn((ny, nx), |(y, x)| {
            if y < ny / 2 {
                30.0 + 0.5 * s[x]
            } else {
                180.0 + 0.5 * s[x]
            }
        });
        // the mask threshold given (the automatic rule is tested in `material`)
        let p = ScoreParams {
            threshold: Some(100.0),
            ..Default::default()
        };
        let r = score_slice(raw.view(), out.view(), &p).unwrap();
        assert!((r.material.ratio.unwrap() - 0.25).abs() < 1e-3, "{r:?}");
        // nothing in the pores before: no ratio, but the energy after is there
        assert!(r.pore.ratio.is_none() && r.pore.energy_after > 1.0);
        assert!((r.material_fraction - 0.5).abs() < 0.02);
        // zero-mean stripes: the row profile is untouched
        assert!((r.rows.ratio.unwrap() - 1.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn bad_parameters_are_refused() {
        let a = Array2::<f32>::zeros((10, 10));
        let b = Array2::<f32>::zeros((10, 11));
        assert!(score_slice(a.view(), b.view(), &ScoreParams::default()).is_err());
        for p in [
            ScoreParams {
                window_px: 30,
                ..Default::default()
            },
            ScoreParams {
                window_px: 1,
                ..Default::default()
            },
            ScoreParams {
                min_pixels: 0,
                ..Default::default()
            },
            ScoreParams {
                smooth_px: -1.0,
                ..Default::default()
            },
            ScoreParams {
                threshold: Some(f64::NAN),
                ..Default::default()
            },
        ] {
            assert!(p.validate().is_err(), "{p:?}");
        }
    }
}
