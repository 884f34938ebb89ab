//! `sizes`: local thickness, particles and specific surface area of one phase, in one call
//! (what the CLI `fibstack sizes` and the workflow step `kind = "sizes"` run).
//!
//! Kernels: [`super::edt`] (exact anisotropic EDT), [`super::local_thickness`],
//! [`super::particles`], [`super::surface`].

use super::local_thickness::{local_thickness_mode, LocalThickness, ThicknessMode};
use super::particles::{particles, Particle, ParticleOptions, ParticleSummary};
use super::surface::{surface_area, SurfaceArea};
use crate::error::ParamError;
use crate::volume::LabelVolume;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

/// Which measurements to make (`what` key and `--what` flag; `local_thickness` is accepted for
/// `local-thickness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum What {
    /// Local thickness (largest inscribed sphere) map and its distribution.
    #[serde(alias = "local_thickness")]
    #[value(alias = "local_thickness")]
    LocalThickness,
    /// Discrete particles: sizes, shapes, spacing.
    Particles,
    /// Specific surface area of the phase.
    Surface,
    /// All three.
    #[default]
    All,
}

impl What {
    fn has(self, w: What) -> bool {
        self == What::All || self == w
    }
}

/// Options of [`sizes`].
#[derive(Debug, Clone, PartialEq)]
pub struct SizesOptions {
    /// Which measurements to make.
    pub what: What,
    /// Histogram bins of the local-thickness distribution (≥ 1).
    pub bins: usize,
    /// Exact local thickness, or the fast coarse-grid approximation.
    pub thickness_mode: ThicknessMode,
    /// How particles are separated and measured.
    pub particles: ParticleOptions,
}

impl Default for SizesOptions {
    fn default() -> Self {
        SizesOptions {
            what: What::default(),
            bins: 50,
            thickness_mode: ThicknessMode::Exact,
            particles: ParticleOptions::default(),
        }
    }
}

impl SizesOptions {
    /// Check every parameter before work starts.
    pub fn validate(&self) -> Result<(), ParamError> {
        super::local_thickness::check_bins(self.bins)?;
        if let Some(s) = self.particles.min_separation_nm {
            crate::error::length_nm("min separation (nm)", s)?;
        }
        Ok(())
    }
}

/// JSON report of `fibstack sizes` / workflow step `sizes`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SizesReport {
    /// Label value measured.
    pub phase: u8,
    /// Volume shape `[nz, ny, nx]`.
    pub shape: [usize; 3],
    /// Voxel size `[dz, dy, dx]` nm.
    pub voxel_size_nm: [f64; 3],
    /// False when the voxel size was unknown (then every "nm" is really "voxels").
    pub voxel_size_calibrated: bool,
    /// Unit of every length of this report: `"nm"`, or `"voxel"` when uncalibrated.
    pub length_unit: String,
    /// Phase volume fraction.
    pub phase_fraction: f64,
    /// Local thickness statistics and distribution (when asked).
    pub local_thickness: Option<LocalThickness>,
    /// Particle count and size statistics (when asked).
    pub particles: Option<ParticleSummary>,
    /// Specific surface area (when asked).
    pub surface: Option<SurfaceArea>,
    /// Warnings (uncalibrated voxel size, empty phase, …).
    pub notes: Vec<String>,
}

/// Everything [`sizes`] computed: the report plus the large outputs.
#[derive(Debug, Clone)]
pub struct SizesOutput {
    /// The numbers (what `--json` prints).
    pub report: SizesReport,
    /// Local thickness (diameter, nm) per voxel, 0 outside the phase.
    pub thickness_map: Option<Array3<f32>>,
    /// Per-particle table.
    pub particles: Vec<Particle>,
}

/// Measure phase `phase` of `labels`.
///
/// ```
/// use fibstack::metrics::sizes::{sizes, SizesOptions};
/// use fibstack::volume::{LabelVolume, VoxelSize, VoxelSource};
/// use ndarray::Array3;
/// let mut a = Array3::<u8>::zeros((6, 6, 6));
/// for z in 1..5 { for y in 1..5 { for x in 1..5 { a[[z, y, x]] = 1; } } }
/// let l = LabelVolume::new(a, VoxelSize::new([10.0; 3], VoxelSource::CommandLine));
/// let out = sizes(&l, 1, &SizesOptions::default()).unwrap();
/// assert_eq!(out.report.particles.as_ref().unwrap().count, 1);
/// assert!(out.report.local_thickness.as_ref().unwrap().mean_nm.unwrap() > 0.0);
/// ```
pub fn sizes(
    labels: &LabelVolume,
    phase: u8,
    opts: &SizesOptions,
) -> Result<SizesOutput, ParamError> {
    sizes_of(labels.view(), &labels.voxel, phase, opts)
}

