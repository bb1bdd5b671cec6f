//! `$orderby`: `orderbyItem *( "," orderbyItem )`, each an expression with
//! an optional `asc`/`desc`.

use super::ParseOptions;
use super::ast::{Direction, OrderByItem};
use super::cursor::{Cursor, PResult};
use super::error::UriError;
use super::filter::expr;

/// Parses an `$orderby` value.
///
/// ```
/// use ccfeed::uri::{orderby::parse_orderby, Direction};
/// let items = parse_orderby("Name desc,Price").unwrap();
/// assert_eq!(items[0].direction, Direction::Desc);
/// assert_eq!(items[1].direction, Direction::Asc);
/// ```
pub fn parse_orderby(value: &str) -> Result<Vec<OrderByItem>, UriError> {
    parse_orderby_with(value, &ParseOptions::default())
}

/// Parses an `$orderby` value with explicit limits.
pub fn parse_orderby_with(
    value: &str,
    options: &ParseOptions,
) -> Result<Vec<OrderByItem>, UriError> {
    let mut c = Cursor::new(value, options);
    let result = orderby_items(&mut c).and_then(|items| {
        c.expect_end("',' and another sort key, or the end of $orderby")
            .map(|()| items)
    });
    result.map_err(|e| e.in_option("$orderby"))
}

/// The items, stopping before anything that is not `,` + item.
pub(crate) fn orderby_items(c: &mut Cursor<'_>) -> PResult<Vec<OrderByItem>> {
    let mut items = Vec::new();
    loop {
        let start = c.pos;
        let e = expr(c)?;
        let save = c.pos;
        let mut direction = Direction::Asc;
        if c.bws() > 0 {
            if c.eat_word("asc") {
                direction = Direction::Asc;
            } else if c.eat_word("desc") {
                direction = Direction::Desc;
            } else {
                c.pos = save;
            }
        }
        items.push(OrderByItem {
            expr: e,
            direction,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::ast::{Expr, ExprKind, Segment};
    use crate::uri::span::Span;

    fn items(s: &str) -> Vec<OrderByItem> {
        parse_orderby(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn text(items: &[OrderByItem]) -> String {
        items
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn verified(s: &str) {
        let parsed = items(s);
        assert_eq!(text(&parsed), s);
        assert_eq!(items(&text(&parsed)), parsed);
    }

    #[test]
    fn directions() {
        let got = items("Name desc,Price");
        let expected = vec![
            OrderByItem {
                expr: Expr::new(ExprKind::Path(vec![Segment::name("Name")])),
                direction: Direction::Desc,
                span: Span::NONE,
            },
            OrderByItem {
                expr: Expr::new(ExprKind::Path(vec![Segment::name("Price")])),
                direction: Direction::Asc,
                span: Span::NONE,
            },
        ];
        assert_eq!(got, expected);
        assert_eq!(got[0].span, Span::new(0, 9));
        verified("Name desc,Price");
        verified("Address/City,length(Name) desc");
        verified("Cost ge Revenue desc");
        assert_eq!(text(&items("Name asc")), "Name");
        assert_eq!(text(&items("Name\tDESC")), "Name desc");
    }

    #[test]
    fn errors() {
        let e = parse_orderby("Name sideways").expect_err("bad direction");
        assert_eq!(
            e.to_string(),
            "$orderby: expected ',' and another sort key, or the end of $orderby at 4..5, found ' '"
        );
        assert!(parse_orderby("").is_err());
        assert!(parse_orderby("Name,").is_err());
        assert!(parse_orderby("Name desc desc").is_err());
    }
}
