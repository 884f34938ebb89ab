//! End-to-end: the real `fibstack` binary, `sizes` subcommand and workflow step `kind = "sizes"`.

use fibstack::volume::{LabelVolume, VoxelSize, VoxelSource};
use ndarray::Array3;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
}

/// Two separate balls (r = 6 voxels) of label 1 in label 0, voxel 10 x 5 x 5 nm written into the TIFF.
fn write_two_balls(path: &std::path::Path) {
    let a = Array3::from_shape_fn((16, 30, 60), |(z, y, x)| {
        let b = |cz: f64, cy: f64, cx: f64| {
            ((z as f64 - cz) * 10.0).powi(2)
                + ((y as f64 - cy) * 5.0).powi(2)
                + ((x as f64 - cx) * 5.0).powi(2)
                <= 30.0f64.powi(2)
        };
        (b(8.0, 15.0, 15.0) || b(8.0, 15.0, 44.0)) as u8
    });
    let l = LabelVolume::new(
        a,
        VoxelSize::new([10.0, 5.0, 5.0], VoxelSource::CommandLine),
    );
    fibstack::io::write_labels(path, &l).unwrap();
}

#[test]
fn sizes_json_and_csv_outputs() {
    let dir = tempfile::TempDir::new().unwrap();
    let input = dir.path().join("labels.tif");
    write_two_balls(&input);
    let pcsv = dir.path().join("particles.csv");
    let dcsv = dir.path().join("dist.csv");
    let map = dir.path().join("thickness.tif");
    let out = bin()
        .args(["sizes"])
        .arg(&input)
        .args([
            "--phase", "1", "--voxel", "10,5,5", "--bins", "20", "--json", "-q",
        ])
        .arg("--particles-csv")
        .arg(&pcsv)
        .arg("--distribution-csv")
        .arg(&dcsv)
        .arg("--thickness-map")
        .arg(&map)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(j["voxel_size_nm"], serde_json::json!([10.0, 5.0, 5.0]));
    assert_eq!(j["particles"]["count"], 2);
    let esd = j["particles"]["esd_mean_nm"].as_f64().unwrap();
    assert!((esd - 60.0).abs() < 10.0, "ESD {esd}");
    let lt = j["local_thickness"]["mean_nm"].as_f64().unwrap();
    assert!((lt - 60.0).abs() <= 10.0, "thickness {lt}");
    assert_eq!(
        j["local_thickness"]["distribution"]["volume_fraction"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(j["surface"]["method"], "crofton-13");
    assert!(
        j["surface"]["ssa_faces_per_m"].as_f64().unwrap()
            > j["surface"]["ssa_crofton_per_m"].as_f64().unwrap()
    );
    let p = std::fs::read_to_string(&pcsv).unwrap();
    assert!(p.starts_with("id,voxels,volume_nm3,esd_nm,"));
    assert_eq!(p.lines().count(), 3);
    let d = std::fs::read_to_string(&dcsv).unwrap();
    assert!(d.starts_with("bin_low_nm,bin_high_nm,volume_fraction,cumulative_fraction"));
    assert_eq!(d.lines().count(), 21);
    let m = fibstack::io::read_volume(&map, &Default::default()).unwrap();
    assert_eq!(m.shape(), [16, 30, 60]);
    assert_eq!(m.sample_type(), fibstack::volume::SampleType::F32);
}

#[test]
fn sizes_empty_phase_and_bad_flags_give_clear_results() {
    let dir = tempfile::TempDir::new().unwrap();
    let input = dir.path().join("labels.tif");
    write_two_balls(&input);
    // a phase absent from the volume: refused, naming the labels present
    let out = bin()
        .arg("sizes")
        .arg(&input)
        .args(["--phase", "9", "--json", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.starts_with("error:") && e.contains("phase 9 does not occur") && e.contains("0, 1"),
        "{e}"
    );
    // the library still answers an empty phase with nulls and a note (no NaN)
    let l = fibstack::io::read_labels(&input, &Default::default()).unwrap();
    let out = fibstack::metrics::sizes::sizes(&l, 9, &Default::default()).unwrap();
    let text = serde_json::to_string(&out.report).unwrap();
    assert!(!text.contains("NaN"));
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["particles"]["count"], 0);
    assert!(j["local_thickness"]["mean_nm"].is_null());
    assert!(j["notes"][0]
        .as_str()
        .unwrap()
        .contains("phase 9 has no voxels"));
    // bad parameters: non-zero exit, one-line error naming the value
    for args in [
        vec!["--bins", "0"],
        vec!["--connectivity", "18"],
        vec!["--min-separation", "-3"],
        vec!["--what", "surface", "--particles-csv", "x.csv"],
    ] {
        let out = bin()
            .arg("sizes")
            .arg(&input)
            .args(&args)
            .arg("-q")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.starts_with("error:"), "{args:?}: {e}");
    }
    // human output
    let out = bin()
        .arg("sizes")
        .arg(&input)
        .args(["--phase", "1", "--what", "surface", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("specific surface area"));
}

#[test]
fn workflow_step_sizes() {
    let dir = tempfile::TempDir::new().unwrap();
    let input = dir.path().join("labels.tif");
    write_two_balls(&input);
    let wf = dir.path().join("w.toml");
    std::fs::write(
        &wf,
        r#"output = "out"
[input]
path = "labels.tif"
labels = true
voxel_nm = [10.0, 5.0, 5.0]
[[steps]]
kind = "sizes"
phase = 1
what = "all"
bins = 10
particles_csv = "particles.csv"
distribution_csv = "thickness.csv"
"#,
    )
    .unwrap();
    let out = bin().arg("run").arg(&wf).arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/results.json")).unwrap(),
    )
    .unwrap();
    let text = res.to_string();
    assert!(text.contains("\"count\":2"), "{text}");
    assert!(dir.path().join("out/particles.csv").exists());
    assert!(dir.path().join("out/thickness.csv").exists());
    // unknown key and bad value are rejected before any work
    std::fs::write(&wf, "output = \"out2\"\n[input]\npath = \"labels.tif\"\nlabels = true\n[[steps]]\nkind = \"sizes\"\nbinz = 3\n").unwrap();
    let out = bin().arg("run").arg(&wf).arg("-q").output().unwrap();
    assert!(!out.status.success());
    std::fs::write(&wf, "output = \"out3\"\n[input]\npath = \"labels.tif\"\nlabels = true\n[[steps]]\nkind = \"sizes\"\nwhat = \"everything\"\n").unwrap();
    let out = bin().arg("run").arg(&wf).arg("-q").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("everything"));
}

