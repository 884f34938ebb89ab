//! Vendor metadata: Thermo/FEI (tag 34682), Zeiss (tag 34118), ImageJ descriptions, Avizo
//! `BoundingBox` descriptions, ImageJ slice labels and Zeiss Atlas 3D z positions; and
//! [`file_voxel`], the one place every reader's calibration passes through.

use crate::volume::{Metadata, VoxelSize, VoxelSource};

/// Thermo/FEI private tag.
pub const TAG_FEI: u16 = 34682;
/// Zeiss `CZ_SEM` private tag.
pub const TAG_ZEISS: u16 = 34118;

/// What a vendor block tells about the image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VendorInfo {
    /// Metadata read from the vendor block (instrument, detector, beam voltage, stage tilt, …).
    pub meta: Metadata,
    /// Pixel size `[dy, dx]` in nm, when known.
    pub pixel_nm: Option<[f64; 2]>,
    /// Slice spacing (nm), when known (ImageJ `spacing`).
    pub spacing_nm: Option<f64>,
    /// Where `pixel_nm` came from (e.g. `"Thermo/FEI [Scan] PixelWidth = 3.37e-6 m"`).
    pub pixel_detail: Option<String>,
    /// Per-axis origin of `[dy, dx]` when they differ (overrides `pixel_detail`).
    pub pixel_detail_yx: Option<[String; 2]>,
    /// Where `spacing_nm` came from.
    pub spacing_detail: Option<String>,
    /// Avizo/Amira `BoundingBox xmin xmax ymin ymax zmin zmax` of the description (file units).
    pub bounding_box: Option<[f64; 6]>,
    /// Nanometres per unit of `bounding_box` when the description states its unit.
    pub bounding_box_unit_nm: Option<(f64, String)>,
    /// ImageJ slice labels (IJMetadata `Labels`), one per page when present.
    pub slice_labels: Vec<String>,
    /// OME-XML dimensions, for OME-TIFF.
    pub ome: Option<super::ome::OmeInfo>,
}

/// One calibration value read from a file: nanometres and where in the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct FileValue {
    /// Value in nm.
    pub nm: f64,
    /// Where it came from, for `fibstack info` (e.g. `"MRC cell a / mx = 120 Å / 100"`).
    pub detail: String,
}

impl FileValue {
    /// A value of `nm` nanometres and where in the file it came from.
    pub fn new(nm: f64, detail: impl Into<String>) -> Self {
        FileValue {
            nm,
            detail: detail.into(),
        }
    }
}

/// The single function through which every reader turns calibration values found in a file into
/// a [`VoxelSize`] (`[dz, dy, dx]`), recording each value's origin in `meta.voxel_detail`.
///
/// Values that are not finite and positive are dropped with a warning naming the detail (the
/// axis stays uncalibrated: never a quiet number). This is also where a plausibility check of the
/// voxel size plugs in.
///
/// ```
/// use fibstack::io::meta::{file_voxel, FileValue};
/// let mut meta = fibstack::Metadata::default();
/// let v = file_voxel([None, Some(FileValue::new(5.0, "test")), Some(FileValue::new(-1.0, "bad"))], &mut meta);
/// assert_eq!(v.nm[1], 5.0);
/// assert_eq!(v.source[2], fibstack::VoxelSource::Default);
/// assert!(meta.warnings[0].contains("bad"));
/// ```
pub fn file_voxel(axes: [Option<FileValue>; 3], meta: &mut Metadata) -> VoxelSize {
    let mut v = VoxelSize::default();
    for (i, a) in axes.into_iter().enumerate() {
        let Some(a) = a else { continue };
        let name = ["dz", "dy", "dx"][i];
        if !(a.nm.is_finite() && a.nm > 0.0) {
            meta.warnings.push(format!(
                "{name} = {} nm from {} is not a positive size: ignored, {name} unknown",
                a.nm, a.detail
            ));
            continue;
        }
        v.nm[i] = a.nm;
        v.source[i] = VoxelSource::File;
        meta.voxel_detail[i] = Some(a.detail);
    }
    v
}

