//! Stack destriping: curtains that persist from slice to slice, removed in the acquisition frame.
//!
//! Curtains are cut into the face by the ion beam. They sit at fixed detector columns and change
//! only slowly from one slice to the next (they follow the topography of the top edge, which
//! milling carries along), whereas the structure in a column changes with depth. A per-slice
//! filter (the FFT wedge, the wavelet–FFT) has to tell stripes from the structure's own vertical
//! features within one image; this method also uses the neighbouring slices. Per slice `k`:
//!
//! 1. column profile `m_k(x)`: the mean of column `x` over the rows of slice `k`;
//! 2. high-pass across columns: `h_k = m_k − G_σ ∗ m_k` (Gaussian of σ = `stack_sigma_px`,
//!    mirrored border as scipy's `reflect`, truncated at 4σ). Stripes narrower than σ stay,
//!    shading and slow trends go;
//! 3. average over the slices `k − w ..= k + w` that exist (`w` = `stack_window`; the window is
//!    cut at the ends of the stack, not padded): `v_k = mean h_k'`. The structure's column
//!    profile changes with depth and averages down; the stripes do not;
//! 4. subtract `v_k(x)` from every row of slice `k`.
//!
//! Only vertical curtains (stripe angle 0) are handled. The stripes must sit at the same columns
//! in every slice of the window, so run this **before** drift alignment, on the slices as
//! acquired (alignment moves each slice by its own x shift and smears the stripes).
//!
//! ```
//! use fibstack::preprocess::destripe::stack::{stack_stripe_profiles, subtract_profiles};
//! use ndarray::Array3;
//! // 6 slices of 4 rows: a structure that varies only with the row, plus a stripe at x = 5
//! let vol = Array3::from_shape_fn((6, 4, 12), |(_, r, x)| {
//!     r as f32 * 10.0 + if x == 5 { 3.0 } else { 0.0 }
//! });
//! let v = stack_stripe_profiles(vol.view(), 2, 3.0).unwrap();
//! let out = subtract_profiles(vol.view(), v.view());
//! // the stripe column now lies much closer to its neighbours
//! let step = |a: &Array3<f32>| (a[[0, 1, 5]] - a[[0, 1, 4]]).abs();
//! assert!(step(&out) < 0.3 * step(&vol));
//! ```

use crate::error::ParamError;
use crate::preprocess::denoise::{
    gaussian_kernel, map_grey_slices_typed, reflect_index, slice_f32,
};
use crate::preprocess::destripe::DestripeParams;
use crate::preprocess::material::material_mask;
use crate::volume::{GreyData, SampleType};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

/// Default half-width of the slice window (slices on each side).
pub const DEFAULT_STACK_WINDOW: usize = 16;
/// Default σ (px) of the cross-column high-pass: stripes narrower than this are removed.
pub const DEFAULT_STACK_SIGMA_PX: f64 = 16.0;

/// Check the two parameters of the stack method.
pub fn validate(window: usize, sigma_px: f64) -> Result<(), ParamError> {
    if !(sigma_px.is_finite() && (0.5..=10_000.0).contains(&sigma_px)) {
        return Err(ParamError::new(
            "stack sigma (px)",
            sigma_px,
            "must be a width in pixels in [0.5, 10000] (16 is the default)",
        ));
    }
    if window > 100_000 {
        return Err(ParamError::new(
            "stack window (slices)",
            window,
            "must be a half-width in slices (16 is the default)",
        ));
    }
    Ok(())
}

/// Mean of every column of one slice, high-passed across columns (steps 1–2).
pub fn column_highpass(slice: ArrayView2<f32>, sigma_px: f64) -> Vec<f64> {
    let (ny, nx) = slice.dim();
    let mut m = vec![0f64; nx];
    for row in slice.rows() {
        for (a, &v) in m.iter_mut().zip(row.iter()) {
            *a += v as f64;
        }
    }
    let inv = 1.0 / ny.max(1) as f64;
    m.iter_mut().for_each(|a| *a *= inv);
    let k = gaussian_kernel(sigma_px, 4.0);
    let r = (k.len() / 2) as isize;
    (0..nx)
        .map(|x| {
            let low: f64 = k
                .iter()
                .enumerate()
                .map(|(i, w)| w * m[reflect_index(x as isize + i as isize - r, nx)])
                .sum();
            m[x] - low
        })
        .collect()
}

