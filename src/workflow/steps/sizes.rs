//! Workflow step `kind = "sizes"`: local thickness, particles and specific surface area of one
//! phase of the current label volume (same keys as the `fibstack sizes` flags).
//!
//! ```toml
//! [[steps]]
//! kind = "sizes"
//! phase = 1                 # label value (default 0)
//! what = "all"              # local-thickness | particles | surface | all
//! split = false             # watershed split of touching particles
//! min_separation = 15.0     # nm, watershed marker separation (default 3 voxels)
//! connectivity = 26         # 6 or 26
//! bins = 50                 # local-thickness histogram bins
//! fast_thickness = false    # fast approximate local thickness (coarse grid, 4-8x faster)
//! particles_csv = "particles.csv"        # optional, inside the output folder
//! distribution_csv = "thickness.csv"     # optional
//! thickness_map = "thickness.tif"        # optional, f32 diameter in nm
//! ```
//!
//! Result (in `results.json`): the [`crate::metrics::sizes::SizesReport`] JSON.

use crate::error::{Error, ParamError};
use crate::metrics::local_thickness::ThicknessMode;
use crate::metrics::particles::{write_particles_csv_in, Connectivity, ParticleOptions};
use crate::metrics::sizes::{write_distribution_csv_in, SizesOptions, What};
use crate::volume::{GreyVolume, PhaseRef};
use crate::workflow::results::SizesResult;
use crate::workflow::{Context, Data, Step, StepResult};
use serde::Deserialize;

/// `kind = "sizes"`: local thickness, particles and specific surface area of one phase; the same
/// keys are the options of `fibstack sizes`.
//
// One definition of the keys (as for the filter steps): serde reads the workflow, clap flattens
// it into `fibstack sizes`, the doc comments are the help, and every default is the library's
// (`SizesOptions::default()`, through the `d_*` functions).
#[derive(Debug, Clone, PartialEq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Sizes {
    /// Label value of the phase to measure, or a phase name (see `--phases`).
    #[serde(default)]
    #[arg(long, default_value_t = PhaseRef::default())]
    pub phase: PhaseRef,
    /// What to measure.
    #[serde(default = "d_what")]
    #[arg(long, value_enum, default_value_t = d_what())]
    pub what: What,
    /// Split touching particles by distance-transform watershed.
    #[serde(default)]
    #[arg(long)]
    pub split: bool,
    /// Watershed markers: EDT maxima at least this far apart (nm; default 3 voxels).
    #[serde(default)]
    #[arg(long, value_name = "NM", allow_negative_numbers = true)]
    pub min_separation: Option<f64>,
    /// Particle connectivity: 6 or 26.
    #[serde(default = "d_conn")]
    #[arg(long, default_value_t = d_conn())]
    pub connectivity: u32,
    /// Bins of the local-thickness distribution.
    #[serde(default = "d_bins")]
    #[arg(long, default_value_t = d_bins())]
    pub bins: usize,
    /// Fast approximate local thickness: the exact method on the phase coarsened 2x2x2, 4-8x
    /// faster; diameters within 2 voxels of the exact ones for about 89 % of the voxels (mean
    /// difference about 1 voxel); features only a few voxels across read low (see the manual's
    /// validation chapter).
    #[serde(default)]
    #[arg(long)]
    pub fast_thickness: bool,
    /// Write the per-particle table (CSV); in a workflow a file name in the output folder.
    #[serde(default)]
    #[arg(long, value_name = "PATH")]
    pub particles_csv: Option<String>,
    /// Write the local-thickness distribution (CSV); in a workflow a file name in the output
    /// folder.
    #[serde(default)]
    #[arg(long, value_name = "PATH")]
    pub distribution_csv: Option<String>,
    /// Write the local-thickness map (f32, diameter in nm) as a volume (.tif, .npy, .vti …); in
    /// a workflow a file name in the output folder.
    #[serde(default)]
    #[arg(long, value_name = "OUT")]
    pub thickness_map: Option<String>,
}

fn d_what() -> What {
    SizesOptions::default().what
}
fn d_conn() -> u32 {
    SizesOptions::default().particles.connectivity.n()
}
fn d_bins() -> usize {
    SizesOptions::default().bins
}

impl Sizes {
    /// The library options (validated), and the output keys checked against `what` (a thickness
    /// map or distribution needs the local thickness, a particle table the particles).
    pub fn options(&self) -> Result<SizesOptions, ParamError> {
        let o = SizesOptions {
            what: self.what,
            bins: self.bins,
            thickness_mode: if self.fast_thickness {
                ThicknessMode::Fast
            } else {
                ThicknessMode::Exact
            },
            particles: ParticleOptions {
                connectivity: Connectivity::from_number(self.connectivity)?,
                split: self.split,
                min_separation_nm: self.min_separation,
            },
        };
        o.validate()?;
        let lt = matches!(o.what, What::LocalThickness | What::All);
        let pa = matches!(o.what, What::Particles | What::All);
        let what = || {
            clap::ValueEnum::to_possible_value(&self.what)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default()
        };
        if !lt && (self.thickness_map.is_some() || self.distribution_csv.is_some()) {
            return Err(ParamError::new(
                "what",
                what(),
                "thickness_map/distribution_csv (--thickness-map/--distribution-csv) need what = \"local-thickness\" or \"all\"",
            ));
        }
        if !pa && self.particles_csv.is_some() {
            return Err(ParamError::new(
                "what",
                what(),
                "particles_csv (--particles-csv) needs what = \"particles\" or \"all\"",
            ));
        }
        Ok(o)
    }
}

fn csv_err(path: &std::path::Path, e: csv::Error) -> crate::io::IoError {
    crate::io::IoError::Os {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

impl Step for Sizes {
    fn validate(&self) -> Result<(), ParamError> {
        self.options()?;
        crate::workflow::check_output_name("particles_csv", &self.particles_csv)?;
        crate::workflow::check_output_name("distribution_csv", &self.distribution_csv)?;
        crate::workflow::check_output_name("thickness_map", &self.thickness_map)?;
        if let Some(p) = &self.thickness_map {
            crate::io::Format::of(std::path::Path::new(p))
                .map_err(|e| ParamError::new("thickness_map", p, e.to_string()))?;
        }
        Ok(())
    }
    fn needs(&self) -> Data {
        Data::Labels
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let o = self.options()?;
        let phase = ctx.resolve_phase("sizes", &self.phase)?;
        let (l, voxel) = ctx.metric_labels("sizes", &[("phase", phase)])?;
        let out =
            crate::metrics::sizes::sizes_of_progress(l.view(), &voxel, phase, &o, ctx.progress)?;
        let unit = out.report.length_unit.clone();
        if let Some(name) = &self.particles_csv {
            let p = ctx.output(name);
            crate::io::atomic::write_atomic(&p, |w| {
                write_particles_csv_in(&out.particles, &unit, w).map_err(|e| csv_err(&p, e))
            })?;
        }
        if let (Some(name), Some(lt)) = (&self.distribution_csv, &out.report.local_thickness) {
            let p = ctx.output(name);
            crate::io::atomic::write_atomic(&p, |w| {
                write_distribution_csv_in(lt, &unit, w).map_err(|e| csv_err(&p, e))
            })?;
        }
        if let (Some(name), Some(map)) = (&self.thickness_map, &out.thickness_map) {
            let p = ctx.output(name);
            crate::io::write_volume(&p, &GreyVolume::from_f32(map.clone(), voxel))?;
        }
        Ok(Some(StepResult::Sizes(Box::new(SizesResult {
            report: out.report,
            naming: ctx.naming(phase),
        }))))
    }
}
