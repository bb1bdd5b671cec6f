//! Rules about the shape of the code that the compiler cannot check.
//!
//! Tenant scoping lives in `store` only: every statement on a tenant's rows is built
//! there from a `TenantScope`. So no string literal outside `src/store` may hold SQL
//! that names the tenant column; the bare column name alone (a model lookup such as
//! `p.column == "tenant_id"`) is allowed.

use std::path::{Path, PathBuf};

const TENANT_COLUMN: &str = "tenant_id";

/// The string literals of Rust source (comments skipped), with their line numbers.
fn string_literals(source: &str) -> Vec<(usize, String)> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if at(i + 1) == b'/' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if at(i + 1) == b'*' => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && at(i + 1) == b'/') {
                    if bytes[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
            }
            b'\'' => {
                // A char literal ('x', '\n', '"') or a lifetime ('a).
                if at(i + 1) == b'\\' {
                    i += 2;
                    while i < bytes.len() && bytes[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else if at(i + 2) == b'\'' {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            b'r' if (at(i + 1) == b'"' || at(i + 1) == b'#')
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while at(j) == b'#' {
                    hashes += 1;
                    j += 1;
                }
                if at(j) != b'"' {
                    i += 1;
                    continue;
                }
                let start_line = line;
                let start = j + 1;
                let mut k = start;
                let closing: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while k < bytes.len() && !bytes[k..].starts_with(&closing) {
                    if bytes[k] == b'\n' {
                        line += 1;
                    }
                    k += 1;
                }
                out.push((start_line, source[start..k.min(bytes.len())].to_string()));
                i = k + closing.len();
            }
            b'"' => {
                let start_line = line;
                let start = i + 1;
                let mut k = start;
                while k < bytes.len() && bytes[k] != b'"' {
                    if bytes[k] == b'\\' {
                        k += 1;
                    }
                    if at(k) == b'\n' {
                        line += 1;
                    }
                    k += 1;
                }
                out.push((start_line, source[start..k.min(bytes.len())].to_string()));
                i = k + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// Whether a literal is SQL naming the tenant column: it mentions the column and is
/// more than the bare (possibly quoted) name.
fn is_tenant_sql(literal: &str) -> bool {
    literal.to_ascii_lowercase().contains(TENANT_COLUMN)
        && literal.trim().trim_matches(|c| c == '"' || c == '\\') != TENANT_COLUMN
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_detector_finds_tenant_sql_and_nothing_else() {
    let source = r####"
        // "DELETE FROM calls WHERE tenant_id = ?" in a comment is fine
        let a = "tenant_id";
        let b = '"';
        let c = format!("SELECT id FROM \"{}\" WHERE tenant_id = ?", t);
        let d = r#"UPDATE x SET y = 1 WHERE "tenant_id" = $1"#;
        fn f<'a>(x: &'a str) -> &'a str { "no tenant here" }
        /* "JOIN p ON p.tenant_id = x.tenant_id" */
    "####;
    let found: Vec<(usize, String)> = string_literals(source)
        .into_iter()
        .filter(|(_, l)| is_tenant_sql(l))
        .collect();
    let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![5, 6], "{found:?}");
}

#[test]
fn no_sql_names_the_tenant_column_outside_store() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let store = root.join("store");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&store)) {
        let source = std::fs::read_to_string(file).expect("read source");
        for (line, literal) in string_literals(&source) {
            if is_tenant_sql(&literal) {
                offenders.push(format!("{}:{line}: {literal}", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "SQL naming the tenant column outside src/store (build it in store::scoped from a TenantScope):\n{}",
        offenders.join("\n")
    );
}

/// Code lines of a source file (comment lines left out), with their numbers.
fn code_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

/// Every writer builds its rows with `store::RowBuilder` (model checks, local times,
/// Conversations) and writes them with `store::RowWriter`, which takes nothing else.
/// `RowBatch` takes raw rows, for test fixtures; in `src` only `store` may use it.
#[test]
fn writers_outside_store_go_through_the_row_builder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let store = root.join("store");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut offenders = Vec::new();
    let mut writers = 0;
    for file in files.iter().filter(|f| !f.starts_with(&store)) {
        let source = std::fs::read_to_string(file).expect("read source");
        for (line, code) in code_lines(&source) {
            if code.contains("RowBatch") {
                offenders.push(format!("{}:{line}: {}", file.display(), code.trim()));
            }
            writers += usize::from(code.contains("RowWriter::new("));
        }
    }
    assert!(
        offenders.is_empty(),
        "raw row batches outside src/store (build rows with store::RowBuilder and write them with store::RowWriter):\n{}",
        offenders.join("\n")
    );
    // Ingest, import, the lookup refresh, the segment metrics (two sets), the demo.
    assert!(writers >= 6, "only {writers} writers found");
}
