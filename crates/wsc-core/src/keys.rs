//! Keys: Ed25519 and ECDSA P-256, in the formats people have them in.
//!
//! Public keys: wasmsign2 raw (`01 ‖ pk`), SEC1 points (P-256), SPKI in DER
//! or PEM, OpenSSH lines. Secret keys: wasmsign2 raw (`81 ‖ seed ‖ pk`),
//! PKCS#8 in DER or PEM, SEC1 (P-256), unencrypted OpenSSH.
//! Secret keys zeroize on drop and never print their bytes.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use hmac::{Hmac, Mac};
use p256::pkcs8::LineEnding;
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::sigdata::{AlgorithmId, SignatureRecord};

/// Length of a key id as wasmsign2 writes it.
pub const KEY_ID_LEN: usize = 12;

/// A key id: the bytes a signature record carries to say which key made
/// it. A hint, never an identity (key ids are not signed). Prints as
/// lower-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Vec<u8>);

impl KeyId {
    /// A key id of these bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        KeyId(bytes.into())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads the hex form [`Display`](fmt::Display) writes (either case);
    /// `None` unless it is an even number of hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() % 2 != 0 || !text.is_ascii() {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()
            .map(KeyId)
    }
}

impl AsRef<[u8]> for KeyId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are no key format wsc knows.
    #[error("not a recognised {0} key format (expected wasmsign2 raw, PKCS#8/SPKI/SEC1 in DER or PEM, or OpenSSH)")]
    UnknownFormat(&'static str),
    /// The format was recognised but the key inside is invalid.
    #[error("invalid {format} key: {reason}")]
    Invalid {
        /// The format that was recognised.
        format: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The key is of an algorithm wsc does not sign or verify with.
    #[error("unsupported key algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// An encrypted private key.
    #[error("encrypted OpenSSH private keys are not supported; decrypt it with `ssh-keygen -p -N ''` first")]
    Encrypted,
    /// A raw secret key whose embedded public key is not derived from its seed.
    #[error("the public key inside the raw secret key does not match its seed")]
    InconsistentKeyPair,
    /// Encoding a key failed.
    #[error("could not encode the key as {0}")]
    Encode(&'static str),
}

/// Key algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// Ed25519.
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256.
    P256,
}

impl KeyAlgorithm {
    /// The signature-record algorithm id of this key type.
    pub fn algorithm_id(self) -> AlgorithmId {
        match self {
            KeyAlgorithm::Ed25519 => AlgorithmId::ED25519,
            KeyAlgorithm::P256 => AlgorithmId::ECDSA_P256_SHA256,
        }
    }

    /// A lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::P256 => "p256",
        }
    }
}

/// A public key that can verify signature records. Opaque: no type of
/// the curve crates is part of wsc-core's API.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(PublicInner);

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, key id {})", self.algorithm().as_str(), self.key_id())
    }
}

impl PublicKey {
    /// Reads a public key in any supported format.
    pub fn from_any(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() == 33 && bytes[0] == 0x01 {
            return Self::from_ed25519_bytes(&bytes[1..]);
        }
        if (bytes.len() == 33 && matches!(bytes[0], 0x02 | 0x03)) || (bytes.len() == 65 && bytes[0] == 0x04) {
            return p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                .map(|k| PublicKey(PublicInner::P256(k)))
                .map_err(|_| KeyError::Invalid { format: "SEC1", reason: "not a point on P-256" });
        }
        if let Ok(text) = core::str::from_utf8(bytes) {
            let t = text.trim_start();
            if t.starts_with("-----BEGIN") {
                return Self::from_pem(t);
            }
            if t.starts_with("ssh-") || t.starts_with("ecdsa-") {
                return Self::from_openssh(t)
                    .and_then(|mut v| v.drain(..).next().ok_or(KeyError::UnknownFormat("public")));
            }
        }
        Self::from_spki_der(bytes)
    }

