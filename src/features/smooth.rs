//! Smoothing-type features: Gaussian (the `preprocess::denoise` kernel), local min/max/mean.

use crate::preprocess::denoise::{gaussian_2d, reflect_index};
use ndarray::{Array2, ArrayView2};

/// From this σ (pixels, on both axes) on, [`gaussian`] uses the recursive Gaussian of
/// `preprocess::denoise` (cost independent of σ; within 3·10⁻⁴ of the input range of the exact
/// kernel) instead of the sampled kernel, which is cheaper below it.
pub const RECURSIVE_FROM_PX: f64 = 5.0;

/// G_σ of one slice, σ = `[σy, σx]` pixels (truncated at 4σ, reflect borders): the sampled
/// kernel, or the recursive Gaussian when both σ are at least [`RECURSIVE_FROM_PX`].
pub fn gaussian(img: ArrayView2<f32>, sigma_px: [f64; 2]) -> Array2<f32> {
    if sigma_px[0].min(sigma_px[1]) >= RECURSIVE_FROM_PX {
        crate::preprocess::denoise::gaussian_2d_recursive(img, sigma_px, 4.0)
    } else {
        gaussian_2d(img, sigma_px, 4.0)
    }
}

/// One separable box pass along x (`axis = 1`) or y (`axis = 0`) with half-width `r`: running
/// minimum, maximum and sum over reflected indices.
fn box_pass(a: ArrayView2<f32>, r: usize, axis: usize) -> [Array2<f32>; 3] {
    let (ny, nx) = a.dim();
    let mut mn = Array2::<f32>::zeros((ny, nx));
    let mut mx = Array2::<f32>::zeros((ny, nx));
    let mut sm = Array2::<f32>::zeros((ny, nx));
    let n = if axis == 1 { nx } else { ny };
    for y in 0..ny {
        for x in 0..nx {
            let c = if axis == 1 { x } else { y };
            let (mut lo, mut hi, mut s) = (f32::INFINITY, f32::NEG_INFINITY, 0.0f32);
            for k in -(r as isize)..=r as isize {
                let i = reflect_index(c as isize + k, n);
                let v = if axis == 1 { a[[y, i]] } else { a[[i, x]] };
                lo = lo.min(v);
                hi = hi.max(v);
                s += v;
            }
            mn[[y, x]] = lo;
            mx[[y, x]] = hi;
            sm[[y, x]] = s;
        }
    }
    [mn, mx, sm]
}

/// Minimum, maximum and mean over the box of half-widths `r = [ry, rx]` pixels (reflect borders;
/// for min and max that is the box clipped to the image).
pub fn local_min_max_mean(
    img: ArrayView2<f32>,
    r: [usize; 2],
) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let [mn1, mx1, sm1] = box_pass(img, r[1], 1);
    let mn = box_pass(mn1.view(), r[0], 0)[0].clone();
    let mx = box_pass(mx1.view(), r[0], 0)[1].clone();
    let sm = box_pass(sm1.view(), r[0], 0)[2].clone();
    let n = ((2 * r[0] + 1) * (2 * r[1] + 1)) as f32;
    (mn, mx, sm.mapv(|v| v / n))
}

/// Box minimum and maximum only (depth-context features).
pub fn local_min_max(img: ArrayView2<f32>, r: [usize; 2]) -> (Array2<f32>, Array2<f32>) {
    let [mn1, mx1, _] = box_pass(img, r[1], 1);
    let mn = box_pass(mn1.view(), r[0], 0)[0].clone();
    let mx = box_pass(mx1.view(), r[0], 0)[1].clone();
    (mn, mx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(ny: usize, nx: usize, seed: u64) -> Array2<f32> {
        let mut r = Rng::new(seed);
        Array2::from_shape_fn((ny, nx), |_| (r.uniform() * 100.0) as f32)
    }

    /// Naive twin: every box element visited directly with reflected indices.
    #[test]
    fn local_matches_naive_box() {
        for (seed, r) in [(1u64, [1usize, 2usize]), (2, [3, 1]), (3, [2, 2])] {
            let a = random(9, 11, seed);
            let (mn, mx, me) = local_min_max_mean(a.view(), r);
            let (ny, nx) = a.dim();
            for y in 0..ny {
                for x in 0..nx {
                    let mut v = Vec::new();
                    for dy in -(r[0] as isize)..=r[0] as isize {
                        for dx in -(r[1] as isize)..=r[1] as isize {
                            v.push(
                                a[[
                                    reflect_index(y as isize + dy, ny),
                                    reflect_index(x as isize + dx, nx),
                                ]],
                            );
                        }
                    }
                    let lo = v.iter().cloned().fold(f32::INFINITY, f32::min);
                    let hi = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let mean = v.iter().map(|&q| q as f64).sum::<f64>() / v.len() as f64;
                    assert_eq!(mn[[y, x]], lo);
                    assert_eq!(mx[[y, x]], hi);
                    assert!((me[[y, x]] as f64 - mean).abs() < 1e-3, "{y} {x}");
                }
            }
            let (mn2, mx2) = local_min_max(a.view(), r);
            assert_eq!(mn2, mn);
            assert_eq!(mx2, mx);
        }
    }

    /// Naive twin of the Gaussian feature: direct 2-D sum of the sampled kernel (exactly for
    /// small σ; within 1·10⁻³ of the range where the recursive Gaussian serves).
    #[test]
    fn gaussian_matches_direct_sum() {
        for (s, tol) in [([1.3, 0.7], 1e-3), ([5.0, 6.5], 0.1), ([7.0, 12.0], 0.1)] {
            gaussian_direct(s, tol);
        }
    }

    fn gaussian_direct(s: [f64; 2], tol: f64) {
        let a = random(12, 10, 4);
        let g = gaussian(a.view(), s);
        let k = |sig: f64| crate::preprocess::denoise::gaussian_kernel(sig, 4.0);
        let (ky, kx) = (k(s[0]), k(s[1]));
        let (ry, rx) = ((ky.len() / 2) as isize, (kx.len() / 2) as isize);
        for y in 0..12isize {
            for x in 0..10 {
                let mut v = 0.0f64;
                for i in -ry..=ry {
                    for j in -rx..=rx {
                        v += ky[(i + ry) as usize]
                            * kx[(j + rx) as usize]
                            * a[[reflect_index(y + i, 12), reflect_index(x as isize + j, 10)]]
                                as f64;
                    }
                }
                assert!((g[[y as usize, x]] as f64 - v).abs() < tol, "{s:?} {y} {x}");
            }
        }
    }
}
