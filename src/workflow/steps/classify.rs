//! `kind = "classify"`: segment the grey volume with the random-forest voxel classifier
//! ([`crate::classify`]), from a model file (`model = "…"`) or trained here (`[steps.train]`).
//!
//! Training sources of `[steps.train]`:
//! - `labels = "painted.tif"`: strokes painted on the grid of this step's input (0 = unlabelled);
//! - `truth = ["folder", …]`: folders written by `fibstack synth`; each folder's slices run
//!   through **this workflow's steps before the classify step** (alignment, geometry, filters,
//!   crops), and its truth is mapped onto that processed grid the way the `score` step maps it;
//! - `synth = [{ preset = "electrode", seed = 2, … }, …]`: simulator specs (the `synth` step's
//!   keys), rendered in memory and treated like truth folders.
//!
//! The model trained inline can be saved (`save_model = "model.fsrf"`); its out-of-bag accuracy
//! and confusion are in the step's results.

use super::StepSpec;
use crate::classify::{
    self, classify_volume, collect_training, ApplyOptions, ForestParams, Model, PhaseName,
    TrainOptions, TrainingSet,
};
use crate::error::{Error, ParamError};
use crate::features::FeatureParams;
use crate::synth::{SynthSpec, Truth};
use crate::validate::{
    crop_origin_from_results, reports_from_results, truth_on_grid, Alignment, ChainTransform,
    UNSCORED,
};
use crate::volume::{GreyVolume, LabelVolume};
use crate::workflow::{Context, Data, Step, StepError, StepResult};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[steps.train]`: train the classifier inside the workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSpec {
    /// Painted labels on the grid of this step's input (relative to the workflow file).
    pub labels: Option<String>,
    /// Label value of unlabelled voxels in `labels` (default 0).
    pub unlabelled: Option<u8>,
    /// `fibstack synth` folders (relative to the workflow file), processed by the steps before.
    pub truth: Vec<String>,
    /// Simulator stacks rendered in memory (the `synth` step's keys), processed by the steps before.
    pub synth: Vec<SynthSpec>,
    /// Phase names by label (default: the simulator's names for truth sources).
    pub phase_names: Vec<PhaseName>,
    pub features: FeatureParams,
    pub forest: ForestParams,
}

/// The `classify` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyStep {
    /// Model file written by `fibstack train` (relative to the workflow file).
    pub model: Option<String>,
    /// Train here instead of loading a model.
    pub train: Option<TrainSpec>,
    /// Apply the model to data of another voxel size.
    pub allow_voxel_mismatch: bool,
    /// Write the confidence map here (file in the output folder) and each class's probability
    /// beside it (`NAME_<label>.tif`).
    pub probabilities: Option<String>,
    /// Save the inline-trained model into the output folder.
    pub save_model: Option<String>,
}

impl Step for ClassifyStep {
    fn validate(&self) -> Result<(), ParamError> {
        match (&self.model, &self.train) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ParamError::new(
                    "classify",
                    if self.model.is_some() { "model and train" } else { "neither model nor train" },
                    "give either model = \"file.fsrf\" (from `fibstack train`) or a [steps.train] table",
                ))
            }
            _ => {}
        }
        crate::workflow::check_output_name("probabilities", &self.probabilities)?;
        crate::workflow::check_output_name("save_model", &self.save_model)?;
        if self.save_model.is_some() && self.train.is_none() {
            return Err(ParamError::new(
                "save_model",
                self.save_model.as_deref().unwrap_or(""),
                "only a model trained in the step ([steps.train]) can be saved",
            ));
        }
        if let Some(t) = &self.train {
            let n = t.labels.is_some() as usize + t.truth.len() + t.synth.len();
            if n == 0 {
                return Err(ParamError::new(
                    "train",
                    "{}",
                    "give labels = \"painted.tif\", truth = [\"synth folder\", …] or synth = [{ preset = … }]",
                ));
            }
            t.features.validate()?;
            t.forest.validate()?;
            for s in &t.synth {
                s.validate()?;
                if !s.render {
                    return Err(ParamError::new(
                        "train synth render",
                        "false",
                        "training stacks must be rendered",
                    ));
                }
            }
        }
        Ok(())
    }
    fn needs(&self) -> Data {
        Data::Grey
    }
    fn produces(&self) -> Data {
        Data::Labels
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let (model, trained) = match (&self.model, &self.train) {
            (Some(m), _) => (
                Model::load(Path::new(m)).map_err(cerr)?,
                serde_json::Value::Null,
            ),
            (None, Some(t)) => {
                let (m, rep) = train_inline(t, ctx)?;
                if let Some(f) = &self.save_model {
                    let p = ctx.output(f);
                    m.save(&p).map_err(cerr)?;
                }
                (m, serde_json::to_value(rep).unwrap_or_default())
            }
            _ => unreachable!("validated"),
        };
        let grey = ctx.grey("classify")?;
        let opts = ApplyOptions {
            allow_voxel_mismatch: self.allow_voxel_mismatch,
            probabilities: self.probabilities.is_some(),
            model_file: self.model.clone().unwrap_or_else(|| "inline model".into()),
        };
        let (lab, probs) = classify_volume(grey, &model, &opts).map_err(cerr)?;
        let voxel = grey.voxel;
        if let (Some(f), Some(pr)) = (&self.probabilities, probs) {
            let mut c = ndarray::Array3::<f32>::zeros(lab.data.raw_dim());
            for q in &pr {
                ndarray::Zip::from(&mut c)
                    .and(q)
                    .for_each(|a, &b| *a = a.max(b));
            }
            let p = ctx.output(f);
            crate::io::write_volume(&p, &GreyVolume::from_f32(c, voxel))?;
            for (ph, q) in model.header.phases.iter().zip(pr) {
                let name = classify::stream::class_path(Path::new(f), ph.label);
                let p = ctx.output(&name.to_string_lossy());
                crate::io::write_volume(&p, &GreyVolume::from_f32(q, voxel))?;
            }
        }
        let n = lab.data.len().max(1) as f64;
        let fractions: Vec<serde_json::Value> = model
            .header
            .phases
            .iter()
            .map(|p| {
                serde_json::json!({
                    "label": p.label, "name": p.name,
                    "fraction": lab.count(p.label) as f64 / n,
                })
            })
            .collect();
        ctx.labels = Some(lab);
        Ok(Some(StepResult::Other(serde_json::json!({
            "method": "random forest on the feature stack (features::, classify::)",
            "model": self.model,
            "features": model.header.feature_names,
            "trees": model.header.trees,
            "phases": fractions,
            "training": if trained.is_null() { serde_json::to_value(&model.header.provenance.training).unwrap_or_default() } else { trained },
            "training_sources": model.header.provenance.sources,
        }))))
    }
}

fn cerr(e: classify::ClassifyError) -> Error {
    match e {
        classify::ClassifyError::Io(e) => Error::Io(e),
        classify::ClassifyError::Param(e) => Error::Param(e),
        other => Error::Classify(other),
    }
}

/// Run the grey-to-grey steps before the classify step on `grey` (a training stack), in a
/// sub-folder of the run; returns the processed volume and the sub-run's results (reports).
fn run_chain(
    ctx: &mut Context,
    grey: GreyVolume,
    folder: &str,
) -> Result<(GreyVolume, crate::workflow::Results), Error> {
    let dir = ctx.out_dir.join(folder);
    std::fs::create_dir_all(&dir).map_err(|e| crate::io::IoError::os(&dir, e))?;
    let mut sub = Context::new(dir, ctx.seed, ctx.progress);
    sub.grey = Some(grey);
    let chain = ctx.chain_before.clone();
    let mut names: Vec<String> = Vec::new();
    for st in &chain {
        let kind = kind_of(st);
        let s = st.as_step();
        let grey_filter = s.needs() == Data::Grey && s.produces() == Data::Nothing;
        let plain_crop = matches!(st, StepSpec::Crop(_)) && s.needs() == Data::Nothing;
        match st {
            StepSpec::Synth(_) | StepSpec::Passthrough(_) | StepSpec::Convert(_) => continue,
            _ if grey_filter || plain_crop => {}
            _ => return Err(StepError::NotGreyToGrey { kind }.into()),
        }
        let n = names.iter().filter(|k| **k == kind).count();
        let name = crate::workflow::results::result_name(&kind, n);
        names.push(kind);
        if let Some(r) = s.run(&mut sub)? {
            sub.results.insert(name, r);
        }
    }
    for w in sub.written {
        ctx.written.push(Path::new(folder).join(w));
    }
    let g = sub.grey.ok_or(StepError::TrainingChainLostGrey)?;
    Ok((g, sub.results))
}

fn kind_of(st: &StepSpec) -> String {
    let v = format!("{st:?}");
    let k = v.split('(').next().unwrap_or("step");
    // CamelCase → snake_case
    let mut out = String::new();
    for (i, c) in k.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A simulator stack (grey as acquired, its truth labels and record) → training samples.
fn truth_set(
    ctx: &mut Context,
    grey: GreyVolume,
    labels: &LabelVolume,
    record: &Truth,
    opts: &TrainOptions,
    idx: usize,
    source: String,
) -> Result<TrainingSet, Error> {
    let acq = record
        .acquisition
        .as_ref()
        .ok_or_else(|| StepError::NoAcquisition {
            step: "classify".into(),
            record: source.to_string(),
        })?;
    let (g, results) = run_chain(ctx, grey, &format!("train_{}", idx + 1))?;
    let results = results.to_json()?;
    let (align, geometry) = reports_from_results(&results)?;
    let mut t = ChainTransform::new(acq.image_shape, align.as_ref(), geometry.as_ref())?;
    if let Some(o) = crop_origin_from_results(&results)? {
        t = t.cropped(o, g.shape())?;
    }
    let mapped = truth_on_grid(labels.view(), acq, &t, Alignment::Applied)?;
    let mut o = opts.clone();
    o.unlabelled = UNSCORED;
    collect_training(&g, mapped.view(), &o, &source, idx as u64 + 1).map_err(cerr)
}

fn train_inline(t: &TrainSpec, ctx: &mut Context) -> Result<(Model, classify::TrainReport), Error> {
    let mut opts = TrainOptions {
        features: t.features.clone(),
        forest: t.forest.clone(),
        unlabelled: t.unlabelled.unwrap_or(0),
        phase_names: t.phase_names.clone(),
    };
    let mut sets = Vec::new();
    let mut inputs = Vec::new();
    let mut names: Vec<(u8, String)> = Vec::new();
    if let Some(l) = &t.labels {
        let lab = crate::io::read_labels(Path::new(l), &Default::default())?;
        let grey = ctx.grey("classify")?;
        sets.push(collect_training(grey, lab.view(), &opts, l, 0).map_err(cerr)?);
        inputs.push(classify::input_record(Path::new(l))?);
    }
    let mut k = 0;
    for dir in &t.truth {
        let d = Path::new(dir);
        let js = std::fs::read(d.join("truth.json"))
            .map_err(|e| crate::io::IoError::os(&d.join("truth.json"), e))?;
        let rec: Truth =
            serde_json::from_slice(&js).map_err(|source| StepError::NotTruthRecord {
                dir: d.to_path_buf(),
                error: source,
            })?;
        let labels = crate::io::read_labels(&d.join("truth/labels.tif"), &Default::default())?;
        let grey = crate::io::read_volume(&d.join("slices"), &Default::default())?;
        inputs.push(classify::input_record(&d.join("slices"))?);
        inputs.push(classify::input_record(&d.join("truth/labels.tif"))?);
        names.extend(rec.phase_names.iter().cloned());
        sets.push(truth_set(
            ctx,
            grey,
            &labels,
            &rec,
            &opts,
            k,
            format!("simulator truth {dir}"),
        )?);
        k += 1;
    }
    for spec in &t.synth {
        let out = crate::synth::generate(spec)?;
        let r = out.rendered.ok_or(StepError::TrainingSynthNotRendered)?;
        names.extend(out.truth.phase_names.iter().cloned());
        let src = format!(
            "simulator {} seed {} (shine-through {:?})",
            spec.preset.name(),
            spec.seed,
            spec.acquisition.shine_through.model
        );
        sets.push(truth_set(
            ctx,
            r.grey,
            &out.labels,
            &out.truth,
            &opts,
            k,
            src,
        )?);
        k += 1;
    }
    if opts.phase_names.is_empty() && !names.is_empty() {
        names.sort();
        names.dedup_by_key(|p| p.0);
        let present: Vec<u8> = sets
            .iter()
            .flat_map(|s| s.labelled.iter().map(|p| p.0))
            .collect();
        opts.phase_names = names
            .into_iter()
            .filter(|(l, _)| present.contains(l))
            .map(|(label, name)| PhaseName { label, name })
            .collect();
    }
    classify::train(&sets, &opts, inputs).map_err(cerr)
}
