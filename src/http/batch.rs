//! `$batch` for reads: several requests in one, in the OData 4.0 `multipart/mixed`
//! format (what Power Query sends with `EnableBatch=true`, its way around URLs longer
//! than `MaxUriLength`) and the OData 4.01 JSON format.
//!
//! The batch is authenticated once; every part runs as that caller through the same
//! read pipeline as a plain request ([`handlers::read`]) and is answered in order
//! with its own status. The feed is read-only: a part that is not a GET, and every
//! change set, is answered 405 inside the batch. The body size and the number of
//! parts are limited (`max_batch_bytes`, `max_batch_parts`).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentEncoding, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use serde_json::{Map, Value as Json, json};

use super::AppState;
use super::error::ApiError;
use super::handlers::{self, ReadRequest, check_version, service_root};
use crate::store::tenants::{Role, Tenant};

/// One request of a batch, as parsed.
struct Part {
    /// `Content-ID` (multipart) or `id` (JSON), echoed in the answer.
    id: Option<String>,
    method: String,
    url: String,
    headers: HeaderMap,
    /// A change set (multipart) or an atomicity group (JSON): refused as a whole.
    change_set: bool,
}

/// One answer of a batch.
struct Answer {
    id: Option<String>,
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

pub async fn batch(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    let tenant = super::auth::authenticate(&req, &state, Role::Read).await?;
    let limits = &state.settings.limits;
    let mut body: Vec<u8> = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("reading the batch failed: {e}")))?;
        if body.len() + chunk.len() > limits.max_batch_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BatchTooLarge",
                format!(
                    "the batch is larger than {} bytes (setting max_batch_bytes)",
                    limits.max_batch_bytes
                ),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (parts, json) = match mime.as_str() {
        "multipart/mixed" => {
            let boundary = parameter(&content_type, "boundary").ok_or_else(|| {
                ApiError::bad_request("a multipart/mixed batch needs a boundary parameter")
            })?;
            (parse_multipart(&body, &boundary)?, false)
        }
        "application/json" => (parse_json(&body)?, true),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "a batch is multipart/mixed (OData 4.0) or application/json (OData 4.01)",
            ));
        }
    };
    if parts.len() > limits.max_batch_parts {
        return Err(ApiError::bad_request(format!(
            "the batch has {} requests, more than the limit of {} (setting max_batch_parts)",
            parts.len(),
            limits.max_batch_parts
        )));
    }
    let root = service_root(&req, &state);
    let mut answers = Vec::with_capacity(parts.len());
    for part in parts {
        answers.push(answer(&state, &tenant, &root, part).await);
    }
    Ok(if json {
        json_response(answers)
    } else {
        multipart_response(answers)
    })
}

/// Runs one part through the read pipeline.
async fn answer(state: &web::Data<AppState>, tenant: &Tenant, root: &str, part: Part) -> Answer {
    let response = if part.change_set || !part.method.eq_ignore_ascii_case("GET") {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the feed is read-only: a batch may hold GET requests only",
        )
        .error_response()
    } else {
        match relative(&part.url, root) {
            Ok((path, query)) => {
                let read_request = ReadRequest {
                    path,
                    query,
                    headers: part.headers,
                    root: root.to_string(),
                    encoding: ContentEncoding::Identity,
                    next_link: handlers::NextLinkOut::none(),
                };
                match handlers::read(state, tenant.clone(), &read_request).await {
                    Ok(response) => response,
                    Err(e) => e.error_response(),
                }
            }
            Err(e) => e.error_response(),
        }
    };
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != header::CONTENT_LENGTH && *name != header::TRANSFER_ENCODING)
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let body = match actix_web::body::to_bytes(response.into_body()).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => {
            return Answer {
                id: part.id,
                status: StatusCode::INTERNAL_SERVER_ERROR,
                headers: Vec::new(),
                body: Vec::new(),
            };
        }
    };
    Answer {
        id: part.id,
        status,
        headers,
        body,
    }
}

