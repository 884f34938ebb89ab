//! Zarr arrays (v2 and v3) and OME-Zarr images (NGFF 0.4 on Zarr v2, NGFF 0.5 on Zarr v3),
//! read and written with the `zarrs` crate (feature `zarr`).
//!
//! Reading: a store folder (`x.zarr`) that is an array (`.zarray` / `zarr.json` with
//! `node_type = "array"`) is read as `[y, x]` or `[z, y, x]` (leading axes of length 1 dropped),
//! uncalibrated. A group with OME `multiscales` is read at its first (full-resolution) level:
//! the axes name the spatial axes (`z`, `y`, `x`) and the time/channel axes (length 1, or picked
//! with `--timepoint`/`--channel`); the voxel size is the product of the level's and the
//! multiscale's `scale` transformations, in the axis `unit` (`nanometer`, `micrometer`,
//! `angstrom`, …). An axis without a unit or with an unknown one stays uncalibrated (metric steps
//! refuse it until the voxel size is given). Sample types: u8, u16, f32, bool; other integers
//! when their values fit u8/u16 (or f32 exactly); f64 as f32 with a warning. The slice range and
//! the crop are read from the chunks that hold them, not from the whole array.
//!
//! Writing: OME-Zarr 0.4 on Zarr v2 (the version napari, Fiji/BigDataViewer (n5-zarr), MoBIE,
//! neuroglancer, vizarr, zarr-python 2 and 3 and ome-zarr-py all read), one level `0`, axes
//! `z, y, x` with unit `nanometer` and the voxel size as the `scale` (an uncalibrated axis is
//! written with scale 1 and no unit, so it reads back uncalibrated), chunks of whole slices
//! ([`ZarrWriteOptions::slices_per_chunk`] slices each), blosc-lz4 compressed with byte shuffle
//! (zarr-python's default). The store is written into a temporary folder beside the target and
//! renamed into place.
//!
//! Streaming: [`ZarrImage`] reads slabs of slices and [`ZarrWriter`] writes them; the slice
//! reader and writer of [`super::stream`] use both.

use super::meta::{file_voxel, FileValue};
use super::{check_budget, IoError, ReadOptions};
use crate::volume::{GreyData, GreyVolume, Metadata, SampleType, VoxelSource};
use ndarray::Array3;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use zarrs::array::{Array, ArraySubset};
use zarrs::filesystem::FilesystemStore;

/// Options of the Zarr writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZarrWriteOptions {
    /// Slices per chunk (each chunk is a slab of whole slices). `None`: as many slices as fit
    /// about 16 MiB uncompressed (at least one).
    pub slices_per_chunk: Option<usize>,
}

/// Uncompressed bytes a default chunk aims at.
const CHUNK_TARGET_BYTES: usize = 16 << 20;

fn zerr(path: &Path, what: &str, e: impl std::fmt::Display) -> IoError {
    let msg = e.to_string().replace('\n', " ");
    IoError::invalid(
        path,
        format!("Zarr {what}: {msg}; the store may be damaged or written with a codec this build does not read (gzip, zlib, zstd, blosc, sharding) — re-export it"),
    )
}

/// Read a JSON metadata file of the store, `None` when it does not exist.
fn read_json(root: &Path, rel: &str) -> Result<Option<Value>, IoError> {
    let p = root.join(rel);
    if !p.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).map_err(|e| IoError::os(&p, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| IoError::Corrupt {
            path: p.clone(),
            detail: format!("not valid JSON ({e})"),
        })
}

/// A node of the store: whether it is an array, its attributes and (arrays) its metadata.
struct Node {
    is_array: bool,
    attributes: Value,
    /// `.zarray` (v2) or `zarr.json` (v3) of an array.
    array_meta: Option<Value>,
    /// Where the metadata came from (for messages).
    meta_file: std::path::PathBuf,
}

