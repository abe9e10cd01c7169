//! Faults a real registry does not make, from a small fake server on
//! 127.0.0.1: retried 500 and 429 with Retry-After, lying digests,
//! oversized and truncated answers, registry error bodies, redirects,
//! upload locations, a registry with a referrers API, and a racing writer
//! of the fallback tag.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use wsc_oci::OciError;
use wsc_oci::registry::{Credentials, Digest, OCI_INDEX, OCI_MANIFEST, Reference, ReferrerUpdate, ReferrersSource};
use wsc_oci::spec::{Descriptor, MediaType};

use crate::support::fake::{FakeServer, Request, Response};
use crate::support::{Artifact, BUNDLE, SBOM, assert_mentions, insecure_client};

fn manifest_answer(bytes: &[u8], digest: &Digest) -> Response {
    Response::status(200)
        .header("Content-Type", OCI_MANIFEST)
        .header("Docker-Content-Digest", &digest.to_string())
        .body(bytes.to_vec())
}

fn reference(server: &FakeServer, rest: &str) -> Reference {
    format!("{}/{rest}", server.host()).parse().expect("a valid reference")
}

#[test]
fn a_500_and_a_429_with_retry_after_are_retried() {
    let artifact = Artifact::new("retried", "r");
    let digest = artifact.digest();
    let count = Arc::new(AtomicUsize::new(0));
    let server = {
        let (count, bytes) = (count.clone(), artifact.manifest.clone());
        FakeServer::start(move |_: &Request| match count.fetch_add(1, Ordering::SeqCst) {
            0 => Response::status(500).body("boom"),
            1 => Response::status(429).header("Retry-After", "1").body(r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#),
            _ => manifest_answer(&bytes, &digest),
        })
    };
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let start = Instant::now();
    let m = registry.manifest_get(&reference(&server, "wasm/r:v1"), &[]).expect("after two retries");
    assert_eq!(m.digest, digest);
    assert_eq!(registry.retries(), 2);
    assert!(start.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured: {:?}", start.elapsed());
    assert_eq!(server.requests().len(), 3);

    // A registry that keeps failing: the last status, after every attempt.
    let failing = FakeServer::start(|_: &Request| Response::status(503).body("down for maintenance"));
    let registry = insecure_client(&failing.host(), Credentials::Anonymous);
    let e = registry.manifest_get(&reference(&failing, "wasm/r:v1"), &[]).expect_err("503 every time");
    assert!(matches!(e, OciError::Request { .. }), "{e}");
    assert_mentions(&e, &["fetching manifest v1 of wasm/r", "HTTP 503 after 3 attempt(s)", "down for maintenance"]);
    assert_eq!(failing.requests().len(), 3);
}

#[test]
fn digests_that_do_not_match_the_bytes_are_refused() {
    let artifact = Artifact::new("lying", "l");
    let real = artifact.digest();
    let forged = artifact.manifest.iter().map(|b| if *b == b'l' { b'L' } else { *b }).collect::<Vec<u8>>();
    let server = {
        let forged = forged.clone();
        // Serves other bytes under the real digest, by digest and by tag.
        FakeServer::start(move |_: &Request| manifest_answer(&forged, &real))
    };
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let e = registry.manifest_get(&reference(&server, &format!("wasm/l@{real}")), &[]).expect_err("by digest");
    assert!(matches!(e, OciError::DigestMismatch { check: "the digest asked for", .. }), "{e}");
    let e = registry.manifest_get(&reference(&server, "wasm/l:v1"), &[]).expect_err("by tag");
    assert!(matches!(e, OciError::DigestMismatch { check: "Docker-Content-Digest", .. }), "{e}");
    assert_mentions(&e, &[&real.to_string(), &Digest::of(&forged).to_string()]);
    // HEAD: the digest the registry names must be the one asked for.
    let other = Digest::of(b"other");
    let e = registry.manifest_head(&reference(&server, &format!("wasm/l@{other}")), &[]).expect_err("HEAD");
    assert!(matches!(e, OciError::DigestMismatch { .. }), "{e}");
}

#[test]
fn oversized_manifests_and_unexpected_media_types_are_refused() {
    let big = vec![b'{'; 4 * 1024 * 1024 + 1];
    let server = FakeServer::start(move |r: &Request| {
        if r.path().ends_with("/big") {
            Response::status(200).header("Content-Type", OCI_MANIFEST).body(big.clone())
        } else {
            Response::status(200).header("Content-Type", "text/html").body("<html>")
        }
    });
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let e = registry.manifest_get(&reference(&server, "wasm/m:big"), &[]).expect_err("over 4 MiB");
    assert!(matches!(e, OciError::TooLarge { what: "manifest", limit: 4194304, .. }), "{e}");
    let e = registry.manifest_get(&reference(&server, "wasm/m:html"), &[]).expect_err("text/html");
    assert!(matches!(e, OciError::MediaType { .. }), "{e}");
    assert_mentions(&e, &["text/html", OCI_MANIFEST]);
}

#[test]
fn truncated_and_overlong_blob_streams_are_refused() {
    let blob = vec![7u8; 100_000];
    let digest = Digest::of(&blob);
    // No Content-Length, and more bytes than the descriptor's size.
    let server = {
        let mut more = blob.clone();
        more.extend_from_slice(b"extra");
        FakeServer::start(move |_: &Request| Response::status(200).body(more.clone()).no_length())
    };
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let e = registry.blob_get("wasm/b", &digest, blob.len() as u64, 1 << 20).expect_err("overlong");
    assert!(matches!(e, OciError::Overlong { expected: 100_000, .. }), "{e}");

    // Content-Length promises the whole blob, the connection closes early.
    let short = FakeServer::start({
        let blob = blob.clone();
        move |_: &Request| Response::status(200).body(blob[..60_000].to_vec()).declared_length(blob.len())
    });
    let registry = insecure_client(&short.host(), Credentials::Anonymous);
    let mut out = Vec::new();
    let e = registry.blob_get_to("wasm/b", &digest, blob.len() as u64, &mut out).expect_err("truncated");
    assert!(matches!(e, OciError::Read { .. } | OciError::Truncated { .. }), "{e}");
    assert!(out.len() <= 60_000, "only what arrived was written");

    // No Content-Length, and fewer bytes than the descriptor's size.
    let unsized_short = FakeServer::start({
        let blob = blob.clone();
        move |_: &Request| Response::status(200).body(blob[..60_000].to_vec()).no_length()
    });
    let registry = insecure_client(&unsized_short.host(), Credentials::Anonymous);
    let e = registry.blob_get("wasm/b", &digest, blob.len() as u64, 1 << 20).expect_err("truncated");
    assert!(matches!(e, OciError::Truncated { expected: 100_000, received: 60_000, .. }), "{e}");
}

#[test]
fn registry_errors_and_redirects_are_reported() {
    let server = FakeServer::start(|r: &Request| match r.path() {
        p if p.ends_with("/manifests/gone") => Response::status(404)
            .header("Content-Type", "application/json")
            .body(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"gone"}}]}"#),
        p if p.ends_with("/manifests/denied") => Response::status(403)
            .body(r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#),
        p if p.contains("/blobs/") => Response::status(307).header("Location", "https://cdn.example/blob"),
        _ => Response::status(400).body(r#"{"errors":[{"code":"NAME_INVALID","message":"invalid repository name"}]}"#),
    });
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let e = registry.manifest_get(&reference(&server, "wasm/e:gone"), &[]).expect_err("404");
    assert!(e.is_not_found());
    assert_mentions(&e, &["MANIFEST_UNKNOWN: manifest unknown", "/v2/wasm/e/manifests/gone"]);
    let e = registry.manifest_get(&reference(&server, "wasm/e:denied"), &[]).expect_err("403");
    assert!(matches!(e, OciError::Unauthorized { status: 403, .. }), "{e}");
    assert_mentions(&e, &["DENIED: requested access to the resource is denied"]);
    let e = registry.manifest_get(&reference(&server, "wasm/e:other"), &[]).expect_err("400");
    assert!(matches!(e, OciError::Status { status: 400, .. }), "{e}");
    assert_mentions(&e, &["NAME_INVALID"]);
    let e = registry.blob_get("wasm/e", &Digest::of(b"x"), 1, 1).expect_err("307");
    assert!(matches!(e, OciError::Redirect { status: 307, .. }), "{e}");
    assert_mentions(&e, &["https://cdn.example/blob", "redirects are not followed"]);
}

#[test]
fn upload_locations_relative_are_followed_and_foreign_ones_refused() {
    let foreign = Arc::new(Mutex::new(false));
    let server = {
        let foreign = foreign.clone();
        FakeServer::start(move |r: &Request| match (r.method.as_str(), r.path()) {
            ("HEAD", _) => Response::status(404),
            ("POST", "/v2/wasm/u/blobs/uploads/") => {
                let location = if *foreign.lock().expect("flag") {
                    "http://127.0.0.2:1/v2/wasm/u/blobs/uploads/abc?_state=s".to_string()
                } else {
                    "/v2/wasm/u/blobs/uploads/abc?_state=s%2Bt".to_string()
                };
                Response::status(202).header("Location", &location)
            }
            ("PUT", "/v2/wasm/u/blobs/uploads/abc") => {
                let digest = Digest::of(&r.body);
                let ok = r.target.contains("_state=s%2Bt")
                    && r.target.contains(&format!("digest=sha256%3A{}", digest.hex()))
                    && r.header("content-type") == Some("application/octet-stream");
                if ok {
                    Response::status(201).header("Docker-Content-Digest", &digest.to_string())
                } else {
                    Response::status(400).body(format!("unexpected {}", r.target))
                }
            }
            _ => Response::status(404),
        })
    };
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let digest = registry.blob_upload("wasm/u", b"blob bytes").expect("relative location");
    assert_eq!(digest, Digest::of(b"blob bytes"));
    *foreign.lock().expect("flag") = true;
    let e = registry.blob_upload("wasm/u", b"more bytes").expect_err("another origin");
    assert!(matches!(e, OciError::Location { .. }), "{e}");
    assert_mentions(&e, &["127.0.0.2", "another origin"]);
    assert!(!server.requests().iter().any(|r| r.method == "PUT" && r.body == b"more bytes"));
}

/// A referrers entry of `artifact_type` for `bytes`.
fn entry(bytes: &[u8], artifact_type: &str) -> Descriptor {
    let mut d = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, Digest::of(bytes).to_oci());
    d.set_artifact_type(Some(artifact_type.into()));
    d
}

