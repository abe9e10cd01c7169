//! Outputs fail closed: an interrupted command leaves no temporary file, a
//! command's outputs land together or not at all, no output is written
//! over another output or an input, permissions follow the umask and the
//! file replaced, a full disk is named, and keygen keeps existing keys.
//!
//! Each test runs with anonymous temporary files (`O_TMPFILE`, the default)
//! and with named ones (`WSC_NO_O_TMPFILE=1`, the fallback for file systems
//! without it) where both paths matter.

#[allow(dead_code)]
mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::listing;

/// The two ways wsc makes temporary files.
const TEMP_MODES: [(&str, Option<&str>); 2] = [("O_TMPFILE", None), ("named", Some("1"))];

fn wsc_in(temps: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsc"));
    c.env_remove("WSC_NO_O_TMPFILE").stdin(Stdio::null());
    if let Some(v) = temps {
        c.env("WSC_NO_O_TMPFILE", v);
    }
    c
}

fn run(temps: Option<&str>, args: &[&str]) -> Output {
    wsc_in(temps).args(args).output().expect("wsc runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    o
}

fn refused(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "expected '{needle}': {}", text(o));
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

/// A module of `sections` custom sections named "pad", `each` bytes each.
fn module(sections: usize, each: usize) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let payload = 4 + each; // name length (1), "pad" (3), data
    for _ in 0..sections {
        m.push(0);
        let mut n = payload as u32;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                m.push(byte);
                break;
            }
            m.push(byte | 0x80);
        }
        m.extend_from_slice(b"\x03pad");
        m.extend(std::iter::repeat_n(0x5a, each));
    }
    m
}

/// A directory with a small module (m.wasm), its signed copy (s.wasm) and
/// an Ed25519 key pair (k.sk, k.pk).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = Fixture { dir };
        std::fs::write(f.p("m.wasm"), module(3, 100)).expect("write");
        ok(run(None, &["keygen", "-k", &f.s("k.sk"), "-K", &f.s("k.pk")]));
        ok(run(None, &["sign", "-i", &f.s("m.wasm"), "-o", &f.s("s.wasm"), "-k", &f.s("k.sk")]));
        f
    }

    fn p(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }

    fn s(&self, n: &str) -> String {
        s(&self.p(n))
    }

    /// Every file's name and content, to show that nothing changed.
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        listing(self.dir.path())
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(self.p(&n)).unwrap_or_default()))
            .collect()
    }
}

/// Interrupted signing (SIGTERM, SIGINT, SIGHUP, and SIGKILL with
/// O_TMPFILE) leaves no `.wsc-` temporary file and the destination
/// unchanged. The module comes through a FIFO, so the signal arrives
/// deterministically half way through the output.
#[test]
fn interrupted_signing_leaves_no_temporary_file() {
    let half = 8 << 20;
    let m = module(16, 1 << 20);
    for (label, temps) in TEMP_MODES {
        let mut signals = vec![("TERM", 15), ("INT", 2), ("HUP", 1)];
        if temps.is_none() {
            // A named file cannot be removed after SIGKILL; an anonymous one has no name.
            signals.push(("KILL", 9));
        }
        for (name, number) in signals {
            let tmp = tempfile::tempdir().expect("tempdir");
            let d = tmp.path();
            ok(run(None, &["keygen", "-k", &s(&d.join("k.sk")), "-K", &s(&d.join("k.pk"))]));
            std::fs::write(d.join("out.wasm"), "old").expect("write");
            let fifo = d.join("in.fifo");
            let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
            assert!(made.success());
            let mut child = wsc_in(temps)
                .args(["sign", "-i", &s(&fifo), "-o", &s(&d.join("out.wasm")), "-k", &s(&d.join("k.sk"))])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("wsc starts");
            let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).expect("open the FIFO");
            writer.write_all(&m[..half]).expect("the first half is read");
            wait_for_partial_output(child.id(), d, temps.is_none(), &format!("{label} {name}"));
            let sent = Command::new("kill").args(["-s", name, &child.id().to_string()]).status().expect("kill runs");
            assert!(sent.success());
            let status = child.wait().expect("wait");
            drop(writer);
            assert_eq!(status.signal(), Some(number), "{label} {name}: died of the signal ({status:?})");
            assert_eq!(listing(d), ["in.fifo", "k.pk", "k.sk", "out.wasm"], "{label} {name}: no stray file");
            assert_eq!(
                std::fs::read(d.join("out.wasm")).expect("out"),
                b"old",
                "{label} {name}: destination unchanged"
            );
        }
    }
}

