//! The types every module shares: grey and label volumes, physical voxel size, acquisition metadata.
//!
//! Volumes are indexed `[z, y, x]` (methods §0): z = slice (milling direction), y = image row,
//! x = image column (contiguous in memory).

use crate::error::ParamError;
use ndarray::{Array3, ArrayView3};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub mod bits;
pub use bits::BitVolume;

/// A volume axis (methods §0): z = slice index (milling direction), y = image row, x = column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// Slice index (milling direction), array axis 0.
    Z,
    /// Image row, array axis 1.
    Y,
    /// Image column, array axis 2 (contiguous in memory).
    X,
}

impl Axis {
    /// All three, in array order `[z, y, x]`.
    pub const ALL: [Axis; 3] = [Axis::Z, Axis::Y, Axis::X];
    /// Array index (z = 0, y = 1, x = 2).
    pub fn index(self) -> usize {
        match self {
            Axis::Z => 0,
            Axis::Y => 1,
            Axis::X => 2,
        }
    }
    /// `"z"`, `"y"` or `"x"`.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Z => "z",
            Axis::Y => "y",
            Axis::X => "x",
        }
    }
    /// Parse one axis: `z|y|x` (case-insensitive, surrounding spaces ignored) or its numpy index
    /// `0|1|2`.
    ///
    /// ```
    /// use fibstack::volume::Axis;
    /// assert_eq!(Axis::parse("Y").unwrap(), Axis::Y);
    /// assert_eq!(Axis::parse(" 2 ").unwrap(), Axis::X);
    /// assert!(Axis::parse("all").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Axis, ParamError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "z" | "0" => Ok(Axis::Z),
            "y" | "1" => Ok(Axis::Y),
            "x" | "2" => Ok(Axis::X),
            _ => Err(ParamError::new(
                "axis",
                s,
                "use x, y or z (z = slice index / numpy axis 0, y = rows / axis 1, x = columns / axis 2)",
            )),
        }
    }
    /// Parse `x|y|z|all` (case-insensitive) into a list of axes.
    ///
    /// ```
    /// use fibstack::volume::Axis;
    /// assert_eq!(Axis::parse_list("all").unwrap(), Axis::ALL.to_vec());
    /// assert_eq!(Axis::parse_list("X").unwrap(), vec![Axis::X]);
    /// assert!(Axis::parse_list("w").is_err());
    /// ```
    pub fn parse_list(s: &str) -> Result<Vec<Axis>, ParamError> {
        match s.to_ascii_lowercase().as_str() {
            "z" => Ok(vec![Axis::Z]),
            "y" => Ok(vec![Axis::Y]),
            "x" => Ok(vec![Axis::X]),
            "all" => Ok(Axis::ALL.to_vec()),
            _ => Err(ParamError::new(
                "axis",
                s,
                "use x, y, z or all (z = slice index, y = image row, x = image column)",
            )),
        }
    }
}

/// Where a voxel-size value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoxelSource {
    /// Read from the instrument's metadata (Thermo/FEI, Zeiss, ImageJ, VTI header …).
    File,
    /// Set in a workflow file.
    Workflow,
    /// Given on the command line.
    CommandLine,
    /// Computed by a processing step (e.g. the 52° y-stretch changes dy).
    Derived,
    /// Nothing was known: 1 nm, i.e. metrics are effectively in voxels.
    Default,
}

impl VoxelSource {
    /// Short human name used in `info` output.
    pub fn as_str(self) -> &'static str {
        match self {
            VoxelSource::File => "file metadata",
            VoxelSource::Workflow => "workflow",
            VoxelSource::CommandLine => "command line",
            VoxelSource::Derived => "derived",
            VoxelSource::Default => "default (uncalibrated)",
        }
    }
}

/// Physical voxel size `(dz, dy, dx)` in nanometres, with the source of each value.
///
/// ```
/// use fibstack::volume::{VoxelSize, VoxelSource};
/// let v = VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine);
/// assert_eq!(v.dz(), 20.0);
/// assert!(v.is_calibrated());
/// assert!(!VoxelSize::default().is_calibrated());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoxelSize {
    /// `[dz, dy, dx]` in nm.
    pub nm: [f64; 3],
    /// Source of `[dz, dy, dx]`.
    pub source: [VoxelSource; 3],
}

