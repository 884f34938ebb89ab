//! Local thickness (Hildebrand & Rüegsegger 1997), methods §8.
//!
//! For every voxel `v` of the phase, the local thickness is the diameter (nm) of the largest ball
//! that lies inside the phase and contains `v`:
//!
//! `τ(v) = max { 2·r(c) : c in phase, |v − c| < r(c) }`, with `r = EDT` (nm, [`super::edt`]),
//!
//! i.e. candidate balls are centred on voxel centres with radius equal to the distance to the
//! nearest background voxel centre (so no background voxel centre lies inside a ball). Distances
//! are anisotropic (`[dz, dy, dx]` nm). Ties are excluded: a voxel counts as inside when
//! `|v − c|² < r(c)²·(1 − 1e-6)`; the margin absorbs the f32 rounding of the stored EDT.
//!
//! Algorithm: EDT → candidate centres reduced to the distance ridge (a centre `c` is dropped when
//! one of its 26 neighbours `c'` has `r(c') ≥ r(c) + |c − c'|`, whose ball then contains `c`'s
//! ball: exact, not an approximation) → the remaining balls, largest first, are painted row by
//! row (per-row x extents from the anisotropic metric) with a running maximum. The painting is
//! parallel over blocks of z-slices, each block taking the balls that overlap it.
//!
//! Undefined cases: an empty phase gives no statistics (`None`) and an empty distribution; a phase
//! filling the whole volume has no background, so every ball is unbounded: the map is `+inf` and
//! the statistics are `None`, with a note. Never NaN.

use super::edt::{check_voxel, edt_squared};
use crate::error::{positive, ParamError};
use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;
use serde::Serialize;

/// Relative margin for ball membership ties (see the module docs).
pub const TIE_MARGIN: f64 = 1e-6;

/// Method string reported with results.
pub const METHOD: &str = "local thickness (Hildebrand & Ruegsegger 1997): max diameter 2*EDT(c) over balls centred at distance-ridge voxels c with |v-c| < EDT(c); exact anisotropic EDT (Felzenszwalb-Huttenlocher)";

/// Per-voxel local thickness (diameter, nm) of the `true` voxels of `mask`; `0` outside the
/// phase; `+inf` on every phase voxel when the mask has no `false` voxel.
///
/// ```
/// use fibstack::metrics::local_thickness::local_thickness_map;
/// use ndarray::Array3;
/// // a slab 4 voxels thick along z, background above and below
/// let mut m = Array3::from_elem((6, 5, 5), false);
/// for z in 1..5 { for y in 0..5 { for x in 0..5 { m[[z, y, x]] = true; } } }
/// let t = local_thickness_map(m.view(), [10.0, 1.0, 1.0]).unwrap();
/// assert_eq!(t[[1, 2, 2]], 40.0); // balls of radius 20 nm centred on the two middle slices
/// ```
pub fn local_thickness_map(
    mask: ArrayView3<'_, bool>,
    voxel_nm: [f64; 3],
) -> Result<Array3<f32>, ParamError> {
    check_voxel(voxel_nm)?;
    let d2 = edt_squared(mask, voxel_nm)?;
    Ok(local_thickness_from_edt(mask, d2.view(), voxel_nm))
}

/// Candidate ball: squared radius (nm²) and centre.
#[derive(Clone, Copy)]
struct Ball {
    r2: f32,
    c: [usize; 3],
}

/// Local thickness from a precomputed squared EDT (nm², as from [`edt_squared`]).
pub fn local_thickness_from_edt(
    mask: ArrayView3<'_, bool>,
    d2: ArrayView3<'_, f32>,
    voxel_nm: [f64; 3],
) -> Array3<f32> {
    let (nz, ny, nx) = mask.dim();
    let mut out = Array3::<f32>::zeros((nz, ny, nx));
    if out.is_empty() {
        return out;
    }
    if mask.iter().all(|&m| m) {
        out.fill(f32::INFINITY);
        return out;
    }
    let balls = ridge_balls(d2, voxel_nm);
    paint(&mut out, &balls, voxel_nm);
    // squared radius -> diameter
    out.par_mapv_inplace(|r2| if r2 > 0.0 { 2.0 * r2.sqrt() } else { 0.0 });
    out
}

