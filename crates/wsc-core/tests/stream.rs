//! The streaming verifier against the `Read` functions: the same report
//! or the same error for every vector module, however the bytes are cut,
//! and a verification that failed stays failed.

use std::path::{Path, PathBuf};

use wsc_core::Verification;
use wsc_core::format::SectionHeader;
use wsc_core::{Error, PublicKey, RecordVerifier, Scope, StreamVerifier};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2")
}

fn modules() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["signed", "crafted", "modules"] {
        let mut entries: Vec<_> = std::fs::read_dir(vectors().join(dir)).expect("vectors").flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "wasm") {
                out.push((format!("{dir}/{}", e.file_name().to_string_lossy()), std::fs::read(&p).expect("read")));
            }
        }
    }
    assert!(out.len() > 30, "only {} vector modules", out.len());
    out
}

fn keys() -> Vec<PublicKey> {
    ["k1.pk", "k2.pk", "k3.pk"]
        .iter()
        .map(|k| PublicKey::from_any(&std::fs::read(vectors().join("keys").join(k)).expect("key")).expect("key"))
        .collect()
}

/// The report or the error, as text: what a caller would see.
fn outcome(r: Result<wsc_core::Report, Error>) -> String {
    match r {
        Ok(r) => format!("{:?} {:?} {:?} {:?} {:?}", r.results, r.skipped, r.rejected, r.checkpoints, r.kind),
        Err(e) => format!("error: {e}"),
    }
}

fn streamed(m: &[u8], piece: usize, verifiers: &[&dyn RecordVerifier], scope: Scope<'_>, total: bool) -> String {
    let mut v =
        StreamVerifier::embedded(&Verification::new(verifiers).scope(scope).total_len(total.then_some(m.len() as u64)));
    for chunk in m.chunks(piece.max(1)) {
        if let Err(e) = v.update(chunk) {
            return format!("error: {e}");
        }
    }
    outcome(v.finish())
}

#[test]
fn streaming_matches_the_read_functions_for_every_vector_and_cut() {
    let keys = keys();
    let verifiers: Vec<&dyn RecordVerifier> = keys.iter().map(|k| k as &dyn RecordVerifier).collect();
    let debug = |h: &SectionHeader| h.custom_name().is_none_or(|n| n.starts_with(".debug_"));
    let mut compared = 0;
    for (name, m) in modules() {
        for (scope_name, scope) in [("whole", Scope::Whole), ("partial", Scope::Partial(&debug))] {
            for total in [false, true] {
                let len = total.then_some(m.len() as u64);
                let want = outcome(wsc_core::verify_embedded(
                    m.as_slice(),
                    &Verification::new(&verifiers).scope(scope).total_len(len),
                ));
                for piece in [1, 7, 4096, m.len()] {
                    let got = streamed(&m, piece, &verifiers, scope, total);
                    assert_eq!(got, want, "{name} {scope_name} total={total} pieces of {piece}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 300, "{compared}");
}

#[test]
fn detached_streaming_matches_verify_detached() {
    let keys = keys();
    let verifiers: Vec<&dyn RecordVerifier> = keys.iter().map(|k| k as &dyn RecordVerifier).collect();
    let module = std::fs::read(vectors().join("modules/add.wasm")).expect("module");
    for sig in ["signed/add.k1kid.sig", "signed/add.k1kid.k2kid.sig"] {
        let sig = std::fs::read(vectors().join(sig)).expect("sig");
        for m in [module.clone(), [module.as_slice(), b"\0\x03\x01x\0"].concat()] {
            let want = outcome(wsc_core::verify_detached(m.as_slice(), &sig, &Verification::new(&verifiers)));
            for piece in [1, 5, m.len()] {
                let mut v = StreamVerifier::detached(&sig, &Verification::new(&verifiers)).expect("signature data");
                for c in m.chunks(piece) {
                    v.update(c).expect("update");
                }
                assert_eq!(outcome(v.finish()), want, "pieces of {piece}");
            }
        }
    }
}

#[test]
fn a_failed_update_ends_the_verification() {
    let keys = keys();
    let verifiers: Vec<&dyn RecordVerifier> = vec![&keys[0]];
    let mut v = StreamVerifier::embedded(&Verification::new(&verifiers));
    // A section id with its high bit set.
    assert!(v.update(b"\0asm\x01\0\0\0\x80").is_err());
    assert!(matches!(v.update(b"\x01\x04\x01\x60\0\0"), Err(Error::StreamFailed)));
    assert!(matches!(v.finish(), Err(Error::StreamFailed)));
}
