//! 52° geometry on phantoms rendered with the forward model of `preprocess::geometry`:
//! raw slice k, row y shows true depth Y = (y − k·t·cos θ/dy)·dy/sin θ, at z = k·t.

use fibstack::preprocess::geometry::{correct_geometry, correct_geometry_view, GeometryParams};
use fibstack::volume::{GreyVolume, VoxelSize, VoxelSource};
use ndarray::Array3;

const THETA: f64 = 52.0;
const T: f64 = 10.0; // slice thickness nm
const PX: f64 = 8.0; // dx = dy_raw nm

/// Render a raw stack: `inside(z, Y, X)` signed distance (nm, > 0 inside) of the true object.
fn render(
    nz: usize,
    ny: usize,
    nx: usize,
    sd: impl Fn(f64, f64, f64) -> f64 + Sync,
) -> Array3<f32> {
    let th = THETA.to_radians();
    let c = T * th.cos() / PX;
    let h = PX / th.sin(); // true depth covered by one raw row
    Array3::from_shape_fn((nz, ny, nx), |(k, y, x)| {
        let z = k as f64 * T;
        let yy = (y as f64 - k as f64 * c) * PX / th.sin();
        let xx = x as f64 * PX;
        // partial-volume edge about one voxel wide
        let d = sd(z, yy, xx);
        (100.0 * (0.5 + d / h).clamp(0.0, 1.0)) as f32
    })
}

fn voxel() -> VoxelSize {
    VoxelSize::new([T, PX, PX], VoxelSource::CommandLine)
}

/// Eigenvalues of a symmetric 3×3 matrix (cyclic Jacobi).
fn eig3(mut a: [[f64; 3]; 3]) -> [f64; 3] {
    for _ in 0..50 {
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-15 {
                continue;
            }
            let th = 0.5 * (2.0 * a[p][q]).atan2(a[q][q] - a[p][p]);
            let (c, s) = (th.cos(), th.sin());
            let mut b = a;
            for k in 0..3 {
                b[k][p] = c * a[k][p] - s * a[k][q];
                b[k][q] = s * a[k][p] + c * a[k][q];
            }
            let mut d = b;
            for k in 0..3 {
                d[p][k] = c * b[p][k] - s * b[q][k];
                d[q][k] = s * b[p][k] + c * b[q][k];
            }
            a = d;
        }
    }
    [a[0][0], a[1][1], a[2][2]]
}

/// Grey-weighted second moments (nm²) of the object, eigenvalues.
fn moment_eigs(v: &Array3<f32>, vox: [f64; 3]) -> [f64; 3] {
    let mut m = 0.0;
    let mut c = [0.0; 3];
    for ((k, y, x), &w) in v.indexed_iter() {
        let w = w as f64;
        let p = [k as f64 * vox[0], y as f64 * vox[1], x as f64 * vox[2]];
        m += w;
        for i in 0..3 {
            c[i] += w * p[i];
        }
    }
    for ci in c.iter_mut() {
        *ci /= m;
    }
    let mut s = [[0.0; 3]; 3];
    for ((k, y, x), &w) in v.indexed_iter() {
        let w = w as f64;
        let p = [
            k as f64 * vox[0] - c[0],
            y as f64 * vox[1] - c[1],
            x as f64 * vox[2] - c[2],
        ];
        for i in 0..3 {
            for j in 0..3 {
                s[i][j] += w * p[i] * p[j] / m;
            }
        }
    }
    eig3(s)
}

fn axis_ratio(e: [f64; 3]) -> f64 {
    let mx = e.iter().cloned().fold(f64::MIN, f64::max);
    let mn = e.iter().cloned().fold(f64::MAX, f64::min);
    (mx / mn).sqrt()
}

