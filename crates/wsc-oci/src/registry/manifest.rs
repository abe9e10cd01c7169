//! Manifests: HEAD, GET (under a cap, digest checked) and PUT.

use wsc_pinning::reqwest::Method;
use wsc_pinning::reqwest::header::HeaderMap;

use super::reference::{check_repository, check_tag};
use super::wire::{bare_media_type, content_length, header};
use super::{Access, Call, Digest, Reference, Registry};
use crate::error::{OciError, cut};

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The Docker image manifest (schema 2) media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What a manifest request accepts when the caller names nothing: the OCI
/// types first, then Docker's.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// What a `HEAD` of a manifest tells.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestInfo {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its media type (`Content-Type`, without parameters).
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

impl ManifestInfo {
    /// A descriptor of the manifest (for a referrer's `subject`).
    pub fn descriptor(&self) -> oci_spec::image::Descriptor {
        oci_spec::image::Descriptor::new(self.media_type.as_str().into(), self.size, self.digest.to_oci())
    }
}

/// A manifest as the registry stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Manifest {
    /// The exact bytes; their SHA-256 is [`digest`](Self::digest).
    pub bytes: Vec<u8>,
    /// The digest, checked against the bytes.
    pub digest: Digest,
    /// The media type (`Content-Type`, without parameters), one of those
    /// accepted.
    pub media_type: String,
}

impl Manifest {
    /// A descriptor of the manifest.
    pub fn descriptor(&self) -> oci_spec::image::Descriptor {
        oci_spec::image::Descriptor::new(self.media_type.as_str().into(), self.bytes.len() as u64, self.digest.to_oci())
    }
}

/// A manifest fetched, with its `ETag` (for `If-Match`).
pub(crate) struct Fetched {
    pub(crate) manifest: Manifest,
    pub(crate) etag: Option<String>,
}

impl Registry {
    /// `HEAD` of a manifest by tag or digest. `accept` lists the media
    /// types wanted (empty: [`MANIFEST_TYPES`]). The digest comes from
    /// `Docker-Content-Digest`, which must equal the reference's digest
    /// when it has one.
    pub fn manifest_head(&self, reference: &Reference, accept: &[&str]) -> Result<ManifestInfo, OciError> {
        self.check_registry(reference)?;
        let accept = accepted(accept);
        let target = reference.target()?;
        let call = Call {
            operation: format!("looking up manifest {target} of {}", reference.repository()),
            method: Method::HEAD,
            url: self.url(reference.repository(), &format!("manifests/{target}")),
            access: Access::Pull(reference.repository()),
            headers: vec![("accept", accept.join(", "))],
            body: None,
        };
        let answer = self.call_read(&call, 0, "HEAD answer")?;
        if answer.status != 200 {
            return Err(self.status_error(&call, answer.status, &answer.headers, &answer.body));
        }
        let url = &call.url;
        let media_type = media_type(&answer.headers, url, &accept)?;
        let size = content_length(&answer.headers, url)?
            .ok_or_else(|| OciError::MissingHeader { url: url.clone(), header: "Content-Length" })?;
        let claimed = header_digest(&answer.headers, url)?;
        let digest = match (reference.digest(), claimed) {
            (Some(asked), Some(claimed)) if *asked != claimed => {
                return Err(OciError::DigestMismatch {
                    url: url.clone(),
                    check: "the digest asked for",
                    expected: asked.to_string(),
                    actual: claimed.to_string(),
                });
            }
            (Some(asked), _) => *asked,
            (None, Some(claimed)) => claimed,
            (None, None) => {
                return Err(OciError::MissingHeader { url: url.clone(), header: "Docker-Content-Digest" });
            }
        };
        Ok(ManifestInfo { digest, media_type, size })
    }

    /// `GET` of a manifest by tag or digest, read under
    /// [`Limits::max_manifest`](super::Limits). `accept` lists the media
    /// types wanted (empty: [`MANIFEST_TYPES`]); another `Content-Type` is
    /// an error. SHA-256 of the bytes must equal the reference's digest
    /// when it has one, and `Docker-Content-Digest` when the registry sends
    /// it.
    pub fn manifest_get(&self, reference: &Reference, accept: &[&str]) -> Result<Manifest, OciError> {
        self.check_registry(reference)?;
        Ok(self.fetch_manifest(reference, accept)?.manifest)
    }

    /// [`manifest_get`](Self::manifest_get) with a smaller cap than
    /// [`Limits::max_manifest`](super::Limits), for manifests that are
    /// small by nature (referrers).
    pub fn manifest_get_capped(&self, reference: &Reference, accept: &[&str], cap: u64) -> Result<Manifest, OciError> {
        self.check_registry(reference)?;
        Ok(self.fetch_manifest_capped(reference, accept, cap.min(self.limits.max_manifest))?.manifest)
    }

    pub(crate) fn fetch_manifest(&self, reference: &Reference, accept: &[&str]) -> Result<Fetched, OciError> {
        self.fetch_manifest_capped(reference, accept, self.limits.max_manifest)
    }

