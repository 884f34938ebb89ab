//! `fibstack classify IN MODEL OUT [--probabilities P.tif]`: apply a trained classifier.

use super::common::{print_json, Bar, InputOpts};
use anyhow::Result;
use clap::Args;
use fibstack::classify::stream::{class_path, classify_stream, summarise};
use fibstack::classify::{classify_volume, ApplyOptions, Model};
use fibstack::features::FeatureParams;
use fibstack::workflow::steps::classify::ClassifyStep;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Grey stack to classify (TIFF, folder of slices, .npy …).
    pub input: PathBuf,
    /// Model written by `fibstack train`.
    pub model: PathBuf,
    /// Label volume to write (format from the extension; no extension = folder of slices).
    pub output: PathBuf,
    /// The operation's options: the same keys as the workflow step `kind = "classify"`.
    #[command(flatten)]
    pub step: ClassifyStep,
    /// Feature families the caller expects (refused unless they are the model's).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<fibstack::features::Family>>,
    #[command(flatten)]
    pub read: InputOpts,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: ClassifyArgs, g: &super::Global) -> Result<()> {
    let probabilities = a.step.probabilities.as_ref().map(PathBuf::from);
    let model = Model::load(&a.model)?;
    let mfile = a.model.display().to_string();
    if let Some(f) = &a.features {
        let want = FeatureParams {
            families: f.clone(),
            ..model.header.features.clone()
        };
        model.check_features(&want, &mfile)?;
    }
    let opts = ApplyOptions {
        allow_voxel_mismatch: a.step.allow_voxel_mismatch,
        probabilities: probabilities.is_some(),
        model_file: mfile,
    };
    let bar = Bar::new(g.quiet || a.json);
    let summary = match a.read.open_stream(&a.input, g)? {
        Some(mut r) => classify_stream(
            &mut r,
            &a.output,
            probabilities.as_deref(),
            &model,
            &opts,
            &bar,
        )?,
        None => {
            let vol = a.read.read(&a.input, g)?;
            let (lab, probs) = classify_volume(&vol, &model, &opts)?;
            fibstack::io::write_labels(&a.output, &lab)?;
            let mut outputs = vec![a.output.clone()];
            let mut conf = f64::NAN;
            if let (Some(p), Some(pr)) = (&probabilities, probs) {
                let mut c = ndarray::Array3::<f32>::zeros(lab.data.raw_dim());
                for q in &pr {
                    ndarray::Zip::from(&mut c)
                        .and(q)
                        .for_each(|a, &b| *a = a.max(b));
                }
                conf = c.iter().map(|&v| v as f64).sum();
                fibstack::io::write_volume(p, &fibstack::GreyVolume::from_f32(c, vol.voxel))?;
                outputs.push(p.clone());
                for (ph, q) in model.header.phases.iter().zip(pr) {
                    let f = class_path(p, ph.label);
                    fibstack::io::write_volume(&f, &fibstack::GreyVolume::from_f32(q, vol.voxel))?;
                    outputs.push(f);
                }
            }
            let mut counts = vec![0u64; 256];
            for &l in lab.data.iter() {
                counts[l as usize] += 1;
            }
            summarise(&counts, &model, lab.shape(), vol.voxel.nm, conf, outputs)
        }
    };
    if a.json {
        print_json(&summary)?;
    } else if !g.quiet {
        let fr: Vec<String> = summary
            .phases
            .iter()
            .map(|p| format!("{} ({}) {:.4}", p.label, p.name, p.fraction))
            .collect();
        println!(
            "classify: {}x{}x{} voxels -> {}; fractions {}",
            summary.shape[0],
            summary.shape[1],
            summary.shape[2],
            a.output.display(),
            fr.join(", ")
        );
    }
    Ok(())
}
