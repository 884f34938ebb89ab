//! Percolation of a bit-packed phase, slab by slab: each slab of slices is labelled in memory by
//! [`label_components`], components are numbered globally, and a union–find joins the labels that
//! touch across each slab face (the last slice of one slab against the first of the next, with the
//! neighbours the connectivity allows). The result equals
//! [`crate::metrics::connectivity::percolation`] on the whole volume.

use crate::error::ParamError;
use crate::metrics::components::{label_components, Connectivity};
use crate::metrics::connectivity::{face_touches, AxisPercolation};
use crate::metrics::porosity::Axis;
use crate::volume::BitVolume;
use ndarray::{Array2, Axis as NdAxis};
use serde::{Deserialize, Serialize};

/// Components and percolation of a packed phase (all three axes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackedPercolation {
    /// 6, 18 or 26.
    pub connectivity: u32,
    /// Number of connected components of the phase.
    pub n_components: usize,
    /// Voxels of the phase.
    pub phase_voxels: u64,
    /// Voxels of the largest component (0 when the phase is absent).
    pub largest_component_voxels: u64,
    /// z, y, x.
    pub axes: Vec<AxisPercolation>,
    /// Slices per labelled slab.
    pub slab_slices: usize,
}

use crate::metrics::components::{find, union};

/// Slices per slab so that one slab holds about `voxels` voxels (at least one slice).
pub fn slab_for(ny: usize, nx: usize, voxels: usize) -> usize {
    (voxels / (ny * nx).max(1)).max(1)
}

