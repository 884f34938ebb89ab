//! Pore-region graph (distance-transform watershed) and phase-to-phase contact areas.
//!
//! 1. Exact anisotropic Euclidean distance transform of the phase ([`crate::metrics::edt::edt`]:
//!    distance in nm from each phase voxel centre to the nearest non-phase voxel centre; the
//!    volume's outside is *not* a wall; +∞ when the phase fills the volume).
//! 2. Markers: face-connected plateaus of the distance whose every voxel is the maximum of a box
//!    of half-width 4 voxels (of the finest axis; PoreSpy's `r_max = 4`). Taken from the largest
//!    distance down, a marker whose first voxel lies inside the inscribed ball of an already
//!    accepted marker is dropped (a peak inside a bigger pore's maximal ball is the same pore).
//! 3. Priority flooding (larger distance first, first-in first-out among equals, face
//!    neighbours) from the accepted markers partitions the phase into regions. Phase voxels not
//!    reached (a component whose peaks were all dropped) become regions of their own.
//! 4. Nodes: volume, centroid (voxel centres at `(i + 0.5)·d`), inscribed radius (largest distance
//!    in the region), faces touched. Throats: pairs of regions sharing voxel faces, with the number
//!    of shared faces per axis, area (faces ⊥z count `dy·dx`, ⊥y `dz·dx`, ⊥x `dz·dy`) and throat
//!    radius (largest min(distance a, distance b) over the shared faces).

use crate::error::ParamError;
use crate::metrics::porosity::{check_nonempty, Units};
use crate::volume::VoxelSize;
use ndarray::{Array3, ArrayView3, Axis as NdAxis, Zip};
use petgraph::graph::UnGraph;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Marker window half-width per axis: 4 voxels of the finest axis, in voxels of each axis (≥ 1).
fn window_radius(sc: [f64; 3]) -> [usize; 3] {
    let fine = sc.iter().cloned().fold(f64::INFINITY, f64::min);
    std::array::from_fn(|a| ((MARKER_RADIUS_VOXELS * fine / sc[a]).round() as usize).max(1))
}

/// Half-width of the marker window, in voxels of the finest axis (as PoreSpy's `r_max = 4`).
pub const MARKER_RADIUS_VOXELS: f64 = 4.0;

/// Separable moving maximum over a box of half-widths `r` (clipped at the borders).
fn max_filter(a: &Array3<f32>, r: [usize; 3]) -> Array3<f32> {
    let mut out = a.clone();
    for (ax, &ra) in r.iter().enumerate() {
        Zip::from(out.lanes_mut(NdAxis(ax))).par_for_each(|mut lane| {
            let src: Vec<f32> = lane.iter().cloned().collect();
            let n = src.len();
            for (i, o) in lane.iter_mut().enumerate() {
                let lo = i.saturating_sub(ra);
                let hi = (i + ra + 1).min(n);
                *o = src[lo..hi]
                    .iter()
                    .cloned()
                    .fold(f32::NEG_INFINITY, f32::max);
            }
        });
    }
    out
}

/// A pore region (graph node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoreRegion {
    /// Region id (1-based; 0 in the region volume = not the phase).
    pub id: u32,
    /// Number of voxels in the region.
    pub voxels: u64,
    /// Volume in length unit³.
    pub volume: f64,
    /// Centroid `[z, y, x]` in length units (voxel centres at `(i + 0.5)·d`).
    pub centroid: [f64; 3],
    /// Largest distance to the nearest other-phase voxel inside the region (length unit);
    /// `None` when the phase has no boundary at all (all-phase volume).
    pub inscribed_radius: Option<f64>,
    /// Faces of the box touched: z0, z1, y0, y1, x0, x1.
    pub touches: [bool; 6],
    /// Number of neighbouring regions.
    pub coordination: usize,
}

