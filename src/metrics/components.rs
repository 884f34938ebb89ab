//! Connected-component labelling with 6/18/26 connectivity.
//!
//! Two-pass union–find, parallel over slabs of z-slices: each slab is labelled independently with
//! provisional labels, slabs are merged with union–find across their shared faces, then labels are
//! renumbered. Union always keeps the smaller provisional label as the root and provisional labels
//! are handed out in raster order, so the root of every component is the provisional label of its
//! first voxel in raster (z, y, x) order; final labels 1, 2, … therefore follow the order of each
//! component's first voxel — the same numbering as `scipy.ndimage.label`, independent of the
//! number of threads.

use crate::error::ParamError;
pub use crate::volume::Connectivity;
use ndarray::{Array3, ArrayView3, Zip};
use rayon::prelude::*;

/// Result of labelling.
#[derive(Debug, Clone, PartialEq)]
pub struct Components {
    /// 0 = background, 1..=n = components numbered by their first voxel in raster order.
    pub labels: Array3<u32>,
    /// `sizes[k]` = voxels of component `k + 1`.
    pub sizes: Vec<u64>,
    /// The neighbourhood used (6, 18 or 26).
    pub connectivity: Connectivity,
}

impl Components {
    /// Number of components.
    pub fn count(&self) -> usize {
        self.sizes.len()
    }
}

/// Union–find root of `a` with path halving (parents in `p`).
pub(crate) fn find(p: &mut [u32], mut a: u32) -> u32 {
    while p[a as usize] != a {
        let g = p[p[a as usize] as usize];
        p[a as usize] = g;
        a = g;
    }
    a
}

/// Join the sets of `a` and `b`; the smaller id becomes the root.
pub(crate) fn union(p: &mut [u32], a: u32, b: u32) {
    let ra = find(p, a);
    let rb = find(p, b);
    if ra < rb {
        p[rb as usize] = ra;
    } else if rb < ra {
        p[ra as usize] = rb;
    }
}

/// A zeroed `(nz, ny, nx)` volume for a kernel's output. On Linux its pages are marked for
/// transparent huge pages (`madvise(MADV_HUGEPAGE)`, as numpy does for large arrays): the
/// outputs here are hundreds of MB written once, and 2 MiB pages cut the first-touch page-fault
/// cost several-fold. Purely advisory: contents and results are unchanged.
pub(crate) fn zeroed_volume<T: Clone + num_zero::Zero>(dim: (usize, usize, usize)) -> Array3<T> {
    let n = dim.0 * dim.1 * dim.2;
    let v = vec![T::ZERO; n];
    advise_huge_pages(v.as_ptr() as usize, n * std::mem::size_of::<T>());
    Array3::from_shape_vec(dim, v).expect("length matches the shape")
}

