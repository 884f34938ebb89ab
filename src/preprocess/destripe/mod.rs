//! FFT wedge destriping of curtaining (methods §4).
//!
//! Curtains are streaks along the ion-beam direction, nearly constant along their length, so
//! their energy lies on a line through the origin of the 2-D spectrum, perpendicular to the
//! stripes (stripe angle 0° = vertical curtains → the `k_y = 0` axis). Per slice:
//! 1. mirror-pad the slice to `2·ny × 2·nx` (even symmetric extension: the periodic image has no
//!    edge jumps, which would otherwise put a false line of energy on both spectral axes);
//! 2. real FFT along x, complex FFT along y (plans built once per slice shape and shared by all
//!    threads; rayon over slices);
//! 3. multiply by `A = 1 − W_angle · W_radius`: `W_angle = 1` within the half-angle Δθ of the
//!    stripe line, Gaussian fall-off (σ = `taper_deg`) beyond; `W_radius = 1` beyond `k_min`,
//!    Gaussian fall-off (σ = `kmin_taper`) below, so the low-frequency shading survives. With a
//!    second stripe angle (rocking polish) the two wedges combine as `A = A₁·A₂`;
//! 4. inverse FFT and crop. The removed fraction of the non-DC spectral energy is reported.
//!
//! Frequencies are in cycles per pixel (Nyquist = 0.5). `k_min` ≥ 1 is read as cycles per image
//! width (`f = k_min / nx`), `k_min` < 1 as a fraction of Nyquist (`f = 0.5·k_min`).
//!
//! `method = wavelet` selects the wavelet–FFT filter of Münch et al. (2009) instead
//! ([`crate::preprocess::destripe::wavelet`]); [`DestripePlan`] and the volume/stream drivers
//! dispatch on it (the wedge-only `mask_for`/`apply_mask` then return an error).

pub mod score;
pub mod stack;
pub mod vsnr;
pub mod wavelet;

use crate::error::ParamError;
use crate::preprocess::denoise::map_grey_slices_typed;
use crate::preprocess::destripe::vsnr::{VsnrFilter, VsnrPlan};
use crate::preprocess::destripe::wavelet::WaveletDestripe;
use crate::preprocess::material::{material_mask, MaterialMaskParams};
pub use crate::preprocess::wavelet::Wavelet;
use crate::volume::{GreyVolume, SampleType};
use ndarray::{Array2, ArrayView2};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Destriping method (modules: [`vsnr`], [`wavelet`], [`stack`]; the wedge is this module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DestripeMethod {
    /// FFT wedge: the stripe direction's wedge of the spectrum, attenuated.
    Wedge,
    /// Wavelet–FFT filter of Münch et al. 2009 (vertical or horizontal stripes only).
    Wavelet,
    /// Column profiles averaged over neighbouring slices (vertical curtains, before `align`).
    Stack,
    /// Variational stationary noise remover (Fehrenbach et al. 2012); the default.
    #[default]
    Vsnr,
}

impl DestripeMethod {
    /// Parse `wedge` / `wavelet` / `stack` / `vsnr`.
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        match s.to_ascii_lowercase().as_str() {
            "wedge" => Ok(DestripeMethod::Wedge),
            "wavelet" => Ok(DestripeMethod::Wavelet),
            "stack" => Ok(DestripeMethod::Stack),
            "vsnr" => Ok(DestripeMethod::Vsnr),
            _ => Err(ParamError::new(
                "method",
                s,
                "use \"vsnr\", \"wedge\", \"wavelet\" or \"stack\"",
            )),
        }
    }

    /// The name as written in workflows and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DestripeMethod::Wedge => "wedge",
            DestripeMethod::Wavelet => "wavelet",
            DestripeMethod::Stack => "stack",
            DestripeMethod::Vsnr => "vsnr",
        }
    }
}

