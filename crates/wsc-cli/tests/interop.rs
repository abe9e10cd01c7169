//! Interop with wasmsign2 0.2.8.
//!
//! `expected_tsv` runs every row of `testdata/wasmsign2/expected.tsv` through
//! `wsc` and through the installed wasmsign2, with wasmsign2's own arguments.
//! wasmsign2 must still give the answer the file records. wsc must give the
//! same answer with exit 0 (PASS) or exit 1 (FAIL), except on the rows of
//! `testdata/wasmsign2/wsc-expected.tsv`, which give wsc's answer, its exact
//! exit code and the reason for each.
//!
//! The byte-identity tests sign the same inputs with the same keys and
//! delimiters with both tools, and compare the bytes. They also compare with
//! the committed wasmsign2 outputs. Every test that needs wasmsign2 fails when
//! it is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2")
}

fn wsc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).current_dir(dir).args(args).output().expect("wsc runs")
}

/// The wasmsign2 CLI: `$WASMSIGN2`, else `wasmsign2` on PATH or in ~/.cargo/bin. Panics when absent.
fn wasmsign2() -> PathBuf {
    if let Some(p) = std::env::var_os("WASMSIGN2") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "WASMSIGN2={} is not a file", p.display());
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join("wasmsign2")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("this test needs the wasmsign2 CLI: `cargo install --locked wasmsign2-cli@0.2.8` (cargo xtask ci does it), or set WASMSIGN2")
    })
}

fn ws2(tool: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(tool).current_dir(dir).args(args).output().expect("wasmsign2 runs")
}

fn text(o: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

// ---------------------------------------------------------------- expected.tsv

/// One row of expected.tsv.
struct Row {
    id: String,
    /// wasmsign2's answer: PASS, FAIL, NONE or key names.
    wasmsign2: String,
    args: Vec<String>,
}

/// One row of wsc-expected.tsv.
struct Expect {
    wsc: String,
    exit: i32,
    /// Text stderr must contain (exit 2 rows), if any.
    stderr: Option<String>,
    reason: String,
}

fn split_args(s: &str) -> Vec<String> {
    // expected.tsv quotes regexes with single quotes and has no spaces inside them.
    s.split_whitespace().map(|a| a.trim_matches('\'').to_string()).collect()
}

fn rows() -> Vec<Row> {
    let tsv = std::fs::read_to_string(vectors().join("expected.tsv")).expect("expected.tsv");
    let mut lines = tsv.lines();
    assert_eq!(lines.next(), Some("id\texpected\targs\tnote"), "expected.tsv header");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 3, "expected.tsv: short row {l:?}");
            Row { id: cols[0].to_string(), wasmsign2: cols[1].to_string(), args: split_args(cols[2]) }
        })
        .collect()
}

fn wsc_expected() -> BTreeMap<String, Expect> {
    let tsv = std::fs::read_to_string(vectors().join("wsc-expected.tsv")).expect("wsc-expected.tsv");
    let mut lines = tsv.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    assert_eq!(lines.next(), Some("id\twsc\texit\tstderr\treason"), "wsc-expected.tsv header");
    let mut out = BTreeMap::new();
    for l in lines {
        let cols: Vec<&str> = l.split('\t').collect();
        assert_eq!(cols.len(), 5, "wsc-expected.tsv: not 5 columns: {l:?}");
        let exit = cols[2].parse().unwrap_or_else(|_| panic!("wsc-expected.tsv: exit {:?}", cols[2]));
        let stderr = (cols[3] != "-").then(|| cols[3].to_string());
        let e = Expect { wsc: cols[1].to_string(), exit, stderr, reason: cols[4].trim().to_string() };
        assert!(e.reason.len() > 10, "wsc-expected.tsv: {} has no reason", cols[0]);
        assert!(out.insert(cols[0].to_string(), e).is_none(), "wsc-expected.tsv: {} twice", cols[0]);
    }
    out
}

/// The exit code that goes with an answer when no row says otherwise.
fn default_exit(answer: &str) -> i32 {
    if answer == "FAIL" { 1 } else { 0 }
}

