//! criterion benchmarks for every stage, with throughput in voxels (or walker steps) per second.
//! Run: `cargo bench --bench stages` (add `-- <filter>` to pick stages, e.g. `-- gaussian`).
//!
//! Inputs come from the acquisition simulator (`fibstack::synth`): an electrode structure (pore /
//! active material / binder) for the 3-D metrics, and rendered slices (shine-through, curtains,
//! drift, noise) for the 2-D stages. Sizes are modest so the whole file runs in a few minutes on
//! two cores; `BENCHMARKS.md` records the figures and the one-run peer comparison at full sizes.

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use fibstack::metrics::components::{label_components, Connectivity};
use fibstack::metrics::edt::{edt, phase_mask};
use fibstack::metrics::local_thickness::local_thickness_map;
use fibstack::metrics::tortuosity::random_walk::{tortuosity_rw, RandomWalkOptions};
use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, SteadyStateOptions};
use fibstack::preprocess::align::shift_bilinear;
use fibstack::preprocess::denoise::{
    gaussian_2d, gaussian_2d_recursive, gaussian_3d, gaussian_3d_recursive,
};
use fibstack::preprocess::destripe::stack::{stack_stripe_profiles, subtract_profiles};
use fibstack::preprocess::destripe::{DestripeParams, DestripePlan};
use fibstack::preprocess::phasecorr::{PhaseCorrParams, PhaseCorrelator};
use fibstack::preprocess::tophat::{tophat_2d, white_tophat, Footprint};
use fibstack::progress::Silent;
use fibstack::rng::Rng;
use fibstack::segment::histogram::histogram;
use fibstack::segment::otsu::otsu;
use fibstack::segment::threshold::apply_thresholds;
use fibstack::synth::{generate, structure, SynthSpec};
use fibstack::volume::{GreyData, GreyVolume, VoxelSize, VoxelSource};
use ndarray::{s, Array2, Array3, Axis};
use std::sync::OnceLock;
use std::time::Duration;

/// Truth voxel of the simulated electrode (nm): FIB-SEM-like, slices thicker than pixels.
const VOXEL_NM: [f64; 3] = [30.0, 10.0, 10.0];

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g
}

fn elems(shape: &[usize]) -> Throughput {
    Throughput::Elements(shape.iter().product::<usize>() as u64)
}

/// Simulated electrode labels (0 pore, 1 active, 2 binder) of `shape`.
fn electrode(shape: [usize; 3], seed: u64) -> Array3<u8> {
    let spec = SynthSpec {
        shape: Some(shape),
        voxel_nm: Some(VOXEL_NM),
        seed,
        render: false,
        ..Default::default()
    };
    structure(&spec).expect("electrode structure").0.data
}

/// Rendered acquisition of a simulated electrode: `nz` slices of about `0.79·ny × nx` px (f32;
/// the simulated 52° stage tilt foreshortens y).
fn rendered(shape: [usize; 3], seed: u64) -> Array3<f32> {
    let spec = SynthSpec {
        shape: Some(shape),
        voxel_nm: Some(VOXEL_NM),
        seed,
        ..Default::default()
    };
    let out = generate(&spec).expect("simulated acquisition");
    out.rendered.expect("rendered").grey.to_f32()
}

/// Two consecutive simulated slices (from the middle of a 12-slice stack, so whole particles fit)
/// cropped to `ny × nx` (at most 1536 × 2048). The stack is rendered once and shared.
fn slice_pair(ny: usize, nx: usize, _seed: u64) -> (Array2<f32>, Array2<f32>) {
    static STACK: OnceLock<Array3<f32>> = OnceLock::new();
    // the simulated 52° tilt foreshortens y by sin 52° ≈ 0.79: render enough truth rows
    let v = STACK.get_or_init(|| rendered([12, 2048 + 16, 2048 + 16], 11));
    assert!(
        v.shape()[1] >= ny && v.shape()[2] >= nx,
        "slice pair larger than the stack"
    );
    let a = v.slice(s![5, ..ny, ..nx]).to_owned();
    let b = v.slice(s![6, ..ny, ..nx]).to_owned();
    (a, b)
}

