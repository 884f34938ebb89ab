//! `fibstack align IN OUT`: drift alignment by sub-pixel phase correlation.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use fibstack::preprocess::align::{Boundary, Detrend, Interpolation};
use fibstack::workflow::steps::pre::{
    implied_thickness, AlignModeKey, AlignOutput, AlignStep, WindowKey,
};
use fibstack::workflow::Context;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Neighbour chaining: full alignment (default, like StackReg).
    Chain,
    /// Running template of the last K aligned slices.
    Template,
    /// Chaining, then keep the slow trend (real inclination) and correct only the jitter.
    Detrend,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DetrendArg {
    None,
    Linear,
    Smooth,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WindowArg {
    Hann,
    Tukey,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InterpArg {
    Bilinear,
    Fourier,
    /// Whole-pixel shifts (rounded), no resampling
    Nearest,
}

#[derive(Debug, Args)]
pub struct AlignArgs {
    /// Input stack: folder of slices, multi-page TIFF, .npy, .raw (with --raw), .vti.
    pub input: PathBuf,
    /// Output: .tif/.tiff, .npy, .vti, .raw, or a folder (no extension).
    pub output: PathBuf,
    #[command(flatten)]
    pub opts: InputOpts,
    /// Reference of each slice.
    #[arg(long, value_enum, default_value_t = ModeArg::Chain)]
    pub mode: ModeArg,
    /// Slices averaged into the running template (--mode template).
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub template_k: usize,
    /// Trend of the cumulative curve to keep (default: linear with --mode detrend, else none).
    #[arg(long, value_enum)]
    pub detrend: Option<DetrendArg>,
    /// Moving-average window (slices, odd) for --detrend smooth.
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub smooth_window: usize,
    /// Sub-pixel upsampling factor (accuracy ≈ 1/N px).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub upsample: usize,
    /// Window applied before the FFT.
    #[arg(long, value_enum, default_value_t = WindowArg::Hann)]
    pub window: WindowArg,
    /// Taper fraction of the Tukey window (0..1).
    #[arg(allow_negative_numbers = true, long, default_value_t = 0.25)]
    pub tukey_alpha: f64,
    /// Correlate only this rectangle (e.g. a fiducial), in pixels.
    #[arg(long, value_name = "Y0,X0,H,W")]
    pub roi: Option<String>,
    /// Band-pass of the cross-power spectrum: Gaussian σ in px, LO (low-pass only) or LO,HI; `none`.
    #[arg(long, default_value = "2", value_name = "LO[,HI]|none")]
    pub bandpass: String,
    /// Ignore |k_y| <= N bins (vertical curtains fixed in the image); 0 = off.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub curtain_notch: usize,
    /// Skip the second, window-following pass.
    #[arg(long)]
    pub no_refine: bool,
    /// Interpolation used to apply the shifts.
    #[arg(long, value_enum, default_value_t = InterpArg::Bilinear)]
    pub interpolation: InterpArg,
    /// Crop to the region every slice covers (default; `--crop` is the input crop).
    #[arg(long, conflicts_with = "pad")]
    pub crop_common: bool,
    /// Keep the full frame and fill uncovered pixels with --fill.
    #[arg(long)]
    pub pad: bool,
    /// Fill value with --pad.
    #[arg(allow_negative_numbers = true, long, default_value_t = 0.0)]
    pub fill: f32,
    /// Per-slice shifts CSV (default: alignment_shifts.csv beside OUT).
    #[arg(long, value_name = "PATH")]
    pub shifts_csv: Option<PathBuf>,
    /// Cumulative-drift plot, PNG or .svg (default: alignment_drift.png beside OUT).
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
    /// Ion–electron angle (degrees) used for the slice thickness implied by the drift trend.
    #[arg(allow_negative_numbers = true, long, default_value_t = 52.0)]
    pub theta: f64,
    /// A flagged pair whose shift is more than PX from the median of its unflagged neighbours is a
    /// failed correlation: use that median instead (chain mode; 0 = never).
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "PX",
        default_value_t = 4.0
    )]
    pub flag_replace_px: f64,
    /// Print the report as JSON on stdout (only JSON).
    #[arg(long)]
    pub json: bool,
}

fn parse_list<T: std::str::FromStr>(flag: &str, s: &str, n: &[usize]) -> Result<Vec<T>> {
    let v: Result<Vec<T>, _> = s.split(',').map(|p| p.trim().parse::<T>()).collect();
    match v {
        Ok(v) if n.contains(&v.len()) => Ok(v),
        _ => bail!("{flag} {s:?}: expected {n:?} comma-separated numbers"),
    }
}

