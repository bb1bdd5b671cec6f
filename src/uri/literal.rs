//! Primitive literals (ABNF section 7, `primitiveLiteral`): the lexical
//! shapes are nom parsers, the value checks (month lengths, hour ranges,
//! integer overflow) are plain Rust so their errors can say what is wrong.

use nom::Parser;
use nom::bytes::complete::{take_while_m_n, take_while1};
use nom::character::complete::{char, digit1, one_of};
use nom::combinator::{opt, recognize};

use super::ParseOptions;
use super::ast::{Date, DateTimeOffset, Duration, Float, Literal, TimeOfDay};
use super::cursor::{Cursor, PResult, is_ident_char};
use super::error::{UriError, UriErrorKind};
use super::span::Span;

type IResult<'a, O> = nom::IResult<&'a str, O>;

fn digits(n: usize) -> impl Fn(&str) -> IResult<'_, &str> {
    move |i| take_while_m_n(n, n, |c: char| c.is_ascii_digit()).parse(i)
}

fn hex(n: usize) -> impl Fn(&str) -> IResult<'_, &str> {
    move |i| take_while_m_n(n, n, |c: char| c.is_ascii_hexdigit()).parse(i)
}

/// `[-] year "-" month "-" day`, shape only.
fn date_shape(i: &str) -> IResult<'_, (Option<char>, &str, &str, &str)> {
    (
        opt(char('-')),
        digit1,
        char('-'),
        digits(2),
        char('-'),
        digits(2),
    )
        .map(|(neg, y, _, m, _, d)| (neg, y, m, d))
        .parse(i)
}

/// `hour ":" minute [ ":" second [ "." fraction ] ]`, shape only.
/// `(hour, minute, Some((second, fraction)))` as text.
type TimeParts<'a> = (&'a str, &'a str, Option<(&'a str, Option<&'a str>)>);

fn time_shape(i: &str) -> IResult<'_, TimeParts<'_>> {
    (
        digits(2),
        char(':'),
        digits(2),
        opt((
            char(':'),
            digits(2),
            opt((char('.'), digit1).map(|(_, f)| f)),
        )
            .map(|(_, s, f)| (s, f))),
    )
        .map(|(h, _, m, rest)| (h, m, rest))
        .parse(i)
}

/// `"Z" / SIGN hour ":" minute`
fn offset_shape(i: &str) -> IResult<'_, Option<(char, &str, &str)>> {
    let z = one_of("Zz").map(|_| None);
    let signed =
        (one_of("+-"), digits(2), char(':'), digits(2)).map(|(s, h, _, m)| Some((s, h, m)));
    nom::branch::alt((z, signed)).parse(i)
}

/// `[SIGN] 1*DIGIT [ "." 1*DIGIT ] [ "e" [SIGN] 1*DIGIT ]`, shape only.
fn number_shape(i: &str) -> IResult<'_, &str> {
    recognize((
        opt(one_of("+-")),
        digit1,
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(i)
}

fn guid_shape(i: &str) -> IResult<'_, &str> {
    recognize((
        hex(8),
        char('-'),
        hex(4),
        char('-'),
        hex(4),
        char('-'),
        hex(4),
        char('-'),
        hex(12),
    ))
    .parse(i)
}

fn invalid(message: String, span: Span) -> UriError {
    UriError::new(UriErrorKind::InvalidLiteral, message, span)
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap =
                year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0);
            if leap { 29 } else { 28 }
        }
    }
}

fn two(s: &str) -> u8 {
    s.bytes().fold(0u8, |acc, b| {
        acc.wrapping_mul(10).wrapping_add(b.wrapping_sub(b'0'))
    })
}

