//! TIFF reading and writing (through the `tiff` crate).
//!
//! Reading: 8/16-bit unsigned and 32-bit float grey, single- or multi-page (page = z),
//! uncompressed / LZW / Deflate / PackBits, 8-bit grey palettes (Zeiss); Thermo/FEI, Zeiss and
//! ImageJ metadata. Writing: multi-page with an ImageJ description (unit + spacing) and
//! X/YResolution so Fiji shows the voxel size; BigTIFF above 4 GiB.

use super::meta::{self, VendorInfo, TAG_FEI, TAG_ZEISS};
use super::{IoError, ReadOptions};
use crate::volume::{GreyData, GreyVolume, Metadata, SampleType, VoxelSize, VoxelSource};
use ndarray::{Array3, ArrayView2};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::encoder::{colortype, compression, Rational, TiffEncoder, TiffKind};
use tiff::tags::{ResolutionUnit, Tag};
use tiff::ColorType;

/// TIFF compression for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Lzw,
    Deflate,
    PackBits,
}

/// Options for [`write_tiff`].
#[derive(Debug, Clone, Default)]
pub struct TiffWriteOptions {
    pub compression: Compression,
    /// INI text for the Thermo/FEI private tag 34682 (written on every page).
    pub fei_metadata: Option<String>,
    /// Force BigTIFF (chosen automatically above 4 GiB).
    pub bigtiff: bool,
}

/// One decoded page, cropped.
pub(crate) enum Page {
    U8(Vec<u8>),
    U16(Vec<u16>),
    F32(Vec<f32>),
    /// Signed or 32/64-bit integer samples (|v| ≤ 2²⁴, checked when decoded); the stack is
    /// narrowed to the smallest exact type once every page is read (see `io::ints`).
    Int(Vec<i32>, &'static str),
}

/// The type of a decoded page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageType {
    Sample(SampleType),
    /// Integer TIFF samples of this kind (e.g. `16-bit signed integer`).
    Int(&'static str),
}

impl PageType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PageType::Sample(t) => t.as_str(),
            PageType::Int(k) => k,
        }
    }
    /// Bytes per sample while decoded.
    pub(crate) fn bytes(self) -> usize {
        match self {
            PageType::Sample(t) => t.bytes(),
            PageType::Int(_) => 4,
        }
    }
    /// The sample type of the stack, when known before every page is read.
    pub(crate) fn sample(self) -> Option<SampleType> {
        match self {
            PageType::Sample(t) => Some(t),
            PageType::Int(_) => None,
        }
    }
}

impl Page {
    pub(crate) fn page_type(&self) -> PageType {
        match self {
            Page::U8(_) => PageType::Sample(SampleType::U8),
            Page::U16(_) => PageType::Sample(SampleType::U16),
            Page::F32(_) => PageType::Sample(SampleType::F32),
            Page::Int(_, k) => PageType::Int(k),
        }
    }
    fn len(&self) -> usize {
        match self {
            Page::U8(v) => v.len(),
            Page::U16(v) => v.len(),
            Page::F32(v) => v.len(),
            Page::Int(v, _) => v.len(),
        }
    }
}

/// Integer samples of a page, refused beyond ±2²⁴ (what f32 holds exactly).
fn int_page(path: &Path, index: usize, d: DecodingResult) -> Result<Page, IoError> {
    let kind = decoding_name(&d);
    let lim = super::ints::F32_EXACT;
    let wide = |v: i64| -> Result<i32, IoError> {
        if (-lim..=lim).contains(&v) {
            Ok(v as i32)
        } else {
            Err(IoError::Unsupported {
                path: path.to_path_buf(),
                format: format!("{kind} value {v} on page {index}, beyond what 32-bit float holds exactly (±{lim}); rescale or convert it to 16-bit or float first"),
            })
        }
    };
    let v: Vec<i32> = match d {
        DecodingResult::I8(v) => v.into_iter().map(i32::from).collect(),
        DecodingResult::I16(v) => v.into_iter().map(i32::from).collect(),
        DecodingResult::I32(v) => v
            .into_iter()
            .map(|x| wide(x as i64))
            .collect::<Result<_, _>>()?,
        DecodingResult::U32(v) => v
            .into_iter()
            .map(|x| wide(x as i64))
            .collect::<Result<_, _>>()?,
        DecodingResult::I64(v) => v.into_iter().map(wide).collect::<Result<_, _>>()?,
        DecodingResult::U64(v) => v
            .into_iter()
            .map(|x| wide(x.min(i64::MAX as u64) as i64))
            .collect::<Result<_, _>>()?,
        other => {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                format: decoding_name(&other).into(),
            })
        }
    };
    Ok(Page::Int(v, kind))
}

