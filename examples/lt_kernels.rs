//! Time one sizes/connectivity kernel on a `.npy` mask (used by `benches/compare/lt_speed.py`).
//!
//! `cargo run --release --example lt_kernels -- <lt|edt|cc> IN.npy OUT.npy [--voxel DZ,DY,DX] [--reps N]`
//!
//! IN holds a mask (`true`/non-zero = phase). Only the kernel is timed (best of `--reps`, default 3);
//! the output of the last run is written (`lt`, `edt`: f32; `cc`: u32 labels, 26-connectivity) and
//! one JSON line is printed: `{"kernel", "shape", "seconds", "runs", "threads", ...}`.

use fibstack::metrics::components::{label_components, Connectivity};
use fibstack::metrics::edt::edt;
use fibstack::metrics::local_thickness::local_thickness_map;
use fibstack::volume::{GreyVolume, VoxelSize};
use ndarray::Array3;
use std::path::Path;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        anyhow::bail!("usage: lt_kernels <lt|edt|cc> IN.npy OUT.npy [--voxel DZ,DY,DX] [--reps N]");
    }
    let (kernel, inp, out) = (args[0].as_str(), Path::new(&args[1]), Path::new(&args[2]));
    let mut voxel = [1.0f64; 3];
    let mut reps = 3usize;
    let mut i = 3;
    while i < args.len() {
        match args[i].as_str() {
            "--voxel" => {
                let v: Vec<f64> = args
                    .get(i + 1)
                    .ok_or_else(|| anyhow::anyhow!("--voxel needs DZ,DY,DX"))?
                    .split(',')
                    .map(|s| s.trim().parse::<f64>())
                    .collect::<Result<_, _>>()?;
                anyhow::ensure!(v.len() == 3, "--voxel needs three values DZ,DY,DX");
                voxel = [v[0], v[1], v[2]];
                i += 2;
            }
            "--reps" => {
                reps = args
                    .get(i + 1)
                    .ok_or_else(|| anyhow::anyhow!("--reps needs a number"))?
                    .parse()?;
                anyhow::ensure!(reps >= 1, "--reps must be at least 1");
                i += 2;
            }
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    let l = fibstack::io::read_labels(inp, &Default::default())?;
    let mask = l.data.mapv(|v| v != 0);
    let shape = mask.shape().to_vec();
    let mut best = f64::INFINITY;
    let mut extra = String::new();
    match kernel {
        "lt" | "edt" => {
            let mut res = Array3::<f32>::zeros((0, 0, 0));
            for _ in 0..reps {
                let t = Instant::now();
                res = if kernel == "lt" {
                    local_thickness_map(mask.view(), voxel)?
                } else {
                    edt(mask.view(), voxel)?
                };
                best = best.min(t.elapsed().as_secs_f64());
            }
            let g = GreyVolume::from_f32(res, VoxelSize::default());
            fibstack::io::write_volume(out, &g)?;
        }
        "cc" => {
            let mut res = None;
            for _ in 0..reps {
                let t = Instant::now();
                let c = label_components(mask.view(), Connectivity::TwentySix)?;
                best = best.min(t.elapsed().as_secs_f64());
                res = Some(c);
            }
            let c = res.expect("reps >= 1");
            extra = format!(", \"components\": {}", c.count());
            write_npy_u32(out, &c.labels)?;
        }
        other => anyhow::bail!("unknown kernel {other:?}; use lt, edt or cc"),
    }
    println!(
        "{{\"kernel\": \"{kernel}\", \"shape\": {shape:?}, \"voxel_nm\": {voxel:?}, \"seconds\": {best:.6}, \"runs\": {reps}, \"threads\": {}{extra}}}",
        rayon::current_num_threads()
    );
    Ok(())
}

/// `.npy` (format 1.0, `<u4`, C order) for the label output.
fn write_npy_u32(path: &Path, a: &Array3<u32>) -> anyhow::Result<()> {
    let (nz, ny, nx) = a.dim();
    let mut header =
        format!("{{'descr': '<u4', 'fortran_order': False, 'shape': ({nz}, {ny}, {nx}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + a.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in a.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    fibstack::io::atomic::write_bytes(path, &bytes)?;
    Ok(())
}
