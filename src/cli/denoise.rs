//! `fibstack denoise IN OUT --sigma NM`: Gaussian smoothing with σ in nm.

use super::common::{Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::denoise::{
    gaussian_volume_progress, Dims, GaussianMethod, GaussianParams,
};
use fibstack::volume::SampleType;
use fibstack::workflow::steps::filters::Denoise;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DenoiseArgs {
    /// Input grey volume (TIFF, folder of slices, .npy, raw …).
    pub input: PathBuf,
    /// Output (format from the extension; no extension = folder of slices).
    pub output: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "denoise"`.
    #[command(flatten)]
    pub step: Denoise,
    /// Same as `--dims 2d` (the default).
    #[arg(long = "2d", conflicts_with_all = ["three_d", "dims"])]
    pub two_d: bool,
    /// Same as `--dims 3d`.
    #[arg(long = "3d", conflicts_with = "dims")]
    pub three_d: bool,
    /// Same as `--method recursive`.
    #[arg(long, conflicts_with = "method")]
    pub recursive: bool,
    /// Write 32-bit float (default: the input's sample type, rounded and clamped).
    #[arg(long)]
    pub f32: bool,
}

/// The workflow step the flags describe (with the `--3d` / `--recursive` shorthands applied).
pub fn step(a: &DenoiseArgs) -> Denoise {
    let mut s = a.step.clone();
    if a.three_d {
        s.dims = Dims::ThreeD;
    }
    if a.recursive {
        s.method = GaussianMethod::Recursive;
    }
    s
}

/// The library parameters the flags describe (validated).
pub fn params(a: &DenoiseArgs) -> Result<GaussianParams> {
    Ok(step(a).params()?)
}

pub fn run(a: DenoiseArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let p = params(&a)?;
    let note = |v: &fibstack::volume::VoxelSize| {
        if !v.is_calibrated() && !g.quiet {
            eprintln!(
                "note: voxel size unknown; sigma is taken in voxels (set --voxel DZ,DY,DX in nm)"
            );
        }
    };
    let stream = if p.dims == Dims::ThreeD {
        None
    } else {
        a.read.open_stream(&a.input, g)?
    };
    let voxel = if let Some(mut r) = stream {
        // 2-D on a folder / TIFF: slice by slice, bounded memory
        note(&r.voxel());
        let st = if a.f32 {
            SampleType::F32
        } else {
            r.sample_type()
        };
        fibstack::stream::gaussian_2d(&mut r, &a.output, &p, st, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?;
        r.voxel()
    } else {
        let vol = a.read.read(&a.input, g)?;
        note(&vol.voxel);
        let st = if a.f32 {
            SampleType::F32
        } else {
            vol.sample_type()
        };
        let out = gaussian_volume_progress(&vol, &p, st, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?;
        drop(vol);
        fibstack::io::write_volume(&a.output, &out)?;
        out.voxel
    };
    if !g.quiet {
        let s = p.sigma_vox(&voxel);
        // (checked against the image before the work: `sigma_vox_for`)
        eprintln!(
            "denoise: Gaussian ({}) σ = {:?} nm = [{:.3}, {:.3}, {:.3}] voxels ({}) -> {}",
            match p.method {
                GaussianMethod::Exact => "exact kernel",
                GaussianMethod::Recursive => "recursive",
            },
            p.sigma_nm,
            s[0],
            s[1],
            s[2],
            if p.dims == Dims::ThreeD {
                "3-D"
            } else {
                "2-D per slice"
            },
            a.output.display()
        );
    }
    Ok(())
}
