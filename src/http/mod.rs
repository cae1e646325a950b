//! Transport: an [`HttpClient`] trait (request in, response out) and a
//! [`ReqwestClient`] implementation with the SDK's security defaults.
//!
//! The protocol engine ([`crate::flow`]) only builds [`HttpRequest`]s and reads
//! [`HttpResponse`]s; whatever sends them is up to the app. A closure
//! `Fn(HttpRequest) -> impl Future<Output = Result<HttpResponse, TransportError>>`
//! is an `HttpClient` too.

pub(crate) mod cache;
pub(crate) mod reqwest_client;
pub(crate) mod response;
pub(crate) mod trace;

#[cfg(feature = "builtin-http")]
pub(crate) use reqwest_client::ReqwestClient;
pub(crate) use reqwest_client::ReqwestConfig;

use crate::error::TransportError;
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future, as returned by [`HttpClient::send`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// HTTP methods the protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

impl Method {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// An HTTP request built by the engine.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// Body bytes (empty for GET).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpRequest {
    // Bodies and headers carry codes and tokens: show only method and URL path.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &crate::error::display_url(&self.url))
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl HttpRequest {
    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A POST request with a body of the given content type.
    pub fn post(url: impl Into<String>, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            method: Method::Post,
            url: url.into(),
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// A POST of a JSON body.
    pub fn post_json(url: impl Into<String>, body: &impl serde::Serialize) -> Self {
        // Serializing our own message types cannot fail.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Self::post(url, "application/json", bytes)
    }

    /// A POST of an `application/x-www-form-urlencoded` body.
    pub fn post_form(url: impl Into<String>, fields: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        Self::post(url, "application/x-www-form-urlencoded", body.into_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
}

/// An HTTP response as the engine reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// Body bytes (already capped by the transport).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("content_type", &self.header("content-type"))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl HttpResponse {
    /// A response with a status and a JSON body (handy in tests and custom clients).
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lower case, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends HTTP requests. Implement it to route the SDK through your own stack.
///
/// Implementations must not follow redirects (return the 3xx as is), should
/// bound time and body size, and must not log bodies or headers (they carry
/// secrets).
pub trait HttpClient: Send + Sync {
    /// Sends one request and returns the response.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

impl<F, Fut> HttpClient for F
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<HttpResponse, TransportError>> + Send + 'static,
{
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self(request))
    }
}

/// Whether a URL may be called: https always; http only to loopback hosts and
/// only when `allow_http` is set.
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<url::Url, TransportError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| TransportError::UrlNotAllowed(format!("not a URL ({e})")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http && is_loopback(&parsed) => Ok(parsed),
        "http" if allow_http => Err(TransportError::UrlNotAllowed(
            "http is allowed only to loopback hosts".into(),
        )),
        "http" => Err(TransportError::UrlNotAllowed(
            "http URL (https required; dangerous_allow_http allows loopback http)".into(),
        )),
        other => Err(TransportError::UrlNotAllowed(format!(
            "scheme {} (https required)",
            crate::error::sanitize(other, 20)
        ))),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_policy() {
        assert!(check_url("https://issuer.example/x", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/x", false).is_err());
        assert!(check_url("http://127.0.0.1:8080/x", true).is_ok());
        assert!(check_url("http://[::1]:8080/x", true).is_ok());
        assert!(check_url("http://issuer.example/x", true).is_err());
        assert!(check_url("ftp://issuer.example/x", true).is_err());
    }

    #[test]
    fn request_debug_hides_secrets() {
        let r = HttpRequest::post_form(
            "https://as.example/token?x=1",
            &[("pre-authorized_code", "SECRET")],
        )
        .header("authorization", "Bearer TOKEN");
        let s = format!("{r:?}");
        assert!(
            !s.contains("SECRET") && !s.contains("TOKEN") && !s.contains("x=1"),
            "{s}"
        );
    }
}
