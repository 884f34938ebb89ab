//! Ground-truth structures: label volumes with physical voxel size and known answers.
//!
//! Coordinates: the centre of voxel `[k, j, i]` lies at `(k·dz, j·dy, i·dx)` nm. Labels:
//! [`PORE`] = 0 everywhere; electrodes use [`ACTIVE`] = 1 and [`BINDER`] = 2; lithium deposits use
//! [`LITHIUM`] = 1 and [`COLLECTOR`] = 2. Height in deposits runs along −y: the current collector
//! occupies the bottom image rows (largest y), as in a FIB cross-section.
//!
//! Every generator is deterministic in its seed and independent of the number of threads.

use crate::error::{in_range, positive, ParamError};
use crate::rng::Rng;
use crate::volume::{LabelVolume, VoxelSize};
use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Pore / void label.
pub const PORE: u8 = 0;
/// Active material (electrode preset).
pub const ACTIVE: u8 = 1;
/// Carbon-binder domain (electrode preset).
pub const BINDER: u8 = 2;
/// Lithium metal (deposit preset).
pub const LITHIUM: u8 = 1;
/// Current collector (deposit preset).
pub const COLLECTOR: u8 = 2;
/// Solid label of the analytic shapes.
pub const SOLID: u8 = 1;

/// Largest number of voxels a generator accepts (2³¹).
pub const MAX_VOXELS: usize = 1 << 31;

/// Check a volume shape.
pub fn check_shape(shape: [usize; 3]) -> Result<(), ParamError> {
    for (i, n) in shape.iter().enumerate() {
        if *n == 0 {
            return Err(ParamError::new(
                format!("shape[{i}]"),
                n,
                "every dimension of --shape Z,Y,X must be at least 1",
            ));
        }
    }
    let total = shape[0]
        .checked_mul(shape[1])
        .and_then(|v| v.checked_mul(shape[2]));
    match total {
        Some(t) if t <= MAX_VOXELS => Ok(()),
        _ => Err(ParamError::new(
            "shape",
            format!("{}x{}x{}", shape[0], shape[1], shape[2]),
            format!("at most {MAX_VOXELS} voxels; use a smaller --shape"),
        )),
    }
}

fn check_voxel(voxel: &VoxelSize) -> Result<(), ParamError> {
    voxel.validate()
}

// ---------------------------------------------------------------------------------------------
// Electrode
// ---------------------------------------------------------------------------------------------

/// Parameters of the electrode-like structure: polydisperse particles of active material plus an
/// optional carbon-binder domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElectrodeParams {
    /// Target volume fraction of active material (label 1), in [0.02, 0.7].
    pub active_fraction: f64,
    /// Median particle radius (nm) of the log-normal size distribution (volume-equivalent radius).
    pub median_radius_nm: f64,
    /// Standard deviation of ln(radius), in [0, 1]; radii are truncated at ±2.5 of it.
    pub radius_log_sigma: f64,
    /// Ellipsoid aspect ratio (long / short semi-axis) in [1, 4]; 1 = spheres. Orientations random.
    pub aspect: f64,
    /// Allowed overlap in [0, 1]: two particles must keep centres ≥ (1 − overlap)·(r₁ + r₂) apart.
    pub max_overlap: f64,
    /// Target volume fraction of carbon binder (label 2) in [0, 0.4]; 0 = none. The binder fills
    /// the pore voxels closest to two particles at once (bridges at contacts, then shells).
    pub binder_fraction: f64,
}

impl Default for ElectrodeParams {
    fn default() -> Self {
        ElectrodeParams {
            active_fraction: 0.45,
            median_radius_nm: 160.0,
            radius_log_sigma: 0.3,
            aspect: 1.0,
            max_overlap: 0.15,
            binder_fraction: 0.10,
        }
    }
}

impl ElectrodeParams {
    /// Check ranges and consistency with the box and voxel size.
    pub fn validate(&self, shape: [usize; 3], voxel: &VoxelSize) -> Result<(), ParamError> {
        check_shape(shape)?;
        check_voxel(voxel)?;
        in_range("active_fraction", self.active_fraction, 0.02, 0.7)?;
        positive("median_radius_nm", self.median_radius_nm)?;
        in_range("radius_log_sigma", self.radius_log_sigma, 0.0, 1.0)?;
        in_range("aspect", self.aspect, 1.0, 4.0)?;
        in_range("max_overlap", self.max_overlap, 0.0, 1.0)?;
        in_range("binder_fraction", self.binder_fraction, 0.0, 0.4)?;
        if self.active_fraction + self.binder_fraction > 0.9 {
            return Err(ParamError::new(
                "active_fraction + binder_fraction",
                self.active_fraction + self.binder_fraction,
                "must be ≤ 0.9 so that some pore space is left",
            ));
        }
        let vmax = voxel.nm.iter().cloned().fold(0.0, f64::max);
        if self.median_radius_nm < vmax {
            return Err(ParamError::new(
                "median_radius_nm",
                self.median_radius_nm,
                format!("must be at least one voxel ({vmax} nm); raise it or use smaller voxels"),
            ));
        }
        let extent = (0..3)
            .map(|a| shape[a] as f64 * voxel.nm[a])
            .fold(f64::INFINITY, f64::min);
        if 2.0 * self.median_radius_nm > extent {
            return Err(ParamError::new(
                "median_radius_nm",
                self.median_radius_nm,
                format!("particles (diameter) must fit in the box's smallest extent {extent} nm; use a larger --shape or smaller radius"),
            ));
        }
        Ok(())
    }
}

/// One particle of active material.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Particle {
    /// 1-based particle number in placement order.
    pub id: u32,
    /// Centre `[z, y, x]` in nm.
    pub centre_nm: [f64; 3],
    /// Volume-equivalent sphere radius (nm).
    pub radius_nm: f64,
    /// Semi-axes `[short, short, long]` (nm); all equal for spheres.
    pub semi_axes_nm: [f64; 3],
    /// Unit vector `[z, y, x]` of the long axis.
    pub long_axis: [f64; 3],
    /// True when the particle is cut by the box border.
    pub touches_border: bool,
}

