//! OME-TIFF: the OME-XML in the first page's ImageDescription (what Bio-Formats, Fiji and vendor
//! converters write).
//!
//! Reading: `Pixels` `SizeX/Y/Z/C/T`, `DimensionOrder` (which page holds which z, channel and
//! time point) and `PhysicalSizeX/Y/Z` with their `…Unit` attributes (default µm, as the OME
//! schema says). A file with several channels or time points needs one picked (`--channel`,
//! `--timepoint`). Single-file OME-TIFFs whose pages follow `DimensionOrder` are read; `TiffData`
//! maps spreading planes over several files are not.
//!
//! Writing: [`write_ome_tiff`] writes pages in z order with `DimensionOrder="XYZCT"`, one
//! channel, one time point, and `PhysicalSize*` in nm for the calibrated axes.

use super::meta::{length_unit_nm, VendorInfo};
use super::{IoError, ReadOptions};
use crate::volume::{GreyData, GreyVolume};
use std::path::Path;

/// What the OME-XML `Pixels` element says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OmeInfo {
    /// `[SizeZ, SizeY, SizeX]`.
    pub size: [usize; 3],
    /// `SizeC`: number of channels (at least 1; one is picked with `ReadOptions::channel`).
    pub size_c: usize,
    /// `SizeT`: number of time points (at least 1).
    pub size_t: usize,
    /// e.g. `"XYZCT"`.
    pub dimension_order: String,
    /// OME pixel `Type` (`uint8`, `uint16`, `float`, …).
    pub pixel_type: String,
}

/// The value of attribute `name` in the start tag beginning at `tag` (e.g. `<Pixels ...>`).
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = tag[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before = tag[..at].chars().last();
        if !before.is_some_and(|c| c.is_whitespace()) {
            continue;
        }
        let rest = tag[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let q = rest.chars().next()?;
        if q != '"' && q != '\'' {
            return None;
        }
        let body = &rest[1..];
        return body.find(q).map(|e| &body[..e]);
    }
    None
}

/// The first start tag `<Name ...>` (namespace prefixes allowed) of an XML text.
fn start_tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = xml[from..].find('<') {
        let at = from + i + 1;
        from = at;
        let rest = &xml[at..];
        let end_name = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let full = &rest[..end_name];
        let local = full.rsplit(':').next().unwrap_or(full);
        if local == name {
            let close = rest.find('>')?;
            return Some(&rest[..close]);
        }
    }
    None
}

/// Parse the OME-XML of a description into vendor info (calibration with details, OME
/// dimensions). Problems become warnings (the pixels are still read as plain TIFF pages).
pub fn vendor_info_from_xml(xml: &str) -> VendorInfo {
    let mut info = VendorInfo::default();
    info.meta.instrument = start_tag(xml, "OME")
        .and_then(|t| attr(t, "Creator"))
        .map(|c| format!("OME-TIFF ({c})"))
        .or_else(|| Some("OME-TIFF".into()));
    let Some(px) = start_tag(xml, "Pixels") else {
        info.meta
            .warnings
            .push("OME-XML without a Pixels element: read as plain TIFF pages".into());
        return info;
    };
    let num = |k: &str| attr(px, k).and_then(|v| v.trim().parse::<usize>().ok());
    let ome = OmeInfo {
        size: [
            num("SizeZ").unwrap_or(1),
            num("SizeY").unwrap_or(0),
            num("SizeX").unwrap_or(0),
        ],
        size_c: num("SizeC").unwrap_or(1).max(1),
        size_t: num("SizeT").unwrap_or(1).max(1),
        dimension_order: attr(px, "DimensionOrder").unwrap_or("XYZCT").to_string(),
        pixel_type: attr(px, "Type").unwrap_or("").to_string(),
    };
    let mut phys = |axis: &str| -> Option<(f64, String)> {
        let v = attr(px, &format!("PhysicalSize{axis}"))?;
        let unit = attr(px, &format!("PhysicalSize{axis}Unit")).unwrap_or("µm");
        let x: f64 = match v.trim().parse() {
            Ok(x) => x,
            Err(_) => {
                info.meta.warnings.push(format!(
                    "OME PhysicalSize{axis} = {v:?} is not a number: ignored"
                ));
                return None;
            }
        };
        let Some(f) = length_unit_nm(unit) else {
            info.meta.warnings.push(format!(
                "OME PhysicalSize{axis}Unit = {unit:?} is not a length unit fibstack knows: {axis} size unknown"
            ));
            return None;
        };
        let default = if attr(px, &format!("PhysicalSize{axis}Unit")).is_none() {
            " (unit not given: µm, the OME default)"
        } else {
            ""
        };
        Some((
            x * f,
            format!("OME PhysicalSize{axis} = {v} {unit}{default}"),
        ))
    };
    let (x, y, z) = (phys("X"), phys("Y"), phys("Z"));
    if let Some((dx, dxd)) = x {
        let (dy, dyd) = y.unwrap_or((dx, format!("{dxd} (no PhysicalSizeY: taken equal to X)")));
        info.pixel_nm = Some([dy, dx]);
        info.meta.pixel_size_nm = Some([dx, dy]);
        info.pixel_detail = Some(dxd.clone());
        info.pixel_detail_yx = Some([dyd, dxd]);
    }
    if let Some((dz, d)) = z {
        info.spacing_nm = Some(dz);
        info.spacing_detail = Some(d);
    }
    info.ome = Some(ome);
    info
}

