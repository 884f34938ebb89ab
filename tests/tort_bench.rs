//! Slow benchmarks on the real volumes (run with `cargo test --release --test tort_bench -- --ignored --nocapture`).

use fibstack::metrics::tortuosity::steady_state::{tortuosity_fd, SteadyStateOptions};
use fibstack::progress::Silent;
use ndarray::Array3;

fn raw_env(var: &str, shape: (usize, usize, usize)) -> Option<Array3<u8>> {
    let p = std::env::var(var).ok()?;
    let v = std::fs::read(p).ok()?;
    Array3::from_shape_vec(shape, v).ok()
}

#[test]
#[ignore]
fn raw_fd_bench() {
    let Some(a) = raw_env("TORT_RAW500", (500, 500, 500)) else {
        eprintln!("skip: TORT_RAW500 not set");
        return;
    };
    let axes: Vec<usize> = std::env::var("TORT_AXES")
        .unwrap_or("1,2,0".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    for axis in axes {
        let r = tortuosity_fd(
            a.view(),
            255,
            [1.0; 3],
            axis,
            &SteadyStateOptions::default(),
            &Silent,
        )
        .unwrap();
        eprintln!("{}", serde_json::to_string(&r).unwrap());
    }
}
