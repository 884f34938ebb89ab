//! Connected-component labelling with 6/18/26 connectivity.
//!
//! Two-pass union–find, parallel over slabs of z-slices: each slab is labelled independently with
//! provisional labels, slabs are merged with union–find across their shared faces, then labels are
//! renumbered. Union always keeps the smaller provisional label as the root and provisional labels
//! are handed out in raster order, so the root of every component is the provisional label of its
//! first voxel in raster (z, y, x) order; final labels 1, 2, … therefore follow the order of each
//! component's first voxel — the same numbering as `scipy.ndimage.label`, independent of the
//! number of threads.

use crate::error::ParamError;
use ndarray::{Array3, ArrayView3, Axis as NdAxis, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Voxel adjacency: faces (6), faces + edges (18), faces + edges + corners (26).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Connectivity {
    #[serde(rename = "6")]
    Six,
    #[serde(rename = "18")]
    Eighteen,
    #[serde(rename = "26")]
    TwentySix,
}

impl Connectivity {
    /// From 6, 18 or 26.
    pub fn from_n(n: u32) -> Result<Connectivity, ParamError> {
        match n {
            6 => Ok(Connectivity::Six),
            18 => Ok(Connectivity::Eighteen),
            26 => Ok(Connectivity::TwentySix),
            _ => Err(ParamError::new(
                "connectivity",
                n,
                "use 6 (faces), 18 (faces + edges) or 26 (faces + edges + corners)",
            )),
        }
    }
    /// 6, 18 or 26.
    pub fn n(self) -> u32 {
        match self {
            Connectivity::Six => 6,
            Connectivity::Eighteen => 18,
            Connectivity::TwentySix => 26,
        }
    }
    /// Largest |dz| + |dy| + |dx| of a neighbour.
    fn max_l1(self) -> i32 {
        match self {
            Connectivity::Six => 1,
            Connectivity::Eighteen => 2,
            Connectivity::TwentySix => 3,
        }
    }
    /// All neighbour offsets `[dz, dy, dx]`.
    pub fn offsets(self) -> Vec<[i32; 3]> {
        let mut v = Vec::new();
        for dz in -1..=1 {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let l1: i32 = dz * dz + dy * dy + dx * dx;
                    if l1 > 0 && l1 <= self.max_l1() {
                        v.push([dz, dy, dx]);
                    }
                }
            }
        }
        v
    }
    /// Neighbours that come earlier in raster order.
    pub fn backward_offsets(self) -> Vec<[i32; 3]> {
        self.offsets()
            .into_iter()
            .filter(|o| (o[0], o[1], o[2]) < (0, 0, 0))
            .collect()
    }
}

/// Result of labelling.
#[derive(Debug, Clone, PartialEq)]
pub struct Components {
    /// 0 = background, 1..=n = components numbered by their first voxel in raster order.
    pub labels: Array3<u32>,
    /// `sizes[k]` = voxels of component `k + 1`.
    pub sizes: Vec<u64>,
    pub connectivity: Connectivity,
}

impl Components {
    /// Number of components.
    pub fn count(&self) -> usize {
        self.sizes.len()
    }
}

fn find(p: &mut [u32], mut a: u32) -> u32 {
    while p[a as usize] != a {
        let g = p[p[a as usize] as usize];
        p[a as usize] = g;
        a = g;
    }
    a
}

fn union(p: &mut [u32], a: u32, b: u32) {
    let ra = find(p, a);
    let rb = find(p, b);
    if ra < rb {
        p[rb as usize] = ra;
    } else if rb < ra {
        p[ra as usize] = rb;
    }
}

/// Label the voxels equal to `phase`.
pub fn label_phase(
    labels: ArrayView3<u8>,
    phase: u8,
    conn: Connectivity,
) -> Result<Components, ParamError> {
    let mask = Zip::from(&labels).par_map_collect(|&v| v == phase);
    label_components(mask.view(), conn)
}

