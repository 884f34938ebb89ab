//! The FIB-SEM acquisition model: renders a ground-truth [`LabelVolume`] into a grey image stack.
//!
//! Intensities are modelled in normalised units (0 = black, 1 = full scale) and quantised to 8 or
//! 16 bits at the end (with saturation). Order of the effects for slice k (each optional):
//!
//! 1. grey level per phase on the truth grid; inside pores, *shine-through* of the structure
//!    behind the face (the next slices, attenuated and blurred);
//! 2. resampling to the image grid with **52° geometry** (rows foreshortened by sin θ, square
//!    pixels of width dx) and the per-slice **face shift** −k·t·cos θ (upward: the receding
//!    face is seen from above at θ) plus **drift** (random walk with occasional jumps), by
//!    bilinear interpolation; regions mapping outside the truth show [`Outside`]; optionally a
//!    protective **cap with tracking marks** above the sample goes through the same mapping
//!    ([`FiducialParams`]);
//! 3. **curtaining**: vertical stripes fixed in x, evolving slowly with k, stronger below dense
//!    features, optionally a second family at another angle;
//! 4. smooth **shading** gradient (multiplicative);
//! 5. **Poisson** then **Gaussian** noise; quantisation with saturation.
//!
//! Shift convention: `total_shift_px[k] = [dy, dx]` means the content of slice k is displaced by
//! `+dy` rows and `+dx` columns relative to where it would be without face shift and drift; to
//! align, shift slice k by `−dy, −dx`. Image pixel (r, c) shows the truth at row
//! `(r − dy)·(dy_img / sin θ)/dy_truth`, column `(c − dx)·dx_img/dx_truth` (truth voxel centres
//! at integer indices). With the opt-in cap ([`FiducialParams`]) the image has
//! `fiducial.rows_above_sample` more rows on top and row r shows truth row
//! `(r − rows_above_sample − dy)·(dy_img / sin θ)/dy_truth` (negative rows are the cap and
//! what is above it). Every random number comes from `Rng::stream(seed ^ tag, slice)`, one
//! stream per slice, so the output does not depend on the thread count.

use super::curtains::{apply_physical, physical_profiles, CurtainModel};
use crate::error::{in_range, positive, ParamError};
use crate::rng::Rng;
use crate::volume::{GreyData, GreyVolume, LabelVolume, VoxelSize, VoxelSource};
use ndarray::{Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const TAG_DRIFT: u64 = 0x4452_4946_5400_0011;
const TAG_NOISE: u64 = 0x4E4F_4953_4500_0012;
const TAG_CURTAIN: u64 = 0x4355_5254_4100_0013;

/// What the image shows where it maps outside the truth volume (after face shift and drift).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Outside {
    /// The preset decides: `edge` for li-deposit (the collector continues below), else `pore_level`.
    #[default]
    Auto,
    /// The grey level of label 0.
    PoreLevel,
    /// The nearest truth pixel (the structure continues unchanged beyond the box).
    Edge,
    /// A fixed normalised level, e.g. `outside = { level = 0.0 }`.
    Level(f64),
}

/// Grey levels (normalised) of labels 0, 1, 2, 3+ when none are given.
pub const DEFAULT_LEVELS: [f64; 4] = [0.12, 0.62, 0.38, 0.85];

/// 52° geometry of a DualBeam (methods §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TiltParams {
    /// Angle θ between electron and ion columns (degrees), in [10, 90]; 52 (Thermo), 54 (Zeiss), 55 (Tescan).
    pub angle_deg: f64,
    /// Foreshorten image rows by sin θ (square image pixels of width dx).
    pub foreshorten: bool,
    /// Shift slice k's content by −k·t·cos θ (raw image pixels; upward, as the receding face
    /// is seen from the tilted electron column).
    pub face_shift: bool,
}

impl Default for TiltParams {
    fn default() -> Self {
        TiltParams {
            angle_deg: 52.0,
            foreshorten: true,
            face_shift: true,
        }
    }
}

/// Shine-through of the structure behind the face, seen inside pores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShineParams {
    /// Render shine-through.
    pub enabled: bool,
    /// Fraction of the solid's contrast seen through the pore at one slice depth, in [0, 1].
    pub strength: f64,
    /// How many deeper slices contribute, in [1, 16].
    pub depth_slices: usize,
    /// Attenuation length (slices): weight of slice k+j is strength·exp(−(j−1)/decay).
    pub decay_slices: f64,
    /// Gaussian blur σ (truth pixels) of the shine-through.
    pub blur_px: f64,
    /// Which physics: `exponential` (default, the keys above) or `geometric`
    /// ([`super::shine_geometric`]: line of sight at the tilt angle, first surface seen,
    /// electron-range depth kernel; its keys in the `geometric` table).
    #[serde(skip_serializing_if = "ShineModel::is_exponential")]
    pub model: ShineModel,
    /// Parameters of the geometric model (`None` = its defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometric: Option<super::shine_geometric::GeometricShineParams>,
}

/// The shine-through model (`shine_through.model`, `fibstack synth --shine-model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ShineModel {
    /// strength·exp(−(j−1)/decay) × the contrast j slices straight behind, blurred.
    #[default]
    Exponential,
    /// Geometric visibility along the 52° line of sight with an electron-range depth kernel.
    Geometric,
}

impl ShineModel {
    fn is_exponential(&self) -> bool {
        *self == ShineModel::Exponential
    }
}

impl Default for ShineParams {
    fn default() -> Self {
        ShineParams {
            enabled: true,
            strength: 0.35,
            depth_slices: 3,
            decay_slices: 1.5,
            blur_px: 1.5,
            model: ShineModel::Exponential,
            geometric: None,
        }
    }
}

/// Stage / beam drift: a random walk of sub-pixel steps plus occasional jumps (image pixels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftParams {
    /// Apply drift.
    pub enabled: bool,
    /// σ of the per-slice random-walk step, per axis (px).
    pub step_sigma_px: f64,
    /// Probability per slice of a jump, in [0, 1].
    pub jump_probability: f64,
    /// σ of a jump, per axis (px).
    pub jump_sigma_px: f64,
}

impl Default for DriftParams {
    fn default() -> Self {
        DriftParams {
            enabled: true,
            step_sigma_px: 0.3,
            jump_probability: 0.03,
            jump_sigma_px: 3.0,
        }
    }
}

