//! One default per option: for each operation, the command line with no optional flags, a
//! minimal workflow step and the library `Default` must give the same library parameters.

use super::{Cli, Command};
use clap::Parser;
use fibstack::workflow::steps::filters as wf;

fn cli(args: &[&str]) -> Command {
    let mut v = vec!["fibstack"];
    v.extend_from_slice(args);
    Cli::try_parse_from(v).expect("CLI parses").command
}

fn step<T: serde::de::DeserializeOwned>(toml_text: &str) -> T {
    toml::from_str(toml_text).expect("workflow step deserialises")
}

#[test]
fn destripe_defaults_agree() {
    let Command::Destripe(a) = cli(&["destripe", "in.tif", "out.tif"]) else {
        panic!("not destripe")
    };
    let from_cli = super::destripe::params(&a).unwrap();
    let from_step = step::<wf::Destripe>("").params().unwrap();
    let lib = fibstack::preprocess::destripe::DestripeParams::default();
    assert_eq!(
        from_cli, lib,
        "CLI default differs from the library default"
    );
    assert_eq!(
        from_step, lib,
        "workflow default differs from the library default"
    );
}

#[test]
fn denoise_defaults_agree() {
    let Command::Denoise(a) = cli(&["denoise", "in.tif", "out.tif", "--sigma", "5"]) else {
        panic!("not denoise")
    };
    let from_cli = super::denoise::params(&a).unwrap();
    let from_step = step::<wf::Denoise>("sigma = 5.0").params().unwrap();
    assert_eq!(
        from_cli, from_step,
        "CLI and workflow denoise defaults differ"
    );
}

#[test]
fn tophat_defaults_agree() {
    let Command::Tophat(a) = cli(&["tophat", "in.tif", "out.tif", "--radius-nm", "50"]) else {
        panic!("not tophat")
    };
    let from_cli = super::tophat::params(&a).unwrap();
    let from_step = step::<wf::Tophat>("radius_nm = 50.0").params().unwrap();
    assert_eq!(
        from_cli, from_step,
        "CLI and workflow tophat defaults differ"
    );
}

#[test]
fn segment_defaults_agree() {
    // no flags: Otsu (two classes whatever `classes` says)
    let Command::Segment(a) = cli(&["segment", "in.tif", "out.tif"]) else {
        panic!("not segment")
    };
    let from_cli = super::segment::params(&a).unwrap();
    let from_step = step::<wf::Segment>("").params().unwrap();
    let lib = fibstack::segment::SegmentParams::default();
    assert_eq!(
        from_cli, from_step,
        "CLI and workflow segment defaults differ"
    );
    assert_eq!(from_cli.n_classes(), lib.n_classes());
    assert_eq!(from_cli.nbins, lib.nbins);
    assert_eq!(from_cli.sensitivity, lib.sensitivity);
    // the `classes` default shows with a multi-class method
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
fn align_defaults_agree() {
    use fibstack::workflow::steps::pre::AlignStep;
    let Command::Align(a) = cli(&["align", "in.tif", "out.tif"]) else {
        panic!("not align")
    };
    let from_cli = a.step().params().unwrap();
    let from_step = step::<AlignStep>("").params().unwrap();
    let lib = fibstack::preprocess::align::AlignParams::default();
    assert_eq!(
        from_cli, from_step,
        "CLI and workflow align defaults differ"
    );
    assert_eq!(
        from_step, lib,
        "workflow align default differs from the library"
    );
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
fn geometry_defaults_agree() {
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
fn porosity_and_connectivity_defaults_agree() {
    use fibstack::workflow::steps::metrics::{ConnectivityStep, PorosityStep};
    let Command::Porosity(a) = cli(&["porosity", "l.tif"]) else {
        panic!("not porosity")
    };
    let w: PorosityStep = step("");
    assert_eq!(
        format!("{:?}", a.step.options(0).unwrap()),
        format!("{:?}", w.options(0).unwrap())
    );
    let Command::Porosity(b) = cli(&["porosity", "l.tif", "--window", "500", "--rev"]) else {
        panic!("not porosity")
    };
    let w: PorosityStep = step("window_nm = 500.0\nrev = true");
    assert_eq!(
        format!("{:?}", b.step.options(0).unwrap()),
        format!("{:?}", w.options(0).unwrap())
    );
    let Command::Connectivity(c) = cli(&["connectivity", "l.tif"]) else {
        panic!("not connectivity")
    };
    let w: ConnectivityStep = step("");
    assert_eq!(
        format!("{:?}", c.step.options(0).unwrap()),
        format!("{:?}", w.options(0).unwrap())
    );
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
