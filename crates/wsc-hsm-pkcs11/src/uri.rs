//! `pkcs11:` URIs (RFC 7512): which module, token and key to use.
//!
//! Supported path attributes: `token`, `manufacturer`, `serial`, `model`,
//! `slot-id`, `object`, `id` and `type` (`private` or `public`). Supported
//! query attribute: `module-path`. A PIN in the URI (`pin-value`,
//! `pin-source`) is refused: PINs come from the caller, never from a
//! command line. Other attributes are refused rather than ignored, so a
//! typo cannot silently select a different key.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Why a `pkcs11:` URI was refused. Messages never repeat a PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The text does not start with `pkcs11:`.
    #[error("not a PKCS#11 URI (expected `pkcs11:token=...;object=...`)")]
    Scheme,
    /// An attribute without `=`.
    #[error("PKCS#11 URI attribute `{0}` has no value")]
    Malformed(String),
    /// A bad `%XX` escape or a value that is not UTF-8.
    #[error("PKCS#11 URI attribute `{0}` has an invalid percent-encoding")]
    Encoding(String),
    /// An attribute given twice.
    #[error("PKCS#11 URI attribute `{0}` is given more than once")]
    Duplicate(String),
    /// An attribute wsc does not handle.
    #[error("PKCS#11 URI attribute `{0}` is not supported")]
    Unsupported(String),
    /// `pin-value` or `pin-source`; the value is not repeated.
    #[error("PKCS#11 URI must not carry a PIN (`{0}`); pass the PIN separately")]
    PinInUri(&'static str),
    /// A `type` other than `private` or `public`.
    #[error("PKCS#11 URI `type` must be `private` or `public`")]
    ObjectType,
    /// A `slot-id` that is not a decimal number.
    #[error("PKCS#11 URI `slot-id` must be a decimal number")]
    SlotId,
    /// A `module-path` that is not absolute.
    #[error("PKCS#11 module path must be absolute")]
    RelativeModulePath,
}

/// A parsed `pkcs11:` URI. Holds no secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// Token label (`token`).
    pub token: Option<String>,
    /// Token manufacturer (`manufacturer`).
    pub manufacturer: Option<String>,
    /// Token serial number (`serial`).
    pub serial: Option<String>,
    /// Token model (`model`).
    pub model: Option<String>,
    /// Slot id (`slot-id`).
    pub slot_id: Option<u64>,
    /// Object label (`object`, CKA_LABEL).
    pub object: Option<String>,
    /// Object id (`id`, CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// Object type (`type`): `private` or `public`; only checked, the
    /// signer always uses the pair.
    pub object_type: Option<String>,
    /// Absolute path of the PKCS#11 module (`module-path`).
    pub module_path: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// Parses a URI such as
    /// `pkcs11:token=wsc;object=signing-key?module-path=/usr/lib/softhsm/libsofthsm2.so`.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let rest = text.strip_prefix("pkcs11:").ok_or(UriError::Scheme)?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr.split_once('=').ok_or_else(|| UriError::Malformed(attr.to_string()))?;
            match name {
                "token" => set(&mut uri.token, name, text_value(name, value)?)?,
                "manufacturer" => set(&mut uri.manufacturer, name, text_value(name, value)?)?,
                "serial" => set(&mut uri.serial, name, text_value(name, value)?)?,
                "model" => set(&mut uri.model, name, text_value(name, value)?)?,
                "object" => set(&mut uri.object, name, text_value(name, value)?)?,
                "id" => set(&mut uri.id, name, decode(name, value)?)?,
                "slot-id" => {
                    let id = text_value(name, value)?.parse().map_err(|_| UriError::SlotId)?;
                    set(&mut uri.slot_id, name, id)?;
                }
                "type" => {
                    let t = text_value(name, value)?;
                    if t != "private" && t != "public" {
                        return Err(UriError::ObjectType);
                    }
                    set(&mut uri.object_type, name, t)?;
                }
                other => return Err(UriError::Unsupported(other.to_string())),
            }
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')).filter(|a| !a.is_empty()) {
            let (name, value) = attr.split_once('=').ok_or_else(|| UriError::Malformed(attr.to_string()))?;
            match name {
                "module-path" => {
                    let p = PathBuf::from(text_value(name, value)?);
                    if !p.is_absolute() {
                        return Err(UriError::RelativeModulePath);
                    }
                    set(&mut uri.module_path, name, p)?;
                }
                "pin-value" => return Err(UriError::PinInUri("pin-value")),
                "pin-source" => return Err(UriError::PinInUri("pin-source")),
                other => return Err(UriError::Unsupported(other.to_string())),
            }
        }
        Ok(uri)
    }

    /// The URI without the module path: names the token and key, for
    /// logs and key ids.
    pub fn key_uri(&self) -> String {
        let mut parts = Vec::new();
        let texts = [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("serial", &self.serial),
            ("model", &self.model),
            ("object", &self.object),
        ];
        for (name, value) in texts {
            if let Some(v) = value {
                parts.push(format!("{name}={}", encode(v.as_bytes())));
            }
        }
        if let Some(slot) = self.slot_id {
            parts.push(format!("slot-id={slot}"));
        }
        if let Some(id) = &self.id {
            // Ids are binary: every byte is escaped.
            parts.push(format!("id={}", id.iter().map(|b| format!("%{b:02X}")).collect::<String>()));
        }
        if let Some(t) = &self.object_type {
            parts.push(format!("type={t}"));
        }
        format!("pkcs11:{}", parts.join(";"))
    }
}

