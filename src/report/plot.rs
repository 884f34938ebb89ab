//! Line/point plots for reports and papers, drawn with [plotters](https://docs.rs/plotters) and an
//! embedded font (DejaVu Sans), as SVG (vector) and PNG (rasterised at 2× the nominal size).
//!
//! What a figure promises: labelled axes with units, no clipped text (the margins are measured
//! from the text), categorical axes where the values are categories ([`Plot::x_categories`]),
//! error bars that stay inside the quantity's range ([`Plot::y_limits`]), values that do not exist
//! shown as such ([`Style::Missing`] with a note, e.g. τ of a phase that does not percolate), a
//! colour-blind-safe palette (Okabe & Ito 2008) and the legend below the data.
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
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Straight segments through the points, in x order.
    Line,
    /// A marker at each point, no line.
    Points,
    /// Segments and a marker at each point.
    LinePoints,
    /// Step line (histograms): y\[i\] holds over \[x\[i\], x\[i+1\]).
    Steps,
    /// Values that do not exist (e.g. τ = ∞ of a phase that does not percolate): an open triangle
    /// at the top edge of the plot for each x (the y values are ignored), with the series name in
    /// the legend. Add a [`Plot::notes`] line saying what it means.
    Missing,
}

/// One data series.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend name of the series.
    pub name: String,
    /// x values (plot units).
    pub x: Vec<f64>,
    /// y values, one per x (non-finite values are not drawn).
    pub y: Vec<f64>,
    /// Symmetric error bars (same length as y).
    pub yerr: Option<Vec<f64>>,
    /// How the series is drawn.
    pub style: Style,
}

impl Series {
    /// A line through `(x, y)` named `name` (no error bars).
    pub fn line(name: &str, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            name: name.into(),
            x,
            y,
            yerr: None,
            style: Style::Line,
        }
    }
    /// Markers at `(x, y)` named `name`.
    pub fn points(name: &str, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            style: Style::Points,
            ..Self::line(name, x, y)
        }
    }
    /// A step line (histogram): `y[i]` holds over `[x[i], x[i+1])`.
    pub fn steps(name: &str, x: Vec<f64>, y: Vec<f64>) -> Self {
        Series {
            style: Style::Steps,
            ..Self::line(name, x, y)
        }
    }
    /// Positions `x` where the value does not exist (see [`Style::Missing`]).
    pub fn missing(name: &str, x: Vec<f64>) -> Self {
        let y = vec![f64::NAN; x.len()];
        Series {
            style: Style::Missing,
            ..Self::line(name, x, y)
        }
    }
    /// The same series drawn with style `s`.
    pub fn with_style(mut self, s: Style) -> Self {
        self.style = s;
        self
    }
    /// The same series with symmetric error bars `e` (same length as `y`).
    pub fn with_err(mut self, e: Vec<f64>) -> Self {
        self.yerr = Some(e);
        self
    }
}

/// A 2-D plot.
#[derive(Debug, Clone)]
pub struct Plot {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis (with its unit).
    pub x_label: String,
    /// Label of the y axis (with its unit).
    pub y_label: String,
    /// The series, drawn in order (legend and colours follow the order).
    pub series: Vec<Series>,
    /// Fixed x axis range `(min, max)`; `None` = from the data.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y axis range `(min, max)`; `None` = from the data.
    pub y_range: Option<(f64, f64)>,
    /// Category names of a categorical x axis: x values are positions into this list (0, 1, …;
    /// fractional offsets place several series side by side), ticks are the names.
    pub x_categories: Option<Vec<String>>,
    /// The range the plotted quantity can take (e.g. `(0.0, 1.0)` for a fraction): error bars and
    /// the automatic axis range stay inside it.
    pub y_limits: Option<(f64, f64)>,
    /// Lines of text under the legend (what a marker means, which values are missing).
    pub notes: Vec<String>,
}

/// Okabe–Ito colours (colour-blind safe), ordered for contrast on white; yellow last.
pub const PALETTE: [[u8; 3]; 8] = [
    [0, 114, 178],   // blue
    [213, 94, 0],    // vermillion
    [0, 158, 115],   // bluish green
    [230, 159, 0],   // orange
    [204, 121, 167], // reddish purple
    [86, 180, 233],  // sky blue
    [0, 0, 0],       // black
    [240, 228, 66],  // yellow
];

