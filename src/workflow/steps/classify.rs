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

use super::filters::WorkflowOnlyKey;
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

/// `[steps.train]` of the `classify` step: train the classifier inside the workflow; the same
/// keys are the options of `fibstack train` (whose positional GREY and LABELS take the place of
/// the training sources).
//
// One definition of the keys (as for the filter steps): serde reads the workflow table, clap
// flattens it into `fibstack train`, the doc comments are the help text, and every default is
// the library's (`FeatureParams`, `ForestParams` and this struct's `Default`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSpec {
    /// [`TRAIN_LABELS`] (workflows only).
    #[arg(skip)]
    pub labels: Option<String>,
    /// Label value of unlabelled voxels in the training labels.
    #[arg(long, default_value_t = TrainSpec::default().unlabelled)]
    pub unlabelled: u8,
    /// [`TRAIN_TRUTH`] (workflows only).
    #[arg(skip)]
    pub truth: Vec<String>,
    /// [`TRAIN_SYNTH`] (workflows only).
    #[arg(skip)]
    pub synth: Vec<SynthSpec>,
    /// Phase names by label, `1=pore,2=solid` (in a workflow also tables `{ label = 1, name =
    /// "pore" }`); a named phase must have training voxels. Default: the simulator's names for
    /// truth sources, none otherwise.
    #[serde(deserialize_with = "phase_names_de")]
    #[arg(long, value_name = "L=NAME,..", value_delimiter = ',', value_parser = parse_phase_name)]
    pub phase_names: Vec<PhaseName>,
    /// Feature stack (`[steps.train.features]`).
    #[command(flatten)]
    pub features: FeatureParams,
    /// Forest hyper-parameters (`[steps.train.forest]`).
    #[command(flatten)]
    pub forest: ForestParams,
}

/// `labels` of `[steps.train]` (workflows; `fibstack train` takes GREY LABELS).
pub const TRAIN_LABELS: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "labels",
    default: "",
    help: "Painted labels on the grid of this step's input (relative to the workflow file; \
           0 = unlabelled). Workflows only: `fibstack train` takes GREY LABELS.",
};

/// `truth` of `[steps.train]` (workflows only).
pub const TRAIN_TRUTH: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "truth",
    default: "",
    help: "Folders written by `fibstack synth` (relative to the workflow file); each one's \
           slices run through the steps before the classify step and its truth is mapped onto \
           that grid. Workflows only.",
};

/// `synth` of `[steps.train]` (workflows only).
pub const TRAIN_SYNTH: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "synth",
    default: "",
    help: "Simulator stacks rendered in memory, each a table of the `synth` step's keys \
           (`[{ preset = \"electrode\", seed = 2 }]`), processed like truth folders. Workflows \
           only.",
};

/// `LABEL=NAME` on the command line.
///
/// ```
/// use fibstack::workflow::steps::classify::parse_phase_name;
/// assert_eq!(parse_phase_name(" 2 = solid").unwrap().name, "solid");
/// assert!(parse_phase_name("pore").is_err());
/// assert!(parse_phase_name("300=pore").is_err());
/// ```
pub fn parse_phase_name(p: &str) -> Result<PhaseName, String> {
    let (l, n) = p
        .split_once('=')
        .ok_or_else(|| format!("{p:?}: give LABEL=NAME, e.g. 1=pore"))?;
    let label: u8 = l
        .trim()
        .parse()
        .map_err(|_| format!("{p:?}: the label must be 0…255"))?;
    Ok(PhaseName {
        label,
        name: n.trim().to_string(),
    })
}

/// `phase_names` in a workflow: each item a table `{ label, name }` or a `"LABEL=NAME"` string.
fn phase_names_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PhaseName>, D::Error> {
    use serde::de::Error as _;
    let items = Vec::<serde_json::Value>::deserialize(d)?;
    items
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => parse_phase_name(&s).map_err(D::Error::custom),
            v => serde_json::from_value(v).map_err(D::Error::custom),
        })
        .collect()
}