impl Default for VoxelSize {
    fn default() -> Self {
        VoxelSize {
            nm: [1.0; 3],
            source: [VoxelSource::Default; 3],
        }
    }
}

impl VoxelSize {
    /// All three values from one source.
    pub fn new(nm: [f64; 3], source: VoxelSource) -> Self {
        VoxelSize {
            nm,
            source: [source; 3],
        }
    }
    /// Slice thickness (nm).
    pub fn dz(&self) -> f64 {
        self.nm[0]
    }
    /// Row spacing (nm).
    pub fn dy(&self) -> f64 {
        self.nm[1]
    }
    /// Column spacing (nm).
    pub fn dx(&self) -> f64 {
        self.nm[2]
    }
    /// True when no axis is still at the uncalibrated default.
    pub fn is_calibrated(&self) -> bool {
        self.source.iter().all(|s| *s != VoxelSource::Default)
    }
    /// Voxel volume in nm³.
    pub fn volume_nm3(&self) -> f64 {
        self.nm[0] * self.nm[1] * self.nm[2]
    }
    /// Replace the axes given as `Some` and mark them with `source`.
    pub fn overridden(mut self, values: [Option<f64>; 3], source: VoxelSource) -> Self {
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                self.nm[i] = *v;
                self.source[i] = source;
            }
        }
        self
    }
    /// The calibration a workflow's `[input]` (or a Python call) gives: `voxel_nm` (`[dz, dy, dx]`)
    /// replaces all three sizes, then `slice_thickness_nm` replaces dz; both marked `source`.
    ///
    /// ```
    /// use fibstack::volume::{VoxelSize, VoxelSource};
    /// let v = VoxelSize::default().given(Some([5.0, 4.0, 4.0]), Some(20.0), VoxelSource::Workflow);
    /// assert_eq!(v.nm, [20.0, 4.0, 4.0]);
    /// assert!(v.is_calibrated());
    /// ```
    pub fn given(
        self,
        voxel_nm: Option<[f64; 3]>,
        slice_thickness_nm: Option<f64>,
        source: VoxelSource,
    ) -> Self {
        let v = match voxel_nm {
            Some(nm) => self.overridden(nm.map(Some), source),
            None => self,
        };
        match slice_thickness_nm {
            Some(t) => v.overridden([Some(t), None, None], source),
            None => v,
        }
    }
    /// Axes still at the uncalibrated default, as `"dz"`, `"dy"`, `"dx"`.
    pub fn uncalibrated_axes(&self) -> Vec<&'static str> {
        AXIS_NAMES
            .iter()
            .zip(self.source.iter())
            .filter(|(_, s)| **s == VoxelSource::Default)
            .map(|(n, _)| *n)
            .collect()
    }

    /// Values outside the plausible FIB-SEM ranges ([`PLAUSIBLE_PIXEL_NM`],
    /// [`PLAUSIBLE_SLICE_NM`]), for every axis that is not at the default.
    ///
    /// ```
    /// use fibstack::volume::{VoxelSize, VoxelSource};
    /// // an ImageJ resolution of 100 pixels per inch: a 254 µm "pixel"
    /// let v = VoxelSize::new([20.0, 254_000.0, 254_000.0], VoxelSource::File);
    /// let bad = v.plausibility();
    /// assert_eq!(bad.len(), 2);
    /// assert_eq!(bad[0].axis, "dy");
    /// assert!(VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::File).plausibility().is_empty());
    /// ```
    pub fn plausibility(&self) -> Vec<Implausible> {
        self.plausibility_for(Imaging::FibSem)
    }

    /// Values outside the plausible ranges of the imaging kind (see [`Imaging`]).
    ///
    /// ```
    /// use fibstack::volume::{Imaging, VoxelSize, VoxelSource};
    /// // a cryo-ET tomogram of 0.5 nm voxels: implausible slices for FIB-SEM, fine for tomography
    /// let v = VoxelSize::new([0.5, 0.5, 0.5], VoxelSource::File);
    /// assert_eq!(v.plausibility_for(Imaging::FibSem).len(), 1);
    /// assert!(v.plausibility_for(Imaging::Tomography).is_empty());
    /// ```
    pub fn plausibility_for(&self, kind: Imaging) -> Vec<Implausible> {
        let mut out = Vec::new();
        for (i, axis) in AXIS_NAMES.iter().enumerate() {
            if self.source[i] == VoxelSource::Default {
                continue;
            }
            let range = kind.range_nm(i);
            let v = self.nm[i];
            if !(v.is_finite() && v >= range[0] && v <= range[1]) {
                out.push(Implausible {
                    axis,
                    value_nm: v,
                    range_nm: range,
                    source: self.source[i],
                    imaging: kind,
                });
            }
        }
        out
    }

    /// Reset every value read from a file (`VoxelSource::File`) that is implausible to the
    /// uncalibrated default; returns one warning per axis naming the value found and the fix.
    /// Every reader's calibration passes through this (via [`crate::io::read_volume`] and the
    /// slice reader).
    ///
    /// ```
    /// use fibstack::volume::{VoxelSize, VoxelSource};
    /// let mut v = VoxelSize::new([20.0, 254_000.0, 254_000.0], VoxelSource::File);
    /// let w = v.drop_implausible();
    /// assert_eq!(w.len(), 2);
    /// assert!(w[0].contains("254000") && w[0].contains("--voxel"));
    /// assert_eq!(v.uncalibrated_axes(), ["dy", "dx"]);
    /// assert_eq!(v.dz(), 20.0);
    /// ```
    pub fn drop_implausible(&mut self) -> Vec<String> {
        self.drop_implausible_for(Imaging::FibSem)
    }

    /// [`VoxelSize::drop_implausible`] with the ranges of `kind`.
    pub fn drop_implausible_for(&mut self, kind: Imaging) -> Vec<String> {
        let mut w = Vec::new();
        for bad in self.plausibility_for(kind) {
            if bad.source != VoxelSource::File {
                continue;
            }
            let i = AXIS_NAMES.iter().position(|a| *a == bad.axis).unwrap_or(0);
            self.nm[i] = 1.0;
            self.source[i] = VoxelSource::Default;
            w.push(format!(
                "{bad}: treated as unknown; give --voxel DZ,DY,DX in nm (workflow: [input] voxel_nm)"
            ));
        }
        w
    }

    /// The voxel size a metric measures with. Calibrated: `self`. Not calibrated: an error naming
    /// the missing axes, unless `allow_uncalibrated`, then a 1 × 1 × 1 voxel (all axes at the
    /// default) so that every length, area and volume is in voxel units — never a mix of nm on
    /// some axes and voxels on others.
    pub fn for_metric(&self, allow_uncalibrated: bool) -> Result<VoxelSize, Uncalibrated> {
        if self.is_calibrated() {
            return Ok(*self);
        }
        if allow_uncalibrated {
            return Ok(VoxelSize::default());
        }
        Err(Uncalibrated {
            axes: self.uncalibrated_axes(),
        })
    }

    /// Check that every value is finite and positive.
    pub fn validate(&self) -> Result<(), crate::error::ParamError> {
        for (i, name) in ["dz", "dy", "dx"].iter().enumerate() {
            let v = self.nm[i];
            if !(v.is_finite() && v > 0.0) {
                return Err(crate::error::ParamError::new(
                    format!("voxel size {name}"),
                    v,
                    "must be a positive number of nanometres",
                ));
            }
        }
        Ok(())
    }
}

