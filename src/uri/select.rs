//! `$select`: `*`, property paths, `Namespace.*`, operations with parameter
//! names, and (4.01) nested options in parentheses.

use super::ParseOptions;
use super::ast::{Segment, SegmentKind, SelectItem, SelectKind};
use super::cursor::{Cursor, PResult, is_ident_char};
use super::error::UriError;
use super::expand::{Allowed, nested_options};

/// Parses a `$select` value.
///
/// ```
/// use ccfeed::uri::select::parse_select;
/// let items = parse_select("Name,Address/City,*").unwrap();
/// assert_eq!(items.len(), 3);
/// ```
pub fn parse_select(value: &str) -> Result<Vec<SelectItem>, UriError> {
    parse_select_with(value, &ParseOptions::default())
}

/// Parses a `$select` value with explicit limits.
pub fn parse_select_with(value: &str, options: &ParseOptions) -> Result<Vec<SelectItem>, UriError> {
    let mut c = Cursor::new(value, options);
    let result = select_items(&mut c).and_then(|items| {
        c.expect_end("',' and another item, or the end of $select")
            .map(|()| items)
    });
    result.map_err(|e| e.in_option("$select"))
}

/// `@Ns.Term#q` at '@'.
pub(crate) fn annotation_segment(c: &mut Cursor<'_>) -> PResult<Segment> {
    let start = c.pos;
    c.advance(1);
    let Some((name, _)) = c.qualified_name()? else {
        return c.expected("an annotation name after '@'");
    };
    let mut name = name.to_string();
    if c.eat_char('#') {
        let Some((q, _)) = c.ident()? else {
            return c.expected("an annotation qualifier after '#'");
        };
        name = format!("{name}#{q}");
    }
    Ok(Segment {
        kind: SegmentKind::Annotation(name),
        span: c.span_from(start),
    })
}

/// True if the text after '(' starts a nested option (`$x=`, `x=`, `@a=`).
pub(crate) fn options_ahead(c: &Cursor<'_>) -> bool {
    let rest = c.rest().get(1..).unwrap_or("");
    let rest = rest.strip_prefix(['$', '@']).unwrap_or(rest);
    let n = rest
        .char_indices()
        .find(|&(_, ch)| !is_ident_char(ch))
        .map_or(rest.len(), |(i, _)| i);
    n > 0 && rest.get(n..).is_some_and(|r| r.starts_with('='))
}

pub(crate) fn select_items(c: &mut Cursor<'_>) -> PResult<Vec<SelectItem>> {
    let mut items = Vec::new();
    loop {
        let start = c.pos;
        let kind = if c.eat_char('*') {
            SelectKind::Star
        } else {
            let mut segments = Vec::new();
            let mut all_ops = None;
            loop {
                if c.peek() == Some('@') {
                    segments.push(annotation_segment(c)?);
                } else {
                    let Some((name, span)) = c.qualified_name()? else {
                        return c.expected("a property name, '*' or Namespace.*");
                    };
                    if segments.is_empty() && c.rest().starts_with(".*") {
                        c.advance(2);
                        all_ops = Some(name.to_string());
                        break;
                    }
                    segments.push(Segment {
                        kind: SegmentKind::Name(name.to_string()),
                        span,
                    });
                }
                if c.eat_char('/') {
                    continue;
                }
                break;
            }
            if let Some(ns) = all_ops {
                SelectKind::AllOperations(ns)
            } else {
                let mut parameters = None;
                let mut options = None;
                if c.peek() == Some('(') {
                    if options_ahead(c) {
                        options = Some(Box::new(nested_options(c, Allowed::Select)?));
                    } else {
                        parameters = Some(parameter_names(c)?);
                    }
                }
                SelectKind::Path {
                    segments,
                    parameters,
                    options,
                }
            }
        };
        items.push(SelectItem {
            kind,
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

/// `( name *( , name ) )` of a function overload.
fn parameter_names(c: &mut Cursor<'_>) -> PResult<Vec<String>> {
    c.advance(1);
    let mut names = Vec::new();
    loop {
        let Some((n, _)) = c.ident()? else {
            return c.expected("a parameter name");
        };
        names.push(n.to_string());
        if c.eat_char(',') {
            continue;
        }
        if c.eat_char(')') {
            return Ok(names);
        }
        return c.expected("',' or a closing ')'");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(s: &str) -> Vec<SelectItem> {
        let items = parse_select(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let text = items
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(text, s);
        assert_eq!(parse_select(&text).expect("reparse"), items);
        items
    }

    #[test]
    fn items() {
        let items = verified("Name,Address/City,*,Model.*");
        assert_eq!(items[2].kind, SelectKind::Star);
        assert_eq!(items[3].kind, SelectKind::AllOperations("Model".into()));
        let SelectKind::Path { segments, .. } = &items[1].kind else {
            panic!()
        };
        assert_eq!(
            segments,
            &vec![Segment::name("Address"), Segment::name("City")]
        );
        assert_eq!(segments[1].span.start, 13);
        verified("Model.MostPopularName(Location,Kind)");
        verified("@Core.Messages($top=5)");
        verified("Addresses($filter=startswith(City,'H');$top=5)");
        verified("Address/Model.AddressWithLocation/Location");
    }

    #[test]
    fn errors() {
        assert!(parse_select("").is_err());
        assert!(parse_select("Name,").is_err());
        assert!(parse_select("Name/").is_err());
        assert!(parse_select("Addresses($expand=X)").is_err());
        assert_eq!(
            parse_select("Name Price").expect_err("space").to_string(),
            "$select: expected ',' and another item, or the end of $select at 4..5, found ' '"
        );
    }
}
