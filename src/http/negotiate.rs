//! Content negotiation: which representation a request gets, from `$format` (which
//! wins) or the `Accept` header with its q-values. The feed speaks OData JSON for data,
//! CSDL XML for `$metadata` and plain text for `/$count`; never Atom. A request that
//! accepts none of what an endpoint produces gets 406.

use super::error::ApiError;

pub const JSON_MINIMAL: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// The `odata.metadata` level of a JSON response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataLevel {
    Minimal,
    Full,
    None,
}

impl MetadataLevel {
    fn parse(value: &str) -> Option<MetadataLevel> {
        match value.to_ascii_lowercase().as_str() {
            "minimal" => Some(MetadataLevel::Minimal),
            "full" => Some(MetadataLevel::Full),
            "none" => Some(MetadataLevel::None),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            MetadataLevel::Minimal => "minimal",
            MetadataLevel::Full => "full",
            MetadataLevel::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonFormat {
    pub metadata: MetadataLevel,
    /// `IEEE754Compatible=true`: Int64 values are written as strings.
    pub ieee754: bool,
}

impl JsonFormat {
    pub fn content_type(self) -> String {
        format!(
            "application/json;odata.metadata={};odata.streaming=true;IEEE754Compatible={};charset=utf-8",
            self.metadata.name(),
            self.ieee754
        )
    }
}

/// One media range of an Accept header (or a `$format` value).
#[derive(Debug, Clone, PartialEq)]
struct MediaRange {
    kind: String,
    subtype: String,
    params: Vec<(String, String)>,
    q: f32,
}

impl MediaRange {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn matches(&self, kind: &str, subtype: &str) -> bool {
        (self.kind == "*" || self.kind == kind) && (self.subtype == "*" || self.subtype == subtype)
    }
}

fn parse_ranges(header: &str) -> Vec<MediaRange> {
    let mut ranges: Vec<MediaRange> = header
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim().to_ascii_lowercase();
            let (kind, subtype) = media.split_once('/')?;
            let mut q = 1.0;
            let mut params = Vec::new();
            for p in pieces {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let (k, v) = (k.trim().to_string(), v.trim().trim_matches('"').to_string());
                if k.eq_ignore_ascii_case("q") {
                    q = v.parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
                } else {
                    params.push((k, v));
                }
            }
            Some(MediaRange {
                kind: kind.trim().to_string(),
                subtype: subtype.trim().to_string(),
                params,
                q,
            })
        })
        .collect();
    // Highest preference first; equal q keeps the client's order.
    ranges.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    ranges
}

fn json_from_range(range: &MediaRange) -> Option<JsonFormat> {
    if !range.matches("application", "json") {
        return None;
    }
    // v3-style `odata=minimalmetadata` is a different format; skip such ranges.
    if range.param("odata").is_some() {
        return None;
    }
    let metadata = match range.param("odata.metadata") {
        Some(v) => MetadataLevel::parse(v)?,
        None => MetadataLevel::Minimal,
    };
    let ieee754 = range
        .param("IEEE754Compatible")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Some(JsonFormat { metadata, ieee754 })
}

/// `$format` short names and media types as a media range.
fn format_range(format: &str) -> Option<MediaRange> {
    let expanded = match format.to_ascii_lowercase().as_str() {
        "json" => "application/json".to_string(),
        "xml" => "application/xml".to_string(),
        "atom" => "application/atom+xml".to_string(),
        _ => format.to_string(),
    };
    parse_ranges(&expanded).into_iter().next()
}

/// The JSON flavour for a data response.
pub fn json(accept: Option<&str>, format: Option<&str>) -> Result<JsonFormat, ApiError> {
    if let Some(format) = format {
        return format_range(format)
            .as_ref()
            .and_then(json_from_range)
            .ok_or_else(|| {
                ApiError::not_acceptable(format!(
                    "$format={format} is not available; use $format=json"
                ))
            });
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(JsonFormat {
            metadata: MetadataLevel::Minimal,
            ieee754: false,
        });
    };
    parse_ranges(accept)
        .iter()
        .filter(|r| r.q > 0.0)
        .find_map(json_from_range)
        .ok_or_else(|| {
            ApiError::not_acceptable("this resource is available as application/json only")
        })
}

/// Whether `$metadata` may be answered with CSDL XML.
pub fn metadata_xml(accept: Option<&str>, format: Option<&str>) -> Result<(), ApiError> {
    let acceptable =
        |r: &MediaRange| r.q > 0.0 && (r.matches("application", "xml") || r.matches("text", "xml"));
    if let Some(format) = format {
        return match format_range(format) {
            Some(r) if acceptable(&r) => Ok(()),
            _ => Err(ApiError::not_acceptable(format!(
                "$format={format} is not available for $metadata; it is served as application/xml"
            ))),
        };
    }
    match accept.filter(|a| !a.trim().is_empty()) {
        None => Ok(()),
        Some(a) if parse_ranges(a).iter().any(acceptable) => Ok(()),
        Some(_) => Err(ApiError::not_acceptable(
            "$metadata is available as application/xml only",
        )),
    }
}

/// Whether the client's first choice is an HTML page: true for a browser's navigation
/// (`text/html,application/xhtml+xml,...`), false for every OData client, which asks
/// for JSON, XML or `*/*` first. A wildcard never counts as asking for HTML.
pub fn prefers_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    parse_ranges(accept)
        .iter()
        .find(|r| r.q > 0.0)
        .is_some_and(|r| {
            (r.kind == "text" && r.subtype == "html")
                || (r.kind == "application" && r.subtype == "xhtml+xml")
        })
}

