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
//! Algorithm: EDT → candidate centres reduced to a distance ridge (a centre `c` is dropped when a
//! 26-neighbour `c'` with `r(c') ≥ r(c)` has a ball holding every lattice point of `c`'s ball,
//! tested exactly with a per-radius table of the farthest ball point from each neighbour offset:
//! exact, not an approximation) → the remaining balls, largest first, are painted row by row
//! (per-row x extents from the anisotropic metric); since the first ball reaching a voxel is the
//! largest, per-row union–find skip lists paint each voxel once and jump over painted runs. The
//! painting is parallel over blocks of z-slices, each block taking the balls that overlap it.
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
    c: [u32; 3],
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

/// x half-extent of the ball row at squared z/y offsets: the largest `k` with
/// `(k·dx)² < rem2`, where `rem2 = reff − tz² − ty²` (computed by the caller in that order).
/// `None` when the row is empty. Shared by the painting and the containment tables so both use
/// bit-identical arithmetic.
#[inline]
fn row_half_extent(rem2: f64, dx: f64) -> Option<usize> {
    if rem2 <= 0.0 {
        return None;
    }
    // canonical: the largest k with (k·dx)² < rem2 (the sqrt guess is corrected both ways)
    let mut kx = (rem2.sqrt() / dx).floor() as usize;
    while ((kx + 1) as f64 * dx).powi(2) < rem2 {
        kx += 1;
    }
    while (kx as f64 * dx).powi(2) >= rem2 {
        if kx == 0 {
            return None;
        }
        kx -= 1;
    }
    Some(kx)
}

/// Half-width (voxels) of the neighbourhood searched for containing balls.
const RIDGE_REACH: isize = 1;

/// The neighbour offsets within [`RIDGE_REACH`] (voxels) and their physical vectors (nm).
fn neighbour_offsets(v: [f64; 3]) -> Vec<([isize; 3], [f64; 3])> {
    let k = RIDGE_REACH;
    let mut offs = Vec::with_capacity(((2 * k + 1).pow(3) - 1) as usize);
    for a in -k..=k {
        for b in -k..=k {
            for c in -k..=k {
                if (a, b, c) != (0, 0, 0) {
                    offs.push((
                        [a, b, c],
                        [a as f64 * v[0], b as f64 * v[1], c as f64 * v[2]],
                    ));
                }
            }
        }
    }
    offs
}

/// Balls larger than this many rows use the weaker continuous containment test only.
const TABLE_MAX_ROWS: f64 = 12_000.0;

/// For a ball of effective squared radius `reff` (nm²) centred at the origin: for each neighbour
/// offset `o`, the largest `|w − o|²` over the lattice points `w` of the ball (the maximum of a
/// convex function along each x-row is at the row's ends).
fn containment_table(reff: f64, v: [f64; 3], offs: &[([isize; 3], [f64; 3])]) -> Vec<f64> {
    let [dz, dy, dx] = v;
    let mut m = vec![f64::NEG_INFINITY; offs.len()];
    let kz = (reff.sqrt() / dz).floor() as isize;
    for a in -kz..=kz {
        let tz = a as f64 * dz;
        let rem = reff - tz * tz;
        if rem <= 0.0 {
            continue;
        }
        let ky = (rem.sqrt() / dy).floor() as isize;
        for b in -ky..=ky {
            let ty = b as f64 * dy;
            let Some(kx) = row_half_extent(rem - ty * ty, dx) else {
                continue;
            };
            for xs in [-(kx as f64) * dx, kx as f64 * dx] {
                for (i, (_, o)) in offs.iter().enumerate() {
                    let d = (tz - o[0]).powi(2) + (ty - o[1]).powi(2) + (xs - o[2]).powi(2);
                    if d > m[i] {
                        m[i] = d;
                    }
                }
            }
        }
    }
    m
}

