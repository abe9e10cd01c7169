//! Blobs: existence, monolithic upload (POST, then PUT `?digest=`), and
//! download into memory or a writer with the digest and size checked as
//! the bytes arrive.

use std::io::{Read as _, Write};

use sha2::{Digest as _, Sha256};
use wsc_pinning::reqwest::{Method, Url};

use super::manifest::header_digest;
use super::reference::check_repository;
use super::wire::{content_length, header};
use super::{Access, Call, Digest, Registry, error_body};
use crate::error::{OciError, cut};

/// The buffer a blob streams through.
const CHUNK: usize = 64 * 1024;

/// The most memory reserved up front for a blob read into memory; the
/// rest grows with the bytes that arrive.
const RESERVE: u64 = 1024 * 1024;

impl Registry {
    /// Whether `repository` holds the blob (`HEAD`: 200 yes, 404 no).
    pub fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, OciError> {
        self.blob_exists_as(repository, digest, Access::Pull(repository))
    }

    fn blob_exists_as(&self, repository: &str, digest: &Digest, access: Access<'_>) -> Result<bool, OciError> {
        check_repository(repository)?;
        let call = Call {
            operation: format!("looking up blob {digest} in {repository}"),
            method: Method::HEAD,
            url: self.url(repository, &format!("blobs/{digest}")),
            access,
            headers: Vec::new(),
            body: None,
        };
        let answer = self.call_read(&call, 0, "HEAD answer")?;
        match answer.status {
            200 => Ok(true),
            404 => Ok(false),
            s => Err(self.status_error(&call, s, &answer.headers, &answer.body)),
        }
    }

    /// Uploads `bytes` as a blob of `repository` in one piece (`POST`
    /// `/blobs/uploads/`, then `PUT` to the `Location` it gives with
    /// `?digest=`), unless the registry already holds it. Returns its
    /// digest. The location must be on the registry's own origin.
    pub fn blob_upload(&self, repository: &str, bytes: &[u8]) -> Result<Digest, OciError> {
        let digest = Digest::of(bytes);
        if self.blob_exists_as(repository, &digest, Access::Push(repository))? {
            return Ok(digest);
        }
        let start = Call {
            operation: format!("starting the upload of blob {digest} to {repository}"),
            method: Method::POST,
            url: self.url(repository, "blobs/uploads/"),
            access: Access::Push(repository),
            headers: Vec::new(),
            body: Some(&[]),
        };
        let answer = self.call_read(&start, 0, "answer to an upload start")?;
        if answer.status != 202 {
            return Err(self.status_error(&start, answer.status, &answer.headers, &answer.body));
        }
        let location = header(&answer.headers, &start.url, "location")?
            .ok_or_else(|| OciError::MissingHeader { url: start.url.clone(), header: "Location" })?;
        let put_url = self.upload_url(&start.url, location, &digest)?;
        let put = Call {
            operation: format!("uploading blob {digest} to {repository}"),
            method: Method::PUT,
            url: put_url,
            access: Access::Push(repository),
            headers: vec![("content-type", "application/octet-stream".into())],
            body: Some(bytes),
        };
        let answer = self.call_read(&put, 0, "answer to an upload")?;
        if answer.status != 201 {
            return Err(self.status_error(&put, answer.status, &answer.headers, &answer.body));
        }
        if let Some(claimed) = header_digest(&answer.headers, &put.url)? {
            if claimed != digest {
                return Err(OciError::DigestMismatch {
                    url: put.url.clone(),
                    check: "Docker-Content-Digest",
                    expected: claimed.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        Ok(digest)
    }

    /// The URL to `PUT` an upload to: `location` resolved against the URL
    /// that gave it, on the registry's origin, with `digest=` added.
    fn upload_url(&self, from: &str, location: &str, digest: &Digest) -> Result<String, OciError> {
        let bad = |reason| OciError::Location { url: from.to_string(), location: cut(location), reason };
        let base = Url::parse(from).map_err(|_| bad("cannot be resolved"))?;
        let mut url = base.join(location).map_err(|_| bad("is not a URL or a path"))?;
        if url.origin() != base.origin() {
            return Err(bad("is on another origin than the registry (credentials stay on the registry)"));
        }
        if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(bad("holds credentials or a fragment"));
        }
        url.query_pairs_mut().append_pair("digest", &digest.to_string());
        Ok(url.to_string())
    }

    /// Downloads a blob into memory: at most `cap` bytes, which must be
    /// exactly `expected_size` and hash to `digest`.
    pub fn blob_get(
        &self,
        repository: &str,
        digest: &Digest,
        expected_size: u64,
        cap: u64,
    ) -> Result<Vec<u8>, OciError> {
        if expected_size > cap {
            return Err(OciError::BlobTooLarge { digest: digest.to_string(), size: expected_size, limit: cap });
        }
        let mut out = Vec::with_capacity(usize::try_from(expected_size.min(RESERVE)).unwrap_or(0));
        self.blob_get_to(repository, digest, expected_size, &mut out)?;
        Ok(out)
    }

    /// Streams a blob into `out`, checking as it goes: no more than `size`
    /// bytes are written, `Content-Length` (when sent) must be `size`, and
    /// at the end the count must be `size` and SHA-256 must be `digest`.
    /// Memory stays flat. On an error `out` holds a partial or wrong blob:
    /// write to a temporary file and rename it only on `Ok`.
    pub fn blob_get_to(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        out: &mut dyn Write,
    ) -> Result<(), OciError> {
        check_repository(repository)?;
        let call = Call {
            operation: format!("fetching blob {digest} of {repository}"),
            method: Method::GET,
            url: self.url(repository, &format!("blobs/{digest}")),
            access: Access::Pull(repository),
            headers: Vec::new(),
            body: None,
        };
        let answer = self.call(&call)?;
        let url = &call.url;
        if answer.status != 200 {
            let headers = answer.headers.clone();
            return Err(self.status_error(&call, answer.status, &headers, &error_body(answer.response)));
        }
        if let Some(n) = content_length(&answer.headers, url)? {
            if n != size {
                return Err(OciError::SizeMismatch { url: url.clone(), expected: size, content_length: n });
            }
        }
        let mut response = answer.response;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut received: u64 = 0;
        loop {
            let n = match response.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(OciError::Read { url: url.clone(), source }),
            };
            if received + n as u64 > size {
                return Err(OciError::Overlong { url: url.clone(), expected: size });
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|source| OciError::Write {
                digest: digest.to_string(),
                url: url.clone(),
                source,
            })?;
            received += n as u64;
        }
        if received < size {
            return Err(OciError::Truncated { url: url.clone(), expected: size, received });
        }
        let actual = Digest::from_bytes(hasher.finalize().into());
        if actual != *digest {
            return Err(OciError::DigestMismatch {
                url: url.clone(),
                check: "the digest asked for",
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        out.flush().map_err(|source| OciError::Write { digest: digest.to_string(), url: url.clone(), source })?;
        Ok(())
    }
}
