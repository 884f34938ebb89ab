//! Progress reported by the in-memory operations: every phase that is started is finished, and
//! the units reported reach the phase's total exactly (no bar stuck at 3/4 or running to 5/4).

use fibstack::metrics::connectivity::{connectivity_report_progress, ConnectivityOptions};
use fibstack::metrics::porosity::{porosity_report_progress, PorosityOptions};
use fibstack::metrics::sizes::{sizes_of_progress, SizesOptions};
use fibstack::preprocess::denoise::{gaussian_volume_progress, Dims, GaussianParams};
use fibstack::preprocess::destripe::{destripe_volume_progress, DestripeParams};
use fibstack::preprocess::tophat::{tophat_volume_progress, TophatParams};
use fibstack::progress::Progress;
use fibstack::volume::{GreyVolume, LabelVolume, SampleType, VoxelSize, VoxelSource};
use ndarray::Array3;
use std::sync::Mutex;

/// Records phases as (label, total, units done, finished).
#[derive(Default)]
struct Record(Mutex<Vec<(String, u64, u64, bool)>>);

impl Progress for Record {
    fn start(&self, label: &str, total: u64) {
        self.0.lock().unwrap().push((label.into(), total, 0, false));
    }
    fn inc(&self, n: u64) {
        let mut v = self.0.lock().unwrap();
        let last = v.last_mut().expect("inc before start");
        assert!(!last.3, "inc after finish of {}", last.0);
        last.2 += n;
    }
    fn finish(&self) {
        self.0
            .lock()
            .unwrap()
            .last_mut()
            .expect("finish before start")
            .3 = true;
    }
}

impl Record {
    /// The one phase recorded: its label and total, after checking it was completed.
    fn single(&self) -> (String, u64) {
        let v = self.0.lock().unwrap();
        assert_eq!(v.len(), 1, "phases: {v:?}");
        let (l, total, done, fin) = v[0].clone();
        assert!(fin, "{l} not finished");
        assert_eq!(done, total, "{l}: {done} units of {total}");
        (l, total)
    }
}

fn voxel() -> VoxelSize {
    VoxelSize::new([20.0, 10.0, 10.0], VoxelSource::CommandLine)
}

fn grey() -> GreyVolume {
    let a = Array3::from_shape_fn((5, 24, 20), |(z, y, x)| {
        ((x * 7 + y * 3 + z * 11) % 17) as f32 + if x % 5 == 0 { 9.0 } else { 0.0 }
    });
    GreyVolume::from_f32(a, voxel())
}

fn labels() -> LabelVolume {
    let a = Array3::from_shape_fn((6, 12, 12), |(z, y, x)| {
        u8::from((x / 3 + y / 3 + z / 2) % 2 == 0)
    });
    LabelVolume::new(a, voxel())
}

#[test]
fn grey_filters_count_every_slice() {
    let g = grey();
    let r = Record::default();
    destripe_volume_progress(&g, &DestripeParams::default(), SampleType::F32, &r).unwrap();
    assert_eq!(r.single(), ("destripe".into(), 5));

    let r = Record::default();
    let p = GaussianParams::isotropic(15.0, Dims::TwoD);
    gaussian_volume_progress(&g, &p, SampleType::F32, &r).unwrap();
    assert_eq!(r.single(), ("denoise".into(), 5));
    let r = Record::default();
    let p = GaussianParams::isotropic(15.0, Dims::ThreeD);
    gaussian_volume_progress(&g, &p, SampleType::F32, &r).unwrap();
    assert_eq!(r.single(), ("denoise (3-D)".into(), 1));

    let r = Record::default();
    let p = TophatParams {
        radius_nm: 30.0,
        black: false,
        dims: Dims::TwoD,
    };
    tophat_volume_progress(&g, &p, &r).unwrap();
    assert_eq!(r.single(), ("tophat".into(), 5));
}

#[test]
fn measurements_count_their_parts() {
    let l = labels();
    let r = Record::default();
    let o = PorosityOptions {
        rev_sizes: 3,
        window_nm: Some(60.0),
        ..PorosityOptions::default()
    };
    porosity_report_progress(l.view(), &l.voxel, &o, &r).unwrap();
    assert_eq!(r.single(), ("porosity".into(), 3));
    let r = Record::default();
    let o = PorosityOptions {
        rev_sizes: 0,
        window_nm: None,
        ..PorosityOptions::default()
    };
    porosity_report_progress(l.view(), &l.voxel, &o, &r).unwrap();
    assert_eq!(r.single(), ("porosity".into(), 1));

    let r = Record::default();
    let o = ConnectivityOptions {
        graph: true,
        ..ConnectivityOptions::default()
    };
    connectivity_report_progress(l.view(), &l.voxel, &o, &r).unwrap();
    assert_eq!(r.single(), ("connectivity".into(), 2));

    let r = Record::default();
    sizes_of_progress(l.view(), &l.voxel, 1, &SizesOptions::default(), &r).unwrap();
    assert_eq!(r.single(), ("sizes".into(), 3));
}

#[test]
fn a_phase_left_by_an_error_is_finished() {
    fn work(p: &dyn Progress, fail_at: u64) -> Result<(), String> {
        let ph = fibstack::progress::Phase::start(p, "work", 4);
        for i in 0..4 {
            if i == fail_at {
                return Err(format!("failed at {i}"));
            }
            ph.inc(1);
        }
        Ok(())
    }
    let r = Record::default();
    assert!(work(&r, 2).is_err());
    let v = r.0.lock().unwrap().clone();
    assert_eq!(v, vec![("work".to_string(), 4, 2, true)]);
    let r = Record::default();
    work(&r, 9).unwrap();
    assert_eq!(r.single(), ("work".into(), 4));
}