impl Particle {
    /// Squared "radial scale" q of point `p` (nm): q ≤ 1 inside; the surface distance along the
    /// ray from the centre is ≈ |p − c|·(1 − 1/√q) (exact for spheres).
    #[inline]
    fn quad(&self, p: [f64; 3]) -> (f64, f64) {
        let d = [
            p[0] - self.centre_nm[0],
            p[1] - self.centre_nm[1],
            p[2] - self.centre_nm[2],
        ];
        let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        let a = self.semi_axes_nm[0];
        let b = self.semi_axes_nm[2];
        if a == b {
            return (r2 / (a * a), r2);
        }
        let par = d[0] * self.long_axis[0] + d[1] * self.long_axis[1] + d[2] * self.long_axis[2];
        let perp2 = (r2 - par * par).max(0.0);
        (par * par / (b * b) + perp2 / (a * a), r2)
    }
    /// Approximate distance (nm) from `p` outside the particle to its surface (0 inside).
    #[inline]
    fn surface_distance(&self, p: [f64; 3]) -> f64 {
        let (q, r2) = self.quad(p);
        if q <= 1.0 {
            0.0
        } else {
            r2.sqrt() * (1.0 - 1.0 / q.sqrt())
        }
    }
    fn bounding_radius(&self) -> f64 {
        self.semi_axes_nm[2].max(self.semi_axes_nm[0])
    }
}

/// What the electrode generator achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElectrodeTruth {
    /// The parameters used.
    pub params: ElectrodeParams,
    /// Active-material fraction counted from the labels.
    pub active_fraction: f64,
    /// Binder fraction counted from the labels.
    pub binder_fraction: f64,
    /// False when placement stopped before the target fraction (too little room for the overlap
    /// limit); then `active_fraction` < target.
    pub reached_target: bool,
    /// Number of particles placed.
    pub particle_count: usize,
    /// Mean volume-equivalent radius (nm) of the placed particles.
    pub mean_radius_nm: f64,
    /// The particles.
    pub particles: Vec<Particle>,
}

/// Uniform grid of particle indices for neighbour queries.
struct ParticleGrid {
    cell: f64,
    dims: [usize; 3],
    cells: Vec<Vec<u32>>,
}

impl ParticleGrid {
    fn new(extent_nm: [f64; 3], cell: f64) -> Self {
        let dims = [0, 1, 2].map(|a| ((extent_nm[a] / cell).ceil() as usize).clamp(1, 256));
        ParticleGrid {
            cell,
            dims,
            cells: vec![Vec::new(); dims[0] * dims[1] * dims[2]],
        }
    }
    fn cell_of(&self, p: [f64; 3]) -> [usize; 3] {
        [0, 1, 2].map(|a| ((p[a] / self.cell).floor().max(0.0) as usize).min(self.dims[a] - 1))
    }
    fn insert(&mut self, p: [f64; 3], id: u32) {
        let c = self.cell_of(p);
        self.cells[(c[0] * self.dims[1] + c[1]) * self.dims[2] + c[2]].push(id);
    }
    /// Indices in cells within `reach` nm of `p`.
    fn for_each_near(&self, p: [f64; 3], reach: f64, mut f: impl FnMut(u32)) {
        let lo = [0, 1, 2].map(|a| {
            ((p[a] - reach) / self.cell)
                .floor()
                .clamp(0.0, (self.dims[a] - 1) as f64) as usize
        });
        let hi = [0, 1, 2].map(|a| {
            ((p[a] + reach) / self.cell)
                .floor()
                .clamp(0.0, (self.dims[a] - 1) as f64) as usize
        });
        for cz in lo[0]..=hi[0] {
            for cy in lo[1]..=hi[1] {
                for cx in lo[2]..=hi[2] {
                    for &id in &self.cells[(cz * self.dims[1] + cy) * self.dims[2] + cx] {
                        f(id);
                    }
                }
            }
        }
    }
}

const TAG_ELECTRODE: u64 = 0x454C_4543_0000_0001;
const TAG_DEPOSIT: u64 = 0x4C49_4445_0000_0002;

