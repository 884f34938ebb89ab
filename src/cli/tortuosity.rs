//! `fibstack tortuosity LABELS`: tortuosity factor of one phase by random walk and/or steady-state
//! diffusion (methods §7).

use super::common::{print_json, Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::metrics::tortuosity::random_walk::{tortuosity_rw, RandomWalkOptions};
use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, SteadyStateOptions};
use fibstack::metrics::tortuosity::TortuosityResult;
use fibstack::volume::Axis;
use fibstack::workflow::steps::tort::Tortuosity;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct TortuosityArgs {
    /// Label volume (TIFF, folder, .npy, .raw with --raw, .vti).
    pub labels: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "tortuosity"`.
    #[command(flatten)]
    pub step: Tortuosity,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Measure an uncalibrated volume in voxels (1 x 1 x 1) instead of refusing it.
    #[arg(long)]
    pub allow_uncalibrated: bool,
}

/// `--method both`: the two estimates of one axis and their relative difference (rw − fd)/fd.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub axis: String,
    pub fd: Option<f64>,
    pub rw: Option<f64>,
    pub relative_difference: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub input: PathBuf,
    /// `[nz, ny, nx]`.
    pub shape: [usize; 3],
    pub phase: u8,
    pub voxel_size_nm: [f64; 3],
    pub voxel_calibrated: bool,
    /// Unit of the voxel size: `"nm"`, or `"voxel"` when measured uncalibrated.
    pub length_unit: String,
    pub results: Vec<TortuosityResult>,
    pub comparison: Vec<Comparison>,
}

/// The solver and walk options the flags describe (not validated): the random walk's seed is 0
/// unless `--seed` is given.
pub fn options(a: &TortuosityArgs) -> (SteadyStateOptions, RandomWalkOptions) {
    (a.step.fd_opts(), a.step.rw_opts(0))
}

pub fn run(a: TortuosityArgs, g: &super::Global) -> Result<()> {
    let st = &a.step;
    let msd_csv = st.msd_csv.as_deref().map(PathBuf::from);
    let msd_png = st.msd_png.as_deref().map(PathBuf::from);
    let outs: Vec<&Path> = [&msd_csv, &msd_png]
        .into_iter()
        .filter_map(|o| o.as_deref())
        .collect();
    super::common::check_outputs(&[&a.labels], &[], &outs)?;
    // check parameters before reading (reading can take long)
    st.check_params()?;
    let axes = st.axes()?;
    let (fd_opts, rw_opts) = options(&a);
    let (do_fd, do_rw) = st.methods();
    let (vol, phase) =
        a.input
            .read_metric_labels_for(&a.labels, g, a.allow_uncalibrated, &st.phase, &[])?;
    let file = a.labels.display();
    let bar = Bar::new(g.quiet);
    let mut results = Vec::new();
    let mut fd_res = Vec::new();
    if do_fd {
        for &ax in &axes {
            let r = tortuosity_fd(vol.view(), phase, vol.voxel.nm, ax, &fd_opts, &bar)
                .with_context(|| {
                    format!(
                        "{file}: steady-state tortuosity along {}",
                        Axis::ALL[ax].name()
                    )
                })?;
            fd_res.push(r.clone());
            results.push(r);
        }
    }
    let mut rw_res = Vec::new();
    if do_rw {
        let out = tortuosity_rw(vol.view(), phase, vol.voxel.nm, &axes, &rw_opts, &bar)
            .with_context(|| format!("{file}: random-walk tortuosity"))?;
        if let Some(p) = &msd_csv {
            fibstack::io::atomic::write_bytes(p, out.msd.to_csv().as_bytes())?;
        }
        if let Some(p) = &msd_png {
            fibstack::report::figures::msd_plot(&out.msd).write_png(p, 800, 500)?;
        }
        rw_res = out.results.clone();
        results.extend(out.results);
    }
    let mut comparison = Vec::new();
    if do_fd && do_rw {
        for (f, r) in fd_res.iter().zip(&rw_res) {
            let rel = match (f.tortuosity_factor, r.tortuosity_factor) {
                (Some(x), Some(y)) => Some((y - x) / x),
                _ => None,
            };
            comparison.push(Comparison {
                axis: f.axis.clone(),
                fd: f.tortuosity_factor,
                rw: r.tortuosity_factor,
                relative_difference: rel,
            });
        }
    }
    let report = Report {
        input: a.labels.clone(),
        shape: vol.shape(),
        phase,
        voxel_size_nm: vol.voxel.nm,
        voxel_calibrated: vol.voxel.is_calibrated(),
        length_unit: if vol.voxel.is_calibrated() {
            "nm"
        } else {
            "voxel"
        }
        .into(),
        results,
        comparison,
    };
    // doubtful values are said loudly, also with --json and --quiet
    for r in &report.results {
        for w in &r.warnings {
            eprintln!("warning: {}: {w}", report.input.display());
        }
    }
    if a.json {
        return print_json(&report);
    }
    let fmt = |v: Option<f64>| v.map_or("inf".to_string(), |t| format!("{t:.4}"));
    println!(
        "tortuosity of phase {} in {} (shape {:?}, voxel {:?} {})",
        report.phase,
        report.input.display(),
        report.shape,
        report.voxel_size_nm,
        if report.voxel_calibrated {
            "nm"
        } else {
            "(uncalibrated: 1 x 1 x 1 voxels)"
        }
    );
    for r in &report.results {
        let ci = match (r.ci_low, r.ci_high) {
            (Some(lo), hi) => format!(
                " [{:.0}% CI {lo:.4} .. {}]",
                r.ci_level.unwrap_or(0.95) * 100.0,
                fmt(hi)
            ),
            _ => String::new(),
        };
        let extra = match r.method.as_str() {
            "random_walk" => format!(
                "walkers {} steps {}",
                r.walkers.unwrap_or(0),
                r.steps.unwrap_or(0)
            ),
            _ => format!(
                "iterations {} residual {:.1e} flux spread {:.1e}",
                r.iterations.unwrap_or(0),
                r.relative_residual.unwrap_or(0.0),
                r.flux_variation.unwrap_or(0.0)
            ),
        };
        println!(
            "  {:<15} axis {}: tau = {}{ci}, D_eff/D0 = {:.4}, MacMullin = {}, eps total {:.4} percolating {:.4} ({} used), {}, {}converged, {:.1} s",
            r.method,
            r.axis,
            fmt(r.tortuosity_factor),
            r.deff_over_d0,
            fmt(r.macmullin),
            r.porosity_total,
            r.porosity_percolating,
            r.porosity_used,
            extra,
            if r.converged { "" } else { "NOT " },
            r.time_s
        );
        for n in &r.notes {
            println!("    note: {n}");
        }
    }
    for c in &report.comparison {
        println!(
            "  axis {}: rw vs fd relative difference {}",
            c.axis,
            c.relative_difference
                .map_or("n/a".to_string(), |d| format!("{:+.2}%", d * 100.0))
        );
    }
    Ok(())
}
