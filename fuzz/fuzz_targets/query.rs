//! `cargo fuzz run query`: every parser, then binding and SQL generation for both
//! dialects (see `../pipeline.rs`). Nothing may panic.

#![no_main]

use std::sync::OnceLock;

use ccfeed::edm::Model;
use libfuzzer_sys::fuzz_target;

#[path = "../pipeline.rs"]
mod pipeline;

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::load().expect("the embedded model loads"))
}

fuzz_target!(|data: &[u8]| {
    pipeline::run(model(), data);
});
