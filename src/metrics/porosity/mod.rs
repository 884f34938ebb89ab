//! Porosity and phase fractions: global volume fractions of every label, profiles along an axis,
//! Li-deposit bottom/top detection on a profile, windowed statistics and a representative-volume
//! (REV) curve.
//!
//! Split by what it computes: [`fractions`] (global volume fractions),
//! [`profile`](mod@profile) (fractions per slice), [`deposit`] (deposit detection on a profile),
//! [`rev`] (sub-volume statistics and the REV curve); this module holds the shared types and
//! [`porosity_report`], which runs them all.
//!
//! Conventions (methods §0): volumes are `[z, y, x]`, voxel size `[dz, dy, dx]` in nm. Slice `i`
//! along an axis spans `[i·d, (i+1)·d)`; its centre is at `(i + 0.5)·d`. When the voxel size is not
//! calibrated ([`VoxelSize::is_calibrated`] is false) every length is reported in voxels and the
//! result carries a note saying so.

use crate::error::ParamError;
use crate::volume::VoxelSize;
use ndarray::ArrayView3;
use serde::{Deserialize, Serialize};

pub mod deposit;
pub mod fractions;
pub mod profile;
pub mod rev;

pub use deposit::{collector_end, detect_deposit, window_above_collector, Deposit, DepositOptions};
pub use fractions::{histogram, phase_fractions, PhaseFraction, PhaseFractions};
pub use profile::{profile, slice_histograms, write_profiles_csv, Profile};
use rev::stats;
pub use rev::{
    box_counts, rev_curve, window_stats, RevCurve, RevPoint, Stats, Window, WindowStats,
};

pub use crate::volume::Axis;

/// Physical units used by a result: nm when the voxel size is calibrated, voxels otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Units {
    /// Voxel edge lengths `[dz, dy, dx]` actually used for lengths (1 when uncalibrated).
    pub scale: [f64; 3],
    /// `"nm"` or `"voxel"`.
    pub length: String,
    /// True when the voxel size is calibrated and results are in nm.
    pub calibrated: bool,
    /// Set when the results are in voxel units.
    pub note: Option<String>,
}

impl Units {
    /// Units for a voxel size. Uncalibrated (any axis at the default) → voxel units with a note.
    pub fn from_voxel(v: &VoxelSize) -> Result<Units, ParamError> {
        if v.is_calibrated() {
            v.validate()?;
            Ok(Units {
                scale: v.nm,
                length: "nm".into(),
                calibrated: true,
                note: None,
            })
        } else {
            Ok(Units {
                scale: [1.0; 3],
                length: "voxel".into(),
                calibrated: false,
                note: Some(
                    "voxel size not calibrated: lengths are in voxels, areas in voxel^2, volumes \
                     in voxel^3 (set the voxel size to get nm)"
                        .into(),
                ),
            })
        }
    }
    /// Unit of an area (`nm^2` or `voxel^2`).
    pub fn area(&self) -> String {
        format!("{}^2", self.length)
    }
    /// Unit of a volume (`nm^3` or `voxel^3`).
    pub fn volume(&self) -> String {
        format!("{}^3", self.length)
    }
    /// Volume of one voxel in the length unit cubed.
    pub fn voxel_volume(&self) -> f64 {
        self.scale[0] * self.scale[1] * self.scale[2]
    }
}

/// Reject volumes without voxels.
pub(crate) fn check_nonempty(shape: &[usize]) -> Result<(), ParamError> {
    if shape.contains(&0) {
        return Err(ParamError::new(
            "volume shape",
            format!("{shape:?}"),
            "the volume has no voxels; check the input file or crop",
        ));
    }
    Ok(())
}

/// A number with its unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The number, in `unit`.
    pub value: f64,
    /// `"1"` for dimensionless fractions.
    pub unit: String,
}

