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
        &["keepalived", "http", "agent", "ops", "watch"],
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

/// The top-level modules a line of code names through `crate::`, including
/// grouped imports (`use crate::{a::X, b::Y}`). Comments are skipped.
fn targets(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = &rest[..i];
        rest = &rest[i + "crate::".len()..];
        // `hawatch::crate::` does not exist; `$crate::` is a macro's own crate.
        if before.ends_with('$') || before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            out.extend(inner.split(',').filter_map(|p| {
                let head = p.trim().split("::").next()?.trim();
                (!head.is_empty()).then(|| head.to_string())
            }));
            continue;
        }
        let head: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !head.is_empty() {
            out.push(head);
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
        let first = rel
            .components()
            .next()
            .expect("a path")
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let from = first.trim_end_matches(".rs").to_string();
        if from == "lib" || from == "main" || from == "layers" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("source is readable");
        // `use crate::{...}` may span lines: join a grouped import first.
        let joined = text.replace("{\n", "{").replace(",\n", ",");
        for (n, line) in joined.lines().enumerate() {
            for to in targets(line) {
                if to != from && !["self", "super"].contains(&to.as_str()) {
                    out.entry((from.clone(), to))
                        .or_insert_with(|| format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
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
        let (Some(lf), Some(lt)) = (layer_of(&from), layer_of(&to)) else {
            continue; // every_module_has_a_layer reports it
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
    assert_eq!(targets("use crate::model::event::Event;"), ["model"]);
    assert_eq!(
        targets("use crate::{config::Config, store::Store};"),
        ["config", "store"]
    );
    assert_eq!(
        targets("    let x = crate::text::visible(s); // crate::runtime"),
        ["text"]
    );
    assert_eq!(targets("/// see [`crate::runtime`]"), Vec::<String>::new());
    assert_eq!(targets("$crate::model::x"), Vec::<String>::new());
    // A known upward import is caught: logic (pure) using the store.
    let lf = layer_of("logic").unwrap();
    let lt = layer_of("store").unwrap();
    assert!(lt > lf);
    assert!(imports().keys().all(|(f, t)| !(f == "logic" && t == "store")));
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
