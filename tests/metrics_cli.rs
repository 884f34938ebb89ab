//! `fibstack porosity` / `fibstack connectivity` and the workflow steps, through the real binary.

use fibstack::volume::{LabelVolume, VoxelSize, VoxelSource};
use ndarray::{s, Array3};
use std::path::Path;
use std::process::{Command, Output};

fn fib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

fn ok_json(out: &Output) -> serde_json::Value {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {err}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Solid (1) with two straight pore channels (0) along z, a collector (2) in the first 2 slices.
fn channels() -> Array3<u8> {
    let mut l = Array3::<u8>::ones((10, 8, 8));
    l.slice_mut(s![.., 2, 2]).fill(0);
    l.slice_mut(s![.., 5, 5]).fill(0);
    l.slice_mut(s![..2, .., ..]).fill(2);
    l
}

fn write(dir: &Path, name: &str, l: &Array3<u8>, voxel: VoxelSize) -> String {
    let p = dir.join(name);
    fibstack::io::write_labels(&p, &LabelVolume::new(l.clone(), voxel)).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn porosity_cli_json_and_csv() {
    let d = tempfile::tempdir().unwrap();
    let l = channels();
    let p = write(
        d.path(),
        "l.tif",
        &l,
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    );
    let prof = d.path().join("prof.csv");
    let rev = d.path().join("rev.csv");
    let out = fib(&[
        "porosity",
        &p,
        "--json",
        "--axis",
        "all",
        "--profile-csv",
        prof.to_str().unwrap(),
        "--rev-csv",
        rev.to_str().unwrap(),
        "--window",
        "20",
        "--collector",
        "2",
    ]);
    let j = ok_json(&out);
    assert_eq!(j["porosity"]["unit"], "1");
    let por = j["porosity"]["value"].as_f64().unwrap();
    assert!((por - 16.0 / 640.0).abs() < 1e-12);
    assert_eq!(j["voxel_size_nm"], serde_json::json!([20.0, 5.0, 5.0]));
    assert_eq!(j["length_unit"], "nm");
    assert!(j["method"].as_str().unwrap().contains("voxel counting"));
    assert_eq!(j["phases"]["phases"].as_array().unwrap().len(), 3);
    // deposit along z: the solid above the collector, 160 nm .. 200 nm... all 8 slices
    let dz = &j["deposits"][0];
    assert_eq!(dz["axis"], "z");
    assert_eq!(dz["deposit"]["bottom"], 40.0);
    assert_eq!(dz["deposit"]["top"], 200.0);
    assert!((dz["deposit"]["mean_porosity"].as_f64().unwrap() - 2.0 / 64.0).abs() < 1e-12);
    // windows 20 nm = 1 x 4 x 4 voxels: 10 x 2 x 2 windows
    assert_eq!(j["windows"]["stats"]["n"], 40);
    // one tidy profile table: a row per slice and phase for every axis (10 + 8 + 8 slices,
    // 3 phases), counts and fractions recomputed here from the volume itself
    let t = std::fs::read_to_string(&prof).unwrap();
    let mut lines = t.lines();
    assert_eq!(
        lines.next().unwrap(),
        "axis,index,position_nm,label,phase_name,voxels,fraction"
    );
    let rows: Vec<Vec<String>> = lines
        .map(|r| r.split(',').map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), (10 + 8 + 8) * 3);
    for r in &rows {
        let (axis, i, label) = (
            r[0].as_str(),
            r[1].parse::<usize>().unwrap(),
            r[3].parse::<u8>().unwrap(),
        );
        let (n, per, d) = match axis {
            "z" => (
                l.index_axis(ndarray::Axis(0), i)
                    .iter()
                    .filter(|&&v| v == label)
                    .count(),
                64,
                20.0,
            ),
            "y" => (
                l.index_axis(ndarray::Axis(1), i)
                    .iter()
                    .filter(|&&v| v == label)
                    .count(),
                80,
                5.0,
            ),
            _ => (
                l.index_axis(ndarray::Axis(2), i)
                    .iter()
                    .filter(|&&v| v == label)
                    .count(),
                80,
                5.0,
            ),
        };
        assert_eq!(r[2].parse::<f64>().unwrap(), (i as f64 + 0.5) * d, "{r:?}");
        assert_eq!(r[5].parse::<usize>().unwrap(), n, "{r:?}");
        assert!(
            (r[6].parse::<f64>().unwrap() - n as f64 / per as f64).abs() < 1e-12,
            "{r:?}"
        );
    }
    let t = std::fs::read_to_string(&rev).unwrap();
    assert!(t.starts_with("edge_nm,"));
    // human output works too
    let out = fib(&["porosity", &p, "--phase", "1", "--axis", "z"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("porosity"));
}

#[test]
fn uncalibrated_input_gives_voxel_units_with_a_note() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "l.npy", &channels(), VoxelSize::default());
    // refused unless the user says so (lengths would be in voxels)
    let out = fib(&["porosity", &p, "--json", "-q", "--rev-sizes", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-uncalibrated"));
    let j = ok_json(&fib(&[
        "porosity",
        &p,
        "--json",
        "-q",
        "--rev-sizes",
        "0",
        "--allow-uncalibrated",
    ]));
    assert_eq!(j["length_unit"], "voxel");
    assert_eq!(j["voxel_calibrated"], false);
    assert!(j["note"].as_str().unwrap().contains("not calibrated"));
    assert!(j["rev_curve"].is_null());
    let j = ok_json(&fib(&[
        "connectivity",
        &p,
        "--json",
        "-q",
        "--allow-uncalibrated",
    ]));
    assert_eq!(j["euler"]["connectivity_density_unit"], "voxel^-3");
    assert!(j["note"].as_str().unwrap().contains("not calibrated"));
}

#[test]
fn connectivity_cli_json_and_graph_csv() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "l.tif",
        &channels(),
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    );
    let gd = d.path().join("graph");
    let j = ok_json(&fib(&[
        "connectivity",
        &p,
        "--json",
        "--connectivity",
        "26",
        "--graph-dir",
        gd.to_str().unwrap(),
    ]));
    assert_eq!(j["connectivity"], 26);
    assert_eq!(j["n_components"], 2);
    assert_eq!(j["voxel_size_nm"], serde_json::json!([20.0, 5.0, 5.0]));
    // channels start above the collector: dead-end along z (touch only the top face)
    let z = &j["axes"][0];
    assert_eq!(z["axis"], "z");
    assert_eq!(z["percolates"], false);
    assert_eq!(z["dead_end_fraction"], 1.0);
    assert_eq!(j["axes"][1]["isolated_fraction"], 1.0);
    assert_eq!(j["euler"]["euler_characteristic"], 2);
    assert_eq!(j["euler"]["connectivity_density_unit"], "um^-3");
    assert_eq!(j["graph"]["n_regions"], 2);
    assert_eq!(j["graph"]["area_unit"], "nm^2");
    for f in ["nodes.csv", "edges.csv", "phase_contacts.csv"] {
        assert!(gd.join(f).exists(), "{f} missing");
    }
    let n = std::fs::read_to_string(gd.join("nodes.csv")).unwrap();
    assert!(n.starts_with("region,voxels,volume_nm3,centroid_z_nm"));
    assert_eq!(n.lines().count(), 3);
    let c = std::fs::read_to_string(gd.join("phase_contacts.csv")).unwrap();
    assert!(c.starts_with(
        "phase_a,phase_b,n_faces,faces_z,faces_y,faces_x,area_nm2,specific_area_per_um"
    ));
    // bad parameters are clear errors, not panics
    for args in [
        vec!["connectivity", p.as_str(), "--connectivity", "8"],
        vec!["connectivity", p.as_str(), "--axis", "w"],
        vec!["porosity", p.as_str(), "--window", "-3"],
        vec!["porosity", p.as_str(), "--collector", "0"],
    ] {
        let out = fib(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && out.status.code() != Some(101),
            "{args:?}: {err}"
        );
        assert!(err.contains("error:") && !err.contains("panicked"), "{err}");
    }
}

