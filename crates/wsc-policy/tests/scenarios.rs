//! Evaluation scenarios, driven from `tests/scenarios/*.toml`: each names a
//! policy, how the module is signed (wsc or wasmsign2 0.2.8, Ed25519 keys
//! from testdata, P-256 keys and a private CA made here), the target, and
//! the expected decision, reasons and satisfied principals. See
//! `tests/scenarios/README.md` for the format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use wsc_core::sigdata::{SetEntry, SignatureData, SignatureRecord};
use wsc_core::{KeyAlgorithm, PublicKey, SecretKey, Signer, SignerError};
use wsc_pki::{Ca, CaProfile, CertSigner, Csr, DeviceProfile, Timestamper, TsaTrust};
use wsc_policy::{Decision, Target};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    scenario: Vec<Scenario>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    #[serde(default = "default_module")]
    module: String,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    oci_repository: Option<String>,
    policy: String,
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    principals: Option<Vec<String>>,
    #[serde(default)]
    unsigned_sections: Option<Vec<String>>,
    #[serde(default)]
    policy_error: Option<String>,
    /// The time source every satisfied slot must have (`tsa`, `rekor`).
    #[serde(default)]
    time_source: Option<String>,
    /// `why` values that must be among the verdict's unused records.
    #[serde(default)]
    unused: Vec<String>,
    /// Verify with the signature data detached from the module.
    #[serde(default)]
    detached: bool,
}

fn default_module() -> String {
    "add.wasm".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Step {
    /// Sign with this key (k1..k3 Ed25519 from testdata, p1, p2, d1, d2 P-256).
    sign: Option<String>,
    /// `wsc` (default) or `wasmsign2`.
    tool: Option<String>,
    /// Write this key's key id into the record (any key).
    key_id: Option<String>,
    /// Add a copy of this P-256 key's record with `(r, n - s)`.
    malleate: Option<String>,
    /// Add a copy of this key's record with its own key id.
    duplicate: Option<String>,
    /// Append a delimiter section.
    delimiter: Option<bool>,
    /// Append a custom section of this name.
    custom: Option<String>,
    /// Sign with a device certificate for this key, issued by `ca`.
    x509: Option<String>,
    ca: Option<String>,
    device: Option<String>,
    /// With `x509`: an RFC 3161 timestamp from the test's `openssl ts` TSA.
    timestamp: Option<bool>,
    /// With `x509`: write `{ca}.crl`: `revoke` lists the new leaf, `fresh`
    /// lists nothing, `stale` lists nothing and is past its nextUpdate.
    crl: Option<String>,
    /// Flip the module's last byte.
    tamper: Option<bool>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Keys, CAs and files shared by every scenario.
struct World {
    dir: tempfile::TempDir,
    keys: BTreeMap<String, SecretKey>,
    cas: BTreeMap<String, Ca>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut keys = BTreeMap::new();
        for k in ["k1", "k2", "k3"] {
            let sk = SecretKey::from_any(&read(&repo().join(format!("testdata/wasmsign2/keys/{k}.sk")))).expect("sk");
            std::fs::copy(repo().join(format!("testdata/wasmsign2/keys/{k}.pk")), dir.path().join(format!("{k}.pk")))
                .expect("copy");
            std::fs::copy(repo().join(format!("testdata/wasmsign2/keys/{k}.sk")), dir.path().join(format!("{k}.sk")))
                .expect("copy");
            if k == "k1" {
                std::fs::copy(repo().join("testdata/wasmsign2/keys/k1.pk.pem"), dir.path().join("k1.pk.pem"))
                    .expect("copy");
            }
            keys.insert(k.to_string(), sk);
        }
        for k in ["p1", "p2", "d1", "d2"] {
            let sk = SecretKey::generate(KeyAlgorithm::P256, &mut rand_core::OsRng);
            std::fs::write(dir.path().join(format!("{k}.pem")), sk.public_key().to_pem().expect("pem")).expect("write");
            keys.insert(k.to_string(), sk);
        }
        let mut cas = BTreeMap::new();
        for c in ["ca1", "ca2"] {
            let ca = Ca::new_root(&CaProfile::root(&format!("Fleet {c}"), KeyAlgorithm::P256)).expect("ca");
            std::fs::write(dir.path().join(format!("{c}.pem")), ca.certificate_pem().expect("pem")).expect("write");
            cas.insert(c.to_string(), ca);
        }
        // A timestamp authority run by `openssl ts -reply` (files in tsa/).
        let script = repo().join("testdata/openssl-tsa/setup.sh");
        let out =
            Command::new("sh").arg(script).arg(dir.path().join("tsa")).arg("Scenario TSA").output().expect("setup.sh");
        assert!(out.status.success(), "openssl-tsa/setup.sh: {}", String::from_utf8_lossy(&out.stderr));
        World { dir, keys, cas }
    }

    fn key(&self, name: &str) -> &SecretKey {
        self.keys.get(name).unwrap_or_else(|| panic!("no key {name}"))
    }

    /// `{fp:NAME}` becomes the SPKI SHA-256 hex of a key.
    fn expand(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, sk) in &self.keys {
            let fp: [u8; 32] = Sha256::digest(sk.public_key().to_der().expect("der")).into();
            out = out.replace(&format!("{{fp:{name}}}"), &wsc_core::keys::hex(&fp));
        }
        out
    }
}

