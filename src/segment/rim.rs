//! Partial-volume rim correction for segmentations with three or more phases.
//!
//! Where a dark phase meets a bright one (pore against active material, pore against a Cu
//! collector), the blurred edge passes through the grey range of any phase in between. Plain
//! thresholding then paints a thin false rim of the intermediate phase (carbon binder, lithium)
//! around every such edge, and the dark phase loses its share of the edge to it: porosity is
//! underestimated and the intermediate phase overestimated.
//!
//! The rule, per slice (the rims come from in-plane blur: the beam spot, the rendering and a 2-D
//! denoise):
//!
//! 1. along every image row and every image column, split the classes into maximal runs of one
//!    class;
//! 2. a run of class `c` no longer than `max_run_px` pixels, with a darker class `a < c` at one
//!    end and a brighter class `b > c` at the other, is a transition, not a phase;
//! 3. each of its pixels becomes `a` if its grey value is at most `(m_a + m_b) / 2` (the midpoint
//!    of the two class means: the ISO-50 point of that edge), `b` otherwise.
//!
//! Runs are found on the classes as they were before the correction (every pixel is decided from
//! the same input), so the result does not depend on the order of the work. A run that touches
//! the image border, or that has the same side at both ends (binder between two pores), is kept.
//! Intermediate structures at most `max_run_px` thick lying exactly between the dark and the bright
//! phase are removed too: at that size they cannot be told from an edge.

use crate::error::ParamError;
use crate::volume::LabelVolume;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters of [`correct_rims`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RimParams {
    /// Longest intermediate run (pixels, along a row or a column) taken as an edge (1–16).
    pub max_run_px: usize,
}

impl Default for RimParams {
    fn default() -> Self {
        RimParams { max_run_px: 2 }
    }
}

impl RimParams {
    /// Check that `max_run_px` lies in 1–16.
    pub fn validate(&self) -> Result<(), ParamError> {
        if !(1..=16).contains(&self.max_run_px) {
            return Err(ParamError::new(
                "rim_max_run_px",
                self.max_run_px,
                "must be 1..=16 pixels (2 suits an edge blurred by about one pixel)",
            ));
        }
        Ok(())
    }
}

/// The threshold used to split the transitions between two classes.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RimSplit {
    /// Darker and brighter class index at the ends of the runs.
    pub lower_class: usize,
    /// Brighter class index at the ends of the runs.
    pub upper_class: usize,
    /// `(m_lower + m_upper) / 2`, grey values.
    pub threshold: f64,
    /// Pixels reassigned at this kind of edge.
    pub pixels: u64,
}

/// What [`correct_rims`] changed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RimReport {
    /// Longest intermediate run taken as an edge (pixels, from [`RimParams::max_run_px`]).
    pub max_run_px: usize,
    /// Directions searched: image rows (x) and columns (y), slice by slice.
    pub directions: String,
    /// Class means before the correction (grey values).
    pub class_means: Vec<f64>,
    /// One entry per (darker, brighter) pair with transitions.
    pub splits: Vec<RimSplit>,
    /// Pixels reassigned in total.
    pub reassigned: u64,
    /// Class fractions before and after.
    pub fractions_before: Vec<f64>,
    /// Class fractions after the correction (unit "1").
    pub fractions_after: Vec<f64>,
}

