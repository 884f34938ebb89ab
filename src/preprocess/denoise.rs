//! Gaussian denoising (methods §5): separable, σ in nm per axis, 2-D per slice or 3-D, kernel
//! truncated at `truncate`·σ (default 4), border mode *reflect* (scipy's `'reflect'`, half-sample
//! symmetric: `d c b a | a b c d | d c b a`).
//!
//! The exact-kernel filter equals `scipy.ndimage.gaussian_filter(x, sigma, truncate=4.0,
//! mode='reflect')` (tested against stored scipy output, `tests/filters_gaussian.rs`).
//! [`GaussianMethod::Recursive`] selects the recursive (Deriche 4th-order IIR) fast path of
//! [`recursive`], within 1·10⁻² of the input's range of the exact kernel, cost independent of σ.
//!
//! Also home of the small helpers the per-slice filters share: [`map_slices`] (the stack driver
//! that maps a 2-D kernel over the z-slices with rayon, so a slice reader can feed it later) and
//! [`from_f32_like`] (convert a result back to the input's sample type).

use crate::error::ParamError;
use crate::volume::{GreyData, GreyVolume, SampleType, VoxelSize};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub mod recursive;
pub use recursive::{gaussian_2d_recursive, gaussian_3d_recursive};

/// Largest `truncate` (kernel radius in σ) accepted.
pub const MAX_TRUNCATE: f64 = 20.0;

/// 2-D per slice or full 3-D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dims {
    /// Each z-slice on its own (streams slice by slice).
    #[default]
    #[serde(rename = "2d", alias = "2D")]
    #[value(name = "2d", alias = "2D")]
    TwoD,
    /// The whole volume (z too).
    #[serde(rename = "3d", alias = "3D")]
    #[value(name = "3d", alias = "3D")]
    ThreeD,
}

/// Mirror index for scipy's `'reflect'` mode (half-sample symmetric, period `2n`).
#[inline]
pub fn reflect_index(i: isize, n: usize) -> usize {
    let n2 = 2 * n as isize;
    let mut m = i.rem_euclid(n2);
    if m >= n as isize {
        m = n2 - 1 - m;
    }
    m as usize
}

/// Normalised 1-D Gaussian kernel of radius `round(truncate·σ)` like scipy's `_gaussian_kernel1d`
/// (radius = `int(truncate*sigma + 0.5)`). `sigma` in voxels, > 0.
pub fn gaussian_kernel(sigma: f64, truncate: f64) -> Vec<f64> {
    let radius = (truncate * sigma + 0.5) as usize;
    let s2 = sigma * sigma;
    let mut k: Vec<f64> = (-(radius as isize)..=radius as isize)
        .map(|x| (-0.5 / s2 * (x * x) as f64).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    for v in k.iter_mut() {
        *v /= sum;
    }
    k
}

/// Convolve one contiguous line with a symmetric kernel (reflect borders). `buf` is scratch.
fn convolve_line(line: &[f32], kernel: &[f32], out: &mut [f32], buf: &mut Vec<f32>) {
    let n = line.len();
    let r = kernel.len() / 2;
    buf.clear();
    // reflected borders; the interior is a plain copy
    buf.extend((0..r).map(|i| line[reflect_index(i as isize - r as isize, n)]));
    buf.extend_from_slice(line);
    buf.extend((n..n + r).map(|i| line[reflect_index(i as isize, n)]));
    // taps outer, outputs inner: contiguous multiply-adds the compiler vectorises; each output
    // still sums w0·c + Σ_k w_k·(left_k + right_k) in k order (same rounding as one at a time)
    let out = &mut out[..n];
    for (o, c) in out.iter_mut().zip(&buf[r..r + n]) {
        *o = kernel[r] * c;
    }
    for k in 1..=r {
        let w = kernel[r + k];
        let (a, b) = (&buf[r - k..r - k + n], &buf[r + k..r + k + n]);
        for ((o, av), bv) in out.iter_mut().zip(a).zip(b) {
            *o += w * (av + bv);
        }
    }
}

/// Pass along the last axis of a standard-layout 2-D array (rows).
fn pass_rows(src: ArrayView2<f32>, kernel: &[f32]) -> Array2<f32> {
    let src = src.as_standard_layout();
    let mut out = Array2::<f32>::zeros(src.raw_dim());
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(src.axis_iter(Axis(0)).into_par_iter())
        .for_each_init(Vec::new, |buf, (mut o, s)| {
            let s = s.as_slice().expect("standard layout row");
            let o = o.as_slice_mut().expect("fresh array row");
            convolve_line(s, kernel, o, buf);
        });
    out
}

/// Pass along the first axis of a 2-D array, vectorised over whole rows (no gathering).
fn pass_cols(src: ArrayView2<f32>, kernel: &[f32]) -> Array2<f32> {
    let src = src.as_standard_layout();
    let ny = src.nrows();
    let r = kernel.len() / 2;
    let mut out = Array2::<f32>::zeros(src.raw_dim());
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(y, mut o)| {
            let o = o.as_slice_mut().expect("fresh array row");
            let c = src.row(y);
            let c = c.as_slice().expect("standard layout");
            let w0 = kernel[r];
            for (ov, cv) in o.iter_mut().zip(c) {
                *ov = w0 * cv;
            }
            for k in 1..=r {
                let a = src.row(reflect_index(y as isize - k as isize, ny));
                let b = src.row(reflect_index(y as isize + k as isize, ny));
                let (a, b) = (a.as_slice().expect("row"), b.as_slice().expect("row"));
                let w = kernel[r + k];
                for ((ov, av), bv) in o.iter_mut().zip(a).zip(b) {
                    *ov += w * (av + bv);
                }
            }
        });
    out
}

