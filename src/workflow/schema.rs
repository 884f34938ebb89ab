//! The workflow file: parsing with friendly errors, validation, order checking.

use super::steps::StepSpec;
use super::Data;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A workflow error; always names the file and what to change.
#[derive(Debug, Error)]
#[error("{file}: {message}")]
pub struct WorkflowError {
    /// The workflow file concerned.
    pub file: PathBuf,
    /// What is wrong and what to change.
    pub message: String,
}

/// `[input]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// File or folder (relative paths are relative to the workflow file).
    pub path: PathBuf,
    /// Glob for folders.
    pub pattern: Option<String>,
    /// `[start, end)` slice range.
    pub slices: Option<[usize; 2]>,
    /// `[y0, x0, height, width]`.
    pub crop: Option<[usize; 4]>,
    /// Keep the instrument data bar (default false: it is cropped).
    #[serde(default)]
    pub keep_databar: bool,
    /// Voxel size `[dz, dy, dx]` in nm (overrides the file).
    pub voxel_nm: Option<[f64; 3]>,
    /// Only the slice thickness (nm), keeping the file's pixel size.
    pub slice_thickness_nm: Option<f64>,
    /// The input is a label volume (skip segmentation).
    #[serde(default)]
    pub labels: bool,
    /// Raw layout for `.raw` inputs.
    pub raw: Option<RawInput>,
    /// Unit of coordinates a file gives without one (Avizo/Amira `BoundingBox`): `"nm"` or
    /// `"um"` (also `µm`, `mm`, `A`).
    pub voxel_unit: Option<String>,
    /// Channel of a multi-channel OME-TIFF (0-based).
    pub channel: Option<usize>,
    /// Time point of an OME-TIFF time series (0-based).
    pub timepoint: Option<usize>,
    /// Memory budget in GiB (default 16, as the readers' `--max-memory`): a run whose whole
    /// volume does not fit streams slab by slab when its steps can (see [`super::plan`]), else it
    /// is refused before any work.
    pub max_memory: Option<f64>,
}

/// `[input.raw]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// `shape = [nz, ny, nx]` of the raw volume (voxels).
    pub shape: [usize; 3],
    /// `dtype`: sample type, `"u8"`, `"u16"` or `"f32"`.
    pub dtype: String,
    /// `endian`: byte order, `"little"` (default) or `"big"` (also `"be"`).
    #[serde(default = "default_endian")]
    pub endian: String,
    /// `header_bytes`: bytes to skip at the start of the file (default 0).
    #[serde(default)]
    pub header_bytes: u64,
}

fn default_endian() -> String {
    "little".into()
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowFile {
    /// Free text shown in provenance.
    #[serde(default)]
    pub description: Option<String>,
    /// Input volume; optional when the first step creates data (e.g. `synth`).
    pub input: Option<InputSpec>,
    /// Output folder (relative to the workflow file).
    pub output: PathBuf,
    /// Seed for every random part.
    #[serde(default)]
    pub seed: u64,
    /// Measure an uncalibrated volume in voxels (1 × 1 × 1) instead of refusing it.
    #[serde(default)]
    pub allow_uncalibrated: bool,
    /// Keep tortuosity results that did not converge or lie below 1 (with their warnings)
    /// instead of stopping the run.
    #[serde(default)]
    pub allow_unconverged: bool,
    /// Names of the phases of the label volume: `[phases]` with `0 = "pore"`, `1 = "NMC"`, … Steps
    /// may then say `phase = "pore"`; tables, figures and the report use the names.
    #[serde(default)]
    pub phases: std::collections::BTreeMap<String, String>,
    /// Ordered steps.
    #[serde(default)]
    pub steps: Vec<toml::Value>,
    /// A batch: each sample runs the same steps (with its own input and overrides).
    #[serde(default)]
    pub samples: Vec<SampleSpec>,
    /// What to compare across samples.
    pub compare: Option<CompareSpec>,
    /// Quick-look images of one slice after every processing step (for reports).
    pub snapshots: Option<SnapshotSpec>,
    /// Build `report.html` (+ figures, report.json) at the end of the run.
    pub report: Option<ReportSpec>,
}

/// `[report]`: an offline HTML report of the run (see `fibstack report`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Page title (default: from the workflow file name).
    pub title: Option<String>,
}

