//! `wsc sign --keyless` and `wsc sigstore sign-bundle` against the local
//! Sigstore-compatible instance on 127.0.0.1; sigstore-python checks the
//! results independently; a sentinel token never leaks.

use std::path::Path;
use std::process::{Command, Output};

use wsc_sigstore_local::{Config, Instance};

const IDENTITY: &str = "https://github.com/wsc-test/app/.github/workflows/release.yml@refs/heads/main";

fn start() -> (Instance, tempfile::TempDir) {
    start_with(false, false)
}

/// A local instance in a new folder, over HTTPS or not, with a Rekor v2 log or v1.
fn start_with(tls: bool, rekor_v2: bool) -> (Instance, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = Instance::start(Config {
        dir: dir.path().join("sigstore"),
        identities: vec![IDENTITY.into()],
        tls,
        port: 0,
        rekor_v2,
    })
    .expect("local instance");
    (inst, dir)
}

/// `wsc` with no ambient token variables.
fn wsc(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsc"));
    for v in [
        "SIGSTORE_ID_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "BUILDKITE",
        "CIRCLECI",
        "GCE_METADATA_HOST",
    ] {
        c.env_remove(v);
    }
    c.args(args).output().expect("wsc runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(args: &[&str]) -> String {
    let o = wsc(args);
    assert_eq!(o.status.code(), Some(0), "wsc {args:?}: {}", text(&o));
    text(&o)
}

fn module(dir: &Path, name: &str, n: u8) -> String {
    let mut m = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo.wasm")).expect("demo module");
    m.extend_from_slice(&[0, 4, 3, b'w', b's', n]);
    let p = dir.join(name);
    std::fs::write(&p, m).expect("write");
    p.display().to_string()
}

/// The service options every keyless command here needs.
fn service_args(inst: &Instance) -> Vec<String> {
    let d = inst.dir();
    vec![
        "--trusted-root".into(),
        d.join("trusted_root.json").display().to_string(),
        "--signing-config".into(),
        d.join("signing_config.json").display().to_string(),
        "--insecure-allow-http".into(),
    ]
}

fn verify_args<'a>(inst: &'a Instance, root: &'a str, input: &'a str) -> Vec<&'a str> {
    vec![
        "verify",
        "-i",
        input,
        "--keyless",
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        inst.url(),
        "--trusted-root",
        root,
    ]
}

fn sigstore_python(inst: &Instance, args: &[&str]) -> Output {
    Command::new("python3")
        .args(["-m", "sigstore", "--trust-config"])
        .arg(inst.dir().join("trust_config.json"))
        .args(args)
        .env("COLUMNS", "400")
        .output()
        .expect("python3 -m sigstore runs (sigstore 4.5.1; .ci/run installs it)")
}

/// sigstore-python's `verify identity` of `bundle` over `file`.
fn python_verifies(inst: &Instance, identity: &str, bundle: &str, file: &str) -> Output {
    let args =
        ["verify", "identity", "--cert-identity", identity, "--cert-oidc-issuer", inst.url(), "--bundle", bundle, file];
    sigstore_python(inst, &args)
}