/// `openssl ts -reply` with the configuration in a directory.
struct OpensslTsa(PathBuf);

impl Timestamper for OpensslTsa {
    fn timestamp(&self, request: &[u8]) -> Result<Vec<u8>, SignerError> {
        let n = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
        let (q, r) = (self.0.join(format!("{n}.tsq")), self.0.join(format!("{n}.tsr")));
        std::fs::write(&q, request).map_err(SignerError::new)?;
        let out = Command::new("openssl")
            .args(["ts", "-reply", "-config"])
            .arg(self.0.join("ts.cnf"))
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
}

/// A signer that writes any key id.
#[derive(Debug)]
struct KeyIdAs<'a> {
    key: &'a SecretKey,
    key_id: wsc_core::KeyId,
}

impl Signer for KeyIdAs<'_> {
    fn algorithm(&self) -> wsc_core::sigdata::AlgorithmId {
        self.key.public_key().algorithm().algorithm_id()
    }
    fn public_key(&self) -> Option<PublicKey> {
        Some(self.key.public_key())
    }
    fn key_id(&self) -> Option<wsc_core::KeyId> {
        Some(self.key_id.clone())
    }
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.key.try_sign(message)
    }
}

/// Rewrites the signature section, adding a record derived from the first
/// record `pick` accepts.
fn add_record(module: &[u8], derive: &dyn Fn(&SignatureRecord) -> Option<SignatureRecord>) -> Vec<u8> {
    let mut content = Vec::new();
    let sig = wsc_core::detach(module, &mut content).expect("detach");
    let mut data = SignatureData::decode(&sig, 0).expect("decode");
    let (hashes, new) = data
        .sets
        .iter()
        .find_map(|s| match s {
            SetEntry::Valid(v) => v
                .records
                .iter()
                .find_map(|r| r.parsed.as_ref().ok().and_then(derive))
                .map(|rec| (v.hashes.clone(), rec)),
            SetEntry::Malformed(_) => None,
        })
        .expect("a record to derive from");
    data.add_signature(&hashes, &new).expect("add");
    let mut out = Vec::new();
    wsc_core::attach(content.as_slice(), &mut out, &data.encode().expect("encode")).expect("attach");
    out
}

fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    wsc_core::format::encode_custom_section(name, data).expect("section")
}