/// Pages of one file plus what its tags said.
pub(crate) struct TiffPages {
    /// `[height, width]` after cropping.
    pub dims: [usize; 2],
    pub pages: Vec<Page>,
    pub info: VendorInfo,
    /// The file has pages after the last one read.
    pub more_pages: bool,
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

fn map_tiff_err(path: &Path, e: tiff::TiffError) -> IoError {
    match e {
        tiff::TiffError::UnsupportedError(u) => IoError::Unsupported {
            path: path.to_path_buf(),
            format: u.to_string(),
        },
        tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            corrupt(path, "file ends early (truncated)")
        }
        tiff::TiffError::LimitsExceeded => IoError::TooLarge {
            path: path.to_path_buf(),
            shape: "(header)".into(),
            bytes: 0,
            limit: 0,
        },
        other => corrupt(path, other),
    }
}

fn tag_string<R: Read + Seek>(dec: &mut Decoder<R>, tag: Tag) -> Option<String> {
    match dec.find_tag(tag).ok()?? {
        tiff::decoder::ifd::Value::Ascii(s) => Some(s),
        tiff::decoder::ifd::Value::List(v) => {
            // some writers store text as BYTE/UNDEFINED
            let bytes: Vec<u8> = v
                .into_iter()
                .filter_map(|x| match x {
                    tiff::decoder::ifd::Value::Byte(b) => Some(b),
                    _ => None,
                })
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => None,
    }
}

fn tag_rational<R: Read + Seek>(dec: &mut Decoder<R>, tag: Tag) -> Option<f64> {
    match dec.find_tag(tag).ok()?? {
        tiff::decoder::ifd::Value::Rational(n, d) if d != 0 => Some(n as f64 / d as f64),
        tiff::decoder::ifd::Value::RationalBig(n, d) if d != 0 => Some(n as f64 / d as f64),
        _ => None,
    }
}

/// Vendor metadata from the current IFD, in order of preference FEI, Zeiss, ImageJ; a slice
/// spacing our own writer recorded fills in what the vendor block lacks.
fn vendor_info<R: Read + Seek>(dec: &mut Decoder<R>, path: &Path) -> VendorInfo {
    let mut info = vendor_block(dec, path);
    if let Some(nm) = tag_string(dec, Tag::Software).and_then(|s| fibstack_voxel(&s)) {
        if info.meta.instrument.as_deref() != Some("fibstack") {
            apply_fibstack_voxel(&mut info, nm, true);
        }
    }
    info
}

fn vendor_block<R: Read + Seek>(dec: &mut Decoder<R>, path: &Path) -> VendorInfo {
    // vendor text may hold NULs and Latin-1 (µ): read the raw bytes ourselves
    if let Some(t) = raw_tag_text(path, TAG_FEI) {
        return meta::parse_fei(&t);
    }
    if let Some(t) = raw_tag_text(path, TAG_ZEISS) {
        return meta::parse_zeiss(&t);
    }
    if let Some(d) = tag_string(dec, Tag::ImageDescription) {
        if d.starts_with("ImageJ=") {
            let xr = tag_rational(dec, Tag::XResolution);
            let yr = tag_rational(dec, Tag::YResolution);
            let mut info = meta::parse_imagej(&d, xr, yr);
            // files we wrote also carry the exact voxel size (ImageJ's rationals round it), and
            // say which axes were unknown
            if let Some(nm) = tag_string(dec, Tag::Software).and_then(|s| fibstack_voxel(&s)) {
                apply_fibstack_voxel(&mut info, nm, false);
                info.meta.instrument = Some("fibstack".into());
            }
            return info;
        }
    }
    let mut info = VendorInfo::default();
    if let Some([dy, dx]) = baseline_resolution(dec) {
        info.pixel_nm = Some([dy, dx]);
        info.meta.pixel_size_nm = Some([dx, dy]);
    }
    info
}

/// The bytes of an ASCII/BYTE/UNDEFINED tag of the first IFD, decoded as Latin-1 with NULs
/// turned into newlines. Classic TIFF and BigTIFF.
fn raw_tag_text(path: &Path, tag: u16) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let mut h = [0u8; 16];
    f.read_exact(&mut h[..8]).ok()?;
    let le = match &h[..2] {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_ = |b: &[u8]| {
        if le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        }
    };
    let u32_ = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let u64_ = |b: &[u8]| {
        let a: [u8; 8] = b[..8].try_into().unwrap_or([0; 8]);
        if le {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    };
    let big = u16_(&h[2..4]) == 43;
    let (ifd, n, entry, count_off, val_off, inline) = if big {
        f.read_exact(&mut h[8..16]).ok()?;
        let ifd = u64_(&h[8..16]);
        f.seek(SeekFrom::Start(ifd)).ok()?;
        let mut nb = [0u8; 8];
        f.read_exact(&mut nb).ok()?;
        (ifd + 8, u64_(&nb), 20u64, 4usize, 12usize, 8u64)
    } else {
        let ifd = u32_(&h[4..8]) as u64;
        f.seek(SeekFrom::Start(ifd)).ok()?;
        let mut nb = [0u8; 2];
        f.read_exact(&mut nb).ok()?;
        (ifd + 2, u16_(&nb) as u64, 12u64, 4usize, 8usize, 4u64)
    };
    if n > 4096 {
        return None;
    }
    let mut entries = vec![0u8; (n * entry) as usize];
    f.seek(SeekFrom::Start(ifd)).ok()?;
    f.read_exact(&mut entries).ok()?;
    for e in entries.chunks_exact(entry as usize) {
        if u16_(&e[0..2]) != tag {
            continue;
        }
        let typ = u16_(&e[2..4]);
        if !matches!(typ, 1 | 2 | 7) {
            return None;
        }
        let count = if big {
            u64_(&e[count_off..])
        } else {
            u32_(&e[count_off..]) as u64
        };
        if count > 16 << 20 {
            return None;
        }
        let bytes = if count <= inline {
            e[val_off..val_off + count as usize].to_vec()
        } else {
            let off = if big {
                u64_(&e[val_off..])
            } else {
                u32_(&e[val_off..]) as u64
            };
            let mut b = vec![0u8; count as usize];
            f.seek(SeekFrom::Start(off)).ok()?;
            f.read_exact(&mut b).ok()?;
            b
        };
        return Some(
            bytes
                .iter()
                .map(|&c| if c == 0 { '\n' } else { c as char })
                .collect(),
        );
    }
    None
}

/// `fibstack 0.1.0 {"voxel_nm":[dz,dy,dx]}` as our writer puts it in the Software tag; an axis
/// whose size was not known when the file was written is `null` (returned as `None`).
fn fibstack_voxel(software: &str) -> Option<[Option<f64>; 3]> {
    let rest = software.strip_prefix("fibstack ")?;
    let json = &rest[rest.find('{')?..];
    let v: serde_json::Value = serde_json::from_str(json.trim_end_matches('\0')).ok()?;
    let a = v.get("voxel_nm")?.as_array()?;
    if a.len() != 3 {
        return None;
    }
    let mut out = [None; 3];
    for (o, x) in out.iter_mut().zip(a) {
        if x.is_null() {
            continue;
        }
        match x.as_f64() {
            Some(f) if f > 0.0 && f.is_finite() => *o = Some(f),
            _ => return None,
        }
    }
    Some(out)
}

/// Put what our Software tag says into `info` (`fill_only`: only where `info` knows nothing).
fn apply_fibstack_voxel(info: &mut VendorInfo, nm: [Option<f64>; 3], fill_only: bool) {
    if !fill_only || info.spacing_nm.is_none() {
        info.spacing_nm = nm[0];
    }
    if !fill_only || info.pixel_nm.is_none() {
        match (nm[1], nm[2]) {
            (Some(dy), Some(dx)) => {
                info.pixel_nm = Some([dy, dx]);
                info.meta.pixel_size_nm = Some([dx, dy]);
            }
            _ => {
                info.pixel_nm = None;
                info.meta.pixel_size_nm = None;
            }
        }
    }
}

/// Baseline TIFF resolution (XResolution/YResolution with ResolutionUnit inch or centimetre) as a
/// pixel size `[dy, dx]` in nm. Most software writes a print resolution here (72 dpi …); the
/// plausibility check of the reader turns those into "unknown".
fn baseline_resolution<R: Read + Seek>(dec: &mut Decoder<R>) -> Option<[f64; 2]> {
    let unit_nm = match dec
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten()
    {
        Some(2) => 2.54e7,
        Some(3) => 1e7,
        _ => return None,
    };
    let xr = tag_rational(dec, Tag::XResolution).filter(|r| *r > 0.0 && r.is_finite())?;
    let yr = tag_rational(dec, Tag::YResolution)
        .filter(|r| *r > 0.0 && r.is_finite())
        .unwrap_or(xr);
    Some([unit_nm / yr, unit_nm / xr])
}

/// An open TIFF decoder with what the first IFD said, for reading pages one at a time.
pub(crate) struct PageDecoder {
    pub dec: Decoder<BufReader<File>>,
    pub info: VendorInfo,
    pub databar: usize,
    file_len: u64,
}

impl PageDecoder {
    /// Open `path` (limits from `opts.max_bytes`), read the vendor metadata of the first IFD.
    pub(crate) fn open(path: &Path, opts: &ReadOptions) -> Result<Self, IoError> {
        let file = File::open(path).map_err(|e| IoError::os(path, e))?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut limits = Limits::default();
        limits.decoding_buffer_size = usize::try_from(opts.max_bytes).unwrap_or(usize::MAX);
        limits.intermediate_buffer_size = limits.decoding_buffer_size;
        limits.ifd_value_size = 64 << 20;
        let mut dec = Decoder::new(BufReader::new(file))
            .map_err(|e| map_tiff_err(path, e))?
            .with_limits(limits);
        let info = vendor_info(&mut dec, path);
        let databar = if opts.crop_databar {
            info.meta.databar_rows.unwrap_or(0)
        } else {
            0
        };
        Ok(PageDecoder {
            dec,
            info,
            databar,
            file_len,
        })
    }

    /// Move to the next IFD; `false` when there is none.
    pub(crate) fn advance(&mut self, path: &Path) -> Result<bool, IoError> {
        if !self.dec.more_images() {
            return Ok(false);
        }
        self.dec.next_image().map_err(|e| map_tiff_err(path, e))?;
        Ok(true)
    }

    /// Decode the current page (`index` for messages; `budget` = bytes still allowed), then
    /// remove the data bar and crop. Returns the page, its `[height, width]` and its raw bytes.
    pub(crate) fn decode(
        &mut self,
        path: &Path,
        index: usize,
        budget: u64,
        max_bytes: u64,
        crop: Option<[usize; 4]>,
    ) -> Result<(Page, [usize; 2], u64), IoError> {
        let dec = &mut self.dec;
        let (w, h) = dec.dimensions().map_err(|e| map_tiff_err(path, e))?;
        let (w, h) = (w as usize, h as usize);
        let ct = dec.colortype();
        let bytes_per = match &ct {
            Ok(ColorType::Gray(8)) => 1u64,
            Ok(ColorType::Gray(16)) => 2,
            Ok(ColorType::Gray(32)) => 4,
            Ok(ColorType::Gray(64)) => 8,
            Ok(other) => {
                return Err(IoError::Unsupported {
                    path: path.to_path_buf(),
                    format: format!("{other:?} (page {index})"),
                })
            }
            Err(_) => 1, // palette: checked below
        };
        let page_bytes = (w as u64) * (h as u64) * bytes_per;
        if page_bytes > budget || page_bytes > self.file_len.saturating_mul(4096) + (1 << 20) {
            return Err(IoError::TooLarge {
                path: path.to_path_buf(),
                shape: format!("{w}x{h} (page {index})"),
                bytes: page_bytes.max(max_bytes.saturating_sub(budget) + page_bytes),
                limit: max_bytes,
            });
        }
        let page = match ct {
            Ok(_) => match dec.read_image().map_err(|e| map_tiff_err(path, e))? {
                DecodingResult::U8(v) => Page::U8(v),
                DecodingResult::U16(v) => Page::U16(v),
                DecodingResult::F32(v) => Page::F32(v),
                other => int_page(path, index, other)?,
            },
            Err(_) => Page::U8(read_grey_palette(dec, path, w, h)?),
        };
        let expect = w * h;
        let len = page.len();
        if len != expect {
            return Err(corrupt(
                path,
                format!("page {index} has {len} samples, expected {expect}"),
            ));
        }
        let (page, d) = crop_page(path, page, [h, w], self.databar, crop)?;
        Ok((page, d, page_bytes))
    }
}

/// Check that page `index` agrees in size and sample type with page 0.
pub(crate) fn check_same_page(
    path: &Path,
    index: usize,
    d0: [usize; 2],
    t0: PageType,
    d: [usize; 2],
    page: &Page,
) -> Result<(), IoError> {
    if d0 != d {
        return Err(IoError::invalid(
            path,
            format!(
                "page {index} is {}x{} but page 0 is {}x{}; all pages must share a size",
                d[1], d[0], d0[1], d0[0]
            ),
        ));
    }
    if page.page_type() != t0 {
        return Err(IoError::invalid(
            path,
            format!(
                "page {index} holds {} samples but page 0 holds {}; all pages must share a sample type (re-export the stack with one type)",
                page.page_type().as_str(),
                t0.as_str()
            ),
        ));
    }
    Ok(())
}

/// Read one TIFF file: all pages (or `page_range`), data bar and ROI cropped.
pub(crate) fn read_pages(
    path: &Path,
    opts: &ReadOptions,
    page_range: Option<(usize, usize)>,
) -> Result<TiffPages, IoError> {
    let mut pd = PageDecoder::open(path, opts)?;
    let mut pages: Vec<Page> = Vec::new();
    let mut dims: Option<[usize; 2]> = None;
    let mut total: u64 = 0;
    let mut index = 0usize;
    loop {
        let wanted = page_range.is_none_or(|(a, b)| index >= a && index < b);
        if wanted {
            let budget = opts.max_bytes.saturating_sub(total);
            let (page, d, bytes) = pd.decode(path, index, budget, opts.max_bytes, opts.crop)?;
            total = total.saturating_add(bytes);
            if let (Some(d0), Some(p0)) = (dims, pages.first()) {
                check_same_page(path, index, d0, p0.page_type(), d, &page)?;
            }
            dims = Some(d);
            pages.push(page);
        }
        index += 1;
        if page_range.is_some_and(|(_, b)| index >= b) || !pd.advance(path)? {
            break;
        }
    }
    let dims = match dims {
        Some(d) => d,
        None => {
            return Err(IoError::invalid(
                path,
                match page_range {
                    Some((a, b)) => {
                        return Err(super::slice_range(path, (a, b), index)
                            .err()
                            .unwrap_or_else(|| IoError::invalid(path, "no pages")))
                    }
                    None => "no pages".to_string(),
                },
            ))
        }
    };
    if let Some((a, b)) = page_range {
        if b != usize::MAX && index < b {
            // the file ended before the end of the range: never clamp it
            super::slice_range(path, (a, b), index)?;
        }
    }
    let more_pages = pd.dec.more_images();
    let mut info = pd.info;
    if pd.databar > 0 {
        info.meta.databar_rows = Some(pd.databar);
    }
    Ok(TiffPages {
        dims,
        pages,
        info,
        more_pages,
    })
}

fn decoding_name(d: &DecodingResult) -> &'static str {
    match d {
        DecodingResult::U32(_) => "32-bit unsigned integer",
        DecodingResult::U64(_) => "64-bit unsigned integer",
        DecodingResult::F64(_) => "64-bit float",
        DecodingResult::I8(_) => "8-bit signed integer",
        DecodingResult::I16(_) => "16-bit signed integer",
        DecodingResult::I32(_) => "32-bit signed integer",
        DecodingResult::I64(_) => "64-bit signed integer",
        _ => "unknown",
    }
}

