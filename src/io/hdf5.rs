//! HDF5 datasets (feature `hdf5`, links the system libhdf5): `file.h5:/exported_data` as ilastik
//! and Dragonfly export; `file.h5` alone reads the file's only 2-D/3-D dataset.
//!
//! Axes: 2-D `[y, x]`, 3-D `[z, y, x]`, or with a channel axis (ilastik `zyxc`): the ilastik
//! `axistags` attribute (JSON) names the axes; a channel axis of length 1 is dropped, a longer
//! one needs `--channel`; spatial axes in another order are transposed to `[z, y, x]`.
//! Sample types: u8, u16, f32; other integers when their values fit u8/u16 (or f32 exactly),
//! f64 as f32 with a warning.
//!
//! Calibration: `element_size_um` (ilastik, Fiji; µm, in the dataset's axis order) or
//! `resolution` with `resolution_unit`/`unit` (without a unit: `--voxel-unit`, or unknown with a
//! warning).

use super::meta::{file_voxel, length_unit_nm, FileValue};
use super::{check_budget, split_h5_path, IoError, ReadOptions};
use crate::volume::{GreyData, GreyVolume, Metadata};
use hdf5_metno as h5;
use ndarray::{Array3, ArrayD, IxDyn};
use std::path::{Path, PathBuf};

fn h5err(path: &Path, what: &str, e: h5::Error) -> IoError {
    let msg = e.to_string().replace('\n', " ");
    IoError::invalid(path, format!("HDF5 {what}: {msg}"))
}

/// The file and dataset of a path (`None` dataset = pick the only image dataset).
fn locate(path: &Path) -> (PathBuf, Option<String>) {
    match split_h5_path(path) {
        Some((f, d)) => (f, Some(d)),
        None => (path.to_path_buf(), None),
    }
}

fn find_datasets(g: &h5::Group, prefix: &str, out: &mut Vec<(String, usize)>) {
    let Ok(names) = g.member_names() else { return };
    for n in names {
        let full = format!("{prefix}/{n}");
        if let Ok(d) = g.dataset(&n) {
            out.push((full, d.ndim()));
        } else if let Ok(sub) = g.group(&n) {
            if out.len() < 1000 {
                find_datasets(&sub, &full, out);
            }
        }
    }
}

/// Axis keys from ilastik's `axistags` JSON (`{"axes": [{"key": "z"}, …]}`).
fn axis_keys(ds: &h5::Dataset) -> Option<Vec<char>> {
    let a = ds.attr("axistags").ok()?;
    let text: String = a
        .read_scalar::<h5::types::VarLenUnicode>()
        .map(|s| s.to_string())
        .or_else(|_| {
            a.read_scalar::<h5::types::VarLenAscii>()
                .map(|s| s.to_string())
        })
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("axes")?
        .as_array()?
        .iter()
        .map(|a| a.get("key")?.as_str()?.chars().next())
        .collect()
}

fn attr_f64s(ds: &h5::Dataset, name: &str) -> Option<Vec<f64>> {
    ds.attr(name).ok()?.read_raw::<f64>().ok()
}

fn attr_string(ds: &h5::Dataset, name: &str) -> Option<String> {
    let a = ds.attr(name).ok()?;
    a.read_scalar::<h5::types::VarLenUnicode>()
        .map(|s| s.to_string())
        .or_else(|_| {
            a.read_scalar::<h5::types::VarLenAscii>()
                .map(|s| s.to_string())
        })
        .ok()
}