/// Curtaining stripes (model: [`crate::synth::curtains`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CurtainParams {
    /// Render curtaining.
    pub enabled: bool,
    /// `physical` (default: grooves in the material only, multiplicative, seeded below hard
    /// features) or `additive` (stripes added everywhere, pores included).
    pub model: CurtainModel,
    /// RMS stripe amplitude, in [0, 1]: normalised intensity (additive) or relative
    /// modulation of the material's signal (physical).
    pub amplitude: f64,
    /// Gaussian σ (px) of the stripe profile across x.
    pub width_px: f64,
    /// Evolution rate (radians per slice) of the stripe pattern; 0 = frozen.
    pub evolution_rad_per_slice: f64,
    /// Extra strength below dense features: factor 1 + gain·D (additive; physical:
    /// (1 + gain·D)/(1 + gain)), D ∈ [0, 1] the decaying mean normalised intensity above the
    /// pixel along the stripe (physical: of the material only).
    pub shadow_gain: f64,
    /// Memory length (px) of that mean along y.
    pub shadow_length_px: f64,
    /// Angle of the stripes from vertical (degrees), in [−45, 45].
    pub angle_deg: f64,
    /// Optional second family (rocking polish) at this angle (degrees).
    pub second_angle_deg: Option<f64>,
    /// Amplitude of the second family relative to the first, in [0, 2].
    pub second_relative_amplitude: f64,
    /// Physical model: power-law slope β of the profile's spectrum across the stripes, in
    /// [0, 4] (0 = white: matches the nacre slice of the validation).
    pub profile_slope: f64,
    /// Physical model: Gaussian σ (px) of the finest groove (the profile's roll-off), in
    /// [0, 100] (`width_px` is the additive model's).
    pub groove_width_px: f64,
    /// Physical model: correlation length (image rows) of a stripe along its length, > 0.
    pub stripe_length_px: f64,
}

impl Default for CurtainParams {
    fn default() -> Self {
        CurtainParams {
            enabled: true,
            amplitude: 0.05,
            width_px: 1.2,
            evolution_rad_per_slice: 0.02,
            shadow_gain: 2.0,
            shadow_length_px: 40.0,
            angle_deg: 0.0,
            second_angle_deg: None,
            second_relative_amplitude: 0.6,
            model: CurtainModel::Physical,
            profile_slope: 0.0,
            groove_width_px: 0.8,
            stripe_length_px: 70.0,
        }
    }
}

/// Smooth multiplicative shading: `1 + gy·(r/ny − ½) + gx·(c/nx − ½)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShadingParams {
    /// Apply shading.
    pub enabled: bool,
    /// Relative change of brightness from top to bottom row, in [−0.9, 0.9].
    pub gradient_y: f64,
    /// Relative change from left to right column, in [−0.9, 0.9].
    pub gradient_x: f64,
}

impl Default for ShadingParams {
    fn default() -> Self {
        ShadingParams {
            enabled: true,
            gradient_y: 0.15,
            gradient_x: -0.08,
        }
    }
}

/// Detector noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseParams {
    /// Add noise.
    pub enabled: bool,
    /// Mean detected counts at full-scale intensity (Poisson); 0 = no Poisson noise.
    pub counts_at_full_scale: f64,
    /// σ of additive Gaussian noise (normalised intensity).
    pub gaussian_sigma: f64,
}

impl Default for NoiseParams {
    fn default() -> Self {
        NoiseParams {
            enabled: true,
            counts_at_full_scale: 400.0,
            gaussian_sigma: 0.02,
        }
    }
}

/// Shape of a tracking mark's cross-section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MarkShape {
    /// Tapered trench (a chevron in the cross-section): full width at the cap top, a point at
    /// the mark's depth. Its slanted walls carry both x and y information.
    #[default]
    V,
    /// Straight-walled trench of constant width.
    U,
}

/// One tracking mark: a trench milled along z into the cap and back-filled with a second
/// (lower-Z, darker: carbon) deposit, so every cross-section shows it at the same place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// Centre as a fraction of the image width, in [0, 1].
    pub x_frac: f64,
    /// Width at the cap top as a fraction of the image width, in (0, 0.5].
    pub width_frac: f64,
    /// Depth as a fraction of the cap thickness, in (0, 1].
    pub depth_frac: f64,
    #[serde(default)]
    /// Cross-section of the mark (V or U).
    pub shape: MarkShape,
}

/// The default marks: irregular spacing, widths and depths (no period in x), V and U shapes.
pub fn default_marks() -> Vec<Mark> {
    let m = |x_frac, width_frac, depth_frac, shape| Mark {
        x_frac,
        width_frac,
        depth_frac,
        shape,
    };
    vec![
        m(0.11, 0.035, 0.75, MarkShape::V),
        m(0.27, 0.055, 0.55, MarkShape::U),
        m(0.44, 0.045, 0.90, MarkShape::V),
        m(0.63, 0.075, 0.65, MarkShape::V),
        m(0.79, 0.025, 0.50, MarkShape::U),
        m(0.90, 0.050, 0.85, MarkShape::V),
    ]
}

/// Opt-in protective cap (Pt/C deposit on the top surface) with tracking marks.
///
/// **Physics.** The cap lies on the sample's top surface, so every cross-section face shows it
/// as a band directly above the sample, `thickness_nm` deep, with the marks (trenches milled
/// along z, hence identical in every slice) cutting into it from its top. It is part of the
/// face: it goes through exactly the same mapping as the sample — foreshortened by sin θ with
/// the 52° tilt, moved by the per-slice face shift −k·t·cos θ (the whole face, cap included,
/// climbs up the image as it recedes; instruments with face tracking remove that part, see
/// `tilt.face_shift = false`) and by the drift — and then through curtains, shading and noise.
/// Above the cap the image shows `above_level` (the cap's top surface at grazing view and the
/// chamber, modelled as uniform). So the marks' displacement in slice k is exactly
/// `total_shift_px[k]`, and aligning on the cap rows recovers face shift + drift, independent
/// of how the structure below changes from slice to slice.
///
/// **Frame.** The image gains rows on top: the cap plus enough head-room that the cap's top
/// edge stays in the frame in every slice (computed from the face shift and drift). The truth
/// records the rows and a rectangle for `fibstack align --roi` that shows only cap and the
/// region above it in every slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FiducialParams {
    /// Cap thickness (nm, depth along the face). `None` = the larger of 1/8 of the truth
    /// depth and what keeps at least 12 image rows of cap in view in every slice despite the
    /// face shift and drift (an operator chooses the cap so the marks stay usable).
    pub thickness_nm: Option<f64>,
    /// Normalised grey level of the cap (Pt: bright).
    pub cap_level: f64,
    /// Grey level of the back-filled marks (C: darker).
    pub mark_level: f64,
    /// Grey level above the cap.
    pub above_level: f64,
    /// The tracking marks.
    pub marks: Vec<Mark>,
}

