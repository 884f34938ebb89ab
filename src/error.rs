//! Shared error types. Module-specific errors live in their modules; every message names the value
//! and what to do.

use std::fmt::Display;
use thiserror::Error;

/// An impossible or out-of-range parameter.
///
/// ```
/// let e = fibstack::error::ParamError::new("sigma", -1.0, "must be > 0 nm");
/// assert_eq!(e.to_string(), "invalid sigma = -1: must be > 0 nm");
/// ```
#[derive(Debug, Clone, Error, PartialEq)]
#[error("invalid {name} = {value}: {fix}")]
pub struct ParamError {
    /// Parameter name as the user writes it.
    pub name: String,
    /// The offending value, printed.
    pub value: String,
    /// What is wrong and what to do.
    pub fix: String,
}

impl ParamError {
    /// An error for parameter `name` (as the user writes it) with the offending `value` and `fix`,
    /// what is wrong and what to do.
    pub fn new(name: impl Into<String>, value: impl Display, fix: impl Into<String>) -> Self {
        ParamError {
            name: name.into(),
            value: value.to_string(),
            fix: fix.into(),
        }
    }
}

/// Largest length parameter (σ, radius, window …) accepted, in nm: 1 mm, far beyond any FIB-SEM
/// volume (a larger value is a unit mistake — metres or µm given as nm).
pub const MAX_LENGTH_NM: f64 = 1e6;

/// Check `0 < value <= MAX_LENGTH_NM` (a physical length in nm).
///
/// ```
/// assert!(fibstack::error::length_nm("sigma", 20.0).is_ok());
/// let e = fibstack::error::length_nm("sigma", 1e30).unwrap_err();
/// assert!(e.to_string().contains("at most 1000000 nm"));
/// ```
pub fn length_nm(name: &str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() && value > 0.0 && value <= MAX_LENGTH_NM {
        Ok(value)
    } else {
        Err(ParamError::new(
            name,
            value,
            format!("must be a length in nm, > 0 and at most {MAX_LENGTH_NM} nm (1 mm)"),
        ))
    }
}

/// Check `value > 0` and finite.
pub fn positive(name: &str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ParamError::new(name, value, "must be a finite number > 0"))
    }
}

/// Check `lo <= value <= hi`.
pub fn in_range(name: &str, value: f64, lo: f64, hi: f64) -> Result<f64, ParamError> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(ParamError::new(
            name,
            value,
            format!("must lie in [{lo}, {hi}]"),
        ))
    }
}

/// The library's top-level error: the module errors, plus the few conditions of the layers that
/// join them (workflow steps, JSON results).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An impossible or out-of-range parameter.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// Reading or writing a file.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// A metric asked of a volume without a physical voxel size.
    #[error(transparent)]
    Calibration(#[from] crate::volume::Uncalibrated),
    /// A label volume that does not fit the question asked of it.
    #[error(transparent)]
    Phase(#[from] crate::metrics::phases::PhaseError),
    /// Training or applying a classifier.
    #[error(transparent)]
    Classify(#[from] crate::classify::ClassifyError),
    /// A workflow file that does not validate.
    #[error(transparent)]
    Workflow(#[from] crate::workflow::schema::WorkflowError),
    /// A workflow step that cannot run on what the run holds.
    #[error(transparent)]
    Step(#[from] crate::workflow::StepError),
    /// A value that cannot be converted to or from JSON (`what` names it: a file, a result).
    #[error("{what}: {error}")]
    Json {
        /// The file or result concerned.
        what: String,
        /// The conversion error (quoted in the message, hence not a `source`).
        error: serde_json::Error,
    },
    /// A folder without the `results.json` of a run.
    #[error("{}: no results.json; point to the output folder of a `fibstack run`", dir.display())]
    NoResults {
        /// The folder given.
        dir: std::path::PathBuf,
    },
    /// A stream or file with no slices.
    #[error("the input has no slices; check the input folder, its pattern or the slice range")]
    NoSlices,
    /// A condition of a named workflow step, prefixed with the step's name.
    #[error("step {step}: {error}")]
    InStep {
        /// The step's name in the workflow (`kind` or `kind_N`).
        step: String,
        /// What went wrong (quoted in the message, hence not a `source`).
        error: Box<Error>,
    },
}

impl Error {
    /// A JSON conversion error about `what` (a file or a result).
    pub fn json(what: impl Display, error: serde_json::Error) -> Error {
        Error::Json {
            what: what.to_string(),
            error,
        }
    }

    /// The error as raised by the workflow step `step`: conditions that do not name their file or
    /// parameter get the step's name in front; the others are returned unchanged.
    pub fn in_step(self, step: &str) -> Error {
        match self {
            Error::Param(_) | Error::Io(_) | Error::Workflow(_) | Error::InStep { .. } => self,
            e => Error::InStep {
                step: step.to_string(),
                error: Box::new(e),
            },
        }
    }
}
