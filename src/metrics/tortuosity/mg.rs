//! Numerical core of the steady-state solver: 7-point conductance networks on box grids,
//! aggregation-multigrid V-cycle and preconditioned conjugate gradients (methods §7).
//!
//! Layout: every vector of a level is stored with one zero plane of padding before and after the
//! cells (`pad` = one plane), so that the six neighbour offsets of any cell are valid indices and the
//! stencils need no bounds tests: a missing link has conductance 0, and the value it multiplies is a
//! finite number (a padding zero, or a cell of the adjacent row).

use rayon::prelude::*;
use std::time::Instant;

// flag bits of the fine level
/// Coupled to the c = 1 plane.
pub(crate) const IN: u8 = 1;
pub(crate) const XP: u8 = 1 << 1;
pub(crate) const XM: u8 = 1 << 2;
pub(crate) const YP: u8 = 1 << 3;
pub(crate) const YM: u8 = 1 << 4;
pub(crate) const ZP: u8 = 1 << 5;
pub(crate) const ZM: u8 = 1 << 6;
/// Coupled to the c = 0 plane.
pub(crate) const OUT: u8 = 1 << 7;
/// Link bits in the order of [`offsets`]: +z, −z, +y, −y, +x, −x.
const LINK_BITS: [u8; 6] = [ZP, ZM, YP, YM, XP, XM];

/// Strides of a `[z, y, x]` box.
#[inline(always)]
pub(crate) fn strides(n: [usize; 3]) -> [usize; 3] {
    [n[1] * n[2], n[2], 1]
}

/// Padding (in elements) before and after the cells of a level of shape `n`.
#[inline(always)]
pub(crate) fn pad_of(n: [usize; 3]) -> usize {
    (n[1] * n[2]).max(1)
}

/// Neighbour offsets +z, −z, +y, −y, +x, −x.
#[inline(always)]
fn offsets(n: [usize; 3]) -> [isize; 6] {
    let s = strides(n);
    [
        s[0] as isize,
        -(s[0] as isize),
        s[1] as isize,
        -(s[1] as isize),
        1,
        -1,
    ]
}

/// A padded zero vector for a level of shape `n`.
pub(crate) fn zeros(n: [usize; 3]) -> Vec<f32> {
    vec![0f32; n[0] * n[1] * n[2] + 2 * pad_of(n)]
}

/// A 7-point symmetric network: each cell has conductances to its six neighbours and a boundary
/// conductance to the Dirichlet planes; `diag` = their sum; `diag == 0` = not an unknown.
/// Indices are physical (cell index + padding).
pub(crate) trait Level: Sync {
    /// Shape `[z, y, x]`.
    fn n(&self) -> [usize; 3];
    /// Diagonal and the six link conductances (order of [`offsets`]) of the cell at physical index `p`.
    fn coefs(&self, p: usize) -> (f32, [f32; 6]);
    /// Conductance to the Dirichlet planes of the cell at physical index `p`.
    fn gb(&self, p: usize) -> f32;
    /// Bit k set when the cell at physical index `p0 + k` is an unknown (`len` ≤ 64).
    #[inline(always)]
    fn unknown_mask(&self, p0: usize, len: usize) -> u64 {
        let mut m = 0u64;
        for k in 0..len {
            m |= ((self.coefs(p0 + k).0 != 0.0) as u64) << k;
        }
        m
    }
}

