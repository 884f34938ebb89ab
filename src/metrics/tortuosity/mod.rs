//! Tortuosity factor of one phase of a label volume (methods §7).
//!
//! Two independent estimators with one result type:
//! - [`steady_state`]: Laplace equation in the phase, TauFactor's conventions (Dirichlet planes half a
//!   voxel outside the image, no-flux elsewhere), or PoreSpy's (first/last layer fixed, length L−1);
//!   preconditioned conjugate gradients with an aggregation-multigrid V-cycle.
//! - [`random_walk`]: lattice "blind ant" walk (Nakashima & Kamiya 2007), mirror boundaries, τ from
//!   the long-time slope of the mean squared displacement, with a confidence interval.
//!
//! Convention: the tortuosity factor τ = ε·D₀/D_eff (not squared; TauFactor, PoreSpy, PuMA), with ε
//! stated in `porosity_used`. MacMullin number N_M = D₀/D_eff = τ/ε. A phase that does not connect
//! the two faces has τ = ∞, reported as `tortuosity_factor: null` with `percolating: false`.

mod mg;
pub mod random_walk;
pub mod steady_state;

use crate::error::ParamError;
use serde::{Deserialize, Serialize};

/// Parse `z|y|x` (or `0|1|2`) to a numpy axis index.
pub fn parse_axis(s: &str) -> Result<usize, ParamError> {
    crate::volume::Axis::parse(s).map(crate::volume::Axis::index)
}

