//! Thresholding a grey volume into phase labels, with a sensitivity report (methods §5).
//!
//! Classes: with increasing thresholds `t_0 < t_1 < …`, class 0 is `v ≤ t_0`, class k is
//! `t_{k-1} < v ≤ t_k`, the last class `v > t_last` (as `image > threshold_otsu(image)` in
//! scikit-image; note `np.digitize` would put `v == t` in the upper class). Class k gets label k
//! unless label values are given.

use super::histogram::{histogram, Histogram};
use super::otsu::{multiotsu, otsu};
use crate::error::ParamError;
use crate::volume::{GreyData, GreyVolume, LabelVolume};
use ndarray::{Array3, ArrayView3, Axis, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How thresholds are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Otsu, 2 classes.
    #[default]
    Otsu,
    /// Multi-level Otsu with `classes` classes.
    Multiotsu,
    /// Halfway between the histogram peaks of adjacent phases, found within the multi-Otsu
    /// classes (`classes` classes): area-preserving on blurred boundaries (module `segment::iso50`).
    Iso50,
    /// User-given thresholds.
    Manual,
}

impl Method {
    /// Short lower-case name (`"otsu"`, `"multiotsu"`, `"iso50"`, `"manual"`), as in JSON and on the
    /// command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Otsu => "otsu",
            Method::Multiotsu => "multiotsu",
            Method::Iso50 => "iso50",
            Method::Manual => "manual",
        }
    }
}

/// Parameters of `fibstack segment` / `kind = "segment"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentParams {
    /// How the thresholds are chosen (default: Otsu, 2 classes).
    pub method: Method,
    /// Number of classes for multi-Otsu (≥ 2; Otsu = 2, manual = thresholds + 1).
    pub classes: usize,
    /// Thresholds for `manual` (strictly increasing, grey values).
    pub thresholds: Vec<f64>,
    /// Label value per class (default 0, 1, 2, …).
    pub labels: Option<Vec<u8>>,
    /// Sensitivity δ (grey values): phase fractions at each threshold ± δ. 0 = none.
    pub sensitivity: f64,
    /// Bins for f32 volumes (integer volumes use one bin per value).
    pub nbins: usize,
}

impl Default for SegmentParams {
    fn default() -> Self {
        SegmentParams {
            method: Method::Otsu,
            // what `fibstack segment` and `kind = "segment"` use for multi-Otsu / ISO-50
            // (pore/solid/binder); plain Otsu always gives 2 whatever this says
            classes: 3,
            thresholds: Vec::new(),
            labels: None,
            sensitivity: 0.0,
            nbins: 256,
        }
    }
}

impl SegmentParams {
    /// Number of classes this parameter set produces.
    pub fn n_classes(&self) -> usize {
        match self.method {
            Method::Otsu => 2,
            Method::Multiotsu | Method::Iso50 => self.classes,
            Method::Manual => self.thresholds.len() + 1,
        }
    }

    /// Check everything that can be checked without data.
    pub fn validate(&self) -> Result<(), ParamError> {
        match self.method {
            Method::Multiotsu | Method::Iso50 if self.classes < 2 || self.classes > 16 => {
                return Err(ParamError::new(
                    "classes",
                    self.classes,
                    format!(
                        "{} needs 2..=16 classes (3 for pore/solid/binder)",
                        self.method.as_str()
                    ),
                ))
            }
            Method::Manual => {
                if self.thresholds.is_empty() {
                    return Err(ParamError::new(
                        "thresholds",
                        "(none)",
                        "manual segmentation needs at least one threshold, e.g. --thresholds 90",
                    ));
                }
                check_increasing(&self.thresholds)?;
            }
            _ => {}
        }
        if !(self.sensitivity.is_finite() && self.sensitivity >= 0.0) {
            return Err(ParamError::new(
                "sensitivity",
                self.sensitivity,
                "must be a grey-value step >= 0",
            ));
        }
        if !(2..=65536).contains(&self.nbins) {
            return Err(ParamError::new(
                "nbins",
                self.nbins,
                "must lie in [2, 65536] (histogram bins of a float volume; 256 is usual)",
            ));
        }
        if let Some(l) = &self.labels {
            if l.len() != self.n_classes() {
                return Err(ParamError::new(
                    "labels",
                    format!("{l:?}"),
                    format!("give one label per class ({} classes)", self.n_classes()),
                ));
            }
        }
        Ok(())
    }
}

