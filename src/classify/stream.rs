//! Streamed classification: slabs of slices read with a [`SliceReader`], classified with their
//! halo of slices behind, written slab by slab (labels, and optionally probabilities). Peak
//! memory: one slab plus its halo of input slices, and per worker thread the feature planes of
//! the slice it classifies. The result equals [`super::classify_volume`] on the whole stack.

use super::{check_compatible, classify_slab, slab_bounds, ApplyOptions, ClassifyError, Model};
use crate::io::stream::{SliceReader, SliceWriter};
use crate::io::tiff::TiffWriteOptions;
use crate::progress::Progress;
use crate::volume::{GreyData, SampleType};
use ndarray::{Array3, Axis};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// What a classification produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifySummary {
    /// Shape `[z, y, x]` of the classified stack.
    pub shape: [usize; 3],
    /// Voxel size `[dz, dy, dx]` in nm.
    pub voxel_nm: [f64; 3],
    /// `(label, name, voxels, fraction)` per phase.
    pub phases: Vec<PhaseCount>,
    /// Mean of the winning class probability (1 = every vote unanimous).
    pub mean_confidence: f64,
    /// Files written.
    pub outputs: Vec<PathBuf>,
}

/// Voxels of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseCount {
    /// Label value.
    pub label: u8,
    /// Phase name.
    pub name: String,
    /// Voxels classified as this phase.
    pub voxels: u64,
    /// Fraction of all voxels (unit "1").
    pub fraction: f64,
}

/// `P.tif` → `P_<label>.tif` (per-class probability files beside the confidence map).
pub fn class_path(p: &Path, label: u8) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match p.extension() {
        Some(e) => format!("{stem}_{label}.{}", e.to_string_lossy()),
        None => format!("{stem}_{label}"),
    };
    p.with_file_name(name)
}

/// Counts of the labels of `model` in `labels`, and the summary.
pub fn summarise(
    counts: &[u64],
    model: &Model,
    shape: [usize; 3],
    voxel_nm: [f64; 3],
    conf_sum: f64,
    outputs: Vec<PathBuf>,
) -> ClassifySummary {
    let n = (shape[0] * shape[1] * shape[2]).max(1) as f64;
    ClassifySummary {
        shape,
        voxel_nm,
        phases: model
            .header
            .phases
            .iter()
            .map(|p| PhaseCount {
                label: p.label,
                name: p.name.clone(),
                voxels: counts[p.label as usize],
                fraction: counts[p.label as usize] as f64 / n,
            })
            .collect(),
        mean_confidence: conf_sum / n,
        outputs,
    }
}

/// Classify the stack of `reader` into `out` (labels, u8); with `probs`, also the confidence map
/// (winning probability, f32) there and one probability volume per class at
/// [`class_path`]`(probs, label)`. Every output is atomic.
pub fn classify_stream(
    reader: &mut SliceReader,
    out: &Path,
    probs: Option<&Path>,
    model: &Model,
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ClassifySummary, ClassifyError> {
    check_compatible(model, &reader.voxel(), reader.sample_type(), opts)?;
    let shape = reader.shape();
    let [nz, ny, nx] = shape;
    let voxel = reader.voxel();
    let meta = reader.meta().clone();
    let tw = TiffWriteOptions::default();
    let mut w = SliceWriter::create(out, shape, SampleType::U8, voxel, meta.clone(), &tw)?;
    let mut outputs = vec![out.to_path_buf()];
    let mut pw: Vec<SliceWriter> = Vec::new();
    if let Some(p) = probs {
        pw.push(SliceWriter::create(
            p,
            shape,
            SampleType::F32,
            voxel,
            meta.clone(),
            &tw,
        )?);
        outputs.push(p.to_path_buf());
        for ph in &model.header.phases {
            let q = class_path(p, ph.label);
            pw.push(SliceWriter::create(
                &q,
                shape,
                SampleType::F32,
                voxel,
                meta.clone(),
                &tw,
            )?);
            outputs.push(q);
        }
    }
    let f = &model.header.features;
    let halo = f.halo_slices();
    let slab = crate::stream::slab_len(ny, nx);
    reader.rewind()?;
    let mut buf: VecDeque<ndarray::Array2<f32>> = VecDeque::new();
    let mut b0 = 0usize; // absolute index of buf[0]
    let mut counts = vec![0u64; 256];
    let mut conf_sum = 0.0f64;
    progress.start("classify", nz as u64);
    let mut z0 = 0;
    while z0 < nz {
        let z1 = (z0 + slab).min(nz);
        let (lo, hi) = slab_bounds(z0, z1, nz, halo, f.depth_reverse);
        while b0 + buf.len() < hi {
            let s = reader.next_slab(1)?.ok_or_else(|| {
                ClassifyError::Training(format!("{}: ended early", reader.path().display()))
            })?;
            buf.push_back(crate::preprocess::denoise::slice_f32(&s.data, 0));
        }
        while b0 < lo {
            buf.pop_front();
            b0 += 1;
        }
        let mut a = Array3::<f32>::zeros((hi - lo, ny, nx));
        for (k, mut s) in a.axis_iter_mut(Axis(0)).enumerate() {
            s.assign(&buf[lo + k - b0]);
        }
        let (lab, pr) = classify_slab(a.view(), lo, z0..z1, nz, &voxel, model, probs.is_some())?;
        for &l in lab.iter() {
            counts[l as usize] += 1;
        }
        if let Some(pr) = pr {
            let mut c = Array3::<f32>::zeros(lab.raw_dim());
            for p in &pr {
                ndarray::Zip::from(&mut c)
                    .and(p)
                    .for_each(|a, &b| *a = a.max(b));
            }
            conf_sum += c.iter().map(|&v| v as f64).sum::<f64>();
            pw[0].write_slab(&GreyData::F32(c))?;
            for (wr, p) in pw[1..].iter_mut().zip(pr) {
                wr.write_slab(&GreyData::F32(p))?;
            }
        }
        w.write_slab(&GreyData::U8(lab))?;
        progress.inc((z1 - z0) as u64);
        z0 = z1;
    }
    progress.finish();
    w.finish()?;
    for wr in pw {
        wr.finish()?;
    }
    if probs.is_none() {
        conf_sum = f64::NAN;
    }
    Ok(summarise(
        &counts, model, shape, voxel.nm, conf_sum, outputs,
    ))
}
