//! Workflow steps of the filter chain (same keys as the CLI flags; every key with its default is
//! in the manual's generated workflow reference):
//!
//! ```toml
//! [[steps]]
//! kind = "destripe"
//! method = "vsnr"        # "vsnr" (default), "wedge", "wavelet" or "stack"
//! angle = 0.0            # stripe direction, degrees from vertical (0 = vertical curtains)
//! vsnr_filters = ["gabor:1,100,2"]  # or tables: [{ kind = "gabor", sigma = [1.0, 100.0], noise_level = 2.0 }]
//! material_aware = true  # remove curtains in the material only, pores untouched
//! output_type = "f32"    # "f32" (default in workflows) or "same" (round/clamp to the input type)
//!
//! [[steps]]
//! kind = "denoise"
//! sigma = 10.0           # nm on every axis, or:
//! # sigma_nm = [0.0, 10.0, 10.0]   # [dz, dy, dx] nm, 0 = no smoothing on that axis
//! dims = "2d"            # "2d" per slice (default) or "3d"
//! truncate = 4.0
//! method = "exact"       # "exact" (sampled kernel, default) or "recursive" (IIR fast path,
//!                        # within 1e-2 of the input's range; needs truncate >= 3)
//! output_type = "f32"
//!
//! [[steps]]
//! kind = "tophat"
//! radius_nm = 500.0
//! black = false
//! dims = "2d"
//!
//! [[steps]]
//! kind = "segment"       # grey -> labels
//! method = "otsu"        # "otsu" | "multiotsu" | "iso50" | "manual"
//! classes = 3            # multiotsu, iso50
//! # thresholds = [90.0]  # manual, strictly increasing
//! # labels = [0, 1]      # label per class (default 0, 1, 2, …)
//! sensitivity = 5.0      # grey values; 0 = no sensitivity band
//! nbins = 256            # float volumes only
//! ```
//!
//! Results (in `results.json`): destripe → [`DestripeReport`]; segment → [`SegmentResult`];
//! denoise and tophat → the σ / footprint actually used in voxels.

use crate::error::{Error, ParamError};
use crate::preprocess::denoise::{gaussian_volume_progress, Dims, GaussianMethod, GaussianParams};
use crate::preprocess::destripe::vsnr::VsnrFilter;
use crate::preprocess::destripe::{
    destripe_volume_progress, DestripeMethod, DestripeParams, DestripeReport, Wavelet,
};
use crate::preprocess::tophat::{tophat_volume_progress, TophatParams};
use crate::segment::{Method, SegmentParams, SegmentResult};
use crate::volume::{GreyVolume, SampleType};
use crate::workflow::results::SegmentStepResult;
use crate::workflow::{Context, Data, Step, StepResult};
use serde::Deserialize;

fn default_f32() -> String {
    OUTPUT_TYPE.default.into()
}

/// A key that only workflows have (the command line has its own flag for it), described once
/// for the generated reference.
#[derive(Debug, Clone, Copy)]
pub struct WorkflowOnlyKey {
    /// The key.
    pub key: &'static str,
    /// Its default as written in a workflow file (without quotes; empty: none).
    pub default: &'static str,
    /// What it means.
    pub help: &'static str,
}

impl WorkflowOnlyKey {
    /// As a hidden clap argument (for the reference generator; never parsed). An empty
    /// `default` means the key has none.
    pub fn arg(&self) -> clap::Arg {
        let a = clap::Arg::new(self.key)
            .long(self.key)
            .help(self.help)
            .hide(true);
        if self.default.is_empty() {
            a
        } else {
            a.default_value(self.default)
        }
    }
}

/// `output_type` of the steps that write grey values (destripe, denoise).
pub const OUTPUT_TYPE: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "output_type",
    default: "f32",
    help: "\"f32\" (keep full precision) or \"same\" (round and clamp to the input's sample \
           type). Workflows only: the command line writes the input's type unless `--f32`.",
};

fn check_output_type(v: &str) -> Result<(), ParamError> {
    if matches!(v, "f32" | "same") {
        Ok(())
    } else {
        Err(ParamError::new(
            "output_type",
            v,
            "use \"f32\" (keep full precision) or \"same\" (round to the input's type)",
        ))
    }
}