/// Key file names (`k1`) whose key wsc's verify_matrix lists as valid.
fn wsc_matrix_keys(stdout: &str) -> String {
    let keys: BTreeSet<String> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- keys/"))
        .filter_map(|l| l.split('.').next())
        .map(str::to_string)
        .collect();
    keys.into_iter().collect::<Vec<_>>().join(" ")
}

/// Key file names whose raw public key wasmsign2's verify_matrix prints (as check.sh reads it).
fn wasmsign2_matrix_keys(dir: &Path, stdout: &str) -> String {
    let mut keys = BTreeSet::new();
    for entry in std::fs::read_dir(dir.join("keys")).expect("keys/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "pk") {
            let raw = std::fs::read(&path).expect("key");
            let hex: String = raw[1..].iter().map(|b| format!("{b:02x}")).collect();
            if stdout.contains(&hex) {
                keys.insert(path.file_stem().expect("stem").to_string_lossy().to_string());
            }
        }
    }
    keys.into_iter().collect::<Vec<_>>().join(" ")
}

/// wsc's answer and exit code for one row.
fn wsc_answer(matrix: bool, o: &Output) -> (String, Option<i32>) {
    let code = o.status.code();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let answer = match (matrix, code) {
        (true, Some(0)) => wsc_matrix_keys(&stdout),
        (false, Some(0)) if stdout.contains("Signature is valid.") => "PASS".to_string(),
        (_, Some(1 | 2)) => "FAIL".to_string(),
        _ => format!("ERROR({code:?})"),
    };
    (answer, code)
}

/// wasmsign2's answer for one row, read the way `check.sh` of the vectors reads it.
fn wasmsign2_answer(dir: &Path, matrix: bool, o: &Output) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout);
    match (matrix, o.status.success()) {
        (_, false) => "FAIL".to_string(),
        (false, true) => "PASS".to_string(),
        (true, true) if stdout.contains("No valid public keys") => "NONE".to_string(),
        (true, true) => wasmsign2_matrix_keys(dir, &stdout),
    }
}

#[test]
fn expected_tsv() {
    let dir = vectors();
    let tool = wasmsign2();
    let rows = rows();
    let expect = wsc_expected();
    assert_eq!(rows.len(), 85, "expected.tsv has 85 rows");
    for id in expect.keys() {
        assert!(rows.iter().any(|r| r.id == *id), "wsc-expected.tsv names an unknown row {id}");
    }
    let mut failures = Vec::new();
    for row in &rows {
        let argv: Vec<&str> = row.args.iter().map(String::as_str).collect();
        let matrix = argv[0] == "verify_matrix";

        // wasmsign2 still answers what the file records.
        let theirs = wasmsign2_answer(&dir, matrix, &ws2(&tool, &dir, &argv));
        if theirs != row.wasmsign2 {
            failures.push(format!("{}: wasmsign2 now answers {theirs}, expected.tsv says {}", row.id, row.wasmsign2));
        }

        let (want, want_exit) = match expect.get(&row.id) {
            Some(e) => {
                // A listed row must differ from the default somehow.
                let differs = e.wsc != row.wasmsign2 || e.exit != default_exit(&row.wasmsign2);
                assert!(differs, "{}: wsc-expected.tsv repeats wasmsign2's answer", row.id);
                assert_eq!(e.exit == 2, e.stderr.is_some(), "{}: exit 2 rows, and only they, name stderr text", row.id);
                assert!(e.exit != 2 || e.wsc == "FAIL", "{}: exit 2 is a failure", row.id);
                (e.wsc.clone(), e.exit)
            }
            None => (row.wasmsign2.clone(), default_exit(&row.wasmsign2)),
        };
        let out = wsc(&dir, &argv);
        let (got, code) = wsc_answer(matrix, &out);
        if (got.as_str(), code) != (want.as_str(), Some(want_exit)) {
            let why = expect.get(&row.id).map_or("", |e| e.reason.as_str());
            failures.push(format!(
                "{}: want {want} with exit {want_exit} ({why}), got {got} with exit {code:?}\n{}",
                row.id,
                text(&out)
            ));
        }
        if let Some(needle) = expect.get(&row.id).and_then(|e| e.stderr.as_deref()) {
            let err = String::from_utf8_lossy(&out.stderr);
            let file = &row.args[row.args.iter().position(|a| a == "-i").expect("-i") + 1];
            if !err.contains(needle) || !err.contains(file.as_str()) {
                failures.push(format!("{}: stderr must name {file} and contain {needle:?}: {err}", row.id));
            }
        }
    }
    assert!(failures.is_empty(), "{} row(s) differ:\n{}", failures.len(), failures.join("\n"));
}