/// Plausible FIB-SEM pixel size (dx, dy) in nm: 0.1 nm – 10 µm. A value read from a file outside
/// this range is treated as unknown (see [`VoxelSize::drop_implausible`]).
pub const PLAUSIBLE_PIXEL_NM: [f64; 2] = [0.1, 10_000.0];
/// Plausible FIB-SEM slice thickness (dz) in nm: 1 nm – 10 µm.
pub const PLAUSIBLE_SLICE_NM: [f64; 2] = [1.0, 10_000.0];

/// Plausible voxel size of electron tomography (MRC/CCP4 files: cryo-ET, TEM tomography), every
/// axis, in nm: 0.01 nm – 1 µm.
pub const PLAUSIBLE_TOMOGRAPHY_NM: [f64; 2] = [0.01, 1000.0];

/// The kind of imaging a volume comes from, which sets the plausible voxel sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imaging {
    /// FIB-SEM serial sections: pixel [`PLAUSIBLE_PIXEL_NM`], slice [`PLAUSIBLE_SLICE_NM`].
    FibSem,
    /// Electron tomography (the MRC/CCP4 container): [`PLAUSIBLE_TOMOGRAPHY_NM`] on every axis.
    Tomography,
}

impl Imaging {
    /// The kind a container name implies: MRC/CCP4 files are tomograms, everything else is taken
    /// as FIB-SEM.
    ///
    /// ```
    /// use fibstack::volume::Imaging;
    /// assert_eq!(Imaging::of_container(Some("MRC mode 1 (int16), little-endian")), Imaging::Tomography);
    /// assert_eq!(Imaging::of_container(Some("TIFF, LZW")), Imaging::FibSem);
    /// ```
    pub fn of_container(container: Option<&str>) -> Imaging {
        match container {
            Some(c) if c.starts_with("MRC") => Imaging::Tomography,
            _ => Imaging::FibSem,
        }
    }
    /// Plausible range (nm) of axis `i` of `[dz, dy, dx]`.
    pub fn range_nm(self, i: usize) -> [f64; 2] {
        match (self, i) {
            (Imaging::FibSem, 0) => PLAUSIBLE_SLICE_NM,
            (Imaging::FibSem, _) => PLAUSIBLE_PIXEL_NM,
            (Imaging::Tomography, _) => PLAUSIBLE_TOMOGRAPHY_NM,
        }
    }
    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Imaging::FibSem => "FIB-SEM",
            Imaging::Tomography => "electron tomography",
        }
    }
}

