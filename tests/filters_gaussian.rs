//! Exact-kernel Gaussian vs scipy.ndimage.gaussian_filter(truncate=4, mode='reflect'), values
//! stored by benches/compare/filters_gaussian.py.

#[path = "filters_npy.rs"]
mod npy;

use fibstack::preprocess::denoise::{
    gaussian_3d, gaussian_3d_recursive, gaussian_volume, Dims, GaussianParams,
};
use fibstack::volume::{GreyData, GreyVolume, VoxelSize, VoxelSource};

fn max_rel_err(a: &ndarray::Array3<f32>, b: &ndarray::Array3<f32>) -> f64 {
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| ((x - y).abs() as f64) / scale)
        .fold(0.0, f64::max)
}

#[test]
fn gaussian_equals_scipy_within_1e_4() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(npy::fixture("filters_gaussian.json")).unwrap(),
    )
    .unwrap();
    let input = npy::f32_3(&npy::fixture("filters_gaussian_input.npy"));
    for (name, case) in meta["cases"].as_object().unwrap() {
        let s: Vec<f64> = case["sigma_vox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want = npy::f32_3(&npy::fixture(case["file"].as_str().unwrap()));
        let got = gaussian_3d(input.view(), [s[0], s[1], s[2]], 4.0);
        let e = max_rel_err(&got, &want);
        println!("{name}: sigma {s:?} max relative error vs scipy {e:.3e}");
        assert!(e < 1e-4, "{name}: {e}");
        // per-element relative check too (values are in [0, 1000], far from 0)
        for (x, y) in got.iter().zip(want.iter()) {
            assert!(((x - y) / y).abs() < 1e-4, "{name}: {x} vs {y}");
        }
    }
}

#[test]
fn gaussian_sigma_in_nm_uses_voxel_size() {
    // anisotropic voxels: sigma 8.5 nm on (dz, dy, dx) = (5, 10.625, 3.4) nm is (1.7, 0.8, 2.5) voxels
    let input = npy::f32_3(&npy::fixture("filters_gaussian_input.npy"));
    let want = npy::f32_3(&npy::fixture("filters_gaussian_aniso3d.npy"));
    let vol = GreyVolume::from_f32(
        input,
        VoxelSize::new([5.0, 10.625, 3.4], VoxelSource::CommandLine),
    );
    let got = gaussian_volume(&vol, &GaussianParams::isotropic(8.5, Dims::ThreeD)).unwrap();
    let GreyData::F32(got) = got.data else {
        panic!("f32 output expected")
    };
    let e = max_rel_err(&got, &want);
    println!("nm-based aniso3d: max relative error {e:.3e}");
    assert!(e < 1e-4);
}

#[test]
fn gaussian_2d_mode_equals_scipy_with_zero_z_sigma() {
    let input = npy::f32_3(&npy::fixture("filters_gaussian_input.npy"));
    let want = npy::f32_3(&npy::fixture("filters_gaussian_slice2d.npy"));
    let vol = GreyVolume::from_f32(input, VoxelSize::new([1.0; 3], VoxelSource::CommandLine));
    let p = GaussianParams {
        sigma_nm: [50.0, 1.3, 3.1], // z sigma ignored in 2-D mode
        dims: Dims::TwoD,
        truncate: 4.0,
        method: Default::default(),
    };
    let GreyData::F32(got) = gaussian_volume(&vol, &p).unwrap().data else {
        panic!()
    };
    let e = max_rel_err(&got, &want);
    println!("2-D per slice: max relative error {e:.3e}");
    assert!(e < 1e-4);
}

#[test]
fn typed_streaming_output_equals_rounded_f32() {
    use fibstack::preprocess::denoise::{from_f32_like, gaussian_volume_as};
    use fibstack::preprocess::destripe::{destripe_volume, destripe_volume_as, DestripeParams};
    use fibstack::volume::SampleType;
    let input = npy::f32_3(&npy::fixture("filters_gaussian_input.npy"));
    let u16v = input.mapv(|v| (v * 60.0) as u16);
    let vol = GreyVolume::from_u16(u16v, VoxelSize::new([1.0; 3], VoxelSource::CommandLine));
    let p = GaussianParams::isotropic(1.5, Dims::TwoD);
    let GreyData::F32(f) = gaussian_volume(&vol, &p).unwrap().data else {
        panic!()
    };
    let typed = gaussian_volume_as(&vol, &p, SampleType::U16).unwrap();
    assert_eq!(typed.data, from_f32_like(f, SampleType::U16));
    let (d, r1) = destripe_volume(&vol, &DestripeParams::default()).unwrap();
    let GreyData::F32(d) = d.data else { panic!() };
    let (t, r2) = destripe_volume_as(&vol, &DestripeParams::default(), SampleType::U16).unwrap();
    assert_eq!(t.data, from_f32_like(d, SampleType::U16));
    assert_eq!(r1, r2);
}

/// The recursive fast path against the same stored scipy output: max |recursive − scipy| within
/// 1e-2 of the input's range (max − min), including `big3d` (kernel longer than the axes).
#[test]
fn recursive_within_1e_2_of_scipy() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(npy::fixture("filters_gaussian.json")).unwrap(),
    )
    .unwrap();
    let input = npy::f32_3(&npy::fixture("filters_gaussian_input.npy"));
    let range = input.iter().fold(f32::MIN, |m, &v| m.max(v))
        - input.iter().fold(f32::MAX, |m, &v| m.min(v));
    for (name, case) in meta["cases"].as_object().unwrap() {
        let s: Vec<f64> = case["sigma_vox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want = npy::f32_3(&npy::fixture(case["file"].as_str().unwrap()));
        let got = gaussian_3d_recursive(input.view(), [s[0], s[1], s[2]], 4.0);
        let e = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
            / range;
        println!("{name}: sigma {s:?} recursive max |err| / range vs scipy {e:.3e}");
        assert!(e <= 1e-2, "{name}: {e}");
    }
}
