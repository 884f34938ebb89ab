//! Calibration is a fact, never a guess: metrics refuse an uncalibrated axis unless told, a
//! default is never written out as metadata, implausible file values become "unknown", and the
//! stage tilt is compared with θ. Every case runs through the binary.

#[path = "support/trust.rs"]
mod trust;
use trust::*;

/// Metrics needing lengths (or τ, which depends on the voxel shape) refuse a stack without slice
/// thickness; with `--allow-uncalibrated` every output is in voxels of 1 x 1 x 1.
#[test]
fn metrics_refuse_missing_slice_thickness_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((12, 12, 12));
    let folder = d.path().join("slices");
    let p = write_labels(&folder, &a, vox_no_dz(5.0));
    let cases: [&[&str]; 5] = [
        &["tortuosity", &p, "--phase", "1"],
        &["sizes", &p, "--phase", "1"],
        &["connectivity", &p, "--phase", "1"],
        &["porosity", &p, "--phase", "1"],
        &["pipeline", &p, "--threshold", "0"],
    ];
    for args in cases {
        let out = fib(&[args, &["-q"]].concat());
        fails_with(
            &out,
            &[
                "slices",
                "dz",
                "slice thickness",
                "--voxel",
                "--allow-uncalibrated",
            ],
        );
        let j = ok_json(&fib(
            &[args, &["-q", "--json", "--allow-uncalibrated"]].concat()
        ));
        let unit = j
            .get("length_unit")
            .or_else(|| j.get("phases").and_then(|p| p.get("volume_unit")))
            .unwrap_or_else(|| panic!("{args:?}: no unit in {j}"));
        assert!(
            unit.as_str().unwrap().starts_with("voxel"),
            "{args:?}: {unit}"
        );
        assert_eq!(
            j["voxel_size_nm"],
            serde_json::json!([1.0, 1.0, 1.0]),
            "{args:?}"
        );
    }
    // the fix the message names works: the same command with the slice thickness
    let j = ok_json(&fib(&[
        "tortuosity",
        &p,
        "--phase",
        "1",
        "--voxel",
        "20,_,_",
        "--json",
        "-q",
    ]));
    assert_eq!(j["voxel_size_nm"], serde_json::json!([20.0, 5.0, 5.0]));
    assert_eq!(j["length_unit"], "nm");
}

/// The quickstart case: a workflow on a folder without dz used to write τ to the results and exit
/// 0. Now `run --check` and `run` stop naming dz; `allow_uncalibrated = true` runs it in voxels.
#[test]
fn workflow_refuses_uncalibrated_input_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((10, 24, 24));
    write_grey(&d.path().join("grey"), grey_of(&a), vox_no_dz(5.0));
    let steps = r#"
[input]
path = "grey"

[[steps]]
kind = "segment"
method = "otsu"

[[steps]]
kind = "tortuosity"
phase = 1
axis = "y"
"#;
    let w = workflow(d.path(), &format!("output = \"out\"\n{steps}"));
    let w = w.to_str().unwrap();
    // --check reads the input's headers and refuses it already, as run does at its metric step
    fails_with(
        &fib(&["run", w, "--check", "-q"]),
        &["dz", "slice_thickness_nm", "allow_uncalibrated"],
    );
    fails_with(
        &fib(&["run", w, "-q"]),
        &[
            "step tortuosity",
            "dz",
            "slice_thickness_nm",
            "allow_uncalibrated",
        ],
    );
    assert!(!d.path().join("out/results.json").exists());
    let w2 = workflow(
        d.path(),
        &format!("output = \"out2\"\nallow_uncalibrated = true\n{steps}"),
    );
    let o = fib(&["run", w2.to_str().unwrap(), "-q", "--json"]);
    let j = ok_json(&o);
    assert_eq!(j["tortuosity"]["length_unit"], "voxel");
    assert_eq!(j["tortuosity"]["voxel_calibrated"], false);
    assert_eq!(
        j["tortuosity"]["results"][0]["voxel_size_nm"],
        serde_json::json!([1.0, 1.0, 1.0])
    );
    // and with the slice thickness given, in nm
    let w3 = workflow(
        d.path(),
        &format!(
            "output = \"out3\"\n{}",
            steps.replace(
                "path = \"grey\"",
                "path = \"grey\"\nslice_thickness_nm = 20.0"
            )
        ),
    );
    let j = ok_json(&fib(&["run", w3.to_str().unwrap(), "-q", "--json"]));
    assert_eq!(j["tortuosity"]["length_unit"], "nm");
    assert_eq!(
        j["tortuosity"]["results"][0]["voxel_size_nm"],
        serde_json::json!([20.0, 5.0, 5.0])
    );
}

