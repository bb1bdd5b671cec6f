//! `uri`: OData query options, from decoded text to a syntax tree.
//!
//! This module owns the *syntax* of `$filter`, `$orderby`, `$select`,
//! `$expand`, `$top`, `$skip`, `$count`, parameter aliases and literals. It
//! knows no model and no types: `Price eq 'x'` parses fine, and so does an
//! unknown property or function; the binder (`plan`) resolves names and
//! checks types. Keeping that border (as sqlparser's `Expr` and odata.net's
//! `SyntacticAst` do) means the grammar can be tested on its own, against the
//! OASIS ABNF cases, with no fixture model.
//!
//! Input is one option value, already percent-decoded by the HTTP layer.
//! Every node keeps a byte [`Span`] into that value, so later stages can
//! say `$filter: unknown property 'duration' at 0..8`. Spans never affect
//! equality. Every node prints canonical text with `Display`; parsing that
//! text again gives an equal tree.
//!
//! Operator precedence, tightest first (OData 4.01 Part 2, §5.1.1 table):
//! member/call > unary `-` `not` `cast` > `mul div divby mod` > `add sub` >
//! `gt ge lt le has in` > `eq ne` > `and` > `or`; binary operators are
//! left-associative. Nesting is limited by [`ParseOptions::max_depth`].

pub mod apply;
pub mod ast;
mod cursor;
mod display;
pub mod error;
pub mod expand;
pub mod filter;
pub mod literal;
pub mod options;
pub mod orderby;
mod query_string;
pub mod select;
pub mod span;

pub use ast::*;
pub use error::{UriError, UriErrorKind};
pub use options::QueryOptions;
pub use query_string::decode_query_string;
pub use span::Span;

/// Limits for the parsers.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Deepest parser recursion before giving up with
    /// [`UriErrorKind::TooDeep`]. Each parenthesis costs two levels (the
    /// group and the expression inside), each unary operator, call,
    /// lambda or nested `$expand` one: the default of 100 allows 49 nested
    /// parentheses or 100 nested `$expand`s.
    pub max_depth: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { max_depth: 100 }
    }
}

impl ParseOptions {
    /// Sets [`ParseOptions::max_depth`].
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }
}

/// Runs every parser of the module on `data` (lossy UTF-8) and ignores the
/// results: the entry point for a cargo-fuzz target, which only checks that
/// nothing panics or overflows the stack.
pub fn fuzz_entry(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let t = text.as_ref();
    let _ = filter::parse_filter(t);
    let _ = orderby::parse_orderby(t);
    let _ = select::parse_select(t);
    let _ = expand::parse_expand(t);
    let _ = literal::parse_literal(t);
    let _ = literal::parse_duration(t);
    let _ = options::parse_top(t);
    let _ = options::parse_count(t);
    let pairs: Vec<(String, String)> = t
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect();
    if let Ok(q) = options::QueryOptions::parse(pairs.iter().map(|(n, v)| (n, v))) {
        let _ = q.to_string();
    }
    if let Ok(e) = filter::parse_filter(t) {
        let _ = e.to_string();
        let _ = e.node_count();
    }
}
