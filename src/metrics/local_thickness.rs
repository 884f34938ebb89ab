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
//! largest, a per-row bitmap of still unpainted phase voxels paints each voxel once and skips
//! painted runs 64 voxels at a time; x-runs of ridge centres with equal radius are painted as one
//! (their row spans are contiguous). Row extents come from per-radius tables. The painting goes
//! plane by plane, parallel over blocks of z-slices, each block taking the balls that overlap it
//! in the global order (so the map does not depend on the thread count).
//!
//! Undefined cases: an empty phase gives no statistics (`None`) and an empty distribution; a phase
//! filling the whole volume has no background, so every ball is unbounded: the map is `+inf` and
//! the statistics are `None`, with a note. Never NaN.

use super::edt::{check_voxel, edt_squared};
use crate::error::{positive, ParamError};
use ndarray::{Array3, ArrayView3};
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
    /// Run length along x: centres `c, c + x̂, …, c + (len − 1)·x̂`, all with radius² `r2`
    /// (their union has contiguous row spans, painted at once).
    len: u32,
}

/// Local thickness from a precomputed squared EDT (nm², as from [`edt_squared`]).
pub fn local_thickness_from_edt(
    mask: ArrayView3<'_, bool>,
    d2: ArrayView3<'_, f32>,
    voxel_nm: [f64; 3],
) -> Array3<f32> {
    let (nz, ny, nx) = mask.dim();
    let mut out: Array3<f32> = super::components::zeroed_volume((nz, ny, nx));
    if out.is_empty() {
        return out;
    }
    if mask.iter().all(|&m| m) {
        out.fill(f32::INFINITY);
        return out;
    }
    let d2 = d2.as_standard_layout();
    let mask = mask.as_standard_layout();
    let balls = ridge_balls(d2.view(), voxel_nm);
    paint(
        &mut out,
        mask.as_slice().expect("standard layout"),
        &balls,
        voxel_nm,
    );
    out
}

/// Half-width (voxels of the finest axis) of the search for the nearest background voxel of a
/// phase voxel lost by the coarsening in [`local_thickness_fast_map`].
const LOST_REACH: usize = 3;

/// Method string of the fast (coarse-grid) mode.
pub const METHOD_FAST: &str = "fast local thickness (coarse grid, after Dahl & Dahl 2023): the exact method on the phase coarsened 2x2x2 (a coarse voxel is phase when more than half of its voxels are), each phase voxel taking its coarse voxel's value (thin features lost by the coarsening: the largest value of the 26 coarse neighbours, else 2 x the smallest voxel size); diameters within about two voxels of the exact method, see the validation chapter";

/// How the local thickness is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThicknessMode {
    /// Exact ([`local_thickness_map`]).
    #[default]
    Exact,
    /// Approximate and several times faster ([`local_thickness_fast_map`]).
    Fast,
}

impl ThicknessMode {
    /// The method string reported with results.
    pub fn method(self) -> &'static str {
        match self {
            ThicknessMode::Exact => METHOD,
            ThicknessMode::Fast => METHOD_FAST,
        }
    }
}

