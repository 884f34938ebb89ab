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
    /// hdf5), .zarr (Zarr v2/v3 or OME-Zarr; feature zarr), .npy, .raw (with --raw), .vti, .png.
    pub input: PathBuf,
    /// Output: .tif/.tiff, .ome.tif, .mrc, .am, .h5 (feature hdf5), .zarr (OME-Zarr 0.4; feature
    /// zarr), .npy, .vti, .raw, .png (orthogonal views), or a folder (no extension).
    pub output: PathBuf,
    #[command(flatten)]
    pub opts: InputOpts,
    /// TIFF compression.
    #[arg(long, value_enum, default_value_t = Comp::None)]
    pub compression: Comp,
    /// Write BigTIFF even below 4 GiB.
    #[arg(long)]
    pub bigtiff: bool,
    /// .zarr output: slices per chunk (each chunk holds whole slices; default: as many as fit
    /// about 16 MiB).
    #[arg(long, value_name = "N")]
    pub chunk_slices: Option<usize>,
}

pub fn run(a: ConvertArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let is_zarr = fibstack::io::Format::of_output(&a.output)? == fibstack::io::Format::Zarr;
    match a.chunk_slices {
        Some(_) if !is_zarr => anyhow::bail!(
            "--chunk-slices applies to .zarr outputs only; {} is not one (drop the option or name the output .zarr)",
            a.output.display()
        ),
        Some(0) => anyhow::bail!("--chunk-slices 0: a chunk needs at least one slice; give N >= 1"),
        _ => {}
    }
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
    } else if is_zarr {
        write_zarr(&a.output, &vol, a.chunk_slices)?;
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

#[cfg(feature = "zarr")]
fn write_zarr(
    out: &std::path::Path,
    vol: &fibstack::GreyVolume,
    chunk_slices: Option<usize>,
) -> Result<()> {
    let o = fibstack::io::zarr::ZarrWriteOptions {
        slices_per_chunk: chunk_slices,
    };
    Ok(fibstack::io::zarr::write_zarr(out, vol, &o)?)
}

#[cfg(not(feature = "zarr"))]
fn write_zarr(
    out: &std::path::Path,
    vol: &fibstack::GreyVolume,
    _chunk_slices: Option<usize>,
) -> Result<()> {
    // the writer's own error: the feature is not built in
    Ok(fibstack::io::write_volume(out, vol)?)
}
