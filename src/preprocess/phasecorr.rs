//! Sub-pixel translation by phase correlation with upsampled matrix-multiply DFT refinement
//! (Guizar-Sicairos, Thurman & Fienup, Opt. Lett. 33, 156 (2008); methods §3).
//!
//! # Sign convention
//! [`PhaseCorrelator::correlate`]`(reference, moving)` returns the shift `(dy, dx)` that
//! **registers `moving` onto `reference`**, exactly as scikit-image
//! `phase_cross_correlation(reference, moving)`: if `moving(y, x) = reference(y - sy, x - sx)`
//! (the content moved by `+s`), the result is `(-sy, -sx)`; shifting `moving` by the result
//! (`out(y, x) = moving(y - dy, x - dx)`, see [`fourier_shift`] / [`super::align::shift_bilinear`])
//! brings it back onto `reference`.
//!
//! # Algorithm
//! 1. Crop the optional ROI, subtract its mean, multiply by the optional separable window
//!    (Hann, or Tukey with taper fraction α), real FFT (realfft along x, rustfft along y; plans
//!    are created once per correlator and shared by all threads).
//! 2. Cross-power spectrum `R = F_ref · conj(F_mov) / |F_ref · conj(F_mov)|` ("phase"
//!    normalisation, as scikit-image's default), DC set to 0, optionally weighted by a
//!    difference-of-Gaussians band-pass `H(f) = exp(-2π²σ_lo²|f|²) - exp(-2π²σ_hi²|f|²)`
//!    (σ in pixels: detail finer than σ_lo and shading coarser than σ_hi are suppressed).
//! 3. Inverse FFT, integer peak (largest value), wrapped to `(-N/2, N/2]`.
//! 4. If `upsample > 1`: the correlation is evaluated by a matrix-multiply DFT on a grid of
//!    `ceil(1.5·upsample)²` points spaced `1/upsample` px around the integer peak, and its
//!    maximum gives the shift (accuracy ≈ 1/upsample px).
//!
//! # Quality
//! `quality` is the refined peak height divided by its largest possible value `Σ|R|·H`: 1 for two
//! identical images up to a translation, near 0 for unrelated images. `peak_ratio` is the integer
//! peak over the highest correlation value farther than 3 px from it (distinctiveness).

use crate::error::ParamError;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::sync::Arc;

type C64 = Complex<f64>;

/// Apodisation window applied before the FFT.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Window {
    /// No window (the images are treated as periodic).
    None,
    /// Separable Hann window (default).
    #[default]
    Hann,
    /// Separable Tukey window: flat centre, cosine tapers over the fraction `alpha` (0..=1) of
    /// each axis (alpha = 1 is Hann, 0 is no window).
    Tukey { alpha: f64 },
}

impl Window {
    /// The 1-D window of length `n`.
    pub fn coefficients(&self, n: usize) -> Vec<f64> {
        match *self {
            Window::None => vec![1.0; n],
            Window::Hann => tukey(n, 1.0),
            Window::Tukey { alpha } => tukey(n, alpha),
        }
    }
    fn validate(&self) -> Result<(), ParamError> {
        if let Window::Tukey { alpha } = *self {
            crate::error::in_range("window tukey alpha", alpha, 0.0, 1.0)?;
        }
        Ok(())
    }
}

/// Tukey window with taper fraction `alpha` (periodic form is not needed: symmetric, `n` points).
fn tukey(n: usize, alpha: f64) -> Vec<f64> {
    if n <= 1 || alpha <= 0.0 {
        return vec![1.0; n];
    }
    let m = (n - 1) as f64;
    let edge = alpha * m / 2.0;
    (0..n)
        .map(|i| {
            let x = i as f64;
            let d = x.min(m - x);
            if d >= edge {
                1.0
            } else {
                0.5 * (1.0 - (PI * d / edge).cos())
            }
        })
        .collect()
}

/// A rectangle `[y0, x0, height, width]` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roi {
    pub y0: usize,
    pub x0: usize,
    pub height: usize,
    pub width: usize,
}

