//! `pkcs11:` URIs (RFC 7512): which module, token and key to use.
//!
//! Supported path attributes: `token`, `manufacturer`, `serial`, `model`,
//! `slot-id`, `object`, `id` and `type` (`private` or `public`). Supported
//! query attribute: `module-path`. A PIN in the URI (`pin-value`,
//! `pin-source`, in the path or the query) is refused: PINs come from the
//! caller, never from a command line. Other attributes are refused rather
//! than ignored, so a typo cannot silently select a different key.
//!
//! [`redact`] hides secret attribute values in a URI, and
//! [`redact_message`] in text that quotes one, before it is printed or
//! logged.

use std::borrow::Cow;
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
            let (name, value) = attr.split_once('=').ok_or_else(|| malformed(attr))?;
            let name = attribute_name(name);
            let name = name.as_ref();
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
                "pin-value" => return Err(UriError::PinInUri("pin-value")),
                "pin-source" => return Err(UriError::PinInUri("pin-source")),
                other => return Err(UriError::Unsupported(other.to_string())),
            }
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')).filter(|a| !a.is_empty()) {
            let (name, value) = attr.split_once('=').ok_or_else(|| malformed(attr))?;
            let name = attribute_name(name);
            let name = name.as_ref();
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

/// Hides the values of secret attributes in a URI: `pin-value`,
/// `pin-source` and any attribute whose name contains `pin`, `pass` or
/// `secret` (case-insensitive, percent-encoded or not, in the path or the
/// query) get the value `***`. A value runs to the next `;` or `&`, so one
/// that is not encoded as it should be is hidden whole. An attribute
/// without `=` that names a secret keeps its name only.
///
/// ```
/// use wsc_hsm_pkcs11::redact;
/// assert_eq!(redact("pkcs11:token=t;object=k?pin-value=1234"), "pkcs11:token=t;object=k?pin-value=***");
/// assert_eq!(redact("pkcs11:object=k;PIN%2Dvalue=12 34"), "pkcs11:object=k;PIN%2Dvalue=***");
/// assert_eq!(redact("pkcs11:object=k;pin-value:1234"), "pkcs11:object=k;pin-value:***");
/// assert_eq!(redact("pkcs11:token=t;object=k"), "pkcs11:token=t;object=k");
/// ```
pub fn redact(uri: &str) -> Cow<'_, str> {
    redact_values(uri, |c| c == ';' || c == '&')
}

/// Like [`redact`], for a message that may quote a URI: a value also ends
/// at white space or a quote. A last line of defence; redact a URI on its
/// own before quoting it.
pub fn redact_message(text: &str) -> Cow<'_, str> {
    redact_values(text, |c| matches!(c, ';' | '&' | '\'' | '"' | '`') || c.is_whitespace())
}

fn redact_values(text: &str, ends_value: impl Fn(char) -> bool + Copy) -> Cow<'_, str> {
    // Byte ranges of `text` to replace with `***`, in order.
    let mut hidden: Vec<(usize, usize)> = Vec::new();
    let mut search = 0;
    while let Some(eq) = text[search..].find('=').map(|i| i + search) {
        let start =
            text[..eq].char_indices().rev().find(|(_, c)| !is_name_char(*c)).map_or(0, |(i, c)| i + c.len_utf8());
        // Other values are searched too: a secret may hide behind a `?`.
        search = eq + 1;
        if start < eq && is_secret_name(&text[start..eq]) {
            let end = text[eq + 1..].find(ends_value).map_or(text.len(), |i| i + eq + 1);
            hidden.push((eq + 1, end));
            search = end.max(eq + 1);
        }
    }
    // Attributes without `=`: after `;`, `?`, `&` or a `pkcs11:` scheme.
    let starts = text.match_indices([';', '?', '&']).map(|(i, _)| i + 1);
    let starts = starts.chain(text.match_indices("pkcs11:").map(|(i, m)| i + m.len()));
    for start in starts {
        let end = text[start..].find(|c: char| c == '?' || ends_value(c)).map_or(text.len(), |i| i + start);
        let segment = &text[start..end];
        if segment.contains('=') || !is_secret_name(segment) || hidden.iter().any(|h| h.0 <= start && start < h.1) {
            continue;
        }
        // The name stays when something separates it from the rest; the
        // rest is hidden up to the end of a value, past any `?`.
        let from = segment.find(|c: char| !is_name_char(c)).map_or(start, |i| start + i + 1);
        let to = text[start..].find(ends_value).map_or(text.len(), |i| i + start);
        if from < to {
            hidden.push((from, to));
        }
    }
    if hidden.is_empty() {
        return Cow::Borrowed(text);
    }
    hidden.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (from, to) in hidden {
        if from < copied {
            continue;
        }
        out.push_str(&text[copied..from]);
        out.push_str("***");
        copied = to;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '%')
}

