//! `wsc oci push|pull|verify` against a real registry (Debian's
//! `docker-registry`, distribution 2.8.2) on 127.0.0.1, started by each
//! test with the harness of wsc-oci's tests (one copy, included by path):
//! signed modules and components round-trip byte for byte; unsigned and
//! wrongly signed modules are refused at push and at pull; a layer edited
//! in the registry's storage and manifests off the wasm layout exit 2; a
//! failed pull leaves no file (nor a temporary one) and keeps an existing
//! one; pushes are reproducible under SOURCE_DATE_EPOCH; credentials come
//! from the docker configuration; a pull's memory stays flat in the layer
//! size (peak RSS measured with GNU time).

mod oci_support;
// The harness serves wsc-oci's tests too; not every item is used here.
#[allow(dead_code)]
#[path = "../../wsc-oci/tests/registry/support/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use oci_support::{ok, read, text};
use process::{Auth, RegistryProcess, Setup};
use serde_json::{Value, json};
use wsc_oci::registry::{Credentials, Digest, OCI_MANIFEST, Reference, Registry, RegistryOptions};
use wsc_pinning::{ClientBuilder, PinningConfig};

/// 2026-01-01T00:00:00Z.
const EPOCH: &str = "1767225600";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A working directory with the keys, `app.wasm` (add.wasm signed by k1),
/// `hello.wasm` (a component signed by k1), `k2.wasm` (add.wasm signed by
/// k2), `plain.wasm` (unsigned), an empty docker configuration, and a
/// policy accepting k1 for `REGISTRY/wasm/app` and `REGISTRY/wasm/hello`.
struct Bench {
    dir: tempfile::TempDir,
    registry: RegistryProcess,
}

impl Bench {
    fn new() -> Bench {
        Bench::with(RegistryProcess::anonymous())
    }

    fn with(registry: RegistryProcess) -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let bench = Bench { dir, registry };
        let d = bench.dir.path();
        for k in ["k1.pk", "k1.sk", "k2.pk", "k2.sk"] {
            std::fs::copy(repo().join("testdata/wasmsign2/keys").join(k), d.join(k)).expect("copy key");
        }
        std::fs::create_dir(d.join("docker")).expect("mkdir");
        let add = repo().join("testdata/wasmsign2/modules/add.wasm");
        let hello = repo().join("testdata/components/hello.wasm");
        for (input, out, key) in
            [(&add, "app.wasm", "k1.sk"), (&hello, "hello.wasm", "k1.sk"), (&add, "k2.wasm", "k2.sk")]
        {
            let input = input.to_str().expect("utf-8");
            ok(&bench.wsc(&["sign", "-i", input, "-o", out, "-k", key]));
        }
        std::fs::copy(&add, d.join("plain.wasm")).expect("copy");
        let host = bench.host();
        let policy = format!(
            "schema = \"wsc-policy/v1\"\n\
             [principals.k1]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
             [[scopes]]\nname = \"app\"\nmatch = {{ oci_repository = \"{host}/wasm/app\" }}\nrule = \"k1\"\n\
             [[scopes]]\nname = \"hello\"\nmatch = {{ oci_repository = \"{host}/wasm/hello\" }}\nrule = \"k1\"\n"
        );
        std::fs::write(d.join("policy.toml"), policy).expect("policy");
        bench
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn host(&self) -> String {
        self.registry.host()
    }

    /// `HOST/rest`.
    fn reference(&self, rest: &str) -> String {
        format!("{}/{rest}", self.host())
    }

