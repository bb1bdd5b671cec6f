//! Byte spans into the (already percent-decoded) option value.

use std::fmt;

/// A half-open byte range `start..end` into the option value being parsed.
///
/// Spans compare by position (so error tests can assert them), but AST nodes
/// ignore their spans in `PartialEq` (see [`eq_ignoring_span!`]), so tests can
/// build expected trees by hand with [`Span::NONE`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte of the node.
    pub start: usize,
    /// One past the last byte of the node.
    pub end: usize,
}

impl Span {
    /// The span of a node built by hand (tests, rewrites).
    pub const NONE: Span = Span { start: 0, end: 0 };

    /// A span from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn union(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Number of bytes covered.
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True for an empty span.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// Implements `PartialEq` for a struct by comparing the listed fields only,
/// leaving out its `span`: spans never affect equality of AST nodes.
macro_rules! eq_ignoring_span {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                true $(&& self.$field == other.$field)*
            }
        }
    };
}
pub(crate) use eq_ignoring_span;
