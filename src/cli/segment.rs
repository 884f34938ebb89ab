//! `fibstack segment IN OUT`: Otsu / multi-Otsu / manual thresholds → label volume.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use fibstack::segment::{segment_volume, Method, SegmentParams};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Otsu,
    Multiotsu,
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
    /// Classes for multi-Otsu.
    #[arg(long, default_value_t = 3)]
    pub classes: usize,
    /// Manual thresholds T1,T2,… (grey values, strictly increasing; class k: T_k < v ≤ T_k+1).
    #[arg(long, value_name = "T1,T2", allow_hyphen_values = true)]
    pub thresholds: Option<String>,
    /// Label value per class L0,L1,… (default 0,1,2,…).
    #[arg(long, value_name = "L0,L1,..")]
    pub labels: Option<String>,
    /// Report phase fractions with each threshold moved by ± this many grey values.
    #[arg(long, value_name = "DELTA")]
    pub sensitivity: Option<f64>,
    /// Histogram bins for float volumes (integer volumes use one bin per value).
    #[arg(long, default_value_t = 256)]
    pub nbins: usize,
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

pub fn run(a: SegmentArgs, g: &super::Global) -> Result<()> {
    let method = match a.method {
        MethodArg::Otsu => Method::Otsu,
        MethodArg::Multiotsu => Method::Multiotsu,
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
    let r = if let Some(mut rd) = a.read.open_stream(&a.input, g)? {
        // folder / TIFF: histogram pass (Otsu), then a labelling pass; bounded memory
        fibstack::stream::segment(&mut rd, &a.output, &p, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?
    } else {
        let vol = a.read.read(&a.input, g)?;
        let (labels, r) =
            segment_volume(&vol, &p).with_context(|| format!("{}", a.input.display()))?;
        drop(vol);
        fibstack::io::write_labels(&a.output, &labels)?;
        r
    };
    if a.json {
        return print_json(&r);
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
    println!("labels written to {}", a.output.display());
    Ok(())
}
