//! Times one fibstack kernel on a `.npy` input, for the one-run peer comparison
//! (`benches/compare/run.sh`). The input is read through `fibstack::io` before timing; only the
//! kernel is timed (best of `--reps` runs, like the Python side); the result of the last run is
//! written for the agreement check; one JSON object is printed on stdout.
//!
//! ```text
//! cargo run --release --example peer_kernels -- <stage> <input.npy> [more inputs] <output> [options]
//!   label26   MASK.npy OUT.npy            26-connected components of voxels == 1 (u32 labels)
//!   edt       MASK.npy OUT.npy  --voxel dz,dy,dx   Euclidean distance of voxels == 1 to the nearest 0
//!   gaussian  VOL.npy  OUT.npy  --sigma s          3-D Gaussian, truncate 4, reflect (scipy's)
//!   phasecorr REF.npy MOV.npy OUT.json [--upsample 100] [--fibstack-defaults]
//!                                        shift registering MOV onto REF (skimage's sign);
//!                                        default = skimage's configuration (no window, no
//!                                        band-pass, one pass); --fibstack-defaults = `align`'s
//!   lt        MASK.npy OUT.npy            local thickness (diameter, voxels) of voxels == 1
//!   ltfast    MASK.npy OUT.npy            the same, fast coarse-grid mode
//!   tortfd    LABELS.npy OUT.json --phase p --axis a   steady-state τ (default solver settings)
//! options: --reps N (default 3)
//! ```

use fibstack::metrics::components::{label_phase, Connectivity};
use fibstack::metrics::edt::{edt_phase, phase_mask};
use fibstack::metrics::local_thickness::local_thickness_map;
use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, SteadyStateOptions};
use fibstack::preprocess::denoise::gaussian_3d;
use fibstack::preprocess::phasecorr::{BandPass, PhaseCorrParams, PhaseCorrelator, Window};
use fibstack::progress::Silent;
use fibstack::volume::{GreyData, GreyVolume, VoxelSize};
use ndarray::{Array3, Axis};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("peer_kernels: {e}");
        std::process::exit(1);
    }
}

struct Args {
    stage: String,
    paths: Vec<PathBuf>,
    reps: usize,
    voxel: [f64; 3],
    sigma: f64,
    upsample: usize,
    fib_defaults: bool,
    phase: u8,
    axis: usize,
}

fn parse() -> Res<Args> {
    let mut it = std::env::args().skip(1);
    let stage = it
        .next()
        .ok_or("usage: peer_kernels <stage> <inputs…> <output> [options]")?;
    let mut a = Args {
        stage,
        paths: vec![],
        reps: 3,
        voxel: [1.0; 3],
        sigma: 2.0,
        upsample: 100,
        fib_defaults: false,
        phase: 1,
        axis: 0,
    };
    while let Some(s) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match s.as_str() {
            "--reps" => a.reps = val("--reps")?.parse()?,
            "--sigma" => a.sigma = val("--sigma")?.parse()?,
            "--upsample" => a.upsample = val("--upsample")?.parse()?,
            "--phase" => a.phase = val("--phase")?.parse()?,
            "--axis" => a.axis = val("--axis")?.parse()?,
            "--voxel" => {
                let v: Vec<f64> = val("--voxel")?
                    .split(',')
                    .map(|x| x.trim().parse())
                    .collect::<Result<_, _>>()?;
                a.voxel = v
                    .try_into()
                    .map_err(|_| "--voxel needs three numbers dz,dy,dx")?;
            }
            "--fibstack-defaults" => a.fib_defaults = true,
            o if o.starts_with("--") => return Err(format!("unknown option {o}").into()),
            p => a.paths.push(PathBuf::from(p)),
        }
    }
    if a.reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    Ok(a)
}

fn read(p: &Path) -> Res<GreyVolume> {
    Ok(fibstack::io::read_volume(p, &Default::default())?)
}

fn labels_u8(p: &Path) -> Res<Array3<u8>> {
    match read(p)?.data {
        GreyData::U8(a) => Ok(a),
        _ => Err(format!("{}: expected a uint8 .npy", p.display()).into()),
    }
}

