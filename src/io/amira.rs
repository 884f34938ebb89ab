//! AmiraMesh `.am` (Amira, Avizo): uniform scalar lattices.
//!
//! Header: `# AmiraMesh BINARY-LITTLE-ENDIAN 2.1` (also `BINARY` = big-endian, `ASCII`, and
//! `# Avizo …`), `define Lattice NX NY NZ`, a `Parameters { … }` block with `BoundingBox xmin
//! xmax ymin ymax zmin zmax` and optionally `Units { Coordinates "µm" }`, and
//! `Lattice { TYPE NAME } @1` with `TYPE` one of `byte`/`uchar`, `short`, `ushort`, `int`,
//! `float`; data `@1` raw, `@1(HxByteRLE,N)` or `@1(HxZip,N)`. The first lattice is read.
//!
//! Calibration: the bounding box spans the centres of the first and last voxel, voxel =
//! extent / (n − 1) (one-voxel axes: the extent is the voxel size), as in
//! [`super::meta::bounding_box_voxel`]. AmiraMesh has no unit unless `Units { Coordinates … }` is
//! given; without it the unit comes from `--voxel-unit` or the size stays unknown with a
//! warning (fibstack does not guess between nm and µm).
//!
//! Writing: binary little-endian, `uchar`/`ushort`/`float`, the bounding box in nm with
//! `Units { Coordinates "nm" }`.

use super::meta::{bounding_box_voxel, file_voxel, parse_unit_statement, FileValue};
use super::{check_budget, IoError, ReadOptions};
use crate::volume::{GreyData, GreyVolume, Metadata};
use ndarray::Array3;
use std::io::{Read, Write};
use std::path::Path;

/// The header of an AmiraMesh file (what fibstack uses of it).
#[derive(Debug, Clone, PartialEq)]
pub struct AmiraHeader {
    /// `Some(true)` little-endian binary, `Some(false)` big-endian, `None` ASCII.
    pub binary_le: Option<bool>,
    /// `[NX, NY, NZ]`.
    pub n: [usize; 3],
    /// Element type of the first lattice (`uchar`, `ushort`, …).
    pub ty: String,
    /// Data block index (`@k`) and encoding (`raw`, `HxByteRLE`, `HxZip`) with its byte count.
    pub block: usize,
    /// Encoding of that block (`raw`, `HxByteRLE`, `HxZip`) and its stored byte count, from
    /// `@k(HxByteRLE,n)`; `None` when the data is stored uncompressed without a count.
    pub encoding: Option<(String, u64)>,
    /// `BoundingBox xmin xmax ymin ymax zmin zmax` from the parameters (file units), when given.
    pub bounding_box: Option<[f64; 6]>,
    /// The coordinate unit from `Units { Coordinates … }`: nanometres per unit and the unit name.
    pub unit: Option<(f64, String)>,
    /// `CoordType` parameter (e.g. `uniform`); only uniform lattices have a single voxel size.
    pub coord_type: Option<String>,
    /// Byte offset of the first data byte of the block.
    pub data_offset: usize,
    /// Number of lattices (data blocks) the header declares; only the first is read.
    pub lattices: usize,
}

fn bad(path: &Path, d: impl Into<String>) -> IoError {
    IoError::invalid(path, format!("not a readable AmiraMesh file: {}", d.into()))
}