/// Distance-ridge centres, sorted by radius, largest first.
fn ridge_balls(d2: ArrayView3<'_, f32>, voxel_nm: [f64; 3]) -> Vec<Ball> {
    let (nz, ny, nx) = d2.dim();
    // the 26 neighbour offsets and their lengths (nm)
    let mut offs: Vec<([isize; 3], f64)> = Vec::with_capacity(26);
    for a in -1isize..=1 {
        for b in -1isize..=1 {
            for c in -1isize..=1 {
                if (a, b, c) != (0, 0, 0) {
                    let l = ((a as f64 * voxel_nm[0]).powi(2)
                        + (b as f64 * voxel_nm[1]).powi(2)
                        + (c as f64 * voxel_nm[2]).powi(2))
                    .sqrt();
                    offs.push(([a, b, c], l));
                }
            }
        }
    }
    let mut balls: Vec<Ball> = (0..nz)
        .into_par_iter()
        .flat_map_iter(|z| {
            let mut v = Vec::new();
            for y in 0..ny {
                for x in 0..nx {
                    let r2 = d2[[z, y, x]];
                    if r2 <= 0.0 || !r2.is_finite() {
                        continue;
                    }
                    let r = (r2 as f64).sqrt();
                    let mut covered = false;
                    for (o, l) in &offs {
                        let (zz, yy, xx) =
                            (z as isize + o[0], y as isize + o[1], x as isize + o[2]);
                        if zz < 0
                            || yy < 0
                            || xx < 0
                            || zz >= nz as isize
                            || yy >= ny as isize
                            || xx >= nx as isize
                        {
                            continue;
                        }
                        let r2n = d2[[zz as usize, yy as usize, xx as usize]] as f64;
                        // r' >= r + l (up to rounding of the stored f32 values)
                        if r2n.sqrt() >= (r + l) * (1.0 - 1e-7) {
                            covered = true;
                            break;
                        }
                    }
                    if !covered {
                        v.push(Ball { r2, c: [z, y, x] });
                    }
                }
            }
            v
        })
        .collect();
    balls.par_sort_unstable_by(|a, b| b.r2.total_cmp(&a.r2));
    balls
}

/// Paint each ball's squared radius into the voxels it covers (running maximum).
fn paint(out: &mut Array3<f32>, balls: &[Ball], voxel_nm: [f64; 3]) {
    let (nz, ny, nx) = out.dim();
    let [dz, dy, dx] = voxel_nm;
    let threads = rayon::current_num_threads().max(1);
    let block = nz.div_ceil(threads * 4).max(1);
    out.axis_chunks_iter_mut(Axis(0), block)
        .into_par_iter()
        .enumerate()
        .for_each(|(bi, mut chunk)| {
            let z0 = bi * block;
            let z1 = z0 + chunk.dim().0; // exclusive
            for ball in balls {
                let r2 = ball.r2 as f64 * (1.0 - TIE_MARGIN);
                let r = r2.sqrt();
                let [cz, cy, cx] = ball.c;
                let kz = (r / dz).floor() as usize;
                let lo = cz.saturating_sub(kz).max(z0);
                let hi = (cz + kz).min(z1 - 1);
                if lo > hi {
                    continue;
                }
                let val = ball.r2;
                for z in lo..=hi {
                    let tz = (z as f64 - cz as f64) * dz;
                    let rem = r2 - tz * tz;
                    if rem <= 0.0 {
                        continue;
                    }
                    let ky = (rem.sqrt() / dy).floor() as usize;
                    let ylo = cy.saturating_sub(ky);
                    let yhi = (cy + ky).min(ny - 1);
                    let mut plane = chunk.index_axis_mut(Axis(0), z - z0);
                    for y in ylo..=yhi {
                        let ty = (y as f64 - cy as f64) * dy;
                        let rem2 = rem - ty * ty;
                        if rem2 <= 0.0 {
                            continue;
                        }
                        let mut kx = (rem2.sqrt() / dx).floor() as usize;
                        if (kx as f64 * dx).powi(2) >= rem2 {
                            if kx == 0 {
                                continue;
                            }
                            kx -= 1;
                        }
                        let xlo = cx.saturating_sub(kx);
                        let xhi = (cx + kx).min(nx - 1);
                        let mut row = plane.index_axis_mut(Axis(0), y);
                        if let Some(s) = row.as_slice_mut() {
                            for v in &mut s[xlo..=xhi] {
                                if *v < val {
                                    *v = val;
                                }
                            }
                        } else {
                            for x in xlo..=xhi {
                                if row[x] < val {
                                    row[x] = val;
                                }
                            }
                        }
                    }
                }
            }
        });
}

/// Volume-weighted distribution of local thickness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThicknessDistribution {
    /// Bin edges (nm), `bins + 1` values from 0 to the maximum thickness.
    pub bin_edges_nm: Vec<f64>,
    /// Fraction of the phase volume whose local thickness falls in each bin (sums to 1).
    pub volume_fraction: Vec<f64>,
    /// Fraction of the phase volume with thickness ≤ the bin's upper edge.
    pub cumulative_fraction: Vec<f64>,
}

/// Local-thickness statistics of one phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalThickness {
    /// Label value measured.
    pub phase: u8,
    /// What was computed.
    pub method: String,
    /// Unit of the thickness values.
    pub unit: String,
    /// Number of voxels of the phase.
    pub phase_voxels: u64,
    /// Volume-weighted mean local thickness (nm); `None` when undefined (empty phase, no background).
    pub mean_nm: Option<f64>,
    /// Volume-weighted median local thickness (nm).
    pub median_nm: Option<f64>,
    /// Standard deviation of the local thickness over the phase volume (nm).
    pub std_nm: Option<f64>,
    /// Largest local thickness (nm).
    pub max_nm: Option<f64>,
    /// Histogram of the thickness map over the phase.
    pub distribution: ThicknessDistribution,
    /// Voxel size used, `[dz, dy, dx]` nm.
    pub voxel_size_nm: [f64; 3],
    /// Why statistics are missing, if they are.
    pub note: Option<String>,
}

