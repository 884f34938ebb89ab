//! `fibstack run` streams a workflow whose whole volume does not fit the memory budget: the same
//! workflow on the same folder of slices, run with a small `--max-memory` (streamed) and with the
//! default budget (in memory), gives the same `results.json` (timings aside) and byte-identical
//! label files; a workflow that cannot stream is refused before any work, naming the step.

use fibstack::io::write_volume;
use fibstack::volume::{GreyVolume, VoxelSize, VoxelSource};
use ndarray::Array3;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, wf: &str, out: &str, budget: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fibstack"));
    // the streamed estimate counts slabs of 2 × threads slices: pin the threads so the small
    // budget below is between the streamed and the whole-volume estimates
    c.env("RAYON_NUM_THREADS", "2")
        .current_dir(dir)
        .args(["-q", "run", wf, "--out", out]);
    if let Some(b) = budget {
        c.args(["--max-memory", b]);
    }
    c.output().unwrap()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// 48 × 40 × 44 u16 slices: round pores drifting slowly, vertical curtains, a little texture.
fn stack() -> GreyVolume {
    let a = Array3::from_shape_fn((48, 40, 44), |(z, y, x)| {
        let yy = y as f64 - 20.0 - 0.08 * z as f64;
        let xx = x as f64 - 22.0 + 0.05 * z as f64;
        let r1 = (yy * yy + xx * xx).sqrt();
        let r2 = ((yy - 9.0).powi(2) + (xx + 12.0).powi(2)).sqrt();
        let pore = r1 < 8.0 + (x % 5) as f64 || r2 < 4.0 + (z % 3) as f64;
        let curtain = if x % 9 == 2 { 900.0 } else { 0.0 };
        ((if pore { 9000.0 } else { 30000.0 })
            + curtain
            + ((x * 7 + y * 13 + z * 3) % 50) as f64 * 20.0) as u16
    });
    GreyVolume::from_u16(
        a,
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    )
}

const STEPS: &str = r#"
output = "out"
[input]
path = "slices"
voxel_nm = [20.0, 5.0, 5.0]

[[steps]]
kind = "align"

[[steps]]
kind = "geometry"
shear_px_per_slice = 0.1

[[steps]]
kind = "destripe"
method = "wedge"

[[steps]]
kind = "denoise"
sigma = 6.0

[[steps]]
kind = "tophat"
radius_nm = 60.0
black = true

[[steps]]
kind = "segment"
method = "otsu"

[[steps]]
kind = "convert"
what = "labels"
path = "labels.tif"

[[steps]]
kind = "porosity"

[[steps]]
kind = "connectivity"

[[steps]]
kind = "tortuosity"
method = "rw"
phase = 0
axis = "z"
walkers = 400
steps = 400
seed = 3
"#;

/// `results.json` without wall-clock times, with paths relative to the output folder.
fn results(dir: &Path) -> Value {
    fn strip(v: &mut Value, dir: &str) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| k != "time_s" && !k.ends_with("seconds"));
                m.values_mut().for_each(|x| strip(x, dir));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| strip(x, dir)),
            Value::String(t) => *t = t.replace(dir, "OUT"),
            _ => {}
        }
    }
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    strip(&mut v, &dir.display().to_string());
    v
}

/// Where two JSON values first differ (a JSON pointer and both values), if they do.
fn first_diff(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let kx: Vec<_> = x.keys().collect();
            let ky: Vec<_> = y.keys().collect();
            if kx != ky {
                return Some(format!("{at}: keys {kx:?} vs {ky:?}"));
            }
            x.iter()
                .find_map(|(k, v)| first_diff(v, &y[k], &format!("{at}/{k}")))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_diff(p, q, &format!("{at}/{i}"))),
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

fn provenance(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("provenance.json")).unwrap()).unwrap()
}

