//! Top-hat vs skimage.morphology.white_tophat / black_tophat (mode='reflect'), values stored by
//! benches/compare/filters_tophat.py. Exact equality on integer data.

#[path = "filters_npy.rs"]
mod npy;

use fibstack::preprocess::denoise::Dims;
use fibstack::preprocess::tophat::{tophat_volume, TophatParams};
use fibstack::volume::{GreyData, GreyVolume, VoxelSize, VoxelSource};

#[test]
fn tophat_equals_skimage_exactly() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(npy::fixture("filters_tophat.json")).unwrap(),
    )
    .unwrap();
    let u8in = npy::u8_3(&npy::fixture("filters_tophat_input_u8.npy"));
    let u16in = npy::u16_3(&npy::fixture("filters_tophat_input_u16.npy"));
    let mut n = 0;
    for (name, c) in meta["cases"].as_object().unwrap() {
        let v: Vec<f64> = c["voxel"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let voxel = VoxelSize::new([v[0], v[1], v[2]], VoxelSource::CommandLine);
        let p = TophatParams {
            radius_nm: c["radius_nm"].as_f64().unwrap(),
            black: c["black"].as_bool().unwrap(),
            dims: if c["dims"] == "3d" {
                Dims::ThreeD
            } else {
                Dims::TwoD
            },
        };
        let fp = p.footprint(voxel.nm).unwrap();
        assert_eq!(
            fp.len() as u64,
            c["footprint_sum"].as_u64().unwrap(),
            "{name}: footprint size differs from the peer's"
        );
        let file = npy::fixture(c["file"].as_str().unwrap());
        let (vol, want) = if c["dtype"] == "u8" {
            (
                GreyVolume::from_u8(u8in.clone(), voxel),
                GreyData::U8(npy::u8_3(&file)),
            )
        } else {
            (
                GreyVolume::from_u16(u16in.clone(), voxel),
                GreyData::U16(npy::u16_3(&file)),
            )
        };
        let got = tophat_volume(&vol, &p).unwrap();
        assert!(got.data == want, "{name}: differs from skimage");
        println!(
            "{name}: identical to skimage ({} voxels)",
            vol.shape().iter().product::<usize>()
        );
        n += 1;
    }
    assert_eq!(n, 6);
}
