//! The HTTP server: routing, body limits, faults and request counting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::ApiError;
use crate::faults::{FaultSettings, Faults, Injected};
use crate::fulcio::{Fulcio, IssueOptions};
use crate::oidc::Issuer;
use crate::rekor::v2::RekorV2Log;
use crate::rekor::{CreateOptions, RekorLog};
use crate::tsa::Tsa;

/// Largest request body accepted (bytes).
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// Most distinct paths counted by `requests()`.
const MAX_COUNTED_PATHS: usize = 4096;

/// Everything the request handlers share.
pub(crate) struct State {
    pub(crate) issuer: Issuer,
    pub(crate) fulcio: Fulcio,
    pub(crate) rekor: RekorLog,
    /// The Rekor v2 log, when the instance runs one.
    pub(crate) rekor_v2: Option<RekorV2Log>,
    pub(crate) tsa: Tsa,
    pub(crate) faults: Faults,
    pub(crate) counts: Mutex<HashMap<String, u64>>,
    pub(crate) log_requests: AtomicBool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl State {
    /// How many requests arrived for `path`.
    pub(crate) fn count(&self, path: &str) -> u64 {
        let counts = match self.counts.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        counts.get(path).copied().unwrap_or(0)
    }

    fn record(&self, path: &str) {
        let mut counts = match self.counts.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(n) = counts.get_mut(path) {
            *n += 1;
        } else if counts.len() < MAX_COUNTED_PATHS {
            counts.insert(path.to_string(), 1);
        }
    }
}

type Resp = Response<Full<Bytes>>;

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose (fault)")
    }
}

impl std::error::Error for DropConnection {}

/// The endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Discovery,
    Jwks,
    Authorize,
    Token,
    SigningCert,
    CreateEntry,
    CreateEntryV2,
    CheckpointV2,
    EntryByIndex,
    EntryByUuid(String),
    Retrieve,
    LogInfo,
    Proof,
    Timestamp,
    SetFaults,
    GetFaults,
}

impl Route {
    /// Fulcio, Rekor and TSA endpoints: the ones faults apply to.
    fn is_api(&self) -> bool {
        !matches!(
            self,
            Route::Discovery | Route::Jwks | Route::Authorize | Route::Token | Route::SetFaults | Route::GetFaults
        )
    }
}

/// Maps method and path to a route, or a 404 / 405.
fn classify(method: &Method, path: &str) -> Result<Route, ApiError> {
    let get = |r: Route| if method == Method::GET { Ok(r) } else { Err(method_not_allowed("GET")) };
    let post = |r: Route| if method == Method::POST { Ok(r) } else { Err(method_not_allowed("POST")) };
    match path {
        "/.well-known/openid-configuration" => get(Route::Discovery),
        "/jwks" => get(Route::Jwks),
        "/authorize" => get(Route::Authorize),
        "/token" => post(Route::Token),
        "/api/v2/signingCert" => post(Route::SigningCert),
        "/api/v1/log/entries" => match *method {
            Method::POST => Ok(Route::CreateEntry),
            Method::GET => Ok(Route::EntryByIndex),
            _ => Err(method_not_allowed("GET, POST")),
        },
        "/api/v2/log/entries" => post(Route::CreateEntryV2),
        "/checkpoint" => get(Route::CheckpointV2),
        "/api/v1/index/retrieve" => post(Route::Retrieve),
        "/api/v1/log" => get(Route::LogInfo),
        "/api/v1/log/proof" => get(Route::Proof),
        "/api/v1/timestamp" => post(Route::Timestamp),
        "/__wsc/faults" => match *method {
            Method::POST => Ok(Route::SetFaults),
            Method::GET => Ok(Route::GetFaults),
            _ => Err(method_not_allowed("GET, POST")),
        },
        p => match p.strip_prefix("/api/v1/log/entries/") {
            Some(uuid) if !uuid.is_empty() && !uuid.contains('/') => get(Route::EntryByUuid(uuid.to_string())),
            _ => Err(ApiError::new(404, format!("no route for {p}"))),
        },
    }
}

