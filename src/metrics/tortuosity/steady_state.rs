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
//! Solver (private module `mg`): matrix-free preconditioned conjugate gradients; the preconditioner is
//! one symmetric V-cycle of aggregation multigrid (2×2×2 aggregates, Galerkin coarse operators,
//! which are again 7-point conductance networks; red–black Gauss–Seidel smoothing, forward before
//! and backward after the coarse correction, so the preconditioner is symmetric). Four f32 vectors
//! of the bounding box (solution, residual, search direction, preconditioned residual, the last
//! also holding the operator product); the operator product is formed in f64 per entry. The first
//! coarse level is stored as link counts (4 bytes per 8 voxels), the prolongation is folded into
//! the first smoothing pass after the coarse correction, and solid voxels are skipped by 64-bit
//! masks. Memory ≈ 18.5 bytes per voxel plus the label volume; reductions in f64 in a fixed order
//! so results do not depend on the thread count. Convergence: relative residual < `rtol`, layer
//! fluxes within
//! `flux_tol` of each other and τ changing by less than `tau_tol` (relative) between checks.

use super::mg::{self, Criteria, Fine, IN, OUT, XM, XP, YM, YP, ZM, ZP};
use super::{check_common, face_reach, permuted_mask, TortuosityResult};
use crate::error::{in_range, ParamError};
use crate::progress::Progress;
use ndarray::ArrayView3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Where the concentration is imposed (`boundary` key and `--boundary` flag; `half_voxel` and
/// `half-voxel` are the same value, as are `fixed_layers` and `fixed-layers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// TauFactor: Dirichlet planes half a voxel outside the image; L = n·d; τ uses ε_total.
    #[default]
    #[serde(alias = "half-voxel")]
    #[value(alias = "half_voxel")]
    HalfVoxel,
    /// PoreSpy: first and last layers fixed; L = (n−1)·d; τ uses ε_percolating.
    #[serde(alias = "fixed-layers")]
    #[value(alias = "fixed_layers")]
    FixedLayers,
}

impl Boundary {
    /// The name used in workflows and results (`half_voxel`, `fixed_layers`).
    pub fn as_str(self) -> &'static str {
        match self {
            Boundary::HalfVoxel => "half_voxel",
            Boundary::FixedLayers => "fixed_layers",
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
    /// Where the fixed concentrations sit at the inlet and outlet faces.
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
            boundary: Boundary::default(),
            rtol: 1e-5,
            flux_tol: 0.01,
            tau_tol: 2e-3,
            max_iter: 1000,
        }
    }
}

impl SteadyStateOptions {
    /// Check every value before the solve starts.
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
            "the steady-state solver supports up to 4.29e9 voxels (it needs ~19 bytes per voxel); crop the volume or use --method rw",
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
    let pad = mg::pad_of(n);
    let mut flags = vec![0u8; reach.len() + 2 * pad];
    flags[pad..pad + reach.len()]
        .par_chunks_mut(nx)
        .enumerate()
        .for_each(|(row, fr)| {
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
    let fine = Fine::from_padded(n, flags, w, gbound);
    let layers = match opts.boundary {
        Boundary::HalfVoxel => nz as f64,
        Boundary::FixedLayers => (nz - 1) as f64,
    };
    // D_eff/D0 from the mean layer current S (in units of the rescaled weights)
    let deff_from = |s: f64| -> f64 { s / (w[0] as f64) * layers / (ny * nx) as f64 };
    let crit = Criteria {
        rtol: opts.rtol,
        flux_tol: opts.flux_tol,
        tau_tol: opts.tau_tol,
        max_iter: opts.max_iter,
    };
    progress.start("steady-state diffusion (PCG)", opts.max_iter as u64);
    let sol = mg::solve(
        &fine,
        z_first,
        z_last,
        &crit,
        &|s| eps / deff_from(s),
        &|r| {
            progress.inc(1);
            progress.detail(&format!("residual {r:.1e} → {:.0e}", opts.rtol));
        },
    );
    progress.finish();
    let it = sol.iterations;
    let converged = sol.converged;
    let deff = deff_from(sol.mean_flux);
    res.notes.extend(sol.notes);
    if !converged {
        res.notes.push(format!(
            "not converged after {it} iterations: relative residual {:.2e} (target {:.1e}), layer flux spread {:.2e} (target {:.1e})",
            sol.relres, opts.rtol, sol.fluxvar, opts.flux_tol
        ));
    }
    res.iterations = Some(it);
    res.relative_residual = Some(sol.relres);
    res.flux_variation = Some(sol.fluxvar);
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
        // the packed first coarse level and the explicit second one applied to a vector equal
        // P^T A P applied to it (P = piecewise-constant prolongation), computed on the finer level
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
        let fine = Fine::new(n, &flags, [1.0, 0.25, 0.5], 2.0);
        let l1 = mg::pack(&fine);
        check_galerkin(&fine, &l1);
        let l2 = mg::coarsen(&l1);
        check_galerkin(&l1, &l2);
    }

    /// `P^T A P xc` on `fine` equals `A_c xc` on `coarse`, for a fixed pseudo-random `xc`.
    fn check_galerkin<F: mg::Level, C: mg::Level>(fine: &F, coarse: &C) {
        let nf = fine.n();
        let nc = coarse.n();
        let mut xc = mg::zeros(nc);
        let padc = mg::pad_of(nc);
        let lc = nc.iter().product::<usize>();
        for k in 0..lc {
            if coarse.coefs(padc + k).0 != 0.0 {
                xc[padc + k] = ((k * 7919) % 13) as f32 * 0.1;
            }
        }
        let mut xf = mg::zeros(nf);
        mg::prolong_add(fine, &xc, nc, 1.0, &mut xf);
        let mut axf = mg::zeros(nf);
        mg::apply(fine, &xf, &mut axf);
        // restrict_residual(b = 2 A x, x) = P^T (2 A x − A x) = P^T A P xc
        let b2: Vec<f32> = axf.iter().map(|v| 2.0 * v).collect();
        let mut pt = mg::zeros(nc);
        mg::restrict_residual(fine, &b2[..], &xf, nc, &mut pt);
        let mut acx = mg::zeros(nc);
        mg::apply(coarse, &xc, &mut acx);
        for k in 0..lc {
            assert!(
                (pt[padc + k] - acx[padc + k]).abs() < 1e-4,
                "cell {k}: {} vs {}",
                pt[padc + k],
                acx[padc + k]
            );
        }
        // and some coarse cell is coupled at all (the test can fail)
        assert!(acx.iter().any(|&v| v.abs() > 1e-3));
    }
}