/// Shared faces between two regions (graph edge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throat {
    /// Id of the first region (the smaller id).
    pub region_a: u32,
    /// Id of the second region (the larger id).
    pub region_b: u32,
    /// Shared voxel faces perpendicular to z, y, x.
    pub faces: [u64; 3],
    /// Total shared faces.
    pub n_faces: u64,
    /// Area in length unit² (faces ⊥z × dy·dx + ⊥y × dz·dx + ⊥x × dz·dy).
    pub area: f64,
    /// Largest min(distance a, distance b) over the shared faces (length unit).
    pub throat_radius: Option<f64>,
    /// Distance between the two centroids (length unit).
    pub centroid_distance: f64,
}

/// Summary of the graph for JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphSummary {
    /// How the graph was built (watershed markers, flooding, throats), for the record.
    pub method: String,
    /// The phase label the graph is of.
    pub phase: u8,
    /// Number of regions (graph nodes).
    pub n_regions: usize,
    /// Number of throats (graph edges).
    pub n_throats: usize,
    /// 2 · throats / regions (0 without regions).
    pub mean_coordination: f64,
    /// Unit of lengths: `"nm"` when the voxel size is calibrated, `"voxel"` otherwise.
    pub length_unit: String,
    /// Unit of areas: `"nm^2"` or `"voxel^2"`.
    pub area_unit: String,
    /// Unit of volumes: `"nm^3"` or `"voxel^3"`.
    pub volume_unit: String,
    /// Mean inscribed radius over regions, volume-weighted (length unit).
    pub mean_inscribed_radius: Option<f64>,
    /// Sum of all throat areas (`area_unit`).
    pub total_throat_area: f64,
    /// Voxel size `[dz, dy, dx]` (nm) used.
    pub voxel_size_nm: [f64; 3],
    /// Remarks on the result (uncalibrated voxel size, absent phase, no boundary); `None` when there
    /// are none.
    pub note: Option<String>,
}

/// The pore-region graph of one phase.
#[derive(Debug, Clone)]
pub struct PoreGraph {
    /// Node `k` (NodeIndex k) is region `k + 1`.
    pub graph: UnGraph<PoreRegion, Throat>,
    /// Region of every voxel (0 = not the phase).
    pub regions: Array3<u32>,
    /// Summary numbers of the graph, as reported in JSON.
    pub summary: GraphSummary,
}

/// Hierarchical FIFO queue over integer priorities (highest first, first-in first-out among
/// equals): the same order as a binary heap keyed by (priority, insertion order), in O(1) per item.
struct BucketQueue {
    buckets: Vec<std::collections::VecDeque<usize>>,
    top: usize,
    len: usize,
}

impl BucketQueue {
    fn new(k: usize) -> Self {
        BucketQueue {
            buckets: (0..k.max(1)).map(|_| Default::default()).collect(),
            top: 0,
            len: 0,
        }
    }
    fn push(&mut self, p: usize, i: usize) {
        self.buckets[p].push_back(i);
        self.top = self.top.max(p);
        self.len += 1;
    }
    fn pop(&mut self) -> Option<usize> {
        while self.len > 0 {
            if let Some(i) = self.buckets[self.top].pop_front() {
                self.len -= 1;
                return Some(i);
            }
            self.top = self.top.checked_sub(1)?;
        }
        None
    }
}

/// Face neighbours of voxel `i` in a `[nz, ny, nx]` volume (up to 6).
fn face_neighbours(i: usize, sh: [usize; 3], out: &mut [usize; 6]) -> usize {
    let (ny, nx) = (sh[1], sh[2]);
    let (z, y, x) = (i / (ny * nx), (i / nx) % ny, i % nx);
    let mut k = 0;
    if z > 0 {
        out[k] = i - ny * nx;
        k += 1;
    }
    if y > 0 {
        out[k] = i - nx;
        k += 1;
    }
    if x > 0 {
        out[k] = i - 1;
        k += 1;
    }
    if x + 1 < nx {
        out[k] = i + 1;
        k += 1;
    }
    if y + 1 < ny {
        out[k] = i + nx;
        k += 1;
    }
    if z + 1 < sh[0] {
        out[k] = i + ny * nx;
        k += 1;
    }
    k
}

