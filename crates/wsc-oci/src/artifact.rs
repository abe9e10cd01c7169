//! Pushing a wasm artifact, and pulling one in steps: [`resolve`] the
//! manifest and check the layout, then [`fetch_layer`] into the caller's
//! writer with the digest and size checked as it streams.

use std::io::Write;

use crate::error::OciError;
use crate::layout::{self, ArtifactInfo, ManifestLayout, WasmConfig, WasmKind};
use crate::registry::{Digest, Manifest, Reference, Registry};

/// The largest layer [`fetch_layer`] takes by default (1 GiB).
pub const DEFAULT_MAX_LAYER: u64 = 1 << 30;

/// Pushes `module` as a wasm artifact to `reference`: the layer, the
/// config, then the manifest under the reference's tag (or its digest
/// when it has no tag). A digest in the reference must be the manifest's.
/// Returns the manifest's digest.
pub fn push(
    registry: &Registry,
    reference: &Reference,
    module: &[u8],
    info: &ArtifactInfo<'_>,
) -> Result<Digest, OciError> {
    registry.check_registry(reference)?;
    let artifact = layout::build(module, info)?;
    if let Some(asked) = reference.digest() {
        if *asked != artifact.digest {
            return Err(OciError::DigestMismatch {
                url: reference.to_string(),
                check: "the digest in the reference",
                expected: asked.to_string(),
                actual: artifact.digest.to_string(),
            });
        }
    }
    let repository = reference.repository();
    registry.blob_upload(repository, module)?;
    registry.blob_upload(repository, &artifact.config)?;
    let target = match reference.tag() {
        Some(t) => t.to_string(),
        None => artifact.digest.to_string(),
    };
    registry.manifest_put(repository, &target, &artifact.manifest, crate::registry::OCI_MANIFEST)
}

/// A wasm artifact whose manifest and config were read and checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resolved {
    /// The reference, pinned to the manifest's digest.
    pub reference: Reference,
    /// The manifest as the registry stored it.
    pub manifest: Manifest,
    /// Its config and layer descriptors.
    pub layout: ManifestLayout,
    /// The config.
    pub config: WasmConfig,
}

/// Reads the manifest of `reference` (a digest in the reference must be
/// the bytes' SHA-256), checks it against the wasm layout, then reads the
/// config (at most [`layout::MAX_CONFIG`], digest and size checked) and
/// checks it against the layout and the manifest.
pub fn resolve(registry: &Registry, reference: &Reference) -> Result<Resolved, OciError> {
    let manifest = registry.manifest_get(reference, &[])?;
    let pinned = reference.with_digest(manifest.digest);
    let name = pinned.to_string();
    let layout = layout::check_manifest(&name, &manifest.media_type, &manifest.bytes)?;
    let config =
        registry.blob_get(reference.repository(), &layout.config_digest, layout.config_size, layout::MAX_CONFIG)?;
    let config = layout::check_config(&name, &config, &layout)?;
    Ok(Resolved { reference: pinned, manifest, layout, config })
}

/// Streams the layer of `resolved` into `out`: at most `max_size` bytes
/// (see [`DEFAULT_MAX_LAYER`]), `Content-Length`, size and digest checked
/// as it goes (so memory stays flat), and the layer must be the kind the
/// config's `os` names. On an error `out` holds a partial or wrong layer:
/// write to a temporary file and keep it only on `Ok`.
pub fn fetch_layer(
    registry: &Registry,
    resolved: &Resolved,
    max_size: u64,
    out: &mut dyn Write,
) -> Result<(), OciError> {
    let layer = &resolved.layout;
    if layer.layer_size > max_size {
        return Err(OciError::BlobTooLarge {
            digest: layer.layer_digest.to_string(),
            size: layer.layer_size,
            limit: max_size,
        });
    }
    let mut preamble = Preamble { inner: out, head: Vec::with_capacity(8) };
    registry.blob_get_to(resolved.reference.repository(), &layer.layer_digest, layer.layer_size, &mut preamble)?;
    let wrong = |found: String| OciError::Layout {
        artifact: resolved.reference.to_string(),
        field: "config.os",
        found,
        expected: "wasip1 for a core module and wasip2 for a component",
    };
    match WasmKind::of_preamble(&preamble.head) {
        Some(kind) if kind == resolved.config.kind => Ok(()),
        Some(kind) => Err(wrong(format!(
            "{:?} while the layer is a {}",
            resolved.config.kind.os(),
            if kind == WasmKind::Component { "component" } else { "core module" }
        ))),
        None => {
            Err(wrong(format!("{:?} while the layer is neither a module nor a component", resolved.config.kind.os())))
        }
    }
}

/// A writer that keeps the first 8 bytes written.
struct Preamble<'a> {
    inner: &'a mut dyn Write,
    head: Vec<u8>,
}

impl Write for Preamble<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        let take = n.min(8 - self.head.len());
        self.head.extend_from_slice(&data[..take]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
