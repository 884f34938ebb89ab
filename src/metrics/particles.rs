//! Discrete particles of a phase (methods §8).
//!
//! Particles are the connected components of the phase (6- or 26-connectivity), optionally split
//! where particles touch by a marker-controlled distance-transform watershed. Per particle:
//! volume, equivalent spherical diameter, surface area (13-direction Crofton estimator, see
//! [`super::surface`], plus face counting for comparison), sphericity, centroid, bounding box,
//! border flag, and the distance to the nearest other particle centroid (k-d tree, `kiddo`).
//!
//! Particles are labelled by the crate's one connected-component labeller,
//! [`label_components`] (run-based union–find, numbered by each particle's first voxel in
//! raster order).
//!
//! Surface of a particle: the closed surface of its voxel set — transitions to other labels and
//! to the outside of the box both count (so a particle cut by the box boundary includes the cut
//! face; such particles have `touches_border = true`).

use super::components::label_components;
use super::edt::{check_voxel, edt, phase_mask};
use super::surface::{crofton_directions, CROFTON};
use crate::error::{positive, ParamError};
use ndarray::{Array3, ArrayView3};
use serde::Serialize;
use std::collections::VecDeque;

pub use crate::volume::Connectivity;

impl Connectivity {
    /// From 6 or 26, the connectivities of a particle analysis (methods §8); 18 is refused.
    ///
    /// ```
    /// use fibstack::metrics::particles::Connectivity;
    /// assert_eq!(Connectivity::from_number(26).unwrap(), Connectivity::TwentySix);
    /// assert!(Connectivity::from_number(18).is_err());
    /// ```
    pub fn from_number(n: u32) -> Result<Self, ParamError> {
        match n {
            6 | 26 => Connectivity::from_n(n),
            _ => Err(ParamError::new(
                "connectivity",
                n,
                "particles use 6 (faces) or 26 (faces, edges, corners) connectivity",
            )),
        }
    }
}

/// Neighbour offsets of `conn` as signed index steps.
fn offsets(conn: Connectivity) -> Vec<[isize; 3]> {
    conn.offsets()
        .into_iter()
        .map(|o| o.map(|v| v as isize))
        .collect()
}

/// Options for [`particles`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParticleOptions {
    /// Connectivity of a particle's voxels.
    pub connectivity: Connectivity,
    /// Split touching particles by distance-transform watershed.
    pub split: bool,
    /// Watershed markers: maxima of the EDT within this distance (nm, per axis box); `None` = 3
    /// voxels of the smallest spacing.
    pub min_separation_nm: Option<f64>,
}

impl Default for ParticleOptions {
    fn default() -> Self {
        ParticleOptions {
            connectivity: Connectivity::TwentySix,
            split: false,
            min_separation_nm: None,
        }
    }
}

/// Labels of particles: 0 = not a particle, 1..=n, numbered in raster order of each particle's
/// first voxel ([`label_components`]).
///
/// ```
/// use fibstack::metrics::particles::{label_particles, Connectivity};
/// use ndarray::Array3;
/// let mut m = Array3::from_elem((1, 3, 3), false);
/// m[[0, 0, 0]] = true;
/// m[[0, 1, 1]] = true; // diagonal neighbour
/// assert_eq!(label_particles(m.view(), Connectivity::Six).unwrap().1, 2);
/// assert_eq!(label_particles(m.view(), Connectivity::TwentySix).unwrap().1, 1);
/// ```
pub fn label_particles(
    mask: ArrayView3<'_, bool>,
    conn: Connectivity,
) -> Result<(Array3<u32>, u32), ParamError> {
    let c = label_components(mask, conn)?;
    let n = c.count() as u32;
    Ok((c.labels, n))
}

#[inline]
fn step(p: [usize; 3], o: [isize; 3], dims: [usize; 3]) -> Option<[usize; 3]> {
    let mut q = [0usize; 3];
    for i in 0..3 {
        let v = p[i] as isize + o[i];
        if v < 0 || v >= dims[i] as isize {
            return None;
        }
        q[i] = v as usize;
    }
    Some(q)
}

