//! 52° cross-section geometry (methods §2): y-stretch by 1/sin θ and y–z shear correction.
//!
//! The SEM sees the milled face at θ (ion–electron angle, 52° on Thermo/FEI DualBeams, 54° Zeiss,
//! 55° Tescan) from the face plane, so an image row spacing `dy_raw` covers a true depth of
//! `dy_raw / sin θ`. Each slice of thickness t moves the face back, and a feature fixed in the
//! sample moves in the raw image by `c = t·cos θ / dy_raw` pixels per slice.
//!
//! **Model and sign convention** (the same as the acquisition simulator, `synth::acquisition`).
//! The receding face is seen from above at θ, so the content of slice k is displaced *up* the
//! image (towards row 0) by `k·t·cos θ` (raw units): with the per-slice displacement
//! `s = −t·cos θ / dy_raw` px, raw slice k, raw row y, shows the true depth
//! `Y = (y − k·s)·dy_raw / sin θ`. The correction takes corrected row Y of slice k from raw row
//! `y = Y·sin θ/dy_raw + k·s`, i.e. it moves slice k back down by `k·t·cos θ`. If your stack's
//! face shift goes the other way, give the measured displacement in
//! [`GeometryParams::shear_px_per_slice_override`] (e.g. `−trend_px_per_slice[0]` of the drift
//! alignment), or let the alignment remove the trend and turn the shear off.
//!
//! Stretch: the output row spacing is `dx` (square pixels in the face plane), so the number of rows
//! grows by `dy_raw / (sin θ · dx)`; the new `dy` is recorded with source `Derived`. Both parts are
//! done in one pass of linear (default) or cubic (Keys a = −½) interpolation along y, slice by
//! slice (rayon over slices).

use super::align::{linear_fit, to_u16, to_u8, Boundary, SliceSource};
use crate::error::ParamError;
use crate::volume::{GreyData, GreyVolume, VoxelSize, VoxelSource};
use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Default ion–electron column angle of Thermo/FEI DualBeams (degrees).
pub const DEFAULT_THETA_DEG: f64 = 52.0;

/// Parameters of [`correct_geometry_view`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeometryParams {
    /// Angle between the electron beam and the milled face (ion–electron angle), degrees, in (0, 90).
    pub theta_deg: f64,
    /// Slice thickness t (nm); needed for the shear (default: the volume's dz).
    pub slice_thickness_nm: Option<f64>,
    /// Stretch y by 1/sin θ (off when the SEM's tilt correction was on).
    pub stretch: bool,
    /// Undo the y–z shear (off when face tracking or the drift alignment removed it).
    pub shear: bool,
    /// Content displacement per slice to undo (raw px, sign included; negative = upward) instead
    /// of `−t·cos θ / dy_raw`, e.g. `−trend_px_per_slice[0]` of the drift alignment.
    pub shear_px_per_slice_override: Option<f64>,
    /// Crop to rows every slice covers (default) or pad with `fill`.
    pub boundary: Boundary,
    /// Value of uncovered pixels with `Boundary::Pad` (grey value).
    pub fill: f32,
    /// Interpolation along y: linear (default) or cubic (Keys, a = −½; sharper, may overshoot
    /// by a few % at steps).
    pub interpolation: RowInterpolation,
}

/// Interpolation of the y resampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RowInterpolation {
    /// Two rows, weights `1 − t, t` (blurs: a half-pixel offset averages two rows).
    #[default]
    #[value(alias = "bilinear")]
    Linear,
    /// Four rows, Keys' cubic convolution with a = −½ (Catmull–Rom): reproduces quadratics
    /// exactly, keeps edges sharper; rows beyond the image repeat the edge row.
    Cubic,
}

impl RowInterpolation {
    /// Parse `linear` / `cubic`.
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        match s.to_ascii_lowercase().as_str() {
            "linear" | "bilinear" => Ok(RowInterpolation::Linear),
            "cubic" => Ok(RowInterpolation::Cubic),
            _ => Err(ParamError::new(
                "interpolation",
                s,
                "use \"linear\" or \"cubic\"",
            )),
        }
    }
}

/// Keys' cubic convolution weights (a = −½) for rows −1, 0, 1, 2 at fraction `t` ∈ [0, 1).
#[inline]
pub fn keys_weights(t: f32) -> [f32; 4] {
    let (t2, t3) = (t * t, t * t * t);
    [
        0.5 * (-t3 + 2.0 * t2 - t),
        0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
        0.5 * (-3.0 * t3 + 4.0 * t2 + t),
        0.5 * (t3 - t2),
    ]
}

