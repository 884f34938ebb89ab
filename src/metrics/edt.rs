//! Exact anisotropic Euclidean distance transform (methods §8).
//!
//! Felzenszwalb & Huttenlocher (2012) lower envelope of parabolas, applied as three separable 1-D
//! passes (x, then y, then z), each with its own voxel spacing in nm, rayon-parallel over lines.
//!
//! Convention (same as `scipy.ndimage.distance_transform_edt(mask, sampling=(dz, dy, dx))` and the
//! `edt` package): for every voxel where `mask` is `true` (the phase), the distance in nm from its
//! centre to the centre of the nearest voxel where `mask` is `false`; `0` where `mask` is `false`.
//! Only voxels inside the array count: the box edge is **not** treated as background.
//!
//! When the phase fills the whole volume (no `false` voxel at all) every value is `+inf`
//! (`f32::INFINITY`): the distance is unbounded. Never NaN.

use crate::error::{positive, ParamError};
use ndarray::{Array3, ArrayView3, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Mask of the voxels of `labels` equal to `phase`.
pub fn phase_mask(labels: ArrayView3<'_, u8>, phase: u8) -> Array3<bool> {
    labels.mapv(|v| v == phase)
}

/// Check a voxel size `[dz, dy, dx]` (nm): finite and positive.
pub(crate) fn check_voxel(voxel_nm: [f64; 3]) -> Result<(), ParamError> {
    positive("voxel size dz (nm)", voxel_nm[0])?;
    positive("voxel size dy (nm)", voxel_nm[1])?;
    positive("voxel size dx (nm)", voxel_nm[2])?;
    Ok(())
}

/// Squared distance (nm²) from each `true` voxel to the nearest `false` voxel; `0` on `false`
/// voxels, `+inf` everywhere when there is no `false` voxel. `voxel_nm = [dz, dy, dx]`.
///
/// ```
/// use fibstack::metrics::edt::edt_squared;
/// use ndarray::Array3;
/// let mut m = Array3::from_elem((1, 1, 4), true);
/// m[[0, 0, 0]] = false;
/// let d2 = edt_squared(m.view(), [1.0, 1.0, 2.0]).unwrap();
/// assert_eq!(d2[[0, 0, 3]], 36.0);
/// ```
pub fn edt_squared(
    mask: ArrayView3<'_, bool>,
    voxel_nm: [f64; 3],
) -> Result<Array3<f32>, ParamError> {
    check_voxel(voxel_nm)?;
    let (nz, ny, nx) = mask.dim();
    let mut d: Array3<f32> = super::components::zeroed_volume((nz, ny, nx));
    if d.is_empty() {
        return Ok(d);
    }
    let [dz, dy, dx] = voxel_nm;
    let mask = mask.as_standard_layout();
    let ms = mask.as_slice().expect("standard layout");
    let plane = ny * nx;
    // per z-slice (in cache): the x pass, exact by two scans for the nearest background voxel of
    // each row, then the y pass (lines are the slice's columns)
    d.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(plane)
        .zip(ms.par_chunks(plane))
        .for_each(|(ds, mz)| {
            for (row, m) in ds.chunks_mut(nx).zip(mz.chunks(nx)) {
                row_pass(row, m, dx);
            }
            let slice = ArrayViewMut2::from_shape((ny, nx), ds).expect("slice shape");
            pass_axis0(slice, dy);
        });
    // pass along z: for each y, the [z, x] plane, lines along z
    d.axis_iter_mut(Axis(1))
        .into_par_iter()
        .for_each(|plane| pass_axis0(plane, dz));
    Ok(d)
}

/// Distance (nm) from each `true` voxel to the nearest `false` voxel (see the module docs for the
/// convention); `0` on `false` voxels; `+inf` everywhere when the volume holds no `false` voxel.
///
/// ```
/// use fibstack::metrics::edt::edt;
/// use ndarray::Array3;
/// let mut m = Array3::from_elem((3, 3, 3), true);
/// m[[0, 0, 0]] = false;
/// let d = edt(m.view(), [2.0, 1.0, 1.0]).unwrap();
/// assert!((d[[1, 1, 1]] - 6f32.sqrt()).abs() < 1e-6);
/// ```
pub fn edt(mask: ArrayView3<'_, bool>, voxel_nm: [f64; 3]) -> Result<Array3<f32>, ParamError> {
    let mut d = edt_squared(mask, voxel_nm)?;
    d.par_mapv_inplace(f32::sqrt);
    Ok(d)
}

/// Distance transform of the voxels of `labels` equal to `phase` (see [`edt`]).
pub fn edt_phase(
    labels: ArrayView3<'_, u8>,
    phase: u8,
    voxel_nm: [f64; 3],
) -> Result<Array3<f32>, ParamError> {
    edt(phase_mask(labels, phase).view(), voxel_nm)
}

/// Squared distance (nm²) along one row from each `true` voxel to the nearest `false` voxel of
/// the row (`+inf` when the row has none; `0` on `false` voxels): a forward and a backward scan.
fn row_pass(row: &mut [f32], m: &[bool], s: f64) {
    let mut last: Option<usize> = None;
    for (x, (o, &inside)) in row.iter_mut().zip(m).enumerate() {
        *o = if !inside {
            last = Some(x);
            0.0
        } else if let Some(p) = last {
            let t = x as f64 * s - p as f64 * s;
            (t * t) as f32
        } else {
            f32::INFINITY
        };
    }
    let mut next: Option<usize> = None;
    for (x, (o, &inside)) in row.iter_mut().zip(m).enumerate().rev() {
        if !inside {
            next = Some(x);
        } else if let Some(p) = next {
            let t = p as f64 * s - x as f64 * s;
            let v = (t * t) as f32;
            if v < *o {
                *o = v;
            }
        }
    }
}

/// Columns transformed together by [`pass_axis0`].
const COLS: usize = 16;

/// 1-D transform along axis 0 of a 2-D view, for groups of [`COLS`] columns at a time: each group
/// is gathered row by row into contiguous lines (short contiguous reads, sequential writes),
/// transformed, and scattered back the same way.
fn pass_axis0(mut a: ArrayViewMut2<'_, f32>, spacing: f64) {
    let (n, m) = a.dim();
    if n == 0 || m == 0 {
        return;
    }
    let mut buf = vec![0f64; n * COLS];
    let mut s = Scratch::new(n);
    for j0 in (0..m).step_by(COLS) {
        let w = COLS.min(m - j0);
        for i in 0..n {
            let row = a.row(i);
            for c in 0..w {
                buf[c * n + i] = row[j0 + c] as f64;
            }
        }
        for c in 0..w {
            let line = &mut buf[c * n..(c + 1) * n];
            s.f[..n].copy_from_slice(line);
            s.run(n, spacing);
            line.copy_from_slice(&s.d[..n]);
        }
        for i in 0..n {
            let mut row = a.row_mut(i);
            for c in 0..w {
                row[j0 + c] = buf[c * n + i] as f32;
            }
        }
    }
}

/// Working memory for one 1-D lower-envelope transform.
struct Scratch {
    /// input: squared distances (inf = no site)
    f: Vec<f64>,
    /// output
    d: Vec<f64>,
    /// parabola apices in the envelope
    v: Vec<usize>,
    /// boundaries between envelope parabolas (physical coordinate)
    z: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Scratch {
            f: vec![0.0; n],
            d: vec![0.0; n],
            v: vec![0; n],
            z: vec![0.0; n + 1],
        }
    }

    /// d[q] = min_p (q s − p s)² + f[p] over finite f[p]; all inf when none is finite.
    ///
    /// A site with `f = 0` (a background voxel) beats every earlier site at and beyond itself, so
    /// the envelope is emitted up to it and restarted from it: short envelopes, and runs of
    /// background cost one comparison per voxel.
    fn run(&mut self, n: usize, s: f64) {
        let f = &self.f;
        let v = &mut self.v;
        let z = &mut self.z;
        let d = &mut self.d;
        let mut k: usize = 0; // number of parabolas in the envelope
        let mut seg = 0; // first output not yet written
        for q in 0..n {
            let fq = f[q];
            if !fq.is_finite() {
                continue;
            }
            if fq == 0.0 && k == 1 && seg == q && v[0] + 1 == q && f[v[0]] == 0.0 {
                // background run continues
                d[q] = 0.0;
                v[0] = q;
                seg = q + 1;
                continue;
            }
            let xq = q as f64 * s;
            let hq = fq + xq * xq;
            loop {
                if k == 0 {
                    v[0] = q;
                    z[0] = f64::NEG_INFINITY;
                    z[1] = f64::INFINITY;
                    k = 1;
                    break;
                }
                let p = v[k - 1];
                let xp = p as f64 * s;
                let sep = (hq - (f[p] + xp * xp)) / (2.0 * (xq - xp));
                if sep <= z[k - 1] {
                    k -= 1;
                    continue;
                }
                v[k] = q;
                z[k] = sep;
                z[k + 1] = f64::INFINITY;
                k += 1;
                break;
            }
            if fq == 0.0 {
                emit(d, f, v, z, seg, q + 1, s);
                v[0] = q;
                z[0] = f64::NEG_INFINITY;
                z[1] = f64::INFINITY;
                k = 1;
                seg = q + 1;
            }
        }
        if k == 0 {
            d[seg..n].fill(f64::INFINITY);
            return;
        }
        emit(d, f, v, z, seg, n, s);
    }
}

