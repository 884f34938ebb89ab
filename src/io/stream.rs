//! Slice streaming: read a stack a few slices at a time, write it slice by slice.
//!
//! [`SliceReader`] iterates the z-slices of a folder of 2-D TIFFs or of a multi-page TIFF without
//! holding more than the slab asked for, honouring every [`ReadOptions`] field the whole-volume
//! reader honours (glob pattern, slice range, crop, data bar, voxel-size metadata, size limit per
//! slab). Other formats (`.npy`, raw, `.vti`, PNG) are read whole and then served slab by slab, so
//! callers need only one code path.
//!
//! [`SliceWriter`] writes slabs in z order to a folder of per-slice TIFFs or to one multi-page
//! (Big)TIFF, atomically: everything goes to a hidden temporary name beside the target, which is
//! renamed into place by [`SliceWriter::finish`]; on error or when the writer is dropped without
//! `finish`, the temporary output is removed and the target is untouched. Other output formats are
//! collected in memory and written by `finish` through [`super::write_volume`].
//!
//! Read back, the output equals what [`super::write_volume`] writes for the same volume (data,
//! voxel size, ImageJ spacing and display range).

use super::folder::{list_slices, read_slice_file};
use super::tiff::{
    check_same_page, imagej_description_parts, needs_bigtiff, page_tags, read_pages, stack_pages,
    write_page, write_tiff_to, Page, PageDecoder, PageType, TiffWriteOptions,
};
use super::{check_budget, settle_calibration, Format, IoError, ReadOptions};
use crate::volume::{GreyData, GreyVolume, Metadata, SampleType, VoxelSize};
use ndarray::{s, Axis};
use rayon::prelude::*;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tiff::encoder::{colortype, TiffEncoder, TiffKindBig, TiffKindStandard};

enum Source {
    /// One file per slice (already filtered, sorted and range-cut).
    Files(Vec<PathBuf>),
    /// One multi-page TIFF; `fresh` = the decoder sits on a page not decoded yet.
    Pages {
        dec: Box<PageDecoder>,
        fresh: bool,
        first_page: usize,
    },
    /// A Zarr / OME-Zarr image, read by slabs of slices.
    #[cfg(feature = "zarr")]
    Zarr(Box<super::zarr::ZarrImage>),
    /// Any other format, read whole.
    Memory(GreyData),
}

/// Streaming reader of the z-slices of a stack. See the module docs.
pub struct SliceReader {
    path: PathBuf,
    opts: ReadOptions,
    shape: [usize; 3],
    sample: SampleType,
    voxel: VoxelSize,
    meta: Metadata,
    /// Next slice (0-based, after the slice range) to be returned.
    pos: usize,
    src: Source,
}

impl SliceReader {
    /// Open `path` and learn shape, sample type, voxel size and metadata (reads the first slice
    /// of a folder / the IFDs of a multi-page TIFF, not the pixel data).
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self, IoError> {
        if !path.exists() {
            return Err(IoError::os(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            ));
        }
        let streamed = match Format::of(path)? {
            Format::Folder => Self::open_folder(path, opts)?,
            Format::Tiff | Format::OmeTiff if !super::tiff::is_multi_plane_ome(path, opts) => {
                Self::open_tiff(path, opts)?
            }
            #[cfg(feature = "zarr")]
            Format::Zarr => Self::open_zarr(path, opts)?,
            _ => None,
        };
        let mut r = match streamed {
            Some(r) => r,
            // other formats, and integer TIFFs (their sample type follows from every value)
            None => {
                let v = super::read_volume(path, opts)?;
                SliceReader {
                    path: path.to_path_buf(),
                    opts: opts.clone(),
                    shape: v.shape(),
                    sample: v.sample_type(),
                    voxel: v.voxel,
                    meta: v.meta,
                    pos: 0,
                    src: Source::Memory(v.data),
                }
            }
        };
        if !matches!(r.src, Source::Memory(_)) {
            let container = r.meta.container.clone();
            settle_calibration(
                &mut r.voxel,
                r.shape[0],
                container.as_deref(),
                &mut r.meta.warnings,
            );
        }
        Ok(r)
    }

    /// A Zarr image whose sample type does not depend on its values is streamed; integer
    /// arrays narrowed after reading every value are read whole (`None`).
    #[cfg(feature = "zarr")]
    fn open_zarr(path: &Path, opts: &ReadOptions) -> Result<Option<Self>, IoError> {
        let img = super::zarr::ZarrImage::open(path, opts)?;
        let Some(sample) = img.sample_type() else {
            return Ok(None);
        };
        Ok(Some(SliceReader {
            path: path.to_path_buf(),
            opts: opts.clone(),
            shape: img.shape(),
            sample,
            voxel: img.voxel,
            meta: img.meta.clone(),
            pos: 0,
            src: Source::Zarr(Box::new(img)),
        }))
    }