/// What `fibstack porosity` computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PorosityOptions {
    /// Label measured (0 = pore by convention).
    pub phase: u8,
    /// Profile axes.
    pub axes: Vec<Axis>,
    /// Edge of the windowed-statistics cubes (nm; voxels when uncalibrated). None = off.
    pub window_nm: Option<f64>,
    /// Number of REV edge lengths (0 = off).
    pub rev_sizes: usize,
    /// Detect a deposit along each profile axis.
    pub deposit: bool,
    /// Label of the current collector, if it is segmented (deposit detection; must differ from
    /// `phase`).
    pub collector: Option<u8>,
    /// Solid-fraction threshold of the deposit, in (0, 1]; `None` = half of the largest solid fraction
    /// beyond the collector.
    pub deposit_threshold: Option<f64>,
    /// Collector at the high-index end.
    pub reverse: bool,
}

impl Default for PorosityOptions {
    fn default() -> Self {
        PorosityOptions {
            phase: 0,
            axes: Axis::ALL.to_vec(),
            window_nm: None,
            rev_sizes: 10,
            deposit: false,
            collector: None,
            deposit_threshold: None,
            reverse: false,
        }
    }
}

impl PorosityOptions {
    /// Check the options before any work.
    pub fn validate(&self) -> Result<(), ParamError> {
        if let Some(w) = self.window_nm {
            crate::error::length_nm("window", w)?;
        }
        if self.rev_sizes > 1000 {
            return Err(ParamError::new(
                "REV sizes",
                self.rev_sizes,
                "must be at most 1000 (0 = off)",
            ));
        }
        if let Some(t) = self.deposit_threshold {
            if !(t > 0.0 && t <= 1.0) {
                return Err(ParamError::new(
                    "deposit threshold",
                    t,
                    "must be a solid fraction in (0, 1]",
                ));
            }
        }
        if self.collector == Some(self.phase) {
            return Err(ParamError::new(
                "collector label",
                self.phase,
                "must differ from the measured phase",
            ));
        }
        Ok(())
    }
}

/// Profile of the measured phase, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// The axis the slices are perpendicular to.
    pub axis: Axis,
    /// Number of slices along the axis.
    pub n_slices: usize,
    /// Slice thickness (length unit).
    pub slice_thickness: f64,
    /// Fraction of the phase per slice: statistics over slices.
    pub stats: Stats,
    /// Slice centres (length unit) and the phase fraction of each slice.
    pub position: Vec<f64>,
    /// Phase fraction (unit "1") of each slice, in the order of `position`.
    pub fraction: Vec<f64>,
}

/// Deposit found along one axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisDeposit {
    /// The axis searched.
    pub axis: Axis,
    /// None when no slice holds solid.
    pub deposit: Option<Deposit>,
}

/// Everything `fibstack porosity` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PorosityReport {
    /// How the numbers were computed, for the record.
    pub method: String,
    /// The phase label measured.
    pub phase: u8,
    /// Volume fraction of `phase` (unit "1").
    pub porosity: Quantity,
    /// Voxel size `[dz, dy, dx]` (nm) used.
    pub voxel_size_nm: [f64; 3],
    /// True when the voxel size is calibrated (lengths in nm, not voxels).
    pub voxel_calibrated: bool,
    /// Unit of lengths: `"nm"` when calibrated, `"voxel"` otherwise.
    pub length_unit: String,
    /// Remarks on the result (uncalibrated voxel size, absent phase); `None` when there are none.
    pub note: Option<String>,
    /// Volume fractions of every label present.
    pub phases: PhaseFractions,
    /// Profile of the measured phase along each requested axis.
    pub profiles: Vec<ProfileSummary>,
    /// Full profiles (all labels), for CSV.
    #[serde(skip)]
    pub profile_tables: Vec<Profile>,
    /// Deposit found along each profile axis (empty unless `deposit`, a collector, a deposit
    /// threshold or `reverse` was set).
    pub deposits: Vec<AxisDeposit>,
    /// Windowed statistics of the phase fraction (when a window edge was given).
    pub windows: Option<WindowStats>,
    /// Representative-volume curve (when REV sizes > 0).
    pub rev_curve: Option<RevCurve>,
}

/// Phase fractions, profiles, optional deposit detection, windowed statistics and REV curve.
pub fn porosity_report(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
    opts: &PorosityOptions,
) -> Result<PorosityReport, ParamError> {
    porosity_report_progress(labels, voxel, opts, &crate::progress::Silent)
}

