//! Restarts keep the trust root and the log: in-process, and after SIGKILL of the binary.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use wsc_sigstore_local::{Config, Instance};

const ID: &str = "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main";

#[test]
fn restart_keeps_root_entries_and_a_consistent_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let config =
        Config { dir: dir.path().to_path_buf(), identities: vec![ID.into()], tls: false, port: 0, rekor_v2: false };
    let inst = Instance::start(config.clone()).expect("start");
    let url = inst.url().to_string();
    let root_before = std::fs::read(dir.path().join("trusted_root.json")).expect("root");
    let mut created = Vec::new();
    for n in 0..3 {
        let a = post_json(&url, "/api/v1/log/entries", &hashedrekord(&inst, ID, format!("a{n}").as_bytes()));
        assert_eq!(a.status, 201, "{}", a.text());
        created.push(only_entry(&a.json()));
    }
    let old = log_info(&url);
    assert_eq!(old.0, 3);
    inst.shutdown();

    let inst = Instance::start(config).expect("restart");
    assert_eq!(inst.url(), url, "the folder's previous port is reused");
    assert_eq!(std::fs::read(dir.path().join("trusted_root.json")).expect("root"), root_before);
    for (uuid, entry) in &created {
        let by_uuid = get(&url, &format!("/api/v1/log/entries/{uuid}"));
        assert_eq!(by_uuid.status, 200);
        assert_eq!(only_entry(&by_uuid.json()).1["body"], entry["body"]);
        let index = entry["logIndex"].as_u64().expect("index");
        let by_index = get(&url, &format!("/api/v1/log/entries?logIndex={index}"));
        assert_eq!(only_entry(&by_index.json()).0, *uuid);
        verify_set(dir.path(), &only_entry(&by_uuid.json()).1).expect("SET after restart");
    }
    for n in 3..5 {
        let a = post_json(&url, "/api/v1/log/entries", &hashedrekord(&inst, ID, format!("a{n}").as_bytes()));
        assert_eq!(a.status, 201, "{}", a.text());
        assert_eq!(only_entry(&a.json()).1["logIndex"], n);
    }
    check_consistency(&url, &old);
    assert_eq!(get(&url, "/api/v1/log/proof").status, 400);
    assert_eq!(get(&url, "/api/v1/log/entries?logIndex=x").status, 400);
}

fn wait_for_url(dir: &Path, child: &mut Child) -> String {
    let t = Instant::now();
    loop {
        if let Ok(u) = std::fs::read_to_string(dir.join("url")) {
            return u.trim().to_string();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited early: {status}");
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no url file after 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serve(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wsc-sigstore-local"))
        .args(["serve", "--identity", ID, "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn token(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wsc-sigstore-local"))
        .args(["token", "--identity", ID, "--dir"])
        .arg(dir)
        .output()
        .expect("token");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8").trim().to_string()
}

#[test]
fn sigkill_then_restart_keeps_the_entry() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = serve(dir.path());
    let url = wait_for_url(dir.path(), &mut child);
    let tok = token(dir.path());
    let a = post_json(&url, "/api/v1/log/entries", &hashedrekord_at(&url, &tok, ID, b"survives kill -9"));
    assert_eq!(a.status, 201, "{}", a.text());
    let (uuid, entry) = only_entry(&a.json());
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(stderr.contains("POST /api/v2/signingCert 201"), "request log: {stderr}");
    assert!(stderr.contains("POST /api/v1/log/entries 201"), "request log: {stderr}");
    assert!(!stderr.contains(&tok), "the token is never logged");

    // The killed server left its url file: remove it before waiting for the new one.
    std::fs::remove_file(dir.path().join("url")).expect("old url file");
    let mut child = serve(dir.path());
    let url2 = wait_for_url(dir.path(), &mut child);
    let got = get(&url2, &format!("/api/v1/log/entries/{uuid}"));
    let status = got.status;
    let body = only_entry(&got.json()).1["body"].clone();
    // Tokens minted earlier still verify when the port is the same.
    let still = post_json(&url2, "/api/v1/log/entries", &hashedrekord_at(&url2, &token(dir.path()), ID, b"second"));
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let exit = child.wait().expect("wait");
    assert_eq!(status, 200);
    assert_eq!(body, entry["body"]);
    assert_eq!(still.status, 201, "{}", still.text());
    assert_eq!(only_entry(&still.json()).1["logIndex"], 1);
    assert!(exit.success(), "SIGTERM stops the server cleanly: {exit}");
}