impl Roi {
    /// Check that the ROI lies inside an image of `ny × nx` and is at least 4×4.
    pub fn check(&self, ny: usize, nx: usize) -> Result<(), ParamError> {
        let ok = self.height >= 4
            && self.width >= 4
            && self.y0.checked_add(self.height).is_some_and(|e| e <= ny)
            && self.x0.checked_add(self.width).is_some_and(|e| e <= nx);
        if ok {
            Ok(())
        } else {
            Err(ParamError::new(
                "roi",
                format!("{},{},{},{}", self.y0, self.x0, self.height, self.width),
                format!(
                    "Y0,X0,H,W must lie inside the {ny}×{nx} image (Y0+H <= {ny}, X0+W <= {nx}) with H, W >= 4"
                ),
            ))
        }
    }
}

/// Difference-of-Gaussians band-pass in Fourier space, σ in pixels (`lo_px < hi_px`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandPass {
    /// Detail finer than this Gaussian σ (px) is suppressed (noise). 0 keeps all fine detail.
    pub lo_px: f64,
    /// Structure coarser than this Gaussian σ (px) is suppressed (shading, charging).
    pub hi_px: f64,
}

impl BandPass {
    fn validate(&self) -> Result<(), ParamError> {
        if !(self.lo_px.is_finite() && self.lo_px >= 0.0) {
            return Err(ParamError::new(
                "bandpass LO",
                self.lo_px,
                "must be a finite σ >= 0 px",
            ));
        }
        if !(self.hi_px.is_finite() && self.hi_px > self.lo_px) {
            return Err(ParamError::new(
                "bandpass HI",
                self.hi_px,
                format!("must be a finite σ in px larger than LO = {}", self.lo_px),
            ));
        }
        Ok(())
    }
    /// Filter gain at spatial frequency `f` (cycles/px).
    pub fn gain(&self, f2: f64) -> f64 {
        let a = (-2.0 * PI * PI * self.lo_px * self.lo_px * f2).exp();
        let b = (-2.0 * PI * PI * self.hi_px * self.hi_px * f2).exp();
        a - b
    }
}

/// Parameters of the phase correlation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhaseCorrParams {
    /// Upsampling factor of the DFT refinement (accuracy ≈ 1/upsample px); 1 = integer shifts.
    pub upsample: usize,
    pub window: Window,
    pub bandpass: Option<BandPass>,
    /// Correlate only this rectangle (e.g. a fiducial); shifts are still in image pixels.
    pub roi: Option<Roi>,
}

impl Default for PhaseCorrParams {
    fn default() -> Self {
        PhaseCorrParams {
            upsample: 100,
            window: Window::Hann,
            bandpass: None,
            roi: None,
        }
    }
}

impl PhaseCorrParams {
    /// Check the parameters for images of `ny × nx`.
    pub fn validate(&self, ny: usize, nx: usize) -> Result<(), ParamError> {
        if self.upsample < 1 || self.upsample > 10_000 {
            return Err(ParamError::new(
                "upsample",
                self.upsample,
                "must be an integer in 1..=10000 (100 gives 0.01 px)",
            ));
        }
        self.window.validate()?;
        if let Some(b) = &self.bandpass {
            b.validate()?;
        }
        if let Some(r) = &self.roi {
            r.check(ny, nx)?;
        } else if ny < 4 || nx < 4 {
            return Err(ParamError::new(
                "image size",
                format!("{ny}×{nx}"),
                "phase correlation needs images of at least 4×4 pixels",
            ));
        }
        Ok(())
    }
}

/// Result of one registration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseShift {
    /// Row shift (px) that registers `moving` onto `reference` (scikit-image sign).
    pub dy: f64,
    /// Column shift (px), same convention.
    pub dx: f64,
    /// Refined peak height / its maximum possible value (0..1).
    pub quality: f64,
    /// Integer peak over the highest value farther than 3 px away.
    pub peak_ratio: f64,
}