fn build_date(neg: Option<char>, y: &str, m: &str, d: &str, span: Span) -> PResult<Date> {
    let text = format!("{}{y}-{m}-{d}", if neg.is_some() { "-" } else { "" });
    if y.len() < 4 || (y.len() > 4 && y.starts_with('0')) {
        return Err(invalid(
            format!(
                "invalid date '{text}': the year needs four digits, or more without a leading zero"
            ),
            span,
        ));
    }
    let year: i64 = match y.parse::<i64>() {
        Ok(v) if y.len() <= 12 => v,
        _ => {
            return Err(invalid(
                format!("invalid date '{text}': year out of range"),
                span,
            ));
        }
    };
    let year = if neg.is_some() { -year } else { year };
    let (month, day) = (two(m), two(d));
    if !(1..=12).contains(&month) {
        return Err(invalid(
            format!("invalid date '{text}': month must be 01 to 12"),
            span,
        ));
    }
    let max = days_in_month(year, month);
    if day < 1 || day > max {
        return Err(invalid(
            format!("invalid date '{text}': day must be 01 to {max:02} in that month"),
            span,
        ));
    }
    Ok(Date { year, month, day })
}

fn build_time(
    h: &str,
    m: &str,
    rest: Option<(&str, Option<&str>)>,
    span: Span,
) -> PResult<TimeOfDay> {
    let (hour, minute) = (two(h), two(m));
    let (second, frac) = match rest {
        Some((s, f)) => (two(s), f),
        None => (0, None),
    };
    if hour > 23 {
        return Err(invalid(
            format!("invalid time: hour {h} is not 00 to 23"),
            span,
        ));
    }
    if minute > 59 {
        return Err(invalid(
            format!("invalid time: minute {m} is not 00 to 59"),
            span,
        ));
    }
    if second > 60 {
        return Err(invalid(
            format!("invalid time: second {second} is not 00 to 60"),
            span,
        ));
    }
    let nanos = match frac {
        None => 0,
        Some(f) => fraction_nanos(f, span)?,
    };
    Ok(TimeOfDay {
        hour,
        minute,
        second,
        nanos,
    })
}

/// Up to 12 fractional digits; digits past the ninth must be zero.
fn fraction_nanos(f: &str, span: Span) -> PResult<u32> {
    if f.len() > 12 {
        return Err(invalid(
            format!(
                "too many fractional second digits ({}, at most 12)",
                f.len()
            ),
            span,
        ));
    }
    let (head, tail) = f.split_at(f.len().min(9));
    if tail.bytes().any(|b| b != b'0') {
        return Err(invalid(
            "fractional seconds finer than nanoseconds are not supported".to_string(),
            span,
        ));
    }
    let mut nanos: u32 = 0;
    for (i, b) in head.bytes().enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Ok(nanos)
}

/// True if the character after a literal would glue it to more text.
fn glued(c: &Cursor<'_>) -> bool {
    c.peek().is_some_and(|ch| is_ident_char(ch) || ch == '.')
}

/// A literal at the cursor, or `None` (cursor unchanged) if none starts here.
/// Errors when the text clearly is a literal but a malformed one.
pub(crate) fn literal(c: &mut Cursor<'_>) -> PResult<Option<Literal>> {
    let start = c.pos;
    let Some(first) = c.peek() else {
        return Ok(None);
    };
    if first == '\'' {
        return string(c).map(|s| Some(Literal::String(s)));
    }
    if let Some(lit) = prefixed(c)? {
        return Ok(Some(lit));
    }
    // keywords
    if c.rest().starts_with("null") && c.eat_word("null") {
        return Ok(Some(Literal::Null));
    }
    if c.eat_word("true") {
        return Ok(Some(Literal::Boolean(true)));
    }
    if c.eat_word("false") {
        return Ok(Some(Literal::Boolean(false)));
    }
    for (word, value) in [
        ("NaN", f64::NAN),
        ("INF", f64::INFINITY),
        ("-INF", f64::NEG_INFINITY),
    ] {
        if c.rest().starts_with(word) && c.eat_word(word) {
            return Ok(Some(Literal::Double(Float(value))));
        }
    }
    // guid (may start with a letter)
    if first.is_ascii_hexdigit()
        && let Some(text) = c.run(guid_shape)
    {
        if glued(c) {
            c.pos = start;
        } else {
            let hexs: String = text.chars().filter(|&ch| ch != '-').collect();
            let value = u128::from_str_radix(&hexs, 16)
                .map_err(|_| invalid(format!("invalid guid '{text}'"), c.span_from(start)))?;
            return Ok(Some(Literal::Guid(value)));
        }
    }
    let signed_digit =
        matches!(first, '-' | '+') && c.peek_nth(1).is_some_and(|d| d.is_ascii_digit());
    if !(first.is_ascii_digit() || signed_digit) {
        return Ok(None);
    }
    // date or date-time
    if first != '+'
        && let Some(date) = date_or_dto(c)?
    {
        return Ok(Some(date));
    }
    // time of day
    if first.is_ascii_digit()
        && let Some((h, m, rest)) = c.run(time_shape)
    {
        let t = build_time(h, m, rest, c.span_from(start))?;
        if glued(c) || c.peek() == Some(':') {
            return c.expected("the end of the time of day");
        }
        return Ok(Some(Literal::TimeOfDay(t)));
    }
    number(c).map(Some)
}

