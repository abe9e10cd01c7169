//! What an installed `wsc` offers around its commands: shell completions
//! that the shells parse, a manual page that groff renders, a version that
//! names the features built in, and progress drawn only on a terminal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wsc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsc")).args(args).output().expect("wsc runs")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a checker on `script`; a missing checker fails the test.
fn parses(checker: &str, args: &[&str], script: &Path) {
    let o = Command::new(checker)
        .args(args)
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("{checker} is needed by this test (xtask/setup.sh installs it): {e}"));
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{checker} rejects the script: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checks: &[(&str, &str, &[&str])] =
        &[("bash", "bash", &["-n"]), ("zsh", "zsh", &["-n"]), ("fish", "fish", &["--no-execute"])];
    for (shell, checker, args) in checks {
        let script = ok(&wsc(&["completions", shell]));
        assert!(script.contains("verify_matrix") && script.contains("public-key"), "{shell}: {script:.200}");
        let path = dir.path().join(format!("wsc.{shell}"));
        std::fs::write(&path, script).expect("write");
        parses(checker, args, &path);
    }
    // No PowerShell or Elvish here to parse them: they are at least written.
    for shell in ["powershell", "elvish"] {
        assert!(ok(&wsc(&["completions", shell])).contains("verify_matrix"), "{shell}");
    }
    let o = wsc(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_manual_page_renders() {
    let page = ok(&wsc(&["man"]));
    assert!(page.starts_with(".ie") || page.contains(".TH wsc 1"), "{page:.200}");
    assert!(page.contains("verify_matrix"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wsc.1");
    std::fs::write(&path, &page).expect("write");
    let o = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("groff is needed by this test (xtask/setup.sh installs it): {e}"));
    assert!(o.status.success() && o.stderr.is_empty(), "groff: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_version_names_the_features_built_in() {
    let text = ok(&wsc(&["--version"]));
    let built: Vec<&str> = [("pkcs11", cfg!(feature = "pkcs11")), ("atecc", cfg!(feature = "atecc"))]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
    let features = if built.is_empty() { "none".to_string() } else { built.join(", ") };
    assert_eq!(text.trim(), format!("wsc {} (features: {features})", env!("CARGO_PKG_VERSION")));
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2")
}

/// Batch-signs three modules with stderr on a terminal (util-linux
/// `script` gives the command a pseudo-terminal) or on a pipe.
fn batch_sign(terminal: bool, quiet: bool) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = vec![env!("CARGO_BIN_EXE_wsc").to_string(), "sign".into()];
    if quiet {
        args.push("--quiet".into());
    }
    for name in ["a", "b", "c"] {
        let m = dir.path().join(format!("{name}.wasm"));
        std::fs::copy(vectors().join("modules/add.wasm"), &m).expect("copy");
        args.extend(["-i".into(), m.display().to_string()]);
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    args.extend(["--out-dir".into(), out.display().to_string()]);
    args.extend(["-k".into(), vectors().join("keys/k1.sk").display().to_string()]);
    let o = if terminal {
        let line = args.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ");
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .output()
            .unwrap_or_else(|e| panic!("util-linux `script` is needed by this test: {e}"))
    } else {
        Command::new(&args[0]).args(&args[1..]).output().expect("wsc runs")
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["a", "b", "c"] {
        assert!(out.join(format!("{name}.wasm")).is_file(), "{name} signed");
    }
    // On a terminal `script` merges everything into its stdout.
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn progress_is_drawn_only_on_a_terminal_and_not_under_quiet() {
    assert!(batch_sign(true, false).contains("signing ["), "no progress bar on a terminal");
    assert!(!batch_sign(true, true).contains("signing ["), "a progress bar under --quiet");
    assert!(!batch_sign(false, false).contains("signing ["), "a progress bar on a pipe");
}
