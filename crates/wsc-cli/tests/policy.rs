//! `wsc policy check | fmt | init`: outputs and exit codes, driven by the
//! policy vectors of wsc-policy (`crates/wsc-policy/tests/data/`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wsc-policy/tests/data")
}

fn keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/keys")
}

fn wsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).args(args).output().expect("wsc runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The rows of expected.tsv: file, outcome (`ok` or a code), detail.
fn expected() -> Vec<(String, String, String)> {
    let t = std::fs::read_to_string(data().join("expected.tsv")).expect("expected.tsv");
    t.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

/// `check` prints the normalized policy on one line and `sha256:<hex>` of
/// exactly that line; an invalid policy exits 2 with its code and path.
#[test]
fn check_prints_the_normalized_policy_and_its_hash_or_the_error() {
    let mut failures = Vec::new();
    for (file, outcome, detail) in expected() {
        let path = data().join(&file);
        let out = wsc(&["policy", "check", path.to_str().expect("UTF-8 path")]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        if outcome == "ok" {
            let lines: Vec<&str> = stdout.lines().collect();
            let ok = out.status.code() == Some(0)
                && lines.len() == 2
                && lines[1] == format!("sha256:{}", hex(&Sha256::digest(lines[0].as_bytes())))
                && lines[1] == format!("sha256:{detail}");
            if !ok {
                failures.push(format!("{file}: {:?}\n{stdout}{stderr}", out.status));
            }
        } else {
            let place = if detail == "-" { String::new() } else { format!(" at {detail}") };
            let ok = out.status.code() == Some(2)
                && stdout.is_empty()
                && stderr.starts_with("error: policy '")
                && stderr.contains(&format!("{outcome} at"))
                && stderr.contains(&place);
            if !ok {
                failures.push(format!("{file}: expected exit 2, {outcome}{place}; got {:?}\n{stderr}", out.status));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn check_of_a_missing_file_exits_2() {
    let out = wsc(&["policy", "check", "/nonexistent/policy.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unreadable_file"), "{}", text(&out.stderr));
}

/// `fmt` converts both ways; what it prints loads as the same policy.
#[test]
fn fmt_converts_toml_to_json_and_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(keys().join("k1.pk"), tmp.path().join("k1.pk")).expect("copy key");
    std::fs::copy(data().join("material/p256.pem"), tmp.path().join("p256.pem")).expect("copy key");
    let policy = tmp.path().join("p.toml");
    std::fs::write(
        &policy,
        "schema = \"wsc-policy/v1\"\n\
         [principals.a]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
         [principals.b]\nkind = \"key\"\nalgorithm = \"p256\"\nfile = \"p256.pem\"\nvalid_until = 2030-01-01T00:00:00Z\n\
         [rules.both]\nthreshold = { k = 2, of = [\"a\", \"b\"] }\n\
         [[scopes]]\nname = \"plugins\"\nmatch = { path_glob = \"plugins/*.wasm\" }\nrule = \"a\"\nmode = \"audit\"\n\
         [default]\nrule = \"both\"\n",
    )
    .expect("write policy");
    let check = |p: &Path| {
        let out = wsc(&["policy", "check", p.to_str().expect("UTF-8")]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout).lines().nth(1).expect("hash line").to_string()
    };
    let original = check(&policy);

    let json = wsc(&["policy", "fmt", "--json", policy.to_str().expect("UTF-8")]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("fmt --json prints JSON");
    assert_eq!(parsed["rules"]["both"]["threshold"]["k"], 2);
    assert_eq!(parsed["principals"]["b"]["valid_until"], "2030-01-01T00:00:00Z");
    let as_json = tmp.path().join("p.json");
    std::fs::write(&as_json, &json.stdout).expect("write JSON");
    assert_eq!(check(&as_json), original);

    let toml = wsc(&["policy", "fmt", "--toml", as_json.to_str().expect("UTF-8")]);
    assert_eq!(toml.status.code(), Some(0), "{}", text(&toml.stderr));
    assert!(text(&toml.stdout).contains("valid_until = 2030-01-01T00:00:00Z\n"), "{}", text(&toml.stdout));
    let back = tmp.path().join("back.toml");
    std::fs::write(&back, &toml.stdout).expect("write TOML");
    assert_eq!(check(&back), original);

    let usage = wsc(&["policy", "fmt", policy.to_str().expect("UTF-8")]);
    assert_eq!(usage.status.code(), Some(2), "fmt needs --json or --toml");
    let bad = wsc(&["policy", "fmt", "--json", data().join("err-cycle.toml").to_str().expect("UTF-8")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty() && text(&bad.stderr).contains("cycle at rules.b.any[0]"));
}

/// `init` writes a commented policy that `check` accepts, names anchors
/// relative to the policy, and never overwrites without --force.
#[test]
fn init_writes_a_checked_starter_policy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sub = tmp.path().join("conf");
    std::fs::create_dir(&sub).expect("mkdir");
    let pki = tmp.path().join("pki");
    std::fs::create_dir(&pki).expect("mkdir");
    std::fs::copy(data().join("material/root-ca.pem"), pki.join("root-ca.pem")).expect("copy anchor");
    let out = sub.join("policy.toml");
    let s = |p: &Path| p.to_str().expect("UTF-8").to_string();
    let args = [
        "policy".to_string(),
        "init".into(),
        "--key".into(),
        s(&keys().join("k1.pk")),
        "--key".into(),
        s(&data().join("material/p256.pem")),
        "--keyless-identity".into(),
        "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main".into(),
        "--keyless-issuer".into(),
        "https://token.actions.githubusercontent.com".into(),
        "--anchor".into(),
        s(&pki.join("root-ca.pem")),
        "-o".into(),
        s(&out),
    ];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = wsc(&argv);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let written = std::fs::read_to_string(&out).expect("policy written");
    assert!(written.contains("\n# ") && written.contains("[principals.ci]"), "{written}");
    assert!(written.contains("anchors = [\"../pki/root-ca.pem\"]"), "anchor named relative to the policy: {written}");
    let check = wsc(&["policy", "check", &s(&out)]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let normalized: serde_json::Value =
        serde_json::from_str(text(&check.stdout).lines().next().expect("line")).expect("JSON");
    let release = normalized["rules"]["release"]["all"].as_array().expect("all").len();
    assert_eq!(release, 4, "every principal given is required");
    assert_eq!(
        normalized["principals"]["key-1"]["signer"],
        format!("key:sha256:{}", hex(&Sha256::digest(std::fs::read(keys().join("k1.pk.der")).expect("k1.pk.der"))))
    );

    // Again: refused, file unchanged; with --force: replaced.
    let again = wsc(&argv);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already exists"), "{}", text(&again.stderr));
    assert_eq!(std::fs::read_to_string(&out).expect("still there"), written);
    let mut forced = argv.clone();
    forced.push("--force");
    assert_eq!(wsc(&forced).status.code(), Some(0));
}

#[test]
fn init_refuses_what_check_would_refuse_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("p.toml");
    let o = out.to_str().expect("UTF-8");
    let k1 = keys().join("k1.pk");
    let k1_pem = keys().join("k1.pk.pem");
    let not_key = data().join("material/not-a-key.txt");
    let leaf = data().join("material/device-leaf.pem");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // One key in two encodings is one signer.
        (vec!["--key", k1.to_str().expect("UTF-8"), "--key", k1_pem.to_str().expect("UTF-8")], "duplicate_key"),
        (vec!["--key", not_key.to_str().expect("UTF-8")], "not-a-key.txt"),
        (vec!["--anchor", leaf.to_str().expect("UTF-8")], "invalid_trust_material"),
        (vec!["--keyless-identity", "https://github.com/acme/app/x"], "--keyless-issuer"),
        (vec![], "at least one"),
    ];
    for (extra, want) in cases {
        let mut argv = vec!["policy", "init", "-o", o];
        argv.extend(extra.iter().copied());
        let r = wsc(&argv);
        assert_eq!(r.status.code(), Some(2), "{argv:?}");
        assert!(text(&r.stderr).contains(want), "{argv:?}: {}", text(&r.stderr));
        assert!(!out.exists(), "{argv:?} wrote a file");
    }
}
