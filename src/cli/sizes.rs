//! `fibstack sizes LABELS`: local thickness, particles and specific surface area of one phase.

use super::common::{print_json, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::metrics::sizes::{sizes_of_progress, write_distribution_csv_in};
use fibstack::volume::GreyVolume;
use fibstack::workflow::steps::metrics::write_csv_file;
use fibstack::workflow::steps::sizes::Sizes;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct SizesArgs {
    /// Label volume (u8 labels): TIFF, folder of slices, .npy, .raw (with --raw), .vti.
    pub labels: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// The operation's options: the same keys as the workflow step `kind = "sizes"`.
    #[command(flatten)]
    pub step: Sizes,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Measure an uncalibrated volume in voxels (1 x 1 x 1) instead of refusing it.
    #[arg(long)]
    pub allow_uncalibrated: bool,
}

pub fn run(a: SizesArgs, g: &super::Global) -> Result<()> {
    let path = |o: &Option<String>| o.as_deref().map(PathBuf::from);
    let particles_csv = path(&a.step.particles_csv);
    let distribution_csv = path(&a.step.distribution_csv);
    let thickness_map = path(&a.step.thickness_map);
    let csvs: Vec<&Path> = [&particles_csv, &distribution_csv]
        .into_iter()
        .filter_map(|o| o.as_deref())
        .collect();
    let maps: Vec<&Path> = thickness_map.as_deref().into_iter().collect();
    super::common::check_outputs(&[&a.labels], &maps, &csvs)?;
    let opts = a.step.options()?;
    let (labels, phase) =
        a.input
            .read_metric_labels_for(&a.labels, g, a.allow_uncalibrated, &a.step.phase, &[])?;
    if !g.quiet {
        eprintln!(
            "measuring phase {} of {:?} voxels ({:?} nm)",
            phase,
            labels.shape(),
            labels.voxel.nm
        );
    }
    let out = sizes_of_progress(
        labels.view(),
        &labels.voxel,
        phase,
        &opts,
        &super::common::Bar::new(g.quiet),
    )
    .with_context(|| format!("sizes of {}", a.labels.display()))?;
    let unit = out.report.length_unit.clone();
    if let Some(p) = &particles_csv {
        write_csv_file(p, |w| {
            fibstack::metrics::particles::write_particles_csv_in(&out.particles, &unit, w)
        })?;
    }
    if let (Some(p), Some(lt)) = (&distribution_csv, &out.report.local_thickness) {
        write_csv_file(p, |w| write_distribution_csv_in(lt, &unit, w))?;
    }
    if let (Some(p), Some(map)) = (&thickness_map, &out.thickness_map) {
        let vol = GreyVolume::from_f32(map.clone(), labels.voxel);
        fibstack::io::write_volume(p, &vol)?;
    }
    let r = &out.report;
    if a.json {
        return print_json(r);
    }
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    println!(
        "phase {}: fraction {:.6}, voxel {:?} {}",
        r.phase,
        r.phase_fraction,
        r.voxel_size_nm,
        if r.voxel_size_calibrated {
            "nm"
        } else {
            "(uncalibrated: lengths in voxels)"
        }
    );
    let f = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into());
    if let Some(lt) = &r.local_thickness {
        println!(
            "local thickness ({unit}): mean {}  median {}  std {}  max {}",
            f(lt.mean_nm),
            f(lt.median_nm),
            f(lt.std_nm),
            f(lt.max_nm)
        );
    }
    if let Some(p) = &r.particles {
        println!(
            "particles: {} ({} not touching the border); ESD ({unit}) mean {} median {} min {} max {}; nearest-neighbour spacing ({unit}) mean {}",
            p.count,
            p.count_interior,
            f(p.esd_mean_nm),
            f(p.esd_median_nm),
            f(p.esd_min_nm),
            f(p.esd_max_nm),
            f(p.nn_distance_mean_nm)
        );
    }
    if let Some(s) = &r.surface {
        println!(
            "specific surface area (interface area / total volume): {:.6e} m^-1 ({}), {:.6e} m^-1 ({})",
            s.ssa_crofton_per_m, s.method, s.ssa_faces_per_m, s.comparison_method
        );
    }
    Ok(())
}
