//! `$expand`: navigation paths with `/$ref`, `/$count`, `*`, and nested
//! options in parentheses separated by `;` (names case-insensitive, `$`
//! optional as in 4.01). Also the nested-option parser `$select` shares.

use super::ParseOptions;
use super::ast::{Alias, ExpandItem, ExpandKind, Levels, NestedOptions, Segment, SegmentKind};
use super::cursor::{Cursor, PResult};
use super::error::{UriError, UriErrorKind};
use super::filter::expr;
use super::options::digits_value;
use super::orderby::orderby_items;
use super::select::{annotation_segment, select_items};
use super::span::Span;

/// Parses an `$expand` value.
///
/// ```
/// use ccfeed::uri::expand::parse_expand;
/// let items = parse_expand("Items($select=Name;$top=5),Customer/$ref").unwrap();
/// assert_eq!(items[0].options.top, Some(5));
/// assert_eq!(items.len(), 2);
/// ```
pub fn parse_expand(value: &str) -> Result<Vec<ExpandItem>, UriError> {
    parse_expand_with(value, &ParseOptions::default())
}

/// Parses an `$expand` value with explicit limits (`max_depth` also bounds
/// nested `$expand`).
pub fn parse_expand_with(value: &str, options: &ParseOptions) -> Result<Vec<ExpandItem>, UriError> {
    let mut c = Cursor::new(value, options);
    let result = expand_items(&mut c).and_then(|items| {
        c.expect_end("',' and another item, or the end of $expand")
            .map(|()| items)
    });
    result.map_err(|e| e.in_option("$expand"))
}

pub(crate) fn expand_items(c: &mut Cursor<'_>) -> PResult<Vec<ExpandItem>> {
    let mut items = Vec::new();
    loop {
        let start = c.pos;
        let mut path = Vec::new();
        let mut kind = ExpandKind::Entities;
        if c.looking_at_word("$value") {
            c.advance("$value".len());
            path.push(Segment {
                kind: SegmentKind::Value,
                span: c.span_from(start),
            });
        } else {
            loop {
                let seg_start = c.pos;
                if c.eat_char('*') {
                    path.push(Segment {
                        kind: SegmentKind::Star,
                        span: c.span_from(seg_start),
                    });
                } else if c.peek() == Some('@') {
                    path.push(annotation_segment(c)?);
                } else {
                    let Some((name, span)) = c.qualified_name()? else {
                        return c.expected("a navigation property, '*' or $value");
                    };
                    path.push(Segment {
                        kind: SegmentKind::Name(name.to_string()),
                        span,
                    });
                }
                if c.peek() != Some('/') {
                    break;
                }
                let rest = c.rest();
                if rest.starts_with("/$ref")
                    && !rest
                        .get(5..)
                        .is_some_and(|r| r.starts_with(char::is_alphanumeric))
                {
                    c.advance(5);
                    kind = ExpandKind::Ref;
                    break;
                }
                if rest.starts_with("/$count")
                    && !rest
                        .get(7..)
                        .is_some_and(|r| r.starts_with(char::is_alphanumeric))
                {
                    c.advance(7);
                    kind = ExpandKind::Count;
                    break;
                }
                if matches!(path.last().map(|s| &s.kind), Some(SegmentKind::Star)) {
                    return c.expected("'/$ref', '(' or ',' after '*'");
                }
                c.advance(1);
            }
        }
        let options = if c.peek() == Some('(') {
            let allowed = match kind {
                ExpandKind::Entities => Allowed::Expand,
                ExpandKind::Ref => Allowed::Ref,
                ExpandKind::Count => Allowed::Count,
            };
            nested_options(c, allowed)?
        } else {
            NestedOptions::default()
        };
        items.push(ExpandItem {
            path,
            kind,
            options,
            span: c.span_from(start),
        });
        // Spaces around the comma are tolerated (Power Query writes "A asc, B desc").
        let before = c.pos;
        c.bws();
        if !c.eat_char(',') {
            c.pos = before;
            return Ok(items);
        }
        c.bws();
    }
}

/// Which nested options a parenthesis allows (ABNF `expandOption`,
/// `expandRefOption`, `expandCountOption`, `selectOption`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Allowed {
    Expand,
    Ref,
    Count,
    Select,
}

