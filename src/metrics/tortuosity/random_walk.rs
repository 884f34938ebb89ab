//! Random-walk tortuosity (methods §7; Nakashima & Kamiya 2007, pytrax).
//!
//! Lattice "blind ant": at every time step a walker picks one of its 6 neighbours; a move into a
//! voxel of another phase is rejected but the time still advances. Walkers start uniformly over
//! all voxels of the phase (rejection sampling over the box). The volume is continued by mirror
//! copies: a walker leaving the box enters the mirrored copy of the boundary voxel (always allowed)
//! and its unwrapped displacement keeps counting.
//!
//! Anisotropic voxels: axis i is chosen with probability p_i ∝ 1/d_i², each direction with p_i/2.
//! In free space ⟨Δx_i²⟩ = n·p_i·d_i² = n·c with c = 1/Σ_j d_j⁻² nm² per step for every axis, so
//! free diffusion is isotropic in nm (c = 1/3 voxel² for cubic voxels, as in methods §7).
//!
//! τ_i = c / s_i, with s_i the slope of the pooled mean squared displacement along axis i (nm² per
//! step), fitted by least squares on the second half of the walk (the long-time linear part).
//! Seeding over all phase voxels and ε_total gives the steady-state τ (isolated clusters and dead
//! ends lower the mean slope exactly as they lower D_eff). Axes on which the phase does not
//! percolate (6-connectivity between the two faces) are reported with τ = ∞ (no walk needed).
//!
//! Statistics: walkers are split into ≥ 16 equal batches, each with its own random stream
//! `Rng::stream(seed, batch)`; batches run in parallel and are combined in batch order, so results
//! are identical for any thread count. The confidence interval of τ comes from the spread of the
//! per-batch slopes (mean ± t·SE, Student t) mapped through τ = c/s.
//!
//! Automatic length: the walk doubles in length (same walkers continue) until, on every requested
//! percolating axis, the slope changes by less than 1 % between doublings (or by less than two
//! standard errors, i.e. the change is no longer statistically detectable) and the RMS
//! displacement reaches 5× the mean pore size (mean chord length of the phase, capped at half the
//! mean box edge), or `max_steps` is reached (then `converged = false`). Default walker count
//! N = 2/precision² (relative error of the MSD ≈ √(2/N)).

// small fixed-size per-axis loops index several arrays at once; indices read clearer here
#![allow(clippy::needless_range_loop)]

use super::{check_common, face_reach, permuted_mask, TortuosityResult};
use crate::error::{in_range, ParamError};
use crate::progress::Progress;
use crate::rng::Rng;
use crate::volume::bits::{bit, BitVolume};
use ndarray::ArrayView3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Settings of the walk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomWalkOptions {
    /// Seed of all random streams.
    pub seed: u64,
    /// Number of walkers; default `ceil(2 / precision²)`.
    pub walkers: Option<u64>,
    /// Fixed walk length in steps (disables the automatic length).
    pub steps: Option<u64>,
    /// Target relative precision of the MSD (default 0.01 → 20 000 walkers).
    pub precision: f64,
    /// Longest automatic walk (steps per walker, default 2²¹).
    pub max_steps: u64,
    /// Confidence level of the interval (default 0.95).
    pub confidence: f64,
}

impl Default for RandomWalkOptions {
    fn default() -> Self {
        RandomWalkOptions {
            seed: 0,
            walkers: None,
            steps: None,
            precision: 0.01,
            max_steps: 1 << 21,
            confidence: 0.95,
        }
    }
}

/// Longest walk accepted (steps per walker), fixed or automatic.
pub const MAX_WALK_STEPS: u64 = 1 << 24;
/// Most walker-steps accepted for a fixed walk length (~10 min at 10⁸ steps/s).
pub const MAX_WALKER_STEPS: f64 = 6e10;

/// The default number of walkers for a target precision: ⌈2/precision²⌉.
pub fn default_walkers(precision: f64) -> u64 {
    (2.0 / (precision * precision)).ceil() as u64
}

impl RandomWalkOptions {
    /// Check every value before the walk starts.
    pub fn validate(&self) -> Result<(), ParamError> {
        // 2/precision² walkers by default: at most 5e7
        in_range("precision", self.precision, 2e-4, 0.5)?;
        in_range("confidence", self.confidence, 0.5, 0.999)?;
        if let Some(w) = self.walkers {
            if !(16..=100_000_000).contains(&w) {
                return Err(ParamError::new(
                    "walkers",
                    w,
                    "must lie in [16, 1e8] (at least 16 for the confidence interval)",
                ));
            }
        }
        if let Some(s) = self.steps {
            if !(64..=MAX_WALK_STEPS).contains(&s) {
                return Err(ParamError::new(
                    "steps",
                    s,
                    format!("must lie in [64, {MAX_WALK_STEPS}] (2^24)"),
                ));
            }
            let w = self
                .walkers
                .unwrap_or_else(|| default_walkers(self.precision));
            if (w as f64) * (s as f64) > MAX_WALKER_STEPS {
                return Err(ParamError::new(
                    "walkers x steps",
                    format!("{w} x {s}"),
                    format!("must be at most {MAX_WALKER_STEPS:e} walker-steps (hours of work beyond); fewer walkers or a shorter walk"),
                ));
            }
        }
        if !(1024..=MAX_WALK_STEPS).contains(&self.max_steps) {
            return Err(ParamError::new(
                "max_steps",
                self.max_steps,
                format!("must lie in [1024, {MAX_WALK_STEPS}] (2^24)"),
            ));
        }
        Ok(())
    }
}

