//! Indicative timing (ignored by default; no assertions on time):
//! `cargo test --test sizes_timing -- --ignored --nocapture` with FIBSTACK_SIZES_BENCH=path.npy
//! (e.g. the 200³ PoreSpy blobs volume written by benches/compare/sizes_bench.py).

use fibstack::metrics::edt::{edt_squared, phase_mask};
use fibstack::metrics::local_thickness::local_thickness_from_edt;
use std::time::Instant;

#[test]
#[ignore]
fn time_local_thickness() {
    let Ok(p) = std::env::var("FIBSTACK_SIZES_BENCH") else {
        println!("SKIP: set FIBSTACK_SIZES_BENCH to a label volume");
        return;
    };
    let l = fibstack::io::read_labels(std::path::Path::new(&p), &Default::default()).unwrap();
    let m = phase_mask(l.view(), 1);
    let v = [1.0; 3];
    let t = Instant::now();
    let d2 = edt_squared(m.view(), v).unwrap();
    let t_edt = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let map = local_thickness_from_edt(m.view(), d2.view(), v);
    let t_lt = t.elapsed().as_secs_f64();
    let n = m.iter().filter(|&&b| b).count();
    let mean: f64 = map
        .iter()
        .zip(m.iter())
        .filter(|(_, &b)| b)
        .map(|(&t, _)| t as f64)
        .sum::<f64>()
        / n as f64;
    println!("shape {:?}: EDT {t_edt:.2} s, local thickness (ridge + painting) {t_lt:.2} s, mean {mean:.3}", l.shape());
    let t = Instant::now();
    let s = fibstack::metrics::surface::surface_area(l.view(), 1, v).unwrap();
    println!(
        "surface (faces + crofton) {:.2} s: {:?}",
        t.elapsed().as_secs_f64(),
        (s.ssa_faces_per_m, s.ssa_crofton_per_m)
    );
    let t = Instant::now();
    let p = fibstack::metrics::particles::particles(l.view(), 1, v, &Default::default()).unwrap();
    println!(
        "particles {:.2} s: {} particles",
        t.elapsed().as_secs_f64(),
        p.summary.count
    );
}
