//! `kind = "score"`: score the current segmentation against the simulator's truth labels
//! (per-phase Dice, voxel accuracy, pore/solid view, porosity error; `validate`).
//!
//! The truth is the one of a `synth` step earlier in the same workflow, or, with
//! `truth = "folder"`, a folder written by `fibstack synth` (its `truth.json` and
//! `truth/labels.tif`; the workflow input must then be that folder's `slices`). The truth is mapped
//! onto the processed grid through the simulator's transform and the chain's own (the `align` and
//! `geometry` steps' reports, and the `crop` steps before this one), nearest neighbour, no
//! registration. After a crop, the score covers exactly the cropped voxels.
//!
//! Keys: `truth` (folder, optional), `pore` (pore label, default 0), `truth_out` (file name: also
//! write the mapped truth, e.g. "truth_on_grid.tif"; unscored voxels hold 255), `optional`
//! (default false: with no truth at all, record `"scored": false` instead of failing).

use super::filters::WorkflowOnlyKey;
use crate::error::{Error, ParamError};
use crate::synth::Truth;
use crate::validate::{
    crop_origin_from_results, reports_from_results, score_against_truth, truth_on_grid, Alignment,
    ChainTransform,
};
use crate::volume::LabelVolume;
use crate::workflow::results::ScoreStepResult;
use crate::workflow::{Context, Data, Step, StepError, StepResult};
use serde::{Deserialize, Serialize};

/// `kind = "score"`; the same keys are the options of `fibstack score` (`truth` is its
/// `--synth DIR`).
//
// One definition of the keys (as for the filter steps): serde reads the workflow, clap flattens
// it into `fibstack score`, the doc comments are the help, and every default is `Default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreStep {
    /// A folder written by `fibstack synth` (truth.json, truth/labels.tif) whose slices the
    /// segmentation was processed from; its truth is mapped onto the segmentation's grid. In a
    /// workflow relative to the workflow file, default the truth of the workflow's `synth` step;
    /// on the command line `--synth DIR`, instead of REF.
    #[arg(long = "synth", visible_alias = "truth", value_name = "DIR")]
    pub truth: Option<String>,
    /// Pore label (porosity and the pore/solid view).
    #[arg(long, default_value_t = ScoreStep::default().pore)]
    pub pore: u8,
    /// [`TRUTH_OUT`] (workflows only).
    #[arg(skip)]
    pub truth_out: Option<String>,
    /// [`OPTIONAL`] (workflows only).
    #[arg(skip)]
    pub optional: bool,
}

/// `truth_out` of the score step (workflows only).
pub const TRUTH_OUT: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "truth_out",
    default: "",
    help: "Also write the truth mapped onto the processed grid, a file name in the output \
           folder (e.g. \"truth_on_grid.tif\"; unscored voxels hold 255). Workflows only.",
};

/// `optional` of the score step (workflows only).
pub const OPTIONAL: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "optional",
    default: "false",
    help: "With no truth to score against (no `truth` folder, no `synth` step), record \
           `{\"scored\": false, ...}` instead of failing: a batch template can keep the step for \
           the samples that have a truth and run on the others. Workflows only.",
};

/// The truth record of the workflow's `synth` step (None without one).
fn synth_record(ctx: &Context) -> Result<Option<Truth>, Error> {
    let found: Vec<&StepResult> = ctx.results.of("synth").map(|(_, r)| r).collect();
    match found.as_slice() {
        [] => Ok(None),
        [StepResult::Synth(t)] => Ok(Some(t.as_ref().clone())),
        // a synth result is always typed in a run; this reads one that is not
        [r] => serde_json::from_value(r.to_json()?)
            .map(Some)
            .map_err(|source| StepError::SynthRecord { error: source }.into()),
        _ => Err(StepError::SeveralSynth.into()),
    }
}