/// Call `f(xx)` for the unknowns `xx` of the row of `m` cells from physical index `base`, in
/// increasing order; with `parity = Some(s)` only for those with `xx % 2 == s`. Walks bit masks
/// of 64 cells, so the solid cells cost no mispredicted branches.
#[inline(always)]
fn for_unknowns<L: Level>(
    l: &L,
    base: usize,
    m: usize,
    parity: Option<usize>,
    mut f: impl FnMut(usize),
) {
    let mut x0 = 0;
    while x0 < m {
        let len = (m - x0).min(64);
        let mut mask = l.unknown_mask(base + x0, len);
        match parity {
            Some(0) => mask &= 0x5555_5555_5555_5555,
            Some(_) => mask &= 0xAAAA_AAAA_AAAA_AAAA,
            None => {}
        }
        while mask != 0 {
            f(x0 + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
        x0 += 64;
    }
}

/// Finest level: one flag byte per cell (0 = not an unknown), padded like the vectors.
pub(crate) struct Fine {
    pub(crate) n: [usize; 3],
    pub(crate) flags: Vec<u8>,
    pub(crate) w: [f32; 3],
    pub(crate) gbound: f32,
    lut: Vec<[f32; 6]>,
    diag_lut: [f32; 256],
}

impl Fine {
    #[cfg(test)]
    /// `flags`: one byte per cell, unpadded, `[z, y, x]` order; `w`: link weights per axis.
    pub(crate) fn new(n: [usize; 3], flags: &[u8], w: [f32; 3], gbound: f32) -> Self {
        let pad = pad_of(n);
        let mut padded = vec![0u8; flags.len() + 2 * pad];
        padded[pad..pad + flags.len()].copy_from_slice(flags);
        Self::from_padded(n, padded, w, gbound)
    }

    /// As [`Fine::new`] with flags already padded.
    pub(crate) fn from_padded(n: [usize; 3], flags: Vec<u8>, w: [f32; 3], gbound: f32) -> Self {
        let wk = [w[0], w[0], w[1], w[1], w[2], w[2]];
        let mut lut = vec![[0f32; 6]; 256];
        let mut diag_lut = [0f32; 256];
        for f in 0..256usize {
            let fb = f as u8;
            let mut s = 0f32;
            for k in 0..6 {
                if fb & LINK_BITS[k] != 0 {
                    lut[f][k] = wk[k];
                    s += wk[k];
                }
            }
            if fb & IN != 0 {
                s += gbound;
            }
            if fb & OUT != 0 {
                s += gbound;
            }
            diag_lut[f] = s;
        }
        Fine {
            n,
            flags,
            w,
            gbound,
            lut,
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
    fn coefs(&self, p: usize) -> (f32, [f32; 6]) {
        let f = self.flags[p] as usize;
        (self.diag_lut[f], self.lut[f])
    }
    #[inline(always)]
    fn gb(&self, p: usize) -> f32 {
        let f = self.flags[p];
        ((f & IN != 0) as u8 + (f & OUT != 0) as u8) as f32 * self.gbound
    }
    #[inline(always)]
    fn unknown_mask(&self, p0: usize, len: usize) -> u64 {
        let mut m = 0u64;
        for (k, &f) in self.flags[p0..p0 + len].iter().enumerate() {
            m |= ((f != 0) as u64) << k;
        }
        m
    }
}

/// Coarse level: explicit padded arrays.
pub(crate) struct Coarse {
    pub(crate) n: [usize; 3],
    /// `g[ax][p]`: conductance between `p` and its + neighbour along `ax`.
    g: [Vec<f32>; 3],
    b: Vec<f32>,
}

impl Level for Coarse {
    #[inline(always)]
    fn n(&self) -> [usize; 3] {
        self.n
    }
    #[inline(always)]
    fn coefs(&self, p: usize) -> (f32, [f32; 6]) {
        let s = strides(self.n);
        let c = [
            self.g[0][p],
            self.g[0][p - s[0]],
            self.g[1][p],
            self.g[1][p - s[1]],
            self.g[2][p],
            self.g[2][p - 1],
        ];
        (self.b[p] + c.iter().sum::<f32>(), c)
    }
    #[inline(always)]
    fn gb(&self, p: usize) -> f32 {
        self.b[p]
    }
}

#[inline(always)]
fn nb_sum(c: &[f32; 6], x: &[f32], p: usize, o: &[isize; 6]) -> f32 {
    let mut acc = 0f32;
    for k in 0..6 {
        acc += c[k] * x[(p as isize + o[k]) as usize];
    }
    acc
}

#[cfg(test)]
/// `y = A x` (cells that are not unknowns get 0; padding of `y` untouched).
pub(crate) fn apply<L: Level>(l: &L, x: &[f32], y: &mut [f32]) {
    let n = l.n();
    let pad = pad_of(n);
    let o = offsets(n);
    let len = n[0] * n[1] * n[2];
    y[pad..pad + len]
        .par_chunks_mut(n[2])
        .enumerate()
        .for_each(|(row, yr)| {
            let base = pad + row * n[2];
            for (xx, out) in yr.iter_mut().enumerate() {
                let p = base + xx;
                let (d, c) = l.coefs(p);
                *out = if d == 0.0 {
                    0.0
                } else {
                    d * x[p] - nb_sum(&c, x, p, &o)
                };
            }
        });
}

/// Right-hand side of a smoothing or restriction pass, by physical index.
pub(crate) trait Rhs: Sync {
    /// Value at physical index `p` (only asked for unknowns).
    fn at(&self, p: usize) -> f32;
}

impl Rhs for [f32] {
    #[inline(always)]
    fn at(&self, p: usize) -> f32 {
        self[p]
    }
}

/// Pointer that may be shared between threads for the red–black sweep (see `gs_color`).
#[derive(Clone, Copy)]
struct SyncPtr(*mut f32);
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

/// Where a smoothing pass takes the values of the other colour from.
#[derive(Clone, Copy)]
enum Neighbours<'a> {
    /// `x` itself.
    Plain,
    /// `x + alpha · P xc`: the coarse correction prolonged on the fly (piecewise constant), for
    /// the first pass after the coarse-grid solve. The cells of the colour being updated are
    /// overwritten, those of the other colour are corrected by the next pass, which overwrites
    /// them too; so the corrected vector never needs to be stored.
    Prolonged(&'a [f32], [usize; 3], f32),
}

/// One colour of a red–black Gauss–Seidel sweep for `A x = rhs`: cells with (z+y+x) % 2 == color.
/// With `dots`, also returns per row Σ rhs·x and Σ rhs² over all cells of the row (after the
/// update), in row order.
fn gs_pass<L: Level, R: Rhs + ?Sized>(
    l: &L,
    b: &R,
    x: &mut [f32],
    color: usize,
    nbr: Neighbours,
    dots: bool,
) -> Vec<(f64, f64)> {
    let n = l.n();
    let pad = pad_of(n);
    let o = offsets(n);
    let len = x.len();
    let ptr = SyncPtr(x.as_mut_ptr());
    let row_task = |row: usize| -> (f64, f64) {
        let q = ptr;
        // SAFETY: this pass writes only cells of colour `color` and reads only their neighbours,
        // which all have the other colour (or are padding / cells of another row behind a zero
        // link, never written in this pass); every cell is written by exactly one row task, and
        // the dot products read only the task's own row after its writes. So no location is
        // written by one thread while another reads or writes it. All indices lie in 0..len
        // thanks to the padding.
        let xs: &[f32] = unsafe { std::slice::from_raw_parts(q.0, len) };
        let z = row / n[1];
        let yy = row % n[1];
        let base = pad + row * n[2];
        let parity = Some((color + z + yy) % 2);
        match nbr {
            Neighbours::Plain => {
                for_unknowns(l, base, n[2], parity, |xx| {
                    let p = base + xx;
                    let (d, c) = l.coefs(p);
                    let v = (b.at(p) + nb_sum(&c, xs, p, &o)) / d;
                    unsafe { q.0.add(p).write(v) };
                });
            }
            Neighbours::Prolonged(xc, nc, alpha) => {
                let padc = pad_of(nc);
                let sc = strides(nc);
                let zs = [
                    (z + 1).min(n[0] - 1) / 2,
                    z.saturating_sub(1) / 2,
                    z / 2,
                    z / 2,
                    z / 2,
                    z / 2,
                ];
                let ys = [
                    yy / 2,
                    yy / 2,
                    (yy + 1).min(n[1] - 1) / 2,
                    yy.saturating_sub(1) / 2,
                    yy / 2,
                    yy / 2,
                ];
                let rows: [usize; 6] =
                    std::array::from_fn(|k| padc + zs[k] * sc[0] + ys[k] * sc[1]);
                for_unknowns(l, base, n[2], parity, |xx| {
                    let p = base + xx;
                    let (d, c) = l.coefs(p);
                    {
                        let xs6 = [
                            xx / 2,
                            xx / 2,
                            xx / 2,
                            xx / 2,
                            (xx + 1).min(n[2] - 1) / 2,
                            xx.saturating_sub(1) / 2,
                        ];
                        let mut acc = 0f32;
                        for k in 0..6 {
                            let j = (p as isize + o[k]) as usize;
                            acc += c[k] * (xs[j] + alpha * xc[rows[k] + xs6[k]]);
                        }
                        let v = (b.at(p) + acc) / d;
                        unsafe { q.0.add(p).write(v) };
                    }
                });
            }
        }
        if !dots {
            return (0.0, 0.0);
        }
        let (mut rz, mut rr) = (0f64, 0f64);
        for_unknowns(l, base, n[2], None, |xx| {
            let p = base + xx;
            let r = b.at(p) as f64;
            rz += r * xs[p] as f64;
            rr += r * r;
        });
        (rz, rr)
    };
    if dots {
        (0..n[0] * n[1]).into_par_iter().map(row_task).collect()
    } else {
        (0..n[0] * n[1]).into_par_iter().for_each(|row| {
            row_task(row);
        });
        Vec::new()
    }
}

/// One colour of a red–black Gauss–Seidel sweep for `A x = b`.
pub(crate) fn gs_color<L: Level, R: Rhs + ?Sized>(l: &L, b: &R, x: &mut [f32], color: usize) {
    gs_pass(l, b, x, color, Neighbours::Plain, false);
}

/// Restrict the residual `b − A x` of level `l` onto the coarse cells (sum over children).
pub(crate) fn restrict_residual<L: Level, R: Rhs + ?Sized>(
    l: &L,
    b: &R,
    x: &[f32],
    nc: [usize; 3],
    bc: &mut [f32],
) {
    let n = l.n();
    let pad = pad_of(n);
    let padc = pad_of(nc);
    let o = offsets(n);
    let sf = strides(n);
    let lenc = nc[0] * nc[1] * nc[2];
    bc[padc..padc + lenc]
        .par_chunks_mut(nc[2])
        .enumerate()
        .for_each(|(row, out)| {
            out.iter_mut().for_each(|v| *v = 0.0);
            let cz = row / nc[1];
            let cy = row % nc[1];
            for z in 2 * cz..(2 * cz + 2).min(n[0]) {
                for yy in 2 * cy..(2 * cy + 2).min(n[1]) {
                    let base = pad + z * sf[0] + yy * sf[1];
                    for_unknowns(l, base, n[2], None, |xx| {
                        let p = base + xx;
                        let (d, c) = l.coefs(p);
                        let r = b.at(p) - (d * x[p] - nb_sum(&c, x, p, &o));
                        out[xx / 2] += r;
                    });
                }
            }
        });
}
#[cfg(test)]
/// `x += alpha · P xc` (piecewise constant prolongation onto unknown cells).
pub(crate) fn prolong_add<L: Level>(l: &L, xc: &[f32], nc: [usize; 3], alpha: f32, x: &mut [f32]) {
    let n = l.n();
    let pad = pad_of(n);
    let padc = pad_of(nc);
    let sc = strides(nc);
    let len = n[0] * n[1] * n[2];
    x[pad..pad + len]
        .par_chunks_mut(n[2])
        .enumerate()
        .for_each(|(row, xr)| {
            let z = row / n[1];
            let yy = row % n[1];
            let cbase = padc + (z / 2) * sc[0] + (yy / 2) * sc[1];
            let base = pad + row * n[2];
            for (xx, v) in xr.iter_mut().enumerate() {
                if l.coefs(base + xx).0 != 0.0 {
                    *v += alpha * xc[cbase + xx / 2];
                }
            }
        });
}

/// Galerkin coarsening with 2×2×2 aggregates: coarse links sum the fine links crossing between
/// aggregates, boundary conductances sum, internal links cancel.
pub(crate) fn coarsen<L: Level>(l: &L) -> Coarse {
    let n = l.n();
    let pad = pad_of(n);
    let nc = [n[0].div_ceil(2), n[1].div_ceil(2), n[2].div_ceil(2)];
    let padc = pad_of(nc);
    let sf = strides(n);
    let lenc = nc[0] * nc[1] * nc[2];
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
                        let p = pad + z * sf[0] + yy * sf[1] + xx;
                        let (d, c) = l.coefs(p);
                        if d == 0.0 {
                            continue;
                        }
                        let cidx = [z, yy, xx];
                        let cx = xx / 2;
                        out[3][cx] += l.gb(p);
                        for ax in 0..3 {
                            // a + link leaves the aggregate when the child is the odd one
                            if cidx[ax] % 2 == 1 {
                                out[ax][cx] += c[2 * ax];
                            }
                        }
                    }
                }
            }
            out
        })
        .collect();
    let total = lenc + 2 * padc;
    let mut g = [vec![0f32; total], vec![0f32; total], vec![0f32; total]];
    let mut b = vec![0f32; total];
    for (row, r) in rows.into_iter().enumerate() {
        let o = padc + row * nc[2];
        for ax in 0..3 {
            g[ax][o..o + nc[2]].copy_from_slice(&r[ax]);
        }
        b[o..o + nc[2]].copy_from_slice(&r[3]);
    }
    Coarse { n: nc, g, b }
}

