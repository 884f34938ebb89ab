//! NumPy `.npy` (format 1.0/2.0/3.0) reading and writing: `|u1`, `<u2`/`>u2`, `<f4`/`>f4`, `|b1`;
//! also integer dtypes (`int8`…`int64`, `uint32`, `uint64`, narrowed to the smallest exact type,
//! see [`super::ints`]) and `float64` (read as 32-bit float); 2-D (one slice) or 3-D, C order.

use super::{check_budget, IoError, ReadOptions};
use crate::volume::{GreyData, GreyVolume, Metadata, SampleType, VoxelSize};
use ndarray::Array3;
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parse the header dict. Returns (descr, fortran_order, shape).
fn parse_header(path: &Path, h: &str) -> Result<(String, bool, Vec<usize>), IoError> {
    let bad = |what: &str| IoError::invalid(path, format!("malformed .npy header ({what}): {h:?}"));
    let grab = |key: &str| -> Option<&str> {
        let i = h.find(&format!("'{key}'"))?;
        let rest = &h[i + key.len() + 2..];
        let c = rest.find(':')?;
        Some(rest[c + 1..].trim_start())
    };
    let descr = grab("descr").ok_or_else(|| bad("descr"))?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| bad("descr"))?
        .to_string();
    let fortran = grab("fortran_order")
        .ok_or_else(|| bad("fortran_order"))?
        .starts_with("True");
    let shape = grab("shape").ok_or_else(|| bad("shape"))?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("shape"))?;
    let dims: Result<Vec<usize>, _> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect();
    Ok((descr, fortran, dims.map_err(|_| bad("shape"))?))
}

