//! Every bad input of the foundation issue, through the real binary: non-zero exit, a one-line
//! message naming the file/value and the fix, no panic, nothing half-written.

use std::path::Path;
use std::process::{Command, Output};

fn fib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

/// Asserts failure with a single-line error containing every `needle`, and no panic.
fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    assert_ne!(out.status.code(), Some(101), "panicked: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err:?}"));
    for n in needles {
        assert!(line.contains(n), "{n:?} not in {line:?}");
    }
}

fn write_u8(path: &Path, shape: (usize, usize, usize)) {
    let v =
        fibstack::GreyVolume::from_u8(ndarray::Array3::from_elem(shape, 7u8), Default::default());
    fibstack::io::tiff::write_tiff(path, &v, &Default::default()).unwrap();
}

/// A minimal little-endian, single-strip TIFF with arbitrary tags (for formats our writer refuses).
#[allow(clippy::too_many_arguments)]
fn tiny_tiff(
    path: &Path,
    w: u32,
    h: u32,
    bps: u16,
    spp: u16,
    sample_format: u16,
    photometric: u16,
    data: &[u8],
) {
    let mut entries: Vec<(u16, u16, u32, u32)> = vec![
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, bps as u32),
        (259, 3, 1, 1),
        (262, 3, 1, photometric as u32),
        (273, 4, 1, 0), // patched below
        (277, 3, 1, spp as u32),
        (278, 4, 1, h),
        (279, 4, 1, data.len() as u32),
        (339, 3, 1, sample_format as u32),
    ];
    let ifd_off = 8u32;
    let ifd_len = 2 + 12 * entries.len() as u32 + 4;
    let data_off = ifd_off + ifd_len;
    entries[5].3 = data_off;
    let mut b = Vec::new();
    b.extend_from_slice(b"II");
    b.extend_from_slice(&42u16.to_le_bytes());
    b.extend_from_slice(&ifd_off.to_le_bytes());
    b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, typ, cnt, val) in entries {
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&typ.to_le_bytes());
        b.extend_from_slice(&cnt.to_le_bytes());
        if typ == 3 {
            b.extend_from_slice(&(val as u16).to_le_bytes());
            b.extend_from_slice(&[0, 0]);
        } else {
            b.extend_from_slice(&val.to_le_bytes());
        }
    }
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

#[test]
fn empty_folder() {
    let d = tempfile::tempdir().unwrap();
    let out = fib(&["info", d.path().to_str().unwrap()]);
    fails_with(&out, &[d.path().to_str().unwrap(), "no TIFF slices"]);
}

#[test]
fn folder_with_only_non_tiff_files() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("readme.txt"), "x").unwrap();
    let out = fib(&["info", d.path().to_str().unwrap()]);
    fails_with(&out, &["no TIFF slices", "1 non-TIFF"]);
}

