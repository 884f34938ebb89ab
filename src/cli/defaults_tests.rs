//! One default per option: for every operation whose keys have one definition
//! (`workflow::steps::key_schemas()`), the command line with no optional flags, a workflow step
//! with no optional keys and the library `Default` give the same library parameters, and every
//! default the reference documents is the default the workflow reader uses.
//!
//! The test enumerates `key_schemas()`: a kind added there without an arm in [`check_kind`]
//! fails it.

use super::{Cli, Command};
use clap::Parser;
use fibstack::workflow::steps::filters as wf;
use fibstack::workflow::steps::{key_default_toml, key_schemas, StepSpec};
use std::fmt::Debug;

fn cli(args: &[&str]) -> Command {
    let mut v = vec!["fibstack"];
    v.extend_from_slice(args);
    Cli::try_parse_from(v).expect("CLI parses").command
}

fn step<T: serde::de::DeserializeOwned>(toml_text: &str) -> T {
    toml::from_str(toml_text).expect("workflow step deserialises")
}

/// The three answers of one kind agree (compared as their `Debug` text, which shows every field).
fn agree<T: Debug>(kind: &str, from_cli: T, from_workflow: T, library: T) {
    let (c, w, l) = (
        format!("{from_cli:?}"),
        format!("{from_workflow:?}"),
        format!("{library:?}"),
    );
    assert_eq!(
        c, l,
        "{kind}: the command line's default differs from the library's"
    );
    assert_eq!(
        w, l,
        "{kind}: the workflow step's default differs from the library's"
    );
}

