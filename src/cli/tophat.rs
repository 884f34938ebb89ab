//! `fibstack tophat IN OUT --radius-nm R`: white (or black) top-hat with a disk/ball.

use super::common::{Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::denoise::Dims;
use fibstack::preprocess::tophat::{tophat_volume, TophatParams};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TophatArgs {
    /// Input grey volume (TIFF, folder of slices, .npy, raw …).
    pub input: PathBuf,
    /// Output (format from the extension; keeps the sample type).
    pub output: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// Disk/ball radius in nm (voxels when the voxel size is unknown).
    #[arg(allow_negative_numbers = true, long, value_name = "NM")]
    pub radius_nm: f64,
    /// Black top-hat (closing − image: dark features) instead of white (image − opening).
    #[arg(long)]
    pub black: bool,
    /// Disk on each slice (default).
    #[arg(long = "2d", conflicts_with = "three_d")]
    pub two_d: bool,
    /// Ball in 3-D.
    #[arg(long = "3d")]
    pub three_d: bool,
}

/// The library parameters the flags describe (validated).
pub fn params(a: &TophatArgs) -> Result<TophatParams> {
    let p = TophatParams {
        radius_nm: a.radius_nm,
        black: a.black,
        dims: if a.three_d { Dims::ThreeD } else { Dims::TwoD },
    };
    fibstack::error::length_nm("--radius-nm", p.radius_nm)?;
    Ok(p)
}

pub fn run(a: TophatArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let p = params(&a)?;
    let stream = if a.three_d {
        None
    } else {
        a.read.open_stream(&a.input, g)?
    };
    let fp = if let Some(mut r) = stream {
        // 2-D on a folder / TIFF: slice by slice, bounded memory
        let fp = p
            .footprint_for(r.voxel().nm, r.shape())
            .with_context(|| format!("{}", a.input.display()))?;
        fibstack::stream::tophat_2d(&mut r, &a.output, &p, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?;
        fp
    } else {
        let vol = a.read.read(&a.input, g)?;
        let fp = p
            .footprint_for(vol.voxel.nm, vol.shape())
            .with_context(|| format!("{}", a.input.display()))?;
        let out = tophat_volume(&vol, &p).with_context(|| format!("{}", a.input.display()))?;
        drop(vol);
        fibstack::io::write_volume(&a.output, &out)?;
        fp
    };
    if !g.quiet {
        eprintln!(
            "tophat: {} top-hat, radius {} nm ({} footprint of {} voxels) -> {}",
            if p.black { "black" } else { "white" },
            p.radius_nm,
            if a.three_d { "ball" } else { "disk" },
            fp.len(),
            a.output.display()
        );
    }
    Ok(())
}
