//! Indicative timings (run with `cargo test --test filters_timing -- --ignored --nocapture`);
//! no assertions on time.

use fibstack::preprocess::denoise::gaussian_3d;
use fibstack::preprocess::destripe::{destripe_volume, DestripeParams};
use fibstack::preprocess::tophat::{white_tophat, Footprint};
use fibstack::volume::{GreyVolume, VoxelSize};
use ndarray::Array3;
use std::time::Instant;

#[test]
#[ignore]
fn timings() {
    let mut rng = fibstack::rng::Rng::new(1);
    let a = Array3::from_shape_fn((128, 256, 256), |_| rng.uniform() as f32);
    let t = Instant::now();
    let g = gaussian_3d(a.view(), [2.0, 2.0, 2.0], 4.0);
    println!(
        "gaussian 3-D 128x256x256 sigma 2: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let g = gaussian_3d(g.view(), [0.0, 0.0, 0.0], 4.0);
    let u = Array3::from_shape_fn((16, 512, 512), |(z, y, x)| {
        ((x * 7 + y * 3 + z) % 251) as u8
    });
    for r in [5.0, 20.0] {
        let fp = Footprint::disk(r, [1.0, 1.0]).unwrap();
        let t = Instant::now();
        let w = white_tophat(u.slice(ndarray::s![0..1, .., ..]), &fp);
        println!(
            "white top-hat 512x512 disk r={r}: {:.3} s ({} px footprint)",
            t.elapsed().as_secs_f64(),
            fp.len()
        );
        assert_eq!(w.len(), 512 * 512);
    }
    let v = GreyVolume::from_u8(
        Array3::from_shape_fn((8, 1024, 1024), |(z, y, x)| {
            ((x * 7 + y * 3 + z) % 251) as u8
        }),
        VoxelSize::default(),
    );
    let t = Instant::now();
    let (_o, r) = destripe_volume(
        &v,
        &DestripeParams {
            method: fibstack::preprocess::destripe::DestripeMethod::Wedge,
            material_aware: false,
            ..DestripeParams::default()
        },
    )
    .unwrap();
    println!(
        "destripe 8 slices 1024x1024: {:.3} s (removed {:.3})",
        t.elapsed().as_secs_f64(),
        r.mean_removed_energy_fraction
    );
    assert!(!g.is_empty());
}
