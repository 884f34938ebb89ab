//! Drift alignment of a serial-section stack (methods §3).
//!
//! 1. **Estimate** the shift of every slice by phase correlation ([`super::phasecorr`]):
//!    - [`AlignMode::Chain`] (default, like Fiji StackReg "translation"): each slice against the
//!      previous raw slice; the cumulative sum gives every slice's shift onto slice 0. Slices are
//!      processed in chunks (spectra computed in parallel, pairs correlated in parallel), so only
//!      O(chunk) slice spectra are held at a time.
//!    - [`AlignMode::Template`]: each slice against the mean of the last `template_k` already
//!      aligned slices (less random-walk error accumulation; sequential). With an ROI, slice k
//!      is correlated in a rectangle moved by slice k−1's shift, so the rectangle follows
//!      content that climbs through the frame (a cap with the face shift).
//!    - Optional [`Detrend`] of the cumulative curve (linear least squares, or a centred moving
//!      average): only the jitter around the slow trend is corrected, so a real inclination of the
//!      structure (or the 52° face shear, see [`super::geometry`]) survives.
//! 2. **Apply** the cumulative shifts with bilinear (or Fourier) interpolation, then crop to the
//!    region every slice covers, or keep the full frame and pad with a fill value.
//!
//! Sign convention: `dy_px, dx_px` of slice k is the scikit-image
//! `phase_cross_correlation(slice[k-1], slice[k])` shift, i.e. the shift that registers slice k
//! onto slice k-1; `cum_*` is the shift applied to slice k (`out(y, x) = in(y - cum_dy, x - cum_dx)`),
//! which registers it onto slice 0. A feature drifting down the image by +d px/slice therefore
//! gives `cum_dy` decreasing by d per slice.

use super::phasecorr::{fourier_shift, PhaseCorrParams, PhaseCorrelator, PhaseShift, Spectrum};
use crate::error::ParamError;
use crate::progress::Progress;
use crate::volume::GreyData;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2, Axis, CowArray, Ix2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How each slice's reference is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlignMode {
    /// Neighbour chaining: slice k against raw slice k-1, shifts summed.
    #[default]
    Chain,
    /// Running template: slice k against the mean of the last `template_k` aligned slices.
    Template,
}

/// Trend removed from the cumulative shift curve before applying it (opt-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Detrend {
    /// Apply the full cumulative shift (full alignment).
    #[default]
    None,
    /// Remove the least-squares line through the cumulative curve.
    Linear,
    /// Remove a centred moving average of `smooth_window` slices.
    Smooth,
}

/// Interpolation used to apply sub-pixel shifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Bilinear interpolation.
    #[default]
    Bilinear,
    /// Fourier shift theorem (periodic; the wrapped border is cropped or filled).
    Fourier,
    /// Whole pixels: the cumulative shifts are rounded and the slices moved without resampling
    /// (no blur, no ringing; each slice keeps up to ½ px of misregistration, recorded exactly in
    /// the report as the shift applied).
    Nearest,
}

/// What happens to the border uncovered by the shifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// Keep only the region covered by every slice (default).
    #[default]
    Crop,
    /// Keep the full frame, uncovered pixels get `fill`.
    Pad,
}

/// Parameters of [`align_stack`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlignParams {
    /// How each slice's reference is chosen (default: chain, slice against the previous one).
    pub mode: AlignMode,
    /// Slices averaged into the running template (`Template` mode).
    pub template_k: usize,
    /// Trend removed from the cumulative shifts before applying them (default: none).
    pub detrend: Detrend,
    /// Window (slices, odd) of the moving average for `Detrend::Smooth`.
    pub smooth_window: usize,
    /// Phase-correlation settings (window, up-sampling, ROI, …) used for every slice pair.
    pub corr: PhaseCorrParams,
    /// How sub-pixel shifts are applied (default: bilinear).
    pub interpolation: Interpolation,
    /// Crop to the region every slice covers (default) or pad with `fill`.
    pub boundary: Boundary,
    /// Value of uncovered pixels with `Boundary::Pad`.
    pub fill: f32,
    /// A slice is flagged when its quality is below this fraction of the median quality …
    pub flag_rel_quality: f64,
    /// … or when its correlation peak is less than this many times the next highest peak.
    pub flag_min_peak_ratio: f64,
    /// Chain mode: a flagged pair whose shift differs by more than this (px, either axis) from the
    /// median of the nearest unflagged pairs (up to [`OUTLIER_NEIGHBOURS`] on each side) is a
    /// failed correlation: its shift is replaced by that median (reported as `replaced`).
    /// 0 = never replace.
    pub flag_replace_px: f64,
}

/// Unflagged pairs on each side whose median replaces an outlying flagged pair.
pub const OUTLIER_NEIGHBOURS: usize = 3;

impl Default for AlignParams {
    fn default() -> Self {
        AlignParams {
            mode: AlignMode::Chain,
            template_k: 5,
            detrend: Detrend::None,
            smooth_window: 15,
            corr: PhaseCorrParams::default(),
            interpolation: Interpolation::Bilinear,
            boundary: Boundary::Crop,
            fill: 0.0,
            flag_rel_quality: 0.5,
            flag_min_peak_ratio: 1.5,
            flag_replace_px: 4.0,
        }
    }
}

