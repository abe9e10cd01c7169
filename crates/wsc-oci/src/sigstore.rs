//! Sigstore bundles as OCI referrers, in the layout cosign v3 and GitHub's
//! `actions/attest` write (`shared/design/oci.md` §2, §3): an image
//! manifest whose `artifactType` and one layer are the bundle media type,
//! with the empty config and a `subject` naming the signed manifest.
//!
//! This module moves bytes; it verifies no signature. [`attach`] pushes a
//! bundle as a referrer and lists it (referrers API or fallback tag);
//! [`fetch_referrers`] reads every referrer of a manifest and sorts them
//! into bundles that name it, other artifacts, and broken entries, for a
//! verifier to judge.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, ImageManifest, MediaType};
use serde_json::{Value, json};

use crate::error::OciError;
use crate::registry::{Digest, OCI_MANIFEST, Reference, ReferrerUpdate, Registry};

/// The bundle media type cosign v3 and GitHub write.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The prefix every Sigstore bundle media type has.
pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// The empty descriptor's media type, and its content `{}`.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// cosign v3's predicate type for a plain signature of an image.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The annotation naming the bundle's content (`dsse-envelope`).
pub const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";

/// The annotation naming the statement's predicate type.
pub const PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";

/// Pushes of a referrer manifest when the registry lost one of its blobs
/// to a concurrent writer (see [`attach`]).
const BLOB_RACE_ATTEMPTS: u32 = 3;

/// The largest bundle read from a registry (1 MiB).
pub const MAX_BUNDLE: u64 = 1024 * 1024;

/// The largest referrer manifest read (64 KiB; cosign's are under 1 KiB).
pub const MAX_REFERRER_MANIFEST: u64 = 64 * 1024;

/// Most Sigstore referrers [`fetch_referrers`] reads for one manifest; the
/// ones past it are [`ReferrerContent::Broken`], not read.
pub const MAX_BUNDLES_READ: usize = 64;

/// Most bundle bytes [`fetch_referrers`] holds for one manifest (16 MiB);
/// a bundle past it is [`ReferrerContent::Broken`], not read.
pub const MAX_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;

/// An in-toto Statement v1 about the manifest `digest` of `name`
/// (`registry/repository`, as GitHub writes it; cosign ignores it), with
/// `predicate_type` and `predicate`. Keys are sorted.
pub fn statement(name: &str, digest: &Digest, predicate_type: &str, predicate: &Value) -> Vec<u8> {
    let v = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    // serde_json's map is sorted: the bytes are the same for the same input.
    serde_json::to_vec(&v).unwrap_or_default()
}

/// What [`attach`] pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attached {
    /// The referrer manifest's digest.
    pub referrer: Digest,
    /// How the referrers list was updated.
    pub update: ReferrerUpdate,
}