fn node(root: &Path, rel: &str) -> Result<Node, IoError> {
    let join = |f: &str| {
        if rel.is_empty() {
            f.to_string()
        } else {
            format!("{rel}/{f}")
        }
    };
    if let Some(v) = read_json(root, &join("zarr.json"))? {
        let is_array = match v.get("node_type").and_then(Value::as_str) {
            Some("array") => true,
            Some("group") => false,
            other => {
                return Err(IoError::Corrupt {
                    path: root.join(join("zarr.json")),
                    detail: format!("node_type {other:?} is neither \"array\" nor \"group\""),
                })
            }
        };
        return Ok(Node {
            is_array,
            attributes: v.get("attributes").cloned().unwrap_or(Value::Null),
            array_meta: is_array.then(|| v.clone()),
            meta_file: root.join(join("zarr.json")),
        });
    }
    let attributes = read_json(root, &join(".zattrs"))?.unwrap_or(Value::Null);
    if let Some(v) = read_json(root, &join(".zarray"))? {
        return Ok(Node {
            is_array: true,
            attributes,
            array_meta: Some(v),
            meta_file: root.join(join(".zarray")),
        });
    }
    if root.join(join(".zgroup")).is_file() || !attributes.is_null() {
        return Ok(Node {
            is_array: false,
            attributes,
            array_meta: None,
            meta_file: root.join(join(".zattrs")),
        });
    }
    Err(IoError::invalid(
        &root.join(rel),
        "holds no Zarr metadata (.zarray, .zgroup, .zattrs or zarr.json); point to a Zarr store or the array inside it",
    ))
}

/// Nanometres per unit for the NGFF (UDUNITS-2) length units.
pub fn ngff_unit_nm(unit: &str) -> Option<f64> {
    Some(match unit {
        "angstrom" => 0.1,
        "attometer" => 1e-9,
        "centimeter" => 1e7,
        "decimeter" => 1e8,
        "femtometer" => 1e-6,
        "kilometer" => 1e12,
        "meter" => 1e9,
        "micrometer" => 1e3,
        "millimeter" => 1e6,
        "nanometer" => 1.0,
        "picometer" => 1e-3,
        "foot" => 3.048e8,
        "inch" => 2.54e7,
        "mile" => 1.609344e12,
        "yard" => 9.144e8,
        _ => return super::meta::length_unit_nm(unit),
    })
}

/// One axis of the image: its name, kind and unit.
#[derive(Debug, Clone)]
struct Axis {
    name: String,
    kind: String,
    unit: Option<String>,
}

/// What the OME `multiscales` say: the level-0 array path, the axes and the scale per axis.
struct Ome {
    version: String,
    path: String,
    axes: Vec<Axis>,
    scale: Option<Vec<f64>>,
}

fn scale_of(transforms: Option<&Value>) -> Option<Vec<f64>> {
    transforms?
        .as_array()?
        .iter()
        .find(|t| t.get("type").and_then(Value::as_str) == Some("scale"))?
        .get("scale")?
        .as_array()?
        .iter()
        .map(Value::as_f64)
        .collect()
}

fn parse_ome(file: &Path, attrs: &Value) -> Result<Option<Ome>, IoError> {
    // NGFF 0.5 nests the metadata under "ome"; 0.4 has it at the top level
    let (ome, version_outer) = match attrs.get("ome") {
        Some(o) => (o, o.get("version").and_then(Value::as_str)),
        None => (attrs, None),
    };
    let Some(ms) = ome.get("multiscales") else {
        return Ok(None);
    };
    let bad = |d: String| IoError::Corrupt {
        path: file.to_path_buf(),
        detail: d,
    };
    let m = ms
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| bad("OME multiscales is empty or not a list".into()))?;
    let version = m
        .get("version")
        .and_then(Value::as_str)
        .or(version_outer)
        .unwrap_or("unknown")
        .to_string();
    let ds = m
        .get("datasets")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .ok_or_else(|| bad("OME multiscales has no datasets".into()))?;
    let path = ds
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("OME multiscales dataset has no path".into()))?
        .trim_matches('/')
        .to_string();
    let axes = match m.get("axes").and_then(Value::as_array) {
        // NGFF 0.4+: objects; 0.3: a list of names
        Some(list) => list
            .iter()
            .map(|a| match a {
                Value::String(s) => Ok(Axis {
                    name: s.clone(),
                    kind: kind_of_name(s).into(),
                    unit: None,
                }),
                Value::Object(o) => {
                    let name = o
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("OME axis without name".into()))?
                        .to_string();
                    let kind = o
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or(kind_of_name(&name))
                        .to_string();
                    Ok(Axis {
                        name,
                        kind,
                        unit: o.get("unit").and_then(Value::as_str).map(str::to_string),
                    })
                }
                _ => Err(bad("OME axis is neither a name nor an object".into())),
            })
            .collect::<Result<Vec<_>, _>>()?,
        // NGFF 0.1/0.2: always 5-D t, c, z, y, x
        None => ["t", "c", "z", "y", "x"]
            .iter()
            .map(|n| Axis {
                name: (*n).into(),
                kind: kind_of_name(n).into(),
                unit: None,
            })
            .collect(),
    };
    let level = scale_of(ds.get("coordinateTransformations"));
    let global = scale_of(m.get("coordinateTransformations"));
    let scale = match (level, global) {
        (Some(l), Some(g)) if l.len() == g.len() => {
            Some(l.iter().zip(&g).map(|(a, b)| a * b).collect())
        }
        (Some(l), _) => Some(l),
        (None, g) => g,
    };
    Ok(Some(Ome {
        version,
        path,
        axes,
        scale,
    }))
}

