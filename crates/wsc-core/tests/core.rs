//! Library-level tests of wsc-core on the wasmsign2 vectors and on modules
//! made here: keys, multi-signature, partial verification, limits.

use std::path::{Path, PathBuf};

use wsc_core::Verification;
use wsc_core::format::SectionHeader;
use wsc_core::sigdata::{AlgorithmId, SetEntry, SignatureData, SignatureRecord};
use wsc_core::{
    Error, KeyAlgorithm, PublicKey, RecordVerifier, Scope, SecretKey, VerifyError, VerifyOptions, WithKeyId,
};

fn v(rel: &str) -> Vec<u8> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn verify_with(module: &[u8], keys: &[&dyn RecordVerifier], scope: Scope<'_>) -> wsc_core::Result<wsc_core::Report> {
    wsc_core::verify_embedded(module, &Verification::new(keys).scope(scope).total_len(Some(module.len() as u64)))
}

const ADD: &str = "modules/add.wasm";

#[test]
fn key_files_parse_and_key_ids_match_wasmsign2() {
    // (file, public?, key id from the vectors' README)
    let cases = [
        ("keys/k1.pk", true, "3229a5f688dc440331d6fd89"),
        ("keys/k1.pk.der", true, "3229a5f688dc440331d6fd89"),
        ("keys/k1.pk.pem", true, "3229a5f688dc440331d6fd89"),
        ("keys/k2.pk", true, "11049d4eebe48b2febab2b1d"),
        ("keys/k3.pk", true, "53c779b5123eb00a3fc2a01d"),
        ("keys/ssh_ed25519.pub", true, "adb0fa2c8d16f4b6d2f317b3"),
        ("keys/ssh_ed25519.pk", true, "adb0fa2c8d16f4b6d2f317b3"),
        ("keys/k1.sk", false, "3229a5f688dc440331d6fd89"),
        ("keys/k1.sk.der", false, "3229a5f688dc440331d6fd89"),
        ("keys/k1.sk.pem", false, "3229a5f688dc440331d6fd89"),
        ("keys/ssh_ed25519", false, "adb0fa2c8d16f4b6d2f317b3"),
    ];
    for (file, public, kid) in cases {
        let bytes = v(file);
        let pk = if public {
            PublicKey::from_any(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"))
        } else {
            SecretKey::from_any(&bytes).unwrap_or_else(|e| panic!("{file}: {e}")).public_key()
        };
        assert_eq!(pk.key_id().to_string(), kid, "{file}");
    }
}

#[test]
fn bad_keys_are_typed_errors() {
    let mut inconsistent = v("keys/k1.sk");
    inconsistent[64] ^= 1;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "not a recognised"),
        (b"hello".to_vec(), "not a recognised"),
        (inconsistent, "does not match"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(), "PKCS#8"),
        (b"-----BEGIN RSA PRIVATE KEY-----\n".to_vec(), "not a recognised"),
    ];
    for (bytes, needle) in cases {
        let e = SecretKey::from_any(&bytes).expect_err("must fail");
        assert!(e.to_string().contains(needle), "{e}");
    }
    assert!(PublicKey::from_any(b"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ x").is_err());
}

/// The key id of docs/format.md section 5, computed here with the hmac and
/// sha2 crates: HMAC-SHA256(key = public key bytes, "key_id"), first 12 bytes.
fn expected_key_id(public: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(public).expect("any key length");
    mac.update(b"key_id");
    wsc_core::keys::hex(&mac.finalize().into_bytes()[..12])
}

/// Panics if `debug` shows any 4-byte window of `secret`, in hex of either
/// case or as `Debug` prints a byte slice.
fn assert_no_secret_in(debug: &str, secret: &[u8], what: &str) {
    for w in secret.windows(4) {
        let h = wsc_core::keys::hex(w);
        let bytes = format!("{}, {}, {}, {}", w[0], w[1], w[2], w[3]);
        for shown in [h.clone(), h.to_uppercase(), bytes] {
            assert!(!debug.contains(&shown), "{what}: Debug shows secret bytes {shown}: {debug}");
        }
    }
}

