//! Curtain removal on real curtained slices, on a real image with added physical curtains and on
//! simulator stacks with the physical curtain model, with the default `fibstack destripe`
//! (VSNR in the material only). Every figure is printed with the target and whether it
//! is met; the asserts are the targets that are met and regression floors just beyond the
//! measured values for those that are not (docs/src/validation/destriping.md).
//! Real data from `../shared/data` is skipped with a message when absent.

use fibstack::preprocess::destripe::score::{score_stack, DestripeScore, ScoreParams};
use fibstack::preprocess::destripe::{destripe_volume_as, DestripeParams};
use fibstack::synth::curtains::{add_curtains, AddCurtainsParams};
use fibstack::volume::{GreyData, GreyVolume, SampleType, VoxelSize, VoxelSource};
use ndarray::{s, Array3};
use std::path::Path;

#[path = "support/trust.rs"]
mod trust;
use trust::shared;

fn read(p: &Path) -> GreyVolume {
    fibstack::io::read_volume(p, &fibstack::io::ReadOptions::default()).unwrap()
}

fn f32_of(d: &GreyData) -> Array3<f32> {
    d.to_f32()
}

fn target(name: &str, value: f64, ok: bool, want: &str) -> bool {
    println!(
        "{name}: {value:.4} (target {want}) {}",
        if ok { "met" } else { "NOT met" }
    );
    ok
}

/// Destripe with the defaults and score with the given mask threshold.
fn destripe_and_score(vol: &GreyVolume, thr: Option<f64>) -> (GreyVolume, DestripeScore) {
    let (out, _) = destripe_volume_as(vol, &DestripeParams::default(), SampleType::F32).unwrap();
    let sp = ScoreParams {
        threshold: thr,
        ..Default::default()
    };
    let sc = score_stack(&vol.data, &out.data, &sp).unwrap();
    (out, sc)
}

fn report_real(name: &str, sc: &DestripeScore) -> [bool; 3] {
    let m = sc.material.ratio.unwrap();
    let p = sc.pore.ratio.unwrap_or(1.0);
    let r = sc.rows.ratio.unwrap();
    [
        target(
            &format!("{name}: material energy ratio"),
            m,
            m <= 0.15,
            "<= 0.15",
        ),
        // "does not rise", to 0.1 %: the method's own automatic mask and the score's fixed
        // threshold may differ by a few boundary pixels
        target(
            &format!("{name}: pore energy ratio"),
            p,
            p <= 1.001,
            "<= 1.0 (0.1 %)",
        ),
        target(&format!("{name}: row energy kept"), r, r >= 0.98, ">= 0.98"),
    ]
}

/// The real nacre slice (report half, rows 370–739, and the whole slice), pores = darker than
/// 145 (the dark tail of its single population): the default destripe adds nothing to the pores
/// and keeps the row profile; it removes 78–79 % of the material's column-profile energy, short
/// of the 85 % target (floor: 75 %).
#[test]
fn nacre_real_slice_targets() {
    let Some(p) = shared("sem/fib_crosssection_nacre_curtaining.tif") else {
        return;
    };
    let v = read(&p);
    let half = GreyVolume {
        data: GreyData::F32(f32_of(&v.data).slice(s![.., 370.., ..]).to_owned()),
        voxel: v.voxel,
        meta: v.meta.clone(),
    };
    for (name, vol) in [("nacre rows 370-739", &half), ("nacre whole", &v)] {
        let (_, sc) = destripe_and_score(vol, Some(145.0));
        let ok = report_real(name, &sc);
        assert!(ok[1] && ok[2], "{name}: {sc:?}");
        assert!(
            sc.material.ratio.unwrap() < FLOOR_NACRE_MATERIAL,
            "{name}: {sc:?}"
        );
    }
}

