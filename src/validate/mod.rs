//! Validation against a known answer: scoring a segmentation against reference labels, and
//! bringing simulator truth onto the grid of a processed stack.
//!
//! This module sits above the processing layers: it may read the simulator's truth (`synth`),
//! the reports of the processing steps (`preprocess`) and a workflow's `results.json`; the
//! segmentation itself (`segment`) depends on none of them.
//!
//! **Scores** ([`confusion`], [`Confusion::score`]): on two label volumes of the same grid, the
//! confusion matrix of (segmented label, reference label) voxel counts, from which
//! - per-phase Dice `2|A∩B| / (|A| + |B|)` (A = voxels segmented as the phase, B = reference voxels
//!   of the phase),
//! - voxel accuracy (fraction of voxels whose labels agree),
//! - any merged view, e.g. pore against everything else ([`Confusion::merged`]): merging sums
//!   rows and columns of the matrix, so no second pass over the volumes is needed.
//!
//! Reference voxels holding [`UNSCORED`] are left out of every count (they are reported).
//!
//! **Truth on the processed grid** ([`ChainTransform`], [`truth_on_grid`]): the simulator
//! (`synth::acquisition`) renders truth labels into raw images through a known transform, and the
//! processing chain (drift alignment, then 52° geometry) resamples those images through another
//! known transform (recorded in its reports). Composing both gives, for every processed voxel, the
//! point of the truth volume it shows; the truth label there (nearest neighbour, no registration)
//! is the reference for that voxel:
//!
//! ```text
//! processed (k, j, x) ──geometry──▶ aligned (k, lo + j·a + k·c, x)            (GeometryReport)
//!                     ──alignment─▶ raw (k, y + y0 − cum_dy[k], x + x0 − cum_dx[k])   (AlignReport)
//!                     ──simulator─▶ truth (k, (r − ty[k]) / row_scale, c − tx[k])     (AcqTruth)
//! ```
//! with `lo = rows_raw[0]`, `a = 1/stretch_factor`, `c = shear_raw_px_per_slice`,
//! `(y0, x0)` the alignment's crop origin and `(ty, tx) = total_shift_px[k]`.
//!
//! Two choices of alignment shifts ([`Alignment`]):
//! - [`Alignment::Applied`]: the shifts the chain applied (from its report). The mapping is then
//!   the exact transform of the data, so the score measures the segmentation of what the chain
//!   produced; an alignment error moves data and reference together and is not counted.
//! - [`Alignment::Ideal`]: a perfect alignment (`cum = −total_shift_px`, slice 0 has no shift),
//!   i.e. the truth at the place each processed voxel *should* show: alignment errors count too.
//!   Only defined for a full alignment (no detrending).

use crate::error::ParamError;
use crate::preprocess::align::{AlignReport, Detrend};
use crate::preprocess::geometry::GeometryReport;
use crate::synth::acquisition::{AcqTruth, Outside};
use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Reference value of voxels that are not scored (e.g. mapped outside the truth volume).
pub const UNSCORED: u8 = 255;

/// Voxel counts of (segmented label, reference label) pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Labels present in either volume (scored voxels only), ascending.
    pub labels: Vec<u8>,
    /// `counts[i][j]`: voxels segmented as `labels[i]` whose reference is `labels[j]`.
    pub counts: Vec<Vec<u64>>,
    /// Voxels left out because the reference holds [`UNSCORED`].
    pub unscored: u64,
}

/// Dice of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseScore {
    /// The phase label.
    pub label: u8,
    /// Phase name, when known (e.g. from the simulator's truth record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `2·overlap / (segmented + reference)`; 1 when the phase is absent from both.
    pub dice: f64,
    /// Voxels segmented as this phase.
    pub segmented_voxels: u64,
    /// Reference voxels of this phase.
    pub reference_voxels: u64,
    /// Voxels of this phase in both.
    pub overlap: u64,
    /// Segmented and reference volume fractions of the phase (of the scored voxels).
    pub segmented_fraction: f64,
    /// Reference volume fraction of the phase (of the scored voxels; unit "1").
    pub reference_fraction: f64,
}