/// The exit-2 rows are the malformed inputs: the message names the file and
/// the byte offset of the problem, and nothing is printed as verified.
#[test]
fn malformed_inputs_exit_2_with_offset() {
    let dir = vectors();
    let expect = wsc_expected();
    let exit2: Vec<&String> = expect.iter().filter(|(_, e)| e.exit == 2).map(|(id, _)| id).collect();
    assert!(!exit2.is_empty(), "wsc-expected.tsv lists no exit-2 row");
    let rows = rows();
    for id in exit2 {
        let row = rows.iter().find(|r| r.id == *id).expect("a row of expected.tsv");
        let argv: Vec<&str> = row.args.iter().map(String::as_str).collect();
        let out = wsc(&dir, &argv);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{id}: {err}");
        let at = err.find("offset ").map(|i| &err[i + 7..]).unwrap_or_default();
        assert!(at.starts_with(|c: char| c.is_ascii_digit()), "{id}: no byte offset in: {err}");
        assert!(err.contains(&row.args[2]), "{id}: the message names the file: {err}");
        assert!(out.stdout.is_empty(), "{id}: {}", text(&out));
    }
}

// ---------------------------------------------------------------- byte identity

/// One generation check: the same arguments for wsc and wasmsign2.
struct Gen {
    /// `@` stands for the tool's output folder.
    args: &'static [&'static str],
    /// (file both tools write, committed wasmsign2 file).
    compare: &'static [(&'static str, &'static str)],
}

const GENERATION: &[Gen] = &[
    Gen {
        args: &["sign", "-i", "modules/min.wasm", "-o", "@/a", "-k", "keys/k1.sk"],
        compare: &[("a", "signed/min.k1.wasm")],
    },
    Gen {
        args: &["sign", "-i", "modules/add.wasm", "-o", "@/a", "-k", "keys/k1.sk"],
        compare: &[("a", "signed/add.k1.wasm")],
    },
    Gen {
        args: &["sign", "-i", "modules/add.wasm", "-o", "@/a", "-k", "keys/k1.sk", "-K", "keys/k1.pk"],
        compare: &[("a", "signed/add.k1kid.wasm")],
    },
    Gen {
        args: &["sign", "-i", "modules/big.wasm", "-o", "@/a", "-k", "keys/k1.sk", "-K", "keys/k1.pk"],
        compare: &[("a", "signed/big.k1.wasm")],
    },
    Gen {
        args: &["sign", "-i", "modules/custom.wasm", "-o", "@/a", "-k", "keys/k1.sk", "-K", "keys/k1.pk"],
        compare: &[("a", "signed/custom.k1.wasm")],
    },
    Gen {
        args: &[
            "sign",
            "--ssh",
            "-i",
            "modules/add.wasm",
            "-o",
            "@/a",
            "-k",
            "keys/ssh_ed25519",
            "-K",
            "keys/ssh_ed25519.pub",
        ],
        compare: &[("a", "signed/add.ssh.wasm")],
    },
    Gen {
        args: &["sign", "-i", "modules/component.wasm", "-o", "@/a", "-k", "keys/k1.sk", "-K", "keys/k1.pk"],
        compare: &[("a", "signed/component.k1.wasm")],
    },
    Gen {
        args: &["sign", "-i", "signed/add.k1kid.wasm", "-o", "@/a", "-k", "keys/k2.sk", "-K", "keys/k2.pk"],
        compare: &[("a", "signed/add.k1kid.k2kid.wasm")],
    },
    Gen {
        args: &["sign", "-i", "signed/add.k1.wasm", "-o", "@/a", "-k", "keys/k2.sk"],
        compare: &[("a", "signed/add.k1.k2.wasm")],
    },
    Gen {
        args: &["sign", "-i", "modules/add.wasm", "-o", "@/a", "-k", "keys/k1.sk", "-K", "keys/k1.pk", "-S", "@/s"],
        compare: &[("a", "signed/add.detached-out.wasm"), ("s", "signed/add.k1kid.sig")],
    },
    Gen {
        args: &["detach", "-i", "signed/add.k1kid.k2kid.wasm", "-o", "@/a", "-S", "@/s"],
        compare: &[("a", "signed/add.detached-from-multi.wasm"), ("s", "signed/add.k1kid.k2kid.sig")],
    },
    Gen {
        args: &["attach", "-i", "signed/add.detached-from-multi.wasm", "-o", "@/a", "-S", "signed/add.k1kid.k2kid.sig"],
        compare: &[("a", "signed/add.reattached.wasm")],
    },
    Gen {
        args: &["sign", "-i", "signed/custom.split.wasm", "-o", "@/a", "-k", "keys/k1.sk", "-K", "keys/k1.pk"],
        compare: &[("a", "signed/custom.split.k1.wasm")],
    },
    Gen {
        args: &["sign", "-i", "signed/add.split.wasm", "-o", "@/a", "-k", "keys/k1.sk", "-K", "keys/k1.pk"],
        compare: &[("a", "signed/add.split.k1.wasm")],
    },
    Gen {
        args: &["sign", "-i", "modules/add.padded.wasm", "-o", "@/a", "-k", "keys/k1.sk", "-S", "@/s"],
        compare: &[("s", "crafted/add.padded.k1.sig")],
    },
];