/// First coarse level, stored as link counts: its conductances are whole multiples of the fine
/// weights (the number of fine links crossing each aggregate face, at most 4), so one `u32` per
/// cell holds the six link counts (4 bits each, order of [`offsets`]) and the number of
/// boundary-coupled children (8 bits).
pub(crate) struct Packed {
    pub(crate) n: [usize; 3],
    counts: Vec<u32>,
    w6: [f32; 6],
    gbound: f32,
}

impl Level for Packed {
    #[inline(always)]
    fn n(&self) -> [usize; 3] {
        self.n
    }
    #[inline(always)]
    fn coefs(&self, p: usize) -> (f32, [f32; 6]) {
        let v = self.counts[p];
        let c: [f32; 6] = std::array::from_fn(|k| ((v >> (4 * k)) & 15) as f32 * self.w6[k]);
        (self.gb(p) + c.iter().sum::<f32>(), c)
    }
    #[inline(always)]
    fn gb(&self, p: usize) -> f32 {
        (self.counts[p] >> 24) as f32 * self.gbound
    }
    #[inline(always)]
    fn unknown_mask(&self, p0: usize, len: usize) -> u64 {
        let mut m = 0u64;
        for (k, &c) in self.counts[p0..p0 + len].iter().enumerate() {
            m |= ((c != 0) as u64) << k;
        }
        m
    }
}

