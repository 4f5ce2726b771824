//! The client's errors: one enum with a stable machine-readable [`Error::kind`] and whether a
//! retry may help ([`Error::is_retryable`]).

use std::net::IpAddr;

use crate::policy::BlockReason;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host resolves to (or is) an address the policy refuses; nothing was sent to it.
    #[error("`{host}` is blocked: {addr} is {reason}")]
    BlockedAddress {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// Why it is refused.
        reason: BlockReason,
    },
    /// The URL cannot be used: unparsable, no host, or a scheme other than http and https.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The connect or total deadline passed.
    #[error("the request timed out")]
    Timeout,
    /// The host name did not resolve.
    #[error("could not resolve `{host}`: {message}")]
    Dns {
        /// The name that failed.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// The connection could not be opened (refused, reset, TLS handshake failed).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The response body is larger than the cap.
    #[error("the response body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// More redirects than allowed.
    #[error("more than {max} redirects")]
    TooManyRedirects {
        /// The limit.
        max: usize,
    },
    /// The server answered with an error status (only from [`crate::Response::error_for_status`]).
    #[error("the server answered {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the body, for diagnostics.
        body_excerpt: String,
    },
    /// The request could not be built (bad header name or value, say).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The body could not be read or decoded.
    #[error("could not read the response body: {0}")]
    Body(String),
    /// Another transport failure (connection closed mid-request, protocol error).
    #[error("request failed: {0}")]
    Transport(String),
    /// The client could not be built.
    #[error("could not build the HTTP client: {0}")]
    Config(String),
}

impl Error {
    /// A stable word naming the error, for logs and step errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::BlockedAddress { .. } => "blocked_address",
            Error::InvalidUrl(_) => "invalid_url",
            Error::Timeout => "timeout",
            Error::Dns { .. } => "dns",
            Error::Connect(_) => "connect",
            Error::TooLarge { .. } => "too_large",
            Error::TooManyRedirects { .. } => "too_many_redirects",
            Error::Status { .. } => "status",
            Error::InvalidRequest(_) => "invalid_request",
            Error::Body(_) => "body",
            Error::Transport(_) => "transport",
            Error::Config(_) => "config",
        }
    }

    /// Whether a later attempt may succeed: timeouts, DNS and connection failures, interrupted
    /// transfers, and statuses 408, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout
            | Error::Dns { .. }
            | Error::Connect(_)
            | Error::Body(_)
            | Error::Transport(_) => true,
            Error::Status { status, .. } => is_retryable_status(*status),
            Error::BlockedAddress { .. }
            | Error::InvalidUrl(_)
            | Error::TooLarge { .. }
            | Error::TooManyRedirects { .. }
            | Error::InvalidRequest(_)
            | Error::Config(_) => false,
        }
    }
}

/// Whether an HTTP status is worth retrying: 408, 429 and every 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// Raised inside reqwest (by the resolver or the redirect policy) and found again in the
/// error's source chain, so the caller sees our kind rather than a generic connect error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Inner {
    #[error("`{host}` is blocked: {addr} is {reason}")]
    Blocked {
        host: String,
        addr: IpAddr,
        reason: BlockReason,
    },
    #[error("invalid redirect target: {0}")]
    InvalidUrl(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("could not resolve `{host}`: {message}")]
    Dns { host: String, message: String },
}

impl From<Inner> for Error {
    fn from(inner: Inner) -> Self {
        match inner {
            Inner::Blocked { host, addr, reason } => Error::BlockedAddress { host, addr, reason },
            Inner::InvalidUrl(message) => Error::InvalidUrl(message),
            Inner::TooManyRedirects(max) => Error::TooManyRedirects { max },
            Inner::Dns { host, message } => Error::Dns { host, message },
        }
    }
}

/// Finds an [`Inner`] anywhere in a source chain, looking inside `io::Error`s too (their
/// `source` skips the wrapped error).
fn find_inner<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Inner> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(inner) = error.downcast_ref::<Inner>() {
            return Some(inner);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(wrapped) = io.get_ref()
            && let Some(inner) = find_inner(wrapped)
        {
            return Some(inner);
        }
        current = error.source();
    }
    None
}

/// Whether a timeout hides in the chain (hyper-util reports connect timeouts as `io::Error`s).
fn has_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// The deepest message of a chain, without URLs (they may carry credentials in the query).
fn root_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        let error = error.without_url();
        if let Some(inner) = find_inner(&error) {
            return match inner {
                Inner::Blocked { host, addr, reason } => Error::BlockedAddress {
                    host: host.clone(),
                    addr: *addr,
                    reason: *reason,
                },
                Inner::InvalidUrl(message) => Error::InvalidUrl(message.clone()),
                Inner::TooManyRedirects(max) => Error::TooManyRedirects { max: *max },
                Inner::Dns { host, message } => Error::Dns {
                    host: host.clone(),
                    message: message.clone(),
                },
            };
        }
        if error.is_timeout() || has_timeout(&error) {
            Error::Timeout
        } else if error.is_builder() {
            Error::InvalidRequest(root_message(&error))
        } else if error.is_connect() {
            Error::Connect(root_message(&error))
        } else if error.is_body() || error.is_decode() {
            Error::Body(root_message(&error))
        } else {
            Error::Transport(root_message(&error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_retryability_are_stable() {
        let blocked = Error::BlockedAddress {
            host: "metadata.internal".into(),
            addr: "169.254.169.254".parse().unwrap(),
            reason: BlockReason::Metadata,
        };
        assert_eq!(
            blocked.to_string(),
            "`metadata.internal` is blocked: 169.254.169.254 is a cloud metadata address"
        );
        let status = |status| Error::Status {
            status,
            body_excerpt: String::new(),
        };
        for (error, kind, retryable) in [
            (blocked, "blocked_address", false),
            (Error::InvalidUrl("x".into()), "invalid_url", false),
            (Error::Timeout, "timeout", true),
            (Error::Connect("refused".into()), "connect", true),
            (Error::TooLarge { limit: 1 }, "too_large", false),
            (
                Error::TooManyRedirects { max: 10 },
                "too_many_redirects",
                false,
            ),
            (status(404), "status", false),
            (status(408), "status", true),
            (status(429), "status", true),
            (status(502), "status", true),
        ] {
            assert_eq!(error.kind(), kind);
            assert_eq!(error.is_retryable(), retryable, "{error}");
        }
    }
}
