//! Budgets: every size and count a policy controls is bounded, and large
//! but legal shapes (long rule chains) load without exhausting the stack.

use std::fmt::Write as _;
use std::path::Path;

use wsc_policy::{DirFiles, ErrorCode, Format, Limits, MemoryFiles, NoFiles};

const K1_SPKI: &str = "MCowBQYDK2VwAyEA7hCgZoNQOMTEX3yVi/oGXjsEHzDPMy2gGAef1DxUWBk=";

fn key_principal(name: &str) -> String {
    format!("\n[principals.{name}]\nkind = \"key\"\nalgorithm = \"ed25519\"\nspki = \"{K1_SPKI}\"\n")
}

/// A policy whose rules r0 -> r1 -> ... -> r{n-1} -> k1, optionally
/// closed into a cycle.
fn chain(n: usize, cycle: bool) -> String {
    let mut t = String::from("schema = \"wsc-policy/v1\"\n");
    t.push_str(&key_principal("k1"));
    for i in 0..n {
        let next = if i + 1 < n {
            format!("r{}", i + 1)
        } else if cycle {
            "r0".into()
        } else {
            "k1".into()
        };
        let _ = write!(t, "\n[rules.r{i}]\nall = [\"{next}\"]\n");
    }
    t.push_str("\n[default]\nrule = \"r0\"\n");
    t
}

#[test]
fn sizes_and_counts_over_budget_are_refused() {
    type Case = (&'static str, String, Limits, ErrorCode, &'static str);
    let mut huge = String::from("schema = \"wsc-policy/v1\"\n");
    huge.push_str(&"# padding\n".repeat(110_000));
    let three = format!(
        "schema = \"wsc-policy/v1\"\n{}{}{}\n[default]\nrule = \"a\"\n",
        key_principal("a"),
        "\n[principals.b]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k2.pk\"\n",
        "\n[principals.c]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k3.pk\"\n",
    );
    let cases: Vec<Case> = vec![
        ("policy over 1 MiB", huge, Limits::default(), ErrorCode::TooLarge, ""),
        (
            "principals over the entry budget",
            three.clone(),
            Limits::default().with_max_entries(2),
            ErrorCode::TooLarge,
            "principals",
        ),
        (
            "files together over their budget",
            three.clone(),
            Limits::default().with_max_total_file_bytes(40),
            ErrorCode::TooLarge,
            "principals.c.file",
        ),
        (
            "a rule chain over the entry budget",
            chain(30, false),
            Limits::default().with_max_entries(20),
            ErrorCode::TooLarge,
            "rules",
        ),
    ];
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/keys");
    let files = DirFiles::new(&keys);
    for (what, text, limits, code, path) in cases {
        let e = wsc_policy::parse_with_limits(text.as_bytes(), Format::Toml, &files, &limits).expect_err(what);
        assert_eq!((e.code(), e.path()), (code, path), "{what}: {e}");
    }
    // Within the same budgets, the same shapes load.
    wsc_policy::parse_with_limits(
        three.as_bytes(),
        Format::Toml,
        &files,
        &Limits::default().with_max_total_file_bytes(66),
    )
    .expect("two 33-byte key files fit in 66 bytes");
}

#[test]
fn a_key_file_over_its_budget_is_refused_before_it_is_read_whole() {
    let mut files = MemoryFiles::new();
    files.insert("big.pub", vec![b'A'; 64 * 1024 + 1]);
    let text = "schema = \"wsc-policy/v1\"\n[principals.k]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"big.pub\"\n[default]\nrule = \"k\"\n";
    let e = wsc_policy::parse(text.as_bytes(), Format::Toml, &files).expect_err("too large");
    assert_eq!((e.code(), e.path()), (ErrorCode::TooLarge, "principals.k.file"));
}

#[test]
fn long_rule_chains_load_and_long_cycles_are_found_without_recursion() {
    let ok =
        wsc_policy::parse(chain(10_000, false).as_bytes(), Format::Toml, &NoFiles).expect("a chain of 10 000 rules");
    assert_eq!(ok.rules().len(), 10_000);
    let e = wsc_policy::parse(chain(10_000, true).as_bytes(), Format::Toml, &NoFiles).expect_err("a cycle of 10 000");
    assert_eq!((e.code(), e.path()), (ErrorCode::Cycle, "rules.r9999.all[0]"));
}

#[test]
fn errors_read_code_place_message_and_keep_their_cause() {
    let text = "schema = \"wsc-policy/v1\"\n[principals.k]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"missing.pub\"\n[default]\nrule = \"k\"\n";
    let e = wsc_policy::parse(text.as_bytes(), Format::Toml, &NoFiles).expect_err("no files");
    assert_eq!(e.to_string(), "unreadable_file at principals.k.file: cannot read \"missing.pub\"");
    let cause = std::error::Error::source(&e).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("this policy was loaded without access to files"));

    let e = wsc_policy::parse(b"schema = \"wsc-policy/v1\"\nx = [1, 2\n", Format::Toml, &NoFiles).expect_err("syntax");
    assert_eq!(e.code(), ErrorCode::Syntax);
    assert!(e.to_string().starts_with("syntax at line 2, column "), "{e}");

    let e = wsc_policy::parse(b"\xff", Format::Json, &NoFiles).expect_err("not UTF-8");
    assert_eq!(e.code(), ErrorCode::Syntax);
}

/// Every prefix of a full policy, and every one-byte change of it to a
/// character that matters to TOML or JSON, loads or is refused with a
/// code: none panics.
#[test]
fn mangled_policies_are_refused_without_panicking() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let files = DirFiles::new(&data);
    let mut memory = MemoryFiles::new();
    let names = [
        "../../../../testdata/wasmsign2/keys/k1.pk",
        "../../../../testdata/wasmsign2/keys/k1.pk.der",
        "../../../../testdata/wasmsign2/keys/ssh_ed25519.pub",
        "../../../../testdata/sigstore/trusted_root.staging.json",
        "material/p256.sec1",
        "material/root-ca.pem",
        "material/root.crl",
        "material/tsa-chain.pem",
    ];
    for name in names {
        memory.insert(name, std::fs::read(data.join(name)).expect(name));
    }
    let mut refused = 0;
    for (file, format) in [("ok-full.toml", Format::Toml), ("ok-full.json", Format::Json)] {
        let text = std::fs::read(data.join(file)).expect(file);
        wsc_policy::parse(&text, format, &files).expect("the original loads");
        let mut variants: Vec<Vec<u8>> = (0..text.len()).map(|n| text[..n].to_vec()).collect();
        for i in 0..text.len() {
            // Every position gets a quote; every seventh also the others.
            let bytes: &[u8] = if i % 7 == 0 { b"\"[\\\xff" } else { b"\"" };
            for &b in bytes {
                let mut v = text.clone();
                v[i] = b;
                variants.push(v);
            }
        }
        for v in variants {
            if let Err(e) = wsc_policy::parse(&v, format, &memory) {
                assert!(!e.message().is_empty() && ErrorCode::ALL.contains(&e.code()), "{e}");
                refused += 1;
            }
        }
    }
    assert!(refused > 1000, "only {refused} variants refused");
}
