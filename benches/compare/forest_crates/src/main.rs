//! Train and score fibstack's forest, smartcore's `RandomForestClassifier` and linfa's
//! `RandomForest` (linfa-ensemble over linfa-trees) with the same hyper-parameters on the same
//! features (the scikit-learn peer's: 6 000 training samples of the default 42 features, 12 000
//! held-out samples). Prints train time, predict time (CPU seconds of the process, so other load
//! on the machine matters less) and held-out accuracy.
use fibstack::classify::{forest::argmax, Forest, ForestParams};
use std::path::PathBuf;

fn cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec pointer
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn wall() -> std::time::Instant {
    std::time::Instant::now()
}

fn load(name: &str) -> ndarray::Array2<f32> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../fixtures/peer");
    let v = fibstack::io::npy::read_npy(&d.join(name), &Default::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_f32();
    let (_, n, f) = v.dim();
    v.into_shape_with_order((n, f)).unwrap()
}

fn labels(name: &str) -> Vec<u8> {
    load(name).iter().map(|&v| v as u8).collect()
}

fn accuracy(pred: &[u8], truth: &[u8]) -> f64 {
    pred.iter().zip(truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

struct Row {
    name: String,
    train_cpu: f64,
    train_wall: f64,
    predict_cpu: f64,
    predict_wall: f64,
    acc: f64,
}

fn main() {
    let (xt, yt) = (load("classify_train_x.npy"), labels("classify_train_y.npy"));
    let (xs, ys) = (load("classify_test_x.npy"), labels("classify_test_y.npy"));
    let nf = xt.ncols();
    let mtry = (nf as f64).sqrt().round() as usize;
    let (trees, depth, leaf) = (100usize, 14usize, 5usize);
    println!(
        "{} training samples, {} held-out, {nf} features; {trees} trees, max depth {depth}, min samples per leaf {leaf}, {mtry} features per split; {} threads",
        xt.nrows(),
        xs.nrows(),
        rayon_threads()
    );
    let mut rows = Vec::new();

    // fibstack
    let p = ForestParams {
        trees,
        max_depth: depth,
        min_samples_leaf: leaf,
        ..Default::default()
    };
    let (c0, w0) = (cpu(), wall());
    let (f, _) = Forest::fit(xt.view(), &yt, 3, &p).unwrap();
    let (train_cpu, train_wall) = (cpu() - c0, w0.elapsed().as_secs_f64());
    let (c0, w0) = (cpu(), wall());
    let mut out = vec![0f32; xs.nrows() * 3];
    f.predict_rows(xs.view(), &mut out);
    let pred: Vec<u8> = out.chunks(3).map(|o| argmax(o) as u8).collect();
    rows.push(Row {
        name: "fibstack (64 quantile bins, balanced classes)".into(),
        train_cpu,
        train_wall,
        predict_cpu: cpu() - c0,
        predict_wall: w0.elapsed().as_secs_f64(),
        acc: accuracy(&pred, &ys),
    });

    // smartcore
    {
        use smartcore::ensemble::random_forest_classifier::{
            RandomForestClassifier, RandomForestClassifierParameters,
        };
        use smartcore::linalg::basic::matrix::DenseMatrix;
        let to_dm = |a: &ndarray::Array2<f32>| {
            let v: Vec<Vec<f32>> = a.rows().into_iter().map(|r| r.to_vec()).collect();
            DenseMatrix::from_2d_vec(&v).unwrap()
        };
        let (mt, ms) = (to_dm(&xt), to_dm(&xs));
        let yv: Vec<u32> = yt.iter().map(|&v| v as u32).collect();
        let params = RandomForestClassifierParameters::default()
            .with_n_trees(trees as u16)
            .with_max_depth(depth as u16)
            .with_min_samples_leaf(leaf)
            .with_m(mtry)
            .with_seed(1);
        let (c0, w0) = (cpu(), wall());
        let m = RandomForestClassifier::fit(&mt, &yv, params).unwrap();
        let (train_cpu, train_wall) = (cpu() - c0, w0.elapsed().as_secs_f64());
        let (c0, w0) = (cpu(), wall());
        let pred: Vec<u32> = m.predict(&ms).unwrap();
        let pred: Vec<u8> = pred.iter().map(|&v| v as u8).collect();
        rows.push(Row {
            name: "smartcore 0.7 RandomForestClassifier (exact splits)".into(),
            train_cpu,
            train_wall,
            predict_cpu: cpu() - c0,
            predict_wall: w0.elapsed().as_secs_f64(),
            acc: accuracy(&pred, &ys),
        });
    }

    // linfa
    {
        use linfa::prelude::*;
        use linfa_ensemble::EnsembleLearnerParams;
        use linfa_trees::DecisionTree;
        use rand::rngs::SmallRng;
        use rand::SeedableRng;
        let xt64 = xt.mapv(|v| v as f64);
        let xs64 = xs.mapv(|v| v as f64);
        let yt_us = ndarray::Array1::from_iter(yt.iter().map(|&v| v as usize));
        let train = linfa::Dataset::new(xt64, yt_us);
        let tree = DecisionTree::params()
            .max_depth(Some(depth))
            .min_weight_leaf(leaf as f32);
        let (c0, w0) = (cpu(), wall());
        let m = EnsembleLearnerParams::new_fixed_rng(tree, SmallRng::seed_from_u64(1))
            .ensemble_size(trees)
            .bootstrap_proportion(1.0)
            .feature_proportion(mtry as f64 / nf as f64)
            .fit(&train)
            .unwrap();
        let (train_cpu, train_wall) = (cpu() - c0, w0.elapsed().as_secs_f64());
        let (c0, w0) = (cpu(), wall());
        let pred = m.predict(&xs64);
        let pred: Vec<u8> = pred.iter().map(|&v| v as u8).collect();
        rows.push(Row {
            name:
                "linfa 0.8 RandomForest (linfa-ensemble over linfa-trees; features drawn per tree)"
                    .into(),
            train_cpu,
            train_wall,
            predict_cpu: cpu() - c0,
            predict_wall: w0.elapsed().as_secs_f64(),
            acc: accuracy(&pred, &ys),
        });
    }

    println!(
        "| forest | train CPU s (wall) | predict CPU s (wall) for {} rows | held-out accuracy |",
        xs.nrows()
    );
    println!("|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.3} ({:.3}) | {:.4} ({:.4}) | {:.4} |",
            r.name, r.train_cpu, r.train_wall, r.predict_cpu, r.predict_wall, r.acc
        );
    }
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