impl Default for FiducialParams {
    fn default() -> Self {
        FiducialParams {
            thickness_nm: None,
            cap_level: 0.9,
            mark_level: 0.3,
            above_level: 0.05,
            marks: default_marks(),
        }
    }
}

impl FiducialParams {
    /// Check every value; errors name the parameter and the allowed range.
    pub fn validate(&self) -> Result<(), ParamError> {
        if let Some(t) = self.thickness_nm {
            positive("fiducial thickness_nm", t)?;
        }
        in_range("fiducial cap_level", self.cap_level, 0.0, 1.0)?;
        in_range("fiducial mark_level", self.mark_level, 0.0, 1.0)?;
        in_range("fiducial above_level", self.above_level, 0.0, 1.0)?;
        for (i, m) in self.marks.iter().enumerate() {
            in_range(&format!("fiducial marks[{i}] x_frac"), m.x_frac, 0.0, 1.0)?;
            in_range(
                &format!("fiducial marks[{i}] width_frac"),
                m.width_frac,
                1e-6,
                0.5,
            )?;
            in_range(
                &format!("fiducial marks[{i}] depth_frac"),
                m.depth_frac,
                1e-6,
                1.0,
            )?;
        }
        Ok(())
    }
}

/// Every parameter of the acquisition model. `Default` turns every effect on;
/// [`AcquisitionParams::clean`] turns them all off (then add only what a test needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcquisitionParams {
    /// Grey level (normalised, 0..1) per label: `levels[l]` for label l; labels beyond the list
    /// use the last entry. `None` = [`DEFAULT_LEVELS`] (presets fill in their own).
    pub levels: Option<Vec<f64>>,
    /// Output sample depth: 8 or 16.
    pub bit_depth: u8,
    /// What image regions that map outside the truth volume show.
    pub outside: Outside,
    /// 52° geometry; `None` = images taken face-on (no foreshortening, no face shift).
    pub tilt: Option<TiltParams>,
    /// Structure behind the face seen inside pores.
    pub shine_through: ShineParams,
    /// Stage and beam drift.
    pub drift: DriftParams,
    /// Curtaining stripes.
    pub curtain: CurtainParams,
    /// Smooth shading across the image.
    pub shading: ShadingParams,
    /// Detector noise.
    pub noise: NoiseParams,
    /// Beam voltage written to the metadata (V).
    pub beam_voltage_v: f64,
    /// Protective cap with tracking marks on top of the sample; `None` (default) = none.
    /// TOML: `[acquisition.fiducial]` (an empty table takes every default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fiducial: Option<FiducialParams>,
}

impl Default for AcquisitionParams {
    fn default() -> Self {
        AcquisitionParams {
            levels: None,
            bit_depth: 8,
            outside: Outside::Auto,
            tilt: Some(TiltParams::default()),
            shine_through: ShineParams::default(),
            drift: DriftParams::default(),
            curtain: CurtainParams::default(),
            shading: ShadingParams::default(),
            noise: NoiseParams::default(),
            beam_voltage_v: 2000.0,
            fiducial: None,
        }
    }
}

impl AcquisitionParams {
    /// Every effect off, no tilt: the output equals the phase levels on the truth grid.
    pub fn clean() -> Self {
        let mut p = AcquisitionParams {
            tilt: None,
            ..Default::default()
        };
        p.shine_through.enabled = false;
        p.drift.enabled = false;
        p.curtain.enabled = false;
        p.shading.enabled = false;
        p.noise.enabled = false;
        p
    }

    /// Check every value; errors name the parameter and the allowed range.
    pub fn validate(&self) -> Result<(), ParamError> {
        let levels = self.levels();
        if levels.is_empty() {
            return Err(ParamError::new(
                "levels",
                "[]",
                "give at least one grey level (0..1) per label",
            ));
        }
        for (i, l) in levels.iter().enumerate() {
            in_range(&format!("levels[{i}]"), *l, 0.0, 1.0)?;
        }
        if self.bit_depth != 8 && self.bit_depth != 16 {
            return Err(ParamError::new(
                "bit_depth",
                self.bit_depth,
                "must be 8 or 16",
            ));
        }
        if let Outside::Level(v) = self.outside {
            in_range("outside level", v, 0.0, 1.0)?;
        }
        if let Some(t) = &self.tilt {
            in_range("tilt angle_deg", t.angle_deg, 10.0, 90.0)?;
        }
        let s = &self.shine_through;
        if s.enabled {
            in_range("shine_through strength", s.strength, 0.0, 1.0)?;
            in_range(
                "shine_through depth_slices",
                s.depth_slices as f64,
                1.0,
                16.0,
            )?;
            positive("shine_through decay_slices", s.decay_slices)?;
            in_range("shine_through blur_px", s.blur_px, 0.0, 50.0)?;
            if let Some(g) = &s.geometric {
                g.validate()?;
            }
        }
        let d = &self.drift;
        if d.enabled {
            in_range("drift step_sigma_px", d.step_sigma_px, 0.0, 100.0)?;
            in_range("drift jump_probability", d.jump_probability, 0.0, 1.0)?;
            in_range("drift jump_sigma_px", d.jump_sigma_px, 0.0, 1000.0)?;
        }
        let c = &self.curtain;
        if c.enabled {
            in_range("curtain amplitude", c.amplitude, 0.0, 1.0)?;
            in_range("curtain width_px", c.width_px, 0.0, 100.0)?;
            in_range(
                "curtain evolution_rad_per_slice",
                c.evolution_rad_per_slice,
                0.0,
                3.2,
            )?;
            in_range("curtain shadow_gain", c.shadow_gain, 0.0, 20.0)?;
            positive("curtain shadow_length_px", c.shadow_length_px)?;
            in_range("curtain angle_deg", c.angle_deg, -45.0, 45.0)?;
            if let Some(a) = c.second_angle_deg {
                in_range("curtain second_angle_deg", a, -45.0, 45.0)?;
            }
            in_range(
                "curtain second_relative_amplitude",
                c.second_relative_amplitude,
                0.0,
                2.0,
            )?;
            in_range("curtain profile_slope", c.profile_slope, 0.0, 4.0)?;
            in_range("curtain groove_width_px", c.groove_width_px, 0.0, 100.0)?;
            in_range("curtain stripe_length_px", c.stripe_length_px, 1e-3, 1e9)?;
        }
        let g = &self.shading;
        if g.enabled {
            in_range("shading gradient_y", g.gradient_y, -0.9, 0.9)?;
            in_range("shading gradient_x", g.gradient_x, -0.9, 0.9)?;
        }
        let n = &self.noise;
        if n.enabled {
            in_range(
                "noise counts_at_full_scale",
                n.counts_at_full_scale,
                0.0,
                1e9,
            )?;
            in_range("noise gaussian_sigma", n.gaussian_sigma, 0.0, 1.0)?;
        }
        positive("beam_voltage_v", self.beam_voltage_v)?;
        if let Some(f) = &self.fiducial {
            f.validate()?;
        }
        Ok(())
    }

