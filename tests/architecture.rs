//! The module graph (ARCHITECTURE.md, "Modules and what each may use"): every top-level module
//! of `src/` has a layer, imports only from lower layers (services may use one another), and
//! no import circle exists between top-level modules. The graph is read from the source:
//! every `crate::<module>` path outside comments, `use crate::{a, b}` groups included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layers, lowest first. A module may import from a strictly lower layer; modules of the
/// services layer may also import one another (the circle check keeps that one-way).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &[
            "cache", "clock", "codes", "ofd", "pdf", "pii", "store", "upload", "work",
        ],
    ),
    ("keys and settings", &["config", "keys"]),
    ("log", &["log"]),
    ("pki", &["pki"]),
    ("errors", &["error"]),
    ("callers and context", &["auth", "context"]),
    (
        "services",
        &["admin", "audit", "licence", "seal", "verify", "witness"],
    ),
    ("http", &["http"]),
    ("startup", &["startup"]),
];
const SERVICES: &str = "services";

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, mods))| mods.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

/// The top-level modules declared in `src/lib.rs`.
fn modules(src: &Path) -> Vec<String> {
    std::fs::read_to_string(src.join("lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a piece of code names through `crate::`.
fn referenced(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            out.push(ident(rest));
            continue;
        };
        // Items separated by the commas at the group's own depth: `{a::{b, c}, d}` names a, d.
        let (mut depth, mut item) = (0usize, String::new());
        for c in group.chars() {
            match c {
                '}' if depth == 0 => break,
                ',' if depth == 0 => out.push(ident(&std::mem::take(&mut item))),
                '{' => depth += 1,
                '}' => depth -= 1,
                _ if depth == 0 => item.push(c),
                _ => {}
            }
        }
        out.push(ident(&item));
    }
    out.retain(|m| !m.is_empty());
    out
}

/// Edges between top-level modules, each with one place that makes it.
fn graph(src: &Path) -> BTreeMap<(String, String), String> {
    let mods = modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let from = first.trim_end_matches(".rs").to_owned();
        if !mods.contains(&from) {
            continue; // lib.rs, main.rs
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for to in referenced(code) {
                if to != from && mods.contains(&to) {
                    edges
                        .entry((from.clone(), to))
                        .or_insert_with(|| format!("{}:{}", rel.display(), n + 1));
                }
            }
        }
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn circles(edges: &BTreeMap<(String, String), String>) -> Vec<Vec<String>> {
    let mut adjacent: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        adjacent.entry(a).or_default().push(b);
        adjacent.entry(b).or_default();
    }
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(v: &'a str, adj: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        for &w in &adj[v] {
            if !s.index.contains_key(w) {
                visit(w, adj, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for &v in adjacent.keys() {
        if !state.index.contains_key(v) {
            visit(v, &adjacent, &mut state);
        }
    }
    state.found
}

/// What is wrong with a module graph: modules without a layer, imports that go up (or across,
/// outside the services layer), circles.
fn problems(mods: &[String], edges: &BTreeMap<(String, String), String>) -> Vec<String> {
    let mut out = Vec::new();
    for m in mods {
        if layer_of(m).is_none() {
            out.push(format!(
                "module `{m}` has no layer: add it to LAYERS here and to ARCHITECTURE.md"
            ));
        }
    }
    for ((a, b), at) in edges {
        let (Some((la, na)), Some((lb, _))) = (layer_of(a), layer_of(b)) else {
            continue;
        };
        let sideways_service = la == lb && na == SERVICES;
        if la < lb || (la == lb && !sideways_service) {
            out.push(format!(
                "`{a}` ({na}) imports `{b}` ({}) at {at}: imports must point down the layers",
                LAYERS[lb].0
            ));
        }
    }
    for circle in circles(edges) {
        let places: Vec<&str> = edges
            .iter()
            .filter(|((a, b), _)| circle.contains(a) && circle.contains(b))
            .map(|(_, at)| at.as_str())
            .collect();
        out.push(format!(
            "import circle between {}: {}",
            circle.join(", "),
            places.join(", ")
        ));
    }
    out
}

#[test]
fn dependencies_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mods = modules(&src);
    assert!(mods.len() > 10, "read the modules of src/lib.rs: {mods:?}");
    let edges = graph(&src);
    assert!(edges.contains_key(&("http".to_owned(), "licence".to_owned())));
    let found = problems(&mods, &edges);
    assert!(found.is_empty(), "\n{}\n", found.join("\n"));
}

#[test]
fn the_check_sees_circles_and_upward_imports() {
    let mods: Vec<String> = ["store", "log", "pki", "admin", "verify"]
        .map(str::to_owned)
        .to_vec();
    let edge = |a: &str, b: &str| ((a.to_owned(), b.to_owned()), format!("{a}.rs:1"));
    let good: BTreeMap<_, _> = [
        edge("pki", "log"),
        edge("log", "store"),
        edge("admin", "verify"),
    ]
    .into_iter()
    .collect();
    assert!(problems(&mods, &good).is_empty());
    // A service importing a sibling back: a circle.
    let mut circle = good.clone();
    circle.extend([edge("verify", "admin")]);
    let found = problems(&mods, &circle);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("import circle between admin, verify"));
    // The store importing the log: upward, and a circle with it.
    let mut up = good.clone();
    up.extend([edge("store", "log")]);
    let found = problems(&mods, &up);
    assert!(found
        .iter()
        .any(|p| p.contains("`store` (leaves) imports `log`")));
    assert!(found
        .iter()
        .any(|p| p.contains("import circle between log, store")));
    assert_eq!(
        referenced("use crate::{keys::Signer, log::{Event, EventType}}; crate::pki::x"),
        ["keys", "log", "pki"]
    );
}