/// Check one kind's defaults; returns the workflow keys the kind requires (TOML lines, the same
/// values as the required command-line arguments used), for [`documented_defaults_are_read`].
///
/// To add a kind: an arm that parses the command with only its required arguments, reads the
/// step with only its required keys, and passes both and the library `Default` to [`agree`].
fn check_kind(kind: &str) -> &'static str {
    match kind {
        "align" => {
            let Command::Align(a) = cli(&["align", "in.tif", "out.tif"]) else {
                unreachable!()
            };
            agree(
                kind,
                a.step().params().unwrap(),
                step::<fibstack::workflow::steps::pre::AlignStep>("")
                    .params()
                    .unwrap(),
                fibstack::preprocess::align::AlignParams::default(),
            );
            ""
        }
        "geometry" => {
            use fibstack::workflow::steps::pre::GeometryStep;
            let Command::Geometry(a) = cli(&["geometry", "in.tif", "out.tif"]) else {
                unreachable!()
            };
            agree(
                kind,
                a.step().params().unwrap(),
                step::<GeometryStep>("").params().unwrap(),
                fibstack::preprocess::geometry::GeometryParams::default(),
            );
            ""
        }
        "destripe" => {
            let Command::Destripe(a) = cli(&["destripe", "in.tif", "out.tif"]) else {
                unreachable!()
            };
            agree(
                kind,
                super::destripe::params(&a).unwrap(),
                step::<wf::Destripe>("").params().unwrap(),
                fibstack::preprocess::destripe::DestripeParams::default(),
            );
            ""
        }
        "denoise" => {
            use fibstack::preprocess::denoise::{Dims, GaussianParams};
            let Command::Denoise(a) = cli(&["denoise", "in.tif", "out.tif", "--sigma", "5"]) else {
                unreachable!()
            };
            agree(
                kind,
                super::denoise::params(&a).unwrap(),
                step::<wf::Denoise>("sigma = 5.0").params().unwrap(),
                GaussianParams::isotropic(5.0, Dims::default()),
            );
            "sigma = 5.0"
        }
        "tophat" => {
            use fibstack::preprocess::tophat::TophatParams;
            let Command::Tophat(a) = cli(&["tophat", "in.tif", "out.tif", "--radius-nm", "50"])
            else {
                unreachable!()
            };
            agree(
                kind,
                super::tophat::params(&a).unwrap(),
                step::<wf::Tophat>("radius_nm = 50.0").params().unwrap(),
                // the library has no `Default` for a top-hat (the radius is required): a white
                // top-hat with the library's default `Dims`
                TophatParams {
                    radius_nm: 50.0,
                    black: false,
                    dims: Default::default(),
                },
            );
            "radius_nm = 50.0"
        }
        "segment" => {
            // no flags: Otsu (two classes whatever `classes` says); the library's `classes`
            // default shows with a multi-class method (`segment_classes_default_agrees`)
            let Command::Segment(a) = cli(&["segment", "in.tif", "out.tif"]) else {
                unreachable!()
            };
            // Otsu: two classes whatever `classes` says (the steps write 2), so the number of
            // classes is compared, not the field
            let seen = |p: fibstack::segment::SegmentParams| {
                let n = p.n_classes();
                (fibstack::segment::SegmentParams { classes: 0, ..p }, n)
            };
            agree(
                kind,
                seen(super::segment::params(&a).unwrap()),
                seen(step::<wf::Segment>("").params().unwrap()),
                seen(fibstack::segment::SegmentParams::default()),
            );
            ""
        }
        "porosity" => {
            use fibstack::workflow::steps::metrics::PorosityStep;
            let Command::Porosity(a) = cli(&["porosity", "l.tif"]) else {
                unreachable!()
            };
            agree(
                kind,
                a.step.options(0).unwrap(),
                step::<PorosityStep>("").options(0).unwrap(),
                fibstack::metrics::porosity::PorosityOptions::default(),
            );
            ""
        }
        "connectivity" => {
            use fibstack::workflow::steps::metrics::ConnectivityStep;
            let Command::Connectivity(a) = cli(&["connectivity", "l.tif"]) else {
                unreachable!()
            };
            agree(
                kind,
                a.step.options(0).unwrap(),
                step::<ConnectivityStep>("").options(0).unwrap(),
                fibstack::metrics::connectivity::ConnectivityOptions::default(),
            );
            ""
        }
        "sizes" => {
            use fibstack::workflow::steps::sizes::Sizes;
            let Command::Sizes(a) = cli(&["sizes", "l.tif"]) else {
                unreachable!()
            };
            agree(
                kind,
                a.step.options().unwrap(),
                step::<Sizes>("").options().unwrap(),
                fibstack::metrics::sizes::SizesOptions::default(),
            );
            assert_eq!(a.step.phase, fibstack::volume::PhaseRef::default());
            assert_eq!(
                step::<Sizes>("").phase,
                fibstack::volume::PhaseRef::default()
            );
            ""
        }
        "tortuosity" => {
            use fibstack::metrics::tortuosity::random_walk::RandomWalkOptions;
            use fibstack::metrics::tortuosity::steady_state::SteadyStateOptions;
            use fibstack::workflow::steps::tort::Tortuosity;
            let Command::Tortuosity(a) = cli(&["tortuosity", "l.tif", "--phase", "1"]) else {
                unreachable!()
            };
            let w: Tortuosity = step("phase = 1");
            // the random walk's seed: 0 on the command line, the workflow's seed in a workflow
            // (passed in as 0 here)
            agree(
                kind,
                super::tortuosity::options(&a),
                (w.fd_opts(), w.rw_opts(0)),
                (SteadyStateOptions::default(), RandomWalkOptions::default()),
            );
            assert_eq!(a.step.methods(), w.methods(), "tortuosity: default method");
            assert_eq!(a.step.axes().unwrap(), w.axes().unwrap());
            "phase = 1"
        }
        "classify" => {
            use fibstack::workflow::steps::classify::{ClassifyStep, TrainSpec};
            let Command::Classify(a) = cli(&["classify", "in.tif", "m.fsrf", "out.tif"]) else {
                unreachable!()
            };
            agree(
                kind,
                a.step.clone(),
                step::<ClassifyStep>(""),
                ClassifyStep::default(),
            );
            // its `[steps.train]` table is the `fibstack train` command
            let Command::Train(t) = cli(&["train", "g.tif", "l.tif", "m.fsrf"]) else {
                unreachable!()
            };
            agree(
                "classify (train)",
                super::train::params(&t).unwrap(),
                step::<TrainSpec>("").options().unwrap(),
                fibstack::classify::TrainOptions::default(),
            );
            ""
        }
        "score" => {
            use fibstack::workflow::steps::score::ScoreStep;
            let Command::Score(a) = cli(&["score", "seg.tif", "ref.tif"]) else {
                unreachable!()
            };
            agree(
                kind,
                a.step.clone(),
                step::<ScoreStep>(""),
                ScoreStep::default(),
            );
            ""
        }
        _ => panic!("kind {kind} has no defaults check: add an arm to check_kind"),
    }
}