/// Watershed partition of the voxels of `phase` into pore regions, and their throats.
pub fn pore_graph(
    labels: ArrayView3<u8>,
    phase: u8,
    voxel: &VoxelSize,
) -> Result<PoreGraph, ParamError> {
    check_nonempty(labels.shape())?;
    let units = Units::from_voxel(voxel)?;
    let sc = units.scale;
    let sh = labels.shape();
    let (nz, ny, nx) = (sh[0], sh[1], sh[2]);
    let n = nz * ny * nx;
    if n as u64 >= u32::MAX as u64 {
        return Err(ParamError::new(
            "volume voxels",
            n,
            "the pore graph supports fewer than 2^32 - 1 voxels; crop the volume",
        ));
    }
    let mask = Zip::from(&labels).par_map_collect(|&v| v == phase);
    let dt = crate::metrics::edt::edt(mask.view(), sc)?;
    let m = mask.as_slice().expect("fresh array");
    let dts = dt.as_slice().expect("fresh array");
    let idx = |z: usize, y: usize, x: usize| (z * ny + y) * nx + x;
    let coords = |i: usize| (i / (ny * nx), (i / nx) % ny, i % nx);
    let shape = [nz, ny, nx];
    let mut nbuf = [0usize; 6];
    // candidate peaks: no voxel within the marker window is higher
    let mx = max_filter(&dt, window_radius(sc));
    let mxs = mx.as_slice().expect("fresh array");
    let peak: Vec<bool> = (0..n)
        .into_par_iter()
        .map(|i| m[i] && dts[i] >= mxs[i])
        .collect();
    drop(mx);
    // regional maxima: face-connected plateaus of equal distance (grown from candidates through
    // any equal voxel) none of whose members has a higher 26-neighbour; raster order of first voxel
    let mut group = vec![u32::MAX; n];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        if !peak[i] || group[i] != u32::MAX {
            continue;
        }
        let g = groups.len() as u32;
        let mut members = vec![i];
        group[i] = g;
        let mut is_max = true;
        let mut h = 0;
        while h < members.len() {
            let c = members[h];
            h += 1;
            if !peak[c] {
                is_max = false;
            }
            let k = face_neighbours(c, shape, &mut nbuf);
            for &j in &nbuf[..k] {
                if m[j] && dts[j] == dts[i] && group[j] == u32::MAX {
                    group[j] = g;
                    members.push(j);
                }
            }
        }
        groups.push(if is_max { members } else { Vec::new() });
    }
    groups.retain(|g| !g.is_empty());
    drop(group);
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        dts[groups[b][0]]
            .total_cmp(&dts[groups[a][0]])
            .then(a.cmp(&b))
    });
    // accept markers not inside an accepted marker's inscribed ball
    let mut region = vec![0u32; n];
    let mut covered = vec![false; n];
    // priorities = rank of the distance among the distinct values present
    let mut vals: Vec<u32> = (0..n)
        .into_par_iter()
        .filter(|&i| m[i])
        .map(|i| dts[i].to_bits())
        .collect();
    vals.par_sort_unstable();
    vals.dedup();
    let rank = |i: usize| vals.binary_search(&dts[i].to_bits()).unwrap_or(0);
    let mut queue = BucketQueue::new(vals.len());
    let mut n_regions = 0u32;
    for g in order {
        let first = groups[g][0];
        if covered[first] {
            continue;
        }
        n_regions += 1;
        let r = dts[first] as f64;
        if r.is_finite() {
            let (cz, cy, cx) = coords(first);
            let ext = |a: usize, c: usize, len: usize| {
                let k = (r / sc[a]).ceil() as usize;
                (c.saturating_sub(k), (c + k + 1).min(len))
            };
            let (z0, z1) = ext(0, cz, nz);
            let (y0, y1) = ext(1, cy, ny);
            let (x0, x1) = ext(2, cx, nx);
            for z in z0..z1 {
                let dz = (z as f64 - cz as f64) * sc[0];
                for y in y0..y1 {
                    let dy = (y as f64 - cy as f64) * sc[1];
                    for x in x0..x1 {
                        let dx = (x as f64 - cx as f64) * sc[2];
                        if dz * dz + dy * dy + dx * dx < r * r {
                            covered[idx(z, y, x)] = true;
                        }
                    }
                }
            }
        } else {
            covered.iter_mut().for_each(|c| *c = true);
        }
        for &i in &groups[g] {
            region[i] = n_regions;
            queue.push(rank(i), i);
        }
    }
    drop(covered);
    // priority flood over face neighbours
    while let Some(i) = queue.pop() {
        let r = region[i];
        let k = face_neighbours(i, shape, &mut nbuf);
        for &j in &nbuf[..k] {
            if m[j] && region[j] == 0 {
                region[j] = r;
                queue.push(rank(j), j);
            }
        }
    }
    // leftovers: each face-connected group becomes a region
    for i in 0..n {
        if m[i] && region[i] == 0 {
            n_regions += 1;
            region[i] = n_regions;
            let mut st = vec![i];
            while let Some(c) = st.pop() {
                let k = face_neighbours(c, shape, &mut nbuf);
                for &j in &nbuf[..k] {
                    if m[j] && region[j] == 0 {
                        region[j] = n_regions;
                        st.push(j);
                    }
                }
            }
        }
    }
    // nodes
    let nr = n_regions as usize;
    let mut cnt = vec![0u64; nr];
    let mut sum = vec![[0f64; 3]; nr];
    let mut rad = vec![0f32; nr];
    let mut touch = vec![[false; 6]; nr];
    for i in 0..n {
        let r = region[i];
        if r == 0 {
            continue;
        }
        let k = r as usize - 1;
        let (z, y, x) = coords(i);
        cnt[k] += 1;
        sum[k][0] += z as f64;
        sum[k][1] += y as f64;
        sum[k][2] += x as f64;
        rad[k] = rad[k].max(dts[i]);
        let t = &mut touch[k];
        t[0] |= z == 0;
        t[1] |= z == nz - 1;
        t[2] |= y == 0;
        t[3] |= y == ny - 1;
        t[4] |= x == 0;
        t[5] |= x == nx - 1;
    }
    // throats over face pairs
    let face_area = [sc[1] * sc[2], sc[0] * sc[2], sc[0] * sc[1]];
    let mut th: BTreeMap<(u32, u32), ([u64; 3], f32)> = BTreeMap::new();
    for i in 0..n {
        let a = region[i];
        if a == 0 {
            continue;
        }
        let (z, y, x) = coords(i);
        for (ax, ok, j) in [
            (0usize, z + 1 < nz, i + ny * nx),
            (1, y + 1 < ny, i + nx),
            (2, x + 1 < nx, i + 1),
        ] {
            if !ok {
                continue;
            }
            let b = region[j];
            if b == 0 || b == a {
                continue;
            }
            let e = th.entry((a.min(b), a.max(b))).or_insert(([0; 3], 0.0));
            e.0[ax] += 1;
            e.1 = e.1.max(dts[i].min(dts[j]));
        }
    }
    let vv = units.voxel_volume();
    let fin = |x: f32| (x.is_finite()).then_some(x as f64);
    let mut graph: UnGraph<PoreRegion, Throat> = UnGraph::with_capacity(nr, th.len());
    let mut coord = vec![0usize; nr];
    for &(a, b) in th.keys() {
        coord[a as usize - 1] += 1;
        coord[b as usize - 1] += 1;
    }
    for k in 0..nr {
        let c = cnt[k] as f64;
        graph.add_node(PoreRegion {
            id: k as u32 + 1,
            voxels: cnt[k],
            volume: c * vv,
            centroid: std::array::from_fn(|a| (sum[k][a] / c + 0.5) * sc[a]),
            inscribed_radius: fin(rad[k]),
            touches: touch[k],
            coordination: coord[k],
        });
    }
    let mut total_area = 0.0;
    for (&(a, b), &(faces, tr)) in &th {
        let na = petgraph::graph::NodeIndex::new(a as usize - 1);
        let nbi = petgraph::graph::NodeIndex::new(b as usize - 1);
        let ca = graph[na].centroid;
        let cb = graph[nbi].centroid;
        let area: f64 = (0..3).map(|k| faces[k] as f64 * face_area[k]).sum();
        total_area += area;
        graph.add_edge(
            na,
            nbi,
            Throat {
                region_a: a,
                region_b: b,
                faces,
                n_faces: faces.iter().sum(),
                area,
                throat_radius: fin(tr),
                centroid_distance: (0..3).map(|k| (ca[k] - cb[k]).powi(2)).sum::<f64>().sqrt(),
            },
        );
    }
    let tot_vox: u64 = cnt.iter().sum();
    let mean_r = if tot_vox > 0 && rad.iter().all(|r| r.is_finite()) {
        Some((0..nr).map(|k| rad[k] as f64 * cnt[k] as f64).sum::<f64>() / tot_vox as f64)
    } else {
        None
    };
    let mut note = units.note.clone();
    if tot_vox == 0 {
        let t = format!("phase {phase} is absent: the graph is empty");
        note = Some(note.map_or(t.clone(), |n| format!("{n}; {t}")));
    } else if mean_r.is_none() {
        let t =
            "the phase fills the volume: no boundary, inscribed radii undefined (null)".to_string();
        note = Some(note.map_or(t.clone(), |n| format!("{n}; {t}")));
    }
    let summary = GraphSummary {
        method: "distance-transform watershed: exact anisotropic EDT, markers = plateaus that are maxima \
                 of a box of half-width 4 voxels not inside a larger marker's inscribed ball, priority \
                 flood over face neighbours; throats = shared voxel faces"
            .into(),
        phase,
        n_regions: nr,
        n_throats: th.len(),
        mean_coordination: if nr > 0 {
            2.0 * th.len() as f64 / nr as f64
        } else {
            0.0
        },
        length_unit: units.length.clone(),
        area_unit: units.area(),
        volume_unit: units.volume(),
        mean_inscribed_radius: mean_r,
        total_throat_area: total_area,
        voxel_size_nm: voxel.nm,
        note,
    };
    Ok(PoreGraph {
        graph,
        regions: Array3::from_shape_vec((nz, ny, nx), region).expect("shape"),
        summary,
    })
}

