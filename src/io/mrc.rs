//! MRC/CCP4 maps (`.mrc`, `.rec`, `.st`, `.map`, `.ccp4`, `.ali`): IMOD tomograms, cryo-ET
//! reconstructions, FIB-SEM exports. MRC2014 layout: a 1024-byte header, an extended header of
//! `NSYMBT` bytes (skipped), then the data, x fastest, one section per z.
//!
//! Modes read: 0 (8-bit; signed per MRC2014 unless the IMOD stamp says the bytes are unsigned),
//! 1 (int16), 2 (float32), 6 (uint16), 12 (float16). Signed or half-precision data becomes
//! u8/u16 when every value fits, f32 otherwise: the numbers are kept exactly either way.
//! Voxel size = cell length / grid sampling (`CELLA / MX`, Å → nm); origin from `ORIGIN`.
//! Byte order from the machine stamp (guessed from the header when the stamp is missing).
//!
//! Writing: u8 as mode 0 (when every value ≤ 127, identical for signed and unsigned readers;
//! otherwise widened to mode 6 like mrcfile does), u16 as mode 6, f32 as mode 2, little-endian.

use super::meta::{file_voxel, FileValue};
use super::{check_budget, IoError, ReadOptions};
use crate::volume::{GreyData, GreyVolume, Metadata};
use ndarray::Array3;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// IMOD's stamp at header byte 152 (`1146047817`, "IMOD").
pub const IMOD_STAMP: i32 = 1146047817;

/// What the 1024-byte header says.
#[derive(Debug, Clone, PartialEq)]
pub struct MrcHeader {
    /// `[NX, NY, NZ]`.
    pub n: [usize; 3],
    /// `MODE`: sample type (0 = 8-bit, 1 = signed 16-bit, 2 = 32-bit float, 6 = unsigned 16-bit,
    /// 12 = 16-bit float; complex and 4-bit modes are refused when reading).
    pub mode: i32,
    /// `[MX, MY, MZ]` grid sampling.
    pub m: [i32; 3],
    /// `CELLA` in Å.
    pub cell: [f32; 3],
    /// `MAPC, MAPR, MAPS`.
    pub axes: [i32; 3],
    /// `NSYMBT`: bytes of extended header after the 1024-byte header (skipped before the data).
    pub nsymbt: u32,
    /// `ORIGIN` x, y, z in Å.
    pub origin: [f32; 3],
    /// Byte order of the file, from the machine stamp or, without one, the order whose header makes
    /// sense (true = little-endian).
    pub little_endian: bool,
    /// IMOD stamp present and its flags.
    pub imod_flags: Option<i32>,
    /// `EXTTYP` (e.g. `FEI1`, `SERI`), when set.
    pub exttyp: String,
}

impl MrcHeader {
    /// Bytes per stored sample of the mode.
    fn sample_bytes(&self) -> Option<u64> {
        Some(match self.mode {
            0 => 1,
            1 | 6 | 12 => 2,
            2 => 4,
            _ => return None,
        })
    }
    /// Whether mode-0 bytes are signed.
    pub fn signed_bytes(&self) -> bool {
        match self.imod_flags {
            Some(f) => f & 1 == 1,
            None => true,
        }
    }
    fn mode_name(&self) -> String {
        match self.mode {
            0 if self.signed_bytes() => "0 (signed 8-bit)".into(),
            0 => "0 (unsigned 8-bit: IMOD stamp without its signed-bytes flag)".into(),
            1 => "1 (signed 16-bit)".into(),
            2 => "2 (32-bit float)".into(),
            6 => "6 (unsigned 16-bit)".into(),
            12 => "12 (16-bit float)".into(),
            m => format!("{m}"),
        }
    }
}

fn i32_at(h: &[u8], off: usize, le: bool) -> i32 {
    let b = [h[off], h[off + 1], h[off + 2], h[off + 3]];
    if le {
        i32::from_le_bytes(b)
    } else {
        i32::from_be_bytes(b)
    }
}

fn f32_at(h: &[u8], off: usize, le: bool) -> f32 {
    f32::from_bits(i32_at(h, off, le) as u32)
}