/// The first coarse level of `fine` (2×2×2 aggregates, Galerkin: links crossing between
/// aggregates add up, boundary conductances add up, internal links cancel).
pub(crate) fn pack(fine: &Fine) -> Packed {
    let n = fine.n;
    let pad = pad_of(n);
    let nc = [n[0].div_ceil(2), n[1].div_ceil(2), n[2].div_ceil(2)];
    let padc = pad_of(nc);
    let sf = strides(n);
    let lenc = nc[0] * nc[1] * nc[2];
    let mut counts = vec![0u32; lenc + 2 * padc];
    counts[padc..padc + lenc]
        .par_chunks_mut(nc[2])
        .enumerate()
        .for_each(|(row, out)| {
            let cz = row / nc[1];
            let cy = row % nc[1];
            for z in 2 * cz..(2 * cz + 2).min(n[0]) {
                for yy in 2 * cy..(2 * cy + 2).min(n[1]) {
                    for xx in 0..n[2] {
                        let f = fine.flags[pad + z * sf[0] + yy * sf[1] + xx];
                        if f == 0 {
                            continue;
                        }
                        let c = [z, yy, xx];
                        let mut v = 0u32;
                        for (k, bit) in LINK_BITS.iter().enumerate() {
                            // + links leave the aggregate from its odd children, − links from
                            // its even ones
                            let odd = c[k / 2] % 2 == 1;
                            if f & bit != 0 && odd == (k % 2 == 0) {
                                v += 1 << (4 * k);
                            }
                        }
                        v += (((f & IN != 0) as u32) + ((f & OUT != 0) as u32)) << 24;
                        out[xx / 2] += v;
                    }
                }
            }
        });
    let w = fine.w;
    Packed {
        n: nc,
        counts,
        w6: [w[0], w[0], w[1], w[1], w[2], w[2]],
        gbound: fine.gbound,
    }
}

