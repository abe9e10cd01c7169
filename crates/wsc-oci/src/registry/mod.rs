//! The registry client: [`Registry`], built from a host and
//! [`RegistryOptions`], and every request's path through authentication
//! and the pinned transport.
//!
//! Each request goes through one wsc-pinning [`ServiceClient`]
//! (`Service::Registry`): pins, timeouts, retries on connection failures,
//! 429 and 5xx with `Retry-After`, no redirects. A `401` is answered once
//! per request: Basic credentials, or a token from the Bearer realm
//! (fetched with the Basic credentials if any, cached per scope).

mod auth;
mod blob;
mod manifest;
mod reference;
mod referrers;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use wsc_pinning::reqwest::blocking::{Client, RequestBuilder};
use wsc_pinning::reqwest::header::HeaderMap;
use wsc_pinning::reqwest::{Method, Url};
use wsc_pinning::{ClientBuilder, Service, ServiceClient, ServiceOptions, StreamingAnswer};
use zeroize::Zeroizing;

pub use auth::Credentials;
pub use manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MANIFEST_TYPES, Manifest, ManifestInfo, OCI_INDEX, OCI_MANIFEST,
};
pub use reference::{Digest, Reference, is_loopback};
pub use referrers::{ReferrerUpdate, Referrers, ReferrersSource};

use crate::error::{OciError, cut};
use auth::{Challenge, MAX_TOKEN_ANSWER, parse_challenge, parse_token};
use wire::{MAX_ERROR_BODY, detail};

/// Caps on what a registry's answers may make the client hold or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest manifest or index read or written (default 4 MiB, as
    /// distribution's own limit).
    pub max_manifest: u64,
    /// The most referrers a list may hold (default 1024).
    pub max_referrers: usize,
    /// Attempts at updating the fallback tag when other writers race
    /// (default 5).
    pub referrer_attempts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_manifest: 4 * 1024 * 1024, max_referrers: 1024, referrer_attempts: 5 }
    }
}

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// The credentials (see [`Credentials::lookup`]).
    pub credentials: Credentials,
    /// Plain HTTP instead of HTTPS: allowed only for a registry on this
    /// machine (localhost, 127.0.0.0/8, ::1), and refused by wsc-pinning
    /// when pinning is required.
    pub insecure: bool,
    /// Retries and rate limit of the shared transport.
    pub service: ServiceOptions,
    /// Caps.
    pub limits: Limits,
}

/// How the client authenticated so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// No challenge was met.
    Anonymous,
    /// The registry asked for Basic auth.
    Basic,
    /// The registry asked for a Bearer token.
    Bearer,
}

/// What the client learned of the registry's authentication.
#[derive(Default)]
struct AuthState {
    basic: bool,
    bearer: bool,
    /// Bearer tokens by scope (`""` for none).
    tokens: HashMap<String, Zeroizing<String>>,
}

/// A client for one OCI registry (distribution spec v1.1) on the pinned
/// transport. Blocking; safe to share between threads.
#[derive(Debug)]
pub struct Registry {
    host: String,
    base: String,
    insecure: bool,
    builder: ClientBuilder,
    service: ServiceOptions,
    client: ServiceClient,
    credentials: Credentials,
    limits: Limits,
    auth: Mutex<AuthState>,
    /// Clients of token realms on other origins, by origin.
    realms: Mutex<HashMap<String, Arc<ServiceClient>>>,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("basic", &self.basic)
            .field("bearer", &self.bearer)
            .field("scopes", &self.tokens.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The scope of a request, for Bearer tokens.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access<'a> {
    /// No repository (`/v2/`).
    None,
    /// Read `repository`.
    Pull(&'a str),
    /// Read and write `repository`.
    Push(&'a str),
}

impl Access<'_> {
    fn scope(&self) -> Option<String> {
        match self {
            Access::None => None,
            Access::Pull(r) => Some(format!("repository:{r}:pull")),
            Access::Push(r) => Some(format!("repository:{r}:pull,push")),
        }
    }
}

/// One request, described so that it can be sent again after a challenge
/// or a retry.
pub(crate) struct Call<'a> {
    pub(crate) operation: String,
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) access: Access<'a>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<&'a [u8]>,
}

