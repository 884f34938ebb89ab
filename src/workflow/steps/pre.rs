//! Workflow steps `kind = "align"` and `kind = "geometry"` (drift alignment and 52° geometry).
//! The CLI commands `fibstack align` / `fibstack geometry` build the same structs from their flags,
//! so both paths run identical code.

use crate::error::{Error, ParamError};
use crate::preprocess::align::{
    align_volume, AlignMode, AlignParams, AlignReport, Boundary, Detrend, Interpolation,
};
use crate::preprocess::geometry::{
    check_theta, geometry_volume, slice_thickness_from_drift, DriftThickness, GeometryParams,
    GeometryReport, RowInterpolation, DEFAULT_THETA_DEG,
};
use crate::preprocess::phasecorr::{BandPass, PhaseCorrParams, Roi, Window};
use crate::report::align::{write_drift_plot, write_shifts_csv};
use crate::volume::VoxelSource;
use crate::workflow::steps::filters::WorkflowOnlyKey;
use crate::workflow::{Context, Data, Step, StepResult};
use serde::{Deserialize, Serialize};

/// `mode` key of the align step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AlignModeKey {
    /// Neighbour chaining (full alignment, like StackReg).
    #[default]
    Chain,
    /// Running template of the last `template_k` aligned slices.
    Template,
    /// Chaining, then keep the trend of the cumulative curve (`detrend`, default linear).
    Detrend,
}

/// `window` key: the window applied to each slice before the FFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum WindowKey {
    /// Hann window.
    #[default]
    Hann,
    /// Tukey window with taper `tukey_alpha`.
    Tukey,
    /// No window.
    None,
}

/// The Gaussian band-pass of the cross-power spectrum, σ in px: `[LO]` (low-pass only),
/// `[LO, HI]`, or none. A workflow writes `bandpass = [2.0]`, `bandpass = 2.0`, `[2.0, 30.0]`,
/// `[]` or `"none"`; the command line `--bandpass 2`, `--bandpass 2,30` or `--bandpass none`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct BandpassPx(pub Vec<f64>);

impl<'de> Deserialize<'de> for BandpassPx {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            One(f64),
            List(Vec<f64>),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::One(v) => Ok(BandpassPx(vec![v])),
            Repr::List(v) => Ok(BandpassPx(v)),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl std::str::FromStr for BandpassPx {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("none") {
            return Ok(BandpassPx(vec![]));
        }
        s.split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .map(BandpassPx)
            .map_err(|_| format!("{s:?}: give LO or LO,HI (Gaussian σ in px), or none"))
    }
}

impl std::fmt::Display for BandpassPx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let v: Vec<String> = self.0.iter().map(|v| v.to_string()).collect();
        f.write_str(&v.join(","))
    }
}

/// `Y0,X0,H,W` on the command line.
fn parse_roi(s: &str) -> Result<[usize; 4], String> {
    crate::workflow::steps::filters::parse_fixed(s, "give four numbers Y0,X0,H,W in pixels")
}

/// `shifts_csv` of the align step (workflows; the command line takes a path).
pub const SHIFTS_CSV: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "shifts_csv",
    default: "alignment_shifts.csv",
    help: "Per-slice shifts CSV, a file name in the output folder (\"\" for none). Workflows \
           only: the command line takes `--shifts-csv PATH` (default: beside OUT).",
};

/// `plot` of the align step (workflows; the command line takes a path).
pub const PLOT: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "plot",
    default: "alignment_drift.png",
    help: "Cumulative-drift plot (.png or .svg), a file name in the output folder (\"\" for \
           none). Workflows only: the command line takes `--plot PATH` (default: beside OUT).",
};

