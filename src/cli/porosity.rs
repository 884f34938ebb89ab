//! `fibstack porosity LABELS`: phase fractions, profiles, deposit, windows, REV curve.

use super::common::{print_json, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::metrics::porosity::{porosity_report_progress, write_profiles_csv};
use fibstack::workflow::steps::metrics::{write_csv_file, PorosityStep};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PorosityArgs {
    /// Label volume (TIFF, folder, .npy, raw …); values 0..=255.
    pub labels: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "porosity"`.
    #[command(flatten)]
    pub step: PorosityStep,
    /// Write the profiles as one tidy CSV: a row per slice and phase (`axis, index, position_nm,
    /// label, phase_name, voxels, fraction`), every profile axis in the same file.
    #[arg(long, value_name = "PATH")]
    pub profile_csv: Option<PathBuf>,
    /// Write every window's fraction as CSV (needs --window).
    #[arg(long, value_name = "PATH")]
    pub windows_csv: Option<PathBuf>,
    /// Write the representative-volume curve as CSV.
    #[arg(long, value_name = "PATH")]
    pub rev_csv: Option<PathBuf>,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Measure an uncalibrated volume in voxels (1 x 1 x 1) instead of refusing it.
    #[arg(long)]
    pub allow_uncalibrated: bool,
}

pub fn run(args: PorosityArgs, g: &super::Global) -> Result<()> {
    let csvs: Vec<&std::path::Path> = [&args.profile_csv, &args.windows_csv, &args.rev_csv]
        .into_iter()
        .filter_map(|o| o.as_deref())
        .collect();
    super::common::check_outputs(&[&args.labels], &[], &csvs)?;
    let mut opts = args.step.options(0)?;
    if args.windows_csv.is_some() && args.step.window_nm.is_none() {
        anyhow::bail!("--windows-csv needs --window NM (the window edge)");
    }
    let wanted: Vec<(&'static str, u8)> = args
        .step
        .collector
        .map(|c| ("collector", c))
        .into_iter()
        .collect();
    let (l, phase) = args.input.read_metric_labels_for(
        &args.labels,
        g,
        args.allow_uncalibrated,
        &args.step.phase,
        &wanted,
    )?;
    opts.phase = phase;
    let r = porosity_report_progress(l.view(), &l.voxel, &opts, &super::common::Bar::new(g.quiet))
        .with_context(|| format!("{}", args.labels.display()))?;
    if let Some(p) = &args.profile_csv {
        write_csv_file(p, |w| {
            write_profiles_csv(&r.profile_tables, &l.meta.phase_names, w)
        })?;
    }
    if let (Some(p), Some(c)) = (&args.rev_csv, &r.rev_curve) {
        write_csv_file(p, |w| c.write_csv(w))?;
    }
    if let (Some(p), Some(ws)) = (&args.windows_csv, &r.windows) {
        write_csv_file(p, |w| ws.write_csv(w))?;
    }
    if !g.quiet {
        if let Some(n) = &r.note {
            eprintln!("note: {n}");
        }
    }
    if args.json {
        return print_json(&r);
    }
    let u = &r.length_unit;
    println!(
        "phase {}: porosity {:.6} (volume fraction)   voxel {:?} nm{}",
        r.phase,
        r.porosity.value,
        r.voxel_size_nm,
        if r.voxel_calibrated {
            ""
        } else {
            " (uncalibrated)"
        }
    );
    println!(
        "label      voxels    fraction   volume ({})",
        r.phases.volume_unit
    );
    for p in &r.phases.phases {
        println!(
            "{:>5} {:>11} {:>11.6}   {:.6e}",
            p.label, p.count, p.fraction, p.volume
        );
    }
    for p in &r.profiles {
        println!(
            "profile {}: {} slices of {} {u}; phase fraction min {:.4} mean {:.4} max {:.4} std {:.4}",
            p.axis.name(),
            p.n_slices,
            p.slice_thickness,
            p.stats.min,
            p.stats.mean,
            p.stats.max,
            p.stats.std
        );
    }
    for d in &r.deposits {
        match &d.deposit {
            Some(x) => println!(
                "deposit along {}: bottom {} {u}, top {} {u}, thickness {} {u}, mean porosity {:.4} (threshold {:.3})",
                d.axis.name(), x.bottom, x.top, x.thickness, x.mean_porosity, x.threshold
            ),
            None => println!("deposit along {}: none (no solid found)", d.axis.name()),
        }
    }
    if let Some(w) = &r.windows {
        println!(
            "windows {:?} voxels: n {} mean {:.4} std {:.4} min {:.4} max {:.4}",
            w.window_voxels, w.stats.n, w.stats.mean, w.stats.std, w.stats.min, w.stats.max
        );
    }
    if let Some(c) = &r.rev_curve {
        println!("REV curve (edge {u}: mean ± std [n]):");
        for p in &c.points {
            println!(
                "  {:>12.4}: {:.4} ± {:.4} [{}]",
                p.edge, p.stats.mean, p.stats.std, p.stats.n
            );
        }
    }
    Ok(())
}
