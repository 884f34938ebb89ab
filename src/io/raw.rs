//! Raw binary volumes: dims, sample type and endianness given by the user.

use super::{check_budget, IoError, RawSpec, ReadOptions};
use crate::volume::{GreyData, GreyVolume, Metadata, SampleType, VoxelSize};
use ndarray::Array3;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Decode little/big-endian bytes into a [`GreyData`] of `shape`.
pub(crate) fn decode(
    path: &Path,
    raw: &[u8],
    shape: [usize; 3],
    ty: SampleType,
    little: bool,
) -> Result<GreyData, IoError> {
    let sh = (shape[0], shape[1], shape[2]);
    let err = |e: ndarray::ShapeError| {
        IoError::invalid(
            path,
            format!(
                "{} bytes do not form shape {shape:?} of {} ({e})",
                raw.len(),
                ty.as_str()
            ),
        )
    };
    Ok(match ty {
        SampleType::U8 => GreyData::U8(Array3::from_shape_vec(sh, raw.to_vec()).map_err(err)?),
        SampleType::U16 => {
            let v: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| {
                    let b = [c[0], c[1]];
                    if little {
                        u16::from_le_bytes(b)
                    } else {
                        u16::from_be_bytes(b)
                    }
                })
                .collect();
            GreyData::U16(Array3::from_shape_vec(sh, v).map_err(err)?)
        }
        SampleType::F32 => {
            let v: Vec<f32> = raw
                .chunks_exact(4)
                .map(|c| {
                    let b = [c[0], c[1], c[2], c[3]];
                    if little {
                        f32::from_le_bytes(b)
                    } else {
                        f32::from_be_bytes(b)
                    }
                })
                .collect();
            GreyData::F32(Array3::from_shape_vec(sh, v).map_err(err)?)
        }
    })
}

/// Write samples in C order.
pub(crate) fn write_samples<W: Write>(
    w: &mut W,
    data: &GreyData,
    little: bool,
) -> std::io::Result<()> {
    match data {
        GreyData::U8(a) => {
            for &v in a.iter() {
                w.write_all(&[v])?;
            }
        }
        GreyData::U16(a) => {
            for &v in a.iter() {
                w.write_all(&if little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                })?;
            }
        }
        GreyData::F32(a) => {
            for &v in a.iter() {
                w.write_all(&if little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                })?;
            }
        }
    }
    Ok(())
}

/// Read a raw binary file laid out as `spec` says.
pub fn read_raw(path: &Path, spec: &RawSpec, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    if spec.shape.contains(&0) {
        return Err(IoError::invalid(
            path,
            format!(
                "raw shape {:?} has a zero dimension; give --raw NZ,NY,NX,TYPE",
                spec.shape
            ),
        ));
    }
    let Some(bytes) = spec
        .shape
        .iter()
        .try_fold(spec.sample.bytes() as u64, |a, &d| a.checked_mul(d as u64))
        .filter(|b| b.checked_add(spec.header_bytes).is_some())
    else {
        return Err(IoError::invalid(
            path,
            format!(
                "raw shape {:?} of {} holds more than 2^64 bytes; check --raw NZ,NY,NX,TYPE",
                spec.shape,
                spec.sample.as_str()
            ),
        ));
    };
    check_budget(path, format!("{:?}", spec.shape), bytes, opts.max_bytes)?;
    let mut f = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
    let len = f.metadata().map_err(|e| IoError::os(path, e))?.len();
    if len != spec.header_bytes + bytes {
        return Err(IoError::invalid(
            path,
            format!(
                "file has {len} bytes but {:?} {} with a {}-byte header needs {}; check the dimensions and type",
                spec.shape,
                spec.sample.as_str(),
                spec.header_bytes,
                spec.header_bytes + bytes
            ),
        ));
    }
    f.seek(SeekFrom::Start(spec.header_bytes))
        .map_err(|e| IoError::os(path, e))?;
    let mut raw = vec![0u8; bytes as usize];
    f.read_exact(&mut raw).map_err(|e| IoError::os(path, e))?;
    let data = decode(path, &raw, spec.shape, spec.sample, spec.little_endian)?;
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

/// Write raw samples (no header).
pub fn write_raw(path: &Path, vol: &GreyVolume, little_endian: bool) -> Result<(), IoError> {
    super::atomic::write_atomic(path, |w| {
        write_samples(w, &vol.data, little_endian).map_err(|e| IoError::os(path, e))
    })
}
