//! clap definitions and dispatch. Each subcommand lives in its own file with an `Args` struct and
//! a `run(args, &Global)` function.

pub mod common;
pub mod convert;
pub mod info;
pub mod run;
pub mod synth;

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
    /// Simulate a FIB-SEM acquisition with exact ground truth (presets or your own labels).
    Synth(Box<synth::SynthArgs>),
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
        Command::Synth(a) => synth::run(*a, g),
    }
}