/// The sample type a step with `output_type` writes for input samples `st`.
pub(crate) fn out_type(output_type: &str, st: SampleType) -> SampleType {
    if output_type == "same" {
        st
    } else {
        SampleType::F32
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::json("step results", e))
}

/// `kind = "destripe"`; the same keys are the options of `fibstack destripe`.
//
// One definition of the keys, as for `Denoise`; every default is the library's
// (`DestripeParams::default()`).
#[derive(Debug, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Destripe {
    /// Stripe direction in degrees from the image vertical (0 = vertical curtains).
    #[serde(default = "d_angle")]
    #[arg(long, value_name = "DEG", allow_hyphen_values = true, default_value_t = d_angle())]
    pub angle: f64,
    /// Second stripe direction (rocking polish), degrees.
    #[serde(default)]
    #[arg(long, value_name = "DEG", allow_hyphen_values = true)]
    pub second_angle: Option<f64>,
    /// Wedge: half-angle of the attenuated wedge (degrees, 0 < Δθ < 90).
    #[serde(default = "d_half")]
    #[arg(long, value_name = "DEG", allow_negative_numbers = true, default_value_t = d_half())]
    pub half_angle: f64,
    /// Wedge: Gaussian σ of the angular taper beyond the half-angle (degrees).
    #[serde(default = "d_taper")]
    #[arg(long, value_name = "DEG", allow_negative_numbers = true, default_value_t = d_taper())]
    pub taper: f64,
    /// Wedge: keep frequencies below this radius: ≥ 1 = cycles per image width, < 1 = fraction
    /// of Nyquist.
    #[serde(default = "d_kmin")]
    #[arg(
        long,
        value_name = "PIX_OR_FRACTION",
        allow_negative_numbers = true,
        default_value_t = d_kmin()
    )]
    pub kmin: f64,
    /// Wedge: Gaussian σ of the radial taper below kmin, as a fraction of kmin.
    #[serde(default = "d_kmin_taper")]
    #[arg(
        long,
        value_name = "FRACTION",
        allow_negative_numbers = true,
        default_value_t = d_kmin_taper()
    )]
    pub kmin_taper: f64,
    /// Wedge: remove everything inside the wedge (default: only the power in excess of the
    /// structure's own spectrum).
    #[serde(default)]
    #[arg(long)]
    pub classic: bool,
    /// Wedge, adaptive mode: power ratio above the local structure power that counts as stripe.
    #[serde(default = "d_sig")]
    #[arg(long, value_name = "RATIO", allow_negative_numbers = true, default_value_t = d_sig())]
    pub significance: f64,
    /// Destriping method.
    #[serde(default)]
    #[arg(long, value_enum, default_value_t = DestripeMethod::default())]
    pub method: DestripeMethod,
    /// Wavelet method: decomposition levels (at most log2(min size / (filter length - 1))).
    #[serde(default = "d_wlev")]
    #[arg(long, value_name = "L", default_value_t = d_wlev())]
    pub wavelet_levels: usize,
    /// Wavelet method: Gaussian damping width σ along the stripe (Fourier units, > 0).
    #[serde(default = "d_wsig")]
    #[arg(long, value_name = "S", allow_negative_numbers = true, default_value_t = d_wsig())]
    pub wavelet_sigma: f64,
    /// Wavelet method: family db1 (haar) … db5.
    #[serde(default)]
    #[arg(long, value_enum, default_value_t = Wavelet::default())]
    pub wavelet: Wavelet,
    /// Stack method: half-width of the slice window (slices on each side).
    #[serde(default = "d_swin")]
    #[arg(long, value_name = "N", default_value_t = d_swin())]
    pub stack_window: usize,
    /// Stack method: σ (px) of the cross-column high-pass; stripes narrower than this go.
    #[serde(default = "d_ssig")]
    #[arg(long, value_name = "PX", allow_negative_numbers = true, default_value_t = d_ssig())]
    pub stack_sigma_px: f64,
    /// VSNR: the pattern filters, each `gabor:SIGMA_ACROSS,SIGMA_ALONG,NOISE_LEVEL[,ANGLE]` (px,
    /// px, η, degrees; without ANGLE it follows the stripe angle(s)) or `dirac:NOISE_LEVEL`; on
    /// the command line repeat `--vsnr-filter SPEC`. Workflows also take tables, `{ kind =
    /// "gabor", sigma = [1.0, 100.0], noise_level = 2.0 }`.
    #[serde(default = "d_vfilters", deserialize_with = "vsnr_filters_de")]
    #[arg(
        long = "vsnr-filter",
        value_name = "SPEC",
        value_parser = parse_vsnr_filter,
        default_values_t = d_vfilters()
    )]
    pub vsnr_filters: Vec<VsnrFilter>,
    /// VSNR: iterations of the primal–dual solver.
    #[serde(default = "d_viter")]
    #[arg(long, value_name = "N", default_value_t = d_viter())]
    pub vsnr_iterations: usize,
    /// VSNR: augmented-Lagrangian penalty β.
    #[serde(default = "d_vbeta")]
    #[arg(long, value_name = "BETA", default_value_t = d_vbeta())]
    pub vsnr_beta: f64,
    /// Remove curtains in the material only and leave the pores (darker than the mask
    /// threshold) exactly as they are (on the command line `--material-aware true|false`).
    #[serde(default = "d_maware")]
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = d_maware())]
    pub material_aware: bool,
    /// Material-aware: grey value (of the slice smoothed by `material_smooth_px`) above which a
    /// pixel is material; default per smoothed slice: Otsu when it has two populations, else its
    /// dark tail (median − 3 robust σ).
    #[serde(default)]
    #[arg(long, value_name = "GREY", allow_hyphen_values = true)]
    pub material_threshold: Option<f64>,
    /// Material-aware: Gaussian σ (px) of the smoothing before the mask threshold.
    #[serde(default = "d_msmooth")]
    #[arg(long, value_name = "PX", default_value_t = d_msmooth())]
    pub material_smooth_px: f64,
    /// [`OUTPUT_TYPE`] (workflows only).
    #[serde(default = "default_f32")]
    #[arg(skip = default_f32())]
    pub output_type: String,
}