impl Allowed {
    fn allows(self, name: &str) -> bool {
        match self {
            Allowed::Count => matches!(name, "filter" | "search"),
            Allowed::Ref => matches!(
                name,
                "filter" | "search" | "orderby" | "skip" | "top" | "count"
            ),
            Allowed::Select => !matches!(name, "expand" | "levels"),
            Allowed::Expand => true,
        }
    }

    fn context(self) -> &'static str {
        match self {
            Allowed::Expand => "an $expand item",
            Allowed::Ref => "$ref(...)",
            Allowed::Count => "$count(...)",
            Allowed::Select => "a $select item",
        }
    }
}

const NESTED: [&str; 10] = [
    "filter", "search", "orderby", "skip", "top", "count", "select", "expand", "levels", "compute",
];

/// A raw nested value: up to `;` or the `)` closing the option list,
/// skipping balanced parentheses and quoted strings.
fn raw_value<'a>(c: &mut Cursor<'a>) -> PResult<&'a str> {
    let rest = c.rest();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut end = rest.len();
    for (i, ch) in rest.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            _ if quoted => {}
            '(' => depth += 1,
            ')' if depth == 0 => {
                end = i;
                break;
            }
            ')' => depth -= 1,
            ';' if depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let value = rest.get(..end).unwrap_or("");
    if value.is_empty() {
        return c.expected("a value");
    }
    c.advance(end);
    Ok(value)
}

/// `( option *( ";" option ) )` at '('.
pub(crate) fn nested_options(c: &mut Cursor<'_>, allowed: Allowed) -> PResult<NestedOptions> {
    c.nested(|c| {
        c.advance(1);
        let mut o = NestedOptions::default();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let name_start = c.pos;
            if c.eat_char('@') {
                let Some((name, _)) = c.ident()? else {
                    return c.expected("an alias name after '@'");
                };
                if !c.eat_char('=') {
                    return c.expected("'=' after the alias name");
                }
                let value = expr(c)?;
                if o.aliases.iter().any(|a| a.name == name) {
                    return Err(UriError::new(
                        UriErrorKind::DuplicateOption,
                        format!("alias @{name} defined twice"),
                        c.span_from(name_start),
                    ));
                }
                o.aliases.push(Alias {
                    name: name.to_string(),
                    value,
                });
            } else {
                c.eat_char('$');
                let Some((written, _)) = c.ident()? else {
                    return c.expected("a query option ($filter, $select, ...)");
                };
                let name_span = c.span_from(name_start);
                let lower = written.to_ascii_lowercase();
                if !NESTED.contains(&lower.as_str()) {
                    return Err(UriError::new(
                        UriErrorKind::UnknownOption,
                        format!(
                            "unknown nested query option '{}'",
                            c.src.get(name_start..c.pos).unwrap_or("")
                        ),
                        name_span,
                    ));
                }
                if !allowed.allows(&lower) {
                    return Err(UriError::new(
                        UriErrorKind::Syntax,
                        format!("${lower} is not allowed in {}", allowed.context()),
                        name_span,
                    ));
                }
                if seen.contains(&lower) {
                    return Err(UriError::new(
                        UriErrorKind::DuplicateOption,
                        format!("${lower} given twice"),
                        name_span,
                    ));
                }
                seen.push(lower.clone());
                if !c.eat_char('=') {
                    return c.expected("'=' after the option name");
                }
                match lower.as_str() {
                    "filter" => o.filter = Some(expr(c)?),
                    "orderby" => o.orderby = Some(orderby_items(c)?),
                    "select" => o.select = Some(select_items(c)?),
                    "expand" => o.expand = Some(expand_items(c)?),
                    "top" | "skip" => {
                        let start = c.pos;
                        let n = c.rest().bytes().take_while(u8::is_ascii_digit).count();
                        c.advance(n);
                        let text = c.src.get(start..c.pos).unwrap_or("");
                        let v = digits_value(&format!("${lower}"), text, start)?;
                        if lower == "top" {
                            o.top = Some(v);
                        } else {
                            o.skip = Some(v);
                        }
                    }
                    "count" => {
                        o.count = Some(if c.eat_word("true") {
                            true
                        } else if c.eat_word("false") {
                            false
                        } else {
                            return c.expected("true or false");
                        });
                    }
                    "levels" => o.levels = Some(levels(c)?),
                    "search" => o.search = Some(raw_value(c)?.to_string()),
                    _ => o.compute = Some(raw_value(c)?.to_string()),
                }
            }
            if c.eat_char(';') {
                continue;
            }
            if c.eat_char(')') {
                return Ok(o);
            }
            return c.expected("';' and another option, or a closing ')'");
        }
    })
}