/// 8-bit palette images whose palette is a grey ramp (Zeiss writes these): read the strips and map
/// through the colour map. Colour palettes are refused.
fn read_grey_palette<R: Read + Seek>(
    dec: &mut Decoder<R>,
    path: &Path,
    w: usize,
    h: usize,
) -> Result<Vec<u8>, IoError> {
    let unsupported = |what: String| IoError::Unsupported {
        path: path.to_path_buf(),
        format: what,
    };
    let photometric = dec
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .ok()
        .flatten();
    let bps = dec
        .find_tag_unsigned::<u16>(Tag::BitsPerSample)
        .ok()
        .flatten()
        .unwrap_or(1);
    let spp = dec
        .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
        .ok()
        .flatten()
        .unwrap_or(1);
    if photometric != Some(3) || bps != 8 || spp != 1 {
        return Err(unsupported(format!(
            "photometric {photometric:?}, {spp} sample(s) of {bps} bit(s)"
        )));
    }
    let comp = dec
        .find_tag_unsigned::<u16>(Tag::Compression)
        .ok()
        .flatten()
        .unwrap_or(1);
    if comp != 1 {
        return Err(unsupported(format!(
            "compressed palette image (compression {comp})"
        )));
    }
    let cmap = dec
        .get_tag_u16_vec(Tag::ColorMap)
        .map_err(|e| corrupt(path, e))?;
    if cmap.len() != 768 {
        return Err(corrupt(path, "palette colour map must have 768 entries"));
    }
    let (r, g, b) = (&cmap[..256], &cmap[256..512], &cmap[512..]);
    // Zeiss palettes are a grey ramp (i → 257·i) with a few entries recoloured for annotation
    // overlays; the indices are then the grey levels. Any other palette is refused.
    let grey = (0..256).filter(|&i| r[i] == g[i] && g[i] == b[i]).count();
    let ramp = (0..256)
        .filter(|&i| r[i] == g[i] && g[i] == b[i] && r[i] as usize == 257 * i)
        .count();
    let lut: Vec<u8> = if grey == 256 {
        r.iter().map(|v| (v >> 8) as u8).collect()
    } else if ramp >= 224 {
        (0..=255u8).collect()
    } else {
        return Err(unsupported("colour palette image (not grey)".into()));
    };
    let offsets = dec
        .get_tag_u64_vec(Tag::StripOffsets)
        .map_err(|e| corrupt(path, e))?;
    let counts = dec
        .get_tag_u64_vec(Tag::StripByteCounts)
        .map_err(|e| corrupt(path, e))?;
    let mut file = File::open(path).map_err(|e| IoError::os(path, e))?;
    let mut out = Vec::with_capacity(w * h);
    for (o, c) in offsets.iter().zip(&counts) {
        let need = (w * h - out.len()).min(*c as usize);
        let mut buf = vec![0u8; need];
        file.seek(SeekFrom::Start(*o))
            .map_err(|e| IoError::os(path, e))?;
        file.read_exact(&mut buf)
            .map_err(|_| corrupt(path, "file ends early (truncated)"))?;
        out.extend(buf.iter().map(|&i| lut[i as usize]));
        if out.len() >= w * h {
            break;
        }
    }
    if out.len() != w * h {
        return Err(corrupt(path, "palette image strips hold too few pixels"));
    }
    Ok(out)
}

