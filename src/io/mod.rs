//! Readers and writers by format. No algorithm code here.
//!
//! Entry points: [`read_volume`] / [`read_labels`] (dispatch on folder / extension) and
//! [`write_volume`] / [`write_labels`] (dispatch on the output extension). Every writer goes
//! through [`atomic::write_atomic`]: a temporary file in the target folder renamed into place.

pub mod atomic;
pub mod folder;
pub mod ints;
pub mod meta;
pub mod npy;
pub mod png;
pub mod raw;
pub mod stream;
pub mod tiff;
pub mod vti;

use crate::volume::{GreyData, GreyVolume, LabelVolume};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors from reading or writing files. Every message names the file and says what to do.
#[derive(Debug, Error)]
pub enum IoError {
    #[error("{path}: {source} (check that the path exists and is readable/writable)")]
    Os {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable TIFF ({detail}); the file may be truncated or corrupt — re-export it")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: unsupported sample format {format}; convert it to 8/16-bit grey or 32-bit float (e.g. Fiji: Image › Type)")]
    Unsupported { path: PathBuf, format: String },
    #[error("{path}: image of {shape} would need {bytes} bytes, more than the limit of {limit} bytes; crop it (--crop/--slices) or raise --max-memory")]
    TooLarge {
        path: PathBuf,
        shape: String,
        bytes: u64,
        limit: u64,
    },
    #[error("{path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("{first}: slice is {expected}, but {file} is {found}; all slices must share size and type (remove or re-export that file, or use --pattern)")]
    SliceMismatch {
        first: PathBuf,
        file: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path}: folder holds no TIFF slices{detail}; point to a folder of .tif files or set --pattern")]
    EmptyFolder { path: PathBuf, detail: String },
    #[error(
        "{path}: unknown file type '{ext}'; use .tif/.tiff, .npy, .raw (with --raw), .vti or .png"
    )]
    UnknownFormat { path: PathBuf, ext: String },
}

impl IoError {
    pub(crate) fn os(path: &Path, source: std::io::Error) -> Self {
        IoError::Os {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn invalid(path: &Path, detail: impl Into<String>) -> Self {
        IoError::Invalid {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// Options for reading.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// For folders: only files whose name matches this glob (`*`, `?`).
    pub pattern: Option<String>,
    /// Keep slices `start..end` (end exclusive) after sorting.
    pub slices: Option<(usize, usize)>,
    /// Crop `[y0, x0, height, width]` in pixels, applied after the data bar is removed.
    pub crop: Option<[usize; 4]>,
    /// Remove the instrument data bar when the metadata gives its height (default true).
    pub crop_databar: bool,
    /// Layout of a raw binary file (required for `.raw`/`.bin`).
    pub raw: Option<RawSpec>,
    /// Refuse to allocate more than this many bytes for the volume.
    pub max_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            pattern: None,
            slices: None,
            crop: None,
            crop_databar: true,
            raw: None,
            max_bytes: 16 << 30,
        }
    }
}

/// Layout of a raw binary volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawSpec {
    /// `[nz, ny, nx]`.
    pub shape: [usize; 3],
    pub sample: crate::volume::SampleType,
    pub little_endian: bool,
    /// Bytes to skip at the start of the file.
    pub header_bytes: u64,
}

/// Format of a path, from its extension (or a folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Folder,
    Tiff,
    Npy,
    Raw,
    Vti,
    Png,
}

