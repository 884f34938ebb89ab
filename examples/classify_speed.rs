//! Speed and its bound for the voxel classifier, on simulated electrode stacks (face-on, no
//! drift, so the rendered images lie on the truth grid and the truth trains realistic trees):
//!
//! `cargo run --release --example classify_speed` — per stage, CPU time per voxel (process CPU
//! time, so other load on the machine matters less than for wall time) and wall time: the
//! feature families, training, prediction (reference vs compiled layout), node visits per voxel
//! and the time per visit, `classify_slab` (features + prediction).
//!
//! `cargo run --release --example classify_speed -- --train 1000000` — training time of the
//! default forest (100 trees, depth 14) on that many samples (face-on stack 24×512×512, a third
//! of the samples per phase).
//!
//! `cargo run --release --example classify_speed -- --sweep` — trees × depth: prediction CPU
//! time per voxel and held-out accuracy / Dice, trained on seed 5, chosen on seed 6, reported
//! on seed 7. `FEATURES=raw,gaussian,…` sets the feature families (default: all),
//! `DEPTHS=14,10` and `TREES=100,20` the grid.
use fibstack::classify::{
    classify_slab, collect_training, train, ForestParams, Model, TrainOptions,
};
use fibstack::features::{compute_slab, Family, FeatureParams};
use fibstack::synth::{generate, SynthSpec};
use fibstack::volume::{GreyVolume, VoxelSize, VoxelSource};
use ndarray::{Array2, Array3};
use rayon::prelude::*;
use std::time::Instant;

const VOXEL: [f64; 3] = [30.0, 10.0, 10.0];

fn cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec pointer
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Rendered grey (f32) and truth labels (0…2) of a face-on electrode stack.
fn stack(seed: u64, shape: [usize; 3]) -> (Array3<f32>, Array3<u8>) {
    let mut spec = SynthSpec {
        shape: Some(shape),
        voxel_nm: Some(VOXEL),
        seed,
        ..Default::default()
    };
    spec.acquisition.tilt = None;
    spec.acquisition.drift.enabled = false;
    let out = generate(&spec).unwrap();
    let v = out.rendered.unwrap().grey.to_f32();
    assert_eq!(v.dim(), out.labels.data.dim());
    (v, out.labels.data)
}

fn voxel() -> VoxelSize {
    VoxelSize::new(VOXEL, VoxelSource::Derived)
}

fn fit(vol: &Array3<f32>, truth: &Array3<u8>, trees: usize, depth: usize) -> (Model, f64) {
    fit_with(vol, truth, trees, depth, &FeatureParams::default())
}