/// Axis names of `[dz, dy, dx]`.
pub const AXIS_NAMES: [&str; 3] = ["dz", "dy", "dx"];

/// A calibration value outside the plausible range of its imaging kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Implausible {
    /// `"dz"`, `"dy"` or `"dx"`.
    pub axis: &'static str,
    /// The value found (nm).
    pub value_nm: f64,
    /// The plausible range (nm).
    pub range_nm: [f64; 2],
    /// Where the value came from.
    pub source: VoxelSource,
    /// The imaging kind whose range it misses.
    pub imaging: Imaging,
}

impl std::fmt::Display for Implausible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.axis == "dz" {
            "slice thickness"
        } else {
            "pixel size"
        };
        write!(
            f,
            "{} = {} nm ({}) is implausible for {} ({what} {}–{})",
            self.axis,
            sig(self.value_nm),
            self.source.as_str(),
            self.imaging.name(),
            fmt_nm(self.range_nm[0]),
            fmt_nm(self.range_nm[1])
        )
    }
}

/// `v` with 6 significant digits (no float noise in messages).
fn sig(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return v.to_string();
    }
    let digits = (6 - 1 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `0.1 nm`, `10 µm`.
fn fmt_nm(v: f64) -> String {
    if v >= 1000.0 {
        format!("{} µm", v / 1000.0)
    } else {
        format!("{v} nm")
    }
}

/// A metric needs a physical voxel size that is not known.
///
/// ```
/// use fibstack::volume::VoxelSize;
/// let e = VoxelSize::default().for_metric(false).unwrap_err();
/// assert!(e.to_string().contains("--allow-uncalibrated"));
/// // allowed: one voxel is the unit of length on every axis
/// assert_eq!(VoxelSize::default().for_metric(true).unwrap().nm, [1.0; 3]);
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("voxel size unknown for {} ({}): lengths, areas and τ on anisotropic voxels depend on it; give --voxel DZ,DY,DX in nm (workflow: [input] voxel_nm or slice_thickness_nm), or --allow-uncalibrated (workflow: allow_uncalibrated = true) to measure in voxels of 1 x 1 x 1", .axes.join(", "), self.what())]
pub struct Uncalibrated {
    /// The axes still unknown (`"dz"`, `"dy"`, `"dx"`).
    pub axes: Vec<&'static str>,
}

impl Uncalibrated {
    fn what(&self) -> &'static str {
        if self.axes == ["dz"] {
            "slice thickness"
        } else if self.axes.iter().all(|a| *a != "dz") {
            "pixel size"
        } else {
            "slice thickness and pixel size"
        }
    }
}

