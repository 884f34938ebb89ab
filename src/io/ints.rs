//! Integer samples (numpy `int8`…`uint64`, signed / 32-bit TIFF) into the sample types fibstack
//! computes with: the narrowest of `u8`, `u16` and `f32` that holds every value exactly.
//!
//! Label volumes saved by numpy or PoreSpy are often `int32`/`int64` with values 0, 1, 2 …: they
//! become `u8` and load as labels. Signed grey data (e.g. `int16` CT numbers) becomes `f32`,
//! which is exact for |v| ≤ 2²⁴. Larger values are refused rather than rounded.

use super::IoError;
use crate::volume::GreyData;
use ndarray::Array3;
use std::path::Path;

/// Largest magnitude an `f32` holds exactly for every integer up to it.
pub const F32_EXACT: i64 = 1 << 24;

/// What the narrowing did, for the reader's notes.
pub(crate) fn note(what: &str, lo: i64, hi: i64, data: &GreyData) -> Option<String> {
    match data {
        GreyData::F32(_) => Some(format!(
            "{what} samples (values {lo}..={hi}) held as 32-bit float (exact); label metrics need values 0..=255"
        )),
        _ => None,
    }
}

/// Build the narrowest exact [`GreyData`] of `shape` from `n` integers given by `get`.
/// `what` names the source type in messages (e.g. `numpy int32`).
pub(crate) fn narrow<F>(
    path: &Path,
    what: &str,
    shape: [usize; 3],
    n: usize,
    get: F,
) -> Result<(GreyData, i64, i64), IoError>
where
    F: Fn(usize) -> i64,
{
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for i in 0..n {
        let v = get(i);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if n == 0 {
        (lo, hi) = (0, 0);
    }
    let sh = (shape[0], shape[1], shape[2]);
    let err = |e: ndarray::ShapeError| IoError::invalid(path, e.to_string());
    let data = if lo >= 0 && hi <= 255 {
        GreyData::U8(
            Array3::from_shape_vec(sh, (0..n).map(|i| get(i) as u8).collect()).map_err(err)?,
        )
    } else if lo >= 0 && hi <= 65535 {
        GreyData::U16(
            Array3::from_shape_vec(sh, (0..n).map(|i| get(i) as u16).collect()).map_err(err)?,
        )
    } else if lo >= -F32_EXACT && hi <= F32_EXACT {
        GreyData::F32(
            Array3::from_shape_vec(sh, (0..n).map(|i| get(i) as f32).collect()).map_err(err)?,
        )
    } else {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            format: format!(
                "{what} with values {lo}..={hi}, beyond what 32-bit float holds exactly (±{F32_EXACT}); rescale or convert it to 16-bit or float first"
            ),
        });
    };
    Ok((data, lo, hi))
}

/// Numpy integer dtype from its `descr` (`<i4`, `|i1`, `>u8` …): (bytes, signed, little-endian).
pub(crate) fn numpy_int(descr: &str) -> Option<(usize, bool, bool)> {
    let b = descr.as_bytes();
    if b.len() != 3 {
        return None;
    }
    let little = match b[0] {
        b'<' | b'|' | b'=' => true,
        b'>' => false,
        _ => return None,
    };
    let signed = match b[1] {
        b'i' => true,
        b'u' => false,
        _ => return None,
    };
    let size = (b[2] as char).to_digit(10)? as usize;
    matches!(size, 1 | 2 | 4 | 8).then_some((size, signed, little))
}

/// Sample `i` of integer bytes.
#[inline]
pub(crate) fn int_at(raw: &[u8], i: usize, size: usize, signed: bool, little: bool) -> i64 {
    let c = &raw[i * size..(i + 1) * size];
    let mut b = [0u8; 8];
    if little {
        b[..size].copy_from_slice(c);
    } else {
        for (k, v) in c.iter().rev().enumerate() {
            b[k] = *v;
        }
    }
    let u = u64::from_le_bytes(b);
    if signed {
        let shift = 64 - 8 * size as u32;
        ((u << shift) as i64) >> shift
    } else {
        // values above i64::MAX are far beyond what `narrow` accepts
        u.min(i64::MAX as u64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_ints_all_widths() {
        let raw = (-2i16).to_le_bytes();
        assert_eq!(int_at(&raw, 0, 2, true, true), -2);
        assert_eq!(int_at(&raw, 0, 2, false, true), 65534);
        let raw = 300i32.to_be_bytes();
        assert_eq!(int_at(&raw, 0, 4, true, false), 300);
        let raw = u64::MAX.to_le_bytes();
        assert_eq!(int_at(&raw, 0, 8, false, true), i64::MAX);
        assert_eq!(int_at(&raw, 0, 8, true, true), -1);
        assert_eq!(numpy_int("<i8"), Some((8, true, true)));
        assert_eq!(numpy_int("|u1"), Some((1, false, true)));
        assert_eq!(numpy_int("<f4"), None);
    }

    #[test]
    fn narrows_to_the_smallest_exact_type() {
        let p = Path::new("x");
        let (d, _, _) = narrow(p, "t", [1, 1, 3], 3, |i| [0, 2, 255][i]).unwrap();
        assert!(matches!(d, GreyData::U8(_)));
        let (d, _, _) = narrow(p, "t", [1, 1, 2], 2, |i| [0, 256][i]).unwrap();
        assert!(matches!(d, GreyData::U16(_)));
        let (d, lo, _) = narrow(p, "t", [1, 1, 2], 2, |i| [-1000, 3000][i]).unwrap();
        assert_eq!(lo, -1000);
        match d {
            GreyData::F32(a) => assert_eq!(a.as_slice().unwrap(), &[-1000.0, 3000.0]),
            _ => panic!("f32 expected"),
        }
        let e = narrow(p, "numpy int64", [1, 1, 1], 1, |_| 1 << 40).unwrap_err();
        assert!(e.to_string().contains("int64"), "{e}");
    }
}
