//! Query options: from the raw query string to syntax trees. Syntax only: nothing
//! here knows the model or types; [`crate::plan`] resolves names and checks types.
//!
//! Every error carries the option it came from and the byte span inside that
//! option's decoded value, so the user sees `$orderby: expected 'asc' or 'desc' at 9..13`.

use std::fmt;

use percent_encoding::percent_decode_str;

/// A byte range inside one option's decoded value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// Spans never take part in equality, so tests can build expected trees by hand.
impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriErrorKind {
    /// The text does not follow the grammar.
    Syntax,
    /// A `$` option this server does not know.
    UnknownOption,
    /// A valid OData option this server does not implement (yet).
    NotImplemented,
    /// The same option given twice.
    Duplicate,
    /// The URL is not valid percent-encoded UTF-8.
    Encoding,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UriError {
    pub option: String,
    pub span: Option<Span>,
    pub kind: UriErrorKind,
    pub message: String,
}

impl UriError {
    fn new(
        option: &str,
        kind: UriErrorKind,
        span: Option<Span>,
        message: impl Into<String>,
    ) -> UriError {
        UriError {
            option: option.to_string(),
            span,
            kind,
            message: message.into(),
        }
    }

    /// The single way to report a syntax error: what was expected, what was found, where.
    pub fn expected(option: &str, what: &str, found: &str, span: Span) -> UriError {
        let found = if found.is_empty() {
            "the end of the value".to_string()
        } else {
            format!("'{found}'")
        };
        UriError::new(
            option,
            UriErrorKind::Syntax,
            Some(span),
            format!("expected {what}, found {found}"),
        )
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Some(span) => write!(f, "{}: {} at {}", self.option, self.message, span),
            None => write!(f, "{}: {}", self.option, self.message),
        }
    }
}

impl std::error::Error for UriError {}

/// An identifier with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`: every structural property.
    Star,
    Property(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub property: Ident,
    pub descending: bool,
}

/// The system query options of one request, parsed. Custom options (no `$`) are not
/// kept: OData says a service ignores the ones it does not know.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct QueryOptions {
    pub select: Option<Vec<SelectItem>>,
    pub orderby: Option<Vec<OrderItem>>,
    pub top: Option<u64>,
    pub skip: Option<u64>,
    pub count: Option<bool>,
    pub skiptoken: Option<String>,
    pub format: Option<String>,
    /// Every system option as given (decoded name without `$`, decoded value), in
    /// request order, so a nextLink can carry them on.
    pub raw: Vec<(String, String)>,
}

/// Options this server parses and executes.
const SUPPORTED: &[&str] = &[
    "select",
    "orderby",
    "top",
    "skip",
    "count",
    "skiptoken",
    "format",
];
/// Options defined by OData that this server does not implement yet: 501, never ignored.
const NOT_IMPLEMENTED: &[&str] = &[
    "filter",
    "expand",
    "search",
    "apply",
    "compute",
    "levels",
    "index",
    "schemaversion",
    "deltatoken",
    "id",
];

/// Splits and decodes a raw query string into (name, value) pairs. `+` is a space and
/// `%xx` escapes are decoded; invalid UTF-8 is an error, never silently replaced.
pub fn decode_query_string(query: &str) -> Result<Vec<(String, String)>, UriError> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((decode_component(name)?, decode_component(value)?));
    }
    Ok(pairs)
}

fn decode_component(text: &str) -> Result<String, UriError> {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            UriError::new(
                text,
                UriErrorKind::Encoding,
                None,
                "the URL is not valid percent-encoded UTF-8",
            )
        })
}

