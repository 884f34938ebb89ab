//! `fibstack synth-stream OUT_DIR`: a large simulator stack written slice by slice (never whole in
//! memory); slice z is a function of (seed, z).

use super::common::{print_json, Bar};
use anyhow::Result;
use clap::Args;
use fibstack::synth::stream::{write_stack, StreamSynth, StreamSynthParams};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SynthStreamArgs {
    /// Output folder: slices/ (u16 grey) and, with --truth, truth/ (u8: 0 pore, 1 solid).
    pub out_dir: PathBuf,
    /// The simulator's parameters (the library's `StreamSynthParams`).
    #[command(flatten)]
    pub params: StreamSynthParams,
    /// Also write the truth labels.
    #[arg(long)]
    pub truth: bool,
    /// Print the parameters as JSON on stdout (only JSON).
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: SynthStreamArgs, g: &super::Global) -> Result<()> {
    let p = a.params.clone();
    let s = StreamSynth::new(&p)?;
    let grey = a.out_dir.join("slices");
    let truth = a.out_dir.join("truth");
    write_stack(
        &s,
        &grey,
        a.truth.then_some(truth.as_path()),
        &Bar::new(g.quiet),
    )?;
    if a.json {
        return print_json(&serde_json::json!({
            "params": p,
            "n_particles": s.n_particles(),
            "slices": grey.display().to_string(),
        }));
    }
    if !g.quiet {
        eprintln!(
            "wrote {} slices of {}x{} ({} particles) to {}",
            p.shape[0],
            p.shape[2],
            p.shape[1],
            s.n_particles(),
            grey.display()
        );
    }
    Ok(())
}
