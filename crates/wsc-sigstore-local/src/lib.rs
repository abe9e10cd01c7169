//! A local Sigstore-compatible instance for offline tests and demos.
//!
//! It serves an OIDC issuer, Fulcio v2 `signingCert`, Rekor v1 (optionally
//! also Rekor v2) and an RFC 3161 timestamp authority on 127.0.0.1, with real cryptography, and
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
//!     rekor_v2: false,
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
//!
//! With [`Config::rekor_v2`] (binary: `serve --rekor-v2`) the instance also runs a
//! Rekor v2 log ([`rekor::v2`]): `POST /api/v2/log/entries` takes a
//! `hashedRekordRequestV002` (ECDSA P-256 over a SHA-256 digest, with an
//! `x509Certificate` or a `publicKey`), stores a `hashedrekord` 0.0.2 body in
//! `rekor2/entries.log`, and answers 201 with the protobuf-JSON
//! `TransparencyLogEntry` (no integrated time, no SET; an inclusion proof with a
//! checkpoint signed by the Ed25519 key `rekor2.key`, origin and key name
//! `rekor2.local`). `dsseRequestV002` gets 400 "not supported": DSSE is logged as
//! `hashedrekord` 0.0.2 over SHA-256(PAE), as Rekor v2 clients do. `GET /checkpoint`
//! serves the current checkpoint; the tlog-tiles read API is not served. The
//! signing config then names the v2 log (`majorApiVersion: 2`) instead of v1, and
//! the trusted root lists both logs (the v2 one as `PKIX_ED25519`, log id = C2SP
//! key id) and the TSA, whose timestamp Rekor v2 bundles need.

pub mod codec;
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
