//! The second shine-through model: **geometric visibility with an electron-range depth kernel**.
//!
//! The default model (`exponential`, in `acquisition`) adds to a pore pixel of slice k the
//! contrast of the slices k+1…k+n straight behind it, weighted strength·exp(−(j−1)/decay) and
//! blurred. This model instead follows the physics of what the SEM sees through a pore opening:
//!
//! 1. **Line of sight.** The electron column looks at the milled face from above at the tilt θ
//!    (52°), so the ray through face pixel (y, x) runs into the sample and down: at depth d
//!    behind the face it is at row y + d·cot θ (truth rows of dy nm; cot 52° = 0.78). Face-on
//!    images (no tilt) look straight back.
//! 2. **Visibility.** The ray crosses the pore until it meets the first solid voxel: the pore
//!    wall below or the back surface behind. Only that first surface is seen; everything behind
//!    it is hidden (occlusion), and a ray that leaves the volume sees nothing.
//! 3. **Depth kernel.** The signal from a surface at depth d is weighted by the fraction of the
//!    interaction volume that still reaches the face, modelled as (1 − d/R)² for d < R and 0
//!    beyond the electron range R (Kanaya–Okayama range: ≈ 100 nm at 2 kV in carbon-rich
//!    matter).
//! 4. **Lateral spread.** The interaction volume blurs the result in-plane (Gaussian σ in nm).
//!
//! Added grey (normalised) = strength · (1 − d/R)² · (level(wall) − level(pore)), pore pixels
//! only. Compared with the exponential model it sees pore *walls* (an edge brightening on the
//! side of the pore the beam looks down onto, even in one slice), hides material behind the
//! first surface, and depends on the beam geometry and energy rather than on a per-slice decay.

use crate::error::{in_range, ParamError};
use crate::volume::LabelVolume;
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

/// Parameters of the geometric model (`[acquisition.shine_through.geometric]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeometricShineParams {
    /// Fraction of the wall's contrast seen at zero depth, in [0, 1].
    pub strength: f64,
    /// Electron range R (nm): surfaces deeper than R behind the face are not seen.
    pub range_nm: f64,
    /// Lateral spread σ (nm) of the interaction volume (in-plane Gaussian blur).
    pub lateral_nm: f64,
}

impl Default for GeometricShineParams {
    fn default() -> Self {
        GeometricShineParams {
            strength: 0.6,
            range_nm: 100.0,
            lateral_nm: 20.0,
        }
    }
}

impl GeometricShineParams {
    /// Check every value.
    pub fn validate(&self) -> Result<(), ParamError> {
        in_range("shine_through geometric strength", self.strength, 0.0, 1.0)?;
        in_range("shine_through geometric range_nm", self.range_nm, 1e-3, 1e5)?;
        in_range(
            "shine_through geometric lateral_nm",
            self.lateral_nm,
            0.0,
            1e5,
        )?;
        Ok(())
    }
}

/// Depth kernel: (1 − d/R)² for 0 ≤ d < R, else 0.
#[inline]
pub fn depth_weight(d_nm: f64, range_nm: f64) -> f64 {
    if d_nm < 0.0 || d_nm >= range_nm {
        0.0
    } else {
        let u = 1.0 - d_nm / range_nm;
        u * u
    }
}

/// The first non-pore voxel on the line of sight through pore voxel `(k, y, x)`: `(label, depth
/// nm)`, or `None` when the ray leaves the volume or passes the range first. `cot` = cot θ (0
/// face-on). Marches in steps of a quarter of the smaller of dz and dy.
pub fn first_surface(
    labels: &LabelVolume,
    k: usize,
    y: usize,
    x: usize,
    cot: f64,
    range_nm: f64,
) -> Option<(u8, f64)> {
    let [nz, ny, _] = labels.shape();
    let [dz, dy, _] = labels.voxel.nm;
    let step = 0.25 * dz.min(dy);
    let mut d = 0.5 * step;
    while d < range_nm {
        let z = k + (d / dz) as usize;
        let yy = (y as f64 + d * cot / dy).round();
        if z >= nz || yy >= ny as f64 {
            return None;
        }
        let l = labels.data[[z, yy as usize, x]];
        if l != 0 {
            return Some((l, d));
        }
        d += step;
    }
    None
}