fn kind_of_name(n: &str) -> &'static str {
    match n {
        "t" => "time",
        "c" => "channel",
        _ => "space",
    }
}

/// The sample type of an array from its metadata (`dtype` of v2, `data_type` of v3), as the
/// NumPy-like kind: (bytes, is_float, signed, bool).
fn dtype_of(file: &Path, m: &Value) -> Result<(String, usize, char), IoError> {
    if let Some(d) = m.get("dtype") {
        let s = d.as_str().ok_or_else(|| IoError::Unsupported {
            path: file.to_path_buf(),
            format: format!("Zarr structured dtype {d}"),
        })?;
        let b = s.as_bytes();
        if b.len() >= 3 && matches!(b[0], b'<' | b'>' | b'|' | b'=') {
            if let Ok(size) = s[2..].parse::<usize>() {
                return Ok((s.into(), size, b[1] as char));
            }
        }
        return Err(IoError::Unsupported {
            path: file.to_path_buf(),
            format: format!("Zarr dtype {s:?}"),
        });
    }
    let name = match m.get("data_type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        _ => {
            return Err(IoError::Corrupt {
                path: file.to_path_buf(),
                detail: "array metadata has no dtype/data_type".into(),
            })
        }
    };
    let (size, kind) = match name.as_str() {
        "bool" => (1, 'b'),
        "uint8" => (1, 'u'),
        "uint16" => (2, 'u'),
        "uint32" => (4, 'u'),
        "uint64" => (8, 'u'),
        "int8" => (1, 'i'),
        "int16" => (2, 'i'),
        "int32" => (4, 'i'),
        "int64" => (8, 'i'),
        "float32" => (4, 'f'),
        "float64" => (8, 'f'),
        _ => {
            return Err(IoError::Unsupported {
                path: file.to_path_buf(),
                format: format!("Zarr data type {name:?}"),
            })
        }
    };
    Ok((name, size, kind))
}

/// Read a Zarr array or OME-Zarr image (see the module docs).
/// An opened Zarr image: shape, sample type, voxel size and metadata known, the voxels read on
/// demand by slabs of slices ([`ZarrImage::read_slices`]).
pub struct ZarrImage {
    path: std::path::PathBuf,
    array: Array<FilesystemStore>,
    /// Index ranges per array dimension of what is read (slice range and crop applied).
    ranges: Vec<std::ops::Range<u64>>,
    /// The array dimension of z (`None`: a 2-D image).
    zdim: Option<usize>,
    shape: [usize; 3],
    dname: String,
    dkind: char,
    dsize: usize,
    /// Voxel size from the OME metadata.
    pub voxel: crate::volume::VoxelSize,
    /// Metadata (container, calibration origin, notes, source files).
    pub meta: Metadata,
}

/// Read a Zarr array or OME-Zarr image (see the module docs).
pub fn read_zarr(path: &Path, opts: &ReadOptions) -> Result<GreyVolume, IoError> {
    let img = ZarrImage::open(path, opts)?;
    let out = img.shape;
    let bytes = (out.iter().product::<usize>() as u64).saturating_mul(img.dsize as u64);
    check_budget(path, format!("{out:?}"), bytes, opts.max_bytes)?;
    let (data, notes) = img.read_slices(0, out[0])?;
    let mut meta = img.meta;
    meta.warnings.extend(notes);
    Ok(GreyVolume {
        data,
        voxel: img.voxel,
        meta,
    })
}