/// Marker-controlled watershed of `mask` on the negated distance transform.
///
/// Markers: voxels whose EDT is the maximum of the EDT within a box of half-widths
/// `floor(min_separation_nm / d_i)` voxels (at least 1), grouped into 26-connected plateaus, one
/// marker each. Flooding: priority flood from the markers in order of decreasing EDT
/// (hierarchical queue over the distinct EDT values, FIFO within a level), over `conn`
/// neighbours inside the mask. Phase voxels no marker reaches (possible when a larger
/// maximum of another particle suppressed this particle's peak) are labelled as extra particles by
/// flood fill. Returns labels 1..=n and n.
pub fn watershed_split(
    mask: ArrayView3<'_, bool>,
    voxel_nm: [f64; 3],
    min_separation_nm: f64,
    conn: Connectivity,
) -> Result<(Array3<u32>, u32), ParamError> {
    check_voxel(voxel_nm)?;
    positive("min separation (nm)", min_separation_nm)?;
    let (nz, ny, nx) = mask.dim();
    let dims = [nz, ny, nx];
    let d = edt(mask, voxel_nm)?;
    if d.iter().any(|v| v.is_infinite()) {
        // no background at all: one particle filling the volume
        return label_particles(mask, conn);
    }
    // a box wider than the volume is the volume (the filter clamps to it): same result
    let k: Vec<usize> = voxel_nm
        .iter()
        .zip(dims)
        .map(|(s, n)| ((min_separation_nm / s).floor() as usize).clamp(1, n.max(1)))
        .collect();
    let mx = max_filter(&d, [k[0], k[1], k[2]]);
    let peaks = Array3::from_shape_fn(dims, |ix| mask[ix] && d[ix] > 0.0 && d[ix] >= mx[ix]);
    let (mut lab, nmarkers) = label_particles(peaks.view(), Connectivity::TwentySix)?;
    let offs = offsets(conn);
    // hierarchical queue over the distinct EDT values (exact order of levels, FIFO within a
    // level; a neighbour above the current level joins the current level)
    let mut levels: Vec<u32> = d
        .iter()
        .zip(mask.iter())
        .filter(|(_, &m)| m)
        .map(|(v, _)| v.to_bits())
        .collect();
    levels.sort_unstable();
    levels.dedup();
    let level = |v: f32| match levels.binary_search(&v.to_bits()) {
        Ok(i) | Err(i) => i.min(levels.len().saturating_sub(1)),
    };
    let mut buckets: Vec<VecDeque<[usize; 3]>> = vec![VecDeque::new(); levels.len()];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if lab[[z, y, x]] != 0 {
                    buckets[level(d[[z, y, x]])].push_back([z, y, x]);
                }
            }
        }
    }
    for cur in (0..levels.len()).rev() {
        while let Some(p) = buckets[cur].pop_front() {
            let l = lab[p];
            for o in &offs {
                if let Some(q) = step(p, *o, dims) {
                    if mask[q] && lab[q] == 0 {
                        lab[q] = l;
                        buckets[level(d[q]).min(cur)].push_back(q);
                    }
                }
            }
        }
    }
    // unreached voxels: own particles
    let rest = Array3::from_shape_fn(dims, |ix| mask[ix] && lab[ix] == 0);
    let (extra, nextra) = label_particles(rest.view(), conn)?;
    for (l, e) in lab.iter_mut().zip(extra.iter()) {
        if *e != 0 {
            *l = nmarkers + *e;
        }
    }
    Ok((lab, nmarkers + nextra))
}

