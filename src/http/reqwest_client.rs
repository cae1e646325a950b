//! The default transport: reqwest with rustls, no redirects, timeouts and a
//! response body cap.

#[cfg(feature = "builtin-http")]
use super::{check_url, BoxFuture, HttpClient, HttpRequest, HttpResponse, Method};
#[cfg(feature = "builtin-http")]
use crate::error::TransportError;
use std::time::Duration;

/// Settings of the built-in `ReqwestClient` (feature `builtin-http`). The
/// defaults are the SDK's documented limits.
#[derive(Debug, Clone)]
pub struct ReqwestConfig {
    /// Time to establish a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time for a whole request, body included. Default 30 s.
    pub timeout: Duration,
    /// The largest response body accepted. Default 1 MiB.
    pub max_response_bytes: usize,
    /// Allow plain http to loopback hosts (tests only). Default false.
    pub allow_http: bool,
    /// Extra trusted root certificates (PEM or DER), beside the platform's.
    pub extra_root_certificates: Vec<Vec<u8>>,
}

impl Default for ReqwestConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_response_bytes: 1024 * 1024,
            allow_http: false,
            extra_root_certificates: Vec::new(),
        }
    }
}

#[cfg(feature = "builtin-http")]
/// [`HttpClient`] on reqwest (rustls, platform certificate verification).
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    client: reqwest::Client,
    config: ReqwestConfig,
}

#[cfg(feature = "builtin-http")]
impl ReqwestClient {
    /// Builds a client with the given settings.
    pub fn new(config: ReqwestConfig) -> Result<Self, TransportError> {
        let mut roots = Vec::new();
        for bytes in &config.extra_root_certificates {
            let cert = if bytes.starts_with(b"-----BEGIN") {
                reqwest::Certificate::from_pem(bytes)
            } else {
                reqwest::Certificate::from_der(bytes)
            }
            .map_err(|e| TransportError::Other(format!("root certificate: {e}")))?;
            roots.push(cert);
        }
        let client = reqwest::Client::builder()
            .tls_certs_merge(roots)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("oid4vci-wallet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Other(format!("building the HTTP client: {e}")))?;
        Ok(Self { client, config })
    }

    async fn send_inner(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let url = check_url(&request.url, self.config.allow_http)?;
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if request.method == Method::Post {
            builder = builder.body(request.body);
        }
        let mut response = builder.send().await.map_err(map_error)?;
        let status = response.status().as_u16();
        // 304 is no redirect: the answer to a revalidation (If-None-Match).
        if (300..400).contains(&status) && status != 304 {
            return Err(TransportError::Redirect { status });
        }
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let limit = self.config.max_response_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(TransportError::BodyTooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if body.len() + chunk.len() > limit {
                return Err(TransportError::BodyTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

#[cfg(feature = "builtin-http")]
fn map_error(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        TransportError::Connect(with_tls_hint(root_cause(&e)))
    } else {
        TransportError::Other(with_tls_hint(root_cause(&e)))
    }
}

#[cfg(feature = "builtin-http")]
/// rustls names certificate failures by their variant; say what to do.
fn with_tls_hint(cause: String) -> String {
    let hint = if cause.contains("UnknownIssuer") {
        "the server's certificate is not trusted: add its root certificate \
         (WalletBuilder::add_root_certificate; CLI --root-certificate)"
    } else if cause.contains("CaUsedAsEndEntity") {
        "the server presents a CA certificate as its own certificate: serve a leaf \
         certificate issued by that CA"
    } else if cause.contains("NotValidForName") {
        "the server's certificate does not name this host"
    } else if cause.contains("Expired") {
        "the server's certificate has expired"
    } else {
        return cause;
    };
    format!("{cause} ({hint})")
}

#[cfg(feature = "builtin-http")]
// reqwest's Display includes the URL (with its query); report the cause chain only.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    crate::error::sanitize(&cur.to_string(), crate::error::MAX_QUOTED_CHARS)
}

#[cfg(feature = "builtin-http")]
impl HttpClient for ReqwestClient {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.send_inner(request))
    }
}