impl Default for GeometryParams {
    fn default() -> Self {
        GeometryParams {
            theta_deg: DEFAULT_THETA_DEG,
            slice_thickness_nm: None,
            stretch: true,
            shear: true,
            shear_px_per_slice_override: None,
            boundary: Boundary::Crop,
            fill: 0.0,
            interpolation: RowInterpolation::Linear,
        }
    }
}

/// Check θ ∈ (0°, 90°).
pub fn check_theta(theta_deg: f64) -> Result<f64, ParamError> {
    if theta_deg.is_finite() && theta_deg > 0.0 && theta_deg < 90.0 {
        Ok(theta_deg)
    } else {
        Err(ParamError::new(
            "theta",
            theta_deg,
            "the ion–electron angle must lie strictly between 0 and 90 degrees (52 on Thermo/FEI, 54 Zeiss, 55 Tescan)",
        ))
    }
}

/// Largest shear override accepted (raw px per slice).
pub const MAX_SHEAR_PX: f64 = 1000.0;

/// The corrected stack may have at most this many times the input's rows (plus 16): a larger
/// output comes from a shear or pixel aspect that cannot be right.
pub const MAX_ROW_GROWTH: usize = 16;

impl GeometryParams {
    /// Check the parameters against the input voxel size.
    pub fn validate(&self, voxel: &VoxelSize) -> Result<(), ParamError> {
        voxel.validate()?;
        self.validate_params()
    }

    /// Check every parameter on its own (what `run --check` can see: no voxel size yet).
    pub fn validate_params(&self) -> Result<(), ParamError> {
        check_theta(self.theta_deg)?;
        if let Some(t) = self.slice_thickness_nm {
            crate::error::length_nm("slice thickness (nm)", t)?;
        }
        if let Some(c) = self.shear_px_per_slice_override {
            if !(c.is_finite() && c.abs() <= MAX_SHEAR_PX) {
                return Err(ParamError::new(
                    "shear override (px/slice)",
                    c,
                    format!("must be a finite number of raw px per slice, at most {MAX_SHEAR_PX} in size (t·cos θ/dy is typically 0.1–10)"),
                ));
            }
        }
        if !self.fill.is_finite() {
            return Err(ParamError::new("fill", self.fill, "must be a finite value"));
        }
        Ok(())
    }
}

/// What [`correct_geometry_view`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeometryReport {
    /// How the correction was done, for the record.
    pub method: String,
    /// Ion–electron column angle θ used (degrees).
    pub theta_deg: f64,
    /// Whether y was stretched by 1/sin θ.
    pub stretch: bool,
    /// Whether the y–z shear was undone.
    pub shear: bool,
    /// y scale applied: `dy_raw / (sin θ · dy_out)` output rows per raw row (1 without stretch).
    pub stretch_factor: f64,
    /// Slice thickness used for the shear (nm), if any.
    pub slice_thickness_nm: Option<f64>,
    /// Content displacement per slice that was undone, raw pixels (`−t·cos θ/dy_raw`: upward, or
    /// the override); 0 without shear.
    pub shear_raw_px_per_slice: f64,
    /// Same in output pixels per slice.
    pub shear_out_px_per_slice: f64,
    /// Corrected rows kept, in raw units of slice 0: `[first, last]` (raw row coordinates).
    pub rows_raw: [f64; 2],
    /// Shape `[nz, ny, nx]` of the input (voxels).
    pub input_shape: [usize; 3],
    /// Shape `[nz, ny, nx]` of the output (voxels).
    pub output_shape: [usize; 3],
    /// `[dz, dy, dx]` of the input (nm).
    pub voxel_size_nm_in: [f64; 3],
    /// `[dz, dy, dx]` after correction (dy derived when stretched).
    pub voxel_size_nm: [f64; 3],
    /// Whether rows not covered by every slice were cropped or padded.
    pub boundary: Boundary,
}

/// Resampling plan: corrected row j of slice k comes from raw row `lo + j·a + kc[k]`.
struct Plan {
    lo: f64,
    a: f64,
    kc: Vec<f64>,
    rows: usize,
    fill: f32,
    cubic: bool,
}

/// Correct a `[z, y, x]` stack with voxel size `voxel` (`dy` = raw image row spacing).
pub fn correct_geometry_view(
    view: ArrayView3<f32>,
    voxel: VoxelSize,
    p: &GeometryParams,
) -> Result<(Array3<f32>, VoxelSize, GeometryReport), ParamError> {
    let (pl, vout, report) = plan(view.dim(), voxel, p)?;
    let mut out = Array3::<f32>::zeros((view.dim().0, pl.rows, view.dim().2));
    resample_into(&view, &pl, 0, &mut out, |v| v);
    Ok((out, vout, report))
}

