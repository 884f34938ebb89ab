//! Bounds before work: every parameter's range is checked up front by the same `validate()` in
//! the CLI and in `run --check`, kernel sizes derived from nm are refused or clamped to the
//! image, and no extreme value panics, aborts or hangs.

#[path = "support/trust.rs"]
mod trust;
use std::time::{Duration, Instant};
use trust::*;

/// The issue's `denoise --sigma` values: each used to panic, abort allocating tens of GB or run
/// for minutes. Now a one-line error, at once.
#[test]
fn denoise_huge_sigma_is_refused_before_work() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((4, 64, 64));
    let p = write_grey(&d.path().join("g.tif"), grey_of(&a), vox([20.0, 5.0, 5.0]));
    let out = d.path().join("o.tif");
    for s in [
        "1e30",
        "1e308",
        "1e20",
        "1e19",
        "1e18",
        "1e17",
        "1e9",
        "4294967296",
        "1e7",
    ] {
        let t = Instant::now();
        fails_with(
            &fib(&["denoise", &p, out.to_str().unwrap(), "--sigma", s, "-q"]),
            &["sigma", "at most 1000000 nm"],
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "--sigma {s} took {:?}",
            t.elapsed()
        );
        // the same value in a workflow fails `run --check` with the same message as `run`
        let w = workflow(
            d.path(),
            &format!("output = \"out\"\n[input]\npath = \"g.tif\"\n[[steps]]\nkind = \"denoise\"\nsigma = {s}\n"),
        );
        let check = fails_with(&fib(&["run", w.to_str().unwrap(), "--check"]), &["sigma"]);
        let run = fails_with(&fib(&["run", w.to_str().unwrap()]), &["sigma"]);
        assert_eq!(check, run);
    }
    // within the physical range but larger than the image: refused with the image size
    for args in [
        vec!["--sigma", "1000"],
        vec!["--sigma", "1000", "--3d"],
        vec!["--sigma-nm", "0,1000,1"],
    ] {
        fails_with(
            &fib(&[
                &["denoise", &p, out.to_str().unwrap(), "-q"],
                args.as_slice(),
            ]
            .concat()),
            &["g.tif", "more than the image", "voxels along"],
        );
    }
    // a σ along an axis of one voxel leaves it alone (reflection of one sample is the identity)
    let one = write_grey(
        &d.path().join("one.tif"),
        grey_of(&channels((1, 64, 64))),
        vox([20.0, 5.0, 5.0]),
    );
    assert!(fib(&[
        "denoise",
        &one,
        out.to_str().unwrap(),
        "--sigma",
        "30",
        "--3d",
        "-q"
    ])
    .status
    .success());
    for t in ["0", "-1", "21", "nan"] {
        fails_with(
            &fib(&[
                "denoise",
                &p,
                out.to_str().unwrap(),
                "--sigma",
                "5",
                "--truncate",
                t,
                "-q",
            ]),
            &["truncate"],
        );
    }
}