/// Fourier transform of one (ROI-cropped, mean-subtracted, windowed) image, layout `[kx][ky]`.
#[derive(Debug, Clone)]
pub struct Spectrum {
    data: Vec<C64>,
}

/// A reusable phase correlator for images of one shape: FFT plans, window and band-pass are
/// computed once. `Sync`: share it across rayon workers.
pub struct PhaseCorrelator {
    params: PhaseCorrParams,
    /// Region correlated: `[y0, x0, ny, nx]`.
    y0: usize,
    x0: usize,
    ny: usize,
    nx: usize,
    nxh: usize,
    wy: Vec<f64>,
    wx: Vec<f64>,
    /// Band-pass gain per half-spectrum bin (layout `[kx][ky]`), or None.
    filter: Option<Vec<f64>>,
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    fy: Arc<dyn Fft<f64>>,
    iy: Arc<dyn Fft<f64>>,
}

/// Signed frequency (cycles/sample) of FFT bin `k` of `n` (numpy `fftfreq`).
fn freq(k: usize, n: usize) -> f64 {
    if k < n.div_ceil(2) {
        k as f64 / n as f64
    } else {
        (k as f64 - n as f64) / n as f64
    }
}

impl PhaseCorrelator {
    /// A correlator for images of `shape = [ny, nx]`.
    pub fn new(shape: [usize; 2], params: &PhaseCorrParams) -> Result<Self, ParamError> {
        let [fny, fnx] = shape;
        params.validate(fny, fnx)?;
        let (y0, x0, ny, nx) = match params.roi {
            Some(r) => (r.y0, r.x0, r.height, r.width),
            None => (0, 0, fny, fnx),
        };
        let nxh = nx / 2 + 1;
        let mut rp = RealFftPlanner::<f64>::new();
        let r2c = rp.plan_fft_forward(nx);
        let c2r = rp.plan_fft_inverse(nx);
        let mut cp = FftPlanner::<f64>::new();
        let fy = cp.plan_fft_forward(ny);
        let iy = cp.plan_fft_inverse(ny);
        let filter = params.bandpass.map(|b| {
            let mut f = vec![0.0; nxh * ny];
            for kx in 0..nxh {
                let fxv = kx as f64 / nx as f64;
                for ky in 0..ny {
                    let fyv = freq(ky, ny);
                    f[kx * ny + ky] = b.gain(fxv * fxv + fyv * fyv);
                }
            }
            f
        });
        Ok(PhaseCorrelator {
            params: *params,
            y0,
            x0,
            ny,
            nx,
            nxh,
            wy: params.window.coefficients(ny),
            wx: params.window.coefficients(nx),
            filter,
            r2c,
            c2r,
            fy,
            iy,
        })
    }

    /// The parameters this correlator was built with.
    pub fn params(&self) -> &PhaseCorrParams {
        &self.params
    }

    /// Spectrum of one image (must have the shape given to [`PhaseCorrelator::new`]).
    pub fn spectrum(&self, img: ArrayView2<f32>) -> Spectrum {
        let (ny, nx, nxh) = (self.ny, self.nx, self.nxh);
        let region = img.slice(ndarray::s![self.y0..self.y0 + ny, self.x0..self.x0 + nx]);
        let mean = region.iter().map(|&v| v as f64).sum::<f64>() / (ny * nx) as f64;
        let mut rows = vec![C64::new(0.0, 0.0); ny * nxh];
        let mut line = vec![0.0f64; nx];
        let mut scratch = self.r2c.make_scratch_vec();
        for (y, row) in region.outer_iter().enumerate() {
            let wy = self.wy[y];
            for (x, &v) in row.iter().enumerate() {
                line[x] = (v as f64 - mean) * wy * self.wx[x];
            }
            // lengths are right by construction; an error here would be a bug
            let out = &mut rows[y * nxh..(y + 1) * nxh];
            self.r2c
                .process_with_scratch(&mut line, out, &mut scratch)
                .expect("realfft lengths");
        }
        // transpose to [kx][ky] and FFT along y
        let mut data = vec![C64::new(0.0, 0.0); nxh * ny];
        for y in 0..ny {
            for kx in 0..nxh {
                data[kx * ny + y] = rows[y * nxh + kx];
            }
        }
        self.fy.process(&mut data);
        Spectrum { data }
    }