/// Multigrid hierarchy below the fine level, with work vectors.
pub(crate) struct Hierarchy {
    l1: Packed,
    levels: Vec<Coarse>,
    work: Vec<(Vec<f32>, Vec<f32>)>, // (rhs, solution) per coarse level, the first for `l1`
    alpha: f32,
    coarse_sweeps: usize,
}

impl Hierarchy {
    /// Coarsen `fine` until the grid has at most 4 cells along its longest axis (or 64 cells).
    pub(crate) fn build(fine: &Fine) -> Self {
        let l1 = pack(fine);
        let mut levels: Vec<Coarse> = Vec::new();
        let mut n = l1.n;
        while n.iter().copied().max().unwrap_or(1) > 4 && n.iter().product::<usize>() > 64 {
            let c = match levels.last() {
                None => coarsen(&l1),
                Some(prev) => coarsen(prev),
            };
            n = c.n;
            levels.push(c);
        }
        let work = std::iter::once(l1.n)
            .chain(levels.iter().map(|c| c.n))
            .map(|n| (zeros(n), zeros(n)))
            .collect();
        Hierarchy {
            l1,
            levels,
            work,
            alpha: 1.8,
            coarse_sweeps: 20,
        }
    }

    /// `z = M r` with `r = b − A x` evaluated on the fly: one symmetric V-cycle from z = 0
    /// (red–black Gauss–Seidel, colours 0 then 1 before the coarse correction, 1 then 0 after).
    /// Returns (Σ r·z, Σ r²), summed in a fixed order.
    pub(crate) fn precondition(
        &mut self,
        fine: &Fine,
        r: &[f32],
        z: &mut [f32],
        prof: &mut Prof,
    ) -> (f64, f64) {
        let t = Instant::now();
        first_colour(fine, r, z);
        gs_color(fine, r, z, 1);
        prof.smooth += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (head, rest) = self.work.split_first_mut().expect("l1 work");
        let (bc, xc) = head;
        restrict_residual(fine, r, z, self.l1.n, bc);
        prof.restrict += t.elapsed().as_secs_f64();
        let t = Instant::now();
        xc.iter_mut().for_each(|v| *v = 0.0);
        let (alpha, sweeps) = (self.alpha, self.coarse_sweeps);
        vcycle(&self.l1, bc, xc, &self.levels, rest, alpha, sweeps);
        prof.coarse += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let nc = self.l1.n;
        gs_pass(fine, r, z, 1, Neighbours::Prolonged(xc, nc, alpha), false);
        let rows = gs_pass(fine, r, z, 0, Neighbours::Plain, true);
        prof.smooth += t.elapsed().as_secs_f64();
        rows.iter()
            .fold((0.0, 0.0), |(a, b), &(p, q)| (a + p, b + q))
    }
}