fn kernel_f32(sigma_vox: f64, truncate: f64) -> Option<Vec<f32>> {
    if sigma_vox > 0.0 {
        Some(
            gaussian_kernel(sigma_vox, truncate)
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        )
    } else {
        None
    }
}

/// 2-D Gaussian of one slice, `sigma_vox = [σy, σx]` in pixels (0 = no smoothing on that axis).
pub fn gaussian_2d(img: ArrayView2<f32>, sigma_vox: [f64; 2], truncate: f64) -> Array2<f32> {
    let mut cur = img.to_owned();
    if let Some(k) = kernel_f32(sigma_vox[0], truncate) {
        cur = pass_cols(cur.view(), &k);
    }
    if let Some(k) = kernel_f32(sigma_vox[1], truncate) {
        cur = pass_rows(cur.view(), &k);
    }
    cur
}

/// 3-D Gaussian, `sigma_vox = [σz, σy, σx]` in voxels (0 = no smoothing on that axis).
/// Passes in scipy's order (z, y, x); the z pass works on blocks of rows so its accumulator
/// stays in cache, the y pass on whole rows per slice, the x pass on contiguous rows.
pub fn gaussian_3d(vol: ArrayView3<f32>, sigma_vox: [f64; 3], truncate: f64) -> Array3<f32> {
    let src = vol.as_standard_layout();
    let (nz, ny, nx) = src.dim();
    if nz == 0 || ny == 0 || nx == 0 {
        return src.into_owned();
    }
    let mut cur = match kernel_f32(sigma_vox[0], truncate) {
        Some(k) => {
            let r = k.len() / 2;
            let src_s = src.as_slice().expect("standard layout");
            let plane = ny * nx;
            let mut out = Array3::<f32>::zeros((nz, ny, nx));
            let block = 4096usize;
            out.as_slice_mut()
                .expect("fresh array")
                .par_chunks_mut(block)
                .enumerate()
                .for_each(|(bi, o)| {
                    let start = bi * block;
                    let z = start / plane;
                    // chunks may straddle two planes: split on plane boundaries
                    let mut done = 0usize;
                    let mut zc = z;
                    while done < o.len() {
                        let off = (start + done) % plane;
                        let len = (plane - off).min(o.len() - done);
                        let os = &mut o[done..done + len];
                        let at = |zz: usize| &src_s[zz * plane + off..zz * plane + off + len];
                        let w0 = k[r];
                        for (ov, cv) in os.iter_mut().zip(at(zc)) {
                            *ov = w0 * cv;
                        }
                        for kk in 1..=r {
                            let a = at(reflect_index(zc as isize - kk as isize, nz));
                            let b = at(reflect_index(zc as isize + kk as isize, nz));
                            let w = k[r + kk];
                            for ((ov, av), bv) in os.iter_mut().zip(a).zip(b) {
                                *ov += w * (av + bv);
                            }
                        }
                        done += len;
                        zc += 1;
                    }
                });
            out
        }
        None => src.into_owned(),
    };
    let ky = kernel_f32(sigma_vox[1], truncate);
    let kx = kernel_f32(sigma_vox[2], truncate);
    if ky.is_some() || kx.is_some() {
        // y then x pass per slice, in place, with per-thread scratch (no per-slice allocation);
        // the same operations in the same order as `gaussian_2d`
        cur.axis_iter_mut(Axis(0)).into_par_iter().for_each_init(
            || (Vec::<f32>::new(), Vec::<f32>::new()),
            |(tmp, buf), mut s| {
                let s = s.as_slice_mut().expect("standard layout slice");
                tmp.clear();
                match &ky {
                    Some(k) => {
                        let r = k.len() / 2;
                        tmp.resize(ny * nx, 0.0);
                        for y in 0..ny {
                            let o = &mut tmp[y * nx..(y + 1) * nx];
                            for (ov, cv) in o.iter_mut().zip(&s[y * nx..(y + 1) * nx]) {
                                *ov = k[r] * cv;
                            }
                            for kk in 1..=r {
                                let ya = reflect_index(y as isize - kk as isize, ny);
                                let yb = reflect_index(y as isize + kk as isize, ny);
                                let a = &s[ya * nx..(ya + 1) * nx];
                                let b = &s[yb * nx..(yb + 1) * nx];
                                let w = k[r + kk];
                                for ((ov, av), bv) in o.iter_mut().zip(a).zip(b) {
                                    *ov += w * (av + bv);
                                }
                            }
                        }
                    }
                    None => tmp.extend_from_slice(s),
                }
                match &kx {
                    Some(k) => {
                        for (o, t) in s.chunks_mut(nx).zip(tmp.chunks(nx)) {
                            convolve_line(t, k, o, buf);
                        }
                    }
                    None => s.copy_from_slice(tmp),
                }
            },
        );
    }
    cur
}

