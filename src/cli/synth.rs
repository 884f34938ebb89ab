//! `fibstack synth OUT_DIR --preset NAME`: synthetic FIB-SEM stacks with exact ground truth.
//!
//! The keys are the synth spec's ([`SynthSpec`], the workflow `synth` step's keys and the
//! `--params FILE.toml` keys): `--set KEY=VALUE` sets any of them (dotted for nested tables), and
//! each shorthand flag of [`FLAGS`] is declared as the key(s) it sets, so the spec stays the one
//! definition of names, defaults and validity.

use super::common::parse_voxel;
use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use fibstack::io::tiff::Compression;
use fibstack::synth::output::{write_output, WriteOptions};
use fibstack::synth::presets::{Preset, PRESSURE_SERIES_KPA};
use fibstack::synth::{self, SynthOutput, SynthSpec};
use fibstack::volume::{VoxelSize, VoxelSource};
use fibstack::workflow::steps::synth::{get_key, key_value, set_key};
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
    /// Set one key of the parameter set (the workflow `synth` step's keys, dotted for nested
    /// tables: `--set acquisition.noise.gaussian_sigma=0.02`, `--set electrode.max_overlap=0.2`);
    /// repeatable, applied after --params and the other flags. VALUE is a number, true/false, a
    /// TOML array or table (`[0.1,0.5]`), or text.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    pub set: Vec<(String, String)>,
    /// Truth voxel size DZ,DY,DX in nm (default 20,20,20; with --labels: the file's); any may be
    /// `_` to keep the --params file's value.
    #[arg(long, value_name = "DZ,DY,DX")]
    pub voxel: Option<String>,
    /// pressure-series: pressures in kPa (default 0,70,140,210,350).
    #[arg(long, value_name = "P1,P2,..", help_heading = "Structure")]
    pub pressures: Option<String>,
    /// The shorthand flags (each sets spec keys; see [`FLAGS`]).
    #[command(flatten)]
    pub flags: KeyFlags,

    // --- output ---
    /// TIFF compression.
    #[arg(long, value_enum, default_value_t = Comp::None, help_heading = "Output")]
    pub compression: Comp,
    /// Do not write PNG previews.
    #[arg(long, help_heading = "Output")]
    pub no_previews: bool,
}

/// `KEY=VALUE` of `--set`.
fn parse_set(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| {
        format!("{s:?}: give KEY=VALUE, e.g. acquisition.noise.gaussian_sigma=0.02")
    })?;
    Ok((k.trim().to_string(), v.to_string()))
}

/// How a shorthand flag sets the spec.
#[derive(Debug, Clone, Copy)]
pub enum Form {
    /// `--flag V`: the key = V.
    Value,
    /// `--flag WORD`: the key = the word in lower case.
    Word,
    /// `--flag A,B,..`: the key = the list.
    List,
    /// `--flag A,B`: the key = A, the second key = B; the text says what to give.
    Pair(&'static str, &'static str),
    /// `--flag z|y|x`: the key = the axis index 0, 1, 2.
    Axis,
    /// `--flag` (no value): the key = this value.
    Fixed(bool),
    /// `--flag`: the key (a table) is removed.
    Remove,
    /// `--flag`: the key (a table) is created with its defaults unless present.
    Ensure,
    /// `--flag`: the key = this value when its table is present (no effect otherwise).
    IfPresent(bool),
    /// `--flag`: the acquisition table is every effect off, keeping levels, bit depth, fiducial.
    Clean,
}

/// A shorthand flag of `fibstack synth`: the spec key it sets and how.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The flag without `--`.
    pub flag: &'static str,
    /// The dotted spec key it sets.
    pub key: &'static str,
    pub form: Form,
    /// Help heading.
    pub heading: Option<&'static str>,
    pub value_name: Option<&'static str>,
    /// Help text (what the flag means, with its unit).
    pub help: &'static str,
}

const fn f(flag: &'static str, key: &'static str, form: Form, help: &'static str) -> Flag {
    Flag {
        flag,
        key,
        form,
        heading: None,
        value_name: None,
        help,
    }
}
const S: Option<&str> = Some("Structure");
const A: Option<&str> = Some("Acquisition");

