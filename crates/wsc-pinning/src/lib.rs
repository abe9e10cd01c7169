//! TLS certificate pinning for the HTTPS calls wsc makes (Fulcio, Rekor,
//! timestamp authorities, OIDC providers, the Sigstore TUF repository, OCI
//! registries).
//!
//! What it is: a rustls server-certificate verifier that first does the full
//! WebPKI check (chain to the root store, host name, validity) and then
//! requires that the presented chain matches a pin configured for the host;
//! the configuration (environment, a file, or code); a builder for
//! blocking and async `reqwest` clients that use that verifier, with timeouts;
//! and [`ServiceClient`], the one client wsc talks to services with (retries
//! with backoff and `Retry-After`, a rate limit, answers read under a cap or
//! streamed to the caller, the RFC 3161 transport). It is the only crate of
//! wsc that builds HTTP clients; plain `http://` is used only after an
//! explicit opt-in, and never when pinning is required.
//!
//! A pin is a SHA-256 in hex. It matches the DER of the leaf certificate, or
//! the SubjectPublicKeyInfo of a certificate on the path WebPKI verified
//! (leaf, intermediates, trust anchor). Pins on a CA's key (SPKI) survive
//! leaf renewals and are the ones to prefer.
//!
//! What it is not: it signs and verifies nothing, encodes no request and
//! checks no answer (callers do), and depends on no other wsc crate. There is no silent fallback: when pins are configured for a host, a
//! connection whose chain matches none of them fails, in every mode; in strict
//! mode a host without pins fails too.

mod async_client;
mod builder;
mod config;
mod error;
mod pin;
mod presented;
mod roots;
mod service;
mod verifier;

pub use async_client::PinnedAsyncClient;
pub use builder::{ClientBuilder, PinnedClient};
pub use config::{CONFIG_FILE_VARIABLE, PinningConfig, REQUIRE_VARIABLE, Service};
pub use error::PinningError;
pub use pin::{CertificateInfo, Pin, describe_chain};
pub use presented::{Presented, presented_chain};
/// The HTTP crate of the clients built here, for request builders and URLs.
pub use reqwest;
pub use roots::{crypto_provider, default_roots, roots_from_pem};
pub use service::{
    Answer, MAX_ANSWER, RateLimit, RetryPolicy, ServiceClient, ServiceError, ServiceOptions, StreamingAnswer,
    TIMESTAMP_QUERY_TYPE, TIMESTAMP_REPLY_TYPE, read_capped,
};
pub use verifier::{PinFailure, PinningVerifier};
