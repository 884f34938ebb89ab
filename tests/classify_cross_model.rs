//! Trainable segmentation judged on data it was not tuned on (issue: trainable segmentation):
//! the classifier is trained on simulated acquisitions rendered with one shine-through model
//! (and other seeds) and scored on stacks rendered with the other model, every acquisition
//! effect on; the threshold chain (`workflows/dice-*.toml`) is scored on the same stacks.
//!
//! - `cross_model_small` (always run): electrode, reduced size, both directions.
//! - `cross_model_table` (`#[ignore]`, ~10 min on 2 cores): the full table of
//!   `docs/src/validation/classifier.md`: electrode and Li deposit at the default size, both
//!   directions, classifier and threshold chain. Run it with
//!   `cargo test --release --test classify_cross_model -- --ignored --nocapture`.
//! - `sparse_strokes_reach_the_full_truth_classifier`: 0.1 % of the voxels painted as strokes.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
}

fn run(toml: &str, dir: &Path) -> Value {
    std::fs::create_dir_all(dir).unwrap();
    let f = dir.join("w.toml");
    std::fs::write(&f, toml).unwrap();
    let o = bin()
        .args(["run", f.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(dir.join("out/results.json")).unwrap()).unwrap()
}

/// The shared chain before segmentation (the Dice workflows' chain without denoising).
const CHAIN: &str = r#"
[[steps]]
kind = "destripe"
method = "stack"
material_aware = false
[[steps]]
kind = "align"
interpolation = "fourier"
[[steps]]
kind = "geometry"
shear = false
"#;

fn synth(preset: &str, shape: [usize; 3], seed: u64, model: &str) -> String {
    format!(
        "[[steps]]\nkind = \"synth\"\npreset = \"{preset}\"\nshape = {shape:?}\nseed = {seed}\n\
         [steps.acquisition.shine_through]\nmodel = \"{model}\"\n\
         [steps.acquisition.curtain]\nmodel = \"additive\"\n"
    )
}

fn threshold_segment(preset: &str) -> String {
    let (sigma, labels) = if preset == "electrode" {
        (20.0, "[0, 2, 1]")
    } else {
        (10.0, "[0, 1, 2]")
    };
    format!(
        "[[steps]]\nkind = \"denoise\"\nsigma = {sigma}\n[[steps]]\nkind = \"segment\"\nmethod = \"multiotsu\"\n\
         classes = 3\nlabels = {labels}\nshine_through = true\nshine_iterations = 10\nrim_correction = true\n"
    )
}

fn classify_inline(
    preset: &str,
    shape: [usize; 3],
    seeds: &[u64],
    model: &str,
    trees: usize,
) -> String {
    let specs: Vec<String> = seeds
        .iter()
        .map(|s| {
            format!(
                "{{ preset = \"{preset}\", shape = {shape:?}, seed = {s}, acquisition = {{ shine_through = {{ model = \"{model}\" }} }} }}"
            )
        })
        .collect();
    format!(
        "[[steps]]\nkind = \"classify\"\n[steps.train]\nsynth = [{}]\n\
         forest = {{ trees = {trees}, max_per_class = 30000, class_weight = \"labelled\" }}\n",
        specs.join(", ")
    )
}

/// (Dice per label, pore/solid Dice pore and solid, porosity error).
#[derive(Debug, Clone)]
struct Scores {
    dice: Vec<f64>,
    pore: f64,
    solid: f64,
    porosity_error: f64,
}

fn scores(r: &Value) -> Scores {
    let s = &r["score"];
    Scores {
        dice: s["applied"]["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["dice"].as_f64().unwrap())
            .collect(),
        pore: s["applied"]["pore_vs_solid"]["dice_pore"].as_f64().unwrap(),
        solid: s["applied"]["pore_vs_solid"]["dice_solid"]
            .as_f64()
            .unwrap(),
        porosity_error: s["porosity"]["error"].as_f64().unwrap(),
    }
}

/// Score the classifier trained on `train_model` stacks (seeds `train_seeds`) and the threshold
/// chain on the `test_model` stack of seed `test_seed`.
#[allow(clippy::too_many_arguments)]
fn pair(
    preset: &str,
    shape: [usize; 3],
    train_model: &str,
    test_model: &str,
    train_seeds: &[u64],
    test_seed: u64,
    trees: usize,
    dir: &Path,
) -> (Scores, Scores) {
    let head = format!(
        "output = \"out\"\nseed = {test_seed}\n{}{CHAIN}",
        synth(preset, shape, test_seed, test_model)
    );
    let tail = "[[steps]]\nkind = \"porosity\"\nphase = 0\n[[steps]]\nkind = \"score\"\npore = 0\n";
    let c = run(
        &format!(
            "{head}{}{tail}",
            classify_inline(preset, shape, train_seeds, train_model, trees)
        ),
        &dir.join("classifier"),
    );
    let t = run(
        &format!("{head}{}{tail}", threshold_segment(preset)),
        &dir.join("threshold"),
    );
    (scores(&c), scores(&t))
}

fn print(what: &str, s: &Scores) {
    let d: Vec<String> = s.dice.iter().map(|v| format!("{v:.3}")).collect();
    println!(
        "{what}: Dice per phase {} | pore/solid {:.3} / {:.3} | porosity error {:+.4}",
        d.join(" / "),
        s.pore,
        s.solid,
        s.porosity_error
    );
}

/// Reduced size (32 slices of 72×72), both directions on the electrode. Asserted: the
/// classifier beats the threshold chain's pore/solid Dice on data of the other shine-through
/// model, and its measured figures hold (floors ≈ 0.01 under the values measured at this size).
#[test]
fn cross_model_small() {
    let d = tempfile::tempdir().unwrap();
    let shape = [32, 72, 72];
    for (a, b) in [("exponential", "geometric"), ("geometric", "exponential")] {
        let (c, t) = pair("electrode", shape, a, b, &[2, 3], 1, 30, &d.path().join(a));
        print(
            &format!("electrode, trained on {a}, scored on {b}: classifier"),
            &c,
        );
        print(&format!("electrode, scored on {b}: threshold chain"), &t);
        assert!(c.pore > t.pore && c.solid > t.solid, "{c:?} vs {t:?}");
        assert!(c.pore > 0.93 && c.solid > 0.94, "{c:?}");
        assert!(c.porosity_error.abs() < 0.045, "{c:?}");
    }
}

/// The full table (see the module docs).
#[test]
#[ignore]
fn cross_model_table() {
    let d = tempfile::tempdir().unwrap();
    for preset in ["electrode", "li-deposit"] {
        for (a, b) in [("exponential", "geometric"), ("geometric", "exponential")] {
            let (c, t) = pair(
                preset,
                [64, 96, 96],
                a,
                b,
                &[2, 3, 4],
                1,
                100,
                &d.path().join(format!("{preset}-{a}")),
            );
            print(
                &format!(
                    "{preset}, trained on {a} (seeds 2-4), scored on {b} (seed 1): classifier"
                ),
                &c,
            );
            print(
                &format!("{preset}, scored on {b} (seed 1): threshold chain"),
                &t,
            );
        }
    }
}

const SPARSE_SHAPE: [usize; 3] = [64, 96, 96];

/// Strokes: short in-plane line segments inside phase interiors, on ~0.1 % of the voxels.
fn strokes(truth: &ndarray::Array3<u8>, frac: f64, seed: u64) -> ndarray::Array3<u8> {
    let (nz, ny, nx) = truth.dim();
    let mut out = ndarray::Array3::<u8>::zeros((nz, ny, nx));
    let want = (frac * (nz * ny * nx) as f64) as usize;
    let mut r = fibstack::rng::Rng::new(seed);
    let mut painted = 0;
    let mut tries = 0;
    while painted < want && tries < 1_000_000 {
        tries += 1;
        let (z, y, x) = (
            r.below(nz as u64) as usize,
            r.below(ny as u64) as usize,
            r.below(nx as u64) as usize,
        );
        let l = truth[[z, y, x]];
        if l == 255 {
            continue;
        }
        // a stroke of up to 12 px along x or y, kept while it stays in the same phase
        let along_x = r.uniform() < 0.5;
        for k in 0..12usize {
            let (yy, xx) = if along_x { (y, x + k) } else { (y + k, x) };
            if yy + 1 >= ny || xx + 1 >= nx || yy == 0 || xx == 0 {
                break;
            }
            if truth[[z, yy, xx]] != l {
                break;
            }
            if out[[z, yy, xx]] == 0 {
                out[[z, yy, xx]] = l + 1;
                painted += 1;
            }
        }
    }
    out
}

/// 0.1 % of the voxels of the processed training stack painted as strokes (labels 1…3) against
/// the full truth of the same stack, both scored on a held-out stack. The target "Dice within
/// 0.02 of the full-truth classifier" is met for the active material only (see the asserts).
#[test]
fn sparse_strokes_reach_the_full_truth_classifier() {
    let d = tempfile::tempdir().unwrap();
    let shape = SPARSE_SHAPE;
    // the processed training stack and its mapped truth
    let prep = format!(
        "output = \"out\"\nseed = 2\n{}{CHAIN}[[steps]]\nkind = \"convert\"\npath = \"grey.tif\"\n\
         [[steps]]\nkind = \"segment\"\nmethod = \"otsu\"\n[[steps]]\nkind = \"score\"\npore = 0\ntruth_out = \"truth_on_grid.tif\"\n",
        synth("electrode", shape, 2, "exponential")
    );
    run(&prep, &d.path().join("prep"));
    let out = d.path().join("prep/out");
    let truth =
        fibstack::io::read_labels(&out.join("truth_on_grid.tif"), &Default::default()).unwrap();
    let painted = strokes(&truth.data, 0.001, 7);
    let n = painted.iter().filter(|&&v| v > 0).count();
    let frac = n as f64 / painted.len() as f64;
    println!("painted {n} voxels ({:.3} %)", 100.0 * frac);
    assert!((0.0009..0.0012).contains(&frac), "{frac}");
    for l in 1..=3u8 {
        assert!(painted.iter().any(|&v| v == l), "phase {l} painted");
    }
    let pp = d.path().join("painted.tif");
    fibstack::io::write_labels(&pp, &fibstack::LabelVolume::new(painted, truth.voxel)).unwrap();
    let grey = out.join("grey.tif");
    let train = |labels: &Path, extra: &[&str], model: &Path| {
        let o = bin()
            .args([
                "train",
                grey.to_str().unwrap(),
                labels.to_str().unwrap(),
                model.to_str().unwrap(),
                "--trees",
                "30",
                "-q",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let m_sparse = d.path().join("sparse.fsrf");
    let m_full = d.path().join("full.fsrf");
    train(&pp, &["--class-weight", "labelled"], &m_sparse);
    train(
        &out.join("truth_on_grid.tif"),
        &["--unlabelled", "255"],
        &m_full,
    );
    // score both on a held-out stack (seed 1); the sparse model writes labels 1…3
    let score = |model: &Path, relabel: bool| -> Scores {
        let cl = format!(
            "[[steps]]\nkind = \"classify\"\nmodel = \"{}\"\n",
            model.display()
        );
        let fix = if relabel {
            // strokes were painted as truth label + 1
            "[[steps]]\nkind = \"convert\"\npath = \"seg.tif\"\nwhat = \"labels\"\n"
        } else {
            ""
        };
        let toml = format!(
            "output = \"out\"\nseed = 1\n{}{CHAIN}{cl}{fix}[[steps]]\nkind = \"score\"\npore = {}\n",
            synth("electrode", shape, 1, "exponential"),
            if relabel { 1 } else { 0 }
        );
        let name = model.file_stem().unwrap().to_str().unwrap().to_string();
        let r = run(&toml, &d.path().join(name));
        let mut s = scores(&r);
        if relabel {
            // phases are scored by label: the sparse model's label l + 1 is truth label l;
            // pick each truth phase's Dice from the confusion of the relabelled volume
            let dir = d.path().join(model.file_stem().unwrap()).join("out");
            let seg = fibstack::io::read_labels(&dir.join("seg.tif"), &Default::default()).unwrap();
            let shifted = seg.data.mapv(|v| v.saturating_sub(1));
            let truth = score_truth(&d.path().join(model.file_stem().unwrap()));
            let c = fibstack::validate::score_labels(shifted.view(), truth.view(), 0).unwrap();
            s = Scores {
                dice: c.score.phases.iter().map(|p| p.dice).collect(),
                pore: c.pore_vs_solid.dice_pore,
                solid: c.pore_vs_solid.dice_solid,
                porosity_error: f64::NAN,
            };
        }
        s
    };
    let full = score(&m_full, false);
    let sparse = score(&m_sparse, true);
    print("full truth (seed 2) → seed 1", &full);
    print("0.1 % strokes (seed 2) → seed 1", &sparse);
    for (l, (a, b)) in sparse.dice.iter().zip(&full.dice).enumerate() {
        let ok = *a >= b - 0.02;
        println!(
            "phase {l}: sparse {a:.4} full {b:.4} (difference {:+.4}): target within 0.02 {}",
            a - b,
            if ok { "met" } else { "NOT met" }
        );
    }
    // measured (seed 2 → seed 1): pore 0.897 vs 0.949 and binder 0.502 vs 0.752 miss the
    // 0.02 target (random strokes never sample the 1–2-voxel binder shells and the pore/particle
    // edges densely enough); active material 0.948 vs 0.960 meets it. Floors under the measured.
    assert!(sparse.dice[1] >= full.dice[1] - 0.02, "active material");
    assert!(sparse.pore > 0.885 && sparse.dice[2] > 0.45, "{sparse:?}");
}

/// The truth mapped onto the grid of the run in `dir` (re-run with truth_out is avoided: the
/// score step of that run wrote none, so map it again through the library).
fn score_truth(dir: &Path) -> ndarray::Array3<u8> {
    let r: Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/results.json")).unwrap()).unwrap();
    let rec: fibstack::synth::Truth = serde_json::from_value(r["synth"].clone()).unwrap();
    let spec = fibstack::synth::SynthSpec {
        preset: fibstack::synth::Preset::Electrode,
        shape: Some(SPARSE_SHAPE),
        seed: 1,
        ..Default::default()
    };
    let labels = fibstack::synth::structure(&spec).unwrap().0;
    let (align, geometry) =
        fibstack::validate::reports_from_results(r.as_object().unwrap()).unwrap();
    let acq = rec.acquisition.as_ref().unwrap();
    let t =
        fibstack::validate::ChainTransform::new(acq.image_shape, align.as_ref(), geometry.as_ref())
            .unwrap();
    fibstack::validate::truth_on_grid(
        labels.view(),
        acq,
        &t,
        fibstack::validate::Alignment::Applied,
    )
    .unwrap()
}
