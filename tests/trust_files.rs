//! Hostile files, damaged outputs and interrupted runs, through the real binary: each case is one
//! a user met (damaged headers that made fibstack abort or point to the wrong fix, outputs that
//! overwrote or mixed with inputs and earlier results, temporary files left by a kill).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
}

fn fib(args: &[&str]) -> Output {
    bin().args(args).output().expect("run fibstack")
}

/// Run with the address space capped at `gib` GiB, so an allocation the input does not justify
/// aborts instead of quietly succeeding on a machine with overcommit.
fn fib_capped(args: &[&str], gib: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut c = bin();
    c.args(args);
    let bytes = (gib << 30) as libc::rlim_t;
    // SAFETY: only async-signal-safe setrlimit between fork and exec.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().expect("run fibstack")
}

/// Failure with exit status 1 (not a signal, not a panic) and one error line holding every
/// needle and none of the `not` texts.
fn fails_with(out: &Output, needles: &[&str], not: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a clean failure (exit 1), got {:?}; stderr: {err}",
        out.status
    );
    assert!(!err.contains("panicked"), "panicked: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err:?}"))
        .to_string();
    for n in needles {
        assert!(line.contains(n), "{n:?} not in {line:?}");
    }
    for n in not {
        assert!(!line.contains(n), "{n:?} should not be in {line:?}");
    }
    line
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn vol_u16(nz: usize, ny: usize, nx: usize) -> fibstack::GreyVolume {
    fibstack::GreyVolume::from_u16(
        ndarray::Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| (z * 100 + y * 10 + x) as u16),
        fibstack::volume::VoxelSize::new(
            [20.0, 5.0, 5.0],
            fibstack::volume::VoxelSource::CommandLine,
        ),
    )
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every file under `dir` with its bytes (to show that nothing changed).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn temps_in(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.contains(".fibstack-tmp-") || n.contains(".fibstack-old-"))
        .collect()
}

// ------------------------------------------------------------------------ hostile headers

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn huge_png_header_is_refused_before_allocating() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge.png");
    let img = ndarray::Array2::from_elem((8, 8), 100u8);
    fibstack::io::png::write_gray(&p, img.view()).unwrap();
    let mut b = std::fs::read(&p).unwrap();
    // IHDR width = height = 100 000 (10 GB of pixels), CRC fixed so the decoder accepts it
    b[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    b[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let c = crc32(&b[12..29]);
    b[29..33].copy_from_slice(&c.to_be_bytes());
    std::fs::write(&p, &b).unwrap();
    let out = fib_capped(&["info", s(&p)], 2);
    fails_with(&out, &["huge.png", "100000x100000"], &[]);
    // within the file's means but over --max-memory: the limit is named
    let big = d.path().join("big.png");
    let img = ndarray::Array2::from_elem((2000, 2000), 3u8);
    fibstack::io::png::write_gray(&big, img.view()).unwrap();
    let out = fib(&["info", s(&big), "--max-memory", "0.001"]);
    fails_with(&out, &["big.png", "--max-memory"], &[]);
}

/// Offset of the IFD entry `tag` of IFD number `ifd_index` in a little-endian classic TIFF.
fn tiff_entry(b: &[u8], ifd_index: usize, tag: u16) -> usize {
    let rd32 = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let rd16 = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap()) as usize;
    let mut ifd = rd32(4);
    for _ in 0..ifd_index {
        let n = rd16(ifd);
        ifd = rd32(ifd + 2 + 12 * n);
    }
    let n = rd16(ifd);
    (0..n)
        .map(|i| ifd + 2 + 12 * i)
        .find(|&e| rd16(e) as u16 == tag)
        .expect("tag present")
}

#[test]
fn fuzzed_tiff_tag_counts_are_refused_naming_the_tag_also_when_streaming() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.tif");
    fibstack::io::tiff::write_tiff(&good, &vol_u16(3, 16, 16), &Default::default()).unwrap();
    let b = std::fs::read(&good).unwrap();
    // page 1's StripByteCounts declares 2^28 values (the decoder reserved 8 GiB for them);
    // its offset stays inside the file
    let mut bad = b.clone();
    let e = tiff_entry(&bad, 1, 279);
    bad[e + 2..e + 4].copy_from_slice(&4u16.to_le_bytes());
    bad[e + 4..e + 8].copy_from_slice(&(1u32 << 28).to_le_bytes());
    bad[e + 8..e + 12].copy_from_slice(&8u32.to_le_bytes());
    let p = d.path().join("tags.tif");
    std::fs::write(&p, &bad).unwrap();
    let npy = d.path().join("out.npy");
    let tif = d.path().join("out.tif");
    for args in [
        vec!["info", s(&p)],
        vec!["convert", s(&p), s(&npy)],
        // the streaming reader (per-slice filter on a TIFF)
        vec!["denoise", s(&p), s(&tif), "--sigma", "5"],
    ] {
        let out = fib_capped(&args, 2);
        fails_with(&out, &["tags.tif", "StripByteCounts", "268435456"], &[]);
    }
    assert_eq!(names(d.path()), ["good.tif", "tags.tif"], "nothing written");
    // page 0's StripOffsets with 2^25 values: no more "need 0 bytes, more than the limit of 0"
    let mut bad = b.clone();
    let e = tiff_entry(&bad, 0, 273);
    bad[e + 4..e + 8].copy_from_slice(&(1u32 << 25).to_le_bytes());
    std::fs::write(&p, &bad).unwrap();
    let out = fib_capped(&["info", s(&p)], 2);
    fails_with(&out, &["StripOffsets"], &["limit of 0", "max-memory"]);
}

