//! Reading a response: status, content type, JSON (naming the failing
//! field), and the OAuth error object (body or `WWW-Authenticate`).

use super::HttpResponse;
use crate::error::{display_url, sanitize, Endpoint, Error, ErrorCode, Result, ServerError};
use serde::de::DeserializeOwned;

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
    serde_path_to_error::deserialize(&mut de).map_err(path_error)
}

/// What a failed deserialisation says: the field path (when not the top)
/// and the error, quoted safely.
fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let what = sanitize(&e.into_inner().to_string(), 160);
    if path == "." || path.is_empty() {
        what
    } else {
        format!("field {path}: {what}")
    }
}

/// Reads `T` out of an already parsed JSON value, naming the field path of
/// what is wrong (as [`parse_json`] does for bytes).
pub(crate) fn parse_value<T: DeserializeOwned>(
    value: serde_json::Value,
) -> std::result::Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(path_error)
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