/// The first colour-0 pass from x = 0: `x = b/d` on colour 0, 0 on colour 1 (every cell written).
fn first_colour<L: Level, R: Rhs + ?Sized>(l: &L, b: &R, x: &mut [f32]) {
    let n = l.n();
    let pad = pad_of(n);
    let len = n[0] * n[1] * n[2];
    x[pad..pad + len]
        .par_chunks_mut(n[2])
        .enumerate()
        .for_each(|(row, xr)| {
            let s = (row / n[1] + row % n[1]) % 2;
            let base = pad + row * n[2];
            xr.iter_mut().for_each(|v| *v = 0.0);
            for_unknowns(l, base, n[2], Some(s), |xx| {
                let p = base + xx;
                xr[xx] = b.at(p) / l.coefs(p).0;
            });
        });
}

/// Time spent per part of the solve (seconds), for profiling (printed by development builds).
#[allow(dead_code)]
#[derive(Debug, Default, Clone)]
pub(crate) struct Prof {
    /// Fine-level smoothing (with the fused prolongation and dot products).
    pub(crate) smooth: f64,
    /// Fine-level residual restriction.
    pub(crate) restrict: f64,
    /// All coarse levels.
    pub(crate) coarse: f64,
    /// p·Ap of the outer iteration.
    pub(crate) apply: f64,
    /// Vector updates.
    pub(crate) vec: f64,
    /// Layer fluxes.
    pub(crate) flux: f64,
}