/// The shine-through of slice `k` (truth grid, normalised grey; zero outside pores): what each
/// pore pixel sees along its line of sight, weighted by the depth kernel, then blurred.
/// `lut[l]` = grey level of label l, `tilt_deg` = θ (`None` = face-on).
pub fn shine_slice(
    labels: &LabelVolume,
    k: usize,
    lut: &[f32],
    tilt_deg: Option<f64>,
    p: &GeometricShineParams,
) -> Array2<f32> {
    let [_, ny, nx] = labels.shape();
    let cot = tilt_deg.map(|t| 1.0 / t.to_radians().tan()).unwrap_or(0.0);
    let lab = labels.data.index_axis(Axis(0), k);
    let mut out = Array2::<f32>::zeros((ny, nx));
    for y in 0..ny {
        for x in 0..nx {
            if lab[[y, x]] != 0 {
                continue;
            }
            if let Some((l, d)) = first_surface(labels, k, y, x, cot, p.range_nm) {
                let w = p.strength * depth_weight(d, p.range_nm);
                out[[y, x]] = (w as f32) * (lut[l as usize] - lut[0]);
            }
        }
    }
    let sigma_px = p.lateral_nm / labels.voxel.nm[2];
    super::acquisition::gaussian_blur(&mut out, sigma_px);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{VoxelSize, VoxelSource};
    use ndarray::Array3;

    fn vol(a: Array3<u8>) -> LabelVolume {
        LabelVolume::new(
            a,
            VoxelSize::new([20.0, 20.0, 20.0], VoxelSource::CommandLine),
        )
    }

    /// Face-on, a wall 2 slices behind a pore: seen at depth 2·dz (first sample inside it),
    /// weight (1 − d/R)²; behind a nearer wall it is hidden; beyond R nothing is seen.
    #[test]
    fn face_on_back_wall_by_hand() {
        let mut a = Array3::<u8>::zeros((6, 4, 4));
        a.slice_mut(ndarray::s![2.., .., ..]).fill(1);
        let l = vol(a);
        let (lab, d) = first_surface(&l, 0, 1, 1, 0.0, 100.0).unwrap();
        assert_eq!(lab, 1);
        // steps of 5 nm from 2.5 nm: the first sample at z ≥ 40 nm is 42.5 nm
        assert!((d - 42.5).abs() < 1e-9, "{d}");
        assert!(first_surface(&l, 0, 1, 1, 0.0, 40.0).is_none());
        assert_eq!(depth_weight(50.0, 100.0), 0.25);
        assert_eq!(depth_weight(100.0, 100.0), 0.0);
        // occlusion: a nearer wall of label 2 in slice 1 hides label 1 behind it
        let mut b = l.data.clone();
        b[[1, 1, 1]] = 2;
        let (lab, _) = first_surface(&vol(b), 0, 1, 1, 0.0, 100.0).unwrap();
        assert_eq!(lab, 2);
    }

    /// At 52° the ray runs down the image: a pore above a solid floor in the same slice sees the
    /// floor (the pore wall below it) at depth (rows to the floor)·dy·tan θ; a pore below the
    /// solid (ceiling above) does not see it.
    #[test]
    fn oblique_line_of_sight_sees_the_wall_below() {
        let mut a = Array3::<u8>::zeros((8, 10, 3));
        a.slice_mut(ndarray::s![.., 5..7, ..]).fill(1); // a solid band, rows 5–6
        let l = vol(a);
        let cot = 1.0 / 52f64.to_radians().tan();
        // pore row 4 (just above the band): needs 0.5 row → d ≈ 0.5·20/cot ≈ 12.8 nm
        let (lab, d) = first_surface(&l, 0, 4, 1, cot, 200.0).unwrap();
        assert_eq!(lab, 1);
        let want = 0.5 * 20.0 / cot;
        assert!((d - want).abs() <= 5.0, "{d} vs {want}");
        // pore row 8 (below the band): the ray goes further down, never meets it
        assert!(first_surface(&l, 0, 8, 1, cot, 200.0).is_none());
        // face-on the same pore row 4 sees nothing (the band is in-plane, not behind)
        assert!(first_surface(&l, 0, 4, 1, 0.0, 200.0).is_none());
    }
}
