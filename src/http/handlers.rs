//! Request handlers: the service document, `$metadata`, collections, single
//! entities and `/$count`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentEncoding, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;

use super::auth;
use super::body::{
    Compressing, Output, PageOut, PageStart, encode_body, encoded_headers, negotiated_encoding,
};
use super::error::ApiError;
use super::json::{EntityShape, JsonWriter, write_cell, write_str};
use super::negotiate::{self, MetadataLevel};
use super::path::{self, Target};
use super::prefetch::{self, PageKey, PageReport, Prefetcher};
use super::{AppState, ROOT};
use crate::edm::{ColumnKind, EntitySet, Model, PropertyId};
use crate::plan::{self, Planner, QueryPlan, Resolved, encode_skiptoken};
use crate::store::tenants::{Role, Tenant};
use crate::store::{self, Cell, ColumnPos, EntitySink, StoreError, Value};
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
pub(super) fn service_root(req: &HttpRequest, state: &AppState) -> String {
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
    parse_query(req.query_string(), req.uri().to_string().len(), limits)
}

/// The query options of a request whose URL is `length` bytes long.
fn parse_query(
    query: &str,
    length: usize,
    limits: &plan::Limits,
) -> Result<QueryOptions, ApiError> {
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
    let pairs = uri::decode_query_string(query)?;
    let parse = uri::ParseOptions::default().with_max_depth(limits.max_depth);
    Ok(QueryOptions::parse_with(pairs, &parse)?)
}

fn format_option(options: &QueryOptions) -> Option<&str> {
    plan::raw_option(options, "$format")
}

pub async fn resource(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    // A browser asking for a bare entity set gets its page (content negotiation).
    if let Some(name) = req.path().strip_prefix("/odata/")
        && !name.is_empty()
        && state.model.entity_set(name).is_some()
        && super::docs::BrowserPage::matches(req.head())
    {
        let name = name.to_string();
        return super::docs::table_named(req, state, name).await;
    }
    check_version(&req)?;
    let tenant = auth::authenticate(&req, &state, Role::Read).await?;
    let (read_request, next_link) = ReadRequest::from_http(&req, &state);
    let Some(prefetcher) = req
        .app_data::<web::Data<Prefetcher>>()
        .filter(|p| p.enabled())
        .cloned()
    else {
        return read(&state, tenant, &read_request).await;
    };
    let caller = auth::caller_identity(req.headers(), req.query_string());
    let key = PageKey::new(
        caller,
        &tenant.id,
        read_request.url(),
        &read_request.headers,
        read_request.encoding,
    );
    let chain = Chain {
        prefetcher,
        state: state.clone(),
        tenant,
        request: read_request,
        caller,
    };
    if let Some(page) = chain.prefetcher.take(&key).await {
        let (response, report) = page.into_response();
        chain.follow(report);
        return Ok(response);
    }
    let response = read(&state, chain.tenant.clone(), &chain.request).await;
    // Only a collection page takes the sender; any other answer drops it here, which
    // ends the wait in `follow`.
    drop(chain.request.next_link.take());
    let response = response?;
    chain.follow(next_link);
    Ok(response)
}

/// A read whose next page may be produced ahead of the client's request for it
/// ([`super::prefetch`]), with what that needs: the same caller, tenant and headers.
struct Chain {
    prefetcher: web::Data<Prefetcher>,
    state: State,
    tenant: Tenant,
    request: ReadRequest,
    caller: [u8; 32],
}

impl Chain {
    /// Starts producing the next page of the chain ahead of its request, once the page
    /// being served reports its nextLink and size through `report`. A page that is
    /// already whole has reported: its successor is registered here, before the
    /// response leaves the handler, so the client cannot ask for it first (its request
    /// may reach another worker before this one would run a spawned task).
    fn follow(self, mut report: oneshot::Receiver<PageReport>) {
        match report.try_recv() {
            Ok(reported) => self.produce_ahead(reported),
            Err(oneshot::error::TryRecvError::Empty) => {
                actix_web::rt::spawn(async move {
                    if let Ok(reported) = report.await {
                        self.produce_ahead(reported);
                    }
                });
            }
            Err(oneshot::error::TryRecvError::Closed) => {}
        }
    }