/// Parameters of `fibstack destripe` / `kind = "destripe"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DestripeParams {
    /// Stripe direction in degrees from the image vertical (0 = vertical curtains), positive
    /// towards +x going down the image (a stripe along `(dy, dx) = (cos θ, sin θ)`).
    pub angle_deg: f64,
    /// Optional second stripe direction (rocking polish), degrees.
    pub second_angle_deg: Option<f64>,
    /// Half-angle Δθ of the fully attenuated wedge (degrees, 0 < Δθ < 90).
    pub half_angle_deg: f64,
    /// Gaussian σ of the angular fall-off beyond Δθ (degrees, ≥ 0).
    pub taper_deg: f64,
    /// Radius below which the spectrum is kept: ≥ 1 = cycles per image width, < 1 = fraction of
    /// Nyquist.
    pub k_min: f64,
    /// Gaussian σ of the radial fall-off below `k_min`, as a fraction of `k_min` (≥ 0).
    pub kmin_taper: f64,
    /// Adaptive attenuation (default): inside the wedge only the power in excess of the
    /// structure's own spectrum is removed (see module docs). `false` = classic wedge that
    /// removes everything inside the wedge.
    pub adaptive: bool,
    /// Adaptive mode: a frequency is treated as stripe only when its power exceeds this many
    /// times the local structure power (≥ 1); 3× this at small radii where the structure power
    /// is estimated from fewer than 24 points.
    pub significance: f64,
    /// VSNR (default), wedge, wavelet–FFT or stack. The wedge fields above are used by the
    /// wedge only.
    pub method: DestripeMethod,
    /// Wavelet method: orthogonal wavelet family.
    pub wavelet: Wavelet,
    /// Wavelet method: decomposition levels (≥ 1, at most `⌊log₂(2·min(ny, nx) / (L − 1))⌋`: the slice is mirror-padded to twice its size).
    pub wavelet_levels: usize,
    /// Wavelet method: Gaussian width σ of the damping `1 − exp(−k²/2σ²)` along the stripe, in
    /// cycles per column length of the band (the paper's σ; > 0).
    pub wavelet_sigma: f64,
    /// Stack method: half-width of the slice window (slices on each side, ≥ 0).
    pub stack_window: usize,
    /// Stack method: Gaussian σ (px) of the cross-column high-pass; stripes narrower than this
    /// are removed.
    pub stack_sigma_px: f64,
    /// VSNR method: the pattern filters of the noise model (at least one).
    pub vsnr_filters: Vec<VsnrFilter>,
    /// VSNR method: iterations of the primal–dual solver (≥ 1).
    pub vsnr_iterations: usize,
    /// VSNR method: augmented-Lagrangian penalty β (> 0).
    pub vsnr_beta: f64,
    /// Material-aware: estimate and remove the curtains in the material only; pores (darker
    /// than the mask threshold) are left exactly as they are.
    pub material_aware: bool,
    /// Material-aware: threshold of the mask (grey value of the smoothed slice; `None` = Otsu
    /// of each slice).
    pub material_threshold: Option<f64>,
    /// Material-aware: Gaussian σ (px) of the smoothing before the threshold.
    pub material_smooth_px: f64,
}

/// Default number of wavelet levels (`--wavelet-levels`).
pub const DEFAULT_WAVELET_LEVELS: usize = 4;
/// Default σ of the wavelet method (`--wavelet-sigma`).
pub const DEFAULT_WAVELET_SIGMA: f64 = 2.0;
/// Default VSNR iterations (`--vsnr-iterations`).
pub const DEFAULT_VSNR_ITERATIONS: usize = 20;
/// Default VSNR penalty β (`--vsnr-beta`).
pub const DEFAULT_VSNR_BETA: f64 = 10.0;
/// Default VSNR Gabor filter `[σ_across, σ_along]` (px) and noise level, chosen on the tuning
/// set of `benches/compare/destripe_eval.py` (docs: validation/destriping).
pub const DEFAULT_VSNR_GABOR: ([f64; 2], f64) = ([1.0, 100.0], 2.0);

/// The default VSNR filters: one Gabor along the stripe direction(s).
pub fn default_vsnr_filters() -> Vec<VsnrFilter> {
    let (s, e) = DEFAULT_VSNR_GABOR;
    vec![VsnrFilter::gabor(s[0], s[1], e)]
}

