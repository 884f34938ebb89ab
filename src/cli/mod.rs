//! clap definitions and dispatch. Each subcommand lives in its own file with an `Args` struct and
//! a `run(args, &Global)` function.

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
pub enum Command {}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.global.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow::anyhow!("--threads {n}: {e}"))?;
    }
    match cli.command {}
}