/// Per-phase Dice and accuracy of one [`Confusion`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// One entry per label present in either volume, ascending.
    pub phases: Vec<PhaseScore>,
    /// Fraction of scored voxels whose labels agree.
    pub accuracy: f64,
    /// Voxels compared.
    pub scored_voxels: u64,
    /// Voxels left out because the reference holds [`UNSCORED`].
    pub unscored_voxels: u64,
}

/// Confusion matrix of `seg` against `reference` (same shape). Reference voxels equal to
/// [`UNSCORED`] are skipped. Parallel over slices; integer counts, so thread-count independent.
pub fn confusion(seg: ArrayView3<u8>, reference: ArrayView3<u8>) -> Result<Confusion, ParamError> {
    if seg.dim() != reference.dim() {
        let (a, b) = (seg.dim(), reference.dim());
        return Err(ParamError::new(
            "reference shape",
            format!("{}x{}x{} vs {}x{}x{}", b.0, b.1, b.2, a.0, a.1, a.2),
            "the segmentation and the reference must be on the same grid (map the truth first)",
        ));
    }
    let hist = seg
        .axis_iter(Axis(0))
        .into_par_iter()
        .zip(reference.axis_iter(Axis(0)).into_par_iter())
        .fold(
            || vec![0u64; 256 * 256],
            |mut h, (s, r)| {
                ndarray::Zip::from(&s)
                    .and(&r)
                    .for_each(|&a, &b| h[((a as usize) << 8) | b as usize] += 1);
                h
            },
        )
        .reduce(
            || vec![0u64; 256 * 256],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let unscored: u64 = (0..256).map(|s| hist[(s << 8) | UNSCORED as usize]).sum();
    let mut present = [false; 256];
    for s in 0..256usize {
        for r in 0..256usize {
            if r != UNSCORED as usize && hist[(s << 8) | r] > 0 {
                present[s] = true;
                present[r] = true;
            }
        }
    }
    let labels: Vec<u8> = (0..=255u8).filter(|&l| present[l as usize]).collect();
    let counts = labels
        .iter()
        .map(|&s| {
            labels
                .iter()
                .map(|&r| hist[((s as usize) << 8) | r as usize])
                .collect()
        })
        .collect();
    Ok(Confusion {
        labels,
        counts,
        unscored,
    })
}

impl Confusion {
    /// Scored voxels.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    fn index(&self, label: u8) -> Option<usize> {
        self.labels.iter().position(|&l| l == label)
    }

    /// Voxels segmented as `label`.
    pub fn segmented(&self, label: u8) -> u64 {
        self.index(label)
            .map(|i| self.counts[i].iter().sum())
            .unwrap_or(0)
    }

    /// Reference voxels of `label`.
    pub fn reference(&self, label: u8) -> u64 {
        self.index(label)
            .map(|j| self.counts.iter().map(|row| row[j]).sum())
            .unwrap_or(0)
    }

    /// Dice of `label`: `2|A∩B| / (|A| + |B|)`, 1 when the label is in neither volume.
    pub fn dice(&self, label: u8) -> f64 {
        let Some(i) = self.index(label) else {
            return 1.0;
        };
        let both = self.counts[i][i];
        let sum = self.segmented(label) + self.reference(label);
        if sum == 0 {
            1.0
        } else {
            2.0 * both as f64 / sum as f64
        }
    }

    /// Fraction of scored voxels whose labels agree (1 for an empty volume).
    pub fn accuracy(&self) -> f64 {
        let t = self.total();
        if t == 0 {
            return 1.0;
        }
        let agree: u64 = (0..self.labels.len()).map(|i| self.counts[i][i]).sum();
        agree as f64 / t as f64
    }

    /// The matrix after relabelling both sides with `map` (e.g. `|l| (l != 0) as u8` for pore
    /// against solid): rows and columns of labels mapped together are summed.
    pub fn merged(&self, map: impl Fn(u8) -> u8) -> Confusion {
        let mut hist = std::collections::BTreeMap::<(u8, u8), u64>::new();
        for (i, &s) in self.labels.iter().enumerate() {
            for (j, &r) in self.labels.iter().enumerate() {
                *hist.entry((map(s), map(r))).or_default() += self.counts[i][j];
            }
        }
        let mut labels: Vec<u8> = self.labels.iter().map(|&l| map(l)).collect();
        labels.sort_unstable();
        labels.dedup();
        let counts = labels
            .iter()
            .map(|&s| {
                labels
                    .iter()
                    .map(|&r| hist.get(&(s, r)).copied().unwrap_or(0))
                    .collect()
            })
            .collect();
        Confusion {
            labels,
            counts,
            unscored: self.unscored,
        }
    }

    /// Per-phase Dice (every label present in either volume) and accuracy.
    pub fn score(&self) -> Score {
        let t = self.total().max(1) as f64;
        let phases = self
            .labels
            .iter()
            .map(|&l| {
                let i = self.index(l).unwrap_or(0);
                PhaseScore {
                    label: l,
                    name: None,
                    dice: self.dice(l),
                    segmented_voxels: self.segmented(l),
                    reference_voxels: self.reference(l),
                    overlap: self.counts[i][i],
                    segmented_fraction: self.segmented(l) as f64 / t,
                    reference_fraction: self.reference(l) as f64 / t,
                }
            })
            .collect();
        Score {
            phases,
            accuracy: self.accuracy(),
            scored_voxels: self.total(),
            unscored_voxels: self.unscored,
        }
    }
}

