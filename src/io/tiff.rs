//! TIFF reading and writing (through the `tiff` crate).
//!
//! Reading: 8/16-bit unsigned and 32-bit float grey, single- or multi-page (page = z),
//! uncompressed / LZW / Deflate / PackBits, 8-bit grey palettes (Zeiss); Thermo/FEI, Zeiss and
//! ImageJ metadata. Writing: multi-page with an ImageJ description (unit + spacing) and
//! X/YResolution so Fiji shows the voxel size; BigTIFF above 4 GiB.

use super::meta::{self, VendorInfo, TAG_FEI, TAG_ZEISS};
use super::{check_budget, IoError, ReadOptions};
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
    /// No compression (fastest to read and write, largest files).
    None,
    /// LZW (lossless; widely supported).
    Lzw,
    /// Deflate / zlib (lossless; usually smaller than LZW).
    Deflate,
    /// PackBits run-length coding (lossless; good for label images with long runs).
    PackBits,
}

/// Options for [`write_tiff`].
#[derive(Debug, Clone, Default)]
pub struct TiffWriteOptions {
    /// Compression of every page (default: none).
    pub compression: Compression,
    /// INI text for the Thermo/FEI private tag 34682 (written on every page).
    pub fei_metadata: Option<String>,
    /// Force BigTIFF (chosen automatically above 4 GiB).
    pub bigtiff: bool,
    /// ImageDescription of the first page instead of the ImageJ one (OME-XML for OME-TIFF).
    pub description: Option<String>,
    /// Write u8 data as a palette (indexed-colour) image with this colour table (`[r, g, b]`,
    /// 16-bit, at most 256 entries; missing entries are black). Label output uses it.
    pub palette: Option<Vec<[u16; 3]>>,
}

/// 8-bit palette (PhotometricInterpretation = 3) colour type for the encoder.
pub(crate) struct Palette8;
impl colortype::ColorType for Palette8 {
    type Inner = u8;
    const TIFF_VALUE: tiff::tags::PhotometricInterpretation =
        tiff::tags::PhotometricInterpretation::RGBPalette;
    const BITS_PER_SAMPLE: &'static [u16] = &[8];
    const SAMPLE_FORMAT: &'static [tiff::tags::SampleFormat] = &[tiff::tags::SampleFormat::Uint];
}

/// The TIFF ColorMap (768 values: all reds, all greens, all blues) of a colour table.
pub(crate) fn colormap_tag(table: &[[u16; 3]]) -> Vec<u16> {
    let mut m = vec![0u16; 768];
    for (i, c) in table.iter().take(256).enumerate() {
        m[i] = c[0];
        m[256 + i] = c[1];
        m[512 + i] = c[2];
    }
    m
}