fn parse_vsnr_filter(s: &str) -> Result<VsnrFilter, String> {
    VsnrFilter::parse(s).map_err(|e| e.to_string())
}

/// `vsnr_filters` in a workflow: each item a spec string (as on the command line) or a table.
fn vsnr_filters_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<VsnrFilter>, D::Error> {
    use serde::de::Error as _;
    let items = Vec::<serde_json::Value>::deserialize(d)?;
    items
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => VsnrFilter::parse(&s).map_err(D::Error::custom),
            v => serde_json::from_value(v).map_err(D::Error::custom),
        })
        .collect()
}

fn d_angle() -> f64 {
    DestripeParams::default().angle_deg
}
fn d_vfilters() -> Vec<VsnrFilter> {
    DestripeParams::default().vsnr_filters
}
fn d_viter() -> usize {
    DestripeParams::default().vsnr_iterations
}
fn d_vbeta() -> f64 {
    DestripeParams::default().vsnr_beta
}
fn d_maware() -> bool {
    DestripeParams::default().material_aware
}
fn d_msmooth() -> f64 {
    DestripeParams::default().material_smooth_px
}
fn d_swin() -> usize {
    DestripeParams::default().stack_window
}
fn d_ssig() -> f64 {
    DestripeParams::default().stack_sigma_px
}
fn d_half() -> f64 {
    DestripeParams::default().half_angle_deg
}
fn d_taper() -> f64 {
    DestripeParams::default().taper_deg
}
fn d_kmin() -> f64 {
    DestripeParams::default().k_min
}
fn d_kmin_taper() -> f64 {
    DestripeParams::default().kmin_taper
}
fn d_sig() -> f64 {
    DestripeParams::default().significance
}
fn d_wlev() -> usize {
    DestripeParams::default().wavelet_levels
}
fn d_wsig() -> f64 {
    DestripeParams::default().wavelet_sigma
}