impl Score {
    /// Dice of `label` (1 when absent from both volumes).
    pub fn dice(&self, label: u8) -> f64 {
        self.phases
            .iter()
            .find(|p| p.label == label)
            .map(|p| p.dice)
            .unwrap_or(1.0)
    }
}

/// Which alignment shifts map processed voxels to raw pixels (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Alignment {
    /// The shifts the chain applied (from the align report).
    #[default]
    Applied,
    /// A perfect alignment: slice k shifted by `−total_shift_px[k]`.
    Ideal,
}

/// Processed voxel → raw image position for an `align` (optional) then `geometry` (optional) chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainTransform {
    /// Shape `[nz, rows, cols]` of the raw stack.
    pub raw_shape: [usize; 3],
    /// Shape of the processed stack (after any crop).
    pub shape: [usize; 3],
    /// Origin `[z, y, x]` of the processed stack in the grid the alignment and geometry produced
    /// (nonzero after a `crop` step; see [`ChainTransform::cropped`]).
    pub crop_origin: [usize; 3],
    /// Per slice, the shift `[dy, dx]` the alignment applied (`out(y, x) = in(y − dy, x − dx)`).
    pub align_shifts: Vec<[f64; 2]>,
    /// Origin `[y0, x0]` of the aligned frame in slice 0's frame (crop region).
    pub align_origin: [i64; 2],
    /// Was the cumulative drift curve detrended (then [`Alignment::Ideal`] is undefined)?
    pub detrended: bool,
    /// Was there an alignment at all ([`Alignment::Ideal`] needs one)?
    pub aligned: bool,
    /// Geometry: processed row j of slice k comes from aligned row `rows_lo + j·row_step + k·shear`.
    pub rows_lo: f64,
    /// Aligned rows per processed row (`1 / stretch_factor` of the geometry; 1 without it).
    pub row_step: f64,
    /// Shear of the geometry correction: aligned rows per slice (raw px; 0 without it).
    pub shear_px_per_slice: f64,
}