impl Default for DestripeParams {
    fn default() -> Self {
        DestripeParams {
            angle_deg: 0.0,
            second_angle_deg: None,
            half_angle_deg: 2.0,
            taper_deg: 1.0,
            k_min: 0.02,
            kmin_taper: 0.3,
            adaptive: true,
            significance: 6.0,
            method: DestripeMethod::Vsnr,
            wavelet: Wavelet::Db4,
            wavelet_levels: DEFAULT_WAVELET_LEVELS,
            wavelet_sigma: DEFAULT_WAVELET_SIGMA,
            stack_window: crate::preprocess::destripe::stack::DEFAULT_STACK_WINDOW,
            stack_sigma_px: crate::preprocess::destripe::stack::DEFAULT_STACK_SIGMA_PX,
            vsnr_filters: default_vsnr_filters(),
            vsnr_iterations: DEFAULT_VSNR_ITERATIONS,
            vsnr_beta: DEFAULT_VSNR_BETA,
            material_aware: true,
            material_threshold: None,
            material_smooth_px: crate::preprocess::material::DEFAULT_MASK_SMOOTH_PX,
        }
    }
}

impl DestripeParams {
    /// Check every parameter.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.method == DestripeMethod::Vsnr {
            crate::preprocess::destripe::vsnr::validate(
                &self.vsnr_filters,
                &self.angles(),
                self.vsnr_iterations,
                self.vsnr_beta,
            )?;
        }
        self.material_mask().validate()?;
        if self.method == DestripeMethod::Wavelet {
            crate::preprocess::destripe::wavelet::validate(self)?;
        }
        if self.method == DestripeMethod::Stack {
            crate::preprocess::destripe::stack::validate(self.stack_window, self.stack_sigma_px)?;
            if self.angle_deg != 0.0 || self.second_angle_deg.is_some() {
                return Err(ParamError::new(
                    "stripe angle (deg)",
                    self.angle_deg,
                    "the stack method removes vertical curtains only (angle 0, no second angle); use the wedge method for tilted stripes",
                ));
            }
        }
        for (name, a) in [
            ("stripe angle (deg)", Some(self.angle_deg)),
            ("second stripe angle (deg)", self.second_angle_deg),
        ] {
            if let Some(a) = a {
                if !a.is_finite() || a.abs() > 360.0 {
                    return Err(ParamError::new(
                        name,
                        a,
                        "must be a finite angle in degrees",
                    ));
                }
            }
        }
        let h = self.half_angle_deg;
        if !(h.is_finite() && h > 0.0 && h < 90.0) {
            return Err(ParamError::new(
                "half-angle (deg)",
                h,
                "must lie in (0, 90) degrees; 1-5 is typical for curtains",
            ));
        }
        if !(self.taper_deg.is_finite() && self.taper_deg >= 0.0 && self.taper_deg < 90.0) {
            return Err(ParamError::new(
                "taper (deg)",
                self.taper_deg,
                "must lie in [0, 90) degrees",
            ));
        }
        crate::error::positive("kmin", self.k_min)?;
        if !(self.kmin_taper.is_finite() && self.kmin_taper >= 0.0) {
            return Err(ParamError::new(
                "kmin taper",
                self.kmin_taper,
                "must be a fraction of kmin >= 0",
            ));
        }
        if !(self.significance.is_finite() && self.significance >= 1.0) {
            return Err(ParamError::new(
                "significance",
                self.significance,
                "must be a power ratio >= 1 (6 is the default)",
            ));
        }
        Ok(())
    }

    /// The stripe directions (degrees): the angle and the optional second angle.
    pub fn angles(&self) -> Vec<f64> {
        let mut a = vec![self.angle_deg];
        a.extend(self.second_angle_deg);
        a
    }

    /// The material mask of the material-aware mode.
    pub fn material_mask(&self) -> MaterialMaskParams {
        MaterialMaskParams {
            threshold: self.material_threshold,
            smooth_px: self.material_smooth_px,
        }
    }

    /// `k_min` in cycles per pixel for an image `nx` pixels wide.
    pub fn k_min_cycles_per_px(&self, nx: usize) -> f64 {
        if self.k_min >= 1.0 {
            self.k_min / nx.max(1) as f64
        } else {
            0.5 * self.k_min
        }
    }
}

/// Median of the χ² distribution with one degree of freedom.
const CHI2_1_MEDIAN: f64 = 0.454_936_423_119_572_8;

/// Angular distance (degrees, in [0, 90]) between two line directions given in degrees.
#[inline]
fn line_distance_deg(a: f64, b: f64) -> f64 {
    ((a - b + 90.0).rem_euclid(180.0) - 90.0).abs()
}