/// The shorthand flags, in the order they apply (later ones win): each sets spec keys, which
/// the spec's own definition checks; `--set` reaches every key.
pub const FLAGS: &[Flag] = &[
    Flag { value_name: Some("Z,Y,X"), ..f("shape", "shape", Form::List, "Truth volume shape Z,Y,X (default 64,96,96; staircase: N,N,N).") },
    f("seed", "seed", Form::Value, "Random seed; the same seed gives the same bytes."),
    f("structure-only", "render", Form::Fixed(false), "Write only the structure (truth/labels.tif, truth.json), no grey rendering."),
    Flag { heading: S, ..f("packing", "li_deposit.packing", Form::Value, "li-deposit: packing in [0,1] (0 porous whiskers … 1 dense columnar grains).") },
    Flag { heading: S, ..f("thickness-nm", "li_deposit.thickness_nm", Form::Value, "li-deposit: nominal deposit thickness (nm).") },
    Flag { heading: S, ..f("grain-spacing-nm", "li_deposit.grain_spacing_nm", Form::Value, "li-deposit: mean spacing of grain/whisker nuclei (nm).") },
    Flag { heading: S, ..f("pressure-kpa", "pressure_kpa", Form::Value, "li-deposit: stack pressure in kPa (sets packing and thickness).") },
    Flag { heading: S, ..f("active-fraction", "electrode.active_fraction", Form::Value, "electrode: target active-material volume fraction.") },
    Flag { heading: S, ..f("median-radius-nm", "electrode.median_radius_nm", Form::Value, "electrode: median particle radius (nm).") },
    Flag { heading: S, ..f("radius-sigma", "electrode.radius_log_sigma", Form::Value, "electrode: σ of ln(radius).") },
    Flag { heading: S, ..f("aspect", "electrode.aspect", Form::Value, "electrode: ellipsoid aspect ratio (1 = spheres).") },
    Flag { heading: S, ..f("binder-fraction", "electrode.binder_fraction", Form::Value, "electrode: carbon-binder volume fraction (0 = none).") },
    Flag { heading: S, ..f("channel-axis", "analytic.channel_axis", Form::Axis, "channels: axis z, y or x.") },
    Flag { heading: S, value_name: Some("W,P"), ..f("channel-size", "analytic.channel_width", Form::Pair("analytic.channel_pitch", "give W,P in whole voxels, e.g. 4,12"), "channels: width and pitch in voxels, W,P.") },
    Flag { heading: S, ..f("staircase-n", "analytic.staircase_n", Form::Value, "staircase: box size N.") },
    Flag { heading: S, value_name: Some("R1,R2,.."), ..f("radii-nm", "analytic.sphere_radii_nm", Form::List, "spheres: radii in nm, R1,R2,…") },
    Flag { heading: S, value_name: Some("R,A"), ..f("lattice-nm", "analytic.lattice_radius_nm", Form::Pair("analytic.lattice_spacing_nm", "give R,A in nm, e.g. 150,400"), "sphere-lattice: radius and lattice constant in nm, R,A.") },
    Flag { heading: S, ..f("plane-angle-deg", "analytic.plane_angle_deg", Form::Value, "inclined-plane: angle in degrees.") },
    Flag { heading: S, ..f("plane-axis", "analytic.plane_tilt_axis", Form::Axis, "inclined-plane: the plane rises along z or x.") },
    Flag { heading: A, ..f("clean", "acquisition", Form::Clean, "Turn every acquisition effect off (tilt, drift, curtains, shine-through, shading, noise); --levels, --bit-depth, --tilt-deg and --fiducial still apply. For finer control use --set or --params.") },
    Flag { heading: A, value_name: Some("L0,L1,.."), ..f("levels", "acquisition.levels", Form::List, "Grey levels (0..1) per label, L0,L1,…") },
    Flag { heading: A, ..f("bit-depth", "acquisition.bit_depth", Form::Value, "Output bit depth 8 or 16.") },
    Flag { heading: A, ..f("tilt-deg", "acquisition.tilt.angle_deg", Form::Value, "Ion/electron column angle (degrees, default 52).") },
    Flag { heading: A, ..f("no-foreshorten", "acquisition.tilt.foreshorten", Form::IfPresent(false), "Keep the 52° face shift but do not foreshorten rows.") },
    Flag { heading: A, ..f("no-face-shift", "acquisition.tilt.face_shift", Form::IfPresent(false), "Keep foreshortening but no per-slice face shift (face tracking on).") },
    Flag { heading: A, ..f("no-tilt", "acquisition.tilt", Form::Remove, "Face-on imaging: no foreshortening and no face shift.") },
    Flag { heading: A, ..f("no-drift", "acquisition.drift.enabled", Form::Fixed(false), "No stage drift.") },
    Flag { heading: A, ..f("drift-step-px", "acquisition.drift.step_sigma_px", Form::Value, "Drift random-walk step σ (px).") },
    Flag { heading: A, value_name: Some("P,S"), ..f("drift-jumps", "acquisition.drift.jump_probability", Form::Pair("acquisition.drift.jump_sigma_px", "give P,S (probability per slice, σ in px), e.g. 0.03,3"), "Drift jump probability per slice and jump σ (px): P,S.") },
    Flag { heading: A, ..f("no-curtain", "acquisition.curtain.enabled", Form::Fixed(false), "No curtains.") },
    Flag { heading: A, ..f("curtain-amplitude", "acquisition.curtain.amplitude", Form::Value, "Curtain RMS amplitude (normalised intensity).") },
    Flag { heading: A, ..f("curtain-angle-deg", "acquisition.curtain.angle_deg", Form::Value, "Curtain angle from vertical (degrees).") },
    Flag { heading: A, ..f("curtain-second-angle-deg", "acquisition.curtain.second_angle_deg", Form::Value, "Second curtain family (rocking polish) at this angle (degrees).") },
    Flag { heading: A, value_name: Some("physical|additive"), ..f("curtain-model", "acquisition.curtain.model", Form::Word, "Curtain model: `physical` (default: grooves in the material only, multiplicative, seeded below hard features) or `additive` (stripes added everywhere, pores included).") },
    Flag { heading: A, ..f("no-shine", "acquisition.shine_through.enabled", Form::Fixed(false), "No shine-through.") },
    Flag { heading: A, value_name: Some("exponential|geometric"), ..f("shine-model", "acquisition.shine_through.model", Form::Word, "Shine-through physics: exponential (default: decaying contrast of the slices straight behind) or geometric (line of sight at the tilt angle, first surface seen, electron-range depth kernel).") },
    Flag { heading: A, ..f("no-shading", "acquisition.shading.enabled", Form::Fixed(false), "No shading gradient.") },
    Flag { heading: A, ..f("no-noise", "acquisition.noise.enabled", Form::Fixed(false), "No noise.") },
    Flag { heading: A, ..f("noise-sigma", "acquisition.noise.gaussian_sigma", Form::Value, "Gaussian noise σ (normalised intensity).") },
    Flag { heading: A, ..f("counts", "acquisition.noise.counts_at_full_scale", Form::Value, "Poisson counts at full scale (0 = no Poisson noise).") },
    Flag { heading: A, ..f("fiducial", "acquisition.fiducial", Form::Ensure, "Protective cap with tracking marks (lines milled along z) above the sample, moving only with face shift and drift; truth.json gives the rectangle for `align --roi`.") },
    Flag { heading: A, value_name: Some("NM"), ..f("fiducial-cap-nm", "acquisition.fiducial.thickness_nm", Form::Value, "Cap thickness in nm (implies --fiducial; default: 1/8 of the depth, or thick enough to keep 12 rows of cap in view in every slice).") },
];

