//! Orthogonal Daubechies discrete wavelet transform (1-D and separable 2-D, multi-level) with
//! periodic boundaries ("periodization", as PyWavelets' `mode="periodization"`), used by the
//! wavelet–FFT destriping of Münch et al. (2009).
//!
//! Convention (identical to PyWavelets, checked against stored peer values): with `h` the
//! reconstruction low-pass filter (`rec_lo`, length `L`, `Σh = √2`), `g[k] = (−1)^k h[L−1−k]`
//! and `s = L/2 − 1`,
//! `a[i] = Σ_k h[k]·x[(2i + k − s) mod M]`, `d[i] = Σ_k g[k]·x[(2i + k − s) mod M]`.
//! A signal of odd length `N` is first extended by repeating its last sample (`M = N + 1`), so
//! a level yields `⌈N/2⌉` coefficients; the inverse is the transpose (the transform is
//! orthogonal on the extended signal) and the reconstruction is cropped back to `N` samples —
//! perfect reconstruction for every length.
//!
//! 2-D bands follow PyWavelets' `dwt2` naming: `ch` = low-pass along x, high-pass along y
//! (horizontal edges), `cv` = high-pass along x, low-pass along y (vertical edges and vertical
//! stripes: a column-constant image has all its detail energy here), `cd` = high-pass along both.

use crate::error::ParamError;
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Orthogonal wavelet family (Daubechies `dbN`, `N` vanishing moments; `db1` = Haar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Wavelet {
    /// `db1` = Haar (filter length 2; also accepted as `haar`).
    #[serde(alias = "haar")]
    #[value(alias = "haar")]
    Db1,
    /// `db2` (filter length 4).
    Db2,
    /// `db3` (filter length 6).
    Db3,
    /// `db4` (filter length 8; default).
    #[default]
    Db4,
    /// `db5` (filter length 10).
    Db5,
}

// Daubechies (1992, Ten Lectures on Wavelets, Table 6.1) scaling filters, normalised to Σh = √2.
const DB1: [f64; 2] = [
    std::f64::consts::FRAC_1_SQRT_2,
    std::f64::consts::FRAC_1_SQRT_2,
];
const DB2: [f64; 4] = [
    0.482_962_913_144_534_16,
    0.836_516_303_737_807_9,
    0.224_143_868_042_013_4,
    -0.129_409_522_551_260_37,
];
const DB3: [f64; 6] = [
    0.332_670_552_950_082_63,
    0.806_891_509_311_092_5,
    0.459_877_502_118_491_54,
    -0.135_011_020_010_254_58,
    -0.085_441_273_882_026_66,
    0.035_226_291_885_709_53,
];
const DB4: [f64; 8] = [
    0.230_377_813_308_896_5,
    0.714_846_570_552_915_7,
    0.630_880_767_929_858_9,
    -0.027_983_769_416_859_854,
    -0.187_034_811_719_093_09,
    0.030_841_381_835_560_764,
    0.032_883_011_666_885_2,
    -0.010_597_401_785_069_032,
];
const DB5: [f64; 10] = [
    0.160_102_397_974_192_93,
    0.603_829_269_797_189_6,
    0.724_308_528_437_772_9,
    0.138_428_145_901_320_74,
    -0.242_294_887_066_382_03,
    -0.032_244_869_584_638_375,
    0.077_571_493_840_045_72,
    -0.006_241_490_212_798_274,
    -0.012_580_751_999_081_999,
    0.003_335_725_285_473_771_2,
];

impl Wavelet {
    /// All supported families.
    pub const ALL: [Wavelet; 5] = [
        Wavelet::Db1,
        Wavelet::Db2,
        Wavelet::Db3,
        Wavelet::Db4,
        Wavelet::Db5,
    ];

    /// Name as written on the command line (`db1` … `db5`).
    pub fn name(self) -> &'static str {
        match self {
            Wavelet::Db1 => "db1",
            Wavelet::Db2 => "db2",
            Wavelet::Db3 => "db3",
            Wavelet::Db4 => "db4",
            Wavelet::Db5 => "db5",
        }
    }

    /// Parse `db1`…`db5` (or `haar`).
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        match s.to_ascii_lowercase().as_str() {
            "haar" | "db1" => Ok(Wavelet::Db1),
            "db2" => Ok(Wavelet::Db2),
            "db3" => Ok(Wavelet::Db3),
            "db4" => Ok(Wavelet::Db4),
            "db5" => Ok(Wavelet::Db5),
            _ => Err(ParamError::new(
                "wavelet",
                s,
                "use db1 (haar), db2, db3, db4 or db5",
            )),
        }
    }

    /// Reconstruction low-pass (scaling) filter `h`.
    pub fn rec_lo(self) -> &'static [f64] {
        match self {
            Wavelet::Db1 => &DB1,
            Wavelet::Db2 => &DB2,
            Wavelet::Db3 => &DB3,
            Wavelet::Db4 => &DB4,
            Wavelet::Db5 => &DB5,
        }
    }

    /// Reconstruction high-pass (wavelet) filter `g[k] = (−1)^k h[L−1−k]`.
    pub fn rec_hi(self) -> Vec<f64> {
        let h = self.rec_lo();
        let l = h.len();
        (0..l)
            .map(|k| {
                if k % 2 == 0 {
                    h[l - 1 - k]
                } else {
                    -h[l - 1 - k]
                }
            })
            .collect()
    }

    /// Filter length `L = 2N`.
    pub fn len(self) -> usize {
        self.rec_lo().len()
    }

    /// Always false (a filter has at least two taps); for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Deepest useful level for a signal of `n` samples, as PyWavelets' `dwt_max_level`:
    /// `⌊log₂(n / (L − 1))⌋` (0 when `n < L − 1`).
    pub fn max_level(self, n: usize) -> usize {
        let l1 = self.len() - 1;
        if n < l1 {
            return 0;
        }
        let mut lev = 0;
        while lev < 60 && n >= l1 << (lev + 1) {
            lev += 1;
        }
        lev
    }
}

