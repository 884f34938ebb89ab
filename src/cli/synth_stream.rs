//! `fibstack synth-stream OUT_DIR`: a large simulator stack written slice by slice (never whole in
//! memory); slice z is a function of (seed, z).

use super::common::{print_json, Bar};
use anyhow::{bail, Result};
use clap::Args;
use fibstack::synth::stream::{write_stack, StreamSynth, StreamSynthParams};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SynthStreamArgs {
    /// Output folder: slices/ (u16 grey) and, with --truth, truth/ (u8: 0 pore, 1 solid).
    pub out_dir: PathBuf,
    /// Shape Z,Y,X.
    #[arg(long, value_name = "Z,Y,X", default_value = "200,512,512")]
    pub shape: String,
    /// Voxel size DZ,DY,DX in nm.
    #[arg(long, value_name = "DZ,DY,DX", default_value = "20,10,10")]
    pub voxel: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mean particle radius (nm).
    #[arg(allow_negative_numbers = true, long, default_value_t = 250.0)]
    pub radius_nm: f64,
    /// Expected pore fraction.
    #[arg(allow_negative_numbers = true, long, default_value_t = 0.4)]
    pub porosity: f64,
    /// Also write the truth labels.
    #[arg(long)]
    pub truth: bool,
    /// Print the parameters as JSON on stdout (only JSON).
    #[arg(long)]
    pub json: bool,
}

fn three<T: std::str::FromStr>(flag: &str, s: &str) -> Result<[T; 3]> {
    let v: Vec<T> = s
        .split(',')
        .map(|p| p.trim().parse::<T>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("{flag} {s:?}: give three numbers"))?;
    match <[T; 3]>::try_from(v) {
        Ok(a) => Ok(a),
        Err(_) => bail!("{flag} {s:?}: give three numbers"),
    }
}

pub fn run(a: SynthStreamArgs, g: &super::Global) -> Result<()> {
    let p = StreamSynthParams {
        shape: three("--shape", &a.shape)?,
        voxel_nm: three("--voxel", &a.voxel)?,
        seed: a.seed,
        radius_nm: a.radius_nm,
        target_porosity: a.porosity,
        ..Default::default()
    };
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