/// Waits until wsc has written at least 1 MiB of its temporary output:
/// a `.wsc-` file in `dir` (named), or an open O_TMPFILE file in `dir`
/// that has no name at all (anonymous).
fn wait_for_partial_output(pid: u32, dir: &Path, anonymous: bool, what: &str) {
    let started = Instant::now();
    loop {
        let named: Vec<u64> = std::fs::read_dir(dir)
            .expect("read_dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".wsc-"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .collect();
        let written = if anonymous {
            assert!(named.is_empty(), "{what}: an O_TMPFILE output has no name");
            anonymous_temp_len(pid, dir)
        } else {
            named.into_iter().max().unwrap_or(0)
        };
        if written >= 1 << 20 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: no partial output after 30 s ({written} bytes)");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The size of the largest file wsc holds open in `dir` that has no name
/// (an O_TMPFILE file shows as `DIR/#INODE (deleted)`).
fn anonymous_temp_len(pid: u32, dir: &Path) -> u64 {
    let dir = std::fs::canonicalize(dir).expect("canonical");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("/proc/PID/fd");
    fds.filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|t| t.parent() == Some(dir.as_path()) && t.to_string_lossy().ends_with(" (deleted)"))
        })
        .map(|fd| std::fs::metadata(fd.path()).map_or(0, |m| m.len()))
        .max()
        .unwrap_or(0)
}

/// Permissions: a new output follows the umask, one written in place keeps
/// the mode of the file it replaces, a secret key is 0600 whatever the
/// umask (wsc used to make every output 0644).
#[test]
fn output_modes_follow_the_umask_and_the_file_replaced() {
    for (label, temps) in TEMP_MODES {
        let f = Fixture::new();
        // The shell sets the umask, then becomes wsc.
        let with_umask = |umask: &str, args: &[&str]| {
            let script = format!("umask {umask}; exec \"$0\" \"$@\"");
            let mut sh = Command::new("sh");
            sh.args(["-c", &script, env!("CARGO_BIN_EXE_wsc")]).args(args).stdin(Stdio::null());
            sh.env_remove("WSC_NO_O_TMPFILE");
            if let Some(v) = temps {
                sh.env("WSC_NO_O_TMPFILE", v);
            }
            ok(sh.output().expect("sh runs"));
        };
        with_umask("027", &["sign", "-i", &f.s("m.wasm"), "-o", &f.s("a.wasm"), "-k", &f.s("k.sk")]);
        assert_eq!(mode(&f.p("a.wasm")), 0o640, "{label}: new output, umask 027");
        with_umask(
            "002",
            &["sign", "-i", &f.s("m.wasm"), "-S", &f.s("a.sig"), "-o", &f.s("c.wasm"), "-k", &f.s("k.sk")],
        );
        assert_eq!(mode(&f.p("a.sig")), 0o664, "{label}: new signature, umask 002");
        assert_eq!(mode(&f.p("c.wasm")), 0o664, "{label}: new copy, umask 002");

        // In place: a 0600 module stays 0600, a 0640 one 0640.
        for keep in [0o600, 0o640] {
            std::fs::copy(f.p("m.wasm"), f.p("own.wasm")).expect("copy");
            std::fs::set_permissions(f.p("own.wasm"), std::fs::Permissions::from_mode(keep)).expect("chmod");
            with_umask("000", &["sign", "-i", &f.s("own.wasm"), "-o", &f.s("own.wasm"), "-k", &f.s("k.sk")]);
            assert_eq!(mode(&f.p("own.wasm")), keep, "{label}: signed in place");
            std::fs::remove_file(f.p("own.wasm")).expect("rm");
        }
        with_umask("000", &["keygen", "-k", &f.s("new.sk"), "-K", &f.s("new.pk")]);
        assert_eq!(mode(&f.p("new.sk")), 0o600, "{label}: secret key, umask 000");
        assert_eq!(mode(&f.p("new.pk")), 0o666, "{label}: public key, umask 000");
    }
}