impl Destripe {
    /// The library parameters the keys describe (validated).
    pub fn params(&self) -> Result<DestripeParams, ParamError> {
        let p = DestripeParams {
            angle_deg: self.angle,
            second_angle_deg: self.second_angle,
            half_angle_deg: self.half_angle,
            taper_deg: self.taper,
            k_min: self.kmin,
            kmin_taper: self.kmin_taper,
            adaptive: !self.classic,
            significance: self.significance,
            method: self.method,
            wavelet: self.wavelet,
            wavelet_levels: self.wavelet_levels,
            wavelet_sigma: self.wavelet_sigma,
            stack_window: self.stack_window,
            stack_sigma_px: self.stack_sigma_px,
            vsnr_filters: self.vsnr_filters.clone(),
            vsnr_iterations: self.vsnr_iterations,
            vsnr_beta: self.vsnr_beta,
            material_aware: self.material_aware,
            material_threshold: self.material_threshold,
            material_smooth_px: self.material_smooth_px,
        };
        p.validate()?;
        Ok(p)
    }
}

impl Step for Destripe {
    fn validate(&self) -> Result<(), ParamError> {
        check_output_type(&self.output_type)?;
        self.params().map(|_| ())
    }
    fn needs(&self) -> Data {
        Data::Grey
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let g = ctx.grey("destripe")?;
        let st = out_type(&self.output_type, g.sample_type());
        let p = self.params()?;
        let (out, rep): (GreyVolume, DestripeReport) =
            destripe_volume_progress(g, &p, st, ctx.progress)?;
        ctx.grey = Some(out);
        let mut v = destripe_result(&rep)?;
        if p.method == DestripeMethod::Stack && ctx.results.first("align").is_some() {
            // curtains sit at fixed detector columns; after alignment each slice carries its own
            // x shift and the window average smears them
            let w = "stack destriping after `align`: curtains are fixed in the detector frame; \
                     put this step before `align`";
            eprintln!("warning: {w}");
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("warning".into(), w.into());
            }
        }
        Ok(Some(StepResult::Other(v)))
    }
}

/// `kind = "denoise"`; the same keys are the options of `fibstack denoise`.
//
// The one definition of the keys: the workflow reads this struct with serde, the command line
// flattens it with clap (`--sigma-nm` for `sigma_nm`), the doc comments are the help text and the
// generated reference, and each default is one function used by both.
#[derive(Debug, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Denoise {
    /// σ in nm, the same on every axis.
    #[serde(default)]
    #[arg(
        long,
        value_name = "NM",
        allow_negative_numbers = true,
        conflicts_with = "sigma_nm"
    )]
    pub sigma: Option<f64>,
    /// σ per axis in nm, [dz, dy, dx] (on the command line DZ,DY,DX); 0 = no smoothing along
    /// that axis.
    #[serde(default)]
    #[arg(long, value_name = "DZ,DY,DX", value_parser = parse_nm3)]
    pub sigma_nm: Option<[f64; 3]>,
    /// The kernel's full width at half maximum in nm, the same on every axis (σ = FWHM / 2.3548;
    /// instead of sigma).
    #[serde(default)]
    #[arg(
        long,
        value_name = "NM",
        allow_negative_numbers = true,
        conflicts_with_all = ["sigma", "sigma_nm"]
    )]
    pub fwhm_nm: Option<f64>,
    /// Smooth each slice on its own, or along z too.
    #[serde(default)]
    #[arg(long, value_enum, default_value_t = Dims::default())]
    pub dims: Dims,
    /// Kernel radius in σ (recursive: the mirrored border margin; must be >= 3).
    #[serde(default = "d_truncate")]
    #[arg(long, allow_negative_numbers = true, default_value_t = d_truncate())]
    pub truncate: f64,
    /// Gaussian implementation.
    #[serde(default)]
    #[arg(long, value_enum, default_value_t = GaussianMethod::default())]
    pub method: GaussianMethod,
    /// [`OUTPUT_TYPE`] (workflows only).
    #[serde(default = "default_f32")]
    #[arg(skip = default_f32())]
    pub output_type: String,
}

