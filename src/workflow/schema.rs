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
    pub file: PathBuf,
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
}

/// `[input.raw]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    pub shape: [usize; 3],
    pub dtype: String,
    #[serde(default = "default_endian")]
    pub endian: String,
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
    /// Ordered steps.
    #[serde(default)]
    pub steps: Vec<toml::Value>,
}

/// A parsed, validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub file: PathBuf,
    pub text: String,
    pub base_dir: PathBuf,
    pub spec: WorkflowFile,
    pub steps: Vec<StepSpec>,
    /// Step names for results: the kind, suffixed `_2`, `_3` … when repeated.
    pub names: Vec<String>,
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
    for (marker, what) in [
        ("unknown field `", "key"),
        ("unknown variant `", "step kind"),
    ] {
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
        let mut steps = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut kinds: Vec<String> = Vec::new();
        for (i, raw) in spec.steps.iter().enumerate() {
            let kind = raw
                .get("kind")
                .and_then(|k| k.as_str())
                .ok_or_else(|| err(format!("step {} has no `kind = \"...\"`", i + 1)))?
                .to_string();
            let step: StepSpec = raw.clone().try_into().map_err(|e: toml::de::Error| {
                err(format!(
                    "step {} ({kind}): {}",
                    i + 1,
                    friendly(&e.to_string())
                ))
            })?;
            step.as_step()
                .validate()
                .map_err(|e| err(format!("step {} ({kind}): {e}", i + 1)))?;
            let n = kinds.iter().filter(|k| **k == kind).count();
            names.push(if n == 0 {
                kind.clone()
            } else {
                format!("{kind}_{}", n + 1)
            });
            kinds.push(kind);
            steps.push(step);
        }
        if let Some(inp) = &spec.input {
            if let Some(v) = inp.voxel_nm {
                for x in v {
                    if !(x.is_finite() && x > 0.0) {
                        return Err(err(format!(
                            "[input] voxel_nm = {v:?}: every size must be a positive number of nm"
                        )));
                    }
                }
            }
            if let Some(t) = inp.slice_thickness_nm {
                if !(t.is_finite() && t > 0.0) {
                    return Err(err(format!(
                        "[input] slice_thickness_nm = {t}: must be a positive number of nm"
                    )));
                }
            }
            if let Some([a, b]) = inp.slices {
                if a >= b {
                    return Err(err(format!(
                        "[input] slices = [{a}, {b}]: start must be below end"
                    )));
                }
            }
        }
        // order: what exists before each step
        let (mut grey, mut labels) = match &spec.input {
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
            };
            if !ok {
                let what = match st.needs() {
                    Data::Grey => "a grey volume (an [input] or a `synth` step before it)",
                    Data::Labels => {
                        "a label volume (a `segment` step before it, or [input] labels = true)"
                    }
                    Data::Nothing => "",
                };
                return Err(err(format!("step {} ({}) needs {what}", i + 1, names[i])));
            }
            match st.produces() {
                Data::Grey => grey = true,
                Data::Labels => labels = true,
                Data::Nothing => {}
            }
        }
        if steps.is_empty() {
            return Err(err(
                "no [[steps]]: add at least one step (e.g. kind = \"convert\")".into(),
            ));
        }
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Workflow {
            file: path.to_path_buf(),
            text: text.to_string(),
            base_dir,
            spec,
            steps,
            names,
        })
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
