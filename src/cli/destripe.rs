//! `fibstack destripe IN OUT`: removal of curtaining (VSNR, FFT wedge, wavelet–FFT, stack
//! column profiles), optionally in the material only; `--score` / `fibstack destripe-score RAW
//! OUT` measure the result on the user's own slices.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::destripe::score::{score_stack, DestripeScore, ScoreParams};
use fibstack::preprocess::destripe::{destripe_volume_progress, DestripeMethod, DestripeParams};
use fibstack::volume::SampleType;
use fibstack::workflow::steps::filters::Destripe;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DestripeArgs {
    /// Input grey volume or single image (TIFF, folder of slices, .npy, raw …).
    pub input: PathBuf,
    /// Output (format from the extension; no extension = folder of slices).
    pub output: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "destripe"`.
    #[command(flatten)]
    pub step: Destripe,
    /// Also score the result against the input (column-mean high-pass energy in the material
    /// and in the pores, row-mean energy kept; see `fibstack destripe-score`).
    #[arg(long)]
    pub score: bool,
    #[command(flatten)]
    pub score_params: ScoreParams,
    /// Write 32-bit float (default: the input's sample type, rounded and clamped).
    #[arg(long)]
    pub f32: bool,
    /// Print only JSON (removed energy per slice) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `fibstack destripe-score RAW OUT`: score a destriped image or stack against its input.
#[derive(Debug, Args)]
pub struct DestripeScoreArgs {
    /// The raw (curtained) input.
    pub raw: PathBuf,
    /// The destriped result of the same shape (from any tool).
    pub destriped: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    #[command(flatten)]
    pub score: ScoreParams,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run_score(a: DestripeScoreArgs, g: &super::Global) -> Result<()> {
    a.score.validate()?;
    let raw = a.read.read(&a.raw, g)?;
    let out = a.read.read(&a.destriped, g)?;
    let s = score_stack(&raw.data, &out.data, &a.score)
        .with_context(|| format!("{} against {}", a.destriped.display(), a.raw.display()))?;
    if a.json {
        return print_json(&s);
    }
    print_score(&s);
    Ok(())
}

fn ratio(r: Option<f64>) -> String {
    r.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}

fn print_score(s: &DestripeScore) {
    println!(
        "score over {} slice(s) (window {} px, mask: smoothed raw > {}): material column-profile energy ratio {} (reduction {}), pores {} (must not exceed 1), row profile kept {}",
        s.slices.len(),
        s.params.window_px,
        s.params
            .threshold
            .map(|t| format!("{t}"))
            .unwrap_or_else(|| format!(
                "Otsu ({})",
                s.slices
                    .first()
                    .and_then(|x| x.threshold)
                    .map(|t| format!("{t:.1}"))
                    .unwrap_or_else(|| "none: flat slice".into())
            )),
        ratio(s.material.ratio),
        s.material_reduction
            .map(|v| format!("{:.1} %", 100.0 * v))
            .unwrap_or_else(|| "n/a".into()),
        ratio(s.pore.ratio),
        ratio(s.rows.ratio),
    );
}

/// The library parameters the flags describe (validated).
pub fn params(a: &DestripeArgs) -> Result<DestripeParams> {
    Ok(a.step.params()?)
}

pub fn run(a: DestripeArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let p = params(&a)?;
    if a.score {
        a.score_params.validate()?;
    }
    let score = a.score.then_some(&a.score_params);
    let (rep, sc) = if let Some(mut r) = a.read.open_stream(&a.input, g)? {
        // folder / TIFF: slice by slice, bounded memory
        let st = if a.f32 {
            SampleType::F32
        } else {
            r.sample_type()
        };
        fibstack::stream::destripe_scored(&mut r, &a.output, &p, st, score, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?
    } else {
        let vol = a.read.read(&a.input, g)?;
        let st = if a.f32 {
            SampleType::F32
        } else {
            vol.sample_type()
        };
        let (out, rep) = destripe_volume_progress(&vol, &p, st, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?;
        let sc = match score {
            Some(sp) => Some(score_stack(&vol.data, &out.data, sp)?),
            None => None,
        };
        drop(vol);
        fibstack::io::write_volume(&a.output, &out)?;
        (rep, sc)
    };
    if p.method == DestripeMethod::Stack && rep.removed_energy_fraction.len() == 1 && !g.quiet {
        eprintln!(
            "note: {}: one slice, so the stack method had no neighbours to average and removed the whole narrow part of the column profile, structure included; for single images the wedge (default) is the better choice",
            a.input.display()
        );
    }
    if a.json {
        return match sc {
            Some(s) => print_json(&serde_json::json!({ "destripe": rep, "score": s })),
            None => print_json(&rep),
        };
    }
    let what = if p.method == DestripeMethod::Wedge && !p.material_aware {
        "of the non-DC spectral energy"
    } else {
        "of the variance"
    };
    println!(
        "destripe ({}): {} slice(s), removed {:.2} % {what} on average (min {:.2} %, max {:.2} %) -> {}",
        rep.method,
        rep.removed_energy_fraction.len(),
        100.0 * rep.mean_removed_energy_fraction,
        100.0 * rep.removed_energy_fraction.iter().cloned().fold(f64::INFINITY, f64::min),
        100.0 * rep.removed_energy_fraction.iter().cloned().fold(0.0, f64::max),
        a.output.display()
    );
    if let Some(s) = sc {
        print_score(&s);
    }
    Ok(())
}