fn date_or_dto(c: &mut Cursor<'_>) -> PResult<Option<Literal>> {
    let start = c.pos;
    let Some((neg, y, m, d)) = c.run(date_shape) else {
        return Ok(None);
    };
    let date = build_date(neg, y, m, d, c.span_from(start))?;
    if c.peek().is_some_and(|ch| ch == 'T' || ch == 't') {
        c.advance(1);
        let Some((h, mi, rest)) = c.run(time_shape) else {
            return c.expected("a time of day after 'T' (hh:mm)");
        };
        let time = build_time(h, mi, rest, c.span_from(start))?;
        let Some(off) = c.run(offset_shape) else {
            return c.expected("a time zone offset ('Z' or +hh:mm)");
        };
        let offset_minutes = match off {
            None => 0,
            Some((sign, oh, om)) => {
                let (oh, om) = (two(oh), two(om));
                if oh > 23 || om > 59 {
                    return Err(invalid(
                        "invalid time zone offset (hours 00-23, minutes 00-59)".to_string(),
                        c.span_from(start),
                    ));
                }
                let v = i16::from(oh) * 60 + i16::from(om);
                if sign == '-' { -v } else { v }
            }
        };
        if glued(c) || c.peek() == Some(':') {
            return c.expected("the end of the date-time");
        }
        return Ok(Some(Literal::DateTimeOffset(DateTimeOffset {
            date,
            time,
            offset_minutes,
        })));
    }
    if glued(c) {
        return c.expected("the end of the date");
    }
    Ok(Some(Literal::Date(date)))
}

fn number(c: &mut Cursor<'_>) -> PResult<Literal> {
    let start = c.pos;
    let Some(text) = c.run(number_shape) else {
        return c.expected("a number");
    };
    if glued(c) {
        return c.expected("the end of the number");
    }
    let span = c.span_from(start);
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if text.contains(['e', 'E']) {
        let v: f64 = unsigned
            .parse()
            .map_err(|_| invalid(format!("invalid number '{text}'"), span))?;
        return Ok(Literal::Double(Float(v)));
    }
    if text.contains('.') {
        return Ok(Literal::Decimal(unsigned.to_string()));
    }
    Ok(match unsigned.parse::<i64>() {
        Ok(v) => Literal::Integer(v),
        Err(_) => Literal::Decimal(unsigned.to_string()),
    })
}

/// `'...'` with `''` for a quote; the cursor is on the opening quote.
pub(crate) fn string(c: &mut Cursor<'_>) -> PResult<String> {
    let start = c.pos;
    c.advance(1);
    let mut out = String::new();
    loop {
        let rest = c.rest();
        let Some(i) = rest.find('\'') else {
            c.pos = start;
            return Err(UriError::new(
                UriErrorKind::Syntax,
                "unterminated string: expected a closing quote (write '' for a quote inside)",
                Span::new(start, start + 1),
            ));
        };
        out.push_str(rest.get(..i).unwrap_or(""));
        c.advance(i + 1);
        if c.peek() == Some('\'') {
            out.push('\'');
            c.advance(1);
        } else {
            return Ok(out);
        }
    }
}

