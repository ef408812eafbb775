//! Every long flag the binary's `--help` shows is documented: the top level and
//! every subcommand, found by walking the `Commands:` sections of the help
//! itself (so a new subcommand is covered without touching this test), must
//! have each of its `--flags` named in README.md or a file under docs/.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Subcommands nest two deep today (`hawatch ctl server`); the walk stops at
/// this depth and fails if the help there still lists subcommands.
const MAX_DEPTH: usize = 4;

/// Flags every command has; clap writes their help.
const EXEMPT: &[&str] = &["--help", "--version"];

/// `hawatch ARGS... --help`, as text.
fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hawatch"))
        .args(path)
        .arg("--help")
        .env_remove("HAWATCH_LOG")
        .env_remove("HAWATCH_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("Usage:"),
        "hawatch {} --help: {:?}\n{text}{}",
        path.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The subcommand names of a help text's `Commands:` section (clap's own
/// `help` left out). Entries are indented by two spaces; a wrapped or
/// long-help description is indented further; the section ends at the next
/// heading (a line that starts without a space).
fn subcommands(help: &str) -> Vec<String> {
    let mut lines = help.lines().skip_while(|l| l.trim_end() != "Commands:").skip(1);
    let mut names = Vec::new();
    for line in lines.by_ref() {
        if !line.is_empty() && !line.starts_with(' ') {
            break;
        }
        let Some(entry) = line.strip_prefix("  ").filter(|e| !e.starts_with(' ')) else {
            continue;
        };
        let name = entry.split_whitespace().next().unwrap_or_default();
        if name != "help" && !name.is_empty() {
            names.push(name.to_string());
        }
    }
    names
}

fn is_flag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Every `--flag` written in a text, where `--` starts a word.
fn long_flags(text: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for (i, _) in text.match_indices("--") {
        if text[..i].chars().next_back().is_some_and(is_flag_char) {
            continue;
        }
        let name: String = text[i + 2..].chars().take_while(|&c| is_flag_char(c)).collect();
        if name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            flags.push(format!("--{name}"));
        }
    }
    flags
}

/// `flag` is written in `doc` as a whole word: `--haproxy` is not found in
/// `--haproxy-config`, nor `--log` in another program's `--log.level`.
fn mentions(doc: &str, flag: &str) -> bool {
    doc.match_indices(flag).any(|(i, _)| {
        let joined_before = doc[..i].chars().next_back().is_some_and(is_flag_char);
        let mut after = doc[i + flag.len()..].chars();
        let joined_after = match after.next() {
            Some('.') => after.next().is_some_and(|c| c.is_ascii_alphanumeric()),
            next => next.is_some_and(is_flag_char),
        };
        !(joined_before || joined_after)
    })
}

/// README.md and every file under docs/, with their paths.
fn documentation() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.push((path.display().to_string(), text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![(
        "README.md".to_string(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    )];
    walk(&root.join("docs"), &mut docs);
    assert!(docs.len() > 5, "README.md and docs/ not found under {}", root.display());
    docs
}

#[test]
fn every_flag_in_help_is_documented() {
    // Each command path (`[]` is the top level) with its help text.
    let mut helps: BTreeMap<Vec<String>, String> = BTreeMap::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let text = help(&path);
        let subs = subcommands(&text);
        assert!(
            subs.is_empty() || path.len() < MAX_DEPTH,
            "hawatch {} has subcommands deeper than MAX_DEPTH ({MAX_DEPTH}): raise it",
            path.join(" ")
        );
        for s in subs {
            let mut p = path.clone();
            p.push(s);
            todo.push(p);
        }
        helps.insert(path, text);
    }
    // The walk itself must work, or this test would pass by finding nothing.
    for known in [
        &["watch"][..],
        &["check"],
        &["ctl", "recover"],
        &["outbox", "retry"],
        &["notify", "test"],
        &["config", "show"],
    ] {
        let known: Vec<String> = known.iter().map(|s| s.to_string()).collect();
        assert!(
            helps.contains_key(&known),
            "`hawatch {}` was not found by walking the help; found: {:?}",
            known.join(" "),
            helps.keys().collect::<Vec<_>>()
        );
    }

    // Each flag with the commands whose help shows it (a global flag shows in all).
    let mut flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, text) in &helps {
        for flag in long_flags(text).into_iter().filter(|f| !EXEMPT.contains(&f.as_str())) {
            let cmd = ["hawatch"]
                .into_iter()
                .chain(path.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            let cmds = flags.entry(flag).or_default();
            if !cmds.contains(&cmd) {
                cmds.push(cmd);
            }
        }
    }
    assert!(
        flags.len() > 20,
        "only {} flags found in {} help texts",
        flags.len(),
        helps.len()
    );
    let docs = documentation();
    let missing: Vec<String> = flags
        .iter()
        .filter(|(flag, _)| !docs.iter().any(|(_, doc)| mentions(doc, flag)))
        .map(|(flag, cmds)| match &cmds[..] {
            [one] => format!("{flag} ({one})"),
            [first, rest @ ..] => format!("{flag} ({first} and {} more)", rest.len()),
            [] => unreachable!(),
        })
        .collect();
    assert!(
        missing.is_empty(),
        "flags shown by --help but written nowhere in README.md or docs/ (document each where its command is described):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_help_parsers_read_clap_output() {
    let top = "Usage: hawatch [OPTIONS] <COMMAND>\n\nCommands:\n  watch   Poll HAProxy instances, turn\n          changes into events\n  vrrp-notify\n          For keepalived's `notify`\n  help    Print this message\n\nOptions:\n      --log <LOG>  Log filter\n  -h, --help       Print help\n";
    assert_eq!(subcommands(top), ["watch", "vrrp-notify"]);
    assert_eq!(long_flags(top), ["--log", "--help"]);
    assert_eq!(long_flags("Do not ask (unless --yes); a-b--c, ---, -- x"), ["--yes"]);
    assert!(mentions("`--haproxy PATH` names it", "--haproxy"));
    assert!(mentions("stops at --once.", "--once"));
    assert!(!mentions("`--haproxy-config PATH`", "--haproxy"));
    assert!(!mentions("alertmanager --log.level=warn", "--log"));
    assert!(!mentions("x--log", "--log"));
}
