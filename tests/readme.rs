//! The README is a front door: at most 250 lines, opening with the two set-up commands, and every
//! command in its shell blocks runs as written (workflows into a temporary output folder).

use std::process::Command;

fn shell_lines(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in readme.lines() {
        if l.starts_with("```") {
            inside = !inside && (l == "```sh" || l == "```bash");
            continue;
        }
        if inside && !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            out.push(l.split(" #").next().unwrap().trim().to_string());
        }
    }
    out
}

#[test]
fn readme_is_short_and_opens_with_the_two_commands() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let n = readme.lines().count();
    assert!(
        n <= 250,
        "README.md has {n} lines (front door: at most 250)"
    );
    let cmds = shell_lines(&readme);
    assert_eq!(
        &cmds[..2],
        [
            "cargo run --release -- run workflows/quickstart.toml",
            "cargo test --release"
        ],
        "the first shell block must hold exactly the two set-up commands"
    );
    for bad in ["tried and not kept", "is withdrawn", "the issue's"] {
        assert!(!readme.contains(bad), "README carries history: {bad:?}");
    }
}

#[test]
fn every_readme_command_runs() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let d = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for (i, c) in shell_lines(&readme).iter().enumerate() {
        if c == "cargo test --release" {
            continue; // this is the suite that runs this test
        }
        if c == "pip install ./python" || c == "pytest python/tests" {
            // the Python package's commands: `.ci/run` runs them in a fresh venv
            let ci = std::fs::read_to_string(".ci/run").unwrap();
            let want = if c.starts_with("pip") {
                "pip\" install --quiet ./python"
            } else {
                "pytest -q python/tests"
            };
            assert!(ci.contains(want), ".ci/run does not run the README's {c:?}");
            continue;
        }
        let args: Vec<&str> = c
            .strip_prefix("cargo run --release -- ")
            .unwrap_or_else(|| panic!("README command {c:?} is not `cargo run --release -- …`"))
            .split_whitespace()
            .collect();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fibstack"));
        cmd.arg("--quiet").args(&args);
        if args.first() == Some(&"run") {
            cmd.arg("--out").arg(d.path().join(format!("run{i}")));
        }
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "README command {c:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} commands found");
}
