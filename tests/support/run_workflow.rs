//! Shared by the integration tests that run a workflow file of `workflows/` through the binary.

use std::path::Path;
use std::process::Command;

/// `fibstack run workflows/NAME.toml --out OUT -q` from the crate root; panics with the stderr
/// when it fails.
pub fn run_workflow(name: &str, out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args([
            "run",
            &format!("workflows/{name}.toml"),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run fibstack");
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