#[test]
fn folder_with_mixed_files_notes_and_reads() {
    let d = tempfile::tempdir().unwrap();
    write_u8(&d.path().join("s_1.tif"), (1, 4, 5));
    write_u8(&d.path().join("s_2.tif"), (1, 4, 5));
    std::fs::write(d.path().join("log.csv"), "x").unwrap();
    let out = fib(&["info", d.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("log.csv"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is pure JSON");
    assert_eq!(v["shape"], serde_json::json!([2, 4, 5]));
}

#[test]
fn slices_of_different_size() {
    let d = tempfile::tempdir().unwrap();
    write_u8(&d.path().join("s_1.tif"), (1, 4, 5));
    write_u8(&d.path().join("s_2.tif"), (1, 4, 5));
    write_u8(&d.path().join("s_3.tif"), (1, 6, 5));
    let out = fib(&["info", d.path().to_str().unwrap()]);
    fails_with(&out, &["s_3.tif", "5x4 u8", "5x6 u8", "s_1.tif"]);
}

#[test]
fn slices_of_different_type() {
    let d = tempfile::tempdir().unwrap();
    write_u8(&d.path().join("a_1.tif"), (1, 4, 5));
    let v = fibstack::GreyVolume::from_u16(ndarray::Array3::zeros((1, 4, 5)), Default::default());
    fibstack::io::tiff::write_tiff(&d.path().join("a_2.tif"), &v, &Default::default()).unwrap();
    let out = fib(&["info", d.path().to_str().unwrap()]);
    fails_with(&out, &["a_2.tif", "u16"]);
}

#[test]
fn truncated_and_corrupt_tiff() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("t.tif");
    write_u8(&p, (3, 64, 64));
    let bytes = std::fs::read(&p).unwrap();
    let t = d.path().join("truncated.tif");
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&fib(&["info", t.to_str().unwrap()]), &["truncated.tif"]);
    let c = d.path().join("garbage.tif");
    std::fs::write(&c, b"this is not a tiff at all").unwrap();
    fails_with(
        &fib(&["info", c.to_str().unwrap()]),
        &["garbage.tif", "corrupt"],
    );
}

#[test]
fn unsupported_sample_formats_are_named() {
    let d = tempfile::tempdir().unwrap();
    let rgb = d.path().join("rgb.tif");
    tiny_tiff(&rgb, 2, 2, 8, 3, 1, 2, &[0; 12]);
    fails_with(
        &fib(&["info", rgb.to_str().unwrap()]),
        &["rgb.tif", "unsupported", "RGB"],
    );
    // 64-bit float (sample format 3, 64 bits): named (signed integers load, see trust_input.rs)
    let f64t = d.path().join("double.tif");
    tiny_tiff(&f64t, 2, 2, 64, 1, 3, 1, &[0; 32]);
    fails_with(
        &fib(&["info", f64t.to_str().unwrap()]),
        &["double.tif", "64-bit float"],
    );
    let bit = d.path().join("bilevel.tif");
    tiny_tiff(&bit, 8, 2, 1, 1, 1, 1, &[0; 2]);
    fails_with(
        &fib(&["info", bit.to_str().unwrap()]),
        &["bilevel.tif", "unsupported"],
    );
}

#[test]
fn huge_header_refused_before_allocating() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge.tif");
    tiny_tiff(&p, 200_000, 200_000, 16, 1, 1, 1, &[0; 16]);
    fails_with(
        &fib(&["info", p.to_str().unwrap()]),
        &["huge.tif", "200000x200000", "bytes"],
    );
}

#[test]
fn missing_pixel_size_runs_and_says_voxels() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("plain.npy");
    let v = fibstack::GreyVolume::from_u8(ndarray::Array3::zeros((2, 3, 4)), Default::default());
    fibstack::io::write_volume(&p, &v).unwrap();
    let out = fib(&["info", p.to_str().unwrap()]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("metrics that need lengths refuse") && err.contains("--voxel"),
        "{err}"
    );
    let out = fib(&["info", p.to_str().unwrap(), "--voxel", "20,5,5", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["voxel_size_nm"], serde_json::json!([20.0, 5.0, 5.0]));
    assert_eq!(j["voxel_size_source"][0], "command_line");
}

#[test]
fn bad_flags_name_the_value() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("v.tif");
    write_u8(&p, (2, 4, 4));
    fails_with(
        &fib(&["info", p.to_str().unwrap(), "--voxel", "0,1,1"]),
        &["--voxel", "positive"],
    );
    fails_with(
        &fib(&["info", p.to_str().unwrap(), "--crop", "0,0,9,9"]),
        &["v.tif", "crop", "outside"],
    );
    fails_with(
        &fib(&["info", p.to_str().unwrap(), "--slices", "5..9"]),
        &["v.tif", "5..9"],
    );
    let q = d.path().join("v.xyz");
    std::fs::write(&q, b"1").unwrap();
    fails_with(
        &fib(&["info", q.to_str().unwrap()]),
        &["v.xyz", "unknown file type"],
    );
    let r = d.path().join("v.raw");
    std::fs::write(&r, [0u8; 10]).unwrap();
    fails_with(
        &fib(&["info", r.to_str().unwrap(), "--raw", "2,2,2,u16"]),
        &["v.raw", "10 bytes", "16"],
    );
}

#[test]
fn failed_convert_leaves_no_output() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("garbage.tif");
    std::fs::write(&bad, b"nope").unwrap();
    let out = d.path().join("out.tif");
    fails_with(
        &fib(&["convert", bad.to_str().unwrap(), out.to_str().unwrap()]),
        &["garbage.tif"],
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        1,
        "no temp files left"
    );
}