/// Avizo/Amira `BoundingBox`: the box spans the centres of the first and last voxel, so the voxel
/// size along an axis of `n > 1` voxels is `(max − min) / (n − 1)`; along an axis of one voxel
/// Amira sets the box extent to the voxel size itself (a zero extent leaves it unknown).
/// `bbox` = `[xmin, xmax, ymin, ymax, zmin, zmax]`, `dims` = `[nz, ny, nx]`; returns the
/// `[dz, dy, dx]` in box units.
///
/// ```
/// let v = fibstack::io::meta::bounding_box_voxel([0.0, 9.0, 0.0, 4.0, 0.0, 0.0], [1, 5, 10]);
/// assert_eq!(v, [None, Some(1.0), Some(1.0)]);
/// ```
pub fn bounding_box_voxel(bbox: [f64; 6], dims: [usize; 3]) -> [Option<f64>; 3] {
    let mut out = [None; 3];
    for (i, out) in out.iter_mut().enumerate() {
        // axis i of [z, y, x] is box pair 2 - i of [x, y, z]
        let k = 2 - i;
        let ext = bbox[2 * k + 1] - bbox[2 * k];
        let n = dims[i];
        let d = if n > 1 { ext / (n - 1) as f64 } else { ext };
        *out = (d.is_finite() && d > 0.0).then_some(d);
    }
    out
}

/// Find `BoundingBox a b c d e f` in a description (Avizo writes it into the TIFF
/// ImageDescription). Returns the six numbers.
pub fn parse_bounding_box(text: &str) -> Option<[f64; 6]> {
    let i = text.find("BoundingBox")?;
    let rest = &text[i + "BoundingBox".len()..];
    let nums: Vec<f64> = rest
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .take(6)
        .map_while(|t| t.parse::<f64>().ok())
        .collect();
    (nums.len() == 6).then(|| [nums[0], nums[1], nums[2], nums[3], nums[4], nums[5]])
}

/// A length unit stated next to a box or coordinates: `Units nm`, `unit=µm`,
/// `Coordinates "µm"` (AmiraMesh `Units { Coordinates "µm" }`). Returns nm per unit and the name.
pub fn parse_unit_statement(text: &str) -> Option<(f64, String)> {
    for key in ["Coordinates", "Units", "units", "unit", "Unit"] {
        let mut from = 0;
        while let Some(j) = text[from..].find(key) {
            let at = from + j + key.len();
            from = at;
            let rest = text[at..].trim_start_matches([' ', '\t', '=', ':', '"', '{']);
            let word: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',' && *c != '}')
                .collect();
            if let Some(f) = length_unit_nm(&word) {
                return Some((f, word));
            }
        }
    }
    None
}

/// z positions from slice names or labels like `slice_00596_z=5.9104um` (Zeiss Atlas 3D):
/// `z=` followed by a number and a length unit. Returns nm.
///
/// ```
/// let z = fibstack::io::meta::atlas_z_nm("slice_00596_z=5.9104um.tif").unwrap();
/// assert!((z - 5910.4).abs() < 1e-9);
/// ```
pub fn atlas_z_nm(name: &str) -> Option<f64> {
    let i = name.rfind("z=")?;
    let rest = &name[i + 2..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    // "e" of a unit must not be eaten: back off when the number does not parse
    let mut k = end;
    let v = loop {
        if k == 0 {
            return None;
        }
        if let Ok(v) = rest[..k].parse::<f64>() {
            break v;
        }
        k -= 1;
    };
    let unit: String = rest[k..]
        .chars()
        .take_while(|c| c.is_alphabetic() || *c == 'µ' || *c == 'μ')
        .collect();
    // round to 1e-6 nm: the decimal label is exact, its binary product is not
    length_unit_nm(&unit).map(|f| (v * f * 1e6).round() / 1e6)
}

/// Statistics of a z pitch from per-slice positions.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PitchStats {
    /// Median of the differences between consecutive positions (nm): the dz used.
    pub median_nm: f64,
    /// Smallest difference between consecutive positions (nm).
    pub min_nm: f64,
    /// Largest difference between consecutive positions (nm).
    pub max_nm: f64,
    /// Coefficient of variation (standard deviation / mean) of the differences.
    pub cv: f64,
}