/// Mean squared displacement of all walkers versus time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MsdCurve {
    /// Sample times (steps).
    pub steps: Vec<u64>,
    /// ⟨Δx_i²⟩ in nm² per axis `[z, y, x]` at each sample time, in the phase.
    pub msd_nm2: [Vec<f64>; 3],
    /// Free-space MSD growth c = 1/Σ d⁻² (nm² per step), the same on every axis.
    pub free_nm2_per_step: f64,
}

impl MsdCurve {
    /// CSV: `step,msd_z_nm2,msd_y_nm2,msd_x_nm2,msd_free_nm2`.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("step,msd_z_nm2,msd_y_nm2,msd_x_nm2,msd_free_nm2\n");
        for (k, t) in self.steps.iter().enumerate() {
            s.push_str(&format!(
                "{},{},{},{},{}\n",
                t,
                self.msd_nm2[0][k],
                self.msd_nm2[1][k],
                self.msd_nm2[2][k],
                *t as f64 * self.free_nm2_per_step
            ));
        }
        s
    }
}

/// Result of a walk: one [`TortuosityResult`] per requested axis and the MSD curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomWalkOutput {
    /// One result per requested axis.
    pub results: Vec<TortuosityResult>,
    /// Mean squared displacement per axis against walker steps.
    pub msd: MsdCurve,
}

/// A phase as a bit-packed mask plus the whole-volume numbers the walk needs, so the walk can run
/// on a compact mask built out of core (`stream::chain`) with the same result as
/// [`tortuosity_rw`] on the label volume.
#[derive(Debug, Clone, Copy)]
pub struct PackedPhase<'a> {
    /// Bit `i & 63` of word `i >> 6` is voxel `i` (C order over `shape`); `ceil(n/64)` words.
    pub words: &'a [u64],
    /// `[nz, ny, nx]`.
    pub shape: [usize; 3],
    /// Label value of the phase (for the report).
    pub phase: u8,
    /// Voxels of the phase.
    pub phase_voxels: u64,
    /// Per axis (z, y, x): voxels of the phase in 6-connected clusters touching both faces
    /// normal to the axis (only the requested axes are read).
    pub percolating_voxels: [u64; 3],
    /// Mean chord length of the phase (nm), as the stopping rule uses it.
    pub mean_chord_nm: f64,
}

/// Mean chord length (nm) of a bit-packed phase, equal to the one [`tortuosity_rw`] uses.
pub fn mean_chord_packed(words: &[u64], shape: [usize; 3], d: [f64; 3]) -> f64 {
    let m = words;
    let [nz, ny, nx] = shape;
    // per z-slice: phase voxels and run starts along x, y and z
    let per: Vec<[u64; 4]> = (0..nz)
        .into_par_iter()
        .map(|z| {
            let mut c = [0u64; 4];
            let base = z * ny * nx;
            for y in 0..ny {
                for x in 0..nx {
                    let i = base + y * nx + x;
                    if !bit(m, i) {
                        continue;
                    }
                    c[0] += 1;
                    if z == 0 || !bit(m, i - ny * nx) {
                        c[1] += 1;
                    }
                    if y == 0 || !bit(m, i - nx) {
                        c[2] += 1;
                    }
                    if x == 0 || !bit(m, i - 1) {
                        c[3] += 1;
                    }
                }
            }
            c
        })
        .collect();
    let vox: u64 = per.iter().map(|c| c[0]).sum();
    let mut tot = 0.0;
    let mut cnt = 0;
    for ax in 0..3 {
        let runs: u64 = per.iter().map(|c| c[1 + ax]).sum();
        if runs > 0 {
            tot += vox as f64 / runs as f64 * d[ax];
            cnt += 1;
        }
    }
    if cnt > 0 {
        tot / cnt as f64
    } else {
        0.0
    }
}

#[derive(Clone)]
struct Walker {
    /// Voxel coordinate in the box `[z, y, x]`.
    pos: [i32; 3],
    /// +1 or −1: direction of the box coordinate when the unwrapped coordinate grows.
    dir: [i32; 3],
    /// Flat voxel index of `pos`.
    idx: usize,
    /// Unwrapped displacement in voxels.
    disp: [i64; 3],
}

struct Batch {
    rng: Rng,
    walkers: Vec<Walker>,
    /// Σ over walkers of disp_i² (voxels²) at each sample time (index = sample number).
    sums: Vec<[f64; 3]>,
}

