//! Workflow files (TOML): schema, validation, runner, provenance.
//!
//! A workflow names an input, an ordered list of steps and an output folder. Each step kind is a
//! struct with `#[serde(deny_unknown_fields)]` implementing [`Step`]; the
//! [`steps::StepSpec`] enum (internally tagged by `kind`) lists them all. The whole file is
//! validated (keys, types, ranges, step order) before any work starts.
//!
//! ```
//! use fibstack::workflow::schema::Workflow;
//! let text = "output = \"out\"\n[input]\npath = \"x.tif\"\n[[steps]]\nkind = \"passthrough\"\n";
//! let wf = Workflow::parse(std::path::Path::new("w.toml"), text).unwrap();
//! assert_eq!(wf.names, ["passthrough"]);
//! let bad = "output = \"out\"\n[input]\npath = \"x.tif\"\n[[steps]]\nkind = \"pasthrough\"\n";
//! let e = Workflow::parse(std::path::Path::new("w.toml"), bad).unwrap_err();
//! assert!(e.to_string().contains("did you mean `passthrough`"));
//! ```

pub mod batch;
pub mod error;
pub mod export;
pub mod plan;
pub mod provenance;
pub mod results;
pub mod schema;
pub mod steps;
pub mod streamed;

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
    /// Both (e.g. `synth` renders a grey stack and keeps its truth labels).
    GreyAndLabels,
}

/// The state steps read and modify.
pub struct Context<'a> {
    /// Current grey volume (input after reading, then processed in place).
    pub grey: Option<GreyVolume>,
    /// Current label volume (after segmentation, or read directly).
    pub labels: Option<LabelVolume>,
    /// Ground-truth labels of a `synth` step (kept for `score` after `segment` replaces `labels`).
    pub truth_labels: Option<LabelVolume>,
    /// The folder the steps write into (exists; during `fibstack run`, a temporary folder that
    /// replaces the output folder when the whole run succeeded).
    pub out_dir: PathBuf,
    /// Where `out_dir` will be once the run is complete (for paths recorded in results);
    /// `None` = `out_dir` itself.
    pub publish_dir: Option<PathBuf>,
    /// Seed for random parts (workflow `seed`, default 0).
    pub seed: u64,
    /// Progress sink.
    pub progress: &'a dyn Progress,
    /// Files the steps wrote (relative to `out_dir`), for provenance.
    pub written: Vec<PathBuf>,
    /// Typed results of the steps run so far, by result name (`results.json` is their
    /// serialisation).
    pub results: results::Results,
    /// The steps before the current one (the `classify` step runs its training stacks through
    /// them).
    pub chain_before: Vec<steps::StepSpec>,
    /// Workflow `allow_uncalibrated`: metrics measure an uncalibrated volume in voxels instead of
    /// refusing it.
    pub allow_uncalibrated: bool,
    /// Workflow `allow_unconverged`: keep unconverged or impossible (τ < 1) results with a
    /// warning instead of stopping the run.
    pub allow_unconverged: bool,
    /// Warnings of the steps (printed by `fibstack run`, kept in `provenance.json`).
    pub warnings: Vec<String>,
    /// Phase names of the workflow's `[phases]` (they take precedence over names a label file
    /// carries).
    pub phase_names: crate::volume::PhaseNames,
}

impl<'a> Context<'a> {
    /// An empty context writing into `out_dir` (no volumes, no results yet).
    pub fn new(out_dir: PathBuf, seed: u64, progress: &'a dyn Progress) -> Self {
        Context {
            grey: None,
            labels: None,
            truth_labels: None,
            out_dir,
            publish_dir: None,
            seed,
            progress,
            written: Vec::new(),
            results: results::Results::new(),
            chain_before: Vec::new(),
            phase_names: Default::default(),
            allow_uncalibrated: false,
            allow_unconverged: false,
            warnings: Vec::new(),
        }
    }