/// Electrode-like structure: particles of active material (label 1) placed at random until the
/// target fraction is reached, then carbon binder (label 2) in the pore voxels nearest to two
/// particles at once. Returns the labels and what was achieved (particle list with radii in nm).
pub fn electrode(
    p: &ElectrodeParams,
    shape: [usize; 3],
    voxel: VoxelSize,
    seed: u64,
) -> Result<(LabelVolume, ElectrodeTruth), ParamError> {
    p.validate(shape, &voxel)?;
    let d = voxel.nm;
    let extent = [0, 1, 2].map(|a| shape[a] as f64 * d[a]);
    let total = shape[0] * shape[1] * shape[2];
    let target = (p.active_fraction * total as f64).round() as usize;
    let mut data = Array3::<u8>::zeros(shape);
    let mut rng = Rng::stream(seed ^ TAG_ELECTRODE, 0);
    let rmin = p.median_radius_nm * (-2.5 * p.radius_log_sigma).exp();
    let rmax = p.median_radius_nm * (2.5 * p.radius_log_sigma).exp();
    let bound_max = rmax * p.aspect.powf(2.0 / 3.0);
    let mut grid = ParticleGrid::new(extent, (2.0 * bound_max).max(d[0].max(d[1]).max(d[2])));
    let mut particles: Vec<Particle> = Vec::new();
    let mut painted = 0usize;
    let mut failures = 0usize;
    let max_failures = 20_000usize;
    let mut reached = target == 0;
    while !reached && failures < max_failures {
        // log-normal radius, truncated by resampling
        let r = loop {
            let r = p.median_radius_nm * (p.radius_log_sigma * rng.normal()).exp();
            if (rmin..=rmax).contains(&r) {
                break r;
            }
        };
        let c = [0, 1, 2].map(|a| rng.uniform() * extent[a]);
        let (axis, semi) = if p.aspect > 1.0 {
            let zc = 2.0 * rng.uniform() - 1.0;
            let phi = 2.0 * std::f64::consts::PI * rng.uniform();
            let s = (1.0 - zc * zc).max(0.0).sqrt();
            let short = r / p.aspect.powf(1.0 / 3.0);
            (
                [zc, s * phi.sin(), s * phi.cos()],
                [short, short, short * p.aspect],
            )
        } else {
            ([1.0, 0.0, 0.0], [r, r, r])
        };
        let cand = Particle {
            id: particles.len() as u32 + 1,
            centre_nm: c,
            radius_nm: r,
            semi_axes_nm: semi,
            long_axis: axis,
            touches_border: false,
        };
        // overlap check (on volume-equivalent radii)
        let mut ok = true;
        if p.max_overlap < 1.0 {
            let reach = r + rmax;
            grid.for_each_near(c, reach, |id| {
                if !ok {
                    return;
                }
                let o = &particles[id as usize];
                let dist = ((o.centre_nm[0] - c[0]).powi(2)
                    + (o.centre_nm[1] - c[1]).powi(2)
                    + (o.centre_nm[2] - c[2]).powi(2))
                .sqrt();
                if dist < (1.0 - p.max_overlap) * (r + o.radius_nm) {
                    ok = false;
                }
            });
        }
        if !ok {
            failures += 1;
            continue;
        }
        failures = 0;
        let mut cand = cand;
        let br = cand.bounding_radius();
        let lo = [0, 1, 2].map(|a| ((c[a] - br) / d[a]).floor());
        let hi = [0, 1, 2].map(|a| ((c[a] + br) / d[a]).ceil());
        cand.touches_border = (0..3).any(|a| lo[a] < 0.0 || hi[a] > (shape[a] - 1) as f64);
        let lo = [0, 1, 2].map(|a| lo[a].max(0.0) as usize);
        let hi = [0, 1, 2].map(|a| (hi[a].max(0.0) as usize).min(shape[a] - 1));
        for k in lo[0]..=hi[0] {
            for j in lo[1]..=hi[1] {
                for i in lo[2]..=hi[2] {
                    let v = &mut data[[k, j, i]];
                    if *v == PORE {
                        let q = cand
                            .quad([k as f64 * d[0], j as f64 * d[1], i as f64 * d[2]])
                            .0;
                        if q <= 1.0 {
                            *v = ACTIVE;
                            painted += 1;
                        }
                    }
                }
            }
        }
        grid.insert(c, cand.id - 1);
        particles.push(cand);
        if painted >= target {
            reached = true;
        }
    }
    let n_binder = (p.binder_fraction * total as f64).round() as usize;
    let binder_painted = if n_binder > 0 {
        add_binder(
            &mut data,
            &particles,
            &grid,
            voxel,
            0.5 * p.median_radius_nm,
            n_binder,
        )
    } else {
        0
    };
    let mean_radius_nm = if particles.is_empty() {
        0.0
    } else {
        particles.iter().map(|q| q.radius_nm).sum::<f64>() / particles.len() as f64
    };
    let truth = ElectrodeTruth {
        params: p.clone(),
        active_fraction: painted as f64 / total as f64,
        binder_fraction: binder_painted as f64 / total as f64,
        reached_target: reached,
        particle_count: particles.len(),
        mean_radius_nm,
        particles,
    };
    Ok((LabelVolume::new(data, voxel), truth))
}

/// Paint exactly `n` pore voxels (or all candidates, if fewer) as binder: those with the smallest
/// score d₁ + min(d₂, reach), where d₁ ≤ d₂ are the surface distances to the two nearest particles
/// (reach = half the median radius; voxels farther than reach from every particle never get binder).
/// Ties are broken by linear index, so the result is deterministic. Returns the count painted.
fn add_binder(
    data: &mut Array3<u8>,
    particles: &[Particle],
    grid: &ParticleGrid,
    voxel: VoxelSize,
    reach: f64,
    n: usize,
) -> usize {
    let d = voxel.nm;
    const BINS_PER_REACH: f64 = 4096.0;
    const NONE: u16 = u16::MAX;
    // coverage grid: each cell lists the particles whose surface may lie within `reach` of it
    let extent = [0, 1, 2].map(|a| data.shape()[a] as f64 * d[a]);
    let cell = (0.5 * reach).max(d[0].max(d[1]).max(d[2]));
    let dims = [0, 1, 2].map(|a| ((extent[a] / cell).ceil() as usize).clamp(1, 1024));
    let mut cover: Vec<Vec<u32>> = vec![Vec::new(); dims[0] * dims[1] * dims[2]];
    for (id, q) in particles.iter().enumerate() {
        let ext = q.bounding_radius() + reach;
        let lo = [0, 1, 2].map(|a| {
            ((q.centre_nm[a] - ext) / cell)
                .floor()
                .clamp(0.0, (dims[a] - 1) as f64) as usize
        });
        let hi = [0, 1, 2].map(|a| {
            ((q.centre_nm[a] + ext) / cell)
                .floor()
                .clamp(0.0, (dims[a] - 1) as f64) as usize
        });
        for cz in lo[0]..=hi[0] {
            for cy in lo[1]..=hi[1] {
                for cx in lo[2]..=hi[2] {
                    cover[(cz * dims[1] + cy) * dims[2] + cx].push(id as u32);
                }
            }
        }
    }
    let _ = grid;
    let cell_of = |p: [f64; 3]| -> usize {
        let c = [0, 1, 2].map(|a| ((p[a] / cell).floor().max(0.0) as usize).min(dims[a] - 1));
        (c[0] * dims[1] + c[1]) * dims[2] + c[2]
    };
    // score quantised to u16 (0 ..= 2·reach mapped onto 0 ..= 8192)
    let mut score = Array3::<u16>::from_elem(data.raw_dim(), NONE);
    score
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(data.axis_iter(Axis(0)).into_par_iter())
        .enumerate()
        .for_each(|(k, (mut s, lab))| {
            for ((j, i), v) in lab.indexed_iter() {
                if *v != PORE {
                    continue;
                }
                let pnt = [k as f64 * d[0], j as f64 * d[1], i as f64 * d[2]];
                let (mut d1, mut d2) = (f64::INFINITY, f64::INFINITY);
                for &id in &cover[cell_of(pnt)] {
                    let sd = particles[id as usize].surface_distance(pnt);
                    if sd < d1 {
                        d2 = d1;
                        d1 = sd;
                    } else if sd < d2 {
                        d2 = sd;
                    }
                }
                if d1 < reach {
                    let sc = d1 + d2.min(reach);
                    s[[j, i]] = ((sc / reach * BINS_PER_REACH) as u16).min(NONE - 1);
                }
            }
        });
    let mut hist = vec![0usize; 1 << 16];
    for &s in score.iter() {
        hist[s as usize] += 1;
    }
    let mut cum = 0usize;
    let mut cut = NONE as usize; // bins < cut all painted
    let mut extra = 0usize; // how many of bin `cut` to paint (in index order)
    for (b, &h) in hist.iter().enumerate().take(NONE as usize) {
        if cum + h >= n {
            cut = b;
            extra = n - cum;
            break;
        }
        cum += h;
    }
    let mut painted = 0usize;
    for (v, &s) in data.iter_mut().zip(score.iter()) {
        if s == NONE {
            continue;
        }
        if (s as usize) < cut {
            *v = BINDER;
            painted += 1;
        } else if s as usize == cut && extra > 0 {
            *v = BINDER;
            painted += 1;
            extra -= 1;
        }
    }
    painted
}

