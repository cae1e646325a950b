//! The protocol engine, without IO: every exchange with a server is a value that
//! prepares an [`HttpRequest`] and handles the [`HttpResponse`], returning
//! either its output or itself to be sent again (a fallback URL, a retry).
//! Time comes in as arguments; nothing here sleeps, reads a clock or opens a
//! socket. [`crate::Wallet`] drives these steps with an [`crate::HttpClient`].

pub mod authorization;
pub mod credential;
pub mod discovery;
pub mod offer;
pub mod session;
pub mod token;

use crate::error::{
    display_url, sanitize, Document, Endpoint, Error, ErrorCode, Result, ServerError,
};
use crate::http::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

/// Engine settings that shape requests and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Allow http URLs to loopback hosts (tests only).
    pub allow_http: bool,
    /// `Accept-Language` preference list.
    pub locales: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            locales: vec!["en".into()],
        }
    }
}

/// What handling a response led to.
#[derive(Debug)]
pub enum Progress<S, T> {
    /// Send this step's (new) request.
    Again(S),
    /// The exchange is complete.
    Done(T),
}

/// One request/response exchange with a server.
pub trait Exchange: Sized {
    /// What the exchange produces.
    type Output;
    /// Which endpoint it talks to (for errors).
    fn endpoint(&self) -> Endpoint;
    /// The request to send now.
    fn prepare_request(&self, config: &EngineConfig) -> Result<HttpRequest>;
    /// Reads the response.
    fn handle_response(
        self,
        response: HttpResponse,
        config: &EngineConfig,
    ) -> Result<Progress<Self, Self::Output>>;
}

/// The most times one exchange may ask to be sent again (fallbacks, retries).
pub const MAX_EXCHANGE_ROUNDS: usize = 3;

/// Turns a non-success response into the most specific error: a typed server
/// error when the body is an OAuth error object, else an unexpected response.
pub(crate) fn error_from_response(endpoint: Endpoint, url: &str, response: &HttpResponse) -> Error {
    if let Some(e) = parse_error_body(response) {
        return Error::Server {
            endpoint,
            url: display_url(url),
            status: response.status,
            error: e,
        };
    }
    if response.status == 401 {
        if let Some(e) = parse_www_authenticate(response) {
            return Error::Server {
                endpoint,
                url: display_url(url),
                status: 401,
                error: e,
            };
        }
    }
    Error::UnexpectedResponse {
        endpoint,
        url: display_url(url),
        status: response.status,
        problem: describe_body(response),
    }
}

/// Parses an OAuth error object from a JSON body, if there is one.
pub(crate) fn parse_error_body(response: &HttpResponse) -> Option<ServerError> {
    let value: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    let code = value.get("error")?.as_str()?;
    Some(ServerError {
        code: ErrorCode::parse(code),
        description: value
            .get("error_description")
            .and_then(|d| d.as_str())
            .map(|d| sanitize(d, crate::error::MAX_QUOTED_CHARS)),
    })
}

/// Reads `error="..."` from a `WWW-Authenticate` header (RFC 6750).
fn parse_www_authenticate(response: &HttpResponse) -> Option<ServerError> {
    let header = response.header("www-authenticate")?;
    let start = header.find("error=\"")? + 7;
    let rest = &header[start..];
    let code = &rest[..rest.find('"')?];
    Some(ServerError {
        code: ErrorCode::parse(code),
        description: None,
    })
}

/// A short, safe description of a body that was not what we expected.
pub(crate) fn describe_body(response: &HttpResponse) -> String {
    let media = response
        .media_type()
        .unwrap_or_else(|| "no content type".into());
    if response.body.is_empty() {
        return format!("empty body ({media})");
    }
    let text = String::from_utf8_lossy(&response.body[..response.body.len().min(400)]);
    format!(
        "{} bytes of {media}: {}",
        response.body.len(),
        sanitize(&text, 80)
    )
}

/// Whether a media type is JSON (`application/json` or `application/*+json`).
pub(crate) fn is_json(response: &HttpResponse) -> bool {
    response.media_type().is_some_and(|m| {
        m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
    })
}

/// Parses a JSON body into `T`, naming the failing field.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let what = sanitize(&inner.to_string(), 160);
            if path == "." || path.is_empty() {
                Err(what)
            } else {
                Err(format!("field {path}: {what}"))
            }
        }
    }
}

/// Checks a 2xx JSON response and parses it, or returns the typed error.
pub(crate) fn expect_json<T: DeserializeOwned>(
    endpoint: Endpoint,
    url: &str,
    response: &HttpResponse,
) -> Result<T> {
    if !response.is_success() {
        return Err(error_from_response(endpoint, url, response));
    }
    let unexpected = |problem: String| Error::UnexpectedResponse {
        endpoint,
        url: display_url(url),
        status: response.status,
        problem,
    };
    if !is_json(response) {
        return Err(unexpected(format!(
            "expected application/json, got {}",
            describe_body(response)
        )));
    }
    parse_json(&response.body).map_err(unexpected)
}

/// Checks that a URL taken from a document is usable (https, or loopback http
/// when allowed), naming the document and field otherwise.
pub(crate) fn check_endpoint(
    document: Document,
    doc_url: &str,
    field: &str,
    value: &str,
    config: &EngineConfig,
) -> Result<()> {
    // No downgrade: a document fetched over https names only https endpoints,
    // even when loopback http is allowed.
    if doc_url.starts_with("https://") && !value.starts_with("https://") {
        return Err(Error::metadata(
            document,
            doc_url,
            format!(
                "field {field}: expected an https URL, got {} (http endpoint in https metadata)",
                sanitize(value, crate::error::MAX_QUOTED_CHARS)
            ),
        ));
    }
    crate::http::check_url(value, config.allow_http)
        .map(|_| ())
        .map_err(|e| {
            Error::metadata(
                document,
                doc_url,
                format!(
                    "field {field}: expected an https URL, got {} ({e})",
                    sanitize(value, crate::error::MAX_QUOTED_CHARS)
                ),
            )
        })
}

/// The `Accept-Language` value for the configured locales.
pub(crate) fn accept_language(config: &EngineConfig) -> String {
    config
        .locales
        .iter()
        .enumerate()
        .map(|(i, l)| match i {
            0 => l.clone(),
            _ => format!("{l};q={:.1}", (10 - i.min(9)) as f32 / 10.0),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
