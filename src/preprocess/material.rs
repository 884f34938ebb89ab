//! The material / pore mask of one FIB-SEM slice, as used by the material-aware destriping
//! ([`crate::preprocess::destripe`]) and by the destriping score
//! ([`crate::preprocess::destripe::score`]).
//!
//! Curtains are grooves in the milled face: they exist where material is cut, not in the pores
//! (which show the structure behind the face). Pores are darker than the material (secondary
//! electrons escape less from the pore walls; epoxy infiltration is dark too). The mask is:
//!
//! 1. Gaussian smoothing of the slice with σ = `smooth_px` (reflected borders; 0 = none), so
//!    the noise and the curtains themselves hardly move the boundary;
//! 2. material = smoothed value **>** `threshold`; without a threshold, the Otsu threshold of
//!    the smoothed slice (256 bins over its range, scikit-image's `threshold_otsu`) — **if** the
//!    slice has two populations at all: Otsu's separability `η = σ²_between / σ²_total` must
//!    reach [`MIN_SEPARABILITY`] (0.75). The darker class is split again the same way while it
//!    is itself two populations (separability ≥ 0.75 and a histogram mode on each side with a
//!    valley between): pores are the darkest phase, so pore / lithium / copper splits at the
//!    pores, not above the lithium. A single population has `η ≤ 2/π ≈ 0.64` (a Gaussian
//!    histogram), two well-separated ones approach 1. Below it the slice is one material
//!    population with, at most, a few pores, and pores are its **dark outliers**: darker than
//!    the median by more than [`TAIL_SIGMAS`] (3) robust standard deviations
//!    (`1.4826 · median |v − median|`).
//!
//! So a slice that is nearly all material with thin dark pores or cracks (nacre, dense deposits)
//! gets a mask too. Give the threshold yourself when you know better (read it off the
//! histogram): the grey value below which a pixel is pore.
//!
//! ```
//! use fibstack::preprocess::material::{material_mask, MaterialMaskParams};
//! use ndarray::Array2;
//! let img = Array2::from_shape_fn((20, 20), |(_, x)| if x < 8 { 20.0 } else { 200.0 });
//! let (m, t) = material_mask(img.view(), &MaterialMaskParams::default()).unwrap();
//! assert!(!m[[5, 2]] && m[[5, 15]]);
//! let t = t.unwrap();
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
/// Smallest Otsu separability `σ²_between / σ²_total` of the automatic threshold.
pub const MIN_SEPARABILITY: f64 = 0.75;
/// One population: pores are darker than the median by more than this many robust σ.
pub const TAIL_SIGMAS: f64 = 3.0;

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

/// The material mask of one slice (`true` = material) and the threshold used (`None` only for
/// a flat slice: all material).
pub fn material_mask(
    slice: ArrayView2<f32>,
    p: &MaterialMaskParams,
) -> Result<(Array2<bool>, Option<f64>), ParamError> {
    p.validate()?;
    let s = if p.smooth_px > 0.0 {
        gaussian_2d(slice, [p.smooth_px, p.smooth_px], 4.0)
    } else {
        slice.to_owned()
    };
    let t = match p.threshold {
        Some(t) => Some(t),
        None => {
            let d = GreyData::F32(s.clone().insert_axis(Axis(0)));
            match histogram(&d, 256)? {
                Some(h) if h.max > h.min => {
                    let t = otsu(&h);
                    if separability(&s, t) >= MIN_SEPARABILITY {
                        Some(darkest_population(&s, t)?)
                    } else {
                        Some(dark_tail(&s))
                    }
                }
                _ => None,
            }
        }
    };
    Ok(match t {
        Some(t) => (s.mapv(|v| v as f64 > t), Some(t)),
        None => (Array2::from_elem(s.dim(), true), None),
    })
}

/// Split the class below `t` again while it is itself two populations (separability ≥
/// [`MIN_SEPARABILITY`] within it, at most three more times): the pores are the darkest
/// population, below every solid phase (e.g. pore / lithium / copper, pore / binder / oxide).
fn darkest_population(s: &Array2<f32>, mut t: f64) -> Result<f64, ParamError> {
    for _ in 0..3 {
        let low: Vec<f32> = s.iter().copied().filter(|&v| (v as f64) <= t).collect();
        if low.len() < 64 {
            break;
        }
        let a = Array2::from_shape_vec((1, low.len()), low).expect("one row");
        let d = GreyData::F32(a.clone().insert_axis(Axis(0)));
        let Some(h) = histogram(&d, 256)? else {
            break;
        };
        if h.max <= h.min {
            break;
        }
        let t2 = otsu(&h);
        if separability(&a, t2) < MIN_SEPARABILITY || !two_modes(a.as_slice().unwrap(), t2) {
            break;
        }
        t = t2;
    }
    Ok(t)
}