/// One pass over the slices (rayon), each slice read as f32 and written in the output type.
fn resample_into<T: Copy + Send + Sync>(
    src: &dyn SliceSource,
    pl: &Plan,
    z0: usize,
    out: &mut Array3<T>,
    conv: impl Fn(f32) -> T + Sync,
) {
    const EPS: f64 = 1e-6;
    let (_, ny, _) = src.dim();
    let last = (ny - 1) as f64;
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut o)| {
            let src = src.slice(k);
            for j in 0..pl.rows {
                let y = pl.lo + j as f64 * pl.a + pl.kc[z0 + k];
                let mut row = o.row_mut(j);
                if !(y >= -EPS && y <= last + EPS) {
                    row.fill(conv(pl.fill));
                    continue;
                }
                let y = y.clamp(0.0, last);
                let y0 = y.floor() as usize;
                let y1 = (y0 + 1).min(ny - 1);
                let t = (y - y0 as f64) as f32;
                if pl.cubic {
                    let w = keys_weights(t);
                    let (rm, r0, r1, r2) = (
                        src.row(y0.saturating_sub(1)),
                        src.row(y0),
                        src.row(y1),
                        src.row((y0 + 2).min(ny - 1)),
                    );
                    for (i, v) in row.iter_mut().enumerate() {
                        *v = conv(w[0] * rm[i] + w[1] * r0[i] + w[2] * r1[i] + w[3] * r2[i]);
                    }
                    continue;
                }
                let (r0, r1) = (src.row(y0), src.row(y1));
                for ((v, &u0), &u1) in row.iter_mut().zip(r0.iter()).zip(r1.iter()) {
                    *v = conv(u0 + (u1 - u0) * t);
                }
            }
        });
}

fn plan(
    dim: (usize, usize, usize),
    voxel: VoxelSize,
    p: &GeometryParams,
) -> Result<(Plan, VoxelSize, GeometryReport), ParamError> {
    p.validate(&voxel)?;
    let (nz, ny, nx) = dim;
    if nz == 0 || ny < 2 {
        return Err(ParamError::new(
            "stack shape",
            format!("{nz}×{ny}×{nx}"),
            "geometry correction needs at least one slice of at least 2 rows",
        ));
    }
    let theta = p.theta_deg.to_radians();
    let dy_raw = voxel.dy();
    // output row spacing and raw rows per output row
    let (dy_out, a) = if p.stretch {
        (voxel.dx(), voxel.dx() * theta.sin() / dy_raw)
    } else {
        (dy_raw, 1.0)
    };
    let thickness = p.slice_thickness_nm.unwrap_or(voxel.dz());
    let c = if !p.shear {
        0.0
    } else if let Some(o) = p.shear_px_per_slice_override {
        o
    } else {
        if voxel.source[0] == VoxelSource::Default && p.slice_thickness_nm.is_none() {
            return Err(ParamError::new(
                "slice thickness",
                "unknown",
                "the shear needs the slice thickness: give --slice-thickness NM (or --no-shear)",
            ));
        }
        if voxel.source[1] == VoxelSource::Default {
            return Err(ParamError::new(
                "pixel size",
                "unknown",
                "the shear needs the image pixel size in nm: set the voxel size when reading (or --no-shear)",
            ));
        }
        -thickness * theta.cos() / dy_raw
    };
    // corrected coordinate Y (raw units) of raw row y in slice k: Y = y - k c (c = displacement)
    let last = (ny - 1) as f64;
    let kc: Vec<f64> = (0..nz).map(|k| k as f64 * c).collect();
    let (lo, hi) = match p.boundary {
        Boundary::Crop => (
            kc.iter().map(|v| -v).fold(f64::NEG_INFINITY, f64::max),
            kc.iter().map(|v| last - v).fold(f64::INFINITY, f64::min),
        ),
        Boundary::Pad => (
            kc.iter().map(|v| -v).fold(f64::INFINITY, f64::min),
            kc.iter()
                .map(|v| last - v)
                .fold(f64::NEG_INFINITY, f64::max),
        ),
    };
    if hi < lo {
        return Err(ParamError::new(
            "shear",
            format!("{:.2} px/slice over {nz} slices", c),
            format!(
                "the sheared slices share no common rows ({:.0} px shift vs {ny} rows); use --pad, fewer slices, or check the slice thickness",
                (nz - 1) as f64 * c.abs()
            ),
        ));
    }
    let rows_f = ((hi - lo) / a + 1e-9).floor() + 1.0;
    if rows_f.is_nan() || rows_f > (MAX_ROW_GROWTH * ny + 16) as f64 {
        return Err(ParamError::new(
            "geometry output",
            format!("{rows_f:.0} rows from {ny}"),
            format!(
                "the corrected slices would be more than {MAX_ROW_GROWTH}x taller than the input (shear {c:.3} px/slice over {nz} slices, pixel aspect dy/dx = {:.4}); check the voxel size, the slice thickness and the shear",
                dy_raw / voxel.dx()
            ),
        ));
    }
    let rows = rows_f as usize;
    let mut vout = voxel;
    if p.stretch {
        vout.nm[1] = dy_out;
        // derived from known sizes only: a stretched placeholder is still a placeholder
        vout.source[1] =
            if voxel.source[1] == VoxelSource::Default || voxel.source[2] == VoxelSource::Default {
                VoxelSource::Default
            } else {
                VoxelSource::Derived
            };
    }
    let method = format!(
        "{}{}{} ({} interpolation along y, methods §2)",
        if p.stretch {
            "y-stretch by 1/sin θ"
        } else {
            ""
        },
        if p.stretch && p.shear { " and " } else { "" },
        if p.shear {
            "y–z shear correction (face shift of k·t·cos θ per slice undone)"
        } else {
            ""
        },
        match p.interpolation {
            RowInterpolation::Linear => "linear",
            RowInterpolation::Cubic => "cubic (Keys a = −½)",
        }
    );
    let report = GeometryReport {
        method: if p.stretch || p.shear {
            method
        } else {
            "none (stretch and shear both off)".into()
        },
        theta_deg: p.theta_deg,
        stretch: p.stretch,
        shear: p.shear,
        stretch_factor: 1.0 / a,
        slice_thickness_nm: if p.shear && p.shear_px_per_slice_override.is_none() {
            Some(thickness)
        } else {
            None
        },
        shear_raw_px_per_slice: c,
        shear_out_px_per_slice: c / a,
        rows_raw: [lo, lo + (rows - 1) as f64 * a],
        input_shape: [nz, ny, nx],
        output_shape: [nz, rows, nx],
        voxel_size_nm_in: voxel.nm,
        voxel_size_nm: vout.nm,
        boundary: p.boundary,
    };
    Ok((
        Plan {
            lo,
            a,
            kc,
            rows,
            fill: p.fill,
            cubic: p.interpolation == RowInterpolation::Cubic,
        },
        vout,
        report,
    ))
}

