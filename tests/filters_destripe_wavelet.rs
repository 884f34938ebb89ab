//! Wavelet–FFT destriping (Münch et al. 2009) and its Daubechies DWT against known answers:
//! - filter identities (Σh = √2, orthonormal even shifts, vanishing moments of g);
//! - DWT → IDWT perfect reconstruction on random images of odd and even sizes;
//! - PyWavelets `wavedec2(mode="periodization")` coefficients and an independent pywt + numpy
//!   implementation of the whole filter (`fixtures/peer/wavelet_pywt.json`, made by
//!   `benches/compare/wavelet_pywt.py`);
//! - a vertical stripe image puts all its detail energy into the `cv` band;
//! - the issue-4 acceptance metrics on the same simulated slices and real nacre image as the
//!   wedge tests, with a side-by-side table wedge vs wavelet.

#[path = "support/destripe_metrics.rs"]
mod metrics;
use fibstack::preprocess::destripe::{
    destripe_2d, destripe_volume, DestripeMethod, DestripeParams, DestripePlan,
};
use fibstack::preprocess::wavelet::{dwt1, dwt2, idwt1, idwt2, wavedec2, waverec2, Wavelet};
use fibstack::rng::Rng;
use fibstack::volume::{GreyData, GreyVolume, VoxelSize};
use metrics::*;
use ndarray::{Array2, Array3, Axis};

/// The adaptive FFT wedge on the whole slice (the comparison these tests make).
fn wedge_params() -> DestripeParams {
    DestripeParams {
        method: DestripeMethod::Wedge,
        material_aware: false,
        ..Default::default()
    }
}

fn wavelet_params() -> DestripeParams {
    DestripeParams {
        method: DestripeMethod::Wavelet,
        material_aware: false,
        ..Default::default()
    }
}

#[test]
fn filter_coefficients_satisfy_orthogonality_and_moment_rules() {
    for w in Wavelet::ALL {
        let h = w.rec_lo();
        let g = w.rec_hi();
        let l = h.len();
        let n_mom = l / 2;
        assert!((h.iter().sum::<f64>() - std::f64::consts::SQRT_2).abs() < 1e-12);
        assert!(g.iter().sum::<f64>().abs() < 1e-12);
        // Σ h[k] h[k + 2m] = δ_m, Σ h[k] g[k + 2m] = 0
        for m in 0..n_mom {
            let hh: f64 = (0..l - 2 * m).map(|k| h[k] * h[k + 2 * m]).sum();
            let gg: f64 = (0..l - 2 * m).map(|k| g[k] * g[k + 2 * m]).sum();
            assert!(
                (hh - if m == 0 { 1.0 } else { 0.0 }).abs() < 1e-10,
                "{w:?} m={m}"
            );
            assert!(
                (gg - if m == 0 { 1.0 } else { 0.0 }).abs() < 1e-10,
                "{w:?} m={m}"
            );
        }
        for m in -(n_mom as i64)..=(n_mom as i64) {
            let hg: f64 = (0..l as i64)
                .filter(|k| (0..l as i64).contains(&(k + 2 * m)))
                .map(|k| h[k as usize] * g[(k + 2 * m) as usize])
                .sum();
            assert!(hg.abs() < 1e-10, "{w:?} h⊥g shift {m}: {hg}");
        }
        // dbN: the wavelet has N vanishing moments (Σ k^p g[k] = 0, p < N), relative to scale
        for p in 0..n_mom as i32 {
            let mom: f64 = g
                .iter()
                .enumerate()
                .map(|(k, v)| (k as f64).powi(p) * v)
                .sum();
            let scale: f64 = g
                .iter()
                .enumerate()
                .map(|(k, v)| (k as f64).powi(p) * v.abs())
                .sum();
            assert!(mom.abs() < 1e-9 * scale.max(1.0), "{w:?} moment {p}: {mom}");
        }
    }
    // Haar by hand: a = (x0 + x1)/√2, d from g = (1/√2, −1/√2)
    let (a, d) = dwt1(&[3.0, 1.0, 5.0, 9.0], Wavelet::Db1);
    let r = std::f32::consts::FRAC_1_SQRT_2;
    assert!((a[0] - 4.0 * r).abs() < 1e-6 && (a[1] - 14.0 * r).abs() < 1e-6);
    assert!((d[0] - 2.0 * r).abs() < 1e-6 && (d[1] + 4.0 * r).abs() < 1e-6);
}