/// Parse the 1024-byte header (`path` names errors).
pub fn parse_header(path: &Path, h: &[u8]) -> Result<MrcHeader, IoError> {
    if h.len() < 1024 {
        return Err(IoError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "{} bytes, shorter than the 1024-byte MRC header (truncated)",
                h.len()
            ),
        });
    }
    let plausible = |le: bool| {
        let mode = i32_at(h, 12, le);
        let dims_ok = (0..3).all(|i| (1..=1 << 24).contains(&i32_at(h, 4 * i, le)));
        dims_ok && matches!(mode, 0..=4 | 6 | 12 | 101)
    };
    let le = match h[212] {
        0x44 => true,
        0x11 => false,
        // missing stamp (old files): the byte order whose header makes sense
        _ => plausible(true) || !plausible(false),
    };
    let n: Vec<i32> = (0..3).map(|i| i32_at(h, 4 * i, le)).collect();
    if n.iter().any(|&v| v <= 0) {
        return Err(IoError::invalid(
            path,
            format!(
                "MRC header gives dimensions {} x {} x {} (NX, NY, NZ); they must be positive — the file is not an MRC map or its header is corrupt",
                n[0], n[1], n[2]
            ),
        ));
    }
    let stamp = i32_at(h, 152, le);
    let hdr = MrcHeader {
        n: [n[0] as usize, n[1] as usize, n[2] as usize],
        mode: i32_at(h, 12, le),
        m: [i32_at(h, 28, le), i32_at(h, 32, le), i32_at(h, 36, le)],
        cell: [f32_at(h, 40, le), f32_at(h, 44, le), f32_at(h, 48, le)],
        axes: [i32_at(h, 64, le), i32_at(h, 68, le), i32_at(h, 72, le)],
        nsymbt: i32_at(h, 92, le).max(0) as u32,
        origin: [f32_at(h, 196, le), f32_at(h, 200, le), f32_at(h, 204, le)],
        little_endian: le,
        imod_flags: (stamp == IMOD_STAMP).then(|| i32_at(h, 156, le)),
        exttyp: String::from_utf8_lossy(&h[104..108])
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string(),
    };
    if hdr.sample_bytes().is_none() {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            format: format!(
                "MRC mode {} (fibstack reads modes 0, 1, 2, 6 and 12: real-valued maps; convert complex or 4-bit data first, e.g. IMOD newstack -mode 2)",
                hdr.mode
            ),
        });
    }
    if hdr.axes != [1, 2, 3] && hdr.axes != [0, 0, 0] {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            format: format!(
                "MRC axis order MAPC/MAPR/MAPS = {:?} (only 1, 2, 3 = x fastest, then y, then z; reorder with e.g. IMOD clip rotx or mrcfile)",
                hdr.axes
            ),
        });
    }
    Ok(hdr)
}