/// Label `mask` slab by slab (`slab` slices each) and classify the components along z, y, x.
pub fn percolation_packed(
    mask: &BitVolume,
    conn: Connectivity,
    slab: usize,
) -> Result<PackedPercolation, ParamError> {
    let [nz, ny, nx] = mask.shape();
    if nz * ny * nx == 0 {
        return Err(ParamError::new("volume", "empty", "has no voxels"));
    }
    let slab = slab.max(1);
    // in-plane neighbours across a slab face (dz = +1)
    let cross: Vec<(i32, i32)> = conn
        .offsets()
        .into_iter()
        .filter(|o| o[0] == 1)
        .map(|o| (o[1], o[2]))
        .collect();
    let mut parent: Vec<u32> = Vec::new();
    let mut size: Vec<u64> = Vec::new();
    let mut touch: Vec<u8> = Vec::new();
    let mut prev: Option<Array2<u32>> = None; // global id + 1 of the previous slab's last slice
    let mut z0 = 0;
    while z0 < nz {
        let z1 = (z0 + slab).min(nz);
        let m = mask.slab_mask(z0, z1);
        let comps = label_components(m.view(), conn)?;
        drop(m);
        let offset = parent.len();
        if offset + comps.count() >= u32::MAX as usize {
            return Err(ParamError::new(
                "components",
                offset + comps.count(),
                "too many components for 32-bit ids; use larger slabs or crop",
            ));
        }
        let t = face_touches(&comps);
        for (k, &s) in comps.sizes.iter().enumerate() {
            parent.push((offset + k) as u32);
            size.push(s);
            let mut b = t[k] & 0b11_1100;
            if z0 == 0 {
                b |= t[k] & 1;
            }
            if z1 == nz {
                b |= t[k] & 2;
            }
            touch.push(b);
        }
        let first = comps.labels.index_axis(NdAxis(0), 0);
        if let Some(p) = &prev {
            for y in 0..ny {
                for x in 0..nx {
                    let l = first[[y, x]];
                    if l == 0 {
                        continue;
                    }
                    let a = (offset + l as usize - 1) as u32;
                    for &(dy, dx) in &cross {
                        let (yy, xx) = (y as i64 + dy as i64, x as i64 + dx as i64);
                        if yy < 0 || xx < 0 || yy >= ny as i64 || xx >= nx as i64 {
                            continue;
                        }
                        let q = p[[yy as usize, xx as usize]];
                        if q != 0 {
                            union(&mut parent, a, q - 1);
                        }
                    }
                }
            }
        }
        let last = comps.labels.index_axis(NdAxis(0), z1 - z0 - 1);
        prev = Some(last.mapv(|l| {
            if l == 0 {
                0
            } else {
                (offset + l as usize) as u32
            }
        }));
        z0 = z1;
    }
    // fold sizes and touches onto the roots
    let n = parent.len();
    let mut rsize = vec![0u64; n];
    let mut rtouch = vec![0u8; n];
    for i in 0..n {
        let r = find(&mut parent, i as u32) as usize;
        rsize[r] += size[i];
        rtouch[r] |= touch[i];
    }
    let roots: Vec<usize> = (0..n).filter(|&i| parent[i] as usize == i).collect();
    let phase_voxels: u64 = size.iter().sum();
    let axes = [Axis::Z, Axis::Y, Axis::X]
        .iter()
        .map(|&axis| {
            crate::metrics::connectivity::classify_components(
                axis,
                roots.iter().map(|&r| (rsize[r], rtouch[r])),
                nz * ny * nx,
            )
        })
        .collect();
    Ok(PackedPercolation {
        connectivity: conn.n(),
        n_components: roots.len(),
        phase_voxels,
        largest_component_voxels: roots.iter().map(|&r| rsize[r]).max().unwrap_or(0),
        axes,
        slab_slices: slab,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::components::label_phase;
    use crate::metrics::connectivity::percolation;
    use ndarray::Array3;
    use proptest::prelude::*;

    fn in_memory(l: &Array3<u8>, conn: Connectivity) -> (usize, Vec<AxisPercolation>) {
        let c = label_phase(l.view(), 1, conn).unwrap();
        let t = face_touches(&c);
        let axes = [Axis::Z, Axis::Y, Axis::X]
            .iter()
            .map(|&a| percolation(&c, &t, a))
            .collect();
        (c.count(), axes)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]
        /// Slab-wise labelling with union–find across slab faces equals whole-volume labelling.
        #[test]
        fn slabwise_percolation_equals_in_memory(nz in 1usize..14, ny in 1usize..8, nx in 1usize..8,
                                                 seed in 0u64..10_000, density in 0.2f64..0.8,
                                                 slab in 1usize..5, ci in 0usize..3) {
            let conn = [Connectivity::Six, Connectivity::Eighteen, Connectivity::TwentySix][ci];
            let mut r = crate::rng::Rng::new(seed);
            let l = Array3::from_shape_fn((nz, ny, nx), |_| (r.below(1000) < (density * 1000.0) as u64) as u8);
            let b = BitVolume::from_labels(l.view(), 1);
            let got = percolation_packed(&b, conn, slab).unwrap();
            let (n, axes) = in_memory(&l, conn);
            prop_assert_eq!(got.n_components, n);
            prop_assert_eq!(got.axes, axes);
            prop_assert_eq!(got.phase_voxels, l.iter().filter(|&&v| v == 1).count() as u64);
        }
    }

    #[test]
    fn a_helix_crossing_many_slabs_is_one_component() {
        // a staircase that only joins diagonally across slab faces
        let mut l = Array3::<u8>::zeros((12, 4, 4));
        for z in 0..12 {
            l[[z, z % 4, (z / 4) % 4]] = 1;
        }
        for conn in [
            Connectivity::Six,
            Connectivity::Eighteen,
            Connectivity::TwentySix,
        ] {
            let b = BitVolume::from_labels(l.view(), 1);
            for slab in 1..5 {
                let got = percolation_packed(&b, conn, slab).unwrap();
                let (n, axes) = in_memory(&l, conn);
                assert_eq!(got.n_components, n, "{conn:?} slab {slab}");
                assert_eq!(got.axes, axes);
            }
        }
    }
}