/// Classifies decoded pairs and parses the supported system options.
pub fn parse_query(pairs: &[(String, String)]) -> Result<QueryOptions, UriError> {
    let mut options = QueryOptions::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in pairs {
        let Some(bare) = name.strip_prefix('$') else {
            continue; // a custom option, e.g. api_key
        };
        let lower = bare.to_ascii_lowercase();
        let option = format!("${lower}");
        if seen.contains(&lower) {
            return Err(UriError::new(
                &option,
                UriErrorKind::Duplicate,
                None,
                "the option is given more than once",
            ));
        }
        seen.push(lower.clone());
        if NOT_IMPLEMENTED.contains(&lower.as_str()) {
            return Err(UriError::new(
                &option,
                UriErrorKind::NotImplemented,
                None,
                "this query option is not supported by this server yet",
            ));
        }
        if !SUPPORTED.contains(&lower.as_str()) {
            return Err(UriError::new(
                &option,
                UriErrorKind::UnknownOption,
                None,
                format!(
                    "unknown system query option; supported are ${}",
                    SUPPORTED.join(", $")
                ),
            ));
        }
        match lower.as_str() {
            "select" => options.select = Some(parse_select(value)?),
            "orderby" => options.orderby = Some(parse_orderby(value)?),
            "top" => options.top = Some(parse_count_value("$top", value)?),
            "skip" => options.skip = Some(parse_count_value("$skip", value)?),
            "count" => options.count = Some(parse_bool("$count", value)?),
            "skiptoken" => options.skiptoken = Some(value.clone()),
            "format" => options.format = Some(value.clone()),
            _ => {}
        }
        options.raw.push((lower, value.clone()));
    }
    Ok(options)
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parses an OData identifier at the start of `text` (after leading spaces); returns it
/// with its span relative to `offset`.
fn ident(option: &str, text: &str, offset: usize) -> Result<(Ident, usize), UriError> {
    let trimmed = text.trim_start_matches(' ');
    let start = offset + (text.len() - trimmed.len());
    let mut chars = trimmed.char_indices();
    match chars.next() {
        Some((_, c)) if is_ident_start(c) => {}
        _ => {
            let found: String = trimmed
                .chars()
                .take_while(|c| *c != ',' && *c != ' ')
                .collect();
            return Err(UriError::expected(
                option,
                "a property name",
                &found,
                Span::new(start, start + found.len()),
            ));
        }
    }
    let len = trimmed
        .char_indices()
        .find(|&(_, c)| !is_ident_char(c))
        .map(|(i, _)| i)
        .unwrap_or(trimmed.len());
    let name = &trimmed[..len];
    Ok((
        Ident {
            name: name.to_string(),
            span: Span::new(start, start + len),
        },
        start + len - offset,
    ))
}

/// Splits on commas, keeping each item's byte offset.
fn items(value: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    value.split(',').map(move |item| {
        let at = offset;
        offset += item.len() + 1;
        (at, item)
    })
}

pub fn parse_select(value: &str) -> Result<Vec<SelectItem>, UriError> {
    let mut out = Vec::new();
    for (at, item) in items(value) {
        if item.trim() == "*" {
            out.push(SelectItem::Star);
            continue;
        }
        let (id, used) = ident("$select", item, at)?;
        let rest = &item[used..];
        if !rest.trim().is_empty() {
            let start = at + used + (rest.len() - rest.trim_start().len());
            return Err(UriError::expected(
                "$select",
                "',' or the end",
                rest.trim(),
                Span::new(start, at + item.len()),
            ));
        }
        out.push(SelectItem::Property(id));
    }
    Ok(out)
}

pub fn parse_orderby(value: &str) -> Result<Vec<OrderItem>, UriError> {
    let mut out = Vec::new();
    for (at, item) in items(value) {
        let (property, used) = ident("$orderby", item, at)?;
        let rest = &item[used..];
        let word = rest.trim();
        let direction = if rest.starts_with(' ') {
            word.to_ascii_lowercase()
        } else {
            word.to_string()
        };
        let descending = match direction.as_str() {
            "" => false,
            "asc" => false,
            "desc" => true,
            _ => {
                let start = at + used + (rest.len() - rest.trim_start().len());
                return Err(UriError::expected(
                    "$orderby",
                    "'asc' or 'desc'",
                    word,
                    Span::new(start, start + word.len()),
                ));
            }
        };
        out.push(OrderItem {
            property,
            descending,
        });
    }
    Ok(out)
}

fn parse_count_value(option: &str, value: &str) -> Result<u64, UriError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::expected(
            option,
            "a non-negative integer",
            value,
            Span::new(0, value.len()),
        ));
    }
    value.parse::<u64>().map_err(|_| {
        UriError::new(
            option,
            UriErrorKind::Syntax,
            Some(Span::new(0, value.len())),
            "the number is too large",
        )
    })
}

fn parse_bool(option: &str, value: &str) -> Result<bool, UriError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(UriError::expected(
            option,
            "true or false",
            value,
            Span::new(0, value.len()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        decode_query_string(q).unwrap()
    }

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(
            pairs("%24select=id%2CstartedAtUtc&$orderby=id+desc&api_key=a%2Bb"),
            vec![
                ("$select".into(), "id,startedAtUtc".into()),
                ("$orderby".into(), "id desc".into()),
                ("api_key".into(), "a+b".into())
            ]
        );
        assert_eq!(
            decode_query_string("$top=%FF").unwrap_err().kind,
            UriErrorKind::Encoding
        );
    }

    #[test]
    fn parses_the_supported_options() {
        let o = parse_query(&pairs(
            "$select=id,*&$orderby=a desc, b asc,c&$top=5&$skip=0&$COUNT=true",
        ))
        .unwrap();
        assert_eq!(o.select.unwrap().len(), 2);
        let ob = o.orderby.unwrap();
        assert_eq!(
            ob.iter()
                .map(|i| (i.property.name.as_str(), i.descending))
                .collect::<Vec<_>>(),
            vec![("a", true), ("b", false), ("c", false)]
        );
        assert_eq!((o.top, o.skip, o.count), (Some(5), Some(0), Some(true)));
    }

    #[test]
    fn rejects_bad_values_with_spans() {
        let e = parse_query(&pairs("$orderby=a sideways")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "$orderby: expected 'asc' or 'desc', found 'sideways' at 2..10"
        );
        let e = parse_query(&pairs("$top=-1")).unwrap_err();
        assert_eq!(e.kind, UriErrorKind::Syntax);
        let e = parse_query(&pairs("$select=id,,name")).unwrap_err();
        assert_eq!(e.span.map(|s| s.start), Some(3));
        assert_eq!(
            parse_query(&pairs("$top=1&$top=2")).unwrap_err().kind,
            UriErrorKind::Duplicate
        );
        assert_eq!(
            parse_query(&pairs("$filter=a eq 1")).unwrap_err().kind,
            UriErrorKind::NotImplemented
        );
        assert_eq!(
            parse_query(&pairs("$bogus=1")).unwrap_err().kind,
            UriErrorKind::UnknownOption
        );
        assert!(parse_query(&pairs("custom=1&api_key=x")).is_ok());
    }
}
