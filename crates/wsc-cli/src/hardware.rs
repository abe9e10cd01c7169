//! `--signer URI`: keys that stay in hardware (PKCS#11 tokens and HSMs).
//!
//! The PIN comes from `WSC_PKCS11_PIN` or a prompt without echo, never from
//! the command line; the module path from the URI's `module-path` or
//! `WSC_PKCS11_MODULE`. A PIN put in the URI anyway is refused, and the URI
//! is only ever printed through [`SignerSpec`], which hides it.

use std::borrow::Cow;
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
    pub(crate) signer: Option<SignerSpec>,
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

    /// The URI (secrets hidden) or file name, for messages and the audit log.
    pub(crate) fn name(&self) -> String {
        match (&self.signer, &self.secret_key) {
            (Some(uri), _) => uri.to_string(),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => String::new(),
        }
    }
}

/// A `--signer` URI as given. `Display` and `Debug` hide secret
/// attributes (a PIN someone put in the URI); only the parsers read the
/// text itself, through [`text`](Self::text).
#[derive(Clone)]
pub(crate) struct SignerSpec(String);

impl SignerSpec {
    /// The URI as given: for parsing only, never for printing.
    fn text(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SignerSpec {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SignerSpec(s.to_string()))
    }
}

impl std::fmt::Display for SignerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl std::fmt::Debug for SignerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SignerSpec").field(&redact(&self.0)).finish()
    }
}

/// A signer URI with its secret attributes hidden (wsc-hsm-pkcs11's rules).
#[cfg(feature = "pkcs11")]
fn redact(uri: &str) -> Cow<'_, str> {
    wsc_hsm_pkcs11::redact(uri)
}

/// Without the PKCS#11 crate: everything after the first attribute
/// separator is hidden when it may hold a secret.
#[cfg(not(feature = "pkcs11"))]
fn redact(uri: &str) -> Cow<'_, str> {
    let lower = uri.to_ascii_lowercase();
    if !["pin", "pass", "secret"].iter().any(|m| lower.contains(m)) {
        return Cow::Borrowed(uri);
    }
    let keep = uri.find([';', '?', '&']).unwrap_or(uri.len());
    Cow::Owned(format!("{}…(attributes hidden)", &uri[..keep]))
}

/// Hides secret URI attributes in a message: the last line of defence
/// before an error or an audit event is written.
pub(crate) fn redact_message(text: &str) -> Cow<'_, str> {
    #[cfg(feature = "pkcs11")]
    return wsc_hsm_pkcs11::redact_message(text);
    #[cfg(not(feature = "pkcs11"))]
    redact(text)
}

#[cfg(feature = "pkcs11")]
mod pkcs11 {
    use std::path::PathBuf;

    use anyhow::{Context, Result, bail};
    use wsc_core::{KeyAlgorithm, PublicKey, Signer};
    use wsc_hsm_pkcs11::{Pkcs11Signer, Pkcs11Uri};
    use zeroize::Zeroizing;

    use super::SignerSpec;

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

    fn parse(uri: &SignerSpec) -> Result<Pkcs11Uri> {
        if !uri.text().starts_with("pkcs11:") {
            bail!("unsupported --signer URI '{uri}': expected pkcs11:token=…;object=…");
        }
        uri.text().parse::<Pkcs11Uri>().with_context(|| format!("invalid --signer URI '{uri}'"))
    }

    /// Opens the signer a `--signer` URI names.
    pub(super) fn open_signer(uri: &SignerSpec) -> Result<Box<dyn Signer>> {
        let u = parse(uri)?;
        let signer =
            Pkcs11Signer::open(&u, module().as_deref(), &pin()?).with_context(|| format!("cannot use key '{uri}'"))?;
        Ok(Box::new(signer))
    }

    /// Generates a key pair on the token; returns its public key.
    pub(super) fn generate(uri: &SignerSpec, algorithm: KeyAlgorithm) -> Result<PublicKey> {
        let u = parse(uri)?;
        let signer = Pkcs11Signer::generate(&u, module().as_deref(), &pin()?, algorithm)
            .with_context(|| format!("cannot generate a key at '{uri}'"))?;
        Ok(signer.public().clone())
    }
}

/// Opens the signer a `--signer` URI names.
pub(crate) fn open_signer(uri: &SignerSpec) -> Result<Box<dyn Signer>> {
    if uri.text().starts_with("atecc:") {
        #[cfg(feature = "atecc")]
        {
            use anyhow::Context;
            let u: wsc_hsm_atecc::AteccUri =
                uri.text().parse().with_context(|| format!("invalid --signer URI '{uri}'"))?;
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
pub(crate) fn generate(uri: &SignerSpec, algorithm: KeyAlgorithm) -> Result<PublicKey> {
    if uri.text().starts_with("atecc:") {
        #[cfg(feature = "atecc")]
        {
            use anyhow::Context;
            if algorithm != KeyAlgorithm::P256 {
                anyhow::bail!("the ATECC608 makes P-256 keys only (--algorithm p256)");
            }
            let u: wsc_hsm_atecc::AteccUri =
                uri.text().parse().with_context(|| format!("invalid --signer URI '{uri}'"))?;
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
