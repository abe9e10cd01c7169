//! `wsc oci` against independent tools on a real registry (Debian's
//! `docker-registry`, distribution 2.8.2, on 127.0.0.1, one per test):
//! wkg 0.16.1 (oci-wasm, oci-client), python `oras` 0.2.43 and skopeo
//! 1.9.3 read what wsc pushes byte for byte; wsc pulls and verifies what
//! wkg and oras push, and refuses their unsigned pushes; a `skopeo copy`
//! to a second registry keeps the manifest digest and the embedded
//! signature verifies at the copy. A missing tool fails the test with the
//! command that installs it (xtask/setup.sh installs them all).

#[allow(dead_code)]
mod support;
// The harness serves wsc-oci's tests too; not every item is used here.
#[allow(dead_code)]
#[path = "../../wsc-oci/tests/registry/support/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use process::{Auth, RegistryProcess, Setup};
use serde_json::{Value, json};
use support::{ok, read, repo, text};
use wsc_oci::registry::Digest;

/// The wasm config media type of the CNCF layout.
const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";

/// A working directory with the keys, `app.wasm` (add.wasm signed by k1),
/// `hello.wasm` (the component signed by k1), `plain.wasm` and
/// `plain-hello.wasm` (unsigned), a policy accepting k1 everywhere, and
/// empty home, docker and cache folders for the tools.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let work = Work { dir: tempfile::tempdir().expect("tempdir") };
        let d = work.dir.path();
        for k in ["k1.pk", "k1.sk", "k2.pk"] {
            std::fs::copy(repo().join("testdata/wasmsign2/keys").join(k), d.join(k)).expect("copy key");
        }
        for sub in ["home", "docker"] {
            std::fs::create_dir(d.join(sub)).expect("mkdir");
        }
        let add = repo().join("testdata/wasmsign2/modules/add.wasm");
        let hello = repo().join("testdata/components/hello.wasm");
        std::fs::copy(&add, d.join("plain.wasm")).expect("copy");
        std::fs::copy(&hello, d.join("plain-hello.wasm")).expect("copy");
        ok(&work.wsc(&["sign", "-i", "plain.wasm", "-o", "app.wasm", "-k", "k1.sk"]));
        ok(&work.wsc(&["sign", "-i", "plain-hello.wasm", "-o", "hello.wasm", "-k", "k1.sk"]));
        let policy = "schema = \"wsc-policy/v1\"\n\
                      [principals.k1]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
                      [default]\nrule = \"k1\"\n";
        std::fs::write(d.join("policy.toml"), policy).expect("policy");
        work
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `c` in the working directory with its own home, docker and
    /// cache folders (no credentials or configuration of this machine).
    fn run(&self, mut c: Command) -> Output {
        let home = self.path("home");
        c.current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_RUNTIME_DIR", &home)
            .env("DOCKER_CONFIG", self.path("docker"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("WSC_REGISTRY_PINS")
            .env_remove("WSC_REQUIRE_CERT_PINNING");
        c.output().unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"))
    }

    fn wsc(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wsc"));
        c.args(args);
        self.run(c)
    }

    /// `wsc oci ARGS --insecure-registry HOST`.
    fn oci(&self, host: &str, args: &[&str]) -> Output {
        self.wsc(&[&["oci"][..], args, &["--insecure-registry", host]].concat())
    }

    /// `wsc oci verify REF --policy policy.toml --json`: its verdict.
    fn verdict(&self, host: &str, reference: &str) -> Value {
        let o = self.oci(host, &["verify", reference, "--policy", "policy.toml", "--json"]);
        ok(&o);
        serde_json::from_slice(&o.stdout).expect("JSON on stdout")
    }

    /// `wkg ARGS`.
    fn wkg(&self, args: &[&str]) -> Output {
        let mut c = Command::new(peer("wkg", "cargo install --locked wkg --version 0.16.1"));
        c.args(args);
        self.run(c)
    }

    /// `skopeo ARGS` (no signature policy of this machine: `--insecure-policy`).
    fn skopeo(&self, args: &[&str]) -> Output {
        let mut c = Command::new(peer("skopeo", "apt-get install -y skopeo"));
        c.arg("--insecure-policy").args(args);
        self.run(c)
    }

    /// `python3 -c SCRIPT ARGS`, with python `oras` 0.2.43 importable. The
    /// interpreter is resolved first with this process's environment (a
    /// pyenv shim needs the real home).
    fn python(&self, script: &str, args: &[&str]) -> Output {
        let check = "import sys, oras.provider, oras.version as v; assert v.__version__ == '0.2.43', v.__version__; \
                     print(sys.executable)";
        let o = Command::new(peer("python3", "apt-get install -y python3"))
            .args(["-c", check])
            .stdin(Stdio::null())
            .output()
            .expect("python3 runs");
        assert!(
            o.status.success(),
            "python `oras` 0.2.43 is needed by these tests: python3 -m pip install oras==0.2.43 \
             (xtask/setup.sh does it): {}",
            text(&o)
        );
        let mut c = Command::new(String::from_utf8_lossy(&o.stdout).trim());
        c.arg("-c").arg(script).args(args);
        self.run(c)
    }

    /// The working directory's names, sorted.
    fn listing(&self) -> Vec<String> {
        support::listing(self.dir.path())
    }
}

/// The path of `tool` on PATH (or in ~/.cargo/bin), or a panic naming the
/// command that installs it.
fn peer(tool: &str, install: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    dirs.extend(std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin")));
    dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("`{tool}` is not installed, and these tests need it: {install} (xtask/setup.sh does it)")
    })
}

