//! Registry evidence without a Sigstore instance: the checks that come
//! before any bundle is verified. The manifest must bind the module
//! evaluated; a referrer that is not a bundle, is broken, or is not an
//! attestation never counts; without registry evidence an attestation
//! principal is never met. (Bundles signed by a real local Sigstore are
//! tested in `crates/wsc-cli/tests/oci.rs`.)

use std::path::Path;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wsc_policy::{Decision, Format, MemoryFiles, Referrer, ReferrerContent, RegistryEvidence, Target, Verdict};

const POLICY: &str = r#"
schema = "wsc-policy/v1"
[principals.ci]
kind = "keyless"
issuer = "https://token.actions.githubusercontent.com"
identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
[principals.provenance]
kind = "attestation"
predicate_type = "https://slsa.dev/provenance/v1"
signer = "ci"
[default]
rule = "provenance"
"#;

fn module() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/modules/add.wasm"))
        .expect("add.wasm")
}

fn manifest(layer: &[u8]) -> Vec<u8> {
    let digest = format!("sha256:{}", wsc_core::keys::hex(&Sha256::digest(layer)));
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": digest, "size": 2},
        "layers": [{"mediaType": "application/wasm", "digest": digest, "size": layer.len()}],
    }))
    .expect("JSON")
}

fn evaluate(manifest: &[u8], referrers: &[Referrer]) -> Verdict {
    let policy = wsc_policy::parse(POLICY.as_bytes(), Format::Toml, &MemoryFiles::default()).expect("policy");
    let m = module();
    let registry = RegistryEvidence { manifest, referrers };
    policy
        .evaluate_pulled(m.as_slice(), Some(m.len() as u64), &Target::unnamed(), SystemTime::now(), &registry)
        .expect("evaluation")
}

fn codes(v: &Verdict) -> Vec<&'static str> {
    v.reasons().iter().map(|r| r.code.as_str()).collect()
}

fn referrer(n: u8, content: ReferrerContent) -> Referrer {
    Referrer { digest: format!("sha256:{:064x}", n), artifact_type: None, content }
}

#[test]
fn a_manifest_that_does_not_bind_the_module_counts_nothing() {
    let mut other = module();
    other.push(0);
    let v = evaluate(&manifest(&other), &[]);
    assert_eq!(v.decision(), Decision::Rejected);
    assert!(codes(&v).contains(&"attestation_invalid"), "{:?}", v.reasons());
    // The same manifest over the module itself: only the attestation is missing.
    let v = evaluate(&manifest(&module()), &[]);
    assert_eq!(v.decision(), Decision::Rejected);
    assert_eq!(codes(&v), ["rule_unsatisfied", "attestation_missing"]);
    assert_eq!(v.manifest_digest(), Some(Sha256::digest(manifest(&module())).into()));
}

#[test]
fn referrers_that_are_not_attestations_are_listed_and_never_count() {
    let dsse_less = r#"{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}"#;
    let referrers = [
        referrer(1, ReferrerContent::Other("an SBOM".into())),
        referrer(2, ReferrerContent::Broken("its subject is elsewhere".into())),
        referrer(3, ReferrerContent::Bundle("not JSON".into())),
        referrer(4, ReferrerContent::Bundle(dsse_less.into())),
    ];
    let v = evaluate(&manifest(&module()), &referrers);
    assert_eq!(v.decision(), Decision::Rejected);
    let outcomes: Vec<&str> = v.referrers().iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["ignored", "failed", "failed", "failed"]);
    assert!(codes(&v).contains(&"attestation_invalid"), "{:?}", v.reasons());
    assert!(codes(&v).contains(&"attestation_missing"), "{:?}", v.reasons());
    let json = v.to_json();
    assert_eq!(json["registry"]["referrers"].as_array().map(Vec::len), Some(4));
}

#[test]
fn without_registry_evidence_an_attestation_is_missing() {
    let policy = wsc_policy::parse(POLICY.as_bytes(), Format::Toml, &MemoryFiles::default()).expect("policy");
    let m = module();
    let v = policy.evaluate(m.as_slice(), None, &Target::unnamed(), SystemTime::now()).expect("evaluation");
    assert_eq!(v.decision(), Decision::Rejected);
    assert!(codes(&v).contains(&"attestation_missing"), "{:?}", v.reasons());
    assert!(v.to_json()["registry"].is_null());
}