/// Walk geometry shared by all batches.
struct Geometry<'a> {
    mask: &'a [u64],
    n: [i32; 3],
    stride: [isize; 3],
    /// Cumulative thresholds (31-bit) for choosing z, then y, else x.
    thr: [u32; 2],
}

impl Geometry<'_> {
    /// Advance one walker by `steps` steps.
    #[inline(always)]
    fn walk(&self, w: &mut Walker, rng: &mut Rng, steps: u64) {
        let mut left = steps;
        while left > 0 {
            let r = rng.next_u64();
            let take = left.min(2);
            for k in 0..take {
                let v = (r >> (32 * k)) as u32;
                let s: i32 = if v & 1 == 0 { 1 } else { -1 };
                let u = v >> 1;
                let a = if u < self.thr[0] {
                    0
                } else if u < self.thr[1] {
                    1
                } else {
                    2
                };
                let nb = w.pos[a] + s * w.dir[a];
                if nb < 0 || nb >= self.n[a] {
                    // into the mirror copy of the same voxel: always allowed
                    w.dir[a] = -w.dir[a];
                    w.disp[a] += s as i64;
                } else {
                    let ni = (w.idx as isize + (s * w.dir[a]) as isize * self.stride[a]) as usize;
                    if bit(self.mask, ni) {
                        w.pos[a] = nb;
                        w.idx = ni;
                        w.disp[a] += s as i64;
                    }
                }
            }
            left -= take;
        }
    }
}

/// Two-sided Student-t quantile for `level` with `df` degrees of freedom (Cornish–Fisher
/// expansion around the normal quantile; error < 1e-3 for df ≥ 5).
fn t_quantile(level: f64, df: f64) -> f64 {
    let p = 0.5 + level / 2.0;
    // normal quantile (Acklam-style rational approximation)
    let z = normal_quantile(p);
    let z3 = z * z * z;
    let z5 = z3 * z * z;
    let z7 = z5 * z * z;
    z + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df * df * df)
}

fn normal_quantile(p: f64) -> f64 {
    // Beasley-Springer-Moro style via bisection on erf-free CDF (robust, enough precision)
    let cdf = |x: f64| 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..100 {
        let m = 0.5 * (lo + hi);
        if cdf(m) < p {
            lo = m;
        } else {
            hi = m;
        }
    }
    0.5 * (lo + hi)
}

