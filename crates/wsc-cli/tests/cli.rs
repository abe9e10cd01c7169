//! The `wsc` command as a user meets it: exit codes, atomic outputs, JSON,
//! key formats, and the demo.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2")
}

fn wsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).current_dir(vectors()).args(args).output().expect("wsc runs")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (arguments, expected exit code, text expected on stderr)
const EXIT_CODES: &[(&[&str], i32, &str)] = &[
    (&["verify", "-i", "signed/add.k1.wasm", "-K", "keys/k1.pk"], 0, ""),
    (&["verify", "-i", "signed/add.k1.wasm", "-K", "keys/k2.pk"], 1, "no valid signature"),
    (&["verify", "-i", "modules/add.wasm", "-K", "keys/k1.pk"], 1, "no signature found"),
    (&["verify", "-i", "signed/add.k1.tampered-data.wasm", "-K", "keys/k1.pk"], 1, "does not match"),
    (&["verify", "-i", "no-such-file.wasm", "-K", "keys/k1.pk"], 2, "no-such-file.wasm"),
    (&["verify", "-i", "signed/add.k1.wasm", "-K", "modules/add.wasm"], 2, "modules/add.wasm"),
    (&["verify", "-i", "keys/k1.pk", "-K", "keys/k1.pk"], 2, "preamble"),
    (&["verify", "-i", "signed/add.k1.wasm", "-K", "keys/k1.pk", "-s", "("], 2, "regex"),
    (&["verify", "-i", "signed/add.k1.wasm"], 2, "--public-key"),
    (&["frobnicate"], 2, "unrecognized subcommand"),
    (&["verify_matrix", "-i", "signed/add.k1.wasm", "-K", "keys/k2.pk", "keys/k3.pk"], 1, "no public key verified"),
    (&["verify-matrix", "-i", "signed/add.k1.k2.wasm", "-K", "keys/k2.pk", "keys/k3.pk"], 0, ""),
    (&["show", "-i", "crafted/huge-section-len.wasm"], 2, "offset 9"),
];