    /// The label volume for a metric step, after the checks every label metric makes: the
    /// volume looks like labels, each `(role, value)` of `wanted` occurs, and the voxel size is
    /// calibrated (or `allow_uncalibrated`, then a 1 × 1 × 1 voxel). Returns the labels and the
    /// voxel size to measure with.
    pub fn metric_labels(
        &self,
        step: &str,
        wanted: &[(&'static str, u8)],
    ) -> Result<(&LabelVolume, crate::volume::VoxelSize), crate::error::Error> {
        let l = self.labels(step)?;
        let v = crate::metrics::phases::metric_voxel(l, wanted, self.allow_uncalibrated)?;
        Ok((l, v))
    }

    /// The phase names in force: those of the current label volume, overridden by the
    /// workflow's `[phases]`.
    pub fn phase_names(&self) -> crate::volume::PhaseNames {
        let mut n = self
            .labels
            .as_ref()
            .map(|l| l.meta.phase_names.clone())
            .unwrap_or_default();
        n.extend(self.phase_names.iter().map(|(l, v)| (*l, v.clone())));
        n
    }

    /// The label value of `phase` (a value, or a name of [`Context::phase_names`]).
    pub fn resolve_phase(
        &self,
        step: &str,
        phase: &crate::volume::PhaseRef,
    ) -> Result<u8, crate::error::Error> {
        phase.resolve(&self.phase_names()).map_err(|detail| {
            StepError::UnknownPhase {
                step: step.to_string(),
                detail,
            }
            .into()
        })
    }

    /// The name of label `label`, when it has one (for results and tables).
    pub fn phase_name(&self, label: u8) -> Option<String> {
        self.phase_names().get(&label).cloned()
    }

    /// The phase naming a measuring step's result records for label `label`: its name and every
    /// name in force.
    pub fn naming(&self, label: u8) -> results::PhaseNaming {
        results::PhaseNaming::of(label, &self.phase_names())
    }

    /// Give the current label volume the workflow's phase names (so written label files carry
    /// them).
    pub fn name_labels(&mut self) {
        if self.phase_names.is_empty() {
            return;
        }
        if let Some(l) = self.labels.as_mut() {
            for (k, v) in &self.phase_names {
                l.meta.phase_names.insert(*k, v.clone());
            }
        }
    }

    /// The grey volume, or a clear error naming the step.
    pub fn grey(&self, step: &str) -> Result<&GreyVolume, crate::error::Error> {
        self.grey.as_ref().ok_or_else(|| {
            StepError::NoGrey {
                step: step.to_string(),
            }
            .into()
        })
    }
    /// The label volume, or a clear error naming the step.
    pub fn labels(&self, step: &str) -> Result<&LabelVolume, crate::error::Error> {
        self.labels.as_ref().ok_or_else(|| {
            StepError::NoLabels {
                step: step.to_string(),
            }
            .into()
        })
    }
    /// Path for an output file inside the run folder (records it for provenance).
    pub fn output(&mut self, name: &str) -> PathBuf {
        self.written.push(PathBuf::from(name));
        self.out_dir.join(name)
    }
    /// Where output `name` will be found once the run is complete (to record in results).
    pub fn published(&self, name: &str) -> PathBuf {
        self.publish_dir
            .as_ref()
            .unwrap_or(&self.out_dir)
            .join(name)
    }
}

/// Check an output file name given in a step: it must name a file inside the output folder
/// (not empty, not absolute, no `..`).
///
/// ```
/// use fibstack::workflow::check_output_name;
/// assert!(check_output_name("msd_csv", &Some("msd.csv".into())).is_ok());
/// assert!(check_output_name("msd_csv", &Some("../x.csv".into())).is_err());
/// assert!(check_output_name("msd_csv", &None).is_ok());
/// ```
pub fn check_output_name(key: &str, v: &Option<String>) -> Result<(), crate::error::ParamError> {
    if let Some(p) = v {
        if p.is_empty() || p.contains("..") || std::path::Path::new(p).is_absolute() {
            return Err(crate::error::ParamError::new(
                key,
                p,
                "give a file name inside the output folder, e.g. \"results.csv\"",
            ));
        }
    }
    Ok(())
}

/// One kind of workflow step.
pub trait Step {
    /// Check every parameter (ranges, consistency) before any work starts.
    fn validate(&self) -> Result<(), crate::error::ParamError>;
    /// What must exist before this step runs.
    fn needs(&self) -> Data;
    /// What exists after it (`Nothing` = unchanged).
    fn produces(&self) -> Data;
    /// Do the work. Returns the step's typed result (kept in [`Context::results`] and written into
    /// `results.json` under the step's result name) — `None` when the step only transforms data.
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, crate::error::Error>;
}

pub use error::StepError;
pub use provenance::{run, RunSummary};
pub use results::{Results, StepResult};
