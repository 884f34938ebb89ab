//! Porosity and phase fractions: global volume fractions of every label, profiles along an axis,
//! Li-deposit bottom/top detection on a profile, windowed statistics and a representative-volume
//! (REV) curve.
//!
//! Conventions (methods §0): volumes are `[z, y, x]`, voxel size `[dz, dy, dx]` in nm. Slice `i`
//! along an axis spans `[i·d, (i+1)·d)`; its centre is at `(i + 0.5)·d`. When the voxel size is not
//! calibrated ([`VoxelSize::is_calibrated`] is false) every length is reported in voxels and the
//! result carries a note saying so.

use crate::error::ParamError;
use crate::volume::VoxelSize;
use ndarray::{ArrayView3, Axis as NdAxis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A volume axis (methods §0): z = slice index (milling direction), y = image row, x = column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    Z,
    Y,
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
    /// Parse `x|y|z|all` (case-insensitive) into a list of axes.
    ///
    /// ```
    /// use fibstack::metrics::porosity::Axis;
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

/// Physical units used by a result: nm when the voxel size is calibrated, voxels otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Units {
    /// Voxel edge lengths `[dz, dy, dx]` actually used for lengths (1 when uncalibrated).
    pub scale: [f64; 3],
    /// `"nm"` or `"voxel"`.
    pub length: String,
    /// True when the voxel size is calibrated and results are in nm.
    pub calibrated: bool,
    /// Set when the results are in voxel units.
    pub note: Option<String>,
}

impl Units {
    /// Units for a voxel size. Uncalibrated (any axis at the default) → voxel units with a note.
    pub fn from_voxel(v: &VoxelSize) -> Result<Units, ParamError> {
        if v.is_calibrated() {
            v.validate()?;
            Ok(Units {
                scale: v.nm,
                length: "nm".into(),
                calibrated: true,
                note: None,
            })
        } else {
            Ok(Units {
                scale: [1.0; 3],
                length: "voxel".into(),
                calibrated: false,
                note: Some(
                    "voxel size not calibrated: lengths are in voxels, areas in voxel^2, volumes \
                     in voxel^3 (set the voxel size to get nm)"
                        .into(),
                ),
            })
        }
    }
    /// Unit of an area (`nm^2` or `voxel^2`).
    pub fn area(&self) -> String {
        format!("{}^2", self.length)
    }
    /// Unit of a volume (`nm^3` or `voxel^3`).
    pub fn volume(&self) -> String {
        format!("{}^3", self.length)
    }
    /// Volume of one voxel in the length unit cubed.
    pub fn voxel_volume(&self) -> f64 {
        self.scale[0] * self.scale[1] * self.scale[2]
    }
}

/// Reject volumes without voxels.
pub(crate) fn check_nonempty(shape: &[usize]) -> Result<(), ParamError> {
    if shape.contains(&0) {
        return Err(ParamError::new(
            "volume shape",
            format!("{shape:?}"),
            "the volume has no voxels; check the input file or crop",
        ));
    }
    Ok(())
}

/// One phase's share of the volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseFraction {
    /// Label value.
    pub label: u8,
    /// Number of voxels with this label.
    pub count: u64,
    /// Volume fraction `count / n_voxels` (dimensionless).
    pub fraction: f64,
    /// Volume in `volume_unit` (nm^3 or voxel^3).
    pub volume: f64,
    /// Volume in µm^3 (only when calibrated).
    pub volume_um3: Option<f64>,
}

/// Volume fractions of every label present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseFractions {
    /// `"voxel counting"`.
    pub method: String,
    /// `[nz, ny, nx]`.
    pub shape: [usize; 3],
    pub n_voxels: u64,
    /// `[dz, dy, dx]` as given (nm; 1 = uncalibrated).
    pub voxel_size_nm: [f64; 3],
    /// Unit of `PhaseFraction::volume`.
    pub volume_unit: String,
    /// Total volume in `volume_unit`.
    pub total_volume: f64,
    pub note: Option<String>,
    /// Labels present, ascending.
    pub phases: Vec<PhaseFraction>,
}

impl PhaseFractions {
    /// The entry of a label (None when absent).
    pub fn get(&self, label: u8) -> Option<&PhaseFraction> {
        self.phases.iter().find(|p| p.label == label)
    }
    /// Fraction of a label (0 when absent).
    pub fn fraction(&self, label: u8) -> f64 {
        self.get(label).map_or(0.0, |p| p.fraction)
    }
}

/// Label histogram of a volume (parallel over z slices).
pub fn histogram(labels: ArrayView3<u8>) -> [u64; 256] {
    labels
        .axis_iter(NdAxis(0))
        .into_par_iter()
        .fold(
            || [0u64; 256],
            |mut h, s| {
                for &v in s.iter() {
                    h[v as usize] += 1;
                }
                h
            },
        )
        .reduce(
            || [0u64; 256],
            |mut a, b| {
                for i in 0..256 {
                    a[i] += b[i];
                }
                a
            },
        )
}

