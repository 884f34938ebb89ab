//! Streaming drivers: run the per-slice kernels of `preprocess` and `segment` over a stack read
//! slab by slab ([`SliceReader`]) and written slab by slab ([`SliceWriter`]), so peak memory is a
//! few slices instead of the whole stack. The kernels are the in-memory ones, called on each slab
//! (a slab is just a short volume), so the results are identical to the whole-volume path.
//!
//! - per-slice filters ([`destripe`], [`gaussian_2d`], [`tophat_2d`]): one pass;
//! - [`segment`]: manual thresholds in one pass; Otsu / multi-Otsu in two (full-volume histogram
//!   streamed first, three for f32 volumes: range, histogram, labels);
//! - [`align`]: pass 1 estimates the shifts from consecutive slices through a small cache of
//!   decoded slices ([`StreamSource`]), pass 2 applies them;
//! - [`geometry`]: the plan needs only the shape, then one pass.
//!
//! [`chain`] runs the out-of-core pipeline (issue 7) on top of these.

pub mod chain;
pub mod perc;

use crate::error::{Error, ParamError};
use crate::io::stream::{SliceReader, SliceWriter};
use crate::io::tiff::TiffWriteOptions;
use crate::io::IoError;
use crate::preprocess::align::{
    apply_shifts_slab, check_shifts, estimate_drift_from, make_report, AlignParams, AlignReport,
    SliceSource,
};
use crate::preprocess::denoise::{gaussian_volume_as, Dims, GaussianParams};
use crate::preprocess::destripe::score::{score_stack, summarise, DestripeScore, ScoreParams};
use crate::preprocess::destripe::{destripe_volume_as, DestripeParams, DestripeReport};
use crate::preprocess::geometry::{geometry_plan, GeometryParams, GeometryReport};
use crate::preprocess::tophat::{tophat_volume, TophatParams};
use crate::progress::Progress;
use crate::segment::histogram::Histogram;
use crate::segment::threshold::{class_of, SegmentResult, Sensitivity, ThresholdSensitivity};
use crate::segment::{Method, SegmentParams};
use crate::volume::{GreyData, GreyVolume, SampleType, VoxelSize};
use ndarray::{Array2, Axis, CowArray, Ix2};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// Slices per slab: enough for every thread to have work twice over, at most ~256 MB of f32.
pub fn slab_len(ny: usize, nx: usize) -> usize {
    let want = (2 * rayon::current_num_threads()).max(4);
    let cap = ((256usize << 20) / (ny * nx * 4).max(1)).max(1);
    want.min(cap)
}

/// Read every slab of `reader` (from the start), call `f(z0, slab)` and write what it returns.
/// `out_shape`/`out_type`/`voxel_out` declare the output. The output is atomic.
#[allow(clippy::too_many_arguments)]
pub fn map_slabs<F>(
    reader: &mut SliceReader,
    out: &Path,
    out_shape: [usize; 3],
    out_type: SampleType,
    voxel_out: VoxelSize,
    label: &str,
    progress: &dyn Progress,
    mut f: F,
) -> Result<(), Error>
where
    F: FnMut(usize, &GreyVolume) -> Result<GreyData, Error>,
{
    let [nz, ny, nx] = reader.shape();
    reader.rewind()?;
    let mut w = SliceWriter::create(
        out,
        out_shape,
        out_type,
        voxel_out,
        reader.meta().clone(),
        &TiffWriteOptions::default(),
    )?;
    let slab = slab_len(ny, nx);
    progress.start(label, nz as u64);
    while let Some(s) = reader.next_slab(slab)? {
        let z0 = reader.position() - s.shape()[0];
        let o = f(z0, &s)?;
        w.write_slab(&o)?;
        progress.inc(s.shape()[0] as u64);
    }
    progress.finish();
    w.finish()?;
    Ok(())
}

