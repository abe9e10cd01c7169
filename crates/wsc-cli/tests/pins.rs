//! `wsc pins show` against an `openssl s_server` on 127.0.0.1, with the pins
//! computed independently by openssl, as docs/pinning.md tells operators.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn sha256_hex(dir: &Path, file: &str) -> String {
    let out = openssl(dir, &["dgst", "-sha256", "-r", file]);
    String::from_utf8_lossy(&out).split_whitespace().next().unwrap_or_default().to_string()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pins_show_matches_openssl() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    // A root CA and a leaf for localhost signed by it.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=wsc test root",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(d.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        .expect("ext");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    // The pins as docs/pinning.md computes them with openssl.
    openssl(d, &["x509", "-in", "leaf.pem", "-outform", "der", "-out", "leaf.der"]);
    openssl(d, &["x509", "-in", "leaf.pem", "-pubkey", "-noout", "-out", "leaf.pub.pem"]);
    openssl(d, &["pkey", "-pubin", "-in", "leaf.pub.pem", "-outform", "der", "-out", "leaf.spki.der"]);
    openssl(d, &["x509", "-in", "ca.pem", "-pubkey", "-noout", "-out", "ca.pub.pem"]);
    openssl(d, &["pkey", "-pubin", "-in", "ca.pub.pem", "-outform", "der", "-out", "ca.spki.der"]);
    let leaf_pin = sha256_hex(d, "leaf.der");
    let leaf_spki = sha256_hex(d, "leaf.spki.der");
    let ca_spki = sha256_hex(d, "ca.spki.der");

    // The server presents the leaf and the root (as a chain certificate).
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let server = Server(
        Command::new("openssl")
            .current_dir(d)
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                "leaf.pem",
                "-key",
                "leaf.key",
                "-cert_chain",
                "ca.pem",
                "-www",
                "-naccept",
                "8",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts"),
    );
    let url = format!("https://localhost:{port}/");
    let ca = d.join("ca.pem").display().to_string();
    let started = Instant::now();
    let out = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_wsc"))
            .args(["pins", "show", "--url", &url, "--ca-file", &ca])
            .output()
            .expect("wsc runs");
        if out.status.success() || started.elapsed() > Duration::from_secs(10) {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("certificate sha256: {leaf_pin}")), "{text}");
    assert!(text.contains(&format!("SPKI sha256:        {leaf_spki}")), "{text}");
    assert!(text.contains(&format!("SPKI sha256:        {ca_spki}")), "{text}");
    assert!(text.contains("WebPKI check: passed"), "{text}");

    // Without the private root, the chain is still shown, and the failure said.
    let out = Command::new(env!("CARGO_BIN_EXE_wsc")).args(["pins", "show", "--url", &url]).output().expect("wsc runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&leaf_pin), "{text}");
    assert!(text.contains("WebPKI check: FAILED"), "{text}");
    drop(server);
}

#[test]
fn pins_show_refuses_plain_http() {
    let out = Command::new(env!("CARGO_BIN_EXE_wsc"))
        .args(["pins", "show", "--url", "http://127.0.0.1:9/"])
        .output()
        .expect("wsc runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://"));
}
