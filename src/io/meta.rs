//! Vendor metadata: Thermo/FEI (tag 34682), Zeiss (tag 34118), ImageJ descriptions.

use crate::volume::Metadata;

/// Thermo/FEI private tag.
pub const TAG_FEI: u16 = 34682;
/// Zeiss `CZ_SEM` private tag.
pub const TAG_ZEISS: u16 = 34118;

/// What a vendor block tells about the image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VendorInfo {
    pub meta: Metadata,
    /// Pixel size `[dy, dx]` in nm, when known.
    pub pixel_nm: Option<[f64; 2]>,
    /// Slice spacing (nm), when known (ImageJ `spacing`).
    pub spacing_nm: Option<f64>,
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
        }
    }
    let px = |r: Option<f64>| r.filter(|r| *r > 0.0 && r.is_finite()).map(|r| f / r);
    if let Some(dx) = px(x_res) {
        let dy = px(y_res).unwrap_or(dx);
        info.pixel_nm = Some([dy, dx]);
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
