//! `fibstack tortuosity LABELS`: tortuosity factor of one phase by random walk and/or steady-state
//! diffusion (methods §7).

use super::common::{print_json, Bar, InputOpts};
use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use fibstack::metrics::tortuosity::random_walk::{tortuosity_rw, RandomWalkOptions};
use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, Boundary, SteadyStateOptions};
use fibstack::metrics::tortuosity::{parse_axis, TortuosityResult};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Random walk (lattice blind ant, mirror boundaries).
    Rw,
    /// Steady-state diffusion (finite volumes, PCG + multigrid).
    Fd,
    /// Both, with their relative difference.
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BoundaryArg {
    /// TauFactor: Dirichlet planes half a voxel outside the image, L = n·d, ε total.
    HalfVoxel,
    /// PoreSpy: first/last layer fixed, L = (n−1)·d, ε of the percolating part.
    FixedLayers,
}

#[derive(Debug, Args)]
pub struct TortuosityArgs {
    /// Label volume (TIFF, folder, .npy, .raw with --raw, .vti).
    pub labels: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// Method: rw (random walk), fd (steady-state diffusion) or both.
    #[arg(long, value_enum, default_value_t = Method::Fd)]
    pub method: Method,
    /// Transport axis: x, y, z or all (z = slice index).
    #[arg(long, default_value = "all")]
    pub axis: String,
    /// Label value of the phase to measure (e.g. 0 = pore), or a phase name (see --phases).
    #[arg(long)]
    pub phase: fibstack::volume::PhaseRef,
    /// Random walk: seed (results do not depend on --threads).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Random walk: number of walkers (default 2/precision²).
    #[arg(long)]
    pub walkers: Option<u64>,
    /// Random walk: fixed number of steps per walker (default: automatic length).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Random walk: target relative precision of the MSD.
    #[arg(allow_negative_numbers = true, long, default_value_t = 0.01)]
    pub precision: f64,
    /// Random walk: longest automatic walk in steps.
    #[arg(long, default_value_t = 1 << 21)]
    pub max_steps: u64,
    /// Steady state: relative residual tolerance.
    #[arg(allow_negative_numbers = true, long, default_value_t = 1e-5)]
    pub tol: f64,
    /// Steady state: maximum iterations.
    #[arg(long, default_value_t = 1000)]
    pub max_iter: usize,
    /// Steady state: boundary convention.
    #[arg(long, value_enum, default_value_t = BoundaryArg::HalfVoxel)]
    pub boundary: BoundaryArg,
    /// Random walk: write the MSD curve as CSV here.
    #[arg(long, value_name = "PATH")]
    pub msd_csv: Option<PathBuf>,
    /// Random walk: write a PNG plot of the MSD curve here.
    #[arg(long, value_name = "PATH")]
    pub msd_png: Option<PathBuf>,
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

fn axes_of(s: &str) -> Result<Vec<usize>> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(vec![0, 1, 2]);
    }
    let mut v = Vec::new();
    for p in s.split(',') {
        let a = parse_axis(p)?;
        if !v.contains(&a) {
            v.push(a);
        }
    }
    Ok(v)
}

pub fn run(a: TortuosityArgs, g: &super::Global) -> Result<()> {
    let outs: Vec<&std::path::Path> = [&a.msd_csv, &a.msd_png]
        .into_iter()
        .filter_map(|o| o.as_deref())
        .collect();
    super::common::check_outputs(&[&a.labels], &[], &outs)?;
    let axes = axes_of(&a.axis)?;
    let fd_opts = SteadyStateOptions {
        boundary: match a.boundary {
            BoundaryArg::HalfVoxel => Boundary::HalfVoxel,
            BoundaryArg::FixedLayers => Boundary::FixedLayers,
        },
        rtol: a.tol,
        max_iter: a.max_iter,
        ..Default::default()
    };
    let rw_opts = RandomWalkOptions {
        seed: a.seed,
        walkers: a.walkers,
        steps: a.steps,
        precision: a.precision,
        max_steps: a.max_steps,
        ..Default::default()
    };
    let do_fd = a.method != Method::Rw;
    let do_rw = a.method != Method::Fd;
    // check parameters before reading (reading can take long)
    if do_fd {
        fd_opts.validate()?;
    }
    if do_rw {
        rw_opts.validate()?;
    } else if a.msd_csv.is_some() || a.msd_png.is_some() {
        bail!("--msd-csv/--msd-png need the random walk: use --method rw or both");
    }
    let (vol, phase) =
        a.input
            .read_metric_labels_for(&a.labels, g, a.allow_uncalibrated, &a.phase, &[])?;
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
                        fibstack::metrics::tortuosity::AXIS_NAMES[ax]
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
        if let Some(p) = &a.msd_csv {
            fibstack::io::atomic::write_bytes(p, out.msd.to_csv().as_bytes())?;
        }
        if let Some(p) = &a.msd_png {
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
