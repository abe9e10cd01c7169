//! The CNCF wasm OCI artifact (tag-runtime `wasm-oci-artifact`): building
//! its config and manifest for a push, and checking them on a pull.
//!
//! An artifact is an OCI image manifest without `artifactType`, whose
//! config has the media type [`WASM_CONFIG`] and whose only layer is the
//! module or component, [`WASM_LAYER`]. The config says `architecture:
//! "wasm"`, `os: "wasip1"` for a core module or `"wasip2"` for a component,
//! lists the layer digests, and for a component names its top-level
//! imports and exports. Nothing here does I/O.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{OciError, cut};
use crate::registry::{Digest, OCI_MANIFEST};

/// The config media type of a wasm artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";

/// The media type of the wasm layer.
pub const WASM_LAYER: &str = "application/wasm";

/// The layer annotation naming the file.
pub const TITLE: &str = "org.opencontainers.image.title";

/// The largest config read on a pull.
pub const MAX_CONFIG: u64 = 1024 * 1024;

/// What a wasm layer holds, as the config's `os` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A core module: `os` is `wasip1`.
    Module,
    /// A component: `os` is `wasip2`.
    Component,
}

impl WasmKind {
    /// The config's `os` value.
    pub fn os(self) -> &'static str {
        match self {
            WasmKind::Module => "wasip1",
            WasmKind::Component => "wasip2",
        }
    }

    /// What the first 8 bytes say: a module (version 1) or a component
    /// (layer 1, version 0x0d); `None` for anything else.
    pub fn of_preamble(bytes: &[u8]) -> Option<WasmKind> {
        match bytes.get(..8)? {
            [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00] => Some(WasmKind::Module),
            [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00] => Some(WasmKind::Component),
            _ => None,
        }
    }
}

/// A component's top-level import and export names, in the order of the
/// binary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ComponentNames {
    /// Import names (`wasi:cli/environment@0.2.0`, …).
    pub imports: Vec<String>,
    /// Export names.
    pub exports: Vec<String>,
}

/// What describes the artifact besides the module.
#[derive(Debug, Clone)]
pub struct ArtifactInfo<'a> {
    /// The layer's `org.opencontainers.image.title` (a file name).
    pub title: &'a str,
    /// The config's `author`, if any.
    pub author: Option<&'a str>,
    /// The config's `created` (whole seconds, UTC). A reproducible push
    /// passes a fixed time (`SOURCE_DATE_EPOCH`).
    pub created: SystemTime,
    /// The manifest's annotations.
    pub annotations: &'a BTreeMap<String, String>,
}

/// An artifact ready to push: its config and manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Artifact {
    /// Module or component.
    pub kind: WasmKind,
    /// The layer's digest.
    pub layer_digest: Digest,
    /// The layer's size.
    pub layer_size: u64,
    /// The config JSON.
    pub config: Vec<u8>,
    /// The manifest JSON; its SHA-256 is [`digest`](Self::digest).
    pub manifest: Vec<u8>,
    /// The manifest's digest.
    pub digest: Digest,
}

/// Builds the artifact of `module`: the same inputs give the same bytes.
pub fn build(module: &[u8], info: &ArtifactInfo<'_>) -> Result<Artifact, OciError> {
    let kind = WasmKind::of_preamble(module).ok_or(OciError::NotWasm {
        reason: "it does not start with the preamble of a module (version 1) or a component (version 0x0d)",
    })?;
    let component = match kind {
        WasmKind::Module => None,
        WasmKind::Component => {
            let names = component_names(module)?;
            Some(WireComponent { imports: Some(names.imports), exports: Some(names.exports), target: None })
        }
    };
    let layer_digest = Digest::of(module);
    let config = WireConfig {
        created: Some(rfc3339(info.created)?),
        author: info.author.map(str::to_string),
        architecture: Some(ARCHITECTURE.to_string()),
        os: Some(kind.os().to_string()),
        layer_digests: Some(vec![layer_digest.to_string()]),
        component,
    };
    let config = serde_json::to_vec(&config).map_err(|source| json_error("wasm config to push", source))?;
    let mut layer_annotations = BTreeMap::new();
    layer_annotations.insert(TITLE.to_string(), info.title.to_string());
    let manifest = WireManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: WireDescriptor {
            media_type: WASM_CONFIG.to_string(),
            digest: Digest::of(&config).to_string(),
            size: config.len() as u64,
            annotations: None,
        },
        layers: vec![WireDescriptor {
            media_type: WASM_LAYER.to_string(),
            digest: layer_digest.to_string(),
            size: module.len() as u64,
            annotations: Some(layer_annotations),
        }],
        annotations: (!info.annotations.is_empty()).then(|| info.annotations.clone()),
    };
    let manifest = serde_json::to_vec(&manifest).map_err(|source| json_error("wasm manifest to push", source))?;
    Ok(Artifact {
        kind,
        layer_digest,
        layer_size: module.len() as u64,
        digest: Digest::of(&manifest),
        config,
        manifest,
    })
}

