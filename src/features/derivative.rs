//! Derivative features of a smoothed slice G_σ: gradient magnitude, Laplacian, Hessian and
//! structure-tensor eigenvalues. Central differences with reflected borders, per nm
//! (`d = [dy, dx]`), scale-normalised by σ (first derivatives) and σ² (second derivatives) so
//! that responses at different scales are comparable.

use super::smooth::gaussian;
use crate::preprocess::denoise::reflect_index;
use ndarray::{Array2, ArrayView2};

/// First differences `(∂y, ∂x)` of `g` per nm.
pub fn gradient(g: ArrayView2<f32>, d: [f64; 2]) -> (Array2<f32>, Array2<f32>) {
    let (ny, nx) = g.dim();
    let (hy, hx) = ((0.5 / d[0]) as f32, (0.5 / d[1]) as f32);
    let r = |i: isize, n: usize| reflect_index(i, n);
    let gy = Array2::from_shape_fn((ny, nx), |(y, x)| {
        let y = y as isize;
        (g[[r(y + 1, ny), x]] - g[[r(y - 1, ny), x]]) * hy
    });
    let gx = Array2::from_shape_fn((ny, nx), |(y, x)| {
        let x = x as isize;
        (g[[y, r(x + 1, nx)]] - g[[y, r(x - 1, nx)]]) * hx
    });
    (gy, gx)
}

/// Second differences `(∂yy, ∂xx, ∂xy)` of `g` per nm².
pub fn second(g: ArrayView2<f32>, d: [f64; 2]) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let (ny, nx) = g.dim();
    let r = |i: isize, n: usize| reflect_index(i, n);
    let (iyy, ixx, ixy) = (
        (1.0 / (d[0] * d[0])) as f32,
        (1.0 / (d[1] * d[1])) as f32,
        (0.25 / (d[0] * d[1])) as f32,
    );
    let gyy = Array2::from_shape_fn((ny, nx), |(y, x)| {
        let yi = y as isize;
        (g[[r(yi + 1, ny), x]] - 2.0 * g[[y, x]] + g[[r(yi - 1, ny), x]]) * iyy
    });
    let gxx = Array2::from_shape_fn((ny, nx), |(y, x)| {
        let xi = x as isize;
        (g[[y, r(xi + 1, nx)]] - 2.0 * g[[y, x]] + g[[y, r(xi - 1, nx)]]) * ixx
    });
    let gxy = Array2::from_shape_fn((ny, nx), |(y, x)| {
        let (yi, xi) = (y as isize, x as isize);
        let (yp, ym, xp, xm) = (r(yi + 1, ny), r(yi - 1, ny), r(xi + 1, nx), r(xi - 1, nx));
        (g[[yp, xp]] - g[[yp, xm]] - g[[ym, xp]] + g[[ym, xm]]) * ixy
    });
    (gyy, gxx, gxy)
}

/// Eigenvalues (larger, smaller) of the symmetric 2×2 matrix `[[a, b], [b, c]]`.
#[inline]
pub fn eig2(a: f32, b: f32, c: f32) -> (f32, f32) {
    let m = 0.5 * (a + c);
    let q = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    (m + q, m - q)
}

/// σ·|∇g| (`sigma_nm` = the scale of `g`).
pub fn gradient_magnitude(g: ArrayView2<f32>, d: [f64; 2], sigma_nm: f64) -> Array2<f32> {
    let (gy, gx) = gradient(g, d);
    let s = sigma_nm as f32;
    ndarray::Zip::from(&gy)
        .and(&gx)
        .map_collect(|a, b| s * (a * a + b * b).sqrt())
}

/// σ²·(∂xx + ∂yy) g.
pub fn laplacian(g: ArrayView2<f32>, d: [f64; 2], sigma_nm: f64) -> Array2<f32> {
    let (gyy, gxx, _) = second(g, d);
    let s2 = (sigma_nm * sigma_nm) as f32;
    ndarray::Zip::from(&gyy)
        .and(&gxx)
        .map_collect(|a, b| s2 * (a + b))
}

/// Eigenvalues (λ1 ≥ λ2) of σ²·H(g).
pub fn hessian_eigenvalues(
    g: ArrayView2<f32>,
    d: [f64; 2],
    sigma_nm: f64,
) -> (Array2<f32>, Array2<f32>) {
    let (gyy, gxx, gxy) = second(g, d);
    let s2 = (sigma_nm * sigma_nm) as f32;
    let mut l1 = Array2::<f32>::zeros(gyy.dim());
    let mut l2 = Array2::<f32>::zeros(gyy.dim());
    ndarray::Zip::from(&mut l1)
        .and(&mut l2)
        .and(&gyy)
        .and(&gxx)
        .and(&gxy)
        .for_each(|o1, o2, &a, &c, &b| {
            let (e1, e2) = eig2(s2 * a, s2 * b, s2 * c);
            *o1 = e1;
            *o2 = e2;
        });
    (l1, l2)
}

