//! `fibstack denoise IN OUT --sigma NM`: Gaussian smoothing with σ in nm.

use super::common::{Bar, InputOpts};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use fibstack::preprocess::denoise::{gaussian_volume_as, Dims, GaussianMethod, GaussianParams};
use fibstack::volume::SampleType;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DenoiseArgs {
    /// Input grey volume (TIFF, folder of slices, .npy, raw …).
    pub input: PathBuf,
    /// Output (format from the extension; no extension = folder of slices).
    pub output: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// σ in nm, the same on every axis.
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "NM",
        conflicts_with = "sigma_nm"
    )]
    pub sigma: Option<f64>,
    /// σ per axis in nm as DZ,DY,DX (0 = no smoothing along that axis).
    #[arg(long, value_name = "DZ,DY,DX")]
    pub sigma_nm: Option<String>,
    /// Each slice on its own (default).
    #[arg(long = "2d", conflicts_with = "three_d")]
    pub two_d: bool,
    /// Smooth along z too.
    #[arg(long = "3d")]
    pub three_d: bool,
    /// Kernel radius in σ (recursive: the mirrored border margin; must be >= 3).
    #[arg(allow_negative_numbers = true, long, default_value_t = 4.0)]
    pub truncate: f64,
    /// `exact` (sampled kernel, equals scipy's gaussian_filter) or `recursive` (Deriche IIR fast
    /// path: cost independent of σ, within 1e-2 of the input's range of the exact result).
    #[arg(long, value_name = "exact|recursive", default_value = "exact", value_parser = ["exact", "recursive"])]
    pub method: String,
    /// Same as `--method recursive`.
    #[arg(long, conflicts_with = "method")]
    pub recursive: bool,
    /// Write 32-bit float (default: the input's sample type, rounded and clamped).
    #[arg(long)]
    pub f32: bool,
}

/// The library parameters the flags describe (validated).
pub fn params(a: &DenoiseArgs) -> Result<GaussianParams> {
    let sigma_nm = match (&a.sigma, &a.sigma_nm) {
        (Some(s), None) => {
            fibstack::error::length_nm("--sigma (nm)", *s)?;
            [*s; 3]
        }
        (None, Some(s)) => {
            let v: Vec<f64> = s
                .split(',')
                .map(|p| p.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("--sigma-nm {s:?}: give three numbers DZ,DY,DX in nm"))?;
            if v.len() != 3 {
                bail!("--sigma-nm {s:?}: give three numbers DZ,DY,DX in nm, e.g. 0,10,10");
            }
            [v[0], v[1], v[2]]
        }
        _ => bail!("give --sigma NM or --sigma-nm DZ,DY,DX"),
    };
    let p = GaussianParams {
        sigma_nm,
        dims: if a.three_d { Dims::ThreeD } else { Dims::TwoD },
        truncate: a.truncate,
        method: if a.recursive {
            GaussianMethod::Recursive
        } else {
            a.method.parse()?
        },
    };
    p.validate()?;
    Ok(p)
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
    let stream = if a.three_d {
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
        let out =
            gaussian_volume_as(&vol, &p, st).with_context(|| format!("{}", a.input.display()))?;
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
            if a.three_d { "3-D" } else { "2-D per slice" },
            a.output.display()
        );
    }
    Ok(())
}
