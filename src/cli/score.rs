//! `fibstack score SEG REF`: per-phase Dice and voxel accuracy of a segmentation against a
//! reference on the same grid; or `fibstack score SEG --synth DIR --results results.json`: against
//! a simulator truth mapped onto SEG's grid through the chain's align/geometry reports.

use super::common::{print_json, InputOpts};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use fibstack::preprocess::align::AlignReport;
use fibstack::preprocess::geometry::GeometryReport;
use fibstack::validate::{
    crop_origin_from_results, reports_from_results, score_against_truth, score_labels,
    ChainTransform, ScoreView,
};
use fibstack::workflow::steps::score::ScoreStep;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Segmented label volume (TIFF, folder, .npy …).
    pub seg: PathBuf,
    /// Reference labels on the same grid (e.g. `truth_on_grid.tif` of a workflow `score` step);
    /// voxels holding 255 are not scored.
    pub reference: Option<PathBuf>,
    /// The operation's options: the same keys as the workflow step `kind = "score"`.
    #[command(flatten)]
    pub step: ScoreStep,
    /// With --synth: `results.json` of the `fibstack run` that made SEG (its `align` and
    /// `geometry` entries give the chain's transform).
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// With --synth, instead of --results: the output of `fibstack align --json`.
    #[arg(long, value_name = "FILE")]
    pub align_json: Option<PathBuf>,
    /// With --synth, instead of --results: the output of `fibstack geometry --json`.
    #[arg(long, value_name = "FILE")]
    pub geometry_json: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputOpts,
    /// Print only JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn read_json(p: &PathBuf) -> Result<serde_json::Value> {
    let b = std::fs::read(p).with_context(|| format!("{}", p.display()))?;
    serde_json::from_slice(&b).with_context(|| format!("{}: not JSON", p.display()))
}

fn print_view(v: &ScoreView, what: &str) {
    println!("{what}");
    for p in &v.score.phases {
        println!(
            "  label {:>3} {:<18} Dice {:.4}   fraction seg {:.4} / ref {:.4}",
            p.label,
            p.name.as_deref().unwrap_or(""),
            p.dice,
            p.segmented_fraction,
            p.reference_fraction
        );
    }
    let t = &v.pore_vs_solid;
    println!(
        "  accuracy {:.4}; pore (label {}) vs solid: Dice pore {:.4}, solid {:.4}, accuracy {:.4}; unscored voxels {}",
        v.score.accuracy, t.pore_label, t.dice_pore, t.dice_solid, t.accuracy, v.score.unscored_voxels
    );
}

pub fn run(a: ScoreArgs, g: &super::Global) -> Result<()> {
    let seg = a.input.read_labels(&a.seg, g)?;
    let synth = a.step.truth.as_ref().map(PathBuf::from);
    let pore = a.step.pore;
    match (&a.reference, &synth) {
        (Some(r), None) => {
            if a.results.is_some() || a.align_json.is_some() || a.geometry_json.is_some() {
                bail!("--results/--align-json/--geometry-json only apply with --synth DIR");
            }
            let reference = a.input.read_labels(r, g)?;
            let v = score_labels(seg.view(), reference.view(), pore)
                .with_context(|| format!("{} vs {}", a.seg.display(), r.display()))?;
            if a.json {
                return print_json(&v);
            }
            print_view(&v, &format!("{} against {}", a.seg.display(), r.display()));
            Ok(())
        }
        (None, Some(dir)) => {
            let rec: fibstack::synth::Truth =
                serde_json::from_value(read_json(&dir.join("truth.json"))?)
                    .with_context(|| format!("{}: not a truth record", dir.display()))?;
            let acq = rec.acquisition.as_ref().with_context(|| {
                format!(
                    "{}: the truth has no acquisition (render = false)",
                    dir.display()
                )
            })?;
            let truth =
                fibstack::io::read_labels(&dir.join("truth/labels.tif"), &Default::default())
                    .with_context(|| format!("{}", dir.display()))?;
            let mut crop = None;
            let (align, geometry) = match &a.results {
                Some(p) => {
                    if a.align_json.is_some() || a.geometry_json.is_some() {
                        bail!("give --results or --align-json/--geometry-json, not both");
                    }
                    let v = read_json(p)?;
                    let m = v
                        .as_object()
                        .with_context(|| format!("{}: expected a JSON object", p.display()))?;
                    crop = crop_origin_from_results(m)?;
                    reports_from_results(m)?
                }
                None => {
                    let load = |p: &Option<PathBuf>| -> Result<Option<serde_json::Value>> {
                        p.as_ref().map(read_json).transpose()
                    };
                    let al: Option<AlignReport> = load(&a.align_json)?
                        .map(serde_json::from_value)
                        .transpose()
                        .context("--align-json: not the output of `fibstack align --json`")?;
                    let ge: Option<GeometryReport> = load(&a.geometry_json)?
                        .map(serde_json::from_value)
                        .transpose()
                        .context("--geometry-json: not the output of `fibstack geometry --json`")?;
                    (al, ge)
                }
            };
            let mut t = ChainTransform::new(acq.image_shape, align.as_ref(), geometry.as_ref())?;
            // a segmentation written after the run's crop steps sits inside the chain's grid
            if let Some(origin) = crop.filter(|_| seg.shape() != t.shape) {
                t = t
                    .cropped(origin, seg.shape())
                    .with_context(|| format!("{}: after the run's crops", a.seg.display()))?;
            }
            if seg.shape() != t.shape {
                bail!(
                    "{}: shape {:?}, but the chain produces {:?}; score the segmentation of that chain (align → geometry → segment, then any crops)",
                    a.seg.display(),
                    seg.shape(),
                    t.shape
                );
            }
            let mut s = score_against_truth(seg.view(), truth.view(), acq, &t, pore)?;
            for v in std::iter::once(&mut s.applied).chain(s.ideal.as_mut()) {
                for p in &mut v.score.phases {
                    p.name = rec
                        .phase_names
                        .iter()
                        .find(|(k, _)| *k == p.label)
                        .map(|(_, n)| n.clone());
                }
            }
            if a.json {
                return print_json(&s);
            }
            print_view(&s.applied, "against the truth, applied alignment shifts:");
            if let Some(i) = &s.ideal {
                print_view(i, "against the truth, ideal alignment:");
            }
            let p = &s.porosity;
            println!(
                "porosity: segmented {:.4}, truth (same region) {:.4}, error {:+.4}; truth whole volume {:.4}",
                p.segmented, p.truth_same_region, p.error, p.truth_whole_volume
            );
            Ok(())
        }
        (Some(_), Some(_)) => bail!("give REF or --synth DIR, not both"),
        (None, None) => {
            bail!("give a reference label volume REF, or --synth DIR with --results results.json")
        }
    }
}