/// Fast approximate local thickness (diameter, nm) of the `true` voxels of `mask`; `0` outside
/// the phase, `+inf` on every phase voxel when the mask has no `false` voxel.
///
/// The phase is coarsened by 2 along every axis (a coarse voxel, voxel size doubled, is phase
/// when more than half of the voxels it covers are), the exact local thickness
/// ([`local_thickness_map`]) is computed on the coarse grid, and every phase voxel takes the
/// value of its coarse voxel. A phase voxel whose coarse voxel is not phase (a feature thinner
/// than about two voxels) takes the largest value among the 26 neighbouring coarse voxels, or,
/// when none is phase, `2 × min(dz, dy, dx)` (the thickness of a single voxel). When the coarse
/// grid keeps no background (or no phase) while the full grid has both, the exact method is used.
///
/// Cost: a quarter to an eighth of the exact method's time. Error against the exact method: discretisation
/// of the coarse grid, about ±2 voxels on the diameter (measured in the validation chapter).
///
/// ```
/// use fibstack::metrics::local_thickness::local_thickness_fast_map;
/// use ndarray::Array3;
/// // a slab 16 voxels thick along z
/// let m = Array3::from_shape_fn((24, 20, 20), |(z, _, _)| (4..20).contains(&z));
/// let t = local_thickness_fast_map(m.view(), [1.0, 1.0, 1.0]).unwrap();
/// assert!((t[[12, 10, 10]] - 16.0).abs() <= 2.0);
/// assert_eq!(t[[0, 0, 0]], 0.0);
/// ```
pub fn local_thickness_fast_map(
    mask: ArrayView3<'_, bool>,
    voxel_nm: [f64; 3],
) -> Result<Array3<f32>, ParamError> {
    check_voxel(voxel_nm)?;
    let (nz, ny, nx) = mask.dim();
    if mask.is_empty() || mask.iter().all(|&m| m) {
        return local_thickness_map(mask, voxel_nm);
    }
    let mask = mask.as_standard_layout();
    let ms = mask.as_slice().expect("standard layout");
    let (cz, cy, cx) = (nz.div_ceil(2), ny.div_ceil(2), nx.div_ceil(2));
    let cplane = cy * cx;
    // coarse mask: strict majority of the (up to 8) voxels each coarse voxel covers
    let mut coarse = vec![false; cz * cplane];
    coarse
        .par_chunks_mut(cplane)
        .enumerate()
        .for_each(|(z2, cpl)| {
            let zs = 2 * z2..(2 * z2 + 2).min(nz);
            for y2 in 0..cy {
                let ys = 2 * y2..(2 * y2 + 2).min(ny);
                for x2 in 0..cx {
                    let xs = 2 * x2..(2 * x2 + 2).min(nx);
                    let (mut n, mut tot) = (0u32, 0u32);
                    for z in zs.clone() {
                        for y in ys.clone() {
                            let row = &ms[(z * ny + y) * nx..][..nx];
                            for &m in &row[xs.clone()] {
                                n += m as u32;
                                tot += 1;
                            }
                        }
                    }
                    cpl[y2 * cx + x2] = 2 * n > tot;
                }
            }
        });
    let kept = coarse.iter().filter(|&&c| c).count();
    if kept == 0 || kept == coarse.len() {
        return local_thickness_map(mask.view(), voxel_nm);
    }
    let cmask = Array3::from_shape_vec((cz, cy, cx), coarse).expect("coarse shape");
    let cvox = voxel_nm.map(|v| 2.0 * v);
    let ct = local_thickness_map(cmask.view(), cvox)?;
    let cts = ct.as_slice().expect("fresh array is contiguous");
    // offsets of the window searched for the nearest background voxel of a lost voxel, nearest
    // first: every offset within LOST_REACH · min(d) of the centre lies in the window
    let [dz, dy, dx] = voxel_nm;
    let dmin = dz.min(dy).min(dx);
    let reach = LOST_REACH as f64 * dmin;
    let k = |d: f64| (reach / d).floor() as isize;
    let (kz, ky, kx) = (k(dz), k(dy), k(dx));
    let mut win: Vec<(f64, [isize; 3])> = Vec::new();
    for a in -kz..=kz {
        for b in -ky..=ky {
            for c in -kx..=kx {
                let d2 =
                    (a as f64 * dz).powi(2) + (b as f64 * dy).powi(2) + (c as f64 * dx).powi(2);
                if d2 > 0.0 && d2 <= reach * reach {
                    win.push((d2, [a, b, c]));
                }
            }
        }
    }
    win.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
    // value for a phase voxel whose coarse voxel is not phase: its own ball (2 x the distance to
    // the nearest background voxel, a lower bound of the exact value), or more when a
    // neighbouring coarse voxel holds a larger value
    let lost = |z: usize, y: usize, x: usize| -> f32 {
        let own = win
            .iter()
            .find(|(_, o)| {
                let (zz, yy, xx) = (z as isize + o[0], y as isize + o[1], x as isize + o[2]);
                zz >= 0
                    && yy >= 0
                    && xx >= 0
                    && (zz as usize) < nz
                    && (yy as usize) < ny
                    && (xx as usize) < nx
                    && !ms[(zz as usize * ny + yy as usize) * nx + xx as usize]
            })
            .map_or(reach, |(d2, _)| d2.sqrt());
        let own = (2.0 * own) as f32;
        let (z2, y2, x2) = (z / 2, y / 2, x / 2);
        let mut best = 0f32;
        for a in z2.saturating_sub(1)..(z2 + 2).min(cz) {
            for b in y2.saturating_sub(1)..(y2 + 2).min(cy) {
                for c in x2.saturating_sub(1)..(x2 + 2).min(cx) {
                    best = best.max(cts[(a * cy + b) * cx + c]);
                }
            }
        }
        best.max(own)
    };
    let mut out: Array3<f32> = super::components::zeroed_volume((nz, ny, nx));
    let plane = ny * nx;
    out.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(z, opl)| {
            let z2 = z / 2;
            for y in 0..ny {
                let y2 = y / 2;
                let crow = &cts[(z2 * cy + y2) * cx..][..cx];
                let mrow = &ms[z * plane + y * nx..][..nx];
                let orow = &mut opl[y * nx..][..nx];
                for (x, (o, &m)) in orow.iter_mut().zip(mrow).enumerate() {
                    if m {
                        let v = crow[x / 2];
                        *o = if v > 0.0 { v } else { lost(z, y, x) };
                    }
                }
            }
        });
    Ok(out)
}

