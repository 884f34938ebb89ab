//! The manual's generated reference pages are up to date with the code: regenerating them into a
//! temporary folder gives the committed text (otherwise: run the command in the message).

use std::process::Command;

#[test]
fn cli_reference_is_not_stale() {
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_fibstack"))
        .args(["--quiet", "reference"])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fresh = std::fs::read_to_string(d.path().join("cli.md")).unwrap();
    let committed = std::fs::read_to_string("docs/src/reference/cli.md").unwrap_or_default();
    assert!(
        fresh == committed,
        "docs/src/reference/cli.md is stale: run `cargo run --release -- reference docs/src/reference` and commit it"
    );
    let fresh_wf = std::fs::read_to_string(d.path().join("workflow.md")).unwrap();
    let committed_wf =
        std::fs::read_to_string("docs/src/reference/workflow.md").unwrap_or_default();
    assert!(
        fresh_wf == committed_wf,
        "docs/src/reference/workflow.md is stale: run `cargo run --release -- reference docs/src/reference` and commit it"
    );
    for needle in [
        "## `kind = \"denoise\"`",
        "| `sigma_nm` |",
        "| `radius_nm` | required |",
    ] {
        assert!(
            fresh_wf.contains(needle),
            "{needle} missing from workflow.md"
        );
    }
    // it is a real reference: every visible command and, e.g., denoise's flags appear
    for needle in [
        "## fibstack denoise",
        "`--sigma NM`",
        "## fibstack tortuosity",
        "`--json`",
    ] {
        assert!(fresh.contains(needle), "{needle} missing");
    }
}