/// Same-file refusals: two outputs that are one file, or an output that is
/// an input (through the same name, a symbolic link or a hard link), stop
/// the command with exit 2 before anything is written. Signing or
/// detaching in place (`-o` naming `-i`) is still allowed.
#[test]
fn an_output_over_another_output_or_an_input_is_refused() {
    let f = Fixture::new();
    std::fs::write(f.p("x"), "old x").expect("write");
    std::os::unix::fs::symlink(f.p("x"), f.p("x-link")).expect("symlink");
    std::fs::hard_link(f.p("s.wasm"), f.p("s-hard")).expect("hard link");
    std::fs::write(f.p("sig"), b"not read").expect("write");
    let before = f.snapshot();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["detach".into(), "-i".into(), f.s("s.wasm"), "-o".into(), f.s("y"), "-S".into(), f.s("y")], "same file"),
        (
            vec!["detach".into(), "-i".into(), f.s("s.wasm"), "-o".into(), f.s("x"), "-S".into(), f.s("x-link")],
            "same file",
        ),
        (
            vec!["detach".into(), "-i".into(), f.s("s.wasm"), "-o".into(), f.s("y"), "-S".into(), f.s("s-hard")],
            "overwrite the input -i",
        ),
        (
            vec!["sign".into(), "-i".into(), f.s("m.wasm"), "-S".into(), f.s("m.wasm"), "-k".into(), f.s("k.sk")],
            "overwrite the input -i",
        ),
        (
            vec!["sign".into(), "-i".into(), f.s("m.wasm"), "-o".into(), f.s("k.sk"), "-k".into(), f.s("k.sk")],
            "overwrite the input -k",
        ),
        (
            vec![
                "sign".into(),
                "-i".into(),
                f.s("m.wasm"),
                "-o".into(),
                f.s("y"),
                "-S".into(),
                f.s("./y"),
                "-k".into(),
                f.s("k.sk"),
            ],
            "same file",
        ),
        (
            vec![
                "sign".into(),
                "-i".into(),
                f.s("m.wasm"),
                "-o".into(),
                f.s("k.pk"),
                "-k".into(),
                f.s("k.sk"),
                "-K".into(),
                f.s("k.pk"),
            ],
            "overwrite the input -K",
        ),
        (
            vec!["attach".into(), "-i".into(), f.s("m.wasm"), "-S".into(), f.s("sig"), "-o".into(), f.s("sig")],
            "overwrite the input -S",
        ),
        (vec!["keygen".into(), "-k".into(), f.s("y"), "-K".into(), f.s("y")], "same file"),
    ];
    for (args, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(None, &args);
        refused(&o, needle);
        assert!(String::from_utf8_lossy(&o.stderr).contains("nothing written"), "{args:?}: {}", text(&o));
        assert_eq!(f.snapshot(), before, "{args:?}: nothing changed");
    }
    // In place is not a conflict.
    ok(run(None, &["detach", "-i", &f.s("s.wasm"), "-o", &f.s("s.wasm"), "-S", &f.s("d.sig")]));
    ok(run(None, &["sign", "-i", &f.s("m.wasm"), "-o", &f.s("m.wasm"), "-k", &f.s("k.sk")]));
}

/// All outputs of one command land together or not at all: when the copy
/// (`-o`) of a detached signing, the signature of a detach, or the public
/// key of a keygen cannot be written, the other output is not left behind
/// (wsc used to leave the signature or the secret key).
#[test]
fn outputs_of_one_command_land_together_or_not_at_all() {
    for (label, temps) in TEMP_MODES {
        let f = Fixture::new();
        let missing = f.p("no-such-dir/out");
        let before = f.snapshot();
        let o =
            run(temps, &["sign", "-i", &f.s("m.wasm"), "-S", &f.s("new.sig"), "-o", &s(&missing), "-k", &f.s("k.sk")]);
        refused(&o, "no-such-dir");
        let o = run(temps, &["detach", "-i", &f.s("s.wasm"), "-o", &f.s("new.wasm"), "-S", &s(&missing)]);
        refused(&o, "no-such-dir");
        let o = run(temps, &["keygen", "-k", &f.s("new.sk"), "-K", &s(&missing)]);
        refused(&o, "no-such-dir");
        assert_eq!(f.snapshot(), before, "{label}: no output of a failed command");

        // An existing signature keeps its content when the copy fails.
        std::fs::write(f.p("old.sig"), "old").expect("write");
        let o =
            run(temps, &["sign", "-i", &f.s("m.wasm"), "-S", &f.s("old.sig"), "-o", &s(&missing), "-k", &f.s("k.sk")]);
        refused(&o, "no-such-dir");
        assert_eq!(std::fs::read(f.p("old.sig")).expect("sig"), b"old", "{label}");
        // An existing directory as the second output: refused before anything lands.
        std::fs::create_dir(f.p("a-dir")).expect("mkdir");
        let o =
            run(temps, &["sign", "-i", &f.s("m.wasm"), "-S", &f.s("old.sig"), "-o", &f.s("a-dir"), "-k", &f.s("k.sk")]);
        refused(&o, "is a directory");
        assert_eq!(std::fs::read(f.p("old.sig")).expect("sig"), b"old", "{label}");
    }
}