fn crop_vec<T: Copy>(v: &[T], w: usize, y0: usize, x0: usize, ch: usize, cw: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(ch * cw);
    for y in y0..y0 + ch {
        out.extend_from_slice(&v[y * w + x0..y * w + x0 + cw]);
    }
    out
}

/// Remove `databar` bottom rows, then crop `[y0, x0, h, w]`.
fn crop_page(
    path: &Path,
    page: Page,
    hw: [usize; 2],
    databar: usize,
    roi: Option<[usize; 4]>,
) -> Result<(Page, [usize; 2]), IoError> {
    let [h, w] = hw;
    if databar >= h {
        return Err(IoError::invalid(
            path,
            format!("data bar of {databar} rows is not smaller than the image height {h}; read with --keep-databar"),
        ));
    }
    let h1 = h - databar;
    let [y0, x0, ch, cw] = roi.unwrap_or([0, 0, h1, w]);
    if ch == 0 || cw == 0 || y0 + ch > h1 || x0 + cw > w {
        return Err(IoError::invalid(
            path,
            format!("crop y0={y0},x0={x0},h={ch},w={cw} lies outside the {w}x{h1} image (after the data bar); choose a rectangle inside it"),
        ));
    }
    if (y0, x0, ch, cw) == (0, 0, h, w) {
        return Ok((page, [h, w]));
    }
    let p = match page {
        Page::U8(v) => Page::U8(crop_vec(&v, w, y0, x0, ch, cw)),
        Page::U16(v) => Page::U16(crop_vec(&v, w, y0, x0, ch, cw)),
        Page::F32(v) => Page::F32(crop_vec(&v, w, y0, x0, ch, cw)),
        Page::Int(v, k) => Page::Int(crop_vec(&v, w, y0, x0, ch, cw), k),
    };
    Ok((p, [ch, cw]))
}

