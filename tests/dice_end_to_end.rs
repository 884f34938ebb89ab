//! Issue 4, end to end: the workflows `workflows/dice-electrode.toml` and
//! `workflows/dice-li-deposit.toml` generate the simulator's default electrode-like and Li-deposit
//! stacks (every acquisition effect on), run align → geometry → destripe → denoise → segment, and
//! score the segmentation against the truth labels mapped onto the processed grid
//! (`validate`). Figures and the phases that miss 0.95 are in README (Dice section).

use serde_json::Value;
use std::path::Path;
#[path = "support/run_workflow.rs"]
mod support;
use std::process::Command;

fn run_workflow(name: &str, out: &Path) -> Value {
    support::run_workflow(name, out);
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}

fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {ptr}"))
}

/// Print every figure of the score; return (pore Dice, per-phase Dice by label, porosity error).
fn report(name: &str, r: &Value) -> (f64, Vec<(u64, f64)>, f64) {
    let s = &r["score"];
    let mut phases = Vec::new();
    for view in ["applied", "ideal"] {
        let v = &s[view];
        if v.is_null() {
            continue;
        }
        let ph = v["phases"].as_array().unwrap();
        let list: Vec<String> = ph
            .iter()
            .map(|p| {
                format!(
                    "{} ({}) {:.4} [seg {:.4} / truth {:.4}]",
                    p["label"],
                    p["name"].as_str().unwrap_or("?"),
                    p["dice"].as_f64().unwrap(),
                    p["segmented_fraction"].as_f64().unwrap(),
                    p["reference_fraction"].as_f64().unwrap()
                )
            })
            .collect();
        println!(
            "{name} [{view} alignment]: Dice {}; accuracy {:.4}; pore vs solid: pore {:.4} solid {:.4} accuracy {:.4}; unscored {}",
            list.join(", "),
            f(v, "/accuracy"),
            f(v, "/pore_vs_solid/dice_pore"),
            f(v, "/pore_vs_solid/dice_solid"),
            f(v, "/pore_vs_solid/accuracy"),
            v["unscored_voxels"]
        );
        if view == "applied" {
            phases = ph
                .iter()
                .map(|p| (p["label"].as_u64().unwrap(), p["dice"].as_f64().unwrap()))
                .collect();
        }
    }
    let p = &s["porosity"];
    println!(
        "{name}: porosity segmented {:.4}, truth same region {:.4}, truth whole volume {:.4}, error {:+.4}",
        f(p, "/segmented"),
        f(p, "/truth_same_region"),
        f(p, "/truth_whole_volume"),
        f(p, "/error")
    );
    // the score's porosity is the porosity step's
    let step = f(r, "/porosity/porosity/value");
    assert!((step - f(p, "/segmented")).abs() < 1e-9, "{step}");
    (
        f(&s["applied"], "/pore_vs_solid/dice_pore"),
        phases,
        f(p, "/error"),
    )
}

/// What the issue asks (Dice ≥ 0.95, |porosity error| ≤ 0.01), checked and printed per figure;
/// returns the figures that meet it.
fn issue_targets(name: &str, pore: f64, phases: &[(u64, f64)], err: f64) -> Vec<String> {
    let mut met = Vec::new();
    for (l, d) in phases {
        let ok = *d >= 0.95;
        println!(
            "{name}: Dice label {l} = {d:.4}: issue target 0.95 {}",
            if ok { "met" } else { "NOT met" }
        );
        if ok {
            met.push(format!("dice {l}"));
        }
    }
    println!(
        "{name}: pore vs solid, Dice pore = {pore:.4}: issue target 0.95 {}",
        if pore >= 0.95 { "met" } else { "NOT met" }
    );
    let ok = err.abs() <= 0.01;
    println!(
        "{name}: porosity error {err:+.4}: issue target 0.01 {}",
        if ok { "met" } else { "NOT met" }
    );
    if ok {
        met.push("porosity".into());
    }
    met
}

fn dice_of(phases: &[(u64, f64)], label: u64) -> f64 {
    phases.iter().find(|p| p.0 == label).unwrap().1
}

