//! Real 2-D FFTs of one slice shape, parallel over rows and columns (rayon), for the iterative
//! filters that transform the same shape many times ([`crate::preprocess::destripe::vsnr`]).
//!
//! The half spectrum of an `ny × nx` image (`nh = nx/2 + 1` frequencies along x) is stored
//! **column-major**, `spec[kx·ny + ky]`, so that the FFTs along y run on contiguous memory.
//! Transforms are unnormalised (`inverse(forward(u)) = ny·nx·u`), as FFTW and numpy's
//! `norm="backward"` forward transform. Each row and each column is transformed on its own, so
//! the result does not depend on the thread count.

use ndarray::ArrayView2;
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Complex sample of the spectra.
pub type C32 = Complex<f32>;

/// FFT plans for `ny × nx` real images.
pub struct Fft2 {
    /// Image rows.
    pub ny: usize,
    /// Image columns.
    pub nx: usize,
    /// `nx / 2 + 1`.
    pub nh: usize,
    pub(crate) r2c: Arc<dyn RealToComplex<f32>>,
    pub(crate) c2r: Arc<dyn ComplexToReal<f32>>,
    pub(crate) col_fwd: Arc<dyn Fft<f32>>,
    pub(crate) col_inv: Arc<dyn Fft<f32>>,
}

/// Rows (or columns) handed to one rayon task.
const CHUNK: usize = 16;
/// Tile edge of the blocked transposes: 8 complex values are one 64-byte cache line, and 8
/// lines of a strided side fit the ways of one L1 set even when the stride is a multiple of
/// 4 KiB (a 1536-long column).
const TILE: usize = 8;

impl Fft2 {
    /// Plans for `ny × nx` images (both ≥ 1).
    pub fn new(ny: usize, nx: usize) -> Self {
        let mut rp = RealFftPlanner::<f32>::new();
        let mut cp = FftPlanner::<f32>::new();
        Fft2 {
            ny,
            nx,
            nh: nx / 2 + 1,
            r2c: rp.plan_fft_forward(nx),
            c2r: rp.plan_fft_inverse(nx),
            col_fwd: cp.plan_fft_forward(ny),
            col_inv: cp.plan_fft_inverse(ny),
        }
    }

    /// Length of a half spectrum (`nh · ny`).
    pub fn spec_len(&self) -> usize {
        self.nh * self.ny
    }

    /// A zeroed half spectrum.
    pub fn spec(&self) -> Vec<C32> {
        vec![C32::new(0.0, 0.0); self.spec_len()]
    }

    /// A row-major work buffer for [`Self::forward`] / [`Self::inverse`] (`ny · nh` values).
    pub fn work(&self) -> Vec<C32> {
        self.spec()
    }

    /// Half spectrum of the row-major real image `src` (`ny·nx` values) into `dst`
    /// (column-major); `work` is a buffer from [`Self::work`].
    pub fn forward(&self, src: &[f32], dst: &mut [C32], work: &mut [C32]) {
        let (nx, nh) = (self.nx, self.nh);
        debug_assert_eq!(src.len(), self.ny * nx);
        // rows: real → half spectrum, row-major in `work`
        work.par_chunks_mut(nh * CHUNK)
            .zip(src.par_chunks(nx * CHUNK))
            .for_each_init(
                || (self.r2c.make_input_vec(), self.r2c.make_scratch_vec()),
                |(row, scratch), (w, s)| {
                    for (wr, sr) in w.chunks_mut(nh).zip(s.chunks(nx)) {
                        row.copy_from_slice(sr);
                        // lengths always match the plan
                        let _ = self.r2c.process_with_scratch(row, wr, scratch);
                    }
                },
            );
        transpose(work, dst, self.ny, nh);
        self.columns(dst, true);
    }

    /// Real image (row-major, unnormalised: `ny·nx` times the input of [`Self::forward`]) from
    /// the column-major half spectrum `spec`, which is overwritten.
    pub fn inverse(&self, spec: &mut [C32], dst: &mut [f32], work: &mut [C32]) {
        let (ny, nx, nh) = (self.ny, self.nx, self.nh);
        self.columns(spec, false);
        transpose(spec, work, nh, ny);
        work.par_chunks_mut(nh * CHUNK)
            .zip(dst.par_chunks_mut(nx * CHUNK))
            .for_each_init(
                || (self.c2r.make_output_vec(), self.c2r.make_scratch_vec()),
                |(orow, scratch), (w, d)| {
                    for (wr, dr) in w.chunks_mut(nh).zip(d.chunks_mut(nx)) {
                        // a real image's spectrum: the DC and Nyquist bins are real
                        wr[0].im = 0.0;
                        if nx % 2 == 0 {
                            wr[nh - 1].im = 0.0;
                        }
                        let _ = self.c2r.process_with_scratch(wr, orow, scratch);
                        dr.copy_from_slice(orow);
                    }
                },
            );
    }

