//! The house's rules, read from the source: no two files of `src/` import each other,
//! directly or in a circle, and few files lie at the top of `src/`.
//!
//! A file's imports are the `crate::` and `super::` paths in its code outside its test
//! module (in `use` items, braces expanded, and inline), each resolved to the file of the
//! longest module it names. A folder's `mod.rs` (and `lib.rs`) may name its own children:
//! declaring and re-exporting them is what it is for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` -> `["a", "b"]`, `src/a/mod.rs` -> `["a"]`, `src/lib.rs` -> `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The code without comments and the test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

/// `a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let path: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = path.find('{') else { return vec![path] };
    let close = path.rfind('}').unwrap();
    let (head, inner) = (&path[..open], &path[open + 1..close]);
    let mut parts = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).flat_map(|p| expand(&format!("{head}{p}"))).collect()
}

/// The module paths `code` names, absolute (`super::` resolved against `module`, the
/// file's own; a `mod.rs` is its folder's module).
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut raw: Vec<String> = vec![];
    for item in code.split("use ").skip(1) {
        let item = item.split(';').next().unwrap();
        if item.starts_with("crate::") || item.starts_with("super::") || item.starts_with("self::") {
            raw.extend(expand(item));
        }
    }
    for start in ["crate::", "super::"] {
        for (i, _) in code.match_indices(start) {
            let rest = &code[i..];
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
            raw.push(rest[..end].to_string());
        }
    }
    raw.into_iter()
        .filter_map(|p| {
            let segs: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
            let mut at: Vec<String> = match *segs.first()? {
                "crate" => vec![],
                "super" => module[..module.len().checked_sub(1)?].to_vec(),
                "self" => module.to_vec(),
                _ => return None,
            };
            for s in &segs[1..] {
                if *s == "super" {
                    at.pop();
                } else {
                    at.push(s.to_string());
                }
            }
            Some(at)
        })
        .collect()
}

/// File -> the files it imports.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    imports_of("src")
}

/// The import graph of the crate whose `src` is at `rel` (from the repository's root).
fn imports_of(rel: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    let mut files = vec![];
    sources(&src, &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|f| (module_of(&src, f), f.strip_prefix(&src).unwrap().display().to_string()))
        .collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let module = module_of(&src, f);
        let name = f.strip_prefix(&src).unwrap().display().to_string();
        let owner = name.ends_with("mod.rs") || name == "lib.rs";
        let mut to = BTreeSet::new();
        for path in named_paths(&code(&std::fs::read_to_string(f).unwrap()), &module) {
            // The longest prefix that is a file's module.
            let Some(target) = (0..=path.len()).rev().find_map(|n| modules.get(&path[..n])) else { continue };
            let target_module = module_of(&src, &src.join(target));
            let descendant = target_module.len() > module.len() && target_module.starts_with(&module);
            if *target != name && !(owner && descendant) {
                to.insert(target.clone());
            }
        }
        graph.insert(name, to);
    }
    graph
}

/// Every circle of `graph`, each once (Tarjan's strongly connected components of more
/// than one file).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
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
            let mut part = vec![];
            loop {
                let w = s.stack.pop().unwrap();
                s.on.remove(w);
                part.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if part.len() > 1 {
                part.sort();
                s.out.push(part);
            }
        }
    }
    let mut s = State { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: vec![], on: BTreeSet::new(), out: vec![] };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_two_files_import_each_other_directly_or_in_a_circle() {
    let graph = imports();
    let found = circles(&graph);
    let said: Vec<String> = found
        .iter()
        .map(|c| {
            let ties: Vec<String> =
                c.iter().flat_map(|a| graph[a].iter().filter(|b| c.contains(b)).map(move |b| format!("{a} -> {b}"))).collect();
            ties.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "circles:\n{}", said.join("\n"));
    // The reading finds imports at all (a parser that saw none would pass the above).
    assert!(graph["util/plot.rs"].contains("error.rs") && graph["pipeline.rs"].len() > 10, "{graph:?}");
    // The data crate, the same rules.
    let data = imports_of("crates/pixel-hnn-data/src");
    assert!(circles(&data).is_empty(), "circles in the data crate: {:?}", circles(&data));
    assert!(data["suite_data.rs"].contains("systems/suite.rs") && data["systems/mod.rs"].contains("error.rs"), "{data:?}");
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let g: BTreeMap<String, BTreeSet<String>> = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(circles(&g), vec![vec!["a".to_string(), "b".into(), "c".into()]]);
    assert_eq!(expand("crate::a::{b, c::{d, e}}"), vec!["crate::a::b", "crate::a::c::d", "crate::a::c::e"]);
    let m = vec!["training".to_string(), "members".to_string()];
    let named = named_paths("use super::stack::{A, B};", &m);
    assert!(named.contains(&vec!["training".into(), "stack".into(), "B".into()]), "{named:?}");
}

#[test]
fn at_most_eight_files_lie_at_the_top_of_src() {
    let src = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let top: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(top.len() <= 8, "{} files at the top of src/ (helpers go in a folder): {top:?}", top.len());
}