/// Whether an attribute name (as written, maybe percent-encoded) names a
/// secret.
fn is_secret_name(name: &str) -> bool {
    let name = attribute_name(name).to_ascii_lowercase();
    ["pin", "pass", "secret"].iter().any(|m| name.contains(m))
}

/// An attribute name, percent-decoded when that gives text.
fn attribute_name(name: &str) -> Cow<'_, str> {
    if !name.contains('%') {
        return Cow::Borrowed(name);
    }
    match decode(name, name).ok().and_then(|b| String::from_utf8(b).ok()) {
        Some(decoded) => Cow::Owned(decoded),
        None => Cow::Borrowed(name),
    }
}

/// An attribute without `=`; it is not repeated if it may hold a secret.
fn malformed(attr: &str) -> UriError {
    if is_secret_name(attr) {
        UriError::Malformed("(hidden: it may hold a secret)".to_string())
    } else {
        UriError::Malformed(attr.to_string())
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

    /// Secret URI attributes are hidden wherever they are and however
    /// they are spelt; other attributes are kept.
    #[test]
    fn redact_hides_secret_attributes() {
        let cases = [
            ("pkcs11:token=wsc;object=k?pin-value=S3NT", "pkcs11:token=wsc;object=k?pin-value=***"),
            ("pkcs11:token=wsc;pin-value=S3NT;object=k", "pkcs11:token=wsc;pin-value=***;object=k"),
            ("pkcs11:object=k?module-path=/m.so&pin-value=S3NT", "pkcs11:object=k?module-path=/m.so&pin-value=***"),
            ("pkcs11:object=k?pin%2Dvalue=%53%33NT", "pkcs11:object=k?pin%2Dvalue=***"),
            ("pkcs11:object=k?%70in-value=S3NT", "pkcs11:object=k?%70in-value=***"),
            ("pkcs11:object=k;PIN-VALUE=S3NT", "pkcs11:object=k;PIN-VALUE=***"),
            ("pkcs11:object=k?pin-source=/run/pin", "pkcs11:object=k?pin-source=***"),
            ("pkcs11:object=k;x-password=S3NT;y-secret=S3NT", "pkcs11:object=k;x-password=***;y-secret=***"),
            ("pkcs11:object=k?pin-value=S3NT?with=more", "pkcs11:object=k?pin-value=***"),
            ("pkcs11:object=k?pin-value=S3 NT'x", "pkcs11:object=k?pin-value=***"),
            ("pkcs11:object=k;pin-value:S3NT", "pkcs11:object=k;pin-value:***"),
            ("pkcs11:pin-value:S3?NT", "pkcs11:pin-value:***"),
            ("pkcs11:object=k;pinS3NT", "pkcs11:object=k;***"),
        ];
        for (text, want) in cases {
            assert_eq!(redact(text), want, "{text}");
            assert_eq!(redact(want), want, "redacting twice changes nothing");
        }
        let message = "error: bad URI 'pkcs11:object=k;pin-value=S3NT': no…pin=S3NT";
        assert_eq!(redact_message(message), "error: bad URI 'pkcs11:object=k;pin-value=***': no…pin=***");
        let message = "error: 'pkcs11:object=k;pin-value:S3NT': the token refused the PIN (incorrect PIN)";
        assert_eq!(
            redact_message(message),
            "error: 'pkcs11:object=k;pin-value:***': the token refused the PIN (incorrect PIN)",
            "words are not attributes"
        );
        let plain = "pkcs11:token=my%20token;object=k;id=%01?module-path=/usr/lib/x.so";
        assert!(matches!(redact(plain), Cow::Borrowed(t) if t == plain));
    }

    #[test]
    fn refuses_pins_in_the_path_and_encoded_names() {
        for uri in
            ["pkcs11:object=k;pin-value=S3NT", "pkcs11:object=k?pin%2Dvalue=S3NT", "pkcs11:object=k?%70in-value=x"]
        {
            assert_eq!(Pkcs11Uri::parse(uri), Err(UriError::PinInUri("pin-value")), "{uri}");
        }
        assert_eq!(Pkcs11Uri::parse("pkcs11:pin-source=/p;object=k"), Err(UriError::PinInUri("pin-source")));
        let err = Pkcs11Uri::parse("pkcs11:object=k;pin-value:S3NT").expect_err("malformed");
        assert!(!format!("{err} {err:?}").contains("S3NT"), "{err:?}");
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
