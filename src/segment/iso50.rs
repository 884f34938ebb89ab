//! ISO-50 thresholds: halfway between the grey levels of adjacent phases (methods §5).
//!
//! A boundary blurred by the instrument and the denoising filter is a symmetric ramp between the
//! two pure grey levels `g_a < g_b`; its 50 % point `(g_a + g_b)/2` is where the boundary lies, so
//! thresholding there keeps each phase's area (for features wider than the blur). This is the
//! "ISO-50" surface of CT dimensional metrology. Otsu's thresholds instead sit between the class
//! *means*, which partial-volume voxels pull towards each other; when one phase is thin or rare
//! (sparse lithium, a thin binder film) its mean drops towards its neighbour and Otsu's threshold
//! moves into the larger phase.
//!
//! Algorithm:
//! 1. multi-Otsu (Otsu for 2 classes) splits the histogram into `classes` ranges;
//! 2. the histogram is smoothed by a Gaussian of σ = 1 % of the grey range (three box passes,
//!    exact in counts, O(bins));
//! 3. the pure level of each class is the grey value of its highest smoothed bin (its mode);
//! 4. each threshold is the midpoint of the two adjacent levels. A class whose highest bin lies on
//!    the edge of its range has no peak of its own (the phase is rarer than the blur of its
//!    neighbour's peak): the thresholds next to it keep their Otsu values, and the result says so.
//!
//! ```
//! use fibstack::segment::histogram::Histogram;
//! use fibstack::segment::iso50::iso50;
//! // 900 voxels around 30, 100 around 100, a few partial-volume voxels in between
//! let mut counts = vec![0u64; 128];
//! for (c, n) in [(28, 200), (29, 200), (30, 300), (31, 200), (32, 100), (60, 8), (70, 8),
//!                (98, 20), (99, 20), (100, 30), (101, 20), (102, 10)] {
//!     counts[c] = n;
//! }
//! let h = Histogram { centers: (0..128).map(|i| i as f64).collect(), counts,
//!                     binning: "integer", min: 0.0, max: 127.0 };
//! let r = iso50(&h, 2).unwrap();
//! assert!((r.thresholds[0] - 65.0).abs() <= 1.0);
//! ```

use super::histogram::Histogram;
use super::otsu::{multiotsu, otsu};
use crate::error::ParamError;
use serde::Serialize;

/// ISO-50 thresholds with the levels they came from.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Iso50 {
    /// Thresholds (grey values), strictly increasing.
    pub thresholds: Vec<f64>,
    /// Pure grey level (smoothed-histogram mode) of each class; `None` where a class has no peak.
    pub levels: Vec<Option<f64>>,
    /// The multi-Otsu thresholds that split the classes.
    pub otsu_thresholds: Vec<f64>,
    /// Smoothing σ (grey values).
    pub smoothing_sigma: f64,
    /// What fell back to Otsu, if anything.
    pub notes: Vec<String>,
}

/// ISO-50 thresholds for `classes` phases (see the module docs).
pub fn iso50(h: &Histogram, classes: usize) -> Result<Iso50, ParamError> {
    let t_otsu = if classes == 2 {
        vec![otsu(h)]
    } else {
        multiotsu(h, classes)?
    };
    let n = h.counts.len();
    let width = if n > 1 {
        (h.centers[n - 1] - h.centers[0]) / (n - 1) as f64
    } else {
        1.0
    };
    let sigma = 0.01 * (h.max - h.min);
    let sigma_bins = if width > 0.0 { sigma / width } else { 0.0 };
    let smooth = gaussian_boxes(&h.counts, sigma_bins);
    // class k covers bins whose centre c satisfies t_{k-1} < c ≤ t_k
    let mut levels = Vec::with_capacity(classes);
    let mut notes = Vec::new();
    let mut start = 0usize;
    for k in 0..classes {
        let upper = t_otsu.get(k).copied().unwrap_or(f64::INFINITY);
        let mut end = start;
        while end < n && h.centers[end] <= upper {
            end += 1;
        }
        let level = if end > start {
            let (mut bi, mut bv) = (start, f64::NEG_INFINITY);
            for (i, &v) in smooth.iter().enumerate().take(end).skip(start) {
                if v > bv {
                    (bi, bv) = (i, v);
                }
            }
            // a mode on the range's edge is the shoulder of a neighbour's peak, not a peak
            let edge = (bi == start && k > 0) || (bi + 1 == end && k + 1 < classes);
            if edge || bv <= 0.0 {
                notes.push(format!(
                    "class {k} has no histogram peak of its own; the threshold(s) next to it keep the Otsu value"
                ));
                None
            } else {
                Some(h.centers[bi])
            }
        } else {
            notes.push(format!(
                "class {k} is empty; Otsu thresholds kept next to it"
            ));
            None
        };
        levels.push(level);
        start = end;
    }
    let thresholds: Vec<f64> = (0..classes - 1)
        .map(|k| match (levels[k], levels[k + 1]) {
            (Some(a), Some(b)) => 0.5 * (a + b),
            _ => t_otsu[k],
        })
        .collect();
    // midpoints of increasing levels increase; a mix with Otsu values could in principle not
    if thresholds.windows(2).any(|w| w[0] >= w[1]) {
        return Ok(Iso50 {
            thresholds: t_otsu.clone(),
            levels,
            otsu_thresholds: t_otsu,
            smoothing_sigma: sigma,
            notes: vec!["ISO-50 thresholds were not increasing; Otsu thresholds used".into()],
        });
    }
    Ok(Iso50 {
        thresholds,
        levels,
        otsu_thresholds: t_otsu,
        smoothing_sigma: sigma,
        notes,
    })
}