/// Stripe profile of every slice, `[nz, nx]` (steps 1–3), for a `[z, y, x]` stack in the
/// acquisition frame.
pub fn stack_stripe_profiles(
    vol: ArrayView3<f32>,
    window: usize,
    sigma_px: f64,
) -> Result<Array2<f32>, ParamError> {
    validate(window, sigma_px)?;
    let (nz, _, nx) = vol.dim();
    let h: Vec<Vec<f64>> = vol
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|s| column_highpass(s, sigma_px))
        .collect();
    Ok(average_window(&h, nx, window, nz))
}

/// Step 3 from per-slice high-passed profiles (the window is cut at the stack's ends).
pub fn average_window(h: &[Vec<f64>], nx: usize, window: usize, nz: usize) -> Array2<f32> {
    let mut v = Array2::<f32>::zeros((nz, nx));
    for k in 0..nz {
        let lo = k.saturating_sub(window);
        let hi = (k + window).min(nz.saturating_sub(1));
        let n = (hi - lo + 1) as f64;
        for x in 0..nx {
            let s: f64 = h[lo..=hi].iter().map(|p| p[x]).sum();
            v[[k, x]] = (s / n) as f32;
        }
    }
    v
}

/// Step 4: subtract profile `v[k]` from every row of slice `k`.
pub fn subtract_profiles(vol: ArrayView3<f32>, v: ArrayView2<f32>) -> Array3<f32> {
    let mut out = vol.to_owned();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(v.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut s, p)| {
            for mut row in s.rows_mut() {
                row.iter_mut().zip(p.iter()).for_each(|(a, b)| *a -= b);
            }
        });
    out
}

/// The stack method on a stored volume: profiles from the slices (each converted to f32 on its
/// own), then each slice minus its profile, stored as `out_type`. The side values are the
/// removed energy per slice, `‖in − out‖² / ‖in − mean(in)‖²` (dimensionless; 0 for a flat
/// slice).
pub fn destripe_grey(
    data: &GreyData,
    p: &DestripeParams,
    out_type: SampleType,
) -> Result<(GreyData, Vec<f64>), ParamError> {
    validate(p.stack_window, p.stack_sigma_px)?;
    let [nz, _, nx] = data.shape();
    if p.material_aware {
        let h = masked_profiles(data, p)?;
        let v = average_window_masked(&h, nx, p.stack_window, nz);
        return divide_grey(data, v.view(), 0, p, out_type);
    }
    let h = highpass_profiles(data, p.stack_sigma_px);
    let v = average_window(&h, nx, p.stack_window, nz);
    subtract_grey(data, v.view(), 0, out_type)
}

/// Material-aware step 1–2 of one slice: the mean of the **material** pixels of every column
/// `m(x)` (`None` where a column has none), its low-pass `L(x)` by a Gaussian (σ =
/// `sigma_px`) over the columns that have material (normalised convolution, mirrored border),
/// and the relative profile `m(x)/L(x) − 1`. Curtains are grooves whose contrast scales with
/// the material's signal, so the profile is relative and is divided out.
pub fn column_highpass_masked(
    slice: ArrayView2<f32>,
    mask: &Array2<bool>,
    sigma_px: f64,
) -> Vec<Option<f64>> {
    let nx = slice.ncols();
    let mut s = vec![0f64; nx];
    let mut c = vec![0usize; nx];
    for (row, mrow) in slice.rows().into_iter().zip(mask.rows()) {
        for x in 0..nx {
            if mrow[x] {
                s[x] += row[x] as f64;
                c[x] += 1;
            }
        }
    }
    let m: Vec<Option<f64>> = s
        .iter()
        .zip(&c)
        .map(|(a, &k)| (k > 0).then(|| a / k as f64))
        .collect();
    let k = gaussian_kernel(sigma_px, 4.0);
    let r = (k.len() / 2) as isize;
    (0..nx)
        .map(|x| {
            let mx = m[x]?;
            let (mut num, mut den) = (0f64, 0f64);
            for (i, w) in k.iter().enumerate() {
                if let Some(v) = m[reflect_index(x as isize + i as isize - r, nx)] {
                    num += w * v;
                    den += w;
                }
            }
            let low = num / den;
            (low.abs() > 1e-12).then(|| mx / low - 1.0)
        })
        .collect()
}

/// Material-aware profiles of every slice (mask of each slice from the slice itself).
pub fn masked_profiles(
    data: &GreyData,
    p: &DestripeParams,
) -> Result<Vec<Vec<Option<f64>>>, ParamError> {
    let mp = p.material_mask();
    (0..data.shape()[0])
        .into_par_iter()
        .map(|k| {
            let s = slice_f32(data, k);
            let (mask, _) = material_mask(s.view(), &mp)?;
            Ok(column_highpass_masked(s.view(), &mask, p.stack_sigma_px))
        })
        .collect()
}

