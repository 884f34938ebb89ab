//! clap definitions and dispatch. Each subcommand lives in its own file with an `Args` struct and
//! a `run(args, &Global)` function.

pub mod common;
pub mod connectivity;
pub mod convert;
pub mod info;
pub mod porosity;
pub mod run;
pub mod sizes;
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
    /// Phase fractions, profiles along axes, deposit detection, windowed statistics, REV curve.
    Porosity(porosity::PorosityArgs),
    /// Connected components, percolation, Euler characteristic, pore-region graph.
    Connectivity(connectivity::ConnectivityArgs),
    /// Local thickness, particles and specific surface area of one phase.
    Sizes(sizes::SizesArgs),
    /// Tortuosity factor of one phase: random walk (rw), steady-state diffusion (fd) or both.
    Tortuosity(tortuosity::TortuosityArgs),
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
        Command::Porosity(a) => porosity::run(a, g),
        Command::Connectivity(a) => connectivity::run(a, g),
        Command::Sizes(a) => sizes::run(a, g),
        Command::Tortuosity(a) => tortuosity::run(a, g),
    }
}