impl AlignParams {
    /// Check every parameter for slices of `ny × nx`.
    pub fn validate(&self, ny: usize, nx: usize) -> Result<(), ParamError> {
        self.corr.validate(ny, nx)?;
        if !(1..=10_000).contains(&self.template_k) {
            return Err(ParamError::new(
                "template_k",
                self.template_k,
                "must lie in [1, 10000] slices (5 is the default)",
            ));
        }
        if self.smooth_window < 3
            || self.smooth_window.is_multiple_of(2)
            || self.smooth_window > 100_001
        {
            return Err(ParamError::new(
                "smooth_window",
                self.smooth_window,
                "must be an odd number of slices in [3, 100001] (15 is the default)",
            ));
        }
        if !self.fill.is_finite() {
            return Err(ParamError::new("fill", self.fill, "must be a finite value"));
        }
        crate::error::in_range("flag_rel_quality", self.flag_rel_quality, 0.0, 1.0)?;
        if !(self.flag_replace_px.is_finite() && self.flag_replace_px >= 0.0) {
            return Err(ParamError::new(
                "flag_replace_px",
                self.flag_replace_px,
                "must be a finite number of px >= 0 (4 is the default, 0 never replaces)",
            ));
        }
        if !(self.flag_min_peak_ratio.is_finite() && self.flag_min_peak_ratio >= 0.0) {
            return Err(ParamError::new(
                "flag_min_peak_ratio",
                self.flag_min_peak_ratio,
                "must be a finite number >= 0 (1.5 is a good default, 0 disables)",
            ));
        }
        Ok(())
    }
}

/// One row of `alignment_shifts.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SliceShift {
    /// Slice index (0-based, in z order).
    pub slice: usize,
    /// Shift (px) registering this slice onto the previous one (0 for slice 0).
    pub dy_px: f64,
    /// x component of `dy_px, dx_px` (px).
    pub dx_px: f64,
    /// Shift (px) applied to this slice (after detrending, if any).
    pub cum_dy_px: f64,
    /// x component of `cum_dy_px, cum_dx_px` (px).
    pub cum_dx_px: f64,
    /// Normalised correlation peak height (0..1; 1 for slice 0).
    pub quality: f64,
    /// Peak over next-highest peak.
    pub peak_ratio: f64,
    /// Poor correlation: check this slice.
    pub flagged: bool,
    /// Measured cumulative shift before detrending (equals `cum_*` without detrending).
    pub raw_cum_dy_px: f64,
    /// x component of `raw_cum_dy_px, raw_cum_dx_px` (px).
    pub raw_cum_dx_px: f64,
    /// The measured pair shift was an outlier of a flagged pair and `dy_px, dx_px` hold the
    /// median of its neighbours instead (see [`AlignParams::flag_replace_px`]).
    #[serde(default)]
    pub replaced: bool,
    /// The measured pair shift `[dy, dx]`, when it was replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_px: Option<[f64; 2]>,
}

/// Region of the output in the frame of slice 0: `[y0, x0, height, width]` (px).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropRegion {
    /// First row of the region (px, in the frame of slice 0; may be negative).
    pub y0: i64,
    /// First column of the region (px, in the frame of slice 0; may be negative).
    pub x0: i64,
    /// Rows of the region (px).
    pub height: usize,
    /// Columns of the region (px).
    pub width: usize,
}

/// Estimated drift (before applying).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftEstimate {
    /// Shift of every slice, in z order (one row of `alignment_shifts.csv` each).
    pub slices: Vec<SliceShift>,
    /// Least-squares slope of the measured cumulative shift, `[dy, dx]` px/slice.
    pub trend_px_per_slice: [f64; 2],
}

/// Everything [`align_stack`] reports (serialisable; `aligned` is not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlignReport {
    /// How the shifts were estimated and applied, for the record.
    pub method: String,
    /// The parameters used.
    pub params: AlignParams,
    /// Shape `[nz, ny, nx]` of the input stack (voxels).
    pub input_shape: [usize; 3],
    /// Shape `[nz, ny, nx]` of the aligned stack (voxels).
    pub output_shape: [usize; 3],
    /// Region of the output in the frame of slice 0.
    pub crop_region: CropRegion,
    /// Number of flagged slices (poor correlation; check them).
    pub n_flagged: usize,
    /// Indices of the flagged slices, ascending.
    pub flagged_slices: Vec<usize>,
    /// Flagged slices whose pair shift was an outlier and was replaced by its neighbours' median.
    #[serde(default)]
    pub replaced_slices: Vec<usize>,
    /// Largest |applied cumulative shift| on each axis `[dy, dx]` (px).
    pub max_abs_shift_px: [f64; 2],
    /// Least-squares slope of the measured cumulative shift `[dy, dx]` (px/slice).
    pub trend_px_per_slice: [f64; 2],
    /// Shift of every slice, in z order.
    pub slices: Vec<SliceShift>,
}

/// Aligned stack plus report.
#[derive(Debug, Clone)]
pub struct AlignResult {
    /// The aligned stack `[z, y, x]` (f32 grey values).
    pub aligned: Array3<f32>,
    /// What was done and the shift of every slice.
    pub report: AlignReport,
}

/// A stack read one slice at a time as f32, so u8/u16 volumes are never converted as a whole:
/// the drift estimate holds O(chunk) slice spectra, applying holds one f32 slice per worker.
pub trait SliceSource: Sync {
    /// `(nz, ny, nx)`.
    fn dim(&self) -> (usize, usize, usize);
    /// Slice `k` as f32 (borrowed when the stack is f32 already).
    fn slice(&self, k: usize) -> CowArray<'_, f32, Ix2>;
}