// ---------------------------------------------------------------------------------------------
// Lithium deposit
// ---------------------------------------------------------------------------------------------

/// Parameters of a lithium deposit on a current collector. One `packing` value spans the
/// morphologies seen across stack pressures: 0 = porous whisker-like filaments, 1 = dense
/// columnar grains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiDepositParams {
    /// Packing in [0, 1].
    pub packing: f64,
    /// Nominal deposit thickness (nm); `None` = 55 % of the height above the collector.
    pub thickness_nm: Option<f64>,
    /// Collector thickness (nm); `None` = max(3 rows, 8 % of the box height).
    pub collector_thickness_nm: Option<f64>,
    /// Mean spacing of grain / whisker nuclei on the collector (nm).
    pub grain_spacing_nm: f64,
}

impl Default for LiDepositParams {
    fn default() -> Self {
        LiDepositParams {
            packing: 0.5,
            thickness_nm: None,
            collector_thickness_nm: None,
            grain_spacing_nm: 200.0,
        }
    }
}

/// Morphology knobs derived from `packing` (all in nm or as fractions), recorded in the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepositMorphology {
    /// Maximum lateral radius of a column around its nucleus (nm).
    pub column_radius_nm: f64,
    /// Minimum pore gap kept between neighbouring grains (nm).
    pub grain_gap_nm: f64,
    /// Relative standard deviation of column heights.
    pub height_rel_sigma: f64,
    /// Lateral random-walk step of a column per row of height (nm).
    pub wander_nm_per_row: f64,
}

impl DepositMorphology {
    /// The mapping packing → morphology.
    pub fn from_packing(p: f64, spacing_nm: f64, min_voxel_nm: f64) -> Self {
        DepositMorphology {
            column_radius_nm: spacing_nm * (0.15 + 1.05 * p * p),
            grain_gap_nm: spacing_nm * 0.25 * (1.0 - p).powi(2) + 0.12 * min_voxel_nm,
            height_rel_sigma: 0.05 + 0.35 * (1.0 - p),
            wander_nm_per_row: 0.3 * (1.0 - p) * min_voxel_nm,
        }
    }
}

/// What the deposit generator produced (all lengths in nm; fractions counted from the labels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiDepositTruth {
    /// The parameters used.
    pub params: LiDepositParams,
    /// Shape of the deposit (how its grains were grown).
    pub morphology: DepositMorphology,
    /// Axis along which the deposit grows: "-y" (collector at the bottom rows).
    pub height_axis: String,
    /// Collector rows `[first, last]` (inclusive, image rows).
    pub collector_rows: [usize; 2],
    /// Collector thickness (nm) = rows × dy.
    pub collector_thickness_nm: f64,
    /// Nominal deposit thickness (nm).
    pub thickness_nominal_nm: f64,
    /// Number of columns / grains.
    pub grain_count: usize,
    /// Mean over (z, x) of the height of the topmost lithium voxel (top face) above the collector (nm), empty columns count 0.
    pub thickness_mean_top_nm: f64,
    /// 95th percentile of the heights (top faces) of lithium voxels above the collector (nm).
    pub thickness_p95_nm: f64,
    /// Lithium volume per collector area (nm): the thickness of an equivalent dense layer.
    pub dense_equivalent_thickness_nm: f64,
    /// Pore fraction in the layer between the collector and the nominal thickness.
    pub layer_porosity: f64,
    /// Mean pore chord length along x in that layer (nm).
    pub pore_chord_mean_x_nm: f64,
    /// Mean pore chord length along z in that layer (nm).
    pub pore_chord_mean_z_nm: f64,
}

