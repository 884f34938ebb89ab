//! Decoding of 8-bit strips the `tiff` crate will not decode for us (palette images):
//! uncompressed, LZW, Deflate (Adobe and old-style) and PackBits, with horizontal differencing
//! (predictor 2). Every buffer is bounded by the expected image size and the file length.

use super::IoError;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

fn corrupt(path: &Path, detail: impl Into<String>) -> IoError {
    IoError::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// TIFF compression codes we decode here.
pub(crate) fn compression_name(code: u16) -> Option<&'static str> {
    Some(match code {
        1 => "uncompressed",
        5 => "LZW",
        8 | 32946 => "Deflate",
        32773 => "PackBits",
        _ => return None,
    })
}

/// Layout of one 8-bit, one-sample image stored in strips.
pub(crate) struct StripLayout {
    pub width: usize,
    pub height: usize,
    pub rows_per_strip: usize,
    pub offsets: Vec<u64>,
    pub counts: Vec<u64>,
    pub compression: u16,
    pub predictor: u16,
}

/// Decode all strips into `width × height` bytes.
pub(crate) fn decode_strips(path: &Path, l: &StripLayout) -> Result<Vec<u8>, IoError> {
    let name = compression_name(l.compression).ok_or_else(|| IoError::Unsupported {
        path: path.to_path_buf(),
        format: format!(
            "palette image with compression {} (use uncompressed, LZW, Deflate or PackBits)",
            l.compression
        ),
    })?;
    if !matches!(l.predictor, 1 | 2) {
        return Err(IoError::Unsupported {
            path: path.to_path_buf(),
            format: format!("palette image with predictor {}", l.predictor),
        });
    }
    let total = l.width * l.height;
    let rps = l.rows_per_strip.clamp(1, l.height.max(1));
    let n_strips = l.height.div_ceil(rps);
    if l.offsets.len() < n_strips || l.counts.len() < n_strips {
        return Err(corrupt(
            path,
            format!(
                "palette image of {} rows in strips of {rps} needs {n_strips} strips, the file lists {}",
                l.height,
                l.offsets.len().min(l.counts.len())
            ),
        ));
    }
    let mut file = File::open(path).map_err(|e| IoError::os(path, e))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut out = vec![0u8; total];
    for s in 0..n_strips {
        let (off, cnt) = (l.offsets[s], l.counts[s]);
        if off.checked_add(cnt).is_none_or(|end| end > file_len) {
            return Err(corrupt(
                path,
                format!(
                    "strip {s} at byte {off} of {cnt} bytes runs past the end of the {file_len}-byte file (truncated)"
                ),
            ));
        }
        let mut buf = vec![0u8; cnt as usize];
        file.seek(SeekFrom::Start(off))
            .map_err(|e| IoError::os(path, e))?;
        file.read_exact(&mut buf)
            .map_err(|_| corrupt(path, "file ends early (truncated)"))?;
        let y0 = s * rps;
        let rows = rps.min(l.height - y0);
        let dst = &mut out[y0 * l.width..(y0 + rows) * l.width];
        let got = match l.compression {
            1 => {
                let n = buf.len().min(dst.len());
                dst[..n].copy_from_slice(&buf[..n]);
                Ok(n)
            }
            5 => lzw(&buf, dst),
            8 | 32946 => inflate(&buf, dst),
            _ => packbits(&buf, dst),
        }
        .map_err(|e| corrupt(path, format!("{name} strip {s}: {e}")))?;
        if got < dst.len() {
            return Err(corrupt(
                path,
                format!(
                    "{name} strip {s} holds {got} of its {} pixels (truncated or corrupt)",
                    dst.len()
                ),
            ));
        }
        if l.predictor == 2 {
            for row in dst.chunks_exact_mut(l.width) {
                for x in 1..row.len() {
                    row[x] = row[x].wrapping_add(row[x - 1]);
                }
            }
        }
    }
    Ok(out)
}

fn lzw(src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
    let mut dec = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let mut filled = 0;
    let mut inp = src;
    loop {
        let r = dec.decode_bytes(inp, &mut dst[filled..]);
        filled += r.consumed_out;
        inp = &inp[r.consumed_in..];
        match r.status {
            Ok(weezl::LzwStatus::Done) => return Ok(filled),
            Ok(weezl::LzwStatus::NoProgress) => return Ok(filled),
            Ok(weezl::LzwStatus::Ok) => {
                if filled == dst.len() || inp.is_empty() {
                    return Ok(filled);
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn inflate(src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
    let mut z = flate2::read::ZlibDecoder::new(src);
    let mut filled = 0;
    while filled < dst.len() {
        match z.read(&mut dst[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(filled)
}

fn packbits(src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
    let (mut i, mut o) = (0usize, 0usize);
    while i < src.len() && o < dst.len() {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let len = n as usize + 1;
            if i + len > src.len() {
                return Err("literal run past the end of the strip".into());
            }
            let len = len.min(dst.len() - o);
            dst[o..o + len].copy_from_slice(&src[i..i + len]);
            i += n as usize + 1;
            o += len;
        } else if n != -128 {
            let len = ((1 - n as isize) as usize).min(dst.len() - o);
            let Some(&b) = src.get(i) else {
                return Err("repeat run past the end of the strip".into());
            };
            i += 1;
            dst[o..o + len].fill(b);
            o += len;
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_spec_example() {
        // TIFF 6.0 spec, section 9
        let packed = [
            0xFEu8, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7,
            0xAA,
        ];
        let expect = [
            0xAAu8, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0xAA, 0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0x22,
            0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
        ];
        let mut out = vec![0u8; expect.len()];
        assert_eq!(packbits(&packed, &mut out).unwrap(), expect.len());
        assert_eq!(out, expect);
    }

    #[test]
    fn truncated_streams_never_overrun() {
        let mut out = vec![0u8; 64];
        assert!(packbits(&[0x7F, 1, 2], &mut out).is_err());
        let _ = lzw(&[0x80, 0x00, 0xff], &mut out);
        let _ = inflate(&[0x78, 0x9c, 0x01], &mut out);
    }
}
