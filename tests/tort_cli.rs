//! End-to-end: the real `fibstack tortuosity` binary on label files in a temporary folder.

use fibstack::volume::{LabelVolume, VoxelSize, VoxelSource};
use ndarray::Array3;
use std::path::Path;
use std::process::Command;

fn fib(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

fn write(path: &Path, a: Array3<u8>, voxel: [f64; 3]) {
    let l = LabelVolume::new(a, VoxelSize::new(voxel, VoxelSource::CommandLine));
    fibstack::io::write_labels(path, &l).unwrap();
}

#[test]
fn both_methods_json_channels() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("channels.tif");
    // label 2 = straight channels along z, label 0 = solid
    let mut a = Array3::<u8>::zeros((12, 10, 10));
    for z in 0..12 {
        for y in 2..5 {
            for x in 4..7 {
                a[[z, y, x]] = 2;
            }
        }
    }
    write(&p, a, [1.0; 3]);
    let csv = dir.path().join("msd.csv");
    let png = dir.path().join("msd.png");
    let out = fib(&[
        "tortuosity",
        p.to_str().unwrap(),
        "--phase",
        "2",
        "--method",
        "both",
        "--axis",
        "all",
        "--walkers",
        "20000",
        "--steps",
        "256",
        "--seed",
        "5",
        "--voxel",
        "4,2,2",
        "--msd-csv",
        csv.to_str().unwrap(),
        "--msd-png",
        png.to_str().unwrap(),
        "--json",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(j["voxel_size_nm"], serde_json::json!([4.0, 2.0, 2.0]));
    let res = j["results"].as_array().unwrap();
    assert_eq!(res.len(), 6);
    for r in res {
        for key in [
            "method",
            "tortuosity_factor",
            "ci_low",
            "ci_high",
            "deff_over_d0",
            "macmullin",
            "porosity_total",
            "porosity_percolating",
            "voxel_size_nm",
            "iterations",
            "steps",
            "walkers",
            "converged",
            "time_s",
            "percolating",
        ] {
            assert!(r.get(key).is_some(), "missing {key} in {r}");
        }
        if r["axis"] == "z" {
            let t = r["tortuosity_factor"].as_f64().unwrap();
            assert!((t - 1.0).abs() < 0.05, "{r}");
            assert_eq!(r["percolating"], true);
        } else {
            assert!(r["tortuosity_factor"].is_null(), "{r}");
            assert_eq!(r["percolating"], false);
        }
    }
    let fd_z = res
        .iter()
        .find(|r| r["method"] == "steady_state_fd" && r["axis"] == "z")
        .unwrap();
    assert!((fd_z["tortuosity_factor"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    assert!((fd_z["porosity_total"].as_f64().unwrap() - 0.09).abs() < 1e-12);
    let cmp = j["comparison"].as_array().unwrap();
    assert_eq!(cmp.len(), 3);
    assert!(cmp[0]["relative_difference"].as_f64().unwrap().abs() < 0.05);
    assert!(cmp[1]["relative_difference"].is_null());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("step,msd_z_nm2"));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn fixed_layers_and_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("open.tif");
    write(&p, Array3::from_elem((6, 5, 5), 1u8), [1.0; 3]);
    let out = fib(&[
        "tortuosity",
        p.to_str().unwrap(),
        "--phase",
        "1",
        "--axis",
        "x",
        "--boundary",
        "fixed-layers",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("axis x: tau = 1.0000"), "{s}");
}

#[test]
fn bad_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("open.tif");
    write(&p, Array3::from_elem((4, 4, 4), 1u8), [1.0; 3]);
    let out = fib(&[
        "tortuosity",
        p.to_str().unwrap(),
        "--phase",
        "1",
        "--axis",
        "w",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("axis"));
    let out = fib(&[
        "tortuosity",
        p.to_str().unwrap(),
        "--phase",
        "1",
        "--method",
        "rw",
        "--precision",
        "0",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("precision"));
    let out = fib(&[
        "tortuosity",
        p.to_str().unwrap(),
        "--phase",
        "1",
        "--msd-csv",
        "x.csv",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--method rw"));
}

#[test]
fn workflow_step_tortuosity() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("l.tif"),
        Array3::from_elem((8, 6, 6), 1u8),
        [1.0; 3],
    );
    let w = dir.path().join("w.toml");
    std::fs::write(
        &w,
        "output = \"o\"\nseed = 4\n[input]\npath = \"l.tif\"\nlabels = true\n[[steps]]\nkind = \"tortuosity\"\nphase = 1\nmethod = \"both\"\naxis = \"z\"\nwalkers = 4000\nsteps = 512\nmsd_csv = \"msd.csv\"\nmsd_png = \"msd.png\"\n",
    )
    .unwrap();
    let out = fib(&["run", w.to_str().unwrap(), "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let o = dir.path().join("o");
    assert!(o.join("msd.csv").exists() && o.join("msd.png").exists());
    let found = std::fs::read_dir(&o)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .any(|s| s.contains("\"tortuosity_factor\"") && s.contains("steady_state_fd"));
    assert!(found, "results JSON with the tortuosity step");
    // a misspelt key is rejected up front with a suggestion
    std::fs::write(
        &w,
        "output = \"o2\"\n[input]\npath = \"l.tif\"\nlabels = true\n[[steps]]\nkind = \"tortuosity\"\nphase = 1\nwalker = 5\n",
    )
    .unwrap();
    let out = fib(&["run", w.to_str().unwrap(), "-q"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("walkers"));
}
