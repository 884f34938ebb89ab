//! `fibstack geometry IN OUT`: 52° y-stretch and y–z shear correction.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::align::Boundary;
use fibstack::workflow::steps::pre::{GeometryOutput, GeometryStep};
use fibstack::workflow::Context;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct GeometryArgs {
    /// Input stack: folder of slices, multi-page TIFF, .npy, .raw (with --raw), .vti.
    pub input: PathBuf,
    /// Output: .tif/.tiff, .npy, .vti, .raw, or a folder (no extension).
    pub output: PathBuf,
    #[command(flatten)]
    pub opts: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "geometry"`.
    #[command(flatten)]
    pub step: GeometryStep,
    /// Same as `--stretch false`: skip the 1/sin θ y-stretch (the SEM's tilt correction was on).
    #[arg(long, conflicts_with = "stretch")]
    pub no_stretch: bool,
    /// Same as `--shear false`: skip the y–z shear (face tracking or the alignment already
    /// removed it).
    #[arg(long, conflicts_with = "shear")]
    pub no_shear: bool,
    /// Same as `--boundary crop` (the default; `--crop` is the input crop).
    #[arg(long, conflicts_with_all = ["pad", "boundary"])]
    pub crop_common: bool,
    /// Same as `--boundary pad`: keep every row and fill uncovered pixels with --fill.
    #[arg(long, conflicts_with = "boundary")]
    pub pad: bool,
    /// Print the report as JSON on stdout (only JSON).
    #[arg(long)]
    pub json: bool,
}

impl GeometryArgs {
    /// The workflow step with the same parameters (shorthands applied).
    pub fn step(&self) -> GeometryStep {
        let mut s = self.step.clone();
        if self.no_stretch {
            s.stretch = false;
        }
        if self.no_shear {
            s.shear = false;
        }
        if self.pad {
            s.boundary = Boundary::Pad;
        }
        s
    }
}

pub fn run(a: GeometryArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let step = a.step();
    let params = step.params()?;
    let bar = Bar::new(g.quiet);
    let stream = if step.resample_z {
        None // resampling mixes neighbouring slices: read whole
    } else {
        a.opts.open_stream(&a.input, g)?
    };
    let out = if let Some(mut r) = stream {
        // folder / TIFF: every output slice from its own input slice; bounded memory
        let source = step.thickness_source(&r.voxel(), r.meta());
        let tilt = r.meta().stage_tilt_deg;
        let (report, _) = fibstack::stream::geometry(&mut r, &a.output, &params, &bar)
            .with_context(|| format!("geometry correction of {}", a.input.display()))?;
        GeometryOutput::new(report, step.theta_deg, tilt, source)
    } else {
        let vol = a.opts.read(&a.input, g)?;
        let mut ctx = Context::new(PathBuf::new(), 0, &bar);
        ctx.grey = Some(vol);
        let out = step
            .apply(&mut ctx)
            .with_context(|| format!("geometry correction of {}", a.input.display()))?;
        let vol = ctx.grey.take().context("corrected volume")?;
        fibstack::io::write_volume(&a.output, &vol)?;
        out
    };
    for w in &out.warnings {
        eprintln!("warning: {}: {w}", a.input.display());
    }
    if a.json {
        print_json(&out)?;
    } else {
        let r = &out.report;
        println!(
            "{} at θ = {}° ({}{})",
            r.method,
            r.theta_deg,
            out.theta_source,
            out.stage_tilt_deg
                .map(|t| format!("; stage tilt in the metadata {t:.2}°"))
                .unwrap_or_default()
        );
        if let Some(t) = r.slice_thickness_nm {
            println!(
                "slice thickness {t} nm ({}): shear {:.3} raw px/slice = {:.3} output px/slice",
                out.slice_thickness_source.as_deref().unwrap_or("?"),
                r.shear_raw_px_per_slice,
                r.shear_out_px_per_slice
            );
        }
        println!(
            "{:?} -> {:?}, voxel [dz, dy, dx] {:?} -> {:?} nm",
            r.input_shape, r.output_shape, r.voxel_size_nm_in, r.voxel_size_nm
        );
        if let Some(z) = &out.resample_z {
            println!(
                "resampled z: {} -> {} slices at a uniform {:.4} nm (input pitch {:.4}–{:.4} nm, CV {:.3})",
                z.slices_in, z.slices_out, z.pitch_nm, z.pitch_min_nm, z.pitch_max_nm, z.pitch_cv
            );
        }
        println!("wrote {}", a.output.display());
    }
    Ok(())
}
