//! `fibstack pipeline IN`: the out-of-core chain on a folder of slices (or a multi-page TIFF):
//! align → destripe → 2-D Gaussian → 2-D top-hat → threshold, streamed slab by slab into a
//! bit-packed pore mask, then porosity and its z-profile, percolation and random-walk τ. Memory is
//! a few slices plus one bit per voxel.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use fibstack::metrics::components::Connectivity;
use fibstack::metrics::tortuosity::parse_axis;
use fibstack::metrics::tortuosity::random_walk::RandomWalkOptions;
use fibstack::preprocess::align::AlignParams;
use fibstack::preprocess::denoise::{Dims, GaussianParams};
use fibstack::preprocess::destripe::DestripeParams;
use fibstack::preprocess::tophat::TophatParams;
use fibstack::stream::chain::{run_chain, ChainParams, ThresholdSpec};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Input stack: a folder of slices or a multi-page TIFF (streamed; other formats are read whole).
    pub input: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// Threshold of the filtered grey values: a number, or `otsu` (one extra pass over the data).
    #[arg(long, default_value = "otsu", allow_hyphen_values = true)]
    pub threshold: String,
    /// Pores are the voxels above the threshold (default: at or below it, dark pores).
    #[arg(long)]
    pub pore_above: bool,
    /// Drift alignment (neighbour chaining, crop to the common region).
    #[arg(long)]
    pub align: bool,
    /// FFT wedge destriping with the default parameters (vertical curtains).
    #[arg(long)]
    pub destripe: bool,
    /// 2-D Gaussian σ in nm (in-plane; 0 or absent = none).
    #[arg(allow_negative_numbers = true, long, value_name = "NM")]
    pub sigma: Option<f64>,
    /// Use the recursive (Deriche) Gaussian for --sigma: cost independent of σ, within 3e-4 of
    /// the exact kernel (faster from σ ≈ 4–5 px).
    #[arg(long, requires = "sigma")]
    pub recursive: bool,
    /// 2-D top-hat radius in nm (absent = none).
    #[arg(allow_negative_numbers = true, long, value_name = "NM")]
    pub tophat_radius: Option<f64>,
    /// Black top-hat instead of white.
    #[arg(long)]
    pub tophat_black: bool,
    /// Connectivity of the percolation analysis (6, 18, 26).
    #[arg(long, default_value_t = 26)]
    pub connectivity: u32,
    /// Random-walk τ of the pores along these axes (e.g. z or z,x); absent = no walk.
    #[arg(long, value_name = "AXES")]
    pub rw_axes: Option<String>,
    /// Walkers of the random walk (default from --rw-precision).
    #[arg(long)]
    pub rw_walkers: Option<u64>,
    /// Fixed walk length (steps); default: automatic.
    #[arg(long)]
    pub rw_steps: Option<u64>,
    /// Seed of the random walk.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the label volume (u8: 0 at or below the threshold, 1 above).
    #[arg(long, value_name = "PATH")]
    pub labels_out: Option<PathBuf>,
    /// Leave the per-slice porosity profile out of the JSON.
    #[arg(long)]
    pub no_profile: bool,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Measure an uncalibrated stack in voxels (1 x 1 x 1; σ and radii then in voxels too)
    /// instead of refusing it.
    #[arg(long)]
    pub allow_uncalibrated: bool,
}

pub fn run(a: PipelineArgs, g: &super::Global) -> Result<()> {
    if let Some(o) = &a.labels_out {
        super::common::check_outputs(&[&a.input], &[o], &[])?;
    }
    let threshold = if a.threshold.trim().eq_ignore_ascii_case("otsu") {
        ThresholdSpec::Otsu
    } else {
        ThresholdSpec::Manual(a.threshold.trim().parse::<f64>().with_context(|| {
            format!("--threshold {:?}: give a grey value or `otsu`", a.threshold)
        })?)
    };
    let rw = match &a.rw_axes {
        Some(s) => {
            let axes = s
                .split(',')
                .map(parse_axis)
                .collect::<Result<Vec<usize>, _>>()?;
            let o = RandomWalkOptions {
                seed: a.seed,
                walkers: a.rw_walkers,
                steps: a.rw_steps,
                ..Default::default()
            };
            Some((o, axes))
        }
        None => None,
    };
    let p = ChainParams {
        align: a.align.then(AlignParams::default),
        destripe: a.destripe.then(DestripeParams::default),
        gaussian: a.sigma.filter(|s| *s > 0.0).map(|s| GaussianParams {
            sigma_nm: [0.0, s, s],
            dims: Dims::TwoD,
            truncate: 4.0,
            method: if a.recursive {
                fibstack::preprocess::denoise::GaussianMethod::Recursive
            } else {
                fibstack::preprocess::denoise::GaussianMethod::Exact
            },
        }),
        tophat: a.tophat_radius.map(|r| TophatParams {
            radius_nm: r,
            black: a.tophat_black,
            dims: Dims::TwoD,
        }),
        threshold,
        pore_below: !a.pore_above,
        connectivity: Connectivity::from_n(a.connectivity)?,
        random_walk: rw,
        labels_out: a.labels_out.clone(),
        ..Default::default()
    };
    let mut reader = match a.read.open_stream(&a.input, g)? {
        Some(r) => r,
        None => {
            if !a.input.exists() {
                bail!("{}: no such file or folder", a.input.display());
            }
            // other formats: read whole, served slab by slab
            let opts = a.read.read_options()?;
            fibstack::io::stream::SliceReader::open(&a.input, &opts)?
        }
    };
    // the profile is in nm and τ depends on the voxel shape: refuse to guess the calibration
    let voxel = reader
        .voxel()
        .for_metric(a.allow_uncalibrated)
        .with_context(|| format!("{}", a.input.display()))?;
    reader.set_voxel(voxel);
    let bar = Bar::new(g.quiet);
    let (mut rep, _mask) = run_chain(reader, &p, &bar)
        .with_context(|| format!("pipeline on {}", a.input.display()))?;
    for r in rep.tortuosity.iter().flatten() {
        for w in &r.warnings {
            eprintln!("warning: {}: {w}", a.input.display());
        }
    }
    if a.no_profile {
        rep.porosity_profile_z.clear();
        rep.profile_z_nm.clear();
    }
    if a.json {
        return print_json(&rep);
    }
    println!(
        "{} -> {:?} voxels ({}), threshold {} ({})",
        rep.input,
        rep.shape,
        rep.steps.join(" → "),
        rep.threshold,
        rep.threshold_method
    );
    println!(
        "porosity {:.6} ({} of {} voxels; pores {})",
        rep.porosity, rep.pore_voxels, rep.n_voxels, rep.pore_class
    );
    for ax in &rep.percolation.axes {
        println!(
            "  {:?}: percolating pore fraction {:.6} of the pores ({:.6} of the volume)",
            ax.axis, ax.percolating_fraction, ax.percolating_volume_fraction
        );
    }
    if let Some(t) = &rep.tortuosity {
        for r in t {
            println!(
                "  random-walk τ along {}: {}",
                r.axis,
                r.tortuosity_factor
                    .map_or("infinite (no percolating path)".to_string(), |v| format!(
                        "{v:.4}"
                    ))
            );
        }
    }
    println!(
        "mask {} MB, total {:.1} s",
        rep.mask_bytes >> 20,
        rep.timings.total_s
    );
    Ok(())
}
