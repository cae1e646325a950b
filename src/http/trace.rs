//! The wire trace: every request the wallet sends and every response it
//! reads, as `tracing` events of target [`WIRE_TARGET`] at TRACE level, with
//! secrets redacted: codes, tokens, tx_codes, PKCE verifiers, private keys,
//! attestations, and the credentials themselves (their claims are personal
//! data). Nonces, `issuer_state` and transaction and notification ids keep
//! their first characters, so a tester can follow them. Issuer text is
//! escaped, never shown raw.
//!
//! Enable it with a subscriber for the target, e.g.
//! `RUST_LOG=oid4vci_wallet::wire=trace`, or the CLI's `--trace`.

use super::{HttpClient, HttpRequest, HttpResponse};
use crate::error::{display_url, Endpoint, Error, Result};
use serde_json::Value;

/// The `tracing` target of the wire trace.
pub const WIRE_TARGET: &str = "oid4vci_wallet::wire";

/// Sends `request` through `client` with the URL policy applied (https
/// only, unless `allow_http` and a loopback host), logging it (and, when
/// the wire target is on, the redacted request and response); a transport
/// failure becomes [`Error::Transport`] naming `endpoint` and the URL
/// (without its query).
pub(crate) async fn send(
    client: &dyn HttpClient,
    endpoint: Endpoint,
    request: HttpRequest,
    allow_http: bool,
) -> Result<HttpResponse> {
    // The URL as shown (without its query) is made only for an error or an
    // enabled log line.
    let sent_url = request.url.clone();
    let shown = || display_url(&sent_url);
    let transport = |kind| Error::Transport {
        endpoint,
        url: shown(),
        kind,
    };
    super::check_url(&request.url, allow_http).map_err(transport)?;
    tracing::debug!(%endpoint, url = %shown(), method = request.method.as_str(), "request");
    let wire = tracing::enabled!(target: WIRE_TARGET, tracing::Level::TRACE);
    let full_url = wire.then(|| request.url.clone());
    if wire {
        tracing::trace!(target: WIRE_TARGET, "{}", request_line(&request));
    }
    let response = client.send(request).await.map_err(transport)?;
    tracing::debug!(%endpoint, url = %shown(), status = response.status, bytes = response.body.len(), "response");
    if let Some(full_url) = full_url {
        tracing::trace!(target: WIRE_TARGET, "{}", response_line(&full_url, &response));
    }
    Ok(response)
}

/// The most body characters shown per message.
const MAX_BODY_CHARS: usize = 4096;

/// Header values never shown.
const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "dpop",
    "oauth-client-attestation",
    "oauth-client-attestation-pop",
    "cookie",
    "set-cookie",
];

/// Parameters (form, query, JSON members) whose values are never shown.
const SECRET_PARAMS: [&str; 15] = [
    "pre-authorized_code",
    "tx_code",
    "user_pin",
    "code",
    "code_verifier",
    "access_token",
    "refresh_token",
    "acceptance_token",
    "client_secret",
    "client_assertion",
    "assertion",
    "d",
    "jwt",
    "attestation",
    "key_attestation",
];

/// Parameters shown by their first characters only.
const PARTIAL_PARAMS: [&str; 6] = [
    "c_nonce",
    "nonce",
    "issuer_state",
    "state",
    "transaction_id",
    "notification_id",
];

/// Members that hold credentials (personal data): shown by kind and size.
const CREDENTIAL_PARAMS: [&str; 2] = ["credential", "credentials"];

/// One line for a request: method, URL (query redacted), headers, body.
pub(crate) fn request_line(request: &HttpRequest) -> String {
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let content_type = header(&headers, "content-type");
    format!(
        "> {} {} headers[{}] body[{}]",
        request.method.as_str(),
        escape(&redact_url(&request.url)),
        show_headers(&headers),
        show_body(content_type, &request.body)
    )
}

/// One line for a response: status, headers, body.
pub(crate) fn response_line(url: &str, response: &HttpResponse) -> String {
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    format!(
        "< {} {} headers[{}] body[{}]",
        response.status,
        escape(&redact_url(url)),
        show_headers(&headers),
        show_body(header(&headers, "content-type"), &response.body)
    )
}

fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn show_headers(headers: &[(&str, &str)]) -> String {
    headers
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let shown = if SECRET_HEADERS.contains(&lower.as_str()) {
                // Keep the scheme of an Authorization value (Bearer, DPoP).
                match (lower.as_str(), value.split_once(' ')) {
                    ("authorization", Some((scheme, _))) => format!("{scheme} <redacted>"),
                    _ => "<redacted>".to_string(),
                }
            } else {
                escape(value)
            };
            format!("{}: {shown}", escape(name))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn show_body(content_type: Option<&str>, body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => return format!("<{} bytes>", body.len()),
    };
    let shown = if media == "application/x-www-form-urlencoded" {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| format!("{k}={}", redact_value(&k, &v)))
            .collect::<Vec<_>>()
            .join("&")
    } else if let Ok(mut json) = serde_json::from_str::<Value>(text) {
        redact_json(&mut json, 0);
        json.to_string()
    } else if media == "application/jwt" || looks_like_jwt(text) {
        // Encrypted requests and responses, signed metadata, offers as JWTs.
        format!("<{} JWT of {} chars>", jwt_kind(text), text.len())
    } else {
        text.to_string()
    };
    let escaped = escape(&shown);
    match escaped.char_indices().nth(MAX_BODY_CHARS) {
        Some((at, _)) => format!("{}… ({} chars)", &escaped[..at], escaped.len()),
        None => escaped,
    }
}