/// A secret key's `Debug` shows no part of the secret; its public key's
/// `Debug` shows the key id, which matches the one computed here from the
/// public key bytes (and, for k1, the id in the vectors' README).
#[test]
fn secret_key_debug_does_not_leak() {
    // Ed25519: wasmsign2's raw secret key is 0x81 || seed || public key.
    let raw = v("keys/k1.sk");
    assert_eq!((raw.len(), raw[0]), (65, 0x81), "keys/k1.sk layout");
    let (seed, public) = (&raw[1..33], &raw[33..]);
    let sk = SecretKey::from_any(&raw).expect("k1");
    let dbg = format!("{sk:?}");
    assert_no_secret_in(&dbg, seed, "Ed25519");
    assert!(dbg.contains("Ed25519"), "{dbg}");
    let kid = expected_key_id(public);
    assert_eq!(kid, "3229a5f688dc440331d6fd89", "k1's key id in testdata/wasmsign2's README");
    let pdbg = format!("{:?}", sk.public_key());
    assert!(pdbg.contains(&kid), "{pdbg}");

    // P-256: a key made by the p256 crate, read from its PKCS#8 DER.
    use p256::pkcs8::EncodePrivateKey;
    let ec = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let der = ec.to_pkcs8_der().expect("pkcs8");
    let sk = SecretKey::from_any(der.as_bytes()).expect("P-256 PKCS#8");
    let dbg = format!("{sk:?}");
    assert_no_secret_in(&dbg, &ec.to_bytes(), "P-256");
    assert!(dbg.contains("P256"), "{dbg}");
    let point = ec.verifying_key().to_encoded_point(true);
    assert_eq!(point.as_bytes().len(), 33, "compressed SEC1 point");
    let pdbg = format!("{:?}", sk.public_key());
    assert!(pdbg.contains(&expected_key_id(point.as_bytes())), "{pdbg}");
}

#[test]
fn p256_and_ed25519_sign_and_verify_in_every_format() {
    let module = v(ADD);
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::P256] {
        let sk = SecretKey::generate(alg, &mut rand_core::OsRng);
        let pk = sk.public_key();
        // Every encoding reads back as the same key.
        let mut encodings = vec![pk.to_pem().expect("pem").into_bytes(), pk.to_der().expect("der")];
        if let Ok(raw) = pk.to_raw() {
            encodings.push(raw);
        }
        for e in &encodings {
            assert_eq!(PublicKey::from_any(e).expect("reads back"), pk);
        }
        let mut secrets = vec![sk.to_pem().expect("pem").as_bytes().to_vec(), sk.to_der().expect("der").to_vec()];
        if let Ok(raw) = sk.to_raw() {
            secrets.push(raw.to_vec());
        }
        for s in &secrets {
            assert_eq!(SecretKey::from_any(s).expect("reads back").public_key(), pk);
        }
        let signed = wsc_core::sign(&module, &WithKeyId::checked(&sk, &pk).expect("same key")).expect("signs");
        let ver = wsc_core::verify(&signed, &pk).expect("verifies");
        assert!(ver.whole);
        assert_eq!(ver.signatures[0].algorithm, alg.algorithm_id());
        let other = SecretKey::generate(alg, &mut rand_core::OsRng).public_key();
        assert!(matches!(wsc_core::verify(&signed, &other), Err(Error::Verification(VerifyError::NoValidSignature))));
    }
}

#[test]
fn mismatched_key_id_is_refused() {
    let k1 = SecretKey::from_any(&v("keys/k1.sk")).expect("k1");
    let k2 = PublicKey::from_any(&v("keys/k2.pk")).expect("k2");
    assert!(matches!(WithKeyId::checked(&k1, &k2), Err(Error::KeyMismatch)));
}

