//! The one error type of the `uri` module.

use std::fmt;

use super::span::Span;

/// What went wrong, for callers that react to the kind (HTTP status, hints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriErrorKind {
    /// The text does not follow the grammar: something else was expected.
    Syntax,
    /// A literal has the right shape but an impossible value (`2024-02-30`,
    /// `25:00`, an integer too large for its option).
    InvalidLiteral,
    /// A `$`-prefixed option that OData does not define (`$fitler`).
    UnknownOption,
    /// The same system option or alias was given twice.
    DuplicateOption,
    /// Nesting deeper than [`super::ParseOptions::max_depth`].
    TooDeep,
    /// The URL is not valid percent-encoded UTF-8.
    Encoding,
}

/// A syntax error in one query option, pointing into its decoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriError {
    /// The option the error is about, as the client spelled it (`$filter`,
    /// `@p`, `$expand`).
    pub option: String,
    /// Where in the option value (bytes of the decoded value).
    pub span: Span,
    /// The kind of error.
    pub kind: UriErrorKind,
    /// What was wrong, without position: `expected a closing ')'`.
    pub message: String,
    /// The text found at `span` for syntax errors; `None` at the end of input
    /// or when the message already says it.
    pub found: Option<String>,
}

impl UriError {
    /// The single way to report a syntax error: `expected {what}` at `span`,
    /// where the text `found` was seen (`None` = end of input).
    pub fn expected(what: &str, found: Option<&str>, span: Span) -> Self {
        UriError {
            option: String::new(),
            span,
            kind: UriErrorKind::Syntax,
            message: format!("expected {what}"),
            found: Some(found.map_or_else(|| "end of input".to_string(), |f| format!("'{f}'"))),
        }
    }

    /// An error of another kind with a free message.
    pub fn new(kind: UriErrorKind, message: impl Into<String>, span: Span) -> Self {
        UriError {
            option: String::new(),
            span,
            kind,
            message: message.into(),
            found: None,
        }
    }

    /// Sets the option name if none is set yet.
    pub fn in_option(mut self, option: &str) -> Self {
        if self.option.is_empty() {
            self.option = option.to_string();
        }
        self
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.option.is_empty() {
            write!(f, "{}: ", self.option)?;
        }
        write!(f, "{} at {}", self.message, self.span)?;
        if let Some(found) = &self.found {
            write!(f, ", found {found}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UriError {}
