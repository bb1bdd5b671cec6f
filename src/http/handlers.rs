//! Request handlers: the service document, `$metadata`, collections, single
//! entities and `/$count`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tokio_stream::wrappers::ReceiverStream;

use super::auth;
use super::body::{
    BodyEncoder, Output, PageOut, PageStart, encode_body, encoded_headers, negotiated_encoding,
};
use super::error::ApiError;
use super::json::{EntityShape, JsonWriter, write_str};
use super::negotiate::{self, MetadataLevel};
use super::{AppState, ROOT};
use crate::edm::{EntitySet, METADATA_XML, Model};
use crate::plan::{self, Planner, QueryPlan, encode_skiptoken};
use crate::store::tenants::Role;
use crate::store::{self, StoreError};
use crate::uri::{self, QueryOptions};

type State = web::Data<AppState>;

/// Query-string values in links: everything but unreserved characters and a few
/// that read better unescaped and mean nothing special inside a value.
const LINK_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b',')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b':')
    .remove(b'$')
    .remove(b'@');

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The absolute service root, e.g. `http://127.0.0.1:8080/odata`.
fn service_root(req: &HttpRequest, state: &AppState) -> String {
    match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let info = req.connection_info();
            format!("{}://{}{}", info.scheme(), info.host(), ROOT)
        }
    }
}

/// OData-MaxVersion below 4.0 asks for a protocol version this server does not speak.
fn check_version(req: &HttpRequest) -> Result<(), ApiError> {
    if let Some(max) = header(req.headers(), "OData-MaxVersion")
        && let Ok(v) = max.trim().parse::<f32>()
        && v < 4.0
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedVersion",
            format!("this service speaks OData 4.0; the request allows at most {max}"),
        ));
    }
    Ok(())
}

pub async fn home() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/odata/"))
        .finish()
}

pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() != actix_web::http::Method::GET {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the feed is read-only: use GET",
        ));
    }
    Err(ApiError::not_found(format!(
        "nothing here; the OData service root is {ROOT}/"
    )))
}

pub async fn service_document(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    auth::authenticate(&req, &state, Role::Read).await?;
    let options = parse_options(&req, &state.settings.limits)?;
    let format = negotiate::json(header(req.headers(), "Accept"), format_option(&options))?;
    let root = service_root(&req, &state);
    let mut out = Vec::with_capacity(4096);
    out.push(b'{');
    if format.metadata != MetadataLevel::None {
        out.extend_from_slice(b"\"@odata.context\":");
        write_str(&mut out, &format!("{root}/$metadata"));
        out.push(b',');
    }
    out.extend_from_slice(b"\"value\":[");
    for (i, set) in state.model.entity_sets().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        write_str(&mut out, &set.name);
        out.extend_from_slice(b",\"kind\":\"EntitySet\",\"url\":");
        write_str(&mut out, &set.name);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .body(out))
}

pub async fn metadata(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    let pairs = uri::decode_query_string(req.query_string())?;
    let format = pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$format"))
        .map(|(_, v)| v.as_str());
    negotiate::metadata_xml(header(req.headers(), "Accept"), format)?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml;charset=utf-8")
        .body(METADATA_XML))
}

fn parse_options(req: &HttpRequest, limits: &plan::Limits) -> Result<QueryOptions, ApiError> {
    let length = req.uri().to_string().len();
    if length > limits.max_url_length {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "UriTooLong",
            format!(
                "the URL has {length} bytes, more than the limit of {} (setting max_url_length)",
                limits.max_url_length
            ),
        ));
    }
    let pairs = uri::decode_query_string(req.query_string())?;
    let parse = uri::ParseOptions::default().with_max_depth(limits.max_depth);
    Ok(QueryOptions::parse_with(pairs, &parse)?)
}

fn format_option(options: &QueryOptions) -> Option<&str> {
    plan::raw_option(options, "$format")
}

