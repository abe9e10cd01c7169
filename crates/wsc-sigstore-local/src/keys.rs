//! Persistent key and file helpers.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::LocalError;

/// Writes `bytes` to `dir/name` through a temporary file and a rename.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), LocalError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| LocalError::io(format!("create {}", tmp.display()), e))?;
    f.write_all(bytes).map_err(|e| LocalError::io(format!("write {}", tmp.display()), e))?;
    f.sync_all().map_err(|e| LocalError::io(format!("sync {}", tmp.display()), e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| LocalError::io(format!("rename to {}", path.display()), e))
}

/// Reads `dir/name` as text, or `None` when it does not exist.
pub(crate) fn read_opt(dir: &Path, name: &str) -> Result<Option<String>, LocalError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LocalError::io(format!("read {}", path.display()), e)),
    }
}

/// Loads the P-256 key `dir/name` (PKCS#8 PEM), creating it (mode 0600) when missing.
pub(crate) fn load_or_create_key(dir: &Path, name: &str) -> Result<SigningKey, LocalError> {
    if let Some(pem) = read_opt(dir, name)? {
        return SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| LocalError::Invalid(format!("{}: not a PKCS#8 P-256 key: {e}", dir.join(name).display())));
    }
    let key = SigningKey::random(&mut rand_core::OsRng);
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(LocalError::crypto)?;
    write_atomic(dir, name, pem.as_bytes(), 0o600)?;
    Ok(key)
}

/// Loads the Ed25519 key `dir/name` (PKCS#8 PEM), creating it (mode 0600) when missing.
pub(crate) fn load_or_create_ed25519_key(dir: &Path, name: &str) -> Result<ed25519_dalek::SigningKey, LocalError> {
    use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
    if let Some(pem) = read_opt(dir, name)? {
        return ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| LocalError::Invalid(format!("{}: not a PKCS#8 Ed25519 key: {e}", dir.join(name).display())));
    }
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(LocalError::crypto)?;
    write_atomic(dir, name, pem.as_bytes(), 0o600)?;
    Ok(key)
}

/// DER SPKI of a P-256 signing key's public half.
pub(crate) fn spki_der(key: &SigningKey) -> Result<Vec<u8>, LocalError> {
    Ok(key.verifying_key().to_public_key_der().map_err(LocalError::crypto)?.into_vec())
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// RFC 3339 time with a `Z` suffix and whole seconds.
pub(crate) fn rfc3339(unix: i64) -> Result<String, LocalError> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).map_err(LocalError::crypto)?;
    let f = time::format_description::well_known::Rfc3339;
    t.format(&f).map_err(LocalError::crypto)
}

/// The time the instance's keys were created, persisted in `dir/created` (Unix seconds).
pub(crate) fn creation_time(dir: &Path) -> Result<i64, LocalError> {
    if let Some(text) = read_opt(dir, "created")? {
        return text
            .trim()
            .parse::<i64>()
            .map_err(|_| LocalError::Invalid(format!("{}: not a Unix time", dir.join("created").display())));
    }
    let now = unix_now();
    write_atomic(dir, "created", format!("{now}\n").as_bytes(), 0o644)?;
    Ok(now)
}

/// `SystemTime` for a Unix time in seconds (clamped at the epoch).
pub(crate) fn system_time(unix: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)
}
