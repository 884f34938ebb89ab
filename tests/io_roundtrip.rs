//! Round trips for every reader/writer and sample type, and the real instrument files.

use fibstack::io::{
    self,
    tiff::{Compression, TiffWriteOptions},
    ReadOptions,
};
use fibstack::volume::{GreyData, GreyVolume, VoxelSize, VoxelSource};
use ndarray::Array3;
use std::path::{Path, PathBuf};

fn volumes() -> Vec<GreyVolume> {
    let v = VoxelSize::new([20.0, 5.5, 5.5], VoxelSource::CommandLine);
    let u8v = Array3::from_shape_fn((3, 5, 7), |(z, y, x)| (z * 31 + y * 7 + x) as u8);
    let u16v = Array3::from_shape_fn((2, 6, 4), |(z, y, x)| (z * 20000 + y * 300 + x * 7) as u16);
    let f32v = Array3::from_shape_fn((4, 3, 5), |(z, y, x)| {
        z as f32 - 0.25 * y as f32 + 1e-3 * x as f32
    });
    vec![
        GreyVolume::from_u8(u8v, v),
        GreyVolume::from_u16(u16v, v),
        GreyVolume::from_f32(f32v, v),
    ]
}

#[test]
fn tiff_roundtrip_all_types_and_compressions() {
    let dir = tempfile::tempdir().unwrap();
    for (i, vol) in volumes().iter().enumerate() {
        for comp in [
            Compression::None,
            Compression::Lzw,
            Compression::Deflate,
            Compression::PackBits,
        ] {
            let p = dir.path().join(format!("v{i}_{comp:?}.tif"));
            io::tiff::write_tiff(
                &p,
                vol,
                &TiffWriteOptions {
                    compression: comp,
                    ..Default::default()
                },
            )
            .unwrap();
            let r = io::read_volume(&p, &ReadOptions::default()).unwrap();
            assert_eq!(r.data, vol.data, "{comp:?} type {i}");
            assert_eq!(r.voxel.nm, vol.voxel.nm);
            assert_eq!(r.voxel.source, [VoxelSource::File; 3]);
        }
    }
}

#[test]
fn bigtiff_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let vol = &volumes()[1];
    let p = dir.path().join("big.tif");
    io::tiff::write_tiff(
        &p,
        vol,
        &TiffWriteOptions {
            bigtiff: true,
            ..Default::default()
        },
    )
    .unwrap();
    let b = std::fs::read(&p).unwrap();
    assert_eq!(&b[2..4], &[43, 0], "BigTIFF magic 43");
    assert_eq!(
        io::read_volume(&p, &ReadOptions::default()).unwrap().data,
        vol.data
    );
}

#[test]
fn npy_raw_vti_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    for (i, vol) in volumes().iter().enumerate() {
        let p = dir.path().join(format!("v{i}.npy"));
        io::write_volume(&p, vol).unwrap();
        assert_eq!(
            io::read_volume(&p, &ReadOptions::default()).unwrap().data,
            vol.data
        );
        let p = dir.path().join(format!("v{i}.vti"));
        io::write_volume(&p, vol).unwrap();
        let r = io::read_volume(&p, &ReadOptions::default()).unwrap();
        assert_eq!(r.data, vol.data);
        assert_eq!(r.voxel.nm, vol.voxel.nm);
        for le in [true, false] {
            let p = dir.path().join(format!("v{i}_{le}.raw"));
            io::raw::write_raw(&p, vol, le).unwrap();
            let spec = io::RawSpec {
                shape: vol.shape(),
                sample: vol.sample_type(),
                little_endian: le,
                header_bytes: 0,
            };
            let r = io::read_volume(
                &p,
                &ReadOptions {
                    raw: Some(spec),
                    ..Default::default()
                },
            )
            .unwrap();
            assert_eq!(r.data, vol.data);
        }
    }
}

