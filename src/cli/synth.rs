//! `fibstack synth OUT_DIR --preset NAME`: synthetic FIB-SEM stacks with exact ground truth.

use super::common::parse_voxel;
use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use fibstack::io::tiff::Compression;
use fibstack::synth::output::{write_output, WriteOptions};
use fibstack::synth::presets::{Preset, PRESSURE_SERIES_KPA};
use fibstack::synth::{self, SynthOutput, SynthSpec};
use fibstack::volume::{VoxelSize, VoxelSource};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Comp {
    None,
    Lzw,
    Deflate,
    Packbits,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output folder (slices/, truth/, truth.json, preview.png).
    pub out_dir: PathBuf,
    /// Structure: electrode, li-deposit, pressure-series, box, channels, staircase, spheres,
    /// sphere-lattice, inclined-plane. Not needed with --labels.
    #[arg(long, required_unless_present_any = ["labels", "params"])]
    pub preset: Option<String>,
    /// Use this label volume (TIFF, folder, npy …) as the ground truth instead of a preset.
    #[arg(long, value_name = "TRUTH.tif", conflicts_with = "preset")]
    pub labels: Option<PathBuf>,
    /// Full parameter set as TOML (same keys as the workflow `synth` step); flags override it.
    #[arg(long, value_name = "FILE.toml")]
    pub params: Option<PathBuf>,
    /// Truth volume shape Z,Y,X (default 64,96,96; staircase: N,N,N).
    #[arg(long, value_name = "Z,Y,X")]
    pub shape: Option<String>,
    /// Truth voxel size DZ,DY,DX in nm (default 20,20,20; with --labels: the file's).
    #[arg(long, value_name = "DZ,DY,DX")]
    pub voxel: Option<String>,
    /// Random seed; the same seed gives the same bytes.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write only the structure (truth/labels.tif, truth.json), no grey rendering.
    #[arg(long)]
    pub structure_only: bool,

    // --- structure parameters ---
    /// li-deposit: packing in [0,1] (0 porous whiskers … 1 dense columnar grains).
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub packing: Option<f64>,
    /// li-deposit: stack pressure in kPa (sets packing and thickness).
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub pressure_kpa: Option<f64>,
    /// pressure-series: pressures in kPa (default 0,70,140,210,350).
    #[arg(long, value_name = "P1,P2,..", help_heading = "Structure")]
    pub pressures: Option<String>,
    /// li-deposit: nominal deposit thickness (nm).
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub thickness_nm: Option<f64>,
    /// li-deposit: mean spacing of grain/whisker nuclei (nm).
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub grain_spacing_nm: Option<f64>,
    /// electrode: target active-material volume fraction.
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub active_fraction: Option<f64>,
    /// electrode: median particle radius (nm).
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub median_radius_nm: Option<f64>,
    /// electrode: σ of ln(radius).
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub radius_sigma: Option<f64>,
    /// electrode: ellipsoid aspect ratio (1 = spheres).
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub aspect: Option<f64>,
    /// electrode: carbon-binder volume fraction (0 = none).
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub binder_fraction: Option<f64>,
    /// channels: axis z, y or x.
    #[arg(long, help_heading = "Structure")]
    pub channel_axis: Option<String>,
    /// channels: width and pitch in voxels, W,P.
    #[arg(long, value_name = "W,P", help_heading = "Structure")]
    pub channel_size: Option<String>,
    /// staircase: box size N.
    #[arg(long, help_heading = "Structure")]
    pub staircase_n: Option<usize>,
    /// spheres: radii in nm, R1,R2,…
    #[arg(long, value_name = "R1,R2,..", help_heading = "Structure")]
    pub radii_nm: Option<String>,
    /// sphere-lattice: radius and lattice constant in nm, R,A.
    #[arg(long, value_name = "R,A", help_heading = "Structure")]
    pub lattice_nm: Option<String>,
    /// inclined-plane: angle in degrees.
    #[arg(allow_negative_numbers = true, long, help_heading = "Structure")]
    pub plane_angle_deg: Option<f64>,
    /// inclined-plane: the plane rises along z or x.
    #[arg(long, help_heading = "Structure")]
    pub plane_axis: Option<String>,

    // --- acquisition ---
    /// Turn every acquisition effect off (tilt, drift, curtains, shine-through, shading, noise);
    /// --levels, --bit-depth, --tilt-deg and --fiducial still apply. For finer control use --params.
    #[arg(long, help_heading = "Acquisition")]
    pub clean: bool,
    /// Grey levels (0..1) per label, L0,L1,…
    #[arg(long, value_name = "L0,L1,..", help_heading = "Acquisition")]
    pub levels: Option<String>,
    /// Output bit depth 8 or 16.
    #[arg(long, help_heading = "Acquisition")]
    pub bit_depth: Option<u8>,
    /// Ion/electron column angle (degrees, default 52).
    #[arg(allow_negative_numbers = true, long, help_heading = "Acquisition")]
    pub tilt_deg: Option<f64>,
    /// Face-on imaging: no foreshortening and no face shift.
    #[arg(long, help_heading = "Acquisition")]
    pub no_tilt: bool,
    /// Keep the 52° face shift but do not foreshorten rows.
    #[arg(long, help_heading = "Acquisition")]
    pub no_foreshorten: bool,
    /// Keep foreshortening but no per-slice face shift (face tracking on).
    #[arg(long, help_heading = "Acquisition")]
    pub no_face_shift: bool,
    #[arg(long, help_heading = "Acquisition")]
    pub no_drift: bool,
    /// Drift random-walk step σ (px).
    #[arg(allow_negative_numbers = true, long, help_heading = "Acquisition")]
    pub drift_step_px: Option<f64>,
    /// Drift jump probability per slice and jump σ (px): P,S.
    #[arg(long, value_name = "P,S", help_heading = "Acquisition")]
    pub drift_jumps: Option<String>,
    #[arg(long, help_heading = "Acquisition")]
    pub no_curtain: bool,
    /// Curtain RMS amplitude (normalised intensity).
    #[arg(allow_negative_numbers = true, long, help_heading = "Acquisition")]
    pub curtain_amplitude: Option<f64>,
    /// Curtain angle from vertical (degrees).
    #[arg(allow_negative_numbers = true, long, help_heading = "Acquisition")]
    pub curtain_angle_deg: Option<f64>,
    /// Second curtain family (rocking polish) at this angle (degrees).
    #[arg(allow_negative_numbers = true, long, help_heading = "Acquisition")]
    pub curtain_second_angle_deg: Option<f64>,
    /// Curtain model: `physical` (default: grooves in the material only, multiplicative,
    /// seeded below hard features) or `additive` (stripes added everywhere, pores included).
    #[arg(long, value_name = "physical|additive", help_heading = "Acquisition")]
    pub curtain_model: Option<String>,
    #[arg(long, help_heading = "Acquisition")]
    pub no_shine: bool,
    /// Shine-through physics: exponential (default: decaying contrast of the slices straight
    /// behind) or geometric (line of sight at the tilt angle, first surface seen, electron-range
    /// depth kernel).
    #[arg(long, value_enum, help_heading = "Acquisition")]
    pub shine_model: Option<fibstack::synth::acquisition::ShineModel>,
    #[arg(long, help_heading = "Acquisition")]
    pub no_shading: bool,
    #[arg(long, help_heading = "Acquisition")]
    pub no_noise: bool,
    /// Gaussian noise σ (normalised intensity).
    #[arg(allow_negative_numbers = true, long, help_heading = "Acquisition")]
    pub noise_sigma: Option<f64>,
    /// Poisson counts at full scale (0 = no Poisson noise).
    #[arg(allow_negative_numbers = true, long, help_heading = "Acquisition")]
    pub counts: Option<f64>,
    /// Protective cap with tracking marks (lines milled along z) above the sample, moving only
    /// with face shift and drift; truth.json gives the rectangle for `align --roi`.
    #[arg(long, help_heading = "Acquisition")]
    pub fiducial: bool,
    /// Cap thickness in nm (implies --fiducial; default: 1/8 of the depth, or thick enough to
    /// keep 12 rows of cap in view in every slice).
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "NM",
        help_heading = "Acquisition"
    )]
    pub fiducial_cap_nm: Option<f64>,

    // --- output ---
    /// TIFF compression.
    #[arg(long, value_enum, default_value_t = Comp::None, help_heading = "Output")]
    pub compression: Comp,
    /// Do not write PNG previews.
    #[arg(long, help_heading = "Output")]
    pub no_previews: bool,
}

