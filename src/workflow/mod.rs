//! Workflow files (TOML): schema, validation, runner, provenance.
//!
//! A workflow names an input, an ordered list of steps and an output folder. Each step kind is a
//! struct with `#[serde(deny_unknown_fields)]` implementing [`Step`]; the [`StepSpec`] enum
//! (internally tagged by `kind`) lists them all. Validation of every step happens before any work.

pub mod steps;

use crate::progress::Progress;
use crate::volume::{GreyVolume, LabelVolume};
use std::path::PathBuf;

/// What a step consumes / produces, used to reject impossible orders up front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Nothing needed (e.g. `synth` creates the data).
    Nothing,
    /// A grey volume.
    Grey,
    /// A label volume.
    Labels,
}

/// The state steps read and modify.
pub struct Context<'a> {
    /// Current grey volume (input after reading, then processed in place).
    pub grey: Option<GreyVolume>,
    /// Current label volume (after segmentation, or read directly).
    pub labels: Option<LabelVolume>,
    /// The run's output folder (exists).
    pub out_dir: PathBuf,
    /// Seed for random parts (workflow `seed`, default 0).
    pub seed: u64,
    /// Progress sink.
    pub progress: &'a dyn Progress,
}

/// One kind of workflow step.
pub trait Step {
    /// Check every parameter (ranges, consistency) before any work starts.
    fn validate(&self) -> Result<(), crate::error::ParamError>;
    /// What must exist before this step runs.
    fn needs(&self) -> Data;
    /// What exists after it (`Nothing` = unchanged).
    fn produces(&self) -> Data;
    /// Do the work. Returns the step's results as JSON (written into `results.json` under the step
    /// name) — `Value::Null` when the step only transforms data.
    fn run(&self, ctx: &mut Context) -> Result<serde_json::Value, crate::error::Error>;
}
