//! `docs/reference/cli.md`: every subcommand and flag of `switchyard-router` and
//! `switchyard-operator`, walked from their clap `Command`s. (clap-markdown does the same walk
//! but leaves out environment variables, which is how the chart and the operator configure
//! both binaries; hence this small generator.)

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command, CommandFactory};

/// The whole page.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Command-line reference\n\n\
         Generated from the binaries' clap definitions by `cargo run -p switchyard-docgen`; do \
         not edit by hand. Every flag with an environment variable can be set through it \
         (the flag wins). `--help` on any command prints the same text.\n\n",
    );
    let binaries = [
        build(switchyard_router::cli::Cli::command()),
        build(switchyard_operator::cli::Args::command()),
    ];
    out.push_str("Contents:\n\n");
    for bin in &binaries {
        toc(&mut out, bin, &[], 0);
    }
    out.push('\n');
    for bin in &binaries {
        command(&mut out, bin, &[], &[]);
    }
    out
}

fn build(mut cmd: Command) -> Command {
    // Propagates global flags and names subcommands' binaries ("switchyard-router serve").
    cmd.build();
    cmd
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

fn full_name(parents: &[&str], cmd: &Command) -> String {
    let mut parts: Vec<&str> = parents.to_vec();
    parts.push(cmd.get_name());
    parts.join(" ")
}

fn anchor(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn toc(out: &mut String, cmd: &Command, parents: &[&str], depth: usize) {
    let name = full_name(parents, cmd);
    let _ = writeln!(
        out,
        "{}- [`{name}`](#{})",
        "  ".repeat(depth),
        anchor(&name)
    );
    let mut path = parents.to_vec();
    path.push(cmd.get_name());
    for sub in visible_subcommands(cmd) {
        toc(out, sub, &path, depth + 1);
    }
}

/// Markdown table cell text: one line, pipes escaped.
fn cell(text: &str) -> String {
    let paragraphs: Vec<String> = text
        .trim()
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    paragraphs.join("<br><br>").replace('|', "\\|")
}

fn about(cmd: &Command) -> String {
    cmd.get_long_about()
        .or_else(|| cmd.get_about())
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn flag_name(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(ToString::to_string)
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    let takes_value = matches!(arg.get_action(), ArgAction::Set | ArgAction::Append);
    if arg.is_positional() {
        return format!("`<{value}>`");
    }
    let mut names = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("--{l}"));
    }
    let mut name = names.join(", ");
    if takes_value {
        let _ = write!(name, " <{value}>");
    }
    format!("`{name}`")
}

fn description(arg: &Arg) -> String {
    let mut text = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(h) => format!(
                "`{}` ({})",
                v.get_name(),
                h.to_string().trim_end_matches('.')
            ),
            None => format!("`{}`", v.get_name()),
        })
        .collect();
    // Booleans list "true, false": not worth saying.
    if !values.is_empty() && !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        let _ = write!(text, "\n\nOne of: {}.", values.join(", "));
    }
    if matches!(arg.get_action(), ArgAction::Append) && !text.to_lowercase().contains("repeatable")
    {
        text.push_str("\n\nRepeatable.");
    }
    if arg.is_required_set() {
        text.push_str("\n\nRequired.");
    }
    cell(&text)
}

fn args_table(out: &mut String, args: &[&Arg]) {
    out.push_str("| flag | environment | default | description |\n|---|---|---|---|\n");
    for arg in args {
        let env = arg
            .get_env()
            .map(|e| format!("`{}`", e.to_string_lossy()))
            .unwrap_or_default();
        let default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = if default.is_empty() || default == ["false"] {
            String::new()
        } else {
            format!("`{}`", default.join(","))
        };
        let _ = writeln!(
            out,
            "| {} | {env} | {default} | {} |",
            flag_name(arg),
            description(arg)
        );
    }
    out.push('\n');
}

fn is_builtin(arg: &Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

fn command(out: &mut String, cmd: &Command, parents: &[&str], globals: &[String]) {
    let name = full_name(parents, cmd);
    let level = "#".repeat((parents.len() + 2).min(6));
    let _ = writeln!(out, "{level} `{name}`\n");
    let text = about(cmd);
    if !text.is_empty() {
        let _ = writeln!(out, "{}\n", text.trim());
    }
    let usage = cmd
        .clone()
        .render_usage()
        .to_string()
        .trim_start_matches("Usage:")
        .trim()
        .to_owned();
    let _ = writeln!(out, "```text\n{usage}\n```\n");
    let mut own_globals: Vec<String> = globals.to_vec();
    let (global, local): (Vec<&Arg>, Vec<&Arg>) = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !is_builtin(a))
        .filter(|a| !globals.contains(&a.get_id().to_string()))
        .partition(|a| a.is_global_set());
    if !local.is_empty() {
        args_table(out, &local);
    }
    if !global.is_empty() {
        let _ = writeln!(out, "Global flags (accepted by every subcommand):\n");
        args_table(out, &global);
        own_globals.extend(global.iter().map(|a| a.get_id().to_string()));
    }
    let mut path = parents.to_vec();
    path.push(cmd.get_name());
    for sub in visible_subcommands(cmd) {
        command(out, sub, &path, &own_globals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_subcommand_and_flag_with_its_environment_variable() {
        let page = markdown();
        for heading in [
            "## `switchyard-router`",
            "### `switchyard-router serve`",
            "### `switchyard-router train`",
            "### `switchyard-router import`",
            "## `switchyard-operator`",
        ] {
            assert!(page.contains(heading), "missing {heading}");
        }
        assert!(page.contains("| `--listen <LISTEN>` | `SWITCHYARD_LISTEN` | `127.0.0.1:8080` |"));
        assert!(page.contains("| `-f, --file <FILE_OR_DIR>` |"));
        assert!(page.contains("`SWITCHYARD_ROUTER_IMAGE`"));
        // The global --log-format is listed once, not under every subcommand.
        assert_eq!(
            page.matches("`--log-format <LOG_FORMAT>`").count(),
            2,
            "router + operator"
        );
        assert!(
            !page.contains("| `-h, --help` |"),
            "clap's own --help is not a documented flag"
        );
        assert!(!page.contains("| `-V, --version` |"));
    }

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(cell("a | b\nc\n\nd"), "a \\| b c<br><br>d");
    }
}
