//! Phase fractions slice by slice along an axis, and their tidy CSV table.

use super::{check_nonempty, Axis, Units};
use crate::error::ParamError;
use crate::volume::VoxelSize;
use ndarray::{ArrayView3, Axis as NdAxis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Per-slice label histograms along `axis`: `result[i][label]` = voxels of `label` in slice `i`.
pub fn slice_histograms(labels: ArrayView3<u8>, axis: Axis) -> Vec<[u64; 256]> {
    let n = labels.shape()[axis.index()];
    labels
        .axis_iter(NdAxis(0))
        .into_par_iter()
        .enumerate()
        .fold(
            || vec![[0u64; 256]; n],
            |mut acc, (z, s)| {
                match axis {
                    Axis::Z => {
                        for &v in s.iter() {
                            acc[z][v as usize] += 1;
                        }
                    }
                    Axis::Y => {
                        for (y, row) in s.outer_iter().enumerate() {
                            for &v in row.iter() {
                                acc[y][v as usize] += 1;
                            }
                        }
                    }
                    Axis::X => {
                        for row in s.outer_iter() {
                            for (x, &v) in row.iter().enumerate() {
                                acc[x][v as usize] += 1;
                            }
                        }
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![[0u64; 256]; n],
            |mut a, b| {
                for (ra, rb) in a.iter_mut().zip(b.iter()) {
                    for l in 0..256 {
                        ra[l] += rb[l];
                    }
                }
                a
            },
        )
}

/// Phase fractions slice by slice along one axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The axis the slices are perpendicular to.
    pub axis: Axis,
    /// `"nm"` or `"voxel"`.
    pub length_unit: String,
    /// Slice thickness along the axis in `length_unit`.
    pub slice_thickness: f64,
    /// Voxels per slice.
    pub voxels_per_slice: u64,
    /// Labels present anywhere in the volume, ascending (columns of `counts`/`fractions`).
    pub labels: Vec<u8>,
    /// Slice centre positions `(i + 0.5)·d` in `length_unit`.
    pub position: Vec<f64>,
    /// `counts[i][k]`: voxels of `labels[k]` in slice `i`.
    pub counts: Vec<Vec<u64>>,
    /// `fractions[i][k] = counts[i][k] / voxels_per_slice`; each row sums to 1.
    pub fractions: Vec<Vec<f64>>,
    /// Voxel size `[dz, dy, dx]` (nm) used.
    pub voxel_size_nm: [f64; 3],
    /// Remarks on the result (e.g. uncalibrated voxel size); `None` when there are none.
    pub note: Option<String>,
}

impl Profile {
    /// Fraction of one label in every slice (zeros when the label is absent).
    pub fn fraction_of(&self, label: u8) -> Vec<f64> {
        match self.labels.iter().position(|&l| l == label) {
            Some(k) => self.fractions.iter().map(|r| r[k]).collect(),
            None => vec![0.0; self.position.len()],
        }
    }
    /// Count of one label in every slice.
    pub fn count_of(&self, label: u8) -> Vec<u64> {
        match self.labels.iter().position(|&l| l == label) {
            Some(k) => self.counts.iter().map(|r| r[k]).collect(),
            None => vec![0; self.position.len()],
        }
    }
}

/// Write profiles as one tidy CSV table, one row per slice and phase:
/// `axis, index, position_<unit>, label, phase_name, voxels, fraction` (`<unit>` is `nm`, or
/// `voxel` for an uncalibrated volume; `phase_name` is empty where `names` has none). The same
/// layout serves `fibstack porosity --profile-csv` and the workflow's `porosity_profile.csv`.
///
/// ```
/// use fibstack::metrics::porosity::{profile, write_profiles_csv, Axis};
/// use fibstack::volume::{PhaseNames, VoxelSize, VoxelSource};
/// let labels = ndarray::Array3::<u8>::from_shape_fn((2, 2, 2), |(z, _, x)| (z * x) as u8);
/// let p = profile(labels.view(), Axis::Z, &VoxelSize::new([10.0, 5.0, 5.0], VoxelSource::CommandLine)).unwrap();
/// let names = PhaseNames::from([(0, "pore".to_string())]);
/// let mut out = Vec::new();
/// write_profiles_csv(&[p], &names, &mut out).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("axis,index,position_nm,label,phase_name,voxels,fraction\nz,0,5,0,pore,4,1\n"));
/// ```
pub fn write_profiles_csv<W: std::io::Write>(
    profiles: &[Profile],
    names: &crate::volume::PhaseNames,
    w: W,
) -> Result<(), csv::Error> {
    let mut wr = csv::Writer::from_writer(w);
    let unit = profiles.first().map_or("nm", |p| p.length_unit.as_str());
    let position = format!("position_{unit}");
    wr.write_record([
        "axis",
        "index",
        &position,
        "label",
        "phase_name",
        "voxels",
        "fraction",
    ])?;
    for p in profiles {
        for (i, (counts, fractions)) in p.counts.iter().zip(&p.fractions).enumerate() {
            for (k, &label) in p.labels.iter().enumerate() {
                wr.write_record([
                    p.axis.name().to_string(),
                    i.to_string(),
                    format!("{}", p.position[i]),
                    label.to_string(),
                    names.get(&label).cloned().unwrap_or_default(),
                    counts[k].to_string(),
                    format!("{}", fractions[k]),
                ])?;
            }
        }
    }
    wr.flush()?;
    Ok(())
}

/// Phase fractions per slice along `axis`.
pub fn profile(
    labels: ArrayView3<u8>,
    axis: Axis,
    voxel: &VoxelSize,
) -> Result<Profile, ParamError> {
    check_nonempty(labels.shape())?;
    let units = Units::from_voxel(voxel)?;
    let hs = slice_histograms(labels, axis);
    let mut present = [false; 256];
    for h in &hs {
        for l in 0..256 {
            present[l] |= h[l] > 0;
        }
    }
    let lab: Vec<u8> = (0..256).filter(|&l| present[l]).map(|l| l as u8).collect();
    let s = labels.shape();
    let per = (s[0] * s[1] * s[2] / s[axis.index()]) as u64;
    let d = units.scale[axis.index()];
    let counts: Vec<Vec<u64>> = hs
        .iter()
        .map(|h| lab.iter().map(|&l| h[l as usize]).collect())
        .collect();
    let fractions = counts
        .iter()
        .map(|r| r.iter().map(|&c| c as f64 / per as f64).collect())
        .collect();
    Ok(Profile {
        axis,
        length_unit: units.length.clone(),
        slice_thickness: d,
        voxels_per_slice: per,
        labels: lab,
        position: (0..hs.len()).map(|i| (i as f64 + 0.5) * d).collect(),
        counts,
        fractions,
        voxel_size_nm: voxel.nm,
        note: units.note,
    })
}