/// Step 3 with gaps: the mean of the relative profiles over the slices of the window in which
/// the column has material (0 where it has none in the whole window).
pub fn average_window_masked(
    h: &[Vec<Option<f64>>],
    nx: usize,
    window: usize,
    nz: usize,
) -> Array2<f32> {
    let mut v = Array2::<f32>::zeros((nz, nx));
    for k in 0..nz {
        let lo = k.saturating_sub(window);
        let hi = (k + window).min(nz.saturating_sub(1));
        for x in 0..nx {
            let (mut s, mut n) = (0f64, 0usize);
            for p in &h[lo..=hi] {
                if let Some(a) = p[x] {
                    s += a;
                    n += 1;
                }
            }
            v[[k, x]] = if n > 0 { (s / n as f64) as f32 } else { 0.0 };
        }
    }
    v
}

/// Material-aware step 4: the material pixels of slice `k` divided by `1 + v[z0 + k](x)`, the
/// pores left as they are; stored as `out_type`. Side values: `‖in − out‖² / ‖in − mean‖²`.
pub fn divide_grey(
    data: &GreyData,
    v: ArrayView2<f32>,
    z0: usize,
    p: &DestripeParams,
    out_type: SampleType,
) -> Result<(GreyData, Vec<f64>), ParamError> {
    let mp = p.material_mask();
    map_grey_slices_typed(data, out_type, |k, s| {
        let prof = v.row(z0 + k);
        let (mask, _) = material_mask(s, &mp)?;
        let mut out = s.to_owned();
        ndarray::Zip::indexed(&mut out)
            .and(&mask)
            .for_each(|(_, x), o, &m| {
                let f = 1.0 + prof[x];
                if m && f > 0.05 {
                    *o /= f;
                }
            });
        let frac = crate::preprocess::destripe::vsnr::removed_fraction(s, out.view());
        Ok((out, frac))
    })
}

/// Steps 1–2 for every slice of stored data (each converted to f32 on its own).
pub fn highpass_profiles(data: &GreyData, sigma_px: f64) -> Vec<Vec<f64>> {
    (0..data.shape()[0])
        .into_par_iter()
        .map(|k| column_highpass(slice_f32(data, k).view(), sigma_px))
        .collect()
}

