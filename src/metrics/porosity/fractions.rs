//! Global volume fractions of every label (voxel counting).

use super::{check_nonempty, Units};
use crate::error::ParamError;
use crate::volume::VoxelSize;
use ndarray::{ArrayView3, Axis as NdAxis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One phase's share of the volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseFraction {
    /// Label value.
    pub label: u8,
    /// Number of voxels with this label.
    pub count: u64,
    /// Volume fraction `count / n_voxels` (dimensionless).
    pub fraction: f64,
    /// Volume in `volume_unit` (nm^3 or voxel^3).
    pub volume: f64,
    /// Volume in µm^3 (only when calibrated).
    pub volume_um3: Option<f64>,
}

/// Volume fractions of every label present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseFractions {
    /// `"voxel counting"`.
    pub method: String,
    /// `[nz, ny, nx]`.
    pub shape: [usize; 3],
    /// Voxels in the volume.
    pub n_voxels: u64,
    /// `[dz, dy, dx]` as given (nm; 1 = uncalibrated).
    pub voxel_size_nm: [f64; 3],
    /// Unit of `PhaseFraction::volume`.
    pub volume_unit: String,
    /// Total volume in `volume_unit`.
    pub total_volume: f64,
    /// Remarks on the result (e.g. uncalibrated voxel size); `None` when there are none.
    pub note: Option<String>,
    /// Labels present, ascending.
    pub phases: Vec<PhaseFraction>,
}

impl PhaseFractions {
    /// The entry of a label (None when absent).
    pub fn get(&self, label: u8) -> Option<&PhaseFraction> {
        self.phases.iter().find(|p| p.label == label)
    }
    /// Fraction of a label (0 when absent).
    pub fn fraction(&self, label: u8) -> f64 {
        self.get(label).map_or(0.0, |p| p.fraction)
    }
}

/// Label histogram of a volume (parallel over z slices).
pub fn histogram(labels: ArrayView3<u8>) -> [u64; 256] {
    labels
        .axis_iter(NdAxis(0))
        .into_par_iter()
        .fold(
            || [0u64; 256],
            |mut h, s| {
                for &v in s.iter() {
                    h[v as usize] += 1;
                }
                h
            },
        )
        .reduce(
            || [0u64; 256],
            |mut a, b| {
                for i in 0..256 {
                    a[i] += b[i];
                }
                a
            },
        )
}

/// Volume fraction, count and volume of every label present.
///
/// ```
/// use fibstack::metrics::porosity::phase_fractions;
/// use fibstack::volume::{VoxelSize, VoxelSource};
/// use ndarray::Array3;
/// let mut a = Array3::<u8>::zeros((2, 2, 2));
/// a[[0, 0, 0]] = 1;
/// let r = phase_fractions(a.view(), &VoxelSize::new([10.0; 3], VoxelSource::CommandLine)).unwrap();
/// assert_eq!(r.fraction(0), 0.875);
/// assert_eq!(r.get(1).unwrap().volume, 1000.0);
/// ```
pub fn phase_fractions(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
) -> Result<PhaseFractions, ParamError> {
    check_nonempty(labels.shape())?;
    let units = Units::from_voxel(voxel)?;
    let h = histogram(labels);
    let n: u64 = h.iter().sum();
    let vv = units.voxel_volume();
    let phases = (0..256)
        .filter(|&l| h[l] > 0)
        .map(|l| PhaseFraction {
            label: l as u8,
            count: h[l],
            fraction: h[l] as f64 / n as f64,
            volume: h[l] as f64 * vv,
            volume_um3: units.calibrated.then(|| h[l] as f64 * vv * 1e-9),
        })
        .collect();
    let s = labels.shape();
    Ok(PhaseFractions {
        method: "voxel counting".into(),
        shape: [s[0], s[1], s[2]],
        n_voxels: n,
        voxel_size_nm: voxel.nm,
        volume_unit: units.volume(),
        total_volume: n as f64 * vv,
        note: units.note,
        phases,
    })
}
