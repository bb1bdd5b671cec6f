//! The crate's top-level modules depend on each other in one direction only
//! (`docs/architecture.md`): `http → store → plan → {uri, edm} → value`, with jobs,
//! ingest and demo beside http above store. A `use crate::x` that points back up
//! the stack makes a cycle and fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `crate::<module>` a top-level module mentions (in `use` or in paths).
fn references(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(root).expect("src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut files = Vec::new();
        collect(&path, &mut files);
        let targets = graph.entry(name.clone()).or_default();
        for file in files {
            let source = std::fs::read_to_string(&file).expect("read");
            // Code only: a doc link to another module is not a dependency.
            let text: String = source
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + "crate::".len()..];
                let module: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !module.is_empty() && module != name {
                    targets.insert(module);
                }
            }
        }
    }
    graph
}

fn collect(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("dir") {
            collect(&entry.expect("entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// A cycle through `start`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut found = path.clone();
                found.push(next.clone());
                return Some(found);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = references(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for module in graph.keys() {
        if let Some(found) = cycle(&graph, module) {
            panic!("module cycle: {}", found.join(" → "));
        }
    }
    // The query path, spelled out: the lower layers never reach up.
    let below = |m: &str| graph.get(m).cloned().unwrap_or_default();
    assert!(below("value").is_empty(), "value: {:?}", below("value"));
    for m in ["edm", "uri"] {
        assert!(below(m).iter().all(|t| t == "value"), "{m}: {:?}", below(m));
    }
    assert!(
        below("plan")
            .iter()
            .all(|t| ["edm", "uri", "value"].contains(&t.as_str())),
        "plan: {:?}",
        below("plan")
    );
    assert!(
        !below("store").contains("http"),
        "store: {:?}",
        below("store")
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle(&graph, "a"), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