/// What the path after `/odata/` addresses.
enum Resource<'a> {
    Collection(&'a str),
    Count(&'a str),
    Entity(&'a str, String),
}

fn parse_resource(path: &str) -> Result<Resource<'_>, ApiError> {
    let path = path.trim_end_matches('/');
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    if rest == "$count" {
        return Ok(Resource::Count(head));
    }
    if !rest.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "addressing '{rest}' below an entity set or entity is not supported; use $select"
            ),
        ));
    }
    match head.split_once('(') {
        None => Ok(Resource::Collection(head)),
        Some((set, key)) => {
            let key = key.strip_suffix(')').ok_or_else(|| {
                ApiError::bad_request(format!("the key of '{head}' is missing its closing ')'"))
            })?;
            let literal = key.strip_prefix("id=").unwrap_or(key).trim();
            let inner = literal
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .filter(|s| !s.replace("''", "").contains('\''))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "keys are strings: write {set}('value'), doubling any quote inside, not {set}({key})"
                    ))
                })?;
            Ok(Resource::Entity(set, inner.replace("''", "'")))
        }
    }
}

fn entity_set<'m>(state: &'m AppState, name: &str) -> Result<(usize, &'m EntitySet), ApiError> {
    state
        .model
        .entity_sets()
        .iter()
        .enumerate()
        .find(|(_, s)| s.name == name)
        .ok_or_else(|| {
            let hint = state
                .model
                .entity_sets()
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name))
                .map(|s| format!("; names are case-sensitive: did you mean {}?", s.name))
                .unwrap_or_default();
            ApiError::not_found(format!("there is no entity set '{name}'{hint}"))
        })
}

pub async fn resource(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    let tenant = auth::authenticate(&req, &state, Role::Read).await?.id;
    let raw_path = req.uri().path().strip_prefix("/odata/").unwrap_or_default();
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("the path is not valid percent-encoded UTF-8"))?
        .into_owned();
    let options = parse_options(&req, &state.settings.limits)?;
    match parse_resource(&path)? {
        Resource::Collection(name) => collection(&req, state.clone(), name, tenant, options).await,
        Resource::Count(name) => count(&req, state.clone(), name, tenant, options).await,
        Resource::Entity(name, key) => {
            entity(&req, state.clone(), name, tenant, key, options).await
        }
    }
}

fn context_url(
    root: &str,
    model: &Model,
    set: &EntitySet,
    plan: &QueryPlan,
    entity: bool,
) -> String {
    let mut url = format!("{root}/$metadata#{}", set.name);
    let mut items: Vec<String> = Vec::new();
    if plan.select_explicit {
        items.extend(plan.select.iter().map(|&i| set.properties[i].name.clone()));
    } else if !plan.expand.is_empty() {
        items.push("*".to_string());
    }
    items.extend(plan.expand.iter().map(|e| e.context_fragment(model)));
    if !items.is_empty() {
        url.push('(');
        url.push_str(&items.join(","));
        url.push(')');
    }
    if entity {
        url.push_str("/$entity");
    }
    url
}