#[test]
fn perfect_reconstruction_odd_and_even_sizes() {
    let mut rng = Rng::stream(77, 0);
    for w in Wavelet::ALL {
        for n in [1usize, 2, 3, 7, 8, 33, 64] {
            let x: Vec<f32> = (0..n).map(|_| rng.normal() as f32 * 50.0).collect();
            let (a, d) = dwt1(&x, w);
            assert_eq!(a.len(), n.div_ceil(2));
            // orthogonal: energy kept for even lengths
            if n % 2 == 0 {
                let e0: f32 = x.iter().map(|v| v * v).sum();
                let e1: f32 = a.iter().chain(&d).map(|v| v * v).sum();
                assert!((e0 - e1).abs() <= 1e-4 * e0, "{w:?} n={n}");
            }
            let y = idwt1(&a, &d, w, n);
            let worst = x
                .iter()
                .zip(&y)
                .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(worst < 1e-4, "{w:?} n={n}: {worst}");
        }
        for (ny, nx, levels) in [(64, 64, 3), (65, 47, 3), (31, 128, 2), (100, 99, 4)] {
            let img = Array2::from_shape_fn((ny, nx), |_| 100.0 + 40.0 * rng.normal() as f32);
            let one = idwt2(&dwt2(img.view(), w), w);
            let rec = waverec2(wavedec2(img.view(), w, levels), w);
            for r in [&one, &rec] {
                assert_eq!(r.dim(), (ny, nx));
                let worst = img
                    .iter()
                    .zip(r.iter())
                    .fold(0f32, |m, (p, q)| m.max((p - q).abs() / 100.0));
                assert!(worst < 1e-5, "{w:?} {ny}x{nx}: relative error {worst}");
            }
        }
    }
}