fn fit_with(
    vol: &Array3<f32>,
    truth: &Array3<u8>,
    trees: usize,
    depth: usize,
    features: &FeatureParams,
) -> (Model, f64) {
    let grey = GreyVolume::from_f32(vol.clone(), voxel());
    let labels = truth.mapv(|v| v + 1);
    let opts = TrainOptions {
        features: features.clone(),
        forest: ForestParams {
            trees,
            max_depth: depth,
            ..Default::default()
        },
        ..Default::default()
    };
    let set = collect_training(&grey, labels.view(), &opts, "truth", 0).unwrap();
    let t = Instant::now();
    let (m, rep) = train(std::slice::from_ref(&set), &opts, vec![]).unwrap();
    println!(
        "  trained {} samples, {trees} trees, depth {depth}: {:.1} s wall, {:.0} nodes per tree",
        set.labels.len(),
        t.elapsed().as_secs_f64(),
        rep.mean_nodes_per_tree
    );
    (m, t.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--sweep") {
        sweep();
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--train") {
        let n: usize = args[i + 1].parse().expect("--train N");
        train_only(n);
        return;
    }
    let shape = [12usize, 256, 256];
    let (vol, truth) = stack(5, shape);
    let (nz, ny, nx) = vol.dim();
    let core = 0..nz - 3;
    let nvox = (core.len() * ny * nx) as f64;
    let reps = 3;
    let vx = voxel();
    let time = |p: &FeatureParams| {
        let (c0, t) = (cpu(), Instant::now());
        for _ in 0..reps {
            std::hint::black_box(compute_slab(vol.view(), 0, core.clone(), nz, &vx, p).unwrap());
        }
        let n = nvox * reps as f64;
        ((cpu() - c0) * 1e9 / n, n / t.elapsed().as_secs_f64() / 1e6)
    };
    println!(
        "{} threads; stack {nz}x{ny}x{nx}, {} core slices",
        rayon::current_num_threads(),
        core.len()
    );
    let (c, w) = time(&FeatureParams::default());
    println!("features (compute_slab, with the [n, F] interleave), all 42: {c:.0} CPU-ns/voxel, {w:.2} Mvox/s wall");
    for f in Family::ALL {
        let p = FeatureParams {
            families: vec![f],
            ..Default::default()
        };
        let (c, w) = time(&p);
        println!("  {f}: {c:.1} CPU-ns/voxel, {w:.2} Mvox/s wall");
    }
    let (model, _) = fit(&vol, &truth, 100, 14);
    let p = FeatureParams::default();
    let f = compute_slab(vol.view(), 0, core.clone(), nz, &vx, &p).unwrap();
    let visits = model.forest.mean_path_length(f[0].view());
    let trees = model.forest.roots.len() as f64;
    let nc = model.forest.n_classes;
    let mut o = vec![0f32; ny * nx * nc];
    let mut lab = vec![0u8; ny * nx];
    // one thread
    let c0 = cpu();
    for a in &f {
        model.forest.predict_rows(a.view(), &mut o);
    }
    let probs = cpu() - c0;
    let c0 = cpu();
    for a in &f {
        model.forest.predict_labels(a.view(), &mut lab);
    }
    let labels = cpu() - c0;
    let per = |s: f64| s * 1e9 / nvox;
    println!(
        "prediction, 100 trees depth 14, one thread: {visits:.2} inner nodes per tree per voxel = {:.0} visits per voxel",
        visits * trees
    );
    println!(
        "  probabilities (predict_rows, every tree): {:.0} CPU-ns/voxel, {:.2} ns per visit",
        per(probs),
        per(probs) / (visits * trees)
    );
    println!(
        "  labels (predict_labels, decided votes stop): {:.0} CPU-ns/voxel ({:.2}x)",
        per(labels),
        probs / labels
    );
    let (c0, t) = (cpu(), Instant::now());
    for _ in 0..reps {
        std::hint::black_box(
            classify_slab(vol.view(), 0, core.clone(), nz, &vx, &model, false).unwrap(),
        );
    }
    let n = nvox * reps as f64;
    println!(
        "classify_slab (features + 100 trees): {:.0} CPU-ns/voxel, {:.2} Mvox/s wall",
        (cpu() - c0) * 1e9 / n,
        n / t.elapsed().as_secs_f64() / 1e6
    );
}

/// Labels of every core voxel of `vol` (parallel over slices) and the CPU time per voxel of the
/// prediction alone (features computed beforehand).
fn predict(model: &Model, feats: &[Array2<f32>]) -> (Vec<u8>, f64) {
    let c0 = cpu();
    let labs: Vec<Vec<u8>> = feats
        .par_iter()
        .map(|a| {
            let mut o = vec![0u8; a.nrows()];
            model.forest.predict_labels(a.view(), &mut o);
            o
        })
        .collect();
    let n: usize = labs.iter().map(|v| v.len()).sum();
    let ns = (cpu() - c0) * 1e9 / n as f64;
    (labs.concat(), ns)
}

