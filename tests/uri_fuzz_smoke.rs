//! A proptest-free fuzz smoke test: thousands of pseudo-random strings made
//! of OData tokens go through every parser (`fuzz_entry`); none may panic.

use ccfeed::uri::fuzz_entry;

/// xorshift64*: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const TOKENS: &[&str] = &[
    " ",
    " ",
    "\t",
    "(",
    ")",
    "(",
    ")",
    ",",
    ";",
    "/",
    "'",
    "''",
    "\"",
    ":",
    "=",
    "&",
    "$",
    "@",
    "-",
    "+",
    ".",
    "*",
    "[",
    "]",
    "{",
    "}",
    "#",
    "a",
    "Name",
    "Price",
    "$it",
    "$this",
    "$root",
    "$count",
    "$ref",
    "$filter=",
    "$select=",
    "$expand=",
    "$top=",
    "$levels=",
    "eq",
    "ne",
    "gt",
    "and",
    "or",
    "not",
    "in",
    "has",
    "add",
    "mul",
    "divby",
    "any",
    "all",
    "cast",
    "isof",
    "contains",
    "substring",
    "Edm.String",
    "Model.Fn",
    "null",
    "true",
    "INF",
    "-INF",
    "NaN",
    "0",
    "42",
    "12.50",
    "1e5",
    "1e",
    "2024-02-29",
    "2024-02-30",
    "T",
    "13:52",
    ":60",
    "Z",
    "+02:00",
    "duration'",
    "P1D",
    "T1H",
    "binary'",
    "Zm9v",
    "datetimeoffset'",
    "01234567-89ab-cdef-0123-456789abcdef",
    "é",
    "Δ",
    "€",
    "\u{0}",
    "%",
    "%2",
];

#[test]
fn random_token_strings_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..4000 {
        let len = (rng.next() % 24) as usize;
        let s: String = (0..len).map(|_| rng.pick(TOKENS)).collect();
        fuzz_entry(s.as_bytes());
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let len = (rng.next() % 64) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        fuzz_entry(&bytes);
    }
}

#[test]
fn deep_inputs_never_overflow() {
    for unit in [
        "(",
        "not ",
        "-",
        "a/any(x:",
        "f(",
        "[",
        "{\"a\":",
        "X($expand=",
        "cast(",
        "@a/any(b:",
    ] {
        fuzz_entry(unit.repeat(20_000).as_bytes());
    }
}
