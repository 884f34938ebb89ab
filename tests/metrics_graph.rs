//! Pore-region graph: analytic pores (balls joined by a channel), invariants on random volumes,
//! phase contacts, degenerate volumes.

use fibstack::metrics::components::{label_components, Connectivity};
use fibstack::metrics::graph::{phase_contacts, pore_graph};
use fibstack::volume::{VoxelSize, VoxelSource};
use ndarray::{s, Array3};
use proptest::prelude::*;

fn cal(nm: [f64; 3]) -> VoxelSize {
    VoxelSize::new(nm, VoxelSource::CommandLine)
}

/// Pore (0) = two balls of radius 5 voxels centred at x = 8 and x = 24, joined by a 3×3 channel
/// along x; solid = 1.
fn dumbbell() -> Array3<u8> {
    Array3::from_shape_fn((17, 17, 33), |(z, y, x)| {
        let (z, y, x) = (z as f64, y as f64, x as f64);
        let b1 = (z - 8.0).powi(2) + (y - 8.0).powi(2) + (x - 8.0).powi(2) <= 25.0;
        let b2 = (z - 8.0).powi(2) + (y - 8.0).powi(2) + (x - 24.0).powi(2) <= 25.0;
        let ch = (7.0..=9.0).contains(&z) && (7.0..=9.0).contains(&y) && (8.0..=24.0).contains(&x);
        if b1 || b2 || ch {
            0
        } else {
            1
        }
    })
}

#[test]
fn dumbbell_gives_two_regions_and_one_throat() {
    let l = dumbbell();
    let v = cal([2.0, 3.0, 5.0]);
    // isotropic voxels for the geometry, anisotropic below
    let g = pore_graph(l.view(), 0, &cal([1.0, 1.0, 1.0])).unwrap();
    assert_eq!(g.summary.n_regions, 2);
    assert_eq!(g.summary.n_throats, 1);
    let n: Vec<_> = g.graph.node_weights().collect();
    assert!((n[0].centroid[2] - 8.5).abs() < 1.5, "{:?}", n[0].centroid);
    assert!((n[1].centroid[2] - 24.5).abs() < 1.5, "{:?}", n[1].centroid);
    for r in &n {
        // inscribed radius of the ball x^2 <= 25: nearest outside voxel centre at sqrt(26)
        assert_eq!(r.inscribed_radius, Some(26f32.sqrt() as f64));
        assert_eq!(r.coordination, 1);
    }
    let t = g.graph.edge_weights().next().unwrap();
    // the channel is cut across: 9 faces perpendicular to x
    assert_eq!(t.faces, [0, 0, 9]);
    assert_eq!(t.area, 9.0);
    let pore: u64 = l.iter().filter(|&&v| v == 0).count() as u64;
    assert_eq!(n.iter().map(|r| r.voxels).sum::<u64>(), pore);
    // anisotropic voxels: x faces have area dz*dy = 6 nm^2
    let g = pore_graph(l.view(), 0, &v).unwrap();
    assert_eq!(g.summary.n_regions, 2);
    let t = g.graph.edge_weights().next().unwrap();
    assert_eq!(
        t.area,
        t.faces[0] as f64 * 15.0 + t.faces[1] as f64 * 10.0 + t.faces[2] as f64 * 6.0
    );
    assert_eq!(g.summary.area_unit, "nm^2");
    let mut nodes = Vec::new();
    g.write_nodes_csv(&mut nodes).unwrap();
    let nodes = String::from_utf8(nodes).unwrap();
    assert!(nodes.starts_with("region,voxels,volume_nm3,centroid_z_nm,"));
    assert_eq!(nodes.lines().count(), 3);
    let mut edges = Vec::new();
    g.write_edges_csv(&mut edges).unwrap();
    let edges = String::from_utf8(edges).unwrap();
    assert!(edges.starts_with("region_a,region_b,n_faces,faces_z,faces_y,faces_x,area_nm2,"));
    assert_eq!(edges.lines().count(), 2);
}

#[test]
fn separate_balls_have_no_throat_and_ball_centroid_is_exact() {
    let l = Array3::from_shape_fn((15, 15, 31), |(z, y, x)| {
        let d1 = (z as f64 - 7.0).powi(2) + (y as f64 - 7.0).powi(2) + (x as f64 - 7.0).powi(2);
        let d2 = (z as f64 - 7.0).powi(2) + (y as f64 - 7.0).powi(2) + (x as f64 - 22.0).powi(2);
        (d1 > 16.0 && d2 > 16.0) as u8
    });
    let v = cal([10.0, 10.0, 10.0]);
    let g = pore_graph(l.view(), 0, &v).unwrap();
    assert_eq!(g.summary.n_regions, 2);
    assert_eq!(g.summary.n_throats, 0);
    let n: Vec<_> = g.graph.node_weights().collect();
    assert_eq!(n[0].centroid, [75.0, 75.0, 75.0]);
    assert_eq!(n[1].centroid, [75.0, 75.0, 225.0]);
    assert_eq!(n[0].inscribed_radius, Some((17f32.sqrt() * 10.0) as f64));
}