/// Warn when the pitch varies by more than this fraction of the median (min or max).
pub const PITCH_TOLERANCE: f64 = 0.05;

/// Pitch statistics of sorted-by-slice positions (at least two; positions may decrease).
pub fn pitch_stats(z_nm: &[f64]) -> Option<PitchStats> {
    if z_nm.len() < 2 {
        return None;
    }
    let d: Vec<f64> = z_nm.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let mut s = d.clone();
    s.sort_by(f64::total_cmp);
    let m = s.len();
    let median = if m % 2 == 1 {
        s[m / 2]
    } else {
        0.5 * (s[m / 2 - 1] + s[m / 2])
    };
    let mean = d.iter().sum::<f64>() / m as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m as f64;
    Some(PitchStats {
        median_nm: median,
        min_nm: s[0],
        max_nm: s[m - 1],
        cv: if mean > 0.0 {
            var.sqrt() / mean
        } else {
            f64::NAN
        },
    })
}

/// ImageJ `IJMetadata` (tag 50839) with its byte counts (tag 50838): the slice labels.
/// The header is `IJIJ` (big-endian) or `JIJI` (little-endian) followed by (type, count) pairs;
/// strings are UTF-16 in the same byte order.
pub fn parse_ij_labels(data: &[u8], counts: &[u32]) -> Vec<String> {
    if data.len() < 4 || counts.is_empty() {
        return Vec::new();
    }
    let be = match &data[..4] {
        b"IJIJ" => true,
        b"JIJI" => false,
        _ => return Vec::new(),
    };
    let hdr = counts[0] as usize;
    if hdr < 4 || hdr > data.len() || !(hdr - 4).is_multiple_of(8) {
        return Vec::new();
    }
    let u32_ = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let mut pos = hdr;
    let mut ci = 1usize;
    let mut labels = Vec::new();
    for pair in data[4..hdr].chunks_exact(8) {
        let typ = &pair[..4];
        let n = u32_(&pair[4..]) as usize;
        let is_labels = typ == b"labl" || typ == b"lbal";
        for _ in 0..n {
            let Some(&c) = counts.get(ci) else {
                return labels;
            };
            ci += 1;
            let c = c as usize;
            if pos + c > data.len() {
                return labels;
            }
            if is_labels {
                let units: Vec<u16> = data[pos..pos + c]
                    .chunks_exact(2)
                    .map(|b| {
                        if be {
                            u16::from_be_bytes([b[0], b[1]])
                        } else {
                            u16::from_le_bytes([b[0], b[1]])
                        }
                    })
                    .collect();
                labels.push(String::from_utf16_lossy(&units));
            }
            pos += c;
        }
    }
    labels
}

/// Look up `key` in `[section]` of INI text (FEI style). Returns the raw value string.
pub fn ini_get<'a>(text: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            in_section = &line[1..line.len() - 1] == section;
            continue;
        }
        if in_section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim());
                }
            }
        }
    }
    None
}