/// Volume fraction, count and volume of every label present.
///
/// ```
/// use fibstack::metrics::porosity::phase_fractions;
/// use fibstack::volume::{VoxelSize, VoxelSource};
/// use ndarray::Array3;
/// let mut a = Array3::<u8>::zeros((2, 2, 2));
/// a[[0, 0, 0]] = 1;
/// let r = phase_fractions(a.view(), &VoxelSize::new([10.0; 3], VoxelSource::CommandLine)).unwrap();
/// assert_eq!(r.fraction(0), 0.875);
/// assert_eq!(r.get(1).unwrap().volume, 1000.0);
/// ```
pub fn phase_fractions(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
) -> Result<PhaseFractions, ParamError> {
    check_nonempty(labels.shape())?;
    let units = Units::from_voxel(voxel)?;
    let h = histogram(labels);
    let n: u64 = h.iter().sum();
    let vv = units.voxel_volume();
    let phases = (0..256)
        .filter(|&l| h[l] > 0)
        .map(|l| PhaseFraction {
            label: l as u8,
            count: h[l],
            fraction: h[l] as f64 / n as f64,
            volume: h[l] as f64 * vv,
            volume_um3: units.calibrated.then(|| h[l] as f64 * vv * 1e-9),
        })
        .collect();
    let s = labels.shape();
    Ok(PhaseFractions {
        method: "voxel counting".into(),
        shape: [s[0], s[1], s[2]],
        n_voxels: n,
        voxel_size_nm: voxel.nm,
        volume_unit: units.volume(),
        total_volume: n as f64 * vv,
        note: units.note,
        phases,
    })
}