    fn open_folder(dir: &Path, opts: &ReadOptions) -> Result<Option<Self>, IoError> {
        let (files, notes) = list_slices(dir, opts)?;
        let per_file = ReadOptions {
            slices: None,
            ..opts.clone()
        };
        let first = read_slice_file(dir, &files[0], &per_file)?;
        let Some(sample) = first.pages[0].page_type().sample() else {
            return Ok(None);
        };
        let mut meta = first.info.meta.clone();
        let z = super::folder::folder_z_positions(&files);
        let voxel = super::tiff::calibrate(
            &first.info,
            [1, first.full_dims[0], first.full_dims[1]],
            opts,
            z.as_deref(),
            &mut meta,
        );
        meta.slice_thickness_nm = first.info.spacing_nm;
        meta.warnings.extend(notes);
        meta.source_files = files.clone();
        Ok(Some(SliceReader {
            path: dir.to_path_buf(),
            opts: opts.clone(),
            shape: [files.len(), first.dims[0], first.dims[1]],
            sample,
            voxel,
            meta,
            pos: 0,
            src: Source::Files(files),
        }))
    }

    fn open_tiff(path: &Path, opts: &ReadOptions) -> Result<Option<Self>, IoError> {
        // count the pages (IFDs only)
        let n_pages = PageDecoder::open(path, opts)?.scan.len();
        let (a, b) = match opts.slices {
            Some(r) => super::slice_range(path, r, n_pages)?,
            None => (0, n_pages),
        };
        // the first wanted page fixes size and type
        let first = read_pages(path, opts, Some((a, a + 1)))?;
        let Some(sample) = first.pages[0].page_type().sample() else {
            return Ok(None);
        };
        let mut meta: Metadata = first.info.meta.clone();
        let labels = &first.info.slice_labels;
        let z = (labels.len() == n_pages && n_pages > 1)
            .then(|| super::tiff::z_positions(labels[a..b].iter().map(|s| s.as_str())))
            .flatten();
        let voxel = super::tiff::calibrate(
            &first.info,
            [n_pages, first.full_dims[0], first.full_dims[1]],
            opts,
            z.as_deref(),
            &mut meta,
        );
        meta.slice_thickness_nm = first.info.spacing_nm;
        meta.source_files = vec![path.to_path_buf()];
        let mut r = SliceReader {
            path: path.to_path_buf(),
            opts: opts.clone(),
            shape: [b - a, first.dims[0], first.dims[1]],
            sample,
            voxel,
            meta,
            pos: 0,
            src: Source::Memory(GreyData::U8(ndarray::Array3::zeros((0, 0, 0)))),
        };
        r.src = r.fresh_pages()?;
        Ok(Some(r))
    }

    fn fresh_pages(&self) -> Result<Source, IoError> {
        let mut dec = PageDecoder::open(&self.path, &self.opts)?;
        let first_page = self.opts.slices.map_or(0, |r| r.0);
        for _ in 0..first_page {
            dec.advance(&self.path)?;
        }
        Ok(Source::Pages {
            dec: Box::new(dec),
            fresh: true,
            first_page,
        })
    }

    /// `[nz, ny, nx]` of what will be read (after slice range and crop).
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
    /// Sample type of the slices as read (before any conversion).
    pub fn sample_type(&self) -> SampleType {
        self.sample
    }
    /// Voxel size `[dz, dy, dx]` (nm) of the stack and where each value came from.
    pub fn voxel(&self) -> VoxelSize {
        self.voxel
    }
    /// Replace the voxel size (e.g. a command-line override).
    pub fn set_voxel(&mut self, v: VoxelSize) {
        self.voxel = v;
    }
    /// Metadata as [`super::read_volume`] reports it (warnings included).
    pub fn meta(&self) -> &Metadata {
        &self.meta
    }
    /// Mutable metadata, e.g. to add warnings before it is written out.
    pub fn meta_mut(&mut self) -> &mut Metadata {
        &mut self.meta
    }
    /// The input path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Index of the next slice [`Self::next_slab`] returns.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Whether the data is streamed from disk (folder, TIFF or Zarr) rather than held whole.
    pub fn is_streaming(&self) -> bool {
        !matches!(self.src, Source::Memory(_))
    }
    /// Bytes of one slice.
    pub fn slice_bytes(&self) -> u64 {
        (self.shape[1] * self.shape[2] * self.sample.bytes()) as u64
    }