/// Tortuosity of one phase along one axis, by one method. JSON keys are the CLI's and the workflow
/// step's. Dimensionless quantities have no unit; `voxel_size_nm` is `[dz, dy, dx]` in nm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TortuosityResult {
    /// `"steady_state_fd"` or `"random_walk"`.
    pub method: String,
    /// Label value of the phase measured.
    pub phase: u8,
    /// Transport axis name (`z`, `y`, `x`).
    pub axis: String,
    /// Transport axis as numpy axis index (0 = z, 1 = y, 2 = x).
    pub axis_index: usize,
    /// Tortuosity factor τ = ε·D₀/D_eff (dimensionless); `null` = infinite (no percolating path).
    pub tortuosity_factor: Option<f64>,
    /// Lower end of the confidence interval of τ (random walk only).
    pub ci_low: Option<f64>,
    /// Upper end of the confidence interval of τ (random walk only).
    pub ci_high: Option<f64>,
    /// Confidence level of `[ci_low, ci_high]` (e.g. 0.95; random walk only).
    pub ci_level: Option<f64>,
    /// Whether the phase connects the two faces normal to the axis (6-connectivity).
    pub percolating: bool,
    /// Effective diffusivity relative to the free diffusivity, D_eff/D₀ = ε/τ (0 when not percolating).
    pub deff_over_d0: f64,
    /// MacMullin number N_M = D₀/D_eff = τ/ε; `null` = infinite.
    pub macmullin: Option<f64>,
    /// Volume fraction of the phase in the whole image.
    pub porosity_total: f64,
    /// Volume fraction of the phase in clusters touching both faces normal to the axis.
    pub porosity_percolating: f64,
    /// Which volume fraction ε entered τ: `"total"` or `"percolating"`.
    pub porosity_used: String,
    /// Voxel size `[dz, dy, dx]` in nm.
    pub voxel_size_nm: [f64; 3],
    /// Steady state: `"half_voxel"` (TauFactor) or `"fixed_layers"` (PoreSpy); random walk: `"mirror"`.
    pub boundary: String,
    /// Solver iterations (steady state).
    pub iterations: Option<usize>,
    /// Final relative residual ‖b − Ax‖/‖b‖ (steady state).
    pub relative_residual: Option<f64>,
    /// Relative spread (max − min)/mean of the flux through the layers (steady state).
    pub flux_variation: Option<f64>,
    /// Steps per walker (random walk).
    pub steps: Option<u64>,
    /// Number of walkers (random walk).
    pub walkers: Option<u64>,
    /// Seed of the random walk.
    pub seed: Option<u64>,
    /// Whether the convergence criteria were met.
    pub converged: bool,
    /// Wall-clock time of the computation in seconds.
    pub time_s: f64,
    /// Human-readable remarks (e.g. why a criterion was not met).
    pub notes: Vec<String>,
    /// What makes this value doubtful (see [`TortuosityResult::assess`]); the CLI prints these
    /// and `fibstack run` stops on the unconverged / below-one ones unless
    /// `allow_unconverged = true`.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl TortuosityResult {
    /// Empty result skeleton for `method` (fields filled by the estimators).
    pub(crate) fn new(method: &str, phase: u8, axis: usize, voxel_nm: [f64; 3]) -> Self {
        TortuosityResult {
            method: method.to_string(),
            phase,
            axis: crate::volume::Axis::ALL[axis].name().to_string(),
            axis_index: axis,
            tortuosity_factor: None,
            ci_low: None,
            ci_high: None,
            ci_level: None,
            percolating: false,
            deff_over_d0: 0.0,
            macmullin: None,
            porosity_total: 0.0,
            porosity_percolating: 0.0,
            porosity_used: "total".to_string(),
            voxel_size_nm: voxel_nm,
            boundary: String::new(),
            iterations: None,
            relative_residual: None,
            flux_variation: None,
            steps: None,
            walkers: None,
            seed: None,
            converged: false,
            time_s: 0.0,
            notes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// τ lies below 1 beyond the method's uncertainty (impossible: D_eff ≤ ε·D₀). For the random
    /// walk the whole confidence interval must lie below 1; for the steady state τ < 1 − 10⁻³.
    pub fn below_one(&self) -> bool {
        match self.tortuosity_factor {
            Some(t) => match self.ci_high {
                Some(hi) if self.method == "random_walk" => hi < 1.0,
                // an interval open upwards cannot lie below 1
                None if self.method == "random_walk" => false,
                _ => t < 1.0 - 1e-3,
            },
            None => false,
        }
    }

    /// Whether the value must not be used without being told so: the convergence criteria were
    /// not met, or τ < 1. (τ = ∞ for a phase that does not connect the faces is a legitimate
    /// answer, warned about but not "suspect".)
    pub fn is_suspect(&self) -> bool {
        (self.percolating && !self.converged) || self.below_one()
    }

    /// Fill [`Self::warnings`] from the value and the convergence state (called by both
    /// estimators before they return).
    ///
    /// ```
    /// use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, SteadyStateOptions};
    /// // a phase that does not reach the far face along z
    /// let mut a = ndarray::Array3::<u8>::zeros((4, 3, 3));
    /// a.slice_mut(ndarray::s![..2, .., ..]).fill(1);
    /// let r = tortuosity_fd(a.view(), 1, [1.0; 3], 0, &SteadyStateOptions::default(),
    ///     &fibstack::progress::Silent).unwrap();
    /// assert!(r.tortuosity_factor.is_none() && !r.is_suspect());
    /// assert!(r.warnings[0].contains("does not connect"));
    /// ```
    pub fn assess(&mut self) {
        self.warnings.clear();
        let tau = self
            .tortuosity_factor
            .map_or("inf".to_string(), |t| format!("{t:.4}"));
        if !self.percolating {
            self.warnings.push(format!(
                "phase {} does not connect the two faces normal to {}: tau = inf, D_eff = 0 (a legitimate answer if the phase is meant to be blocked along {}; otherwise check the phase value and the axis)",
                self.phase, self.axis, self.axis
            ));
            return;
        }
        if !self.converged {
            let fix = if self.method == "random_walk" {
                "raise --max-steps / max_steps, or fix --steps / steps long enough"
            } else {
                "raise --max-iter / max_iter (or loosen --tol / tol)"
            };
            self.warnings.push(format!(
                "{} tau along {} = {tau} did NOT converge: do not use it; {fix}",
                self.method, self.axis
            ));
        }
        if self.below_one() {
            self.warnings.push(format!(
                "{} tau along {} = {tau} is below 1, which is impossible (D_eff cannot exceed eps·D0): the solve or walk has not settled, or the voxel size is wrong",
                self.method, self.axis
            ));
        }
    }
}

/// Check the common inputs: axis, voxel size, non-empty volume.
pub(crate) fn check_common(
    shape: &[usize],
    axis: usize,
    voxel_nm: [f64; 3],
) -> Result<(), ParamError> {
    if axis > 2 {
        return Err(ParamError::new(
            "axis",
            axis,
            "must be 0 (z), 1 (y) or 2 (x)",
        ));
    }
    for (i, name) in ["dz", "dy", "dx"].iter().enumerate() {
        let v = voxel_nm[i];
        if !(v.is_finite() && v > 0.0) {
            return Err(ParamError::new(
                format!("voxel size {name}"),
                v,
                "must be a positive number of nanometres (give --voxel or set it in the file)",
            ));
        }
    }
    if shape.contains(&0) {
        return Err(ParamError::new(
            "volume shape",
            format!("{shape:?}"),
            "the label volume is empty; check the input file",
        ));
    }
    Ok(())
}

/// Voxels of `mask` (flattened `[z, y, x]`, shape `n`) reached from the face `z = 0` (bit 0) and from
/// the face `z = n[0]-1` (bit 1) through 6-connected phase voxels.
pub(crate) fn face_reach(mask: &[u8], n: [usize; 3]) -> Vec<u8> {
    let (nz, ny, nx) = (n[0], n[1], n[2]);
    let sy = nx;
    let sz = nx * ny;
    let mut reach = vec![0u8; mask.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (bit, z0) in [(1u8, 0usize), (2u8, nz - 1)] {
        for i in z0 * sz..(z0 + 1) * sz {
            if mask[i] != 0 && reach[i] & bit == 0 {
                reach[i] |= bit;
                stack.push(i);
            }
        }
        while let Some(i) = stack.pop() {
            let x = i % nx;
            let y = (i / nx) % ny;
            let z = i / sz;
            let visit = |j: usize, reach: &mut Vec<u8>, stack: &mut Vec<usize>| {
                if mask[j] != 0 && reach[j] & bit == 0 {
                    reach[j] |= bit;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1, &mut reach, &mut stack);
            }
            if x + 1 < nx {
                visit(i + 1, &mut reach, &mut stack);
            }
            if y > 0 {
                visit(i - sy, &mut reach, &mut stack);
            }
            if y + 1 < ny {
                visit(i + sy, &mut reach, &mut stack);
            }
            if z > 0 {
                visit(i - sz, &mut reach, &mut stack);
            }
            if z + 1 < nz {
                visit(i + sz, &mut reach, &mut stack);
            }
        }
    }
    reach
}

/// The permutation that brings `axis` first (the other two keep their order) and the phase mask
/// in that order, flattened, with its shape.
pub(crate) fn permuted_mask(
    labels: ndarray::ArrayView3<u8>,
    phase: u8,
    axis: usize,
) -> ([usize; 3], Vec<u8>, [usize; 3]) {
    let perm = match axis {
        0 => [0, 1, 2],
        1 => [1, 0, 2],
        _ => [2, 0, 1],
    };
    let v = labels.permuted_axes(perm);
    let s = v.shape();
    let n = [s[0], s[1], s[2]];
    let mask: Vec<u8> = if axis == 0 {
        labels.iter().map(|&l| (l == phase) as u8).collect()
    } else {
        v.iter().map(|&l| (l == phase) as u8).collect()
    };
    (perm, mask, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_names_parse() {
        assert_eq!(parse_axis("x").unwrap(), 2);
        assert_eq!(parse_axis("Z").unwrap(), 0);
        assert_eq!(parse_axis("1").unwrap(), 1);
        assert!(parse_axis("w").is_err());
    }

    #[test]
    fn reach_marks_faces() {
        // 3 layers: a column at (y=0,x=0) through all, a dead-end at (1,1) from the bottom, an
        // isolated voxel in the middle layer at (0, 2)
        let n = [3, 2, 3];
        let mut m = vec![0u8; 18];
        let idx = |z: usize, y: usize, x: usize| z * 6 + y * 3 + x;
        for z in 0..3 {
            m[idx(z, 0, 0)] = 1;
        }
        m[idx(2, 1, 1)] = 1;
        m[idx(1, 0, 2)] = 1;
        let r = face_reach(&m, n);
        assert_eq!(r[idx(1, 0, 0)], 3);
        assert_eq!(r[idx(2, 1, 1)], 2);
        assert_eq!(r[idx(1, 0, 2)], 0);
    }
}