/// Per-slice label histograms along `axis`: `result[i][label]` = voxels of `label` in slice `i`.
pub fn slice_histograms(labels: ArrayView3<u8>, axis: Axis) -> Vec<[u64; 256]> {
    let n = labels.shape()[axis.index()];
    labels
        .axis_iter(NdAxis(0))
        .into_par_iter()
        .enumerate()
        .fold(
            || vec![[0u64; 256]; n],
            |mut acc, (z, s)| {
                match axis {
                    Axis::Z => {
                        for &v in s.iter() {
                            acc[z][v as usize] += 1;
                        }
                    }
                    Axis::Y => {
                        for (y, row) in s.outer_iter().enumerate() {
                            for &v in row.iter() {
                                acc[y][v as usize] += 1;
                            }
                        }
                    }
                    Axis::X => {
                        for row in s.outer_iter() {
                            for (x, &v) in row.iter().enumerate() {
                                acc[x][v as usize] += 1;
                            }
                        }
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![[0u64; 256]; n],
            |mut a, b| {
                for (ra, rb) in a.iter_mut().zip(b.iter()) {
                    for l in 0..256 {
                        ra[l] += rb[l];
                    }
                }
                a
            },
        )
}

/// Phase fractions slice by slice along one axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub axis: Axis,
    /// `"nm"` or `"voxel"`.
    pub length_unit: String,
    /// Slice thickness along the axis in `length_unit`.
    pub slice_thickness: f64,
    /// Voxels per slice.
    pub voxels_per_slice: u64,
    /// Labels present anywhere in the volume, ascending (columns of `counts`/`fractions`).
    pub labels: Vec<u8>,
    /// Slice centre positions `(i + 0.5)·d` in `length_unit`.
    pub position: Vec<f64>,
    /// `counts[i][k]`: voxels of `labels[k]` in slice `i`.
    pub counts: Vec<Vec<u64>>,
    /// `fractions[i][k] = counts[i][k] / voxels_per_slice`; each row sums to 1.
    pub fractions: Vec<Vec<f64>>,
    pub voxel_size_nm: [f64; 3],
    pub note: Option<String>,
}

impl Profile {
    /// Fraction of one label in every slice (zeros when the label is absent).
    pub fn fraction_of(&self, label: u8) -> Vec<f64> {
        match self.labels.iter().position(|&l| l == label) {
            Some(k) => self.fractions.iter().map(|r| r[k]).collect(),
            None => vec![0.0; self.position.len()],
        }
    }
    /// Count of one label in every slice.
    pub fn count_of(&self, label: u8) -> Vec<u64> {
        match self.labels.iter().position(|&l| l == label) {
            Some(k) => self.counts.iter().map(|r| r[k]).collect(),
            None => vec![0; self.position.len()],
        }
    }
}

/// Write profiles as one tidy CSV table, one row per slice and phase:
/// `axis, index, position_<unit>, label, phase_name, voxels, fraction` (`<unit>` is `nm`, or
/// `voxel` for an uncalibrated volume; `phase_name` is empty where `names` has none). The same
/// layout serves `fibstack porosity --profile-csv` and the workflow's `porosity_profile.csv`.
///
/// ```
/// use fibstack::metrics::porosity::{profile, write_profiles_csv, Axis};
/// use fibstack::volume::{PhaseNames, VoxelSize, VoxelSource};
/// let labels = ndarray::Array3::<u8>::from_shape_fn((2, 2, 2), |(z, _, x)| (z * x) as u8);
/// let p = profile(labels.view(), Axis::Z, &VoxelSize::new([10.0, 5.0, 5.0], VoxelSource::CommandLine)).unwrap();
/// let names = PhaseNames::from([(0, "pore".to_string())]);
/// let mut out = Vec::new();
/// write_profiles_csv(&[p], &names, &mut out).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("axis,index,position_nm,label,phase_name,voxels,fraction\nz,0,5,0,pore,4,1\n"));
/// ```
pub fn write_profiles_csv<W: std::io::Write>(
    profiles: &[Profile],
    names: &crate::volume::PhaseNames,
    w: W,
) -> Result<(), csv::Error> {
    let mut wr = csv::Writer::from_writer(w);
    let unit = profiles.first().map_or("nm", |p| p.length_unit.as_str());
    let position = format!("position_{unit}");
    wr.write_record([
        "axis",
        "index",
        &position,
        "label",
        "phase_name",
        "voxels",
        "fraction",
    ])?;
    for p in profiles {
        for (i, (counts, fractions)) in p.counts.iter().zip(&p.fractions).enumerate() {
            for (k, &label) in p.labels.iter().enumerate() {
                wr.write_record([
                    p.axis.name().to_string(),
                    i.to_string(),
                    format!("{}", p.position[i]),
                    label.to_string(),
                    names.get(&label).cloned().unwrap_or_default(),
                    counts[k].to_string(),
                    format!("{}", fractions[k]),
                ])?;
            }
        }
    }
    wr.flush()?;
    Ok(())
}

/// Phase fractions per slice along `axis`.
pub fn profile(
    labels: ArrayView3<u8>,
    axis: Axis,
    voxel: &VoxelSize,
) -> Result<Profile, ParamError> {
    check_nonempty(labels.shape())?;
    let units = Units::from_voxel(voxel)?;
    let hs = slice_histograms(labels, axis);
    let mut present = [false; 256];
    for h in &hs {
        for l in 0..256 {
            present[l] |= h[l] > 0;
        }
    }
    let lab: Vec<u8> = (0..256).filter(|&l| present[l]).map(|l| l as u8).collect();
    let s = labels.shape();
    let per = (s[0] * s[1] * s[2] / s[axis.index()]) as u64;
    let d = units.scale[axis.index()];
    let counts: Vec<Vec<u64>> = hs
        .iter()
        .map(|h| lab.iter().map(|&l| h[l as usize]).collect())
        .collect();
    let fractions = counts
        .iter()
        .map(|r| r.iter().map(|&c| c as f64 / per as f64).collect())
        .collect();
    Ok(Profile {
        axis,
        length_unit: units.length.clone(),
        slice_thickness: d,
        voxels_per_slice: per,
        labels: lab,
        position: (0..hs.len()).map(|i| (i as f64 + 0.5) * d).collect(),
        counts,
        fractions,
        voxel_size_nm: voxel.nm,
        note: units.note,
    })
}

/// How to find a deposit on a profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DepositOptions {
    /// The measured phase (pore / electrolyte), label value.
    pub phase: u8,
    /// Label of the current collector, if it is segmented.
    pub collector: Option<u8>,
    /// Solid-fraction threshold; `None` = half of the largest solid fraction beyond the collector.
    pub threshold: Option<f64>,
    /// The collector is at the high-index end of the axis (heights measured from there).
    pub reverse: bool,
}

/// The deposit found on a profile. Positions are heights measured from the collector-side end of
/// the axis (index 0, or the last index with `reverse`), in `length_unit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deposit {
    /// The detection rule, in words.
    pub rule: String,
    /// Solid-fraction threshold used.
    pub threshold: f64,
    /// Slice indices (array indices along the axis) of the first and last deposit slices.
    pub bottom_index: usize,
    pub top_index: usize,
    /// Lower face of the bottom slice and upper face of the top slice (height from the collector end).
    pub bottom: f64,
    pub top: f64,
    /// `top - bottom`.
    pub thickness: f64,
    /// Where the collector ends (height), when a collector label was given and found.
    pub collector_top: Option<f64>,
    /// Fraction of `phase` among all voxels of the deposit slices (inclusive).
    pub mean_porosity: f64,
    pub length_unit: String,
}