/// A record with an unknown algorithm id survives re-signing byte for byte,
/// and is reported as skipped when verifying.
#[test]
fn unknown_records_are_kept_and_skipped() {
    let crafted = v("crafted/add.k1.unknown-alg.wasm");
    let k2 = SecretKey::from_any(&v("keys/k2.sk")).expect("k2");
    let resigned = wsc_core::sign(&crafted, &k2).expect("signs");
    let before = wsc_core::inspect(&crafted[..], None).expect("inspect").signature.expect("signed");
    let after = wsc_core::inspect(&resigned[..], None).expect("inspect").signature.expect("signed");
    let raws = |d: &SignatureData| -> Vec<Vec<u8>> {
        d.sets
            .iter()
            .flat_map(|s| match s {
                SetEntry::Valid(s) => s.records.iter().map(|r| r.raw.clone()).collect::<Vec<_>>(),
                SetEntry::Malformed(m) => vec![m.raw.clone()],
            })
            .collect()
    };
    for r in raws(&before) {
        assert!(raws(&after).contains(&r), "record lost on re-signing");
    }
    let k1 = PublicKey::from_any(&v("keys/k1.pk")).expect("k1");
    let k2p = k2.public_key();
    let report = verify_with(&resigned, &[&k1, &k2p], Scope::Whole).expect("verifies");
    assert!(report.results.iter().all(Result::is_ok));
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(report.skipped[0].reason.contains("not known"));
}

fn module_with_customs() -> Vec<u8> {
    v("modules/custom.wasm")
}

/// Partial verification: exact coverage, and sections appended after a
/// delimiter are reported as unverified, not silently accepted.
#[test]
fn partial_verification_reports_coverage() {
    let k1 = SecretKey::from_any(&v("keys/k1.sk")).expect("k1");
    let pk = k1.public_key();
    let debug = |h: &SectionHeader| h.custom_name().is_none_or(|n| n.starts_with(".debug_"));
    let mut split = Vec::new();
    let mut n = 0u8;
    let mut delim = || {
        n += 1;
        [n; 16]
    };
    let report = wsc_core::split(&module_with_customs()[..], &mut split, Some(&debug), &mut delim).expect("splits");
    assert_eq!((report.added, report.total), (3, 3));
    let signed = wsc_core::sign(&split, &k1).expect("signs");
    let mut extended = signed.clone();
    extended.extend_from_slice(&wsc_core::format::encode_custom_section("appended", b"later").expect("encodes"));

    // Whole: the original verifies, the extended one does not.
    assert!(wsc_core::verify(&signed, &pk).expect("whole").whole);
    assert!(matches!(
        wsc_core::verify(&extended, &pk),
        Err(Error::Verification(VerifyError::PartsUnsigned { signed: 3, present: 4 }))
    ));

    // Partial with the split's own selection: verified up to the last delimiter.
    let r = verify_with(&extended, &[&pk], Scope::Partial(&debug)).expect("runs").single().expect("partial");
    assert!(!r.whole);
    assert_eq!(r.unverified(), Some((signed.len() as u64, extended.len() as u64)));
    assert_eq!(r.hashes_checked, 3);

    // Selecting everything includes the appended section: refused (W2).
    let all = |_: &SectionHeader| true;
    let e = verify_with(&extended, &[&pk], Scope::Partial(&all)).expect("runs").single().expect_err("uncovered");
    assert!(
        matches!(e, Error::Verification(VerifyError::SelectionNotCovered { offset }) if offset == signed.len() as u64),
        "{e}"
    );

    // A selection that cuts through a part is refused, as in wasmsign2.
    let names = |h: &SectionHeader| h.custom_name() == Some("name");
    let e = verify_with(&signed, &[&pk], Scope::Partial(&names)).expect("runs").single().expect_err("not aligned");
    assert!(matches!(e, Error::Verification(VerifyError::PredicateNotAligned { .. })), "{e}");
}

/// Whole-module verification needs every checkpoint of one set (W3).
#[test]
fn truncation_after_a_delimiter_fails_whole_verification() {
    let pk = PublicKey::from_any(&v("keys/k1.pk")).expect("k1");
    let truncated = v("crafted/custom.split.k1.truncated-after-d1.wasm");
    assert!(matches!(wsc_core::verify(&truncated, &pk), Err(Error::Verification(VerifyError::ContentMismatch))));
    assert!(wsc_core::verify(&v("signed/custom.split.k1.wasm"), &pk).expect("intact").whole);
}