/// Read an HDF5 dataset.
pub fn read_hdf5(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    let (file_path, dataset) = locate(path);
    let file_len = std::fs::metadata(&file_path)
        .map_err(|e| IoError::os(&file_path, e))?
        .len();
    let f = h5::File::open(&file_path).map_err(|e| h5err(path, "open", e))?;
    let name = match dataset {
        Some(d) => d,
        None => {
            let mut all = Vec::new();
            find_datasets(&f, "", &mut all);
            let images: Vec<&(String, usize)> =
                all.iter().filter(|(_, n)| (2..=4).contains(n)).collect();
            match images.as_slice() {
                [one] => one.0.clone(),
                _ => {
                    return Err(IoError::invalid(
                        path,
                        format!(
                            "choose a dataset: write the path as {}:/DATASET (datasets: {})",
                            file_path.display(),
                            all.iter()
                                .map(|(n, d)| format!("{n} ({d}-D)"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            }
        }
    };
    let ds = f
        .dataset(&name)
        .map_err(|e| h5err(path, &format!("dataset {name:?}"), e))?;
    let shape = ds.shape();
    let keys = axis_keys(&ds).filter(|k| k.len() == shape.len());
    // channel axis: ilastik `c` (or a trailing axis of a 4-D dataset)
    let c_axis = match &keys {
        Some(k) => k.iter().position(|&c| c == 'c'),
        None if shape.len() == 4 => Some(3),
        None => None,
    };
    let spatial: Vec<usize> = (0..shape.len()).filter(|&i| Some(i) != c_axis).collect();
    if !(2..=3).contains(&spatial.len()) {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            format: format!("HDF5 dataset {name} of shape {shape:?} (need 2-D or 3-D, plus an optional channel axis)"),
        });
    }
    let channel = match c_axis {
        Some(ca) if shape[ca] > 1 => match opts.channel {
            Some(c) if c < shape[ca] => Some((ca, c)),
            Some(c) => {
                return Err(IoError::invalid(
                    path,
                    format!("--channel {c}: the dataset has {} channels", shape[ca]),
                ))
            }
            None => {
                return Err(IoError::invalid(
                    path,
                    format!(
                        "dataset {name} holds {} channels: pick one with --channel N",
                        shape[ca]
                    ),
                ))
            }
        },
        Some(ca) => Some((ca, 0)),
        None => None,
    };
    let dtype = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| h5err(path, "type", e))?;
    use h5::types::{FloatSize, IntSize, TypeDescriptor as T};
    let elem = dtype.size() as u64;
    let count: u64 = shape.iter().map(|&n| n as u64).product();
    let declared = count.saturating_mul(elem);
    // the dataset is read in its stored type, then converted: two copies at the peak
    check_budget(
        path,
        format!("{shape:?}"),
        declared.saturating_mul(2),
        opts.max_bytes,
    )?;
    if !ds.is_chunked() && declared > file_len {
        return Err(IoError::Truncated {
            path: path.to_path_buf(),
            what: format!("dataset {name} {shape:?}"),
            declared,
            offset: 0,
            file_len,
        });
    }
    let mut meta = Metadata {
        container: Some(format!("HDF5 dataset {name} ({dtype}, shape {shape:?})")),
        source_files: vec![file_path.clone()],
        ..Default::default()
    };
    let rd = |e| h5err(path, "read", e);
    let nd = |v: Vec<f64>| ArrayD::from_shape_vec(IxDyn(&shape), v);
    let values: ArrayD<f64> = match &dtype {
        T::Unsigned(IntSize::U1) => nd(ds
            .read_raw::<u8>()
            .map_err(rd)?
            .into_iter()
            .map(f64::from)
            .collect()),
        T::Unsigned(IntSize::U2) => nd(ds
            .read_raw::<u16>()
            .map_err(rd)?
            .into_iter()
            .map(f64::from)
            .collect()),
        T::Unsigned(IntSize::U4) => nd(ds
            .read_raw::<u32>()
            .map_err(rd)?
            .into_iter()
            .map(f64::from)
            .collect()),
        T::Integer(IntSize::U1) => nd(ds
            .read_raw::<i8>()
            .map_err(rd)?
            .into_iter()
            .map(f64::from)
            .collect()),
        T::Integer(IntSize::U2) => nd(ds
            .read_raw::<i16>()
            .map_err(rd)?
            .into_iter()
            .map(f64::from)
            .collect()),
        T::Integer(IntSize::U4) => nd(ds
            .read_raw::<i32>()
            .map_err(rd)?
            .into_iter()
            .map(f64::from)
            .collect()),
        T::Float(FloatSize::U4) => nd(ds
            .read_raw::<f32>()
            .map_err(rd)?
            .into_iter()
            .map(f64::from)
            .collect()),
        T::Float(FloatSize::U8) => {
            meta.warnings.push(format!(
                "dataset {name} is 64-bit float: read as 32-bit float"
            ));
            nd(ds.read_raw::<f64>().map_err(rd)?)
        }
        other => {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                format: format!(
                "HDF5 dataset {name} of type {other} (read: u8, u16, u32, i8, i16, i32, f32, f64)"
            ),
            })
        }
    }
    .map_err(|e| IoError::invalid(path, e.to_string()))?;
    let values = match channel {
        Some((ca, c)) => values.index_axis_move(ndarray::Axis(ca), c),
        None => values,
    };
    // spatial axes to [z, y, x]
    let skeys: Option<Vec<char>> = keys.map(|k| spatial.iter().map(|&i| k[i]).collect());
    let values = match &skeys {
        Some(k) if k.iter().all(|c| "zyx".contains(*c)) && k.len() == values.ndim() => {
            let order: Vec<usize> = "zyx"
                .chars()
                .filter_map(|c| k.iter().position(|&x| x == c))
                .collect();
            values.permuted_axes(IxDyn(&order))
        }
        _ => values,
    };
    let v3 = if values.ndim() == 2 {
        values.insert_axis(ndarray::Axis(0))
    } else {
        values
    };
    let s = v3.shape().to_vec();
    let a: Array3<f64> = v3
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((s[0], s[1], s[2]))
        .map_err(|e| IoError::invalid(path, e.to_string()))?;
    let (lo, hi) = a
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let ints = a.iter().all(|v| v.fract() == 0.0);
    let data = match &dtype {
        T::Unsigned(IntSize::U1) => GreyData::U8(a.mapv(|v| v as u8)),
        T::Unsigned(IntSize::U2) => GreyData::U16(a.mapv(|v| v as u16)),
        T::Float(_) => GreyData::F32(a.mapv(|v| v as f32)),
        _ if ints && lo >= 0.0 && hi <= 255.0 => GreyData::U8(a.mapv(|v| v as u8)),
        _ if ints && lo >= 0.0 && hi <= 65535.0 => GreyData::U16(a.mapv(|v| v as u16)),
        _ if lo >= -16_777_216.0 && hi <= 16_777_216.0 => GreyData::F32(a.mapv(|v| v as f32)),
        _ => {
            return Err(IoError::Unsupported {
                path: path.to_path_buf(),
                format: format!("integers {lo}..{hi} that no u8/u16/f32 holds exactly"),
            })
        }
    };
    // calibration, in the dataset's spatial axis order → [z, y, x]
    let to_zyx = |v: &[f64]| -> Option<Vec<f64>> {
        let v: Vec<f64> = if v.len() == shape.len() {
            spatial.iter().map(|&i| v[i]).collect()
        } else if v.len() == spatial.len() {
            v.to_vec()
        } else {
            return None;
        };
        let v = match &skeys {
            Some(k) if k.len() == v.len() => "zyx"
                .chars()
                .filter_map(|c| k.iter().position(|&x| x == c).map(|i| v[i]))
                .collect(),
            _ => v,
        };
        Some(if v.len() == 2 {
            vec![f64::NAN, v[0], v[1]]
        } else {
            v
        })
    };
    let mut axes: [Option<FileValue>; 3] = [None, None, None];
    if let Some(v) = attr_f64s(&ds, "element_size_um").and_then(|v| to_zyx(&v)) {
        for i in 0..3 {
            if v[i].is_finite() {
                axes[i] = Some(FileValue::new(
                    v[i] * 1e3,
                    format!("HDF5 attribute element_size_um = {} µm", v[i]),
                ));
            }
        }
    } else if let Some(v) = attr_f64s(&ds, "resolution").and_then(|v| to_zyx(&v)) {
        let unit = attr_string(&ds, "resolution_unit")
            .or_else(|| attr_string(&ds, "unit"))
            .and_then(|u| length_unit_nm(&u).map(|f| (f, format!("unit {u} from the file"))))
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
                    if v[i].is_finite() {
                        axes[i] = Some(FileValue::new(
                            v[i] * f,
                            format!("HDF5 attribute resolution = {}, {how}", v[i]),
                        ));
                    }
                }
            }
            None => meta.warnings.push(format!(
                "HDF5 attribute resolution = {v:?} has no unit: give --voxel-unit um or nm (or --voxel) to use it"
            )),
        }
    }
    let voxel = file_voxel(axes, &mut meta);
    Ok(GreyVolume { data, voxel, meta })
}