#[test]
fn workflow_steps_write_csvs_and_results() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "l.tif",
        &channels(),
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    );
    let wf = d.path().join("wf.toml");
    std::fs::write(
        &wf,
        r#"
output = "out"
[input]
path = "l.tif"
labels = true

[[steps]]
kind = "porosity"
phase = 0
axis = "z"
window_nm = 20.0
collector = 2

[[steps]]
kind = "connectivity"
connectivity = 6
graph = true
"#,
    )
    .unwrap();
    let j = ok_json(&fib(&["run", wf.to_str().unwrap(), "--json", "-q"]));
    let por = &j["porosity"];
    assert!((por["porosity"]["value"].as_f64().unwrap() - 0.025).abs() < 1e-12);
    assert_eq!(j["connectivity"]["graph"]["n_regions"], 2);
    let out = d.path().join("out");
    for f in [
        "porosity_profile.csv",
        "porosity_rev.csv",
        "porosity_windows.csv",
        "nodes.csv",
        "edges.csv",
        "phase_contacts.csv",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    // unknown keys and bad values are rejected before any work
    std::fs::write(
        &wf,
        "output = \"out2\"\n[input]\npath = \"l.tif\"\nlabels = true\n[[steps]]\nkind = \"connectivity\"\nconnectivity = 7\n",
    )
    .unwrap();
    let o = fib(&["run", wf.to_str().unwrap(), "-q"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("connectivity"));
    assert!(!d.path().join("out2").join("nodes.csv").exists());
}