fn opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| format!("{v}"))
}

impl PoreGraph {
    /// `nodes.csv`: one row per region; units in the header.
    pub fn write_nodes_csv<W: std::io::Write>(&self, w: W) -> Result<(), csv::Error> {
        let u = &self.summary.length_unit;
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record([
            "region".to_string(),
            "voxels".into(),
            format!("volume_{u}3"),
            format!("centroid_z_{u}"),
            format!("centroid_y_{u}"),
            format!("centroid_x_{u}"),
            format!("inscribed_radius_{u}"),
            "coordination".into(),
            "touches_z0".into(),
            "touches_z1".into(),
            "touches_y0".into(),
            "touches_y1".into(),
            "touches_x0".into(),
            "touches_x1".into(),
        ])?;
        for r in self.graph.node_weights() {
            let mut rec = vec![
                r.id.to_string(),
                r.voxels.to_string(),
                format!("{}", r.volume),
                format!("{}", r.centroid[0]),
                format!("{}", r.centroid[1]),
                format!("{}", r.centroid[2]),
                opt(r.inscribed_radius),
                r.coordination.to_string(),
            ];
            rec.extend(r.touches.iter().map(|&t| (t as u8).to_string()));
            wr.write_record(&rec)?;
        }
        wr.flush()?;
        Ok(())
    }