/// The path after `/odata/` and the query of a part's URL: absolute
/// (`http://host/odata/Calls`), absolute path (`/odata/Calls`) or relative to the
/// service root (`Calls`).
fn relative(url: &str, root: &str) -> Result<(String, String), ApiError> {
    let mut rest = url.trim();
    if let Some(stripped) = rest.strip_prefix(root) {
        rest = stripped;
    } else if let Some(scheme) = rest.find("://") {
        let after = &rest[scheme + 3..];
        rest = after.find('/').map_or("", |slash| &after[slash..]);
    }
    let rest = rest.trim_start_matches('/');
    let rest = rest
        .strip_prefix(super::ROOT.trim_start_matches('/'))
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(rest);
    if rest.starts_with("$batch") {
        return Err(ApiError::bad_request("a batch cannot hold another batch"));
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Ok((path.to_string(), query.to_string()))
}

/// A parameter of a header value (`boundary` of a content type), unquoted.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits `text` at the first blank line: the header lines and what follows.
fn split_head(text: &str) -> (Vec<&str>, &str) {
    let (head, rest) = match (text.find("\r\n\r\n"), text.find("\n\n")) {
        (Some(a), Some(b)) if b < a => (&text[..b], &text[b + 2..]),
        (Some(a), _) => (&text[..a], &text[a + 4..]),
        (None, Some(b)) => (&text[..b], &text[b + 2..]),
        (None, None) => (text, ""),
    };
    let lines = head
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    (lines, rest)
}

fn header_lines(lines: &[&str]) -> Result<HeaderMap, ApiError> {
    let mut map = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ApiError::bad_request(format!("'{line}' is not a header line")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            ApiError::bad_request(format!("'{}' is not a header name", name.trim()))
        })?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| ApiError::bad_request(format!("the value of {name} is not valid")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The body parts between `--boundary` delimiters (RFC 2046), without the preamble
/// and the epilogue.
fn body_parts<'a>(text: &'a str, boundary: &str) -> Result<Vec<&'a str>, ApiError> {
    let delimiter = format!("--{boundary}");
    let mut pieces = text.split(delimiter.as_str());
    pieces.next(); // the preamble
    let mut parts = Vec::new();
    for piece in pieces {
        if piece.starts_with("--") {
            return Ok(parts);
        }
        let piece = piece
            .strip_prefix("\r\n")
            .or_else(|| piece.strip_prefix('\n'))
            .unwrap_or(piece);
        let piece = piece
            .strip_suffix("\r\n")
            .or_else(|| piece.strip_suffix('\n'))
            .unwrap_or(piece);
        parts.push(piece);
    }
    Err(ApiError::bad_request(format!(
        "the batch does not end with the closing delimiter --{boundary}--"
    )))
}

fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the batch is not valid UTF-8"))?;
    let mut parts = Vec::new();
    for piece in body_parts(text, boundary)? {
        let (head, content) = split_head(piece);
        let headers = header_lines(&head)?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let id = headers
            .get("content-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if content_type
            .to_ascii_lowercase()
            .starts_with("multipart/mixed")
        {
            // A change set: modifying requests, which a read-only feed refuses.
            parts.push(Part {
                id,
                method: String::new(),
                url: String::new(),
                headers: HeaderMap::new(),
                change_set: true,
            });
            continue;
        }
        let (request_head, _body) = split_head(content);
        let Some((request_line, request_headers)) = request_head.split_first() else {
            return Err(ApiError::bad_request("a batch part holds no request"));
        };
        let mut words = request_line.split_whitespace();
        let (Some(method), Some(url)) = (words.next(), words.next()) else {
            return Err(ApiError::bad_request(format!(
                "'{request_line}' is not a request line (METHOD URL HTTP/1.1)"
            )));
        };
        parts.push(Part {
            id,
            method: method.to_string(),
            url: url.to_string(),
            headers: header_lines(request_headers)?,
            change_set: false,
        });
    }
    Ok(parts)
}