    /// Starts producing the page at the reported nextLink (one this server wrote for
    /// the request), unless there is none, it is already under way, or the budget has
    /// too little room for a page of the reported size (the page just served is about
    /// as large as the next; see [`Prefetcher::begin`]).
    fn produce_ahead(&self, reported: PageReport) {
        let PageReport {
            next: Some(next),
            bytes: expected,
        } = reported
        else {
            return;
        };
        let req = &self.request;
        let Some(rest) = next.strip_prefix(&format!("{}/", req.root)) else {
            return;
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (next_request, next_link) = ReadRequest {
            path: path.to_string(),
            query: query.to_string(),
            headers: req.headers.clone(),
            root: req.root.clone(),
            encoding: req.encoding,
            next_link: NextLinkOut::none(),
        }
        .announcing();
        let key = PageKey::new(
            self.caller,
            &self.tenant.id,
            next,
            &next_request.headers,
            req.encoding,
        );
        let Some(pending) = self.prefetcher.begin(key, expected) else {
            return;
        };
        let (prefetcher, state, tenant) = (
            self.prefetcher.clone(),
            self.state.clone(),
            self.tenant.clone(),
        );
        actix_web::rt::spawn(async move {
            let (key, id) = (pending.key().clone(), pending.id());
            let response = read(&state, tenant, &next_request).await;
            drop(next_request.next_link.take());
            let answer = match response {
                Ok(response) => {
                    let limit = prefetcher.limit(&pending);
                    prefetch::collect(response, next_link, limit).await
                }
                Err(_) => None,
            };
            prefetcher.finish(pending, answer);
            actix_web::rt::time::sleep(prefetcher.idle()).await;
            prefetcher.expire(&key, id);
        });
    }
}

/// Where a collection page reports its `@odata.nextLink` (or that it has none) and its
/// size once they are known, for pipelined paging; reads nobody follows carry
/// [`NextLinkOut::none`].
pub struct NextLinkOut(std::sync::Mutex<Option<oneshot::Sender<PageReport>>>);

impl NextLinkOut {
    pub fn none() -> NextLinkOut {
        NextLinkOut(std::sync::Mutex::new(None))
    }

    fn take(&self) -> Option<oneshot::Sender<PageReport>> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// A read request as the pipeline takes it: from an HTTP request, or from a part of
/// a `$batch` (which is authenticated as a whole).
pub struct ReadRequest {
    /// The path after `/odata/`, still percent-encoded.
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    /// The absolute service root for links.
    pub root: String,
    pub encoding: ContentEncoding,
    pub next_link: NextLinkOut,
}

impl ReadRequest {
    /// The request, and where its page's nextLink will be reported.
    fn from_http(
        req: &HttpRequest,
        state: &AppState,
    ) -> (ReadRequest, oneshot::Receiver<PageReport>) {
        ReadRequest {
            path: req
                .uri()
                .path()
                .strip_prefix("/odata/")
                .unwrap_or_default()
                .to_string(),
            query: req.query_string().to_string(),
            headers: req.headers().clone(),
            root: service_root(req, state),
            encoding: negotiated_encoding(req),
            next_link: NextLinkOut::none(),
        }
        .announcing()
    }

    /// This request with a channel for its nextLink.
    fn announcing(mut self) -> (ReadRequest, oneshot::Receiver<PageReport>) {
        let (tx, rx) = oneshot::channel();
        self.next_link = NextLinkOut(std::sync::Mutex::new(Some(tx)));
        (self, rx)
    }

    /// Root, path and query: the URL as a nextLink of this server spells it.
    fn url(&self) -> String {
        if self.query.is_empty() {
            format!("{}/{}", self.root, self.path)
        } else {
            format!("{}/{}?{}", self.root, self.path, self.query)
        }
    }

