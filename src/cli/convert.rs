//! `fibstack convert IN OUT`: change format, crop, pick slices, set the voxel size.

use super::common::InputOpts;
use anyhow::Result;
use clap::{Args, ValueEnum};
use fibstack::io::tiff::{Compression, TiffWriteOptions};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Comp {
    None,
    Lzw,
    Deflate,
    Packbits,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input: TIFF/OME-TIFF, folder of slices, .mrc/.rec/.st/.map, .am, .h5:/dataset (feature
    /// hdf5), .npy, .raw (with --raw), .vti, .png.
    pub input: PathBuf,
    /// Output: .tif/.tiff, .ome.tif, .mrc, .am, .h5 (feature hdf5), .npy, .vti, .raw, .png
    /// (orthogonal views), or a folder (no extension).
    pub output: PathBuf,
    #[command(flatten)]
    pub opts: InputOpts,
    /// TIFF compression.
    #[arg(long, value_enum, default_value_t = Comp::None)]
    pub compression: Comp,
    /// Write BigTIFF even below 4 GiB.
    #[arg(long)]
    pub bigtiff: bool,
}

pub fn run(a: ConvertArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let vol = a.opts.read(&a.input, g)?;
    let ext = a
        .output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_ome = fibstack::io::Format::of(&a.output).ok() == Some(fibstack::io::Format::OmeTiff);
    if ext == "tif" || ext == "tiff" {
        let compression = match a.compression {
            Comp::None => Compression::None,
            Comp::Lzw => Compression::Lzw,
            Comp::Deflate => Compression::Deflate,
            Comp::Packbits => Compression::PackBits,
        };
        let o = TiffWriteOptions {
            compression,
            bigtiff: a.bigtiff,
            // a label volume read with a colour table is written back with it
            palette: match (&vol.data, &vol.meta.palette) {
                (fibstack::volume::GreyData::U8(_), Some(p)) if !is_ome => Some(p.clone()),
                _ => None,
            },
            ..Default::default()
        };
        if is_ome {
            fibstack::io::ome::write_ome_tiff(&a.output, &vol, &o)?;
        } else {
            fibstack::io::tiff::write_tiff(&a.output, &vol, &o)?;
        }
    } else {
        fibstack::io::write_volume(&a.output, &vol)?;
    }
    if !g.quiet {
        let s = vol.shape();
        eprintln!(
            "wrote {} ({} x {} x {} {}, voxel {:?} nm)",
            a.output.display(),
            s[0],
            s[1],
            s[2],
            vol.sample_type().as_str(),
            vol.voxel.nm
        );
    }
    Ok(())
}