/// Everything needed to filter slices of one shape: FFT plans (built once, shared by all
/// threads), the wedge weight `W = W_angle·W_radius` on the half spectrum, and the ring /
/// background-sector bookkeeping of the adaptive mode.
pub struct DestripePlan {
    ny: usize,
    nx: usize,
    py: usize,
    px: usize,
    params: DestripeParams,
    /// Wedge weight `W(fy, fx)` in [0, 1] on the half spectrum `[2·ny][nx + 1]` (row = fy).
    pub weight: Array2<f32>,
    /// Radius ring of each half-spectrum point (ring width 1/max(2ny, 2nx) cycles/px).
    ring: Array2<u32>,
    /// Background class of each point for the structure-power estimate: 1 = sector near the
    /// stripe line but well outside the wedge and its taper, 2 = elsewhere outside the wedge,
    /// 0 = wedge, taper or origin.
    background: Array2<u8>,
    n_rings: usize,
    r2c: Arc<dyn RealToComplex<f32>>,
    /// The wavelet–FFT filter when `method = wavelet` (the wedge fields are then empty).
    wavelet: Option<WaveletDestripe>,
    /// The VSNR solver when `method = vsnr` (the wedge fields are then empty).
    vsnr: Option<VsnrPlan>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    col_fwd: Arc<dyn Fft<f32>>,
    col_inv: Arc<dyn Fft<f32>>,
}

impl DestripePlan {
    /// Plan for slices of `ny × nx` pixels.
    pub fn new(ny: usize, nx: usize, p: &DestripeParams) -> Result<Self, ParamError> {
        p.validate()?;
        if ny == 0 || nx == 0 {
            return Err(ParamError::new(
                "image size",
                format!("{ny}x{nx}"),
                "must be non-empty",
            ));
        }
        let mut rp = RealFftPlanner::<f32>::new();
        let mut cp = FftPlanner::<f32>::new();
        if matches!(p.method, DestripeMethod::Wavelet | DestripeMethod::Vsnr) {
            let (wavelet, vsnr) = if p.method == DestripeMethod::Wavelet {
                (Some(WaveletDestripe::new(ny, nx, p)?), None)
            } else {
                let v = VsnrPlan::new(
                    ny,
                    nx,
                    &p.vsnr_filters,
                    &p.angles(),
                    p.vsnr_iterations,
                    p.vsnr_beta,
                )?;
                (None, Some(v))
            };
            return Ok(DestripePlan {
                ny,
                nx,
                py: 0,
                px: 0,
                params: p.clone(),
                weight: Array2::zeros((0, 0)),
                ring: Array2::zeros((0, 0)),
                background: Array2::zeros((0, 0)),
                n_rings: 0,
                r2c: rp.plan_fft_forward(2),
                wavelet,
                vsnr,
                c2r: rp.plan_fft_inverse(2),
                col_fwd: cp.plan_fft_forward(1),
                col_inv: cp.plan_fft_inverse(1),
            });
        }
        if p.method == DestripeMethod::Stack {
            return Err(ParamError::new(
                "method",
                "stack",
                "the stack method works on whole stacks (destripe_volume / stream::destripe), not per slice",
            ));
        }
        let (py, px) = (2 * ny, 2 * nx);
        let pxh = px / 2 + 1;
        let kmin = p.k_min_cycles_per_px(nx);
        let sig_r = p.kmin_taper * kmin;
        // A stripe along θ has its energy on the line at −θ in the (fx, fy) plane; the mirror
        // padding adds the mirrored stripe (tilted the other way), so both ±θ are attenuated.
        let mut lines = vec![p.angle_deg, -p.angle_deg];
        if let Some(a) = p.second_angle_deg {
            lines.extend([a, -a]);
        }
        let ring_scale = py.max(px) as f64;
        let bg_lo = p.half_angle_deg + 3.0 * p.taper_deg + 1.0;
        let bg_hi = bg_lo + 20.0;
        let mut weight = Array2::<f32>::zeros((py, pxh));
        let mut ring = Array2::<u32>::zeros((py, pxh));
        let mut background = Array2::<u8>::zeros((py, pxh));
        for iy in 0..py {
            let fy = if iy <= py / 2 {
                iy as f64
            } else {
                iy as f64 - py as f64
            } / py as f64;
            for ix in 0..pxh {
                let fx = ix as f64 / px as f64;
                let r = (fx * fx + fy * fy).sqrt();
                ring[[iy, ix]] = (r * ring_scale).round() as u32;
                if r == 0.0 {
                    continue;
                }
                let wr = if r >= kmin {
                    1.0
                } else if sig_r > 0.0 {
                    (-(kmin - r).powi(2) / (2.0 * sig_r * sig_r)).exp()
                } else {
                    0.0
                };
                let phi = fy.atan2(fx).to_degrees();
                let d = lines
                    .iter()
                    .map(|&l| line_distance_deg(phi, l))
                    .fold(f64::INFINITY, f64::min);
                let wa = if d <= p.half_angle_deg {
                    1.0
                } else if p.taper_deg > 0.0 {
                    let e = d - p.half_angle_deg;
                    (-(e * e) / (2.0 * p.taper_deg * p.taper_deg)).exp()
                } else {
                    0.0
                };
                weight[[iy, ix]] = (wa * wr) as f32;
                background[[iy, ix]] = if d < bg_lo {
                    0
                } else if d <= bg_hi {
                    1
                } else {
                    2
                };
            }
        }
        let n_rings = ring.iter().copied().max().unwrap_or(0) as usize + 1;
        Ok(DestripePlan {
            ny,
            nx,
            py,
            px,
            params: p.clone(),
            weight,
            ring,
            background,
            n_rings,
            r2c: rp.plan_fft_forward(px),
            wavelet: None,
            vsnr: None,
            c2r: rp.plan_fft_inverse(px),
            col_fwd: cp.plan_fft_forward(py),
            col_inv: cp.plan_fft_inverse(py),
        })
    }

