//! Fail closed, class "a signed part removed": cutting a signed module
//! anywhere, or removing any part (the sections between two delimiters) a
//! set signed, must fail in every mode (whole, partial with any selection,
//! detached, several keys), and "whole" is only reported when one set's
//! hashes cover every byte to the end.
//!
//! The section boundaries are found by the small parser below, not by
//! wsc-core, so the cuts do not depend on the code under test.

use std::path::{Path, PathBuf};

use wsc_core::Verification;
use wsc_core::format::SectionHeader;
use wsc_core::{PublicKey, RecordVerifier, Scope, VerifyOptions};

fn v(rel: &str) -> Vec<u8> {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn leb(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// Sections as (start, end, custom name) after the 8-byte preamble.
fn sections(m: &[u8]) -> Vec<(usize, usize, Option<String>)> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < m.len() {
        let start = pos;
        let id = m[pos];
        pos += 1;
        let len = usize::try_from(leb(m, &mut pos)).expect("length");
        let data = pos;
        pos += len;
        let name = (id == 0).then(|| {
            let mut p = data;
            let n = usize::try_from(leb(m, &mut p)).expect("name length");
            String::from_utf8(m[p..p + n].to_vec()).expect("name")
        });
        out.push((start, pos, name));
    }
    out
}

/// Every way to remove signed content: each cut at a section boundary
/// before the end, and each part (with its delimiter) taken out.
fn mutations(m: &[u8]) -> Vec<(String, Vec<u8>)> {
    let secs = sections(m);
    let first = usize::from(secs.first().and_then(|s| s.2.as_deref()) == Some("signature"));
    let content = &secs[first..];
    let mut out = Vec::new();
    for (i, s) in content.iter().enumerate().take(content.len() - 1) {
        out.push((format!("cut after section {i} ({:?})", s.2), m[..s.1].to_vec()));
    }
    // Parts: runs of sections ending with a delimiter, and the tail.
    let mut parts = Vec::new();
    let mut start = content[0].0;
    for s in content {
        if s.2.as_deref() == Some("signature_delimiter") {
            parts.push((start, s.1));
            start = s.1;
        }
    }
    if start < m.len() {
        parts.push((start, m.len()));
    }
    assert!(parts.len() >= 3, "the test module must have several parts");
    for (i, (a, b)) in parts.iter().enumerate() {
        let mut cut = m[..*a].to_vec();
        cut.extend_from_slice(&m[*b..]);
        out.push((format!("part {i} removed"), cut));
    }
    out
}

type Sel = fn(&SectionHeader) -> bool;

fn selections() -> Vec<(&'static str, Option<Sel>)> {
    vec![
        ("whole", None),
        ("partial .*", Some(|_| true)),
        ("partial ^.debug_", Some(|h| h.custom_name().is_none_or(|n| n.starts_with(".debug_")))),
        ("partial ^name$", Some(|h| h.custom_name().is_none_or(|n| n == "name"))),
        ("partial standard only", Some(|h| h.custom_name().is_none())),
    ]
}

fn scope(sel: &Option<Sel>) -> Scope<'_> {
    match sel {
        None => Scope::Whole,
        Some(f) => Scope::Partial(f),
    }
}

