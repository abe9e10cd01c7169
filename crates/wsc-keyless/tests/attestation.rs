//! Reading attestations: a real GitHub-style DSSE bundle (from the
//! Sigstore conformance suite) is read, then its payload is replaced by
//! crafted statements, each off in one way, and refused with the part
//! named. (Verified attestations, signed by the local Sigstore, are tested
//! in `crates/wsc-cli/tests/oci.rs`.)

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};
use wsc_keyless::{KeylessError, read_statement};

const HAPPY: &str = "../../testdata/sigstore/bundle-verify-dev/happy-path-intoto-in-dsse-v3/bundle.sigstore.json";
const DIGEST: &str = "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";

fn bundle() -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(HAPPY)).expect("bundle");
    serde_json::from_str(&text).expect("JSON")
}

fn with_payload(payload: &[u8], payload_type: &str) -> String {
    let mut b = bundle();
    b["dsseEnvelope"]["payload"] = json!(base64::engine::general_purpose::STANDARD.encode(payload));
    b["dsseEnvelope"]["payloadType"] = json!(payload_type);
    b.to_string()
}

fn statement(edit: impl FnOnce(&mut Value)) -> String {
    let mut s = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a", "digest": {"sha256": DIGEST}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    });
    edit(&mut s);
    with_payload(s.to_string().as_bytes(), "application/vnd.in-toto+json")
}

#[test]
fn a_real_attestation_reads() {
    let s = read_statement(&bundle().to_string()).expect("statement");
    assert_eq!(s.predicate_type, "https://slsa.dev/provenance/v1");
    let mut digest = [0u8; 32];
    for (i, d) in digest.iter_mut().enumerate() {
        *d = u8::from_str_radix(&DIGEST[2 * i..2 * i + 2], 16).expect("hex");
    }
    assert!(s.names(&digest));
    assert!(!s.names(&[0; 32]));
}

#[test]
fn statements_off_in_one_way_are_refused_naming_it() {
    let many: Vec<Value> = (0..1025).map(|_| json!({"digest": {"sha256": DIGEST}})).collect();
    let cases: Vec<(String, &str)> = vec![
        (with_payload(b"{}", "application/json"), "payload type"),
        (with_payload(b"not json", "application/vnd.in-toto+json"), "not JSON"),
        (statement(|s| s["_type"] = json!("https://in-toto.io/Statement/v0.1")), "_type"),
        (statement(|s| s["predicateType"] = json!("")), "predicateType"),
        (statement(|s| s.as_object_mut().map(|o| o.remove("predicateType")).map(drop).unwrap_or(())), "predicateType"),
        (statement(|s| s["subject"] = json!([])), "subjects"),
        (statement(|s| s["subject"] = json!(many)), "subjects"),
        (statement(|s| s["subject"] = json!("a")), "subject list"),
        (statement(|s| s["subject"][0]["digest"]["sha256"] = json!(DIGEST.to_uppercase())), "subject[0]"),
        (statement(|s| s["subject"][0]["digest"]["sha256"] = json!(&DIGEST[..62])), "subject[0]"),
    ];
    for (bundle, needle) in cases {
        match read_statement(&bundle) {
            Err(e @ KeylessError::NotAttestation(_)) => {
                assert!(e.to_string().contains(needle), "{needle}: {e}");
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
    // A message-signature bundle is no attestation either.
    let conformance = "../../testdata/sigstore/bundle-verify-dev";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(conformance).join("happy-path-v0.3");
    let text = std::fs::read_to_string(dir.join("bundle.sigstore.json")).expect("message-signature bundle");
    assert!(matches!(read_statement(&text), Err(KeylessError::NotAttestation(_))));
}