/// An answer read under a cap.
pub(crate) struct Read {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Registry {
    /// A client for the registry at `host` (`name[:port]` or `[v6]:port`),
    /// with the pins, roots and timeouts of `builder`.
    pub fn new(host: &str, builder: &ClientBuilder, options: RegistryOptions) -> Result<Registry, OciError> {
        reference::check_host(host)?;
        let builder = if options.insecure {
            if !is_loopback(host) {
                return Err(OciError::InsecureNotLoopback { host: host.to_string() });
            }
            builder
                .clone()
                .opt_in_http()
                .map_err(|source| OciError::Pinning { host: host.to_string(), source: Box::new(source) })?
        } else {
            builder.clone()
        };
        let base = format!("{}://{host}", if options.insecure { "http" } else { "https" });
        let client = ServiceClient::new(&builder, Service::Registry, &base, &options.service)
            .map_err(|source| OciError::Client { url: base.clone(), source: Box::new(source) })?;
        Ok(Registry {
            host: host.to_string(),
            base,
            insecure: options.insecure,
            builder,
            service: options.service,
            client,
            credentials: options.credentials,
            limits: options.limits,
            auth: Mutex::new(AuthState::default()),
            realms: Mutex::new(HashMap::new()),
        })
    }

    /// The registry host, as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The base URL (`https://host` or `http://host`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether at least one pin is enforced for the registry's host.
    pub fn pinned(&self) -> bool {
        self.client.pinned()
    }

    /// Retries the transport made so far.
    pub fn retries(&self) -> u64 {
        self.client.retries()
    }

    /// The caps in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How the client authenticates, as learned from the challenges so far.
    pub fn auth_scheme(&self) -> AuthScheme {
        let state = self.state();
        if state.bearer {
            AuthScheme::Bearer
        } else if state.basic {
            AuthScheme::Basic
        } else {
            AuthScheme::Anonymous
        }
    }

    /// `GET /v2/`: checks that the host speaks the distribution API and
    /// that the credentials are accepted (answering a challenge if one
    /// comes). Returns the scheme in use.
    pub fn ping(&self) -> Result<AuthScheme, OciError> {
        let url = format!("{}/v2/", self.base);
        let call = Call {
            operation: format!("checking the registry API of {}", self.host),
            method: Method::GET,
            url,
            access: Access::None,
            headers: Vec::new(),
            body: None,
        };
        let answer = self.call_read(&call, MAX_ERROR_BODY, "answer")?;
        match answer.status {
            200 => Ok(self.auth_scheme()),
            _ => Err(self.status_error(&call, answer.status, &answer.headers, &answer.body)),
        }
    }

    fn state(&self) -> MutexGuard<'_, AuthState> {
        match self.auth.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// `{base}/v2/{repository}/{rest}`.
    pub(crate) fn url(&self, repository: &str, rest: &str) -> String {
        format!("{}/v2/{repository}/{rest}", self.base)
    }

    /// Sends `call`, answering one authentication challenge. The body of
    /// the answer is left unread.
    pub(crate) fn call(&self, call: &Call<'_>) -> Result<StreamingAnswer, OciError> {
        let scope = call.access.scope();
        let key = scope.clone().unwrap_or_default();
        let mut answered = false;
        loop {
            let authorization = self.authorization(&key);
            let make = |c: &Client| -> RequestBuilder {
                let mut r = c.request(call.method.clone(), &call.url);
                for (k, v) in &call.headers {
                    r = r.header(*k, v);
                }
                if let Some(a) = &authorization {
                    r = r.header("authorization", a.as_str());
                }
                if let Some(b) = call.body {
                    r = r.body(b.to_vec());
                }
                r
            };
            let answer = self
                .client
                .send_streaming(&call.url, &make)
                .map_err(|source| OciError::Request { operation: call.operation.clone(), source: Box::new(source) })?;
            if answer.status != 401 {
                return Ok(answer);
            }
            let challenges: Vec<String> = answer
                .headers
                .get_all("www-authenticate")
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            if answered {
                let body = error_body(answer.response);
                return Err(OciError::Unauthorized {
                    operation: call.operation.clone(),
                    url: call.url.clone(),
                    status: 401,
                    detail: detail(&body),
                });
            }
            drop(answer);
            self.answer_challenge(call, &challenges, authorization.is_some(), scope.as_deref(), &key)?;
            answered = true;
        }
    }