/// The OpenFIBSEM trench crop (fixtures/real, MIT): pores = the dark trench, below 60. Pores and
/// rows hold; 18 % of the material's column-profile energy goes (the curtains cover a third of
/// the material's rows), far from the 85 % target.
#[test]
fn openfibsem_trench_scores() {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/real/openfibsem_trench_curtains.tif");
    let v = read(&p);
    let (_, sc) = destripe_and_score(&v, Some(60.0));
    let ok = report_real("OpenFIBSEM trench", &sc);
    // pores untouched and rows kept hold; the material drop is a floor under the measured value
    assert!(ok[1] && ok[2], "{sc:?}");
    assert!(
        sc.material.ratio.unwrap() < FLOOR_OPENFIBSEM_MATERIAL,
        "{sc:?}"
    );
}

/// The default, then the relative column profile of the slice's own material divided out (the
/// stack method with a window of 0 slices, σ = 4 px; docs/src/validation/destriping.md): on
/// nacre every real-slice target is met (measured 0.024 / 0.019 of the material's energy left);
/// on the OpenFIBSEM trench with its pores given (below 60) 35 % is left (floor 0.40), pores and
/// rows hold.
#[test]
fn two_pass_column_profile_recipe() {
    let second = |thr: Option<f64>| DestripeParams {
        method: fibstack::preprocess::destripe::DestripeMethod::Stack,
        stack_window: 0,
        stack_sigma_px: 4.0,
        material_threshold: thr,
        ..Default::default()
    };
    let two_pass = |vol: &GreyVolume, thr: Option<f64>, score_thr: f64| {
        let first = DestripeParams {
            material_threshold: thr,
            ..Default::default()
        };
        let (a, _) = destripe_volume_as(vol, &first, SampleType::F32).unwrap();
        let (b, _) = destripe_volume_as(&a, &second(thr), SampleType::F32).unwrap();
        let sp = ScoreParams {
            threshold: Some(score_thr),
            ..Default::default()
        };
        score_stack(&vol.data, &b.data, &sp).unwrap()
    };
    if let Some(p) = shared("sem/fib_crosssection_nacre_curtaining.tif") {
        let v = read(&p);
        let half = GreyVolume {
            data: GreyData::F32(f32_of(&v.data).slice(s![.., 370.., ..]).to_owned()),
            voxel: v.voxel,
            meta: v.meta.clone(),
        };
        for (name, vol) in [
            ("nacre rows 370-739, two passes", &half),
            ("nacre whole, two passes", &v),
        ] {
            let sc = two_pass(vol, None, 145.0);
            let ok = report_real(name, &sc);
            assert!(ok.iter().all(|o| *o), "{name}: {sc:?}");
        }
    }
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/real/openfibsem_trench_curtains.tif");
    let sc = two_pass(&read(&p), Some(60.0), 60.0);
    let ok = report_real("OpenFIBSEM trench, pores below 60, two passes", &sc);
    assert!(ok[1] && ok[2], "{sc:?}");
    assert!(sc.material.ratio.unwrap() < 0.40, "{sc:?}");
}

/// Floors of the material ratio (measured value + a margin).
const FLOOR_OPENFIBSEM_MATERIAL: f64 = 0.86;
const FLOOR_NACRE_MATERIAL: f64 = 0.25;

fn psnr(a: &Array3<f32>, b: &Array3<f32>, peak: f64) -> f64 {
    let mse = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (peak * peak / mse).log10()
}

fn sq(a: &Array3<f32>, b: &Array3<f32>) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum()
}