/// Separable box maximum filter with half-widths `k` (voxels).
fn max_filter(a: &Array3<f32>, k: [usize; 3]) -> Array3<f32> {
    let mut cur = a.clone();
    for (axis, &ka) in k.iter().enumerate() {
        let src = cur.clone();
        let n = src.shape()[axis];
        ndarray::Zip::from(cur.lanes_mut(ndarray::Axis(axis)))
            .and(src.lanes(ndarray::Axis(axis)))
            .for_each(|mut o, s| {
                for i in 0..n {
                    let lo = i.saturating_sub(ka);
                    let hi = (i + ka).min(n - 1);
                    let mut m = f32::NEG_INFINITY;
                    for j in lo..=hi {
                        m = m.max(s[j]);
                    }
                    o[i] = m;
                }
            });
    }
    cur
}

/// One particle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Particle {
    /// Particle number (1-based, the value in the label volume).
    pub id: u32,
    /// Number of voxels.
    pub voxels: u64,
    /// Volume (nm³).
    pub volume_nm3: f64,
    /// Equivalent spherical diameter (6V/π)^(1/3) (nm).
    pub esd_nm: f64,
    /// Surface area, 13-direction Crofton estimator (nm²).
    pub surface_area_nm2: f64,
    /// Surface area by face counting (nm²), for comparison.
    pub surface_area_faces_nm2: f64,
    /// Wadell sphericity π^(1/3)(6V)^(2/3)/A with the Crofton area: 1 for a ball, smaller for
    /// any other shape. `None` for particles of fewer than [`SPHERICITY_MIN_VOXELS`] voxels, where
    /// the digital surface estimate is too coarse (a single voxel would read 1.61). Above that
    /// size the estimator's error is about 1 % (digital balls of 6–20 voxels radius read
    /// 0.99–1.003), so values above 1 can only be that error and are reported as 1.
    pub sphericity: Option<f64>,
    /// Centroid `[z, y, x]` (nm, voxel centres at `i·d`).
    pub centroid_nm: [f64; 3],
    /// Bounding box, first voxel `[z, y, x]` (inclusive).
    pub bbox_min: [usize; 3],
    /// Bounding box, last voxel `[z, y, x]` (inclusive).
    pub bbox_max: [usize; 3],
    /// True when the particle has a voxel on a face of the volume (it may be cut).
    pub touches_border: bool,
    /// Distance to the nearest other particle's centroid (nm); `None` when alone.
    pub nn_distance_nm: Option<f64>,
}

/// Summary of a particle analysis.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ParticleSummary {
    /// Label value measured.
    pub phase: u8,
    /// 6 or 26.
    pub connectivity: u32,
    /// Whether touching particles were split.
    pub split: bool,
    /// How particles were defined.
    pub method: String,
    /// Surface-area estimator.
    pub surface_method: String,
    /// Number of particles.
    pub count: u64,
    /// Particles not touching the volume border.
    pub count_interior: u64,
    /// Mean / median / std / min / max ESD over all particles (nm).
    pub esd_mean_nm: Option<f64>,
    /// Median ESD over all particles (nm).
    pub esd_median_nm: Option<f64>,
    /// Standard deviation of the ESD over all particles (population, n in the denominator; nm).
    pub esd_std_nm: Option<f64>,
    /// Smallest ESD (nm).
    pub esd_min_nm: Option<f64>,
    /// Largest ESD (nm).
    pub esd_max_nm: Option<f64>,
    /// Mean ESD of the particles not touching the border (nm).
    pub esd_mean_interior_nm: Option<f64>,
    /// Mean sphericity over the particles large enough to have one.
    pub sphericity_mean: Option<f64>,
    /// Mean / median nearest-neighbour centroid distance (nm); `None` with < 2 particles.
    pub nn_distance_mean_nm: Option<f64>,
    /// Median nearest-neighbour centroid distance (nm); `None` with < 2 particles.
    pub nn_distance_median_nm: Option<f64>,
    /// Voxel size used, `[dz, dy, dx]` nm.
    pub voxel_size_nm: [f64; 3],
    /// Remarks (e.g. empty phase).
    pub note: Option<String>,
}

