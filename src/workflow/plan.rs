//! The run planner: before any work, decide whether a chain runs with the whole volume in memory
//! or slab by slab ([`super::streamed`]).
//!
//! The memory budget is the readers' limit: `[input] max_memory` (GiB; `fibstack run
//! --max-memory` overrides it), 16 GiB by default. The whole-volume estimate counts the input, the
//! widest processed copy of it (f32 after `destripe` / `denoise` with `output_type = "f32"`) and
//! the labels: `voxels × (input bytes + widest copy bytes + 1)`. When that exceeds the budget and
//! the input is a folder of slices or a multi-page TIFF, the chain streams if every step can: the
//! grey steps before `segment` run slab by slab and only the label volume (one byte per voxel) is
//! held, then the label steps run on it as usual. A chain that cannot stream is refused before any
//! work, naming the step, the estimate, the budget and the fix.
//!
//! ```
//! use fibstack::workflow::plan::{streamable_prefix, Mode};
//! use fibstack::workflow::schema::Workflow;
//! let text = "output = \"out\"\n[input]\npath = \"in\"\n[[steps]]\nkind = \"denoise\"\nsigma = 5.0\n\
//!             [[steps]]\nkind = \"segment\"\n[[steps]]\nkind = \"porosity\"\n";
//! let wf = Workflow::parse(std::path::Path::new("w.toml"), text).unwrap();
//! assert_eq!(streamable_prefix(&wf.steps, &wf.names, false), Ok(2));
//! let text3 = text.replace("sigma = 5.0", "sigma = 5.0\ndims = \"3d\"");
//! let wf3 = Workflow::parse(std::path::Path::new("w.toml"), &text3).unwrap();
//! let e = streamable_prefix(&wf3.steps, &wf3.names, false).unwrap_err();
//! assert_eq!(e.step, "denoise");
//! assert!(e.fix.contains("dims = \"2d\""));
//! # let _ = Mode::Streamed;
//! ```

use super::schema::{InputSpec, Workflow};
use super::steps::StepSpec;
use super::StepError;
use crate::error::Error;
use crate::io::{self, ReadOptions};
use crate::preprocess::denoise::Dims;
use crate::preprocess::destripe::DestripeMethod;
use crate::volume::SampleType;
use serde::Serialize;

/// How a chain runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The whole volume is read and processed in memory.
    InMemory,
    /// The grey steps run slab by slab; only the label volume is held.
    Streamed,
}

/// The planner's decision, recorded in `provenance.json` under `execution`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Which mode ran.
    pub mode: Mode,
    /// The memory budget (bytes).
    pub budget_bytes: u64,
    /// Estimated bytes of the whole-volume run (`None` when the input is not known before reading
    /// it, e.g. a container format read whole, or there is no input).
    pub in_memory_bytes: Option<u64>,
    /// Estimated bytes of the streamed run (label volume plus the slabs in flight), when streamed.
    pub streamed_bytes: Option<u64>,
    /// Number of leading steps run slab by slab (the grey steps and `segment`); 0 in memory.
    pub streamed_steps: usize,
    /// Why this mode.
    pub reason: String,
}

impl Plan {
    /// Whether the chain streams.
    pub fn streamed(&self) -> bool {
        self.mode == Mode::Streamed
    }
}

/// Why a chain cannot stream: the step, what it needs, and how to make it stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStreamable {
    /// The step's name (as in `results.json`), or a workflow key such as `[snapshots]`.
    pub step: String,
    /// What the step needs that slabs cannot give.
    pub why: String,
    /// What to change so that it streams.
    pub fix: String,
}

fn refuse(step: &str, why: &str, fix: &str) -> NotStreamable {
    NotStreamable {
        step: step.to_string(),
        why: why.to_string(),
        fix: fix.to_string(),
    }
}

/// The budget of an input in bytes: `max_memory` GiB, else the readers' default.
pub fn budget_bytes(inp: &InputSpec) -> u64 {
    match inp.max_memory {
        Some(g) => (g * (1u64 << 30) as f64) as u64,
        None => ReadOptions::default().max_bytes,
    }
}

