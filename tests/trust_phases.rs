//! Phases checked and tortuosity results judged: an absent phase or collector is an error listing
//! the labels present, a grey image fed to a label metric is an error suggesting `segment`, and
//! unconverged / impossible τ carries a warning that stops `fibstack run` unless allowed.

#[path = "support/trust.rs"]
mod trust;
use trust::*;

#[test]
fn absent_phase_is_an_error_listing_the_labels_present() {
    let d = tempfile::tempdir().unwrap();
    // labels 0 and 2 only
    let a = channels((8, 12, 12)).mapv(|v| v * 2);
    let p = write_labels(&d.path().join("electrode.tiff"), &a, vox([20.0, 5.0, 5.0]));
    for cmd in ["porosity", "tortuosity", "sizes", "connectivity"] {
        fails_with(
            &fib(&[cmd, &p, "--phase", "1", "-q"]),
            &[
                "electrode.tiff",
                "phase 1 does not occur",
                "labels present: 0, 2",
            ],
        );
    }
    // the collector of deposit detection too
    fails_with(
        &fib(&["porosity", &p, "--phase", "0", "--collector", "9", "-q"]),
        &["electrode.tiff", "collector 9 does not occur", "0, 2"],
    );
    // present phases still work
    let j = ok_json(&fib(&["porosity", &p, "--phase", "2", "--json", "-q"]));
    assert!(j["porosity"]["value"].as_f64().unwrap() > 0.0);
}

#[test]
fn grey_image_fed_to_a_label_metric_suggests_segment() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((6, 16, 16));
    let folder = d.path().join("grey_folder");
    let p = write_grey(&folder, grey_of(&a), vox([20.0, 5.0, 5.0]));
    for cmd in ["tortuosity", "porosity", "sizes", "connectivity"] {
        fails_with(
            &fib(&[cmd, &p, "--phase", "0", "-q"]),
            &["grey_folder", "grey", "segment"],
        );
    }
    // a real grey image (hundreds of values): refused as "not labels"
    let noisy = ndarray::Array3::from_shape_fn((4, 16, 16), |(z, y, x)| {
        ((z * 61 + y * 17 + x * 3) % 251) as u8
    });
    let p = write_grey(&d.path().join("noisy"), noisy, vox([20.0, 5.0, 5.0]));
    fails_with(
        &fib(&["tortuosity", &p, "--phase", "0", "-q"]),
        &["noisy", "distinct values", "more than the 32", "segment"],
    );
}

#[test]
fn workflow_steps_check_phases_too() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((8, 12, 12));
    write_labels(&d.path().join("l.tif"), &a, vox([20.0, 5.0, 5.0]));
    for (kind, extra) in [
        ("porosity", "phase = 3"),
        ("tortuosity", "phase = 3"),
        ("sizes", "phase = 3"),
        ("connectivity", "phase = 3"),
        ("porosity", "phase = 0\ndeposit = true\ncollector = 9"),
        ("crop", "to_deposit = true\ncollector = 9"),
    ] {
        let w = workflow(
            d.path(),
            &format!("output = \"out\"\n[input]\npath = \"l.tif\"\nlabels = true\n[[steps]]\nkind = \"{kind}\"\n{extra}\n"),
        );
        fails_with(
            &fib(&["run", w.to_str().unwrap(), "-q"]),
            &[
                &format!("step {kind}"),
                "does not occur",
                "labels present: 0, 1",
            ],
        );
    }
}