    fn fetch_manifest_capped(&self, reference: &Reference, accept: &[&str], limit: u64) -> Result<Fetched, OciError> {
        let accept = accepted(accept);
        let target = reference.target()?;
        let call = Call {
            operation: format!("fetching manifest {target} of {}", reference.repository()),
            method: Method::GET,
            url: self.url(reference.repository(), &format!("manifests/{target}")),
            access: Access::Pull(reference.repository()),
            headers: vec![("accept", accept.join(", "))],
            body: None,
        };
        let answer = self.call_read(&call, limit, "manifest")?;
        if answer.status != 200 {
            return Err(self.status_error(&call, answer.status, &answer.headers, &answer.body));
        }
        let url = &call.url;
        let media_type = media_type(&answer.headers, url, &accept)?;
        let actual = Digest::of(&answer.body);
        if let Some(asked) = reference.digest() {
            if *asked != actual {
                return Err(OciError::DigestMismatch {
                    url: url.clone(),
                    check: "the digest asked for",
                    expected: asked.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        if let Some(claimed) = header_digest(&answer.headers, url)? {
            if claimed != actual {
                return Err(OciError::DigestMismatch {
                    url: url.clone(),
                    check: "Docker-Content-Digest",
                    expected: claimed.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        let etag = header(&answer.headers, url, "etag")?.map(str::to_string);
        Ok(Fetched { manifest: Manifest { bytes: answer.body, digest: actual, media_type }, etag })
    }

    /// `PUT` of a manifest to `repository` under `tag_or_digest` (a tag,
    /// or `sha256:…`, which must then be the bytes' digest), with
    /// `media_type` as `Content-Type`. Returns the digest of the bytes;
    /// the registry's `Docker-Content-Digest`, when sent, must equal it.
    pub fn manifest_put(
        &self,
        repository: &str,
        tag_or_digest: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, OciError> {
        match self.put_manifest(repository, tag_or_digest, bytes, media_type, None)? {
            Some(d) => Ok(d),
            // Without If-Match a registry has no precondition to fail.
            None => Err(OciError::Status {
                operation: format!("pushing manifest {tag_or_digest} to {repository}"),
                url: self.url(repository, &format!("manifests/{tag_or_digest}")),
                status: 412,
                detail: "precondition failed without a precondition".into(),
            }),
        }
    }

    /// [`manifest_put`](Self::manifest_put) with an optional `If-Match`;
    /// `None` when the registry answers `412 Precondition Failed`.
    pub(crate) fn put_manifest(
        &self,
        repository: &str,
        tag_or_digest: &str,
        bytes: &[u8],
        media_type: &str,
        if_match: Option<&str>,
    ) -> Result<Option<Digest>, OciError> {
        check_repository(repository)?;
        let actual = Digest::of(bytes);
        if tag_or_digest.starts_with("sha256:") {
            let asked = Digest::parse(tag_or_digest, "the manifest's target")?;
            if asked != actual {
                return Err(OciError::DigestMismatch {
                    url: self.url(repository, &format!("manifests/{tag_or_digest}")),
                    check: "the digest to push under",
                    expected: asked.to_string(),
                    actual: actual.to_string(),
                });
            }
        } else {
            check_tag(tag_or_digest)?;
        }
        let url = self.url(repository, &format!("manifests/{tag_or_digest}"));
        if bytes.len() as u64 > self.limits.max_manifest {
            return Err(OciError::TooLarge { url, what: "manifest to push", limit: self.limits.max_manifest });
        }
        if media_type.is_empty() || !media_type.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OciError::InvalidName {
                field: "media type",
                input: cut(media_type),
                reason: "a media type is visible ASCII without spaces",
            });
        }
        let mut headers = vec![("content-type", media_type.to_string())];
        if let Some(m) = if_match {
            headers.push(("if-match", m.to_string()));
        }
        let call = Call {
            operation: format!("pushing manifest {tag_or_digest} to {repository}"),
            method: Method::PUT,
            url,
            access: Access::Push(repository),
            headers,
            body: Some(bytes),
        };
        let answer = self.call_read(&call, 0, "answer to a manifest push")?;
        match answer.status {
            200 | 201 => {}
            412 if if_match.is_some() => return Ok(None),
            s => return Err(self.status_error(&call, s, &answer.headers, &answer.body)),
        }
        if let Some(claimed) = header_digest(&answer.headers, &call.url)? {
            if claimed != actual {
                return Err(OciError::DigestMismatch {
                    url: call.url.clone(),
                    check: "Docker-Content-Digest",
                    expected: claimed.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        Ok(Some(actual))
    }

    /// Refuses a reference of another registry.
    pub(crate) fn check_registry(&self, reference: &Reference) -> Result<(), OciError> {
        if reference.registry().eq_ignore_ascii_case(&self.host) {
            Ok(())
        } else {
            Err(OciError::WrongRegistry { reference: reference.to_string(), registry: self.host.clone() })
        }
    }
}

/// The accepted types, [`MANIFEST_TYPES`] when none are given.
fn accepted(accept: &[&str]) -> Vec<String> {
    let list: &[&str] = if accept.is_empty() { &MANIFEST_TYPES } else { accept };
    list.iter().map(|s| s.to_ascii_lowercase()).collect()
}

/// `Content-Type`, which must be one of `accept`.
fn media_type(headers: &HeaderMap, url: &str, accept: &[String]) -> Result<String, OciError> {
    let raw = header(headers, url, "content-type")?
        .ok_or_else(|| OciError::MissingHeader { url: url.to_string(), header: "Content-Type" })?;
    let bare = bare_media_type(raw);
    if accept.contains(&bare) {
        Ok(bare)
    } else {
        Err(OciError::MediaType { url: url.to_string(), actual: cut(raw), accepted: accept.join(", ") })
    }
}

/// `Docker-Content-Digest`, if sent.
pub(crate) fn header_digest(headers: &HeaderMap, url: &str) -> Result<Option<Digest>, OciError> {
    match header(headers, url, "docker-content-digest")? {
        None => Ok(None),
        Some(v) => Digest::parse(v.trim(), &format!("the Docker-Content-Digest header of {url}")).map(Some),
    }
}