/// Runs `args` with `@` replaced by `out`: wsc when `tool` is None, else wasmsign2.
fn generate(tool: Option<&Path>, dir: &Path, args: &[&str], out: &Path) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.replace('@', &out.display().to_string())).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = match tool {
        None => wsc(dir, &argv),
        Some(t) => ws2(t, dir, &argv),
    };
    assert_eq!(o.status.code(), Some(0), "{} {argv:?}: {}", tool.map_or("wsc", |_| "wasmsign2"), text(&o));
    o
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// wsc writes the bytes that the installed wasmsign2 writes from the same
/// arguments, and both equal the committed wasmsign2 output.
#[test]
fn generation_is_byte_identical() {
    let dir = vectors();
    let tool = wasmsign2();
    for g in GENERATION {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (ours, theirs) = (tmp.path().join("wsc"), tmp.path().join("wasmsign2"));
        std::fs::create_dir_all(&ours).expect("mkdir");
        std::fs::create_dir_all(&theirs).expect("mkdir");
        generate(None, &dir, g.args, &ours);
        generate(Some(&tool), &dir, g.args, &theirs);
        for (file, committed) in g.compare {
            let (a, b) = (read(&ours.join(file)), read(&theirs.join(file)));
            assert!(a == b, "{:?}: wsc's {file} differs from wasmsign2's ({} vs {} bytes)", g.args, a.len(), b.len());
            assert!(read(&dir.join(committed)) == b, "{:?}: wasmsign2 no longer writes {committed}", g.args);
        }
    }
}

