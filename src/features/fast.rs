//! The fast path of the feature stack: the same numbers as the per-family reference functions
//! ([`super::slice_planes`], built from [`super::smooth`], [`super::derivative`] and
//! [`super::depth`]), bit for bit, computed with shared intermediates and contiguous loops:
//!
//! - one Gaussian G_σ per scale feeds the gaussian, gradient, LoG, DoG, Hessian and structure
//!   families; the first differences (∂y, ∂x) are computed once per scale and shared by the
//!   gradient and the structure tensor, the second differences once and shared by the LoG and
//!   the Hessian;
//! - differences and box passes run over whole rows (the reflected borders handled apart), so
//!   the compiler vectorises them; the operations and their order are those of the reference, so
//!   the results are identical (tested: `fast_equals_reference`);
//! - the depth-context planes (G_σd and its box min/max) of a slice are computed once per slab
//!   and shared by the `depth_slices` slices in front of it ([`DepthBase`]).

use super::smooth::gaussian;
use super::{half_width, sigma_px, Family, FeatureParams};
use crate::preprocess::denoise::reflect_index;
use ndarray::{Array2, ArrayView2};

/// G_σd of one slice and its box minimum and maximum (half-width σd): what the slices in front
/// of it read as depth context.
#[derive(Debug, Clone)]
pub struct DepthBase {
    /// G_σd of the slice (grey values).
    pub mean: Array2<f32>,
    /// Box minimum of `mean` over the half-width σd window.
    pub min: Array2<f32>,
    /// Box maximum of `mean` over the half-width σd window.
    pub max: Array2<f32>,
}

/// The depth-context base planes of one slice (equal to [`super::depth::depth_planes`]' planes
/// for that slice).
pub fn depth_base(img: ArrayView2<f32>, d: [f64; 2], p: &FeatureParams) -> DepthBase {
    let g = gaussian(img, sigma_px(p.depth_sigma_nm, d));
    let r = half_width(p.depth_sigma_nm, d);
    let (min, max, _) = box_stats(&g, r, [true, true, false]);
    DepthBase {
        mean: g,
        min: min.expect("min"),
        max: max.expect("max"),
    }
}

fn std_slice(a: &Array2<f32>) -> &[f32] {
    a.as_slice().expect("standard layout")
}

/// Reflected neighbours `(i − 1, i + 1)` of row/column `i` of `n`.
#[inline]
fn nb(i: usize, n: usize) -> (usize, usize) {
    (
        reflect_index(i as isize - 1, n),
        reflect_index(i as isize + 1, n),
    )
}

/// `(∂y, ∂x)` of `g` exactly as [`super::derivative::gradient`].
fn first_differences(g: &[f32], ny: usize, nx: usize, d: [f64; 2]) -> (Vec<f32>, Vec<f32>) {
    let (hy, hx) = ((0.5 / d[0]) as f32, (0.5 / d[1]) as f32);
    let mut gy = vec![0f32; ny * nx];
    let mut gx = vec![0f32; ny * nx];
    for y in 0..ny {
        let (ym, yp) = nb(y, ny);
        let (a, b) = (&g[yp * nx..(yp + 1) * nx], &g[ym * nx..(ym + 1) * nx]);
        for ((o, &p), &m) in gy[y * nx..(y + 1) * nx].iter_mut().zip(a).zip(b) {
            *o = (p - m) * hy;
        }
        let row = &g[y * nx..(y + 1) * nx];
        let o = &mut gx[y * nx..(y + 1) * nx];
        if nx >= 3 {
            for x in 1..nx - 1 {
                o[x] = (row[x + 1] - row[x - 1]) * hx;
            }
        }
        for x in [0, nx - 1] {
            let (xm, xp) = nb(x, nx);
            o[x] = (row[xp] - row[xm]) * hx;
        }
    }
    (gy, gx)
}

/// `(∂yy, ∂xx, ∂xy)` of `g` exactly as [`super::derivative::second`].
fn second_differences(
    g: &[f32],
    ny: usize,
    nx: usize,
    d: [f64; 2],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (iyy, ixx, ixy) = (
        (1.0 / (d[0] * d[0])) as f32,
        (1.0 / (d[1] * d[1])) as f32,
        (0.25 / (d[0] * d[1])) as f32,
    );
    let n = ny * nx;
    let (mut gyy, mut gxx, mut gxy) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    for y in 0..ny {
        let (ym, yp) = nb(y, ny);
        let c = &g[y * nx..(y + 1) * nx];
        let p = &g[yp * nx..(yp + 1) * nx];
        let m = &g[ym * nx..(ym + 1) * nx];
        for (((o, &pv), &cv), &mv) in gyy[y * nx..(y + 1) * nx].iter_mut().zip(p).zip(c).zip(m) {
            *o = (pv - 2.0 * cv + mv) * iyy;
        }
        let oxx = &mut gxx[y * nx..(y + 1) * nx];
        let oxy = &mut gxy[y * nx..(y + 1) * nx];
        if nx >= 3 {
            for x in 1..nx - 1 {
                oxx[x] = (c[x + 1] - 2.0 * c[x] + c[x - 1]) * ixx;
                oxy[x] = (p[x + 1] - p[x - 1] - m[x + 1] + m[x - 1]) * ixy;
            }
        }
        for x in [0, nx - 1] {
            let (xm, xp) = nb(x, nx);
            oxx[x] = (c[xp] - 2.0 * c[x] + c[xm]) * ixx;
            oxy[x] = (p[xp] - p[xm] - m[xp] + m[xm]) * ixy;
        }
    }
    (gyy, gxx, gxy)
}