/// Which Gaussian implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GaussianMethod {
    /// Sampled kernel truncated at `truncate`·σ (equals scipy's `gaussian_filter`).
    #[default]
    Exact,
    /// Recursive (Deriche 4th-order IIR) fast path (module `recursive`): within 1·10⁻² of the
    /// input's range of the exact kernel; cost per voxel independent of σ. Needs `truncate ≥ 3`.
    Recursive,
}

impl std::str::FromStr for GaussianMethod {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, ParamError> {
        match s {
            "exact" => Ok(GaussianMethod::Exact),
            "recursive" => Ok(GaussianMethod::Recursive),
            _ => Err(ParamError::new(
                "gaussian method",
                s,
                "use \"exact\" (sampled kernel, default) or \"recursive\" (IIR fast path)",
            )),
        }
    }
}

/// Parameters of `fibstack denoise` / `kind = "denoise"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GaussianParams {
    /// σ per axis `[z, y, x]` in nm (0 = no smoothing along that axis; z ignored in 2-D mode).
    pub sigma_nm: [f64; 3],
    /// 2-D per slice or 3-D.
    pub dims: Dims,
    /// Kernel radius in σ (scipy's `truncate`), default 4.
    pub truncate: f64,
    /// Exact kernel (default) or the recursive fast path.
    #[serde(default)]
    pub method: GaussianMethod,
}

