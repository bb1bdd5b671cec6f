//! A position in one option value, shared by all parsers of the module.
//!
//! The lexical pieces (numbers, dates, identifiers) are nom parsers applied
//! to the rest of the input; the structure (precedence, nesting) is plain
//! recursive descent on this cursor, which keeps byte offsets for spans and
//! counts nesting depth. `pos` only ever advances by what a parser consumed
//! from a `&str`, so it always sits on a char boundary.

use nom::Parser;

use super::ParseOptions;
use super::error::{UriError, UriErrorKind};
use super::span::Span;

pub(crate) type PResult<T> = Result<T, UriError>;

pub(crate) struct Cursor<'a> {
    pub src: &'a str,
    pub pos: usize,
    depth: usize,
    max_depth: usize,
}

/// True for characters that may continue an OData identifier.
pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// True for characters that may start an OData identifier.
pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Whitespace of the ABNF's RWS/BWS (after percent-decoding): space and tab.
pub(crate) fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Longest identifier the ABNF allows (1 + 127 characters).
pub(crate) const MAX_IDENT_CHARS: usize = 128;

impl<'a> Cursor<'a> {
    pub fn new(src: &'a str, options: &ParseOptions) -> Self {
        Cursor {
            src,
            pos: 0,
            depth: 0,
            max_depth: options.max_depth,
        }
    }

    /// The unparsed rest of the input.
    pub fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn peek_nth(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    pub fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.pos)
    }

    /// Advances past `n` bytes of the rest (clamped; callers pass lengths of
    /// prefixes they matched, so this stays on a char boundary).
    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.src.len());
    }

    pub fn eat_char(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.advance(c.len_utf8());
            true
        } else {
            false
        }
    }

    /// Skips optional whitespace (BWS); returns how many bytes.
    pub fn bws(&mut self) -> usize {
        let n = self.rest().len() - self.rest().trim_start_matches(is_ws).len();
        self.advance(n);
        n
    }

    /// Case-insensitive ASCII `word` at the cursor, not followed by an
    /// identifier character. Does not consume.
    pub fn looking_at_word(&self, word: &str) -> bool {
        let rest = self.rest();
        match rest.get(..word.len()) {
            Some(head) if head.eq_ignore_ascii_case(word) => !rest
                .get(word.len()..)
                .and_then(|r| r.chars().next())
                .is_some_and(is_ident_char),
            _ => false,
        }
    }

    /// Case-insensitive ASCII prefix at the cursor (no boundary check).
    pub fn looking_at_ci(&self, prefix: &str) -> bool {
        self.rest()
            .get(..prefix.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
    }

    pub fn eat_word(&mut self, word: &str) -> bool {
        if self.looking_at_word(word) {
            self.advance(word.len());
            true
        } else {
            false
        }
    }

    /// Runs a nom parser on the rest; on success advances and returns the
    /// output, on failure leaves the cursor where it was.
    pub fn run<O, P>(&mut self, mut p: P) -> Option<O>
    where
        P: Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
    {
        let rest = self.rest();
        match p.parse(rest) {
            Ok((remaining, out)) => {
                let used = rest.len() - remaining.len();
                self.advance(used);
                Some(out)
            }
            Err(_) => None,
        }
    }

    /// An OData identifier (`odataIdentifier`) at the cursor.
    pub fn ident(&mut self) -> PResult<Option<(&'a str, Span)>> {
        let rest = self.rest();
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, c)) if is_ident_start(c) => {}
            _ => return Ok(None),
        }
        let end = rest
            .char_indices()
            .find(|&(_, c)| !is_ident_char(c))
            .map_or(rest.len(), |(i, _)| i);
        let text = rest.get(..end).unwrap_or("");
        let start = self.pos;
        self.advance(end);
        if text.chars().count() > MAX_IDENT_CHARS {
            return Err(UriError::new(
                UriErrorKind::Syntax,
                format!("identifier longer than {MAX_IDENT_CHARS} characters"),
                self.span_from(start),
            ));
        }
        Ok(Some((text, self.span_from(start))))
    }

    /// A dotted name `ns.ns.Name` (or a plain identifier).
    pub fn qualified_name(&mut self) -> PResult<Option<(&'a str, Span)>> {
        let start = self.pos;
        if self.ident()?.is_none() {
            return Ok(None);
        }
        loop {
            let save = self.pos;
            if self.eat_char('.') && self.ident()?.is_some() {
                continue;
            }
            self.pos = save;
            break;
        }
        let text = self.src.get(start..self.pos).unwrap_or("");
        Ok(Some((text, self.span_from(start))))
    }

    /// The token at the cursor for error messages, and its span.
    pub fn found(&self) -> (Option<&'a str>, Span) {
        let rest = self.rest();
        let Some(first) = rest.chars().next() else {
            return (None, Span::new(self.pos, self.pos));
        };
        let len = if is_ident_char(first) {
            rest.char_indices()
                .find(|&(_, c)| !is_ident_char(c))
                .map_or(rest.len(), |(i, _)| i)
        } else {
            first.len_utf8()
        };
        let len = len.min(40);
        // keep the cut on a char boundary
        let mut cut = len;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        (rest.get(..cut), Span::new(self.pos, self.pos + cut))
    }

    /// A syntax error: `expected {what}` at the current token.
    pub fn expected<T>(&self, what: &str) -> PResult<T> {
        let (found, span) = self.found();
        Err(UriError::expected(what, found, span))
    }

    /// Runs `f` one nesting level deeper, failing past the depth limit.
    pub fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= self.max_depth {
            let (_, span) = self.found();
            return Err(UriError::new(
                UriErrorKind::TooDeep,
                format!(
                    "nesting deeper than {} levels (ParseOptions::max_depth)",
                    self.max_depth
                ),
                span,
            ));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Fails unless the whole input was consumed.
    pub fn expect_end(&self, what: &str) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            self.expected(what)
        }
    }
}