/// No delimiters and a uniform selection: the end-of-module hash is still
/// compared, so tampering is caught (W1).
#[test]
fn partial_verification_is_never_vacuous() {
    let pk = PublicKey::from_any(&v("keys/k1.pk")).expect("k1");
    let all = |_: &SectionHeader| true;
    let tampered = v("signed/add.k1.tampered-data.wasm");
    let e = verify_with(&tampered, &[&pk], Scope::Partial(&all)).expect("runs").single().expect_err("tampered");
    assert!(matches!(e, Error::Verification(VerifyError::SignedPartChanged { .. })), "{e}");
    let ok =
        verify_with(&v("signed/add.k1.wasm"), &[&pk], Scope::Partial(&all)).expect("runs").single().expect("intact");
    assert!(ok.whole);
    assert_eq!(ok.hashes_checked, 1);
}

#[test]
fn detached_multi_signature_extends_previous_data() {
    let module = v(ADD);
    let k1 = SecretKey::from_any(&v("keys/k1.sk")).expect("k1");
    let k2 = SecretKey::from_any(&v("keys/k2.sk")).expect("k2");
    let (one, _) = wsc_core::sign_detached(&module[..], None, &k1).expect("k1 signs");
    let (two, report) = wsc_core::sign_detached(&module[..], Some(&one), &k2).expect("k2 signs");
    assert_eq!(report.sets, 1, "same hashes: one set, two records");
    let (p1, p2) = (k1.public_key(), k2.public_key());
    let r = wsc_core::verify_detached(&module[..], &two, &Verification::new(&[&p1, &p2])).expect("runs");
    assert!(r.results.iter().all(Result::is_ok));
    assert!(matches!(wsc_core::sign_detached(&module[..], Some(&two), &k2), Err(Error::DuplicateSignature)));
}

#[test]
fn attach_refuses_a_signed_module_and_bad_data() {
    let sig = v("signed/add.k1kid.sig");
    let mut out = Vec::new();
    assert!(matches!(wsc_core::attach(&v("signed/add.k1.wasm")[..], &mut out, &sig), Err(Error::AlreadySigned)));
    assert!(wsc_core::attach(&v(ADD)[..], &mut Vec::new(), &[0x01, 0x01]).is_err());
    let mut ok = Vec::new();
    wsc_core::attach(&v(ADD)[..], &mut ok, &sig).expect("attaches");
    let mut back = Vec::new();
    assert_eq!(wsc_core::detach(&ok[..], &mut back).expect("detaches"), sig);
    assert_eq!(back, v(ADD));
}

/// The number of signature checks per call is capped (W6).
#[test]
fn signature_checks_are_capped() {
    let module = v(ADD);
    let sk = SecretKey::from_any(&v("keys/k1.sk")).expect("k1");
    let (mut data, report) = wsc_core::sign_detached(&module[..], None, &sk).expect("signs");
    let mut decoded = SignatureData::decode(&data, 0).expect("decodes");
    for i in 0..200u8 {
        let rec = SignatureRecord::new(None, AlgorithmId::ED25519, vec![i; 64]);
        decoded.add_signature(&report.hashes, &rec).expect("adds");
    }
    data = decoded.encode().expect("encodes");
    let pk = sk.public_key();
    let keys: Vec<&dyn RecordVerifier> = vec![&pk; 6];
    let opts = VerifyOptions::default();
    let e = wsc_core::verify_detached(&module[..], &data, &Verification::new(&keys).options(opts)).expect_err("capped");
    assert!(matches!(e, Error::TooManySignatureChecks { needed: 1206, .. }), "{e}");
    let r = wsc_core::verify_detached(&module[..], &data, &Verification::new(&keys[..1]).options(opts))
        .expect("under the cap");
    assert!(r.any_verified());
}

/// Component preamble and every section id are accepted and hashed.
#[test]
fn components_sign_and_verify() {
    let sk = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
    let comp = v("modules/component.wasm");
    let signed = wsc_core::sign(&comp, &sk).expect("signs");
    assert_eq!(&signed[..8], &wsc_core::format::COMPONENT_PREAMBLE);
    let r = verify_with(&signed, &[&sk.public_key()], Scope::Whole).expect("runs");
    assert_eq!(r.kind, wsc_core::format::ModuleKind::Component);
    assert!(r.any_verified());
}

/// Modules that are not wasm, or are cut anywhere, give typed errors.
#[test]
fn truncations_of_a_signed_module_never_verify() {
    let signed = v("signed/custom.split.k1.wasm");
    let pk = PublicKey::from_any(&v("keys/k1.pk")).expect("k1");
    for cut in 0..signed.len() {
        let r = wsc_core::verify(&signed[..cut], &pk);
        assert!(r.is_err(), "cut at {cut} verified");
    }
}

