//! A simulator stack generated slice by slice, for volumes larger than memory (issue 7).
//!
//! Structure: a Boolean model of overlapping solid spheres (particles) in pore space — the sphere
//! centres and radii come from the seed alone, so slice `z` (truth and grey) is a pure function of
//! `(seed, z)` and can be rendered on its own, in any order, in parallel. Acquisition: two grey
//! levels, a random-walk drift (sub-pixel; rendered exactly by moving the disk centres), vertical
//! curtains of fixed columns, and Gaussian noise from `Rng::stream(seed, z)`.
//!
//! The expected porosity of the Boolean model is `exp(−λ·V)` for sphere density λ and mean sphere
//! volume V; λ is set from `target_porosity`.

use crate::error::{in_range, positive, ParamError};
use crate::rng::Rng;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Parameters of [`StreamSynth`]; also the options of `fibstack synth-stream` (clap), whose help
/// is these doc comments and whose defaults are this struct's `Default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSynthParams {
    /// Shape `[nz, ny, nx]` (on the command line Z,Y,X).
    #[arg(long, value_name = "Z,Y,X", value_parser = parse_list::<usize, 3>, default_value = join(&StreamSynthParams::default().shape))]
    pub shape: [usize; 3],
    /// Voxel size `[dz, dy, dx]` in nm (on the command line DZ,DY,DX).
    #[arg(long = "voxel", value_name = "DZ,DY,DX", value_parser = parse_list::<f64, 3>, default_value = join(&StreamSynthParams::default().voxel_nm))]
    pub voxel_nm: [f64; 3],
    /// Random seed; slice z is a function of (seed, z).
    #[arg(long, default_value_t = StreamSynthParams::default().seed)]
    pub seed: u64,
    /// Mean particle radius (nm); radii are uniform in ±30 % of it.
    #[arg(long, allow_negative_numbers = true, default_value_t = StreamSynthParams::default().radius_nm)]
    pub radius_nm: f64,
    /// Expected pore fraction of the structure.
    #[arg(long = "porosity", allow_negative_numbers = true, default_value_t = StreamSynthParams::default().target_porosity)]
    pub target_porosity: f64,
    /// Grey levels of pore and solid (on the command line PORE,SOLID).
    #[arg(long, value_name = "PORE,SOLID", value_parser = parse_list::<f64, 2>, default_value = join(&StreamSynthParams::default().levels))]
    pub levels: [f64; 2],
    /// Noise standard deviation (grey values).
    #[arg(long, allow_negative_numbers = true, default_value_t = StreamSynthParams::default().noise)]
    pub noise: f64,
    /// Standard deviation of the per-slice drift step (px, each axis).
    #[arg(long, allow_negative_numbers = true, default_value_t = StreamSynthParams::default().drift_step_px)]
    pub drift_step_px: f64,
    /// Curtain amplitude (grey values).
    #[arg(long, allow_negative_numbers = true, default_value_t = StreamSynthParams::default().curtain_amplitude)]
    pub curtain_amplitude: f64,
    /// Fraction of columns that carry a curtain.
    #[arg(long, allow_negative_numbers = true, default_value_t = StreamSynthParams::default().curtain_fraction)]
    pub curtain_fraction: f64,
}