fn floats(flag: &str, s: &str) -> Result<Vec<f64>> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .with_context(|| format!("{flag} {s:?}: {p:?} is not a number"))
        })
        .collect()
}

fn axis_of(flag: &str, s: &str) -> Result<usize> {
    match s.trim().to_ascii_lowercase().as_str() {
        "z" | "0" => Ok(0),
        "y" | "1" => Ok(1),
        "x" | "2" => Ok(2),
        _ => bail!("{flag} {s:?}: use z, y or x"),
    }
}

/// Build the spec from the TOML file (if any) and the flags.
pub fn spec_from_args(a: &SynthArgs) -> Result<SynthSpec> {
    let mut s: SynthSpec = match &a.params {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{}: not a valid synth parameter file", p.display()))?
        }
        None => SynthSpec::default(),
    };
    if let Some(p) = &a.preset {
        if p != "pressure-series" {
            s.preset = p.parse::<Preset>()?;
        } else {
            s.preset = Preset::LiDeposit;
        }
    }
    if let Some(v) = &a.shape {
        let v: Vec<usize> = v
            .split(',')
            .map(|p| p.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .with_context(|| {
                format!("--shape {v:?}: give Z,Y,X as whole numbers, e.g. 64,96,96")
            })?;
        if v.len() != 3 {
            bail!("--shape: give three numbers Z,Y,X");
        }
        s.shape = Some([v[0], v[1], v[2]]);
    }
    if let Some(v) = &a.voxel {
        let v = parse_voxel(v)?;
        let d = s.voxel_nm.unwrap_or(synth::DEFAULT_VOXEL_NM);
        s.voxel_nm = Some([0, 1, 2].map(|i| v[i].unwrap_or(d[i])));
    }
    if let Some(v) = a.seed {
        s.seed = v;
    }
    if a.structure_only {
        s.render = false;
    }
    let li = &mut s.li_deposit;
    if let Some(v) = a.packing {
        li.packing = v;
    }
    if let Some(v) = a.thickness_nm {
        li.thickness_nm = Some(v);
    }
    if let Some(v) = a.grain_spacing_nm {
        li.grain_spacing_nm = v;
    }
    if let Some(v) = a.pressure_kpa {
        s.pressure_kpa = Some(v);
    }
    let e = &mut s.electrode;
    if let Some(v) = a.active_fraction {
        e.active_fraction = v;
    }
    if let Some(v) = a.median_radius_nm {
        e.median_radius_nm = v;
    }
    if let Some(v) = a.radius_sigma {
        e.radius_log_sigma = v;
    }
    if let Some(v) = a.aspect {
        e.aspect = v;
    }
    if let Some(v) = a.binder_fraction {
        e.binder_fraction = v;
    }
    let an = &mut s.analytic;
    if let Some(v) = &a.channel_axis {
        an.channel_axis = axis_of("--channel-axis", v)?;
    }
    if let Some(v) = &a.channel_size {
        let f = floats("--channel-size", v)?;
        if f.len() != 2 || f.iter().any(|x| *x < 0.0 || x.fract() != 0.0) {
            bail!("--channel-size {v:?}: give W,P in whole voxels, e.g. 4,12");
        }
        an.channel_width = f[0] as usize;
        an.channel_pitch = f[1] as usize;
    }
    if let Some(v) = a.staircase_n {
        an.staircase_n = v;
    }
    if let Some(v) = &a.radii_nm {
        an.sphere_radii_nm = floats("--radii-nm", v)?;
    }
    if let Some(v) = &a.lattice_nm {
        let f = floats("--lattice-nm", v)?;
        if f.len() != 2 {
            bail!("--lattice-nm {v:?}: give R,A in nm, e.g. 150,400");
        }
        an.lattice_radius_nm = f[0];
        an.lattice_spacing_nm = f[1];
    }
    if let Some(v) = a.plane_angle_deg {
        an.plane_angle_deg = v;
    }
    if let Some(v) = &a.plane_axis {
        an.plane_tilt_axis = axis_of("--plane-axis", v)?;
    }
    let q = &mut s.acquisition;
    if a.clean {
        *q = fibstack::synth::AcquisitionParams {
            levels: q.levels.clone(),
            bit_depth: q.bit_depth,
            fiducial: q.fiducial.clone(),
            ..fibstack::synth::AcquisitionParams::clean()
        };
    }
    if let Some(v) = &a.levels {
        q.levels = Some(floats("--levels", v)?);
    }
    if let Some(v) = a.bit_depth {
        q.bit_depth = v;
    }
    if let Some(v) = a.tilt_deg {
        q.tilt.get_or_insert_with(Default::default).angle_deg = v;
    }
    if a.no_foreshorten {
        if let Some(t) = q.tilt.as_mut() {
            t.foreshorten = false;
        }
    }
    if a.no_face_shift {
        if let Some(t) = q.tilt.as_mut() {
            t.face_shift = false;
        }
    }
    if a.no_tilt {
        q.tilt = None;
    }
    if a.no_drift {
        q.drift.enabled = false;
    }
    if let Some(v) = a.drift_step_px {
        q.drift.step_sigma_px = v;
    }
    if let Some(v) = &a.drift_jumps {
        let f = floats("--drift-jumps", v)?;
        if f.len() != 2 {
            bail!("--drift-jumps {v:?}: give P,S (probability per slice, σ in px), e.g. 0.03,3");
        }
        q.drift.jump_probability = f[0];
        q.drift.jump_sigma_px = f[1];
    }
    if a.no_curtain {
        q.curtain.enabled = false;
    }
    if let Some(v) = a.curtain_amplitude {
        q.curtain.amplitude = v;
    }
    if let Some(v) = a.curtain_angle_deg {
        q.curtain.angle_deg = v;
    }
    if let Some(v) = a.curtain_second_angle_deg {
        q.curtain.second_angle_deg = Some(v);
    }
    if let Some(m) = &a.curtain_model {
        q.curtain.model = fibstack::synth::curtains::CurtainModel::parse(m)?;
    }
    if a.no_shine {
        q.shine_through.enabled = false;
    }
    if let Some(m) = a.shine_model {
        q.shine_through.model = m;
    }
    if a.no_shading {
        q.shading.enabled = false;
    }
    if a.no_noise {
        q.noise.enabled = false;
    }
    if let Some(v) = a.noise_sigma {
        q.noise.gaussian_sigma = v;
    }
    if let Some(v) = a.counts {
        q.noise.counts_at_full_scale = v;
    }
    if a.fiducial || a.fiducial_cap_nm.is_some() {
        let f = q.fiducial.get_or_insert_with(Default::default);
        if let Some(v) = a.fiducial_cap_nm {
            f.thickness_nm = Some(v);
        }
    }
    Ok(s)
}