    /// `edges.csv`: one row per throat; units in the header.
    pub fn write_edges_csv<W: std::io::Write>(&self, w: W) -> Result<(), csv::Error> {
        let u = &self.summary.length_unit;
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record([
            "region_a".to_string(),
            "region_b".into(),
            "n_faces".into(),
            "faces_z".into(),
            "faces_y".into(),
            "faces_x".into(),
            format!("area_{u}2"),
            format!("throat_radius_{u}"),
            format!("centroid_distance_{u}"),
        ])?;
        for t in self.graph.edge_weights() {
            wr.write_record([
                t.region_a.to_string(),
                t.region_b.to_string(),
                t.n_faces.to_string(),
                t.faces[0].to_string(),
                t.faces[1].to_string(),
                t.faces[2].to_string(),
                format!("{}", t.area),
                opt(t.throat_radius),
                format!("{}", t.centroid_distance),
            ])?;
        }
        wr.flush()?;
        Ok(())
    }
}

/// Interface between two phases (face counting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseContact {
    /// The smaller phase label of the pair.
    pub phase_a: u8,
    /// The larger phase label of the pair.
    pub phase_b: u8,
    /// Shared voxel faces perpendicular to z, y, x.
    pub faces: [u64; 3],
    /// Total shared voxel faces (sum of `faces`).
    pub n_faces: u64,
    /// Contact area in `area_unit` (face counting; overestimates smooth interfaces).
    pub area: f64,
    /// Unit of `area`: `"nm^2"` or `"voxel^2"`.
    pub area_unit: String,
    /// Area / box volume, in `specific_area_unit` (um^-1 when calibrated, voxel^-1 otherwise).
    pub specific_area: f64,
    /// Unit of `specific_area`: `"um^-1"` when calibrated, `"voxel^-1"` otherwise.
    pub specific_area_unit: String,
}

