//! The physical curtain model of the simulator (`curtain.model = "physical"`, the default) and
//! the same curtains applied to any real image ([`curtain_image`]).
//!
//! **Physics.** Curtains are grooves the ion beam mills into the cross-section face below
//! features that sputter more slowly (dense, hard phases) or faster than their surroundings. So:
//! - they exist only where the face is **material**: a pore has no face to groove (it shows the
//!   structure behind, shine-through included, unchanged);
//! - their contrast is **multiplicative**: a groove changes the secondary-electron yield of the
//!   material it is cut into, `I → I · (1 + a·s(u)·w)`;
//! - they are **seeded below hard/dense features and decay downward** along the beam: the
//!   strength `w = (1 + gain·D)/(1 + gain)`, where `D` ∈ [0, 1] is the hardness of the material
//!   met so far along the stripe (the normalised clean intensity, in material only), remembered
//!   with an exponential memory of length `shadow_length_px` (pores add nothing, the memory
//!   decays through them). So `amplitude` is the relative RMS below the hardest features and
//!   `1/(1 + gain)` of it below soft ones;
//! - they **change along their length**: the profile of image row `r` follows the row above it
//!   as an AR(1) process, `s_r = ρ·s_{r−1} + √(1−ρ²)·n_r` with fresh profiles `n_r` and
//!   `ρ = exp(−1/stripe_length_px)`, so stripes decorrelate over `stripe_length_px` rows (the
//!   recorded profiles are those of row 0);
//! - they come in **families at small angles** (|θ| ≤ 45°, rocking polish: a second family).
//!
//! **Profile across the stripes.** Real curtains are grooves of many widths down to a pixel or
//! two. The profile `s(u)` is white noise filtered in Fourier by
//! `max(|f|, f₀)^(−β/2)·exp(−(2π f σ)²/2)` (β = `profile_slope`, σ = `groove_width_px`,
//! `f₀` = 1/64 px⁻¹: no trend beyond 64-px periods), then scaled to unit RMS. The defaults
//! (β = 0, σ = 0.8 px) give the column-profile spectrum of the real curtained nacre slice
//! (`docs/src/validation/destriping.md`: 4 %/41 %/50 %/4 % of the power in the bands
//! < 0.03, 0.03–0.1, 0.1–0.3, 0.3–0.5 cycles/px, against 1 %/47 %/49 %/2 % measured); two such profiles `A`, `B` evolve slowly with the slice index `k` as
//! `cos(ωk)·A + sin(ωk)·B` (ω = `evolution_rad_per_slice`), as in the additive model.
//!
//! The additive model (`model = "additive"`) keeps the earlier behaviour: `I → I + a·s·(1 +
//! gain·D)` everywhere, pores included.

use super::acquisition::{CurtainParams, StripeTruth};
use crate::rng::Rng;
use ndarray::{Array2, ArrayView2};
use realfft::num_complex::Complex;
use rustfft::FftPlanner;
use serde::{Deserialize, Serialize};

const TAG_PHYSICAL: u64 = 0x4355_5254_5048_0014;
const TAG_ROWS: u64 = 0x4355_5254_524F_0015;
/// Longest period (px) the profile's power law extends to.
const LONGEST_PERIOD_PX: f64 = 64.0;

/// Which curtain model the simulator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CurtainModel {
    /// Grooves in the milled material: multiplicative, material only, seeded below hard
    /// features (default).
    #[default]
    Physical,
    /// Additive stripes everywhere, pores included (the earlier model).
    Additive,
}

impl CurtainModel {
    /// Parse `physical` / `additive`.
    pub fn parse(s: &str) -> Result<Self, crate::error::ParamError> {
        match s.to_ascii_lowercase().as_str() {
            "physical" => Ok(CurtainModel::Physical),
            "additive" => Ok(CurtainModel::Additive),
            _ => Err(crate::error::ParamError::new(
                "curtain model",
                s,
                "use \"physical\" (grooves in the material, the default) or \"additive\" (stripes everywhere)",
            )),
        }
    }
}