fn write(dir: &Path, out: &SynthOutput, a: &SynthArgs, g: &super::Global) -> Result<()> {
    let opts = WriteOptions {
        compression: match a.compression {
            Comp::None => Compression::None,
            Comp::Lzw => Compression::Lzw,
            Comp::Deflate => Compression::Deflate,
            Comp::Packbits => Compression::PackBits,
        },
        no_previews: a.no_previews,
    };
    let files = write_output(dir, out, &opts)?;
    if !g.quiet {
        let t = &out.truth;
        let fr: Vec<String> = t
            .phase_fractions
            .iter()
            .map(|f| format!("{} {:.4}", f.name, f.fraction))
            .collect();
        let img = out
            .rendered
            .as_ref()
            .map(|r| {
                let s = r.grey.shape();
                format!(", images {}x{}x{}", s[0], s[1], s[2])
            })
            .unwrap_or_default();
        eprintln!(
            "{}: {} (seed {}), truth {}x{}x{} at {:?} nm{img}; {}; {} files",
            dir.display(),
            t.preset,
            t.seed,
            t.labels_shape[0],
            t.labels_shape[1],
            t.labels_shape[2],
            t.voxel_size_nm,
            fr.join(", "),
            files.len()
        );
        if let Some(f) = t.acquisition.as_ref().and_then(|a| a.fiducial.as_ref()) {
            eprintln!(
                "cap {:.0} nm ({:.1} rows) with {} tracking marks; {}",
                f.thickness_nm,
                f.cap_rows,
                f.marks.len(),
                f.note
            );
        }
    }
    Ok(())
}

