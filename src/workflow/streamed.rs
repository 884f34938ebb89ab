//! The streamed start of a chain ([`super::plan::Mode::Streamed`]): the input is read slab by
//! slab, the grey steps before `segment` (align, geometry, destripe, 2-D denoise, 2-D top-hat) run on each
//! slab, and `segment` labels the result, so only the label volume is ever held whole. The later
//! steps then run on the labels as in a whole-volume run.
//!
//! Every number equals the whole-volume run: the per-slice filters give the same values slab by
//! slab, the alignment is the streamed two-pass estimate of [`crate::stream`], and the
//! segmentation is [`crate::stream::segment_slabs`]. The results are built by the steps' own
//! functions ([`super::steps::pre::AlignStep::output`], [`super::steps::filters::Denoise::result`],
//! …), so `results.json` holds the same entries.
//!
//! Passes over the data: the drift estimate (with `align`), then one filter pass that writes the
//! filtered stack to a scratch multi-page TIFF in the output folder (removed afterwards), then the
//! segmentation's passes over that file (histogram when the method needs one, labels).

use super::plan::Plan;
use super::provenance::{input_read_options, sha256_file, InputFile};
use super::schema::{InputSpec, Workflow};
use super::steps::filters::{destripe_result, out_type, segment_result};
use super::steps::pre::GeometryOutput;
use super::steps::StepSpec;
use super::{Context, StepResult};
use crate::error::Error;
use crate::io::stream::{SliceReader, SliceWriter};
use crate::io::tiff::TiffWriteOptions;
use crate::io::{self, ReadOptions};
use crate::preprocess::align::{apply_shifts_slab, make_report, AlignParams, CropRegion};
use crate::preprocess::denoise::{gaussian_volume_as, GaussianParams};
use crate::preprocess::destripe::{destripe_report, destripe_volume_as, DestripeParams};
use crate::preprocess::geometry::{geometry_plan, GeometryPlan};
use crate::preprocess::tophat::{tophat_volume, TophatParams};
use crate::segment::corrected::CorrectionReports;
use crate::stream::slab_len;
use crate::volume::{GreyData, LabelVolume, SampleType, VoxelSize, VoxelSource};
use ndarray::{s, Array3};
use std::path::PathBuf;
use std::time::Instant;

/// What the streamed start hands back to the runner.
pub(crate) struct Started {
    /// The input files (for provenance).
    pub inputs: Vec<InputFile>,
    /// The reader's remarks.
    pub warnings: Vec<String>,
    /// Shape of the input.
    pub shape: [usize; 3],
    /// Voxel size of the input (after the workflow's calibration).
    pub voxel: VoxelSize,
    /// Results and seconds of each streamed step, in order.
    pub done: Vec<(Option<StepResult>, f64)>,
}

/// One per-slab operation of the filter pass.
enum Op {
    Shift {
        shifts: Vec<[f64; 2]>,
        region: CropRegion,
        p: AlignParams,
    },
    Destripe {
        p: DestripeParams,
        st: SampleType,
        nx: usize,
        fractions: Vec<f64>,
    },
    Gauss {
        p: GaussianParams,
        st: SampleType,
    },
    Tophat {
        p: TophatParams,
    },
    Geometry(Box<GeometryPlan>),
}