/// Every documented default (the generated reference, from the clap definition the command
/// line flattens), written into a workflow step, reads as the step with the key left out. Keys
/// that only workflows have (hidden in the command line) are documented by text and left out.
fn documented_defaults_are_read(kind: &str, cmd: &clap::Command, required: &str) {
    let minimal = format!("kind = \"{kind}\"\n{required}\n");
    let mut full = minimal.clone();
    for a in cmd
        .get_arguments()
        .filter(|a| a.get_id() != "help" && !a.is_hide_set())
    {
        let key = a.get_id().as_str();
        if required
            .lines()
            .any(|l| l.split('=').next().map(str::trim) == Some(key))
        {
            continue;
        }
        if let Some(v) = key_default_toml(a) {
            full.push_str(&format!("{key} = {v}\n"));
        }
    }
    let read = |t: &str| {
        format!(
            "{:?}",
            toml::from_str::<StepSpec>(t).unwrap_or_else(|e| panic!("{kind}: {e}\n{t}"))
        )
    };
    assert_eq!(
        read(&full),
        read(&minimal),
        "{kind}: a documented default is not the workflow reader's default\n{full}"
    );
}

#[test]
fn every_operation_has_one_default() {
    let kinds = key_schemas();
    assert!(kinds.len() >= 10, "key_schemas lists {} kinds", kinds.len());
    for (kind, cmd) in &kinds {
        let required = check_kind(kind);
        documented_defaults_are_read(kind, cmd, required);
    }
}

#[test]
#[should_panic(expected = "kind frobnicate has no defaults check")]
fn a_kind_without_a_check_fails() {
    check_kind("frobnicate");
}

#[test]
fn segment_classes_default_agrees() {
    let lib = fibstack::segment::SegmentParams::default();
    for m in ["multiotsu", "iso50"] {
        let Command::Segment(a) = cli(&["segment", "in.tif", "out.tif", "--method", m]) else {
            panic!("not segment")
        };
        let from_cli = super::segment::params(&a).unwrap();
        let from_step = step::<wf::Segment>(&format!("method = \"{m}\""))
            .params()
            .unwrap();
        assert_eq!(from_cli, from_step, "{m}: CLI and workflow defaults differ");
        assert_eq!(
            from_cli.classes, lib.classes,
            "{m}: library `classes` default differs"
        );
    }
}

#[test]
fn align_shorthands_are_the_keys() {
    let Command::Align(a) = cli(&[
        "align",
        "in.tif",
        "out.tif",
        "--no-refine",
        "--pad",
        "--theta",
        "54",
        "--bandpass",
        "none",
        "--roi",
        "1,2,30,40",
    ]) else {
        panic!("not align")
    };
    let Command::Align(b) = cli(&[
        "align",
        "in.tif",
        "out.tif",
        "--refine",
        "false",
        "--boundary",
        "pad",
        "--theta-deg",
        "54",
        "--bandpass",
        "none",
        "--roi",
        "1,2,30,40",
    ]) else {
        panic!("not align")
    };
    let w: fibstack::workflow::steps::pre::AlignStep = step(
        "refine = false\nboundary = \"pad\"\ntheta_deg = 54.0\nbandpass = []\nroi = [1, 2, 30, 40]\nshifts_csv = \"\"\nplot = \"\"",
    );
    assert_eq!(a.step(), b.step());
    assert_eq!(a.step(), w);
}