/// Stream `fibstack destripe`: the same result and report as
/// [`crate::preprocess::destripe::destripe_volume_as`] on the whole stack.
pub fn destripe(
    reader: &mut SliceReader,
    out: &Path,
    p: &DestripeParams,
    out_type: SampleType,
    progress: &dyn Progress,
) -> Result<DestripeReport, Error> {
    Ok(destripe_scored(reader, out, p, out_type, None, progress)?.0)
}

/// [`destripe`], also scoring every output slab against its input slab when `score` is given
/// ([`crate::preprocess::destripe::score`]; the same numbers as on the whole stack).
pub fn destripe_scored(
    reader: &mut SliceReader,
    out: &Path,
    p: &DestripeParams,
    out_type: SampleType,
    score: Option<&ScoreParams>,
    progress: &dyn Progress,
) -> Result<(DestripeReport, Option<DestripeScore>), Error> {
    p.validate()?;
    if let Some(s) = score {
        s.validate()?;
    }
    if p.method == crate::preprocess::destripe::DestripeMethod::Stack {
        return destripe_stack(reader, out, p, out_type, score, progress);
    }
    let shape = reader.shape();
    if shape[0] == 0 {
        return Err(Error::NoSlices);
    }
    let mut fractions = Vec::with_capacity(shape[0]);
    let mut scores = Vec::new();
    map_slabs(
        reader,
        out,
        shape,
        out_type,
        reader.voxel(),
        "destripe",
        progress,
        |_, s| {
            let (v, r) = destripe_volume_as(s, p, out_type)?;
            fractions.extend_from_slice(&r.removed_energy_fraction);
            if let Some(sp) = score {
                scores.extend(score_stack(&s.data, &v.data, sp)?.slices);
            }
            Ok(v.data)
        },
    )?;
    Ok((
        crate::preprocess::destripe::destripe_report(p, shape[2], reader.voxel().nm, fractions),
        score.map(|sp| summarise(*sp, scores)),
    ))
}

/// The stack method in two passes over the input: the column profile of every slice (a few
/// numbers per column), then each slab minus its window averages. Memory: one slab plus
/// `nz × nx` profile values; the same output as the in-memory method.
fn destripe_stack(
    reader: &mut SliceReader,
    out: &Path,
    p: &DestripeParams,
    out_type: SampleType,
    score: Option<&ScoreParams>,
    progress: &dyn Progress,
) -> Result<(DestripeReport, Option<DestripeScore>), Error> {
    use crate::preprocess::destripe::stack::{
        average_window, average_window_masked, divide_grey, highpass_profiles, masked_profiles,
        subtract_grey,
    };
    let [nz, ny, nx] = reader.shape();
    reader.rewind()?;
    progress.start("destripe (profiles)", nz as u64);
    let mut h: Vec<Vec<f64>> = Vec::new();
    let mut hm: Vec<Vec<Option<f64>>> = Vec::new();
    while let Some(s) = reader.next_slab(slab_len(ny, nx))? {
        progress.inc(s.shape()[0] as u64);
        if p.material_aware {
            hm.extend(masked_profiles(&s.data, p)?);
        } else {
            h.extend(highpass_profiles(&s.data, p.stack_sigma_px));
        }
    }
    progress.finish();
    let v = if p.material_aware {
        average_window_masked(&hm, nx, p.stack_window, nz)
    } else {
        average_window(&h, nx, p.stack_window, nz)
    };
    let mut fractions = Vec::with_capacity(nz);
    let mut scores = Vec::new();
    map_slabs(
        reader,
        out,
        [nz, ny, nx],
        out_type,
        reader.voxel(),
        "destripe",
        progress,
        |z0, s| {
            let (d, fr) = if p.material_aware {
                divide_grey(&s.data, v.view(), z0, p, out_type)?
            } else {
                subtract_grey(&s.data, v.view(), z0, out_type)?
            };
            fractions.extend(fr);
            if let Some(sp) = score {
                scores.extend(score_stack(&s.data, &d, sp)?.slices);
            }
            Ok(d)
        },
    )?;
    Ok((
        crate::preprocess::destripe::destripe_report(p, nx, reader.voxel().nm, fractions),
        score.map(|sp| summarise(*sp, scores)),
    ))
}

