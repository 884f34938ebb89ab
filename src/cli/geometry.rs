//! `fibstack geometry IN OUT`: 52° y-stretch and y–z shear correction.

use super::common::{print_json, Bar, InputOpts};
use anyhow::{Context as _, Result};
use clap::Args;
use fibstack::preprocess::align::Boundary;
use fibstack::preprocess::geometry::RowInterpolation;
use fibstack::workflow::steps::pre::{GeometryOutput, GeometryStep};
use fibstack::workflow::Context;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct GeometryArgs {
    /// Input stack: folder of slices, multi-page TIFF, .npy, .raw (with --raw), .vti.
    pub input: PathBuf,
    /// Output: .tif/.tiff, .npy, .vti, .raw, or a folder (no extension).
    pub output: PathBuf,
    #[command(flatten)]
    pub opts: InputOpts,
    /// Ion–electron column angle θ in degrees (52 Thermo/FEI, 54 Zeiss, 55 Tescan).
    #[arg(allow_negative_numbers = true, long, default_value_t = 52.0)]
    pub theta: f64,
    /// Slice thickness in nm (default: the volume's dz, or the file's slice thickness).
    #[arg(allow_negative_numbers = true, long, value_name = "NM")]
    pub slice_thickness: Option<f64>,
    /// Skip the 1/sin θ y-stretch (the SEM's tilt correction was on).
    #[arg(long)]
    pub no_stretch: bool,
    /// Skip the y–z shear (face tracking or the alignment already removed it).
    #[arg(long)]
    pub no_shear: bool,
    /// Shear to remove in raw px per slice (sign included), instead of t·cos θ/dy.
    #[arg(long, value_name = "PX", allow_hyphen_values = true)]
    pub shear_px: Option<f64>,
    /// Crop to rows every slice covers (default; `--crop` is the input crop).
    #[arg(long, conflicts_with = "pad")]
    pub crop_common: bool,
    /// Keep every row and fill uncovered pixels with --fill.
    #[arg(long)]
    pub pad: bool,
    /// Fill value with --pad.
    #[arg(allow_negative_numbers = true, long, default_value_t = 0.0)]
    pub fill: f32,
    /// Interpolation along y: `linear` (default) or `cubic` (Keys a = −½, sharper edges).
    #[arg(long, default_value = "linear", value_name = "linear|cubic")]
    pub interpolation: String,
    /// Print the report as JSON on stdout (only JSON).
    #[arg(long)]
    pub json: bool,
    /// Resample to a uniform slice pitch (the median of the per-slice z positions from Zeiss
    /// Atlas 3D names/labels) by linear interpolation along z, before the correction.
    #[arg(long)]
    pub resample_z: bool,
}

pub fn run(a: GeometryArgs, g: &super::Global) -> Result<()> {
    super::common::check_outputs(&[&a.input], &[&a.output], &[])?;
    let step = GeometryStep {
        theta_deg: a.theta,
        slice_thickness_nm: a.slice_thickness,
        stretch: !a.no_stretch,
        shear: !a.no_shear,
        shear_px_per_slice: a.shear_px,
        boundary: if a.pad { Boundary::Pad } else { Boundary::Crop },
        fill: a.fill,
        interpolation: RowInterpolation::parse(&a.interpolation)?,
        resample_z: a.resample_z,
    };
    let params = step.params()?;
    let bar = Bar::new(g.quiet);
    let stream = if a.resample_z {
        None // resampling mixes neighbouring slices: read whole
    } else {
        a.opts.open_stream(&a.input, g)?
    };
    let out = if let Some(mut r) = stream {
        // folder / TIFF: every output slice from its own input slice; bounded memory
        let source = step.thickness_source(&r.voxel(), r.meta());
        let tilt = r.meta().stage_tilt_deg;
        let (report, _) = fibstack::stream::geometry(&mut r, &a.output, &params, &bar)
            .with_context(|| format!("geometry correction of {}", a.input.display()))?;
        GeometryOutput::new(report, a.theta, tilt, source)
    } else {
        let vol = a.opts.read(&a.input, g)?;
        let mut ctx = Context::new(PathBuf::new(), 0, &bar);
        ctx.grey = Some(vol);
        let out = step
            .apply(&mut ctx)
            .with_context(|| format!("geometry correction of {}", a.input.display()))?;
        let vol = ctx.grey.take().context("corrected volume")?;
        fibstack::io::write_volume(&a.output, &vol)?;
        out
    };
    for w in &out.warnings {
        eprintln!("warning: {}: {w}", a.input.display());
    }
    if a.json {
        print_json(&out)?;
    } else {
        let r = &out.report;
        println!(
            "{} at θ = {}° ({}{})",
            r.method,
            r.theta_deg,
            out.theta_source,
            out.stage_tilt_deg
                .map(|t| format!("; stage tilt in the metadata {t:.2}°"))
                .unwrap_or_default()
        );
        if let Some(t) = r.slice_thickness_nm {
            println!(
                "slice thickness {t} nm ({}): shear {:.3} raw px/slice = {:.3} output px/slice",
                out.slice_thickness_source.as_deref().unwrap_or("?"),
                r.shear_raw_px_per_slice,
                r.shear_out_px_per_slice
            );
        }
        println!(
            "{:?} -> {:?}, voxel [dz, dy, dx] {:?} -> {:?} nm",
            r.input_shape, r.output_shape, r.voxel_size_nm_in, r.voxel_size_nm
        );
        if let Some(z) = &out.resample_z {
            println!(
                "resampled z: {} -> {} slices at a uniform {:.4} nm (input pitch {:.4}–{:.4} nm, CV {:.3})",
                z.slices_in, z.slices_out, z.pitch_nm, z.pitch_min_nm, z.pitch_max_nm, z.pitch_cv
            );
        }
        println!("wrote {}", a.output.display());
    }
    Ok(())
}
