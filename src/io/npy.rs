//! NumPy `.npy` (format 1.0/2.0/3.0) reading and writing: `|u1`, `<u2`/`>u2`, `<f4`/`>f4`, `|b1`;
//! 2-D (one slice) or 3-D, C order.

use super::{IoError, ReadOptions};
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
    let (ty, big) = match descr.as_str() {
        "|u1" | "u1" | "<u1" | ">u1" | "|b1" => (SampleType::U8, false),
        "<u2" | "=u2" => (SampleType::U16, false),
        ">u2" => (SampleType::U16, true),
        "<f4" | "=f4" => (SampleType::F32, false),
        ">f4" => (SampleType::F32, true),
        other => {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                format: format!("numpy dtype {other:?}"),
            })
        }
    };
    let Some(bytes) = shape
        .iter()
        .try_fold(ty.bytes() as u64, |a, &d| a.checked_mul(d as u64))
    else {
        return Err(IoError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(".npy header declares shape {dims:?}, more than 2^64 bytes"),
        });
    };
    if bytes > opts.max_bytes {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            shape: format!("{shape:?}"),
            bytes,
            limit: opts.max_bytes,
        });
    }
    let have = file_len.saturating_sub((pre + hlen) as u64);
    if have < bytes {
        return Err(IoError::invalid(
            path,
            format!("file holds {have} data bytes but shape {shape:?} needs {bytes} (truncated)"),
        ));
    }
    let mut raw = vec![0u8; bytes as usize];
    f.read_exact(&mut raw).map_err(|e| IoError::os(path, e))?;
    let data = super::raw::decode(path, &raw, shape, ty, !big)?;
    let mut meta = Metadata::default();
    meta.source_files.push(path.to_path_buf());
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