    /// Reads every supported key of an OpenSSH public-key file (one per line).
    pub fn from_openssh(text: &str) -> Result<Vec<Self>, KeyError> {
        let mut keys = Vec::new();
        let mut last_err = KeyError::UnknownFormat("OpenSSH public");
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            match ssh_key::PublicKey::from_openssh(line) {
                Ok(k) => match Self::from_ssh_key_data(k.key_data()) {
                    Ok(k) => keys.push(k),
                    Err(e) => last_err = e,
                },
                Err(_) => last_err = KeyError::Invalid { format: "OpenSSH public", reason: "line does not parse" },
            }
        }
        if keys.is_empty() { Err(last_err) } else { Ok(keys) }
    }

    fn from_ssh_key_data(k: &ssh_key::public::KeyData) -> Result<Self, KeyError> {
        match k {
            ssh_key::public::KeyData::Ed25519(pk) => Self::from_ed25519_bytes(&pk.0),
            ssh_key::public::KeyData::Ecdsa(ssh_key::public::EcdsaPublicKey::NistP256(p)) => {
                p256::ecdsa::VerifyingKey::from_sec1_bytes(p.as_bytes())
                    .map(|k| PublicKey(PublicInner::P256(k)))
                    .map_err(|_| KeyError::Invalid { format: "OpenSSH public", reason: "not a point on P-256" })
            }
            other => Err(KeyError::UnsupportedAlgorithm(other.algorithm().to_string())),
        }
    }

    fn from_ed25519_bytes(b: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] =
            b.try_into().map_err(|_| KeyError::Invalid { format: "Ed25519", reason: "length is not 32 bytes" })?;
        ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map(|k| PublicKey(PublicInner::Ed25519(k)))
            .map_err(|_| KeyError::Invalid { format: "Ed25519", reason: "not a valid curve point" })
    }

    fn from_pem(text: &str) -> Result<Self, KeyError> {
        if !text.starts_with("-----BEGIN PUBLIC KEY-----") {
            return Err(KeyError::UnknownFormat("PEM public"));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey(PublicInner::Ed25519(k)));
        }
        p256::ecdsa::VerifyingKey::from_public_key_pem(text)
            .map(|k| PublicKey(PublicInner::P256(k)))
            .map_err(|_| KeyError::Invalid { format: "SPKI PEM", reason: "neither an Ed25519 nor a P-256 public key" })
    }

    fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey(PublicInner::Ed25519(k)));
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey(PublicInner::P256(k)));
        }
        Err(KeyError::UnknownFormat("public"))
    }

    /// A P-256 key from a SEC1 point (compressed or uncompressed), as
    /// devices and certificates hold it.
    pub fn from_sec1(point: &[u8]) -> Result<Self, KeyError> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map(|k| PublicKey(PublicInner::P256(k)))
            .map_err(|_| KeyError::Invalid { format: "SEC1", reason: "not a point on P-256" })
    }

    /// The key as a certificate's subjectPublicKey holds it: the 32-byte
    /// Ed25519 key, or the uncompressed 65-byte P-256 point.
    pub fn public_bits(&self) -> Vec<u8> {
        match &self.0 {
            PublicInner::Ed25519(k) => k.to_bytes().to_vec(),
            PublicInner::P256(k) => k.to_encoded_point(false).as_bytes().to_vec(),
        }
    }

    /// Verifies an ECDSA P-256 signature over a SHA-256 digest (for
    /// devices that sign digests); false for other keys.
    pub(crate) fn verify_p256_prehash(&self, digest: &[u8; 32], sig: &p256::ecdsa::Signature) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        match &self.0 {
            PublicInner::P256(k) => k.verify_prehash(digest, sig).is_ok(),
            PublicInner::Ed25519(_) => false,
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match &self.0 {
            PublicInner::Ed25519(_) => KeyAlgorithm::Ed25519,
            PublicInner::P256(_) => KeyAlgorithm::P256,
        }
    }

    /// The public key bytes the key id is computed over: the 32-byte
    /// Ed25519 key, or the 33-byte compressed SEC1 P-256 point.
    pub fn key_bytes(&self) -> Vec<u8> {
        match &self.0 {
            PublicInner::Ed25519(k) => k.to_bytes().to_vec(),
            PublicInner::P256(k) => k.to_encoded_point(true).as_bytes().to_vec(),
        }
    }

    /// The default key id: the first 12 bytes of HMAC-SHA256 keyed with
    /// the public key over the ASCII bytes `key_id` (as wasmsign2).
    pub fn key_id(&self) -> KeyId {
        let bytes = self.key_bytes();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("HMAC takes keys of any length");
        mac.update(b"key_id");
        KeyId(mac.finalize().into_bytes()[..KEY_ID_LEN].to_vec())
    }

    /// Encodes as the wasmsign2 raw form (`01 ‖ pk`, Ed25519 only).
    pub fn to_raw(&self) -> Result<Vec<u8>, KeyError> {
        match &self.0 {
            PublicInner::Ed25519(k) => {
                let mut v = vec![0x01];
                v.extend_from_slice(k.as_bytes());
                Ok(v)
            }
            PublicInner::P256(_) => Err(KeyError::Encode("raw (P-256 keys have no wasmsign2 raw form)")),
        }
    }

    /// Encodes as SubjectPublicKeyInfo PEM.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        match &self.0 {
            PublicInner::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
            PublicInner::P256(k) => k.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|_| KeyError::Encode("PEM"))
    }

    /// Encodes as SubjectPublicKeyInfo DER.
    pub fn to_der(&self) -> Result<Vec<u8>, KeyError> {
        match &self.0 {
            PublicInner::Ed25519(k) => k.to_public_key_der(),
            PublicInner::P256(k) => k.to_public_key_der(),
        }
        .map(|d| d.as_bytes().to_vec())
        .map_err(|_| KeyError::Encode("DER"))
    }

    /// Verifies `signature` over `message` for this key's algorithm.
    /// Ed25519 uses strict verification (canonical S, no small-order keys
    /// or R); P-256 takes a 64-byte `r ‖ s` and hashes with SHA-256.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.0 {
            PublicInner::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(signature).is_ok_and(|s| k.verify_strict(message, &s).is_ok())
            }
            PublicInner::P256(k) => {
                use p256::ecdsa::signature::Verifier;
                signature.len() == 64
                    && p256::ecdsa::Signature::from_slice(signature).is_ok_and(|s| k.verify(message, &s).is_ok())
            }
        }
    }

    /// Whether a record is addressed to this key: same algorithm, and the
    /// key ids agree when the record has one.
    pub fn wants(&self, record: &SignatureRecord) -> bool {
        record.algorithm == self.algorithm().algorithm_id()
            && record.key_id.as_ref().is_none_or(|kid| *kid == self.key_id())
    }
}