/// Lithium deposit: columns grown from nuclei on the collector (label 2, bottom rows) to random
/// heights; label 1 where a voxel lies within `column_radius` of its nearest nucleus and at least
/// `grain_gap/2` from the bisector with the second nearest; 0 elsewhere.
pub fn li_deposit(
    p: &LiDepositParams,
    shape: [usize; 3],
    voxel: VoxelSize,
    seed: u64,
) -> Result<(LabelVolume, LiDepositTruth), ParamError> {
    check_shape(shape)?;
    check_voxel(&voxel)?;
    in_range("packing", p.packing, 0.0, 1.0)?;
    let d = voxel.nm;
    let [nz, ny, nx] = shape;
    let vmin = d[0].min(d[2]).min(d[1]);
    if p.grain_spacing_nm < 3.0 * d[0].max(d[2]) {
        return Err(ParamError::new(
            "grain_spacing_nm",
            p.grain_spacing_nm,
            format!(
                "must be at least 3 voxels ({} nm) in z and x",
                3.0 * d[0].max(d[2])
            ),
        ));
    }
    let height_nm = ny as f64 * d[1];
    let coll = match p.collector_thickness_nm {
        Some(t) => positive("collector_thickness_nm", t)?,
        None => (3.0 * d[1]).max(0.08 * height_nm),
    };
    let crow = ((coll / d[1]).round() as usize).max(1);
    if crow + 2 > ny {
        return Err(ParamError::new(
            "collector_thickness_nm",
            coll,
            format!("leaves fewer than 2 rows of the {ny} for the deposit; use a thinner collector or more rows"),
        ));
    }
    let top_row = ny - crow; // first collector row
    let avail = top_row as f64 * d[1];
    let thick = match p.thickness_nm {
        Some(t) => positive("thickness_nm", t)?,
        None => 0.55 * avail,
    };
    if thick > avail {
        return Err(ParamError::new(
            "thickness_nm",
            thick,
            format!("exceeds the {avail} nm above the collector; use more rows (--shape) or a thinner deposit"),
        ));
    }
    let morph = DepositMorphology::from_packing(p.packing, p.grain_spacing_nm, vmin);
    let area_extent = [nz as f64 * d[0], nx as f64 * d[2]];
    let n_seeds = ((area_extent[0] * area_extent[1] / (p.grain_spacing_nm * p.grain_spacing_nm))
        .round() as usize)
        .max(1);
    let mut rng = Rng::stream(seed ^ TAG_DEPOSIT, 0);
    // per nucleus: base position, height, lateral path per row of height
    let mut heights = Vec::with_capacity(n_seeds);
    let mut paths: Vec<Vec<[f64; 2]>> = Vec::with_capacity(n_seeds);
    for _ in 0..n_seeds {
        let base = [
            rng.uniform() * area_extent[0],
            rng.uniform() * area_extent[1],
        ];
        let h = (thick * (1.0 + morph.height_rel_sigma * rng.normal()))
            .clamp(0.2 * thick, (1.8 * thick).min(avail));
        heights.push(h);
        let mut path = Vec::with_capacity(top_row);
        let mut pos = base;
        for _ in 0..top_row {
            path.push(pos);
            pos[0] += morph.wander_nm_per_row * rng.normal();
            pos[1] += morph.wander_nm_per_row * rng.normal();
        }
        paths.push(path);
    }
    let mut data = Array3::<u8>::zeros(shape);
    let r2max = morph.column_radius_nm * morph.column_radius_nm;
    let half_gap = 0.5 * morph.grain_gap_nm;
    // rows above the collector: index in path = top_row - 1 - j (0 = bottom deposit row)
    data.axis_iter_mut(Axis(1))
        .into_par_iter()
        .enumerate()
        .for_each(|(j, mut plane)| {
            if j >= top_row {
                plane.fill(COLLECTOR);
                return;
            }
            let level = top_row - 1 - j;
            let h_centre = (level as f64 + 0.5) * d[1];
            // grid over (z, x) of nucleus positions at this height
            let cell = p.grain_spacing_nm;
            let gdims = [
                ((area_extent[0] / cell).ceil() as usize).max(1),
                ((area_extent[1] / cell).ceil() as usize).max(1),
            ];
            let mut cells: Vec<Vec<u32>> = vec![Vec::new(); gdims[0] * gdims[1]];
            for (s, path) in paths.iter().enumerate() {
                let q = path[level];
                // cell of the nucleus' position wrapped into the (periodic) box
                let qz = q[0].rem_euclid(area_extent[0]);
                let qx = q[1].rem_euclid(area_extent[1]);
                let cz = ((qz / cell).floor().max(0.0) as usize).min(gdims[0] - 1);
                let cx = ((qx / cell).floor().max(0.0) as usize).min(gdims[1] - 1);
                cells[cz * gdims[1] + cx].push(s as u32);
            }
            // nuclei are periodic in z and x (minimum-image distances), so the box edges are
            // statistically like its middle: no extra pore along the lateral faces
            let period = area_extent;
            let wrap = |v: f64, l: f64| v - l * (v / l).round();
            for ((k, i), v) in plane.indexed_iter_mut() {
                let pt = [k as f64 * d[0], i as f64 * d[2]];
                // nearest two nuclei: (squared distance, index, offset nucleus − point)
                let mut b1: (f64, u32, [f64; 2]);
                let mut b2: (f64, u32, [f64; 2]);
                let cz = ((pt[0] / cell).floor() as usize).min(gdims[0] - 1) as isize;
                let cx = ((pt[1] / cell).floor() as usize).min(gdims[1] - 1) as isize;
                let cells_of = |c: isize, ring: isize, n: usize| -> Vec<usize> {
                    if 2 * ring + 1 >= n as isize {
                        (0..n).collect()
                    } else {
                        ((c - ring)..=(c + ring))
                            .map(|g| g.rem_euclid(n as isize) as usize)
                            .collect()
                    }
                };
                let mut ring = 1isize;
                loop {
                    b1 = (f64::INFINITY, u32::MAX, [0.0; 2]);
                    b2 = (f64::INFINITY, u32::MAX, [0.0; 2]);
                    for gz in cells_of(cz, ring, gdims[0]) {
                        for gx in cells_of(cx, ring, gdims[1]) {
                            for &s in &cells[gz * gdims[1] + gx] {
                                let q = paths[s as usize][level];
                                let off =
                                    [wrap(q[0] - pt[0], period[0]), wrap(q[1] - pt[1], period[1])];
                                let dd = off[0] * off[0] + off[1] * off[1];
                                if dd < b1.0 || (dd == b1.0 && s < b1.1) {
                                    b2 = b1;
                                    b1 = (dd, s, off);
                                } else if dd < b2.0 || (dd == b2.0 && s < b2.1) {
                                    b2 = (dd, s, off);
                                }
                            }
                        }
                    }
                    // the nearest two are certain once they lie within the searched ring
                    let searched = ring as f64 * cell;
                    if b2.0 <= searched * searched || ring as usize > gdims[0].max(gdims[1]) {
                        break;
                    }
                    ring += 1;
                }
                if b1.1 == u32::MAX || b1.0 > r2max || heights[b1.1 as usize] < h_centre {
                    continue;
                }
                if b2.1 != u32::MAX {
                    let (q1, q2) = (b1.2, b2.2);
                    let sep = ((q1[0] - q2[0]).powi(2) + (q1[1] - q2[1]).powi(2)).sqrt();
                    if sep > 0.0 {
                        let to_bisector = (b2.0 - b1.0) / (2.0 * sep);
                        if to_bisector < half_gap {
                            continue;
                        }
                    }
                }
                *v = LITHIUM;
            }
        });
    let truth = deposit_truth(
        &data,
        voxel,
        p,
        morph,
        top_row,
        thick,
        n_seeds,
        heights_mean(&heights),
    );
    Ok((LabelVolume::new(data, voxel), truth))
}

