//! The Sigstore conformance bundles (`testdata/sigstore/bundle-verify-dev`,
//! made by the real Sigstore services), each verified from the file and from
//! its `sha256:` digest, each failure for its intended reason; plus derived
//! negatives: wrong identity, wrong issuer, changed artifact.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wsc_keyless::sigstore_verify::types::{Artifact, Sha256Hash};
use wsc_keyless::sigstore_verify::{self as sv, CertificateError, TimestampError, TransparencyLogError};
use wsc_keyless::{BundleVerifier, Expectation, IdentityPolicy, KeylessError, Matcher};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sigstore/bundle-verify-dev")
}

/// Why each `_fail` case must fail.
fn expected_failure(case: &str, e: &KeylessError) -> bool {
    use KeylessError as K;
    match case {
        "bundle-from-wrong-instance_fail" => {
            matches!(
                e,
                K::Verify(sv::Error::TransparencyLog(
                    TransparencyLogError::InclusionPromise(_) | TransparencyLogError::UnknownLog { .. }
                ))
            ) || matches!(e, K::Verify(sv::Error::Certificate(CertificateError::ChainInvalid(_))))
        }
        "bundle-malformed-json_fail" => matches!(e, K::Bundle(_)),
        "checkpoint-bad-keyhint_fail" | "rekor2-checkpoint-missing-origin_fail" => {
            matches!(e, K::Verify(sv::Error::TransparencyLog(TransparencyLogError::Checkpoint(_))))
                || matches!(e, K::Bundle(m) if m.to_string().contains("checkpoint"))
        }
        "dsse-invalid-sig_fail" | "signature-mismatch_fail" => matches!(e, K::Verify(sv::Error::SignatureInvalid(_))),
        "inclusion-proof-corrupted-hash_fail" => {
            matches!(e, K::Verify(sv::Error::TransparencyLog(TransparencyLogError::InclusionProof(_))))
        }
        "invalid-ct-key_fail" => matches!(e, K::Verify(sv::Error::Certificate(CertificateError::Sct(_)))),
        "managed-key-wrong-key_fail" => matches!(e, K::PublicKey(_)),
        "rekor2-timestamp-payload-mismatch_fail" => {
            matches!(e, K::Verify(sv::Error::Timestamp(TimestampError::Invalid(_))))
        }
        "set-invalid-signature_fail" => {
            matches!(e, K::Verify(sv::Error::TransparencyLog(TransparencyLogError::InclusionPromise(_))))
        }
        "wrong-hashedrekord-artifact_fail" => matches!(e, K::Verify(sv::Error::ArtifactMismatch(_))),
        _ => false,
    }
}

struct Case {
    name: String,
    dir: PathBuf,
    artifact: Vec<u8>,
    bundle: String,
}

fn cases() -> Vec<Case> {
    let root = cases_dir();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).expect("cases") {
        let dir = entry.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let art = if dir.join("artifact").is_file() { dir.join("artifact") } else { root.join("a.txt") };
        let artifact = std::fs::read(art).expect("artifact");
        let bundle = std::fs::read_to_string(dir.join("bundle.sigstore.json")).expect("bundle");
        out.push(Case { name, dir, artifact, bundle });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn read(dir: &Path, f: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(f)).ok().map(|s| s.trim().to_string())
}

fn root_for(c: &Case) -> wsc_keyless::sigstore_verify::trust_root::TrustedRoot {
    match read(&c.dir, "trusted_root.json") {
        Some(j) => wsc_keyless::root_from_json(&j).expect("case trust root"),
        // The embedded production root, as `wsc` uses by default.
        None => wsc_keyless::production_root().expect("embedded root"),
    }
}

fn expectation(c: &Case, identity: Option<&str>, issuer: Option<&str>) -> Result<Expectation, KeylessError> {
    if let Some(pem) = read(&c.dir, "key.pub") {
        return Expectation::key_from_pem(&pem);
    }
    let id =
        identity.map(str::to_string).or_else(|| read(&c.dir, "identity")).unwrap_or_else(|| DEFAULT_IDENTITY.into());
    let iss = issuer.map(str::to_string).or_else(|| read(&c.dir, "issuer")).unwrap_or_else(|| DEFAULT_ISSUER.into());
    Ok(Expectation::Identity(IdentityPolicy::new(Matcher::Exact(id), Matcher::Exact(iss))))
}

fn run(c: &Case, exp: Result<Expectation, KeylessError>, artifact: &[u8], by_digest: bool) -> Result<(), KeylessError> {
    let v = BundleVerifier::new(&root_for(c), exp?)?;
    if by_digest {
        let d: [u8; 32] = Sha256::digest(artifact).into();
        let h = Sha256Hash::from_hex(&wsc_core::keys::hex(&d)).expect("digest");
        v.verify(Artifact::from(h), &c.bundle).map(|_| ())
    } else {
        v.verify(Artifact::Blob(artifact), &c.bundle).map(|_| ())
    }
}