fn erf(x: f64) -> f64 {
    // Abramowitz–Stegun 7.1.26 is too coarse; use a series/continued fraction split
    let t = x.abs();
    let r = if t < 3.0 {
        // Taylor series
        let mut sum = t;
        let mut term = t;
        let mut k = 0.0;
        loop {
            k += 1.0;
            term *= -t * t / k;
            let add = term / (2.0 * k + 1.0);
            sum += add;
            if add.abs() < 1e-17 {
                break;
            }
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    } else {
        // asymptotic continued fraction for erfc
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = (k as f64 / 2.0) / (t + f);
        }
        1.0 - (-t * t).exp() / std::f64::consts::PI.sqrt() / (t + f)
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// Least-squares slope of `y` against `t` over samples with index ≥ `from`.
fn slope(t: &[f64], y: &[f64], from: usize) -> f64 {
    let k = (t.len() - from) as f64;
    let mt = t[from..].iter().sum::<f64>() / k;
    let my = y[from..].iter().sum::<f64>() / k;
    let mut num = 0.0;
    let mut den = 0.0;
    for j in from..t.len() {
        num += (t[j] - mt) * (y[j] - my);
        den += (t[j] - mt) * (t[j] - mt);
    }
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

const SAMPLES: usize = 64;

/// Random-walk tortuosity of phase `phase` along the numpy axes in `axes` (0 = z, 1 = y, 2 = x);
/// one walk serves all axes.
///
/// ```
/// use fibstack::metrics::tortuosity::random_walk::{tortuosity_rw, RandomWalkOptions};
/// use fibstack::progress::Silent;
/// let open = ndarray::Array3::<u8>::ones((8, 8, 8));
/// let o = RandomWalkOptions { walkers: Some(4000), steps: Some(2000), ..Default::default() };
/// let out = tortuosity_rw(open.view(), 1, [1.0; 3], &[0, 1, 2], &o, &Silent).unwrap();
/// for r in &out.results {
///     assert!((r.tortuosity_factor.unwrap() - 1.0).abs() < 0.1);
/// }
/// ```
pub fn tortuosity_rw(
    labels: ArrayView3<u8>,
    phase: u8,
    voxel_nm: [f64; 3],
    axes: &[usize],
    opts: &RandomWalkOptions,
    progress: &dyn Progress,
) -> Result<RandomWalkOutput, ParamError> {
    let t0 = Instant::now();
    check_walk(labels.shape(), voxel_nm, axes, opts)?;
    let sh = labels.shape();
    let n = [sh[0], sh[1], sh[2]];
    let count = labels.iter().filter(|&&v| v == phase).count();
    let mut percolating_voxels = [0u64; 3];
    for &a in axes {
        let (_, mask, pn) = permuted_mask(labels, phase, a);
        let reach = face_reach(&mask, pn);
        percolating_voxels[a] = reach.iter().filter(|&&v| v == 3).count() as u64;
    }
    let mask = BitVolume::from_labels(labels.view(), phase);
    let chord = mean_chord_packed(mask.words(), n, voxel_nm);
    let packed = PackedPhase {
        words: mask.words(),
        shape: n,
        phase,
        phase_voxels: count as u64,
        percolating_voxels,
        mean_chord_nm: chord,
    };
    walk_packed(&packed, voxel_nm, axes, opts, progress, t0)
}

/// The checks shared by [`tortuosity_rw`] and [`tortuosity_rw_packed`]: every axis and the voxel
/// size, at least one axis, the walk options.
fn check_walk(
    shape: &[usize],
    voxel_nm: [f64; 3],
    axes: &[usize],
    opts: &RandomWalkOptions,
) -> Result<(), ParamError> {
    for &a in axes {
        check_common(shape, a, voxel_nm)?;
    }
    if axes.is_empty() {
        return Err(ParamError::new("axis", "none", "give at least one axis"));
    }
    opts.validate()
}

/// [`tortuosity_rw`] on a bit-packed phase (same result for the same seed).
pub fn tortuosity_rw_packed(
    packed: &PackedPhase,
    voxel_nm: [f64; 3],
    axes: &[usize],
    opts: &RandomWalkOptions,
    progress: &dyn Progress,
) -> Result<RandomWalkOutput, ParamError> {
    let t0 = Instant::now();
    check_walk(&packed.shape, voxel_nm, axes, opts)?;
    let len: usize = packed.shape.iter().product();
    if packed.words.len() != len.div_ceil(64) {
        return Err(ParamError::new(
            "packed mask",
            packed.words.len(),
            format!("needs {} words for {:?}", len.div_ceil(64), packed.shape),
        ));
    }
    walk_packed(packed, voxel_nm, axes, opts, progress, t0)
}

/// How a walk is split: `batches` batches of `per_batch` walkers, batch `b` with its own random
/// stream `Rng::stream(seed, b)`, and the first walk length (steps) and sampling interval. The
/// automatic length doubles both until the stopping rule holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WalkPlan {
    /// Number of batches (≥ 16).
    pub batches: usize,
    /// Walkers per batch.
    pub per_batch: usize,
    /// Steps of the first walk (the whole walk for a fixed length).
    pub steps: u64,
    /// Steps between two MSD samples of the first walk (`steps / 64`).
    pub interval: u64,
}

/// The [`WalkPlan`] of `opts` (after [`RandomWalkOptions::validate`]).
pub fn walk_plan(opts: &RandomWalkOptions) -> WalkPlan {
    let n_walkers = opts
        .walkers
        .unwrap_or_else(|| default_walkers(opts.precision))
        .max(16);
    let nb = (n_walkers.div_ceil(1000)).max(16) as usize;
    let per = (n_walkers as usize).div_ceil(nb);
    let steps: u64 = match opts.steps {
        Some(s) => s.div_ceil(SAMPLES as u64) * SAMPLES as u64,
        None => 1024,
    };
    WalkPlan {
        batches: nb,
        per_batch: per,
        steps,
        interval: steps / SAMPLES as u64,
    }
}

/// The walk's geometry over `mask`.
fn geometry<'a>(mask: &'a [u64], n: [usize; 3], voxel_nm: [f64; 3]) -> Geometry<'a> {
    let inv: Vec<f64> = voxel_nm.iter().map(|v| 1.0 / (v * v)).collect();
    let sinv: f64 = inv.iter().sum();
    Geometry {
        mask,
        n: [n[0] as i32, n[1] as i32, n[2] as i32],
        stride: [(n[1] * n[2]) as isize, n[2] as isize, 1],
        thr: [
            ((inv[0] / sinv) * (1u64 << 31) as f64) as u32,
            (((inv[0] + inv[1]) / sinv) * (1u64 << 31) as f64) as u32,
        ],
    }
}

impl Batch {
    /// Batch `b`: its random stream and `per` walkers started uniformly over the phase.
    fn new(b: usize, seed: u64, per: usize, mask: &[u64], n: [usize; 3]) -> Batch {
        let len = n.iter().product::<usize>() as u64;
        let mut rng = Rng::stream(seed, b as u64);
        let walkers = (0..per)
            .map(|_| {
                let idx = loop {
                    let i = rng.below(len) as usize;
                    if bit(mask, i) {
                        break i;
                    }
                };
                let pos = [
                    (idx / (n[1] * n[2])) as i32,
                    ((idx / n[2]) % n[1]) as i32,
                    (idx % n[2]) as i32,
                ];
                Walker {
                    pos,
                    dir: [1; 3],
                    idx,
                    disp: [0; 3],
                }
            })
            .collect();
        Batch {
            rng,
            walkers,
            sums: Vec::new(),
        }
    }