fn parse_json(body: &[u8]) -> Result<Vec<Part>, ApiError> {
    let document: Json = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the batch is not valid JSON: {e}")))?;
    let requests = document
        .get("requests")
        .and_then(Json::as_array)
        .ok_or_else(|| ApiError::bad_request("a JSON batch has a \"requests\" array"))?;
    let mut parts = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let field = |name: &str| request.get(name).and_then(Json::as_str);
        let (Some(method), Some(url)) = (field("method"), field("url")) else {
            return Err(ApiError::bad_request(format!(
                "request {i} of the batch needs \"method\" and \"url\""
            )));
        };
        let mut headers = HeaderMap::new();
        if let Some(map) = request.get("headers").and_then(Json::as_object) {
            for (name, value) in map {
                let (Ok(name), Some(Ok(value))) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    value.as_str().map(HeaderValue::from_str),
                ) else {
                    return Err(ApiError::bad_request(format!(
                        "request {i} of the batch has an invalid header '{name}'"
                    )));
                };
                headers.append(name, value);
            }
        }
        parts.push(Part {
            id: field("id").map(str::to_string),
            method: method.to_string(),
            url: url.to_string(),
            headers,
            change_set: request.get("atomicityGroup").is_some()
                && !method.eq_ignore_ascii_case("GET"),
        });
    }
    Ok(parts)
}

fn multipart_response(answers: Vec<Answer>) -> HttpResponse {
    let mut random = [0u8; 8];
    // A fixed boundary would still be valid: no answer contains this text.
    let _ = getrandom::fill(&mut random);
    let boundary = format!("batchresponse_{:016x}", u64::from_le_bytes(random));
    let mut out: Vec<u8> = Vec::new();
    for a in answers {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(
            b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n",
        );
        if let Some(id) = &a.id {
            out.extend_from_slice(format!("Content-ID: {id}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        let reason = a.status.canonical_reason().unwrap_or_default();
        out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", a.status.as_u16()).as_bytes());
        for (name, value) in &a.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", a.body.len()).as_bytes());
        out.extend_from_slice(&a.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    HttpResponse::Ok()
        .content_type(format!("multipart/mixed; boundary={boundary}"))
        .body(out)
}

fn json_response(answers: Vec<Answer>) -> HttpResponse {
    let responses: Vec<Json> = answers
        .into_iter()
        .map(|a| {
            let mut headers = Map::new();
            let mut is_json = false;
            for (name, value) in a.headers {
                if name.eq_ignore_ascii_case("odata-version") {
                    continue;
                }
                if name.eq_ignore_ascii_case("content-type") {
                    is_json = value.starts_with("application/json");
                }
                headers.insert(name, Json::String(value));
            }
            let mut response = json!({
                "status": a.status.as_u16(),
                "headers": headers,
            });
            if let Some(id) = a.id {
                response["id"] = Json::String(id);
            }
            if !a.body.is_empty() {
                response["body"] = match is_json {
                    true => serde_json::from_slice(&a.body)
                        .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&a.body).into())),
                    false => Json::String(String::from_utf8_lossy(&a.body).into()),
                };
            }
            response
        })
        .collect();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json!({ "responses": responses }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_urls_are_made_relative_to_the_service() {
        let root = "http://h:1/odata";
        let r = |u| relative(u, root).map_err(|e| e.status.as_u16());
        assert_eq!(r("Calls?$top=1"), Ok(("Calls".into(), "$top=1".into())));
        assert_eq!(r("/odata/Calls"), Ok(("Calls".into(), String::new())));
        assert_eq!(
            r("http://h:1/odata/Calls('x')"),
            Ok(("Calls('x')".into(), String::new()))
        );
        assert_eq!(
            r("https://elsewhere/odata/Calls"),
            Ok(("Calls".into(), String::new()))
        );
        assert_eq!(r("$batch"), Err(400));
    }

    #[test]
    fn multipart_bodies_split_into_requests_and_change_sets() {
        let body = "preamble\r\n--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nGET Calls?$top=1 HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\n\r\nPOST Calls HTTP/1.1\r\n\r\n{}\r\n--cs--\r\n\r\n--b--\r\n";
        let parts = parse_multipart(body.as_bytes(), "b").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].id.as_deref(), Some("1"));
        assert_eq!(
            (parts[0].method.as_str(), parts[0].url.as_str()),
            ("GET", "Calls?$top=1")
        );
        assert_eq!(parts[0].headers.get("accept").unwrap(), "application/json");
        assert!(parts[1].change_set);
        assert!(
            parse_multipart(
                b"--b\r\nContent-Type: application/http\r\n\r\nGET Calls HTTP/1.1\r\n",
                "b"
            )
            .is_err()
        );
    }
}