#[test]
fn a_tiff_too_short_for_its_header_is_called_damaged_not_too_large() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("short.tif");
    fibstack::io::tiff::write_tiff(&p, &vol_u16(1, 16, 16), &Default::default()).unwrap();
    let mut b = std::fs::read(&p).unwrap();
    // 200 000 x 200 000 pixels declared in a file of a few hundred bytes
    for tag in [256u16, 257] {
        let e = tiff_entry(&b, 0, tag);
        b[e + 2..e + 4].copy_from_slice(&4u16.to_le_bytes());
        b[e + 4..e + 8].copy_from_slice(&1u32.to_le_bytes());
        b[e + 8..e + 12].copy_from_slice(&200_000u32.to_le_bytes());
    }
    std::fs::write(&p, &b).unwrap();
    let out = fib_capped(&["info", s(&p)], 2);
    fails_with(
        &out,
        &["short.tif", "200000x200000", "truncated or corrupt"],
        &["max-memory"],
    );
}

#[test]
fn pages_of_different_types_are_named() {
    use tiff::encoder::{colortype, TiffEncoder};
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mixed.tif");
    {
        let f = std::fs::File::create(&p).unwrap();
        let mut enc = TiffEncoder::new(f).unwrap();
        enc.write_image::<colortype::Gray8>(4, 4, &[1u8; 16])
            .unwrap();
        enc.write_image::<colortype::Gray16>(4, 4, &[1u16; 16])
            .unwrap();
    }
    let out = fib(&["info", s(&p)]);
    fails_with(
        &out,
        &["mixed.tif", "page 1 holds u16", "page 0 holds u8"],
        &[],
    );
}

#[test]
fn raw_shape_and_crop_overflow_get_plain_messages() {
    let d = tempfile::tempdir().unwrap();
    let raw = d.path().join("v.raw");
    std::fs::write(&raw, [0u8; 64]).unwrap();
    let out = fib(&[
        "info",
        s(&raw),
        "--raw",
        "4294967296,4294967296,4294967296,u16",
    ]);
    fails_with(
        &out,
        &["v.raw", "2^64 bytes", "--raw"],
        &["ShapeError", "Overflow"],
    );
    let npy = d.path().join("v.npy");
    fibstack::io::write_volume(&npy, &vol_u16(2, 8, 8)).unwrap();
    let tif = d.path().join("v.tif");
    fibstack::io::write_volume(&tif, &vol_u16(2, 8, 8)).unwrap();
    for p in [&npy, &tif] {
        let out = fib(&["info", s(p), "--crop", "1,0,18446744073709551615,4"]);
        fails_with(&out, &["crop", "outside"], &["ShapeError", "OutOfBounds"]);
    }
}

// ------------------------------------------------------------------ outputs never damage inputs

#[test]
fn rewriting_a_slice_folder_leaves_no_stale_slices() {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in.tif");
    fibstack::io::write_volume(&inp, &vol_u16(8, 6, 6)).unwrap();
    let f = d.path().join("F");
    ok(&fib(&["convert", s(&inp), s(&f)]));
    assert_eq!(names(&f).len(), 8);
    ok(&fib(&["convert", s(&inp), s(&f), "--slices", "0..4"]));
    assert_eq!(
        names(&f),
        [
            "slice_0000.tif",
            "slice_0001.tif",
            "slice_0002.tif",
            "slice_0003.tif"
        ]
    );
    let r = fibstack::io::read_volume(&f, &Default::default()).unwrap();
    assert_eq!(r.shape(), [4, 6, 6]);
    // the streamed writer too (a per-slice filter into the folder)
    ok(&fib(&["denoise", s(&inp), s(&f), "--sigma", "5"]));
    assert_eq!(names(&f).len(), 8);
    ok(&fib(&[
        "denoise",
        s(&inp),
        s(&f),
        "--sigma",
        "5",
        "--slices",
        "2..5",
    ]));
    assert_eq!(names(&f).len(), 3);
    assert!(temps_in(d.path()).is_empty());
    // a folder holding files we did not write is never replaced
    std::fs::write(f.join("notes.txt"), b"mine").unwrap();
    let out = fib(&["convert", s(&inp), s(&f)]);
    fails_with(&out, &["notes.txt", "new or empty folder"], &[]);
    assert!(f.join("notes.txt").exists());
}

