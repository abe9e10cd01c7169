//! The crate's error, [`OciError`].

use wsc_pinning::{PinningError, ServiceError};

/// Errors of the registry client. Each names the URL, digest or field
/// concerned and the check that failed; an underlying error is the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// A host, repository, tag or reference that does not parse.
    #[error("invalid {field} {input:?}: {reason}")]
    InvalidName {
        /// What was being parsed (`host`, `repository`, `tag`, `reference`).
        field: &'static str,
        /// The text, cut to 200 characters.
        input: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A digest that is not `sha256:` and 64 lowercase hex digits.
    #[error("invalid digest {input:?} in {field}: {reason}")]
    InvalidDigest {
        /// Where it came from.
        field: String,
        /// The text, cut to 200 characters.
        input: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// Plain HTTP was asked for a registry that is not on this machine.
    #[error(
        "plain HTTP to the registry {host} is refused: an insecure registry must be on this machine (localhost, 127.0.0.0/8 or ::1)"
    )]
    InsecureNotLoopback {
        /// The host.
        host: String,
    },
    /// The pinned transport refused plain HTTP (pinning is required).
    #[error("plain HTTP to the registry {host}")]
    Pinning {
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: Box<PinningError>,
    },
    /// The pinned client for a registry or token service could not be built.
    #[error("a client for {url}")]
    Client {
        /// The base URL.
        url: String,
        /// Why.
        #[source]
        source: Box<ServiceError>,
    },
    /// A request failed in the transport (connection, TLS, pins, timeout),
    /// or kept answering 429 or 5xx after every retry.
    #[error("{operation}")]
    Request {
        /// What was being done, with the repository and tag or digest.
        operation: String,
        /// The transport's error, naming the URL.
        #[source]
        source: Box<ServiceError>,
    },
    /// The registry has no such manifest, blob or tag (HTTP 404).
    #[error("{operation}: {url} answered HTTP 404 (not found): {detail}")]
    NotFound {
        /// What was being done.
        operation: String,
        /// The URL.
        url: String,
        /// The registry's error codes, or the start of its answer.
        detail: String,
    },
    /// An HTTP status the operation cannot use.
    #[error("{operation}: {url} answered HTTP {status}: {detail}")]
    Status {
        /// What was being done.
        operation: String,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The registry's error codes, or the start of its answer.
        detail: String,
    },
    /// A redirect: the pinned transport does not follow one off the registry.
    #[error("{operation}: {url} answered HTTP {status} to {location:?}: redirects are not followed")]
    Redirect {
        /// What was being done.
        operation: String,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The `Location` header, cut to 200 characters.
        location: String,
    },
    /// The registry asks for credentials and none were given.
    #[error("{url} asks for {scheme} authentication and no credentials are given for {host}")]
    NoCredentials {
        /// The URL.
        url: String,
        /// The registry host.
        host: String,
        /// `Basic` or `Bearer`.
        scheme: &'static str,
    },
    /// The registry refused the credentials or the token (HTTP 401 or 403
    /// after authenticating).
    #[error("{operation}: {url} refused the credentials (HTTP {status}): {detail}")]
    Unauthorized {
        /// What was being done.
        operation: String,
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The registry's error codes, or the start of its answer.
        detail: String,
    },
    /// A `WWW-Authenticate` challenge that cannot be answered.
    #[error("{url}: the WWW-Authenticate challenge {challenge:?} cannot be answered: {reason}")]
    Challenge {
        /// The URL.
        url: String,
        /// The header, cut to 200 characters.
        challenge: String,
        /// Why.
        reason: &'static str,
    },
    /// A token realm that may not be used.
    #[error("the token realm {realm:?} given by {url}: {reason}")]
    Realm {
        /// The realm, cut to 200 characters.
        realm: String,
        /// The registry URL that named it.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The token service's answer gives no usable token.
    #[error("the token service {realm}: {reason}")]
    Token {
        /// The realm URL.
        realm: String,
        /// Why.
        reason: String,
    },
    /// An answer larger than its cap.
    #[error("{url}: the {what} is larger than {limit} bytes")]
    TooLarge {
        /// The URL (or the repository, for something to upload).
        url: String,
        /// What was read or sent (manifest, blob, error body).
        what: &'static str,
        /// The cap.
        limit: u64,
    },
    /// The answer could not be read.
    #[error("{url}: reading the answer")]
    Read {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The caller's writer failed while a blob streamed into it.
    #[error("writing blob {digest} from {url}")]
    Write {
        /// The blob.
        digest: String,
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Content whose SHA-256 is not the digest it must have.
    #[error("{url}: the content's digest is {actual}, but {check} is {expected}")]
    DigestMismatch {
        /// The URL.
        url: String,
        /// Which digest the content must match (the digest asked for,
        /// `Docker-Content-Digest`).
        check: &'static str,
        /// That digest.
        expected: String,
        /// SHA-256 of the bytes received or sent.
        actual: String,
    },
    /// `Content-Length` differs from the size the descriptor gives.
    #[error("{url}: Content-Length is {content_length} bytes, but the descriptor's size is {expected}")]
    SizeMismatch {
        /// The URL.
        url: String,
        /// The descriptor's size.
        expected: u64,
        /// The header's value.
        content_length: u64,
    },
    /// A blob answer that ended before the descriptor's size.
    #[error("{url}: the answer ended after {received} of {expected} bytes")]
    Truncated {
        /// The URL.
        url: String,
        /// The descriptor's size.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// A blob answer longer than the descriptor's size.
    #[error("{url}: the answer is longer than the descriptor's {expected} bytes")]
    Overlong {
        /// The URL.
        url: String,
        /// The descriptor's size.
        expected: u64,
    },
    /// A blob whose descriptor gives a size above the caller's cap.
    #[error("blob {digest}: its size {size} is above the cap of {limit} bytes")]
    BlobTooLarge {
        /// The blob.
        digest: String,
        /// The size asked for.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// A header the operation needs is missing.
    #[error("{url}: the answer has no {header} header")]
    MissingHeader {
        /// The URL.
        url: String,
        /// The header.
        header: &'static str,
    },
    /// A header whose value cannot be used.
    #[error("{url}: the {header} header {value:?} {reason}")]
    Header {
        /// The URL.
        url: String,
        /// The header.
        header: &'static str,
        /// Its value, cut to 200 characters.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A media type the caller did not accept.
    #[error("{url}: the media type {actual:?} is not one of those accepted ({accepted})")]
    MediaType {
        /// The URL.
        url: String,
        /// The media type received.
        actual: String,
        /// The accepted types, comma-separated.
        accepted: String,
    },
    /// JSON that does not parse as its type.
    #[error("{url}: the {what} is not valid JSON of its type")]
    Json {
        /// The URL (or the repository, for something built here).
        url: String,
        /// What it is (image index, token answer).
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A referrers list longer than the cap.
    #[error("{url}: {count} referrers, more than the cap of {limit}")]
    TooManyReferrers {
        /// The URL of the list (the referrers API or the fallback tag).
        url: String,
        /// How many there are (or would be).
        count: usize,
        /// The cap.
        limit: usize,
    },
    /// Other writers kept replacing the fallback tag.
    #[error(
        "the referrers tag {tag} of {repository} kept losing the new entry {digest} to other writers ({attempts} attempts)"
    )]
    ReferrerRace {
        /// The repository.
        repository: String,
        /// The tag, `sha256-<hex>`.
        tag: String,
        /// The descriptor being added.
        digest: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The registry keeps the referrers list itself but does not list the
    /// referrer.
    #[error("{url}: the registry's referrers list does not hold {digest}")]
    ReferrerNotListed {
        /// The referrers URL.
        url: String,
        /// The descriptor's digest.
        digest: String,
    },
    /// An upload location that may not be used.
    #[error("{url}: the upload location {location:?} {reason}")]
    Location {
        /// The URL that gave it.
        url: String,
        /// The location, cut to 200 characters.
        location: String,
        /// Why.
        reason: &'static str,
    },
    /// A reference of another registry than the client's.
    #[error("the reference {reference} names another registry than this client's {registry}")]
    WrongRegistry {
        /// The reference.
        reference: String,
        /// The client's registry.
        registry: String,
    },
    /// A reference with neither a tag nor a digest.
    #[error("the reference {reference} has neither a tag nor a digest")]
    NoTagOrDigest {
        /// The reference.
        reference: String,
    },
    /// The docker or podman configuration (or a credential helper) failed.
    #[error("reading the credentials for {host} from the docker or podman configuration")]
    Credentials {
        /// The registry host.
        host: String,
        /// Why.
        #[source]
        source: Box<docker_credential::CredentialRetrievalError>,
    },
    /// The configured credential is an identity token, which this client
    /// does not exchange.
    #[error(
        "the credentials for {host} are an identity token (an OAuth2 refresh token), which is not supported: log in with a user name and password"
    )]
    IdentityToken {
        /// The registry host.
        host: String,
    },
    /// A wasm artifact off the CNCF layout (see [`crate::layout`]).
    #[error("{artifact}: {field} is {found}, but the wasm artifact layout needs {expected}")]
    Layout {
        /// The artifact (its reference).
        artifact: String,
        /// The field: `config.os`, `layers`, `layers[0].mediaType`, …
        field: &'static str,
        /// What it is, cut to 200 characters.
        found: String,
        /// What the layout needs.
        expected: &'static str,
    },
    /// The bytes to push are not a WebAssembly module or component.
    #[error("the module to push is not a WebAssembly module or component: {reason}")]
    NotWasm {
        /// Why.
        reason: &'static str,
    },
    /// A component whose import and export names cannot be read.
    #[error("the component's imports and exports cannot be read")]
    ComponentNames {
        /// The parser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A creation time that RFC 3339 in the config cannot hold.
    #[error("the creation time {reason}")]
    InvalidTime {
        /// Why.
        reason: &'static str,
    },
}

impl OciError {
    /// Whether the registry answered 404: no such manifest, blob or tag.
    pub fn is_not_found(&self) -> bool {
        matches!(self, OciError::NotFound { .. })
    }
}

/// The first 200 characters of `s`, for an error message.
pub(crate) fn cut(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