/// `kind = "align"`: drift alignment (methods §3); the same keys are the options of
/// `fibstack align`.
//
// One definition of the keys (as for the filter steps): serde reads the workflow, clap flattens
// it into `fibstack align`, the doc comments are the help, and every default is `Default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct AlignStep {
    /// Reference of each slice.
    #[arg(long, value_enum, default_value_t = AlignStep::default().mode)]
    pub mode: AlignModeKey,
    /// Slices averaged into the running template (mode template).
    #[arg(long, value_name = "K", default_value_t = AlignStep::default().template_k)]
    pub template_k: usize,
    /// Trend of the cumulative curve to keep (default: linear with mode detrend, else none).
    #[arg(long, value_enum)]
    pub detrend: Option<Detrend>,
    /// Moving-average window (slices, odd) for detrend smooth.
    #[arg(long, value_name = "N", default_value_t = AlignStep::default().smooth_window)]
    pub smooth_window: usize,
    /// Sub-pixel upsampling factor (accuracy ≈ 1/N px).
    #[arg(long, value_name = "N", default_value_t = AlignStep::default().upsample)]
    pub upsample: usize,
    /// Window applied before the FFT.
    #[arg(long, value_enum, default_value_t = AlignStep::default().window)]
    pub window: WindowKey,
    /// Taper fraction of the Tukey window (0..1).
    #[arg(long, allow_negative_numbers = true, default_value_t = AlignStep::default().tukey_alpha)]
    pub tukey_alpha: f64,
    /// Correlate only this rectangle (e.g. a fiducial), in pixels: [y0, x0, height, width]
    /// (on the command line Y0,X0,H,W).
    #[arg(long, value_name = "Y0,X0,H,W", value_parser = parse_roi)]
    pub roi: Option<[usize; 4]>,
    /// Band-pass of the cross-power spectrum: Gaussian σ in px, LO (low-pass only) or LO,HI;
    /// none for no band-pass (in a workflow `[2.0]`, `[2.0, 30.0]` or `[]`).
    #[arg(long, value_name = "LO[,HI]|none", default_value_t = AlignStep::default().bandpass)]
    pub bandpass: BandpassPx,
    /// Ignore |k_y| <= N bins (vertical curtains fixed in the image); 0 = off.
    #[arg(long, value_name = "N", default_value_t = AlignStep::default().curtain_notch)]
    pub curtain_notch: usize,
    /// Second, window-following pass of the correlation (on the command line
    /// `--refine true|false`; `--no-refine` is `--refine false`).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = AlignStep::default().refine)]
    pub refine: bool,
    /// Interpolation used to apply the shifts.
    #[arg(long, value_enum, default_value_t = AlignStep::default().interpolation)]
    pub interpolation: Interpolation,
    /// The border the shifts uncover: crop to the region every slice covers, or pad with `fill`.
    #[arg(long, value_enum, default_value_t = AlignStep::default().boundary)]
    pub boundary: Boundary,
    /// Fill value for the padded border.
    #[arg(long, allow_negative_numbers = true, default_value_t = AlignStep::default().fill)]
    pub fill: f32,
    /// A slice is flagged for poor correlation when its quality is below this fraction of the
    /// median quality …
    #[arg(long, value_name = "FRACTION", default_value_t = AlignStep::default().flag_rel_quality)]
    pub flag_rel_quality: f64,
    /// … or when its correlation peak is less than this many times the next highest peak.
    #[arg(long, value_name = "RATIO", default_value_t = AlignStep::default().flag_min_peak_ratio)]
    pub flag_min_peak_ratio: f64,
    /// A flagged pair whose shift is more than PX from the median of its unflagged neighbours is
    /// a failed correlation: use that median instead (chain mode; 0 = never).
    #[arg(long, value_name = "PX", allow_negative_numbers = true, default_value_t = AlignStep::default().flag_replace_px)]
    pub flag_replace_px: f64,
    /// [`SHIFTS_CSV`] (workflows only).
    #[arg(skip = AlignStep::default().shifts_csv)]
    pub shifts_csv: String,
    /// [`PLOT`] (workflows only).
    #[arg(skip = AlignStep::default().plot)]
    pub plot: String,
    /// Ion–electron angle θ (degrees) used for the slice thickness implied by the drift trend.
    #[arg(long, visible_alias = "theta", value_name = "DEG", allow_negative_numbers = true, default_value_t = AlignStep::default().theta_deg)]
    pub theta_deg: f64,
}

