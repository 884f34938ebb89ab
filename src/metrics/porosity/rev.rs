//! Sub-volume statistics: box counts, windowed statistics and the representative-volume (REV)
//! curve.

use super::fractions::histogram;
use super::{check_nonempty, Axis, Units};
use crate::error::ParamError;
use crate::volume::VoxelSize;
use ndarray::{ArrayView3, Axis as NdAxis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Voxel counts of `phase` in boxes of size `len = [lz, ly, lx]` starting at every combination of
/// `starts[0] × starts[1] × starts[2]` (row-major over z, y, x). Separable: prefix sums along x per
/// row, then along y and z on the reduced arrays — O(N) regardless of box size.
pub fn box_counts(
    labels: ArrayView3<u8>,
    phase: u8,
    len: [usize; 3],
    starts: &[Vec<usize>; 3],
) -> Vec<u64> {
    let s = labels.shape();
    let (nz, ny) = (s[0], s[1]);
    let (kz, ky, kx) = (starts[0].len(), starts[1].len(), starts[2].len());
    // step 1: per (z, y) row, counts in x windows -> a[z][y*kx + i]
    let a: Vec<Vec<u32>> = labels
        .axis_iter(NdAxis(0))
        .into_par_iter()
        .map(|sl| {
            let mut out = vec![0u32; ny * kx];
            let mut pre = vec![0u32; s[2] + 1];
            for (y, row) in sl.outer_iter().enumerate() {
                for (x, &v) in row.iter().enumerate() {
                    pre[x + 1] = pre[x] + (v == phase) as u32;
                }
                for (i, &sx) in starts[2].iter().enumerate() {
                    out[y * kx + i] = pre[sx + len[2]] - pre[sx];
                }
            }
            out
        })
        .collect();
    // step 2: along y -> b[z][j*kx + i]
    let b: Vec<Vec<u64>> = a
        .par_iter()
        .map(|az| {
            let mut out = vec![0u64; ky * kx];
            let mut pre = vec![0u64; ny + 1];
            for i in 0..kx {
                for y in 0..ny {
                    pre[y + 1] = pre[y] + az[y * kx + i] as u64;
                }
                for (j, &sy) in starts[1].iter().enumerate() {
                    out[j * kx + i] = pre[sy + len[1]] - pre[sy];
                }
            }
            out
        })
        .collect();
    // step 3: along z
    let mut out = vec![0u64; kz * ky * kx];
    let mut pre = vec![0u64; nz + 1];
    for m in 0..ky * kx {
        for z in 0..nz {
            pre[z + 1] = pre[z] + b[z][m];
        }
        for (k, &sz) in starts[0].iter().enumerate() {
            out[k * ky * kx + m] = pre[sz + len[0]] - pre[sz];
        }
    }
    out
}

/// Summary statistics of sub-volume fractions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of values summarised.
    pub n: usize,
    /// Mean of the values (fractions, unit "1").
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator; 0 when n = 1).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

pub(super) fn stats(v: &[f64]) -> Stats {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    Stats {
        n,
        mean,
        std: var.sqrt(),
        min: v.iter().cloned().fold(f64::INFINITY, f64::min),
        max: v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// Voxels per axis for a cube of physical edge `edge` (length units), clipped to `[1, n]`.
fn edge_voxels(edge: f64, scale: [f64; 3], shape: &[usize]) -> [usize; 3] {
    let mut l = [1usize; 3];
    for a in 0..3 {
        l[a] = ((edge / scale[a]).round() as usize).clamp(1, shape[a]);
    }
    l
}

/// One window of a windowed-statistics grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Index of the window's first voxel `[z, y, x]`.
    pub origin: [usize; 3],
    /// Fraction of the phase in the window.
    pub fraction: f64,
}

/// Phase fraction over a grid of non-overlapping windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// The phase label measured.
    pub phase: u8,
    /// Requested window edge (length unit).
    pub edge: f64,
    /// Window size in voxels `[lz, ly, lx]` (edge / voxel size, rounded, clipped to the volume).
    pub window_voxels: [usize; 3],
    /// Window size in length units `[z, y, x]`.
    pub window_size: [f64; 3],
    /// Unit of lengths: `"nm"` when calibrated, `"voxel"` otherwise.
    pub length_unit: String,
    /// Statistics over complete windows (partial windows at the far faces are dropped).
    pub stats: Stats,
    /// Every window (CSV only; left out of JSON).
    #[serde(skip)]
    pub windows: Vec<Window>,
    /// Remarks (uncalibrated voxel size, window clipped to the volume); `None` when there are none.
    pub note: Option<String>,
}