impl ChainTransform {
    /// From the reports of the chain (either may be absent) applied to a raw stack of `raw_shape`.
    /// Checks that the shapes chain up (raw → align → geometry); a step that changes the grid
    /// otherwise (a crop, geometry before alignment) is caught here.
    pub fn new(
        raw_shape: [usize; 3],
        align: Option<&AlignReport>,
        geometry: Option<&GeometryReport>,
    ) -> Result<Self, ParamError> {
        let mut shape = raw_shape;
        let mut t = ChainTransform {
            raw_shape,
            shape,
            crop_origin: [0, 0, 0],
            align_shifts: vec![[0.0, 0.0]; raw_shape[0]],
            align_origin: [0, 0],
            detrended: false,
            aligned: false,
            rows_lo: 0.0,
            row_step: 1.0,
            shear_px_per_slice: 0.0,
        };
        let fmt = |s: [usize; 3]| format!("{}x{}x{}", s[0], s[1], s[2]);
        if let Some(a) = align {
            if a.input_shape != shape || a.slices.len() != shape[0] {
                return Err(ParamError::new(
                    "align report input shape",
                    fmt(a.input_shape),
                    format!(
                        "the alignment must run on the raw stack ({}) as the first resampling step",
                        fmt(shape)
                    ),
                ));
            }
            t.align_shifts = a
                .slices
                .iter()
                .map(|s| [s.cum_dy_px, s.cum_dx_px])
                .collect();
            t.align_origin = [a.crop_region.y0, a.crop_region.x0];
            t.detrended = a.params.detrend != Detrend::None;
            t.aligned = true;
            shape = a.output_shape;
        }
        if let Some(g) = geometry {
            if g.input_shape != shape {
                return Err(ParamError::new(
                    "geometry report input shape",
                    fmt(g.input_shape),
                    format!(
                        "expected {} (the geometry step must follow the alignment directly)",
                        fmt(shape)
                    ),
                ));
            }
            if !(g.stretch_factor.is_finite() && g.stretch_factor > 0.0) {
                return Err(ParamError::new(
                    "geometry stretch_factor",
                    g.stretch_factor,
                    "must be a positive number",
                ));
            }
            t.rows_lo = g.rows_raw[0];
            t.row_step = 1.0 / g.stretch_factor;
            t.shear_px_per_slice = g.shear_raw_px_per_slice;
            shape = g.output_shape;
        }
        t.shape = shape;
        Ok(t)
    }

    /// The same chain followed by a crop that keeps the box of `shape` voxels starting at
    /// `origin` (`[z, y, x]`, in voxels of the processed grid). Errors if the box does not fit.
    ///
    /// ```
    /// use fibstack::validate::ChainTransform;
    /// let t = ChainTransform::new([4, 10, 12], None, None).unwrap();
    /// let c = t.clone().cropped([1, 2, 3], [2, 5, 6]).unwrap();
    /// assert_eq!((c.shape, c.crop_origin), ([2, 5, 6], [1, 2, 3]));
    /// assert!(t.cropped([0, 6, 0], [4, 5, 12]).is_err()); // rows 6..11 of 10
    /// ```
    pub fn cropped(mut self, origin: [usize; 3], shape: [usize; 3]) -> Result<Self, ParamError> {
        for i in 0..3 {
            if origin[i] + shape[i] > self.shape[i] || shape[i] == 0 {
                return Err(ParamError::new(
                    "crop",
                    format!("origin {origin:?}, shape {shape:?}"),
                    format!(
                        "the box does not fit the {:?} grid the alignment and geometry produce",
                        self.shape
                    ),
                ));
            }
        }
        for (c, o) in self.crop_origin.iter_mut().zip(origin) {
            *c += o;
        }
        self.shape = shape;
        Ok(self)
    }

    /// Raw image position `(row, col)` shown by processed voxel `(k, j, x)` of the uncropped
    /// grid, with per-slice alignment shift `shift`.
    #[inline]
    fn raw_position(&self, k: usize, j: usize, x: usize, shift: [f64; 2]) -> (f64, f64) {
        let ya = self.rows_lo + j as f64 * self.row_step + k as f64 * self.shear_px_per_slice;
        let r = ya + self.align_origin[0] as f64 - shift[0];
        let c = x as f64 + self.align_origin[1] as f64 - shift[1];
        (r, c)
    }
}