/// Parse the header from the first bytes of a file (`buf` = the whole file or its start).
pub fn parse_header(path: &Path, buf: &[u8]) -> Result<AmiraHeader, IoError> {
    let first_line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let first = String::from_utf8_lossy(&buf[..first_line_end]);
    if !(first.starts_with("# AmiraMesh") || first.starts_with("# Avizo")) {
        return Err(bad(
            path,
            "the first line is not `# AmiraMesh …` or `# Avizo …`",
        ));
    }
    let binary_le = if first.contains("BINARY-LITTLE-ENDIAN") {
        Some(true)
    } else if first.contains("BINARY") {
        Some(false)
    } else if first.contains("ASCII") {
        None
    } else {
        return Err(bad(path, format!("unknown encoding in {first:?}")));
    };
    // the header ends at the first line `@k` that starts a data block
    let limit = buf.len().min(16 << 20);
    let text_end = find_data_start(&buf[..limit], 1).ok_or_else(|| {
        bad(
            path,
            "no data section `@1` found (truncated or not a lattice file)",
        )
    })?;
    let text = String::from_utf8_lossy(&buf[..text_end]);
    let mut n = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("define Lattice") {
            let v: Vec<usize> = rest
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            if v.len() == 3 {
                n = Some([v[0], v[1], v[2]]);
            }
        }
    }
    let n = n.ok_or_else(|| bad(path, "no `define Lattice NX NY NZ` line"))?;
    if n.contains(&0) {
        return Err(bad(path, format!("lattice of {n:?} voxels is empty")));
    }
    // `Lattice { TYPE NAME } @k(ENC,N)`
    let mut lattices = 0;
    let mut decl = None;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("Lattice") && l.contains('{') && l.contains('@') {
            lattices += 1;
            if decl.is_none() {
                decl = Some(l.to_string());
            }
        }
    }
    let decl = decl.ok_or_else(|| bad(path, "no `Lattice { TYPE NAME } @1` declaration"))?;
    let inner = &decl[decl.find('{').unwrap_or(0) + 1..decl.find('}').unwrap_or(decl.len())];
    let ty = inner.split_whitespace().next().unwrap_or("").to_string();
    let at = &decl[decl.find('@').unwrap_or(0) + 1..];
    let digits: String = at.chars().take_while(|c| c.is_ascii_digit()).collect();
    let block: usize = digits
        .parse()
        .map_err(|_| bad(path, format!("data block reference in {decl:?}")))?;
    let encoding = at.find('(').and_then(|i| {
        let body = &at[i + 1..at.find(')')?];
        let (enc, cnt) = body.split_once(',')?;
        Some((enc.trim().to_string(), cnt.trim().parse::<u64>().ok()?))
    });
    let data_start = find_data_start(&buf[..limit], block)
        .ok_or_else(|| bad(path, format!("data block @{block} not found (truncated)")))?;
    let marker_len = format!("@{block}").len();
    // skip `@k` and the end of that line
    let mut off = data_start + marker_len;
    while off < buf.len() && buf[off] != b'\n' {
        off += 1;
    }
    off += 1;
    let params = text.find("Parameters").map(|i| &text[i..]).unwrap_or("");
    let coord_type = params.find("CoordType").map(|i| {
        params[i + 9..]
            .trim_start()
            .trim_start_matches('"')
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect::<String>()
    });
    let units_block = params
        .find("Units")
        .map(|i| &params[i..params[i..].find('}').map_or(params.len(), |e| i + e)]);
    Ok(AmiraHeader {
        binary_le,
        n,
        ty,
        block,
        encoding,
        bounding_box: super::meta::parse_bounding_box(params),
        unit: units_block.and_then(parse_unit_statement),
        coord_type,
        data_offset: off,
        lattices,
    })
}