/// `wsc sigstore sign-bundle` of `file` into `bundle`, then `wsc sigstore verify-bundle` over `artifact`.
fn sign_and_verify_bundle(inst: &Instance, extra: &[&str], file: &str, bundle: &str, artifact: &str) {
    let token = inst.mint_token(IDENTITY).expect("token");
    let mut args: Vec<String> = vec!["sigstore".into(), "sign-bundle".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(["--identity-token".into(), token, "--bundle".into(), bundle.into()]);
    args.extend(service_args(inst));
    args.push(file.into());
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let root = inst.dir().join("trusted_root.json").display().to_string();
    ok(&[
        "sigstore",
        "verify-bundle",
        "--bundle",
        bundle,
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        inst.url(),
        "--trusted-root",
        &root,
        artifact,
    ]);
}

#[test]
fn batch_signing_shares_one_certificate_and_verifies_everywhere() {
    let (inst, tmp) = start();
    let d = tmp.path();
    let token = inst.mint_token(IDENTITY).expect("token");
    let inputs: Vec<String> = (0..3).map(|n| module(d, &format!("m{n}.wasm"), n)).collect();
    let out = d.join("signed");
    let mut args: Vec<String> = vec!["sign".into(), "--keyless".into(), "--identity-token".into(), token.clone()];
    args.extend(service_args(&inst));
    for i in &inputs {
        args.extend(["-i".to_string(), i.clone()]);
    }
    args.extend(["--out-dir".to_string(), out.display().to_string()]);
    let printed = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(inst.requests("/api/v2/signingCert"), 1, "one certificate for the batch");
    assert_eq!(inst.requests("/api/v1/log/entries"), 3, "one log entry per module");
    assert_eq!(printed.matches("logged in Rekor at index").count(), 3, "{printed}");
    assert!(printed.contains("timestamped"), "{printed}");

    let root = inst.dir().join("trusted_root.json").display().to_string();
    for n in 0..3 {
        let signed = out.join(format!("m{n}.wasm")).display().to_string();
        let shown = ok(&verify_args(&inst, &root, &signed));
        assert!(shown.contains(IDENTITY), "{shown}");
        // Wrong identity: exit 1.
        let mut wrong = verify_args(&inst, &root, &signed);
        wrong[5] = "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main";
        assert_eq!(wsc(&wrong).status.code(), Some(1));
    }
    // sigstore-python verifies the exported record over its message.
    let exported = d.join("exported");
    ok(&[
        "bundle",
        "export",
        "-i",
        &out.join("m1.wasm").display().to_string(),
        "--out-dir",
        &exported.display().to_string(),
    ]);
    let bundle = exported.join("set0-record0.sigstore.json").display().to_string();
    let msg = exported.join("set0-record0.msg").display().to_string();
    let o = sigstore_python(
        &inst,
        &[
            "verify",
            "identity",
            "--cert-identity",
            IDENTITY,
            "--cert-oidc-issuer",
            inst.url(),
            "--bundle",
            &bundle,
            &msg,
        ],
    );
    assert!(o.status.success(), "sigstore-python: {}", text(&o));
    let o = sigstore_python(
        &inst,
        &[
            "verify",
            "identity",
            "--cert-identity",
            "https://x.test/y",
            "--cert-oidc-issuer",
            inst.url(),
            "--bundle",
            &bundle,
            &msg,
        ],
    );
    assert!(!o.status.success());
}

#[test]
fn the_token_never_appears_in_output_logs_or_files() {
    let (inst, tmp) = start();
    let d = tmp.path();
    let token = inst.mint_token(IDENTITY).expect("token");
    // The signature part of the JWT is the secret a thief needs.
    let sentinel = token.rsplit('.').next().expect("jwt").to_string();
    assert!(sentinel.len() > 40);
    let input = module(d, "m.wasm", 1);
    let log = d.join("audit.jsonl").display().to_string();
    let tok_file = d.join("token.txt");
    std::fs::write(&tok_file, &token).expect("write");
    let mut outputs = Vec::new();
    for (n, how) in ["flag", "file", "env"].iter().enumerate() {
        let signed = d.join(format!("s{n}.wasm")).display().to_string();
        let mut args: Vec<String> = vec!["--audit-log".into(), log.clone(), "sign".into(), "--keyless".into()];
        match *how {
            "flag" => args.extend(["--identity-token".into(), token.clone()]),
            "file" => args.extend(["--identity-token-file".into(), tok_file.display().to_string()]),
            _ => {}
        }
        args.extend(service_args(&inst));
        args.extend(["-i".into(), input.clone(), "-o".into(), signed.clone()]);
        let mut c = Command::new(env!("CARGO_BIN_EXE_wsc"));
        c.args(&args);
        if *how == "env" {
            c.env("SIGSTORE_ID_TOKEN", &token);
        }
        let o = c.output().expect("wsc");
        assert_eq!(o.status.code(), Some(0), "{how}: {}", text(&o));
        outputs.push(text(&o));
        outputs.push(String::from_utf8_lossy(&std::fs::read(&signed).expect("signed")).into_owned());
    }
    // A failing run (Fulcio refuses a token for another audience) prints no token either.
    let wrong = inst.mint_token_with(IDENTITY, "not-sigstore", 600).expect("token");
    let mut args: Vec<String> = vec![
        "--audit-log".into(),
        log.clone(),
        "sign".into(),
        "--keyless".into(),
        "--identity-token".into(),
        wrong.clone(),
    ];
    args.extend(service_args(&inst));
    args.extend(["-i".into(), input.clone(), "-o".into(), d.join("x.wasm").display().to_string()]);
    let o = wsc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("HTTP 401"), "{}", text(&o));
    assert!(!d.join("x.wasm").exists(), "no output after a failure");
    outputs.push(text(&o));
    outputs.push(std::fs::read_to_string(&log).expect("audit log"));
    let wrong_secret = wrong.rsplit('.').next().expect("jwt").to_string();
    for (i, out) in outputs.iter().enumerate() {
        assert!(!out.contains(&sentinel) && !out.contains(&wrong_secret), "token leaked in output #{i}");
    }
    assert!(outputs.last().expect("log").contains("\"event\":\"sign\""));
}