/// Stack pages (all of one type and size) into a [`GreyData`].
pub(crate) fn stack_pages(
    path: &Path,
    pages: Vec<Page>,
    dims: [usize; 2],
) -> Result<GreyData, IoError> {
    let nz = pages.len();
    let shape = (nz, dims[0], dims[1]);
    macro_rules! cat {
        ($variant:ident) => {{
            let mut all = Vec::with_capacity(nz * dims[0] * dims[1]);
            for p in pages {
                match p {
                    Page::$variant(v) => all.extend_from_slice(&v),
                    _ => return Err(IoError::invalid(path, "pages of mixed sample types")),
                }
            }
            GreyData::$variant(
                Array3::from_shape_vec(shape, all)
                    .map_err(|e| IoError::invalid(path, e.to_string()))?,
            )
        }};
    }
    Ok(match pages.first() {
        Some(Page::U8(_)) => cat!(U8),
        Some(Page::U16(_)) => cat!(U16),
        Some(Page::F32(_)) => cat!(F32),
        Some(Page::Int(_, kind)) => {
            let what = format!("TIFF {kind}");
            let mut all: Vec<i32> = Vec::with_capacity(nz * dims[0] * dims[1]);
            for p in pages {
                match p {
                    Page::Int(v, _) => all.extend_from_slice(&v),
                    _ => return Err(IoError::invalid(path, "pages of mixed sample types")),
                }
            }
            let n = all.len();
            let (d, _, _) =
                super::ints::narrow(path, &what, [nz, dims[0], dims[1]], n, |i| all[i] as i64)?;
            d
        }
        None => return Err(IoError::invalid(path, "no pages")),
    })
}

