//! `fibstack train` / `fibstack classify` end to end on a small clean simulated stack, and every
//! bad input of the classifier with its one-line error.

use std::path::Path;
use std::process::{Command, Output};

fn fib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fails with a one-line error containing every `needles`, without a panic.
fn fails(o: &Output, needles: &[&str]) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "should fail");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    for n in needles {
        assert!(e.contains(n), "{n:?} not in {e}");
    }
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

/// A clean electrode stack (face-on: the images are on the truth grid) and labels painted on
/// every 9th voxel (truth label + 1).
fn setup(d: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let s = d.join("s");
    ok(&fib(&[
        "synth",
        p(&s),
        "--preset",
        "electrode",
        "--shape",
        "18,40,40",
        "--clean",
        "--noise-sigma",
        "0.02",
        "--no-previews",
        "-q",
    ]));
    let truth =
        fibstack::io::read_labels(&s.join("truth/labels.tif"), &Default::default()).unwrap();
    let mut k = 0usize;
    let painted = truth.data.mapv(|l| {
        k += 1;
        if k.is_multiple_of(9) {
            l + 1
        } else {
            0
        }
    });
    let lp = d.join("painted.tif");
    fibstack::io::write_labels(&lp, &fibstack::LabelVolume::new(painted, truth.voxel)).unwrap();
    (s.join("slices"), lp)
}