/// Local-thickness map of `mask` by the chosen method.
pub fn local_thickness_map_mode(
    mask: ArrayView3<'_, bool>,
    voxel_nm: [f64; 3],
    mode: ThicknessMode,
) -> Result<Array3<f32>, ParamError> {
    match mode {
        ThicknessMode::Exact => local_thickness_map(mask, voxel_nm),
        ThicknessMode::Fast => local_thickness_fast_map(mask, voxel_nm),
    }
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

/// The neighbour offsets within [`RIDGE_REACH`] (voxels) and their physical vectors (nm),
/// face neighbours first (the likeliest containers, so the search stops early).
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
    offs.sort_by_key(|(o, _)| o[0].abs() + o[1].abs() + o[2].abs());
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
/// every lattice point of `c`'s ball: first by the sufficient continuous test
/// `r'(c') ≥ r'(c) + |c − c'|` (radii with the tie margin applied, so it is exact for the painted
/// lattice points), else checked exactly with [`containment_table`] per distinct radius (not built
/// for very large balls, which then rely on the continuous test only).
/// Dropping such centres changes no thickness value. `d2` must be in standard layout.
fn ridge_balls(d2: ArrayView3<'_, f32>, voxel_nm: [f64; 3]) -> Vec<Ball> {
    let (nz, ny, nx) = d2.dim();
    let ds = d2.as_slice().expect("standard layout");
    let offs = neighbour_offsets(voxel_nm);
    let lin: Vec<isize> = offs
        .iter()
        .map(|(o, _)| (o[0] * ny as isize + o[1]) * nx as isize + o[2])
        .collect();
    let lens: Vec<f64> = offs
        .iter()
        .map(|(_, p)| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt())
        .collect();
    let eff = |r2: f32| r2 as f64 * (1.0 - TIE_MARGIN);
    // distinct squared radii and their containment tables
    let mut distinct: Vec<u32> = ds
        .par_iter()
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
    let plane = ny * nx;
    let mut balls: Vec<Ball> = (0..nz)
        .into_par_iter()
        .flat_map_iter(|z| {
            let mut v = Vec::new();
            for y in 0..ny {
                let inner_zy = z > 0 && z + 1 < nz && y > 0 && y + 1 < ny;
                for x in 0..nx {
                    let i = z * plane + y * nx + x;
                    let r2 = ds[i];
                    if r2 <= 0.0 || !r2.is_finite() {
                        continue;
                    }
                    let interior = inner_zy && x > 0 && x + 1 < nx;
                    // the containment table of this radius, looked up only when needed
                    let mut table: Option<Option<&Vec<f64>>> = None;
                    let re = eff(r2).sqrt();
                    let mut covered = false;
                    for (k, o) in offs.iter().map(|(o, _)| o).enumerate() {
                        let r2n = if interior {
                            ds[(i as isize + lin[k]) as usize]
                        } else {
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
                            ds[(zz as usize * ny + yy as usize) * nx + xx as usize]
                        };
                        if r2n < r2 || !r2n.is_finite() {
                            continue;
                        }
                        let reff_n = eff(r2n);
                        // sufficient: every point of c's ball is within re + |c − c'| of c'
                        let need = (re + lens[k]) * (1.0 + 1e-12);
                        let ok = need * need <= reff_n || {
                            let t = *table.get_or_insert_with(|| {
                                distinct
                                    .binary_search(&r2.to_bits())
                                    .ok()
                                    .and_then(|j| tables[j].as_ref())
                            });
                            t.is_some_and(|t| t[k] * (1.0 + 1e-12) < reff_n)
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
                            len: 1,
                        });
                    }
                }
            }
            v
        })
        .collect();
    // largest first; equal radii in raster order for memory locality while painting
    balls.par_sort_unstable_by(|a, b| b.r2.total_cmp(&a.r2).then(a.c.cmp(&b.c)));
    // merge x-runs of equal radius
    let mut merged: Vec<Ball> = Vec::with_capacity(balls.len());
    for b in balls {
        if let Some(last) = merged.last_mut() {
            if last.r2 == b.r2
                && last.c[0] == b.c[0]
                && last.c[1] == b.c[1]
                && last.c[2] + last.len == b.c[2]
            {
                last.len += 1;
                continue;
            }
        }
        merged.push(b);
    }
    merged
}

