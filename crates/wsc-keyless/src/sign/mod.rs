//! Keyless signing (feature `sign`): the whole Sigstore flow for one or
//! many modules.
//!
//! identity token → ephemeral ECDSA P-256 key → Fulcio v2 certificate (proof
//! of possession; the chain is checked against the trust root) → signature
//! over each record's set message → optional RFC 3161 timestamp → Rekor
//! entry (v1 `hashedrekord`/`dsse`, or v2 `hashedrekord` 0.0.2) → the finished bundle is verified offline, exactly
//! as `wsc verify --keyless` will, before it is handed back. A module whose
//! certificate, log entry or timestamp does not verify is never written.
//!
//! Every HTTP request goes through a wsc-pinning `ServiceClient` (pins,
//! roots, timeouts, https only, retries on 429/5xx and connection errors,
//! `Retry-After`, an optional client-side rate limit, capped answers).
//!
//! Not here: DSSE entries in Rekor v2 logs.

mod browser;
mod error;
mod fulcio;
mod rekor;
mod session;
mod token;
mod tsa;

pub use browser::{BrowserLogin, browser_login};
pub use error::SignError;
pub use session::{KeylessSigner, LoggedEntry, Services};
pub use token::{Claims, IdentityToken, SIGSTORE_AUDIENCE, TokenOrigin, ambient_token, token_from_file};
pub use wsc_pinning::{MAX_ANSWER, RateLimit, RetryPolicy, ServiceOptions};
