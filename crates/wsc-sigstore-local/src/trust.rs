//! `trusted_root.json`, `signing_config.json` and `trust_config.json`.

use std::path::Path;

use serde_json::{Value, json};

use crate::LocalError;
use crate::codec::b64;
use crate::keys::write_atomic;

/// The public material the trust files describe.
#[derive(Debug)]
pub(crate) struct TrustMaterial<'a> {
    /// Base URL of the instance.
    pub(crate) base_url: &'a str,
    /// `validFor.start` of every service (RFC 3339).
    pub(crate) start: &'a str,
    /// Rekor key (DER SPKI) and log id.
    pub(crate) rekor_spki: &'a [u8],
    pub(crate) rekor_log_id: [u8; 32],
    /// Fulcio chain without the leaf: intermediate, root (DER).
    pub(crate) ca_chain: [&'a [u8]; 2],
    /// CT key (DER SPKI) and log id.
    pub(crate) ct_spki: &'a [u8],
    pub(crate) ct_log_id: [u8; 32],
    /// TSA chain, leaf first (DER).
    pub(crate) tsa_chain: &'a [Vec<u8>],
    /// The Rekor v2 log's Ed25519 key (DER SPKI) and log id, when it is on.
    pub(crate) rekor_v2: Option<(&'a [u8], [u8; 32])>,
}

impl TrustMaterial<'_> {
    /// The TrustedRoot document.
    pub(crate) fn trusted_root(&self) -> Value {
        let valid = json!({"start": self.start});
        let key =
            |spki: &[u8]| json!({"rawBytes": b64(spki), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": valid});
        let certs = |ders: &mut dyn Iterator<Item = &[u8]>| json!({"certificates": ders.map(|d| json!({"rawBytes": b64(d)})).collect::<Vec<_>>()});
        let mut tlogs = vec![json!({
            "baseUrl": self.base_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": key(self.rekor_spki),
            "logId": {"keyId": b64(&self.rekor_log_id)},
        })];
        if let Some((spki, log_id)) = self.rekor_v2 {
            tlogs.push(json!({
                "baseUrl": self.base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(spki), "keyDetails": "PKIX_ED25519", "validFor": valid},
                "logId": {"keyId": b64(&log_id)},
            }));
        }
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": tlogs,
            "certificateAuthorities": [{
                "subject": {"organization": "sigstore-local", "commonName": "sigstore-local"},
                "uri": self.base_url,
                "certChain": certs(&mut self.ca_chain.iter().copied()),
                "validFor": valid,
            }],
            "ctlogs": [{
                "baseUrl": self.base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": key(self.ct_spki),
                "logId": {"keyId": b64(&self.ct_log_id)},
            }],
            "timestampAuthorities": [{
                "subject": {"organization": "sigstore-local", "commonName": "sigstore-local-tsa"},
                "uri": format!("{}/api/v1/timestamp", self.base_url),
                "certChain": certs(&mut self.tsa_chain.iter().map(Vec::as_slice)),
                "validFor": valid,
            }],
        })
    }

    /// The SigningConfig v0.2 document; it names the Rekor v2 log instead of v1 when v2 is on.
    pub(crate) fn signing_config(&self) -> Value {
        let versioned = |url: String, major: u32| json!({"url": url, "majorApiVersion": major, "validFor": {"start": self.start}, "operator": "sigstore-local"});
        let service = |url: String| versioned(url, 1);
        let rekor_major = if self.rekor_v2.is_some() { 2 } else { 1 };
        json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service(self.base_url.to_string())],
            "oidcUrls": [service(self.base_url.to_string())],
            "rekorTlogUrls": [versioned(self.base_url.to_string(), rekor_major)],
            "tsaUrls": [service(format!("{}/api/v1/timestamp", self.base_url))],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        })
    }

    /// Writes the three files into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), LocalError> {
        let root = self.trusted_root();
        let signing = self.signing_config();
        let trust = json!({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": root,
            "signingConfig": signing,
        });
        for (name, doc) in
            [("trusted_root.json", &root), ("signing_config.json", &signing), ("trust_config.json", &trust)]
        {
            let mut text = serde_json::to_string_pretty(doc).map_err(|e| LocalError::Invalid(e.to_string()))?;
            text.push('\n');
            write_atomic(dir, name, text.as_bytes(), 0o644)?;
        }
        Ok(())
    }
}