/// How many leading steps stream (the grey steps up to and including `segment`), or why the
/// chain cannot stream. `snapshots` = the workflow asks for `[snapshots]` (they need whole
/// volumes).
pub fn streamable_prefix(
    steps: &[StepSpec],
    names: &[String],
    snapshots: bool,
) -> Result<usize, NotStreamable> {
    if snapshots {
        return Err(refuse(
            "[snapshots]",
            "snapshots draw slices of the whole volume after every step",
            "remove [snapshots]",
        ));
    }
    let mut seg: Option<(usize, f64)> = None;
    let mut filtered = false;
    for (i, (s, name)) in steps.iter().zip(names).enumerate() {
        let n = name.as_str();
        match (seg, s) {
            (None, StepSpec::Passthrough(_)) => {}
            (None, StepSpec::Align(_)) => {
                if filtered {
                    return Err(refuse(
                        n,
                        "the streamed drift estimate reads the input, and another grey step comes before it",
                        "put one `align` first",
                    ));
                }
                filtered = true;
            }
            (None, StepSpec::Geometry(g)) => {
                if g.resample_z {
                    return Err(refuse(
                        n,
                        "resample_z interpolates between slices",
                        "drop resample_z",
                    ));
                }
                filtered = true;
            }
            (None, StepSpec::Destripe(d)) => {
                if d.method == DestripeMethod::Stack {
                    return Err(refuse(
                        n,
                        "the stack method averages columns over neighbouring slices",
                        "use a per-slice method (vsnr, wedge, wavelet)",
                    ));
                }
                filtered = true;
            }
            (None, StepSpec::Denoise(d)) => {
                if d.dims != Dims::TwoD {
                    return Err(refuse(n, "a 3-D Gaussian", "make the step 2-D (dims = \"2d\")"));
                }
                filtered = true;
            }
            (None, StepSpec::Tophat(t)) => {
                if t.dims != Dims::TwoD {
                    return Err(refuse(n, "a 3-D top-hat", "make the step 2-D (dims = \"2d\")"));
                }
                filtered = true;
            }
            (None, StepSpec::Segment(g)) => {
                if g.shine_through || g.rim_correction {
                    return Err(refuse(
                        n,
                        "the shine-through and rim corrections work on the whole volume",
                        "drop shine_through / rim_correction",
                    ));
                }
                seg = Some((i, g.sensitivity));
            }
            (None, _) => {
                return Err(refuse(
                    n,
                    "a step that is not streamed (streamed before `segment`: align, geometry, destripe, 2-D denoise, 2-D tophat)",
                    "remove the step or run it on a cropped stack",
                ))
            }
            (Some((_, sens)), StepSpec::Porosity(_)) if sens > 0.0 => {
                return Err(refuse(
                    n,
                    "its threshold band re-thresholds the whole grey volume (segment sensitivity > 0)",
                    "set sensitivity = 0 in the segment step",
                ))
            }
            (
                Some(_),
                StepSpec::Porosity(_)
                | StepSpec::Connectivity(_)
                | StepSpec::Tortuosity(_)
                | StepSpec::Sizes(_)
                | StepSpec::Export(_)
                | StepSpec::Passthrough(_),
            ) => {}
            (Some(_), StepSpec::Convert(c)) if c.what == "labels" => {}
            (Some(_), _) => {
                return Err(refuse(
                    n,
                    "after a streamed `segment` only the labels are held (porosity, connectivity, tortuosity, sizes, export, convert of labels)",
                    "remove the step or run it on a cropped stack",
                ))
            }
        }
    }
    match seg {
        Some((i, _)) => Ok(i + 1),
        None => Err(refuse(
            names.last().map_or("(none)", |s| s.as_str()),
            "a streamed run ends its grey steps with `segment` (the labels are what it holds)",
            "add a `segment` step",
        )),
    }
}