/// Thresholds must be finite and strictly increasing.
pub fn check_increasing(t: &[f64]) -> Result<(), ParamError> {
    for (i, &v) in t.iter().enumerate() {
        if !v.is_finite() {
            return Err(ParamError::new(
                "threshold",
                v,
                "must be a finite grey value",
            ));
        }
        if i > 0 && v <= t[i - 1] {
            return Err(ParamError::new(
                "thresholds",
                format!("{t:?}"),
                "must be strictly increasing, e.g. 60,140",
            ));
        }
    }
    Ok(())
}

/// Class index of a value for increasing thresholds (`v ≤ t_k` → class ≤ k).
#[inline]
pub fn class_of(v: f64, thresholds: &[f64]) -> usize {
    thresholds.partition_point(|&t| v > t)
}

fn classify<T: Copy + Into<f64> + Sync>(a: ArrayView3<T>, t: &[f64], labels: &[u8]) -> Array3<u8> {
    let mut out = Array3::<u8>::zeros(a.raw_dim());
    Zip::from(&mut out)
        .and(&a)
        .par_for_each(|o, &v| *o = labels[class_of(v.into(), t)]);
    out
}

/// Label a volume with given thresholds and label values (one per class).
pub fn apply_thresholds(data: &GreyData, thresholds: &[f64], labels: &[u8]) -> Array3<u8> {
    match data {
        GreyData::U8(a) => classify(a.view(), thresholds, labels),
        GreyData::U16(a) => classify(a.view(), thresholds, labels),
        GreyData::F32(a) => classify(a.view(), thresholds, labels),
    }
}

/// Voxel fraction per class for the given thresholds (parallel over slices).
pub fn class_fractions(data: &GreyData, thresholds: &[f64]) -> Vec<f64> {
    fn count<T: Copy + Into<f64> + Sync>(a: ArrayView3<T>, t: &[f64]) -> Vec<u64> {
        let k = t.len() + 1;
        a.axis_iter(Axis(0))
            .into_par_iter()
            .map(|s| {
                let mut c = vec![0u64; k];
                for &v in s.iter() {
                    c[class_of(v.into(), t)] += 1;
                }
                c
            })
            .reduce(
                || vec![0u64; k],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            )
    }
    let c = match data {
        GreyData::U8(a) => count(a.view(), thresholds),
        GreyData::U16(a) => count(a.view(), thresholds),
        GreyData::F32(a) => count(a.view(), thresholds),
    };
    let n: u64 = c.iter().sum();
    c.iter()
        .map(|&x| if n > 0 { x as f64 / n as f64 } else { 0.0 })
        .collect()
}

/// Phase fractions with one threshold moved by −δ and +δ.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ThresholdSensitivity {
    /// Which threshold moved (0-based).
    pub threshold_index: usize,
    /// The threshold moved down: `t − δ` (grey values).
    pub threshold_minus: f64,
    /// The threshold moved up: `t + δ` (grey values).
    pub threshold_plus: f64,
    /// Class fractions with that threshold at `t − δ` / `t + δ` (others fixed).
    pub fractions_minus: Vec<f64>,
    /// Class fractions with that threshold at `t + δ` (others fixed; unit "1").
    pub fractions_plus: Vec<f64>,
}

/// Sensitivity report: phase fractions when each threshold moves by ±δ.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Sensitivity {
    /// δ in grey values.
    pub delta: f64,
    /// One entry per threshold, in threshold order.
    pub per_threshold: Vec<ThresholdSensitivity>,
    /// Per class: `[lowest, highest]` fraction over all the ±δ variations (and the nominal one).
    pub fraction_band: Vec<[f64; 2]>,
}

