//! RFC 3161 timestamps in certificate-bound records, with `openssl ts` as an
//! independent timestamp authority.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use common::*;
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{KeyAlgorithm, Signer, SignerError};
use wsc_pki::{CertRecord, CertSigner, DAY, DeviceProfile, Timestamper, TsaTrust};

/// A timestamp authority run by `openssl ts -reply`, with its own root.
struct OpensslTsa {
    dir: tempfile::TempDir,
}

impl OpensslTsa {
    /// Runs `testdata/openssl-tsa/setup.sh` in a new directory.
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/openssl-tsa/setup.sh");
        let out = Command::new("sh").arg(script).arg(dir.path()).arg(name).output().expect("run setup.sh");
        assert!(out.status.success(), "setup.sh: {}", String::from_utf8_lossy(&out.stderr));
        OpensslTsa { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The chain a verifier trusts: TSA certificate, then root.
    fn chain(&self) -> Vec<u8> {
        std::fs::read(self.path("chain.pem")).expect("read")
    }

    fn trust(&self) -> TsaTrust {
        let mut t = TsaTrust::new();
        t.add_chain(&self.chain()).expect("TSA chain");
        t
    }
}

/// `openssl ts -reply` with the configuration in `dir`.
fn openssl_reply(dir: &Path, request: &[u8]) -> Result<Vec<u8>, SignerError> {
    let n = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
    let q = dir.join(format!("{n}.tsq"));
    let r = dir.join(format!("{n}.tsr"));
    std::fs::write(&q, request).map_err(SignerError::new)?;
    let out = Command::new("openssl")
        .args(["ts", "-reply", "-config"])
        .arg(dir.join("ts.cnf"))
        .arg("-queryfile")
        .arg(&q)
        .arg("-out")
        .arg(&r)
        .output()
        .map_err(SignerError::new)?;
    if !out.status.success() {
        return Err(SignerError::new(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    std::fs::read(&r).map_err(SignerError::new)
}

/// The transport to an [`OpensslTsa`]: its directory.
struct SharedTsa(PathBuf);

impl Timestamper for SharedTsa {
    fn timestamp(&self, request: &[u8]) -> Result<Vec<u8>, SignerError> {
        openssl_reply(&self.0, request)
    }
}

/// A transport that answers with fixed bytes.
struct Canned(Vec<u8>);

impl Timestamper for Canned {
    fn timestamp(&self, _: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.0.clone())
    }
}

fn timestamped_signer<S: Signer>(inner: S, chain: Vec<Vec<u8>>, tsa: &OpensslTsa) -> CertSigner<S> {
    CertSigner::new(inner, chain)
        .expect("cert signer")
        .with_timestamps(Box::new(SharedTsa(tsa.dir.path().to_path_buf())), tsa.trust())
        .expect("timestamps")
}

/// The certificate-bound record of a module signed once.
fn record_of(signed: &[u8]) -> CertRecord {
    let mut unsigned = Vec::new();
    let raw = wsc_core::detach(signed, &mut unsigned).expect("detach");
    let data = wsc_core::sigdata::SignatureData::decode(&raw, 0).expect("signature data");
    let wsc_core::sigdata::SetEntry::Valid(set) = &data.sets[0] else { panic!("malformed set") };
    let record = set.records[0].parsed.as_ref().expect("record");
    CertRecord::decode(&record.signature).expect("record")
}

#[test]
fn a_timestamped_module_stays_valid_after_the_certificate_expires() {
    let tsa = OpensslTsa::new("Test TSA");
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P256] {
        let (root, inter) = root_and_intermediate(alg);
        let dev = key(alg);
        let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
        let signed = wsc_core::sign(MODULE, &timestamped_signer(&dev, chain, &tsa)).expect("sign");
        let record = record_of(&signed);
        assert_eq!(record.timestamp.as_ref().map(|t| t[0]), Some(0x30), "a DER token is stored");

        // Now, with or without timestamps.
        verify(&signed, &anchor(&root)).expect("now");
        let ok = verify(&signed, &anchor(&root).use_timestamps(tsa.trust())).expect("timestamp mode");
        assert!(ok.contains("timestamp 20"), "{ok}");

        // Two days later the certificate has expired: only the timestamp saves it.
        let later = SystemTime::now() + 2 * DAY;
        assert_rejected(&signed, &anchor(&root).at_time(later), "expired");
        verify(&signed, &anchor(&root).at_time(later).use_timestamps(tsa.trust())).expect("after expiry");

        // openssl agrees with the stored token (independent check of imprint and signature).
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("t.der"), record.timestamp.as_ref().expect("token")).expect("write");
        std::fs::write(d.path().join("sig"), &record.signature).expect("write");
        let out = Command::new("openssl")
            .current_dir(d.path())
            .args(["ts", "-verify", "-token_in", "-in", "t.der", "-data", "sig", "-CAfile"])
            .arg(tsa.path("root.pem"))
            .arg("-untrusted")
            .arg(tsa.path("tsa.pem"))
            .output()
            .expect("openssl");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Verification: OK"), "{out:?}");
    }
}

#[test]
fn rule_timestamp_outside_the_certificate_validity() {
    let tsa = OpensslTsa::new("Test TSA");
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let valid = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let signed = wsc_core::sign(MODULE, &timestamped_signer(&dev, valid, &tsa)).expect("sign");
    let record = record_of(&signed);

    // The same key and token, bound to certificates whose validity misses the TSA's time.
    // (The CA refuses to back-date, so rcgen writes them as the CA would.)
    for (start, what) in [(SystemTime::now() - 3 * DAY, "expired"), (SystemTime::now() + DAY, "not yet valid")] {
        let mut p = params("d", start, 1);
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        let chain = vec![issue_raw(&inter, "Test Issuing CA", &dev, &p), inter.certificate().der.clone()];
        let moved = CertRecord::new(record.inner_algorithm, record.signature.clone(), chain.clone())
            .with_timestamp(record.timestamp.clone().expect("token"))
            .encode()
            .expect("encode");
        let forged = replace_record_payload(&signed, &moved);
        assert_rejected(&forged, &anchor(&root).use_timestamps(tsa.trust()), "outside the certificate's validity");

        // The signer refuses such a certificate before it signs or asks the TSA.
        let err = CertSigner::new(&dev, chain).expect_err(what);
        assert!(matches!(err, wsc_pki::PkiError::Leaf { .. }), "{what}: {err}");
    }
}

#[test]
fn timestamp_mode_fails_closed() {
    let tsa = OpensslTsa::new("Test TSA");
    let other = OpensslTsa::new("Other TSA");
    let (root, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let dev = key(KeyAlgorithm::Ed25519);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());

    // A TSA time more than 5 minutes after the verifier's clock (here: --at-time an hour back).
    let fresh = wsc_core::sign(MODULE, &timestamped_signer(&dev, chain.clone(), &tsa)).expect("sign");
    let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
    assert_rejected(&fresh, &anchor(&root).at_time(hour_ago).use_timestamps(tsa.trust()), "is later than");

    // A record without a token.
    let plain = sign_with(MODULE, &dev, chain.clone());
    assert_rejected(&plain, &anchor(&root).use_timestamps(tsa.trust()), "carries no RFC 3161 token");

    // A token from a TSA that is not trusted.
    let signed = wsc_core::sign(MODULE, &timestamped_signer(&dev, chain.clone(), &other)).expect("sign");
    assert_rejected(&signed, &anchor(&root).use_timestamps(tsa.trust()), "no trusted timestamp authority");

    // A token over another signature (moved from another record).
    let signed = wsc_core::sign(MODULE, &timestamped_signer(&dev, chain.clone(), &tsa)).expect("sign");
    let signed2 = wsc_core::sign(b"\0asm\x01\0\0\0", &timestamped_signer(&dev, chain.clone(), &tsa)).expect("sign");
    let (r1, r2) = (record_of(&signed), record_of(&signed2));
    let swapped = CertRecord::new(r1.inner_algorithm, r1.signature.clone(), chain.clone())
        .with_timestamp(r2.timestamp.clone().expect("token"))
        .encode()
        .expect("encode");
    assert_rejected(
        &replace_record_payload(&signed, &swapped),
        &anchor(&root).use_timestamps(tsa.trust()),
        "timestamp",
    );

    // A changed byte inside the token.
    let mut token = r1.timestamp.clone().expect("token");
    let n = token.len();
    token[n - 10] ^= 1;
    let tampered = CertRecord::new(r1.inner_algorithm, r1.signature.clone(), chain)
        .with_timestamp(token)
        .encode()
        .expect("encode");
    assert_rejected(
        &replace_record_payload(&signed, &tampered),
        &anchor(&root).use_timestamps(tsa.trust()),
        "timestamp",
    );
}

#[test]
fn bad_tsa_answers_are_refused_before_writing() {
    let tsa = OpensslTsa::new("Test TSA");
    let (_, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    // A rejection (status 2, failInfo badAlg), garbage, and a granted answer without a token.
    let rejection = vec![0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x02, 0x03, 0x02, 0x07, 0x80];
    let granted_empty = vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];
    for (answer, needle) in [
        (rejection, "not granted (status 2"),
        (b"nonsense".to_vec(), "not a DER TimeStampResp"),
        (granted_empty, "no token"),
    ] {
        let signer = CertSigner::new(&dev, chain.clone())
            .expect("signer")
            .with_timestamps(Box::new(Canned(answer)), tsa.trust())
            .expect("timestamps");
        let err = wsc_core::sign(MODULE, &signer).expect_err(needle);
        assert!(wsc_core::Chain(&err).to_string().contains(needle), "{needle}: {err}");
    }
    // Timestamps without a trusted TSA cannot be configured.
    let err = CertSigner::new(&dev, chain).expect("signer").with_timestamps(Box::new(Canned(vec![])), TsaTrust::new());
    assert!(err.is_err());
}

#[test]
fn version_2_records_round_trip_and_reject_bad_lengths() {
    let (_, inter) = root_and_intermediate(KeyAlgorithm::Ed25519);
    let dev = key(KeyAlgorithm::Ed25519);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let r = CertRecord::new(AlgorithmId::ED25519, vec![7; 64], chain).with_timestamp(vec![0x30, 0x00]);
    let bytes = r.encode().expect("encode");
    assert_eq!(bytes[0], 0x02);
    assert_eq!(CertRecord::decode(&bytes).expect("decode"), r);
    // Truncated token, trailing bytes, empty token.
    assert!(CertRecord::decode(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(CertRecord::decode(&longer).is_err());
    let mut empty = bytes[..bytes.len() - 3].to_vec();
    empty.push(0);
    assert!(CertRecord::decode(&empty).is_err());
}

#[test]
fn crl_freshness_is_judged_now_in_timestamp_mode() {
    let tsa = OpensslTsa::new("Test TSA");
    let (root, inter) = root_and_intermediate(KeyAlgorithm::P256);
    let dev = key(KeyAlgorithm::P256);
    let chain = device_chain(&inter, &dev, "d", &DeviceProfile::default());
    let signed = wsc_core::sign(MODULE, &timestamped_signer(&dev, chain, &tsa)).expect("sign");
    let now = SystemTime::now();
    // A CRL valid now: accepted; the same CRL judged a week later: stale, even
    // though the TSA's time is inside its window.
    let crl = inter.crl(&[], now - DAY, now + DAY).expect("crl");
    let mut v = anchor(&root).use_timestamps(tsa.trust());
    v.add_crl(&crl).expect("crl");
    verify(&signed, &v).expect("fresh CRL");
    let mut later = anchor(&root).at_time(now + 7 * DAY).use_timestamps(tsa.trust());
    later.add_crl(&crl).expect("crl");
    assert_rejected(&signed, &later, "a CRL has expired");
}
