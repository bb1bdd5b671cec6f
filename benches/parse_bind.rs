//! Placeholder replaced by the parse + bind benchmark.
fn main() {}