/// Pushes `bundle` (a Sigstore bundle, JSON) as a referrer of `subject`
/// (a reference with a digest), in cosign v3's layout: the bundle blob,
/// the empty config, the manifest by digest with the annotations
/// `dev.sigstore.bundle.content = dsse-envelope`,
/// `dev.sigstore.bundle.predicateType` and
/// `org.opencontainers.image.created` (`created`, RFC 3339); then lists it
/// among the subject's referrers. The subject's media type and size come
/// from a `HEAD` of it.
pub fn attach(
    registry: &Registry,
    subject: &Reference,
    bundle: &[u8],
    predicate_type: &str,
    created: &str,
) -> Result<Attached, OciError> {
    registry.check_registry(subject)?;
    let Some(subject_digest) = subject.digest() else {
        return Err(OciError::NoTagOrDigest {
            reference: format!("{subject} (a referrer needs the subject's digest)"),
        });
    };
    if bundle.len() as u64 > MAX_BUNDLE {
        return Err(OciError::BlobTooLarge {
            digest: Digest::of(bundle).to_string(),
            size: bundle.len() as u64,
            limit: MAX_BUNDLE,
        });
    }
    let info = registry.manifest_head(subject, &[])?;
    let repository = subject.repository();
    let bundle_digest = registry.blob_upload(repository, bundle)?;
    let empty_digest = registry.blob_upload(repository, b"{}")?;
    let mut annotations = BTreeMap::new();
    annotations.insert(CONTENT_ANNOTATION.to_string(), "dsse-envelope".to_string());
    annotations.insert(PREDICATE_ANNOTATION.to_string(), predicate_type.to_string());
    annotations.insert("org.opencontainers.image.created".to_string(), created.to_string());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty_digest.to_string(), "size": 2},
        "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "digest": bundle_digest.to_string(), "size": bundle.len()}],
        "subject": {"mediaType": info.media_type, "digest": subject_digest.to_string(), "size": info.size},
        "annotations": annotations,
    });
    let url = format!("{subject} (referrer manifest)");
    let bytes =
        serde_json::to_vec(&manifest).map_err(|source| OciError::Json { url, what: "referrer manifest", source })?;
    let digest = Digest::of(&bytes);
    // Distribution's filesystem storage can lose a blob that another
    // writer was committing at the same moment (the empty config of two
    // concurrent signers): a manifest refused as naming an unknown blob is
    // pushed again after the blobs, a bounded number of times.
    let mut attempt = 1;
    loop {
        match registry.manifest_put(repository, &digest.to_string(), &bytes, OCI_MANIFEST) {
            Ok(_) => break,
            Err(OciError::Status { status: 400, detail, .. })
                if detail.contains("BLOB_UNKNOWN") && attempt < BLOB_RACE_ATTEMPTS =>
            {
                attempt += 1;
                registry.blob_upload(repository, bundle)?;
                registry.blob_upload(repository, b"{}")?;
            }
            Err(e) => return Err(e),
        }
    }
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, digest.to_oci());
    descriptor.set_artifact_type(Some(BUNDLE_MEDIA_TYPE.into()));
    descriptor.set_annotations(Some(annotations.into_iter().collect()));
    let update = registry.add_referrer(repository, subject_digest, &descriptor)?;
    Ok(Attached { referrer: digest, update })
}

/// A referrer of a manifest, as [`fetch_referrers`] found it.
#[derive(Debug)]
#[non_exhaustive]
pub struct FetchedReferrer {
    /// The referrer manifest's digest, as the list gives it.
    pub digest: String,
    /// Its `artifactType` in the list.
    pub artifact_type: Option<String>,
    /// What it holds.
    pub content: ReferrerContent,
}

/// What a referrer holds.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReferrerContent {
    /// A Sigstore bundle (its bytes, digest and size checked) in the one
    /// layer of a manifest whose `subject` is the manifest asked about.
    Bundle(Vec<u8>),
    /// Another kind of artifact (an SBOM, a legacy signature): why it is
    /// not a bundle.
    Other(String),
    /// A Sigstore referrer that cannot be used (its `subject` is another
    /// manifest, its layers are not one bundle, or it was not read, past
    /// the budget of [`MAX_BUNDLES_READ`] and [`MAX_BUNDLE_BYTES`]): why.
    Broken(String),
    /// A Sigstore referrer whose manifest or bundle could not be read as
    /// listed: absent, too large, not what its digest says, not JSON.
    Unreadable(Box<OciError>),
}

