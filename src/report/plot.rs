//! Line/point plots with labelled axes, legends and error bars, as SVG (vector) and PNG
//! (rasterised here with a built-in 8×8 bitmap font, drawn at 2× so text stays readable).
//!
//! ```
//! use fibstack::report::plot::{Plot, Series};
//! let mut p = Plot::new("Porosity vs pressure", "stack pressure (kPa)", "porosity (1)");
//! p.series.push(Series::points("measured", vec![0.0, 70.0], vec![0.6, 0.4]).with_err(vec![0.01, 0.02]));
//! let svg = p.to_svg(640, 420);
//! assert!(svg.contains("stack pressure (kPa)"));
//! let rgb = p.to_rgb(640, 420);
//! assert_eq!(rgb.len(), 640 * 420 * 3);
//! ```

use crate::io::IoError;
use std::fmt::Write as _;
use std::path::Path;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Line,
    Points,
    LinePoints,
    /// Step line (histograms): y\[i\] holds over \[x\[i\], x\[i+1\]).
    Steps,
}

/// One data series.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Symmetric error bars (same length as y).
    pub yerr: Option<Vec<f64>>,
    pub style: Style,
}

impl Series {
    pub fn line(name: &str, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            name: name.into(),
            x,
            y,
            yerr: None,
            style: Style::Line,
        }
    }
    pub fn points(name: &str, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            style: Style::Points,
            ..Self::line(name, x, y)
        }
    }
    pub fn steps(name: &str, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            style: Style::Steps,
            ..Self::line(name, x, y)
        }
    }
    pub fn with_style(mut self, s: Style) -> Self {
        self.style = s;
        self
    }
    pub fn with_err(mut self, e: Vec<f64>) -> Self {
        self.yerr = Some(e);
        self
    }
}

/// A 2-D plot.
#[derive(Debug, Clone)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
}

/// Tableau-10 colours.
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// "Nice" tick positions (1-2-5 steps) covering `[lo, hi]`.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).ceil() * step;
    let mut t = Vec::new();
    let mut v = start;
    while v <= hi + step * 1e-9 {
        t.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    t
}

fn fmt_tick(v: f64, _span: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    // the fewest decimals that show the tick value exactly (ticks are 1-2-2.5-5 multiples)
    let decimals = (0..6)
        .find(|d| {
            let f = 10f64.powi(*d);
            ((v * f).round() / f - v).abs() < 1e-9 * a.max(1e-9)
        })
        .unwrap_or(6) as usize;
    format!("{v:.decimals$}")
}

struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    // plot area in pixels
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)
    }
    fn py(&self, y: f64) -> f64 {
        self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)
    }
}