/// Acquisition metadata kept when present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Instrument / software name (e.g. `FEI_HELIOS`, `CZ_SEM`).
    pub instrument: Option<String>,
    /// Pixel size in x and y from the file (nm).
    pub pixel_size_nm: Option<[f64; 2]>,
    /// Stage tilt (degrees).
    pub stage_tilt_deg: Option<f64>,
    /// Beam voltage (V).
    pub beam_voltage_v: Option<f64>,
    /// Detector name.
    pub detector: Option<String>,
    /// Rows of the data bar that were cropped from the bottom of each image.
    pub databar_rows: Option<usize>,
    /// Slice thickness (nm) when the file states it.
    pub slice_thickness_nm: Option<f64>,
    /// Source files, in z order.
    pub source_files: Vec<PathBuf>,
    /// Warnings met while reading (missing or malformed metadata, ignored files).
    pub warnings: Vec<String>,
    /// The container the volume was read from, e.g. `"TIFF (palette, LZW)"`, `"OME-TIFF"`,
    /// `"AmiraMesh binary HxByteRLE"`, `"MRC mode 2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Where each of `[dz, dy, dx]` came from inside the file, when read from it (e.g.
    /// `"OME PhysicalSizeZ = 0.05 µm"`, `"Avizo BoundingBox, extent/(n−1)"`).
    #[serde(default)]
    pub voxel_detail: [Option<String>; 3],
    /// Colour table of a palette (indexed-colour) image: entry `i` = 16-bit `[r, g, b]` of
    /// index `i`. Kept so label output is written back with the same colours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub palette: Option<Vec<[u16; 3]>>,
    /// Physical position of the first voxel `[z, y, x]` in nm (MRC origin, Amira/Avizo
    /// BoundingBox minimum), when the file states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_nm: Option<[f64; 3]>,
    /// z position (nm) of every slice, when the file names or labels carry it (Zeiss Atlas 3D).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z_positions_nm: Option<Vec<f64>>,
    /// Names of the phases of a label volume (`0 = "pore"`, …): from the workflow's `[phases]`,
    /// the command line's `--phases`, or a label TIFF fibstack wrote.
    #[serde(default, skip_serializing_if = "PhaseNames::is_empty")]
    pub phase_names: PhaseNames,
}

/// Names of phases by label value.
pub type PhaseNames = std::collections::BTreeMap<u8, String>;

/// Parse `0=pore,1=NMC,2=CBD` (the `--phases` option) into names. A name must start with a
/// letter (so it cannot be taken for a label value) and hold only letters, digits, `_`, `-` and
/// `+`; labels and names must be unique.
///
/// ```
/// let n = fibstack::volume::parse_phase_names("0=pore, 1=NMC,2=CBD").unwrap();
/// assert_eq!(n[&1], "NMC");
/// assert!(fibstack::volume::parse_phase_names("0=pore,1=pore").is_err());
/// assert!(fibstack::volume::parse_phase_names("0=2nd").is_err());
/// ```
pub fn parse_phase_names(s: &str) -> Result<PhaseNames, String> {
    let mut out = PhaseNames::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (l, n) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not LABEL=NAME (e.g. 0=pore)"))?;
        let l: u8 = l
            .trim()
            .parse()
            .map_err(|_| format!("{part:?}: the label must be a number 0..=255"))?;
        insert_phase_name(&mut out, l, n.trim())?;
    }
    Ok(out)
}

/// Add `label = name` to `names`, checking the name's spelling and that neither the label nor the
/// name is already taken (by another label).
pub fn insert_phase_name(names: &mut PhaseNames, label: u8, name: &str) -> Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_alphabetic())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '+'));
    if !ok {
        return Err(format!(
            "phase name {name:?} (label {label}): a name starts with a letter and holds letters, digits, _, - or + only"
        ));
    }
    if let Some(old) = names.get(&label) {
        if old != name {
            return Err(format!(
                "label {label} is named twice ({old:?} and {name:?})"
            ));
        }
    }
    if let Some((other, _)) = names.iter().find(|(l, n)| **l != label && *n == name) {
        return Err(format!(
            "phase name {name:?} is given to labels {other} and {label}"
        ));
    }
    names.insert(label, name.to_string());
    Ok(())
}