fn io_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut r = Rng::new(1);
    let a = Array3::from_shape_simple_fn((32, 512, 512), || (r.uniform() * 65535.0) as u16);
    let vol = GreyVolume::from_u16(
        a,
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    );
    let p = dir.path().join("v.tif");
    let mut g = group(c, "io");
    g.throughput(elems(&[32, 512, 512]));
    g.bench_function("tiff_write_u16_32x512x512", |b| {
        b.iter(|| fibstack::io::write_volume(&p, &vol).expect("write"))
    });
    fibstack::io::write_volume(&p, &vol).expect("write");
    g.bench_function("tiff_read_u16_32x512x512", |b| {
        b.iter(|| fibstack::io::read_volume(&p, &Default::default()).expect("read"))
    });
    g.finish();
}

/// Alignment per slice pair: windowed, band-passed phase correlation with 1/100 px upsampled
/// refinement and the window-following second pass (the `align` defaults), plus the bilinear
/// shift that applies the result.
fn align_benches(c: &mut Criterion) {
    let mut g = group(c, "align");
    for (ny, nx) in [(512usize, 512usize), (1536, 2048)] {
        let (a, b) = slice_pair(ny, nx, 11);
        let pc = PhaseCorrelator::new([ny, nx], &PhaseCorrParams::default()).expect("params");
        g.throughput(elems(&[ny, nx]));
        g.bench_function(format!("phasecorr_refined_pair_{ny}x{nx}"), |bch| {
            bch.iter(|| pc.register(a.view(), b.view()))
        });
        g.bench_function(format!("apply_shift_bilinear_{ny}x{nx}"), |bch| {
            bch.iter(|| shift_bilinear(b.view(), 3.37, -1.71, 0.0))
        });
    }
    g.finish();
}

fn destripe_benches(c: &mut Criterion) {
    let mut g = group(c, "destripe");
    for (ny, nx) in [(512usize, 512usize), (1536, 2048)] {
        let (a, _) = slice_pair(ny, nx, 12);
        let plan = DestripePlan::new(ny, nx, &DestripeParams::default()).expect("plan");
        g.throughput(elems(&[ny, nx]));
        g.bench_function(format!("adaptive_wedge_slice_{ny}x{nx}"), |bch| {
            bch.iter(|| plan.apply(a.view()).expect("destripe"))
        });
    }
    // stack method: column profiles of every slice, window average, subtraction (whole stack)
    let (nz, ny, nx) = (32usize, 512usize, 512usize);
    let mut r = Rng::new(5);
    let vol = Array3::from_shape_fn((nz, ny, nx), |_| (r.uniform() * 200.0) as f32);
    g.throughput(elems(&[nz, ny, nx]));
    g.bench_function(format!("stack_{nz}x{ny}x{nx}"), |bch| {
        bch.iter(|| {
            let v = stack_stripe_profiles(vol.view(), 16, 16.0).expect("profiles");
            subtract_profiles(vol.view(), v.view())
        })
    });
    g.finish();
}

fn gaussian_benches(c: &mut Criterion) {
    let mut g = group(c, "gaussian");
    let v = rendered([64, 256, 256], 13);
    let sh = v.shape().to_vec();
    g.throughput(elems(&sh));
    g.bench_function("3d_sigma2_64x256x256", |bch| {
        bch.iter(|| gaussian_3d(v.view(), [2.0, 2.0, 2.0], 4.0))
    });
    let (a, _) = slice_pair(1536, 2048, 14);
    g.throughput(elems(&[1536, 2048]));
    g.bench_function("2d_sigma2_slice_1536x2048", |bch| {
        bch.iter(|| gaussian_2d(a.view(), [2.0, 2.0], 4.0))
    });
    g.finish();
}

/// Exact kernel vs the recursive (Deriche IIR) fast path, isotropic σ = 2, 8, 20 voxels, 3-D on
/// 64×256×256 and 2-D on one 1536×2048 slice.
fn gaussian_recursive_benches(c: &mut Criterion) {
    let mut g = group(c, "gaussian_recursive");
    let v = rendered([64, 256, 256], 13);
    g.throughput(elems(v.shape()));
    for s in [2.0, 8.0, 20.0] {
        g.bench_function(format!("exact_3d_sigma{s}_64x256x256"), |bch| {
            bch.iter(|| gaussian_3d(v.view(), [s; 3], 4.0))
        });
        g.bench_function(format!("recursive_3d_sigma{s}_64x256x256"), |bch| {
            bch.iter(|| gaussian_3d_recursive(v.view(), [s; 3], 4.0))
        });
    }
    // one 2-D slice (the streamed per-slice mode)
    let (a, _) = slice_pair(1536, 2048, 14);
    g.throughput(elems(&[1536, 2048]));
    for s in [2.0, 8.0, 20.0] {
        g.bench_function(format!("exact_2d_sigma{s}_1536x2048"), |bch| {
            bch.iter(|| gaussian_2d(a.view(), [s; 2], 4.0))
        });
        g.bench_function(format!("recursive_2d_sigma{s}_1536x2048"), |bch| {
            bch.iter(|| gaussian_2d_recursive(a.view(), [s; 2], 4.0))
        });
    }
    g.finish();
}