/// One level of the 1-D periodized DWT of `x` (any length ≥ 1): returns `(a, d)`, each of
/// length `⌈N/2⌉`.
pub fn dwt1(x: &[f32], w: Wavelet) -> (Vec<f32>, Vec<f32>) {
    let n = x.len();
    let m = n + n % 2;
    let half = m / 2;
    let h = w.rec_lo();
    let g = w.rec_hi();
    let l = h.len();
    let s = l / 2 - 1;
    let at = |j: usize| if j < n { x[j] } else { x[n - 1] };
    let mut a = vec![0f32; half];
    let mut d = vec![0f32; half];
    for i in 0..half {
        let (mut sa, mut sd) = (0f64, 0f64);
        // index (2i + k − s) mod m, computed without underflow
        let base = 2 * i + m * l - s;
        for k in 0..l {
            let v = at((base + k) % m) as f64;
            sa += h[k] * v;
            sd += g[k] * v;
        }
        a[i] = sa as f32;
        d[i] = sd as f32;
    }
    (a, d)
}

/// Inverse of [`dwt1`]: reconstructs `n` samples (`n` = the original length, `⌈n/2⌉ = a.len()`).
pub fn idwt1(a: &[f32], d: &[f32], w: Wavelet, n: usize) -> Vec<f32> {
    let half = a.len();
    let m = 2 * half;
    let h = w.rec_lo();
    let g = w.rec_hi();
    let l = h.len();
    let s = l / 2 - 1;
    let mut x = vec![0f64; m.max(1)];
    for i in 0..half {
        let base = 2 * i + m * l - s;
        let (ai, di) = (a[i] as f64, d[i] as f64);
        for k in 0..l {
            x[(base + k) % m] += h[k] * ai + g[k] * di;
        }
    }
    x.truncate(n);
    x.into_iter().map(|v| v as f32).collect()
}

/// One level of the separable 2-D DWT (PyWavelets `dwt2`, periodization).
#[derive(Debug, Clone, PartialEq)]
pub struct Dwt2 {
    /// Approximation (low-pass along y and x).
    pub ca: Array2<f32>,
    /// Low-pass along x, high-pass along y (horizontal structures).
    pub ch: Array2<f32>,
    /// High-pass along x, low-pass along y: vertical stripes live here.
    pub cv: Array2<f32>,
    /// High-pass along both axes.
    pub cd: Array2<f32>,
    /// Shape `(ny, nx)` of the transformed image (for the inverse).
    pub shape: (usize, usize),
}