    /// Start again at slice 0 (for a second pass).
    pub fn rewind(&mut self) -> Result<(), IoError> {
        if let Source::Pages { .. } = self.src {
            self.src = self.fresh_pages()?;
        }
        self.pos = 0;
        Ok(())
    }

    /// The next up to `max` slices as a volume (voxel size set, metadata empty), or `None` at
    /// the end. Folder slices are read in parallel.
    pub fn next_slab(&mut self, max: usize) -> Result<Option<GreyVolume>, IoError> {
        let nz = self.shape[0];
        if self.pos >= nz {
            return Ok(None);
        }
        let n = max.max(1).min(nz - self.pos);
        let slab_bytes = self.slice_bytes().saturating_mul(n as u64);
        check_budget(
            &self.path,
            format!("{} x {} x {}", n, self.shape[1], self.shape[2]),
            slab_bytes,
            self.opts.max_bytes,
        )?;
        let (z0, z1) = (self.pos, self.pos + n);
        let data = match &mut self.src {
            Source::Memory(d) => match d {
                GreyData::U8(a) => GreyData::U8(a.slice(s![z0..z1, .., ..]).to_owned()),
                GreyData::U16(a) => GreyData::U16(a.slice(s![z0..z1, .., ..]).to_owned()),
                GreyData::F32(a) => GreyData::F32(a.slice(s![z0..z1, .., ..]).to_owned()),
            },
            #[cfg(feature = "zarr")]
            Source::Zarr(img) => img.read_slices(z0, z1)?.0,
            Source::Files(files) => {
                let per_file = ReadOptions {
                    slices: None,
                    ..self.opts.clone()
                };
                let dims = [self.shape[1], self.shape[2]];
                let ty = self.sample;
                let first = files[0].clone();
                let dir = self.path.clone();
                let pages: Result<Vec<Page>, IoError> = files[z0..z1]
                    .par_iter()
                    .map(|f| {
                        let tp = read_slice_file(&dir, f, &per_file)?;
                        let p = tp
                            .pages
                            .into_iter()
                            .next()
                            .ok_or_else(|| IoError::invalid(f, "no page"))?;
                        if tp.dims != dims || p.page_type() != PageType::Sample(ty) {
                            return Err(IoError::SliceMismatch {
                                first: first.clone(),
                                file: f.clone(),
                                expected: format!("{}x{} {}", dims[1], dims[0], ty.as_str()),
                                found: format!(
                                    "{}x{} {}",
                                    tp.dims[1],
                                    tp.dims[0],
                                    p.page_type().as_str()
                                ),
                            });
                        }
                        Ok(p)
                    })
                    .collect();
                stack_pages(&self.path, pages?, dims)?
            }
            Source::Pages {
                dec,
                fresh,
                first_page,
            } => {
                let mut pages = Vec::with_capacity(n);
                let dims = [self.shape[1], self.shape[2]];
                for k in 0..n {
                    if !*fresh {
                        // the decoder sits on the page just returned: move on
                        if !dec.advance(&self.path)? {
                            return Err(IoError::invalid(
                                &self.path,
                                "the file has fewer pages than counted when opened",
                            ));
                        }
                    }
                    let index = *first_page + z0 + k;
                    let (page, d, _) = dec.decode(
                        &self.path,
                        index,
                        self.opts.max_bytes,
                        self.opts.max_bytes,
                        self.opts.crop,
                    )?;
                    check_same_page(
                        &self.path,
                        index,
                        dims,
                        PageType::Sample(self.sample),
                        d,
                        &page,
                    )?;
                    pages.push(page);
                    *fresh = false;
                }
                stack_pages(&self.path, pages, dims)?
            }
        };
        self.pos = z1;
        Ok(Some(GreyVolume {
            data,
            voxel: self.voxel,
            meta: Metadata::default(),
        }))
    }

    /// Read everything that is left into one volume (with the reader's metadata); for tests and
    /// small stacks.
    pub fn read_rest(&mut self) -> Result<GreyVolume, IoError> {
        let mut parts = Vec::new();
        while let Some(v) = self.next_slab(16)? {
            parts.push(v.data);
        }
        let data = concat(&self.path, &parts)?;
        Ok(GreyVolume {
            data,
            voxel: self.voxel,
            meta: self.meta.clone(),
        })
    }
}

/// Concatenate slabs along z.
pub fn concat(path: &Path, parts: &[GreyData]) -> Result<GreyData, IoError> {
    macro_rules! cat {
        ($v:ident) => {{
            let views: Result<Vec<_>, IoError> = parts
                .iter()
                .map(|p| match p {
                    GreyData::$v(a) => Ok(a.view()),
                    _ => Err(IoError::invalid(path, "slabs of mixed sample types")),
                })
                .collect();
            GreyData::$v(
                ndarray::concatenate(Axis(0), &views?)
                    .map_err(|e| IoError::invalid(path, e.to_string()))?,
            )
        }};
    }
    Ok(match parts.first() {
        Some(GreyData::U8(_)) => cat!(U8),
        Some(GreyData::U16(_)) => cat!(U16),
        Some(GreyData::F32(_)) => cat!(F32),
        None => return Err(IoError::invalid(path, "nothing to concatenate")),
    })
}

