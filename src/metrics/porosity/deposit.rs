//! Deposit bottom/top detection on a profile, and analysis windows above the collector.

use super::profile::Profile;
use crate::error::ParamError;
use serde::{Deserialize, Serialize};

/// How to find a deposit on a profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DepositOptions {
    /// The measured phase (pore / electrolyte), label value.
    pub phase: u8,
    /// Label of the current collector, if it is segmented.
    pub collector: Option<u8>,
    /// Solid-fraction threshold; `None` = half of the largest solid fraction beyond the collector.
    pub threshold: Option<f64>,
    /// The collector is at the high-index end of the axis (heights measured from there).
    pub reverse: bool,
}

/// The deposit found on a profile. Positions are heights measured from the collector-side end of
/// the axis (index 0, or the last index with `reverse`), in `length_unit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deposit {
    /// The detection rule, in words.
    pub rule: String,
    /// Solid-fraction threshold used.
    pub threshold: f64,
    /// Slice indices (array indices along the axis) of the first and last deposit slices.
    pub bottom_index: usize,
    /// Slice index (along the axis) of the last deposit slice.
    pub top_index: usize,
    /// Lower face of the bottom slice and upper face of the top slice (height from the collector end).
    pub bottom: f64,
    /// Upper face of the top slice: height from the collector end (`length_unit`).
    pub top: f64,
    /// `top - bottom`.
    pub thickness: f64,
    /// Where the collector ends (height), when a collector label was given and found.
    pub collector_top: Option<f64>,
    /// Fraction of `phase` among all voxels of the deposit slices (inclusive).
    pub mean_porosity: f64,
    /// Unit of the heights: `"nm"` when calibrated, `"voxel"` otherwise.
    pub length_unit: String,
}

/// Find the deposit's bottom and top on a profile.
///
/// Rule (heights measured from the collector end; reversed with `reverse`):
/// 1. solid fraction of slice i = 1 − f(phase) − f(collector);
/// 2. with a collector label, deposit slices start after the last slice whose collector fraction
///    is ≥ 0.5 (the collector top);
/// 3. threshold t = `threshold`, or half of the maximum solid fraction beyond the collector;
/// 4. bottom = first slice beyond the collector with solid ≥ t, top = last slice with solid ≥ t;
/// 5. mean porosity = voxels of `phase` / all voxels in slices bottom..=top.
///
/// Returns `Ok(None)` when no slice holds any solid.
pub fn detect_deposit(p: &Profile, opts: &DepositOptions) -> Result<Option<Deposit>, ParamError> {
    if let Some(t) = opts.threshold {
        crate::error::in_range("deposit threshold", t, 0.0, 1.0)?;
        if t == 0.0 {
            return Err(ParamError::new(
                "deposit threshold",
                t,
                "must be > 0 (a solid fraction between 0 and 1)",
            ));
        }
    }
    if Some(opts.phase) == opts.collector {
        return Err(ParamError::new(
            "collector label",
            opts.phase,
            "must differ from the measured phase",
        ));
    }
    let n = p.position.len();
    // frame index j (0 = collector end) -> array index
    let idx = |j: usize| if opts.reverse { n - 1 - j } else { j };
    let fp = p.fraction_of(opts.phase);
    let fc = opts.collector.map_or(vec![0.0; n], |c| p.fraction_of(c));
    let solid: Vec<f64> = (0..n)
        .map(|j| (1.0 - fp[idx(j)] - fc[idx(j)]).max(0.0))
        .collect();
    let start = opts
        .collector
        .and_then(|c| collector_end(p, c, opts.reverse))
        .unwrap_or(0);
    let max = solid[start..].iter().cloned().fold(0.0, f64::max);
    if max <= 0.0 {
        return Ok(None);
    }
    let t = opts.threshold.unwrap_or(0.5 * max);
    let bottom = match (start..n).find(|&j| solid[j] >= t) {
        Some(b) => b,
        None => return Ok(None),
    };
    let top = (start..n).rev().find(|&j| solid[j] >= t).unwrap_or(bottom);
    let cp = p.count_of(opts.phase);
    let pore: u64 = (bottom..=top).map(|j| cp[idx(j)]).sum();
    let tot = (top - bottom + 1) as u64 * p.voxels_per_slice;
    let d = p.slice_thickness;
    let rule = format!(
        "solid = 1 - f(phase {}){}; threshold {} ; bottom = first slice{} with solid >= threshold, \
         top = last such slice; heights from the {} end of axis {}",
        opts.phase,
        opts.collector
            .map_or(String::new(), |c| format!(" - f(collector {c})")),
        if opts.threshold.is_some() {
            "given"
        } else {
            "= half the maximum solid fraction"
        },
        if opts.collector.is_some() {
            " above the last slice with collector fraction >= 0.5"
        } else {
            ""
        },
        if opts.reverse { "high-index" } else { "index-0" },
        p.axis.name()
    );
    Ok(Some(Deposit {
        rule,
        threshold: t,
        bottom_index: idx(bottom),
        top_index: idx(top),
        bottom: bottom as f64 * d,
        top: (top + 1) as f64 * d,
        thickness: (top + 1 - bottom) as f64 * d,
        collector_top: (opts.collector.is_some() && start > 0).then_some(start as f64 * d),
        mean_porosity: pore as f64 / tot as f64,
        length_unit: p.length_unit.clone(),
    }))
}