#[test]
fn a_log_entry_that_does_not_verify_leaves_no_output() {
    let (inst, tmp) = start();
    let d = tmp.path();
    let input = module(d, "m.wasm", 2);
    for fault in ["bad_set", "bad_sct", "foreign_chain", "detached_sct", "retry_after", "server_error"] {
        match fault {
            "bad_set" => inst.faults().bad_set(true),
            "bad_sct" => inst.faults().bad_sct(true),
            "foreign_chain" => inst.faults().foreign_chain(true),
            "detached_sct" => inst.faults().detached_sct(true),
            "retry_after" => inst.faults().rate_limit(1, 3600),
            _ => inst.faults().server_error(1000),
        }
        let token = inst.mint_token(IDENTITY).expect("token");
        let out = d.join(format!("{fault}.wasm"));
        let mut args: Vec<String> =
            vec!["sign".into(), "--keyless".into(), "--identity-token".into(), token, "--attempts".into(), "2".into()];
        args.extend(service_args(&inst));
        args.extend(["-i".into(), input.clone(), "-o".into(), out.display().to_string()]);
        let o = wsc(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(2), "{fault}: {}", text(&o));
        assert!(!out.exists(), "{fault}: an output was written");
        let t = text(&o);
        let why = match fault {
            "bad_set" | "bad_sct" => "does not verify against the trust root",
            "foreign_chain" => "does not lead to a Fulcio CA",
            "detached_sct" => "detached SCT",
            "retry_after" => "HTTP 429 after 1 attempt(s)",
            _ => "HTTP 500 after 2 attempt(s)",
        };
        assert!(t.contains(why), "{fault}: {t}");
        inst.faults().clear();
    }
    // Without any token source and not on a terminal: a clear error.
    let mut args: Vec<String> = vec!["sign".into(), "--keyless".into()];
    args.extend(service_args(&inst));
    args.extend(["-i".into(), input, "-o".into(), d.join("n.wasm").display().to_string()]);
    let o = wsc(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no identity token"), "{}", text(&o));
    // Plain HTTP needs the explicit flag.
    let token = inst.mint_token(IDENTITY).expect("token");
    let d2 = inst.dir();
    let o = wsc(&[
        "sign",
        "--keyless",
        "--identity-token",
        &token,
        "--trusted-root",
        &d2.join("trusted_root.json").display().to_string(),
        "--signing-config",
        &d2.join("signing_config.json").display().to_string(),
        "-i",
        &module(d, "h.wasm", 3),
        "-o",
        &d.join("h.signed.wasm").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--insecure-allow-http"), "{}", text(&o));
}

#[test]
fn sign_bundle_follows_the_conformance_protocol() {
    let (inst, tmp) = start();
    let d = tmp.path();
    let blob = d.join("blob.txt");
    std::fs::write(&blob, b"hello conformance").expect("write");
    let blob_s = blob.display().to_string();
    let bundle = d.join("blob.sigstore.json").display().to_string();
    sign_and_verify_bundle(&inst, &[], &blob_s, &bundle, &blob_s);
    let o = python_verifies(&inst, IDENTITY, &bundle, &blob_s);
    assert!(o.status.success(), "sigstore-python: {}", text(&o));

    // --in-toto: a DSSE envelope over a statement about the blob.
    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(b"hello conformance").iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let statement = d.join("statement.json");
    std::fs::write(
        &statement,
        format!(r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"blob.txt","digest":{{"sha256":"{digest}"}}}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{{}}}}"#),
    )
    .expect("write");
    let dsse = d.join("statement.sigstore.json").display().to_string();
    sign_and_verify_bundle(&inst, &["--in-toto"], &statement.display().to_string(), &dsse, &blob_s);
    let b = std::fs::read_to_string(&dsse).expect("bundle");
    assert!(b.contains("dsseEnvelope") && b.contains("application/vnd.in-toto+json"), "{b}");
    let o = python_verifies(&inst, IDENTITY, &dsse, &blob_s);
    assert!(o.status.success(), "sigstore-python (DSSE): {}", text(&o));
}

/// Over HTTPS with pins from the environment (strict mode): the right pins
/// sign; a wrong Rekor pin fails before anything is written.
#[test]
fn pinned_https_from_the_environment() {
    let (inst, dir) = start_with(true, false);
    let d = dir.path();
    let leaf = inst.tls_leaf_der().expect("tls leaf");
    let pin = {
        use sha2::Digest;
        sha2::Sha256::digest(&leaf).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let input = module(d, "m.wasm", 5);
    let run = |rekor_pin: &str, out: &str| {
        let token = inst.mint_token(IDENTITY).expect("token");
        let sd = inst.dir();
        Command::new(env!("CARGO_BIN_EXE_wsc"))
            .args(["sign", "--keyless", "--identity-token", &token, "--trusted-root"])
            .arg(sd.join("trusted_root.json"))
            .arg("--signing-config")
            .arg(sd.join("signing_config.json"))
            .arg("--tls-ca")
            .arg(sd.join("tls-ca.pem"))
            .args(["-i", &input, "-o", out])
            .env("WSC_REQUIRE_CERT_PINNING", "1")
            .env("WSC_FULCIO_PINS", &pin)
            .env("WSC_REKOR_PINS", rekor_pin)
            .env("WSC_TSA_PINS", &pin)
            .env_remove("SIGSTORE_ID_TOKEN")
            .output()
            .expect("wsc")
    };
    let good = d.join("good.wasm").display().to_string();
    let o = run(&pin, &good);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("no certificate pins"), "{}", text(&o));
    let bad = d.join("bad.wasm");
    let o = run(&"ab".repeat(32), &bad.display().to_string());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("Rekor") && text(&o).to_lowercase().contains("pin"), "{}", text(&o));
    assert!(!bad.exists());
}

