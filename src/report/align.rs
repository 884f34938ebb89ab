//! Files of the drift alignment: the per-slice table (`alignment_shifts.csv`) and the plot of the
//! cumulative drift curve (`alignment_drift.png`).
//!
//! The plot uses the shared plotting code of [`crate::report::plot`] (PNG rasterised with its
//! built-in bitmap font, or SVG when the path ends in `.svg`); both are written atomically.

use crate::io::IoError;
use crate::preprocess::align::SliceShift;
use crate::report::plot::{Plot, Series, Style};
use std::path::Path;

/// Write `alignment_shifts.csv` (columns: slice, dy_px, dx_px, cum_dy_px, cum_dx_px, quality,
/// flagged, peak_ratio, raw_cum_dy_px, raw_cum_dx_px, replaced) atomically.
pub fn write_shifts_csv(path: &Path, slices: &[SliceShift]) -> Result<(), IoError> {
    use std::io::Write;
    crate::io::atomic::write_atomic(path, |w| {
        let e = |err: std::io::Error| IoError::os(path, err);
        writeln!(
            w,
            "slice,dy_px,dx_px,cum_dy_px,cum_dx_px,quality,flagged,peak_ratio,raw_cum_dy_px,raw_cum_dx_px,replaced"
        )
        .map_err(e)?;
        for s in slices {
            writeln!(
                w,
                "{},{:.4},{:.4},{:.4},{:.4},{:.5},{},{:.3},{:.4},{:.4},{}",
                s.slice,
                s.dy_px,
                s.dx_px,
                s.cum_dy_px,
                s.cum_dx_px,
                s.quality,
                s.flagged,
                s.peak_ratio,
                s.raw_cum_dy_px,
                s.raw_cum_dx_px,
                s.replaced
            )
            .map_err(e)?;
        }
        Ok(())
    })
}

/// Plot of the applied cumulative shifts (dy, dx) against slice, the measured curves before
/// detrending when they differ, and flagged slices as points.
pub fn drift_plot(slices: &[SliceShift]) -> Plot {
    let x: Vec<f64> = slices.iter().map(|s| s.slice as f64).collect();
    let mut p = Plot::new(
        "Cumulative drift correction",
        "slice",
        "cumulative shift applied (px)",
    );
    p.series.push(Series::line(
        "dy (rows)",
        x.clone(),
        slices.iter().map(|s| s.cum_dy_px).collect(),
    ));
    p.series.push(Series::line(
        "dx (columns)",
        x.clone(),
        slices.iter().map(|s| s.cum_dx_px).collect(),
    ));
    let detrended = slices
        .iter()
        .any(|s| s.raw_cum_dy_px != s.cum_dy_px || s.raw_cum_dx_px != s.cum_dx_px);
    if detrended {
        p.series.push(Series::line(
            "dy measured (before detrend)",
            x.clone(),
            slices.iter().map(|s| s.raw_cum_dy_px).collect(),
        ));
        p.series.push(Series::line(
            "dx measured (before detrend)",
            x,
            slices.iter().map(|s| s.raw_cum_dx_px).collect(),
        ));
    }
    let flagged: Vec<&SliceShift> = slices.iter().filter(|s| s.flagged).collect();
    if !flagged.is_empty() {
        p.series.push(
            Series::points(
                "flagged (poor correlation)",
                flagged.iter().map(|s| s.slice as f64).collect(),
                flagged.iter().map(|s| s.cum_dy_px).collect(),
            )
            .with_style(Style::Points),
        );
    }
    p
}

/// Write the drift plot (PNG, or SVG for a `.svg` path), 800×480.
pub fn write_drift_plot(path: &Path, slices: &[SliceShift]) -> Result<(), IoError> {
    let p = drift_plot(slices);
    let svg = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if svg {
        p.write_svg(path, 800, 480)
    } else {
        p.write_png(path, 800, 480)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_has_curves_and_writes_png() {
        let slices: Vec<SliceShift> = (0..10)
            .map(|k| SliceShift {
                slice: k,
                dy_px: 0.1,
                dx_px: -0.2,
                cum_dy_px: 0.1 * k as f64,
                cum_dx_px: -0.2 * k as f64,
                quality: 0.9,
                peak_ratio: 5.0,
                flagged: k == 4,
                raw_cum_dy_px: 0.1 * k as f64,
                raw_cum_dx_px: -0.2 * k as f64,
                replaced: false,
                measured_px: None,
            })
            .collect();
        let p = drift_plot(&slices);
        assert_eq!(p.series.len(), 3);
        let dir = std::env::temp_dir().join(format!("fibstack-pre-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("drift.png");
        write_drift_plot(&f, &slices).unwrap();
        let bytes = std::fs::read(&f).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        std::fs::remove_dir_all(&dir).ok();
    }
}