#[test]
fn folder_roundtrip_natural_order_range_crop() {
    let dir = tempfile::tempdir().unwrap();
    let vol = GreyVolume::from_u8(
        Array3::from_shape_fn((12, 6, 8), |(z, y, x)| (z * 10 + y + x) as u8),
        VoxelSize::new([10.0, 2.0, 2.0], VoxelSource::CommandLine),
    );
    // unpadded names so lexical order would be wrong
    for z in 0..12 {
        let one = io::slice_volume(&vol, z);
        io::tiff::write_tiff(
            &dir.path().join(format!("slice_{z}.tif")),
            &one,
            &Default::default(),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let r = io::read_volume(dir.path(), &ReadOptions::default()).unwrap();
    assert_eq!(r.data, vol.data);
    assert!(r.meta.warnings.iter().any(|w| w.contains("notes.txt")));
    let o = ReadOptions {
        slices: Some((2, 5)),
        crop: Some([1, 2, 3, 4]),
        ..Default::default()
    };
    let r = io::read_volume(dir.path(), &o).unwrap();
    match r.data {
        GreyData::U8(a) => {
            assert_eq!(a.shape(), &[3, 3, 4]);
            assert_eq!(a[[0, 0, 0]], 20 + 1 + 2);
        }
        _ => panic!("type"),
    }
    let o = ReadOptions {
        pattern: Some("slice_1*.tif".into()),
        ..Default::default()
    };
    let r = io::read_volume(dir.path(), &o).unwrap();
    assert_eq!(r.shape()[0], 3); // 1, 10, 11
}

#[test]
fn png_ortho_and_single_image() {
    let dir = tempfile::tempdir().unwrap();
    let vol = GreyVolume::from_u8(
        Array3::from_shape_fn((10, 20, 30), |(z, y, x)| ((z + y + x) % 256) as u8),
        VoxelSize::new([4.0, 1.0, 1.0], VoxelSource::CommandLine),
    );
    let p = dir.path().join("o.png");
    io::write_volume(&p, &vol).unwrap();
    let img = io::read_volume(&p, &ReadOptions::default()).unwrap();
    // xy 30 wide + gap 4 + yz 40 wide (10 slices × 4 nm at 1 nm/pixel); height 20 + 4 + 40
    assert_eq!(img.shape(), [1, 64, 74]);
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new("../shared/data").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} not found (shared data folder absent)",
            p.display()
        );
        None
    }
}

#[test]
fn real_fei_zeiss_thermo_metadata() {
    let cases: [(&str, f64, Option<usize>); 5] = [
        ("sem/FEI-Helios-Ebeam-8bits.tif", 3372.4, Some(442)),
        ("sem/FEI-Helios-Ebeam-16bits.tif", 3372.4, Some(442)),
        ("sem/test_tiff_Zeiss_SEM_512pix.tif", 5.825, None),
        ("sem/test_tiff_Zeiss_SEM_1k.tif", 2615.0, None),
        ("sem/thermo_helios_pfib_ion_image.tif", 97.6562, Some(1024)),
    ];
    for (rel, nm, rows) in cases {
        let Some(p) = shared(rel) else { return };
        let v = io::read_volume(&p, &ReadOptions::default()).unwrap();
        assert!(
            (v.voxel.dx() - nm).abs() / nm < 1e-4,
            "{rel}: {}",
            v.voxel.dx()
        );
        assert_eq!(v.voxel.source[2], VoxelSource::File);
        if let Some(r) = rows {
            assert_eq!(v.shape()[1], r, "{rel}");
        }
        assert_eq!(v.shape()[0], 1);
    }
    let Some(p) = shared("sem/thermo_helios_pfib_ion_image.tif") else {
        return;
    };
    let v = io::read_volume(&p, &ReadOptions::default()).unwrap();
    assert!((v.meta.stage_tilt_deg.unwrap() - 0.558473f64.to_degrees()).abs() < 1e-6);
    assert_eq!(v.meta.beam_voltage_v, Some(30000.0));
}

#[test]
fn real_navcam_without_scan_warns() {
    for rel in [
        "sem/FEI-Helios-navcam.tif",
        "sem/FEI-Helios-navcam-with-no-IRBeam.tif",
        "sem/FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif",
    ] {
        let Some(p) = shared(rel) else { return };
        let v = io::read_volume(&p, &ReadOptions::default()).unwrap();
        assert!(!v.voxel.is_calibrated());
        assert!(
            v.meta.warnings.iter().any(|w| w.contains("[Scan]")),
            "{rel}: {:?}",
            v.meta.warnings
        );
    }
    let Some(p) = shared("sem/FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif") else {
        return;
    };
    let v = io::read_volume(&p, &ReadOptions::default()).unwrap();
    assert!(
        v.meta.warnings.iter().any(|w| w.contains("notafloat")),
        "{:?}",
        v.meta.warnings
    );
}

#[test]
fn real_volumes_load() {
    let cases = [
        ("volumes/taufactor_electrode_256.tiff", [256, 256, 256]),
        ("volumes/puma_fiberform_100.tif", [100, 100, 100]),
        ("volumes/nrel_nmc_1_cal_cbd_bridge.tif", [251, 301, 301]),
        ("volumes/puma_small_weave_150.tif", [150, 150, 150]),
        ("sem/fib_crosssection_nacre_curtaining.tif", [1, 740, 1024]),
    ];
    for (rel, shape) in cases {
        let Some(p) = shared(rel) else { return };
        let v = io::read_volume(&p, &ReadOptions::default()).unwrap();
        assert_eq!(v.shape(), shape, "{rel}");
    }
    let Some(p) = shared("volumes/taufactor_electrode_256.tiff") else {
        return;
    };
    let l = io::read_labels(&p, &ReadOptions::default()).unwrap();
    assert_eq!(l.phases(), vec![0, 85, 170]);
    let n = l.data.len() as f64;
    assert!((l.count(0) as f64 / n - 0.449917).abs() < 1e-6);
}