fn plane(v: Vec<f32>, ny: usize, nx: usize) -> Array2<f32> {
    Array2::from_shape_vec((ny, nx), v).expect("plane")
}

/// Eigenvalue planes of `[[a, b], [b, c]]` per pixel, each entry scaled by `s` first when given
/// (as the Hessian does) — [`super::derivative::eig2`].
fn eig_planes(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    s: Option<f32>,
    ny: usize,
    nx: usize,
) -> (Array2<f32>, Array2<f32>) {
    let n = ny * nx;
    let mut l1 = vec![0f32; n];
    let mut l2 = vec![0f32; n];
    for i in 0..n {
        let (e1, e2) = match s {
            Some(s) => super::derivative::eig2(s * a[i], s * b[i], s * c[i]),
            None => super::derivative::eig2(a[i], b[i], c[i]),
        };
        l1[i] = e1;
        l2[i] = e2;
    }
    (plane(l1, ny, nx), plane(l2, ny, nx))
}

/// Optional min, max and mean planes of [`box_stats`].
pub type BoxPlanes = (
    Option<Array2<f32>>,
    Option<Array2<f32>>,
    Option<Array2<f32>>,
);

/// Box minimum, maximum and mean over half-widths `r = [ry, rx]` (those of `want`), exactly as
/// [`super::smooth::local_min_max_mean`]: an x pass then a y pass, each over the reflected
/// indices in the reference's order.
pub fn box_stats(img: &Array2<f32>, r: [usize; 2], want: [bool; 3]) -> BoxPlanes {
    let (ny, nx) = img.dim();
    let src = img.as_standard_layout();
    let a = src.as_slice().expect("standard layout");
    let n = ny * nx;
    // x pass
    let (rx, ry) = (r[1], r[0]);
    let mut h: [Vec<f32>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (k, w) in want.iter().enumerate() {
        if *w {
            h[k] = vec![0f32; n];
        }
    }
    let wx = 2 * rx + 1;
    let mut buf = vec![0f32; nx + 2 * rx];
    for y in 0..ny {
        let row = &a[y * nx..(y + 1) * nx];
        if rx < nx {
            buf[rx..rx + nx].copy_from_slice(row);
            for i in (0..rx).chain(rx + nx..nx + 2 * rx) {
                buf[i] = row[reflect_index(i as isize - rx as isize, nx)];
            }
        } else {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = row[reflect_index(i as isize - rx as isize, nx)];
            }
        }
        let [hmn, hmx, hsm] = &mut h;
        if want[0] {
            let o = &mut hmn[y * nx..(y + 1) * nx];
            o.fill(f32::INFINITY);
            for k in 0..wx {
                for (ov, &bv) in o.iter_mut().zip(&buf[k..k + nx]) {
                    *ov = ov.min(bv);
                }
            }
        }
        if want[1] {
            let o = &mut hmx[y * nx..(y + 1) * nx];
            o.fill(f32::NEG_INFINITY);
            for k in 0..wx {
                for (ov, &bv) in o.iter_mut().zip(&buf[k..k + nx]) {
                    *ov = ov.max(bv);
                }
            }
        }
        if want[2] {
            let o = &mut hsm[y * nx..(y + 1) * nx];
            o.fill(0.0);
            for k in 0..wx {
                for (ov, &bv) in o.iter_mut().zip(&buf[k..k + nx]) {
                    *ov += bv;
                }
            }
        }
    }
    // y pass
    let mut out: [Option<Array2<f32>>; 3] = [None, None, None];
    let cnt = ((2 * ry + 1) * (2 * rx + 1)) as f32;
    for (k, hk) in h.iter().enumerate() {
        if !want[k] {
            continue;
        }
        let mut o = vec![0f32; n];
        for y in 0..ny {
            let orow = &mut o[y * nx..(y + 1) * nx];
            orow.fill(match k {
                0 => f32::INFINITY,
                1 => f32::NEG_INFINITY,
                _ => 0.0,
            });
            for t in -(ry as isize)..=ry as isize {
                let yy = reflect_index(y as isize + t, ny);
                let srow = &hk[yy * nx..(yy + 1) * nx];
                match k {
                    0 => orow.iter_mut().zip(srow).for_each(|(a, &b)| *a = a.min(b)),
                    1 => orow.iter_mut().zip(srow).for_each(|(a, &b)| *a = a.max(b)),
                    _ => orow.iter_mut().zip(srow).for_each(|(a, &b)| *a += b),
                }
            }
            if k == 2 {
                orow.iter_mut().for_each(|v| *v /= cnt);
            }
        }
        out[k] = Some(plane(o, ny, nx));
    }
    let [a0, a1, a2] = out;
    (a0, a1, a2)
}