// ------------------------------------------------------------------------------------ writing

/// A `Write + Seek` handle shared between the TIFF encoder and the writer (which needs the file
/// back at the end to patch the description and sync).
#[derive(Clone)]
struct Shared(Arc<Mutex<BufWriter<File>>>);

impl Shared {
    fn lock(&self) -> std::io::Result<std::sync::MutexGuard<'_, BufWriter<File>>> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("writer poisoned"))
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock()?.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.lock()?.flush()
    }
}

impl Seek for Shared {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.lock()?.seek(pos)
    }
}

enum Encoder {
    Classic(TiffEncoder<Shared, TiffKindStandard>),
    Big(TiffEncoder<Shared, TiffKindBig>),
}

enum Sink {
    Folder {
        tmp_dir: super::atomic::TempPath,
        width: usize,
    },
    Tiff {
        tmp: super::atomic::TempPath,
        file: Shared,
        enc: Encoder,
        /// Description written on page 0 (reserved space for the display range).
        desc: String,
        json: String,
        xres: tiff::encoder::Rational,
        yres: tiff::encoder::Rational,
        range: (f64, f64),
    },
    #[cfg(feature = "zarr")]
    Zarr(Box<super::zarr::ZarrWriter>),
    Memory(Vec<GreyData>),
}

/// Spaces reserved in the page-0 ImageJ description for the display range written at the end.
const RANGE_RESERVE: usize = 96;

/// Slice-by-slice atomic writer. See the module docs.
pub struct SliceWriter {
    path: PathBuf,
    nz: usize,
    dims: [usize; 2],
    sample: SampleType,
    voxel: VoxelSize,
    meta: Metadata,
    opts: TiffWriteOptions,
    written: usize,
    sink: Option<Sink>,
}

