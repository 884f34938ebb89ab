//! Checks every label metric runs before it measures: the requested phase (and collector) occur
//! in the volume, and the volume looks like labels at all (a few distinct values, not a grey
//! image).

use ndarray::ArrayView3;
use thiserror::Error;

/// More distinct values than this in a volume fed to a label metric: it is a grey image, not
/// labels.
pub const MAX_PHASES: usize = 32;

/// A label volume that does not fit the question asked of it.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum PhaseError {
    /// The requested label does not occur.
    #[error("{role} {value} does not occur in the volume (labels present: {present}); choose one of these{hint}")]
    Absent {
        /// `"phase"` or `"collector"`.
        role: &'static str,
        /// The requested label.
        value: u8,
        /// The labels present, e.g. `0, 1, 2`.
        present: String,
        /// A hint when the values look like grey levels rather than labels.
        hint: String,
    },
    /// Too many distinct values for a label volume.
    #[error("the volume holds {count} distinct values ({sample}), more than the {max} phases a label volume may have: it looks like a grey image; segment it first (fibstack segment IN OUT, or a `segment` step)")]
    NotLabels {
        /// Number of distinct values found.
        count: usize,
        /// The most distinct values a label volume may hold ([`MAX_PHASES`]).
        max: usize,
        /// The first few values, e.g. `0, 1, 2, 3, …`.
        sample: String,
    },
}

/// The labels present in `labels` (sorted), after checking that the volume has at most
/// [`MAX_PHASES`] distinct values and that every `(role, value)` of `wanted` occurs.
///
/// ```
/// use fibstack::metrics::phases::{check_phases, PhaseError};
/// let mut a = ndarray::Array3::<u8>::zeros((2, 2, 2));
/// a[[0, 0, 0]] = 2;
/// assert_eq!(check_phases(a.view(), &[("phase", 0)]).unwrap(), vec![0, 2]);
/// let e = check_phases(a.view(), &[("phase", 1)]).unwrap_err();
/// assert_eq!(e.to_string(), "phase 1 does not occur in the volume (labels present: 0, 2); choose one of these");
/// let grey = ndarray::Array3::from_shape_fn((1, 8, 8), |(_, y, x)| (8 * y + x) as u8);
/// assert!(matches!(check_phases(grey.view(), &[("phase", 0)]), Err(PhaseError::NotLabels { count: 64, .. })));
/// ```
pub fn check_phases(
    labels: ArrayView3<u8>,
    wanted: &[(&'static str, u8)],
) -> Result<Vec<u8>, PhaseError> {
    let h = super::porosity::histogram(labels);
    let present: Vec<u8> = (0..=255u8).filter(|&v| h[v as usize] > 0).collect();
    if present.len() > MAX_PHASES {
        let mut sample: Vec<String> = present.iter().take(6).map(|v| v.to_string()).collect();
        sample.push("…".into());
        return Err(PhaseError::NotLabels {
            count: present.len(),
            max: MAX_PHASES,
            sample: sample.join(", "),
        });
    }
    for &(role, value) in wanted {
        if h[value as usize] == 0 {
            // many values far apart from 0, 1, 2 …: probably grey levels
            let hint = if present.len() > 8 {
                "; the values look like grey levels: segment the volume first (fibstack segment IN OUT, or a `segment` step)"
            } else {
                ""
            };
            return Err(PhaseError::Absent {
                role,
                value,
                present: list(&present),
                hint: hint.into(),
            });
        }
    }
    Ok(present)
}

fn list(v: &[u8]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The checks every label metric makes before any work, in one place for the command line and the
/// workflow steps: the volume looks like labels, each `(role, value)` of `wanted` occurs, and the
/// voxel size is calibrated — or `allow_uncalibrated`, then a 1 × 1 × 1 voxel (every length in
/// voxels). Returns the voxel size to measure with.
pub fn metric_voxel(
    labels: &crate::volume::LabelVolume,
    wanted: &[(&'static str, u8)],
    allow_uncalibrated: bool,
) -> Result<crate::volume::VoxelSize, crate::error::Error> {
    check_phases(labels.view(), wanted)?;
    Ok(labels.voxel.for_metric(allow_uncalibrated)?)
}
