//! Shared CLI pieces: input options, voxel parsing, progress bars, JSON printing.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use fibstack::io::{RawSpec, ReadOptions};
use fibstack::volume::{GreyVolume, LabelVolume, SampleType, VoxelSource};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// Options for reading an input volume.
#[derive(Debug, Clone, Args, Default)]
pub struct InputOpts {
    /// Voxel size override in nm as DZ,DY,DX (any may be `_` to keep the file's value).
    #[arg(long, value_name = "DZ,DY,DX")]
    pub voxel: Option<String>,
    /// For folders: only files matching this glob (e.g. 'slice_*.tif').
    #[arg(long)]
    pub pattern: Option<String>,
    /// Keep slices A..B (B exclusive, 0-based, after natural sorting).
    #[arg(long, value_name = "A..B")]
    pub slices: Option<String>,
    /// Crop rectangle Y0,X0,H,W in pixels (after the data bar is removed).
    #[arg(long, value_name = "Y0,X0,H,W")]
    pub crop: Option<String>,
    /// Do not remove the instrument data bar.
    #[arg(long)]
    pub keep_databar: bool,
    /// Raw binary layout: NZ,NY,NX,TYPE[,le|be][,HEADER_BYTES] with TYPE u8|u16|f32.
    #[arg(long, value_name = "NZ,NY,NX,TYPE")]
    pub raw: Option<String>,
    /// Refuse inputs needing more than this many GiB of memory.
    #[arg(
        allow_negative_numbers = true,
        long,
        default_value_t = 16.0,
        value_name = "GIB"
    )]
    pub max_memory: f64,
    /// Unit of coordinates the file gives without one (Avizo/Amira BoundingBox): nm or um.
    #[arg(long, value_name = "nm|um")]
    pub voxel_unit: Option<String>,
    /// Channel to read from a multi-channel OME-TIFF (0-based).
    #[arg(long, value_name = "N")]
    pub channel: Option<usize>,
    /// Time point to read from an OME-TIFF time series (0-based).
    #[arg(long, value_name = "N")]
    pub timepoint: Option<usize>,
    /// Names of the phases of a label volume, e.g. 0=pore,1=NMC,2=CBD: `--phase` may then name
    /// one, and outputs use the names (a label TIFF written by fibstack keeps them).
    #[arg(long, value_name = "L=NAME,...")]
    pub phases: Option<String>,
}

/// Parse `DZ,DY,DX` (entries may be `_`).
pub fn parse_voxel(s: &str) -> Result<[Option<f64>; 3]> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 3 {
        bail!("--voxel {s:?}: give three values DZ,DY,DX in nm, e.g. --voxel 20,5,5");
    }
    let mut out = [None; 3];
    for (i, p) in parts.iter().enumerate() {
        if *p == "_" {
            continue;
        }
        let v: f64 = p
            .parse()
            .with_context(|| format!("--voxel {s:?}: {p:?} is not a number"))?;
        if !(v.is_finite() && v > 0.0) {
            bail!("--voxel {s:?}: {v} must be a positive size in nm");
        }
        out[i] = Some(v);
    }
    Ok(out)
}

fn parse_usizes(flag: &str, s: &str, n: usize) -> Result<Vec<usize>> {
    let v: Result<Vec<usize>, _> = s.split(',').map(|p| p.trim().parse::<usize>()).collect();
    match v {
        Ok(v) if v.len() == n => Ok(v),
        _ => bail!("{flag} {s:?}: expected {n} comma-separated whole numbers"),
    }
}

/// Parse `A..B`.
pub fn parse_range(s: &str) -> Result<(usize, usize)> {
    let (a, b) = s
        .split_once("..")
        .with_context(|| format!("--slices {s:?}: write it as A..B, e.g. 0..100"))?;
    let a: usize = if a.trim().is_empty() {
        0
    } else {
        a.trim()
            .parse()
            .with_context(|| format!("--slices {s:?}: {a:?} is not a whole number"))?
    };
    let b: usize = if b.trim().is_empty() {
        usize::MAX
    } else {
        b.trim()
            .parse()
            .with_context(|| format!("--slices {s:?}: {b:?} is not a whole number"))?
    };
    if a >= b {
        bail!("--slices {s:?}: start must be below end");
    }
    Ok((a, b))
}