impl GaussianParams {
    /// Isotropic σ (nm), 2-D per slice, truncate 4.
    pub fn isotropic(sigma_nm: f64, dims: Dims) -> Self {
        GaussianParams {
            sigma_nm: [sigma_nm; 3],
            dims,
            truncate: 4.0,
            method: GaussianMethod::Exact,
        }
    }
    /// Check 0 ≤ σ ≤ 1 mm per axis with at least one used axis > 0, 0 < truncate ≤ 20.
    pub fn validate(&self) -> Result<(), ParamError> {
        for (i, name) in ["sigma z", "sigma y", "sigma x"].iter().enumerate() {
            let s = self.sigma_nm[i];
            if !(s.is_finite() && (0.0..=crate::error::MAX_LENGTH_NM).contains(&s)) {
                return Err(ParamError::new(
                    format!("{name} (nm)"),
                    s,
                    format!(
                        "must be a length in nm, >= 0 and at most {} nm (0 = no smoothing along that axis)",
                        crate::error::MAX_LENGTH_NM
                    ),
                ));
            }
        }
        let used = match self.dims {
            Dims::TwoD => &self.sigma_nm[1..],
            Dims::ThreeD => &self.sigma_nm[..],
        };
        if used.iter().all(|&s| s == 0.0) {
            return Err(ParamError::new(
                "sigma (nm)",
                format!("{:?}", self.sigma_nm),
                "must be > 0 on at least one axis that is filtered",
            ));
        }
        if !(self.truncate.is_finite() && self.truncate > 0.0 && self.truncate <= MAX_TRUNCATE) {
            return Err(ParamError::new(
                "truncate",
                self.truncate,
                format!("must lie in (0, {MAX_TRUNCATE}] (kernel radius in σ; 4 is usual)"),
            ));
        }
        if self.method == GaussianMethod::Recursive && self.truncate < recursive::MIN_TRUNCATE {
            return Err(ParamError::new(
                "truncate",
                self.truncate,
                "the recursive Gaussian approximates the untruncated kernel: use truncate >= 3 \
                 or method exact",
            ));
        }
        Ok(())
    }
    /// 2-D filter of one slice with this method, `s = [σy, σx]` voxels.
    pub fn filter_2d(&self, img: ArrayView2<f32>, s: [f64; 2]) -> Array2<f32> {
        match self.method {
            GaussianMethod::Exact => gaussian_2d(img, s, self.truncate),
            GaussianMethod::Recursive => gaussian_2d_recursive(img, s, self.truncate),
        }
    }
    /// 3-D filter with this method, `s = [σz, σy, σx]` voxels.
    pub fn filter_3d(&self, vol: ArrayView3<f32>, s: [f64; 3]) -> Array3<f32> {
        match self.method {
            GaussianMethod::Exact => gaussian_3d(vol, s, self.truncate),
            GaussianMethod::Recursive => gaussian_3d_recursive(vol, s, self.truncate),
        }
    }
    /// σ in voxels `[z, y, x]` (z = 0 in 2-D mode).
    pub fn sigma_vox(&self, voxel: &VoxelSize) -> [f64; 3] {
        let mut s: [f64; 3] = std::array::from_fn(|i| self.sigma_nm[i] / voxel.nm[i]);
        if self.dims == Dims::TwoD {
            s[0] = 0.0;
        }
        s
    }

