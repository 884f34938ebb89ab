//! The step kinds a workflow may list. To add one: a params struct with
//! `#[serde(deny_unknown_fields)]`, an `impl Step`, and a variant in [`StepSpec`].

pub mod classify;
pub mod filters;
pub mod metrics;
pub mod pre;
pub mod score;
pub mod sizes;
pub mod synth;
pub mod tort;

use crate::error::{Error, ParamError};
use crate::workflow::{Context, Data, Step, StepError, StepResult};
use serde::Deserialize;

/// A step as written in the workflow file: `[[steps]]` tables with `kind = "..."`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepSpec {
    /// Does nothing (useful to test a workflow's input and provenance).
    Passthrough(Passthrough),
    /// Writes the current grey or label volume to a file in the output folder.
    Convert(Convert),
    /// Keeps a box of the volumes (voxel ranges, or the deposit slab).
    Crop(Crop),
    /// Tidy CSV tables for modelling from the results so far.
    Export(crate::workflow::export::Export),
    /// Phase fractions, profiles, deposit, windows, REV curve.
    Porosity(metrics::PorosityStep),
    /// Components, percolation, Euler characteristic, pore graph.
    Connectivity(metrics::ConnectivityStep),
    /// Local thickness, particles and specific surface area of one phase.
    Sizes(sizes::Sizes),
    /// Generates a synthetic acquisition with exact ground truth (see `synth`).
    Synth(Box<synth::SynthStep>),
    /// Drift alignment by phase correlation (writes shifts CSV and drift plot).
    Align(pre::AlignStep),
    /// 52° y-stretch and y–z shear correction.
    Geometry(pre::GeometryStep),
    /// Curtain removal (VSNR, FFT wedge, wavelet–FFT per slice; stack column profiles).
    Destripe(filters::Destripe),
    /// Gaussian smoothing, σ in nm.
    Denoise(filters::Denoise),
    /// White/black top-hat with a disk/ball of radius in nm.
    Tophat(filters::Tophat),
    /// Threshold into phase labels (Otsu, multi-Otsu, manual).
    Segment(filters::Segment),
    /// Tortuosity factor of one phase (random walk and/or steady-state diffusion).
    Tortuosity(tort::Tortuosity),
    /// Per-phase Dice and porosity of the segmentation against the simulator's truth.
    Score(score::ScoreStep),
    /// Random-forest voxel classifier (a model file, or trained in the step).
    Classify(Box<classify::ClassifyStep>),
}

impl StepSpec {
    /// The step as a trait object.
    pub fn as_step(&self) -> &dyn Step {
        match self {
            StepSpec::Passthrough(s) => s,
            StepSpec::Convert(s) => s,
            StepSpec::Crop(s) => s,
            StepSpec::Export(s) => s,
            StepSpec::Porosity(s) => s,
            StepSpec::Connectivity(s) => s,
            StepSpec::Sizes(s) => s,
            StepSpec::Synth(s) => s.as_ref(),
            StepSpec::Align(s) => s,
            StepSpec::Geometry(s) => s,
            StepSpec::Destripe(s) => s,
            StepSpec::Denoise(s) => s,
            StepSpec::Tophat(s) => s,
            StepSpec::Segment(s) => s,
            StepSpec::Tortuosity(s) => s,
            StepSpec::Score(s) => s,
            StepSpec::Classify(s) => s.as_ref(),
        }
    }
}