#[test]
fn removing_or_truncating_a_signed_part_fails_in_every_mode() {
    let signed = v("signed/custom.split.k1.wasm");
    let k1 = PublicKey::from_any(&v("keys/k1.pk")).expect("k1");
    let k2 = PublicKey::from_any(&v("keys/k2.pk")).expect("k2");
    let opts = VerifyOptions::default();
    let mut detached_module = Vec::new();
    let sig = wsc_core::detach(signed.as_slice(), &mut detached_module).expect("detach");

    // The intact module passes whole and with a uniform selection, so the
    // failures below are about the removed part.
    for sel in [None, Some((|_| true) as Sel)] {
        let r =
            wsc_core::verify_embedded(signed.as_slice(), &Verification::new(&[&k1]).scope(scope(&sel)).options(opts));
        let v = r.expect("runs").single().expect("intact module verifies");
        assert!(v.whole, "intact module is whole");
        let r = wsc_core::verify_detached(
            detached_module.as_slice(),
            &sig,
            &Verification::new(&[&k1]).scope(scope(&sel)).options(opts),
        );
        assert!(r.expect("runs").single().expect("intact detached").whole);
    }

    let mut checked = 0;
    for (what, m) in mutations(&signed) {
        let (_, dm) = mutations(&detached_module).into_iter().find(|(w, _)| *w == what).expect("same mutation");
        for (name, sel) in selections() {
            let keys: [&[&dyn RecordVerifier]; 2] = [&[&k1], &[&k2, &k1]];
            for ks in keys {
                let embedded = wsc_core::verify_embedded(
                    m.as_slice(),
                    &Verification::new(ks).scope(scope(&sel)).options(opts).total_len(Some(m.len() as u64)),
                );
                let detached = wsc_core::verify_detached(
                    dm.as_slice(),
                    &sig,
                    &Verification::new(ks).scope(scope(&sel)).options(opts),
                );
                for (mode, r) in [("embedded", embedded), ("detached", detached)] {
                    if let Ok(report) = r {
                        for res in &report.results {
                            assert!(res.is_err(), "{what}, {name}, {mode}: verified ({res:?})");
                        }
                        assert!(!report.any_verified(), "{what}, {name}, {mode}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} cases ran");
}

#[test]
fn truncation_after_a_delimiter_names_the_missing_part() {
    // The wasmsign2 vector: the module cut right after its first delimiter.
    let m = v("crafted/custom.split.k1.truncated-after-d1.wasm");
    let k1 = PublicKey::from_any(&v("keys/k1.pk")).expect("k1");
    let all = |_: &SectionHeader| true;
    let e = wsc_core::verify_embedded(m.as_slice(), &Verification::new(&[&k1]).scope(Scope::Partial(&all)))
        .expect("runs")
        .single()
        .expect_err("truncated module must fail");
    assert!(
        matches!(e, wsc_core::Error::Verification(wsc_core::VerifyError::SignedPartsMissing { present: 1, .. })),
        "{e:?}"
    );
}

#[test]
fn whole_is_only_said_when_one_set_covers_everything() {
    // A module with a section appended after its last delimiter: the
    // signed parts verify partially, but nothing covers the new tail.
    let m = v("signed/custom.split.k1.ext.wasm");
    let k1 = PublicKey::from_any(&v("keys/k1.pk")).expect("k1");
    let debug = |h: &SectionHeader| h.custom_name().is_none_or(|n| n.starts_with(".debug_"));
    let r = wsc_core::verify_embedded(m.as_slice(), &Verification::new(&[&k1]).scope(Scope::Partial(&debug)))
        .expect("runs")
        .single()
        .expect("signed parts verify");
    assert!(!r.whole, "an unsigned tail is not whole");
    assert!(r.unverified().is_some());
}

#[test]
fn a_signed_prefix_under_whole_scope_is_named_as_such() {
    // custom.split.k1.ext.wasm: k1 signed the parts up to the last
    // delimiter; a section was appended after. Whole scope refuses it and
    // says the set signs only the first parts; changed content is still
    // a content mismatch.
    let m = v("signed/custom.split.k1.ext.wasm");
    let k1 = PublicKey::from_any(&v("keys/k1.pk")).expect("k1");
    let whole = |m: &[u8]| {
        wsc_core::verify_embedded(m, &Verification::new(&[&k1]))
            .expect("runs")
            .single()
            .expect_err("whole scope must fail")
    };
    let e = whole(&m);
    assert!(
        matches!(
            e,
            wsc_core::Error::Verification(wsc_core::VerifyError::PartsUnsigned { signed, present }) if signed < present
        ),
        "{e:?}"
    );
    // The last byte of the first standard section: inside a signed part.
    let mut changed = m.clone();
    let (_, end, _) = *sections(&m).iter().find(|(_, _, name)| name.is_none()).expect("a standard section");
    changed[end - 1] ^= 1;
    assert!(matches!(whole(&changed), wsc_core::Error::Verification(wsc_core::VerifyError::ContentMismatch)));
}