/// Statistics and distribution of a local-thickness map over the `true` voxels of `mask`.
/// `bins` ≥ 1 equal bins from 0 to the maximum thickness.
pub fn thickness_stats(
    map: ArrayView3<'_, f32>,
    mask: ArrayView3<'_, bool>,
    phase: u8,
    voxel_nm: [f64; 3],
    bins: usize,
) -> Result<LocalThickness, ParamError> {
    if bins == 0 {
        return Err(ParamError::new("bins", bins, "must be at least 1"));
    }
    check_voxel(voxel_nm)?;
    let mut vals: Vec<f32> = map
        .iter()
        .zip(mask.iter())
        .filter(|(_, &m)| m)
        .map(|(&t, _)| t)
        .collect();
    let n = vals.len();
    let empty = LocalThickness {
        phase,
        method: METHOD.to_string(),
        unit: "nm".to_string(),
        phase_voxels: n as u64,
        mean_nm: None,
        median_nm: None,
        std_nm: None,
        max_nm: None,
        distribution: ThicknessDistribution {
            bin_edges_nm: vec![],
            volume_fraction: vec![],
            cumulative_fraction: vec![],
        },
        voxel_size_nm: voxel_nm,
        note: None,
    };
    if n == 0 {
        return Ok(LocalThickness {
            note: Some(format!(
                "phase {phase} is empty: no local thickness (check --phase against the labels present)"
            )),
            ..empty
        });
    }
    if vals.iter().any(|v| !v.is_finite()) {
        return Ok(LocalThickness {
            note: Some(format!(
                "phase {phase} fills the whole volume: there is no background, so the local thickness is unbounded"
            )),
            ..empty
        });
    }
    let sum: f64 = vals.iter().map(|&v| v as f64).sum();
    let mean = sum / n as f64;
    let var = vals.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    let max = vals.iter().fold(0f32, |a, &b| a.max(b)) as f64;
    let mut counts = vec![0u64; bins];
    let width = if max > 0.0 { max / bins as f64 } else { 1.0 };
    for &v in &vals {
        let b = ((v as f64 / width).floor() as usize).min(bins - 1);
        counts[b] += 1;
    }
    let edges: Vec<f64> = (0..=bins).map(|i| i as f64 * width).collect();
    let frac: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
    let mut cum = Vec::with_capacity(bins);
    let mut acc = 0u64;
    for &c in &counts {
        acc += c;
        cum.push(acc as f64 / n as f64);
    }
    // median: lower middle for even counts averaged with the upper one
    let mid = n / 2;
    let (_, upper, _) = vals.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let upper = *upper as f64;
    let median = if n % 2 == 1 {
        upper
    } else {
        let lower = vals[..mid].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        0.5 * (lower + upper)
    };
    Ok(LocalThickness {
        mean_nm: Some(mean),
        median_nm: Some(median),
        std_nm: Some(var.sqrt()),
        max_nm: Some(max),
        distribution: ThicknessDistribution {
            bin_edges_nm: edges,
            volume_fraction: frac,
            cumulative_fraction: cum,
        },
        ..empty
    })
}

/// Local thickness of the voxels of `labels` equal to `phase`: the map (diameter, nm) and its
/// statistics with `bins` histogram bins.
///
/// ```
/// use fibstack::metrics::local_thickness::local_thickness;
/// use ndarray::Array3;
/// let mut l = Array3::<u8>::zeros((5, 5, 9));
/// for z in 1..4 { for y in 1..4 { for x in 0..9 { l[[z, y, x]] = 1; } } } // 3x3 rod along x
/// let (map, s) = local_thickness(l.view(), 1, [1.0, 1.0, 1.0], 8).unwrap();
/// assert_eq!(s.max_nm, Some(4.0)); // ball of radius 2 around the rod axis
/// assert_eq!(map[[2, 2, 4]], 4.0);
/// ```
pub fn local_thickness(
    labels: ArrayView3<'_, u8>,
    phase: u8,
    voxel_nm: [f64; 3],
    bins: usize,
) -> Result<(Array3<f32>, LocalThickness), ParamError> {
    if bins == 0 {
        return Err(ParamError::new("bins", bins, "must be at least 1"));
    }
    let mask = super::edt::phase_mask(labels, phase);
    let map = local_thickness_map(mask.view(), voxel_nm)?;
    let stats = thickness_stats(map.view(), mask.view(), phase, voxel_nm, bins)?;
    Ok((map, stats))
}

/// Check a bin count (exposed for the CLI/workflow validation).
pub fn check_bins(bins: usize) -> Result<(), ParamError> {
    positive("bins", bins as f64).map(|_| ())
}
