//! Errors of running a workflow: each variant carries the step, file or value concerned, and its
//! message says what to do. A message that quotes an underlying error holds it in a field named
//! `error`, not as the error's `source`, so the command line's one-line message (the error chain
//! joined) says it once.

use std::path::PathBuf;
use thiserror::Error;

/// A workflow step that cannot run on what the run holds, or a run that cannot write its output.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StepError {
    /// The step needs a grey volume and the run holds none.
    #[error("step {step} needs a grey volume, but there is none")]
    NoGrey {
        /// Step kind.
        step: String,
    },
    /// The step needs a label volume and the run holds none.
    #[error("step {step} needs a label volume: add a `segment` step before it")]
    NoLabels {
        /// Step kind.
        step: String,
    },
    /// A phase given by name is not among the phase names in force.
    #[error("step {step}: {detail}")]
    UnknownPhase {
        /// Step kind.
        step: String,
        /// The name and the names known.
        detail: String,
    },
    /// The output folder cannot be created.
    #[error("{}: cannot create the output folder ({error}); choose a writable `output`", path.display())]
    OutputFolder {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// `[input.raw] dtype` is not a sample type.
    #[error("{}: [input.raw] dtype = {dtype:?}; use u8, u16 or f32", file.display())]
    RawDtype {
        /// The workflow file.
        file: PathBuf,
        /// The value given.
        dtype: String,
    },
    /// An input has no usable voxel size for the metrics of the workflow.
    #[error("{}: input {}: {error}", file.display(), input.display())]
    InputVoxel {
        /// The workflow file.
        file: PathBuf,
        /// The input file.
        input: PathBuf,
        /// Why the voxel size does not do.
        error: crate::volume::Uncalibrated,
    },
    /// An input declared as labels (`labels = true`) is not a label volume.
    #[error("{}: {error}", path.display())]
    NotLabels {
        /// The input file.
        path: PathBuf,
        /// Why.
        error: crate::error::ParamError,
    },
    /// Every sample of a batch failed.
    #[error("every sample failed; first: {sample}: {error}")]
    AllSamplesFailed {
        /// The first sample.
        sample: String,
        /// Its error.
        error: String,
    },
    /// Iterative results that did not converge, without `allow_unconverged`.
    #[error("{warnings}; set allow_unconverged = true at the top of the workflow to keep such results (marked with their warnings)")]
    Unconverged {
        /// The solvers' warnings, joined.
        warnings: String,
    },
    /// A `crop` step with neither a grey nor a label volume.
    #[error("crop: there is no volume to crop")]
    NothingToCrop,
    /// A `crop` step to the deposit found no deposit.
    #[error("crop: no deposit found along the axis (no slice reaches the solid threshold)")]
    NoDeposit,
    /// The `synth` step's truth record in the results cannot be read back.
    #[error("score: cannot read the synth truth record: {error}")]
    SynthRecord {
        /// The parse error.
        error: serde_json::Error,
    },
    /// Several `synth` steps and no `truth` folder to say which one scores.
    #[error("score: several synth steps; give truth = \"folder\" to say which truth")]
    SeveralSynth,
    /// A truth folder's `truth.json` is not a truth record.
    #[error("{}: not a truth record ({error})", dir.display())]
    NotTruthRecord {
        /// The truth folder.
        dir: PathBuf,
        /// The parse error.
        error: serde_json::Error,
    },
    /// A `score` step without a truth.
    #[error("score needs a truth: a `synth` step before it, or truth = \"folder\" written by `fibstack synth`")]
    NoTruth,
    /// A truth record without the acquisition (the simulator did not render images).
    #[error("{step}: {record} has no acquisition record (render = false)")]
    NoAcquisition {
        /// Step kind.
        step: String,
        /// Which record.
        record: String,
    },
    /// The `synth` step kept no truth labels.
    #[error("score: the synth step kept no truth labels (render = false)")]
    NoTruthLabels,
    /// Truth labels whose shape is not the one their record states.
    #[error("score: truth labels {found:?} do not match truth.json labels_shape {expected:?}")]
    TruthShape {
        /// Shape of the truth labels.
        found: [usize; 3],
        /// `labels_shape` of the record.
        expected: [usize; 3],
    },
    /// A segmentation whose grid is not the one the recorded chain produces.
    #[error("score: the segmentation is {found:?} but align/geometry (and crops) produce {expected:?}; scoring supports align → geometry → filters → segment → crops")]
    ChainShape {
        /// Shape of the segmentation.
        found: [usize; 3],
        /// Shape the chain's transforms produce.
        expected: [usize; 3],
    },
    /// A step before `classify` that does not map grey to grey (training stacks run through them).
    #[error("classify: the training stacks run through the steps before this one, but `{kind}` does not map grey to grey; put the classify step right after the filters (align, geometry, destripe, denoise, tophat, crop by voxel ranges)")]
    NotGreyToGrey {
        /// Step kind.
        kind: String,
    },
    /// The training chain ended without a grey volume.
    #[error("classify: training chain lost the grey volume")]
    TrainingChainLostGrey,
    /// A training `synth` that rendered no images.
    #[error("classify: training synth not rendered")]
    TrainingSynthNotRendered,
    /// The whole volume does not fit the memory budget and the chain cannot run slab by slab.
    #[error("step {step}: the whole volume needs about {need}, more than the memory budget of {budget}, and this step cannot run slab by slab ({why}); raise the budget (`[input] max_memory` in GiB, or `fibstack run --max-memory`) or {fix}")]
    NotStreamable {
        /// The step's name (or the workflow key) that cannot stream.
        step: String,
        /// Why it cannot.
        why: String,
        /// Estimated memory of the whole-volume run (text with unit).
        need: String,
        /// The budget (text with unit).
        budget: String,
        /// What to change so that it streams.
        fix: String,
    },
}
