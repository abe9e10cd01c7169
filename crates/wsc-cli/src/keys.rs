//! Key files: loading, and `wsc keygen`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use wsc_core::{KeyAlgorithm, PublicKey, SecretKey};

use crate::Outcome;
use crate::files::{self, Mode, Replace};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Algorithm {
    Ed25519,
    P256,
}

impl From<Algorithm> for KeyAlgorithm {
    fn from(a: Algorithm) -> Self {
        match a {
            Algorithm::Ed25519 => KeyAlgorithm::Ed25519,
            Algorithm::P256 => KeyAlgorithm::P256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// wasmsign2 raw bytes (Ed25519 only; the default for Ed25519).
    Raw,
    /// PKCS#8 / SubjectPublicKeyInfo PEM (the default for P-256).
    Pem,
    /// PKCS#8 / SubjectPublicKeyInfo DER.
    Der,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Secret key file to create.
    #[arg(
        short = 'k',
        long = "secret-key",
        value_name = "FILE",
        required_unless_present = "signer",
        conflicts_with = "signer"
    )]
    secret_key: Option<PathBuf>,
    /// Generate the key pair in hardware instead (`pkcs11:token=…;object=LABEL`); only the public key is written.
    #[arg(long, value_name = "URI")]
    signer: Option<crate::hardware::SignerSpec>,
    /// Public key file to create.
    #[arg(short = 'K', long = "public-key", value_name = "FILE")]
    public_key: PathBuf,
    /// Key algorithm.
    #[arg(long, value_enum, default_value = "ed25519")]
    algorithm: Algorithm,
    /// File format (default: raw for Ed25519, pem for P-256).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Replace an existing secret key file (without it, keygen refuses).
    #[arg(long)]
    force: bool,
}

pub(crate) fn keygen(a: &KeygenArgs) -> Result<Outcome> {
    let alg = KeyAlgorithm::from(a.algorithm);
    let format = a.format.unwrap_or(match a.algorithm {
        Algorithm::Ed25519 => Format::Raw,
        Algorithm::P256 => Format::Pem,
    });
    let mut files = files::SameFileCheck::default().output("-K", &a.public_key);
    if let Some(secret) = &a.secret_key {
        files = files.output("-k", secret);
    }
    files.check()?;
    if let Some(secret) = a.secret_key.as_ref().filter(|_| !a.force) {
        // Checked again when the key lands, in case it appears meanwhile.
        if std::fs::symlink_metadata(secret).is_ok() {
            bail!("secret key '{}' already exists: nothing written (--force replaces it)", secret.display());
        }
    }
    if let Some(uri) = &a.signer {
        let pk = crate::hardware::generate(uri, alg)?;
        let bytes = match format {
            Format::Raw => pk.to_raw()?,
            Format::Pem => pk.to_pem()?.into_bytes(),
            Format::Der => pk.to_der()?,
        };
        files::write_bytes(&a.public_key, Mode::Public, &bytes)?;
        eprintln!(
            "{} key pair generated at '{uri}' (the secret key stays there); public key '{}' (key id {})",
            alg.as_str(),
            a.public_key.display(),
            pk.key_id()
        );
        return Ok(Outcome::Done);
    }
    let secret = a.secret_key.as_ref().context("give -k SECRET_KEY or --signer URI")?;
    let sk = SecretKey::generate(alg, &mut rand_core::OsRng);
    let replace = if a.force { Replace::Allow } else { Replace::Refuse };
    write_keys(&sk, format, secret, &a.public_key, replace)?;
    eprintln!(
        "{} key pair written: secret '{}', public '{}' (key id {})",
        alg.as_str(),
        secret.display(),
        a.public_key.display(),
        sk.public_key().key_id()
    );
    Ok(Outcome::Done)
}

/// Writes both key files, together or not at all.
pub(crate) fn write_key_pair(sk: &SecretKey, format: Format, secret: &Path, public: &Path) -> Result<()> {
    write_keys(sk, format, secret, public, Replace::Allow)
}

/// Like [`write_key_pair`]; `replace` says whether an existing secret key
/// file may be replaced.
fn write_keys(sk: &SecretKey, format: Format, secret: &Path, public: &Path, replace: Replace) -> Result<()> {
    let pk = sk.public_key();
    let (s, p): (zeroize::Zeroizing<Vec<u8>>, Vec<u8>) = match format {
        Format::Raw => (sk.to_raw()?, pk.to_raw()?),
        Format::Pem => (zeroize::Zeroizing::new(sk.to_pem()?.as_bytes().to_vec()), pk.to_pem()?.into_bytes()),
        Format::Der => (sk.to_der()?, pk.to_der()?),
    };
    let mut outputs = files::Outputs::default();
    outputs
        .stage(secret, Mode::Secret, replace, |f| {
            f.write_all(&s).map_err(|e| files::name_write_error(secret, e).into())
        })
        .map_err(|e| refused(e, replace))?;
    outputs.stage(public, Mode::Public, Replace::Allow, |f| {
        f.write_all(&p).map_err(|e| files::name_write_error(public, e).into())
    })?;
    outputs.commit().map_err(|e| refused(e, replace))
}