    /// wsc in the working directory, with no docker or podman credentials
    /// and no pins from the environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wsc"));
        self.setup(c.args(args));
        c
    }

    /// The working directory and environment of [`command`](Self::command).
    fn setup(&self, c: &mut Command) {
        c.current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("XDG_RUNTIME_DIR", self.path("docker"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("WSC_REGISTRY_PINS")
            .env_remove("WSC_REQUIRE_CERT_PINNING")
            .env_remove("WSC_NO_O_TMPFILE");
    }

    fn wsc(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("wsc runs")
    }

    /// `wsc oci ARGS --insecure-registry HOST`.
    fn oci(&self, args: &[&str]) -> Output {
        let host = self.host();
        let mut all = vec!["oci"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--insecure-registry", &host]);
        self.wsc(&all)
    }

    /// Pushes `file` (checked with -K k1.pk, or unchecked) and returns the
    /// printed `REF@sha256:…`.
    fn push(&self, file: &str, rest: &str, checked: bool) -> String {
        let reference = self.reference(rest);
        let check: &[&str] = if checked { &["-K", "k1.pk"] } else { &["--allow-unsigned"] };
        let o = self.oci(&[&["push", file, &reference][..], check].concat());
        ok(&o);
        let printed = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert!(printed.starts_with(&format!("{reference}@sha256:")), "{printed}");
        printed
    }

    /// A client of the registry, as the tests of wsc-oci make one.
    fn client(&self) -> Registry {
        let builder =
            ClientBuilder::new(PinningConfig::new()).with_timeouts(Duration::from_secs(10), Duration::from_secs(5));
        let options = RegistryOptions { credentials: Credentials::Anonymous, insecure: true, ..Default::default() };
        Registry::new(&self.host(), &builder, options).expect("a client")
    }

    /// The working directory's names, sorted.
    fn listing(&self) -> Vec<String> {
        oci_support::listing(self.dir.path())
    }
}

/// Exit `code`, and stderr says each of `needles`.
fn failed(o: &Output, code: i32, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for n in needles {
        assert!(stderr.contains(n), "expected '{n}' on stderr: {}", text(o));
    }
}

#[test]
fn signed_modules_and_components_round_trip_byte_for_byte() {
    let bench = Bench::new();
    let app = bench.push("app.wasm", "wasm/app:v1", true);
    let hello = bench.push("hello.wasm", "wasm/hello:v1", true);

    // By tag and by digest, with the policy: the same bytes come back.
    for (reference, file, out) in [
        (bench.reference("wasm/app:v1"), "app.wasm", "app.out"),
        (app.clone(), "app.wasm", "app-by-digest.out"),
        (hello.clone(), "hello.wasm", "hello.out"),
    ] {
        let o = bench.oci(&["pull", &reference, "-o", out, "--policy", "policy.toml"]);
        ok(&o);
        assert_eq!(read(&bench.path(out)), read(&bench.path(file)), "{reference}");
        assert!(String::from_utf8_lossy(&o.stdout).contains("Policy accepted"), "{}", text(&o));
    }
    // With the key flag instead of a policy.
    ok(&bench.oci(&["pull", &app, "-o", "app-k.out", "-K", "k1.pk"]));
    assert_eq!(read(&bench.path("app-k.out")), read(&bench.path("app.wasm")));

    // The artifact is the CNCF layout: a component is wasip2 and names its imports and exports.
    let registry = bench.client();
    let reference: Reference = hello.parse().expect("reference");
    let manifest = registry.manifest_get(&reference, &[]).expect("manifest");
    assert_eq!(manifest.media_type, OCI_MANIFEST);
    let m: Value = serde_json::from_slice(&manifest.bytes).expect("JSON");
    assert_eq!(m["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(m["layers"][0]["annotations"]["org.opencontainers.image.title"], "hello.wasm");
    assert!(m.get("artifactType").is_none());
    let config_digest: Digest = m["config"]["digest"].as_str().expect("digest").parse().expect("digest");
    let size = m["config"]["size"].as_u64().expect("size");
    let config = registry.blob_get("wasm/hello", &config_digest, size, 1 << 20).expect("config");
    let c: Value = serde_json::from_slice(&config).expect("JSON");
    assert_eq!((c["architecture"].as_str(), c["os"].as_str()), (Some("wasm"), Some("wasip2")));
    assert_eq!(c["layerDigests"], json!([Digest::of(&read(&bench.path("hello.wasm"))).to_string()]));
    let exports: Vec<&str> =
        c["component"]["exports"].as_array().expect("exports").iter().filter_map(Value::as_str).collect();
    assert!(exports.iter().any(|e| e.starts_with("wasi:cli/run@")), "{c}");
    assert!(c["component"]["imports"].as_array().is_some_and(|i| !i.is_empty()), "{c}");

    // `wsc oci verify`: accepted, nothing written; --json has the verdict and the digests.
    let before = bench.listing();
    let o = bench.oci(&["verify", &bench.reference("wasm/app:v1"), "--policy", "policy.toml", "--json"]);
    ok(&o);
    assert_eq!(bench.listing(), before, "verify writes nothing");
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["decision"], "accepted", "{v}");
    assert_eq!(v["scope"], "app", "{v}");
    assert_eq!(v["oci"]["manifest_digest"].as_str(), app.rsplit_once('@').map(|(_, d)| d), "{v}");
    assert_eq!(
        v["oci"]["reference"].as_str(),
        Some(format!("{}@{}", bench.reference("wasm/app:v1"), &app[app.len() - 71..]).as_str())
    );
    assert_eq!(v["oci"]["layer_digest"], Digest::of(&read(&bench.path("app.wasm"))).to_string());
    assert_eq!(v["oci"]["os"], "wasip1");

    // The scope is the OCI repository: the same artifact elsewhere has no scope.
    bench.push("app.wasm", "wasm/other:v1", true);
    let o = bench.oci(&["pull", &bench.reference("wasm/other:v1"), "-o", "other.out", "--policy", "policy.toml"]);
    failed(&o, 1, &["no_scope"]);
    assert!(!bench.path("other.out").exists());
}

#[test]
fn unsigned_modules_are_refused_at_push_and_at_pull() {
    let bench = Bench::new();
    let reference = bench.reference("wasm/app:plain");
    // Checked at push: the signatures do not meet the check.
    let o = bench.oci(&["push", "plain.wasm", &reference, "-K", "k1.pk"]);
    failed(&o, 1, &["not pushed"]);
    assert!(o.stdout.is_empty(), "{}", text(&o));
    let o = bench.oci(&["push", "plain.wasm", &reference, "--policy", "policy.toml"]);
    failed(&o, 1, &["not pushed"]);
    // No check at all is a usage error.
    failed(&bench.oci(&["push", "plain.wasm", &reference]), 2, &["--allow-unsigned"]);
    failed(
        &bench.oci(&["push", "plain.wasm", &reference, "--allow-unsigned", "-K", "k1.pk"]),
        2,
        &["cannot be used with"],
    );
    let e = bench.client().manifest_get(&reference.parse().expect("reference"), &[]).expect_err("nothing pushed");
    assert!(e.is_not_found(), "{e}");

    bench.push("plain.wasm", "wasm/app:plain", false);
    std::fs::write(bench.path("kept.out"), "old").expect("write");
    let before = bench.listing();
    for temps in [None, Some("1")] {
        for out in ["new.out", "kept.out"] {
            let mut c = bench.command(&[
                "oci",
                "pull",
                &reference,
                "-o",
                out,
                "--policy",
                "policy.toml",
                "--insecure-registry",
                &bench.host(),
            ]);
            if let Some(t) = temps {
                c.env("WSC_NO_O_TMPFILE", t);
            }
            let o = c.output().expect("wsc runs");
            failed(&o, 1, &["rejected"]);
            assert_eq!(bench.listing(), before, "no output and no temporary file");
            assert_eq!(read(&bench.path("kept.out")), b"old", "an existing file is kept");
        }
    }
    failed(&bench.oci(&["verify", &reference, "-K", "k1.pk"]), 1, &["verification failed"]);
}

#[test]
fn a_module_of_another_signer_is_refused() {
    let bench = Bench::new();
    // k2 signed it: pushing with k2's key passes; k1 refuses it.
    let reference = bench.reference("wasm/app:k2");
    ok(&bench.oci(&["push", "k2.wasm", &reference, "-K", "k2.pk"]));
    failed(&bench.oci(&["push", "k2.wasm", &reference, "-K", "k1.pk"]), 1, &["not pushed"]);
    for check in [&["-K", "k1.pk"][..], &["--policy", "policy.toml"]] {
        let o = bench.oci(&[&["pull", &reference, "-o", "k2.out"][..], check].concat());
        failed(&o, 1, &[]);
        assert!(!bench.path("k2.out").exists());
        let o = bench.oci(&[&["verify", &reference, "--json"][..], check].concat());
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
        assert_eq!(v["decision"], "rejected", "{v}");
    }
    ok(&bench.oci(&["pull", &reference, "-o", "k2.out", "-K", "k2.pk"]));
}

#[test]
fn a_layer_edited_in_the_registry_storage_exits_2_and_writes_nothing() {
    let bench = Bench::new();
    let pushed = bench.push("app.wasm", "wasm/app:v1", true);
    let module = read(&bench.path("app.wasm"));
    let file = bench.registry.blob_file(&Digest::of(&module));
    assert_eq!(read(&file), module);
    // One byte of the last section (the signature's) changed, same size.
    let mut edited = module.clone();
    let last = edited.len() - 1;
    edited[last] ^= 0x01;
    std::fs::write(&file, &edited).expect("editing the stored layer");
    std::fs::write(bench.path("kept.out"), "old").expect("write");
    let before = bench.listing();
    for out in ["app.out", "kept.out"] {
        let o = bench.oci(&["pull", &pushed, "-o", out, "--policy", "policy.toml"]);
        failed(&o, 2, &["digest", &Digest::of(&module).to_string()]);
        assert_eq!(bench.listing(), before);
    }
    assert_eq!(read(&bench.path("kept.out")), b"old");
    failed(&bench.oci(&["verify", &pushed, "-K", "k1.pk"]), 2, &["digest"]);
}

/// Pushes `module` with `config` (JSON) and the manifest `edit` makes,
/// with the client directly; returns the reference by digest.
fn push_raw(bench: &Bench, repository: &str, module: &[u8], config: &Value, edit: impl FnOnce(&mut Value)) -> String {
    let registry = bench.client();
    let config = serde_json::to_vec(config).expect("JSON");
    registry.blob_upload(repository, module).expect("layer");
    registry.blob_upload(repository, &config).expect("config");
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": Digest::of(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": Digest::of(module).to_string(), "size": module.len()}],
    });
    edit(&mut manifest);
    let bytes = serde_json::to_vec(&manifest).expect("JSON");
    let digest = registry.manifest_put(repository, "raw", &bytes, OCI_MANIFEST).expect("manifest");
    bench.reference(&format!("{repository}@{digest}"))
}