/// Stream a 2-D (per-slice) Gaussian; refuses 3-D parameters.
pub fn gaussian_2d(
    reader: &mut SliceReader,
    out: &Path,
    p: &GaussianParams,
    out_type: SampleType,
    progress: &dyn Progress,
) -> Result<(), Error> {
    if p.dims != Dims::TwoD {
        return Err(
            ParamError::new("dims", "3d", "only the 2-D Gaussian streams slice by slice").into(),
        );
    }
    p.validate()?;
    reader.voxel().validate()?;
    let shape = reader.shape();
    // σ against the image before the output is created
    p.sigma_vox_for(&reader.voxel(), shape)?;
    map_slabs(
        reader,
        out,
        shape,
        out_type,
        reader.voxel(),
        "denoise",
        progress,
        |_, s| Ok(gaussian_volume_as(s, p, out_type)?.data),
    )
}

/// Stream a 2-D (disk) top-hat; refuses 3-D parameters.
pub fn tophat_2d(
    reader: &mut SliceReader,
    out: &Path,
    p: &TophatParams,
    progress: &dyn Progress,
) -> Result<(), Error> {
    if p.dims != Dims::TwoD {
        return Err(
            ParamError::new("dims", "3d", "only the 2-D top-hat streams slice by slice").into(),
        );
    }
    reader.voxel().validate()?;
    p.validate()?;
    let shape = reader.shape();
    p.footprint_for(reader.voxel().nm, shape)?;
    let st = reader.sample_type();
    map_slabs(
        reader,
        out,
        shape,
        st,
        reader.voxel(),
        "tophat",
        progress,
        |_, s| Ok(tophat_volume(s, p)?.data),
    )
}

/// Stream the geometry correction (y-stretch and y–z shear are per slice).
pub fn geometry(
    reader: &mut SliceReader,
    out: &Path,
    p: &GeometryParams,
    progress: &dyn Progress,
) -> Result<(GeometryReport, VoxelSize), Error> {
    let shape = reader.shape();
    let gp = geometry_plan(shape, reader.voxel(), reader.meta().slice_thickness_nm, p)?;
    let st = reader.sample_type();
    map_slabs(
        reader,
        out,
        [shape[0], gp.rows(), shape[2]],
        st,
        gp.voxel_out,
        "geometry",
        progress,
        |z0, s| Ok(gp.resample_slab(&s.data, z0)),
    )?;
    Ok((gp.report.clone(), gp.voxel_out))
}

// ------------------------------------------------------------------------------- alignment

struct CacheState {
    reader: SliceReader,
    slices: BTreeMap<usize, Array2<f32>>,
    error: Option<IoError>,
}

/// A [`SliceSource`] over a [`SliceReader`]: slices are decoded in z order into a small cache
/// (a window of `window` slices); a request behind the window rewinds the reader. Access is
/// serialised by a mutex; the estimators ask in chunk order, so every slice is decoded once.
pub struct StreamSource {
    state: Mutex<CacheState>,
    dim: (usize, usize, usize),
    window: usize,
}

impl StreamSource {
    /// A source over `reader` caching up to `window` decoded slices; rewinds the reader first.
    pub fn new(reader: SliceReader, window: usize) -> Result<Self, IoError> {
        let [a, b, c] = reader.shape();
        let mut reader = reader;
        reader.rewind()?;
        Ok(StreamSource {
            state: Mutex::new(CacheState {
                reader,
                slices: BTreeMap::new(),
                error: None,
            }),
            dim: (a, b, c),
            window: window.max(2),
        })
    }

    /// Give the reader back, or the first read error met.
    pub fn into_reader(self) -> Result<SliceReader, IoError> {
        let st = self.state.into_inner().map_err(|_| IoError::Invalid {
            path: Default::default(),
            detail: "slice cache poisoned".into(),
        })?;
        match st.error {
            Some(e) => Err(e),
            None => Ok(st.reader),
        }
    }