#[test]
fn train_classify_stream_and_memory_agree() {
    let d = tempfile::tempdir().unwrap();
    let (grey, lp) = setup(d.path());
    let m = d.path().join("m.fsrf");
    let js = ok(&fib(&[
        "train",
        p(&grey),
        p(&lp),
        p(&m),
        "--trees",
        "20",
        "--json",
        "--phase-names",
        "1=pore,2=active,3=binder",
    ]));
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    let oob = v["training"]["oob_accuracy"].as_f64().unwrap();
    println!("oob accuracy {oob}");
    assert!(oob > 0.9, "{oob}");
    assert_eq!(v["phases"][2]["name"], "binder");
    // streamed (folder) and in-memory (.npy) classification give the same labels
    let a = d.path().join("a.tif");
    let pr = d.path().join("p.tif");
    let out = ok(&fib(&[
        "classify",
        p(&grey),
        p(&m),
        p(&a),
        "--probabilities",
        p(&pr),
        "--json",
    ]));
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["phases"].as_array().unwrap().len(), 3);
    let npy = d.path().join("g.npy");
    ok(&fib(&["convert", p(&grey), p(&npy), "-q"]));
    let b = d.path().join("b.tif");
    ok(&fib(&[
        "classify",
        p(&npy),
        p(&m),
        p(&b),
        "--voxel",
        "20,20,20",
        "-q",
    ]));
    let la = fibstack::io::read_labels(&a, &Default::default()).unwrap();
    let lb = fibstack::io::read_labels(&b, &Default::default()).unwrap();
    assert_eq!(la.data, lb.data);
    // the classifier segments the clean stack almost perfectly (labels 1…3 = truth + 1)
    let truth =
        fibstack::io::read_labels(&d.path().join("s/truth/labels.tif"), &Default::default())
            .unwrap();
    let agree = la
        .data
        .iter()
        .zip(truth.data.iter())
        .filter(|(a, t)| **a == **t + 1)
        .count();
    assert!(agree as f64 > 0.97 * truth.data.len() as f64, "{agree}");
    // probabilities: confidence in [1/3, 1], per-class maps sum to 1
    let c = fibstack::io::read_volume(&pr, &Default::default())
        .unwrap()
        .to_f32();
    assert!(c.iter().all(|&v| (0.33..=1.0001).contains(&v)));
    let sum: ndarray::Array3<f32> = (1..=3u8)
        .map(|l| {
            fibstack::io::read_volume(&d.path().join(format!("p_{l}.tif")), &Default::default())
                .unwrap()
                .to_f32()
        })
        .fold(ndarray::Array3::zeros(c.raw_dim()), |a, b| a + b);
    assert!(sum.iter().all(|&v| (v - 1.0).abs() < 1e-4));
    // the model does not depend on the thread count
    let m1 = d.path().join("m1.fsrf");
    ok(&fib(&[
        "--threads",
        "1",
        "train",
        p(&grey),
        p(&lp),
        p(&m1),
        "--trees",
        "20",
        "--phase-names",
        "1=pore,2=active,3=binder",
        "-q",
    ]));
    let (x, y) = (std::fs::read(&m).unwrap(), std::fs::read(&m1).unwrap());
    let strip = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(p(&m1), "")
            .replace(p(&m), "")
    };
    assert_eq!(x.len(), y.len());
    let _ = strip;
    // the header differs only in nothing: same inputs, same seed
    assert_eq!(x, y, "model bytes with 1 and 2 threads");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let (grey, lp) = setup(d.path());
    let m = d.path().join("m.fsrf");
    // labels of another shape
    let small = d.path().join("small.tif");
    fibstack::io::write_labels(
        &small,
        &fibstack::LabelVolume::new(
            ndarray::Array3::<u8>::ones((2, 3, 4)),
            fibstack::VoxelSize::new([20.0; 3], fibstack::VoxelSource::CommandLine),
        ),
    )
    .unwrap();
    fails(
        &fib(&["train", p(&grey), p(&small), p(&m)]),
        &["small.tif", "2x3x4", "18x40x40"],
    );
    // an empty label file (nothing painted)
    let empty = d.path().join("empty.tif");
    fibstack::io::write_labels(
        &empty,
        &fibstack::LabelVolume::new(
            ndarray::Array3::<u8>::zeros((18, 40, 40)),
            fibstack::VoxelSize::new([20.0; 3], fibstack::VoxelSource::CommandLine),
        ),
    )
    .unwrap();
    fails(
        &fib(&["train", p(&grey), p(&empty), p(&m)]),
        &["empty.tif", "no labelled voxels"],
    );
    // one phase only
    let one = d.path().join("one.tif");
    let mut a = ndarray::Array3::<u8>::zeros((18, 40, 40));
    a[[0, 0, 0]] = 1;
    fibstack::io::write_labels(
        &one,
        &fibstack::LabelVolume::new(
            a,
            fibstack::VoxelSize::new([20.0; 3], fibstack::VoxelSource::CommandLine),
        ),
    )
    .unwrap();
    fails(
        &fib(&["train", p(&grey), p(&one), p(&m)]),
        &["one.tif", "at least two phases"],
    );
    // a named phase with no training voxels
    fails(
        &fib(&[
            "train",
            p(&grey),
            p(&lp),
            p(&m),
            "--phase-names",
            "1=pore,7=cracks",
        ]),
        &["phase 7 (cracks) has no training voxels"],
    );
    assert!(!m.exists(), "no model written on error");
    ok(&fib(&[
        "train",
        p(&grey),
        p(&lp),
        p(&m),
        "--trees",
        "5",
        "-q",
    ]));
    let out = d.path().join("o.tif");
    // data of another voxel size, then allowed
    fails(
        &fib(&["classify", p(&grey), p(&m), p(&out), "--voxel", "10,10,10"]),
        &["m.fsrf", "voxel", "--allow-voxel-mismatch"],
    );
    assert!(!out.exists());
    ok(&fib(&[
        "classify",
        p(&grey),
        p(&m),
        p(&out),
        "--voxel",
        "10,10,10",
        "--allow-voxel-mismatch",
        "-q",
    ]));
    // another feature set than the model's
    fails(
        &fib(&[
            "classify",
            p(&grey),
            p(&m),
            p(&out),
            "--features",
            "raw,gaussian",
        ]),
        &["m.fsrf", "feature set differs"],
    );
    // a truncated / foreign model file
    let b = std::fs::read(&m).unwrap();
    let bad = d.path().join("bad.fsrf");
    std::fs::write(&bad, &b[..b.len() - 100]).unwrap();
    fails(
        &fib(&["classify", p(&grey), p(&bad), p(&out)]),
        &["bad.fsrf", "not a fibstack model"],
    );
    std::fs::write(&bad, b"hello").unwrap();
    fails(
        &fib(&["classify", p(&grey), p(&bad), p(&out)]),
        &["bad.fsrf", "not a fibstack model"],
    );
    // bad parameters
    fails(
        &fib(&["train", p(&grey), p(&lp), p(&m), "--trees", "0"]),
        &["trees"],
    );
    fails(
        &fib(&["train", p(&grey), p(&lp), p(&m), "--scales-nm", "40,20"]),
        &["scales_nm", "ascending"],
    );
}
