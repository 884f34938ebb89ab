//! Workflow steps `kind = "porosity"` and `kind = "connectivity"`: the same library functions as
//! the CLI; CSV tables are written into the run's output folder, the JSON report is returned.

use crate::error::{Error, ParamError};
use crate::io::IoError;
use crate::metrics::components::Connectivity;
use crate::metrics::connectivity::{components_report, ConnectivityOptions};
use crate::metrics::graph::write_contacts_csv;
use crate::metrics::porosity::{write_profiles_csv, Axis, PorosityOptions};
use crate::volume::PhaseRef;
use crate::workflow::results::{
    ComponentsResult, ConnectivityResult, PorosityResult, ThresholdBand,
};
use crate::workflow::steps::filters::WorkflowOnlyKey;
use crate::workflow::{Context, Data, Step, StepResult};
use serde::Deserialize;
use std::path::Path;

/// Write a CSV file atomically with a writer function.
pub fn write_csv_file<F>(path: &Path, f: F) -> Result<(), IoError>
where
    F: FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), csv::Error>,
{
    crate::io::atomic::write_atomic(path, |w| {
        f(w).map_err(|e| IoError::Os {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

fn default_axis() -> String {
    "all".into()
}
fn default_rev_sizes() -> usize {
    10
}
fn default_conn() -> u32 {
    6
}

/// `prefix` of the porosity step (workflows only).
pub const POROSITY_PREFIX: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "prefix",
    default: "porosity",
    help: "File-name prefix of the tables written into the output folder: \
           `<prefix>_profile.csv` (every profile axis and phase, one tidy table), \
           `<prefix>_rev.csv`, `<prefix>_windows.csv`. Workflows only: the command line takes \
           `--profile-csv`, `--rev-csv` and `--windows-csv` paths.",
};

/// `kind = "porosity"`: phase fractions, profiles, deposit, windows, REV curve; the same keys
/// are the options of `fibstack porosity`.
//
// One definition of the keys, as for the filter steps.
#[derive(Debug, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct PorosityStep {
    /// Label value measured (0 = pore by convention), or a phase name (see `--phases`).
    #[serde(default)]
    #[arg(long, default_value_t = PhaseRef::default())]
    pub phase: PhaseRef,
    /// Profile axis: x, y, z or all (z = slice index, y = image row, x = image column).
    #[serde(default = "default_axis")]
    #[arg(long, default_value_t = default_axis())]
    pub axis: String,
    /// Windowed statistics over a grid of cubes of this edge (nm; voxels when uncalibrated).
    #[serde(default)]
    #[arg(
        long,
        visible_alias = "window",
        value_name = "NM",
        allow_negative_numbers = true
    )]
    pub window_nm: Option<f64>,
    /// Number of sub-cube edge lengths for the representative-volume curve (0 = off).
    #[serde(default = "default_rev_sizes")]
    #[arg(long, value_name = "N", default_value_t = default_rev_sizes())]
    pub rev_sizes: usize,
    /// Detect a deposit (e.g. Li on a current collector) along each profile axis.
    #[serde(default)]
    #[arg(long)]
    pub deposit: bool,
    /// Label of the current collector (implies deposit).
    #[serde(default)]
    #[arg(long, value_name = "N")]
    pub collector: Option<u8>,
    /// Solid-fraction threshold for the deposit (default: half the maximum; implies deposit).
    #[serde(default)]
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub deposit_threshold: Option<f64>,
    /// The collector is at the high-index end of the axis (implies deposit).
    #[serde(default)]
    #[arg(long)]
    pub rev: bool,
    /// [`POROSITY_PREFIX`] (workflows only).
    #[serde(default)]
    #[arg(skip)]
    pub prefix: Option<String>,
}

impl PorosityStep {
    /// The library options for the label value `phase` (validated).
    pub fn options(&self, phase: u8) -> Result<PorosityOptions, ParamError> {
        let o = PorosityOptions {
            phase,
            axes: Axis::parse_list(&self.axis)?,
            window_nm: self.window_nm,
            rev_sizes: self.rev_sizes,
            deposit: self.deposit,
            collector: self.collector,
            deposit_threshold: self.deposit_threshold,
            reverse: self.rev,
        };
        o.validate()?;
        Ok(o)
    }
}

fn check_prefix(p: &Option<String>) -> Result<(), ParamError> {
    if let Some(p) = p {
        if p.is_empty() || p.contains(['/', '\\']) || p.contains("..") {
            return Err(ParamError::new(
                "prefix",
                p,
                "give a plain file-name prefix such as \"pore\"",
            ));
        }
    }
    Ok(())
}

impl Step for PorosityStep {
    fn validate(&self) -> Result<(), ParamError> {
        check_prefix(&self.prefix)?;
        self.options(0).map(|_| ())
    }
    fn needs(&self) -> Data {
        Data::Labels
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let phase = ctx.resolve_phase("porosity", &self.phase)?;
        let opts = self.options(phase)?;
        let mut wanted = vec![("phase", phase)];
        wanted.extend(self.collector.map(|c| ("collector", c)));
        let (l, voxel) = ctx.metric_labels("porosity", &wanted)?;
        let r = crate::metrics::porosity::porosity_report_progress(
            l.view(),
            &voxel,
            &opts,
            ctx.progress,
        )?;
        let pre = self.prefix.clone().unwrap_or_else(|| "porosity".into());
        if !r.profile_tables.is_empty() {
            let path = ctx.output(&format!("{pre}_profile.csv"));
            let names = ctx.phase_names();
            write_csv_file(&path, |w| write_profiles_csv(&r.profile_tables, &names, w))?;
        }
        if let Some(c) = &r.rev_curve {
            let path = ctx.output(&format!("{pre}_rev.csv"));
            write_csv_file(&path, |w| c.write_csv(w))?;
        }
        if let Some(ws) = &r.windows {
            let path = ctx.output(&format!("{pre}_windows.csv"));
            write_csv_file(&path, |w| ws.write_csv(w))?;
        }
        let band = threshold_band(ctx, phase);
        Ok(Some(StepResult::Porosity(Box::new(PorosityResult {
            report: r,
            threshold_sensitivity: band,
            naming: ctx.naming(phase),
        }))))
    }
}

/// Porosity band from the segmentation's threshold sensitivity, recomputed on the current volume
/// (e.g. after a crop): the grey volume is re-thresholded with each threshold of the last
/// `segment` step moved by ±δ, and the fraction of the class written as `phase` is reported.
/// `None` when there is no segment step with `sensitivity`, no grey volume of the labels' shape,
/// or `phase` is not one of its labels.
fn threshold_band(ctx: &Context, phase: u8) -> Option<ThresholdBand> {
    let (_, seg) = ctx.results.of("segment").next_back()?;
    let seg = seg.segment()?;
    let grey = ctx.grey.as_ref()?;
    let labels = ctx.labels.as_ref()?;
    if grey.shape() != labels.shape() {
        return None;
    }
    let thresholds = &seg.result.thresholds;
    let delta = seg.result.sensitivity.as_ref()?.delta;
    let class = seg.result.labels.iter().position(|&l| l == phase)?;
    Some(threshold_band_of(
        grey,
        labels,
        thresholds,
        delta,
        class,
        phase,
        &seg.corrections,
    ))
}

/// The porosity band of label `phase` (class `class` of `thresholds`) on `grey` with each
/// threshold moved by ±`delta`; with `corrections` that ran, the band's width is placed around
/// the fraction of `phase` in `labels`.
pub fn threshold_band_of(
    grey: &crate::volume::GreyVolume,
    labels: &crate::volume::LabelVolume,
    thresholds: &[f64],
    delta: f64,
    class: usize,
    phase: u8,
    corrections: &crate::segment::corrected::CorrectionReports,
) -> ThresholdBand {
    let nominal = crate::segment::threshold::class_fractions(&grey.data, thresholds);
    let s = crate::segment::threshold::sensitivity(&grey.data, thresholds, delta, &nominal);
    let [low, high] = s.fraction_band[class];
    let corrected: Vec<&str> = [
        ("shine_through", corrections.shine_through.is_some()),
        ("rim_correction", corrections.rim_correction.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if !corrected.is_empty() {
        // the labels came from corrected thresholds (shine-through) or were corrected after the
        // thresholds (rims): the band's width is measured with the plain thresholds and placed
        // around the labels' own fraction
        let n = labels.data.len().max(1) as f64;
        let value = labels.data.iter().filter(|&&l| l == phase).count() as f64 / n;
        return ThresholdBand {
            phase,
            value,
            low: value - (nominal[class] - low),
            high: value + (high - nominal[class]),
            delta_grey: delta,
            unit: "1".into(),
            method: format!("width from re-thresholding this volume with each plain segmentation threshold moved by ±delta (grey values) in turn, placed around the fraction after the {} correction", corrected.join(" and ").replace('_', "-")),
        };
    }
    ThresholdBand {
        phase,
        value: nominal[class],
        low,
        high,
        delta_grey: delta,
        unit: "1".into(),
        method: "fraction of the phase's class in this volume with each segmentation threshold moved by ±delta (grey values) in turn".into(),
    }
}

/// `graph` of the connectivity step (workflows only).
pub const GRAPH: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "graph",
    default: "false",
    help:
        "Build the pore-region graph and write `[<prefix>_]nodes.csv` and `[<prefix>_]edges.csv` \
           into the output folder. Workflows only: the command line takes `--graph-dir DIR`.",
};

/// `prefix` of the connectivity step (workflows only).
pub const CONNECTIVITY_PREFIX: WorkflowOnlyKey = WorkflowOnlyKey {
    key: "prefix",
    default: "",
    help: "File-name prefix of `[<prefix>_]phase_contacts.csv` (and the graph's tables) in the \
           output folder; none by default. Workflows only.",
};

/// `kind = "connectivity"`: components, percolation, Euler characteristic, phase contacts and
/// (with `graph = true`) the pore-region graph; the same keys are the options of `fibstack
/// connectivity`.
//
// One definition of the keys, as for the filter steps.
#[derive(Debug, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ConnectivityStep {
    /// Label value analysed (0 = pore by convention), or a phase name (see `--phases`).
    #[serde(default)]
    #[arg(long, default_value_t = PhaseRef::default())]
    pub phase: PhaseRef,
    /// Voxel adjacency for components and percolation: 6, 18 or 26.
    #[serde(default = "default_conn")]
    #[arg(long, default_value_t = default_conn())]
    pub connectivity: u32,
    /// Percolation axis: x, y, z or all.
    #[serde(default = "default_axis")]
    #[arg(long, default_value_t = default_axis())]
    pub axis: String,
    /// [`GRAPH`] (workflows only).
    #[serde(default)]
    #[arg(skip)]
    pub graph: bool,
    /// Only the components and their percolation (no Euler characteristic, phase contacts or
    /// graph): the work of a plain labelling call such as cc3d's.
    #[serde(default)]
    #[arg(long)]
    pub components_only: bool,
    /// [`CONNECTIVITY_PREFIX`] (workflows only).
    #[serde(default)]
    #[arg(skip)]
    pub prefix: Option<String>,
}

impl ConnectivityStep {
    /// The library options for the label value `phase` (validated).
    pub fn options(&self, phase: u8) -> Result<ConnectivityOptions, ParamError> {
        Ok(ConnectivityOptions {
            phase,
            connectivity: Connectivity::from_n(self.connectivity)?,
            axes: Axis::parse_list(&self.axis)?,
            graph: self.graph,
            components_only: self.components_only,
        })
        .and_then(|o: ConnectivityOptions| {
            if o.components_only && o.graph {
                Err(ParamError::new(
                    "components_only",
                    "true with graph = true",
                    "the pore-region graph needs the full analysis; drop one of them",
                ))
            } else {
                Ok(o)
            }
        })
    }
}

impl Step for ConnectivityStep {
    fn validate(&self) -> Result<(), ParamError> {
        check_prefix(&self.prefix)?;
        self.options(0).map(|_| ())
    }
    fn needs(&self) -> Data {
        Data::Labels
    }
    fn produces(&self) -> Data {
        Data::Nothing
    }
    fn run(&self, ctx: &mut Context) -> Result<Option<StepResult>, Error> {
        let phase = ctx.resolve_phase("connectivity", &self.phase)?;
        let opts = self.options(phase)?;
        let (l, voxel) = ctx.metric_labels("connectivity", &[("phase", phase)])?;
        if opts.components_only {
            let r = components_report(l.view(), &voxel, &opts)?;
            return Ok(Some(StepResult::Components(Box::new(ComponentsResult {
                report: r,
                naming: ctx.naming(phase),
            }))));
        }
        let (r, g) = crate::metrics::connectivity::connectivity_report_progress(
            l.view(),
            &voxel,
            &opts,
            ctx.progress,
        )?;
        let name = |n: &str| match &self.prefix {
            Some(p) => format!("{p}_{n}"),
            None => n.to_string(),
        };
        let path = ctx.output(&name("phase_contacts.csv"));
        write_csv_file(&path, |w| {
            write_contacts_csv(&r.phase_contacts, &r.length_unit, w)
        })?;
        if let Some(g) = &g {
            let path = ctx.output(&name("nodes.csv"));
            write_csv_file(&path, |w| g.write_nodes_csv(w))?;
            let path = ctx.output(&name("edges.csv"));
            write_csv_file(&path, |w| g.write_edges_csv(w))?;
        }
        Ok(Some(StepResult::Connectivity(Box::new(
            ConnectivityResult {
                report: r,
                naming: ctx.naming(phase),
            },
        ))))
    }
}