fn wasmsign2(world: &World, module: &[u8], key: &str) -> Vec<u8> {
    let bin = std::env::var_os("HOME").map(PathBuf::from).expect("HOME").join(".cargo/bin/wasmsign2");
    assert!(
        bin.is_file(),
        "wasmsign2 0.2.8 is missing at {}: cargo install wasmsign2-cli --version 0.2.8",
        bin.display()
    );
    let input = world.dir.path().join("in.wasm");
    let output = world.dir.path().join("out.wasm");
    std::fs::write(&input, module).expect("write");
    let st = Command::new(&bin)
        .args(["sign", "-i"])
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("-k")
        .arg(world.dir.path().join(format!("{key}.sk")))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run wasmsign2");
    assert!(st.success(), "wasmsign2 sign failed");
    read(&output)
}

fn build_module(world: &World, s: &Scenario) -> Vec<u8> {
    let mut m = read(&repo().join("testdata/wasmsign2/modules").join(&s.module));
    for step in &s.steps {
        if let Some(k) = &step.sign {
            let key = world.key(k);
            m = match (step.tool.as_deref(), &step.key_id) {
                (Some("wasmsign2"), _) => wasmsign2(world, &m, k),
                (None | Some("wsc"), None) => wsc_core::sign(&m, key).expect("sign"),
                (None | Some("wsc"), Some(other)) => {
                    let signer = KeyIdAs { key, key_id: world.key(other).public_key().key_id() };
                    wsc_core::sign(&m, &signer).expect("sign")
                }
                (Some(t), _) => panic!("{}: unknown tool {t}", s.name),
            };
        }
        if let Some(k) = &step.malleate {
            let pk = world.key(k).public_key();
            m = add_record(&m, &|r| {
                if r.algorithm != pk.algorithm().algorithm_id() || r.signature.len() != 64 {
                    return None;
                }
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(&r.signature[32..]);
                let s: Option<p256::Scalar> =
                    <p256::Scalar as p256::elliptic_curve::PrimeField>::from_repr(bytes.into()).into();
                let mut sig = r.signature[..32].to_vec();
                sig.extend_from_slice(&(-s?).to_bytes());
                Some(SignatureRecord::new(r.key_id.clone(), r.algorithm, sig))
            });
        }
        if let Some(k) = &step.duplicate {
            let pk = world.key(k).public_key();
            m = add_record(&m, &|r| {
                (r.algorithm == pk.algorithm().algorithm_id() && r.key_id.is_none())
                    .then(|| SignatureRecord::new(Some(pk.key_id()), r.algorithm, r.signature.clone()))
            });
        }
        if step.delimiter == Some(true) {
            m.extend(custom_section(wsc_core::format::DELIMITER_SECTION, &[]));
        }
        if let Some(name) = &step.custom {
            m.extend(custom_section(name, b"unsigned data"));
        }
        if let Some(k) = &step.x509 {
            let ca = world.cas.get(step.ca.as_deref().unwrap_or("ca1")).expect("ca");
            let device = step.device.as_deref().unwrap_or("gw-0001");
            let key = world.key(k);
            let csr = Csr::create(key, device).expect("csr");
            let chain = ca.issue(&csr, &DeviceProfile::for_device(device)).expect("issue");
            if let Some(kind) = &step.crl {
                let now = SystemTime::now();
                let day = Duration::from_secs(86_400);
                let serial = wsc_pki::CertInfo::parse(&chain[0]).expect("leaf").serial;
                let der = match kind.as_str() {
                    "revoke" => ca.crl(&[serial], now - day, now + day),
                    "fresh" => ca.crl(&[], now - day, now + day),
                    "stale" => ca.crl(&[], now - 2 * day, now - day),
                    other => panic!("{}: unknown crl {other}", s.name),
                }
                .expect("crl");
                let name = format!("{}.crl", step.ca.as_deref().unwrap_or("ca1"));
                std::fs::write(world.dir.path().join(name), wsc_pki::crl_to_pem(&der).expect("pem")).expect("write");
            }
            let signer = CertSigner::new(key, chain).expect("cert signer");
            let signer = if step.timestamp == Some(true) {
                let mut trust = TsaTrust::new();
                trust.add_chain(&read(&world.dir.path().join("tsa/chain.pem"))).expect("TSA chain");
                signer.with_timestamps(Box::new(OpensslTsa(world.dir.path().join("tsa"))), trust).expect("timestamps")
            } else {
                signer
            };
            m = wsc_core::sign(&m, &signer).expect("sign");
        }
        if step.tamper == Some(true) {
            let last = m.len() - 1;
            m[last] ^= 0x01;
        }
    }
    m
}