/// The truth labels (`truth`, the simulator's truth grid) at every voxel of the processed grid of
/// `t`, nearest neighbour. Voxels that map outside the truth volume get [`UNSCORED`], except
/// with `outside = edge` acquisitions (the structure continues: nearest truth voxel).
pub fn truth_on_grid(
    truth: ArrayView3<u8>,
    acq: &AcqTruth,
    t: &ChainTransform,
    alignment: Alignment,
) -> Result<Array3<u8>, ParamError> {
    let (nz, ny, nx) = truth.dim();
    let fmt = |s: [usize; 3]| format!("{}x{}x{}", s[0], s[1], s[2]);
    if acq.image_shape != t.raw_shape {
        return Err(ParamError::new(
            "raw stack shape",
            fmt(t.raw_shape),
            format!(
                "the simulator rendered {}: score the stack it rendered",
                fmt(acq.image_shape)
            ),
        ));
    }
    if nz != t.raw_shape[0] || acq.total_shift_px.len() != nz {
        return Err(ParamError::new(
            "truth slices",
            nz,
            format!(
                "the raw stack has {} slices and the acquisition {}",
                t.raw_shape[0],
                acq.total_shift_px.len()
            ),
        ));
    }
    if !(acq.row_scale.is_finite() && acq.row_scale > 0.0) {
        return Err(ParamError::new(
            "row_scale",
            acq.row_scale,
            "the acquisition record needs a positive row_scale",
        ));
    }
    if alignment == Alignment::Ideal && !t.aligned {
        return Err(ParamError::new(
            "alignment",
            "ideal",
            "the chain has no alignment to compare with a perfect one; use applied",
        ));
    }
    if alignment == Alignment::Ideal && t.detrended {
        return Err(ParamError::new(
            "alignment",
            "ideal",
            "an ideal alignment is only defined for a full alignment (no detrend); use applied",
        ));
    }
    let edge = acq.params.outside == Outside::Edge;
    let [nk, rows, cols] = t.shape;
    let [oz, oy, ox] = t.crop_origin;
    let mut out = Array3::<u8>::zeros((nk, rows, cols));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(kc, mut o)| {
            let k = kc + oz;
            let [ty, tx] = acq.total_shift_px[k];
            let shift = match alignment {
                Alignment::Applied => t.align_shifts[k],
                Alignment::Ideal => [-ty, -tx],
            };
            let tk = truth.index_axis(Axis(0), k);
            for j in 0..rows {
                for x in 0..cols {
                    let (r, c) = t.raw_position(k, j + oy, x + ox, shift);
                    let yt = ((r - ty) / acq.row_scale).round();
                    let xt = (c - tx).round();
                    let inside = yt >= 0.0 && xt >= 0.0 && yt < ny as f64 && xt < nx as f64;
                    o[[j, x]] = if inside {
                        tk[[yt as usize, xt as usize]]
                    } else if edge {
                        let yi = yt.clamp(0.0, (ny - 1) as f64) as usize;
                        let xi = xt.clamp(0.0, (nx - 1) as f64) as usize;
                        tk[[yi, xi]]
                    } else {
                        UNSCORED
                    };
                }
            }
        });
    Ok(out)
}

/// Pore against everything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoClass {
    /// The label taken as pore.
    pub pore_label: u8,
    /// Dice of the pore label.
    pub dice_pore: f64,
    /// Dice of everything else taken as one solid class.
    pub dice_solid: f64,
    /// Fraction of scored voxels on the same side (pore or solid) in both.
    pub accuracy: f64,
}

/// Per-phase and pore/solid scores (under one choice of alignment shifts, when mapped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreView {
    /// Which alignment shifts mapped the voxels onto the truth (`None` for a direct comparison of
    /// two label volumes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alignment: Option<Alignment>,
    /// Every phase (labels as segmented / in the truth).
    #[serde(flatten)]
    pub score: Score,
    /// The same score with all phases but the pore merged into one solid class.
    pub pore_vs_solid: TwoClass,
}

/// Porosity of the segmentation against the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PorosityCheck {
    /// Fraction of the pore label over the whole segmented volume (what `porosity` reports).
    pub segmented: f64,
    /// Truth porosity of the same region (the scored voxels mapped onto the processed grid).
    pub truth_same_region: f64,
    /// Truth porosity of the whole truth volume (equals `truth.json` `porosity` for label 0).
    pub truth_whole_volume: f64,
    /// `segmented − truth_same_region`.
    pub error: f64,
}

/// Everything [`score_against_truth`] measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthScore {
    /// How the score was computed, for the record.
    pub method: String,
    /// With the alignment shifts the chain applied (the segmentation of what the chain produced).
    pub applied: ScoreView,
    /// With a perfect alignment (alignment errors count too); `None` without an alignment or
    /// after a detrended one.
    pub ideal: Option<ScoreView>,
    /// Porosity of the segmentation against the truth.
    pub porosity: PorosityCheck,
}

