//! Tests of the requirement checks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::cfg::{Gates, parse_cfg};
use super::check::{declaration, find_test, gate_problem, has_test_fn, validate};
use super::rust::headers;
use super::*;

fn features(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Why `name` in `text` would not run, with `on` features (None: it runs).
fn gated(text: &str, name: &str, on: &[&str]) -> Option<String> {
    let hs = headers(text);
    let h = find_test(&hs, name).unwrap_or_else(|| panic!("no test {name}"));
    gate_problem(&hs, h, &features(on))
}

#[test]
fn parses_requirements_with_links_lists_and_comments() {
    let text = "# header comment\n\n[CV-1]  # trailing comment\norigin = \"seed\"\nmeaning = \"a \\\"quoted\\\" \\\\ word\\u00e9\"\ntests = [\n  { test = \"a.rs::x\", what = \"x holds\" }, # one\n  # between\n  {test=\"b.rs::y\",what=\"y, {really}\"},\n]\ncode = []\n[CV-2]\nnote=\"n\"\nchecks = [\"c\", \"d\",]\n";
    let r = parse(text).expect("parses");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].id, "CV-1");
    assert_eq!(r[0].origin, "seed");
    assert_eq!(r[0].meaning, "a \"quoted\" \\ word\u{e9}");
    let link = |t: &str, w: &str| Link { test: t.into(), what: w.into() };
    assert_eq!(r[0].tests, vec![link("a.rs::x", "x holds"), link("b.rs::y", "y, {really}")]);
    assert!(r[0].code.is_empty());
    assert_eq!(r[1].id, "CV-2");
    assert_eq!(r[1].note, "n");
    assert_eq!(r[1].checks, ["c", "d"]);
    assert_eq!(r[1].status, "", "a missing key is empty; validate reports what must be there");
}

#[test]
fn unknown_keys_wrong_types_and_links_without_what_are_errors() {
    for (text, needle) in [
        ("key = \"v\"\n", "invalid type"),
        ("[A]\nk = \"unterminated\n", "TOML parse error"),
        ("[CV-1]\nnote = \"a\"\nnote = \"b\"\n", "duplicate key"),
        ("[CV-1]\n[CV-1]\n", "duplicate key"),
        ("[CV-1]\nstatus = [\"implemented\"]\n", "invalid type"),
        ("[CV-1]\nstatus = 3\n", "invalid type"),
        ("[CV-1]\ncode = \"a.rs\"\n", "invalid type"),
        ("[CV-1]\ntests = \"a.rs::b\"\n", "invalid type"),
        ("[CV-1]\nstatuss = \"implemented\"\n", "unknown field `statuss`"),
        ("[CV-1]\ntests = [\"a.rs::b\"]\n", "each test link { test ="),
        ("[CV-1]\ntests = [{ test = \"a.rs::b\" }]\n", "no `what`"),
        ("[CV-1]\ntests = [{ test = \"a.rs::b\", what = \"  \" }]\n", "no `what`"),
        ("[CV-1]\ntests = [{ what = \"w\" }]\n", "missing field `test`"),
        ("[CV-1]\ntests = [{ test = \" \", what = \"w\" }]\n", "no `test`"),
        ("[CV-1]\ntests = [{ test = \"a.rs::b\", what = \"w\", why = \"y\" }]\n", "unknown field `why`"),
    ] {
        let e = parse(text).expect_err(text);
        assert!(format!("{e:#}").contains(needle), "{text:?}: {e:#}");
    }
    let r = parse("[CV-1]\ntests = [{ test = \"a.rs::b\", what = \"b holds\" }]\n").expect("a link with a what");
    assert_eq!(r[0].tests, vec![Link { test: "a.rs::b".into(), what: "b holds".into() }]);
}

#[test]
fn finds_test_functions_only_under_a_test_attribute() {
    let text = "#[test]\nfn plain() {}\n\n/// doc\n#[test]\n#[allow(unused)]\n// note\nfn with_attrs() {}\n\n\
                fn helper() {}\n#[test]\nfn other() {}\nfn not_a_test() {}\n    #[test]\n    fn indented() {}\n\
                #[test]\nfn prefix_longer() {}\n#[test]\npub(crate) fn generic<T>() -> Result<(), String> { Ok(()) }\n\
                const S: &str = \"#[test] fn in_a_string() {\";\n// #[test]\n// fn commented() {}\n\
                #[test]\nfn after_braces() { let c = '{'; let s = r#\"}\"#; let l: &'static str = \"\"; }\n\
                #[test]\nfn last() {}\n";
    for name in ["plain", "with_attrs", "indented", "generic", "after_braces", "last"] {
        assert!(has_test_fn(text, name), "{name}");
    }
    assert!(!has_test_fn(text, "helper"));
    assert!(!has_test_fn(text, "not_a_test"), "a fn right after another test's body is not a test");
    assert!(!has_test_fn(text, "prefix"), "fn prefix( does not match fn prefix_longer(");
    assert!(!has_test_fn(text, "in_a_string"));
    assert!(!has_test_fn(text, "commented"));
    assert!(!has_test_fn(text, "missing"));
}