fn peer() -> serde_json::Value {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/peer/wavelet_pywt.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The formula of `benches/compare/wavelet_pywt.py::image` (computed in f64, stored as f32).
fn peer_image(ny: usize, nx: usize) -> Array2<f32> {
    Array2::from_shape_fn((ny, nx), |(y, x)| {
        let (yf, xf) = (y as f64, x as f64);
        let mut v = 100.0
            + 30.0 * (0.37 * xf + 0.11 * yf).sin()
            + 20.0 * (0.23 * yf * yf / (ny as f64 + 1.0)).cos()
            + 0.5 * xf
            - 0.3 * yf;
        if (x * 7) % 5 == 0 {
            v += 15.0;
        }
        v as f32
    })
}

fn close_to(name: &str, got: &Array2<f32>, want: &serde_json::Value, shape: &serde_json::Value) {
    let shape: Vec<usize> = shape
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(got.dim(), (shape[0], shape[1]), "{name} shape");
    let want: Vec<f64> = want
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let worst = got
        .iter()
        .zip(&want)
        .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
    assert!(worst < 2e-3, "{name}: max |diff| {worst}");
}

#[test]
fn dwt_equals_pywavelets_periodization() {
    let p = peer();
    for case in p["dwt"].as_array().unwrap() {
        let w = Wavelet::parse(case["wavelet"].as_str().unwrap()).unwrap();
        let ny = case["ny"].as_u64().unwrap() as usize;
        let nx = case["nx"].as_u64().unwrap() as usize;
        let levels = case["levels"].as_u64().unwrap() as usize;
        let img = peer_image(ny, nx);
        let dec = wavedec2(img.view(), w, levels);
        for (l, (c, d)) in dec
            .iter()
            .zip(case["details"].as_array().unwrap())
            .enumerate()
        {
            let tag = format!("{} {ny}x{nx} level {}", w.name(), l + 1);
            close_to(&format!("{tag} cH"), &c.ch, &d["ch"], &d["shape"]);
            close_to(&format!("{tag} cV"), &c.cv, &d["cv"], &d["shape"]);
            close_to(&format!("{tag} cD"), &c.cd, &d["cd"], &d["shape"]);
        }
        let a = &case["approx"];
        close_to("approx", &dec.last().unwrap().ca, &a["data"], &a["shape"]);
        println!("pywt {} {ny}x{nx} L={levels}: equal", w.name());
    }
}

#[test]
fn destripe_equals_independent_pywt_numpy_implementation() {
    let p = peer();
    for case in p["destripe"].as_array().unwrap() {
        let ny = case["ny"].as_u64().unwrap() as usize;
        let nx = case["nx"].as_u64().unwrap() as usize;
        let params = DestripeParams {
            method: DestripeMethod::Wavelet,
            wavelet: Wavelet::parse(case["wavelet"].as_str().unwrap()).unwrap(),
            wavelet_levels: case["levels"].as_u64().unwrap() as usize,
            wavelet_sigma: case["sigma"].as_f64().unwrap(),
            ..wavelet_params()
        };
        let (out, _) = destripe_2d(peer_image(ny, nx).view(), &params).unwrap();
        close_to("destripe", &out, &case["out"], &serde_json::json!([ny, nx]));
    }
}

#[test]
fn vertical_stripes_live_in_the_cv_band() {
    let s = stripes(64, 64, 3);
    let e = |a: &Array2<f32>| a.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
    for w in Wavelet::ALL {
        let c = dwt2(s.view(), w);
        assert!(e(&c.cv) > 1.0, "{w:?}");
        assert!(
            e(&c.ch) < 1e-6 * e(&c.cv) && e(&c.cd) < 1e-6 * e(&c.cv),
            "{w:?}"
        );
        // the horizontal version goes to cH
        let t = s.t().to_owned();
        let c = dwt2(t.view(), w);
        assert!(
            e(&c.cv) < 1e-6 * e(&c.ch) && e(&c.cd) < 1e-6 * e(&c.ch),
            "{w:?}"
        );
    }
    // and the filter removes a pure stripe image down to its smooth (coarse) part
    let (out, _) = destripe_2d(
        s.view(),
        &DestripeParams {
            wavelet_levels: 4,
            ..wavelet_params()
        },
    )
    .unwrap();
    let mean = s.mean().unwrap();
    let left = out.iter().map(|v| ((v - mean) as f64).powi(2)).sum::<f64>()
        / s.iter().map(|v| ((v - mean) as f64).powi(2)).sum::<f64>();
    println!("pure stripes left: {:.2} %", 100.0 * left);
    // what is left is the stripes' coarse part (below 1/2^L cycles/px), kept in the approximation
    assert!(left < 0.10, "{left}");
}

#[test]
fn horizontal_stripes_with_angle_90_and_tilted_refused() {
    let (ny, nx) = (256, 192);
    let clean = structure(ny, nx, 4);
    let s = stripes(nx, ny, 4).t().to_owned(); // constant along x
    let noisy = &clean + &s;
    let p = DestripeParams {
        angle_deg: 90.0,
        wavelet_levels: 5,
        ..wavelet_params()
    };
    let (out, _) = destripe_2d(noisy.view(), &p).unwrap();
    // exactly the vertical filter on the transposed slice
    let t = noisy.t().to_owned();
    let (vt, _) = destripe_2d(
        t.view(),
        &DestripeParams {
            angle_deg: 0.0,
            ..p.clone()
        },
    )
    .unwrap();
    assert_eq!(out, vt.t().to_owned());
    let (sl, _) = destripe_2d(s.view(), &p).unwrap();
    let left = energy(&sl) / energy(&s);
    let gain = psnr(&out, &clean) - psnr(&noisy, &clean);
    println!(
        "horizontal: residual {:.2} %, PSNR +{gain:.1} dB",
        100.0 * left
    );
    assert!(left < 0.10 && gain > 6.0);
    for bad in [
        DestripeParams {
            angle_deg: 10.0,
            ..wavelet_params()
        },
        DestripeParams {
            second_angle_deg: Some(0.0),
            ..wavelet_params()
        },
    ] {
        let e = destripe_2d(noisy.view(), &bad).unwrap_err().to_string();
        println!("{e}");
        assert!(e.contains("wedge"), "{e}");
    }
}

#[test]
fn bad_wavelet_parameters_are_rejected() {
    let img = Array2::<f32>::zeros((64, 64));
    for (p, needle) in [
        (
            DestripeParams {
                wavelet_levels: 5,
                ..wavelet_params()
            },
            "at most 4",
        ),
        (
            DestripeParams {
                wavelet_levels: 0,
                ..wavelet_params()
            },
            "at least 1",
        ),
        (
            DestripeParams {
                wavelet_sigma: 0.0,
                ..wavelet_params()
            },
            "> 0",
        ),
        (
            DestripeParams {
                wavelet_sigma: -1.0,
                ..wavelet_params()
            },
            "> 0",
        ),
    ] {
        let e = destripe_2d(img.view(), &p).unwrap_err().to_string();
        println!("{e}");
        assert!(e.contains(needle) && !e.contains('\n'), "{e}");
    }
    assert!(Wavelet::parse("sym4").is_err());
    assert!(DestripeMethod::parse("fourier").is_err());
    // the wavelet plan has no spectral mask
    let plan = DestripePlan::new(
        64,
        64,
        &DestripeParams {
            wavelet_levels: 3,
            ..wavelet_params()
        },
    )
    .unwrap();
    assert!(plan.mask_for(img.view()).is_err());
}

#[test]
fn volume_driver_equals_per_slice() {
    let a = Array3::from_shape_fn((3, 64, 80), |(z, y, x)| {
        (100.0 + 20.0 * ((x * 7 + z) % 5) as f32 + (y as f32 * 0.3).sin() * 10.0) as u8
    });
    let vol = GreyVolume::from_u8(a.clone(), VoxelSize::default());
    let p = DestripeParams {
        wavelet_levels: 3,
        ..wavelet_params()
    };
    let (out, rep) = destripe_volume(&vol, &p).unwrap();
    assert_eq!(rep.method, "wavelet_fft");
    let GreyData::F32(o) = out.data else { panic!() };
    for z in 0..3 {
        let s = a.index_axis(Axis(0), z).mapv(|v| v as f32);
        let (e, f) = destripe_2d(s.view(), &p).unwrap();
        assert_eq!(o.index_axis(Axis(0), z), e);
        assert_eq!(rep.removed_energy_fraction[z], f);
        assert!(f > 0.5, "periodic stripes are most of the variance: {f}");
    }
}

/// The issue-4 acceptance metrics for the wedge and two wavelet settings on the wedge tests'
/// slices: the default (db4, L = 4, σ = 2) and a deeper one (L = 5). The wavelet filter is linear,
/// so its residual stripe energy is the filter applied to the stripes alone; the wedge's
/// residual uses the attenuation it chose on the striped slice (as in `filters_destripe.rs`).
///
/// Measured (see docs/munch.md): no wavelet setting meets all four limits at once — at L = 4 the
/// stripes' coarse part stays in the approximation (residual 11–13 % > 10 %), at L = 5 the
/// filter also removes the y-constant part of the structure in the coarse bands (stripe-free
/// change 3–5 % > 1 %). The asserts below pin what each setting does meet.
#[test]
fn acceptance_metrics_wavelet_vs_wedge() {
    let (ny, nx) = (512, 512);
    let w4 = wavelet_params();
    let w5 = DestripeParams {
        wavelet_levels: 5,
        ..wavelet_params()
    };
    let wedge = DestripePlan::new(ny, nx, &wedge_params()).unwrap();
    let p4 = DestripePlan::new(ny, nx, &w4).unwrap();
    let p5 = DestripePlan::new(ny, nx, &w5).unwrap();
    println!("| slice | metric | wedge (adaptive) | wavelet db4 L=4 σ=2 (default) | wavelet db4 L=5 σ=2 | limit |");
    println!("|---|---|---|---|---|---|");
    for seed in 0..3u64 {
        let clean = structure(ny, nx, seed);
        let s = stripes(ny, nx, seed);
        let noisy = &clean + &s;
        let (wo, _) = wedge.apply(noisy.view()).unwrap();
        let (mask, _) = wedge.mask_for(noisy.view()).unwrap();
        let w_left = energy(&wedge.apply_mask(s.view(), &mask).unwrap()) / energy(&s);
        let left = |p: &DestripePlan| energy(&p.apply(s.view()).unwrap().0) / energy(&s);
        let (o4, _) = p4.apply(noisy.view()).unwrap();
        let (o5, _) = p5.apply(noisy.view()).unwrap();
        let g = |o: &Array2<f32>| psnr(o, &clean) - psnr(&noisy, &clean);
        let (l4, l5) = (left(&p4), left(&p5));
        println!(
            "| stripes seed {seed} | residual stripe energy | {:.2} % | {:.2} % | {:.2} % | ≤ 10 % |",
            100.0 * w_left,
            100.0 * l4,
            100.0 * l5
        );
        println!(
            "| stripes seed {seed} | PSNR gain | +{:.1} dB | +{:.1} dB | +{:.1} dB | ≥ 6 dB |",
            g(&wo),
            g(&o4),
            g(&o5)
        );
        let te = |o: &Array2<f32>| 100.0 * sq_err(o, &clean) / energy(&s);
        println!(
            "| stripes seed {seed} | total error ‖out−clean‖²/‖stripes‖² | {:.2} % | {:.2} % | {:.2} % | – |",
            te(&wo),
            te(&o4),
            te(&o5)
        );
        assert!(l4 <= 0.15, "wavelet L=4 residual stripes {l4}");
        assert!(l5 <= 0.10, "wavelet L=5 residual stripes {l5}");
        assert!(g(&o4) >= 6.0 && g(&o5) >= 6.0, "wavelet PSNR gain");
    }
    for seed in 10..13u64 {
        let clean = structure(ny, nx, seed);
        let rms = (energy(&clean) / clean.len() as f64).sqrt();
        let ch = |p: &DestripePlan| {
            let (o, _) = p.apply(clean.view()).unwrap();
            (sq_err(&o, &clean) / clean.len() as f64).sqrt() / rms
        };
        let (c4, c5) = (ch(&p4), ch(&p5));
        println!(
            "| stripe-free seed {seed} | RMS change / RMS | {:.3} % | {:.3} % | {:.3} % | < 1 % |",
            100.0 * ch(&wedge),
            100.0 * c4,
            100.0 * c5
        );
        assert!(c4 < 0.01, "wavelet L=4 stripe-free change {c4}");
        assert!(c5 < 0.06, "wavelet L=5 stripe-free change {c5}");
    }
    if let Some(img) = nacre() {
        let before = column_hp_variance(&img);
        let (wo, _) = destripe_2d(img.view(), &wedge_params()).unwrap();
        let (o4, _) = destripe_2d(img.view(), &w4).unwrap();
        let (o5, _) = destripe_2d(img.view(), &w5).unwrap();
        let drop = |o: &Array2<f32>| 1.0 - column_hp_variance(o) / before;
        let change = |o: &Array2<f32>| (sq_err(o, &img) / energy(&img)).sqrt();
        println!(
            "| nacre {:?} | column-profile high-pass variance drop | {:.1} % | {:.1} % | {:.1} % | ≥ 80 % |",
            img.dim(),
            100.0 * drop(&wo),
            100.0 * drop(&o4),
            100.0 * drop(&o5)
        );
        println!(
            "| nacre | RMS change / RMS (information only) | {:.2} % | {:.2} % | {:.2} % | – |",
            100.0 * change(&wo),
            100.0 * change(&o4),
            100.0 * change(&o5)
        );
        assert!(drop(&o4) >= 0.80 && drop(&o5) >= 0.80, "wavelet nacre drop");
    }
}

/// Parameter study (run with `--ignored --nocapture`): levels × σ × wavelet on the metrics.
#[test]
#[ignore]
fn study_wavelet_parameters() {
    let (ny, nx) = (512, 512);
    let img = nacre();
    for w in [Wavelet::Db2, Wavelet::Db4, Wavelet::Db5] {
        for levels in [3usize, 4, 5, 6] {
            for sigma in [0.5, 1.0, 2.0, 3.0] {
                let p = DestripeParams {
                    wavelet: w,
                    wavelet_levels: levels,
                    wavelet_sigma: sigma,
                    ..wavelet_params()
                };
                let plan = DestripePlan::new(ny, nx, &p).unwrap();
                let mut line = format!("{} L={levels} σ={sigma}:", w.name());
                for seed in 0..3u64 {
                    let clean = structure(ny, nx, seed);
                    let s = stripes(ny, nx, seed);
                    let noisy = &clean + &s;
                    let left = energy(&plan.apply(s.view()).unwrap().0) / energy(&s);
                    let (o, _) = plan.apply(noisy.view()).unwrap();
                    let gain = psnr(&o, &clean) - psnr(&noisy, &clean);
                    line += &format!(" res {:.1}% +{gain:.1}dB", 100.0 * left);
                }
                for seed in 10..13u64 {
                    let clean = structure(ny, nx, seed);
                    let (o, _) = plan.apply(clean.view()).unwrap();
                    let ch = (sq_err(&o, &clean) / energy(&clean)).sqrt();
                    line += &format!(" ch {:.2}%", 100.0 * ch);
                }
                if let Some(img) = &img {
                    if let Ok((o, _)) = destripe_2d(img.view(), &p) {
                        let d = 1.0 - column_hp_variance(&o) / column_hp_variance(img);
                        line += &format!(" nacre {:.1}%", 100.0 * d);
                    }
                }
                println!("{line}");
            }
        }
    }
}

fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_fibstack"))
}

