//! `--signer URI`: keys that stay in hardware (PKCS#11 tokens and HSMs).
//!
//! The PIN comes from `WSC_PKCS11_PIN` or a prompt without echo, never from
//! the command line; the module path from the URI's `module-path` or
//! `WSC_PKCS11_MODULE`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use wsc_core::{KeyAlgorithm, PublicKey, Signer};

/// Where a signing key comes from: a file (`-k`) or hardware (`--signer`).
#[derive(Debug, Args)]
pub(crate) struct KeySource {
    /// Secret key file (wasmsign2 raw, PKCS#8, SEC1 or OpenSSH).
    #[arg(short = 'k', long = "secret-key", value_name = "FILE", conflicts_with = "signer")]
    pub(crate) secret_key: Option<PathBuf>,
    /// A key in hardware instead of -k: `pkcs11:token=…;object=…` (PIN from
    /// WSC_PKCS11_PIN or a prompt) or `atecc:/dev/i2c-1?slot=0`.
    #[arg(long, value_name = "URI")]
    pub(crate) signer: Option<String>,
}

impl KeySource {
    /// Opens the hardware signer, or the key file through `load_file`.
    pub(crate) fn open(&self, load_file: impl FnOnce(&Path) -> Result<Box<dyn Signer>>) -> Result<Box<dyn Signer>> {
        match (&self.signer, &self.secret_key) {
            (Some(uri), _) => open_signer(uri),
            (None, Some(path)) => load_file(path),
            (None, None) => anyhow::bail!("give -k SECRET_KEY or --signer URI"),
        }
    }

    /// Whether the key is in hardware.
    pub(crate) fn is_hardware(&self) -> bool {
        self.signer.is_some()
    }

    /// The URI or file name, for messages.
    pub(crate) fn name(&self) -> String {
        match (&self.signer, &self.secret_key) {
            (Some(uri), _) => uri.clone(),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => String::new(),
        }
    }
}

#[cfg(feature = "pkcs11")]
mod pkcs11 {
    use std::path::PathBuf;

    use anyhow::{Context, Result, bail};
    use wsc_core::{KeyAlgorithm, PublicKey, Signer};
    use wsc_hsm_pkcs11::{Pkcs11Signer, Pkcs11Uri};
    use zeroize::Zeroizing;

    fn pin() -> Result<Zeroizing<String>> {
        if let Ok(p) = std::env::var("WSC_PKCS11_PIN") {
            return Ok(Zeroizing::new(p));
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            bail!("the token needs a PIN: set WSC_PKCS11_PIN (there is no terminal to ask on)");
        }
        let p = rpassword::prompt_password("PKCS#11 PIN: ").context("cannot read the PIN")?;
        Ok(Zeroizing::new(p))
    }

    fn module() -> Option<PathBuf> {
        std::env::var_os("WSC_PKCS11_MODULE").map(PathBuf::from)
    }

    fn parse(uri: &str) -> Result<Pkcs11Uri> {
        if !uri.starts_with("pkcs11:") {
            bail!("unsupported --signer URI '{uri}': expected pkcs11:token=…;object=…");
        }
        uri.parse::<Pkcs11Uri>().with_context(|| format!("invalid --signer URI '{uri}'"))
    }

    /// Opens the signer a `--signer` URI names.
    pub(super) fn open_signer(uri: &str) -> Result<Box<dyn Signer>> {
        let u = parse(uri)?;
        let signer =
            Pkcs11Signer::open(&u, module().as_deref(), &pin()?).with_context(|| format!("cannot use key '{uri}'"))?;
        Ok(Box::new(signer))
    }

    /// Generates a key pair on the token; returns its public key.
    pub(super) fn generate(uri: &str, algorithm: KeyAlgorithm) -> Result<PublicKey> {
        let u = parse(uri)?;
        let signer = Pkcs11Signer::generate(&u, module().as_deref(), &pin()?, algorithm)
            .with_context(|| format!("cannot generate a key at '{uri}'"))?;
        Ok(signer.public().clone())
    }
}

/// Opens the signer a `--signer` URI names.
pub(crate) fn open_signer(uri: &str) -> Result<Box<dyn Signer>> {
    if uri.starts_with("atecc:") {
        #[cfg(feature = "atecc")]
        {
            use anyhow::Context;
            let u: wsc_hsm_atecc::AteccUri = uri.parse().with_context(|| format!("invalid --signer URI '{uri}'"))?;
            let signer = wsc_hsm_atecc::linux::open_signer(&u).with_context(|| format!("cannot use key '{uri}'"))?;
            return Ok(Box::new(signer));
        }
        #[cfg(not(feature = "atecc"))]
        anyhow::bail!("--signer {uri}: this wsc was built without the `atecc` feature");
    }
    #[cfg(feature = "pkcs11")]
    return pkcs11::open_signer(uri);
    #[cfg(not(feature = "pkcs11"))]
    anyhow::bail!("--signer {uri}: this wsc was built without the `pkcs11` feature")
}

/// Generates a key pair in hardware; returns its public key.
pub(crate) fn generate(uri: &str, algorithm: KeyAlgorithm) -> Result<PublicKey> {
    if uri.starts_with("atecc:") {
        #[cfg(feature = "atecc")]
        {
            use anyhow::Context;
            if algorithm != KeyAlgorithm::P256 {
                anyhow::bail!("the ATECC608 makes P-256 keys only (--algorithm p256)");
            }
            let u: wsc_hsm_atecc::AteccUri = uri.parse().with_context(|| format!("invalid --signer URI '{uri}'"))?;
            let public = wsc_hsm_atecc::linux::open(&u)?.provision_key(u.slot).with_context(|| format!("'{uri}'"))?;
            let mut sec1 = vec![0x04];
            sec1.extend_from_slice(&public);
            return PublicKey::from_any(&sec1).context("the chip returned an invalid public key");
        }
        #[cfg(not(feature = "atecc"))]
        anyhow::bail!("--signer {uri}: this wsc was built without the `atecc` feature");
    }
    #[cfg(feature = "pkcs11")]
    return pkcs11::generate(uri, algorithm);
    #[cfg(not(feature = "pkcs11"))]
    {
        let _ = algorithm;
        anyhow::bail!("--signer {uri}: this wsc was built without the `pkcs11` feature")
    }
}