/// Bytes as text for messages: GiB from 0.1 GiB, else MiB.
fn gib(b: u64) -> String {
    let g = b as f64 / (1u64 << 30) as f64;
    if g >= 0.1 {
        format!("{g:.2} GiB")
    } else {
        format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

/// Widest sample (bytes) the grey steps produce, 0 when no step writes a new grey volume.
fn widest_copy(steps: &[StepSpec], input: SampleType) -> usize {
    let mut w = 0;
    for s in steps {
        let out = match s {
            StepSpec::Destripe(d) if d.output_type == "f32" => 4,
            StepSpec::Denoise(d) if d.output_type == "f32" => 4,
            StepSpec::Align(_)
            | StepSpec::Geometry(_)
            | StepSpec::Destripe(_)
            | StepSpec::Denoise(_)
            | StepSpec::Tophat(_)
            | StepSpec::Crop(_) => input.bytes().max(w),
            _ => 0,
        };
        w = w.max(out);
    }
    w
}

/// Decide how `steps` run on `inp` (see the module docs). `Err` when the whole volume does not
/// fit the budget and the chain cannot stream, or even the streamed run does not fit.
pub fn plan(
    wf: &Workflow,
    inp: Option<&InputSpec>,
    steps: &[StepSpec],
    names: &[String],
    opts: Option<&ReadOptions>,
) -> Result<Plan, Error> {
    let in_memory = |budget: u64, est: Option<u64>, reason: &str| Plan {
        mode: Mode::InMemory,
        budget_bytes: budget,
        in_memory_bytes: est,
        streamed_bytes: None,
        streamed_steps: 0,
        reason: reason.to_string(),
    };
    let (Some(inp), Some(opts)) = (inp, opts) else {
        return Ok(in_memory(
            ReadOptions::default().max_bytes,
            None,
            "no input is read",
        ));
    };
    let budget = budget_bytes(inp);
    let path = wf.resolve(&inp.path);
    let streams = matches!(
        io::Format::of(&path),
        Ok(io::Format::Folder | io::Format::Tiff)
    );
    if inp.labels || !streams || !path.exists() {
        return Ok(in_memory(
            budget,
            None,
            "the input is read whole (a label input, or a format other than a folder of slices or a multi-page TIFF); the reader checks the budget",
        ));
    }
    let reader = io::stream::SliceReader::open(&path, opts)?;
    if !reader.is_streaming() {
        return Ok(in_memory(
            budget,
            None,
            "the reader holds this input whole (an integer TIFF whose sample type follows from its values)",
        ));
    }
    let [nz, ny, nx] = reader.shape();
    let voxels = (nz * ny * nx) as u64;
    let st = reader.sample_type();
    let labels = steps.iter().any(|s| {
        matches!(
            s.as_step().produces(),
            super::Data::Labels | super::Data::GreyAndLabels
        )
    });
    let per_voxel = st.bytes() + widest_copy(steps, st) + usize::from(labels);
    let est = voxels * per_voxel as u64;
    if est <= budget {
        return Ok(in_memory(
            budget,
            Some(est),
            "the whole volume fits the memory budget",
        ));
    }
    let k = match streamable_prefix(steps, names, wf.spec.snapshots.is_some()) {
        Ok(k) => k,
        Err(n) => {
            return Err(StepError::NotStreamable {
                step: n.step,
                why: n.why,
                need: gib(est),
                budget: gib(budget),
                fix: n.fix,
            }
            .into())
        }
    };
    // the labels, plus a few slabs in flight (input, f32 copies)
    let slab = crate::stream::slab_len(ny, nx) as u64 * (ny * nx) as u64;
    let streamed = voxels + slab * (st.bytes() as u64 + 3 * 4);
    if streamed > budget {
        return Err(StepError::NotStreamable {
            step: names[k - 1].clone(),
            why: format!(
                "even streamed, the run holds the label volume and its slabs, about {}",
                gib(streamed)
            ),
            need: gib(est),
            budget: gib(budget),
            fix: "crop the input ([input] crop / slices)".into(),
        }
        .into());
    }
    Ok(Plan {
        mode: Mode::Streamed,
        budget_bytes: budget,
        in_memory_bytes: Some(est),
        streamed_bytes: Some(streamed),
        streamed_steps: k,
        reason: format!(
            "the whole volume needs about {}, more than the memory budget of {}: the first {k} steps stream slab by slab",
            gib(est),
            gib(budget)
        ),
    })
}

/// The plan of every chain of a workflow, as `fibstack run` will make them (what `fibstack run
/// --check` reports): `("", plan)` for a single chain, `(sample name, plan)` for each sample of a
/// batch. `Err` as [`plan`].
pub fn plan_workflow(wf: &Workflow) -> Result<Vec<(String, Plan)>, Error> {
    let one = |inp: Option<&InputSpec>, steps: &[StepSpec], names: &[String]| {
        let opts = match inp {
            Some(i) => Some(super::provenance::input_read_options(
                wf,
                i,
                &wf.resolve(&i.path),
            )?),
            None => None,
        };
        plan(wf, inp, steps, names, opts.as_ref())
    };
    if wf.samples.is_empty() {
        return Ok(vec![(
            String::new(),
            one(wf.spec.input.as_ref(), &wf.steps, &wf.names)?,
        )]);
    }
    wf.samples
        .iter()
        .map(|s| Ok((s.name.clone(), one(s.input.as_ref(), &s.steps, &s.names)?)))
        .collect()
}