#[test]
fn degenerate_volumes() {
    let v = cal([1.0; 3]);
    // phase absent
    let l = Array3::<u8>::ones((3, 4, 5));
    let g = pore_graph(l.view(), 0, &v).unwrap();
    assert_eq!((g.summary.n_regions, g.summary.n_throats), (0, 0));
    assert_eq!(g.summary.mean_coordination, 0.0);
    assert!(g.summary.note.unwrap().contains("absent"));
    // phase fills the volume: one region, radius undefined (None, not NaN / inf)
    let g = pore_graph(l.view(), 1, &v).unwrap();
    assert_eq!(g.summary.n_regions, 1);
    assert_eq!(
        g.graph.node_weights().next().unwrap().inscribed_radius,
        None
    );
    let js = serde_json::to_string(&g.summary).unwrap();
    assert!(!js.contains("NaN") && !js.contains("inf"));
    // one voxel thick
    let mut t = Array3::<u8>::zeros((1, 9, 9));
    t[[0, 4, 4]] = 1;
    let g = pore_graph(t.view(), 0, &v).unwrap();
    assert!(g.summary.n_regions >= 1);
    assert_eq!(g.graph.node_weights().map(|r| r.voxels).sum::<u64>(), 80);
    // contacts
    let c = phase_contacts(t.view(), &v).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].n_faces, 4);
    assert!(phase_contacts(Array3::<u8>::zeros((0, 1, 1)).view(), &v).is_err());
}

fn volume_strategy() -> impl Strategy<Value = Array3<u8>> {
    (1usize..10, 1usize..10, 1usize..10, 0.3f64..0.9).prop_flat_map(|(z, y, x, p)| {
        proptest::collection::vec(proptest::bool::weighted(p), z * y * x).prop_map(move |v| {
            Array3::from_shape_vec((z, y, x), v.into_iter().map(|b| (!b) as u8).collect()).unwrap()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Regions partition the phase, each region is face-connected, and throat face counts equal a
    /// naive count of face pairs between different regions.
    #[test]
    fn regions_partition_phase_and_throats_count_faces(l in volume_strategy()) {
        let g = pore_graph(l.view(), 0, &cal([1.5, 1.0, 2.0])).unwrap();
        let r = &g.regions;
        for (a, b) in l.iter().zip(r.iter()) {
            prop_assert_eq!(*a == 0, *b != 0);
        }
        let nr = g.summary.n_regions;
        prop_assert_eq!(g.graph.node_count(), nr);
        for k in 1..=nr as u32 {
            let m = r.mapv(|v| v == k);
            let c = label_components(m.view(), Connectivity::Six).unwrap();
            prop_assert_eq!(c.count(), 1, "region {} is not face-connected", k);
            prop_assert_eq!(g.graph[petgraph::graph::NodeIndex::new(k as usize - 1)].voxels, c.sizes[0]);
        }
        let mut naive = std::collections::BTreeMap::new();
        let sh = r.shape();
        for ((z, y, x), &a) in r.indexed_iter() {
            if a == 0 { continue; }
            for (ax, (z2, y2, x2)) in [(0usize, (z + 1, y, x)), (1, (z, y + 1, x)), (2, (z, y, x + 1))] {
                if z2 >= sh[0] || y2 >= sh[1] || x2 >= sh[2] { continue; }
                let b = r[[z2, y2, x2]];
                if b != 0 && b != a {
                    naive.entry((a.min(b), a.max(b))).or_insert([0u64; 3])[ax] += 1;
                }
            }
        }
        prop_assert_eq!(g.graph.edge_count(), naive.len());
        for t in g.graph.edge_weights() {
            prop_assert_eq!(naive[&(t.region_a, t.region_b)], t.faces);
            let area = t.faces[0] as f64 * 2.0 + t.faces[1] as f64 * 3.0 + t.faces[2] as f64 * 1.5;
            prop_assert!((t.area - area).abs() < 1e-9);
        }
    }
}

#[test]
fn contacts_of_three_phase_layers_with_anisotropic_faces() {
    // z layers 0 | 1 | 2, plus a column of 2 through the 0 layer along z
    let mut l = Array3::<u8>::zeros((6, 4, 4));
    l.slice_mut(s![2..4, .., ..]).fill(1);
    l.slice_mut(s![4.., .., ..]).fill(2);
    let v = cal([2.0, 3.0, 5.0]);
    let c = phase_contacts(l.view(), &v).unwrap();
    let pairs: Vec<(u8, u8)> = c.iter().map(|c| (c.phase_a, c.phase_b)).collect();
    assert_eq!(pairs, vec![(0, 1), (1, 2)]);
    for x in &c {
        assert_eq!(x.faces, [16, 0, 0]);
        assert_eq!(x.area, 16.0 * 15.0);
        // 240 nm^2 over 6*4*4*30 nm^3 = 2880 nm^3 -> 1/12 nm^-1 = 83.33 um^-1
        assert!((x.specific_area - 1000.0 / 12.0).abs() < 1e-9);
        assert_eq!(x.specific_area_unit, "um^-1");
    }
}
