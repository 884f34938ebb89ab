//! `fibstack info PATH`: what a file or folder holds.

use super::common::{print_json, InputOpts};
use anyhow::Result;
use clap::Args;
use fibstack::volume::{GreyData, GreyVolume};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A TIFF/OME-TIFF, folder of slices, MRC (.mrc/.rec/.st/.map), AmiraMesh .am, HDF5
    /// file.h5:/dataset (feature hdf5), .zarr (Zarr v2/v3 or OME-Zarr; feature zarr), .npy, .raw
    /// (with --raw), .vti or .png.
    pub path: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The `info` report.
#[derive(Debug, Serialize)]
pub struct Info {
    pub path: PathBuf,
    /// `[nz, ny, nx]`.
    pub shape: [usize; 3],
    pub sample_type: &'static str,
    /// `[dz, dy, dx]` in nm.
    pub voxel_size_nm: [f64; 3],
    /// Where each of `[dz, dy, dx]` came from.
    pub voxel_size_source: [fibstack::VoxelSource; 3],
    /// For values from the file: where in it (e.g. `"OME PhysicalSizeZ = 0.05 µm"`).
    pub voxel_size_detail: [Option<String>; 3],
    /// The container read (e.g. `"TIFF, palette (indexed colour), LZW"`, `"MRC mode 2 …"`).
    pub container: Option<String>,
    pub calibrated: bool,
    /// Physical extent `[z, y, x]` in nm.
    pub extent_nm: [f64; 3],
    pub metadata: fibstack::Metadata,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// 16-bin histogram over [min, max].
    pub histogram: Histogram,
}

#[derive(Debug, Serialize)]
pub struct Histogram {
    pub bin_edges: Vec<f64>,
    pub counts: Vec<u64>,
}

pub fn summarise(path: PathBuf, vol: &GreyVolume) -> Info {
    let (min, max, sum, n) = match &vol.data {
        GreyData::U8(a) => stats(a.iter().map(|&v| v as f64)),
        GreyData::U16(a) => stats(a.iter().map(|&v| v as f64)),
        GreyData::F32(a) => stats(a.iter().map(|&v| v as f64)),
    };
    let bins = 16;
    let mut counts = vec![0u64; bins];
    let width = if max > min {
        (max - min) / bins as f64
    } else {
        1.0
    };
    let mut add = |v: f64| {
        if v.is_finite() {
            let b = (((v - min) / width) as usize).min(bins - 1);
            counts[b] += 1;
        }
    };
    match &vol.data {
        GreyData::U8(a) => a.iter().for_each(|&v| add(v as f64)),
        GreyData::U16(a) => a.iter().for_each(|&v| add(v as f64)),
        GreyData::F32(a) => a.iter().for_each(|&v| add(v as f64)),
    }
    let shape = vol.shape();
    let v = vol.voxel.nm;
    Info {
        path,
        shape,
        sample_type: vol.sample_type().as_str(),
        voxel_size_nm: v,
        voxel_size_source: vol.voxel.source,
        voxel_size_detail: std::array::from_fn(|i| {
            (vol.voxel.source[i] == fibstack::VoxelSource::File)
                .then(|| vol.meta.voxel_detail[i].clone())
                .flatten()
        }),
        container: vol.meta.container.clone(),
        calibrated: vol.voxel.is_calibrated(),
        extent_nm: [
            shape[0] as f64 * v[0],
            shape[1] as f64 * v[1],
            shape[2] as f64 * v[2],
        ],
        metadata: vol.meta.clone(),
        min,
        max,
        mean: if n > 0 { sum / n as f64 } else { f64::NAN },
        histogram: Histogram {
            bin_edges: (0..=bins).map(|i| min + width * i as f64).collect(),
            counts,
        },
    }
}

fn stats(it: impl Iterator<Item = f64>) -> (f64, f64, f64, u64) {
    let (mut lo, mut hi, mut s, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0u64);
    for v in it.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
        s += v;
        n += 1;
    }
    if n == 0 {
        (0.0, 0.0, 0.0, 0)
    } else {
        (lo, hi, s, n)
    }
}

pub fn run(a: InfoArgs, g: &super::Global) -> Result<()> {
    let vol = a.input.read(&a.path, g)?;
    let info = summarise(a.path.clone(), &vol);
    if a.json {
        return print_json(&info);
    }
    println!("{}", a.path.display());
    println!(
        "  shape (z, y, x):   {} x {} x {}  ({})",
        info.shape[0], info.shape[1], info.shape[2], info.sample_type
    );
    let src: Vec<&str> = info.voxel_size_source.iter().map(|s| s.as_str()).collect();
    println!(
        "  voxel (dz, dy, dx): {} x {} x {} nm  [{}]",
        info.voxel_size_nm[0],
        info.voxel_size_nm[1],
        info.voxel_size_nm[2],
        src.join(", ")
    );
    for (i, d) in info.voxel_size_detail.iter().enumerate() {
        if let Some(d) = d {
            println!("    {} from {d}", ["dz", "dy", "dx"][i]);
        }
    }
    if let Some(c) = &info.container {
        println!("  container:         {c}");
    }
    let in_plane = info.voxel_size_source[1..]
        .iter()
        .all(|s| *s != fibstack::VoxelSource::Default);
    if !in_plane || (!info.calibrated && info.shape[0] > 1) {
        println!(
            "  NOTE: voxel size not fully known: metrics needing lengths refuse it; use --voxel DZ,DY,DX (nm) or --allow-uncalibrated (voxel units)"
        );
    }
    let m = &info.metadata;
    if let Some(i) = &m.instrument {
        println!("  instrument:        {i}");
    }
    if let Some(t) = m.stage_tilt_deg {
        println!("  stage tilt:        {t:.3} deg");
    }
    if let Some(hv) = m.beam_voltage_v {
        println!("  beam voltage:      {hv} V");
    }
    if let Some(d) = &m.detector {
        println!("  detector:          {d}");
    }
    if let Some(d) = m.databar_rows {
        println!("  data bar:          {d} rows cropped");
    }
    if let Some(o) = m.origin_nm {
        println!("  origin (z, y, x):  {} , {} , {} nm", o[0], o[1], o[2]);
    }
    if let Some(p) = &m.palette {
        println!(
            "  palette:           {} colours (indices are labels)",
            p.len()
        );
    }
    if let Some(z) = &m.z_positions_nm {
        if let Some(st) = fibstack::io::meta::pitch_stats(z) {
            println!(
                "  z pitch:           median {:.4} nm, min {:.4}, max {:.4}, CV {:.3} ({} slice positions)",
                st.median_nm,
                st.min_nm,
                st.max_nm,
                st.cv,
                z.len()
            );
        }
    }
    println!("  source files:      {}", m.source_files.len());
    println!(
        "  min / max / mean:  {} / {} / {:.4}",
        info.min, info.max, info.mean
    );
    let peak = info
        .histogram
        .counts
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    for (i, c) in info.histogram.counts.iter().enumerate() {
        let bar = "#".repeat((40 * c / peak) as usize);
        println!("  {:>12.4} | {bar} {c}", info.histogram.bin_edges[i]);
    }
    Ok(())
}