/// u8 slices with curtains every 11 columns on a smooth background.
fn striped_u8(nz: usize) -> Array3<u8> {
    Array3::from_shape_fn((nz, 64, 96), |(z, y, x)| {
        let base = 120.0 + 40.0 * ((x as f64 * 0.05 + z as f64).sin() * (y as f64 * 0.07).cos());
        let curtain = if x % 11 == 3 { 25.0 } else { 0.0 };
        (base + curtain) as u8
    })
}

#[test]
fn cli_streamed_folder_and_workflow_use_the_wavelet_method() {
    use fibstack::io::{read_volume, write_volume, ReadOptions};
    use fibstack::preprocess::destripe::destripe_volume_as;
    let dir = tempfile::TempDir::new().unwrap();
    let vox = VoxelSize::new([20.0, 5.0, 5.0], fibstack::volume::VoxelSource::CommandLine);
    let vol = GreyVolume::from_u8(striped_u8(3), vox);
    let folder = dir.path().join("slices");
    write_volume(&folder, &vol).unwrap();
    // folder input streams slice by slice; equal to the in-memory library result
    let out = dir.path().join("clean");
    let o = bin()
        .args([
            "destripe",
            "-q",
            "--json",
            "--method",
            "wavelet",
            "--material-aware",
            "false",
        ])
        .args([
            "--wavelet-levels",
            "3",
            "--wavelet-sigma",
            "1.5",
            "--wavelet",
            "db2",
        ])
        .arg(&folder)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let js: serde_json::Value = serde_json::from_slice(&o.stdout).expect("only JSON on stdout");
    assert_eq!(js["method"], "wavelet_fft");
    assert_eq!(js["params"]["wavelet"], "db2");
    assert_eq!(js["params"]["wavelet_levels"], 3);
    let p = DestripeParams {
        method: DestripeMethod::Wavelet,
        wavelet: Wavelet::Db2,
        wavelet_levels: 3,
        wavelet_sigma: 1.5,
        ..wavelet_params()
    };
    let (want, rep) = destripe_volume_as(&vol, &p, fibstack::volume::SampleType::U8).unwrap();
    let got = read_volume(&out, &ReadOptions::default()).unwrap();
    assert_eq!(got.data, want.data);
    let fr: Vec<f64> = js["removed_energy_fraction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(fr.len(), 3);
    for (a, b) in fr.iter().zip(&rep.removed_energy_fraction) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    // bad parameters: clear one-line errors
    for (args, needle) in [
        (
            vec!["--method", "wavelet", "--wavelet-levels", "9"],
            "at most",
        ),
        (vec!["--method", "wavelet", "--wavelet-sigma", "0"], "sigma"),
        (vec!["--method", "wavelet", "--angle", "10"], "wedge"),
        (vec!["--method", "fourier"], "method"),
        (vec!["--method", "wavelet", "--wavelet", "sym8"], "wavelet"),
    ] {
        let o = bin()
            .args(["destripe", "-q"])
            .args(&args)
            .arg(&folder)
            .arg(dir.path().join("bad.tif"))
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        println!("{args:?}: {}", e.trim());
        assert!(!o.status.success() && e.contains(needle), "{args:?}: {e}");
    }
    // workflow step
    let wf = dir.path().join("w.toml");
    let write = |step: &str| {
        std::fs::write(
            &wf,
            format!(
                "output = \"out\"\n[input]\npath = \"slices\"\nvoxel_nm = [20.0, 5.0, 5.0]\n[[steps]]\nkind = \"destripe\"\n{step}\n"
            ),
        )
        .unwrap();
    };
    write("method = \"wavelet\"\nwavelet_levels = 3\nwavelet_sigma = 1.5\nwavelet = \"db2\"");
    let o = bin().arg("run").arg(&wf).arg("-q").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let res = std::fs::read_to_string(dir.path().join("out/results.json")).unwrap();
    assert!(res.contains("wavelet_fft"), "{res}");
    for bad in [
        "method = \"wavelet\"\nwavelet_level = 3",
        "method = \"wavelet\"\nwavelet_sigma = -2.0",
        "method = \"wavelet\"\nwavelet_levels = 12",
        "method = \"waves\"",
    ] {
        write(bad);
        let o = bin().arg("run").arg(&wf).arg("-q").output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        println!("{bad:?}: {}", e.trim());
        assert!(!o.status.success(), "{bad}");
    }
}
