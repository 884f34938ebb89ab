//! Otsu (1979) and multi-level Otsu thresholds on a [`Histogram`].
//!
//! **Otsu** maximises the between-class variance `w1·w2·(μ1 − μ2)²` over the split index, with
//! the same float32/float64 arithmetic and first-maximum rule as `skimage.filters.threshold_otsu`; the
//! threshold is the centre of the last bin of the lower class (so `value > t` is the upper class).
//!
//! **Multi-Otsu** maximises `Σ_k S_k² / W_k` (zeroth/first moments per class, bin index as the
//! intensity) over all splits into `classes` contiguous groups, like
//! `skimage.filters.threshold_multiotsu` (Liao, Chen & Chung 2001). To agree exactly we follow
//! its arithmetic: probabilities and cumulative moments in float32, strict `>` so the first
//! maximum in lexicographic order wins, and its origin quirk (the first cumulative first moment
//! starts at `p0` instead of `0·p0`, i.e. the lowest class is scored as if bin 0 had index 1;
//! the effect is tiny). Brute force over all splits when that is at most
//! [`BRUTE_FORCE_LIMIT`] candidates; otherwise an exact dynamic programme with divide-and-conquer
//! optimisation (the optimal split is monotone for this objective — Luessi et al. 2009),
//! O(classes · K log K), in float64 (may differ from skimage only on near-ties).

use super::histogram::Histogram;
use crate::error::ParamError;

/// Largest number of threshold combinations evaluated by brute force.
pub const BRUTE_FORCE_LIMIT: u128 = 300_000_000;

/// Otsu threshold index (last bin of the lower class) of a histogram with ≥ 2 non-empty bins.
///
/// Replicates skimage's dtypes: counts are cast to float32 and their cumulative sums are float32;
/// for integer bins (int64 centres) the first moments are float64, for uniform float bins
/// (float32 centres) everything is float32.
pub fn otsu_index(h: &Histogram) -> usize {
    let n = h.counts.len();
    if n < 2 {
        return 0;
    }
    let c32: Vec<f32> = h.counts.iter().map(|&c| c as f32).collect();
    let cum = |rev: bool| -> Vec<f32> {
        let mut w = vec![0f32; n];
        let mut acc = 0f32;
        for k in 0..n {
            let i = if rev { n - 1 - k } else { k };
            acc += c32[i];
            w[i] = acc;
        }
        w
    };
    let (w1, w2) = (cum(false), cum(true));
    let mut best = (0usize, f64::NEG_INFINITY);
    if h.binning == "integer" {
        let mom = |rev: bool| -> Vec<f64> {
            let mut m = vec![0f64; n];
            let mut acc = 0f64;
            for k in 0..n {
                let i = if rev { n - 1 - k } else { k };
                acc += c32[i] as f64 * h.centers[i];
                m[i] = acc;
            }
            m
        };
        let (m1, m2) = (mom(false), mom(true));
        for i in 0..n - 1 {
            let d = m1[i] / w1[i] as f64 - m2[i + 1] / w2[i + 1] as f64;
            let v = (w1[i] * w2[i + 1]) as f64 * (d * d);
            if v > best.1 {
                best = (i, v);
            }
        }
    } else {
        let mom = |rev: bool| -> Vec<f32> {
            let mut m = vec![0f32; n];
            let mut acc = 0f32;
            for k in 0..n {
                let i = if rev { n - 1 - k } else { k };
                acc += c32[i] * h.centers[i] as f32;
                m[i] = acc;
            }
            m
        };
        let (m1, m2) = (mom(false), mom(true));
        for i in 0..n - 1 {
            let d = m1[i] / w1[i] - m2[i + 1] / w2[i + 1];
            let v = (w1[i] * w2[i + 1] * (d * d)) as f64;
            if v > best.1 {
                best = (i, v);
            }
        }
    }
    best.0
}

/// Otsu threshold value (a bin centre). A single-valued volume gives that value.
pub fn otsu(h: &Histogram) -> f64 {
    if h.min == h.max {
        return h.min;
    }
    h.centers[otsu_index(h)]
}

