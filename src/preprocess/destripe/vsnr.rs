//! VSNR destriping (`destripe --method vsnr`): the variational stationary noise remover of
//! Fehrenbach, Weiss & Lorenzo (IEEE Trans. Image Process. 21, 4420, 2012), in the form the
//! VSNR 2 plugin and `pyvsnr` use.
//!
//! **Model.** The slice is `u₀ = u + ψ ∗ λ`: a clean image `u` plus stationary noise made of a
//! pattern `ψ` (here: a thin, long Gabor along the curtain direction, or a Dirac for white noise)
//! convolved with an unknown random field `λ`. Several filters `ψᵢ` with noise levels `ηᵢ` are
//! combined into one pattern with the spectrum `|ψ̂|² = Σᵢ |ψ̂ᵢ|² / αᵢ`, and the noise is the
//! minimiser of
//!
//! `min_λ ‖∇(u₀ − ψ ∗ λ)‖₁,₂ + ½‖λ‖²`,
//!
//! the isotropic total variation of the destriped image plus a Gaussian prior on `λ`. Stripes
//! are expensive for the total variation (every stripe edge costs along its whole length) and
//! cheap for `ψ ∗ λ` (one coefficient of `λ` per stripe), so they move into the noise; edges of
//! the structure are short along the curtain direction and stay in `u`.
//!
//! **Weights.** `αᵢ = √N · N² · mᵢ / (‖u₀‖₂ · ηᵢ)` with `N = ny·nx` and
//! `mᵢ = max_k |d̂ⱼ(k)| · |ψ̂ᵢ(k)|²` over the two difference filters `dⱼ` (unnormalised DFTs):
//! the weight that makes `ηᵢ` mean the same on every image size and grey scale (pyvsnr's
//! convention, so its `noise_level` values carry over). The slice is first mapped to `[0, 1]` by
//! its own minimum and maximum and mapped back at the end (no clipping, no re-stretch), so the
//! result is equivariant to any affine change of the grey scale.
//!
//! **Algorithm.** The primal–dual augmented-Lagrangian (ADMM) iteration of the VSNR papers on
//! `min_x f(Ax) + ½‖x‖²`, `A = ∇ψ∗`, `f(y) = ‖∇u₀ − y‖₁,₂`, with penalty `β`:
//! 1. `x̂ = (φ̂₁* F(βy₁ − λ₁) + φ̂₂* F(βy₂ − λ₂)) / (1 + β(|φ̂₁|² + |φ̂₂|²))`, `φ̂ⱼ = ψ̂ d̂ⱼ`
//!    (the exact solve of the quadratic step: every operator is a convolution, diagonal in
//!    Fourier);
//! 2. `y = ∇u₀ − shrink(∇u₀ − Ax − λ/β, 1/β)` (isotropic soft threshold of the 2-vector);
//! 3. `λ ← λ + β(Ax − y)`;
//!
//! and finally `u = u₀ − ψ ∗ x`. Boundaries are periodic (as pyvsnr). `d₁u(y, x) = u(y, x) −
//! u(y, x+1)`, `d₂u(y, x) = u(y, x) − u(y+1, x)`. Every convolution is an FFT on
//! [`realfft`] (4 real 2-D transforms per iteration, the plans of [`crate::preprocess::fft2`]).
//! An iteration is two passes over the slice, each row and column handled on its own while it
//! is in cache: columns of the half spectrum (the y transforms of `βy − λ`, step 1, the inverse
//! y transforms of `A x`), then rows (the inverse x transforms of `A x`, steps 2–3, the x
//! transforms of the next `βy − λ`). The first iteration's step 1 is skipped (it starts from
//! `y = λ = 0`, so `x = 0`), and so is the last iteration's prox, whose result is never used.
//!
//! **Gabor filter** of a stripe at angle θ (stripe direction `(dy, dx) = (cos θ, sin θ)`):
//! `ψ(a, c) = exp(−½(c²/σ_across² + a²/σ_along²))`, `a` along and `c` across the stripe,
//! sampled on the image grid centred at `(ny/2 + 1, nx/2 + 1)` as pyvsnr does (only `|ψ̂|`
//! enters, so the centre does not matter beyond the truncation of very long filters). This is
//! pyvsnr's `{"name": "Gabor", "sigma": (σ_across, σ_along), "theta": −θ}`.
//!
//! ```
//! use fibstack::preprocess::destripe::vsnr::{VsnrFilter, VsnrPlan};
//! use ndarray::Array2;
//! // a smooth ramp plus vertical stripes in three columns
//! let img = Array2::from_shape_fn((64, 64), |(y, x)| {
//!     0.2 + 0.004 * y as f32 + if x % 21 == 5 { 0.3 } else { 0.0 }
//! });
//! let filters = [VsnrFilter::gabor(1.0, 60.0, 200.0)];
//! let plan = VsnrPlan::new(64, 64, &filters, &[0.0], 20, 10.0).unwrap();
//! let (out, _) = plan.apply(img.view()).unwrap();
//! let step = |a: &Array2<f32>| (a[[30, 5]] - a[[30, 4]]).abs();
//! assert!(step(&out) < 0.3 * step(&img));
//! ```

use crate::error::ParamError;
use crate::preprocess::fft2::{Fft2, C32};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One pattern filter of the VSNR noise model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum VsnrFilter {
    /// A thin, long Gaussian along the stripe direction: curtains.
    Gabor {
        /// `[σ_across, σ_along]` in pixels (both > 0): stripe width and length scale.
        sigma: [f64; 2],
        /// Noise level η (> 0): larger removes more.
        noise_level: f64,
        /// Stripe angle in degrees from vertical (|θ| ≤ 45); `None` = the destripe angle(s)
        /// (one filter per stripe direction).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        angle: Option<f64>,
    },
    /// A single pixel: white (pixel-independent) noise.
    Dirac {
        /// Noise level η (> 0).
        noise_level: f64,
    },
}

