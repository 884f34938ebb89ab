//! criterion benchmarks for every stage, with throughput in voxels (or steps) per second.
//! Run: `cargo bench --bench stages` (add `-- <filter>` to pick stages).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fibstack::rng::Rng;
use fibstack::volume::{GreyVolume, VoxelSize, VoxelSource};
use ndarray::Array3;

fn grey(shape: (usize, usize, usize), seed: u64) -> GreyVolume {
    let mut r = Rng::new(seed);
    let a = Array3::from_shape_simple_fn(shape, || (r.uniform() * 65535.0) as u16);
    GreyVolume::from_u16(
        a,
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    )
}

fn io_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let vol = grey((32, 512, 512), 1);
    let n = (32 * 512 * 512) as u64;
    let p = dir.path().join("v.tif");
    let mut g = c.benchmark_group("io");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("tiff_write_u16_32x512x512", |b| {
        b.iter(|| fibstack::io::write_volume(&p, &vol).expect("write"))
    });
    fibstack::io::write_volume(&p, &vol).expect("write");
    g.bench_function("tiff_read_u16_32x512x512", |b| {
        b.iter(|| fibstack::io::read_volume(&p, &Default::default()).expect("read"))
    });
    g.finish();
}

criterion_group!(benches, io_benches);
criterion_main!(benches);