    /// The length of the URL as the client sent it, for `max_url_length`.
    fn url_length(&self) -> usize {
        "/odata/".len() + self.path.len() + 1 + self.query.len()
    }
}

/// Answers a read of the resource `req` addresses for `tenant`.
pub(super) async fn read(
    state: &State,
    tenant: Tenant,
    req: &ReadRequest,
) -> Result<HttpResponse, ApiError> {
    let path = path::parse(&state.model, &req.path)?;
    let options = parse_query(&req.query, req.url_length(), &state.settings.limits)?;
    let resolved = plan_with(state, |p| {
        p.resolve(path.set, path.key.clone(), &path.navigations)
    })?;
    let read = Read {
        req,
        state,
        tenant,
        options,
        resolved,
    };
    match path.target {
        Target::Count if !read.resolved.single => count(read).await,
        Target::Count => Err(ApiError::bad_request("$count ends a path to a collection")),
        Target::Entities if read.resolved.single => entity(read, None).await,
        Target::Entities => collection(read).await,
        Target::Property { index, raw } => entity(read, Some((index, raw))).await,
    }
}

/// Sets its flag when dropped before [`CancelOnDrop::disarm`]: actix drops a
/// request's future when its client goes away (half-closed connections are not
/// allowed, see `http::start`), and the store then stops reading for it (see
/// `store::deadline`; on PostgreSQL `store::cancel`).
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl CancelOnDrop {
    fn new() -> (CancelOnDrop, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (CancelOnDrop(Some(flag.clone())), flag)
    }

    /// The answer has started: from now on a gone client shows as a closed stream.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// One read request, parsed and resolved, as the handlers below take it.
struct Read<'r> {
    req: &'r ReadRequest,
    state: &'r State,
    tenant: Tenant,
    options: QueryOptions,
    resolved: Resolved,
}

fn context_url(
    root: &str,
    model: &Model,
    set: &EntitySet,
    plan: &QueryPlan,
    entity: bool,
) -> Result<String, ApiError> {
    let mut url = format!("{root}/$metadata#{}", set.name);
    let mut items: Vec<String> = Vec::new();
    if plan.select_explicit {
        for &id in &plan.select {
            items.push(plan::property_of(set, id)?.name.clone());
        }
    } else if !plan.expand.is_empty() {
        items.push("*".to_string());
    }
    for e in &plan.expand {
        items.push(e.context_fragment(model)?);
    }
    if !items.is_empty() {
        url.push('(');
        url.push_str(&items.join(","));
        url.push(')');
    }
    if entity {
        url.push_str("/$entity");
    }
    Ok(url)
}

/// What the client asked for in `Prefer` that this server honours.
#[derive(Debug, Clone, Copy, Default)]
struct Preferences {
    /// `odata.maxpagesize=n` (or the 4.01 `maxpagesize=n`).
    max_page_size: Option<u64>,
    /// `omit-values=nulls`: leave null properties out.
    omit_nulls: bool,
}

impl Preferences {
    fn of(headers: &HeaderMap) -> Preferences {
        let mut out = Preferences::default();
        let items = headers
            .get_all(header::HeaderName::from_static("prefer"))
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for item in items {
            // Parameters after `;` do not change these preferences.
            let item = item.split(';').next().unwrap_or_default();
            let (name, value) = item.split_once('=').unwrap_or((item, ""));
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().trim_matches('"');
            match name.as_str() {
                "odata.maxpagesize" | "maxpagesize" if out.max_page_size.is_none() => {
                    out.max_page_size = value.parse::<u64>().ok().filter(|&n| n > 0);
                }
                "omit-values" if value.eq_ignore_ascii_case("nulls") => out.omit_nulls = true,
                _ => {}
            }
        }
        out
    }