/// Class fractions of `data` with each threshold moved by −δ and +δ in turn (`nominal` = the
/// fractions at the given thresholds, from [`class_fractions`]).
///
/// ```
/// use fibstack::segment::threshold::{class_fractions, sensitivity};
/// use fibstack::volume::GreyData;
/// let d = GreyData::U8(ndarray::Array3::from_shape_fn((1, 1, 10), |(_, _, x)| 10 * x as u8));
/// let f = class_fractions(&d, &[45.0]); // 0..=40 → class 0: 5 of 10
/// let s = sensitivity(&d, &[45.0], 10.0, &f);
/// assert_eq!(s.fraction_band[0], [0.4, 0.6]); // t = 35 → 4 voxels, t = 55 → 6
/// ```
pub fn sensitivity(
    data: &GreyData,
    thresholds: &[f64],
    delta: f64,
    nominal: &[f64],
) -> Sensitivity {
    let d = delta;
    let mut band: Vec<[f64; 2]> = nominal.iter().map(|&f| [f, f]).collect();
    let mut per = Vec::new();
    for i in 0..thresholds.len() {
        let mut lo = thresholds.to_vec();
        lo[i] -= d;
        let mut hi = thresholds.to_vec();
        hi[i] += d;
        // keep the order valid: a moved threshold may not cross its neighbours
        let sorted = |t: &mut Vec<f64>| t.sort_by(|a, b| a.total_cmp(b));
        sorted(&mut lo);
        sorted(&mut hi);
        let fm = class_fractions(data, &lo);
        let fp = class_fractions(data, &hi);
        for (b, (&a, &c)) in band.iter_mut().zip(fm.iter().zip(fp.iter())) {
            b[0] = b[0].min(a).min(c);
            b[1] = b[1].max(a).max(c);
        }
        per.push(ThresholdSensitivity {
            threshold_index: i,
            threshold_minus: thresholds[i] - d,
            threshold_plus: thresholds[i] + d,
            fractions_minus: fm,
            fractions_plus: fp,
        });
    }
    Sensitivity {
        delta: d,
        per_threshold: per,
        fraction_band: band,
    }
}

/// Voxel count and mean grey value of each class `0..k` of `classes` (NaN mean for an empty
/// class). Summed per slice, then over slices in order, so the result does not depend on the
/// thread count.
pub(crate) fn class_stats(
    grey: ArrayView3<f32>,
    classes: ArrayView3<u8>,
    k: usize,
) -> (Vec<u64>, Vec<f64>) {
    let per: Vec<(Vec<f64>, Vec<u64>)> = (0..classes.dim().0)
        .into_par_iter()
        .map(|z| {
            let mut s = vec![0.0; k];
            let mut n = vec![0u64; k];
            Zip::from(grey.index_axis(Axis(0), z))
                .and(classes.index_axis(Axis(0), z))
                .for_each(|&g, &c| {
                    s[c as usize] += g as f64;
                    n[c as usize] += 1;
                });
            (s, n)
        })
        .collect();
    let mut sum = vec![0.0; k];
    let mut cnt = vec![0u64; k];
    for (s, n) in &per {
        for c in 0..k {
            sum[c] += s[c];
            cnt[c] += n[c];
        }
    }
    let means = (0..k)
        .map(|c| {
            if cnt[c] > 0 {
                sum[c] / cnt[c] as f64
            } else {
                f64::NAN
            }
        })
        .collect();
    (cnt, means)
}

