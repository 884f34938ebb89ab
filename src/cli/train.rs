//! `fibstack train GREY LABELS MODEL`: train the random-forest voxel classifier.

use super::common::{print_json, InputOpts};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use fibstack::classify::{self, collect_training, TrainOptions};
use fibstack::workflow::steps::classify::TrainSpec;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Grey stack the labels annotate (TIFF, folder of slices, .npy …).
    pub grey: PathBuf,
    /// Labels on the same grid: painted strokes (0 = unlabelled, 1…N = phases), or a mapped
    /// simulator truth (`truth_on_grid.tif` of a `score` step, with --unlabelled 255).
    pub labels: PathBuf,
    /// Model file to write (e.g. model.fsrf).
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// The operation's options: the same keys as `[steps.train]` of the workflow step
    /// `kind = "classify"`.
    #[command(flatten)]
    pub step: TrainSpec,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The library training options the flags describe (validated).
pub fn params(a: &TrainArgs) -> Result<TrainOptions> {
    Ok(a.step.options()?)
}

pub fn run(a: TrainArgs, g: &super::Global) -> Result<()> {
    let opts = params(&a)?;
    let grey = a.input.read(&a.grey, g)?;
    if !grey.voxel.is_calibrated() {
        bail!(
            "{}: voxel size unknown; the features' σ are in nm: set --voxel DZ,DY,DX",
            a.grey.display()
        );
    }
    let labels = fibstack::io::read_labels(&a.labels, &Default::default())
        .with_context(|| format!("{}", a.labels.display()))?;
    let t0 = std::time::Instant::now();
    let set = collect_training(
        &grey,
        labels.view(),
        &opts,
        &a.labels.display().to_string(),
        0,
    )?;
    let inputs = vec![
        classify::input_record(&a.grey)?,
        classify::input_record(&a.labels)?,
    ];
    let (model, report) = classify::train(&[set], &opts, inputs)?;
    model.save(&a.model)?;
    let secs = t0.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "model": a.model,
        "features": model.header.feature_names,
        "phases": model.header.phases,
        "voxel_nm": model.header.voxel_nm,
        "trees": model.header.trees,
        "nodes": model.header.nodes,
        "training": report,
        "seconds": secs,
    });
    if a.json {
        print_json(&out)?;
    } else if !g.quiet {
        println!(
            "train: {} trees ({} nodes) on {} samples of {} features -> {}",
            model.header.trees,
            model.header.nodes,
            report.samples_per_class.iter().sum::<usize>(),
            model.header.feature_names.len(),
            a.model.display()
        );
        println!(
            "out-of-bag accuracy {:.4} (balanced {:.4}) on {} samples; confusion [true][predicted]:",
            report.oob_accuracy, report.oob_balanced_accuracy, report.oob_samples
        );
        for (p, row) in model.header.phases.iter().zip(&report.oob_confusion) {
            println!("  {:>3} {:<16} {:?}", p.label, p.name, row);
        }
    }
    Ok(())
}