/// The step kinds whose keys are defined by one struct that is both the workflow schema (serde)
/// and the command's options (clap): `(kind, the keys as a clap command)`, workflow-only keys
/// (e.g. `output_type`) added as hidden arguments. The manual's
/// workflow-key reference is generated from these, with each key's default and help text.
///
/// ```
/// let (kind, cmd) = &fibstack::workflow::steps::key_schemas()[3];
/// assert_eq!(*kind, "denoise");
/// assert!(cmd.get_arguments().any(|a| a.get_id() == "sigma_nm"));
/// ```
pub fn key_schemas() -> Vec<(&'static str, clap::Command)> {
    use clap::Args;
    use filters::{Denoise, Destripe, Segment, Tophat, OUTPUT_TYPE};
    use metrics::{ConnectivityStep, PorosityStep, CONNECTIVITY_PREFIX, GRAPH, POROSITY_PREFIX};
    use pre::{AlignStep, GeometryStep, PLOT, SHIFTS_CSV};
    fn of<T: Args>(kind: &'static str) -> clap::Command {
        T::augment_args(clap::Command::new(kind))
    }
    vec![
        (
            "align",
            of::<AlignStep>("align")
                .arg(SHIFTS_CSV.arg())
                .arg(PLOT.arg()),
        ),
        ("geometry", of::<GeometryStep>("geometry")),
        (
            "destripe",
            of::<Destripe>("destripe").arg(OUTPUT_TYPE.arg()),
        ),
        ("denoise", of::<Denoise>("denoise").arg(OUTPUT_TYPE.arg())),
        ("tophat", of::<Tophat>("tophat")),
        ("segment", of::<Segment>("segment")),
        (
            "porosity",
            of::<PorosityStep>("porosity").arg(POROSITY_PREFIX.arg()),
        ),
        (
            "connectivity",
            of::<ConnectivityStep>("connectivity")
                .arg(GRAPH.arg())
                .arg(CONNECTIVITY_PREFIX.arg()),
        ),
        ("sizes", of::<sizes::Sizes>("sizes")),
        ("tortuosity", of::<tort::Tortuosity>("tortuosity")),
        ("classify", classify::classify_key_schema()),
        (
            "score",
            of::<score::ScoreStep>("score")
                .arg(score::TRUTH_OUT.arg())
                .arg(score::OPTIONAL.arg()),
        ),
    ]
}

/// A key's default as it is written in a workflow file (`false` for a flag, numbers and booleans
/// bare, text in quotes), or `None` when the key has no default. The generated reference prints
/// this spelling.
///
/// ```
/// let (_, cmd) = &fibstack::workflow::steps::key_schemas()[3];
/// let dims = cmd.get_arguments().find(|a| a.get_id() == "dims").unwrap();
/// assert_eq!(fibstack::workflow::steps::key_default_toml(dims).as_deref(), Some("\"2d\""));
/// ```
pub fn key_default_toml(a: &clap::Arg) -> Option<String> {
    if !a.get_action().takes_values() {
        return Some("false".into());
    }
    let d: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if d.is_empty() {
        return None;
    }
    let one = |d: &str| {
        let bare = d.parse::<f64>().is_ok() || d == "true" || d == "false";
        if bare {
            d.to_string()
        } else {
            format!("\"{d}\"")
        }
    };
    Some(if matches!(a.get_action(), clap::ArgAction::Append) {
        // a repeatable option is a list in a workflow
        format!(
            "[{}]",
            d.iter().map(|v| one(v)).collect::<Vec<_>>().join(", ")
        )
    } else {
        one(&d.join(","))
    })
}

/// `kind = "passthrough"`: no-op.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passthrough {}

impl Step for Passthrough {
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
    fn needs(&self) -> Data {
        Data::Nothing
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, _ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        Ok(None)
    }
}

/// `kind = "convert"`: write the current volume into the output folder.
///
/// Keys: `path` (file name inside the output folder; the extension picks the format: `.tif`,
/// `.npy`, `.vti`, `.raw`, `.png` orthogonal views), `what = "grey" | "labels"` (default grey).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Convert {
    /// Output file name inside the output folder; its extension picks the format.
    pub path: String,
    #[serde(default = "default_what")]
    /// `"grey"` (default) or `"labels"`.
    pub what: String,
}

fn default_what() -> String {
    "grey".into()
}

impl Step for Convert {
    fn validate(&self) -> Result<(), ParamError> {
        if !matches!(self.what.as_str(), "grey" | "labels") {
            return Err(ParamError::new(
                "what",
                &self.what,
                "use \"grey\" or \"labels\"",
            ));
        }
        if self.path.is_empty() || self.path.contains("..") {
            return Err(ParamError::new(
                "path",
                &self.path,
                "give a file name inside the output folder, e.g. \"volume.tif\"",
            ));
        }
        crate::io::Format::of(std::path::Path::new(&self.path))
            .map_err(|e| ParamError::new("path", &self.path, e.to_string()))?;
        Ok(())
    }
    fn needs(&self) -> Data {
        if self.what == "labels" {
            Data::Labels
        } else {
            Data::Grey
        }
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let p = ctx.output(&self.path);
        if self.what == "labels" {
            crate::io::write_labels(&p, ctx.labels("convert")?)?;
        } else {
            crate::io::write_volume(&p, ctx.grey("convert")?)?;
        }
        Ok(None)
    }
}

