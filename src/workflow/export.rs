//! `kind = "export"`: tidy CSV tables for modelling, built from the results of the steps before it
//! (units in every header, one row per observation, byte-identical for the same seed):
//!
//! | file | rows | from |
//! |---|---|---|
//! | `summary.csv` | one per quantity: `quantity, phase, phase_name, axis, value, unit, method` | every step |
//! | `tortuosity.csv` | one per axis and method: τ, interval, D_eff/D₀, MacMullin, ε | `tortuosity` |
//! | `sizes_local_thickness.csv` | one per bin: `bin_low_nm, bin_high_nm, volume_fraction, cumulative_fraction` | `sizes` |
//!
//! `porosity_profile.csv` (one row per slice, axis and phase: `axis, index, position_nm, label,
//! phase_name, voxels, fraction`), `particles.csv`, `network_nodes.csv`, `network_edges.csv` and
//! `alignment_shifts.csv` are written by the `porosity`, `sizes`, `connectivity` and `align` steps
//! themselves (schemas in the manual's user-workflows page).

use super::{Context, Data, Step};
use crate::error::{Error, ParamError};
use crate::report::table::{Cell, Table};
use serde::Deserialize;
use serde_json::Value;

/// `kind = "export"`; no keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {}

fn first<'a>(ctx: &'a Context, kind: &str) -> Option<&'a Value> {
    super::results::first_result(&ctx.results, kind)
}

fn opt(v: &Value) -> Cell {
    v.as_f64().map(Cell::Num).unwrap_or(Cell::Empty)
}