    /// The grey levels in use.
    pub fn levels(&self) -> &[f64] {
        self.levels.as_deref().unwrap_or(&DEFAULT_LEVELS)
    }

    fn level(&self, label: u8) -> f32 {
        let l = self.levels();
        l[(label as usize).min(l.len() - 1)] as f32
    }
}

/// The curtain model as applied (enough to recompute every stripe value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StripeTruth {
    /// Stripe value of slice k at stretched column u: `amp·(cos(ωk)·A[u+m] + sin(ωk)·B[u+m])`,
    /// u = c − tan(angle)·(r − ny/2), linear interpolation; then times `1 + gain·D`.
    pub angle_deg: f64,
    /// Stripe amplitude (grey values, before the gain).
    pub amplitude: f64,
    /// Phase change ω of the stripe pattern per slice (radians).
    pub evolution_rad_per_slice: f64,
    /// Index offset m of profile entry 0 (profiles cover u ∈ [−m, nx + m)).
    pub margin: usize,
    /// Unit-RMS profile A.
    pub profile_a: Vec<f32>,
    /// Unit-RMS profile B.
    pub profile_b: Vec<f32>,
}

/// Everything the acquisition did, per slice where it varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcqTruth {
    /// The acquisition parameters used.
    pub params: AcquisitionParams,
    /// Seed of the acquisition's random draws.
    pub seed: u64,
    /// Image stack shape `[nz, rows, cols]`.
    pub image_shape: [usize; 3],
    /// Image voxel `[dz, dy_img, dx]` (nm): dy_img = raw image pixel height.
    pub image_voxel_nm: [f64; 3],
    /// Rows of the image per unit truth row: dy_truth·sin θ/dy_img (1 without foreshortening).
    pub row_scale: f64,
    /// Factor to restore true depth from image rows: 1/sin θ (1 without foreshortening).
    pub y_stretch: f64,
    /// Per-slice drift `[dy, dx]` (px) applied.
    pub drift_px: Vec<[f64; 2]>,
    /// Per-slice face shift along y (px) = −k·dz·cos θ/dy_img (content moves up the image).
    pub face_shift_px: Vec<f64>,
    /// Per-slice total content displacement `[dy, dx]` (px) = face shift + drift.
    pub total_shift_px: Vec<[f64; 2]>,
    /// Stripe families (empty when curtaining is off).
    pub stripes: Vec<StripeTruth>,
    /// Pixels clipped at 0 / at full scale in the grey output.
    pub saturated_low: usize,
    /// Pixels clipped at full scale in the grey output.
    pub saturated_high: usize,
    /// The cap with tracking marks, when `params.fiducial` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiducial: Option<FiducialTruth>,
}

/// One tracking mark as rendered (image pixels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkTruth {
    /// Centre column (px, before drift).
    pub x_px: f64,
    /// Width at the cap top (px).
    pub width_px: f64,
    /// Depth below the cap top (image rows).
    pub depth_rows: f64,
    /// Cross-section of the mark (V or U).
    pub shape: MarkShape,
}

/// Where the cap and its marks are in the images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiducialTruth {
    /// Cap thickness used (nm).
    pub thickness_nm: f64,
    /// Cap thickness in image rows (foreshortened like the sample).
    pub cap_rows: f64,
    /// Image rows added above the sample: the sample's top surface (cap bottom) is at row
    /// `rows_above_sample − 0.5·row_scale + dy_k` in slice k, the cap top `cap_rows` higher.
    pub rows_above_sample: usize,
    /// Continuous image row of the cap top edge in slice 0 without face shift and drift.
    pub cap_top_row: f64,
    /// The marks (centre, width, depth in image pixels).
    pub marks: Vec<MarkTruth>,
    /// Suggested alignment rectangle `[y0, x0, height, width]`: in every slice it shows only
    /// the cap and the region above it (never the sample). `None` when the cap is too thin for
    /// the face shift + drift of this stack (see `note`).
    pub roi_px: Option<[usize; 4]>,
    /// The same as the `fibstack align --roi` argument, `"Y0,X0,H,W"`.
    pub roi_arg: Option<String>,
    /// Rows of cap visible inside the ROI in every slice.
    pub roi_cap_rows: f64,
    /// How the marks were placed (for the reader of truth.json).
    pub note: String,
}

/// Output of [`render`].
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The simulated acquisition.
    pub grey: GreyVolume,
    /// Same grid, geometry and drift, without shine-through, curtains, shading or noise.
    pub clean: GreyVolume,
    /// What the acquisition did.
    pub truth: AcqTruth,
}

/// Separable Gaussian blur with reflected borders (σ in px, truncated at 3σ).
pub fn gaussian_blur(img: &mut Array2<f32>, sigma: f64) {
    if sigma <= 0.0 {
        return;
    }
    let r = (3.0 * sigma).ceil() as isize;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    let (ny, nx) = img.dim();
    let refl = crate::preprocess::denoise::reflect_index;
    // rows: reflect-pad each row into a buffer, then a straight convolution
    let ru = r as usize;
    let mut pad = vec![0f32; nx + 2 * ru];
    for mut row in img.rows_mut() {
        for (t, p) in pad.iter_mut().enumerate() {
            *p = row[refl(t as isize - r, nx)];
        }
        for (x, v) in row.iter_mut().enumerate() {
            let w = &pad[x..x + k.len()];
            *v = w.iter().zip(k.iter()).map(|(a, b)| a * b).sum();
        }
    }
    // columns: accumulate whole rows (contiguous) with reflected row indices
    let src = img.clone();
    img.fill(0.0);
    for y in 0..ny {
        let mut out = img.row_mut(y);
        for (o, w) in k.iter().enumerate() {
            let sr = src.row(refl(y as isize + o as isize - r, ny));
            out.zip_mut_with(&sr, |a, b| *a += w * b);
        }
    }
}