/// The feature planes of one slice in the order of [`FeatureParams::names`], equal to
/// [`super::slice_planes`]: `img` is the slice, `behind[j − 1]` the depth base of the slice j
/// behind it (j = 1…`depth_slices`, edge-clamped; ignored without the depth family).
pub fn slice_planes_fast(
    img: ArrayView2<f32>,
    behind: &[&DepthBase],
    d: [f64; 2],
    p: &FeatureParams,
) -> Vec<Array2<f32>> {
    let (ny, nx) = img.dim();
    let has = |f: Family| p.families.contains(&f);
    let needs_smooth = p
        .families
        .iter()
        .any(|f| !matches!(f, Family::Raw | Family::Local | Family::Depth));
    let smoothed: Vec<Array2<f32>> = if needs_smooth {
        p.scales_nm
            .iter()
            .map(|&s| gaussian(img, sigma_px(s, d)))
            .collect()
    } else {
        Vec::new()
    };
    let first: Vec<(Vec<f32>, Vec<f32>)> = if has(Family::Gradient) || has(Family::Structure) {
        smoothed
            .iter()
            .map(|g| first_differences(std_slice(g), ny, nx, d))
            .collect()
    } else {
        Vec::new()
    };
    let second: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = if has(Family::Log) || has(Family::Hessian) {
        smoothed
            .iter()
            .map(|g| second_differences(std_slice(g), ny, nx, d))
            .collect()
    } else {
        Vec::new()
    };
    let mut out: Vec<Array2<f32>> = Vec::new();
    for fam in Family::ALL {
        if !has(fam) {
            continue;
        }
        match fam {
            Family::Raw => out.push(img.to_owned()),
            Family::Gaussian => out.extend(smoothed.iter().cloned()),
            Family::Gradient => {
                for ((gy, gx), &s) in first.iter().zip(&p.scales_nm) {
                    let s = s as f32;
                    let v = gy
                        .iter()
                        .zip(gx)
                        .map(|(a, b)| s * (a * a + b * b).sqrt())
                        .collect();
                    out.push(plane(v, ny, nx));
                }
            }
            Family::Log => {
                for ((gyy, gxx, _), &s) in second.iter().zip(&p.scales_nm) {
                    let s2 = (s * s) as f32;
                    let v = gyy.iter().zip(gxx).map(|(a, b)| s2 * (a + b)).collect();
                    out.push(plane(v, ny, nx));
                }
            }
            Family::Dog => {
                for w in smoothed.windows(2) {
                    out.push(&w[0] - &w[1]);
                }
            }
            Family::Hessian => {
                for ((gyy, gxx, gxy), &s) in second.iter().zip(&p.scales_nm) {
                    let s2 = (s * s) as f32;
                    let (a, b) = eig_planes(gyy, gxy, gxx, Some(s2), ny, nx);
                    out.push(a);
                    out.push(b);
                }
            }
            Family::Structure => {
                for ((gy, gx), &s) in first.iter().zip(&p.scales_nm) {
                    let sf = s as f32;
                    let rho = sigma_px(2.0 * s, d);
                    let prod = |a: &[f32], b: &[f32]| {
                        let v: Vec<f32> = a.iter().zip(b).map(|(a, b)| sf * sf * a * b).collect();
                        gaussian(plane(v, ny, nx).view(), rho)
                    };
                    let jyy = prod(gy, gy);
                    let jxx = prod(gx, gx);
                    let jxy = prod(gy, gx);
                    let (a, b) = eig_planes(
                        std_slice(&jyy),
                        std_slice(&jxy),
                        std_slice(&jxx),
                        None,
                        ny,
                        nx,
                    );
                    out.push(a);
                    out.push(b);
                }
            }
            Family::Local => {
                let im = img.to_owned();
                for &s in &p.scales_nm {
                    let (mn, mx, me) = box_stats(&im, half_width(s, d), [true, true, true]);
                    out.push(mn.expect("min"));
                    out.push(mx.expect("max"));
                    out.push(me.expect("mean"));
                }
            }
            Family::Depth => {
                for b in behind.iter().take(p.depth_slices) {
                    out.push(b.mean.clone());
                    out.push(b.min.clone());
                    out.push(b.max.clone());
                }
            }
        }
    }
    out
}
