//! Messages that point to the right fix: command-line mistakes are one line with exit code 1 like
//! every other error, help texts belong to their flags, and errors name the file.

#[path = "support/trust.rs"]
mod trust;
use trust::*;

#[test]
fn clap_errors_are_one_line_with_exit_code_1() {
    let d = tempfile::tempdir().unwrap();
    let p = write_labels(
        &d.path().join("l.tif"),
        &channels((4, 8, 8)),
        vox([20.0, 5.0, 5.0]),
    );
    let o = d.path().join("o.tif");
    let o = o.to_str().unwrap();
    for (args, needles) in [
        (
            vec!["tortuosity", &p, "--phase", "300"],
            vec!["--phase", "300", "0..=255", "fibstack tortuosity --help"],
        ),
        (
            vec!["tortuosity", &p],
            vec!["--phase", "not provided", "usage: fibstack tortuosity"],
        ),
        (
            vec!["--threads=-1", "info", &p],
            vec!["--threads", "-1", "whole number", "1 to 4096"],
        ),
        (
            vec!["info", &p, "--threads", "0"],
            vec!["--threads", "0", "1 to 4096"],
        ),
        (
            vec!["convert", &p, o, "--compression", "jpeg"],
            vec!["--compression", "jpeg", "lzw", "fibstack convert --help"],
        ),
        (vec!["porosity", &p, "--jsn"], vec!["--jsn", "--json"]),
        (vec!["frobnicate"], vec!["frobnicate"]),
    ] {
        let out = fib(&args);
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {e}");
        assert_eq!(
            e.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {e}"
        );
        let line = fails_with(&out, &[]);
        for n in needles {
            assert!(line.contains(n), "{args:?}: {n:?} not in {line}");
        }
    }
    // help and version still print normally with exit 0
    for args in [
        vec!["--help"],
        vec!["tortuosity", "--help"],
        vec!["--version"],
    ] {
        let out = fib(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn geometry_help_attaches_each_text_to_its_flag() {
    // the short help keeps each flag's text on its line
    let out = fib(&["geometry", "-h"]);
    let h = String::from_utf8_lossy(&out.stdout);
    let line = |flag: &str| {
        h.lines()
            .find(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} not in help: {h}"))
            .to_string()
    };
    let interp = line("--interpolation");
    assert!(
        interp.contains("Interpolation along y") && !interp.contains("JSON"),
        "{interp}"
    );
    assert!(line("--json").contains("JSON"), "{h}");
}

#[test]
fn errors_name_the_file_and_a_real_flag() {
    let d = tempfile::tempdir().unwrap();
    // tortuosity errors name the file (here: fixed-layers needs 3 layers)
    let p = write_labels(
        &d.path().join("thin.tif"),
        &channels((2, 8, 8)),
        vox([20.0, 5.0, 5.0]),
    );
    fails_with(
        &fib(&[
            "tortuosity",
            &p,
            "--phase",
            "1",
            "--axis",
            "z",
            "--boundary",
            "fixed-layers",
            "-q",
        ]),
        &["thin.tif", "along z", "fixed-layers"],
    );
    // `sizes` on an uncalibrated volume points to --voxel (there is no --voxel-size)
    let u = write_labels(
        &d.path().join("u.npy"),
        &channels((4, 8, 8)),
        Default::default(),
    );
    let o = fib(&["sizes", &u, "--phase", "1"]);
    assert!(!stderr(&o).contains("--voxel-size"), "{}", stderr(&o));
    fails_with(&o, &["u.npy", "--voxel DZ,DY,DX"]);
    let o = fib(&[
        "sizes",
        &u,
        "--phase",
        "1",
        "--allow-uncalibrated",
        "--json",
        "-q",
    ]);
    let j = ok_json(&o);
    assert!(!j.to_string().contains("--voxel-size"));
    assert_eq!(j["length_unit"], "voxel");
}