/// Find the deposit's bottom and top on a profile.
///
/// Rule (heights measured from the collector end; reversed with `reverse`):
/// 1. solid fraction of slice i = 1 − f(phase) − f(collector);
/// 2. with a collector label, deposit slices start after the last slice whose collector fraction
///    is ≥ 0.5 (the collector top);
/// 3. threshold t = `threshold`, or half of the maximum solid fraction beyond the collector;
/// 4. bottom = first slice beyond the collector with solid ≥ t, top = last slice with solid ≥ t;
/// 5. mean porosity = voxels of `phase` / all voxels in slices bottom..=top.
///
/// Returns `Ok(None)` when no slice holds any solid.
pub fn detect_deposit(p: &Profile, opts: &DepositOptions) -> Result<Option<Deposit>, ParamError> {
    if let Some(t) = opts.threshold {
        crate::error::in_range("deposit threshold", t, 0.0, 1.0)?;
        if t == 0.0 {
            return Err(ParamError::new(
                "deposit threshold",
                t,
                "must be > 0 (a solid fraction between 0 and 1)",
            ));
        }
    }
    if Some(opts.phase) == opts.collector {
        return Err(ParamError::new(
            "collector label",
            opts.phase,
            "must differ from the measured phase",
        ));
    }
    let n = p.position.len();
    // frame index j (0 = collector end) -> array index
    let idx = |j: usize| if opts.reverse { n - 1 - j } else { j };
    let fp = p.fraction_of(opts.phase);
    let fc = opts.collector.map_or(vec![0.0; n], |c| p.fraction_of(c));
    let solid: Vec<f64> = (0..n)
        .map(|j| (1.0 - fp[idx(j)] - fc[idx(j)]).max(0.0))
        .collect();
    let start = opts
        .collector
        .and_then(|c| collector_end(p, c, opts.reverse))
        .unwrap_or(0);
    let max = solid[start..].iter().cloned().fold(0.0, f64::max);
    if max <= 0.0 {
        return Ok(None);
    }
    let t = opts.threshold.unwrap_or(0.5 * max);
    let bottom = match (start..n).find(|&j| solid[j] >= t) {
        Some(b) => b,
        None => return Ok(None),
    };
    let top = (start..n).rev().find(|&j| solid[j] >= t).unwrap_or(bottom);
    let cp = p.count_of(opts.phase);
    let pore: u64 = (bottom..=top).map(|j| cp[idx(j)]).sum();
    let tot = (top - bottom + 1) as u64 * p.voxels_per_slice;
    let d = p.slice_thickness;
    let rule = format!(
        "solid = 1 - f(phase {}){}; threshold {} ; bottom = first slice{} with solid >= threshold, \
         top = last such slice; heights from the {} end of axis {}",
        opts.phase,
        opts.collector
            .map_or(String::new(), |c| format!(" - f(collector {c})")),
        if opts.threshold.is_some() {
            "given"
        } else {
            "= half the maximum solid fraction"
        },
        if opts.collector.is_some() {
            " above the last slice with collector fraction >= 0.5"
        } else {
            ""
        },
        if opts.reverse { "high-index" } else { "index-0" },
        p.axis.name()
    );
    Ok(Some(Deposit {
        rule,
        threshold: t,
        bottom_index: idx(bottom),
        top_index: idx(top),
        bottom: bottom as f64 * d,
        top: (top + 1) as f64 * d,
        thickness: (top + 1 - bottom) as f64 * d,
        collector_top: (opts.collector.is_some() && start > 0).then_some(start as f64 * d),
        mean_porosity: pore as f64 / tot as f64,
        length_unit: p.length_unit.clone(),
    }))
}

/// Number of slices, counted from the collector-side end of the profile (index 0, or the last
/// index with `reverse`), up to and including the last slice whose `collector` fraction is ≥ 0.5
/// — i.e. the frame index of the first slice above the collector. `None` when no slice is mostly
/// collector.
pub fn collector_end(p: &Profile, collector: u8, reverse: bool) -> Option<usize> {
    let n = p.position.len();
    let fc = p.fraction_of(collector);
    let idx = |j: usize| if reverse { n - 1 - j } else { j };
    (0..n).rev().find(|&j| fc[idx(j)] >= 0.5).map(|j| j + 1)
}

/// Array indices `[first, end)` along the profile's axis of the slices whose centres lie between
/// `lo` and `hi` (heights above the collector top, in the profile's length unit): the fixed
/// analysis window of a deposit, the same physical band for every sample. The collector top is
/// [`collector_end`].
///
/// ```
/// use fibstack::metrics::porosity::{profile, window_above_collector, Axis};
/// use fibstack::volume::{LabelVolume, VoxelSize, VoxelSource};
/// // 10 rows of 20 nm along y; rows 8 and 9 are collector (label 2), the rest pore
/// let a = ndarray::Array3::from_shape_fn((1, 10, 4), |(_, y, _)| if y >= 8 { 2u8 } else { 0 });
/// let v = LabelVolume::new(a, VoxelSize::new([20.0; 3], VoxelSource::File));
/// let p = profile(v.view(), Axis::Y, &v.voxel).unwrap();
/// // heights 40..100 nm above the collector top (row 8) = rows with centres 50, 70, 90 nm → rows 3..6
/// assert_eq!(window_above_collector(&p, 2, true, [40.0, 100.0]).unwrap(), [3, 6]);
/// ```
pub fn window_above_collector(
    p: &Profile,
    collector: u8,
    reverse: bool,
    window: [f64; 2],
) -> Result<[usize; 2], ParamError> {
    let [lo, hi] = window;
    if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && hi > lo) {
        return Err(ParamError::new(
            "window",
            format!("[{lo}, {hi}]"),
            "give two heights above the collector, 0 <= from < to",
        ));
    }
    let n = p.position.len();
    let start = collector_end(p, collector, reverse).ok_or_else(|| {
        ParamError::new(
            "collector",
            collector,
            "no slice is mostly collector along this axis; check the collector label and axis",
        )
    })?;
    let d = p.slice_thickness;
    // frame slices j >= start with centre height (j - start + 1/2)·d in [lo, hi)
    let first = start.saturating_add((lo / d - 0.5).ceil().max(0.0) as usize);
    let end = start.saturating_add((hi / d - 0.5).ceil().max(0.0) as usize);
    if end > n || first >= end {
        return Err(ParamError::new(
            "window",
            format!("[{lo}, {hi}] {}", p.length_unit),
            format!(
                "holds no slice or reaches beyond the volume ({} {} above the collector); lower `to`",
                (n - start) as f64 * d,
                p.length_unit
            ),
        ));
    }
    Ok(if reverse {
        [n - end, n - first]
    } else {
        [first, end]
    })
}