/// Parse `NZ,NY,NX,TYPE[,le|be][,HEADER]`.
pub fn parse_raw(s: &str) -> Result<RawSpec> {
    let p: Vec<&str> = s.split(',').map(str::trim).collect();
    if p.len() < 4 {
        bail!("--raw {s:?}: give NZ,NY,NX,TYPE[,le|be][,HEADER_BYTES], e.g. --raw 100,512,512,u16");
    }
    let dims = parse_usizes("--raw", &p[..3].join(","), 3)?;
    let sample = match p[3] {
        "u8" | "uint8" => SampleType::U8,
        "u16" | "uint16" => SampleType::U16,
        "f32" | "float32" => SampleType::F32,
        t => bail!("--raw {s:?}: type {t:?} unsupported; use u8, u16 or f32"),
    };
    let little_endian = match p.get(4).copied() {
        None | Some("le") | Some("little") => true,
        Some("be") | Some("big") => false,
        Some(e) => bail!("--raw {s:?}: endianness {e:?}; use le or be"),
    };
    let header_bytes = match p.get(5) {
        Some(h) => h
            .parse()
            .with_context(|| format!("--raw {s:?}: header {h:?} is not a number"))?,
        None => 0,
    };
    Ok(RawSpec {
        shape: [dims[0], dims[1], dims[2]],
        sample,
        little_endian,
        header_bytes,
    })
}

impl InputOpts {
    /// Reader options from the flags.
    pub fn read_options(&self) -> Result<ReadOptions> {
        if !(self.max_memory.is_finite() && self.max_memory > 0.0) {
            bail!(
                "--max-memory {}: must be a positive number of GiB",
                self.max_memory
            );
        }
        Ok(ReadOptions {
            pattern: self.pattern.clone(),
            slices: self.slices.as_deref().map(parse_range).transpose()?,
            crop: match &self.crop {
                Some(c) => {
                    let v = parse_usizes("--crop", c, 4)?;
                    Some([v[0], v[1], v[2], v[3]])
                }
                None => None,
            },
            crop_databar: !self.keep_databar,
            raw: self.raw.as_deref().map(parse_raw).transpose()?,
            max_bytes: (self.max_memory * (1u64 << 30) as f64) as u64,
            length_unit_nm: match &self.voxel_unit {
                Some(u) => Some(
                    fibstack::io::parse_length_unit(u)
                        .map_err(|e| anyhow::anyhow!("--voxel-unit: {e}"))?,
                ),
                None => None,
            },
            channel: self.channel,
            timepoint: self.timepoint,
        })
    }

    /// Read a grey volume, apply the voxel override, print warnings (unless quiet).
    pub fn read(&self, path: &Path, g: &super::Global) -> Result<GreyVolume> {
        let opts = self.read_options()?;
        let bar = Bar::new(g.quiet);
        let mut vol = fibstack::io::read_volume_with_progress(path, &opts, &bar)?;
        if let Some(v) = &self.voxel {
            vol.voxel = vol
                .voxel
                .overridden(parse_voxel(v)?, VoxelSource::CommandLine);
            // the override settles what the reader warned about
            fibstack::io::refresh_calibration_warnings(
                &vol.voxel,
                vol.shape()[0],
                &mut vol.meta.warnings,
            );
        }
        note_warnings(&vol.meta.warnings, g);
        Ok(vol)
    }