    /// σ in voxels for an image of `shape`, checked against it before any kernel is built: a σ
    /// larger than the image along a filtered axis is refused (the result would be flat, and the
    /// kernel would grow with the mistake); an axis of one voxel is left alone (reflecting a
    /// single sample is the identity).
    ///
    /// ```
    /// use fibstack::preprocess::denoise::{Dims, GaussianParams};
    /// use fibstack::volume::{VoxelSize, VoxelSource};
    /// let v = VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine);
    /// let p = GaussianParams::isotropic(10.0, Dims::TwoD);
    /// assert_eq!(p.sigma_vox_for(&v, [8, 64, 64]).unwrap(), [0.0, 2.0, 2.0]);
    /// let e = GaussianParams::isotropic(1000.0, Dims::TwoD).sigma_vox_for(&v, [8, 64, 64]).unwrap_err();
    /// assert!(e.to_string().contains("64 voxels along y"), "{e}");
    /// ```
    pub fn sigma_vox_for(
        &self,
        voxel: &VoxelSize,
        shape: [usize; 3],
    ) -> Result<[f64; 3], ParamError> {
        let mut s = self.sigma_vox(voxel);
        for (i, axis) in ["z", "y", "x"].iter().enumerate() {
            if s[i] == 0.0 {
                continue;
            }
            let n = shape[i];
            if n <= 1 {
                s[i] = 0.0;
            } else if s[i].is_nan() || s[i] > n as f64 {
                return Err(ParamError::new(
                    format!("sigma {axis} (nm)"),
                    self.sigma_nm[i],
                    format!(
                        "is {:.4e} voxels of {} nm, more than the image ({n} voxels along {axis}): the result would be flat; give a sigma of at most {} nm, or 0 on that axis",
                        s[i],
                        voxel.nm[i],
                        n as f64 * voxel.nm[i]
                    ),
                ));
            }
        }
        Ok(s)
    }
}

/// Gaussian-filter a grey volume; returns an f32 volume (same voxel size and metadata).
pub fn gaussian_volume(vol: &GreyVolume, p: &GaussianParams) -> Result<GreyVolume, ParamError> {
    p.validate()?;
    vol.voxel.validate()?;
    let s = p.sigma_vox_for(&vol.voxel, vol.shape())?;
    let out = match p.dims {
        Dims::ThreeD => p.filter_3d(vol.to_f32().view(), s),
        Dims::TwoD => map_grey_slices(&vol.data, |sl| p.filter_2d(sl, [s[1], s[2]])),
    };
    Ok(GreyVolume {
        data: GreyData::F32(out),
        voxel: vol.voxel,
        meta: vol.meta.clone(),
    })
}

/// The stack driver: apply a 2-D kernel to every z-slice in parallel (rayon). Each call sees one
/// slice only, so the same kernel can later be fed by a streaming slice reader.
pub fn map_slices<T, U, F>(vol: ArrayView3<T>, f: F) -> Array3<U>
where
    T: Sync,
    U: Send + Sync + Clone + Default,
    F: Fn(ArrayView2<T>) -> Array2<U> + Sync,
{
    let (nz, ny, nx) = vol.dim();
    let mut out = Array3::<U>::default((nz, ny, nx));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(vol.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut dst, src)| dst.assign(&f(src)));
    out
}

/// [`map_slices`] on grey data of any sample type, converting each slice to f32 on the fly (the
/// whole volume is never converted at once).
pub fn map_grey_slices<F>(data: &GreyData, f: F) -> Array3<f32>
where
    F: Fn(ArrayView2<f32>) -> Array2<f32> + Sync,
{
    match data {
        GreyData::U8(a) => map_slices(a.view(), |s| f(s.mapv(|v| v as f32).view())),
        GreyData::U16(a) => map_slices(a.view(), |s| f(s.mapv(|v| v as f32).view())),
        GreyData::F32(a) => map_slices(a.view(), &f),
    }
}

/// Convert an f32 result back to a sample type: u8/u16 are rounded to nearest and clamped to
/// the type's range; f32 is kept.
pub fn from_f32_like(a: Array3<f32>, st: SampleType) -> GreyData {
    match st {
        SampleType::U8 => GreyData::U8(a.mapv(|v| v.round().clamp(0.0, 255.0) as u8)),
        SampleType::U16 => GreyData::U16(a.mapv(|v| v.round().clamp(0.0, 65535.0) as u16)),
        SampleType::F32 => GreyData::F32(a),
    }
}