    fn fetch(st: &mut CacheState, k: usize, window: usize) -> Result<Array2<f32>, IoError> {
        if let Some(a) = st.slices.get(&k) {
            return Ok(a.clone());
        }
        if k < st.reader.position() {
            st.reader.rewind()?;
            st.slices.clear();
        }
        while st.reader.position() <= k {
            let z = st.reader.position();
            let Some(s) = st.reader.next_slab(1)? else {
                break;
            };
            let a = crate::preprocess::denoise::slice_f32(&s.data, 0);
            st.slices.insert(z, a);
            while st.slices.len() > window {
                let first = *st.slices.keys().next().unwrap_or(&0);
                st.slices.remove(&first);
            }
        }
        st.slices.get(&k).cloned().ok_or_else(|| IoError::Invalid {
            path: st.reader.path().to_path_buf(),
            detail: format!("slice {k} could not be read"),
        })
    }
}

impl SliceSource for StreamSource {
    fn dim(&self) -> (usize, usize, usize) {
        self.dim
    }
    fn slice(&self, k: usize) -> CowArray<'_, f32, Ix2> {
        let (_, ny, nx) = self.dim;
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match Self::fetch(&mut st, k, self.window) {
            Ok(a) => CowArray::from(a),
            Err(e) => {
                st.error.get_or_insert(e);
                CowArray::from(Array2::<f32>::zeros((ny, nx)))
            }
        }
    }
}

/// Pass 1 of a streamed alignment: the drift estimated from the slices as `reader` yields them
/// (neighbour pairs in parallel chunks), its cumulative shifts and the common region.
pub(crate) struct DriftPass {
    /// The estimate, as [`estimate_drift_from`] returns it.
    pub estimate: crate::preprocess::align::DriftEstimate,
    /// Cumulative `[dy, dx]` shift of each slice in pixels.
    pub shifts: Vec<[f64; 2]>,
    /// The region every shifted slice covers.
    pub region: crate::preprocess::align::CropRegion,
}

/// Run [`DriftPass`] over `reader` and hand the reader back, reopened for the next pass. Used by
/// `fibstack align` on a stream, the streamed chain and the workflow runner's streamed path.
pub(crate) fn drift_pass(
    reader: SliceReader,
    params: &AlignParams,
    progress: &dyn Progress,
) -> Result<(DriftPass, SliceReader), Error> {
    let [nz, ny, nx] = reader.shape();
    let chunk = (2 * rayon::current_num_threads()).max(4);
    let src = StreamSource::new(reader, 2 * chunk + 4)?;
    let est = estimate_drift_from(&src, params, progress);
    let reader = src.into_reader()?;
    let estimate = est?;
    let shifts: Vec<[f64; 2]> = estimate
        .slices
        .iter()
        .map(|s| [s.cum_dy_px, s.cum_dx_px])
        .collect();
    let region = check_shifts(&ShapeOnly((nz, ny, nx)), &shifts, params)?;
    Ok((
        DriftPass {
            estimate,
            shifts,
            region,
        },
        reader,
    ))
}

/// Stream `fibstack align`: pass 1 estimates the drift from the slices as they are read, pass 2
/// applies the shifts slab by slab into the common region. Same output and report as
/// [`crate::preprocess::align::align_volume`].
pub fn align(
    reader: SliceReader,
    out: &Path,
    params: &AlignParams,
    progress: &dyn Progress,
) -> Result<(AlignReport, SliceReader), Error> {
    let [nz, ny, nx] = reader.shape();
    let (
        DriftPass {
            estimate: est,
            shifts,
            region,
        },
        mut reader,
    ) = drift_pass(reader, params, progress)?;
    let st = reader.sample_type();
    let voxel = reader.voxel();
    map_slabs(
        &mut reader,
        out,
        [nz, region.height, region.width],
        st,
        voxel,
        "applying shifts",
        progress,
        |z0, s| {
            let n = s.shape()[0];
            Ok(apply_shifts_slab(
                &s.data,
                &shifts[z0..z0 + n],
                params,
                region,
            ))
        },
    )?;
    let report = make_report(
        params,
        [nz, ny, nx],
        [nz, region.height, region.width],
        region,
        est,
    );
    Ok((report, reader))
}

