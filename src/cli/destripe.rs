//! `fibstack destripe IN OUT`: removal of curtaining (VSNR, FFT wedge, wavelet–FFT, stack
//! column profiles), optionally in the material only; `--score` / `fibstack destripe-score RAW
//! OUT` measure the result on the user's own slices.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::destripe::score::{score_stack, DestripeScore, ScoreParams};
use fibstack::preprocess::destripe::stack::{DEFAULT_STACK_SIGMA_PX, DEFAULT_STACK_WINDOW};
use fibstack::preprocess::destripe::vsnr::VsnrFilter;
use fibstack::preprocess::destripe::{
    destripe_volume_as, DestripeMethod, DestripeParams, Wavelet, DEFAULT_VSNR_BETA,
    DEFAULT_VSNR_ITERATIONS, DEFAULT_WAVELET_LEVELS, DEFAULT_WAVELET_SIGMA,
};
use fibstack::preprocess::material::DEFAULT_MASK_SMOOTH_PX;
use fibstack::volume::SampleType;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DestripeArgs {
    /// Input grey volume or single image (TIFF, folder of slices, .npy, raw …).
    pub input: PathBuf,
    /// Output (format from the extension; no extension = folder of slices).
    pub output: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    /// Stripe direction in degrees from the image vertical (0 = vertical curtains).
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "DEG",
        allow_hyphen_values = true
    )]
    pub angle: f64,
    /// Second stripe direction (rocking polish), degrees.
    #[arg(long, value_name = "DEG", allow_hyphen_values = true)]
    pub second_angle: Option<f64>,
    /// Half-angle of the attenuated wedge (degrees, 0 < Δθ < 90).
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 2.0,
        value_name = "DEG"
    )]
    pub half_angle: f64,
    /// Keep frequencies below this radius: ≥ 1 = cycles per image width, < 1 = fraction of Nyquist.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 0.02,
        value_name = "PIX_OR_FRACTION"
    )]
    pub kmin: f64,
    /// Gaussian σ of the angular taper beyond the half-angle (degrees).
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 1.0,
        value_name = "DEG"
    )]
    pub taper: f64,
    /// Gaussian σ of the radial taper below kmin, as a fraction of kmin.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 0.3,
        value_name = "FRACTION"
    )]
    pub kmin_taper: f64,
    /// Classic wedge: remove everything inside the wedge (default: only the power in excess of
    /// the structure's own spectrum).
    #[arg(long)]
    pub classic: bool,
    /// Adaptive mode: power ratio above the local structure power that counts as stripe.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 6.0,
        value_name = "RATIO"
    )]
    pub significance: f64,
    /// Method: `vsnr` (variational stationary noise remover, Fehrenbach et al. 2012), `wedge`
    /// (FFT wedge), `wavelet` (wavelet–FFT of Münch et al. 2009; vertical or horizontal stripes
    /// only) or `stack` (column profiles averaged over neighbouring slices; vertical curtains,
    /// on slices as acquired, before `align`).
    #[arg(long, default_value = default_method(), value_name = "vsnr|wedge|wavelet|stack")]
    pub method: String,
    /// VSNR: a pattern filter, repeatable: `gabor:SIGMA_ACROSS,SIGMA_ALONG,NOISE_LEVEL[,ANGLE]`
    /// (px, px, η, degrees; without ANGLE it follows --angle/--second-angle) or
    /// `dirac:NOISE_LEVEL`. Default: gabor:1,100,2.
    #[arg(long = "vsnr-filter", value_name = "SPEC")]
    pub vsnr_filter: Vec<String>,
    /// VSNR: iterations of the primal–dual solver.
    #[arg(long, default_value_t = DEFAULT_VSNR_ITERATIONS, value_name = "N")]
    pub vsnr_iterations: usize,
    /// VSNR: augmented-Lagrangian penalty β.
    #[arg(long, default_value_t = DEFAULT_VSNR_BETA, value_name = "BETA")]
    pub vsnr_beta: f64,
    /// Remove curtains in the material only and leave the pores (darker than the mask
    /// threshold) exactly as they are: `true` or `false`.
    #[arg(long, default_value_t = DestripeParams::default().material_aware, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub material_aware: bool,
    /// Material-aware: grey value (of the slice smoothed by --material-smooth-px) above which a
    /// pixel is material; default per smoothed slice: Otsu when it has two populations, else
    /// its dark tail (median − 3 robust σ).
    #[arg(long, value_name = "GREY", allow_hyphen_values = true)]
    pub material_threshold: Option<f64>,
    /// Material-aware: Gaussian σ (px) of the smoothing before the mask threshold.
    #[arg(long, default_value_t = DEFAULT_MASK_SMOOTH_PX, value_name = "PX")]
    pub material_smooth_px: f64,
    /// Also score the result against the input (column-mean high-pass energy in the material
    /// and in the pores, row-mean energy kept; see `fibstack destripe-score`).
    #[arg(long)]
    pub score: bool,
    #[command(flatten)]
    pub score_params: ScoreParams,
    /// Stack method: half-width of the slice window (slices on each side).
    #[arg(long, default_value_t = DEFAULT_STACK_WINDOW, value_name = "N")]
    pub stack_window: usize,
    /// Stack method: σ (px) of the cross-column high-pass; stripes narrower than this go.
    #[arg(allow_negative_numbers = true, long, default_value_t = DEFAULT_STACK_SIGMA_PX, value_name = "PX")]
    pub stack_sigma_px: f64,
    /// Wavelet method: decomposition levels (at most log2(min size / (filter length - 1))).
    #[arg(long, default_value_t = DEFAULT_WAVELET_LEVELS, value_name = "L")]
    pub wavelet_levels: usize,
    /// Wavelet method: Gaussian damping width σ along the stripe (Fourier units, > 0).
    #[arg(allow_negative_numbers = true, long, default_value_t = DEFAULT_WAVELET_SIGMA, value_name = "S")]
    pub wavelet_sigma: f64,
    /// Wavelet method: family db1 (haar) … db5.
    #[arg(long, default_value = "db4", value_name = "dbN")]
    pub wavelet: String,
    /// Write 32-bit float (default: the input's sample type, rounded and clamped).
    #[arg(long)]
    pub f32: bool,
    /// Print only JSON (removed energy per slice) on stdout.
    #[arg(long)]
    pub json: bool,
}