fn workflow(dir: &Path, body: &str) -> std::path::PathBuf {
    write_u8(&dir.join("in.tif"), (2, 8, 8));
    let p = dir.join("w.toml");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn workflow_unknown_key_suggests_closest() {
    let d = tempfile::tempdir().unwrap();
    let w = workflow(d.path(), "output = \"o\"\n[input]\npath = \"in.tif\"\nvoxel_mn = [1.0, 1.0, 1.0]\n[[steps]]\nkind = \"passthrough\"\n");
    fails_with(
        &fib(&["run", w.to_str().unwrap()]),
        &["w.toml", "voxel_mn", "did you mean `voxel_nm`"],
    );
    assert!(
        !d.path().join("o").exists(),
        "nothing written before validation passes"
    );
}

#[test]
fn workflow_misspelt_step_kind() {
    let d = tempfile::tempdir().unwrap();
    let w = workflow(d.path(), "output = \"o\"\n[input]\npath = \"in.tif\"\n[[steps]]\nkind = \"convrt\"\npath = \"x.tif\"\n");
    fails_with(
        &fib(&["run", w.to_str().unwrap()]),
        &["step 1", "convrt", "did you mean `convert`"],
    );
}

#[test]
fn workflow_misspelt_value_names_the_key() {
    let d = tempfile::tempdir().unwrap();
    let w = workflow(d.path(), "output = \"o\"\n[input]\npath = \"in.tif\"\n[[steps]]\nkind = \"geometry\"\ninterpolation = \"cubik\"\n");
    let out = fib(&["run", w.to_str().unwrap()]);
    fails_with(
        &out,
        &[
            "step 1 (geometry)",
            "interpolation = \"cubik\"",
            "unknown value `cubik`",
            "did you mean `cubic`",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("step kind"));
}

#[test]
fn workflow_wrong_type_and_bad_value() {
    let d = tempfile::tempdir().unwrap();
    let w = workflow(d.path(), "output = \"o\"\nseed = \"abc\"\n[input]\npath = \"in.tif\"\n[[steps]]\nkind = \"passthrough\"\n");
    fails_with(&fib(&["run", w.to_str().unwrap()]), &["w.toml", "seed"]);
    let w = workflow(d.path(), "output = \"o\"\n[input]\npath = \"in.tif\"\nvoxel_nm = [0.0, 1.0, 1.0]\n[[steps]]\nkind = \"passthrough\"\n");
    fails_with(
        &fib(&["run", w.to_str().unwrap()]),
        &["voxel_nm", "positive"],
    );
}

/// Rim-correction keys: a run length without the switch, an impossible run length, and the
/// correction on a 2-class segmentation are refused before anything runs, naming the key.
#[test]
fn workflow_rim_correction_keys_are_checked() {
    let d = tempfile::tempdir().unwrap();
    let seg = |extra: &str| {
        format!(
            "output = \"o\"\n[input]\npath = \"in.tif\"\n[[steps]]\nkind = \"segment\"\nmethod = \"multiotsu\"\nclasses = 3\n{extra}"
        )
    };
    let w = workflow(d.path(), &seg("rim_max_run_px = 3\n"));
    fails_with(
        &fib(&["run", w.to_str().unwrap()]),
        &["rim_max_run_px", "rim_correction = true"],
    );
    let w = workflow(
        d.path(),
        &seg("rim_correction = true\nrim_max_run_px = 40\n"),
    );
    fails_with(
        &fib(&["run", w.to_str().unwrap()]),
        &["rim_max_run_px", "40", "1..=16"],
    );
    assert!(!d.path().join("o").exists(), "nothing written");
    let w = workflow(
        d.path(),
        "output = \"o\"\n[input]\npath = \"in.tif\"\n[[steps]]\nkind = \"segment\"\nmethod = \"otsu\"\nrim_correction = true\n",
    );
    fails_with(&fib(&["run", w.to_str().unwrap()]), &["3 or more classes"]);
}

#[test]
fn workflow_impossible_order() {
    let d = tempfile::tempdir().unwrap();
    let w = workflow(d.path(), "output = \"o\"\n[input]\npath = \"in.tif\"\n[[steps]]\nkind = \"convert\"\npath = \"l.tif\"\nwhat = \"labels\"\n");
    fails_with(
        &fib(&["run", w.to_str().unwrap()]),
        &["step 1", "needs a label volume"],
    );
}

#[test]
fn workflow_output_not_writable() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("afile"), "x").unwrap();
    let w = workflow(
        d.path(),
        "output = \"afile/sub\"\n[input]\npath = \"in.tif\"\n[[steps]]\nkind = \"passthrough\"\n",
    );
    fails_with(
        &fib(&["run", w.to_str().unwrap()]),
        &["afile/sub", "output"],
    );
}

