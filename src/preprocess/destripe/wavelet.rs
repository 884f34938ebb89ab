//! Combined wavelet–Fourier stripe filter (Münch, Trtik, Marone & Stampanoni, Opt. Express 17,
//! 8567, 2009), `destripe --method wavelet`. Per slice (vertical curtains; horizontal ones are
//! handled by transposing the slice):
//! 1. mirror-pad the slice to `2·ny × 2·nx` (even symmetric extension, as the wedge does: the
//!    periodic wavelet transform and the FFT then see no edge jumps);
//! 2. `L`-level 2-D DWT (orthogonal Daubechies, periodization);
//! 3. at every level, take the detail band that is high-pass along x and low-pass along y
//!    (`cv`: a column-constant stripe puts all its detail energy there), FFT each of its columns
//!    along y (the stripe direction) and multiply by `1 − exp(−k²/(2σ²))`, which removes the
//!    `k = 0` (y-constant = stripe) component and damps its neighbours;
//! 4. inverse FFT, inverse DWT, crop.
//!
//! `k` is the frequency along the column in cycles per column length of the *unpadded* image
//! at that level (the paper's unit: the FFT index of the band column), so σ means the same with
//! and without the padding. The filter is linear and fixed (not adaptive).

use super::DestripeParams;
use crate::error::ParamError;
use crate::preprocess::wavelet::{wavedec2, waverec2, Wavelet};
use ndarray::{Array2, ArrayView2};
use realfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// A ready-made wavelet–FFT filter for slices of one shape.
pub struct WaveletDestripe {
    ny: usize,
    nx: usize,
    wavelet: Wavelet,
    levels: usize,
    /// Slices are transposed first (horizontal stripes, angle ±90°).
    transpose: bool,
    /// Per level: forward and inverse FFT along the (padded) band columns and the damping.
    fft: Vec<LevelFft>,
}

/// FFT plans (forward, inverse) along the band columns of one level and the damping factors.
type LevelFft = (Arc<dyn Fft<f32>>, Arc<dyn Fft<f32>>, Vec<f32>);

/// Whether `angle` (degrees) is vertical (`Some(false)`), horizontal (`Some(true)`) or neither.
fn orientation(angle: f64) -> Option<bool> {
    let r = angle.rem_euclid(180.0);
    if r.abs() < 1e-9 || (180.0 - r).abs() < 1e-9 {
        Some(false)
    } else if (r - 90.0).abs() < 1e-9 {
        Some(true)
    } else {
        None
    }
}

/// Wavelet-specific parameter checks that do not need the image size.
pub fn validate(p: &DestripeParams) -> Result<(), ParamError> {
    crate::error::positive("wavelet sigma", p.wavelet_sigma).map_err(|_| {
        ParamError::new(
            "wavelet sigma",
            p.wavelet_sigma,
            "must be a finite Gaussian width > 0 in Fourier units (2 is typical)",
        )
    })?;
    if p.wavelet_levels == 0 || p.wavelet_levels > 30 {
        return Err(ParamError::new(
            "wavelet levels",
            p.wavelet_levels,
            "must be at least 1 (4-6 is typical; at most log2(2 x min size / (filter length - 1)))",
        ));
    }
    if orientation(p.angle_deg).is_none() {
        return Err(ParamError::new(
            "stripe angle (deg)",
            p.angle_deg,
            "the wavelet method handles vertical (0°) or horizontal (90°) stripes only; use --method wedge for tilted stripes",
        ));
    }
    if let Some(a) = p.second_angle_deg {
        return Err(ParamError::new(
            "second stripe angle (deg)",
            a,
            "the wavelet method filters one stripe direction; use --method wedge for two angles",
        ));
    }
    Ok(())
}

