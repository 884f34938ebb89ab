//! `kind = "synth"`: generate a synthetic acquisition with exact ground truth into the context.
//!
//! Keys ([`synth_key_defaults`] lists them with their defaults): every [`SynthSpec`] key (`preset`, `shape`, `voxel_nm`, `seed`, `pressure_kpa`,
//! `render`, tables `electrode`, `li_deposit`, `analytic`, `acquisition`), plus
//! `labels = "path"` (use that label volume as the truth instead of a preset) and
//! `save = "folder"` (also write the full output — slices, truth, truth.json — into that folder
//! of the run directory). Without `seed` the workflow's seed is used.
//!
//! After the step the context holds the rendered grey volume (when `render = true`) and the
//! truth labels; the step's result is the truth record.

use super::filters::WorkflowOnlyKey;
use crate::error::{Error, ParamError};
use crate::synth::{self, SynthSpec};
use crate::workflow::{Context, Data, Step, StepResult};
use serde::{Deserialize, Deserializer};

/// The `synth` step.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthStep {
    /// What to simulate.
    pub spec: SynthSpec,
    /// Was `seed` given in the step (otherwise the workflow's seed is used)?
    pub seed_given: bool,
    /// Label volume to use as the truth.
    pub labels: Option<String>,
    /// Folder (inside the run directory) to write the full output into.
    pub save: Option<String>,
}

/// `labels` of the synth step (workflows only; `fibstack synth --labels`).
pub const SYNTH_LABELS: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "labels",
    default: "",
    help: "Use this label volume (relative to the workflow file) as the truth instead of a \
           preset; the step then only renders it.",
};

/// `save` of the synth step (workflows only).
pub const SYNTH_SAVE: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "save",
    default: "",
    help: "Also write the full output (slices, truth, truth.json) into this folder of the run \
           directory.",
};

impl<'de> Deserialize<'de> for SynthStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut v = serde_json::Value::deserialize(d)?;
        let map = v
            .as_object_mut()
            .ok_or_else(|| D::Error::custom("the synth step must be a table"))?;
        let take_str = |map: &mut serde_json::Map<String, serde_json::Value>,
                        k: &str|
         -> Result<Option<String>, D::Error> {
            match map.remove(k) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s)),
                Some(o) => Err(D::Error::custom(format!(
                    "synth step: `{k}` must be a string, found {o}"
                ))),
            }
        };
        let labels = take_str(map, "labels")?;
        let save = take_str(map, "save")?;
        let seed_given = map.contains_key("seed");
        let spec: SynthSpec =
            serde_json::from_value(v).map_err(|e| D::Error::custom(format!("synth step: {e}")))?;
        Ok(SynthStep {
            spec,
            seed_given,
            labels,
            save,
        })
    }
}

impl Step for SynthStep {
    fn validate(&self) -> Result<(), ParamError> {
        if let Some(s) = &self.save {
            if s.is_empty() || s.contains("..") {
                return Err(ParamError::new(
                    "save",
                    s,
                    "give a folder name inside the output folder, e.g. \"synth\"",
                ));
            }
        }
        if self.labels.is_some() {
            if !self.spec.render {
                return Err(ParamError::new(
                    "render",
                    "false",
                    "with `labels` the step only renders; drop render = false",
                ));
            }
            return self.spec.resolved_acquisition().validate();
        }
        self.spec.validate()
    }
    fn needs(&self) -> Data {
        Data::Nothing
    }
    fn produces(&self) -> Data {
        if self.spec.render || self.labels.is_some() {
            // the rendered stack, and its truth labels beside it
            Data::GreyAndLabels
        } else {
            Data::Labels
        }
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let mut spec = self.spec.clone();
        if !self.seed_given {
            spec.seed = ctx.seed;
        }
        let out = match &self.labels {
            Some(p) => {
                let labels = crate::io::read_labels(
                    std::path::Path::new(p),
                    &crate::io::ReadOptions::default(),
                )?;
                synth::from_labels(labels, p, &spec.resolved_acquisition(), spec.seed)?
            }
            None => synth::generate(&spec)?,
        };
        if let Some(dir) = &self.save {
            let d = ctx.out_dir.join(dir);
            let files = synth::output::write_output(&d, &out, &Default::default())?;
            for f in files {
                ctx.written.push(std::path::Path::new(dir).join(f));
            }
        }
        let truth = StepResult::Synth(Box::new(out.truth.clone()));
        if let Some(r) = out.rendered {
            ctx.grey = Some(r.grey);
            ctx.truth_labels = Some(out.labels.clone());
        }
        ctx.labels = Some(out.labels);
        Ok(Some(truth))
    }
}

/// A value written on the command line for a spec key (`--set KEY=VALUE`, the `fibstack synth`
/// flags): a whole number, a finite number, `true`/`false`, a TOML array, inline table or quoted
/// string (`[1, 2]`, `{ enabled = false }`, `"text"`), else the text itself.
///
/// ```
/// use fibstack::workflow::steps::synth::key_value;
/// assert_eq!(key_value("16"), serde_json::json!(16));
/// assert_eq!(key_value("0.02"), serde_json::json!(0.02));
/// assert_eq!(key_value("additive"), serde_json::json!("additive"));
/// assert_eq!(key_value("[1, 2.5]"), serde_json::json!([1, 2.5]));
/// ```
pub fn key_value(s: &str) -> serde_json::Value {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return i.into();
    }
    if let Ok(u) = t.parse::<u64>() {
        return u.into();
    }
    if let Ok(f) = t.parse::<f64>() {
        if f.is_finite() {
            return f.into();
        }
    }
    match t {
        "true" => return true.into(),
        "false" => return false.into(),
        _ => {}
    }
    if t.starts_with(['[', '{', '"', '\'']) {
        if let Ok(mut tab) = toml::from_str::<toml::Table>(&format!("v = {t}")) {
            if let Some(v) = tab.remove("v") {
                if let Ok(j) = serde_json::to_value(v) {
                    return j;
                }
            }
        }
    }
    serde_json::Value::String(t.to_string())
}