/// Voxel counts of `phase` in boxes of size `len = [lz, ly, lx]` starting at every combination of
/// `starts[0] × starts[1] × starts[2]` (row-major over z, y, x). Separable: prefix sums along x per
/// row, then along y and z on the reduced arrays — O(N) regardless of box size.
pub fn box_counts(
    labels: ArrayView3<u8>,
    phase: u8,
    len: [usize; 3],
    starts: &[Vec<usize>; 3],
) -> Vec<u64> {
    let s = labels.shape();
    let (nz, ny) = (s[0], s[1]);
    let (kz, ky, kx) = (starts[0].len(), starts[1].len(), starts[2].len());
    // step 1: per (z, y) row, counts in x windows -> a[z][y*kx + i]
    let a: Vec<Vec<u32>> = labels
        .axis_iter(NdAxis(0))
        .into_par_iter()
        .map(|sl| {
            let mut out = vec![0u32; ny * kx];
            let mut pre = vec![0u32; s[2] + 1];
            for (y, row) in sl.outer_iter().enumerate() {
                for (x, &v) in row.iter().enumerate() {
                    pre[x + 1] = pre[x] + (v == phase) as u32;
                }
                for (i, &sx) in starts[2].iter().enumerate() {
                    out[y * kx + i] = pre[sx + len[2]] - pre[sx];
                }
            }
            out
        })
        .collect();
    // step 2: along y -> b[z][j*kx + i]
    let b: Vec<Vec<u64>> = a
        .par_iter()
        .map(|az| {
            let mut out = vec![0u64; ky * kx];
            let mut pre = vec![0u64; ny + 1];
            for i in 0..kx {
                for y in 0..ny {
                    pre[y + 1] = pre[y] + az[y * kx + i] as u64;
                }
                for (j, &sy) in starts[1].iter().enumerate() {
                    out[j * kx + i] = pre[sy + len[1]] - pre[sy];
                }
            }
            out
        })
        .collect();
    // step 3: along z
    let mut out = vec![0u64; kz * ky * kx];
    let mut pre = vec![0u64; nz + 1];
    for m in 0..ky * kx {
        for z in 0..nz {
            pre[z + 1] = pre[z] + b[z][m];
        }
        for (k, &sz) in starts[0].iter().enumerate() {
            out[k * ky * kx + m] = pre[sz + len[0]] - pre[sz];
        }
    }
    out
}

/// Summary statistics of sub-volume fractions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator; 0 when n = 1).
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

fn stats(v: &[f64]) -> Stats {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    Stats {
        n,
        mean,
        std: var.sqrt(),
        min: v.iter().cloned().fold(f64::INFINITY, f64::min),
        max: v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// Voxels per axis for a cube of physical edge `edge` (length units), clipped to `[1, n]`.
fn edge_voxels(edge: f64, scale: [f64; 3], shape: &[usize]) -> [usize; 3] {
    let mut l = [1usize; 3];
    for a in 0..3 {
        l[a] = ((edge / scale[a]).round() as usize).clamp(1, shape[a]);
    }
    l
}

/// One window of a windowed-statistics grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Index of the window's first voxel `[z, y, x]`.
    pub origin: [usize; 3],
    /// Fraction of the phase in the window.
    pub fraction: f64,
}

/// Phase fraction over a grid of non-overlapping windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    pub phase: u8,
    /// Requested window edge (length unit).
    pub edge: f64,
    /// Window size in voxels `[lz, ly, lx]` (edge / voxel size, rounded, clipped to the volume).
    pub window_voxels: [usize; 3],
    /// Window size in length units `[z, y, x]`.
    pub window_size: [f64; 3],
    pub length_unit: String,
    /// Statistics over complete windows (partial windows at the far faces are dropped).
    pub stats: Stats,
    /// Every window (CSV only; left out of JSON).
    #[serde(skip)]
    pub windows: Vec<Window>,
    pub note: Option<String>,
}