/// The page indices (ascending) holding the z-stack of the chosen channel and time point, after
/// the slice range of `opts`.
pub(crate) fn select_pages(
    path: &Path,
    ome: &OmeInfo,
    opts: &ReadOptions,
) -> Result<Vec<usize>, IoError> {
    let (sz, sc, st) = (ome.size[0].max(1), ome.size_c, ome.size_t);
    let c = match opts.channel {
        Some(c) if c < sc => c,
        Some(c) => {
            return Err(IoError::invalid(
                path,
                format!("--channel {c}: the OME-TIFF has {sc} channel(s); use 0..{}", sc - 1),
            ))
        }
        None if sc > 1 => {
            return Err(IoError::invalid(
                path,
                format!("OME-TIFF holds {sc} channels: pick one with --channel N (0..{}) or `channel` in the workflow input", sc - 1),
            ))
        }
        None => 0,
    };
    let t = match opts.timepoint {
        Some(t) if t < st => t,
        Some(t) => {
            return Err(IoError::invalid(
                path,
                format!(
                    "--timepoint {t}: the OME-TIFF has {st} time point(s); use 0..{}",
                    st - 1
                ),
            ))
        }
        None if st > 1 => {
            return Err(IoError::invalid(
                path,
                format!(
                    "OME-TIFF holds {st} time points: pick one with --timepoint N (0..{})",
                    st - 1
                ),
            ))
        }
        None => 0,
    };
    let order = ome.dimension_order.to_ascii_uppercase();
    if order.len() != 5 || !order.starts_with("XY") {
        return Err(IoError::invalid(
            path,
            format!("OME DimensionOrder {order:?} is not one of XYZCT, XYZTC, XYCZT, XYCTZ, XYTZC, XYTCZ"),
        ));
    }
    let (a, b) = opts.slices.unwrap_or((0, sz));
    if a >= sz || a >= b {
        return Err(IoError::invalid(
            path,
            format!(
                "slice range {a}..{b} selects nothing from {sz} slices; use a range inside 0..{sz}"
            ),
        ));
    }
    let mut pages = Vec::with_capacity(b.min(sz) - a);
    for z in a..b.min(sz) {
        // page index: the first of the three letters varies fastest
        let (mut idx, mut stride) = (0usize, 1usize);
        for ch in order[2..].chars() {
            let (v, n) = match ch {
                'Z' => (z, sz),
                'C' => (c, sc),
                'T' => (t, st),
                _ => {
                    return Err(IoError::invalid(
                        path,
                        format!("OME DimensionOrder {order:?} has an unknown axis {ch:?}"),
                    ))
                }
            };
            idx += v * stride;
            stride *= n;
        }
        pages.push(idx);
    }
    pages.sort_unstable();
    Ok(pages)
}

