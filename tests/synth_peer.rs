//! Checks against the Python stack (numpy, tifffile, scikit-image), from values stored by
//! `benches/compare/synth_peer_check.py` in `fixtures/peer/synth_peer_check.json`.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn load(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn numpy_and_tifffile_read_the_fixtures_as_truth_json_says() {
    let peer = load(&root().join("fixtures/peer/synth_peer_check.json"));
    let fx = peer["fixtures"].as_array().unwrap();
    assert!(
        fx.len() >= 8,
        "electrode, li-deposit, 5 pressures, staircase"
    );
    for f in fx {
        let dir = root().join(f["folder"].as_str().unwrap());
        let truth = load(&dir.join("truth.json"));
        // fractions counted by numpy == truth.json
        for pf in truth["phase_fractions"].as_array().unwrap() {
            let l = pf["label"].as_u64().unwrap().to_string();
            assert_eq!(f["numpy_voxels"][&l], pf["voxels"], "{dir:?} label {l}");
            let a = f["numpy_fractions"][&l].as_f64().unwrap();
            assert!((a - pf["fraction"].as_f64().unwrap()).abs() < 1e-15);
        }
        assert_eq!(f["labels_shape"], truth["labels_shape"]);
        // tifffile's FEI parser reads our metadata
        let acq = &truth["acquisition"];
        let shape = acq["image_shape"].as_array().unwrap();
        assert_eq!(f["slice_count"], shape[0]);
        assert_eq!(f["slice_shape"][0], shape[1]);
        assert_eq!(f["slice_shape"][1], shape[2]);
        let px = acq["image_voxel_nm"].as_array().unwrap();
        assert!(
            (f["fei_pixel_width_m"].as_f64().unwrap() - px[2].as_f64().unwrap() * 1e-9).abs()
                < 1e-18
        );
        assert!(
            (f["fei_pixel_height_m"].as_f64().unwrap() - px[1].as_f64().unwrap() * 1e-9).abs()
                < 1e-18
        );
        let tilt = acq["params"]["tilt"]["angle_deg"]
            .as_f64()
            .unwrap_or(0.0)
            .to_radians();
        assert!((f["fei_stage_t_rad"].as_f64().unwrap() - tilt).abs() < 1e-12);
        assert_eq!(f["fei_databar_height"], 0);
    }
    assert_eq!(peer["staircase_equals_taufactor_construction"], true);
}

#[test]
fn skimage_measures_the_recorded_drift() {
    let peer = load(&root().join("fixtures/peer/synth_peer_check.json"));
    let d = &peer["drift"];
    // the stored measurement: skimage's cross-correlation agrees with the recorded shifts
    let emax = d["max_abs_error_px"].as_f64().unwrap();
    eprintln!(
        "skimage vs recorded shift: max {emax:.4} px, rms {:.4} px (phase-normalised, unblurred: max {:.3})",
        d["rms_error_px"].as_f64().unwrap(),
        d["phase_normalized_unblurred_max_abs_error_px"].as_f64().unwrap()
    );
    assert!(emax < 0.03, "{emax}");
    // and today's binary records exactly the shifts that were measured
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let labels = root().join(d["labels"].as_str().unwrap());
    let args: Vec<String> = d["command_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(["-q", "synth"])
        .arg(&out)
        .arg("--labels")
        .arg(&labels)
        .args(&args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = load(&out.join("truth.json"));
    assert_eq!(
        t["acquisition"]["total_shift_px"],
        d["recorded_total_shift_px"]
    );
}