/// (PSNR gain, stripe residual, RMS change of the stripe-free input relative to its RMS).
fn stripe_figures(curtained: &GreyVolume, reference: &GreyVolume, peak: f64) -> (f64, f64, f64) {
    let p = DestripeParams::default();
    let (a, _) = destripe_volume_as(curtained, &p, SampleType::F32).unwrap();
    let (b, _) = destripe_volume_as(reference, &p, SampleType::F32).unwrap();
    let (fi, fr) = (f32_of(&a.data), f32_of(&b.data));
    let (i, r) = (f32_of(&curtained.data), f32_of(&reference.data));
    let gain = psnr(&fi, &r, peak) - psnr(&i, &r, peak);
    let residual = sq(&fi, &fr) / sq(&i, &r);
    let rms_r = (r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
    let change = (sq(&fr, &r) / r.len() as f64).sqrt() / rms_r;
    (gain, residual, change)
}

/// The real PFIB ion image with added physical curtains (`synth-curtains`, seed 7, the
/// material by the automatic mask): PSNR against the clean image +1.9 dB (target 8), 58 % of
/// the stripe energy left (target 10 %), the clean image changed by 1.0 % RMS (target 1 %).
#[test]
fn pfib_with_added_physical_curtains() {
    let Some(p) = shared("sem/thermo_helios_pfib_ion_image.tif") else {
        return;
    };
    let clean = read(&p);
    let clean = GreyVolume {
        data: GreyData::F32(f32_of(&clean.data)),
        voxel: VoxelSize::new([1.0; 3], VoxelSource::CommandLine),
        meta: Default::default(),
    };
    let c = add_curtains(
        &clean.data,
        &AddCurtainsParams {
            seed: 7,
            ..Default::default()
        },
    )
    .unwrap();
    let curtained = GreyVolume {
        data: GreyData::F32(c),
        ..clean.clone()
    };
    let (gain, residual, change) = stripe_figures(&curtained, &clean, 255.0);
    target("PFIB + curtains: PSNR gain (dB)", gain, gain >= 8.0, ">= 8");
    target(
        "PFIB + curtains: stripe residual",
        residual,
        residual <= 0.1,
        "<= 0.10",
    );
    target(
        "PFIB + curtains: clean image changed (RMS)",
        change,
        change < 0.01,
        "< 0.01",
    );
    assert!(gain > FLOOR_PFIB_GAIN, "{gain}");
    assert!(residual < FLOOR_PFIB_RESIDUAL, "{residual}");
}

const FLOOR_PFIB_GAIN: f64 = 1.0;
const FLOOR_PFIB_RESIDUAL: f64 = 0.65;

/// Simulator stacks (electrode and Li deposit, 24 × 160 × 192 truth, seeds 201/202), the
/// physical curtain model and every other effect on; the reference is the same acquisition
/// rendered without curtains (identical noise draws in the pores). Measured: PSNR −1.0 / −7.3 dB,
/// stripe residual 73 / 96 %, stripe-free stack changed 2.2 / 4.9 % RMS: no target met (the
/// curtains, 3 grey levels RMS, sit under noise of 12).
#[test]
fn simulator_stacks_with_physical_curtains() {
    use fibstack::synth::{generate, Preset, SynthSpec};
    for (name, preset, seed) in [
        ("electrode", Preset::Electrode, 201u64),
        ("Li deposit", Preset::LiDeposit, 202),
    ] {
        let spec = SynthSpec {
            preset,
            shape: Some([24, 160, 192]),
            seed,
            ..Default::default()
        };
        let mut off = spec.clone();
        off.acquisition.curtain.enabled = false;
        let a = generate(&spec).unwrap().rendered.unwrap().grey;
        let b = generate(&off).unwrap().rendered.unwrap().grey;
        let (gain, residual, change) = stripe_figures(&a, &b, 255.0);
        target(
            &format!("sim {name}: PSNR gain (dB)"),
            gain,
            gain >= 8.0,
            ">= 8",
        );
        target(
            &format!("sim {name}: stripe residual"),
            residual,
            residual <= 0.1,
            "<= 0.10",
        );
        target(
            &format!("sim {name}: stripe-free stack changed (RMS)"),
            change,
            change < 0.01,
            "< 0.01",
        );
        assert!(gain > FLOOR_SIM_GAIN, "{name}: {gain}");
        assert!(change < FLOOR_SIM_CHANGE, "{name}: {change}");
    }
}

const FLOOR_SIM_GAIN: f64 = -10.0;
const FLOOR_SIM_CHANGE: f64 = 0.07;
