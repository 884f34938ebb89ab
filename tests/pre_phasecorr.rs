//! Phase correlation against (1) scikit-image on stored pairs (benches/compare/pre_phasecorr.py),
//! (2) known sub-pixel shifts of a real SEM image, (3) a slow brute-force DFT twin (proptest).

use fibstack::preprocess::phasecorr::{
    fourier_shift, phase_cross_correlation, PhaseCorrParams, Window,
};
use ndarray::{s, Array2, Array4};
use proptest::prelude::*;
use std::path::Path;

/// skimage's configuration: no window, no band-pass, upsample 100.
fn skimage_like() -> PhaseCorrParams {
    PhaseCorrParams {
        upsample: 100,
        window: Window::None,
        bandpass: None,
        roi: None,
        refine: false,
        curtain_notch: 0,
    }
}

/// Minimal .npy reader for little-endian f32 C-order arrays of rank 4.
fn read_npy_f32_4d(path: &Path) -> Array4<f32> {
    let bytes = std::fs::read(path).expect("fixture present");
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"));
    let sh = &header[header.find("'shape': (").unwrap() + 10..];
    let sh = &sh[..sh.find(')').unwrap()];
    let dims: Vec<usize> = sh
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse().unwrap())
        .collect();
    let data: Vec<f32> = bytes[start + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Array4::from_shape_vec((dims[0], dims[1], dims[2], dims[3]), data).unwrap()
}

#[test]
fn agrees_with_skimage_on_stored_pairs() {
    let pairs = read_npy_f32_4d(Path::new("fixtures/peer/pre_phasecorr_pairs.npy"));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("fixtures/peer/pre_phasecorr.json").unwrap())
            .unwrap();
    let meta = doc["pairs"].as_array().unwrap();
    assert_eq!(meta.len(), pairs.dim().0);
    let mut worst_peer: f64 = 0.0;
    for (i, m) in meta.iter().enumerate() {
        let r = pairs.slice(s![i, 0, .., ..]);
        let mv = pairs.slice(s![i, 1, .., ..]);
        let ours = phase_cross_correlation(r, mv, &skimage_like()).unwrap();
        let sk: Vec<f64> = m["skimage_shift"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let truth: Vec<f64> = m["true_content_shift"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| -v.as_f64().unwrap())
            .collect();
        let d = (ours.dy - sk[0]).abs().max((ours.dx - sk[1]).abs());
        worst_peer = worst_peer.max(d);
        // our defaults (Hann, low-pass, refinement) against the truth
        let def = phase_cross_correlation(r, mv, &PhaseCorrParams::default()).unwrap();
        let e_def = (def.dy - truth[0]).abs().max((def.dx - truth[1]).abs());
        let e_sk = (sk[0] - truth[0]).abs().max((sk[1] - truth[1]).abs());
        eprintln!(
            "pair {i} ({}): skimage {:?}, ours {:.3},{:.3} |Δ| {d:.3}; error vs truth: skimage {e_sk:.3}, ours(default) {e_def:.3}",
            m["source"], sk, ours.dy, ours.dx
        );
        assert!(d <= 0.05, "pair {i}: ours {ours:?} vs skimage {sk:?}");
        if m["kind"] == "fourier_shift" {
            let e = (ours.dy - truth[0]).abs().max((ours.dx - truth[1]).abs());
            assert!(e <= 0.05, "pair {i} vs truth: {e}");
            assert!(e_def <= 0.05, "pair {i} default vs truth: {e_def}");
        } else {
            // non-periodic pairs: the default settings must be at least as good as skimage + 0.02
            assert!(
                e_def <= e_sk + 0.02,
                "pair {i}: default {e_def} vs skimage {e_sk}"
            );
        }
    }
    eprintln!("largest |ours - skimage| = {worst_peer:.4} px");
}

/// Read one 8-bit grey TIFF page with the tiff crate.
fn read_tiff_u8(path: &Path) -> Option<Array2<f32>> {
    let f = std::fs::File::open(path).ok()?;
    let mut dec = tiff::decoder::Decoder::new(std::io::BufReader::new(f)).ok()?;
    let (w, h) = dec.dimensions().ok()?;
    match dec.read_image().ok()? {
        tiff::decoder::DecodingResult::U8(v) if v.len() == (w * h) as usize => Some(
            Array2::from_shape_vec((h as usize, w as usize), v)
                .ok()?
                .mapv(|x| x as f32),
        ),
        _ => None,
    }
}

