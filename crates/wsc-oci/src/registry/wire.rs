//! What registries send besides content: error bodies
//! (`{"errors":[{"code":…,"message":…}]}`), headers, media types, and the
//! deterministic JSON of the indexes written here.

use serde::Deserialize;
use wsc_pinning::reqwest::header::HeaderMap;

use crate::error::{OciError, cut};

/// The most of an error body read.
pub(crate) const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Registry errors shown in a message.
const SHOWN_ERRORS: usize = 4;

/// Characters kept of each error message.
const ERROR_TEXT: usize = 200;

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The registry's error codes and messages from an error body, or a
/// printable excerpt of a body that is not one.
pub(crate) fn detail(body: &[u8]) -> String {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        if !parsed.errors.is_empty() {
            let mut parts: Vec<String> = parsed
                .errors
                .iter()
                .take(SHOWN_ERRORS)
                .map(|e| {
                    let code = printable(e.code.as_deref().unwrap_or("(no code)"), ERROR_TEXT);
                    match e.message.as_deref() {
                        Some(m) if !m.is_empty() => format!("{code}: {}", printable(m, ERROR_TEXT)),
                        _ => code,
                    }
                })
                .collect();
            if parsed.errors.len() > SHOWN_ERRORS {
                parts.push(format!("and {} more", parsed.errors.len() - SHOWN_ERRORS));
            }
            return parts.join("; ");
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(ERROR_TEXT * 4)]);
    let text = printable(text.trim(), ERROR_TEXT);
    if text.is_empty() { "(empty body)".into() } else { text }
}

/// `s` cut to `max` characters, control characters replaced by spaces.
fn printable(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// A header's value as text, if present.
pub(crate) fn header<'h>(headers: &'h HeaderMap, url: &str, name: &'static str) -> Result<Option<&'h str>, OciError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| OciError::Header {
            url: url.to_string(),
            header: name,
            value: cut(&String::from_utf8_lossy(v.as_bytes())),
            reason: "is not visible ASCII",
        }),
    }
}

/// A media type without its parameters (`; charset=…`), lower case.
pub(crate) fn bare_media_type(value: &str) -> String {
    value.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// `Content-Length`, if present, as a number.
pub(crate) fn content_length(headers: &HeaderMap, url: &str) -> Result<Option<u64>, OciError> {
    match header(headers, url, "content-length")? {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| OciError::Header {
            url: url.to_string(),
            header: "Content-Length",
            value: cut(v),
            reason: "is not a number",
        }),
    }
}

/// The JSON of `value` with every object's keys in sorted order, so that
/// the same index always gives the same bytes (and digest).
pub(crate) fn canonical_json(value: &impl serde::Serialize, url: &str) -> Result<Vec<u8>, OciError> {
    let value = serde_json::to_value(value).map_err(|source| OciError::Json {
        url: url.to_string(),
        what: "image index written here",
        source,
    })?;
    serde_json::to_vec(&sorted(value)).map_err(|source| OciError::Json {
        url: url.to_string(),
        what: "image index written here",
        source,
    })
}

/// `value` with its objects rebuilt in key order (whatever map type
/// serde_json was built with).
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_codes_and_messages() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}},{"code":"DENIED"}]}"#;
        assert_eq!(detail(body), "MANIFEST_UNKNOWN: manifest unknown; DENIED");
        let many: Vec<String> = (0..6).map(|i| format!(r#"{{"code":"C{i}","message":"m"}}"#)).collect();
        let body = format!(r#"{{"errors":[{}]}}"#, many.join(","));
        assert_eq!(detail(body.as_bytes()), "C0: m; C1: m; C2: m; C3: m; and 2 more");
        assert_eq!(detail(b"404 page not found\n"), "404 page not found");
        assert_eq!(detail(b""), "(empty body)");
        assert_eq!(detail(b"a\x1b[31mb"), "a [31mb");
        let long = format!(r#"{{"errors":[{{"code":"X","message":"{}"}}]}}"#, "m".repeat(1000));
        assert!(detail(long.as_bytes()).chars().count() < 220);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": 3}});
        let bytes = canonical_json(&v, "test").expect("serializes");
        assert_eq!(bytes, br#"{"a":{"c":3,"d":[{"y":2,"z":1}]},"b":1}"#);
    }

    #[test]
    fn media_types_lose_their_parameters() {
        assert_eq!(bare_media_type("Application/JSON; charset=utf-8"), "application/json");
    }
}
