//! `fibstack connectivity LABELS`: components, percolation, Euler characteristic, pore graph.

use super::common::{print_json, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::metrics::connectivity::{components_report, connectivity_report_progress};
use fibstack::metrics::graph::write_contacts_csv;
use fibstack::workflow::steps::metrics::{write_csv_file, ConnectivityStep};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ConnectivityArgs {
    /// Label volume (TIFF, folder, .npy, raw …); values 0..=255.
    pub labels: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "connectivity"`.
    #[command(flatten)]
    pub step: ConnectivityStep,
    /// Build the pore-region graph and write nodes.csv, edges.csv and phase_contacts.csv here.
    #[arg(long, value_name = "DIR")]
    pub graph_dir: Option<PathBuf>,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Measure an uncalibrated volume in voxels (1 x 1 x 1) instead of refusing it.
    #[arg(long)]
    pub allow_uncalibrated: bool,
}

pub fn run(args: ConnectivityArgs, g: &super::Global) -> Result<()> {
    if args.step.components_only && args.graph_dir.is_some() {
        anyhow::bail!("--components-only cannot be combined with --graph-dir (the graph needs the full analysis); drop one of them");
    }
    let step = ConnectivityStep {
        graph: args.graph_dir.is_some(),
        ..args.step.clone()
    };
    let mut opts = step.options(0)?;
    let (l, phase) = args.input.read_metric_labels_for(
        &args.labels,
        g,
        args.allow_uncalibrated,
        &args.step.phase,
        &[],
    )?;
    opts.phase = phase;
    if opts.components_only {
        let r = components_report(l.view(), &l.voxel, &opts)
            .with_context(|| format!("{}", args.labels.display()))?;
        if !g.quiet {
            if let Some(n) = &r.note {
                eprintln!("note: {n}");
            }
        }
        if args.json {
            return print_json(&r);
        }
        print_components(
            r.phase,
            r.phase_voxels,
            r.phase_fraction,
            r.n_components,
            r.connectivity,
            r.largest_component_fraction,
            &r.axes,
        );
        return Ok(());
    }
    let (r, graph) =
        connectivity_report_progress(l.view(), &l.voxel, &opts, &super::common::Bar::new(g.quiet))
            .with_context(|| format!("{}", args.labels.display()))?;
    if let Some(dir) = &args.graph_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("--graph-dir {}", dir.display()))?;
        write_csv_file(&dir.join("phase_contacts.csv"), |w| {
            write_contacts_csv(&r.phase_contacts, &r.length_unit, w)
        })?;
        if let Some(gr) = &graph {
            write_csv_file(&dir.join("nodes.csv"), |w| gr.write_nodes_csv(w))?;
            write_csv_file(&dir.join("edges.csv"), |w| gr.write_edges_csv(w))?;
        }
    }
    if !g.quiet {
        if let Some(n) = &r.note {
            eprintln!("note: {n}");
        }
    }
    if args.json {
        return print_json(&r);
    }
    print_components(
        r.phase,
        r.phase_voxels,
        r.phase_fraction,
        r.n_components,
        r.connectivity,
        r.largest_component_fraction,
        &r.axes,
    );
    let e = &r.euler;
    println!(
        "Euler characteristic {} (26/6), delta chi {}, connectivity {}, density {:.6e} {}",
        e.euler_characteristic,
        e.delta_chi,
        e.connectivity,
        e.connectivity_density,
        e.connectivity_density_unit
    );
    for c in &r.phase_contacts {
        println!(
            "contact {}-{}: {} faces, area {:.6e} {}, specific {:.6e} {}",
            c.phase_a,
            c.phase_b,
            c.n_faces,
            c.area,
            c.area_unit,
            c.specific_area,
            c.specific_area_unit
        );
    }
    if let Some(s) = &r.graph {
        println!(
            "pore graph: {} regions, {} throats, mean coordination {:.3}",
            s.n_regions, s.n_throats, s.mean_coordination
        );
    }
    Ok(())
}

/// The components and percolation lines shared by the full and the `--components-only` output.
fn print_components(
    phase: u8,
    voxels: u64,
    fraction: f64,
    n: usize,
    connectivity: u32,
    largest: f64,
    axes: &[fibstack::metrics::connectivity::AxisPercolation],
) {
    println!(
        "phase {phase}: {voxels} voxels (fraction {fraction:.6}), {n} components ({connectivity}-connectivity), largest {largest:.4} of the phase"
    );
    for a in axes {
        println!(
            "axis {}: percolates {}  percolating {:.4}  dead-end {:.4}  isolated {:.4}  (of the phase)",
            a.axis.name(),
            a.percolates,
            a.percolating_fraction,
            a.dead_end_fraction,
            a.isolated_fraction
        );
    }
}