#[test]
fn workflow_runs_and_writes_provenance() {
    let d = tempfile::tempdir().unwrap();
    let w = workflow(d.path(), "output = \"o\"\n[input]\npath = \"in.tif\"\nvoxel_nm = [30.0, 4.0, 4.0]\n[[steps]]\nkind = \"convert\"\npath = \"copy.vti\"\n");
    let out = fib(&["run", w.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("o/provenance.json")).unwrap())
            .unwrap();
    assert_eq!(prov["voxel_size_nm"], serde_json::json!([30.0, 4.0, 4.0]));
    assert_eq!(prov["voxel_size_source"][0], "workflow");
    assert_eq!(prov["inputs"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(prov["steps"][0]["name"], "convert");
    assert!(prov["workflow_text"].as_str().unwrap().contains("copy.vti"));
    assert!(d.path().join("o/copy.vti").exists());
}

#[test]
fn batch_one_failing_sample_others_finish() {
    let d = tempfile::tempdir().unwrap();
    write_u8(&d.path().join("a.tif"), (2, 8, 8));
    write_u8(&d.path().join("b.tif"), (2, 8, 8));
    let w = d.path().join("batch.toml");
    std::fs::write(
        &w,
        r#"output = "o"
[[samples]]
name = "A 0 kPa"
input = { path = "a.tif" }
labels = { pressure_kpa = 0, electrolyte = "LiPF6" }
[[samples]]
name = "missing"
input = { path = "nope.tif" }
labels = { pressure_kpa = 70 }
[[samples]]
name = "B"
input = { path = "b.tif", voxel_nm = [10.0, 2.0, 2.0] }
labels = { pressure_kpa = 140 }
overrides = { convert = { path = "other.npy" } }
[compare]
x = "pressure_kpa"
[[steps]]
kind = "convert"
path = "copy.tif"
"#,
    )
    .unwrap();
    let out = fib(&["run", w.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let o = d.path().join("o");
    assert!(o.join("A_0_kPa/copy.tif").exists());
    assert!(
        o.join("B/other.npy").exists(),
        "per-sample override applied"
    );
    let csv = std::fs::read_to_string(o.join("comparison.csv")).unwrap();
    assert!(
        csv.starts_with("sample,status,pressure_kpa,electrolyte"),
        "{csv}"
    );
    assert!(csv.contains("missing,failed,70"), "{csv}");
    let batch: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.join("batch.json")).unwrap()).unwrap();
    assert!(batch["samples"][1]["error"]
        .as_str()
        .unwrap()
        .contains("nope.tif"));
    // a bad override is caught before any work
    std::fs::write(&w, "output = \"o2\"\n[[samples]]\nname = \"x\"\ninput = { path = \"a.tif\" }\noverrides = { convrt = { path = \"y.tif\" } }\n[[steps]]\nkind = \"convert\"\npath = \"c.tif\"\n").unwrap();
    fails_with(
        &fib(&["run", w.to_str().unwrap()]),
        &["sample 1 (x)", "did you mean `convert`"],
    );
    assert!(!d.path().join("o2").exists());
}

/// A reader that goes away (`fibstack … | head`) must not make us print a panic: both the JSON
/// path and plain human text end quietly. The pipe's read end is closed before the program starts,
/// so every write to stdout fails with EPIPE.
#[test]
fn closed_stdout_is_not_a_panic() {
    for args in [
        vec!["info", "fixtures/synth/electrode/slices", "--json"],
        vec!["info", "fixtures/synth/electrode/slices"],
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_fibstack"))
            .args(&args)
            .stdout(writer)
            .output()
            .expect("run fibstack");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
}