/// The command-line spec that [`VsnrFilter::parse`] reads back (`gabor:1,100,2`).
impl std::fmt::Display for VsnrFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VsnrFilter::Gabor {
                sigma,
                noise_level,
                angle,
            } => {
                write!(f, "gabor:{},{},{}", sigma[0], sigma[1], noise_level)?;
                match angle {
                    Some(a) => write!(f, ",{a}"),
                    None => Ok(()),
                }
            }
            VsnrFilter::Dirac { noise_level } => write!(f, "dirac:{noise_level}"),
        }
    }
}

impl VsnrFilter {
    /// A Gabor filter following the destripe angle(s).
    pub fn gabor(sigma_across: f64, sigma_along: f64, noise_level: f64) -> Self {
        VsnrFilter::Gabor {
            sigma: [sigma_across, sigma_along],
            noise_level,
            angle: None,
        }
    }

    fn noise_level(&self) -> f64 {
        match self {
            VsnrFilter::Gabor { noise_level, .. } | VsnrFilter::Dirac { noise_level } => {
                *noise_level
            }
        }
    }

    /// Parse a CLI spec: `gabor:SIGMA_ACROSS,SIGMA_ALONG,NOISE_LEVEL[,ANGLE]` or
    /// `dirac:NOISE_LEVEL`.
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        let bad = |why: &str| {
            ParamError::new(
                "vsnr filter",
                s,
                format!("{why}; use gabor:SIGMA_ACROSS,SIGMA_ALONG,NOISE_LEVEL[,ANGLE_DEG] or dirac:NOISE_LEVEL (e.g. gabor:1,100,50)"),
            )
        };
        let (kind, rest) = s.split_once(':').ok_or_else(|| bad("no kind"))?;
        let nums: Vec<f64> = rest
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("not a list of numbers"))?;
        match (kind.trim().to_ascii_lowercase().as_str(), nums.as_slice()) {
            ("gabor", [a, b, e]) => Ok(VsnrFilter::gabor(*a, *b, *e)),
            ("gabor", [a, b, e, t]) => Ok(VsnrFilter::Gabor {
                sigma: [*a, *b],
                noise_level: *e,
                angle: Some(*t),
            }),
            ("dirac", [e]) => Ok(VsnrFilter::Dirac { noise_level: *e }),
            ("gabor" | "dirac", _) => Err(bad("wrong number of values")),
            _ => Err(bad("unknown filter kind")),
        }
    }

    /// Check the filter's values.
    pub fn validate(&self) -> Result<(), ParamError> {
        let eta = self.noise_level();
        if !(eta.is_finite() && eta > 0.0) {
            return Err(ParamError::new(
                "vsnr noise_level",
                eta,
                "must be a finite noise level > 0 (larger removes more; 10-200 is typical for curtains)",
            ));
        }
        if let VsnrFilter::Gabor { sigma, angle, .. } = self {
            for (name, v) in [("across", sigma[0]), ("along", sigma[1])] {
                if !(v.is_finite() && v > 0.0 && v <= 1e5) {
                    return Err(ParamError::new(
                        format!("vsnr gabor sigma ({name}, px)"),
                        v,
                        "must be a width in pixels > 0 (e.g. sigma = [1, 100]: 1 px across, 100 px along the stripes)",
                    ));
                }
            }
            if let Some(a) = angle {
                check_angle("vsnr gabor angle (deg)", *a)?;
            }
        }
        Ok(())
    }
}

/// Curtains are near vertical: a stripe angle must lie in ±45°.
pub fn check_angle(name: &str, a: f64) -> Result<(), ParamError> {
    if !(a.is_finite() && a.abs() <= 45.0) {
        return Err(ParamError::new(
            name,
            a,
            "must lie in [-45, 45] degrees from the image vertical (curtains run along the ion beam)",
        ));
    }
    Ok(())
}

/// Check a whole VSNR configuration (filters, iterations, β, the stripe angles the Gabor
/// filters follow).
pub fn validate(
    filters: &[VsnrFilter],
    angles: &[f64],
    iterations: usize,
    beta: f64,
) -> Result<(), ParamError> {
    if filters.is_empty() {
        return Err(ParamError::new(
            "vsnr filters",
            "[]",
            "give at least one filter, e.g. vsnr_filters = [{ kind = \"gabor\", sigma = [1, 100], noise_level = 50 }] (CLI --vsnr-filter gabor:1,100,50)",
        ));
    }
    for f in filters {
        f.validate()?;
    }
    if filters
        .iter()
        .any(|f| matches!(f, VsnrFilter::Gabor { angle: None, .. }))
    {
        for a in angles {
            check_angle("stripe angle (deg)", *a)?;
        }
    }
    if iterations == 0 || iterations > 100_000 {
        return Err(ParamError::new(
            "vsnr iterations",
            iterations,
            "must be at least 1 (20-50 is typical)",
        ));
    }
    if !(beta.is_finite() && beta > 0.0) {
        return Err(ParamError::new(
            "vsnr beta",
            beta,
            "must be a penalty > 0 (10 is the default)",
        ));
    }
    Ok(())
}

/// The spatial Gabor pattern (row-major `ny × nx`), sampled as described in the module docs.
pub fn gabor_pattern(
    ny: usize,
    nx: usize,
    sigma_across: f64,
    sigma_along: f64,
    angle_deg: f64,
) -> Vec<f32> {
    let (s, c) = angle_deg.to_radians().sin_cos();
    let (oy, ox) = (ny as f64 / 2.0 + 1.0, nx as f64 / 2.0 + 1.0);
    let mut out = Vec::with_capacity(ny * nx);
    for i in 0..ny {
        let y = oy - i as f64;
        for j in 0..nx {
            let x = ox - j as f64;
            // along the stripe (cos θ, sin θ) in (y, x); across perpendicular to it
            let a = y * c + x * s;
            let cr = x * c - y * s;
            let q = (cr / sigma_across).powi(2) + (a / sigma_along).powi(2);
            out.push((-0.5 * q).exp() as f32);
        }
    }
    out
}