/// `[snapshots]`: save one slice as PNG after the input and after every step that changes the
/// grey volume (and a label overlay after segmentation), into `snapshots/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSpec {
    /// Slice index (z); default: the middle slice.
    pub slice: Option<usize>,
}

/// `[[samples]]`: one sample of a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSpec {
    /// Name (also the sub-folder of the output, made file-name safe).
    pub name: String,
    /// Where the sample's data is; same keys as `[input]`.
    pub input: Option<InputSpec>,
    /// Free labels carried into the comparison table (e.g. `pressure_kpa = 70`).
    #[serde(default)]
    pub labels: toml::Table,
    /// Per-step parameter overrides: `{ segment = { thresholds = [90] } }` (by step name).
    #[serde(default)]
    pub overrides: toml::Table,
}

/// `[compare]`: the comparison table and plots of a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// The sample label used as x axis of comparison plots (e.g. `pressure_kpa`).
    pub x: Option<String>,
    /// Unit of that label, for the axis title.
    #[serde(default)]
    pub x_unit: String,
    /// Columns taken from each sample's `results.json`.
    #[serde(default)]
    pub columns: Vec<CompareColumn>,
    /// JSON pointer to a profile (an object with `position` and `fraction` arrays) in each
    /// sample's results: the profiles are overlaid in `compare_profiles.png/svg`.
    pub profile: Option<String>,
    /// Axis title of that profile plot.
    #[serde(default)]
    pub profile_label: String,
    /// A picture every sample writes (e.g. orthogonal views from a `convert` step to `views.png`),
    /// shown side by side in `comparison.html`.
    pub views: Option<String>,
}

/// One comparison column: a JSON pointer into `results.json` (e.g. `/porosity/phases/0/fraction`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareColumn {
    /// Column name in the comparison table.
    pub name: String,
    /// Unit of the column, for the header and axis title (default none).
    #[serde(default)]
    pub unit: String,
    /// JSON pointer into each sample's `results.json` (e.g. `/porosity/phases/0/fraction`).
    pub from: String,
    /// Optional pointers to a lower and upper bound (plotted as error bars).
    pub low: Option<String>,
    /// Pointer to the upper bound (with `low`: plotted as error bars).
    pub high: Option<String>,
    /// Plot this column against `x`.
    #[serde(default)]
    pub plot: bool,
    /// Optional pointer to a reference value of the same quantity (e.g. the simulator's truth of
    /// the same voxels), drawn as a second series on the plot and written as `<name>_reference`.
    pub reference: Option<String>,
    /// Legend label of the reference series (default "reference").
    #[serde(default)]
    pub reference_label: String,
}

/// A sample ready to run: its input and its validated steps.
#[derive(Debug, Clone)]
pub struct SampleRun {
    /// The sample's name, as given in `[[samples]]`.
    pub name: String,
    /// File-name-safe folder name.
    pub folder: String,
    /// The sample's input (`None` when the first step creates the data).
    pub input: Option<InputSpec>,
    /// Free labels carried into the comparison table.
    pub labels: toml::Table,
    /// The steps as written in the file, with the sample's overrides applied.
    pub raw_steps: Vec<toml::Value>,
    /// The validated steps, in order.
    pub steps: Vec<StepSpec>,
    /// Step names for results: the kind, suffixed `_2`, `_3` … when repeated.
    pub names: Vec<String>,
}

