//! Readers and writers by format. No algorithm code here.
//!
//! Entry points: [`read_volume`] / [`read_labels`] (dispatch on folder / extension) and
//! [`write_volume`] / [`write_labels`] (dispatch on the output extension). Every writer goes
//! through [`atomic::write_atomic`]: a temporary file in the target folder renamed into place.

pub mod atomic;
pub mod tiff;

use crate::volume::{GreyVolume, LabelVolume};
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

/// Read a grey volume from a folder of slices, a (multi-page) TIFF, `.npy`, raw or PNG.
pub fn read_volume(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    let _ = (path, opts);
    todo!("foundation issue: io::read_volume")
}

/// Read a label volume (any reader; values must be integers 0..=255).
pub fn read_labels(path: &Path, opts: &ReadOptions) -> Result<LabelVolume, IoError> {
    let g = read_volume(path, opts)?;
    LabelVolume::from_grey(g).map_err(|e| IoError::invalid(path, e.to_string()))
}

/// Write a grey volume; the format follows the extension (`.tif`, `.tiff`, `.npy`, `.vti`,
/// `.png` = orthogonal views).
pub fn write_volume(path: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    let _ = (path, vol);
    todo!("foundation issue: io::write_volume")
}

/// Write a label volume (as u8), format by extension.
pub fn write_labels(path: &Path, labels: &LabelVolume) -> Result<(), IoError> {
    write_volume(path, &labels.to_grey())
}
