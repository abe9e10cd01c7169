//! Keyless signing against @sigstore/mock 0.12.1 (an independent fake of
//! Fulcio, Rekor v1 and a TSA, on 127.0.0.1), then offline verification.

mod common;

use common::{module, verify};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use wsc_keyless::sign::{IdentityToken, KeylessSigner, ServiceOptions, Services, SignError};
use wsc_keyless::sigstore_verify::trust_root::{SigningConfig, TrustedRoot};
use wsc_pinning::{ClientBuilder, PinningConfig};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const IDENTITY: &str = "https://github.com/wsc-test/app/.github/workflows/release.yml@refs/heads/main";

/// The mock, killed when dropped.
struct Mock {
    child: Child,
    dir: tempfile::TempDir,
}

impl Mock {
    fn start() -> Mock {
        let mock_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sigstore-mock");
        assert!(
            mock_dir.join("node_modules/@sigstore/mock/package.json").is_file(),
            "run `npm ci` in testdata/sigstore-mock (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let child = Command::new("node")
            .current_dir(&mock_dir)
            .arg("server.mjs")
            .arg(dir.path())
            .arg("300")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the mock");
        let mock = Mock { child, dir };
        let start = Instant::now();
        while !mock.path("port").is_file() {
            assert!(start.elapsed() < Duration::from_secs(30), "the mock wrote no port file");
            std::thread::sleep(Duration::from_millis(50));
        }
        mock
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn root(&self) -> TrustedRoot {
        TrustedRoot::from_file(self.path("trusted_root.json")).expect("trusted root")
    }

    fn services(&self, tsa: bool) -> Services {
        let cfg = SigningConfig::from_file(self.path("signing_config.json")).expect("signing config");
        let builder = ClientBuilder::new(PinningConfig::new()).danger_allow_http();
        Services::from_signing_config(&cfg, &builder, &ServiceOptions::default(), tsa).expect("services")
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// An unsigned token: the mock reads its claims without checking a signature.
fn token(sub: &str) -> IdentityToken {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs();
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let claims = format!(r#"{{"iss":"{ISSUER}","sub":"{sub}","aud":"sigstore","iat":{now},"exp":{}}}"#, now + 600);
    IdentityToken::new(format!("{}.{}.", b(r#"{"alg":"none"}"#), b(&claims))).expect("token")
}

#[test]
fn sign_many_modules_with_one_certificate_and_verify_offline() {
    let mock = Mock::start();
    let root = mock.root();
    for tsa in [true, false] {
        let signer = KeylessSigner::new(token(IDENTITY), mock.services(tsa), &root).expect("certificate");
        assert_eq!(signer.identity(), IDENTITY);
        assert_eq!(signer.issuer(), ISSUER);
        let signed: Vec<Vec<u8>> = (0..3).map(|n| wsc_core::sign(&module(n), &signer).expect("sign")).collect();
        let entries = signer.entries();
        assert_eq!(entries.len(), 3, "one log entry per module");
        let mut indices: Vec<u64> = entries.iter().map(|e| e.log_index).collect();
        indices.dedup();
        assert_eq!(indices.len(), 3, "{entries:?}");
        assert!(entries.iter().all(|e| e.timestamped == tsa));
        for s in &signed {
            let who = verify(s, &root, IDENTITY, ISSUER).expect("verifies offline");
            assert!(who.contains(IDENTITY) && who.contains("logged in Rekor"), "{who}");
            assert!(verify(s, &root, "https://github.com/someone/else", ISSUER).is_err());
        }
        // Another trust root (another instance) does not accept it.
        let other = Mock::start();
        assert!(verify(&signed[0], &other.root(), IDENTITY, ISSUER).is_err());
    }
}

#[test]
fn a_chain_from_another_instance_is_refused_before_logging() {
    let mock = Mock::start();
    let other = Mock::start();
    // Services of `mock`, trust root of `other`: Fulcio's chain is unknown.
    let err = KeylessSigner::new(token(IDENTITY), mock.services(false), &other.root()).expect_err("refused");
    assert!(matches!(err, SignError::Certificate { .. }), "{err}");
    assert!(wsc_core::Chain(&err).to_string().contains("does not lead to a Fulcio CA"), "{err}");
}

#[test]
fn an_expired_or_malformed_token_is_refused_without_echoing_it() {
    let secret = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4Iiwic3ViIjoieSIsImV4cCI6MX0.sentinel-signature";
    let err = IdentityToken::new(secret).expect_err("expired");
    assert!(wsc_core::Chain(&err).to_string().contains("expired"), "{err}");
    assert!(!wsc_core::Chain(&err).to_string().contains("sentinel") && !format!("{err:?}").contains("sentinel"));
    for bad in ["", "abc", "a.b", "a.!!!.c", "a.bm90IGpzb24.c"] {
        let e = IdentityToken::new(bad).expect_err(bad);
        assert!(matches!(e, SignError::Token { .. }), "{bad}: {e}");
    }
    let t = token(IDENTITY);
    assert!(!format!("{t:?}").contains(".eyJ"), "{t:?}");
}
