//! A structural check of a TIFF file's directories before the `tiff` crate decodes anything.
//!
//! The crate trusts the counts in a file's tags: a damaged or hostile tag declaring billions of
//! values makes it reserve memory for them before reading a byte, and image dimensions are only
//! checked against a size limit, not against what the file can hold. [`scan`] walks every IFD
//! itself (classic TIFF and BigTIFF) and refuses, naming the tag and the values:
//! - a directory or a tag value that lies (partly) past the end of the file;
//! - a tag the decoder reads with more than [`MAX_TAG_VALUES`] values;
//! - an IFD chain that loops;
//! - strips or tiles that lie past the end of the file;
//! - a page whose declared pixel bytes exceed what its compressed strips can expand to (the
//!   largest expansion ratio of its compression, e.g. 1:1 uncompressed, 64:1 PackBits, ~1032:1
//!   Deflate), so a corrupt header can never ask for more memory than the file justifies.
//!
//! The result gives, per page, the decoded size the reader then checks against `--max-memory`.

use super::IoError;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The most values a tag read by the decoder may declare (a strip per row of a 2-million-row
/// image still fits).
pub const MAX_TAG_VALUES: u64 = 1 << 21;

/// What the scan learned about one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageScan {
    /// Image width (pixels, `ImageWidth` tag).
    pub width: u64,
    /// Image height (pixels, `ImageLength` tag).
    pub height: u64,
    /// Bytes of the decoded page (`width·height·samples·bytes per sample`), when the tags say.
    pub decoded_bytes: Option<u64>,
    /// Bytes of image data the strips or tiles occupy in the file.
    pub stored_bytes: u64,
    /// The compression tag (1 = none).
    pub compression: u16,
}

/// Tags the `tiff` crate or our reader decode (their counts are checked).
const DECODED: &[u16] = &[
    256, 257, 258, 259, 262, 270, 273, 277, 278, 279, 282, 283, 284, 296, 305, 317, 320, 322, 323,
    324, 325, 338, 339, 347,
];

fn tag_name(tag: u16) -> String {
    let n = match tag {
        256 => "ImageWidth",
        257 => "ImageLength",
        258 => "BitsPerSample",
        259 => "Compression",
        262 => "PhotometricInterpretation",
        270 => "ImageDescription",
        273 => "StripOffsets",
        277 => "SamplesPerPixel",
        278 => "RowsPerStrip",
        279 => "StripByteCounts",
        282 => "XResolution",
        283 => "YResolution",
        305 => "Software",
        320 => "ColorMap",
        322 => "TileWidth",
        323 => "TileLength",
        324 => "TileOffsets",
        325 => "TileByteCounts",
        339 => "SampleFormat",
        _ => return format!("tag {tag}"),
    };
    format!("{n} (tag {tag})")
}

/// The largest factor by which a compression can expand data.
fn max_ratio(compression: u16) -> u64 {
    match compression {
        1 => 1,
        32773 => 64,
        8 | 32946 => 1032,
        _ => 4096, // LZW and anything else
    }
}

fn type_size(t: u16) -> Option<u64> {
    Some(match t {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

struct Entry {
    tag: u16,
    typ: u16,
    count: u64,
    /// The raw value/offset field (4 or 8 bytes).
    field: [u8; 8],
}

struct Reader<R> {
    r: R,
    le: bool,
    big: bool,
    len: u64,
}

impl<R: Read + Seek> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b)?;
        Ok(b)
    }
    fn uint(&self, b: &[u8]) -> u64 {
        let mut v = 0u64;
        if self.le {
            for (i, &x) in b.iter().enumerate() {
                v |= (x as u64) << (8 * i);
            }
        } else {
            for &x in b {
                v = (v << 8) | x as u64;
            }
        }
        v
    }
    fn value_offset(&self, e: &Entry) -> u64 {
        if self.big {
            self.uint(&e.field)
        } else {
            self.uint(&e.field[..4])
        }
    }
    /// Unsigned values of a SHORT/LONG/LONG8 entry (at most `MAX_TAG_VALUES`, within the file).
    fn values(&mut self, e: &Entry) -> std::io::Result<Vec<u64>> {
        let size = match e.typ {
            3 => 2,
            4 | 13 => 4,
            16 | 18 => 8,
            1 | 7 => 1,
            _ => return Ok(Vec::new()),
        };
        let inline = if self.big { 8 } else { 4 };
        let total = (e.count * size) as usize;
        let raw: Vec<u8> = if e.count * size <= inline {
            e.field[..total].to_vec()
        } else {
            self.r.seek(SeekFrom::Start(self.value_offset(e)))?;
            let mut b = vec![0u8; total];
            self.r.read_exact(&mut b)?;
            b
        };
        Ok(raw
            .chunks_exact(size as usize)
            .map(|c| self.uint(c))
            .collect())
    }
}

