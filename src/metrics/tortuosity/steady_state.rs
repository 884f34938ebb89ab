//! Steady-state diffusion tortuosity (methods §7; TauFactor conventions).
//!
//! Solves Laplace's equation ∇·(D₀∇c) = 0 in the voxels of one phase, with c = 1 and c = 0 on the
//! two faces normal to the transport axis and no flux through the other faces and the phase
//! boundaries. Finite volumes on the voxel grid: the conductance between two face-sharing phase
//! voxels along axis i is D₀·A_i/d_i, with A_i the face area (product of the other two spacings);
//! dividing every equation by the voxel volume V gives the weights `w_i = 1/d_i²`.
//!
//! Boundary conventions ([`Boundary`]):
//! - `HalfVoxel` (TauFactor): Dirichlet planes half a voxel outside the image, so a face voxel
//!   couples to its plane with conductance `2·w_a` (distance d_a/2). Length L = n_a·d_a.
//!   In open space each column is a chain of n_a − 1 links of resistance 1/w_a plus two half
//!   links of 1/(2w_a), total n_a/w_a, hence D_eff = D₀ exactly for any voxel size.
//!   τ = ε_total·D₀/D_eff.
//! - `FixedLayers` (PoreSpy `tortuosity_fd`): the first and last layers of the phase are held at
//!   c = 1 and c = 0, length L = (n_a − 1)·d_a, clusters not touching both faces removed, and
//!   τ = ε_percolating·D₀/D_eff. On PoreSpy's disk lattice this reproduces 1.35995; half-voxel
//!   gives 1.35873 on the same image (the image is effectively one layer longer).
//!
//! D_eff/D₀ = I·L/(A·Δc·D₀) with I the current through a layer and A the full cross-section.
//! Only voxels connected (6-connectivity) to one of the two Dirichlet faces are unknowns: dead
//! ends carry no flux but are harmless; isolated clusters would make the matrix singular.
//!
//! Solver: matrix-free preconditioned conjugate gradients; the preconditioner is one symmetric
//! V-cycle of aggregation multigrid (2×2×2 aggregates, Galerkin coarse operators, which are again
//! 7-point conductance networks; red–black Gauss–Seidel smoothing, forward before and backward
//! after the coarse correction, so the preconditioner is symmetric). Vectors are f32 (memory:
//! about 16 bytes per voxel of the bounding box plus the coarse levels), reductions f64 in a fixed
//! order so results do not depend on the thread count. Convergence: relative residual < `rtol`,
//! layer fluxes within `flux_tol` of each other and τ changing by less than `tau_tol` (relative)
//! between checks.

use super::{check_common, face_reach, permuted_mask, TortuosityResult};
use crate::error::{in_range, ParamError};
use crate::progress::Progress;
use ndarray::ArrayView3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Where the concentration is imposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// TauFactor: Dirichlet planes half a voxel outside the image; L = n·d; τ uses ε_total.
    HalfVoxel,
    /// PoreSpy: first and last layers fixed; L = (n−1)·d; τ uses ε_percolating.
    FixedLayers,
}

impl Boundary {
    pub fn as_str(self) -> &'static str {
        match self {
            Boundary::HalfVoxel => "half_voxel",
            Boundary::FixedLayers => "fixed_layers",
        }
    }
    /// Parse `half-voxel|half_voxel|fixed-layers|fixed_layers`.
    pub fn parse(s: &str) -> Result<Self, ParamError> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "half_voxel" => Ok(Boundary::HalfVoxel),
            "fixed_layers" => Ok(Boundary::FixedLayers),
            _ => Err(ParamError::new(
                "boundary",
                s,
                "use half-voxel (TauFactor) or fixed-layers (PoreSpy)",
            )),
        }
    }
}

/// Largest `max_iter` accepted (time grows with it; the multigrid solver converges in tens to
/// hundreds of iterations).
pub const MAX_ITER_LIMIT: usize = 1_000_000;

/// Solver settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SteadyStateOptions {
    pub boundary: Boundary,
    /// Relative residual ‖b − Ax‖/‖b‖ to reach (default 1e-5).
    pub rtol: f64,
    /// Maximum relative spread of the layer fluxes (default 0.01).
    pub flux_tol: f64,
    /// Maximum relative change of τ between two checks (default 2e-3).
    pub tau_tol: f64,
    /// Iteration limit (default 1000).
    pub max_iter: usize,
}