/// `oneToNine *DIGIT / "max"`
fn levels(c: &mut Cursor<'_>) -> PResult<Levels> {
    if c.eat_word("max") {
        return Ok(Levels::Max);
    }
    let start = c.pos;
    let n = c.rest().bytes().take_while(u8::is_ascii_digit).count();
    let text = c.rest().get(..n).unwrap_or("");
    if n == 0 || text.starts_with('0') {
        return c.expected("a positive number of levels or 'max'");
    }
    c.advance(n);
    text.parse::<u32>().map(Levels::Count).map_err(|_| {
        UriError::new(
            UriErrorKind::InvalidLiteral,
            "$levels is too large",
            Span::new(start, c.pos),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(s: &str) -> Vec<ExpandItem> {
        let items = parse_expand(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let text = items
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(text, s);
        assert_eq!(parse_expand(&text).expect("reparse"), items);
        items
    }

    fn parses_to(s: &str, canonical: &str) {
        let items = parse_expand(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let text = items
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(text, canonical);
        assert_eq!(parse_expand(&text).expect("reparse"), items);
    }

    #[test]
    fn items() {
        let items = verified(
            "Items($filter=Price gt 5;$orderby=Name desc;$skip=1;$top=5;$count=true;$select=Name;$expand=Product)",
        );
        let o = &items[0].options;
        assert_eq!((o.top, o.skip, o.count), (Some(5), Some(1), Some(true)));
        assert_eq!(o.expand.as_ref().map(Vec::len), Some(1));
        verified("Customer/$ref,Items/$count");
        verified("*,*/$ref,*($levels=2),Category");
        verified("Category($levels=max)");
        verified("$value,Thumbnail");
        verified("Address/Model.AddressWithLocation/*");
        verified("@Namespace.EntityTerm($top=2)");
        verified("Items($select=Quantity;$expand=Product($select=Name,Price);@c=15)");
        verified("Items/$count($filter=Name eq 'Hugo')");
        verified("Manager($search=(green))");
        // names case-insensitive and `$` optional (4.01)
        parses_to(
            "Items(TOP=5;$Filter=a eq 1)",
            "Items($filter=a eq 1;$top=5)",
        );
        parses_to(
            "Items(expand=Product(levels=4))",
            "Items($expand=Product($levels=4))",
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "Customer/$ref($levels=4)",
            "Customer/$ref($select=Name)",
            "Items/$ref($expand=Product)",
            "Items/$count($count=true)",
            "Category($levels=04)",
            "Category($levels=0)",
            "Items($top=-1)",
            "Items($top=5;$top=6)",
            "Items($bogus=1)",
            "Items($top=5",
            "Items()",
            "",
            "Items,",
        ] {
            assert!(parse_expand(bad).is_err(), "{bad}");
        }
        let e = parse_expand("Items($bogus=1)").expect_err("unknown");
        assert_eq!(e.kind, UriErrorKind::UnknownOption);
        assert_eq!(e.span, Span::new(6, 12));
        let e = parse_expand("Items($top=5;$top=6)").expect_err("dup");
        assert_eq!(e.kind, UriErrorKind::DuplicateOption);
    }

    #[test]
    fn depth_guard() {
        let deep = format!("{}X{}", "X($expand=".repeat(500), ")".repeat(500));
        assert_eq!(
            parse_expand(&deep).map_err(|e| e.kind).err(),
            Some(UriErrorKind::TooDeep)
        );
        let ok = format!("{}X{}", "X($expand=".repeat(10), ")".repeat(10));
        assert!(parse_expand(&ok).is_ok());
    }
}