fn method_not_allowed(allowed: &str) -> ApiError {
    ApiError::new(405, format!("method not allowed (allowed: {allowed})"))
}

/// Accepts connections until the runtime shuts down.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                // Out of descriptors or similar: back off briefly.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        serve_connection(s, state).await;
                    }
                }
                None => serve_connection(stream, state).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, state: Arc<State>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| handle(state.clone(), req));
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, DropConnection> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let answer = dispatch(&state, req).await;
    if state.log_requests.load(Ordering::Relaxed) {
        let status = match &answer {
            Ok(r) => r.status().as_u16().to_string(),
            Err(_) => "dropped".to_string(),
        };
        // Path only: queries and bodies may carry codes or tokens.
        eprintln!("{method} {path} {status}");
    }
    answer
}

async fn dispatch(state: &Arc<State>, req: Request<Incoming>) -> Result<Resp, DropConnection> {
    let route = match classify(req.method(), req.uri().path()) {
        Ok(r) => r,
        Err(e) => {
            if e.status == 405 {
                state.record(req.uri().path());
            }
            return Ok(error_response(&e));
        }
    };
    state.record(req.uri().path());
    if route.is_api() {
        let ms = state.faults.slow_ms();
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        match state.faults.next_injected() {
            Some(Injected::Drop) => return Err(DropConnection),
            Some(Injected::RateLimit(secs)) => {
                let mut r = error_response(&ApiError::new(429, "rate limited (fault)"));
                r.headers_mut().insert("retry-after", HeaderValue::from(secs));
                return Ok(r);
            }
            Some(Injected::ServerError) => return Ok(error_response(&ApiError::internal("server error (fault)"))),
            None => {}
        }
    }
    Ok(match answer(state, route, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    })
}

/// Reads the body, refusing more than [`MAX_BODY`] bytes.
async fn read_body(req: Request<Incoming>) -> Result<(hyper::http::request::Parts, Bytes), ApiError> {
    let too_large = || ApiError::new(413, format!("request body larger than {MAX_BODY} bytes"));
    if let Some(len) = req.headers().get(CONTENT_LENGTH) {
        let len = len
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad_request("invalid Content-Length"))?;
        if len > MAX_BODY as u64 {
            return Err(too_large());
        }
    }
    let (parts, body) = req.into_parts();
    let collected = Limited::new(body, MAX_BODY).collect().await.map_err(|e| {
        if e.downcast_ref::<LengthLimitError>().is_some() {
            too_large()
        } else {
            ApiError::bad_request(format!("could not read the request body: {e}"))
        }
    })?;
    Ok((parts, collected.to_bytes()))
}

/// Runs a Rekor call on the blocking pool (it may fsync).
async fn rekor_call<F>(state: &Arc<State>, f: F) -> Result<Value, ApiError>
where
    F: FnOnce(&RekorLog) -> Result<Value, ApiError> + Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state.rekor))
        .await
        .map_err(|e| ApiError::internal(format!("log task failed: {e}")))?
}