/// Result of [`particles`]: the summary, every particle, and the label volume (u32).
#[derive(Debug, Clone)]
pub struct Particles {
    /// Summary numbers over all particles.
    pub summary: ParticleSummary,
    /// Every particle, in ascending label order ([`Particle::id`]).
    pub particles: Vec<Particle>,
    /// Particle label of every voxel `[z, y, x]` (0 = not the phase, otherwise [`Particle::id`]).
    pub labels: Array3<u32>,
}

/// Particles of the voxels of `labels` equal to `phase`.
///
/// ```
/// use fibstack::metrics::particles::{particles, ParticleOptions};
/// use ndarray::Array3;
/// let mut l = Array3::<u8>::zeros((5, 5, 5));
/// l[[1, 1, 1]] = 1;
/// l[[3, 3, 3]] = 1;
/// let p = particles(l.view(), 1, [2.0, 1.0, 1.0], &ParticleOptions::default()).unwrap();
/// assert_eq!(p.summary.count, 2);
/// assert_eq!(p.particles[0].volume_nm3, 2.0);
/// assert!((p.particles[0].nn_distance_nm.unwrap() - 24f64.sqrt()).abs() < 1e-9);
/// ```
pub fn particles(
    labels: ArrayView3<'_, u8>,
    phase: u8,
    voxel_nm: [f64; 3],
    opts: &ParticleOptions,
) -> Result<Particles, ParamError> {
    check_voxel(voxel_nm)?;
    let min_sep = match opts.min_separation_nm {
        Some(v) => positive("min separation (nm)", v)?,
        None => 3.0 * voxel_nm.iter().cloned().fold(f64::INFINITY, f64::min),
    };
    let mask = phase_mask(labels, phase);
    let (lab, n) = if opts.split {
        watershed_split(mask.view(), voxel_nm, min_sep, opts.connectivity)?
    } else {
        label_particles(mask.view(), opts.connectivity)?
    };
    let mut parts = measure(lab.view(), n, voxel_nm);
    nearest_neighbours(&mut parts);
    let method = if opts.split {
        format!(
            "connected components ({}-connectivity) split by marker-controlled watershed on the EDT; markers = 26-connected plateaus of EDT maxima within ±{min_sep} nm boxes",
            opts.connectivity.n()
        )
    } else {
        format!(
            "connected components ({}-connectivity), run-based union-find labelling",
            opts.connectivity.n()
        )
    };
    let summary = summarize(&parts, phase, opts, method, voxel_nm);
    Ok(Particles {
        summary,
        particles: parts,
        labels: lab,
    })
}

/// Smallest particle (voxels) given a sphericity: an equivalent diameter of about 12 voxels.
pub const SPHERICITY_MIN_VOXELS: u64 = 1000;

/// Wadell sphericity of a particle of `voxels` voxels, volume `v` and surface area `a` (see
/// [`Particle::sphericity`]).
///
/// ```
/// use fibstack::metrics::particles::sphericity;
/// assert_eq!(sphericity(1, 1.0, 3.0), None); // too small to tell
/// let r: f64 = 10.0;
/// let (v, a) = (4.0 / 3.0 * std::f64::consts::PI * r.powi(3), 4.0 * std::f64::consts::PI * r * r);
/// assert!((sphericity(5000, v, a).unwrap() - 1.0).abs() < 1e-12);
/// assert_eq!(sphericity(5000, v, 0.99 * a), Some(1.0)); // estimator error, not a shape
/// ```
pub fn sphericity(voxels: u64, v: f64, a: f64) -> Option<f64> {
    if voxels < SPHERICITY_MIN_VOXELS || a <= 0.0 {
        return None;
    }
    Some((std::f64::consts::PI.cbrt() * (6.0 * v).powf(2.0 / 3.0) / a).min(1.0))
}

