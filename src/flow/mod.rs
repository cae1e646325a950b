//! The protocol engine, without IO: every exchange with a server is a value that
//! prepares an [`HttpRequest`] and handles the [`HttpResponse`], returning
//! either its output or itself to be sent again (a fallback URL, a retry).
//! Time comes in as arguments; nothing here sleeps, reads a clock or opens a
//! socket. [`crate::Wallet`] drives these steps with an [`crate::HttpClient`].

pub mod authorization;
pub mod credential;
pub mod discovery;
pub mod offer;
pub mod protection;
pub mod session;
pub mod token;

use crate::error::{sanitize, Document, Endpoint, Error, Result};
pub(crate) use crate::http::response::{
    describe_body, error_from_response, expect_json, is_json, parse_error_body, parse_json,
};
use crate::http::{HttpRequest, HttpResponse};

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
