//! The step kinds a workflow may list. To add one: a params struct with
//! `#[serde(deny_unknown_fields)]`, an `impl Step`, and a variant in [`StepSpec`].

use super::{Context, Data, Step};
use serde::Deserialize;

/// A step as written in the workflow file: `[[steps]]` tables with `kind = "..."`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepSpec {
    /// Does nothing (useful to test a workflow's input and provenance).
    Passthrough(Passthrough),
}

impl StepSpec {
    /// The step as a trait object.
    pub fn as_step(&self) -> &dyn Step {
        match self {
            StepSpec::Passthrough(s) => s,
        }
    }
}

/// `kind = "passthrough"`: no-op.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passthrough {}

impl Step for Passthrough {
    fn validate(&self) -> Result<(), crate::error::ParamError> {
        Ok(())
    }
    fn needs(&self) -> Data {
        Data::Nothing
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, _ctx: &mut Context) -> Result<serde_json::Value, crate::error::Error> {
        Ok(serde_json::Value::Null)
    }
}