#[test]
fn ignored_and_cfg_gated_tests_are_refused() {
    let text = "#[test]\nfn runs() {}\n\
                #[test]\n#[ignore]\nfn ignored() {}\n\
                #[test]\n#[ignore = \"slow; needs a device\"]\nfn ignored_with_reason() {}\n\
                #[test]\n#[cfg_attr(not(feature = \"hw\"), ignore)]\nfn conditionally_ignored() {}\n\
                #[test]\n#[cfg(unix)]\nfn unix_only() {}\n\
                #[cfg(feature = \"sign\")]\n#[test]\nfn signing() {}\n\
                #[test]\n#[cfg(all(test, feature = \"sign\"))]\nfn all_on() {}\n\
                #[test]\n#[cfg(any(windows, feature = \"sign\"))]\nfn any_on() {}\n\
                #[test]\n#[cfg(not(windows))]\nfn not_windows() {}\n\
                #[cfg(test)]\nmod tests {\n    #[test]\n    fn unit() {}\n}\n\
                #[cfg(feature = \"hw\")]\nmod hw {\n    mod inner {\n        #[test]\n        fn deep() {}\n    }\n}\n";
    assert_eq!(gated(text, "runs", &[]), None);
    assert_eq!(gated(text, "unit", &[]), None, "#[cfg(test)] mod tests runs");
    for name in ["ignored", "ignored_with_reason"] {
        assert!(gated(text, name, &["sign", "hw"]).is_some_and(|w| w.contains("#[ignore")), "{name}");
    }
    assert!(gated(text, "conditionally_ignored", &["hw"]).is_some_and(|w| w.contains("ignored under a cfg")));
    assert!(gated(text, "unix_only", &[]).is_some_and(|w| w.contains("#[cfg(unix)]")));
    assert!(gated(text, "not_windows", &[]).is_some());
    assert_eq!(gated(text, "signing", &["default", "sign"]), None);
    assert!(gated(text, "signing", &["default"]).is_some_and(|w| w.contains("feature = \"sign\"")));
    assert_eq!(gated(text, "all_on", &["sign"]), None);
    assert!(gated(text, "all_on", &[]).is_some());
    assert_eq!(gated(text, "any_on", &["sign"]), None);
    assert!(gated(text, "any_on", &[]).is_some());
    assert!(
        gated(text, "deep", &[]).is_some_and(|w| w.contains("the enclosing `mod hw`")),
        "{:?}",
        gated(text, "deep", &[])
    );
    assert_eq!(gated(text, "deep", &["hw"]), None);

    // A file-level gate applies to every test in the file.
    let file = "//! doc\n#![cfg(feature = \"hw\")]\n#![allow(dead_code)]\nuse std::io;\n#[test]\nfn t() {}\n";
    assert!(gated(file, "t", &[]).is_some_and(|w| w.contains("#![..]")));
    assert_eq!(gated(file, "t", &["hw"]), None);
    let file = "#![cfg(test)]\n#[test]\nfn t() {}\n";
    assert_eq!(gated(file, "t", &[]), None);
}