/// [`porosity_report`] reporting to `progress`: phase `porosity`, one unit for the fractions and
/// profiles, one for the windows and one for the REV curve when asked, the part running named
/// in the detail.
pub fn porosity_report_progress(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
    opts: &PorosityOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<PorosityReport, ParamError> {
    opts.validate()?;
    let parts = 1 + opts.window_nm.is_some() as u64 + (opts.rev_sizes > 0) as u64;
    let ph = crate::progress::Phase::start(progress, "porosity", parts);
    progress.detail("fractions and profiles");
    let units = Units::from_voxel(voxel)?;
    let phases = phase_fractions(labels, voxel)?;
    let mut profiles = Vec::new();
    let mut tables = Vec::new();
    let mut deposits = Vec::new();
    for &axis in &opts.axes {
        let p = profile(labels, axis, voxel)?;
        let f = p.fraction_of(opts.phase);
        profiles.push(ProfileSummary {
            axis,
            n_slices: f.len(),
            slice_thickness: p.slice_thickness,
            stats: stats(&f),
            position: p.position.clone(),
            fraction: f,
        });
        if opts.deposit
            || opts.collector.is_some()
            || opts.deposit_threshold.is_some()
            || opts.reverse
        {
            deposits.push(AxisDeposit {
                axis,
                deposit: detect_deposit(
                    &p,
                    &DepositOptions {
                        phase: opts.phase,
                        collector: opts.collector,
                        threshold: opts.deposit_threshold,
                        reverse: opts.reverse,
                    },
                )?,
            });
        }
        tables.push(p);
    }
    ph.inc(1);
    let windows = match opts.window_nm {
        Some(w) => {
            progress.detail("windows");
            let s = window_stats(labels, opts.phase, w, voxel)?;
            ph.inc(1);
            Some(s)
        }
        None => None,
    };
    let rev_curve = if opts.rev_sizes > 0 {
        progress.detail("REV curve");
        let c = rev_curve(labels, opts.phase, voxel, opts.rev_sizes)?;
        ph.inc(1);
        Some(c)
    } else {
        None
    };
    let mut note = units.note.clone();
    if phases.get(opts.phase).is_none() {
        let t = format!("phase {} is absent: porosity 0", opts.phase);
        note = Some(note.map_or(t.clone(), |n| format!("{n}; {t}")));
    }
    Ok(PorosityReport {
        method: "voxel counting (fractions, per-slice profiles, sub-volumes)".into(),
        phase: opts.phase,
        porosity: Quantity {
            value: phases.fraction(opts.phase),
            unit: "1".into(),
        },
        voxel_size_nm: voxel.nm,
        voxel_calibrated: units.calibrated,
        length_unit: units.length.clone(),
        note,
        phases,
        profiles,
        profile_tables: tables,
        deposits,
        windows,
        rev_curve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::VoxelSource;
    use ndarray::Array3;

    fn cal(nm: [f64; 3]) -> VoxelSize {
        VoxelSize::new(nm, VoxelSource::CommandLine)
    }

    #[test]
    fn fractions_sum_to_one_and_volumes_scale() {
        let a = Array3::from_shape_fn((3, 4, 5), |(z, y, x)| ((z + y * x) % 3) as u8);
        let r = phase_fractions(a.view(), &cal([2.0, 3.0, 4.0])).unwrap();
        let s: f64 = r.phases.iter().map(|p| p.fraction).sum();
        assert!((s - 1.0).abs() < 1e-12);
        assert_eq!(r.n_voxels, 60);
        assert_eq!(r.total_volume, 60.0 * 24.0);
        assert_eq!(r.volume_unit, "nm^3");
    }

    #[test]
    fn uncalibrated_is_voxel_units() {
        let a = Array3::<u8>::zeros((2, 2, 2));
        let r = phase_fractions(a.view(), &VoxelSize::default()).unwrap();
        assert_eq!(r.volume_unit, "voxel^3");
        assert!(r.note.is_some());
        assert_eq!(r.phases[0].volume_um3, None);
    }

    #[test]
    fn empty_volume_is_an_error() {
        let a = Array3::<u8>::zeros((0, 2, 2));
        assert!(phase_fractions(a.view(), &VoxelSize::default()).is_err());
        assert!(profile(a.view(), Axis::Z, &VoxelSize::default()).is_err());
    }
}