/// Voxel size and metadata from vendor info.
pub(crate) fn voxel_from_info(info: &VendorInfo) -> VoxelSize {
    let mut v = VoxelSize::default();
    if let Some([dy, dx]) = info.pixel_nm {
        v.nm[1] = dy;
        v.nm[2] = dx;
        v.source[1] = VoxelSource::File;
        v.source[2] = VoxelSource::File;
    }
    if let Some(dz) = info.spacing_nm {
        v.nm[0] = dz;
        v.source[0] = VoxelSource::File;
    }
    v
}

/// Read a single- or multi-page TIFF file into a volume (page = z).
pub fn read_tiff(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    let tp = read_pages(path, opts, opts.slices)?;
    let voxel = voxel_from_info(&tp.info);
    let mut meta: Metadata = tp.info.meta.clone();
    meta.slice_thickness_nm = tp.info.spacing_nm;
    meta.source_files = vec![path.to_path_buf()];
    let data = stack_pages(path, tp.pages, tp.dims)?;
    Ok(GreyVolume { data, voxel, meta })
}

// ---------------------------------------------------------------- writing

/// Display range of a volume for the ImageJ description (`None` for u8: fixed 0..255).
pub(crate) fn value_range(data: &GreyData) -> (f64, f64) {
    match data {
        GreyData::U8(_) => (0.0, 255.0),
        GreyData::U16(a) => (
            a.iter().copied().min().unwrap_or(0) as f64,
            a.iter().copied().max().unwrap_or(0) as f64,
        ),
        GreyData::F32(a) => (
            a.iter().copied().fold(f32::INFINITY, f32::min) as f64,
            a.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64,
        ),
    }
}