/// A VSNR filter ready for slices of one shape: FFT plans, the combined pattern spectrum up to
/// the image-dependent factor `‖u₀‖`, and the difference filters.
pub struct VsnrPlan {
    fft: Fft2,
    /// `Σᵢ |ψ̂ᵢ|² ηᵢ / (N^2.5 mᵢ)` on the half spectrum (column-major); `|ψ̂|² = ‖u₀‖ · s0`.
    s0: Vec<f32>,
    /// `d̂₁(kx) = 1 − e^{2πi kx/nx}`.
    d1: Vec<C32>,
    /// `d̂₂(ky) = 1 − e^{2πi ky/ny}`.
    d2: Vec<C32>,
    iterations: usize,
    beta: f32,
}

impl VsnrPlan {
    /// Plan for `ny × nx` slices. Gabor filters without their own angle are instantiated once
    /// per entry of `angles` (the stripe direction and an optional second one).
    pub fn new(
        ny: usize,
        nx: usize,
        filters: &[VsnrFilter],
        angles: &[f64],
        iterations: usize,
        beta: f64,
    ) -> Result<Self, ParamError> {
        validate(filters, angles, iterations, beta)?;
        if ny < 2 || nx < 2 {
            return Err(ParamError::new(
                "image size",
                format!("{ny}x{nx}"),
                "VSNR needs at least 2x2 pixels",
            ));
        }
        let fft = Fft2::new(ny, nx);
        let (nh, n) = (fft.nh, (ny * nx) as f64);
        let tau = 2.0 * std::f64::consts::PI;
        let d1: Vec<C32> = (0..nh)
            .map(|k| {
                let (s, c) = (tau * k as f64 / nx as f64).sin_cos();
                C32::new((1.0 - c) as f32, -s as f32)
            })
            .collect();
        let d2: Vec<C32> = (0..ny)
            .map(|k| {
                let (s, c) = (tau * k as f64 / ny as f64).sin_cos();
                C32::new((1.0 - c) as f32, -s as f32)
            })
            .collect();
        let mut s0 = vec![0f64; fft.spec_len()];
        let mut add = |p2: &[f64], eta: f64| {
            // m = max over k of |d̂ⱼ(k)|·|ψ̂(k)|², j = 1, 2
            let (mut m1, mut m2) = (0f64, 0f64);
            for kx in 0..nh {
                let a1 = d1[kx].norm() as f64;
                for ky in 0..ny {
                    let p = p2[kx * ny + ky];
                    m1 = m1.max(a1 * p);
                    m2 = m2.max(d2[ky].norm() as f64 * p);
                }
            }
            let m = m1.max(m2);
            if m > 0.0 {
                let w = eta / (n.powf(2.5) * m);
                for (s, p) in s0.iter_mut().zip(p2) {
                    *s += w * p;
                }
            }
        };
        for f in filters {
            match f {
                VsnrFilter::Dirac { noise_level } => {
                    let p2 = vec![1.0; fft.spec_len()];
                    add(&p2, *noise_level);
                }
                VsnrFilter::Gabor {
                    sigma,
                    noise_level,
                    angle,
                } => {
                    let list: Vec<f64> = match angle {
                        Some(a) => vec![*a],
                        None => angles.to_vec(),
                    };
                    for a in list {
                        let g = gabor_pattern(ny, nx, sigma[0], sigma[1], a);
                        let mut spec = fft.spec();
                        let mut work = fft.work();
                        fft.forward(&g, &mut spec, &mut work);
                        let p2: Vec<f64> = spec.iter().map(|c| c.norm_sqr() as f64).collect();
                        add(&p2, *noise_level);
                    }
                }
            }
        }
        Ok(VsnrPlan {
            fft,
            s0: s0.into_iter().map(|v| v as f32).collect(),
            d1,
            d2,
            iterations,
            beta: beta as f32,
        })
    }

    /// Destripe one slice; returns it and the removed fraction of its variance,
    /// `‖in − out‖² / ‖in − mean(in)‖²` (0 for a flat slice).
    pub fn apply(&self, img: ArrayView2<f32>) -> Result<(Array2<f32>, f64), ParamError> {
        let (ny, nx) = (self.fft.ny, self.fft.nx);
        super::check_plan_shape(img.dim(), (ny, nx))?;
        let mut u0: Vec<f32> = img.iter().copied().collect();
        let lo = u0.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = u0.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !(lo.is_finite() && hi.is_finite()) {
            return Err(ParamError::new(
                "slice values",
                "NaN or infinite",
                "VSNR needs finite grey values",
            ));
        }
        let span = hi - lo;
        if span <= 0.0 {
            return Ok((img.to_owned(), 0.0));
        }
        u0.par_iter_mut().for_each(|v| *v = (*v - lo) / span);
        let noise = self.noise(&u0);
        u0.par_iter_mut()
            .zip(noise.par_iter())
            .for_each(|(a, e)| *a = lo + span * (*a - e));
        drop(noise);
        let out = Array2::from_shape_vec((ny, nx), u0).expect("the plan's shape");
        let frac = removed_fraction(img, out.view());
        Ok((out, frac))
    }