#[test]
fn real_sem_image_known_subpixel_shifts() {
    let path = Path::new("../shared/data/sem/thermo_helios_pfib_ion_image.tif");
    if !path.exists() {
        eprintln!("skipping: {} not found", path.display());
        return;
    }
    let img = read_tiff_u8(path).expect("8-bit TIFF");
    let crop = img.slice(s![300..556, 500..756]).to_owned();
    let mut worst: f64 = 0.0;
    for &(dy, dx) in &[(0.37, -0.81), (-3.25, 5.5), (12.03, -0.49), (-0.5, 0.5)] {
        let moved = fourier_shift(crop.view(), dy, dx);
        for p in [skimage_like(), PhaseCorrParams::default()] {
            let sft = phase_cross_correlation(crop.view(), moved.view(), &p).unwrap();
            let e = (sft.dy + dy).abs().max((sft.dx + dx).abs());
            worst = worst.max(e);
            assert!(e <= 0.05, "shift ({dy},{dx}) params {p:?}: got {sft:?}");
        }
    }
    eprintln!("real PFIB image 256×256, Fourier shifts: worst error {worst:.4} px");
}

/// Slow twin: full complex DFT by direct sums, phase-normalised cross-power spectrum, real part of
/// its inverse evaluated on the whole grid at step 1/up; returns the argmax.
fn naive_phase_corr(a: &Array2<f32>, b: &Array2<f32>, up: usize) -> (f64, f64) {
    use std::f64::consts::PI;
    let (ny, nx) = a.dim();
    let dft = |img: &Array2<f32>| -> Vec<(f64, f64)> {
        let mean = img.iter().map(|&v| v as f64).sum::<f64>() / (ny * nx) as f64;
        let mut out = vec![(0.0, 0.0); ny * nx];
        for ky in 0..ny {
            for kx in 0..nx {
                let (mut re, mut im) = (0.0, 0.0);
                for y in 0..ny {
                    for x in 0..nx {
                        let ph = -2.0 * PI * (ky * y) as f64 / ny as f64
                            - 2.0 * PI * (kx * x) as f64 / nx as f64;
                        let v = img[[y, x]] as f64 - mean;
                        re += v * ph.cos();
                        im += v * ph.sin();
                    }
                }
                out[ky * nx + kx] = (re, im);
            }
        }
        out
    };
    let fa = dft(a);
    let fb = dft(b);
    let freq = |k: usize, n: usize| {
        if k < n.div_ceil(2) {
            k as f64 / n as f64
        } else {
            (k as f64 - n as f64) / n as f64
        }
    };
    let r: Vec<(f64, f64, f64, f64)> = (0..ny * nx)
        .filter(|&i| i != 0)
        .map(|i| {
            let (ar, ai) = fa[i];
            let (br, bi) = fb[i];
            // a * conj(b)
            let (pr, pi) = (ar * br + ai * bi, ai * br - ar * bi);
            let m = (pr * pr + pi * pi).sqrt().max(1e-300);
            (pr / m, pi / m, freq(i / nx, ny), freq(i % nx, nx))
        })
        .collect();
    let mut best = (f64::NEG_INFINITY, 0.0, 0.0);
    let n_y = ny * up;
    let n_x = nx * up;
    for iy in 0..n_y {
        for ix in 0..n_x {
            let y = iy as f64 / up as f64 - (ny / 2) as f64;
            let x = ix as f64 / up as f64 - (nx / 2) as f64;
            let mut s = 0.0;
            for &(re, im, fy, fx) in &r {
                let ph = 2.0 * PI * (fy * y + fx * x);
                s += re * ph.cos() - im * ph.sin();
            }
            if s > best.0 {
                best = (s, y, x);
            }
        }
    }
    (best.1, best.2)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha, ..ProptestConfig::default() })]
    #[test]
    fn fast_matches_naive_twin(seed in 0u64..1000, dy in -3.0f64..3.0, dx in -3.0f64..3.0) {
        let mut rng = fibstack::rng::Rng::stream(seed, 0);
        // 12×10 smooth-ish random image (3-tap periodic blur)
        let raw = Array2::from_shape_fn((12, 10), |_| rng.uniform() as f32);
        let img = Array2::from_shape_fn((12, 10), |(y, x)| {
            let mut s = 0.0;
            for d in 0..3 { s += raw[[(y + 11 + d) % 12, x]] + raw[[y, (x + 9 + d) % 10]]; }
            s
        });
        let moved = fourier_shift(img.view(), dy, dx);
        let up = 10;
        let p = PhaseCorrParams { upsample: up, ..skimage_like() };
        let fast = phase_cross_correlation(img.view(), moved.view(), &p).unwrap();
        let (ny, nx) = naive_phase_corr(&img, &moved, up);
        // same grid (1/up), so the two argmaxes coincide up to one grid step
        prop_assert!((fast.dy - ny).abs() <= 1.01 / up as f64, "fast {:?} naive ({}, {})", fast, ny, nx);
        prop_assert!((fast.dx - nx).abs() <= 1.01 / up as f64, "fast {:?} naive ({}, {})", fast, ny, nx);
    }
}