/// One z-slice of grey data as f32.
pub fn slice_f32(data: &GreyData, z: usize) -> Array2<f32> {
    match data {
        GreyData::U8(a) => a.index_axis(Axis(0), z).mapv(|v| v as f32),
        GreyData::U16(a) => a.index_axis(Axis(0), z).mapv(|v| v as f32),
        GreyData::F32(a) => a.index_axis(Axis(0), z).to_owned(),
    }
}

/// A per-slice kernel: `(z, slice) -> (filtered slice, side value)`.
type SliceFn<'a> =
    dyn Fn(usize, ArrayView2<f32>) -> Result<(Array2<f32>, f64), ParamError> + Sync + 'a;

/// The streaming stack driver with typed output: for every z-slice (in parallel) convert it to
/// f32, run `f(z, slice)`, and store the result directly in `out_type` (u8/u16 rounded and
/// clamped per slice), so no full-size f32 copy of the input or the output ever exists. Also
/// returns the per-slice side values `f` reports (e.g. removed energy).
pub fn map_grey_slices_typed<F>(
    data: &GreyData,
    out_type: SampleType,
    f: F,
) -> Result<(GreyData, Vec<f64>), ParamError>
where
    F: Fn(usize, ArrayView2<f32>) -> Result<(Array2<f32>, f64), ParamError> + Sync,
{
    let [nz, ny, nx] = data.shape();
    fn run<T: Send + Sync + Clone + Default, C: Fn(f32) -> T + Sync>(
        shape: (usize, usize, usize),
        data: &GreyData,
        f: &SliceFn<'_>,
        conv: C,
    ) -> Result<(Array3<T>, Vec<f64>), ParamError> {
        let mut out = Array3::<T>::default(shape);
        let side = out
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .map(|(z, mut dst)| {
                let (r, v) = f(z, slice_f32(data, z).view())?;
                ndarray::Zip::from(&mut dst)
                    .and(&r)
                    .for_each(|d, &x| *d = conv(x));
                Ok(v)
            })
            .collect::<Result<Vec<f64>, ParamError>>()?;
        Ok((out, side))
    }
    let sh = (nz, ny, nx);
    Ok(match out_type {
        SampleType::U8 => {
            let (o, v) = run(sh, data, &f, |x| x.round().clamp(0.0, 255.0) as u8)?;
            (GreyData::U8(o), v)
        }
        SampleType::U16 => {
            let (o, v) = run(sh, data, &f, |x| x.round().clamp(0.0, 65535.0) as u16)?;
            (GreyData::U16(o), v)
        }
        SampleType::F32 => {
            let (o, v) = run(sh, data, &f, |x| x)?;
            (GreyData::F32(o), v)
        }
    })
}

/// [`gaussian_volume`] with the result stored as `out_type` (2-D mode streams slice by slice;
/// 3-D mode filters in f32 and converts at the end).
pub fn gaussian_volume_as(
    vol: &GreyVolume,
    p: &GaussianParams,
    out_type: SampleType,
) -> Result<GreyVolume, ParamError> {
    gaussian_volume_progress(vol, p, out_type, &crate::progress::Silent)
}