/// The phase a metric measures: a label value (`--phase 0`, `phase = 0`) or a phase name
/// (`--phase pore`, `phase = "pore"`) looked up in the volume's [`PhaseNames`].
///
/// ```
/// use fibstack::volume::{PhaseRef, parse_phase_names};
/// let names = parse_phase_names("0=pore,1=NMC").unwrap();
/// assert_eq!("pore".parse::<PhaseRef>().unwrap().resolve(&names).unwrap(), 0);
/// assert_eq!("1".parse::<PhaseRef>().unwrap().resolve(&names).unwrap(), 1);
/// let e = "CBD".parse::<PhaseRef>().unwrap().resolve(&names).unwrap_err();
/// assert!(e.contains("0 = pore") && e.contains("1 = NMC"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PhaseRef {
    /// A label value.
    Label(u8),
    /// A phase name.
    Name(String),
}

impl Default for PhaseRef {
    fn default() -> Self {
        PhaseRef::Label(0)
    }
}

impl From<u8> for PhaseRef {
    fn from(v: u8) -> Self {
        PhaseRef::Label(v)
    }
}

impl std::str::FromStr for PhaseRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+')
        {
            return s.parse::<u8>().map(PhaseRef::Label).map_err(|_| {
                format!(
                    "{s:?} is not a label value 0..=255 (or a phase name starting with a letter)"
                )
            });
        }
        if s.is_empty() {
            return Err("empty phase: give a label value or a phase name".into());
        }
        Ok(PhaseRef::Name(s.to_string()))
    }
}

impl std::fmt::Display for PhaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhaseRef::Label(l) => write!(f, "{l}"),
            PhaseRef::Name(n) => write!(f, "{n}"),
        }
    }
}