/// Rows per tile of the painting's coarse summary (OR of the rows' bitmap words).
const TILE_ROWS: usize = 8;

/// Whether any bit `xlo..=xhi` is set in a row of bitmap words.
#[inline(always)]
fn any_bits(words: &[u64], xlo: usize, xhi: usize) -> bool {
    let (w0, w1) = (xlo / 64, xhi / 64);
    (w0..=w1).any(|wi| {
        let lo = if wi == w0 { xlo % 64 } else { 0 };
        let hi = if wi == w1 { xhi % 64 } else { 63 };
        words[wi] & (u64::MAX >> (63 - hi)) & (u64::MAX << lo) != 0
    })
}

/// Paint `val` into the still unpainted voxels `xlo..=xhi` of a row (`bits`: one bit per voxel,
/// set = phase voxel not yet painted) and clear their bits; returns how many were painted.
#[inline(always)]
fn paint_row(bits: &mut [u64], row: &mut [f32], xlo: usize, xhi: usize, val: f32) -> u32 {
    let (w0, w1) = (xlo / 64, xhi / 64);
    let mut n = 0;
    for wi in w0..=w1 {
        let word = &mut bits[wi];
        if *word == 0 {
            continue;
        }
        let lo = if wi == w0 { xlo % 64 } else { 0 };
        let hi = if wi == w1 { xhi % 64 } else { 63 };
        let range = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
        let mut hit = *word & range;
        if hit == 0 {
            continue;
        }
        *word &= !range;
        n += hit.count_ones();
        while hit != 0 {
            row[wi * 64 + hit.trailing_zeros() as usize] = val;
            hit &= hit - 1;
        }
    }
    n
}

/// Row x half-extents of one ball radius, by |z offset| then |y offset|: `planes[a] = (ky, start)`
/// with `kx[start + b]` the half-extent of row `(±a, ±b)` (`-1` = empty row); `ky = u32::MAX` when
/// the plane misses the ball. Built with [`row_half_extent`] exactly as the painting would.
struct RowTable {
    planes: Vec<(u32, u32)>,
    kx: Vec<i32>,
}

/// Tables larger than this many rows are not built (the rows are computed on the fly).
const ROW_TABLE_MAX: usize = 1 << 16;

fn row_table(r2: f32, voxel_nm: [f64; 3], dims: (usize, usize)) -> Option<RowTable> {
    let [dz, dy, dx] = voxel_nm;
    let reff = r2 as f64 * (1.0 - TIE_MARGIN);
    let kz = ((reff.sqrt() / dz).floor() as usize).min(dims.0.saturating_sub(1));
    let ky_max = ((reff.sqrt() / dy).floor() as usize).min(dims.1.saturating_sub(1));
    if (kz + 1).saturating_mul(ky_max + 1) > ROW_TABLE_MAX {
        return None;
    }
    let mut planes = Vec::with_capacity(kz + 1);
    let mut kx = Vec::new();
    for a in 0..=kz {
        let tz = a as f64 * dz;
        let rem = reff - tz * tz;
        if rem <= 0.0 {
            planes.push((u32::MAX, 0));
            continue;
        }
        let ky = ((rem.sqrt() / dy).floor() as usize).min(dims.1.saturating_sub(1));
        planes.push((ky as u32, kx.len() as u32));
        for b in 0..=ky {
            let ty = b as f64 * dy;
            kx.push(
                row_half_extent(rem - ty * ty, dx).map_or(-1, |k| k.min(i32::MAX as usize) as i32),
            );
        }
    }
    Some(RowTable { planes, kx })
}