/// Parse Thermo/FEI INI metadata.
///
/// ```
/// let t = "[Scan]\nPixelWidth=3.3724e-006\nPixelHeight=3.3724e-006\n[PrivateFei]\nDatabarHeight=29\n";
/// let i = fibstack::io::meta::parse_fei(t);
/// assert!((i.pixel_nm.unwrap()[1] - 3372.4).abs() < 1e-6);
/// assert_eq!(i.meta.databar_rows, Some(29));
/// ```
pub fn parse_fei(text: &str) -> VendorInfo {
    let mut info = VendorInfo::default();
    let m = &mut info.meta;
    m.instrument = ini_get(text, "System", "SystemType")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| Some("Thermo/FEI".to_string()));
    let num = |sec: &str, key: &str, warnings: &mut Vec<String>| -> Option<f64> {
        let v = ini_get(text, sec, key)?;
        if v.is_empty() {
            return None;
        }
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(x),
            _ => {
                warnings.push(format!("malformed number [{sec}] {key}={v:?} ignored"));
                None
            }
        }
    };
    let mut w = Vec::new();
    let pw = num("Scan", "PixelWidth", &mut w);
    let ph = num("Scan", "PixelHeight", &mut w);
    match (pw, ph) {
        (Some(x), y) if x > 0.0 => {
            let y = y.filter(|v| *v > 0.0).unwrap_or(x);
            info.pixel_nm = Some([y * 1e9, x * 1e9]);
            m.pixel_size_nm = Some([x * 1e9, y * 1e9]);
            info.pixel_detail = Some(format!(
                "Thermo/FEI tag 34682 [Scan] PixelWidth = {x:e} m, PixelHeight = {y:e} m"
            ));
        }
        _ => {
            if ini_get(text, "Scan", "PixelWidth").is_none() {
                w.push(
                    "no [Scan] PixelWidth in the Thermo/FEI metadata: pixel size unknown".into(),
                );
            } else {
                w.push("[Scan] PixelWidth unusable: pixel size unknown".into());
            }
        }
    }
    m.stage_tilt_deg = num("Stage", "StageT", &mut w).map(f64::to_degrees);
    m.beam_voltage_v = num("Beam", "HV", &mut w)
        .or_else(|| num("EBeam", "HV", &mut w))
        .or_else(|| num("IBeam", "HV", &mut w));
    m.detector = ini_get(text, "Detectors", "Name")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    m.databar_rows = num("PrivateFei", "DatabarHeight", &mut w)
        .filter(|v| *v >= 0.0)
        .map(|v| v as usize);
    // tolerate duplicates from the fallbacks
    w.dedup();
    m.warnings = w;
    info
}

/// Parse the Zeiss `CZ_SEM` block: `AP_PIXEL_SIZE` followed by `Pixel Size = 5.825 nm`.
///
/// ```
/// let t = "AP_PIXEL_SIZE\r\nPixel Size = 2.615 µm\r\nAP_X\r\n";
/// let i = fibstack::io::meta::parse_zeiss(t);
/// assert!((i.pixel_nm.unwrap()[0] - 2615.0).abs() < 1e-6);
/// ```
pub fn parse_zeiss(text: &str) -> VendorInfo {
    let mut info = VendorInfo::default();
    info.meta.instrument = Some("Zeiss (CZ_SEM)".into());
    let lines: Vec<&str> = text.lines().map(|l| l.trim()).collect();
    let value_after = |key: &str| -> Option<&str> {
        let i = lines.iter().position(|l| l.eq_ignore_ascii_case(key))?;
        let (_, v) = lines.get(i + 1)?.split_once('=')?;
        Some(v.trim())
    };
    match value_after("AP_PIXEL_SIZE").map(parse_length_nm) {
        Some(Some(nm)) if nm > 0.0 => {
            info.pixel_detail = value_after("AP_PIXEL_SIZE")
                .map(|v| format!("Zeiss CZ_SEM tag 34118 AP_PIXEL_SIZE = {v}"));
            info.pixel_nm = Some([nm, nm]);
            info.meta.pixel_size_nm = Some([nm, nm]);
        }
        Some(_) => info
            .meta
            .warnings
            .push("Zeiss AP_PIXEL_SIZE unreadable: pixel size unknown".into()),
        None => info
            .meta
            .warnings
            .push("no AP_PIXEL_SIZE in the Zeiss metadata: pixel size unknown".into()),
    }
    if let Some(Some(v)) = value_after("AP_MANUALKV").map(parse_with_unit) {
        info.meta.beam_voltage_v = Some(v.0 * unit_factor(&v.1, &[("kV", 1e3), ("V", 1.0)]));
    }
    if let Some(Some((v, _))) = value_after("AP_STAGE_AT_T").map(parse_with_unit) {
        info.meta.stage_tilt_deg = Some(v);
    }
    if let Some(d) = value_after("DP_DETECTOR_CHANNEL").or_else(|| value_after("DP_DETECTOR_TYPE"))
    {
        info.meta.detector = Some(d.to_string());
    }
    info
}

