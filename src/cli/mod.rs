//! clap definitions and dispatch. Each subcommand lives in its own file with an `Args` struct and
//! a `run(args, &Global)` function.

pub mod align;
pub mod common;
pub mod connectivity;
pub mod convert;
pub mod denoise;
pub mod destripe;
pub mod geometry;
pub mod info;
pub mod pipeline;
pub mod porosity;
pub mod report;
pub mod run;
pub mod score;
pub mod segment;
pub mod sizes;
pub mod synth;
pub mod synth_stream;
pub mod tophat;
pub mod tortuosity;

use clap::{Args, Parser, Subcommand};

/// Options every command understands.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Worker threads (default: all cores). Results do not depend on this.
    #[arg(long, global = true)]
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
    }
}
