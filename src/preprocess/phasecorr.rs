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
//! 5. Refinement (`refine`, default on): with a window or ROI, a second pass computes the
//!    moving image's spectrum with the window (and ROI) moved by the first estimate, so the
//!    window follows the content and no longer pulls the peak towards zero shift.
//! 6. Optional `curtain_notch`: frequencies with |k_y| ≤ notch are ignored, which removes the
//!    pull of vertical curtains (fixed in the image frame) towards zero shift.
//!
//! # Quality
//! `quality` is the refined peak height divided by its largest possible value `Σ|R|·H`: 1 for two
//! identical images up to a translation, near 0 for unrelated images. `peak_ratio` is the integer
//! peak over the highest correlation value farther than `3 + ceil(3·lo_px)` px from it (outside
//! the peak's own low-pass spread; distinctiveness).

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
/// Spectra and the correlation surface are single precision (as scikit-image's complex64);
/// normalisation, sums and the peak position are computed in f64.
type C32 = Complex<f32>;

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
    Tukey {
        /// Fraction of each axis tapered, in [0, 1] (1 = Hann, 0 = no window).
        alpha: f64,
    },
}

impl Window {
    /// The 1-D window of length `n`.
    pub fn coefficients(&self, n: usize) -> Vec<f64> {
        self.coefficients_shifted(n, 0.0)
    }
    /// The window of length `n` moved by `offset` samples (`w'(i) = w(i - offset)`, 0 outside),
    /// used to let the window follow the content of the moving image.
    pub fn coefficients_shifted(&self, n: usize, offset: f64) -> Vec<f64> {
        let alpha = match *self {
            Window::None => return vec![1.0; n],
            Window::Hann => 1.0,
            Window::Tukey { alpha } => alpha,
        };
        (0..n)
            .map(|i| tukey_at(i as f64 - offset, n, alpha))
            .collect()
    }
    fn validate(&self) -> Result<(), ParamError> {
        if let Window::Tukey { alpha } = *self {
            crate::error::in_range("window tukey alpha", alpha, 0.0, 1.0)?;
        }
        Ok(())
    }
}

/// Tukey window with taper fraction `alpha` over `[0, n-1]`, evaluated at the continuous
/// position `u` (0 outside; symmetric form).
fn tukey_at(u: f64, n: usize, alpha: f64) -> f64 {
    if n <= 1 || alpha <= 0.0 {
        return 1.0;
    }
    let m = (n - 1) as f64;
    if !(0.0..=m).contains(&u) {
        return 0.0;
    }
    let edge = alpha * m / 2.0;
    let d = u.min(m - u);
    if d >= edge {
        1.0
    } else {
        0.5 * (1.0 - (PI * d / edge).cos())
    }
}

/// A rectangle `[y0, x0, height, width]` in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roi {
    /// First row (px).
    pub y0: usize,
    /// First column (px).
    pub x0: usize,
    /// Rows (px, at least 4).
    pub height: usize,
    /// Columns (px, at least 4).
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
///
/// Phase normalisation gives every frequency the same weight, including the high ones where
/// noise dominates; the low-pass part (`lo_px`) restores precision on noisy images (on the
/// synthetic noisy stacks of `tests/pre_align.rs` the per-pair error drops from 0.5 to 0.03 px).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandPass {
    /// Detail finer than this Gaussian σ (px) is suppressed (noise). 0 keeps all fine detail.
    pub lo_px: f64,
    /// Structure coarser than this Gaussian σ (px) is suppressed (shading, charging);
    /// None = no high-pass.
    #[serde(default)]
    pub hi_px: Option<f64>,
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
        if let Some(hi) = self.hi_px {
            if !(hi.is_finite() && hi > self.lo_px) {
                return Err(ParamError::new(
                    "bandpass HI",
                    hi,
                    format!("must be a finite σ in px larger than LO = {}", self.lo_px),
                ));
            }
        }
        Ok(())
    }
    /// Filter gain at spatial frequency `f` (cycles/px).
    pub fn gain(&self, f2: f64) -> f64 {
        let a = (-2.0 * PI * PI * self.lo_px * self.lo_px * f2).exp();
        let b = match self.hi_px {
            Some(hi) => (-2.0 * PI * PI * hi * hi * f2).exp(),
            None => 0.0,
        };
        a - b
    }
}