impl WindowStats {
    /// CSV: `origin_z, origin_y, origin_x` (voxel indices), `fraction`.
    pub fn write_csv<W: std::io::Write>(&self, w: W) -> Result<(), csv::Error> {
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record([
            "origin_z_index",
            "origin_y_index",
            "origin_x_index",
            "fraction",
        ])?;
        for win in &self.windows {
            wr.write_record([
                win.origin[0].to_string(),
                win.origin[1].to_string(),
                win.origin[2].to_string(),
                format!("{}", win.fraction),
            ])?;
        }
        wr.flush()?;
        Ok(())
    }
}

/// Fraction of `phase` in a grid of non-overlapping cubic windows of edge `edge_nm` (nm; voxels when
/// the voxel size is uncalibrated), starting at the origin; windows that would cross the far faces
/// are dropped. A window longer than an axis is clipped to the axis (and noted).
pub fn window_stats(
    labels: ArrayView3<u8>,
    phase: u8,
    edge_nm: f64,
    voxel: &VoxelSize,
) -> Result<WindowStats, ParamError> {
    check_nonempty(labels.shape())?;
    crate::error::positive("window edge", edge_nm)?;
    let units = Units::from_voxel(voxel)?;
    let s = labels.shape();
    let l = edge_voxels(edge_nm, units.scale, s);
    let starts: [Vec<usize>; 3] =
        std::array::from_fn(|a| (0..s[a] / l[a]).map(|i| i * l[a]).collect());
    let c = box_counts(labels, phase, l, &starts);
    let vol = (l[0] * l[1] * l[2]) as f64;
    let mut windows = Vec::with_capacity(c.len());
    let mut m = 0;
    for &z in &starts[0] {
        for &y in &starts[1] {
            for &x in &starts[2] {
                windows.push(Window {
                    origin: [z, y, x],
                    fraction: c[m] as f64 / vol,
                });
                m += 1;
            }
        }
    }
    let fr: Vec<f64> = windows.iter().map(|w| w.fraction).collect();
    let mut note = units.note.clone();
    let clipped: Vec<&str> = (0..3)
        .filter(|&a| (edge_nm / units.scale[a]).round() as usize > s[a])
        .map(|a| Axis::ALL[a].name())
        .collect();
    if !clipped.is_empty() {
        let t = format!(
            "window longer than the volume along {}: clipped to the full axis",
            clipped.join(", ")
        );
        note = Some(note.map_or(t.clone(), |n| format!("{n}; {t}")));
    }
    Ok(WindowStats {
        phase,
        edge: edge_nm,
        window_voxels: l,
        window_size: std::array::from_fn(|a| l[a] as f64 * units.scale[a]),
        length_unit: units.length.clone(),
        stats: stats(&fr),
        windows,
        note,
    })
}

/// One point of the representative-volume curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevPoint {
    /// Requested cube edge (length unit).
    pub edge: f64,
    /// Sub-volume size in voxels `[lz, ly, lx]`.
    pub window_voxels: [usize; 3],
    /// Fraction statistics over the sampled sub-volumes.
    pub stats: Stats,
}

/// Fraction and its spread versus sub-cube edge length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevCurve {
    pub phase: u8,
    /// Fraction in the whole volume.
    pub fraction: f64,
    pub length_unit: String,
    /// Sampling rule, in words.
    pub method: String,
    pub points: Vec<RevPoint>,
    pub note: Option<String>,
}

/// Representative-volume curve: for `n_sizes` cube edges spaced geometrically from 2 voxels (of the
/// coarsest axis) to the shortest box side, the fraction of `phase` in sub-cubes placed on an even
/// grid of positions (per axis `k = min(n − l + 1, ceil(2n / l), 16)` positions from 0 to n − l,
/// so cubes overlap by about half), with mean, sample std, min and max.
pub fn rev_curve(
    labels: ArrayView3<u8>,
    phase: u8,
    voxel: &VoxelSize,
    n_sizes: usize,
) -> Result<RevCurve, ParamError> {
    check_nonempty(labels.shape())?;
    if n_sizes == 0 || n_sizes > 1000 {
        return Err(ParamError::new(
            "REV sizes",
            n_sizes,
            "must be between 1 and 1000",
        ));
    }
    let units = Units::from_voxel(voxel)?;
    let s = labels.shape();
    let sc = units.scale;
    let emin = 2.0 * sc.iter().cloned().fold(0.0, f64::max);
    let emax = (0..3)
        .map(|a| s[a] as f64 * sc[a])
        .fold(f64::INFINITY, f64::min);
    let emin = emin.min(emax);
    let mut edges: Vec<f64> = (0..n_sizes)
        .map(|i| {
            if n_sizes == 1 {
                emax
            } else {
                emin * (emax / emin).powf(i as f64 / (n_sizes - 1) as f64)
            }
        })
        .collect();
    edges.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    let h = histogram(labels);
    let n: u64 = h.iter().sum();
    let mut points = Vec::new();
    let mut last: Option<[usize; 3]> = None;
    for e in edges {
        let l = edge_voxels(e, sc, s);
        if last == Some(l) {
            continue;
        }
        last = Some(l);
        let starts: [Vec<usize>; 3] = std::array::from_fn(|a| {
            let room = s[a] - l[a];
            let k = (room + 1).min(2 * s[a].div_ceil(l[a])).clamp(1, 16);
            if k == 1 {
                vec![room / 2]
            } else {
                (0..k)
                    .map(|i| ((i * room) as f64 / (k - 1) as f64).round() as usize)
                    .collect()
            }
        });
        let c = box_counts(labels, phase, l, &starts);
        let vol = (l[0] * l[1] * l[2]) as f64;
        let fr: Vec<f64> = c.iter().map(|&c| c as f64 / vol).collect();
        points.push(RevPoint {
            edge: e,
            window_voxels: l,
            stats: stats(&fr),
        });
    }
    Ok(RevCurve {
        phase,
        fraction: h[phase as usize] as f64 / n as f64,
        length_unit: units.length.clone(),
        method:
            "sub-cubes on an even grid of positions per axis (k = min(n-l+1, ceil(2n/l), 16)), \
                 edges geometric from 2 voxels to the shortest side"
                .into(),
        points,
        note: units.note,
    })
}

