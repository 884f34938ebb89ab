//! `examples/peer_kernels.rs` (the fibstack side of `benches/compare/run.sh`) against naive answers
//! on a tiny input: its `.npy` outputs must be readable and right, and its JSON must carry the time.
//! `cargo test` builds the examples next to the test binaries; when the example is absent (e.g.
//! `cargo test --test bench_harness` alone), the test says SKIP and passes.

use fibstack::rng::Rng;
use fibstack::volume::Connectivity;
use fibstack::volume::{GreyData, GreyVolume, VoxelSize};
use ndarray::Array3;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/twins.rs"]
mod twins;

fn example() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?; // target/<profile>/deps/.. -> target/<profile>
    let p = dir.join("examples").join("peer_kernels");
    p.exists().then_some(p)
}

fn run(bin: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("run peer_kernels");
    assert!(
        out.status.success(),
        "peer_kernels {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// `.npy` of little-endian u32, C order, as written by the example.
fn read_u32(p: &Path) -> (Vec<usize>, Vec<u32>) {
    let b = std::fs::read(p).expect("read");
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    let h = std::str::from_utf8(&b[10..10 + hl]).expect("ascii header");
    assert!(h.contains("'descr': '<u4'") && h.contains("'fortran_order': False"));
    assert_eq!((10 + hl) % 64, 0, "header padded to 64 bytes");
    let s = &h[h.find('(').expect("shape") + 1..h.find(')').expect("shape")];
    let shape: Vec<usize> = s
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse().expect("dim"))
        .collect();
    let data = b[10 + hl..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, data)
}

#[test]
fn peer_kernels_label26_and_edt_match_naive_answers() {
    let Some(bin) = example() else {
        println!(
            "SKIP: examples/peer_kernels not built (run `cargo test` without --test, or build it)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut r = Rng::new(7);
    let m = Array3::from_shape_simple_fn((6, 7, 9), || u8::from(r.uniform() < 0.1));
    let inp = dir.path().join("m.npy");
    fibstack::io::npy::write_npy(&inp, &GreyVolume::from_u8(m.clone(), VoxelSize::default()))
        .expect("write input");
    let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();

    // labelling: same partition as the naive flood fill
    let out = dir.path().join("l.npy");
    let j = run(&bin, &["label26", &s(&inp), &s(&out), "--reps", "2"]);
    assert!(j["seconds"].as_f64().expect("seconds") >= 0.0);
    assert_eq!(j["runs"].as_array().expect("runs").len(), 2);
    let (shape, got) = read_u32(&out);
    assert_eq!(shape, vec![6, 7, 9]);
    let want = twins::bfs_labels(&m.mapv(|v| v == 1), Connectivity::TwentySix);
    let n = *want.iter().max().expect("non-empty") as usize;
    assert!(n > 1, "the tiny mask should have several components");
    assert_eq!(j["components"].as_u64(), Some(n as u64));
    let mut map = vec![None; n + 1];
    for (g, w) in got.iter().zip(want.iter()) {
        assert_eq!(*g == 0, *w == 0, "background differs");
        match map[*w as usize] {
            None => map[*w as usize] = Some(*g),
            Some(prev) => assert_eq!(prev, *g, "one naive component split in two"),
        }
    }
    let mut used: Vec<u32> = map.iter().flatten().copied().collect();
    used.sort_unstable();
    used.dedup();
    assert_eq!(used.len(), n + 1, "two naive components merged");

    // EDT (anisotropic): brute force over all background voxels
    let out = dir.path().join("d.npy");
    run(
        &bin,
        &["edt", &s(&inp), &s(&out), "--voxel", "2,1,1", "--reps", "1"],
    );
    let d = match fibstack::io::read_volume(&out, &Default::default())
        .expect("read edt")
        .data
    {
        GreyData::F32(a) => a,
        _ => panic!("EDT output must be f32"),
    };
    let bg: Vec<(usize, usize, usize)> = ndarray::indices(m.dim())
        .into_iter()
        .filter(|&i| m[i] == 0)
        .collect();
    for (i, &v) in m.indexed_iter() {
        let want = if v == 0 {
            0.0
        } else {
            bg.iter()
                .map(|&(a, b, c)| {
                    let dz = 2.0 * (a as f64 - i.0 as f64);
                    let dy = b as f64 - i.1 as f64;
                    let dx = c as f64 - i.2 as f64;
                    (dz * dz + dy * dy + dx * dx).sqrt()
                })
                .fold(f64::INFINITY, f64::min)
        };
        assert!(
            (d[i] as f64 - want).abs() < 1e-5,
            "EDT at {i:?}: {} vs {want}",
            d[i]
        );
    }
}