/// Write a volume as an HDF5 dataset (`file.h5:/path`, default `/volume`) with
/// `element_size_um` (z, y, x) when calibrated, atomically (written to a temporary file, renamed).
pub fn write_hdf5(path: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    let (file_path, dataset) = locate(path);
    let name = dataset.unwrap_or_else(|| "/volume".into());
    let dir = file_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        file_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let [nz, ny, nx] = vol.shape();
    let r = (|| -> Result<(), IoError> {
        let f = h5::File::create(&tmp).map_err(|e| h5err(path, "create", e))?;
        let w = |e| h5err(path, "write", e);
        let ds = match &vol.data {
            GreyData::U8(a) => {
                let ds = f
                    .new_dataset::<u8>()
                    .shape([nz, ny, nx])
                    .create(name.as_str())
                    .map_err(w)?;
                ds.write_raw(a.as_standard_layout().as_slice().unwrap_or(&[]))
                    .map_err(w)?;
                ds
            }
            GreyData::U16(a) => {
                let ds = f
                    .new_dataset::<u16>()
                    .shape([nz, ny, nx])
                    .create(name.as_str())
                    .map_err(w)?;
                ds.write_raw(a.as_standard_layout().as_slice().unwrap_or(&[]))
                    .map_err(w)?;
                ds
            }
            GreyData::F32(a) => {
                let ds = f
                    .new_dataset::<f32>()
                    .shape([nz, ny, nx])
                    .create(name.as_str())
                    .map_err(w)?;
                ds.write_raw(a.as_standard_layout().as_slice().unwrap_or(&[]))
                    .map_err(w)?;
                ds
            }
        };
        if vol.voxel.is_calibrated() {
            let um: Vec<f64> = vol.voxel.nm.iter().map(|v| v / 1e3).collect();
            ds.new_attr::<f64>()
                .shape([3])
                .create("element_size_um")
                .map_err(w)?
                .write_raw(um.as_slice())
                .map_err(w)?;
        }
        Ok(())
    })();
    match r.and_then(|_| std::fs::rename(&tmp, &file_path).map_err(|e| IoError::os(&file_path, e)))
    {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