/// Unit-RMS power-law profile of length `n` (see the module docs).
fn power_law_profile(rng: &mut Rng, n: usize, slope: f64, width_px: f64) -> Vec<f32> {
    let mut planner = FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut v: Vec<Complex<f64>> = (0..n).map(|_| Complex::new(rng.normal(), 0.0)).collect();
    fwd.process(&mut v);
    let f0 = 1.0 / LONGEST_PERIOD_PX;
    for (i, c) in v.iter_mut().enumerate() {
        let f = i.min(n - i) as f64 / n as f64;
        let h = if i == 0 {
            0.0
        } else {
            f.max(f0).powf(-slope / 2.0)
                * (-(2.0 * std::f64::consts::PI * f * width_px).powi(2) / 2.0).exp()
        };
        *c *= h;
    }
    inv.process(&mut v);
    let re: Vec<f64> = v.iter().map(|c| c.re).collect();
    let rms = (re.iter().map(|x| x * x).sum::<f64>() / n as f64).sqrt();
    let s = if rms > 0.0 { 1.0 / rms } else { 0.0 };
    re.into_iter().map(|x| (x * s) as f32).collect()
}

/// The stripe families `(angle°, amplitude)` of either curtain model: the main one and, when
/// given, the second at its relative amplitude.
pub(crate) fn families(c: &CurtainParams) -> Vec<(f64, f64)> {
    let mut fams = vec![(c.angle_deg, c.amplitude)];
    if let Some(a2) = c.second_angle_deg {
        fams.push((a2, c.amplitude * c.second_relative_amplitude));
    }
    fams
}

/// Columns a stripe profile needs beyond each side of the image so that stripes at `angle_deg`
/// cover all `ny` rows.
pub(crate) fn margin_px(angle_deg: f64, ny: usize) -> usize {
    (angle_deg.to_radians().tan().abs() * ny as f64 * 0.5).ceil() as usize + 2
}

/// The stripe families of the physical model for an image `ny × nx` (profiles cover the
/// stretched columns `u ∈ [−margin, nx + margin)`).
pub fn physical_profiles(c: &CurtainParams, nx: usize, ny: usize, seed: u64) -> Vec<StripeTruth> {
    families(c)
        .iter()
        .enumerate()
        .map(|(f, &(angle, amp))| {
            let margin = margin_px(angle, ny);
            let n = nx + 2 * margin;
            let mut r = Rng::stream(seed ^ TAG_PHYSICAL, f as u64);
            let profile_a = power_law_profile(&mut r, n, c.profile_slope, c.groove_width_px);
            let profile_b = power_law_profile(&mut r, n, c.profile_slope, c.groove_width_px);
            StripeTruth {
                angle_deg: angle,
                amplitude: amp,
                evolution_rad_per_slice: c.evolution_rad_per_slice,
                margin,
                profile_a,
                profile_b,
            }
        })
        .collect()
}