/// A parsed, validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The workflow file.
    pub file: PathBuf,
    /// Its text, as read (kept in provenance).
    pub text: String,
    /// Folder of the workflow file: relative paths are relative to it.
    pub base_dir: PathBuf,
    /// `[phases]`, checked.
    pub phase_names: crate::volume::PhaseNames,
    /// The parsed file.
    pub spec: WorkflowFile,
    /// The validated steps, in order (the shared chain of a batch).
    pub steps: Vec<StepSpec>,
    /// Step names for results: the kind, suffixed `_2`, `_3` … when repeated.
    pub names: Vec<String>,
    /// The batch, when `[[samples]]` is given (then `steps` is the shared chain).
    pub samples: Vec<SampleRun>,
}

/// File-name-safe version of a sample name.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('.').to_string();
    if s.is_empty() {
        "sample".into()
    } else {
        s
    }
}

fn check_input(inp: &InputSpec) -> Result<(), String> {
    if let Some(v) = inp.voxel_nm {
        for x in v {
            if !(x.is_finite() && x > 0.0) {
                return Err(format!(
                    "voxel_nm = {v:?}: every size must be a positive number of nm"
                ));
            }
        }
    }
    if let Some(t) = inp.slice_thickness_nm {
        if !(t.is_finite() && t > 0.0) {
            return Err(format!(
                "slice_thickness_nm = {t}: must be a positive number of nm"
            ));
        }
    }
    if let Some([a, b]) = inp.slices {
        if a >= b {
            return Err(format!("slices = [{a}, {b}]: start must be below end"));
        }
    }
    if let Some(u) = &inp.voxel_unit {
        crate::io::parse_length_unit(u).map_err(|e| format!("voxel_unit: {e}"))?;
    }
    if let Some(m) = inp.max_memory {
        if !(m.is_finite() && m > 0.0) {
            return Err(format!(
                "max_memory = {m}: must be a positive number of GiB"
            ));
        }
    }
    Ok(())
}

/// Parse and validate steps for an input (or none): parameters and order.
pub fn parse_steps(
    raw_steps: &[toml::Value],
    input: Option<&InputSpec>,
) -> Result<(Vec<StepSpec>, Vec<String>), String> {
    let mut steps = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    for (i, raw) in raw_steps.iter().enumerate() {
        let kind = raw
            .get("kind")
            .and_then(|k| k.as_str())
            .ok_or_else(|| format!("step {} has no `kind = \"...\"`", i + 1))?
            .to_string();
        let step: StepSpec = raw.clone().try_into().map_err(|e: toml::de::Error| {
            let mut m = friendly(&e.to_string());
            // name the key whose value was not one of its allowed values
            if let Some(bad) = m
                .strip_prefix("unknown value `")
                .and_then(|r| r.split('`').next())
            {
                let key = raw.as_table().and_then(|t| {
                    t.iter()
                        .find(|(_, v)| v.as_str() == Some(bad))
                        .map(|(k, _)| k.clone())
                });
                if let Some(k) = key {
                    m = format!("{k} = \"{bad}\": {m}");
                }
            }
            format!("step {} ({kind}): {m}", i + 1)
        })?;
        step.as_step()
            .validate()
            .map_err(|e| format!("step {} ({kind}): {e}", i + 1))?;
        let n = kinds.iter().filter(|k| **k == kind).count();
        names.push(super::results::result_name(&kind, n));
        kinds.push(kind);
        steps.push(step);
    }
    if steps.is_empty() {
        return Err("no [[steps]]: add at least one step (e.g. kind = \"convert\")".into());
    }
    let (mut grey, mut labels) = match input {
        Some(i) if i.labels => (false, true),
        Some(_) => (true, false),
        None => (false, false),
    };
    for (i, s) in steps.iter().enumerate() {
        let st = s.as_step();
        let ok = match st.needs() {
            Data::Nothing => true,
            Data::Grey => grey,
            Data::Labels => labels,
            Data::GreyAndLabels => grey && labels,
        };
        if !ok {
            let what = match st.needs() {
                Data::Grey => "a grey volume (an [input] or a `synth` step before it)",
                Data::Labels => {
                    "a label volume (a `segment` step before it, or [input] labels = true)"
                }
                Data::GreyAndLabels => "a grey and a label volume",
                Data::Nothing => "",
            };
            return Err(format!("step {} ({}) needs {what}", i + 1, names[i]));
        }
        match st.produces() {
            Data::Grey => grey = true,
            Data::Labels => labels = true,
            Data::GreyAndLabels => {
                grey = true;
                labels = true;
            }
            Data::Nothing => {}
        }
    }
    Ok((steps, names))
}

