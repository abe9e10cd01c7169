//! Credentials read from the environment as docker and podman keep them:
//! `DOCKER_CONFIG` with `auths` (base64 `user:password`), a credential
//! helper named by `credHelpers`, and podman's `REGISTRY_AUTH_FILE`. The
//! environment of a test process cannot be changed safely, so each case
//! runs this same test binary again as a child with its own environment.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wsc_oci::OciError;
use wsc_oci::registry::{AuthScheme, Credentials};

use crate::basic::htpasswd_registry;
use crate::support::{Artifact, insecure_client};

/// The variable that makes the test the child: the registry host.
const CHILD_HOST: &str = "WSC_OCI_TEST_CHILD_HOST";

/// What the child must find: `basic` or `anonymous`.
const CHILD_EXPECT: &str = "WSC_OCI_TEST_CHILD_EXPECT";

/// This test's name, to run it alone in the child.
const NAME: &str = "credentials::credentials_come_from_docker_and_podman_configurations";

#[test]
fn credentials_come_from_docker_and_podman_configurations() {
    match std::env::var(CHILD_HOST) {
        Ok(host) => child(&host, &std::env::var(CHILD_EXPECT).expect("the expected outcome")),
        Err(_) => parent(),
    }
}

/// In the child: look the credentials up and use them.
fn child(host: &str, expect: &str) {
    let credentials = Credentials::lookup(host).expect("the lookup itself succeeds");
    let registry = insecure_client(host, credentials.clone());
    match expect {
        "basic" => {
            assert!(
                matches!(&credentials, Credentials::Basic { username, .. } if username == "wsc"),
                "{credentials:?}"
            );
            assert_eq!(registry.ping().expect("the stored credentials work"), AuthScheme::Basic);
            Artifact::new("from-config", "c").push(&registry, "wasm/config", "v1");
        }
        "anonymous" => {
            assert!(credentials.is_anonymous(), "{credentials:?}");
            let e = registry.ping().expect_err("no credentials");
            assert!(matches!(e, OciError::NoCredentials { .. }), "{e}");
        }
        other => panic!("unknown expectation {other}"),
    }
    println!("CHILD-OK {expect}");
}

/// Runs the child with `env` (and a clean docker and podman environment).
fn run_child(host: &str, expect: &str, env: &[(&str, &Path)], path_prefix: Option<&Path>, what: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_HOST, host)
        .env(CHILD_EXPECT, expect)
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR");
    let empty = tempfile::tempdir().expect("a temporary directory");
    cmd.env("HOME", empty.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(p) = path_prefix {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![p.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).expect("a PATH"));
    }
    let out = cmd.output().expect("running the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("CHILD-OK {expect}")),
        "{what}: the child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{what}: the child ran the test: {stdout}");
}

fn parent() {
    let process = htpasswd_registry();
    let host = process.host();
    let auth = STANDARD.encode("wsc:s3cret pass");

    // DOCKER_CONFIG with auths.
    let docker = tempfile::tempdir().expect("a temporary directory");
    let config = format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}},"other.example":{{"auth":"eDp5"}}}}}}"#);
    std::fs::write(docker.path().join("config.json"), config).expect("config.json");
    run_child(&host, "basic", &[("DOCKER_CONFIG", docker.path())], None, "DOCKER_CONFIG auths");

    // A credential helper named by credHelpers, found on PATH.
    let helper = tempfile::tempdir().expect("a temporary directory");
    let bin = helper.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let script = bin.join("docker-credential-wsctest");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = \"{host}\" ]; then\n  \
             echo '{{\"ServerURL\":\"{host}\",\"Username\":\"wsc\",\"Secret\":\"s3cret pass\"}}'\nelse\n  \
             echo 'credentials not found in native keychain'; exit 1\nfi\n"
        ),
    )
    .expect("the helper");
    make_executable(&script);
    std::fs::write(helper.path().join("config.json"), format!(r#"{{"credHelpers":{{"{host}":"wsctest"}}}}"#))
        .expect("config.json");
    run_child(&host, "basic", &[("DOCKER_CONFIG", helper.path())], Some(&bin), "credHelpers");

    // podman's auth file, with no docker configuration at all.
    let podman = tempfile::tempdir().expect("a temporary directory");
    let auth_file = podman.path().join("auth.json");
    std::fs::write(&auth_file, format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)).expect("auth.json");
    let no_docker = podman.path().join("no-docker");
    run_child(
        &host,
        "basic",
        &[("DOCKER_CONFIG", &no_docker), ("REGISTRY_AUTH_FILE", &auth_file)],
        None,
        "REGISTRY_AUTH_FILE",
    );

    // A docker config without an entry for the host: anonymous.
    let unrelated = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(unrelated.path().join("config.json"), r#"{"auths":{"other.example":{"auth":"eDp5"}}}"#)
        .expect("config.json");
    run_child(&host, "anonymous", &[("DOCKER_CONFIG", unrelated.path())], None, "no entry");

    // The same config file read through the API.
    let file = std::fs::File::open(docker.path().join("config.json")).expect("config.json");
    let c = Credentials::from_docker_config(file, &host).expect("found");
    assert!(matches!(c, Credentials::Basic { .. }), "{c:?}");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