fn corrupt(path: &Path, detail: String) -> IoError {
    IoError::Corrupt {
        path: path.to_path_buf(),
        detail,
    }
}

/// Check the structure of the TIFF at `path` (see the module docs); one [`PageScan`] per IFD.
pub fn scan(path: &Path) -> Result<Vec<PageScan>, IoError> {
    let f = File::open(path).map_err(|e| IoError::os(path, e))?;
    let len = f.metadata().map_err(|e| IoError::os(path, e))?.len();
    scan_reader(path, BufReader::with_capacity(1 << 14, f), len)
}

/// [`scan`] over any reader holding `len` bytes.
pub fn scan_reader<R: Read + Seek>(path: &Path, r: R, len: u64) -> Result<Vec<PageScan>, IoError> {
    let eof = |what: &str| corrupt(path, format!("file ends inside the {what} (truncated)"));
    let mut rd = Reader {
        r,
        le: true,
        big: false,
        len,
    };
    let sig: [u8; 4] = rd.bytes().map_err(|_| eof("header"))?;
    rd.le = match &sig[..2] {
        b"II" => true,
        b"MM" => false,
        _ => return Err(corrupt(path, "no TIFF signature (II/MM)".into())),
    };
    let first = match rd.uint(&sig[2..4]) {
        42 => {
            let b: [u8; 4] = rd.bytes().map_err(|_| eof("header"))?;
            rd.uint(&b)
        }
        43 => {
            rd.big = true;
            let b: [u8; 12] = rd.bytes().map_err(|_| eof("header"))?;
            if rd.uint(&b[..2]) != 8 || rd.uint(&b[2..4]) != 0 {
                return Err(corrupt(
                    path,
                    "BigTIFF header with an unknown offset size".into(),
                ));
            }
            rd.uint(&b[4..12])
        }
        v => {
            return Err(corrupt(
                path,
                format!("TIFF version {v} (expected 42, or 43 for BigTIFF)"),
            ))
        }
    };
    let (count_len, entry_len, next_len) = if rd.big {
        (8u64, 20u64, 8u64)
    } else {
        (2, 12, 4)
    };
    let mut pages = Vec::new();
    let mut seen = HashSet::new();
    let mut next = first;
    while next != 0 {
        let index = pages.len();
        if !seen.insert(next) {
            return Err(corrupt(
                path,
                format!("the directory of page {index} points back to offset {next} (loop)"),
            ));
        }
        if next < 8 || next.saturating_add(count_len) > len {
            return Err(corrupt(
                path,
                format!(
                    "the directory of page {index} is at offset {next}, past the end of the {len}-byte file (truncated)"
                ),
            ));
        }
        rd.r.seek(SeekFrom::Start(next))
            .map_err(|e| IoError::os(path, e))?;
        let nb: [u8; 8] = if rd.big {
            rd.bytes().map_err(|_| eof("directory"))?
        } else {
            let b: [u8; 2] = rd.bytes().map_err(|_| eof("directory"))?;
            [b[0], b[1], 0, 0, 0, 0, 0, 0]
        };
        let n = rd.uint(&nb[..count_len as usize]);
        let end = n
            .checked_mul(entry_len)
            .and_then(|b| b.checked_add(next + count_len + next_len));
        if end.is_none_or(|e| e > len) {
            return Err(corrupt(
                path,
                format!(
                    "the directory of page {index} declares {n} entries, more than the {len}-byte file holds (truncated)"
                ),
            ));
        }
        let mut raw = vec![0u8; (n * entry_len) as usize];
        rd.r.read_exact(&mut raw).map_err(|_| eof("directory"))?;
        let nx: [u8; 8] = if rd.big {
            rd.bytes().map_err(|_| eof("directory"))?
        } else {
            let b: [u8; 4] = rd.bytes().map_err(|_| eof("directory"))?;
            [b[0], b[1], b[2], b[3], 0, 0, 0, 0]
        };
        next = rd.uint(&nx[..next_len as usize]);
        let mut entries = Vec::with_capacity(n as usize);
        for e in raw.chunks_exact(entry_len as usize) {
            let (count, field) = if rd.big {
                (rd.uint(&e[4..12]), e[12..20].try_into().unwrap_or([0; 8]))
            } else {
                let mut f = [0u8; 8];
                f[..4].copy_from_slice(&e[8..12]);
                (rd.uint(&e[4..8]), f)
            };
            entries.push(Entry {
                tag: rd.uint(&e[0..2]) as u16,
                typ: rd.uint(&e[2..4]) as u16,
                count,
                field,
            });
        }
        pages.push(check_ifd(path, &mut rd, &entries, index)?);
    }
    if pages.is_empty() {
        return Err(corrupt(path, "no image directory (IFD offset 0)".into()));
    }
    Ok(pages)
}