/// With a Rekor v2 instance: `wsc sign --keyless` logs `hashedrekord` 0.0.2
/// entries, and sigstore-python verifies the exported bundle.
#[test]
fn rekor_v2_signing_verifies_with_sigstore_python() {
    let (inst, dir) = start_with(false, true);
    let d = dir.path();
    let token = inst.mint_token(IDENTITY).expect("token");
    let out = d.join("s.wasm").display().to_string();
    let mut args: Vec<String> = vec!["sign".into(), "--keyless".into(), "--identity-token".into(), token];
    args.extend(service_args(&inst));
    args.extend(["-i".into(), module(d, "m.wasm", 9), "-o".into(), out.clone()]);
    let printed = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(printed.contains("Rekor v2"), "{printed}");
    let root = inst.dir().join("trusted_root.json").display().to_string();
    ok(&verify_args(&inst, &root, &out));
    let exported = d.join("exported");
    ok(&["bundle", "export", "-i", &out, "--out-dir", &exported.display().to_string()]);
    let bundle = exported.join("set0-record0.sigstore.json").display().to_string();
    assert!(std::fs::read_to_string(&bundle).expect("bundle").contains("\"version\":\"0.0.2\""));
    let o = python_verifies(&inst, IDENTITY, &bundle, &exported.join("set0-record0.msg").display().to_string());
    assert!(o.status.success(), "sigstore-python: {}", text(&o));
}

