//! Writes a synthetic acquisition like an Auto Slice & View run, with its truth beside it.
//!
//! ```text
//! OUT/slices/slice_0001.tif …   one TIFF per slice (1-based, zero-padded), FEI metadata in tag 34682
//! OUT/truth/labels.tif          ground-truth labels (truth grid, u8)
//! OUT/truth/clean.tif           artifact-free grey volume on the image grid
//! OUT/truth.json                every true value (see `Truth`)
//! OUT/preview.png               orthogonal views of the grey stack
//! OUT/truth/labels.png          orthogonal views of the labels
//! ```
//! Nothing written depends on the date, the machine or the thread count, so the same command
//! reproduces the same bytes.

use super::{SynthOutput, Truth};
use crate::io::tiff::{write_tiff, Compression, TiffWriteOptions};
use crate::io::{slice_volume, IoError};
use crate::volume::GreyVolume;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Options of [`write_output`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Compression of every TIFF (default none, like the instrument).
    pub compression: Compression,
    /// Skip the PNG previews.
    pub no_previews: bool,
}

/// Thermo/FEI-style INI text for tag 34682 of slice `index` (0-based).
pub fn fei_metadata(grey: &GreyVolume, truth: &Truth, index: usize) -> String {
    let [nz, rows, cols] = grey.shape();
    let d = grey.voxel.nm;
    let acq = truth.acquisition.as_ref();
    let tilt_rad = acq
        .and_then(|a| a.params.tilt.as_ref())
        .map(|t| t.angle_deg.to_radians())
        .unwrap_or(0.0);
    let hv = acq.map(|a| a.params.beam_voltage_v).unwrap_or(2000.0);
    format!(
        "[User]\r\nUserText=fibstack synth preset {preset} seed {seed}\r\n\
         [System]\r\nType=DualBeam\r\nSystemType=fibstack synth\r\nSoftware=fibstack {ver}\r\n\
         [Beam]\r\nHV={hv}\r\nBeam=EBeam\r\n\
         [EBeam]\r\nHV={hv}\r\nTiltCorrectionIsOn=no\r\n\
         [Stage]\r\nStageT={tilt_rad}\r\n\
         [Image]\r\nResolutionX={cols}\r\nResolutionY={rows}\r\n\
         [Scan]\r\nPixelWidth={pw:e}\r\nPixelHeight={ph:e}\r\n\
         [PrivateFei]\r\nDatabarHeight=0\r\n\
         [FibStackSynth]\r\nSliceIndex={slice}\r\nSliceCount={nz}\r\nSliceThickness={dz:e}\r\n",
        preset = truth.preset,
        seed = truth.seed,
        ver = env!("CARGO_PKG_VERSION"),
        pw = d[2] * 1e-9,
        ph = d[1] * 1e-9,
        dz = d[0] * 1e-9,
        slice = index + 1,
    )
}

/// File name of slice `index` (0-based) in a stack of `nz`: `slice_0001.tif` (1-based, ≥ 4 digits).
pub fn slice_name(index: usize, nz: usize) -> String {
    let width = nz.to_string().len().max(4);
    format!("slice_{:0width$}.tif", index + 1)
}

/// Write `out` into `dir` (created). Returns the files written, relative to `dir`.
pub fn write_output(
    dir: &Path,
    out: &SynthOutput,
    opts: &WriteOptions,
) -> Result<Vec<PathBuf>, IoError> {
    std::fs::create_dir_all(dir).map_err(|e| IoError::Os {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut written = Vec::new();
    let tiff_opts = TiffWriteOptions {
        compression: opts.compression,
        ..Default::default()
    };
    if let Some(r) = &out.rendered {
        let nz = r.grey.shape()[0];
        let names: Vec<PathBuf> = (0..nz)
            .map(|k| PathBuf::from("slices").join(slice_name(k, nz)))
            .collect();
        std::fs::create_dir_all(dir.join("slices")).map_err(|e| IoError::Os {
            path: dir.join("slices"),
            source: e,
        })?;
        names.par_iter().enumerate().try_for_each(|(k, name)| {
            let one = slice_volume(&r.grey, k);
            let o = TiffWriteOptions {
                fei_metadata: Some(fei_metadata(&r.grey, &out.truth, k)),
                ..tiff_opts.clone()
            };
            write_tiff(&dir.join(name), &one, &o)
        })?;
        written.extend(names);
        write_tiff(&dir.join("truth/clean.tif"), &r.clean, &tiff_opts)?;
        written.push("truth/clean.tif".into());
        if !opts.no_previews {
            crate::io::png::write_ortho(&dir.join("preview.png"), &r.grey)?;
            written.push("preview.png".into());
        }
    }
    std::fs::create_dir_all(dir.join("truth")).map_err(|e| IoError::Os {
        path: dir.join("truth"),
        source: e,
    })?;
    write_tiff(
        &dir.join("truth/labels.tif"),
        &out.labels.to_grey(),
        &tiff_opts,
    )?;
    written.push("truth/labels.tif".into());
    if !opts.no_previews {
        crate::io::png::write_ortho(&dir.join("truth/labels.png"), &out.labels.to_grey())?;
        written.push("truth/labels.png".into());
    }
    let js = serde_json::to_vec_pretty(&out.truth).map_err(|e| IoError::Invalid {
        path: dir.join("truth.json"),
        detail: e.to_string(),
    })?;
    crate::io::atomic::write_bytes(&dir.join("truth.json"), &js)?;
    written.push("truth.json".into());
    Ok(written)
}
