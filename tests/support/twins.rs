//! Deliberately simple reference twins shared by the tests: they use neither the library's
//! kernels nor its readers, so a test comparing against them can fail.
#![allow(dead_code)]

use fibstack::volume::Connectivity;
use ndarray::Array3;
use std::collections::VecDeque;
use std::path::Path;

/// Neighbour offsets of `conn`, from the definition: 6 = faces (one coordinate differs by 1),
/// 18 = faces and edges (at most two), 26 = faces, edges and corners (any of the three).
pub fn neighbour_offsets(conn: Connectivity) -> Vec<[i64; 3]> {
    let most = match conn {
        Connectivity::Six => 1,
        Connectivity::Eighteen => 2,
        Connectivity::TwentySix => 3,
    };
    let mut v = Vec::new();
    for dz in -1i64..=1 {
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                let moved = [dz, dy, dx].iter().filter(|&&d| d != 0).count();
                if moved > 0 && moved <= most {
                    v.push([dz, dy, dx]);
                }
            }
        }
    }
    v
}

/// Connected components of the `true` voxels by breadth-first flood fill from each unvisited
/// voxel in raster order: labels 1, 2, … in the order of each component's first voxel.
pub fn bfs_labels(m: &Array3<bool>, conn: Connectivity) -> Array3<u32> {
    let sh = m.shape();
    let (nz, ny, nx) = (sh[0] as i64, sh[1] as i64, sh[2] as i64);
    let offs = neighbour_offsets(conn);
    let mut lab = Array3::<u32>::zeros(m.raw_dim());
    let mut next = 0;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let p = [z as usize, y as usize, x as usize];
                if !m[p] || lab[p] != 0 {
                    continue;
                }
                next += 1;
                lab[p] = next;
                let mut q = VecDeque::from([(z, y, x)]);
                while let Some((a, b, c)) = q.pop_front() {
                    for o in &offs {
                        let (a2, b2, c2) = (a + o[0], b + o[1], c + o[2]);
                        if a2 < 0 || b2 < 0 || c2 < 0 || a2 >= nz || b2 >= ny || c2 >= nx {
                            continue;
                        }
                        let r = [a2 as usize, b2 as usize, c2 as usize];
                        if m[r] && lab[r] == 0 {
                            lab[r] = next;
                            q.push_back((a2, b2, c2));
                        }
                    }
                }
            }
        }
    }
    lab
}

/// Read a multi-page 8-bit TIFF (relative to the crate root) with the `tiff` crate (page = z).
/// None (with a message) when the file is absent.
pub fn read_tiff_u8(rel: &str) -> Option<Array3<u8>> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if !p.exists() {
        eprintln!("SKIP: {} is absent", p.display());
        return None;
    }
    let f = std::fs::File::open(&p).unwrap();
    let mut d = tiff::decoder::Decoder::new(std::io::BufReader::new(f))
        .unwrap()
        .with_limits(tiff::decoder::Limits::unlimited());
    let (w, h) = d.dimensions().unwrap();
    let mut data = Vec::new();
    let mut nz = 0;
    loop {
        match d.read_image().unwrap() {
            tiff::decoder::DecodingResult::U8(v) => data.extend_from_slice(&v[..(w * h) as usize]),
            _ => panic!("expected 8-bit pages"),
        }
        nz += 1;
        if !d.more_images() {
            break;
        }
        d.next_image().unwrap();
    }
    Some(Array3::from_shape_vec((nz, h as usize, w as usize), data).unwrap())
}

/// Connected components of the `true` voxels by another route than [`bfs_labels`]: every voxel
/// starts with its own number and takes the smallest number among its neighbours until nothing
/// changes (very slow). The same partition; the label values are the smallest raster index + 1
/// of each component, not 1, 2, ….
pub fn min_propagation_labels(mask: &Array3<bool>, conn: Connectivity) -> Array3<usize> {
    let (nz, ny, nx) = mask.dim();
    let offs = neighbour_offsets(conn);
    let mut lab = Array3::from_shape_fn(mask.dim(), |(z, y, x)| {
        if mask[[z, y, x]] {
            (z * ny + y) * nx + x + 1
        } else {
            0
        }
    });
    loop {
        let mut changed = false;
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    if lab[[z, y, x]] == 0 {
                        continue;
                    }
                    for [dz, dy, dx] in &offs {
                        let (zz, yy, xx) = (z as i64 + dz, y as i64 + dy, x as i64 + dx);
                        if zz < 0
                            || yy < 0
                            || xx < 0
                            || zz >= nz as i64
                            || yy >= ny as i64
                            || xx >= nx as i64
                        {
                            continue;
                        }
                        let o = lab[[zz as usize, yy as usize, xx as usize]];
                        if o != 0 && o < lab[[z, y, x]] {
                            lab[[z, y, x]] = o;
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            return lab;
        }
    }
}