    /// Walk on from step `done` to `total`, sampling every `interval` steps.
    fn advance(&mut self, geo: &Geometry, done: u64, total: u64, interval: u64) {
        let mut t = done;
        while t < total {
            let mut acc = [0f64; 3];
            for w in self.walkers.iter_mut() {
                geo.walk(w, &mut self.rng, interval);
                for a in 0..3 {
                    acc[a] += (w.disp[a] * w.disp[a]) as f64;
                }
            }
            self.sums.push(acc);
            t += interval;
        }
    }

    /// Before a doubling: keep every other sample (those at multiples of the doubled interval).
    fn halve_samples(&mut self) {
        self.sums = self.sums.iter().skip(1).step_by(2).copied().collect();
    }
}

/// The MSD sums of batches `batches` (a range of `0..plan.batches`) after the plan's first walk
/// and `doublings` doublings of it (the walk of [`WalkNext::Longer`] after that many of them):
/// `sums[i][k][a]` = Σ over the walkers of batch `batches.start + i` of the squared displacement
/// along axis `a` (voxels²) at sample `k`. The same walkers, random streams and sampling
/// schedule as [`tortuosity_rw_packed`] (a batch's walkers share its stream, so a longer walk is
/// the earlier walks continued, not a fresh walk with a longer interval), so the batches can be
/// walked in separate processes and judged together by [`walk_assess`] with the same result.
pub fn walk_batches(
    packed: &PackedPhase,
    voxel_nm: [f64; 3],
    opts: &RandomWalkOptions,
    batches: std::ops::Range<usize>,
    doublings: u32,
) -> Result<Vec<Vec<[f64; 3]>>, ParamError> {
    opts.validate()?;
    let plan = walk_plan(opts);
    let len: usize = packed.shape.iter().product();
    if packed.words.len() != len.div_ceil(64) {
        return Err(ParamError::new(
            "packed mask",
            packed.words.len(),
            format!("needs {} words for {:?}", len.div_ceil(64), packed.shape),
        ));
    }
    let longest = plan.steps.checked_shl(doublings).unwrap_or(u64::MAX);
    if batches.end > plan.batches || longest > opts.max_steps.max(plan.steps) {
        return Err(ParamError::new(
            "batches",
            format!("{batches:?} of {}, {doublings} doublings", plan.batches),
            "give a range of the plan's batches and a walk no longer than max_steps",
        ));
    }
    if packed.phase_voxels == 0 {
        return Err(ParamError::new(
            "phase",
            packed.phase,
            "has no voxels to start walkers on",
        ));
    }
    let mask = packed.words;
    let geo = geometry(mask, packed.shape, voxel_nm);
    Ok(batches
        .into_par_iter()
        .map(|b| {
            let mut bt = Batch::new(b, opts.seed, plan.per_batch, mask, packed.shape);
            let (mut done, mut total, mut interval) = (0, plan.steps, plan.interval);
            for r in 0..=doublings {
                bt.advance(&geo, done, total, interval);
                done = total;
                if r < doublings {
                    bt.halve_samples();
                    interval *= 2;
                    total *= 2;
                }
            }
            bt.sums
        })
        .collect())
}

/// After a walk of `total` steps sampled every `interval`: either walk longer (twice the steps
/// and the interval) or the result.
#[derive(Debug, Clone, PartialEq)]
pub enum WalkNext {
    /// Walk again to `steps`, sampling every `interval`; `pooled` is the pooled slope per axis
    /// to pass back to [`walk_assess`] with the longer walk's sums.
    Longer {
        /// Steps of the longer walk.
        steps: u64,
        /// Steps between MSD samples.
        interval: u64,
        /// Pooled MSD slope per axis of the walk so far (nm² per step).
        pooled: Vec<f64>,
    },
    /// The walk is done.
    Done(RandomWalkOutput),
}

/// The per-axis results before any walk: percolation from `packed`, τ = ∞ on the axes where
/// the phase does not percolate; and the axes that need a walk.
fn axis_results(
    packed: &PackedPhase,
    voxel_nm: [f64; 3],
    axes: &[usize],
    opts: &RandomWalkOptions,
) -> (Vec<TortuosityResult>, Vec<usize>) {
    let phase = packed.phase;
    let total = packed.shape.iter().product::<usize>() as f64;
    let mut results: Vec<TortuosityResult> = Vec::new();
    let mut walk_axes: Vec<usize> = Vec::new();
    for &a in axes {
        let mut r = TortuosityResult::new("random_walk", phase, a, voxel_nm);
        r.boundary = "mirror".into();
        r.porosity_total = packed.phase_voxels as f64 / total;
        r.porosity_used = "total".into();
        r.seed = Some(opts.seed);
        let perc = packed.percolating_voxels[a];
        r.porosity_percolating = perc as f64 / total;
        r.percolating = perc > 0;
        if !r.percolating {
            r.converged = true;
            r.notes.push(format!(
                "phase {phase} does not connect the two faces normal to {}: tau is infinite, D_eff = 0",
                r.axis
            ));
        } else {
            walk_axes.push(a);
        }
        results.push(r);
    }
    (results, walk_axes)
}