/// Contact (interface) areas between every pair of phases present, by counting shared voxel faces
/// with anisotropic face areas. Pairs are listed with `phase_a < phase_b`, ascending.
pub fn phase_contacts(
    labels: ArrayView3<u8>,
    voxel: &VoxelSize,
) -> Result<Vec<PhaseContact>, ParamError> {
    check_nonempty(labels.shape())?;
    let units = Units::from_voxel(voxel)?;
    let sc = units.scale;
    let sh = labels.shape();
    // counts[a][b][axis] for a < b, accumulated per z slice in parallel
    type Acc = Vec<[u64; 3]>;
    let key = |a: u8, b: u8| (a.min(b) as usize) * 256 + a.max(b) as usize;
    let acc: Acc = (0..sh[0])
        .into_par_iter()
        .with_min_len(16)
        .fold(
            || vec![[0u64; 3]; 65536],
            |mut acc, z| {
                for y in 0..sh[1] {
                    for x in 0..sh[2] {
                        let a = labels[[z, y, x]];
                        if z + 1 < sh[0] {
                            let b = labels[[z + 1, y, x]];
                            if a != b {
                                acc[key(a, b)][0] += 1;
                            }
                        }
                        if y + 1 < sh[1] {
                            let b = labels[[z, y + 1, x]];
                            if a != b {
                                acc[key(a, b)][1] += 1;
                            }
                        }
                        if x + 1 < sh[2] {
                            let b = labels[[z, y, x + 1]];
                            if a != b {
                                acc[key(a, b)][2] += 1;
                            }
                        }
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![[0u64; 3]; 65536],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    for k in 0..3 {
                        x[k] += y[k];
                    }
                }
                a
            },
        );
    let face_area = [sc[1] * sc[2], sc[0] * sc[2], sc[0] * sc[1]];
    let n = labels.len() as f64;
    let (box_vol, sunit, sfac) = if units.calibrated {
        (n * units.voxel_volume(), "um^-1".to_string(), 1e3)
    } else {
        (n, "voxel^-1".to_string(), 1.0)
    };
    let mut out = Vec::new();
    for (k, f) in acc.iter().enumerate() {
        let n_faces: u64 = f.iter().sum();
        if n_faces == 0 {
            continue;
        }
        let area: f64 = (0..3).map(|a| f[a] as f64 * face_area[a]).sum();
        out.push(PhaseContact {
            phase_a: (k / 256) as u8,
            phase_b: (k % 256) as u8,
            faces: *f,
            n_faces,
            area,
            area_unit: units.area(),
            specific_area: area / box_vol * sfac,
            specific_area_unit: sunit.clone(),
        });
    }
    Ok(out)
}

/// The phase-contact graph: one node per phase label (weights = labels), one edge per contact.
pub fn contact_graph(contacts: &[PhaseContact]) -> UnGraph<u8, PhaseContact> {
    let mut g = UnGraph::new_undirected();
    let mut node = std::collections::BTreeMap::new();
    for c in contacts {
        for p in [c.phase_a, c.phase_b] {
            node.entry(p).or_insert_with(|| g.add_node(p));
        }
    }
    for c in contacts {
        g.add_edge(node[&c.phase_a], node[&c.phase_b], c.clone());
    }
    g
}

/// Write phase contacts as CSV (`phase_a, phase_b, n_faces, faces_z, faces_y, faces_x,
/// area_<unit>, specific_area_<unit>`).
pub fn write_contacts_csv<W: std::io::Write>(
    contacts: &[PhaseContact],
    length_unit: &str,
    w: W,
) -> Result<(), csv::Error> {
    let mut wr = csv::Writer::from_writer(w);
    let su = if length_unit == "nm" {
        "per_um"
    } else {
        "per_voxel"
    };
    wr.write_record([
        "phase_a".to_string(),
        "phase_b".into(),
        "n_faces".into(),
        "faces_z".into(),
        "faces_y".into(),
        "faces_x".into(),
        format!("area_{length_unit}2"),
        format!("specific_area_{su}"),
    ])?;
    for c in contacts {
        wr.write_record([
            c.phase_a.to_string(),
            c.phase_b.to_string(),
            c.n_faces.to_string(),
            c.faces[0].to_string(),
            c.faces[1].to_string(),
            c.faces[2].to_string(),
            format!("{}", c.area),
            format!("{}", c.specific_area),
        ])?;
    }
    wr.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// Brute force: min over all background voxels.
    fn edt_naive(m: &Array3<bool>, sc: [f64; 3]) -> Array3<f64> {
        let mut out = Array3::<f64>::zeros(m.raw_dim());
        let bg: Vec<(usize, usize, usize)> = m
            .indexed_iter()
            .filter(|(_, &v)| !v)
            .map(|(i, _)| i)
            .collect();
        for ((z, y, x), &v) in m.indexed_iter() {
            if v {
                out[[z, y, x]] = bg
                    .iter()
                    .map(|&(a, b, c)| {
                        let d = [
                            (a as f64 - z as f64) * sc[0],
                            (b as f64 - y as f64) * sc[1],
                            (c as f64 - x as f64) * sc[2],
                        ];
                        (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
                    })
                    .fold(f64::INFINITY, f64::min);
            }
        }
        out
    }

    #[test]
    fn edt_equals_brute_force_on_random_anisotropic_volumes() {
        let mut rng = crate::rng::Rng::stream(7, 0);
        for case in 0..20 {
            let sh = (
                1 + (rng.next_u64() % 9) as usize,
                1 + (rng.next_u64() % 9) as usize,
                1 + (rng.next_u64() % 9) as usize,
            );
            let p = 0.5 + 0.45 * (case as f64 / 20.0);
            let m =
                Array3::from_shape_simple_fn(sh, || (rng.next_u64() % 1000) as f64 / 1000.0 < p);
            let sc = [1.0 + case as f64 * 0.3, 0.7, 2.5];
            let fast = crate::metrics::edt::edt(m.view(), sc).unwrap();
            let slow = edt_naive(&m, sc);
            for (a, b) in fast.iter().zip(slow.iter()) {
                if b.is_infinite() {
                    assert!(a.is_infinite());
                } else {
                    assert!((*a as f64 - b).abs() <= 1e-5 * b.max(1.0), "{a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn contacts_of_two_layers() {
        let mut l = Array3::<u8>::zeros((4, 3, 5));
        l.slice_mut(ndarray::s![2.., .., ..]).fill(7);
        let v = VoxelSize::new([2.0, 3.0, 5.0], crate::volume::VoxelSource::CommandLine);
        let c = phase_contacts(l.view(), &v).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].phase_a, c[0].phase_b), (0, 7));
        assert_eq!(c[0].faces, [15, 0, 0]);
        assert_eq!(c[0].area, 15.0 * 15.0);
        let g = contact_graph(&c);
        assert_eq!((g.node_count(), g.edge_count()), (2, 1));
    }
}