/// `wsc oci push FILE HOST/REST -K k1.pk`: the manifest digest it prints.
fn push(work: &Work, host: &str, file: &str, rest: &str) -> String {
    let reference = format!("{host}/{rest}");
    let o = work.oci(host, &["push", file, &reference, "-K", "k1.pk"]);
    ok(&o);
    let printed = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let (name, digest) = printed.rsplit_once('@').unwrap_or_else(|| panic!("no digest: {printed}"));
    assert_eq!(name, reference);
    digest.to_string()
}

/// `skopeo inspect --raw` (and with `--config`): the manifest bytes and the
/// config bytes the registry serves for `reference`, read by skopeo.
fn skopeo_raw(work: &Work, reference: &str) -> (Vec<u8>, Vec<u8>) {
    let image = format!("docker://{reference}");
    let manifest = work.skopeo(&["inspect", "--tls-verify=false", "--raw", &image]);
    ok(&manifest);
    let config = work.skopeo(&["inspect", "--tls-verify=false", "--config", "--raw", &image]);
    ok(&config);
    (manifest.stdout, config.stdout)
}

/// Pulls `reference` with python oras into `outdir`; prints the files it
/// wrote and the manifest it read, as JSON.
const ORAS_PULL: &str = r#"
import json, sys
import oras.provider
reference, outdir = sys.argv[1], sys.argv[2]
registry = oras.provider.Registry(insecure=True)
files = registry.pull(target=reference, outdir=outdir)
manifest = registry.get_manifest(reference)
print(json.dumps({"files": files, "manifest": manifest}))
"#;