    /// Mean structure power per ring, from the background sector near the stripe line (well
    /// outside the wedge and its taper). Where that sector holds fewer than 24 points (small
    /// radii), the whole ring outside the wedge is used, then inner rings are added — inner
    /// rings carry more power, so the estimate errs towards keeping the data. The spectrum of
    /// the mirror-padded slice is a scaled 2-D DCT-II, so each power value is χ² with one degree
    /// of freedom around its mean: mean = median / 0.4549 (the median of χ²₁).
    fn ring_background(&self, power: &[f32]) -> Vec<(f64, bool)> {
        let pxh = self.px / 2 + 1;
        let mut narrow: Vec<Vec<f32>> = vec![Vec::new(); self.n_rings];
        let mut wide: Vec<Vec<f32>> = vec![Vec::new(); self.n_rings];
        for ((iy, ix), &b) in self.background.indexed_iter() {
            let r = self.ring[[iy, ix]] as usize;
            let v = power[iy * pxh + ix];
            if b == 1 {
                narrow[r].push(v);
            }
            if b >= 1 {
                wide[r].push(v);
            }
        }
        let mut out = vec![(f64::INFINITY, false); self.n_rings];
        let mut buf: Vec<f32> = Vec::new();
        const ENOUGH: usize = 24;
        for (r, o) in out.iter_mut().enumerate().skip(1) {
            buf.clear();
            buf.extend_from_slice(&narrow[r]);
            o.1 = buf.len() >= ENOUGH;
            if !o.1 {
                buf.clear();
                let mut rr = r;
                loop {
                    buf.extend_from_slice(&wide[rr]);
                    if buf.len() >= ENOUGH || rr == 1 {
                        break;
                    }
                    rr -= 1;
                }
            }
            if buf.is_empty() {
                continue; // nothing to compare with: keep everything
            }
            let m = buf.len() / 2;
            let (_, med, _) = buf.select_nth_unstable_by(m, |a, b| a.total_cmp(b));
            o.0 = *med as f64 / CHI2_1_MEDIAN;
        }
        out
    }

    /// Destripe one slice; returns the filtered slice and the removed fraction of the non-DC
    /// spectral energy (of the mirror-padded slice; wavelet, VSNR and the material-aware mode:
    /// of the slice's variance, `‖in − out‖² / ‖in − mean‖²`).
    ///
    /// Material-aware mode: the method's output is kept where the slice is material
    /// ([`crate::preprocess::material`]) and the input everywhere else, so the pores are left
    /// exactly as they were.
    pub fn apply(&self, img: ArrayView2<f32>) -> Result<(Array2<f32>, f64), ParamError> {
        let (out, frac) = self.apply_unmasked(img)?;
        if !self.params.material_aware {
            return Ok((out, frac));
        }
        let (mask, _) = material_mask(img, &self.params.material_mask())?;
        let mut out = out;
        ndarray::Zip::from(&mut out)
            .and(&img)
            .and(&mask)
            .for_each(|o, &i, &m| {
                if !m {
                    *o = i;
                }
            });
        let frac = crate::preprocess::destripe::vsnr::removed_fraction(img, out.view());
        Ok((out, frac))
    }