fn tophat_benches(c: &mut Criterion) {
    let mut g = group(c, "tophat");
    let (a, _) = slice_pair(512, 512, 15);
    let disk = Footprint::disk(200.0, [10.0, 10.0]).expect("disk r = 20 px");
    g.throughput(elems(&[512, 512]));
    g.bench_function("2d_white_disk_r20_slice_512x512", |bch| {
        bch.iter(|| tophat_2d(a.view(), &disk, false))
    });
    let v = rendered([32, 128, 128], 16);
    let ball = Footprint::ellipsoid(60.0, VOXEL_NM).expect("ball");
    g.throughput(elems(v.shape()));
    g.bench_function("3d_white_ball_r60nm_32x128x128", |bch| {
        bch.iter(|| white_tophat(v.view(), &ball))
    });
    g.finish();
}

fn threshold_benches(c: &mut Criterion) {
    let mut g = group(c, "threshold");
    let v = rendered([64, 256, 256], 17);
    let u16v = v.mapv(|x| (x.clamp(0.0, 1.0) * 65535.0) as u16);
    let data = GreyData::U16(u16v);
    g.throughput(elems(&data.shape()));
    g.bench_function("otsu_u16_64x256x256", |bch| {
        bch.iter(|| otsu(&histogram(&data, 256).expect("nbins").expect("not empty")))
    });
    let t = otsu(&histogram(&data, 256).unwrap().unwrap());
    g.bench_function("apply_u16_64x256x256", |bch| {
        bch.iter(|| apply_thresholds(&data, &[t], &[0, 1]))
    });
    g.finish();
}

fn metrics_benches(c: &mut Criterion) {
    let mut g = group(c, "metrics");
    let lab = electrode([96, 192, 192], 18);
    let pore = phase_mask(lab.view(), 0);
    g.throughput(elems(lab.shape()));
    g.bench_function("label_26conn_pore_96x192x192", |bch| {
        bch.iter(|| label_components(pore.view(), Connectivity::TwentySix).expect("label"))
    });
    g.bench_function("edt_anisotropic_pore_96x192x192", |bch| {
        bch.iter(|| edt(pore.view(), VOXEL_NM).expect("edt"))
    });
    let small = electrode([48, 96, 96], 19);
    let spore = phase_mask(small.view(), 0);
    g.throughput(elems(small.shape()));
    g.bench_function("local_thickness_pore_48x96x96", |bch| {
        bch.iter(|| local_thickness_map(spore.view(), VOXEL_NM).expect("lt"))
    });
    g.finish();
}

fn tortuosity_benches(c: &mut Criterion) {
    let mut g = group(c, "tortuosity");
    let lab = electrode([48, 96, 96], 20);
    let (walkers, steps) = (2000u64, 500u64);
    let opts = RandomWalkOptions {
        walkers: Some(walkers),
        steps: Some(steps),
        ..Default::default()
    };
    g.throughput(Throughput::Elements(walkers * steps));
    g.bench_function("random_walk_1M_steps_48x96x96", |bch| {
        bch.iter(|| tortuosity_rw(lab.view(), 0, VOXEL_NM, &[0, 1, 2], &opts, &Silent).expect("rw"))
    });
    g.throughput(elems(lab.shape()));
    g.bench_function("fd_steady_state_z_48x96x96", |bch| {
        bch.iter(|| {
            tortuosity_fd(
                lab.view(),
                0,
                VOXEL_NM,
                0,
                &SteadyStateOptions::default(),
                &Silent,
            )
            .expect("fd")
        })
    });
    g.finish();
}