    /// The estimated noise `ψ ∗ x` of a slice already mapped to `[0, 1]` (row-major), the core
    /// of [`Self::apply`]: `u = u₀ − noise`.
    pub fn noise(&self, u0: &[f32]) -> Vec<f32> {
        let f = &self.fft;
        let (ny, nx) = (f.ny, f.nx);
        let n = ny * nx;
        let norm = u0
            .iter()
            .map(|v| (*v as f64) * (*v as f64))
            .sum::<f64>()
            .sqrt();
        // ψ̂ = N·√(‖u₀‖ s0) (real ≥ 0), Φ = 1 + β|ψ̂|²(|d̂₁|² + |d̂₂|²)
        let beta = self.beta;
        let psi: Vec<f32> = self
            .s0
            .par_iter()
            .map(|s| (n as f64 * (norm * *s as f64).sqrt()) as f32)
            .collect();
        let phi: Vec<f32> = psi
            .par_chunks(ny)
            .enumerate()
            .flat_map_iter(|(kx, col)| {
                let a1 = self.d1[kx].norm_sqr();
                col.iter()
                    .zip(&self.d2)
                    .map(move |(p, d2)| 1.0 + beta * p * p * (a1 + d2.norm_sqr()))
                    .collect::<Vec<f32>>()
            })
            .collect();
        let k = Prox {
            inv_n: 1.0 / n as f32,
            beta,
            inv_beta: 1.0 / beta,
            thr: 1.0 / beta,
        };
        let nh = f.nh;
        // λ (row-major), F_x(βy − λ) row by row (row-major half spectra, `w`) and the 2-D
        // spectra (column-major, `z`): A x during the iterations, ψ̂ x̂ at the end
        let mut l1 = vec![0f32; n];
        let mut l2 = vec![0f32; n];
        let mut w1 = f.spec();
        let mut w2 = f.spec();
        let mut z1 = f.spec();
        let mut z2 = f.spec();
        // The first iteration starts from y = λ = 0, so x̂ = 0 and A x = 0: its step 1 is
        // skipped exactly. Each later iteration is two passes over the slice: columns (the y
        // transforms of βy − λ, step 1 and the inverse y transforms of A x) and rows (the
        // inverse x transforms of A x, the prox and multiplier update, the x transforms of the
        // next βy − λ), each row and column on its own while it is in cache.
        if self.iterations > 1 {
            self.row_pass(u0, None, &mut l1, &mut l2, &mut w1, &mut w2, &k);
        }
        for it in 2..=self.iterations {
            let last = it == self.iterations;
            self.column_pass(&w1, &w2, &mut z1, &mut z2, &psi, &phi, last);
            if !last {
                self.row_pass(u0, Some((&z1, &z2)), &mut l1, &mut l2, &mut w1, &mut w2, &k);
            }
        }
        // u = u₀ − ψ ∗ x, x from the last iteration's step 1
        let mut noise = vec![0f32; n];
        if self.iterations > 1 {
            noise.par_chunks_mut(nx * ROWS).enumerate().for_each_init(
                || {
                    (
                        vec![C32::new(0.0, 0.0); nh * ROWS],
                        f.c2r.make_output_vec(),
                        f.c2r.make_scratch_vec(),
                    )
                },
                |(rb, orow, scratch), (ci, out)| {
                    let r0 = ci * ROWS;
                    let nr = out.len() / nx;
                    gather_rows(&z1, ny, r0, nr, nh, rb);
                    for (r, o) in out.chunks_mut(nx).enumerate() {
                        f.c2r_row(&mut rb[r * nh..(r + 1) * nh], orow, scratch);
                        for (d, v) in o.iter_mut().zip(orow.iter()) {
                            *d = v * k.inv_n;
                        }
                    }
                },
            );
        }
        noise
    }

    /// Pass over rows: `a = F⁻¹_x` of the rows of `z` (N·A x; zero when `z` is `None`), the
    /// prox and multiplier update (`λ` in `l`), and `w = F_x(βy − λ)` row by row.
    #[allow(clippy::too_many_arguments)]
    fn row_pass(
        &self,
        u0: &[f32],
        z: Option<(&[C32], &[C32])>,
        l1: &mut [f32],
        l2: &mut [f32],
        w1: &mut [C32],
        w2: &mut [C32],
        k: &Prox,
    ) {
        let f = &self.fft;
        let (ny, nx, nh) = (f.ny, f.nx, f.nh);
        l1.par_chunks_mut(nx * ROWS)
            .zip(l2.par_chunks_mut(nx * ROWS))
            .zip(w1.par_chunks_mut(nh * ROWS))
            .zip(w2.par_chunks_mut(nh * ROWS))
            .enumerate()
            .for_each_init(
                || RowScratch {
                    rb1: vec![C32::new(0.0, 0.0); nh * ROWS],
                    rb2: vec![C32::new(0.0, 0.0); nh * ROWS],
                    a1: vec![0f32; nx],
                    a2: vec![0f32; nx],
                    g1: vec![0f32; nx],
                    g2: vec![0f32; nx],
                    sc: f.c2r.make_scratch_vec(),
                    sf: f.r2c.make_scratch_vec(),
                },
                |s, (ci, (((l1c, l2c), w1c), w2c))| {
                    let r0 = ci * ROWS;
                    let nr = l1c.len() / nx;
                    if let Some((z1, z2)) = z {
                        gather_rows(z1, ny, r0, nr, nh, &mut s.rb1);
                        gather_rows(z2, ny, r0, nr, nh, &mut s.rb2);
                    }
                    for r in 0..nr {
                        let y = r0 + r;
                        if z.is_some() {
                            f.c2r_row(&mut s.rb1[r * nh..(r + 1) * nh], &mut s.a1, &mut s.sc);
                            f.c2r_row(&mut s.rb2[r * nh..(r + 1) * nh], &mut s.a2, &mut s.sc);
                        } else {
                            s.a1.fill(0.0);
                            s.a2.fill(0.0);
                        }
                        let row = &u0[y * nx..(y + 1) * nx];
                        let below = &u0[((y + 1) % ny) * nx..((y + 1) % ny + 1) * nx];
                        grad_row(row, below, &mut s.g1, &mut s.g2);
                        let (l1r, l2r) = (
                            &mut l1c[r * nx..(r + 1) * nx],
                            &mut l2c[r * nx..(r + 1) * nx],
                        );
                        prox_row(&s.g1, &s.g2, &mut s.a1, &mut s.a2, l1r, l2r, k);
                        f.r2c_row(&mut s.a1, &mut w1c[r * nh..(r + 1) * nh], &mut s.sf);
                        f.r2c_row(&mut s.a2, &mut w2c[r * nh..(r + 1) * nh], &mut s.sf);
                    }
                },
            );
    }