/// Byte position of the line `@k` (at the start of a line, alone or followed by a newline).
fn find_data_start(buf: &[u8], k: usize) -> Option<usize> {
    let pat = format!("\n@{k}");
    let p = pat.as_bytes();
    let mut i = 0;
    while i + p.len() <= buf.len() {
        if &buf[i..i + p.len()] == p {
            let next = buf.get(i + p.len()).copied();
            if matches!(next, None | Some(b'\n') | Some(b'\r')) {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

/// HxByteRLE: a control byte `c`; `c > 127`: copy the next `c − 128` bytes; else repeat the next
/// byte `c` times. Stops at `out.len()` bytes.
fn byte_rle(src: &[u8], out: &mut Vec<u8>, total: usize) -> Result<(), String> {
    let mut i = 0;
    while out.len() < total {
        let Some(&c) = src.get(i) else {
            return Err(format!(
                "HxByteRLE data ends after {} of {total} bytes",
                out.len()
            ));
        };
        i += 1;
        if c & 0x80 != 0 {
            let n = (c & 0x7f) as usize;
            let end = i + n;
            if end > src.len() {
                return Err("HxByteRLE literal run past the end of the data".into());
            }
            let take = n.min(total - out.len());
            out.extend_from_slice(&src[i..i + take]);
            i = end;
        } else {
            let n = c as usize;
            let Some(&b) = src.get(i) else {
                return Err("HxByteRLE repeat run past the end of the data".into());
            };
            i += 1;
            let take = n.min(total - out.len());
            out.extend(std::iter::repeat_n(b, take));
            if n == 0 {
                return Err("HxByteRLE run of length 0".into());
            }
        }
    }
    Ok(())
}

/// Read an AmiraMesh `.am` file.
pub fn read_amira(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    let file_len = std::fs::metadata(path)
        .map_err(|e| IoError::os(path, e))?
        .len();
    // the header is read from the start; the data size is checked against the file length
    let mut f = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
    let mut head = vec![0u8; file_len.min(1 << 20) as usize];
    f.read_exact(&mut head).map_err(|e| IoError::os(path, e))?;
    let mut hdr = parse_header(path, &head);
    if hdr.is_err() && file_len > head.len() as u64 {
        // a header longer than 1 MiB (long material lists): read up to 16 MiB of it
        let mut more = vec![0u8; file_len.min(16 << 20) as usize - head.len()];
        f.read_exact(&mut more).map_err(|e| IoError::os(path, e))?;
        head.extend(more);
        hdr = parse_header(path, &head);
    }
    let hdr = hdr?;
    let [nx, ny, nz] = hdr.n;
    let count = (nx as u64) * (ny as u64) * (nz as u64);
    let (bytes, out_bytes) = match hdr.ty.as_str() {
        "byte" | "uchar" | "ubyte" | "char" => (1u64, 1u64),
        "short" | "ushort" => (2, 4),
        "int" | "float" => (4, 4),
        t => {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                format: format!("AmiraMesh lattice of type {t:?} (read: byte/uchar, short, ushort, int, float scalars)"),
            })
        }
    };
    let out = count.saturating_mul(out_bytes);
    check_budget(path, format!("{nz} x {ny} x {nx}"), out, opts.max_bytes)?;
    let raw_len = count.saturating_mul(bytes);
    let offset = hdr.data_offset as u64;
    let enc_name = hdr
        .encoding
        .as_ref()
        .map_or("raw".to_string(), |(e, _)| e.clone());
    let stored = match (&hdr.binary_le, &hdr.encoding) {
        (None, _) => file_len.saturating_sub(offset),
        (Some(_), Some((_, n))) => *n,
        (Some(_), None) => raw_len,
    };
    if offset.saturating_add(stored) > file_len {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            what: format!("{nx} x {ny} x {nz} {} ({enc_name})", hdr.ty),
            declared: stored,
            offset,
            file_len,
        });
    }
    let mut block = vec![0u8; stored as usize];
    {
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| IoError::os(path, e))?;
        f.read_exact(&mut block).map_err(|e| IoError::os(path, e))?;
    }
    let corrupt = |d: String| IoError::Corrupt {
        path: path.to_path_buf(),
        detail: d,
    };
    let total = raw_len as usize;
    let shape = (nz, ny, nx);
    let data = match hdr.binary_le {
        None => ascii_values(path, &block, count as usize, &hdr.ty, shape)?,
        Some(le) => {
            let raw = match hdr.encoding.as_ref().map(|(e, _)| e.as_str()) {
                None => block,
                Some("HxByteRLE") => {
                    let mut out = Vec::with_capacity(total);
                    byte_rle(&block, &mut out, total).map_err(corrupt)?;
                    out
                }
                Some("HxZip") => {
                    let mut out = Vec::with_capacity(total);
                    flate2::read::ZlibDecoder::new(&block[..])
                        .take(raw_len)
                        .read_to_end(&mut out)
                        .map_err(|e| corrupt(format!("HxZip data: {e}")))?;
                    if out.len() != total {
                        return Err(corrupt(format!(
                            "HxZip data holds {} of {total} bytes",
                            out.len()
                        )));
                    }
                    out
                }
                Some(e) => {
                    return Err(IoError::Unsupported {
                        path: path.to_path_buf(),
                        format: format!(
                            "AmiraMesh data encoding {e:?} (read: raw, HxByteRLE, HxZip)"
                        ),
                    })
                }
            };
            binary_values(path, &raw, &hdr.ty, le, shape)?
        }
    };
    let container = format!(
        "AmiraMesh {}{}, {} lattice",
        match hdr.binary_le {
            Some(true) => "binary little-endian",
            Some(false) => "binary big-endian",
            None => "ASCII",
        },
        hdr.encoding
            .as_ref()
            .map_or(String::new(), |(e, _)| format!(" {e}")),
        hdr.ty
    );
    let mut meta = Metadata {
        container: Some(container),
        instrument: Some("Amira/Avizo".into()),
        source_files: vec![path.to_path_buf()],
        ..Default::default()
    };
    if hdr.lattices > 1 {
        meta.warnings.push(format!(
            "the file holds {} lattices: the first ({} data, @{}) was read",
            hdr.lattices, hdr.ty, hdr.block
        ));
    }
    let mut axes: [Option<FileValue>; 3] = [None, None, None];
    let uniform = hdr
        .coord_type
        .as_deref()
        .is_none_or(|c| c.eq_ignore_ascii_case("uniform"));
    match (hdr.bounding_box, uniform) {
        (Some(_), false) => meta.warnings.push(format!(
            "AmiraMesh CoordType {:?}: coordinates are not uniform, voxel size unknown",
            hdr.coord_type.as_deref().unwrap_or("")
        )),
        (Some(bbox), true) => {
            let v = bounding_box_voxel(bbox, [nz, ny, nx]);
            let unit = hdr
                .unit
                .clone()
                .map(|(f, u)| (f, format!("Units Coordinates \"{u}\"")))
                .or_else(|| {
                    opts.length_unit_nm.map(|f| {
                        (
                            f,
                            format!("unit {} from --voxel-unit", super::tiff::unit_label(f)),
                        )
                    })
                });
            match unit {
                Some((f, how)) => {
                    for i in 0..3 {
                        let n = [nz, ny, nx][i];
                        let rule = if n > 1 {
                            format!("extent/(n−1), n = {n}")
                        } else {
                            "extent of a one-voxel axis".into()
                        };
                        axes[i] = v[i].map(|d| {
                            FileValue::new(d * f, format!("AmiraMesh BoundingBox, {rule}, {how}"))
                        });
                    }
                    meta.origin_nm = Some([bbox[4] * f, bbox[2] * f, bbox[0] * f]);
                }
                None => meta.warnings.push(format!(
                    "AmiraMesh BoundingBox gives a voxel of {} x {} x {} (dz, dy, dx) with no unit (no Units {{ Coordinates … }}): give --voxel-unit um or nm (or --voxel DZ,DY,DX) to use it",
                    fmt(v[0]),
                    fmt(v[1]),
                    fmt(v[2])
                )),
            }
        }
        (None, _) => meta
            .warnings
            .push("AmiraMesh file without BoundingBox: voxel size unknown".into()),
    }
    let voxel = file_voxel(axes, &mut meta);
    Ok(GreyVolume { data, voxel, meta })
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v}"))
}