/// Family name of the embedded font.
pub(crate) const FONT: &str = "DejaVu Sans";
static FONT_BYTES: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");

/// Register the embedded font with plotters (once per process).
pub(crate) fn register_font_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // the bytes are compiled in and valid; a failure would only mean text is not drawn
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// "Nice" tick positions (1-2-2.5-5 steps) covering `[lo, hi]`.
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

/// Tick label: the fewest decimals that show the tick exactly; scientific outside 1e-3..1e5.
pub fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (0..6)
        .find(|d| {
            let f = 10f64.powi(*d);
            ((v * f).round() / f - v).abs() < 1e-9 * a.max(1e-9)
        })
        .unwrap_or(6) as usize;
    format!("{v:.decimals$}").replace('-', "−")
}

/// Sizes (px at scale 1) of the text elements.
const TITLE_PT: f64 = 17.0;
const LABEL_PT: f64 = 14.0;
const TICK_PT: f64 = 12.5;
const LEGEND_PT: f64 = 13.0;
const NOTE_PT: f64 = 12.0;

/// Width and height (px) of `t` at `px` pixels font size.
fn text_size<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, t: &str, px: f64) -> (f64, f64) {
    area.estimate_text_size(t, &TextStyle::from((FONT, px).into_font()))
        .map(|(a, b)| (a as f64, b as f64))
        .unwrap_or((t.chars().count() as f64 * px * 0.6, px))
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Where things go, in pixels of the drawing (already scaled).
struct Layout {
    title_pt: f64,
    /// Legend entries: (series index, x, row).
    legend: Vec<(usize, f64, usize)>,
    legend_rows: usize,
    /// Note lines (wrapped to the width).
    notes: Vec<String>,
    left: f64,
    bottom_axis: f64,
    top: f64,
    right: f64,
    x_ticks: Vec<(f64, String)>,
    y_ticks: Vec<(f64, String)>,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

impl Plot {
    /// An empty plot with a title and axis labels (automatic ranges, no series).
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Plot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            x_range: None,
            y_range: None,
            x_categories: None,
            y_limits: None,
            notes: Vec::new(),
        }
    }

    /// Lower and upper ends of an error bar at `y ± e`, inside [`Plot::y_limits`].
    fn bar(&self, y: f64, e: f64) -> (f64, f64) {
        let (lo, hi) = self.y_limits.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
        ((y - e).max(lo), (y + e).min(hi))
    }

    fn data_range(&self) -> ((f64, f64), (f64, f64)) {
        let mut xr = (f64::INFINITY, f64::NEG_INFINITY);
        let mut yr = (f64::INFINITY, f64::NEG_INFINITY);
        for s in &self.series {
            for (i, &x) in s.x.iter().enumerate() {
                if !x.is_finite() {
                    continue;
                }
                xr = (xr.0.min(x), xr.1.max(x));
                let y = s.y.get(i).copied().unwrap_or(f64::NAN);
                if s.style == Style::Missing || !y.is_finite() {
                    continue;
                }
                let e = s
                    .yerr
                    .as_ref()
                    .and_then(|e| e.get(i))
                    .copied()
                    .filter(|e| e.is_finite())
                    .unwrap_or(0.0);
                let (a, b) = self.bar(y, e);
                yr = (yr.0.min(a), yr.1.max(b));
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
        let xr = self.x_range.unwrap_or_else(|| match &self.x_categories {
            Some(c) => (-0.5, c.len().max(1) as f64 - 0.5),
            None => {
                let (a, b) = fix(xr);
                // markers at the ends must not be cut in half by the frame
                let marked = self
                    .series
                    .iter()
                    .any(|s| matches!(s.style, Style::Points | Style::LinePoints | Style::Missing));
                let pad = if marked { 0.03 * (b - a) } else { 0.0 };
                (a - pad, b + pad)
            }
        });
        let yr = self.y_range.unwrap_or_else(|| {
            let (a, b) = fix(yr);
            let pad = 0.06 * (b - a);
            // headroom for the markers of missing values at the top edge
            let head = if self.series.iter().any(|s| s.style == Style::Missing) {
                0.08 * (b - a)
            } else {
                0.0
            };
            let (mut a, mut b) = (a - pad, b + pad + head);
            if let Some((lo, hi)) = self.y_limits {
                // never show impossible values just for padding
                a = a.max(lo);
                b = b.min(hi);
                if b <= a {
                    (a, b) = fix((a, a));
                }
            }
            (a, b)
        });
        (xr, yr)
    }

    fn layout<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, s: f64) -> Layout {
        let (w, h) = area.dim_in_pixel();
        let (w, h) = (w as f64, h as f64);
        let size = |t: &str, pt: f64| text_size(area, t, pt * s);
        let ((x0, x1), (y0, y1)) = self.data_range();
        let x_ticks: Vec<(f64, String)> = match &self.x_categories {
            Some(c) => c
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64, n.clone()))
                .collect(),
            None => ticks(x0, x1, 6)
                .into_iter()
                .map(|t| (t, fmt_tick(t)))
                .collect(),
        };
        let y_ticks: Vec<(f64, String)> = ticks(y0, y1, 5)
            .into_iter()
            .map(|t| (t, fmt_tick(t)))
            .collect();
        // the title shrinks until it fits the width
        let mut title_pt = TITLE_PT;
        while title_pt > 9.0 && size(&self.title, title_pt).0 > w - 20.0 * s {
            title_pt -= 0.5;
        }
        let title_h = if self.title.is_empty() {
            8.0 * s
        } else {
            size(&self.title, title_pt).1 + 16.0 * s
        };
        let ytick_w = y_ticks
            .iter()
            .map(|(_, t)| size(t, TICK_PT).0)
            .fold(0.0, f64::max);
        let label_h = size("Ag", LABEL_PT).1;
        let left = 12.0 * s + label_h + 10.0 * s + ytick_w + 8.0 * s;
        let right = w
            - (12.0 * s).max(
                size(
                    &x_ticks.last().map(|t| t.1.clone()).unwrap_or_default(),
                    TICK_PT,
                )
                .0 / 2.0
                    + 4.0 * s,
            );
        // legend below the x label, wrapping rows
        let mut legend = Vec::new();
        let mut rows = 0;
        if self.series.len() > 1 || self.series.iter().any(|s| s.style == Style::Missing) {
            let (mut x, mut row) = (left, 0usize);
            for (k, ser) in self.series.iter().enumerate() {
                let ew = 30.0 * s + size(&ser.name, LEGEND_PT).0 + 22.0 * s;
                if x + ew > w - 8.0 * s && x > left {
                    x = left;
                    row += 1;
                }
                legend.push((k, x, row));
                x += ew;
            }
            rows = row + 1;
        }
        // notes wrap at the width
        let mut notes = Vec::new();
        for n in &self.notes {
            let mut line = String::new();
            for word in n.split(' ') {
                let cand = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if size(&cand, NOTE_PT).0 > w - 24.0 * s && !line.is_empty() {
                    notes.push(std::mem::take(&mut line));
                    line = word.to_string();
                } else {
                    line = cand;
                }
            }
            notes.push(line);
        }
        let tick_h = size("0", TICK_PT).1;
        let below = 8.0 * s
            + tick_h
            + 10.0 * s
            + label_h
            + 12.0 * s
            + rows as f64 * (size("Ag", LEGEND_PT).1 + 8.0 * s)
            + notes.len() as f64 * (size("Ag", NOTE_PT).1 + 4.0 * s)
            + 6.0 * s;
        Layout {
            title_pt,
            legend,
            legend_rows: rows,
            notes,
            left,
            bottom_axis: (h - below).max(title_h + 20.0 * s),
            top: title_h,
            right,
            x_ticks,
            y_ticks,
            x_range: (x0, x1),
            y_range: (y0, y1),
        }
    }

    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        register_font_once();
        area.fill(&WHITE).map_err(err)?;
        let l = self.layout(area, s);
        let (w, _) = area.dim_in_pixel();
        let font = |pt: f64| (FONT, pt * s).into_font().color(&BLACK);
        let centre = Pos::new(HPos::Center, VPos::Top);
        // title
        if !self.title.is_empty() {
            area.draw(&Text::new(
                self.title.clone(),
                ((w as f64 / 2.0) as i32, (8.0 * s) as i32),
                font(l.title_pt).pos(centre),
            ))
            .map_err(err)?;
        }
        let (px0, px1, py0, py1) = (l.left, l.right, l.top, l.bottom_axis);
        let (x0, x1) = l.x_range;
        let (y0, y1) = l.y_range;
        let px = |x: f64| px0 + (x - x0) / (x1 - x0) * (px1 - px0);
        let py = |y: f64| py1 - (y - y0) / (y1 - y0) * (py1 - py0);
        let pt = |x: f64, y: f64| (px(x).round() as i32, py(y).round() as i32);
        let grid = RGBColor(225, 225, 225);
        // grid and ticks
        for (t, label) in &l.x_ticks {
            let x = px(*t).round() as i32;
            if self.x_categories.is_none() {
                area.draw(&PathElement::new(
                    vec![(x, py0 as i32), (x, py1 as i32)],
                    grid,
                ))
                .map_err(err)?;
            }
            area.draw(&PathElement::new(
                vec![(x, py1 as i32), (x, (py1 + 5.0 * s) as i32)],
                BLACK,
            ))
            .map_err(err)?;
            area.draw(&Text::new(
                label.clone(),
                (x, (py1 + 8.0 * s) as i32),
                font(TICK_PT).pos(centre),
            ))
            .map_err(err)?;
        }
        for (t, label) in &l.y_ticks {
            let y = py(*t).round() as i32;
            area.draw(&PathElement::new(
                vec![(px0 as i32, y), (px1 as i32, y)],
                grid,
            ))
            .map_err(err)?;
            area.draw(&PathElement::new(
                vec![((px0 - 5.0 * s) as i32, y), (px0 as i32, y)],
                BLACK,
            ))
            .map_err(err)?;
            area.draw(&Text::new(
                label.clone(),
                ((px0 - 8.0 * s) as i32, y),
                font(TICK_PT).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
        }
        area.draw(&Rectangle::new(
            [(px0 as i32, py0 as i32), (px1 as i32, py1 as i32)],
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
        // axis labels
        let tick_h = text_size(area, "0", TICK_PT * s).1;
        area.draw(&Text::new(
            self.x_label.clone(),
            (
                ((px0 + px1) / 2.0) as i32,
                (py1 + 8.0 * s + tick_h + 10.0 * s) as i32,
            ),
            font(LABEL_PT).pos(centre),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            self.y_label.clone(),
            ((12.0 * s) as i32, ((py0 + py1) / 2.0) as i32),
            font(LABEL_PT)
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
        // data, clipped to the plot area
        let inside = |x: f64, y: f64| x >= x0 && x <= x1 && y >= y0 && y <= y1;
        for (k, ser) in self.series.iter().enumerate() {
            let c = PALETTE[k % PALETTE.len()];
            let col = RGBColor(c[0], c[1], c[2]);
            let n = ser.x.len().min(ser.y.len());
            if ser.style == Style::Missing {
                for &x in &ser.x {
                    if x.is_finite() && x >= x0 && x <= x1 {
                        let (cx, cy) = (px(x), py0 + 9.0 * s);
                        area.draw(&triangle(cx, cy, 7.0 * s, col, s)).map_err(err)?;
                    }
                }
                continue;
            }
            if matches!(ser.style, Style::Line | Style::LinePoints | Style::Steps) {
                // break the line at non-finite values; clip each segment to the frame
                let mut run: Vec<(f64, f64)> = Vec::new();
                let mut runs = Vec::new();
                for i in 0..n {
                    let (x, y) = (ser.x[i], ser.y[i]);
                    if !(x.is_finite() && y.is_finite()) {
                        runs.push(std::mem::take(&mut run));
                        continue;
                    }
                    run.push((x, y));
                    if ser.style == Style::Steps {
                        let xn = if i + 1 < n { ser.x[i + 1] } else { x };
                        run.push((xn, y));
                    }
                }
                runs.push(run);
                for r in runs.iter().filter(|r| r.len() > 1) {
                    let clipped = clip_polyline(r, (x0, x1), (y0, y1));
                    for seg in clipped {
                        let p: Vec<(i32, i32)> = seg.iter().map(|&(x, y)| pt(x, y)).collect();
                        area.draw(&PathElement::new(p, col.stroke_width((2.0 * s) as u32)))
                            .map_err(err)?;
                    }
                }
            }
            for i in 0..n {
                let (x, y) = (ser.x[i], ser.y[i]);
                if !(x.is_finite() && y.is_finite() && inside(x, y)) {
                    continue;
                }
                if let Some(e) = ser
                    .yerr
                    .as_ref()
                    .and_then(|e| e.get(i))
                    .filter(|e| e.is_finite() && **e > 0.0)
                {
                    let (a, b) = self.bar(y, *e);
                    let (a, b) = (a.max(y0), b.min(y1));
                    let xx = px(x).round() as i32;
                    let cap = (4.0 * s) as i32;
                    let st = col.stroke_width((1.5 * s).max(1.0) as u32);
                    area.draw(&PathElement::new(
                        vec![(xx, py(a) as i32), (xx, py(b) as i32)],
                        st,
                    ))
                    .map_err(err)?;
                    for v in [a, b] {
                        let yy = py(v) as i32;
                        area.draw(&PathElement::new(vec![(xx - cap, yy), (xx + cap, yy)], st))
                            .map_err(err)?;
                    }
                }
                if matches!(ser.style, Style::Points | Style::LinePoints) {
                    area.draw(&Circle::new(pt(x, y), (4.0 * s) as i32, col.filled()))
                        .map_err(err)?;
                }
            }
        }
        // legend
        let legend_h = text_size(area, "Ag", LEGEND_PT * s).1;
        let label_h = text_size(area, "Ag", LABEL_PT * s).1;
        let legend_top = py1 + 8.0 * s + tick_h + 10.0 * s + label_h + 12.0 * s;
        for &(k, lx, row) in &l.legend {
            let ser = &self.series[k];
            let c = PALETTE[k % PALETTE.len()];
            let col = RGBColor(c[0], c[1], c[2]);
            let ly = legend_top + row as f64 * (legend_h + 8.0 * s) + legend_h / 2.0;
            match ser.style {
                Style::Points => {
                    area.draw(&Circle::new(
                        ((lx + 12.0 * s) as i32, ly as i32),
                        (4.0 * s) as i32,
                        col.filled(),
                    ))
                    .map_err(err)?;
                }
                Style::Missing => {
                    area.draw(&triangle(lx + 12.0 * s, ly, 7.0 * s, col, s))
                        .map_err(err)?;
                }
                _ => {
                    area.draw(&PathElement::new(
                        vec![(lx as i32, ly as i32), ((lx + 24.0 * s) as i32, ly as i32)],
                        col.stroke_width((3.0 * s) as u32),
                    ))
                    .map_err(err)?;
                    if ser.style == Style::LinePoints {
                        area.draw(&Circle::new(
                            ((lx + 12.0 * s) as i32, ly as i32),
                            (4.0 * s) as i32,
                            col.filled(),
                        ))
                        .map_err(err)?;
                    }
                }
            }
            area.draw(&Text::new(
                ser.name.clone(),
                ((lx + 30.0 * s) as i32, ly as i32),
                font(LEGEND_PT).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        }
        let note_h = text_size(area, "Ag", NOTE_PT * s).1;
        let notes_top = legend_top + l.legend_rows as f64 * (legend_h + 8.0 * s);
        for (i, n) in l.notes.iter().enumerate() {
            area.draw(&Text::new(
                n.clone(),
                (
                    (12.0 * s) as i32,
                    (notes_top + i as f64 * (note_h + 4.0 * s)) as i32,
                ),
                (FONT, NOTE_PT * s)
                    .into_font()
                    .color(&RGBColor(60, 60, 60))
                    .pos(Pos::new(HPos::Left, VPos::Top)),
            ))
            .map_err(err)?;
        }
        area.present().map_err(err)?;
        Ok(())
    }

    /// SVG text (`w`×`h` px nominal size).
    pub fn to_svg(&self, w: u32, h: u32) -> String {
        let mut s = String::new();
        {
            let area = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
            // drawing into a string cannot fail for I/O reasons; text layout errors leave
            // the element out
            let _ = self.draw(&area, 1.0);
        }
        s
    }

    /// RGB pixels (row-major, 3 bytes per pixel) of the plot drawn at `scale` × its nominal
    /// `w`×`h` size (the image is `scale·w` × `scale·h`).
    pub fn to_rgb_scaled(&self, w: u32, h: u32, scale: u32) -> Vec<u8> {
        let (pw, ph) = (w * scale.max(1), h * scale.max(1));
        let mut buf = vec![255u8; (pw * ph * 3) as usize];
        {
            let area = BitMapBackend::with_buffer(&mut buf, (pw, ph)).into_drawing_area();
            let _ = self.draw(&area, scale.max(1) as f64);
        }
        buf
    }

    /// RGB pixels at the nominal size.
    pub fn to_rgb(&self, w: u32, h: u32) -> Vec<u8> {
        self.to_rgb_scaled(w, h, 1)
    }

    /// Write the plot as PNG at 2× the nominal size (`2w`×`2h` pixels).
    pub fn write_png(&self, path: &Path, w: u32, h: u32) -> Result<(), IoError> {
        crate::io::png::write_rgb(path, 2 * w, 2 * h, &self.to_rgb_scaled(w, h, 2))
    }

    /// Write the plot as SVG.
    pub fn write_svg(&self, path: &Path, w: u32, h: u32) -> Result<(), IoError> {
        crate::io::atomic::write_bytes(path, self.to_svg(w, h).as_bytes())
    }
}

/// An open, downward-pointing triangle centred at (cx, cy).
fn triangle(cx: f64, cy: f64, r: f64, col: RGBColor, s: f64) -> PathElement<(i32, i32)> {
    let p = |dx: f64, dy: f64| ((cx + dx).round() as i32, (cy + dy).round() as i32);
    PathElement::new(
        vec![
            p(-r, -0.6 * r),
            p(r, -0.6 * r),
            p(0.0, 0.9 * r),
            p(-r, -0.6 * r),
        ],
        col.stroke_width((2.0 * s) as u32),
    )
}

/// Clip a polyline to the rectangle: the pieces inside it (Liang–Barsky per segment).
fn clip_polyline(pts: &[(f64, f64)], xr: (f64, f64), yr: (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for w in pts.windows(2) {
        let ((ax, ay), (bx, by)) = (w[0], w[1]);
        let (dx, dy) = (bx - ax, by - ay);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let mut keep = true;
        for (p, q) in [
            (-dx, ax - xr.0),
            (dx, xr.1 - ax),
            (-dy, ay - yr.0),
            (dy, yr.1 - ay),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    keep = false;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if !keep || t0 > t1 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let a = (ax + t0 * dx, ay + t0 * dy);
        let b = (ax + t1 * dx, ay + t1 * dy);
        if cur.last() != Some(&a) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.push(a);
        }
        cur.push(b);
        if t1 < 1.0 {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter().filter(|r| r.len() > 1).collect()
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

    fn ink_near(rgb: &[u8], w: usize, x: usize, y: usize, c: [u8; 3], r: usize) -> bool {
        (y - r..=y + r).any(|yy| {
            (x - r..=x + r).any(|xx| {
                let i = (yy * w + xx) * 3;
                rgb[i..i + 3] == c
            })
        })
    }

    #[test]
    fn png_has_ink_where_data_is() {
        let mut p = Plot::new("t", "x (nm)", "y (1)");
        p.series
            .push(Series::line("a", vec![0.0, 1.0], vec![0.0, 1.0]));
        let rgb = p.to_rgb(400, 300);
        register_font_once();
        let mut buf = vec![255u8; 400 * 300 * 3];
        let area = BitMapBackend::with_buffer(&mut buf, (400, 300)).into_drawing_area();
        let l = p.layout(&area, 1.0);
        drop(area);
        // the diagonal's midpoint (0.5, 0.5) in pixels
        let fx =
            |x: f64| l.left + (x - l.x_range.0) / (l.x_range.1 - l.x_range.0) * (l.right - l.left);
        let fy = |y: f64| {
            l.bottom_axis
                - (y - l.y_range.0) / (l.y_range.1 - l.y_range.0) * (l.bottom_axis - l.top)
        };
        assert!(
            ink_near(&rgb, 400, fx(0.5) as usize, fy(0.5) as usize, PALETTE[0], 2),
            "no line colour near the diagonal's midpoint"
        );
        // the bottom-right corner stays white
        assert_eq!(&rgb[(299 * 400 + 399) * 3..], &[255, 255, 255]);
    }

    #[test]
    fn text_is_drawn_with_the_embedded_font() {
        // a title only: some dark pixels appear in the title band, none without a title
        let p = Plot::new("Tortuosity factor per axis", "axis", "τ (1)");
        let rgb = p.to_rgb(500, 300);
        let dark = |rgb: &[u8], rows: std::ops::Range<usize>| {
            rows.flat_map(|y| (0..500).map(move |x| (y, x)))
                .filter(|&(y, x)| rgb[(y * 500 + x) * 3] < 100)
                .count()
        };
        assert!(dark(&rgb, 0..30) > 100, "no title ink");
        let mut q = p.clone();
        q.title.clear();
        assert_eq!(dark(&q.to_rgb(500, 300), 0..6), 0);
    }

    #[test]
    fn error_bars_respect_the_limits_and_the_axis_does_not_go_below() {
        let mut p = Plot::new("REV", "edge (nm)", "fraction (1)");
        p.series.push(
            Series::points("sub-cubes", vec![1.0, 2.0], vec![0.02, 0.5]).with_err(vec![0.2, 0.1]),
        );
        p.y_limits = Some((0.0, 1.0));
        let ((_, _), (y0, _)) = p.data_range();
        assert!(y0 >= 0.0, "axis starts at {y0}");
        let (a, b) = p.bar(0.02, 0.2);
        assert!(a == 0.0 && (b - 0.22).abs() < 1e-12);
        p.y_limits = None;
        let ((_, _), (y0, _)) = p.data_range();
        assert!(y0 < -0.1);
    }

    #[test]
    fn categorical_axis_ticks_are_the_names() {
        let mut p = Plot::new("τ", "axis", "τ (1)");
        p.x_categories = Some(vec!["z".into(), "y".into(), "x".into()]);
        p.series.push(Series::points(
            "fd",
            vec![0.0, 1.0, 2.0],
            vec![12.0, 20.0, 31.0],
        ));
        let svg: String = p.to_svg(500, 300).split_whitespace().collect();
        for n in [">z<", ">y<", ">x<"] {
            assert!(svg.contains(n), "{n} missing");
        }
        assert!(!svg.contains(">0.5<") && !svg.contains(">1.5<"));
    }

    #[test]
    fn missing_values_are_shown_and_named() {
        let mut p = Plot::new("τ vs pressure", "pressure (kPa)", "τ (1)");
        p.series
            .push(Series::points("τ", vec![0.0, 70.0], vec![1.5, 2.0]));
        p.series
            .push(Series::missing("does not percolate", vec![140.0]));
        p.notes
            .push("140 kPa: the pores do not percolate (τ = ∞)".into());
        let svg = p.to_svg(600, 400);
        assert!(svg.contains("does not percolate"));
        assert!(svg.contains("140 kPa: the pores do not percolate"));
        let ((x0, x1), _) = p.data_range();
        assert!(x0 <= 0.0 && x1 >= 140.0, "the missing x is inside the axis");
    }

    #[test]
    fn long_labels_are_not_clipped() {
        // every text element lies inside the image
        let p = {
            let mut p = Plot::new(
                "Representative volume: fraction vs sub-cube edge, a long title that must shrink",
                "sub-cube edge (nm)",
                "volume fraction (1), ± 1 s.d.",
            );
            p.series.push(Series::line(
                "a",
                vec![0.0, 12345.0],
                vec![-12345.678, 99999.0],
            ));
            p
        };
        register_font_once();
        let mut buf = vec![255u8; 640 * 420 * 3];
        let area = BitMapBackend::with_buffer(&mut buf, (640, 420)).into_drawing_area();
        let l = p.layout(&area, 1.0);
        let tw = text_size(&area, &p.title, l.title_pt).0;
        assert!(tw < 640.0, "title {tw} px wide");
        let widest = l
            .y_ticks
            .iter()
            .map(|(_, t)| text_size(&area, t, TICK_PT).0)
            .fold(0.0, f64::max);
        assert!(widest < l.left - 12.0 - 10.0, "y ticks overlap the label");
    }

    #[test]
    fn clipping_keeps_the_inside() {
        let r = clip_polyline(&[(-1.0, 0.5), (2.0, 0.5)], (0.0, 1.0), (0.0, 1.0));
        assert_eq!(r, vec![vec![(0.0, 0.5), (1.0, 0.5)]]);
        let r = clip_polyline(
            &[(0.5, 0.5), (0.5, 2.0), (0.6, 0.5)],
            (0.0, 1.0),
            (0.0, 1.0),
        );
        assert_eq!(r.len(), 2);
    }
}