/// One symmetric V-cycle for `A x = b` on a coarse level, from x = 0.
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
            first_colour(l, b, x);
            gs_color(l, b, x, 1);
            restrict_residual(l, b, x, next.n, bc);
            xc.iter_mut().for_each(|v| *v = 0.0);
            vcycle(next, bc, xc, rest, wrest, alpha, sweeps);
            gs_pass(l, b, x, 1, Neighbours::Prolonged(xc, next.n, alpha), false);
            gs_color(l, b, x, 0);
        }
        _ => {
            // coarsest: symmetric Gauss–Seidel (forward sweeps, then as many backward)
            x.iter_mut().for_each(|v| *v = 0.0);
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

/// `q = A p` on the fine level (each entry computed in f64); returns Σ p·q in a fixed order.
fn apply_pap(fine: &Fine, p: &[f32], q: &mut [f32]) -> f64 {
    let n = fine.n;
    let pad = pad_of(n);
    let o = offsets(n);
    let len = n[0] * n[1] * n[2];
    let rows: Vec<f64> = q[pad..pad + len]
        .par_chunks_mut(n[2])
        .enumerate()
        .map(|(row, qr)| {
            let base = pad + row * n[2];
            qr.iter_mut().for_each(|v| *v = 0.0);
            let mut s = 0f64;
            for_unknowns(fine, base, n[2], None, |xx| {
                let i = base + xx;
                let (d, c) = fine.coefs(i);
                // in f64: the residual recurrence subtracts this product, and with strongly
                // anisotropic weights an f32 stencil's cancellation error would drift it
                let mut v = d as f64 * p[i] as f64;
                for k in 0..6 {
                    v -= c[k] as f64 * p[(i as isize + o[k]) as usize] as f64;
                }
                qr[xx] = v as f32;
                s += p[i] as f64 * v;
            });
            s
        })
        .collect();
    rows.iter().sum()
}

const CHUNK: usize = 1 << 14;

/// Currents (in units of the weights) through every layer plane between the two Dirichlet
/// boundaries, in order from the inlet.
pub(crate) fn layer_fluxes(fine: &Fine, x: &[f32], z_first: usize, z_last: usize) -> Vec<f64> {
    let n = fine.n;
    let pad = pad_of(n);
    let sz = n[1] * n[2];
    let mut fl = Vec::with_capacity(z_last - z_first + 2);
    let plane = |z: usize| pad + z * sz..pad + (z + 1) * sz;
    let inlet: f64 = plane(z_first)
        .map(|p| {
            if fine.flags[p] & IN != 0 {
                fine.gbound as f64 * (1.0 - x[p] as f64)
            } else {
                0.0
            }
        })
        .sum();
    fl.push(inlet);
    let inner: Vec<f64> = (z_first..z_last)
        .into_par_iter()
        .map(|z| {
            let mut s = 0f64;
            for p in plane(z) {
                if fine.flags[p] & ZP != 0 {
                    s += fine.w[0] as f64 * (x[p] as f64 - x[p + sz] as f64);
                }
            }
            s
        })
        .collect();
    fl.extend(inner);
    let outlet: f64 = plane(z_last)
        .map(|p| {
            if fine.flags[p] & OUT != 0 {
                fine.gbound as f64 * x[p] as f64
            } else {
                0.0
            }
        })
        .sum();
    fl.push(outlet);
    fl
}

/// Convergence criteria of [`solve`].
pub(crate) struct Criteria {
    pub(crate) rtol: f64,
    pub(crate) flux_tol: f64,
    pub(crate) tau_tol: f64,
    pub(crate) max_iter: usize,
}

/// Outcome of [`solve`].
pub(crate) struct Solved {
    pub(crate) iterations: usize,
    /// Relative residual at the end: the larger of the recurrence's ‖r‖/‖b‖ and the true
    /// ‖b − Ax‖/‖b‖.
    pub(crate) relres: f64,
    /// Relative spread (max − min)/mean of the layer fluxes.
    pub(crate) fluxvar: f64,
    /// Mean layer current (in units of the weights).
    pub(crate) mean_flux: f64,
    pub(crate) converged: bool,
    pub(crate) notes: Vec<String>,
    #[allow(dead_code)]
    pub(crate) prof: Prof,
}

/// Mean and relative spread of the layer currents of `x`.
fn flux_stats(fine: &Fine, x: &[f32], z_first: usize, z_last: usize) -> (f64, f64) {
    let fl = layer_fluxes(fine, x, z_first, z_last);
    let mean = fl.iter().sum::<f64>() / fl.len() as f64;
    let (mn, mx) = fl
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let var = if mean > 0.0 {
        (mx - mn) / mean
    } else {
        f64::INFINITY
    };
    (mean, var)
}

/// Solve `A x = b` on `fine` (b = gbound on the inlet-coupled cells) by conjugate gradients
/// preconditioned with one V-cycle, keeping four vectors (solution, residual, search direction,
/// preconditioned residual, which also holds the operator product). The layer currents for τ and
/// for the spread test come from the solution. The iteration starts from x = 0 (a good starting
/// guess such as the open-space profile makes the residual criterion, relative to ‖b‖, looser: on
/// the TauFactor benchmark along z it stopped 0.3 % off). `tau_of(mean current)` gives τ for the
/// τ-change criterion; `tick(relative residual)` is called once per iteration.
pub(crate) fn solve(
    fine: &Fine,
    z_first: usize,
    z_last: usize,
    crit: &Criteria,
    tau_of: &dyn Fn(f64) -> f64,
    tick: &dyn Fn(f64),
) -> Solved {
    let mut prof = Prof::default();
    let mut hier = Hierarchy::build(fine);
    let n = fine.n;
    let pad = pad_of(n);
    let sz = n[1] * n[2];
    let len = n[0] * sz;
    let inlet = fine.flags.iter().filter(|&&f| f & IN != 0).count();
    let bnorm = fine.gbound as f64 * (inlet as f64).sqrt();
    // x = 0: r = b
    let mut r = zeros(n);
    r[pad..pad + len]
        .par_iter_mut()
        .zip(fine.flags[pad..pad + len].par_iter())
        .for_each(|(r, &f)| *r = if f & IN != 0 { fine.gbound } else { 0.0 });
    let mut zv = zeros(n);
    let mut x = zeros(n);
    let mut p = zeros(n);
    let mut tau_prev = f64::INFINITY;
    let mut checked_at = usize::MAX;
    let mut converged = false;
    let mut it = 0usize;
    let mut relres;
    let mut rz_old = 0f64;
    let mut notes = Vec::new();
    let mut exact = false;
    loop {
        let (rz, rr) = hier.precondition(fine, &r, &mut zv, &mut prof);
        relres = rr.sqrt() / bnorm;
        // layer currents on even iterations once the residual is near its target, and whenever
        // it is met; τ must have settled between two checks one or two iterations apart
        if relres < crit.rtol || (it.is_multiple_of(2) && relres < 100.0 * crit.rtol) {
            let t = Instant::now();
            let (mean, var) = flux_stats(fine, &x, z_first, z_last);
            let tau = tau_of(mean);
            let dtau = if checked_at.wrapping_add(2) == it || checked_at.wrapping_add(1) == it {
                ((tau - tau_prev) / tau).abs()
            } else {
                f64::INFINITY
            };
            tau_prev = tau;
            checked_at = it;
            prof.flux += t.elapsed().as_secs_f64();
            if relres < crit.rtol && var < crit.flux_tol && dtau < crit.tau_tol {
                converged = true;
                break;
            }
        }
        if it >= crit.max_iter {
            break;
        }
        if rz.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            // r·Mr ≤ 0 happens only with the residual at rounding level (M is positive definite)
            exact = relres < 1e-2 * crit.rtol;
            if !exact {
                notes.push(format!(
                    "conjugate gradients broke down at iteration {it} (r·Mr = {rz:e})"
                ));
            }
            break;
        }
        let t = Instant::now();
        let beta = if it == 0 { 0.0 } else { (rz / rz_old) as f32 };
        rz_old = rz;
        p.par_chunks_mut(CHUNK)
            .zip(zv.par_chunks(CHUNK))
            .for_each(|(pc, zc)| {
                pc.iter_mut()
                    .zip(zc)
                    .for_each(|(pi, &zi)| *pi = zi + beta * *pi)
            });
        prof.vec += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let pq = apply_pap(fine, &p, &mut zv);
        prof.apply += t.elapsed().as_secs_f64();
        if pq.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            notes.push(format!(
                "conjugate gradients broke down at iteration {it} (p·Ap = {pq:e})"
            ));
            break;
        }
        let t = Instant::now();
        let a = (rz / pq) as f32;
        r.par_chunks_mut(CHUNK)
            .zip(zv.par_chunks(CHUNK))
            .for_each(|(rc, qc)| rc.iter_mut().zip(qc).for_each(|(ri, &qi)| *ri -= a * qi));
        x.par_chunks_mut(CHUNK)
            .zip(p.par_chunks(CHUNK))
            .for_each(|(xc, pc)| xc.iter_mut().zip(pc).for_each(|(xi, &pi)| *xi += a * pi));
        prof.vec += t.elapsed().as_secs_f64();
        it += 1;
        tick(relres);
    }
    let (mean_flux, fluxvar) = flux_stats(fine, &x, z_first, z_last);
    // the true residual ‖b − A x‖ (the recurrence drifts from it in f32); report the larger
    apply_pap(fine, &x, &mut zv);
    let rr: Vec<f64> = zv
        .par_chunks(CHUNK)
        .zip(fine.flags.par_chunks(CHUNK))
        .map(|(q, fl)| {
            q.iter()
                .zip(fl)
                .map(|(&v, &f)| {
                    let b = if f & IN != 0 { fine.gbound as f64 } else { 0.0 };
                    (b - v as f64).powi(2)
                })
                .sum()
        })
        .collect();
    relres = relres.max(rr.iter().sum::<f64>().sqrt() / bnorm);
    if exact && fluxvar < crit.flux_tol {
        converged = true;
    }
    Solved {
        iterations: it,
        relres,
        fluxvar,
        mean_flux,
        converged,
        notes,
        prof,
    }
}