impl Flag {
    fn takes_value(&self) -> bool {
        matches!(
            self.form,
            Form::Value | Form::Word | Form::List | Form::Pair(..) | Form::Axis
        )
    }

    /// This flag (given with `value` when it takes one) applied to `s`.
    pub fn apply(&self, s: &SynthSpec, value: Option<&str>) -> Result<SynthSpec> {
        let v = value.unwrap_or("");
        let name = format!("--{}", self.flag);
        let set = |s: &SynthSpec, k: &str, x: serde_json::Value| {
            set_key(s, k, x).with_context(|| format!("{name} {v:?}"))
        };
        Ok(match self.form {
            Form::Value => set(s, self.key, key_value(v))?,
            Form::Word => set(s, self.key, v.trim().to_ascii_lowercase().into())?,
            Form::List => set(s, self.key, v.split(',').map(key_value).collect())?,
            Form::Pair(second, hint) => {
                let p: Vec<&str> = v.split(',').collect();
                if p.len() != 2 {
                    bail!("{name} {v:?}: {hint}");
                }
                let s = set(s, self.key, key_value(p[0]))?;
                set(&s, second, key_value(p[1]))?
            }
            Form::Axis => {
                let i = match v.trim().to_ascii_lowercase().as_str() {
                    "z" | "0" => 0,
                    "y" | "1" => 1,
                    "x" | "2" => 2,
                    _ => bail!("{name} {v:?}: use z, y or x"),
                };
                set(s, self.key, i.into())?
            }
            Form::Fixed(b) => set(s, self.key, b.into())?,
            Form::Remove => set(s, self.key, serde_json::Value::Null)?,
            Form::Ensure => match get_key(s, self.key) {
                Some(_) => s.clone(),
                None => set(s, self.key, serde_json::json!({}))?,
            },
            Form::IfPresent(b) => {
                let table = self.key.rsplit_once('.').map_or("", |(t, _)| t);
                match get_key(s, table) {
                    Some(_) => set(s, self.key, b.into())?,
                    None => s.clone(),
                }
            }
            Form::Clean => {
                let mut s = s.clone();
                let q = &mut s.acquisition;
                *q = synth::AcquisitionParams {
                    levels: q.levels.clone(),
                    bit_depth: q.bit_depth,
                    fiducial: q.fiducial.clone(),
                    ..synth::AcquisitionParams::clean()
                };
                s
            }
        })
    }
}