#[test]
fn streamed_run_equals_the_in_memory_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_volume(&d.join("slices"), &stack()).unwrap();
    std::fs::write(d.join("w.toml"), STEPS).unwrap();
    // whole volume: 84480 voxels × (2 + 4 + 1) B ≈ 0.00055 GiB; streamed ≈ 0.00017 GiB
    ok(&run(d, "w.toml", "mem", None));
    let check = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .env("RAYON_NUM_THREADS", "2")
        .current_dir(d)
        .args(["run", "--check", "w.toml", "--max-memory", "0.0005"])
        .output()
        .unwrap();
    ok(&check);
    let e = String::from_utf8_lossy(&check.stderr);
    assert!(
        e.contains("streamed: ") && e.contains("the first 6 steps stream"),
        "{e}"
    );
    ok(&run(d, "w.toml", "str", Some("0.0005")));
    let (pm, ps) = (provenance(&d.join("mem")), provenance(&d.join("str")));
    assert_eq!(pm["execution"]["mode"], "in_memory", "{}", pm["execution"]);
    assert_eq!(ps["execution"]["mode"], "streamed", "{}", ps["execution"]);
    assert_eq!(ps["execution"]["streamed_steps"], 6);
    assert_eq!(pm["input_shape"], ps["input_shape"]);
    assert_eq!(pm["voxel_size_nm"], ps["voxel_size_nm"]);
    assert_eq!(pm["inputs"], ps["inputs"]);
    let names = |p: &Value| -> Vec<Value> {
        p["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].clone())
            .collect()
    };
    assert_eq!(names(&pm), names(&ps));
    let (rm, rs) = (results(&d.join("mem")), results(&d.join("str")));
    let keys: Vec<&String> = rm.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "align",
            "connectivity",
            "denoise",
            "destripe",
            "geometry",
            "porosity",
            "segment",
            "tophat",
            "tortuosity"
        ]
    );
    assert_eq!(first_diff(&rm, &rs, ""), None);
    assert_eq!(rm, rs);
    // the labels have both phases (the comparison is not of two empty volumes)
    let f = rm["segment"]["phase_fractions"].as_array().unwrap();
    assert!(f.iter().all(|x| x.as_f64().unwrap() > 0.05), "{f:?}");
    for file in [
        "labels.tif",
        "alignment_shifts.csv",
        "porosity_profile.csv",
        "phase_contacts.csv",
    ] {
        let a = std::fs::read(d.join("mem").join(file)).unwrap();
        let b = std::fs::read(d.join("str").join(file)).unwrap();
        assert!(a == b, "{file} differs");
    }
    // the labels hold both phases (the grey chain changed the values: f32 after denoise)
    let l =
        fibstack::io::read_volume(&d.join("str").join("labels.tif"), &Default::default()).unwrap();
    assert_eq!([l.shape()[0], l.shape()[2]], [48, 42]);
    assert_eq!(rm["segment"]["sample_type"], "f32");
    // no scratch file is left behind
    assert!(!d.join("str").join(".streamed_grey.tif").exists());
}

#[test]
fn an_unstreamable_workflow_over_budget_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_volume(&d.join("slices"), &stack()).unwrap();
    let text = STEPS.replace("sigma = 6.0", "sigma = 6.0\ndims = \"3d\"");
    std::fs::write(d.join("w3.toml"), text).unwrap();
    let o = run(d, "w3.toml", "out3", Some("0.0005"));
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    for want in [
        "step denoise",
        "more than the memory budget of 0.51 MiB",
        "cannot run slab by slab (a 3-D Gaussian)",
        "--max-memory",
        "dims = \"2d\"",
    ] {
        assert!(e.contains(want), "missing {want:?} in: {e}");
    }
    assert!(!d.join("out3").exists(), "nothing is written");
    // `run --check` makes the same plan
    let mut c = Command::new(env!("CARGO_BIN_EXE_fibstack"));
    let o = c
        .env("RAYON_NUM_THREADS", "2")
        .current_dir(d)
        .args(["run", "--check", "w3.toml", "--max-memory", "0.0005"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("step denoise"));
    // with the budget raised it runs (in memory)
    ok(&run(d, "w3.toml", "out3", Some("1")));
    assert_eq!(
        provenance(&d.join("out3"))["execution"]["mode"],
        "in_memory"
    );
}