/// Contributes fixed bytes as a keyless record, whatever the message: how
/// an attacker embeds a bundle of their choice.
#[derive(Debug)]
struct RawRecord(Vec<u8>);

impl wsc_core::Signer for RawRecord {
    fn algorithm(&self) -> wsc_core::sigdata::AlgorithmId {
        wsc_keyless::KEYLESS_ALGORITHM
    }
    fn public_key(&self) -> Option<wsc_core::PublicKey> {
        None
    }
    fn try_sign(&self, _message: &[u8]) -> Result<Vec<u8>, wsc_core::SignerError> {
        Ok(self.0.clone())
    }
}

/// The unsigned module `input` with `bundle` as its keyless record, written to `dir/name`.
fn embed(input: &str, bundle: &str, dir: &Path, name: &str) -> String {
    let module = std::fs::read(input).expect("module");
    let signed = wsc_core::sign(&module, &RawRecord(bundle.as_bytes().to_vec())).expect("embed");
    let p = dir.join(name);
    std::fs::write(&p, signed).expect("write");
    p.display().to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Defect class: a DSSE envelope accepted as a keyless signature record.
/// `wsc sigstore sign-bundle --in-toto` signs a statement whose subject is
/// the module's set message (by SHA-256, or by SHA-512 after an unrelated
/// first subject); the bundle verifies as a plain bundle over the message,
/// but embedded as a keyless record, `wsc verify --keyless` exits 1.
#[test]
fn wsc_verify_refuses_a_dsse_record_naming_the_set_message() {
    use sha2::Digest;
    let (inst, tmp) = start();
    let d = tmp.path();
    let input = module(d, "m.wasm", 20);
    let msg = d.join("m.msg").display().to_string();
    ok(&["bundle", "message", "-i", &input, "-o", &msg]);
    let message = std::fs::read(&msg).expect("message");
    let subject =
        |name: &str, alg: &str, digest: String| format!(r#"{{"name":"{name}","digest":{{"{alg}":"{digest}"}}}}"#);
    let statements = [
        ("sha256", subject("m.wasm", "sha256", hex(&sha2::Sha256::digest(&message)))),
        (
            "sha512",
            format!(
                "{},{}",
                subject("other.bin", "sha256", hex(&sha2::Sha256::digest(b"another artifact"))),
                subject("m.wasm", "sha512", hex(&sha2::Sha512::digest(&message)))
            ),
        ),
    ];
    let root = inst.dir().join("trusted_root.json").display().to_string();
    for (alg, subjects) in statements {
        let statement = d.join(format!("{alg}.statement.json"));
        std::fs::write(
            &statement,
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{subjects}],"predicateType":"https://example.test/anything","predicate":{{}}}}"#
            ),
        )
        .expect("write");
        let dsse = d.join(format!("{alg}.sigstore.json")).display().to_string();
        // Signed, and verified as a plain bundle over the message file.
        sign_and_verify_bundle(&inst, &["--in-toto"], &statement.display().to_string(), &dsse, &msg);
        let bundle = std::fs::read_to_string(&dsse).expect("bundle");
        assert!(bundle.contains("dsseEnvelope"), "{alg}: {bundle}");
        let signed = embed(&input, &bundle, d, &format!("{alg}.wasm"));
        let o = wsc(&verify_args(&inst, &root, &signed));
        assert_eq!(o.status.code(), Some(1), "{alg}: a DSSE record verified: {}", text(&o));
        assert!(text(&o).contains("DSSE envelope"), "{alg}: {}", text(&o));
    }
}