fn view(c: &Confusion, alignment: Option<Alignment>, pore: u8) -> ScoreView {
    let two = c.merged(|l| if l == pore { 0 } else { 1 });
    ScoreView {
        alignment,
        score: c.score(),
        pore_vs_solid: TwoClass {
            pore_label: pore,
            dice_pore: two.dice(0),
            dice_solid: two.dice(1),
            accuracy: two.accuracy(),
        },
    }
}

/// Per-phase Dice, accuracy and the pore (label `pore`) / solid view of `seg` against
/// `reference` on the same grid ([`UNSCORED`] reference voxels left out).
pub fn score_labels(
    seg: ArrayView3<u8>,
    reference: ArrayView3<u8>,
    pore: u8,
) -> Result<ScoreView, ParamError> {
    Ok(view(&confusion(seg, reference)?, None, pore))
}

/// The `align` and `geometry` reports of a workflow's `results.json` (top-level object, step
/// names as keys; at most one of each kind: `align`, `align_2`, … are refused).
pub fn reports_from_results(
    results: &serde_json::Map<String, serde_json::Value>,
) -> Result<(Option<AlignReport>, Option<GeometryReport>), ParamError> {
    fn one<T: serde::de::DeserializeOwned>(
        results: &serde_json::Map<String, serde_json::Value>,
        kind: &str,
    ) -> Result<Option<T>, ParamError> {
        let keys: Vec<&String> = crate::workflow::results::results_of(results, kind)
            .map(|(k, _)| k)
            .collect();
        match keys.as_slice() {
            [] => Ok(None),
            [k] => serde_json::from_value(results[k.as_str()].clone())
                .map(Some)
                .map_err(|e| {
                    ParamError::new(
                        format!("{kind} report"),
                        k,
                        format!("cannot be read ({e}); give the results of a fibstack run"),
                    )
                }),
            _ => Err(ParamError::new(
                format!("{kind} steps"),
                keys.len(),
                "scoring against the truth supports one align and one geometry step",
            )),
        }
    }
    Ok((one(results, "align")?, one(results, "geometry")?))
}