impl RevCurve {
    /// CSV: `edge_<unit>, lz, ly, lx, n_samples, mean, std, min, max`.
    pub fn write_csv<W: std::io::Write>(&self, w: W) -> Result<(), csv::Error> {
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record([
            format!("edge_{}", self.length_unit),
            "window_z_voxels".into(),
            "window_y_voxels".into(),
            "window_x_voxels".into(),
            "n_samples".into(),
            "mean_fraction".into(),
            "std_fraction".into(),
            "min_fraction".into(),
            "max_fraction".into(),
        ])?;
        for p in &self.points {
            wr.write_record([
                format!("{}", p.edge),
                p.window_voxels[0].to_string(),
                p.window_voxels[1].to_string(),
                p.window_voxels[2].to_string(),
                p.stats.n.to_string(),
                format!("{}", p.stats.mean),
                format!("{}", p.stats.std),
                format!("{}", p.stats.min),
                format!("{}", p.stats.max),
            ])?;
        }
        wr.flush()?;
        Ok(())
    }
}

/// A number with its unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    pub value: f64,
    /// `"1"` for dimensionless fractions.
    pub unit: String,
}

/// What `fibstack porosity` computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PorosityOptions {
    /// Label measured (0 = pore by convention).
    pub phase: u8,
    /// Profile axes.
    pub axes: Vec<Axis>,
    /// Edge of the windowed-statistics cubes (nm; voxels when uncalibrated). None = off.
    pub window_nm: Option<f64>,
    /// Number of REV edge lengths (0 = off).
    pub rev_sizes: usize,
    /// Detect a deposit along each profile axis.
    pub deposit: bool,
    pub collector: Option<u8>,
    pub deposit_threshold: Option<f64>,
    /// Collector at the high-index end.
    pub reverse: bool,
}

impl Default for PorosityOptions {
    fn default() -> Self {
        PorosityOptions {
            phase: 0,
            axes: Axis::ALL.to_vec(),
            window_nm: None,
            rev_sizes: 10,
            deposit: false,
            collector: None,
            deposit_threshold: None,
            reverse: false,
        }
    }
}

impl PorosityOptions {
    /// Check the options before any work.
    pub fn validate(&self) -> Result<(), ParamError> {
        if let Some(w) = self.window_nm {
            crate::error::length_nm("window", w)?;
        }
        if self.rev_sizes > 1000 {
            return Err(ParamError::new(
                "REV sizes",
                self.rev_sizes,
                "must be at most 1000 (0 = off)",
            ));
        }
        if let Some(t) = self.deposit_threshold {
            if !(t > 0.0 && t <= 1.0) {
                return Err(ParamError::new(
                    "deposit threshold",
                    t,
                    "must be a solid fraction in (0, 1]",
                ));
            }
        }
        if self.collector == Some(self.phase) {
            return Err(ParamError::new(
                "collector label",
                self.phase,
                "must differ from the measured phase",
            ));
        }
        Ok(())
    }
}

/// Profile of the measured phase, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    pub axis: Axis,
    pub n_slices: usize,
    /// Slice thickness (length unit).
    pub slice_thickness: f64,
    /// Fraction of the phase per slice: statistics over slices.
    pub stats: Stats,
    /// Slice centres (length unit) and the phase fraction of each slice.
    pub position: Vec<f64>,
    pub fraction: Vec<f64>,
}

/// Deposit found along one axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisDeposit {
    pub axis: Axis,
    /// None when no slice holds solid.
    pub deposit: Option<Deposit>,
}

/// Everything `fibstack porosity` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PorosityReport {
    pub method: String,
    pub phase: u8,
    /// Volume fraction of `phase` (unit "1").
    pub porosity: Quantity,
    pub voxel_size_nm: [f64; 3],
    pub voxel_calibrated: bool,
    pub length_unit: String,
    pub note: Option<String>,
    pub phases: PhaseFractions,
    pub profiles: Vec<ProfileSummary>,
    /// Full profiles (all labels), for CSV.
    #[serde(skip)]
    pub profile_tables: Vec<Profile>,
    pub deposits: Vec<AxisDeposit>,
    pub windows: Option<WindowStats>,
    pub rev_curve: Option<RevCurve>,
}