pub fn run(a: SynthArgs, g: &super::Global) -> Result<()> {
    let inputs: Vec<&std::path::Path> = [&a.labels, &a.params]
        .into_iter()
        .filter_map(|o| o.as_deref())
        .collect();
    fibstack::io::check_output(&a.out_dir, &inputs)?;
    let spec = spec_from_args(&a)?;
    if let Some(path) = &a.labels {
        let mut labels = fibstack::io::read_labels(path, &fibstack::io::ReadOptions::default())?;
        if let Some(v) = &a.voxel {
            let v = parse_voxel(v)?;
            labels.voxel = labels.voxel.overridden(v, VoxelSource::CommandLine);
        }
        if !labels.voxel.is_calibrated() {
            if !g.quiet {
                eprintln!(
                    "note: {} has no voxel size; using {:?} nm (set --voxel)",
                    path.display(),
                    synth::DEFAULT_VOXEL_NM
                );
            }
            labels.voxel = VoxelSize::new(synth::DEFAULT_VOXEL_NM, VoxelSource::Default);
        }
        let out = synth::from_labels(
            labels,
            &path.display().to_string(),
            &spec.resolved_acquisition(),
            spec.seed,
        )?;
        return write(&a.out_dir, &out, &a, g);
    }
    if a.preset.as_deref() == Some("pressure-series") {
        let pressures = match &a.pressures {
            Some(p) => floats("--pressures", p)?,
            None => PRESSURE_SERIES_KPA.to_vec(),
        };
        let series = synth::pressure_series(&spec, &pressures)?;
        let mut summary = Vec::new();
        for (p, out) in &series {
            let name = format!("p{:03}kPa", p.round() as i64);
            write(&a.out_dir.join(&name), out, &a, g)?;
            if let synth::StructureTruth::LiDeposit(t) = &out.truth.structure {
                summary.push(serde_json::json!({
                    "folder": name,
                    "pressure_kpa": p,
                    "packing": t.params.packing,
                    "thickness_nominal_nm": t.thickness_nominal_nm,
                    "thickness_p95_nm": t.thickness_p95_nm,
                    "dense_equivalent_thickness_nm": t.dense_equivalent_thickness_nm,
                    "layer_porosity": t.layer_porosity,
                    "pore_chord_mean_x_nm": t.pore_chord_mean_x_nm,
                }));
            }
        }
        let js = serde_json::to_vec_pretty(&serde_json::json!({ "series": summary }))?;
        fibstack::io::atomic::write_bytes(&a.out_dir.join("series.json"), &js)?;
        return Ok(());
    }
    if a.pressures.is_some() {
        bail!("--pressures only applies to --preset pressure-series");
    }
    let out = synth::generate(&spec)?;
    write(&a.out_dir, &out, &a, g)
}