impl SliceSource for ArrayView3<'_, f32> {
    fn dim(&self) -> (usize, usize, usize) {
        ArrayView3::dim(self)
    }
    fn slice(&self, k: usize) -> CowArray<'_, f32, Ix2> {
        CowArray::from(self.index_axis(Axis(0), k))
    }
}

impl SliceSource for GreyData {
    fn dim(&self) -> (usize, usize, usize) {
        let [a, b, c] = self.shape();
        (a, b, c)
    }
    fn slice(&self, k: usize) -> CowArray<'_, f32, Ix2> {
        match self {
            GreyData::U8(a) => CowArray::from(a.index_axis(Axis(0), k).mapv(|v| v as f32)),
            GreyData::U16(a) => CowArray::from(a.index_axis(Axis(0), k).mapv(|v| v as f32)),
            GreyData::F32(a) => CowArray::from(a.index_axis(Axis(0), k)),
        }
    }
}

/// Estimate and apply the drift of `view` (`[z, y, x]`).
pub fn align_stack(
    view: ArrayView3<f32>,
    params: &AlignParams,
    progress: &dyn Progress,
) -> Result<AlignResult, ParamError> {
    let est = estimate_drift(view, params, progress)?;
    let shifts: Vec<[f64; 2]> = est
        .slices
        .iter()
        .map(|s| [s.cum_dy_px, s.cum_dx_px])
        .collect();
    let (aligned, crop_region) = apply_shifts(view, &shifts, params, progress)?;
    let (nz, ny, nx) = view.dim();
    let (a, b, c) = aligned.dim();
    let report = make_report(params, [nz, ny, nx], [a, b, c], crop_region, est);
    Ok(AlignResult { aligned, report })
}

/// The report of an alignment from its parts (used by the streaming driver too).
pub fn make_report(
    params: &AlignParams,
    input_shape: [usize; 3],
    output_shape: [usize; 3],
    crop_region: CropRegion,
    est: DriftEstimate,
) -> AlignReport {
    let flagged_slices: Vec<usize> = est
        .slices
        .iter()
        .filter(|s| s.flagged)
        .map(|s| s.slice)
        .collect();
    let max_abs =
        |f: fn(&SliceShift) -> f64| est.slices.iter().map(|s| f(s).abs()).fold(0.0, f64::max);
    AlignReport {
        method: method_name(params),
        params: *params,
        input_shape,
        output_shape,
        crop_region,
        n_flagged: flagged_slices.len(),
        flagged_slices,
        replaced_slices: est
            .slices
            .iter()
            .filter(|s| s.replaced)
            .map(|s| s.slice)
            .collect(),
        max_abs_shift_px: [max_abs(|s| s.cum_dy_px), max_abs(|s| s.cum_dx_px)],
        trend_px_per_slice: est.trend_px_per_slice,
        slices: est.slices,
    }
}

fn method_name(p: &AlignParams) -> String {
    let mode = match p.mode {
        AlignMode::Chain => "neighbour chaining".to_string(),
        AlignMode::Template => format!(
            "running template of the last {} aligned slices",
            p.template_k
        ),
    };
    let det = match p.detrend {
        Detrend::None => String::new(),
        Detrend::Linear => ", linear trend of the cumulative curve kept".into(),
        Detrend::Smooth => format!(
            ", moving-average ({} slices) trend of the cumulative curve kept",
            p.smooth_window
        ),
    };
    format!(
        "phase correlation (Guizar-Sicairos 2008 upsampled DFT, upsample {}), {mode}{det}",
        p.corr.upsample
    )
}

/// Align a [`GreyVolume`]: the output keeps the sample type (rounded/clamped for u8/u16), the
/// voxel size and the metadata.
pub fn align_volume(
    vol: &crate::volume::GreyVolume,
    params: &AlignParams,
    progress: &dyn Progress,
) -> Result<(crate::volume::GreyVolume, AlignReport), ParamError> {
    let est = estimate_drift_from(&vol.data, params, progress)?;
    let shifts: Vec<[f64; 2]> = est
        .slices
        .iter()
        .map(|s| [s.cum_dy_px, s.cum_dx_px])
        .collect();
    let (data, region) = apply_shifts_grey(&vol.data, &shifts, params, progress)?;
    let (nz, ny, nx) = SliceSource::dim(&vol.data);
    let out_shape = data.shape();
    let report = make_report(params, [nz, ny, nx], out_shape, region, est);
    let out = crate::volume::GreyVolume {
        data,
        voxel: vol.voxel,
        meta: vol.meta.clone(),
    };
    Ok((out, report))
}

/// Estimate every slice's shift (see the module docs for the sign convention).
pub fn estimate_drift(
    view: ArrayView3<f32>,
    params: &AlignParams,
    progress: &dyn Progress,
) -> Result<DriftEstimate, ParamError> {
    estimate_drift_from(&view, params, progress)
}

