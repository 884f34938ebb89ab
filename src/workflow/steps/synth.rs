//! `kind = "synth"`: generate a synthetic acquisition with exact ground truth into the context.
//!
//! Keys: every [`SynthSpec`] key (`preset`, `shape`, `voxel_nm`, `seed`, `pressure_kpa`,
//! `render`, tables `electrode`, `li_deposit`, `analytic`, `acquisition`), plus
//! `labels = "path"` (use that label volume as the truth instead of a preset) and
//! `save = "folder"` (also write the full output — slices, truth, truth.json — into that folder
//! of the run directory). Without `seed` the workflow's seed is used.
//!
//! After the step the context holds the rendered grey volume (when `render = true`) and the
//! truth labels; the step's result is the truth record.

use crate::error::{Error, ParamError};
use crate::synth::{self, SynthSpec};
use crate::workflow::{Context, Data, Step, StepResult};
use serde::{Deserialize, Deserializer};

/// The `synth` step.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthStep {
    pub spec: SynthSpec,
    /// Was `seed` given in the step (otherwise the workflow's seed is used)?
    pub seed_given: bool,
    /// Label volume to use as the truth.
    pub labels: Option<String>,
    /// Folder (inside the run directory) to write the full output into.
    pub save: Option<String>,
}

impl<'de> Deserialize<'de> for SynthStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut v = serde_json::Value::deserialize(d)?;
        let map = v
            .as_object_mut()
            .ok_or_else(|| D::Error::custom("the synth step must be a table"))?;
        let take_str = |map: &mut serde_json::Map<String, serde_json::Value>,
                        k: &str|
         -> Result<Option<String>, D::Error> {
            match map.remove(k) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(o) => Err(D::Error::custom(format!(
                    "synth step: `{k}` must be a string, found {o}"
                ))),
            }
        };
        let labels = take_str(map, "labels")?;
        let save = take_str(map, "save")?;
        let seed_given = map.contains_key("seed");
        let spec: SynthSpec =
            serde_json::from_value(v).map_err(|e| D::Error::custom(format!("synth step: {e}")))?;
        Ok(SynthStep {
            spec,
            seed_given,
            labels,
            save,
        })
    }
}

impl Step for SynthStep {
    fn validate(&self) -> Result<(), ParamError> {
        if let Some(s) = &self.save {
            if s.is_empty() || s.contains("..") {
                return Err(ParamError::new(
                    "save",
                    s,
                    "give a folder name inside the output folder, e.g. \"synth\"",
                ));
            }
        }
        if self.labels.is_some() {
            if !self.spec.render {
                return Err(ParamError::new(
                    "render",
                    "false",
                    "with `labels` the step only renders; drop render = false",
                ));
            }
            return self.spec.resolved_acquisition().validate();
        }
        self.spec.validate()
    }
    fn needs(&self) -> Data {
        Data::Nothing
    }
    fn produces(&self) -> Data {
        if self.spec.render || self.labels.is_some() {
            // the rendered stack, and its truth labels beside it
            Data::GreyAndLabels
        } else {
            Data::Labels
        }
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let mut spec = self.spec.clone();
        if !self.seed_given {
            spec.seed = ctx.seed;
        }
        let out = match &self.labels {
            Some(p) => {
                let labels = crate::io::read_labels(
                    std::path::Path::new(p),
                    &crate::io::ReadOptions::default(),
                )?;
                synth::from_labels(labels, p, &spec.resolved_acquisition(), spec.seed)?
            }
            None => synth::generate(&spec)?,
        };
        if let Some(dir) = &self.save {
            let d = ctx.out_dir.join(dir);
            let files = synth::output::write_output(&d, &out, &Default::default())?;
            for f in files {
                ctx.written.push(std::path::Path::new(dir).join(f));
            }
        }
        let truth = StepResult::Synth(Box::new(out.truth.clone()));
        if let Some(r) = out.rendered {
            ctx.grey = Some(r.grey);
            ctx.truth_labels = Some(out.labels.clone());
        }
        ctx.labels = Some(out.labels);
        Ok(Some(truth))
    }
}