/// The top-level import and export names of a component (nested modules
/// and components are passed over).
pub fn component_names(component: &[u8]) -> Result<ComponentNames, OciError> {
    use wasmparser::{Parser, Payload};
    let bad = |e: wasmparser::BinaryReaderError| OciError::ComponentNames { source: Box::new(e) };
    let mut names = ComponentNames::default();
    // Nesting depth: each nested module or component ends with its own `End`.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        match payload.map_err(bad)? {
            Payload::Version { encoding: wasmparser::Encoding::Module, .. } if depth == 0 => {
                return Err(OciError::NotWasm { reason: "a core module has no component imports or exports" });
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth == 0 => break,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(r) if depth == 0 => {
                for import in r {
                    names.imports.push(import.map_err(bad)?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(r) if depth == 0 => {
                for export in r {
                    names.exports.push(export.map_err(bad)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// A manifest read on a pull, checked against the layout: the config and
/// layer descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestLayout {
    /// The config blob's digest.
    pub config_digest: Digest,
    /// The config blob's size (at most [`MAX_CONFIG`]).
    pub config_size: u64,
    /// The layer's digest.
    pub layer_digest: Digest,
    /// The layer's size.
    pub layer_size: u64,
    /// The layer's title annotation, if any.
    pub title: Option<String>,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A config read on a pull, checked against the layout and the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WasmConfig {
    /// Module (`wasip1`) or component (`wasip2`).
    pub kind: WasmKind,
    /// `created`, as written (not checked).
    pub created: Option<String>,
    /// `author`, if any.
    pub author: Option<String>,
    /// `component`, if given.
    pub component: Option<ComponentNames>,
}

/// Checks a manifest of `media_type` (the registry's `Content-Type`)
/// against the layout. `artifact` names it in errors.
pub fn check_manifest(artifact: &str, media_type: &str, bytes: &[u8]) -> Result<ManifestLayout, OciError> {
    let wrong = |field: &'static str, found: String, expected: &'static str| OciError::Layout {
        artifact: artifact.to_string(),
        field,
        found: cut(&found),
        expected,
    };
    if media_type != OCI_MANIFEST {
        return Err(wrong("the manifest's Content-Type", format!("{media_type:?}"), "an OCI image manifest"));
    }
    let m: WireManifest = serde_json::from_slice(bytes).map_err(|source| OciError::Json {
        url: artifact.to_string(),
        what: "wasm manifest",
        source,
    })?;
    if m.schema_version != 2 {
        return Err(wrong("schemaVersion", m.schema_version.to_string(), "2"));
    }
    if let Some(t) = &m.media_type {
        if t != OCI_MANIFEST {
            return Err(wrong("mediaType", format!("{t:?}"), "the OCI image manifest type"));
        }
    }
    if m.config.media_type != WASM_CONFIG {
        return Err(wrong(
            "config.mediaType",
            format!("{:?}", m.config.media_type),
            "application/vnd.wasm.config.v0+json",
        ));
    }
    let [layer] = m.layers.as_slice() else {
        return Err(wrong("layers", format!("{} layers", m.layers.len()), "exactly one application/wasm layer"));
    };
    if layer.media_type != WASM_LAYER {
        return Err(wrong("layers[0].mediaType", format!("{:?}", layer.media_type), "application/wasm"));
    }
    if m.config.size > MAX_CONFIG {
        return Err(wrong("config.size", m.config.size.to_string(), "at most 1 MiB"));
    }
    Ok(ManifestLayout {
        config_digest: Digest::parse(&m.config.digest, "the manifest's config.digest")?,
        config_size: m.config.size,
        layer_digest: Digest::parse(&layer.digest, "the manifest's layers[0].digest")?,
        layer_size: layer.size,
        title: layer.annotations.as_ref().and_then(|a| a.get(TITLE)).cloned(),
        annotations: m.annotations.unwrap_or_default(),
    })
}

/// Checks a config against the layout and the manifest it came with:
/// `architecture` is `wasm`, `os` is `wasip1` or `wasip2`, and
/// `layerDigests` is exactly the layer's digest. Fields written as `null`
/// count as absent.
pub fn check_config(artifact: &str, bytes: &[u8], manifest: &ManifestLayout) -> Result<WasmConfig, OciError> {
    let wrong = |field: &'static str, found: String, expected: &'static str| OciError::Layout {
        artifact: artifact.to_string(),
        field,
        found: cut(&found),
        expected,
    };
    let c: WireConfig = serde_json::from_slice(bytes).map_err(|source| OciError::Json {
        url: artifact.to_string(),
        what: "wasm config",
        source,
    })?;
    let shown = |v: &Option<String>| v.as_ref().map_or_else(|| "absent".to_string(), |s| format!("{s:?}"));
    if c.architecture.as_deref() != Some(ARCHITECTURE) {
        return Err(wrong("config.architecture", shown(&c.architecture), "\"wasm\""));
    }
    let kind = match c.os.as_deref() {
        Some("wasip1") => WasmKind::Module,
        Some("wasip2") => WasmKind::Component,
        _ => return Err(wrong("config.os", shown(&c.os), "\"wasip1\" or \"wasip2\"")),
    };
    let expected = [manifest.layer_digest.to_string()];
    match &c.layer_digests {
        Some(list) if list.as_slice() == expected => {}
        Some(list) => return Err(wrong("config.layerDigests", format!("{list:?}"), "[the layer's digest]")),
        None => return Err(wrong("config.layerDigests", "absent".into(), "[the layer's digest]")),
    }
    let component = c
        .component
        .map(|w| ComponentNames { imports: w.imports.unwrap_or_default(), exports: w.exports.unwrap_or_default() });
    Ok(WasmConfig { kind, created: c.created, author: c.author, component })
}

/// The config's `architecture`.
const ARCHITECTURE: &str = "wasm";

/// The manifest as written and read.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireManifest {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    config: WireDescriptor,
    layers: Vec<WireDescriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

/// The config as written and read: every field may be absent or `null`
/// (oci-wasm writes `"author": null`), and unknown fields are ignored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    author: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    layer_digests: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    component: Option<WireComponent>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireComponent {
    #[serde(default)]
    imports: Option<Vec<String>>,
    #[serde(default)]
    exports: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
}

fn json_error(what: &'static str, source: serde_json::Error) -> OciError {
    OciError::Json { url: "(built here)".into(), what, source }
}

/// `time` as RFC 3339 in UTC, whole seconds: `2026-01-01T00:00:00Z`.
pub fn rfc3339(time: SystemTime) -> Result<String, OciError> {
    let secs =
        time.duration_since(UNIX_EPOCH).map_err(|_| OciError::InvalidTime { reason: "is before 1970" })?.as_secs();
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        return Err(OciError::InvalidTime { reason: "is after the year 9999" });
    }
    Ok(format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn module() -> Vec<u8> {
        b"\0asm\x01\0\0\0".to_vec()
    }

    fn info<'a>(annotations: &'a BTreeMap<String, String>) -> ArtifactInfo<'a> {
        ArtifactInfo { title: "app.wasm", author: None, created: at(1_767_225_600), annotations }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(at(0)).expect("epoch"), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)).expect("leap day"), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_767_225_599)).expect("new year's eve"), "2025-12-31T23:59:59Z");
        assert_eq!(rfc3339(at(253_402_300_799)).expect("the last second"), "9999-12-31T23:59:59Z");
        assert!(matches!(rfc3339(at(253_402_300_800)), Err(OciError::InvalidTime { .. })));
        let before = UNIX_EPOCH.checked_sub(Duration::from_secs(1)).expect("1969");
        assert!(matches!(rfc3339(before), Err(OciError::InvalidTime { .. })));
    }

    #[test]
    fn a_module_artifact_is_the_cncf_layout_and_reproducible() {
        let mut annotations = BTreeMap::new();
        annotations.insert("org.opencontainers.image.version".to_string(), "1.0".to_string());
        let a = build(&module(), &info(&annotations)).expect("built");
        assert_eq!(a, build(&module(), &info(&annotations)).expect("again"), "the same bytes");
        assert_eq!(a.kind, WasmKind::Module);
        let config: serde_json::Value = serde_json::from_slice(&a.config).expect("JSON");
        assert_eq!(
            config,
            serde_json::json!({
                "created": "2026-01-01T00:00:00Z",
                "architecture": "wasm",
                "os": "wasip1",
                "layerDigests": [Digest::of(&module()).to_string()],
            })
        );
        let manifest: serde_json::Value = serde_json::from_slice(&a.manifest).expect("JSON");
        assert_eq!(manifest["mediaType"], OCI_MANIFEST);
        assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG);
        assert_eq!(manifest["config"]["digest"], Digest::of(&a.config).to_string());
        assert_eq!(manifest["layers"][0]["mediaType"], WASM_LAYER);
        assert_eq!(manifest["layers"][0]["annotations"][TITLE], "app.wasm");
        assert_eq!(manifest["annotations"]["org.opencontainers.image.version"], "1.0");
        assert!(manifest.get("artifactType").is_none());
        assert_eq!(a.digest, Digest::of(&a.manifest));

        let layout = check_manifest("x", OCI_MANIFEST, &a.manifest).expect("its own manifest");
        assert_eq!(layout.layer_digest, a.layer_digest);
        assert_eq!(layout.title.as_deref(), Some("app.wasm"));
        let config = check_config("x", &a.config, &layout).expect("its own config");
        assert_eq!(config.kind, WasmKind::Module);

        let later = ArtifactInfo { created: at(1_767_225_601), ..info(&annotations) };
        assert_ne!(build(&module(), &later).expect("built").digest, a.digest, "created is in the config");
    }

    #[test]
    fn not_wasm_is_refused() {
        let none = BTreeMap::new();
        assert!(matches!(build(b"\0asm\x02\0\0\0", &info(&none)), Err(OciError::NotWasm { .. })));
        assert!(matches!(build(b"", &info(&none)), Err(OciError::NotWasm { .. })));
        let broken = b"\0asm\x0d\0\x01\0\x0a\x05".to_vec();
        assert!(matches!(build(&broken, &info(&none)), Err(OciError::ComponentNames { .. })));
    }

    #[test]
    fn a_component_names_its_top_level_imports_and_exports() {
        let hello = include_bytes!("../../../testdata/components/hello.wasm");
        let names = component_names(hello).expect("names");
        assert!(names.exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")), "{names:?}");
        assert!(names.imports.iter().any(|i| i.starts_with("wasi:cli/stdout@0.2.")), "{names:?}");
        // The adapter module inside imports `wasi_snapshot_preview1`-era names; they are not the component's.
        assert!(names.imports.iter().all(|i| i.starts_with("wasi:")), "{names:?}");
        let none = BTreeMap::new();
        let a = build(hello, &info(&none)).expect("built");
        assert_eq!(a.kind, WasmKind::Component);
        let config: serde_json::Value = serde_json::from_slice(&a.config).expect("JSON");
        assert_eq!(config["os"], "wasip2");
        assert_eq!(config["component"]["exports"], serde_json::json!(names.exports));
        assert_eq!(config["component"]["imports"], serde_json::json!(names.imports));
        assert!(matches!(component_names(&module()), Err(OciError::NotWasm { .. })));
    }

    fn manifest_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let none = BTreeMap::new();
        let a = build(&module(), &info(&none)).expect("built");
        let mut m: serde_json::Value = serde_json::from_slice(&a.manifest).expect("JSON");
        edit(&mut m);
        serde_json::to_vec(&m).expect("JSON")
    }

    fn field_of(e: OciError) -> &'static str {
        match e {
            OciError::Layout { field, .. } => field,
            other => panic!("expected a layout error, got {other:?}"),
        }
    }

    #[test]
    fn manifests_off_the_layout_name_the_field() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (manifest_with(|m| m["schemaVersion"] = 1.into()), "schemaVersion"),
            (manifest_with(|m| m["mediaType"] = "application/vnd.oci.image.index.v1+json".into()), "mediaType"),
            (
                manifest_with(|m| m["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into()),
                "config.mediaType",
            ),
            (
                manifest_with(|m| m["layers"][0]["mediaType"] = "application/vnd.wasm.content.layer.v1+wasm".into()),
                "layers[0].mediaType",
            ),
            (manifest_with(|m| m["config"]["size"] = (MAX_CONFIG + 1).into()), "config.size"),
            (
                manifest_with(|m| {
                    let layer = m["layers"][0].clone();
                    m["layers"].as_array_mut().expect("layers").push(layer);
                }),
                "layers",
            ),
            (manifest_with(|m| m["layers"] = serde_json::json!([])), "layers"),
        ];
        for (bytes, field) in cases {
            assert_eq!(field_of(check_manifest("x", OCI_MANIFEST, &bytes).expect_err(field)), field);
        }
        let ok = manifest_with(|_| {});
        assert_eq!(
            field_of(check_manifest("x", "application/vnd.oci.image.index.v1+json", &ok).expect_err("type")),
            "the manifest's Content-Type"
        );
        // Without mediaType, the Content-Type decides.
        let bare = manifest_with(|m| {
            m.as_object_mut().expect("object").remove("mediaType");
        });
        check_manifest("x", OCI_MANIFEST, &bare).expect("no mediaType in the body");
        assert!(matches!(check_manifest("x", OCI_MANIFEST, b"[]"), Err(OciError::Json { .. })));
        let bad_digest = manifest_with(|m| m["layers"][0]["digest"] = "sha512:00".into());
        assert!(matches!(check_manifest("x", OCI_MANIFEST, &bad_digest), Err(OciError::InvalidDigest { .. })));
    }

    #[test]
    fn configs_off_the_layout_name_the_field_and_nulls_are_absent() {
        let layout = check_manifest("x", OCI_MANIFEST, &manifest_with(|_| {})).expect("layout");
        let digest = layout.layer_digest.to_string();
        let config = |v: serde_json::Value| serde_json::to_vec(&v).expect("JSON");
        // oci-wasm's shape: nulls for the author, the component and its target.
        let oci_wasm = config(serde_json::json!({
            "created": "2026-01-01T00:00:00.123456Z",
            "author": null,
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [digest],
            "component": {"exports": ["wasi:cli/run@0.2.0"], "imports": ["wasi:io/streams@0.2.0"], "target": null},
            "extra": {"ignored": true},
        }));
        let c = check_config("x", &oci_wasm, &layout).expect("accepted");
        assert_eq!((c.kind, c.author.as_deref()), (WasmKind::Component, None));
        let names = c.component.expect("component");
        assert_eq!(names.exports, ["wasi:cli/run@0.2.0"]);
        assert_eq!(names.imports, ["wasi:io/streams@0.2.0"]);
        let null_component = config(serde_json::json!({
            "author": null, "architecture": "wasm", "os": "wasip1", "layerDigests": [digest], "component": null,
        }));
        assert_eq!(check_config("x", &null_component, &layout).expect("accepted").component, None);

        let cases = [
            (
                serde_json::json!({"architecture": "amd64", "os": "wasip1", "layerDigests": [digest]}),
                "config.architecture",
            ),
            (
                serde_json::json!({"architecture": null, "os": "wasip1", "layerDigests": [digest]}),
                "config.architecture",
            ),
            (serde_json::json!({"architecture": "wasm", "os": "linux", "layerDigests": [digest]}), "config.os"),
            (serde_json::json!({"architecture": "wasm", "layerDigests": [digest]}), "config.os"),
            (serde_json::json!({"architecture": "wasm", "os": "wasip1", "layerDigests": []}), "config.layerDigests"),
            (
                serde_json::json!({"architecture": "wasm", "os": "wasip1", "layerDigests": [digest, digest]}),
                "config.layerDigests",
            ),
            (serde_json::json!({"architecture": "wasm", "os": "wasip1", "layerDigests": null}), "config.layerDigests"),
            (
                serde_json::json!({"architecture": "wasm", "os": "wasip1", "layerDigests": [Digest::of(b"x").to_string()]}),
                "config.layerDigests",
            ),
        ];
        for (value, field) in cases {
            assert_eq!(field_of(check_config("x", &config(value), &layout).expect_err(field)), field);
        }
        assert!(matches!(check_config("x", b"{\"os\": 1}", &layout), Err(OciError::Json { .. })));
    }
}
