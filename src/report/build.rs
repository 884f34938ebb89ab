//! The analysis report of a results folder: figures (PNG + SVG) in `figures/`, the key numbers in
//! `report.json`, and one self-contained `report.html` — all rebuilt from what a run saved
//! (`results.json`, `provenance.json`, CSVs, snapshots), never by recomputing.

use super::html::{Block, Html};
use super::plot::{Plot, Series, Style};
use crate::error::Error;
use crate::io::IoError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// What [`build_report`] wrote (paths relative to the folder).
#[derive(Debug, Clone, Default)]
pub struct ReportFiles {
    /// The HTML page (`report.html`).
    pub html: PathBuf,
    /// The key numbers (`report.json`).
    pub json: PathBuf,
    /// Every figure written (PNG and SVG), in `figures/`.
    pub figures: Vec<PathBuf>,
}

fn read_json(path: &Path) -> Result<Option<Value>, Error> {
    if !path.exists() {
        return Ok(None);
    }
    let b = std::fs::read(path).map_err(|e| IoError::Os {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_slice(&b)
        .map(Some)
        .map_err(|e| Error::json(format_args!("{}: not valid JSON", path.display()), e))
}

/// The first result whose step name is `kind` or `kind_N`.
fn step<'a>(results: &'a Value, kind: &str) -> Option<&'a Value> {
    crate::workflow::results::first_result(results.as_object()?, kind)
}

/// Phase names recorded by the steps (`"phase_names"` in their results), merged.
fn phase_names_of(results: &Value) -> crate::volume::PhaseNames {
    let mut out = crate::volume::PhaseNames::new();
    for v in results.as_object().into_iter().flat_map(|m| m.values()) {
        for (l, n) in v["phase_names"].as_object().into_iter().flatten() {
            if let (Ok(l), Some(n)) = (l.parse::<u8>(), n.as_str()) {
                out.insert(l, n.to_string());
            }
        }
    }
    out
}

/// `"pore (label 0)"` / `"label 0"` for a label value held in JSON.
fn title_of(names: &crate::volume::PhaseNames, label: &Value) -> String {
    match label.as_u64().and_then(|l| u8::try_from(l).ok()) {
        Some(l) => crate::volume::phase_title(names, l),
        None => format!("label {label}"),
    }
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => {
            if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
                format!("{x:.3e}")
            } else {
                format!("{x:.digits$}")
            }
        }
        Some(x) if x.is_infinite() => "∞".into(),
        _ => "–".into(),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
        .unwrap_or_default()
}

struct Figures<'a> {
    dir: &'a Path,
    written: Vec<PathBuf>,
}

impl Figures<'_> {
    /// Write a plot as PNG and SVG into figures/, return the PNG bytes for embedding.
    fn save(&mut self, name: &str, p: &Plot) -> Result<Vec<u8>, Error> {
        let fig = self.dir.join("figures");
        std::fs::create_dir_all(&fig).map_err(|e| IoError::Os {
            path: fig.clone(),
            source: e,
        })?;
        let png = fig.join(format!("{name}.png"));
        p.write_png(&png, 760, 460)?;
        p.write_svg(&fig.join(format!("{name}.svg")), 760, 460)?;
        self.written.push(format!("figures/{name}.png").into());
        self.written.push(format!("figures/{name}.svg").into());
        std::fs::read(&png).map_err(|e| {
            Error::Io(IoError::Os {
                path: png,
                source: e,
            })
        })
    }
}

