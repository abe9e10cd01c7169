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