/// Whether a `/$count` may be answered with text/plain.
pub fn plain_text(accept: Option<&str>) -> Result<(), ApiError> {
    match accept.filter(|a| !a.trim().is_empty()) {
        None => Ok(()),
        Some(a)
            if parse_ranges(a)
                .iter()
                .any(|r| r.q > 0.0 && r.matches("text", "plain")) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::not_acceptable(
            "/$count is available as text/plain only",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POWER_QUERY: &str = "application/json;odata.metadata=minimal;q=1.0,application/json;odata=minimalmetadata;q=0.9,application/atomsvc+xml;q=0.8,application/atom+xml;q=0.8,application/xml;q=0.7,text/plain;q=0.7";
    const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    #[test]
    fn power_query_gets_minimal_json_and_xml_metadata() {
        assert_eq!(
            json(Some(POWER_QUERY), None).unwrap().metadata,
            MetadataLevel::Minimal
        );
        assert!(metadata_xml(Some(POWER_QUERY), None).is_ok());
        assert!(plain_text(Some(POWER_QUERY)).is_ok());
    }

    #[test]
    fn browsers_get_json_data_and_xml_metadata() {
        assert_eq!(
            json(Some(BROWSER), None).unwrap().metadata,
            MetadataLevel::Minimal
        );
        assert!(metadata_xml(Some(BROWSER), None).is_ok());
    }

    #[test]
    fn only_a_browser_navigation_prefers_html() {
        assert!(prefers_html(Some(BROWSER)));
        assert!(prefers_html(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
        )));
        assert!(prefers_html(Some("application/json;q=0.5, text/html")));
        for client in [
            POWER_QUERY,
            "*/*",
            "application/json",
            "application/xml",
            "text/*",
            "application/json, text/html",
            "text/html;q=0",
        ] {
            assert!(!prefers_html(Some(client)), "{client}");
        }
        assert!(!prefers_html(None));
    }

    #[test]
    fn q_values_and_format_decide() {
        let f = json(
            Some(
                "application/json;odata.metadata=none;q=0.5, application/json;odata.metadata=full",
            ),
            None,
        )
        .unwrap();
        assert_eq!(f.metadata, MetadataLevel::Full);
        assert_eq!(
            json(None, Some("application/json;odata.metadata=none"))
                .unwrap()
                .metadata,
            MetadataLevel::None
        );
        assert!(
            json(Some("application/json;IEEE754Compatible=true"), None)
                .unwrap()
                .ieee754
        );
        assert_eq!(
            json(Some("application/atom+xml"), None)
                .unwrap_err()
                .status
                .as_u16(),
            406
        );
        assert_eq!(
            json(Some("application/json;q=0"), None)
                .unwrap_err()
                .status
                .as_u16(),
            406
        );
        assert_eq!(json(None, Some("atom")).unwrap_err().status.as_u16(), 406);
        assert!(metadata_xml(Some("application/json"), None).is_err());
        assert!(metadata_xml(None, Some("xml")).is_ok());
        assert!(plain_text(Some("application/json")).is_err());
    }
}