fn parse_with_unit(s: &str) -> Option<(f64, String)> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(s.len());
    let v: f64 = s[..split].trim().parse().ok()?;
    Some((v, s[split..].trim().to_string()))
}

fn unit_factor(unit: &str, table: &[(&str, f64)]) -> f64 {
    table
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| *f)
        .unwrap_or(1.0)
}

/// Parse `"5.825 nm"`, `"2.615 µm"`, `"1 mm"` … into nm.
pub fn parse_length_nm(s: &str) -> Option<f64> {
    let (v, unit) = parse_with_unit(s)?;
    length_unit_nm(&unit).map(|f| v * f)
}

/// Nanometres per unit for the unit names instruments and ImageJ write.
pub fn length_unit_nm(unit: &str) -> Option<f64> {
    match unit.trim() {
        "nm" | "nanometer" | "nanometre" => Some(1.0),
        "µm" | "μm" | "um" | "micron" | "microns" | "micrometer" | "micrometre" | "\\u00B5m" => {
            Some(1e3)
        }
        "mm" | "millimeter" | "millimetre" => Some(1e6),
        "cm" | "centimeter" | "centimetre" => Some(1e7),
        "m" | "meter" | "metre" => Some(1e9),
        "inch" | "in" => Some(2.54e7),
        "pm" => Some(1e-3),
        "Å" | "A" | "angstrom" => Some(0.1),
        _ => None,
    }
}

/// Parse an ImageJ `ImageDescription`: unit and spacing. `x_res` is the TIFF XResolution (pixels
/// per unit) when present.
pub fn parse_imagej(desc: &str, x_res: Option<f64>, y_res: Option<f64>) -> VendorInfo {
    let mut info = VendorInfo::default();
    let get = |k: &str| {
        desc.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(key, _)| key.trim() == k)
            .map(|(_, v)| v.trim().trim_end_matches('\0').to_string())
    };
    info.meta.instrument = get("ImageJ").map(|v| format!("ImageJ {v}"));
    let unit = get("unit").unwrap_or_else(|| "pixel".into());
    let f = match length_unit_nm(&unit) {
        Some(f) => f,
        None => {
            if unit != "pixel" {
                info.meta.warnings.push(format!(
                    "ImageJ unit {unit:?} not a length: voxel size unknown"
                ));
            }
            return info;
        }
    };
    if let Some(sp) = get("spacing").and_then(|s| s.parse::<f64>().ok()) {
        if sp > 0.0 && sp.is_finite() {
            info.spacing_nm = Some(sp * f);
            info.spacing_detail = Some(format!("ImageJ description spacing = {sp} {unit}"));
        }
    }
    let px = |r: Option<f64>| r.filter(|r| *r > 0.0 && r.is_finite()).map(|r| f / r);
    if let Some(dx) = px(x_res) {
        let dy = px(y_res).unwrap_or(dx);
        info.pixel_nm = Some([dy, dx]);
        info.pixel_detail = Some(format!("ImageJ X/YResolution with unit = {unit}"));
        info.meta.pixel_size_nm = Some([dx, dy]);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fei_bad_floats_and_missing_scan_warn() {
        let t = "[Beam]\nHV=notafloat\n[PrivateFei]\nDatabarHeight=39\n";
        let i = parse_fei(t);
        assert!(i.pixel_nm.is_none());
        assert_eq!(i.meta.databar_rows, Some(39));
        assert!(
            i.meta.warnings.iter().any(|w| w.contains("HV")),
            "{:?}",
            i.meta.warnings
        );
        assert!(i.meta.warnings.iter().any(|w| w.contains("[Scan]")));
    }

    #[test]
    fn imagej_units() {
        let i = parse_imagej(
            "ImageJ=1.11a\nunit=micron\nspacing=0.02\n",
            Some(200.0),
            None,
        );
        assert!((i.spacing_nm.unwrap() - 20.0).abs() < 1e-9);
        assert!((i.pixel_nm.unwrap()[1] - 5.0).abs() < 1e-9);
        assert_eq!(parse_length_nm("2.615 µm"), Some(2615.0));
    }
}
