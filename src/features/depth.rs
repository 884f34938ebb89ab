//! Depth-context features: what lies behind the face. Shine-through shows the material of the
//! next slices in milling order through a pore, so the classifier sees, for each of the next
//! `depth_slices` slices j = 1…k, the smoothed grey value G_σd at the same pixel and its
//! minimum and maximum over a box of half-width σd. Past the end of the stack the last slice is
//! repeated (edge mode), so a slab needs at most k slices beyond its end.

use super::smooth::{gaussian, local_min_max};
use super::{half_width, sigma_px, FeatureParams};
use ndarray::{Array2, ArrayView2};

/// Index of the slice `j` slices behind `z` (edge-clamped).
pub fn behind(z: usize, j: usize, nz: usize, reverse: bool) -> usize {
    if reverse {
        z.saturating_sub(j)
    } else {
        (z + j).min(nz - 1)
    }
}

/// The `3·depth_slices` depth planes of slice `z`: for j = 1…k, mean (G_σd), min, max.
pub fn depth_planes<'a>(
    slice: &dyn Fn(usize) -> ArrayView2<'a, f32>,
    z: usize,
    nz: usize,
    d: [f64; 2],
    p: &FeatureParams,
) -> Vec<Array2<f32>> {
    let mut out = Vec::with_capacity(3 * p.depth_slices);
    let s = sigma_px(p.depth_sigma_nm, d);
    let r = half_width(p.depth_sigma_nm, d);
    for j in 1..=p.depth_slices {
        let g = gaussian(slice(behind(z, j, nz, p.depth_reverse)), s);
        let (mn, mx) = local_min_max(g.view(), r);
        out.push(g);
        out.push(mn);
        out.push(mx);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{compute_slab, Family};
    use super::*;
    use crate::volume::{VoxelSize, VoxelSource};
    use ndarray::{s, Array3};

    /// The depth features of slice z are the in-plane features of slices z+1…z+k (naive twin:
    /// the Gaussian/box features computed on those slices directly), edge-clamped at the end,
    /// and reversed milling reads z−1…z−k.
    #[test]
    fn depth_features_are_the_slices_behind() {
        let mut r = crate::rng::Rng::new(3);
        let vol = Array3::from_shape_fn((5, 10, 9), |_| (r.uniform() * 50.0) as f32);
        let voxel = VoxelSize::new([20.0, 10.0, 10.0], VoxelSource::CommandLine);
        for reverse in [false, true] {
            let p = FeatureParams {
                families: vec![Family::Depth],
                depth_slices: 2,
                depth_sigma_nm: 10.0,
                depth_reverse: reverse,
                ..Default::default()
            };
            let f = compute_slab(vol.view(), 0, 0..5, 5, &voxel, &p).unwrap();
            for (z, fz) in f.iter().enumerate() {
                for j in 1..=2usize {
                    let zz = if reverse {
                        z.saturating_sub(j)
                    } else {
                        (z + j).min(4)
                    };
                    let g = gaussian(vol.slice(s![zz, .., ..]), [1.0, 1.0]);
                    for y in 0..10usize {
                        for x in 0..9usize {
                            let mut lo = f32::INFINITY;
                            let mut hi = f32::NEG_INFINITY;
                            for yy in y.saturating_sub(1)..(y + 2).min(10) {
                                for xx in x.saturating_sub(1)..(x + 2).min(9) {
                                    lo = lo.min(g[[yy, xx]]);
                                    hi = hi.max(g[[yy, xx]]);
                                }
                            }
                            let row = fz.row(y * 9 + x);
                            let b = 3 * (j - 1);
                            assert_eq!(row[b], g[[y, x]]);
                            assert_eq!(row[b + 1], lo);
                            assert_eq!(row[b + 2], hi);
                        }
                    }
                }
            }
        }
    }

    /// Slabs with their halo give the same features as the whole volume; a slab without its halo
    /// is refused.
    #[test]
    fn slabs_equal_the_whole_volume() {
        let mut r = crate::rng::Rng::new(5);
        let vol = Array3::from_shape_fn((7, 12, 11), |_| (r.uniform() * 50.0) as f32);
        let voxel = VoxelSize::new([20.0, 10.0, 5.0], VoxelSource::CommandLine);
        let p = FeatureParams {
            scales_nm: vec![10.0, 20.0],
            ..Default::default()
        };
        let whole = compute_slab(vol.view(), 0, 0..7, 7, &voxel, &p).unwrap();
        let h = p.halo_slices();
        for (z0, z1) in [(0usize, 2usize), (2, 5), (5, 7)] {
            let hi = (z1 + h).min(7);
            let part =
                compute_slab(vol.slice(s![z0..hi, .., ..]), z0, z0..z1, 7, &voxel, &p).unwrap();
            for (k, a) in part.iter().enumerate() {
                assert_eq!(a, &whole[z0 + k], "slice {}", z0 + k);
            }
        }
        assert!(compute_slab(vol.slice(s![0..3, .., ..]), 0, 0..3, 7, &voxel, &p).is_err());
    }
}
