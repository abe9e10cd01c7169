//! Nested signatures on components made by real tools: `wac plug`
//! (wac-cli 0.12.0), `jco new` (jco 1.35.0), componentize-py 0.25.1 and
//! wasm-tools 1.262.0 (the corpus binary), with wasmsign2 0.2.8 signing one
//! part and checking the outer signature. A missing tool fails the test with
//! how to install it (`xtask/setup.sh` installs them all).

#[allow(dead_code)]
mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{KeyDir, outcomes, repo, text, tool};

/// The corpus cache of testdata/corpus/fetch.sh: $WSC_CORPUS, else
/// ~/.cache/wsc-corpus, else .corpus in the repository.
fn corpus_file(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("WSC_CORPUS").map(PathBuf::from).into_iter().collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cache/wsc-corpus"));
    }
    dirs.push(repo().join(".corpus"));
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("this test needs {name} of the corpus: run `testdata/corpus/fetch.sh` (cargo xtask ci does it)")
    })
}

fn wasm_tools() -> PathBuf {
    corpus_file(".cache/wasm-tools-1.262.0")
}

fn jco() -> PathBuf {
    let bin = repo().join("testdata/jco/node_modules/.bin/jco");
    assert!(bin.is_file(), "this test needs jco 1.35.0: `cd testdata/jco && npm ci` (xtask/setup.sh does it)");
    bin
}

/// The signer id of `key` on a file it signed, as verdicts name it.
fn signer(d: &KeyDir, file: &str, key: &str) -> String {
    let o = d.wsc_ok(&["verify", "-i", file, "-K", key, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    find_signer(&v).unwrap_or_else(|| panic!("no signer id in {v}"))
}

/// `wasm-tools validate` accepts the file.
fn validate(d: &KeyDir, file: &str) {
    d.run(&wasm_tools(), &["validate", "--features", "component-model", file]);
}

fn find_signer(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.starts_with("key:sha256:") => Some(s.clone()),
        Value::Array(a) => a.iter().find_map(find_signer),
        Value::Object(o) => o.values().find_map(find_signer),
        _ => None,
    }
}

fn parts(v: &Value) -> &Vec<Value> {
    v["parts"].as_array().unwrap_or_else(|| panic!("no parts in {v}"))
}

/// Where `needle` occurs in `hay`; it must occur exactly once.
fn find_once(hay: &[u8], needle: &[u8]) -> usize {
    let at: Vec<usize> = hay.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "expected the bytes once, found them at {at:?}");
    at[0]
}

/// The interface of the wac test: `dep` exports it, `host` imports it.
const DEMO_WIT: &str = "package wsc:demo;\n\
    interface answer {\n  get: func() -> u32;\n}\n\
    world dep {\n  export answer;\n}\n\
    world host {\n  import answer;\n  export run: func() -> u32;\n}\n";

/// 1234567 as the immediate of `i32.const`: the tamper test flips it.
const ANSWER: &[u8] = &[0x41, 0x87, 0xad, 0xcb, 0x00];

const DEP_WAT: &str = "(module (func (export \"wsc:demo/answer#get\") (result i32) i32.const 1234567))";

const HOST_WAT: &str = "(module\n  (import \"wsc:demo/answer\" \"get\" (func $get (result i32)))\n  \
    (func (export \"run\") (result i32) call $get i32.const 1 i32.add))";