    fn apply_unmasked(&self, img: ArrayView2<f32>) -> Result<(Array2<f32>, f64), ParamError> {
        if let Some(w) = &self.wavelet {
            return w.apply(img);
        }
        if let Some(v) = &self.vsnr {
            return v.apply(img);
        }
        let mut spec = self.forward(img)?;
        let (mask, frac) = self.mask_for_spectrum(&spec);
        self.filter_spectrum(&mut spec, &mask);
        Ok((self.inverse(spec)?, frac))
    }

    /// The attenuation `A` (half spectrum `[2·ny][nx + 1]`) this plan applies to `img`, and the
    /// removed energy fraction. In the adaptive mode `A` depends on the slice.
    pub fn mask_for(&self, img: ArrayView2<f32>) -> Result<(Array2<f32>, f64), ParamError> {
        let spec = self.forward(img)?;
        Ok(self.mask_for_spectrum(&spec))
    }

    /// Apply a given attenuation `A` (from [`Self::mask_for`]) to a slice — a linear filter, so
    /// the effect on a sum of images (structure + stripes) splits into the effects on each.
    pub fn apply_mask(
        &self,
        img: ArrayView2<f32>,
        mask: &Array2<f32>,
    ) -> Result<Array2<f32>, ParamError> {
        let mut spec = self.forward(img)?;
        if mask.dim() != (self.py, self.px / 2 + 1) {
            return Err(ParamError::new(
                "mask shape",
                format!("{:?}", mask.dim()),
                "use a mask from the same plan",
            ));
        }
        self.filter_spectrum(&mut spec, mask);
        self.inverse(spec)
    }

    fn check_shape(&self, img: &ArrayView2<f32>) -> Result<(), ParamError> {
        check_plan_shape(img.dim(), (self.ny, self.nx))
    }

    /// 2-D spectrum (row-major `[py][px/2 + 1]`) of the mirror-padded slice.
    fn forward(&self, img: ArrayView2<f32>) -> Result<Vec<Complex<f32>>, ParamError> {
        if self.wavelet.is_some() || self.vsnr.is_some() {
            return Err(ParamError::new(
                "method",
                self.params.method.name(),
                "only the wedge has a spectral mask",
            ));
        }
        self.check_shape(&img)?;
        let (ny, nx) = img.dim();
        let (py, px) = (self.py, self.px);
        let pxh = px / 2 + 1;
        let refl = |i: usize, n: usize| if i < n { i } else { 2 * n - 1 - i };
        let mut spec = vec![Complex::new(0f32, 0f32); py * pxh];
        let mut row = self.r2c.make_input_vec();
        let mut scratch = self.r2c.make_scratch_vec();
        for y in 0..py {
            let src = img.row(refl(y, ny));
            for (x, v) in row.iter_mut().enumerate() {
                *v = src[refl(x, nx)];
            }
            self.r2c
                .process_with_scratch(&mut row, &mut spec[y * pxh..(y + 1) * pxh], &mut scratch)
                .map_err(fft_err)?;
        }
        self.columns(&mut spec, true);
        Ok(spec)
    }

    fn columns(&self, spec: &mut [Complex<f32>], forward: bool) {
        let (py, pxh) = (self.py, self.px / 2 + 1);
        let fft = if forward {
            &self.col_fwd
        } else {
            &self.col_inv
        };
        let mut col = vec![Complex::new(0f32, 0f32); py];
        let mut cscratch = vec![Complex::new(0f32, 0f32); fft.get_inplace_scratch_len()];
        for x in 0..pxh {
            for y in 0..py {
                col[y] = spec[y * pxh + x];
            }
            fft.process_with_scratch(&mut col, &mut cscratch);
            for y in 0..py {
                spec[y * pxh + x] = col[y];
            }
        }
    }

