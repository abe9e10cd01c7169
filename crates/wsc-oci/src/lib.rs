//! OCI registries for wsc: a registry client on the pinned transport.
//!
//! What it is: [`registry::Registry`], a blocking client for the OCI
//! distribution API (v1.1) whose every request goes through wsc-pinning's
//! `ServiceClient` (`Service::Registry`, pins from `WSC_REGISTRY_PINS`):
//! timeouts, retries with `Retry-After`, capped answers, no redirects.
//! It answers the `/v2/` challenge (Basic, or a Bearer token fetched from
//! the realm and cached per scope), with credentials given or read from the
//! docker and podman configurations and credential helpers; reads and
//! writes manifests with the `Accept` types asked for and the digest
//! checked against the bytes; uploads blobs in one piece and downloads them
//! into memory or a writer with digest and size checked as they stream;
//! and lists and adds referrers through the referrers API or the
//! `sha256-<hex>` fallback tag. Plain HTTP is allowed only for a registry
//! on this machine.
//!
//! On top of it, the CNCF wasm artifact: [`layout`] builds and checks its
//! config and manifest, [`push`] uploads a module as one, and [`resolve`]
//! and [`fetch_layer`] pull one (manifest and layout checked first, then
//! the layer streamed into a writer with its digest and size checked).
//!
//! [`sigstore`] pushes Sigstore bundles as referrers in cosign v3's layout
//! and reads a manifest's referrers back, sorted into bundles, other
//! artifacts and broken entries.
//!
//! What it is not: it signs nothing and verifies no signature or bundle
//! (the `wsc oci` commands evaluate the embedded signatures and the
//! referrers' bundles with wsc-policy). It has no async runtime and
//! no HTTP stack of its own, follows no redirect off the registry's host,
//! and does not exchange identity (OAuth2 refresh) tokens.
//!
//! ```no_run
//! use wsc_oci::registry::{Credentials, Reference, Registry, RegistryOptions};
//! use wsc_pinning::{ClientBuilder, PinningConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reference: Reference = "registry.example:5000/wasm/app:v1".parse()?;
//! let options = RegistryOptions { credentials: Credentials::lookup(reference.registry())?, ..Default::default() };
//! let registry = Registry::new(reference.registry(), &ClientBuilder::new(PinningConfig::load()?), options)?;
//! let manifest = registry.manifest_get(&reference, &[])?;
//! println!("{} is {} ({})", reference, manifest.digest, manifest.media_type);
//! let referrers = registry.referrers(reference.repository(), &manifest.digest, None)?;
//! println!("{} referrers", referrers.descriptors.len());
//! # Ok(())
//! # }
//! ```

mod artifact;
mod error;
pub mod layout;
pub mod registry;
pub mod sigstore;

pub use artifact::{DEFAULT_MAX_LAYER, Resolved, fetch_layer, push, resolve};
pub use error::OciError;
/// The OCI image types (manifest, index, descriptor) the client reads and writes.
pub use oci_spec::image as spec;