/// `Prefer: odata.maxpagesize=n`, if the client sent it.
fn preferred_page_size(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get_all(header::HeaderName::from_static("prefer"))
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| {
            let (name, value) = p.trim().split_once('=')?;
            let name = name.trim().to_ascii_lowercase();
            (name == "odata.maxpagesize" || name == "maxpagesize")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .find(|&n| n > 0)
}

/// The part of the next page's URL that every page shares: every option of this
/// request except the paging ones, which [`next_link`] adds.
fn next_link_base(req: &HttpRequest, root: &str, set: &str) -> String {
    let mut query: Vec<String> = Vec::new();
    if let Ok(pairs) = uri::decode_query_string(req.query_string()) {
        for (name, value) in pairs {
            let lower = name.to_ascii_lowercase();
            // Paging options are set per page; a key never travels in a link.
            if matches!(lower.as_str(), "$skip" | "$skiptoken" | "$top")
                || name == auth::API_KEY_PARAM
            {
                continue;
            }
            query.push(format!(
                "{}={}&",
                utf8_percent_encode(&name, LINK_VALUE),
                utf8_percent_encode(&value, LINK_VALUE)
            ));
        }
    }
    format!("{root}/{set}?{}", query.concat())
}

/// The next page's URL: the shared base, the remaining `$top` and the keyset position.
fn next_link(base: &str, remaining_top: Option<u64>, token: &str) -> String {
    match remaining_top {
        Some(top) => format!("{base}$top={top}&$skiptoken={token}"),
        None => format!("{base}$skiptoken={token}"),
    }
}

/// The planner for a request: the configured limits, and the time indexes the
/// database has.
fn plan_with<T>(
    state: &AppState,
    f: impl FnOnce(&Planner<'_>) -> Result<T, plan::PlanError>,
) -> Result<T, ApiError> {
    let model = &state.model;
    let time_index = |set: usize, property: usize| {
        let set = &model.entity_sets()[set];
        set.properties
            .get(property)
            .is_some_and(|p| state.db.has_time_index(&set.table, &p.column))
    };
    let planner = Planner::new(model, &state.settings.limits).with_time_index(&time_index);
    Ok(f(&planner)?)
}

/// `{"@odata.context":"..."` (or just `{` without metadata): the start of a response
/// object, without a trailing comma.
fn object_head(format: negotiate::JsonFormat, context: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(context.len() + 24);
    head.push(b'{');
    if format.metadata != MetadataLevel::None {
        head.extend_from_slice(b"\"@odata.context\":");
        write_str(&mut head, context);
    }
    head
}

async fn collection(
    req: &HttpRequest,
    state: State,
    name: &str,
    tenant: String,
    options: QueryOptions,
) -> Result<HttpResponse, ApiError> {
    if options.apply.is_some() {
        return apply_collection(req, state, name, tenant, options).await;
    }
    let format = negotiate::json(header(req.headers(), "Accept"), format_option(&options))?;
    let (set_index, set) = entity_set(&state, name)?;
    let preferred = preferred_page_size(req);
    let page_size = state.settings.limits.page_size(preferred);
    let plan = plan_with(&state, |p| {
        p.collection(set_index, &tenant, &options, page_size)
    })?;
    let query =
        store::compile(&state.model, &plan, state.db.dialect()).map_err(StoreError::from)?;
    let root = service_root(req, &state);
    let mut head = object_head(format, &context_url(&root, &state.model, set, &plan, false));
    if head.len() > 1 {
        head.push(b',');
    }
    let shape = EntityShape::new(&state.model, &plan, &root, format);
    let link_base = next_link_base(req, &root, &set.name);
    let top = options.top;
    let encoding = negotiated_encoding(req);
    let (page, started) = PageOut::new();
    let task_state = state.clone();
    // One blocking task reads, writes and compresses the page. A page that fits in
    // the first chunk comes back whole through `started`; a larger one streams.
    actix_web::rt::task::spawn_blocking(move || {
        let output = Output::Page {
            page,
            encoder: BodyEncoder::new(encoding).map(Box::new),
        };
        let mut writer = JsonWriter::collection(shape, &head, output);
        let result = (|| -> Result<(), StoreError> {
            let mut conn = task_state.db.get()?;
            let end = store::execute(&mut conn, &query, &mut writer)?;
            drop(conn);
            let remaining = top.map(|t| t.saturating_sub(end.rows));
            let next = (end.more && remaining != Some(0)).then(|| {
                let token = encode_skiptoken(&plan.tenant, &plan.order, &end.last_sort);
                next_link(&link_base, remaining, &token)
            });
            writer.finish_collection(next.as_deref())
        })();
        match result {
            Ok(()) | Err(StoreError::SinkClosed) => {}
            Err(e) => {
                if writer.started() {
                    tracing::error!("streaming {} failed: {e}", link_base);
                }
                writer.fail(e);
            }
        }
    });

    let body = match started.await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(ApiError::internal(
                &"the database task ended before answering",
            ));
        }
    };
    let mut response = HttpResponse::Ok();
    response.content_type(format.content_type());
    encoded_headers(&mut response, encoding);
    if preferred.is_some() {
        response.insert_header((
            "Preference-Applied",
            format!("odata.maxpagesize={page_size}"),
        ));
    }
    Ok(match body {
        PageStart::Body(bytes) => response.body(bytes),
        PageStart::Stream(rx) => response.streaming(ReceiverStream::new(rx)),
    })
}