/// `kind = "crop"`: keep a box of the current grey and label volumes, given in voxels
/// (`z`, `y`, `x` = `[start, end)`), or — with `to_deposit = true` — the slab of a deposit along
/// `axis` found from the labels (the same rule as `porosity --deposit`: solid = not `phase` and not
/// `collector`; the collector and the empty space beyond the deposit are cut away), or — with
/// `window_nm = [from, to]` — a fixed band of heights above the collector top (the same physical
/// window for every sample of a series; needs `collector`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    /// Slices `[start, end)` along z (voxels).
    pub z: Option<[usize; 2]>,
    /// Rows `[start, end)` along y (voxels).
    pub y: Option<[usize; 2]>,
    /// Columns `[start, end)` along x (voxels).
    pub x: Option<[usize; 2]>,
    #[serde(default)]
    /// Crop to the deposit found from the labels instead of a fixed box.
    pub to_deposit: bool,
    /// Deposit detection: the pore/electrolyte label or phase name (default 0).
    #[serde(default)]
    pub phase: crate::volume::PhaseRef,
    /// Deposit detection: the collector label.
    pub collector: Option<u8>,
    /// Deposit detection: the height axis (default "y").
    #[serde(default = "default_axis")]
    pub axis: String,
    /// Deposit detection: the collector sits at the high-index end of the axis.
    #[serde(default)]
    pub reverse: bool,
    /// Deposit detection: solid-fraction threshold (default: half the largest).
    pub threshold: Option<f64>,
    /// Heights `[from, to)` above the collector top (nm; voxels when uncalibrated) to keep along `axis`.
    pub window_nm: Option<[f64; 2]>,
}

fn default_axis() -> String {
    "y".into()
}

impl Crop {
    fn axis(&self) -> Result<crate::volume::Axis, ParamError> {
        crate::volume::Axis::parse(&self.axis)
    }
}

