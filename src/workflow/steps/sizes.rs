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
use crate::volume::GreyVolume;
use crate::workflow::results::SizesResult;
use crate::workflow::{Context, Data, Step, StepResult};
use serde::Deserialize;

/// `kind = "sizes"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sizes {
    /// Label value or phase name (default 0).
    #[serde(default)]
    pub phase: crate::volume::PhaseRef,
    #[serde(default = "default_what")]
    pub what: String,
    #[serde(default)]
    pub split: bool,
    #[serde(default)]
    pub min_separation: Option<f64>,
    #[serde(default = "default_conn")]
    pub connectivity: u32,
    #[serde(default = "default_bins")]
    pub bins: usize,
    /// Fast approximate local thickness (coarse grid) instead of the exact method.
    #[serde(default)]
    pub fast_thickness: bool,
    #[serde(default)]
    pub particles_csv: Option<String>,
    #[serde(default)]
    pub distribution_csv: Option<String>,
    #[serde(default)]
    pub thickness_map: Option<String>,
}

fn default_what() -> String {
    "all".into()
}
fn default_conn() -> u32 {
    26
}
fn default_bins() -> usize {
    50
}

impl Sizes {
    fn options(&self) -> Result<SizesOptions, ParamError> {
        let o = SizesOptions {
            what: What::parse(&self.what)?,
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
        let o = self.options()?;
        crate::workflow::check_output_name("particles_csv", &self.particles_csv)?;
        crate::workflow::check_output_name("distribution_csv", &self.distribution_csv)?;
        crate::workflow::check_output_name("thickness_map", &self.thickness_map)?;
        if let Some(p) = &self.thickness_map {
            crate::io::Format::of(std::path::Path::new(p))
                .map_err(|e| ParamError::new("thickness_map", p, e.to_string()))?;
        }
        let lt = matches!(o.what, What::LocalThickness | What::All);
        let pa = matches!(o.what, What::Particles | What::All);
        if !lt && (self.thickness_map.is_some() || self.distribution_csv.is_some()) {
            return Err(ParamError::new(
                "what",
                &self.what,
                "thickness_map/distribution_csv need what = \"local-thickness\" or \"all\"",
            ));
        }
        if !pa && self.particles_csv.is_some() {
            return Err(ParamError::new(
                "what",
                &self.what,
                "particles_csv needs what = \"particles\" or \"all\"",
            ));
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
