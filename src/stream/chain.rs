//! The out-of-core chain (issue 7): folder of slices → align → destripe → 2-D Gaussian → 2-D
//! top-hat → threshold, streamed slab by slab into a bit-packed pore mask ([`BitVolume`]), then
//! porosity and its z-profile (counted while streaming), percolation of the pore phase (slab-wise
//! labelling merged by union–find, [`super::perc`]) and random-walk τ on the packed mask.
//!
//! Memory: a few slabs of slices (f32) plus the mask (one bit per voxel) plus one labelled slab.
//! Every number equals the in-memory functions run on the whole volume (tests below).
//!
//! Passes over the input: alignment estimate (if aligning), histogram (Otsu only; twice when the
//! filtered data are f32: range, then counts), then the filtering/threshold pass.

use super::perc::{percolation_packed, slab_for, PackedPercolation};
use super::{slab_len, streamed_histogram};
use crate::error::{Error, ParamError};
use crate::io::stream::{SliceReader, SliceWriter};
use crate::io::tiff::TiffWriteOptions;
use crate::metrics::components::Connectivity;
use crate::metrics::tortuosity::random_walk::{
    mean_chord_packed, tortuosity_rw_packed, PackedPhase, RandomWalkOptions,
};
use crate::metrics::tortuosity::TortuosityResult;
use crate::preprocess::align::{apply_shifts_slab, AlignParams, CropRegion};
use crate::preprocess::denoise::{gaussian_volume_as, Dims, GaussianParams};
use crate::preprocess::destripe::{destripe_volume_as, DestripeParams};
use crate::preprocess::tophat::{tophat_volume, TophatParams};
use crate::progress::Progress;
use crate::segment::threshold::class_of;
use crate::volume::BitVolume;
use crate::volume::{GreyData, GreyVolume, SampleType};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// How the threshold is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdSpec {
    /// A grey value of the filtered data.
    Manual(f64),
    /// Otsu on the full-volume histogram of the filtered data (an extra pass).
    Otsu,
}

/// Parameters of the chain. Steps set to `None` are skipped.
#[derive(Debug, Clone)]
pub struct ChainParams {
    /// Drift alignment (two streamed passes: estimate, then apply); `None` = skip.
    pub align: Option<AlignParams>,
    /// Curtain destriping of every slice; `None` = skip.
    pub destripe: Option<DestripeParams>,
    /// Must be 2-D.
    pub gaussian: Option<GaussianParams>,
    /// Must be 2-D.
    pub tophat: Option<TophatParams>,
    /// How the pore threshold is found (given value or Otsu on the filtered data).
    pub threshold: ThresholdSpec,
    /// Pores are the voxels at or below the threshold (dark; default) — else above it.
    pub pore_below: bool,
    /// Connectivity of the percolation analysis.
    pub connectivity: Connectivity,
    /// Random-walk τ of the pore phase along these axes (0 = z, 1 = y, 2 = x), if any.
    pub random_walk: Option<(RandomWalkOptions, Vec<usize>)>,
    /// Also write the label volume (u8: class 0 at or below the threshold, 1 above).
    pub labels_out: Option<PathBuf>,
    /// Voxels per labelled slab in the percolation step.
    pub label_slab_voxels: usize,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            align: None,
            destripe: None,
            gaussian: None,
            tophat: None,
            threshold: ThresholdSpec::Otsu,
            pore_below: true,
            connectivity: Connectivity::TwentySix,
            random_walk: None,
            labels_out: None,
            label_slab_voxels: 32 << 20,
        }
    }
}

/// Wall time of each phase (s).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainTimings {
    /// Estimating the drift (alignment's first pass).
    pub align_estimate_s: f64,
    /// Building the full-volume histogram (Otsu only).
    pub histogram_s: f64,
    /// Filtering and thresholding slab by slab.
    pub filter_threshold_s: f64,
    /// Labelling the packed pore mask and classifying percolation.
    pub percolation_s: f64,
    /// Random-walk tortuosity.
    pub random_walk_s: f64,
    /// The whole chain.
    pub total_s: f64,
}

