//! `fibstack align` / `fibstack geometry` and the workflow steps, through the real binary.

use fibstack::rng::Rng;
use fibstack::volume::{GreyVolume, VoxelSize, VoxelSource};
use ndarray::Array3;
use std::path::Path;
use std::process::{Command, Output};

fn fib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

fn blobs(seed: u64) -> Vec<(f64, f64, f64)> {
    let mut r = Rng::stream(seed, 0);
    (0..500)
        .map(|_| {
            (
                r.uniform() * 140.0 - 10.0,
                r.uniform() * 140.0 - 10.0,
                2.0 + 3.0 * r.uniform(),
            )
        })
        .collect()
}

/// u8 slice of the blob field with the content moved by (dy, dx).
fn slice(b: &[(f64, f64, f64)], n: usize, dy: f64, dx: f64) -> ndarray::Array2<u8> {
    ndarray::Array2::from_shape_fn((n, n), |(y, x)| {
        let (yy, xx) = (y as f64 - dy, x as f64 - dx);
        let mut s = 0.0;
        for &(by, bx, r) in b {
            let d2 = (yy - by).powi(2) + (xx - bx).powi(2);
            if d2 < 16.0 * r * r {
                s += (-d2 / (2.0 * r * r)).exp();
            }
        }
        (40.0 + 120.0 * s.min(1.5)).round() as u8
    })
}

/// Folder of single-page TIFFs `s_1.tif … s_N.tif` (natural order) with a known drift.
fn drift_folder(dir: &Path, drift: &[[f64; 2]]) {
    std::fs::create_dir_all(dir).unwrap();
    let b = blobs(3);
    for (k, d) in drift.iter().enumerate() {
        let s = slice(&b, 96, d[0], d[1]);
        let v = GreyVolume::from_u8(
            s.insert_axis(ndarray::Axis(0)),
            VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
        );
        fibstack::io::tiff::write_tiff(
            &dir.join(format!("s_{}.tif", k + 1)),
            &v,
            &Default::default(),
        )
        .unwrap();
    }
}

fn drift() -> Vec<[f64; 2]> {
    let mut r = Rng::stream(9, 1);
    let mut d = vec![[0.0, 0.0]];
    for _ in 1..12 {
        let l = *d.last().unwrap();
        d.push([l[0] + 1.2 * r.normal(), l[1] + 1.2 * r.normal()]);
    }
    d
}

