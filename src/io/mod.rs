//! Readers and writers by format. No algorithm code here.
//!
//! Entry points: [`read_volume`] / [`read_labels`] (dispatch on folder / extension) and
//! [`write_volume`] / [`write_labels`] (dispatch on the output extension). Every writer goes
//! through [`atomic::write_atomic`]: a temporary file in the target folder renamed into place.

pub mod amira;
pub mod atomic;
pub mod folder;
pub mod fuzz;
#[cfg(feature = "hdf5")]
pub mod hdf5;
pub mod ints;
pub mod meta;
pub mod mrc;
pub mod npy;
pub mod ome;
pub mod png;
pub mod raw;
pub mod stream;
pub(crate) mod strips;
pub mod tiff;
pub mod tiff_scan;
pub mod vti;
#[cfg(feature = "zarr")]
pub mod zarr;

use crate::volume::{GreyData, GreyVolume, LabelVolume};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors from reading or writing files. Every message names the file and says what to do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IoError {
    /// The operating system refused to open, read or write the file (missing, no permission,
    /// disk full).
    #[error("{path}: {source} (check that the path exists and is readable/writable)")]
    Os {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file is damaged or not a valid file of the type its name says.
    #[error("{path}: damaged or not a valid file of its type ({detail}); the file may be truncated or corrupt — re-export it")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong, as found by the decoder.
        detail: String,
    },
    /// The file is valid but stores samples fibstack cannot read (e.g. 64-bit or signed
    /// integers).
    #[error("{path}: unsupported sample format {format}; convert it to 8/16-bit grey or 32-bit float (e.g. Fiji: Image › Type)")]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// The sample format found (and what to do about it), as text.
        format: String,
    },
    /// Reading the image would hold more memory than the budget allows (see [`check_budget`]).
    #[error("{path}: image of {shape} would need {bytes} bytes ({}), more than the limit of {limit} bytes ({}); crop it (--crop/--slices) or raise --max-memory", gib(*bytes), gib(*limit))]
    TooLarge {
        /// The file concerned.
        path: PathBuf,
        /// The image shape, as text for the message (e.g. `"512 x 1024 x 1024"`).
        shape: String,
        /// Bytes the read would hold.
        bytes: u64,
        /// The memory budget (bytes).
        limit: u64,
    },
    /// The file or the options given for it are invalid in a way the message explains.
    #[error("{path}: {detail}")]
    Invalid {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// The slices of a folder stack differ in size or sample type.
    #[error("{first}: slice is {expected}, but {file} is {found}; all slices must share size and type (remove or re-export that file, or use --pattern)")]
    SliceMismatch {
        /// The first slice, whose size and type the others must match.
        first: PathBuf,
        /// The slice that differs.
        file: PathBuf,
        /// Width x height and sample type of the first slice, as text (e.g. `"1024x768 u8"`).
        expected: String,
        /// Size and type of the differing slice, as text.
        found: String,
    },
    /// A folder given as a stack holds no TIFF slices (that match the pattern).
    #[error("{path}: folder holds no TIFF slices{detail}; point to a folder of .tif files or set --pattern")]
    EmptyFolder {
        /// The folder concerned.
        path: PathBuf,
        /// Extra context for the message (e.g. the pattern used); may be empty.
        detail: String,
    },
    /// The file extension names no format fibstack reads or writes.
    #[error(
        "{path}: unknown file type '{ext}'; use .tif/.tiff, .ome.tif, .mrc/.rec/.st/.map, .am, .h5 (feature hdf5), .zarr (feature zarr), .npy, .raw (with --raw), .vti or .png"
    )]
    UnknownFormat {
        /// The file concerned.
        path: PathBuf,
        /// The extension found (lower case, without the dot).
        ext: String,
    },
    /// The header declares more data than the file holds.
    #[error("{path}: header says {what} needs {declared} bytes of data from byte {offset}, but the file has {file_len} bytes; the file is truncated or the header corrupt — re-export it")]
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// What the header describes (e.g. `"64 x 64 x 10 byte (raw)"`).
        what: String,
        /// Bytes of data the header declares.
        declared: u64,
        /// Byte offset where the data starts.
        offset: u64,
        /// Actual file length (bytes).
        file_len: u64,
    },
    /// The format is known but its support was not compiled into this build.
    #[error("{path}: {format} support is not built in; rebuild with `cargo build --release --features {feature}` (needs {needs})")]
    FeatureMissing {
        /// The file concerned.
        path: PathBuf,
        /// The format's name (e.g. `"HDF5"`).
        format: String,
        /// The cargo feature that enables it (e.g. `"hdf5"`).
        feature: String,
        /// What that feature needs at build time (e.g. a system library).
        needs: String,
    },
}

