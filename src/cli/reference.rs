//! `fibstack reference DIR` (hidden): writes the manual's command-line reference
//! (`DIR/cli.md`) from the clap definitions, so the reference cannot drift from the code. A test
//! (`tests/docs_reference.rs`) fails when the committed page is stale.

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// Folder to write `cli.md` and `workflow.md` into (e.g. docs/src/reference).
    pub dir: PathBuf,
}

fn cell(t: &str) -> String {
    t.replace('|', "\\|").replace('\n', " ")
}

/// One table row for an argument: as a flag (`--sigma-nm DZ,DY,DX`) or as a workflow key
/// (`sigma_nm`).
fn row(a: &clap::Arg, as_key: bool) -> String {
    let takes = a.get_action().takes_values();
    let what = if as_key {
        format!("`{}`", a.get_id())
    } else if a.is_positional() {
        format!("`{}`", a.get_id().as_str().to_uppercase())
    } else {
        let mut f = a
            .get_long()
            .map(|l| format!("--{l}"))
            .or_else(|| a.get_short().map(|c| format!("-{c}")))
            .unwrap_or_default();
        if takes {
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
    let default = if as_key {
        match fibstack::workflow::steps::key_default_toml(a) {
            Some(d) => format!("`{d}`"),
            None if a.is_required_set() => "required".to_string(),
            None => "—".to_string(),
        }
    } else if takes && !a.get_default_values().is_empty() {
        let d: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        format!("`{}`", d.join(","))
    } else {
        String::new()
    };
    let mut help = a
        .get_long_help()
        .or(a.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let pvs: Vec<clap::builder::PossibleValue> = a
        .get_possible_values()
        .into_iter()
        .filter(|p| !p.is_hide_set())
        .collect();
    // a true/false option needs no list of its values
    let boolean = pvs.len() == 2 && pvs.iter().all(|p| matches!(p.get_name(), "true" | "false"));
    if !pvs.is_empty() && takes && !boolean {
        let help_end = help.trim_end().to_string();
        help = if help_end.is_empty() || help_end.ends_with('.') {
            help_end
        } else {
            format!("{help_end}.")
        };
        if as_key {
            let pv: Vec<String> = pvs
                .iter()
                .map(|p| match p.get_help() {
                    Some(h) => format!(
                        "`\"{}\"`: {}",
                        p.get_name(),
                        h.to_string().trim_end_matches('.')
                    ),
                    None => format!("`\"{}\"`", p.get_name()),
                })
                .collect();
            let _ = write!(help, " One of: {}.", pv.join("; "));
        } else {
            let pv: Vec<&str> = pvs.iter().map(|p| p.get_name()).collect();
            let _ = write!(help, " One of: `{}`.", pv.join("`, `"));
        }
    }
    format!("| {what} | {default} | {} |", cell(help.trim()))
}

/// Hand-written part of the workflow-key reference, for the step kinds whose keys are not yet
/// generated from their definition.
const WORKFLOW_HAND: &str = include_str!("reference_workflow_hand.md");

/// The workflow-key reference as Markdown: generated tables for the step kinds defined by one
/// struct (`workflow::steps::key_schemas`), then the hand-written part.
pub fn workflow_markdown() -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Workflow keys reference\n");
    let _ = writeln!(
        s,
        "`fibstack run FILE --check` validates a workflow against the same definitions before any \
         work and names the closest valid key for a misspelt one. For the step kinds below, the \
         tables are generated from the definition that the workflow reader and the command line \
         share (`cargo run -- reference docs/src/reference`): each key is the flag of the same \
         name with `-` for `_` (`sigma_nm` is `--sigma-nm`), with the same default. Lists are \
         written as TOML arrays in a workflow (`sigma_nm = [0.0, 10.0, 10.0]`) and comma-separated \
         on the command line.\n"
    );
    for (kind, cmd) in fibstack::workflow::steps::key_schemas() {
        let _ = writeln!(s, "## `kind = \"{kind}\"`\n");
        let _ = writeln!(s, "| key | default | meaning |\n|---|---|---|");
        for a in cmd.get_arguments().filter(|a| a.get_id() != "help") {
            let _ = writeln!(s, "{}", row(a, true));
        }
        let _ = writeln!(s);
    }
    synth_markdown(&mut s);
    s.push_str(WORKFLOW_HAND);
    s
}

/// The `synth` step's keys: every key of the simulator spec with its default (read from the
/// spec's definition, `workflow::steps::synth::synth_key_defaults`), the meaning and the
/// shorthand flag of `fibstack synth` where one exists, and the step's own keys.
fn synth_markdown(s: &mut String) {
    use super::synth::{Form, FLAGS};
    use fibstack::workflow::steps::synth::{SYNTH_LABELS, SYNTH_SAVE};
    let _ = writeln!(s, "## `kind = \"synth\"`\n");
    let _ = writeln!(
        s,
        "The simulator's keys, the same for the workflow step, `fibstack synth --params FILE.toml` \
         and `fibstack synth --set KEY=VALUE`. Keys of nested tables are written dotted \
         (`acquisition.noise.gaussian_sigma = 0.02`, or the table `[steps.acquisition.noise]` \
         in a workflow). Without `seed` a workflow uses its own seed. The shorthand flag of \
         `fibstack synth` that sets a key is named beside it; what each effect and its \
         parameters do is described in [the simulator guide](../guide/simulator.md).\n"
    );
    let _ = writeln!(s, "| key | default | meaning |\n|---|---|---|");
    for (key, default) in fibstack::workflow::steps::synth::synth_key_defaults() {
        let flags: Vec<String> = FLAGS
            .iter()
            .filter(|f| f.key == key || matches!(f.form, Form::Pair(k2, _) if k2 == key))
            .map(|f| {
                let h = f.help.trim_end_matches('.');
                match f.form {
                    Form::Fixed(b) | Form::IfPresent(b) => {
                        format!("`--{}` sets `{b}`: {h}", f.flag)
                    }
                    Form::Remove => format!("`--{}` removes it: {h}", f.flag),
                    Form::Ensure => format!("`--{}` adds it with its defaults: {h}", f.flag),
                    Form::Pair(k2, _) if k2 == key => format!("`--{}` (second value): {h}", f.flag),
                    Form::Pair(..) => format!("`--{}` (first value): {h}", f.flag),
                    _ => format!("`--{}`: {h}", f.flag),
                }
            })
            .collect();
        let default = default.map_or("—".to_string(), |d| format!("`{d}`"));
        let _ = writeln!(s, "| `{key}` | {default} | {} |", cell(&flags.join("; ")));
    }
    for k in [SYNTH_LABELS, SYNTH_SAVE] {
        let _ = writeln!(s, "| `{}` | — | {} |", k.key, cell(k.help));
    }
    let _ = writeln!(s);
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
            let _ = writeln!(s, "{}", row(a, false));
        }
    }
    s
}

pub fn run(a: ReferenceArgs, g: &super::Global) -> Result<()> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("{}", a.dir.display()))?;
    for (name, text) in [
        ("cli.md", cli_markdown()),
        ("workflow.md", workflow_markdown()),
    ] {
        let p = a.dir.join(name);
        fibstack::io::atomic::write_bytes(&p, text.as_bytes())?;
        if !g.quiet {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}