#[test]
fn an_output_that_is_holds_or_lies_inside_the_input_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let folder = d.path().join("slices");
    fibstack::io::write_volume(&folder, &vol_u16(3, 6, 6)).unwrap();
    let tif = d.path().join("in.tif");
    fibstack::io::write_volume(&tif, &vol_u16(3, 6, 6)).unwrap();
    let before = snapshot(d.path());
    let inside = folder.join("out.tif");
    let cases: [Vec<&str>; 8] = [
        vec!["convert", s(&folder), s(&folder)],
        vec!["convert", s(&tif), s(&tif)],
        vec!["convert", s(&folder), s(&inside)],
        vec!["convert", s(&tif), s(d.path())],
        vec!["denoise", s(&tif), s(&tif), "--sigma", "5"],
        vec!["denoise", s(&folder), s(&folder), "--sigma", "5"],
        vec!["segment", s(&tif), s(&tif)],
        vec!["tophat", s(&folder), s(&inside), "--radius-nm", "20"],
    ];
    for c in &cases {
        let out = fib(c);
        fails_with(&out, &["choose an output outside the input"], &[]);
    }
    assert_eq!(
        snapshot(d.path()),
        before,
        "inputs untouched, nothing added"
    );
}

#[test]
fn npy_output_onto_an_existing_folder_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let tif = d.path().join("in.tif");
    fibstack::io::write_volume(&tif, &vol_u16(3, 6, 6)).unwrap();
    let dir = d.path().join("out.npy");
    std::fs::create_dir(&dir).unwrap();
    for c in [
        vec!["convert", s(&tif), s(&dir)],
        vec!["denoise", s(&tif), s(&dir), "--sigma", "5"],
    ] {
        let out = fib(&c);
        fails_with(&out, &["out.npy", "existing folder"], &[]);
    }
    assert!(names(&dir).is_empty(), "no TIFF slices inside out.npy/");
}