async fn entity(
    req: &HttpRequest,
    state: State,
    name: &str,
    tenant: String,
    key: String,
    options: QueryOptions,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate::json(header(req.headers(), "Accept"), format_option(&options))?;
    let (set_index, set) = entity_set(&state, name)?;
    let plan = plan_with(&state, |p| p.entity(set_index, &tenant, &key, &options))?;
    let query =
        store::compile(&state.model, &plan, state.db.dialect()).map_err(StoreError::from)?;
    let root = service_root(req, &state);
    let head = object_head(format, &context_url(&root, &state.model, set, &plan, true));
    let shape = EntityShape::new(&state.model, &plan, &root, format);
    let task_state = state.clone();
    let encoding = negotiated_encoding(req);
    let body = web::block(move || -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = task_state.db.get()?;
        let mut writer = JsonWriter::entity(shape, &head, Output::Collect);
        store::execute(&mut conn, &query, &mut writer)?;
        let Some(body) = writer.finish_entity()? else {
            return Ok(None);
        };
        // Compressed here, on the blocking thread, rather than by the middleware.
        let body = encode_body(encoding, body)
            .map_err(|e| StoreError::Invalid(format!("compressing the response failed: {e}")))?;
        Ok(Some(body))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    match body {
        Some(body) => {
            let mut response = HttpResponse::Ok();
            response.content_type(format.content_type());
            encoded_headers(&mut response, encoding);
            Ok(response.body(body))
        }
        None => Err(ApiError::not_found(format!(
            "{} has no entity with key '{key}'",
            set.name
        ))),
    }
}

async fn count(
    req: &HttpRequest,
    state: State,
    name: &str,
    tenant: String,
    options: QueryOptions,
) -> Result<HttpResponse, ApiError> {
    negotiate::plain_text(header(req.headers(), "Accept"))?;
    let (set_index, _) = entity_set(&state, name)?;
    let plan = plan_with(&state, |p| p.count(set_index, &tenant, &options))?;
    let query =
        store::compile(&state.model, &plan, state.db.dialect()).map_err(StoreError::from)?;
    let task_state = state.clone();
    let n = web::block(move || -> Result<i64, StoreError> {
        let mut conn = task_state.db.get()?;
        store::count(&mut conn, &query)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(HttpResponse::Ok()
        .content_type("text/plain;charset=utf-8")
        .body(n.to_string()))
}

/// A page of an `$apply` result: planned by [`Planner::apply`], compiled by
/// [`store::compile_apply`], executed and streamed like any collection page. The
/// context URL lists the result's properties (Data Aggregation 3.1.2), and the
/// next link keeps `$apply`.
async fn apply_collection(
    req: &HttpRequest,
    state: State,
    name: &str,
    tenant: String,
    options: QueryOptions,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate::json(header(req.headers(), "Accept"), format_option(&options))?;
    let (set_index, set) = entity_set(&state, name)?;
    let preferred = preferred_page_size(req);
    let page_size = state.settings.limits.page_size(preferred);
    let plan = plan_with(&state, |p| p.apply(set_index, &tenant, &options, page_size))?;
    let query =
        store::compile_apply(&state.model, &plan, state.db.dialect()).map_err(StoreError::from)?;
    let root = service_root(req, &state);
    let mut names: Vec<String> = Vec::new();
    for &p in &plan.select {
        let Some(c) = plan.columns.get(p) else {
            continue;
        };
        match &c.nav {
            Some(nav) => {
                let item = format!("{nav}(");
                match names.iter_mut().find(|n| n.starts_with(&item)) {
                    Some(n) => {
                        n.pop();
                        n.push_str(&format!(",{})", c.name));
                    }
                    None => names.push(format!("{item}{})", c.name)),
                }
            }
            None => names.push(c.name.clone()),
        }
    }
    let context = format!("{root}/$metadata#{}({})", set.name, names.join(","));
    let mut head = object_head(format, &context);
    if head.len() > 1 {
        head.push(b',');
    }
    let shape = EntityShape::for_apply(&plan, format);
    let link_base = next_link_base(req, &root, &set.name);
    let encoding = negotiated_encoding(req);
    let (page, started) = PageOut::new();
    let task_state = state.clone();
    let time_limit = state.settings.limits.statement_timeout_ms;
    actix_web::rt::task::spawn_blocking(move || {
        let output = Output::Page {
            page,
            encoder: BodyEncoder::new(encoding).map(Box::new),
        };
        let mut writer = JsonWriter::collection(shape, &head, output);
        let result = (|| -> Result<(), StoreError> {
            let mut conn = task_state.db.get()?;
            let end =
                conn.with_time_limit(time_limit, |conn| store::execute(conn, &query, &mut writer))?;
            drop(conn);
            let remaining = plan.top.map(|t| t.saturating_sub(end.rows));
            let next = (end.more && remaining != Some(0)).then(|| {
                let token = encode_skiptoken(&plan.tenant, &plan.order, &end.last_sort);
                next_link(&link_base, remaining, &token)
            });
            writer.finish_collection(next.as_deref())
        })();
        match result {
            Ok(()) | Err(StoreError::SinkClosed) => {}
            Err(e) => {
                if writer.started() {
                    tracing::error!("streaming {} failed: {e}", link_base);
                }
                writer.fail(e);
            }
        }
    });
    let body = match started.await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => {
            return Err(ApiError::internal(
                &"the database task ended before answering",
            ));
        }
    };
    let mut response = HttpResponse::Ok();
    response.content_type(format.content_type());
    encoded_headers(&mut response, encoding);
    if preferred.is_some() {
        response.insert_header((
            "Preference-Applied",
            format!("odata.maxpagesize={page_size}"),
        ));
    }
    Ok(match body {
        PageStart::Body(bytes) => response.body(bytes),
        PageStart::Stream(rx) => response.streaming(ReceiverStream::new(rx)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths_are_parsed() {
        assert!(matches!(
            parse_resource("Calls").unwrap(),
            Resource::Collection("Calls")
        ));
        assert!(matches!(
            parse_resource("Calls/").unwrap(),
            Resource::Collection("Calls")
        ));
        assert!(matches!(
            parse_resource("Calls/$count").unwrap(),
            Resource::Count("Calls")
        ));
        match parse_resource("Calls('a''b')").unwrap() {
            Resource::Entity("Calls", key) => assert_eq!(key, "a'b"),
            _ => panic!("expected an entity"),
        }
        match parse_resource("Calls(id='x')").unwrap() {
            Resource::Entity("Calls", key) => assert_eq!(key, "x"),
            _ => panic!("expected an entity"),
        }
        assert_eq!(
            parse_resource("Calls(12)").err().unwrap().status.as_u16(),
            400
        );
        assert_eq!(
            parse_resource("Calls('a'b')")
                .err()
                .unwrap()
                .status
                .as_u16(),
            400
        );
        assert_eq!(
            parse_resource("Calls('x')/id")
                .err()
                .unwrap()
                .status
                .as_u16(),
            501
        );
    }
}