fn heights_mean(h: &[f64]) -> f64 {
    h.iter().sum::<f64>() / h.len().max(1) as f64
}

#[allow(clippy::too_many_arguments)]
fn deposit_truth(
    data: &Array3<u8>,
    voxel: VoxelSize,
    p: &LiDepositParams,
    morph: DepositMorphology,
    top_row: usize,
    thick: f64,
    n_seeds: usize,
    _mean_grain_height: f64,
) -> LiDepositTruth {
    let d = voxel.nm;
    let [nz, ny, nx] = [data.shape()[0], data.shape()[1], data.shape()[2]];
    // heights (top faces, in rows) of lithium voxels
    let mut level_counts = vec![0usize; top_row];
    let mut top_sum = 0usize;
    for k in 0..nz {
        for i in 0..nx {
            let mut top = 0usize;
            for j in 0..top_row {
                if data[[k, j, i]] == LITHIUM {
                    let level = top_row - j; // 1 = first row above the collector
                    level_counts[level - 1] += 1;
                    top = top.max(level);
                }
            }
            top_sum += top;
        }
    }
    let n_li: usize = level_counts.iter().sum();
    let mut p95 = 0usize;
    if n_li > 0 {
        let want = (0.95 * n_li as f64).ceil() as usize;
        let mut cum = 0;
        for (l, c) in level_counts.iter().enumerate() {
            cum += c;
            if cum >= want {
                p95 = l + 1;
                break;
            }
        }
    }
    let layer_rows = ((thick / d[1]).round() as usize).clamp(1, top_row);
    let rows = (top_row - layer_rows)..top_row;
    let mut pore = 0usize;
    let (mut chord_x, mut n_x, mut chord_z, mut n_z) = (0usize, 0usize, 0usize, 0usize);
    for j in rows.clone() {
        for k in 0..nz {
            let mut run = 0usize;
            for i in 0..nx {
                if data[[k, j, i]] == PORE {
                    pore += 1;
                    run += 1;
                } else if run > 0 {
                    chord_x += run;
                    n_x += 1;
                    run = 0;
                }
            }
            if run > 0 {
                chord_x += run;
                n_x += 1;
            }
        }
        for i in 0..nx {
            let mut run = 0usize;
            for k in 0..nz {
                if data[[k, j, i]] == PORE {
                    run += 1;
                } else if run > 0 {
                    chord_z += run;
                    n_z += 1;
                    run = 0;
                }
            }
            if run > 0 {
                chord_z += run;
                n_z += 1;
            }
        }
    }
    let _ = ny;
    LiDepositTruth {
        params: p.clone(),
        morphology: morph,
        height_axis: "-y".into(),
        collector_rows: [top_row, data.shape()[1] - 1],
        collector_thickness_nm: (data.shape()[1] - top_row) as f64 * d[1],
        thickness_nominal_nm: thick,
        grain_count: n_seeds,
        thickness_mean_top_nm: top_sum as f64 / (nz * nx) as f64 * d[1],
        thickness_p95_nm: p95 as f64 * d[1],
        dense_equivalent_thickness_nm: n_li as f64 / (nz * nx) as f64 * d[1],
        layer_porosity: pore as f64 / (layer_rows * nz * nx) as f64,
        pore_chord_mean_x_nm: if n_x > 0 {
            chord_x as f64 / n_x as f64 * d[2]
        } else {
            0.0
        },
        pore_chord_mean_z_nm: if n_z > 0 {
            chord_z as f64 / n_z as f64 * d[0]
        } else {
            0.0
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Analytic shapes
// ---------------------------------------------------------------------------------------------

/// A tortuosity factor known in closed form or from a published reference solution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticTau {
    /// Label of the conducting phase.
    pub phase: u8,
    /// Transport axis (0 = z, 1 = y, 2 = x).
    pub axis: usize,
    /// τ = ε·D₀/D_eff; `None` when the phase does not percolate along the axis (τ = ∞).
    pub tortuosity_factor: Option<f64>,
    /// Whether the phase percolates along the axis.
    pub percolates: bool,
    /// Where the value comes from.
    pub source: String,
}

fn tau(phase: u8, axis: usize, t: Option<f64>, source: &str) -> AnalyticTau {
    AnalyticTau {
        phase,
        axis,
        tortuosity_factor: t,
        percolates: t.is_some(),
        source: source.into(),
    }
}

/// Open space: every voxel is pore (label 0); τ = 1 along every axis.
pub fn open_box(
    shape: [usize; 3],
    voxel: VoxelSize,
) -> Result<(LabelVolume, Vec<AnalyticTau>), ParamError> {
    check_shape(shape)?;
    check_voxel(&voxel)?;
    let taus = (0..3)
        .map(|a| tau(PORE, a, Some(1.0), "open space (methods §7)"))
        .collect();
    Ok((LabelVolume::new(Array3::zeros(shape), voxel), taus))
}

/// Number of indices `c` in `0..n` with `(c % pitch)` in `[off, off + width)`.
pub fn channel_count_1d(n: usize, width: usize, pitch: usize) -> usize {
    let off = (pitch - width) / 2;
    (0..n)
        .filter(|c| (c % pitch) >= off && (c % pitch) < off + width)
        .count()
}

/// Straight square pore channels (label 0, `width` voxels wide, one every `pitch` voxels in both
/// cross directions) through solid (label 1) along `axis`: τ = 1 along it, ∞ across.
pub fn channels(
    shape: [usize; 3],
    voxel: VoxelSize,
    axis: usize,
    width: usize,
    pitch: usize,
) -> Result<(LabelVolume, Vec<AnalyticTau>), ParamError> {
    check_shape(shape)?;
    check_voxel(&voxel)?;
    if axis > 2 {
        return Err(ParamError::new(
            "axis",
            axis,
            "must be 0 (z), 1 (y) or 2 (x)",
        ));
    }
    if width == 0 || pitch <= width {
        return Err(ParamError::new(
            "channel width/pitch",
            format!("{width}/{pitch}"),
            "need 1 ≤ width < pitch (voxels) so that solid walls remain",
        ));
    }
    let off = (pitch - width) / 2;
    let inside = |c: usize| (c % pitch) >= off && (c % pitch) < off + width;
    let data = Array3::from_shape_fn(shape, |(k, j, i)| {
        let idx = [k, j, i];
        let open = (0..3).filter(|&a| a != axis).all(|a| inside(idx[a]));
        if open {
            PORE
        } else {
            SOLID
        }
    });
    let any = (0..3)
        .filter(|&a| a != axis)
        .all(|a| channel_count_1d(shape[a], width, pitch) > 0);
    let taus = (0..3)
        .map(|a| {
            if a == axis && any {
                tau(PORE, a, Some(1.0), "straight channels (methods §7)")
            } else {
                tau(PORE, a, None, "straight channels: no path across")
            }
        })
        .collect();
    Ok((LabelVolume::new(data, voxel), taus))
}

/// TauFactor's slanted 2-voxel staircase strip: an N×(N+1)×(N+1) box with
/// `img[i, i:i+2, i:i+2] = 1` for i in 0..N (4N voxels; TauFactor `tests/test_taufactor.py`,
/// `test_solver_on_slanted_strip_of_ones`). For N = 20, τ(phase 1, axis 0) = 7.51667 with the
/// current TauFactor solver (methods §7; TauFactor releases before its Oct 2025 solver refactor
/// asserted 4.0 for the same image).
pub fn staircase(
    n: usize,
    voxel: VoxelSize,
) -> Result<(LabelVolume, Vec<AnalyticTau>), ParamError> {
    if n < 2 {
        return Err(ParamError::new(
            "staircase size",
            n,
            "must be at least 2 (20 reproduces τ = 7.51667)",
        ));
    }
    check_shape([n, n + 1, n + 1])?;
    check_voxel(&voxel)?;
    let mut data = Array3::<u8>::zeros((n, n + 1, n + 1));
    for i in 0..n {
        for j in i..i + 2 {
            for k in i..i + 2 {
                data[[i, j, k]] = SOLID;
            }
        }
    }
    let t = if n == 20 { Some(7.51667) } else { None };
    let mut taus = vec![AnalyticTau {
        phase: SOLID,
        axis: 0,
        tortuosity_factor: t,
        percolates: true,
        source: if n == 20 {
            "TauFactor test_solver_on_slanted_strip_of_ones (N = 20, box 20×21×21)".into()
        } else {
            "staircase percolates along z; τ known only for N = 20".into()
        },
    }];
    for a in 1..3 {
        taus.push(tau(SOLID, a, None, "staircase: no path across"));
    }
    Ok((LabelVolume::new(data, voxel), taus))
}

/// A sphere to paint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sphere {
    /// Centre `[z, y, x]` in nm.
    pub centre_nm: [f64; 3],
    /// Radius in nm.
    pub radius_nm: f64,
    /// Voxels painted (counted).
    pub voxels: usize,
    /// 4/3·π·r³ / voxel volume.
    pub analytic_voxels: f64,
}

/// Solid spheres (label 1) of given radii in pore; a voxel belongs to a sphere when its centre
/// lies inside. Spheres may be cut by the box; `voxels` counts what was painted (overlaps count
/// for the first sphere).
pub fn spheres(
    shape: [usize; 3],
    voxel: VoxelSize,
    list: &[([f64; 3], f64)],
) -> Result<(LabelVolume, Vec<Sphere>), ParamError> {
    check_shape(shape)?;
    check_voxel(&voxel)?;
    let d = voxel.nm;
    let mut data = Array3::<u8>::zeros(shape);
    let mut out = Vec::new();
    for (c, r) in list {
        positive("sphere radius_nm", *r)?;
        if c.iter().any(|v| !v.is_finite()) {
            return Err(ParamError::new(
                "sphere centre_nm",
                format!("{c:?}"),
                "must be finite",
            ));
        }
        let lo = [0, 1, 2].map(|a| ((c[a] - r) / d[a]).floor().max(0.0) as usize);
        let hi =
            [0, 1, 2].map(|a| (((c[a] + r) / d[a]).ceil().max(0.0) as usize).min(shape[a] - 1));
        let mut n = 0;
        if lo.iter().zip(shape.iter()).all(|(l, s)| l < s) {
            for k in lo[0]..=hi[0] {
                for j in lo[1]..=hi[1] {
                    for i in lo[2]..=hi[2] {
                        let q = (k as f64 * d[0] - c[0]).powi(2)
                            + (j as f64 * d[1] - c[1]).powi(2)
                            + (i as f64 * d[2] - c[2]).powi(2);
                        if q <= r * r && data[[k, j, i]] == PORE {
                            data[[k, j, i]] = SOLID;
                            n += 1;
                        }
                    }
                }
            }
        }
        out.push(Sphere {
            centre_nm: *c,
            radius_nm: *r,
            voxels: n,
            analytic_voxels: 4.0 / 3.0 * std::f64::consts::PI * r * r * r / voxel.volume_nm3(),
        });
    }
    Ok((LabelVolume::new(data, voxel), out))
}

/// Simple-cubic lattice of solid spheres (radius `r` nm, lattice constant `spacing` nm, first
/// centre at `spacing/2` on each axis) in pore.
pub fn sphere_lattice(
    shape: [usize; 3],
    voxel: VoxelSize,
    radius_nm: f64,
    spacing_nm: f64,
) -> Result<(LabelVolume, Vec<Sphere>), ParamError> {
    check_shape(shape)?;
    check_voxel(&voxel)?;
    positive("radius_nm", radius_nm)?;
    positive("spacing_nm", spacing_nm)?;
    let extent = [0, 1, 2].map(|a| shape[a] as f64 * voxel.nm[a]);
    let counts = [0, 1, 2].map(|a| ((extent[a] / spacing_nm).floor() as usize).max(1));
    if counts.iter().product::<usize>() > 1_000_000 {
        return Err(ParamError::new(
            "spacing_nm",
            spacing_nm,
            "gives more than 10⁶ spheres; use a larger spacing",
        ));
    }
    let mut list = Vec::new();
    for a in 0..counts[0] {
        for b in 0..counts[1] {
            for c in 0..counts[2] {
                list.push((
                    [
                        (a as f64 + 0.5) * spacing_nm,
                        (b as f64 + 0.5) * spacing_nm,
                        (c as f64 + 0.5) * spacing_nm,
                    ],
                    radius_nm,
                ));
            }
        }
    }
    spheres(shape, voxel, &list)
}

/// Description of an inclined plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaneTruth {
    /// Inclination (degrees) of the interface from the x–z plane, tilting along `tilt_axis`.
    pub angle_deg: f64,
    /// 0 = the interface rises along z, 2 = along x.
    pub tilt_axis: usize,
    /// Unit normal `[z, y, x]` pointing into the solid.
    pub normal: [f64; 3],
    /// A point on the plane `[z, y, x]` (nm): the box centre.
    pub point_nm: [f64; 3],
}

