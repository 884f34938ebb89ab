//! The simulator scores the processing chain: drift estimated by `preprocess::align` on a rendered
//! stack is compared with the drift the simulator recorded.

use fibstack::preprocess::align::{estimate_drift_from, AlignParams};
use fibstack::progress::Silent;
use fibstack::rng::Rng;
use fibstack::synth::acquisition::{render, AcquisitionParams, TiltParams};
use fibstack::volume::{LabelVolume, VoxelSize, VoxelSource};
use ndarray::Array3;

/// z-invariant random disks kept 28 px away from the borders (so content never leaves the frame).
fn disks(nz: usize, n: usize) -> LabelVolume {
    let mut r = Rng::new(5);
    let c: Vec<(f64, f64, f64)> = (0..16)
        .map(|_| {
            (
                28.0 + r.uniform() * (n as f64 - 56.0),
                28.0 + r.uniform() * (n as f64 - 56.0),
                3.0 + 4.0 * r.uniform(),
            )
        })
        .collect();
    let a = Array3::from_shape_fn((nz, n, n), |(_, j, i)| {
        u8::from(
            c.iter()
                .any(|&(y, x, rad)| (j as f64 - y).powi(2) + (i as f64 - x).powi(2) <= rad * rad),
        )
    });
    LabelVolume::new(a, VoxelSize::new([20.0; 3], VoxelSource::CommandLine))
}

#[test]
fn align_recovers_the_simulated_drift() {
    let lab = disks(24, 96);
    let mut p = AcquisitionParams::clean();
    p.drift.enabled = true;
    p.drift.jump_probability = 0.1;
    p.drift.jump_sigma_px = 2.0;
    p.noise.enabled = true;
    p.bit_depth = 16;
    let r = render(&lab, &p, 8).unwrap();
    let est = estimate_drift_from(&r.grey.data, &AlignParams::default(), &Silent).unwrap();
    let t = &r.truth.total_shift_px;
    let mut worst: f64 = 0.0;
    for (k, s) in est.slices.iter().enumerate() {
        // cum shift registers slice k onto slice 0: the negative of the recorded displacement
        worst = worst
            .max((s.raw_cum_dy_px + (t[k][0] - t[0][0])).abs())
            .max((s.raw_cum_dx_px + (t[k][1] - t[0][1])).abs());
    }
    eprintln!("align (chain) vs simulated drift: max error {worst:.3} px over 24 noisy slices");
    assert!(worst < 0.3, "{worst}");
}

#[test]
fn drift_trend_gives_back_the_slice_thickness() {
    // face shift only: trend = dz·cos θ / pixel, so t ≈ slope·pixel / cos θ (methods §2)
    let lab = disks(24, 96);
    let mut p = AcquisitionParams::clean();
    p.tilt = Some(TiltParams::default());
    p.bit_depth = 16;
    let r = render(&lab, &p, 1).unwrap();
    let est = estimate_drift_from(&r.grey.data, &AlignParams::default(), &Silent).unwrap();
    let slope = est.trend_px_per_slice[0];
    let t = slope.abs() * r.truth.image_voxel_nm[1] / 52f64.to_radians().cos();
    eprintln!(
        "slice thickness from the drift trend: {t:.3} nm (true 20 nm), trend {slope:.4} px/slice"
    );
    assert!(
        slope > 0.0,
        "content moves up, so the correction moves it down"
    );
    assert!((t - 20.0).abs() < 0.4, "{t}");
}