impl AlignArgs {
    /// The workflow step with the same parameters.
    pub fn step(&self) -> Result<AlignStep> {
        let roi = match &self.roi {
            Some(r) => {
                let v: Vec<usize> = parse_list("--roi", r, &[4])?;
                Some([v[0], v[1], v[2], v[3]])
            }
            None => None,
        };
        let bandpass = if self.bandpass.trim().eq_ignore_ascii_case("none") {
            vec![]
        } else {
            parse_list::<f64>("--bandpass", &self.bandpass, &[1, 2])?
        };
        Ok(AlignStep {
            mode: match self.mode {
                ModeArg::Chain => AlignModeKey::Chain,
                ModeArg::Template => AlignModeKey::Template,
                ModeArg::Detrend => AlignModeKey::Detrend,
            },
            template_k: self.template_k,
            detrend: self.detrend.map(|d| match d {
                DetrendArg::None => Detrend::None,
                DetrendArg::Linear => Detrend::Linear,
                DetrendArg::Smooth => Detrend::Smooth,
            }),
            smooth_window: self.smooth_window,
            upsample: self.upsample,
            window: match self.window {
                WindowArg::Hann => WindowKey::Hann,
                WindowArg::Tukey => WindowKey::Tukey,
                WindowArg::None => WindowKey::None,
            },
            tukey_alpha: self.tukey_alpha,
            roi,
            bandpass,
            curtain_notch: self.curtain_notch,
            refine: !self.no_refine,
            interpolation: match self.interpolation {
                InterpArg::Bilinear => Interpolation::Bilinear,
                InterpArg::Fourier => Interpolation::Fourier,
                InterpArg::Nearest => Interpolation::Nearest,
            },
            boundary: if self.pad {
                Boundary::Pad
            } else {
                Boundary::Crop
            },
            fill: self.fill,
            shifts_csv: String::new(),
            plot: String::new(),
            theta_deg: self.theta,
            flag_replace_px: self.flag_replace_px,
            ..AlignStep::default()
        })
    }
}

fn beside(out: &Path, name: &str) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(name),
        _ => PathBuf::from(name),
    }
}

pub fn run(a: AlignArgs, g: &super::Global) -> Result<()> {
    let step = a.step()?;
    // parameter errors before reading anything
    let params = step.params()?;
    let bar = Bar::new(g.quiet);
    let csv = a
        .shifts_csv
        .clone()
        .unwrap_or_else(|| beside(&a.output, "alignment_shifts.csv"));
    let plot = a
        .plot
        .clone()
        .unwrap_or_else(|| beside(&a.output, "alignment_drift.png"));
    super::common::check_outputs(&[&a.input], &[&a.output], &[&csv, &plot])?;
    let out = if let Some(r) = a.opts.open_stream(&a.input, g)? {
        // folder / TIFF: pass 1 shifts from consecutive slices, pass 2 apply; bounded memory
        if let Some(roi) = params.corr.roi {
            roi.check(r.shape()[1], r.shape()[2])?;
        }
        let voxel = r.voxel();
        let (report, _) = fibstack::stream::align(r, &a.output, &params, &bar)
            .with_context(|| format!("aligning {}", a.input.display()))?;
        fibstack::report::align::write_shifts_csv(&csv, &report.slices)?;
        fibstack::report::align::write_drift_plot(&plot, &report.slices)?;
        AlignOutput {
            implied_slice_thickness: implied_thickness(&report, &voxel, a.theta),
            report,
            shifts_csv: Some(csv.display().to_string()),
            plot: Some(plot.display().to_string()),
        }
    } else {
        let vol = a.opts.read(&a.input, g)?;
        let mut ctx = Context::new(PathBuf::new(), 0, &bar);
        ctx.grey = Some(vol);
        let step = AlignStep {
            shifts_csv: csv.display().to_string(),
            plot: plot.display().to_string(),
            ..step
        };
        let out = step
            .apply(&mut ctx)
            .with_context(|| format!("aligning {}", a.input.display()))?;
        let vol = ctx.grey.take().context("aligned volume")?;
        fibstack::io::write_volume(&a.output, &vol)?;
        out
    };
    if a.json {
        print_json(&out)?;
    } else {
        let r = &out.report;
        println!(
            "aligned {} slices ({}): output {}×{}×{}, crop region y0={} x0={} {}×{}",
            r.input_shape[0],
            r.method,
            r.output_shape[0],
            r.output_shape[1],
            r.output_shape[2],
            r.crop_region.y0,
            r.crop_region.x0,
            r.crop_region.height,
            r.crop_region.width
        );
        println!(
            "largest applied shift: dy {:.2} px, dx {:.2} px; trend {:.4} / {:.4} px per slice",
            r.max_abs_shift_px[0],
            r.max_abs_shift_px[1],
            r.trend_px_per_slice[0],
            r.trend_px_per_slice[1]
        );
        if r.n_flagged > 0 {
            println!(
                "{} slice(s) flagged for poor correlation: {:?}",
                r.n_flagged, r.flagged_slices
            );
        }
        if !r.replaced_slices.is_empty() {
            println!(
                "outlying flagged shifts replaced by their neighbours' median: slices {:?}",
                r.replaced_slices
            );
        }
        if let Some(t) = &out.implied_slice_thickness {
            println!(
                "slice thickness implied by the dy trend (θ = {}°): {:.2} nm (R² {:.3})",
                t.theta_deg, t.slice_thickness_nm, t.r_squared
            );
        }
        println!(
            "wrote {}, {}, {}",
            a.output.display(),
            csv.display(),
            plot.display()
        );
    }
    Ok(())
}