    /// Shift registering `moving` onto `reference` (see the module docs for the sign).
    pub fn correlate(&self, reference: &Spectrum, moving: &Spectrum) -> PhaseShift {
        let (ny, nx, nxh) = (self.ny, self.nx, self.nxh);
        // normalised cross-power spectrum, band-passed, DC removed
        let tiny = 100.0 * f64::EPSILON;
        let mut r: Vec<C64> = reference
            .data
            .iter()
            .zip(&moving.data)
            .map(|(a, b)| {
                let p = a * b.conj();
                let m = p.norm();
                if m > tiny {
                    p / m
                } else {
                    p / tiny
                }
            })
            .collect();
        if let Some(f) = &self.filter {
            for (v, g) in r.iter_mut().zip(f) {
                *v *= *g;
            }
        }
        r[0] = C64::new(0.0, 0.0);
        let col_weight = |kx: usize| -> f64 {
            if kx == 0 || (nx % 2 == 0 && kx == nx / 2) {
                1.0
            } else {
                2.0
            }
        };
        let mut denom = 0.0;
        for kx in 0..nxh {
            let w = col_weight(kx);
            denom += w * r[kx * ny..(kx + 1) * ny]
                .iter()
                .map(|v| v.norm())
                .sum::<f64>();
        }
        if denom <= 0.0 || !denom.is_finite() {
            return PhaseShift {
                dy: 0.0,
                dx: 0.0,
                quality: 0.0,
                peak_ratio: 1.0,
            };
        }
        // integer correlation: inverse along y, transpose, c2r along x
        let mut t = r.clone();
        self.iy.process(&mut t);
        let mut rows = vec![C64::new(0.0, 0.0); ny * nxh];
        for kx in 0..nxh {
            for y in 0..ny {
                rows[y * nxh + kx] = t[kx * ny + y];
            }
        }
        let mut cc = vec![0.0f64; ny * nx];
        let mut scratch = self.c2r.make_scratch_vec();
        for y in 0..ny {
            let inp = &mut rows[y * nxh..(y + 1) * nxh];
            inp[0].im = 0.0;
            if nx % 2 == 0 {
                inp[nxh - 1].im = 0.0;
            }
            self.c2r
                .process_with_scratch(inp, &mut cc[y * nx..(y + 1) * nx], &mut scratch)
                .expect("realfft lengths");
        }
        let (mut py, mut px, mut peak) = (0usize, 0usize, f64::NEG_INFINITY);
        for (i, &v) in cc.iter().enumerate() {
            if v > peak {
                peak = v;
                py = i / nx;
                px = i % nx;
            }
        }
        // second peak: highest value with circular distance > 3 px on either axis
        let mut second = f64::NEG_INFINITY;
        for y in 0..ny {
            let dyc = circ_dist(y, py, ny);
            for x in 0..nx {
                if dyc <= 3 && circ_dist(x, px, nx) <= 3 {
                    continue;
                }
                second = second.max(cc[y * nx + x]);
            }
        }
        let peak_ratio = if second > 0.0 {
            (peak / second).min(1e6)
        } else {
            1e6
        };
        let wrap = |p: usize, n: usize| -> f64 {
            if p > n / 2 {
                p as f64 - n as f64
            } else {
                p as f64
            }
        };
        let sy = if ny > 1 { wrap(py, ny) } else { 0.0 };
        let sx = if nx > 1 { wrap(px, nx) } else { 0.0 };
        let up = self.params.upsample;
        if up <= 1 {
            return PhaseShift {
                dy: sy,
                dx: sx,
                quality: peak / denom,
                peak_ratio,
            };
        }
        // upsampled matrix-multiply DFT around (sy, sx)
        let upf = up as f64;
        let m = (upf * 1.5).ceil() as usize;
        let dftshift = (m / 2) as f64;
        let pos = |a: usize, s: f64| s + (a as f64 - dftshift) / upf;
        // Ey[a][ky] = exp(i 2π fy(ky) y_a)
        let ey: Vec<C64> = (0..m)
            .flat_map(|a| {
                let ya = pos(a, sy);
                (0..ny).map(move |ky| C64::from_polar(1.0, 2.0 * PI * freq(ky, ny) * ya))
            })
            .collect();
        // T[kx][a] = Σ_ky R[kx][ky] Ey[a][ky]
        let tmat: Vec<C64> = (0..nxh)
            .into_par_iter()
            .flat_map_iter(|kx| {
                let col = &r[kx * ny..(kx + 1) * ny];
                let ey = &ey;
                (0..m).map(move |a| {
                    let e = &ey[a * ny..(a + 1) * ny];
                    let mut s = C64::new(0.0, 0.0);
                    for (c, w) in col.iter().zip(e) {
                        s += c * w;
                    }
                    s
                })
            })
            .collect();
        // CC(a, b) = Re Σ_kx w_kx T[kx][a] exp(i 2π fx x_b)
        let ex: Vec<C64> = (0..m)
            .flat_map(|b| {
                let xb = pos(b, sx);
                (0..nxh).map(move |kx| {
                    C64::from_polar(col_weight(kx), 2.0 * PI * (kx as f64 / nx as f64) * xb)
                })
            })
            .collect();
        let best = (0..m * m)
            .into_par_iter()
            .map(|i| {
                let (a, b) = (i / m, i % m);
                let e = &ex[b * nxh..(b + 1) * nxh];
                let mut s = 0.0;
                for kx in 0..nxh {
                    let v = tmat[kx * m + a] * e[kx];
                    s += v.re;
                }
                (s, a, b)
            })
            .reduce(
                || (f64::NEG_INFINITY, 0, 0),
                |p, q| {
                    // deterministic tie-break on the index
                    if q.0 > p.0 || (q.0 == p.0 && (q.1, q.2) < (p.1, p.2)) {
                        q
                    } else {
                        p
                    }
                },
            );
        let (val, a, b) = best;
        PhaseShift {
            dy: if ny > 1 { pos(a, sy) } else { 0.0 },
            dx: if nx > 1 { pos(b, sx) } else { 0.0 },
            quality: val / denom,
            peak_ratio,
        }
    }

