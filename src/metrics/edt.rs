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
    transform(mask, |m| m, voxel_nm, false)
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
    transform(mask, |m| m, voxel_nm, true)
}

/// Distance transform of the voxels of `labels` equal to `phase` (see [`edt`]); the phase test is
/// made in the first pass, without a mask volume.
pub fn edt_phase(
    labels: ArrayView3<'_, u8>,
    phase: u8,
    voxel_nm: [f64; 3],
) -> Result<Array3<f32>, ParamError> {
    transform(labels, move |v| v == phase, voxel_nm, true)
}

/// Columns gathered together by the y pass (the slice is in cache) and by the z pass (lines
/// through every plane: wider blocks give longer contiguous reads per plane).
const BLOCK_Y: usize = 64;
const BLOCK_Z: usize = 128;

/// The three passes: per z-slice (in cache) the x pass, exact by two scans for the nearest
/// background voxel of each row, then the y pass (lines are the slice's columns); then the z pass
/// for each y over the [z, x] plane. `root`: the z pass writes the distance instead of its square
/// (the square root of the same f32 value).
fn transform<T: Copy + Sync>(
    input: ArrayView3<'_, T>,
    inside: impl Fn(T) -> bool + Sync,
    voxel_nm: [f64; 3],
    root: bool,
) -> Result<Array3<f32>, ParamError> {
    check_voxel(voxel_nm)?;
    let (nz, ny, nx) = input.dim();
    let mut d: Array3<f32> = super::components::zeroed_volume((nz, ny, nx));
    if d.is_empty() {
        return Ok(d);
    }
    let [dz, dy, dx] = voxel_nm;
    let input = input.as_standard_layout();
    let ms = input.as_slice().expect("standard layout");
    let plane = ny * nx;
    d.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(plane)
        .zip(ms.par_chunks(plane))
        .for_each_init(
            || Scratch::new(ny, BLOCK_Y),
            |s, (ds, mz)| {
                for (row, m) in ds.chunks_mut(nx).zip(mz.chunks(nx)) {
                    row_pass(row, m, &inside, dx);
                }
                let slice = ArrayViewMut2::from_shape((ny, nx), ds).expect("slice shape");
                pass_axis0(slice, dy, false, s);
            },
        );
    d.axis_iter_mut(Axis(1)).into_par_iter().for_each_init(
        || Scratch::new(nz, BLOCK_Z),
        |s, plane| pass_axis0(plane, dz, root, s),
    );
    Ok(d)
}