/// Envelope values `d[from..to]` (envelope apices `v`, boundaries `z`).
#[inline]
fn emit(d: &mut [f64], f: &[f64], v: &[usize], z: &[f64], from: usize, to: usize, s: f64) {
    let mut j = 0;
    for (q, dq) in d.iter_mut().enumerate().take(to).skip(from) {
        let xq = q as f64 * s;
        while z[j + 1] < xq {
            j += 1;
        }
        let t = xq - v[j] as f64 * s;
        *dq = t * t + f[v[j]];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_d_line_matches_hand_values() {
        let mut m = Array3::from_elem((1, 1, 7), true);
        m[[0, 0, 2]] = false;
        let d = edt(m.view(), [1.0, 1.0, 0.5]).unwrap();
        let want = [1.0, 0.5, 0.0, 0.5, 1.0, 1.5, 2.0];
        for (i, w) in want.iter().enumerate() {
            assert!((d[[0, 0, i]] - w).abs() < 1e-6, "{i}: {}", d[[0, 0, i]]);
        }
    }

    #[test]
    fn no_background_gives_infinity_never_nan() {
        let m = Array3::from_elem((3, 4, 5), true);
        let d = edt(m.view(), [1.0, 2.0, 3.0]).unwrap();
        assert!(d.iter().all(|v| v.is_infinite() && *v > 0.0));
    }

    #[test]
    fn empty_phase_gives_zeros() {
        let m = Array3::from_elem((3, 4, 5), false);
        let d = edt(m.view(), [1.0, 2.0, 3.0]).unwrap();
        assert!(d.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn zero_sized_volume_is_fine() {
        let m = Array3::from_elem((0, 4, 5), true);
        assert_eq!(edt(m.view(), [1.0; 3]).unwrap().len(), 0);
    }

    #[test]
    fn bad_voxel_size_is_a_param_error() {
        let m = Array3::from_elem((2, 2, 2), true);
        assert!(edt(m.view(), [0.0, 1.0, 1.0]).is_err());
        assert!(edt(m.view(), [1.0, f64::NAN, 1.0]).is_err());
    }
}
