//! `wsc demo`: the whole workflow on a bundled module, offline.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use wsc_core::Verification;
use wsc_core::{KeyAlgorithm, RecordVerifier, SecretKey, WithKeyId};

use crate::Outcome;
use crate::files::{self, Mode};
use crate::keys::{Format, write_key_pair};

/// The bundled module: `add.wat` from the interop vectors (11 sections).
const DEMO_MODULE: &[u8] = include_bytes!("../assets/demo.wasm");

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Folder for the files the demo writes (default: a new temporary folder).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn run(a: &DemoArgs) -> Result<Outcome> {
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create '{}'", d.display()))?;
            d.clone()
        }
        None => tempfile::Builder::new().prefix("wsc-demo-").tempdir()?.keep(),
    };
    let p = |n: &str| dir.join(n);
    println!("wsc demo: every file is in {}", dir.display());

    files::write_bytes(&p("demo.wasm"), Mode::Public, DEMO_MODULE)?;
    println!("1. bundled module written: demo.wasm ({} bytes)", DEMO_MODULE.len());

    let ed = SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng);
    write_key_pair(&ed, Format::Raw, &p("ed25519.sk"), &p("ed25519.pk"))?;
    let ec = SecretKey::generate(KeyAlgorithm::P256, &mut rand_core::OsRng);
    write_key_pair(&ec, Format::Pem, &p("p256.sk.pem"), &p("p256.pk.pem"))?;
    println!(
        "2. keys made: ed25519.sk/.pk (key id {}), p256.sk.pem/.pk.pem (key id {})",
        ed.public_key().key_id(),
        ec.public_key().key_id()
    );

    let once = wsc_core::sign(DEMO_MODULE, &WithKeyId::checked(&ed, &ed.public_key())?)?;
    let twice = wsc_core::sign(&once, &WithKeyId::checked(&ec, &ec.public_key())?)?;
    files::write_bytes(&p("demo.signed.wasm"), Mode::Public, &twice)?;
    println!("3. signed with both keys (one hash set, two signatures): demo.signed.wasm ({} bytes)", twice.len());

    let (edp, ecp) = (ed.public_key(), ec.public_key());
    let keys: [&dyn RecordVerifier; 2] = [&edp, &ecp];
    let report = wsc_core::verify_embedded(&twice[..], &Verification::new(&keys).total_len(Some(twice.len() as u64)))?;
    for (name, r) in ["ed25519.pk", "p256.pk.pem"].iter().zip(&report.results) {
        match r {
            Ok(v) if v.whole => println!("4. verified with {name}: whole module, bytes {}..{}", v.start, v.end),
            Ok(_) => bail!("demo: {name} verified only part of the module"),
            Err(e) => bail!("demo: verification with {name} failed: {e}"),
        }
    }

    let mut tampered = twice.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x01;
    files::write_bytes(&p("demo.tampered.wasm"), Mode::Public, &tampered)?;
    match wsc_core::verify(&tampered, &edp) {
        Ok(_) => bail!("demo: the tampered module verified, which must never happen"),
        Err(e) => println!(
            "5. demo.tampered.wasm (one data byte flipped at offset {last}) is rejected: {}",
            wsc_core::Chain(&e)
        ),
    }

    let unsigned_attempt = wsc_core::verify(DEMO_MODULE, &edp);
    match unsigned_attempt {
        Ok(_) => bail!("demo: an unsigned module verified"),
        Err(e) => println!("6. the unsigned demo.wasm is rejected: {}", wsc_core::Chain(&e)),
    }
    let issuer = keyless(&dir)?;
    println!("Try it yourself:");
    println!("  wsc verify -i {} -K {}", p("demo.signed.wasm").display(), p("ed25519.pk").display());
    println!("  wsc verify -i {} -K {}", p("demo.tampered.wasm").display(), p("ed25519.pk").display());
    println!("  wsc show -i {}", p("demo.signed.wasm").display());
    if let Some(issuer) = issuer {
        println!(
            "  wsc verify -i {} --keyless --certificate-identity {DEMO_IDENTITY} --certificate-oidc-issuer {issuer} --trusted-root {}",
            p("demo.keyless.wasm").display(),
            p("sigstore/trusted_root.json").display()
        );
    }
    Ok(Outcome::Done)
}

/// The CI identity the demo's local OIDC issuer vouches for (the local
/// instance's default identity).
const DEMO_IDENTITY: &str = "https://github.com/wsc-demo/app/.github/workflows/release.yml@refs/heads/main";

/// The local instance's program: `$WSC_SIGSTORE_LOCAL`, else
/// `wsc-sigstore-local` beside this `wsc`.
fn instance_program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WSC_SIGSTORE_LOCAL") {
        return Some(PathBuf::from(p));
    }
    let beside = std::env::current_exe().ok()?.with_file_name("wsc-sigstore-local");
    beside.is_file().then_some(beside)
}

/// A running `wsc-sigstore-local serve`; killed when dropped.
struct LocalInstance {
    child: std::process::Child,
}

