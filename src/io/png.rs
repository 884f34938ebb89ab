//! PNG: quick-look orthogonal views of a volume, plain grey/RGB images, and reading a PNG as a
//! one-slice volume.

use super::{check_budget, IoError};
use crate::volume::{GreyData, GreyVolume, Metadata, VoxelSize};
use ndarray::{Array2, Array3, ArrayView2, Axis};
use std::path::Path;

/// Write an 8-bit grey PNG.
pub fn write_gray(path: &Path, img: ArrayView2<u8>) -> Result<(), IoError> {
    let (h, w) = img.dim();
    let data: Vec<u8> = img.iter().copied().collect();
    write_png(path, w as u32, h as u32, png::ColorType::Grayscale, &data)
}

/// Write an 8-bit RGB PNG from interleaved `rgb` (len = 3·w·h).
pub fn write_rgb(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<(), IoError> {
    write_png(path, w, h, png::ColorType::Rgb, rgb)
}

fn write_png(path: &Path, w: u32, h: u32, ct: png::ColorType, data: &[u8]) -> Result<(), IoError> {
    super::atomic::write_atomic(path, |wr| {
        let mut enc = png::Encoder::new(wr, w, h);
        enc.set_color(ct);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| IoError::invalid(path, format!("PNG: {e}")))?;
        writer
            .write_image_data(data)
            .map_err(|e| IoError::invalid(path, format!("PNG: {e}")))?;
        writer
            .finish()
            .map_err(|e| IoError::invalid(path, format!("PNG: {e}")))
    })
}

/// Read a PNG (8/16-bit grey; RGB is converted to grey by luminance with a warning), with the
/// default memory limit of [`super::ReadOptions`].
pub fn read_png(path: &Path) -> Result<GreyVolume, IoError> {
    read_png_limited(path, super::ReadOptions::default().max_bytes)
}

/// Deflate cannot expand data by more than about 1032:1; a PNG whose header declares more
/// pixel bytes than that (plus this slack) of its file size is corrupt.
const DEFLATE_MAX_RATIO: u64 = 1032;

/// [`read_png`] refusing, before any allocation, an image whose header declares more than
/// `max_bytes` of pixels (decoded plus the grey volume) or more than its file can hold.
pub fn read_png_limited(path: &Path, max_bytes: u64) -> Result<GreyVolume, IoError> {
    let f = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
    let file_len = f.metadata().map_err(|e| IoError::os(path, e))?.len();
    let mut dec = png::Decoder::new_with_limits(
        std::io::BufReader::new(f),
        png::Limits {
            bytes: usize::try_from(max_bytes.min(1 << 30)).unwrap_or(usize::MAX),
        },
    );
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec
        .read_info()
        .map_err(|e| IoError::invalid(path, format!("PNG: {e}")))?;
    let (w, h) = {
        let i = reader.info();
        (i.width as u64, i.height as u64)
    };
    let (ct, depth) = reader.output_color_type();
    let per_pixel = ct.samples() as u64
        * if depth == png::BitDepth::Sixteen {
            2
        } else {
            1
        };
    let decoded = w.saturating_mul(h).saturating_mul(per_pixel);
    // the grey volume is allocated beside the decoded buffer
    let grey = w
        .saturating_mul(h)
        .saturating_mul(if depth == png::BitDepth::Sixteen {
            2
        } else {
            1
        });
    let need = decoded.saturating_add(grey);
    // each row also carries a filter byte; the compressed stream holds at least 1/1032 of it
    let plausible = file_len
        .saturating_mul(DEFLATE_MAX_RATIO)
        .saturating_add(1 << 16);
    if decoded > plausible {
        return Err(IoError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "PNG header declares {w}x{h} pixels ({decoded} bytes), more than a {file_len}-byte file can hold"
            ),
        });
    }
    check_budget(path, format!("{w}x{h} PNG"), need, max_bytes)?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| IoError::invalid(path, format!("PNG: {e}")))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let ch = info.color_type.samples();
    let sixteen = info.bit_depth == png::BitDepth::Sixteen;
    let mut meta = Metadata::default();
    meta.source_files.push(path.to_path_buf());
    if ch > 2 {
        meta.warnings
            .push("colour PNG converted to grey (luminance)".into());
    }
    let sample = |i: usize| -> f32 {
        if sixteen {
            u16::from_be_bytes([buf[2 * i], buf[2 * i + 1]]) as f32
        } else {
            buf[i] as f32
        }
    };
    let grey = |p: usize| -> f32 {
        let b = p * ch;
        if ch >= 3 {
            0.2126 * sample(b) + 0.7152 * sample(b + 1) + 0.0722 * sample(b + 2)
        } else {
            sample(b)
        }
    };
    let data = if sixteen {
        GreyData::U16(Array3::from_shape_fn((1, h, w), |(_, y, x)| {
            grey(y * w + x).round() as u16
        }))
    } else {
        GreyData::U8(Array3::from_shape_fn((1, h, w), |(_, y, x)| {
            grey(y * w + x).round() as u8
        }))
    };
    Ok(GreyVolume {
        data,
        voxel: VoxelSize::default(),
        meta,
    })
}