    /// Register `moving` onto `reference` (both of the correlator's shape).
    pub fn register(&self, reference: ArrayView2<f32>, moving: ArrayView2<f32>) -> PhaseShift {
        let a = self.spectrum(reference);
        let b = self.spectrum(moving);
        self.correlate(&a, &b)
    }

    /// Shape `[ny, nx]` of the correlated region.
    pub fn region_shape(&self) -> [usize; 2] {
        [self.ny, self.nx]
    }
}

fn circ_dist(a: usize, b: usize, n: usize) -> usize {
    let d = a.abs_diff(b);
    d.min(n - d)
}

/// One-shot registration of two images of equal shape (builds a [`PhaseCorrelator`]).
///
/// ```
/// use fibstack::preprocess::phasecorr::{phase_cross_correlation, fourier_shift, PhaseCorrParams, Window};
/// use ndarray::Array2;
/// let img = Array2::from_shape_fn((64, 64), |(y, x)| ((y as f32 * 0.3).sin() + (x as f32 * 0.2).cos()) * (1.0 + 0.01 * (x * y) as f32 % 3.0));
/// let moved = fourier_shift(img.view(), 1.25, -2.5);
/// let p = PhaseCorrParams { window: Window::None, ..Default::default() };
/// let s = phase_cross_correlation(img.view(), moved.view(), &p).unwrap();
/// assert!((s.dy + 1.25).abs() < 0.05 && (s.dx - 2.5).abs() < 0.05);
/// ```
pub fn phase_cross_correlation(
    reference: ArrayView2<f32>,
    moving: ArrayView2<f32>,
    params: &PhaseCorrParams,
) -> Result<PhaseShift, ParamError> {
    if reference.shape() != moving.shape() {
        return Err(ParamError::new(
            "image shapes",
            format!("{:?} vs {:?}", reference.shape(), moving.shape()),
            "reference and moving images must have the same shape",
        ));
    }
    let c = PhaseCorrelator::new([reference.nrows(), reference.ncols()], params)?;
    Ok(c.register(reference, moving))
}

