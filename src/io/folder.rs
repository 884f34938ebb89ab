//! A folder of per-slice 2-D TIFFs (Auto Slice & View): natural sort, glob, slice range.

use super::tiff::{calibrate, read_pages, stack_pages, Page, TiffPages};
use super::{check_budget, IoError, ReadOptions};
use crate::volume::GreyVolume;
use rayon::prelude::*;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// Compare names so that `slice_2` sorts before `slice_10` (digit runs compare as numbers).
///
/// ```
/// use fibstack::io::folder::natural_cmp;
/// let mut v = vec!["slice_10.tif", "slice_2.tif", "slice_1.tif"];
/// v.sort_by(|a, b| natural_cmp(a, b));
/// assert_eq!(v, ["slice_1.tif", "slice_2.tif", "slice_10.tif"]);
/// ```
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() && !b.is_empty() {
        if a[0].is_ascii_digit() && b[0].is_ascii_digit() {
            let ea = a
                .iter()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(a.len());
            let eb = b
                .iter()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(b.len());
            let (da, db) = (trim_zeros(&a[..ea]), trim_zeros(&b[..eb]));
            let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
            a = &a[ea..];
            b = &b[eb..];
        } else {
            let ord = a[0].to_ascii_lowercase().cmp(&b[0].to_ascii_lowercase());
            if ord != Ordering::Equal {
                return ord;
            }
            a = &a[1..];
            b = &b[1..];
        }
    }
    a.len().cmp(&b.len())
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let i = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[i..]
}

/// Match a file name against a glob with `*` and `?` (case-sensitive).
///
/// ```
/// assert!(fibstack::io::folder::glob_match("slice_*.tif", "slice_0001.tif"));
/// assert!(!fibstack::io::folder::glob_match("slice_?.tif", "slice_10.tif"));
/// ```
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn is_tiff(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"))
        .unwrap_or(false)
}

/// The slice files a folder read would use, in z order, plus notes on ignored entries.
pub fn list_slices(dir: &Path, opts: &ReadOptions) -> Result<(Vec<PathBuf>, Vec<String>), IoError> {
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| IoError::os(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| IoError::os(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() || name.starts_with('.') {
            continue;
        }
        if !is_tiff(&path) {
            ignored.push(name);
            continue;
        }
        if let Some(p) = &opts.pattern {
            if !glob_match(p, &name) {
                continue;
            }
        }
        files.push((name, path));
    }
    files.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    let mut notes = Vec::new();
    if !ignored.is_empty() {
        ignored.sort();
        notes.push(format!(
            "ignored {} non-TIFF file(s) in {}: {}",
            ignored.len(),
            dir.display(),
            ignored
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if files.is_empty() {
        let detail = match (&opts.pattern, ignored.len()) {
            (Some(p), _) => format!(" matching {p:?}"),
            (None, 0) => String::new(),
            (None, n) => format!(" ({n} non-TIFF file(s) ignored)"),
        };
        return Err(IoError::EmptyFolder {
            path: dir.to_path_buf(),
            detail,
        });
    }
    let n = files.len();
    let files: Vec<PathBuf> = match opts.slices {
        Some(r) => {
            let (a, b) = super::slice_range(dir, r, n)?;
            files.into_iter().skip(a).take(b - a).map(|f| f.1).collect()
        }
        None => files.into_iter().map(|f| f.1).collect(),
    };
    Ok((files, notes))
}

/// Read the one image of a slice file of a folder; a multi-page TIFF there is refused (a folder
/// read would otherwise keep only its first page). `dir` names the folder in the message.
pub(crate) fn read_slice_file(
    dir: &Path,
    file: &Path,
    opts: &ReadOptions,
) -> Result<TiffPages, IoError> {
    let tp = read_pages(file, opts, Some((0, 1)))?;
    if tp.more_pages {
        return Err(IoError::invalid(
            file,
            format!(
                "multi-page TIFF inside the slice folder {}: a slice folder holds one image per file; read this file on its own, or move it out of the folder (or select the slices with --pattern)",
                dir.display()
            ),
        ));
    }
    Ok(tp)
}

/// Read a folder of 2-D TIFF slices into a volume. Slices must agree in size and type.
pub fn read_folder(
    dir: &Path,
    opts: &ReadOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<GreyVolume, IoError> {
    let (files, notes) = list_slices(dir, opts)?;
    // read the first slice alone: it fixes size, type and metadata
    let per_file = ReadOptions {
        slices: None,
        ..opts.clone()
    };
    let first = read_slice_file(dir, &files[0], &per_file)?;
    let page_bytes = (first.dims[0] * first.dims[1] * first.pages[0].page_type().bytes()) as u64;
    let total = page_bytes.saturating_mul(files.len() as u64);
    check_budget(
        dir,
        format!("{} x {} x {}", files.len(), first.dims[0], first.dims[1]),
        total,
        opts.max_bytes,
    )?;
    progress.start("reading slices", files.len() as u64);
    let ty = first.pages[0].page_type();
    let rest: Result<Vec<Page>, IoError> = files[1..]
        .par_iter()
        .map(|f| {
            let tp = read_slice_file(dir, f, &per_file)?;
            progress.inc(1);
            let p = tp
                .pages
                .into_iter()
                .next()
                .ok_or_else(|| IoError::invalid(f, "no page"))?;
            if tp.dims != first.dims || p.page_type() != ty {
                return Err(IoError::SliceMismatch {
                    first: files[0].clone(),
                    file: f.clone(),
                    expected: format!("{}x{} {}", first.dims[1], first.dims[0], ty.as_str()),
                    found: format!("{}x{} {}", tp.dims[1], tp.dims[0], p.page_type().as_str()),
                });
            }
            Ok(p)
        })
        .collect();
    progress.finish();
    let mut pages = vec![];
    let info = first.info;
    pages.extend(first.pages);
    pages.extend(rest?);
    let data = stack_pages(dir, pages, first.dims)?;
    let mut meta = info.meta.clone();
    let z = folder_z_positions(&files);
    let voxel = calibrate(
        &info,
        [1, first.full_dims[0], first.full_dims[1]],
        opts,
        z.as_deref(),
        &mut meta,
    );
    meta.slice_thickness_nm = info.spacing_nm;
    meta.warnings.extend(notes);
    meta.source_files = files;
    Ok(GreyVolume { data, voxel, meta })
}

/// z positions (nm) of the slices of a folder from their file names
/// (`slice_00596_z=5.9104um.tif`) or, failing that, each file's ImageJ slice label (Zeiss
/// Atlas 3D re-saved by ImageJ). `None` unless every file has one.
pub fn folder_z_positions(files: &[PathBuf]) -> Option<Vec<f64>> {
    if files.len() < 2 {
        return None;
    }
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            let n = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if super::meta::atlas_z_nm(&n).is_some() {
                n
            } else {
                super::tiff::imagej_slice_labels(f)
                    .into_iter()
                    .next()
                    .unwrap_or(n)
            }
        })
        .collect();
    super::tiff::z_positions(names.iter().map(|s| s.as_str()))
}
