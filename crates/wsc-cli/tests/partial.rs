//! Fail closed, class "a signed part removed", through the `wsc` command:
//! a module split around an unselected custom section between code and
//! data (`-s '^name$'` leaves "extra" unselected), signed,
//! then cut after its first delimiter (the data section is gone) must fail
//! partial, matrix and detached verification with exit 1, never saying
//! "whole".

use std::path::Path;
use std::process::{Command, Output};

fn wsc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).current_dir(dir).args(args).output().expect("wsc runs")
}

fn ok(o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(0), "{what}: {}", String::from_utf8_lossy(&o.stderr));
}

/// type, function, memory, code, custom "extra", data: a custom section
/// between code and data.
const MODULE: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // preamble
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
    0x03, 0x02, 0x01, 0x00, // function
    0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code
    0x00, 0x08, 0x05, b'e', b'x', b't', b'r', b'a', 0x00, 0x00, // custom "extra"
    0x0b, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x2a, // data
];

/// End offset of the first `signature_delimiter` section.
fn first_delimiter_end(m: &[u8]) -> usize {
    let mut pos = 8;
    while pos < m.len() {
        let id = m[pos];
        let (len, n) = leb(&m[pos + 1..]);
        let data = pos + 1 + n;
        let end = data + len;
        if id == 0 {
            let (nl, k) = leb(&m[data..]);
            if &m[data + k..data + k + nl] == b"signature_delimiter" {
                return end;
            }
        }
        pos = end;
    }
    panic!("no delimiter");
}

fn leb(b: &[u8]) -> (usize, usize) {
    let (mut v, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let byte = b[i];
        v |= usize::from(byte & 0x7f) << shift;
        i += 1;
        if byte & 0x80 == 0 {
            return (v, i);
        }
        shift += 7;
    }
}

#[test]
fn truncated_after_first_delimiter_fails_partial_matrix_and_detached() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let count = |m: &[u8]| m.windows(19).filter(|w| w == b"signature_delimiter").count();
    let d = tmp.path();
    std::fs::write(d.join("m.wasm"), MODULE).expect("write");
    ok(&wsc(d, &["keygen", "-k", "sk", "-K", "pk"]), "keygen");
    ok(&wsc(d, &["split", "-i", "m.wasm", "-o", "split.wasm", "-s", "^name$"]), "split");
    ok(&wsc(d, &["sign", "-i", "split.wasm", "-o", "signed.wasm", "-k", "sk"]), "sign");
    ok(&wsc(d, &["sign", "-i", "split.wasm", "-o", "copy.wasm", "-k", "sk", "-S", "sig"]), "sign -S");

    let signed = std::fs::read(d.join("signed.wasm")).expect("signed");
    assert_eq!(count(&signed), 3, "split puts the unselected section in a part of its own");
    std::fs::write(d.join("cut.wasm"), &signed[..first_delimiter_end(&signed)]).expect("cut");
    let plain = std::fs::read(d.join("split.wasm")).expect("split");
    std::fs::write(d.join("cut-plain.wasm"), &plain[..first_delimiter_end(&plain)]).expect("cut");

    // The intact files pass, so the failures are about the cut.
    ok(&wsc(d, &["verify", "-i", "signed.wasm", "-K", "pk", "-s", "^name$"]), "intact partial");
    ok(&wsc(d, &["verify", "-i", "split.wasm", "-K", "pk", "-S", "sig", "-s", "^name$"]), "intact detached");

    let cases: &[&[&str]] = &[
        &["verify", "-i", "cut.wasm", "-K", "pk", "-s", "^name$"],
        &["verify", "-i", "cut.wasm", "-K", "pk", "-s", ".*"],
        &["verify", "-i", "cut.wasm", "-K", "pk"],
        &["verify_matrix", "-i", "cut.wasm", "-K", "pk", "-s", "^name$"],
        &["verify_matrix", "-i", "cut.wasm", "-K", "pk"],
        &["verify", "-i", "cut-plain.wasm", "-K", "pk", "-S", "sig", "-s", "^name$"],
        &["verify", "-i", "cut-plain.wasm", "-K", "pk", "-S", "sig"],
    ];
    for args in cases {
        let o = wsc(d, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("whole"), "{args:?}");
        assert!(err.contains("signed part") || err.contains("does not match"), "{args:?}: {err}");
        let mut json = args.to_vec();
        json.push("--json");
        let o = wsc(d, &json);
        assert_eq!(o.status.code(), Some(1), "{json:?}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("\"whole\": true"), "{json:?}");
    }
}
