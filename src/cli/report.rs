//! `fibstack report RESULTS_DIR`: rebuild the HTML report (and its figures) from saved results.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output folder of a `fibstack run` (holds results.json and provenance.json).
    pub dir: PathBuf,
    /// Page title.
    #[arg(long)]
    pub title: Option<String>,
}

pub fn run(a: ReportArgs, g: &super::Global) -> Result<()> {
    let files = fibstack::report::build::build_report(&a.dir, a.title.as_deref())?;
    if !g.quiet {
        eprintln!(
            "wrote {} ({} figures)",
            a.dir.join(&files.html).display(),
            files.figures.len() / 2
        );
    }
    Ok(())
}