#[test]
fn wac_plug_keeps_the_vendors_signatures_and_a_tampered_plug_is_rejected() {
    let d = KeyDir::new();
    let wt = wasm_tools();
    let wac = tool("wac", "`cargo install --locked wac-cli --version 0.12.0`");
    let wasmsign2 = tool("wasmsign2", "`cargo install --locked wasmsign2-cli@0.2.8`");
    // Two real components from WAT and WIT: wasm-tools embeds the world and
    // makes the component.
    d.write("demo.wit", DEMO_WIT);
    for (name, wat) in [("dep", DEP_WAT), ("host", HOST_WAT)] {
        d.write(&format!("{name}.wat"), wat);
        let core = format!("{name}-core.wasm");
        d.run(&wt, &["component", "embed", "demo.wit", "--world", name, &format!("{name}.wat"), "-o", &core]);
        d.run(&wt, &["component", "new", &core, "-o", &format!("{name}-unsigned.wasm")]);
    }
    // The vendor (k1) signs dep with wsc; another vendor (k3) signs host
    // with wasmsign2. wac names plugs after the file stem: no dots.
    d.wsc_ok(&["sign", "-i", "dep-unsigned.wasm", "-o", "dep.wasm", "-k", "k1.sk"]);
    d.run(&wasmsign2, &["sign", "-i", "host-unsigned.wasm", "-o", "host.wasm", "-k", "k3.sk"]);
    d.run(&wac, &["plug", "--plug", "dep.wasm", "host.wasm", "-o", "composed.wasm"]);
    validate(&d, "composed.wasm");
    // Both components sit in the composition byte for byte.
    let (composed, dep) = (d.read("composed.wasm"), d.read("dep.wasm"));
    find_once(&composed, &dep);
    find_once(&composed, &d.read("host.wasm"));
    // The integrator (k2) signs the composition.
    d.wsc_ok(&["sign", "-i", "composed.wasm", "-o", "app.wasm", "-k", "k2.sk"]);
    let dep_at = find_once(&d.read("app.wasm"), &dep);
    d.write(
        "policy.toml",
        "schema = \"wsc-policy/v1\"\n\
         [principals.vendor]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
         [principals.other]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k3.pk\"\n\
         [principals.integrator]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k2.pk\"\n\
         [rules.suppliers]\nany = [\"vendor\", \"other\"]\n\
         [default]\nrule = \"integrator\"\n\
         parts = [{ kind = \"any\", rule = \"suppliers\", unsigned = \"allow\" }]\n",
    );
    let (code, v) = d.verify_nested("app.wasm", &["--policy", "policy.toml"]);
    assert_eq!(code, 0, "{v}");
    // Each plugged component (depth 1) is verified by its own vendor; the
    // core modules and the shim component inside them are unsigned.
    let (vendor, other) = (signer(&d, "dep.wasm", "k1.pk"), signer(&d, "host.wasm", "k3.pk"));
    let plugged: Vec<&Value> = parts(&v).iter().filter(|p| p["path"].as_array().map(Vec::len) == Some(1)).collect();
    assert_eq!(plugged.len(), 2, "{v}");
    let dep_len = dep.len() as u64;
    for p in &plugged {
        assert_eq!((&p["kind"], &p["outcome"]), (&"component".into(), &"verified".into()), "{v}");
        let want = if p["offset"] == dep_at as u64 { &vendor } else { &other };
        assert_eq!(p["signers"], serde_json::json!([want]), "{v}");
    }
    assert!(plugged.iter().any(|p| p["offset"] == dep_at as u64 && p["len"] == dep_len), "{v}");
    for p in parts(&v).iter().filter(|p| p["path"].as_array().map(Vec::len) != Some(1)) {
        assert_eq!(p["outcome"], "unsigned_allowed", "{v}");
    }
    // wasmsign2 checks the outer signature of the composition.
    d.run(&wasmsign2, &["verify", "-i", "app.wasm", "-K", "k2.pk"]);

    // The integrator changes dep's answer inside the composition, then
    // signs it again: still a valid component with a valid outer
    // signature, but dep is rejected.
    let mut edited = dep.clone();
    edited[find_once(&dep, ANSWER) + 1] ^= 0x01;
    let mut tampered = composed.clone();
    let at = find_once(&composed, &dep);
    tampered[at..at + dep.len()].copy_from_slice(&edited);
    d.write("tampered.wasm", &tampered);
    validate(&d, "tampered.wasm");
    d.wsc_ok(&["sign", "-i", "tampered.wasm", "-o", "tampered-app.wasm", "-k", "k2.sk"]);
    d.wsc_ok(&["verify", "-i", "tampered-app.wasm", "-K", "k2.pk"]);
    let (code, v) = d.verify_nested("tampered-app.wasm", &["--policy", "policy.toml"]);
    assert_eq!(code, 1, "{v}");
    let dep_at = find_once(&d.read("tampered-app.wasm"), &edited);
    for p in parts(&v).iter().filter(|p| p["signed"] == true) {
        let (outcome, reasons) = (p["outcome"].as_str(), p["reasons"].to_string());
        if p["offset"] == dep_at as u64 {
            assert_eq!(outcome, Some("rejected"), "{v}");
            assert!(reasons.contains("hash_mismatch"), "{v}");
        } else {
            assert_eq!(outcome, Some("verified"), "{v}");
        }
    }
    assert!(v["reasons"].to_string().contains("nested_part_rejected"), "{v}");
}

