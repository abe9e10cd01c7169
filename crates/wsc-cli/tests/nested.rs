//! Nested signatures: components composed here byte for byte from signed
//! and unsigned core modules and components (as `wac plug` embeds parts,
//! docs/components.md), then `wsc verify --nested` against part rules of a
//! policy and against -K, `wsc sign --nested`, and wasmsign2 0.2.8
//! checking the outer signature and a nested module's signature.

#[allow(dead_code)]
mod support;

use std::process::Command;

use serde_json::Value;
use support::{KeyDir, outcomes, text, tool};
use wsc_core::format::{MODULE_PREAMBLE, encode_custom_section};

/// The test keys, `add.wasm`, `vendor.wasm` (add.wasm signed by the vendor,
/// k1), `other.wasm` (signed by k3), and `policy.toml`: the vendor signs
/// modules; the integrator (k2) composes and signs the whole and the nested
/// components.
fn vendor_dir() -> KeyDir {
    let d = KeyDir::new();
    std::fs::copy(support::repo().join("testdata/wasmsign2/modules/add.wasm"), d.path("add.wasm")).expect("module");
    d.write(
        "policy.toml",
        "schema = \"wsc-policy/v1\"\n\
         [principals.vendor]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
         [principals.integrator]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k2.pk\"\n\
         [default]\nrule = \"integrator\"\n\
         parts = [\n  { kind = \"module\", rule = \"vendor\", unsigned = \"allow\" },\n  \
         { kind = \"component\", rule = \"integrator\", unsigned = \"reject\" },\n]\n",
    );
    d.wsc_ok(&["sign", "-i", "add.wasm", "-o", "vendor.wasm", "-k", "k1.sk"]);
    d.wsc_ok(&["sign", "-i", "add.wasm", "-o", "other.wasm", "-k", "k3.sk"]);
    d
}

/// Composes `parts` into `name` and signs the whole with k2 into `signed-NAME`.
fn compose(d: &KeyDir, name: &str, parts: &[Part]) {
    d.write(name, component(&parts.iter().map(|p| p.bytes(d)).collect::<Vec<_>>()));
    d.wsc_ok(&["sign", "-i", name, "-o", &format!("signed-{name}"), "-k", "k2.sk"]);
}

/// A part of a composed component.
enum Part {
    /// A core module file.
    Module(&'static str),
    /// A nested component made of these parts, signed by the integrator or not.
    Component(Vec<Part>, bool),
}

impl Part {
    fn bytes(&self, dir: &KeyDir) -> (u8, Vec<u8>) {
        match self {
            Part::Module(f) => (1, dir.read(f)),
            Part::Component(parts, signed) => {
                let inner = component(&parts.iter().map(|p| p.bytes(dir)).collect::<Vec<_>>());
                if !signed {
                    return (4, inner);
                }
                dir.write("inner.wasm", &inner);
                dir.wsc_ok(&["sign", "-i", "inner.wasm", "-o", "inner.signed.wasm", "-k", "k2.sk"]);
                (4, dir.read("inner.signed.wasm"))
            }
        }
    }
}

/// A component: the preamble, then one section per part (id 1 a core
/// module, id 4 a component), each holding the part's bytes verbatim.
fn component(parts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    for (id, bytes) in parts {
        out.push(*id);
        let mut n = bytes.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { b } else { b | 0x80 });
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(bytes);
    }
    out
}

