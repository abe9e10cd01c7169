//! `wsc show` and `wsc bundle export` read a module one section at a time:
//! their memory stays flat however many sections the module has (they
//! used to hold one entry per section: half a gigabyte for a 30 MB module
//! of empty custom sections). Peak memory is measured with GNU time.

use std::path::Path;
use std::process::{Command, Stdio};

/// Sections in the large module: 6 MB on disk.
const SECTIONS: usize = 2_000_000;

/// Peak resident memory allowed, KiB. Holding one entry per section needs
/// well over 100 MiB for this module.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// A module of `n` empty custom sections with an empty name (3 bytes each).
fn empty_sections(n: usize) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    for _ in 0..n {
        m.extend_from_slice(&[0, 1, 0]);
    }
    m
}

/// Runs wsc under GNU time with stdout to `stdout`; returns the exit code,
/// stderr without the time report, and the peak RSS in KiB.
fn measured(args: &[&str], stdout: &Path) -> (i32, String, u64) {
    let out = std::fs::File::create(stdout).expect("stdout file");
    let o = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_wsc"))
        .args(args)
        .stdout(Stdio::from(out))
        .output()
        .expect("GNU time runs (Debian package time; xtask/setup.sh installs it)");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let (rest, last) = err.trim_end().rsplit_once('\n').unwrap_or(("", err.trim_end()));
    let rss = last.trim().parse().unwrap_or_else(|_| panic!("no %M line from GNU time: {err}"));
    (o.status.code().unwrap_or(-1), rest.to_string(), rss)
}

fn tail(path: &Path, bytes: u64) -> String {
    let all = std::fs::read(path).expect("read");
    let start = all.len().saturating_sub(bytes as usize);
    String::from_utf8_lossy(&all[start..]).into_owned()
}

/// Memory flat in the number of sections: text, JSON and bundle export.
#[test]
fn show_and_bundle_export_memory_is_flat_in_the_number_of_sections() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let module = tmp.path().join("many.wasm");
    std::fs::write(&module, empty_sections(SECTIONS)).expect("write");
    let m = module.display().to_string();
    let out = tmp.path().join("stdout");

    let (code, err, rss) = measured(&["show", "-i", &m], &out);
    assert_eq!(code, 0, "{err}");
    assert!(rss < MAX_RSS_KIB, "show: peak RSS {rss} KiB");
    let text = tail(&out, 200);
    assert!(text.contains(&format!("{SECTIONS} section(s)\nno signature section\n")), "{text}");
    let last = format!("{:>4}: offset {:>10}", SECTIONS - 1, 8 + 3 * (SECTIONS - 1));
    assert!(text.contains(&last), "{text}");

    let (code, err, rss) = measured(&["show", "--json", "-i", &m], &out);
    assert_eq!(code, 0, "{err}");
    assert!(rss < MAX_RSS_KIB, "show --json: peak RSS {rss} KiB");
    assert!(tail(&out, 200).contains(&format!("\"section_count\": {SECTIONS}\n}}")), "{}", tail(&out, 200));

    let export = tmp.path().join("export").display().to_string();
    let (code, err, rss) = measured(&["bundle", "export", "-i", &m, "--out-dir", &export], &out);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no keyless record"), "{err}");
    assert!(rss < MAX_RSS_KIB, "bundle export: peak RSS {rss} KiB");
}

/// The streamed JSON is one valid document with every section; a
/// malformed section half way is an error (exit 2) after the sections
/// before it.
#[test]
fn streamed_json_is_complete_and_errors_still_fail() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let module = tmp.path().join("m.wasm");
    let mut bytes = empty_sections(1000);
    std::fs::write(&module, &bytes).expect("write");
    let m = module.display().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_wsc")).args(["show", "--json", "-i", &m]).output().expect("wsc runs");
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(v["sections"].as_array().map(Vec::len), Some(1000));
    assert_eq!(v["section_count"], 1000);
    assert_eq!(v["sections"][999]["offset"], 8 + 3 * 999);
    assert_eq!(v["signature"], serde_json::Value::Null);

    // A section whose size runs past the end of the file.
    bytes.extend_from_slice(&[0, 0x7f, 0]);
    std::fs::write(&module, &bytes).expect("write");
    for json in [false, true] {
        let mut args = vec!["show", "-i", &m];
        if json {
            args.push("--json");
        }
        let o = Command::new(env!("CARGO_BIN_EXE_wsc")).args(&args).output().expect("wsc runs");
        assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("offset 3009"), "{}", String::from_utf8_lossy(&o.stderr));
    }
}
