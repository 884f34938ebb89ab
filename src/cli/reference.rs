//! `fibstack reference DIR` (hidden): writes the manual's command-line reference
//! (`DIR/cli.md`) from the clap definitions, so the reference cannot drift from the code. A test
//! (`tests/docs_reference.rs`) fails when the committed page is stale.

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// Folder to write `cli.md` into (e.g. docs/src/reference).
    pub dir: PathBuf,
}

fn cell(t: &str) -> String {
    t.replace('|', "\\|").replace('\n', " ")
}

/// The command-line reference as Markdown.
pub fn cli_markdown() -> String {
    let cmd = super::Cli::command();
    let mut s = String::new();
    let _ = writeln!(s, "# Command-line reference\n");
    let _ = writeln!(
        s,
        "Generated from the program's own definitions by `cargo run -- reference docs/src/reference`; \
         `fibstack COMMAND --help` prints the same text. Global flags (every command): \
         `--threads N` (worker threads; results never depend on it), `--quiet` (no progress or \
         notes on stderr).\n"
    );
    let _ = writeln!(s, "| command | what it does |\n|---|---|");
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        let _ = writeln!(
            s,
            "| [`{0}`](#fibstack-{0}) | {1} |",
            sub.get_name(),
            cell(&sub.get_about().map(|a| a.to_string()).unwrap_or_default())
        );
    }
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = sub.get_name();
        let _ = writeln!(s, "\n## fibstack {name}\n");
        if let Some(a) = sub.get_long_about().or(sub.get_about()) {
            let _ = writeln!(s, "{a}\n");
        }
        let aliases: Vec<&str> = sub.get_visible_aliases().collect();
        if !aliases.is_empty() {
            let _ = writeln!(s, "Aliases: `{}`.\n", aliases.join("`, `"));
        }
        let mut sub = sub.clone().bin_name(format!("fibstack {name}"));
        let usage = sub.render_usage().to_string();
        let _ = writeln!(
            s,
            "```text\n{}\n```\n",
            usage.trim_start_matches("Usage: ").trim()
        );
        let args: Vec<&clap::Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help")
            .collect();
        if args.is_empty() {
            continue;
        }
        let _ = writeln!(s, "| argument | default | meaning |\n|---|---|---|");
        for a in args {
            let what = if a.is_positional() {
                format!("`{}`", a.get_id().as_str().to_uppercase())
            } else {
                let mut f = a
                    .get_long()
                    .map(|l| format!("--{l}"))
                    .or_else(|| a.get_short().map(|c| format!("-{c}")))
                    .unwrap_or_default();
                if a.get_action().takes_values() {
                    let v = a
                        .get_value_names()
                        .map(|v| {
                            v.iter()
                                .map(|x| x.to_string())
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
                    f = format!("{f} {v}");
                }
                format!("`{f}`")
            };
            let default: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let default = if default.is_empty() || !a.get_action().takes_values() {
                String::new()
            } else {
                format!("`{}`", default.join(","))
            };
            let mut help = a
                .get_long_help()
                .or(a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let pv: Vec<String> = a
                .get_possible_values()
                .iter()
                .filter(|p| !p.is_hide_set())
                .map(|p| p.get_name().to_string())
                .collect();
            if !pv.is_empty() && a.get_action().takes_values() {
                let _ = write!(help, " One of: `{}`.", pv.join("`, `"));
            }
            let _ = writeln!(s, "| {what} | {default} | {} |", cell(help.trim()));
        }
    }
    s
}

pub fn run(a: ReferenceArgs, g: &super::Global) -> Result<()> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("{}", a.dir.display()))?;
    let p = a.dir.join("cli.md");
    fibstack::io::atomic::write_bytes(&p, cli_markdown().as_bytes())?;
    if !g.quiet {
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
