//! The committed fixtures under `fixtures/synth/` are reproduced bit for bit by the commands in
//! `fixtures/synth/README.md` (same platform libm; see the README). The curtained fixtures are
//! pinned to the additive curtain model they were made with (`--curtain-model additive`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// (folder, arguments after `synth OUT`) — keep in sync with fixtures/synth/README.md.
const FIXTURES: [(&str, &[&str]); 4] = [
    (
        "electrode",
        &[
            "--preset",
            "electrode",
            "--shape",
            "64,96,96",
            "--seed",
            "7",
            "--curtain-model",
            "additive",
            "--compression",
            "deflate",
        ],
    ),
    (
        "li-deposit",
        &[
            "--preset",
            "li-deposit",
            "--packing",
            "0.4",
            "--shape",
            "64,96,96",
            "--seed",
            "7",
            "--curtain-model",
            "additive",
            "--compression",
            "deflate",
        ],
    ),
    (
        "pressure-series",
        &[
            "--preset",
            "pressure-series",
            "--shape",
            "32,128,128",
            "--grain-spacing-nm",
            "600",
            "--seed",
            "7",
            "--curtain-model",
            "additive",
            "--compression",
            "deflate",
        ],
    ),
    (
        "staircase",
        &[
            "--preset",
            "staircase",
            "--clean",
            "--compression",
            "deflate",
        ],
    ),
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fixtures_regenerate_bit_for_bit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/synth");
    let tmp = tempfile::tempdir().unwrap();
    for (name, args) in FIXTURES {
        let want = root.join(name);
        assert!(want.exists(), "fixture {name} missing");
        let got = tmp.path().join(name);
        let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
            .arg("-q")
            .arg("synth")
            .arg(&got)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let fw = files(&want);
        let fg = files(&got);
        assert_eq!(fw, fg, "{name}: file lists differ");
        for f in fw {
            let a = std::fs::read(want.join(&f)).unwrap();
            let b = std::fs::read(got.join(&f)).unwrap();
            assert!(
                a == b,
                "{name}/{}: bytes differ from the committed fixture",
                f.display()
            );
        }
    }
}