impl Plot {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Plot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            x_range: None,
            y_range: None,
        }
    }

    fn data_range(&self) -> ((f64, f64), (f64, f64)) {
        let mut xr = (f64::INFINITY, f64::NEG_INFINITY);
        let mut yr = (f64::INFINITY, f64::NEG_INFINITY);
        for s in &self.series {
            for (i, (&x, &y)) in s.x.iter().zip(&s.y).enumerate() {
                if !(x.is_finite() && y.is_finite()) {
                    continue;
                }
                let e = s
                    .yerr
                    .as_ref()
                    .and_then(|e| e.get(i))
                    .copied()
                    .unwrap_or(0.0);
                let e = if e.is_finite() { e } else { 0.0 };
                xr = (xr.0.min(x), xr.1.max(x));
                yr = (yr.0.min(y - e), yr.1.max(y + e));
            }
        }
        let fix = |r: (f64, f64)| {
            if !r.0.is_finite() {
                (0.0, 1.0)
            } else if r.1 - r.0 < 1e-12 {
                (
                    r.0 - 0.5 * r.0.abs().max(1.0),
                    r.1 + 0.5 * r.1.abs().max(1.0),
                )
            } else {
                r
            }
        };
        let xr = self.x_range.unwrap_or_else(|| fix(xr));
        let yr = self.y_range.unwrap_or_else(|| {
            let (a, b) = fix(yr);
            let pad = 0.05 * (b - a);
            (a - pad, b + pad)
        });
        (xr, yr)
    }

    /// Legend entry positions below the plot: `(x, row)` per series, and the number of rows.
    fn legend(&self, w: u32) -> (Vec<(f64, usize)>, usize) {
        if self.series.len() < 2 {
            return (vec![(100.0, 0); self.series.len()], 0);
        }
        let (mut x, mut row) = (100.0, 0usize);
        let mut out = Vec::new();
        for s in &self.series {
            let width = 26.0 + 16.0 * s.name.chars().count() as f64 + 24.0;
            if x + width > w as f64 - 10.0 && x > 100.0 {
                x = 100.0;
                row += 1;
            }
            out.push((x, row));
            x += width;
        }
        (out, row + 1)
    }

    fn legend_y(&self, f: &Frame, row: usize) -> f64 {
        f.bottom + 72.0 + 22.0 * row as f64
    }

    fn frame(&self, w: u32, h: u32) -> Frame {
        let ((x0, x1), (y0, y1)) = self.data_range();
        Frame {
            x0,
            x1,
            y0,
            y1,
            left: 100.0,
            right: w as f64 - 24.0,
            top: 48.0,
            bottom: h as f64 - 64.0 - 22.0 * self.legend(w).1 as f64,
        }
    }

    /// SVG text.
    pub fn to_svg(&self, w: u32, h: u32) -> String {
        let f = self.frame(w, h);
        let mut s = String::new();
        let esc = |t: &str| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Arial, sans-serif">"#
        );
        let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="28" font-size="18" text-anchor="middle">{}</text>"#,
            w / 2,
            esc(&self.title)
        );
        for t in ticks(f.x0, f.x1, 6) {
            let x = f.px(t);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#e0e0e0"/><text x="{x:.1}" y="{:.1}" font-size="13" text-anchor="middle">{}</text>"##,
                f.top,
                f.bottom,
                f.bottom + 18.0,
                fmt_tick(t, f.x1 - f.x0)
            );
        }
        for t in ticks(f.y0, f.y1, 5) {
            let y = f.py(t);
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" font-size="13" text-anchor="end">{}</text>"##,
                f.left,
                f.right,
                f.left - 6.0,
                y + 4.0,
                fmt_tick(t, f.y1 - f.y0)
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
            f.left,
            f.top,
            f.right - f.left,
            f.bottom - f.top
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" font-size="15" text-anchor="middle">{}</text>"#,
            (f.left + f.right) / 2.0,
            f.bottom + 46.0,
            esc(&self.x_label)
        );
        let cy = (f.top + f.bottom) / 2.0;
        let _ = writeln!(
            s,
            r#"<text x="22" y="{cy:.1}" font-size="15" text-anchor="middle" transform="rotate(-90 22 {cy:.1})">{}</text>"#,
            esc(&self.y_label)
        );
        for (k, ser) in self.series.iter().enumerate() {
            let c = PALETTE[k % PALETTE.len()];
            let col = format!("rgb({},{},{})", c[0], c[1], c[2]);
            let pts = self.polyline(ser, &f);
            if matches!(ser.style, Style::Line | Style::LinePoints | Style::Steps) && pts.len() > 1
            {
                let p: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{col}" stroke-width="2"/>"#,
                    p.join(" ")
                );
            }
            for (i, (&x, &y)) in ser.x.iter().zip(&ser.y).enumerate() {
                if !(x.is_finite() && y.is_finite()) {
                    continue;
                }
                let (px, py) = (f.px(x), f.py(y));
                if let Some(e) = ser
                    .yerr
                    .as_ref()
                    .and_then(|e| e.get(i))
                    .filter(|e| e.is_finite())
                {
                    let _ = writeln!(
                        s,
                        r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="{col}" stroke-width="1.5"/>"#,
                        f.py(y - e),
                        f.py(y + e)
                    );
                }
                if matches!(ser.style, Style::Points | Style::LinePoints) {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{col}"/>"#
                    );
                }
            }
            if self.series.len() > 1 {
                let (lx, row) = self.legend(w).0[k];
                let ly = self.legend_y(&f, row);
                let _ = writeln!(
                    s,
                    r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{col}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="14">{}</text>"#,
                    lx + 20.0,
                    lx + 26.0,
                    ly + 5.0,
                    esc(&ser.name)
                );
            }
        }
        s.push_str("</svg>\n");
        s
    }

    fn polyline(&self, ser: &Series, f: &Frame) -> Vec<(f64, f64)> {
        let mut pts = Vec::new();
        let n = ser.x.len().min(ser.y.len());
        for i in 0..n {
            let (x, y) = (ser.x[i], ser.y[i]);
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            pts.push((f.px(x), f.py(y)));
            if ser.style == Style::Steps {
                let xn = if i + 1 < n { ser.x[i + 1] } else { x };
                pts.push((f.px(xn), f.py(y)));
            }
        }
        pts
    }

    /// RGB pixels (row-major, 3 bytes per pixel).
    pub fn to_rgb(&self, w: u32, h: u32) -> Vec<u8> {
        let f = self.frame(w, h);
        let mut c = Canvas::new(w as usize, h as usize);
        let grid = [224, 224, 224];
        let black = [0, 0, 0];
        c.text_centered(w as f64 / 2.0, 14.0, &self.title, 2, black);
        for t in ticks(f.x0, f.x1, 6) {
            let x = f.px(t);
            c.line(x, f.top, x, f.bottom, grid, 1.0);
            c.text_centered(x, f.bottom + 8.0, &fmt_tick(t, f.x1 - f.x0), 2, black);
        }
        for t in ticks(f.y0, f.y1, 5) {
            let y = f.py(t);
            c.line(f.left, y, f.right, y, grid, 1.0);
            let label = fmt_tick(t, f.y1 - f.y0);
            let tw = 16.0 * label.chars().count() as f64;
            c.text(f.left - 6.0 - tw, y - 8.0, &label, 2, black);
        }
        c.rect(f.left, f.top, f.right, f.bottom, black);
        c.text_centered(
            (f.left + f.right) / 2.0,
            f.bottom + 36.0,
            &self.x_label,
            2,
            black,
        );
        c.text_vertical(8.0, (f.top + f.bottom) / 2.0, &self.y_label, 2, black);
        for (k, ser) in self.series.iter().enumerate() {
            let col = PALETTE[k % PALETTE.len()];
            let pts = self.polyline(ser, &f);
            if matches!(ser.style, Style::Line | Style::LinePoints | Style::Steps) {
                for p in pts.windows(2) {
                    c.line(p[0].0, p[0].1, p[1].0, p[1].1, col, 2.0);
                }
            }
            for (i, (&x, &y)) in ser.x.iter().zip(&ser.y).enumerate() {
                if !(x.is_finite() && y.is_finite()) {
                    continue;
                }
                let (px, py) = (f.px(x), f.py(y));
                if let Some(e) = ser
                    .yerr
                    .as_ref()
                    .and_then(|e| e.get(i))
                    .filter(|e| e.is_finite())
                {
                    c.line(px, f.py(y - e), px, f.py(y + e), col, 1.5);
                    c.line(px - 4.0, f.py(y - e), px + 4.0, f.py(y - e), col, 1.5);
                    c.line(px - 4.0, f.py(y + e), px + 4.0, f.py(y + e), col, 1.5);
                }
                if matches!(ser.style, Style::Points | Style::LinePoints) {
                    c.disc(px, py, 4.0, col);
                }
            }
            if self.series.len() > 1 {
                let (lx, row) = self.legend(w).0[k];
                let ly = self.legend_y(&f, row);
                c.line(lx, ly, lx + 20.0, ly, col, 3.0);
                c.text(lx + 26.0, ly - 8.0, &ser.name, 2, black);
            }
        }
        c.rgb
    }

    /// Write the plot as PNG.
    pub fn write_png(&self, path: &Path, w: u32, h: u32) -> Result<(), IoError> {
        crate::io::png::write_rgb(path, w, h, &self.to_rgb(w, h))
    }

    /// Write the plot as SVG.
    pub fn write_svg(&self, path: &Path, w: u32, h: u32) -> Result<(), IoError> {
        crate::io::atomic::write_bytes(path, self.to_svg(w, h).as_bytes())
    }
}

