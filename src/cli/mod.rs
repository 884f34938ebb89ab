//! clap definitions and dispatch. Each subcommand lives in its own file with an `Args` struct and
//! a `run(args, &Global)` function.

pub mod align;
pub mod classify;
pub mod common;
pub mod connectivity;
pub mod convert;
#[cfg(test)]
mod defaults_tests;
pub mod denoise;
pub mod destripe;
pub mod geometry;
pub mod info;
pub mod pipeline;
pub mod porosity;
pub mod reference;
pub mod report;
pub mod run;
pub mod score;
pub mod segment;
pub mod sizes;
pub mod synth;
pub mod synth_stream;
pub mod tophat;
pub mod tortuosity;
pub mod train;

use clap::{Args, Parser, Subcommand};

/// A command-line mistake (bad value, missing or unknown flag) as one line in the style of the
/// other errors: clap's message, its tip, and where to read the usage.
pub fn one_line_usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    let mut usage = None;
    let mut first_paragraph = true;
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() {
            first_paragraph = false;
            continue;
        }
        if let Some(u) = l.strip_prefix("Usage: ") {
            usage = Some(u.to_string());
        } else if first_paragraph {
            parts.push(l.trim_start_matches("error: ").to_string());
        } else if let Some(t) = l.strip_prefix("tip: ") {
            parts.push(format!("({t})"));
        }
    }
    let mut msg = parts.join(" ");
    msg = msg.replace(": (", " (");
    let cmd = usage
        .as_deref()
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with('-') && !w.starts_with('<') && !w.starts_with('['))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| {
            // the subcommand the user typed, if any
            use clap::CommandFactory;
            let names: Vec<String> = Cli::command()
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            match std::env::args().skip(1).find(|a| names.contains(a)) {
                Some(sub) => format!("fibstack {sub}"),
                None => "fibstack".to_string(),
            }
        });
    match &usage {
        Some(u) => format!("{msg}; usage: {u} (see `{cmd} --help`)"),
        None => format!("{msg} (see `{cmd} --help`)"),
    }
}

/// `--threads N`: a whole number of threads, at least 1.
fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n as usize),
        Ok(n) => Err(format!(
            "{n} threads: give a whole number from 1 to 4096 (omit --threads to use all cores)"
        )),
        Err(_) => Err(format!(
            "{s:?} is not a whole number of threads: give 1 to 4096 (omit --threads to use all cores)"
        )),
    }
}

/// Options every command understands.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Worker threads (default: all cores). Results do not depend on this.
    #[arg(long, global = true, value_parser = parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// No progress bars or notes on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "fibstack",
    version,
    about = "FIB-SEM serial-section stacks to 3D microstructure numbers"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Dimensions, sample type, voxel size and its source, metadata, statistics.
    Info(info::InfoArgs),
    /// Convert between formats (TIFF, folder, npy, raw, vti, png views), crop, pick slices.
    Convert(convert::ConvertArgs),
    /// Run a workflow file.
    Run(run::RunArgs),
    /// Rebuild the HTML report of a results folder (no recomputation).
    Report(report::ReportArgs),
    /// Phase fractions, profiles along axes, deposit detection, windowed statistics, REV curve.
    Porosity(porosity::PorosityArgs),
    /// Connected components, percolation, Euler characteristic, pore-region graph.
    Connectivity(connectivity::ConnectivityArgs),
    /// Local thickness, particles and specific surface area of one phase.
    Sizes(sizes::SizesArgs),
    /// Simulate a FIB-SEM acquisition with exact ground truth (presets or your own labels).
    Synth(Box<synth::SynthArgs>),
    /// Drift alignment by sub-pixel phase correlation (shifts CSV + drift plot).
    Align(align::AlignArgs),
    /// 52° cross-section geometry: y-stretch by 1/sin θ and y–z shear correction.
    Geometry(geometry::GeometryArgs),
    /// Remove curtaining (vertical stripes): VSNR, FFT wedge, wavelet–FFT or stack profiles,
    /// optionally in the material only (`--score` measures the result).
    Destripe(destripe::DestripeArgs),
    /// Score a destriped image or stack against its input: curtain energy left in the material,
    /// stripes added to the pores, horizontal structure kept.
    DestripeScore(destripe::DestripeScoreArgs),
    /// Add the simulator's physical curtains to a real image or stack (material only,
    /// multiplicative), to test a destriping where the stripe-free image is known.
    SynthCurtains(synth::SynthCurtainsArgs),
    /// Gaussian smoothing with σ in nm (2-D per slice or 3-D).
    Denoise(denoise::DenoiseArgs),
    /// White/black top-hat with a disk or ball of radius in nm (background removal).
    Tophat(tophat::TophatArgs),
    /// Threshold into phase labels: Otsu, multi-Otsu or manual, with a sensitivity band.
    Segment(segment::SegmentArgs),
    /// Tortuosity factor of one phase: random walk (rw), steady-state diffusion (fd) or both.
    Tortuosity(tortuosity::TortuosityArgs),
    /// Per-phase Dice and accuracy of a segmentation against reference or simulator-truth labels.
    Score(score::ScoreArgs),
    /// Out-of-core chain on a folder of slices: filters and threshold streamed into a bit-packed
    /// mask, then porosity, its z-profile, percolation and random-walk τ (JSON with units).
    Pipeline(pipeline::PipelineArgs),
    /// A large simulator stack written slice by slice (never whole in memory).
    SynthStream(synth_stream::SynthStreamArgs),
    /// Train a random-forest voxel classifier from painted labels or a mapped simulator truth.
    Train(Box<train::TrainArgs>),
    /// Classify a grey stack with a trained model (labels, optional probability maps).
    Classify(classify::ClassifyArgs),
    /// Write the manual's command-line reference (docs/src/reference/cli.md) from these
    /// definitions.
    #[command(hide = true)]
    Reference(reference::ReferenceArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.global.threads {
        if n == 0 {
            anyhow::bail!("--threads 0: give at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow::anyhow!("--threads {n}: {e}"))?;
    }
    let g = &cli.global;
    match cli.command {
        Command::Info(a) => info::run(a, g),
        Command::Convert(a) => convert::run(a, g),
        Command::Run(a) => run::run(a, g),
        Command::Report(a) => report::run(a, g),
        Command::Porosity(a) => porosity::run(a, g),
        Command::Connectivity(a) => connectivity::run(a, g),
        Command::Sizes(a) => sizes::run(a, g),
        Command::Synth(a) => synth::run(*a, g),
        Command::Align(a) => align::run(a, g),
        Command::Geometry(a) => geometry::run(a, g),
        Command::Destripe(a) => destripe::run(a, g),
        Command::DestripeScore(a) => destripe::run_score(a, g),
        Command::SynthCurtains(a) => synth::run_curtains(a, g),
        Command::Denoise(a) => denoise::run(a, g),
        Command::Tophat(a) => tophat::run(a, g),
        Command::Segment(a) => segment::run(a, g),
        Command::Tortuosity(a) => tortuosity::run(a, g),
        Command::Score(a) => score::run(a, g),
        Command::Pipeline(a) => pipeline::run(a, g),
        Command::SynthStream(a) => synth_stream::run(a, g),
        Command::Train(a) => train::run(*a, g),
        Command::Classify(a) => classify::run(a, g),
        Command::Reference(a) => reference::run(a, g),
    }
}