/// Bytes as GiB text for messages.
/// The memory budget of every reader: refuse a read of `path` (an image of `shape`, printed in
/// the message) that would hold `bytes` bytes when at most `limit` are allowed.
///
/// ```
/// use std::path::Path;
/// assert!(fibstack::io::check_budget(Path::new("a.tif"), "2 x 2 x 2", 8, 8).is_ok());
/// let e = fibstack::io::check_budget(Path::new("a.tif"), "2 x 2 x 2", 9, 8).unwrap_err();
/// assert!(e.to_string().starts_with("a.tif: image of 2 x 2 x 2 would need 9 bytes"));
/// ```
pub fn check_budget(
    path: &Path,
    shape: impl Into<String>,
    bytes: u64,
    limit: u64,
) -> Result<(), IoError> {
    if bytes > limit {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            shape: shape.into(),
            bytes,
            limit,
        });
    }
    Ok(())
}

fn gib(b: u64) -> String {
    format!("{:.3} GiB", b as f64 / (1u64 << 30) as f64)
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

/// Nanometres per unit for a `--voxel-unit` / `voxel_unit` name (`nm`, `um`/`µm`, `mm`, `A`).
///
/// ```
/// assert_eq!(fibstack::io::parse_length_unit("um").unwrap(), 1000.0);
/// assert!(fibstack::io::parse_length_unit("furlong").is_err());
/// ```
pub fn parse_length_unit(s: &str) -> Result<f64, String> {
    meta::length_unit_nm(s)
        .ok_or_else(|| format!("{s:?} is not a length unit; use nm, um (µm), mm or A (ångström)"))
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
    /// Nanometres per unit for coordinates a file gives without a unit (Avizo/Amira
    /// `BoundingBox`): `--voxel-unit um` = 1000. `None`: such values are not used (a warning
    /// says how to supply the unit).
    pub length_unit_nm: Option<f64>,
    /// Channel to read from a multi-channel file (OME-TIFF `SizeC > 1`).
    pub channel: Option<usize>,
    /// Time point to read from a time series (OME-TIFF `SizeT > 1`).
    pub timepoint: Option<usize>,
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
            length_unit_nm: None,
            channel: None,
            timepoint: None,
        }
    }
}

/// Layout of a raw binary volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawSpec {
    /// `[nz, ny, nx]`.
    pub shape: [usize; 3],
    /// Sample type of every value.
    pub sample: crate::volume::SampleType,
    /// Byte order: true = little-endian (x86, most instruments), false = big-endian.
    pub little_endian: bool,
    /// Bytes to skip at the start of the file.
    pub header_bytes: u64,
}

/// Format of a path, from its extension (or a folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A folder of TIFF slices, one file per z, in natural name order.
    Folder,
    /// A (multi-page) TIFF `.tif`/`.tiff`, one page per z.
    Tiff,
    /// `.ome.tif` / `.ome.tiff` (read like any TIFF; written with OME-XML).
    OmeTiff,
    /// MRC/CCP4: `.mrc`, `.rec`, `.st`, `.map`, `.ccp4`, `.ali`.
    Mrc,
    /// AmiraMesh `.am`.
    Amira,
    /// HDF5 `.h5`/`.hdf5`/`.hdf`, with the dataset as `file.h5:/path` (feature `hdf5`).
    Hdf5,
    /// NumPy `.npy` array of shape `[z, y, x]`.
    Npy,
    /// Headerless binary `.raw`; needs a [`RawSpec`] for shape, type and byte order.
    Raw,
    /// VTK XML image data `.vti`.
    Vti,
    /// PNG `.png`: read as a one-slice volume; written as quick-look orthogonal views.
    Png,
    /// Zarr v2/v3 array or OME-Zarr image: a folder named `.zarr` or holding Zarr metadata
    /// (feature `zarr`).
    Zarr,
}

