//! The registry client against real registries on 127.0.0.1 (Debian's
//! `docker-registry`, distribution 2.8.2: anonymous, htpasswd, TLS with
//! pins, Bearer tokens from a token service written here) and against a
//! small fake server for the faults a real registry does not make; and
//! the wasm artifact pushed and pulled through them.

mod anonymous;
mod artifact;
mod basic;
mod bearer;
mod credentials;
mod faults;
mod referrers;
mod support;
mod tls;