/// Convenience on a [`GreyVolume`] (θ in degrees, thickness default the volume's dz); the output
/// keeps the input sample type (rounded and clamped for u8/u16) and metadata.
pub fn correct_geometry(
    vol: &GreyVolume,
    theta_deg: f64,
    slice_thickness_nm: Option<f64>,
    stretch: bool,
    shear: bool,
) -> Result<(GreyVolume, GeometryReport), ParamError> {
    let p = GeometryParams {
        theta_deg,
        slice_thickness_nm,
        stretch,
        shear,
        ..Default::default()
    };
    geometry_volume(vol, &p)
}

/// [`correct_geometry_view`] on a [`GreyVolume`]. The slice thickness is, in order: the
/// parameter, the volume's dz when it is calibrated, the metadata's `slice_thickness_nm`.
pub fn geometry_volume(
    vol: &GreyVolume,
    p: &GeometryParams,
) -> Result<(GreyVolume, GeometryReport), ParamError> {
    let gp = geometry_plan(vol.shape(), vol.voxel, vol.meta.slice_thickness_nm, p)?;
    let data = gp.resample_slab(&vol.data, 0);
    Ok((
        GreyVolume {
            data,
            voxel: gp.voxel_out,
            meta: vol.meta.clone(),
        },
        gp.report,
    ))
}

/// Largest difference (degrees) between the stage tilt in the metadata and θ that passes without
/// a warning.
pub const TILT_TOLERANCE_DEG: f64 = 1.0;

/// A warning when the stage tilt recorded by the instrument disagrees with the angle θ the
/// correction uses (by more than [`TILT_TOLERANCE_DEG`]).
///
/// ```
/// use fibstack::preprocess::geometry::tilt_warning;
/// assert!(tilt_warning(52.0, Some(52.0)).is_none());
/// assert!(tilt_warning(52.0, None).is_none());
/// let w = tilt_warning(52.0, Some(31.97)).unwrap();
/// assert!(w.contains("31.97") && w.contains("52"));
/// ```
pub fn tilt_warning(theta_deg: f64, stage_tilt_deg: Option<f64>) -> Option<String> {
    let t = stage_tilt_deg.filter(|t| t.is_finite())?;
    if (t - theta_deg).abs() <= TILT_TOLERANCE_DEG {
        return None;
    }
    Some(format!(
        "the stage tilt in the metadata is {t:.2}° but the correction uses θ = {theta_deg}° (ion–electron column angle): in the usual slice-and-view setup the stage is tilted to θ so the milled face is normal to the ion beam; check how this stack was acquired and give --theta / theta_deg if the face was seen at another angle"
    ))
}