/// Whether `path` is a Zarr store folder: a folder whose name ends in `.zarr`, or one holding
/// `.zarray`, `.zgroup`, `.zattrs` or `zarr.json`.
pub fn is_zarr_dir(path: &Path) -> bool {
    path.is_dir()
        && (path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.to_ascii_lowercase().ends_with(".zarr"))
            || ["zarr.json", ".zarray", ".zgroup", ".zattrs"]
                .iter()
                .any(|f| path.join(f).is_file()))
}

/// Split `file.h5:/exported_data` into the file and the dataset path (`None` when the path has
/// no `.h5:`/`.hdf5:`/`.hdf:` part).
pub fn split_h5_path(path: &Path) -> Option<(PathBuf, String)> {
    let s = path.to_str()?;
    let lower = s.to_ascii_lowercase();
    for ext in [".h5:", ".hdf5:", ".hdf:"] {
        if let Some(i) = lower.rfind(ext) {
            let cut = i + ext.len() - 1;
            return Some((PathBuf::from(&s[..cut]), s[cut + 1..].to_string()));
        }
    }
    None
}

/// Whether the file name ends in `.ome.tif` / `.ome.tiff`.
fn is_ome_name(path: &Path) -> bool {
    let n = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    n.ends_with(".ome.tif") || n.ends_with(".ome.tiff")
}

impl Format {
    /// Decide the format of `path` (folders are recognised by existing as a directory, or by a
    /// trailing `/` or no extension for outputs).
    pub fn of(path: &Path) -> Result<Format, IoError> {
        if is_zarr_dir(path) {
            return Ok(Format::Zarr);
        }
        if path.is_dir() {
            return Ok(Format::Folder);
        }
        Format::from_name(path)
    }