/// A default voxel size is never written into an output as if it were metadata: `align`'s TIFF
/// used to record 1 nm that `info` then showed as "file metadata" and `geometry` used as the
/// slice thickness.
#[test]
fn default_voxel_size_is_never_written_as_metadata() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((6, 32, 32));
    let src = write_grey(&d.path().join("grey"), grey_of(&a), vox_no_dz(5.0));
    let aligned = d.path().join("aligned.tif");
    let o = fib(&["align", &src, aligned.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = ok_json(&fib(&["info", aligned.to_str().unwrap(), "--json", "-q"]));
    assert_eq!(j["voxel_size_source"][0], "default", "{j}");
    assert_eq!(j["voxel_size_source"][1], "file");
    assert_eq!(j["voxel_size_nm"][1], 5.0);
    // geometry cannot take the placeholder as the slice thickness
    fails_with(
        &fib(&[
            "geometry",
            aligned.to_str().unwrap(),
            d.path().join("g.tif").to_str().unwrap(),
            "-q",
        ]),
        &["slice thickness", "--slice-thickness"],
    );
    // every writer: TIFF, folder, VTI keep "unknown" unknown; npy/raw carry no voxel size
    for name in ["c.tif", "c.vti", "cfolder"] {
        let out = d.path().join(name);
        let o = fib(&["convert", &src, out.to_str().unwrap(), "-q"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let j = ok_json(&fib(&["info", out.to_str().unwrap(), "--json", "-q"]));
        assert_eq!(j["voxel_size_source"][0], "default", "{name}: {j}");
        assert_eq!(j["voxel_size_source"][2], "file", "{name}: {j}");
        assert_eq!(j["calibrated"], false);
    }
    // a stretched placeholder is still a placeholder (geometry --no-shear on an uncalibrated npy)
    let npy = write_grey(&d.path().join("g.npy"), grey_of(&a), Default::default());
    let g = d.path().join("stretched.tif");
    let o = fib(&["geometry", &npy, g.to_str().unwrap(), "--no-shear", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = ok_json(&fib(&["info", g.to_str().unwrap(), "--json", "-q"]));
    assert_eq!(
        j["voxel_size_source"],
        serde_json::json!(["default", "default", "default"])
    );
}

/// Calibration values outside the FIB-SEM ranges (pixel 0.1 nm–10 µm, slice 1 nm–10 µm) are
/// "unknown, give --voxel" with the value found: a warning in `info`, an error where a metric
/// needs them.
#[test]
fn implausible_calibration_becomes_unknown() {
    let Some(puma) = shared("volumes/puma_fiberform_100.tif") else {
        return;
    };
    let puma = puma.to_str().unwrap();
    let o = fib(&["info", puma, "--json"]);
    let j = ok_json(&o);
    let e = stderr(&o);
    assert!(
        e.contains("dy = 254000 nm") && e.contains("implausible") && e.contains("--voxel"),
        "{e}"
    );
    assert_eq!(
        j["voxel_size_source"],
        serde_json::json!(["default", "default", "default"])
    );
    // a metric needing the pixel size refuses the labels made from it
    let d = tempfile::tempdir().unwrap();
    let labels = d.path().join("l.tif");
    let o = fib(&[
        "segment",
        puma,
        labels.to_str().unwrap(),
        "--method",
        "manual",
        "--thresholds",
        "90",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    fails_with(
        &fib(&["sizes", labels.to_str().unwrap(), "--phase", "0", "-q"]),
        &["l.tif", "dy", "pixel size", "--voxel"],
    );
    // the real voxel (1.3 µm, from the data's documentation) is accepted as given
    let j = ok_json(&fib(&[
        "porosity",
        labels.to_str().unwrap(),
        "--phase",
        "0",
        "--voxel",
        "1300,1300,1300",
        "--json",
        "-q",
        "--rev-sizes",
        "0",
    ]));
    assert_eq!(j["length_unit"], "nm");
    // the nacre image: a baseline resolution of 230 px/cm (43 µm pixels) is no calibration
    if let Some(nacre) = shared("sem/fib_crosssection_nacre_curtaining.tif") {
        let o = fib(&["info", nacre.to_str().unwrap(), "--json"]);
        let j = ok_json(&o);
        let e = stderr(&o);
        assert!(e.contains("dx = 43457") && e.contains("implausible"), "{e}");
        assert_eq!(j["calibrated"], false);
    }
    // the library function every reader goes through
    let mut v = fibstack::VoxelSize::new([0.5, 0.05, 20_000.0], fibstack::VoxelSource::File);
    let w = v.drop_implausible();
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(v.uncalibrated_axes(), ["dz", "dy", "dx"]);
    // values the user gives are kept (they are not guesses)
    let mut u = fibstack::VoxelSize::new([0.5, 0.05, 20_000.0], fibstack::VoxelSource::CommandLine);
    assert!(u.drop_implausible().is_empty() && u.is_calibrated());
}

/// `geometry` reports the stage tilt of the metadata beside θ and warns when they disagree by
/// more than 1° (the PFIB image was taken at a stage tilt of 0.558 rad = 32°).
#[test]
fn geometry_reports_stage_tilt_and_warns_on_mismatch() {
    let Some(pfib) = shared("sem/thermo_helios_pfib_ion_image.tif") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("g.tif");
    let o = fib(&[
        "geometry",
        pfib.to_str().unwrap(),
        out.to_str().unwrap(),
        "--no-shear",
        "--json",
    ]);
    let j = ok_json(&o);
    assert!(
        (j["stage_tilt_deg"].as_f64().unwrap() - 31.97).abs() < 0.05,
        "{j}"
    );
    assert_eq!(j["theta_deg"], 52.0);
    assert_eq!(j["theta_source"], "default");
    let w = j["warnings"][0].as_str().unwrap();
    assert!(w.contains("32.00°") && w.contains("θ = 52°"), "{w}");
    assert!(stderr(&o).contains("warning:"), "{}", stderr(&o));
    // the simulator's slices record StageT = 52°: no warning
    let fix =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/synth/electrode/slices");
    let o = fib(&[
        "geometry",
        fix.to_str().unwrap(),
        d.path().join("s.tif").to_str().unwrap(),
        "--no-shear",
        "--json",
        "--slices",
        "0..2",
    ]);
    let j = ok_json(&o);
    assert!((j["stage_tilt_deg"].as_f64().unwrap() - 52.0).abs() < 1e-6);
    assert_eq!(j["warnings"], serde_json::json!([]));
    assert!(!stderr(&o).contains("warning:"));
}

#[test]
fn check_refuses_an_uncalibrated_input_a_metric_step_needs() {
    // `run --check` reads the input's headers: a folder without any voxel size, measured by a
    // porosity step, is refused before any work (as `run` would refuse it at that step)
    use tiff::encoder::{colortype, TiffEncoder};
    let d = tempfile::tempdir().unwrap();
    let slices = d.path().join("slices");
    std::fs::create_dir(&slices).unwrap();
    for z in 0..4 {
        let f = std::fs::File::create(slices.join(format!("s_{z}.tif"))).unwrap();
        let px: Vec<u8> = (0..256)
            .map(|i| if (i + z) % 3 == 0 { 0 } else { 1 })
            .collect();
        TiffEncoder::new(f)
            .unwrap()
            .write_image::<colortype::Gray8>(16, 16, &px)
            .unwrap();
    }
    let wf = |extra: &str, top: &str| {
        let p = d.path().join("wf.toml");
        std::fs::write(
            &p,
            format!(
                "output = \"out\"\n{top}\n[input]\npath = \"slices\"\nlabels = true\n{extra}\n[[steps]]\nkind = \"porosity\"\nphase = 0\n"
            ),
        )
        .unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_fibstack"))
            .args(["--quiet", "run", "--check", p.to_str().unwrap()])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = wf("", "");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("voxel size unknown") && err.contains("voxel_nm"),
        "{err}"
    );
    assert_eq!(wf("voxel_nm = [20.0, 10.0, 10.0]", "").0, Some(0));
    assert_eq!(wf("", "allow_uncalibrated = true").0, Some(0));
}