/// A correction planned for a whole stack, applied slab by slab ([`GeometryPlan::resample_slab`])
/// so a stack can be corrected while streaming it (every output slice depends on its own input
/// slice only).
pub struct GeometryPlan {
    plan: Plan,
    /// Voxel size of the output.
    pub voxel_out: VoxelSize,
    /// What the correction will do (angle, factors, shapes, voxel sizes).
    pub report: GeometryReport,
}

/// Plan the correction of a stack of `shape` (`meta_thickness` = the file's slice thickness, used
/// like [`geometry_volume`] does when neither the parameter nor a calibrated dz gives one).
pub fn geometry_plan(
    shape: [usize; 3],
    voxel: VoxelSize,
    meta_thickness: Option<f64>,
    p: &GeometryParams,
) -> Result<GeometryPlan, ParamError> {
    let mut p = *p;
    if p.slice_thickness_nm.is_none() && voxel.source[0] == VoxelSource::Default {
        p.slice_thickness_nm = meta_thickness;
    }
    let (plan, voxel_out, report) = plan((shape[0], shape[1], shape[2]), voxel, &p)?;
    Ok(GeometryPlan {
        plan,
        voxel_out,
        report,
    })
}

impl GeometryPlan {
    /// Output rows per slice.
    pub fn rows(&self) -> usize {
        self.plan.rows
    }

    /// Correct the slices `z0 .. z0 + n` of the stack (`slab` holds them), keeping the sample
    /// type (rounded and clamped for u8/u16).
    pub fn resample_slab(&self, slab: &GreyData, z0: usize) -> GreyData {
        let [nz, _, nx] = slab.shape();
        let pl = &self.plan;
        let shape = (nz, pl.rows, nx);
        match slab {
            GreyData::U8(_) => {
                let mut o = Array3::<u8>::zeros(shape);
                resample_into(slab, pl, z0, &mut o, to_u8);
                GreyData::U8(o)
            }
            GreyData::U16(_) => {
                let mut o = Array3::<u16>::zeros(shape);
                resample_into(slab, pl, z0, &mut o, to_u16);
                GreyData::U16(o)
            }
            GreyData::F32(_) => {
                let mut o = Array3::<f32>::zeros(shape);
                resample_into(slab, pl, z0, &mut o, |v| v);
                GreyData::F32(o)
            }
        }
    }
}

/// Slice thickness implied by the linear trend of the drift curve (methods §2: t ≈ slope/cos θ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DriftThickness {
    /// Least-squares slope of the cumulative dy correction (raw px per slice).
    pub slope_px_per_slice: f64,
    /// Content displacement in the raw image, `−slope` (px/slice; negative = up, the direction of
    /// the face shift in the geometry model).
    pub feature_drift_px_per_slice: f64,
    /// `|slope|·dy_raw / cos θ` (nm).
    pub slice_thickness_nm: f64,
    /// Coefficient of determination of the line (1 = drift is a pure trend).
    pub r_squared: f64,
    /// Number of cumulative shifts fitted (slices).
    pub n_slices: usize,
    /// Ion–electron column angle θ used (degrees).
    pub theta_deg: f64,
    /// Raw pixel size along y (nm) used for the conversion.
    pub dy_raw_nm: f64,
}

/// Fit the cumulative dy correction curve (`cum_dy_px` of the alignment, raw pixels, before any
/// stretch) and convert its slope to a slice thickness.
pub fn slice_thickness_from_drift(
    cum_dy_px: &[f64],
    dy_raw_nm: f64,
    theta_deg: f64,
) -> Result<DriftThickness, ParamError> {
    check_theta(theta_deg)?;
    crate::error::positive("pixel size dy (nm)", dy_raw_nm)?;
    if cum_dy_px.len() < 3 || cum_dy_px.iter().any(|v| !v.is_finite()) {
        return Err(ParamError::new(
            "drift curve",
            format!("{} values", cum_dy_px.len()),
            "need at least 3 finite cumulative shifts to fit a trend",
        ));
    }
    let (a, b) = linear_fit(cum_dy_px);
    let mean = cum_dy_px.iter().sum::<f64>() / cum_dy_px.len() as f64;
    let (mut ss_res, mut ss_tot) = (0.0, 0.0);
    for (i, &v) in cum_dy_px.iter().enumerate() {
        ss_res += (v - (a + b * i as f64)).powi(2);
        ss_tot += (v - mean).powi(2);
    }
    Ok(DriftThickness {
        slope_px_per_slice: b,
        feature_drift_px_per_slice: -b,
        slice_thickness_nm: b.abs() * dy_raw_nm / theta_deg.to_radians().cos(),
        r_squared: if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else {
            1.0
        },
        n_slices: cum_dy_px.len(),
        theta_deg,
        dy_raw_nm,
    })
}

// ---------------------------------------------------------------- uniform z pitch