    /// Pass over columns of the half spectrum: the y transforms of `w`, step 1 (x̂), and the
    /// inverse y transforms of A x into `z` (of ψ̂ x̂ into `z1` on the `last` iteration).
    #[allow(clippy::too_many_arguments)]
    fn column_pass(
        &self,
        w1: &[C32],
        w2: &[C32],
        z1: &mut [C32],
        z2: &mut [C32],
        psi: &[f32],
        phi: &[f32],
        last: bool,
    ) {
        let f = &self.fft;
        let (ny, nh) = (f.ny, f.nh);
        let scratch_len = f
            .col_fwd
            .get_inplace_scratch_len()
            .max(f.col_inv.get_inplace_scratch_len());
        z1.par_chunks_mut(ny * COLS)
            .zip(z2.par_chunks_mut(ny * COLS))
            .enumerate()
            .for_each_init(
                || vec![C32::new(0.0, 0.0); scratch_len],
                |scratch, (ci, (z1c, z2c))| {
                    let kx0 = ci * COLS;
                    let nc = z1c.len() / ny;
                    // gather the columns kx0.. of the row-major spectra in blocks of 8 rows
                    // (8 values of a column fill one cache line of `z`; the columns are a
                    // multiple of 4 KiB apart when ny is, so writing them value by value would
                    // evict each other's lines), asking for the rows PREFETCH ahead (strided
                    // lines the hardware does not fetch by itself)
                    for ky0 in (0..ny).step_by(8) {
                        let ky1 = (ky0 + 8).min(ny);
                        for ky in ky0 + PREFETCH..(ky1 + PREFETCH).min(ny) {
                            let q = ky * nh + kx0;
                            prefetch(&w1[q]);
                            prefetch(&w1[q + nc - 1]);
                            prefetch(&w2[q]);
                            prefetch(&w2[q + nc - 1]);
                        }
                        for c in 0..nc {
                            let (d1, d2) = (
                                &mut z1c[c * ny + ky0..c * ny + ky1],
                                &mut z2c[c * ny + ky0..c * ny + ky1],
                            );
                            for (i, ky) in (ky0..ky1).enumerate() {
                                d1[i] = w1[ky * nh + kx0 + c];
                                d2[i] = w2[ky * nh + kx0 + c];
                            }
                        }
                    }
                    for c in 0..nc {
                        let kx = kx0 + c;
                        let (c1, c2) = (
                            &mut z1c[c * ny..(c + 1) * ny],
                            &mut z2c[c * ny..(c + 1) * ny],
                        );
                        f.col_fwd.process_with_scratch(c1, scratch);
                        f.col_fwd.process_with_scratch(c2, scratch);
                        let col = kx * ny;
                        x_update_col(
                            self.d1[kx],
                            &self.d2,
                            &psi[col..col + ny],
                            &phi[col..col + ny],
                            c1,
                            c2,
                            last,
                        );
                        f.col_inv.process_with_scratch(c1, scratch);
                        if !last {
                            f.col_inv.process_with_scratch(c2, scratch);
                        }
                    }
                },
            );
    }
}

/// Rows of the slice per task of the row pass.
const ROWS: usize = 8;
/// Spectrum columns per task of the column pass (16 complex values: two 64-byte cache lines
/// per row of the row-major spectra).
const COLS: usize = 16;
/// How many strided lines ahead the gathers ask the memory for.
const PREFETCH: usize = 16;

/// A hint to bring the cache line holding `v` into L1 (no effect off x86-64).
#[inline(always)]
fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads no value, never faults and changes no state, and
    // the pointer comes from a reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch(v as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Per-task buffers of the row pass.
struct RowScratch {
    rb1: Vec<C32>,
    rb2: Vec<C32>,
    a1: Vec<f32>,
    a2: Vec<f32>,
    g1: Vec<f32>,
    g2: Vec<f32>,
    sc: Vec<C32>,
    sf: Vec<C32>,
}

/// Rows `r0..r0+nr` of the column-major `ny`-row spectrum `z` into row-major `rb` (`nh` per row).
fn gather_rows(z: &[C32], ny: usize, r0: usize, nr: usize, nh: usize, rb: &mut [C32]) {
    for kx in 0..nh {
        if kx + PREFETCH < nh {
            prefetch(&z[(kx + PREFETCH) * ny + r0]);
            prefetch(&z[(kx + PREFETCH) * ny + r0 + nr - 1]);
        }
        let col = &z[kx * ny + r0..kx * ny + r0 + nr];
        for (r, v) in col.iter().enumerate() {
            rb[r * nh + kx] = *v;
        }
    }
}

/// Constants of the prox/multiplier step.
struct Prox {
    inv_n: f32,
    beta: f32,
    inv_beta: f32,
    thr: f32,
}

/// The periodic differences of one row: `g1 = u(y, x) − u(y, x+1)`, `g2 = u(y, x) − u(y+1, x)`.
fn grad_row(row: &[f32], below: &[f32], g1: &mut [f32], g2: &mut [f32]) {
    let nx = row.len();
    let (g1, g2, below) = (&mut g1[..nx], &mut g2[..nx], &below[..nx]);
    for c in 0..nx - 1 {
        g1[c] = row[c] - row[c + 1];
    }
    g1[nx - 1] = row[nx - 1] - row[0];
    for c in 0..nx {
        g2[c] = row[c] - below[c];
    }
}

