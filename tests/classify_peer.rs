//! Peer check of the forest: scikit-learn's `RandomForestClassifier` with the same
//! hyper-parameters on the same features reaches the same held-out accuracy (within 0.01).
//!
//! The feature matrices are made by the ignored test `write_peer_data` (simulated electrode,
//! face-on without drift so the images lie on the truth grid; train seed 1, test seed 2; default
//! feature stack), the peer values by `benches/compare/classify_sklearn.py`:
//! ```sh
//! cargo test --release --test classify_peer write_peer_data -- --ignored
//! /work/venv/bin/python benches/compare/classify_sklearn.py
//! ```

use fibstack::classify::{forest::argmax, Forest, ForestParams};
use fibstack::features::{compute_slab, FeatureParams};
use fibstack::volume::{GreyVolume, VoxelSize, VoxelSource};
use ndarray::{Array2, Array3};
use std::path::{Path, PathBuf};

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/peer")
}

/// The hyper-parameters both sides use.
fn params() -> ForestParams {
    ForestParams {
        trees: 100,
        max_depth: 14,
        min_samples_leaf: 5,
        ..Default::default()
    }
}

fn samples(seed: u64, per_class: usize) -> (Array2<f32>, Vec<u8>) {
    let mut spec = fibstack::synth::SynthSpec {
        preset: fibstack::synth::Preset::Electrode,
        shape: Some([32, 72, 72]),
        seed,
        ..Default::default()
    };
    spec.acquisition.tilt = None;
    spec.acquisition.drift.enabled = false;
    let out = fibstack::synth::generate(&spec).unwrap();
    let g = out.rendered.unwrap().grey;
    let v = g.to_f32();
    let nz = v.dim().0;
    let p = FeatureParams::default();
    let f = compute_slab(v.view(), 0, 0..nz, nz, &g.voxel, &p).unwrap();
    let mut rng = fibstack::rng::Rng::new(seed ^ 0xFEED);
    let nf = p.names().len();
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut have = [0usize; 3];
    let (_, ny, nx) = v.dim();
    while have.iter().any(|&h| h < per_class) {
        let (z, i) = (
            rng.below(nz as u64) as usize,
            rng.below((ny * nx) as u64) as usize,
        );
        let l = out.labels.data[[z, i / nx, i % nx]] as usize;
        if have[l] < per_class {
            have[l] += 1;
            x.extend(f[z].row(i).iter());
            y.push(l as u8);
        }
    }
    (Array2::from_shape_vec((y.len(), nf), x).unwrap(), y)
}

fn save(path: &Path, a: Array2<f32>) {
    let (n, f) = a.dim();
    let v = GreyVolume::from_f32(
        a.into_shape_with_order((1, n, f)).unwrap(),
        VoxelSize::new([1.0; 3], VoxelSource::Derived),
    );
    fibstack::io::npy::write_npy(path, &v).unwrap();
}

fn load(path: &Path) -> Array2<f32> {
    let v = fibstack::io::npy::read_npy(path, &Default::default())
        .unwrap()
        .to_f32();
    let (_, n, f) = v.dim();
    v.into_shape_with_order((n, f)).unwrap()
}

#[test]
#[ignore]
fn write_peer_data() {
    let d = peer_dir();
    for (name, seed, per) in [("train", 1u64, 2000usize), ("test", 2, 4000)] {
        let (x, y) = samples(seed, per);
        save(&d.join(format!("classify_{name}_x.npy")), x);
        let yv = Array3::from_shape_vec((1, 1, y.len()), y).unwrap();
        fibstack::io::npy::write_npy(
            &d.join(format!("classify_{name}_y.npy")),
            &GreyVolume::from_u8(yv, VoxelSize::new([1.0; 3], VoxelSource::Derived)),
        )
        .unwrap();
    }
}

#[test]
fn sklearn_forest_reaches_the_same_accuracy() {
    let d = peer_dir();
    let js = d.join("classify_sklearn.json");
    if !js.exists() {
        eprintln!("skipped: {} missing (see the module docs)", js.display());
        return;
    }
    let peer: serde_json::Value = serde_json::from_slice(&std::fs::read(&js).unwrap()).unwrap();
    let ld_y = |n: &str| -> Vec<u8> {
        load(&d.join(format!("classify_{n}_y.npy")))
            .iter()
            .map(|&v| v as u8)
            .collect()
    };
    let (xt, yt) = (load(&d.join("classify_train_x.npy")), ld_y("train"));
    let (xs, ys) = (load(&d.join("classify_test_x.npy")), ld_y("test"));
    let (f, rep) = Forest::fit(xt.view(), &yt, 3, &params()).unwrap();
    let mut pr = vec![0f32; ys.len() * 3];
    f.predict_rows(xs.view(), &mut pr);
    let acc = (0..ys.len())
        .filter(|&i| argmax(&pr[3 * i..3 * i + 3]) == ys[i] as usize)
        .count() as f64
        / ys.len() as f64;
    let sk = peer["test_accuracy"].as_f64().unwrap();
    println!(
        "held-out accuracy: fibstack {acc:.4} (OOB {:.4}), scikit-learn {sk:.4} (OOB {:.4})",
        rep.oob_accuracy,
        peer["oob_accuracy"].as_f64().unwrap_or(f64::NAN)
    );
    assert!(
        (acc - sk).abs() <= 0.01,
        "fibstack {acc} vs scikit-learn {sk}"
    );
}
