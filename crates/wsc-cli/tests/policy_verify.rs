//! `wsc verify --policy`: exit codes (0 accepted or audit, 1 rejected, 2
//! input or policy error), the audit banner on every run, the verdict JSON,
//! the default `--path`, and flags that conflict with a policy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wsc_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).current_dir(dir).args(args).output().expect("wsc runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const POLICY: &str = r#"schema = "wsc-policy/v1"
[principals.a]
kind = "key"
algorithm = "ed25519"
file = "k1.pk"
[principals.b]
kind = "key"
algorithm = "ed25519"
file = "k2.pk"
[rules.two]
threshold = { k = 2, of = ["a", "b"] }
[[scopes]]
name = "plugins"
match = { path_glob = "plugins/*.wasm" }
rule = "a"
mode = "audit"
[[scopes]]
name = "registry"
match = { oci_repository = "ghcr.io/acme/app" }
rule = "two"
[default]
rule = "a"
"#;

/// A directory with the keys, the policy, and `add.wasm` signed by k1 at
/// `app.wasm` and `plugins/p.wasm`, and signed by k2 at `plugins/q.wasm`.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for k in ["k1.pk", "k1.sk", "k2.pk", "k2.sk"] {
        std::fs::copy(repo().join("testdata/wasmsign2/keys").join(k), d.join(k)).expect("copy key");
    }
    std::fs::write(d.join("policy.toml"), POLICY).expect("policy");
    std::fs::create_dir(d.join("plugins")).expect("mkdir");
    let module = repo().join("testdata/wasmsign2/modules/add.wasm");
    let m = module.to_str().expect("utf-8");
    for (out, key) in [("app.wasm", "k1.sk"), ("plugins/p.wasm", "k1.sk"), ("plugins/q.wasm", "k2.sk")] {
        let o = wsc_in(d, &["sign", "-i", m, "-o", out, "-k", key]);
        assert_eq!(o.status.code(), Some(0), "sign: {}", text(&o.stderr));
    }
    std::fs::copy(&module, d.join("plain.wasm")).expect("copy");
    let o = wsc_in(d, &["sign", "-i", "plain.wasm", "-S", "app.sig", "-k", "k2.sk"]);
    assert_eq!(o.status.code(), Some(0), "sign -S: {}", text(&o.stderr));
    dir
}