fn index_json(entries: &[Descriptor]) -> Vec<u8> {
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})).expect("JSON")
}

#[test]
fn a_registry_with_a_referrers_api_keeps_the_list_itself() {
    let subject = Digest::of(b"subject");
    let (bundle, sbom) = (entry(b"bundle", BUNDLE), entry(b"sbom", SBOM));
    let listed = index_json(&[bundle.clone(), sbom.clone()]);
    let server = FakeServer::start(move |r: &Request| {
        if r.path() == format!("/v2/wasm/a/referrers/{subject}") {
            // Ignores the artifactType filter: the client applies it.
            Response::status(200).header("Content-Type", OCI_INDEX).body(listed.clone())
        } else {
            Response::status(404)
        }
    });
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let all = registry.referrers("wasm/a", &subject, None).expect("the API");
    assert_eq!(all.source, ReferrersSource::Api);
    assert_eq!(all.descriptors, vec![bundle.clone(), sbom.clone()]);
    let filtered = registry.referrers("wasm/a", &subject, Some(BUNDLE)).expect("filtered");
    assert_eq!(filtered.descriptors, vec![bundle.clone()]);
    assert!(server.requests().iter().any(|r| r.target.contains("artifactType=application%2Fvnd.dev.sigstore")));
    assert_eq!(registry.add_referrer("wasm/a", &subject, &sbom).expect("listed"), ReferrerUpdate::Api);
    let e = registry.add_referrer("wasm/a", &subject, &entry(b"other", BUNDLE)).expect_err("not listed");
    assert!(matches!(e, OciError::ReferrerNotListed { .. }), "{e}");
    assert!(!server.requests().iter().any(|r| r.method == "PUT"), "nothing is written to a registry with the API");
}

