//! End-to-end: the streaming CLI paths (folder / TIFF input) give the same files as the in-memory
//! path (same command on an .npy copy, which is read whole); `synth-stream` + `pipeline --json`.

use fibstack::io::{read_volume, write_volume, ReadOptions};
use fibstack::volume::{GreyVolume, VoxelSize, VoxelSource};
use ndarray::Array3;
use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn stack() -> GreyVolume {
    let a = Array3::from_shape_fn((9, 40, 44), |(z, y, x)| {
        let yy = y as f64 - 20.0 - 0.6 * z as f64;
        let xx = x as f64 - 22.0 + 0.4 * z as f64;
        let pore = (yy * yy + xx * xx).sqrt() < 9.0 + (x % 5) as f64;
        let curtain = if x % 9 == 2 { 900.0 } else { 0.0 };
        ((if pore { 9000.0 } else { 30000.0 }) + curtain + ((x * 7 + y * 13 + z * 3) % 50) as f64)
            as u16
    });
    GreyVolume::from_u16(
        a,
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    )
}

fn back(p: &Path) -> GreyVolume {
    read_volume(p, &ReadOptions::default()).unwrap()
}

#[test]
fn streamed_commands_equal_the_in_memory_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = stack();
    let folder = d.join("slices");
    write_volume(&folder, &v).unwrap();
    let npy = d.join("stack.npy");
    write_volume(&npy, &v).unwrap();
    let vox = ["--voxel", "20,5,5"];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("destripe", vec![]),
        ("destripe", vec!["--method", "stack", "--stack-window", "2"]),
        ("denoise", vec!["--sigma", "6"]),
        ("tophat", vec!["--radius-nm", "20"]),
        ("segment", vec!["--method", "otsu"]),
        ("align", vec![]),
        ("align", vec!["--interpolation", "nearest"]),
        ("geometry", vec![]),
    ];
    for (cmd, extra) in cases {
        let a = d.join(format!("{cmd}_stream.tif"));
        let b = d.join(format!("{cmd}_memory.tif"));
        for (inp, out) in [(&folder, &a), (&npy, &b)] {
            run_ok(
                bin()
                    .arg("-q")
                    .arg(cmd)
                    .arg(inp)
                    .arg(out)
                    .args(vox)
                    .args(&extra)
                    .current_dir(d),
            );
        }
        let (x, y) = (back(&a), back(&b));
        assert_eq!(x.data, y.data, "{cmd}");
        assert_eq!(x.voxel.nm, y.voxel.nm, "{cmd}");
    }
}

#[test]
fn synth_stream_then_pipeline_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(bin().args(["-q", "synth-stream"]).arg(d.join("syn")).args([
        "--shape",
        "12,96,96",
        "--radius-nm",
        "150",
        "--truth",
    ]));
    let truth = back(&d.join("syn/truth"));
    assert_eq!(truth.data.shape(), [12, 96, 96]);
    let out = run_ok(
        bin()
            .args(["-q", "pipeline"])
            .arg(d.join("syn/slices"))
            .args(["--destripe", "--sigma", "10", "--threshold", "otsu"])
            .args([
                "--rw-axes",
                "z,x",
                "--rw-walkers",
                "400",
                "--rw-steps",
                "512",
                "--json",
            ]),
    );
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let phi = j["porosity"].as_f64().unwrap();
    // the noisy acquisition thresholded after smoothing is close to the truth's pore fraction
    let truth_phi = match &truth.data {
        fibstack::volume::GreyData::U8(a) => {
            a.iter().filter(|&&v| v == 0).count() as f64 / a.len() as f64
        }
        _ => unreachable!(),
    };
    assert!((phi - truth_phi).abs() < 0.03, "{phi} vs {truth_phi}");
    assert_eq!(j["voxel_size_nm"][0].as_f64(), Some(20.0));
    assert_eq!(j["length_unit"], "nm");
    assert_eq!(j["porosity_profile_z"].as_array().unwrap().len(), 12);
    assert_eq!(j["percolation"]["axes"].as_array().unwrap().len(), 3);
    assert_eq!(j["tortuosity"].as_array().unwrap().len(), 2);
}

/// `pipeline --recursive`: the recursive Gaussian in the streamed chain gives the porosity of the
/// exact kernel (the two filters differ by ≤ 3e-4 of the range) and says which filter ran.
#[test]
fn pipeline_recursive_gaussian_matches_exact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(bin().args(["-q", "synth-stream"]).arg(d.join("syn")).args([
        "--shape",
        "8,96,96",
        "--radius-nm",
        "150",
    ]));
    let run = |extra: &[&str]| -> serde_json::Value {
        let out = run_ok(
            bin()
                .args(["-q", "pipeline"])
                .arg(d.join("syn/slices"))
                .args(["--sigma", "60", "--threshold", "otsu", "--json"])
                .args(extra),
        );
        serde_json::from_str(&out).unwrap()
    };
    let exact = run(&[]);
    let rec = run(&["--recursive"]);
    let (pe, pr) = (
        exact["porosity"].as_f64().unwrap(),
        rec["porosity"].as_f64().unwrap(),
    );
    assert!((pe - pr).abs() < 2e-3, "exact {pe} vs recursive {pr}");
    let text = rec.to_string();
    assert!(text.contains("recursive, Deriche"), "{text}");
    assert!(!exact.to_string().contains("recursive"));
}