/// Electrode (pore 0 / active material 1 / carbon binder 2): stack destriping of the raw slices,
/// align (Fourier shifts), geometry, denoise, 3-class multi-Otsu with the shine-through and rim
/// corrections (shine-through refitted to convergence). Measured (seed 1): Dice pore 0.932, active
/// material 0.941, binder 0.605, porosity +0.0067: the issue's porosity target (0.01) is met and asserted; Dice 0.95 is NOT met (README:
/// partial volume, shine-through, curtains). Asserted besides: floors just under the measured
/// Dice so a regression shows.
#[test]
fn electrode_full_chain_dice_and_porosity() {
    let d = tempfile::tempdir().unwrap();
    let r = run_workflow("dice-electrode", d.path());
    let (pore, phases, err) = report("electrode", &r);
    assert!(d.path().join("truth_on_grid.tif").exists());
    let met = issue_targets("electrode", pore, &phases, err);
    println!("electrode: issue targets met: {met:?}");
    // the issue's porosity target
    assert!(err.abs() <= 0.01, "porosity error {err}");
    // regression floors (measured − ~0.01), not the issue's targets
    assert!(dice_of(&phases, 0) > 0.925, "pore {phases:?}");
    assert!(dice_of(&phases, 1) > 0.93, "active material {phases:?}");
    assert!(dice_of(&phases, 2) > 0.59, "carbon binder {phases:?}");
    assert!(
        f(&r["score"], "/applied/pore_vs_solid/dice_solid") > 0.945,
        "solid"
    );
}