/// The shorthand flags of [`FLAGS`] given on a command line, in table order.
#[derive(Debug, Clone, Default)]
pub struct KeyFlags {
    /// (index in [`FLAGS`], value).
    pub given: Vec<(usize, Option<String>)>,
}

impl clap::FromArgMatches for KeyFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut k = KeyFlags::default();
        k.update_from_arg_matches(m)?;
        Ok(k)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.given.clear();
        for (i, fl) in FLAGS.iter().enumerate() {
            if fl.takes_value() {
                if let Some(v) = m.get_one::<String>(fl.flag) {
                    self.given.push((i, Some(v.clone())));
                }
            } else if m.get_flag(fl.flag) {
                self.given.push((i, None));
            }
        }
        Ok(())
    }
}

impl clap::Args for KeyFlags {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for fl in FLAGS {
            let help = format!("{} [key: {}]", fl.help, fl.key);
            let mut a = clap::Arg::new(fl.flag).long(fl.flag).help(help);
            if let Some(h) = fl.heading {
                a = a.help_heading(h);
            }
            a = if fl.takes_value() {
                let a = a.action(clap::ArgAction::Set).allow_negative_numbers(true);
                match fl.value_name {
                    Some(n) => a.value_name(n),
                    None => a.value_name(fl.flag.to_ascii_uppercase().replace('-', "_")),
                }
            } else {
                a.action(clap::ArgAction::SetTrue)
            };
            cmd = cmd.arg(a);
        }
        cmd
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
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

/// Build the spec from the TOML file (if any), the preset and voxel flags, the shorthand flags
/// (in [`FLAGS`] order) and the `--set` keys (in command-line order).
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
    if let Some(v) = &a.voxel {
        let v = parse_voxel(v)?;
        let d = s.voxel_nm.unwrap_or(synth::DEFAULT_VOXEL_NM);
        s.voxel_nm = Some([0, 1, 2].map(|i| v[i].unwrap_or(d[i])));
    }
    for (i, v) in &a.flags.given {
        s = FLAGS[*i].apply(&s, v.as_deref())?;
    }
    for (k, v) in &a.set {
        s = set_key(&s, k, key_value(v)).with_context(|| format!("--set {k}={v}"))?;
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

#[cfg(test)]
mod tests {
    use super::{Form, FLAGS};
    use fibstack::synth::SynthSpec;
    use fibstack::workflow::steps::synth::get_key;

    /// Every shorthand flag names a key of the spec, of the type its form writes: applied with a
    /// sample value it is accepted and the key takes that value.
    #[test]
    fn every_flag_sets_a_spec_key() {
        let d = SynthSpec::default();
        for f in FLAGS {
            let v = match f.form {
                Form::Value => Some("1"),
                Form::Word => f.value_name.and_then(|n| n.split('|').next_back()),
                Form::List => Some("1,2,3"),
                Form::Pair(..) => Some("1,2"),
                Form::Axis => Some("x"),
                _ => None,
            };
            let s = f
                .apply(&d, v)
                .unwrap_or_else(|e| panic!("--{} {v:?}: {e:#}", f.flag));
            match f.form {
                Form::Remove => assert_eq!(get_key(&s, f.key), None, "--{}", f.flag),
                Form::IfPresent(b) | Form::Fixed(b) => {
                    assert_eq!(get_key(&s, f.key), Some(b.into()), "--{}", f.flag)
                }
                Form::Clean => assert_ne!(s, d),
                _ => assert!(get_key(&s, f.key).is_some(), "--{}", f.flag),
            }
        }
        // distinct flags
        let mut names: Vec<&str> = FLAGS.iter().map(|f| f.flag).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FLAGS.len());
    }
}
