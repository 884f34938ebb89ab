//! VTK ImageData (`.vti`, XML, appended raw binary) with spacing in nm, for ParaView.
//! Voxels are written as cell data, so each voxel is one cell of size `dx × dy × dz`.

use super::{check_budget, IoError};
use crate::volume::{GreyData, GreyVolume, Metadata, VoxelSize, VoxelSource};
use std::io::Write;
use std::path::Path;

fn vtk_type(d: &GreyData) -> &'static str {
    match d {
        GreyData::U8(_) => "UInt8",
        GreyData::U16(_) => "UInt16",
        GreyData::F32(_) => "Float32",
    }
}

/// Write a `.vti` file (x fastest, then y, then z: the volume's own memory order).
pub fn write_vti(path: &Path, vol: &GreyVolume, name: &str) -> Result<(), IoError> {
    let [nz, ny, nx] = vol.shape();
    let nbytes = (nz * ny * nx * vol.sample_type().bytes()) as u64;
    let v = vol.voxel.nm;
    let unknown = vol.voxel.uncalibrated_axes();
    // VTK has no "unknown" spacing: the comment says which axes are only one voxel, so that a
    // later read does not take the placeholder for metadata
    let uncal = if unknown.is_empty() {
        String::new()
    } else {
        format!(
            "; uncalibrated: {} (spacing 1 = one voxel)",
            unknown.join(" ")
        )
    };
    let header = format!(
        "<?xml version=\"1.0\"?>\n<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n  <ImageData WholeExtent=\"0 {nx} 0 {ny} 0 {nz}\" Origin=\"0 0 0\" Spacing=\"{} {} {}\">\n    <!-- spacing in nm; fibstack voxel_nm [dz,dy,dx] = [{}, {}, {}]{uncal} -->\n    <Piece Extent=\"0 {nx} 0 {ny} 0 {nz}\">\n      <CellData Scalars=\"{name}\">\n        <DataArray type=\"{}\" Name=\"{name}\" format=\"appended\" offset=\"0\"/>\n      </CellData>\n    </Piece>\n  </ImageData>\n  <AppendedData encoding=\"raw\">\n   _",
        v[2], v[1], v[0], v[0], v[1], v[2], vtk_type(&vol.data)
    );
    super::atomic::write_atomic(path, |w| {
        let io = |e| IoError::os(path, e);
        w.write_all(header.as_bytes()).map_err(io)?;
        w.write_all(&nbytes.to_le_bytes()).map_err(io)?;
        super::raw::write_samples(w, &vol.data, true).map_err(io)?;
        w.write_all(b"\n  </AppendedData>\n</VTKFile>\n")
            .map_err(io)
    })
}

fn attr<'a>(text: &'a str, tag_start: usize, name: &str) -> Option<&'a str> {
    let rest = &text[tag_start..];
    let end = rest.find('>')?;
    let tag = &rest[..end];
    let i = tag.find(&format!(" {name}=\""))?;
    let v = &tag[i + name.len() + 3..];
    Some(&v[..v.find('"')?])
}

/// Read a `.vti` written by [`write_vti`] (appended raw, UInt64 header, one cell array), with the
/// default memory limit of [`super::ReadOptions`].
pub fn read_vti(path: &Path) -> Result<GreyVolume, IoError> {
    read_vti_limited(path, super::ReadOptions::default().max_bytes)
}