/// Result of a segmentation (also written as JSON by `fibstack segment --json`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SegmentResult {
    /// `otsu`, `multiotsu` or `manual`.
    pub method: String,
    /// Thresholds in grey values (class k: `t_{k-1} < v ≤ t_k`).
    pub thresholds: Vec<f64>,
    /// Unit of `thresholds`: `"grey value"` (the input's own sample values).
    pub threshold_unit: String,
    /// Label value written for each class.
    pub labels: Vec<u8>,
    /// Fraction of all voxels in each class (dimensionless, sums to 1).
    pub phase_fractions: Vec<f64>,
    /// `integer` (one bin per grey value over [min, max]) or `uniform` (nbins over [min, max]).
    pub histogram_binning: String,
    /// Number of histogram bins used.
    pub histogram_bins: usize,
    /// Smallest grey value in the volume.
    pub grey_min: f64,
    /// Largest grey value in the volume.
    pub grey_max: f64,
    /// Sample type of the input (`"u8"`, `"u16"` or `"f32"`).
    pub sample_type: String,
    /// Phase fractions with each threshold moved by ±δ, when a δ > 0 was asked for.
    pub sensitivity: Option<Sensitivity>,
    /// `[dz, dy, dx]` nm.
    pub voxel_size_nm: [f64; 3],
    /// ISO-50 only: the pure grey level (histogram peak) of each class, the Otsu thresholds the
    /// classes came from, and what fell back to Otsu.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iso50: Option<super::iso50::Iso50>,
}

/// Thresholds for `params` from the full-volume histogram (or the manual values).
pub fn find_thresholds(
    data: &GreyData,
    params: &SegmentParams,
) -> Result<(Vec<f64>, Option<Histogram>), ParamError> {
    params.validate()?;
    if params.method == Method::Manual {
        return Ok((params.thresholds.clone(), None));
    }
    let h = histogram(data, params.nbins)?
        .ok_or_else(|| ParamError::new("volume", "empty", "has no voxels; nothing to threshold"))?;
    let t = thresholds_from_hist(&h, params)?;
    Ok((t, Some(h)))
}

/// Thresholds of `params` from a full-volume histogram (in memory or streamed); manual
/// thresholds are returned as given.
pub fn thresholds_from_hist(h: &Histogram, params: &SegmentParams) -> Result<Vec<f64>, ParamError> {
    Ok(match params.method {
        Method::Otsu => vec![otsu(h)],
        Method::Multiotsu => multiotsu(h, params.classes)?,
        Method::Iso50 => super::iso50::iso50(h, params.classes)?.thresholds,
        Method::Manual => params.thresholds.clone(),
    })
}

/// Label value of each of the `k` classes: `params.labels`, or 0, 1, 2 …
pub fn class_labels(params: &SegmentParams, k: usize) -> Result<Vec<u8>, ParamError> {
    let labels: Vec<u8> = match &params.labels {
        Some(l) => l.clone(),
        None => (0..k).map(|i| i as u8).collect(),
    };
    if labels.len() != k {
        return Err(ParamError::new(
            "labels",
            format!("{labels:?}"),
            format!("give one label per class ({k} classes)"),
        ));
    }
    Ok(labels)
}

/// Segment a grey volume: thresholds, labels, fractions and the sensitivity band.
pub fn segment_volume(
    vol: &GreyVolume,
    params: &SegmentParams,
) -> Result<(LabelVolume, SegmentResult), ParamError> {
    let (thresholds, hist) = find_thresholds(&vol.data, params)?;
    let k = thresholds.len() + 1;
    let labels = class_labels(params, k)?;
    let data = apply_thresholds(&vol.data, &thresholds, &labels);
    let fractions = class_fractions(&vol.data, &thresholds);
    let sensitivity = (params.sensitivity > 0.0)
        .then(|| sensitivity(&vol.data, &thresholds, params.sensitivity, &fractions));
    let mut lv = LabelVolume::new(data, vol.voxel);
    lv.meta = vol.meta.clone();
    let result = SegmentResult::assemble(
        params,
        Assembled {
            thresholds,
            labels,
            fractions,
            sensitivity,
            hist: hist.as_ref(),
            sample_type: vol.sample_type().as_str(),
            voxel_size_nm: vol.voxel.nm,
        },
        || grey_range(&vol.data),
    )?;
    Ok((lv, result))
}

/// The parts of a [`SegmentResult`] that the in-memory and the streamed segmentation compute
/// each in their own way.
pub(crate) struct Assembled<'a> {
    pub thresholds: Vec<f64>,
    pub labels: Vec<u8>,
    pub fractions: Vec<f64>,
    pub sensitivity: Option<Sensitivity>,
    /// The full-volume histogram (`None` for manual thresholds).
    pub hist: Option<&'a Histogram>,
    pub sample_type: &'static str,
    pub voxel_size_nm: [f64; 3],
}

