//! Step results by name. A workflow names each step's results after its kind: the first step of a
//! kind is `kind`, later ones `kind_2`, `kind_3`, … (what `results.json` holds). Every reader of
//! results (report, export, score, later steps) finds them through these functions.
//!
//! ```
//! use fibstack::workflow::results::{is_result_of, result_name, results_of};
//! assert_eq!(result_name("porosity", 0), "porosity");
//! assert_eq!(result_name("porosity", 1), "porosity_2");
//! assert!(is_result_of("porosity_2", "porosity"));
//! assert!(!is_result_of("porosity_x", "porosity"));
//! let mut m = serde_json::Map::new();
//! m.insert("segment".into(), 1.into());
//! m.insert("porosity".into(), 2.into());
//! m.insert("segment_2".into(), 3.into());
//! let seg: Vec<_> = results_of(&m, "segment").map(|(_, v)| v.clone()).collect();
//! assert_eq!(seg.len(), 2);
//! ```

use serde_json::{Map, Value};

/// The result name of a step of `kind` after `earlier` steps of the same kind.
pub fn result_name(kind: &str, earlier: usize) -> String {
    if earlier == 0 {
        kind.to_string()
    } else {
        format!("{kind}_{}", earlier + 1)
    }
}

/// Whether `name` names the results of a step of `kind` (`kind` or `kind_N`).
pub fn is_result_of(name: &str, kind: &str) -> bool {
    name == kind
        || name
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('_'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The results of every step of `kind`, in the map's order.
pub fn results_of<'a>(
    results: &'a Map<String, Value>,
    kind: &'a str,
) -> impl DoubleEndedIterator<Item = (&'a String, &'a Value)> + 'a {
    results.iter().filter(move |(k, _)| is_result_of(k, kind))
}

/// The first result of a step of `kind`.
pub fn first_result<'a>(results: &'a Map<String, Value>, kind: &str) -> Option<&'a Value> {
    results
        .iter()
        .find(|(k, _)| is_result_of(k, kind))
        .map(|(_, v)| v)
}

use crate::metrics::connectivity::{ComponentsReport, ConnectivityReport};
use crate::metrics::porosity::PorosityReport;
use crate::metrics::sizes::SizesReport;
use crate::metrics::tortuosity::TortuosityResult;
use crate::segment::corrected::CorrectionReports;
use crate::segment::threshold::SegmentResult;
use crate::synth::truth::Truth;
use crate::validate::TruthScore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The phase names a measuring step's result carries: the name of the measured label (JSON key
/// `phase_name`, absent when the label has none) and every name in force (`phase_names`, label
/// as text → name, absent when there are none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseNaming {
    /// Name of the measured label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_name: Option<String>,
    /// Every phase name in force when the step ran (label value as text → name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phase_names: BTreeMap<String, String>,
}

impl PhaseNaming {
    /// The naming of label `label` among `names`.
    pub fn of(label: u8, names: &crate::volume::PhaseNames) -> Self {
        PhaseNaming {
            phase_name: names.get(&label).cloned(),
            phase_names: names
                .iter()
                .map(|(l, n)| (l.to_string(), n.clone()))
                .collect(),
        }
    }
    /// The names as label values (entries whose label is not a number 0..=255 are skipped).
    pub fn names(&self) -> crate::volume::PhaseNames {
        self.phase_names
            .iter()
            .filter_map(|(l, n)| Some((l.parse::<u8>().ok()?, n.clone())))
            .collect()
    }
}

/// Porosity band of a porosity result (JSON key `threshold_sensitivity`): the phase fraction with
/// the segmentation's thresholds moved by ±`delta_grey`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdBand {
    /// Label value measured.
    pub phase: u8,
    /// Fraction the band is placed around (unit "1").
    pub value: f64,
    /// Lowest fraction over the variations (unit "1").
    pub low: f64,
    /// Highest fraction over the variations (unit "1").
    pub high: f64,
    /// δ in grey values.
    pub delta_grey: f64,
    /// `"1"`.
    pub unit: String,
    /// How the band was computed.
    pub method: String,
}

/// Result of a `porosity` step: the [`PorosityReport`] with the band from the segmentation's
/// threshold sensitivity and the phase names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PorosityResult {
    /// Fractions, profiles, deposits, windows, REV curve.
    #[serde(flatten)]
    pub report: PorosityReport,
    /// Band from the last `segment` step's sensitivity (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_sensitivity: Option<ThresholdBand>,
    /// Phase names.
    #[serde(flatten)]
    pub naming: PhaseNaming,
}

/// Result of a `connectivity` step (full analysis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectivityResult {
    /// Components, percolation, Euler characteristic, contacts, graph summary.
    #[serde(flatten)]
    pub report: ConnectivityReport,
    /// Phase names.
    #[serde(flatten)]
    pub naming: PhaseNaming,
}

