//! The query string as a whole: which pair is a system option, an alias or a
//! custom option, and the parsed value of each system option.
//!
//! Names are matched case-insensitively, with or without `$` (OData 4.01).
//! A name without `$` is a system option only if it is exactly one of the
//! system option names; anything else without `$` is a custom option and is
//! ignored. An unknown `$name` is an error, and so is any option given twice.

use std::fmt;

use super::ParseOptions;
use super::ast::{Alias, ExpandItem, Expr, OrderByItem, SelectItem};
use super::display::OptionWriter;
use super::error::{UriError, UriErrorKind};
use super::span::Span;
use super::{expand, filter, orderby, select};

/// The parsed query options of one request (syntax only, not yet bound).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryOptions {
    /// `$filter`
    pub filter: Option<Expr>,
    /// `$orderby`
    pub orderby: Option<Vec<OrderByItem>>,
    /// `$select`
    pub select: Option<Vec<SelectItem>>,
    /// `$expand`
    pub expand: Option<Vec<ExpandItem>>,
    /// `$top`
    pub top: Option<u64>,
    /// `$skip`
    pub skip: Option<u64>,
    /// `$count`
    pub count: Option<bool>,
    /// `$apply`
    pub apply: Option<Vec<super::apply::Transformation>>,
    /// `$index` (4.01; may be negative)
    pub index: Option<i64>,
    /// Options recognised but kept as text for later stages: `$search`,
    /// `$format`, `$compute`, `$apply`, `$skiptoken`, `$deltatoken`,
    /// `$schemaversion`, `$id` (canonical lowercase name with `$`, value).
    pub raw: Vec<(String, String)>,
    /// Parameter aliases `@name=value`, in the order given.
    pub aliases: Vec<Alias>,
    /// Custom options (no `$`, not a system option name), ignored by the
    /// server but kept for logging.
    pub custom: Vec<(String, String)>,
}

/// What a query-string name stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    System(&'static str),
    Alias,
    Custom,
}

/// System options, lowercase without `$`, and whether the `$` may be left out.
const SYSTEM: [(&str, bool); 16] = [
    ("filter", true),
    ("orderby", true),
    ("select", true),
    ("expand", true),
    ("top", true),
    ("skip", true),
    ("count", true),
    ("index", true),
    ("search", true),
    ("format", true),
    ("compute", true),
    ("schemaversion", true),
    ("id", true),
    ("apply", true),
    ("skiptoken", false),
    ("deltatoken", false),
];

fn classify(name: &str) -> Result<Name, UriError> {
    if name.starts_with('@') {
        return Ok(Name::Alias);
    }
    if let Some(bare) = name.strip_prefix('$') {
        return match SYSTEM.iter().find(|(n, _)| n.eq_ignore_ascii_case(bare)) {
            Some((n, _)) => Ok(Name::System(n)),
            None => {
                let mut message = format!("unknown system query option '{name}'");
                if let Some((best, _)) = SYSTEM
                    .iter()
                    .map(|(n, _)| (*n, edit_distance(&bare.to_ascii_lowercase(), n)))
                    .filter(|&(_, d)| d <= 2)
                    .min_by_key(|&(_, d)| d)
                {
                    message.push_str(&format!(" (did you mean '${best}'?)"));
                }
                Err(UriError::new(UriErrorKind::UnknownOption, message, Span::NONE).in_option(name))
            }
        };
    }
    Ok(
        match SYSTEM
            .iter()
            .find(|(n, dollar_optional)| *dollar_optional && n.eq_ignore_ascii_case(name))
        {
            Some((n, _)) => Name::System(n),
            None => Name::Custom,
        },
    )
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// `1*DIGIT` as `u64`; `option` names the option in errors and `offset` is
/// where `text` starts in the option value.
pub(crate) fn digits_value(option: &str, text: &str, offset: usize) -> Result<u64, UriError> {
    let span = Span::new(offset, offset + text.len());
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        let why = if text.starts_with('-') {
            "must not be negative"
        } else {
            "must be a whole number of digits only"
        };
        return Err(UriError::new(
            UriErrorKind::Syntax,
            format!("expected a non-negative integer: {option} {why}"),
            span,
        )
        .in_option(option));
    }
    text.parse::<u64>().map_err(|_| {
        UriError::new(
            UriErrorKind::InvalidLiteral,
            format!("{option} value is too large"),
            span,
        )
        .in_option(option)
    })
}

/// Parses a `$top` value: a non-negative integer.
pub fn parse_top(value: &str) -> Result<u64, UriError> {
    digits_value("$top", value, 0)
}

