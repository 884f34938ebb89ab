//! Every streaming driver equals the in-memory path on the same stack (folder and multi-page TIFF,
//! several sample types).

use super::*;
use crate::io::{read_volume, write_volume, ReadOptions};
use crate::preprocess::align::{align_volume, shift_bilinear};
use crate::preprocess::denoise::{gaussian_2d as g2d, gaussian_volume_as};
use crate::preprocess::geometry::geometry_volume;
use crate::progress::Silent;
use crate::segment::segment_volume;
use crate::volume::VoxelSource;
use ndarray::Array3;

/// A smooth random stack with curtains, drifting by known shifts, as u16 (and f32 / u8 copies).
pub(crate) fn test_stack(nz: usize, ny: usize, nx: usize, seed: u64) -> GreyVolume {
    let mut r = crate::rng::Rng::new(seed);
    let base = Array2::from_shape_fn((ny + 8, nx + 8), |_| r.below(1000) as f32);
    let base = g2d(base.view(), [2.0, 2.0], 4.0);
    let mut out = Array3::<u16>::zeros((nz, ny, nx));
    for z in 0..nz {
        let sh = shift_bilinear(base.view(), 0.7 * z as f64, -0.4 * z as f64, 0.0);
        for y in 0..ny {
            for x in 0..nx {
                let curtain = if x % 7 == 0 { 40.0 } else { 0.0 };
                out[[z, y, x]] =
                    (sh[[y + 4, x + 4]] * 30.0 + curtain + r.below(50) as f32).round() as u16;
            }
        }
    }
    GreyVolume::from_u16(
        out,
        VoxelSize::new([10.0, 5.0, 5.0], VoxelSource::CommandLine),
    )
}

fn as_type(v: &GreyVolume, st: SampleType) -> GreyVolume {
    let f = v.to_f32();
    GreyVolume {
        data: match st {
            SampleType::U16 => v.data.clone(),
            SampleType::U8 => GreyData::U8(f.mapv(|x| (x / 120.0).min(255.0) as u8)),
            SampleType::F32 => GreyData::F32(f.mapv(|x| x * 0.01 - 3.0)),
        },
        ..v.clone()
    }
}

/// Inputs: the stack as a folder and as a multi-page TIFF.
fn inputs(dir: &Path, v: &GreyVolume, tag: &str) -> Vec<std::path::PathBuf> {
    let folder = dir.join(format!("in_{tag}"));
    write_volume(&folder, v).unwrap();
    let tif = dir.join(format!("in_{tag}.tif"));
    write_volume(&tif, v).unwrap();
    vec![folder, tif]
}

fn open(p: &Path) -> SliceReader {
    SliceReader::open(p, &ReadOptions::default()).unwrap()
}

fn back(p: &Path) -> GreyVolume {
    read_volume(p, &ReadOptions::default()).unwrap()
}

#[test]
fn destripe_gaussian_tophat_stream_equal_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let v0 = test_stack(11, 24, 20, 1);
    for st in [SampleType::U16, SampleType::U8, SampleType::F32] {
        let v = as_type(&v0, st);
        for (i, inp) in inputs(dir.path(), &v, st.as_str()).iter().enumerate() {
            let vin = back(inp);
            // destripe (f32 output and native output): the default (VSNR in the material), the
            // wedge and the two-pass stack method (material-aware and plain)
            let stack_masked = DestripeParams {
                method: crate::preprocess::destripe::DestripeMethod::Stack,
                stack_window: 3,
                ..Default::default()
            };
            let stack = DestripeParams {
                method: crate::preprocess::destripe::DestripeMethod::Stack,
                stack_window: 3,
                stack_sigma_px: 4.0,
                material_aware: false,
                ..Default::default()
            };
            let wedge = DestripeParams {
                method: crate::preprocess::destripe::DestripeMethod::Wedge,
                material_aware: false,
                ..Default::default()
            };
            for (p, ot) in [
                (DestripeParams::default(), st),
                (DestripeParams::default(), SampleType::F32),
                (stack_masked.clone(), st),
                (stack_masked, SampleType::F32),
                (stack.clone(), st),
                (stack, SampleType::F32),
                (wedge, st),
            ] {
                let out = dir.path().join(format!(
                    "d_{:?}_{}_{}_{i}_{}.tif",
                    p.method,
                    p.material_aware,
                    st.as_str(),
                    ot.as_str()
                ));
                let rep = destripe(&mut open(inp), &out, &p, ot, &Silent).unwrap();
                let (want, wrep) = destripe_volume_as(&vin, &p, ot).unwrap();
                assert_eq!(back(&out).data, want.data);
                assert_eq!(rep, wrep);
            }
            // gaussian 2-D
            let gp = GaussianParams {
                sigma_nm: [0.0, 7.0, 9.0],
                dims: Dims::TwoD,
                truncate: 4.0,
                method: Default::default(),
            };
            let out = dir.path().join(format!("g_{}_{i}", st.as_str()));
            gaussian_2d(&mut open(inp), &out, &gp, st, &Silent).unwrap();
            assert_eq!(
                back(&out).data,
                gaussian_volume_as(&vin, &gp, st).unwrap().data
            );
            // the recursive fast path streams the same way
            let gr = GaussianParams {
                method: crate::preprocess::denoise::GaussianMethod::Recursive,
                ..gp
            };
            let out = dir.path().join(format!("gr_{}_{i}", st.as_str()));
            gaussian_2d(&mut open(inp), &out, &gr, st, &Silent).unwrap();
            assert_eq!(
                back(&out).data,
                gaussian_volume_as(&vin, &gr, st).unwrap().data
            );
            // top-hat 2-D, white and black
            for black in [false, true] {
                let tp = TophatParams {
                    radius_nm: 12.0,
                    black,
                    dims: Dims::TwoD,
                };
                let out = dir
                    .path()
                    .join(format!("t_{}_{i}_{black}.tif", st.as_str()));
                tophat_2d(&mut open(inp), &out, &tp, &Silent).unwrap();
                assert_eq!(back(&out).data, tophat_volume(&vin, &tp).unwrap().data);
            }
        }
    }
}