/// Apply the physical curtains of slice `k` (random rows from `seed`) to `img` (in place,
/// normalised intensity):
/// `img ← img · (1 + a·s(u)·(1 + gain·D)/(1 + gain)·m)` with `m` the material fraction of each pixel and
/// `D` the decaying hardness memory along the stripe, from `hardness` (the clean intensity
/// normalised to [0, 1], counted only where `m > 0`).
#[allow(clippy::too_many_arguments)]
pub fn apply_physical(
    img: &mut Array2<f32>,
    hardness: ArrayView2<f32>,
    material: ArrayView2<f32>,
    stripes: &[StripeTruth],
    c: &CurtainParams,
    k: usize,
    seed: u64,
) {
    let (rows, nx) = img.dim();
    let a = 1.0 - (-1.0 / c.shadow_length_px).exp() as f32;
    let gain = c.shadow_gain as f32;
    let rho = (-1.0 / c.stripe_length_px).exp();
    let fresh = (1.0 - rho * rho).sqrt() as f32;
    let rho = rho as f32;
    let mut factor = Array2::<f32>::zeros((rows, nx));
    for (fam, st) in stripes.iter().enumerate() {
        let t = st.angle_deg.to_radians().tan();
        let ph = st.evolution_rad_per_slice * k as f64;
        let (cw, sw) = (ph.cos() as f32, ph.sin() as f32);
        let np = st.profile_a.len();
        // the memory runs along the stripe: it is kept per stretched column u (integer bins)
        let mut dens = vec![0f32; np];
        // the profiles of row r: AR(1) along the rows from the recorded row-0 profiles, the same
        // sequence in every slice (one random stream per family)
        let mut rr = Rng::stream(seed ^ TAG_ROWS, fam as u64);
        let (mut pa_r, mut pb_r) = (st.profile_a.clone(), st.profile_b.clone());
        for r in 0..rows {
            if r > 0 && fresh > 0.0 {
                let na = power_law_profile(&mut rr, np, c.profile_slope, c.groove_width_px);
                let nb = power_law_profile(&mut rr, np, c.profile_slope, c.groove_width_px);
                for i in 0..np {
                    pa_r[i] = rho * pa_r[i] + fresh * na[i];
                    pb_r[i] = rho * pb_r[i] + fresh * nb[i];
                }
            }
            let shift = t * (r as f64 - rows as f64 * 0.5) - st.margin as f64;
            for cidx in 0..nx {
                let u = cidx as f64 - shift;
                let u0 = u.floor();
                let f = (u - u0) as f32;
                let i0 = (u0 as isize).clamp(0, np as isize - 1) as usize;
                let i1 = (i0 + 1).min(np - 1);
                let m = material[[r, cidx]].clamp(0.0, 1.0);
                let q = hardness[[r, cidx]].clamp(0.0, 1.0) * m;
                let dn = &mut dens[i0];
                *dn += a * (q - *dn);
                let d = *dn;
                let pa = pa_r[i0] * (1.0 - f) + pa_r[i1] * f;
                let pb = pb_r[i0] * (1.0 - f) + pb_r[i1] * f;
                let v = st.amplitude as f32 * (cw * pa + sw * pb);
                factor[[r, cidx]] += v * (1.0 + gain * d) / (1.0 + gain) * m;
            }
        }
    }
    ndarray::Zip::from(img)
        .and(&factor)
        .for_each(|v, &f| *v *= (1.0 + f).max(0.0));
}

/// Physical curtains on a real grey image (any units): the same model as the simulator, with
/// the material fraction `material` (0..1 per pixel, e.g. a thresholded mask) and the hardness
/// taken from the image itself (normalised by its 1st and 99th percentiles). Returns the
/// curtained image and the stripe families used. Deterministic in `seed`.
pub fn curtain_image(
    img: ArrayView2<f32>,
    material: ArrayView2<f32>,
    c: &CurtainParams,
    seed: u64,
    slice: usize,
) -> (Array2<f32>, Vec<StripeTruth>) {
    let (ny, nx) = img.dim();
    let stripes = physical_profiles(c, nx, ny, seed);
    let mut v: Vec<f32> = img.iter().copied().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (pick(0.01), pick(0.99));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let hard = img.mapv(|x| ((x - lo) / span).clamp(0.0, 1.0));
    let mut out = img.to_owned();
    apply_physical(&mut out, hard.view(), material, &stripes, c, slice, seed);
    (out, stripes)
}

/// Parameters of `fibstack synth-curtains IN OUT`: physical curtains added to real images (to
/// test a destriping on one's own data: the input is the stripe-free reference).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct AddCurtainsParams {
    /// Random seed of the stripe profiles (same seed, same curtains).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// RMS relative modulation of the material's signal, in (0, 1].
    #[arg(long, default_value_t = DEFAULT_ADDED_AMPLITUDE, value_name = "A")]
    pub amplitude: f64,
    /// Stripe angle in degrees from the image vertical, in [-45, 45].
    #[arg(
        long = "angle",
        default_value_t = 0.0,
        value_name = "DEG",
        allow_hyphen_values = true
    )]
    pub angle_deg: f64,
    /// Material mask: grey value (of the smoothed image) above which a pixel is material;
    /// default per smoothed slice: Otsu when it has two populations, else its dark tail.
    #[arg(
        long = "material-threshold",
        value_name = "GREY",
        allow_hyphen_values = true
    )]
    pub threshold: Option<f64>,
    /// Material mask: Gaussian σ (px) of the smoothing before the threshold.
    #[arg(long = "material-smooth-px", default_value_t = crate::preprocess::material::DEFAULT_MASK_SMOOTH_PX, value_name = "PX")]
    pub smooth_px: f64,
}

