//! Components, percolation and Euler characteristic: peer values (scipy / scikit-image), a slow
//! flood-fill twin, and analytic shapes.

use fibstack::metrics::components::{label_components, Connectivity};
use fibstack::metrics::connectivity::analyze;
use fibstack::metrics::euler::{euler, euler_counts};
use fibstack::metrics::porosity::Axis;
use fibstack::volume::{VoxelSize, VoxelSource};
use ndarray::{s, Array3};
use proptest::prelude::*;
use twins::bfs_labels;

#[path = "support/twins.rs"]
mod twins;

const CONNS: [Connectivity; 3] = [
    Connectivity::Six,
    Connectivity::Eighteen,
    Connectivity::TwentySix,
];

fn volume_strategy() -> impl Strategy<Value = Array3<bool>> {
    (1usize..24, 1usize..8, 1usize..8, 0.1f64..0.8).prop_flat_map(|(z, y, x, p)| {
        proptest::collection::vec(proptest::bool::weighted(p), z * y * x)
            .prop_map(move |v| Array3::from_shape_vec((z, y, x), v).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn labels_equal_flood_fill_twin(m in volume_strategy()) {
        for conn in CONNS {
            let c = label_components(m.view(), conn).unwrap();
            let r = bfs_labels(&m, conn);
            prop_assert_eq!(&c.labels, &r);
            let n = r.iter().cloned().max().unwrap_or(0) as usize;
            prop_assert_eq!(c.count(), n);
            for k in 0..n {
                let cnt = r.iter().filter(|&&l| l as usize == k + 1).count() as u64;
                prop_assert_eq!(c.sizes[k], cnt);
            }
        }
    }

    /// Long rows with long runs (the run finder skips 8-voxel words; rows of up to 70 voxels and
    /// densities near 0 and 1 exercise the word skips, run ends at word edges and row ends), and
    /// the labels are the same on 1, 2 and 3 threads.
    #[test]
    fn run_labelling_equals_flood_fill_twin_on_long_rows(
        (nz, ny, nx) in (1usize..12, 1usize..5, 1usize..70),
        p in prop_oneof![0.02f64..0.2, 0.3f64..0.7, 0.8f64..0.98],
        seed in any::<u64>(),
    ) {
        let mut rng = fibstack::rng::Rng::stream(seed, 0);
        // runs: keep the previous voxel's state with probability 0.9 for long runs
        let mut prev = false;
        let m = Array3::from_shape_fn((nz, ny, nx), |_| {
            let u = rng.uniform();
            prev = if u < 0.9 { prev } else { rng.uniform() < p };
            prev
        });
        for conn in CONNS {
            let r = bfs_labels(&m, conn);
            for threads in [1, 2, 3] {
                let c = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| label_components(m.view(), conn).unwrap());
                prop_assert_eq!(&c.labels, &r, "{:?} on {} threads", conn, threads);
                let n = r.iter().cloned().max().unwrap_or(0) as usize;
                prop_assert_eq!(c.count(), n);
                let total: u64 = c.sizes.iter().sum();
                prop_assert_eq!(total, m.iter().filter(|&&b| b).count() as u64);
            }
        }
    }

    /// Separate solid boxes: χ = number of boxes.
    #[test]
    fn euler_of_disjoint_boxes_is_their_count(k in 1usize..5) {
        let mut m = Array3::from_elem((6, 6, 4 * k + 1), false);
        for i in 0..k {
            m.slice_mut(s![1..4, 2..5, 4 * i + 1..4 * i + 3]).fill(true);
        }
        prop_assert_eq!(euler_counts(m.view()).0, k as i64);
    }
}

#[derive(serde::Deserialize)]
struct PeerCase {
    shape: [usize; 3],
    mask: String,
    labels: std::collections::HashMap<String, Vec<u32>>,
    n: std::collections::HashMap<String, usize>,
    euler26: i64,
}

#[derive(serde::Deserialize)]
struct Peer {
    cases: Vec<PeerCase>,
}

fn peer() -> Peer {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/peer/metrics_label.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn labels_equal_scipy_ndimage_label_exactly() {
    for case in peer().cases {
        let m = Array3::from_shape_vec(case.shape, case.mask.bytes().map(|b| b == b'1').collect())
            .unwrap();
        for conn in CONNS {
            let key = conn.n().to_string();
            let c = label_components(m.view(), conn).unwrap();
            assert_eq!(c.count(), case.n[&key], "shape {:?} conn {key}", case.shape);
            assert_eq!(
                c.labels.iter().cloned().collect::<Vec<u32>>(),
                case.labels[&key],
                "shape {:?} conn {key}",
                case.shape
            );
        }
    }
}

#[test]
fn euler_equals_skimage_euler_number() {
    for case in peer().cases {
        let m = Array3::from_shape_vec(case.shape, case.mask.bytes().map(|b| b == b'1').collect())
            .unwrap();
        assert_eq!(
            euler_counts(m.view()).0,
            case.euler26,
            "shape {:?}",
            case.shape
        );
    }
}

#[test]
fn euler_of_analytic_shapes() {
    // solid cube
    let mut m = Array3::from_elem((10, 10, 10), false);
    m.slice_mut(s![2..8, 2..8, 2..8]).fill(true);
    assert_eq!(euler_counts(m.view()).0, 1);
    // hollow cube shell (one enclosed cavity): chi = 2
    m.slice_mut(s![4..6, 4..6, 4..6]).fill(false);
    assert_eq!(euler_counts(m.view()).0, 2);
    // square torus (ring with a hole through it): chi = 0
    let mut t = Array3::from_elem((5, 9, 9), false);
    t.slice_mut(s![1..4, 1..8, 1..8]).fill(true);
    t.slice_mut(s![.., 3..6, 3..6]).fill(false);
    assert_eq!(euler_counts(t.view()).0, 0);
    // two tunnels: chi = -1
    let mut t2 = Array3::from_elem((5, 9, 13), false);
    t2.slice_mut(s![1..4, 1..8, 1..12]).fill(true);
    t2.slice_mut(s![.., 3..6, 3..5]).fill(false);
    t2.slice_mut(s![.., 3..6, 8..10]).fill(false);
    assert_eq!(euler_counts(t2.view()).0, -1);
    // two cubes touching at one corner: one 26-component, chi = 1
    let mut c = Array3::from_elem((4, 4, 4), false);
    c[[1, 1, 1]] = true;
    c[[2, 2, 2]] = true;
    assert_eq!(euler_counts(c.view()).0, 1);
}

#[test]
fn edge_corrected_delta_chi_of_homogeneous_structures_is_zero() {
    let full = Array3::from_elem((5, 6, 7), true);
    assert_eq!(euler_counts(full.view()).1, 0.0);
    let mut sheet = Array3::from_elem((6, 7, 8), false);
    sheet.slice_mut(s![2, .., ..]).fill(true);
    assert_eq!(euler_counts(sheet.view()), (1, 0.0));
    let mut rods = Array3::from_elem((6, 9, 9), false);
    rods.slice_mut(s![.., 2, 2]).fill(true);
    rods.slice_mut(s![.., 6, 5]).fill(true);
    assert_eq!(euler_counts(rods.view()), (2, 0.0));
    // a closed object inside the box is not touched by the correction
    let mut m = Array3::from_elem((6, 6, 6), false);
    m.slice_mut(s![1..5, 1..5, 1..5]).fill(true);
    assert_eq!(euler_counts(m.view()), (1, 1.0));
}

#[test]
fn connectivity_density_units() {
    let mut l = Array3::<u8>::ones((10, 10, 10));
    l.slice_mut(s![.., 4, 4]).fill(0);
    let v = VoxelSize::new([100.0, 100.0, 100.0], VoxelSource::CommandLine);
    let e = euler(l.view(), 0, &v).unwrap();
    // one rod through a 1 um^3 box: delta chi 0, beta1 = 1, density 1 um^-3
    assert_eq!(e.delta_chi, 0.0);
    assert!((e.connectivity_density - 1.0).abs() < 1e-12);
    assert_eq!(e.connectivity_density_unit, "um^-3");
    let e = euler(l.view(), 0, &VoxelSize::default()).unwrap();
    assert_eq!(e.connectivity_density_unit, "voxel^-3");
    assert!((e.connectivity_density - 1e-3).abs() < 1e-15);
}

#[test]
fn straight_channels_percolate_along_not_across() {
    // solid (1) with straight pore channels (0) along z, away from the x/y faces
    let mut l = Array3::<u8>::ones((12, 10, 11));
    for (y, x) in [(2, 2), (2, 7), (6, 4)] {
        l.slice_mut(s![.., y, x]).fill(0);
    }
    let (r, c) = analyze(
        l.view(),
        0,
        Connectivity::Six,
        &Axis::ALL,
        &VoxelSize::default(),
    )
    .unwrap();
    assert_eq!(c.count(), 3);
    let z = &r.axes[0];
    assert!(z.percolates);
    assert_eq!(z.n_percolating_components, 3);
    assert_eq!(z.percolating_fraction, 1.0);
    for a in &r.axes[1..] {
        assert!(!a.percolates);
        assert_eq!(a.isolated_fraction, 1.0);
    }
    // a half channel is dead-end along z
    l.slice_mut(s![6.., 2, 2]).fill(1);
    let (r, _) = analyze(
        l.view(),
        0,
        Connectivity::Six,
        &[Axis::Z],
        &VoxelSize::default(),
    )
    .unwrap();
    let z = &r.axes[0];
    assert_eq!(z.dead_end_voxels, 6);
    assert_eq!(z.percolating_voxels, 24);
    assert!(
        (z.percolating_fraction + z.dead_end_fraction + z.isolated_fraction - 1.0).abs() < 1e-12
    );
    assert!((z.percolating_volume_fraction - 24.0 / 1320.0).abs() < 1e-12);
}

#[test]
fn diagonal_channel_percolates_only_with_26_connectivity() {
    let mut l = Array3::<u8>::ones((8, 8, 8));
    for i in 0..8 {
        l[[i, i, i]] = 0;
    }
    for (conn, perc) in [
        (Connectivity::Six, false),
        (Connectivity::Eighteen, false),
        (Connectivity::TwentySix, true),
    ] {
        let (r, _) = analyze(l.view(), 0, conn, &[Axis::Z], &VoxelSize::default()).unwrap();
        assert_eq!(r.axes[0].percolates, perc, "{conn:?}");
    }
}

#[test]
fn degenerate_volumes_give_defined_results() {
    let v = VoxelSize::new([5.0, 5.0, 5.0], VoxelSource::CommandLine);
    // phase absent
    let l = Array3::<u8>::ones((4, 5, 6));
    let (r, _) = analyze(l.view(), 0, Connectivity::TwentySix, &Axis::ALL, &v).unwrap();
    assert_eq!(r.n_components, 0);
    assert_eq!(r.largest_component_fraction, 0.0);
    assert!(r.note.as_deref().unwrap().contains("absent"));
    for a in &r.axes {
        assert!(!a.percolates);
        assert_eq!(a.percolating_fraction, 0.0);
    }
    assert_eq!(r.euler.euler_characteristic, 0);
    assert!(r.euler.connectivity_density.is_finite());
    // all phase
    let (r, _) = analyze(l.view(), 1, Connectivity::Six, &Axis::ALL, &v).unwrap();
    assert_eq!(r.n_components, 1);
    assert!(r
        .axes
        .iter()
        .all(|a| a.percolates && a.percolating_fraction == 1.0));
    assert_eq!(r.euler.euler_characteristic, 1);
    assert_eq!(r.euler.delta_chi, 0.0);
    // one voxel thick along z: both z faces are the same plane
    let mut t = Array3::<u8>::zeros((1, 6, 6));
    t[[0, 3, 3]] = 1;
    let (r, _) = analyze(t.view(), 1, Connectivity::Six, &Axis::ALL, &v).unwrap();
    assert!(r.axes[0].percolates);
    assert!(!r.axes[1].percolates && !r.axes[2].percolates);
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("NaN"));
    // empty volume is a clear error
    let e = Array3::<u8>::zeros((0, 3, 3));
    assert!(analyze(e.view(), 0, Connectivity::Six, &Axis::ALL, &v).is_err());
}

#[test]
fn labels_do_not_depend_on_thread_count() {
    let m = Array3::from_shape_fn((61, 17, 19), |(z, y, x)| {
        (z * 31 + y * 17 + x * 7 + (z * y * x) % 5) % 3 != 0
    });
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| label_components(m.view(), Connectivity::Eighteen).unwrap())
    };
    let one = run(1);
    let reference = bfs_labels(&m, Connectivity::Eighteen);
    assert_eq!(one.labels, reference);
    for t in [2, 3, 7] {
        assert_eq!(run(t), one, "{t} threads");
    }
}