/// float32 cumulative moments as skimage builds them.
fn moments_f32(h: &Histogram) -> (Vec<f32>, Vec<f32>) {
    let total = h.total() as f64;
    let prob: Vec<f32> = h
        .counts
        .iter()
        .map(|&c| (c as f64 / total) as f32)
        .collect();
    let n = prob.len();
    let mut p = vec![0f32; n];
    let mut s = vec![0f32; n];
    p[0] = prob[0];
    s[0] = prob[0]; // skimage's origin quirk
    for i in 1..n {
        p[i] = p[i - 1] + prob[i];
        s[i] = s[i - 1] + i as f32 * prob[i];
    }
    (p, s)
}

#[inline]
fn term_f32(p: &[f32], s: &[f32], i: usize, j: usize) -> f32 {
    let (w, m) = if i == 0 {
        (p[j], s[j])
    } else {
        (p[j] - p[i - 1], s[j] - s[i - 1])
    };
    if w > 0.0 {
        m * m / w
    } else {
        0.0
    }
}

fn brute_force(p: &[f32], s: &[f32], m: usize) -> Vec<usize> {
    let n = p.len();
    let mut cur = vec![0usize; m];
    let mut best = vec![0usize; m];
    let mut best_sigma = 0f32;
    fn rec(
        p: &[f32],
        s: &[f32],
        n: usize,
        m: usize,
        k: usize,
        start: usize,
        cur: &mut Vec<usize>,
        best: &mut Vec<usize>,
        best_sigma: &mut f32,
    ) {
        if k < m {
            for idx in start..(n - m + k) {
                cur[k] = idx;
                rec(p, s, n, m, k + 1, idx + 1, cur, best, best_sigma);
            }
        } else {
            let mut sigma = term_f32(p, s, 0, cur[0]) + term_f32(p, s, cur[m - 1] + 1, n - 1);
            for i in 0..m - 1 {
                sigma += term_f32(p, s, cur[i] + 1, cur[i + 1]);
            }
            if sigma > *best_sigma {
                *best_sigma = sigma;
                best.copy_from_slice(cur);
            }
        }
    }
    rec(p, s, n, m, 0, 0, &mut cur, &mut best, &mut best_sigma);
    best
}

/// Exact maximisation of Σ S²/W over `m + 1` contiguous classes by dynamic programming with
/// divide-and-conquer optimisation; f64 moments with the same origin quirk.
fn dp_divide_conquer(h: &Histogram, m: usize) -> Vec<usize> {
    let total = h.total() as f64;
    let n = h.counts.len();
    let mut p = vec![0f64; n];
    let mut s = vec![0f64; n];
    let (mut cp, mut cs) = (0f64, 0f64);
    for i in 0..n {
        let pr = h.counts[i] as f64 / total;
        cp += pr;
        cs += if i == 0 { pr } else { i as f64 * pr };
        p[i] = cp;
        s[i] = cs;
    }
    let term = |i: usize, j: usize| -> f64 {
        let (w, mm) = if i == 0 {
            (p[j], s[j])
        } else {
            (p[j] - p[i - 1], s[j] - s[i - 1])
        };
        if w > 0.0 {
            mm * mm / w
        } else {
            0.0
        }
    };
    // f[c][j]: best score of bins 0..=j split into c+1 classes; arg[c][j] = last split index
    let mut f = vec![vec![f64::NEG_INFINITY; n]; m + 1];
    let mut arg = vec![vec![0usize; n]; m + 1];
    for j in 0..n {
        f[0][j] = term(0, j);
    }
    #[allow(clippy::too_many_arguments)]
    fn solve(
        lo: usize,
        hi: usize,
        optlo: usize,
        opthi: usize,
        prev: &[f64],
        cur: &mut [f64],
        arg: &mut [usize],
        term: &dyn Fn(usize, usize) -> f64,
    ) {
        if lo > hi {
            return;
        }
        let mid = (lo + hi) / 2;
        let mut best = (optlo, f64::NEG_INFINITY);
        // last split t: lower classes cover 0..=t, this class t+1..=mid
        let top = opthi.min(mid.saturating_sub(1));
        for t in optlo..=top {
            let v = prev[t] + term(t + 1, mid);
            if v > best.1 {
                best = (t, v);
            }
        }
        cur[mid] = best.1;
        arg[mid] = best.0;
        if mid > lo {
            solve(lo, mid - 1, optlo, best.0, prev, cur, arg, term);
        }
        solve(mid + 1, hi, best.0, opthi, prev, cur, arg, term);
    }
    for c in 1..=m {
        let (before, after) = f.split_at_mut(c);
        let prev = &before[c - 1];
        let cur = &mut after[0];
        // j must leave room: at least c splits below j
        solve(c, n - 1, c - 1, n - 2, prev, cur, &mut arg[c], &term);
    }
    let mut out = vec![0usize; m];
    let mut j = n - 1;
    for c in (1..=m).rev() {
        let t = arg[c][j];
        out[c - 1] = t;
        j = t;
    }
    out
}