/// `N` comma-separated values (the command line's spelling of a fixed-size list).
fn parse_list<T: std::str::FromStr, const N: usize>(s: &str) -> Result<[T; N], String> {
    let v: Vec<T> = s
        .split(',')
        .map(|p| p.trim().parse::<T>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{s:?}: give {N} comma-separated numbers"))?;
    v.try_into()
        .map_err(|_| format!("{s:?}: give {N} comma-separated numbers"))
}

/// A fixed-size list as the command line writes it (`20,10,10`).
fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl Default for StreamSynthParams {
    fn default() -> Self {
        StreamSynthParams {
            shape: [200, 512, 512],
            voxel_nm: [20.0, 10.0, 10.0],
            seed: 1,
            radius_nm: 250.0,
            target_porosity: 0.4,
            levels: [12000.0, 36000.0],
            noise: 1500.0,
            drift_step_px: 0.3,
            curtain_amplitude: 4000.0,
            curtain_fraction: 0.05,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sphere {
    /// Centre in voxels `[z, y, x]` and radius in nm.
    c: [f64; 3],
    r_nm: f64,
}

/// The generator: spheres bucketed by the slices they cross, drift curve, curtain columns.
pub struct StreamSynth {
    p: StreamSynthParams,
    spheres: Vec<Sphere>,
    /// `by_slice[z]` = indices of spheres crossing slice z.
    by_slice: Vec<Vec<u32>>,
    drift: Vec<[f64; 2]>,
    curtain: Vec<f32>,
}

impl StreamSynth {
    /// A generator for `p` (checked).
    pub fn new(p: &StreamSynthParams) -> Result<Self, ParamError> {
        let [nz, ny, nx] = p.shape;
        if p.shape.contains(&0) {
            return Err(ParamError::new(
                "shape",
                format!("{:?}", p.shape),
                "every dimension must be at least 1",
            ));
        }
        for (i, n) in ["dz", "dy", "dx"].iter().enumerate() {
            positive(&format!("voxel {n} (nm)"), p.voxel_nm[i])?;
        }
        positive("radius_nm", p.radius_nm)?;
        in_range("target_porosity", p.target_porosity, 0.02, 0.98)?;
        if !(p.noise >= 0.0 && p.drift_step_px >= 0.0 && p.curtain_amplitude >= 0.0) {
            return Err(ParamError::new(
                "noise/drift/curtain",
                "negative",
                "must be >= 0",
            ));
        }
        in_range("curtain_fraction", p.curtain_fraction, 0.0, 1.0)?;
        let d = p.voxel_nm;
        let rmax = p.radius_nm * 1.3;
        // box extended by the largest radius on every side
        let ext: Vec<f64> = (0..3)
            .map(|a| p.shape[a] as f64 + 2.0 * rmax / d[a])
            .collect();
        let mean_r3 = {
            // E[r^3] for r uniform in [0.7R, 1.3R]
            let (a, b) = (0.7 * p.radius_nm, 1.3 * p.radius_nm);
            (b.powi(4) - a.powi(4)) / (4.0 * (b - a))
        };
        let v_mean_vox = 4.0 / 3.0 * std::f64::consts::PI * mean_r3 / (d[0] * d[1] * d[2]);
        let lambda = -p.target_porosity.ln() / v_mean_vox;
        let n_sph = (lambda * ext.iter().product::<f64>()).round() as usize;
        if n_sph > 50_000_000 {
            return Err(ParamError::new(
                "radius_nm",
                p.radius_nm,
                "gives more than 5e7 particles for this shape; use larger particles",
            ));
        }
        let mut rng = Rng::stream(p.seed, u64::MAX);
        let mut spheres = Vec::with_capacity(n_sph);
        let mut by_slice = vec![Vec::new(); nz];
        for k in 0..n_sph {
            let c = [
                rng.uniform() * ext[0] - rmax / d[0],
                rng.uniform() * ext[1] - rmax / d[1],
                rng.uniform() * ext[2] - rmax / d[2],
            ];
            let r_nm = p.radius_nm * (0.7 + 0.6 * rng.uniform());
            let rz = r_nm / d[0];
            let z0 = (c[0] - rz).ceil().max(0.0) as usize;
            let z1 = (c[0] + rz).floor().min(nz as f64 - 1.0);
            if z1 >= 0.0 && z0 < nz {
                let z1 = (z1 as usize).min(nz - 1);
                for b in by_slice[z0..=z1].iter_mut() {
                    b.push(k as u32);
                }
            }
            spheres.push(Sphere { c, r_nm });
        }
        let mut drng = Rng::stream(p.seed, u64::MAX - 1);
        let mut drift = Vec::with_capacity(nz);
        let mut acc = [0.0f64, 0.0];
        for z in 0..nz {
            if z > 0 {
                acc[0] += p.drift_step_px * drng.normal();
                acc[1] += p.drift_step_px * drng.normal();
            }
            drift.push(acc);
        }
        let mut crng = Rng::stream(p.seed, u64::MAX - 2);
        let curtain = (0..nx)
            .map(|_| {
                let on = crng.uniform() < p.curtain_fraction;
                let a = crng.normal();
                if on {
                    (p.curtain_amplitude * a) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let _ = ny;
        Ok(StreamSynth {
            p: p.clone(),
            spheres,
            by_slice,
            drift,
            curtain,
        })
    }

    /// The parameters it was made with.
    pub fn params(&self) -> &StreamSynthParams {
        &self.p
    }
    /// Drift applied to slice z (px `[dy, dx]`; the truth is in the frame of slice 0).
    pub fn drift(&self, z: usize) -> [f64; 2] {
        self.drift[z]
    }
    /// Number of particles.
    pub fn n_particles(&self) -> usize {
        self.spheres.len()
    }

    /// Solid (true) / pore mask of slice z with the disk centres moved by `[dy, dx]` px.
    fn mask(&self, z: usize, off: [f64; 2]) -> Array2<bool> {
        let [_, ny, nx] = self.p.shape;
        let d = self.p.voxel_nm;
        let mut m = Array2::<bool>::from_elem((ny, nx), false);
        for &k in &self.by_slice[z] {
            let s = self.spheres[k as usize];
            let dz_nm = (z as f64 - s.c[0]) * d[0];
            let rr = s.r_nm * s.r_nm - dz_nm * dz_nm;
            if rr < 0.0 {
                continue;
            }
            let rho = rr.sqrt();
            let (cy, cx) = (s.c[1] + off[0], s.c[2] + off[1]);
            let (ry, rx) = (rho / d[1], rho / d[2]);
            let y0 = (cy - ry).ceil().max(0.0) as usize;
            let y1 = (cy + ry).floor().min(ny as f64 - 1.0);
            if y1 < 0.0 {
                continue;
            }
            for y in y0..=(y1 as usize) {
                let t = (y as f64 - cy) / ry;
                let h = (1.0 - t * t).max(0.0).sqrt() * rx;
                let x0 = (cx - h).ceil().max(0.0) as usize;
                let x1 = (cx + h).floor().min(nx as f64 - 1.0);
                if x1 < 0.0 {
                    continue;
                }
                for x in x0..=(x1 as usize) {
                    m[[y, x]] = true;
                }
            }
        }
        m
    }

    /// Truth labels of slice z (0 = pore, 1 = solid), in the frame of slice 0.
    pub fn truth_slice(&self, z: usize) -> Array2<u8> {
        self.mask(z, [0.0, 0.0]).mapv(|b| b as u8)
    }

    /// The acquired (drifted, curtained, noisy) grey slice z as u16.
    pub fn grey_slice(&self, z: usize) -> Array2<u16> {
        let m = self.mask(z, self.drift[z]);
        let mut rng = Rng::stream(self.p.seed, z as u64);
        let [lp, ls] = self.p.levels;
        let mut out = Array2::<u16>::zeros(m.dim());
        for ((y, x), o) in out.indexed_iter_mut() {
            let base = if m[[y, x]] { ls } else { lp };
            let v = base + self.curtain[x] as f64 + self.p.noise * rng.normal();
            *o = v.round().clamp(0.0, 65535.0) as u16;
        }
        out
    }
}

/// Write the grey stack (and, with `truth`, the truth labels) to folders of per-slice TIFFs,
/// rendering a slab of slices in parallel at a time; each folder appears atomically at the end.
pub fn write_stack(
    synth: &StreamSynth,
    grey_dir: &std::path::Path,
    truth_dir: Option<&std::path::Path>,
    progress: &dyn crate::progress::Progress,
) -> Result<(), crate::error::Error> {
    use crate::io::stream::SliceWriter;
    use crate::io::tiff::TiffWriteOptions;
    use crate::volume::{GreyData, Metadata, SampleType, VoxelSize, VoxelSource};
    use rayon::prelude::*;
    let [nz, ny, nx] = synth.p.shape;
    let voxel = VoxelSize::new(synth.p.voxel_nm, VoxelSource::File);
    let mk = |p: &std::path::Path, st| {
        SliceWriter::create(
            p,
            [nz, ny, nx],
            st,
            voxel,
            Metadata::default(),
            &TiffWriteOptions::default(),
        )
    };
    let mut gw = mk(grey_dir, SampleType::U16)?;
    let mut tw = match truth_dir {
        Some(t) => Some(mk(t, SampleType::U8)?),
        None => None,
    };
    let slab = (2 * rayon::current_num_threads()).max(4);
    progress.start("synth slices", nz as u64);
    let mut z0 = 0;
    while z0 < nz {
        let z1 = (z0 + slab).min(nz);
        let grey: Vec<Array2<u16>> = (z0..z1)
            .into_par_iter()
            .map(|z| synth.grey_slice(z))
            .collect();
        let views: Vec<_> = grey
            .iter()
            .map(|a| a.view().insert_axis(ndarray::Axis(0)))
            .collect();
        let g = ndarray::concatenate(ndarray::Axis(0), &views)
            .expect("slices of one slab share their shape");
        gw.write_slab(&GreyData::U16(g))?;
        if let Some(w) = tw.as_mut() {
            let t: Vec<Array2<u8>> = (z0..z1)
                .into_par_iter()
                .map(|z| synth.truth_slice(z))
                .collect();
            let views: Vec<_> = t
                .iter()
                .map(|a| a.view().insert_axis(ndarray::Axis(0)))
                .collect();
            let t = ndarray::concatenate(ndarray::Axis(0), &views)
                .expect("slices of one slab share their shape");
            w.write_slab(&GreyData::U8(t))?;
        }
        progress.inc((z1 - z0) as u64);
        z0 = z1;
    }
    progress.finish();
    gw.finish()?;
    if let Some(w) = tw {
        w.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_a_function_of_seed_and_z_and_porosity_is_near_target() {
        let p = StreamSynthParams {
            shape: [24, 96, 96],
            voxel_nm: [20.0, 10.0, 10.0],
            radius_nm: 120.0,
            ..Default::default()
        };
        let a = StreamSynth::new(&p).unwrap();
        let b = StreamSynth::new(&p).unwrap();
        // any order, same bytes
        assert_eq!(a.grey_slice(7), b.grey_slice(7));
        let _ = b.grey_slice(3);
        assert_eq!(a.grey_slice(3), b.grey_slice(3));
        assert_eq!(a.truth_slice(5), b.truth_slice(5));
        let other = StreamSynth::new(&StreamSynthParams {
            seed: 2,
            ..p.clone()
        })
        .unwrap();
        assert_ne!(a.grey_slice(7), other.grey_slice(7));
        let pore: usize = (0..24)
            .map(|z| a.truth_slice(z).iter().filter(|&&v| v == 0).count())
            .sum();
        let phi = pore as f64 / (24.0 * 96.0 * 96.0);
        assert!((phi - 0.4).abs() < 0.06, "porosity {phi}");
        // without drift and noise the grey slice is the truth in two levels
        let clean = StreamSynth::new(&StreamSynthParams {
            noise: 0.0,
            drift_step_px: 0.0,
            curtain_amplitude: 0.0,
            ..p
        })
        .unwrap();
        let g = clean.grey_slice(4);
        let t = clean.truth_slice(4);
        for (gv, tv) in g.iter().zip(t.iter()) {
            assert_eq!(*gv, if *tv == 1 { 36000 } else { 12000 });
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        for p in [
            StreamSynthParams {
                radius_nm: 0.0,
                ..Default::default()
            },
            StreamSynthParams {
                target_porosity: 1.0,
                ..Default::default()
            },
            StreamSynthParams {
                noise: -1.0,
                ..Default::default()
            },
        ] {
            assert!(StreamSynth::new(&p).is_err());
        }
    }
}