/// Label the `true` voxels of a mask.
pub fn label_components(
    mask: ArrayView3<bool>,
    conn: Connectivity,
) -> Result<Components, ParamError> {
    let sh = mask.shape();
    let (nz, ny, nx) = (sh[0], sh[1], sh[2]);
    let n = nz * ny * nx;
    if n as u64 >= u32::MAX as u64 {
        return Err(ParamError::new(
            "volume voxels",
            n,
            "component labelling supports fewer than 2^32 - 1 voxels; crop the volume",
        ));
    }
    let mut out = Array3::<u32>::zeros((nz, ny, nx));
    if n == 0 {
        return Ok(Components {
            labels: out,
            sizes: vec![],
            connectivity: conn,
        });
    }
    let std_mask;
    let m: &[bool] = match mask.as_slice() {
        Some(s) => s,
        None => {
            std_mask = mask.as_standard_layout().into_owned();
            std_mask.as_slice().expect("standard layout")
        }
    };
    let back = conn.backward_offsets();
    let plane = ny * nx;
    let lin: Vec<isize> = back
        .iter()
        .map(|o| (o[0] as isize * ny as isize + o[1] as isize) * nx as isize + o[2] as isize)
        .collect();
    let slab = nz
        .div_ceil(4 * rayon::current_num_threads())
        .clamp(1, nz.max(1))
        .max(4.min(nz));
    // pass 1: per slab provisional labels, local union-find
    let locals: Vec<(Vec<u32>, Vec<u64>)> = out
        .axis_chunks_iter_mut(NdAxis(0), slab)
        .into_par_iter()
        .enumerate()
        .map(|(si, mut o)| {
            let z0 = si * slab;
            let sz = o.shape()[0];
            let ol = o.as_slice_mut().expect("fresh array is contiguous");
            let ms = &m[z0 * plane..(z0 + sz) * plane];
            let mut parent: Vec<u32> = vec![0];
            let mut cnt: Vec<u64> = vec![0];
            for z in 0..sz {
                for y in 0..ny {
                    for x in 0..nx {
                        let i = (z * ny + y) * nx + x;
                        if !ms[i] {
                            continue;
                        }
                        let mut lab = 0u32;
                        if z > 0 && y > 0 && y + 1 < ny && x > 0 && x + 1 < nx {
                            // interior: no bounds checks needed
                            for &d in &lin {
                                let nl = ol[(i as isize + d) as usize];
                                if nl != 0 && nl != lab {
                                    if lab == 0 {
                                        lab = nl;
                                    } else {
                                        union(&mut parent, lab, nl);
                                    }
                                }
                            }
                        } else {
                            for o in &back {
                                let (zz, yy, xx) = (
                                    z as i64 + o[0] as i64,
                                    y as i64 + o[1] as i64,
                                    x as i64 + o[2] as i64,
                                );
                                if zz < 0 || yy < 0 || xx < 0 || yy >= ny as i64 || xx >= nx as i64
                                {
                                    continue;
                                }
                                let j = (zz as usize * ny + yy as usize) * nx + xx as usize;
                                let nl = ol[j];
                                if nl != 0 && nl != lab {
                                    if lab == 0 {
                                        lab = nl;
                                    } else {
                                        union(&mut parent, lab, nl);
                                    }
                                }
                            }
                        }
                        if lab == 0 {
                            lab = parent.len() as u32;
                            parent.push(lab);
                            cnt.push(0);
                        }
                        cnt[lab as usize] += 1;
                        ol[i] = lab;
                    }
                }
            }
            (parent, cnt)
        })
        .collect();
    // global union-find
    let mut off = Vec::with_capacity(locals.len());
    let mut total = 0u32;
    for (p, _) in &locals {
        off.push(total);
        total += (p.len() - 1) as u32;
    }
    let mut gp: Vec<u32> = Vec::with_capacity(total as usize + 1);
    let mut gc: Vec<u64> = Vec::with_capacity(total as usize + 1);
    gp.push(0);
    gc.push(0);
    for (si, (p, c)) in locals.iter().enumerate() {
        for l in 1..p.len() {
            gp.push(off[si] + p[l]);
            gc.push(c[l]);
        }
    }
    // merge across slab faces
    {
        let ol = out.as_slice().expect("contiguous");
        let cross: Vec<[i32; 3]> = back.iter().filter(|o| o[0] == -1).cloned().collect();
        for si in 1..locals.len() {
            let z = si * slab;
            for y in 0..ny {
                for x in 0..nx {
                    let i = (z * ny + y) * nx + x;
                    if !m[i] {
                        continue;
                    }
                    let a = off[si] + ol[i];
                    for o in &cross {
                        let (yy, xx) = (y as i64 + o[1] as i64, x as i64 + o[2] as i64);
                        if yy < 0 || xx < 0 || yy >= ny as i64 || xx >= nx as i64 {
                            continue;
                        }
                        let j = ((z - 1) * ny + yy as usize) * nx + xx as usize;
                        if m[j] {
                            union(&mut gp, a, off[si - 1] + ol[j]);
                        }
                    }
                }
            }
        }
    }
    // renumber: roots in ascending order = first voxels in raster order
    let mut fin = vec![0u32; total as usize + 1];
    let mut sizes: Vec<u64> = Vec::new();
    for l in 1..=total {
        let r = find(&mut gp, l);
        if r == l {
            sizes.push(0);
            fin[l as usize] = sizes.len() as u32;
        } else {
            fin[l as usize] = fin[r as usize];
        }
        sizes[fin[l as usize] as usize - 1] += gc[l as usize];
    }
    out.axis_chunks_iter_mut(NdAxis(0), slab)
        .into_par_iter()
        .enumerate()
        .for_each(|(si, mut o)| {
            let base = off[si];
            o.iter_mut().for_each(|v| {
                if *v != 0 {
                    *v = fin[(base + *v) as usize];
                }
            });
        });
    Ok(Components {
        labels: out,
        sizes,
        connectivity: conn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_counts() {
        assert_eq!(Connectivity::Six.offsets().len(), 6);
        assert_eq!(Connectivity::Eighteen.offsets().len(), 18);
        assert_eq!(Connectivity::TwentySix.offsets().len(), 26);
        assert_eq!(Connectivity::TwentySix.backward_offsets().len(), 13);
        assert!(Connectivity::from_n(8).is_err());
    }

    #[test]
    fn diagonal_pair_depends_on_connectivity() {
        let mut m = Array3::from_elem((2, 2, 2), false);
        m[[0, 0, 0]] = true;
        m[[1, 1, 1]] = true;
        assert_eq!(
            label_components(m.view(), Connectivity::Six)
                .unwrap()
                .count(),
            2
        );
        assert_eq!(
            label_components(m.view(), Connectivity::Eighteen)
                .unwrap()
                .count(),
            2
        );
        let c = label_components(m.view(), Connectivity::TwentySix).unwrap();
        assert_eq!(c.count(), 1);
        assert_eq!(c.sizes, vec![2]);
    }

    #[test]
    fn empty_and_full() {
        let m = Array3::from_elem((3, 1, 4), false);
        let c = label_components(m.view(), Connectivity::Six).unwrap();
        assert_eq!(c.count(), 0);
        let m = Array3::from_elem((9, 2, 3), true);
        let c = label_components(m.view(), Connectivity::Six).unwrap();
        assert_eq!(c.sizes, vec![54]);
        assert!(c.labels.iter().all(|&l| l == 1));
        let m = Array3::from_elem((0, 2, 3), true);
        assert_eq!(
            label_components(m.view(), Connectivity::Six)
                .unwrap()
                .count(),
            0
        );
    }
}