/// [`estimate_drift`] on any [`SliceSource`] (e.g. a u8/u16 [`GreyData`] without converting it).
pub fn estimate_drift_from(
    view: &dyn SliceSource,
    params: &AlignParams,
    progress: &dyn Progress,
) -> Result<DriftEstimate, ParamError> {
    let (nz, ny, nx) = view.dim();
    if nz == 0 {
        return Err(ParamError::new(
            "stack",
            "0 slices",
            "alignment needs at least one slice",
        ));
    }
    params.validate(ny, nx)?;
    let corr = PhaseCorrelator::new([ny, nx], &params.corr)?;
    progress.start("drift estimation", nz.saturating_sub(1) as u64);
    // measured[k] = (pair or template shift, cumulative shift)
    let mut measured_replaced: Vec<Option<[f64; 2]>> = vec![None; nz];
    let (pairs, cum, flags) = match params.mode {
        AlignMode::Chain => {
            let mut pairs = chain_pairs(view, &corr, progress);
            let flags = flag_pairs(&pairs, params);
            for (k, m) in outlier_medians(&pairs, &flags, params.flag_replace_px) {
                measured_replaced[k] = Some([pairs[k].dy, pairs[k].dx]);
                pairs[k].dy = m[0];
                pairs[k].dx = m[1];
            }
            let mut cum = Vec::with_capacity(nz);
            let mut acc = [0.0, 0.0];
            for p in &pairs {
                acc[0] += p.dy;
                acc[1] += p.dx;
                cum.push(acc);
            }
            (pairs, cum, flags)
        }
        AlignMode::Template => {
            let (pairs, cum) = template_shifts(view, &corr, params.template_k, progress);
            let flags = flag_pairs(&pairs, params);
            (pairs, cum, flags)
        }
    };
    progress.finish();
    let mut applied = detrended(&cum, params);
    if params.interpolation == Interpolation::Nearest {
        for a in &mut applied {
            *a = [a[0].round(), a[1].round()];
        }
    }
    let trend = [
        linear_fit(&cum.iter().map(|c| c[0]).collect::<Vec<_>>()).1,
        linear_fit(&cum.iter().map(|c| c[1]).collect::<Vec<_>>()).1,
    ];
    let slices = (0..nz)
        .map(|k| {
            let (dy, dx) = if k == 0 {
                (0.0, 0.0)
            } else {
                match params.mode {
                    AlignMode::Chain => (pairs[k].dy, pairs[k].dx),
                    AlignMode::Template => (cum[k][0] - cum[k - 1][0], cum[k][1] - cum[k - 1][1]),
                }
            };
            let p = pairs[k];
            SliceShift {
                slice: k,
                dy_px: dy,
                dx_px: dx,
                cum_dy_px: applied[k][0],
                cum_dx_px: applied[k][1],
                quality: p.quality,
                peak_ratio: p.peak_ratio,
                flagged: flags[k],
                raw_cum_dy_px: cum[k][0],
                raw_cum_dx_px: cum[k][1],
                replaced: measured_replaced[k].is_some(),
                measured_px: measured_replaced[k],
            }
        })
        .collect();
    Ok(DriftEstimate {
        slices,
        trend_px_per_slice: trend,
    })
}

/// Poor correlations: quality below `flag_rel_quality` × the median quality, peak ratio below
/// `flag_min_peak_ratio`, or no peak at all (slice 0 is never flagged).
fn flag_pairs(pairs: &[PhaseShift], params: &AlignParams) -> Vec<bool> {
    let mut q: Vec<f64> = pairs.iter().skip(1).map(|p| p.quality).collect();
    q.sort_by(|a, b| a.total_cmp(b));
    let median = if q.is_empty() { 1.0 } else { q[q.len() / 2] };
    pairs
        .iter()
        .enumerate()
        .map(|(k, p)| {
            k > 0
                && (p.quality < params.flag_rel_quality * median
                    || p.peak_ratio < params.flag_min_peak_ratio
                    || p.quality <= 0.0)
        })
        .collect()
}

/// Replacement shifts `(index, [dy, dx])` for flagged pairs whose shift is more than `limit_px`
/// (either axis) from the median `m` of the nearest unflagged pairs (up to
/// [`OUTLIER_NEIGHBOURS`] on each side, skipping flagged ones):
/// - when the next pair is off too and the two together are within `limit_px` of `2m` (one
///   misplaced slice: its two registrations err in opposite directions), the pair becomes `m` and
///   the next one takes the rest of their sum, so every later slice keeps its measured position;
/// - otherwise the pair becomes `m`.
///
/// Nothing when `limit_px` is 0 or no pair is unflagged.
fn outlier_medians(pairs: &[PhaseShift], flags: &[bool], limit_px: f64) -> Vec<(usize, [f64; 2])> {
    if limit_px <= 0.0 {
        return Vec::new();
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        }
    };
    let good: Vec<usize> = (1..pairs.len()).filter(|&k| !flags[k]).collect();
    // median of the nearest unflagged pairs around k
    let local = |k: usize| -> Option<[f64; 2]> {
        let split = good.partition_point(|&g| g < k);
        let lo = split.saturating_sub(OUTLIER_NEIGHBOURS);
        let hi = (split + OUTLIER_NEIGHBOURS).min(good.len());
        let near = &good[lo..hi];
        (!near.is_empty()).then(|| {
            [
                median(near.iter().map(|&g| pairs[g].dy).collect()),
                median(near.iter().map(|&g| pairs[g].dx).collect()),
            ]
        })
    };
    let off =
        |v: [f64; 2], m: [f64; 2]| (v[0] - m[0]).abs() > limit_px || (v[1] - m[1]).abs() > limit_px;
    let mut out = Vec::new();
    let mut k = 1;
    while k < pairs.len() {
        let p = [pairs[k].dy, pairs[k].dx];
        let m = match local(k) {
            Some(m) if flags[k] && off(p, m) => m,
            _ => {
                k += 1;
                continue;
            }
        };
        if let Some(next) = pairs.get(k + 1) {
            let q = [next.dy, next.dx];
            let sum = [p[0] + q[0], p[1] + q[1]];
            if off(q, m) && !off(sum, [2.0 * m[0], 2.0 * m[1]]) {
                out.push((k, m));
                out.push((k + 1, [sum[0] - m[0], sum[1] - m[1]]));
                k += 2;
                continue;
            }
        }
        out.push((k, m));
        k += 1;
    }
    out
}