/// Phase fractions, profiles, optional deposit detection, windowed statistics and REV curve.
pub fn porosity_report(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
    opts: &PorosityOptions,
) -> Result<PorosityReport, ParamError> {
    opts.validate()?;
    let units = Units::from_voxel(voxel)?;
    let phases = phase_fractions(labels, voxel)?;
    let mut profiles = Vec::new();
    let mut tables = Vec::new();
    let mut deposits = Vec::new();
    for &axis in &opts.axes {
        let p = profile(labels, axis, voxel)?;
        let f = p.fraction_of(opts.phase);
        profiles.push(ProfileSummary {
            axis,
            n_slices: f.len(),
            slice_thickness: p.slice_thickness,
            stats: stats(&f),
            position: p.position.clone(),
            fraction: f,
        });
        if opts.deposit
            || opts.collector.is_some()
            || opts.deposit_threshold.is_some()
            || opts.reverse
        {
            deposits.push(AxisDeposit {
                axis,
                deposit: detect_deposit(
                    &p,
                    &DepositOptions {
                        phase: opts.phase,
                        collector: opts.collector,
                        threshold: opts.deposit_threshold,
                        reverse: opts.reverse,
                    },
                )?,
            });
        }
        tables.push(p);
    }
    let windows = match opts.window_nm {
        Some(w) => Some(window_stats(labels, opts.phase, w, voxel)?),
        None => None,
    };
    let rev_curve = if opts.rev_sizes > 0 {
        Some(rev_curve(labels, opts.phase, voxel, opts.rev_sizes)?)
    } else {
        None
    };
    let mut note = units.note.clone();
    if phases.get(opts.phase).is_none() {
        let t = format!("phase {} is absent: porosity 0", opts.phase);
        note = Some(note.map_or(t.clone(), |n| format!("{n}; {t}")));
    }
    Ok(PorosityReport {
        method: "voxel counting (fractions, per-slice profiles, sub-volumes)".into(),
        phase: opts.phase,
        porosity: Quantity {
            value: phases.fraction(opts.phase),
            unit: "1".into(),
        },
        voxel_size_nm: voxel.nm,
        voxel_calibrated: units.calibrated,
        length_unit: units.length.clone(),
        note,
        phases,
        profiles,
        profile_tables: tables,
        deposits,
        windows,
        rev_curve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::VoxelSource;
    use ndarray::Array3;

    fn cal(nm: [f64; 3]) -> VoxelSize {
        VoxelSize::new(nm, VoxelSource::CommandLine)
    }

    #[test]
    fn fractions_sum_to_one_and_volumes_scale() {
        let a = Array3::from_shape_fn((3, 4, 5), |(z, y, x)| ((z + y * x) % 3) as u8);
        let r = phase_fractions(a.view(), &cal([2.0, 3.0, 4.0])).unwrap();
        let s: f64 = r.phases.iter().map(|p| p.fraction).sum();
        assert!((s - 1.0).abs() < 1e-12);
        assert_eq!(r.n_voxels, 60);
        assert_eq!(r.total_volume, 60.0 * 24.0);
        assert_eq!(r.volume_unit, "nm^3");
    }

    #[test]
    fn uncalibrated_is_voxel_units() {
        let a = Array3::<u8>::zeros((2, 2, 2));
        let r = phase_fractions(a.view(), &VoxelSize::default()).unwrap();
        assert_eq!(r.volume_unit, "voxel^3");
        assert!(r.note.is_some());
        assert_eq!(r.phases[0].volume_um3, None);
    }

    #[test]
    fn empty_volume_is_an_error() {
        let a = Array3::<u8>::zeros((0, 2, 2));
        assert!(phase_fractions(a.view(), &VoxelSize::default()).is_err());
        assert!(profile(a.view(), Axis::Z, &VoxelSize::default()).is_err());
    }

    #[test]
    fn box_counts_match_naive() {
        let a = Array3::from_shape_fn((7, 6, 9), |(z, y, x)| {
            ((z * 7 + y * 3 + x * x) % 4 == 0) as u8
        });
        let len = [3, 2, 4];
        let starts = [vec![0, 2, 4], vec![1, 4], vec![0, 5, 3]];
        let c = box_counts(a.view(), 1, len, &starts);
        let mut m = 0;
        for &z in &starts[0] {
            for &y in &starts[1] {
                for &x in &starts[2] {
                    let mut n = 0;
                    for dz in 0..len[0] {
                        for dy in 0..len[1] {
                            for dx in 0..len[2] {
                                n += (a[[z + dz, y + dy, x + dx]] == 1) as u64;
                            }
                        }
                    }
                    assert_eq!(c[m], n);
                    m += 1;
                }
            }
        }
    }
}
