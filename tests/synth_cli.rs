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

/// The SHA-256 of a folder as `find . -type f | sort | xargs sha256sum | sha256sum` prints it.
fn folder_digest(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut lines = String::new();
    let mut fs: Vec<(String, Vec<u8>)> = files(dir)
        .into_iter()
        .map(|(p, b)| (format!("./{}", p.replace('\\', "/")), b))
        .collect();
    fs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (p, b) in fs {
        lines.push_str(&format!("{}  {p}\n", hex(&Sha256::digest(&b))));
    }
    hex(&Sha256::digest(lines.as_bytes()))
}

/// Users' scripts keep working: each shorthand flag of `fibstack synth` (now declared as the spec
/// key it sets) gives byte for byte the output folder the flags gave when each had its own code
/// (digests recorded with that build, fibstack at commit a432df5).
#[test]
fn old_flags_give_the_same_volumes_as_before() {
    let cases: [(&str, &str); 10] = [
        ("--preset electrode --shape 8,24,24 --seed 5 --active-fraction 0.5 --median-radius-nm 50 --radius-sigma 0.2 --aspect 1.3 --binder-fraction 0.05 --levels 0.1,0.6,0.4 --bit-depth 16 --tilt-deg 50 --no-foreshorten --drift-step-px 0.5 --drift-jumps 0.1,2 --curtain-amplitude 0.03 --curtain-angle-deg 3 --curtain-second-angle-deg -4 --curtain-model additive --shine-model geometric --noise-sigma 0.02 --counts 500 --fiducial-cap-nm 200 --no-shading --compression lzw --no-previews",
         "5c585e0e633b5e6f052a7b7615160487fae2db638294db32bf982a99d5fcbafe"),
        ("--preset li-deposit --shape 8,32,24 --seed 2 --packing 0.3 --thickness-nm 300 --grain-spacing-nm 120 --voxel 20,_,15 --no-face-shift --no-curtain --no-shine --no-noise --no-drift",
         "4d5f75287509b1b27fe1de1a50b55973b8d871efa41f3fca776137dbd37d7848"),
        ("--preset li-deposit --pressure-kpa 140 --shape 6,24,24 --clean --levels 0.2,0.8 --fiducial --compression deflate",
         "9cdf654ab3ffa99a8505a130a3a5a6d33de89959f06ac0822f6a14b488bcd9fa"),
        ("--preset channels --channel-axis x --channel-size 3,9 --shape 6,18,18 --no-tilt --tilt-deg 40",
         "91fdf963338d4d347b352b6f9b6a8329a038507bf42d481c01a29699394274b0"),
        ("--preset spheres --radii-nm 60,90 --shape 10,20,30 --voxel 10,10,10 --clean --no-previews",
         "605bb3049f5ce65dd3ee73f5122f52cbc7181e80257c7e31bca620c65bef4596"),
        ("--preset sphere-lattice --lattice-nm 80,200 --shape 8,16,16 --compression packbits",
         "018be8a01c8036ddd6628ba46e2a4dda38364ead689b1e9b91f9194576ae04ac"),
        ("--preset inclined-plane --plane-angle-deg 30 --plane-axis z --shape 8,16,16 --tilt-deg 45 --no-face-shift",
         "54f07673930abae04565de436a3f79fccab6f386b850fbcc09a1a4cb0a693e3b"),
        ("--preset staircase --staircase-n 6 --structure-only",
         "d1cb72d9059ceee4e39f10bf4a917145406b1fede1813b88d36f6e8a486b8e8f"),
        ("--preset pressure-series --pressures 0,140 --shape 6,24,24 --seed 3",
         "3b543adaa061e5cc718b8c69a165d20338bdf2350409b9d982d1958c2e93217d"),
        ("--params PARAMS --seed 9 --bit-depth 8 --no-tilt",
         "0deccb718cfad67ba38a989b17b2504cec8bf642930589a0a416909041d93ddd"),
    ];
    let d = tempfile::tempdir().unwrap();
    let params = d.path().join("p.toml");
    std::fs::write(
        &params,
        "preset = \"channels\"\nshape = [6, 24, 24]\nseed = 2\n[analytic]\nchannel_axis = 2\n[acquisition]\nbit_depth = 16\n[acquisition.curtain]\nsecond_angle_deg = 5.0\n",
    )
    .unwrap();
    for (i, (args, want)) in cases.iter().enumerate() {
        let out = d.path().join(format!("out_{i}"));
        let mut v = vec!["--quiet", "synth", out.to_str().unwrap()];
        v.extend(args.split_whitespace().map(|a| {
            if a == "PARAMS" {
                params.to_str().unwrap()
            } else {
                a
            }
        }));
        ok(&fib(&v));
        assert_eq!(&folder_digest(&out), want, "{args}");
    }
}

/// `--set KEY=VALUE` reaches every key of the spec, including those without a shorthand flag,
/// and is the same as the flag where one exists.
#[test]
fn set_keys_are_the_spec_keys() {
    let d = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = d.path().join(name);
        let mut v = vec![
            "--quiet",
            "synth",
            out.to_str().unwrap(),
            "--preset",
            "channels",
            "--shape",
            "6,16,16",
        ];
        v.extend_from_slice(extra);
        ok(&fib(&v));
        files(&out)
    };
    let a = run("a", &["--noise-sigma", "0.03", "--no-tilt"]);
    let b = run(
        "b",
        &[
            "--set",
            "acquisition.noise.gaussian_sigma=0.03",
            "--no-tilt",
        ],
    );
    assert_eq!(a, b);
    let c = run("c", &["--set", "acquisition.shading.gradient_x=0.2"]);
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("c/truth.json")).unwrap()).unwrap();
    assert_eq!(t["acquisition"]["params"]["shading"]["gradient_x"], 0.2);
    assert_ne!(c, run("c0", &[]));
    let o = fib(&[
        "synth",
        d.path().join("x").to_str().unwrap(),
        "--preset",
        "box",
        "--set",
        "acquisition.noise.sigma=1",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("acquisition.noise.sigma") && err.contains("gaussian_sigma"),
        "{err}"
    );
}