/// Bilinear sample of `img` at (y, x); samples beyond the border take the value `outside`, or
/// the nearest border pixel when `outside` is NaN.
#[inline]
fn bilinear(img: &ArrayView2<f32>, y: f64, x: f64, outside: f32) -> f32 {
    let (ny, nx) = img.dim();
    let y0 = y.floor();
    let x0 = x.floor();
    let fy = (y - y0) as f32;
    let fx = (x - x0) as f32;
    let (y0, x0) = (y0 as isize, x0 as isize);
    let get = |j: isize, i: isize| -> f32 {
        if j < 0 || i < 0 || j >= ny as isize || i >= nx as isize {
            if outside.is_nan() {
                img[[
                    j.clamp(0, ny as isize - 1) as usize,
                    i.clamp(0, nx as isize - 1) as usize,
                ]]
            } else {
                outside
            }
        } else {
            img[[j as usize, i as usize]]
        }
    };
    let a = get(y0, x0) * (1.0 - fx) + get(y0, x0 + 1) * fx;
    let b = get(y0 + 1, x0) * (1.0 - fx) + get(y0 + 1, x0 + 1) * fx;
    a * (1.0 - fy) + b * fy
}

/// The drift sequence: cumulative random walk with jumps, slice 0 at zero.
pub fn drift_sequence(p: &DriftParams, nz: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut out = Vec::with_capacity(nz);
    let mut cur = [0.0f64; 2];
    for k in 0..nz {
        if k > 0 && p.enabled {
            let mut r = Rng::stream(seed ^ TAG_DRIFT, k as u64);
            for v in cur.iter_mut() {
                *v += p.step_sigma_px * r.normal();
            }
            if r.uniform() < p.jump_probability {
                for v in cur.iter_mut() {
                    *v += p.jump_sigma_px * r.normal();
                }
            }
        }
        out.push(cur);
    }
    out
}

