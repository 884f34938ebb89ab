//! The manual and the README are written for users, not as a lab notebook: no issue numbers or
//! issue targets, no "tried and not kept", no first-person engineering notes, no pointers to
//! branches or commits. This test scans `README.md` and every `docs/src/**/*.md` (except the
//! settled conventions page `docs/src/methods/conventions.md` and the generated
//! `docs/src/reference/`) for such phrases and fails naming `file:line` and the phrase.
//!
//! Only `std`: the folder walk and the (case-insensitive, whole-word) matching are done here.

use std::fs;
use std::path::{Path, PathBuf};

/// One notebook phrase: a label (shown in the failure, written as the equivalent regex) and its
/// alternatives. An alternative is a lower-case literal in which `#` stands for one hexadecimal
/// digit; it matches case-insensitively and only as whole words (a letter, digit or `_` may not
/// touch either end).
struct Phrase {
    label: &'static str,
    alternatives: &'static [&'static str],
}

const PHRASES: &[Phrase] = &[
    Phrase {
        label: r"\bissues?\b",
        alternatives: &["issue", "issues"],
    },
    Phrase {
        label: r"tried and not kept",
        alternatives: &["tried and not kept"],
    },
    Phrase {
        label: r"\bnot kept\b",
        alternatives: &["not kept"],
    },
    Phrase {
        label: r"\btried\b",
        alternatives: &["tried"],
    },
    Phrase {
        label: r"\bhelpers?\b",
        alternatives: &["helper", "helpers"],
    },
    Phrase {
        label: r"\bI (tried|measured|kept|chose|found|used|ran|added|think)\b",
        alternatives: &[
            "i tried",
            "i measured",
            "i kept",
            "i chose",
            "i found",
            "i used",
            "i ran",
            "i added",
            "i think",
        ],
    },
    Phrase {
        label: r"\bwithdrawn\b",
        alternatives: &["withdrawn"],
    },
    Phrase {
        label: r"\bthis branch\b",
        alternatives: &["this branch"],
    },
    Phrase {
        label: r"\bearlier versions?\b",
        alternatives: &["earlier version", "earlier versions"],
    },
    Phrase {
        label: r"\bcommit [0-9a-f]{7}",
        alternatives: &["commit #######"],
    },
];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `pat` (see [`Phrase`]) matches `line` at byte `at`.
fn matches_at(line: &[u8], at: usize, pat: &[u8]) -> bool {
    if at + pat.len() > line.len() {
        return false;
    }
    let body = pat.iter().zip(&line[at..]).all(|(&p, &c)| {
        if p == b'#' {
            c.is_ascii_hexdigit()
        } else {
            p == c.to_ascii_lowercase()
        }
    });
    if !body {
        return false;
    }
    // `#` runs are hash prefixes: a longer hash still matches, so only check the end of literals.
    let left_ok = at == 0 || !is_word_byte(line[at - 1]);
    let end = at + pat.len();
    let right_ok = pat.last() == Some(&b'#') || end == line.len() || !is_word_byte(line[end]);
    left_ok && right_ok
}

/// The labels of the phrases found in `line`.
fn hits(line: &str) -> Vec<&'static str> {
    let bytes = line.as_bytes();
    PHRASES
        .iter()
        .filter(|ph| {
            ph.alternatives
                .iter()
                .any(|alt| (0..bytes.len()).any(|at| matches_at(bytes, at, alt.as_bytes())))
        })
        .map(|ph| ph.label)
        .collect()
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            markdown_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

fn scanned_files() -> Vec<PathBuf> {
    let mut all = vec![PathBuf::from("README.md")];
    markdown_files(Path::new("docs/src"), &mut all);
    all.retain(|p| {
        p != Path::new("docs/src/methods/conventions.md") && !p.starts_with("docs/src/reference")
    });
    all
}

#[test]
fn matcher_finds_each_phrase_and_only_whole_words() {
    let positives = [
        ("Measured (issue 4 acceptance)", r"\bissues?\b"),
        ("The Issue's targets", r"\bissues?\b"),
        ("(helper `stream`; issues 4 and 7)", r"\bissues?\b"),
        ("**Tried and not kept: a model.**", "tried and not kept"),
        ("+0.011 → +0.025. Not kept.", r"\bnot kept\b"),
        ("Settings tried on the cap", r"\btried\b"),
        ("Kernel speed (helper `lt`)", r"\bhelpers?\b"),
        (
            "so I tried keeping",
            r"\bI (tried|measured|kept|chose|found|used|ran|added|think)\b",
        ),
        ("table) is withdrawn.", r"\bwithdrawn\b"),
        ("| after (this branch) |", r"\bthis branch\b"),
        ("(An earlier version of this", r"\bearlier versions?\b"),
        ("before (commit 568cd67 + harness)", r"\bcommit [0-9a-f]{7}"),
    ];
    for (line, label) in positives {
        assert!(
            hits(line).contains(&label),
            "{label} should match {line:?}, got {:?}",
            hits(line)
        );
    }
    let negatives = [
        "Axis i is chosen with probability",
        "tissue and reissued files",
        "weight 1/d_i² per unit",
        "the helpful default; untried; kept as is",
        "the commit message; commit abc (too short)",
        "voxel centres at (i + 0.5)·d",
    ];
    for line in negatives {
        assert!(hits(line).is_empty(), "{line:?} matched {:?}", hits(line));
    }
}

#[test]
fn user_docs_carry_no_notebook_phrases() {
    let files = scanned_files();
    assert!(
        files.len() >= 20,
        "only {} Markdown files found: run from the repository root",
        files.len()
    );
    let mut found = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for (i, line) in text.lines().enumerate() {
            for label in hits(line) {
                found.push(format!(
                    "{}:{}: {label}: {}",
                    f.display(),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} notebook phrase(s) in the user docs (write for users: state the measured figure, \
         the data and the command; history goes to CHANGELOG.md):\n{}",
        found.len(),
        found.join("\n")
    );
}