/// Adds the way out to a refusal to replace a secret key.
fn refused(e: anyhow::Error, replace: Replace) -> anyhow::Error {
    if replace == Replace::Refuse && e.to_string().contains("already exists") {
        return e.context("nothing written (--force replaces an existing secret key)");
    }
    e
}

/// A secret key in memory locked against swapping where the OS allows it
/// (mlock). The key is zeroized when dropped, before the memory is unlocked.
pub(crate) struct LoadedSecret {
    // Declaration order is drop order: the key is wiped, then unlocked.
    key: Box<SecretKey>,
    _lock: Option<region::LockGuard>,
}

impl std::fmt::Debug for LoadedSecret {
    // The key's own Debug says its algorithm only; never its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedSecret").field("key", &self.key).field("locked", &self._lock.is_some()).finish()
    }
}

impl wsc_core::Signer for LoadedSecret {
    fn algorithm(&self) -> wsc_core::sigdata::AlgorithmId {
        self.key.algorithm()
    }
    fn public_key(&self) -> Option<PublicKey> {
        Some(SecretKey::public_key(&self.key))
    }
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, wsc_core::SignerError> {
        self.key.try_sign(message)
    }
}

impl std::ops::Deref for LoadedSecret {
    type Target = SecretKey;
    fn deref(&self) -> &SecretKey {
        &self.key
    }
}

impl LoadedSecret {
    /// A copy of the key for a type that takes it by value and that wsc
    /// cannot lock (`wsc_pki::Ca::from_pem`). The copy lives unlocked; this
    /// locked one is wiped when dropped.
    pub(crate) fn to_owned_key(&self) -> Result<SecretKey> {
        let der = self.key.to_der()?;
        Ok(SecretKey::from_any(&der)?)
    }
}

/// What to do with a secret key file that group or others may access
/// (docs/security/key-lifecycle.md, CD-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exposure {
    /// Warn and go on: signing keys (`wsc sign -k`), which wasmsign2 scripts
    /// often keep with mode 0644.
    Warn,
    /// Refuse unless `allow_readable` (`--allow-readable-key`): the keys
    /// `wsc pki` reads (CA keys, `pki csr -k`).
    Refuse { allow_readable: bool },
}

/// Loads a secret key file and locks the key in memory. `ssh` insists on
/// the OpenSSH format; `exposure` says what a file that group or others may
/// access gets. The mode is read from the file that is read.
pub(crate) fn load_secret(path: &Path, ssh: bool, exposure: Exposure) -> Result<LoadedSecret> {
    let (bytes, mode) = files::read_secret(path)?;
    check_exposure(path, mode, exposure)?;
    if ssh && !bytes.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----") {
        bail!("secret key '{}' is not an OpenSSH private key (--ssh was given)", path.display());
    }
    let key =
        Box::new(SecretKey::from_any(&bytes).with_context(|| format!("cannot use secret key '{}'", path.display()))?);
    // Without the privilege or the RLIMIT_MEMLOCK room, the key stays usable,
    // unlocked, and wsc says so (docs/security/key-lifecycle.md).
    let lock = match region::lock(std::ptr::from_ref::<SecretKey>(&key), std::mem::size_of::<SecretKey>()) {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!("warning: cannot lock the secret key in memory ({e}); it may reach swap");
            None
        }
    };
    Ok(LoadedSecret { key, _lock: lock })
}

/// Applies `exposure` to a key file whose permission bits are `mode`
/// (`None` where the platform has none).
fn check_exposure(path: &Path, mode: Option<u32>, exposure: Exposure) -> Result<()> {
    let Some(mode) = mode.map(|m| m & 0o777).filter(|m| m & wsc_pki::EXPOSED_KEY_BITS != 0) else {
        return Ok(());
    };
    match exposure {
        Exposure::Warn => {
            eprintln!("warning: secret key '{}' is readable by others (mode {mode:o}); chmod 600 it", path.display());
        }
        Exposure::Refuse { allow_readable: true } => {}
        Exposure::Refuse { allow_readable: false } => {
            return Err(anyhow::Error::new(wsc_pki::PkiError::KeyFileExposed { mode })
                .context(format!("cannot use secret key '{}' (--allow-readable-key uses it anyway)", path.display())));
        }
    }
    Ok(())
}

/// Loads public keys. A plain key file gives one key; with `ssh`, every
/// supported line of an OpenSSH file gives one key each.
pub(crate) fn load_public(path: &Path, ssh: bool) -> Result<Vec<PublicKey>> {
    let bytes = files::read_small(path, 1024 * 1024, "public key")?;
    let ctx = || format!("cannot use public key '{}'", path.display());
    if ssh {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| anyhow::anyhow!("'{}' is not an OpenSSH public key file", path.display()))?;
        return PublicKey::from_openssh(text).with_context(ctx);
    }
    Ok(vec![PublicKey::from_any(&bytes).with_context(ctx)?])
}

#[cfg(test)]
mod tests {
    /// Locked memory of this process, from /proc (Linux).
    fn locked_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmLck:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn loaded_secret_keys_are_locked_in_memory() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2/keys/k1.sk");
        let before = locked_kib();
        let key = super::load_secret(&path, false, super::Exposure::Warn).expect("k1");
        assert!(locked_kib() > before, "the page holding the key is locked (VmLck grew)");
        drop(key);
        assert_eq!(locked_kib(), before, "unlocked after the key is dropped");
    }
}