fn imagej_description(vol: &GreyVolume) -> (String, String, f64) {
    let (lo, hi) = value_range(&vol.data);
    imagej_description_parts(vol.shape()[0], &vol.voxel, Some((lo, hi)))
}

/// ImageJ description for `nz` pages; `range` = display min/max (left out when `None`).
pub(crate) fn imagej_description_parts(
    nz: usize,
    voxel: &VoxelSize,
    range: Option<(f64, f64)>,
) -> (String, String, f64) {
    let maxd = voxel.nm.iter().cloned().fold(0.0, f64::max);
    let (unit, f) = if maxd >= 1000.0 {
        ("micron", 1e-3)
    } else {
        ("nm", 1.0)
    };
    let pixel_known = voxel.source[1..].iter().all(|s| *s != VoxelSource::Default);
    let dz_known = voxel.source[0] != VoxelSource::Default;
    let mut d = format!("ImageJ=1.11a\nimages={nz}\n");
    if nz > 1 {
        d.push_str(&format!("slices={nz}\n"));
    }
    // an unknown size is left out (ImageJ then shows pixels), never written as a number
    if pixel_known {
        d.push_str(&format!("unit={unit}\n"));
        if dz_known {
            d.push_str(&format!("spacing={}\n", voxel.dz() * f));
        }
    }
    d.push_str("loop=false\n");
    if let Some((lo, hi)) = range {
        if lo.is_finite() && hi.is_finite() {
            d.push_str(&format!("min={lo}\nmax={hi}\n"));
        }
    }
    (d, unit.to_string(), f)
}

fn rational_per_unit(d_nm: f64, f: f64) -> Rational {
    // pixels per unit = 1 / (d_nm * f); store as 1e6 / round(d_unit * 1e6)
    let d_unit = d_nm * f;
    let den = (d_unit * 1e6).round().clamp(1.0, u32::MAX as f64) as u32;
    Rational {
        n: 1_000_000,
        d: den,
    }
}

/// Write a multi-page TIFF (page = z) with an ImageJ description carrying the voxel size.
///
/// ```
/// use fibstack::volume::{GreyVolume, VoxelSize, VoxelSource};
/// use fibstack::io::{tiff::{write_tiff, TiffWriteOptions}, read_volume, ReadOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("v.tif");
/// let v = GreyVolume::from_u16(ndarray::Array3::from_elem((3, 4, 5), 7u16),
///     VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine));
/// write_tiff(&p, &v, &TiffWriteOptions::default()).unwrap();
/// let r = read_volume(&p, &ReadOptions::default()).unwrap();
/// assert_eq!(r.data, v.data);
/// assert_eq!(r.voxel.nm, [20.0, 5.0, 5.0]);
/// ```
pub fn write_tiff(path: &Path, vol: &GreyVolume, opts: &TiffWriteOptions) -> Result<(), IoError> {
    let [nz, ny, nx] = vol.shape();
    if nz == 0 || ny == 0 || nx == 0 {
        return Err(IoError::invalid(path, "cannot write an empty volume"));
    }
    super::atomic::write_atomic(path, |w| write_tiff_to(path, w, vol, opts))
}

