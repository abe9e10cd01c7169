//! Referrers: the API (`GET /v2/<repo>/referrers/<digest>`) and, where a
//! registry has none, the `sha256-<hex>` fallback tag holding an image
//! index, read and written (distribution spec v1.1 §"Referrers tag
//! schema").

use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use wsc_pinning::reqwest::{Method, Url};

use super::manifest::OCI_INDEX;
use super::reference::check_repository;
use super::wire::{bare_media_type, canonical_json, header};
use super::{Access, Call, Digest, Reference, Registry};
use crate::error::OciError;

/// How long a writer of the fallback tag waits before reading it a second
/// time: longer than another writer takes between its read and its write
/// (one request), so an overwrite by a writer that raced this one is seen
/// and repaired.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(250);

/// Where a referrers list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferrersSource {
    /// The registry's referrers API.
    Api,
    /// The `sha256-<hex>` fallback tag (absent: an empty list).
    FallbackTag,
}

/// The referrers of a manifest.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Referrers {
    /// Where the list came from.
    pub source: ReferrersSource,
    /// The descriptors (filtered by artifact type when one was asked for),
    /// in the order of the list.
    pub descriptors: Vec<Descriptor>,
}

/// What [`Registry::add_referrer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferrerUpdate {
    /// The registry keeps the list itself (referrers API) and lists the
    /// descriptor: nothing was written.
    Api,
    /// The fallback tag lists the descriptor.
    FallbackTag {
        /// The digest of the index the tag holds, read back after writing.
        index: Digest,
        /// Whether it was added (`false`: it was listed already).
        added: bool,
        /// Attempts it took (more than 1 when other writers raced).
        attempts: u32,
    },
}

/// The index the fallback tag holds.
struct Fallback {
    index: ImageIndex,
    /// Its digest, checked against its bytes.
    digest: Digest,
    /// The `ETag` the registry sent with it.
    etag: Option<String>,
}