impl WaveletDestripe {
    /// Filter for `ny × nx` slices; refuses more levels than the image supports.
    pub fn new(ny: usize, nx: usize, p: &DestripeParams) -> Result<Self, ParamError> {
        validate(p)?;
        let transpose = orientation(p.angle_deg) == Some(true);
        let (ty, tx) = if transpose { (nx, ny) } else { (ny, nx) };
        let w = p.wavelet;
        // the transform runs on the mirror-padded 2·ny × 2·nx slice
        let max = w.max_level(2 * ty.min(tx));
        if p.wavelet_levels > max {
            return Err(ParamError::new(
                "wavelet levels",
                p.wavelet_levels,
                format!(
                    "too many for a {ny}x{nx} image with {} (at most {max}); use fewer levels or a shorter wavelet",
                    w.name()
                ),
            ));
        }
        let sigma = p.wavelet_sigma;
        let mut planner = FftPlanner::<f32>::new();
        let mut fft = Vec::with_capacity(p.wavelet_levels);
        let (mut m, mut m0) = (2 * ty, ty as f64);
        for _ in 0..p.wavelet_levels {
            m = m.div_ceil(2);
            m0 /= 2.0;
            // frequency in cycles per unpadded column: index · (m0 / m)
            let damp: Vec<f32> = (0..m)
                .map(|i| {
                    let idx = i.min(m - i) as f64;
                    let k = idx * m0 / m as f64;
                    (1.0 - (-(k * k) / (2.0 * sigma * sigma)).exp()) as f32
                })
                .collect();
            fft.push((
                planner.plan_fft_forward(m),
                planner.plan_fft_inverse(m),
                damp,
            ));
        }
        Ok(WaveletDestripe {
            ny,
            nx,
            wavelet: w,
            levels: p.wavelet_levels,
            transpose,
            fft,
        })
    }

    /// Filter one slice; returns it and the removed fraction of its variance,
    /// `‖in − out‖² / ‖in − mean(in)‖²` (0 for a flat slice).
    pub fn apply(&self, img: ArrayView2<f32>) -> Result<(Array2<f32>, f64), ParamError> {
        super::check_plan_shape(img.dim(), (self.ny, self.nx))?;
        let (ny, nx) = img.dim();
        let src = if self.transpose {
            img.reversed_axes()
        } else {
            img
        };
        let (ty, tx) = src.dim();
        let refl = |i: usize, n: usize| if i < n { i } else { 2 * n - 1 - i };
        let padded =
            Array2::from_shape_fn((2 * ty, 2 * tx), |(y, x)| src[[refl(y, ty), refl(x, tx)]]);
        let mut dec = wavedec2(padded.view(), self.wavelet, self.levels);
        for (c, (fwd, inv, damp)) in dec.iter_mut().zip(&self.fft) {
            damp_columns(&mut c.cv, fwd.as_ref(), inv.as_ref(), damp);
        }
        let rec = waverec2(dec, self.wavelet);
        let img = if self.transpose {
            src.reversed_axes()
        } else {
            src
        };
        let mut out = Array2::<f32>::zeros((ny, nx));
        for ((y, x), o) in out.indexed_iter_mut() {
            *o = if self.transpose {
                rec[[x, y]]
            } else {
                rec[[y, x]]
            };
        }
        let frac = super::vsnr::removed_fraction(img, out.view());
        Ok((out, frac))
    }
}

/// FFT every column of `band` (length must equal the plan's), multiply by `damp`, invert.
fn damp_columns(band: &mut Array2<f32>, fwd: &dyn Fft<f32>, inv: &dyn Fft<f32>, damp: &[f32]) {
    let (m, nx) = band.dim();
    if m != damp.len() || m == 0 {
        return;
    }
    let norm = 1.0 / m as f32;
    let mut col = vec![Complex::new(0f32, 0f32); m];
    let mut scratch = vec![
        Complex::new(0f32, 0f32);
        fwd.get_inplace_scratch_len()
            .max(inv.get_inplace_scratch_len())
    ];
    for x in 0..nx {
        for (c, v) in col.iter_mut().zip(band.column(x).iter()) {
            *c = Complex::new(*v, 0.0);
        }
        fwd.process_with_scratch(&mut col, &mut scratch);
        for (c, d) in col.iter_mut().zip(damp) {
            *c *= *d;
        }
        inv.process_with_scratch(&mut col, &mut scratch);
        for (o, c) in band.column_mut(x).iter_mut().zip(&col) {
            *o = c.re * norm;
        }
    }
}