/// Whether the values have a mode on each side of `t`: on a 64-bin histogram, both sides hold
/// at least 5 % of the values, each side's peak bin holds at least 3× that side's mean count
/// per bin, and the emptiest bin between the two peaks holds less than half of the lower peak. (A population plus the thin tail of mixed pixels at its boundary with
/// another phase is not two populations, however large its separability.)
fn two_modes(v: &[f32], t: f64) -> bool {
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if hi <= lo {
        return false;
    }
    const NB: usize = 64;
    let mut h = [0usize; NB];
    let w = (hi - lo) as f64 / NB as f64;
    for &x in v {
        h[(((x - lo) as f64 / w) as usize).min(NB - 1)] += 1;
    }
    let tb = (((t - lo as f64) / w) as usize).min(NB - 1);
    let below: usize = h[..=tb].iter().sum();
    let n = v.len();
    if below * 20 < n || (n - below) * 20 < n || tb + 1 >= NB {
        return false;
    }
    let (p1, &m1) = h[..=tb]
        .iter()
        .enumerate()
        .max_by_key(|(_, c)| **c)
        .unwrap();
    let (p2, &m2) = h[tb + 1..]
        .iter()
        .enumerate()
        .max_by_key(|(_, c)| **c)
        .unwrap();
    let p2 = p2 + tb + 1;
    let valley = h[p1..=p2].iter().copied().min().unwrap_or(0);
    // a population is concentrated: its peak bin holds at least 3× its side's mean per bin
    // (the mixed pixels along a phase boundary spread thinly over the whole range between)
    let concentrated = |peak: usize, count: usize, bins: usize| peak * bins >= 3 * count;
    2 * valley < m1.min(m2)
        && concentrated(m1, below, tb + 1)
        && concentrated(m2, n - below, NB - tb - 1)
}

/// `median − TAIL_SIGMAS · 1.4826 · MAD` of the values.
pub fn dark_tail(img: &Array2<f32>) -> f64 {
    let mut v: Vec<f32> = img.iter().copied().collect();
    let med = median(&mut v);
    let mut d: Vec<f32> = img.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&mut d) as f64;
    med as f64 - TAIL_SIGMAS * 1.4826 * mad
}

fn median(v: &mut [f32]) -> f32 {
    let m = v.len() / 2;
    let (_, x, _) = v.select_nth_unstable_by(m, |a, b| a.total_cmp(b));
    *x
}

/// Otsu's separability of the split `> t`: between-class over total variance (f64 sums).
pub fn separability(img: &Array2<f32>, t: f64) -> f64 {
    let (mut n, mut s, mut s2) = ([0f64; 2], [0f64; 2], 0f64);
    for &v in img.iter() {
        let v = v as f64;
        let c = usize::from(v > t);
        n[c] += 1.0;
        s[c] += v;
        s2 += v * v;
    }
    let nt = n[0] + n[1];
    if n[0] == 0.0 || n[1] == 0.0 {
        return 0.0;
    }
    let mt = (s[0] + s[1]) / nt;
    let total = s2 / nt - mt * mt;
    let (m0, m1) = (s[0] / n[0], s[1] / n[1]);
    let between = n[0] * n[1] / (nt * nt) * (m1 - m0).powi(2);
    if total > 0.0 {
        between / total
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn one_population_is_all_material_two_are_split() {
        let mut rng = Rng::new(2);
        let one = Array2::from_shape_fn((64, 64), |_| 150.0 + 10.0 * rng.normal() as f32);
        let p = MaterialMaskParams {
            smooth_px: 0.0,
            ..Default::default()
        };
        let (m, t) = material_mask(one.view(), &p).unwrap();
        // one population: only its dark tail (beyond 3 robust σ: ~0.13 %) is pore
        let t1 = t.unwrap();
        assert!((t1 - 120.0).abs() < 3.0, "{t1}");
        let pores = m.iter().filter(|&&v| !v).count();
        assert!(pores < 30, "{pores}");
        // ... and a few dark pores in it are found
        let mut holes = one.clone();
        for y in 10..14 {
            for x in 0..64 {
                holes[[y, x]] = 60.0;
            }
        }
        let (m, _) = material_mask(holes.view(), &p).unwrap();
        assert!((10..14).all(|y| (0..64).all(|x| !m[[y, x]])));
        let two = Array2::from_shape_fn((64, 64), |(_, x)| {
            (if x < 20 { 40.0 } else { 160.0 }) + 10.0 * rng.normal() as f32
        });
        let (m, t) = material_mask(two.view(), &p).unwrap();
        let t = t.unwrap();
        assert!(t > 60.0 && t < 140.0, "{t}");
        let pores = m.iter().filter(|&&v| !v).count();
        assert!((pores as f64 / 4096.0 - 20.0 / 64.0).abs() < 0.01);
        // three populations: the pores are the darkest
        let three = Array2::from_shape_fn((64, 96), |(_, x)| {
            (if x < 30 {
                20.0
            } else if x < 80 {
                110.0
            } else {
                220.0
            }) + 5.0 * rng.normal() as f32
        });
        let (m, t) = material_mask(three.view(), &p).unwrap();
        let t = t.unwrap();
        assert!(t > 30.0 && t < 100.0, "{t}");
        assert!(m[[5, 50]] && !m[[5, 10]] && m[[5, 90]]);
        // a user threshold is always used
        let (m, t) = material_mask(
            one.view(),
            &MaterialMaskParams {
                threshold: Some(150.0),
                ..p
            },
        )
        .unwrap();
        assert_eq!(t, Some(150.0));
        assert!(m.iter().any(|&v| !v) && m.iter().any(|&v| v));
        // Gaussian: η = 2/π
        let g = Array2::from_shape_fn((200, 200), |_| rng.normal() as f32);
        let eta = separability(&g, 0.0);
        assert!((eta - 2.0 / std::f64::consts::PI).abs() < 0.02, "{eta}");
    }
}