fn d_truncate() -> f64 {
    4.0
}

/// Exactly `N` comma-separated values of one command-line option; `hint` says what to give.
///
/// ```
/// use fibstack::workflow::steps::filters::parse_fixed;
/// assert_eq!(parse_fixed::<usize, 2>("3, 4", "give A,B"), Ok([3, 4]));
/// assert_eq!(parse_fixed::<usize, 2>("3", "give A,B"), Err("\"3\": give A,B".to_string()));
/// assert!(parse_fixed::<usize, 2>("3,x", "give A,B").is_err());
/// ```
pub fn parse_fixed<T: std::str::FromStr, const N: usize>(
    s: &str,
    hint: &str,
) -> Result<[T; N], String> {
    let bad = || format!("{s:?}: {hint}");
    let v: Vec<T> = s
        .split(',')
        .map(|p| p.trim().parse::<T>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    v.try_into().map_err(|_| bad())
}

/// Three lengths in nm written `DZ,DY,DX` on the command line.
pub fn parse_nm3(s: &str) -> Result<[f64; 3], String> {
    parse_fixed(s, "give three numbers DZ,DY,DX in nm, e.g. 0,10,10")
}

impl Denoise {
    /// The library parameters of the Gaussian these keys describe (checked).
    pub fn params(&self) -> Result<GaussianParams, ParamError> {
        let sigma_nm = match (self.sigma, self.sigma_nm, self.fwhm_nm) {
            (Some(s), None, None) => {
                crate::error::length_nm("sigma (nm)", s)?;
                [s; 3]
            }
            (None, Some(s), None) => s,
            (None, None, Some(w)) => {
                crate::error::length_nm("fwhm_nm", w)?;
                [w / (8.0 * std::f64::consts::LN_2).sqrt(); 3]
            }
            _ => {
                return Err(ParamError::new(
                    "sigma",
                    "(missing or several given)",
                    "give one of sigma (one value, nm), sigma_nm (DZ,DY,DX in nm) or fwhm_nm",
                ))
            }
        };
        let p = GaussianParams {
            sigma_nm,
            dims: self.dims,
            truncate: self.truncate,
            method: self.method,
        };
        p.validate()?;
        Ok(p)
    }
}

impl Step for Denoise {
    fn validate(&self) -> Result<(), ParamError> {
        check_output_type(&self.output_type)?;
        self.params().map(|_| ())
    }
    fn needs(&self) -> Data {
        Data::Grey
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let p = self.params()?;
        let g = ctx.grey("denoise")?;
        let st = out_type(&self.output_type, g.sample_type());
        let s = p.sigma_vox_for(&g.voxel, g.shape())?;
        let out = gaussian_volume_progress(g, &p, st, ctx.progress)?;
        ctx.grey = Some(out);
        Ok(Some(StepResult::Other(self.result(&p, s))))
    }
}

impl Denoise {
    /// The step's results for parameters `p` and σ in voxels `sigma_voxels` (in memory or
    /// streamed).
    pub fn result(&self, p: &GaussianParams, sigma_voxels: [f64; 3]) -> serde_json::Value {
        serde_json::json!({
            "method": match p.method {
                GaussianMethod::Exact => "gaussian_exact_kernel",
                GaussianMethod::Recursive => "gaussian_recursive_deriche4",
            },
            "sigma_nm": p.sigma_nm,
            "sigma_voxels": sigma_voxels,
            "dims": self.dims,
            "truncate": p.truncate,
        })
    }
}

/// `kind = "tophat"`; the same keys are the options of `fibstack tophat`.
//
// One definition of the keys, as for `Denoise`.
#[derive(Debug, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Tophat {
    /// Disk/ball radius in nm (voxels when the voxel size is unknown).
    #[arg(long, value_name = "NM", allow_negative_numbers = true)]
    pub radius_nm: f64,
    /// Black top-hat (closing − image: dark features) instead of white (image − opening).
    #[serde(default)]
    #[arg(long)]
    pub black: bool,
    /// A disk on each slice, or a ball in 3-D.
    #[serde(default)]
    #[arg(long, value_enum, default_value_t = Dims::default())]
    pub dims: Dims,
}

