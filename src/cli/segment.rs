//! `fibstack segment IN OUT`: Otsu / multi-Otsu / ISO-50 / manual thresholds → label volume.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::segment::SegmentParams;
use fibstack::workflow::steps::filters::Segment;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// Input grey volume (TIFF, folder of slices, .npy, raw …).
    pub input: PathBuf,
    /// Output label volume (u8), format from the extension.
    pub output: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "segment"`.
    #[command(flatten)]
    pub step: Segment,
    /// Print only JSON (thresholds, fractions, sensitivity band) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The library parameters the flags describe (validated).
pub fn params(a: &SegmentArgs) -> Result<SegmentParams> {
    Ok(a.step.params()?)
}

pub fn run(a: SegmentArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let p = params(&a)?;
    let corr = a.step.corrections()?;
    corr.validate(&p)?;
    // the shine-through fit looks several slices deep and the rim correction needs the class
    // means first: both take the in-memory path
    let stream = if corr.shine.is_none() && corr.rim.is_none() {
        a.read.open_stream(&a.input, g)?
    } else {
        None
    };
    let mut rep = fibstack::segment::corrected::CorrectionReports::default();
    let r = if let Some(mut rd) = stream {
        // folder / TIFF: histogram pass (Otsu), then a labelling pass; bounded memory
        fibstack::stream::segment(&mut rd, &a.output, &p, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?
    } else {
        let vol = a.read.read(&a.input, g)?;
        let (labels, r, reports) = fibstack::segment::corrected::segment_corrected(&vol, &p, &corr)
            .with_context(|| format!("{}", a.input.display()))?;
        rep = reports;
        drop(vol);
        fibstack::io::write_labels(&a.output, &labels)?;
        r
    };
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        if let (Some(o), serde_json::Value::Object(e)) =
            (v.as_object_mut(), serde_json::to_value(&rep)?)
        {
            o.extend(e);
        }
        return print_json(&v);
    }
    println!(
        "{}: thresholds {:?} ({} histogram, {} bins)",
        r.method, r.thresholds, r.histogram_binning, r.histogram_bins
    );
    for (k, f) in r.phase_fractions.iter().enumerate() {
        let band = r
            .sensitivity
            .as_ref()
            .map(|s| {
                format!(
                    "  [{:.4} .. {:.4} at ±{}]",
                    s.fraction_band[k][0], s.fraction_band[k][1], s.delta
                )
            })
            .unwrap_or_default();
        println!(
            "  class {k} -> label {:>3}: fraction {f:.6}{band}",
            r.labels[k]
        );
    }
    if let Some(f) = &rep.shine_through {
        println!(
            "shine-through: pore level {:.2}, weights of slices behind {:?}; pore threshold raised by {:.2} on average (at most {:.2}); {} round(s), {}",
            f.pore_level, f.behind.iter().map(|b| (b * 1000.0).round() / 1000.0).collect::<Vec<_>>(), f.mean_shift, f.max_shift,
            f.rounds, if f.converged { "converged" } else { "stopped before the pore fraction settled" }
        );
        print_fraction_change(&f.fractions_before, &f.fractions_after, "the correction");
    }
    if let Some(rr) = &rep.rim_correction {
        println!(
            "rim correction: {} pixels of thin intermediate runs (at most {} px) reassigned",
            rr.reassigned, rr.max_run_px
        );
        for sp in &rr.splits {
            println!(
                "  between class {} and class {}: {} pixels, split at {:.2}",
                sp.lower_class, sp.upper_class, sp.pixels, sp.threshold
            );
        }
        print_fraction_change(
            &rr.fractions_before,
            &rr.fractions_after,
            "the rim correction",
        );
    }
    println!("labels written to {}", a.output.display());
    Ok(())
}

/// One line per class: its fraction before and after a correction.
fn print_fraction_change(before: &[f64], after: &[f64], what: &str) {
    for (k, (b, a)) in before.iter().zip(after).enumerate() {
        println!("  class {k}: fraction {b:.6} -> {a:.6} after {what}");
    }
}
