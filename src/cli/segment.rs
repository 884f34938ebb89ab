//! `fibstack segment IN OUT`: Otsu / multi-Otsu / ISO-50 / manual thresholds → label volume.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use fibstack::segment::{Method, SegmentParams};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Otsu,
    Multiotsu,
    /// Halfway between adjacent phases' histogram peaks (area-preserving on blurred edges).
    Iso50,
    Manual,
}

#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// Input grey volume (TIFF, folder of slices, .npy, raw …).
    pub input: PathBuf,
    /// Output label volume (u8), format from the extension.
    pub output: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// Threshold method.
    #[arg(long, value_enum, default_value_t = MethodArg::Otsu)]
    pub method: MethodArg,
    /// Classes for multi-Otsu and ISO-50.
    #[arg(long, default_value_t = 3)]
    pub classes: usize,
    /// Manual thresholds T1,T2,… (grey values, strictly increasing; class k: T_k < v ≤ T_k+1).
    #[arg(long, value_name = "T1,T2", allow_hyphen_values = true)]
    pub thresholds: Option<String>,
    /// Label value per class L0,L1,… (default 0,1,2,…).
    #[arg(long, value_name = "L0,L1,..")]
    pub labels: Option<String>,
    /// Report phase fractions with each threshold moved by ± this many grey values.
    #[arg(allow_negative_numbers = true, long, value_name = "DELTA")]
    pub sensitivity: Option<f64>,
    /// Histogram bins for float volumes (integer volumes use one bin per value).
    #[arg(long, default_value_t = 256)]
    pub nbins: usize,
    /// Correct the pore threshold for shine-through, fitted on the stack (slices in milling order,
    /// aligned): pore pixels in front of solid a few slices deeper read brighter.
    #[arg(long)]
    pub shine_through: bool,
    /// Shine-through: slices behind the face in the model [default: 4].
    #[arg(long, value_name = "N", requires = "shine_through")]
    pub shine_depth: Option<usize>,
    /// Shine-through: in-plane blur σ in pixels [default: 1.5].
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "PX",
        requires = "shine_through"
    )]
    pub shine_sigma_px: Option<f64>,
    /// Shine-through: most fit → reclassify rounds, 1–10 [default: 2]; they stop early once the
    /// pore fraction changes by less than 1e-4.
    #[arg(long, value_name = "K", requires = "shine_through")]
    pub shine_iterations: Option<usize>,
    /// Reassign thin rims of an intermediate phase at dark/bright edges (3+ classes): a run of
    /// at most --rim-max-run-px pixels between a darker and a brighter class is split at the
    /// midpoint of their class means. Applied after --shine-through.
    #[arg(long)]
    pub rim_correction: bool,
    /// Rim correction: longest run (pixels along a row or column) taken as an edge [default: 2].
    #[arg(long, value_name = "PX", requires = "rim_correction")]
    pub rim_max_run_px: Option<usize>,
    /// Print only JSON (thresholds, fractions, sensitivity band) on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_list<T: std::str::FromStr>(flag: &str, s: &str) -> Result<Vec<T>> {
    s.split(',')
        .map(|p| p.trim().parse::<T>())
        .collect::<Result<Vec<T>, _>>()
        .map_err(|_| anyhow::anyhow!("{flag} {s:?}: expected comma-separated numbers"))
}

/// The library parameters the flags describe (validated).
pub fn params(a: &SegmentArgs) -> Result<SegmentParams> {
    let method = match a.method {
        MethodArg::Otsu => Method::Otsu,
        MethodArg::Multiotsu => Method::Multiotsu,
        MethodArg::Iso50 => Method::Iso50,
        MethodArg::Manual => Method::Manual,
    };
    let thresholds = match &a.thresholds {
        Some(t) => parse_list::<f64>("--thresholds", t)?,
        None => Vec::new(),
    };
    if method != Method::Manual && !thresholds.is_empty() {
        bail!("--thresholds is only used with --method manual");
    }
    let p = SegmentParams {
        method,
        classes: if method == Method::Otsu { 2 } else { a.classes },
        thresholds,
        labels: a
            .labels
            .as_deref()
            .map(|l| parse_list::<u8>("--labels", l))
            .transpose()
            .context("--labels: values 0..=255")?,
        sensitivity: a.sensitivity.unwrap_or(0.0),
        nbins: a.nbins,
    };
    p.validate()?;
    Ok(p)
}

pub fn run(a: SegmentArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let p = params(&a)?;
    let shine = a.shine_through.then(|| {
        let d = fibstack::segment::shine::ShineParams::default();
        fibstack::segment::shine::ShineParams {
            depth: a.shine_depth.unwrap_or(d.depth),
            sigma_px: a.shine_sigma_px.unwrap_or(d.sigma_px),
            iterations: a.shine_iterations.unwrap_or(d.iterations),
        }
    });
    if let Some(sp) = &shine {
        sp.validate()?;
    }
    let rim = a.rim_correction.then(|| fibstack::segment::rim::RimParams {
        max_run_px: a
            .rim_max_run_px
            .unwrap_or(fibstack::segment::rim::RimParams::default().max_run_px),
    });
    fibstack::segment::corrected::Corrections { shine, rim }.validate(&p)?;
    // the shine-through fit looks several slices deep and the rim correction needs the class
    // means first: both take the in-memory path
    let stream = if shine.is_none() && rim.is_none() {
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
        let corr = fibstack::segment::corrected::Corrections { shine, rim };
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