/// What [`resample_z`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResampleZReport {
    /// Slices before and after.
    pub slices_in: usize,
    /// Slices of the output.
    pub slices_out: usize,
    /// The uniform pitch of the output (nm): the median of the input pitches.
    pub pitch_nm: f64,
    /// Input pitch range and coefficient of variation.
    pub pitch_min_nm: f64,
    /// Largest input pitch (nm).
    pub pitch_max_nm: f64,
    /// Coefficient of variation of the input pitches (standard deviation / mean, unit "1").
    pub pitch_cv: f64,
    /// z of the first output slice (nm; equal to the first input slice's).
    pub z0_nm: f64,
    /// How the slices were resampled, in words.
    pub method: &'static str,
}

/// Resample a stack whose slices sit at the non-uniform positions `z_nm` (one per slice,
/// strictly monotone) onto a uniform pitch `pitch_nm` (> 0), by linear interpolation along z:
/// output slice k lies at `z_nm[0] + k·pitch` (towards the last slice), for every k whose
/// position is inside the input range. u8/u16 values are rounded.
///
/// ```
/// use ndarray::Array3;
/// use fibstack::preprocess::geometry::resample_z;
/// use fibstack::volume::GreyData;
/// let z = [0.0, 10.0, 30.0];
/// let d = GreyData::F32(Array3::from_shape_fn((3, 1, 1), |(k, _, _)| z[k] as f32));
/// let out = resample_z(&d, &z, 10.0).unwrap();
/// let GreyData::F32(a) = out else { panic!() };
/// assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![0.0, 10.0, 20.0, 30.0]);
/// ```
pub fn resample_z(data: &GreyData, z_nm: &[f64], pitch_nm: f64) -> Result<GreyData, ParamError> {
    let [nz, ny, nx] = data.shape();
    if z_nm.len() != nz || nz < 2 {
        return Err(ParamError::new(
            "z positions",
            z_nm.len(),
            format!("resampling needs one z position per slice ({nz} slices, at least 2)"),
        ));
    }
    crate::error::positive("resample pitch_nm", pitch_nm)?;
    let sign = if z_nm[nz - 1] >= z_nm[0] { 1.0 } else { -1.0 };
    let z: Vec<f64> = z_nm.iter().map(|v| (v - z_nm[0]) * sign).collect();
    if let Some(k) =
        (1..nz).find(|&k| z[k].partial_cmp(&z[k - 1]) != Some(std::cmp::Ordering::Greater))
    {
        return Err(ParamError::new(
            "z positions",
            format!("{} then {} nm", z_nm[k - 1], z_nm[k]),
            "slice positions must strictly increase (or decrease) with the slice index; check the slice order",
        ));
    }
    let span = z[nz - 1];
    let n_out = (span / pitch_nm * (1.0 + 1e-12)).floor() as usize + 1;
    if n_out > 1 << 20 {
        return Err(ParamError::new(
            "resample pitch_nm",
            pitch_nm,
            format!("gives {n_out} slices over {span} nm; use a pitch near the slice spacing"),
        ));
    }
    // for output k: lower input index and weight of the upper one
    let taps: Vec<(usize, f32)> = (0..n_out)
        .map(|k| {
            let t = (k as f64 * pitch_nm).min(span);
            let i = z.partition_point(|&v| v <= t).clamp(1, nz - 1) - 1;
            let w = ((t - z[i]) / (z[i + 1] - z[i])).clamp(0.0, 1.0);
            (i, w as f32)
        })
        .collect();
    macro_rules! go {
        ($a:expr, $conv:expr) => {{
            let mut out = Array3::zeros((n_out, ny, nx));
            out.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(taps.par_iter())
                .for_each(|(mut o, &(i, w))| {
                    let lo = $a.index_axis(Axis(0), i);
                    let hi = $a.index_axis(Axis(0), i + 1);
                    ndarray::Zip::from(&mut o)
                        .and(&lo)
                        .and(&hi)
                        .for_each(|o, &l, &h| {
                            let v = (1.0 - w) * (l as f32) + w * (h as f32);
                            *o = $conv(v);
                        });
                });
            out
        }};
    }
    Ok(match data {
        GreyData::U8(a) => GreyData::U8(go!(a, to_u8)),
        GreyData::U16(a) => GreyData::U16(go!(a, to_u16)),
        GreyData::F32(a) => GreyData::F32(go!(a, |v: f32| v)),
    })
}