#[test]
fn sphere_becomes_round() {
    let (r, cz, cy, cx) = (150.0, 300.0, 300.0, 240.0);
    let raw = render(60, 110, 60, |z, y, x| {
        r - ((z - cz).powi(2) + (y - cy).powi(2) + (x - cx).powi(2)).sqrt()
    });
    let before = axis_ratio(moment_eigs(&raw, voxel().nm));
    let (out, vox, rep) = correct_geometry_view(
        raw.view(),
        voxel(),
        &GeometryParams {
            slice_thickness_nm: Some(T),
            ..Default::default()
        },
    )
    .unwrap();
    let after = axis_ratio(moment_eigs(&out, vox.nm));
    eprintln!(
        "sphere axis ratio: raw {before:.4}, corrected {after:.4}; output {:?}, voxel {:?}",
        rep.output_shape, vox.nm
    );
    assert!(before > 1.1, "phantom should be distorted: {before}");
    assert!(after < 1.02, "axis ratio {after}");
    // sphere volume is preserved (grey sum × voxel volume)
    let vol: f64 = out.iter().map(|&v| v as f64 / 100.0).sum::<f64>() * vox.volume_nm3();
    let want = 4.0 / 3.0 * std::f64::consts::PI * r.powi(3);
    assert!((vol - want).abs() / want < 0.02, "{vol} vs {want}");
}

/// Boundary row of each slice where the profile at column `x` crosses 50 (sub-pixel).
fn boundary_rows(v: &Array3<f32>, x: usize) -> Vec<f64> {
    (0..v.dim().0)
        .map(|k| {
            let col: Vec<f32> = (0..v.dim().1).map(|y| v[[k, y, x]]).collect();
            let j = col
                .windows(2)
                .position(|w| w[0] < 50.0 && w[1] >= 50.0)
                .unwrap();
            j as f64 + (50.0 - col[j] as f64) / (col[j + 1] - col[j]) as f64
        })
        .collect()
}

#[test]
fn inclined_plane_angle_right() {
    for alpha_deg in [20.0f64, -35.0, 0.0] {
        let ta = alpha_deg.to_radians().tan();
        // material below the plane Y = y0 + tan(α)·z (grey 100), pore above
        let y0 = 250.0 + (-ta * 490.0).max(0.0); // keep the plane inside the common rows
        let raw = render(50, 120, 8, |z, y, _| y - (y0 + ta * z));
        let p = GeometryParams {
            slice_thickness_nm: Some(T),
            ..Default::default()
        };
        let (out, vox, _) = correct_geometry_view(raw.view(), voxel(), &p).unwrap();
        let rows = boundary_rows(&out, 4);
        let ys: Vec<f64> = rows.iter().map(|r| r * vox.dy()).collect();
        let (_, slope_per_slice) = fibstack::preprocess::align::linear_fit(&ys);
        let angle = (slope_per_slice / vox.dz()).atan().to_degrees();
        // uncorrected angle for comparison
        let raw_rows = boundary_rows(&raw, 4);
        let (_, rs) = fibstack::preprocess::align::linear_fit(&raw_rows);
        let raw_angle = (rs * PX / T).atan().to_degrees();
        eprintln!("plane {alpha_deg}°: raw {raw_angle:.2}°, corrected {angle:.3}°");
        assert!((angle - alpha_deg).abs() < 0.5, "{angle} vs {alpha_deg}");
    }
}

#[test]
fn grey_volume_wrapper_keeps_type_and_metadata() {
    let raw = render(4, 30, 5, |_, y, _| y - 100.0).mapv(|v| v as u8);
    let mut g = GreyVolume::from_u8(raw, voxel());
    g.meta.instrument = Some("test".into());
    let (o, rep) = correct_geometry(&g, 52.0, None, true, true).unwrap();
    assert_eq!(o.sample_type(), fibstack::SampleType::U8);
    assert_eq!(o.meta.instrument.as_deref(), Some("test"));
    assert_eq!(rep.slice_thickness_nm, Some(T)); // from dz
    assert_eq!(o.voxel.source[1], VoxelSource::Derived);
}