#[test]
fn fast_thickness_flag_and_workflow_key_select_the_fast_mode() {
    let dir = tempfile::TempDir::new().unwrap();
    let input = dir.path().join("labels.tif");
    write_two_balls(&input);
    let method =
        |v: &serde_json::Value| v["local_thickness"]["method"].as_str().unwrap().to_string();
    let run = |fast: bool| {
        let mut c = bin();
        c.args(["sizes"]).arg(&input).args([
            "--phase",
            "1",
            "--voxel",
            "10,5,5",
            "--what",
            "local-thickness",
            "--json",
            "-q",
        ]);
        if fast {
            c.arg("--fast-thickness");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (exact, fast) = (run(false), run(true));
    assert_eq!(method(&exact), fibstack::metrics::local_thickness::METHOD);
    assert_eq!(
        method(&fast),
        fibstack::metrics::local_thickness::METHOD_FAST
    );
    // balls of diameter 60 nm, only 6 voxels across along z: the exact map is near 60 nm; the
    // coarse grid (3 coarse voxels across along z) reads low (measured 60.8 and 41.4 nm)
    let mean = |v: &serde_json::Value| v["local_thickness"]["mean_nm"].as_f64().unwrap();
    assert!(
        (mean(&exact) - 60.0).abs() < 6.0,
        "exact mean {}",
        mean(&exact)
    );
    assert!(
        mean(&fast) > 0.6 * mean(&exact) && mean(&fast) <= mean(&exact),
        "fast mean {}",
        mean(&fast)
    );
    let wf = dir.path().join("w.toml");
    std::fs::write(
        &wf,
        "output = \"out\"\n[input]\npath = \"labels.tif\"\nlabels = true\nvoxel_nm = [10.0, 5.0, 5.0]\n[[steps]]\nkind = \"sizes\"\nphase = 1\nwhat = \"local-thickness\"\nfast_thickness = true\n",
    )
    .unwrap();
    let out = bin().arg("run").arg(&wf).arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("out/results.json")).unwrap();
    assert!(text.contains("coarse grid"), "{text}");
}