/// A secret key. Zeroized on drop; `Debug` shows only the algorithm.
/// Opaque: no type of the curve crates is part of wsc-core's API.
pub struct SecretKey(SecretInner);

enum SecretInner {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("algorithm", &self.public_key().algorithm()).finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Generates a new key.
    pub fn generate(algorithm: KeyAlgorithm, rng: &mut impl CryptoRngCore) -> Self {
        match algorithm {
            KeyAlgorithm::Ed25519 => SecretKey(SecretInner::Ed25519(ed25519_dalek::SigningKey::generate(rng))),
            KeyAlgorithm::P256 => SecretKey(SecretInner::P256(p256::ecdsa::SigningKey::random(rng))),
        }
    }

    /// Reads a secret key in any supported format.
    pub fn from_any(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() == 65 && bytes[0] == 0x81 {
            let mut seed = Zeroizing::new([0u8; 32]);
            seed.copy_from_slice(&bytes[1..33]);
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            if sk.verifying_key().as_bytes() != &bytes[33..] {
                return Err(KeyError::InconsistentKeyPair);
            }
            return Ok(SecretKey(SecretInner::Ed25519(sk)));
        }
        if let Ok(text) = core::str::from_utf8(bytes) {
            let t = text.trim_start();
            if t.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
                return Self::from_openssh(t);
            }
            if t.starts_with("-----BEGIN EC PRIVATE KEY-----") {
                return p256::SecretKey::from_sec1_pem(t)
                    .map(|k| SecretKey(SecretInner::P256(k.into())))
                    .map_err(|_| KeyError::Invalid { format: "SEC1 PEM", reason: "not a P-256 private key" });
            }
            if t.starts_with("-----BEGIN PRIVATE KEY-----") {
                if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(t) {
                    return Ok(SecretKey(SecretInner::Ed25519(k)));
                }
                return p256::ecdsa::SigningKey::from_pkcs8_pem(t).map(|k| SecretKey(SecretInner::P256(k))).map_err(
                    |_| KeyError::Invalid {
                        format: "PKCS#8 PEM",
                        reason: "neither an Ed25519 nor a P-256 private key",
                    },
                );
            }
            if t.starts_with("-----BEGIN") {
                return Err(KeyError::UnknownFormat("PEM secret"));
            }
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(bytes) {
            return Ok(SecretKey(SecretInner::Ed25519(k)));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(bytes) {
            return Ok(SecretKey(SecretInner::P256(k)));
        }
        if let Ok(k) = p256::SecretKey::from_sec1_der(bytes) {
            return Ok(SecretKey(SecretInner::P256(k.into())));
        }
        Err(KeyError::UnknownFormat("secret"))
    }

    fn from_openssh(text: &str) -> Result<Self, KeyError> {
        let k = ssh_key::PrivateKey::from_openssh(text)
            .map_err(|_| KeyError::Invalid { format: "OpenSSH private", reason: "does not parse" })?;
        if k.is_encrypted() {
            return Err(KeyError::Encrypted);
        }
        match k.key_data() {
            ssh_key::private::KeypairData::Ed25519(kp) => {
                let sk = ed25519_dalek::SigningKey::from_bytes(&kp.private.to_bytes());
                if sk.verifying_key().as_bytes() != &kp.public.0 {
                    return Err(KeyError::InconsistentKeyPair);
                }
                Ok(SecretKey(SecretInner::Ed25519(sk)))
            }
            ssh_key::private::KeypairData::Ecdsa(ssh_key::private::EcdsaKeypair::NistP256 { private, .. }) => {
                p256::ecdsa::SigningKey::from_slice(private.as_slice())
                    .map(|k| SecretKey(SecretInner::P256(k)))
                    .map_err(|_| KeyError::Invalid { format: "OpenSSH private", reason: "bad P-256 scalar" })
            }
            other => Err(KeyError::UnsupportedAlgorithm(
                other.algorithm().map(|a| a.to_string()).unwrap_or_else(|_| "unknown".into()),
            )),
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.0 {
            SecretInner::Ed25519(k) => PublicKey(PublicInner::Ed25519(k.verifying_key())),
            SecretInner::P256(k) => PublicKey(PublicInner::P256(*k.verifying_key())),
        }
    }

    /// Signs `message`: Ed25519 (pure), or ECDSA P-256 SHA-256 as a
    /// low-S 64-byte `r ‖ s`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.0 {
            SecretInner::Ed25519(k) => {
                use ed25519_dalek::Signer;
                k.sign(message).to_bytes().to_vec()
            }
            SecretInner::P256(k) => {
                use p256::ecdsa::signature::Signer;
                let s: p256::ecdsa::Signature = k.sign(message);
                s.normalize_s().unwrap_or(s).to_bytes().to_vec()
            }
        }
    }

