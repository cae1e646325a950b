//! Canned answers: an endpoint answers with a response a test chose (a wrong
//! status, a malformed or huge body, a body that trickles or breaks off, a
//! redirect) instead of its real one.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The endpoints a canned answer can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Endpoint {
    /// `{ID}/offers/{id}` (offers by reference).
    Offer,
    /// `/.well-known/openid-credential-issuer...` (both URLs).
    IssuerMetadata,
    /// `/.well-known/oauth-authorization-server...` and `openid-configuration`.
    AsMetadata,
    /// `/.well-known/jwt-vc-issuer...`
    JwtVcIssuer,
    /// The authorization endpoint.
    Authorize,
    /// The pushed authorization request endpoint.
    Par,
    /// The token endpoint.
    Token,
    /// The wallet attestation challenge endpoint.
    Challenge,
    /// The nonce endpoint.
    Nonce,
    /// The credential endpoint.
    Credential,
    /// The deferred credential endpoint.
    Deferred,
    /// The notification endpoint.
    Notification,
    /// The did:web DID document (`/.well-known/did.json` or
    /// `<path>/did.json`), in any signing mode.
    DidDocument,
}

/// The body of a canned answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CannedBody {
    /// No body.
    Empty,
    /// This text.
    Text(String),
    /// This JSON value.
    Json(serde_json::Value),
    /// `len` copies of `byte`, streamed in chunks without a content-length.
    Repeat {
        /// The byte.
        byte: u8,
        /// How many.
        len: usize,
    },
    /// The text, one byte every `delay_ms` milliseconds.
    Trickle {
        /// The text.
        text: String,
        /// Delay between bytes.
        delay_ms: u64,
    },
    /// Announces the text's full length, sends its first `sent` bytes, then
    /// drops the connection.
    Truncated {
        /// The text.
        text: String,
        /// Bytes sent before the connection breaks.
        sent: usize,
    },
}

/// A canned answer for one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Canned {
    /// Which endpoint answers this way.
    pub endpoint: Endpoint,
    /// HTTP status.
    pub status: u16,
    /// `content-type` (none when absent).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Extra headers (e.g. `location` for a redirect).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: CannedBody,
    /// Only the first `times` requests get it (then the endpoint works
    /// normally); `None`: every request.
    #[serde(default)]
    pub times: Option<u32>,
}

impl Canned {
    /// A JSON answer.
    pub fn json(endpoint: Endpoint, status: u16, body: serde_json::Value) -> Self {
        Canned {
            endpoint,
            status,
            content_type: Some("application/json".into()),
            headers: Vec::new(),
            body: CannedBody::Json(body),
            times: None,
        }
    }

    /// An answer with this content type and text body.
    pub fn text(endpoint: Endpoint, status: u16, content_type: &str, body: &str) -> Self {
        Canned {
            endpoint,
            status,
            content_type: (!content_type.is_empty()).then(|| content_type.to_string()),
            headers: Vec::new(),
            body: if body.is_empty() {
                CannedBody::Empty
            } else {
                CannedBody::Text(body.to_string())
            },
            times: None,
        }
    }

    /// An answer with a special body, served as JSON.
    pub fn body(endpoint: Endpoint, status: u16, body: CannedBody) -> Self {
        Canned {
            endpoint,
            status,
            content_type: Some("application/json".into()),
            headers: Vec::new(),
            body,
            times: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Only for the first `n` requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub(crate) fn response(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = Response::builder().status(status);
        if let Some(ct) = &self.content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                builder = builder.header(n, v);
            }
        }
        let body = match &self.body {
            CannedBody::Empty => Body::empty(),
            CannedBody::Text(t) => Body::from(t.clone()),
            CannedBody::Json(v) => Body::from(v.to_string()),
            CannedBody::Repeat { byte, len } => {
                const CHUNK: usize = 64 * 1024;
                let (byte, len) = (*byte, *len);
                let stream = futures_util::stream::unfold(0usize, move |sent| async move {
                    (sent < len).then(|| {
                        let n = CHUNK.min(len - sent);
                        (
                            Ok::<_, std::io::Error>(Bytes::from(vec![byte; n])),
                            sent + n,
                        )
                    })
                });
                Body::from_stream(stream)
            }
            CannedBody::Trickle { text, delay_ms } => {
                let bytes = text.clone().into_bytes();
                let delay = Duration::from_millis(*delay_ms);
                let stream = futures_util::stream::unfold(0usize, move |i| {
                    let bytes = bytes.clone();
                    async move {
                        if i >= bytes.len() {
                            return None;
                        }
                        tokio::time::sleep(delay).await;
                        Some((Ok::<_, std::io::Error>(Bytes::from(vec![bytes[i]])), i + 1))
                    }
                });
                Body::from_stream(stream)
            }
            CannedBody::Truncated { text, sent } => {
                builder = builder.header(header::CONTENT_LENGTH, text.len());
                let head = Bytes::from(text.as_bytes()[..(*sent).min(text.len())].to_vec());
                let stream = futures_util::stream::iter(vec![
                    Ok(head),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "deliberately broken off",
                    )),
                ]);
                Body::from_stream(stream)
            }
        };
        builder.body(body).unwrap_or_default()
    }
}
