//! Images for reports: a slice as 8-bit grey, label colours, segmentation overlays.

use crate::volume::{GreyData, GreyVolume};
use ndarray::{Array2, ArrayView2, Axis};

/// Slice `z` of a grey volume mapped to 8 bits with a robust (0.5–99.5 %) display range.
pub fn slice_u8(vol: &GreyVolume, z: usize) -> Array2<u8> {
    let s: Array2<f32> = match &vol.data {
        GreyData::U8(a) => a.index_axis(Axis(0), z).mapv(|v| v as f32),
        GreyData::U16(a) => a.index_axis(Axis(0), z).mapv(|v| v as f32),
        GreyData::F32(a) => a.index_axis(Axis(0), z).to_owned(),
    };
    let vals: Vec<f32> = s.iter().copied().collect();
    let (lo, hi) = crate::io::png::display_range(&vals);
    s.mapv(|v| (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// Colour of a label value: 0 (pore) transparent-ish dark blue, then the plot palette.
pub fn label_colour(l: u8, rank: usize) -> [u8; 3] {
    if l == 0 {
        [20, 30, 90]
    } else {
        super::plot::PALETTE[rank % super::plot::PALETTE.len()]
    }
}

fn ranks(labels: ArrayView2<u8>) -> [usize; 256] {
    let mut seen = [false; 256];
    labels.iter().for_each(|&v| seen[v as usize] = true);
    let mut r = [0usize; 256];
    let mut k = 0;
    for (i, s) in seen.iter().enumerate() {
        if *s {
            r[i] = k;
            k += 1;
        }
    }
    r
}

/// Labels as RGB (row-major, 3 bytes per pixel).
pub fn label_colours(labels: ArrayView2<u8>) -> Vec<u8> {
    let r = ranks(labels);
    labels
        .iter()
        .flat_map(|&l| label_colour(l, r[l as usize]))
        .collect()
}

/// Grey slice with labels blended at 40 % (label 0 left grey) and phase boundaries drawn solid.
pub fn overlay(grey: ArrayView2<u8>, labels: ArrayView2<u8>) -> Vec<u8> {
    let r = ranks(labels);
    let (h, w) = grey.dim();
    let mut out = Vec::with_capacity(h * w * 3);
    for y in 0..h {
        for x in 0..w {
            let g = grey[[y, x]] as f32;
            let l = labels[[y, x]];
            let edge =
                (x + 1 < w && labels[[y, x + 1]] != l) || (y + 1 < h && labels[[y + 1, x]] != l);
            let c = label_colour(l, r[l as usize]);
            let px: [u8; 3] = if edge {
                [255, 220, 0]
            } else if l == 0 {
                [g as u8; 3]
            } else {
                let mix = |c: u8| (0.6 * g + 0.4 * c as f32).round() as u8;
                [mix(c[0]), mix(c[1]), mix(c[2])]
            };
            out.extend_from_slice(&px);
        }
    }
    out
}

/// The random-walk convergence plot: apparent tortuosity factor τ(t) = MSD_free(t) / MSD_phase(t)
/// per axis versus walker steps, with labelled axes and a legend. The curves flatten once the walk
/// has converged.
///
/// ```
/// use fibstack::metrics::tortuosity::random_walk::MsdCurve;
/// let m = MsdCurve { steps: vec![10, 20], msd_nm2: [vec![5.0, 10.0], vec![10.0, 20.0], vec![2.0, 4.0]],
///                    free_nm2_per_step: 1.0 };
/// let p = fibstack::report::figures::msd_plot(&m);
/// assert_eq!(p.series.len(), 3);
/// assert_eq!(p.series[0].y, vec![2.0, 2.0]); // z: 10/5, 20/10
/// ```
pub fn msd_plot(m: &crate::metrics::tortuosity::random_walk::MsdCurve) -> super::plot::Plot {
    use super::plot::{Plot, Series};
    let mut plot = Plot::new(
        "Random-walk convergence: apparent τ(t)",
        "walker steps",
        "τ(t) = MSD_free/MSD (1)",
    );
    let steps: Vec<f64> = m.steps.iter().map(|&s| s as f64).collect();
    for (i, ax) in ["z", "y", "x"].iter().enumerate() {
        let y: Vec<f64> = steps
            .iter()
            .zip(&m.msd_nm2[i])
            .map(|(t, msd)| {
                if *msd > 0.0 {
                    t * m.free_nm2_per_step / msd
                } else {
                    f64::NAN
                }
            })
            .collect();
        plot.series
            .push(Series::line(&format!("axis {ax}"), steps.clone(), y));
    }
    plot
}

/// A "nice" scale-bar length (1, 2 or 5 × 10^k) close to `target`.
fn nice_length(target: f64) -> f64 {
    let mag = 10f64.powf(target.log10().floor());
    let m = target / mag;
    let f = if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    f * mag
}

/// Text of a length in nm with a readable unit (nm, µm, mm).
pub fn length_label(nm: f64) -> String {
    let (v, u) = if nm >= 1e6 {
        (nm / 1e6, "mm")
    } else if nm >= 1e3 {
        (nm / 1e3, "µm")
    } else {
        (nm, "nm")
    };
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    format!("{t} {u}")
}

/// An image for a report or paper: RGB (`w`×`h`, row-major) resampled by nearest neighbour so its
/// pixels are square in physical units (`pixel_nm = [dy, dx]`; `None` = uncalibrated, pixels kept
/// square) and its width is at least `min_width` px, with a scale bar in the lower-left corner
/// (labelled in nm/µm, or in pixels when uncalibrated). Returns `(rgb, width, height)`.
///
/// ```
/// let rgb = vec![128u8; 96 * 96 * 3];
/// let (out, w, h) = fibstack::report::figures::with_scale_bar(&rgb, 96, 96, Some([6.3, 5.0]), 400);
/// assert!(w >= 400);
/// assert_eq!(h, (96.0 * 6.3 / 5.0 * w as f64 / 96.0).round() as usize);
/// assert_eq!(out.len(), w * h * 3);
/// ```
pub fn with_scale_bar(
    rgb: &[u8],
    w: usize,
    h: usize,
    pixel_nm: Option<[f64; 2]>,
    min_width: usize,
) -> (Vec<u8>, usize, usize) {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    if w == 0 || h == 0 || rgb.len() < w * h * 3 {
        return (rgb.to_vec(), w, h);
    }
    let k = min_width.div_ceil(w).max(1) as f64;
    let aspect = pixel_nm
        .filter(|[dy, dx]| dy.is_finite() && dx.is_finite() && *dy > 0.0 && *dx > 0.0)
        .map(|[dy, dx]| dy / dx)
        .unwrap_or(1.0);
    let ow = (w as f64 * k) as usize;
    let oh = ((h as f64 * k * aspect).round() as usize).max(1);
    let mut out = vec![0u8; ow * oh * 3];
    for y in 0..oh {
        let sy = ((y as f64 + 0.5) / (k * aspect))
            .floor()
            .min(h as f64 - 1.0) as usize;
        for x in 0..ow {
            let sx = ((x as f64 + 0.5) / k).floor().min(w as f64 - 1.0) as usize;
            let i = (sy * w + sx) * 3;
            out[(y * ow + x) * 3..(y * ow + x) * 3 + 3].copy_from_slice(&rgb[i..i + 3]);
        }
    }
    // the bar: about a fifth of the width, a nice length
    let (bar_px, label) = match pixel_nm {
        Some([_, dx]) if dx.is_finite() && dx > 0.0 => {
            let len = nice_length(w as f64 * dx / 5.0);
            (len / dx * k, length_label(len))
        }
        _ => {
            let len = nice_length(w as f64 / 5.0);
            (len * k, format!("{len} px (uncalibrated)"))
        }
    };
    super::plot::register_font_once();
    {
        let area = BitMapBackend::with_buffer(&mut out, (ow as u32, oh as u32)).into_drawing_area();
        let s = (ow as f64 / 500.0).max(1.0);
        let x0 = 12.0 * s;
        let y1 = oh as f64 - 12.0 * s;
        let th = 6.0 * s;
        let font = (super::plot::FONT, 15.0 * s).into_font();
        let (tw, tht) = area
            .estimate_text_size(&label, &TextStyle::from(font.clone()))
            .unwrap_or((100, 15));
        // a dark box behind bar and label so it reads on any image
        let bw = bar_px.max(tw as f64) + 12.0 * s;
        let _ = area.draw(&Rectangle::new(
            [
                (
                    (x0 - 6.0 * s) as i32,
                    (y1 - th - tht as f64 - 14.0 * s) as i32,
                ),
                ((x0 - 6.0 * s + bw) as i32, (y1 + 6.0 * s) as i32),
            ],
            BLACK.mix(0.55).filled(),
        ));
        let _ = area.draw(&Rectangle::new(
            [
                (x0 as i32, (y1 - th) as i32),
                ((x0 + bar_px) as i32, y1 as i32),
            ],
            WHITE.filled(),
        ));
        let _ = area.draw(&Text::new(
            label,
            (x0 as i32, (y1 - th - 4.0 * s) as i32),
            font.color(&WHITE).pos(Pos::new(HPos::Left, VPos::Bottom)),
        ));
        let _ = area.present();
    }
    (out, ow, oh)
}

/// Grey (one byte per pixel) to RGB.
pub fn grey_to_rgb(img: ArrayView2<u8>) -> Vec<u8> {
    img.iter().flat_map(|&g| [g, g, g]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_bar_length_matches_the_pixel_size() {
        // 100 px at 10 nm: a fifth is 200 nm -> a 200 nm bar = 20 source px = 80 output px
        let rgb = vec![0u8; 100 * 50 * 3];
        let (out, w, h) = with_scale_bar(&rgb, 100, 50, Some([10.0, 10.0]), 400);
        assert_eq!((w, h), (400, 200));
        // count white pixels along the bar's middle row
        let s = (w as f64 / 500.0).max(1.0);
        let y = (h as f64 - 12.0 * s - 3.0 * s) as usize;
        let white = (0..w)
            .filter(|&x| out[(y * w + x) * 3..(y * w + x) * 3 + 3] == [255, 255, 255])
            .count();
        assert!((78..=82).contains(&white), "{white} px");
        assert_eq!(length_label(200.0), "200 nm");
        assert_eq!(length_label(2000.0), "2 µm");
        assert_eq!(length_label(2500.0), "2.5 µm");
    }

    #[test]
    fn anisotropic_pixels_become_square() {
        let rgb = vec![0u8; 10 * 10 * 3];
        let (_, w, h) = with_scale_bar(&rgb, 10, 10, Some([20.0, 10.0]), 100);
        assert_eq!((w, h), (100, 200));
    }
}