impl FromStr for Pkcs11Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        Pkcs11Uri::parse(s)
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key_uri())?;
        if let Some(p) = &self.module_path {
            write!(f, "?module-path={}", encode(p.to_string_lossy().as_bytes()))?;
        }
        Ok(())
    }
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::Duplicate(name.to_string()));
    }
    *slot = Some(value);
    Ok(())
}

fn text_value(name: &str, value: &str) -> Result<String, UriError> {
    String::from_utf8(decode(name, value)?).map_err(|_| UriError::Encoding(name.to_string()))
}

/// Percent-decodes one attribute value.
fn decode(name: &str, value: &str) -> Result<Vec<u8>, UriError> {
    let bad = || UriError::Encoding(name.to_string());
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let uri = Pkcs11Uri::parse("pkcs11:token=wsc;object=signing-key?module-path=/usr/lib/softhsm/libsofthsm2.so")
            .expect("valid URI");
        assert_eq!(uri.token.as_deref(), Some("wsc"));
        assert_eq!(uri.object.as_deref(), Some("signing-key"));
        assert_eq!(uri.module_path, Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(uri.key_uri(), "pkcs11:token=wsc;object=signing-key");
    }

    #[test]
    fn decodes_percent_escapes_and_binary_ids() {
        let uri = Pkcs11Uri::parse("pkcs11:token=my%20token;id=%01%ff;type=private;slot-id=7").expect("valid URI");
        assert_eq!(uri.token.as_deref(), Some("my token"));
        assert_eq!(uri.id, Some(vec![0x01, 0xff]));
        assert_eq!(uri.slot_id, Some(7));
        assert_eq!(uri.key_uri(), "pkcs11:token=my%20token;slot-id=7;id=%01%FF;type=private");
        assert_eq!(Pkcs11Uri::parse(&uri.to_string()), Ok(uri));
    }

    #[test]
    fn refuses_pins_without_echoing_them() {
        let err = Pkcs11Uri::parse("pkcs11:token=wsc;object=k?pin-value=sentinel-4711").expect_err("PIN refused");
        assert_eq!(err, UriError::PinInUri("pin-value"));
        assert!(!err.to_string().contains("sentinel-4711"));
        assert!(!format!("{err:?}").contains("sentinel-4711"));
        let err = Pkcs11Uri::parse("pkcs11:object=k?pin-source=file:/tmp/pin").expect_err("PIN refused");
        assert_eq!(err, UriError::PinInUri("pin-source"));
    }

    #[test]
    fn refuses_malformed_and_unknown_input() {
        assert_eq!(Pkcs11Uri::parse("pkcs12:token=a"), Err(UriError::Scheme));
        assert_eq!(Pkcs11Uri::parse("pkcs11:token"), Err(UriError::Malformed("token".into())));
        assert_eq!(Pkcs11Uri::parse("pkcs11:token=a;token=b"), Err(UriError::Duplicate("token".into())));
        assert_eq!(Pkcs11Uri::parse("pkcs11:tokn=a"), Err(UriError::Unsupported("tokn".into())));
        assert_eq!(Pkcs11Uri::parse("pkcs11:id=%0"), Err(UriError::Encoding("id".into())));
        assert_eq!(Pkcs11Uri::parse("pkcs11:object=%ff"), Err(UriError::Encoding("object".into())));
        assert_eq!(Pkcs11Uri::parse("pkcs11:type=cert"), Err(UriError::ObjectType));
        assert_eq!(Pkcs11Uri::parse("pkcs11:slot-id=x"), Err(UriError::SlotId));
        assert_eq!(Pkcs11Uri::parse("pkcs11:object=k?module-path=libsofthsm2.so"), Err(UriError::RelativeModulePath));
        assert_eq!(
            Pkcs11Uri::parse("pkcs11:object=k?module-name=softhsm2"),
            Err(UriError::Unsupported("module-name".into()))
        );
    }
}