impl ZarrImage {
    /// Open the store and learn shape, sample type and calibration (no voxels read).
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<ZarrImage, IoError> {
        let root = path;
        let top = node(root, "")?;
        let mut meta = Metadata::default();
        let (rel, arr_node, ome) = if top.is_array {
            (String::new(), top, None)
        } else {
            let Some(ome) = parse_ome(&top.meta_file, &top.attributes)? else {
                return Err(IoError::invalid(
                path,
                "is a Zarr group without OME-Zarr multiscales metadata; point to the array inside it (e.g. store.zarr/0)",
            ));
            };
            let n = node(root, &ome.path)?;
            if !n.is_array {
                return Err(IoError::invalid(
                &root.join(&ome.path),
                "OME multiscales level 0 is not an array; the store is incomplete — re-export it",
            ));
            }
            (ome.path.clone(), n, Some(ome))
        };
        let am = arr_node
            .array_meta
            .as_ref()
            .expect("array node has metadata");
        let mfile = &arr_node.meta_file;
        let shape: Vec<u64> = am
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_u64).collect())
            .ok_or_else(|| IoError::Corrupt {
                path: mfile.clone(),
                detail: "array metadata has no valid shape".into(),
            })?;
        let (dname, dsize, dkind) = dtype_of(mfile, am)?;

        // axes: OME names, or a plain array's trailing [z,] y, x
        let axes: Vec<Axis> = match &ome {
            Some(o) => {
                if o.axes.len() != shape.len() {
                    return Err(IoError::Corrupt {
                        path: mfile.clone(),
                        detail: format!(
                            "OME metadata names {} axes but the array has {} dimensions",
                            o.axes.len(),
                            shape.len()
                        ),
                    });
                }
                o.axes.clone()
            }
            None => {
                let nd = shape.len();
                let names: Vec<&str> = match nd {
                    0 | 1 => {
                        return Err(IoError::invalid(
                            path,
                            format!("array has {nd} dimension(s); need a 2-D or 3-D image"),
                        ))
                    }
                    2 => vec!["y", "x"],
                    _ => {
                        let mut v = vec!["?"; nd - 3];
                        v.extend(["z", "y", "x"]);
                        v
                    }
                };
                names
                    .iter()
                    .map(|n| Axis {
                        name: (*n).into(),
                        kind: if *n == "?" {
                            "other".into()
                        } else {
                            "space".into()
                        },
                        unit: None,
                    })
                    .collect()
            }
        };

        // per array dimension: the index range to read; find the spatial axes
        let mut ranges: Vec<std::ops::Range<u64>> = Vec::with_capacity(shape.len());
        let mut spatial: Vec<(usize, char)> = Vec::new();
        for (i, (a, &n)) in axes.iter().zip(&shape).enumerate() {
            if a.kind == "space" {
                let c = match a.name.as_str() {
                    "z" | "Z" => 'z',
                    "y" | "Y" => 'y',
                    "x" | "X" => 'x',
                    other => {
                        return Err(IoError::Unsupported {
                            path: mfile.clone(),
                            format: format!("spatial axis named {other:?} (need z, y, x)"),
                        })
                    }
                };
                spatial.push((i, c));
                ranges.push(0..n);
                continue;
            }
            let (pick, flag) = match a.kind.as_str() {
                "channel" => (opts.channel, "--channel"),
                "time" => (opts.timepoint, "--timepoint"),
                _ => (None, ""),
            };
            let idx = match pick {
                Some(k) if (k as u64) < n => k as u64,
                Some(k) => {
                    return Err(IoError::invalid(
                        path,
                        format!(
                            "{flag} {k} is beyond the {n} entries of axis {:?}; use 0..{}",
                            a.name,
                            n.saturating_sub(1)
                        ),
                    ))
                }
                None if n == 1 => 0,
                None if flag.is_empty() => {
                    return Err(IoError::Unsupported {
                        path: mfile.clone(),
                        format: format!(
                            "extra axis {:?} of length {n} (need a 2-D or 3-D image)",
                            a.name
                        ),
                    })
                }
                None => {
                    return Err(IoError::invalid(
                        path,
                        format!(
                            "{} axis {:?} has {n} entries; pick one with {flag} N (0..{})",
                            a.kind,
                            a.name,
                            n - 1
                        ),
                    ))
                }
            };
            ranges.push(idx..idx + 1);
        }
        let order: String = spatial.iter().map(|s| s.1).collect();
        if order != "zyx" && order != "yx" {
            return Err(IoError::Unsupported {
                path: mfile.clone(),
                format: format!("spatial axes in the order {order:?} (need z, y, x or y, x)"),
            });
        }
        let is3 = order == "zyx";
        let dim = |c: char| spatial.iter().find(|s| s.1 == c).map(|s| s.0);
        let full = [
            dim('z').map_or(1, |i| shape[i] as usize),
            shape[dim('y').unwrap_or(0)] as usize,
            shape[dim('x').unwrap_or(0)] as usize,
        ];
        if full.contains(&0) {
            return Err(IoError::invalid(
                path,
                format!(
                    "array has shape {shape:?}, which holds no voxels; write a non-empty array"
                ),
            ));
        }
        // slice range and crop read natively
        let (z0, z1) = match opts.slices {
            Some(r) => super::slice_range(path, r, full[0])?,
            None => (0, full[0]),
        };
        let [y0, x0, h, w] = opts.crop.unwrap_or([0, 0, full[1], full[2]]);
        if h == 0 || w == 0 || y0.saturating_add(h) > full[1] || x0.saturating_add(w) > full[2] {
            return Err(IoError::invalid(
            path,
            format!(
                "crop y0={y0},x0={x0},h={h},w={w} lies outside the {}x{} image; choose a rectangle inside it",
                full[2], full[1]
            ),
        ));
        }
        if let Some(i) = dim('z') {
            ranges[i] = z0 as u64..z1 as u64;
        }
        ranges[dim('y').unwrap_or(0)] = y0 as u64..(y0 + h) as u64;
        ranges[dim('x').unwrap_or(0)] = x0 as u64..(x0 + w) as u64;
        let out = [z1 - z0, h, w];

        let store = FilesystemStore::new(root).map_err(|e| zerr(path, "store", e))?;
        let array_path = format!("/{rel}");
        let array = Array::open(Arc::new(store), &array_path)
            .map_err(|e| zerr(mfile, "array metadata", e))?;
        if (dkind, dsize) == ('f', 8) {
            meta.warnings
                .push("Zarr float64 samples held as 32-bit float".into());
        }
        // calibration from the OME scale and units
        let mut axes_nm: [Option<FileValue>; 3] = [None, None, None];
        if let Some(o) = &ome {
            meta.instrument = Some(format!("OME-Zarr {}", o.version));
            for (k, c) in ['z', 'y', 'x'].iter().enumerate() {
                let Some(i) = dim(*c) else { continue };
                let a = &axes[i];
                let Some(s) = o.scale.as_ref().and_then(|s| s.get(i)).copied() else {
                    continue;
                };
                match a.unit.as_deref() {
                    None => meta.warnings.push(format!(
                        "OME-Zarr axis {:?} has no unit: its scale {s} is not used, {} unknown",
                        a.name,
                        ["dz", "dy", "dx"][k]
                    )),
                    Some(u) => match ngff_unit_nm(u) {
                        Some(f) => {
                            axes_nm[k] = Some(FileValue::new(
                                s * f,
                                format!("OME-Zarr axis {} scale = {s} {u}", a.name),
                            ))
                        }
                        None => meta.warnings.push(format!(
                            "OME-Zarr axis {:?} unit {u:?} is not a length unit: {} unknown",
                            a.name,
                            ["dz", "dy", "dx"][k]
                        )),
                    },
                }
            }
        }
        if !is3 {
            axes_nm[0] = None;
        }
        let zv = if mfile.ends_with("zarr.json") { 3 } else { 2 };
        meta.container = Some(match &ome {
            Some(o) => format!(
                "OME-Zarr {} (Zarr v{zv}), level 0 = {:?}, {dname}",
                o.version, o.path
            ),
            None => format!("Zarr v{zv} array, {dname}"),
        });
        let voxel = file_voxel(axes_nm, &mut meta);
        meta.source_files = store_files(root, &rel);
        Ok(ZarrImage {
            path: path.to_path_buf(),
            array,
            ranges,
            zdim: dim('z'),
            shape: out,
            dname,
            dkind,
            dsize,
            voxel,
            meta,
        })
    }

    /// `[nz, ny, nx]` of what is read (slice range and crop applied).
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The sample type every slab has, when it does not depend on the values (u8, u16, f32,
    /// bool, f64); `None` for integers narrowed after reading all values.
    pub fn sample_type(&self) -> Option<SampleType> {
        match (self.dkind, self.dsize) {
            ('u', 1) | ('b', 1) => Some(SampleType::U8),
            ('u', 2) => Some(SampleType::U16),
            ('f', 4) | ('f', 8) => Some(SampleType::F32),
            _ => None,
        }
    }

    /// Read slices `a..b` (of what is read, after the slice range) with the notes of integer
    /// narrowing.
    pub fn read_slices(&self, a: usize, b: usize) -> Result<(GreyData, Vec<String>), IoError> {
        let path = self.path.as_path();
        let (dkind, dsize, dname) = (self.dkind, self.dsize, &self.dname);
        let array = &self.array;
        let mut ranges = self.ranges.clone();
        if let Some(i) = self.zdim {
            let z0 = ranges[i].start;
            ranges[i] = z0 + a as u64..z0 + b as u64;
        }
        let out = [b - a, self.shape[1], self.shape[2]];
        let n = out[0] * out[1] * out[2];
        let mut notes = Vec::new();
        let subset = ArraySubset::new_with_ranges(&ranges);
        let sh = (out[0], out[1], out[2]);
        fn to3<T>(path: &Path, sh: (usize, usize, usize), v: Vec<T>) -> Result<Array3<T>, IoError> {
            Array3::from_shape_vec(sh, v).map_err(|e| IoError::invalid(path, e.to_string()))
        }
        let what = format!("Zarr {dname}");
        let data = match (dkind, dsize) {
            ('u', 1) | ('b', 1) => {
                let v: Vec<u8> = if dkind == 'b' {
                    let b: Vec<bool> = array
                        .retrieve_array_subset(&subset)
                        .map_err(|e| zerr(path, "chunks", e))?;
                    b.into_iter().map(u8::from).collect()
                } else {
                    array
                        .retrieve_array_subset(&subset)
                        .map_err(|e| zerr(path, "chunks", e))?
                };
                GreyData::U8(to3(path, sh, v)?)
            }
            ('u', 2) => {
                let v: Vec<u16> = array
                    .retrieve_array_subset(&subset)
                    .map_err(|e| zerr(path, "chunks", e))?;
                GreyData::U16(to3(path, sh, v)?)
            }
            ('f', 4) => {
                let v: Vec<f32> = array
                    .retrieve_array_subset(&subset)
                    .map_err(|e| zerr(path, "chunks", e))?;
                GreyData::F32(to3(path, sh, v)?)
            }
            ('f', 8) => {
                let v: Vec<f64> = array
                    .retrieve_array_subset(&subset)
                    .map_err(|e| zerr(path, "chunks", e))?;
                GreyData::F32(to3(path, sh, v.into_iter().map(|x| x as f32).collect())?)
            }
            ('i' | 'u', _) => {
                let v: Vec<i64> = match (dkind, dsize) {
                    ('i', 1) => ints::<i8>(array, &subset, path)?,
                    ('i', 2) => ints::<i16>(array, &subset, path)?,
                    ('i', 4) => ints::<i32>(array, &subset, path)?,
                    ('i', 8) => ints::<i64>(array, &subset, path)?,
                    ('u', 4) => ints::<u32>(array, &subset, path)?,
                    ('u', 8) => {
                        let v: Vec<u64> = array
                            .retrieve_array_subset(&subset)
                            .map_err(|e| zerr(path, "chunks", e))?;
                        v.into_iter()
                            .map(|x| x.min(i64::MAX as u64) as i64)
                            .collect()
                    }
                    _ => {
                        return Err(IoError::Unsupported {
                            path: path.to_path_buf(),
                            format: what,
                        })
                    }
                };
                let (d, lo, hi) = super::ints::narrow(path, &what, out, n, |i| v[i])?;
                notes.extend(super::ints::note(&what, lo, hi, &d));
                d
            }
            _ => {
                return Err(IoError::Unsupported {
                    path: path.to_path_buf(),
                    format: what,
                })
            }
        };

        Ok((data, notes))
    }
}