    /// Half spectrum of one row (`row` is used as scratch and overwritten).
    pub(crate) fn r2c_row(&self, row: &mut [f32], out: &mut [C32], scratch: &mut [C32]) {
        // lengths always match the plan
        let _ = self.r2c.process_with_scratch(row, out, scratch);
    }

    /// One real row (unnormalised) from its half spectrum `spec`, which is overwritten.
    pub(crate) fn c2r_row(&self, spec: &mut [C32], out: &mut [f32], scratch: &mut [C32]) {
        // a real image's spectrum: the DC and Nyquist bins are real
        spec[0].im = 0.0;
        if self.nx.is_multiple_of(2) {
            spec[self.nh - 1].im = 0.0;
        }
        let _ = self.c2r.process_with_scratch(spec, out, scratch);
    }

    fn columns(&self, spec: &mut [C32], forward: bool) {
        let fft = if forward {
            &self.col_fwd
        } else {
            &self.col_inv
        };
        let ny = self.ny;
        spec.par_chunks_mut(ny * CHUNK).for_each_init(
            || vec![C32::new(0.0, 0.0); fft.get_inplace_scratch_len()],
            |scratch, cols| {
                for c in cols.chunks_mut(ny) {
                    fft.process_with_scratch(c, scratch);
                }
            },
        );
    }

    /// Half spectrum of a 2-D view (any layout).
    pub fn forward_view(&self, img: ArrayView2<f32>) -> Vec<C32> {
        let src: Vec<f32> = img.iter().copied().collect();
        let mut dst = self.spec();
        let mut work = self.work();
        self.forward(&src, &mut dst, &mut work);
        dst
    }
}

/// `dst[c·rows + r] = src[r·cols + c]` for a `rows × cols` row-major `src` (tiled, parallel over
/// tiles of destination rows).
fn transpose(src: &[C32], dst: &mut [C32], rows: usize, cols: usize) {
    debug_assert_eq!(src.len(), rows * cols);
    dst.par_chunks_mut(rows * TILE)
        .enumerate()
        .for_each(|(t, d)| {
            let c0 = t * TILE;
            let nc = d.len() / rows;
            for r0 in (0..rows).step_by(TILE) {
                let r1 = (r0 + TILE).min(rows);
                for dc in 0..nc {
                    let c = c0 + dc;
                    let drow = &mut d[dc * rows..(dc + 1) * rows];
                    for r in r0..r1 {
                        drow[r] = src[r * cols + c];
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Naive DFT of a real image, f64: `X[ky][kx] = Σ u[y][x] e^{−2πi(ky·y/ny + kx·x/nx)}`.
    fn naive(u: &[f32], ny: usize, nx: usize) -> Vec<(f64, f64)> {
        let nh = nx / 2 + 1;
        let mut out = vec![(0.0, 0.0); nh * ny];
        for kx in 0..nh {
            for ky in 0..ny {
                let (mut re, mut im) = (0.0, 0.0);
                for y in 0..ny {
                    for x in 0..nx {
                        let ph = -2.0
                            * std::f64::consts::PI
                            * (ky as f64 * y as f64 / ny as f64 + kx as f64 * x as f64 / nx as f64);
                        re += u[y * nx + x] as f64 * ph.cos();
                        im += u[y * nx + x] as f64 * ph.sin();
                    }
                }
                out[kx * ny + ky] = (re, im);
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_naive_dft_and_inverse_restores() {
        for (seed, (ny, nx)) in [(1, 7), (5, 8), (9, 1), (12, 13), (40, 37), (33, 64)]
            .into_iter()
            .enumerate()
        {
            let mut rng = Rng::new(seed as u64);
            let u: Vec<f32> = (0..ny * nx).map(|_| rng.uniform() as f32 - 0.5).collect();
            let f = Fft2::new(ny, nx);
            let mut s = f.spec();
            let mut w = f.work();
            f.forward(&u, &mut s, &mut w);
            let want = naive(&u, ny, nx);
            for (a, b) in s.iter().zip(&want) {
                assert!((a.re as f64 - b.0).abs() < 1e-3 && (a.im as f64 - b.1).abs() < 1e-3);
            }
            let mut back = vec![0f32; ny * nx];
            f.inverse(&mut s, &mut back, &mut w);
            let n = (ny * nx) as f32;
            for (a, b) in back.iter().zip(&u) {
                assert!((a / n - b).abs() < 1e-5, "{ny}x{nx}: {a} vs {b}");
            }
        }
    }
}