/// Half-space of solid (label 1) below an inclined plane: voxel (z, y, x) is solid when
/// `y − y₀ > tan(angle)·(w − w₀)`, w = z (`tilt_axis` 0) or x (2), through the box centre (nm).
pub fn inclined_plane(
    shape: [usize; 3],
    voxel: VoxelSize,
    angle_deg: f64,
    tilt_axis: usize,
) -> Result<(LabelVolume, PlaneTruth), ParamError> {
    check_shape(shape)?;
    check_voxel(&voxel)?;
    in_range("angle_deg", angle_deg, -80.0, 80.0)?;
    if tilt_axis != 0 && tilt_axis != 2 {
        return Err(ParamError::new(
            "tilt_axis",
            tilt_axis,
            "must be 0 (z) or 2 (x)",
        ));
    }
    let d = voxel.nm;
    let c = [0, 1, 2].map(|a| (shape[a] as f64 - 1.0) * 0.5 * d[a]);
    let t = angle_deg.to_radians().tan();
    let data = Array3::from_shape_fn(shape, |(k, j, i)| {
        let w = if tilt_axis == 0 {
            k as f64 * d[0] - c[0]
        } else {
            i as f64 * d[2] - c[2]
        };
        if j as f64 * d[1] - c[1] > t * w {
            SOLID
        } else {
            PORE
        }
    });
    let a = angle_deg.to_radians();
    let mut normal = [0.0; 3];
    normal[1] = a.cos();
    normal[tilt_axis] = -a.sin();
    Ok((
        LabelVolume::new(data, voxel),
        PlaneTruth {
            angle_deg,
            tilt_axis,
            normal,
            point_nm: c,
        },
    ))
}

/// Volume fraction of each label present, counted (`(label, voxels, fraction)`).
pub fn phase_fractions(labels: &LabelVolume) -> Vec<(u8, usize, f64)> {
    let mut counts = vec![0usize; 256];
    let partial: Vec<Vec<usize>> = labels
        .data
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|s| {
            let mut c = vec![0usize; 256];
            for &v in s.iter() {
                c[v as usize] += 1;
            }
            c
        })
        .collect();
    for p in partial {
        for (a, b) in counts.iter_mut().zip(p) {
            *a += b;
        }
    }
    let total = labels.data.len().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(l, &c)| (l as u8, c, c as f64 / total))
        .collect()
}

/// A 2-D label plane helper for tests of other modules: the `[y, x]` slice `k`.
pub fn slice(labels: &LabelVolume, k: usize) -> Array2<u8> {
    labels.data.index_axis(Axis(0), k).to_owned()
}
