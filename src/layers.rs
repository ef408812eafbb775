//! The layer rule, enforced: every `crate::` path in `src/` points to a
//! module of the same layer or a lower one (see the map in `lib.rs` and
//! docs/architecture.md), and the modules of one layer do not form a cycle.
//! Same style as `every_key_is_documented`: it reads the sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first, and their top-level modules. A new module
/// must be placed here (the test fails until it is).
pub(crate) const LAYERS: &[(&str, &[&str])] = &[
    ("shared text and errors", &["text", "error"]),
    ("model", &["model"]),
    ("pure logic", &["logic"]),
    ("config", &["config"]),
    ("adapters", &["store", "source", "metrics", "notify"]),
    ("runtime", &["runtime"]),
    (
        "daemons, ops and views",
        &["keepalived", "http", "agent", "ops", "watch", "top"],
    ),
    ("command line", &["cli", "commands", "demo"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The source as code only: comments (`//` to the end of the line, `/* */`)
/// and the insides of string and char literals become spaces, newlines stay,
/// so offsets, line numbers and braces still mean what they meant.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('/', Some('/')) => {
                out.push(' ');
                for n in chars.by_ref() {
                    out.push(blank(n));
                    if n == '\n' {
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                out.push(' ');
                let mut prev = ' ';
                for n in chars.by_ref() {
                    out.push(blank(n));
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            ('"', _) => {
                out.push('"');
                let mut escaped = false;
                for n in chars.by_ref() {
                    if !escaped && n == '"' {
                        out.push('"');
                        break;
                    }
                    escaped = !escaped && n == '\\';
                    out.push(blank(n));
                }
            }
            // A char literal ('{', '"', '\''); a lifetime (`'a`) has no closing quote.
            ('\'', Some(n)) => {
                let mut look = chars.clone();
                look.next();
                let lit = if n == '\\' {
                    look.next();
                    look.next() == Some('\'')
                } else {
                    look.next() == Some('\'')
                };
                out.push('\'');
                if lit {
                    let len = if n == '\\' { 3 } else { 2 };
                    for _ in 0..len {
                        let x = chars.next().unwrap_or(' ');
                        out.push(if x == '\'' { '\'' } else { ' ' });
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// How many inline modules (`mod tests { .. }`) enclose byte `at` of `code`.
fn inline_depth(code: &str, at: usize) -> usize {
    let mut depth = 0;
    for (i, _) in code[..at].match_indices("mod ") {
        if code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let after = &code[i + 4..at];
        let name_len = after.len()
            - after
                .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_')
                .len();
        let rest = after[name_len..].trim_start();
        if name_len == 0 || !rest.starts_with('{') {
            continue; // `mod x;` is a file, counted by the path
        }
        // Still open at `at`: more `{` than `}` between the module's brace and `at`.
        let opens = rest.matches('{').count();
        let closes = rest.matches('}').count();
        if opens > closes {
            depth += 1;
        }
    }
    depth
}

/// The first segments of a path tree after `crate::` or a `super::`
/// chain: `a::X` gives `a`, `{a::X, b::{c, d}}` gives `a` and `b`.
fn heads(rest: &str) -> Vec<String> {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    out.extend(heads(&group[start..i]));
                    return out;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.extend(heads(&group[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
        return out;
    }
    let head: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if head.is_empty() {
        Vec::new()
    } else {
        vec![head]
    }
}

/// The top-level modules `text` (a file of module `path`, e.g. `["watch",
/// "poller"]`) names, with the 1-based line of each: through `crate::`
/// (grouped imports included, over several lines) and through `super::`
/// chains that climb to the crate root. Comments are skipped.
fn targets_in(text: &str, path: &[&str]) -> Vec<(String, usize)> {
    let code = code_of(text);
    let line_at = |i: usize| code[..i].matches('\n').count() + 1;
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let before = &code[..i];
        // `$crate::` is a macro's own crate; `xcrate::` is another name.
        if before.ends_with('$') || before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        out.extend(heads(&code[i + "crate::".len()..]).into_iter().map(|h| (h, line_at(i))));
    }
    for (i, _) in code.match_indices("super::") {
        let before = &code[..i];
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // the middle of a chain, counted from its start
        }
        let mut rest = &code[i..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        // Inside an inline `mod tests` it takes one `super` more.
        if ups == path.len() + inline_depth(&code, i) {
            out.extend(heads(rest).into_iter().map(|h| (h, line_at(i))));
        }
    }
    out
}

/// (from module, to module) → the first place it happens.
fn imports() -> BTreeMap<(String, String), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        let mut path: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        let from = path[0].clone();
        if from == "lib" || from == "main" || from == "layers" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("source is readable");
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        for (to, line) in targets_in(&text, &path) {
            if to != from && to != "self" && to != "super" {
                let shown = text.lines().nth(line - 1).unwrap_or("").trim();
                out.entry((from.clone(), to))
                    .or_insert_with(|| format!("{}:{line}: {shown}", rel.display()));
            }
        }
    }
    out
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        if ["lib", "main", "layers"].contains(&name.as_str()) || p.extension().is_some_and(|e| e != "rs") {
            continue;
        }
        if layer_of(&name).is_none() {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a layer (add them to LAYERS in src/layers.rs and to docs/architecture.md): {missing:?}"
    );
}

#[test]
fn no_import_points_up_a_layer() {
    let mut up = Vec::new();
    for ((from, to), at) in imports() {
        let Some(lf) = layer_of(&from) else {
            continue; // every_module_has_a_layer reports it
        };
        let Some(lt) = layer_of(&to) else {
            up.push(format!(
                "{from} uses crate::{to}, which is no layered module (a re-export in lib.rs?), at {at}"
            ));
            continue;
        };
        if lt > lf {
            up.push(format!(
                "{from} ({}) uses {to} ({}), a higher layer, at {at}",
                LAYERS[lf].0, LAYERS[lt].0
            ));
        }
    }
    assert!(up.is_empty(), "imports that point up a layer:\n{}", up.join("\n"));
}

#[test]
fn modules_of_one_layer_form_no_cycle() {
    let edges: BTreeSet<(String, String)> = imports().into_keys().collect();
    let mods: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    // A module is on a cycle if it reaches itself.
    let mut cyclic = Vec::new();
    for m in mods {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges.iter().filter(|(a, _)| a == m).map(|(_, b)| b).collect();
        while let Some(n) = todo.pop() {
            if n == m {
                cyclic.push(m.clone());
                break;
            }
            if seen.insert(n) {
                todo.extend(edges.iter().filter(|(a, _)| a == n).map(|(_, b)| b));
            }
        }
    }
    assert!(cyclic.is_empty(), "modules on an import cycle: {cyclic:?}");
}

#[test]
fn the_rule_sees_what_it_checks() {
    let t = |text: &str, path: &[&str]| -> Vec<String> { targets_in(text, path).into_iter().map(|(m, _)| m).collect() };
    assert_eq!(t("use crate::model::event::Event;", &["x"]), ["model"]);
    assert_eq!(
        t("use crate::{config::Config, store::Store};", &["x"]),
        ["config", "store"]
    );
    // Nested groups, over several lines, with comments and a URL between.
    let nested = "use crate::{\n    model::{event::Event, notice::Notice}, // a note with crate::text\n    /* crate::cli */ runtime::{recorder::Recorder},\n};\nconst U: &str = \"http://x\"; use crate::store::Store;";
    assert_eq!(t(nested, &["x"]), ["model", "runtime", "store"]);
    assert_eq!(targets_in(nested, &["x"])[2].1, 5, "line numbers survive the comments");
    assert_eq!(
        t("    let x = crate::text::visible(s); // crate::runtime", &["x"]),
        ["text"]
    );
    assert!(t("/// see [`crate::runtime`]", &["x"]).is_empty());
    assert!(t("$crate::model::x", &["x"]).is_empty());
    // A `super` chain that reaches the root names a top-level module; a
    // shorter one stays inside the module.
    assert_eq!(t("use super::super::store::Store;", &["logic", "plan"]), ["store"]);
    assert!(t("use super::route::Zone;", &["logic", "plan"]).is_empty());
    assert_eq!(t("use super::store::Store;", &["logic"]), ["store"]);
    let tests = "fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::super::route::Zone;\n    use super::super::super::store::S;\n}\n";
    assert_eq!(t(tests, &["logic", "plan"]), ["store"]);
    assert_eq!(
        t(
            "let c = '{'; let s = \"}\"; mod tests { fn g() {} }\nuse super::super::store::S;",
            &["logic", "plan"]
        ),
        ["store"]
    );
    // And the rule flags what it finds: pure logic using the store points up.
    let lf = layer_of("logic").unwrap();
    let lt = layer_of("store").unwrap();
    assert!(lt > lf);
    assert!(layer_of("nonesuch").is_none());
}

/// Only the command line turns a path into a configuration: the layers
/// below get a validated `Config` (a daemon, a loader it calls on SIGHUP).
#[test]
fn only_the_command_line_loads_a_config() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if rel.starts_with("config/") || ["commands.rs", "demo.rs", "layers.rs"].contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("Config::load") {
                found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a configuration loaded below the command line:\n{}",
        found.join("\n")
    );
}

/// README's Layout table matches the tree: every path it names exists, and
/// every top-level module of `src/` is in it.
#[test]
fn the_readme_layout_matches_the_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table: Vec<&str> = readme
        .split("## Layout")
        .nth(1)
        .expect("README has a Layout section")
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let mut named = Vec::new();
    for row in &table {
        let first = row.split('|').nth(1).unwrap_or("");
        named.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
    }
    let missing: Vec<&String> = named.iter().filter(|p| !root.join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "README's Layout names paths that do not exist: {missing:?}"
    );
    let mut unlisted = Vec::new();
    for entry in std::fs::read_dir(root.join("src")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let path = if name.ends_with(".rs") {
            format!("src/{name}")
        } else {
            format!("src/{name}/")
        };
        if name != "lib.rs" && !named.contains(&path) {
            unlisted.push(path);
        }
    }
    assert!(unlisted.is_empty(), "README's Layout does not list: {unlisted:?}");
}
