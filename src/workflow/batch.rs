//! Batches: `[[samples]]` run the same chain (with per-sample inputs and overrides) into their own
//! sub-folders; one failing sample is reported and the others still finish. `[compare]` then
//! gathers chosen numbers from every sample's `results.json` into `comparison.csv`.

use super::provenance::{run_chain_into, Chain, Provenance, RunSummary};
use super::schema::{CompareSpec, Workflow};
use super::StepError;
use crate::error::Error;
use crate::progress::{Progress, Silent};
use crate::report::table::{Cell, Table};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Outcome of one sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleStatus {
    /// The sample's name.
    pub name: String,
    /// Its sub-folder of the output (file-name safe).
    pub folder: String,
    /// True when the sample's chain finished without error.
    pub ok: bool,
    /// The error message when it failed.
    pub error: Option<String>,
    /// Wall time of the sample (s).
    pub seconds: f64,
}

/// Run every sample; samples run in parallel (each sample's own kernels share the same pool).
pub fn run_batch(
    wf: &Workflow,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<RunSummary, Error> {
    run_batch_into(wf, out_dir, out_dir, progress)
}

/// [`run_batch`] writing into `out_dir`, which will be published as `final_dir`.
pub(crate) fn run_batch_into(
    wf: &Workflow,
    out_dir: &Path,
    final_dir: &Path,
    progress: &dyn Progress,
) -> Result<RunSummary, Error> {
    std::fs::create_dir_all(out_dir).map_err(|source| StepError::OutputFolder {
        path: out_dir.to_path_buf(),
        error: source,
    })?;
    let t0 = std::time::Instant::now();
    progress.start("samples", wf.samples.len() as u64);
    let outcomes: Vec<(SampleStatus, Option<RunSummary>)> = wf
        .samples
        .par_iter()
        .map(|s| {
            let ts = std::time::Instant::now();
            let chain = Chain {
                input: s.input.as_ref(),
                steps: &s.steps,
                names: &s.names,
                raw_steps: &s.raw_steps,
            };
            let r = run_chain_into(
                wf,
                &chain,
                &out_dir.join(&s.folder),
                &final_dir.join(&s.folder),
                &Silent,
            );
            if r.is_err() && out_dir != final_dir {
                // staged: a failed sample adds nothing (its previous results stay)
                let _ = std::fs::remove_dir_all(out_dir.join(&s.folder));
            }
            progress.inc(1);
            let status = SampleStatus {
                name: s.name.clone(),
                folder: s.folder.clone(),
                ok: r.is_ok(),
                error: r.as_ref().err().map(|e| e.to_string()),
                seconds: ts.elapsed().as_secs_f64(),
            };
            (status, r.ok())
        })
        .collect();
    progress.finish();
    let statuses: Vec<SampleStatus> = outcomes.iter().map(|o| o.0.clone()).collect();
    // a batch's results: each sample's results.json under the sample's name
    let mut results = super::Results::new();
    for (st, sum) in &outcomes {
        if let Some(sum) = sum {
            results.insert(
                st.name.clone(),
                super::StepResult::Other(serde_json::Value::Object(sum.results.to_json()?)),
            );
        }
    }
    let batch = serde_json::json!({ "samples": statuses });
    crate::io::atomic::write_bytes(
        &out_dir.join("batch.json"),
        &serde_json::to_vec_pretty(&batch).map_err(|e| Error::json("batch results", e))?,
    )?;
    let mut written = vec![PathBuf::from("batch.json")];
    if let Some(cmp) = &wf.spec.compare {
        written.extend(write_comparison(wf, cmp, out_dir, &outcomes)?);
    }
    let failed: Vec<&SampleStatus> = statuses.iter().filter(|s| !s.ok).collect();
    let prov = Provenance {
        fibstack_version: env!("CARGO_PKG_VERSION"),
        workflow_file: wf.file.clone(),
        workflow_text: wf.text.clone(),
        started_unix_s: 0,
        threads: rayon::current_num_threads(),
        seed: wf.spec.seed,
        inputs: vec![],
        input_shape: None,
        voxel_size_nm: None,
        voxel_size_source: None,
        warnings: failed
            .iter()
            .map(|s| {
                format!(
                    "sample {} failed: {}",
                    s.name,
                    s.error.clone().unwrap_or_default()
                )
            })
            .collect(),
        steps: vec![],
        outputs: written,
        total_seconds: t0.elapsed().as_secs_f64(),
        execution: None,
    };
    crate::io::atomic::write_bytes(
        &out_dir.join("provenance.json"),
        &serde_json::to_vec_pretty(&prov).map_err(|e| Error::json("provenance.json", e))?,
    )?;
    if failed.len() == statuses.len() {
        return Err(StepError::AllSamplesFailed {
            sample: failed[0].name.clone(),
            error: failed[0].error.clone().unwrap_or_default(),
        }
        .into());
    }
    Ok(RunSummary {
        out_dir: out_dir.to_path_buf(),
        results,
        provenance: prov,
    })
}

fn label_cell(v: &toml::Value) -> Cell {
    match v {
        toml::Value::Integer(i) => Cell::Int(*i),
        toml::Value::Float(f) => Cell::Num(*f),
        toml::Value::String(s) => Cell::Text(s.clone()),
        other => Cell::Text(other.to_string()),
    }
}

fn label_num(v: Option<&toml::Value>) -> Option<f64> {
    match v? {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn pointer_num(v: &serde_json::Value, p: &str) -> Option<f64> {
    v.pointer(p).and_then(|x| x.as_f64())
}

/// `comparison.csv` (+ plots of the columns marked `plot`).
fn write_comparison(
    wf: &Workflow,
    cmp: &CompareSpec,
    out_dir: &Path,
    outcomes: &[(SampleStatus, Option<RunSummary>)],
) -> Result<Vec<PathBuf>, Error> {
    // label columns: union of label keys in sample order
    let mut keys: Vec<String> = Vec::new();
    for s in &wf.samples {
        for k in s.labels.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let mut cols: Vec<(String, String)> = vec![
        ("sample".into(), String::new()),
        ("status".into(), String::new()),
    ];
    cols.extend(keys.iter().map(|k| (k.clone(), String::new())));
    for c in &cmp.columns {
        cols.push((c.name.clone(), c.unit.clone()));
        if c.low.is_some() {
            cols.push((format!("{}_low", c.name), c.unit.clone()));
        }
        if c.high.is_some() {
            cols.push((format!("{}_high", c.name), c.unit.clone()));
        }
        if c.reference.is_some() {
            cols.push((format!("{}_reference", c.name), c.unit.clone()));
        }
    }
    let mut t = Table {
        columns: cols,
        rows: vec![],
    };
    for (s, (st, sum)) in wf.samples.iter().zip(outcomes) {
        // the comparison columns are JSON pointers into each sample's results.json
        let res = sum
            .as_ref()
            .map(|r| r.results.to_json().map(serde_json::Value::Object))
            .transpose()?
            .unwrap_or(serde_json::Value::Null);
        let mut row = vec![
            Cell::Text(s.name.clone()),
            Cell::Text(if st.ok { "ok".into() } else { "failed".into() }),
        ];
        row.extend(
            keys.iter()
                .map(|k| s.labels.get(k).map(label_cell).unwrap_or(Cell::Empty)),
        );
        for c in &cmp.columns {
            row.push(pointer_num(&res, &c.from).into());
            if let Some(p) = &c.low {
                row.push(pointer_num(&res, p).into());
            }
            if let Some(p) = &c.high {
                row.push(pointer_num(&res, p).into());
            }
            if let Some(p) = &c.reference {
                row.push(pointer_num(&res, p).into());
            }
        }
        t.push(row);
    }
    t.write_csv(&out_dir.join("comparison.csv"))?;
    let mut written = vec![PathBuf::from("comparison.csv")];
    let mut page = crate::report::html::Html::new(&format!(
        "Batch comparison — {}",
        wf.spec
            .description
            .clone()
            .unwrap_or_else(|| wf.file.display().to_string())
    ));
    page.section("Comparison table")
        .push(crate::report::html::Block::Table(
            t.display_headers(),
            t.rows
                .iter()
                .map(|r| r.iter().map(Cell::display).collect())
                .collect(),
        ));
    if let Some(x) = &cmp.x {
        for c in cmp.columns.iter().filter(|c| c.plot) {
            let mut xs = vec![];
            let mut ys = vec![];
            let mut es = vec![];
            let (mut rx, mut ry) = (vec![], vec![]);
            let mut missing: Vec<(f64, String)> = vec![];
            for (s, (_, sum)) in wf.samples.iter().zip(outcomes) {
                let (Some(xv), Some(sum)) = (label_num(s.labels.get(x)), sum) else {
                    continue;
                };
                let res = serde_json::Value::Object(sum.results.to_json()?);
                if let Some(r) = c.reference.as_ref().and_then(|p| pointer_num(&res, p)) {
                    rx.push(xv);
                    ry.push(r);
                }
                let Some(y) = pointer_num(&res, &c.from).filter(|y| y.is_finite()) else {
                    missing.push((xv, s.name.clone()));
                    continue;
                };
                let lo = c.low.as_ref().and_then(|p| pointer_num(&res, p));
                let hi = c.high.as_ref().and_then(|p| pointer_num(&res, p));
                xs.push(xv);
                ys.push(y);
                es.push(match (lo, hi) {
                    (Some(l), Some(h)) => ((h - l) / 2.0).abs(),
                    _ => f64::NAN,
                });
            }
            let unit = if c.unit.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.unit)
            };
            let xunit = if cmp.x_unit.is_empty() {
                String::new()
            } else {
                format!(" ({})", cmp.x_unit)
            };
            let mut p = crate::report::plot::Plot::new(
                &format!("{} vs {x}", c.name),
                &format!("{x}{xunit}"),
                &format!("{}{unit}", c.name),
            );
            if ys.iter().all(|y| *y >= 0.0) {
                // a non-negative quantity: error bars do not reach below 0
                p.y_limits = Some((0.0, f64::INFINITY));
            }
            let mut ser = crate::report::plot::Series::points(&c.name, xs, ys)
                .with_style(crate::report::plot::Style::LinePoints);
            if es.iter().any(|e| e.is_finite()) {
                ser = ser.with_err(es);
            }
            p.series.push(ser);
            if !rx.is_empty() {
                let label = if c.reference_label.is_empty() {
                    "reference"
                } else {
                    &c.reference_label
                };
                p.series.push(
                    crate::report::plot::Series::points(label, rx, ry)
                        .with_style(crate::report::plot::Style::Points),
                );
            }
            if !missing.is_empty() {
                p.series.push(crate::report::plot::Series::missing(
                    "no value",
                    missing.iter().map(|m| m.0).collect(),
                ));
                let names: Vec<&str> = missing.iter().map(|m| m.1.as_str()).collect();
                p.notes.push(format!(
                    "No {} for {} (e.g. τ = ∞: the phase does not percolate; or the step failed — see batch.json).",
                    c.name,
                    names.join(", ")
                ));
            }
            let stem = format!("compare_{}", crate::workflow::schema::slug(&c.name));
            p.write_png(&out_dir.join(format!("{stem}.png")), 720, 480)?;
            p.write_svg(&out_dir.join(format!("{stem}.svg")), 720, 480)?;
            written.push(format!("{stem}.png").into());
            written.push(format!("{stem}.svg").into());
            if let Ok(b) = std::fs::read(out_dir.join(format!("{stem}.png"))) {
                page.section(&format!("{} vs {x}", c.name))
                    .push(crate::report::html::Block::Png(
                        b,
                        format!("{stem}.svg has the vector version"),
                    ));
            }
        }
    }
    if let Some(ptr) = &cmp.profile {
        let mut p = crate::report::plot::Plot::new(
            "Profiles of every sample",
            if cmp.profile_label.is_empty() {
                "position (nm)"
            } else {
                &cmp.profile_label
            },
            "volume fraction (1)",
        );
        for (s, (_, sum)) in wf.samples.iter().zip(outcomes) {
            let Some(sum) = sum else { continue };
            let res = serde_json::Value::Object(sum.results.to_json()?);
            let Some(pr) = res.pointer(ptr) else { continue };
            let f = |k: &str| -> Vec<f64> {
                pr[k]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
                    .unwrap_or_default()
            };
            p.series.push(crate::report::plot::Series::line(
                &s.name,
                f("position"),
                f("fraction"),
            ));
        }
        p.write_png(&out_dir.join("compare_profiles.png"), 760, 480)?;
        p.write_svg(&out_dir.join("compare_profiles.svg"), 760, 480)?;
        written.push("compare_profiles.png".into());
        written.push("compare_profiles.svg".into());
        if let Ok(b) = std::fs::read(out_dir.join("compare_profiles.png")) {
            page.section("Profiles overlaid")
                .push(crate::report::html::Block::Png(
                    b,
                    "one line per sample".into(),
                ));
        }
    }
    if let Some(v) = &cmp.views {
        let items: Vec<(Vec<u8>, String)> = wf
            .samples
            .iter()
            .filter_map(|s| {
                std::fs::read(out_dir.join(&s.folder).join(v))
                    .ok()
                    .map(|b| (b, s.name.clone()))
            })
            .collect();
        if !items.is_empty() {
            page.section("Samples side by side (orthogonal views: xy, xz below, yz right)")
                .push(crate::report::html::Block::Gallery(items));
        }
    }
    page.write(&out_dir.join("comparison.html"))?;
    written.push("comparison.html".into());
    Ok(written)
}
