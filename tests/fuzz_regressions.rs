//! Replays every input under `tests/data/fuzz/` through the pipeline of the `query`
//! fuzz target (`fuzz/pipeline.rs`: all parsers, then binding against `Calls` and
//! `Conversations`, then SQL for SQLite and PostgreSQL). None may panic.
//!
//! The files are inputs kept from `cargo fuzz run query` (named by their SHA-1, as
//! libFuzzer names them), the seeds it started from (`seed-*`), and hand-made hostile
//! ones (`hand-*`): deep nesting, huge numbers, invalid UTF-8, odd dates, alias
//! cycles. A new crash input goes in the same folder.

use std::path::PathBuf;

use ccfeed::edm::Model;

#[path = "../fuzz/pipeline.rs"]
mod pipeline;

/// Runs `f` on a thread with `stack` bytes of stack, returning whether it panicked.
fn on_stack(stack: usize, f: impl FnOnce() + Send + 'static) -> bool {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("spawn")
        .join()
        .is_ok()
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect()
}

#[test]
fn every_kept_input_runs_without_panic() {
    let inputs = inputs();
    assert!(inputs.len() >= 20, "only {} inputs", inputs.len());
    assert!(inputs.iter().any(|(n, _)| n.starts_with("hand-")));
    let mut failed = Vec::new();
    for (name, data) in inputs {
        // 8 MiB: the stack of the fuzzer's main thread, where these inputs were
        // found not to crash. (Worker-sized stacks: see the ignored test below.)
        let ok = on_stack(8 << 20, move || {
            let model = Model::load().expect("model");
            pipeline::run(&model, &data);
        });
        if !ok {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "panicked on {failed:?}");
}

/// Left-associative chains are bounded only by `max_filter_nodes` (3,000), not by
/// `max_depth`, and binding recurses once per operator. An actix worker thread has
/// the default 2 MiB stack, and a stack overflow aborts the whole server.
#[test]
fn long_chains_within_the_node_limit_fit_a_worker_stack() {
    let or_chain = (0..300)
        .map(|i| format!("id eq 'x{i}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    let add_chain = format!("holdCount{} ge 0", " add 1".repeat(1_400));
    for filter in [or_chain, add_chain] {
        let data = format!("$filter={filter}").into_bytes();
        // If this overflows, the process aborts: the test fails loudly either way.
        let ok = on_stack(2 << 20, move || {
            let model = Model::load().expect("model");
            pipeline::run(&model, &data);
        });
        assert!(ok);
    }
}