fn default_method() -> &'static str {
    DestripeParams::default().method.name()
}

/// `fibstack destripe-score RAW OUT`: score a destriped image or stack against its input.
#[derive(Debug, Args)]
pub struct DestripeScoreArgs {
    /// The raw (curtained) input.
    pub raw: PathBuf,
    /// The destriped result of the same shape (from any tool).
    pub destriped: PathBuf,
    #[command(flatten)]
    pub read: InputOpts,
    #[command(flatten)]
    pub score: ScoreParams,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run_score(a: DestripeScoreArgs, g: &super::Global) -> Result<()> {
    a.score.validate()?;
    let raw = a.read.read(&a.raw, g)?;
    let out = a.read.read(&a.destriped, g)?;
    let s = score_stack(&raw.data, &out.data, &a.score)
        .with_context(|| format!("{} against {}", a.destriped.display(), a.raw.display()))?;
    if a.json {
        return print_json(&s);
    }
    print_score(&s);
    Ok(())
}

fn ratio(r: Option<f64>) -> String {
    r.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}

fn print_score(s: &DestripeScore) {
    println!(
        "score over {} slice(s) (window {} px, mask: smoothed raw > {}): material column-profile energy ratio {} (reduction {}), pores {} (must not exceed 1), row profile kept {}",
        s.slices.len(),
        s.params.window_px,
        s.params
            .threshold
            .map(|t| format!("{t}"))
            .unwrap_or_else(|| format!(
                "Otsu ({})",
                s.slices
                    .first()
                    .and_then(|x| x.threshold)
                    .map(|t| format!("{t:.1}"))
                    .unwrap_or_else(|| "none: flat slice".into())
            )),
        ratio(s.material.ratio),
        s.material_reduction
            .map(|v| format!("{:.1} %", 100.0 * v))
            .unwrap_or_else(|| "n/a".into()),
        ratio(s.pore.ratio),
        ratio(s.rows.ratio),
    );
}

/// The library parameters the flags describe (validated).
pub fn params(a: &DestripeArgs) -> Result<DestripeParams> {
    let vsnr_filters = if a.vsnr_filter.is_empty() {
        DestripeParams::default().vsnr_filters
    } else {
        a.vsnr_filter
            .iter()
            .map(|s| VsnrFilter::parse(s))
            .collect::<Result<Vec<_>, _>>()?
    };
    let p = DestripeParams {
        angle_deg: a.angle,
        second_angle_deg: a.second_angle,
        half_angle_deg: a.half_angle,
        taper_deg: a.taper,
        k_min: a.kmin,
        kmin_taper: a.kmin_taper,
        adaptive: !a.classic,
        significance: a.significance,
        method: DestripeMethod::parse(&a.method)?,
        wavelet: Wavelet::parse(&a.wavelet)?,
        wavelet_levels: a.wavelet_levels,
        wavelet_sigma: a.wavelet_sigma,
        stack_window: a.stack_window,
        stack_sigma_px: a.stack_sigma_px,
        vsnr_filters,
        vsnr_iterations: a.vsnr_iterations,
        vsnr_beta: a.vsnr_beta,
        material_aware: a.material_aware,
        material_threshold: a.material_threshold,
        material_smooth_px: a.material_smooth_px,
    };
    p.validate()?;
    Ok(p)
}

pub fn run(a: DestripeArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let p = params(&a)?;
    if a.score {
        a.score_params.validate()?;
    }
    let score = a.score.then_some(&a.score_params);
    let (rep, sc) = if let Some(mut r) = a.read.open_stream(&a.input, g)? {
        // folder / TIFF: slice by slice, bounded memory
        let st = if a.f32 {
            SampleType::F32
        } else {
            r.sample_type()
        };
        fibstack::stream::destripe_scored(&mut r, &a.output, &p, st, score, &Bar::new(g.quiet))
            .with_context(|| format!("{}", a.input.display()))?
    } else {
        let vol = a.read.read(&a.input, g)?;
        let st = if a.f32 {
            SampleType::F32
        } else {
            vol.sample_type()
        };
        let (out, rep) =
            destripe_volume_as(&vol, &p, st).with_context(|| format!("{}", a.input.display()))?;
        let sc = match score {
            Some(sp) => Some(score_stack(&vol.data, &out.data, sp)?),
            None => None,
        };
        drop(vol);
        fibstack::io::write_volume(&a.output, &out)?;
        (rep, sc)
    };
    if p.method == DestripeMethod::Stack && rep.removed_energy_fraction.len() == 1 && !g.quiet {
        eprintln!(
            "note: {}: one slice, so the stack method had no neighbours to average and removed the whole narrow part of the column profile, structure included; for single images the wedge (default) is the better choice",
            a.input.display()
        );
    }
    if a.json {
        return match sc {
            Some(s) => print_json(&serde_json::json!({ "destripe": rep, "score": s })),
            None => print_json(&rep),
        };
    }
    let what = if p.method == DestripeMethod::Wedge && !p.material_aware {
        "of the non-DC spectral energy"
    } else {
        "of the variance"
    };
    println!(
        "destripe ({}): {} slice(s), removed {:.2} % {what} on average (min {:.2} %, max {:.2} %) -> {}",
        rep.method,
        rep.removed_energy_fraction.len(),
        100.0 * rep.mean_removed_energy_fraction,
        100.0 * rep.removed_energy_fraction.iter().cloned().fold(f64::INFINITY, f64::min),
        100.0 * rep.removed_energy_fraction.iter().cloned().fold(0.0, f64::max),
        a.output.display()
    );
    if let Some(s) = sc {
        print_score(&s);
    }
    Ok(())
}