/// Per-particle measurements from a label volume with labels 1..=n.
pub fn measure(lab: ArrayView3<'_, u32>, n: u32, voxel_nm: [f64; 3]) -> Vec<Particle> {
    let (nz, ny, nx) = lab.dim();
    let dims = [nz, ny, nx];
    let n = n as usize;
    let vvox = voxel_nm[0] * voxel_nm[1] * voxel_nm[2];
    let face = [
        voxel_nm[1] * voxel_nm[2],
        voxel_nm[0] * voxel_nm[2],
        voxel_nm[0] * voxel_nm[1],
    ];
    // Crofton contribution of one transition along each of the 26 offsets (± pairs share weight)
    let dirs = crofton_directions(voxel_nm);
    let mut offs: Vec<([isize; 3], f64)> = Vec::with_capacity(26);
    for d in &dirs {
        let c = 2.0 * d.weight * vvox / d.length_nm;
        offs.push((d.offset, c));
        offs.push(([-d.offset[0], -d.offset[1], -d.offset[2]], c));
    }
    let mut count = vec![0u64; n + 1];
    let mut sum = vec![[0f64; 3]; n + 1];
    let mut bmin = vec![[usize::MAX; 3]; n + 1];
    let mut bmax = vec![[0usize; 3]; n + 1];
    let mut border = vec![false; n + 1];
    let mut acro = vec![0f64; n + 1];
    let mut afac = vec![0f64; n + 1];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let l = lab[[z, y, x]] as usize;
                if l == 0 || l > n {
                    continue;
                }
                let p = [z, y, x];
                count[l] += 1;
                for i in 0..3 {
                    sum[l][i] += p[i] as f64;
                    bmin[l][i] = bmin[l][i].min(p[i]);
                    bmax[l][i] = bmax[l][i].max(p[i]);
                    if p[i] == 0 || p[i] + 1 == dims[i] {
                        border[l] = true;
                    }
                }
                for (o, c) in &offs {
                    let other = step(p, *o, dims).map(|q| lab[q] as usize);
                    if other != Some(l) {
                        acro[l] += c;
                        let nnz = o.iter().filter(|&&v| v != 0).count();
                        if nnz == 1 {
                            let axis = o.iter().position(|&v| v != 0).unwrap_or(0);
                            afac[l] += face[axis];
                        }
                    }
                }
            }
        }
    }
    (1..=n)
        .filter(|&l| count[l] > 0)
        .map(|l| {
            let v = count[l] as f64 * vvox;
            let esd = (6.0 * v / std::f64::consts::PI).cbrt();
            let a = acro[l];
            let sph = sphericity(count[l], v, a);
            let c = count[l] as f64;
            Particle {
                id: l as u32,
                voxels: count[l],
                volume_nm3: v,
                esd_nm: esd,
                surface_area_nm2: a,
                surface_area_faces_nm2: afac[l],
                sphericity: sph,
                centroid_nm: [
                    sum[l][0] / c * voxel_nm[0],
                    sum[l][1] / c * voxel_nm[1],
                    sum[l][2] / c * voxel_nm[2],
                ],
                bbox_min: bmin[l],
                bbox_max: bmax[l],
                touches_border: border[l],
                nn_distance_nm: None,
            }
        })
        .collect()
}

/// Fill `nn_distance_nm` with the distance to the nearest other centroid (kiddo k-d tree).
pub fn nearest_neighbours(parts: &mut [Particle]) {
    if parts.len() < 2 {
        return;
    }
    let pts: Vec<[f64; 3]> = parts.iter().map(|p| p.centroid_nm).collect();
    let tree: kiddo::ImmutableKdTree<f64, 3> = kiddo::ImmutableKdTree::new_from_slice(&pts);
    for (i, p) in parts.iter_mut().enumerate() {
        let nn = tree.nearest_n::<kiddo::SquaredEuclidean>(&pts[i], 2);
        // the query point itself is among the results (distance 0); take the other one
        let d = nn
            .iter()
            .filter(|n| n.item as usize != i)
            .map(|n| n.distance)
            .fold(f64::INFINITY, f64::min);
        p.nn_distance_nm = if d.is_finite() { Some(d.sqrt()) } else { None };
    }
}