/// IEEE half → f32.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: normalise
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Read an MRC/CCP4 file.
pub fn read_mrc(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    let file = File::open(path).map_err(|e| IoError::os(path, e))?;
    let file_len = file.metadata().map_err(|e| IoError::os(path, e))?.len();
    let mut r = BufReader::new(file);
    let mut h = vec![0u8; 1024.min(file_len as usize)];
    r.read_exact(&mut h).map_err(|e| IoError::os(path, e))?;
    let hdr = parse_header(path, &h)?;
    let [nx, ny, nz] = hdr.n;
    let sb = hdr.sample_bytes().unwrap_or(1);
    let count = (nx as u64) * (ny as u64) * (nz as u64);
    let offset = 1024 + hdr.nsymbt as u64;
    let declared = count.saturating_mul(sb);
    if offset.saturating_add(declared) > file_len {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            what: format!("{nx} x {ny} x {nz} (NX, NY, NZ) of mode {}", hdr.mode),
            declared,
            offset,
            file_len,
        });
    }
    // output bytes: f16 and possibly-negative integers may need f32
    let out_bytes = count.saturating_mul(if hdr.mode == 12 { 4 } else { sb.max(1) * 2 });
    check_budget(
        path,
        format!("{nz} x {ny} x {nx}"),
        out_bytes,
        opts.max_bytes,
    )?;
    r.seek(SeekFrom::Start(offset))
        .map_err(|e| IoError::os(path, e))?;
    let mut raw = vec![0u8; declared as usize];
    r.read_exact(&mut raw).map_err(|_| IoError::Truncated {
        path: path.to_path_buf(),
        what: "the data".into(),
        declared,
        offset,
        file_len,
    })?;
    let le = hdr.little_endian;
    let shape = (nz, ny, nx);
    let u16s = |raw: &[u8]| -> Vec<u16> {
        raw.chunks_exact(2)
            .map(|b| {
                if le {
                    u16::from_le_bytes([b[0], b[1]])
                } else {
                    u16::from_be_bytes([b[0], b[1]])
                }
            })
            .collect()
    };
    let data = match hdr.mode {
        0 if !hdr.signed_bytes() => GreyData::U8(arr(path, shape, raw)?),
        0 => {
            if raw.iter().all(|&b| b < 128) {
                GreyData::U8(arr(path, shape, raw)?)
            } else {
                GreyData::F32(arr(
                    path,
                    shape,
                    raw.iter().map(|&b| b as i8 as f32).collect(),
                )?)
            }
        }
        1 => {
            let v: Vec<i16> = u16s(&raw).into_iter().map(|u| u as i16).collect();
            drop(raw);
            if v.iter().all(|&x| x >= 0) {
                GreyData::U16(arr(path, shape, v.into_iter().map(|x| x as u16).collect())?)
            } else {
                GreyData::F32(arr(path, shape, v.into_iter().map(|x| x as f32).collect())?)
            }
        }
        6 => GreyData::U16(arr(path, shape, u16s(&raw))?),
        12 => GreyData::F32(arr(
            path,
            shape,
            u16s(&raw).into_iter().map(f16_to_f32).collect(),
        )?),
        _ => GreyData::F32(arr(
            path,
            shape,
            raw.chunks_exact(4)
                .map(|b| {
                    let a = [b[0], b[1], b[2], b[3]];
                    if le {
                        f32::from_le_bytes(a)
                    } else {
                        f32::from_be_bytes(a)
                    }
                })
                .collect(),
        )?),
    };
    let mut meta = Metadata {
        container: Some(format!(
            "MRC mode {}, {}-endian{}",
            hdr.mode_name(),
            if le { "little" } else { "big" },
            if hdr.nsymbt > 0 {
                format!(
                    ", {}-byte extended header{} skipped",
                    hdr.nsymbt,
                    if hdr.exttyp.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", hdr.exttyp)
                    }
                )
            } else {
                String::new()
            }
        )),
        source_files: vec![path.to_path_buf()],
        ..Default::default()
    };
    // voxel = cell / grid sampling, Å → nm; [z, y, x] from header [x, y, z]
    let mut axes: [Option<FileValue>; 3] = [None, None, None];
    let names = ["X", "Y", "Z"];
    for k in 0..3 {
        let (c, m) = (hdr.cell[k], hdr.m[k]);
        if c == 0.0 && m == 0 {
            continue;
        }
        if m <= 0 || c == 0.0 {
            meta.warnings.push(format!(
                "MRC cell {} = {c} Å over grid M{} = {m}: no usable voxel size along {}",
                names[k].to_lowercase(),
                names[k],
                names[k].to_lowercase()
            ));
            continue;
        }
        axes[2 - k] = Some(FileValue::new(
            c as f64 / m as f64 / 10.0,
            format!(
                "MRC cell {} / M{} = {c} Å / {m}",
                ["a", "b", "c"][k],
                names[k]
            ),
        ));
    }
    if hdr.cell == [0.0; 3] {
        meta.warnings
            .push("MRC cell is zero (voxel size not set in the file)".into());
    }
    let voxel = file_voxel(axes, &mut meta);
    if hdr.origin.iter().any(|&o| o != 0.0) {
        let o = hdr.origin;
        meta.origin_nm = Some([o[2] as f64 / 10.0, o[1] as f64 / 10.0, o[0] as f64 / 10.0]);
    }
    meta.slice_thickness_nm = (voxel.source[0] == crate::VoxelSource::File).then_some(voxel.nm[0]);
    Ok(GreyVolume { data, voxel, meta })
}

fn arr<T>(path: &Path, shape: (usize, usize, usize), v: Vec<T>) -> Result<Array3<T>, IoError> {
    Array3::from_shape_vec(shape, v).map_err(|e| IoError::invalid(path, e.to_string()))
}