/// Every unsigned module, unsplit and split by each tool (with and without a
/// regex), signed by both tools with the same key: embedded without and with
/// a key id, detached, and co-signed by a second key. Both tools sign the
/// same split file, so the delimiters are the same. The outputs are equal.
#[test]
fn signing_every_module_matches_wasmsign2() {
    let dir = vectors();
    let tool = wasmsign2();
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = |n: &str| tmp.path().join(n).display().to_string();
    let mut modules: Vec<String> = std::fs::read_dir(dir.join("modules"))
        .expect("modules/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".wasm"))
        .collect();
    modules.sort();
    assert!(modules.len() >= 6, "{modules:?}");
    let mut compared = 0;
    for m in &modules {
        let input = format!("modules/{m}");
        // The inputs to sign: the module, and splits made by each tool.
        let mut inputs = vec![input.clone()];
        for (who, splitter) in [("wsc", None), ("wasmsign2", Some(tool.as_path()))] {
            for (name, regex) in [("none", None), ("debug", Some("^\\.debug_")), ("name", Some("^name$"))] {
                let out = t(&format!("{m}.split-{who}-{name}.wasm"));
                let mut args = vec!["split", "-i", &input, "-o", &out];
                args.extend(regex.iter().flat_map(|r| ["-s", *r]));
                let o = match splitter {
                    None => wsc(&dir, &args),
                    Some(s) => ws2(s, &dir, &args),
                };
                assert_eq!(o.status.code(), Some(0), "{who} {args:?}: {}", text(&o));
                inputs.push(out);
            }
        }
        for (i, input) in inputs.iter().enumerate() {
            let runs: [(Vec<&str>, &[&str]); 4] = [
                (vec!["sign", "-i", input, "-o", "@/e.wasm", "-k", "keys/k1.sk"], &["e.wasm"]),
                (vec!["sign", "-i", input, "-o", "@/k.wasm", "-k", "keys/k1.sk", "-K", "keys/k1.pk"], &["k.wasm"]),
                (
                    vec!["sign", "-i", input, "-o", "@/d.wasm", "-k", "keys/k1.sk", "-S", "@/d.sig"],
                    &["d.wasm", "d.sig"],
                ),
                (vec!["sign", "-i", "@/k.wasm", "-o", "@/c.wasm", "-k", "keys/k2.sk", "-K", "keys/k2.pk"], &["c.wasm"]),
            ];
            let case = tmp.path().join(format!("{m}.{i}"));
            let (ours, theirs) = (case.join("wsc"), case.join("wasmsign2"));
            std::fs::create_dir_all(&ours).expect("mkdir");
            std::fs::create_dir_all(&theirs).expect("mkdir");
            for (args, files) in &runs {
                generate(None, &dir, args, &ours);
                generate(Some(&tool), &dir, args, &theirs);
                for file in *files {
                    let (a, b) = (read(&ours.join(file)), read(&theirs.join(file)));
                    assert!(
                        a == b,
                        "{args:?} on {input}: wsc's {file} differs from wasmsign2's ({} vs {} bytes)",
                        a.len(),
                        b.len()
                    );
                    compared += 1;
                }
            }
        }
    }
    // Seven inputs per module (unsplit, three splits by each tool), five files each.
    assert_eq!(compared, modules.len() * 7 * 5);
}

/// Key rotation (requirement CD-5): the old key (k1) signed a module and
/// the new key (k2) adds its signature; the old signature stays valid.
/// During the transition a verifier accepting both keys (`verify_matrix -K
/// k1 k2`) accepts modules signed by either; once it keeps only the new key,
/// a module with only the old key's signature fails. wasmsign2 gives the
/// same answer to every check.
#[test]
fn key_rotation_keeps_old_and_new_signatures_verifiable() {
    let dir = vectors();
    let tool = wasmsign2();
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = |n: &str| tmp.path().join(n).display().to_string();
    let (old, both, new) = (t("old.wasm"), t("both.wasm"), t("new.wasm"));
    for args in [
        ["sign", "-i", "modules/add.wasm", "-o", &old, "-k", "keys/k1.sk", "-K", "keys/k1.pk"],
        ["sign", "-i", &old, "-o", &both, "-k", "keys/k2.sk", "-K", "keys/k2.pk"],
        ["sign", "-i", "modules/add.wasm", "-o", &new, "-k", "keys/k2.sk", "-K", "keys/k2.pk"],
    ] {
        let o = wsc(&dir, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    }
    let checks: [(&[&str], &str); 9] = [
        (&["verify", "-i", &both, "-K", "keys/k1.pk"], "PASS"),
        (&["verify", "-i", &both, "-K", "keys/k2.pk"], "PASS"),
        (&["verify", "-i", &both, "-K", "keys/k3.pk"], "FAIL"),
        (&["verify_matrix", "-i", &both, "-K", "keys/k1.pk", "keys/k2.pk"], "k1 k2"),
        // During the transition: either key is accepted.
        (&["verify_matrix", "-i", &old, "-K", "keys/k1.pk", "keys/k2.pk"], "k1"),
        (&["verify_matrix", "-i", &new, "-K", "keys/k1.pk", "keys/k2.pk"], "k2"),
        // After it: only the new key.
        (&["verify", "-i", &old, "-K", "keys/k2.pk"], "FAIL"),
        (&["verify", "-i", &both, "-K", "keys/k2.pk"], "PASS"),
        (&["verify", "-i", &new, "-K", "keys/k2.pk"], "PASS"),
    ];
    for (args, want) in checks {
        let matrix = args[0] == "verify_matrix";
        let out = wsc(&dir, args);
        let (got, code) = wsc_answer(matrix, &out);
        assert_eq!((got.as_str(), code), (want, Some(default_exit(want))), "wsc {args:?}: {}", text(&out));
        let theirs = wasmsign2_answer(&dir, matrix, &ws2(&tool, &dir, args));
        assert_eq!(theirs, want, "wasmsign2 {args:?}");
    }
}

#[test]
fn sign_refuses_mismatched_public_key() {
    let dir = vectors();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_path = tmp.path().join("out.wasm");
    let o = out_path.to_str().expect("utf-8 path");
    let out = wsc(&dir, &["sign", "-i", "modules/add.wasm", "-o", o, "-k", "keys/k1.sk", "-K", "keys/k2.pk"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong"));
    assert!(!out_path.exists(), "no output on error");
}

#[test]
fn sign_twice_with_same_key_is_a_clear_error() {
    let dir = vectors();
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = tmp.path().join("o.wasm");
    let out = wsc(&dir, &["sign", "-i", "signed/add.k1.wasm", "-o", o.to_str().expect("utf-8"), "-k", "keys/k1.sk"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate signature"));
}

/// wasmsign2 verifies what wsc signs: plain, with key ids, co-signed with a
/// P-256 record (which wasmsign2 skips), split, and detached.
#[test]
fn wsc_output_verifies_with_wasmsign2() {
    let tool = wasmsign2();
    let dir = vectors();
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = |n: &str| tmp.path().join(n).display().to_string();
    let ok = |args: &[&str]| {
        let out = wsc(&dir, args);
        assert_eq!(out.status.code(), Some(0), "wsc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ws2_verify = |args: &[&str], want: bool| {
        let out = ws2(&tool, &dir, args);
        assert_eq!(out.status.success(), want, "wasmsign2 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ok(&["keygen", "--algorithm", "p256", "-k", &t("ec.sk"), "-K", &t("ec.pk")]);
    for m in ["min", "add", "big", "custom", "component", "add.padded"] {
        let input = format!("modules/{m}.wasm");
        ok(&["sign", "-i", &input, "-o", &t("a.wasm"), "-k", "keys/k2.sk", "-K", "keys/k2.pk"]);
        ws2_verify(&["verify", "-i", &t("a.wasm"), "-K", "keys/k2.pk"], true);
        ws2_verify(&["verify", "-i", &t("a.wasm"), "-K", "keys/k1.pk"], false);
        ok(&["sign", "-i", &t("a.wasm"), "-o", &t("b.wasm"), "-k", &t("ec.sk"), "-K", &t("ec.pk")]);
        ok(&["sign", "-i", &t("b.wasm"), "-o", &t("c.wasm"), "-k", "keys/k1.sk"]);
        ws2_verify(&["verify", "-i", &t("c.wasm"), "-K", "keys/k2.pk"], true);
        ws2_verify(&["verify", "-i", &t("c.wasm"), "-K", "keys/k1.pk"], true);
        ws2_verify(&["verify_matrix", "-i", &t("c.wasm"), "-K", "keys/k1.pk", "keys/k2.pk"], true);
        ok(&["split", "-i", &input, "-o", &t("s.wasm"), "-s", "^name$"]);
        ok(&["sign", "-i", &t("s.wasm"), "-o", &t("ss.wasm"), "-k", "keys/k1.sk", "-K", "keys/k1.pk"]);
        ws2_verify(&["verify", "-i", &t("ss.wasm"), "-K", "keys/k1.pk"], true);
        ok(&["sign", "-i", &input, "-S", &t("d.sig"), "-o", &t("d.wasm"), "-k", "keys/k1.sk"]);
        // wasmsign2 hashes raw bytes when verifying, so it needs the canonical copy (W4).
        ok(&["sign", "-i", &t("a.wasm"), "-o", &t("canon.wasm"), "-k", "keys/k3.sk"]);
        ok(&["detach", "-i", &t("canon.wasm"), "-o", &t("plain.wasm"), "-S", &t("x.sig")]);
        ok(&["sign", "-i", &t("plain.wasm"), "-S", &t("p.sig"), "-k", "keys/k1.sk"]);
        ws2_verify(&["verify", "-i", &t("plain.wasm"), "-S", &t("p.sig"), "-K", "keys/k1.pk"], true);
    }
}