/// z-slices per parallel work unit of the painting.
const PAINT_BLOCK: usize = 4;

/// Paint each ball's diameter into the phase voxels it covers. Balls come largest first, so a
/// voxel's value is that of the first ball reaching it. Planes are painted one at a time (blocks
/// of [`PAINT_BLOCK`] planes in parallel, each taking the balls overlapping it in the global
/// order, so the result does not depend on the thread count); per-row bitmaps of unpainted phase
/// voxels make each voxel painted once and already-painted runs skipped a word at a time, and a
/// summary per tile of [`TILE_ROWS`] rows (OR of their words) skips the rows of a disc whose
/// bounding box is already painted there (most balls paint nothing new).
fn paint(out: &mut Array3<f32>, mask: &[bool], balls: &[Ball], voxel_nm: [f64; 3]) {
    let (nz, ny, nx) = out.dim();
    let [dz, dy, _] = voxel_nm;
    let plane = ny * nx;
    // per distinct radius: row tables (balls are sorted by radius, so equal radii are adjacent)
    let mut tab_of: Vec<u32> = Vec::with_capacity(balls.len());
    let mut radii: Vec<f32> = Vec::new();
    for b in balls {
        if radii.last() != Some(&b.r2) {
            radii.push(b.r2);
        }
        tab_of.push(radii.len() as u32 - 1);
    }
    let tables: Vec<Option<RowTable>> = radii
        .par_iter()
        .map(|&r2| row_table(r2, voxel_nm, (nz, ny)))
        .collect();
    // z-extent of every ball and the balls of each block, in global order
    let nblocks = nz.div_ceil(PAINT_BLOCK);
    let mut block_balls: Vec<Vec<u32>> = vec![Vec::new(); nblocks];
    let mut zr: Vec<(u32, u32)> = Vec::with_capacity(balls.len());
    for (i, b) in balls.iter().enumerate() {
        let reff = b.r2 as f64 * (1.0 - TIE_MARGIN);
        let kz = (reff.sqrt() / dz).floor() as usize;
        let cz = b.c[0] as usize;
        let lo = cz.saturating_sub(kz);
        let hi = (cz + kz).min(nz - 1);
        zr.push((lo as u32, hi as u32));
        for bl in block_balls
            .iter_mut()
            .take(hi / PAINT_BLOCK + 1)
            .skip(lo / PAINT_BLOCK)
        {
            bl.push(i as u32);
        }
    }
    let vals: Vec<f32> = balls.iter().map(|b| 2.0 * b.r2.sqrt()).collect();
    let wpr = nx.div_ceil(64);
    let os = out.as_slice_mut().expect("fresh array is contiguous");
    os.par_chunks_mut(PAINT_BLOCK * plane)
        .enumerate()
        .for_each(|(bi, chunk)| {
            let z0 = bi * PAINT_BLOCK;
            let mut bits = vec![0u64; ny * wpr];
            let mut tiles = vec![0u64; ny.div_ceil(TILE_ROWS) * wpr];
            for (zi, oplane) in chunk.chunks_mut(plane).enumerate() {
                let z = z0 + zi;
                let mplane = &mask[z * plane..(z + 1) * plane];
                bits.fill(0);
                tiles.fill(0);
                let mut remaining: u64 = 0;
                for y in 0..ny {
                    let rb = &mut bits[y * wpr..(y + 1) * wpr];
                    for (x, &m) in mplane[y * nx..(y + 1) * nx].iter().enumerate() {
                        rb[x / 64] |= (m as u64) << (x % 64);
                        remaining += m as u64;
                    }
                    for (t, &w) in tiles[(y / TILE_ROWS) * wpr..][..wpr]
                        .iter_mut()
                        .zip(rb.iter())
                    {
                        *t |= w;
                    }
                }
                for &i in &block_balls[bi] {
                    if remaining == 0 {
                        break;
                    }
                    let i = i as usize;
                    let (lo, hi) = zr[i];
                    if (z as u32) < lo || (z as u32) > hi {
                        continue;
                    }
                    let b = &balls[i];
                    let [cz, cy, cx] = b.c.map(|v| v as usize);
                    let a = z.abs_diff(cz);
                    let val = vals[i];
                    let span = b.len as usize - 1;
                    let table = tables[tab_of[i] as usize].as_ref();
                    // y range of the ball's disc in this plane and the squared remainder
                    let (ky, start, rem) = match table {
                        Some(t) => {
                            let (ky, start) = t.planes[a];
                            if ky == u32::MAX {
                                continue;
                            }
                            (ky as usize, start as usize, 0.0)
                        }
                        None => {
                            let reff = b.r2 as f64 * (1.0 - TIE_MARGIN);
                            let tz = a as f64 * dz;
                            let rem = reff - tz * tz;
                            if rem <= 0.0 {
                                continue;
                            }
                            ((rem.sqrt() / dy).floor() as usize, 0, rem)
                        }
                    };
                    let row_kx = |y: usize| -> Option<usize> {
                        match table {
                            Some(t) => {
                                let k = t.kx[start + y.abs_diff(cy)];
                                (k >= 0).then_some(k as usize)
                            }
                            None => {
                                let ty = y.abs_diff(cy) as f64 * dy;
                                row_half_extent(rem - ty * ty, voxel_nm[2])
                            }
                        }
                    };
                    // the widest row (through the centre) bounds the disc in x
                    let Some(kx0) = row_kx(cy) else {
                        continue;
                    };
                    let (ylo, yhi) = (cy.saturating_sub(ky), (cy + ky).min(ny - 1));
                    let bxlo = cx.saturating_sub(kx0);
                    let bxhi = (cx + span + kx0).min(nx - 1);
                    for tr in ylo / TILE_ROWS..=yhi / TILE_ROWS {
                        // skip 8 rows at once when the disc's bounding box is painted there
                        if !any_bits(&tiles[tr * wpr..(tr + 1) * wpr], bxlo, bxhi) {
                            continue;
                        }
                        let t_end = ((tr + 1) * TILE_ROWS).min(ny);
                        let mut painted = false;
                        for y in ylo.max(tr * TILE_ROWS)..=yhi.min(t_end - 1) {
                            let Some(kx) = row_kx(y) else {
                                continue;
                            };
                            let xlo = cx.saturating_sub(kx);
                            let xhi = (cx + span + kx).min(nx - 1);
                            let n = paint_row(
                                &mut bits[y * wpr..(y + 1) * wpr],
                                &mut oplane[y * nx..(y + 1) * nx],
                                xlo,
                                xhi,
                                val,
                            );
                            painted |= n > 0;
                            remaining -= n as u64;
                        }
                        if painted {
                            // refresh the tile summary over the words touched
                            for wi in bxlo / 64..=bxhi / 64 {
                                let mut w = 0;
                                for y in tr * TILE_ROWS..t_end {
                                    w |= bits[y * wpr + wi];
                                }
                                tiles[tr * wpr + wi] = w;
                            }
                        }
                    }
                }
            }
        });
}