/// Result of a `connectivity` step with `components_only = true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentsResult {
    /// Components and their percolation.
    #[serde(flatten)]
    pub report: ComponentsReport,
    /// Phase names.
    #[serde(flatten)]
    pub naming: PhaseNaming,
}

/// Result of a `sizes` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizesResult {
    /// Local thickness, particles, surface area.
    #[serde(flatten)]
    pub report: SizesReport,
    /// Phase names.
    #[serde(flatten)]
    pub naming: PhaseNaming,
}

/// τ of both methods on one axis (a `tortuosity` step with `method = "both"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodComparison {
    /// `x`, `y` or `z`.
    pub axis: String,
    /// τ of the steady-state finite-difference solve (unit "1").
    pub fd: Option<f64>,
    /// τ of the random walk (unit "1").
    pub rw: Option<f64>,
    /// `(rw − fd) / fd` (unit "1").
    pub relative_difference: Option<f64>,
}

impl MethodComparison {
    /// The comparison of an FD and a random-walk result on the same axis.
    pub fn of(fd: &TortuosityResult, rw: &TortuosityResult) -> Self {
        MethodComparison {
            axis: fd.axis.clone(),
            fd: fd.tortuosity_factor,
            rw: rw.tortuosity_factor,
            relative_difference: match (fd.tortuosity_factor, rw.tortuosity_factor) {
                (Some(x), Some(y)) => Some((y - x) / x),
                _ => None,
            },
        }
    }
}

/// Result of a `tortuosity` step: one [`TortuosityResult`] per axis and method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TortuosityStepResult {
    /// Per axis and method (FD results first).
    pub results: Vec<TortuosityResult>,
    /// FD against random walk per axis (empty unless both ran).
    pub comparison: Vec<MethodComparison>,
    /// False when lengths are in voxels.
    pub voxel_calibrated: bool,
    /// `"nm"` or `"voxel"`.
    pub length_unit: String,
    /// Label value measured.
    pub phase: u8,
    /// Phase names.
    #[serde(flatten)]
    pub naming: PhaseNaming,
}

impl TortuosityStepResult {
    /// The step's result from the kernels' outputs (`fd` and `rw` as they ran, FD first).
    pub fn build(
        fd: Vec<TortuosityResult>,
        rw: Vec<TortuosityResult>,
        calibrated: bool,
        naming: PhaseNaming,
        phase: u8,
    ) -> Self {
        let comparison = fd
            .iter()
            .zip(&rw)
            .map(|(f, r)| MethodComparison::of(f, r))
            .collect();
        TortuosityStepResult {
            results: fd.into_iter().chain(rw).collect(),
            comparison,
            voxel_calibrated: calibrated,
            length_unit: if calibrated { "nm" } else { "voxel" }.into(),
            phase,
            naming,
        }
    }
}

/// Result of a `segment` step: thresholds and fractions, and the corrections that ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentStepResult {
    /// Thresholds, labels, fractions, sensitivity.
    #[serde(flatten)]
    pub result: SegmentResult,
    /// Shine-through and rim corrections (absent when off).
    #[serde(flatten)]
    pub corrections: CorrectionReports,
}

/// Result of a `score` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreStepResult {
    /// False when there was no truth and the step is `optional`.
    pub scored: bool,
    /// Why nothing was scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the truth came from (a folder, or `"synth step"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<String>,
    /// Dice, accuracy and porosity against the truth.
    #[serde(flatten)]
    pub score: Option<TruthScore>,
}

/// The typed result of one workflow step; `results.json` holds their serialisation under the
/// step names. Steps whose results have no type of their own yet (the processing steps) keep
/// their JSON in [`StepResult::Other`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StepResult {
    /// `porosity`.
    Porosity(Box<PorosityResult>),
    /// `connectivity`.
    Connectivity(Box<ConnectivityResult>),
    /// `connectivity` with `components_only`.
    Components(Box<ComponentsResult>),
    /// `sizes`.
    Sizes(Box<SizesResult>),
    /// `tortuosity`.
    Tortuosity(Box<TortuosityStepResult>),
    /// `segment`.
    Segment(Box<SegmentStepResult>),
    /// `score`.
    Score(Box<ScoreStepResult>),
    /// `synth`: the truth record.
    Synth(Box<Truth>),
    /// Any other step (align, geometry, destripe, denoise, tophat, crop, classify, export).
    Other(Value),
}

impl StepResult {
    /// The result as JSON (what `results.json` holds for it).
    pub fn to_json(&self) -> Result<Value, crate::error::Error> {
        serde_json::to_value(self).map_err(|e| crate::error::Error::json("step results", e))
    }

