//! tests/c/test.c, compiled with the system C compiler against
//! include/wsc.h and libwsc.so (flags from a generated wsc.pc), then
//! against libwsc.a; both programs run, and the shared one again under
//! valgrind. A missing `cc`, `pkg-config` or `valgrind` fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// target/debug (or the profile dir) with libwsc.so and libwsc.a, built
/// now from this source: `cargo test` builds only the rlib, and a library
/// left over from an older build would test old code. The test executable
/// is in the profile dir's `deps/`.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--locked", "-p", "wsc-ffi", "--lib"]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    run(&mut build);
    for lib in ["libwsc.so", "libwsc.a"] {
        assert!(dir.join(lib).is_file(), "{} is missing after cargo build", dir.join(lib).display());
    }
    dir
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A small module: a type section and a custom section.
fn module() -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
    let body: Vec<u8> = (0..100u8).collect();
    m.push(0);
    m.push(u8::try_from(1 + 4 + body.len()).expect("short"));
    m.push(4);
    m.extend_from_slice(b"data");
    m.extend_from_slice(&body);
    m
}

fn key(name: &str) -> wsc_core::SecretKey {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/keys").join(name);
    wsc_core::SecretKey::from_any(&std::fs::read(path).expect("key file")).expect("secret key")
}

/// The policy and the four modules in `dir`; the arguments of test.c.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/keys");
    std::fs::copy(keys.join("k1.pk"), dir.join("k1.pk")).expect("copy k1.pk");
    let policy = "schema = \"wsc-policy/v1\"\n[principals.a]\nkind = \"key\"\nalgorithm = \"ed25519\"\n\
                  file = \"k1.pk\"\n[default]\nrule = \"a\"\n";
    std::fs::write(dir.join("policy.toml"), policy).expect("policy");
    let m = module();
    let signed = wsc_core::sign(&m, &key("k1.sk")).expect("sign");
    let mut tampered = signed.clone();
    *tampered.last_mut().expect("bytes") ^= 1;
    let wrong = wsc_core::sign(&m, &key("k2.sk")).expect("sign");
    let files = [("signed.wasm", signed), ("tampered.wasm", tampered), ("unsigned.wasm", m), ("wrong.wasm", wrong)];
    let mut args = vec![dir.join("policy.toml")];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("module");
        args.push(dir.join(name));
    }
    // Hostile inputs: every crafted vector of the wasmsign2 interop set.
    let crafted = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/crafted");
    let mut hostile: Vec<PathBuf> = std::fs::read_dir(&crafted)
        .expect("testdata/wasmsign2/crafted")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    hostile.sort();
    assert!(hostile.len() >= 10, "the crafted vectors are missing");
    args.extend(hostile);
    args
}

/// wsc.pc for `lib`, from wsc.pc.in, in `dir`.
fn write_pc(dir: &Path, lib: &Path) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(manifest.join("wsc.pc.in")).expect("wsc.pc.in");
    let text = text
        .replace("@LIBDIR@", &lib.display().to_string())
        .replace("@INCLUDEDIR@", &manifest.join("include").display().to_string())
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
    std::fs::write(dir.join("wsc.pc"), text).expect("wsc.pc");
}

fn flags(words: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(words).split_whitespace().map(str::to_string).collect()
}

#[test]
fn the_c_program_passes_against_both_libraries_and_under_valgrind() {
    let lib = lib_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let args = inputs(tmp.path());
    write_pc(tmp.path(), &lib);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/test.c");
    let warnings = ["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra", "-Werror", "-g"];

    let pc = |extra: &[&str]| {
        let out = run(Command::new("pkg-config").env("PKG_CONFIG_PATH", tmp.path()).args(extra).arg("wsc"));
        flags(&out.stdout)
    };
    assert_eq!(pc(&["--modversion"]), [env!("CARGO_PKG_VERSION")]);

    // Shared: everything from pkg-config, the library found through rpath.
    let shared = tmp.path().join("test-shared");
    run(Command::new("cc")
        .args(warnings)
        .arg(&source)
        .args(pc(&["--cflags", "--libs"]))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lpthread")
        .arg("-o")
        .arg(&shared));
    // Static: the archive itself, then the system libraries it needs.
    let stat = tmp.path().join("test-static");
    run(Command::new("cc")
        .args(warnings)
        .arg(&source)
        .args(pc(&["--cflags"]))
        .arg(lib.join("libwsc.a"))
        .args(pc(&["--libs-only-l", "--static"]).iter().filter(|f| *f != "-lwsc"))
        .arg("-o")
        .arg(&stat));
    let nm = run(Command::new("nm").arg(&stat));
    assert!(String::from_utf8_lossy(&nm.stdout).contains("T wsc_verify"), "wsc_verify is not linked in statically");

    for program in [&shared, &stat] {
        let out = run(Command::new(program).args(&args));
        assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
    }
    let out = run(Command::new("valgrind")
        .args(["--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite", "-q"])
        .arg(&shared)
        .args(&args));
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}
