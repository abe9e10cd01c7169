//! An anonymous registry on plain HTTP (127.0.0.1): push and pull by tag
//! and digest, what the registry stores edited on disk, caps, and the
//! plain-HTTP rule.

use wsc_oci::OciError;
use wsc_oci::registry::{AuthScheme, Credentials, Digest, OCI_INDEX, OCI_MANIFEST, Reference, Registry};
use wsc_pinning::{ClientBuilder, PinningConfig};

use crate::support::process::RegistryProcess;
use crate::support::{Artifact, assert_mentions, builder, insecure_client, options};

fn reference(registry: &RegistryProcess, rest: &str) -> Reference {
    format!("{}/{rest}", registry.host()).parse().expect("a valid reference")
}

#[test]
fn a_wasm_artifact_pushed_reads_back_by_tag_and_by_digest() {
    let process = RegistryProcess::anonymous();
    let registry = insecure_client(&process.host(), Credentials::Anonymous);
    assert_eq!(registry.ping().expect("the /v2/ check"), AuthScheme::Anonymous);
    assert_eq!(registry.base_url(), format!("http://{}", process.host()));

    let artifact = Artifact::new("hello", "first");
    let digest = artifact.push(&registry, "wasm/hello", "v1");
    // A second upload of the same blob finds it there.
    assert_eq!(registry.blob_upload("wasm/hello", &artifact.layer).expect("again"), Digest::of(&artifact.layer));

    let by_tag = registry.manifest_get(&reference(&process, "wasm/hello:v1"), &[]).expect("by tag");
    assert_eq!(by_tag.bytes, artifact.manifest);
    assert_eq!((by_tag.digest, by_tag.media_type.as_str()), (digest, OCI_MANIFEST));
    let by_digest = registry
        .manifest_get(&reference(&process, &format!("wasm/hello@{digest}")), &[OCI_MANIFEST])
        .expect("by digest");
    assert_eq!(by_digest, by_tag);

    let head = registry.manifest_head(&reference(&process, "wasm/hello:v1"), &[]).expect("HEAD");
    assert_eq!(
        (head.digest, head.size, head.media_type.as_str()),
        (digest, artifact.manifest.len() as u64, OCI_MANIFEST)
    );
    let subject = head.descriptor();
    assert_eq!(subject.digest().to_string(), digest.to_string());

    let layer = Digest::of(&artifact.layer);
    assert!(registry.blob_exists("wasm/hello", &layer).expect("HEAD blob"));
    assert!(!registry.blob_exists("wasm/hello", &Digest::of(b"absent")).expect("HEAD blob"));
    let got = registry.blob_get("wasm/hello", &layer, artifact.layer.len() as u64, 1024).expect("blob");
    assert_eq!(got, artifact.layer);
    let mut streamed = Vec::new();
    registry.blob_get_to("wasm/hello", &layer, artifact.layer.len() as u64, &mut streamed).expect("streamed");
    assert_eq!(streamed, artifact.layer);

    // distribution 2.8.2 serves an OCI manifest only to a client that accepts its type.
    let e = registry.manifest_get(&reference(&process, "wasm/hello:v1"), &[OCI_INDEX]).expect_err("not accepted");
    assert!(e.is_not_found(), "{e}");
    assert_mentions(&e, &["MANIFEST_UNKNOWN", "/v2/wasm/hello/manifests/v1"]);
    let e = registry.manifest_get(&reference(&process, "wasm/hello:v2"), &[]).expect_err("no such tag");
    assert!(e.is_not_found(), "{e}");
    assert_eq!(registry.retries(), 0);
}

#[test]
fn a_manifest_edited_in_the_registry_storage_is_refused() {
    let process = RegistryProcess::anonymous();
    let registry = insecure_client(&process.host(), Credentials::Anonymous);
    let artifact = Artifact::new("edited", "aaaa");
    let digest = artifact.push(&registry, "wasm/edited", "v1");
    // The attack: the stored manifest changed behind the registry's back,
    // still valid JSON of the same length.
    let file = process.blob_file(&digest);
    let stored = std::fs::read(&file).expect("the stored manifest");
    assert_eq!(stored, artifact.manifest);
    let edited = String::from_utf8(stored).expect("JSON").replace("\"aaaa\"", "\"bbbb\"");
    std::fs::write(&file, edited.as_bytes()).expect("editing the stored manifest");
    let edited_digest = Digest::of(edited.as_bytes());

    let e = registry.manifest_get(&reference(&process, &format!("wasm/edited@{digest}")), &[]).expect_err("by digest");
    assert!(matches!(e, OciError::DigestMismatch { check: "the digest asked for", .. }), "{e}");
    assert_mentions(&e, &[&digest.to_string(), &edited_digest.to_string()]);
    // By tag, the registry still names the digest it was given.
    let e = registry.manifest_get(&reference(&process, "wasm/edited:v1"), &[]).expect_err("by tag");
    assert!(matches!(e, OciError::DigestMismatch { check: "Docker-Content-Digest", .. }), "{e}");
    assert_mentions(&e, &[&digest.to_string(), &edited_digest.to_string()]);
}

