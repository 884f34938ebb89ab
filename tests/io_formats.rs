//! Readers of the containers labs have (palette TIFF with an Avizo BoundingBox, OME-TIFF, MRC,
//! AmiraMesh, HDF5, Zeiss Atlas 3D z positions) against files the peer libraries wrote
//! (`benches/compare/formats_peer.py` → `fixtures/peer/formats/`), our writers read back by the
//! peers (`fixtures/peer/formats_readback.json`), the acceptance CLI runs, and byte-mutation /
//! truncation loops over every new reader (never a panic).

use fibstack::io::{self, ReadOptions};
use fibstack::volume::{GreyData, GreyVolume, LabelVolume, VoxelSize, VoxelSource};
use ndarray::Array3;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn formats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/peer/formats")
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(formats_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn values(v: &GreyVolume) -> Vec<f64> {
    match &v.data {
        GreyData::U8(a) => a.iter().map(|&x| x as f64).collect(),
        GreyData::U16(a) => a.iter().map(|&x| x as f64).collect(),
        GreyData::F32(a) => a.iter().map(|&x| x as f64).collect(),
    }
}

fn opts_for(case: &serde_json::Value) -> ReadOptions {
    ReadOptions {
        length_unit_nm: case["voxel_unit"]
            .as_str()
            .map(|u| io::parse_length_unit(u).unwrap()),
        channel: case["channel"].as_u64().map(|c| c as usize),
        ..Default::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1e-12)
}

#[test]
fn peer_written_files_read_identically_with_their_voxel_size() {
    let exp = expected();
    let mut checked = 0;
    for case in exp["cases"].as_array().unwrap() {
        let name = case["file"].as_str().unwrap();
        if name.contains(".h5:") && !cfg!(feature = "hdf5") {
            continue;
        }
        let path = formats_dir().join(name);
        let vol = io::read_volume(&path, &opts_for(case)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(vol.shape().to_vec(), shape, "{name}: shape");
        let want: Vec<f64> = case["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        if case["dtype"].as_str().unwrap().starts_with("float") {
            // JSON carries the f32 values as decimal f64: compare at f32 precision
            let got: Vec<f32> = values(&vol).iter().map(|&v| v as f32).collect();
            let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
            assert_eq!(got, want, "{name}: values");
        } else {
            assert_eq!(values(&vol), want, "{name}: values");
        }
        for i in 0..3 {
            let w = case["voxel_nm"][i].as_f64().unwrap();
            assert_eq!(vol.voxel.source[i], VoxelSource::File, "{name}: axis {i}");
            assert!(
                close(vol.voxel.nm[i], w),
                "{name}: voxel {:?}, expected {w} on axis {i}",
                vol.voxel.nm
            );
            assert!(vol.meta.voxel_detail[i].is_some(), "{name}: no detail");
        }
        assert!(vol.meta.container.is_some(), "{name}: no container name");
        if let Some(o) = case["origin_nm"].as_array() {
            let got = vol.meta.origin_nm.expect("origin");
            for i in 0..3 {
                assert!(
                    close(got[i], o[i].as_f64().unwrap()),
                    "{name}: origin {got:?}"
                );
            }
        }
        if case["palette"].as_bool() == Some(true) {
            let p = vol.meta.palette.as_ref().expect("palette kept");
            if let Some(first) = case["colormap_first"].as_array() {
                for (i, c) in first.iter().enumerate() {
                    let c: Vec<u16> = c
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_u64().unwrap() as u16)
                        .collect();
                    assert_eq!(p[i].to_vec(), c, "{name}: colour {i}");
                }
            }
            // and as labels
            let l = io::read_labels(&path, &opts_for(case)).unwrap();
            assert_eq!(l.phases(), vec![0, 1, 2]);
        }
        checked += 1;
    }
    assert!(checked >= 18, "only {checked} cases checked");
}

#[test]
fn avizo_box_without_a_unit_is_not_guessed() {
    let p = formats_dir().join("palette_bbox_lzw.tif");
    let v = io::read_volume(&p, &ReadOptions::default()).unwrap();
    assert!(!v.voxel.is_calibrated());
    assert!(
        v.meta.warnings.iter().any(|w| w.contains("--voxel-unit")),
        "{:?}",
        v.meta.warnings
    );
    // the same box read in µm gives the peer's 50 nm slices; read in nm it would be a 0.05 nm
    // slice, which the plausibility check refuses to take as a calibration
    let read_in = |f: f64| {
        io::read_volume(
            &p,
            &ReadOptions {
                length_unit_nm: Some(f),
                ..Default::default()
            },
        )
        .unwrap()
    };
    assert!(close(read_in(1000.0).voxel.nm[0], 50.0));
    let nm = read_in(1.0);
    assert!(!nm.voxel.is_calibrated());
    assert!(
        nm.meta
            .warnings
            .iter()
            .any(|w| w.contains("0.05 nm") && w.contains("implausible")),
        "{:?}",
        nm.meta.warnings
    );
}

#[test]
fn avizo_box_convention_is_extent_over_n_minus_one_and_one_slice_takes_the_extent() {
    use fibstack::io::meta::bounding_box_voxel;
    // 11 voxels from 0 to 10 µm: centres 1 µm apart (not 10/11)
    assert_eq!(
        bounding_box_voxel([0.0, 10.0, 0.0, 10.0, 0.0, 10.0], [11, 11, 11]),
        [Some(1.0); 3]
    );
    // one slice: Amira sets the box extent to the voxel size
    assert_eq!(
        bounding_box_voxel([0.0, 4.0, 0.0, 4.0, 2.0, 2.5], [1, 5, 5]),
        [Some(0.5), Some(1.0), Some(1.0)]
    );
    // one slice with a zero extent: unknown, not zero
    assert_eq!(
        bounding_box_voxel([0.0, 4.0, 0.0, 4.0, 2.0, 2.0], [1, 5, 5])[0],
        None
    );
    // the same through a TIFF written here: 1 page, box z extent 30 nm
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("one.tif");
    let vol = GreyVolume::from_u8(Array3::from_elem((1, 4, 5), 3u8), VoxelSize::default());
    io::tiff::write_tiff(
        &p,
        &vol,
        &io::tiff::TiffWriteOptions {
            description: Some("BoundingBox 0 28 0 21 5 35\nUnits nm\n".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let r = io::read_volume(&p, &ReadOptions::default()).unwrap();
    assert_eq!(r.voxel.nm, [30.0, 7.0, 7.0]);
    assert!(r.meta.voxel_detail[0]
        .as_deref()
        .unwrap()
        .contains("one-voxel axis"));
}

#[test]
fn label_tiffs_are_palette_images_that_read_back_as_the_same_indices() {
    let d = tempfile::tempdir().unwrap();
    let l = Array3::from_shape_fn((3, 4, 5), |(z, y, x)| ((z + y + x) % 3) as u8);
    let lv = LabelVolume::new(
        l.clone(),
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    );
    let p = d.path().join("labels.tif");
    io::write_labels(&p, &lv).unwrap();
    let r = io::read_labels(&p, &ReadOptions::default()).unwrap();
    assert_eq!(r.data, l);
    assert_eq!(r.voxel.nm, [20.0, 5.0, 5.0]);
    let pal = r.meta.palette.clone().expect("a palette was written");
    assert_eq!(pal[0], [0, 0, 0]);
    assert_eq!(pal, io::tiff::label_palette());
    // a palette read from the file is written back unchanged
    let src = formats_dir().join("palette_bbox_lzw.tif");
    let o = ReadOptions {
        length_unit_nm: Some(1000.0),
        ..Default::default()
    };
    let a = io::read_labels(&src, &o).unwrap();
    let p2 = d.path().join("again.tif");
    io::write_labels(&p2, &a).unwrap();
    let b = io::read_labels(&p2, &ReadOptions::default()).unwrap();
    assert_eq!(b.data, a.data);
    assert_eq!(b.meta.palette, a.meta.palette);
    assert_eq!(b.voxel.nm, a.voxel.nm);
    // grey output stays grey
    let g = d.path().join("grey.tif");
    io::write_volume(&g, &lv.to_grey()).unwrap();
    let gv = io::read_volume(&g, &ReadOptions::default()).unwrap();
    assert!(gv.meta.palette.is_none());
}

#[test]
fn our_writers_round_trip_through_our_readers() {
    let d = tempfile::tempdir().unwrap();
    let vox = VoxelSize::new([30.0, 4.5, 4.5], VoxelSource::CommandLine);
    let vols = [
        GreyVolume::from_u8(
            Array3::from_shape_fn((3, 4, 5), |(z, y, x)| (z * 60 + y * 11 + x) as u8),
            vox,
        ),
        GreyVolume::from_u8(
            Array3::from_shape_fn((3, 4, 5), |(z, y, x)| (z * 20 + y * 3 + x) as u8),
            vox,
        ),
        GreyVolume::from_u16(
            Array3::from_shape_fn((2, 3, 4), |(z, y, x)| (z * 30000 + y * 100 + x) as u16),
            vox,
        ),
        GreyVolume::from_f32(
            Array3::from_shape_fn((2, 3, 4), |(z, y, x)| {
                z as f32 - 0.5 * y as f32 + 1e-3 * x as f32
            }),
            vox,
        ),
    ];
    for (i, v) in vols.iter().enumerate() {
        for ext in ["ome.tif", "mrc", "am"] {
            let p = d.path().join(format!("v{i}.{ext}"));
            io::write_volume(&p, v).unwrap();
            let r = io::read_volume(&p, &ReadOptions::default()).unwrap();
            assert_eq!(values(&r), values(v), "{ext} {i}");
            for k in 0..3 {
                assert!(
                    close(r.voxel.nm[k], vox.nm[k]),
                    "{ext} {i}: {:?}",
                    r.voxel.nm
                );
            }
        }
    }
}

#[test]
fn peers_read_our_outputs_identically() {
    // written by `formats_peer.py --readback target/release/fibstack`
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/peer/formats_readback.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let exp = expected();
    let res = v["results"].as_array().unwrap();
    assert!(res.len() >= 60, "{} results", res.len());
    for r in res {
        assert_eq!(r["ok"], true, "{r}");
        let src = r["source"].as_str().unwrap();
        let case = exp["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["file"] == src)
            .unwrap();
        if let Some(vox) = r["voxel_nm"].as_array() {
            for i in 0..3 {
                let (got, want) = (
                    vox[i].as_f64().unwrap(),
                    case["voxel_nm"][i].as_f64().unwrap(),
                );
                // MRC stores the cell as float32
                assert!(
                    (got - want).abs() <= 1e-6 * want,
                    "{src} → {}: {got} vs {want}",
                    r["output"]
                );
            }
        }
        if r["output"] == ".tif" && case["palette"] == true {
            assert_eq!(r["photometric"], 3, "{r}");
        }
    }
}

fn fib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

#[test]
fn porosity_and_tortuosity_run_on_an_avizo_palette_label_tiff() {
    let p = formats_dir().join("palette_bbox_lzw.tif");
    let p = p.to_str().unwrap();
    let out = fib(&["porosity", p, "--voxel-unit", "um", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = j.to_string();
    assert!(
        text.contains("50") && text.contains("10"),
        "voxel not in {text}"
    );
    let l = io::read_labels(
        Path::new(p),
        &ReadOptions {
            length_unit_nm: Some(1000.0),
            ..Default::default()
        },
    )
    .unwrap();
    let eps = l.count(0) as f64 / l.data.len() as f64;
    let found = serde_json::to_string(&j).unwrap();
    assert!(
        found.contains(&format!("{:.4}", eps)[..5]),
        "porosity {eps} not in {found}"
    );
    let out = fib(&[
        "tortuosity",
        p,
        "--voxel-unit",
        "um",
        "--phase",
        "0",
        "--method",
        "fd",
        "--axis",
        "z",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j.to_string().contains("tortuosity"), "{j}");
    // without the unit: refuses to guess, says how to fix
    let out = fib(&["info", p]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--voxel-unit"), "{err}");
}

#[test]
fn info_json_names_the_container_and_each_value_source() {
    let p = formats_dir().join("mrc_mode2_f32_ext.mrc");
    let out = fib(&["info", p.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j["container"].as_str().unwrap().starts_with("MRC mode 2"));
    assert!(j["container"]
        .as_str()
        .unwrap()
        .contains("256-byte extended header"));
    assert_eq!(j["voxel_size_detail"][2], "MRC cell a / MX = 80 Å / 4");
}

#[test]
fn convert_writes_every_new_format() {
    let d = tempfile::tempdir().unwrap();
    let src = formats_dir().join("ome_2ch_f32.ome.tif");
    let src = src.to_str().unwrap();
    // two channels: refused without --channel, with the fix in the message
    let out = fib(&["convert", src, d.path().join("x.mrc").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--channel"));
    for ext in ["mrc", "am", "ome.tif", "tif"] {
        let dst = d.path().join(format!("x.{ext}"));
        let out = fib(&[
            "-q",
            "convert",
            src,
            dst.to_str().unwrap(),
            "--channel",
            "1",
        ]);
        assert!(
            out.status.success(),
            "{ext}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = io::read_volume(&dst, &ReadOptions::default()).unwrap();
        assert_eq!(v.shape(), [3, 4, 5], "{ext}");
        assert!(close(v.voxel.dz(), 30.0), "{ext}: {:?}", v.voxel.nm);
    }
}

// ------------------------------------------------------------ bad and truncated files

/// Every truncation length (coarse steps past the first 2 KiB) and `flips` seeded random byte
/// changes of `bytes`, read as `name`: `Ok` or `Err`, never a panic. Returns the number of
/// errors met. Kept as a plain function so the fuzz suite can register it.
pub fn mutate_and_read(name: &str, bytes: &[u8], flips: usize, seed: u64) -> usize {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    let opts = ReadOptions {
        max_bytes: 64 << 20,
        length_unit_nm: Some(1000.0),
        channel: Some(0),
        ..Default::default()
    };
    let mut errors = 0;
    let mut try_read = |data: &[u8], what: &str| {
        std::fs::write(&p, data).unwrap();
        let r = std::panic::catch_unwind(|| io::read_volume(&p, &opts).map(|_| ()));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(
                    !msg.contains('\n'),
                    "{name} {what}: multi-line error {msg:?}"
                );
                assert!(
                    msg.contains(name),
                    "{name} {what}: error does not name the file: {msg}"
                );
                errors += 1;
            }
            Err(_) => panic!("{name}: reader panicked on {what}"),
        }
    };
    let n = bytes.len();
    let mut cut = 0;
    while cut < n {
        try_read(&bytes[..cut], &format!("truncation to {cut} bytes"));
        cut += if cut < 2048 {
            1.max(n / 200)
        } else {
            1.max(n / 50)
        };
    }
    let mut s = seed;
    for k in 0..flips {
        let mut m = bytes.to_vec();
        for _ in 0..1 + k % 4 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (s >> 33) as usize % n;
            m[i] ^= 1 << ((s >> 29) & 7);
        }
        try_read(&m, &format!("byte flips #{k}"));
    }
    errors
}

#[test]
fn mutated_and_truncated_files_of_every_new_kind_never_panic() {
    let mut names: Vec<String> = std::fs::read_dir(formats_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json") && (cfg!(feature = "hdf5") || !n.ends_with(".h5")))
        .collect();
    names.sort();
    assert!(names.len() >= 17);
    for (i, n) in names.iter().enumerate() {
        let bytes = std::fs::read(formats_dir().join(n)).unwrap();
        // libhdf5 (C) is not hardened against corrupted metadata: truncations only for HDF5
        let flips = if n.ends_with(".h5") { 0 } else { 150 };
        let errs = mutate_and_read(n, &bytes, flips, 1000 + i as u64);
        assert!(errs > 0, "{n}: no truncation was refused");
    }
}

#[test]
fn declared_sizes_beyond_the_file_are_refused_before_allocating() {
    let d = tempfile::tempdir().unwrap();
    // MRC header claiming 2^20 × 2^20 × 16 floats in a 1 KiB file
    let mut h = std::fs::read(formats_dir().join("mrc_mode2_f32_ext.mrc")).unwrap();
    h[0..4].copy_from_slice(&(1i32 << 20).to_le_bytes());
    h[4..8].copy_from_slice(&(1i32 << 20).to_le_bytes());
    let p = d.path().join("huge.mrc");
    std::fs::write(&p, &h).unwrap();
    let e = io::read_volume(&p, &ReadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    // AmiraMesh lattice of 10^4 × 10^4 × 10^3 bytes in a 350-byte file
    let mut am = std::fs::read(formats_dir().join("amira_uchar_le.am")).unwrap();
    let text = String::from_utf8_lossy(&am).into_owned();
    let i = text.find("define Lattice 5 4 3").unwrap();
    let new = b"define Lattice 10000 10000 1000";
    am.splice(i..i + "define Lattice 5 4 3".len(), new.iter().copied());
    let p = d.path().join("huge.am");
    std::fs::write(&p, &am).unwrap();
    let e = io::read_volume(
        &p,
        &ReadOptions {
            max_bytes: 1 << 40,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}

// ------------------------------------------------------------ Zeiss Atlas 3D

#[test]
fn atlas_z_positions_from_names_give_the_median_pitch_and_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let z = [5.9104, 5.9223, 5.9363, 5.9453, 5.9573];
    for (i, z) in z.iter().enumerate() {
        let v = GreyVolume::from_u8(Array3::from_elem((1, 3, 4), i as u8), VoxelSize::default());
        let p = d.path().join(format!("slice_{:05}_z={z}um.tif", 596 + i));
        io::tiff::write_tiff(&p, &v, &Default::default()).unwrap();
    }
    let v = io::read_volume(d.path(), &ReadOptions::default()).unwrap();
    // pitches 11.9, 14.0, 9.0, 12.0 nm: median 11.95
    assert!(close(v.voxel.dz(), 11.95), "{}", v.voxel.dz());
    assert_eq!(v.voxel.source[0], VoxelSource::File);
    assert!(
        v.meta.warnings.iter().any(|w| w.contains("not uniform")),
        "{:?}",
        v.meta.warnings
    );
    let zp = v.meta.z_positions_nm.unwrap();
    assert!(close(zp[0], 5910.4) && close(zp[4], 5957.3), "{zp:?}");
}

#[test]
fn real_atlas_stack_labels_give_z() {
    let dir = Path::new("../shared/data/stacks/shale_atlas3d");
    if !dir.exists() {
        eprintln!("skipped: {} not found (shared test data)", dir.display());
        return;
    }
    let o = ReadOptions {
        crop: Some([0, 0, 16, 16]),
        ..Default::default()
    };
    let v = io::read_volume(dir, &o).unwrap();
    let z = v.meta.z_positions_nm.clone().unwrap();
    assert_eq!(z.len(), 14);
    assert!(close(z[0], 5910.4) && close(z[13], 6058.2), "{z:?}");
    let st = io::meta::pitch_stats(&z).unwrap();
    assert!(st.min_nm >= 8.99 && st.max_nm <= 14.01, "{st:?}");
    assert!(close(v.voxel.dz(), st.median_nm));
    assert!(v.meta.warnings.iter().any(|w| w.contains("--resample-z")));
    // the streaming reader agrees
    let r = io::stream::SliceReader::open(dir, &o).unwrap();
    assert_eq!(r.voxel().nm, v.voxel.nm);
}

#[test]
fn geometry_resample_z_cli_gives_a_uniform_pitch_on_an_atlas_folder() {
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("atlas");
    std::fs::create_dir(&inp).unwrap();
    // ramp: value = z − 5900 nm (f32), positions with pitches 11.9, 14.0, 9.0, 12.0
    let z = [5910.4, 5922.3, 5936.3, 5945.3, 5957.3];
    for (i, zi) in z.iter().enumerate() {
        let v = GreyVolume::from_f32(
            Array3::from_elem((1, 4, 6), (zi - 5900.0) as f32),
            VoxelSize::default(),
        );
        let p = inp.join(format!("slice_{:05}_z={}um.tif", 596 + i, zi / 1000.0));
        io::tiff::write_tiff(&p, &v, &Default::default()).unwrap();
    }
    let out = d.path().join("uniform.tif");
    let o = fib(&[
        "-q",
        "geometry",
        inp.to_str().unwrap(),
        out.to_str().unwrap(),
        "--resample-z",
        "--no-stretch",
        "--no-shear",
        "--voxel",
        "_,5,5",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let pitch = j["resample_z"]["pitch_nm"].as_f64().unwrap();
    assert!(close(pitch, 11.95), "{j}");
    let r = io::read_volume(&out, &ReadOptions::default()).unwrap();
    assert!(close(r.voxel.dz(), 11.95));
    let GreyData::F32(a) = &r.data else {
        panic!("f32 expected")
    };
    assert_eq!(r.shape()[0], 4); // 46.9 nm / 11.95 → 0..3
    for k in 0..4 {
        let want = 10.4 + k as f64 * 11.95;
        assert!(
            (a[[k, 2, 3]] as f64 - want).abs() < 1e-3,
            "slice {k}: {}",
            a[[k, 2, 3]]
        );
    }
    // a workflow key of the same step
    let wf: fibstack::workflow::steps::pre::GeometryStep =
        toml::from_str("resample_z = true\nstretch = false").unwrap();
    assert!(wf.resample_z);
}

#[test]
fn uncompressed_stacks_have_contiguous_planes_as_imagej_reads_them() {
    // ImageJ (and tifffile) read an `images=N` stack as N planes back to back from the first
    // page's offset; a gap (an IFD between planes) shifts every later page
    use tiff::decoder::Decoder;
    use tiff::tags::Tag;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("stack.tif");
    let v = GreyVolume::from_u16(
        Array3::from_shape_fn((4, 3, 5), |(z, y, x)| (z * 100 + y * 10 + x) as u16),
        VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine),
    );
    io::write_volume(&p, &v).unwrap();
    let mut dec = Decoder::new(std::fs::File::open(&p).unwrap()).unwrap();
    let mut offsets = Vec::new();
    loop {
        offsets.push(dec.get_tag_u64_vec(Tag::StripOffsets).unwrap()[0]);
        if !dec.more_images() {
            break;
        }
        dec.next_image().unwrap();
    }
    let plane = 3 * 5 * 2;
    for k in 1..offsets.len() {
        assert_eq!(offsets[k], offsets[0] + k as u64 * plane, "{offsets:?}");
    }
    // and the same read the ImageJ way: contiguous from the first offset
    let bytes = std::fs::read(&p).unwrap();
    let o = offsets[0] as usize;
    let le = &bytes[..2] == b"II";
    let last = &bytes[o + 3 * plane as usize..o + 4 * plane as usize];
    let first_value = if le {
        u16::from_le_bytes([last[0], last[1]])
    } else {
        u16::from_be_bytes([last[0], last[1]])
    };
    assert_eq!(first_value, 300);
}

#[test]
fn streamed_stacks_do_not_claim_contiguous_planes() {
    // the streamed writer puts each page's IFD between the planes: an `images=N` description
    // would make ImageJ and tifffile read every page after the first from the wrong offset
    use fibstack::io::stream::SliceWriter;
    use tiff::decoder::Decoder;
    use tiff::tags::Tag;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("streamed.tif");
    let data = Array3::from_shape_fn((4, 3, 5), |(z, y, x)| (z * 100 + y * 10 + x) as u16);
    let voxel = VoxelSize::new([20.0, 5.0, 5.0], VoxelSource::CommandLine);
    let mut w = SliceWriter::create(
        &p,
        [4, 3, 5],
        fibstack::volume::SampleType::U16,
        voxel,
        Default::default(),
        &Default::default(),
    )
    .unwrap();
    w.write_slab(&GreyData::U16(
        data.slice(ndarray::s![0..2, .., ..]).to_owned(),
    ))
    .unwrap();
    w.write_slab(&GreyData::U16(
        data.slice(ndarray::s![2..4, .., ..]).to_owned(),
    ))
    .unwrap();
    w.finish().unwrap();
    let mut dec = Decoder::new(std::fs::File::open(&p).unwrap()).unwrap();
    let desc = dec.get_tag_ascii_string(Tag::ImageDescription).unwrap();
    let mut offsets = vec![dec.get_tag_u64_vec(Tag::StripOffsets).unwrap()[0]];
    while dec.more_images() {
        dec.next_image().unwrap();
        offsets.push(dec.get_tag_u64_vec(Tag::StripOffsets).unwrap()[0]);
    }
    let contiguous = offsets
        .windows(2)
        .all(|w| w[1] == w[0] + (3 * 5 * 2) as u64);
    assert!(
        contiguous || !desc.contains("images="),
        "non-contiguous planes {offsets:?} under a description claiming a stack: {desc:?}"
    );
    assert!(desc.contains("spacing=20"), "{desc:?}");
    let back = io::read_volume(&p, &ReadOptions::default()).unwrap();
    assert_eq!(back.data, GreyData::U16(data));
}
