//! The typed step results and `results.json`: the key layout of the measuring steps' results is
//! pinned (tests/support/result_keys.txt, taken from the bundled workflows' output before the
//! results were typed), and every result of a bundled workflow reads back into its type and
//! serialises to exactly the JSON it was read from.

#[path = "support/run_workflow.rs"]
mod support;

use fibstack::workflow::results::{Results, StepResult};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use support::run_workflow;

/// Every key path of `v` (JSON pointers; `[]` for any array element, `N` for any phase label).
fn paths(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if at.ends_with("/phase_names") {
                    out.insert(format!("{at}/N"));
                    continue;
                }
                let p = format!("{at}/{k}");
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                paths(x, &format!("{at}/[]"), out);
            }
        }
        _ => {}
    }
}

/// The first JSON pointer where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{at}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_difference(u, v, &p) {
                            return Some(d);
                        }
                    }
                    _ => return Some(p),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, &format!("{at}/{i}"))),
        // a number written with fewer digits than its f32/f64 field holds reads back as the
        // nearest value of the field's type: equal to 1e-12, not bit for bit
        (Value::Number(x), Value::Number(y)) => {
            let (u, v) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            ((u - v).abs() > 1e-12 * u.abs().max(v.abs()).max(1e-300))
                .then(|| format!("{at}: {a} vs {b}"))
        }
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

fn results_json(dir: &std::path::Path) -> serde_json::Map<String, Value> {
    let b = std::fs::read(dir.join("results.json")).unwrap();
    serde_json::from_slice(&b).unwrap()
}

/// The kinds whose results must read back typed (not as `StepResult::Other`).
fn typed_kind(kind: &str) -> bool {
    [
        "porosity",
        "connectivity",
        "tortuosity",
        "sizes",
        "segment",
        "score",
        "synth",
    ]
    .contains(&kind)
}

#[test]
fn bundled_results_keep_their_key_layout_and_read_back_typed() {
    let pinned_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/result_keys.txt"
    ))
    .unwrap();
    let mut pinned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in pinned_text.lines().filter(|l| !l.starts_with('#')) {
        let (k, p) = l.split_once(' ').unwrap();
        pinned.entry(k.into()).or_default().insert(p.into());
    }
    let sources: [(&str, &[&str]); 3] = [
        (
            "quickstart",
            &["porosity", "connectivity", "tortuosity", "sizes", "segment"],
        ),
        ("dice-electrode", &["score"]),
        ("electrode-tortuosity-report", &["segment", "porosity"]),
    ];
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (wf, kinds) in sources {
        let d = tempfile::tempdir().unwrap();
        run_workflow(wf, d.path());
        let json = results_json(d.path());
        for k in kinds {
            paths(&json[*k], "", found.entry(k.to_string()).or_default());
        }
        // every result reads back into its type and serialises to the same JSON
        let typed = Results::from_json(json.clone());
        for (name, r) in typed.iter() {
            let kind = fibstack::workflow::results::kind_of_name(name);
            if typed_kind(kind) {
                assert!(
                    !matches!(r, StepResult::Other(_)),
                    "{wf}: {name} did not read back as its type"
                );
            }
        }
        let back = typed.to_json().unwrap();
        for (name, v) in &json {
            if let Some(p) = first_difference(v, &back[name], "") {
                panic!("{wf}: round trip changed {name} at {p}");
            }
        }
        assert_eq!(back.len(), json.len());
    }
    assert_eq!(
        pinned.keys().collect::<Vec<_>>(),
        found.keys().collect::<Vec<_>>()
    );
    for (k, want) in &pinned {
        let got = &found[k];
        let missing: Vec<_> = want.difference(got).collect();
        let added: Vec<_> = got.difference(want).collect();
        assert!(
            missing.is_empty() && added.is_empty(),
            "{k}: results.json keys changed; missing {missing:?}, new {added:?} \
             (update tests/support/result_keys.txt and the manual if intended)"
        );
    }
}

#[test]
fn old_or_foreign_results_are_kept_as_json() {
    // a porosity result without the keys of the type (e.g. written by another program) is kept
    // as JSON rather than refused, so the report can still show the rest
    let r = StepResult::from_json("porosity", serde_json::json!({"porosity": 0.3}));
    assert!(matches!(r, StepResult::Other(_)));
    assert_eq!(r.to_json().unwrap(), serde_json::json!({"porosity": 0.3}));
    assert_eq!(
        fibstack::workflow::results::kind_of_name("porosity_2"),
        "porosity"
    );
    assert_eq!(fibstack::workflow::results::kind_of_name("crop"), "crop");
}