/// Text between quotes without escapes (prefixed literals); cursor on `'`.
fn quoted_raw<'a>(c: &mut Cursor<'a>) -> PResult<&'a str> {
    let start = c.pos;
    c.advance(1);
    let rest = c.rest();
    match rest.find('\'') {
        Some(i) => {
            c.advance(i + 1);
            Ok(rest.get(..i).unwrap_or(""))
        }
        None => Err(UriError::new(
            UriErrorKind::Syntax,
            "unterminated literal: expected a closing quote",
            Span::new(start, start + 1),
        )),
    }
}

const PREFIXES: [&str; 5] = [
    "duration",
    "binary",
    "geography",
    "geometry",
    "datetimeoffset",
];

/// `duration'..'`, `binary'..'`, `geography'..'`, `geometry'..'` and the
/// legacy `datetimeoffset'..'` (prefix in any case).
fn prefixed(c: &mut Cursor<'_>) -> PResult<Option<Literal>> {
    let start = c.pos;
    let Some(prefix) = PREFIXES
        .into_iter()
        .find(|p| c.looking_at_ci(p) && c.rest().as_bytes().get(p.len()) == Some(&b'\''))
    else {
        return Ok(None);
    };
    c.advance(prefix.len());
    let body_start = c.pos + 1;
    let body = quoted_raw(c)?;
    let span = c.span_from(start);
    let lit = match prefix {
        "duration" => Literal::Duration(duration_value(body, span)?),
        "binary" => Literal::Binary(binary_value(body, span)?),
        "datetimeoffset" => {
            let mut inner = Cursor::new(body, &ParseOptions::default());
            match date_or_dto(&mut inner) {
                Ok(Some(Literal::DateTimeOffset(v))) if inner.at_end() => {
                    Literal::DateTimeOffset(v)
                }
                Ok(_) => {
                    return Err(invalid(
                        "expected a date-time with offset inside datetimeoffset'...'".to_string(),
                        span,
                    ));
                }
                Err(mut e) => {
                    e.span = Span::new(e.span.start + body_start, e.span.end + body_start);
                    return Err(e);
                }
            }
        }
        geo => Literal::Geo {
            geography: geo == "geography",
            text: body.to_string(),
        },
    };
    Ok(Some(lit))
}

