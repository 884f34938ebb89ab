//! Thresholding followed by the optional corrections, in their fixed order: shine-through
//! ([`super::shine`]: moves the pore / first-solid boundary), then partial-volume rims
//! ([`super::rim`]: needs the final classes of the dark and the bright phase). Used by
//! `fibstack segment` and by the workflow's `segment` step, so both give the same labels.

use super::rim::{RimParams, RimReport};
use super::shine::{ShineFit, ShineParams};
use super::threshold::{segment_volume, SegmentParams, SegmentResult};
use crate::error::ParamError;
use crate::volume::{GreyVolume, LabelVolume};
use serde::Serialize;

/// Which corrections to apply after thresholding (all off by default).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Corrections {
    /// Shine-through correction (pore pixels lit by solid behind the face); `None` = off.
    pub shine: Option<ShineParams>,
    /// Rim (edge-transition) correction; `None` = off.
    pub rim: Option<RimParams>,
}

impl Corrections {
    /// Check the corrections with the thresholding they follow (before any work): each one's
    /// own ranges, and the rim correction's need for 3 or more classes with distinct labels.
    pub fn validate(&self, params: &SegmentParams) -> Result<(), ParamError> {
        if let Some(s) = &self.shine {
            s.validate()?;
        }
        if let Some(r) = &self.rim {
            r.validate()?;
            let k = params.n_classes();
            if k < 3 {
                return Err(ParamError::new(
                    "rim_correction",
                    format!("{} with {k} classes", params.method.as_str()),
                    "the rim correction needs 3 or more classes (a phase between a dark and a bright one): use multiotsu/iso50 with classes >= 3, or manual with 2+ thresholds",
                ));
            }
            if let Some(l) = &params.labels {
                let mut seen = [false; 256];
                if l.iter()
                    .any(|&v| std::mem::replace(&mut seen[v as usize], true))
                {
                    return Err(ParamError::new(
                        "labels",
                        format!("{l:?}"),
                        "the rim correction needs a different label value per class",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Reports of the corrections that ran (JSON keys `shine_through`, `rim_correction`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct CorrectionReports {
    /// The shine-through fit and its effect, when that correction ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shine_through: Option<ShineFit>,
    /// The rim correction's effect, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rim_correction: Option<RimReport>,
}

/// Segment `vol` with `params`, then apply `corr`.
///
/// ```
/// use fibstack::segment::corrected::{segment_corrected, Corrections};
/// use fibstack::segment::rim::RimParams;
/// use fibstack::segment::{Method, SegmentParams};
/// use fibstack::volume::{GreyVolume, VoxelSize};
/// // pore 10 | a blurred edge 40, 70 | bright phase 100, three classes by hand
/// let row = [10u8, 10, 10, 40, 70, 100, 100, 100];
/// let g = GreyVolume::from_u8(ndarray::Array3::from_shape_fn((1, 2, 8), |(_, _, x)| row[x]),
///                             VoxelSize::default());
/// let p = SegmentParams { method: Method::Manual, thresholds: vec![25.0, 85.0], ..Default::default() };
/// let c = Corrections { rim: Some(RimParams::default()), ..Default::default() };
/// let (labels, _, rep) = segment_corrected(&g, &p, &c).unwrap();
/// // the 2-pixel "middle phase" at the edge is split at (10 + 100) / 2 = 55
/// assert_eq!(labels.data.slice(ndarray::s![0, 0, ..]).to_vec(), vec![0, 0, 0, 0, 2, 2, 2, 2]);
/// assert_eq!(rep.rim_correction.unwrap().reassigned, 4);
/// ```
pub fn segment_corrected(
    vol: &GreyVolume,
    params: &SegmentParams,
    corr: &Corrections,
) -> Result<(LabelVolume, SegmentResult, CorrectionReports), ParamError> {
    let (mut labels, r) = segment_volume(vol, params)?;
    let mut rep = CorrectionReports::default();
    if corr.shine.is_none() && corr.rim.is_none() {
        return Ok((labels, r, rep));
    }
    // one f32 copy of the grey values for both corrections
    let g = vol.to_f32();
    if let Some(sp) = &corr.shine {
        rep.shine_through = Some(super::shine::correct_labels(
            g.view(),
            &mut labels,
            &r.thresholds,
            &r.labels,
            sp,
        )?);
    }
    if let Some(rp) = &corr.rim {
        rep.rim_correction = Some(super::rim::correct_labels(
            g.view(),
            &mut labels,
            &r.labels,
            rp,
        )?);
    }
    Ok((labels, r, rep))
}