/// Distance-ridge centres, sorted by radius, largest first.
///
/// A centre `c` is dropped when a 26-neighbour `c'` with `r(c') ≥ r(c)` has a ball containing
/// every lattice point of `c`'s ball (checked exactly with [`containment_table`] per distinct
/// radius; for very large balls the sufficient continuous test `r(c') ≥ r(c) + |c − c'|`).
/// Dropping such centres changes no thickness value.
fn ridge_balls(d2: ArrayView3<'_, f32>, voxel_nm: [f64; 3]) -> Vec<Ball> {
    let (nz, ny, nx) = d2.dim();
    let offs = neighbour_offsets(voxel_nm);
    let eff = |r2: f32| r2 as f64 * (1.0 - TIE_MARGIN);
    // distinct squared radii and their containment tables
    let mut distinct: Vec<u32> = d2
        .iter()
        .filter(|v| **v > 0.0 && v.is_finite())
        .map(|v| v.to_bits())
        .collect();
    distinct.par_sort_unstable();
    distinct.dedup();
    let row_area = voxel_nm[0] * voxel_nm[1];
    let tables: Vec<Option<Vec<f64>>> = distinct
        .par_iter()
        .map(|&b| {
            let reff = eff(f32::from_bits(b));
            if std::f64::consts::PI * reff / row_area > TABLE_MAX_ROWS {
                None
            } else {
                Some(containment_table(reff, voxel_nm, &offs))
            }
        })
        .collect();
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
                    let table = distinct
                        .binary_search(&r2.to_bits())
                        .ok()
                        .and_then(|i| tables[i].as_ref());
                    let r = (r2 as f64).sqrt();
                    let mut covered = false;
                    for (i, (o, p)) in offs.iter().enumerate() {
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
                        let r2n = d2[[zz as usize, yy as usize, xx as usize]];
                        if r2n < r2 || !r2n.is_finite() {
                            continue;
                        }
                        let ok = match table {
                            Some(t) => t[i] * (1.0 + 1e-12) < eff(r2n),
                            None => {
                                let l = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
                                (r2n as f64).sqrt() >= (r + l) * (1.0 + 1e-9)
                            }
                        };
                        if ok {
                            covered = true;
                            break;
                        }
                    }
                    if !covered {
                        v.push(Ball {
                            r2,
                            c: [z as u32, y as u32, x as u32],
                        });
                    }
                }
            }
            v
        })
        .collect();
    // largest first; equal radii in raster order for memory locality while painting
    balls.par_sort_unstable_by(|a, b| b.r2.total_cmp(&a.r2).then(a.c.cmp(&b.c)));
    balls
}

/// Find the first unpainted x ≥ `x` in a row's skip list (`next[x] == x` means unpainted; the
/// sentinel `next[n] == n`), with path halving.
#[inline]
fn find(next: &mut [u32], mut x: u32) -> u32 {
    loop {
        let p = next[x as usize];
        if p == x {
            return x;
        }
        let gp = next[p as usize];
        next[x as usize] = gp;
        x = gp;
    }
}

/// Paint each ball's squared radius into the voxels it covers. Balls come largest first, so a
/// voxel's value is that of the first ball reaching it; per-row skip lists (union–find over x)
/// make each voxel painted once and already-painted runs skipped in near-constant time.
fn paint(out: &mut Array3<f32>, balls: &[Ball], voxel_nm: [f64; 3]) {
    let (nz, ny, nx) = out.dim();
    let [dz, dy, dx] = voxel_nm;
    let threads = rayon::current_num_threads().max(1);
    let block = nz.div_ceil(threads * 4).max(1);
    let w = nx + 1;
    out.axis_chunks_iter_mut(Axis(0), block)
        .into_par_iter()
        .enumerate()
        .for_each(|(bi, mut chunk)| {
            let z0 = bi * block;
            let nzb = chunk.dim().0;
            let z1 = z0 + nzb; // exclusive
            let mut next: Vec<u32> = (0..nzb * ny).flat_map(|_| 0..w as u32).collect();
            for ball in balls {
                let r2 = ball.r2 as f64 * (1.0 - TIE_MARGIN);
                let [cz, cy, cx] = ball.c.map(|v| v as usize);
                let kz = (r2.sqrt() / dz).floor() as usize;
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
                        let Some(kx) = row_half_extent(rem - ty * ty, dx) else {
                            continue;
                        };
                        let xlo = cx.saturating_sub(kx);
                        let xhi = (cx + kx).min(nx - 1);
                        let base = ((z - z0) * ny + y) * w;
                        let row_next = &mut next[base..base + w];
                        let mut row = plane.index_axis_mut(Axis(0), y);
                        let mut x = find(row_next, xlo as u32) as usize;
                        while x <= xhi {
                            row[x] = val;
                            row_next[x] = x as u32 + 1;
                            x = find(row_next, x as u32 + 1) as usize;
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