/// Read a `.npy` file.
pub fn read_npy(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    let mut f = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
    let file_len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 10];
    f.read_exact(&mut head)
        .map_err(|_| IoError::invalid(path, "file too short for .npy"))?;
    if &head[..6] != MAGIC {
        return Err(IoError::invalid(path, "not a .npy file (bad magic)"));
    }
    let (hlen, pre) = match head[6] {
        1 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10usize),
        2 | 3 => {
            let mut b = [0u8; 2];
            f.read_exact(&mut b).map_err(|e| IoError::os(path, e))?;
            (
                u32::from_le_bytes([head[8], head[9], b[0], b[1]]) as usize,
                12usize,
            )
        }
        v => return Err(IoError::invalid(path, format!(".npy version {v} unknown"))),
    };
    if hlen > 1 << 20 {
        return Err(IoError::invalid(path, "implausible .npy header length"));
    }
    let mut hb = vec![0u8; hlen];
    f.read_exact(&mut hb)
        .map_err(|_| IoError::invalid(path, "truncated .npy header"))?;
    let header = String::from_utf8_lossy(&hb).into_owned();
    let (descr, fortran, dims) = parse_header(path, &header)?;
    if fortran {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            format: "Fortran-ordered array; save with np.ascontiguousarray".into(),
        });
    }
    let shape = match dims.as_slice() {
        [y, x] => [1, *y, *x],
        [z, y, x] => [*z, *y, *x],
        _ => {
            return Err(IoError::invalid(
                path,
                format!("array has shape {dims:?}; need 2-D or 3-D"),
            ))
        }
    };
    if shape.contains(&0) {
        return Err(IoError::invalid(
            path,
            format!("array has shape {dims:?}, which holds no voxels; save a non-empty array"),
        ));
    }
    // native sample types, or integers narrowed to the smallest exact type (see `io::ints`)
    enum Kind {
        Native(SampleType, bool),
        Int(usize, bool, bool),
        F64(bool),
    }
    let kind = match descr.as_str() {
        "|u1" | "u1" | "<u1" | ">u1" | "|b1" => Kind::Native(SampleType::U8, false),
        "<u2" | "=u2" => Kind::Native(SampleType::U16, false),
        ">u2" => Kind::Native(SampleType::U16, true),
        "<f4" | "=f4" => Kind::Native(SampleType::F32, false),
        ">f4" => Kind::Native(SampleType::F32, true),
        "<f8" | "=f8" => Kind::F64(true),
        ">f8" => Kind::F64(false),
        other => match super::ints::numpy_int(other) {
            Some((size, signed, little)) => Kind::Int(size, signed, little),
            None => {
                return Err(IoError::Unsupported {
                    path: path.to_path_buf(),
                    format: format!("numpy dtype {other:?}"),
                })
            }
        },
    };
    let sample_bytes = match kind {
        Kind::Native(t, _) => t.bytes(),
        Kind::Int(size, _, _) => size,
        Kind::F64(_) => 8,
    };
    let Some(bytes) = shape
        .iter()
        .try_fold(sample_bytes as u64, |a, &d| a.checked_mul(d as u64))
    else {
        return Err(IoError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(".npy header declares shape {dims:?}, more than 2^64 bytes"),
        });
    };
    let n: u64 = shape.iter().map(|&d| d as u64).product();
    check_budget(path, format!("{shape:?}"), bytes, opts.max_bytes)?;
    let have = file_len.saturating_sub((pre + hlen) as u64);
    if have < bytes {
        return Err(IoError::invalid(
            path,
            format!("file holds {have} data bytes but shape {shape:?} needs {bytes} (truncated)"),
        ));
    }
    let mut raw = vec![0u8; bytes as usize];
    f.read_exact(&mut raw).map_err(|e| IoError::os(path, e))?;
    let mut warnings = Vec::new();
    let data = match kind {
        Kind::Native(ty, big) => super::raw::decode(path, &raw, shape, ty, !big)?,
        Kind::Int(size, signed, little) => {
            let what = format!("numpy {}{}", if signed { "int" } else { "uint" }, 8 * size);
            let (d, lo, hi) = super::ints::narrow(path, &what, shape, n as usize, |i| {
                super::ints::int_at(&raw, i, size, signed, little)
            })?;
            warnings.extend(super::ints::note(&what, lo, hi, &d));
            d
        }
        Kind::F64(little) => {
            let v: Vec<f32> = raw
                .chunks_exact(8)
                .map(|c| {
                    let b: [u8; 8] = c.try_into().unwrap_or([0; 8]);
                    (if little {
                        f64::from_le_bytes(b)
                    } else {
                        f64::from_be_bytes(b)
                    }) as f32
                })
                .collect();
            warnings.push("numpy float64 samples held as 32-bit float".into());
            GreyData::F32(
                Array3::from_shape_vec((shape[0], shape[1], shape[2]), v)
                    .map_err(|e| IoError::invalid(path, e.to_string()))?,
            )
        }
    };
    drop(raw);
    let mut meta = Metadata::default();
    meta.source_files.push(path.to_path_buf());
    meta.warnings = warnings;
    let mut vol = GreyVolume {
        data,
        voxel: VoxelSize::default(),
        meta,
    };
    super::apply_slices_crop(path, &mut vol, opts)?;
    Ok(vol)
}

/// Write `.npy` (format 1.0, little-endian, C order, shape `(nz, ny, nx)`).
pub fn write_npy(path: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    let [nz, ny, nx] = vol.shape();
    let descr = match vol.sample_type() {
        SampleType::U8 => "|u1",
        SampleType::U16 => "<u2",
        SampleType::F32 => "<f4",
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({nz}, {ny}, {nx}), }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    super::atomic::write_atomic(path, |w| {
        let io = |e| IoError::os(path, e);
        w.write_all(MAGIC).map_err(io)?;
        w.write_all(&[1, 0]).map_err(io)?;
        w.write_all(&(header.len() as u16).to_le_bytes())
            .map_err(io)?;
        w.write_all(header.as_bytes()).map_err(io)?;
        super::raw::write_samples(w, &vol.data, true).map_err(io)
    })
}

/// Internal: an all-zero volume of a type (used by tests).
#[allow(dead_code)]
pub(crate) fn zeros(shape: [usize; 3]) -> GreyData {
    GreyData::U8(Array3::zeros(shape))
}