/// The files the image was read from (for provenance): the group's metadata files and every
/// file of the level-0 array, sorted.
fn store_files(root: &Path, rel: &str) -> Vec<std::path::PathBuf> {
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    if !rel.is_empty() {
        out.extend(
            ["zarr.json", ".zgroup", ".zattrs"]
                .iter()
                .map(|f| root.join(f))
                .filter(|p| p.is_file()),
        );
    }
    let mut files = Vec::new();
    walk(&root.join(rel), &mut files);
    files.sort();
    out.extend(files);
    out
}

fn ints<T>(
    array: &Array<FilesystemStore>,
    subset: &ArraySubset,
    path: &Path,
) -> Result<Vec<i64>, IoError>
where
    T: zarrs::array::ElementOwned + Into<i64>,
{
    let v: Vec<T> = array
        .retrieve_array_subset(subset)
        .map_err(|e| zerr(path, "chunks", e))?;
    Ok(v.into_iter().map(Into::into).collect())
}

/// Write `vol` as an OME-Zarr 0.4 image on Zarr v2 (see the module docs), atomically.
pub fn write_zarr(path: &Path, vol: &GreyVolume, o: &ZarrWriteOptions) -> Result<(), IoError> {
    let mut w = ZarrWriter::create(path, vol.shape(), vol.sample_type(), &vol.voxel, o)?;
    let [nz, _, _] = vol.shape();
    let per = w.slices_per_chunk;
    let mut z = 0;
    while z < nz {
        let e = (z + per).min(nz);
        let slab = match &vol.data {
            GreyData::U8(a) => GreyData::U8(a.slice(ndarray::s![z..e, .., ..]).to_owned()),
            GreyData::U16(a) => GreyData::U16(a.slice(ndarray::s![z..e, .., ..]).to_owned()),
            GreyData::F32(a) => GreyData::F32(a.slice(ndarray::s![z..e, .., ..]).to_owned()),
        };
        w.write_slab(&slab)?;
        z = e;
    }
    w.finish()
}