#[test]
fn every_case_as_file_and_as_digest() {
    let cases = cases();
    assert!(cases.len() >= 33, "found {} cases", cases.len());
    let mut problems = Vec::new();
    for c in &cases {
        for by_digest in [false, true] {
            let r = run(c, expectation(c, None, None), &c.artifact, by_digest);
            let how = if by_digest { "digest" } else { "file" };
            match (c.name.ends_with("_fail"), r) {
                (false, Ok(())) => {}
                (false, Err(e)) => problems.push(format!("{} ({how}): must verify, got {e}", c.name)),
                (true, Ok(())) => problems.push(format!("{} ({how}): must fail, verified", c.name)),
                (true, Err(e)) if expected_failure(&c.name, &e) => {}
                (true, Err(e)) => problems.push(format!("{} ({how}): failed for another reason: {e:?}", c.name)),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Negatives the suite lacks, derived from every passing identity case.
#[test]
fn wrong_identity_issuer_or_artifact_is_rejected() {
    let mut checked = 0;
    for c in cases().iter().filter(|c| !c.name.ends_with("_fail") && !c.dir.join("key.pub").exists()) {
        let e = run(
            c,
            expectation(c, Some("https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main"), None),
            &c.artifact,
            false,
        )
        .expect_err("wrong identity");
        assert!(
            matches!(e, KeylessError::Mismatch { what: wsc_keyless::Mismatch::Identity, ref message } if message.contains("identity")),
            "{}: {e}",
            c.name
        );
        let e = run(c, expectation(c, None, Some("https://accounts.google.com")), &c.artifact, false)
            .expect_err("wrong issuer");
        assert!(
            matches!(e, KeylessError::Mismatch { what: wsc_keyless::Mismatch::Issuer, ref message } if message.contains("issuer")),
            "{}: {e}",
            c.name
        );
        let mut changed = c.artifact.clone();
        changed[0] ^= 0x01;
        for by_digest in [false, true] {
            let e = run(c, expectation(c, None, None), &changed, by_digest).expect_err("changed artifact");
            assert!(
                matches!(e, KeylessError::Verify(sv::Error::SignatureInvalid(_) | sv::Error::ArtifactMismatch(_))),
                "{} (digest {by_digest}): {e:?}",
                c.name
            );
        }
        // A regular expression over the whole identity, anchored.
        let re = IdentityPolicy::new(
            Matcher::regex("https://github.com/sigstore-conformance/.*").expect("re"),
            Matcher::Exact(read(&c.dir, "issuer").unwrap_or_else(|| DEFAULT_ISSUER.into())),
        );
        if read(&c.dir, "identity").is_none() {
            run(c, Ok(Expectation::Identity(re)), &c.artifact, false).expect("regex identity");
            let partial = IdentityPolicy::new(
                Matcher::regex("sigstore-conformance").expect("re"),
                Matcher::Exact(DEFAULT_ISSUER.into()),
            );
            let e = run(c, Ok(Expectation::Identity(partial)), &c.artifact, false).expect_err("unanchored part");
            assert!(matches!(e, KeylessError::Mismatch { what: wsc_keyless::Mismatch::Identity, .. }), "{e}");
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} identity cases");
}

/// The embedded production root is the one the suite's data expects.
#[test]
fn embedded_roots_parse() {
    wsc_keyless::production_root().expect("production");
    wsc_keyless::staging_root().expect("staging");
    let shared = std::fs::read_to_string(cases_dir().join("../trusted_root.production.json")).expect("fixture");
    wsc_keyless::root_from_json(&shared).expect("fixture parses");
}

/// Tampered bundles: proof removed, promise removed, certificate swapped for
/// another real Fulcio certificate, log entry of another bundle. Each fails.
#[test]
fn tampered_bundles_are_rejected() {
    let all = cases();
    let base = all.iter().find(|c| c.name == "happy-path-v0.3").expect("case");
    let other = all.iter().find(|c| c.name == "bundle-with-sct-with-extensions").expect("case");
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).expect("json");
    let v = parse(&base.bundle);
    let o = parse(&other.bundle);
    let mut variants: Vec<(&str, serde_json::Value)> = Vec::new();
    let mut x = v.clone();
    x["verificationMaterial"]["tlogEntries"][0].as_object_mut().expect("entry").remove("inclusionProof");
    variants.push(("inclusion proof removed", x));
    let mut x = v.clone();
    x["verificationMaterial"]["tlogEntries"][0].as_object_mut().expect("entry").remove("inclusionPromise");
    x["verificationMaterial"]["tlogEntries"][0].as_object_mut().expect("entry").remove("inclusionProof");
    variants.push(("all log evidence removed", x));
    let mut x = v.clone();
    x["verificationMaterial"]["tlogEntries"] = serde_json::json!([]);
    variants.push(("no log entry", x));
    if o["verificationMaterial"].get("certificate").is_some() {
        let mut x = v.clone();
        x["verificationMaterial"]["certificate"] = o["verificationMaterial"]["certificate"].clone();
        variants.push(("certificate swapped", x));
    }
    let mut x = v.clone();
    x["verificationMaterial"]["tlogEntries"] = o["verificationMaterial"]["tlogEntries"].clone();
    variants.push(("log entry of another bundle", x));
    let root = root_for(base);
    for (what, b) in variants {
        let v = BundleVerifier::new(&root, expectation(base, None, None).expect("policy")).expect("verifier");
        let r = v.verify(Artifact::Blob(&base.artifact), &b.to_string());
        assert!(r.is_err(), "{what}: verified");
    }
}