/// Step 4 on stored slices: slice `k` of `data` minus profile `v[z0 + k]`, stored as
/// `out_type` (u8/u16 rounded and clamped). Side values: removed energy per slice,
/// `‖in − out‖² / ‖in − mean(in)‖²`. Used on the whole stack and slab by slab (streaming).
pub fn subtract_grey(
    data: &GreyData,
    v: ArrayView2<f32>,
    z0: usize,
    out_type: SampleType,
) -> Result<(GreyData, Vec<f64>), ParamError> {
    map_grey_slices_typed(data, out_type, |k, s| {
        let prof = v.row(z0 + k);
        let n = s.len().max(1) as f64;
        let mean = s.iter().map(|&a| a as f64).sum::<f64>() / n;
        let (mut num, mut den) = (0f64, 0f64);
        let mut out = s.to_owned();
        for mut row in out.rows_mut() {
            for (a, &b) in row.iter_mut().zip(prof.iter()) {
                den += (*a as f64 - mean).powi(2);
                num += (b as f64).powi(2);
                *a -= b;
            }
        }
        Ok((out, if den > 0.0 { num / den } else { 0.0 }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Naive twin: every sum written out, no running state, f64 throughout.
    fn naive(vol: &Array3<f32>, w: usize, sigma: f64) -> Array3<f64> {
        let (nz, ny, nx) = vol.dim();
        let r = (4.0 * sigma + 0.5).floor() as isize;
        let raw: Vec<f64> = (-r..=r)
            .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
            .collect();
        let sum: f64 = raw.iter().sum();
        let refl = |i: isize| -> usize {
            // scipy "reflect": d c b a | a b c d | d c b a
            let n = nx as isize;
            let mut i = i;
            loop {
                if i < 0 {
                    i = -i - 1;
                } else if i >= n {
                    i = 2 * n - i - 1;
                } else {
                    return i as usize;
                }
            }
        };
        let mean =
            |k: usize, x: usize| (0..ny).map(|y| vol[[k, y, x]] as f64).sum::<f64>() / ny as f64;
        let hp = |k: usize, x: usize| {
            let low: f64 = (-r..=r)
                .map(|i| raw[(i + r) as usize] / sum * mean(k, refl(x as isize + i)))
                .sum();
            mean(k, x) - low
        };
        Array3::from_shape_fn((nz, ny, nx), |(k, y, x)| {
            let lo = k.saturating_sub(w);
            let hi = (k + w).min(nz - 1);
            let v: f64 = (lo..=hi).map(|j| hp(j, x)).sum::<f64>() / (hi - lo + 1) as f64;
            vol[[k, y, x]] as f64 - v
        })
    }

    #[test]
    fn matches_naive_twin_on_random_stacks() {
        for seed in 0..12u64 {
            let mut rng = Rng::new(seed);
            let nz = 1 + (rng.uniform() * 9.0) as usize;
            let ny = 1 + (rng.uniform() * 7.0) as usize;
            let nx = 2 + (rng.uniform() * 30.0) as usize;
            let w = (rng.uniform() * 5.0) as usize;
            let sigma = 0.5 + rng.uniform() * 6.0;
            let vol = Array3::from_shape_fn((nz, ny, nx), |_| (rng.uniform() * 200.0) as f32);
            let v = stack_stripe_profiles(vol.view(), w, sigma).unwrap();
            let out = subtract_profiles(vol.view(), v.view());
            let want = naive(&vol, w, sigma);
            for (a, b) in out.iter().zip(want.iter()) {
                assert!((*a as f64 - b).abs() < 1e-3, "seed {seed}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn persistent_stripes_on_a_row_structure_are_removed() {
        // structure constant along x (its column profile has no high-pass part), stripes fixed
        // in x with zero high-pass low part: a sum of narrow bumps far from the borders
        let (nz, ny, nx) = (20, 16, 200);
        let mut stripe = vec![0f64; nx];
        let mut rng = Rng::new(7);
        for c in (40..160).step_by(9) {
            let a = rng.uniform() * 20.0 - 10.0;
            for (x, s) in stripe.iter_mut().enumerate() {
                let d = x as f64 - c as f64;
                *s += a * (-(d * d) / 2.0).exp();
            }
        }
        let vol = Array3::from_shape_fn((nz, ny, nx), |(k, y, x)| {
            (50.0 + 3.0 * y as f64 + k as f64 + stripe[x]) as f32
        });
        let v = stack_stripe_profiles(vol.view(), 4, 16.0).unwrap();
        let out = subtract_profiles(vol.view(), v.view());
        // what is left of the stripes is their own low-pass (a slow ripple): small
        let resid: f64 = (0..nx)
            .map(|x| {
                let d = out[[3, 5, x]] as f64 - (50.0 + 15.0 + 3.0);
                d * d
            })
            .sum::<f64>()
            / nx as f64;
        let energy: f64 = stripe.iter().map(|s| s * s).sum::<f64>() / nx as f64;
        assert!(resid < 0.05 * energy, "residual {resid} of {energy}");
    }

    #[test]
    fn structure_that_changes_with_depth_averages_down() {
        // a stripe pattern fixed over all slices plus a random column structure new in every
        // slice: the window average keeps the stripes and shrinks the structure's share ~1/√n
        let (nz, ny, nx) = (33, 8, 128);
        let mut rng = Rng::new(3);
        let stripe: Vec<f64> = (0..nx).map(|_| rng.uniform() * 10.0 - 5.0).collect();
        let cols: Vec<Vec<f64>> = (0..nz)
            .map(|_| (0..nx).map(|_| rng.uniform() * 40.0 - 20.0).collect())
            .collect();
        let vol = Array3::from_shape_fn((nz, ny, nx), |(k, _, x)| {
            (100.0 + stripe[x] + cols[k][x]) as f32
        });
        let err = |w: usize| {
            let v = stack_stripe_profiles(vol.view(), w, 16.0).unwrap();
            let hp = column_highpass(
                Array2::from_shape_fn((1, nx), |(_, x)| stripe[x] as f32).view(),
                16.0,
            );
            (0..nx)
                .map(|x| (v[[16, x]] as f64 - hp[x]).powi(2))
                .sum::<f64>()
                / nx as f64
        };
        let (e0, e16) = (err(0), err(16));
        assert!(e16 < e0 / 20.0, "window 0: {e0}, window 16: {e16}");
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(validate(16, 0.2).is_err());
        assert!(validate(16, f64::NAN).is_err());
        assert!(validate(1_000_000, 3.0).is_err());
        assert!(validate(0, 0.5).is_ok());
    }
}