/// Volume-weighted distribution of local thickness.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ThicknessDistribution {
    /// Bin edges (nm), `bins + 1` values from 0 to the maximum thickness.
    pub bin_edges_nm: Vec<f64>,
    /// Fraction of the phase volume whose local thickness falls in each bin (sums to 1).
    pub volume_fraction: Vec<f64>,
    /// Fraction of the phase volume with thickness ≤ the bin's upper edge.
    pub cumulative_fraction: Vec<f64>,
}

/// Local-thickness statistics of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
    local_thickness_mode(labels, phase, voxel_nm, bins, ThicknessMode::Exact)
}

/// [`local_thickness`] by the chosen method (the statistics' `method` names it).
pub fn local_thickness_mode(
    labels: ArrayView3<'_, u8>,
    phase: u8,
    voxel_nm: [f64; 3],
    bins: usize,
    mode: ThicknessMode,
) -> Result<(Array3<f32>, LocalThickness), ParamError> {
    if bins == 0 {
        return Err(ParamError::new("bins", bins, "must be at least 1"));
    }
    let mask = super::edt::phase_mask(labels, phase);
    let map = local_thickness_map_mode(mask.view(), voxel_nm, mode)?;
    let mut stats = thickness_stats(map.view(), mask.view(), phase, voxel_nm, bins)?;
    stats.method = mode.method().to_string();
    Ok((map, stats))
}

/// Check a bin count (exposed for the CLI/workflow validation).
pub fn check_bins(bins: usize) -> Result<(), ParamError> {
    positive("bins", bins as f64)?;
    if bins > 65536 {
        return Err(ParamError::new(
            "bins",
            bins,
            "must lie in [1, 65536] (50 is usual)",
        ));
    }
    Ok(())
}