/// Step 1 on one column `kx` of the spectra (`c1`, `c2` = F(βy − λ) on entry): x̂, then
/// `φ̂ⱼ x̂` (A x) into `c1`, `c2`, or `ψ̂ x̂` into `c1` when `last`. With AVX2 where the CPU has
/// it: the same IEEE operations in the same order (no FMA contraction), so the same bits.
fn x_update_col(
    d1: C32,
    d2: &[C32],
    ps: &[f32],
    ph: &[f32],
    c1: &mut [C32],
    c2: &mut [C32],
    last: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { x_update_col_avx2(d1, d2, ps, ph, c1, c2, last) };
        return;
    }
    x_update_col_body(d1, d2, ps, ph, c1, c2, last)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn x_update_col_avx2(
    d1: C32,
    d2: &[C32],
    ps: &[f32],
    ph: &[f32],
    c1: &mut [C32],
    c2: &mut [C32],
    last: bool,
) {
    x_update_col_body(d1, d2, ps, ph, c1, c2, last)
}

#[inline(always)]
fn x_update_col_body(
    d1: C32,
    d2: &[C32],
    ps: &[f32],
    ph: &[f32],
    c1: &mut [C32],
    c2: &mut [C32],
    last: bool,
) {
    let ny = ps.len();
    let (d2, ph, c1, c2) = (&d2[..ny], &ph[..ny], &mut c1[..ny], &mut c2[..ny]);
    for ky in 0..ny {
        let p = ps[ky];
        let f1 = d1 * p;
        let f2 = d2[ky] * p;
        let v = (f1.conj() * c1[ky] + f2.conj() * c2[ky]) / ph[ky];
        if last {
            c1[ky] = v * p;
        } else {
            c1[ky] = f1 * v;
            c2[ky] = f2 * v;
        }
    }
}

/// Steps 2–3 on one row (branch-free, so that it vectorises; with AVX2 where the CPU has it,
/// the same operations and bits): `a = t/N` (A x), `y = ∇u₀ −
/// shrink(∇u₀ − a − λ/β, 1/β)`, `λ ← λ + β(a − y)`, then `t = βy − λ`.
fn prox_row(
    g1: &[f32],
    g2: &[f32],
    t1: &mut [f32],
    t2: &mut [f32],
    l1: &mut [f32],
    l2: &mut [f32],
    k: &Prox,
) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { prox_row_avx2(g1, g2, t1, t2, l1, l2, k) };
        return;
    }
    prox_row_body(g1, g2, t1, t2, l1, l2, k)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn prox_row_avx2(
    g1: &[f32],
    g2: &[f32],
    t1: &mut [f32],
    t2: &mut [f32],
    l1: &mut [f32],
    l2: &mut [f32],
    k: &Prox,
) {
    prox_row_body(g1, g2, t1, t2, l1, l2, k)
}

#[inline(always)]
fn prox_row_body(
    g1: &[f32],
    g2: &[f32],
    t1: &mut [f32],
    t2: &mut [f32],
    l1: &mut [f32],
    l2: &mut [f32],
    k: &Prox,
) {
    let nx = g1.len();
    let (g2, t1, t2, l1, l2) = (
        &g2[..nx],
        &mut t1[..nx],
        &mut t2[..nx],
        &mut l1[..nx],
        &mut l2[..nx],
    );
    for c in 0..nx {
        let a1 = t1[c] * k.inv_n;
        let a2 = t2[c] * k.inv_n;
        let q1 = g1[c] - (a1 + l1[c] * k.inv_beta);
        let q2 = g2[c] - (a2 + l2[c] * k.inv_beta);
        let ng = (q1 * q1 + q2 * q2).sqrt() + f32::EPSILON;
        // the isotropic soft threshold: q shrinks by thr along its direction, to 0 below thr
        let s = 1.0 - k.thr / ng;
        let s = if s > 0.0 { s } else { 0.0 };
        let v1 = g1[c] - q1 * s;
        let v2 = g2[c] - q2 * s;
        let m1 = l1[c] + k.beta * (a1 - v1);
        let m2 = l2[c] + k.beta * (a2 - v2);
        l1[c] = m1;
        l2[c] = m2;
        t1[c] = k.beta * v1 - m1;
        t2[c] = k.beta * v2 - m2;
    }
}