impl WindowStats {
    /// CSV: `origin_z, origin_y, origin_x` (voxel indices), `fraction`.
    pub fn write_csv<W: std::io::Write>(&self, w: W) -> Result<(), csv::Error> {
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record([
            "origin_z_index",
            "origin_y_index",
            "origin_x_index",
            "fraction",
        ])?;
        for win in &self.windows {
            wr.write_record([
                win.origin[0].to_string(),
                win.origin[1].to_string(),
                win.origin[2].to_string(),
                format!("{}", win.fraction),
            ])?;
        }
        wr.flush()?;
        Ok(())
    }
}

/// Fraction of `phase` in a grid of non-overlapping cubic windows of edge `edge_nm` (nm; voxels when
/// the voxel size is uncalibrated), starting at the origin; windows that would cross the far faces
/// are dropped. A window longer than an axis is clipped to the axis (and noted).
pub fn window_stats(
    labels: ArrayView3<u8>,
    phase: u8,
    edge_nm: f64,
    voxel: &VoxelSize,
) -> Result<WindowStats, ParamError> {
    check_nonempty(labels.shape())?;
    crate::error::positive("window edge", edge_nm)?;
    let units = Units::from_voxel(voxel)?;
    let s = labels.shape();
    let l = edge_voxels(edge_nm, units.scale, s);
    let starts: [Vec<usize>; 3] =
        std::array::from_fn(|a| (0..s[a] / l[a]).map(|i| i * l[a]).collect());
    let c = box_counts(labels, phase, l, &starts);
    let vol = (l[0] * l[1] * l[2]) as f64;
    let mut windows = Vec::with_capacity(c.len());
    let mut m = 0;
    for &z in &starts[0] {
        for &y in &starts[1] {
            for &x in &starts[2] {
                windows.push(Window {
                    origin: [z, y, x],
                    fraction: c[m] as f64 / vol,
                });
                m += 1;
            }
        }
    }
    let fr: Vec<f64> = windows.iter().map(|w| w.fraction).collect();
    let mut note = units.note.clone();
    let clipped: Vec<&str> = (0..3)
        .filter(|&a| (edge_nm / units.scale[a]).round() as usize > s[a])
        .map(|a| Axis::ALL[a].name())
        .collect();
    if !clipped.is_empty() {
        let t = format!(
            "window longer than the volume along {}: clipped to the full axis",
            clipped.join(", ")
        );
        note = Some(note.map_or(t.clone(), |n| format!("{n}; {t}")));
    }
    Ok(WindowStats {
        phase,
        edge: edge_nm,
        window_voxels: l,
        window_size: std::array::from_fn(|a| l[a] as f64 * units.scale[a]),
        length_unit: units.length.clone(),
        stats: stats(&fr),
        windows,
        note,
    })
}

/// One point of the representative-volume curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevPoint {
    /// Requested cube edge (length unit).
    pub edge: f64,
    /// Sub-volume size in voxels `[lz, ly, lx]`.
    pub window_voxels: [usize; 3],
    /// Fraction statistics over the sampled sub-volumes.
    pub stats: Stats,
}

/// Fraction and its spread versus sub-cube edge length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevCurve {
    /// The phase label measured.
    pub phase: u8,
    /// Fraction in the whole volume.
    pub fraction: f64,
    /// Unit of lengths: `"nm"` when calibrated, `"voxel"` otherwise.
    pub length_unit: String,
    /// Sampling rule, in words.
    pub method: String,
    /// One point per cube edge length, smallest first.
    pub points: Vec<RevPoint>,
    /// Remarks on the result (e.g. uncalibrated voxel size); `None` when there are none.
    pub note: Option<String>,
}

