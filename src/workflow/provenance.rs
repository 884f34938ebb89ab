//! Running a validated workflow and recording provenance.

use super::schema::Workflow;
use super::Context;
use super::StepError;
use crate::error::Error;
use crate::io::{self, ReadOptions};
use crate::progress::Progress;
use crate::volume::{LabelVolume, VoxelSize, VoxelSource};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One input file in provenance.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    /// The file read (each slice file of a folder stack is listed).
    pub path: PathBuf,
    /// Its size (bytes).
    pub bytes: u64,
    /// SHA-256 of its content, lower-case hex.
    pub sha256: String,
}

/// One step in provenance.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// The step's result name (its kind, suffixed `_2`, `_3` … when repeated).
    pub name: String,
    /// The step's table as written in the workflow (with a sample's overrides applied).
    pub parameters: serde_json::Value,
    /// Wall time of the step (s).
    pub seconds: f64,
}

/// `provenance.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// Version of fibstack that ran the workflow.
    pub fibstack_version: &'static str,
    /// The workflow file.
    pub workflow_file: PathBuf,
    /// The workflow file's text, as read.
    pub workflow_text: String,
    /// When the run started (Unix time, s).
    pub started_unix_s: u64,
    /// Worker threads used.
    pub threads: usize,
    /// The seed of every random part.
    pub seed: u64,
    /// The input files read, with their checksums.
    pub inputs: Vec<InputFile>,
    /// Shape `[nz, ny, nx]` of the input volume (voxels); without an input, of the volume the
    /// steps left.
    pub input_shape: Option<[usize; 3]>,
    /// Voxel size `[dz, dy, dx]` (nm) of the input volume.
    pub voxel_size_nm: Option<[f64; 3]>,
    /// Where each of `[dz, dy, dx]` came from (file, workflow, default, …).
    pub voxel_size_source: Option<[VoxelSource; 3]>,
    /// Warnings met while reading and running (uncalibrated voxel size, ignored files, …).
    pub warnings: Vec<String>,
    /// Every step that ran, in order.
    pub steps: Vec<StepRecord>,
    /// Files written, relative to the output folder (`provenance.json` included).
    pub outputs: Vec<PathBuf>,
    /// Wall time of the whole run (s).
    pub total_seconds: f64,
    /// How the chain ran (in memory or streamed) and why; `None` for the summary of a batch.
    pub execution: Option<super::plan::Plan>,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The output folder.
    pub out_dir: PathBuf,
    /// The typed results of the steps (`results.json` is their serialisation).
    pub results: super::Results,
    /// What `provenance.json` records.
    pub provenance: Provenance,
}

/// The read options of a workflow input (`[input]` or a sample's `input`), as `fibstack run`
/// reads it.
pub(crate) fn input_read_options(
    wf: &Workflow,
    inp: &super::schema::InputSpec,
    path: &Path,
) -> Result<ReadOptions, Error> {
    let raw = match &inp.raw {
        Some(r) => Some(io::RawSpec {
            shape: r.shape,
            sample: match r.dtype.as_str() {
                "u8" | "uint8" => crate::SampleType::U8,
                "u16" | "uint16" => crate::SampleType::U16,
                "f32" | "float32" => crate::SampleType::F32,
                t => {
                    return Err(StepError::RawDtype {
                        file: wf.file.clone(),
                        dtype: t.to_string(),
                    }
                    .into())
                }
            },
            little_endian: !matches!(r.endian.as_str(), "big" | "be"),
            header_bytes: r.header_bytes,
        }),
        None => None,
    };
    Ok(ReadOptions {
        pattern: inp.pattern.clone(),
        slices: inp.slices.map(|[a, b]| (a, b)),
        crop: inp.crop,
        crop_databar: !inp.keep_databar,
        raw,
        length_unit_nm: inp
            .voxel_unit
            .as_deref()
            .map(io::parse_length_unit)
            .transpose()
            .map_err(|e| io::IoError::invalid(path, e))?,
        channel: inp.channel,
        timepoint: inp.timepoint,
        max_bytes: super::plan::budget_bytes(inp),
    })
}