/// Counts smoothed by three centred box filters whose combined variance is `sigma²` (bins);
/// zero padding, so mass leaking off the ends is lost (modes are unaffected).
fn gaussian_boxes(counts: &[u64], sigma: f64) -> Vec<f64> {
    let mut a: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    // box of odd width w = 2r+1 has variance (w² − 1)/12; three of them: σ² = (w² − 1)/4
    let r = ((((4.0 * sigma * sigma + 1.0).sqrt() - 1.0) / 2.0).round() as usize).min(a.len());
    if r == 0 {
        return a;
    }
    let n = a.len();
    let mut prefix = vec![0.0f64; n + 1];
    for _ in 0..3 {
        for i in 0..n {
            prefix[i + 1] = prefix[i] + a[i];
        }
        for (i, v) in a.iter_mut().enumerate() {
            let lo = i.saturating_sub(r);
            let hi = (i + r + 1).min(n);
            *v = (prefix[hi] - prefix[lo]) / (2 * r + 1) as f64;
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(counts: Vec<u64>) -> Histogram {
        let n = counts.len();
        Histogram {
            centers: (0..n).map(|i| i as f64).collect(),
            counts,
            binning: "integer",
            min: 0.0,
            max: (n - 1) as f64,
        }
    }

    /// Box smoothing keeps the mass away from the ends and has the requested variance.
    #[test]
    fn boxes_have_the_requested_variance() {
        let mut c = vec![0u64; 401];
        c[200] = 1_000_000;
        let s = gaussian_boxes(&c, 6.0);
        let m: f64 = s.iter().sum();
        assert!((m - 1e6).abs() < 1e-3);
        let var: f64 = s
            .iter()
            .enumerate()
            .map(|(i, v)| v * (i as f64 - 200.0).powi(2))
            .sum::<f64>()
            / m;
        // r = round((sqrt(145) − 1)/2) = 6 → σ² = (13² − 1)/4 = 42
        assert!((var - 42.0).abs() < 1e-6, "{var}");
    }

    /// A blurred two-phase image whose minority phase is thin: ISO-50 recovers the pure-level
    /// midpoint, and the area of the minority phase, where Otsu does not.
    #[test]
    fn thin_minority_phase_keeps_its_area() {
        // 1-D profile: 10 % of the length is phase B (grey 100) in features 12 px wide, the rest
        // phase A (grey 30); blurred by a Gaussian of σ = 2 px (the feature centre still reaches
        // the pure level); one period sampled every 0.001 px
        let (ga, gb) = (30.0, 100.0);
        let period = 120.0;
        let width = 12.0;
        let sigma = 2.0;
        let n = 120_000;
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let x = i as f64 * 0.001;
            // Gaussian-blurred box [0, width): difference of normal CDFs (via erf)
            let cdf = |u: f64| 0.5 * (1.0 + erf(u / (sigma * 2f64.sqrt())));
            let frac = cdf(x) - cdf(x - width) + cdf(x - period) - cdf(x - period - width)
                + cdf(x + period)
                - cdf(x + period - width);
            values.push(ga + (gb - ga) * frac);
        }
        let mut counts = vec![0u64; 128];
        for v in &values {
            counts[v.round() as usize] += 1;
        }
        let h = hist(counts);
        let r = iso50(&h, 2).unwrap();
        let t = r.thresholds[0];
        assert!((t - 65.0).abs() <= 1.0, "ISO-50 threshold {t}");
        let area = |t: f64| values.iter().filter(|&&v| v > t).count() as f64 / n as f64;
        let truth = width / period;
        assert!((area(t) - truth).abs() < 0.004, "ISO-50 area {}", area(t));
        // Otsu sits between the class means and loses part of the thin phase (or gains: here it
        // must at least be farther from the truth than ISO-50)
        let to = r.otsu_thresholds[0];
        assert!(
            (area(to) - truth).abs() > (area(t) - truth).abs(),
            "Otsu {to}: area {} vs ISO-50 {}",
            area(to),
            area(t)
        );
    }

    fn erf(x: f64) -> f64 {
        // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
        let s = x.signum();
        let x = x.abs();
        let t = 1.0 / (1.0 + 0.327_591_1 * x);
        let y = 1.0
            - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736)
                * t
                + 0.254_829_592)
                * t
                * (-x * x).exp();
        s * y
    }

    /// Three well-separated peaks: thresholds at the midpoints of the peak positions.
    #[test]
    fn three_peaks_midpoints() {
        let mut c = vec![0u64; 256];
        for (centre, n, spread) in [(25i64, 50_000u64, 5i64), (107, 20_000, 5), (217, 5_000, 5)] {
            for d in -3 * spread..=3 * spread {
                let w = (-(d * d) as f64 / (2.0 * (spread * spread) as f64)).exp();
                c[(centre + d) as usize] += (n as f64 * w) as u64;
            }
        }
        let r = iso50(&hist(c), 3).unwrap();
        assert_eq!(r.levels, vec![Some(25.0), Some(107.0), Some(217.0)]);
        assert_eq!(r.thresholds, vec![66.0, 162.0]);
        assert!(r.notes.is_empty());
    }

    /// A class without a peak of its own keeps Otsu's thresholds, and says so.
    #[test]
    fn no_peak_falls_back_to_otsu() {
        // one broad peak and a long tail: the upper class is only the tail
        let mut c = vec![0u64; 200];
        for (i, v) in c.iter_mut().enumerate() {
            let x = i as f64;
            *v = (1e5 * (-(x - 40.0).powi(2) / 200.0).exp() + 2000.0 * (-x / 60.0).exp()) as u64;
        }
        let r = iso50(&hist(c), 2).unwrap();
        assert_eq!(r.thresholds, r.otsu_thresholds);
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
    }
}