    /// The format a path's name asks for (no extension: a folder of slices).
    fn from_name(path: &Path) -> Result<Format, IoError> {
        if split_h5_path(path).is_some() {
            return Ok(Format::Hdf5);
        }
        if is_ome_name(path) {
            return Ok(Format::OmeTiff);
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(match ext.as_str() {
            "tif" | "tiff" => Format::Tiff,
            "mrc" | "rec" | "st" | "map" | "ccp4" | "ali" | "mrcs" => Format::Mrc,
            "am" => Format::Amira,
            "h5" | "hdf5" | "hdf" => Format::Hdf5,
            "npy" => Format::Npy,
            "raw" | "bin" => Format::Raw,
            "vti" => Format::Vti,
            "png" => Format::Png,
            "zarr" => Format::Zarr,
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

impl Format {
    /// Decide the format of an output path from its name: the extension picks the file format, no
    /// extension means a folder of slices. Refuses an existing folder whose name has a file
    /// extension (`out.npy/`: it would silently become a folder of TIFF slices) and an existing
    /// file without extension.
    pub fn of_output(path: &Path) -> Result<Format, IoError> {
        let f = Format::from_name(path)?;
        if f == Format::Zarr {
            zarr_target(path)?;
            return Ok(f);
        }
        if f != Format::Folder && path.is_dir() {
            return Err(IoError::invalid(
                path,
                "is an existing folder, but its name asks for a single file; remove the folder or choose another output name",
            ));
        }
        if f == Format::Folder {
            atomic::check_slice_folder_target(path)?;
        }
        Ok(f)
    }
}

/// An absolute form of `p` with symbolic links of its existing part resolved and `.`/`..`
/// removed, for comparing paths that may not exist yet.
pub fn normalize_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let mut lexical = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other.as_os_str()),
        }
    }
    // canonicalise the longest existing ancestor (symbolic links), keep the rest
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    let mut cur = lexical.clone();
    loop {
        if let Ok(mut c) = cur.canonicalize() {
            for r in rest.iter().rev() {
                c.push(r);
            }
            return c;
        }
        match (cur.file_name().map(|n| n.to_os_string()), cur.parent()) {
            (Some(n), Some(parent)) => {
                rest.push(n);
                cur = parent.to_path_buf();
            }
            _ => return lexical,
        }
    }
}

/// Refuse an output that is an input, contains one (an output folder holding an input file or
/// folder) or lies inside an input folder: writing it would overwrite or delete the input, or
/// make the next read of the input folder pick up the output.
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<(), IoError> {
    let out = normalize_path(output);
    for inp in inputs {
        let i = normalize_path(inp);
        let detail = if out == i {
            Some(format!("is the input {}", inp.display()))
        } else if i.starts_with(&out) {
            Some(format!(
                "is a folder that holds the input {}; it would be replaced",
                inp.display()
            ))
        } else if out.starts_with(&i) {
            Some(format!("lies inside the input folder {}", inp.display()))
        } else {
            None
        };
        if let Some(d) = detail {
            return Err(IoError::invalid(
                output,
                format!("this output {d}; choose an output outside the input (e.g. a new folder beside it)"),
            ));
        }
    }
    Ok(())
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
    if h == 0 || w == 0 || y0.saturating_add(h) > ny || x0.saturating_add(w) > nx {
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

/// Read a grey volume from a folder of slices, a (multi-page) TIFF or OME-TIFF, MRC/CCP4,
/// AmiraMesh `.am`, HDF5 (feature `hdf5`), Zarr / OME-Zarr (feature `zarr`), `.npy`, raw,
/// `.vti` or PNG.
///
/// A single 2-D image is a one-slice volume. Voxel size comes from the file where it says so
/// (source `File`), otherwise it is the uncalibrated default and a warning says so.
///
/// ```
/// use fibstack::io::{read_volume, write_volume, ReadOptions};
/// use fibstack::volume::{GreyData, GreyVolume, VoxelSize};
/// use ndarray::Array3;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("stack.tif");
/// let grey = Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z * 12 + y * 4 + x) as u8);
/// write_volume(&path, &GreyVolume::from_u8(grey.clone(), VoxelSize::default())).unwrap();
/// let back = read_volume(&path, &ReadOptions::default()).unwrap();
/// assert_eq!(back.shape(), [2, 3, 4]);
/// assert_eq!(back.data, GreyData::U8(grey));
/// ```
pub fn read_volume(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    read_volume_with_progress(path, opts, &crate::progress::Silent)
}

/// [`read_volume`] reporting progress for folders.
pub fn read_volume_with_progress(
    path: &Path,
    opts: &ReadOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<GreyVolume, IoError> {
    let file = split_h5_path(path).map_or_else(|| path.to_path_buf(), |(f, _)| f);
    if !file.exists() {
        return Err(IoError::os(
            &file,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    let mut vol =
        match Format::of(path)? {
            Format::Folder => folder::read_folder(path, opts, progress)?,
            Format::Tiff | Format::OmeTiff => tiff::read_tiff(path, opts)?,
            Format::Mrc => {
                let mut v = mrc::read_mrc(path, opts)?;
                apply_slices_crop(path, &mut v, opts)?;
                v
            }
            Format::Amira => {
                let mut v = amira::read_amira(path, opts)?;
                apply_slices_crop(path, &mut v, opts)?;
                v
            }
            Format::Hdf5 => {
                let mut v = read_hdf5(path, opts)?;
                apply_slices_crop(path, &mut v, opts)?;
                v
            }
            Format::Npy => npy::read_npy(path, opts)?,
            Format::Raw => match &opts.raw {
                Some(spec) => raw::read_raw(path, spec, opts)?,
                None => return Err(IoError::invalid(
                    path,
                    "raw binary needs its layout: give --raw NZ,NY,NX,TYPE[,le|be][,HEADER_BYTES]",
                )),
            },
            Format::Vti => {
                let mut v = vti::read_vti_limited(path, opts.max_bytes)?;
                apply_slices_crop(path, &mut v, opts)?;
                v
            }
            Format::Png => {
                let mut v = png::read_png_limited(path, opts.max_bytes)?;
                apply_slices_crop(path, &mut v, opts)?;
                v
            }
            Format::Zarr => read_zarr(path, opts)?,
        };
    let nz = vol.shape()[0];
    settle_calibration(
        &mut vol.voxel,
        nz,
        vol.meta.container.as_deref(),
        &mut vol.meta.warnings,
    );
    Ok(vol)
}

#[cfg(feature = "zarr")]
fn read_zarr(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    zarr::read_zarr(path, opts)
}

#[cfg(not(feature = "zarr"))]
fn read_zarr(path: &Path, _opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    Err(zarr_missing(path))
}

#[cfg(feature = "zarr")]
fn zarr_target(path: &Path) -> Result<(), IoError> {
    zarr::check_zarr_target(path)
}

#[cfg(not(feature = "zarr"))]
fn zarr_target(path: &Path) -> Result<(), IoError> {
    Err(zarr_missing(path))
}

#[cfg(not(feature = "zarr"))]
fn zarr_missing(path: &Path) -> IoError {
    IoError::FeatureMissing {
        path: path.to_path_buf(),
        format: "Zarr / OME-Zarr".into(),
        feature: "zarr".into(),
        needs: "a C compiler for the zstd and blosc codecs".into(),
    }
}

#[cfg(feature = "hdf5")]
fn read_hdf5(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    hdf5::read_hdf5(path, opts)
}

#[cfg(not(feature = "hdf5"))]
fn read_hdf5(path: &Path, _opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    Err(hdf5_missing(path))
}

#[cfg(not(feature = "hdf5"))]
fn hdf5_missing(path: &Path) -> IoError {
    IoError::FeatureMissing {
        path: path.to_path_buf(),
        format: "HDF5".into(),
        feature: "hdf5".into(),
        needs: "libhdf5, e.g. `apt-get install libhdf5-dev`".into(),
    }
}

/// What every reader's calibration passes through: values from the file outside the plausible
/// ranges of the imaging kind the container implies (FIB-SEM; MRC: electron tomography) become unknown ([`crate::volume::VoxelSize::drop_implausible`]), then a warning
/// says which axes are unknown.
pub fn settle_calibration(
    voxel: &mut crate::volume::VoxelSize,
    nz: usize,
    container: Option<&str>,
    warnings: &mut Vec<String>,
) {
    let kind = crate::volume::Imaging::of_container(container);
    warnings.extend(voxel.drop_implausible_for(kind));
    calibration_warnings(voxel, nz, warnings);
}

/// Apply a calibration the user gave ([`crate::volume::VoxelSize::given`]) to a volume just read,
/// and settle the reader's calibration warnings against it; nothing changes when neither value
/// is given.
pub fn apply_given_calibration(
    vol: &mut GreyVolume,
    voxel_nm: Option<[f64; 3]>,
    slice_thickness_nm: Option<f64>,
    source: crate::volume::VoxelSource,
) {
    if voxel_nm.is_none() && slice_thickness_nm.is_none() {
        return;
    }
    vol.voxel = vol.voxel.given(voxel_nm, slice_thickness_nm, source);
    let nz = vol.shape()[0];
    refresh_calibration_warnings(&vol.voxel, nz, &mut vol.meta.warnings);
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
            || (w.contains(" is implausible for ")
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
    match Format::of_output(path)? {
        Format::Tiff => tiff::write_tiff(path, vol, &tiff::TiffWriteOptions::default()),
        Format::OmeTiff => ome::write_ome_tiff(path, vol, &tiff::TiffWriteOptions::default()),
        Format::Mrc => mrc::write_mrc(path, vol),
        Format::Amira => amira::write_amira(path, vol),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => hdf5::write_hdf5(path, vol),
        #[cfg(not(feature = "hdf5"))]
        Format::Hdf5 => Err(hdf5_missing(path)),
        Format::Npy => npy::write_npy(path, vol),
        Format::Raw => raw::write_raw(path, vol, true),
        Format::Vti => vti::write_vti(path, vol, "values"),
        Format::Png => png::write_ortho(path, vol),
        #[cfg(feature = "zarr")]
        Format::Zarr => zarr::write_zarr(path, vol, &zarr::ZarrWriteOptions::default()),
        #[cfg(not(feature = "zarr"))]
        Format::Zarr => Err(zarr_missing(path)),
        Format::Folder => write_folder(path, vol),
    }
}

/// Write one TIFF per slice as the folder `dir`, named `slice_0000.tif` …. The slices are written
/// into a temporary folder that replaces `dir` whole at the end, so no slice of an earlier output
/// survives; an existing `dir` holding anything but such slices is refused.
pub fn write_folder(dir: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    atomic::check_slice_folder_target(dir)?;
    let tmp = atomic::temp_folder(dir)?;
    let nz = vol.shape()[0];
    let width = nz.saturating_sub(1).to_string().len().max(4);
    for z in 0..nz {
        let one = slice_volume(vol, z);
        let p = tmp.path().join(format!("slice_{z:0width$}.tif"));
        let f = std::fs::File::create(&p).map_err(|e| IoError::os(&p, e))?;
        let mut w = std::io::BufWriter::new(f);
        tiff::write_tiff_to(&p, &mut w, &one, &tiff::TiffWriteOptions::default())?;
        use std::io::Write as _;
        w.flush().map_err(|e| IoError::os(&p, e))?;
        w.get_ref().sync_all().map_err(|e| IoError::os(&p, e))?;
    }
    atomic::replace_folder(tmp, dir)
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

/// Write a label volume (as u8), format by extension. A `.tif` is a palette (indexed-colour)
/// TIFF: the indices are the labels, the colours those the labels were read with, or
/// [`tiff::label_palette`] (index 0 black), so the labels are visible in Fiji and napari.
pub fn write_labels(path: &Path, labels: &LabelVolume) -> Result<(), IoError> {
    let [nz, ny, nx] = labels.shape();
    if nz * ny * nx == 0 {
        return Err(IoError::invalid(path, "cannot write an empty volume"));
    }
    match Format::of(path)? {
        Format::Tiff => {
            let palette = labels
                .meta
                .palette
                .clone()
                .unwrap_or_else(tiff::label_palette);
            tiff::write_tiff(
                path,
                &labels.to_grey(),
                &tiff::TiffWriteOptions {
                    palette: Some(palette),
                    ..Default::default()
                },
            )
        }
        _ => write_volume(path, &labels.to_grey()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_checks_against_inputs() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("slices");
        std::fs::create_dir(&dir).unwrap();
        let file = d.path().join("in.tif");
        std::fs::write(&file, b"x").unwrap();
        let bad = [
            (file.clone(), &file),              // is the input
            (d.path().join("./in.tif"), &file), // the same, spelled otherwise
            (d.path().to_path_buf(), &file),    // holds the input
            (dir.join("sub/out.tif"), &dir),    // inside the input folder
            (dir.join("../slices"), &dir),      // the input folder itself
        ];
        for (out, inp) in &bad {
            assert!(check_output(out, &[inp]).is_err(), "{out:?} vs {inp:?}");
        }
        let fine = [
            d.path().join("out.tif"),
            d.path().join("slices_out"),
            d.path().join("in.tiff"),
        ];
        for out in &fine {
            check_output(out, &[&file, &dir]).unwrap();
        }
        // a symbolic link to the input is the input
        #[cfg(unix)]
        {
            let link = d.path().join("link.tif");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            assert!(check_output(&link, &[&file]).is_err());
        }
    }

    #[test]
    fn output_format_follows_the_name_and_refuses_conflicts() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            Format::of_output(&d.path().join("a.npy")).unwrap(),
            Format::Npy
        );
        assert_eq!(
            Format::of_output(&d.path().join("f")).unwrap(),
            Format::Folder
        );
        let dir = d.path().join("x.npy");
        std::fs::create_dir(&dir).unwrap();
        assert!(Format::of_output(&dir).is_err());
        let file = d.path().join("plain");
        std::fs::write(&file, b"").unwrap();
        assert!(Format::of_output(&file).is_err());
        assert!(Format::of_output(&d.path().join("a.jpg")).is_err());
    }
}