/// Origin `[z, y, x]` of the grid left by the `crop` steps of a workflow's `results.json` (their
/// `ranges_voxels` starts, summed: every crop is relative to the volume it received), or `None`
/// without a crop. Use it with [`ChainTransform::cropped`] and the cropped volume's shape.
///
/// ```
/// use fibstack::validate::crop_origin_from_results;
/// let r = serde_json::json!({
///     "crop": { "ranges_voxels": { "z": [0, 8], "y": [10, 40], "x": [2, 50] } },
///     "crop_2": { "ranges_voxels": { "z": [1, 8], "y": [0, 30], "x": [0, 20] } },
/// });
/// let o = crop_origin_from_results(r.as_object().unwrap()).unwrap();
/// assert_eq!(o, Some([1, 10, 2]));
/// ```
pub fn crop_origin_from_results(
    results: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<[usize; 3]>, ParamError> {
    let mut origin: Option<[usize; 3]> = None;
    for (k, v) in results {
        if !(k == "crop" || k.starts_with("crop_")) {
            continue;
        }
        let o = origin.get_or_insert([0, 0, 0]);
        for (i, axis) in ["z", "y", "x"].iter().enumerate() {
            let start = v
                .pointer(&format!("/ranges_voxels/{axis}/0"))
                .and_then(|s| s.as_u64())
                .ok_or_else(|| {
                    ParamError::new(
                        format!("{k} report"),
                        axis,
                        "has no ranges_voxels start; give the results of a fibstack run",
                    )
                })?;
            o[i] += start as usize;
        }
    }
    Ok(origin)
}

/// Score segmentation `seg` (on the processed grid of `t`) against the simulator truth `truth`
/// (truth grid, acquisition record `acq`): per-phase Dice, accuracy and the pore/solid view with the
/// applied and the ideal alignment, and the porosity (label `pore`) against the truth.
pub fn score_against_truth(
    seg: ArrayView3<u8>,
    truth: ArrayView3<u8>,
    acq: &AcqTruth,
    t: &ChainTransform,
    pore: u8,
) -> Result<TruthScore, ParamError> {
    let mapped = truth_on_grid(truth, acq, t, Alignment::Applied)?;
    let c = confusion(seg, mapped.view())?;
    let applied = view(&c, Some(Alignment::Applied), pore);
    let ideal = if t.detrended || !t.aligned {
        None
    } else {
        let m = truth_on_grid(truth, acq, t, Alignment::Ideal)?;
        Some(view(
            &confusion(seg, m.view())?,
            Some(Alignment::Ideal),
            pore,
        ))
    };
    let frac = |v: ArrayView3<u8>| {
        let n = v.len().max(1) as f64;
        v.iter().filter(|&&l| l == pore).count() as f64 / n
    };
    let segmented = frac(seg);
    let truth_same_region = c.reference(pore) as f64 / c.total().max(1) as f64;
    Ok(TruthScore {
        method: "confusion matrix against the simulator truth mapped onto the processed grid \
                 (nearest neighbour through the simulator's and the chain's own transforms: \
                 alignment shifts and crop, 52° stretch/shear); Dice = 2|A∩B|/(|A|+|B|)"
            .into(),
        applied,
        ideal,
        porosity: PorosityCheck {
            segmented,
            truth_same_region,
            truth_whole_volume: frac(truth),
            error: segmented - truth_same_region,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn dice_and_accuracy_by_hand() {
        // 1×2×4: seg  0 0 1 1 | 2 2 2 0 ; ref 0 1 1 1 | 2 2 255 255
        let seg = Array3::from_shape_vec((1, 2, 4), vec![0, 0, 1, 1, 2, 2, 2, 0]).unwrap();
        let r = Array3::from_shape_vec((1, 2, 4), vec![0, 1, 1, 1, 2, 2, 255, 255]).unwrap();
        let c = confusion(seg.view(), r.view()).unwrap();
        assert_eq!(c.labels, vec![0, 1, 2]);
        assert_eq!(c.unscored, 2);
        assert_eq!(c.total(), 6);
        // pore: seg {0,1}, ref {0}: 2·1/(2+1)
        assert!((c.dice(0) - 2.0 / 3.0).abs() < 1e-12);
        // 1: seg {2,3}, ref {1,2,3}: 2·2/5
        assert!((c.dice(1) - 0.8).abs() < 1e-12);
        assert_eq!(c.dice(2), 1.0);
        assert_eq!(c.dice(7), 1.0);
        assert!((c.accuracy() - 5.0 / 6.0).abs() < 1e-12);
        // pore vs solid: seg pore {0,1}, ref pore {0}
        let m = c.merged(|l| (l != 0) as u8);
        assert_eq!(m.labels, vec![0, 1]);
        assert!((m.dice(0) - 2.0 / 3.0).abs() < 1e-12);
        // solid: seg {2,3,4,5} ref {1,2,3,4,5}: 2·4/9
        assert!((m.dice(1) - 8.0 / 9.0).abs() < 1e-12);
        let s = c.score();
        assert_eq!(s.phases.len(), 3);
        assert_eq!(s.phases[1].overlap, 2);
        assert!((s.phases[0].reference_fraction - 1.0 / 6.0).abs() < 1e-12);
        let bad = Array3::<u8>::zeros((1, 2, 3));
        assert!(confusion(seg.view(), bad.view()).is_err());
    }

    /// Naive twin: Dice from sets of voxel indices.
    #[test]
    fn matches_naive_sets_on_random_volumes() {
        let mut rng = crate::rng::Rng::stream(7, 0);
        let seg = Array3::from_shape_fn((5, 7, 9), |_| (rng.uniform() * 3.0) as u8);
        let r = Array3::from_shape_fn((5, 7, 9), |_| {
            let u = rng.uniform();
            if u < 0.05 {
                UNSCORED
            } else {
                (u * 4.0) as u8
            }
        });
        let c = confusion(seg.view(), r.view()).unwrap();
        for l in 0..4u8 {
            let (mut a, mut b, mut both) = (0u64, 0u64, 0u64);
            for (s, t) in seg.iter().zip(r.iter()) {
                if *t == UNSCORED {
                    continue;
                }
                a += (*s == l) as u64;
                b += (*t == l) as u64;
                both += (*s == l && *t == l) as u64;
            }
            let want = if a + b == 0 {
                1.0
            } else {
                2.0 * both as f64 / (a + b) as f64
            };
            assert!((c.dice(l) - want).abs() < 1e-12, "label {l}");
        }
    }
}