fn arr<T>(path: &Path, shape: (usize, usize, usize), v: Vec<T>) -> Result<Array3<T>, IoError> {
    Array3::from_shape_vec(shape, v).map_err(|e| IoError::invalid(path, e.to_string()))
}

/// Signed or 32-bit integers: u8/u16 when they fit, f32 when exact, else an error.
fn ints(path: &Path, shape: (usize, usize, usize), v: Vec<i64>) -> Result<GreyData, IoError> {
    let (lo, hi) = v
        .iter()
        .fold((i64::MAX, i64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    Ok(if lo >= 0 && hi <= 255 {
        GreyData::U8(arr(path, shape, v.into_iter().map(|x| x as u8).collect())?)
    } else if lo >= 0 && hi <= 65535 {
        GreyData::U16(arr(path, shape, v.into_iter().map(|x| x as u16).collect())?)
    } else if lo >= -(1 << 24) && hi <= 1 << 24 {
        GreyData::F32(arr(path, shape, v.into_iter().map(|x| x as f32).collect())?)
    } else {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            format: format!("integers {lo}..{hi} that no u8/u16/f32 holds exactly"),
        });
    })
}

fn binary_values(
    path: &Path,
    raw: &[u8],
    ty: &str,
    le: bool,
    shape: (usize, usize, usize),
) -> Result<GreyData, IoError> {
    let w2 = |b: &[u8]| {
        if le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        }
    };
    let w4 = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    Ok(match ty {
        "byte" | "uchar" | "ubyte" => GreyData::U8(arr(path, shape, raw.to_vec())?),
        "char" => ints(path, shape, raw.iter().map(|&b| b as i8 as i64).collect())?,
        "ushort" => GreyData::U16(arr(path, shape, raw.chunks_exact(2).map(w2).collect())?),
        "short" => ints(
            path,
            shape,
            raw.chunks_exact(2).map(|b| w2(b) as i16 as i64).collect(),
        )?,
        "int" => ints(
            path,
            shape,
            raw.chunks_exact(4).map(|b| w4(b) as i32 as i64).collect(),
        )?,
        _ => GreyData::F32(arr(
            path,
            shape,
            raw.chunks_exact(4).map(|b| f32::from_bits(w4(b))).collect(),
        )?),
    })
}