/// Reassign short intermediate runs between a darker and a brighter class (see the module docs).
/// `classes` are class indices in grey order (0 = darkest), as thresholding gives them; `k` is the
/// number of classes.
///
/// ```
/// use fibstack::segment::rim::{correct_rims, RimParams};
/// use ndarray::Array3;
/// // one row: pore (10) | a blurred edge 30, 60 | active material (90), classes 0 | 1 1 | 2
/// let grey = Array3::from_shape_vec((1, 1, 6), vec![10.0f32, 10.0, 30.0, 60.0, 90.0, 90.0]).unwrap();
/// let mut c = Array3::from_shape_vec((1, 1, 6), vec![0u8, 0, 1, 1, 2, 2]).unwrap();
/// let r = correct_rims(grey.view(), &mut c, 3, &RimParams::default()).unwrap();
/// // split at (10 + 90) / 2 = 50
/// assert_eq!(c.as_slice().unwrap(), &[0, 0, 0, 2, 2, 2]);
/// assert_eq!(r.reassigned, 2);
/// ```
pub fn correct_rims(
    grey: ArrayView3<f32>,
    classes: &mut Array3<u8>,
    k: usize,
    p: &RimParams,
) -> Result<RimReport, ParamError> {
    p.validate()?;
    if grey.dim() != classes.dim() {
        return Err(ParamError::new(
            "classes",
            format!("{:?}", classes.dim()),
            format!("must have the grey volume's shape {:?}", grey.dim()),
        ));
    }
    if !(3..=255).contains(&k) || classes.iter().any(|&c| c as usize >= k) {
        return Err(ParamError::new(
            "classes",
            k,
            "rim correction needs 3 or more classes (a phase between a dark and a bright one)",
        ));
    }
    let (before, means) = super::threshold::class_stats(grey, classes.view(), k);
    let split = |a: usize, b: usize| 0.5 * (means[a] + means[b]);
    // per slice: pixels reassigned per (a, b) pair
    let counts: Vec<Vec<u64>> = classes
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(z, mut cz)| {
            let gz = grey.index_axis(Axis(0), z);
            let pairs = transitions(cz.view(), p.max_run_px);
            let mut n = vec![0u64; k * k];
            for ((iy, ix), pr) in pairs.indexed_iter() {
                if let Some((a, b)) = *pr {
                    let (a, b) = (a as usize, b as usize);
                    let c = if gz[[iy, ix]] as f64 <= split(a, b) {
                        a
                    } else {
                        b
                    };
                    cz[[iy, ix]] = c as u8;
                    n[a * k + b] += 1;
                }
            }
            n
        })
        .collect();
    let mut pair_n = vec![0u64; k * k];
    for n in &counts {
        for (t, v) in pair_n.iter_mut().zip(n) {
            *t += v;
        }
    }
    let total: u64 = before.iter().sum();
    let mut splits = Vec::new();
    for a in 0..k {
        for b in a + 1..k {
            if pair_n[a * k + b] > 0 {
                splits.push(RimSplit {
                    lower_class: a,
                    upper_class: b,
                    threshold: split(a, b),
                    pixels: pair_n[a * k + b],
                });
            }
        }
    }
    // fractions after, counted again (exact)
    let mut cnt = vec![0u64; k];
    for &c in classes.iter() {
        cnt[c as usize] += 1;
    }
    let frac =
        |v: &[u64]| -> Vec<f64> { v.iter().map(|&n| n as f64 / total.max(1) as f64).collect() };
    Ok(RimReport {
        max_run_px: p.max_run_px,
        directions: "image rows and columns, slice by slice".into(),
        class_means: means,
        splits,
        reassigned: pair_n.iter().sum(),
        fractions_before: frac(&before),
        fractions_after: frac(&cnt),
    })
}

/// Per pixel of one slice: `Some((a, b))` when it lies on a run of its class no longer than `max`
/// with the darker class `a` at one end and the brighter class `b` at the other, along its row or
/// its column (rows first).
fn transitions(c: ArrayView2<u8>, max: usize) -> Array2<Option<(u8, u8)>> {
    let mut out = Array2::from_elem(c.raw_dim(), None);
    for axis in [Axis(1), Axis(0)] {
        // lanes along `axis`: rows (x) first, then columns (y)
        for (line, mut o) in c.lanes(axis).into_iter().zip(out.lanes_mut(axis)) {
            mark_line(line, &mut o, max);
        }
    }
    out
}

/// Mark the short transition runs of one line (keeps earlier marks).
fn mark_line(
    line: ndarray::ArrayView1<u8>,
    out: &mut ndarray::ArrayViewMut1<Option<(u8, u8)>>,
    max: usize,
) {
    let n = line.len();
    let mut i = 0;
    while i < n {
        let c = line[i];
        let mut j = i + 1;
        while j < n && line[j] == c {
            j += 1;
        }
        // run [i, j) of class c
        if i > 0 && j < n && j - i <= max {
            let (l, r) = (line[i - 1], line[j]);
            let (a, b) = (l.min(r), l.max(r));
            if a < c && c < b {
                for v in out.slice_mut(ndarray::s![i..j]).iter_mut() {
                    if v.is_none() {
                        *v = Some((a, b));
                    }
                }
            }
        }
        i = j;
    }
}

