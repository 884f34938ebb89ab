//! `fibstack tophat IN OUT --radius-nm R`: white (or black) top-hat with a disk/ball.

use super::common::{Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::denoise::Dims;
use fibstack::preprocess::tophat::{tophat_volume_progress, TophatParams};
use fibstack::workflow::steps::filters::Tophat;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TophatArgs {
    /// Input grey volume (TIFF, folder of slices, .npy, raw …).
    pub input: PathBuf,
    /// Output (format from the extension; keeps the sample type).
    pub output: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "tophat"`.
    #[command(flatten)]
    pub step: Tophat,
    /// Same as `--dims 2d` (the default).
    #[arg(long = "2d", conflicts_with_all = ["three_d", "dims"])]
    pub two_d: bool,
    /// Same as `--dims 3d`.
    #[arg(long = "3d", conflicts_with = "dims")]
    pub three_d: bool,
}

/// The library parameters the flags describe (validated).
pub fn params(a: &TophatArgs) -> Result<TophatParams> {
    let mut s = a.step.clone();
    if a.three_d {
        s.dims = Dims::ThreeD;
    }
    Ok(s.params()?)
}

pub fn run(a: TophatArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let p = params(&a)?;
    let stream = if p.dims == Dims::ThreeD {
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
        let out = tophat_volume_progress(&vol, &p, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?;
        drop(vol);
        fibstack::io::write_volume(&a.output, &out)?;
        fp
    };
    if !g.quiet {
        eprintln!(
            "tophat: {} top-hat, radius {} nm ({} footprint of {} voxels) -> {}",
            if p.black { "black" } else { "white" },
            p.radius_nm,
            if p.dims == Dims::ThreeD {
                "ball"
            } else {
                "disk"
            },
            fp.len(),
            a.output.display()
        );
    }
    Ok(())
}
