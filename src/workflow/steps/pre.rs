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
use crate::workflow::{Context, Data, Step};
use serde::{Deserialize, Serialize};

/// `mode` key of the align step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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

/// `window` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WindowKey {
    #[default]
    Hann,
    Tukey,
    None,
}

/// `kind = "align"`: drift alignment (methods §3). TOML keys (all optional):
/// `mode` ("chain" | "template" | "detrend"), `template_k` (5), `detrend` ("none" | "linear" |
/// "smooth"), `smooth_window` (15), `upsample` (100), `window` ("hann" | "tukey" | "none"),
/// `tukey_alpha` (0.25), `roi` ([y0, x0, h, w]), `bandpass` ([lo] or [lo, hi] Gaussian σ in px;
/// [] = off; default [2.0]), `curtain_notch` (0), `refine` (true), `interpolation` ("bilinear" |
/// "fourier" | "nearest"), `boundary` ("crop" | "pad"), `fill` (0), `flag_rel_quality` (0.5),
/// `flag_min_peak_ratio` (1.5), `flag_replace_px` (4; 0 = never), `shifts_csv` ("alignment_shifts.csv"), `plot`
/// ("alignment_drift.png"), `theta_deg` (52, only for the implied slice thickness).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlignStep {
    pub mode: AlignModeKey,
    pub template_k: usize,
    pub detrend: Option<Detrend>,
    pub smooth_window: usize,
    pub upsample: usize,
    pub window: WindowKey,
    pub tukey_alpha: f64,
    pub roi: Option<[usize; 4]>,
    pub bandpass: Vec<f64>,
    pub curtain_notch: usize,
    pub refine: bool,
    pub interpolation: Interpolation,
    pub boundary: Boundary,
    pub fill: f32,
    pub flag_rel_quality: f64,
    pub flag_min_peak_ratio: f64,
    pub flag_replace_px: f64,
    pub shifts_csv: String,
    pub plot: String,
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
            bandpass: vec![2.0],
            curtain_notch: 0,
            refine: true,
            interpolation: d.interpolation,
            boundary: d.boundary,
            fill: d.fill,
            flag_rel_quality: d.flag_rel_quality,
            flag_min_peak_ratio: d.flag_min_peak_ratio,
            flag_replace_px: d.flag_replace_px,
            shifts_csv: "alignment_shifts.csv".into(),
            plot: "alignment_drift.png".into(),
            theta_deg: DEFAULT_THETA_DEG,
        }
    }
}

impl AlignStep {
    /// The library parameters (shape-independent checks done; the ROI is checked on run).
    pub fn params(&self) -> Result<AlignParams, ParamError> {
        let bandpass = match self.bandpass.as_slice() {
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
        let thickness = implied_thickness(&report, &out.voxel, self.theta_deg);
        let csv = (!self.shifts_csv.is_empty()).then(|| ctx.output(&self.shifts_csv));
        if let Some(c) = &csv {
            write_shifts_csv(c, &report.slices)?;
        }
        let plot = (!self.plot.is_empty()).then(|| ctx.output(&self.plot));
        if let Some(pl) = &plot {
            write_drift_plot(pl, &report.slices)?;
        }
        ctx.grey = Some(out);
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
    pub report: AlignReport,
    /// Slice thickness implied by the linear trend of the measured dy curve (t = slope·dy/cos θ,
    /// methods §2); None when the pixel size is unknown.
    pub implied_slice_thickness: Option<DriftThickness>,
    pub shifts_csv: Option<String>,
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
    fn run(&self, ctx: &mut Context) -> Result<serde_json::Value, Error> {
        let out = self.apply(ctx)?;
        serde_json::to_value(&out).map_err(|e| Error::json("align results", e))
    }
}

/// `kind = "geometry"`: 52° y-stretch and y–z shear (methods §2). Keys: `theta_deg` (52),
/// `slice_thickness_nm` (default: the volume's dz, or the metadata's slice thickness), `stretch`
/// (true), `shear` (true), `shear_px_per_slice` (override, raw px/slice), `boundary` ("crop" |
/// "pad"), `fill` (0), `interpolation` ("linear" | "cubic"), `resample_z` (false: resample to
/// the median slice pitch first, from Zeiss Atlas 3D z positions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeometryStep {
    pub theta_deg: f64,
    pub slice_thickness_nm: Option<f64>,
    pub stretch: bool,
    pub shear: bool,
    pub shear_px_per_slice: Option<f64>,
    pub boundary: Boundary,
    pub fill: f32,
    pub interpolation: RowInterpolation,
    /// Resample to a uniform slice pitch (the median) first, from per-slice z positions (Zeiss
    /// Atlas 3D names/labels), by linear interpolation along z.
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
    fn run(&self, ctx: &mut Context) -> Result<serde_json::Value, Error> {
        let out = self.apply(ctx)?;
        serde_json::to_value(&out).map_err(|e| Error::json("geometry results", e))
    }
}