/// `‖in − out‖² / ‖in − mean(in)‖²`, 0 for a flat input.
pub fn removed_fraction(img: ArrayView2<f32>, out: ArrayView2<f32>) -> f64 {
    let n = img.len().max(1) as f64;
    let mean = img.iter().map(|v| *v as f64).sum::<f64>() / n;
    let var: f64 = img.iter().map(|v| (*v as f64 - mean).powi(2)).sum();
    let removed: f64 = img
        .iter()
        .zip(out.iter())
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum();
    if var > 1e-12 * (mean * mean * n).max(1e-30) {
        (removed / var).min(1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Naive twin of the whole iteration: f64, full complex DFTs written out, every operator
    /// applied as a sum in Fourier space over all frequencies (not the half spectrum).
    fn naive(u: &Array2<f64>, filters: &[(Vec<f64>, f64)], nit: usize, beta: f64) -> Array2<f64> {
        use std::f64::consts::PI;
        let (ny, nx) = u.dim();
        let n = (ny * nx) as f64;
        type Cx = (f64, f64);
        let mul = |a: Cx, b: Cx| (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
        let dft = |a: &[Cx], inv: bool| -> Vec<Cx> {
            let sg = if inv { 1.0 } else { -1.0 };
            let mut out = vec![(0.0, 0.0); ny * nx];
            for ky in 0..ny {
                for kx in 0..nx {
                    let mut s = (0.0, 0.0);
                    for y in 0..ny {
                        for x in 0..nx {
                            let ph = sg
                                * 2.0
                                * PI
                                * (ky as f64 * y as f64 / ny as f64
                                    + kx as f64 * x as f64 / nx as f64);
                            let v = mul(a[y * nx + x], (ph.cos(), ph.sin()));
                            s = (s.0 + v.0, s.1 + v.1);
                        }
                    }
                    out[ky * nx + kx] = if inv { (s.0 / n, s.1 / n) } else { s };
                }
            }
            out
        };
        let real = |a: &[f64]| a.iter().map(|v| (*v, 0.0)).collect::<Vec<Cx>>();
        let u0: Vec<f64> = u.iter().copied().collect();
        let norm = u0.iter().map(|v| v * v).sum::<f64>().sqrt();
        let d1: Vec<Cx> = (0..ny * nx)
            .map(|i| {
                let k = (i % nx) as f64;
                (
                    1.0 - (2.0 * PI * k / nx as f64).cos(),
                    -(2.0 * PI * k / nx as f64).sin(),
                )
            })
            .collect();
        let d2: Vec<Cx> = (0..ny * nx)
            .map(|i| {
                let k = (i / nx) as f64;
                (
                    1.0 - (2.0 * PI * k / ny as f64).cos(),
                    -(2.0 * PI * k / ny as f64).sin(),
                )
            })
            .collect();
        let ab = |c: Cx| (c.0 * c.0 + c.1 * c.1).sqrt();
        let mut s = vec![0.0; ny * nx];
        for (pat, eta) in filters {
            let p2: Vec<f64> = dft(&real(pat), false)
                .iter()
                .map(|c| c.0 * c.0 + c.1 * c.1)
                .collect();
            let m = (0..ny * nx)
                .map(|i| (ab(d1[i]) * p2[i]).max(ab(d2[i]) * p2[i]))
                .fold(0.0, f64::max);
            let alpha = n.sqrt() * n * n * m / (norm * eta);
            for i in 0..ny * nx {
                s[i] += p2[i] / alpha;
            }
        }
        let psi: Vec<f64> = s.iter().map(|v| n * v.sqrt()).collect();
        let f1: Vec<Cx> = (0..ny * nx)
            .map(|i| (d1[i].0 * psi[i], d1[i].1 * psi[i]))
            .collect();
        let f2: Vec<Cx> = (0..ny * nx)
            .map(|i| (d2[i].0 * psi[i], d2[i].1 * psi[i]))
            .collect();
        let phi: Vec<f64> = (0..ny * nx)
            .map(|i| 1.0 + beta * (ab(f1[i]).powi(2) + ab(f2[i]).powi(2)))
            .collect();
        let g1: Vec<f64> = (0..ny * nx)
            .map(|i| u0[i] - u0[(i / nx) * nx + (i % nx + 1) % nx])
            .collect();
        let g2: Vec<f64> = (0..ny * nx)
            .map(|i| u0[i] - u0[((i / nx + 1) % ny) * nx + i % nx])
            .collect();
        let (mut y1, mut y2, mut l1, mut l2) = (
            vec![0.0; ny * nx],
            vec![0.0; ny * nx],
            vec![0.0; ny * nx],
            vec![0.0; ny * nx],
        );
        let mut x = vec![(0.0, 0.0); ny * nx];
        for _ in 0..nit {
            let t1: Vec<f64> = (0..ny * nx).map(|i| beta * y1[i] - l1[i]).collect();
            let t2: Vec<f64> = (0..ny * nx).map(|i| beta * y2[i] - l2[i]).collect();
            let (a, b) = (dft(&real(&t1), false), dft(&real(&t2), false));
            for i in 0..ny * nx {
                let v1 = mul((f1[i].0, -f1[i].1), a[i]);
                let v2 = mul((f2[i].0, -f2[i].1), b[i]);
                x[i] = ((v1.0 + v2.0) / phi[i], (v1.1 + v2.1) / phi[i]);
            }
            let ax1 = dft(
                &(0..ny * nx).map(|i| mul(f1[i], x[i])).collect::<Vec<_>>(),
                true,
            );
            let ax2 = dft(
                &(0..ny * nx).map(|i| mul(f2[i], x[i])).collect::<Vec<_>>(),
                true,
            );
            for i in 0..ny * nx {
                let (a1, a2) = (ax1[i].0, ax2[i].0);
                let q1 = g1[i] - (a1 + l1[i] / beta);
                let q2 = g2[i] - (a2 + l2[i] / beta);
                let ng = (q1 * q1 + q2 * q2).sqrt();
                if ng > 1.0 / beta {
                    let k = 1.0 - 1.0 / (beta * ng);
                    y1[i] = g1[i] - q1 * k;
                    y2[i] = g2[i] - q2 * k;
                } else {
                    y1[i] = g1[i];
                    y2[i] = g2[i];
                }
                l1[i] += beta * (a1 - y1[i]);
                l2[i] += beta * (a2 - y2[i]);
            }
        }
        let noise = dft(
            &(0..ny * nx)
                .map(|i| (x[i].0 * psi[i], x[i].1 * psi[i]))
                .collect::<Vec<_>>(),
            true,
        );
        Array2::from_shape_fn((ny, nx), |(y, xx)| u0[y * nx + xx] - noise[y * nx + xx].0)
    }

    #[test]
    fn core_matches_the_naive_twin() {
        for (seed, (ny, nx)) in [(8, 8), (7, 10), (9, 5), (12, 16)].into_iter().enumerate() {
            let mut rng = Rng::new(seed as u64 + 3);
            let u = Array2::from_shape_fn((ny, nx), |(_, x)| {
                0.5 * rng.uniform() + if x % 3 == 1 { 0.4 } else { 0.0 }
            });
            let angle = 5.0 * seed as f64;
            let filters = vec![
                VsnrFilter::gabor(1.0 + 0.3 * seed as f64, 6.0, 3.0),
                VsnrFilter::Dirac { noise_level: 0.5 },
            ];
            let nit = 1 + seed * 3;
            let plan = VsnrPlan::new(ny, nx, &filters, &[angle], nit, 10.0).unwrap();
            let u32: Vec<f32> = u.iter().map(|v| *v as f32).collect();
            let noise = plan.noise(&u32);
            let pats = vec![
                (
                    gabor_pattern(ny, nx, 1.0 + 0.3 * seed as f64, 6.0, angle)
                        .into_iter()
                        .map(|v| v as f64)
                        .collect::<Vec<_>>(),
                    3.0,
                ),
                (
                    (0..ny * nx)
                        .map(|i| if i == 0 { 1.0 } else { 0.0 })
                        .collect::<Vec<_>>(),
                    0.5,
                ),
            ];
            let want = naive(&u, &pats, nit, 10.0);
            let mut worst = 0f64;
            for ((a, e), w) in u32.iter().zip(&noise).zip(want.iter()) {
                worst = worst.max(((a - e) as f64 - w).abs());
            }
            assert!(worst < 2e-4, "{ny}x{nx}, {nit} iterations: worst {worst}");
        }
    }

    /// The dispatched loops (AVX2 where the CPU has it) give the same bits as the plain ones.
    #[test]
    fn vector_paths_match_the_plain_loops_bit_for_bit() {
        let mut rng = Rng::new(17);
        let n = 1038;
        let mut v = |s: f64| -> Vec<f32> { (0..n).map(|_| (s * rng.normal()) as f32).collect() };
        let (g1, g2) = (v(0.1), v(0.1));
        let (t1, t2, l1, l2) = (v(3e4), v(3e4), v(0.5), v(0.5));
        let k = Prox {
            inv_n: 1.0 / 3e4,
            beta: 10.0,
            inv_beta: 0.1,
            thr: 0.1,
        };
        let (mut a1, mut a2, mut m1, mut m2) = (t1.clone(), t2.clone(), l1.clone(), l2.clone());
        prox_row(&g1, &g2, &mut a1, &mut a2, &mut m1, &mut m2, &k);
        let (mut b1, mut b2, mut n1, mut n2) = (t1, t2, l1, l2);
        prox_row_body(&g1, &g2, &mut b1, &mut b2, &mut n1, &mut n2, &k);
        for (a, b) in [(&a1, &b1), (&a2, &b2), (&m1, &n1), (&m2, &n2)] {
            assert!(a
                .iter()
                .zip(b.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        let c = |v: &[f32]| -> Vec<C32> { v.chunks(2).map(|p| C32::new(p[0], p[1])).collect() };
        let (d2, c1, c2) = (c(&v(1.0)), c(&v(5.0)), c(&v(5.0)));
        let m = d2.len();
        let ps: Vec<f32> = v(2.0)[..m].iter().map(|x| x.abs()).collect();
        let ph: Vec<f32> = ps.iter().map(|p| 1.0 + 10.0 * p * p).collect();
        for last in [false, true] {
            let (mut a1, mut a2) = (c1.clone(), c2.clone());
            x_update_col(C32::new(0.3, -0.7), &d2, &ps, &ph, &mut a1, &mut a2, last);
            let (mut b1, mut b2) = (c1.clone(), c2.clone());
            x_update_col_body(C32::new(0.3, -0.7), &d2, &ps, &ph, &mut b1, &mut b2, last);
            for (a, b) in a1.iter().chain(&a2).zip(b1.iter().chain(&b2)) {
                assert!(a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits());
            }
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        let g = VsnrFilter::gabor(1.0, 50.0, 20.0);
        assert!(validate(&[], &[0.0], 20, 10.0).is_err());
        assert!(validate(std::slice::from_ref(&g), &[0.0], 0, 10.0).is_err());
        assert!(validate(std::slice::from_ref(&g), &[0.0], 20, 0.0).is_err());
        assert!(validate(std::slice::from_ref(&g), &[50.0], 20, 10.0).is_err());
        assert!(validate(&[VsnrFilter::gabor(0.0, 50.0, 20.0)], &[0.0], 20, 10.0).is_err());
        assert!(validate(&[VsnrFilter::gabor(1.0, -5.0, 20.0)], &[0.0], 20, 10.0).is_err());
        assert!(validate(&[VsnrFilter::gabor(1.0, 5.0, 0.0)], &[0.0], 20, 10.0).is_err());
        assert!(validate(&[VsnrFilter::Dirac { noise_level: -1.0 }], &[0.0], 20, 10.0).is_err());
        // a Dirac alone ignores the stripe angle
        assert!(validate(&[VsnrFilter::Dirac { noise_level: 1.0 }], &[60.0], 20, 10.0).is_ok());
        assert!(VsnrFilter::parse("gabor:1,100,50").is_ok());
        for spec in ["gabor:1,100,50", "gabor:1.5,80,2,-30", "dirac:0.25"] {
            let f = VsnrFilter::parse(spec).unwrap();
            assert_eq!(f.to_string(), spec);
            assert_eq!(VsnrFilter::parse(&f.to_string()).unwrap(), f);
        }
        assert!(VsnrFilter::parse("gabor:1,100,50,60")
            .unwrap()
            .validate()
            .is_err());
        assert!(VsnrFilter::parse("gabor:1,100").is_err());
        assert!(VsnrFilter::parse("wedge:1").is_err());
        assert_eq!(
            VsnrFilter::parse("dirac:2").unwrap(),
            VsnrFilter::Dirac { noise_level: 2.0 }
        );
    }

    #[test]
    fn affine_grey_changes_commute() {
        let mut rng = Rng::new(4);
        let img = Array2::from_shape_fn((24, 30), |(_, x)| {
            (rng.uniform() + if x % 7 == 2 { 1.0 } else { 0.0 }) as f32
        });
        let plan = VsnrPlan::new(
            24,
            30,
            &[VsnrFilter::gabor(1.0, 20.0, 10.0)],
            &[0.0],
            10,
            10.0,
        )
        .unwrap();
        let (a, _) = plan.apply(img.view()).unwrap();
        let (b, _) = plan.apply(img.mapv(|v| 3.0 * v + 100.0).view()).unwrap();
        for (x, y) in a.iter().zip(b.iter()) {
            assert!((3.0 * x + 100.0 - y).abs() < 1e-3, "{x} {y}");
        }
    }
}