impl PhaseRef {
    /// The label value: itself, or the label named so in `names` (an error listing the names
    /// known otherwise).
    pub fn resolve(&self, names: &PhaseNames) -> Result<u8, String> {
        match self {
            PhaseRef::Label(l) => Ok(*l),
            PhaseRef::Name(n) => names
                .iter()
                .find(|(_, v)| *v == n)
                .map(|(l, _)| *l)
                .ok_or_else(|| {
                    if names.is_empty() {
                        format!("phase {n:?}: the volume's phases have no names; give a label value, or name them (--phases 0=pore,1=NMC; workflow [phases])")
                    } else {
                        format!(
                            "phase {n:?} is not one of the named phases ({}); give one of these or a label value",
                            names
                                .iter()
                                .map(|(l, v)| format!("{l} = {v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                }),
        }
    }
}

/// `"pore (label 0)"` when the label is named, `"label 0"` otherwise: how reports and tables
/// name a phase.
///
/// ```
/// let n = fibstack::volume::parse_phase_names("0=pore").unwrap();
/// assert_eq!(fibstack::volume::phase_title(&n, 0), "pore (label 0)");
/// assert_eq!(fibstack::volume::phase_title(&n, 2), "label 2");
/// ```
pub fn phase_title(names: &PhaseNames, label: u8) -> String {
    match names.get(&label) {
        Some(n) => format!("{n} (label {label})"),
        None => format!("label {label}"),
    }
}

/// Sample type of a grey volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleType {
    /// Unsigned 8-bit samples (0–255).
    U8,
    /// Unsigned 16-bit samples (0–65535).
    U16,
    /// 32-bit floating-point samples.
    F32,
}

impl SampleType {
    /// Short lower-case name: `"u8"`, `"u16"` or `"f32"` (as written in JSON and shown to users).
    pub fn as_str(self) -> &'static str {
        match self {
            SampleType::U8 => "u8",
            SampleType::U16 => "u16",
            SampleType::F32 => "f32",
        }
    }
    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            SampleType::U8 => 1,
            SampleType::U16 => 2,
            SampleType::F32 => 4,
        }
    }
}

/// Grey values in their native sample type.
#[derive(Debug, Clone, PartialEq)]
pub enum GreyData {
    /// 8-bit grey values, shape `[nz, ny, nx]`.
    U8(Array3<u8>),
    /// 16-bit grey values, shape `[nz, ny, nx]`.
    U16(Array3<u16>),
    /// 32-bit float grey values, shape `[nz, ny, nx]`.
    F32(Array3<f32>),
}

impl GreyData {
    /// Shape `[nz, ny, nx]`.
    pub fn shape(&self) -> [usize; 3] {
        let s = match self {
            GreyData::U8(a) => a.shape(),
            GreyData::U16(a) => a.shape(),
            GreyData::F32(a) => a.shape(),
        };
        [s[0], s[1], s[2]]
    }
    /// The sample type of the stored array.
    pub fn sample_type(&self) -> SampleType {
        match self {
            GreyData::U8(_) => SampleType::U8,
            GreyData::U16(_) => SampleType::U16,
            GreyData::F32(_) => SampleType::F32,
        }
    }
    /// Convert to f32 for processing (values unchanged, no rescaling).
    pub fn to_f32(&self) -> Array3<f32> {
        match self {
            GreyData::U8(a) => a.mapv(|v| v as f32),
            GreyData::U16(a) => a.mapv(|v| v as f32),
            GreyData::F32(a) => a.clone(),
        }
    }
}

/// A grey-level volume with its voxel size and metadata.
///
/// ```
/// use fibstack::volume::{GreyVolume, VoxelSize};
/// use ndarray::Array3;
/// let v = GreyVolume::from_u8(Array3::zeros((2, 3, 4)), VoxelSize::default());
/// assert_eq!(v.shape(), [2, 3, 4]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GreyVolume {
    /// Grey values `[z, y, x]` in their native sample type.
    pub data: GreyData,
    /// Physical voxel size `[dz, dy, dx]` (nm) and where each value came from.
    pub voxel: VoxelSize,
    /// Acquisition metadata read with the volume (instrument, source files, warnings).
    pub meta: Metadata,
}

impl GreyVolume {
    /// Wrap an 8-bit array `[z, y, x]` with default (empty) metadata.
    pub fn from_u8(a: Array3<u8>, voxel: VoxelSize) -> Self {
        GreyVolume {
            data: GreyData::U8(a),
            voxel,
            meta: Metadata::default(),
        }
    }
    /// Wrap a 16-bit array `[z, y, x]` with default (empty) metadata.
    pub fn from_u16(a: Array3<u16>, voxel: VoxelSize) -> Self {
        GreyVolume {
            data: GreyData::U16(a),
            voxel,
            meta: Metadata::default(),
        }
    }
    /// Wrap a 32-bit float array `[z, y, x]` with default (empty) metadata.
    pub fn from_f32(a: Array3<f32>, voxel: VoxelSize) -> Self {
        GreyVolume {
            data: GreyData::F32(a),
            voxel,
            meta: Metadata::default(),
        }
    }
    /// Shape `[nz, ny, nx]` (voxels).
    pub fn shape(&self) -> [usize; 3] {
        self.data.shape()
    }
    /// The sample type of the stored values.
    pub fn sample_type(&self) -> SampleType {
        self.data.sample_type()
    }
    /// Copy the grey values to f32 (values unchanged, no rescaling).
    pub fn to_f32(&self) -> Array3<f32> {
        self.data.to_f32()
    }
}

/// A phase-label volume (u8 labels, e.g. 0 = pore, 1 = solid).
///
/// ```
/// use fibstack::volume::{LabelVolume, VoxelSize};
/// use ndarray::Array3;
/// let l = LabelVolume::new(Array3::from_elem((1, 2, 2), 1u8), VoxelSize::default());
/// assert_eq!(l.count(1), 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LabelVolume {
    /// Phase labels `[z, y, x]`, one u8 label per voxel.
    pub data: Array3<u8>,
    /// Physical voxel size `[dz, dy, dx]` (nm) and where each value came from.
    pub voxel: VoxelSize,
    /// Acquisition metadata carried over from the grey volume the labels came from.
    pub meta: Metadata,
}