/// Parses a `$skip` value: a non-negative integer.
pub fn parse_skip(value: &str) -> Result<u64, UriError> {
    digits_value("$skip", value, 0)
}

/// Parses a `$count` value: `true` or `false` (any case).
pub fn parse_count(value: &str) -> Result<bool, UriError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        let found = if value.is_empty() { None } else { Some(value) };
        Err(
            UriError::expected("true or false", found, Span::new(0, value.len()))
                .in_option("$count"),
        )
    }
}

fn parse_index(value: &str) -> Result<i64, UriError> {
    let (neg, digits) = match value.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, value),
    };
    let v = digits_value("$index", digits, usize::from(neg))?;
    let v = i64::try_from(v).map_err(|_| {
        UriError::new(
            UriErrorKind::InvalidLiteral,
            "$index value is too large",
            Span::new(0, value.len()),
        )
        .in_option("$index")
    })?;
    Ok(if neg { -v } else { v })
}

impl QueryOptions {
    /// Classifies and parses decoded `(name, value)` query pairs.
    ///
    /// ```
    /// use ccfeed::uri::options::QueryOptions;
    /// let q = QueryOptions::parse([("$top", "5"), ("filter", "a eq @x"), ("@x", "1"), ("mine", "z")]).unwrap();
    /// assert_eq!(q.top, Some(5));
    /// assert_eq!(q.aliases[0].name, "x");
    /// assert_eq!(q.custom, vec![("mine".to_string(), "z".to_string())]);
    /// ```
    pub fn parse<I, N, V>(pairs: I) -> Result<QueryOptions, UriError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        Self::parse_with(pairs, &ParseOptions::default())
    }

    /// [`QueryOptions::parse`] with explicit limits.
    pub fn parse_with<I, N, V>(pairs: I, options: &ParseOptions) -> Result<QueryOptions, UriError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut q = QueryOptions::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for (name, value) in pairs {
            // Surrounding spaces in a value carry no meaning; clients add them.
            let (name, value) = (name.as_ref(), value.as_ref().trim_matches(' '));
            if name.is_empty() && value.is_empty() {
                continue;
            }
            match classify(name)? {
                Name::Custom => q.custom.push((name.to_string(), value.to_string())),
                Name::Alias => {
                    let alias = name.get(1..).unwrap_or("");
                    let valid = alias
                        .chars()
                        .next()
                        .is_some_and(super::cursor::is_ident_start)
                        && alias.chars().all(super::cursor::is_ident_char);
                    if !valid {
                        return Err(UriError::new(
                            UriErrorKind::Syntax,
                            "a parameter alias must be '@' followed by an identifier",
                            Span::NONE,
                        )
                        .in_option(name));
                    }
                    if q.aliases.iter().any(|a| a.name == alias) {
                        return Err(UriError::new(
                            UriErrorKind::DuplicateOption,
                            format!("parameter alias {name} given more than once"),
                            Span::NONE,
                        )
                        .in_option(name));
                    }
                    let value = filter::parse_expr(name, value, options)?;
                    q.aliases.push(Alias {
                        name: alias.to_string(),
                        value,
                    });
                }
                Name::System(canonical) => {
                    let option = format!("${canonical}");
                    if seen.contains(&canonical) {
                        return Err(UriError::new(
                            UriErrorKind::DuplicateOption,
                            format!("system query option {option} given more than once"),
                            Span::NONE,
                        )
                        .in_option(&option));
                    }
                    seen.push(canonical);
                    match canonical {
                        "filter" => q.filter = Some(filter::parse_filter_with(value, options)?),
                        "orderby" => q.orderby = Some(orderby::parse_orderby_with(value, options)?),
                        "select" => q.select = Some(select::parse_select_with(value, options)?),
                        "expand" => q.expand = Some(expand::parse_expand_with(value, options)?),
                        "top" => q.top = Some(parse_top(value)?),
                        "skip" => q.skip = Some(parse_skip(value)?),
                        "count" => q.count = Some(parse_count(value)?),
                        "apply" => q.apply = Some(super::apply::parse_apply_with(value, options)?),
                        "index" => q.index = Some(parse_index(value)?),
                        _ => {
                            if value.is_empty() {
                                return Err(UriError::expected("a value", None, Span::NONE)
                                    .in_option(&option));
                            }
                            q.raw.push((option, value.to_string()));
                        }
                    }
                }
            }
        }
        Ok(q)
    }
}