impl Registry {
    /// The referrers of `subject` in `repository`: from the referrers API,
    /// else from the fallback tag (an absent tag is an empty list). With
    /// `artifact_type`, only the descriptors of that artifact type (checked
    /// here too: a registry may ignore the filter). A list longer than
    /// [`Limits::max_referrers`](super::Limits) is an error.
    pub fn referrers(
        &self,
        repository: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, OciError> {
        check_repository(repository)?;
        let (source, index) = match self.referrers_api(repository, subject, artifact_type)? {
            Some(index) => (ReferrersSource::Api, Some(index)),
            None => (ReferrersSource::FallbackTag, self.fallback_index(repository, subject)?.map(|f| f.index)),
        };
        let mut descriptors = index.map(|i| i.manifests().clone()).unwrap_or_default();
        if let Some(t) = artifact_type {
            descriptors.retain(|d| d.artifact_type().as_ref().is_some_and(|a| a.as_ref() == t));
        }
        Ok(Referrers { source, descriptors })
    }

    /// Lists `descriptor` (a referrer manifest already pushed, whose
    /// `subject` is `subject`) among the referrers of `subject`. A registry
    /// with a referrers API keeps the list itself: it must list the
    /// descriptor. Otherwise the fallback tag is updated: read (absent:
    /// a new index), the descriptor appended unless listed, the entries
    /// sorted by digest, written with `If-Match` when there was an index,
    /// then read back, twice, 250 ms apart. Distribution ignores
    /// `If-Match`, so the read-backs are what detect another writer's
    /// overwrite (the second one, an overwrite by a writer that read the
    /// index before this write); the update is then tried again, up to
    /// [`Limits::referrer_attempts`](super::Limits).
    pub fn add_referrer(
        &self,
        repository: &str,
        subject: &Digest,
        descriptor: &Descriptor,
    ) -> Result<ReferrerUpdate, OciError> {
        check_repository(repository)?;
        let digest = Digest::of_descriptor(descriptor)?;
        if let Some(index) = self.referrers_api(repository, subject, None)? {
            return if lists(&index, &digest) {
                Ok(ReferrerUpdate::Api)
            } else {
                Err(OciError::ReferrerNotListed {
                    url: self.url(repository, &format!("referrers/{subject}")),
                    digest: digest.to_string(),
                })
            };
        }
        let tag = subject.fallback_tag();
        let attempts = self.limits.referrer_attempts.max(1);
        for attempt in 1..=attempts {
            let current = self.fallback_index(repository, subject)?;
            if let Some(c) = &current {
                if lists(&c.index, &digest) {
                    return Ok(ReferrerUpdate::FallbackTag { index: c.digest, added: false, attempts: attempt });
                }
            }
            // The ETag distribution sends is the quoted digest.
            let if_match = current.as_ref().map(|c| c.etag.clone().unwrap_or_else(|| format!("\"{}\"", c.digest)));
            let mut index = current.map(|c| c.index).unwrap_or_else(new_index);
            let mut entries = index.manifests().clone();
            entries.push(descriptor.clone());
            entries.sort_by(|a, b| {
                (a.digest().as_ref(), a.media_type().as_ref()).cmp(&(b.digest().as_ref(), b.media_type().as_ref()))
            });
            entries.dedup_by(|a, b| a.digest() == b.digest());
            let url = self.url(repository, &format!("manifests/{tag}"));
            if entries.len() > self.limits.max_referrers {
                return Err(OciError::TooManyReferrers { url, count: entries.len(), limit: self.limits.max_referrers });
            }
            index.set_manifests(entries);
            let bytes = canonical_json(&index, &url)?;
            let written = self.put_manifest(repository, &tag, &bytes, OCI_INDEX, if_match.as_deref())?;
            if written.is_some() {
                if let Some(back) = self.fallback_index(repository, subject)? {
                    // A writer that read the index before this write may
                    // still overwrite it: read again once theirs has landed.
                    std::thread::sleep(SETTLE);
                    let settled = self.fallback_index(repository, subject)?;
                    if lists(&back.index, &digest) && settled.as_ref().is_some_and(|s| lists(&s.index, &digest)) {
                        let index = settled.map_or(back.digest, |s| s.digest);
                        return Ok(ReferrerUpdate::FallbackTag { index, added: true, attempts: attempt });
                    }
                }
            }
            // Another writer replaced the index: read it again, after a pause
            // that grows with each attempt.
            std::thread::sleep(std::time::Duration::from_millis(50 * u64::from(attempt)));
        }
        Err(OciError::ReferrerRace { repository: repository.to_string(), tag, digest: digest.to_string(), attempts })
    }

    /// `GET /v2/<repo>/referrers/<digest>`: the list, or `None` when the
    /// registry has no referrers API (404, 400, 406, or an answer that is
    /// not an image index).
    fn referrers_api(
        &self,
        repository: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<ImageIndex>, OciError> {
        let mut url = self.url(repository, &format!("referrers/{subject}"));
        if let Some(t) = artifact_type {
            let mut parsed = Url::parse(&url).map_err(|_| OciError::InvalidName {
                field: "referrers URL",
                input: url.clone(),
                reason: "does not parse",
            })?;
            parsed.query_pairs_mut().append_pair("artifactType", t);
            url = parsed.to_string();
        }
        let call = Call {
            operation: format!("listing the referrers of {subject} in {repository}"),
            method: Method::GET,
            url,
            access: Access::Pull(repository),
            headers: vec![("accept", OCI_INDEX.into())],
            body: None,
        };
        let answer = self.call_read(&call, self.limits.max_manifest, "referrers list")?;
        match answer.status {
            200 => {}
            // What registries without the API answer (ggcr treats them so).
            400 | 404 | 406 => return Ok(None),
            s => return Err(self.status_error(&call, s, &answer.headers, &answer.body)),
        }
        let is_index =
            header(&answer.headers, &call.url, "content-type")?.is_some_and(|t| bare_media_type(t) == OCI_INDEX);
        if !is_index {
            return Ok(None);
        }
        Ok(Some(self.parse_index(&answer.body, &call.url)?))
    }

    /// The fallback tag's index; `None` when the tag is absent.
    fn fallback_index(&self, repository: &str, subject: &Digest) -> Result<Option<Fallback>, OciError> {
        let reference = Reference::new(&self.host, repository, Some(&subject.fallback_tag()), None)?;
        match self.fetch_manifest(&reference, &[OCI_INDEX]) {
            Ok(fetched) => {
                let url = self.url(repository, &format!("manifests/{}", subject.fallback_tag()));
                let index = self.parse_index(&fetched.manifest.bytes, &url)?;
                Ok(Some(Fallback { index, digest: fetched.manifest.digest, etag: fetched.etag }))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// An image index (its bytes are under the manifest cap), with at most
    /// [`Limits::max_referrers`](super::Limits) entries.
    fn parse_index(&self, bytes: &[u8], url: &str) -> Result<ImageIndex, OciError> {
        let index: ImageIndex = serde_json::from_slice(bytes).map_err(|source| OciError::Json {
            url: url.to_string(),
            what: "image index",
            source,
        })?;
        if index.manifests().len() > self.limits.max_referrers {
            return Err(OciError::TooManyReferrers {
                url: url.to_string(),
                count: index.manifests().len(),
                limit: self.limits.max_referrers,
            });
        }
        Ok(index)
    }
}

/// Whether `index` lists a descriptor with `digest`.
fn lists(index: &ImageIndex, digest: &Digest) -> bool {
    let text = digest.to_string();
    index.manifests().iter().any(|d| d.digest().as_ref() == text)
}

/// An empty OCI image index.
fn new_index() -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index
}
