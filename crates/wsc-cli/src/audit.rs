//! The audit log: one JSON object per line for every signing and
//! verification (`--audit-log FILE`), written through `tracing`.
//!
//! Commands emit `tracing` events with the target `wsc::audit`; when
//! `--audit-log` is given, a subscriber scoped to this command (never the
//! process-wide default) appends them to the file. Events carry what was
//! signed or verified, by which key or identity, the content digest, the
//! result and a correlation id; never a secret (text fields are redacted
//! once more with the signer URI rules before they are written).

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The target of audit events.
pub(crate) const TARGET: &str = "wsc::audit";

/// Appends audit events to a file, one JSON object per line.
pub(crate) struct AuditLog {
    file: Mutex<File>,
    correlation_id: String,
    next_span: AtomicU64,
}

impl AuditLog {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open audit log '{}'", path.display()))?;
        let mut id = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        let correlation_id = id.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        Ok(AuditLog { file: Mutex::new(file), correlation_id, next_span: AtomicU64::new(1) })
    }
}

struct Fields(Map<String, Value>);

/// Text fields go through the URI redaction: a PIN put in a signer URI
/// never reaches the log, whichever message quotes it.
fn text(value: &str) -> Value {
    Value::String(crate::hardware::redact_message(value).into_owned())
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), text(&format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), text(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Value::Bool(value));
    }
}

impl Subscriber for AuditLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == TARGET
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        fields.0.insert("time_unix".into(), Value::from(secs));
        fields.0.insert("correlation_id".into(), Value::String(self.correlation_id.clone()));
        fields.0.insert("wsc_version".into(), Value::String(env!("CARGO_PKG_VERSION").into()));
        let mut line = Value::Object(fields.0).to_string();
        line.push('\n');
        if let Ok(mut f) = self.file.lock() {
            // An audit write that fails must not pass silently.
            if f.write_all(line.as_bytes()).and_then(|()| f.flush()).is_err() {
                eprintln!("error: cannot write to the audit log");
            }
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