impl Step for ScoreStep {
    fn validate(&self) -> Result<(), ParamError> {
        crate::workflow::check_output_name("truth_out", &self.truth_out)?;
        if let Some(t) = &self.truth {
            if t.is_empty() {
                return Err(ParamError::new(
                    "truth",
                    "\"\"",
                    "give the folder written by `fibstack synth` (with truth.json)",
                ));
            }
        }
        if let Some(p) = &self.truth_out {
            crate::io::Format::of(std::path::Path::new(p))
                .map_err(|e| ParamError::new("truth_out", p, e.to_string()))?;
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
        let (record, truth_owned, source): (Truth, Option<LabelVolume>, String) = match &self.truth
        {
            Some(dir) => {
                let d = std::path::Path::new(dir);
                let js = std::fs::read(d.join("truth.json"))
                    .map_err(|e| crate::io::IoError::os(&d.join("truth.json"), e))?;
                let rec: Truth =
                    serde_json::from_slice(&js).map_err(|source| StepError::NotTruthRecord {
                        dir: d.to_path_buf(),
                        error: source,
                    })?;
                let l = crate::io::read_labels(&d.join("truth/labels.tif"), &Default::default())?;
                (rec, Some(l), dir.clone())
            }
            None => {
                let rec = synth_record(ctx)?;
                if rec.is_none() && self.optional {
                    return Ok(Some(StepResult::Score(Box::new(ScoreStepResult {
                        scored: false,
                        reason: Some(
                            "no truth for this input (optional = true): give truth = \"folder\" \
                             written by `fibstack synth` to score it"
                                .into(),
                        ),
                        truth: None,
                        score: None,
                    }))));
                }
                let rec = rec.ok_or(StepError::NoTruth)?;
                (rec, None, "synth step".into())
            }
        };
        let acq = record
            .acquisition
            .as_ref()
            .ok_or_else(|| StepError::NoAcquisition {
                step: "score".into(),
                record: "the truth record".into(),
            })?;
        let truth = match &truth_owned {
            Some(l) => l,
            None => ctx.truth_labels.as_ref().ok_or(StepError::NoTruthLabels)?,
        };
        if truth.shape() != record.labels_shape {
            return Err(StepError::TruthShape {
                found: truth.shape(),
                expected: record.labels_shape,
            }
            .into());
        }
        // the align, geometry and crop results as results.json holds them (the reader
        // `fibstack score --results` uses)
        let so_far = ctx.results.to_json()?;
        let (align, geometry) = reports_from_results(&so_far)?;
        let mut t = ChainTransform::new(acq.image_shape, align.as_ref(), geometry.as_ref())?;
        let seg = ctx.labels("score")?;
        if let Some(origin) = crop_origin_from_results(&so_far)? {
            t = t.cropped(origin, seg.shape())?;
        }
        if seg.shape() != t.shape {
            return Err(StepError::ChainShape {
                found: seg.shape(),
                expected: t.shape,
            }
            .into());
        }
        let mut s = score_against_truth(seg.view(), truth.view(), acq, &t, self.pore)?;
        let name = |l: u8| {
            record
                .phase_names
                .iter()
                .find(|(k, _)| *k == l)
                .map(|(_, n)| n.clone())
        };
        for v in std::iter::once(&mut s.applied).chain(s.ideal.as_mut()) {
            for p in &mut v.score.phases {
                p.name = name(p.label);
            }
        }
        let mapped = match &self.truth_out {
            Some(f) => Some((
                f.clone(),
                LabelVolume::new(
                    truth_on_grid(truth.view(), acq, &t, Alignment::Applied)?,
                    seg.voxel,
                ),
            )),
            None => None,
        };
        if let Some((f, vol)) = mapped {
            let p = ctx.output(&f);
            crate::io::write_labels(&p, &vol)?;
        }
        Ok(Some(StepResult::Score(Box::new(ScoreStepResult {
            scored: true,
            reason: None,
            truth: Some(source),
            score: Some(s),
        }))))
    }
}