impl fmt::Display for QueryOptions {
    /// Canonical, *decoded* text: `$filter=...&$top=5` (not URL-encoded).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = OptionWriter::new(f, '&');
        w.opt(
            "$filter",
            self.filter.as_ref().map(|e| e as &dyn fmt::Display),
        )?;
        w.list("$orderby", self.orderby.as_ref())?;
        w.list("$select", self.select.as_ref())?;
        w.list("$expand", self.expand.as_ref())?;
        w.opt("$skip", self.skip.as_ref().map(|e| e as &dyn fmt::Display))?;
        w.opt("$top", self.top.as_ref().map(|e| e as &dyn fmt::Display))?;
        w.opt(
            "$count",
            self.count.as_ref().map(|e| e as &dyn fmt::Display),
        )?;
        w.opt(
            "$index",
            self.index.as_ref().map(|e| e as &dyn fmt::Display),
        )?;
        if let Some(apply) = &self.apply {
            let text = apply
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("/");
            w.opt("$apply", Some(&text as &dyn fmt::Display))?;
        }
        for (n, v) in &self.raw {
            w.opt(n, Some(v))?;
        }
        for a in &self.aliases {
            w.opt(&format!("@{}", a.name), Some(&a.value))?;
        }
        for (n, v) in &self.custom {
            w.opt(n, Some(v))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<QueryOptions, UriError> {
        QueryOptions::parse(pairs.iter().copied())
    }

    #[test]
    fn classification() {
        let o = q(&[
            ("$filter", "Price gt @p"),
            ("$OrderBy", "Name"),
            ("select", "Name,Price"),
            ("TOP", "10"),
            ("$skip", "20"),
            ("$count", "TRUE"),
            ("@p", "5"),
            ("$format", "json"),
            ("skiptoken", "abc"),
            ("custom", "x"),
        ])
        .expect("valid");
        assert!(o.filter.is_some() && o.orderby.is_some() && o.select.is_some());
        assert_eq!((o.top, o.skip, o.count), (Some(10), Some(20), Some(true)));
        assert_eq!(o.aliases.len(), 1);
        assert_eq!(o.raw, vec![("$format".to_string(), "json".to_string())]);
        // skiptoken needs its `$`; without it, it is a custom option
        assert_eq!(o.custom.len(), 2);
        assert_eq!(
            o.to_string(),
            "$filter=Price gt @p&$orderby=Name&$select=Name,Price&$skip=20&$top=10&$count=true&$format=json&@p=5&skiptoken=abc&custom=x"
        );
    }

    #[test]
    fn errors() {
        let e = q(&[("$fitler", "a")]).expect_err("unknown");
        assert_eq!(e.kind, UriErrorKind::UnknownOption);
        assert_eq!(
            e.to_string(),
            "$fitler: unknown system query option '$fitler' (did you mean '$filter'?) at 0..0"
        );
        let e = q(&[("$top", "1"), ("top", "2")]).expect_err("dup");
        assert_eq!(e.kind, UriErrorKind::DuplicateOption);
        let e = q(&[("@a", "1"), ("@a", "2")]).expect_err("dup alias");
        assert_eq!(e.kind, UriErrorKind::DuplicateOption);
        let e = q(&[("$top", "-1")]).expect_err("negative");
        assert_eq!(
            e.to_string(),
            "$top: expected a non-negative integer: $top must not be negative at 0..2"
        );
        assert!(q(&[("$top", "abc")]).is_err());
        assert!(q(&[("$top", "")]).is_err());
        assert!(q(&[("$top", "1.5")]).is_err());
        assert_eq!(
            q(&[("$skip", "99999999999999999999")])
                .expect_err("big")
                .kind,
            UriErrorKind::InvalidLiteral
        );
        assert!(q(&[("$count", "yes")]).is_err());
        assert!(q(&[("$count", "")]).is_err());
        assert!(q(&[("@1x", "1")]).is_err());
        let e = q(&[("@p", "1 add")]).expect_err("bad alias");
        assert_eq!(e.option, "@p");
        let e = q(&[("$filter", "a eq")]).expect_err("bad filter");
        assert_eq!(e.option, "$filter");
    }

    #[test]
    fn top_skip_count() {
        assert_eq!(parse_top("0"), Ok(0));
        assert_eq!(parse_skip("007"), Ok(7));
        assert_eq!(parse_count("false"), Ok(false));
        assert!(parse_top("+1").is_err());
        assert!(parse_top(" 1").is_err());
        let i = q(&[("index", "-42")]).expect("index");
        assert_eq!(i.index, Some(-42));
    }
}