fn stripe_profiles(c: &CurtainParams, nx: usize, ny: usize, seed: u64) -> Vec<StripeTruth> {
    super::curtains::families(c)
        .iter()
        .enumerate()
        .map(|(f, &(angle, amp))| {
            let margin = super::curtains::margin_px(angle, ny);
            let n = nx + 2 * margin;
            let mut r = Rng::stream(seed ^ TAG_CURTAIN, f as u64);
            let mut mk = || {
                let mut a = Array2::from_shape_fn((1, n), |_| r.normal() as f32);
                gaussian_blur(&mut a, c.width_px);
                let v: Vec<f32> = a.iter().cloned().collect();
                let rms = (v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / n as f64).sqrt();
                let s = if rms > 0.0 { (1.0 / rms) as f32 } else { 0.0 };
                v.into_iter().map(|x| x * s).collect::<Vec<f32>>()
            };
            let profile_a = mk();
            let profile_b = mk();
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

/// Geometry of the image grid for a truth volume.
fn image_geometry(labels: &LabelVolume, p: &AcquisitionParams) -> (usize, f64, f64, f64) {
    let [_, ny, _] = labels.shape();
    let d = labels.voxel.nm;
    match &p.tilt {
        Some(t) if t.foreshorten => {
            let s = t.angle_deg.to_radians().sin();
            let dy_img = d[2];
            let rows = ((ny as f64 * d[1] * s / dy_img).floor() as usize).max(1);
            (rows, dy_img, s, 1.0 / s)
        }
        _ => (ny, d[1], 1.0, 1.0),
    }
}

/// Render `labels` through the acquisition model. Deterministic in `seed`, independent of the
/// thread count (rayon over slices, one random stream per slice).
pub fn render(
    labels: &LabelVolume,
    p: &AcquisitionParams,
    seed: u64,
) -> Result<Rendered, ParamError> {
    p.validate()?;
    labels.voxel.validate()?;
    let [nz, ny, nx] = labels.shape();
    if nz == 0 || ny == 0 || nx == 0 {
        return Err(ParamError::new(
            "labels shape",
            format!("{nz}x{ny}x{nx}"),
            "the truth volume is empty",
        ));
    }
    let d = labels.voxel.nm;
    if let Some(t) = p.fiducial.as_ref().and_then(|f| f.thickness_nm) {
        let depth = ny as f64 * d[1];
        if t > 4.0 * depth {
            return Err(ParamError::new(
                "fiducial thickness_nm",
                t,
                format!("must be at most 4× the truth depth ({} nm)", 4.0 * depth),
            ));
        }
    }
    let (rows, dy_img, sin_t, stretch) = image_geometry(labels, p);
    let cos_t = p
        .tilt
        .as_ref()
        .map(|t| t.angle_deg.to_radians().cos())
        .unwrap_or(0.0);
    let face_on = p.tilt.as_ref().map(|t| t.face_shift).unwrap_or(false);
    let face_shift: Vec<f64> = (0..nz)
        .map(|k| {
            if face_on {
                -(k as f64) * d[0] * cos_t / dy_img
            } else {
                0.0
            }
        })
        .collect();
    let drift = drift_sequence(&p.drift, nz, seed);
    let total: Vec<[f64; 2]> = (0..nz)
        .map(|k| [face_shift[k] + drift[k][0], drift[k][1]])
        .collect();
    // truth rows per image row, truth columns per image column
    let sy = dy_img / (sin_t * d[1]);
    let cap = p
        .fiducial
        .as_ref()
        .map(|f| cap_layout(f, &total, rows, nx, d[1], sy));
    // image rows: the cap and its head-room (if any) above the sample's rows
    let rows = rows + cap.as_ref().map(|c| c.top).unwrap_or(0);
    let stripes = if p.curtain.enabled {
        match p.curtain.model {
            CurtainModel::Additive => stripe_profiles(&p.curtain, nx, rows, seed),
            CurtainModel::Physical => physical_profiles(&p.curtain, nx, rows, seed),
        }
    } else {
        Vec::new()
    };
    let lut: Vec<f32> = (0..=255u8).map(|l| p.level(l)).collect();
    let lmin = p.levels().iter().cloned().fold(f64::INFINITY, f64::min) as f32;
    let lmax = p.levels().iter().cloned().fold(f64::NEG_INFINITY, f64::max) as f32;
    let lspan = if lmax > lmin { lmax - lmin } else { 1.0 };
    let maxv: f32 = if p.bit_depth == 8 { 255.0 } else { 65535.0 };
    let outside = match p.outside {
        Outside::Auto | Outside::PoreLevel => p.level(0),
        Outside::Edge => f32::NAN,
        Outside::Level(v) => v as f32,
    };

    let ctx = SliceCtx {
        labels,
        p,
        rows,
        sy,
        total: &total,
        stripes: &stripes,
        lut: &lut,
        lmin,
        lspan,
        maxv,
        outside,
        seed,
        cap: cap.as_ref(),
    };
    let (gdata, cdata, lo, hi) = if p.bit_depth == 8 {
        let (g, c, lo, hi) = render_all::<u8>(&ctx, nz, nx);
        (GreyData::U8(g), GreyData::U8(c), lo, hi)
    } else {
        let (g, c, lo, hi) = render_all::<u16>(&ctx, nz, nx);
        (GreyData::U16(g), GreyData::U16(c), lo, hi)
    };
    let voxel = VoxelSize::new([d[0], dy_img, d[2]], VoxelSource::Derived);
    let mut meta = crate::volume::Metadata {
        instrument: Some("fibstack synth".into()),
        pixel_size_nm: Some([d[2], dy_img]),
        stage_tilt_deg: p.tilt.as_ref().map(|t| t.angle_deg),
        beam_voltage_v: Some(p.beam_voltage_v),
        slice_thickness_nm: Some(d[0]),
        ..Default::default()
    };
    meta.databar_rows = Some(0);
    let grey = GreyVolume {
        data: gdata,
        voxel,
        meta: meta.clone(),
    };
    let clean = GreyVolume {
        data: cdata,
        voxel,
        meta,
    };
    let truth = AcqTruth {
        params: p.clone(),
        seed,
        image_shape: [nz, rows, nx],
        image_voxel_nm: [d[0], dy_img, d[2]],
        row_scale: 1.0 / sy,
        y_stretch: stretch,
        drift_px: drift,
        face_shift_px: face_shift,
        total_shift_px: total,
        stripes,
        saturated_low: lo,
        saturated_high: hi,
        fiducial: cap.map(|c| c.truth),
    };
    Ok(Rendered { grey, clean, truth })
}

/// Image rows of cap kept in view in every slice by the automatic cap thickness.
const MIN_CAP_ROWS: f64 = 12.0;
/// Image rows of `above_level` kept above the cap top in the highest slice.
const ABOVE_ROWS: usize = 6;
/// Of those, rows included at the top of the suggested ROI.
const ROI_ABOVE_ROWS: usize = 4;

/// The cap as laid out for one stack: image rows added on top, and the cap rendered once on
/// the truth grid (`ext_rows` truth rows above the sample, `margin` extra columns each side so
/// drift in x never shows the cap's end).
struct CapLayout {
    /// Image rows added above the sample's rows.
    top: usize,
    /// Truth rows of `block` (all above truth row 0).
    ext_rows: usize,
    margin: usize,
    /// `[ext_rows, nx + 2·margin]` grey levels; block row e is truth row e − ext_rows.
    block: Array2<f32>,
    truth: FiducialTruth,
}

impl CapLayout {
    /// `slice` (truth grid, ny × nx) below the cap block, columns padded by the margin with
    /// what `bilinear` would read there (`outside`, or the edge column when it is NaN).
    fn extend(&self, slice: &ArrayView2<f32>, outside: f32) -> Array2<f32> {
        let (ny, nx) = slice.dim();
        let m = self.margin;
        let w = nx + 2 * m;
        let mut e = Array2::<f32>::zeros((self.ext_rows + ny, w));
        e.slice_mut(ndarray::s![..self.ext_rows, ..])
            .assign(&self.block);
        for j in 0..ny {
            for i in 0..w {
                let xi = i as isize - m as isize;
                e[[self.ext_rows + j, i]] = if xi >= 0 && (xi as usize) < nx {
                    slice[[j, xi as usize]]
                } else if outside.is_nan() {
                    slice[[j, xi.clamp(0, nx as isize - 1) as usize]]
                } else {
                    outside
                };
            }
        }
        e
    }
}

/// Lay out the cap for a stack whose content moves by `total` (image px), `rows` sample image
/// rows, `nx` columns, truth row pitch `dy_truth` (nm) and `sy` truth rows per image row.
fn cap_layout(
    f: &FiducialParams,
    total: &[[f64; 2]],
    rows: usize,
    nx: usize,
    dy_truth: f64,
    sy: f64,
) -> CapLayout {
    let ty_min = total.iter().map(|t| t[0]).fold(f64::INFINITY, f64::min);
    let ty_max = total.iter().map(|t| t[0]).fold(f64::NEG_INFINITY, f64::max);
    let tx_abs = total.iter().map(|t| t[1].abs()).fold(0.0, f64::max);
    let excursion = ty_max - ty_min;
    // cap thickness in image rows, then truth rows
    let c_img = match f.thickness_nm {
        Some(t) => t / dy_truth / sy,
        None => (rows as f64 / 8.0).max(excursion + MIN_CAP_ROWS + 2.0 + 1.0 / sy),
    };
    let nc = c_img * sy;
    // the cap spans truth rows [−nc − ½, −½): pixel edges, as truth row 0 (the sample's top
    // row) covers [−½, ½)
    let v_top = -nc - 0.5;
    let head = (-ty_min).max(0.0).ceil() as usize + ABOVE_ROWS;
    let top = head + (-v_top / sy).ceil() as usize;
    let ext_rows = ((top as f64 + ty_max.max(0.0)) * sy).ceil() as usize + 2;
    let margin = tx_abs.ceil() as usize + 2;
    let marks: Vec<(f64, f64, f64, MarkShape)> = f
        .marks
        .iter()
        .map(|m| {
            (
                m.x_frac * nx as f64 - 0.5,
                0.5 * m.width_frac * nx as f64,
                m.depth_frac * nc,
                m.shape,
            )
        })
        .collect();
    let level = |v: f64, x: f64| -> f64 {
        if v < v_top {
            return f.above_level;
        }
        let j = v - v_top;
        for &(xc, hw, dm, shape) in &marks {
            if j < dm {
                let half = match shape {
                    MarkShape::V => hw * (1.0 - j / dm),
                    MarkShape::U => hw,
                };
                if (x - xc).abs() < half {
                    return f.mark_level;
                }
            }
        }
        f.cap_level
    };
    // area average over 5×5 sub-pixels of each truth pixel (antialiased edges)
    const SUB: usize = 5;
    let w = nx + 2 * margin;
    let block = Array2::from_shape_fn((ext_rows, w), |(e, i)| {
        let v0 = e as f64 - ext_rows as f64;
        let x0 = i as f64 - margin as f64;
        let mut s = 0.0;
        for a in 0..SUB {
            for b in 0..SUB {
                let dv = (a as f64 + 0.5) / SUB as f64 - 0.5;
                let dx = (b as f64 + 0.5) / SUB as f64 - 0.5;
                s += level(v0 + dv, x0 + dx);
            }
        }
        (s / (SUB * SUB) as f64) as f32
    });
    // image rows of the cap's top and bottom edge in slice k: top + ty_k + v/sy
    let cap_top = |ty: f64| top as f64 + ty + v_top / sy;
    let y0 = (cap_top(ty_min).floor() as usize).saturating_sub(ROI_ABOVE_ROWS);
    // last row whose bilinear sample stays at truth rows ≤ −1 (never touches the sample)
    let y1 = ((top as f64 + ty_min - 1.0 / sy).floor() + 1.0).max(0.0) as usize;
    let roi_cap_rows = y1 as f64 - cap_top(ty_max);
    let usable = y1 >= y0 + 8 && roi_cap_rows >= 4.0;
    let roi = usable.then_some([y0, 0, y1 - y0, nx]);
    let note = if usable {
        format!(
            "align on the cap: fibstack align IN OUT --roi {},{},{},{} ({:.1} rows of cap in every slice)",
            y0,
            0,
            y1 - y0,
            nx,
            roi_cap_rows
        )
    } else {
        format!(
            "no rectangle shows the cap in every slice: the cap is {c_img:.1} rows thick but the face shift and drift move it by {excursion:.1} rows; thicken the cap (thickness_nm) or use face tracking (tilt.face_shift = false)"
        )
    };
    let truth = FiducialTruth {
        thickness_nm: nc * dy_truth,
        cap_rows: c_img,
        rows_above_sample: top,
        cap_top_row: cap_top(0.0),
        marks: marks
            .iter()
            .map(|&(xc, hw, dm, shape)| MarkTruth {
                x_px: xc,
                width_px: 2.0 * hw,
                depth_rows: dm / sy,
                shape,
            })
            .collect(),
        roi_px: roi,
        roi_arg: roi.map(|r| format!("{},{},{},{}", r[0], r[1], r[2], r[3])),
        roi_cap_rows,
        note,
    };
    CapLayout {
        top,
        ext_rows,
        margin,
        block,
        truth,
    }
}

/// An output sample type.
trait Sample: Copy + Default + Send + Sync {
    fn from_q(q: u16) -> Self;
}
impl Sample for u8 {
    fn from_q(q: u16) -> Self {
        q.min(255) as u8
    }
}
impl Sample for u16 {
    fn from_q(q: u16) -> Self {
        q
    }
}

/// Everything a slice render needs.
struct SliceCtx<'a> {
    labels: &'a LabelVolume,
    p: &'a AcquisitionParams,
    rows: usize,
    sy: f64,
    total: &'a [[f64; 2]],
    stripes: &'a [StripeTruth],
    lut: &'a [f32],
    lmin: f32,
    lspan: f32,
    maxv: f32,
    outside: f32,
    seed: u64,
    cap: Option<&'a CapLayout>,
}

fn render_all<T: Sample>(
    ctx: &SliceCtx,
    nz: usize,
    nx: usize,
) -> (Array3<T>, Array3<T>, usize, usize) {
    let mut grey = Array3::<T>::default((nz, ctx.rows, nx));
    let mut clean = Array3::<T>::default((nz, ctx.rows, nx));
    let (lo, hi) = grey
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(clean.axis_iter_mut(Axis(0)).into_par_iter())
        .enumerate()
        .map(|(k, (g, c))| render_slice(ctx, k, g, c))
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    (grey, clean, lo, hi)
}

/// Render slice `k` into `out` (acquired) and `clean_out`; returns the saturated (low, high) counts.
fn render_slice<T: Sample>(
    ctx: &SliceCtx,
    k: usize,
    mut out: ndarray::ArrayViewMut2<T>,
    mut clean_out: ndarray::ArrayViewMut2<T>,
) -> (usize, usize) {
    let p = ctx.p;
    let labels = ctx.labels;
    let [nz, ny, nx] = labels.shape();
    let rows = ctx.rows;
    let lut = ctx.lut;
    let lab = labels.data.index_axis(Axis(0), k);
    let clean_truth = lab.mapv(|l| lut[l as usize]);
    let mut acq_truth = clean_truth.clone();
    let s = &p.shine_through;
    if s.enabled && s.model == ShineModel::Geometric {
        let g = s.geometric.clone().unwrap_or_default();
        let tilt = p.tilt.as_ref().map(|t| t.angle_deg);
        let shine = super::shine_geometric::shine_slice(labels, k, lut, tilt, &g);
        ndarray::Zip::from(&mut acq_truth)
            .and(&lab)
            .and(&shine)
            .for_each(|a, &l, &sh| {
                if l == 0 {
                    *a += sh.max(0.0);
                }
            });
    } else if s.enabled && s.strength > 0.0 && k + 1 < nz {
        let mut shine = Array2::<f32>::zeros((ny, nx));
        for j in 1..=s.depth_slices {
            if k + j >= nz {
                break;
            }
            let w = (s.strength * (-((j - 1) as f64) / s.decay_slices).exp()) as f32;
            let deeper = labels.data.index_axis(Axis(0), k + j);
            ndarray::Zip::from(&mut shine)
                .and(&deeper)
                .for_each(|a, &l| *a += w * (lut[l as usize] - lut[0]));
        }
        gaussian_blur(&mut shine, s.blur_px);
        ndarray::Zip::from(&mut acq_truth)
            .and(&lab)
            .and(&shine)
            .for_each(|a, &l, &sh| {
                if l == 0 {
                    *a += sh.max(0.0);
                }
            });
    }
    let (ty, tx) = (ctx.total[k][0], ctx.total[k][1]);
    let cv = clean_truth.view();
    let av = acq_truth.view();
    let mut clean_img = Array2::<f32>::zeros((rows, nx));
    let mut img = Array2::<f32>::zeros((rows, nx));
    match ctx.cap {
        None => {
            for r in 0..rows {
                let y = (r as f64 - ty) * ctx.sy;
                for c in 0..nx {
                    let x = c as f64 - tx;
                    clean_img[[r, c]] = bilinear(&cv, y, x, ctx.outside);
                    img[[r, c]] = bilinear(&av, y, x, ctx.outside);
                }
            }
        }
        Some(cap) => {
            // the same mapping on the truth slice with the cap block on top
            let ce = cap.extend(&cv, ctx.outside);
            let ae = cap.extend(&av, ctx.outside);
            let (ce, ae) = (ce.view(), ae.view());
            for r in 0..rows {
                let y = (r as f64 - cap.top as f64 - ty) * ctx.sy + cap.ext_rows as f64;
                for c in 0..nx {
                    let x = c as f64 - tx + cap.margin as f64;
                    clean_img[[r, c]] = bilinear(&ce, y, x, ctx.outside);
                    img[[r, c]] = bilinear(&ae, y, x, ctx.outside);
                }
            }
        }
    }
    if p.curtain.model == CurtainModel::Physical && !ctx.stripes.is_empty() {
        let hard = clean_img.mapv(|v| ((v - ctx.lmin) / ctx.lspan).clamp(0.0, 1.0));
        let mat = material_image(ctx, &lab, ty, tx);
        apply_physical(
            &mut img,
            hard.view(),
            mat.view(),
            ctx.stripes,
            &p.curtain,
            k,
            ctx.seed,
        );
    }
    for st in ctx
        .stripes
        .iter()
        .filter(|_| p.curtain.model == CurtainModel::Additive)
    {
        let c = &p.curtain;
        let t = st.angle_deg.to_radians().tan();
        let ph = st.evolution_rad_per_slice * k as f64;
        let (cw, sw) = (ph.cos() as f32, ph.sin() as f32);
        let a = 1.0 - (-1.0 / c.shadow_length_px).exp() as f32;
        let mut dens = vec![0f32; nx];
        let np = st.profile_a.len();
        for r in 0..rows {
            let shift = t * (r as f64 - rows as f64 * 0.5) - st.margin as f64;
            for (cidx, dn) in dens.iter_mut().enumerate() {
                let q = ((clean_img[[r, cidx]] - ctx.lmin) / ctx.lspan).clamp(0.0, 1.0);
                *dn += a * (q - *dn);
                let u = cidx as f64 - shift;
                let u0 = u.floor();
                let f = (u - u0) as f32;
                let i0 = (u0 as isize).clamp(0, np as isize - 1) as usize;
                let i1 = (i0 + 1).min(np - 1);
                let pa = st.profile_a[i0] * (1.0 - f) + st.profile_a[i1] * f;
                let pb = st.profile_b[i0] * (1.0 - f) + st.profile_b[i1] * f;
                let v = st.amplitude as f32 * (cw * pa + sw * pb);
                img[[r, cidx]] += v * (1.0 + c.shadow_gain as f32 * *dn);
            }
        }
    }
    if p.shading.enabled {
        let g = &p.shading;
        for r in 0..rows {
            let fy = g.gradient_y * (r as f64 / rows as f64 - 0.5);
            for c in 0..nx {
                let f = 1.0 + fy + g.gradient_x * (c as f64 / nx as f64 - 0.5);
                img[[r, c]] *= f as f32;
            }
        }
    }
    let mut rng = Rng::stream(ctx.seed ^ TAG_NOISE, k as u64);
    let n = &p.noise;
    let maxv = ctx.maxv as f64;
    let (mut lo, mut hi) = (0usize, 0usize);
    let counts = if n.counts_at_full_scale > 0.0 {
        n.counts_at_full_scale
    } else {
        0.0
    };
    let var_g = n.gaussian_sigma * n.gaussian_sigma;
    // standard normals come in pairs from Box–Muller
    let mut spare: Option<f64> = None;
    let mut normal = |rng: &mut Rng| -> f64 {
        if let Some(z) = spare.take() {
            return z;
        }
        let u1 = 1.0 - rng.uniform();
        let u2 = rng.uniform();
        let rad = (-2.0 * u1.ln()).sqrt();
        let (s2, c2) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        spare = Some(rad * s2);
        rad * c2
    };
    for (o, v) in out.iter_mut().zip(img.iter()) {
        let mut v = *v as f64;
        if n.enabled {
            let lambda = v.max(0.0) * counts;
            if counts > 0.0 && lambda < 30.0 {
                // exact Poisson for low counts, then the Gaussian part
                v = rng.poisson(lambda) / counts;
                if var_g > 0.0 {
                    v += n.gaussian_sigma * normal(&mut rng);
                }
            } else {
                // Poisson ≈ N(λ, λ) for λ ≥ 30, merged with the Gaussian part
                let var = if counts > 0.0 {
                    v.max(0.0) / counts
                } else {
                    0.0
                } + var_g;
                if var > 0.0 {
                    v += var.sqrt() * normal(&mut rng);
                }
            }
        }
        let q = (v * maxv).round();
        *o = if q <= 0.0 {
            lo += 1;
            T::from_q(0)
        } else if q >= maxv {
            hi += 1;
            T::from_q(maxv as u16)
        } else {
            T::from_q(q as u16)
        };
    }
    for (o, v) in clean_out.iter_mut().zip(clean_img.iter()) {
        *o = T::from_q((*v as f64 * maxv).round().clamp(0.0, maxv) as u16);
    }
    (lo, hi)
}

/// Fraction of material (label ≠ 0; in the cap, the deposit and its marks) of every image
/// pixel of slice `k`, through the same mapping as the grey image (physical curtains).
fn material_image(ctx: &SliceCtx, lab: &ArrayView2<u8>, ty: f64, tx: f64) -> Array2<f32> {
    let ind = lab.mapv(|l| f32::from(l != 0));
    let iv = ind.view();
    let (rows, nx) = (ctx.rows, lab.ncols());
    let mut out = Array2::<f32>::zeros((rows, nx));
    // outside the truth: material where the image shows the structure continuing (edge), else
    // what the outside level stands for (pore level: no material)
    let outside = if ctx.outside.is_nan() { f32::NAN } else { 0.0 };
    match ctx.cap {
        None => {
            for r in 0..rows {
                let y = (r as f64 - ty) * ctx.sy;
                for c in 0..nx {
                    out[[r, c]] = bilinear(&iv, y, c as f64 - tx, outside);
                }
            }
        }
        Some(cap) => {
            let f = ctx.p.fiducial.as_ref().expect("a cap has its parameters");
            let floor = f.above_level as f32;
            let solid = (f.cap_level.min(f.mark_level) as f32 - floor).max(1e-6);
            let mut e = cap.extend(&iv, outside);
            for ((j, i), v) in e.indexed_iter_mut() {
                if j < cap.ext_rows {
                    *v = ((cap.block[[j, i]] - floor) / solid).clamp(0.0, 1.0);
                }
            }
            let ev = e.view();
            for r in 0..rows {
                let y = (r as f64 - cap.top as f64 - ty) * ctx.sy + cap.ext_rows as f64;
                for c in 0..nx {
                    out[[r, c]] = bilinear(&ev, y, c as f64 - tx + cap.margin as f64, outside);
                }
            }
        }
    }
    out
}
