//! `fibstack run WORKFLOW.toml`: validate the whole file, then run it.

use super::common::{print_json, Bar};
use anyhow::Result;
use clap::Args;
use fibstack::workflow::schema::Workflow;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    /// Output folder (overrides the file's `output`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only validate the file; do no work.
    #[arg(long)]
    pub check: bool,
    /// Print the results (results.json) on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: RunArgs, g: &super::Global) -> Result<()> {
    let wf = Workflow::load(&a.workflow)?;
    if a.check {
        if !g.quiet {
            eprintln!(
                "{}: valid ({} steps: {})",
                a.workflow.display(),
                wf.steps.len(),
                wf.names.join(" → ")
            );
        }
        return Ok(());
    }
    let bar = Bar::new(g.quiet);
    let summary = fibstack::workflow::run(&wf, a.out, &bar)?;
    if !g.quiet {
        for w in &summary.provenance.warnings {
            // doubtful results of the steps are warnings; reader remarks are notes
            let step = ["tortuosity: ", "geometry: "]
                .iter()
                .any(|p| w.starts_with(p));
            eprintln!("{}: {w}", if step { "warning" } else { "note" });
        }
        for s in &summary.provenance.steps {
            eprintln!("  {:<16} {:>8.2} s", s.name, s.seconds);
        }
        eprintln!("results in {}", summary.out_dir.display());
    }
    if a.json {
        print_json(&summary.results)?;
    }
    Ok(())
}