/// Number of slices, counted from the collector-side end of the profile (index 0, or the last
/// index with `reverse`), up to and including the last slice whose `collector` fraction is ≥ 0.5
/// — i.e. the frame index of the first slice above the collector. `None` when no slice is mostly
/// collector.
pub fn collector_end(p: &Profile, collector: u8, reverse: bool) -> Option<usize> {
    let n = p.position.len();
    let fc = p.fraction_of(collector);
    let idx = |j: usize| if reverse { n - 1 - j } else { j };
    (0..n).rev().find(|&j| fc[idx(j)] >= 0.5).map(|j| j + 1)
}

/// Array indices `[first, end)` along the profile's axis of the slices whose centres lie between
/// `lo` and `hi` (heights above the collector top, in the profile's length unit): the fixed
/// analysis window of a deposit, the same physical band for every sample. The collector top is
/// [`collector_end`].
///
/// ```
/// use fibstack::metrics::porosity::{profile, window_above_collector, Axis};
/// use fibstack::volume::{LabelVolume, VoxelSize, VoxelSource};
/// // 10 rows of 20 nm along y; rows 8 and 9 are collector (label 2), the rest pore
/// let a = ndarray::Array3::from_shape_fn((1, 10, 4), |(_, y, _)| if y >= 8 { 2u8 } else { 0 });
/// let v = LabelVolume::new(a, VoxelSize::new([20.0; 3], VoxelSource::File));
/// let p = profile(v.view(), Axis::Y, &v.voxel).unwrap();
/// // heights 40..100 nm above the collector top (row 8) = rows with centres 50, 70, 90 nm → rows 3..6
/// assert_eq!(window_above_collector(&p, 2, true, [40.0, 100.0]).unwrap(), [3, 6]);
/// ```
pub fn window_above_collector(
    p: &Profile,
    collector: u8,
    reverse: bool,
    window: [f64; 2],
) -> Result<[usize; 2], ParamError> {
    let [lo, hi] = window;
    if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && hi > lo) {
        return Err(ParamError::new(
            "window",
            format!("[{lo}, {hi}]"),
            "give two heights above the collector, 0 <= from < to",
        ));
    }
    let n = p.position.len();
    let start = collector_end(p, collector, reverse).ok_or_else(|| {
        ParamError::new(
            "collector",
            collector,
            "no slice is mostly collector along this axis; check the collector label and axis",
        )
    })?;
    let d = p.slice_thickness;
    // frame slices j >= start with centre height (j - start + 1/2)·d in [lo, hi)
    let first = start.saturating_add((lo / d - 0.5).ceil().max(0.0) as usize);
    let end = start.saturating_add((hi / d - 0.5).ceil().max(0.0) as usize);
    if end > n || first >= end {
        return Err(ParamError::new(
            "window",
            format!("[{lo}, {hi}] {}", p.length_unit),
            format!(
                "holds no slice or reaches beyond the volume ({} {} above the collector); lower `to`",
                (n - start) as f64 * d,
                p.length_unit
            ),
        ));
    }
    Ok(if reverse {
        [n - end, n - first]
    } else {
        [first, end]
    })
}