/// The one-pass signer writes exactly what the two-pass signer writes, when
/// its guess of the header size holds and when it misses (delimiters,
/// another set, padded sizes).
/// Modules and keys the signing paths are compared on: plain, padded
/// (re-encoded), already signed, split, extended, a component.
fn signing_cases() -> Vec<(&'static str, SecretKey)> {
    let k = |n: &str| SecretKey::from_any(&v(&format!("keys/{n}.sk"))).expect("key");
    [
        ("modules/add.wasm", "k1"),
        ("modules/min.wasm", "k1"),
        ("modules/add.padded.wasm", "k1"),
        ("signed/add.k1.wasm", "k2"),
        ("signed/custom.split.wasm", "k1"),
        ("signed/custom.split.k1.ext.wasm", "k2"),
        ("modules/component.wasm", "k2"),
    ]
    .into_iter()
    .map(|(f, n)| (f, k(n)))
    .collect()
}

/// The head-and-copy signing path: a copier lays the content out from the
/// predicted offset, piece by piece, while it is hashed, as the CLI does
/// with the kernel; when the prediction misses, `write_content` writes it.
/// Either way the bytes equal two-pass signing, re-encoded modules too.
#[test]
fn head_and_copied_content_match_two_pass_signing() {
    struct Copier<'a> {
        input: &'a [u8],
        out: Vec<u8>,
        at: Option<usize>,
    }
    impl wsc_core::ContentCopier for Copier<'_> {
        fn start(&mut self, l: wsc_core::Layout) -> wsc_core::Result<()> {
            let at = usize::try_from(l.predicted_head_len).expect("small");
            self.out = vec![0xee; at];
            self.at = Some(at);
            Ok(())
        }
        fn piece(&mut self, p: wsc_core::Piece<'_>) -> wsc_core::Result<()> {
            match p {
                wsc_core::Piece::Copy(r) => {
                    let r = usize::try_from(r.start).expect("small")..usize::try_from(r.end).expect("small");
                    self.out.extend_from_slice(&self.input[r]);
                }
                wsc_core::Piece::Bytes(b) => self.out.extend_from_slice(b),
                _ => unreachable!("no other piece"),
            }
            Ok(())
        }
    }
    let (mut copied, mut rewritten, mut reencoded) = (0, 0, 0);
    for (file, key) in &signing_cases() {
        let input = v(file);
        let want = wsc_core::sign(&input, key).expect("two-pass");
        let mut c = Copier { input: &input, out: Vec::new(), at: None };
        let head = wsc_core::sign_embedded_head(input.as_slice(), key, &mut c).expect("head");
        reencoded += usize::from(head.reencode);
        let got = if c.at == Some(head.head.len()) {
            copied += 1;
            c.out[head.head.len()..].to_vec()
        } else {
            rewritten += 1;
            let mut content = Vec::new();
            let n = wsc_core::write_content(std::io::Cursor::new(&input), &mut content, &head).expect("content");
            assert_eq!(n as usize, content.len());
            content
        };
        let mut signed = head.head.clone();
        signed.extend_from_slice(&got);
        assert!(signed == want, "{file}: outputs differ");
    }
    assert!(copied >= 4 && rewritten >= 1 && reencoded >= 1, "copied {copied}, rewritten {rewritten}");
}

#[test]
fn seekable_signing_matches_two_pass_signing() {
    let mut single = 0;
    for (file, key) in &signing_cases() {
        let input = v(file);
        let want = wsc_core::sign(&input, key).expect("two-pass");
        // Pre-filled with junk, as a reused file would be.
        let mut out = std::io::Cursor::new(vec![0xeeu8; want.len() + 512]);
        let r = wsc_core::sign_embedded_seekable(std::io::Cursor::new(&input), &mut out, key).expect("one-pass");
        let mut got = out.into_inner();
        got.truncate(r.output_len as usize);
        assert!(got == want, "{file}: outputs differ");
        single += usize::from(r.single_pass);
    }
    assert!(single >= 4, "the guess should hold for plain modules ({single})");
}