/// Best-of-`reps` wall time of `f`; returns the times and the last result.
fn time<T>(reps: usize, mut f: impl FnMut() -> Res<T>) -> Res<(Vec<f64>, T)> {
    let mut times = vec![];
    let mut last = None;
    for _ in 0..reps {
        drop(last.take());
        let t = Instant::now();
        let r = f()?;
        times.push(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    Ok((times, last.expect("reps >= 1")))
}

/// `.npy` (format 1.0, C order) of little-endian u32.
fn write_npy_u32(path: &Path, a: &Array3<u32>) -> Res<()> {
    let (nz, ny, nx) = a.dim();
    let mut header =
        format!("{{'descr': '<u4', 'fortran_order': False, 'shape': ({nz}, {ny}, {nx}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for v in a.iter() {
        w.write_all(&v.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}

fn write_f32(path: &Path, a: Array3<f32>) -> Res<()> {
    Ok(fibstack::io::npy::write_npy(
        path,
        &GreyVolume::from_f32(a, VoxelSize::default()),
    )?)
}

fn out_path(a: &Args, n_in: usize) -> Res<&Path> {
    if a.paths.len() != n_in + 1 {
        return Err(format!(
            "{} takes {n_in} input(s) and one output, got {} paths",
            a.stage,
            a.paths.len()
        )
        .into());
    }
    Ok(&a.paths[n_in])
}

fn run() -> Res<()> {
    let a = parse()?;
    let threads = rayon::current_num_threads();
    let mut extra = json!({});
    let times = match a.stage.as_str() {
        "label26" => {
            let out = out_path(&a, 1)?;
            let m = labels_u8(&a.paths[0])?;
            let (t, c) = time(a.reps, || {
                Ok(label_phase(m.view(), a.phase, Connectivity::TwentySix)?)
            })?;
            extra = json!({ "components": c.count() });
            write_npy_u32(out, &c.labels)?;
            t
        }
        "edt" => {
            let out = out_path(&a, 1)?;
            let m = labels_u8(&a.paths[0])?;
            let (t, d) = time(a.reps, || Ok(edt_phase(m.view(), a.phase, a.voxel)?))?;
            write_f32(out, d)?;
            t
        }
        "gaussian" => {
            let out = out_path(&a, 1)?;
            let v = read(&a.paths[0])?.to_f32();
            let s = a.sigma;
            let (t, g) = time(a.reps, || Ok(gaussian_3d(v.view(), [s, s, s], 4.0)))?;
            write_f32(out, g)?;
            t
        }
        "lt" => {
            let out = out_path(&a, 1)?;
            let m = labels_u8(&a.paths[0])?;
            let (t, lt) = time(a.reps, || {
                let mask = phase_mask(m.view(), a.phase);
                Ok(local_thickness_map(mask.view(), a.voxel)?)
            })?;
            write_f32(out, lt)?;
            t
        }
        "ltfast" => {
            let out = out_path(&a, 1)?;
            let m = labels_u8(&a.paths[0])?;
            let (t, lt) = time(a.reps, || {
                let mask = phase_mask(m.view(), a.phase);
                Ok(
                    fibstack::metrics::local_thickness::local_thickness_fast_map(
                        mask.view(),
                        a.voxel,
                    )?,
                )
            })?;
            write_f32(out, lt)?;
            t
        }
        "phasecorr" => {
            let out = out_path(&a, 2)?;
            let r = read(&a.paths[0])?.to_f32();
            let m = read(&a.paths[1])?.to_f32();
            if r.len_of(Axis(0)) != 1 || r.shape() != m.shape() {
                return Err("phasecorr needs two single images (1, ny, nx) of one shape".into());
            }
            let (r, m) = (r.index_axis(Axis(0), 0), m.index_axis(Axis(0), 0));
            let p = if a.fib_defaults {
                PhaseCorrParams {
                    upsample: a.upsample,
                    ..Default::default()
                }
            } else {
                PhaseCorrParams {
                    upsample: a.upsample,
                    window: Window::None,
                    bandpass: None::<BandPass>,
                    roi: None,
                    refine: false,
                    curtain_notch: 0,
                }
            };
            // plans are part of the one-shot cost, as in skimage
            let (t, s) = time(a.reps, || {
                let c = PhaseCorrelator::new([r.nrows(), r.ncols()], &p)?;
                Ok(c.register(r, m))
            })?;
            let v = json!({ "shift": [s.dy, s.dx], "quality": s.quality });
            std::fs::write(out, serde_json::to_string(&v)?)?;
            extra = v;
            t
        }
        "tortfd" => {
            let out = out_path(&a, 1)?;
            let l = labels_u8(&a.paths[0])?;
            let (t, r) = time(a.reps, || {
                Ok(tortuosity_fd(
                    l.view(),
                    a.phase,
                    a.voxel,
                    a.axis,
                    &SteadyStateOptions::default(),
                    &Silent,
                )?)
            })?;
            let v = json!({ "tau": r.tortuosity_factor, "axis": a.axis, "phase": a.phase });
            std::fs::write(out, serde_json::to_string(&v)?)?;
            extra = v;
            t
        }
        s => {
            return Err(format!(
                "unknown stage {s} (label26, edt, gaussian, lt, ltfast, phasecorr, tortfd)"
            )
            .into())
        }
    };
    let best = times.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut o = json!({ "stage": a.stage, "seconds": best, "runs": times, "threads": threads });
    if let (Value::Object(o), Value::Object(e)) = (&mut o, extra) {
        o.extend(e);
    }
    println!("{o}");
    Ok(())
}