fn check_ifd<R: Read + Seek>(
    path: &Path,
    rd: &mut Reader<R>,
    entries: &[Entry],
    index: usize,
) -> Result<PageScan, IoError> {
    let len = rd.len;
    let inline = if rd.big { 8 } else { 4 };
    for e in entries {
        if !DECODED.contains(&e.tag) {
            continue;
        }
        let Some(size) = type_size(e.typ) else {
            continue;
        };
        if e.count > MAX_TAG_VALUES && e.tag != 270 && e.tag != 305 {
            return Err(corrupt(
                path,
                format!(
                    "page {index}: {} declares {} values (at most {MAX_TAG_VALUES} are plausible)",
                    tag_name(e.tag),
                    e.count
                ),
            ));
        }
        let bytes = e.count.saturating_mul(size);
        if bytes > inline {
            let off = rd.value_offset(e);
            if off.checked_add(bytes).is_none_or(|end| end > len) {
                return Err(corrupt(
                    path,
                    format!(
                        "page {index}: {} declares {} values ({bytes} bytes) at offset {off}, past the end of the {len}-byte file",
                        tag_name(e.tag),
                        e.count
                    ),
                ));
            }
        }
    }
    let find = |tag: u16| entries.iter().find(|e| e.tag == tag);
    let io = |e: std::io::Error| IoError::os(path, e);
    fn one<R: Read + Seek>(
        rd: &mut Reader<R>,
        e: Option<&Entry>,
        default: u64,
    ) -> std::io::Result<u64> {
        match e {
            Some(e) if e.count >= 1 => Ok(rd.values(e)?.first().copied().unwrap_or(default)),
            _ => Ok(default),
        }
    }
    let width = one(rd, find(256), 0).map_err(io)?;
    let height = one(rd, find(257), 0).map_err(io)?;
    let spp = one(rd, find(277), 1).map_err(io)?;
    let compression = one(rd, find(259), 1).map_err(io)?.min(u16::MAX as u64) as u16;
    let bps = match find(258) {
        Some(e) => rd.values(e).map_err(io)?.into_iter().max().unwrap_or(1),
        None => 1,
    };
    let tiled = find(324).is_some();
    let (offs, counts) = if tiled { (324, 325) } else { (273, 279) };
    let offsets = match find(offs) {
        Some(e) => rd.values(e).map_err(io)?,
        None => Vec::new(),
    };
    let sizes = match find(counts) {
        Some(e) => rd.values(e).map_err(io)?,
        None => Vec::new(),
    };
    let what = if tiled { "tile" } else { "strip" };
    let mut stored = 0u64;
    let mut largest = 0u64;
    for (k, (&o, &c)) in offsets.iter().zip(&sizes).enumerate() {
        if o.checked_add(c).is_none_or(|end| end > len) {
            return Err(corrupt(
                path,
                format!(
                    "page {index}: {what} {k} ({c} bytes at offset {o}) lies past the end of the {len}-byte file (truncated)"
                ),
            ));
        }
        stored = stored.saturating_add(c);
        largest = largest.max(c);
    }
    let bytes_per = bps.div_ceil(8).max(1);
    let decoded = width
        .checked_mul(height)
        .and_then(|p| p.checked_mul(spp.max(1)))
        .and_then(|p| p.checked_mul(bytes_per));
    let ratio = max_ratio(compression);
    let slack = 1u64 << 20;
    let can_hold = stored.saturating_mul(ratio).saturating_add(slack);
    match decoded {
        None => {
            return Err(corrupt(
                path,
                format!("page {index} declares {width}x{height} pixels of {spp} x {bps} bits: more than 2^64 bytes"),
            ))
        }
        Some(d) if d > can_hold && !offsets.is_empty() => {
            return Err(corrupt(
                path,
                format!(
                    "page {index} declares {width}x{height} pixels ({d} bytes), but its {what}s hold only {stored} bytes (compression {compression}); the file is truncated or corrupt"
                ),
            ))
        }
        _ => {}
    }
    if tiled {
        let tw = one(rd, find(322), 0).map_err(io)?;
        let th = one(rd, find(323), 0).map_err(io)?;
        let tile = tw
            .checked_mul(th)
            .and_then(|p| p.checked_mul(spp.max(1)))
            .and_then(|p| p.checked_mul(bytes_per));
        if tile.is_none_or(|t| t > largest.saturating_mul(ratio).saturating_add(slack)) {
            return Err(corrupt(
                path,
                format!(
                    "page {index} declares tiles of {tw}x{th} pixels, more than its largest tile ({largest} bytes) can hold"
                ),
            ));
        }
    }
    Ok(PageScan {
        width,
        height,
        decoded_bytes: decoded,
        stored_bytes: stored,
        compression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{GreyVolume, VoxelSize, VoxelSource};

    fn written(nz: usize, comp: crate::io::tiff::Compression) -> Vec<u8> {
        let v = GreyVolume::from_u16(
            ndarray::Array3::from_shape_fn((nz, 20, 30), |(z, y, x)| (z * 7 + y * 3 + x) as u16),
            VoxelSize::new([10.0, 2.0, 2.0], VoxelSource::CommandLine),
        );
        let mut c = std::io::Cursor::new(Vec::new());
        crate::io::tiff::write_tiff_to(
            Path::new("t.tif"),
            &mut c,
            &v,
            &crate::io::tiff::TiffWriteOptions {
                compression: comp,
                ..Default::default()
            },
        )
        .unwrap();
        c.into_inner()
    }

    fn run(b: &[u8]) -> Result<Vec<PageScan>, IoError> {
        scan_reader(
            Path::new("x.tif"),
            std::io::Cursor::new(b.to_vec()),
            b.len() as u64,
        )
    }

    #[test]
    fn our_files_pass_with_their_sizes() {
        for comp in [
            crate::io::tiff::Compression::None,
            crate::io::tiff::Compression::Lzw,
            crate::io::tiff::Compression::Deflate,
            crate::io::tiff::Compression::PackBits,
        ] {
            let p = run(&written(3, comp)).unwrap();
            assert_eq!(p.len(), 3);
            assert!(p
                .iter()
                .all(|s| s.width == 30 && s.height == 20 && s.decoded_bytes == Some(1200)));
        }
    }

    /// Offset of the first IFD entry with `tag` in a little-endian classic TIFF.
    fn entry_at(b: &[u8], tag: u16) -> usize {
        let ifd = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
        let n = u16::from_le_bytes(b[ifd..ifd + 2].try_into().unwrap()) as usize;
        (0..n)
            .map(|i| ifd + 2 + 12 * i)
            .find(|&e| u16::from_le_bytes(b[e..e + 2].try_into().unwrap()) == tag)
            .unwrap()
    }

    #[test]
    fn huge_counts_dimensions_and_loops_are_refused() {
        let good = written(1, crate::io::tiff::Compression::None);
        // a strip-offsets count of 2^31
        let mut b = good.clone();
        let e = entry_at(&b, 273);
        b[e + 4..e + 8].copy_from_slice(&(1u32 << 31).to_le_bytes());
        let m = run(&b).unwrap_err().to_string();
        assert!(
            m.contains("StripOffsets") && m.contains("2147483648"),
            "{m}"
        );
        // width 2^30: the strips cannot hold it
        let mut b = good.clone();
        let e = entry_at(&b, 256);
        b[e + 2..e + 4].copy_from_slice(&4u16.to_le_bytes());
        b[e + 8..e + 12].copy_from_slice(&(1u32 << 30).to_le_bytes());
        let m = run(&b).unwrap_err().to_string();
        assert!(m.contains("strips hold only 1200 bytes"), "{m}");
        // the next-IFD pointer back to the first IFD
        let mut b = good.clone();
        let ifd = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
        let n = u16::from_le_bytes(b[ifd..ifd + 2].try_into().unwrap()) as usize;
        let at = ifd + 2 + 12 * n;
        b[at..at + 4].copy_from_slice(&(ifd as u32).to_le_bytes());
        assert!(run(&b).unwrap_err().to_string().contains("loop"));
        // the strip moved past the end of the file
        let mut b = good.clone();
        let e = entry_at(&b, 273);
        let at = (b.len() - 10) as u32;
        b[e + 8..e + 12].copy_from_slice(&at.to_le_bytes());
        let m = run(&b).unwrap_err().to_string();
        assert!(m.contains("strip 0") && m.contains("past the end"), "{m}");
        // cut short: the directory itself is missing
        let m = run(&good[..good.len() - 100]).unwrap_err().to_string();
        assert!(m.contains("truncated"), "{m}");
    }
}