impl Default for SteadyStateOptions {
    fn default() -> Self {
        SteadyStateOptions {
            boundary: Boundary::HalfVoxel,
            rtol: 1e-5,
            flux_tol: 0.01,
            tau_tol: 2e-3,
            max_iter: 1000,
        }
    }
}

impl SteadyStateOptions {
    pub fn validate(&self) -> Result<(), ParamError> {
        in_range("tol (relative residual)", self.rtol, 1e-12, 0.1)?;
        in_range("flux tolerance", self.flux_tol, 1e-9, 1.0)?;
        in_range("tau tolerance", self.tau_tol, 1e-9, 1.0)?;
        if !(1..=MAX_ITER_LIMIT).contains(&self.max_iter) {
            return Err(ParamError::new(
                "max_iter",
                self.max_iter,
                format!("must lie in [1, {MAX_ITER_LIMIT}] (the solver usually converges in tens to hundreds)"),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Levels: 7-point conductance networks on a box grid.

/// A 7-point symmetric network: cell `i` has conductances to its ± neighbours along each axis and
/// a boundary conductance to the Dirichlet planes; `diag` = their sum; `diag == 0` = not an unknown.
trait Level: Sync {
    fn n(&self) -> [usize; 3];
    fn diag(&self, i: usize) -> f32;
    /// Conductance to the + neighbour along `ax` (0 = z, 1 = y, 2 = x); 0 at the last index.
    fn gp(&self, i: usize, ax: usize) -> f32;
    /// Conductance to the − neighbour along `ax`; 0 at index 0.
    fn gm(&self, i: usize, ax: usize) -> f32;
    /// Conductance to the Dirichlet planes.
    fn gb(&self, i: usize) -> f32;
}

// flag bits of the fine level
const IN: u8 = 1; // coupled to the c = 1 plane
const XP: u8 = 1 << 1;
const XM: u8 = 1 << 2;
const YP: u8 = 1 << 3;
const YM: u8 = 1 << 4;
const ZP: u8 = 1 << 5;
const ZM: u8 = 1 << 6;
const OUT: u8 = 1 << 7; // coupled to the c = 0 plane
const PLUS: [u8; 3] = [ZP, YP, XP];
const MINUS: [u8; 3] = [ZM, YM, XM];

/// Finest level: one flag byte per voxel (0 = not an unknown).
struct Fine {
    n: [usize; 3],
    flags: Vec<u8>,
    w: [f32; 3],
    gbound: f32,
    diag_lut: [f32; 256],
}

impl Fine {
    fn new(n: [usize; 3], flags: Vec<u8>, w: [f32; 3], gbound: f32) -> Self {
        let mut diag_lut = [0f32; 256];
        for (f, d) in diag_lut.iter_mut().enumerate() {
            let f = f as u8;
            let mut s = 0f32;
            for ax in 0..3 {
                if f & PLUS[ax] != 0 {
                    s += w[ax];
                }
                if f & MINUS[ax] != 0 {
                    s += w[ax];
                }
            }
            if f & IN != 0 {
                s += gbound;
            }
            if f & OUT != 0 {
                s += gbound;
            }
            *d = s;
        }
        Fine {
            n,
            flags,
            w,
            gbound,
            diag_lut,
        }
    }
}

impl Level for Fine {
    #[inline(always)]
    fn n(&self) -> [usize; 3] {
        self.n
    }
    #[inline(always)]
    fn diag(&self, i: usize) -> f32 {
        self.diag_lut[self.flags[i] as usize]
    }
    #[inline(always)]
    fn gp(&self, i: usize, ax: usize) -> f32 {
        if self.flags[i] & PLUS[ax] != 0 {
            self.w[ax]
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn gm(&self, i: usize, ax: usize) -> f32 {
        if self.flags[i] & MINUS[ax] != 0 {
            self.w[ax]
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn gb(&self, i: usize) -> f32 {
        let f = self.flags[i];
        ((f & IN != 0) as u8 + (f & OUT != 0) as u8) as f32 * self.gbound
    }
}

/// Coarse level: explicit arrays.
struct Coarse {
    n: [usize; 3],
    /// `g[ax][i]`: conductance between `i` and its + neighbour along `ax`.
    g: [Vec<f32>; 3],
    b: Vec<f32>,
    diag: Vec<f32>,
}

#[inline(always)]
fn strides(n: [usize; 3]) -> [usize; 3] {
    [n[1] * n[2], n[2], 1]
}

impl Level for Coarse {
    #[inline(always)]
    fn n(&self) -> [usize; 3] {
        self.n
    }
    #[inline(always)]
    fn diag(&self, i: usize) -> f32 {
        self.diag[i]
    }
    #[inline(always)]
    fn gp(&self, i: usize, ax: usize) -> f32 {
        self.g[ax][i]
    }
    #[inline(always)]
    fn gm(&self, i: usize, ax: usize) -> f32 {
        self.g[ax][i - strides(self.n)[ax]]
    }
    #[inline(always)]
    fn gb(&self, i: usize) -> f32 {
        self.b[i]
    }
}

/// Σ_j g_ij x_j over the existing neighbours of cell `i` at `(z, y, x)`.
#[inline(always)]
fn nb_sum<L: Level>(l: &L, x: &[f32], i: usize, c: [usize; 3], n: [usize; 3]) -> f32 {
    let s = strides(n);
    let mut acc = 0f32;
    for ax in 0..3 {
        if c[ax] + 1 < n[ax] {
            let g = l.gp(i, ax);
            if g != 0.0 {
                acc += g * x[i + s[ax]];
            }
        }
        if c[ax] > 0 {
            let g = l.gm(i, ax);
            if g != 0.0 {
                acc += g * x[i - s[ax]];
            }
        }
    }
    acc
}

/// `y = A x`.
fn apply<L: Level>(l: &L, x: &[f32], y: &mut [f32]) {
    let n = l.n();
    y.par_chunks_mut(n[2]).enumerate().for_each(|(row, yr)| {
        let z = row / n[1];
        let yy = row % n[1];
        let base = row * n[2];
        for (xx, out) in yr.iter_mut().enumerate() {
            let i = base + xx;
            let d = l.diag(i);
            *out = if d == 0.0 {
                0.0
            } else {
                d * x[i] - nb_sum(l, x, i, [z, yy, xx], n)
            };
        }
    });
}

/// Pointer that may be shared between threads for the red–black sweep (see `gs_color`).
#[derive(Clone, Copy)]
struct SyncPtr(*mut f32);
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

/// One colour of a red–black Gauss–Seidel sweep for `A x = b`: cells with (z+y+x) % 2 == color.
fn gs_color<L: Level>(l: &L, b: &[f32], x: &mut [f32], color: usize) {
    let n = l.n();
    let len = x.len();
    let ptr = SyncPtr(x.as_mut_ptr());
    (0..n[0] * n[1]).into_par_iter().for_each(|row| {
        let p = ptr;
        // SAFETY: this pass writes only cells of colour `color` and reads only their neighbours,
        // which all have the other colour; every cell is written by exactly one row task. So no
        // location is written by one thread while another reads or writes it. All indices are in
        // 0..len (checked by the coordinates).
        let xs: &[f32] = unsafe { std::slice::from_raw_parts(p.0, len) };
        let z = row / n[1];
        let yy = row % n[1];
        let base = row * n[2];
        let start = (color + z + yy) % 2;
        let mut xx = start;
        while xx < n[2] {
            let i = base + xx;
            let d = l.diag(i);
            if d != 0.0 {
                let v = (b[i] + nb_sum(l, xs, i, [z, yy, xx], n)) / d;
                unsafe { p.0.add(i).write(v) };
            }
            xx += 2;
        }
    });
}

/// Restrict the residual `b − A x` of the fine level onto coarse cells (sum over children).
fn restrict_residual<L: Level>(l: &L, b: &[f32], x: &[f32], nc: [usize; 3], bc: &mut [f32]) {
    let n = l.n();
    let sf = strides(n);
    bc.par_chunks_mut(nc[2]).enumerate().for_each(|(row, out)| {
        out.iter_mut().for_each(|v| *v = 0.0);
        let cz = row / nc[1];
        let cy = row % nc[1];
        for z in 2 * cz..(2 * cz + 2).min(n[0]) {
            for yy in 2 * cy..(2 * cy + 2).min(n[1]) {
                let base = z * sf[0] + yy * sf[1];
                for xx in 0..n[2] {
                    let i = base + xx;
                    let d = l.diag(i);
                    if d != 0.0 {
                        let r = b[i] - (d * x[i] - nb_sum(l, x, i, [z, yy, xx], n));
                        out[xx / 2] += r;
                    }
                }
            }
        }
    });
}

/// `x += alpha · P xc` (piecewise constant prolongation onto unknown cells).
fn prolong_add<L: Level>(l: &L, xc: &[f32], nc: [usize; 3], alpha: f32, x: &mut [f32]) {
    let n = l.n();
    let sc = strides(nc);
    x.par_chunks_mut(n[2]).enumerate().for_each(|(row, xr)| {
        let z = row / n[1];
        let yy = row % n[1];
        let cbase = (z / 2) * sc[0] + (yy / 2) * sc[1];
        let base = row * n[2];
        for (xx, v) in xr.iter_mut().enumerate() {
            if l.diag(base + xx) != 0.0 {
                *v += alpha * xc[cbase + xx / 2];
            }
        }
    });
}

/// Galerkin coarsening with 2×2×2 aggregates: coarse links sum the fine links crossing between
/// aggregates, boundary conductances sum, internal links cancel.
fn coarsen<L: Level>(l: &L) -> Coarse {
    let n = l.n();
    let nc = [n[0].div_ceil(2), n[1].div_ceil(2), n[2].div_ceil(2)];
    let sf = strides(n);
    let len = nc[0] * nc[1] * nc[2];
    // per coarse row: (g0, g1, g2, b)
    let rows: Vec<[Vec<f32>; 4]> = (0..nc[0] * nc[1])
        .into_par_iter()
        .map(|row| {
            let cz = row / nc[1];
            let cy = row % nc[1];
            let mut out = [
                vec![0f32; nc[2]],
                vec![0f32; nc[2]],
                vec![0f32; nc[2]],
                vec![0f32; nc[2]],
            ];
            for z in 2 * cz..(2 * cz + 2).min(n[0]) {
                for yy in 2 * cy..(2 * cy + 2).min(n[1]) {
                    for xx in 0..n[2] {
                        let i = z * sf[0] + yy * sf[1] + xx;
                        if l.diag(i) == 0.0 {
                            continue;
                        }
                        let c = [z, yy, xx];
                        let cx = xx / 2;
                        out[3][cx] += l.gb(i);
                        for ax in 0..3 {
                            // a + link leaves the aggregate when the child is the odd one
                            if c[ax] % 2 == 1 && c[ax] + 1 < n[ax] {
                                out[ax][cx] += l.gp(i, ax);
                            }
                        }
                    }
                }
            }
            out
        })
        .collect();
    let mut g = [vec![0f32; len], vec![0f32; len], vec![0f32; len]];
    let mut b = vec![0f32; len];
    for (row, r) in rows.into_iter().enumerate() {
        let o = row * nc[2];
        for ax in 0..3 {
            g[ax][o..o + nc[2]].copy_from_slice(&r[ax]);
        }
        b[o..o + nc[2]].copy_from_slice(&r[3]);
    }
    let sc = strides(nc);
    let mut diag = b.clone();
    for (i, d) in diag.iter_mut().enumerate() {
        let c = [i / sc[0], (i / sc[1]) % nc[1], i % nc[2]];
        for ax in 0..3 {
            *d += g[ax][i];
            if c[ax] > 0 {
                *d += g[ax][i - sc[ax]];
            }
        }
    }
    Coarse { n: nc, g, b, diag }
}

/// Multigrid hierarchy below the fine level, with work vectors.
struct Hierarchy {
    levels: Vec<Coarse>,
    work: Vec<(Vec<f32>, Vec<f32>)>, // (rhs, solution) per coarse level
    alpha: f32,
    coarse_sweeps: usize,
}

impl Hierarchy {
    fn build(fine: &Fine) -> Self {
        let mut levels: Vec<Coarse> = Vec::new();
        let mut n = fine.n;
        while n.iter().copied().max().unwrap_or(1) > 4 && n.iter().product::<usize>() > 64 {
            let c = match levels.last() {
                None => coarsen(fine),
                Some(prev) => coarsen(prev),
            };
            n = c.n;
            levels.push(c);
        }
        let work = levels
            .iter()
            .map(|c| {
                let len = c.diag.len();
                (vec![0f32; len], vec![0f32; len])
            })
            .collect();
        Hierarchy {
            levels,
            work,
            alpha: 1.8,
            coarse_sweeps: 20,
        }
    }

    /// `z = M r`: one symmetric V-cycle from z = 0.
    fn precondition(&mut self, fine: &Fine, r: &[f32], z: &mut [f32]) {
        z.iter_mut().for_each(|v| *v = 0.0);
        let (alpha, sweeps) = (self.alpha, self.coarse_sweeps);
        vcycle(fine, r, z, &self.levels, &mut self.work, alpha, sweeps);
    }
}

fn vcycle<L: Level>(
    l: &L,
    b: &[f32],
    x: &mut [f32],
    coarse: &[Coarse],
    work: &mut [(Vec<f32>, Vec<f32>)],
    alpha: f32,
    sweeps: usize,
) {
    match (coarse.split_first(), work.split_first_mut()) {
        (Some((next, rest)), Some(((bc, xc), wrest))) => {
            gs_color(l, b, x, 0);
            gs_color(l, b, x, 1);
            restrict_residual(l, b, x, next.n, bc);
            xc.iter_mut().for_each(|v| *v = 0.0);
            vcycle(next, bc, xc, rest, wrest, alpha, sweeps);
            prolong_add(l, xc, next.n, alpha, x);
            gs_color(l, b, x, 1);
            gs_color(l, b, x, 0);
        }
        _ => {
            // coarsest: symmetric Gauss–Seidel (forward sweeps, then as many backward)
            for _ in 0..sweeps {
                gs_color(l, b, x, 0);
                gs_color(l, b, x, 1);
            }
            for _ in 0..sweeps {
                gs_color(l, b, x, 1);
                gs_color(l, b, x, 0);
            }
        }
    }
}

const CHUNK: usize = 1 << 14;

/// Σ a_i b_i in f64, fixed summation order (independent of the thread count).
fn dot(a: &[f32], b: &[f32]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(x, y)| x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum())
        .collect();
    parts.iter().sum()
}

/// Currents (per unit voxel volume, in units of the weights) through every layer plane between the
/// two Dirichlet boundaries, in order from the inlet.
fn layer_fluxes(fine: &Fine, x: &[f32], z_first: usize, z_last: usize) -> Vec<f64> {
    let n = fine.n;
    let sz = n[1] * n[2];
    let mut fl = Vec::with_capacity(z_last - z_first + 2);
    // inlet plane
    let inlet: f64 = (z_first * sz..(z_first + 1) * sz)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| {
            if fine.flags[i] & IN != 0 {
                fine.gbound as f64 * (1.0 - x[i] as f64)
            } else {
                0.0
            }
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    fl.push(inlet);
    let inner: Vec<f64> = (z_first..z_last)
        .into_par_iter()
        .map(|z| {
            let mut s = 0f64;
            for i in z * sz..(z + 1) * sz {
                if fine.flags[i] & ZP != 0 {
                    s += fine.w[0] as f64 * (x[i] as f64 - x[i + sz] as f64);
                }
            }
            s
        })
        .collect();
    fl.extend(inner);
    let outlet: f64 = (z_last * sz..(z_last + 1) * sz)
        .map(|i| {
            if fine.flags[i] & OUT != 0 {
                fine.gbound as f64 * x[i] as f64
            } else {
                0.0
            }
        })
        .sum();
    fl.push(outlet);
    fl
}

/// Steady-state tortuosity factor of phase `phase` of `labels` along numpy axis `axis`
/// (0 = z, 1 = y, 2 = x), voxel size `[dz, dy, dx]` in nm.
///
/// ```
/// use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, SteadyStateOptions};
/// use fibstack::progress::Silent;
/// let open = ndarray::Array3::<u8>::ones((6, 5, 4));
/// let r = tortuosity_fd(open.view(), 1, [3.0, 1.0, 2.0], 0, &SteadyStateOptions::default(), &Silent)
///     .unwrap();
/// assert!((r.tortuosity_factor.unwrap() - 1.0).abs() < 1e-5);
/// ```
pub fn tortuosity_fd(
    labels: ArrayView3<u8>,
    phase: u8,
    voxel_nm: [f64; 3],
    axis: usize,
    opts: &SteadyStateOptions,
    progress: &dyn Progress,
) -> Result<TortuosityResult, ParamError> {
    let t0 = Instant::now();
    check_common(labels.shape(), axis, voxel_nm)?;
    opts.validate()?;
    if labels.len() > u32::MAX as usize {
        // the solver keeps several f64 vectors per voxel: > 100 GB here
        return Err(ParamError::new(
            "volume size",
            labels.len(),
            "the steady-state solver supports up to 4.29e9 voxels (it needs ~30 bytes per voxel); crop the volume or use --method rw",
        ));
    }
    let mut res = TortuosityResult::new("steady_state_fd", phase, axis, voxel_nm);
    res.boundary = opts.boundary.as_str().to_string();
    let (perm, mask, n) = permuted_mask(labels, phase, axis);
    if opts.boundary == Boundary::FixedLayers && n[0] < 3 {
        return Err(ParamError::new(
            "boundary",
            format!("fixed-layers with {} layers along {}", n[0], res.axis),
            "fixed-layers needs at least 3 layers along the transport axis; use half-voxel",
        ));
    }
    let d = [voxel_nm[perm[0]], voxel_nm[perm[1]], voxel_nm[perm[2]]];
    let total = mask.len() as f64;
    let count = mask.iter().filter(|&&m| m != 0).count();
    res.porosity_total = count as f64 / total;
    let reach = face_reach(&mask, n);
    drop(mask);
    let perc = reach.iter().filter(|&&r| r == 3).count();
    res.porosity_percolating = perc as f64 / total;
    res.porosity_used = match opts.boundary {
        Boundary::HalfVoxel => "total",
        Boundary::FixedLayers => "percolating",
    }
    .to_string();
    res.iterations = Some(0);
    if perc == 0 {
        res.percolating = false;
        res.converged = true;
        res.notes.push(format!(
            "phase {phase} does not connect the two faces normal to {}: tau is infinite, D_eff = 0",
            res.axis
        ));
        res.time_s = t0.elapsed().as_secs_f64();
        res.assess();
        return Ok(res);
    }
    res.percolating = true;
    let eps = match opts.boundary {
        Boundary::HalfVoxel => res.porosity_total,
        Boundary::FixedLayers => res.porosity_percolating,
    };

    // unknowns and their links
    let (nz, ny, nx) = (n[0], n[1], n[2]);
    let sz = ny * nx;
    let in_domain = |i: usize| -> bool {
        match opts.boundary {
            Boundary::HalfVoxel => reach[i] != 0,
            Boundary::FixedLayers => reach[i] == 3,
        }
    };
    let (z_first, z_last) = match opts.boundary {
        Boundary::HalfVoxel => (0, nz - 1),
        Boundary::FixedLayers => (1, nz - 2),
    };
    let unknown = |i: usize| -> bool {
        let z = i / sz;
        z >= z_first && z <= z_last && in_domain(i)
    };
    let mut flags = vec![0u8; reach.len()];
    flags.par_chunks_mut(nx).enumerate().for_each(|(row, fr)| {
        let z = row / ny;
        let y = row % ny;
        let base = row * nx;
        for (x, f) in fr.iter_mut().enumerate() {
            let i = base + x;
            if !unknown(i) {
                continue;
            }
            let mut v = 0u8;
            if x + 1 < nx && unknown(i + 1) {
                v |= XP;
            }
            if x > 0 && unknown(i - 1) {
                v |= XM;
            }
            if y + 1 < ny && unknown(i + nx) {
                v |= YP;
            }
            if y > 0 && unknown(i - nx) {
                v |= YM;
            }
            if z < z_last && unknown(i + sz) {
                v |= ZP;
            }
            if z > z_first && unknown(i - sz) {
                v |= ZM;
            }
            match opts.boundary {
                Boundary::HalfVoxel => {
                    if z == 0 {
                        v |= IN;
                    }
                    if z == nz - 1 {
                        v |= OUT;
                    }
                }
                Boundary::FixedLayers => {
                    if z == 1 && in_domain(i - sz) {
                        v |= IN;
                    }
                    if z == nz - 2 && in_domain(i + sz) {
                        v |= OUT;
                    }
                }
            }
            *f = v;
        }
    });
    drop(reach);
    let w = [
        (1.0 / (d[0] * d[0])) as f32,
        (1.0 / (d[1] * d[1])) as f32,
        (1.0 / (d[2] * d[2])) as f32,
    ];
    // rescale so the largest weight is 1 (keeps f32 well scaled for any nm values)
    let wmax = w.iter().copied().fold(0f32, f32::max);
    let w = [w[0] / wmax, w[1] / wmax, w[2] / wmax];
    let gbound = match opts.boundary {
        Boundary::HalfVoxel => 2.0 * w[0],
        Boundary::FixedLayers => w[0],
    };
    let fine = Fine::new(n, flags, w, gbound);
    let mut hier = Hierarchy::build(&fine);

    // right-hand side: gbound · 1 on inlet-coupled cells
    let len = fine.flags.len();
    let mut r: Vec<f32> = fine
        .flags
        .par_iter()
        .map(|&f| if f & IN != 0 { gbound } else { 0.0 })
        .collect();
    let bnorm = dot(&r, &r).sqrt();
    let mut x = vec![0f32; len];
    let mut p = vec![0f32; len];
    let mut q = vec![0f32; len];
    hier.precondition(&fine, &r, &mut p);
    let mut rz = dot(&r, &p);

    let layers = match opts.boundary {
        Boundary::HalfVoxel => nz as f64,
        Boundary::FixedLayers => (nz - 1) as f64,
    };
    // D_eff/D0 = S·(w_z-scaled) ... S is in units of wmax; physical weight = w·wmax·(1/nm²)
    let deff_from = |s: f64| -> f64 { s / (w[0] as f64) * layers / (ny * nx) as f64 };
    progress.start("steady-state diffusion (PCG)", opts.max_iter as u64);
    let mut tau_prev = f64::INFINITY;
    let mut converged = false;
    let mut it = 0usize;
    let mut relres = 1.0;
    let mut fluxvar = f64::INFINITY;
    let mut deff = 0.0;
    let check_every = 2usize;
    while it < opts.max_iter {
        apply(&fine, &p, &mut q);
        let pq = dot(&p, &q);
        if pq.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            res.notes.push(format!(
                "conjugate gradients broke down at iteration {it} (p·Ap = {pq:e})"
            ));
            break;
        }
        let a = (rz / pq) as f32;
        x.par_iter_mut()
            .zip(p.par_iter())
            .for_each(|(xi, pi)| *xi += a * pi);
        r.par_iter_mut()
            .zip(q.par_iter())
            .for_each(|(ri, qi)| *ri -= a * qi);
        it += 1;
        progress.inc(1);
        relres = dot(&r, &r).sqrt() / bnorm;
        if relres < opts.rtol || it.is_multiple_of(check_every) || it == opts.max_iter {
            let fl = layer_fluxes(&fine, &x, z_first, z_last);
            let mean = fl.iter().sum::<f64>() / fl.len() as f64;
            let (mn, mx) = fl
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            fluxvar = if mean > 0.0 {
                (mx - mn) / mean
            } else {
                f64::INFINITY
            };
            deff = deff_from(mean);
            let tau = eps / deff;
            let dtau = ((tau - tau_prev) / tau).abs();
            tau_prev = tau;
            if relres < opts.rtol && fluxvar < opts.flux_tol && dtau < opts.tau_tol {
                converged = true;
                break;
            }
        }
        // next direction
        hier.precondition(&fine, &r, &mut q);
        let rz_new = dot(&r, &q);
        let beta = (rz_new / rz) as f32;
        rz = rz_new;
        p.par_iter_mut()
            .zip(q.par_iter())
            .for_each(|(pi, zi)| *pi = zi + beta * *pi);
    }
    progress.finish();
    // true residual
    apply(&fine, &x, &mut q);
    let rr: Vec<f64> = q
        .par_chunks(CHUNK)
        .zip(fine.flags.par_chunks(CHUNK))
        .map(|(aq, fl)| {
            aq.iter()
                .zip(fl)
                .map(|(&v, &f)| {
                    let b = if f & IN != 0 { gbound as f64 } else { 0.0 };
                    (b - v as f64).powi(2)
                })
                .sum()
        })
        .collect();
    let true_res = rr.iter().sum::<f64>().sqrt() / bnorm;
    if !converged {
        res.notes.push(format!(
            "not converged after {it} iterations: relative residual {relres:.2e} (target {:.1e}), layer flux spread {fluxvar:.2e} (target {:.1e})",
            opts.rtol, opts.flux_tol
        ));
    }
    res.iterations = Some(it);
    res.relative_residual = Some(true_res.max(relres));
    res.flux_variation = Some(fluxvar);
    res.converged = converged;
    if deff > 0.0 && deff.is_finite() {
        let tau = eps / deff;
        res.tortuosity_factor = Some(tau);
        res.deff_over_d0 = deff;
        res.macmullin = Some(1.0 / deff);
    } else {
        res.percolating = false;
        res.notes
            .push("no current reached the outlet; tau reported as infinite".to_string());
    }
    res.time_s = t0.elapsed().as_secs_f64();
    res.assess();
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use ndarray::Array3;

    fn tau(a: &Array3<u8>, d: [f64; 3], axis: usize, b: Boundary) -> TortuosityResult {
        let o = SteadyStateOptions {
            boundary: b,
            rtol: 1e-7,
            ..Default::default()
        };
        tortuosity_fd(a.view(), 1, d, axis, &o, &Silent).unwrap()
    }

    #[test]
    fn open_space_is_one_any_voxel() {
        let a = Array3::<u8>::ones((7, 6, 5));
        for d in [
            [1.0, 1.0, 1.0],
            [3.0, 1.0, 2.0],
            [20.0, 5.0, 5.0],
            [0.5, 7.0, 1.3],
        ] {
            for ax in 0..3 {
                for b in [Boundary::HalfVoxel, Boundary::FixedLayers] {
                    let r = tau(&a, d, ax, b);
                    let t = r.tortuosity_factor.unwrap();
                    assert!((t - 1.0).abs() < 1e-5, "{d:?} axis {ax} {b:?}: {t}");
                    assert!(r.converged);
                }
            }
        }
    }

    #[test]
    fn multigrid_hierarchy_galerkin_matches_fine_sums() {
        // coarse operator applied to a constant-per-aggregate vector equals P^T A P
        let mut m = Array3::<u8>::zeros((5, 6, 7));
        let mut rng = crate::rng::Rng::new(3);
        m.iter_mut().for_each(|v| *v = (rng.uniform() < 0.7) as u8);
        let n = [5, 6, 7];
        let mask: Vec<u8> = m.iter().copied().collect();
        let reach = face_reach(&mask, n);
        let mut flags = vec![0u8; mask.len()];
        let sz = 42;
        for i in 0..mask.len() {
            if reach[i] == 0 {
                continue;
            }
            let (z, y, x) = (i / sz, (i / 7) % 6, i % 7);
            let u = |j: usize| reach[j] != 0;
            let mut v = 0;
            if x + 1 < 7 && u(i + 1) {
                v |= XP;
            }
            if x > 0 && u(i - 1) {
                v |= XM;
            }
            if y + 1 < 6 && u(i + 7) {
                v |= YP;
            }
            if y > 0 && u(i - 7) {
                v |= YM;
            }
            if z + 1 < 5 && u(i + sz) {
                v |= ZP;
            }
            if z > 0 && u(i - sz) {
                v |= ZM;
            }
            if z == 0 {
                v |= IN;
            }
            if z == 4 {
                v |= OUT;
            }
            flags[i] = v;
        }
        let fine = Fine::new(n, flags, [1.0, 0.25, 0.5], 2.0);
        let c = coarsen(&fine);
        let nc = c.n;
        let lc = nc.iter().product::<usize>();
        let mut xc = vec![0f32; lc];
        for (k, v) in xc.iter_mut().enumerate() {
            *v = ((k * 7919) % 13) as f32 * 0.1;
        }
        let mut xf = vec![0f32; mask.len()];
        prolong_add(&fine, &xc, nc, 1.0, &mut xf);
        let mut axf = vec![0f32; mask.len()];
        apply(&fine, &xf, &mut axf);
        let zero = vec![0f32; mask.len()];
        // P^T (A P xc) = restrict of (0 - (-A P xc))... use restrict_residual with b = 2 A x
        let b2: Vec<f32> = axf.iter().map(|v| 2.0 * v).collect();
        let mut pt = vec![0f32; lc];
        restrict_residual(&fine, &b2, &xf, nc, &mut pt);
        let mut acx = vec![0f32; lc];
        apply(&c, &xc, &mut acx);
        for k in 0..lc {
            assert!(
                (pt[k] - acx[k]).abs() < 1e-4,
                "cell {k}: {} vs {}",
                pt[k],
                acx[k]
            );
        }
        let _ = zero;
    }
}
