//! `fibstack align IN OUT`: drift alignment by sub-pixel phase correlation.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::align::Boundary;
use fibstack::workflow::steps::pre::{implied_thickness, AlignOutput, AlignStep};
use fibstack::workflow::Context;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct AlignArgs {
    /// Input stack: folder of slices, multi-page TIFF, .npy, .raw (with --raw), .vti.
    pub input: PathBuf,
    /// Output: .tif/.tiff, .npy, .vti, .raw, or a folder (no extension).
    pub output: PathBuf,
    #[command(flatten)]
    pub opts: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "align"`.
    #[command(flatten)]
    pub step: AlignStep,
    /// Same as `--refine false`: skip the second, window-following pass.
    #[arg(long, conflicts_with = "refine")]
    pub no_refine: bool,
    /// Same as `--boundary crop` (the default; `--crop` is the input crop).
    #[arg(long, conflicts_with_all = ["pad", "boundary"])]
    pub crop_common: bool,
    /// Same as `--boundary pad`: keep the full frame and fill uncovered pixels with --fill.
    #[arg(long, conflicts_with = "boundary")]
    pub pad: bool,
    /// Per-slice shifts CSV (default: alignment_shifts.csv beside OUT).
    #[arg(long, value_name = "PATH")]
    pub shifts_csv: Option<PathBuf>,
    /// Cumulative-drift plot, PNG or .svg (default: alignment_drift.png beside OUT).
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON on stdout (only JSON).
    #[arg(long)]
    pub json: bool,
}

impl AlignArgs {
    /// The workflow step with the same parameters (shorthands applied; the CSV and plot are
    /// written by the command at the paths it was given).
    pub fn step(&self) -> AlignStep {
        let mut s = self.step.clone();
        if self.no_refine {
            s.refine = false;
        }
        if self.pad {
            s.boundary = Boundary::Pad;
        }
        s.shifts_csv = String::new();
        s.plot = String::new();
        s
    }
}

fn beside(out: &Path, name: &str) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(name),
        _ => PathBuf::from(name),
    }
}

pub fn run(a: AlignArgs, g: &super::Global) -> Result<()> {
    let step = a.step();
    // parameter errors before reading anything
    let params = step.params()?;
    let bar = Bar::new(g.quiet);
    let csv = a
        .shifts_csv
        .clone()
        .unwrap_or_else(|| beside(&a.output, "alignment_shifts.csv"));
    let plot = a
        .plot
        .clone()
        .unwrap_or_else(|| beside(&a.output, "alignment_drift.png"));
    super::common::check_outputs(&[&a.input], &[&a.output], &[&csv, &plot])?;
    let out = if let Some(r) = a.opts.open_stream(&a.input, g)? {
        // folder / TIFF: pass 1 shifts from consecutive slices, pass 2 apply; bounded memory
        if let Some(roi) = params.corr.roi {
            roi.check(r.shape()[1], r.shape()[2])?;
        }
        let voxel = r.voxel();
        let (report, _) = fibstack::stream::align(r, &a.output, &params, &bar)
            .with_context(|| format!("aligning {}", a.input.display()))?;
        fibstack::report::align::write_shifts_csv(&csv, &report.slices)?;
        fibstack::report::align::write_drift_plot(&plot, &report.slices)?;
        AlignOutput {
            implied_slice_thickness: implied_thickness(&report, &voxel, step.theta_deg),
            report,
            shifts_csv: Some(csv.display().to_string()),
            plot: Some(plot.display().to_string()),
        }
    } else {
        let vol = a.opts.read(&a.input, g)?;
        let mut ctx = Context::new(PathBuf::new(), 0, &bar);
        ctx.grey = Some(vol);
        let step = AlignStep {
            shifts_csv: csv.display().to_string(),
            plot: plot.display().to_string(),
            ..step
        };
        let out = step
            .apply(&mut ctx)
            .with_context(|| format!("aligning {}", a.input.display()))?;
        let vol = ctx.grey.take().context("aligned volume")?;
        fibstack::io::write_volume(&a.output, &vol)?;
        out
    };
    if a.json {
        print_json(&out)?;
    } else {
        let r = &out.report;
        println!(
            "aligned {} slices ({}): output {}×{}×{}, crop region y0={} x0={} {}×{}",
            r.input_shape[0],
            r.method,
            r.output_shape[0],
            r.output_shape[1],
            r.output_shape[2],
            r.crop_region.y0,
            r.crop_region.x0,
            r.crop_region.height,
            r.crop_region.width
        );
        println!(
            "largest applied shift: dy {:.2} px, dx {:.2} px; trend {:.4} / {:.4} px per slice",
            r.max_abs_shift_px[0],
            r.max_abs_shift_px[1],
            r.trend_px_per_slice[0],
            r.trend_px_per_slice[1]
        );
        if r.n_flagged > 0 {
            println!(
                "{} slice(s) flagged for poor correlation: {:?}",
                r.n_flagged, r.flagged_slices
            );
        }
        if !r.replaced_slices.is_empty() {
            println!(
                "outlying flagged shifts replaced by their neighbours' median: slices {:?}",
                r.replaced_slices
            );
        }
        if let Some(t) = &out.implied_slice_thickness {
            println!(
                "slice thickness implied by the dy trend (θ = {}°): {:.2} nm (R² {:.3})",
                t.theta_deg, t.slice_thickness_nm, t.r_squared
            );
        }
        println!(
            "wrote {}, {}, {}",
            a.output.display(),
            csv.display(),
            plot.display()
        );
    }
    Ok(())
}