impl LabelVolume {
    /// Wrap a label array `[z, y, x]` with default (empty) metadata.
    pub fn new(data: Array3<u8>, voxel: VoxelSize) -> Self {
        LabelVolume {
            data,
            voxel,
            meta: Metadata::default(),
        }
    }
    /// Shape `[nz, ny, nx]` (voxels).
    pub fn shape(&self) -> [usize; 3] {
        let s = self.data.shape();
        [s[0], s[1], s[2]]
    }
    /// A read-only view of the labels `[z, y, x]`.
    pub fn view(&self) -> ArrayView3<'_, u8> {
        self.data.view()
    }
    /// Number of voxels with label `phase`.
    pub fn count(&self, phase: u8) -> usize {
        self.data.iter().filter(|&&v| v == phase).count()
    }
    /// Sorted list of labels present.
    pub fn phases(&self) -> Vec<u8> {
        let mut seen = [false; 256];
        for &v in self.data.iter() {
            seen[v as usize] = true;
        }
        (0..=255u8).filter(|&p| seen[p as usize]).collect()
    }
    /// Reinterpret a grey volume as labels (u8 as is; u16/f32 must hold integers 0..=255).
    pub fn from_grey(g: GreyVolume) -> Result<Self, crate::error::ParamError> {
        let data = match g.data {
            GreyData::U8(a) => a,
            GreyData::U16(a) => {
                if let Some(v) = a.iter().find(|&&v| v > 255) {
                    return Err(crate::error::ParamError::new(
                        "label value",
                        *v,
                        "label volumes hold values 0..=255; segment the grey volume first",
                    ));
                }
                a.mapv(|v| v as u8)
            }
            GreyData::F32(a) => {
                if let Some(v) = a
                    .iter()
                    .find(|&&v| !(v.fract() == 0.0 && (0.0..=255.0).contains(&v)))
                {
                    return Err(crate::error::ParamError::new(
                        "label value",
                        *v,
                        "label volumes hold integers 0..=255; segment the grey volume first",
                    ));
                }
                a.mapv(|v| v as u8)
            }
        };
        Ok(LabelVolume {
            data,
            voxel: g.voxel,
            meta: g.meta,
        })
    }
    /// View as a grey volume (for writers).
    pub fn to_grey(&self) -> GreyVolume {
        GreyVolume {
            data: GreyData::U8(self.data.clone()),
            voxel: self.voxel,
            meta: self.meta.clone(),
        }
    }
}

/// Voxel adjacency: faces (6), faces + edges (18), faces + edges + corners (26).
///
/// The one connectivity of the crate: component labelling, percolation, particles and the
/// streamed chain all take it.
///
/// ```
/// use fibstack::volume::Connectivity;
/// assert_eq!(Connectivity::from_n(18).unwrap().offsets().len(), 18);
/// assert!(Connectivity::from_n(8).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Connectivity {
    /// Face neighbours only.
    #[serde(rename = "6")]
    Six,
    /// Face and edge neighbours.
    #[serde(rename = "18")]
    Eighteen,
    /// Face, edge and corner neighbours.
    #[serde(rename = "26")]
    TwentySix,
}

impl Connectivity {
    /// From 6, 18 or 26.
    pub fn from_n(n: u32) -> Result<Connectivity, ParamError> {
        match n {
            6 => Ok(Connectivity::Six),
            18 => Ok(Connectivity::Eighteen),
            26 => Ok(Connectivity::TwentySix),
            _ => Err(ParamError::new(
                "connectivity",
                n,
                "use 6 (faces), 18 (faces + edges) or 26 (faces + edges + corners)",
            )),
        }
    }
    /// 6, 18 or 26.
    pub fn n(self) -> u32 {
        match self {
            Connectivity::Six => 6,
            Connectivity::Eighteen => 18,
            Connectivity::TwentySix => 26,
        }
    }
    /// Largest |dz| + |dy| + |dx| of a neighbour.
    pub(crate) fn max_l1(self) -> i32 {
        match self {
            Connectivity::Six => 1,
            Connectivity::Eighteen => 2,
            Connectivity::TwentySix => 3,
        }
    }
    /// All neighbour offsets `[dz, dy, dx]`, in raster order of the offset.
    pub fn offsets(self) -> Vec<[i32; 3]> {
        let mut v = Vec::new();
        for dz in -1..=1 {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let l1: i32 = dz * dz + dy * dy + dx * dx;
                    if l1 > 0 && l1 <= self.max_l1() {
                        v.push([dz, dy, dx]);
                    }
                }
            }
        }
        v
    }
    /// Neighbours that come earlier in raster order.
    pub fn backward_offsets(self) -> Vec<[i32; 3]> {
        self.offsets()
            .into_iter()
            .filter(|o| (o[0], o[1], o[2]) < (0, 0, 0))
            .collect()
    }
}