    /// `A = 1 − W·(1 − g)`, `g = 0` in the classic mode; and the removed energy fraction.
    fn mask_for_spectrum(&self, spec: &[Complex<f32>]) -> (Array2<f32>, f64) {
        let (py, px) = (self.py, self.px);
        let pxh = px / 2 + 1;
        let power: Vec<f32> = spec.iter().map(|c| c.norm_sqr()).collect();
        let bg = if self.params.adaptive {
            Some(self.ring_background(&power))
        } else {
            None
        };
        let mut mask = Array2::<f32>::ones((py, pxh));
        let (mut total, mut removed) = (0f64, 0f64);
        for y in 0..py {
            for x in 0..pxh {
                let i = y * pxh + x;
                let w = self.weight[[y, x]] as f64;
                let hw = if x == 0 || (px % 2 == 0 && x == pxh - 1) {
                    1.0
                } else {
                    2.0
                };
                let e = power[i] as f64 * hw;
                if !(x == 0 && y == 0) {
                    total += e;
                }
                if w <= 0.0 {
                    continue;
                }
                let g = match &bg {
                    None => 0.0,
                    Some(b) => {
                        // on the axes the DCT basis is not halved: twice the power
                        let axis = if x == 0 || y == 0 { 2.0 } else { 1.0 };
                        let (b, reliable) = b[self.ring[[y, x]] as usize];
                        let b = axis * b;
                        // few points to estimate from (small radii, where each frequency
                        // carries much of the image): demand 3× the evidence
                        let k = if reliable { 1.0 } else { 3.0 } * self.params.significance;
                        let pw = power[i] as f64;
                        if pw > k * b {
                            b / pw
                        } else {
                            1.0
                        }
                    }
                };
                let a = 1.0 - w * (1.0 - g);
                removed += e * (1.0 - a * a);
                mask[[y, x]] = a as f32;
            }
        }
        // a flat slice has only round-off outside DC: report nothing removed
        let dc = power[0] as f64;
        let frac = if total > 1e-10 * dc && total > 0.0 {
            removed / total
        } else {
            0.0
        };
        (mask, frac)
    }

    fn filter_spectrum(&self, spec: &mut [Complex<f32>], mask: &Array2<f32>) {
        for (c, &a) in spec.iter_mut().zip(mask.iter()) {
            if a != 1.0 {
                *c *= a;
            }
        }
    }

    fn inverse(&self, mut spec: Vec<Complex<f32>>) -> Result<Array2<f32>, ParamError> {
        self.columns(&mut spec, false);
        let (ny, nx, py, px) = (self.ny, self.nx, self.py, self.px);
        let pxh = px / 2 + 1;
        let norm = 1.0 / (px * py) as f32;
        let mut out = Array2::<f32>::zeros((ny, nx));
        let mut orow = self.c2r.make_output_vec();
        let mut iscratch = self.c2r.make_scratch_vec();
        for y in 0..ny {
            let s = &mut spec[y * pxh..(y + 1) * pxh];
            s[0].im = 0.0;
            if px % 2 == 0 {
                s[pxh - 1].im = 0.0;
            }
            self.c2r
                .process_with_scratch(s, &mut orow, &mut iscratch)
                .map_err(fft_err)?;
            for (o, v) in out.row_mut(y).iter_mut().zip(&orow[..nx]) {
                *o = v * norm;
            }
        }
        Ok(out)
    }
}

fn fft_err(e: realfft::FftError) -> ParamError {
    ParamError::new("fft", e, "internal FFT error")
}

/// Destripe one 2-D image (plans built for it).
pub fn destripe_2d(
    img: ArrayView2<f32>,
    p: &DestripeParams,
) -> Result<(Array2<f32>, f64), ParamError> {
    let (ny, nx) = img.dim();
    DestripePlan::new(ny, nx, p)?.apply(img)
}

/// What `fibstack destripe --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestripeReport {
    /// The destriping method, in words.
    pub method: &'static str,
    /// The parameters used.
    pub params: DestripeParams,
    /// `k_min` in cycles per pixel actually used.
    pub k_min_cycles_per_px: f64,
    /// Per slice: removed fraction of the non-DC spectral energy (dimensionless, 0..1); for
    /// the wavelet method `‖in − out‖² / ‖in − mean‖²`, the same quantity by Parseval.
    pub removed_energy_fraction: Vec<f64>,
    /// Mean of the per-slice fractions.
    pub mean_removed_energy_fraction: f64,
    /// `[dz, dy, dx]` nm.
    pub voxel_size_nm: [f64; 3],
}