impl Default for AlignStep {
    fn default() -> Self {
        let d = AlignParams::default();
        AlignStep {
            mode: AlignModeKey::Chain,
            template_k: d.template_k,
            detrend: None,
            smooth_window: d.smooth_window,
            upsample: d.corr.upsample,
            window: WindowKey::Hann,
            tukey_alpha: 0.25,
            roi: None,
            bandpass: BandpassPx(vec![2.0]),
            curtain_notch: 0,
            refine: true,
            interpolation: d.interpolation,
            boundary: d.boundary,
            fill: d.fill,
            flag_rel_quality: d.flag_rel_quality,
            flag_min_peak_ratio: d.flag_min_peak_ratio,
            flag_replace_px: d.flag_replace_px,
            shifts_csv: SHIFTS_CSV.default.into(),
            plot: PLOT.default.into(),
            theta_deg: DEFAULT_THETA_DEG,
        }
    }
}

impl AlignStep {
    /// The library parameters (shape-independent checks done; the ROI is checked on run).
    pub fn params(&self) -> Result<AlignParams, ParamError> {
        let bandpass = match self.bandpass.0.as_slice() {
            [] => None,
            [lo] => Some(BandPass {
                lo_px: *lo,
                hi_px: None,
            }),
            [lo, hi] => Some(BandPass {
                lo_px: *lo,
                hi_px: Some(*hi),
            }),
            v => {
                return Err(ParamError::new(
                    "bandpass",
                    format!("{v:?}"),
                    "give [LO] or [LO, HI] (Gaussian σ in px), or [] for none",
                ))
            }
        };
        let window = match self.window {
            WindowKey::Hann => Window::Hann,
            WindowKey::None => Window::None,
            WindowKey::Tukey => Window::Tukey {
                alpha: self.tukey_alpha,
            },
        };
        let (mode, detrend) = match self.mode {
            AlignModeKey::Chain => (AlignMode::Chain, self.detrend.unwrap_or_default()),
            AlignModeKey::Template => (AlignMode::Template, self.detrend.unwrap_or_default()),
            AlignModeKey::Detrend => (
                AlignMode::Chain,
                match self.detrend {
                    None | Some(Detrend::None) => Detrend::Linear,
                    Some(d) => d,
                },
            ),
        };
        let p = AlignParams {
            mode,
            template_k: self.template_k,
            detrend,
            smooth_window: self.smooth_window,
            corr: PhaseCorrParams {
                upsample: self.upsample,
                window,
                bandpass,
                roi: self.roi.map(|r| Roi {
                    y0: r[0],
                    x0: r[1],
                    height: r[2],
                    width: r[3],
                }),
                refine: self.refine,
                curtain_notch: self.curtain_notch,
            },
            interpolation: self.interpolation,
            boundary: self.boundary,
            fill: self.fill,
            flag_rel_quality: self.flag_rel_quality,
            flag_min_peak_ratio: self.flag_min_peak_ratio,
            flag_replace_px: self.flag_replace_px,
        };
        // shape-independent checks: validate against a large dummy image without the ROI
        let mut q = p;
        q.corr.roi = None;
        q.validate(1 << 20, 1 << 20)?;
        check_theta(self.theta_deg)?;
        Ok(p)
    }

    /// Align `ctx.grey` in place, write the CSV and plot into the output folder.
    pub fn apply(&self, ctx: &mut Context) -> Result<AlignOutput, Error> {
        let p = self.params()?;
        let vol = ctx.grey("align")?;
        let (out, report) = align_volume(vol, &p, ctx.progress)?;
        let voxel = out.voxel;
        ctx.grey = Some(out);
        self.output(ctx, report, &voxel)
    }

    /// The step's results from the alignment `report` of a volume of `voxel` size (in memory or
    /// streamed): writes the shifts CSV and the drift plot into the output folder.
    pub fn output(
        &self,
        ctx: &mut Context,
        report: AlignReport,
        voxel: &crate::volume::VoxelSize,
    ) -> Result<AlignOutput, Error> {
        let thickness = implied_thickness(&report, voxel, self.theta_deg);
        let csv = (!self.shifts_csv.is_empty()).then(|| ctx.output(&self.shifts_csv));
        if let Some(c) = &csv {
            write_shifts_csv(c, &report.slices)?;
        }
        let plot = (!self.plot.is_empty()).then(|| ctx.output(&self.plot));
        if let Some(pl) = &plot {
            write_drift_plot(pl, &report.slices)?;
        }
        Ok(AlignOutput {
            report,
            implied_slice_thickness: thickness,
            shifts_csv: csv.map(|_| ctx.published(&self.shifts_csv).display().to_string()),
            plot: plot.map(|_| ctx.published(&self.plot).display().to_string()),
        })
    }
}

