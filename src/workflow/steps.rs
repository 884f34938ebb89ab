//! The step kinds a workflow may list. To add one: a params struct with
//! `#[serde(deny_unknown_fields)]`, an `impl Step`, and a variant in [`StepSpec`].

use super::{Context, Data, Step};
use crate::error::{Error, ParamError};
use serde::Deserialize;

/// A step as written in the workflow file: `[[steps]]` tables with `kind = "..."`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepSpec {
    /// Does nothing (useful to test a workflow's input and provenance).
    Passthrough(Passthrough),
    /// Writes the current grey or label volume to a file in the output folder.
    Convert(Convert),
    /// Phase fractions, profiles, deposit, windows, REV curve.
    Porosity(super::steps_metrics::PorosityStep),
    /// Components, percolation, Euler characteristic, pore graph.
    Connectivity(super::steps_metrics::ConnectivityStep),
    /// Local thickness, particles and specific surface area of one phase.
    Sizes(super::steps_sizes::Sizes),
    /// Generates a synthetic acquisition with exact ground truth (see `synth`).
    Synth(super::steps_synth::SynthStep),
    /// Drift alignment by phase correlation (writes shifts CSV and drift plot).
    Align(super::steps_pre::AlignStep),
    /// 52° y-stretch and y–z shear correction.
    Geometry(super::steps_pre::GeometryStep),
    /// FFT wedge destriping of curtains (per slice).
    Destripe(super::steps_filters::Destripe),
    /// Gaussian smoothing, σ in nm.
    Denoise(super::steps_filters::Denoise),
    /// White/black top-hat with a disk/ball of radius in nm.
    Tophat(super::steps_filters::Tophat),
    /// Threshold into phase labels (Otsu, multi-Otsu, manual).
    Segment(super::steps_filters::Segment),
    /// Tortuosity factor of one phase (random walk and/or steady-state diffusion).
    Tortuosity(super::steps_tort::Tortuosity),
}

impl StepSpec {
    /// The step as a trait object.
    pub fn as_step(&self) -> &dyn Step {
        match self {
            StepSpec::Passthrough(s) => s,
            StepSpec::Convert(s) => s,
            StepSpec::Porosity(s) => s,
            StepSpec::Connectivity(s) => s,
            StepSpec::Sizes(s) => s,
            StepSpec::Synth(s) => s,
            StepSpec::Align(s) => s,
            StepSpec::Geometry(s) => s,
            StepSpec::Destripe(s) => s,
            StepSpec::Denoise(s) => s,
            StepSpec::Tophat(s) => s,
            StepSpec::Segment(s) => s,
            StepSpec::Tortuosity(s) => s,
        }
    }
}

/// `kind = "passthrough"`: no-op.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passthrough {}

impl Step for Passthrough {
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
    fn needs(&self) -> Data {
        Data::Nothing
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, _ctx: &mut Context) -> Result<serde_json::Value, Error> {
        Ok(serde_json::Value::Null)
    }
}

/// `kind = "convert"`: write the current volume into the output folder.
///
/// Keys: `path` (file name inside the output folder; the extension picks the format: `.tif`,
/// `.npy`, `.vti`, `.raw`, `.png` orthogonal views), `what = "grey" | "labels"` (default grey).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Convert {
    pub path: String,
    #[serde(default = "default_what")]
    pub what: String,
}

fn default_what() -> String {
    "grey".into()
}

impl Step for Convert {
    fn validate(&self) -> Result<(), ParamError> {
        if !matches!(self.what.as_str(), "grey" | "labels") {
            return Err(ParamError::new(
                "what",
                &self.what,
                "use \"grey\" or \"labels\"",
            ));
        }
        if self.path.is_empty() || self.path.contains("..") {
            return Err(ParamError::new(
                "path",
                &self.path,
                "give a file name inside the output folder, e.g. \"volume.tif\"",
            ));
        }
        crate::io::Format::of(std::path::Path::new(&self.path))
            .map_err(|e| ParamError::new("path", &self.path, e.to_string()))?;
        Ok(())
    }
    fn needs(&self) -> Data {
        if self.what == "labels" {
            Data::Labels
        } else {
            Data::Grey
        }
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<serde_json::Value, Error> {
        let p = ctx.output(&self.path);
        if self.what == "labels" {
            crate::io::write_labels(&p, ctx.labels("convert")?)?;
        } else {
            crate::io::write_volume(&p, ctx.grey("convert")?)?;
        }
        Ok(serde_json::Value::Null)
    }
}