/// Parameters of the phase correlation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhaseCorrParams {
    /// Upsampling factor of the DFT refinement (accuracy ≈ 1/upsample px); 1 = integer shifts.
    pub upsample: usize,
    /// Apodisation window applied before the FFT (default: Hann).
    pub window: Window,
    /// Difference-of-Gaussians band-pass of the spectra; `None` = off (default).
    pub bandpass: Option<BandPass>,
    /// Correlate only this rectangle (e.g. a fiducial); shifts are still in image pixels.
    pub roi: Option<Roi>,
    /// Second pass with the moving image's window (and ROI) moved by the first estimate, so the
    /// window follows the content; removes most of the window's pull towards zero shift.
    pub refine: bool,
    /// Ignore spatial frequencies with |k_y| <= this many bins (0 = off): vertical curtains are
    /// constant along y, so their energy sits on the k_y = 0 axis (methods §4). 2 covers the
    /// Hann window's main lobe.
    pub curtain_notch: usize,
}

impl Default for PhaseCorrParams {
    fn default() -> Self {
        PhaseCorrParams {
            upsample: 100,
            window: Window::Hann,
            bandpass: Some(BandPass {
                lo_px: 2.0,
                hi_px: None,
            }),
            roi: None,
            refine: true,
            curtain_notch: 0,
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
        let region_ny = self.roi.map(|r| r.height).unwrap_or(ny);
        if self.curtain_notch > 0 && 2 * self.curtain_notch + 1 >= region_ny / 2 {
            return Err(ParamError::new(
                "curtain_notch",
                self.curtain_notch,
                format!("must be well below a quarter of the correlated height ({region_ny} px); 1-3 bins is typical"),
            ));
        }
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
    /// Integer peak over the highest value outside the peak's neighbourhood
    /// (`3 + ceil(3·lo_px)` px).
    pub peak_ratio: f64,
}

/// Fourier transform of one (ROI-cropped, mean-subtracted, windowed) image, layout `[kx][ky]`.
#[derive(Debug, Clone)]
pub struct Spectrum {
    data: Vec<C32>,
    /// The image region has no contrast (nothing to correlate).
    flat: bool,
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
    /// Full image shape (for moving the ROI).
    full: [usize; 2],
    /// Band-pass gain per half-spectrum bin (layout `[kx][ky]`), or None.
    filter: Option<Vec<f32>>,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    fy: Arc<dyn Fft<f32>>,
    iy: Arc<dyn Fft<f32>>,
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
        let mut rp = RealFftPlanner::<f32>::new();
        let r2c = rp.plan_fft_forward(nx);
        let c2r = rp.plan_fft_inverse(nx);
        let mut cp = FftPlanner::<f32>::new();
        let fy = cp.plan_fft_forward(ny);
        let iy = cp.plan_fft_inverse(ny);
        let filter = params.bandpass.map(|b| {
            let mut f = vec![0.0f32; nxh * ny];
            for kx in 0..nxh {
                let fxv = kx as f64 / nx as f64;
                for ky in 0..ny {
                    let fyv = freq(ky, ny);
                    f[kx * ny + ky] = b.gain(fxv * fxv + fyv * fyv) as f32;
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
            full: shape,
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
        self.spectrum_at(img, [0.0, 0.0]).0
    }

    /// Spectrum of an image whose content is displaced by `offset = [oy, ox]` px relative to the
    /// reference (`img(p) ≈ ref(p - offset)`): the ROI moves by the rounded offset (kept inside
    /// the image) and the window by the rest. Returns the spectrum and the integer ROI move.
    pub fn spectrum_at(&self, img: ArrayView2<f32>, offset: [f64; 2]) -> (Spectrum, [i64; 2]) {
        let (ny, nx, nxh) = (self.ny, self.nx, self.nxh);
        let mv = |o: f64, start: usize, len: usize, full: usize| -> i64 {
            if len == full || !o.is_finite() {
                return 0;
            }
            let want = start as i64 + o.round() as i64;
            want.clamp(0, (full - len) as i64) - start as i64
        };
        let cy = mv(offset[0], self.y0, ny, self.full[0]);
        let cx = mv(offset[1], self.x0, nx, self.full[1]);
        let (ry, rx) = (
            (self.y0 as i64 + cy) as usize,
            (self.x0 as i64 + cx) as usize,
        );
        let wy = self
            .params
            .window
            .coefficients_shifted(ny, offset[0] - cy as f64);
        let wx = self
            .params
            .window
            .coefficients_shifted(nx, offset[1] - cx as f64);
        let region = img.slice(ndarray::s![ry..ry + ny, rx..rx + nx]);
        // window-weighted mean, so the windowed image has no DC
        let row_sums: Vec<(f64, f64)> = (0..ny)
            .into_par_iter()
            .map(|y| {
                let (mut sw, mut swv) = (0.0, 0.0);
                for (x, &v) in region.row(y).iter().enumerate() {
                    let w = wy[y] * wx[x];
                    sw += w;
                    swv += w * v as f64;
                }
                (sw, swv)
            })
            .collect();
        let (mut sw, mut swv) = (0.0, 0.0);
        for (a, b) in row_sums {
            sw += a;
            swv += b;
        }
        let mean = if sw > 0.0 { swv / sw } else { 0.0 };
        // windowed rows and their real FFTs, rayon over blocks of rows (one scratch per block);
        // per-row energy sums are added in row order, so the result is thread-count independent
        let wx32: Vec<f32> = wx.iter().map(|&w| w as f32).collect();
        let mut rows = vec![C32::new(0.0, 0.0); ny * nxh];
        let sums: Vec<(f64, f64)> = rows
            .par_chunks_mut(nxh * ROW_BLOCK)
            .enumerate()
            .flat_map_iter(|(bi, block)| {
                let mut line = vec![0.0f32; nx];
                let mut scratch = self.r2c.make_scratch_vec();
                let mut out = Vec::with_capacity(ROW_BLOCK);
                for (j, o) in block.chunks_mut(nxh).enumerate() {
                    let y = bi * ROW_BLOCK + j;
                    // windowed, mean-free row in f32; the two energies (only used to detect a
                    // flat image) are summed in f32 lanes per row, then in f64 over rows
                    let wyv = wy[y] as f32;
                    let m = mean as f32;
                    for ((o, &v), &w) in line.iter_mut().zip(region.row(y).iter()).zip(&wx32) {
                        *o = (v - m) * (wyv * w);
                    }
                    let mut acc = [[0.0f32; 8]; 2];
                    let row = region.row(y);
                    for (x, (&c, &v)) in line.iter().zip(row.iter()).enumerate() {
                        let w = wyv * wx32[x];
                        acc[0][x % 8] += c * c;
                        acc[1][x % 8] += (w * v) * (w * v);
                    }
                    let var: f64 = acc[0].iter().map(|&t| t as f64).sum();
                    let level: f64 = acc[1].iter().map(|&t| t as f64).sum();
                    // lengths are right by construction; an error here would be a bug
                    self.r2c
                        .process_with_scratch(&mut line, o, &mut scratch)
                        .expect("realfft lengths");
                    out.push((var, level));
                }
                out
            })
            .collect();
        let (mut var, mut level) = (0.0, 0.0);
        for (v, l) in sums {
            var += v;
            level += l;
        }
        // transpose to [kx][ky] and FFT along y
        let data = transpose_fft(&rows, ny, nxh, &*self.fy);
        let flat = var <= 1e-14 * level || !var.is_finite();
        (Spectrum { data, flat }, [cy, cx])
    }

    /// Register `moving` (whose spectrum may be given) onto `reference`, with the
    /// window-following second pass when `params.refine` is set and a window is used.
    pub fn register_refined(
        &self,
        reference: &Spectrum,
        moving: ArrayView2<f32>,
        moving_spectrum: Option<&Spectrum>,
    ) -> PhaseShift {
        let first = match moving_spectrum {
            Some(m) => self.correlate(reference, m),
            None => self.correlate(reference, &self.spectrum(moving)),
        };
        let windowed = self.params.window != Window::None || self.params.roi.is_some();
        if !self.params.refine || !windowed || first.quality <= 0.0 {
            return first;
        }
        let (spec, [cy, cx]) = self.spectrum_at(moving, [-first.dy, -first.dx]);
        let mut second = self.correlate(reference, &spec);
        second.dy -= cy as f64;
        second.dx -= cx as f64;
        second
    }

    /// Shift registering `moving` onto `reference` (see the module docs for the sign).
    pub fn correlate(&self, reference: &Spectrum, moving: &Spectrum) -> PhaseShift {
        let (ny, nx, nxh) = (self.ny, self.nx, self.nxh);
        // normalised cross-power spectrum, band-passed, DC removed
        if reference.flat || moving.flat {
            return PhaseShift {
                dy: 0.0,
                dx: 0.0,
                quality: 0.0,
                peak_ratio: 1.0,
            };
        }
        let tiny = 100.0 * f64::EPSILON as f32;
        let mut r: Vec<C32> = reference
            .data
            .par_iter()
            .zip(&moving.data)
            .map(|(a, b)| {
                // |p| = |a|·|b|: each factor stays far inside the f32 range (|F| ≤ 2e11 for a
                // 3-Mpixel 16-bit image), where |p|² = |a|²·|b|² could overflow
                let p = a * b.conj();
                let m = (a.re * a.re + a.im * a.im).sqrt() * (b.re * b.re + b.im * b.im).sqrt();
                p * (1.0 / m.max(tiny))
            })
            .collect();
        if let Some(f) = &self.filter {
            r.par_iter_mut().zip(f).for_each(|(v, g)| *v *= *g);
        }
        r[0] = C32::new(0.0, 0.0);
        if self.params.curtain_notch > 0 {
            let h = self.params.curtain_notch;
            for kx in 0..nxh {
                for ky in (0..=h).chain(ny - h..ny) {
                    r[kx * ny + ky] = C32::new(0.0, 0.0);
                }
            }
        }
        let col_weight = |kx: usize| -> f64 {
            if kx == 0 || (nx % 2 == 0 && kx == nx / 2) {
                1.0
            } else {
                2.0
            }
        };
        // per-column sums in parallel, added in column order (thread-count independent)
        let col_sums: Vec<f64> = r
            .par_chunks(ny)
            .map(|c| {
                c.iter()
                    .map(|v| (v.re * v.re + v.im * v.im).sqrt() as f64)
                    .sum::<f64>()
            })
            .collect();
        let mut denom = 0.0;
        for (kx, cs) in col_sums.iter().enumerate() {
            denom += col_weight(kx) * cs;
        }
        if denom <= 0.0 || !denom.is_finite() {
            return PhaseShift {
                dy: 0.0,
                dx: 0.0,
                quality: 0.0,
                peak_ratio: 1.0,
            };
        }
        // integer correlation: inverse along y (copy + FFT per block of columns), then per block
        // of rows: gather the rows (transpose) and c2r along x
        let mut t = vec![C32::new(0.0, 0.0); r.len()];
        t.par_chunks_mut(ny * ROW_BLOCK)
            .zip(r.par_chunks(ny * ROW_BLOCK))
            .for_each(|(o, src)| {
                o.copy_from_slice(src);
                let mut scratch = vec![C32::new(0.0, 0.0); self.iy.get_inplace_scratch_len()];
                self.iy.process_with_scratch(o, &mut scratch);
            });
        let mut cc = vec![0.0f32; ny * nx];
        cc.par_chunks_mut(nx * ROW_BLOCK)
            .enumerate()
            .for_each(|(bi, cb)| {
                let y0 = bi * ROW_BLOCK;
                let nb = cb.len() / nx;
                let mut rb = vec![C32::new(0.0, 0.0); nb * nxh];
                for kx in 0..nxh {
                    let col = &t[kx * ny + y0..kx * ny + y0 + nb];
                    for (j, v) in col.iter().enumerate() {
                        rb[j * nxh + kx] = *v;
                    }
                }
                let mut scratch = self.c2r.make_scratch_vec();
                for (o, inp) in cb.chunks_mut(nx).zip(rb.chunks_mut(nxh)) {
                    inp[0].im = 0.0;
                    if nx % 2 == 0 {
                        inp[nxh - 1].im = 0.0;
                    }
                    self.c2r
                        .process_with_scratch(inp, o, &mut scratch)
                        .expect("realfft lengths");
                }
            });
        drop(t);
        // largest value, first occurrence in row-major order
        let (peak, pi) = cc
            .par_chunks(nx)
            .enumerate()
            .map(|(y, row)| {
                let (mut best, mut bi) = (f64::NEG_INFINITY, usize::MAX);
                for (x, &v) in row.iter().enumerate() {
                    let v = v as f64;
                    if v > best {
                        best = v;
                        bi = y * nx + x;
                    }
                }
                (best, bi)
            })
            .reduce(
                || (f64::NEG_INFINITY, usize::MAX),
                |p, q| {
                    if q.0 > p.0 || (q.0 == p.0 && q.1 < p.1) {
                        q
                    } else {
                        p
                    }
                },
            );
        let pi = if pi == usize::MAX { 0 } else { pi };
        let (py, px) = (pi / nx, pi % nx);
        // second peak: highest value outside the peak's neighbourhood (widened by the low-pass)
        let rad = 3 + self
            .params
            .bandpass
            .map(|b| (3.0 * b.lo_px).ceil() as usize)
            .unwrap_or(0);
        let second = cc
            .par_chunks(nx)
            .enumerate()
            .map(|(y, row)| {
                let near_y = circ_dist(y, py, ny) <= rad;
                let mut m = f64::NEG_INFINITY;
                for (x, &v) in row.iter().enumerate() {
                    if near_y && circ_dist(x, px, nx) <= rad {
                        continue;
                    }
                    m = m.max(v as f64);
                }
                m
            })
            .reduce(|| f64::NEG_INFINITY, f64::max);
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
        // upsampled matrix-multiply DFT on the grid of `m × m` points spaced 1/up around (sy, sx)
        let upf = up as f64;
        let m = (upf * 1.5).ceil() as usize;
        let dftshift = (m / 2) as f64;
        let pos = |a: usize, s: f64| s + (a as f64 - dftshift) / upf;
        // maximum of the correlation over the grid points `ay × bx` (indices into 0..m)
        let eval = |ay: &[usize], bx: &[usize]| -> (f64, usize, usize) {
            let (na, nb) = (ay.len(), bx.len());
            // Ey[i][ky] = exp(i 2π fy(ky) y_i)
            // Ey[i][ky] = exp(i 2π fy(ky) y_i), as interleaved f32 (re, im) and swapped (im, re)
            let mut ey = vec![0.0f32; na * 2 * ny];
            let mut ey_sw = vec![0.0f32; na * 2 * ny];
            for (i, &a) in ay.iter().enumerate() {
                let ya = pos(a, sy);
                for ky in 0..ny {
                    let e = C64::from_polar(1.0, 2.0 * PI * freq(ky, ny) * ya);
                    let o = i * 2 * ny + 2 * ky;
                    (ey[o], ey[o + 1]) = (e.re as f32, e.im as f32);
                    (ey_sw[o], ey_sw[o + 1]) = (e.im as f32, e.re as f32);
                }
            }
            // T[kx][i] = Σ_ky R[kx][ky] Ey[i][ky]
            let rf: &[f32] = complex_as_f32(&r);
            let tmat: Vec<C64> = (0..nxh)
                .into_par_iter()
                .flat_map_iter(|kx| {
                    let col = &rf[kx * 2 * ny..(kx + 1) * 2 * ny];
                    let (ey, ey_sw) = (&ey, &ey_sw);
                    (0..na).map(move |i| {
                        let row = i * 2 * ny..(i + 1) * 2 * ny;
                        cdot(col, &ey[row.clone()], &ey_sw[row])
                    })
                })
                .collect();
            // CC(i, j) = Re Σ_kx w_kx T[kx][i] exp(i 2π fx x_j)
            let ex: Vec<C64> = bx
                .iter()
                .flat_map(|&b| {
                    let xb = pos(b, sx);
                    (0..nxh).map(move |kx| {
                        C64::from_polar(col_weight(kx), 2.0 * PI * (kx as f64 / nx as f64) * xb)
                    })
                })
                .collect();
            (0..na * nb)
                .into_par_iter()
                .map(|k| {
                    let (i, j) = (k / nb, k % nb);
                    let e = &ex[j * nxh..(j + 1) * nxh];
                    let mut s = 0.0;
                    for kx in 0..nxh {
                        let v = tmat[kx * na + i] * e[kx];
                        s += v.re;
                    }
                    (s, ay[i], bx[j])
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
                )
        };
        // Coarse-to-fine: the maximum on the sub-grid of every k-th point, then the full grid
        // within ±k points of it. The correlation peak is smooth on the scale of a pixel, so
        // this finds the full grid's maximum at (2k+1)²+(m/k)² instead of m² evaluations.
        let k = up / 10;
        let best = if k < 3 {
            let all: Vec<usize> = (0..m).collect();
            eval(&all, &all)
        } else {
            let c = m / 2;
            let coarse: Vec<usize> = (0..m).filter(|a| a.abs_diff(c) % k == 0).collect();
            let (_, a1, b1) = eval(&coarse, &coarse);
            let near =
                |a: usize| -> Vec<usize> { (a.saturating_sub(k)..=(a + k).min(m - 1)).collect() };
            eval(&near(a1), &near(b1))
        };
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
        let (a, b) = rayon::join(|| self.spectrum(reference), || self.spectrum(moving));
        self.register_refined(&a, moving, Some(&b))
    }

    /// Shape `[ny, nx]` of the correlated region.
    pub fn region_shape(&self) -> [usize; 2] {
        [self.ny, self.nx]
    }
}

/// The interleaved `(re, im)` f32 values of a complex slice.
fn complex_as_f32(c: &[C32]) -> &[f32] {
    // SAFETY: `Complex<f32>` is `#[repr(C)]` with fields `re, im` (num-complex guarantees this
    // layout), so `n` complex values are `2n` contiguous, aligned f32 values.
    unsafe { std::slice::from_raw_parts(c.as_ptr() as *const f32, c.len() * 2) }
}

/// Complex dot product `Σ a_k·b_k` of interleaved `(re, im)` f32 vectors, given `b` and `b` with
/// re/im swapped: `Re = Σ_even a·b − Σ_odd a·b`, `Im = Σ a·b_swapped`. Two plain f32 dot
/// products with 16 independent accumulators in a fixed order (vectorised, thread-count
/// independent), totalled in f64. On x86-64 with AVX the same code runs 8 lanes wide; without
/// fused multiply-add, so the result is bit-identical to the SSE2 path.
#[inline]
fn cdot(a: &[f32], b: &[f32], b_swapped: &[f32]) -> C64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX (checked just above).
            return unsafe { cdot_avx(a, b, b_swapped) };
        }
    }
    cdot_lanes(a, b, b_swapped)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn cdot_avx(a: &[f32], b: &[f32], b_swapped: &[f32]) -> C64 {
    cdot_lanes(a, b, b_swapped)
}

#[inline(always)]
fn cdot_lanes(a: &[f32], b: &[f32], b_swapped: &[f32]) -> C64 {
    let p = dot_lanes(a, b);
    let q = dot_lanes(a, b_swapped);
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for l in 0..LANES {
        // LANES is even, so lane parity = element parity (even = re·re, odd = im·im)
        re += if l % 2 == 0 {
            p[l] as f64
        } else {
            -(p[l] as f64)
        };
        im += q[l] as f64;
    }
    let n = a.len() / LANES * LANES;
    for k in n..a.len() {
        let t = a[k] as f64 * b[k] as f64;
        re += if k % 2 == 0 { t } else { -t };
        im += a[k] as f64 * b_swapped[k] as f64;
    }
    C64::new(re, im)
}

const LANES: usize = 16;

/// Per-lane partial sums of `Σ a_k·b_k` over the first `len / LANES · LANES` elements.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> [f32; LANES] {
    let mut acc = [0.0f32; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        let x: &[f32; LANES] = x.try_into().expect("chunks_exact");
        let y: &[f32; LANES] = y.try_into().expect("chunks_exact");
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc
}

/// Rows per rayon task in the row passes.
const ROW_BLOCK: usize = 16;

/// Transpose a row-major `rows × cols` matrix to `cols × rows` and FFT each (now contiguous)
/// length-`rows` line, block by block of `ROW_BLOCK` lines while they are in cache (rayon over
/// blocks).
fn transpose_fft(a: &[C32], rows: usize, cols: usize, fft: &dyn Fft<f32>) -> Vec<C32> {
    let mut t = vec![C32::new(0.0, 0.0); rows * cols];
    t.par_chunks_mut(rows * ROW_BLOCK)
        .enumerate()
        .for_each(|(bi, out)| {
            let c0 = bi * ROW_BLOCK;
            let nc = out.len() / rows;
            for r in 0..rows {
                let src = &a[r * cols + c0..r * cols + c0 + nc];
                for (j, v) in src.iter().enumerate() {
                    out[j * rows + r] = *v;
                }
            }
            let mut scratch = vec![C32::new(0.0, 0.0); fft.get_inplace_scratch_len()];
            fft.process_with_scratch(out, &mut scratch);
        });
    t
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
                hi_px: Some(20.0),
            }),
            roi: Some(Roi {
                y0: 10,
                x0: 12,
                height: 40,
                width: 44,
            }),
            upsample: 50,
            ..Default::default()
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
                hi_px: Some(2.0),
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