fn scores(pred: &[u8], truth: &[u8]) -> (f64, [f64; 3]) {
    let acc = pred.iter().zip(truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64;
    let dice = std::array::from_fn(|c| {
        let c = c as u8;
        let (mut both, mut a, mut b) = (0usize, 0usize, 0usize);
        for (&p, &t) in pred.iter().zip(truth) {
            both += (p == c && t == c) as usize;
            a += (p == c) as usize;
            b += (t == c) as usize;
        }
        2.0 * both as f64 / (a + b).max(1) as f64
    });
    (acc, dice)
}

fn list<T: std::str::FromStr + Clone>(var: &str, default: &[T]) -> Vec<T> {
    match std::env::var(var) {
        Ok(v) => v
            .split(',')
            .map(|x| x.trim().parse().ok().expect(var))
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn sweep() {
    let shape = [12usize, 256, 256];
    let (vol, truth) = stack(5, shape);
    let vx = voxel();
    let mut p = FeatureParams::default();
    if let Ok(v) = std::env::var("FEATURES") {
        use clap::ValueEnum;
        p.families = v
            .split(',')
            .map(|f| Family::from_str(f.trim(), true).expect("FEATURES"))
            .collect();
    }
    let depths: Vec<usize> = list("DEPTHS", &[14, 12, 10, 8]);
    let tree_counts: Vec<usize> = list("TREES", &[100, 50, 30, 20, 10]);
    // features CPU time per voxel
    let c0 = cpu();
    let nz = vol.dim().0;
    std::hint::black_box(compute_slab(vol.view(), 0, 0..nz - 3, nz, &vx, &p).unwrap());
    println!(
        "features {:?}: {} per voxel, {:.0} CPU-ns/voxel",
        p.families,
        p.names().len(),
        (cpu() - c0) * 1e9 / ((nz - 3) * vol.dim().1 * vol.dim().2) as f64
    );
    let held: Vec<(u64, Vec<Array2<f32>>, Vec<u8>)> = [6u64, 7]
        .iter()
        .map(|&s| {
            let (v, t) = stack(s, shape);
            let nz = v.dim().0;
            let f = compute_slab(v.view(), 0, 0..nz - 3, nz, &vx, &p).unwrap();
            let t: Vec<u8> = t
                .slice(ndarray::s![..nz - 3, .., ..])
                .iter()
                .copied()
                .collect();
            (s, f, t)
        })
        .collect();
    println!("| trees | depth | visits/voxel | prediction CPU-ns/voxel | seed 6 accuracy | seed 6 Dice pore / AM / binder | seed 7 accuracy | seed 7 Dice pore / AM / binder |");
    println!("|---|---|---|---|---|---|---|---|");
    for &depth in &depths {
        let (model, _) = fit_with(&vol, &truth, tree_counts[0], depth, &p);
        for &trees in &tree_counts {
            let m = Model {
                header: model.header.clone(),
                forest: model.forest.first_trees(trees),
            };
            let visits = m.forest.mean_path_length(held[0].1[0].view()) * trees as f64;
            let mut cells = Vec::new();
            let mut ns_sum = 0.0;
            for (_, f, t) in &held {
                let (lab, ns) = predict(&m, f);
                ns_sum += ns;
                // labels are class indices 0…2 = truth 0…2
                let (acc, d) = scores(&lab, t);
                cells.push(format!(
                    "{acc:.4} | {:.3} / {:.3} / {:.3}",
                    d[0], d[1], d[2]
                ));
            }
            println!(
                "| {trees} | {depth} | {visits:.0} | {:.0} | {} |",
                ns_sum / 2.0,
                cells.join(" | ")
            );
        }
    }
}

fn train_only(n: usize) {
    let (vol, truth) = stack(5, [24, 512, 512]);
    let grey = GreyVolume::from_f32(vol, voxel());
    let labels = truth.mapv(|v| v + 1);
    let opts = TrainOptions {
        forest: ForestParams {
            max_per_class: n.div_ceil(3),
            ..Default::default()
        },
        ..Default::default()
    };
    let t = Instant::now();
    let set = collect_training(&grey, labels.view(), &opts, "truth", 0).unwrap();
    println!(
        "{} threads; features of {} samples: {:.1} s wall",
        rayon::current_num_threads(),
        set.labels.len(),
        t.elapsed().as_secs_f64()
    );
    let (c0, t) = (cpu(), Instant::now());
    let (_, rep) = train(std::slice::from_ref(&set), &opts, vec![]).unwrap();
    println!(
        "training (100 trees, depth 14, 64 bins, OOB report included): {:.1} s wall, {:.1} CPU-s; {:.0} nodes per tree; OOB accuracy {:.4}",
        t.elapsed().as_secs_f64(),
        cpu() - c0,
        rep.mean_nodes_per_tree,
        rep.oob_accuracy
    );
}