/// The value of the dotted key `key` (`acquisition.noise.gaussian_sigma`) of `spec`; `None` when
/// the key, or a table on its path, is absent.
pub fn get_key(spec: &SynthSpec, key: &str) -> Option<serde_json::Value> {
    let mut v = serde_json::to_value(spec).ok()?;
    for part in key.split('.') {
        v = v.as_object_mut()?.remove(part)?;
    }
    (!v.is_null()).then_some(v)
}

/// `spec` with the dotted key `key` (`acquisition.noise.gaussian_sigma`, the TOML spelling of a
/// nested table's key) set to `value` (`null` = absent). The spec's own serde definition is the
/// schema: an unknown key or a value of the wrong type is refused, naming the key; a table on
/// the path that is absent (e.g. `acquisition.fiducial`) is created with its defaults.
///
/// ```
/// use fibstack::synth::SynthSpec;
/// use fibstack::workflow::steps::synth::{key_value, set_key};
/// let s = set_key(&SynthSpec::default(), "acquisition.noise.gaussian_sigma", key_value("0.05")).unwrap();
/// assert_eq!(s.acquisition.noise.gaussian_sigma, 0.05);
/// assert!(set_key(&s, "acquisition.noise.sigma", key_value("1")).is_err());
/// ```
pub fn set_key(
    spec: &SynthSpec,
    key: &str,
    value: serde_json::Value,
) -> Result<SynthSpec, ParamError> {
    let shown = value.to_string();
    let mut root =
        serde_json::to_value(spec).map_err(|e| ParamError::new(key, &shown, e.to_string()))?;
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = &mut root;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(ParamError::new(
                key,
                &shown,
                "give a dotted key such as acquisition.noise.gaussian_sigma",
            ));
        }
        if cur.is_null() {
            *cur = serde_json::Value::Object(Default::default());
        }
        let Some(obj) = cur.as_object_mut() else {
            return Err(ParamError::new(
                key,
                &shown,
                format!("`{}` is not a table", parts[..i].join(".")),
            ));
        };
        if i + 1 == parts.len() {
            obj.insert(part.to_string(), value);
            break;
        }
        cur = obj
            .entry(part.to_string())
            .or_insert(serde_json::Value::Null);
    }
    serde_json::from_value(root).map_err(|e| ParamError::new(key, &shown, e.to_string()))
}

/// Every key of the `synth` step's spec with its default as written in a workflow file (dotted
/// for the nested tables: `acquisition.noise.gaussian_sigma`), sorted; `None` = no
/// default (the key is absent unless given). Read from the spec's own definition
/// (`SynthSpec::default()` through serde), so it cannot list a key the reader refuses.
pub fn synth_key_defaults() -> Vec<(String, Option<String>)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, Option<String>)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            serde_json::Value::Null => out.push((prefix.to_string(), None)),
            leaf => out.push((
                prefix.to_string(),
                toml::Value::try_from(leaf).ok().map(|t| t.to_string()),
            )),
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(SynthSpec::default()) {
        walk("", &v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every generated key, written with its stated default into a workflow step, is accepted
    /// and gives the default spec; an unknown nested key is refused.
    #[test]
    fn generated_keys_are_the_spec_keys() {
        let rows = synth_key_defaults();
        assert!(rows
            .iter()
            .any(|(k, _)| k == "acquisition.noise.gaussian_sigma"));
        let mut t = String::from("kind = \"synth\"\n");
        for (k, d) in &rows {
            if let Some(d) = d {
                t.push_str(&format!("{k} = {d}\n"));
            }
        }
        let s: crate::workflow::steps::StepSpec =
            toml::from_str(&t).unwrap_or_else(|e| panic!("{e}\n{t}"));
        let crate::workflow::steps::StepSpec::Synth(s) = s else {
            panic!("not synth")
        };
        assert_eq!(s.spec, SynthSpec::default());
        let bad = format!("{t}acquisition.noise.sigma = 1.0\n");
        assert!(toml::from_str::<crate::workflow::steps::StepSpec>(&bad).is_err());
    }

    #[test]
    fn set_key_creates_absent_tables_and_names_bad_keys() {
        let d = SynthSpec::default();
        assert!(d.acquisition.fiducial.is_none());
        let s = set_key(&d, "acquisition.fiducial.thickness_nm", key_value("200")).unwrap();
        assert_eq!(
            s.acquisition.fiducial.as_ref().unwrap().thickness_nm,
            Some(200.0)
        );
        assert_eq!(
            get_key(&s, "acquisition.fiducial.thickness_nm"),
            Some(200.0.into())
        );
        let s = set_key(&s, "acquisition.tilt", serde_json::Value::Null).unwrap();
        assert!(s.acquisition.tilt.is_none());
        let e = set_key(&d, "acquisition.nosie.enabled", key_value("false")).unwrap_err();
        assert!(e.to_string().contains("unknown field `nosie`"), "{e}");
        let e = set_key(&d, "seed.x", key_value("1")).unwrap_err();
        assert!(e.to_string().contains("not a table"), "{e}");
        let e = set_key(&d, "acquisition.bit_depth", key_value("x")).unwrap_err();
        assert!(e.to_string().contains("bit_depth"), "{e}");
    }
}