#[test]
fn jco_new_rewrites_a_module_signed_before_and_sign_nested_after_verifies() {
    let d = KeyDir::new();
    let jco = jco();
    let wt = wasm_tools();
    std::fs::copy(repo().join("testdata/components/hello.wat"), d.path("hello.wat")).expect("copy");
    // The module carries its (empty) world, as toolchains embed one.
    d.write("hello.wit", "package wsc:hello;\n\nworld hello {}\n");
    d.run(&wt, &["component", "embed", "hello.wit", "--world", "hello", "hello.wat", "-o", "hello-core.wasm"]);
    // The vendor signs the core module, then jco componentizes it with the
    // WASI preview 1 command adapter.
    d.wsc_ok(&["sign", "-i", "hello-core.wasm", "-o", "vendor-core.wasm", "-k", "k1.sk"]);
    d.run(&jco, &["new", "vendor-core.wasm", "--wasi-command", "-o", "early.wasm"]);
    validate(&d, "early.wasm");
    d.wsc_ok(&["sign", "-i", "early.wasm", "-o", "early-signed.wasm", "-k", "k2.sk"]);
    d.write(
        "policy.toml",
        "schema = \"wsc-policy/v1\"\n\
         [principals.vendor]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
         [principals.integrator]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k2.pk\"\n\
         [default]\nrule = \"integrator\"\nparts = [{ kind = \"module\", rule = \"vendor\", unsigned = \"allow\" }]\n",
    );
    // jco dropped the component-type section and appended a producers
    // section: the vendor's signature no longer covers the module. The
    // adapter and shims are unsigned.
    let (code, v) = d.verify_nested("early-signed.wasm", &["--policy", "policy.toml"]);
    assert_eq!(code, 1, "{v}");
    let signed: Vec<&Value> = parts(&v).iter().filter(|p| p["signed"] == true).collect();
    assert_eq!(signed.len(), 1, "{v}");
    assert_eq!(signed[0]["outcome"], "rejected", "{v}");
    assert!(signed[0]["reasons"].to_string().contains("hash_mismatch"), "{v}");
    assert!(outcomes(&v).iter().any(|o| o == "unsigned_allowed"), "{v}");
    let (offset, len) =
        (signed[0]["offset"].as_u64().expect("offset") as usize, signed[0]["len"].as_u64().expect("len") as usize);
    let early = d.read("early-signed.wasm");
    let inside = &early[offset..offset + len];
    let has = |b: &[u8], s: &[u8]| b.windows(s.len()).any(|w| w == s);
    assert!(has(inside, b"producers") && !has(inside, b"component-type"), "jco changed what it does");
    assert!(has(&d.read("vendor-core.wasm"), b"component-type"));
    // `sign --nested` keeps the stale vendor signature byte for byte: the
    // module stays rejected.
    d.wsc_ok(&["sign", "--nested", "-i", "early.wasm", "-o", "early-nested.wasm", "-k", "k2.sk"]);
    let (code, v) = d.verify_nested("early-nested.wasm", &["--policy", "policy.toml"]);
    assert_eq!(code, 1, "{v}");

    // Without an embedded world jco keeps the module byte for byte, and a
    // signature made before still verifies.
    d.run(&wt, &["parse", "hello.wat", "-o", "plain.wasm"]);
    d.wsc_ok(&["sign", "-i", "plain.wasm", "-o", "plain-signed.wasm", "-k", "k1.sk"]);
    d.run(&jco, &["new", "plain-signed.wasm", "--wasi-command", "-o", "plain-jco.wasm"]);
    find_once(&d.read("plain-jco.wasm"), &d.read("plain-signed.wasm"));
    d.wsc_ok(&["sign", "-i", "plain-jco.wasm", "-o", "plain-app.wasm", "-k", "k2.sk"]);
    let (code, v) = d.verify_nested("plain-app.wasm", &["--policy", "policy.toml"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(outcomes(&v)[0], "verified", "{v}");

    // Componentize first, then `wsc sign --nested`: every part verifies.
    d.run(&jco, &["new", "hello-core.wasm", "--wasi-command", "-o", "late.wasm"]);
    d.wsc_ok(&["sign", "--nested", "-i", "late.wasm", "-o", "late-signed.wasm", "-k", "k2.sk"]);
    validate(&d, "late-signed.wasm");
    let (code, v) = d.verify_nested("late-signed.wasm", &["-K", "k2.pk"]);
    assert_eq!(code, 0, "{v}");
    let got = outcomes(&v);
    assert!(got.len() >= 4 && got.iter().all(|o| o == "verified"), "{v}");
    // Another key rejects it.
    let (code, _) = d.verify_nested("late-signed.wasm", &["-K", "k1.pk"]);
    assert_eq!(code, 1);
}

#[test]
fn a_componentize_py_component_signed_with_sign_nested_verifies_part_by_part() {
    let d = KeyDir::new();
    let cpy = tool("componentize-py", "`python3 -m pip install componentize-py==0.25.1`");
    std::fs::create_dir(d.path("wit")).expect("mkdir");
    d.write("wit/world.wit", "package wsc:hello;\n\nworld hello {\n  export greet: func(name: string) -> string;\n}\n");
    d.write(
        "app.py",
        "import wit_world\n\n\nclass WitWorld(wit_world.WitWorld):\n    \
         def greet(self, name: str) -> str:\n        return \"hello \" + name\n",
    );
    d.run(&cpy, &["-d", "wit", "-w", "hello", "componentize", "app", "-o", "app.wasm"]);
    d.wsc_ok(&["sign", "--nested", "-i", "app.wasm", "-o", "signed.wasm", "-k", "k2.sk"]);
    validate(&d, "signed.wasm");
    d.write(
        "policy.toml",
        "schema = \"wsc-policy/v1\"\n\
         [principals.integrator]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k2.pk\"\n\
         [default]\nrule = \"integrator\"\nparts = [{ kind = \"any\", rule = \"integrator\", unsigned = \"reject\" }]\n",
    );
    for trust in [&["-K", "k2.pk"][..], &["--policy", "policy.toml"]] {
        let (code, v) = d.verify_nested("signed.wasm", trust);
        assert_eq!(code, 0, "{v}");
        let got = outcomes(&v);
        assert!(got.len() >= 2 && got.iter().all(|o| o == "verified"), "{got:?}");
    }
    // Unsigned parts are rejected when the policy says so.
    d.wsc_ok(&["sign", "-i", "app.wasm", "-o", "outer.wasm", "-k", "k2.sk"]);
    let (code, v) = d.verify_nested("outer.wasm", &["--policy", "policy.toml"]);
    assert_eq!(code, 1, "{v}");
    assert!(outcomes(&v).iter().all(|o| o == "unsigned_rejected"), "{v}");
}

#[test]
fn hello_signed_with_sign_nested_is_still_a_valid_component() {
    let d = KeyDir::new();
    std::fs::copy(repo().join("testdata/components/hello.wasm"), d.path("hello.wasm")).expect("copy");
    validate(&d, "hello.wasm");
    let o = d.wsc_ok(&["sign", "--nested", "-i", "hello.wasm", "-o", "signed.wasm", "-k", "k2.sk"]);
    assert!(text(&o).contains("nested part(s) signed"), "{}", text(&o));
    validate(&d, "signed.wasm");
    let (code, v) = d.verify_nested("signed.wasm", &["-K", "k2.pk"]);
    assert_eq!(code, 0, "{v}");
    assert!(outcomes(&v).iter().all(|o| o == "verified"), "{v}");
    // wasm-tools still reads the component's interface.
    let wit = d.run(&wasm_tools(), &["component", "wit", "signed.wasm"]);
    assert!(String::from_utf8_lossy(&wit.stdout).contains("wasi:cli/run"), "{}", text(&wit));
}