impl SliceWriter {
    /// Prepare to write `nz` slices of `ny × nx` samples of type `sample` to `path` (folder when
    /// it has no extension, multi-page TIFF for `.tif`/`.tiff`, otherwise collected in memory).
    pub fn create(
        path: &Path,
        shape: [usize; 3],
        sample: SampleType,
        voxel: VoxelSize,
        meta: Metadata,
        opts: &TiffWriteOptions,
    ) -> Result<Self, IoError> {
        let [nz, ny, nx] = shape;
        if nz * ny * nx == 0 {
            return Err(IoError::invalid(path, "cannot write an empty volume"));
        }
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                fs::create_dir_all(parent).map_err(|e| IoError::os(parent, e))?;
            }
        }
        let sink = match Format::of_output(path)? {
            Format::Folder => Sink::Folder {
                tmp_dir: super::atomic::temp_folder(path)?,
                width: nz.saturating_sub(1).to_string().len().max(4),
            },
            Format::Tiff => {
                super::atomic::clean_stale_around(path);
                let tmp = super::atomic::TempPath::register(super::atomic::temp_path(path))?;
                let f = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(tmp.path())
                    .map_err(|e| IoError::os(path, e))?;
                let file = Shared(Arc::new(Mutex::new(BufWriter::with_capacity(1 << 20, f))));
                let bytes = (nz * ny * nx * sample.bytes()) as u64;
                let enc_err = |e: tiff::TiffError| {
                    IoError::invalid(path, format!("TIFF encoding failed: {e}"))
                };
                let enc = if needs_bigtiff(bytes, opts) {
                    Encoder::Big(TiffEncoder::new_big(file.clone()).map_err(enc_err)?)
                } else {
                    Encoder::Classic(TiffEncoder::new(file.clone()).map_err(enc_err)?)
                };
                let fixed = sample == SampleType::U8;
                let (desc, _, f) =
                    imagej_description_parts(nz, &voxel, fixed.then_some((0.0, 255.0)));
                // pages are written one after the other with their IFDs between them: not the
                // contiguous layout an `images=N` stack promises
                let mut desc = super::tiff::without_stack_count(&desc);
                if !fixed {
                    desc.push_str(&"\n".repeat(RANGE_RESERVE));
                }
                let (json, xres, yres) = page_tags(&voxel, f, &meta.phase_names);
                Sink::Tiff {
                    tmp,
                    file,
                    enc,
                    desc,
                    json,
                    xres,
                    yres,
                    range: (f64::INFINITY, f64::NEG_INFINITY),
                }
            }
            #[cfg(feature = "zarr")]
            Format::Zarr => Sink::Zarr(Box::new(super::zarr::ZarrWriter::create(
                path,
                shape,
                sample,
                &voxel,
                &Default::default(),
            )?)),
            _ => Sink::Memory(Vec::new()),
        };
        Ok(SliceWriter {
            path: path.to_path_buf(),
            nz,
            dims: [ny, nx],
            sample,
            voxel,
            meta,
            opts: opts.clone(),
            written: 0,
            sink: Some(sink),
        })
    }

    /// Slices written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Append a slab (its slices follow the ones written before).
    pub fn write_slab(&mut self, data: &GreyData) -> Result<(), IoError> {
        let [n, ny, nx] = data.shape();
        if [ny, nx] != self.dims || data.sample_type() != self.sample {
            return Err(IoError::invalid(
                &self.path,
                format!(
                    "slab of {nx}x{ny} {} does not match the output's {}x{} {}",
                    data.sample_type().as_str(),
                    self.dims[1],
                    self.dims[0],
                    self.sample.as_str()
                ),
            ));
        }
        if self.written + n > self.nz {
            return Err(IoError::invalid(
                &self.path,
                format!(
                    "{} slices written but the output was declared with {}",
                    self.written + n,
                    self.nz
                ),
            ));
        }
        let r = self.write_inner(data);
        if r.is_err() {
            self.abort();
        }
        r
    }

    fn write_inner(&mut self, data: &GreyData) -> Result<(), IoError> {
        let path = self.path.clone();
        let n = data.shape()[0];
        match self.sink.as_mut() {
            None => return Err(IoError::invalid(&path, "writer already finished or failed")),
            Some(Sink::Memory(parts)) => parts.push(data.clone()),
            #[cfg(feature = "zarr")]
            Some(Sink::Zarr(w)) => w.write_slab(data)?,
            Some(Sink::Folder { tmp_dir, width }) => {
                let width = *width;
                let z0 = self.written;
                let voxel = self.voxel;
                let opts = self.opts.clone();
                (0..n).into_par_iter().try_for_each(|k| {
                    let one = GreyVolume {
                        data: match data {
                            GreyData::U8(a) => {
                                GreyData::U8(a.slice(s![k..k + 1, .., ..]).to_owned())
                            }
                            GreyData::U16(a) => {
                                GreyData::U16(a.slice(s![k..k + 1, .., ..]).to_owned())
                            }
                            GreyData::F32(a) => {
                                GreyData::F32(a.slice(s![k..k + 1, .., ..]).to_owned())
                            }
                        },
                        voxel,
                        meta: Metadata::default(),
                    };
                    let z = z0 + k;
                    let p = tmp_dir.path().join(format!("slice_{z:0width$}.tif"));
                    let f = File::create(&p).map_err(|e| IoError::os(&p, e))?;
                    let mut w = BufWriter::with_capacity(1 << 20, f);
                    write_tiff_to(&p, &mut w, &one, &opts)?;
                    w.flush().map_err(|e| IoError::os(&p, e))
                })?;
            }
            Some(Sink::Tiff {
                enc,
                desc,
                json,
                xres,
                yres,
                range,
                ..
            }) => {
                let (lo, hi) = super::tiff::value_range(data);
                range.0 = range.0.min(lo);
                range.1 = range.1.max(hi);
                let err = |e: tiff::TiffError| {
                    IoError::invalid(&path, format!("TIFF encoding failed: {e}"))
                };
                for k in 0..n {
                    let d = (self.written + k == 0).then_some(desc.as_str());
                    macro_rules! page {
                        ($enc:expr, $K:ty) => {
                            match data {
                                GreyData::U8(a) => write_page::<_, $K, colortype::Gray8>(
                                    $enc,
                                    a.index_axis(Axis(0), k),
                                    d,
                                    xres.clone(),
                                    yres.clone(),
                                    &self.opts,
                                    json,
                                ),
                                GreyData::U16(a) => write_page::<_, $K, colortype::Gray16>(
                                    $enc,
                                    a.index_axis(Axis(0), k),
                                    d,
                                    xres.clone(),
                                    yres.clone(),
                                    &self.opts,
                                    json,
                                ),
                                GreyData::F32(a) => write_page::<_, $K, colortype::Gray32Float>(
                                    $enc,
                                    a.index_axis(Axis(0), k),
                                    d,
                                    xres.clone(),
                                    yres.clone(),
                                    &self.opts,
                                    json,
                                ),
                            }
                        };
                    }
                    match enc {
                        Encoder::Classic(e) => page!(e, TiffKindStandard),
                        Encoder::Big(e) => page!(e, TiffKindBig),
                    }
                    .map_err(err)?;
                }
            }
        }
        self.written += n;
        Ok(())
    }

    /// Check that every declared slice was written, then move the output into place.
    pub fn finish(mut self) -> Result<(), IoError> {
        if self.written != self.nz {
            let msg = format!(
                "only {} of {} slices were written; output discarded",
                self.written, self.nz
            );
            self.abort();
            return Err(IoError::invalid(&self.path, msg));
        }
        let r = self.finish_inner();
        if r.is_err() {
            self.abort();
        }
        r
    }

    fn finish_inner(&mut self) -> Result<(), IoError> {
        let path = self.path.clone();
        match self.sink.take() {
            None => Err(IoError::invalid(&path, "writer already finished or failed")),
            #[cfg(feature = "zarr")]
            Some(Sink::Zarr(w)) => w.finish(),
            Some(Sink::Memory(parts)) => {
                let data = concat(&path, &parts)?;
                let vol = GreyVolume {
                    data,
                    voxel: self.voxel,
                    meta: self.meta.clone(),
                };
                super::write_volume(&path, &vol)
            }
            Some(Sink::Folder { tmp_dir, .. }) => {
                for entry in fs::read_dir(tmp_dir.path()).map_err(|e| IoError::os(&path, e))? {
                    let entry = entry.map_err(|e| IoError::os(&path, e))?;
                    let f = File::open(entry.path()).map_err(|e| IoError::os(&entry.path(), e))?;
                    f.sync_all().map_err(|e| IoError::os(&entry.path(), e))?;
                }
                super::atomic::replace_folder(tmp_dir, &path)
            }
            Some(Sink::Tiff {
                tmp,
                file,
                enc,
                desc,
                range,
                ..
            }) => {
                drop(enc);
                let res = (|| {
                    let mut g = file.lock().map_err(|e| IoError::os(&path, e))?;
                    g.flush().map_err(|e| IoError::os(&path, e))?;
                    if self.sample != SampleType::U8 {
                        let (full, _, _) =
                            imagej_description_parts(self.nz, &self.voxel, Some(range));
                        let full = super::tiff::without_stack_count(&full);
                        let base = desc.trim_end_matches('\n').len();
                        let mut text = full.into_bytes();
                        if text.len() <= desc.len() && text.len() >= base {
                            text.resize(desc.len(), b'\n');
                            patch_description(g.get_mut(), &text)
                                .map_err(|e| IoError::os(&path, e))?;
                        }
                    }
                    g.get_ref().sync_all().map_err(|e| IoError::os(&path, e))
                })();
                drop(file);
                res?;
                fs::rename(tmp.path(), &path).map_err(|e| IoError::os(&path, e))?;
                tmp.keep();
                Ok(())
            }
        }
    }

    /// Remove the temporary output (called on errors and on drop without `finish`).
    fn abort(&mut self) {
        match self.sink.take() {
            Some(Sink::Folder { tmp_dir, .. }) => drop(tmp_dir),
            Some(Sink::Tiff { tmp, enc, file, .. }) => {
                drop(enc);
                drop(file);
                drop(tmp);
            }
            _ => {}
        }
    }
}