#[test]
fn exit_codes() {
    for (args, code, needle) in EXIT_CODES {
        let o = wsc(args);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn output_may_be_the_input_and_failures_leave_files_intact() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = tmp.path().join("m.wasm");
    std::fs::copy(vectors().join("modules/add.wasm"), &m).expect("copy");
    let o = wsc(&["sign", "-i", &s(&m), "-o", &s(&m), "-k", "keys/k1.sk"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&m).expect("read"), std::fs::read(vectors().join("signed/add.k1.wasm")).expect("vector"));

    // Signing again with the same key fails: the file is untouched and no temporary file is left.
    let before = std::fs::read(&m).expect("read");
    let o = wsc(&["sign", "-i", &s(&m), "-o", &s(&m), "-k", "keys/k1.sk"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&m).expect("read"), before);
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["m.wasm".to_string()], "leftover files: {names:?}");

    // A malformed input makes no output file at all.
    let out = tmp.path().join("out.wasm");
    let o = wsc(&["sign", "-i", "crafted/huge-section-len.wasm", "-o", &s(&out), "-k", "keys/k1.sk"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
}

#[test]
fn verify_json_reports_ranges() {
    let o = wsc(&["verify", "--json", "-i", "signed/custom.split.k1.ext.wasm", "-K", "keys/k1.pk", "-s", r"^\.debug_"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    // The flags are a policy: the result is its verdict.
    assert_eq!(v["media_type"], "application/vnd.wsc.policy-result+json;version=1");
    assert_eq!(v["decision"], "accepted");
    assert_eq!(v["coverage"]["kind"], "sections");
    assert_eq!(v["coverage"]["covered"], serde_json::json!([[205, 774]]));
    assert_eq!(v["coverage"]["unsigned_ranges"], serde_json::json!([[774, 804]]));
    let k1 = std::fs::read(vectors().join("keys/k1.pk")).expect("k1");
    let spki = wsc_core::PublicKey::from_any(&k1).expect("key").to_der().expect("spki");
    let signer = format!("key:sha256:{}", wsc_core::keys::hex(&<sha2::Sha256 as sha2::Digest>::digest(&spki)));
    assert_eq!(v["satisfied"]["any"][0]["signer"], signer.as_str());

    let o = wsc(&["verify", "--json", "-i", "crafted/add.k1.unknown-alg.wasm", "-K", "keys/k1.pk"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["skipped"][0]["reason"], "algorithm unknown (0x02) is not known to wsc");
}

#[test]
fn show_lists_sections_and_records() {
    let o = wsc(&["show", "--json", "-i", "signed/add.k1kid.k2kid.wasm"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["kind"], "module");
    assert_eq!(v["sections"].as_array().map(Vec::len), Some(12));
    let sigs = &v["signature"]["sets"][0]["signatures"];
    assert_eq!(sigs[0]["key_id"], "3229a5f688dc440331d6fd89");
    assert_eq!(sigs[1]["key_id"], "11049d4eebe48b2febab2b1d");
    assert_eq!(
        v["parts"],
        serde_json::json!([{"path": [], "depth": 0, "kind": "module", "offset": 0, "len": 369, "signed": true}])
    );
    let o = wsc(&["show", "-i", "modules/add.padded.wasm"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("non-minimal"));
}

/// The component tree of hello.wasm (four core modules and a component,
/// as `wasm-tools objdump` lists them), in text and JSON.
#[test]
fn show_prints_the_component_tree() {
    let o = wsc(&["show", "-i", "../components/hello.wasm"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let tree = text.split_once("component tree: ").map_or("", |(_, t)| t);
    let want = "6 part(s)
  root component at offset 0, 18430 bytes, unsigned
    0 module at offset 2053, 191 bytes, unsigned
    1 module at offset 2247, 9603 bytes, unsigned
    2 module at offset 11853, 1067 bytes, unsigned
    3 module at offset 13997, 321 bytes, unsigned
    4 component at offset 14937, 63 bytes, unsigned
";
    assert_eq!(tree, want, "{text}");

    let o = wsc(&["show", "--json", "-i", "../components/hello.wasm"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let parts = v["parts"].as_array().expect("parts");
    let rows: Vec<_> =
        parts.iter().map(|p| (p["path"].to_string(), p["kind"].to_string(), p["offset"].as_u64())).collect();
    let want = [
        ("[]", "\"component\"", Some(0)),
        ("[0]", "\"module\"", Some(2053)),
        ("[1]", "\"module\"", Some(2247)),
        ("[2]", "\"module\"", Some(11853)),
        ("[3]", "\"module\"", Some(13997)),
        ("[4]", "\"component\"", Some(14937)),
    ];
    let want: Vec<_> = want.iter().map(|(p, k, o)| (p.to_string(), k.to_string(), *o)).collect();
    assert_eq!(rows, want);
    assert_eq!(
        parts[1],
        serde_json::json!({"path": [0], "depth": 1, "kind": "module", "offset": 2053, "len": 191, "signed": false})
    );
    assert!(parts.iter().all(|p| p["signed"] == false));
}

#[test]
fn keygen_formats_round_trip_through_sign_and_verify() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| s(&tmp.path().join(n));
    for (alg, fmt) in [("ed25519", "raw"), ("ed25519", "pem"), ("ed25519", "der"), ("p256", "pem"), ("p256", "der")] {
        // The same files each round: --force replaces the secret key.
        let o = wsc(&["keygen", "--force", "--algorithm", alg, "--format", fmt, "-k", &p("k"), "-K", &p("p")]);
        assert_eq!(o.status.code(), Some(0), "{alg} {fmt}: {}", stderr(&o));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join("k")).expect("k").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "secret key file mode");
        }
        let o = wsc(&["sign", "-i", "modules/custom.wasm", "-o", &p("s.wasm"), "-k", &p("k"), "-K", &p("p")]);
        assert_eq!(o.status.code(), Some(0), "{alg} {fmt}: {}", stderr(&o));
        let o = wsc(&["verify", "-i", &p("s.wasm"), "-K", &p("p")]);
        assert_eq!(o.status.code(), Some(0), "{alg} {fmt}: {}", stderr(&o));
    }
    let o = wsc(&["keygen", "--algorithm", "p256", "--format", "raw", "-k", &p("k2"), "-K", &p("p2")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("raw"));
}

/// The local instance's program, built now from this source (the demo
/// starts it for its keyless half): in the profile dir, beside `wsc`.
fn instance_program() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let wsc = PathBuf::from(env!("CARGO_BIN_EXE_wsc"));
            let dir = wsc.parent().expect("profile dir").to_path_buf();
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "--locked", "-p", "wsc-sigstore-local", "--bin", "wsc-sigstore-local"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let o = build.current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("cargo build runs");
            assert!(o.status.success(), "building wsc-sigstore-local: {}", String::from_utf8_lossy(&o.stderr));
            let program = dir.join("wsc-sigstore-local");
            assert!(program.is_file(), "{} is missing after cargo build", program.display());
            program
        })
        .clone()
}

fn demo(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc"))
        .env("WSC_SIGSTORE_LOCAL", instance_program())
        .args(["demo", "--dir", &s(dir)])
        .output()
        .expect("wsc runs")
}

#[test]
fn demo_runs_offline_and_checks_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = demo(tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("is rejected"), "{out}");
    for f in [
        "demo.wasm",
        "demo.signed.wasm",
        "demo.tampered.wasm",
        "ed25519.sk",
        "ed25519.pk",
        "p256.sk.pem",
        "p256.pk.pem",
    ] {
        assert!(tmp.path().join(f).is_file(), "{f}");
    }
    let o = wsc(&["verify", "-i", &s(&tmp.path().join("demo.signed.wasm")), "-K", &s(&tmp.path().join("p256.pk.pem"))]);
    assert_eq!(o.status.code(), Some(0));
    // The keyless part: signed against the local instance, verifiable offline afterwards.
    assert!(out.contains("signed keylessly") && out.contains("verified offline"), "{out}");
    let issuer = out
        .lines()
        .find_map(|l| l.split("Sigstore instance (OIDC, Fulcio, Rekor, TSA) on ").nth(1))
        .and_then(|r| r.split(';').next())
        .expect("issuer URL");
    let o = wsc(&[
        "verify",
        "-i",
        &s(&tmp.path().join("demo.keyless.wasm")),
        "--keyless",
        "--certificate-identity",
        "https://github.com/wsc-demo/app/.github/workflows/release.yml@refs/heads/main",
        "--certificate-oidc-issuer",
        issuer,
        "--trusted-root",
        &s(&tmp.path().join("sigstore/trusted_root.json")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The demo needs no network: in a namespace with only a loopback interface
/// (root only; CI runs as root).
#[test]
fn demo_runs_with_loopback_only() {
    // No early return: without `unshare -n` and `ip` the test fails.
    let probe = Command::new("unshare").args(["-n", "sh", "-c", "ip link set lo up"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "this test needs `unshare -n` and `ip` as root (xtask/setup.sh installs util-linux and iproute2)"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let script = format!("ip link set lo up && exec '{}' demo --dir '{}'", env!("CARGO_BIN_EXE_wsc"), s(tmp.path()));
    let o = Command::new("unshare")
        .env("WSC_SIGSTORE_LOCAL", instance_program())
        .args(["-n", "sh", "-c", &script])
        .output()
        .expect("unshare");
    assert_eq!(o.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("verified offline"));
}

/// A local instance program that cannot start is an error, not a demo
/// without its keyless half.
#[test]
fn demo_fails_when_the_named_instance_program_is_missing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("no-such-program");
    let o = Command::new(env!("CARGO_BIN_EXE_wsc"))
        .env("WSC_SIGSTORE_LOCAL", &missing)
        .args(["demo", "--dir", &s(&tmp.path().join("d"))])
        .output()
        .expect("wsc runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-program"), "{}", stderr(&o));
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// With -Z, every key line of an OpenSSH file is a key of its own
/// (wasmsign2 reads only the first line of the first file).
#[test]
fn verify_matrix_ssh_reads_every_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let k1 = std::fs::read(vectors().join("keys/k1.pk")).expect("k1");
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], &k1[1..]] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    let ssh_pub = std::fs::read_to_string(vectors().join("keys/ssh_ed25519.pub")).expect("ssh key");
    let keys = tmp.path().join("authorized_keys");
    std::fs::write(&keys, format!("{}ssh-ed25519 {} k1\n", ssh_pub, base64(&blob))).expect("write");
    let k = s(&keys);
    for (module, want) in
        [("signed/add.ssh.wasm", "adb0fa2c8d16f4b6d2f317b3"), ("signed/add.k1.wasm", "3229a5f688dc440331d6fd89")]
    {
        let o = wsc(&["verify_matrix", "-Z", "-i", module, "-K", &k]);
        assert_eq!(o.status.code(), Some(0), "{module}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(want), "{module}: {out}");
    }
}

/// `-i A -i B --out-dir DIR` signs many modules with one key in one run.
#[test]
fn batch_signing_with_a_key_writes_each_module_into_the_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let (sk, pk) = (s(&d.join("k.sk")), s(&d.join("k.pk")));
    assert_eq!(wsc(&["keygen", "-k", &sk, "-K", &pk]).status.code(), Some(0));
    let (a, b) = (s(&vectors().join("modules/add.wasm")), s(&vectors().join("modules/custom.wasm")));
    let out = d.join("signed");
    let o = wsc(&["sign", "-k", &sk, "-i", &a, "-i", &b, "--out-dir", &s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for name in ["add.wasm", "custom.wasm"] {
        let o = wsc(&["verify", "-i", &s(&out.join(name)), "-K", &pk]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
    }
    // Several inputs need --out-dir; two inputs with one name would collide.
    let o = wsc(&["sign", "-k", &sk, "-i", &a, "-i", &b, "-o", &s(&d.join("x.wasm"))]);
    assert_eq!(o.status.code(), Some(2));
    let o = wsc(&["sign", "-k", &sk, "-i", &a, "-i", &a, "--out-dir", &s(&d.join("dup"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("would collide"), "{}", stderr(&o));
}
