//! Phase names: `[phases]` in a workflow and `--phases` on the command line let steps and
//! commands name a phase (`phase = "pore"`, `--phase pore`); results, tables and label TIFFs
//! carry the names.

use std::path::Path;
use std::process::{Command, Output};

const LABELS: &str = "fixtures/synth/electrode/truth/labels.tif";

fn fib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err_line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "expected exit 1: {o:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_named_phase_measures_the_same_as_its_label() {
    let named = ok(&fib(&[
        "--quiet",
        "porosity",
        LABELS,
        "--phases",
        "0=pore,1=active,2=binder",
        "--phase",
        "binder",
        "--json",
    ]));
    let numbered = ok(&fib(&[
        "--quiet", "porosity", LABELS, "--phase", "2", "--json",
    ]));
    assert_eq!(named, numbered);
    assert!(named.contains("\"phase\": 2"), "{named}");
}

#[test]
fn an_unknown_name_lists_the_names() {
    let e = err_line(&fib(&[
        "--quiet",
        "porosity",
        LABELS,
        "--phases",
        "0=pore,1=active",
        "--phase",
        "CBD",
    ]));
    assert!(
        e.contains("\"CBD\"") && e.contains("0 = pore") && e.contains("1 = active"),
        "{e}"
    );
    // without names at all, the message says how to give them
    let e = err_line(&fib(&["--quiet", "tortuosity", LABELS, "--phase", "pore"]));
    assert!(e.contains("--phases"), "{e}");
    // bad --phases
    let e = err_line(&fib(&[
        "--quiet",
        "porosity",
        LABELS,
        "--phases",
        "0=pore,1=pore",
    ]));
    assert!(e.contains("pore") && e.contains("labels 0 and 1"), "{e}");
}

fn workflow(dir: &Path, phases: &str, phase: &str) -> std::path::PathBuf {
    let root = std::env::current_dir().unwrap();
    let p = dir.join("wf.toml");
    std::fs::write(
        &p,
        format!(
            r#"output = "out"
[input]
path = "{}"
labels = true
{phases}
[[steps]]
kind = "convert"
path = "labels.tif"
what = "labels"
[[steps]]
kind = "porosity"
phase = {phase}
rev_sizes = 0
[[steps]]
kind = "tortuosity"
phase = {phase}
axis = "x"
[[steps]]
kind = "export"
"#,
            root.join(LABELS).display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn workflow_phases_reach_results_tables_and_label_files() {
    let d = tempfile::tempdir().unwrap();
    let wf = workflow(
        d.path(),
        "[phases]\n0 = \"pore\"\n1 = \"active\"\n2 = \"binder\"",
        "\"pore\"",
    );
    ok(&fib(&["--quiet", "run", wf.to_str().unwrap()]));
    let out = d.path().join("out");
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(res["porosity"]["phase"], 0);
    assert_eq!(res["porosity"]["phase_name"], "pore");
    assert_eq!(res["tortuosity"]["phase_name"], "pore");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(
        summary.starts_with("quantity,phase,phase_name,"),
        "{summary}"
    );
    assert!(summary.contains(",0,pore,"), "{summary}");
    let tau = std::fs::read_to_string(out.join("tortuosity.csv")).unwrap();
    assert!(tau.contains(",0,pore,"), "{tau}");
    // the written label TIFF keeps the names: a later command can use them without --phases
    let lab = out.join("labels.tif");
    let a = ok(&fib(&[
        "--quiet",
        "porosity",
        lab.to_str().unwrap(),
        "--phase",
        "active",
        "--json",
    ]));
    let b = ok(&fib(&[
        "--quiet",
        "porosity",
        lab.to_str().unwrap(),
        "--phase",
        "1",
        "--json",
    ]));
    assert_eq!(a, b);
}

#[test]
fn check_refuses_a_name_the_workflow_does_not_define() {
    let d = tempfile::tempdir().unwrap();
    let wf = workflow(d.path(), "[phases]\n0 = \"pore\"", "\"electrolyte\"");
    // the input is a label file (it might carry names), so the name is checked when it is read
    let e = err_line(&fib(&["--quiet", "run", wf.to_str().unwrap()]));
    assert!(e.contains("electrolyte") && e.contains("0 = pore"), "{e}");
    // a [phases] key that is not a label value, a name given twice
    for bad in [
        "[phases]\npore = \"0\"",
        "[phases]\n0 = \"pore\"\n1 = \"pore\"",
    ] {
        let wf = workflow(d.path(), bad, "0");
        let e = err_line(&fib(&["--quiet", "run", "--check", wf.to_str().unwrap()]));
        assert!(e.contains("[phases]"), "{e}");
    }
}