    /// Read the result of a step of `kind` from its JSON. Results written by an older version
    /// that do not fit the type (a missing or renamed key) are kept as [`StepResult::Other`], so
    /// readers of old `results.json` files see what they can.
    pub fn from_json(kind: &str, v: Value) -> Self {
        fn typed<T: serde::de::DeserializeOwned>(
            v: &Value,
            f: impl FnOnce(Box<T>) -> StepResult,
        ) -> Option<StepResult> {
            serde_json::from_value::<T>(v.clone())
                .ok()
                .map(|t| f(Box::new(t)))
        }
        let r = match kind {
            "porosity" => typed(&v, StepResult::Porosity),
            "connectivity" if v.get("euler").is_some() => typed(&v, StepResult::Connectivity),
            "connectivity" => typed(&v, StepResult::Components),
            "sizes" => typed(&v, StepResult::Sizes),
            "tortuosity" => typed(&v, StepResult::Tortuosity),
            "segment" => typed(&v, StepResult::Segment),
            "score" => typed(&v, StepResult::Score),
            "synth" => typed(&v, StepResult::Synth),
            _ => None,
        };
        r.unwrap_or(StepResult::Other(v))
    }

    /// The porosity result, if this is one.
    pub fn porosity(&self) -> Option<&PorosityResult> {
        match self {
            StepResult::Porosity(r) => Some(r),
            _ => None,
        }
    }
    /// The full connectivity result, if this is one.
    pub fn connectivity(&self) -> Option<&ConnectivityResult> {
        match self {
            StepResult::Connectivity(r) => Some(r),
            _ => None,
        }
    }
    /// The sizes result, if this is one.
    pub fn sizes(&self) -> Option<&SizesResult> {
        match self {
            StepResult::Sizes(r) => Some(r),
            _ => None,
        }
    }
    /// The tortuosity result, if this is one.
    pub fn tortuosity(&self) -> Option<&TortuosityStepResult> {
        match self {
            StepResult::Tortuosity(r) => Some(r),
            _ => None,
        }
    }
    /// The segment result, if this is one.
    pub fn segment(&self) -> Option<&SegmentStepResult> {
        match self {
            StepResult::Segment(r) => Some(r),
            _ => None,
        }
    }
    /// The synth truth record, if this is one.
    pub fn synth(&self) -> Option<&Truth> {
        match self {
            StepResult::Synth(r) => Some(r),
            _ => None,
        }
    }
    /// The phase names the result carries (empty when none).
    pub fn phase_names(&self) -> crate::volume::PhaseNames {
        match self {
            StepResult::Porosity(r) => r.naming.names(),
            StepResult::Connectivity(r) => r.naming.names(),
            StepResult::Components(r) => r.naming.names(),
            StepResult::Sizes(r) => r.naming.names(),
            StepResult::Tortuosity(r) => r.naming.names(),
            _ => Default::default(),
        }
    }
}

/// The typed results of a run's steps, by result name, in the order the steps ran.
/// Serialised (as `results.json` is) as one JSON object keyed by result name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    entries: Vec<(String, StepResult)>,
}

/// The step kind of a result name (`porosity_2` → `porosity`).
pub fn kind_of_name(name: &str) -> &str {
    match name.rsplit_once('_') {
        Some((k, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => k,
        _ => name,
    }
}

impl Results {
    /// No results.
    pub fn new() -> Self {
        Self::default()
    }
    /// Record (or replace) the result `name`.
    pub fn insert(&mut self, name: String, r: StepResult) {
        match self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some(e) => e.1 = r,
            None => self.entries.push((name, r)),
        }
    }
    /// The result named `name`.
    pub fn get(&self, name: &str) -> Option<&StepResult> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, r)| r)
    }
    /// Every result, in run order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &StepResult)> {
        self.entries.iter().map(|(k, r)| (k, r))
    }
    /// Number of results.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The results of every step of `kind`, in run order.
    pub fn of<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl DoubleEndedIterator<Item = (&'a String, &'a StepResult)> + 'a {
        self.iter().filter(move |(k, _)| is_result_of(k, kind))
    }
    /// The first result of a step of `kind`.
    pub fn first(&self, kind: &str) -> Option<&StepResult> {
        self.entries
            .iter()
            .find(|(k, _)| is_result_of(k, kind))
            .map(|(_, r)| r)
    }
    /// The phase names the results carry, merged.
    pub fn phase_names(&self) -> crate::volume::PhaseNames {
        let mut out = crate::volume::PhaseNames::new();
        for (_, r) in self.iter() {
            out.extend(r.phase_names());
        }
        out
    }
    /// The JSON object of `results.json`.
    pub fn to_json(&self) -> Result<Map<String, Value>, crate::error::Error> {
        self.iter()
            .map(|(k, r)| Ok((k.clone(), r.to_json()?)))
            .collect()
    }
    /// The results of a `results.json` object (each read as the type of its step's kind; see
    /// [`StepResult::from_json`] for results that do not fit).
    pub fn from_json(m: Map<String, Value>) -> Self {
        Results {
            entries: m
                .into_iter()
                .map(|(k, v)| {
                    let r = StepResult::from_json(kind_of_name(&k), v);
                    (k, r)
                })
                .collect(),
        }
    }
}

impl Serialize for Results {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}