/// Multi-Otsu threshold indices (last bin of each lower class), `classes ≥ 2`.
pub fn multiotsu_indices(h: &Histogram, classes: usize) -> Result<Vec<usize>, ParamError> {
    if classes < 2 {
        return Err(ParamError::new("classes", classes, "must be at least 2"));
    }
    let m = classes - 1;
    let nonzero: Vec<usize> = (0..h.counts.len()).filter(|&i| h.counts[i] > 0).collect();
    if nonzero.len() < classes {
        return Err(ParamError::new(
            "classes",
            classes,
            format!(
                "the volume has only {} distinct grey levels after binning; use fewer classes",
                nonzero.len()
            ),
        ));
    }
    if nonzero.len() == classes {
        return Ok(nonzero[..m].to_vec());
    }
    let n = h.counts.len() as u128;
    // number of candidates: C(n - 1, m)
    let mut combos: u128 = 1;
    for k in 0..m as u128 {
        combos = combos.saturating_mul(n - 1 - k) / (k + 1);
    }
    if combos <= BRUTE_FORCE_LIMIT {
        let (p, s) = moments_f32(h);
        Ok(brute_force(&p, &s, m))
    } else {
        Ok(dp_divide_conquer(h, m))
    }
}

/// Multi-Otsu threshold values (bin centres), increasing.
pub fn multiotsu(h: &Histogram, classes: usize) -> Result<Vec<f64>, ParamError> {
    Ok(multiotsu_indices(h, classes)?
        .into_iter()
        .map(|i| h.centers[i])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hist(counts: Vec<u64>) -> Histogram {
        let n = counts.len();
        Histogram {
            counts,
            centers: (0..n).map(|v| v as f64).collect(),
            binning: "integer",
            min: 0.0,
            max: (n - 1) as f64,
        }
    }

    /// Exact (f64) objective of a split, with the same origin quirk.
    fn score(h: &Histogram, t: &[usize]) -> f64 {
        let total = h.total() as f64;
        let mut bounds = vec![0usize];
        bounds.extend(t.iter().map(|&x| x + 1));
        bounds.push(h.counts.len());
        let mut sum = 0.0;
        for w in bounds.windows(2) {
            let (mut p, mut s) = (0.0, 0.0);
            for i in w[0]..w[1] {
                let pr = h.counts[i] as f64 / total;
                p += pr;
                s += if i == 0 { pr } else { i as f64 * pr };
            }
            if p > 0.0 {
                sum += s * s / p;
            }
        }
        sum
    }

    #[test]
    fn otsu_two_spikes_splits_between() {
        let mut c = vec![0u64; 100];
        c[10] = 50;
        c[80] = 50;
        c[0] = 1;
        c[99] = 1;
        let h = hist(c);
        let t = otsu(&h);
        assert!((10.0..80.0).contains(&t), "{t}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn prop_dp_reaches_brute_force_optimum(counts in proptest::collection::vec(0u64..50, 6..40), classes in 2usize..5) {
            let mut counts = counts;
            let n = counts.len();
            counts[0] += 1;
            counts[n - 1] += 1;
            let h = hist(counts);
            prop_assume!(h.counts.iter().filter(|&&c| c > 0).count() > classes);
            let m = classes - 1;
            let (p, s) = moments_f32(&h);
            let bf = brute_force(&p, &s, m);
            let dp = dp_divide_conquer(&h, m);
            let (a, b) = (score(&h, &bf), score(&h, &dp));
            prop_assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "bf {:?} {} dp {:?} {}", bf, a, dp, b);
        }
    }
}
