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
        super::plot::PALETTE[(rank + 1) % super::plot::PALETTE.len()]
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