/// `[-] "P" [n "D"] [ "T" [n "H"] [n "M"] [n ["." n] "S"] ]` (a day-time
/// duration; years and months are rejected, as in the ABNF).
pub(crate) fn duration_value(text: &str, span: Span) -> PResult<Duration> {
    let bad = |why: &str| invalid(format!("invalid duration '{text}': {why}"), span);
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let Some(mut rest) = rest.strip_prefix(['P', 'p']) else {
        return Err(bad("expected 'P'"));
    };
    let mut seconds: u64 = 0;
    let mut nanos = 0;
    let mut any = false;
    let mut in_time = false;
    let mut last_rank = 0;
    while !rest.is_empty() {
        if !in_time && (rest.starts_with('T') || rest.starts_with('t')) {
            in_time = true;
            rest = rest.get(1..).unwrap_or("");
            if rest.is_empty() {
                return Err(bad("expected hours, minutes or seconds after 'T'"));
            }
            continue;
        }
        let Ok((after, n)) =
            take_while1::<_, _, nom::error::Error<&str>>(|ch: char| ch.is_ascii_digit())
                .parse(rest)
        else {
            return Err(bad("expected a number"));
        };
        let (after, frac) = match after.strip_prefix('.') {
            Some(a) => {
                let Ok((a2, f)) = digit1::<_, nom::error::Error<&str>>(a) else {
                    return Err(bad("expected digits after '.'"));
                };
                (a2, Some(f))
            }
            None => (after, None),
        };
        let Some(unit) = after.chars().next() else {
            return Err(bad("expected a unit (D, H, M or S)"));
        };
        let (rank, factor) = match (in_time, unit.to_ascii_uppercase()) {
            (false, 'D') => (1, 86_400u64),
            (true, 'H') => (2, 3_600),
            (true, 'M') => (3, 60),
            (true, 'S') => (4, 1),
            _ => {
                return Err(bad(
                    "only days (D) before 'T' and H, M, S after it are allowed",
                ));
            }
        };
        if rank <= last_rank {
            return Err(bad("units out of order"));
        }
        if frac.is_some() && rank != 4 {
            return Err(bad("only seconds may have a fraction"));
        }
        last_rank = rank;
        let value: u64 = n.parse().map_err(|_| bad("number too large"))?;
        seconds = value
            .checked_mul(factor)
            .and_then(|v| v.checked_add(seconds))
            .ok_or_else(|| bad("too large"))?;
        if let Some(f) = frac {
            nanos = fraction_nanos(f, span)?;
        }
        any = true;
        rest = after.get(1..).unwrap_or("");
    }
    if !any {
        return Err(bad("expected at least one of D, H, M, S"));
    }
    Ok(Duration {
        negative,
        seconds,
        nanos,
    })
}

/// base64url (RFC 4648 §5) with optional padding; text kept as written.
fn binary_value(text: &str, span: Span) -> PResult<String> {
    let data = text.trim_end_matches('=');
    let pad = text.len() - data.len();
    let ok_chars = data
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    let ok_len = match data.len() % 4 {
        0 => pad == 0,
        2 => pad == 0 || pad == 2,
        3 => pad == 0 || pad == 1,
        _ => false,
    };
    if ok_chars && ok_len {
        Ok(text.to_string())
    } else {
        Err(invalid(
            format!("invalid base64url binary literal '{text}'"),
            span,
        ))
    }
}

// ------------------------------------------------------------ entry points

