//! Helpers shared by wsc-cli's integration tests (each test file includes
//! this module; not every file uses every helper).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository's root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Stdout and stderr, for assertion messages.
pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Exit 0, or a panic with the output.
pub(crate) fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
}

pub(crate) fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `command` (wsc and its arguments, set up by the caller) under GNU
/// time: its output, with the time report taken off stderr, and its peak
/// resident memory in KiB.
pub(crate) fn peak_rss(command: &Command) -> (Output, u64) {
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%M"]).arg(command.get_program()).args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let mut o = timed.output().expect("GNU time runs (Debian package time; xtask/setup.sh installs it)");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let (rest, last) = err.trim_end().rsplit_once('\n').unwrap_or(("", err.trim_end()));
    let rss = last.trim().parse().unwrap_or_else(|_| panic!("no %M line from GNU time: {err}"));
    o.stderr = rest.as_bytes().to_vec();
    (o, rss)
}

/// The names in `dir`, sorted.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A tool on PATH or in ~/.cargo/bin, or a panic that says how to install it.
pub(crate) fn tool(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("this test needs {name}: {install} (xtask/setup.sh does it)"))
}

/// The outcome of each nested part in a `--nested --json` verdict.
pub(crate) fn outcomes(v: &Value) -> Vec<String> {
    v["parts"]
        .as_array()
        .unwrap_or_else(|| panic!("no parts in {v}"))
        .iter()
        .map(|p| p["outcome"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A working directory holding the test keys k1, k2 and k3.
pub(crate) struct KeyDir(tempfile::TempDir);

impl KeyDir {
    pub(crate) fn new() -> KeyDir {
        let d = tempfile::tempdir().expect("tempdir");
        for k in ["k1.pk", "k1.sk", "k2.pk", "k2.sk", "k3.pk", "k3.sk"] {
            std::fs::copy(repo().join("testdata/wasmsign2/keys").join(k), d.path().join(k)).expect("key");
        }
        KeyDir(d)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    pub(crate) fn read(&self, name: &str) -> Vec<u8> {
        read(&self.path(name))
    }

    pub(crate) fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.path(name), bytes).expect("write");
    }

    /// Runs a program here; it must succeed.
    pub(crate) fn run(&self, program: &Path, args: &[&str]) -> Output {
        let o = Command::new(program)
            .current_dir(self.0.path())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        assert!(o.status.success(), "{} {args:?}: {}", program.display(), text(&o));
        o
    }

    pub(crate) fn wsc(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wsc")).current_dir(self.0.path()).args(args).output().expect("wsc runs")
    }

    pub(crate) fn wsc_ok(&self, args: &[&str]) -> Output {
        let o = self.wsc(args);
        assert_eq!(o.status.code(), Some(0), "wsc {args:?}: {}", text(&o));
        o
    }

    /// `wsc verify --nested --json` with these trust arguments: the exit code and the verdict.
    pub(crate) fn verify_nested(&self, file: &str, trust: &[&str]) -> (i32, Value) {
        let mut args = vec!["verify", "-i", file, "--nested", "--json"];
        args.extend_from_slice(trust);
        let o = self.wsc(&args);
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("no verdict: {}", text(&o)));
        (o.status.code().unwrap_or(-1), v)
    }
}