/// A top-hat radius larger than the image is clamped to the image (exactly: same result) instead
/// of enumerating a footprint of billions of voxels.
#[test]
fn tophat_radius_beyond_the_image_is_clamped() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((8, 64, 64));
    let p = write_grey(&d.path().join("g.tif"), grey_of(&a), Default::default());
    let r200 = d.path().join("r200.tif");
    let r100 = d.path().join("r100.tif");
    let t = Instant::now();
    for (r, out) in [("200", &r200), ("100", &r100)] {
        let o = fib(&[
            "tophat",
            &p,
            out.to_str().unwrap(),
            "--radius-nm",
            r,
            "--3d",
            "-q",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t.elapsed()
    );
    // both balls cover the whole 8×64×64 box: identical results
    assert_eq!(std::fs::read(&r200).unwrap(), std::fs::read(&r100).unwrap());
    // the workflow case of the issue: radius_nm = 65536 on 2-D slices
    let w = workflow(
        d.path(),
        "output = \"out\"\n[input]\npath = \"g.tif\"\n[[steps]]\nkind = \"tophat\"\nradius_nm = 65536\n",
    );
    let t = Instant::now();
    let o = fib(&["run", w.to_str().unwrap(), "-q", "--json"]);
    let j = ok_json(&o);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(j["tophat"]["footprint_voxels"], 127 * 127);
    for r in ["0", "-5", "1e7", "inf", "nan"] {
        fails_with(
            &fib(&["tophat", &p, r200.to_str().unwrap(), "--radius-nm", r, "-q"]),
            &["radius"],
        );
    }
}

/// One workflow step with `key = value`; its chain feeds it what it needs.
fn step_workflow(kind: &str, body: &str) -> String {
    let pre = match kind {
        "porosity" | "connectivity" | "sizes" | "tortuosity" | "crop" | "score" => {
            "[[steps]]\nkind = \"segment\"\nmethod = \"otsu\"\n"
        }
        _ => "",
    };
    format!(
        "output = \"out\"\nallow_unconverged = true\n[input]\npath = \"g.tif\"\n{pre}[[steps]]\nkind = \"{kind}\"\n{body}\n"
    )
}

/// Messages of refusals that depend on the data (the image size, the labels present), which
/// `run --check` cannot see without reading the input.
const DATA_DEPENDENT: &[&str] = &[
    "more than the image",
    "voxels along this axis",
    "does not occur",
    "no deposit found",
    "the sheared slices share no common rows",
    "correlated height",
    "lies outside",
    "taller than the input",
    "reaches beyond the volume",
    "too many for a",
    "share no common region",
    "is degenerate",
];

/// For every step kind and extreme values of its numeric keys: `run --check` and `run` agree.
/// When `--check` refuses, `run` refuses with the same line; when it accepts, `run` succeeds or
/// refuses for a reason of the data (named above) — never a parameter error `--check` missed,
/// never a panic, abort or hang.
#[test]
fn check_and_run_agree_on_extreme_parameters() {
    let d = tempfile::tempdir().unwrap();
    let a = channels((6, 24, 24));
    write_grey(&d.path().join("g.tif"), grey_of(&a), vox([20.0, 5.0, 5.0]));
    let floats = [
        "-1.0", "0.0", "1e-300", "1e30", "1e308", "nan", "inf", "-inf",
    ];
    let ints = ["0", "1", "4294967296", "9223372036854775807", "-1"];
    let cases: Vec<(&str, &str, &str, &[&str])> = vec![
        ("denoise", "sigma", "", &floats),
        ("denoise", "truncate", "sigma = 5.0", &floats),
        (
            "denoise",
            "sigma_nm",
            "",
            &["[0.0, 1e30, 1.0]", "[nan, 1.0, 1.0]", "[-1.0, 5.0, 5.0]"],
        ),
        ("tophat", "radius_nm", "", &floats),
        ("destripe", "half_angle", "", &floats),
        ("destripe", "angle", "", &floats),
        ("destripe", "taper", "", &floats),
        ("destripe", "kmin", "", &floats),
        ("destripe", "kmin_taper", "", &floats),
        ("destripe", "significance", "", &floats),
        ("destripe", "wavelet_sigma", "method = \"wavelet\"", &floats),
        ("destripe", "wavelet_levels", "method = \"wavelet\"", &ints),
        ("destripe", "stack_window", "method = \"stack\"", &ints),
        ("destripe", "stack_sigma_px", "method = \"stack\"", &floats),
        ("align", "upsample", "", &ints),
        ("align", "template_k", "mode = \"template\"", &ints),
        (
            "align",
            "smooth_window",
            "mode = \"detrend\"\ndetrend = \"smooth\"",
            &ints,
        ),
        ("align", "tukey_alpha", "window = \"tukey\"", &floats),
        ("align", "curtain_notch", "", &ints),
        ("align", "fill", "", &floats),
        ("align", "flag_rel_quality", "", &floats),
        ("align", "flag_min_peak_ratio", "", &floats),
        ("align", "flag_replace_px", "", &floats),
        ("align", "theta_deg", "", &floats),
        (
            "align",
            "bandpass",
            "",
            &["[1e30]", "[nan]", "[2.0, 1.0]", "[-1.0]"],
        ),
        ("geometry", "theta_deg", "shear = false", &floats),
        ("geometry", "slice_thickness_nm", "", &floats),
        (
            "geometry",
            "shear_px_per_slice",
            "boundary = \"pad\"",
            &floats,
        ),
        ("geometry", "fill", "shear = false", &floats),
        ("segment", "sensitivity", "", &floats),
        ("segment", "nbins", "", &ints),
        ("segment", "classes", "method = \"multiotsu\"", &ints),
        (
            "segment",
            "thresholds",
            "method = \"manual\"",
            &["[nan]", "[1e308]", "[100.0, 50.0]", "[]"],
        ),
        ("segment", "shine_depth", "shine_through = true", &ints),
        ("segment", "shine_sigma_px", "shine_through = true", &floats),
        ("segment", "shine_iterations", "shine_through = true", &ints),
        ("segment", "rim_max_run_px", "rim_correction = true", &ints),
        (
            "crop",
            "threshold",
            "to_deposit = true\nphase = 0\ncollector = 1\naxis = \"z\"",
            &floats,
        ),
        (
            "crop",
            "window_nm",
            "collector = 1\naxis = \"z\"",
            &["[0.0, 1e30]", "[nan, 1.0]", "[5.0, 1.0]", "[0.0, 40.0]"],
        ),
        ("crop", "z", "", &["[0, 4294967296]", "[3, 1]", "[0, 2]"]),
        ("porosity", "window_nm", "", &floats),
        ("porosity", "rev_sizes", "", &ints),
        ("porosity", "deposit_threshold", "deposit = true", &floats),
        ("connectivity", "connectivity", "", &ints),
        ("sizes", "bins", "", &ints),
        ("sizes", "min_separation", "split = true", &floats),
        ("sizes", "connectivity", "", &ints),
        ("tortuosity", "tol", "phase = 1\naxis = \"z\"", &floats),
        ("tortuosity", "max_iter", "phase = 1\naxis = \"z\"", &ints),
        (
            "tortuosity",
            "walkers",
            "phase = 1\naxis = \"z\"\nmethod = \"rw\"\nsteps = 256",
            &ints,
        ),
        (
            "tortuosity",
            "steps",
            "phase = 1\naxis = \"z\"\nmethod = \"rw\"\nwalkers = 64",
            &ints,
        ),
        (
            "tortuosity",
            "precision",
            "phase = 1\naxis = \"z\"\nmethod = \"rw\"\nsteps = 256",
            &floats,
        ),
        (
            "tortuosity",
            "max_steps",
            "phase = 1\naxis = \"z\"\nmethod = \"rw\"\nwalkers = 64",
            &ints,
        ),
        (
            "synth",
            "shape",
            "",
            &[
                "[0, 8, 8]",
                "[4294967296, 4294967296, 4294967296]",
                "[4, 16, 16]",
            ],
        ),
        (
            "synth",
            "voxel_nm",
            "shape = [4, 16, 16]",
            &["[0.0, 1.0, 1.0]", "[nan, 1.0, 1.0]", "[1e30, 1e30, 1e30]"],
        ),
    ];
    let mut n = 0;
    let mut bad: Vec<String> = Vec::new();
    let (mut ok_runs, mut refused) = (0usize, 0usize);
    for (kind, key, extra, values) in cases {
        for v in values {
            // keys of the second-level tables (tortuosity `steps` …) are plain keys here
            let body = format!("{extra}\n{key} = {v}");
            let w = workflow(d.path(), &step_workflow(kind, &body));
            let w = w.to_str().unwrap();
            let what = format!("{kind}.{key} = {v}");
            let check = fib(&["run", w, "--check", "-q"]);
            let Some(run) = fib_timeout(&["run", w, "-q"], 60) else {
                bad.push(format!("{what}: run hung (killed after 60 s)"));
                continue;
            };
            for o in [&check, &run] {
                assert!(
                    matches!(o.status.code(), Some(0) | Some(1)),
                    "{what}: exit {:?} (panic/abort): {}",
                    o.status,
                    stderr(o)
                );
                assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
            }
            if !check.status.success() {
                let c = fails_with(&check, &[]);
                let r = fails_with(&run, &[]);
                if c != r {
                    bad.push(format!(
                        "{what}: --check and run refuse differently: {c} / {r}"
                    ));
                }
            } else if !run.status.success() {
                let r = fails_with(&run, &[]);
                if !DATA_DEPENDENT.iter().any(|m| r.contains(m)) {
                    bad.push(format!(
                        "{what}: --check passed but run refused a parameter: {r}"
                    ));
                }
            }
            n += 1;
            ok_runs += usize::from(run.status.success());
            refused += usize::from(!check.status.success());
        }
    }
    eprintln!("{n} cases: {refused} refused by --check, {ok_runs} ran to the end");
    // the test must exercise both sides
    assert!(
        ok_runs > 60 && refused > 150,
        "{ok_runs} ran, {refused} refused"
    );
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(n > 300, "{n} cases");
}