/// A tmpfs of 1 MiB, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> SmallDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", &s(dir.path())])
            .output()
            .expect("mount runs");
        assert!(o.status.success(), "this test mounts a 1 MiB tmpfs and needs root: {}", text(&o));
        SmallDisk { dir }
    }

    fn p(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A full disk is reported as "No space left on device" with the output's
/// path (wsc used to say "the writer thread stopped"), and leaves nothing.
#[test]
fn a_full_disk_is_named_and_leaves_nothing() {
    let f = Fixture::new();
    std::fs::write(f.p("big.wasm"), module(3, 1 << 20)).expect("write");
    ok(run(None, &["sign", "-i", &f.s("big.wasm"), "-o", &f.s("big.signed.wasm"), "-k", &f.s("k.sk")]));
    let disk = SmallDisk::mount();
    for (label, temps) in TEMP_MODES {
        let out = disk.p("out.wasm");
        let cases: [(&str, Vec<String>); 4] = [
            ("sign", vec!["sign".into(), "-i".into(), f.s("big.wasm"), "-o".into(), s(&out), "-k".into(), f.s("k.sk")]),
            (
                "sign -S -o",
                vec![
                    "sign".into(),
                    "-i".into(),
                    f.s("big.wasm"),
                    "-S".into(),
                    s(&disk.p("out.sig")),
                    "-o".into(),
                    s(&out),
                    "-k".into(),
                    f.s("k.sk"),
                ],
            ),
            ("split", vec!["split".into(), "-i".into(), f.s("big.wasm"), "-o".into(), s(&out)]),
            (
                "detach",
                vec![
                    "detach".into(),
                    "-i".into(),
                    f.s("big.signed.wasm"),
                    "-o".into(),
                    s(&out),
                    "-S".into(),
                    s(&disk.p("out.sig")),
                ],
            ),
        ];
        for (what, args) in cases {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = run(temps, &args);
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert_eq!(o.status.code(), Some(2), "{label} {what}: {err}");
            assert!(err.contains("No space left on device"), "{label} {what}: {err}");
            assert!(err.contains(&s(&out)), "{label} {what}: the output is named: {err}");
            assert!(!err.contains("writer thread"), "{label} {what}: {err}");
            assert!(listing(disk.dir.path()).is_empty(), "{label} {what}: nothing left on the disk");
        }
    }
}

/// keygen refuses to replace an existing secret key (exit 2, nothing
/// written, not even the public key) unless --force is given.
#[test]
fn keygen_keeps_an_existing_secret_key_without_force() {
    let f = Fixture::new();
    let (sk, pk) = (std::fs::read(f.p("k.sk")).expect("sk"), std::fs::read(f.p("k.pk")).expect("pk"));
    let o = run(None, &["keygen", "-k", &f.s("k.sk"), "-K", &f.s("other.pk")]);
    refused(&o, "--force");
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"), "{}", text(&o));
    assert_eq!(std::fs::read(f.p("k.sk")).expect("sk"), sk);
    assert!(!f.p("other.pk").exists(), "no public key for a refused keygen");
    let o = run(None, &["keygen", "--algorithm", "p256", "-k", &f.s("k.sk"), "-K", &f.s("k.pk")]);
    refused(&o, "--force");
    assert_eq!(std::fs::read(f.p("k.pk")).expect("pk"), pk);

    ok(run(None, &["keygen", "--force", "-k", &f.s("k.sk"), "-K", &f.s("k.pk")]));
    assert_ne!(std::fs::read(f.p("k.sk")).expect("sk"), sk, "--force replaces the key");
    assert_eq!(mode(&f.p("k.sk")), 0o600);
}