/// An OME-Zarr 0.4 store being written slab by slab into a temporary folder beside the target;
/// [`ZarrWriter::finish`] renames it into place (dropped unfinished: removed).
pub struct ZarrWriter {
    path: std::path::PathBuf,
    tmp: super::atomic::TempPath,
    array: Array<FilesystemStore>,
    shape: [usize; 3],
    written: usize,
    /// Slices per chunk of the store.
    pub slices_per_chunk: usize,
}

impl ZarrWriter {
    /// Start a store for a `[nz, ny, nx]` volume of `sample` values with voxel size `voxel`.
    pub fn create(
        path: &Path,
        shape: [usize; 3],
        sample: SampleType,
        voxel: &crate::volume::VoxelSize,
        o: &ZarrWriteOptions,
    ) -> Result<Self, IoError> {
        check_zarr_target(path)?;
        let [nz, ny, nx] = shape;
        if nz * ny * nx == 0 {
            return Err(IoError::invalid(path, "cannot write an empty volume"));
        }
        let slice_bytes = ny * nx * sample.bytes();
        let per = o
            .slices_per_chunk
            .unwrap_or_else(|| (CHUNK_TARGET_BYTES / slice_bytes.max(1)).max(1))
            .clamp(1, nz);
        let tmp = super::atomic::temp_folder(path)?;
        let dir = tmp.path().to_path_buf();
        let put = |rel: &str, v: &Value| -> Result<(), IoError> {
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| IoError::os(parent, e))?;
            }
            let text =
                serde_json::to_string_pretty(v).map_err(|e| IoError::invalid(&p, e.to_string()))?;
            std::fs::write(&p, text).map_err(|e| IoError::os(&p, e))
        };
        let calibrated = |k: usize| voxel.source[k] != VoxelSource::Default;
        let axes: Vec<Value> = ["z", "y", "x"]
            .iter()
            .enumerate()
            .map(|(k, n)| {
                if calibrated(k) {
                    json!({"name": n, "type": "space", "unit": "nanometer"})
                } else {
                    json!({"name": n, "type": "space"})
                }
            })
            .collect();
        let scale: Vec<f64> = (0..3)
            .map(|k| if calibrated(k) { voxel.nm[k] } else { 1.0 })
            .collect();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("image")
            .to_string();
        put(".zgroup", &json!({"zarr_format": 2}))?;
        put(
            ".zattrs",
            &json!({
                "multiscales": [{
                    "version": "0.4",
                    "name": name,
                    "axes": axes,
                    "datasets": [{
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": scale}]
                    }],
                    "metadata": {"method": "fibstack", "version": env!("CARGO_PKG_VERSION")}
                }]
            }),
        )?;
        let (dtype, fill) = match sample {
            SampleType::U8 => ("|u1", json!(0)),
            SampleType::U16 => ("<u2", json!(0)),
            SampleType::F32 => ("<f4", json!(0.0)),
        };
        put(
            "0/.zarray",
            &json!({
                "zarr_format": 2,
                "shape": [nz, ny, nx],
                "chunks": [per, ny, nx],
                "dtype": dtype,
                "compressor": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
                "fill_value": fill,
                "order": "C",
                "filters": null,
                "dimension_separator": "/"
            }),
        )?;
        let store = FilesystemStore::new(&dir).map_err(|e| zerr(path, "store", e))?;
        let array =
            Array::open(Arc::new(store), "/0").map_err(|e| zerr(path, "array metadata", e))?;
        Ok(ZarrWriter {
            path: path.to_path_buf(),
            tmp,
            array,
            shape,
            written: 0,
            slices_per_chunk: per,
        })
    }

    /// Append the next slab of slices (any number; chunks not filled whole are completed by
    /// the next slab).
    pub fn write_slab(&mut self, data: &GreyData) -> Result<(), IoError> {
        let [n, ny, nx] = data.shape();
        if [ny, nx] != [self.shape[1], self.shape[2]] || self.written + n > self.shape[0] {
            return Err(IoError::invalid(
                &self.path,
                format!(
                    "slab of {n} x {ny} x {nx} does not fit the {:?} store after {} slices",
                    self.shape, self.written
                ),
            ));
        }
        let (z0, z1) = (self.written, self.written + n);
        let sub = ArraySubset::new_with_ranges(&[z0 as u64..z1 as u64, 0..ny as u64, 0..nx as u64]);
        let r = match data {
            GreyData::U8(a) => store_slab(&self.array, &sub, a),
            GreyData::U16(a) => store_slab(&self.array, &sub, a),
            GreyData::F32(a) => store_slab(&self.array, &sub, a),
        };
        r.map_err(|e| zerr(&self.path, "write", e))?;
        self.written = z1;
        Ok(())
    }

    /// Rename the finished store into place (every slice must have been written).
    pub fn finish(self) -> Result<(), IoError> {
        if self.written != self.shape[0] {
            return Err(IoError::invalid(
                &self.path,
                format!(
                    "only {} of {} slices were written; output discarded",
                    self.written, self.shape[0]
                ),
            ));
        }
        drop(self.array);
        super::atomic::replace_folder(self.tmp, &self.path)
    }
}

fn store_slab<T: zarrs::array::Element + Copy>(
    array: &Array<FilesystemStore>,
    sub: &ArraySubset,
    a: &Array3<T>,
) -> Result<(), zarrs::array::ArrayError> {
    let v: Vec<T> = a.iter().copied().collect();
    array.store_array_subset(sub, v)
}

/// Refuse an output path that exists and is not a Zarr store (a Zarr output replaces the
/// folder whole).
pub fn check_zarr_target(path: &Path) -> Result<(), IoError> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if !m.is_dir() => Err(IoError::invalid(
            path,
            "exists and is a file, but a .zarr output is a folder; remove the file or choose another name",
        )),
        Ok(_) if ["zarr.json", ".zgroup", ".zarray", ".zattrs"]
            .iter()
            .any(|f| path.join(f).is_file()) =>
        {
            Ok(())
        }
        Ok(_) if std::fs::read_dir(path).map(|mut d| d.next().is_none()).unwrap_or(false) => Ok(()),
        Ok(_) => Err(IoError::invalid(
            path,
            "is a folder that is not a Zarr store; a .zarr output replaces the folder whole, so choose a new name",
        )),
    }
}