/// Slice thickness implied by the measured dy trend, when the pixel size is known.
pub fn implied_thickness(
    report: &AlignReport,
    voxel: &crate::volume::VoxelSize,
    theta_deg: f64,
) -> Option<DriftThickness> {
    if voxel.source[1] == VoxelSource::Default || report.slices.len() < 3 {
        return None;
    }
    let cum: Vec<f64> = report.slices.iter().map(|s| s.raw_cum_dy_px).collect();
    slice_thickness_from_drift(&cum, voxel.dy(), theta_deg).ok()
}

/// Results of the align step / command (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct AlignOutput {
    #[serde(flatten)]
    /// Shifts, their quality and the common region.
    pub report: AlignReport,
    /// Slice thickness implied by the linear trend of the measured dy curve (t = slope·dy/cos θ,
    /// methods §2); None when the pixel size is unknown.
    pub implied_slice_thickness: Option<DriftThickness>,
    /// Path of the shifts table written, if any.
    pub shifts_csv: Option<String>,
    /// Path of the drift plot written, if any.
    pub plot: Option<String>,
}

impl Step for AlignStep {
    fn validate(&self) -> Result<(), ParamError> {
        self.params().map(|_| ())?;
        for (k, v) in [("shifts_csv", &self.shifts_csv), ("plot", &self.plot)] {
            if v.contains("..") || v.starts_with('/') {
                return Err(ParamError::new(
                    k,
                    v,
                    "give a file name inside the output folder (or \"\" for none)",
                ));
            }
        }
        Ok(())
    }
    fn needs(&self) -> Data {
        Data::Grey
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let out = self.apply(ctx)?;
        serde_json::to_value(&out)
            .map(|v| Some(StepResult::Other(v)))
            .map_err(|e| Error::json("align results", e))
    }
}

/// `kind = "geometry"`: 52° y-stretch and y–z shear (methods §2); the same keys are the options
/// of `fibstack geometry`.
//
// One definition of the keys, as for `AlignStep`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct GeometryStep {
    /// Ion–electron column angle θ in degrees (52 Thermo/FEI, 54 Zeiss, 55 Tescan).
    #[arg(long, visible_alias = "theta", value_name = "DEG", allow_negative_numbers = true, default_value_t = GeometryStep::default().theta_deg)]
    pub theta_deg: f64,
    /// Slice thickness in nm (default: the volume's dz, or the file's slice thickness).
    #[arg(
        long,
        visible_alias = "slice-thickness",
        value_name = "NM",
        allow_negative_numbers = true
    )]
    pub slice_thickness_nm: Option<f64>,
    /// The 1/sin θ y-stretch (false when the SEM's tilt correction was on; on the command line
    /// `--stretch true|false`, `--no-stretch` is `--stretch false`).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = GeometryStep::default().stretch)]
    pub stretch: bool,
    /// The y–z shear (false when face tracking or the alignment already removed it; `--no-shear`
    /// is `--shear false`).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = GeometryStep::default().shear)]
    pub shear: bool,
    /// Shear to remove in raw px per slice (sign included), instead of t·cos θ/dy.
    #[arg(
        long,
        visible_alias = "shear-px",
        value_name = "PX",
        allow_hyphen_values = true
    )]
    pub shear_px_per_slice: Option<f64>,
    /// The rows the shear uncovers: crop to the rows every slice covers, or pad with `fill`.
    #[arg(long, value_enum, default_value_t = GeometryStep::default().boundary)]
    pub boundary: Boundary,
    /// Fill value for the padded rows.
    #[arg(long, allow_negative_numbers = true, default_value_t = GeometryStep::default().fill)]
    pub fill: f32,
    /// Interpolation along y.
    #[arg(long, value_enum, default_value_t = GeometryStep::default().interpolation)]
    pub interpolation: RowInterpolation,
    /// Resample to a uniform slice pitch (the median of the per-slice z positions from Zeiss
    /// Atlas 3D names/labels) by linear interpolation along z, before the correction.
    #[arg(long)]
    pub resample_z: bool,
}