/// The fallback tag's store of a fake registry without a referrers API.
#[derive(Default)]
struct TagStore {
    stored: Option<Vec<u8>>,
    /// Replace the index with `rival` at the next read after a write.
    rival: Option<Vec<u8>>,
    if_match: Vec<Option<String>>,
}

#[test]
fn a_racing_writer_of_the_fallback_tag_is_detected_and_the_entry_added_again() {
    let subject = Digest::of(b"subject");
    let ours = entry(b"ours", BUNDLE);
    let theirs = entry(b"theirs", SBOM);
    let store = Arc::new(Mutex::new(TagStore {
        rival: Some(index_json(std::slice::from_ref(&theirs))),
        ..TagStore::default()
    }));
    let tag_path = format!("/v2/wasm/race/manifests/{}", subject.fallback_tag());
    let server = {
        let store = store.clone();
        FakeServer::start(move |r: &Request| {
            let mut s = store.lock().expect("store");
            if r.path() != tag_path {
                return Response::status(404);
            }
            match r.method.as_str() {
                "GET" => match &s.stored {
                    Some(bytes) => {
                        let bytes = bytes.clone();
                        let digest = Digest::of(&bytes);
                        Response::status(200)
                            .header("Content-Type", OCI_INDEX)
                            .header("Docker-Content-Digest", &digest.to_string())
                            .header("Etag", &format!("\"{digest}\""))
                            .body(bytes)
                    }
                    None => Response::status(404).body(r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#),
                },
                "PUT" => {
                    s.if_match.push(r.header("if-match").map(str::to_string));
                    s.stored = Some(r.body.clone());
                    // Another writer's index lands right after ours (If-Match ignored).
                    if let Some(rival) = s.rival.take() {
                        s.stored = Some(rival);
                    }
                    Response::status(201).header("Docker-Content-Digest", &Digest::of(&r.body).to_string())
                }
                _ => Response::status(405),
            }
        })
    };
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let update = registry.add_referrer("wasm/race", &subject, &ours).expect("added after the race");
    let ReferrerUpdate::FallbackTag { added: true, attempts: 2, index } = update else {
        panic!("expected a second attempt: {update:?}")
    };
    let s = store.lock().expect("store");
    let stored = s.stored.clone().expect("an index");
    assert_eq!(Digest::of(&stored), index);
    let rival_digest = Digest::of(&index_json(std::slice::from_ref(&theirs)));
    // The first write had no index to match; the second matched the rival's.
    assert_eq!(s.if_match, vec![None, Some(format!("\"{rival_digest}\""))]);
    drop(s);
    let both = registry.referrers("wasm/race", &subject, None).expect("read back");
    let mut expected = vec![ours, theirs];
    expected.sort_by_key(|a| a.digest().to_string());
    assert_eq!(both.descriptors, expected, "the rival's entry is kept and ours added");
}

#[test]
fn an_expired_token_is_renewed_once_from_a_realm_on_another_origin() {
    let issued = Arc::new(AtomicUsize::new(0));
    let tokens = {
        let issued = issued.clone();
        FakeServer::start(move |r: &Request| {
            assert!(r.target.starts_with("/token?service=fake"), "{}", r.target);
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            Response::status(200).body(format!(r#"{{"token":"t{n}"}}"#))
        })
    };
    let realm = format!("http://{}/token", tokens.host());
    // Each token is good for one request, as if it expired right after.
    let valid = Arc::new(Mutex::new("Bearer t1".to_string()));
    let registry_server = FakeServer::start(move |r: &Request| {
        let mut v = valid.lock().expect("token");
        if r.header("authorization") == Some(v.as_str()) {
            let next: u32 = v.trim_start_matches("Bearer t").parse().expect("a number");
            *v = format!("Bearer t{}", next + 1);
            return Response::status(200).body("{}");
        }
        Response::status(401).header("WWW-Authenticate", &format!(r#"Bearer realm="{realm}",service="fake""#))
    });
    let registry = insecure_client(&registry_server.host(), Credentials::Anonymous);
    registry.ping().expect("a first token");
    registry.ping().expect("a renewed token");
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(registry_server.requests().len(), 4, "each ping: a refused request, then one with the new token");
}

#[test]
fn challenges_that_cannot_be_answered_are_refused() {
    let cases = [
        (r#"Bearer realm="http://registry.example/token",service="x""#, "plain HTTP is allowed only"),
        (r#"Bearer realm="ftp://127.0.0.1/token""#, "not an https URL"),
        (r#"Bearer realm="https://user:pw@127.0.0.1/token""#, "may not hold credentials"),
        (r#"Bearer service="x""#, "without a realm"),
        ("Negotiate abc=1", "only Basic and Bearer"),
        ("", "WWW-Authenticate"),
    ];
    for (challenge, why) in cases {
        let header = challenge.to_string();
        let server = FakeServer::start(move |_: &Request| {
            let r = Response::status(401);
            if header.is_empty() { r } else { r.header("WWW-Authenticate", &header) }
        });
        let registry = insecure_client(&server.host(), Credentials::basic("u", "p"));
        let e = registry.ping().expect_err(challenge);
        assert!(matches!(e, OciError::Realm { .. } | OciError::Challenge { .. }), "{challenge}: {e}");
        assert_mentions(&e, &[why]);
        assert_eq!(server.requests().len(), 1, "{challenge}: nothing sent after the challenge");
    }
}

#[test]
fn a_registry_listing_more_bundles_than_the_budget_gets_only_the_budget_read() {
    use std::collections::HashMap;
    use wsc_oci::sigstore::{MAX_BUNDLES_READ, ReferrerContent, fetch_referrers};
    let subject = Digest::of(b"subject");
    let bundle = b"{\"a bundle\": true}".to_vec();
    let bundle_digest = Digest::of(&bundle);
    // One more referrer than the budget, each a distinct manifest naming the subject.
    let manifests: Vec<Vec<u8>> = (0..=MAX_BUNDLES_READ)
        .map(|i| {
            serde_json::to_vec(&json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
                "layers": [{"mediaType": BUNDLE, "digest": bundle_digest.to_string(), "size": bundle.len()}],
                "subject": {"mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": 7},
                "annotations": {"n": i.to_string()},
            }))
            .expect("JSON")
        })
        .collect();
    let entries: Vec<Descriptor> = manifests.iter().map(|m| entry(m, BUNDLE)).collect();
    let listed = index_json(&entries);
    let by_path: HashMap<String, Vec<u8>> =
        manifests.iter().map(|m| (format!("/v2/wasm/a/manifests/{}", Digest::of(m)), m.clone())).collect();
    let server = FakeServer::start(move |r: &Request| {
        if r.path() == format!("/v2/wasm/a/referrers/{subject}") {
            Response::status(200).header("Content-Type", OCI_INDEX).body(listed.clone())
        } else if let Some(m) = by_path.get(r.path()) {
            manifest_answer(m, &Digest::of(m))
        } else if r.path() == format!("/v2/wasm/a/blobs/{bundle_digest}") {
            Response::status(200).body(bundle.clone())
        } else {
            Response::status(404)
        }
    });
    let registry = insecure_client(&server.host(), Credentials::Anonymous);
    let found = fetch_referrers(&registry, &reference(&server, "wasm/a:v1"), &subject).expect("referrers");
    assert_eq!(found.len(), MAX_BUNDLES_READ + 1);
    let read = found.iter().filter(|r| matches!(r.content, ReferrerContent::Bundle(_))).count();
    assert_eq!(read, MAX_BUNDLES_READ);
    let last = found.iter().find(|r| matches!(&r.content, ReferrerContent::Broken(why) if why.contains("budget")));
    assert!(last.is_some(), "{found:?}");
    // The one past the budget was not even asked for.
    let manifest_gets = server.requests().iter().filter(|r| r.target.contains("/manifests/sha256:")).count();
    assert_eq!(manifest_gets, MAX_BUNDLES_READ);
}
