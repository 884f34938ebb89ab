//! Shared helpers of the destriping tests (wedge and wavelet): the simulated slices and the
//! acceptance metrics of issue 4.
#![allow(dead_code)]

use fibstack::preprocess::denoise::gaussian_2d;
use fibstack::rng::Rng;
use ndarray::{Array1, Array2, Axis};

/// Smooth random structure: a Gaussian random field (white noise blurred with σ = `blur` px),
/// mean 125, standard deviation 40 grey levels.
pub fn structure_s(ny: usize, nx: usize, seed: u64, blur: f64) -> Array2<f32> {
    let mut rng = Rng::stream(seed, 0);
    let noise = Array2::from_shape_fn((ny, nx), |_| rng.normal() as f32);
    let g = gaussian_2d(noise.view(), [blur, blur], 4.0);
    let sd = (g.iter().map(|v| v * v).sum::<f32>() / g.len() as f32).sqrt();
    g.mapv(|v| 125.0 + 40.0 * v / sd)
}

pub fn structure(ny: usize, nx: usize, seed: u64) -> Array2<f32> {
    structure_s(ny, nx, seed, 16.0)
}

/// Vertical stripes: constant along y, random amplitude per column (plus a few strong curtains).
pub fn stripes(ny: usize, nx: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::stream(seed, 1);
    let mut amp: Vec<f32> = (0..nx).map(|_| 12.0 * rng.normal() as f32).collect();
    for _ in 0..nx / 16 {
        let x = rng.below(nx as u64) as usize;
        let w = 1 + rng.below(4) as usize;
        let a = 45.0 * rng.normal() as f32;
        for v in amp.iter_mut().skip(x).take(w) {
            *v += a;
        }
    }
    Array2::from_shape_fn((ny, nx), |(_, x)| amp[x])
}

pub fn sq_err(a: &Array2<f32>, b: &Array2<f32>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum()
}

pub fn psnr(a: &Array2<f32>, clean: &Array2<f32>) -> f64 {
    let mse = sq_err(a, clean) / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

pub fn energy(a: &Array2<f32>) -> f64 {
    a.iter().map(|v| (*v as f64).powi(2)).sum()
}

pub fn read_tiff_gray(path: &std::path::Path) -> Array2<f32> {
    use tiff::decoder::{Decoder, DecodingResult};
    let mut d = Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    let (w, h) = d.dimensions().unwrap();
    let img = d.read_image().unwrap();
    let v: Vec<f32> = match img {
        DecodingResult::U8(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::U16(v) => v.into_iter().map(|x| x as f32).collect(),
        other => panic!(
            "unexpected sample type {:?}",
            std::mem::discriminant(&other)
        ),
    };
    let spp = v.len() / (w as usize * h as usize);
    let v: Vec<f32> = v.chunks(spp).map(|c| c[0]).collect();
    Array2::from_shape_vec((h as usize, w as usize), v).unwrap()
}

/// High-pass variance of the column-mean profile (profile minus its Gaussian σ = 8 px smoothing).
pub fn column_hp_variance(img: &Array2<f32>) -> f64 {
    let prof: Array1<f32> = img.mean_axis(Axis(0)).unwrap();
    let p2 = prof.clone().insert_axis(Axis(0));
    let smooth = gaussian_2d(p2.view(), [0.0, 8.0], 4.0);
    let hp: Vec<f64> = prof
        .iter()
        .zip(smooth.row(0).iter())
        .map(|(a, b)| (a - b) as f64)
        .collect();
    let m = hp.iter().sum::<f64>() / hp.len() as f64;
    hp.iter().map(|v| (v - m).powi(2)).sum::<f64>() / hp.len() as f64
}

/// `../shared/data/sem/fib_crosssection_nacre_curtaining.tif`, or None when absent.
pub fn nacre() -> Option<Array2<f32>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/sem/fib_crosssection_nacre_curtaining.tif");
    if !path.exists() {
        eprintln!("skipping: {} not found", path.display());
        return None;
    }
    Some(read_tiff_gray(&path))
}