/// Robust display range: the 0.5 and 99.5 percentiles of a sample of the values.
pub fn display_range(vals: &[f32]) -> (f32, f32) {
    let mut s: Vec<f32> = vals.iter().copied().filter(|v| v.is_finite()).collect();
    if s.is_empty() {
        return (0.0, 1.0);
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let lo = s[(s.len() as f64 * 0.005) as usize];
    let hi = s[((s.len() as f64 * 0.995) as usize).min(s.len() - 1)];
    if hi > lo {
        (lo, hi)
    } else {
        (s[0], s[s.len() - 1].max(s[0] + 1.0))
    }
}

/// Resample a 2-D section (rows spaced `drow` nm, columns `dcol` nm) to square pixels of `px` nm
/// (nearest neighbour) and map to 8 bits.
fn section_to_u8(
    sec: ArrayView2<f32>,
    drow: f64,
    dcol: f64,
    px: f64,
    range: (f32, f32),
) -> Array2<u8> {
    let (r, c) = sec.dim();
    let oh = ((r as f64 * drow / px).round() as usize).max(1);
    let ow = ((c as f64 * dcol / px).round() as usize).max(1);
    let (lo, hi) = range;
    Array2::from_shape_fn((oh, ow), |(y, x)| {
        let sy = (((y as f64 + 0.5) * px / drow) as usize).min(r - 1);
        let sx = (((x as f64 + 0.5) * px / dcol) as usize).min(c - 1);
        let v = (sec[[sy, sx]] - lo) / (hi - lo);
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    })
}

/// Orthogonal views through the centre as one image: xy top-left, xz below it, yz to its right,
/// each resampled so one output pixel is the same physical length (aspect ratio respected). Returns
/// the composed image; `max_side` bounds the output size.
pub fn ortho_views(vol: &GreyVolume, max_side: usize) -> Array2<u8> {
    let f = vol.to_f32();
    let [nz, ny, nx] = vol.shape();
    let [dz, dy, dx] = vol.voxel.nm;
    let xy = f.index_axis(Axis(0), nz / 2); // rows y, cols x
    let xz = f.index_axis(Axis(1), ny / 2); // rows z, cols x
    let yz = f.index_axis(Axis(2), nx / 2).reversed_axes(); // rows y, cols z
    let mut sample: Vec<f32> = Vec::new();
    for s in [xy.iter(), xz.iter(), yz.iter()] {
        sample.extend(s.step_by(1));
    }
    let range = display_range(&sample);
    let ext_w = nx as f64 * dx + nz as f64 * dz;
    let ext_h = ny as f64 * dy + nz as f64 * dz;
    let mut px = dx.min(dy).min(dz);
    let longest = ext_w.max(ext_h) / px;
    if longest > max_side as f64 {
        px *= longest / max_side as f64;
    }
    let a = section_to_u8(xy, dy, dx, px, range);
    let b = section_to_u8(xz, dz, dx, px, range);
    let c = section_to_u8(yz, dy, dz, px, range);
    let gap = 4;
    let w = a.ncols().max(b.ncols()) + gap + c.ncols();
    let h = (a.nrows() + gap + b.nrows()).max(c.nrows());
    let mut out = Array2::from_elem((h, w), 40u8);
    out.slice_mut(ndarray::s![..a.nrows(), ..a.ncols()])
        .assign(&a);
    out.slice_mut(ndarray::s![
        a.nrows() + gap..a.nrows() + gap + b.nrows(),
        ..b.ncols()
    ])
    .assign(&b);
    let x0 = a.ncols().max(b.ncols()) + gap;
    out.slice_mut(ndarray::s![..c.nrows(), x0..x0 + c.ncols()])
        .assign(&c);
    out
}

/// Write [`ortho_views`] as a PNG.
pub fn write_ortho(path: &Path, vol: &GreyVolume) -> Result<(), IoError> {
    write_gray(path, ortho_views(vol, 1600).view())
}