impl Default for GeometryStep {
    fn default() -> Self {
        GeometryStep {
            theta_deg: DEFAULT_THETA_DEG,
            slice_thickness_nm: None,
            stretch: true,
            shear: true,
            shear_px_per_slice: None,
            boundary: Boundary::Crop,
            fill: 0.0,
            interpolation: RowInterpolation::Linear,
            resample_z: false,
        }
    }
}

/// Results of the geometry step / command (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct GeometryOutput {
    #[serde(flatten)]
    /// Stretch, shear and output voxel size.
    pub report: GeometryReport,
    /// Stage tilt from the metadata (degrees), for reference: θ is the ion–electron angle.
    pub stage_tilt_deg: Option<f64>,
    /// Where the slice thickness came from (parameter, voxel dz, metadata).
    pub slice_thickness_source: Option<String>,
    /// The resampling to a uniform z pitch, when asked for (`resample_z`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resample_z: Option<crate::preprocess::geometry::ResampleZReport>,
    /// `"default"` when θ is the 52° default, `"parameter"` otherwise.
    pub theta_source: String,
    /// Disagreements worth a look (stage tilt in the metadata vs θ).
    pub warnings: Vec<String>,
}

impl GeometryOutput {
    /// The output of a correction at `theta_deg`, with the stage-tilt check.
    pub fn new(
        report: GeometryReport,
        theta_deg: f64,
        stage_tilt_deg: Option<f64>,
        slice_thickness_source: Option<String>,
    ) -> Self {
        GeometryOutput {
            report,
            stage_tilt_deg,
            slice_thickness_source,
            resample_z: None,
            theta_source: if theta_deg == DEFAULT_THETA_DEG {
                "default"
            } else {
                "parameter"
            }
            .into(),
            warnings: crate::preprocess::geometry::tilt_warning(theta_deg, stage_tilt_deg)
                .into_iter()
                .collect(),
        }
    }
}

impl GeometryStep {
    /// The library parameters these keys describe (checked).
    pub fn params(&self) -> Result<GeometryParams, ParamError> {
        let p = GeometryParams {
            theta_deg: self.theta_deg,
            slice_thickness_nm: self.slice_thickness_nm,
            stretch: self.stretch,
            shear: self.shear,
            shear_px_per_slice_override: self.shear_px_per_slice,
            boundary: self.boundary,
            fill: self.fill,
            interpolation: self.interpolation,
        };
        p.validate_params()?;
        Ok(p)
    }

    /// Where the slice thickness of the shear comes from (None when no shear needs one).
    pub fn thickness_source(
        &self,
        voxel: &crate::volume::VoxelSize,
        meta: &crate::volume::Metadata,
    ) -> Option<String> {
        if !self.shear || self.shear_px_per_slice.is_some() {
            None
        } else if self.slice_thickness_nm.is_some() {
            Some("parameter".to_string())
        } else if voxel.source[0] != VoxelSource::Default {
            Some(format!("voxel dz ({})", voxel.source[0].as_str()))
        } else if meta.slice_thickness_nm.is_some() {
            Some("file metadata".to_string())
        } else {
            None
        }
    }

    /// Correct `ctx.grey` in place.
    pub fn apply(&self, ctx: &mut Context) -> Result<GeometryOutput, Error> {
        let p = self.params()?;
        let resampled = if self.resample_z {
            let (v, r) = crate::preprocess::geometry::resample_volume_z(ctx.grey("geometry")?)?;
            ctx.grey = Some(v);
            Some(r)
        } else {
            None
        };
        let vol = ctx.grey("geometry")?;
        let source = self.thickness_source(&vol.voxel, &vol.meta);
        let tilt = vol.meta.stage_tilt_deg;
        let (out, report) = geometry_volume(vol, &p)?;
        ctx.grey = Some(out);
        let mut out = GeometryOutput::new(report, p.theta_deg, tilt, source);
        out.resample_z = resampled;
        ctx.warnings
            .extend(out.warnings.iter().map(|w| format!("geometry: {w}")));
        Ok(out)
    }
}

impl Step for GeometryStep {
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
        let out = self.apply(ctx)?;
        serde_json::to_value(&out)
            .map(|v| Some(StepResult::Other(v)))
            .map_err(|e| Error::json("geometry results", e))
    }
}
