//! `fibstack sizes LABELS`: local thickness, particles and specific surface area of one phase.

use super::common::{print_json, InputOpts};
use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use fibstack::io::IoError;
use fibstack::metrics::local_thickness::ThicknessMode;
use fibstack::metrics::particles::{Connectivity, ParticleOptions};
use fibstack::metrics::sizes::{sizes, write_distribution_csv_in, SizesOptions, What};
use fibstack::volume::GreyVolume;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WhatArg {
    LocalThickness,
    Particles,
    Surface,
    All,
}

#[derive(Debug, Args)]
pub struct SizesArgs {
    /// Label volume (u8 labels): TIFF, folder of slices, .npy, .raw (with --raw), .vti.
    pub labels: PathBuf,
    #[command(flatten)]
    pub input: InputOpts,
    /// Label value of the phase to measure, or a phase name (see --phases).
    #[arg(long, default_value = "0")]
    pub phase: fibstack::volume::PhaseRef,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = WhatArg::All)]
    pub what: WhatArg,
    /// Split touching particles by distance-transform watershed.
    #[arg(long)]
    pub split: bool,
    /// Watershed markers: EDT maxima at least this far apart (nm; default 3 voxels).
    #[arg(allow_negative_numbers = true, long, value_name = "NM")]
    pub min_separation: Option<f64>,
    /// Particle connectivity: 6 or 26.
    #[arg(long, default_value_t = 26)]
    pub connectivity: u32,
    /// Bins of the local-thickness distribution.
    #[arg(long, default_value_t = 50)]
    pub bins: usize,
    /// Fast approximate local thickness: the exact method on the phase coarsened 2x2x2, 4-8x
    /// faster; diameters within 2 voxels of the exact ones for about 89 % of the voxels (mean
    /// difference about 1 voxel); features only a few voxels across read low (see the manual's
    /// validation chapter).
    #[arg(long)]
    pub fast_thickness: bool,
    /// Write the per-particle table (CSV).
    #[arg(long, value_name = "PATH")]
    pub particles_csv: Option<PathBuf>,
    /// Write the local-thickness distribution (CSV).
    #[arg(long, value_name = "PATH")]
    pub distribution_csv: Option<PathBuf>,
    /// Write the local-thickness map (f32, diameter in nm) as a volume (.tif, .npy, .vti …).
    #[arg(long, value_name = "OUT")]
    pub thickness_map: Option<PathBuf>,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Measure an uncalibrated volume in voxels (1 x 1 x 1) instead of refusing it.
    #[arg(long)]
    pub allow_uncalibrated: bool,
}

fn csv_err(path: &Path, e: csv::Error) -> IoError {
    IoError::Os {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

pub fn run(a: SizesArgs, g: &super::Global) -> Result<()> {
    let csvs: Vec<&std::path::Path> = [&a.particles_csv, &a.distribution_csv]
        .into_iter()
        .filter_map(|o| o.as_deref())
        .collect();
    let maps: Vec<&std::path::Path> = a.thickness_map.as_deref().into_iter().collect();
    super::common::check_outputs(&[&a.labels], &maps, &csvs)?;
    let what = match a.what {
        WhatArg::LocalThickness => What::LocalThickness,
        WhatArg::Particles => What::Particles,
        WhatArg::Surface => What::Surface,
        WhatArg::All => What::All,
    };
    let opts = SizesOptions {
        what,
        bins: a.bins,
        thickness_mode: if a.fast_thickness {
            ThicknessMode::Fast
        } else {
            ThicknessMode::Exact
        },
        particles: ParticleOptions {
            connectivity: Connectivity::from_number(a.connectivity)?,
            split: a.split,
            min_separation_nm: a.min_separation,
        },
    };
    opts.validate()?;
    let needs_lt = matches!(what, What::LocalThickness | What::All);
    let needs_p = matches!(what, What::Particles | What::All);
    if !needs_lt && (a.thickness_map.is_some() || a.distribution_csv.is_some()) {
        anyhow::bail!("--thickness-map/--distribution-csv need --what local-thickness or all");
    }
    if !needs_p && a.particles_csv.is_some() {
        anyhow::bail!("--particles-csv needs --what particles or all");
    }
    let (labels, phase) =
        a.input
            .read_metric_labels_for(&a.labels, g, a.allow_uncalibrated, &a.phase, &[])?;
    if !g.quiet {
        eprintln!(
            "measuring phase {} of {:?} voxels ({:?} nm)",
            phase,
            labels.shape(),
            labels.voxel.nm
        );
    }
    let out =
        sizes(&labels, phase, &opts).with_context(|| format!("sizes of {}", a.labels.display()))?;
    let unit = out.report.length_unit.clone();
    if let Some(p) = &a.particles_csv {
        fibstack::io::atomic::write_atomic(p, |w| {
            fibstack::metrics::particles::write_particles_csv_in(&out.particles, &unit, w)
                .map_err(|e| csv_err(p, e))
        })?;
    }
    if let (Some(p), Some(lt)) = (&a.distribution_csv, &out.report.local_thickness) {
        fibstack::io::atomic::write_atomic(p, |w| {
            write_distribution_csv_in(lt, &unit, w).map_err(|e| csv_err(p, e))
        })?;
    }
    if let (Some(p), Some(map)) = (&a.thickness_map, &out.thickness_map) {
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
