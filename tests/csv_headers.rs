//! Every CSV fibstack writes follows one header convention: `name_unit` in lower snake case
//! (`position_nm`, `area_nm2`, `specific_area_per_um`, dimensionless quantities without a
//! suffix), and every column holds one kind of value (numbers — `inf`, `nan` and empty cells
//! allowed —, booleans `true`/`false`, or text), so pandas reads it with the right dtypes.
//!
//! The CSVs come from the bundled export workflow and from every command that writes one.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fib(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(args)
        .output()
        .expect("run fibstack");
    assert!(
        o.status.success(),
        "fibstack {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn csvs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            csvs(&p, out);
        } else if p.extension().is_some_and(|x| x == "csv") {
            out.push(p);
        }
    }
}

/// `name_unit` in lower snake case: ASCII letters, digits and single underscores.
fn header_ok(h: &str) -> bool {
    !h.is_empty()
        && h.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && h.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !h.contains("__")
        && !h.ends_with('_')
}

/// Columns of text by definition, whose values may look like numbers (the unit `1` of a
/// dimensionless quantity; a sample named `140`).
const TEXT_COLUMNS: &[&str] = &[
    "unit",
    "method",
    "quantity",
    "sample",
    "status",
    "axis",
    "phase_name",
];

#[derive(Debug, PartialEq, Clone, Copy)]
enum Kind {
    Number,
    Bool,
    Text,
}

fn kind(v: &str) -> Option<Kind> {
    if v.is_empty() || v == "nan" || v == "inf" || v == "-inf" {
        None // missing or non-finite: fits a numeric column
    } else if v.parse::<f64>().is_ok() {
        Some(Kind::Number)
    } else if v == "true" || v == "false" {
        Some(Kind::Bool)
    } else {
        Some(Kind::Text)
    }
}

#[test]
fn every_csv_header_is_snake_case_with_its_unit_and_every_column_has_one_type() {
    let tmp = std::env::temp_dir().join(format!("fibstack-csv-headers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let t = |p: &str| tmp.join(p).display().to_string();
    let slices = "fixtures/synth/electrode/slices";
    let labels = "fixtures/synth/electrode/truth/labels.tif";

    fib(&[
        "--quiet",
        "run",
        "workflows/export-for-modelling.toml",
        "--out",
        &t("export"),
    ]);
    fib(&[
        "--quiet",
        "align",
        slices,
        &t("aligned.tif"),
        "--shifts-csv",
        &t("cli/shifts.csv"),
    ]);
    fib(&[
        "--quiet",
        "porosity",
        labels,
        "--phase",
        "0",
        "--profile-csv",
        &t("cli/profile.csv"),
        "--window",
        "400",
        "--windows-csv",
        &t("cli/windows.csv"),
        "--rev-csv",
        &t("cli/rev.csv"),
    ]);
    fib(&[
        "--quiet",
        "connectivity",
        labels,
        "--graph-dir",
        &t("cli/graph"),
    ]);
    fib(&[
        "--quiet",
        "sizes",
        labels,
        "--phase",
        "1",
        "--particles-csv",
        &t("cli/particles.csv"),
        "--distribution-csv",
        &t("cli/distribution.csv"),
    ]);
    fib(&[
        "--quiet",
        "tortuosity",
        labels,
        "--phase",
        "0",
        "--axis",
        "x",
        "--method",
        "rw",
        "--walkers",
        "2000",
        "--steps",
        "2000",
        "--seed",
        "1",
        "--msd-csv",
        &t("cli/msd.csv"),
    ]);

    let mut files = vec![];
    csvs(&tmp, &mut files);
    files.sort();
    assert!(
        files.len() >= 14,
        "expected the CSVs of the workflow and commands, found {files:?}"
    );
    let mut bad = vec![];
    for f in &files {
        let mut r = csv::Reader::from_path(f).unwrap();
        let heads: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        for h in &heads {
            if !header_ok(h) {
                bad.push(format!(
                    "{}: header {h:?} is not name_unit snake case",
                    f.display()
                ));
            }
        }
        let mut kinds: Vec<Option<Kind>> = heads
            .iter()
            .map(|h| TEXT_COLUMNS.contains(&h.as_str()).then_some(Kind::Text))
            .collect();
        for rec in r.records() {
            let rec = rec.unwrap();
            for (i, v) in rec.iter().enumerate() {
                if let Some(k) = kind(v) {
                    match kinds[i] {
                        None => kinds[i] = Some(k),
                        Some(Kind::Text) if TEXT_COLUMNS.contains(&heads[i].as_str()) => {}
                        Some(prev) if prev != k => bad.push(format!(
                            "{}: column {} mixes {prev:?} and {k:?} ({v:?})",
                            f.display(),
                            heads[i]
                        )),
                        _ => {}
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_header_rule_rejects_the_old_spellings() {
    for h in [
        "position [nm]",
        "specific_area_um-1",
        "pressure_kPa",
        "Fraction",
        "a__b",
    ] {
        assert!(!header_ok(h), "{h} passed");
    }
    for h in [
        "position_nm",
        "specific_area_per_um",
        "porosity",
        "area_nm2",
        "bbox_z0",
    ] {
        assert!(header_ok(h), "{h} failed");
    }
}