    /// `Preference-Applied` for a response, given the page size used (if paged).
    fn applied(&self, response: &mut actix_web::HttpResponseBuilder, page_size: Option<u64>) {
        let mut applied: Vec<String> = Vec::new();
        if let (Some(_), Some(size)) = (self.max_page_size, page_size) {
            applied.push(format!("odata.maxpagesize={size}"));
        }
        if self.omit_nulls {
            applied.push("omit-values=nulls".to_string());
        }
        if !applied.is_empty() {
            response.insert_header(("Preference-Applied", applied.join(",")));
        }
    }
}

/// The part of the next page's URL that every page shares: every option of this
/// request except the paging ones, which [`next_link`] adds.
fn next_link_base(req: &ReadRequest) -> String {
    let mut query: Vec<String> = Vec::new();
    if let Ok(pairs) = uri::decode_query_string(&req.query) {
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
    format!("{}/{}?{}", req.root, req.path, query.concat())
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
    // The planner asks only about ids the model made; one it does not have has no
    // index, and the read keeps the key order, which is as correct.
    let time_index = |property: PropertyId| {
        model.set(property.set()).is_some_and(|set| {
            set.property_at(property)
                .is_some_and(|p| state.db.has_time_index(&set.table, &p.column))
        })
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

async fn collection(read: Read<'_>) -> Result<HttpResponse, ApiError> {
    let Read {
        req,
        state,
        tenant,
        options,
        resolved,
    } = read;
    if options.apply.is_some() {
        return apply_collection(req, state, tenant, options, resolved).await;
    }
    let format = negotiate::json(header(&req.headers, "Accept"), format_option(&options))?;
    let set = plan::set_of(&state.model, resolved.set)?;
    let preferences = Preferences::of(&req.headers);
    let page_size = state.settings.limits.page_size(preferences.max_page_size);
    let plan = plan_with(state, |p| {
        p.collection_within(
            resolved.set,
            resolved.within,
            &tenant.id,
            &options,
            page_size,
        )
    })?;
    let query = store::compile(&state.model, tenant.scope(), &plan, state.db.dialect())
        .map_err(StoreError::from)?;
    let root = req.root.clone();
    let mut head = object_head(
        format,
        &context_url(&root, &state.model, set, &plan, false)?,
    );
    if head.len() > 1 {
        head.push(b',');
    }
    let shape = EntityShape::new(&state.model, &plan, &root, format)?;
    let paging = Paging {
        tenant: plan.tenant.clone(),
        order: plan.order.clone(),
        top: options.top,
        page_size,
    };
    stream_page(req, state, query, shape, head, paging, format).await
}

/// What the next page's link needs: whose rows, in which order, how many more.
struct Paging {
    tenant: String,
    order: Vec<plan::OrderKey>,
    /// `$top` of the request, counted across pages.
    top: Option<u64>,
    page_size: u64,
}

/// Runs a collection page on a blocking thread and answers with it: one sized body
/// when it fits the first chunk, a stream otherwise, with `@odata.nextLink` when
/// more rows follow. Every collection answer (entity sets, navigation, `$apply`)
/// goes through here.
async fn stream_page(
    req: &ReadRequest,
    state: &State,
    query: store::CompiledQuery,
    shape: EntityShape,
    head: Vec<u8>,
    paging: Paging,
    format: negotiate::JsonFormat,
) -> Result<HttpResponse, ApiError> {
    let preferences = Preferences::of(&req.headers);
    let link_base = next_link_base(req);
    let encoding = req.encoding;
    let (page, started) = PageOut::new();
    let task_state = state.clone();
    let announce = req.next_link.take();
    let (mut cancel, cancelled) = CancelOnDrop::new();
    let compressing = Compressing::for_reads_from(state.db.dialect());
    // A page that fits in the first chunk comes back whole through `started`; a
    // larger one streams.
    actix_web::rt::task::spawn_blocking(move || {
        let output = Output::page(page, encoding, compressing);
        let mut writer = JsonWriter::collection(shape, &head, output)
            .omitting_nulls(preferences.omit_nulls)
            .cancelled_by(cancelled);
        let result = (|| -> Result<(), StoreError> {
            let mut conn = task_state.db.get()?;
            let end = store::execute(&mut conn, &query, &mut writer)?;
            drop(conn);
            let remaining = paging.top.map(|t| t.saturating_sub(end.rows));
            let next = (end.more && remaining != Some(0)).then(|| {
                let token = encode_skiptoken(&paging.tenant, &paging.order, &end.last_sort);
                next_link(&link_base, remaining, &token)
            });
            // Reported before the last bytes go out, so the next page's prefetch is
            // under way before the client can ask for it.
            let reported = next.clone();
            writer.finish_collection(next.as_deref(), move |bytes| {
                if let Some(announce) = announce {
                    let _ = announce.send(PageReport {
                        next: reported,
                        bytes,
                    });
                }
            })
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

    let started = started.await;
    cancel.disarm();
    let body = match started {
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
    preferences.applied(&mut response, Some(paging.page_size));
    Ok(match body {
        PageStart::Body(bytes) => response.body(bytes),
        PageStart::Stream(rx) => response.streaming(ReceiverStream::new(rx)),
    })
}

/// Captures the first value of the first entity (a property request).
#[derive(Default)]
struct FirstValue {
    entities: u64,
    value: Option<Value>,
}

impl EntitySink for FirstValue {
    fn count(&mut self, _: i64) -> Result<(), StoreError> {
        Ok(())
    }
    fn begin_entity(&mut self) -> Result<(), StoreError> {
        self.entities += 1;
        Ok(())
    }
    fn property(&mut self, position: ColumnPos, cell: Cell<'_>) -> Result<(), StoreError> {
        if position.index() == 0 && self.value.is_none() {
            self.value = Some(cell.to_value());
        }
        Ok(())
    }
    fn begin_expanded(&mut self, _: usize, _: Option<i64>) -> Result<(), StoreError> {
        Ok(())
    }
    fn end_expanded(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    fn end_entity(&mut self, _: &Value) -> Result<(), StoreError> {
        Ok(())
    }
}

/// One entity (by key or by a single-valued navigation), or one of its properties.
async fn entity(
    read: Read<'_>,
    property: Option<(PropertyId, bool)>,
) -> Result<HttpResponse, ApiError> {
    let Read {
        req,
        state,
        tenant,
        options,
        resolved,
    } = read;
    let set = plan::set_of(&state.model, resolved.set)?;
    let within = resolved.within.clone();
    let mut plan = plan_with(state, |p| {
        p.entity(
            resolved.set,
            within,
            &tenant.id,
            resolved.key.as_deref(),
            &options,
        )
    })?;
    if let Some((index, raw)) = property {
        if options.select.is_some() || options.expand.is_some() {
            return Err(ApiError::bad_request(
                "$select and $expand do not apply to a property",
            ));
        }
        plan.select = vec![index];
        return property_value(req, state, &tenant, &resolved, plan, index, raw).await;
    }
    let format = negotiate::json(header(&req.headers, "Accept"), format_option(&options))?;
    let query = store::compile(&state.model, tenant.scope(), &plan, state.db.dialect())
        .map_err(StoreError::from)?;
    let root = req.root.clone();
    let head = object_head(format, &context_url(&root, &state.model, set, &plan, true)?);
    let shape = EntityShape::new(&state.model, &plan, &root, format)?;
    let task_state = state.clone();
    let encoding = req.encoding;
    let preferences = Preferences::of(&req.headers);
    let omit_nulls = preferences.omit_nulls;
    let body = web::block(move || -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = task_state.db.get()?;
        let mut writer =
            JsonWriter::entity(shape, &head, Output::Collect).omitting_nulls(omit_nulls);
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
            preferences.applied(&mut response, None);
            Ok(response.body(body))
        }
        None => absent(state, &tenant, &resolved, set).await,
    }
}

/// The answer when a path finds no entity: 404 when the addressed entity (the key
/// at the start of the path, or the last key) does not exist, else 204 (a
/// single-valued navigation property that is null).
async fn absent(
    state: &State,
    tenant: &Tenant,
    resolved: &Resolved,
    set: &EntitySet,
) -> Result<HttpResponse, ApiError> {
    let Some(within) = resolved.within.clone().filter(|_| resolved.key.is_none()) else {
        return Err(ApiError::not_found(format!(
            "{} has no entity with key '{}'",
            set.name,
            resolved.key.as_deref().unwrap_or_default()
        )));
    };
    let root_set = plan::set_of(&state.model, within.set)?;
    let plan = plan_with(state, |p| {
        p.entity(
            within.set,
            None,
            &tenant.id,
            Some(&within.key),
            &QueryOptions::default(),
        )
    })?;
    let query = store::compile(&state.model, tenant.scope(), &plan, state.db.dialect())
        .map_err(StoreError::from)?;
    let task_state = state.clone();
    let found = web::block(move || -> Result<u64, StoreError> {
        let mut conn = task_state.db.get()?;
        let mut sink = FirstValue::default();
        store::execute(&mut conn, &query, &mut sink)?;
        Ok(sink.entities)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    if found == 0 {
        return Err(ApiError::not_found(format!(
            "{} has no entity with key '{}'",
            root_set.name, within.key
        )));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `Set('key')/property` as `{"@odata.context":...,"value":...}`, or its raw text
/// with `/$value`; a null value is 204.
async fn property_value(
    req: &ReadRequest,
    state: &State,
    tenant: &Tenant,
    resolved: &Resolved,
    plan: QueryPlan,
    index: PropertyId,
    raw: bool,
) -> Result<HttpResponse, ApiError> {
    let set = plan::set_of(&state.model, resolved.set)?;
    let query = store::compile(&state.model, tenant.scope(), &plan, state.db.dialect())
        .map_err(StoreError::from)?;
    let task_state = state.clone();
    let sink = web::block(move || -> Result<FirstValue, StoreError> {
        let mut conn = task_state.db.get()?;
        let mut sink = FirstValue::default();
        store::execute(&mut conn, &query, &mut sink)?;
        Ok(sink)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    if sink.entities == 0 {
        return absent(state, tenant, resolved, set).await;
    }
    let value = sink.value.unwrap_or(Value::Null);
    if value.is_null() {
        return Ok(HttpResponse::NoContent().finish());
    }
    if raw {
        // Like `/$count`, a raw value is text whatever the Accept header says.
        return Ok(HttpResponse::Ok()
            .content_type("text/plain;charset=utf-8")
            .body(value.plain_text().unwrap_or_default()));
    }
    let format = negotiate::json(header(&req.headers, "Accept"), None)?;
    let root = req.root.clone();
    let property = plan::property_of(set, index)?;
    let context = format!("{root}/$metadata#{}", req.path.trim_end_matches('/'));
    let mut out = object_head(format, &context);
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(b"\"value\":");
    let quote_int = format.ieee754 && property.kind() == ColumnKind::Int64;
    write_cell(&mut out, Cell::of(&value), quote_int);
    out.push(b'}');
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .body(out))
}

async fn count(read: Read<'_>) -> Result<HttpResponse, ApiError> {
    let Read {
        req: _,
        state,
        tenant,
        options,
        resolved,
    } = read;
    let plan = plan_with(state, |p| {
        p.count(resolved.set, resolved.within, &tenant.id, &options)
    })?;
    let query = store::compile(&state.model, tenant.scope(), &plan, state.db.dialect())
        .map_err(StoreError::from)?;
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
    req: &ReadRequest,
    state: &State,
    tenant: Tenant,
    options: QueryOptions,
    resolved: Resolved,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate::json(header(&req.headers, "Accept"), format_option(&options))?;
    let set = plan::set_of(&state.model, resolved.set)?;
    let preferences = Preferences::of(&req.headers);
    let page_size = state.settings.limits.page_size(preferences.max_page_size);
    let plan = plan_with(state, |p| {
        p.apply_within(
            resolved.set,
            resolved.within.is_some(),
            &tenant.id,
            &options,
            page_size,
        )
    })?;
    let query = store::compile_apply(&state.model, tenant.scope(), &plan, state.db.dialect())
        .map_err(StoreError::from)?;
    let root = req.root.clone();
    let mut names: Vec<String> = Vec::new();
    for &p in &plan.select {
        let c = plan
            .columns
            .get(p)
            .ok_or_else(|| ApiError::internal(&format!("the $apply result has no column #{p}")))?;
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
    let shape = EntityShape::for_apply(&plan, format)?;
    let paging = Paging {
        tenant: plan.tenant.clone(),
        order: plan.order.clone(),
        top: plan.top,
        page_size,
    };
    stream_page(req, state, query, shape, head, paging, format).await
}