fn run(world: &World, s: &Scenario) -> Result<(), String> {
    // The module first: its steps may write files the policy names (CRLs).
    let mut module = build_module(world, s);
    let policy_path = world.dir.path().join("policy.toml");
    std::fs::write(&policy_path, world.expand(&s.policy)).expect("write policy");
    let policy = match wsc_policy::load_file(&policy_path) {
        Ok(p) => p,
        Err(e) => {
            return match &s.policy_error {
                Some(code) if e.code().as_str() == code => Ok(()),
                _ => Err(format!("policy error {}: {e}", e.code().as_str())),
            };
        }
    };
    if let Some(code) = &s.policy_error {
        return Err(format!("expected policy error {code}, the policy loaded"));
    }
    let target = Target::new(s.path.as_deref(), s.oci_repository.as_deref());
    let verdict = if s.detached {
        let mut content = Vec::new();
        let sig = wsc_core::detach(module.as_slice(), &mut content).expect("detach");
        module = content;
        policy.evaluate_detached(module.as_slice(), Some(module.len() as u64), &sig, &target, SystemTime::now())
    } else {
        policy.evaluate(module.as_slice(), Some(module.len() as u64), &target, SystemTime::now())
    }
    .map_err(|e| format!("evaluation error: {e}"))?;
    let json = verdict.to_json();
    let decision = match verdict.decision() {
        Decision::Accepted => "accepted",
        Decision::Rejected => "rejected",
        Decision::AuditRejected => "audit_rejected",
    };
    let want = s.decision.as_deref().unwrap_or("accepted");
    if decision != want {
        return Err(format!("decision {decision}, expected {want}: {json}"));
    }
    if want == "accepted" && !verdict.reasons().is_empty() {
        return Err(format!("accepted with reasons: {json}"));
    }
    if want != "accepted" && verdict.reasons().is_empty() {
        return Err(format!("{want} without a reason: {json}"));
    }
    for code in &s.reasons {
        if !verdict.reasons().iter().any(|r| r.code.as_str() == code) {
            return Err(format!("reason {code} missing: {json}"));
        }
    }
    if let Some(expected) = &s.principals {
        let mut got: Vec<String> =
            verdict.satisfied().map(|t| t.slots().iter().map(|s| s.principal.clone()).collect()).unwrap_or_default();
        got.sort();
        let mut expected = expected.clone();
        expected.sort();
        if got != expected {
            return Err(format!("principals {got:?}, expected {expected:?}: {json}"));
        }
    }
    // Distinct signers, always.
    if let Some(tree) = verdict.satisfied() {
        let slots = tree.slots();
        for (i, a) in slots.iter().enumerate() {
            if slots[i + 1..].iter().any(|b| b.signer == a.signer) {
                return Err(format!("one signer fills two slots: {json}"));
            }
        }
    }
    if let Some(expected) = &s.unsigned_sections {
        if &verdict.coverage().unsigned_sections != expected {
            return Err(format!("unsigned sections {:?}, expected {expected:?}", verdict.coverage().unsigned_sections));
        }
    }
    if let Some(source) = &s.time_source {
        let slots = verdict.satisfied().map(|t| t.slots()).unwrap_or_default();
        if slots.is_empty() || slots.iter().any(|x| x.time.as_ref().map(|t| t.source.as_str()) != Some(source.as_str()))
        {
            return Err(format!("time source {source} expected on every slot: {json}"));
        }
    }
    for why in &s.unused {
        if !verdict.unused().iter().any(|u| u.why == why) {
            return Err(format!("unused record with why {why} missing: {json}"));
        }
    }
    let sha: [u8; 32] = Sha256::digest(&module).into();
    if verdict.module_sha256() != Some(sha) || verdict.policy_sha256() != policy.sha256() {
        return Err("module or policy SHA-256 differs".into());
    }
    if json["media_type"] != "application/vnd.wsc.policy-result+json;version=1" || json["decision"] != decision {
        return Err(format!("JSON: {json}"));
    }
    Ok(())
}