/// Default amplitude of `synth-curtains`.
pub const DEFAULT_ADDED_AMPLITUDE: f64 = 0.05;

impl Default for AddCurtainsParams {
    fn default() -> Self {
        AddCurtainsParams {
            seed: 1,
            amplitude: DEFAULT_ADDED_AMPLITUDE,
            angle_deg: 0.0,
            threshold: None,
            smooth_px: crate::preprocess::material::DEFAULT_MASK_SMOOTH_PX,
        }
    }
}

impl AddCurtainsParams {
    /// The simulator's curtain parameters these stand for (physical model, its defaults
    /// otherwise).
    pub fn curtain(&self) -> CurtainParams {
        CurtainParams {
            enabled: true,
            model: CurtainModel::Physical,
            amplitude: self.amplitude,
            angle_deg: self.angle_deg,
            ..Default::default()
        }
    }

    /// The mask parameters.
    pub fn mask(&self) -> crate::preprocess::material::MaterialMaskParams {
        crate::preprocess::material::MaterialMaskParams {
            threshold: self.threshold,
            smooth_px: self.smooth_px,
        }
    }

    /// Check every value.
    pub fn validate(&self) -> Result<(), crate::error::ParamError> {
        crate::error::in_range("amplitude", self.amplitude, 1e-9, 1.0)?;
        crate::error::in_range("angle (deg)", self.angle_deg, -45.0, 45.0)?;
        self.mask().validate()
    }
}

/// Add physical curtains to every slice of a real grey volume (slice `k` uses the profiles'
/// slow evolution at `k`); the mask of each slice comes from that slice. The result is f32 in
/// the input's grey units.
pub fn add_curtains(
    data: &crate::volume::GreyData,
    p: &AddCurtainsParams,
) -> Result<ndarray::Array3<f32>, crate::error::ParamError> {
    use rayon::prelude::*;
    p.validate()?;
    let c = p.curtain();
    let [nz, ny, nx] = data.shape();
    let mut out = ndarray::Array3::<f32>::zeros((nz, ny, nx));
    out.axis_iter_mut(ndarray::Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each(|(k, mut dst)| {
            let s = crate::preprocess::denoise::slice_f32(data, k);
            let (m, _) = crate::preprocess::material::material_mask(s.view(), &p.mask())?;
            let mf = m.mapv(f32::from);
            let (o, _) = curtain_image(s.view(), mf.view(), &c, p.seed, k);
            dst.assign(&o);
            Ok::<(), crate::error::ParamError>(())
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_has_unit_rms_and_the_asked_slope() {
        let mut rng = Rng::new(1);
        let n = 4096;
        let p = power_law_profile(&mut rng, n, 2.0, 0.0);
        let rms = (p.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!((rms - 1.0).abs() < 1e-6);
        // power in an octave band ∝ f^(1−β): with β = 2 each octave above f₀ holds half the
        // power of the one below
        let mut planner = FftPlanner::<f64>::new();
        let mut v: Vec<Complex<f64>> = p.iter().map(|x| Complex::new(*x as f64, 0.0)).collect();
        planner.plan_fft_forward(n).process(&mut v);
        let band = |a: f64, b: f64| -> f64 {
            (1..n / 2)
                .filter(|&i| {
                    let f = i as f64 / n as f64;
                    f >= a && f < b
                })
                .map(|i| v[i].norm_sqr())
                .sum()
        };
        let r = band(0.1, 0.2) / band(0.05, 0.1);
        assert!((r - 0.5).abs() < 0.12, "octave ratio {r}");
    }
}