#[test]
fn segment_stream_equals_segment_volume() {
    let dir = tempfile::tempdir().unwrap();
    let v0 = test_stack(9, 20, 18, 2);
    for st in [SampleType::U16, SampleType::U8, SampleType::F32] {
        let v = as_type(&v0, st);
        let inp = &inputs(dir.path(), &v, st.as_str())[1];
        let vin = back(inp);
        let mid = {
            let f = vin.to_f32();
            let (lo, hi) = f.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |a, &x| {
                (a.0.min(x), a.1.max(x))
            });
            (lo as f64 + hi as f64) / 2.0
        };
        let cases = [
            SegmentParams {
                method: Method::Otsu,
                sensitivity: 3.0,
                ..Default::default()
            },
            SegmentParams {
                method: Method::Multiotsu,
                classes: 3,
                labels: Some(vec![0, 128, 255]),
                ..Default::default()
            },
            SegmentParams {
                method: Method::Manual,
                thresholds: vec![mid],
                sensitivity: 1.0,
                ..Default::default()
            },
        ];
        for (k, p) in cases.iter().enumerate() {
            let out = dir.path().join(format!("s_{}_{k}.tif", st.as_str()));
            let r = segment(&mut open(inp), &out, p, &Silent).unwrap();
            let (lv, want) = segment_volume(&vin, p).unwrap();
            assert_eq!(r, want, "{} case {k}", st.as_str());
            assert_eq!(back(&out).data, GreyData::U8(lv.data));
        }
    }
}

#[test]
fn align_and_geometry_stream_equal_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let v = test_stack(13, 32, 30, 3);
    for (i, inp) in inputs(dir.path(), &v, "a").iter().enumerate() {
        let vin = back(inp);
        for params in [
            AlignParams::default(),
            AlignParams {
                mode: crate::preprocess::align::AlignMode::Template,
                boundary: crate::preprocess::align::Boundary::Pad,
                ..Default::default()
            },
        ] {
            let out = dir.path().join(format!("al_{i}.tif"));
            let (rep, _) = align(open(inp), &out, &params, &Silent).unwrap();
            let (want, wrep) = align_volume(&vin, &params, &Silent).unwrap();
            assert_eq!(rep, wrep);
            assert_eq!(back(&out).data, want.data);
        }
        let gp = GeometryParams::default();
        let out = dir.path().join(format!("ge_{i}"));
        let (rep, vox) = geometry(&mut open(inp), &out, &gp, &Silent).unwrap();
        let (want, wrep) = geometry_volume(&vin, &gp).unwrap();
        assert_eq!(rep, wrep);
        assert_eq!(vox, want.voxel);
        let got = back(&out);
        assert_eq!(got.data, want.data);
    }
}

#[test]
fn stream_source_rewinds_for_requests_behind_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let v = test_stack(9, 8, 8, 4);
    let inp = &inputs(dir.path(), &v, "w")[1];
    let src = StreamSource::new(open(inp), 2).unwrap();
    for k in [0usize, 5, 6, 1, 8, 0, 3] {
        let want = slab_slice_f32(&v.data, k);
        assert_eq!(src.slice(k).to_owned(), want, "slice {k}");
    }
    assert!(src.into_reader().is_ok());
}