#[test]
fn scenarios() {
    let world = World::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for f in &files {
        let text = String::from_utf8(read(f)).expect("utf-8");
        let file: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for s in &file.scenario {
            count += 1;
            if let Err(e) = run(&world, s) {
                failures.push(format!("{}: {}: {e}", f.file_name().unwrap_or_default().to_string_lossy(), s.name));
            }
        }
    }
    assert!(count >= 30, "only {count} scenarios");
    assert!(failures.is_empty(), "{} of {count} scenarios failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn evaluation_time_is_now_unless_given() {
    // A key valid until a fixed instant: accepted before it, rejected after.
    let world = World::new();
    let policy_text = "schema = \"wsc-policy/v1\"\n[principals.a]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\nvalid_until = 2030-01-01T00:00:00Z\n[default]\nrule = \"a\"\n";
    let p = world.dir.path().join("t.toml");
    std::fs::write(&p, policy_text).expect("write");
    let policy = wsc_policy::load_file(&p).expect("load");
    let m = wsc_core::sign(&read(&repo().join("testdata/wasmsign2/modules/add.wasm")), world.key("k1")).expect("sign");
    let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let cases = [(1_800_000_000, Decision::Accepted), (1_900_000_000, Decision::Rejected)];
    for (t, want) in cases {
        let v = policy.evaluate(m.as_slice(), None, &Target::unnamed(), at(t)).expect("evaluate");
        assert_eq!(v.decision(), want, "at {t}");
    }
}

#[test]
fn a_rule_tree_past_its_budget_is_refused_not_searched() {
    // Each level names the next twice (through `any` and `all`), so the
    // expanded tree doubles per level: 2^14 leaves is past MAX_TREE_NODES.
    let world = World::new();
    let levels = 14;
    let mut text = String::from(
        "schema = \"wsc-policy/v1\"\n[principals.a]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n",
    );
    for i in 0..levels {
        let next = if i + 1 == levels { "a".to_string() } else { format!("r{}", i + 1) };
        text.push_str(&format!("[rules.r{i}]\nall = [\"x{i}\", \"y{i}\"]\n"));
        text.push_str(&format!("[rules.x{i}]\nany = [\"{next}\"]\n[rules.y{i}]\nall = [\"{next}\"]\n"));
    }
    text.push_str("[default]\nrule = \"r0\"\n");
    let p = world.dir.path().join("deep.toml");
    std::fs::write(&p, text).expect("write");
    let policy = wsc_policy::load_file(&p).expect("load");
    let m = wsc_core::sign(&read(&repo().join("testdata/wasmsign2/modules/add.wasm")), world.key("k1")).expect("sign");
    match policy.evaluate(m.as_slice(), None, &Target::unnamed(), SystemTime::now()) {
        Err(wsc_policy::EvalError::SearchBudget { limit, .. }) => assert_eq!(limit, wsc_policy::MAX_TREE_NODES),
        other => panic!("expected the search budget error, got {other:?}"),
    }
}

#[test]
fn the_search_for_distinct_signers_is_budgeted() {
    // Seven keys sign; `all` of `levels` copies of `any` over the seven.
    // Three levels (343 candidate selections) is decided; six (117 649) is
    // past MAX_SEARCH_STEPS and refused with a typed error, never guessed.
    let world = World::new();
    let keys = [("k1", "ed25519", "k1.pk"), ("k2", "ed25519", "k2.pk"), ("k3", "ed25519", "k3.pk")]
        .into_iter()
        .chain(["p1", "p2", "d1", "d2"].map(|k| (k, "p256", "")))
        .collect::<Vec<_>>();
    let mut m = read(&repo().join("testdata/wasmsign2/modules/add.wasm"));
    for (k, _, _) in &keys {
        m = wsc_core::sign(&m, world.key(k)).expect("sign");
    }
    let policy = |levels: usize| {
        let mut t = String::from("schema = \"wsc-policy/v1\"\n");
        for (k, alg, file) in &keys {
            let file = if file.is_empty() { format!("{k}.pem") } else { file.to_string() };
            t.push_str(&format!("[principals.{k}]\nkind = \"key\"\nalgorithm = \"{alg}\"\nfile = \"{file}\"\n"));
        }
        let members: Vec<String> = keys.iter().map(|(k, _, _)| format!("\"{k}\"")).collect();
        let mut top = Vec::new();
        for i in 0..levels {
            t.push_str(&format!("[rules.r{i}]\nany = [{}]\n", members.join(", ")));
            top.push(format!("\"r{i}\""));
        }
        t.push_str(&format!("[rules.top]\nall = [{}]\n[default]\nrule = \"top\"\n", top.join(", ")));
        let p = world.dir.path().join(format!("wide{levels}.toml"));
        std::fs::write(&p, t).expect("write");
        wsc_policy::load_file(&p).expect("load")
    };
    let decided = policy(3).evaluate(m.as_slice(), None, &Target::unnamed(), SystemTime::now()).expect("decided");
    assert_eq!(decided.decision(), Decision::Accepted);
    assert_eq!(decided.satisfied().map(|t| t.slots().len()), Some(3));
    match policy(6).evaluate(m.as_slice(), None, &Target::unnamed(), SystemTime::now()) {
        Err(wsc_policy::EvalError::SearchBudget { limit, .. }) => assert_eq!(limit, wsc_policy::MAX_SEARCH_STEPS),
        other => panic!("expected the search budget error, got {other:?}"),
    }
}

#[test]
fn cut_or_flipped_modules_are_never_accepted_and_never_panic() {
    // Two keys, 2 of 2: every cut of the signed module and every single
    // bit flip is evaluated; a cut is never accepted, a flip of a content
    // or signature byte never is either (only the key id bytes, which
    // are hints, may change without effect; they are not flipped here).
    let world = World::new();
    let text = "schema = \"wsc-policy/v1\"\n[principals.a]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n[principals.b]\nkind = \"key\"\nalgorithm = \"p256\"\nfile = \"p1.pem\"\n[rules.both]\nall = [\"a\", \"b\"]\n[default]\nrule = \"both\"\n";
    let p = world.dir.path().join("cut.toml");
    std::fs::write(&p, text).expect("write");
    let policy = wsc_policy::load_file(&p).expect("load");
    let mut m = read(&repo().join("testdata/wasmsign2/modules/add.wasm"));
    for k in ["k1", "p1"] {
        m = wsc_core::sign(&m, world.key(k)).expect("sign");
    }
    let eval = |bytes: &[u8]| policy.evaluate(bytes, Some(bytes.len() as u64), &Target::unnamed(), SystemTime::now());
    let whole = eval(&m).expect("evaluate");
    assert_eq!(whole.decision(), Decision::Accepted);
    let mut accepted = Vec::new();
    for cut in 0..m.len() {
        if let Ok(v) = eval(&m[..cut]) {
            if v.decision() == Decision::Accepted {
                accepted.push(format!("cut at {cut}"));
            }
        }
    }
    for i in 0..m.len() {
        let mut f = m.clone();
        f[i] ^= 0x01;
        if let Ok(v) = eval(&f) {
            if v.decision() == Decision::Accepted {
                accepted.push(format!("flip at {i}"));
            }
        }
    }
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}
