//! Data-driven loading: every policy file in `tests/data/` and its
//! expected outcome in `tests/data/expected.tsv`: `ok` and the SHA-256 of
//! the normalized policy (equal for a policy's TOML and JSON forms), or
//! the error code and the path in the file.
//!
//! `BLESS=1 cargo test -p wsc-policy --test policies` rewrites the hashes
//! of the `ok` rows and the `*.normalized.json` snapshots; error rows are
//! never rewritten.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wsc_policy::{DirFiles, ErrorCode, Format, MemoryFiles, NoFiles, Policy};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn bless() -> bool {
    std::env::var_os("BLESS").is_some()
}

#[derive(Debug)]
struct Row {
    file: String,
    outcome: String,
    detail: String,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(data().join("expected.tsv")).expect("expected.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "expected.tsv: three tab-separated fields: {l:?}");
            Row { file: f[0].into(), outcome: f[1].into(), detail: f[2].into() }
        })
        .collect()
}

fn stem(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(s, _)| s)
}

/// The normalized JSON, indented for review.
fn pretty(policy: &Policy) -> String {
    let v: serde_json::Value = serde_json::from_str(policy.normalized_json()).expect("normalized JSON parses");
    serde_json::to_string_pretty(&v).expect("prints") + "\n"
}

#[test]
fn every_policy_file_has_its_expected_outcome() {
    let mut failures = Vec::new();
    let mut blessed = Vec::new();
    let mut snapshots: BTreeMap<String, String> = BTreeMap::new();
    let mut hashes: BTreeMap<String, String> = BTreeMap::new();
    for row in rows() {
        let got = wsc_policy::load_file(&data().join(&row.file));
        match (row.outcome.as_str(), got) {
            ("ok", Ok(policy)) => {
                let hex = policy.sha256_hex();
                // The hash is SHA-256 over exactly the normalized bytes.
                let independent: [u8; 32] = Sha256::digest(policy.normalized_json().as_bytes()).into();
                assert_eq!(independent, policy.sha256(), "{}", row.file);
                if let Some(other) = hashes.insert(stem(&row.file).to_string(), hex.clone()) {
                    if other != hex {
                        failures.push(format!("{}: its TOML and JSON forms hash differently", row.file));
                    }
                }
                snapshots.insert(stem(&row.file).to_string(), pretty(&policy));
                if bless() {
                    blessed.push((row.file.clone(), hex));
                } else if row.detail != hex {
                    failures.push(format!("{}: sha256 {hex}, expected {}", row.file, row.detail));
                }
            }
            ("ok", Err(e)) => failures.push(format!("{}: expected ok, got {e}", row.file)),
            (code, Ok(_)) => failures.push(format!("{}: expected {code}, but it loaded", row.file)),
            (code, Err(e)) => {
                let want_path = if row.detail == "-" { "" } else { row.detail.as_str() };
                if (e.code().as_str(), e.path()) != (code, want_path) {
                    failures.push(format!("{}: expected {code} at {want_path:?}, got {e}", row.file));
                }
                // The message names the code and the place.
                let shown = e.to_string();
                if !shown.starts_with(&format!("{code} at ")) || (!want_path.is_empty() && !shown.contains(want_path)) {
                    failures.push(format!("{}: message {shown:?} does not start with the code and path", row.file));
                }
            }
        }
    }
    for (stem, text) in &snapshots {
        let path = data().join(format!("{stem}.normalized.json"));
        if bless() {
            std::fs::write(&path, text).expect("write snapshot");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            failures.push(format!("{}: snapshot differs (BLESS=1 rewrites it)", path.display()));
        }
    }
    if bless() {
        let path = data().join("expected.tsv");
        let mut text = std::fs::read_to_string(&path).expect("expected.tsv");
        for (file, hex) in blessed {
            let lines: Vec<String> = text
                .lines()
                .map(|l| match l.split('\t').collect::<Vec<_>>().as_slice() {
                    [f, "ok", _] if *f == file => format!("{f}\tok\t{hex}"),
                    _ => l.to_string(),
                })
                .collect();
            text = lines.join("\n") + "\n";
        }
        std::fs::write(&path, text).expect("write expected.tsv");
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_error_code_and_every_file_is_covered() {
    let rows = rows();
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    let codes: BTreeSet<&str> = rows.iter().map(|r| r.outcome.as_str()).collect();
    for code in ErrorCode::ALL {
        assert!(codes.contains(code.as_str()), "no data file triggers {code}");
    }
    for code in &codes {
        assert!(*code == "ok" || ErrorCode::ALL.iter().any(|c| c.as_str() == *code), "unknown code {code}");
    }
    for entry in std::fs::read_dir(data()).expect("tests/data") {
        let name = entry.expect("entry").file_name().to_string_lossy().to_string();
        let policy = (name.ends_with(".toml") || name.ends_with(".json")) && !name.ends_with(".normalized.json");
        assert!(!policy || listed.contains(name.as_str()), "{name} is not in expected.tsv");
    }
    assert!(rows.len() == listed.len(), "a file is listed twice in expected.tsv");
}

/// fmt: TOML to JSON and back gives the same policy, and each writer's
/// output is a fixed point.
#[test]
fn fmt_round_trips_between_toml_and_json() {
    let files = DirFiles::new(&data());
    for row in rows().iter().filter(|r| r.outcome == "ok") {
        let original = wsc_policy::load_file(&data().join(&row.file)).expect(&row.file);
        let json = original.to_json().expect("to JSON");
        let toml = original.to_toml().expect("to TOML");
        let from_json = wsc_policy::parse(json.as_bytes(), Format::Json, &files).unwrap_or_else(|e| {
            panic!("{}: the JSON form does not load: {e}\n{json}", row.file);
        });
        let from_toml = wsc_policy::parse(toml.as_bytes(), Format::Toml, &files).unwrap_or_else(|e| {
            panic!("{}: the TOML form does not load: {e}\n{toml}", row.file);
        });
        assert_eq!(from_json.sha256(), original.sha256(), "{}: JSON form", row.file);
        assert_eq!(from_toml.sha256(), original.sha256(), "{}: TOML form", row.file);
        assert_eq!(from_json.to_toml().expect("TOML"), toml, "{}: JSON -> TOML", row.file);
        assert_eq!(from_toml.to_json().expect("JSON"), json, "{}: TOML -> JSON", row.file);
    }
}

/// The model needs no disk: the same files given from memory load the
/// same policy; without files, a policy that names one is refused.
#[test]
fn files_come_from_any_source() {
    let text = std::fs::read(data().join("ok-full.toml")).expect("ok-full.toml");
    let from_disk = wsc_policy::load_file(&data().join("ok-full.toml")).expect("loads");
    let mut memory = MemoryFiles::new();
    for name in [
        "../../../../testdata/wasmsign2/keys/k1.pk",
        "../../../../testdata/wasmsign2/keys/ssh_ed25519.pub",
        "../../../../testdata/sigstore/trusted_root.staging.json",
        "material/root-ca.pem",
        "material/root.crl",
        "material/tsa-chain.pem",
    ] {
        memory.insert(name, std::fs::read(data().join(name)).expect(name));
    }
    let in_memory = wsc_policy::parse(&text, Format::Toml, &memory).expect("loads from memory");
    assert_eq!(in_memory.sha256(), from_disk.sha256());

    let e = wsc_policy::parse(&text, Format::Toml, &NoFiles).expect_err("names files");
    assert_eq!((e.code(), e.path()), (ErrorCode::UnreadableFile, "principals.ci-any-tag.trust_root"));
}

/// One changed key byte, one changed name or one changed threshold gives
/// another hash; formatting, order and key encodings do not.
#[test]
fn the_hash_follows_meaning_not_form() {
    let base = std::fs::read_to_string(data().join("ok-minimal.toml")).expect("read");
    let files = DirFiles::new(&data());
    let hash = |text: &str| wsc_policy::parse(text.as_bytes(), Format::Toml, &files).expect(text).sha256();
    let h0 = hash(&base);
    let same = [
        base.replace("kind = \"key\"\n", "kind   =   \"key\"   # a comment\n"),
        base.replace("k1.pk\"", "k1.pk.der\""),
        base.replace(
            "[default]\nrule = \"k1\"\n",
            "[default]\nmode = \"enforce\"\nrule = \"k1\"\ncoverage = { kind = \"whole\" }\n",
        ),
    ];
    for text in &same {
        assert_eq!(hash(text), h0, "{text}");
    }
    let different = [
        base.replace("k1.pk\"", "k2.pk\""),
        base.replace(
            "[default]\nrule = \"k1\"\n",
            "[default]\nrule = \"k1\"\ncoverage = { kind = \"sections\", standard = \"required\" }\n",
        ),
        base.replace("file = ", "valid_until = 2030-01-01T00:00:00Z\nfile = "),
        base.replace("principals.k1]", "principals.k9]").replace("rule = \"k1\"", "rule = \"k9\""),
    ];
    for text in &different {
        assert_ne!(hash(text), h0, "{text}");
    }
}

/// A key's identity is SHA-256 over its SubjectPublicKeyInfo DER, here
/// computed from the DER file and from the PEM text without wsc's parsers.
#[test]
fn signer_ids_are_the_sha256_of_the_spki() {
    use base64::Engine as _;
    let policy = wsc_policy::load_file(&data().join("ok-full.toml")).expect("loads");
    let der_file = std::fs::read(data().join("../../../../testdata/wasmsign2/keys/k1.pk.der")).expect("k1.pk.der");
    let pem = std::fs::read_to_string(data().join("material/p256.pem")).expect("p256.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let p256_der = base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body");
    for (name, der) in [("release-ed", der_file), ("hsm-p256", p256_der)] {
        let want = format!("key:sha256:{}", hex(&Sha256::digest(&der)));
        match policy.principal(name) {
            Some(wsc_policy::Principal::Key(k)) => {
                assert_eq!(k.signer_id(), want, "{name}");
                assert_eq!(k.spki, der, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