    /// Encodes as the wasmsign2 raw form (`81 ‖ seed ‖ pk`, Ed25519 only).
    pub fn to_raw(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match &self.0 {
            SecretInner::Ed25519(k) => {
                let mut v = Zeroizing::new(Vec::with_capacity(65));
                v.push(0x81);
                v.extend_from_slice(&k.to_bytes());
                v.extend_from_slice(k.verifying_key().as_bytes());
                Ok(v)
            }
            SecretInner::P256(_) => Err(KeyError::Encode("raw (P-256 keys have no wasmsign2 raw form)")),
        }
    }

    /// Encodes as PKCS#8 v1 PEM (the form ed25519-compact and OpenSSL write).
    pub fn to_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        match &self.0 {
            SecretInner::Ed25519(k) => {
                let kp = ed25519_dalek::pkcs8::KeypairBytes { secret_key: k.to_bytes(), public_key: None };
                kp.to_pkcs8_pem(LineEnding::LF)
            }
            SecretInner::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|_| KeyError::Encode("PEM"))
    }

    /// Encodes as PKCS#8 v1 DER.
    pub fn to_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match &self.0 {
            SecretInner::Ed25519(k) => {
                let kp = ed25519_dalek::pkcs8::KeypairBytes { secret_key: k.to_bytes(), public_key: None };
                kp.to_pkcs8_der()
            }
            SecretInner::P256(k) => k.to_pkcs8_der(),
        }
        .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
        .map_err(|_| KeyError::Encode("DER"))
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