#[test]
fn manifests_off_the_wasm_layout_exit_2_naming_the_field() {
    let bench = Bench::new();
    let module = read(&bench.path("app.wasm"));
    let digest = Digest::of(&module).to_string();
    let config = |os: &str| json!({"architecture": "wasm", "os": os, "layerDigests": [digest]});
    let linux = push_raw(&bench, "wasm/app", &module, &config("linux"), |_| {});
    let two_layers = push_raw(&bench, "wasm/app", &module, &config("wasip1"), |m| {
        let layer = m["layers"][0].clone();
        m["layers"].as_array_mut().expect("layers").push(layer);
    });
    let component_os = push_raw(&bench, "wasm/app", &module, &config("wasip2"), |_| {});
    let other_config = push_raw(&bench, "wasm/app", &module, &config("wasip1"), |m| {
        m["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    });
    for (reference, field) in [
        (&linux, "config.os"),
        (&two_layers, "layers"),
        (&component_os, "config.os"),
        (&other_config, "config.mediaType"),
    ] {
        let o = bench.oci(&["pull", reference, "-o", "app.out", "--policy", "policy.toml"]);
        failed(&o, 2, &[&format!("{field} is ")]);
        assert!(!bench.path("app.out").exists());
    }
    // A digest in the reference must be the manifest's.
    let (name, _) = linux.rsplit_once('@').expect("digest");
    let wrong = format!("{name}@{}", Digest::of(b"another manifest"));
    failed(&bench.oci(&["pull", &wrong, "-o", "app.out", "-K", "k1.pk"]), 2, &["HTTP 404"]);
    let wrong_tag = format!("{name}:raw@{}", Digest::of(b"another manifest"));
    failed(&bench.oci(&["verify", &wrong_tag, "-K", "k1.pk"]), 2, &[]);
}

#[test]
fn a_config_with_nulls_as_oci_wasm_writes_it_is_accepted() {
    let bench = Bench::new();
    let module = read(&bench.path("app.wasm"));
    let config = json!({
        "created": "2026-01-01T00:00:00.123456789Z",
        "author": null,
        "architecture": "wasm",
        "os": "wasip1",
        "layerDigests": [Digest::of(&module).to_string()],
        "component": null,
    });
    let reference = push_raw(&bench, "wasm/app", &module, &config, |_| {});
    ok(&bench.oci(&["pull", &reference, "-o", "app.out", "--policy", "policy.toml"]));
    assert_eq!(read(&bench.path("app.out")), module);
}

#[test]
fn pushes_are_reproducible_under_source_date_epoch() {
    let bench = Bench::new();
    let push = |tag: &str, epoch: &str, annotation: &str| -> String {
        let reference = bench.reference(&format!("wasm/app:{tag}"));
        let host = bench.host();
        let args = [
            "oci",
            "push",
            "app.wasm",
            &reference,
            "-K",
            "k1.pk",
            "--insecure-registry",
            &host,
            "--annotation",
            annotation,
        ];
        let o = bench.command(&args).env("SOURCE_DATE_EPOCH", epoch).output().expect("wsc runs");
        ok(&o);
        let printed = String::from_utf8(o.stdout).expect("utf-8");
        printed.trim().rsplit_once('@').expect("a digest").1.to_string()
    };
    let first = push("a", EPOCH, "org.opencontainers.image.version=1.0");
    assert_eq!(push("b", EPOCH, "org.opencontainers.image.version=1.0"), first, "the same manifest");
    assert_ne!(push("c", "1767225601", "org.opencontainers.image.version=1.0"), first, "created differs");
    assert_ne!(push("d", EPOCH, "org.opencontainers.image.version=1.1"), first, "the annotation differs");

    let registry = bench.client();
    let manifest = registry
        .manifest_get(&bench.reference(&format!("wasm/app@{first}")).parse().expect("ref"), &[])
        .expect("manifest");
    let m: Value = serde_json::from_slice(&manifest.bytes).expect("JSON");
    assert_eq!(m["annotations"]["org.opencontainers.image.version"], "1.0");
    let config_digest: Digest = m["config"]["digest"].as_str().expect("digest").parse().expect("digest");
    let config = registry
        .blob_get("wasm/app", &config_digest, m["config"]["size"].as_u64().expect("size"), 1 << 20)
        .expect("config");
    let c: Value = serde_json::from_slice(&config).expect("JSON");
    assert_eq!(c["created"], "2026-01-01T00:00:00Z");

    let o = bench
        .command(&["oci", "push", "app.wasm", &bench.reference("wasm/app:e"), "--allow-unsigned"])
        .env("SOURCE_DATE_EPOCH", "soon")
        .output()
        .expect("wsc runs");
    failed(&o, 2, &["SOURCE_DATE_EPOCH"]);
}

#[test]
fn credentials_come_from_the_docker_configuration() {
    use base64::Engine as _;
    let (user, password) = ("wsc", "s3cret-pass");
    let registry = RegistryProcess::start(&Setup {
        auth: Auth::Htpasswd { user: user.into(), password: password.into() },
        tls: None,
    });
    let bench = Bench::with(registry);
    let reference = bench.reference("wasm/app:v1");
    // Without credentials the registry refuses.
    failed(&bench.oci(&["push", "app.wasm", &reference, "-K", "k1.pk"]), 2, &["no credentials"]);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = json!({"auths": {bench.host(): {"auth": auth}}});
    std::fs::write(bench.path("docker/config.json"), config.to_string()).expect("docker config");
    bench.push("app.wasm", "wasm/app:v1", true);
    ok(&bench.oci(&["pull", &reference, "-o", "app.out", "--policy", "policy.toml"]));
    assert_eq!(read(&bench.path("app.out")), read(&bench.path("app.wasm")));
}

#[test]
fn plain_http_is_only_for_this_machine() {
    let bench = Bench::new();
    let o = bench.wsc(&[
        "oci",
        "pull",
        "registry.example/wasm/app:v1",
        "-o",
        "app.out",
        "-K",
        "k1.pk",
        "--insecure-registry",
        "registry.example",
    ]);
    failed(&o, 2, &["plain HTTP"]);
    failed(&bench.wsc(&["oci", "verify", "not a reference", "-K", "k1.pk"]), 2, &["reference"]);
    failed(&bench.wsc(&["oci", "pull", &bench.reference("wasm/app:v1"), "-o", "x.out"]), 2, &["--public-key"]);
}

/// The layer of the memory test: 32 MiB.
const BIG: usize = 32 << 20;

/// Peak resident memory allowed for pulling it, KiB: a pull of a small
/// module peaks at about 26 MiB here, so a buffered layer would exceed it.
const MAX_RSS_KIB: u64 = 40 * 1024;

/// A pull streams: its peak memory stays far below the layer's size.
#[test]
fn a_pull_streams_the_layer_in_flat_memory() {
    let bench = Bench::new();
    let mut module = read(&repo().join("testdata/wasmsign2/modules/add.wasm"));
    // A custom section `big` of BIG bytes: id 0, LEB128 size, name, payload.
    let payload = 1 + 3 + BIG;
    let mut size = Vec::new();
    let mut n = payload;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            size.push(byte);
            break;
        }
        size.push(byte | 0x80);
    }
    module.push(0);
    module.extend_from_slice(&size);
    module.extend_from_slice(b"\x03big");
    module.resize(module.len() + BIG, 0x5a);
    std::fs::write(bench.path("big.wasm"), &module).expect("write");
    ok(&bench.wsc(&["sign", "-i", "big.wasm", "-o", "big-signed.wasm", "-k", "k1.sk"]));
    let pushed = bench.push("big-signed.wasm", "wasm/app:big", true);

    let host = bench.host();
    let args = ["oci", "pull", &pushed, "-o", "big.out", "--policy", "policy.toml", "--insecure-registry", &host];
    let mut c = Command::new("/usr/bin/time");
    bench.setup(c.args(["-f", "%M"]).arg(env!("CARGO_BIN_EXE_wsc")).args(args));
    let o = c.output().expect("GNU time runs (Debian package time; xtask/setup.sh installs it)");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    let rss: u64 = err
        .trim_end()
        .rsplit('\n')
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no %M line: {err}"));
    assert!(rss < MAX_RSS_KIB, "pull of a {} MiB layer: peak RSS {rss} KiB", BIG >> 20);
    assert_eq!(read(&bench.path("big.out")), read(&bench.path("big-signed.wasm")));
}

/// A pull draws a byte progress bar when stderr is a terminal (util-linux
/// `script` gives it one), and none under `--quiet`, with `--json` or on a
/// pipe.
#[test]
fn a_pull_shows_progress_only_on_a_terminal() {
    let bench = Bench::new();
    let app = bench.push("app.wasm", "wasm/app:v1", true);
    let host = bench.host();
    let on_terminal = |extra: &[&str], out: &str| -> String {
        let mut args = vec![env!("CARGO_BIN_EXE_wsc"), "oci", "pull", &app, "-o", out, "-K", "k1.pk"];
        args.extend_from_slice(&["--insecure-registry", &host]);
        args.extend_from_slice(extra);
        let line = args.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ");
        let mut c = Command::new("script");
        bench.setup(c.args(["-qec", &line, "/dev/null"]));
        let o = c.output().unwrap_or_else(|e| panic!("util-linux `script` is needed by this test: {e}"));
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(read(&bench.path(out)), read(&bench.path("app.wasm")));
        text(&o)
    };
    assert!(on_terminal(&[], "a.out").contains("pulling ["), "no progress bar on a terminal");
    assert!(!on_terminal(&["--quiet"], "b.out").contains("pulling ["), "a progress bar under --quiet");
    assert!(!on_terminal(&["--json"], "c.out").contains("pulling ["), "a progress bar with --json");
    let o = bench.oci(&["pull", &app, "-o", "d.out", "-K", "k1.pk"]);
    ok(&o);
    assert!(!text(&o).contains("pulling ["), "a progress bar on a pipe");
}