/// Apply `{ step_name = { key = value } }` overrides to the raw steps.
fn apply_overrides(
    raw_steps: &[toml::Value],
    names: &[String],
    overrides: &toml::Table,
) -> Result<Vec<toml::Value>, String> {
    let mut out = raw_steps.to_vec();
    for (step_name, table) in overrides {
        let idx = names.iter().position(|n| n == step_name).ok_or_else(|| {
            let best = names.iter().min_by_key(|n| levenshtein(step_name, n));
            format!(
                "overrides name step `{step_name}`, which the chain does not have{}",
                best.map(|b| format!("; did you mean `{b}`?"))
                    .unwrap_or_default()
            )
        })?;
        let tab = table
            .as_table()
            .ok_or_else(|| format!("overrides.{step_name} must be a table of step keys"))?;
        if let Some(t) = out[idx].as_table_mut() {
            for (k, v) in tab {
                if k == "kind" {
                    return Err(format!(
                        "overrides.{step_name}: `kind` cannot be overridden"
                    ));
                }
                t.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(out)
}

/// Edit distance (for "did you mean").
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Turn a TOML/serde error into one line: where (line and the offending text), what, and for
/// unknown names the closest valid one.
pub fn friendly(msg: &str) -> String {
    let lines: Vec<&str> = msg.lines().collect();
    // "TOML parse error at line 4, column 1" then "4 | text" then carets, then the message
    let mut location = String::new();
    if let Some(l) = lines
        .iter()
        .find(|l| l.starts_with("TOML parse error at line "))
    {
        let n = l
            .trim_start_matches("TOML parse error at line ")
            .split(',')
            .next()
            .unwrap_or("");
        let code = lines
            .iter()
            .find_map(|c| c.trim_start().strip_prefix(&format!("{n} | ")))
            .unwrap_or("")
            .trim();
        location = format!("line {n} ({code}): ");
    }
    let detail = lines
        .iter()
        .rev()
        .find(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('|') && !t.starts_with("TOML parse error")
        })
        .map(|l| l.trim())
        .unwrap_or(msg);
    // an unknown variant is a step kind when the valid names are step kinds, else the value of
    // a key with a fixed set of values (e.g. interpolation = "linear" | "cubic")
    let variant = if msg.contains("`passthrough`") {
        "step kind"
    } else {
        "value"
    };
    for (marker, what) in [("unknown field `", "key"), ("unknown variant `", variant)] {
        if let Some((l, i)) = lines.iter().find_map(|l| l.find(marker).map(|i| (*l, i))) {
            let rest = &l[i + marker.len()..];
            let parts: Vec<&str> = rest.split('`').collect();
            let bad = parts.first().copied().unwrap_or("");
            let candidates: Vec<&str> = parts.iter().skip(2).step_by(2).copied().collect();
            let best = candidates.iter().min_by_key(|c| levenshtein(bad, c));
            return match best {
                Some(b) => format!(
                    "{location}unknown {what} `{bad}`; did you mean `{b}`? (valid: {})",
                    candidates.join(", ")
                ),
                None => format!("{location}unknown {what} `{bad}`"),
            };
        }
    }
    format!("{location}{detail}")
}

/// `[phases]` keys (label values) and names, checked.
fn parse_phases(
    raw: &std::collections::BTreeMap<String, String>,
) -> Result<crate::volume::PhaseNames, String> {
    let mut out = crate::volume::PhaseNames::new();
    for (k, v) in raw {
        let l: u8 = k.trim().parse().map_err(|_| {
            format!("key {k:?} is not a label value 0..=255 (write `0 = \"pore\"`)")
        })?;
        crate::volume::insert_phase_name(&mut out, l, v)?;
    }
    Ok(out)
}

/// Steps that name their phase (`phase = "pore"`) must use a name of `[phases]` (checked before
/// any work, so `run --check` refuses what `run` would).
fn check_phase_refs(
    steps: &[toml::Value],
    names: &crate::volume::PhaseNames,
) -> Result<(), String> {
    for (i, st) in steps.iter().enumerate() {
        if let Some(n) = st.get("phase").and_then(|p| p.as_str()) {
            let r: crate::volume::PhaseRef = n.parse()?;
            r.resolve(names).map_err(|e| {
                let kind = st.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
                format!("step {} ({kind}): {e}", i + 1)
            })?;
        }
    }
    Ok(())
}

impl Workflow {
    /// Read, parse and validate a workflow file (every step's parameters, and the step order).
    pub fn load(path: &Path) -> Result<Workflow, WorkflowError> {
        let err = |m: String| WorkflowError {
            file: path.to_path_buf(),
            message: m,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read the workflow file ({e})")))?;
        Self::parse(path, &text)
    }

    /// Parse and validate workflow `text` (as if read from `path`).
    pub fn parse(path: &Path, text: &str) -> Result<Workflow, WorkflowError> {
        let err = |m: String| WorkflowError {
            file: path.to_path_buf(),
            message: m,
        };
        let spec: WorkflowFile = toml::from_str(text).map_err(|e| err(friendly(&e.to_string())))?;
        let phase_names = parse_phases(&spec.phases).map_err(|m| err(format!("[phases] {m}")))?;
        let labels_in = spec.input.as_ref().is_some_and(|i| i.labels)
            || spec
                .samples
                .iter()
                .any(|s| s.input.as_ref().is_some_and(|i| i.labels));
        if !labels_in {
            check_phase_refs(&spec.steps, &phase_names).map_err(err)?;
        }
        if let Some(inp) = &spec.input {
            check_input(inp).map_err(|m| err(format!("[input] {m}")))?;
        }
        // the shared chain is checked against the first input it will see
        let probe = spec
            .input
            .clone()
            .or_else(|| spec.samples.first().and_then(|s| s.input.clone()));
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let (mut steps, names) = parse_steps(&spec.steps, probe.as_ref()).map_err(err)?;
        resolve_step_paths(&mut steps, &base_dir);
        let mut samples = Vec::new();
        let mut folders = std::collections::BTreeSet::new();
        for (k, s) in spec.samples.iter().enumerate() {
            let ctx = |m: String| err(format!("sample {} ({}): {m}", k + 1, s.name));
            let input = s.input.clone().or_else(|| spec.input.clone());
            if let Some(inp) = &input {
                check_input(inp).map_err(|m| ctx(format!("input {m}")))?;
            }
            let raw = apply_overrides(&spec.steps, &names, &s.overrides).map_err(ctx)?;
            let (mut st, nm) = parse_steps(&raw, input.as_ref()).map_err(ctx)?;
            resolve_step_paths(&mut st, &base_dir);
            let folder = slug(&s.name);
            if !folders.insert(folder.clone()) {
                return Err(ctx(format!(
                    "two samples share the folder name `{folder}`; give unique names"
                )));
            }
            samples.push(SampleRun {
                name: s.name.clone(),
                folder,
                input,
                labels: s.labels.clone(),
                raw_steps: raw,
                steps: st,
                names: nm,
            });
        }
        if spec.compare.is_some() && samples.is_empty() {
            return Err(err("[compare] needs [[samples]] to compare".into()));
        }
        Ok(Workflow {
            file: path.to_path_buf(),
            text: text.to_string(),
            base_dir,
            phase_names,
            spec,
            steps,
            names,
            samples,
        })
    }

    /// The output folder a run writes: `out_override` (`fibstack run --out`) or the file's
    /// `output`, resolved against the workflow file's folder.
    pub fn out_dir(&self, out_override: Option<&Path>) -> PathBuf {
        out_override
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.resolve(&self.spec.output))
    }

    /// Every input file or folder the run reads (the `[input]`, the samples' inputs, the files
    /// named in steps).
    pub fn inputs(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        let push_steps = |steps: &[StepSpec], v: &mut Vec<PathBuf>| {
            for s in steps {
                let p = match s {
                    StepSpec::Synth(b) => b.labels.as_ref(),
                    StepSpec::Score(b) => b.truth.as_ref(),
                    _ => None,
                };
                if let Some(p) = p {
                    v.push(self.resolve(Path::new(p)));
                }
            }
        };
        if let Some(i) = &self.spec.input {
            v.push(self.resolve(&i.path));
        }
        push_steps(&self.steps, &mut v);
        for s in &self.samples {
            if let Some(i) = &s.input {
                v.push(self.resolve(&i.path));
            }
            push_steps(&s.steps, &mut v);
        }
        v
    }

    /// Check the output folder against the inputs before any work (also done by `run --check`):
    /// it must not be an input, hold one, or lie inside an input folder (a run replaces what it
    /// writes there), and must not be an existing file.
    pub fn check_paths(&self, out_override: Option<&Path>) -> Result<(), WorkflowError> {
        let out = self.out_dir(out_override);
        let key = if out_override.is_some() {
            "--out"
        } else {
            "output"
        };
        let err = |m: String| WorkflowError {
            file: self.file.clone(),
            message: m,
        };
        if out.exists() && !out.is_dir() {
            return Err(err(format!(
                "{key} = {:?} is an existing file; give a folder for the results",
                out.display().to_string()
            )));
        }
        let inputs = self.inputs();
        let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
        crate::io::check_output(&out, &refs).map_err(|e| {
            let detail = match &e {
                crate::io::IoError::Invalid { detail, .. } => detail.clone(),
                other => other.to_string(),
            };
            err(format!("{key} = {:?}: {detail}", out.display().to_string()))
        })
    }

    /// Set the memory budget (GiB) of every input (`fibstack run --max-memory`).
    pub fn set_max_memory(&mut self, gib: f64) {
        if let Some(i) = self.spec.input.as_mut() {
            i.max_memory = Some(gib);
        }
        for s in &mut self.samples {
            if let Some(i) = s.input.as_mut() {
                i.max_memory = Some(gib);
            }
        }
    }

    /// A path from the workflow, resolved against the workflow file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Input files named inside steps (the `synth` step's `labels`, the `score` step's `truth`) resolve against the workflow
/// file's folder, like `[input] path`.
fn resolve_step_paths(steps: &mut [StepSpec], base: &Path) {
    for s in steps {
        let p = match s {
            StepSpec::Synth(b) => b.labels.as_mut(),
            StepSpec::Score(b) => b.truth.as_mut(),
            StepSpec::Classify(b) => {
                let base_s = |l: &mut String| {
                    if Path::new(l.as_str()).is_relative() {
                        *l = base.join(l.as_str()).to_string_lossy().into_owned();
                    }
                };
                if let Some(t) = b.train.as_mut() {
                    t.labels.iter_mut().for_each(base_s);
                    t.truth.iter_mut().for_each(base_s);
                }
                b.model.as_mut()
            }
            _ => None,
        };
        if let Some(l) = p {
            if Path::new(l.as_str()).is_relative() {
                *l = base.join(l.as_str()).to_string_lossy().into_owned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_closest_key() {
        let m = friendly("unknown field `pathh`, expected one of `path`, `pattern`, `slices`");
        assert!(m.contains("did you mean `path`"), "{m}");
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
