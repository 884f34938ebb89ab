//! Tortuosity on the real reference volumes in `../shared/data/volumes` (skipped with a message
//! when absent). Slow ones are `#[ignore]`d: run them with
//! `cargo test --release --test tort_real -- --ignored --nocapture`.

use fibstack::io::{read_labels, ReadOptions};
use fibstack::metrics::tortuosity::random_walk::{tortuosity_rw, RandomWalkOptions};
use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, SteadyStateOptions};
use fibstack::progress::Silent;
use fibstack::volume::LabelVolume;
use std::path::{Path, PathBuf};

fn data(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/volumes")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

fn electrode() -> Option<LabelVolume> {
    let p = data("taufactor_electrode_256.tiff")?;
    Some(read_labels(&p, &ReadOptions::default()).unwrap())
}

/// The TauFactor 500³ benchmark, unzipped (with the system `unzip`) into a temporary folder.
fn benchmark() -> Option<(tempfile::TempDir, LabelVolume)> {
    let z = data("taufactor_benchmark_500.tiff.zip")?;
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("unzip")
        .args(["-q", "-o"])
        .arg(&z)
        .args(["-x", "__MACOSX/*", "-d"])
        .arg(dir.path())
        .status();
    if !matches!(st, Ok(s) if s.success()) {
        eprintln!(
            "skipping: could not unzip {} (is `unzip` installed?)",
            z.display()
        );
        return None;
    }
    let tif = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tiff" || e == "tif"))?;
    let l = read_labels(&tif, &ReadOptions::default()).unwrap();
    Some((dir, l))
}

/// Pore phase (label 0) of the NMC electrode along axis 0: TauFactor 2.0776 (2.0772 tighter).
#[test]
fn electrode_pore_fd_axis0() {
    let Some(l) = electrode() else { return };
    assert_eq!(l.shape(), [256, 256, 256]);
    let r = tortuosity_fd(
        l.view(),
        0,
        [1.0; 3],
        0,
        &SteadyStateOptions::default(),
        &Silent,
    )
    .unwrap();
    let t = r.tortuosity_factor.unwrap();
    eprintln!(
        "electrode fd axis 0: tau {t:.5} iterations {:?} time {:.1} s",
        r.iterations, r.time_s
    );
    assert!((t / 2.0776 - 1.0).abs() < 0.005, "tau {t}");
    assert!((r.porosity_total - 0.449917).abs() < 1e-6);
    assert!(r.converged);
}

/// Random walk on the electrode pore phase along axis 0: within 2 % of 2.0776 and the interval
/// covers it.
#[test]
#[ignore]
fn electrode_pore_rw_axis0() {
    let Some(l) = electrode() else { return };
    let o = RandomWalkOptions {
        seed: 1,
        walkers: Some(200_000),
        ..Default::default()
    };
    let out = tortuosity_rw(l.view(), 0, [1.0; 3], &[0], &o, &Silent).unwrap();
    let r = &out.results[0];
    let t = r.tortuosity_factor.unwrap();
    eprintln!(
        "electrode rw axis 0: tau {t:.4} CI [{:.4}, {:.4}] walkers {:?} steps {:?} time {:.1} s converged {}",
        r.ci_low.unwrap(),
        r.ci_high.unwrap_or(f64::INFINITY),
        r.walkers,
        r.steps,
        r.time_s,
        r.converged
    );
    assert!((t / 2.0776 - 1.0).abs() < 0.02, "tau {t}");
    assert!(r.ci_low.unwrap() <= 2.0776 && 2.0776 <= r.ci_high.unwrap());
}

const BENCH: [(usize, f64); 3] = [(1, 1.1513), (2, 1.3905), (0, 4.2431)];

/// TauFactor 500³ benchmark, steady state, all three axes within 0.5 %.
#[test]
#[ignore]
fn taufactor_benchmark_fd() {
    let Some((_dir, l)) = benchmark() else { return };
    for (axis, want) in BENCH {
        let r = tortuosity_fd(
            l.view(),
            255,
            [1.0; 3],
            axis,
            &SteadyStateOptions::default(),
            &Silent,
        )
        .unwrap();
        let t = r.tortuosity_factor.unwrap();
        eprintln!(
            "benchmark fd axis {axis}: tau {t:.5} (ref {want}) iterations {:?} flux spread {:?} time {:.1} s",
            r.iterations, r.flux_variation, r.time_s
        );
        assert!((t / want - 1.0).abs() < 0.005);
    }
}

/// TauFactor 500³ benchmark, random walk, all three axes within 2 %.
#[test]
#[ignore]
fn taufactor_benchmark_rw() {
    let Some((_dir, l)) = benchmark() else { return };
    let o = RandomWalkOptions {
        seed: 2,
        walkers: Some(60_000),
        ..Default::default()
    };
    let out = tortuosity_rw(l.view(), 255, [1.0; 3], &[0, 1, 2], &o, &Silent).unwrap();
    let mut worst: f64 = 0.0;
    for (axis, want) in BENCH {
        let r = &out.results[[0, 1, 2].iter().position(|&a| a == axis).unwrap()];
        let t = r.tortuosity_factor.unwrap();
        eprintln!(
            "benchmark rw axis {axis}: tau {t:.4} CI [{:.4}, {:.4}] (ref {want}) walkers {:?} steps {:?} time {:.1} s converged {}",
            r.ci_low.unwrap(),
            r.ci_high.unwrap_or(f64::INFINITY),
            r.walkers,
            r.steps,
            r.time_s,
            r.converged
        );
        worst = worst.max((t / want - 1.0).abs());
    }
    assert!(worst < 0.02, "worst relative error {worst}");
}
