//! End-to-end: `fibstack synth` and the `synth` workflow step, run as the real binary.

use fibstack::io::{read_labels, read_volume, ReadOptions};
use std::path::Path;
use std::process::{Command, Output};

fn fib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "fibstack failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn synth_writes_a_readable_stack_whose_truth_matches_its_labels() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("e");
    ok(&fib(&[
        "synth",
        out.to_str().unwrap(),
        "--preset",
        "electrode",
        "--shape",
        "20,40,40",
        "--seed",
        "3",
        "-q",
    ]));
    for f in [
        "truth.json",
        "truth/labels.tif",
        "truth/clean.tif",
        "preview.png",
        "slices/slice_0001.tif",
        "slices/slice_0020.tif",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    // the stack reads back through io with the FEI pixel size and tilt
    let grey = read_volume(&out.join("slices"), &ReadOptions::default()).unwrap();
    let img_shape: Vec<usize> = truth["acquisition"]["image_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(grey.shape().to_vec(), img_shape);
    assert!((grey.voxel.dx() - 20.0).abs() < 1e-9 && (grey.voxel.dy() - 20.0).abs() < 1e-9);
    assert!((grey.meta.stage_tilt_deg.unwrap() - 52.0).abs() < 1e-9);
    assert_eq!(grey.meta.databar_rows, Some(0));
    // fractions in truth.json are the counts of truth/labels.tif
    let labels = read_labels(&out.join("truth/labels.tif"), &ReadOptions::default()).unwrap();
    assert_eq!(labels.shape(), [20, 40, 40]);
    let total = labels.data.len() as f64;
    for f in truth["phase_fractions"].as_array().unwrap() {
        let l = f["label"].as_u64().unwrap() as u8;
        assert_eq!(f["voxels"].as_u64().unwrap() as usize, labels.count(l));
        assert!((f["fraction"].as_f64().unwrap() - labels.count(l) as f64 / total).abs() < 1e-12);
    }
    assert_eq!(truth["structure"]["type"], "electrode");
    assert!(truth["structure"]["particles"].as_array().unwrap().len() > 3);
    // the library gives the same labels for the same spec
    let spec = fibstack::synth::SynthSpec {
        shape: Some([20, 40, 40]),
        seed: 3,
        render: false,
        ..Default::default()
    };
    assert_eq!(
        fibstack::synth::generate(&spec).unwrap().labels.data,
        labels.data
    );
}

#[test]
fn same_command_same_bytes_for_any_thread_count() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    let args = [
        "--preset",
        "li-deposit",
        "--packing",
        "0.3",
        "--shape",
        "8,32,32",
        "--seed",
        "9",
        "-q",
    ];
    let mut v = vec!["--threads", "1", "synth", a.to_str().unwrap()];
    v.extend(args);
    ok(&fib(&v));
    let mut v = vec!["--threads", "2", "synth", b.to_str().unwrap()];
    v.extend(args);
    ok(&fib(&v));
    let fa = files(&a);
    let fb = files(&b);
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(fb.iter()) {
        assert_eq!(x.0, y.0);
        assert!(x.1 == y.1, "{} differs", x.0);
    }
}

#[test]
fn pressure_series_writes_one_folder_per_pressure() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("ps");
    ok(&fib(&[
        "synth",
        out.to_str().unwrap(),
        "--preset",
        "pressure-series",
        "--pressures",
        "0,350",
        "--shape",
        "6,40,40",
        "--structure-only",
        "-q",
    ]));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("series.json")).unwrap()).unwrap();
    let series = s["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["folder"], "p000kPa");
    assert!(out.join("p350kPa/truth/labels.tif").exists());
    assert!(!out.join("p350kPa/slices").exists());
    assert!(
        series[1]["layer_porosity"].as_f64().unwrap()
            < series[0]["layer_porosity"].as_f64().unwrap()
    );
}

#[test]
fn labels_file_as_truth_and_clean_flag() {
    let d = tempfile::tempdir().unwrap();
    let lab = d.path().join("lab.tif");
    let v = fibstack::volume::LabelVolume::new(
        ndarray::Array3::from_shape_fn((4, 16, 24), |(_, j, i)| u8::from((i / 4 + j / 4) % 2 == 0)),
        fibstack::volume::VoxelSize::new(
            [10.0, 5.0, 5.0],
            fibstack::volume::VoxelSource::CommandLine,
        ),
    );
    fibstack::io::write_labels(&lab, &v).unwrap();
    let out = d.path().join("o");
    ok(&fib(&[
        "synth",
        out.to_str().unwrap(),
        "--labels",
        lab.to_str().unwrap(),
        "--clean",
        "--levels",
        "0.2,0.6",
        "-q",
    ]));
    let grey = read_volume(&out.join("slices"), &ReadOptions::default()).unwrap();
    let g = match grey.data {
        fibstack::volume::GreyData::U8(a) => a,
        _ => panic!("8-bit expected"),
    };
    for (x, l) in g.iter().zip(v.data.iter()) {
        assert_eq!(*x, if *l == 1 { 153 } else { 51 });
    }
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["structure"]["type"], "external");
    assert_eq!(truth["voxel_size_nm"][0].as_f64(), Some(10.0));
}