/// Apply the 1-D DWT along `axis` of `img`: returns (low, high).
fn dwt_axis(img: ArrayView2<f32>, axis: usize, w: Wavelet) -> (Array2<f32>, Array2<f32>) {
    let (ny, nx) = img.dim();
    let (n, other) = if axis == 0 { (ny, nx) } else { (nx, ny) };
    let half = n.div_ceil(2);
    let shape = if axis == 0 { (half, nx) } else { (ny, half) };
    let mut lo = Array2::<f32>::zeros(shape);
    let mut hi = Array2::<f32>::zeros(shape);
    let mut buf = vec![0f32; n];
    for j in 0..other {
        let lane = img.index_axis(Axis(1 - axis), j);
        for (b, v) in buf.iter_mut().zip(lane.iter()) {
            *b = *v;
        }
        let (a, d) = dwt1(&buf, w);
        lo.index_axis_mut(Axis(1 - axis), j)
            .iter_mut()
            .zip(a)
            .for_each(|(o, v)| *o = v);
        hi.index_axis_mut(Axis(1 - axis), j)
            .iter_mut()
            .zip(d)
            .for_each(|(o, v)| *o = v);
    }
    (lo, hi)
}

/// Inverse of [`dwt_axis`] to length `n` along `axis`.
fn idwt_axis(
    lo: ArrayView2<f32>,
    hi: ArrayView2<f32>,
    axis: usize,
    n: usize,
    w: Wavelet,
) -> Array2<f32> {
    let (hy, hx) = lo.dim();
    let other = if axis == 0 { hx } else { hy };
    let shape = if axis == 0 { (n, hx) } else { (hy, n) };
    let mut out = Array2::<f32>::zeros(shape);
    let (mut a, mut d) = (Vec::new(), Vec::new());
    for j in 0..other {
        a.clear();
        d.clear();
        a.extend(lo.index_axis(Axis(1 - axis), j).iter().copied());
        d.extend(hi.index_axis(Axis(1 - axis), j).iter().copied());
        let x = idwt1(&a, &d, w, n);
        out.index_axis_mut(Axis(1 - axis), j)
            .iter_mut()
            .zip(x)
            .for_each(|(o, v)| *o = v);
    }
    out
}

/// One level of the 2-D DWT of `img`.
pub fn dwt2(img: ArrayView2<f32>, w: Wavelet) -> Dwt2 {
    let (lx, hx) = dwt_axis(img, 1, w);
    let (ca, ch) = dwt_axis(lx.view(), 0, w);
    let (cv, cd) = dwt_axis(hx.view(), 0, w);
    Dwt2 {
        ca,
        ch,
        cv,
        cd,
        shape: img.dim(),
    }
}

/// Inverse of [`dwt2`] (perfect reconstruction to the original shape).
pub fn idwt2(c: &Dwt2, w: Wavelet) -> Array2<f32> {
    let (ny, nx) = c.shape;
    let lx = idwt_axis(c.ca.view(), c.ch.view(), 0, ny, w);
    let hx = idwt_axis(c.cv.view(), c.cd.view(), 0, ny, w);
    idwt_axis(lx.view(), hx.view(), 1, nx, w)
}

/// Multi-level 2-D decomposition: `levels[0]` is the finest level; the approximation of the
/// last entry is the coarse residual (the `ca` of earlier levels is left empty).
pub fn wavedec2(img: ArrayView2<f32>, w: Wavelet, levels: usize) -> Vec<Dwt2> {
    let mut out: Vec<Dwt2> = Vec::with_capacity(levels);
    let mut cur = img.to_owned();
    for _ in 0..levels {
        let mut c = dwt2(cur.view(), w);
        cur = std::mem::replace(&mut c.ca, Array2::zeros((0, 0)));
        out.push(c);
    }
    if let Some(last) = out.last_mut() {
        last.ca = cur;
    }
    out
}

/// Inverse of [`wavedec2`].
pub fn waverec2(mut dec: Vec<Dwt2>, w: Wavelet) -> Array2<f32> {
    let mut cur: Option<Array2<f32>> = None;
    while let Some(mut c) = dec.pop() {
        if let Some(a) = cur.take() {
            c.ca = a;
        }
        cur = Some(idwt2(&c, w));
    }
    cur.unwrap_or_else(|| Array2::zeros((0, 0)))
}