/// Apply [`correct_rims`] to a label volume of `grey` (as f32) written with one label value per
/// class (in grey order, as [`crate::segment::segment_volume`] writes it).
pub fn correct_labels(
    grey: ArrayView3<f32>,
    labels: &mut LabelVolume,
    label_values: &[u8],
    p: &RimParams,
) -> Result<RimReport, ParamError> {
    let k = label_values.len();
    let mut class_of = [u8::MAX; 256];
    for (c, &l) in label_values.iter().enumerate() {
        if class_of[l as usize] != u8::MAX {
            return Err(ParamError::new(
                "labels",
                format!("{label_values:?}"),
                "rim correction needs a different label value per class",
            ));
        }
        class_of[l as usize] = c as u8;
    }
    if grey.shape() != labels.data.shape() {
        return Err(ParamError::new(
            "labels",
            format!("{:?}", labels.shape()),
            format!("must have the grey volume's shape {:?}", grey.dim()),
        ));
    }
    if let Some(&l) = labels
        .data
        .iter()
        .find(|&&l| class_of[l as usize] == u8::MAX)
    {
        return Err(ParamError::new(
            "labels",
            l,
            format!("is not one of the class labels {label_values:?}"),
        ));
    }
    let mut classes = labels.data.mapv(|l| class_of[l as usize]);
    let r = correct_rims(grey, &mut classes, k, p)?;
    Zip::from(&mut labels.data)
        .and(&classes)
        .par_for_each(|l, &c| *l = label_values[c as usize]);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Naive twin: for every pixel, walk along ±x and ±y to the first pixel of another class.
    fn naive(grey: &Array3<f32>, classes: &Array3<u8>, k: usize, max: usize) -> Array3<u8> {
        let (nz, ny, nx) = classes.dim();
        let mut sum = vec![0.0f64; k];
        let mut cnt = vec![0u64; k];
        for (g, c) in grey.iter().zip(classes.iter()) {
            sum[*c as usize] += *g as f64;
            cnt[*c as usize] += 1;
        }
        let m: Vec<f64> = (0..k).map(|c| sum[c] / cnt[c].max(1) as f64).collect();
        let mut out = classes.clone();
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let c = classes[[z, y, x]];
                    for (dy, dx) in [(0i64, 1i64), (1, 0)] {
                        let end = |s: i64| -> (Option<u8>, usize) {
                            let mut steps = 0;
                            let (mut yy, mut xx) = (y as i64, x as i64);
                            loop {
                                yy += s * dy;
                                xx += s * dx;
                                if yy < 0 || xx < 0 || yy >= ny as i64 || xx >= nx as i64 {
                                    return (None, steps);
                                }
                                let v = classes[[z, yy as usize, xx as usize]];
                                if v != c {
                                    return (Some(v), steps);
                                }
                                steps += 1;
                            }
                        };
                        let ((e1, s1), (e2, s2)) = (end(-1), end(1));
                        if let (Some(e1), Some(e2)) = (e1, e2) {
                            let (a, b) = (e1.min(e2), e1.max(e2));
                            if s1 + s2 < max && a < c && c < b {
                                let t = 0.5 * (m[a as usize] + m[b as usize]);
                                out[[z, y, x]] = if grey[[z, y, x]] as f64 <= t { a } else { b };
                                break;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_naive_twin_on_random_volumes() {
        let mut rng = Rng::new(7);
        for trial in 0..40 {
            let k = 3 + trial % 3;
            let shape = (2, 9 + trial % 5, 11 + trial % 7);
            // blocky classes so runs of several lengths occur
            let classes = Array3::from_shape_fn(shape, |_| (rng.next_u64() % k as u64) as u8);
            let mut classes = classes;
            for v in classes.iter_mut().step_by(3) {
                *v = (*v + 1).min(k as u8 - 1);
            }
            let grey = classes.mapv(|c| c as f32 * 30.0 + (rng.uniform() as f32) * 40.0);
            for max in 1..=3 {
                let want = naive(&grey, &classes, k, max);
                let mut got = classes.clone();
                correct_rims(grey.view(), &mut got, k, &RimParams { max_run_px: max }).unwrap();
                assert_eq!(got, want, "trial {trial} max {max}");
            }
        }
    }

    /// A slab of the intermediate phase thicker than `max_run_px` stays; a 2-pixel rim between
    /// the dark and the bright phase goes, split at the midpoint of the class means.
    #[test]
    fn thick_phase_stays_thin_rim_goes() {
        // along x: pore ×4 | binder ×3 | AM ×4 | rim (2) | pore ×4
        let row: Vec<(u8, f32)> = [
            vec![(0u8, 10.0f32); 4],
            vec![(1, 50.0); 3],
            vec![(2, 90.0); 4],
            vec![(1, 60.0), (1, 40.0)],
            vec![(0, 10.0); 4],
        ]
        .concat();
        let n = row.len();
        let grey = Array3::from_shape_fn((1, 3, n), |(_, _, x)| row[x].1);
        let mut c = Array3::from_shape_fn((1, 3, n), |(_, _, x)| row[x].0);
        let r = correct_rims(grey.view(), &mut c, 3, &RimParams::default()).unwrap();
        let line: Vec<u8> = c.slice(ndarray::s![0, 1, ..]).to_vec();
        assert_eq!(
            line,
            vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0],
            "{r:?}"
        );
        // means: pore 10, AM 90 → split at 50; 60 → AM, 40 → pore
        assert_eq!(r.splits.len(), 1);
        assert_eq!(r.splits[0].threshold, 50.0);
        assert_eq!(r.reassigned, 6);
    }

    /// Binder between two pores, or touching the border, is not an edge.
    #[test]
    fn same_side_and_border_runs_are_kept() {
        let row = [1u8, 0, 0, 1, 0, 0, 2, 1];
        let grey = Array3::from_shape_fn((1, 1, 8), |(_, _, x)| row[x] as f32 * 40.0);
        let mut c = Array3::from_shape_fn((1, 1, 8), |(_, _, x)| row[x]);
        let r = correct_rims(grey.view(), &mut c, 3, &RimParams::default()).unwrap();
        assert_eq!(c.as_slice().unwrap(), &row);
        assert_eq!(r.reassigned, 0);
    }

    /// A blurred disc of bright phase in a dark matrix: thresholding paints a ring of the middle
    /// class; the correction removes it and restores the disc's area within a pixel row.
    #[test]
    fn blurred_disc_keeps_its_area() {
        let (n, rad) = (64usize, 14.0f64);
        let sharp = Array2::from_shape_fn((n, n), |(y, x)| {
            let r = ((y as f64 - 31.7).powi(2) + (x as f64 - 32.2).powi(2)).sqrt();
            if r <= rad {
                0.68f32
            } else {
                0.12
            }
        });
        let blurred = crate::preprocess::denoise::gaussian_2d(sharp.view(), [1.0, 1.0], 4.0);
        let grey = blurred.insert_axis(Axis(0));
        let truth_area = sharp.iter().filter(|&&v| v > 0.4).count() as f64;
        // binder band 0.25 < g ≤ 0.53, as multi-Otsu puts it for levels 0.12 / 0.38 / 0.68
        let mut c = grey.mapv(|g| u8::from(g > 0.25) + u8::from(g > 0.53));
        let ring = c.iter().filter(|&&v| v == 1).count();
        assert!(ring > 50, "{ring}");
        correct_rims(grey.view(), &mut c, 3, &RimParams::default()).unwrap();
        assert_eq!(c.iter().filter(|&&v| v == 1).count(), 0);
        let area = c.iter().filter(|&&v| v == 2).count() as f64;
        let perimeter = 2.0 * std::f64::consts::PI * rad;
        assert!(
            (area - truth_area).abs() < 0.1 * perimeter,
            "area {area} vs {truth_area}"
        );
    }

    #[test]
    fn bad_input_is_a_param_error() {
        let g = Array3::<f32>::zeros((1, 2, 2));
        let mut c = Array3::<u8>::zeros((1, 2, 2));
        assert!(correct_rims(g.view(), &mut c, 2, &RimParams::default()).is_err());
        assert!(correct_rims(g.view(), &mut c, 3, &RimParams { max_run_px: 0 }).is_err());
        let mut wrong = Array3::<u8>::zeros((1, 2, 3));
        assert!(correct_rims(g.view(), &mut wrong, 3, &RimParams::default()).is_err());
        let mut big = Array3::<u8>::from_elem((1, 2, 2), 5);
        assert!(correct_rims(g.view(), &mut big, 3, &RimParams::default()).is_err());
    }
}