fn reasons(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .map(|a| a.iter().map(|r| r.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

const POLICY: &[&str] = &["--policy", "policy.toml"];

#[test]
fn nested_parts_are_judged_by_the_part_rules_of_the_scope() {
    let d = vendor_dir();
    // Integrator-signed whole: a vendor module, an unsigned adapter-like
    // module, and a nested component (integrator) holding a vendor module.
    compose(
        &d,
        "app.wasm",
        &[
            Part::Module("vendor.wasm"),
            Part::Module("add.wasm"),
            Part::Component(vec![Part::Module("vendor.wasm")], true),
        ],
    );
    let (code, v) = d.verify_nested("signed-app.wasm", POLICY);
    assert_eq!(code, 0, "{v}");
    assert_eq!(outcomes(&v), ["verified", "unsigned_allowed", "verified", "verified"], "{v}");
    // Provenance: each part's digest and who signed it.
    let parts = v["parts"].as_array().expect("parts");
    let vendor = d.wsc_ok(&["verify", "-i", "vendor.wasm", "-K", "k1.pk", "--json"]);
    let vendor: Value = serde_json::from_slice(&vendor.stdout).expect("JSON");
    assert_eq!(parts[0]["sha256"], vendor["module"]["sha256"]);
    assert_eq!(parts[0]["signers"], parts[3]["signers"]);
    assert_ne!(parts[0]["signers"], parts[2]["signers"]);
    assert_eq!(parts[3]["path"], serde_json::json!([2, 0]));
    // Without --nested only the whole is checked.
    d.wsc_ok(&["verify", "-i", "signed-app.wasm", "--policy", "policy.toml"]);
    // Nested signatures are embedded: --nested takes no detached signature.
    let o = d.wsc(&["verify", "-i", "app.wasm", "-S", "app.sig", "-K", "k2.pk", "--nested"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("detached"), "{}", text(&o));

    // A nested module signed by someone the module rule does not name.
    compose(&d, "wrong.wasm", &[Part::Module("other.wasm"), Part::Component(vec![], true)]);
    let (code, v) = d.verify_nested("signed-wrong.wasm", POLICY);
    assert_eq!(code, 1, "{v}");
    assert_eq!(outcomes(&v), ["rejected", "verified"], "{v}");
    assert!(reasons(&v).contains(&"nested_part_rejected".to_string()), "{v}");
    d.wsc_ok(&["verify", "-i", "signed-wrong.wasm", "--policy", "policy.toml"]);

    // An unsigned nested component where the component rule rejects them.
    compose(&d, "bare.wasm", &[Part::Module("vendor.wasm"), Part::Component(vec![], false)]);
    let (code, v) = d.verify_nested("signed-bare.wasm", POLICY);
    assert_eq!(code, 1, "{v}");
    assert_eq!(outcomes(&v), ["verified", "unsigned_rejected"], "{v}");
    assert!(reasons(&v).contains(&"nested_part_unsigned".to_string()), "{v}");
}

#[test]
fn a_vendor_module_changed_inside_the_component_is_rejected_even_when_the_whole_is_signed() {
    let d = vendor_dir();
    compose(&d, "app.wasm", &[Part::Module("vendor.wasm")]);
    // The integrator edits the vendor's code, then signs the whole: the
    // outer signature is valid, the vendor's is not.
    let mut composed = d.read("app.wasm");
    let at = composed.len() - 3;
    composed[at] ^= 0x01;
    d.write("edited.wasm", &composed);
    d.wsc_ok(&["sign", "-i", "edited.wasm", "-o", "signed-edited.wasm", "-k", "k2.sk"]);
    d.wsc_ok(&["verify", "-i", "signed-edited.wasm", "-K", "k2.pk"]);
    let (code, v) = d.verify_nested("signed-edited.wasm", POLICY);
    assert_eq!(code, 1, "{v}");
    assert_eq!(outcomes(&v), ["rejected"], "{v}");
    assert!(v["parts"][0]["reasons"].to_string().contains("hash_mismatch"), "{v}");
}

#[test]
fn a_signed_part_no_rule_names_is_rejected_not_skipped() {
    let d = vendor_dir();
    d.write(
        "components-only.toml",
        "schema = \"wsc-policy/v1\"\n\
         [principals.integrator]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k2.pk\"\n\
         [default]\nrule = \"integrator\"\nparts = [{ kind = \"component\", rule = \"integrator\" }]\n",
    );
    compose(&d, "app.wasm", &[Part::Module("vendor.wasm"), Part::Module("add.wasm")]);
    let (code, v) = d.verify_nested("signed-app.wasm", &["--policy", "components-only.toml"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(outcomes(&v), ["rejected", "unchecked"], "{v}");
    assert!(v["parts"][0]["reasons"].to_string().contains("no part rule"), "{v}");
}

#[test]
fn with_a_key_every_signed_part_must_verify_under_it() {
    let d = vendor_dir();
    d.wsc_ok(&["sign", "-i", "add.wasm", "-o", "integrator.wasm", "-k", "k2.sk"]);
    compose(&d, "mine.wasm", &[Part::Module("integrator.wasm"), Part::Module("add.wasm")]);
    let (code, v) = d.verify_nested("signed-mine.wasm", &["-K", "k2.pk"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(outcomes(&v), ["verified", "unsigned_allowed"], "{v}");
    compose(&d, "mixed.wasm", &[Part::Module("integrator.wasm"), Part::Module("vendor.wasm")]);
    let (code, v) = d.verify_nested("signed-mixed.wasm", &["-K", "k2.pk"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(outcomes(&v), ["verified", "rejected"], "{v}");
    // Text output names each part.
    let o = d.wsc(&["verify", "-i", "signed-mixed.wasm", "-K", "k2.pk", "--nested"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("part [1] module at"), "{}", text(&o));
}

#[test]
fn sign_nested_signs_unsigned_parts_and_keeps_signed_ones_byte_for_byte() {
    let d = vendor_dir();
    d.write(
        "app.wasm",
        component(&[
            (1, d.read("vendor.wasm")),
            (1, d.read("add.wasm")),
            (4, component(&[(1, d.read("add.wasm")), (1, d.read("vendor.wasm"))])),
        ]),
    );
    let o = d.wsc_ok(&["sign", "--nested", "-i", "app.wasm", "-o", "out.wasm", "-k", "k2.sk"]);
    assert!(text(&o).contains("3 nested part(s) signed, 2 kept"), "{}", text(&o));
    // The vendor's modules are still there byte for byte.
    let out = d.read("out.wasm");
    let vendor = d.read("vendor.wasm");
    assert_eq!(out.windows(vendor.len()).filter(|w| *w == vendor.as_slice()).count(), 2);
    // Everything verifies: integrator on the whole and on the parts it
    // signed, vendor on its own.
    d.write(
        "both.toml",
        "schema = \"wsc-policy/v1\"\n\
         [principals.vendor]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
         [principals.integrator]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k2.pk\"\n\
         [rules.either]\nany = [\"vendor\", \"integrator\"]\n\
         [default]\nrule = \"integrator\"\nparts = [{ kind = \"any\", rule = \"either\", unsigned = \"reject\" }]\n",
    );
    let (code, v) = d.verify_nested("out.wasm", &["--policy", "both.toml"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(outcomes(&v), ["verified"; 5], "{v}");
    // Signing a component (not --nested) leaves nested signatures intact.
    d.wsc_ok(&["sign", "-i", "out.wasm", "-o", "twice.wasm", "-k", "k3.sk"]);
    let (code, v) = d.verify_nested("twice.wasm", &["--policy", "both.toml"]);
    assert_eq!(code, 0, "{v}");
}

fn wasmsign2() -> std::path::PathBuf {
    tool("wasmsign2", "`cargo install --locked wasmsign2-cli@0.2.8`")
}

#[test]
fn wasmsign2_verifies_the_outer_signature_and_a_nested_module_cut_out() {
    let d = vendor_dir();
    compose(&d, "app.wasm", &[Part::Module("add.wasm"), Part::Module("vendor.wasm")]);
    let (code, v) = d.verify_nested("signed-app.wasm", POLICY);
    assert_eq!(code, 0, "{v}");
    let part = &v["parts"][1];
    let (offset, len) =
        (part["offset"].as_u64().expect("offset") as usize, part["len"].as_u64().expect("len") as usize);
    let bytes = d.read("signed-app.wasm");
    d.write("cut.wasm", &bytes[offset..offset + len]);
    let o = Command::new(wasmsign2())
        .current_dir(d.path(""))
        .args(["verify", "-i", "cut.wasm", "-K", "k1.pk"])
        .output()
        .expect("wasmsign2 runs");
    assert!(o.status.success(), "wasmsign2: {}", text(&o));
    let o = Command::new(wasmsign2())
        .current_dir(d.path(""))
        .args(["verify", "-i", "cut.wasm", "-K", "k2.pk"])
        .output()
        .expect("wasmsign2 runs");
    assert!(!o.status.success(), "wasmsign2 accepted another key: {}", text(&o));
    // And the outer signature of the component, after `sign --nested` too.
    d.wsc_ok(&["sign", "--nested", "-i", "app.wasm", "-o", "nested.wasm", "-k", "k2.sk"]);
    for (file, key, ok) in
        [("signed-app.wasm", "k2.pk", true), ("nested.wasm", "k2.pk", true), ("nested.wasm", "k1.pk", false)]
    {
        let o = Command::new(wasmsign2())
            .current_dir(d.path(""))
            .args(["verify", "-i", file, "-K", key])
            .output()
            .expect("wasmsign2 runs");
        assert_eq!(o.status.success(), ok, "wasmsign2 verify {file} {key}: {}", text(&o));
    }
}

/// `verify --nested` of a 48 MiB component (three 16 MiB modules, every
/// part and the whole signed) peaks within 16 MiB of what it takes for the
/// 19 KB hello component: memory is flat in the component's size (GNU time).
#[test]
fn verify_nested_memory_is_flat_in_the_component_size() {
    const BIG: usize = 16 << 20;
    let d = KeyDir::new();
    let module = |seed: u8| {
        let pad = encode_custom_section("pad", &vec![seed; BIG]).expect("section");
        [&MODULE_PREAMBLE[..], &pad].concat()
    };
    let big = component(&[(1, module(1)), (1, module(2)), (1, module(3))]);
    d.write("big.wasm", &big);
    d.wsc_ok(&["sign", "--nested", "-i", "big.wasm", "-o", "big.signed.wasm", "-k", "k1.sk"]);
    let hello = support::repo().join("testdata/components/hello.wasm");
    d.wsc_ok(&["sign", "--nested", "-i", hello.to_str().expect("utf-8"), "-o", "hello.signed.wasm", "-k", "k1.sk"]);
    let peak = |file: &str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_wsc"));
        c.current_dir(d.path("")).args(["verify", "-i", file, "--nested", "-K", "k1.pk"]);
        let (o, rss) = support::peak_rss(&c);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr).matches(": verified by").count(),
            if file == "big.signed.wasm" { 3 } else { 5 },
            "{}",
            text(&o)
        );
        rss
    };
    let (small, large) = (peak("hello.signed.wasm"), peak("big.signed.wasm"));
    assert!(large < small + 16 * 1024, "peak RSS {large} KiB for 48 MiB against {small} KiB for hello");
}