/// Whether a TIFF is an OME-TIFF with more than one channel or time point (those are read
/// whole, not streamed).
pub(crate) fn is_multi_plane(info: &VendorInfo) -> bool {
    info.ome
        .as_ref()
        .is_some_and(|o| o.size_c > 1 || o.size_t > 1)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The OME-XML fibstack writes for a volume (one channel, one time point, z = page).
pub fn ome_xml(vol: &GreyVolume, name: &str) -> String {
    let [nz, ny, nx] = vol.shape();
    let ty = match vol.data {
        GreyData::U8(_) => "uint8",
        GreyData::U16(_) => "uint16",
        GreyData::F32(_) => "float",
    };
    let mut phys = String::new();
    for (i, axis) in ["Z", "Y", "X"].iter().enumerate() {
        if vol.voxel.source[i] != crate::volume::VoxelSource::Default {
            phys.push_str(&format!(
                " PhysicalSize{axis}=\"{}\" PhysicalSize{axis}Unit=\"nm\"",
                vol.voxel.nm[i]
            ));
        }
    }
    let mut planes = String::new();
    for z in 0..nz {
        planes.push_str(&format!(
            "<TiffData IFD=\"{z}\" FirstZ=\"{z}\" FirstC=\"0\" FirstT=\"0\" PlaneCount=\"1\"/>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xsi:schemaLocation=\"http://www.openmicroscopy.org/Schemas/OME/2016-06 http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd\" \
Creator=\"fibstack {}\">\
<Image ID=\"Image:0\" Name=\"{}\"><Pixels ID=\"Pixels:0\" DimensionOrder=\"XYZCT\" Type=\"{ty}\" \
SizeX=\"{nx}\" SizeY=\"{ny}\" SizeZ=\"{nz}\" SizeC=\"1\" SizeT=\"1\"{phys}>\
<Channel ID=\"Channel:0:0\" SamplesPerPixel=\"1\"><LightPath/></Channel>{planes}</Pixels></Image></OME>",
        env!("CARGO_PKG_VERSION"),
        xml_escape(name)
    )
}

/// Write an OME-TIFF (`.ome.tif`): pages in z order, the OME-XML in the first page's
/// ImageDescription, atomically.
pub fn write_ome_tiff(
    path: &Path,
    vol: &GreyVolume,
    opts: &super::tiff::TiffWriteOptions,
) -> Result<(), IoError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("volume")
        .to_string();
    let o = super::tiff::TiffWriteOptions {
        description: Some(ome_xml(vol, &name)),
        ..opts.clone()
    };
    super::tiff::write_tiff(path, vol, &o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_default_to_micrometres_and_order_selects_pages() {
        let xml = r#"<OME><Image><Pixels DimensionOrder="XYCZT" SizeX="4" SizeY="3" SizeZ="5" SizeC="2" SizeT="1" PhysicalSizeX="0.005" PhysicalSizeY="0.005" PhysicalSizeZ="50" PhysicalSizeZUnit="nm" Type="uint8"/></Image></OME>"#;
        let i = vendor_info_from_xml(xml);
        assert!((i.pixel_nm.unwrap()[1] - 5.0).abs() < 1e-9);
        assert!((i.spacing_nm.unwrap() - 50.0).abs() < 1e-9);
        assert!(i.pixel_detail.unwrap().contains("OME default"));
        let ome = i.ome.unwrap();
        let p = Path::new("x.ome.tif");
        let o = ReadOptions {
            channel: Some(1),
            ..Default::default()
        };
        // XYCZT: c fastest, then z: page = c + 2 z
        assert_eq!(select_pages(p, &ome, &o).unwrap(), vec![1, 3, 5, 7, 9]);
        let e = select_pages(p, &ome, &ReadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("--channel"), "{e}");
    }
}