fn workflow(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn a_workflow_writing_into_its_input_is_refused_by_check_and_run() {
    let d = tempfile::tempdir().unwrap();
    fibstack::io::write_volume(&d.path().join("in.tif"), &vol_u16(3, 6, 6)).unwrap();
    fibstack::io::write_volume(&d.path().join("slices"), &vol_u16(3, 6, 6)).unwrap();
    let steps = "[[steps]]\nkind = \"convert\"\npath = \"volume.tif\"\n";
    let cases = [
        // output = "." beside path = "in.tif": the run would overwrite the input folder
        ("dot.toml", format!("output = \".\"\n[input]\npath = \"in.tif\"\nvoxel_nm = [20, 5, 5]\n{steps}")),
        // the output folder is the input folder (the next run would read volume.tif as a slice)
        ("same.toml", format!("output = \"slices\"\n[input]\npath = \"slices\"\nvoxel_nm = [20, 5, 5]\n{steps}")),
        // the output folder inside the input folder
        ("inside.toml", format!("output = \"slices/results\"\n[input]\npath = \"slices\"\nvoxel_nm = [20, 5, 5]\n{steps}")),
    ];
    for (name, text) in &cases {
        let w = workflow(d.path(), name, text);
        let before = snapshot(d.path());
        let check = fib(&["run", s(&w), "--check"]);
        fails_with(&check, &[name, "output", "input"], &[]);
        let run = fib(&["run", s(&w)]);
        fails_with(&run, &[name, "choose an output outside the input"], &[]);
        assert_eq!(snapshot(d.path()), before, "{name}: nothing written");
    }
    // `--out` is checked the same way
    let w = workflow(
        d.path(),
        "ok.toml",
        &format!("output = \"res\"\n[input]\npath = \"slices\"\nvoxel_nm = [20, 5, 5]\n{steps}"),
    );
    let run = fib(&["run", s(&w), "--out", s(&d.path().join("slices"))]);
    fails_with(&run, &["--out"], &[]);
}

#[test]
fn a_failed_rerun_leaves_the_previous_outputs_as_they_were() {
    let d = tempfile::tempdir().unwrap();
    fibstack::io::write_volume(&d.path().join("in.tif"), &vol_u16(4, 8, 8)).unwrap();
    let good = workflow(
        d.path(),
        "w.toml",
        "output = \"out\"\n[input]\npath = \"in.tif\"\nvoxel_nm = [20, 5, 5]\n\
         [[steps]]\nkind = \"convert\"\npath = \"volume.tif\"\n\
         [[steps]]\nkind = \"crop\"\nz = [0, 2]\n",
    );
    ok(&fib(&["run", s(&good)]));
    let out = d.path().join("out");
    let first = snapshot(&out);
    assert!(out.join("results.json").exists());
    // a second version writes another file, then fails at run time (crop beyond the volume)
    workflow(
        d.path(),
        "w.toml",
        "output = \"out\"\n[input]\npath = \"in.tif\"\nvoxel_nm = [20, 5, 5]\n\
         [[steps]]\nkind = \"convert\"\npath = \"other.tif\"\n\
         [[steps]]\nkind = \"crop\"\nz = [0, 99]\n",
    );
    let r = fib(&["run", s(&good)]);
    fails_with(&r, &["z"], &[]);
    assert_eq!(
        snapshot(&out),
        first,
        "previous outputs intact, nothing added"
    );
    assert!(temps_in(d.path()).is_empty() && temps_in(&out).is_empty());
    // a successful re-run replaces what the earlier run wrote (its volume.tif is gone)
    workflow(
        d.path(),
        "w.toml",
        "output = \"out\"\n[input]\npath = \"in.tif\"\nvoxel_nm = [20, 5, 5]\n\
         [[steps]]\nkind = \"convert\"\npath = \"other.tif\"\n",
    );
    std::fs::write(out.join("my-notes.txt"), b"mine").unwrap();
    ok(&fib(&["run", s(&good)]));
    assert_eq!(
        names(&out),
        [
            "my-notes.txt",
            "other.tif",
            "provenance.json",
            "results.json"
        ]
    );
}

// ---------------------------------------------------------------------- signals and leftovers

fn long_input(dir: &Path) -> PathBuf {
    let p = dir.join("big.tif");
    let v = fibstack::GreyVolume::from_u16(
        ndarray::Array3::from_shape_fn((160, 512, 512), |(z, y, x)| {
            ((z + y * 3 + x) % 4096) as u16
        }),
        fibstack::volume::VoxelSize::new(
            [20.0, 5.0, 5.0],
            fibstack::volume::VoxelSource::CommandLine,
        ),
    );
    fibstack::io::write_volume(&p, &v).unwrap();
    p
}

#[test]
fn sigint_and_sigterm_during_denoise_leave_no_temporary_file() {
    let d = tempfile::tempdir().unwrap();
    let inp = long_input(d.path());
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        for out_name in ["out.tif", "outdir"] {
            let out = d.path().join(out_name);
            let mut child = bin()
                .args(["denoise", s(&inp), s(&out), "--sigma", "40", "-q"])
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // wait until the temporary output exists, then interrupt
            let t0 = std::time::Instant::now();
            let mut seen = false;
            while t0.elapsed().as_secs() < 60 {
                if !temps_in(d.path()).is_empty() {
                    seen = true;
                    break;
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            assert!(seen, "no temporary output appeared (run too short?)");
            std::thread::sleep(std::time::Duration::from_millis(50));
            // SAFETY: sending a signal to our own child.
            unsafe {
                libc::kill(child.id() as i32, sig);
            }
            let st = child.wait().unwrap();
            if st.success() {
                // finished before the signal arrived: nothing to check for this round
                let _ = std::fs::remove_dir_all(&out);
                let _ = std::fs::remove_file(&out);
                continue;
            }
            assert_eq!(st.code(), Some(code), "exit status after signal {sig}");
            assert!(temps_in(d.path()).is_empty(), "{:?}", temps_in(d.path()));
            assert!(!out.exists(), "no half-written output");
        }
    }
}

#[test]
fn temporary_files_of_dead_processes_are_removed_at_the_next_start() {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in.tif");
    fibstack::io::write_volume(&inp, &vol_u16(3, 6, 6)).unwrap();
    let out = d.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // what an aborted or killed run leaves: a 0-byte temp file, a temp slice folder
    let dead = 999_999_999u32;
    let f = out.join(format!(".volume.tif.fibstack-tmp-{dead}"));
    std::fs::write(&f, b"").unwrap();
    let g = out.join(format!(".slices.fibstack-tmp-{}", dead + 1));
    std::fs::create_dir(&g).unwrap();
    std::fs::write(g.join("slice_0000.tif"), b"partial").unwrap();
    // and one of a process that still runs (this test): left alone
    let live = out.join(format!(".x.tif.fibstack-tmp-{}", std::process::id()));
    std::fs::write(&live, b"").unwrap();
    ok(&fib(&["convert", s(&inp), s(&out.join("volume.tif"))]));
    assert!(!f.exists() && !g.exists(), "{:?}", names(&out));
    assert!(live.exists());
    assert!(out.join("volume.tif").exists());
}