/// A source that only knows its shape (for checks that need nothing else).
struct ShapeOnly((usize, usize, usize));

impl SliceSource for ShapeOnly {
    fn dim(&self) -> (usize, usize, usize) {
        self.0
    }
    fn slice(&self, _k: usize) -> CowArray<'_, f32, Ix2> {
        CowArray::from(Array2::<f32>::zeros((self.0 .1, self.0 .2)))
    }
}

// ---------------------------------------------------------------------------- segmentation

/// Running full-volume histogram in skimage's binning (see `segment::histogram`), fed slab by
/// slab: integer data keeps a count per possible value and cuts it to `[min, max]` at the end;
/// f32 data needs the range first ([`FloatRange`]).
pub struct HistAcc(Acc);

enum Acc {
    Int {
        counts: Vec<u64>,
        lo: u32,
        hi: u32,
    },
    Float {
        bins: crate::segment::histogram::UniformBins,
        counts: Vec<u64>,
        lo: f32,
        hi: f32,
    },
}

impl HistAcc {
    /// For integer samples.
    pub fn int(st: SampleType) -> Self {
        let n = if st == SampleType::U8 { 256 } else { 65536 };
        HistAcc(Acc::Int {
            counts: vec![0; n],
            lo: u32::MAX,
            hi: 0,
        })
    }
    /// For f32 samples with the volume's range already known.
    pub fn float(lo: f32, hi: f32, nbins: usize) -> Self {
        HistAcc(Acc::Float {
            bins: crate::segment::histogram::UniformBins::new(lo, hi, nbins),
            counts: vec![0; nbins],
            lo,
            hi,
        })
    }
    /// Count the values of one slab. A slab of the other kind than the accumulator (integer data
    /// into an f32 accumulator or the reverse) is ignored.
    pub fn add(&mut self, data: &GreyData) {
        match (&mut self.0, data) {
            (Acc::Int { counts, lo, hi }, GreyData::U8(a)) => {
                for &v in a.iter() {
                    counts[v as usize] += 1;
                    *lo = (*lo).min(v as u32);
                    *hi = (*hi).max(v as u32);
                }
            }
            (Acc::Int { counts, lo, hi }, GreyData::U16(a)) => {
                for &v in a.iter() {
                    counts[v as usize] += 1;
                    *lo = (*lo).min(v as u32);
                    *hi = (*hi).max(v as u32);
                }
            }
            (Acc::Float { bins, counts, .. }, GreyData::F32(a)) => {
                for &v in a.iter() {
                    counts[bins.index(v)] += 1;
                }
            }
            _ => {}
        }
    }
    /// The histogram ([`crate::segment::histogram::histogram`] of the whole volume).
    pub fn finish(self) -> Option<Histogram> {
        match self.0 {
            Acc::Int { counts, lo, hi } => {
                if lo > hi {
                    return None;
                }
                Some(Histogram {
                    counts: counts[lo as usize..=hi as usize].to_vec(),
                    centers: (lo..=hi).map(|v| v as f64).collect(),
                    binning: "integer",
                    min: lo as f64,
                    max: hi as f64,
                })
            }
            Acc::Float {
                bins,
                counts,
                lo,
                hi,
            } => Some(Histogram {
                counts,
                centers: bins.centers(),
                binning: "uniform",
                min: lo as f64,
                max: hi as f64,
            }),
        }
    }
}

/// Range of f32 data, refusing NaN/∞ like the in-memory histogram.
pub fn float_range(data: &GreyData, acc: &mut (f32, f32)) -> Result<(), ParamError> {
    if let GreyData::F32(a) = data {
        for &v in a.iter() {
            if !v.is_finite() {
                return Err(ParamError::new(
                    "grey value",
                    v,
                    "the volume holds NaN or infinite values; replace them (e.g. crop) before thresholding",
                ));
            }
            acc.0 = acc.0.min(v);
            acc.1 = acc.1.max(v);
        }
    }
    Ok(())
}