fn ascii_values(
    path: &Path,
    block: &[u8],
    count: usize,
    ty: &str,
    shape: (usize, usize, usize),
) -> Result<GreyData, IoError> {
    let text = String::from_utf8_lossy(block);
    let mut toks = text.split_whitespace();
    let short = |got: usize| IoError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("ASCII data holds {got} of {count} values (truncated)"),
    };
    let bad = |t: &str| IoError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("ASCII value {t:?} is not a number"),
    };
    if ty == "float" {
        let mut v = Vec::with_capacity(count);
        for i in 0..count {
            let t = toks.next().ok_or_else(|| short(i))?;
            v.push(t.parse::<f32>().map_err(|_| bad(t))?);
        }
        return Ok(GreyData::F32(arr(path, shape, v)?));
    }
    let mut v = Vec::with_capacity(count);
    for i in 0..count {
        let t = toks.next().ok_or_else(|| short(i))?;
        v.push(t.parse::<i64>().map_err(|_| bad(t))?);
    }
    if matches!(ty, "byte" | "uchar" | "ubyte") {
        if let Some(x) = v.iter().find(|&&x| !(0..=255).contains(&x)) {
            return Err(bad(&x.to_string()));
        }
        return Ok(GreyData::U8(arr(
            path,
            shape,
            v.into_iter().map(|x| x as u8).collect(),
        )?));
    }
    if ty == "ushort" {
        if let Some(x) = v.iter().find(|&&x| !(0..=65535).contains(&x)) {
            return Err(bad(&x.to_string()));
        }
        return Ok(GreyData::U16(arr(
            path,
            shape,
            v.into_iter().map(|x| x as u16).collect(),
        )?));
    }
    ints(path, shape, v)
}

/// Write a binary little-endian AmiraMesh file, atomically (see the module docs).
pub fn write_amira(path: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    let [nz, ny, nx] = vol.shape();
    let ty = match vol.data {
        GreyData::U8(_) => "uchar",
        GreyData::U16(_) => "ushort",
        GreyData::F32(_) => "float",
    };
    let o = vol.meta.origin_nm.unwrap_or([0.0; 3]);
    let ext = |i: usize, n: usize| {
        let d = vol.voxel.nm[i];
        if n > 1 {
            d * (n - 1) as f64
        } else {
            d
        }
    };
    let calibrated = vol.voxel.is_calibrated();
    let mut hdr = format!(
        "# AmiraMesh BINARY-LITTLE-ENDIAN 2.1\n\n\ndefine Lattice {nx} {ny} {nz}\n\nParameters {{\n"
    );
    if calibrated {
        hdr.push_str("    Units {\n        Coordinates \"nm\"\n    }\n");
    }
    hdr.push_str(&format!(
        "    Content \"{nx}x{ny}x{nz} {ty}, uniform coordinates\",\n    BoundingBox {} {} {} {} {} {},\n    CoordType \"uniform\"\n}}\n\nLattice {{ {ty} Data }} @1\n\n# Data section follows\n@1\n",
        o[2],
        o[2] + ext(2, nx),
        o[1],
        o[1] + ext(1, ny),
        o[0],
        o[0] + ext(0, nz)
    ));
    super::atomic::write_atomic(path, |w| {
        let e = |e: std::io::Error| IoError::os(path, e);
        w.write_all(hdr.as_bytes()).map_err(e)?;
        match &vol.data {
            GreyData::U8(a) => {
                w.write_all(&a.iter().copied().collect::<Vec<u8>>())
                    .map_err(e)?;
            }
            GreyData::U16(a) => {
                for &v in a.iter() {
                    w.write_all(&v.to_le_bytes()).map_err(e)?;
                }
            }
            GreyData::F32(a) => {
                for &v in a.iter() {
                    w.write_all(&v.to_le_bytes()).map_err(e)?;
                }
            }
        }
        w.write_all(b"\n").map_err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_rle_runs() {
        // 3 × 7, then literal 1 2
        let mut out = Vec::new();
        byte_rle(&[3, 7, 0x82, 1, 2], &mut out, 5).unwrap();
        assert_eq!(out, [7, 7, 7, 1, 2]);
        let mut out = Vec::new();
        assert!(byte_rle(&[3, 7, 0x85, 1], &mut out, 8).is_err());
    }
}