#[test]
fn wkg_oras_and_skopeo_read_what_wsc_pushes() {
    let work = Work::new();
    let registry = RegistryProcess::anonymous();
    let host = registry.host();
    for (file, repository, os) in [("app.wasm", "wasm/app", "wasip1"), ("hello.wasm", "wasm/hello", "wasip2")] {
        let digest = push(&work, &host, file, &format!("{repository}:v1"));
        let module = read(&work.path(file));
        let by_tag = format!("{host}/{repository}:v1");
        let by_digest = format!("{host}/{repository}@{digest}");

        // skopeo serves exactly the manifest wsc pushed, and its config.
        let (manifest, config) = skopeo_raw(&work, &by_tag);
        assert_eq!(Digest::of(&manifest).to_string(), digest, "{}", String::from_utf8_lossy(&manifest));
        let m: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
        assert_eq!(m["config"]["mediaType"], WASM_CONFIG);
        assert_eq!(m["config"]["digest"], Digest::of(&config).to_string());
        assert_eq!(m["config"]["size"], config.len());
        assert_eq!(
            m["layers"],
            json!([{
                "mediaType": "application/wasm",
                "digest": Digest::of(&module).to_string(),
                "size": module.len(),
                "annotations": {"org.opencontainers.image.title": file},
            }])
        );
        let c: Value = serde_json::from_slice(&config).expect("config JSON");
        assert_eq!((c["architecture"].as_str(), c["os"].as_str()), (Some("wasm"), Some(os)), "{c}");
        assert_eq!(c["layerDigests"], json!([Digest::of(&module).to_string()]));

        // wkg (oci-wasm) pulls the same bytes, by tag and by digest.
        for (reference, out) in [(&by_tag, format!("wkg-tag-{file}")), (&by_digest, format!("wkg-digest-{file}"))] {
            ok(&work.wkg(&["oci", "pull", "--insecure", &host, reference, "-o", &out]));
            assert_eq!(read(&work.path(&out)), module, "wkg pull of {reference}");
        }

        // python oras writes the layer under its title and reads the same manifest.
        let outdir = work.path(&format!("oras-{repository}").replace('/', "-"));
        let o = work.python(ORAS_PULL, &[&by_digest, outdir.to_str().expect("utf-8")]);
        ok(&o);
        let pulled: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        assert_eq!(pulled["files"], json!([outdir.join(file).to_str()]), "{pulled}");
        assert_eq!(read(&outdir.join(file)), module, "oras pull of {by_digest}");
        assert_eq!(pulled["manifest"], m, "oras read another manifest");
    }
}