const SLICE0: PhaseShift = PhaseShift {
    dy: 0.0,
    dx: 0.0,
    quality: 1.0,
    peak_ratio: 1e6,
};

/// Pair shifts, element 0 = identity. Chunks of slices: spectra in parallel, then pairs.
fn chain_pairs(
    view: &dyn SliceSource,
    corr: &PhaseCorrelator,
    progress: &dyn Progress,
) -> Vec<PhaseShift> {
    let nz = view.dim().0;
    let chunk = (2 * rayon::current_num_threads()).max(4);
    let mut out = vec![SLICE0];
    let mut prev: Option<Spectrum> = None;
    let mut start = 0;
    while start < nz {
        let end = (start + chunk).min(nz);
        let specs: Vec<Spectrum> = (start..end)
            .into_par_iter()
            .map(|k| corr.spectrum(view.slice(k).view()))
            .collect();
        let first = if prev.is_some() { start } else { start + 1 };
        let pairs: Vec<PhaseShift> = (first..end)
            .into_par_iter()
            .map(|k| {
                let reference = if k == start {
                    prev.as_ref().expect("previous chunk's last spectrum")
                } else {
                    &specs[k - 1 - start]
                };
                let s =
                    corr.register_refined(reference, view.slice(k).view(), Some(&specs[k - start]));
                progress.inc(1);
                s
            })
            .collect();
        out.extend(pairs);
        prev = specs.into_iter().last();
        start = end;
    }
    out
}

/// Running-template shifts: returns (per-slice correlation, cumulative shift).
///
/// The template for slice z is the mean of the last `k` slices, each moved into the frame of
/// slice z−1 (by `cum_j − cum_{z−1}`), and slice z is registered onto it: the result is slice z's
/// shift relative to slice z−1, added to `cum_{z−1}`. Working in the previous slice's frame keeps
/// the relative moves small, so an ROI (which stays where the user put it) sees the same content
/// in the template and in the slice even when that content climbs through the frame (a cap with
/// the face shift); in slice 0's frame it would leave the rectangle.
fn template_shifts(
    view: &dyn SliceSource,
    corr: &PhaseCorrelator,
    k: usize,
    progress: &dyn Progress,
) -> (Vec<PhaseShift>, Vec<[f64; 2]>) {
    let (nz, ny, nx) = view.dim();
    let mut pairs = vec![SLICE0];
    let mut cum = vec![[0.0, 0.0]];
    // the last k raw slices with their cumulative shifts
    let mut ring: VecDeque<(Array2<f32>, [f64; 2])> = VecDeque::with_capacity(k);
    ring.push_back((view.slice(0).into_owned(), [0.0, 0.0]));
    let chunk = (2 * rayon::current_num_threads()).max(4);
    let mut start = 1;
    while start < nz {
        let end = (start + chunk).min(nz);
        let specs: Vec<Spectrum> = (start..end)
            .into_par_iter()
            .map(|z| corr.spectrum(view.slice(z).view()))
            .collect();
        for (i, spec) in specs.iter().enumerate() {
            let z = start + i;
            let prev = cum[z - 1];
            let moved: Vec<Array2<f32>> = ring
                .par_iter()
                .map(|(img, c)| {
                    let mut out = Array2::<f32>::zeros((ny, nx));
                    shift_bilinear_into(
                        img.view(),
                        c[0] - prev[0],
                        c[1] - prev[1],
                        [0, 0],
                        None,
                        out.view_mut(),
                    );
                    out
                })
                .collect();
            let mut template = Array2::<f32>::zeros((ny, nx));
            for m in &moved {
                template += m;
            }
            template.mapv_inplace(|v| v / moved.len() as f32);
            let tspec = corr.spectrum(template.view());
            let slice = view.slice(z);
            let s = corr.register_refined(&tspec, slice.view(), Some(spec));
            pairs.push(s);
            let c = [prev[0] + s.dy, prev[1] + s.dx];
            cum.push(c);
            ring.push_back((slice.into_owned(), c));
            if ring.len() > k {
                ring.pop_front();
            }
            progress.inc(1);
        }
        start = end;
    }
    (pairs, cum)
}

/// Least-squares line `(intercept, slope)` of `v` against its index.
pub fn linear_fit(v: &[f64]) -> (f64, f64) {
    let n = v.len();
    if n < 2 {
        return (v.first().copied().unwrap_or(0.0), 0.0);
    }
    let nf = n as f64;
    let mx = (nf - 1.0) / 2.0;
    let my = v.iter().sum::<f64>() / nf;
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    for (i, &y) in v.iter().enumerate() {
        let dx = i as f64 - mx;
        sxy += dx * (y - my);
        sxx += dx * dx;
    }
    let slope = sxy / sxx;
    (my - slope * mx, slope)
}

/// Centred moving average with a window shrinking symmetrically at the ends (exact on lines).
pub fn moving_average(v: &[f64], window: usize) -> Vec<f64> {
    let n = v.len();
    let h = window / 2;
    (0..n)
        .map(|i| {
            let r = h.min(i).min(n - 1 - i);
            let s: f64 = v[i - r..=i + r].iter().sum();
            s / (2 * r + 1) as f64
        })
        .collect()
}