/// Destripe every slice of a volume (rayon over slices, one shared plan); the result is f32.
pub fn destripe_volume(
    vol: &GreyVolume,
    p: &DestripeParams,
) -> Result<(GreyVolume, DestripeReport), ParamError> {
    destripe_volume_as(vol, p, SampleType::F32)
}

/// [`destripe_volume`] storing the result as `out_type` slice by slice (u8/u16 rounded and
/// clamped): each slice is converted to f32 on its own, so neither the input nor the output
/// ever exists as a full-size f32 copy.
pub fn destripe_volume_as(
    vol: &GreyVolume,
    p: &DestripeParams,
    out_type: SampleType,
) -> Result<(GreyVolume, DestripeReport), ParamError> {
    destripe_volume_progress(vol, p, out_type, &crate::progress::Silent)
}

/// [`destripe_volume_as`] reporting the slices done to `progress` (phase `destripe`, one unit
/// per slice; the stack method counts its two passes over the slices).
pub fn destripe_volume_progress(
    vol: &GreyVolume,
    p: &DestripeParams,
    out_type: SampleType,
    progress: &dyn crate::progress::Progress,
) -> Result<(GreyVolume, DestripeReport), ParamError> {
    let [nz, ny, nx] = vol.shape();
    let (data, fr) = if p.method == DestripeMethod::Stack {
        let ph = crate::progress::Phase::start(progress, "destripe (stack)", 1);
        let r = crate::preprocess::destripe::stack::destripe_grey(&vol.data, p, out_type)?;
        ph.inc(1);
        r
    } else {
        let plan = DestripePlan::new(ny, nx, p)?;
        let ph = crate::progress::Phase::start(progress, "destripe", nz as u64);
        map_grey_slices_typed(&vol.data, out_type, |_, s| {
            let r = plan.apply(s);
            ph.inc(1);
            r
        })?
    };
    Ok((
        GreyVolume {
            data,
            voxel: vol.voxel,
            meta: vol.meta.clone(),
        },
        destripe_report(p, nx, vol.voxel.nm, fr),
    ))
}

/// The report of a destripe run with per-slice removed fractions `fr` on slices `nx` wide.
pub(crate) fn destripe_report(
    p: &DestripeParams,
    nx: usize,
    voxel_size_nm: [f64; 3],
    fr: Vec<f64>,
) -> DestripeReport {
    let mean = if fr.is_empty() {
        0.0
    } else {
        fr.iter().sum::<f64>() / fr.len() as f64
    };
    DestripeReport {
        method: match (p.method, p.adaptive, p.material_aware) {
            (DestripeMethod::Wavelet, _, false) => "wavelet_fft",
            (DestripeMethod::Wavelet, _, true) => "wavelet_fft_material",
            (DestripeMethod::Stack, _, false) => "stack_column_profile",
            (DestripeMethod::Stack, _, true) => "stack_column_profile_material",
            (DestripeMethod::Vsnr, _, false) => "vsnr",
            (DestripeMethod::Vsnr, _, true) => "vsnr_material",
            (_, true, false) => "fft_wedge_adaptive",
            (_, true, true) => "fft_wedge_adaptive_material",
            (_, false, false) => "fft_wedge",
            (_, false, true) => "fft_wedge_material",
        },
        params: p.clone(),
        k_min_cycles_per_px: if p.method == DestripeMethod::Stack {
            // the Gaussian high-pass's σ in frequency
            1.0 / (2.0 * std::f64::consts::PI * p.stack_sigma_px)
        } else {
            p.k_min_cycles_per_px(nx)
        },
        removed_energy_fraction: fr,
        mean_removed_energy_fraction: mean,
        voxel_size_nm,
    }
}

/// A slice of `dim` given to a plan made for `plan` slices is refused (wedge and wavelet plans).
pub(crate) fn check_plan_shape(
    dim: (usize, usize),
    plan: (usize, usize),
) -> Result<(), ParamError> {
    if dim != plan {
        return Err(ParamError::new(
            "slice size",
            format!("{}x{}", dim.0, dim.1),
            format!("the plan was made for {}x{} slices", plan.0, plan.1),
        ));
    }
    Ok(())
}
