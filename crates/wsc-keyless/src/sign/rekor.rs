//! Rekor: upload an entry and turn the answer into the bundle's
//! transparency-log entry. v1 (`/api/v1/log/entries`: `hashedrekord` and
//! `dsse` 0.0.1, with a SET) and v2 (`/api/v2/log/entries`: `hashedrekord`
//! 0.0.2, no SET, so an RFC 3161 timestamp is required). The entry is
//! checked later, with the whole bundle, by the offline verifier.

use std::collections::BTreeMap;

use sigstore_verify::rekor::{HashedRekord, HashedRekordV2, LogEntry, RekorV2KeyDetails};
use sigstore_verify::types::{
    DerCertificate, DsseEnvelope, KindVersion, Sha256Hash, SignatureBytes, TransparencyLogEntry,
};

use super::SignError;
use wsc_pinning::ServiceClient;

/// Logs `signature` over `digest` with `certificate` (`hashedrekord` 0.0.1).
pub(crate) fn create_hashedrekord(
    client: &ServiceClient,
    digest: &[u8; 32],
    signature: &[u8],
    certificate: &[u8],
) -> Result<TransparencyLogEntry, SignError> {
    let request = HashedRekord::new(
        &Sha256Hash::new(*digest),
        &SignatureBytes::new(signature.to_vec()),
        &DerCertificate::new(certificate.to_vec()),
    );
    let body =
        serde_json::to_vec(&request).map_err(|e| SignError::log_entry("cannot encode the request").because(e))?;
    create_entry(client, body, KindVersion::HashedRekordV001)
}

/// Logs `signature` over `digest` with `certificate` in a Rekor v2 log
/// (`hashedrekord` 0.0.2); the answer is the bundle's entry itself.
pub(crate) fn create_hashedrekord_v2(
    client: &ServiceClient,
    digest: &[u8; 32],
    signature: &[u8],
    certificate: &[u8],
) -> Result<TransparencyLogEntry, SignError> {
    let request = HashedRekordV2::new_with_certificate(
        &Sha256Hash::new(*digest),
        &SignatureBytes::new(signature.to_vec()),
        &DerCertificate::new(certificate.to_vec()),
        RekorV2KeyDetails::PkixEcdsaP256Sha256,
    );
    let body =
        serde_json::to_vec(&request).map_err(|e| SignError::log_entry("cannot encode the request").because(e))?;
    let url = format!("{}/api/v2/log/entries", client.url());
    let answer = client.send(&url, &|c| {
        c.post(&url).header("Content-Type", "application/json").header("Accept", "application/json").body(body.clone())
    })?;
    let answer = client.expect(&url, answer, &[200, 201])?;
    let entry: TransparencyLogEntry = serde_json::from_slice(&answer.body)
        .map_err(|e| SignError::log_entry("the answer is not a Rekor v2 log entry").because(e))?;
    if entry.kind_version != KindVersion::HashedRekordV002 {
        return Err(SignError::log_entry("the v2 entry is not hashedrekord 0.0.2"));
    }
    if entry.inclusion_proof.is_none() {
        return Err(SignError::log_entry("the entry has no inclusion proof"));
    }
    Ok(entry)
}

/// Logs a DSSE envelope (`dsse` 0.0.1) whose signature verifies with
/// `verifier_pem`: a Fulcio certificate, or a managed key's public key.
/// (sigstore-rekor's `DsseEntry::new` takes a certificate only; the
/// request is the same JSON either way.)
pub(crate) fn create_dsse(
    client: &ServiceClient,
    envelope: &DsseEnvelope,
    verifier_pem: &str,
) -> Result<TransparencyLogEntry, SignError> {
    use base64::Engine as _;
    let envelope =
        serde_json::to_string(envelope).map_err(|e| SignError::log_entry("cannot encode the envelope").because(e))?;
    let verifier = base64::engine::general_purpose::STANDARD.encode(verifier_pem.as_bytes());
    let request = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": envelope, "verifiers": [verifier]}},
    });
    let body =
        serde_json::to_vec(&request).map_err(|e| SignError::log_entry("cannot encode the request").because(e))?;
    create_entry(client, body, KindVersion::DsseV001)
}

/// The URL of a `Location` that names an entry of the log at `base`: a path,
/// or an absolute URL under `base`; anything on another host is refused.
fn same_log_url(base: &str, location: &str) -> Result<String, SignError> {
    if location.starts_with('/') {
        Ok(format!("{base}{location}"))
    } else if location.starts_with(&format!("{base}/")) {
        Ok(location.to_string())
    } else {
        Err(SignError::log_entry(format!("409 Conflict names an entry on another host: {location}")))
    }
}

/// Posts an entry request; returns the entry in bundle form.
fn create_entry(client: &ServiceClient, body: Vec<u8>, kind: KindVersion) -> Result<TransparencyLogEntry, SignError> {
    let url = format!("{}/api/v1/log/entries", client.url());
    let answer = client.send(&url, &|c| {
        c.post(&url).header("Content-Type", "application/json").header("Accept", "application/json").body(body.clone())
    })?;
    let entry_json = match answer.status {
        200 | 201 => answer.body,
        // A retry after a lost answer: the entry exists; fetch it.
        409 => {
            let location = answer
                .headers
                .get(wsc_pinning::reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| SignError::log_entry("409 Conflict without a Location"))?
                .to_string();
            let get = same_log_url(client.url(), &location)?;
            let again = client.send(&get, &|c| c.get(&get).header("Accept", "application/json"))?;
            if again.status != 200 {
                return Err(SignError::log_entry(format!("fetching the existing entry: HTTP {}", again.status)));
            }
            again.body
        }
        _ => return Err(client.unexpected(&url, &answer).into()),
    };
    let map: BTreeMap<String, LogEntry> = serde_json::from_slice(&entry_json)
        .map_err(|e| SignError::log_entry("the answer is not a Rekor v1 log entry").because(e))?;
    let mut entries = map.into_values();
    let (Some(entry), None) = (entries.next(), entries.next()) else {
        return Err(SignError::log_entry("the answer must hold exactly one entry"));
    };
    if entry.verification.as_ref().and_then(|v| v.inclusion_proof.as_ref()).is_none() {
        return Err(SignError::log_entry("the entry has no inclusion proof"));
    }
    if entry.verification.as_ref().and_then(|v| v.signed_entry_timestamp.as_ref()).is_none() {
        return Err(SignError::log_entry("the entry has no signed entry timestamp"));
    }
    entry.to_bundle_entry(kind).map_err(|e| SignError::log_entry("the entry cannot go into a bundle").because(e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_conflict_location_must_be_on_the_same_log() {
        let base = "https://rekor.test";
        assert_eq!(
            super::same_log_url(base, "/api/v1/log/entries/ab").expect("path"),
            "https://rekor.test/api/v1/log/entries/ab"
        );
        assert_eq!(
            super::same_log_url(base, "https://rekor.test/api/v1/log/entries/ab").expect("same host"),
            "https://rekor.test/api/v1/log/entries/ab"
        );
        for other in
            ["https://evil.test/api/v1/log/entries/ab", "https://rekor.test.evil.test/x", "http://rekor.test/x"]
        {
            assert!(super::same_log_url(base, other).is_err(), "{other}");
        }
    }
}