/// Representative-volume curve: for `n_sizes` cube edges spaced geometrically from 2 voxels (of the
/// coarsest axis) to the shortest box side, the fraction of `phase` in sub-cubes placed on an even
/// grid of positions (per axis `k = min(n − l + 1, ceil(2n / l), 16)` positions from 0 to n − l,
/// so cubes overlap by about half), with mean, sample std, min and max.
pub fn rev_curve(
    labels: ArrayView3<u8>,
    phase: u8,
    voxel: &VoxelSize,
    n_sizes: usize,
) -> Result<RevCurve, ParamError> {
    check_nonempty(labels.shape())?;
    if n_sizes == 0 || n_sizes > 1000 {
        return Err(ParamError::new(
            "REV sizes",
            n_sizes,
            "must be between 1 and 1000",
        ));
    }
    let units = Units::from_voxel(voxel)?;
    let s = labels.shape();
    let sc = units.scale;
    let emin = 2.0 * sc.iter().cloned().fold(0.0, f64::max);
    let emax = (0..3)
        .map(|a| s[a] as f64 * sc[a])
        .fold(f64::INFINITY, f64::min);
    let emin = emin.min(emax);
    let mut edges: Vec<f64> = (0..n_sizes)
        .map(|i| {
            if n_sizes == 1 {
                emax
            } else {
                emin * (emax / emin).powf(i as f64 / (n_sizes - 1) as f64)
            }
        })
        .collect();
    edges.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    let h = histogram(labels);
    let n: u64 = h.iter().sum();
    let mut points = Vec::new();
    let mut last: Option<[usize; 3]> = None;
    for e in edges {
        let l = edge_voxels(e, sc, s);
        if last == Some(l) {
            continue;
        }
        last = Some(l);
        let starts: [Vec<usize>; 3] = std::array::from_fn(|a| {
            let room = s[a] - l[a];
            let k = (room + 1).min(2 * s[a].div_ceil(l[a])).clamp(1, 16);
            if k == 1 {
                vec![room / 2]
            } else {
                (0..k)
                    .map(|i| ((i * room) as f64 / (k - 1) as f64).round() as usize)
                    .collect()
            }
        });
        let c = box_counts(labels, phase, l, &starts);
        let vol = (l[0] * l[1] * l[2]) as f64;
        let fr: Vec<f64> = c.iter().map(|&c| c as f64 / vol).collect();
        points.push(RevPoint {
            edge: e,
            window_voxels: l,
            stats: stats(&fr),
        });
    }
    Ok(RevCurve {
        phase,
        fraction: h[phase as usize] as f64 / n as f64,
        length_unit: units.length.clone(),
        method:
            "sub-cubes on an even grid of positions per axis (k = min(n-l+1, ceil(2n/l), 16)), \
                 edges geometric from 2 voxels to the shortest side"
                .into(),
        points,
        note: units.note,
    })
}

impl RevCurve {
    /// CSV: `edge_<unit>, lz, ly, lx, n_samples, mean, std, min, max`.
    pub fn write_csv<W: std::io::Write>(&self, w: W) -> Result<(), csv::Error> {
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record([
            format!("edge_{}", self.length_unit),
            "window_z_voxels".into(),
            "window_y_voxels".into(),
            "window_x_voxels".into(),
            "n_samples".into(),
            "mean_fraction".into(),
            "std_fraction".into(),
            "min_fraction".into(),
            "max_fraction".into(),
        ])?;
        for p in &self.points {
            wr.write_record([
                format!("{}", p.edge),
                p.window_voxels[0].to_string(),
                p.window_voxels[1].to_string(),
                p.window_voxels[2].to_string(),
                p.stats.n.to_string(),
                format!("{}", p.stats.mean),
                format!("{}", p.stats.std),
                format!("{}", p.stats.min),
                format!("{}", p.stats.max),
            ])?;
        }
        wr.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn box_counts_match_naive() {
        let a = Array3::from_shape_fn((7, 6, 9), |(z, y, x)| {
            ((z * 7 + y * 3 + x * x) % 4 == 0) as u8
        });
        let len = [3, 2, 4];
        let starts = [vec![0, 2, 4], vec![1, 4], vec![0, 5, 3]];
        let c = box_counts(a.view(), 1, len, &starts);
        let mut m = 0;
        for &z in &starts[0] {
            for &y in &starts[1] {
                for &x in &starts[2] {
                    let mut n = 0;
                    for dz in 0..len[0] {
                        for dy in 0..len[1] {
                            for dx in 0..len[2] {
                                n += (a[[z + dz, y + dy, x + dx]] == 1) as u64;
                            }
                        }
                    }
                    assert_eq!(c[m], n);
                    m += 1;
                }
            }
        }
    }
}