impl Tophat {
    /// The library parameters of the top-hat these keys describe (checked).
    pub fn params(&self) -> Result<TophatParams, ParamError> {
        crate::error::length_nm("radius_nm", self.radius_nm)?;
        let p = TophatParams {
            radius_nm: self.radius_nm,
            black: self.black,
            dims: self.dims,
        };
        p.validate()?;
        Ok(p)
    }
}

impl Step for Tophat {
    fn validate(&self) -> Result<(), ParamError> {
        self.params().map(|_| ())
    }
    fn needs(&self) -> Data {
        Data::Grey
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let p = self.params()?;
        let g = ctx.grey("tophat")?;
        let n = p.footprint_for(g.voxel.nm, g.shape())?.len();
        let out = tophat_volume_progress(g, &p, ctx.progress)?;
        ctx.grey = Some(out);
        Ok(Some(StepResult::Other(self.result(&p, n))))
    }
}

impl Tophat {
    /// The step's results for parameters `p` and a footprint of `footprint_voxels` voxels (in
    /// memory or streamed).
    pub fn result(&self, p: &TophatParams, footprint_voxels: usize) -> serde_json::Value {
        serde_json::json!({
            "method": if p.black { "black_tophat" } else { "white_tophat" },
            "radius_nm": p.radius_nm,
            "dims": self.dims,
            "footprint_voxels": footprint_voxels,
        })
    }
}

/// `kind = "segment"`: grey → labels (also keeps the grey volume); the same keys are the
/// options of `fibstack segment`.
//
// One definition of the keys, as for `Denoise`.
#[derive(Debug, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Threshold method.
    #[serde(default)]
    #[arg(long, value_enum, default_value_t = Method::default())]
    pub method: Method,
    /// Classes for multi-Otsu and ISO-50.
    #[serde(default = "d_classes")]
    #[arg(long, default_value_t = d_classes())]
    pub classes: usize,
    /// Manual thresholds T1,T2,… (grey values, strictly increasing; class k: T_k < v ≤ T_k+1).
    #[serde(default)]
    #[arg(
        long,
        value_name = "T1,T2",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub thresholds: Vec<f64>,
    /// Label value per class L0,L1,… (default 0,1,2,…; values 0..=255).
    #[serde(default)]
    #[arg(long, value_name = "L0,L1,..", value_delimiter = ',')]
    pub labels: Option<Vec<u8>>,
    /// Report phase fractions with each threshold moved by ± this many grey values (0 = no
    /// sensitivity band).
    #[serde(default)]
    #[arg(
        long,
        value_name = "DELTA",
        allow_negative_numbers = true,
        default_value_t = 0.0
    )]
    pub sensitivity: f64,
    /// Histogram bins for float volumes (integer volumes use one bin per value).
    #[serde(default = "d_nbins")]
    #[arg(long, default_value_t = d_nbins())]
    pub nbins: usize,
    /// Correct the pore threshold for shine-through, fitted on the stack (slices in milling order,
    /// aligned): pore pixels in front of solid a few slices deeper read brighter.
    #[serde(default)]
    #[arg(long)]
    pub shine_through: bool,
    /// Shine-through: slices behind the face in the model [default: 4].
    #[serde(default)]
    #[arg(long, value_name = "N", requires = "shine_through")]
    pub shine_depth: Option<usize>,
    /// Shine-through: in-plane blur σ in pixels [default: 1.5].
    #[serde(default)]
    #[arg(
        long,
        value_name = "PX",
        allow_negative_numbers = true,
        requires = "shine_through"
    )]
    pub shine_sigma_px: Option<f64>,
    /// Shine-through: most fit → reclassify rounds, 1–10 [default: 2]; they stop early once the
    /// pore fraction changes by less than 1e-4.
    #[serde(default)]
    #[arg(long, value_name = "K", requires = "shine_through")]
    pub shine_iterations: Option<usize>,
    /// Reassign thin rims of an intermediate phase at dark/bright edges (3+ classes): a run of
    /// at most `rim_max_run_px` pixels between a darker and a brighter class is split at the
    /// midpoint of their class means. Applied after the shine-through correction.
    #[serde(default)]
    #[arg(long)]
    pub rim_correction: bool,
    /// Rim correction: longest run (pixels along a row or column) taken as an edge [default: 2].
    #[serde(default)]
    #[arg(long, value_name = "PX", requires = "rim_correction")]
    pub rim_max_run_px: Option<usize>,
}