/// What `fibstack pipeline --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The input path, as given.
    pub input: String,
    /// `[nz, ny, nx]` after alignment cropping.
    pub shape: [usize; 3],
    /// Voxel size `[dz, dy, dx]` (nm) used.
    pub voxel_size_nm: [f64; 3],
    /// Unit of lengths: `"nm"` when the voxel size is calibrated, `"voxel"` otherwise.
    pub length_unit: String,
    /// Every step that ran, in order, in words (with its parameters).
    pub steps: Vec<String>,
    /// Common region of the alignment (when aligned).
    pub align_crop: Option<CropRegion>,
    /// Largest applied shift `[dy, dx]` px (when aligned).
    pub align_max_abs_shift_px: Option<[f64; 2]>,
    /// The threshold applied (grey value of the filtered data).
    pub threshold: f64,
    /// How the threshold was found (`"manual"` or `"otsu"`).
    pub threshold_method: String,
    /// Unit of `threshold`: `"grey value"`.
    pub threshold_unit: String,
    /// `"at or below threshold"` or `"above threshold"`.
    pub pore_class: String,
    /// Pore voxels / all voxels (dimensionless).
    pub porosity: f64,
    /// Voxels classified as pore.
    pub pore_voxels: u64,
    /// Voxels in the (cropped) volume.
    pub n_voxels: u64,
    /// Pore fraction of each z-slice (dimensionless), index = slice.
    pub porosity_profile_z: Vec<f64>,
    /// Position of each slice along z (nm, slice index × dz).
    pub profile_z_nm: Vec<f64>,
    /// Components and percolation of the pore phase along z, y, x.
    pub percolation: PackedPercolation,
    /// Random-walk tortuosity of the pore phase (τ dimensionless).
    pub tortuosity: Option<Vec<TortuosityResult>>,
    /// Bytes of the bit-packed pore mask.
    pub mask_bytes: usize,
    /// Wall time of each pass (s).
    pub timings: ChainTimings,
}

/// The per-slab filter chain (everything before the threshold), on slices `z0..`.
pub struct SlabFilter<'a> {
    /// The chain parameters (which filters run, with what settings).
    pub p: &'a ChainParams,
    /// Per-slice alignment shifts `[dy, dx]` (px) and the common region to crop to, when aligning.
    pub shifts: Option<(&'a [[f64; 2]], CropRegion)>,
}

impl SlabFilter<'_> {
    /// Filter one slab (the in-memory functions on a short volume).
    pub fn apply(&self, z0: usize, slab: &GreyVolume) -> Result<GreyVolume, Error> {
        let mut v = slab.clone();
        if let (Some(a), Some((sh, region))) = (&self.p.align, &self.shifts) {
            let n = v.shape()[0];
            v.data = apply_shifts_slab(&v.data, &sh[z0..z0 + n], a, *region);
        }
        if let Some(d) = &self.p.destripe {
            v = destripe_volume_as(&v, d, SampleType::F32)?.0;
        }
        if let Some(g) = &self.p.gaussian {
            v = gaussian_volume_as(&v, g, SampleType::F32)?;
        }
        if let Some(t) = &self.p.tophat {
            v = tophat_volume(&v, t)?;
        }
        Ok(v)
    }

    /// Sample type after the filters.
    pub fn out_type(&self, input: SampleType) -> SampleType {
        if self.p.destripe.is_some() || self.p.gaussian.is_some() {
            SampleType::F32
        } else {
            input
        }
    }
}

