//! The async client, for the TUF client (it takes a `reqwest::Client`).

use crate::builder::{ClientBuilder, configure};
use crate::config::Service;
use crate::error::PinningError;

/// An async client for one service, and whether pins are enforced on it.
#[derive(Debug, Clone)]
pub struct PinnedAsyncClient {
    /// The client; use it for every request to the service.
    pub client: reqwest::Client,
    /// Whether at least one pin is enforced for the service's host.
    pub pinned: bool,
    /// The host name pins apply to.
    pub host: String,
}

impl ClientBuilder {
    /// [`build`](Self::build) for an async `reqwest::Client` (the TUF client
    /// takes one): the same verifier, timeouts, https-only and no-redirect
    /// policy. Its requests need a tokio runtime.
    pub fn build_async(&self, service: Service, url: &str) -> Result<PinnedAsyncClient, PinningError> {
        let p = self.prepare(service, url)?;
        let client = configure!(reqwest::Client::builder(), p).build().map_err(PinningError::Http)?;
        Ok(PinnedAsyncClient { client, pinned: p.pinned, host: p.host })
    }
}