/// [`gaussian_volume_as`] reporting to `progress`: phase `denoise`, one unit per slice in 2-D
/// mode, one unit for the whole 3-D filter.
pub fn gaussian_volume_progress(
    vol: &GreyVolume,
    p: &GaussianParams,
    out_type: SampleType,
    progress: &dyn crate::progress::Progress,
) -> Result<GreyVolume, ParamError> {
    p.validate()?;
    vol.voxel.validate()?;
    let s = p.sigma_vox_for(&vol.voxel, vol.shape())?;
    let data = match p.dims {
        Dims::ThreeD => {
            let ph = crate::progress::Phase::start(progress, "denoise (3-D)", 1);
            let d = from_f32_like(p.filter_3d(vol.to_f32().view(), s), out_type);
            ph.inc(1);
            d
        }
        Dims::TwoD => {
            let ph = crate::progress::Phase::start(progress, "denoise", vol.shape()[0] as u64);
            map_grey_slices_typed(&vol.data, out_type, |_, sl| {
                let r = p.filter_2d(sl, [s[1], s[2]]);
                ph.inc(1);
                Ok((r, 0.0))
            })?
            .0
        }
    };
    Ok(GreyVolume {
        data,
        voxel: vol.voxel,
        meta: vol.meta.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// Deliberately simple 1-D-at-a-time reference (gathers each line, f64 accumulation).
    fn naive(vol: &Array3<f32>, sigma: [f64; 3]) -> Array3<f32> {
        let mut cur = vol.mapv(|v| v as f64);
        for (ax, &s) in sigma.iter().enumerate() {
            if s <= 0.0 {
                continue;
            }
            let k = gaussian_kernel(s, 4.0);
            let r = (k.len() / 2) as isize;
            let n = cur.shape()[ax];
            let mut out = cur.clone();
            for (idx, o) in out.indexed_iter_mut() {
                let mut acc = 0.0;
                for (j, w) in k.iter().enumerate() {
                    let mut p = [idx.0, idx.1, idx.2];
                    p[ax] = reflect_index(p[ax] as isize + j as isize - r, n);
                    acc += w * cur[p];
                }
                *o = acc;
            }
            cur = out;
        }
        cur.mapv(|v| v as f32)
    }

    #[test]
    fn reflect_matches_scipy_convention() {
        // d c b a | a b c d | d c b a
        let n = 4;
        let m: Vec<usize> = (-5..9).map(|i| reflect_index(i, n)).collect();
        assert_eq!(m, vec![3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
    }

    #[test]
    fn kernel_sums_to_one_and_radius() {
        let k = gaussian_kernel(1.5, 4.0);
        assert_eq!(k.len(), 2 * 6 + 1);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn constant_is_preserved() {
        let a = Array3::from_elem((3, 5, 7), 2.5f32);
        let g = gaussian_3d(a.view(), [1.0, 2.0, 3.0], 4.0);
        assert!(g.iter().all(|v| (v - 2.5).abs() < 1e-5));
    }

    #[test]
    fn fast_equals_naive_with_tiny_axes() {
        let mut rng = crate::rng::Rng::new(7);
        let a = Array3::from_shape_fn((3, 6, 9), |_| rng.uniform() as f32);
        // σ large relative to the axis length exercises the periodic mirror
        let s = [2.0, 1.3, 0.7];
        let f = gaussian_3d(a.view(), s, 4.0);
        let n = naive(&a, s);
        for (x, y) in f.iter().zip(n.iter()) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    #[test]
    fn bad_sigma_is_param_error() {
        let v = GreyVolume::from_f32(Array3::zeros((1, 4, 4)), VoxelSize::default());
        assert!(gaussian_volume(&v, &GaussianParams::isotropic(0.0, Dims::TwoD)).is_err());
        assert!(gaussian_volume(&v, &GaussianParams::isotropic(-1.0, Dims::ThreeD)).is_err());
        let mut p = GaussianParams::isotropic(1.0, Dims::TwoD);
        p.sigma_nm = [3.0, 0.0, 0.0];
        assert!(p.validate().is_err(), "only z given but 2-D mode");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, failure_persistence: None, ..Default::default() })]
        #[test]
        fn prop_fast_equals_naive(nz in 1usize..5, ny in 1usize..9, nx in 1usize..9,
                                  sz in 0.0f64..2.5, sy in 0.3f64..2.5, sx in 0.3f64..2.5, seed in 0u64..1000) {
            let mut rng = crate::rng::Rng::new(seed);
            let a = Array3::from_shape_fn((nz, ny, nx), |_| rng.uniform() as f32 * 100.0);
            let f = gaussian_3d(a.view(), [sz, sy, sx], 4.0);
            let n = naive(&a, [sz, sy, sx]);
            for (x, y) in f.iter().zip(n.iter()) {
                proptest::prop_assert!((x - y).abs() < 1e-3, "{} vs {}", x, y);
            }
        }
    }
}