fn d_classes() -> usize {
    3
}
fn d_nbins() -> usize {
    256
}

impl Segment {
    /// The library parameters of the segmentation these keys describe (checked).
    pub fn params(&self) -> Result<SegmentParams, ParamError> {
        let method = self.method;
        if method != Method::Manual && !self.thresholds.is_empty() {
            return Err(ParamError::new(
                "thresholds",
                format!("{:?}", self.thresholds),
                "are only used with method = \"manual\"",
            ));
        }
        let p = SegmentParams {
            method,
            classes: if method == Method::Otsu {
                2
            } else {
                self.classes
            },
            thresholds: self.thresholds.clone(),
            labels: self.labels.clone(),
            sensitivity: self.sensitivity,
            nbins: self.nbins,
        };
        p.validate()?;
        Ok(p)
    }
}

impl Segment {
    fn shine(&self) -> Result<Option<crate::segment::shine::ShineParams>, ParamError> {
        let d = crate::segment::shine::ShineParams::default();
        let p = crate::segment::shine::ShineParams {
            depth: self.shine_depth.unwrap_or(d.depth),
            sigma_px: self.shine_sigma_px.unwrap_or(d.sigma_px),
            iterations: self.shine_iterations.unwrap_or(d.iterations),
        };
        p.validate()?;
        if !self.shine_through && p != d {
            return Err(ParamError::new(
                "shine_depth/shine_sigma_px/shine_iterations",
                "set",
                "only apply with shine_through = true",
            ));
        }
        Ok(self.shine_through.then_some(p))
    }

    fn rim(&self) -> Result<Option<crate::segment::rim::RimParams>, ParamError> {
        let d = crate::segment::rim::RimParams::default();
        let p = crate::segment::rim::RimParams {
            max_run_px: self.rim_max_run_px.unwrap_or(d.max_run_px),
        };
        p.validate()?;
        if !self.rim_correction && self.rim_max_run_px.is_some() {
            return Err(ParamError::new(
                "rim_max_run_px",
                p.max_run_px,
                "only applies with rim_correction = true",
            ));
        }
        Ok(self.rim_correction.then_some(p))
    }

    /// The shine-through and rim corrections the keys ask for (validated).
    pub fn corrections(&self) -> Result<crate::segment::corrected::Corrections, ParamError> {
        Ok(crate::segment::corrected::Corrections {
            shine: self.shine()?,
            rim: self.rim()?,
        })
    }
}

impl Step for Segment {
    fn validate(&self) -> Result<(), ParamError> {
        let p = self.params()?;
        self.corrections()?.validate(&p)
    }
    fn needs(&self) -> Data {
        Data::Grey
    }
    fn produces(&self) -> Data {
        Data::Labels
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let p = self.params()?;
        let g = ctx.grey("segment")?;
        let (labels, r, rep): (_, SegmentResult, _) =
            crate::segment::corrected::segment_corrected(g, &p, &self.corrections()?)?;
        ctx.labels = Some(labels);
        Ok(Some(segment_result(r, rep)))
    }
}

/// The segment step's results: the segmentation's and the corrections' reports (in memory or
/// streamed).
pub fn segment_result(
    r: SegmentResult,
    rep: crate::segment::corrected::CorrectionReports,
) -> StepResult {
    StepResult::Segment(Box::new(SegmentStepResult {
        result: r,
        corrections: rep,
    }))
}

/// The destripe step's results from its report (in memory or streamed).
pub fn destripe_result(rep: &DestripeReport) -> Result<serde_json::Value, Error> {
    to_json(rep)
}