/// Cumulative shifts to apply: measured, or measured minus its trend (slice 0's offset kept).
fn detrended(cum: &[[f64; 2]], p: &AlignParams) -> Vec<[f64; 2]> {
    let mut out = cum.to_vec();
    for axis in 0..2 {
        let v: Vec<f64> = cum.iter().map(|c| c[axis]).collect();
        let trend: Vec<f64> = match p.detrend {
            Detrend::None => continue,
            Detrend::Linear => {
                let (a, b) = linear_fit(&v);
                (0..v.len()).map(|i| a + b * i as f64).collect()
            }
            Detrend::Smooth => moving_average(&v, p.smooth_window),
        };
        let t0 = trend[0];
        for (o, t) in out.iter_mut().zip(&trend) {
            o[axis] -= t - t0;
        }
    }
    out
}

/// Source coordinate → (i0, i1, weight of i1), or None outside `[0, n-1]` (1e-6 px tolerance).
#[inline]
fn coord(f: f64, n: usize) -> Option<(usize, usize, f32)> {
    const EPS: f64 = 1e-6;
    let last = (n - 1) as f64;
    if !(f >= -EPS && f <= last + EPS) {
        return None;
    }
    let f = f.clamp(0.0, last);
    let i0 = f.floor() as usize;
    let t = f - i0 as f64;
    let i1 = (i0 + 1).min(n - 1);
    Some((i0, i1, t as f32))
}

/// Clamped source coordinate (replicate border) for template building.
#[inline]
fn coord_clamped(f: f64, n: usize) -> (usize, usize, f32) {
    let f = f.clamp(0.0, (n - 1) as f64);
    let i0 = f.floor() as usize;
    ((i0), (i0 + 1).min(n - 1), (f - i0 as f64) as f32)
}

/// Bilinear shift: `out(y, x) = src(y + origin_y - dy, x + origin_x - dx)`; pixels whose
/// source lies outside `src` get `fill`, or the nearest border value when `fill` is None.
pub fn shift_bilinear_into(
    src: ArrayView2<f32>,
    dy: f64,
    dx: f64,
    origin: [i64; 2],
    fill: Option<f32>,
    mut out: ArrayViewMut2<f32>,
) {
    let (ny, nx) = src.dim();
    let (oh, ow) = out.dim();
    if ny == 0 || nx == 0 {
        return;
    }
    let xs: Vec<Option<(usize, usize, f32)>> = (0..ow)
        .map(|x| {
            let f = x as f64 + origin[1] as f64 - dx;
            match fill {
                Some(_) => coord(f, nx),
                None => Some(coord_clamped(f, nx)),
            }
        })
        .collect();
    for y in 0..oh {
        let fy = y as f64 + origin[0] as f64 - dy;
        let cy = match fill {
            Some(_) => coord(fy, ny),
            None => Some(coord_clamped(fy, ny)),
        };
        let mut row = out.row_mut(y);
        let Some((y0, y1, ty)) = cy else {
            row.fill(fill.unwrap_or(0.0));
            continue;
        };
        let r0 = src.row(y0);
        let r1 = src.row(y1);
        for (o, cx) in row.iter_mut().zip(&xs) {
            *o = match cx {
                Some((x0, x1, tx)) => {
                    let a = r0[*x0] + (r0[*x1] - r0[*x0]) * tx;
                    let b = r1[*x0] + (r1[*x1] - r1[*x0]) * tx;
                    a + (b - a) * ty
                }
                None => fill.unwrap_or(0.0),
            };
        }
    }
}

/// Bilinear shift of a whole image, same frame, uncovered pixels = `fill`.
pub fn shift_bilinear(src: ArrayView2<f32>, dy: f64, dx: f64, fill: f32) -> Array2<f32> {
    let mut out = Array2::zeros(src.dim());
    shift_bilinear_into(src, dy, dx, [0, 0], Some(fill), out.view_mut());
    out
}