impl TrainSpec {
    /// The library training options the keys describe (validated).
    pub fn options(&self) -> Result<TrainOptions, ParamError> {
        let o = TrainOptions {
            features: self.features.clone(),
            forest: self.forest.clone(),
            unlabelled: self.unlabelled,
            phase_names: self.phase_names.clone(),
        };
        o.validate()?;
        Ok(o)
    }
}

/// `kind = "classify"`; the same keys are the options of `fibstack classify` (whose positional
/// MODEL takes the place of `model`).
//
// One definition of the keys, as for `TrainSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyStep {
    /// [`MODEL`] (workflows only).
    #[arg(skip)]
    pub model: Option<String>,
    /// [`TRAIN`] (workflows only).
    #[arg(skip)]
    pub train: Option<TrainSpec>,
    /// Apply the model to data of another voxel size (its features then measure other lengths).
    #[arg(long)]
    pub allow_voxel_mismatch: bool,
    /// Also write the confidence (the winning class's probability, f32) to this file and each
    /// class's probability beside it (`NAME_<label>` with the same extension); in a workflow a
    /// file name in the output folder.
    #[arg(long, value_name = "P.tif")]
    pub probabilities: Option<String>,
    /// [`SAVE_MODEL`] (workflows only).
    #[arg(skip)]
    pub save_model: Option<String>,
}

/// `model` of the classify step (workflows; `fibstack classify` takes it as MODEL).
pub const MODEL: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "model",
    default: "",
    help: "Model file written by `fibstack train` (relative to the workflow file); give it or a \
           `[steps.train]` table. Workflows only: `fibstack classify IN MODEL OUT`.",
};

/// `train` of the classify step (workflows only).
pub const TRAIN: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "train",
    default: "",
    help: "Train here instead of loading a model: the `[steps.train]` table (its keys are the \
           `train.*` rows). Workflows only: on the command line `fibstack train`.",
};

/// `save_model` of the classify step (workflows only).
pub const SAVE_MODEL: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "save_model",
    default: "",
    help: "Save the model trained in the step (`[steps.train]`) into the output folder under \
           this file name. Workflows only.",
};

/// The keys of `kind = "classify"` for the generated reference: the step's, then those of its
/// `[steps.train]` table as `train.KEY` (`train.features.KEY`, `train.forest.KEY`), the dotted
/// TOML spelling of a nested table.
pub fn classify_key_schema() -> clap::Command {
    use clap::Args;
    let of = |c: clap::Command| -> Vec<clap::Arg> {
        c.get_arguments()
            .filter(|a| a.get_id() != "help")
            .cloned()
            .collect()
    };
    let mut cmd = ClassifyStep::augment_args(clap::Command::new("classify"))
        .arg(MODEL.arg())
        // a table: typed as itself (parsing TOML text) so the Python stubs say `Any`
        .arg(
            TRAIN
                .arg()
                .value_parser(|s: &str| toml::from_str::<TrainSpec>(s).map_err(|e| e.to_string())),
        )
        .arg(SAVE_MODEL.arg());
    let features = of(FeatureParams::augment_args(clap::Command::new("f")));
    let forest = of(ForestParams::augment_args(clap::Command::new("f")));
    let nested = |a: &clap::Arg| {
        features
            .iter()
            .chain(&forest)
            .any(|b| b.get_id() == a.get_id())
    };
    let mut train: Vec<(String, clap::Arg)> = Vec::new();
    for k in [TRAIN_LABELS, TRAIN_TRUTH, TRAIN_SYNTH] {
        train.push((format!("train.{}", k.key), k.arg()));
    }
    for a in of(TrainSpec::augment_args(clap::Command::new("train"))) {
        if !nested(&a) {
            train.push((format!("train.{}", a.get_id()), a));
        }
    }
    for (table, args) in [("features", &features), ("forest", &forest)] {
        for a in args {
            train.push((format!("train.{table}.{}", a.get_id()), a.clone()));
        }
    }
    for (id, a) in train {
        // the id is the workflow key; hidden: never parsed, only listed
        cmd = cmd.arg(a.id(id).hide(true));
    }
    cmd
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
            t.options()?;
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
    let mut opts = t.options()?;
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