#[test]
fn align_folder_with_defaults_and_json() {
    let tmp = tempfile::TempDir::new().unwrap();
    let input = tmp.path().join("slices");
    let d = drift();
    drift_folder(&input, &d);
    let out = tmp.path().join("out").join("aligned.tif");
    // defaults (human output)
    let o = fib(&[
        "align",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("aligned 12 slices"), "{text}");
    let csv = tmp.path().join("out").join("alignment_shifts.csv");
    let png = tmp.path().join("out").join("alignment_drift.png");
    assert!(csv.exists() && png.exists());
    let rows: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(rows.len(), 13);
    assert!(rows[0].starts_with("slice,dy_px,dx_px,cum_dy_px,cum_dx_px,quality,flagged"));
    // the u8 rounding of the slices limits accuracy a little; truth within 0.1 px RMS
    let mut s = 0.0;
    for (k, row) in rows[1..].iter().enumerate() {
        let f: Vec<&str> = row.split(',').collect();
        let cy: f64 = f[3].parse().unwrap();
        let cx: f64 = f[4].parse().unwrap();
        s += (cy + d[k][0]).powi(2) + (cx + d[k][1]).powi(2);
    }
    let rms = (s / 24.0).sqrt();
    eprintln!("CLI align on a folder of u8 slices: RMS error {rms:.4} px");
    assert!(rms < 0.1, "{rms}");
    let aligned = fibstack::io::read_volume(&out, &Default::default()).unwrap();
    assert_eq!(aligned.sample_type(), fibstack::SampleType::U8);
    assert_eq!(aligned.voxel.nm, [20.0, 5.0, 5.0]);

    // JSON mode: only JSON on stdout, with the implied slice thickness (pixel size known)
    let out2 = tmp.path().join("aligned2.npy");
    let o = fib(&[
        "align",
        input.to_str().unwrap(),
        out2.to_str().unwrap(),
        "--mode",
        "template",
        "--pad",
        "--json",
        "--plot",
        tmp.path().join("drift.svg").to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("only JSON on stdout");
    assert_eq!(j["input_shape"], serde_json::json!([12, 96, 96]));
    assert_eq!(j["output_shape"], serde_json::json!([12, 96, 96]));
    assert_eq!(j["params"]["mode"], "template");
    assert_eq!(j["slices"].as_array().unwrap().len(), 12);
    assert!(j["implied_slice_thickness"]["slice_thickness_nm"].is_number());
    assert!(tmp.path().join("drift.svg").exists());
}

#[test]
fn bad_parameters_fail_cleanly() {
    let tmp = tempfile::TempDir::new().unwrap();
    let input = tmp.path().join("slices");
    drift_folder(&input, &[[0.0, 0.0], [1.0, 0.5], [0.5, 0.5]]);
    let o = tmp.path().join("o.tif");
    let (i, o) = (input.to_str().unwrap(), o.to_str().unwrap());
    for (args, needle) in [
        (vec!["align", i, o, "--roi", "90,0,20,20"], "roi"),
        (vec!["align", i, o, "--upsample", "0"], "upsample"),
        (vec!["align", i, o, "--bandpass", "5,2"], "bandpass"),
        (vec!["geometry", i, o, "--theta", "90"], "theta"),
        (vec!["geometry", i, o, "--theta", "0"], "theta"),
        (vec!["geometry", i, o, "--slice-thickness=-3"], "slice"),
    ] {
        let out = fib(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains("error:") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    assert!(
        !tmp.path().join("o.tif").exists(),
        "nothing written on error"
    );
}

#[test]
fn geometry_command_stretches_and_shears() {
    let tmp = tempfile::TempDir::new().unwrap();
    let input = tmp.path().join("v.tif");
    let v = GreyVolume::from_u8(
        Array3::from_shape_fn((6, 50, 10), |(_, y, _)| (y * 4) as u8),
        VoxelSize::new([10.0, 8.0, 8.0], VoxelSource::CommandLine),
    );
    fibstack::io::tiff::write_tiff(&input, &v, &Default::default()).unwrap();
    let out = tmp.path().join("g.tif");
    let o = fib(&[
        "geometry",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        "--voxel",
        "10,8,8",
        "--json",
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = 10.0 * 52f64.to_radians().cos() / 8.0;
    assert!((j["shear_raw_px_per_slice"].as_f64().unwrap() - c).abs() < 1e-9);
    assert_eq!(j["slice_thickness_source"], "voxel dz (command line)");
    let g = fibstack::io::read_volume(&out, &Default::default()).unwrap();
    assert_eq!(g.voxel.nm, [10.0, 8.0, 8.0]);
    // rows: (49 - 5c) raw rows of common region, × 1/sin θ
    let rows = ((49.0 - 5.0 * c) / 52f64.to_radians().sin()).floor() as usize + 1;
    assert_eq!(g.shape(), [6, rows, 10]);
    // --no-stretch --no-shear is the identity
    let o = fib(&[
        "geometry",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        "--no-stretch",
        "--no-shear",
        "-q",
    ]);
    assert!(o.status.success());
    let g = fibstack::io::read_volume(&out, &Default::default()).unwrap();
    assert_eq!(g.data, v.data);
}

#[test]
fn workflow_align_then_geometry() {
    let tmp = tempfile::TempDir::new().unwrap();
    let input = tmp.path().join("slices");
    drift_folder(&input, &drift());
    let wf = tmp.path().join("wf.toml");
    std::fs::write(
        &wf,
        r#"output = "run"
[input]
path = "slices"
voxel_nm = [20.0, 5.0, 5.0]

[[steps]]
kind = "align"
mode = "detrend"
detrend = "smooth"
smooth_window = 5

[[steps]]
kind = "geometry"
theta_deg = 52.0
shear = false

[[steps]]
kind = "convert"
path = "out.tif"
"#,
    )
    .unwrap();
    let o = fib(&["run", wf.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = tmp.path().join("run");
    assert!(run.join("alignment_shifts.csv").exists());
    assert!(run.join("alignment_drift.png").exists());
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let text = res.to_string();
    assert!(text.contains("\"detrend\":\"smooth\""), "{text}");
    assert!(text.contains("\"voxel_size_nm\":[20.0,5.0,5.0]"), "{text}");
    let g = fibstack::io::read_volume(&run.join("out.tif"), &Default::default()).unwrap();
    assert_eq!(g.voxel.nm[1], 5.0);
    assert!(g.shape()[1] > 96, "stretched rows: {:?}", g.shape());

    // unknown key -> validation error before any work
    std::fs::write(&wf, "output = \"run2\"\n[input]\npath = \"slices\"\n[[steps]]\nkind = \"align\"\nupsampel = 10\n").unwrap();
    let o = fib(&["run", wf.to_str().unwrap(), "-q"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("upsample"));
    assert!(!tmp
        .path()
        .join("run2")
        .join("alignment_shifts.csv")
        .exists());
}