/// Reads the referrers of `manifest` (`digest` in `reference`'s
/// repository): the list (API or fallback tag, at most
/// [`Limits::max_referrers`](crate::registry::Limits)), then each
/// referrer manifest by digest (at most [`MAX_REFERRER_MANIFEST`]) and,
/// for a Sigstore one, its bundle (at most [`MAX_BUNDLE`]).
///
/// A referrer whose manifest or bundle is absent, too large, not what its
/// digest says or not JSON is [`ReferrerContent::Unreadable`]; one whose
/// `subject` is another manifest is [`ReferrerContent::Broken`]; one whose
/// artifact type (in the list or the manifest) is not a Sigstore bundle is
/// [`ReferrerContent::Other`].
/// A registry that fails to answer is an error: nothing is decided on a
/// partial list.
pub fn fetch_referrers(
    registry: &Registry,
    reference: &Reference,
    manifest: &Digest,
) -> Result<Vec<FetchedReferrer>, OciError> {
    let repository = reference.repository();
    let list = registry.referrers(repository, manifest, None)?;
    let mut out = Vec::with_capacity(list.descriptors.len());
    // What a registry can make wsc hold is bounded, whatever it lists.
    let (mut read, mut bytes) = (0usize, 0u64);
    for d in &list.descriptors {
        let artifact_type = d.artifact_type().as_ref().map(|t| t.to_string());
        let listed = d.digest().to_string();
        let digest = match Digest::of_descriptor(d) {
            Ok(digest) => digest,
            // The list names something that is not a sha256 manifest.
            Err(e) => {
                let content = ReferrerContent::Unreadable(Box::new(e));
                out.push(FetchedReferrer { digest: listed, artifact_type, content });
                continue;
            }
        };
        let content = match &artifact_type {
            Some(t) if !t.starts_with(BUNDLE_PREFIX) => {
                ReferrerContent::Other(format!("artifact type {t:?} is not a Sigstore bundle"))
            }
            _ if read >= MAX_BUNDLES_READ || bytes >= MAX_BUNDLE_BYTES => ReferrerContent::Broken(format!(
                "not read: past the budget of {MAX_BUNDLES_READ} Sigstore referrers and {MAX_BUNDLE_BYTES} bundle bytes \
                 per manifest"
            )),
            _ => {
                read += 1;
                let content = fetch_one(registry, reference, manifest, &digest, MAX_BUNDLE_BYTES - bytes)?;
                if let ReferrerContent::Bundle(b) = &content {
                    bytes += b.len() as u64;
                }
                content
            }
        };
        out.push(FetchedReferrer { digest: listed, artifact_type, content });
    }
    Ok(out)
}

/// Whether an error is about the referrer's own bytes (it is then
/// broken), not about the registry's answering.
fn about_the_referrer(e: &OciError) -> bool {
    matches!(
        e,
        OciError::NotFound { .. }
            | OciError::TooLarge { .. }
            | OciError::BlobTooLarge { .. }
            | OciError::DigestMismatch { .. }
            | OciError::SizeMismatch { .. }
            | OciError::Truncated { .. }
            | OciError::Overlong { .. }
            | OciError::MediaType { .. }
            | OciError::Json { .. }
    )
}

/// One referrer: its manifest, then its bundle (at most `room` bytes,
/// and never more than [`MAX_BUNDLE`]).
fn fetch_one(
    registry: &Registry,
    reference: &Reference,
    subject: &Digest,
    digest: &Digest,
    room: u64,
) -> Result<ReferrerContent, OciError> {
    let broken = |e: OciError| -> Result<ReferrerContent, OciError> {
        if about_the_referrer(&e) { Ok(ReferrerContent::Unreadable(Box::new(e))) } else { Err(e) }
    };
    let at = reference.with_digest(*digest);
    let fetched = match registry.manifest_get_capped(&at, &[OCI_MANIFEST], MAX_REFERRER_MANIFEST) {
        Ok(m) => m,
        Err(e) => return broken(e),
    };
    let m: ImageManifest = match serde_json::from_slice(&fetched.bytes) {
        Ok(m) => m,
        Err(source) => {
            let e = OciError::Json { url: at.to_string(), what: "referrer manifest", source };
            return Ok(ReferrerContent::Unreadable(Box::new(e)));
        }
    };
    let named = m.subject().as_ref().map(|s| s.digest().to_string());
    if named.as_deref() != Some(subject.to_string().as_str()) {
        return Ok(ReferrerContent::Broken(format!(
            "its subject is {}, not {subject}",
            named.unwrap_or_else(|| "absent".into())
        )));
    }
    let [layer] = m.layers().as_slice() else {
        return Ok(ReferrerContent::Broken(format!("it has {} layers; a bundle referrer has one", m.layers().len())));
    };
    let layer_type = layer.media_type().to_string();
    if !layer_type.starts_with(BUNDLE_PREFIX) {
        return Ok(ReferrerContent::Other(format!("its layer type {layer_type:?} is not a Sigstore bundle")));
    }
    let layer_digest = match Digest::of_descriptor(layer) {
        Ok(d) => d,
        Err(e) => return Ok(ReferrerContent::Unreadable(Box::new(e))),
    };
    match registry.blob_get(reference.repository(), &layer_digest, layer.size(), MAX_BUNDLE.min(room)) {
        Ok(bytes) => Ok(ReferrerContent::Bundle(bytes)),
        Err(e) => broken(e),
    }
}