/// Removes the scratch file however the run ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Run the first `plan.streamed_steps` steps of `steps` on `inp` slab by slab, leaving the label
/// volume in `ctx.labels` (and no grey volume).
pub(crate) fn run_streamed(
    wf: &Workflow,
    inp: &InputSpec,
    steps: &[StepSpec],
    plan: &Plan,
    ctx: &mut Context,
) -> Result<Started, Error> {
    let path = wf.resolve(&inp.path);
    let opts = input_read_options(wf, inp, &path)?;
    let mut reader = SliceReader::open(&path, &opts)?;
    if inp.voxel_nm.is_some() || inp.slice_thickness_nm.is_some() {
        let v = reader
            .voxel()
            .given(inp.voxel_nm, inp.slice_thickness_nm, VoxelSource::Workflow);
        reader.set_voxel(v);
        let nz = reader.shape()[0];
        io::refresh_calibration_warnings(&v, nz, &mut reader.meta_mut().warnings);
    }
    let meta = reader.meta().clone();
    let mut inputs = Vec::new();
    for f in &meta.source_files {
        let (bytes, sha256) = sha256_file(f)?;
        inputs.push(InputFile {
            path: f.clone(),
            bytes,
            sha256,
        });
    }
    let shape0 = reader.shape();
    let voxel0 = reader.voxel();
    // the voxel size of the data at the current step (geometry stretches y)
    let mut voxel = voxel0;
    let k = plan.streamed_steps;
    let mut done: Vec<(Option<StepResult>, f64)> = (0..k).map(|_| (None, 0.0)).collect();
    let mut shape = shape0;
    let mut st = reader.sample_type();
    let mut ops: Vec<(usize, Op)> = Vec::new();
    let mut seg = None;
    for (i, step) in steps[..k].iter().enumerate() {
        let t = Instant::now();
        match step {
            StepSpec::Passthrough(_) => {}
            StepSpec::Align(a) => {
                let p = a.params()?;
                let (
                    crate::stream::DriftPass {
                        estimate: est,
                        shifts,
                        region,
                    },
                    r,
                ) = crate::stream::drift_pass(reader, &p, ctx.progress)?;
                reader = r;
                let out_shape = [shape[0], region.height, region.width];
                let report = make_report(&p, shape, out_shape, region, est);
                let out = a.output(ctx, report, &voxel)?;
                done[i].0 = Some(StepResult::Other(
                    serde_json::to_value(&out).map_err(|e| Error::json("align results", e))?,
                ));
                ops.push((i, Op::Shift { shifts, region, p }));
                shape = out_shape;
            }
            StepSpec::Geometry(gs) => {
                let p = gs.params()?;
                let source = gs.thickness_source(&voxel, &meta);
                let gp = geometry_plan(shape, voxel, meta.slice_thickness_nm, &p)?;
                let out = GeometryOutput::new(
                    gp.report.clone(),
                    p.theta_deg,
                    meta.stage_tilt_deg,
                    source,
                );
                ctx.warnings
                    .extend(out.warnings.iter().map(|w| format!("geometry: {w}")));
                done[i].0 = Some(StepResult::Other(
                    serde_json::to_value(&out).map_err(|e| Error::json("geometry results", e))?,
                ));
                shape = [shape[0], gp.rows(), shape[2]];
                voxel = gp.voxel_out;
                ops.push((i, Op::Geometry(Box::new(gp))));
            }
            StepSpec::Destripe(d) => {
                let p = d.params()?;
                st = out_type(&d.output_type, st);
                ops.push((
                    i,
                    Op::Destripe {
                        p,
                        st,
                        nx: shape[2],
                        fractions: Vec::with_capacity(shape[0]),
                    },
                ));
            }
            StepSpec::Denoise(d) => {
                let p = d.params()?;
                let sv = p.sigma_vox_for(&voxel, shape)?;
                done[i].0 = Some(StepResult::Other(d.result(&p, sv)));
                st = out_type(&d.output_type, st);
                ops.push((i, Op::Gauss { p, st }));
            }
            StepSpec::Tophat(tp) => {
                let p = tp.params()?;
                let n = p.footprint_for(voxel.nm, shape)?.len();
                done[i].0 = Some(StepResult::Other(tp.result(&p, n)));
                ops.push((i, Op::Tophat { p }));
            }
            StepSpec::Segment(g) => {
                seg = Some((i, g));
            }
            _ => unreachable!("the planner streams only the steps above"),
        }
        done[i].1 += t.elapsed().as_secs_f64();
    }
    let (seg_i, seg_step) = seg.expect("the planner streams up to a segment step");
    // the filter pass into a scratch stack
    let mut scratch = None;
    let mut seg_reader = if ops.is_empty() {
        reader
    } else {
        let file = ctx.out_dir.join(".streamed_grey.tif");
        let guard = Scratch(file.clone());
        let mut w = SliceWriter::create(
            &file,
            shape,
            st,
            voxel,
            meta.clone(),
            &TiffWriteOptions::default(),
        )?;
        reader.rewind()?;
        let slab = slab_len(shape0[1], shape0[2]);
        ctx.progress.start("streamed filters", shape0[0] as u64);
        while let Some(mut v) = reader.next_slab(slab)? {
            let n = v.shape()[0];
            let z0 = reader.position() - n;
            for (i, op) in ops.iter_mut() {
                let t = Instant::now();
                match op {
                    Op::Shift { shifts, region, p } => {
                        v.data = apply_shifts_slab(&v.data, &shifts[z0..z0 + n], p, *region);
                    }
                    Op::Destripe {
                        p, st, fractions, ..
                    } => {
                        let (o, r) = destripe_volume_as(&v, p, *st)?;
                        fractions.extend_from_slice(&r.removed_energy_fraction);
                        v = o;
                    }
                    Op::Gauss { p, st } => v = gaussian_volume_as(&v, p, *st)?,
                    Op::Tophat { p } => v = tophat_volume(&v, p)?,
                    Op::Geometry(gp) => {
                        v.data = gp.resample_slab(&v.data, z0);
                        v.voxel = gp.voxel_out;
                    }
                }
                done[*i].1 += t.elapsed().as_secs_f64();
            }
            w.write_slab(&v.data)?;
            ctx.progress.inc(n as u64);
        }
        ctx.progress.finish();
        w.finish()?;
        drop(reader);
        for (i, op) in ops {
            if let Op::Destripe {
                p, nx, fractions, ..
            } = op
            {
                done[i].0 = Some(StepResult::Other(destripe_result(&destripe_report(
                    &p, nx, voxel.nm, fractions,
                ))?));
            }
        }
        let ro = ReadOptions {
            crop_databar: false,
            max_bytes: u64::MAX,
            ..Default::default()
        };
        let mut r = SliceReader::open(&file, &ro)?;
        r.set_voxel(voxel);
        scratch = Some(guard);
        r
    };
    // segment into the label volume (the one whole volume of the run)
    let t = Instant::now();
    let params = seg_step.params()?;
    let mut labels = Array3::<u8>::zeros((shape[0], shape[1], shape[2]));
    let r = crate::stream::segment_slabs(&mut seg_reader, &params, ctx.progress, |z0, l| {
        if let GreyData::U8(a) = l {
            let n = a.shape()[0];
            labels.slice_mut(s![z0..z0 + n, .., ..]).assign(&a);
        }
        Ok(())
    })?;
    drop(seg_reader);
    drop(scratch);
    done[seg_i].0 = Some(segment_result(r, CorrectionReports::default()));
    done[seg_i].1 += t.elapsed().as_secs_f64();
    let mut lv = LabelVolume::new(labels, voxel);
    lv.meta = meta.clone();
    ctx.labels = Some(lv);
    ctx.grey = None;
    Ok(Started {
        inputs,
        warnings: meta.warnings.clone(),
        shape: shape0,
        voxel: voxel0,
        done,
    })
}