fn png_files(dir: &Path, filter: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "png"))
                .filter_map(|p| {
                    let n = p.file_stem()?.to_string_lossy().into_owned();
                    if !filter(&n) {
                        return None;
                    }
                    std::fs::read(&p).ok().map(|b| (n, b))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn read_csv_columns(path: &Path) -> Option<(Vec<String>, Vec<Vec<f64>>)> {
    let mut r = csv::Reader::from_path(path).ok()?;
    let headers: Vec<String> = r.headers().ok()?.iter().map(str::to_string).collect();
    let mut cols = vec![Vec::new(); headers.len()];
    for rec in r.records().flatten() {
        for (i, c) in rec.iter().enumerate().take(headers.len()) {
            cols[i].push(c.parse::<f64>().unwrap_or(f64::NAN));
        }
    }
    Some((headers, cols))
}

/// Build `report.html`, `report.json` and `figures/` for the results in `dir`.
pub fn build_report(dir: &Path, title: Option<&str>) -> Result<ReportFiles, Error> {
    let results = read_json(&dir.join("results.json"))?.ok_or_else(|| Error::NoResults {
        dir: dir.to_path_buf(),
    })?;
    let prov = read_json(&dir.join("provenance.json"))?.unwrap_or(Value::Null);
    let names = phase_names_of(&results);
    let mut figs = Figures {
        dir,
        written: Vec::new(),
    };
    let mut summary = serde_json::Map::new();
    let title = title
        .map(str::to_string)
        .or_else(|| {
            prov.pointer("/workflow_file")
                .and_then(|v| v.as_str())
                .map(|w| format!("fibstack report — {w}"))
        })
        .unwrap_or_else(|| "fibstack report".into());
    let mut page = Html::new(&title);
    let mut run_warnings: Vec<String> = Vec::new();

    // ---- inputs and provenance
    let voxel = prov
        .pointer("/voxel_size_nm")
        .map(floats)
        .unwrap_or_default();
    let sources: Vec<String> = prov
        .pointer("/voxel_size_source")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default();
    {
        let sec = page.section("Inputs, voxel size and provenance");
        sec.push(Block::Paragraph(format!(
            "fibstack {} · workflow {} · seed {} · {} threads · {} s in all",
            prov.pointer("/fibstack_version")
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            prov.pointer("/workflow_file")
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            prov.pointer("/seed")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            prov.pointer("/threads")
                .map(|v| v.to_string())
                .unwrap_or_default(),
            num(prov.pointer("/total_seconds").and_then(f), 2),
        )));
        if voxel.len() == 3 {
            sec.push(Block::Paragraph(format!(
                "Voxel size (dz × dy × dx): {} × {} × {} nm (sources: {}). Shape (z, y, x): {}.",
                num(Some(voxel[0]), 3),
                num(Some(voxel[1]), 3),
                num(Some(voxel[2]), 3),
                sources.join(", "),
                prov.pointer("/input_shape")
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            )));
            summary.insert("voxel_size_nm".into(), json!(voxel));
        }
        let inputs = prov
            .pointer("/inputs")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if !inputs.is_empty() {
            let rows: Vec<Vec<String>> = inputs
                .iter()
                .take(12)
                .map(|i| {
                    vec![
                        i["path"].as_str().unwrap_or("").to_string(),
                        i["bytes"].to_string(),
                        i["sha256"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(16)
                            .collect::<String>()
                            + "…",
                    ]
                })
                .collect();
            sec.push(Block::Table(
                vec!["input file".into(), "bytes".into(), "SHA-256".into()],
                rows,
            ));
            if inputs.len() > 12 {
                sec.push(Block::Paragraph(format!(
                    "… and {} more input files (see provenance.json).",
                    inputs.len() - 12
                )));
            }
        }
        let steps = prov
            .pointer("/steps")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if !steps.is_empty() {
            let rows = steps
                .iter()
                .map(|s| {
                    let mut p = s["parameters"].clone();
                    if let Some(o) = p.as_object_mut() {
                        o.remove("kind");
                    }
                    vec![
                        s["name"].as_str().unwrap_or("").to_string(),
                        num(s["seconds"].as_f64(), 2),
                        params_text(&p),
                    ]
                })
                .collect();
            sec.push(Block::Table(
                vec!["step".into(), "time (s)".into(), "parameters".into()],
                rows,
            ));
        }
        let warnings = prov
            .pointer("/warnings")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        run_warnings.extend(
            warnings
                .iter()
                .filter_map(|w| w.as_str().map(str::to_string)),
        );
    }

    // ---- processing steps on one slice
    let snaps = dir.join("snapshots");
    let grey = png_files(&snaps, |n| {
        !n.ends_with("_overlay") && !n.ends_with("_labels")
    });
    if !grey.is_empty() {
        page.section("Processing steps (one slice after each step)")
            .push(Block::Gallery(
                grey.into_iter().map(|(n, b)| (b, n)).collect(),
            ));
    }
    let overlays = png_files(&snaps, |n| {
        n.ends_with("_overlay") || n.ends_with("_labels")
    });
    let seg = step(&results, "segment");
    if !overlays.is_empty() || seg.is_some() {
        let sec = page.section("Segmentation");
        if let Some(s) = seg {
            sec.push(Block::Paragraph(format!(
                "Method: {} · thresholds: {} ({})",
                s.get("method").and_then(|m| m.as_str()).unwrap_or("?"),
                floats(s.get("thresholds").unwrap_or(&Value::Null))
                    .iter()
                    .map(|t| num(Some(*t), 2))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.get("threshold_unit")
                    .and_then(|m| m.as_str())
                    .unwrap_or("grey value"),
            )));
            if let Some(sens) = s.get("sensitivity").filter(|v| !v.is_null()) {
                sec.push(Block::Paragraph(format!(
                    "Threshold sensitivity: every threshold moved by ± {} grey levels, one at a time; the phase fractions that result.",
                    num(sens["delta"].as_f64(), 2)
                )));
                sec.push(sensitivity_table(sens, s.get("labels"), &names));
            }
        }
        if !overlays.is_empty() {
            sec.push(Block::Gallery(
                overlays
                    .into_iter()
                    .map(|(n, b)| {
                        (
                            b,
                            format!("{n}: labels over the grey slice, boundaries in yellow"),
                        )
                    })
                    .collect(),
            ));
        }
    }
    if let Ok(b) = std::fs::read(dir.join("alignment_drift.png")) {
        page.section("Drift alignment").push(Block::Png(
            b,
            "cumulative drift per slice (px) — alignment_shifts.csv has the numbers".into(),
        ));
    }

    // ---- phase fractions and porosity profiles
    if let Some(p) = step(&results, "porosity") {
        let phases = p
            .pointer("/phases/phases")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let rows: Vec<Vec<String>> = phases
            .iter()
            .map(|ph| {
                vec![
                    title_of(&names, &ph["label"]),
                    num(ph["fraction"].as_f64(), 4),
                    ph["count"].to_string(),
                    num(ph["volume_um3"].as_f64(), 4),
                ]
            })
            .collect();
        summary.insert(
            "phase_fractions".into(),
            Value::Array(
                phases
                    .iter()
                    .map(
                        |ph| json!({"label": ph["label"], "fraction": ph["fraction"], "unit": "1"}),
                    )
                    .collect(),
            ),
        );
        let sec = page.section("Phase fractions");
        sec.push(Block::Table(
            vec![
                "phase".into(),
                "volume fraction (1)".into(),
                "voxels".into(),
                "volume (µm³)".into(),
            ],
            rows,
        ));
        sec.push(Block::Paragraph(format!(
            "Method: {}. Phase measured for porosity: {}.",
            p["method"].as_str().unwrap_or(""),
            title_of(&names, &p["phase"])
        )));
        let profiles = p
            .get("profiles")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if !profiles.is_empty() {
            let unit = p["length_unit"].as_str().unwrap_or("nm");
            let mut plot = Plot::new(
                &format!(
                    "Fraction of {} along each axis",
                    title_of(&names, &p["phase"])
                ),
                &format!("position ({unit})"),
                "volume fraction (1)",
            );
            plot.y_limits = Some((0.0, 1.0));
            for pr in &profiles {
                plot.series.push(Series::line(
                    &format!("along {}", pr["axis"].as_str().unwrap_or("?")),
                    floats(&pr["position"]),
                    floats(&pr["fraction"]),
                ));
            }
            let b = figs.save("porosity_profiles", &plot)?;
            page.section("Porosity profiles").push(Block::Png(
                b,
                "phase fraction per slice along z, y and x (figures/porosity_profiles.svg)".into(),
            ));
        }
        if let Some(rev) = p.get("rev_curve").filter(|v| !v.is_null()) {
            let pts = rev["points"].as_array().cloned().unwrap_or_default();
            let xs: Vec<f64> = pts.iter().filter_map(|q| q["edge"].as_f64()).collect();
            let ys: Vec<f64> = pts
                .iter()
                .map(|q| q.pointer("/stats/mean").and_then(f).unwrap_or(f64::NAN))
                .collect();
            let es: Vec<f64> = pts
                .iter()
                .map(|q| q.pointer("/stats/std").and_then(f).unwrap_or(f64::NAN))
                .collect();
            if !xs.is_empty() {
                let unit = rev["length_unit"].as_str().unwrap_or("nm");
                let mut plot = Plot::new(
                    "Representative volume: fraction vs sub-cube edge",
                    &format!("sub-cube edge ({unit})"),
                    "volume fraction (1), ± 1 s.d.",
                );
                plot.y_limits = Some((0.0, 1.0));
                plot.series.push(
                    Series::points("sub-cubes", xs, ys)
                        .with_err(es)
                        .with_style(Style::LinePoints),
                );
                let b = figs.save("rev_curve", &plot)?;
                page.section("Representative volume").push(Block::Png(b, "mean and spread of the fraction over sub-cubes; the spread should shrink well below the differences you want to resolve".into()));
            }
        }
    }

    // ---- tortuosity
    if let Some(t) = step(&results, "tortuosity") {
        let res = t
            .get("results")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let mut rows = Vec::new();
        let mut tsum = Vec::new();
        for r in &res {
            let eps = r["porosity_total"].as_f64();
            let brug = eps.filter(|e| *e > 0.0).map(|e| e.powf(-0.5));
            let tau = r["tortuosity_factor"].as_f64();
            rows.push(vec![
                r["axis"].as_str().unwrap_or("").to_string(),
                r["method"].as_str().unwrap_or("").to_string(),
                if r["percolating"].as_bool() == Some(false) {
                    "∞ (not percolating)".into()
                } else {
                    num(tau, 4)
                },
                match (r["ci_low"].as_f64(), r["ci_high"].as_f64()) {
                    (Some(a), Some(b)) => format!("[{}, {}]", num(Some(a), 4), num(Some(b), 4)),
                    _ => "–".into(),
                },
                num(r["deff_over_d0"].as_f64(), 4),
                num(r["macmullin"].as_f64(), 3),
                format!(
                    "{} ({})",
                    num(
                        r[r["porosity_used"]
                            .as_str()
                            .map(|u| if u == "total" {
                                "porosity_total"
                            } else {
                                "porosity_percolating"
                            })
                            .unwrap_or("porosity_total")]
                        .as_f64(),
                        4
                    ),
                    r["porosity_used"].as_str().unwrap_or("")
                ),
                num(brug, 4),
                r["converged"].to_string(),
            ]);
            tsum.push(json!({"axis": r["axis"], "method": r["method"], "tortuosity_factor": r["tortuosity_factor"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "deff_over_d0": r["deff_over_d0"], "macmullin": r["macmullin"], "bruggeman_tau": brug}));
        }
        summary.insert("tortuosity".into(), Value::Array(tsum));
        let sec = page.section("Tortuosity");
        sec.push(Block::Paragraph("Tortuosity factor τ = ε·D₀/D_eff (not squared), D_eff/D₀ = ε/τ, MacMullin N_M = τ/ε. Bruggeman: τ_B = ε^−0.5, an approximation only (random-walk intervals are 95 %).".into()));
        sec.push(Block::Table(
            [
                "axis",
                "method",
                "τ (1)",
                "95 % interval",
                "D_eff/D₀ (1)",
                "MacMullin (1)",
                "ε used (1)",
                "Bruggeman τ_B (1)",
                "converged",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rows,
        ));
        // τ per axis (a categorical axis), both methods side by side, vs Bruggeman; axes where
        // the phase does not percolate are shown as such, not left out
        let mut plot = Plot::new(
            "Tortuosity factor per axis",
            "transport axis",
            "tortuosity factor τ (1)",
        );
        plot.x_categories = Some(vec!["z".into(), "y".into(), "x".into()]);
        plot.y_limits = Some((0.0, f64::INFINITY));
        let mut missing = Vec::new();
        for (k, method) in ["steady_state_fd", "random_walk"].iter().enumerate() {
            let sel: Vec<&Value> = res
                .iter()
                .filter(|r| r["method"].as_str() == Some(method))
                .collect();
            if sel.is_empty() {
                continue;
            }
            let pos = |r: &Value| r["axis_index"].as_f64().unwrap_or(0.0) - 0.08 + 0.16 * k as f64;
            let finite: Vec<&&Value> = sel
                .iter()
                .filter(|r| r["tortuosity_factor"].as_f64().is_some_and(f64::is_finite))
                .collect();
            for r in sel
                .iter()
                .filter(|r| !r["tortuosity_factor"].as_f64().is_some_and(f64::is_finite))
            {
                missing.push((pos(r), r["axis"].as_str().unwrap_or("?").to_string()));
            }
            let xs: Vec<f64> = finite.iter().map(|r| pos(r)).collect();
            let ys: Vec<f64> = finite
                .iter()
                .map(|r| r["tortuosity_factor"].as_f64().unwrap_or(f64::NAN))
                .collect();
            let es: Vec<f64> = finite
                .iter()
                .map(|r| match (r["ci_low"].as_f64(), r["ci_high"].as_f64()) {
                    (Some(a), Some(b)) => (b - a) / 2.0,
                    _ => f64::NAN,
                })
                .collect();
            let name = if *method == "random_walk" {
                "random walk (95 % interval)"
            } else {
                "steady-state diffusion"
            };
            let mut s = Series::points(name, xs, ys);
            if es.iter().any(|e| e.is_finite()) {
                s = s.with_err(es);
            }
            plot.series.push(s);
        }
        if let Some(eps) = res
            .first()
            .and_then(|r| r["porosity_total"].as_f64())
            .filter(|e| *e > 0.0)
        {
            plot.series.push(Series::line(
                &format!("Bruggeman ε^−0.5 (ε = {eps:.3})"),
                vec![-0.5, 2.5],
                vec![eps.powf(-0.5); 2],
            ));
        }
        if !missing.is_empty() {
            let mut axes: Vec<String> = missing.iter().map(|m| m.1.clone()).collect();
            axes.dedup();
            plot.series.push(Series::missing(
                "does not percolate (τ = ∞)",
                missing.iter().map(|m| m.0).collect(),
            ));
            plot.notes.push(format!(
                "Along {}: the phase does not connect the two faces, so τ = ∞ and D_eff = 0.",
                axes.join(", ")
            ));
        }
        let b = figs.save("tortuosity_axes", &plot)?;
        sec.push(Block::Png(
            b,
            "τ per axis by method, with the Bruggeman estimate for the same ε".into(),
        ));
        // MSD convergence from the random-walk CSV, if saved
        let msd = std::fs::read_dir(dir).ok().and_then(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
                p.file_name().is_some_and(|n| {
                    n.to_string_lossy().contains("msd") && n.to_string_lossy().ends_with(".csv")
                })
            })
        });
        if let Some((h, cols)) = msd.as_deref().and_then(read_csv_columns) {
            if h.len() >= 5 {
                // rebuild the curve from its CSV: steps, msd z/y/x, free-space msd = steps · c
                let last = cols[0].len().saturating_sub(1);
                let c = match (cols[0].get(last), cols[4].get(last)) {
                    (Some(&t), Some(&f)) if t > 0.0 => f / t,
                    _ => f64::NAN,
                };
                let curve = crate::metrics::tortuosity::random_walk::MsdCurve {
                    steps: cols[0].iter().map(|&t| t.max(0.0) as u64).collect(),
                    msd_nm2: [cols[1].clone(), cols[2].clone(), cols[3].clone()],
                    free_nm2_per_step: c,
                };
                let plot = super::figures::msd_plot(&curve);
                let b = figs.save("msd_convergence", &plot)?;
                sec.push(Block::Png(b, "the curves flatten when the walk has converged (τ is fitted on the second half of the walk)".into()));
            }
        }
    }

    // ---- sizes
    if let Some(s) = step(&results, "sizes") {
        let sec_rows = {
            let mut rows = Vec::new();
            if let Some(lt) = s.get("local_thickness").filter(|v| !v.is_null()) {
                rows.push(vec![
                    "local thickness, mean".into(),
                    num(lt["mean_nm"].as_f64(), 1),
                    "nm".into(),
                    lt["method"].as_str().unwrap_or("").into(),
                ]);
                rows.push(vec![
                    "local thickness, median".into(),
                    num(lt["median_nm"].as_f64(), 1),
                    "nm".into(),
                    String::new(),
                ]);
                summary.insert("local_thickness_mean_nm".into(), lt["mean_nm"].clone());
            }
            if let Some(pa) = s.get("particles").filter(|v| !v.is_null()) {
                rows.push(vec![
                    "particles".into(),
                    pa["count"].to_string(),
                    "1".into(),
                    pa["method"].as_str().unwrap_or("").into(),
                ]);
                rows.push(vec![
                    "equivalent spherical diameter, mean".into(),
                    num(pa["esd_mean_nm"].as_f64(), 1),
                    "nm".into(),
                    String::new(),
                ]);
                rows.push(vec![
                    "nearest-neighbour spacing, mean".into(),
                    num(pa["nn_distance_mean_nm"].as_f64(), 1),
                    "nm".into(),
                    "k-d tree on centroids".into(),
                ]);
                summary.insert(
                    "particles".into(),
                    json!({"count": pa["count"], "esd_mean_nm": pa["esd_mean_nm"]}),
                );
            }
            if let Some(su) = s.get("surface").filter(|v| !v.is_null()) {
                rows.push(vec![
                    "specific surface area".into(),
                    num(su["ssa_crofton_per_m"].as_f64(), 0),
                    "m⁻¹ (per total volume)".into(),
                    su["method"].as_str().unwrap_or("").into(),
                ]);
                rows.push(vec![
                    "specific surface area (face counting)".into(),
                    num(su["ssa_faces_per_m"].as_f64(), 0),
                    "m⁻¹".into(),
                    "face counting (overestimates)".into(),
                ]);
                summary.insert("ssa_per_m".into(), su["ssa_crofton_per_m"].clone());
            }
            rows
        };
        let sec = page.section(&format!("Sizes of {}", title_of(&names, &s["phase"])));
        sec.push(Block::Table(
            vec![
                "quantity".into(),
                "value".into(),
                "unit".into(),
                "method".into(),
            ],
            sec_rows,
        ));
        if let Some(d) = s
            .pointer("/local_thickness/distribution")
            .filter(|v| !v.is_null())
        {
            let edges = floats(&d["bin_edges_nm"]);
            let vf = floats(&d["volume_fraction"]);
            if edges.len() == vf.len() + 1 && !vf.is_empty() {
                let mut plot = Plot::new(
                    "Local thickness distribution (volume-weighted)",
                    "local thickness (nm)",
                    "volume fraction per bin (1)",
                );
                plot.y_limits = Some((0.0, 1.0));
                let mut x = edges[..vf.len()].to_vec();
                let mut y = vf.clone();
                x.push(edges[vf.len()]);
                y.push(*vf.last().unwrap_or(&0.0));
                plot.series
                    .push(Series::steps(&title_of(&names, &s["phase"]), x, y));
                let b = figs.save("local_thickness", &plot)?;
                sec.push(Block::Png(
                    b,
                    "continuous size distribution (Hildebrand & Rüegsegger)".into(),
                ));
            }
        }
    }

    // ---- connectivity
    if let Some(c) = step(&results, "connectivity") {
        let axes = c["axes"].as_array().cloned().unwrap_or_default();
        let rows = axes
            .iter()
            .map(|a| {
                vec![
                    a["axis"].as_str().unwrap_or("").to_string(),
                    a["percolates"].to_string(),
                    num(a["percolating_fraction"].as_f64(), 4),
                    num(a["dead_end_fraction"].as_f64(), 4),
                    num(a["isolated_fraction"].as_f64(), 4),
                ]
            })
            .collect();
        summary.insert("connectivity".into(), json!({"axes": axes, "n_components": c["n_components"], "euler_characteristic": c.pointer("/euler/euler_characteristic"), "connectivity_density": c.pointer("/euler/connectivity_density"), "connectivity_density_unit": c.pointer("/euler/connectivity_density_unit")}));
        let sec = page.section(&format!(
            "Connectivity of {}",
            title_of(&names, &c["phase"])
        ));
        sec.push(Block::Paragraph(format!(
            "{} components ({}-connectivity); largest holds {} of the phase. Euler characteristic χ = {}; connectivity density {} {}.",
            c["n_components"],
            c["connectivity"],
            num(c["largest_component_fraction"].as_f64(), 4),
            c.pointer("/euler/euler_characteristic").map(|v| v.to_string()).unwrap_or_default(),
            num(c.pointer("/euler/connectivity_density").and_then(f), 3),
            c.pointer("/euler/connectivity_density_unit").and_then(|v| v.as_str()).unwrap_or("")
        )));
        sec.push(Block::Table(
            [
                "axis",
                "percolates",
                "percolating (fraction of phase)",
                "dead-end",
                "isolated",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rows,
        ));
    }

    // the headline first, inputs and provenance last
    if !page.sections.is_empty() && page.sections[0].heading.starts_with("Inputs") {
        let prov_sec = page.sections.remove(0);
        page.sections.push(prov_sec);
    }
    collect_warnings(&results, "", &mut run_warnings);
    run_warnings.dedup();
    let head = glance(&results, &voxel, &sources);
    page.sections.insert(
        0,
        super::html::Section {
            heading: "Results at a glance".into(),
            blocks: vec![Block::Warnings(run_warnings.clone()), Block::Cards(head)],
        },
    );
    if !run_warnings.is_empty() {
        summary.insert("warnings".into(), json!(run_warnings));
    }
    let json_path = dir.join("report.json");
    crate::io::atomic::write_bytes(
        &json_path,
        &serde_json::to_vec_pretty(&Value::Object(summary))
            .map_err(|e| Error::json("report.json", e))?,
    )?;
    let html_path = dir.join("report.html");
    page.write(&html_path)?;
    Ok(ReportFiles {
        html: "report.html".into(),
        json: "report.json".into(),
        figures: figs.written,
    })
}

/// A step's parameters as `key = value` text that wraps in a table cell.
fn params_text(p: &Value) -> String {
    match p.as_object() {
        Some(o) if !o.is_empty() => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(t) => format!("{k} = {t}"),
                other => format!("{k} = {other}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => "defaults".into(),
    }
}

/// The sensitivity band of a segmentation as a table: one row per moved threshold and direction.
fn sensitivity_table(
    sens: &Value,
    labels: Option<&Value>,
    names: &crate::volume::PhaseNames,
) -> Block {
    let labels: Vec<String> = labels
        .and_then(|l| l.as_array())
        .map(|a| a.iter().map(|v| title_of(names, v)).collect())
        .unwrap_or_default();
    let per = sens["per_threshold"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let n = per
        .first()
        .and_then(|p| p["fractions_minus"].as_array())
        .map_or(0, Vec::len);
    let mut head = vec!["threshold moved".to_string(), "to (grey value)".to_string()];
    head.extend((0..n).map(|i| {
        format!(
            "{} fraction (1)",
            labels.get(i).cloned().unwrap_or(format!("class {i}"))
        )
    }));
    let mut rows = Vec::new();
    for p in &per {
        for (sign, t, fr) in [
            ("−", "threshold_minus", "fractions_minus"),
            ("+", "threshold_plus", "fractions_plus"),
        ] {
            let mut r = vec![
                format!("#{} {sign}", p["threshold_index"].as_u64().unwrap_or(0) + 1),
                num(p[t].as_f64(), 2),
            ];
            r.extend(floats(&p[fr]).iter().map(|v| num(Some(*v), 4)));
            rows.push(r);
        }
    }
    Block::Table(head, rows)
}

/// Every `warnings` array in the results, prefixed with the step it came from.
pub fn collect_warnings(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "warnings" {
                    for w in x.as_array().into_iter().flatten() {
                        if let Some(t) = w.as_str() {
                            out.push(if at.is_empty() {
                                t.to_string()
                            } else {
                                format!("{at}: {t}")
                            });
                        }
                    }
                } else {
                    collect_warnings(x, if at.is_empty() { k } else { at }, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_warnings(x, at, out)),
        _ => {}
    }
}

/// The headline numbers of a run, read from its `results.json` (and the voxel size of its
/// provenance): voxel size, phase fractions, τ per axis, percolating fractions, sizes. Each entry
/// is (what, value with unit, detail). The report's first panel and the table `fibstack run`
/// prints at the end are both this list.
pub fn glance(
    results: &Value,
    voxel_nm: &[f64],
    sources: &[String],
) -> Vec<(String, String, String)> {
    let names = phase_names_of(results);
    let mut c = Vec::new();
    if voxel_nm.len() == 3 {
        c.push((
            "voxel size dz × dy × dx".into(),
            format!(
                "{} × {} × {} nm",
                num(Some(voxel_nm[0]), 2),
                num(Some(voxel_nm[1]), 2),
                num(Some(voxel_nm[2]), 2)
            ),
            if sources.is_empty() {
                String::new()
            } else {
                format!("from: {}", sources.join(", "))
            },
        ));
    }
    if let Some(p) = step(results, "porosity") {
        for ph in p
            .pointer("/phases/phases")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            c.push((
                format!("volume fraction, {}", title_of(&names, &ph["label"])),
                num(ph["fraction"].as_f64(), 4),
                "voxel counting".into(),
            ));
        }
    }
    if let Some(t) = step(results, "tortuosity") {
        for r in t["results"].as_array().into_iter().flatten() {
            let method = match r["method"].as_str() {
                Some("random_walk") => "random walk",
                Some("steady_state_fd") => "steady state",
                Some(m) => m,
                None => "",
            };
            let tau = r["tortuosity_factor"].as_f64().filter(|v| v.is_finite());
            let detail = match (r["ci_low"].as_f64(), r["ci_high"].as_f64()) {
                (Some(a), Some(b)) => format!(
                    "{method}; 95 % interval [{}, {}]",
                    num(Some(a), 3),
                    num(Some(b), 3)
                ),
                _ => method.to_string(),
            };
            c.push((
                format!(
                    "tortuosity factor τ along {}",
                    r["axis"].as_str().unwrap_or("?")
                ),
                tau.map_or("∞ (does not percolate)".into(), |v| num(Some(v), 3)),
                detail,
            ));
        }
    }
    if let Some(conn) = step(results, "connectivity") {
        for a in conn["axes"].as_array().into_iter().flatten() {
            c.push((
                format!(
                    "percolating fraction along {}",
                    a["axis"].as_str().unwrap_or("?")
                ),
                num(a["percolating_fraction"].as_f64(), 4),
                format!(
                    "of {}, connected to both faces",
                    title_of(&names, &conn["phase"])
                ),
            ));
        }
    }
    if let Some(sz) = step(results, "sizes") {
        if let Some(v) = sz
            .pointer("/local_thickness/mean_nm")
            .and_then(|v| v.as_f64())
        {
            c.push((
                format!(
                    "local thickness of {}, mean",
                    title_of(&names, &sz["phase"])
                ),
                format!("{} nm", num(Some(v), 1)),
                "volume-weighted".into(),
            ));
        }
        if let Some(v) = sz
            .pointer("/surface/ssa_crofton_per_m")
            .and_then(|v| v.as_f64())
        {
            c.push((
                format!(
                    "specific surface area of {}",
                    title_of(&names, &sz["phase"])
                ),
                format!("{} µm⁻¹", num(Some(v * 1e-6), 3)),
                "per total volume (Crofton)".into(),
            ));
        }
    }
    c
}
