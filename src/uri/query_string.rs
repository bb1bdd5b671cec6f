//! The raw query string → decoded (name, value) pairs, the input of
//! [`super::QueryOptions::parse`]. `+` is a space and `%xx` escapes are decoded;
//! invalid UTF-8 is an error, never silently replaced.

use percent_encoding::percent_decode_str;

use super::error::{UriError, UriErrorKind};
use super::span::Span;

pub fn decode_query_string(query: &str) -> Result<Vec<(String, String)>, UriError> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = decode_component(name, name)?;
        let value = decode_component(value, &name)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

fn decode_component(text: &str, option: &str) -> Result<String, UriError> {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            UriError::new(
                UriErrorKind::Encoding,
                "the URL is not valid percent-encoded UTF-8",
                Span::new(0, text.len()),
            )
            .in_option(option)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(
            decode_query_string("%24select=id%2CstartedAtUtc&$orderby=id+desc&api_key=a%2Bb&flag")
                .unwrap(),
            vec![
                ("$select".to_string(), "id,startedAtUtc".to_string()),
                ("$orderby".to_string(), "id desc".to_string()),
                ("api_key".to_string(), "a+b".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        let e = decode_query_string("$top=%FF").unwrap_err();
        assert_eq!(e.kind, UriErrorKind::Encoding);
        assert_eq!(e.option, "$top");
    }
}