fn mean_std(v: &[f64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    (Some(m), Some(s))
}

/// Median of a list (mean of the two middle values for even lengths).
pub(crate) fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    })
}

fn summarize(
    parts: &[Particle],
    phase: u8,
    opts: &ParticleOptions,
    method: String,
    voxel_nm: [f64; 3],
) -> ParticleSummary {
    let esd: Vec<f64> = parts.iter().map(|p| p.esd_nm).collect();
    let esd_in: Vec<f64> = parts
        .iter()
        .filter(|p| !p.touches_border)
        .map(|p| p.esd_nm)
        .collect();
    let sph: Vec<f64> = parts.iter().filter_map(|p| p.sphericity).collect();
    let nn: Vec<f64> = parts.iter().filter_map(|p| p.nn_distance_nm).collect();
    let (esd_mean, esd_std) = mean_std(&esd);
    ParticleSummary {
        phase,
        connectivity: opts.connectivity.n(),
        split: opts.split,
        method,
        surface_method: CROFTON.to_string(),
        count: parts.len() as u64,
        count_interior: esd_in.len() as u64,
        esd_mean_nm: esd_mean,
        esd_median_nm: median(&esd),
        esd_std_nm: esd_std,
        esd_min_nm: esd.iter().cloned().reduce(f64::min),
        esd_max_nm: esd.iter().cloned().reduce(f64::max),
        esd_mean_interior_nm: mean_std(&esd_in).0,
        sphericity_mean: mean_std(&sph).0,
        nn_distance_mean_nm: mean_std(&nn).0,
        nn_distance_median_nm: median(&nn),
        voxel_size_nm: voxel_nm,
        note: if parts.is_empty() {
            Some(format!("phase {phase} has no voxels: no particles"))
        } else {
            None
        },
    }
}

/// Write the particle table as CSV (columns documented in docs/sizes.md).
pub fn write_particles_csv<W: std::io::Write>(parts: &[Particle], w: W) -> Result<(), csv::Error> {
    write_particles_csv_in(parts, "nm", w)
}

/// [`write_particles_csv`] with the length unit of the columns (`"nm"`, or `"voxel"` for an
/// uncalibrated volume measured with `--allow-uncalibrated`: `volume_voxel3`, `esd_voxel` …).
pub fn write_particles_csv_in<W: std::io::Write>(
    parts: &[Particle],
    unit: &str,
    w: W,
) -> Result<(), csv::Error> {
    let mut wr = csv::Writer::from_writer(w);
    let header = [
        "id",
        "voxels",
        "volume_nm3",
        "esd_nm",
        "surface_area_nm2",
        "surface_area_faces_nm2",
        "sphericity",
        "centroid_z_nm",
        "centroid_y_nm",
        "centroid_x_nm",
        "bbox_z0",
        "bbox_y0",
        "bbox_x0",
        "bbox_z1",
        "bbox_y1",
        "bbox_x1",
        "touches_border",
        "nn_distance_nm",
    ];
    wr.write_record(header.iter().map(|h| h.replace("_nm", &format!("_{unit}"))))?;
    for p in parts {
        wr.write_record([
            p.id.to_string(),
            p.voxels.to_string(),
            p.volume_nm3.to_string(),
            p.esd_nm.to_string(),
            p.surface_area_nm2.to_string(),
            p.surface_area_faces_nm2.to_string(),
            p.sphericity.map(|v| v.to_string()).unwrap_or_default(),
            p.centroid_nm[0].to_string(),
            p.centroid_nm[1].to_string(),
            p.centroid_nm[2].to_string(),
            p.bbox_min[0].to_string(),
            p.bbox_min[1].to_string(),
            p.bbox_min[2].to_string(),
            p.bbox_max[0].to_string(),
            p.bbox_max[1].to_string(),
            p.bbox_max[2].to_string(),
            p.touches_border.to_string(),
            p.nn_distance_nm.map(|d| d.to_string()).unwrap_or_default(),
        ])?;
    }
    wr.flush()?;
    Ok(())
}