/// The stopping decision after a walk, from every batch's sums: `Some(converged)` to stop.
#[allow(clippy::too_many_arguments)]
fn decide(
    packed: &PackedPhase,
    voxel_nm: [f64; 3],
    walk_axes: &[usize],
    opts: &RandomWalkOptions,
    sums: &[&[[f64; 3]]],
    total: u64,
    interval: u64,
    prev_slopes: Option<&[f64]>,
    notes: &mut Vec<String>,
) -> (Option<bool>, Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
    let nb = sums.len();
    let per = walk_plan(opts).per_batch;
    let d = voxel_nm;
    let n = packed.shape;
    let ns = sums[0].len();
    let t: Vec<f64> = (1..=ns).map(|k| (k as u64 * interval) as f64).collect();
    let from = ns / 2;
    // pooled and per-batch slopes per axis (nm² per step)
    let mut pooled = vec![0f64; 3];
    let mut per_batch = vec![vec![0f64; nb]; 3];
    for a in 0..3 {
        let mut pooled_y = vec![0f64; ns];
        for (bi, b) in sums.iter().enumerate() {
            let y: Vec<f64> = b.iter().map(|s| s[a] / per as f64 * d[a] * d[a]).collect();
            per_batch[a][bi] = slope(&t, &y, from);
            for k in 0..ns {
                pooled_y[k] += y[k] / nb as f64;
            }
        }
        pooled[a] = slope(&t, &pooled_y, from);
    }
    if opts.steps.is_some() {
        return (Some(true), pooled, per_batch, t);
    }
    // pore size for the stopping rule
    let chord = packed.mean_chord_nm;
    let box_mean = (0..3).map(|a| n[a] as f64 * d[a]).sum::<f64>() / 3.0;
    let pore = chord.min(box_mean / 2.0);
    let mut ok = true;
    for &a in walk_axes {
        let s = pooled[a];
        let m = per_batch[a].iter().sum::<f64>() / nb as f64;
        let var = per_batch[a].iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (nb - 1) as f64;
        let se = (var / nb as f64).sqrt();
        let msd_end: f64 = sums
            .iter()
            .map(|b| b[ns - 1][a] / per as f64 * d[a] * d[a])
            .sum::<f64>()
            / nb as f64;
        let rms_ok = msd_end.sqrt() >= 5.0 * pore;
        let stable = match prev_slopes {
            Some(p) => {
                let ch = (s - p[a]).abs();
                s > 0.0 && (ch < 0.01 * s || ch < 2.0 * se)
            }
            None => false,
        };
        ok &= rms_ok && stable;
    }
    if ok {
        return (Some(true), pooled, per_batch, t);
    }
    if total * 2 > opts.max_steps {
        notes.push(format!(
            "walk length limit {} steps reached before the slope was stable / the RMS displacement reached 5x the mean pore size ({pore:.3} nm)",
            opts.max_steps
        ));
        return (Some(false), pooled, per_batch, t);
    }
    (None, pooled, per_batch, t)
}

/// The result from the final walk's sums and slopes.
#[allow(clippy::too_many_arguments)]
fn finish(
    packed: &PackedPhase,
    voxel_nm: [f64; 3],
    opts: &RandomWalkOptions,
    mut results: Vec<TortuosityResult>,
    sums: &[&[[f64; 3]]],
    (slopes_all, batch_slopes, t_samples): (Vec<f64>, Vec<Vec<f64>>, Vec<f64>),
    converged: bool,
    notes: &[String],
    done: u64,
    elapsed_s: f64,
) -> RandomWalkOutput {
    let plan = walk_plan(opts);
    let (nb, per) = (plan.batches, plan.per_batch);
    let n_walkers = (per * nb) as u64;
    let d = voxel_nm;
    let c_free = 1.0 / d.iter().map(|v| 1.0 / (v * v)).sum::<f64>();
    let eps = packed.phase_voxels as f64 / packed.shape.iter().product::<usize>() as f64;
    let ns = t_samples.len();
    let mut msd = [vec![0f64; ns], vec![0f64; ns], vec![0f64; ns]];
    for (a, m) in msd.iter_mut().enumerate() {
        for b in sums {
            for k in 0..ns {
                m[k] += b[k][a] / per as f64 * d[a] * d[a] / nb as f64;
            }
        }
    }
    let curve = MsdCurve {
        steps: t_samples.iter().map(|&v| v as u64).collect(),
        msd_nm2: msd,
        free_nm2_per_step: c_free,
    };
    let tq = t_quantile(opts.confidence, (nb - 1) as f64);
    for r in results.iter_mut() {
        r.time_s = elapsed_s;
        if !r.percolating {
            continue;
        }
        let a = r.axis_index;
        r.steps = Some(done);
        r.walkers = Some(n_walkers);
        r.converged = converged;
        r.notes.extend(notes.iter().cloned());
        r.ci_level = Some(opts.confidence);
        let s = slopes_all[a];
        let m = batch_slopes[a].iter().sum::<f64>() / nb as f64;
        let var = batch_slopes[a]
            .iter()
            .map(|v| (v - m) * (v - m))
            .sum::<f64>()
            / (nb - 1) as f64;
        let se = (var / nb as f64).sqrt();
        if s > 0.0 {
            let tau = c_free / s;
            r.tortuosity_factor = Some(tau);
            r.deff_over_d0 = eps / tau;
            r.macmullin = Some(tau / eps);
            r.ci_low = Some(c_free / (s + tq * se));
            r.ci_high = if s - tq * se > 0.0 {
                Some(c_free / (s - tq * se))
            } else {
                None
            };
        } else {
            r.notes.push(
                "the MSD did not grow on the long-time part: tau reported as infinite".into(),
            );
            r.converged = false;
        }
    }
    results.iter_mut().for_each(TortuosityResult::assess);
    RandomWalkOutput {
        results,
        msd: curve,
    }
}

