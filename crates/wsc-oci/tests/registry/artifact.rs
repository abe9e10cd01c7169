//! The wasm artifact against a real registry: `push`, then `resolve` and
//! `fetch_layer` read it back; an artifact written by hand the way
//! oci-wasm writes it (nulls) resolves too; the layer cap and the layer's
//! kind against `config.os` are checked.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use wsc_oci::layout::{ArtifactInfo, WasmKind};
use wsc_oci::registry::{Credentials, Digest, OCI_MANIFEST, Reference};
use wsc_oci::{DEFAULT_MAX_LAYER, OciError, fetch_layer, push, resolve};

use crate::support::process::RegistryProcess;
use crate::support::{Artifact, WASM_CONFIG, WASM_LAYER, insecure_client, wasm_module};

fn reference(registry: &RegistryProcess, rest: &str) -> Reference {
    format!("{}/{rest}", registry.host()).parse().expect("a valid reference")
}

#[test]
fn a_pushed_module_resolves_and_streams_back() {
    let process = RegistryProcess::anonymous();
    let registry = insecure_client(&process.host(), Credentials::Anonymous);
    let module = wasm_module("pushed");
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.version".to_string(), "1.0".to_string());
    let info = ArtifactInfo {
        title: "pushed.wasm",
        author: Some("wsc tests"),
        created: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        annotations: &annotations,
    };
    let digest = push(&registry, &reference(&process, "wasm/pushed:v1"), &module, &info).expect("pushed");

    let resolved = resolve(&registry, &reference(&process, "wasm/pushed:v1")).expect("resolved");
    assert_eq!(resolved.manifest.digest, digest);
    assert_eq!(resolved.reference.digest(), Some(&digest));
    assert_eq!(resolved.layout.layer_digest, Digest::of(&module));
    assert_eq!(resolved.layout.title.as_deref(), Some("pushed.wasm"));
    assert_eq!(resolved.layout.annotations, annotations);
    assert_eq!(resolved.config.kind, WasmKind::Module);
    assert_eq!(resolved.config.author.as_deref(), Some("wsc tests"));
    assert_eq!(resolved.config.created.as_deref(), Some("2026-01-01T00:00:00Z"));
    let mut out = Vec::new();
    fetch_layer(&registry, &resolved, DEFAULT_MAX_LAYER, &mut out).expect("fetched");
    assert_eq!(out, module);
    let e = fetch_layer(&registry, &resolved, module.len() as u64 - 1, &mut Vec::new()).expect_err("over the cap");
    assert!(matches!(e, OciError::BlobTooLarge { .. }), "{e}");

    // Pushed by digest, and a digest in the reference must be the manifest's.
    let by_digest = reference(&process, &format!("wasm/pushed@{digest}"));
    assert_eq!(push(&registry, &by_digest, &module, &info).expect("by digest"), digest);
    let wrong = reference(&process, &format!("wasm/pushed:v2@{}", Digest::of(b"other")));
    let e = push(&registry, &wrong, &module, &info).expect_err("another digest");
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e}");
}

#[test]
fn an_artifact_written_as_oci_wasm_writes_it_resolves() {
    let process = RegistryProcess::anonymous();
    let registry = insecure_client(&process.host(), Credentials::Anonymous);
    // The harness's artifact: "author": null, like oci-wasm.
    let artifact = Artifact::new("by-hand", "note");
    let digest = artifact.push(&registry, "wasm/by-hand", "v1");
    let resolved = resolve(&registry, &reference(&process, &format!("wasm/by-hand@{digest}"))).expect("resolved");
    assert_eq!(resolved.config.author, None);
    let mut out = Vec::new();
    fetch_layer(&registry, &resolved, DEFAULT_MAX_LAYER, &mut out).expect("fetched");
    assert_eq!(out, artifact.layer);
}

#[test]
fn a_layer_of_another_kind_than_config_os_is_refused() {
    let process = RegistryProcess::anonymous();
    let registry = insecure_client(&process.host(), Credentials::Anonymous);
    let layer = wasm_module("module");
    let config = serde_json::to_vec(&json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [Digest::of(&layer).to_string()],
    }))
    .expect("JSON");
    registry.blob_upload("wasm/kind", &layer).expect("layer");
    registry.blob_upload("wasm/kind", &config).expect("config");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": WASM_CONFIG, "digest": Digest::of(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": WASM_LAYER, "digest": Digest::of(&layer).to_string(), "size": layer.len()}],
    }))
    .expect("JSON");
    registry.manifest_put("wasm/kind", "v1", &manifest, OCI_MANIFEST).expect("manifest");
    let resolved = resolve(&registry, &reference(&process, "wasm/kind:v1")).expect("the layout holds");
    assert_eq!(resolved.config.kind, WasmKind::Component);
    let e = fetch_layer(&registry, &resolved, DEFAULT_MAX_LAYER, &mut Vec::new()).expect_err("a module");
    match e {
        OciError::Layout { field, found, .. } => {
            assert_eq!(field, "config.os");
            assert!(found.contains("core module"), "{found}");
        }
        other => panic!("expected a layout error, got {other}"),
    }
}