/// Output region for `shifts` (`[dy, dx]` per slice) of `ny × nx` slices.
pub fn common_region(
    shifts: &[[f64; 2]],
    ny: usize,
    nx: usize,
    boundary: Boundary,
) -> Result<CropRegion, ParamError> {
    if boundary == Boundary::Pad {
        return Ok(CropRegion {
            y0: 0,
            x0: 0,
            height: ny,
            width: nx,
        });
    }
    const EPS: f64 = 1e-6;
    let max = |a: usize| {
        shifts
            .iter()
            .map(|s| s[a])
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let min = |a: usize| shifts.iter().map(|s| s[a]).fold(f64::INFINITY, f64::min);
    let y0 = (max(0) - EPS).ceil() as i64;
    let y1 = ((ny - 1) as f64 + min(0) + EPS).floor() as i64;
    let x0 = (max(1) - EPS).ceil() as i64;
    let x1 = ((nx - 1) as f64 + min(1) + EPS).floor() as i64;
    if y1 < y0 || x1 < x0 {
        return Err(ParamError::new(
            "crop",
            format!("shifts up to {:.1} px", max(0).abs().max(min(0).abs()).max(max(1).abs()).max(min(1).abs())),
            "the slices share no common region; use pad (--pad) or check the alignment (ROI, band-pass)",
        ));
    }
    Ok(CropRegion {
        y0,
        x0,
        height: (y1 - y0 + 1) as usize,
        width: (x1 - x0 + 1) as usize,
    })
}

/// Apply per-slice shifts `[dy, dx]` (px, `out(y, x) = in(y - dy, x - dx)`), slice by slice in
/// parallel, cropping or padding per `params.boundary`.
pub fn apply_shifts(
    view: ArrayView3<f32>,
    shifts: &[[f64; 2]],
    params: &AlignParams,
    progress: &dyn Progress,
) -> Result<(Array3<f32>, CropRegion), ParamError> {
    let region = check_shifts(&view, shifts, params)?;
    let mut out = Array3::<f32>::zeros((view.dim().0, region.height, region.width));
    apply_into(&view, shifts, params, region, &mut out, |v| v, progress);
    Ok((out, region))
}

/// [`apply_shifts`] on a [`GreyData`], output in the same sample type (rounded and clamped for
/// u8/u16); only one f32 slice per worker is held besides input and output.
pub fn apply_shifts_grey(
    data: &GreyData,
    shifts: &[[f64; 2]],
    params: &AlignParams,
    progress: &dyn Progress,
) -> Result<(GreyData, CropRegion), ParamError> {
    let region = check_shifts(data, shifts, params)?;
    let shape = (SliceSource::dim(data).0, region.height, region.width);
    Ok((
        match data {
            GreyData::U8(_) => {
                let mut out = Array3::<u8>::zeros(shape);
                apply_into(data, shifts, params, region, &mut out, to_u8, progress);
                GreyData::U8(out)
            }
            GreyData::U16(_) => {
                let mut out = Array3::<u16>::zeros(shape);
                apply_into(data, shifts, params, region, &mut out, to_u16, progress);
                GreyData::U16(out)
            }
            GreyData::F32(_) => {
                let mut out = Array3::<f32>::zeros(shape);
                apply_into(data, shifts, params, region, &mut out, |v| v, progress);
                GreyData::F32(out)
            }
        },
        region,
    ))
}

/// Apply already checked shifts to a slab of slices (`shifts` = this slab's entries) into a
/// `region` fixed for the whole stack by [`check_shifts`]; same sample type as the slab. The
/// streaming driver calls this slab after slab; [`apply_shifts_grey`] is the one-slab case.
pub fn apply_shifts_slab(
    slab: &GreyData,
    shifts: &[[f64; 2]],
    params: &AlignParams,
    region: CropRegion,
) -> GreyData {
    let shape = (SliceSource::dim(slab).0, region.height, region.width);
    let quiet = &crate::progress::Silent;
    match slab {
        GreyData::U8(_) => {
            let mut out = Array3::<u8>::zeros(shape);
            apply_into(slab, shifts, params, region, &mut out, to_u8, quiet);
            GreyData::U8(out)
        }
        GreyData::U16(_) => {
            let mut out = Array3::<u16>::zeros(shape);
            apply_into(slab, shifts, params, region, &mut out, to_u16, quiet);
            GreyData::U16(out)
        }
        GreyData::F32(_) => {
            let mut out = Array3::<f32>::zeros(shape);
            apply_into(slab, shifts, params, region, &mut out, |v| v, quiet);
            GreyData::F32(out)
        }
    }
}

/// Round and clamp to u8.
pub fn to_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Round and clamp to u16.
pub fn to_u16(v: f32) -> u16 {
    v.round().clamp(0.0, 65535.0) as u16
}

/// Check the shifts (one finite pair per slice, finite fill) and return the output region.
pub fn check_shifts(
    src: &dyn SliceSource,
    shifts: &[[f64; 2]],
    params: &AlignParams,
) -> Result<CropRegion, ParamError> {
    let (nz, ny, nx) = src.dim();
    if shifts.len() != nz {
        return Err(ParamError::new(
            "shifts",
            shifts.len(),
            format!("need one shift per slice ({nz})"),
        ));
    }
    if let Some(bad) = shifts
        .iter()
        .find(|s| !(s[0].is_finite() && s[1].is_finite()))
    {
        return Err(ParamError::new(
            "shift",
            format!("{bad:?}"),
            "shifts must be finite numbers of pixels",
        ));
    }
    if !params.fill.is_finite() {
        return Err(ParamError::new(
            "fill",
            params.fill,
            "must be a finite value",
        ));
    }
    common_region(shifts, ny, nx, params.boundary)
}

fn apply_into<T: Copy + Send + Sync>(
    src: &dyn SliceSource,
    shifts: &[[f64; 2]],
    params: &AlignParams,
    region: CropRegion,
    out: &mut Array3<T>,
    conv: impl Fn(f32) -> T + Sync,
    progress: &dyn Progress,
) {
    progress.start("applying shifts", out.dim().0 as u64);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut o)| {
            let slice = src.slice(k);
            let mut tmp = Array2::<f32>::zeros((region.height, region.width));
            shift_one(slice.view(), shifts[k], params, region, tmp.view_mut());
            o.zip_mut_with(&tmp, |a, &b| *a = conv(b));
            progress.inc(1);
        });
    progress.finish();
}

