/// An HTTP error answer: status code and a message for the JSON body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Human-readable reason, sent as `{"code":status,"message":...}`.
    pub message: String,
}

impl ApiError {
    /// Builds an error answer.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// A 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }

    /// A 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }
}

/// Errors of the local instance outside request handling (start-up, files, keys, tokens).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Key, certificate or signature handling failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// A stored file or an argument is not what was expected.
    #[error("invalid: {0}")]
    Invalid(String),
}

impl LocalError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    /// A crypto error from anything displayable.
    pub(crate) fn crypto(e: impl std::fmt::Display) -> Self {
        Self::Crypto(e.to_string())
    }
}

impl From<LocalError> for ApiError {
    fn from(e: LocalError) -> Self {
        ApiError::internal(e.to_string())
    }
}