/// Defect class: regex anchoring by string concatenation. On a module
/// that the trusted identity really signed, an identity or issuer pattern
/// that would close wsc's group (and so match every identity) is refused
/// with exit 2; anchored patterns match only whole values.
#[test]
fn escaping_regexps_are_refused_not_matched() {
    let (inst, tmp) = start();
    let d = tmp.path();
    let token = inst.mint_token(IDENTITY).expect("token");
    let signed = d.join("s.wasm").display().to_string();
    let mut args: Vec<String> = vec!["sign".into(), "--keyless".into(), "--identity-token".into(), token];
    args.extend(service_args(&inst));
    args.extend(["-i".into(), module(d, "m.wasm", 21), "-o".into(), signed.clone()]);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let root = inst.dir().join("trusted_root.json").display().to_string();
    let run = |id: (&str, &str), iss: (&str, &str)| {
        wsc(&["verify", "-i", &signed, "--keyless", id.0, id.1, iss.0, iss.1, "--trusted-root", &root])
    };
    let exact_iss = ("--certificate-oidc-issuer", inst.url());
    let exact_id = ("--certificate-identity", IDENTITY);
    for pattern in ["nomatch)|(?:", "x)|.*|(?:y", ".*)|(.*"] {
        let o = run(("--certificate-identity-regexp", pattern), exact_iss);
        assert_eq!(o.status.code(), Some(2), "identity {pattern}: {}", text(&o));
        assert!(text(&o).contains("invalid regular expression"), "{}", text(&o));
        let o = run(exact_id, ("--certificate-oidc-issuer-regexp", pattern));
        assert_eq!(o.status.code(), Some(2), "issuer {pattern}: {}", text(&o));
        assert!(text(&o).contains("--certificate-oidc-issuer-regexp is not accepted"), "{}", text(&o));
    }
    let o = run(("--certificate-identity-regexp", r"https://github\.com/wsc-test/.*"), exact_iss);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A pattern without a literal scheme://host/segment/ prefix is refused before any match.
    let o = run(("--certificate-identity-regexp", "wsc-test"), exact_iss);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("weak_identity_regex"), "{}", text(&o));
    // Anchored: a pattern naming another repository does not match this one.
    let o = run(("--certificate-identity-regexp", r"https://github\.com/wsc-test2/.*"), exact_iss);
    assert_eq!(o.status.code(), Some(1), "an unanchored part matched: {}", text(&o));
    // Verbose mode: the comment ends the pattern, the anchors still hold.
    let o = run(("--certificate-identity-regexp", r"(?x)https://github\.com/wsc-test/.* # any workflow"), exact_iss);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(("--certificate-identity-regexp", r"(?x)https://github\.com/wsc-test/x#"), exact_iss);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// The instance's genuine bundle over `input`'s message, as JSON.
fn genuine_bundle(inst: &Instance, d: &Path, input: &str) -> serde_json::Value {
    let msg = d.join("genuine.msg").display().to_string();
    ok(&["bundle", "message", "-i", input, "-o", &msg]);
    let bundle = d.join("genuine.sigstore.json").display().to_string();
    sign_and_verify_bundle(inst, &[], &msg, &bundle, &msg);
    serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("json")
}

/// The bundle with another signing certificate (base64 DER).
fn with_leaf(bundle: &serde_json::Value, der_b64: &str) -> String {
    let mut b = bundle.clone();
    b["verificationMaterial"]["certificate"]["rawBytes"] = der_b64.into();
    b.to_string()
}

/// A code-signing leaf from `ca` (wsc-pki), valid from `start` for `validity`, as base64 DER.
fn pki_leaf(ca: &wsc_pki::Ca, start: std::time::SystemTime, validity: std::time::Duration) -> String {
    let key = wsc_core::SecretKey::generate(wsc_core::KeyAlgorithm::P256, &mut rand_core::OsRng);
    let csr = wsc_pki::Csr::create(&key, "dev1").expect("csr");
    let chain = ca.issue(&csr, &wsc_pki::DeviceProfile::for_device("dev1").starting(start).valid_for(validity));
    wsc_keyless::sigstore_verify::types::DerCertificate::from_bytes(&chain.expect("issued")[0]).to_base64()
}