/// The stack destriping against the wedge chain (adaptive FFT wedge after geometry, bilinear
/// shifts) on the same stack: with the adaptive wedge the two chains are within 0.02 of each other
/// (figures in the test).
#[test]
fn electrode_stack_destriping_beats_the_wedge_chain() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/dice-electrode.toml"),
    )
    .unwrap();
    let stack = "[[steps]]\nkind = \"destripe\"";
    let i = text.find(stack).expect("a destripe step");
    let j = text
        .find("[[steps]]\nkind = \"align\"")
        .expect("an align step");
    assert!(i < j, "the stack destripe runs before align");
    let g = text.find("[[steps]]\nkind = \"denoise\"").unwrap();
    // old chain: no destripe before align, bilinear shifts, the wedge after geometry, two
    // shine-through rounds (the default)
    let segment: String = text[g..]
        .lines()
        .filter(|l| !l.starts_with("shine_iterations"))
        .map(|l| format!("{l}\n"))
        .collect();
    let old = format!(
        "{}{}[[steps]]\nkind = \"destripe\"\nmethod = \"wedge\"\nmaterial_aware = false\n\n{}",
        &text[..i],
        &text[j..g].replace("interpolation = \"fourier\"", ""),
        segment
    )
    .replace("output = \"../out/dice-electrode\"", "output = \"out\"");
    let d = tempfile::tempdir().unwrap();
    let wf = d.path().join("old.toml");
    std::fs::write(&wf, old).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(["run", wf.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r_old: Value =
        serde_json::from_slice(&std::fs::read(d.path().join("out/results.json")).unwrap()).unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let r_new = run_workflow("dice-electrode", d2.path());
    let (_, old, _) = report("electrode, wedge chain", &r_old);
    let (_, new, _) = report("electrode, stack chain", &r_new);
    assert_eq!(
        r_old.pointer("/destripe/method").and_then(Value::as_str),
        Some("fft_wedge_adaptive")
    );
    // with the adaptive wedge the two chains are close: measured (seed 1) wedge 0.939 / 0.944 /
    // 0.643, stack 0.937 / 0.945 / 0.626; asserted: within 0.03 of each other on every phase, and
    // both at least at their measured floors
    for (l, floor) in [(0, 0.93), (1, 0.935), (2, 0.61)] {
        let (a, b) = (dice_of(&new, l), dice_of(&old, l));
        assert!(
            (a - b).abs() < 0.03 && a > floor && b > floor,
            "label {l}: stack {a:.4} vs wedge {b:.4} (floor {floor})"
        );
    }
}

/// Li deposit (pore 0 / lithium 1 / collector 2): stack destriping of the raw slices, align
/// (Fourier shifts), geometry, σ = 10 nm, 3-class multi-Otsu with the shine-through correction
/// refitted to convergence and the rim correction. Measured (seed 1): Dice pore 0.963, lithium
/// 0.946, collector 0.980, porosity −0.0070: the issue's 0.95 is met by the pore and the
/// collector, not by the lithium; the porosity target (0.01) is met. All asserted, and the
/// converged shine-through fit is checked against the simulator's own shine-through weights.
#[test]
fn li_deposit_full_chain_dice_and_porosity() {
    let d = tempfile::tempdir().unwrap();
    let r = run_workflow("dice-li-deposit", d.path());
    let (pore, phases, err) = report("li-deposit", &r);
    let met = issue_targets("li-deposit", pore, &phases, err);
    println!("li-deposit: issue targets met: {met:?}");
    // the issue's targets, met by the pore and the current collector
    assert!(dice_of(&phases, 0) >= 0.95, "pore {phases:?}");
    assert!(dice_of(&phases, 2) >= 0.95, "collector {phases:?}");
    assert!(err.abs() <= 0.01, "porosity error {err}");
    // regression floor (measured − ~0.01), not the issue's target
    assert!(dice_of(&phases, 1) > 0.935, "lithium {phases:?}");
    // The simulator adds to a pore pixel 0.35·exp(−(j − 1)/1.5) of the (blurred) contrast j
    // slices deeper, j = 1..3: 0.350, 0.180, 0.092, and nothing from j = 4. The converged fit
    // (per unit of class contrast) must find these weights.
    let shine = &r["segment"]["shine_through"];
    assert_eq!(shine["converged"], true, "{shine}");
    let fitted: Vec<f64> = shine["behind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let truth = [
        0.35,
        0.35 * (-1.0f64 / 1.5).exp(),
        0.35 * (-2.0f64 / 1.5).exp(),
        0.0,
    ];
    println!("shine-through weights: fitted {fitted:.3?}, simulator {truth:.3?}");
    // measured: within 0.03 on slices 1-3, −0.064 on slice 4 (whose truth is 0)
    for (j, (f, t)) in fitted.iter().zip(truth).enumerate() {
        assert!(
            (f - t).abs() < if j == 3 { 0.08 } else { 0.06 },
            "slice {}: fitted {f:.3} vs {t:.3}",
            j + 1
        );
    }
}

/// The same score from a `fibstack synth` folder on disk (`truth = "folder"`), and from the CLI:
/// `fibstack score SEG --synth DIR --results results.json` repeats the step's numbers, and
/// `fibstack score SEG truth_on_grid.tif` (same-grid mode) its applied-alignment view.
#[test]
fn folder_truth_and_cli_agree_with_the_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fx = root.join("fixtures/synth/electrode");
    let d = tempfile::tempdir().unwrap();
    let wf = d.path().join("w.toml");
    std::fs::write(
        &wf,
        format!(
            "output = \"o\"\n[input]\npath = {:?}\nslice_thickness_nm = 20.0\n\
             [[steps]]\nkind = \"align\"\n[[steps]]\nkind = \"geometry\"\nshear = false\n\
             [[steps]]\nkind = \"denoise\"\nsigma = 20.0\n\
             [[steps]]\nkind = \"segment\"\nmethod = \"otsu\"\nlabels = [0, 1]\n\
             [[steps]]\nkind = \"convert\"\npath = \"labels.tif\"\nwhat = \"labels\"\n\
             [[steps]]\nkind = \"score\"\ntruth = {:?}\ntruth_out = \"truth_on_grid.tif\"\n\
             [[steps]]\nkind = \"crop\"\nz = [2, 10]\ny = [5, 40]\nx = [3, 50]\n\
             [[steps]]\nkind = \"convert\"\npath = \"labels_crop.tif\"\nwhat = \"labels\"\n\
             [[steps]]\nkind = \"score\"\ntruth = {:?}\n",
            fx.join("slices").to_str().unwrap(),
            fx.to_str().unwrap(),
            fx.to_str().unwrap()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(["run", wf.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = d.path().join("o");
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let s = &r["score"];
    let pore = f(s, "/applied/pore_vs_solid/dice_pore");
    println!(
        "fixture electrode, 2-class Otsu: pore Dice {pore:.4} (ideal {:.4}), porosity error {:+.4}",
        f(s, "/ideal/pore_vs_solid/dice_pore"),
        f(s, "/porosity/error")
    );
    assert!(pore > 0.9, "pore Dice {pore}");
    assert!(
        (f(s, "/porosity/truth_whole_volume") - 0.4489457872178819).abs() < 1e-12,
        "whole-volume truth porosity = truth.json porosity"
    );
    let cli = |args: &[&str]| -> Value {
        let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).expect("only JSON on stdout")
    };
    let seg = out.join("labels.tif");
    let c = cli(&[
        "score",
        seg.to_str().unwrap(),
        "--synth",
        fx.to_str().unwrap(),
        "--results",
        out.join("results.json").to_str().unwrap(),
        "--json",
    ]);
    for p in [
        "/applied/pore_vs_solid/dice_pore",
        "/applied/accuracy",
        "/ideal/pore_vs_solid/dice_solid",
        "/porosity/error",
    ] {
        assert_eq!(f(&c, p), f(s, p), "{p}");
    }
    // after a crop, the step scores the box: the same counts as the box of the uncropped mapping
    let read = |n: &str| {
        fibstack::io::read_labels(&out.join(n), &Default::default())
            .unwrap()
            .data
    };
    let (lab, tog) = (read("labels.tif"), read("truth_on_grid.tif"));
    let bx = ndarray::s![2..10, 5..40, 3..50];
    let pore_frac =
        |v: ndarray::ArrayView3<u8>| v.iter().filter(|&&l| l == 0).count() as f64 / v.len() as f64;
    let s2 = &r["score_2"];
    assert_eq!(f(s2, "/porosity/segmented"), pore_frac(lab.slice(bx)));
    assert_eq!(
        f(s2, "/porosity/truth_same_region"),
        pore_frac(tog.slice(bx)),
        "cropped score = box of the mapped truth"
    );
    let c2 = cli(&[
        "score",
        out.join("labels_crop.tif").to_str().unwrap(),
        "--synth",
        fx.to_str().unwrap(),
        "--results",
        out.join("results.json").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(f(&c2, "/applied/accuracy"), f(s2, "/applied/accuracy"));
    assert_eq!(f(&c2, "/porosity/error"), f(s2, "/porosity/error"));
    let same = cli(&[
        "score",
        seg.to_str().unwrap(),
        out.join("truth_on_grid.tif").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        f(&same, "/pore_vs_solid/dice_pore"),
        pore,
        "same-grid mode on the mapped truth"
    );
    assert_eq!(f(&same, "/accuracy"), f(s, "/applied/accuracy"));
}

/// Clear errors: no truth to score against, a bad output name, REF and --synth together.
#[test]
fn score_errors_are_clear() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let labels = root.join("fixtures/synth/electrode/truth/labels.tif");
    let d = tempfile::tempdir().unwrap();
    let run = |text: String| {
        let wf = d.path().join("w.toml");
        std::fs::write(&wf, text).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
            .args(["run", wf.to_str().unwrap(), "-q"])
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let head = format!(
        "output = \"o\"\n[input]\npath = {:?}\nlabels = true\n[[steps]]\nkind = \"score\"\n",
        labels.to_str().unwrap()
    );
    let e = run(head.clone());
    assert!(e.contains("score needs a truth"), "{e}");
    // `optional = true`: the run goes on and records that nothing was scored
    let wf = d.path().join("opt.toml");
    std::fs::write(&wf, format!("{head}optional = true\n")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(["run", wf.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("o/results.json")).unwrap()).unwrap();
    assert_eq!(r["score"]["scored"], false, "{}", r["score"]);
    let e = run(format!("{head}truth_out = \"../x.tif\"\n"));
    assert!(e.contains("truth_out"), "{e}");
    let e = run(format!("{head}pores = 0\n"));
    assert!(e.contains("did you mean `pore`"), "{e}");
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args([
            "score",
            labels.to_str().unwrap(),
            labels.to_str().unwrap(),
            "--synth",
            root.join("fixtures/synth/electrode").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not both"));
    // same-grid mode on identical volumes: every Dice 1
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args([
            "score",
            labels.to_str().unwrap(),
            labels.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    for p in v["phases"].as_array().unwrap() {
        assert_eq!(p["dice"].as_f64(), Some(1.0));
    }
    assert_eq!(f(&v, "/accuracy"), 1.0);
}
