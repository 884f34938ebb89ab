//! Connectivity of the TauFactor NMC electrode against scipy.ndimage.label / skimage peer values
//! (`benches/compare/metrics_electrode.py` → `fixtures/peer/metrics_electrode.json`).

use fibstack::metrics::components::Connectivity;
use fibstack::metrics::connectivity::analyze;
use fibstack::metrics::porosity::Axis;
use fibstack::volume::VoxelSize;
use twins::read_tiff_u8;

#[path = "support/twins.rs"]
mod twins;

#[test]
fn electrode_components_percolation_and_euler_match_scipy_skimage() {
    let Some(a) = read_tiff_u8("../shared/data/volumes/taufactor_electrode_256.tiff") else {
        return;
    };
    let peer: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/peer/metrics_electrode.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for phase in [0u8, 170] {
        let pp = &peer["phases"][phase.to_string()];
        for conn in [Connectivity::Six, Connectivity::TwentySix] {
            let t = std::time::Instant::now();
            let (r, _) = analyze(a.view(), phase, conn, &Axis::ALL, &VoxelSize::default()).unwrap();
            eprintln!(
                "phase {phase} conn {}: analyze {:.2?}",
                conn.n(),
                t.elapsed()
            );
            let pc = &pp[conn.n().to_string()];
            assert_eq!(r.phase_voxels, pp["voxels"].as_u64().unwrap());
            assert_eq!(r.n_components as u64, pc["n"].as_u64().unwrap());
            assert_eq!(r.largest_component_voxels, pc["largest"].as_u64().unwrap());
            for ax in &r.axes {
                let pa = &pc["axes"][ax.axis.name()];
                assert_eq!(ax.percolating_voxels, pa["percolating"].as_u64().unwrap());
                assert_eq!(ax.dead_end_voxels, pa["dead_end"].as_u64().unwrap());
                assert_eq!(ax.isolated_voxels, pa["isolated"].as_u64().unwrap());
            }
            assert_eq!(
                r.euler.euler_characteristic,
                pp["euler26"].as_i64().unwrap()
            );
        }
    }
}
