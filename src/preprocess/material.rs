//! The material / pore mask of one FIB-SEM slice, as used by the material-aware destriping
//! ([`crate::preprocess::destripe`]) and by the destriping score
//! ([`crate::preprocess::destripe_score`]).
//!
//! Curtains are grooves in the milled face: they exist where material is cut, not in the pores
//! (which show the structure behind the face). Pores are darker than the material (secondary
//! electrons escape less from the pore walls; epoxy infiltration is dark too). The mask is:
//!
//! 1. Gaussian smoothing of the slice with σ = `smooth_px` (reflected borders; 0 = none), so
//!    the noise and the curtains themselves hardly move the boundary;
//! 2. material = smoothed value **>** `threshold`; without a threshold, the Otsu threshold of
//!    the smoothed slice (256 bins over its range, scikit-image's `threshold_otsu`).
//!
//! Otsu assumes two populations; on a slice that is nearly all material (nacre, dense
//! deposits) it splits the material itself, so give the threshold there (read it off the
//! histogram, e.g. `fibstack info`/ImageJ): the grey value below which a pixel is pore.
//!
//! ```
//! use fibstack::preprocess::material::{material_mask, MaterialMaskParams};
//! use ndarray::Array2;
//! let img = Array2::from_shape_fn((20, 20), |(_, x)| if x < 8 { 20.0 } else { 200.0 });
//! let (m, t) = material_mask(img.view(), &MaterialMaskParams::default()).unwrap();
//! assert!(!m[[5, 2]] && m[[5, 15]]);
//! assert!(t > 20.0 && t < 200.0);
//! ```

use crate::error::ParamError;
use crate::preprocess::denoise::gaussian_2d;
use crate::segment::histogram::histogram;
use crate::segment::otsu::otsu;
use crate::volume::GreyData;
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Default Gaussian σ (px) before thresholding.
pub const DEFAULT_MASK_SMOOTH_PX: f64 = 2.0;

/// How the material / pore mask of a slice is made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaterialMaskParams {
    /// Grey value (of the smoothed slice, in the input's units) above which a pixel is
    /// material; `None` = Otsu of the smoothed slice.
    pub threshold: Option<f64>,
    /// Gaussian σ (px) of the smoothing before the threshold (≥ 0; 0 = none).
    pub smooth_px: f64,
}

impl Default for MaterialMaskParams {
    fn default() -> Self {
        MaterialMaskParams {
            threshold: None,
            smooth_px: DEFAULT_MASK_SMOOTH_PX,
        }
    }
}

impl MaterialMaskParams {
    /// Check the values.
    pub fn validate(&self) -> Result<(), ParamError> {
        if !(self.smooth_px.is_finite() && (0.0..=100.0).contains(&self.smooth_px)) {
            return Err(ParamError::new(
                "material smooth (px)",
                self.smooth_px,
                "must be a Gaussian sigma in pixels in [0, 100] (2 is the default)",
            ));
        }
        if let Some(t) = self.threshold {
            if !t.is_finite() {
                return Err(ParamError::new(
                    "material threshold",
                    t,
                    "must be a finite grey value (pixels brighter than it are material)",
                ));
            }
        }
        Ok(())
    }
}

/// The material mask of one slice (`true` = material) and the threshold used.
pub fn material_mask(
    slice: ArrayView2<f32>,
    p: &MaterialMaskParams,
) -> Result<(Array2<bool>, f64), ParamError> {
    p.validate()?;
    let s = if p.smooth_px > 0.0 {
        gaussian_2d(slice, [p.smooth_px, p.smooth_px], 4.0)
    } else {
        slice.to_owned()
    };
    let t = match p.threshold {
        Some(t) => t,
        None => {
            let d = GreyData::F32(s.clone().insert_axis(Axis(0)));
            match histogram(&d, 256)? {
                Some(h) => otsu(&h),
                None => 0.0,
            }
        }
    };
    Ok((s.mapv(|v| v as f64 > t), t))
}