/// [`read_vti`] refusing a file larger than `max_bytes` before reading it, and any extent,
/// spacing or data size that does not add up, with a message naming the values.
pub fn read_vti_limited(path: &Path, max_bytes: u64) -> Result<GreyVolume, IoError> {
    let len = std::fs::metadata(path)
        .map_err(|e| IoError::os(path, e))?
        .len();
    check_budget(path, "(.vti file)", len, max_bytes)?;
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, e))?;
    let marker = b"<AppendedData encoding=\"raw\">";
    let bad = |w: &str| {
        IoError::invalid(
            path,
            format!(
                "unsupported or malformed .vti ({w}); only fibstack's appended-raw layout is read"
            ),
        )
    };
    let pos = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .ok_or_else(|| bad("no raw appended data"))?;
    let text = String::from_utf8_lossy(&bytes[..pos]).into_owned();
    let us = pos
        + marker.len()
        + bytes[pos + marker.len()..]
            .iter()
            .position(|&c| c == b'_')
            .ok_or_else(|| bad("no '_'"))?
        + 1;
    let img = text.find("<ImageData").ok_or_else(|| bad("no ImageData"))?;
    let ext: Vec<usize> = attr(&text, img, "WholeExtent")
        .ok_or_else(|| bad("WholeExtent"))?
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let sp_text = attr(&text, img, "Spacing").ok_or_else(|| bad("Spacing"))?;
    let sp: Vec<f64> = sp_text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    if ext.len() != 6 || sp.len() != 3 {
        return Err(bad("extent/spacing"));
    }
    if sp.iter().any(|d| !(d.is_finite() && *d > 0.0)) {
        return Err(IoError::invalid(
            path,
            format!("Spacing=\"{sp_text}\": every spacing must be a positive number of nm; fix the file's Spacing attribute (or re-export it)"),
        ));
    }
    let span = |a: usize, b: usize| ext[b].checked_sub(ext[a]).filter(|n| *n > 0);
    let shape = match (span(4, 5), span(2, 3), span(0, 1)) {
        (Some(z), Some(y), Some(x)) => [z, y, x],
        _ => {
            return Err(IoError::invalid(
                path,
                format!("WholeExtent {ext:?} is empty or reversed; every axis needs at least one cell (re-export the file)"),
            ))
        }
    };
    let da = text.find("<DataArray").ok_or_else(|| bad("DataArray"))?;
    let ty = match attr(&text, da, "type") {
        Some("UInt8") => crate::volume::SampleType::U8,
        Some("UInt16") => crate::volume::SampleType::U16,
        Some("Float32") => crate::volume::SampleType::F32,
        other => return Err(bad(&format!("type {other:?}"))),
    };
    if bytes.len() < us + 8 {
        return Err(bad("truncated"));
    }
    let n = u64::from_le_bytes(bytes[us..us + 8].try_into().map_err(|_| bad("size"))?);
    let want = shape
        .iter()
        .try_fold(ty.bytes() as u64, |a, &d| a.checked_mul(d as u64));
    if want != Some(n) {
        return Err(bad(&format!(
            "data block of {n} bytes, but extent {shape:?} of {} needs {}",
            ty.as_str(),
            want.map_or("more than 2^64".to_string(), |w| w.to_string())
        )));
    }
    let data = usize::try_from(n)
        .ok()
        .and_then(|n| bytes.get(us + 8..(us + 8).checked_add(n)?))
        .ok_or_else(|| {
            bad(&format!(
                "data block of {n} bytes but the file ends after {} (truncated)",
                bytes.len().saturating_sub(us + 8)
            ))
        })?;
    let data = super::raw::decode(path, data, shape, ty, true)?;
    let mut meta = Metadata::default();
    meta.source_files.push(path.to_path_buf());
    let mut voxel = VoxelSize::new([sp[2], sp[1], sp[0]], VoxelSource::File);
    match text.find("fibstack voxel_nm") {
        Some(i) => {
            // our own file: the comment says which axes were unknown when it was written
            let comment = &text[i..text[i..].find("-->").map_or(text.len(), |e| i + e)];
            if let Some(u) = comment.split("uncalibrated:").nth(1) {
                for (k, name) in crate::volume::AXIS_NAMES.iter().enumerate() {
                    if u.split_whitespace().any(|w| w == *name) {
                        voxel.nm[k] = 1.0;
                        voxel.source[k] = VoxelSource::Default;
                    }
                }
            }
        }
        None => {
            // another tool's file: VTK spacing has no unit
            meta.warnings.push(format!(
                "Spacing=\"{sp_text}\" has no unit (not written by fibstack): voxel size unknown; give --voxel DZ,DY,DX in nm"
            ));
            voxel = VoxelSize::default();
        }
    }
    Ok(GreyVolume { data, voxel, meta })
}