fn validate(p: &ChainParams) -> Result<(), ParamError> {
    if let Some(d) = &p.destripe {
        d.validate()?;
    }
    if let Some(g) = &p.gaussian {
        g.validate()?;
        if g.dims != Dims::TwoD {
            return Err(ParamError::new(
                "gaussian dims",
                "3d",
                "the chain streams 2-D filters only",
            ));
        }
    }
    if let Some(t) = &p.tophat {
        t.validate()?;
        if t.dims != Dims::TwoD {
            return Err(ParamError::new(
                "tophat dims",
                "3d",
                "the chain streams 2-D filters only",
            ));
        }
    }
    if let ThresholdSpec::Manual(t) = p.threshold {
        if !t.is_finite() {
            return Err(ParamError::new(
                "threshold",
                t,
                "must be a finite grey value",
            ));
        }
    }
    if let Some((o, axes)) = &p.random_walk {
        o.validate()?;
        if axes.is_empty() || axes.iter().any(|&a| a > 2) {
            return Err(ParamError::new(
                "random-walk axes",
                format!("{axes:?}"),
                "give axes among z, y, x",
            ));
        }
    }
    Ok(())
}

/// Run the chain on `reader` (see the module docs).
pub fn run_chain(
    reader: SliceReader,
    p: &ChainParams,
    progress: &dyn Progress,
) -> Result<(ChainReport, BitVolume), Error> {
    validate(p)?;
    let t_all = Instant::now();
    let mut timings = ChainTimings::default();
    let [nz, ny, nx] = reader.shape();
    let voxel = reader.voxel();
    voxel.validate()?;
    let input = reader.path().display().to_string();
    // pass 1: drift
    let t = Instant::now();
    let (mut reader, shifts, region, max_shift) = match &p.align {
        Some(a) => {
            let (
                super::DriftPass {
                    shifts: sh, region, ..
                },
                reader,
            ) = super::drift_pass(reader, a, progress)?;
            let m = sh.iter().fold([0.0f64, 0.0f64], |m, s| {
                [m[0].max(s[0].abs()), m[1].max(s[1].abs())]
            });
            (reader, Some(sh), Some(region), Some(m))
        }
        None => (reader, None, None, None),
    };
    timings.align_estimate_s = t.elapsed().as_secs_f64();
    let filt = SlabFilter {
        p,
        shifts: shifts.as_deref().zip(region),
    };
    let (oy, ox) = region.map_or((ny, nx), |r| (r.height, r.width));
    let slab = slab_len(ny, nx);
    // pass 2: histogram (Otsu)
    let t = Instant::now();
    let (threshold, method) = match p.threshold {
        ThresholdSpec::Manual(v) => (v, "manual"),
        ThresholdSpec::Otsu => {
            let st = filt.out_type(reader.sample_type());
            let h = streamed_histogram(st, 256, |f| {
                reader.rewind()?;
                while let Some(s) = reader.next_slab(slab)? {
                    let z0 = reader.position() - s.shape()[0];
                    f(&filt.apply(z0, &s)?.data)?;
                }
                Ok(())
            })?
            .ok_or_else(|| ParamError::new("volume", "empty", "has no voxels"))?;
            (crate::segment::otsu::otsu(&h), "otsu")
        }
    };
    timings.histogram_s = t.elapsed().as_secs_f64();
    // pass 3: filter, threshold, pack
    let t = Instant::now();
    let pore_class = if p.pore_below { 0 } else { 1 };
    let mut mask = BitVolume::zeros([nz, oy, ox]);
    let mut writer = match &p.labels_out {
        Some(path) => Some(SliceWriter::create(
            path,
            [nz, oy, ox],
            SampleType::U8,
            voxel,
            reader.meta().clone(),
            &TiffWriteOptions::default(),
        )?),
        None => None,
    };
    reader.rewind()?;
    progress.start("filter + threshold", nz as u64);
    let th = [threshold];
    while let Some(s) = reader.next_slab(slab)? {
        let z0 = reader.position() - s.shape()[0];
        let f = filt.apply(z0, &s)?;
        macro_rules! pack {
            ($a:expr) => {
                mask.set_slab(z0, $a.view(), |v| class_of(v as f64, &th) == pore_class)
            };
        }
        match &f.data {
            GreyData::U8(a) => pack!(a),
            GreyData::U16(a) => pack!(a),
            GreyData::F32(a) => pack!(a),
        }
        if let Some(w) = writer.as_mut() {
            w.write_slab(&super::label_slab(&f.data, &th, &[0, 1]))?;
        }
        progress.inc(s.shape()[0] as u64);
    }
    progress.finish();
    if let Some(w) = writer {
        w.finish()?;
    }
    drop(reader);
    timings.filter_threshold_s = t.elapsed().as_secs_f64();
    let counts = mask.slice_counts();
    let pore_voxels: u64 = counts.iter().sum();
    let n_voxels = (nz * oy * ox) as u64;
    let per = (oy * ox) as f64;
    // percolation
    let t = Instant::now();
    let lslab = slab_for(oy, ox, p.label_slab_voxels);
    let perc = percolation_packed(&mask, p.connectivity, lslab)?;
    timings.percolation_s = t.elapsed().as_secs_f64();
    // random walk
    let t = Instant::now();
    let tortuosity = match &p.random_walk {
        Some((opts, axes)) => {
            let six = if p.connectivity == Connectivity::Six {
                perc.clone()
            } else {
                percolation_packed(&mask, Connectivity::Six, lslab)?
            };
            let packed = PackedPhase {
                words: mask.words(),
                shape: mask.shape(),
                phase: pore_class as u8,
                phase_voxels: pore_voxels,
                percolating_voxels: [
                    six.axes[0].percolating_voxels,
                    six.axes[1].percolating_voxels,
                    six.axes[2].percolating_voxels,
                ],
                mean_chord_nm: mean_chord_packed(mask.words(), mask.shape(), voxel.nm),
            };
            Some(tortuosity_rw_packed(&packed, voxel.nm, axes, opts, progress)?.results)
        }
        None => None,
    };
    timings.random_walk_s = t.elapsed().as_secs_f64();
    timings.total_s = t_all.elapsed().as_secs_f64();
    let mut steps = Vec::new();
    if p.align.is_some() {
        steps.push("align (phase correlation, streamed two-pass)".to_string());
    }
    if let Some(d) = &p.destripe {
        steps.push(format!(
            "destripe ({}{}, per slice)",
            d.method.name(),
            if d.material_aware {
                ", material only"
            } else {
                ""
            }
        ));
    }
    if let Some(g) = &p.gaussian {
        steps.push(format!(
            "gaussian 2-D sigma {:?} nm{}",
            g.sigma_nm,
            match g.method {
                crate::preprocess::denoise::GaussianMethod::Exact => "",
                crate::preprocess::denoise::GaussianMethod::Recursive =>
                    " (recursive, Deriche 4th order)",
            }
        ));
    }
    if let Some(t) = &p.tophat {
        steps.push(format!(
            "{} top-hat 2-D radius {} nm",
            if t.black { "black" } else { "white" },
            t.radius_nm
        ));
    }
    steps.push(format!("threshold ({method}) {threshold}"));
    let report = ChainReport {
        input,
        shape: [nz, oy, ox],
        voxel_size_nm: voxel.nm,
        length_unit: if voxel.is_calibrated() { "nm" } else { "voxel" }.into(),
        steps,
        align_crop: region,
        align_max_abs_shift_px: max_shift,
        threshold,
        threshold_method: method.into(),
        threshold_unit: "grey value".into(),
        pore_class: if p.pore_below {
            "at or below threshold"
        } else {
            "above threshold"
        }
        .into(),
        porosity: pore_voxels as f64 / n_voxels as f64,
        pore_voxels,
        n_voxels,
        porosity_profile_z: counts.iter().map(|&c| c as f64 / per).collect(),
        profile_z_nm: (0..nz).map(|z| z as f64 * voxel.dz()).collect(),
        percolation: perc,
        tortuosity,
        mask_bytes: mask.bytes(),
        timings,
    };
    Ok((report, mask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{write_volume, ReadOptions};
    use crate::metrics::components::label_phase;
    use crate::metrics::connectivity::{face_touches, percolation};
    use crate::metrics::porosity::Axis;
    use crate::metrics::tortuosity::random_walk::tortuosity_rw;
    use crate::preprocess::align::align_volume;
    use crate::progress::Silent;
    use crate::segment::threshold::apply_thresholds;

    /// The chain equals the in-memory functions composed on the whole volume.
    #[test]
    fn chain_equals_in_memory_composition() {
        let dir = tempfile::tempdir().unwrap();
        let v = super::super::tests::test_stack(12, 30, 28, 9);
        let inp = dir.path().join("in");
        write_volume(&inp, &v).unwrap();
        let rw = RandomWalkOptions {
            seed: 5,
            walkers: Some(320),
            steps: Some(512),
            ..Default::default()
        };
        for (k, thr) in [ThresholdSpec::Otsu, ThresholdSpec::Manual(8.0)]
            .into_iter()
            .enumerate()
        {
            let p = ChainParams {
                align: Some(AlignParams::default()),
                destripe: Some(DestripeParams::default()),
                gaussian: Some(GaussianParams {
                    sigma_nm: [0.0, 5.0, 5.0],
                    dims: Dims::TwoD,
                    truncate: 4.0,
                    method: Default::default(),
                }),
                tophat: Some(TophatParams {
                    radius_nm: 40.0,
                    black: false,
                    dims: Dims::TwoD,
                }),
                threshold: thr,
                pore_below: true,
                connectivity: Connectivity::TwentySix,
                random_walk: Some((rw.clone(), vec![0, 2])),
                labels_out: Some(dir.path().join(format!("labels{k}.tif"))),
                label_slab_voxels: 3 * 30 * 28,
            };
            let r = SliceReader::open(&inp, &ReadOptions::default()).unwrap();
            let (rep, mask) = run_chain(r, &p, &Silent).unwrap();
            // in memory
            let whole = crate::io::read_volume(&inp, &ReadOptions::default()).unwrap();
            let (a, _) = align_volume(&whole, p.align.as_ref().unwrap(), &Silent).unwrap();
            let d = destripe_volume_as(&a, p.destripe.as_ref().unwrap(), SampleType::F32)
                .unwrap()
                .0;
            let g = gaussian_volume_as(&d, p.gaussian.as_ref().unwrap(), SampleType::F32).unwrap();
            let t = tophat_volume(&g, p.tophat.as_ref().unwrap()).unwrap();
            let th = match thr {
                ThresholdSpec::Manual(x) => x,
                ThresholdSpec::Otsu => {
                    let h = crate::segment::histogram::histogram(&t.data, 256)
                        .unwrap()
                        .unwrap();
                    crate::segment::otsu::otsu(&h)
                }
            };
            assert_eq!(rep.threshold, th);
            let labels = apply_thresholds(&t.data, &[th], &[0, 1]);
            assert_eq!(mask, BitVolume::from_labels(labels.view(), 0));
            let back =
                crate::io::read_volume(p.labels_out.as_ref().unwrap(), &ReadOptions::default())
                    .unwrap();
            assert_eq!(back.data, GreyData::U8(labels.clone()));
            let pf =
                crate::metrics::porosity::phase_fractions(labels.view(), &whole.voxel).unwrap();
            assert_eq!(rep.porosity, pf.fraction(0));
            let prof =
                crate::metrics::porosity::profile(labels.view(), Axis::Z, &whole.voxel).unwrap();
            assert_eq!(rep.porosity_profile_z, prof.fraction_of(0));
            let c = label_phase(labels.view(), 0, Connectivity::TwentySix).unwrap();
            let tt = face_touches(&c);
            let want: Vec<_> = Axis::ALL
                .iter()
                .map(|&ax| percolation(&c, &tt, ax))
                .collect();
            assert_eq!(rep.percolation.axes, want);
            assert_eq!(rep.percolation.n_components, c.count());
            let mut w = tortuosity_rw(labels.view(), 0, whole.voxel.nm, &[0, 2], &rw, &Silent)
                .unwrap()
                .results;
            let mut got = rep.tortuosity.clone().unwrap();
            for x in w.iter_mut().chain(got.iter_mut()) {
                x.time_s = 0.0;
            }
            assert_eq!(got, w);
        }
    }
}