/// Counts per class for the nominal thresholds and every ±δ variant (streamed).
struct ClassCounts {
    sets: Vec<Vec<f64>>,
    counts: Vec<Vec<u64>>,
    range: (f64, f64),
}

impl ClassCounts {
    fn new(sets: Vec<Vec<f64>>) -> Self {
        let counts = sets.iter().map(|t| vec![0u64; t.len() + 1]).collect();
        ClassCounts {
            sets,
            counts,
            range: (f64::INFINITY, f64::NEG_INFINITY),
        }
    }
    fn add(&mut self, data: &GreyData) {
        fn go<T: Copy + Into<f64>>(a: &ndarray::Array3<T>, s: &mut ClassCounts) {
            for &v in a.iter() {
                let v: f64 = v.into();
                s.range.0 = s.range.0.min(v);
                s.range.1 = s.range.1.max(v);
                for (t, c) in s.sets.iter().zip(s.counts.iter_mut()) {
                    c[class_of(v, t)] += 1;
                }
            }
        }
        match data {
            GreyData::U8(a) => go(a, self),
            GreyData::U16(a) => go(a, self),
            GreyData::F32(a) => go(a, self),
        }
    }
    fn fractions(&self, i: usize) -> Vec<f64> {
        let c = &self.counts[i];
        let n: u64 = c.iter().sum();
        c.iter()
            .map(|&x| if n > 0 { x as f64 / n as f64 } else { 0.0 })
            .collect()
    }
}

/// Label one slab with thresholds (the in-memory `apply_thresholds`).
pub fn label_slab(data: &GreyData, thresholds: &[f64], labels: &[u8]) -> GreyData {
    GreyData::U8(crate::segment::threshold::apply_thresholds(
        data, thresholds, labels,
    ))
}

/// Histogram of everything `pass` feeds (three kinds of sample): `pass(f)` must call `f` on
/// every slab of the volume, in any order; it is called twice for f32 data (range, then counts).
pub fn streamed_histogram<P>(
    st: SampleType,
    nbins: usize,
    mut pass: P,
) -> Result<Option<Histogram>, Error>
where
    P: FnMut(&mut dyn FnMut(&GreyData) -> Result<(), Error>) -> Result<(), Error>,
{
    if nbins < 2 {
        return Err(ParamError::new("nbins", nbins, "must be at least 2").into());
    }
    let mut acc = match st {
        SampleType::F32 => {
            let mut r = (f32::INFINITY, f32::NEG_INFINITY);
            pass(&mut |d| float_range(d, &mut r).map_err(Error::from))?;
            if r.0 > r.1 {
                return Ok(None);
            }
            HistAcc::float(r.0, r.1, nbins)
        }
        _ => HistAcc::int(st),
    };
    pass(&mut |d| {
        acc.add(d);
        Ok(())
    })?;
    Ok(acc.finish())
}

/// Stream `fibstack segment`: the same labels and [`SegmentResult`] as
/// [`crate::segment::segment_volume`].
pub fn segment(
    reader: &mut SliceReader,
    out: &Path,
    params: &SegmentParams,
    progress: &dyn Progress,
) -> Result<SegmentResult, Error> {
    let shape = reader.shape();
    let mut w = SliceWriter::create(
        out,
        shape,
        SampleType::U8,
        reader.voxel(),
        reader.meta().clone(),
        &TiffWriteOptions::default(),
    )?;
    let r = segment_slabs(reader, params, progress, |_, l| {
        w.write_slab(&l)?;
        Ok(())
    })?;
    w.finish()?;
    Ok(r)
}