/// The header fibstack writes for `vol` with `mode`.
fn header_for(vol: &GreyVolume, mode: i32) -> Vec<u8> {
    let [nz, ny, nx] = vol.shape();
    let mut h = vec![0u8; 1024];
    let put_i =
        |h: &mut [u8], off: usize, v: i32| h[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let put_f =
        |h: &mut [u8], off: usize, v: f32| h[off..off + 4].copy_from_slice(&v.to_le_bytes());
    put_i(&mut h, 0, nx as i32);
    put_i(&mut h, 4, ny as i32);
    put_i(&mut h, 8, nz as i32);
    put_i(&mut h, 12, mode);
    put_i(&mut h, 28, nx as i32);
    put_i(&mut h, 32, ny as i32);
    put_i(&mut h, 36, nz as i32);
    for (k, n) in [nx, ny, nz].into_iter().enumerate() {
        // uncalibrated axes: cell 0 = "not set"
        let i = 2 - k;
        let cell = if vol.voxel.source[i] == crate::VoxelSource::Default {
            0.0
        } else {
            (vol.voxel.nm[i] * 10.0 * n as f64) as f32
        };
        put_f(&mut h, 40 + 4 * k, cell);
        put_f(&mut h, 52 + 4 * k, 90.0);
        put_i(&mut h, 64 + 4 * k, k as i32 + 1);
    }
    let (lo, hi, mean, rms) = stats(&vol.data);
    put_f(&mut h, 76, lo);
    put_f(&mut h, 80, hi);
    put_f(&mut h, 84, mean);
    put_i(&mut h, 88, 1);
    h[104..108].copy_from_slice(b"    ");
    put_i(&mut h, 108, 20140);
    if mode == 0 {
        // unambiguous for IMOD too: the bytes are signed (every value is ≤ 127)
        put_i(&mut h, 152, IMOD_STAMP);
        put_i(&mut h, 156, 1);
    }
    if let Some(o) = vol.meta.origin_nm {
        put_f(&mut h, 196, (o[2] * 10.0) as f32);
        put_f(&mut h, 200, (o[1] * 10.0) as f32);
        put_f(&mut h, 204, (o[0] * 10.0) as f32);
    }
    h[208..212].copy_from_slice(b"MAP ");
    h[212..216].copy_from_slice(&[0x44, 0x44, 0, 0]);
    put_f(&mut h, 216, rms);
    put_i(&mut h, 220, 1);
    let label = format!("fibstack {}", env!("CARGO_PKG_VERSION"));
    h[224..224 + label.len()].copy_from_slice(label.as_bytes());
    h
}

fn stats(d: &GreyData) -> (f32, f32, f32, f32) {
    let (mut lo, mut hi, mut s, mut s2, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0u64);
    let mut add = |v: f64| {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
            s += v;
            s2 += v * v;
            n += 1;
        }
    };
    match d {
        GreyData::U8(a) => a.iter().for_each(|&v| add(v as f64)),
        GreyData::U16(a) => a.iter().for_each(|&v| add(v as f64)),
        GreyData::F32(a) => a.iter().for_each(|&v| add(v as f64)),
    }
    if n == 0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let mean = s / n as f64;
    let rms = (s2 / n as f64 - mean * mean).max(0.0).sqrt();
    (lo as f32, hi as f32, mean as f32, rms as f32)
}

/// Write an MRC2014 file (little-endian; see the module docs for the modes), atomically.
pub fn write_mrc(path: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    super::atomic::write_atomic(path, |w| {
        let mut w = std::io::BufWriter::new(w);
        let e = |e: std::io::Error| IoError::os(path, e);
        match &vol.data {
            GreyData::U8(a) if a.iter().all(|&v| v <= 127) => {
                w.write_all(&header_for(vol, 0)).map_err(e)?;
                w.write_all(&a.iter().copied().collect::<Vec<u8>>())
                    .map_err(e)?;
            }
            GreyData::U8(a) => {
                w.write_all(&header_for(vol, 6)).map_err(e)?;
                for &v in a.iter() {
                    w.write_all(&(v as u16).to_le_bytes()).map_err(e)?;
                }
            }
            GreyData::U16(a) => {
                w.write_all(&header_for(vol, 6)).map_err(e)?;
                for &v in a.iter() {
                    w.write_all(&v.to_le_bytes()).map_err(e)?;
                }
            }
            GreyData::F32(a) => {
                w.write_all(&header_for(vol, 2)).map_err(e)?;
                for &v in a.iter() {
                    w.write_all(&v.to_le_bytes()).map_err(e)?;
                }
            }
        }
        w.flush().map_err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }
}