/// Eigenvalues (λ1 ≥ λ2) of the structure tensor `G_2σ ∗ (σ∇g)(σ∇g)ᵀ` (integration scale 2σ).
pub fn structure_eigenvalues(
    g: ArrayView2<f32>,
    d: [f64; 2],
    sigma_nm: f64,
) -> (Array2<f32>, Array2<f32>) {
    let (gy, gx) = gradient(g, d);
    let s = sigma_nm as f32;
    let rho = super::sigma_px(2.0 * sigma_nm, d);
    let jyy = gaussian(gy.mapv(|v| s * s * v * v).view(), rho);
    let jxx = gaussian(gx.mapv(|v| s * s * v * v).view(), rho);
    let jxy = gaussian(
        ndarray::Zip::from(&gy)
            .and(&gx)
            .map_collect(|a, b| s * s * a * b)
            .view(),
        rho,
    );
    let mut l1 = Array2::<f32>::zeros(gy.dim());
    let mut l2 = Array2::<f32>::zeros(gy.dim());
    ndarray::Zip::from(&mut l1)
        .and(&mut l2)
        .and(&jyy)
        .and(&jxx)
        .and(&jxy)
        .for_each(|o1, o2, &a, &c, &b| {
            let (e1, e2) = eig2(a, b, c);
            *o1 = e1;
            *o2 = e2;
        });
    (l1, l2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Analytic answers on polynomials (exact for central differences away from the borders):
    /// g = a·x² + b·y² + c·x·y has ∂xx = 2a, ∂yy = 2b, ∂xy = c; the gradient of a plane is its
    /// slope; Hessian eigenvalues equal those of [[2b, c], [c, 2a]].
    #[test]
    fn polynomials_give_their_derivatives() {
        let d = [10.0, 5.0]; // anisotropic pixels (nm)
        let (a, b, c) = (0.02f64, -0.01f64, 0.03f64);
        let g = Array2::from_shape_fn((12, 14), |(y, x)| {
            let (yn, xn) = (y as f64 * d[0], x as f64 * d[1]);
            (a * xn * xn + b * yn * yn + c * xn * yn) as f32
        });
        let (gyy, gxx, gxy) = second(g.view(), d);
        let plane = Array2::from_shape_fn((12, 14), |(y, x)| {
            (3.0 * y as f64 * d[0] - 2.0 * x as f64 * d[1]) as f32
        });
        let (py, px) = gradient(plane.view(), d);
        let (h1, h2) = hessian_eigenvalues(g.view(), d, 1.0);
        let (e1, e2) = {
            let (m, q) = (
                0.5 * (2.0 * a + 2.0 * b),
                (0.25 * (2.0 * b - 2.0 * a).powi(2) + c * c).sqrt(),
            );
            (m + q, m - q)
        };
        for y in 1..11 {
            for x in 1..13 {
                assert!(
                    (gxx[[y, x]] as f64 - 2.0 * a).abs() < 1e-3,
                    "xx {}",
                    gxx[[y, x]]
                );
                assert!(
                    (gyy[[y, x]] as f64 - 2.0 * b).abs() < 1e-3,
                    "yy {}",
                    gyy[[y, x]]
                );
                assert!((gxy[[y, x]] as f64 - c).abs() < 1e-3, "xy {}", gxy[[y, x]]);
                assert!((py[[y, x]] - 3.0).abs() < 1e-3 && (px[[y, x]] + 2.0).abs() < 1e-3);
                assert!(
                    (h1[[y, x]] as f64 - e1).abs() < 1e-3 && (h2[[y, x]] as f64 - e2).abs() < 1e-3
                );
            }
        }
        let lap = laplacian(g.view(), d, 2.0);
        assert!((lap[[5, 5]] as f64 - 4.0 * (2.0 * a + 2.0 * b)).abs() < 1e-2);
        let gm = gradient_magnitude(plane.view(), d, 2.0);
        assert!((gm[[5, 5]] as f64 - 2.0 * 13f64.sqrt()).abs() < 1e-3);
    }

    /// Naive twin of the eigenvalues: the characteristic polynomial evaluated at each root.
    #[test]
    fn eig2_roots_of_the_characteristic_polynomial() {
        let mut r = crate::rng::Rng::new(9);
        for _ in 0..200 {
            let (a, b, c) = (r.normal() as f32, r.normal() as f32, r.normal() as f32);
            let (l1, l2) = eig2(a, b, c);
            assert!(l1 >= l2);
            for l in [l1, l2] {
                let p = (a - l) * (c - l) - b * b;
                assert!(
                    p.abs() < 1e-4 * (1.0 + a.abs() + b.abs() + c.abs()).powi(2),
                    "{p}"
                );
            }
        }
    }

    /// A straight edge along y: the structure tensor has one large eigenvalue (across the edge)
    /// and a zero one (along it).
    #[test]
    fn structure_tensor_of_an_edge() {
        let g = Array2::from_shape_fn((20, 20), |(_, x)| if x < 10 { 0.0 } else { 100.0 });
        let sm = gaussian(g.view(), [1.0, 1.0]);
        let (l1, l2) = structure_eigenvalues(sm.view(), [1.0, 1.0], 1.0);
        assert!(l1[[10, 10]] > 100.0, "{}", l1[[10, 10]]);
        assert!(l2[[10, 10]].abs() < 1e-2, "{}", l2[[10, 10]]);
    }
}