#[test]
fn wsc_pulls_and_verifies_what_wkg_pushes() {
    let work = Work::new();
    let registry = RegistryProcess::anonymous();
    let host = registry.host();
    // wkg pushes a component wsc signed, and one nobody signed.
    let pushed = |file: &str, tag: &str| -> String {
        let reference = format!("{host}/wasm/hello:{tag}");
        let o = work.wkg(&["oci", "push", "--insecure", &host, &reference, file]);
        ok(&o);
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let digest = stdout.lines().find_map(|l| l.strip_prefix("digest: ")).unwrap_or_else(|| panic!("{stdout}"));
        digest.trim().to_string()
    };
    let signed = pushed("hello.wasm", "signed");
    let unsigned = pushed("plain-hello.wasm", "plain");

    // wkg's layout: a wasip2 config from oci-wasm (with its nulls), one layer.
    let (manifest, config) = skopeo_raw(&work, &format!("{host}/wasm/hello:signed"));
    assert_eq!(Digest::of(&manifest).to_string(), signed);
    let c: Value = serde_json::from_slice(&config).expect("config JSON");
    assert_eq!(c["os"], "wasip2", "{c}");
    assert!(c.get("author").is_some_and(Value::is_null), "{c}");
    assert_eq!(c["layerDigests"], json!([Digest::of(&read(&work.path("hello.wasm"))).to_string()]));

    // The signed one: accepted by the policy, byte for byte, the manifest wkg pushed.
    let reference = format!("{host}/wasm/hello:signed");
    ok(&work.oci(&host, &["pull", &reference, "-o", "hello.out", "--policy", "policy.toml"]));
    assert_eq!(read(&work.path("hello.out")), read(&work.path("hello.wasm")));
    let v = work.verdict(&host, &format!("{host}/wasm/hello@{signed}"));
    assert_eq!(v["decision"], "accepted", "{v}");
    assert_eq!(v["oci"]["manifest_digest"], signed, "{v}");
    assert_eq!(v["oci"]["os"], "wasip2", "{v}");

    // The unsigned one: exit 1, nothing written.
    let before = work.listing();
    let o =
        work.oci(&host, &["pull", &format!("{host}/wasm/hello:plain"), "-o", "plain.out", "--policy", "policy.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(work.listing(), before, "a refused pull writes nothing");
    let o = work.oci(&host, &["verify", &format!("{host}/wasm/hello@{unsigned}"), "-K", "k1.pk"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// Pushes argv[3] as an `application/wasm` layer with a hand-written wasm
/// config (wasip1) to argv[1] with python oras, Basic auth as argv[2]
/// (`user:password`); prints the manifest digest the registry gives.
const ORAS_PUSH: &str = r#"
import hashlib, json, sys
import oras.provider
reference, credentials, module = sys.argv[1], sys.argv[2], sys.argv[3]
with open(module, "rb") as f:
    digest = "sha256:" + hashlib.sha256(f.read()).hexdigest()
config = {"created": "2026-01-01T00:00:00Z", "architecture": "wasm", "os": "wasip1", "layerDigests": [digest]}
with open("config.json", "w") as f:
    json.dump(config, f)
registry = oras.provider.Registry(insecure=True, auth_backend="basic")
user, password = credentials.split(":", 1)
registry.auth.set_basic_auth(user, password)
response = registry.push(
    target=reference,
    files=[module + ":application/wasm"],
    manifest_config="config.json:application/vnd.wasm.config.v0+json",
)
print(response.headers["Docker-Content-Digest"])
"#;

#[test]
fn wsc_pulls_and_verifies_what_oras_pushes_with_basic_auth() {
    use base64::Engine as _;
    let (user, password) = ("wsc", "s3cret-pass");
    let registry = RegistryProcess::start(&Setup {
        auth: Auth::Htpasswd { user: user.into(), password: password.into() },
        tls: None,
    });
    let host = registry.host();
    let work = Work::new();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(work.path("docker/config.json"), json!({"auths": {&host: {"auth": auth}}}).to_string())
        .expect("docker config");
    let credentials = format!("{user}:{password}");
    let oras_push = |file: &str, tag: &str| -> String {
        let o = work.python(ORAS_PUSH, &[&format!("{host}/wasm/app:{tag}"), &credentials, file]);
        ok(&o);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let signed = oras_push("app.wasm", "signed");
    let unsigned = oras_push("plain.wasm", "plain");

    // The layout oras wrote: its config bytes, the module as the one layer.
    let module = read(&work.path("app.wasm"));
    ok(&work.oci(&host, &["pull", &format!("{host}/wasm/app:signed"), "-o", "app.out", "--policy", "policy.toml"]));
    assert_eq!(read(&work.path("app.out")), module);
    let v = work.verdict(&host, &format!("{host}/wasm/app:signed"));
    assert_eq!(v["decision"], "accepted", "{v}");
    assert_eq!(v["oci"]["manifest_digest"], signed, "{v}");
    assert_eq!(v["oci"]["layer_digest"], Digest::of(&module).to_string(), "{v}");
    assert_eq!(v["oci"]["os"], "wasip1", "{v}");

    let before = work.listing();
    let o = work.oci(&host, &["pull", &format!("{host}/wasm/app@{unsigned}"), "-o", "plain.out", "-K", "k1.pk"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(work.listing(), before, "a refused pull writes nothing");
}

#[test]
fn skopeo_copy_keeps_the_digest_and_the_embedded_signature_verifies_at_the_copy() {
    let work = Work::new();
    let (a, b) = (RegistryProcess::anonymous(), RegistryProcess::anonymous());
    let (from, to) = (a.host(), b.host());
    for (file, rest) in [("app.wasm", "wasm/app:v1"), ("hello.wasm", "wasm/hello:v1")] {
        let digest = push(&work, &from, file, rest);
        let o = work.skopeo(&[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{from}/{rest}"),
            &format!("docker://{to}/{rest}"),
        ]);
        ok(&o);
        let copy = format!("{to}/{rest}");
        let (manifest, _) = skopeo_raw(&work, &copy);
        assert_eq!(Digest::of(&manifest).to_string(), digest, "the copy's manifest digest");

        // The embedded signature verifies at the copy, which has nothing else.
        let v = work.verdict(&to, &copy);
        assert_eq!(v["decision"], "accepted", "{v}");
        assert_eq!(v["oci"]["manifest_digest"], digest, "{v}");
        let (repository, _) = rest.split_once(':').expect("a tag");
        let out = format!("copy-{file}");
        ok(&work.oci(&to, &["pull", &format!("{to}/{repository}@{digest}"), "-o", &out, "--policy", "policy.toml"]));
        assert_eq!(read(&work.path(&out)), read(&work.path(file)));
        // And it is the signature that decides: another key refuses the copy.
        let o = work.oci(&to, &["verify", &copy, "-K", "k2.pk"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    }
}
