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

use super::{Context, Data, Step, StepResult};
use crate::error::{Error, ParamError};
use crate::report::table::{Cell, Table};
use serde::Deserialize;

/// `kind = "export"`; no keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {}

/// A number as a table cell: empty where JSON has none (NaN, ±∞ are `null` in `results.json`,
/// and the tables show what the results hold).
fn num(v: f64) -> Cell {
    if v.is_finite() {
        Cell::Num(v)
    } else {
        Cell::Empty
    }
}

fn opt(v: Option<f64>) -> Cell {
    v.map(num).unwrap_or(Cell::Empty)
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
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let names = ctx.phase_names();
        // the tables are written into the context while its results are read
        let results = ctx.results.clone();
        let name_of = |ph: u8| -> Cell {
            names
                .get(&ph)
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
        let row = |q: &str, ph: u8, ax: &str, v: Cell, unit: &str, m: &str| -> Vec<Cell> {
            vec![
                q.into(),
                Cell::Int(ph as i64),
                name_of(ph),
                ax.into(),
                v,
                unit.into(),
                m.into(),
            ]
        };
        if let Some(p) = results.first("porosity").and_then(|r| r.porosity()) {
            for ph in &p.report.phases.phases {
                summary.push(row(
                    "volume_fraction",
                    ph.label,
                    "",
                    num(ph.fraction),
                    "1",
                    &p.report.method,
                ));
            }
        }
        // a full analysis, or only the components (`components_only`)
        let conn = match results.first("connectivity") {
            Some(StepResult::Connectivity(c)) => Some((
                c.report.phase,
                &c.report.method,
                &c.report.axes,
                Some(&c.report.euler),
            )),
            Some(StepResult::Components(c)) => {
                Some((c.report.phase, &c.report.method, &c.report.axes, None))
            }
            _ => None,
        };
        if let Some((phase, method, axes, euler)) = conn {
            for a in axes {
                let ax = a.axis.name();
                for (q, v) in [
                    ("percolating_fraction", a.percolating_fraction),
                    ("dead_end_fraction", a.dead_end_fraction),
                    ("isolated_fraction", a.isolated_fraction),
                ] {
                    summary.push(row(q, phase, ax, num(v), "1", method));
                }
            }
            if let Some(e) = euler {
                summary.push(row(
                    "euler_characteristic",
                    phase,
                    "",
                    Cell::Num(e.euler_characteristic as f64),
                    "1",
                    &e.method,
                ));
                summary.push(row(
                    "connectivity_density",
                    phase,
                    "",
                    num(e.connectivity_density),
                    &e.connectivity_density_unit,
                    &e.method,
                ));
            }
        }
        if let Some(t) = results.first("tortuosity").and_then(|r| r.tortuosity()) {
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
            for r in &t.results {
                let tau = if !r.percolating {
                    Cell::Num(f64::INFINITY)
                } else {
                    opt(r.tortuosity_factor)
                };
                tt.push(vec![
                    r.axis.as_str().into(),
                    r.method.as_str().into(),
                    Cell::Num(r.phase as f64),
                    name_of(r.phase),
                    tau,
                    opt(r.ci_low),
                    opt(r.ci_high),
                    num(r.deff_over_d0),
                    opt(r.macmullin),
                    r.porosity_used.as_str().into(),
                    num(r.porosity_total),
                    num(r.porosity_percolating),
                    r.percolating.to_string().into(),
                    r.converged.to_string().into(),
                ]);
                summary.push(row(
                    &format!("tortuosity_factor_{}", r.method),
                    r.phase,
                    &r.axis,
                    opt(r.tortuosity_factor),
                    "1",
                    &r.method,
                ));
            }
            tt.write_csv(&ctx.output("tortuosity.csv"))?;
            files.push("tortuosity.csv");
        }
        if let Some(s) = results.first("sizes").and_then(|r| r.sizes()) {
            let s = &s.report;
            if let Some(lt) = &s.local_thickness {
                summary.push(row(
                    "local_thickness_mean",
                    s.phase,
                    "",
                    opt(lt.mean_nm),
                    "nm",
                    &lt.method,
                ));
                summary.push(row(
                    "local_thickness_median",
                    s.phase,
                    "",
                    opt(lt.median_nm),
                    "nm",
                    &lt.method,
                ));
                let d = &lt.distribution;
                let (edges, vf, cf) = (&d.bin_edges_nm, &d.volume_fraction, &d.cumulative_fraction);
                let mut t = Table::new(&[
                    ("bin_low", "nm"),
                    ("bin_high", "nm"),
                    ("volume_fraction", "1"),
                    ("cumulative_fraction", "1"),
                ]);
                for i in 0..vf.len().min(edges.len().saturating_sub(1)) {
                    t.push(vec![
                        num(edges[i]),
                        num(edges[i + 1]),
                        num(vf[i]),
                        cf.get(i).map(|&c| num(c)).unwrap_or(Cell::Empty),
                    ]);
                }
                t.write_csv(&ctx.output("sizes_local_thickness.csv"))?;
                files.push("sizes_local_thickness.csv");
            }
            if let Some(pa) = &s.particles {
                summary.push(row(
                    "particle_count",
                    s.phase,
                    "",
                    Cell::Num(pa.count as f64),
                    "1",
                    &pa.method,
                ));
                summary.push(row(
                    "particle_esd_mean",
                    s.phase,
                    "",
                    opt(pa.esd_mean_nm),
                    "nm",
                    &pa.method,
                ));
            }
            if let Some(su) = &s.surface {
                summary.push(row(
                    "specific_surface_area",
                    s.phase,
                    "",
                    num(su.ssa_crofton_per_m),
                    "m^-1",
                    &su.method,
                ));
                summary.push(row(
                    "specific_surface_area_face_counting",
                    s.phase,
                    "",
                    num(su.ssa_faces_per_m),
                    "m^-1",
                    &su.comparison_method,
                ));
            }
        }
        summary.write_csv(&ctx.output("summary.csv"))?;
        files.push("summary.csv");
        Ok(Some(StepResult::Other(
            serde_json::json!({ "files": files }),
        )))
    }
}