/// [`resample_z`] of a volume at its own slice positions (`meta.z_positions_nm`, from Zeiss Atlas
/// 3D names or labels) onto their median pitch; dz becomes that pitch (source `Derived`).
pub fn resample_volume_z(vol: &GreyVolume) -> Result<(GreyVolume, ResampleZReport), ParamError> {
    let nz = vol.shape()[0];
    let z = vol.meta.z_positions_nm.as_deref().ok_or_else(|| {
        ParamError::new(
            "resample_z",
            "true",
            "the volume has no per-slice z positions (they come from Zeiss Atlas 3D file names or ImageJ slice labels such as slice_00596_z=5.9104um); turn resample_z off",
        )
    })?;
    if z.len() != nz {
        return Err(ParamError::new(
            "resample_z",
            format!("{} z positions for {nz} slices", z.len()),
            "read the whole stack (the positions must match the slices)",
        ));
    }
    let st = crate::io::meta::pitch_stats(z)
        .ok_or_else(|| ParamError::new("resample_z", nz, "needs at least two slices"))?;
    let data = resample_z(&vol.data, z, st.median_nm)?;
    let n_out = data.shape()[0];
    let sign = if z[nz - 1] >= z[0] { 1.0 } else { -1.0 };
    let mut meta = vol.meta.clone();
    meta.z_positions_nm = Some(
        (0..n_out)
            .map(|k| z[0] + sign * k as f64 * st.median_nm)
            .collect(),
    );
    let mut voxel = vol.voxel;
    voxel.nm[0] = st.median_nm;
    voxel.source[0] = VoxelSource::Derived;
    let report = ResampleZReport {
        slices_in: nz,
        slices_out: n_out,
        pitch_nm: st.median_nm,
        pitch_min_nm: st.min_nm,
        pitch_max_nm: st.max_nm,
        pitch_cv: st.cv,
        z0_nm: z[0],
        method: "linear interpolation along z at the median pitch",
    };
    Ok((GreyVolume { data, voxel, meta }, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vox() -> VoxelSize {
        VoxelSize::new([10.0, 5.0, 5.0], VoxelSource::CommandLine)
    }

    #[test]
    fn stretch_only_scales_rows() {
        let v = Array3::from_shape_fn((2, 40, 3), |(_, y, _)| y as f32);
        let p = GeometryParams {
            shear: false,
            ..Default::default()
        };
        let (o, vx, r) = correct_geometry_view(v.view(), vox(), &p).unwrap();
        let s = 52f64.to_radians().sin();
        assert_eq!(o.dim().1, (39.0 / s).floor() as usize + 1);
        // a linear ramp is resampled exactly: out row j = raw row j·sin θ
        for j in 0..o.dim().1 {
            assert!((o[[1, j, 2]] as f64 - j as f64 * s).abs() < 1e-4);
        }
        assert_eq!(vx.dy(), 5.0);
        assert_eq!(vx.source[1], VoxelSource::Derived);
        assert!((r.stretch_factor - 1.0 / s).abs() < 1e-12);
    }

    #[test]
    fn cubic_reproduces_a_quadratic_and_linear_does_not() {
        let q = |y: f64| 0.05 * y * y - 0.7 * y + 3.0;
        let v = Array3::from_shape_fn((1, 40, 2), |(_, y, _)| q(y as f64) as f32);
        let s = 52f64.to_radians().sin();
        let run = |interpolation| {
            let p = GeometryParams {
                shear: false,
                interpolation,
                ..Default::default()
            };
            correct_geometry_view(v.view(), vox(), &p).unwrap().0
        };
        let (cubic, linear) = (run(RowInterpolation::Cubic), run(RowInterpolation::Linear));
        let mut worst_linear = 0f64;
        for j in 0..cubic.dim().1 {
            let y = j as f64 * s;
            if !(1.0..=37.0).contains(&y) {
                continue; // the edge rows repeat: not a quadratic there
            }
            assert!((cubic[[0, j, 1]] as f64 - q(y)).abs() < 1e-3, "row {j}");
            worst_linear = worst_linear.max((linear[[0, j, 1]] as f64 - q(y)).abs());
        }
        // linear interpolation is off by up to 0.05·t(1 − t) = 0.0125 on this curve
        assert!(worst_linear > 5e-3, "linear {worst_linear}");
        assert_eq!(
            RowInterpolation::parse("CUBIC").unwrap(),
            RowInterpolation::Cubic
        );
        assert!(RowInterpolation::parse("spline").is_err());
        // the weights sum to one at every fraction
        for i in 0..=10 {
            let w = keys_weights(i as f32 / 10.0);
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn shear_only_shifts_slices() {
        // t cos θ / dy = 2 px per slice exactly
        let theta = 60.0f64;
        let t = 2.0 * 5.0 / theta.to_radians().cos();
        // content moves up 2 rows per slice: raw row y of slice k shows depth y + 2k
        let v = Array3::from_shape_fn((3, 20, 2), |(k, y, _)| (y as f32) + 2.0 * k as f32);
        let p = GeometryParams {
            theta_deg: theta,
            slice_thickness_nm: Some(t),
            stretch: false,
            ..Default::default()
        };
        let (o, _, r) = correct_geometry_view(v.view(), vox(), &p).unwrap();
        assert!((r.shear_raw_px_per_slice + 2.0).abs() < 1e-9);
        assert_eq!(o.dim(), (3, 16, 2));
        // every slice now shows the same ramp 4..19 (depths every slice covers)
        for k in 0..3 {
            for j in 0..16 {
                let want = j as f32 + 4.0;
                assert!(
                    (o[[k, j, 0]] - want).abs() < 1e-3,
                    "{k} {j} {}",
                    o[[k, j, 0]]
                );
            }
        }
        let p = GeometryParams {
            boundary: Boundary::Pad,
            fill: -1.0,
            ..p
        };
        let (o, _, _) = correct_geometry_view(v.view(), vox(), &p).unwrap();
        assert_eq!(o.dim(), (3, 24, 2));
        assert_eq!(o[[0, 0, 0]], 0.0);
        assert_eq!(o[[2, 0, 0]], -1.0);
        assert_eq!(o[[0, 23, 0]], -1.0);
    }

    #[test]
    fn bad_theta_and_missing_thickness() {
        let v = Array3::<f32>::zeros((2, 8, 8));
        for th in [0.0, 90.0, -5.0, f64::NAN, 120.0] {
            let p = GeometryParams {
                theta_deg: th,
                ..Default::default()
            };
            let e = correct_geometry_view(v.view(), vox(), &p).unwrap_err();
            assert_eq!(e.name, "theta");
        }
        let e = correct_geometry_view(v.view(), VoxelSize::default(), &GeometryParams::default())
            .unwrap_err();
        assert_eq!(e.name, "slice thickness");
        assert!(slice_thickness_from_drift(&[0.0, 1.0], 5.0, 52.0).is_err());
    }

    #[test]
    fn thickness_from_drift_line() {
        let th = 52.0f64;
        let t = 30.0;
        let dy = 5.0;
        let c = t * th.to_radians().cos() / dy;
        // content moves up by c per slice, so the correction moves it down: cum_dy = +c·k
        let cum: Vec<f64> = (0..50)
            .map(|k| c * k as f64 + if k % 3 == 0 { 0.05 } else { -0.02 })
            .collect();
        let r = slice_thickness_from_drift(&cum, dy, th).unwrap();
        assert!((r.slice_thickness_nm - t).abs() / t < 0.01, "{r:?}");
        assert!(r.feature_drift_px_per_slice < 0.0);
        assert!(r.r_squared > 0.99);
    }

    #[test]
    fn resample_z_reproduces_an_analytic_ramp_at_non_uniform_positions() {
        // value = 3·z + 7 (f32), positions with pitches 9..14 nm; linear interpolation of a
        // linear function is exact: output slice k must hold 3·(z0 + k·p) + 7
        let z = [5910.4, 5922.3, 5936.3, 5945.3, 5957.3, 5966.4, 5980.4];
        let ramp = |z: f64| (3.0 * (z - 5900.0) + 7.0) as f32;
        let a = Array3::from_shape_fn((z.len(), 2, 3), |(k, y, x)| ramp(z[k]) + (y * 3 + x) as f32);
        let mut vol = GreyVolume::from_f32(a, VoxelSize::new([1.0, 5.0, 5.0], VoxelSource::File));
        vol.meta.z_positions_nm = Some(z.to_vec());
        let (out, rep) = resample_volume_z(&vol).unwrap();
        let p = rep.pitch_nm;
        assert!((p - 11.95).abs() < 1e-9, "median pitch {p}");
        assert_eq!(rep.slices_out, ((z[6] - z[0]) / p).floor() as usize + 1);
        assert_eq!(out.voxel.nm[0], p);
        assert_eq!(out.voxel.source[0], VoxelSource::Derived);
        let GreyData::F32(o) = &out.data else {
            panic!()
        };
        for k in 0..rep.slices_out {
            let want = ramp(z[0] + k as f64 * p);
            for ((y, x), v) in o.index_axis(Axis(0), k).indexed_iter() {
                let w = want + (y * 3 + x) as f32;
                assert!((v - w).abs() < 1e-3, "slice {k}: {v} vs {w}");
            }
        }
        // decreasing positions and u8 rounding
        let zd = [100.0, 90.0, 70.0];
        let u = Array3::from_shape_fn((3, 1, 1), |(k, _, _)| [0u8, 10, 30][k]);
        let r = resample_z(&GreyData::U8(u), &zd, 10.0).unwrap();
        let GreyData::U8(r) = r else { panic!() };
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![0, 10, 20, 30]);
        // not monotone: refused
        assert!(resample_z(
            &GreyData::F32(Array3::zeros((3, 1, 1))),
            &[0.0, 5.0, 2.0],
            1.0
        )
        .is_err());
    }
}