/// A glasbey-like label colour table: index 0 black, then the Okabe–Ito colour-blind-safe
/// colours, then hues stepped by the golden angle with alternating brightness, so neighbouring
/// labels differ clearly (16-bit `[r, g, b]`).
///
/// ```
/// let t = fibstack::io::tiff::label_palette();
/// assert_eq!(t.len(), 256);
/// assert_eq!(t[0], [0, 0, 0]);
/// assert_ne!(t[1], t[2]);
/// ```
pub fn label_palette() -> Vec<[u16; 3]> {
    const OKABE_ITO: [[u8; 3]; 8] = [
        [230, 159, 0],
        [86, 180, 233],
        [0, 158, 115],
        [240, 228, 66],
        [0, 114, 178],
        [213, 94, 0],
        [204, 121, 167],
        [255, 255, 255],
    ];
    let mut t = vec![[0u16; 3]];
    for c in OKABE_ITO {
        t.push([c[0] as u16 * 257, c[1] as u16 * 257, c[2] as u16 * 257]);
    }
    let mut k = 0usize;
    while t.len() < 256 {
        let h = (k as f64 * 137.507_764_050_037_85).rem_euclid(360.0) / 60.0;
        let (s, v) = [(0.85, 1.0), (0.6, 0.75), (1.0, 0.55)][k % 3];
        let c = v * s;
        let x = c * (1.0 - (h % 2.0 - 1.0).abs());
        let (r, g, b) = match h as usize {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        let m = v - c;
        let q = |u: f64| ((u + m) * 65535.0).round().clamp(0.0, 65535.0) as u16;
        t.push([q(r), q(g), q(b)]);
        k += 1;
    }
    t
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
    /// `[height, width]` of the first page before cropping.
    pub full_dims: [usize; 2],
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
        tiff::TiffError::LimitsExceeded => corrupt(
            path,
            "a tag or page declares more data than the decoder accepts",
        ),
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
    if info.bounding_box.is_none() && info.meta.instrument.as_deref() != Some("fibstack") {
        if let Some(nm) = tag_string(dec, Tag::Software).and_then(|s| fibstack_voxel(&s)) {
            let had = (info.spacing_nm.is_some(), info.pixel_nm.is_some());
            apply_fibstack_voxel(&mut info, nm, true);
            let d = "fibstack Software tag voxel_nm";
            if !had.0 && info.spacing_nm.is_some() {
                info.spacing_detail = Some(d.into());
            }
            if !had.1 && info.pixel_nm.is_some() {
                info.pixel_detail = Some(d.into());
            }
        }
    }
    if let Some(sw) = tag_string(dec, Tag::Software) {
        info.meta.phase_names = fibstack_phases(&sw);
    }
    info.slice_labels = imagej_slice_labels(path);
    info.meta.container = Some(container_name(dec));
    info
}

/// `"TIFF, LZW"`, `"BigTIFF, palette (indexed colour), Deflate"`, `"OME-TIFF"`, … of the
/// current IFD.
fn container_name<R: Read + Seek>(dec: &mut Decoder<R>) -> String {
    let ome = tag_string(dec, Tag::ImageDescription).is_some_and(|d| d.contains("<OME"));
    let mut s = String::from(if ome { "OME-TIFF" } else { "TIFF" });
    if dec
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .ok()
        .flatten()
        == Some(3)
    {
        s.push_str(", palette (indexed colour)");
    }
    let comp = dec
        .find_tag_unsigned::<u16>(Tag::Compression)
        .ok()
        .flatten()
        .unwrap_or(1);
    match super::strips::compression_name(comp) {
        Some(n) => s.push_str(&format!(", {n}")),
        None => s.push_str(&format!(", compression {comp}")),
    }
    s
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
        if d.contains("<OME") {
            return super::ome::vendor_info_from_xml(&d);
        }
        if let Some(bbox) = meta::parse_bounding_box(&d) {
            let mut info = VendorInfo {
                bounding_box: Some(bbox),
                bounding_box_unit_nm: meta::parse_unit_statement(&d),
                ..Default::default()
            };
            info.meta.instrument = Some("Avizo/Amira (BoundingBox in ImageDescription)".into());
            return info;
        }
        if d.starts_with("ImageJ=") {
            let xr = tag_rational(dec, Tag::XResolution);
            let yr = tag_rational(dec, Tag::YResolution);
            let mut info = meta::parse_imagej(&d, xr, yr);
            // files we wrote also carry the exact voxel size (ImageJ's rationals round it), and
            // say which axes were unknown
            if let Some(nm) = tag_string(dec, Tag::Software).and_then(|s| fibstack_voxel(&s)) {
                apply_fibstack_voxel(&mut info, nm, false);
                info.meta.instrument = Some("fibstack".into());
                let d = "fibstack Software tag voxel_nm (exact; ImageJ description agrees)";
                info.pixel_detail = Some(d.into());
                info.spacing_detail = Some(d.into());
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
    let (typ, bytes, _) = raw_tag(path, tag)?;
    if !matches!(typ, 1 | 2 | 7) {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|&c| if c == 0 { '\n' } else { c as char })
            .collect(),
    )
}

/// The values of a SHORT/LONG tag of the first IFD, read ourselves.
fn raw_tag_u32s(path: &Path, tag: u16) -> Option<Vec<u32>> {
    let (typ, bytes, le) = raw_tag(path, tag)?;
    Some(match typ {
        3 => bytes
            .chunks_exact(2)
            .map(|b| {
                if le {
                    u16::from_le_bytes([b[0], b[1]]) as u32
                } else {
                    u16::from_be_bytes([b[0], b[1]]) as u32
                }
            })
            .collect(),
        4 => bytes
            .chunks_exact(4)
            .map(|b| {
                let a = [b[0], b[1], b[2], b[3]];
                if le {
                    u32::from_le_bytes(a)
                } else {
                    u32::from_be_bytes(a)
                }
            })
            .collect(),
        _ => return None,
    })
}

/// ImageJ slice labels (IJMetadata, tags 50838/50839) of a TIFF file.
pub(crate) fn imagej_slice_labels(path: &Path) -> Vec<String> {
    let (Some(counts), Some((_, data, _))) = (raw_tag_u32s(path, 50838), raw_tag(path, 50839))
    else {
        return Vec::new();
    };
    meta::parse_ij_labels(&data, &counts)
}

/// Type, raw bytes (at most 16 MiB) and byte order of a tag of the first IFD. Classic TIFF and
/// BigTIFF; `None` when absent or unreadable.
fn raw_tag(path: &Path, tag: u16) -> Option<(u16, Vec<u8>, bool)> {
    let mut f = File::open(path).ok()?;
    let file_len = f.metadata().ok()?.len();
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
        let size = match typ {
            1 | 2 | 6 | 7 => 1u64,
            3 | 8 => 2,
            4 | 9 | 11 => 4,
            _ => return None,
        };
        let count = if big {
            u64_(&e[count_off..])
        } else {
            u32_(&e[count_off..]) as u64
        };
        let len = count.checked_mul(size)?;
        if len > 16 << 20 || len > file_len {
            return None;
        }
        let bytes = if len <= inline {
            e[val_off..val_off + len as usize].to_vec()
        } else {
            let off = if big {
                u64_(&e[val_off..])
            } else {
                u32_(&e[val_off..]) as u64
            };
            if off.checked_add(len)? > file_len {
                return None;
            }
            let mut b = vec![0u8; len as usize];
            f.seek(SeekFrom::Start(off)).ok()?;
            f.read_exact(&mut b).ok()?;
            b
        };
        return Some((typ, bytes, le));
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

/// Phase names our writer recorded in the Software tag (`"phases": {"0": "pore"}`); names that
/// are not valid are skipped.
fn fibstack_phases(software: &str) -> crate::volume::PhaseNames {
    let mut out = crate::volume::PhaseNames::new();
    let Some(rest) = software.strip_prefix("fibstack ") else {
        return out;
    };
    let Some(i) = rest.find('{') else { return out };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(rest[i..].trim_end_matches('\0')) else {
        return out;
    };
    if let Some(m) = v.get("phases").and_then(|p| p.as_object()) {
        for (l, n) in m {
            if let (Ok(l), Some(n)) = (l.parse::<u8>(), n.as_str()) {
                let _ = crate::volume::insert_phase_name(&mut out, l, n);
            }
        }
    }
    out
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
    /// The structural check of every page, done before the decoder reads a tag.
    pub scan: Vec<super::tiff_scan::PageScan>,
    /// `[height, width]` of the first page before any cropping.
    pub first_dims: [usize; 2],
}

impl PageDecoder {
    /// Open `path` (limits from `opts.max_bytes`), read the vendor metadata of the first IFD.
    pub(crate) fn open(path: &Path, opts: &ReadOptions) -> Result<Self, IoError> {
        let scan = super::tiff_scan::scan(path)?;
        let file = File::open(path).map_err(|e| IoError::os(path, e))?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut limits = Limits::default();
        limits.decoding_buffer_size = usize::try_from(opts.max_bytes).unwrap_or(usize::MAX);
        // a compressed strip cannot be larger than the file (the scan checked they lie inside)
        limits.intermediate_buffer_size =
            usize::try_from(opts.max_bytes.min(file_len)).unwrap_or(usize::MAX);
        limits.ifd_value_size = 64 << 20;
        let mut dec = Decoder::new(BufReader::new(file))
            .map_err(|e| map_tiff_err(path, e))?
            .with_limits(limits);
        let info = vendor_info(&mut dec, path);
        let first_dims = dec
            .dimensions()
            .map(|(w, h)| [h as usize, w as usize])
            .unwrap_or([0, 0]);
        let databar = if opts.crop_databar {
            info.meta.databar_rows.unwrap_or(0)
        } else {
            0
        };
        Ok(PageDecoder {
            dec,
            info,
            databar,
            scan,
            first_dims,
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
        // the pages read so far (`max_bytes - budget`) plus this one
        check_budget(
            path,
            format!("{w}x{h} (page {index})"),
            max_bytes.saturating_sub(budget).saturating_add(page_bytes),
            max_bytes,
        )?;
        let page = match ct {
            Ok(_) => match dec.read_image().map_err(|e| map_tiff_err(path, e))? {
                DecodingResult::U8(v) => Page::U8(v),
                DecodingResult::U16(v) => Page::U16(v),
                DecodingResult::F32(v) => Page::F32(v),
                other => int_page(path, index, other)?,
            },
            Err(_) => {
                let (v, table) = read_palette(dec, path, w, h)?;
                if table.is_some() && self.info.meta.palette.is_none() {
                    self.info.meta.palette = table;
                }
                Page::U8(v)
            }
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
    read_pages_impl(path, opts, page_range, None)
}

/// Read the pages whose indices are listed (ascending).
pub(crate) fn read_pages_where(
    path: &Path,
    opts: &ReadOptions,
    wanted: &[usize],
) -> Result<TiffPages, IoError> {
    let last = wanted.last().map_or(0, |l| l + 1);
    read_pages_impl(
        path,
        opts,
        Some((wanted.first().copied().unwrap_or(0), last)),
        Some(wanted),
    )
}

fn read_pages_impl(
    path: &Path,
    opts: &ReadOptions,
    page_range: Option<(usize, usize)>,
    list: Option<&[usize]>,
) -> Result<TiffPages, IoError> {
    let mut pd = PageDecoder::open(path, opts)?;
    let mut pages: Vec<Page> = Vec::new();
    let mut dims: Option<[usize; 2]> = None;
    let mut total: u64 = 0;
    let mut index = 0usize;
    loop {
        let wanted = page_range.is_none_or(|(a, b)| index >= a && index < b)
            && list.is_none_or(|l| l.binary_search(&index).is_ok());
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
        full_dims: pd.first_dims,
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

/// 8-bit palette (indexed-colour) images, any compression of [`super::strips`]. A grey-ramp
/// palette (Zeiss writes these, sometimes with a few entries recoloured for annotation overlays)
/// maps back to grey levels; any other palette is a label image: the indices are the labels and
/// the colour table is returned to be kept in the metadata.
#[allow(clippy::type_complexity)]
fn read_palette<R: Read + Seek>(
    dec: &mut Decoder<R>,
    path: &Path,
    w: usize,
    h: usize,
) -> Result<(Vec<u8>, Option<Vec<[u16; 3]>>), IoError> {
    let unsupported = |what: String| IoError::Unsupported {
        path: path.to_path_buf(),
        format: what,
    };
    let tag_u16 = |dec: &mut Decoder<R>, t: Tag| dec.find_tag_unsigned::<u16>(t).ok().flatten();
    let photometric = tag_u16(dec, Tag::PhotometricInterpretation);
    let bps = tag_u16(dec, Tag::BitsPerSample).unwrap_or(1);
    let spp = tag_u16(dec, Tag::SamplesPerPixel).unwrap_or(1);
    if photometric != Some(3) || bps != 8 || spp != 1 {
        return Err(unsupported(format!(
            "photometric {photometric:?}, {spp} sample(s) of {bps} bit(s)"
        )));
    }
    if dec.find_tag(Tag::TileWidth).ok().flatten().is_some() {
        return Err(unsupported(
            "tiled palette image (re-save it with strips, e.g. Fiji: File › Save As › Tiff)".into(),
        ));
    }
    let cmap = dec
        .get_tag_u16_vec(Tag::ColorMap)
        .map_err(|e| corrupt(path, e))?;
    if cmap.len() != 768 {
        return Err(corrupt(
            path,
            format!(
                "palette colour map has {} entries, an 8-bit palette needs 768",
                cmap.len()
            ),
        ));
    }
    let layout = super::strips::StripLayout {
        width: w,
        height: h,
        rows_per_strip: dec
            .find_tag_unsigned::<u32>(Tag::RowsPerStrip)
            .ok()
            .flatten()
            .map_or(h, |r| (r as usize).min(h)),
        offsets: dec
            .get_tag_u64_vec(Tag::StripOffsets)
            .map_err(|e| corrupt(path, e))?,
        counts: dec
            .get_tag_u64_vec(Tag::StripByteCounts)
            .map_err(|e| corrupt(path, e))?,
        compression: tag_u16(dec, Tag::Compression).unwrap_or(1),
        predictor: tag_u16(dec, Tag::Predictor).unwrap_or(1),
    };
    let (r, g, b) = (&cmap[..256], &cmap[256..512], &cmap[512..]);
    let grey = (0..256).filter(|&i| r[i] == g[i] && g[i] == b[i]).count();
    let ramp = (0..256)
        .filter(|&i| r[i] == g[i] && g[i] == b[i] && r[i] as usize == 257 * i)
        .count();
    let indices = super::strips::decode_strips(path, &layout)?;
    if grey == 256 {
        let lut: Vec<u8> = r.iter().map(|v| (v >> 8) as u8).collect();
        Ok((indices.iter().map(|&i| lut[i as usize]).collect(), None))
    } else if ramp >= 224 {
        Ok((indices, None))
    } else {
        let table = (0..256).map(|i| [r[i], g[i], b[i]]).collect();
        Ok((indices, Some(table)))
    }
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
    if ch == 0 || cw == 0 || y0.saturating_add(ch) > h1 || x0.saturating_add(cw) > w {
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

/// Voxel size from vendor info, through [`meta::file_voxel`] (details recorded in `meta`).
///
/// `full` = `[pages in the file, height, width]` before any cropping (an Avizo `BoundingBox`
/// refers to those); `z_nm` = per-slice z positions (Zeiss Atlas 3D labels or names) of the
/// slices read, used for dz when nothing else gives it.
pub(crate) fn calibrate(
    info: &VendorInfo,
    full: [usize; 3],
    opts: &ReadOptions,
    z_nm: Option<&[f64]>,
    meta: &mut Metadata,
) -> VoxelSize {
    use meta::FileValue;
    let mut axes: [Option<FileValue>; 3] = [None, None, None];
    if let Some([dy, dx]) = info.pixel_nm {
        let d = info
            .pixel_detail
            .clone()
            .unwrap_or_else(|| "TIFF tags".into());
        let [ddy, ddx] = info.pixel_detail_yx.clone().unwrap_or([d.clone(), d]);
        axes[1] = Some(FileValue::new(dy, ddy));
        axes[2] = Some(FileValue::new(dx, ddx));
    }
    if let Some(dz) = info.spacing_nm {
        let d = info
            .spacing_detail
            .clone()
            .unwrap_or_else(|| "TIFF tags".into());
        axes[0] = Some(FileValue::new(dz, d));
    }
    if let Some(bbox) = info.bounding_box {
        let v = meta::bounding_box_voxel(bbox, full);
        let unit = info
            .bounding_box_unit_nm
            .clone()
            .map(|(f, u)| (f, format!("unit {u} stated in the description")))
            .or_else(|| {
                opts.length_unit_nm
                    .map(|f| (f, format!("unit {} from --voxel-unit", unit_label(f))))
            });
        match unit {
            Some((f, how)) => {
                for i in 0..3 {
                    if axes[i].is_none() {
                        if let Some(d) = v[i] {
                            let n = full[i];
                            let rule = if n > 1 {
                                format!("extent/(n−1), n = {n}")
                            } else {
                                "extent of a one-voxel axis (Amira convention)".to_string()
                            };
                            axes[i] = Some(FileValue::new(
                                d * f,
                                format!("Avizo BoundingBox, {rule}, {how}"),
                            ));
                        }
                    }
                }
                meta.origin_nm = Some([bbox[4] * f, bbox[2] * f, bbox[0] * f]);
            }
            None => meta.warnings.push(format!(
                "Avizo BoundingBox gives a voxel of {} x {} x {} (dz, dy, dx) in an unstated unit (Avizo stores none): give --voxel-unit um or nm (or --voxel DZ,DY,DX) to use it",
                fmt_opt(v[0]),
                fmt_opt(v[1]),
                fmt_opt(v[2])
            )),
        }
    }
    if axes[0].is_none() {
        if let Some(z) = z_nm {
            if let Some(st) = meta::pitch_stats(z) {
                axes[0] = Some(FileValue::new(
                    st.median_nm,
                    format!(
                        "median pitch of {} slice z positions (Zeiss Atlas 3D names/labels): min {:.4} nm, max {:.4} nm, CV {:.3}",
                        z.len(),
                        st.min_nm,
                        st.max_nm,
                        st.cv
                    ),
                ));
                let dev = ((st.max_nm - st.median_nm).max(st.median_nm - st.min_nm)) / st.median_nm;
                if dev > meta::PITCH_TOLERANCE {
                    meta.warnings.push(format!(
                        "slice pitch is not uniform: {:.4}–{:.4} nm around the median {:.4} nm ({:.0} % off, CV {:.3}); dz = median. Resample with `fibstack geometry --resample-z` (workflow `resample_z = true`) for a uniform pitch",
                        st.min_nm,
                        st.max_nm,
                        st.median_nm,
                        dev * 100.0,
                        st.cv
                    ));
                }
            }
            meta.z_positions_nm = Some(z.to_vec());
        }
    }
    meta::file_voxel(axes, meta)
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v}"))
}

/// `"nm"` / `"µm"` / `"× nm"` for messages.
pub(crate) fn unit_label(nm_per_unit: f64) -> String {
    if nm_per_unit == 1.0 {
        "nm".into()
    } else if nm_per_unit == 1e3 {
        "µm".into()
    } else if nm_per_unit == 1e6 {
        "mm".into()
    } else if nm_per_unit == 0.1 {
        "Å".into()
    } else {
        format!("{nm_per_unit} nm")
    }
}

/// z positions (nm) of slices from their names or ImageJ labels (`…_z=5.9104um…`); `None`
/// unless every slice has one.
pub(crate) fn z_positions<'a>(names: impl Iterator<Item = &'a str>) -> Option<Vec<f64>> {
    let z: Option<Vec<f64>> = names.map(meta::atlas_z_nm).collect();
    z.filter(|z| z.len() >= 2)
}

/// Whether `path` is an OME-TIFF with several channels or time points (read whole, not
/// streamed: the pages of one z-stack are not contiguous).
pub(crate) fn is_multi_plane_ome(path: &Path, opts: &ReadOptions) -> bool {
    PageDecoder::open(path, opts).is_ok_and(|pd| super::ome::is_multi_plane(&pd.info))
}

/// Number of pages (IFDs) of a TIFF.
pub(crate) fn count_pages(path: &Path, opts: &ReadOptions) -> Result<usize, IoError> {
    let mut counter = PageDecoder::open(path, opts)?;
    let mut n = 1;
    while counter.advance(path)? {
        n += 1;
    }
    Ok(n)
}

/// Read a single- or multi-page TIFF file into a volume (page = z). OME-TIFF: pages chosen by
/// the OME-XML `DimensionOrder` (one channel and time point).
pub fn read_tiff(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    let probe = PageDecoder::open(path, opts)?;
    let (info0, first_dims) = (probe.info.clone(), probe.first_dims);
    drop(probe);
    if let Some(ome) = &info0.ome {
        let wanted = super::ome::select_pages(path, ome, opts)?;
        let tp = read_pages_where(path, opts, &wanted)?;
        return finish_tiff(
            path,
            tp,
            [ome.size[0], first_dims[0], first_dims[1]],
            opts,
            None,
        );
    }
    let n_pages = if info0.bounding_box.is_some() || !info0.slice_labels.is_empty() {
        count_pages(path, opts)?
    } else {
        0
    };
    let tp = read_pages(path, opts, opts.slices)?;
    let (a, b) = opts.slices.unwrap_or((0, usize::MAX));
    let labels = &info0.slice_labels;
    let z = (labels.len() == n_pages && n_pages > 1)
        .then(|| {
            z_positions(
                labels[a.min(n_pages)..b.min(n_pages)]
                    .iter()
                    .map(|s| s.as_str()),
            )
        })
        .flatten();
    finish_tiff(
        path,
        tp,
        [n_pages.max(1), first_dims[0], first_dims[1]],
        opts,
        z,
    )
}

fn finish_tiff(
    path: &Path,
    tp: TiffPages,
    full: [usize; 3],
    opts: &ReadOptions,
    z: Option<Vec<f64>>,
) -> Result<GreyVolume, IoError> {
    let mut meta: Metadata = tp.info.meta.clone();
    let voxel = calibrate(&tp.info, full, opts, z.as_deref(), &mut meta);
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
pub(crate) fn page_tags(
    voxel: &VoxelSize,
    f: f64,
    phases: &crate::volume::PhaseNames,
) -> (String, Rational, Rational) {
    // axes still at the uncalibrated default are written as null: a reader must not take the
    // placeholder for metadata
    let nm: Vec<Option<f64>> = (0..3)
        .map(|i| (voxel.source[i] != VoxelSource::Default).then_some(voxel.nm[i]))
        .collect();
    let mut json = serde_json::json!({ "voxel_nm": nm });
    if !phases.is_empty() {
        json["phases"] = serde_json::json!(phases
            .iter()
            .map(|(l, n)| (l.to_string(), n.clone()))
            .collect::<std::collections::BTreeMap<_, _>>());
    }
    let json = json.to_string();
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

/// An ImageJ description without its `images=`/`slices=` lines. ImageJ and tifffile read a stack
/// that declares `images=N` as N planes back to back from the first page's offset; a file whose
/// planes are not contiguous (compressed, or written page by page) must not declare it, and then
/// every IFD is read as a page.
pub(crate) fn without_stack_count(desc: &str) -> String {
    desc.lines()
        .filter(|l| !l.starts_with("images=") && !l.starts_with("slices="))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn write_pages<W: Write + Seek, K: TiffKind>(
    mut enc: TiffEncoder<W, K>,
    vol: &GreyVolume,
    opts: &TiffWriteOptions,
) -> tiff::TiffResult<()> {
    let (ij_desc, _unit, f) = imagej_description(vol);
    let nz = vol.shape()[0];
    if nz > 1 && opts.compression == Compression::None {
        // ImageJ (and tifffile) read an ImageJ stack of `images=N` as N contiguous planes
        // after the first IFD's offset: write it that way
        let desc = opts.description.clone().unwrap_or(ij_desc);
        let (json, xres, yres) = page_tags(&vol.voxel, f, &vol.meta.phase_names);
        return write_contiguous(enc, vol, opts, &desc, &json, xres, yres);
    }
    // compressed planes cannot be contiguous: without `images=` ImageJ reads every IFD
    let ij_desc = if nz > 1 {
        without_stack_count(&ij_desc)
    } else {
        ij_desc
    };
    let desc = opts.description.clone().unwrap_or(ij_desc);
    let (json, xres, yres) = page_tags(&vol.voxel, f, &vol.meta.phase_names);
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
            GreyData::U8(a) if opts.palette.is_some() => page!(a, Palette8),
            GreyData::U8(a) => page!(a, colortype::Gray8),
            GreyData::U16(a) => page!(a, colortype::Gray16),
            GreyData::F32(a) => page!(a, colortype::Gray32Float),
        }
    }
    Ok(())
}

/// Uncompressed multi-page TIFF with every plane's data contiguous, in z order, before the
/// IFDs (the layout ImageJ writes and expects for `images=N` stacks).
#[allow(clippy::too_many_arguments)]
fn write_contiguous<W: Write + Seek, K: TiffKind>(
    mut enc: TiffEncoder<W, K>,
    vol: &GreyVolume,
    opts: &TiffWriteOptions,
    desc: &str,
    json: &str,
    xres: Rational,
    yres: Rational,
) -> tiff::TiffResult<()> {
    let [nz, ny, nx] = vol.shape();
    let (bits, format, bytes): (u16, u16, u64) = match &vol.data {
        GreyData::U8(_) => (8, 1, 1),
        GreyData::U16(_) => (16, 1, 2),
        GreyData::F32(_) => (32, 3, 4),
    };
    let page_bytes = (ny * nx) as u64 * bytes;
    let photometric: u16 = if opts.palette.is_some() && bits == 8 {
        3
    } else {
        1
    };
    let software = format!("fibstack {} {json}", env!("CARGO_PKG_VERSION"));
    let mut offsets = Vec::with_capacity(nz);
    for z in 0..nz {
        let mut dir = enc.new_directory()?;
        if z == 0 {
            // all planes go after the header, before any IFD
            for k in 0..nz {
                let off = match &vol.data {
                    GreyData::U8(a) => {
                        let v: Vec<u8> =
                            a.index_axis(ndarray::Axis(0), k).iter().copied().collect();
                        dir.write_data(v.as_slice())?
                    }
                    GreyData::U16(a) => {
                        let v: Vec<u16> =
                            a.index_axis(ndarray::Axis(0), k).iter().copied().collect();
                        dir.write_data(v.as_slice())?
                    }
                    GreyData::F32(a) => {
                        let v: Vec<f32> =
                            a.index_axis(ndarray::Axis(0), k).iter().copied().collect();
                        dir.write_data(v.as_slice())?
                    }
                };
                offsets.push(off);
            }
            dir.write_tag(Tag::ImageDescription, desc)?;
        }
        dir.write_tag(Tag::NewSubfileType, 0u32)?;
        dir.write_tag(Tag::ImageWidth, nx as u32)?;
        dir.write_tag(Tag::ImageLength, ny as u32)?;
        dir.write_tag(Tag::BitsPerSample, bits)?;
        dir.write_tag(Tag::Compression, 1u16)?;
        dir.write_tag(Tag::PhotometricInterpretation, photometric)?;
        let off = [K::convert_offset(offsets[z])?];
        dir.write_tag(Tag::StripOffsets, K::convert_slice(&off))?;
        dir.write_tag(Tag::SamplesPerPixel, 1u16)?;
        dir.write_tag(Tag::RowsPerStrip, ny as u32)?;
        let cnt = [K::convert_offset(page_bytes)?];
        dir.write_tag(Tag::StripByteCounts, K::convert_slice(&cnt))?;
        dir.write_tag(Tag::XResolution, xres.clone())?;
        dir.write_tag(Tag::YResolution, yres.clone())?;
        dir.write_tag(Tag::ResolutionUnit, 1u16)?;
        dir.write_tag(Tag::Software, software.as_str())?;
        dir.write_tag(Tag::SampleFormat, format)?;
        if let Some(t) = &opts.fei_metadata {
            dir.write_tag(Tag::Unknown(TAG_FEI), t.as_str())?;
        }
        if photometric == 3 {
            if let Some(p) = &opts.palette {
                dir.write_tag(Tag::ColorMap, colormap_tag(p).as_slice())?;
            }
        }
        dir.finish()?;
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
            if let Some(p) = &opts.palette {
                img.encoder()
                    .write_tag(Tag::ColorMap, colormap_tag(p).as_slice())?;
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