#[test]
fn geometry_steps_agree() {
    use fibstack::workflow::steps::pre::GeometryStep;
    let Command::Geometry(a) = cli(&["geometry", "in.tif", "out.tif"]) else {
        panic!("not geometry")
    };
    assert_eq!(a.step(), step::<GeometryStep>(""));
    assert_eq!(a.step(), GeometryStep::default());
    let Command::Geometry(b) = cli(&[
        "geometry",
        "in.tif",
        "out.tif",
        "--theta",
        "54",
        "--slice-thickness",
        "10",
        "--no-shear",
        "--pad",
        "--shear-px",
        "0.5",
        "--interpolation",
        "cubic",
    ]) else {
        panic!("not geometry")
    };
    let w: GeometryStep = step(
        "theta_deg = 54.0\nslice_thickness_nm = 10.0\nshear = false\nboundary = \"pad\"\nshear_px_per_slice = 0.5\ninterpolation = \"cubic\"",
    );
    assert_eq!(b.step(), w);
}

#[test]
fn porosity_flags_are_the_keys() {
    use fibstack::workflow::steps::metrics::PorosityStep;
    let Command::Porosity(b) = cli(&["porosity", "l.tif", "--window", "500", "--rev"]) else {
        panic!("not porosity")
    };
    let w: PorosityStep = step("window_nm = 500.0\nrev = true");
    assert_eq!(
        format!("{:?}", b.step.options(0).unwrap()),
        format!("{:?}", w.options(0).unwrap())
    );
}

#[test]
fn sizes_and_tortuosity_flags_are_the_keys() {
    use fibstack::workflow::steps::sizes::Sizes;
    use fibstack::workflow::steps::tort::Tortuosity;
    let Command::Sizes(a) = cli(&[
        "sizes",
        "l.tif",
        "--phase",
        "pore",
        "--what",
        "local_thickness",
        "--split",
        "--min-separation",
        "15",
        "--connectivity",
        "6",
        "--bins",
        "20",
        "--fast-thickness",
        "--thickness-map",
        "t.tif",
    ]) else {
        panic!("not sizes")
    };
    let w: Sizes = step(
        "phase = \"pore\"\nwhat = \"local-thickness\"\nsplit = true\nmin_separation = 15.0\nconnectivity = 6\nbins = 20\nfast_thickness = true\nthickness_map = \"t.tif\"",
    );
    assert_eq!(a.step, w);
    let Command::Tortuosity(b) = cli(&[
        "tortuosity",
        "l.tif",
        "--phase",
        "0",
        "--method",
        "both",
        "--axis",
        "z,x",
        "--boundary",
        "fixed_layers",
        "--tol",
        "1e-6",
        "--max-iter",
        "50",
        "--seed",
        "7",
        "--walkers",
        "100",
        "--steps",
        "256",
        "--precision",
        "0.02",
        "--max-steps",
        "4096",
        "--msd-csv",
        "m.csv",
    ]) else {
        panic!("not tortuosity")
    };
    let w: Tortuosity = step(
        "phase = 0\nmethod = \"both\"\naxis = \"z,x\"\nboundary = \"fixed-layers\"\ntol = 1e-6\nmax_iter = 50\nseed = 7\nwalkers = 100\nsteps = 256\nprecision = 0.02\nmax_steps = 4096\nmsd_csv = \"m.csv\"",
    );
    assert_eq!(b.step, w);
    assert_eq!(w.axes().unwrap(), vec![0, 2]);
}