/// `components_report` (the equal-work mode of `fibstack connectivity --components-only`) gives
/// exactly the components and percolation fields of the full analysis.
#[test]
fn components_only_equals_the_full_analysis_fields() {
    use fibstack::metrics::connectivity::{components_report, ConnectivityOptions};
    let mut rng = fibstack::rng::Rng::new(21);
    let v = VoxelSize::new([5.0, 4.0, 3.0], VoxelSource::CommandLine);
    for frac in [0.2, 0.35, 0.6] {
        let l = Array3::from_shape_fn((17, 23, 19), |_| (rng.uniform() < frac) as u8);
        for conn in [
            Connectivity::Six,
            Connectivity::Eighteen,
            Connectivity::TwentySix,
        ] {
            let (full, _) = analyze(l.view(), 1, conn, &Axis::ALL, &v).unwrap();
            let o = ConnectivityOptions {
                phase: 1,
                connectivity: conn,
                axes: Axis::ALL.to_vec(),
                graph: false,
                components_only: true,
            };
            let c = components_report(l.view(), &v, &o).unwrap();
            assert_eq!(c.n_components, full.n_components);
            assert_eq!(c.phase_voxels, full.phase_voxels);
            assert_eq!(c.largest_component_voxels, full.largest_component_voxels);
            assert_eq!(
                c.largest_component_fraction,
                full.largest_component_fraction
            );
            assert_eq!(c.phase_volume, full.phase_volume);
            assert_eq!(c.axes, full.axes);
            assert_eq!(c.note, full.note);
            // the graph needs the full analysis
            let bad = ConnectivityOptions { graph: true, ..o };
            assert!(components_report(l.view(), &v, &bad).is_err());
        }
    }
}