impl Drop for SliceWriter {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Overwrite the ImageJ description (tag 270) of the first IFD with `text` (same length as the
/// text written, which ends in a NUL not counted here).
fn patch_description(f: &mut File, text: &[u8]) -> std::io::Result<()> {
    let bad = || std::io::Error::other("cannot locate the ImageJ description to patch");
    f.seek(SeekFrom::Start(0))?;
    let mut h = [0u8; 16];
    f.read_exact(&mut h)?;
    if &h[..2] != b"II" && &h[..2] != b"MM" {
        return Err(bad());
    }
    let le = &h[..2] == b"II";
    let rd = |b: &[u8]| -> u64 {
        let mut v = 0u64;
        for (i, &x) in b.iter().enumerate() {
            if le {
                v |= (x as u64) << (8 * i);
            } else {
                v = (v << 8) | x as u64;
            }
        }
        v
    };
    let big = rd(&h[2..4]) == 43;
    let (ifd, count_len, entry_len, val_off, cnt_len) = if big {
        (rd(&h[8..16]), 8usize, 20usize, 12usize, 8usize)
    } else {
        (rd(&h[4..8]), 2, 12, 8, 4)
    };
    f.seek(SeekFrom::Start(ifd))?;
    let mut nb = vec![0u8; count_len];
    f.read_exact(&mut nb)?;
    let n = rd(&nb) as usize;
    if n > 4096 {
        return Err(bad());
    }
    let mut entries = vec![0u8; n * entry_len];
    f.read_exact(&mut entries)?;
    for e in entries.chunks_exact(entry_len) {
        if rd(&e[0..2]) != 270 {
            continue;
        }
        let count = rd(&e[4..4 + cnt_len]) as usize;
        if count != text.len() + 1 {
            return Err(bad());
        }
        let off = rd(&e[val_off..val_off + cnt_len]);
        f.seek(SeekFrom::Start(off))?;
        f.write_all(text)?;
        return f.flush();
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{read_volume, write_volume};
    use crate::volume::VoxelSource;
    use ndarray::Array3;

    fn vol_u16(nz: usize, ny: usize, nx: usize, seed: u64) -> GreyVolume {
        let mut r = crate::rng::Rng::new(seed);
        let a = Array3::from_shape_fn((nz, ny, nx), |_| (r.below(60000) + 7) as u16);
        GreyVolume::from_u16(
            a,
            VoxelSize::new([20.0, 5.0, 4.0], VoxelSource::CommandLine),
        )
    }

    fn stream_copy(src: &Path, dst: &Path, opts: &ReadOptions, slab: usize) -> GreyVolume {
        let mut r = SliceReader::open(src, opts).unwrap();
        let mut w = SliceWriter::create(
            dst,
            r.shape(),
            r.sample_type(),
            r.voxel(),
            r.meta().clone(),
            &TiffWriteOptions::default(),
        )
        .unwrap();
        while let Some(s) = r.next_slab(slab).unwrap() {
            w.write_slab(&s.data).unwrap();
        }
        w.finish().unwrap();
        read_volume(dst, &ReadOptions::default()).unwrap()
    }

    #[test]
    fn reader_equals_read_volume_on_folder_and_multipage_with_options() {
        let dir = tempfile::tempdir().unwrap();
        let v = vol_u16(7, 12, 10, 1);
        let folder = dir.path().join("slices");
        write_volume(&folder, &v).unwrap();
        let tif = dir.path().join("stack.tif");
        write_volume(&tif, &v).unwrap();
        let cases = [
            ReadOptions::default(),
            ReadOptions {
                slices: Some((2, 6)),
                crop: Some([1, 2, 8, 5]),
                ..Default::default()
            },
            ReadOptions {
                slices: Some((5, usize::MAX)),
                ..Default::default()
            },
        ];
        for src in [&folder, &tif] {
            for o in &cases {
                let whole = read_volume(src, o).unwrap();
                for slab in [1, 3, 100] {
                    let mut r = SliceReader::open(src, o).unwrap();
                    assert_eq!(r.shape(), whole.shape());
                    let mut parts = vec![];
                    while let Some(sl) = r.next_slab(slab).unwrap() {
                        parts.push(sl.data);
                    }
                    let got = concat(src, &parts).unwrap();
                    assert_eq!(got, whole.data, "{src:?} {o:?} slab {slab}");
                    assert_eq!(r.voxel(), whole.voxel);
                    assert_eq!(r.meta(), &whole.meta);
                    r.rewind().unwrap();
                    assert_eq!(r.read_rest().unwrap().data, whole.data);
                    r.rewind().unwrap();
                    let again = r.next_slab(slab).unwrap().unwrap();
                    assert_eq!(again.shape()[0], slab.min(whole.shape()[0]));
                }
            }
        }
        // pattern on a folder
        std::fs::copy(folder.join("slice_0000.tif"), folder.join("other.tif")).unwrap();
        let o = ReadOptions {
            pattern: Some("slice_*.tif".into()),
            ..Default::default()
        };
        let r = SliceReader::open(&folder, &o).unwrap().read_rest().unwrap();
        assert_eq!(r.data, read_volume(&folder, &o).unwrap().data);
        // out-of-range slices: the same error kind as read_volume
        let bad = ReadOptions {
            slices: Some((50, 60)),
            ..Default::default()
        };
        assert!(SliceReader::open(&tif, &bad).is_err());
        assert!(SliceReader::open(&folder, &bad).is_err());
        // a range ending beyond the stack is refused, never clamped
        let beyond = ReadOptions {
            slices: Some((5, 100)),
            ..Default::default()
        };
        for src in [&folder, &tif] {
            let e = SliceReader::open(src, &beyond).err().unwrap().to_string();
            assert!(e.contains("5..100") && e.contains("slices"), "{e}");
            assert!(read_volume(src, &beyond).is_err());
        }
    }

    #[test]
    fn reader_removes_the_data_bar_like_read_volume() {
        let dir = tempfile::tempdir().unwrap();
        let v = vol_u16(3, 20, 8, 2);
        let ini = "[Scan]\nPixelWidth=5e-09\nPixelHeight=5e-09\n[PrivateFei]\nDatabarHeight=4\n";
        let folder = dir.path().join("fei");
        std::fs::create_dir_all(&folder).unwrap();
        for z in 0..3 {
            let one = crate::io::slice_volume(&v, z);
            let opts = TiffWriteOptions {
                fei_metadata: Some(ini.into()),
                ..Default::default()
            };
            crate::io::tiff::write_tiff(&folder.join(format!("s{z}.tif")), &one, &opts).unwrap();
        }
        for keep in [true, false] {
            let o = ReadOptions {
                crop_databar: keep,
                ..Default::default()
            };
            let whole = read_volume(&folder, &o).unwrap();
            let got = SliceReader::open(&folder, &o).unwrap().read_rest().unwrap();
            assert_eq!(got.data, whole.data);
            assert_eq!(got.meta, whole.meta);
            assert_eq!(got.voxel, whole.voxel);
        }
    }

    #[test]
    fn writer_equals_write_volume_for_every_type_and_target() {
        let dir = tempfile::tempdir().unwrap();
        let u16v = vol_u16(5, 9, 11, 3);
        let u8v = GreyVolume {
            data: GreyData::U8(match &u16v.data {
                GreyData::U16(a) => a.mapv(|v| (v >> 8) as u8),
                _ => unreachable!(),
            }),
            ..u16v.clone()
        };
        let f32v = GreyVolume {
            data: GreyData::F32(u16v.to_f32().mapv(|v| v * 0.37 - 100.0)),
            ..u16v.clone()
        };
        for (i, v) in [u16v, u8v, f32v].iter().enumerate() {
            let src = dir.path().join(format!("src{i}.tif"));
            write_volume(&src, v).unwrap();
            for (j, name) in ["out.tif", "outdir", "out.npy"].iter().enumerate() {
                let reference = dir.path().join(format!("ref{i}{j}_{name}"));
                write_volume(&reference, v).unwrap();
                let want = read_volume(&reference, &ReadOptions::default()).unwrap();
                for slab in [1, 2, 5] {
                    let dst = dir.path().join(format!("s{i}{j}{slab}_{name}"));
                    let got = stream_copy(&src, &dst, &ReadOptions::default(), slab);
                    assert_eq!(got.data, want.data, "{name} type {i} slab {slab}");
                    assert_eq!(got.voxel, want.voxel);
                    assert_eq!(got.meta.pixel_size_nm, want.meta.pixel_size_nm);
                }
            }
            // the ImageJ description (display range included) is the same text, except that the
            // streamed file (pages and IFDs interleaved) does not claim an `images=N` stack of
            // contiguous planes, which the uncompressed in-memory writer does write
            let a = raw_description(&dir.path().join(format!("ref{i}0_out.tif")));
            let b = raw_description(&dir.path().join(format!("s{i}01_out.tif")));
            assert!(!b.contains("images="), "{b:?}");
            assert_eq!(
                crate::io::tiff::without_stack_count(a.trim_end_matches(['\n', '\0']))
                    .trim_end_matches('\n'),
                b.trim_end_matches(['\n', '\0'])
            );
        }
    }

    fn raw_description(p: &Path) -> String {
        let f = File::open(p).unwrap();
        let mut d = tiff::decoder::Decoder::new(std::io::BufReader::new(f)).unwrap();
        d.get_tag_ascii_string(tiff::tags::Tag::ImageDescription)
            .unwrap()
    }

    #[test]
    fn writer_leaves_nothing_on_error_or_drop() {
        let dir = tempfile::tempdir().unwrap();
        let v = vol_u16(4, 6, 6, 4);
        for name in ["a.tif", "folder"] {
            let p = dir.path().join(name);
            // dropped half-way
            {
                let mut w = SliceWriter::create(
                    &p,
                    [4, 6, 6],
                    SampleType::U16,
                    v.voxel,
                    Metadata::default(),
                    &TiffWriteOptions::default(),
                )
                .unwrap();
                w.write_slab(&crate::io::slice_volume(&v, 0).data).unwrap();
            }
            // finish with too few slices
            let mut w = SliceWriter::create(
                &p,
                [4, 6, 6],
                SampleType::U16,
                v.voxel,
                Metadata::default(),
                &TiffWriteOptions::default(),
            )
            .unwrap();
            w.write_slab(&crate::io::slice_volume(&v, 0).data).unwrap();
            // a slab of the wrong size is refused
            let wrong = GreyData::U16(Array3::zeros((1, 5, 6)));
            assert!(w.write_slab(&wrong).is_err());
            assert!(w.finish().is_err());
            assert!(!p.exists(), "{name} must not exist");
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "temporary files left: {left:?}");
        }
    }
}