#[test]
fn bad_parameters_fail_with_the_parameter_named() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("x");
    let cases: [(&[&str], &str); 5] = [
        (&["--preset", "li-deposit", "--packing", "1.5"], "packing"),
        (
            &["--preset", "electrode", "--active-fraction", "0.99"],
            "active_fraction",
        ),
        (&["--preset", "electrod"], "preset"),
        (&["--preset", "box", "--bit-depth", "12"], "bit_depth"),
        (&["--preset", "box", "--shape", "4,4"], "--shape"),
    ];
    for (extra, word) in cases {
        let mut v = vec!["synth", out.to_str().unwrap()];
        v.extend_from_slice(extra);
        let o = fib(&v);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(word), "{extra:?}: {err}");
    }
    assert!(!out.join("truth.json").exists());
}

#[test]
fn workflow_synth_step_feeds_later_steps() {
    let d = tempfile::tempdir().unwrap();
    let w = d.path().join("w.toml");
    std::fs::write(
        &w,
        "output = \"o\"\nseed = 4\n[[steps]]\nkind = \"synth\"\npreset = \"sphere-lattice\"\nshape = [8, 32, 32]\nsave = \"synth\"\n[steps.acquisition]\nbit_depth = 16\n[steps.acquisition.drift]\nenabled = false\n[[steps]]\nkind = \"convert\"\npath = \"grey.tif\"\n",
    )
    .unwrap();
    ok(&fib(&["run", w.to_str().unwrap(), "-q"]));
    let o = d.path().join("o");
    let grey = read_volume(&o.join("grey.tif"), &ReadOptions::default()).unwrap();
    assert_eq!(grey.sample_type(), fibstack::volume::SampleType::U16);
    let saved = read_volume(&o.join("synth/slices"), &ReadOptions::default()).unwrap();
    assert_eq!(saved.data, grey.data);
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.join("synth/truth.json")).unwrap()).unwrap();
    assert_eq!(truth["seed"], 4);
    assert!(truth["acquisition"]["drift_px"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d[0] == 0.0 && d[1] == 0.0));
    // an unknown key is rejected before anything runs
    std::fs::write(
        &w,
        "output = \"o2\"\n[[steps]]\nkind = \"synth\"\npresett = \"box\"\n",
    )
    .unwrap();
    let r = fib(&["run", w.to_str().unwrap(), "-q"]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("presett"));
}

#[test]
fn params_file_sets_nested_keys_and_flags_override_it() {
    let d = tempfile::tempdir().unwrap();
    let params = d.path().join("p.toml");
    std::fs::write(
        &params,
        "preset = \"channels\"\nshape = [6, 24, 24]\nseed = 2\n[analytic]\nchannel_axis = 2\n[acquisition]\nbit_depth = 16\n[acquisition.curtain]\nsecond_angle_deg = 5.0\n",
    )
    .unwrap();
    let out = d.path().join("o");
    ok(&fib(&[
        "synth",
        out.to_str().unwrap(),
        "--params",
        params.to_str().unwrap(),
        "--seed",
        "5",
        "--no-noise",
        "-q",
    ]));
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    assert_eq!(t["preset"], "channels");
    assert_eq!(t["seed"], 5, "the flag overrides the file");
    assert_eq!(t["structure"]["axis"], 2);
    assert_eq!(t["acquisition"]["params"]["bit_depth"], 16);
    assert_eq!(t["acquisition"]["params"]["noise"]["enabled"], false);
    assert_eq!(t["acquisition"]["stripes"].as_array().unwrap().len(), 2);
    // an unknown key in the file is an error naming it
    std::fs::write(&params, "preset = \"box\"\n[acquisition]\nbitdepth = 8\n").unwrap();
    let o = fib(&[
        "synth",
        d.path().join("o2").to_str().unwrap(),
        "--params",
        params.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bitdepth"));
}

/// The synth step's `labels = "…"` is found next to the workflow file, not in the current folder.
#[test]
fn workflow_synth_labels_resolve_against_the_workflow_file() {
    let d = tempfile::tempdir().unwrap();
    let labels = fibstack::volume::LabelVolume::new(
        ndarray::Array3::from_shape_fn((4, 16, 16), |(_, y, _)| u8::from(y >= 8)),
        fibstack::volume::VoxelSize::new([20.0, 20.0, 20.0], fibstack::volume::VoxelSource::File),
    );
    fibstack::io::write_labels(&d.path().join("truth.tif"), &labels).unwrap();
    std::fs::write(
        d.path().join("w.toml"),
        "output = \"o\"\n[[steps]]\nkind = \"synth\"\nlabels = \"truth.tif\"\n[steps.acquisition]\nbit_depth = 8\n[[steps]]\nkind = \"porosity\"\nphase = 0\n",
    )
    .unwrap();
    // run from another folder: the CLI's working directory is the system temp dir's parent
    let out = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .current_dir(std::env::temp_dir())
        .args(["run", d.path().join("w.toml").to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("o/results.json")).unwrap()).unwrap();
    let por = res["porosity"]["porosity"]["value"].as_f64().unwrap();
    assert!(
        (por - 0.5).abs() < 1e-12,
        "porosity of the truth labels {por}"
    );
}
