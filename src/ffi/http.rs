//! An optional foreign HTTP transport: the app routes the SDK's requests
//! through its own stack (OkHttp, URLSession) by implementing [`HttpClient`].

use crate::error::TransportError;
use crate::http::{BoxFuture, HttpClient as CoreHttpClient, Method};
use std::sync::Arc;
use std::time::Duration;

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// Name (lower case in requests; any case in responses).
    pub name: String,
    /// Value.
    pub value: String,
}

/// A request the SDK wants sent. Headers and body carry codes and tokens:
/// never log them.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Absolute URL (already checked against the wallet's URL policy).
    pub url: String,
    /// Headers to send, in order.
    pub headers: Vec<HttpHeader>,
    /// Body bytes (empty for GET).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &crate::error::display_url(&self.url))
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The answer the app's HTTP stack got.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    /// Status code. A 3xx must be returned as is: do not follow redirects.
    pub status: u16,
    /// Response headers (at least `content-type`).
    pub headers: Vec<HttpHeader>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Why the app's HTTP stack could not get a response. Kotlin shows it as
/// `HttpClientException`; the wallet reports it as `WalletError::Network`.
/// Its text fields are called `details` (see [`super::WalletError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum HttpClientError {
    /// No connection could be made (DNS, refused, TLS handshake).
    #[error("could not connect: {details}")]
    Connect {
        /// Details (no URL query, no secrets).
        details: String,
    },
    /// The request took too long.
    #[error("timed out")]
    Timeout,
    /// Anything else.
    #[error("{details}")]
    Other {
        /// Details (no URL query, no secrets).
        details: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HttpClientError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HttpClientError::Other {
            details: crate::error::sanitize(&e.reason, crate::error::MAX_QUOTED_CHARS),
        }
    }
}

/// An HTTP stack of the app's (OkHttp, URLSession, ...), used instead of the
/// built-in one when given to `Wallet.withHttpClient`.
///
/// `send` is called on a background thread of the SDK, never the main thread,
/// and may block until the response is there. It must not follow redirects
/// (return the 3xx response), and must not log headers or bodies. The wallet
/// still applies its URL policy, its whole-request timeout and its response
/// size cap around it.
#[uniffi::export(with_foreign)]
pub trait HttpClient: Send + Sync {
    /// Sends the request and returns the response (any status), or an error
    /// when no response came.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpClientError>;
}

/// Adapts a foreign [`HttpClient`] to the core transport trait.
pub(crate) struct ForeignHttpClient {
    inner: Arc<dyn HttpClient>,
    timeout: Duration,
    max_response_bytes: usize,
}

impl ForeignHttpClient {
    pub(crate) fn new(
        inner: Arc<dyn HttpClient>,
        timeout: Duration,
        max_response_bytes: usize,
    ) -> Self {
        Self {
            inner,
            timeout,
            max_response_bytes,
        }
    }
}

fn to_foreign(request: crate::http::HttpRequest) -> HttpRequest {
    HttpRequest {
        method: match request.method {
            Method::Get => "GET",
            Method::Post => "POST",
        }
        .to_string(),
        url: request.url,
        headers: request
            .headers
            .into_iter()
            .map(|(name, value)| HttpHeader { name, value })
            .collect(),
        body: request.body,
    }
}

fn from_foreign(
    response: HttpResponse,
    max_response_bytes: usize,
) -> Result<crate::http::HttpResponse, TransportError> {
    if (300..400).contains(&response.status) {
        return Err(TransportError::Redirect {
            status: response.status,
        });
    }
    if !(100..600).contains(&response.status) {
        return Err(TransportError::Other(format!(
            "the app's HTTP client returned status {}",
            response.status
        )));
    }
    if response.body.len() > max_response_bytes {
        return Err(TransportError::BodyTooLarge {
            limit: max_response_bytes,
        });
    }
    Ok(crate::http::HttpResponse {
        status: response.status,
        headers: response
            .headers
            .into_iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value))
            .collect(),
        body: response.body,
    })
}