/// Zero values of the output element types.
pub(crate) mod num_zero {
    pub trait Zero: Copy {
        const ZERO: Self;
    }
    impl Zero for u32 {
        const ZERO: Self = 0;
    }
    impl Zero for f32 {
        const ZERO: Self = 0.0;
    }
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(addr: usize, bytes: usize) {
    use std::ffi::{c_int, c_void};
    extern "C" {
        fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
    }
    const MADV_HUGEPAGE: c_int = 14;
    const PAGE: usize = 4096;
    if bytes < 16 << 20 {
        return;
    }
    let start = addr.next_multiple_of(PAGE);
    let end = (addr + bytes) / PAGE * PAGE;
    if end > start {
        // SAFETY: the range lies inside one live allocation owned by the caller; MADV_HUGEPAGE
        // only changes how the kernel backs those pages (contents are preserved), and a failure
        // (e.g. THP disabled) is harmless, so the return value is ignored.
        unsafe {
            madvise(start as *mut c_void, end - start, MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_addr: usize, _bytes: usize) {}

/// Label the voxels equal to `phase`.
///
/// ```
/// use fibstack::metrics::components::{label_phase, Connectivity};
/// use ndarray::Array3;
/// // Two voxels of phase 1 that touch only at a corner.
/// let mut a = Array3::<u8>::zeros((2, 2, 2));
/// a[[0, 0, 0]] = 1;
/// a[[1, 1, 1]] = 1;
/// let six = label_phase(a.view(), 1, Connectivity::Six).unwrap();
/// assert_eq!(six.count(), 2);
/// assert_eq!(six.sizes, vec![1, 1]);
/// assert_eq!(six.labels[[1, 1, 1]], 2);
/// let all = label_phase(a.view(), 1, Connectivity::TwentySix).unwrap();
/// assert_eq!(all.count(), 1);
/// ```
pub fn label_phase(
    labels: ArrayView3<u8>,
    phase: u8,
    conn: Connectivity,
) -> Result<Components, ParamError> {
    let mask = Zip::from(&labels).par_map_collect(|&v| v == phase);
    label_components(mask.view(), conn)
}

/// The foreground x-runs `[start, end)` of one row, appended to `runs`.
#[inline]
fn row_runs(row: &[bool], runs: &mut Vec<[u32; 2]>) {
    const ALL: u64 = 0x0101_0101_0101_0101;
    let n = row.len();
    let mut x = 0usize;
    let mut inside = false;
    let mut start = 0usize;
    while x < n {
        // skip whole 8-voxel words that do not change the state
        if x + 8 <= n {
            let mut w = [0u8; 8];
            for (d, &b) in w.iter_mut().zip(&row[x..x + 8]) {
                *d = b as u8;
            }
            let w = u64::from_le_bytes(w);
            if (!inside && w == 0) || (inside && w == ALL) {
                x += 8;
                continue;
            }
        }
        if row[x] != inside {
            if inside {
                runs.push([start as u32, x as u32]);
            } else {
                start = x;
            }
            inside = !inside;
        }
        x += 1;
    }
    if inside {
        runs.push([start as u32, n as u32]);
    }
}

/// Union every pair of touching runs of two rows (`a` = current row with first id `ia`, `b` = an
/// earlier neighbouring row with first id `ib`); runs touch when they overlap after widening by
/// `dil` voxels (1 when x-diagonal neighbours count, else 0).
#[inline]
fn union_rows(p: &mut [u32], a: &[[u32; 2]], ia: u32, b: &[[u32; 2]], ib: u32, dil: u32) {
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() && j < b.len() {
        let [s1, e1] = a[i];
        let [s2, e2] = b[j];
        if s2 < e1 + dil && s1 < e2 + dil {
            union(p, ia + i as u32, ib + j as u32);
        }
        if e1 < e2 {
            i += 1;
        } else {
            j += 1;
        }
    }
}

/// Label the `true` voxels of a mask.
///
/// Run-based: the foreground x-runs of every row are found (parallel over z-slices) and numbered
/// in raster order; runs are joined with union–find (smaller id as root) against the runs of the
/// earlier neighbouring rows `(z, y−1)`, `(z−1, y−1…y+1)`, parallel over slabs of z-slices with a
/// serial merge across slab faces; components are numbered by their root run, i.e. by their first
/// voxel in raster order; finally the runs are written into the label volume.
pub fn label_components(
    mask: ArrayView3<bool>,
    conn: Connectivity,
) -> Result<Components, ParamError> {
    let sh = mask.shape();
    let (nz, ny, nx) = (sh[0], sh[1], sh[2]);
    let n = nz * ny * nx;
    if n as u64 >= u32::MAX as u64 {
        return Err(ParamError::new(
            "volume voxels",
            n,
            "component labelling supports fewer than 2^32 - 1 voxels; crop the volume",
        ));
    }
    let mut out: Array3<u32> = zeroed_volume((nz, ny, nx));
    if n == 0 {
        return Ok(Components {
            labels: out,
            sizes: vec![],
            connectivity: conn,
        });
    }
    let std_mask;
    let m: &[bool] = match mask.as_slice() {
        Some(s) => s,
        None => {
            std_mask = mask.as_standard_layout().into_owned();
            std_mask.as_slice().expect("standard layout")
        }
    };
    let plane = ny * nx;
    // 1. runs per z-slice, with per-row run counts
    let per_slice: Vec<(Vec<[u32; 2]>, Vec<u32>)> = (0..nz)
        .into_par_iter()
        .map(|z| {
            let mut runs = Vec::new();
            let mut row_end = Vec::with_capacity(ny);
            for y in 0..ny {
                let i = z * plane + y * nx;
                row_runs(&m[i..i + nx], &mut runs);
                row_end.push(runs.len() as u32);
            }
            (runs, row_end)
        })
        .collect();
    // global run ids: row_off[r] = first run of row r = z * ny + y
    let mut row_off: Vec<u32> = Vec::with_capacity(nz * ny + 1);
    let mut total = 0u32;
    for (runs, row_end) in &per_slice {
        let mut prev = 0u32;
        for &e in row_end {
            row_off.push(total + prev);
            prev = e;
        }
        total += runs.len() as u32;
    }
    row_off.push(total);
    let mut runs: Vec<[u32; 2]> = Vec::with_capacity(total as usize);
    for (r, _) in per_slice {
        runs.extend_from_slice(&r);
    }
    let row = |z: usize, y: usize| -> (&[[u32; 2]], u32) {
        let r = z * ny + y;
        let (a, b) = (row_off[r], row_off[r + 1]);
        (&runs[a as usize..b as usize], a)
    };
    // backward neighbouring rows (dz, dy) and their x-widening for this connectivity
    let max = conn.max_l1();
    let nb: Vec<(usize, isize, u32)> = [(0usize, -1isize), (1, -1), (1, 0), (1, 1)]
        .into_iter()
        .filter(|&(dz, dy)| (dz * dz) as i32 + (dy * dy) as i32 <= max)
        .map(|(dz, dy)| {
            let dil = (((dz * dz) as i32 + (dy * dy) as i32) < max) as u32;
            (dz, dy, dil)
        })
        .collect();
    let join = |p: &mut [u32], base: u32, z: usize, y: usize, dz_max: usize| {
        let (a, ia) = row(z, y);
        if a.is_empty() {
            return;
        }
        for &(dz, dy, dil) in &nb {
            if dz > dz_max {
                continue;
            }
            let yy = y as isize + dy;
            if dz > z || yy < 0 || yy >= ny as isize {
                continue;
            }
            let (b, ib) = row(z - dz, yy as usize);
            if !b.is_empty() {
                union_rows(p, a, ia - base, b, ib - base, dil);
            }
        }
    };
    // 2. union-find inside slabs (run ids of a slab are contiguous), then across slab faces
    let mut parent: Vec<u32> = (0..total).collect();
    let slab = nz.div_ceil(4 * rayon::current_num_threads()).max(1);
    let bounds: Vec<(usize, usize)> = (0..nz)
        .step_by(slab)
        .map(|z0| (z0, (z0 + slab).min(nz)))
        .collect();
    {
        let mut chunks: Vec<(usize, usize, &mut [u32])> = Vec::with_capacity(bounds.len());
        let mut rest: &mut [u32] = &mut parent;
        let mut consumed = 0u32;
        for &(z0, z1) in &bounds {
            let hi = row_off[z1 * ny];
            let (head, tail) = rest.split_at_mut((hi - consumed) as usize);
            chunks.push((z0, z1, head));
            rest = tail;
            consumed = hi;
        }
        chunks.into_par_iter().for_each(|(z0, z1, p)| {
            let base = row_off[z0 * ny];
            for v in p.iter_mut() {
                *v -= base;
            }
            for z in z0..z1 {
                for y in 0..ny {
                    join(p, base, z, y, if z == z0 { 0 } else { 1 });
                }
            }
            for v in p.iter_mut() {
                *v += base;
            }
        });
    }
    for &(z0, _) in bounds.iter().skip(1) {
        for y in 0..ny {
            let (a, ia) = row(z0, y);
            if a.is_empty() {
                continue;
            }
            for &(dz, dy, dil) in &nb {
                let yy = y as isize + dy;
                if dz != 1 || yy < 0 || yy >= ny as isize {
                    continue;
                }
                let (b, ib) = row(z0 - 1, yy as usize);
                if !b.is_empty() {
                    union_rows(&mut parent, a, ia, b, ib, dil);
                }
            }
        }
    }
    // 3. number components by root (= first run in raster order) and count voxels
    let mut fin = vec![0u32; total as usize];
    let mut sizes: Vec<u64> = Vec::new();
    for id in 0..total {
        let r = find(&mut parent, id);
        let l = if r == id {
            sizes.push(0);
            sizes.len() as u32
        } else {
            fin[r as usize]
        };
        fin[id as usize] = l;
        let [s, e] = runs[id as usize];
        sizes[l as usize - 1] += (e - s) as u64;
    }
    // 4. write the runs
    out.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(z, o)| {
            for y in 0..ny {
                let r = z * ny + y;
                let orow = &mut o[y * nx..(y + 1) * nx];
                for id in row_off[r]..row_off[r + 1] {
                    let [s, e] = runs[id as usize];
                    orow[s as usize..e as usize].fill(fin[id as usize]);
                }
            }
        });
    Ok(Components {
        labels: out,
        sizes,
        connectivity: conn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_counts() {
        assert_eq!(Connectivity::Six.offsets().len(), 6);
        assert_eq!(Connectivity::Eighteen.offsets().len(), 18);
        assert_eq!(Connectivity::TwentySix.offsets().len(), 26);
        assert_eq!(Connectivity::TwentySix.backward_offsets().len(), 13);
        assert!(Connectivity::from_n(8).is_err());
    }

    #[test]
    fn diagonal_pair_depends_on_connectivity() {
        let mut m = Array3::from_elem((2, 2, 2), false);
        m[[0, 0, 0]] = true;
        m[[1, 1, 1]] = true;
        assert_eq!(
            label_components(m.view(), Connectivity::Six)
                .unwrap()
                .count(),
            2
        );
        assert_eq!(
            label_components(m.view(), Connectivity::Eighteen)
                .unwrap()
                .count(),
            2
        );
        let c = label_components(m.view(), Connectivity::TwentySix).unwrap();
        assert_eq!(c.count(), 1);
        assert_eq!(c.sizes, vec![2]);
    }

    #[test]
    fn empty_and_full() {
        let m = Array3::from_elem((3, 1, 4), false);
        let c = label_components(m.view(), Connectivity::Six).unwrap();
        assert_eq!(c.count(), 0);
        let m = Array3::from_elem((9, 2, 3), true);
        let c = label_components(m.view(), Connectivity::Six).unwrap();
        assert_eq!(c.sizes, vec![54]);
        assert!(c.labels.iter().all(|&l| l == 1));
        let m = Array3::from_elem((0, 2, 3), true);
        assert_eq!(
            label_components(m.view(), Connectivity::Six)
                .unwrap()
                .count(),
            0
        );
    }
}