/// Runs a Rekor v2 call on the blocking pool; 404 when the instance has no v2 log.
async fn rekor_v2_call<F, T>(state: &Arc<State>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&RekorV2Log) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    if state.rekor_v2.is_none() {
        return Err(ApiError::new(404, "this instance runs no Rekor v2 log (start it with rekor_v2 on)"));
    }
    let state = state.clone();
    tokio::task::spawn_blocking(move || match &state.rekor_v2 {
        Some(log) => f(log),
        None => Err(ApiError::new(404, "this instance runs no Rekor v2 log")),
    })
    .await
    .map_err(|e| ApiError::internal(format!("log task failed: {e}")))?
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn u64_param(query: Option<&str>, name: &str) -> Result<Option<u64>, ApiError> {
    query_param(query, name)
        .map(|v| v.parse::<u64>().map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer"))))
        .transpose()
}

async fn answer(state: &Arc<State>, route: Route, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let (parts, body) = read_body(req).await?;
    let query = parts.uri.query();
    match route {
        Route::Discovery => Ok(json_response(200, &state.issuer.discovery())),
        Route::Jwks => Ok(json_response(200, &state.issuer.jwks())),
        Route::Authorize => {
            let location = state.issuer.authorize(query.unwrap_or(""))?;
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::FOUND;
            let v = HeaderValue::from_str(&location).map_err(|_| ApiError::bad_request("redirect_uri not a header"))?;
            r.headers_mut().insert("location", v);
            Ok(r)
        }
        Route::Token => {
            let mut r = json_response(200, &state.issuer.token(&body)?);
            r.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
            Ok(r)
        }
        Route::SigningCert => {
            let bearer = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim);
            let opts = IssueOptions {
                bad_sct: state.faults.is_bad_sct(),
                foreign_chain: state.faults.is_foreign_chain(),
                detached_sct: state.faults.is_detached_sct(),
            };
            Ok(json_response(201, &state.fulcio.signing_cert(&state.issuer, &body, bearer, opts)?))
        }
        Route::CreateEntry => {
            let opts = CreateOptions { corrupt_set: state.faults.is_bad_set() };
            match rekor_call(state, move |r| r.create_entry(&body, opts)).await {
                Ok(v) => Ok(json_response(201, &v)),
                // As Rekor does: a duplicate names the existing entry in Location.
                Err(e) if e.status == 409 => {
                    let mut r = error_response(&e);
                    let uuid = e.message.rsplit(' ').next().unwrap_or_default();
                    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/log/entries/{uuid}")) {
                        r.headers_mut().insert("location", v);
                    }
                    Ok(r)
                }
                Err(e) => Err(e),
            }
        }
        Route::CreateEntryV2 => Ok(json_response(201, &rekor_v2_call(state, move |r| r.create_entry(&body)).await?)),
        Route::CheckpointV2 => {
            let text = rekor_v2_call(state, |r| r.checkpoint()).await?;
            let mut r = Response::new(Full::new(Bytes::from(text)));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            Ok(r)
        }
        Route::EntryByIndex => {
            let index = u64_param(query, "logIndex")?.ok_or_else(|| ApiError::bad_request("logIndex required"))?;
            Ok(json_response(200, &rekor_call(state, move |r| r.get_by_index(index)).await?))
        }
        Route::EntryByUuid(uuid) => Ok(json_response(200, &rekor_call(state, move |r| r.get_by_uuid(&uuid)).await?)),
        Route::Retrieve => Ok(json_response(200, &rekor_call(state, move |r| r.search_by_hash(&body)).await?)),
        Route::LogInfo => Ok(json_response(200, &rekor_call(state, |r| Ok(r.log_info())).await?)),
        Route::Proof => {
            let first = u64_param(query, "firstSize")?.ok_or_else(|| ApiError::bad_request("firstSize required"))?;
            let last = u64_param(query, "lastSize")?;
            Ok(json_response(200, &rekor_call(state, move |r| r.consistency_proof(first, last)).await?))
        }
        Route::Timestamp => {
            if let Some(ct) = parts.headers.get(CONTENT_TYPE) {
                let ct = ct.to_str().unwrap_or("");
                if !ct.trim().to_ascii_lowercase().starts_with("application/timestamp-query") {
                    return Err(ApiError::new(415, "Content-Type must be application/timestamp-query"));
                }
            }
            let der = state.tsa.respond(&body)?;
            let mut r = Response::new(Full::new(Bytes::from(der)));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/timestamp-reply"));
            Ok(r)
        }
        Route::SetFaults => {
            let settings: FaultSettings =
                serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("fault settings: {e}")))?;
            state.faults.apply(&settings);
            Ok(json_response(200, &fault_json(&state.faults)?))
        }
        Route::GetFaults => Ok(json_response(200, &fault_json(&state.faults)?)),
    }
}

fn fault_json(f: &Faults) -> Result<Value, ApiError> {
    serde_json::to_value(f.snapshot()).map_err(|e| ApiError::internal(e.to_string()))
}

fn json_response(status: u16, v: &Value) -> Resp {
    let mut text = v.to_string();
    text.push('\n');
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_response(e: &ApiError) -> Resp {
    json_response(e.status, &json!({"code": e.status, "message": e.message}))
}