#[test]
fn train_defaults() {
    use fibstack::workflow::steps::classify::TrainSpec;
    let Command::Train(a) = cli(&["train", "g.tif", "l.tif", "m.fsrf"]) else {
        panic!("not train")
    };
    let from_cli = super::train::params(&a).unwrap();
    let from_step = step::<TrainSpec>("").options().unwrap();
    let lib = fibstack::classify::TrainOptions::default();
    assert_eq!(from_cli, lib, "CLI train default differs from the library");
    assert_eq!(
        from_step, lib,
        "workflow train default differs from the library"
    );
    // the list flag and the workflow's two spellings give the same names
    let Command::Train(b) = cli(&[
        "train",
        "g.tif",
        "l.tif",
        "m.fsrf",
        "--phase-names",
        "1=pore,2=solid",
        "--unlabelled",
        "255",
    ]) else {
        panic!("not train")
    };
    let w: TrainSpec =
        step("unlabelled = 255\nphase_names = [\"1=pore\", { label = 2, name = \"solid\" }]");
    assert_eq!(b.step, w);
    assert_eq!(b.step.phase_names[1].name, "solid");
}

#[test]
fn classify_defaults() {
    use fibstack::workflow::steps::classify::ClassifyStep;
    let Command::Classify(a) = cli(&["classify", "in.tif", "m.fsrf", "out.tif"]) else {
        panic!("not classify")
    };
    assert_eq!(a.step, step::<ClassifyStep>(""));
    assert_eq!(a.step, ClassifyStep::default());
    let Command::Classify(b) = cli(&[
        "classify",
        "in.tif",
        "m.fsrf",
        "out.tif",
        "--probabilities",
        "p.tif",
        "--allow-voxel-mismatch",
    ]) else {
        panic!("not classify")
    };
    let w: ClassifyStep = step("probabilities = \"p.tif\"\nallow_voxel_mismatch = true");
    assert_eq!(b.step, w);
}

#[test]
fn score_defaults() {
    use fibstack::workflow::steps::score::ScoreStep;
    let Command::Score(a) = cli(&["score", "seg.tif", "ref.tif"]) else {
        panic!("not score")
    };
    assert_eq!(a.step, step::<ScoreStep>(""));
    assert_eq!(a.step, ScoreStep::default());
    let Command::Score(b) = cli(&["score", "seg.tif", "--synth", "dir", "--pore", "2"]) else {
        panic!("not score")
    };
    let Command::Score(c) = cli(&["score", "seg.tif", "--truth", "dir", "--pore", "2"]) else {
        panic!("not score")
    };
    let w: ScoreStep = step("truth = \"dir\"\npore = 2");
    assert_eq!(b.step, w);
    assert_eq!(c.step, w);
}

#[test]
fn synth_stream_defaults() {
    let Command::SynthStream(a) = cli(&["synth-stream", "out"]) else {
        panic!("not synth-stream")
    };
    assert_eq!(
        a.params,
        fibstack::synth::stream::StreamSynthParams::default()
    );
    let Command::SynthStream(b) = cli(&[
        "synth-stream",
        "out",
        "--shape",
        "12,96,96",
        "--voxel",
        "10,5,5",
        "--porosity",
        "0.3",
        "--radius-nm",
        "150",
    ]) else {
        panic!("not synth-stream")
    };
    let w: fibstack::synth::stream::StreamSynthParams = step(
        "shape = [12, 96, 96]\nvoxel_nm = [10.0, 5.0, 5.0]\ntarget_porosity = 0.3\nradius_nm = 150.0",
    );
    assert_eq!(b.params, w);
}

#[test]
fn synth_defaults() {
    // no shorthand flag and no --set: the spec's own defaults (the workflow step's)
    let Command::Synth(a) = cli(&["synth", "out", "--preset", "electrode"]) else {
        panic!("not synth")
    };
    let from_cli = super::synth::spec_from_args(&a).unwrap();
    let from_step: fibstack::workflow::steps::StepSpec = step("kind = \"synth\"");
    let fibstack::workflow::steps::StepSpec::Synth(s) = from_step else {
        panic!("not synth")
    };
    assert_eq!(from_cli, s.spec);
    assert_eq!(from_cli, fibstack::synth::SynthSpec::default());
}