/// CV-1 and CV-2 through `wsc verify --keyless`: a certificate from another
/// CA than the trust root's Fulcio, a certificate without the code-signing
/// EKU from a CA of the root, a certificate expired or not yet valid at the
/// verified signing time, and a genuine bundle checked against a root that
/// lists another CA. Each exits 1, refused by the chain check for its reason.
#[test]
fn cv1_cv2_certificate_defects_fail_wsc_verify_keyless() {
    use std::time::{Duration, SystemTime};
    let (inst, tmp) = start();
    let d = tmp.path();
    let input = module(d, "m.wasm", 22);
    let genuine = genuine_bundle(&inst, d, &input);
    let root_path = inst.dir().join("trusted_root.json");
    let root_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&root_path).expect("root")).expect("json");
    let write_root = |name: &str, v: &serde_json::Value| {
        let p = d.join(name);
        std::fs::write(&p, v.to_string()).expect("write");
        p.display().to_string()
    };
    let root = root_path.display().to_string();
    // The control: the bundle as made verifies as a record.
    let o = wsc(&verify_args(&inst, &root, &embed(&input, &genuine.to_string(), d, "genuine.wasm")));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The instance's Fulcio intermediate as a wsc-pki CA, to issue leaves with chosen validity.
    let dir = inst.dir();
    let read = |f: &str| std::fs::read(dir.join(f)).expect(f);
    let fulcio = wsc_pki::Ca::from_pem(
        &[read("fulcio-intermediate.pem"), read("fulcio-root.pem")].concat(),
        wsc_pki::load_secret_key(&read("fulcio-intermediate.key"), None, true).expect("key"),
    )
    .expect("the Fulcio intermediate as a CA");
    let now = SystemTime::now();
    let ten_min = Duration::from_secs(600);
    let mut profile = wsc_pki::CaProfile::root("foreign", wsc_core::KeyAlgorithm::P256);
    profile.not_before = Some(now - 6 * ten_min);
    let foreign = wsc_pki::Ca::new_root(&profile).expect("a foreign CA");

    // A root that lists the TSA's root as a second CA, and the TSA's leaf (timeStamping EKU only).
    let tsa_chain = &root_json["timestampAuthorities"][0]["certChain"]["certificates"];
    let tsa_leaf = tsa_chain[0]["rawBytes"].as_str().expect("TSA leaf").to_string();
    let mut with_tsa_ca = root_json.clone();
    let mut tsa_ca = root_json["certificateAuthorities"][0].clone();
    tsa_ca["certChain"]["certificates"] = serde_json::json!([tsa_chain[1].clone()]);
    with_tsa_ca["certificateAuthorities"].as_array_mut().expect("CAs").push(tsa_ca);
    let with_tsa_ca = write_root("with-tsa-ca.json", &with_tsa_ca);
    // A root whose only Fulcio CA is another CA (the TSA's chain).
    let mut other_ca = root_json.clone();
    other_ca["certificateAuthorities"][0]["certChain"] = root_json["timestampAuthorities"][0]["certChain"].clone();
    let other_ca = write_root("other-ca.json", &other_ca);

    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "another CA's leaf",
            with_leaf(&genuine, &pki_leaf(&foreign, now - ten_min, 3 * ten_min)),
            &root,
            "UnknownIssuer",
        ),
        ("no code-signing EKU", with_leaf(&genuine, &tsa_leaf), &with_tsa_ca, "RequiredEkuNotFound"),
        (
            "expired at the signing time",
            with_leaf(&genuine, &pki_leaf(&fulcio, now - 4 * ten_min, ten_min)),
            &root,
            "CertExpired",
        ),
        (
            "not yet valid at the signing time",
            with_leaf(&genuine, &pki_leaf(&fulcio, now + 2 * ten_min, ten_min)),
            &root,
            "CertNotValidYet",
        ),
        ("a root with another CA", genuine.to_string(), &other_ca, "UnknownIssuer"),
    ];
    for (n, (what, bundle, root, reason)) in cases.into_iter().enumerate() {
        let signed = embed(&input, &bundle, d, &format!("case{n}.wasm"));
        let o = wsc(&verify_args(&inst, root, &signed));
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        let t = text(&o);
        assert!(t.contains("certificate chain is invalid") && t.contains(reason), "{what}: {t}");
    }
}