impl Format {
    /// Decide the format of `path` (folders are recognised by existing as a directory, or by a
    /// trailing `/` or no extension for outputs).
    pub fn of(path: &Path) -> Result<Format, IoError> {
        if path.is_dir() {
            return Ok(Format::Folder);
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(match ext.as_str() {
            "tif" | "tiff" => Format::Tiff,
            "npy" => Format::Npy,
            "raw" | "bin" => Format::Raw,
            "vti" => Format::Vti,
            "png" => Format::Png,
            "" => Format::Folder,
            _ => {
                return Err(IoError::UnknownFormat {
                    path: path.to_path_buf(),
                    ext,
                })
            }
        })
    }
}

/// The slices `a..b` of `n`, checked: the range must lie inside `0..n` (an open end, `b =
/// usize::MAX` as `--slices A..` gives, means "to the last slice"). Never clamped: a range
/// beyond the data is an error naming both.
///
/// ```
/// use std::path::Path;
/// use fibstack::io::slice_range;
/// assert_eq!(slice_range(Path::new("s"), (2, 5), 8).unwrap(), (2, 5));
/// assert_eq!(slice_range(Path::new("s"), (2, usize::MAX), 8).unwrap(), (2, 8));
/// let e = slice_range(Path::new("s"), (0, 500), 8).unwrap_err();
/// assert!(e.to_string().contains("0..500") && e.to_string().contains("8 slices"));
/// ```
pub fn slice_range(
    path: &Path,
    (a, b): (usize, usize),
    n: usize,
) -> Result<(usize, usize), IoError> {
    let end = if b == usize::MAX { n } else { b };
    if a < end && end <= n {
        return Ok((a, end));
    }
    let shown = if b == usize::MAX {
        format!("{a}..")
    } else {
        format!("{a}..{b}")
    };
    Err(IoError::invalid(
        path,
        format!("slice range {shown} does not fit the {n} slices; use a range inside 0..{n} (the end is exclusive)"),
    ))
}

/// Keep slices and crop a volume already in memory (readers without native sub-reading).
pub(crate) fn apply_slices_crop(
    path: &Path,
    vol: &mut GreyVolume,
    opts: &ReadOptions,
) -> Result<(), IoError> {
    use ndarray::s;
    let [nz, ny, nx] = vol.shape();
    let (z0, z1) = match opts.slices {
        Some(r) => slice_range(path, r, nz)?,
        None => (0, nz),
    };
    let [y0, x0, h, w] = opts.crop.unwrap_or([0, 0, ny, nx]);
    if h == 0 || w == 0 || y0 + h > ny || x0 + w > nx {
        return Err(IoError::invalid(
            path,
            format!("crop y0={y0},x0={x0},h={h},w={w} lies outside the {nx}x{ny} image; choose a rectangle inside it"),
        ));
    }
    if (z0, z1, y0, x0, h, w) == (0, nz, 0, 0, ny, nx) {
        return Ok(());
    }
    let sl = s![z0..z1, y0..y0 + h, x0..x0 + w];
    vol.data = match &vol.data {
        GreyData::U8(a) => GreyData::U8(a.slice(sl).to_owned()),
        GreyData::U16(a) => GreyData::U16(a.slice(sl).to_owned()),
        GreyData::F32(a) => GreyData::F32(a.slice(sl).to_owned()),
    };
    Ok(())
}

/// Read a grey volume from a folder of slices, a (multi-page) TIFF, `.npy`, raw, `.vti` or PNG.
///
/// A single 2-D image is a one-slice volume. Voxel size comes from the file where it says so
/// (source `File`), otherwise it is the uncalibrated default and a warning says so.
pub fn read_volume(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    read_volume_with_progress(path, opts, &crate::progress::Silent)
}

/// [`read_volume`] reporting progress for folders.
pub fn read_volume_with_progress(
    path: &Path,
    opts: &ReadOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<GreyVolume, IoError> {
    if !path.exists() {
        return Err(IoError::os(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    let mut vol =
        match Format::of(path)? {
            Format::Folder => folder::read_folder(path, opts, progress)?,
            Format::Tiff => tiff::read_tiff(path, opts)?,
            Format::Npy => npy::read_npy(path, opts)?,
            Format::Raw => match &opts.raw {
                Some(spec) => raw::read_raw(path, spec, opts)?,
                None => return Err(IoError::invalid(
                    path,
                    "raw binary needs its layout: give --raw NZ,NY,NX,TYPE[,le|be][,HEADER_BYTES]",
                )),
            },
            Format::Vti => {
                let mut v = vti::read_vti(path)?;
                apply_slices_crop(path, &mut v, opts)?;
                v
            }
            Format::Png => {
                let mut v = png::read_png(path)?;
                apply_slices_crop(path, &mut v, opts)?;
                v
            }
        };
    let nz = vol.shape()[0];
    settle_calibration(&mut vol.voxel, nz, &mut vol.meta.warnings);
    Ok(vol)
}

/// What every reader's calibration passes through: values from the file outside the plausible
/// FIB-SEM ranges become unknown ([`crate::volume::VoxelSize::drop_implausible`]), then a warning
/// says which axes are unknown.
pub fn settle_calibration(
    voxel: &mut crate::volume::VoxelSize,
    nz: usize,
    warnings: &mut Vec<String>,
) {
    warnings.extend(voxel.drop_implausible());
    calibration_warnings(voxel, nz, warnings);
}

/// After the voxel size was overridden (command line, workflow): drop the reader's calibration
/// warnings that no longer apply and say again what is still unknown.
pub fn refresh_calibration_warnings(
    voxel: &crate::volume::VoxelSize,
    nz: usize,
    warnings: &mut Vec<String>,
) {
    let known: Vec<&str> = crate::volume::AXIS_NAMES
        .iter()
        .zip(voxel.source.iter())
        .filter(|(_, s)| **s != crate::volume::VoxelSource::Default)
        .map(|(n, _)| *n)
        .collect();
    warnings.retain(|w| {
        !(w.starts_with(NOTE_DZ)
            || w.starts_with(NOTE_VOXEL)
            || (w.contains("is implausible for FIB-SEM")
                && known.iter().any(|a| w.starts_with(&format!("{a} = ")))))
    });
    calibration_warnings(voxel, nz, warnings);
}

const NOTE_DZ: &str = "slice thickness (dz) unknown";
const NOTE_VOXEL: &str = "voxel size unknown (";

/// The warning a reader adds when the voxel size is not (fully) known.
pub(crate) fn calibration_warnings(
    voxel: &crate::volume::VoxelSize,
    nz: usize,
    warnings: &mut Vec<String>,
) {
    if voxel.is_calibrated() {
        return;
    }
    let missing = voxel.uncalibrated_axes();
    let only_dz = missing == ["dz"];
    if only_dz && nz > 1 {
        warnings.push(format!("{NOTE_DZ}: give --voxel DZ,_,_ (nm) or `slice_thickness_nm` in the workflow; metrics that need lengths refuse the volume until then (or measure in voxels with --allow-uncalibrated)"));
    } else if !only_dz {
        warnings.push(format!(
            "{NOTE_VOXEL}{}): give --voxel DZ,DY,DX (nm); metrics that need lengths refuse the volume until then (or measure in voxels with --allow-uncalibrated)",
            missing.join(", ")
        ));
    }
}

/// Read a label volume (any reader; values must be integers 0..=255).
pub fn read_labels(path: &Path, opts: &ReadOptions) -> Result<LabelVolume, IoError> {
    let g = read_volume(path, opts)?;
    LabelVolume::from_grey(g).map_err(|e| IoError::invalid(path, e.to_string()))
}

/// Write a grey volume; the format follows the extension (`.tif`, `.tiff`, `.npy`, `.vti`, `.raw`
/// (little-endian), `.png` = orthogonal views). A path without extension is a folder of per-slice
/// TIFFs (`slice_0000.tif` …).
pub fn write_volume(path: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    let [nz, ny, nx] = vol.shape();
    if nz * ny * nx == 0 {
        return Err(IoError::invalid(path, "cannot write an empty volume"));
    }
    match Format::of(path)? {
        Format::Tiff => tiff::write_tiff(path, vol, &tiff::TiffWriteOptions::default()),
        Format::Npy => npy::write_npy(path, vol),
        Format::Raw => raw::write_raw(path, vol, true),
        Format::Vti => vti::write_vti(path, vol, "values"),
        Format::Png => png::write_ortho(path, vol),
        Format::Folder => write_folder(path, vol),
    }
}

/// Write one TIFF per slice into `dir` (created), named `slice_0000.tif` …; each file is atomic.
pub fn write_folder(dir: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    std::fs::create_dir_all(dir).map_err(|e| IoError::os(dir, e))?;
    let nz = vol.shape()[0];
    let width = nz.saturating_sub(1).to_string().len().max(4);
    for z in 0..nz {
        let one = slice_volume(vol, z);
        let p = dir.join(format!("slice_{z:0width$}.tif"));
        tiff::write_tiff(&p, &one, &tiff::TiffWriteOptions::default())?;
    }
    Ok(())
}

/// A one-slice copy of slice `z`.
pub fn slice_volume(vol: &GreyVolume, z: usize) -> GreyVolume {
    use ndarray::s;
    let data = match &vol.data {
        GreyData::U8(a) => GreyData::U8(a.slice(s![z..z + 1, .., ..]).to_owned()),
        GreyData::U16(a) => GreyData::U16(a.slice(s![z..z + 1, .., ..]).to_owned()),
        GreyData::F32(a) => GreyData::F32(a.slice(s![z..z + 1, .., ..]).to_owned()),
    };
    GreyVolume {
        data,
        voxel: vol.voxel,
        meta: vol.meta.clone(),
    }
}

/// Write a label volume (as u8), format by extension.
pub fn write_labels(path: &Path, labels: &LabelVolume) -> Result<(), IoError> {
    write_volume(path, &labels.to_grey())
}
