//! `fibstack destripe IN OUT`: FFT wedge (default) or wavelet–FFT removal of curtaining, per slice.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::destripe::{
    destripe_volume_as, DestripeMethod, DestripeParams, Wavelet, DEFAULT_WAVELET_LEVELS,
    DEFAULT_WAVELET_SIGMA,
};
use fibstack::preprocess::destripe_stack::{DEFAULT_STACK_SIGMA_PX, DEFAULT_STACK_WINDOW};
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
    /// Method: `wedge` (FFT wedge, default), `wavelet` (wavelet–FFT of Münch et al. 2009;
    /// vertical or horizontal stripes only) or `stack` (column profiles averaged over
    /// neighbouring slices; vertical curtains, on slices as acquired, before `align`).
    #[arg(long, default_value = "wedge", value_name = "wedge|wavelet|stack")]
    pub method: String,
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

pub fn run(a: DestripeArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
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
    };
    p.validate()?;
    let rep = if let Some(mut r) = a.read.open_stream(&a.input, g)? {
        // folder / TIFF: slice by slice, bounded memory
        let st = if a.f32 {
            SampleType::F32
        } else {
            r.sample_type()
        };
        fibstack::stream::destripe(&mut r, &a.output, &p, st, &Bar::new(g.quiet))
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
        drop(vol);
        fibstack::io::write_volume(&a.output, &out)?;
        rep
    };
    if p.method == DestripeMethod::Stack && rep.removed_energy_fraction.len() == 1 && !g.quiet {
        eprintln!(
            "note: {}: one slice, so the stack method had no neighbours to average and removed the whole narrow part of the column profile, structure included; for single images the wedge (default) is the better choice",
            a.input.display()
        );
    }
    if a.json {
        return print_json(&rep);
    }
    let what = if p.method == DestripeMethod::Stack {
        "of the variance"
    } else {
        "of the non-DC spectral energy"
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
    Ok(())
}
