//! Test support: a real `docker-registry` (distribution 2.8.2) started on a
//! free port of 127.0.0.1 with a generated configuration, a small HTTP
//! server for faults and fakes, a token service for Bearer auth, the
//! wasm artifact the tests push, and client helpers.

pub(crate) mod fake;
pub(crate) mod process;
pub(crate) mod token;

use std::time::Duration;

use serde_json::json;
use wsc_oci::OciError;
use wsc_oci::registry::{Credentials, Digest, Limits, OCI_MANIFEST, Registry, RegistryOptions};
use wsc_oci::spec::{Descriptor, MediaType};
use wsc_pinning::{ClientBuilder, PinningConfig, RetryPolicy, ServiceOptions};

/// The CNCF wasm config media type.
pub(crate) const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";

/// The CNCF wasm layer media type.
pub(crate) const WASM_LAYER: &str = "application/wasm";

/// The Sigstore bundle media type, used as a referrer's artifact type.
pub(crate) const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Another referrer artifact type (an SBOM).
pub(crate) const SBOM: &str = "application/spdx+json";

/// The empty JSON descriptor's content and media type.
pub(crate) const EMPTY: &[u8] = b"{}";

/// Options for tests: quick retries, the given credentials, plain HTTP.
pub(crate) fn options(credentials: Credentials, insecure: bool) -> RegistryOptions {
    RegistryOptions {
        credentials,
        insecure,
        service: ServiceOptions {
            retry: RetryPolicy {
                attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
                max_retry_after: Duration::from_secs(5),
            },
            rate_limit_per_second: None,
        },
        limits: Limits::default(),
    }
}

/// A builder without pins and with 10 s timeouts.
pub(crate) fn builder() -> ClientBuilder {
    ClientBuilder::new(PinningConfig::new()).with_timeouts(Duration::from_secs(10), Duration::from_secs(5))
}

/// A plain-HTTP client for a registry on 127.0.0.1.
pub(crate) fn insecure_client(host: &str, credentials: Credentials) -> Registry {
    Registry::new(host, &builder(), options(credentials, true)).expect("a client for the local registry")
}

/// A small wasm module (a valid module with one custom section naming `label`).
pub(crate) fn wasm_module(label: &str) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let name = b"wsc-test";
    let payload_len = 1 + name.len() + label.len();
    m.push(0);
    m.push(u8::try_from(payload_len).expect("a short label"));
    m.push(u8::try_from(name.len()).expect("short"));
    m.extend_from_slice(name);
    m.extend_from_slice(label.as_bytes());
    m
}

/// A wasm artifact as the CNCF layout has it: its blobs and manifest.
#[derive(Debug, Clone)]
pub(crate) struct Artifact {
    pub(crate) layer: Vec<u8>,
    pub(crate) config: Vec<u8>,
    pub(crate) manifest: Vec<u8>,
}

impl Artifact {
    /// The artifact of `wasm_module(label)`, with one annotation `note`.
    pub(crate) fn new(label: &str, note: &str) -> Artifact {
        let layer = wasm_module(label);
        let layer_digest = Digest::of(&layer);
        let config = serde_json::to_vec(&json!({
            "created": "2026-01-01T00:00:00Z",
            "author": null,
            "architecture": "wasm",
            "os": "wasip1",
            "layerDigests": [layer_digest.to_string()],
        }))
        .expect("config JSON");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": WASM_CONFIG, "digest": Digest::of(&config).to_string(), "size": config.len()},
            "layers": [{
                "mediaType": WASM_LAYER,
                "digest": layer_digest.to_string(),
                "size": layer.len(),
                "annotations": {"org.opencontainers.image.title": format!("{label}.wasm")},
            }],
            "annotations": {"note": note},
        }))
        .expect("manifest JSON");
        Artifact { layer, config, manifest }
    }

    /// The manifest's digest.
    pub(crate) fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    /// Pushes the blobs, then the manifest under `tag`; returns the digest.
    pub(crate) fn push(&self, registry: &Registry, repository: &str, tag: &str) -> Digest {
        assert_eq!(registry.blob_upload(repository, &self.layer).expect("layer upload"), Digest::of(&self.layer));
        assert_eq!(registry.blob_upload(repository, &self.config).expect("config upload"), Digest::of(&self.config));
        let digest = registry.manifest_put(repository, tag, &self.manifest, OCI_MANIFEST).expect("manifest push");
        assert_eq!(digest, self.digest());
        digest
    }
}

/// Pushes a referrer of `subject` (a manifest of `subject_size` bytes)
/// whose artifact type and single layer type are `artifact_type`, by
/// digest; returns its descriptor (with the artifact type).
pub(crate) fn push_referrer(
    registry: &Registry,
    repository: &str,
    subject: &Digest,
    subject_size: usize,
    artifact_type: &str,
    content: &[u8],
) -> Descriptor {
    registry.blob_upload(repository, EMPTY).expect("empty config upload");
    registry.blob_upload(repository, content).expect("referrer layer upload");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(EMPTY).to_string(), "size": 2},
        "layers": [{"mediaType": artifact_type, "digest": Digest::of(content).to_string(), "size": content.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": subject_size},
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    }))
    .expect("referrer JSON");
    let digest = Digest::of(&manifest);
    let pushed =
        registry.manifest_put(repository, &digest.to_string(), &manifest, OCI_MANIFEST).expect("referrer push");
    assert_eq!(pushed, digest);
    let mut d = Descriptor::new(MediaType::ImageManifest, manifest.len() as u64, digest.to_oci());
    d.set_artifact_type(Some(artifact_type.into()));
    d
}

/// PEM text of `der` under `label` (`CERTIFICATE`, `PRIVATE KEY`).
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// An error and all its sources, joined with " -> ".
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        parts.push(e.to_string());
        next = e.source();
    }
    parts.join(" -> ")
}

/// Panics unless the error's chain mentions each of `needles`.
pub(crate) fn assert_mentions(error: &OciError, needles: &[&str]) {
    let text = chain(error);
    let missing: Vec<&&str> = needles.iter().filter(|n| !text.contains(**n)).collect();
    assert!(missing.is_empty(), "the error lacks {missing:?}: {text}");
}