    /// [`call`](Self::call), then the body read under `cap` (`what` names
    /// it in the error when it is larger).
    pub(crate) fn call_read(&self, call: &Call<'_>, cap: u64, what: &'static str) -> Result<Read, OciError> {
        let answer = self.call(call)?;
        let (status, headers) = (answer.status, answer.headers);
        let body = if (200..300).contains(&status) {
            self.read_answer(&call.url, answer.response, cap, what)?
        } else {
            error_body(answer.response)
        };
        Ok(Read { status, headers, body })
    }

    pub(crate) fn read_answer(
        &self,
        url: &str,
        response: wsc_pinning::reqwest::blocking::Response,
        cap: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, OciError> {
        wsc_pinning::read_capped(response, cap).map_err(|source| {
            if source.kind() == std::io::ErrorKind::FileTooLarge {
                OciError::TooLarge { url: url.to_string(), what, limit: cap }
            } else {
                OciError::Read { url: url.to_string(), source }
            }
        })
    }

    /// The `Authorization` value for a scope, from what was learned.
    fn authorization(&self, key: &str) -> Option<Zeroizing<String>> {
        let state = self.state();
        if state.bearer {
            if let Some(t) = state.tokens.get(key) {
                return Some(Zeroizing::new(format!("Bearer {}", t.as_str())));
            }
        }
        if state.basic { self.credentials.basic_header() } else { None }
    }

    /// Answers a `401`: Bearer (preferred) gets a token for the scope;
    /// Basic turns Basic auth on. A challenge met with the credentials
    /// already sent means they were refused.
    fn answer_challenge(
        &self,
        call: &Call<'_>,
        headers: &[String],
        sent: bool,
        scope: Option<&str>,
        key: &str,
    ) -> Result<(), OciError> {
        let mut parsed = Vec::new();
        for h in headers {
            parsed.push(parse_challenge(h, &call.url)?);
        }
        let bearer = parsed.iter().find(|c| c.scheme == "bearer");
        let basic = parsed.iter().find(|c| c.scheme == "basic");
        if let Some(c) = bearer {
            let token = self.fetch_token(call, c, scope)?;
            let mut state = self.state();
            state.bearer = true;
            state.tokens.insert(key.to_string(), token);
            return Ok(());
        }
        if basic.is_some() {
            if self.credentials.is_anonymous() {
                return Err(OciError::NoCredentials {
                    url: call.url.clone(),
                    host: self.host.clone(),
                    scheme: "Basic",
                });
            }
            if sent && self.state().basic {
                return Err(OciError::Unauthorized {
                    operation: call.operation.clone(),
                    url: call.url.clone(),
                    status: 401,
                    detail: "the Basic credentials were refused".into(),
                });
            }
            self.state().basic = true;
            return Ok(());
        }
        Err(OciError::Challenge {
            url: call.url.clone(),
            challenge: cut(&headers.join(", ")),
            reason: if headers.is_empty() {
                "HTTP 401 without a WWW-Authenticate header"
            } else {
                "only Basic and Bearer are supported"
            },
        })
    }

    /// Gets a token from the Bearer realm of `challenge` for the scope it
    /// names (else the request's), with Basic credentials if there are any.
    fn fetch_token(
        &self,
        call: &Call<'_>,
        challenge: &Challenge,
        scope: Option<&str>,
    ) -> Result<Zeroizing<String>, OciError> {
        let realm = challenge.param("realm").ok_or_else(|| OciError::Challenge {
            url: call.url.clone(),
            challenge: "Bearer".into(),
            reason: "a Bearer challenge without a realm",
        })?;
        let bad = |reason| OciError::Realm { realm: cut(realm), url: call.url.clone(), reason };
        let mut url = Url::parse(realm).map_err(|_| bad("not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.insecure && url.host_str().is_some_and(is_loopback) => {}
            "http" => {
                return Err(bad(
                    "plain HTTP is allowed only for a token service on this machine, with an insecure registry",
                ));
            }
            _ => return Err(bad("not an https URL")),
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(bad("a realm may not hold credentials or a fragment"));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = challenge.param("service") {
                q.append_pair("service", s);
            }
            // A challenge may name several scopes, space-separated.
            if let Some(s) = challenge.param("scope").or(scope) {
                for one in s.split(' ').filter(|x| !x.is_empty()) {
                    q.append_pair("scope", one);
                }
            }
        }
        let realm_url = url.to_string();
        let origin = url.origin().ascii_serialization();
        let own;
        let client: &ServiceClient = if Url::parse(&self.base).is_ok_and(|b| b.origin().ascii_serialization() == origin)
        {
            &self.client
        } else {
            own = self.realm_client(&origin)?;
            &own
        };
        let basic = self.credentials.basic_header();
        let make = |c: &Client| -> RequestBuilder {
            let r = c.get(&realm_url).header("accept", "application/json");
            match &basic {
                Some(b) => r.header("authorization", b.as_str()),
                None => r,
            }
        };
        let operation = format!("getting a token from {realm} for {}", call.operation);
        let answer = client
            .send_streaming(&realm_url, &make)
            .map_err(|source| OciError::Request { operation: operation.clone(), source: Box::new(source) })?;
        let status = answer.status;
        if status != 200 {
            let body = error_body(answer.response);
            return Err(match status {
                401 | 403 => OciError::Unauthorized { operation, url: realm_url, status, detail: detail(&body) },
                _ => OciError::Status { operation, url: realm_url, status, detail: detail(&body) },
            });
        }
        let body = self.read_answer(&realm_url, answer.response, MAX_TOKEN_ANSWER, "token answer")?;
        parse_token(&body, realm)
    }

    /// The client of a token realm on another origin than the registry.
    fn realm_client(&self, origin: &str) -> Result<Arc<ServiceClient>, OciError> {
        let mut realms = match self.realms.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(c) = realms.get(origin) {
            return Ok(c.clone());
        }
        let client = ServiceClient::new(&self.builder, Service::Registry, origin, &self.service)
            .map_err(|source| OciError::Client { url: origin.to_string(), source: Box::new(source) })?;
        let client = Arc::new(client);
        realms.insert(origin.to_string(), client.clone());
        Ok(client)
    }

    /// The error for an answer the operation cannot use.
    pub(crate) fn status_error(&self, call: &Call<'_>, status: u16, headers: &HeaderMap, body: &[u8]) -> OciError {
        let (operation, url) = (call.operation.clone(), call.url.clone());
        match status {
            404 => OciError::NotFound { operation, url, detail: detail(body) },
            401 | 403 => OciError::Unauthorized { operation, url, status, detail: detail(body) },
            300..=399 => {
                let location = headers.get("location").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                OciError::Redirect { operation, url, status, location: cut(&location.unwrap_or_default()) }
            }
            _ => OciError::Status { operation, url, status, detail: detail(body) },
        }
    }
}

/// The start of an error answer's body (at most 64 KiB): what could be
/// read, for the message; a failed read leaves it shorter.
pub(crate) fn error_body(response: wsc_pinning::reqwest::blocking::Response) -> Vec<u8> {
    use std::io::Read as _;
    let mut body = Vec::new();
    let _ = response.take(MAX_ERROR_BODY).read_to_end(&mut body);
    body
}