/// A simple RGB raster.
pub struct Canvas {
    pub w: usize,
    pub h: usize,
    pub rgb: Vec<u8>,
}

impl Canvas {
    pub fn new(w: usize, h: usize) -> Self {
        Canvas {
            w,
            h,
            rgb: vec![255; w * h * 3],
        }
    }

    fn blend(&mut self, x: i64, y: i64, c: [u8; 3], a: f64) {
        if x < 0 || y < 0 || x >= self.w as i64 || y >= self.h as i64 || a <= 0.0 {
            return;
        }
        let i = (y as usize * self.w + x as usize) * 3;
        for (px, &ck) in self.rgb[i..i + 3].iter_mut().zip(&c) {
            let old = *px as f64;
            *px = (old + (ck as f64 - old) * a.min(1.0)).round() as u8;
        }
    }

    /// Anti-aliased thick line (distance-based coverage).
    pub fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: [u8; 3], width: f64) {
        let r = width / 2.0;
        let (minx, maxx) = (x0.min(x1) - r - 1.0, x0.max(x1) + r + 1.0);
        let (miny, maxy) = (y0.min(y1) - r - 1.0, y0.max(y1) + r + 1.0);
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = dx * dx + dy * dy;
        for y in miny.floor() as i64..=maxy.ceil() as i64 {
            for x in minx.floor() as i64..=maxx.ceil() as i64 {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let t = if len2 > 0.0 {
                    (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (x0 + t * dx, y0 + t * dy);
                let d = ((px - qx).powi(2) + (py - qy).powi(2)).sqrt();
                self.blend(x, y, c, r + 0.5 - d);
            }
        }
    }

    pub fn rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: [u8; 3]) {
        self.line(x0, y0, x1, y0, c, 1.0);
        self.line(x1, y0, x1, y1, c, 1.0);
        self.line(x1, y1, x0, y1, c, 1.0);
        self.line(x0, y1, x0, y0, c, 1.0);
    }

    pub fn disc(&mut self, cx: f64, cy: f64, r: f64, c: [u8; 3]) {
        for y in (cy - r - 1.0) as i64..=(cy + r + 1.0) as i64 {
            for x in (cx - r - 1.0) as i64..=(cx + r + 1.0) as i64 {
                let d = ((x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2)).sqrt();
                self.blend(x, y, c, r + 0.5 - d);
            }
        }
    }

    fn glyph(ch: char) -> [u8; 8] {
        use font8x8::UnicodeFonts;
        let ch = match ch {
            'µ' | 'μ' => 'u',
            '²' => '2',
            '³' => '3',
            '·' => '.',
            '±' => '+',
            '–' | '—' => '-',
            _ => ch,
        };
        font8x8::BASIC_FONTS
            .get(ch)
            .or_else(|| font8x8::LATIN_FONTS.get(ch))
            .or_else(|| font8x8::GREEK_FONTS.get(ch))
            .unwrap_or([0; 8])
    }

    /// Text with its top-left corner at (x, y), glyphs scaled by `s`.
    pub fn text(&mut self, x: f64, y: f64, t: &str, s: usize, c: [u8; 3]) {
        for (k, ch) in t.chars().enumerate() {
            let g = Self::glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        for dy in 0..s {
                            for dx in 0..s {
                                let px = x as i64 + ((k * 8 + col) * s + dx) as i64;
                                let py = y as i64 + (row * s + dy) as i64;
                                self.blend(px, py, c, 1.0);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Text centred horizontally at x, top at y.
    pub fn text_centered(&mut self, x: f64, y: f64, t: &str, s: usize, c: [u8; 3]) {
        let w = (t.chars().count() * 8 * s) as f64;
        self.text(x - w / 2.0, y, t, s, c);
    }

    /// Text rotated 90° counter-clockwise (reads bottom to top), centred vertically at y.
    pub fn text_vertical(&mut self, x: f64, y: f64, t: &str, s: usize, c: [u8; 3]) {
        let len = (t.chars().count() * 8 * s) as f64;
        let y_start = y + len / 2.0;
        for (k, ch) in t.chars().enumerate() {
            let g = Self::glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        for dy in 0..s {
                            for dx in 0..s {
                                // glyph (col, row) -> canvas (x + row, y_start - (k*8 + col))
                                let px = x as i64 + (row * s + dx) as i64;
                                let py = y_start as i64 - ((k * 8 + col) * s + dy) as i64;
                                self.blend(px, py, c, 1.0);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(ticks(0.0, 350.0, 6), vec![0.0, 100.0, 200.0, 300.0]);
    }

    #[test]
    fn png_has_ink_where_data_is() {
        let mut p = Plot::new("t", "x (nm)", "y (1)");
        p.series
            .push(Series::line("a", vec![0.0, 1.0], vec![0.0, 1.0]));
        let rgb = p.to_rgb(400, 300);
        let f = p.frame(400, 300);
        // the diagonal's midpoint is coloured with the first palette colour
        let (x, y) = (f.px(0.5) as usize, f.py(0.5) as usize);
        let hit = (y - 1..=y + 1).any(|yy| {
            (x - 1..=x + 1).any(|xx| {
                let i = (yy * 400 + xx) * 3;
                rgb[i..i + 3] == PALETTE[0]
            })
        });
        assert!(hit, "no line colour near the diagonal's midpoint");
        // and a corner far from everything stays white
        assert_eq!(&rgb[(299 * 400 + 399) * 3..], &[255, 255, 255]);
    }
}