fn whole<T>(
    option: &str,
    text: &str,
    f: impl FnOnce(&mut Cursor<'_>) -> PResult<Option<T>>,
    what: &str,
) -> Result<T, UriError> {
    let mut c = Cursor::new(text, &ParseOptions::default());
    let result = match f(&mut c) {
        Ok(Some(v)) => c.expect_end("the end of the literal").map(|()| v),
        Ok(None) => c.expected(what),
        Err(e) => Err(e),
    };
    result.map_err(|e| e.in_option(option))
}

/// Parses one primitive literal as written in a URL (`primitiveLiteral`),
/// including enumeration literals `Ns.Type'Member'`.
///
/// ```
/// use ccfeed::uri::{literal::parse_literal, ast::Literal};
/// assert_eq!(parse_literal("'O''Neil'").unwrap(), Literal::String("O'Neil".into()));
/// assert_eq!(parse_literal("12.50").unwrap(), Literal::Decimal("12.50".into()));
/// ```
pub fn parse_literal(text: &str) -> Result<Literal, UriError> {
    whole(
        "literal",
        text,
        |c| {
            if let Some(l) = literal(c)? {
                return Ok(Some(l));
            }
            enum_literal(c)
        },
        "a literal",
    )
}

/// `Ns.Type'Member,Member'` at the cursor (after a failed `literal`).
pub(crate) fn enum_literal(c: &mut Cursor<'_>) -> PResult<Option<Literal>> {
    let start = c.pos;
    match c.qualified_name()? {
        Some((name, _)) if name.contains('.') && c.peek() == Some('\'') => {
            let value = quoted_raw(c)?;
            if value.is_empty() || value.split(',').any(|m| m.trim().is_empty()) {
                return Err(invalid(
                    format!("invalid enumeration literal: empty member in '{value}'"),
                    c.span_from(start),
                ));
            }
            Ok(Some(Literal::Enum {
                type_name: name.to_string(),
                value: value.to_string(),
            }))
        }
        _ => {
            c.pos = start;
            Ok(None)
        }
    }
}

/// Parses a date `YYYY-MM-DD` (ABNF `date`), checking the day of the month.
pub fn parse_date(text: &str) -> Result<Date, UriError> {
    whole(
        "date",
        text,
        |c| match date_or_dto(c)? {
            Some(Literal::Date(d)) => Ok(Some(d)),
            _ => Ok(None),
        },
        "a date (YYYY-MM-DD)",
    )
}

/// Parses a date-time with offset (ABNF `dateTimeOffsetValue`).
pub fn parse_date_time_offset(text: &str) -> Result<DateTimeOffset, UriError> {
    whole(
        "datetimeoffset",
        text,
        |c| match date_or_dto(c)? {
            Some(Literal::DateTimeOffset(d)) => Ok(Some(d)),
            _ => Ok(None),
        },
        "a date-time with offset (YYYY-MM-DDThh:mm[:ss[.f]]Z)",
    )
}

/// Parses a time of day `hh:mm[:ss[.fffffff]]` (ABNF `timeOfDayValue`).
pub fn parse_time_of_day(text: &str) -> Result<TimeOfDay, UriError> {
    whole(
        "timeofday",
        text,
        |c| {
            let start = c.pos;
            match c.run(time_shape) {
                Some((h, m, rest)) => build_time(h, m, rest, c.span_from(start)).map(Some),
                None => Ok(None),
            }
        },
        "a time of day (hh:mm[:ss])",
    )
}

/// Parses a guid `8-4-4-4-12` hex digits (ABNF `guid`).
pub fn parse_guid(text: &str) -> Result<u128, UriError> {
    whole(
        "guid",
        text,
        |c| match literal(c)? {
            Some(Literal::Guid(g)) => Ok(Some(g)),
            _ => Ok(None),
        },
        "a guid",
    )
}

/// Parses a duration: the bare value `[-]P1DT2H` (ABNF `durationValue`),
/// or the literal `'P1D'` / `duration'P1D'` (ABNF `durationLiteral`).
pub fn parse_duration(text: &str) -> Result<Duration, UriError> {
    whole(
        "duration",
        text,
        |c| {
            let start = c.pos;
            if c.looking_at_ci("duration'") {
                c.advance("duration".len());
            }
            if c.peek() == Some('\'') {
                let body = quoted_raw(c)?;
                return duration_value(body, c.span_from(start)).map(Some);
            }
            let body = c.rest();
            c.advance(body.len());
            duration_value(body, c.span_from(start)).map(Some)
        },
        "a duration",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Literal {
        match parse_literal(s) {
            Ok(l) => l,
            Err(e) => panic!("{s:?} failed: {e}"),
        }
    }

    /// Parses and prints back the same text.
    fn verified(s: &str) -> Literal {
        let l = lit(s);
        assert_eq!(l.to_string(), s);
        l
    }

    fn kind(s: &str) -> UriErrorKind {
        match parse_literal(s) {
            Ok(l) => panic!("{s:?} should fail, got {l:?}"),
            Err(e) => e.kind,
        }
    }

    #[test]
    fn keywords() {
        assert_eq!(verified("null"), Literal::Null);
        assert_eq!(verified("true"), Literal::Boolean(true));
        assert_eq!(lit("FALSE"), Literal::Boolean(false));
        assert!(parse_literal("NULL").is_err()); // null is case-sensitive
        assert!(parse_literal("nullx").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(verified("42"), Literal::Integer(42));
        assert_eq!(verified("-7"), Literal::Integer(-7));
        assert_eq!(lit("+42"), Literal::Integer(42));
        assert_eq!(verified("12.50"), Literal::Decimal("12.50".into()));
        assert_eq!(lit("9223372036854775807"), Literal::Integer(i64::MAX));
        assert_eq!(lit("-9223372036854775808"), Literal::Integer(i64::MIN));
        assert_eq!(
            lit("9223372036854775808"),
            Literal::Decimal("9223372036854775808".into())
        );
        assert_eq!(lit("1.5e3"), Literal::Double(Float(1500.0)));
        assert_eq!(lit("1E-2"), Literal::Double(Float(0.01)));
        assert_eq!(verified("INF"), Literal::Double(Float(f64::INFINITY)));
        assert_eq!(verified("-INF"), Literal::Double(Float(f64::NEG_INFINITY)));
        assert_eq!(verified("NaN"), Literal::Double(Float(f64::NAN)));
        for bad in [
            "42.",
            ".1",
            "1e",
            "-0.314e1e2",
            "12abc",
            "1.2.3",
            "inf",
            "nan",
        ] {
            assert!(parse_literal(bad).is_err(), "{bad}");
        }
        // doubles print with an exponent so they stay doubles
        assert_eq!(lit("1.5e3").to_string(), "1.5e3");
        assert_eq!(lit(&lit("1e-101").to_string()), lit("1e-101"));
    }

    #[test]
    fn strings() {
        assert_eq!(verified("'O''Neil'"), Literal::String("O'Neil".into()));
        assert_eq!(verified("''"), Literal::String(String::new()));
        assert_eq!(verified("''''"), Literal::String("'".into()));
        assert_eq!(verified("'a&b=c;d'"), Literal::String("a&b=c;d".into()));
        assert_eq!(verified("'Δ€'"), Literal::String("Δ€".into()));
        assert!(parse_literal("'O'Neil'").is_err());
        assert!(parse_literal("'abc").is_err());
        assert!(parse_literal("'").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(
            verified("2024-02-29"),
            Literal::Date(Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        verified("0000-01-01");
        verified("-10000-04-01");
        assert_eq!(kind("2024-02-30"), UriErrorKind::InvalidLiteral);
        assert_eq!(kind("2023-02-29"), UriErrorKind::InvalidLiteral);
        assert_eq!(kind("2000-13-01"), UriErrorKind::InvalidLiteral);
        assert_eq!(kind("2000-00-01"), UriErrorKind::InvalidLiteral);
        assert_eq!(kind("999-01-01"), UriErrorKind::InvalidLiteral);
        assert_eq!(kind("01000-01-01"), UriErrorKind::InvalidLiteral);
        lit("1900-02-28");
        assert!(parse_literal("1900-02-29").is_err());
        lit("2000-02-29");
        let e = parse_date("2024-02-30").expect_err("invalid");
        assert_eq!(e.span, Span::new(0, 10));
        assert_eq!(
            e.to_string(),
            "date: invalid date '2024-02-30': day must be 01 to 29 in that month at 0..10"
        );
    }

    #[test]
    fn times_and_date_times() {
        assert_eq!(
            verified("13:52:22.1234567"),
            Literal::TimeOfDay(TimeOfDay {
                hour: 13,
                minute: 52,
                second: 22,
                nanos: 123_456_700
            })
        );
        assert_eq!(lit("11:22").to_string(), "11:22:00");
        assert_eq!(lit("23:59:60").to_string(), "23:59:60");
        assert_eq!(kind("24:00:00"), UriErrorKind::InvalidLiteral);
        assert_eq!(kind("12:60"), UriErrorKind::InvalidLiteral);
        assert_eq!(lit("12:00:00.000000000000").to_string(), "12:00:00");
        assert!(parse_literal("12:00:00.0000000001").is_err());
        assert!(parse_literal("12:00:00.0000000000000").is_err());

        let d = verified("2012-09-03T14:53:00+02:00");
        let Literal::DateTimeOffset(v) = d else {
            panic!()
        };
        assert_eq!(v.offset_minutes, 120);
        assert_eq!(lit("2012-09-03T13:52Z").to_string(), "2012-09-03T13:52:00Z");
        assert_eq!(lit("2012-09-03t13:52z").to_string(), "2012-09-03T13:52:00Z");
        assert_eq!(
            lit("2012-09-03T13:52-00:00").to_string(),
            "2012-09-03T13:52:00Z"
        );
        verified("2012-09-03T13:52:00-03:30");
        verified("2012-08-31T18:19:22.1Z");
        verified("2012-08-31T18:19:22.1234567Z");
        assert_eq!(
            lit("datetimeoffset'2012-09-03T13:52Z'"),
            lit("2012-09-03T13:52:00Z")
        );
        assert_eq!(
            lit("DateTimeOffset'2012-09-03T13:52Z'"),
            lit("2012-09-03T13:52:00Z")
        );
        assert!(parse_literal("datetimeoffset'2012-09-03'").is_err());
        for bad in [
            "2011-12-31T24:00Z",
            "2012-09-03T13:52",
            "2012-09-03T",
            "2012-09-03T13:52+2:00",
            "2012-09-03T13:52Zx",
        ] {
            assert!(parse_literal(bad).is_err(), "{bad}");
        }
        let e = parse_literal("datetimeoffset'2012-09-03T25:00Z'").expect_err("bad hour");
        assert_eq!(e.span.start, 15);
    }

    #[test]
    fn guids() {
        let g = verified("01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(g, Literal::Guid(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef));
        assert_eq!(
            lit("ABCDEF01-89AB-CDEF-0123-456789ABCDEF").to_string(),
            "abcdef01-89ab-cdef-0123-456789abcdef"
        );
        assert!(parse_guid("01234g67-89ab-cdef-0123-456789abcdef").is_err());
        assert!(parse_guid("01234567-89ab-cdef-456789abcdef").is_err());
    }

    #[test]
    fn durations() {
        let d = parse_duration("P6DT23H59M59.9999S").expect("duration");
        assert_eq!(
            d,
            Duration {
                negative: false,
                seconds: 6 * 86_400 + 23 * 3600 + 59 * 60 + 59,
                nanos: 999_900_000
            }
        );
        assert_eq!(d.to_string(), "P6DT23H59M59.9999S");
        assert_eq!(
            parse_duration("-PT0.5S").expect("neg").to_string(),
            "-PT0.5S"
        );
        assert_eq!(parse_duration("'P1D'").expect("quoted").to_string(), "P1D");
        assert_eq!(
            parse_duration("duration'PT90M'")
                .expect("literal")
                .to_string(),
            "PT1H30M"
        );
        assert_eq!(parse_duration("PT0S").expect("zero").to_string(), "PT0S");
        assert_eq!(
            verified("duration'P1DT2H'"),
            Literal::Duration(parse_duration("P1DT2H").expect("d"))
        );
        for bad in [
            "P",
            "PT",
            "P1Y",
            "P1M",
            "+P1D",
            "PT1H2H",
            "P1.5D",
            "1D",
            "PT1.S",
            "P99999999999999999999D",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        // a quoted duration without prefix is a string in expressions
        assert_eq!(lit("'P1D'"), Literal::String("P1D".into()));
    }

    #[test]
    fn prefixed_and_enum() {
        assert_eq!(
            verified("binary'Zm9vYg=='"),
            Literal::Binary("Zm9vYg==".into())
        );
        verified("binary''");
        assert!(parse_literal("binary'Z'").is_err());
        assert!(parse_literal("binary'Zm9v!'").is_err());
        assert_eq!(
            verified("Sales.Pattern'Yellow'"),
            Literal::Enum {
                type_name: "Sales.Pattern".into(),
                value: "Yellow".into()
            }
        );
        verified("Sales.Pattern'Solid,Yellow'");
        assert!(parse_literal("Sales.Pattern''").is_err());
        verified("geography'SRID=0;Point(142.1 64.1)'");
        verified("geometry'SRID=0;Point(1 2)'");
    }
}