#[test]
fn a_layer_truncated_or_edited_in_the_storage_is_refused() {
    let process = RegistryProcess::anonymous();
    let registry = insecure_client(&process.host(), Credentials::Anonymous);
    let artifact = Artifact::new("layer-under-attack", "x");
    artifact.push(&registry, "wasm/layer", "v1");
    let layer = Digest::of(&artifact.layer);
    let size = artifact.layer.len() as u64;
    let file = process.blob_file(&layer);

    // The same length, one byte changed.
    let mut changed = artifact.layer.clone();
    *changed.last_mut().expect("not empty") ^= 1;
    std::fs::write(&file, &changed).expect("editing the layer");
    let e = registry.blob_get("wasm/layer", &layer, size, 1024).expect_err("edited");
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e}");
    assert_mentions(&e, &[&layer.to_string(), &Digest::of(&changed).to_string()]);

    // Truncated: the registry now sends fewer bytes.
    std::fs::write(&file, &artifact.layer[..artifact.layer.len() - 5]).expect("truncating the layer");
    let mut out = Vec::new();
    let e = registry.blob_get_to("wasm/layer", &layer, size, &mut out).expect_err("truncated");
    assert!(
        matches!(e, OciError::SizeMismatch { expected, content_length, .. } if expected == size && content_length == size - 5),
        "{e}"
    );
    assert!(out.is_empty(), "nothing is written before the size is known to be right");

    // A descriptor that claims less than the blob's size.
    std::fs::write(&file, &artifact.layer).expect("restoring the layer");
    let e = registry.blob_get("wasm/layer", &layer, size - 1, 1024).expect_err("a smaller size");
    assert!(matches!(e, OciError::SizeMismatch { .. }), "{e}");
    let e = registry.blob_get("wasm/layer", &layer, size, size - 1).expect_err("over the cap");
    assert!(matches!(e, OciError::BlobTooLarge { .. }), "{e}");
}

#[test]
fn manifests_over_the_cap_and_bad_targets_are_refused_before_sending() {
    let process = RegistryProcess::anonymous();
    let registry = insecure_client(&process.host(), Credentials::Anonymous);
    let big = vec![b' '; 4 * 1024 * 1024 + 1];
    let e = registry.manifest_put("wasm/big", "v1", &big, OCI_MANIFEST).expect_err("over 4 MiB");
    assert!(matches!(e, OciError::TooLarge { limit: 4194304, .. }), "{e}");
    let artifact = Artifact::new("t", "t");
    let e = registry
        .manifest_put("wasm/t", &Digest::of(b"other").to_string(), &artifact.manifest, OCI_MANIFEST)
        .expect_err("a digest that is not the bytes'");
    assert!(matches!(e, OciError::DigestMismatch { check: "the digest to push under", .. }), "{e}");
    let e = registry.manifest_put("wasm/t", "-bad", &artifact.manifest, OCI_MANIFEST).expect_err("a bad tag");
    assert!(matches!(e, OciError::InvalidName { field: "tag", .. }), "{e}");
    let e = registry.blob_exists("Wasm/T", &Digest::of(b"")).expect_err("a bad repository");
    assert!(matches!(e, OciError::InvalidName { field: "repository", .. }), "{e}");
    let other: Reference = "elsewhere.example/wasm/t:v1".parse().expect("valid");
    let e = registry.manifest_get(&other, &[]).expect_err("another registry");
    assert!(matches!(e, OciError::WrongRegistry { .. }), "{e}");
    let process_log = process.log();
    assert!(!process_log.contains("/v2/wasm/big"), "nothing was sent: {process_log}");
}

#[test]
fn plain_http_is_only_for_a_registry_on_this_machine() {
    for host in ["registry.example:5000", "10.1.2.3:5000", "127.0.0.1.nip.io", "[fe80::1]:5000"] {
        let e = Registry::new(host, &builder(), options(Credentials::Anonymous, true)).expect_err(host);
        assert!(matches!(e, OciError::InsecureNotLoopback { .. }), "{host}: {e}");
        assert_mentions(&e, &[host]);
    }
    for host in ["localhost:5000", "127.0.0.1:5000", "[::1]:5000", "127.9.9.9"] {
        Registry::new(host, &builder(), options(Credentials::Anonymous, true)).expect(host);
    }
    // Pinning required: plain HTTP is refused even on this machine.
    let strict = ClientBuilder::new(PinningConfig::new().require_pinning(true));
    let e = Registry::new("127.0.0.1:5000", &strict, options(Credentials::Anonymous, true)).expect_err("strict");
    assert!(matches!(e, OciError::Pinning { .. }), "{e}");
    // And HTTPS without pins for the registry is refused at once.
    let e = Registry::new("127.0.0.1:5000", &strict, options(Credentials::Anonymous, false)).expect_err("strict");
    assert!(matches!(e, OciError::Client { .. }), "{e}");
    assert_mentions(&e, &["WSC_REGISTRY_PINS"]);
}