/// One slice through the 2-D chain: apply its drift shift, destripe, Gaussian σ = 1.5 px,
/// white top-hat (disk r = 20 px), Otsu threshold of the slice and classification.
fn pipeline_benches(c: &mut Criterion) {
    let mut g = group(c, "pipeline");
    let (ny, nx) = (512usize, 512usize);
    let (a, _) = slice_pair(ny, nx, 21);
    let plan = DestripePlan::new(ny, nx, &DestripeParams::default()).expect("plan");
    let disk = Footprint::disk(200.0, [10.0, 10.0]).expect("disk");
    g.throughput(elems(&[ny, nx]));
    g.bench_function("2d_chain_per_slice_512x512", |bch| {
        bch.iter(|| {
            let shifted = shift_bilinear(a.view(), 1.3, -0.7, 0.0);
            let (d, _) = plan.apply(shifted.view()).expect("destripe");
            let sm = gaussian_2d(d.view(), [1.5, 1.5], 4.0);
            let th = tophat_2d(sm.view(), &disk, false);
            let data = GreyData::F32(th.insert_axis(Axis(0)));
            let t = otsu(&histogram(&data, 256).expect("nbins").expect("not empty"));
            apply_thresholds(&data, &[t], &[0, 1])
        })
    });
    g.finish();
}

/// Trainable segmentation on a face-on simulated electrode with its truth: the feature stack of a
/// slab, forest prediction alone (100 trees; probabilities, and labels with decided votes
/// stopping) and features + labels together (the `classify` kernel), in voxels per second;
/// training on the truth's samples.
fn classify_benches(c: &mut Criterion) {
    use fibstack::classify::{classify_slab, collect_training, train, TrainOptions};
    use fibstack::features::{compute_slab, FeatureParams};
    let shape = [12, 128, 128];
    // face-on without drift: the rendered images lie on the truth grid, so the truth grows
    // realistic trees
    let mut spec = SynthSpec {
        shape: Some(shape),
        voxel_nm: Some(VOXEL_NM),
        seed: 5,
        ..Default::default()
    };
    spec.acquisition.tilt = None;
    spec.acquisition.drift.enabled = false;
    let out = generate(&spec).expect("simulated acquisition");
    let vol = out.rendered.expect("rendered").grey.to_f32();
    let [nz, ny, nx] = [vol.dim().0, vol.dim().1, vol.dim().2];
    let voxel = VoxelSize::new(VOXEL_NM, VoxelSource::Derived);
    let grey = GreyVolume::from_f32(vol.clone(), voxel);
    let labels = out.labels.data.mapv(|v| v + 1);
    let opts = TrainOptions {
        forest: fibstack::classify::ForestParams {
            trees: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    let set = collect_training(&grey, labels.view(), &opts, "bench", 0).expect("samples");
    let (model, _) = train(std::slice::from_ref(&set), &opts, vec![]).expect("train");
    let mut g = group(c, "classify");
    let core = 0..nz - 3;
    g.throughput(elems(&[core.len(), ny, nx]));
    let p = FeatureParams::default();
    g.bench_function("features_default_42", |b| {
        b.iter(|| compute_slab(vol.view(), 0, core.clone(), nz, &voxel, &p).expect("features"))
    });
    let f = compute_slab(vol.view(), 0, core.clone(), nz, &voxel, &p).expect("features");
    g.bench_function("predict_100_trees", |b| {
        let mut out = vec![0f32; ny * nx * model.forest.n_classes];
        b.iter(|| {
            for a in &f {
                model.forest.predict_rows(a.view(), &mut out);
            }
        })
    });
    g.bench_function("predict_labels_100_trees", |b| {
        let mut out = vec![0u8; ny * nx];
        b.iter(|| {
            for a in &f {
                model.forest.predict_labels(a.view(), &mut out);
            }
        })
    });
    g.bench_function("features_and_predict_100_trees", |b| {
        b.iter(|| {
            classify_slab(vol.view(), 0, core.clone(), nz, &voxel, &model, false).expect("classify")
        })
    });
    g.throughput(Throughput::Elements(set.labels.len() as u64));
    g.bench_function("train_100_trees", |b| {
        b.iter(|| train(std::slice::from_ref(&set), &opts, vec![]).expect("train"))
    });
    g.finish();
}

criterion_group!(
    benches,
    io_benches,
    align_benches,
    destripe_benches,
    gaussian_benches,
    gaussian_recursive_benches,
    tophat_benches,
    threshold_benches,
    metrics_benches,
    tortuosity_benches,
    pipeline_benches,
    classify_benches
);
criterion_main!(benches);
