//! Zarr / OME-Zarr (feature `zarr`): stores zarr-python 2 and 3 wrote (`fixtures/zarr/make.py`)
//! read with their values and voxel sizes, fibstack's writer read back by fibstack and by
//! zarr-python (`fixtures/zarr/readback.py`, skipped without a Python with zarr), units missing or
//! unknown → uncalibrated, bad stores → one-line errors, the CLI (`info`, `convert`) and a
//! workflow reading a `.zarr` input and writing a `.zarr` output.
//! Without the feature: a `.zarr` path gives the error naming the feature.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/zarr")
        .join(name)
}

fn fib(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run fibstack")
}

#[cfg(not(feature = "zarr"))]
#[test]
fn without_the_feature_a_zarr_path_names_the_feature() {
    let e = fibstack::io::read_volume(&fixture("ome04_u16.zarr"), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--features zarr"), "{e}");
    let o = fib(&["info", "fixtures/zarr/ome04_u16.zarr"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--features zarr"), "{err}");
}

#[cfg(feature = "zarr")]
mod with_zarr {
    use super::*;
    use fibstack::io::zarr::{read_zarr, write_zarr, ZarrWriteOptions};
    use fibstack::io::{self, ReadOptions};
    use fibstack::volume::{GreyData, GreyVolume, VoxelSize, VoxelSource};
    use ndarray::Array3;

    /// The values of `value()` in fixtures/zarr/make.py.
    fn value_u8(s: [usize; 3]) -> Array3<u8> {
        Array3::from_shape_fn((s[0], s[1], s[2]), |(z, y, x)| {
            ((z * 37 + y * 11 + x * 3) % 251) as u8
        })
    }
    fn value_u16(s: [usize; 3]) -> Array3<u16> {
        Array3::from_shape_fn((s[0], s[1], s[2]), |(z, y, x)| {
            (z * 1000 + y * 30 + x) as u16
        })
    }
    fn value_i16(s: [usize; 3]) -> Array3<f32> {
        Array3::from_shape_fn((s[0], s[1], s[2]), |(z, y, x)| {
            (z as i32 * 40 + y as i32 * 7 - x as i32 * 5) as f32
        })
    }
    fn value_f32(s: [usize; 3]) -> Array3<f32> {
        Array3::from_shape_fn((s[0], s[1], s[2]), |(z, y, x)| {
            z as f32 + y as f32 * 0.5 + x as f32 * 0.25
        })
    }

    fn read(name: &str) -> GreyVolume {
        read_zarr(&fixture(name), &ReadOptions::default()).unwrap()
    }

    fn assert_voxel(v: &GreyVolume, nm: [Option<f64>; 3]) {
        for (k, want) in nm.iter().enumerate() {
            match *want {
                Some(x) => {
                    assert_eq!(
                        v.voxel.source[k],
                        VoxelSource::File,
                        "axis {k}: {:?}",
                        v.voxel
                    );
                    assert!(
                        (v.voxel.nm[k] - x).abs() < 1e-9 * x,
                        "axis {k}: {:?}",
                        v.voxel
                    );
                }
                None => assert_eq!(v.voxel.source[k], VoxelSource::Default, "axis {k}"),
            }
        }
    }

    #[test]
    fn zarr_python_2_stores_read_with_values_and_voxel() {
        // OME-Zarr 0.4, blosc, level 0 of two, micrometer
        let v = read("ome04_u16.zarr");
        assert_eq!(v.data, GreyData::U16(value_u16([5, 6, 7])));
        assert_voxel(&v, [Some(20.0), Some(5.0), Some(4.0)]);
        // through io::read_volume (dispatch on the folder) the same
        let w = io::read_volume(&fixture("ome04_u16.zarr"), &ReadOptions::default()).unwrap();
        assert_eq!(w.data, v.data);
        // axes without units: the scale is not used, uncalibrated, with a note per axis
        let v = read("ome04_nounit_f32.zarr");
        assert_eq!(v.data, GreyData::F32(value_f32([3, 4, 5])));
        assert_voxel(&v, [None, None, None]);
        assert!(v.meta.warnings.iter().any(|w| w.contains("no unit")));
        // a plain array, zlib, partial edge chunks: values, uncalibrated
        let v = read("plain_v2_u8.zarr");
        assert_eq!(v.data, GreyData::U8(value_u8([4, 9, 10])));
        assert_voxel(&v, [None, None, None]);
    }

    #[test]
    fn zarr_python_3_stores_read_with_values_and_voxel() {
        // OME-Zarr 0.5: c axis of one channel dropped; zstd; angstrom; the multiscale scale
        // (z × 2) multiplies the level's
        let v = read("ome05_f32.zarr");
        assert_eq!(v.data, GreyData::F32(value_f32([4, 5, 6])));
        assert_voxel(&v, [Some(20.0), Some(5.0), Some(5.0)]);
        assert!(v.meta.container.as_deref().unwrap().contains("Zarr v3"));
        // sharded int16 with negative values: exact as float; z unit "pixel" → dz unknown
        let v = read("ome05_sharded_i16.zarr");
        assert_eq!(v.data, GreyData::F32(value_i16([6, 8, 8])));
        assert_voxel(&v, [None, Some(3.0), Some(3.0)]);
        assert!(v.meta.warnings.iter().any(|w| w.contains("\"pixel\"")));
        let v = read("plain_v3_u8.zarr");
        assert_eq!(v.data, GreyData::U8(value_u8([3, 4, 5])));
    }

    #[test]
    fn slice_range_crop_and_channel_read_the_part() {
        let full = read("ome04_u16.zarr");
        let GreyData::U16(a) = &full.data else {
            panic!()
        };
        let opts = ReadOptions {
            slices: Some((1, 4)),
            crop: Some([2, 1, 3, 5]),
            ..Default::default()
        };
        let v = read_zarr(&fixture("ome04_u16.zarr"), &opts).unwrap();
        assert_eq!(
            v.data,
            GreyData::U16(a.slice(ndarray::s![1..4, 2..5, 1..6]).to_owned())
        );
        for bad in [
            ReadOptions {
                slices: Some((2, 9)),
                ..Default::default()
            },
            ReadOptions {
                crop: Some([0, 0, 7, 7]),
                ..Default::default()
            },
        ] {
            let e = read_zarr(&fixture("ome04_u16.zarr"), &bad).unwrap_err();
            assert!(e.to_string().contains("ome04_u16.zarr"), "{e}");
        }
        // the channel axis has one entry: --channel 0 is fine, 1 is refused with the range
        let ch = |c| ReadOptions {
            channel: Some(c),
            ..Default::default()
        };
        read_zarr(&fixture("ome05_f32.zarr"), &ch(0)).unwrap();
        let e = read_zarr(&fixture("ome05_f32.zarr"), &ch(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--channel 1") && e.contains("0..0"), "{e}");
        // a memory limit below the array: refused before reading
        let small = ReadOptions {
            max_bytes: 100,
            ..Default::default()
        };
        let e = read_zarr(&fixture("ome04_u16.zarr"), &small)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--max-memory"), "{e}");
    }

    #[test]
    fn the_streaming_reader_reads_slabs_equal_to_the_whole() {
        use fibstack::io::stream::SliceReader;
        for name in [
            "ome04_u16.zarr",
            "ome05_f32.zarr",
            "plain_v2_u8.zarr",
            "ome05_sharded_i16.zarr",
        ] {
            let whole = read(name);
            let opts = ReadOptions {
                slices: Some((1, usize::MAX)),
                ..Default::default()
            };
            let part = read_zarr(&fixture(name), &opts).unwrap();
            let mut r = SliceReader::open(&fixture(name), &opts).unwrap();
            // integers narrowed after reading every value are held whole
            assert_eq!(r.is_streaming(), name != "ome05_sharded_i16.zarr", "{name}");
            assert_eq!(r.voxel(), whole.voxel, "{name}");
            let mut parts = Vec::new();
            while let Some(v) = r.next_slab(2).unwrap() {
                assert!(v.shape()[0] <= 2);
                parts.push(v.data);
            }
            let got = io::stream::concat(&fixture(name), &parts).unwrap();
            assert_eq!(got, part.data, "{name}");
            r.rewind().unwrap();
            assert_eq!(r.read_rest().unwrap().data, part.data, "{name}");
        }
        // a slab fits a memory limit the whole image does not
        let small = ReadOptions {
            max_bytes: 2 * 6 * 7 * 2,
            ..Default::default()
        };
        assert!(read_zarr(&fixture("ome04_u16.zarr"), &small).is_err());
        let mut r = SliceReader::open(&fixture("ome04_u16.zarr"), &small).unwrap();
        assert_eq!(r.next_slab(2).unwrap().unwrap().shape(), [2, 6, 7]);
    }

    #[test]
    fn the_streaming_writer_writes_slabs_into_chunks() {
        use fibstack::io::stream::SliceWriter;
        let d = tempfile::tempdir().unwrap();
        for (i, v) in sample_volumes().into_iter().enumerate() {
            let p = d.path().join(format!("s{i}.zarr"));
            let mut w = SliceWriter::create(
                &p,
                v.shape(),
                v.sample_type(),
                v.voxel,
                Default::default(),
                &Default::default(),
            )
            .unwrap();
            // slabs of 2 slices: chunks (the whole small volume) filled by several slabs
            let nz = v.shape()[0];
            for z in (0..nz).step_by(2) {
                let e = (z + 2).min(nz);
                let slab = match &v.data {
                    GreyData::U8(a) => GreyData::U8(a.slice(ndarray::s![z..e, .., ..]).to_owned()),
                    GreyData::U16(a) => {
                        GreyData::U16(a.slice(ndarray::s![z..e, .., ..]).to_owned())
                    }
                    GreyData::F32(a) => {
                        GreyData::F32(a.slice(ndarray::s![z..e, .., ..]).to_owned())
                    }
                };
                w.write_slab(&slab).unwrap();
                assert!(!p.exists(), "the store appears only when finished");
            }
            w.finish().unwrap();
            let back = read_zarr(&p, &ReadOptions::default()).unwrap();
            assert_eq!(back.data, v.data, "volume {i}");
            assert_eq!(back.voxel.source, v.voxel.source, "volume {i}");
        }
        // unfinished: nothing is left behind
        let p = d.path().join("unfinished.zarr");
        let v = &sample_volumes()[0];
        let mut w = SliceWriter::create(
            &p,
            v.shape(),
            v.sample_type(),
            v.voxel,
            Default::default(),
            &Default::default(),
        )
        .unwrap();
        let GreyData::U8(a) = &v.data else { panic!() };
        w.write_slab(&GreyData::U8(a.slice(ndarray::s![0..1, .., ..]).to_owned()))
            .unwrap();
        assert!(w.finish().is_err());
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("unfinished"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    fn sample_volumes() -> Vec<GreyVolume> {
        let cal = VoxelSize::new([20.0, 5.0, 4.5], VoxelSource::File);
        let mut no_dz = VoxelSize::new([1.0, 3.0, 3.0], VoxelSource::File);
        no_dz.source[0] = VoxelSource::Default;
        vec![
            GreyVolume::from_u8(value_u8([7, 5, 6]), cal),
            GreyVolume::from_u16(value_u16([5, 4, 3]), no_dz),
            GreyVolume::from_f32(value_f32([3, 2, 8]), VoxelSize::default()),
        ]
    }

    #[test]
    fn round_trip_is_identical_for_every_chunking() {
        let d = tempfile::tempdir().unwrap();
        for (i, v) in sample_volumes().into_iter().enumerate() {
            for per in [None, Some(1), Some(2), Some(3), Some(100)] {
                let p = d.path().join(format!("v{i}.zarr"));
                write_zarr(
                    &p,
                    &v,
                    &ZarrWriteOptions {
                        slices_per_chunk: per,
                    },
                )
                .unwrap();
                let back = read_zarr(&p, &ReadOptions::default()).unwrap();
                assert_eq!(back.data, v.data, "volume {i}, chunks {per:?}");
                assert_eq!(back.voxel.source, v.voxel.source, "volume {i}");
                for k in 0..3 {
                    if v.voxel.source[k] != VoxelSource::Default {
                        assert_eq!(back.voxel.nm[k], v.voxel.nm[k]);
                    }
                }
                // one chunk per slab of `per` slices, along z only
                let nz = v.shape()[0];
                let per_eff = per.unwrap_or(nz).min(nz);
                let chunks = std::fs::read_dir(p.join("0"))
                    .unwrap()
                    .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy() != ".zarray");
                assert_eq!(chunks.count(), nz.div_ceil(per_eff), "volume {i}, {per:?}");
                // nothing but the store is left beside it
                let others: Vec<_> = std::fs::read_dir(d.path())
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('v'))
                    .collect();
                assert!(others.is_empty(), "{others:?}");
            }
        }
    }

    #[test]
    fn an_existing_folder_is_replaced_only_when_it_is_a_store() {
        let d = tempfile::tempdir().unwrap();
        let v = &sample_volumes()[0];
        let p = d.path().join("out.zarr");
        io::write_volume(&p, v).unwrap();
        io::write_volume(&p, &sample_volumes()[1]).unwrap(); // a store: replaced whole
        let back = io::read_volume(&p, &ReadOptions::default()).unwrap();
        assert_eq!(back.data, sample_volumes()[1].data);
        let other = d.path().join("notes.zarr");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("notes.txt"), "keep").unwrap();
        let e = io::write_volume(&other, v).unwrap_err().to_string();
        assert!(e.contains("not a Zarr store"), "{e}");
        assert!(other.join("notes.txt").exists());
    }

    #[test]
    fn fibstack_stores_read_back_by_zarr_python() {
        let py = std::env::var("FIBSTACK_ZARR_PYTHON").unwrap_or_else(|_| "python3".into());
        let has_zarr = Command::new(&py)
            .args(["-c", "import zarr, numpy"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_zarr {
            eprintln!("skipped: no Python with zarr ({py}); set FIBSTACK_ZARR_PYTHON to one");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        for (i, v) in sample_volumes().into_iter().enumerate() {
            let p = d.path().join(format!("v{i}.zarr"));
            write_zarr(
                &p,
                &v,
                &ZarrWriteOptions {
                    slices_per_chunk: Some(2),
                },
            )
            .unwrap();
            let s = v.shape();
            let dtype = match v.data {
                GreyData::U8(_) => "u1",
                GreyData::U16(_) => "u2",
                GreyData::F32(_) => "f4",
            };
            let vox: Vec<String> = (0..3)
                .map(|k| match v.voxel.source[k] {
                    VoxelSource::Default => "-".to_string(),
                    _ => v.voxel.nm[k].to_string(),
                })
                .collect();
            let o = Command::new(&py)
                .arg(fixture("readback.py"))
                .arg(&p)
                .arg(dtype)
                .args(s.iter().map(|n| n.to_string()))
                .args(&vox)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "volume {i}: {} {}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }

    /// A copy of a fixture store in a temporary folder.
    fn copy_store(name: &str, to: &Path) -> PathBuf {
        fn cp(a: &Path, b: &Path) {
            std::fs::create_dir_all(b).unwrap();
            for e in std::fs::read_dir(a).unwrap() {
                let e = e.unwrap();
                let t = b.join(e.file_name());
                if e.path().is_dir() {
                    cp(&e.path(), &t);
                } else {
                    std::fs::copy(e.path(), t).unwrap();
                }
            }
        }
        let dst = to.join(name);
        cp(&fixture(name), &dst);
        dst
    }

    fn one_line_error(p: &Path, needle: &str) {
        let e = io::read_volume(p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains(needle), "{needle:?} not in {e}");
    }

    #[test]
    fn bad_stores_give_one_line_errors_naming_the_file() {
        one_line_error(&fixture("corrupt_meta.zarr"), "corrupt_meta.zarr/.zarray");
        one_line_error(
            &fixture("complex_v2.zarr"),
            "unsupported sample format Zarr <c8",
        );
        let d = tempfile::tempdir().unwrap();
        // a codec this build does not read
        let p = copy_store("plain_v2_u8.zarr", d.path());
        let z = std::fs::read_to_string(p.join(".zarray")).unwrap();
        std::fs::write(p.join(".zarray"), z.replace("\"zlib\"", "\"lzma\"")).unwrap();
        one_line_error(&p, "lzma");
        // a group without OME metadata
        let g = d.path().join("group.zarr");
        std::fs::create_dir(&g).unwrap();
        std::fs::write(g.join(".zgroup"), r#"{"zarr_format": 2}"#).unwrap();
        one_line_error(&g, "store.zarr/0");
        // multiscales pointing to a missing level
        let p = copy_store("ome04_u16.zarr", d.path());
        std::fs::remove_dir_all(p.join("0")).unwrap();
        one_line_error(&p, "ome04_u16.zarr/0");
        // axes that do not match the array
        let p = copy_store("ome05_f32.zarr", d.path());
        let mut z: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("zarr.json")).unwrap()).unwrap();
        z["attributes"]["ome"]["multiscales"][0]["axes"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        std::fs::write(p.join("zarr.json"), z.to_string()).unwrap();
        one_line_error(&p, "axes");
        // a damaged chunk
        let p = copy_store("ome04_u16.zarr", d.path().join("c").as_path());
        std::fs::write(p.join("0/0/0/0"), b"not blosc").unwrap();
        one_line_error(&p, "ome04_u16.zarr");
    }

    #[test]
    fn byte_mutations_of_metadata_and_chunks_never_panic() {
        let d = tempfile::tempdir().unwrap();
        let p = copy_store("ome04_u16.zarr", d.path());
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for file in [".zattrs", "0/.zarray", "0/0/0/0"] {
            let orig = std::fs::read(p.join(file)).unwrap();
            for _ in 0..60 {
                let mut b = orig.clone();
                let cut = next() % 4 == 0;
                if cut {
                    b.truncate((next() as usize) % b.len());
                } else {
                    for _ in 0..1 + next() % 3 {
                        let i = (next() as usize) % b.len();
                        b[i] = next() as u8;
                    }
                }
                std::fs::write(p.join(file), &b).unwrap();
                let _ = io::read_volume(&p, &ReadOptions::default());
            }
            std::fs::write(p.join(file), &orig).unwrap();
        }
    }

    #[test]
    fn cli_info_and_convert() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out.zarr");
        let o = fib(&[
            "convert",
            "fixtures/zarr/ome05_f32.zarr",
            out.to_str().unwrap(),
            "--chunk-slices",
            "3",
            "-q",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = fib(&["info", out.to_str().unwrap(), "--json", "-q"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["shape"], serde_json::json!([4, 5, 6]));
        assert_eq!(j["voxel_size_nm"], serde_json::json!([20.0, 5.0, 5.0]));
        let back = read_zarr(&out, &ReadOptions::default()).unwrap();
        assert_eq!(back.data, GreyData::F32(value_f32([4, 5, 6])));
        // .zarr → TIFF → .zarr keeps values and voxel
        let tif = d.path().join("x.tif");
        let again = d.path().join("again.zarr");
        for (a, b) in [(&out, &tif), (&tif, &again)] {
            let o = fib(&["convert", a.to_str().unwrap(), b.to_str().unwrap(), "-q"]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let v = read_zarr(&again, &ReadOptions::default()).unwrap();
        assert_eq!(v.data, back.data);
        assert_eq!(v.voxel.nm, back.voxel.nm);
        // option misuse
        let o = fib(&[
            "convert",
            out.to_str().unwrap(),
            tif.to_str().unwrap(),
            "--chunk-slices",
            "2",
        ]);
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains(".zarr outputs only"));
    }

    #[test]
    fn a_streamed_command_writes_the_same_zarr_as_the_in_memory_writer() {
        let d = tempfile::tempdir().unwrap();
        let z = d.path().join("d.zarr");
        let n = d.path().join("d.npy");
        for out in [&z, &n] {
            let o = fib(&[
                "denoise",
                "fixtures/zarr/ome04_u16.zarr",
                out.to_str().unwrap(),
                "--sigma",
                "5",
                "-q",
            ]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let a = read_zarr(&z, &ReadOptions::default()).unwrap();
        let b = io::read_volume(&n, &ReadOptions::default()).unwrap();
        assert_eq!(a.data, b.data);
        assert_eq!(a.voxel.nm, [20.0, 5.0, 4.0]);
        assert_ne!(
            a.data,
            read("ome04_u16.zarr").data,
            "denoise changed nothing"
        );
    }

    #[test]
    fn workflow_reads_a_zarr_input_and_writes_a_zarr_output() {
        let d = tempfile::tempdir().unwrap();
        let wf = d.path().join("wf.toml");
        std::fs::write(
            &wf,
            format!(
                "output = \"out\"\nseed = 1\n\n[input]\npath = \"{}\"\n\n[[steps]]\nkind = \"convert\"\npath = \"copy.zarr\"\n",
                fixture("ome04_u16.zarr").display()
            ),
        )
        .unwrap();
        let o = fib(&["run", wf.to_str().unwrap(), "-q"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = read_zarr(&d.path().join("out/copy.zarr"), &ReadOptions::default()).unwrap();
        assert_eq!(v.data, GreyData::U16(value_u16([5, 6, 7])));
        assert_eq!(v.voxel.nm, [20.0, 5.0, 4.0]);
    }
}