#[test]
fn exit_codes_banner_and_json() {
    let dir = setup();
    let d = dir.path();
    const BANNER: &str = "wsc: POLICY AUDIT: plugins/q.wasm WOULD BE REJECTED by scope plugins: rule_unsatisfied";
    // args, exit code, decision in the JSON (when --json), text that stderr must hold.
    let cases: &[(&[&str], i32, Option<&str>, &str)] = &[
        (&["verify", "-i", "app.wasm", "--policy", "policy.toml"], 0, None, ""),
        (&["verify", "-i", "app.wasm", "--policy", "policy.toml", "--json"], 0, Some("accepted"), ""),
        // The default path is the -i path: the audit scope applies.
        (&["verify", "-i", "plugins/q.wasm", "--policy", "policy.toml"], 0, None, BANNER),
        (&["verify", "-i", "./plugins/q.wasm", "--policy", "policy.toml", "--json"], 0, Some("audit_rejected"), ""),
        (&["verify", "-i", "plugins/q.wasm", "--policy", "policy.toml", "--json"], 0, Some("audit_rejected"), BANNER),
        (&["verify", "-i", "plugins/p.wasm", "--policy", "policy.toml"], 0, None, ""),
        // --path overrides: q under the default scope is rejected.
        (
            &["verify", "-i", "plugins/q.wasm", "--policy", "policy.toml", "--path", "q.wasm"],
            1,
            None,
            "rule_unsatisfied",
        ),
        // The registry scope needs two signers.
        (
            &["verify", "-i", "app.wasm", "--policy", "policy.toml", "--oci-repository", "ghcr.io/acme/app", "--json"],
            1,
            Some("rejected"),
            "threshold_not_met",
        ),
        // Detached: app.sig is k2's signature of add.wasm (a copy at plain.wasm).
        (&["verify", "-i", "plain.wasm", "-S", "app.sig", "--policy", "policy.toml"], 1, None, "rule_unsatisfied"),
        (
            &["verify", "-i", "plain.wasm", "-S", "app.sig", "--policy", "policy.toml", "--path", "plugins/x.wasm"],
            0,
            None,
            "AUDIT",
        ),
        // Input and policy errors exit 2.
        (&["verify", "-i", "missing.wasm", "--policy", "policy.toml"], 2, None, "missing.wasm"),
        (&["verify", "-i", "app.wasm", "--policy", "k1.pk"], 2, None, "policy"),
        // A policy is one decision procedure: no key flags beside it.
        (&["verify", "-i", "app.wasm", "--policy", "policy.toml", "-K", "k1.pk"], 2, None, "cannot be used with"),
        (&["verify", "-i", "app.wasm", "--policy", "policy.toml", "--keyless"], 2, None, "cannot be used with"),
        (&["verify", "-i", "app.wasm", "--path", "x.wasm", "-K", "k1.pk"], 2, None, "--policy"),
        // verify_matrix --policy: the same decision and exit code, with a row per principal.
        (&["verify_matrix", "-i", "app.wasm", "--policy", "policy.toml", "--json"], 0, Some("accepted"), ""),
        (
            &["verify_matrix", "-i", "app.wasm", "--policy", "policy.toml", "--oci-repository", "ghcr.io/acme/app"],
            1,
            None,
            "threshold_not_met",
        ),
        (
            &["verify_matrix", "-i", "app.wasm", "--policy", "policy.toml", "-K", "k1.pk"],
            2,
            None,
            "cannot be used with",
        ),
    ];
    let mut failures = Vec::new();
    for (args, code, decision, needle) in cases {
        let o = wsc_in(d, args);
        let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
        let mut ok = o.status.code() == Some(*code) && stderr.contains(needle);
        if let Some(want) = decision {
            let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
            ok &= v["decision"] == *want
                && v["media_type"] == "application/vnd.wsc.policy-result+json;version=1"
                && v["policy"]["sha256"].as_str().is_some_and(|h| h.len() == 64)
                && v["module"]["sha256"].as_str().is_some_and(|h| h.len() == 64);
        }
        if !ok {
            failures.push(format!("{args:?}: {:?}\nstdout: {stdout}\nstderr: {stderr}", o.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `verify_matrix --policy` prints one row per principal the scope reaches:
/// what counted, and what did not and why.
#[test]
fn matrix_rows_per_principal() {
    let dir = setup();
    let d = dir.path();
    let o = wsc_in(
        d,
        &["verify_matrix", "-i", "app.wasm", "--policy", "policy.toml", "--oci-repository", "ghcr.io/acme/app"],
    );
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", text(&o.stderr));
    assert!(stdout.contains("Scope registry: rejected"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("  - a: not counted; unused set 0 record 0: rule_unsatisfied")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("  - b: not counted")), "{stdout}");
    let o = wsc_in(d, &["verify_matrix", "-i", "app.wasm", "--policy", "policy.toml", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&text(&o.stdout)).expect("json");
    assert_eq!(v["principals"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["principals"][0]["principal"], "a");
    assert_eq!(v["principals"][0]["counted"][0]["set"], 0);
}

/// Keyless principals against the local Sigstore instance: the exact
/// identity, an identity regex, another identity, another issuer, a
/// GitHub claim the certificate lacks; time from the verified log entry.
#[test]
fn keyless_principals_from_the_local_instance() {
    const IDENTITY: &str = "https://github.com/wsc-test/app/.github/workflows/release.yml@refs/heads/main";
    let dir = setup();
    let d = dir.path();
    let inst = wsc_sigstore_local::Instance::start(wsc_sigstore_local::Config {
        dir: d.join("sigstore"),
        identities: vec![IDENTITY.into()],
        tls: false,
        port: 0,
        rekor_v2: false,
    })
    .expect("local instance");
    let token = inst.mint_token(IDENTITY).expect("token");
    let root = inst.dir().join("trusted_root.json");
    let root = root.to_str().expect("utf-8");
    let config = inst.dir().join("signing_config.json");
    let o = Command::new(env!("CARGO_BIN_EXE_wsc"))
        .current_dir(d)
        .env_remove("SIGSTORE_ID_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .args(["sign", "--keyless", "--identity-token", &token, "--trusted-root", root, "--signing-config"])
        .arg(&config)
        .args(["--insecure-allow-http", "-i", "app.wasm", "-o", "ci.wasm"])
        .output()
        .expect("wsc runs");
    assert_eq!(o.status.code(), Some(0), "keyless sign: {}", text(&o.stderr));
    let issuer = inst.url();
    let principal = |identity_line: &str, issuer: &str, extra: &str| {
        format!(
            "schema = \"wsc-policy/v1\"\n[principals.a]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
             [principals.ci]\nkind = \"keyless\"\nissuer = \"{issuer}\"\n{identity_line}\ntrust_root = \"{root}\"\n{extra}\n\
             [rules.release]\nall = [\"ci\", \"a\"]\n[default]\nrule = \"release\"\n"
        )
    };
    let exact = format!("identity = \"{IDENTITY}\"");
    let regex = "identity_regex = 'https://github\\.com/wsc-test/app/\\.github/workflows/[a-z]+\\.yml@refs/heads/main'";
    let other = "identity = \"https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main\"";
    let cases = [
        ("exact", principal(&exact, issuer, ""), "accepted", None),
        ("regex", principal(regex, issuer, ""), "accepted", None),
        ("other identity", principal(other, issuer, ""), "rejected", Some("identity_mismatch")),
        (
            "other issuer",
            principal(&exact, "https://token.actions.githubusercontent.com", ""),
            "rejected",
            Some("issuer_mismatch"),
        ),
        (
            "claim",
            principal(&exact, issuer, "github = { repository = \"evil/app\" }"),
            "rejected",
            Some("claim_mismatch"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, policy, decision, reason) in cases {
        std::fs::write(d.join("k.toml"), &policy).expect("policy");
        let o = wsc_in(d, &["verify", "-i", "ci.wasm", "--policy", "k.toml", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&text(&o.stdout)).unwrap_or_default();
        let mut ok = v["decision"] == decision;
        match reason {
            Some(r) => ok &= v["reasons"].as_array().is_some_and(|a| a.iter().any(|x| x == r)),
            None => {
                let ci = &v["satisfied"]["all"][0];
                ok &= ci["principal"] == "ci"
                    && ci["signer"] == format!("keyless:{issuer}|{IDENTITY}")
                    && ci["time"]["source"] == "rekor";
            }
        }
        if !ok {
            failures.push(format!("{name}: {:?}\n{}\n{}", o.status, text(&o.stdout), text(&o.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The verification flags are a policy: `verify -K …` and `verify --policy`
/// with the same principals and rule decide the same, for the same
/// reasons, with the same signer in the same slot (one decision procedure).
#[test]
fn flags_decide_like_the_same_policy_written_out() {
    let dir = setup();
    let d = dir.path();
    let any = |keys: &[&str], coverage: &str| {
        let mut t = String::from("schema = \"wsc-policy/v1\"\n");
        for (i, k) in keys.iter().enumerate() {
            t.push_str(&format!(
                "[principals.key-{}]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"{k}\"\n",
                i + 1
            ));
        }
        let names: Vec<String> = (1..=keys.len()).map(|i| format!("\"key-{i}\"")).collect();
        t.push_str(&format!("[rules.flags]\nany = [{}]\n[default]\nrule = \"flags\"\n{coverage}", names.join(", ")));
        t
    };
    let whole = "coverage = { kind = \"whole\" }\n";
    // (module, flags, policy text)
    let cases: Vec<(&str, Vec<&str>, String)> = vec![
        ("app.wasm", vec!["-K", "k1.pk"], any(&["k1.pk"], whole)),
        ("app.wasm", vec!["-K", "k2.pk"], any(&["k2.pk"], whole)),
        ("plain.wasm", vec!["-K", "k1.pk"], any(&["k1.pk"], whole)),
        ("plugins/q.wasm", vec!["-K", "k1.pk"], any(&["k1.pk"], whole)),
    ];
    let verdict = |args: &[&str]| {
        let mut all = vec!["verify", "--json"];
        all.extend_from_slice(args);
        let o = wsc_in(d, &all);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
            panic!("{all:?}: no JSON verdict: {}{}", text(&o.stdout), text(&o.stderr));
        });
        (o.status.code(), v)
    };
    for (i, (module, flags, policy)) in cases.iter().enumerate() {
        let file = format!("flags{i}.toml");
        std::fs::write(d.join(&file), policy).expect("policy");
        let mut by_flags = vec!["-i", module];
        by_flags.extend(flags.iter().copied());
        let (c1, v1) = verdict(&by_flags);
        let (c2, v2) = verdict(&["-i", module, "--policy", &file]);
        assert_eq!(c1, c2, "{module} {flags:?}");
        for field in ["decision", "reasons", "satisfied", "coverage", "principals", "rejected"] {
            assert_eq!(v1[field], v2[field], "{module} {flags:?}: {field}");
        }
        assert_eq!(v1["module"]["sha256"], v2["module"]["sha256"]);
        // Both computed the same normalized policy.
        assert_eq!(v1["policy"]["sha256"], v2["policy"]["sha256"], "{module} {flags:?}: {policy}");
    }
    // The same key twice is one signer: refused as a policy would be.
    let o = wsc_in(d, &["verify_matrix", "-i", "app.wasm", "-K", "k1.pk", "k1.pk"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("duplicate_key"), "{}", text(&o.stderr));
}

/// `--at-time` decides at another time, with `--policy` as with
/// `--trust-anchor`; without either it is refused.
#[test]
fn at_time_moves_the_decision_time() {
    let dir = setup();
    let d = dir.path();
    let policy = "schema = \"wsc-policy/v1\"\n[principals.a]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\nvalid_until = 2020-01-01T00:00:00Z\n[default]\nrule = \"a\"\n";
    std::fs::write(d.join("expiring.toml"), policy).expect("policy");
    let run = |extra: &[&str]| {
        let mut args = vec!["verify", "-i", "app.wasm", "--policy", "expiring.toml"];
        args.extend_from_slice(extra);
        wsc_in(d, &args)
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("key_expired"), "{}", text(&o.stderr));
    let o = run(&["--at-time", "2019-06-01T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = run(&["--at-time", "yesterday"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = wsc_in(d, &["verify", "-i", "app.wasm", "-K", "k1.pk", "--at-time", "2019-06-01T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--at-time needs --trust-anchor or --policy"), "{}", text(&o.stderr));
}