fn looks_like_jwt(text: &str) -> bool {
    let parts = text.trim().split('.').count();
    (parts == 3 || parts == 5)
        && text
            .trim()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn jwt_kind(text: &str) -> &'static str {
    if text.trim().split('.').count() == 5 {
        "a JWE"
    } else {
        "a JWS"
    }
}

fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.split(['?', '#']).next().unwrap_or_default().to_string();
    };
    parsed.set_fragment(None);
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let shown = redact_value(&k, &v);
                (k.into_owned(), shown)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

fn redact_value(name: &str, value: &str) -> String {
    if SECRET_PARAMS.contains(&name) {
        "<redacted>".into()
    } else if PARTIAL_PARAMS.contains(&name) {
        partial(value)
    } else if CREDENTIAL_PARAMS.contains(&name) {
        format!("<credential of {} chars>", value.len())
    } else {
        value.to_string()
    }
}

fn partial(value: &str) -> String {
    let head: String = value.chars().take(4).collect();
    format!("{head}…({} chars)", value.chars().count())
}

fn redact_json(value: &mut Value, depth: usize) {
    if depth > 32 {
        *value = Value::String("<nested too deep>".into());
        return;
    }
    match value {
        Value::Object(map) => {
            for (name, member) in map.iter_mut() {
                let name = name.as_str();
                if CREDENTIAL_PARAMS.contains(&name) {
                    *member = Value::String(credential_summary(member));
                } else if SECRET_PARAMS.contains(&name) && !member.is_null() {
                    // A tx_code object in an offer describes the code (it is
                    // not one): keep it.
                    if !(name == "tx_code" && member.is_object()) {
                        *member = Value::String("<redacted>".into());
                    }
                } else if let (true, Some(text)) = (PARTIAL_PARAMS.contains(&name), member.as_str())
                {
                    *member = Value::String(partial(text));
                } else {
                    redact_json(member, depth + 1);
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(|v| redact_json(v, depth + 1)),
        _ => {}
    }
}

fn credential_summary(value: &Value) -> String {
    match value {
        Value::String(text) if text.contains('~') => format!(
            "<SD-JWT of {} chars, {} disclosures>",
            text.len(),
            text.split('~').skip(1).filter(|d| !d.is_empty()).count()
        ),
        Value::String(text) => format!("<credential of {} chars>", text.len()),
        Value::Array(list) => format!("<{} credentials>", list.len()),
        Value::Object(_) => "<a credential object>".into(),
        other => format!(
            "<{}>",
            if other.is_null() {
                "null"
            } else {
                "a credential"
            }
        ),
    }
}

/// Issuer text as text ([`crate::error::escape_text`]).
fn escape(text: &str) -> String {
    crate::error::escape_text(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_the_rest_kept() {
        let request = HttpRequest::post(
            "https://as.example/token?code=abc&x=1#frag",
            "application/x-www-form-urlencoded",
            b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code&pre-authorized_code=SECRETCODE&tx_code=493536&code_verifier=VERIFIER".to_vec(),
        )
        .header("authorization", "DPoP TOKEN123")
        .header("dpop", "eyJ.proof.sig");
        let line = request_line(&request);
        for secret in [
            "SECRETCODE",
            "493536",
            "VERIFIER",
            "TOKEN123",
            "eyJ.proof",
            "abc",
            "frag",
        ] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        assert!(line.contains("authorization: DPoP <redacted>"), "{line}");
        assert!(line.contains("grant_type=urn:ietf"), "{line}");
        assert!(line.contains("x=1"), "{line}");

        let response = HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"access_token":"AT-SECRET","refresh_token":"RT","acceptance_token":"ACC-SECRET","c_nonce":"nonce-123456","token_type":"DPoP","credentials":[{"credential":"eyJ.x.y~disc1~disc2~"}],"jwk":{"d":"PRIVATE","x":"pub"}}"#.to_vec(),
        };
        let line = response_line("https://as.example/token", &response);
        for secret in [
            "AT-SECRET",
            "ACC-SECRET",
            "\"RT\"",
            "nonce-123456",
            "disc1",
            "PRIVATE",
        ] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        assert!(line.contains("nonc…(12 chars)"), "{line}");
        assert!(line.contains("\"token_type\":\"DPoP\""), "{line}");
        assert!(line.contains("<1 credentials>"), "{line}");
        assert!(line.contains("\"x\":\"pub\""), "{line}");
    }

    #[test]
    fn issuer_text_is_escaped_and_bodies_are_bounded() {
        let response = HttpResponse {
            status: 400,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: format!("\u{1b}[2Kfake\n\u{202e}{}", "x".repeat(10_000)).into_bytes(),
        };
        let line = response_line("https://i.example/credential", &response);
        assert!(!line.contains('\u{1b}') && !line.contains('\n') && !line.contains('\u{202e}'));
        assert!(line.contains("\\u001b[2Kfake\\u000a\\u202e"), "{line}");
        assert!(line.chars().count() < MAX_BODY_CHARS + 200, "bounded");
        let jwe = HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/jwt".into())],
            body: b"aaa.bbb.ccc.ddd.eee".to_vec(),
        };
        assert!(response_line("https://i.example/c", &jwe).contains("<a JWE JWT of 19 chars>"));
    }
}
