//! Request handlers: the service document, `$metadata`, collections, single
//! entities and `/$count`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tokio_stream::wrappers::ReceiverStream;

use super::auth;
use super::error::ApiError;
use super::json::{
    BodyEncoder, EntityShape, Expansion, HeldRow, PageOut, PageStart, RowWriter, encode_body,
    encoded_headers, negotiated_encoding, write_str,
};
use super::negotiate::{self, MetadataLevel};
use super::{AppState, ROOT};
use crate::edm::{EntitySet, Model};
use crate::plan::{self, ExpandPlan, QueryPlan, encode_skiptoken};
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
pub(super) fn check_version(req: &HttpRequest) -> Result<(), ApiError> {
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

/// Reads the related rows of every expanded navigation property for the rows the
/// writer holds: one query per navigation property (per 20,000 parents), and the
/// same again, level by level, for nested `$expand`. `first_slot` is where the
/// join values of these expansions start among the held rows' keys.
fn read_expansions(
    conn: &mut store::Conn,
    model: &Model,
    root: &str,
    format: negotiate::JsonFormat,
    expand: &[ExpandPlan],
    held: &[HeldRow],
    first_slot: usize,
) -> Result<Vec<Expansion>, StoreError> {
    let mut out = Vec::with_capacity(expand.len());
    for (i, e) in expand.iter().enumerate() {
        let slot = first_slot + i;
        let mut expansion = Expansion::new(&e.nav, e.collection, e.count, slot);
        let mut keys: Vec<String> = held
            .iter()
            .filter_map(|r| r.keys.get(slot).cloned().flatten())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let set = &model.entity_sets()[e.plan.set];
        for chunk in keys.chunks(20_000) {
            let (stmt, layout) = store::sql::expand_select(model, e, chunk, conn.dialect())
                .map_err(|err| StoreError::Invalid(err.to_string()))?;
            let shape = EntityShape::new(
                set,
                model.qualified_type(set),
                root,
                &layout.columns,
                layout.output,
                &layout.sort_positions,
                format,
            );
            // Keys of each related row: its join value, its parent's total (nested
            // $count), then the join values of its own expansions.
            let width = layout.kinds.len() - 1 - usize::from(e.count);
            let mut key_positions: Vec<usize> = vec![width];
            if e.count {
                key_positions.push(width + 1);
            }
            let nested_slot = key_positions.len();
            key_positions.extend(layout.expand_positions.iter().copied());
            let mut writer = RowWriter::new(shape, u64::MAX).holding(&key_positions);
            store::stream_rows(conn, &stmt, &layout.kinds, &mut writer)?;
            let mut rows = std::mem::take(&mut writer.held);
            if !e.plan.expand.is_empty() {
                let nested = read_expansions(
                    conn,
                    model,
                    root,
                    format,
                    &e.plan.expand,
                    &rows,
                    nested_slot,
                )?;
                for row in &mut rows {
                    for n in &nested {
                        n.write(
                            &mut row.json,
                            row.keys.get(n.slot()).and_then(Option::as_ref),
                        );
                    }
                }
            }
            expansion.add(rows);
        }
        out.push(expansion);
    }
    Ok(out)
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
                || auth::is_key_param(&name)
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

async fn collection(
    req: &HttpRequest,
    state: State,
    name: &str,
    tenant: String,
    options: QueryOptions,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate::json(header(req.headers(), "Accept"), format_option(&options))?;
    let (set_index, set) = entity_set(&state, name)?;
    let limits = &state.settings.limits;
    let time_index = |property: usize| {
        state
            .db
            .has_time_index(&set.table, &set.properties[property].column)
    };
    let mut plan = plan::bind_collection_indexed(
        &state.model,
        set_index,
        &tenant,
        &options,
        limits,
        Utc::now(),
        &time_index,
    )?;

    let preferred = preferred_page_size(req);
    let page_size = preferred
        .unwrap_or(limits.page_size)
        .min(limits.max_page_size);
    let page_rows = options.top.map_or(page_size, |top| top.min(page_size));
    plan.limit = Some(page_rows + 1);

    let root = service_root(req, &state);
    let context = context_url(&root, &state.model, set, &plan, false);
    let (select, layout) = store::sql::select(&state.model, &plan, state.db.dialect())?;
    let count_stmt = match options.count {
        Some(true) => Some(store::sql::count(&state.model, &plan, state.db.dialect())?),
        _ => None,
    };
    let shape = EntityShape::new(
        set,
        state.model.qualified_type(set),
        &root,
        &layout.columns,
        layout.output,
        &layout.sort_positions,
        format,
    );

    let (page, started) = PageOut::new();
    let encoding = negotiated_encoding(req);
    let state_for_task = state.clone();
    let link_base = next_link_base(req, &root, &set.name);
    let set_name = set.name.clone();
    let order = plan.order.clone();
    let top = options.top;
    let tenant_id = plan.tenant.clone();
    let expand = plan.expand.clone();
    let expand_positions = layout.expand_positions.clone();
    // Compile the expansions once now, so an error is a clean 4xx/501, not a broken stream.
    for e in &expand {
        store::sql::expand_select(&state.model, e, &[String::new()], state.db.dialect())?;
    }
    // One blocking task reads, writes and compresses the page. A page that fits in
    // the first chunk comes back whole through `started`; a larger one streams.
    actix_web::rt::task::spawn_blocking(move || {
        let state = state_for_task;
        let mut writer =
            RowWriter::new(shape, page_rows).streaming(page, BodyEncoder::new(encoding));
        if !expand.is_empty() {
            writer = writer.holding(&expand_positions);
        }
        let result = (|| -> Result<(), StoreError> {
            let mut conn = state.db.get()?;
            let total = match &count_stmt {
                Some(stmt) => Some(store::scalar_i64(&mut conn, stmt)?),
                None => None,
            };
            let mut head = Vec::with_capacity(256);
            head.push(b'{');
            if format.metadata != MetadataLevel::None {
                head.extend_from_slice(b"\"@odata.context\":");
                write_str(&mut head, &context);
                head.push(b',');
            }
            if let Some(total) = total {
                head.extend_from_slice(format!("\"@odata.count\":{total},").as_bytes());
            }
            head.extend_from_slice(b"\"value\":[");
            writer.push_raw(&head);
            store::stream_rows(&mut conn, &select, &layout.kinds, &mut writer)?;
            if !expand.is_empty() {
                let expansions = read_expansions(
                    &mut conn,
                    &state.model,
                    &root,
                    format,
                    &expand,
                    &writer.held,
                    0,
                )?;
                writer.write_held(&expansions)?;
            }
            drop(conn);
            writer.push_raw(b"]");
            let remaining = top.map(|t| t.saturating_sub(writer.written));
            if writer.has_more && remaining != Some(0) {
                let token = encode_skiptoken(&tenant_id, &order, &writer.last_sort);
                let link = next_link(&link_base, remaining, &token);
                writer.push_raw(b",\"@odata.nextLink\":");
                let mut encoded = Vec::new();
                write_str(&mut encoded, &link);
                writer.push_raw(&encoded);
            }
            writer.push_raw(b"}");
            writer.finish()
        })();
        match result {
            Ok(()) | Err(StoreError::SinkClosed) => {}
            Err(e) => {
                if writer.started() {
                    tracing::error!("streaming {set_name} failed: {e}");
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
    let plan = plan::bind_entity(
        &state.model,
        set_index,
        &tenant,
        &key,
        &options,
        &state.settings.limits,
    )?;
    let root = service_root(req, &state);
    let context = context_url(&root, &state.model, set, &plan, true);
    let (select, layout) = store::sql::select(&state.model, &plan, state.db.dialect())?;
    let shape = EntityShape::new(
        set,
        state.model.qualified_type(set),
        &root,
        &layout.columns,
        layout.output,
        &layout.sort_positions,
        format,
    );
    let expand = plan.expand.clone();
    for e in &expand {
        store::sql::expand_select(&state.model, e, &[String::new()], state.db.dialect())?;
    }
    let task_state = state.clone();
    let encoding = negotiated_encoding(req);
    let body = web::block(move || -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = task_state.db.get()?;
        let mut writer = RowWriter::new(shape, 1);
        if !expand.is_empty() {
            writer = writer.holding(&layout.expand_positions);
        }
        store::stream_rows(&mut conn, &select, &layout.kinds, &mut writer)?;
        if writer.written == 0 {
            return Ok(None);
        }
        if !expand.is_empty() {
            let expansions = read_expansions(
                &mut conn,
                &task_state.model,
                &root,
                format,
                &expand,
                &writer.held,
                0,
            )?;
            writer.write_held(&expansions)?;
        }
        let row = writer.into_buffer();
        // The writer produced `{...}`; splice the context in front of the properties.
        let mut out = Vec::with_capacity(row.len() + context.len() + 32);
        out.push(b'{');
        if format.metadata != MetadataLevel::None {
            out.extend_from_slice(b"\"@odata.context\":");
            write_str(&mut out, &context);
            if row.len() > 2 {
                out.push(b',');
            }
        }
        out.extend_from_slice(&row[1..]);
        // Compressed here, on the blocking thread, rather than by the middleware.
        let out = encode_body(encoding, out)
            .map_err(|e| StoreError::Invalid(format!("compressing the response failed: {e}")))?;
        Ok(Some(out))
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
    _req: &HttpRequest,
    state: State,
    name: &str,
    tenant: String,
    options: QueryOptions,
) -> Result<HttpResponse, ApiError> {
    let not_applicable = [
        options.select.is_some().then_some("$select"),
        options.orderby.is_some().then_some("$orderby"),
        options.top.is_some().then_some("$top"),
        options.skip.is_some().then_some("$skip"),
        options.count.is_some().then_some("$count"),
        plan::raw_option(&options, "$skiptoken").map(|_| "$skiptoken"),
    ];
    if let Some(option) = not_applicable.into_iter().flatten().next() {
        return Err(
            ApiError::bad_request(format!("{option} does not apply to /$count"))
                .with_target(option),
        );
    }
    let (set_index, _) = entity_set(&state, name)?;
    let plan = plan::bind_collection(
        &state.model,
        set_index,
        &tenant,
        &options,
        &state.settings.limits,
        Utc::now(),
    )?;
    let stmt = store::sql::count(&state.model, &plan, state.db.dialect())?;
    let task_state = state.clone();
    let n = web::block(move || -> Result<i64, StoreError> {
        let mut conn = task_state.db.get()?;
        store::scalar_i64(&mut conn, &stmt)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(HttpResponse::Ok()
        .content_type("text/plain;charset=utf-8")
        .body(n.to_string()))
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