/// A solve stopped before convergence used to be written like any other value.
#[test]
fn unconverged_tortuosity_warns_and_stops_run_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((16, 16, 16));
    let p = write_labels(&d.path().join("l.tif"), &a, vox([10.0, 10.0, 10.0]));
    // CLI: the value comes with a loud warning (also with --json and -q)
    let o = fib(&[
        "tortuosity",
        &p,
        "--phase",
        "1",
        "--axis",
        "z",
        "--max-iter",
        "1",
        "--json",
        "-q",
    ]);
    let j = ok_json(&o);
    let r = &j["results"][0];
    assert_eq!(r["converged"], false);
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap()
            .contains("did NOT converge"),
        "{r}"
    );
    assert!(stderr(&o).contains("warning:") && stderr(&o).contains("l.tif"));
    // workflow: the run stops, names the fix, and writes no results
    let body = "[input]\npath = \"l.tif\"\nlabels = true\n[[steps]]\nkind = \"tortuosity\"\nphase = 1\naxis = \"z\"\nmax_iter = 1\n";
    let w = workflow(d.path(), &format!("output = \"out\"\n{body}"));
    assert!(fib(&["run", w.to_str().unwrap(), "--check", "-q"])
        .status
        .success());
    fails_with(
        &fib(&["run", w.to_str().unwrap(), "-q"]),
        &[
            "step tortuosity",
            "did NOT converge",
            "allow_unconverged = true",
        ],
    );
    assert!(!d.path().join("out/results.json").exists());
    // allowed: kept, marked, and the warning is printed and recorded in provenance
    let w = workflow(
        d.path(),
        &format!("output = \"out\"\nallow_unconverged = true\n{body}"),
    );
    let o = fib(&["run", w.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("did NOT converge"), "{}", stderr(&o));
    let res: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("out/results.json")).unwrap()).unwrap();
    assert_eq!(res["tortuosity"]["results"][0]["converged"], false);
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("out/provenance.json")).unwrap())
            .unwrap();
    assert!(prov["warnings"].to_string().contains("did NOT converge"));
}

/// τ = ∞ for a phase that does not connect the faces is a legitimate answer: a warning, not a
/// failure (the Li-deposit series has such samples).
#[test]
fn non_percolating_phase_warns_but_does_not_fail() {
    let d = tempfile::tempdir().unwrap();
    // label 1 = layers normal to z: connects the y and x faces, not the z faces
    let a = ndarray::Array3::from_shape_fn((8, 10, 10), |(z, _, _)| u8::from(z % 4 < 2));
    let p = write_labels(&d.path().join("layers.tif"), &a, vox([10.0, 10.0, 10.0]));
    let o = fib(&["tortuosity", &p, "--phase", "1", "--json", "-q"]);
    let j = ok_json(&o);
    let z = &j["results"][0];
    assert!(z["tortuosity_factor"].is_null());
    assert!(z["warnings"][0]
        .as_str()
        .unwrap()
        .contains("does not connect"));
    assert!(stderr(&o).contains("does not connect the two faces normal to z"));
    let w = workflow(
        d.path(),
        "output = \"out\"\n[input]\npath = \"layers.tif\"\nlabels = true\n[[steps]]\nkind = \"tortuosity\"\nphase = 1\n",
    );
    let o = fib(&["run", w.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not connect"), "{}", stderr(&o));
}

/// τ < 1 is impossible (D_eff ≤ ε·D₀): it is suspect like an unconverged value.
#[test]
fn tau_below_one_is_suspect() {
    let base = serde_json::json!({
        "method": "steady_state_fd", "phase": 0, "axis": "z", "axis_index": 0,
        "tortuosity_factor": 0.898, "ci_low": null, "ci_high": null, "ci_level": null,
        "percolating": true, "deff_over_d0": 0.5, "macmullin": 2.0, "porosity_total": 0.45,
        "porosity_percolating": 0.45, "porosity_used": "total", "voxel_size_nm": [1.0, 1.0, 1.0],
        "boundary": "half_voxel", "iterations": 10, "relative_residual": 1e-6,
        "flux_variation": 1e-3, "steps": null, "walkers": null, "seed": null,
        "converged": true, "time_s": 0.1, "notes": []
    });
    let mut r: fibstack::metrics::tortuosity::TortuosityResult =
        serde_json::from_value(base.clone()).unwrap();
    r.assess();
    assert!(r.below_one() && r.is_suspect());
    assert!(r.warnings[0].contains("below 1"), "{:?}", r.warnings);
    // a random walk whose interval reaches 1 is only noise around 1
    let mut rw = base;
    rw["method"] = "random_walk".into();
    rw["tortuosity_factor"] = 0.99.into();
    rw["ci_low"] = 0.97.into();
    rw["ci_high"] = 1.01.into();
    let mut r: fibstack::metrics::tortuosity::TortuosityResult =
        serde_json::from_value(rw).unwrap();
    r.assess();
    assert!(!r.is_suspect() && r.warnings.is_empty());
}
