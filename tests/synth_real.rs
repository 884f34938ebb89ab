//! A real segmented volume as the ground truth (skips when ../shared/data is absent).

use fibstack::io::{read_labels, ReadOptions};
use fibstack::synth::{from_labels, AcquisitionParams};
use std::path::Path;

#[test]
fn nrel_cathode_labels_render_as_truth() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/volumes/nrel_nmc_1_cal_cbd_bridge.tif");
    if !p.exists() {
        eprintln!("skipping: {} not found", p.display());
        return;
    }
    let opts = ReadOptions {
        slices: Some((100, 116)),
        crop: Some([50, 50, 128, 160]),
        ..Default::default()
    };
    let mut labels = read_labels(&p, &opts).unwrap();
    // the file carries no voxel size; the data README gives 0.398 µm
    labels.voxel =
        fibstack::volume::VoxelSize::new([398.0; 3], fibstack::volume::VoxelSource::CommandLine);
    assert_eq!(labels.shape(), [16, 128, 160]);
    let acq = AcquisitionParams {
        levels: Some(vec![0.12, 0.68, 0.38]),
        ..Default::default()
    };
    let out = from_labels(labels.clone(), &p.display().to_string(), &acq, 1).unwrap();
    let t = &out.truth;
    assert_eq!(t.voxel_size_nm, [398.0; 3]);
    for f in &t.phase_fractions {
        assert_eq!(f.voxels, labels.count(f.label));
    }
    let r = out.rendered.unwrap();
    let s = 52f64.to_radians().sin();
    // voxels are cubic (0.398 µm), so 128 truth rows become floor(128·sin 52°) image rows
    assert_eq!(r.grey.shape(), [16, (128.0 * s).floor() as usize, 160]);
    eprintln!(
        "NREL crop: fractions {:?}, voxel {:?} nm",
        t.phase_fractions
            .iter()
            .map(|f| (f.label, f.fraction))
            .collect::<Vec<_>>(),
        t.voxel_size_nm
    );
}