/// [`sizes`] of a label view with an explicit voxel size (e.g. the one
/// [`crate::volume::VoxelSize::for_metric`] gives).
pub fn sizes_of(
    view: ndarray::ArrayView3<u8>,
    voxel: &crate::volume::VoxelSize,
    phase: u8,
    opts: &SizesOptions,
) -> Result<SizesOutput, ParamError> {
    sizes_of_progress(view, voxel, phase, opts, &crate::progress::Silent)
}

/// [`sizes_of`] reporting to `progress`: phase `sizes`, one unit per measurement asked for
/// (local thickness, particles, surface), the one running named in the detail.
pub fn sizes_of_progress(
    view: ndarray::ArrayView3<u8>,
    voxel: &crate::volume::VoxelSize,
    phase: u8,
    opts: &SizesOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<SizesOutput, ParamError> {
    opts.validate()?;
    let parts = [What::LocalThickness, What::Particles, What::Surface]
        .into_iter()
        .filter(|w| opts.what.has(*w))
        .count();
    let ph = crate::progress::Phase::start(progress, "sizes", parts as u64);
    voxel.validate()?;
    let v = voxel.nm;
    let n = view.len();
    let count = view.iter().filter(|&&x| x == phase).count();
    let mut notes = Vec::new();
    let length_unit = if voxel.is_calibrated() { "nm" } else { "voxel" };
    if !voxel.is_calibrated() {
        notes.push(
            "voxel size not calibrated: every length is in voxels (the \"_nm\" keys hold voxels, areas voxel^2, volumes voxel^3); give --voxel DZ,DY,DX in nm to get nm"
                .to_string(),
        );
    }
    if count == 0 {
        let h = super::porosity::histogram(view);
        let present: Vec<u8> = (0..=255u8).filter(|&p| h[p as usize] > 0).collect();
        notes.push(format!(
            "phase {phase} has no voxels (labels present: {present:?})"
        ));
    } else if count == n {
        notes.push(format!(
            "phase {phase} fills the whole volume: no interface, local thickness unbounded"
        ));
    }
    let mut thickness_map = None;
    let lt = if opts.what.has(What::LocalThickness) {
        progress.detail("local thickness");
        let (map, s) = local_thickness_mode(view, phase, v, opts.bins, opts.thickness_mode)?;
        thickness_map = Some(map);
        ph.inc(1);
        Some(s)
    } else {
        None
    };
    let mut table = Vec::new();
    let ps = if opts.what.has(What::Particles) {
        progress.detail("particles");
        let p = particles(view, phase, v, &opts.particles)?;
        ph.inc(1);
        table = p.particles;
        Some(p.summary)
    } else {
        None
    };
    let surf = if opts.what.has(What::Surface) {
        progress.detail("surface area");
        let s = surface_area(view, phase, v)?;
        ph.inc(1);
        Some(s)
    } else {
        None
    };
    Ok(SizesOutput {
        report: SizesReport {
            phase,
            shape: [view.shape()[0], view.shape()[1], view.shape()[2]],
            voxel_size_nm: v,
            voxel_size_calibrated: voxel.is_calibrated(),
            length_unit: length_unit.into(),
            phase_fraction: if n > 0 { count as f64 / n as f64 } else { 0.0 },
            local_thickness: lt,
            particles: ps,
            surface: surf,
            notes,
        },
        thickness_map,
        particles: table,
    })
}

/// Write the local-thickness distribution as CSV: `bin_low_nm,bin_high_nm,volume_fraction,cumulative_fraction`.
pub fn write_distribution_csv<W: std::io::Write>(
    lt: &LocalThickness,
    w: W,
) -> Result<(), csv::Error> {
    write_distribution_csv_in(lt, "nm", w)
}

/// [`write_distribution_csv`] with the length unit of the bin columns (`nm` or `voxel`).
pub fn write_distribution_csv_in<W: std::io::Write>(
    lt: &LocalThickness,
    unit: &str,
    w: W,
) -> Result<(), csv::Error> {
    let mut wr = csv::Writer::from_writer(w);
    wr.write_record([
        format!("bin_low_{unit}").as_str(),
        &format!("bin_high_{unit}"),
        "volume_fraction",
        "cumulative_fraction",
    ])?;
    let d = &lt.distribution;
    for i in 0..d.volume_fraction.len() {
        wr.write_record([
            d.bin_edges_nm[i].to_string(),
            d.bin_edges_nm[i + 1].to_string(),
            d.volume_fraction[i].to_string(),
            d.cumulative_fraction[i].to_string(),
        ])?;
    }
    wr.flush()?;
    Ok(())
}