impl Step for Export {
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
    fn needs(&self) -> Data {
        Data::Nothing
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Value, Error> {
        let names = ctx.phase_names();
        let name_of = |ph: &Value| -> Cell {
            ph.as_u64()
                .and_then(|p| u8::try_from(p).ok())
                .and_then(|p| names.get(&p))
                .map(|n| Cell::Text(n.clone()))
                .unwrap_or(Cell::Empty)
        };
        let mut summary = Table::new(&[
            ("quantity", ""),
            ("phase", ""),
            ("phase_name", ""),
            ("axis", ""),
            ("value", ""),
            ("unit", ""),
            ("method", ""),
        ]);
        let mut files = Vec::new();
        let row = |q: &str, ph: &Value, ax: &str, v: &Value, unit: &str, m: &Value| -> Vec<Cell> {
            vec![
                q.into(),
                ph.as_u64()
                    .map(|p| Cell::Int(p as i64))
                    .unwrap_or(Cell::Empty),
                name_of(ph),
                ax.into(),
                opt(v),
                unit.into(),
                m.as_str().unwrap_or("").into(),
            ]
        };
        if let Some(p) = first(ctx, "porosity").cloned() {
            for ph in p
                .pointer("/phases/phases")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default()
            {
                summary.push(row(
                    "volume_fraction",
                    &ph["label"],
                    "",
                    &ph["fraction"],
                    "1",
                    &p["method"],
                ));
            }
        }
        if let Some(c) = first(ctx, "connectivity").cloned() {
            for a in c["axes"].as_array().cloned().unwrap_or_default() {
                let ax = a["axis"].as_str().unwrap_or("");
                summary.push(row(
                    "percolating_fraction",
                    &c["phase"],
                    ax,
                    &a["percolating_fraction"],
                    "1",
                    &c["method"],
                ));
                summary.push(row(
                    "dead_end_fraction",
                    &c["phase"],
                    ax,
                    &a["dead_end_fraction"],
                    "1",
                    &c["method"],
                ));
                summary.push(row(
                    "isolated_fraction",
                    &c["phase"],
                    ax,
                    &a["isolated_fraction"],
                    "1",
                    &c["method"],
                ));
            }
            if let Some(e) = c.get("euler").filter(|e| !e.is_null()) {
                summary.push(row(
                    "euler_characteristic",
                    &c["phase"],
                    "",
                    &e["euler_characteristic"],
                    "1",
                    &e["method"],
                ));
                summary.push(row(
                    "connectivity_density",
                    &c["phase"],
                    "",
                    &e["connectivity_density"],
                    e["connectivity_density_unit"].as_str().unwrap_or(""),
                    &e["method"],
                ));
            }
        }
        if let Some(t) = first(ctx, "tortuosity").cloned() {
            let mut tt = Table::new(&[
                ("axis", ""),
                ("method", ""),
                ("phase", ""),
                ("phase_name", ""),
                ("tortuosity_factor", "1"),
                ("ci_low", "1"),
                ("ci_high", "1"),
                ("deff_over_d0", "1"),
                ("macmullin", "1"),
                ("porosity_used", ""),
                ("porosity_total", "1"),
                ("porosity_percolating", "1"),
                ("percolating", ""),
                ("converged", ""),
            ]);
            for r in t["results"].as_array().cloned().unwrap_or_default() {
                let tau = if r["percolating"].as_bool() == Some(false) {
                    Cell::Num(f64::INFINITY)
                } else {
                    opt(&r["tortuosity_factor"])
                };
                tt.push(vec![
                    r["axis"].as_str().unwrap_or("").into(),
                    r["method"].as_str().unwrap_or("").into(),
                    opt(&r["phase"]),
                    name_of(&r["phase"]),
                    tau,
                    opt(&r["ci_low"]),
                    opt(&r["ci_high"]),
                    opt(&r["deff_over_d0"]),
                    opt(&r["macmullin"]),
                    r["porosity_used"].as_str().unwrap_or("").into(),
                    opt(&r["porosity_total"]),
                    opt(&r["porosity_percolating"]),
                    r["percolating"].to_string().into(),
                    r["converged"].to_string().into(),
                ]);
                summary.push(row(
                    &format!("tortuosity_factor_{}", r["method"].as_str().unwrap_or("")),
                    &r["phase"],
                    r["axis"].as_str().unwrap_or(""),
                    &r["tortuosity_factor"],
                    "1",
                    &r["method"],
                ));
            }
            tt.write_csv(&ctx.output("tortuosity.csv"))?;
            files.push("tortuosity.csv");
        }
        if let Some(s) = first(ctx, "sizes").cloned() {
            if let Some(lt) = s.get("local_thickness").filter(|v| !v.is_null()) {
                summary.push(row(
                    "local_thickness_mean",
                    &s["phase"],
                    "",
                    &lt["mean_nm"],
                    "nm",
                    &lt["method"],
                ));
                summary.push(row(
                    "local_thickness_median",
                    &s["phase"],
                    "",
                    &lt["median_nm"],
                    "nm",
                    &lt["method"],
                ));
                let d = &lt["distribution"];
                let edges = d["bin_edges_nm"].as_array().cloned().unwrap_or_default();
                let vf = d["volume_fraction"].as_array().cloned().unwrap_or_default();
                let cf = d["cumulative_fraction"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut t = Table::new(&[
                    ("bin_low", "nm"),
                    ("bin_high", "nm"),
                    ("volume_fraction", "1"),
                    ("cumulative_fraction", "1"),
                ]);
                for i in 0..vf.len().min(edges.len().saturating_sub(1)) {
                    t.push(vec![
                        opt(&edges[i]),
                        opt(&edges[i + 1]),
                        opt(&vf[i]),
                        cf.get(i).map(opt).unwrap_or(Cell::Empty),
                    ]);
                }
                t.write_csv(&ctx.output("sizes_local_thickness.csv"))?;
                files.push("sizes_local_thickness.csv");
            }
            if let Some(pa) = s.get("particles").filter(|v| !v.is_null()) {
                summary.push(row(
                    "particle_count",
                    &s["phase"],
                    "",
                    &pa["count"],
                    "1",
                    &pa["method"],
                ));
                summary.push(row(
                    "particle_esd_mean",
                    &s["phase"],
                    "",
                    &pa["esd_mean_nm"],
                    "nm",
                    &pa["method"],
                ));
            }
            if let Some(su) = s.get("surface").filter(|v| !v.is_null()) {
                summary.push(row(
                    "specific_surface_area",
                    &s["phase"],
                    "",
                    &su["ssa_crofton_per_m"],
                    "m^-1",
                    &su["method"],
                ));
                summary.push(row(
                    "specific_surface_area_face_counting",
                    &s["phase"],
                    "",
                    &su["ssa_faces_per_m"],
                    "m^-1",
                    &su["comparison_method"],
                ));
            }
        }
        summary.write_csv(&ctx.output("summary.csv"))?;
        files.push("summary.csv");
        Ok(serde_json::json!({ "files": files }))
    }
}