/// Squared distance (nm²) along one row from each inside voxel to the nearest outside voxel of
/// the row (`+inf` when the row has none; `0` on outside voxels): a forward and a backward scan.
fn row_pass<T: Copy>(row: &mut [f32], m: &[T], inside: &impl Fn(T) -> bool, s: f64) {
    let mut last: Option<usize> = None;
    for (x, (o, &v)) in row.iter_mut().zip(m).enumerate() {
        *o = if !inside(v) {
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
    for (x, (o, &v)) in row.iter_mut().zip(m).enumerate().rev() {
        if !inside(v) {
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

/// 1-D transform along axis 0 of a 2-D view whose rows are contiguous, for blocks of columns at a
/// time: each block is gathered row by row (contiguous reads) into lines of the scratch,
/// transformed line by line, and scattered back the same way; `root` writes square roots.
fn pass_axis0(mut a: ArrayViewMut2<'_, f32>, spacing: f64, root: bool, s: &mut Scratch) {
    let (n, m) = a.dim();
    if n == 0 || m == 0 {
        return;
    }
    let ls = s.stride;
    for j0 in (0..m).step_by(s.block) {
        let w = s.block.min(m - j0);
        for i in 0..n {
            let row = a.row(i);
            let row = row.as_slice().expect("rows of the passes are contiguous");
            for (c, &v) in row[j0..j0 + w].iter().enumerate() {
                s.inp[c * ls + i] = v;
            }
        }
        for c in 0..w {
            let (f, d) = (&s.inp[c * ls..c * ls + n], &mut s.out[c * ls..c * ls + n]);
            s.env.run(f, d, spacing);
        }
        for i in 0..n {
            let mut row = a.row_mut(i);
            let row = row
                .as_slice_mut()
                .expect("rows of the passes are contiguous");
            let dst = &mut row[j0..j0 + w];
            if root {
                for (c, o) in dst.iter_mut().enumerate() {
                    *o = s.out[c * ls + i].sqrt();
                }
            } else {
                for (c, o) in dst.iter_mut().enumerate() {
                    *o = s.out[c * ls + i];
                }
            }
        }
    }
}

/// Working memory of [`pass_axis0`] for one thread: a block of gathered lines, their transforms,
/// and the lower envelope.
struct Scratch {
    /// columns per block
    block: usize,
    /// distance between gathered lines (line length plus 16 so that the lines of a block do not
    /// share cache sets)
    stride: usize,
    /// gathered input lines: squared distances (inf = no site)
    inp: Vec<f32>,
    /// transformed lines
    out: Vec<f32>,
    env: Envelope,
}

impl Scratch {
    fn new(n: usize, block: usize) -> Self {
        let stride = n + 16;
        Scratch {
            block,
            stride,
            inp: vec![0.0; stride * block],
            out: vec![0.0; stride * block],
            env: Envelope::new(n),
        }
    }
}

/// Lower envelope of parabolas for one line: apex index, apex position (physical), apex value
/// f, f + x², and the boundaries between envelope parabolas (physical coordinate).
struct Envelope {
    v: Vec<usize>,
    x: Vec<f64>,
    f: Vec<f64>,
    h: Vec<f64>,
    z: Vec<f64>,
}

impl Envelope {
    fn new(n: usize) -> Self {
        Envelope {
            v: vec![0; n],
            x: vec![0.0; n],
            f: vec![0.0; n],
            h: vec![0.0; n],
            z: vec![0.0; n + 1],
        }
    }

    /// Start the envelope with the single parabola at `q`.
    #[inline]
    fn reset(&mut self, q: usize, xq: f64, fq: f64, hq: f64) {
        self.v[0] = q;
        self.x[0] = xq;
        self.f[0] = fq;
        self.h[0] = hq;
        self.z[0] = f64::NEG_INFINITY;
        self.z[1] = f64::INFINITY;
    }

    /// d[q] = min_p (q s − p s)² + f[p] over finite f[p]; all inf when none is finite.
    ///
    /// A site with `f = 0` (a background voxel) beats every earlier site at and beyond itself, so
    /// the envelope is emitted up to it and restarted from it: short envelopes, and runs of
    /// background cost one comparison per voxel.
    fn run(&mut self, f: &[f32], d: &mut [f32], s: f64) {
        let n = f.len();
        let mut k: usize = 0; // number of parabolas in the envelope
        let mut seg = 0; // first output not yet written
        for (q, &fq) in f.iter().enumerate() {
            if !fq.is_finite() {
                continue;
            }
            let fq = fq as f64;
            if fq == 0.0 && k == 1 && seg == q && self.v[0] + 1 == q && self.f[0] == 0.0 {
                // background run continues
                d[q] = 0.0;
                self.v[0] = q;
                self.x[0] = q as f64 * s;
                self.h[0] = self.x[0] * self.x[0];
                seg = q + 1;
                continue;
            }
            let xq = q as f64 * s;
            let hq = fq + xq * xq;
            loop {
                if k == 0 {
                    self.reset(q, xq, fq, hq);
                    k = 1;
                    break;
                }
                let sep = (hq - self.h[k - 1]) / (2.0 * (xq - self.x[k - 1]));
                if sep <= self.z[k - 1] {
                    k -= 1;
                    continue;
                }
                self.v[k] = q;
                self.x[k] = xq;
                self.f[k] = fq;
                self.h[k] = hq;
                self.z[k] = sep;
                self.z[k + 1] = f64::INFINITY;
                k += 1;
                break;
            }
            if fq == 0.0 {
                self.emit(d, seg, q + 1, s);
                self.reset(q, xq, fq, hq);
                k = 1;
                seg = q + 1;
            }
        }
        if k == 0 {
            d[seg..n].fill(f32::INFINITY);
            return;
        }
        self.emit(d, seg, n, s);
    }

    /// Envelope values `d[from..to]`.
    #[inline]
    fn emit(&self, d: &mut [f32], from: usize, to: usize, s: f64) {
        let mut j = 0;
        for (q, dq) in d.iter_mut().enumerate().take(to).skip(from) {
            let xq = q as f64 * s;
            while self.z[j + 1] < xq {
                j += 1;
            }
            let t = xq - self.x[j];
            *dq = (t * t + self.f[j]) as f32;
        }
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