/// What `fibstack run --check` verifies of the inputs before any work: when the workflow measures
/// lengths or τ (porosity, connectivity, sizes, tortuosity) and does not allow uncalibrated volumes,
/// every folder or TIFF input (read by its headers only) must have a known voxel size after the
/// workflow's `voxel_nm` / `slice_thickness_nm` — so `--check` refuses what `run` would refuse at its
/// first metric step.
pub fn check_input_calibration(wf: &Workflow) -> Result<(), Error> {
    use super::steps::StepSpec;
    if wf.spec.allow_uncalibrated {
        return Ok(());
    }
    let measures = |steps: &[StepSpec]| {
        steps.iter().any(|s| {
            matches!(
                s,
                StepSpec::Porosity(_)
                    | StepSpec::Connectivity(_)
                    | StepSpec::Sizes(_)
                    | StepSpec::Tortuosity(_)
            )
        })
    };
    let mut inputs: Vec<&super::schema::InputSpec> = Vec::new();
    if measures(&wf.steps) {
        inputs.extend(wf.spec.input.as_ref());
    }
    for s in &wf.samples {
        if measures(&s.steps) {
            inputs.extend(s.input.as_ref());
        }
    }
    for inp in inputs {
        let path = wf.resolve(&inp.path);
        if !matches!(
            io::Format::of(&path),
            Ok(io::Format::Folder | io::Format::Tiff)
        ) || !path.exists()
        {
            continue; // other containers are read whole: checked when run reads them
        }
        let opts = input_read_options(wf, inp, &path)?;
        let voxel = io::stream::SliceReader::open(&path, &opts)?.voxel().given(
            inp.voxel_nm,
            inp.slice_thickness_nm,
            VoxelSource::Workflow,
        );
        if let Err(source) = voxel.for_metric(false) {
            return Err(StepError::InputVoxel {
                file: wf.file.clone(),
                input: path.clone(),
                error: source,
            }
            .into());
        }
    }
    Ok(())
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<(u64, String), io::IoError> {
    let mut f = std::fs::File::open(path).map_err(|e| io::IoError::Os {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|e| io::IoError::Os {
            path: path.to_path_buf(),
            source: e,
        })?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((n, hex))
}

fn check_writable(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| StepError::OutputFolder {
        path: dir.to_path_buf(),
        error: source,
    })?;
    Ok(())
}

/// The output folder of a run being written: a temporary folder beside it that is merged into
/// it when the whole run succeeded (see [`crate::io::atomic::merge_folder`]). Dropped without
/// [`Staging::commit`], it is removed and the output folder stays as it was.
struct Staging {
    tmp: io::atomic::TempPath,
    target: PathBuf,
}

impl Staging {
    fn begin(out_dir: &Path) -> Result<Self, Error> {
        let target = io::normalize_path(out_dir);
        let tmp = io::atomic::temp_folder(&target).map_err(|e| match e {
            io::IoError::Os { source, .. } => StepError::OutputFolder {
                path: out_dir.to_path_buf(),
                error: source,
            }
            .into(),
            other => Error::Io(other),
        })?;
        Ok(Staging { tmp, target })
    }
    fn path(&self) -> PathBuf {
        self.tmp.path().to_path_buf()
    }
    /// Move the run's files into the output folder; files a previous run recorded in its
    /// `provenance.json` and this run did not write again are removed, others are left alone.
    fn commit(self) -> Result<(), Error> {
        let stale: Vec<PathBuf> = std::fs::read(self.target.join("provenance.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("outputs").cloned())
            .and_then(|o| o.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.as_str())
            .filter_map(|p| Path::new(p).components().next())
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        io::atomic::merge_folder(self.tmp, &self.target, &stale, Some("provenance.json"))?;
        Ok(())
    }
}

/// Run a validated workflow. `out_override` replaces the file's `output`. With `[[samples]]`
/// every sample runs the chain into its own sub-folder (see [`super::batch`]).
///
/// The run writes into a temporary folder beside the output folder, which is merged into it
/// only when everything succeeded: a failed run leaves the previous results as they were and
/// adds nothing. An output folder that is, holds or lies inside an input is refused before any
/// work ([`Workflow::check_paths`]).
pub fn run(
    wf: &Workflow,
    out_override: Option<PathBuf>,
    progress: &dyn Progress,
) -> Result<RunSummary, Error> {
    wf.check_paths(out_override.as_deref())?;
    let out_dir = wf.out_dir(out_override.as_deref());
    let stage = Staging::begin(&out_dir)?;
    let mut summary = if !wf.samples.is_empty() {
        super::batch::run_batch_into(wf, &stage.path(), &stage.target, progress)?
    } else {
        let chain = Chain {
            input: wf.spec.input.as_ref(),
            steps: &wf.steps,
            names: &wf.names,
            raw_steps: &wf.spec.steps,
        };
        run_chain_into(wf, &chain, &stage.path(), &stage.target, progress)?
    };
    stage.commit()?;
    summary.out_dir = out_dir;
    Ok(summary)
}

/// One input and the steps to run on it.
pub struct Chain<'a> {
    /// The input, or `None` when the first step creates the data.
    pub input: Option<&'a super::schema::InputSpec>,
    /// The validated steps, in order.
    pub steps: &'a [super::steps::StepSpec],
    /// The step names for results, one per step.
    pub names: &'a [String],
    /// The steps as written (recorded in provenance), one per step.
    pub raw_steps: &'a [toml::Value],
}

/// Run one chain into `out_dir`, writing `results.json` and `provenance.json` (directly, not
/// through a temporary folder: [`run`] does that).
pub fn run_chain(
    wf: &Workflow,
    chain: &Chain,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<RunSummary, Error> {
    run_chain_into(wf, chain, out_dir, out_dir, progress)
}

/// [`run_chain`] writing into `out_dir`, which will be published as `final_dir`.
pub(crate) fn run_chain_into(
    wf: &Workflow,
    chain: &Chain,
    out_dir: &Path,
    final_dir: &Path,
    progress: &dyn Progress,
) -> Result<RunSummary, Error> {
    let t0 = Instant::now();
    let out_dir = out_dir.to_path_buf();
    check_writable(&out_dir)?;
    let mut ctx = Context::new(out_dir.clone(), wf.spec.seed, progress);
    ctx.publish_dir = Some(final_dir.to_path_buf());
    ctx.allow_uncalibrated = wf.spec.allow_uncalibrated;
    ctx.allow_unconverged = wf.spec.allow_unconverged;
    ctx.phase_names = wf.phase_names.clone();
    let mut warnings = Vec::new();
    let mut inputs = Vec::new();
    let opts = match chain.input {
        Some(inp) => Some(input_read_options(wf, inp, &wf.resolve(&inp.path))?),
        None => None,
    };
    let plan = super::plan::plan(wf, chain.input, chain.steps, chain.names, opts.as_ref())?;
    let mut streamed = None;
    if let (true, Some(inp)) = (plan.streamed(), chain.input) {
        let s = super::streamed::run_streamed(wf, inp, chain.steps, &plan, &mut ctx)?;
        inputs = s.inputs.clone();
        warnings.extend(s.warnings.iter().cloned());
        streamed = Some(s);
    } else if let Some(inp) = chain.input {
        let path = wf.resolve(&inp.path);
        let opts = input_read_options(wf, inp, &path)?;
        let mut vol = io::read_volume_with_progress(&path, &opts, progress)?;
        io::apply_given_calibration(
            &mut vol,
            inp.voxel_nm,
            inp.slice_thickness_nm,
            VoxelSource::Workflow,
        );
        warnings.extend(vol.meta.warnings.iter().cloned());
        for f in &vol.meta.source_files {
            let (bytes, sha256) = sha256_file(f)?;
            inputs.push(InputFile {
                path: f.clone(),
                bytes,
                sha256,
            });
        }
        if inp.labels {
            ctx.labels =
                Some(
                    LabelVolume::from_grey(vol).map_err(|source| StepError::NotLabels {
                        path: path.clone(),
                        error: source,
                    })?,
                );
        } else {
            ctx.grey = Some(vol);
        }
    }
    let (shape0, voxel0) = match &streamed {
        Some(s) => (Some(s.shape), Some(s.voxel)),
        None => current(&ctx),
    };
    let mut pre_done = streamed.map(|s| s.done).unwrap_or_default().into_iter();
    let snap = wf.spec.snapshots.as_ref();
    if let Some(sp) = snap {
        snapshot(&mut ctx, sp, "00_input")?;
    }
    let mut records = Vec::new();
    for (i, (step, name)) in chain.steps.iter().zip(chain.names).enumerate() {
        ctx.chain_before = chain.steps[..i].to_vec();
        ctx.name_labels();
        let ts = Instant::now();
        let (result, streamed_s) = match pre_done.next() {
            Some((r, secs)) => (r, Some(secs)),
            None => (
                step.as_step().run(&mut ctx).map_err(|e| e.in_step(name))?,
                None,
            ),
        };
        if let Some(r) = result {
            ctx.results.insert(name.clone(), r);
        }
        if let Some(sp) = snap {
            let st = step.as_step();
            if st.produces() != super::Data::Nothing || st.needs() == super::Data::Grey {
                snapshot(&mut ctx, sp, &format!("{:02}_{name}", records.len() + 1))?;
            }
        }
        let raw = chain.raw_steps[records.len()].clone();
        records.push(StepRecord {
            name: name.clone(),
            parameters: serde_json::to_value(raw).unwrap_or(serde_json::Value::Null),
            seconds: streamed_s.unwrap_or_else(|| ts.elapsed().as_secs_f64()),
        });
    }
    let (shape, voxel) = match (shape0, voxel0) {
        (Some(s), Some(v)) => (Some(s), Some(v)),
        _ => current(&ctx),
    };
    warnings.append(&mut ctx.warnings);
    let results_path = ctx.output("results.json");
    let json = serde_json::to_vec_pretty(&ctx.results.to_json()?)
        .map_err(|e| Error::json("results.json", e))?;
    io::atomic::write_bytes(&results_path, &json)?;
    let prov = Provenance {
        fibstack_version: env!("CARGO_PKG_VERSION"),
        workflow_file: wf.file.clone(),
        workflow_text: wf.text.clone(),
        started_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .saturating_sub(t0.elapsed().as_secs()),
        threads: rayon::current_num_threads(),
        seed: wf.spec.seed,
        inputs,
        input_shape: shape,
        voxel_size_nm: voxel.map(|v| v.nm),
        voxel_size_source: voxel.map(|v| v.source),
        warnings,
        steps: records,
        outputs: {
            let mut o = ctx.written.clone();
            o.push("provenance.json".into());
            o
        },
        total_seconds: t0.elapsed().as_secs_f64(),
        execution: Some(plan),
    };
    let pj = serde_json::to_vec_pretty(&prov).map_err(|e| Error::json("provenance.json", e))?;
    io::atomic::write_bytes(&out_dir.join("provenance.json"), &pj)?;
    let mut prov = prov;
    if let Some(r) = &wf.spec.report {
        let files = crate::report::build::build_report(&out_dir, r.title.as_deref())?;
        prov.outputs.push(files.html);
        prov.outputs.push(files.json);
        prov.outputs.extend(files.figures);
        let pj = serde_json::to_vec_pretty(&prov).map_err(|e| Error::json("provenance.json", e))?;
        io::atomic::write_bytes(&out_dir.join("provenance.json"), &pj)?;
    }
    Ok(RunSummary {
        out_dir,
        results: std::mem::take(&mut ctx.results),
        provenance: prov,
    })
}

fn current(ctx: &Context) -> (Option<[usize; 3]>, Option<VoxelSize>) {
    if let Some(g) = &ctx.grey {
        (Some(g.shape()), Some(g.voxel))
    } else if let Some(l) = &ctx.labels {
        (Some(l.shape()), Some(l.voxel))
    } else {
        (None, None)
    }
}

/// Save the snapshot slice of the current grey volume (and of the labels as an overlay, when
/// labels exist) as PNG under `snapshots/`.
fn snapshot(ctx: &mut Context, sp: &super::schema::SnapshotSpec, stem: &str) -> Result<(), Error> {
    use crate::report::figures::{grey_to_rgb, label_colours, overlay, slice_u8, with_scale_bar};
    let mut rels: Vec<String> = Vec::new();
    let dir = ctx.out_dir.clone();
    // square physical pixels, at least 480 px wide, with a scale bar
    let save = |rel: &str, rgb: &[u8], w: usize, h: usize, v: &crate::volume::VoxelSize| {
        let cal = v.source[1] != crate::volume::VoxelSource::Default
            && v.source[2] != crate::volume::VoxelSource::Default;
        let (out, ow, oh) = with_scale_bar(rgb, w, h, cal.then_some([v.dy(), v.dx()]), 480);
        crate::io::png::write_rgb(&dir.join(rel), ow as u32, oh as u32, &out)
    };
    if let Some(g) = &ctx.grey {
        let nz = g.shape()[0];
        let z = sp.slice.unwrap_or(nz / 2).min(nz.saturating_sub(1));
        let img = slice_u8(g, z);
        let (h, w) = img.dim();
        let rel = format!("snapshots/{stem}.png");
        save(&rel, &grey_to_rgb(img.view()), w, h, &g.voxel)?;
        rels.push(rel);
        if let Some(l) = &ctx.labels {
            if l.shape() == g.shape() {
                let rgb = overlay(img.view(), l.data.index_axis(ndarray::Axis(0), z));
                let rel = format!("snapshots/{stem}_overlay.png");
                save(&rel, &rgb, w, h, &g.voxel)?;
                rels.push(rel);
            }
        }
    } else if let Some(l) = &ctx.labels {
        let nz = l.shape()[0];
        let z = sp.slice.unwrap_or(nz / 2).min(nz.saturating_sub(1));
        let rgb = label_colours(l.data.index_axis(ndarray::Axis(0), z));
        let rel = format!("snapshots/{stem}_labels.png");
        let (h, w) = (l.shape()[1], l.shape()[2]);
        save(&rel, &rgb, w, h, &l.voxel)?;
        rels.push(rel);
    }
    ctx.written.extend(rels.into_iter().map(PathBuf::from));
    Ok(())
}
