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
    /// Memory budget in GiB (overrides the workflow's `[input] max_memory`; default 16): a run
    /// whose whole volume does not fit streams slab by slab when its steps can, else it is
    /// refused before any work.
    #[arg(long, value_name = "GIB", allow_negative_numbers = true)]
    pub max_memory: Option<f64>,
}

pub fn run(a: RunArgs, g: &super::Global) -> Result<()> {
    let mut wf = Workflow::load(&a.workflow)?;
    if let Some(m) = a.max_memory {
        if !(m.is_finite() && m > 0.0) {
            anyhow::bail!("--max-memory {m}: must be a positive number of GiB");
        }
        wf.set_max_memory(m);
    }
    wf.check_paths(a.out.as_deref())?;
    if a.check {
        fibstack::workflow::provenance::check_input_calibration(&wf)?;
        let plans = fibstack::workflow::plan::plan_workflow(&wf)?;
        if !g.quiet {
            eprintln!(
                "{}: valid ({} steps: {})",
                a.workflow.display(),
                wf.steps.len(),
                wf.names.join(" → ")
            );
            for (name, p) in plans.iter().filter(|(_, p)| p.streamed()) {
                let who = if name.is_empty() {
                    String::new()
                } else {
                    format!("sample {name}: ")
                };
                eprintln!("{who}streamed: {}", p.reason);
            }
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
        if let Some(p) = summary
            .provenance
            .execution
            .as_ref()
            .filter(|p| p.streamed())
        {
            eprintln!("streamed: {}", p.reason);
        }
        for s in &summary.provenance.steps {
            eprintln!("  {:<16} {:>8.2} s", s.name, s.seconds);
        }
        let results = serde_json::Value::Object(summary.results.to_json()?);
        let p = &summary.provenance;
        let sources: Vec<String> = p
            .voxel_size_source
            .iter()
            .flatten()
            .map(|s| s.as_str().to_string())
            .collect();
        let voxel: Vec<f64> = p.voxel_size_nm.iter().flatten().copied().collect();
        let rows = fibstack::report::build::glance(&results, &voxel, &sources);
        if !rows.is_empty() {
            let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
            let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
            eprintln!();
            for (k, v, d) in &rows {
                eprintln!(
                    "  {k}{}  {v}{}  {d}",
                    " ".repeat(w0 - k.chars().count()),
                    " ".repeat(w1 - v.chars().count())
                );
            }
        }
        let mut warnings = Vec::new();
        fibstack::report::build::collect_warnings(&results, "", &mut warnings);
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        eprintln!("results in {}", summary.out_dir.display());
    }
    if a.json {
        print_json(&summary.results)?;
    }
    Ok(())
}