impl SegmentResult {
    /// The report from its parts; `range` gives the grey range when there is no histogram.
    pub(crate) fn assemble(
        params: &SegmentParams,
        p: Assembled<'_>,
        range: impl FnOnce() -> (f64, f64),
    ) -> Result<SegmentResult, ParamError> {
        let (binning, bins, (gmin, gmax)) = match p.hist {
            Some(h) => (h.binning, h.counts.len(), (h.min, h.max)),
            None => ("none (manual thresholds)", 0, range()),
        };
        let iso50 = match (p.hist, params.method) {
            (Some(h), Method::Iso50) => Some(super::iso50::iso50(h, params.classes)?),
            _ => None,
        };
        Ok(SegmentResult {
            method: params.method.as_str().into(),
            thresholds: p.thresholds,
            threshold_unit: "grey value".into(),
            labels: p.labels,
            phase_fractions: p.fractions,
            histogram_binning: binning.into(),
            histogram_bins: bins,
            grey_min: gmin,
            grey_max: gmax,
            sample_type: p.sample_type.into(),
            sensitivity: p.sensitivity,
            voxel_size_nm: p.voxel_size_nm,
            iso50,
        })
    }
}

fn grey_range(data: &GreyData) -> (f64, f64) {
    fn mm<T: Copy + Into<f64>>(a: &ndarray::Array3<T>) -> (f64, f64) {
        a.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                let v: f64 = v.into();
                (l.min(v), h.max(v))
            })
    }
    match data {
        GreyData::U8(a) => mm(a),
        GreyData::U16(a) => mm(a),
        GreyData::F32(a) => mm(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::VoxelSize;

    #[test]
    fn class_of_convention() {
        let t = [10.0, 20.0];
        assert_eq!(class_of(10.0, &t), 0);
        assert_eq!(class_of(10.5, &t), 1);
        assert_eq!(class_of(20.0, &t), 1);
        assert_eq!(class_of(21.0, &t), 2);
    }

    #[test]
    fn manual_labels_and_fractions() {
        let a = Array3::from_shape_fn((1, 2, 5), |(_, y, x)| (y * 5 + x) as u8 * 10);
        let v = GreyVolume::from_u8(a, VoxelSize::default());
        let p = SegmentParams {
            method: Method::Manual,
            thresholds: vec![25.0, 65.0],
            labels: Some(vec![0, 128, 255]),
            sensitivity: 10.0,
            ..Default::default()
        };
        let (l, r) = segment_volume(&v, &p).unwrap();
        assert_eq!(l.count(0), 3); // 0 10 20
        assert_eq!(l.count(128), 4); // 30..60
        assert_eq!(l.count(255), 3);
        assert_eq!(r.phase_fractions, vec![0.3, 0.4, 0.3]);
        let s = r.sensitivity.unwrap();
        // t0 = 15 -> 0,10 below: 0.2; t0 = 35 -> 0.4
        assert_eq!(s.per_threshold[0].fractions_minus[0], 0.2);
        assert_eq!(s.per_threshold[0].fractions_plus[0], 0.4);
        assert_eq!(s.fraction_band[0], [0.2, 0.4]);
    }

    #[test]
    fn bad_params_are_param_errors() {
        let bad = |p: SegmentParams| assert!(p.validate().is_err(), "{p:?}");
        bad(SegmentParams {
            method: Method::Manual,
            thresholds: vec![5.0, 5.0],
            ..Default::default()
        });
        bad(SegmentParams {
            method: Method::Manual,
            thresholds: vec![9.0, 5.0],
            ..Default::default()
        });
        bad(SegmentParams {
            method: Method::Multiotsu,
            classes: 1,
            ..Default::default()
        });
        bad(SegmentParams {
            labels: Some(vec![1, 2, 3]),
            ..Default::default()
        });
        bad(SegmentParams {
            sensitivity: -1.0,
            ..Default::default()
        });
    }
}