impl Step for Crop {
    fn validate(&self) -> Result<(), ParamError> {
        for (n, r) in [("z", self.z), ("y", self.y), ("x", self.x)] {
            if let Some([a, b]) = r {
                if a >= b {
                    return Err(ParamError::new(
                        n,
                        format!("[{a}, {b}]"),
                        "start must be below end",
                    ));
                }
            }
        }
        if !self.to_deposit
            && self.window_nm.is_none()
            && self.z.is_none()
            && self.y.is_none()
            && self.x.is_none()
        {
            return Err(ParamError::new(
                "crop",
                "{}",
                "give z/y/x ranges in voxels, to_deposit = true, or window_nm = [from, to]",
            ));
        }
        if let Some([lo, hi]) = self.window_nm {
            if self.to_deposit {
                return Err(ParamError::new(
                    "window_nm",
                    format!("[{lo}, {hi}]"),
                    "choose either window_nm or to_deposit",
                ));
            }
            if self.collector.is_none() {
                return Err(ParamError::new(
                    "window_nm",
                    format!("[{lo}, {hi}]"),
                    "heights are measured from the collector: set `collector` (its label)",
                ));
            }
            if !(lo.is_finite()
                && hi.is_finite()
                && lo >= 0.0
                && hi > lo
                && hi <= crate::error::MAX_LENGTH_NM)
            {
                return Err(ParamError::new(
                    "window_nm",
                    format!("[{lo}, {hi}]"),
                    "give two heights above the collector in nm, 0 <= from < to <= 1e6",
                ));
            }
        }
        if let Some(t) = self.threshold {
            // the same range as deposit detection checks when it runs
            if !(t > 0.0 && t <= 1.0) {
                return Err(ParamError::new(
                    "threshold",
                    t,
                    "must be a solid fraction in (0, 1]",
                ));
            }
        }
        self.axis().map(|_| ())
    }
    fn needs(&self) -> Data {
        if self.to_deposit || self.window_nm.is_some() {
            Data::Labels
        } else {
            Data::Nothing
        }
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        use crate::metrics::porosity::{detect_deposit, profile, DepositOptions};
        let shape = ctx
            .grey
            .as_ref()
            .map(|g| g.shape())
            .or_else(|| ctx.labels.as_ref().map(|l| l.shape()))
            .ok_or(StepError::NothingToCrop)?;
        let mut ranges = [(0, shape[0]), (0, shape[1]), (0, shape[2])];
        for (i, r) in [self.z, self.y, self.x].iter().enumerate() {
            if let Some([a, b]) = r {
                if *b > shape[i] {
                    return Err(Error::Param(ParamError::new(
                        ["z", "y", "x"][i],
                        format!("[{a}, {b}]"),
                        format!("the volume has {} voxels along this axis", shape[i]),
                    )));
                }
                ranges[i] = (*a, *b);
            }
        }
        let mut deposit = serde_json::Value::Null;
        let phase = ctx.resolve_phase("crop", &self.phase)?;
        let mut wanted = vec![("phase", phase)];
        wanted.extend(self.collector.map(|c| ("collector", c)));
        if self.to_deposit {
            let (labels, voxel) = ctx.metric_labels("crop", &wanted)?;
            let axis = self.axis()?;
            let p = profile(labels.view(), axis, &voxel)?;
            let d = detect_deposit(
                &p,
                &DepositOptions {
                    phase,
                    collector: self.collector,
                    threshold: self.threshold,
                    reverse: self.reverse,
                },
            )?
            .ok_or(StepError::NoDeposit)?;
            let i = axis.index();
            ranges[i] = (
                d.bottom_index.min(d.top_index),
                d.bottom_index.max(d.top_index) + 1,
            );
            deposit = serde_json::to_value(&d).unwrap_or_default();
        }
        let mut window = serde_json::Value::Null;
        if let (Some(w), Some(c)) = (self.window_nm, self.collector) {
            let (labels, voxel) = ctx.metric_labels("crop", &wanted)?;
            let axis = self.axis()?;
            let p = profile(labels.view(), axis, &voxel)?;
            let [a, b] = crate::metrics::porosity::window_above_collector(&p, c, self.reverse, w)?;
            ranges[axis.index()] = (a, b);
            window = serde_json::json!({
                "heights_above_collector": w,
                "unit": p.length_unit,
                "indices": [a, b],
                "axis": self.axis,
            });
        }
        let sl = ndarray::s![
            ranges[0].0..ranges[0].1,
            ranges[1].0..ranges[1].1,
            ranges[2].0..ranges[2].1
        ];
        if let Some(g) = ctx.grey.as_mut() {
            if g.shape() == shape {
                g.data = match &g.data {
                    crate::GreyData::U8(a) => crate::GreyData::U8(a.slice(sl).to_owned()),
                    crate::GreyData::U16(a) => crate::GreyData::U16(a.slice(sl).to_owned()),
                    crate::GreyData::F32(a) => crate::GreyData::F32(a.slice(sl).to_owned()),
                };
            }
        }
        if let Some(l) = ctx.labels.as_mut() {
            if l.shape() == shape {
                l.data = l.data.slice(sl).to_owned();
            }
        }
        Ok(Some(StepResult::Other(serde_json::json!({
            "ranges_voxels": { "z": [ranges[0].0, ranges[0].1], "y": [ranges[1].0, ranges[1].1], "x": [ranges[2].0, ranges[2].1] },
            "deposit": deposit,
            "window": window,
        }))))
    }
}

#[cfg(test)]
mod tests {
    use super::{key_default_toml, key_schemas, StepSpec};

    /// Each key of the generated reference, written with its documented default (and a value for
    /// the required ones), is accepted by the workflow reader; a key the reader does not know is
    /// refused. So the reference and the reader cannot disagree on names or on value spelling.
    #[test]
    fn generated_keys_are_the_workflow_keys() {
        for (kind, cmd) in key_schemas() {
            let mut t = format!("kind = \"{kind}\"\n");
            for a in cmd.get_arguments().filter(|a| a.get_id() != "help") {
                let v = match key_default_toml(a) {
                    Some(v) => v,
                    // a number of the key's type (a label value for `phase`)
                    None if a.is_required_set() => {
                        let float = a.get_value_parser().type_id() == std::any::TypeId::of::<f64>();
                        if float { "50.0" } else { "1" }.to_string()
                    }
                    None => continue,
                };
                t.push_str(&format!("{} = {v}\n", a.get_id()));
            }
            toml::from_str::<StepSpec>(&t).unwrap_or_else(|e| panic!("{kind}: {e}\n{t}"));
            let bad = format!("{t}not_a_key = 1\n");
            assert!(
                toml::from_str::<StepSpec>(&bad).is_err(),
                "{kind} accepts any key"
            );
        }
    }
}