/// Shift an image by `(dy, dx)` px with the Fourier shift theorem (periodic boundary), the
/// convention of `scipy.ndimage.fourier_shift`: `out(y, x) = img(y - dy, x - dx)`.
pub fn fourier_shift(img: ArrayView2<f32>, dy: f64, dx: f64) -> Array2<f32> {
    let (ny, nx) = img.dim();
    if ny == 0 || nx == 0 {
        return img.to_owned();
    }
    let nxh = nx / 2 + 1;
    let mut rp = RealFftPlanner::<f64>::new();
    let r2c = rp.plan_fft_forward(nx);
    let c2r = rp.plan_fft_inverse(nx);
    let mut cp = FftPlanner::<f64>::new();
    let fy = cp.plan_fft_forward(ny);
    let iy = cp.plan_fft_inverse(ny);
    let mut data = vec![C64::new(0.0, 0.0); nxh * ny];
    let mut line = vec![0.0; nx];
    let mut spec = vec![C64::new(0.0, 0.0); nxh];
    for (y, row) in img.outer_iter().enumerate() {
        for (x, &v) in row.iter().enumerate() {
            line[x] = v as f64;
        }
        r2c.process(&mut line, &mut spec).expect("realfft lengths");
        for kx in 0..nxh {
            data[kx * ny + y] = spec[kx];
        }
    }
    fy.process(&mut data);
    for kx in 0..nxh {
        let fxv = kx as f64 / nx as f64;
        for ky in 0..ny {
            let ph = -2.0 * PI * (freq(ky, ny) * dy + fxv * dx);
            data[kx * ny + ky] *= C64::from_polar(1.0, ph);
        }
    }
    iy.process(&mut data);
    let scale = 1.0 / (ny * nx) as f64;
    let mut out = Array2::<f32>::zeros((ny, nx));
    let mut real = vec![0.0; nx];
    for y in 0..ny {
        for kx in 0..nxh {
            spec[kx] = data[kx * ny + y];
        }
        spec[0].im = 0.0;
        if nx % 2 == 0 {
            spec[nxh - 1].im = 0.0;
        }
        c2r.process(&mut spec, &mut real).expect("realfft lengths");
        for x in 0..nx {
            out[[y, x]] = (real[x] * scale) as f32;
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Smooth random image: white noise blurred by a few box passes (periodic).
    pub fn smooth_image(ny: usize, nx: usize, seed: u64) -> Array2<f32> {
        let mut rng = Rng::stream(seed, 0);
        let mut a = Array2::from_shape_fn((ny, nx), |_| rng.uniform() as f32);
        for _ in 0..3 {
            let b = a.clone();
            for y in 0..ny {
                for x in 0..nx {
                    let mut s = 0.0;
                    for d in 0..5 {
                        s += b[[(y + ny + d - 2) % ny, x]];
                    }
                    a[[y, x]] = s / 5.0;
                }
            }
            let b = a.clone();
            for y in 0..ny {
                for x in 0..nx {
                    let mut s = 0.0;
                    for d in 0..5 {
                        s += b[[y, (x + nx + d - 2) % nx]];
                    }
                    a[[y, x]] = s / 5.0;
                }
            }
        }
        a
    }

    #[test]
    fn integer_shift_exact_and_sign_matches_skimage() {
        let img = smooth_image(64, 80, 1);
        // content moved by +3 rows, -5 columns (periodic roll)
        let moved =
            Array2::from_shape_fn((64, 80), |(y, x)| img[[(y + 64 - 3) % 64, (x + 5) % 80]]);
        let p = PhaseCorrParams {
            window: Window::None,
            ..Default::default()
        };
        let s = phase_cross_correlation(img.view(), moved.view(), &p).unwrap();
        assert!((s.dy + 3.0).abs() < 1e-9, "{s:?}");
        assert!((s.dx - 5.0).abs() < 1e-9, "{s:?}");
        assert!(s.quality > 0.99, "{s:?}");
        assert!(s.peak_ratio > 5.0, "{s:?}");
    }

    #[test]
    fn subpixel_fourier_shift_recovered() {
        let img = smooth_image(96, 72, 7);
        for (k, &(dy, dx)) in [(0.3, -0.7), (-4.45, 2.12), (10.01, -7.99), (0.0, 0.5)]
            .iter()
            .enumerate()
        {
            let moved = fourier_shift(img.view(), dy, dx);
            let p = PhaseCorrParams {
                window: Window::None,
                ..Default::default()
            };
            let s = phase_cross_correlation(img.view(), moved.view(), &p).unwrap();
            assert!(
                (s.dy + dy).abs() <= 0.02 && (s.dx + dx).abs() <= 0.02,
                "case {k}: {s:?}"
            );
        }
    }

    #[test]
    fn fourier_shift_integer_is_roll() {
        let img = smooth_image(16, 12, 3);
        let out = fourier_shift(img.view(), 2.0, -1.0);
        for y in 0..16 {
            for x in 0..12 {
                let want = img[[(y + 16 - 2) % 16, (x + 1) % 12]];
                assert!((out[[y, x]] - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn roi_and_bandpass_and_tukey_work() {
        let img = smooth_image(64, 64, 11);
        let moved = fourier_shift(img.view(), 1.3, 0.6);
        // a 40×44 ROI of a periodic image is not periodic: needs the window (Hann)
        let p = PhaseCorrParams {
            window: Window::Hann,
            bandpass: Some(BandPass {
                lo_px: 0.5,
                hi_px: 20.0,
            }),
            roi: Some(Roi {
                y0: 10,
                x0: 12,
                height: 40,
                width: 44,
            }),
            upsample: 50,
        };
        let s = phase_cross_correlation(img.view(), moved.view(), &p).unwrap();
        assert!(
            (s.dy + 1.3).abs() < 0.08 && (s.dx + 0.6).abs() < 0.08,
            "{s:?}"
        );
        // Tukey's flat top biases the peak a little more towards zero than Hann
        let p = PhaseCorrParams {
            window: Window::Tukey { alpha: 0.3 },
            ..Default::default()
        };
        let s = phase_cross_correlation(img.view(), moved.view(), &p).unwrap();
        assert!(
            (s.dy + 1.3).abs() < 0.12 && (s.dx + 0.6).abs() < 0.12,
            "{s:?}"
        );
    }

    #[test]
    fn bad_parameters_rejected() {
        let p = PhaseCorrParams {
            upsample: 0,
            ..Default::default()
        };
        assert!(p.validate(32, 32).is_err());
        let p = PhaseCorrParams {
            roi: Some(Roi {
                y0: 30,
                x0: 0,
                height: 10,
                width: 10,
            }),
            ..Default::default()
        };
        let e = p.validate(32, 32).unwrap_err();
        assert_eq!(e.name, "roi");
        let p = PhaseCorrParams {
            bandpass: Some(BandPass {
                lo_px: 5.0,
                hi_px: 2.0,
            }),
            ..Default::default()
        };
        assert!(p.validate(32, 32).is_err());
        let p = PhaseCorrParams {
            window: Window::Tukey { alpha: 1.5 },
            ..Default::default()
        };
        assert!(p.validate(32, 32).is_err());
    }

    #[test]
    fn blank_images_give_zero_quality() {
        let z = Array2::<f32>::from_elem((16, 16), 3.0);
        let s = phase_cross_correlation(z.view(), z.view(), &PhaseCorrParams::default()).unwrap();
        assert_eq!((s.dy, s.dx, s.quality), (0.0, 0.0, 0.0));
    }
}
