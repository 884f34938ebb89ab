//! [`BitVolume`]: a binary mask with one bit per voxel (an eighth of a u8 label volume), filled
//! slab by slab while a stack streams past, or packed whole from a label volume. It is the one
//! bit-mask type: the random walk, the streamed chain and the packed percolation all use it.
//!
//! Layout: voxel `i = (z·ny + y)·nx + x` is bit `i & 63` of word `i >> 6` — the layout the random
//! walk's mask uses, so [`BitVolume::words`] feeds
//! [`crate::metrics::tortuosity::random_walk::tortuosity_rw_packed`] directly.

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;

/// Voxel `i` (flat C-order index) of packed words in the [`BitVolume`] layout: bit `i & 63` of
/// word `i >> 6`. The random walk reads its mask through this.
#[inline(always)]
pub fn bit(words: &[u64], i: usize) -> bool {
    (words[i >> 6] >> (i & 63)) & 1 != 0
}

/// A bit-packed binary volume `[nz, ny, nx]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitVolume {
    shape: [usize; 3],
    words: Vec<u64>,
}

impl BitVolume {
    /// All-false volume.
    pub fn zeros(shape: [usize; 3]) -> Self {
        let n: usize = shape.iter().product();
        BitVolume {
            shape,
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// From a label volume: true where the label equals `phase`.
    pub fn from_labels(labels: ArrayView3<u8>, phase: u8) -> Self {
        let s = labels.shape();
        let mut b = BitVolume::zeros([s[0], s[1], s[2]]);
        b.set_slab(0, labels, |v| v == phase);
        b
    }

    /// From a boolean mask.
    pub fn from_mask(mask: ArrayView3<bool>) -> Self {
        let s = mask.shape();
        let mut b = BitVolume::zeros([s[0], s[1], s[2]]);
        b.set_slab(0, mask, |v| v);
        b
    }

    /// Shape `[nz, ny, nx]` (voxels).
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }
    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True when the volume holds no voxels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The packed words (see the module docs for the layout).
    pub fn words(&self) -> &[u64] {
        &self.words
    }
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    #[inline]
    fn index(&self, z: usize, y: usize, x: usize) -> usize {
        (z * self.shape[1] + y) * self.shape[2] + x
    }

    /// Whether voxel `[z, y, x]` is set. Indices must lie inside [`BitVolume::shape`]; they are not
    /// checked per axis.
    #[inline]
    pub fn get(&self, z: usize, y: usize, x: usize) -> bool {
        let i = self.index(z, y, x);
        (self.words[i >> 6] >> (i & 63)) & 1 != 0
    }

    /// Set (`v = true`) or clear voxel `[z, y, x]`. Indices must lie inside [`BitVolume::shape`];
    /// they are not checked per axis.
    pub fn set(&mut self, z: usize, y: usize, x: usize, v: bool) {
        let i = self.index(z, y, x);
        if v {
            self.words[i >> 6] |= 1 << (i & 63);
        } else {
            self.words[i >> 6] &= !(1 << (i & 63));
        }
    }

    /// Set slices `z0 .. z0 + slab.len_of(z)` from `slab` through `pred` (parallel over words;
    /// bits outside the slab's range are kept). Panics if the slab does not fit the volume's
    /// slice size or extends past its end (a programming error, not user data).
    pub fn set_slab<T: Copy + Sync>(
        &mut self,
        z0: usize,
        slab: ArrayView3<T>,
        pred: impl Fn(T) -> bool + Sync,
    ) {
        let [nz, ny, nx] = self.shape;
        let s = slab.shape();
        assert!(
            s[1] == ny && s[2] == nx && z0 + s[0] <= nz,
            "slab does not fit"
        );
        let start = z0 * ny * nx;
        let end = start + s[0] * ny * nx;
        if start == end {
            return;
        }
        let owned;
        let flat: &[T] = match slab.as_slice() {
            Some(f) => f,
            None => {
                owned = slab.iter().copied().collect::<Vec<T>>();
                &owned
            }
        };
        let (w0, w1) = (start >> 6, end.div_ceil(64));
        self.words[w0..w1]
            .par_iter_mut()
            .enumerate()
            .for_each(|(k, w)| {
                let base = (w0 + k) * 64;
                let lo = start.max(base);
                let hi = end.min(base + 64);
                let mut bits = 0u64;
                let mut keep = !0u64;
                for i in lo..hi {
                    let b = i - base;
                    keep &= !(1u64 << b);
                    if pred(flat[i - start]) {
                        bits |= 1 << b;
                    }
                }
                *w = (*w & keep) | bits;
            });
    }

    /// True voxels.
    pub fn count_ones(&self) -> u64 {
        self.words.par_iter().map(|w| w.count_ones() as u64).sum()
    }

    /// True voxels in each z-slice.
    pub fn slice_counts(&self) -> Vec<u64> {
        let [nz, ny, nx] = self.shape;
        let per = ny * nx;
        (0..nz)
            .into_par_iter()
            .map(|z| {
                let (a, b) = (z * per, (z + 1) * per);
                let mut c = 0u64;
                let mut i = a;
                while i < b {
                    if i & 63 == 0 && i + 64 <= b {
                        c += self.words[i >> 6].count_ones() as u64;
                        i += 64;
                    } else {
                        c += (self.words[i >> 6] >> (i & 63)) & 1;
                        i += 1;
                    }
                }
                c
            })
            .collect()
    }

    /// Unpack slices `z0..z1` as a boolean mask.
    pub fn slab_mask(&self, z0: usize, z1: usize) -> Array3<bool> {
        let [_, ny, nx] = self.shape;
        let mut out = Array3::<bool>::from_elem((z1 - z0, ny, nx), false);
        let start = z0 * ny * nx;
        if let Some(f) = out.as_slice_mut() {
            f.par_iter_mut().enumerate().for_each(|(k, v)| {
                let i = start + k;
                *v = (self.words[i >> 6] >> (i & 63)) & 1 != 0;
            });
        }
        out
    }

    /// Unpack to labels: `on` where true, `off` elsewhere.
    pub fn to_labels(&self, on: u8, off: u8) -> Array3<u8> {
        self.slab_mask(0, self.shape[0])
            .mapv(|b| if b { on } else { off })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
        /// Packing slab by slab, get/set, counts and unpacking agree with the u8 volume.
        #[test]
        fn bitvolume_roundtrips_and_counts(nz in 1usize..9, ny in 1usize..9, nx in 1usize..11,
                                           seed in 0u64..1000, slab in 1usize..4) {
            let mut r = crate::rng::Rng::new(seed);
            let l = Array3::from_shape_fn((nz, ny, nx), |_| r.below(3) as u8);
            let whole = BitVolume::from_labels(l.view(), 1);
            let mut b = BitVolume::zeros([nz, ny, nx]);
            let mut z = 0;
            while z < nz {
                let z1 = (z + slab).min(nz);
                b.set_slab(z, l.slice(ndarray::s![z..z1, .., ..]), |v| v == 1);
                z = z1;
            }
            prop_assert_eq!(&b, &whole);
            prop_assert_eq!(b.to_labels(1, 0), l.mapv(|v| (v == 1) as u8));
            prop_assert_eq!(b.count_ones(), l.iter().filter(|&&v| v == 1).count() as u64);
            let sc: Vec<u64> = l.outer_iter().map(|s| s.iter().filter(|&&v| v == 1).count() as u64).collect();
            prop_assert_eq!(b.slice_counts(), sc);
            for ((z, y, x), &v) in l.indexed_iter() {
                prop_assert_eq!(b.get(z, y, x), v == 1);
            }
            // overwrite a middle slab and check its neighbours stay
            if nz > 2 {
                let mut c = b.clone();
                let ones = Array3::<u8>::ones((1, ny, nx));
                c.set_slab(1, ones.view(), |v| v == 1);
                for ((z, y, x), &v) in l.indexed_iter() {
                    prop_assert_eq!(c.get(z, y, x), if z == 1 { true } else { v == 1 });
                }
                c.set(0, 0, 0, true);
                prop_assert!(c.get(0, 0, 0));
                c.set(0, 0, 0, false);
                prop_assert!(!c.get(0, 0, 0));
            }
        }
    }

    #[test]
    fn words_match_the_random_walk_layout() {
        let l = Array3::from_shape_fn((2, 3, 37), |(z, y, x)| ((z + 2 * y + 3 * x) % 4 == 0) as u8);
        let b = BitVolume::from_labels(l.view(), 1);
        assert_eq!(b.words().len(), (2 * 3 * 37usize).div_ceil(64));
        for (i, &v) in l.iter().enumerate() {
            assert_eq!((b.words()[i >> 6] >> (i & 63)) & 1 == 1, v == 1);
        }
    }
}