impl LocalInstance {
    /// Starts the program on `dir` and waits for the `url` file it writes
    /// last, after the trust files.
    fn start(program: &std::path::Path, dir: &std::path::Path) -> Result<(LocalInstance, String)> {
        let child = std::process::Command::new(program)
            .args(["serve", "--identity", DEMO_IDENTITY, "--dir"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start '{}'", program.display()))?;
        let mut inst = LocalInstance { child };
        let started = std::time::Instant::now();
        loop {
            if let Some(url) = std::fs::read_to_string(dir.join("url")).ok().filter(|t| t.ends_with('\n')) {
                return Ok((inst, url.trim().to_string()));
            }
            if let Some(status) = inst.child.try_wait()? {
                bail!("the local Sigstore instance exited with {status} before it was ready");
            }
            if started.elapsed() > std::time::Duration::from_secs(30) {
                bail!("the local Sigstore instance was not ready after 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for LocalInstance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An ID token from the instance's issuer key (`wsc-sigstore-local token`).
fn mint_token(program: &std::path::Path, dir: &std::path::Path) -> Result<String> {
    let out = std::process::Command::new(program)
        .args(["token", "--identity", DEMO_IDENTITY, "--dir"])
        .arg(dir)
        .output()
        .with_context(|| format!("cannot run '{}'", program.display()))?;
    if !out.status.success() {
        bail!("the local instance could not mint a token: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8(out.stdout).context("the token is not UTF-8")?.trim().to_string())
}

/// Steps 7 to 9: keyless signing against a local Sigstore-compatible
/// instance (OIDC issuer, Fulcio, Rekor, TSA on 127.0.0.1: the
/// `wsc-sigstore-local` program, started here and stopped before
/// verifying), then offline verification. Returns the issuer. Without the
/// program (an installed `wsc` alone), the keyless half is left out, and
/// the demo says so.
fn keyless(dir: &std::path::Path) -> Result<Option<String>> {
    use wsc_keyless::sign::{IdentityToken, KeylessSigner, ServiceOptions, Services};
    let Some(program) = instance_program() else {
        println!(
            "7. keyless signing: left out. It needs the local Sigstore instance, the wsc-sigstore-local \
             program beside wsc (or named by WSC_SIGSTORE_LOCAL), which an installed wsc does not carry; \
             run `cargo build --release -p wsc-cli -p wsc-sigstore-local && target/release/wsc demo`"
        );
        return Ok(None);
    };
    let sdir = dir.join("sigstore");
    std::fs::create_dir_all(&sdir).with_context(|| format!("cannot create '{}'", sdir.display()))?;
    let (inst, issuer) = LocalInstance::start(&program, &sdir).context("cannot start the local Sigstore instance")?;
    println!("7. local Sigstore instance (OIDC, Fulcio, Rekor, TSA) on {issuer}; trust files in sigstore/");
    let root_json = std::fs::read_to_string(sdir.join("trusted_root.json"))?;
    let root = wsc_keyless::root_from_json(&root_json)?;
    let config = wsc_keyless::sigstore_verify::trust_root::SigningConfig::from_file(sdir.join("signing_config.json"))
        .map_err(|e| anyhow::anyhow!("signing config: {e}"))?;
    let builder = wsc_pinning::ClientBuilder::new(wsc_pinning::PinningConfig::new()).danger_allow_http();
    let services = Services::from_signing_config(&config, &builder, &ServiceOptions::default(), true)?;
    let token = IdentityToken::new(mint_token(&program, &sdir)?)?;
    let signer = KeylessSigner::new(token, services, &root)?;
    let signed = wsc_core::sign(DEMO_MODULE, &signer)?;
    files::write_bytes(&dir.join("demo.keyless.wasm"), Mode::Public, &signed)?;
    let entry = signer.entries().pop().context("no log entry")?;
    println!(
        "8. signed keylessly as {} (ephemeral key, Fulcio certificate, Rekor entry #{}, RFC 3161 timestamp): demo.keyless.wasm",
        signer.identity(),
        entry.log_index
    );
    drop(inst);

    let policy = wsc_keyless::IdentityPolicy::new(
        wsc_keyless::Matcher::Exact(DEMO_IDENTITY.into()),
        wsc_keyless::Matcher::Exact(issuer.clone()),
    );
    let verifier = wsc_keyless::BundleVerifier::new(&root, wsc_keyless::Expectation::Identity(policy))?;
    let vs: [&dyn RecordVerifier; 1] = [&verifier];
    let report = wsc_core::verify_embedded(&signed[..], &Verification::new(&vs))?;
    match report.single() {
        Ok(v) => println!(
            "9. with the instance stopped, verified offline: {}",
            v.signatures.first().and_then(|s| s.evidence.description.clone()).unwrap_or_default()
        ),
        Err(e) => bail!("demo: the keyless signature did not verify: {}", wsc_core::Chain(&e)),
    }
    let mut tampered = signed.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x01;
    let report = wsc_core::verify_embedded(&tampered[..], &Verification::new(&vs))?;
    if report.single().is_ok() {
        bail!("demo: a tampered keyless module verified, which must never happen");
    }
    println!("   and a copy with one byte flipped is rejected");
    Ok(Some(issuer))
}
