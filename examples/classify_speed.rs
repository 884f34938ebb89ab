//! Timing of the classifier's stages on a simulated electrode stack (features per family,
//! prediction, both), for profiling: `cargo run --release --example classify_speed`.
use fibstack::features::{compute_slab, Family, FeatureParams};
use fibstack::synth::{generate, SynthSpec};
use fibstack::volume::{VoxelSize, VoxelSource};
use std::time::Instant;

fn main() {
    let shape = [12usize, 256, 256];
    let spec = SynthSpec {
        shape: Some(shape),
        voxel_nm: Some([30.0, 10.0, 10.0]),
        seed: 5,
        ..Default::default()
    };
    let vol = generate(&spec).unwrap().rendered.unwrap().grey.to_f32();
    let (nz, ny, nx) = vol.dim();
    let voxel = VoxelSize::new([30.0, 10.0, 10.0], VoxelSource::Derived);
    let core = 0..nz - 3;
    let nvox = (core.len() * ny * nx) as f64;
    let reps = 3;
    let time = |p: &FeatureParams| {
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(compute_slab(vol.view(), 0, core.clone(), nz, &voxel, p).unwrap());
        }
        nvox * reps as f64 / t.elapsed().as_secs_f64() / 1e6
    };
    println!("all: {:.2} Mvox/s", time(&FeatureParams::default()));
    for f in Family::ALL {
        let p = FeatureParams { families: vec![f], ..Default::default() };
        println!("{f}: {:.2} Mvox/s", time(&p));
    }
}