impl CoreHttpClient for ForeignHttpClient {
    fn send(
        &self,
        request: crate::http::HttpRequest,
    ) -> BoxFuture<'_, Result<crate::http::HttpResponse, TransportError>> {
        let inner = self.inner.clone();
        let timeout = self.timeout;
        let cap = self.max_response_bytes;
        Box::pin(async move {
            let request = to_foreign(request);
            // The foreign call blocks (OkHttp `execute`, a semaphore around
            // URLSession): keep it off the async workers.
            let call = tokio::task::spawn_blocking(move || inner.send(request));
            let result = match tokio::time::timeout(timeout, call).await {
                Err(_) => return Err(TransportError::Timeout),
                Ok(Err(join)) => {
                    return Err(TransportError::Other(format!(
                        "the app's HTTP client panicked or was cancelled: {join}"
                    )))
                }
                Ok(Ok(result)) => result,
            };
            match result {
                Ok(response) => from_foreign(response, cap),
                Err(HttpClientError::Timeout) => Err(TransportError::Timeout),
                Err(HttpClientError::Connect { details }) => Err(TransportError::Connect(
                    crate::error::sanitize(&details, crate::error::MAX_QUOTED_CHARS),
                )),
                Err(HttpClientError::Other { details }) => Err(TransportError::Other(
                    crate::error::sanitize(&details, crate::error::MAX_QUOTED_CHARS),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Canned {
        response: Result<HttpResponse, HttpClientError>,
        seen: Mutex<Vec<HttpRequest>>,
    }

    impl HttpClient for Canned {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpClientError> {
            self.seen.lock().unwrap().push(request);
            self.response.clone()
        }
    }

    fn adapter(
        response: Result<HttpResponse, HttpClientError>,
    ) -> (ForeignHttpClient, Arc<Canned>) {
        let canned = Arc::new(Canned {
            response,
            seen: Mutex::new(Vec::new()),
        });
        (
            ForeignHttpClient::new(canned.clone(), Duration::from_secs(5), 16),
            canned,
        )
    }

    fn ok(status: u16, body: &[u8]) -> Result<HttpResponse, HttpClientError> {
        Ok(HttpResponse {
            status,
            headers: vec![HttpHeader {
                name: "Content-Type".into(),
                value: "application/json".into(),
            }],
            body: body.to_vec(),
        })
    }

    #[tokio::test]
    async fn passes_request_and_response_through() {
        let (client, canned) = adapter(ok(200, b"{}"));
        let request =
            crate::http::HttpRequest::post_form("https://as.example/token", &[("a", "b")])
                .header("Accept", "application/json");
        let response = client.send(request).await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.media_type().as_deref(), Some("application/json"));
        assert_eq!(response.body, b"{}");
        let seen = canned.seen.lock().unwrap();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].url, "https://as.example/token");
        assert_eq!(seen[0].body, b"a=b");
        assert!(seen[0].headers.contains(&HttpHeader {
            name: "accept".into(),
            value: "application/json".into()
        }));
        let debug = format!("{:?}", seen[0]);
        assert!(!debug.contains("a=b"), "{debug}");
    }

    #[tokio::test]
    async fn enforces_policy() {
        let (client, _) = adapter(ok(302, b""));
        let err = client
            .send(crate::http::HttpRequest::get("https://i.example/"))
            .await
            .unwrap_err();
        assert_eq!(err, TransportError::Redirect { status: 302 });

        let (client, _) = adapter(ok(200, &[b'x'; 17]));
        let err = client
            .send(crate::http::HttpRequest::get("https://i.example/"))
            .await
            .unwrap_err();
        assert_eq!(err, TransportError::BodyTooLarge { limit: 16 });

        let (client, _) = adapter(Err(HttpClientError::Timeout));
        let err = client
            .send(crate::http::HttpRequest::get("https://i.example/"))
            .await
            .unwrap_err();
        assert_eq!(err, TransportError::Timeout);

        let (client, _) = adapter(Err(HttpClientError::Connect {
            details: "refused".into(),
        }));
        let err = client
            .send(crate::http::HttpRequest::get("https://i.example/"))
            .await
            .unwrap_err();
        assert_eq!(err, TransportError::Connect("refused".into()));
    }

    #[tokio::test]
    async fn times_out_a_slow_foreign_client() {
        struct Slow;
        impl HttpClient for Slow {
            fn send(&self, _: HttpRequest) -> Result<HttpResponse, HttpClientError> {
                std::thread::sleep(Duration::from_millis(500));
                Err(HttpClientError::Other {
                    details: "too late".into(),
                })
            }
        }
        let client = ForeignHttpClient::new(Arc::new(Slow), Duration::from_millis(50), 1024);
        let err = client
            .send(crate::http::HttpRequest::get("https://i.example/"))
            .await
            .unwrap_err();
        assert_eq!(err, TransportError::Timeout);
    }
}
