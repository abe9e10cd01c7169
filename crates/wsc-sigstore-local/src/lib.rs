//! A local Sigstore-compatible instance for offline tests and demos.
//!
//! It serves an OIDC issuer, Fulcio v2 `signingCert`, Rekor v1 and an
//! RFC 3161 timestamp authority on 127.0.0.1, with real cryptography, and
//! writes its own `trusted_root.json` and signing config. It is not a
//! production service: one process, keys in files under its directory.
//! It shares no verification code with the wsc client, so it can catch the
//! client's mistakes.
//!
//! ```no_run
//! use wsc_sigstore_local::{Config, Instance};
//! # fn main() -> Result<(), wsc_sigstore_local::LocalError> {
//! let inst = Instance::start(Config {
//!     dir: "/tmp/sigstore-local".into(),
//!     identities: vec!["dev@example.test".into()],
//!     tls: false,
//!     port: 0,
//! })?;
//! let token = inst.mint_token("dev@example.test")?;
//! // Point a client at inst.url() and inst.dir().join("trust_config.json").
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
//!
//! Files in the folder: `trusted_root.json`, `signing_config.json`,
//! `trust_config.json`, `tls-ca.pem` (HTTPS only), and last `url` (the base
//! URL and a newline; removed at start, so a script can wait for it).
//! Also kept: `created`, `port`, `fulcio-*.pem`, `tls-server.pem`, the log.
//! Keys (`*.key`, PKCS#8 PEM, mode 0600) and CA certificates are made on the
//! first start and reused, so a restart keeps the trusted root; with port 0 a
//! restart reuses the folder's previous port when it is free, so the URLs in
//! the trust files and the token issuer stay the same.
//!
//! Endpoints, all on one port: the OIDC issuer (`/.well-known/openid-configuration`,
//! `/jwks`, `/authorize`, `/token`), Fulcio `POST /api/v2/signingCert`, Rekor v1
//! (`/api/v1/log/entries`, `/api/v1/log/entries/{uuid}`, `/api/v1/index/retrieve`,
//! `/api/v1/log`, `/api/v1/log/proof`), the TSA `POST /api/v1/timestamp`, and
//! `/__wsc/faults` (see [`FaultSettings`]). Errors are `{"code":N,"message":"..."}`.

pub mod rekor;
pub mod tsa;

mod cert;
mod error;
mod faults;
mod fulcio;
mod instance;
mod keys;
mod oidc;
mod server;
mod tls;
mod trust;

pub use error::{ApiError, LocalError};
pub use faults::{FaultSettings, Faults, RateLimit};
pub use instance::{Config, DEFAULT_IDENTITY, Instance, mint_token_offline};