/// Shift one slice into the output region.
fn shift_one(
    src: ArrayView2<f32>,
    [dy, dx]: [f64; 2],
    params: &AlignParams,
    region: CropRegion,
    mut o: ArrayViewMut2<f32>,
) {
    let (ny, nx) = src.dim();
    match params.interpolation {
        // whole-pixel shifts: the bilinear weights are 0 and 1, i.e. a plain copy
        Interpolation::Bilinear | Interpolation::Nearest => {
            shift_bilinear_into(src, dy, dx, [region.y0, region.x0], Some(params.fill), o)
        }
        Interpolation::Fourier => {
            let f = fourier_shift(src, dy, dx);
            for y in 0..region.height {
                let yy = y as i64 + region.y0;
                let sy = yy as f64 - dy;
                let inside_y = sy >= -1e-6 && sy <= (ny - 1) as f64 + 1e-6;
                for x in 0..region.width {
                    let xx = x as i64 + region.x0;
                    let sx = xx as f64 - dx;
                    let inside = inside_y && sx >= -1e-6 && sx <= (nx - 1) as f64 + 1e-6;
                    o[[y, x]] = if inside {
                        f[[yy as usize, xx as usize]]
                    } else {
                        params.fill
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    fn pair(dy: f64, dx: f64) -> PhaseShift {
        PhaseShift {
            dy,
            dx,
            quality: 0.5,
            peak_ratio: 5.0,
        }
    }

    #[test]
    fn outliers_among_flagged_pairs_only() {
        // pair 0 is slice 0; pairs 3 and 5 flagged; 3 is 6 px off its neighbours, 5 only 2 px
        let dys = [0.0, 1.0, 1.2, 7.0, 0.8, 3.0, 1.1, 0.9];
        let pairs: Vec<PhaseShift> = dys.iter().map(|&d| pair(d, 0.0)).collect();
        let flags = [false, false, false, true, false, true, false, false];
        let r = outlier_medians(&pairs, &flags, 4.0);
        // nearest unflagged around 3: 1, 2 | 4, 6, 7 → median of 1.0, 1.2, 0.8, 1.1, 0.9 = 1.0
        assert_eq!(r, vec![(3, [1.0, 0.0])]);
        assert!(outlier_medians(&pairs, &flags, 0.0).is_empty());
        // an unflagged outlier is left alone (only flagged correlations are distrusted)
        let flags = [false; 8];
        assert!(outlier_medians(&pairs, &flags, 4.0).is_empty());
        // no unflagged pair at all: nothing to replace with
        let flags = [false, true, true, true, true, true, true, true];
        assert!(outlier_medians(&pairs, &flags, 0.5).is_empty());
        // one misplaced slice (4): its pairs err by +8 and −8; the sum is kept, so slice 5 on
        // keeps its measured position
        let dys = [0.0, 1.0, 1.2, 0.9, 9.0, -7.0, 1.1, 0.8];
        let pairs: Vec<PhaseShift> = dys.iter().map(|&d| pair(d, 0.0)).collect();
        let flags = [false, false, false, false, true, true, false, false];
        // median of 1, 2, 3 | 6, 7 = 1.0
        assert_eq!(
            outlier_medians(&pairs, &flags, 4.0),
            vec![(4, [1.0, 0.0]), (5, [1.0, 0.0])]
        );
    }

    #[test]
    fn bilinear_integer_shift_is_exact() {
        let a = Array2::from_shape_fn((5, 6), |(y, x)| (y * 10 + x) as f32);
        let b = shift_bilinear(a.view(), 1.0, -2.0, -1.0);
        assert_eq!(b[[1, 0]], a[[0, 2]]);
        assert_eq!(b[[4, 3]], a[[3, 5]]);
        assert_eq!(b[[0, 0]], -1.0);
        assert_eq!(b[[2, 4]], -1.0);
        // half-pixel is the mean of neighbours
        let c = shift_bilinear(a.view(), 0.0, 0.5, 0.0);
        assert!((c[[2, 3]] - 0.5 * (a[[2, 2]] + a[[2, 3]])).abs() < 1e-6);
    }

    #[test]
    fn common_region_crop() {
        let r = common_region(
            &[[0.0, 0.0], [1.5, -2.0], [-0.5, 0.7]],
            10,
            20,
            Boundary::Crop,
        )
        .unwrap();
        // y valid: y - 1.5 >= 0 -> y >= 2; y + 0.5 <= 9 -> y <= 8
        assert_eq!((r.y0, r.height), (2, 7));
        // x: x >= 0.7 -> 1; x + 2 <= 19 -> x <= 17
        assert_eq!((r.x0, r.width), (1, 17));
        assert!(common_region(&[[0.0, 0.0], [30.0, 0.0]], 10, 20, Boundary::Crop).is_err());
    }

    #[test]
    fn detrend_linear_removes_line_keeps_jitter() {
        let cum: Vec<[f64; 2]> = (0..20)
            .map(|i| [0.3 * i as f64 + if i % 2 == 0 { 0.1 } else { -0.1 }, 0.0])
            .collect();
        let p = AlignParams {
            detrend: Detrend::Linear,
            ..Default::default()
        };
        let d = detrended(&cum, &p);
        let (_, slope) = linear_fit(&d.iter().map(|c| c[0]).collect::<Vec<_>>());
        assert!(slope.abs() < 1e-9);
        assert!((d[1][0] - d[0][0] + 0.2).abs() < 0.05);
        let m = moving_average(&[0.0, 1.0, 2.0, 3.0, 4.0], 5);
        assert_eq!(m, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn single_slice_and_bad_params() {
        let v = Array3::<f32>::from_shape_fn((1, 16, 16), |(_, y, x)| (x * y) as f32);
        let r = align_stack(v.view(), &AlignParams::default(), &Silent).unwrap();
        assert_eq!(r.aligned, v);
        let p = AlignParams {
            template_k: 0,
            ..Default::default()
        };
        assert!(align_stack(v.view(), &p, &Silent).is_err());
    }
}