    /// Open a streaming reader when the input is a folder of slices, a (multi-page) TIFF or Zarr, with
    /// the voxel override applied and the reader's warnings printed; `None` for other formats.
    pub fn open_stream(
        &self,
        path: &Path,
        g: &super::Global,
    ) -> Result<Option<fibstack::io::stream::SliceReader>> {
        use fibstack::io::Format;
        if !path.exists()
            || !matches!(
                Format::of(path),
                Ok(Format::Folder | Format::Tiff | Format::OmeTiff | Format::Zarr)
            )
        {
            return Ok(None);
        }
        let opts = self.read_options()?;
        let mut r = fibstack::io::stream::SliceReader::open(path, &opts)?;
        if let Some(v) = &self.voxel {
            let vox = r
                .voxel()
                .overridden(parse_voxel(v)?, VoxelSource::CommandLine);
            r.set_voxel(vox);
            let nz = r.shape()[0];
            fibstack::io::refresh_calibration_warnings(&vox, nz, &mut r.meta_mut().warnings);
        }
        note_warnings(&r.meta().warnings, g);
        Ok(Some(r))
    }

    /// Read a label volume.
    #[allow(dead_code)] // for the measuring commands
    pub fn read_labels(&self, path: &Path, g: &super::Global) -> Result<LabelVolume> {
        let vol = self.read(path, g)?;
        let mut l = LabelVolume::from_grey(vol).with_context(|| format!("{}", path.display()))?;
        if let Some(p) = &self.phases {
            let names = fibstack::volume::parse_phase_names(p)
                .map_err(|e| anyhow::anyhow!("--phases {p:?}: {e}"))?;
            l.meta.phase_names.extend(names);
        }
        Ok(l)
    }

    /// Read a label volume for a metric, with the checks every label metric makes before any
    /// work: it looks like labels (at most 32 values); `phase` (a value, or a name of `--phases`
    /// or of the file's phase names) and each `(role, value)` of `wanted` occur; the voxel size
    /// is calibrated (or `allow_uncalibrated`, then a 1 × 1 × 1 voxel). Returns the volume and
    /// the label value of `phase`. Errors name the file.
    pub fn read_metric_labels_for(
        &self,
        path: &Path,
        g: &super::Global,
        allow_uncalibrated: bool,
        phase: &fibstack::volume::PhaseRef,
        wanted: &[(&'static str, u8)],
    ) -> Result<(LabelVolume, u8)> {
        let mut l = self.read_labels(path, g)?;
        let p = phase
            .resolve(&l.meta.phase_names)
            .map_err(|e| anyhow::anyhow!("{}: --phase {e}", path.display()))?;
        let mut all = vec![("phase", p)];
        all.extend_from_slice(wanted);
        l.voxel = fibstack::metrics::phases::metric_voxel(&l, &all, allow_uncalibrated)
            .with_context(|| format!("{}", path.display()))?;
        Ok((l, p))
    }
}

/// Refuse, before any work, outputs that would overwrite, replace or land inside an input, and
/// outputs whose name and existing folder disagree (see [`fibstack::io::check_output`] and
/// [`fibstack::io::Format::of_output`]). `volumes` are outputs written by a volume writer
/// (format checked); `others` are plain files (CSV, PNG, JSON).
pub fn check_outputs(inputs: &[&Path], volumes: &[&Path], others: &[&Path]) -> Result<()> {
    for o in volumes.iter().chain(others) {
        fibstack::io::check_output(o, inputs)?;
    }
    for o in volumes {
        fibstack::io::Format::of_output(o)?;
    }
    for o in others {
        if o.is_dir() {
            bail!(
                "{}: is an existing folder; give a file name, or remove the folder",
                o.display()
            );
        }
    }
    Ok(())
}

/// Print reader warnings on stderr.
pub fn note_warnings(w: &[String], g: &super::Global) {
    if !g.quiet {
        for w in w {
            eprintln!("note: {w}");
        }
    }
}

/// Print a serde value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(v)?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        // the reader went away (e.g. `| head`): not an error of ours
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// An indicatif bar implementing the library's Progress trait (hidden when quiet).
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(quiet: bool) -> Self {
        let pb = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        pb.set_style(
            ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Bar(pb)
    }
}

impl fibstack::progress::Progress for Bar {
    fn start(&self, label: &str, total: u64) {
        self.0.reset();
        self.0.set_length(total);
        self.0.set_prefix(label.to_string());
        self.0.set_message("");
    }
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn detail(&self, text: &str) {
        self.0.set_message(text.to_string());
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
