//! The one outbound HTTP client of Aion: every node that calls the network goes through
//! [`HttpClient`], which refuses internal addresses (SSRF guard), caps bodies and applies
//! timeouts.
//!
//! The guard has three layers, because no single one sees every address:
//! - a custom DNS resolver drops addresses the [`Policy`] refuses (and fails with
//!   `blocked_address` when none is left), so a public name pointing at `127.0.0.1` is refused;
//! - URLs whose host is an IP literal (`127.0.0.1`, `[::1]`, `2130706433`, which the URL parser
//!   reads as `127.0.0.1`) are checked before anything is sent, since reqwest skips the resolver
//!   for them;
//! - every redirect target is checked the same way (scheme, literal host, count), and its name
//!   goes through the resolver again when the connection opens.
//!
//! Proxies from the environment are ignored (a proxy would resolve names for us, bypassing the
//! guard). TLS uses rustls with the `ring` provider, installed on first use if the process has
//! not installed one, and the platform's root certificates (`rustls-platform-verifier`).

mod error;
mod policy;
#[cfg(feature = "test-server")]
pub mod test_server;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, is_retryable_status};
pub use policy::{
    BlockReason, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_REDIRECTS,
    DEFAULT_TIMEOUT, Policy,
};
/// The underlying client library, for request building types (`Method`, `header`, `Url`…).
pub use reqwest;
pub use reqwest::{Method, RequestBuilder, StatusCode, Url, header};

use error::Inner;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;

/// The `User-Agent` every request sends unless it sets its own.
pub const USER_AGENT: &str = concat!("aion/", env!("CARGO_PKG_VERSION"));

/// How many bytes of a body [`Response::error_for_status`] keeps.
pub const BODY_EXCERPT_BYTES: usize = 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The guarded client. Cheap to clone (an `Arc` inside); build one per process and share it.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::Client,
    policy: Arc<Policy>,
}

/// A response whose body has been read in full (within the cap).
#[derive(Clone, Debug)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers of the final response (after redirects).
    pub headers: HeaderMap,
    /// The final URL (after redirects).
    pub url: Url,
    /// The body, decompressed.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The start of the body as text, for error messages.
    pub fn body_excerpt(&self, max_bytes: usize) -> String {
        let end = self.body.len().min(max_bytes);
        String::from_utf8_lossy(self.body.get(..end).unwrap_or_default()).into_owned()
    }

    /// Fails with [`Error::Status`] unless the status is 1xx, 2xx or 3xx.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.status.is_client_error() || self.status.is_server_error() {
            Err(Error::Status {
                status: self.status.as_u16(),
                body_excerpt: self.body_excerpt(BODY_EXCERPT_BYTES),
            })
        } else {
            Ok(self)
        }
    }
}

impl HttpClient {
    /// Builds a client enforcing `policy`.
    pub fn new(policy: Policy) -> Result<Self, Error> {
        ensure_crypto_provider();
        let policy = Arc::new(policy);
        let redirect_policy = Arc::clone(&policy);
        let inner = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .no_proxy()
            .dns_resolver(GuardedResolver {
                policy: Arc::clone(&policy),
            })
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let max = redirect_policy.max_redirects;
                if attempt.previous().len() > max {
                    return attempt.error(Inner::TooManyRedirects(max));
                }
                match check_url(&redirect_policy, attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(inner) => attempt.error(inner),
                }
            }))
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .build()
            .map_err(|error| Error::Config(error.to_string()))?;
        Ok(HttpClient { inner, policy })
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Starts a request, refusing bad URLs, other schemes and blocked literal addresses now.
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, Error> {
        let url = Url::parse(url).map_err(|error| Error::InvalidUrl(error.to_string()))?;
        check_url(&self.policy, &url)?;
        Ok(self.inner.request(method, url))
    }

    /// Starts a GET request.
    pub fn get(&self, url: &str) -> Result<RequestBuilder, Error> {
        self.request(Method::GET, url)
    }

    /// Sends a request built from [`HttpClient::request`] and reads the body up to the policy's
    /// cap.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, Error> {
        self.send_with_limit(request, self.policy.max_body_bytes)
            .await
    }

    /// Like [`HttpClient::send`] with another body cap (still bounded by the caller).
    pub async fn send_with_limit(
        &self,
        request: RequestBuilder,
        max_body_bytes: usize,
    ) -> Result<Response, Error> {
        // Whatever client the builder came from, this one (with the guard) sends it.
        let (_, request) = request.build_split();
        let request = request.map_err(Error::from)?;
        // The URL may have been changed after `request()`: check it again.
        check_url(&self.policy, request.url())?;
        let mut response = self.inner.execute(request).await?;
        if response
            .content_length()
            .is_some_and(|length| length > max_body_bytes as u64)
        {
            return Err(Error::TooLarge {
                limit: max_body_bytes,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len().saturating_add(chunk.len()) > max_body_bytes {
                return Err(Error::TooLarge {
                    limit: max_body_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status: response.status(),
            headers: response.headers().clone(),
            url: response.url().clone(),
            body,
        })
    }

    /// The total timeout of the policy, for callers that clamp a per-request timeout to it.
    pub fn timeout(&self) -> Duration {
        self.policy.timeout
    }
}

/// Installs rustls' `ring` provider as the process default unless one is installed already:
/// reqwest is built without a provider of its own.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: there is one either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Checks scheme and host of a URL; literal IP hosts against the policy (names are checked by
/// the resolver when the connection opens).
fn check_url(policy: &Policy, url: &Url) -> Result<(), Inner> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(Inner::InvalidUrl(format!(
                "scheme `{other}` is not allowed: use http or https"
            )));
        }
    }
    let Some(host) = url.host_str().filter(|host| !host.is_empty()) else {
        return Err(Inner::InvalidUrl("the URL has no host".into()));
    };
    // The URL parser normalises IPv4 hosts (`2130706433`, `0x7f.1`) to dotted form and
    // brackets IPv6 ones, so these two parses see every literal.
    let ip = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        match v6.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => IpAddr::V6(v6),
            Err(_) => {
                return Err(Inner::InvalidUrl(format!(
                    "`{host}` is not an IPv6 address"
                )));
            }
        }
    } else if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
        IpAddr::V4(v4)
    } else {
        return Ok(());
    };
    policy.check(ip).map_err(|reason| Inner::Blocked {
        host: host.to_owned(),
        addr: ip,
        reason,
    })
}

/// Resolves names with the system resolver and drops the addresses the policy refuses.
struct GuardedResolver {
    policy: Arc<Policy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved =
                tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map_err(|error| -> BoxError {
                        Box::new(Inner::Dns {
                            host: host.clone(),
                            message: error.to_string(),
                        })
                    })?;
            let mut allowed = Vec::new();
            let mut blocked = None;
            for addr in resolved {
                match policy.check(addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(reason) => {
                        blocked.get_or_insert((addr.ip(), reason));
                    }
                }
            }
            if allowed.is_empty() {
                let error = match blocked {
                    Some((addr, reason)) => Inner::Blocked { host, addr, reason },
                    None => Inner::Dns {
                        host,
                        message: "no addresses".into(),
                    },
                };
                return Err(Box::new(error) as BoxError);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
