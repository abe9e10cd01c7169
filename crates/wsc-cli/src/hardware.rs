//! `--signer URI`: keys that stay in hardware (PKCS#11 tokens and HSMs).
//!
//! The PIN comes from `WSC_PKCS11_PIN` or a prompt without echo, never from
//! the command line; the module path from the URI's `module-path` or
//! `WSC_PKCS11_MODULE`.

use anyhow::Result;
use wsc_core::{KeyAlgorithm, PublicKey, Signer};

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
