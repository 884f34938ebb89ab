//! Otsu / multi-Otsu thresholds vs skimage.filters.threshold_otsu / threshold_multiotsu on the
//! u8, u16 and f32 volumes stored by benches/compare/filters_otsu.py.

#[path = "filters_npy.rs"]
mod npy;

use fibstack::segment::histogram::histogram;
use fibstack::segment::otsu::{multiotsu, otsu};
use fibstack::segment::{segment_volume, Method, SegmentParams};
use fibstack::volume::{GreyData, GreyVolume, VoxelSize};

fn load(name: &str, file: &str) -> GreyData {
    let p = npy::fixture(file);
    match name {
        "u8" => GreyData::U8(npy::u8_3(&p)),
        "f32" => GreyData::F32(npy::f32_3(&p)),
        _ => GreyData::U16(npy::u16_3(&p)),
    }
}

#[test]
fn thresholds_equal_skimage() {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(npy::fixture("filters_otsu.json")).unwrap())
            .unwrap();
    for (name, c) in meta["cases"].as_object().unwrap() {
        let data = load(name, c["file"].as_str().unwrap());
        let h = histogram(&data, 256).unwrap().unwrap();
        let t = otsu(&h);
        let want = c["otsu"].as_f64().unwrap();
        println!("{name}: otsu {t} (skimage {want}), {} bins", h.counts.len());
        assert_eq!(t, want, "{name} otsu");
        for classes in [3usize, 4] {
            let key = format!("multiotsu{classes}");
            let Some(w) = c.get(&key) else { continue };
            let want: Vec<f64> = w
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let got = multiotsu(&h, classes).unwrap();
            println!("{name}: {key} {got:?} (skimage {want:?})");
            assert_eq!(got, want, "{name} {key}");
        }
    }
}

#[test]
fn segment_volume_multiotsu_labels_classes() {
    let data = load("u8", "filters_otsu_u8.npy");
    let vol = GreyVolume {
        data,
        voxel: VoxelSize::default(),
        meta: Default::default(),
    };
    let p = SegmentParams {
        method: Method::Multiotsu,
        classes: 3,
        sensitivity: 5.0,
        ..Default::default()
    };
    let (labels, r) = segment_volume(&vol, &p).unwrap();
    assert_eq!(r.thresholds, vec![95.0, 164.0]);
    assert_eq!(labels.phases(), vec![0, 1, 2]);
    let n = labels.data.len() as f64;
    for k in 0..3u8 {
        assert!((labels.count(k) as f64 / n - r.phase_fractions[k as usize]).abs() < 1e-12);
    }
    // the fixture was drawn with weights 0.3 / 0.45 / 0.25
    println!("fractions {:?}", r.phase_fractions);
    let s = r.sensitivity.unwrap();
    assert!(
        s.fraction_band[0][0] <= r.phase_fractions[0]
            && r.phase_fractions[0] <= s.fraction_band[0][1]
    );
}
