//! Shared by the `trust_*` tests (issue "refuse to guess"): run the binary, check one-line errors,
//! write small inputs.
#![allow(dead_code)]

use fibstack::volume::{GreyVolume, LabelVolume, VoxelSize, VoxelSource};
use ndarray::Array3;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real binary with `args`.
pub fn fib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

/// `fib`, killed after `secs` seconds: `None` when it had to be killed (a hang).
pub fn fib_timeout(args: &[&str], secs: u64) -> Option<Output> {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fibstack");
    let t0 = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        if t0.elapsed().as_secs() >= secs {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `fib` with a working directory.
pub fn fib_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run fibstack")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit code 1 with exactly one `error:` line containing every needle, no panic.
pub fn fails_with(out: &Output, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "expected exit 1, stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {:?}", lines[0]);
    }
    lines[0].to_string()
}

/// Asserts success and returns stdout parsed as JSON.
pub fn ok_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Calibrated voxel `[dz, dy, dx]` nm.
pub fn vox(nm: [f64; 3]) -> VoxelSize {
    VoxelSize::new(nm, VoxelSource::CommandLine)
}

/// Pixel size known, slice thickness unknown (what a folder of SEM images without dz gives).
pub fn vox_no_dz(pixel_nm: f64) -> VoxelSize {
    let mut v = VoxelSize::new([1.0, pixel_nm, pixel_nm], VoxelSource::File);
    v.source[0] = VoxelSource::Default;
    v
}

/// Two phases: label 1 = straight channels along every axis crossing, label 0 = the rest.
pub fn channels(shape: (usize, usize, usize)) -> Array3<u8> {
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let a = (y % 6) < 3 && (x % 6) < 3;
        let b = (z % 6) < 3 && (x % 6) < 3;
        let c = (z % 6) < 3 && (y % 6) < 3;
        u8::from(a || b || c)
    })
}

/// Write labels (format by extension; a path without extension = folder of slices).
pub fn write_labels(path: &Path, a: &Array3<u8>, voxel: VoxelSize) -> String {
    fibstack::io::write_labels(path, &LabelVolume::new(a.clone(), voxel)).unwrap();
    path.to_str().unwrap().to_string()
}

/// A grey stack where label 1 of `channels` is bright (200) and the rest dark (50), with a
/// little deterministic texture.
pub fn grey_of(a: &Array3<u8>) -> Array3<u8> {
    Array3::from_shape_fn(a.dim(), |(z, y, x)| {
        let t = ((z * 7 + y * 3 + x * 5) % 11) as u8;
        if a[[z, y, x]] == 1 {
            195 + t
        } else {
            45 + t
        }
    })
}

pub fn write_grey(path: &Path, a: Array3<u8>, voxel: VoxelSize) -> String {
    fibstack::io::write_volume(path, &GreyVolume::from_u8(a, voxel)).unwrap();
    path.to_str().unwrap().to_string()
}

/// A workflow file `w.toml` in `dir` with `text`; returns its path.
pub fn workflow(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("w.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Shared data (../shared/data/…) or `None` with a note when it is absent.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} not found (shared data absent)", p.display());
        None
    }
}

/// A `.npy` file of `descr` (e.g. `<i4`) with raw little-endian sample bytes.
pub fn write_npy_raw(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let sh = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {sh}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

/// A minimal little-endian single-strip, single-page TIFF (any bits/sample format).
pub fn tiny_tiff(path: &Path, w: u32, h: u32, bps: u16, sample_format: u16, data: &[u8]) {
    std::fs::write(
        path,
        tiff_bytes(&[(w, h, bps, sample_format, data.to_vec())]),
    )
    .unwrap();
}

/// Bytes of a little-endian TIFF with one grey strip per page `(w, h, bps, sample_format, data)`.
pub fn tiff_bytes(pages: &[(u32, u32, u16, u16, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"II");
    b.extend_from_slice(&42u16.to_le_bytes());
    b.extend_from_slice(&8u32.to_le_bytes());
    for (k, (w, h, bps, sf, data)) in pages.iter().enumerate() {
        let entries: Vec<(u16, u16, u32)> = vec![
            (256, 4, *w),
            (257, 4, *h),
            (258, 3, *bps as u32),
            (259, 3, 1),
            (262, 3, 1),
            (273, 4, 0), // patched
            (277, 3, 1),
            (278, 4, *h),
            (279, 4, data.len() as u32),
            (339, 3, *sf as u32),
        ];
        let ifd_off = b.len() as u32;
        let ifd_len = 2 + 12 * entries.len() as u32 + 4;
        let data_off = ifd_off + ifd_len;
        let next = if k + 1 < pages.len() {
            data_off + data.len() as u32
        } else {
            0
        };
        b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, typ, val) in entries {
            let val = if tag == 273 { data_off } else { val };
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&typ.to_le_bytes());
            b.extend_from_slice(&1u32.to_le_bytes());
            if typ == 3 {
                b.extend_from_slice(&(val as u16).to_le_bytes());
                b.extend_from_slice(&[0, 0]);
            } else {
                b.extend_from_slice(&val.to_le_bytes());
            }
        }
        b.extend_from_slice(&next.to_le_bytes());
        b.extend_from_slice(data);
    }
    b
}