/// [`segment`] handing each labelled slab to `sink(z0, labels)` (in z order) instead of writing
/// a file: the same labels and [`SegmentResult`] as [`crate::segment::segment_volume`].
/// Progress: the histogram passes (when the method needs them) and the labelling pass, in slices.
pub fn segment_slabs<F>(
    reader: &mut SliceReader,
    params: &SegmentParams,
    progress: &dyn Progress,
    mut sink: F,
) -> Result<SegmentResult, Error>
where
    F: FnMut(usize, GreyData) -> Result<(), Error>,
{
    params.validate()?;
    let [nz, ny, nx] = reader.shape();
    let st = reader.sample_type();
    let slab = slab_len(ny, nx);
    let hist = if params.method == Method::Manual {
        None
    } else {
        let h = streamed_histogram(st, params.nbins, |f| {
            reader.rewind()?;
            progress.start("segment: histogram", nz as u64);
            while let Some(s) = reader.next_slab(slab)? {
                f(&s.data)?;
                progress.inc(s.shape()[0] as u64);
            }
            progress.finish();
            Ok(())
        })?
        .ok_or_else(|| ParamError::new("volume", "empty", "has no voxels; nothing to threshold"))?;
        Some(h)
    };
    let thresholds = match &hist {
        Some(h) => crate::segment::threshold::thresholds_from_hist(h, params)?,
        None => params.thresholds.clone(),
    };
    let k = thresholds.len() + 1;
    let labels = crate::segment::threshold::class_labels(params, k)?;
    // nominal thresholds and the ±δ variants, counted in the labelling pass
    let d = params.sensitivity;
    let mut sets = vec![thresholds.clone()];
    if d > 0.0 {
        for i in 0..thresholds.len() {
            let mut lo = thresholds.clone();
            lo[i] -= d;
            let mut hi = thresholds.clone();
            hi[i] += d;
            lo.sort_by(|a, b| a.total_cmp(b));
            hi.sort_by(|a, b| a.total_cmp(b));
            sets.push(lo);
            sets.push(hi);
        }
    }
    let mut cc = ClassCounts::new(sets);
    reader.rewind()?;
    progress.start("segment", nz as u64);
    while let Some(s) = reader.next_slab(slab)? {
        let z0 = reader.position() - s.shape()[0];
        cc.add(&s.data);
        sink(z0, label_slab(&s.data, &thresholds, &labels))?;
        progress.inc(s.shape()[0] as u64);
    }
    progress.finish();
    let fractions = cc.fractions(0);
    let sensitivity = (d > 0.0).then(|| {
        let mut band: Vec<[f64; 2]> = fractions.iter().map(|&f| [f, f]).collect();
        let per = (0..thresholds.len())
            .map(|i| {
                let fm = cc.fractions(1 + 2 * i);
                let fp = cc.fractions(2 + 2 * i);
                for (b, (&a, &c)) in band.iter_mut().zip(fm.iter().zip(fp.iter())) {
                    b[0] = b[0].min(a).min(c);
                    b[1] = b[1].max(a).max(c);
                }
                ThresholdSensitivity {
                    threshold_index: i,
                    threshold_minus: thresholds[i] - d,
                    threshold_plus: thresholds[i] + d,
                    fractions_minus: fm,
                    fractions_plus: fp,
                }
            })
            .collect();
        Sensitivity {
            delta: d,
            per_threshold: per,
            fraction_band: band,
        }
    });
    SegmentResult::assemble(
        params,
        crate::segment::threshold::Assembled {
            thresholds,
            labels,
            fractions,
            sensitivity,
            hist: hist.as_ref(),
            sample_type: st.as_str(),
            voxel_size_nm: reader.voxel().nm,
        },
        || cc.range,
    )
    .map_err(Error::from)
}

/// Slices of a volume along z as f32 (for callers holding a slab).
pub fn slab_slice_f32(data: &GreyData, k: usize) -> Array2<f32> {
    match data {
        GreyData::U8(a) => a.index_axis(Axis(0), k).mapv(|v| v as f32),
        GreyData::U16(a) => a.index_axis(Axis(0), k).mapv(|v| v as f32),
        GreyData::F32(a) => a.index_axis(Axis(0), k).to_owned(),
    }
}

#[cfg(test)]
mod tests;