#[test]
fn cfg_expressions_parse_and_only_test_and_ci_features_count() {
    let on = features(&["default", "sign"]);
    for (cfg, enabled) in [
        ("test", true),
        ("feature = \"sign\"", true),
        ("feature=\"pkcs11\"", false),
        ("unix", false),
        ("target_os = \"linux\"", false),
        ("all(test, feature = \"sign\")", true),
        ("all(test, unix)", false),
        ("any(unix, test)", true),
        ("not(feature = \"pkcs11\")", false),
        ("all()", true),
    ] {
        let c = parse_cfg(cfg).unwrap_or_else(|e| panic!("{cfg}: {e}"));
        assert_eq!(c.enabled(&on), enabled, "{cfg}");
    }
    for bad in ["", "all(test", "feature = sign", "maybe(test)", "test test", "not(a, b)"] {
        assert!(parse_cfg(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn features_on_in_ci_come_from_defaults_dependents_and_feature_lists() {
    let root = Path::new("/r");
    let json = serde_json::json!({ "packages": [
        { "name": "cli", "manifest_path": "/r/crates/cli/Cargo.toml",
          "features": { "default": ["hw"], "hw": ["dep:hwlib", "lib/fast"], "extra": [] },
          "dependencies": [
            { "name": "lib", "path": "/r/crates/lib", "features": ["sign"], "uses_default_features": true },
            { "name": "hwlib", "path": "/r/crates/hwlib", "features": [], "uses_default_features": false } ] },
        { "name": "lib", "manifest_path": "/r/crates/lib/Cargo.toml",
          "features": { "default": [], "sign": ["net"], "net": [], "fast": [], "unused": [] },
          "dependencies": [] },
        { "name": "hwlib", "manifest_path": "/r/crates/hwlib/Cargo.toml",
          "features": { "default": ["std"], "std": [], "sim": [] },
          "dependencies": [
            { "name": "hwlib", "path": "/r/crates/hwlib", "features": ["sim"], "uses_default_features": true } ] }
    ]});
    let g = Gates::from_metadata(&json, root).expect("gates");
    assert_eq!(g.features_for("crates/cli/tests/a.rs"), features(&["default", "hw"]));
    assert_eq!(g.features_for("crates/lib/src/x.rs"), features(&["default", "sign", "net", "fast"]));
    assert_eq!(g.features_for("crates/hwlib/tests/sim.rs"), features(&["default", "std", "sim"]));
    assert!(g.features_for("elsewhere/x.rs").is_empty());
}

#[test]
fn declarations_of_modules_are_found_for_src_files_only() {
    let root = util::root();
    let d = declaration(&root, Path::new("xtask/src/trace.rs"));
    assert_eq!(d, Some((PathBuf::from("xtask/src/main.rs"), "trace".to_string())));
    assert_eq!(declaration(&root, Path::new("xtask/src/main.rs")), None);
    assert_eq!(declaration(&root, Path::new("crates/wsc-cli/tests/interop.rs")), None);
}

#[test]
fn validation_reports_missing_ids_bad_status_bad_links_and_untested_implemented() {
    let root = util::root();
    let gates = Gates::default();
    let link = |test: &str, what: &str| Link { test: test.into(), what: what.into() };
    let reqs = vec![
        Requirement {
            id: "CV-1".into(),
            origin: "seed".into(),
            meaning: "m".into(),
            status: "implemented".into(),
            ..Requirement::default()
        },
        Requirement {
            id: "CV-2".into(),
            origin: "guessed".into(),
            meaning: "m".into(),
            status: "done".into(),
            ..Requirement::default()
        },
        Requirement {
            id: "XX-1".into(),
            origin: "seed".into(),
            meaning: "m".into(),
            status: "roadmap".into(),
            tests: vec![
                link("xtask/src/trace.rs::no_such_test", "nothing"),
                link("nowhere", "x"),
                link("xtask/src/trace/tests.rs::id_list_is_complete", &"long ".repeat(50)),
                link("xtask/src/trace/tests.rs::id_list_is_complete", "twice"),
            ],
            code: vec!["no/such/path".into()],
            ..Requirement::default()
        },
    ];
    let p = validate(&reqs, &root, &gates).join("\n");
    for needle in [
        "CV-1: marked implemented but names no test",
        "CV-2: status \"done\"",
        "CV-2: origin \"guessed\"",
        "XX-1: unknown id",
        "no #[test] fn no_such_test(",
        "not of the form",
        "`what` is longer than",
        "is linked twice",
        "code path \"no/such/path\"",
        "CV-3: missing",
        "FEAT-5: missing",
        "TS-018: missing",
    ] {
        assert!(p.contains(needle), "{needle} not in:\n{p}");
    }
    assert!(!p.contains("CV-1: missing"));
    let ok = Requirement {
        id: "CV-1".into(),
        origin: "seed".into(),
        meaning: "m".into(),
        status: "implemented".into(),
        tests: vec![link(
            "xtask/src/trace/tests.rs::finds_test_functions_only_under_a_test_attribute",
            "finds test fns",
        )],
        code: vec!["xtask/src/trace.rs".into()],
        ..Requirement::default()
    };
    let p = validate(&[ok], &root, &gates);
    assert!(p.iter().all(|m| m.ends_with("missing (every id of the seed list must be present)")), "{p:?}");
}

#[test]
fn id_list_is_complete() {
    let all = ids();
    assert_eq!(all.len(), 8 + 11 + 9 + 8 + 8 + 18 + 6 + 5);
    for id in ["CV-8", "CR-11", "CD-9", "SP-8", "CG-8", "TS-001", "TS-018", "RR-6", "FEAT-5"] {
        assert!(all.iter().any(|i| i == id), "{id}");
    }
}

#[test]
fn table_escapes_pipes_marks_inferred_ids_and_shows_what_each_test_asserts() {
    let reqs = vec![Requirement {
        id: "CV-7".into(),
        origin: "inferred".into(),
        meaning: "a | b".into(),
        status: "partial".into(),
        tests: vec![
            Link { test: "f.rs::t".into(), what: "t | holds".into() },
            Link { test: "g.rs::u".into(), what: "u holds".into() },
        ],
        checks: vec!["cargo xtask layers".into()],
        ..Requirement::default()
    }];
    let t = render(&reqs);
    assert!(
        t.contains(
            "| CV-7 | *(inferred)* a \\| b | partial | `f.rs::t`: t \\| holds<br>`g.rs::u`: u holds | `cargo xtask layers` |"
        ),
        "{t}"
    );
    assert!(t.contains("| partial | 1 |"), "{t}");
}