/// Whether a volume of this many bytes needs BigTIFF.
pub(crate) fn needs_bigtiff(bytes: u64, opts: &TiffWriteOptions) -> bool {
    opts.bigtiff || bytes > (4u64 << 30) - (64 << 20)
}

/// [`write_tiff`] into any writer (no atomic rename; `path` names errors).
pub(crate) fn write_tiff_to<W: Write + Seek>(
    path: &Path,
    w: W,
    vol: &GreyVolume,
    opts: &TiffWriteOptions,
) -> Result<(), IoError> {
    let [nz, ny, nx] = vol.shape();
    let bytes = (nz * ny * nx * vol.sample_type().bytes()) as u64;
    let r = if needs_bigtiff(bytes, opts) {
        TiffEncoder::new_big(w).and_then(|e| write_pages(e, vol, opts))
    } else {
        TiffEncoder::new(w).and_then(|e| write_pages(e, vol, opts))
    };
    r.map_err(|e| IoError::invalid(path, format!("TIFF encoding failed: {e}")))
}

/// What every page we write carries: the Software JSON and the X/Y resolutions.
pub(crate) fn page_tags(voxel: &VoxelSize, f: f64) -> (String, Rational, Rational) {
    // axes still at the uncalibrated default are written as null: a reader must not take the
    // placeholder for metadata
    let nm: Vec<Option<f64>> = (0..3)
        .map(|i| (voxel.source[i] != VoxelSource::Default).then_some(voxel.nm[i]))
        .collect();
    let json = serde_json::json!({ "voxel_nm": nm }).to_string();
    let pixel_known = voxel.source[1..].iter().all(|s| *s != VoxelSource::Default);
    let res = |d: f64| {
        if pixel_known {
            rational_per_unit(d, f)
        } else {
            Rational { n: 1, d: 1 }
        }
    };
    (json, res(voxel.dx()), res(voxel.dy()))
}

fn write_pages<W: Write + Seek, K: TiffKind>(
    mut enc: TiffEncoder<W, K>,
    vol: &GreyVolume,
    opts: &TiffWriteOptions,
) -> tiff::TiffResult<()> {
    let (desc, _unit, f) = imagej_description(vol);
    let (json, xres, yres) = page_tags(&vol.voxel, f);
    let nz = vol.shape()[0];
    for z in 0..nz {
        let desc_z = if z == 0 { Some(desc.as_str()) } else { None };
        macro_rules! page {
            ($a:expr, $ct:ty) => {
                write_page::<_, K, $ct>(
                    &mut enc,
                    $a.index_axis(ndarray::Axis(0), z),
                    desc_z,
                    xres.clone(),
                    yres.clone(),
                    opts,
                    &json,
                )?
            };
        }
        match &vol.data {
            GreyData::U8(a) => page!(a, colortype::Gray8),
            GreyData::U16(a) => page!(a, colortype::Gray16),
            GreyData::F32(a) => page!(a, colortype::Gray32Float),
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn write_page<W, K, C>(
    enc: &mut TiffEncoder<W, K>,
    page: ArrayView2<C::Inner>,
    desc: Option<&str>,
    xres: Rational,
    yres: Rational,
    opts: &TiffWriteOptions,
    json: &str,
) -> tiff::TiffResult<()>
where
    W: Write + Seek,
    K: TiffKind,
    C: colortype::ColorType,
    C::Inner: Copy,
    [C::Inner]: tiff::encoder::TiffValue,
{
    let (h, w) = page.dim();
    let data: Vec<C::Inner> = page.iter().copied().collect();
    macro_rules! go {
        ($comp:expr) => {{
            let mut img = enc.new_image_with_compression::<C, _>(w as u32, h as u32, $comp)?;
            if let Some(d) = desc {
                img.encoder().write_tag(Tag::ImageDescription, d)?;
            }
            if let Some(t) = &opts.fei_metadata {
                img.encoder().write_tag(Tag::Unknown(TAG_FEI), t.as_str())?;
            }
            img.encoder().write_tag(
                Tag::Software,
                format!("fibstack {} {json}", env!("CARGO_PKG_VERSION")).as_str(),
            )?;
            img.x_resolution(xres);
            img.y_resolution(yres);
            img.resolution_unit(ResolutionUnit::None);
            img.write_data(&data)
        }};
    }
    match opts.compression {
        Compression::None => go!(compression::Uncompressed),
        Compression::Lzw => go!(compression::Lzw),
        Compression::Deflate => go!(compression::Deflate::default()),
        Compression::PackBits => go!(compression::Packbits),
    }
}