/// The result when the phase percolates along none of the axes (τ = ∞ everywhere, no walk).
fn no_walk(
    mut results: Vec<TortuosityResult>,
    voxel_nm: [f64; 3],
    t0: Instant,
) -> RandomWalkOutput {
    let c_free = 1.0 / voxel_nm.iter().map(|v| 1.0 / (v * v)).sum::<f64>();
    let el = t0.elapsed().as_secs_f64();
    results.iter_mut().for_each(|r| {
        r.time_s = el;
        r.assess();
    });
    RandomWalkOutput {
        results,
        msd: MsdCurve {
            steps: vec![],
            msd_nm2: [vec![], vec![], vec![]],
            free_nm2_per_step: c_free,
        },
    }
}

/// Judge a walk of `total` steps sampled every `interval` from every batch's sums (of
/// [`walk_batches`], in batch order): the same stopping rule and the same result as
/// [`tortuosity_rw_packed`] (only `time_s` differs: the time of this call). `prev_pooled` is the
/// `pooled` of the previous [`WalkNext::Longer`] (`None` for the first walk). `packed.words` is
/// not read (may be empty).
#[allow(clippy::too_many_arguments)]
pub fn walk_assess(
    packed: &PackedPhase,
    voxel_nm: [f64; 3],
    axes: &[usize],
    opts: &RandomWalkOptions,
    sums: &[Vec<[f64; 3]>],
    total: u64,
    interval: u64,
    prev_pooled: Option<&[f64]>,
) -> Result<WalkNext, ParamError> {
    let t0 = Instant::now();
    check_walk(&packed.shape, voxel_nm, axes, opts)?;
    let plan = walk_plan(opts);
    let ns = (total / interval.max(1)) as usize;
    let walks = axes.iter().any(|&a| packed.percolating_voxels[a] > 0);
    if walks && (sums.len() != plan.batches || sums.iter().any(|b| b.len() != ns) || ns == 0) {
        return Err(ParamError::new(
            "batch sums",
            sums.len(),
            format!("give the {} batches' sums, {ns} samples each", plan.batches),
        ));
    }
    let (results, walk_axes) = axis_results(packed, voxel_nm, axes, opts);
    if walk_axes.is_empty() {
        return Ok(WalkNext::Done(no_walk(results, voxel_nm, t0)));
    }
    let views: Vec<&[[f64; 3]]> = sums.iter().map(|b| b.as_slice()).collect();
    let mut notes = Vec::new();
    let (stop, pooled, per_batch, t) = decide(
        packed,
        voxel_nm,
        &walk_axes,
        opts,
        &views,
        total,
        interval,
        prev_pooled,
        &mut notes,
    );
    Ok(match stop {
        None => WalkNext::Longer {
            steps: total * 2,
            interval: interval * 2,
            pooled,
        },
        Some(converged) => WalkNext::Done(finish(
            packed,
            voxel_nm,
            opts,
            results,
            &views,
            (pooled, per_batch, t),
            converged,
            &notes,
            total,
            t0.elapsed().as_secs_f64(),
        )),
    })
}