/// `fibstack synth-curtains IN OUT`: physical curtains added to a real image or stack.
#[derive(Debug, Args)]
pub struct SynthCurtainsArgs {
    /// Input grey image or stack (the stripe-free reference).
    pub input: PathBuf,
    /// Output (format from the extension).
    pub output: PathBuf,
    #[command(flatten)]
    pub read: super::common::InputOpts,
    #[command(flatten)]
    pub params: fibstack::synth::curtains::AddCurtainsParams,
    /// Write 32-bit float (default: the input's sample type, rounded and clamped).
    #[arg(long)]
    pub f32: bool,
}

pub fn run_curtains(a: SynthCurtainsArgs, g: &super::Global) -> Result<()> {
    a.params.validate()?;
    let vol = a.read.read(&a.input, g)?;
    let out = fibstack::synth::curtains::add_curtains(&vol.data, &a.params)
        .with_context(|| format!("{}", a.input.display()))?;
    let st = if a.f32 {
        fibstack::volume::SampleType::F32
    } else {
        vol.sample_type()
    };
    let v = fibstack::volume::GreyVolume {
        data: fibstack::preprocess::denoise::from_f32_like(out, st),
        voxel: vol.voxel,
        meta: vol.meta.clone(),
    };
    fibstack::io::write_volume(&a.output, &v)?;
    if !g.quiet {
        println!(
            "synth-curtains: physical curtains (amplitude {}, seed {}) added to {} slice(s) -> {}",
            a.params.amplitude,
            a.params.seed,
            v.shape()[0],
            a.output.display()
        );
    }
    Ok(())
}
