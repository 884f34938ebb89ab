//! Full-volume histograms binned exactly like scikit-image's `exposure.histogram` (what
//! `threshold_otsu` / `threshold_multiotsu` use), so thresholds agree with the peer:
//! - integer samples (u8, u16): one bin per integer value over `[min, max]` (skimage ignores
//!   `nbins` for integer images), bin centre = the value itself — 16-bit aware, no rebinning;
//! - f32: `nbins` (256) equal bins over `[min, max]` as `numpy.histogram` makes them (float32
//!   edges from a float32 `linspace`, float32 index arithmetic with numpy's edge corrections),
//!   bin centre = mean of the two float32 edges.
//!
//! Counting is a parallel reduction over z-slices (per-slice partial histograms, then a sum).

use crate::error::ParamError;
use crate::volume::GreyData;
use ndarray::{ArrayView3, Axis};
use rayon::prelude::*;
use serde::Serialize;

/// A histogram with the value at the centre of each bin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// Voxel count per bin.
    pub counts: Vec<u64>,
    /// Grey value at each bin centre.
    pub centers: Vec<f64>,
    /// `"integer"` (one bin per value) or `"uniform"` (equal-width float bins).
    pub binning: &'static str,
    /// Smallest and largest grey value in the volume.
    pub min: f64,
    /// Largest grey value in the volume.
    pub max: f64,
}

impl Histogram {
    /// Total number of voxels.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

fn int_hist<T: Copy + Into<u32> + Sync>(a: ArrayView3<T>) -> Option<Histogram> {
    let (lo, hi) = a
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|s| {
            s.iter().fold((u32::MAX, 0u32), |(lo, hi), &v| {
                let v: u32 = v.into();
                (lo.min(v), hi.max(v))
            })
        })
        .reduce(|| (u32::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    if lo > hi {
        return None;
    }
    let n = (hi - lo + 1) as usize;
    let counts = a
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|s| {
            let mut c = vec![0u64; n];
            for &v in s.iter() {
                let v: u32 = v.into();
                c[(v - lo) as usize] += 1;
            }
            c
        })
        .reduce(
            || vec![0u64; n],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        );
    Some(Histogram {
        counts,
        centers: (lo..=hi).map(|v| v as f64).collect(),
        binning: "integer",
        min: lo as f64,
        max: hi as f64,
    })
}

/// numpy.histogram's uniform binning of float32 data: `(edges as f32, bin index of v)`.
pub(crate) struct UniformBins {
    edges: Vec<f32>,
    first: f32,
    denom: f32,
    n: usize,
}

impl UniformBins {
    pub(crate) fn new(min: f32, max: f32, nbins: usize) -> Self {
        // numpy keeps the data's float32 type for the range and the linspace arithmetic
        let (mut first, mut last) = (min, max);
        if first == last {
            first -= 0.5;
            last += 0.5;
        }
        let denom = last - first;
        let step = denom / nbins as f32;
        let mut edges: Vec<f32> = (0..=nbins).map(|i| i as f32 * step + first).collect();
        edges[nbins] = last;
        UniformBins {
            edges,
            first,
            denom,
            n: nbins,
        }
    }
    #[inline]
    pub(crate) fn index(&self, v: f32) -> usize {
        let f = ((v - self.first) / self.denom) * self.n as f32;
        let mut i = (f as isize).clamp(0, self.n as isize) as usize;
        if i == self.n {
            i -= 1;
        }
        if v < self.edges[i] && i > 0 {
            i -= 1;
        }
        if i + 1 < self.n && v >= self.edges[i + 1] {
            i += 1;
        }
        i
    }
    pub(crate) fn centers(&self) -> Vec<f64> {
        (0..self.n)
            .map(|i| ((self.edges[i] + self.edges[i + 1]) / 2.0) as f64)
            .collect()
    }
}

fn float_hist(a: ArrayView3<f32>, nbins: usize) -> Result<Option<Histogram>, ParamError> {
    if let Some(bad) = a.iter().find(|v| !v.is_finite()) {
        return Err(ParamError::new(
            "grey value",
            bad,
            "the volume holds NaN or infinite values; replace them (e.g. crop) before thresholding",
        ));
    }
    let (lo, hi) = a
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|s| {
            s.iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                })
        })
        .reduce(
            || (f32::INFINITY, f32::NEG_INFINITY),
            |a, b| (a.0.min(b.0), a.1.max(b.1)),
        );
    if lo > hi {
        return Ok(None);
    }
    let bins = UniformBins::new(lo, hi, nbins);
    let counts = a
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|s| {
            let mut c = vec![0u64; nbins];
            for &v in s.iter() {
                c[bins.index(v)] += 1;
            }
            c
        })
        .reduce(
            || vec![0u64; nbins],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        );
    Ok(Some(Histogram {
        counts,
        centers: bins.centers(),
        binning: "uniform",
        min: lo as f64,
        max: hi as f64,
    }))
}

/// Histogram of a whole volume (skimage binning; `nbins` only used for f32).
/// `Ok(None)` for an empty volume.
pub fn histogram(data: &GreyData, nbins: usize) -> Result<Option<Histogram>, ParamError> {
    if nbins < 2 {
        return Err(ParamError::new("nbins", nbins, "must be at least 2"));
    }
    Ok(match data {
        GreyData::U8(a) => int_hist(a.view()),
        GreyData::U16(a) => int_hist(a.view()),
        GreyData::F32(a) => float_hist(a.view(), nbins)?,
    })
}