fn walk_packed(
    packed: &PackedPhase,
    voxel_nm: [f64; 3],
    axes: &[usize],
    opts: &RandomWalkOptions,
    progress: &dyn Progress,
    t0: Instant,
) -> Result<RandomWalkOutput, ParamError> {
    let n = packed.shape;
    let (results, walk_axes) = axis_results(packed, voxel_nm, axes, opts);
    if walk_axes.is_empty() {
        return Ok(no_walk(results, voxel_nm, t0));
    }

    let plan = walk_plan(opts);
    let n_walkers = (plan.per_batch * plan.batches) as u64;
    let mask = packed.words;
    let geo = geometry(mask, n, voxel_nm);
    let mut batches: Vec<Batch> = (0..plan.batches)
        .into_par_iter()
        .map(|b| Batch::new(b, opts.seed, plan.per_batch, mask, n))
        .collect();

    let mut total_steps = plan.steps;
    let mut interval = plan.interval;
    let mut done: u64 = 0;
    let mut prev_slopes: Option<Vec<f64>> = None;
    let mut notes: Vec<String> = Vec::new();
    // walker steps: the planned walk, extended when the walk doubles its length
    progress.start("random walk", total_steps * n_walkers);
    let (converged, fit) = loop {
        // walk from `done` to `total_steps`, sampling every `interval`
        progress.detail(&format!("{total_steps} steps × {n_walkers} walkers"));
        batches.par_iter_mut().for_each(|b| {
            b.advance(&geo, done, total_steps, interval);
            progress.inc((total_steps - done) * b.walkers.len() as u64);
        });
        done = total_steps;
        let views: Vec<&[[f64; 3]]> = batches.iter().map(|b| b.sums.as_slice()).collect();
        let (stop, pooled, per_batch, t) = decide(
            packed,
            voxel_nm,
            &walk_axes,
            opts,
            &views,
            total_steps,
            interval,
            prev_slopes.as_deref(),
            &mut notes,
        );
        if let Some(c) = stop {
            break (c, (pooled, per_batch, t));
        }
        prev_slopes = Some(pooled);
        // double: keep every other sample, double the interval
        batches.iter_mut().for_each(Batch::halve_samples);
        interval *= 2;
        total_steps *= 2;
        progress.set_total(total_steps * n_walkers);
    };
    progress.finish();
    let views: Vec<&[[f64; 3]]> = batches.iter().map(|b| b.sums.as_slice()).collect();
    Ok(finish(
        packed,
        voxel_nm,
        opts,
        results,
        &views,
        fit,
        converged,
        &notes,
        done,
        t0.elapsed().as_secs_f64(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((t_quantile(0.95, 15.0) - 2.131).abs() < 2e-3);
        assert!((t_quantile(0.95, 30.0) - 2.042).abs() < 1e-3);
    }

    #[test]
    fn slope_of_line() {
        let t: Vec<f64> = (0..10).map(|v| v as f64).collect();
        let y: Vec<f64> = t.iter().map(|v| 3.0 * v + 2.0).collect();
        assert!((slope(&t, &y, 4) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn mirror_walk_stays_in_box_and_counts_displacement() {
        let l = ndarray::Array3::<u8>::ones((3, 4, 5));
        let m = BitVolume::from_labels(l.view(), 1);
        let geo = Geometry {
            mask: m.words(),
            n: [3, 4, 5],
            stride: [20, 5, 1],
            thr: [(1u32 << 31) / 3, (2u32 << 31) / 3],
        };
        let mut w = Walker {
            pos: [1, 1, 1],
            dir: [1; 3],
            idx: 20 + 5 + 1,
            disp: [0; 3],
        };
        let mut rng = Rng::new(5);
        for _ in 0..1000 {
            geo.walk(&mut w, &mut rng, 7);
            for a in 0..3 {
                assert!(w.pos[a] >= 0 && w.pos[a] < geo.n[a]);
            }
            assert_eq!(w.idx, (w.pos[0] * 20 + w.pos[1] * 5 + w.pos[2]) as usize);
            // box coordinate = mirror image of the unwrapped coordinate
            for a in 0..3 {
                let u = [1i64, 1, 1][a] + w.disp[a];
                let p = 2 * geo.n[a] as i64;
                let mm = u.rem_euclid(p);
                let b = if mm < geo.n[a] as i64 { mm } else { p - 1 - mm };
                assert_eq!(b, w.pos[a] as i64);
            }
        }
    }

    /// More than 2³² voxels (a 2000 × 2048 × 1536 stack has 6.3e9): voxel indices are 64-bit,
    /// walkers start and move beyond index 2³², and free space gives τ = 1. Ignored by default
    /// because the packed mask takes 537 MB (`cargo test --release -- --ignored more_than`).
    #[test]
    #[ignore]
    fn walk_on_more_than_2_pow_32_voxels() {
        let shape = [2usize, 65536, 32769];
        let n: usize = shape.iter().product();
        assert!(n > u32::MAX as usize);
        let words = vec![u64::MAX; n.div_ceil(64)];
        let packed = PackedPhase {
            words: &words,
            shape,
            phase: 1,
            phase_voxels: n as u64,
            percolating_voxels: [n as u64; 3],
            mean_chord_nm: 1000.0,
        };
        let opts = RandomWalkOptions {
            walkers: Some(4000),
            steps: Some(4096),
            ..Default::default()
        };
        let out = tortuosity_rw_packed(
            &packed,
            [10.0, 10.0, 10.0],
            &[1, 2],
            &opts,
            &crate::progress::Silent,
        )
        .unwrap();
        for r in &out.results {
            let t = r.tortuosity_factor.unwrap();
            assert!((t - 1.0).abs() < 0.05, "axis {}: tau {t}", r.axis);
        }
    }
}
