//! The discovery documents: the credential issuer's metadata (at the
//! inserted and the appended well-known URL, plain or signed), the
//! authorization server's metadata, the `jwt-vc-issuer` metadata and the
//! did:web document.

use super::{not_found, oauth_error, respond, server_error, Request};
use crate::credential::{self, CredentialSigner, KeyHeader, SignKey};
use crate::did;
use crate::metadata;
use crate::state::{Fault, Shared};
use crate::trust::CredentialSigning;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

/// `GET /.well-known/openid-credential-issuer{path}`: the metadata, unless
/// the faults (or draft 13, which appends the well-known suffix) hide it.
pub(super) fn inserted_issuer_metadata(shared: &Shared, request: &Request) -> Response {
    let p = shared.settings.path.as_str();
    // With an empty path the appended URL is this same URL.
    let appended_only =
        shared.has(Fault::MetadataAppendedPathOnly) || shared.settings.spec.before_1_0();
    let hidden = shared.has(Fault::MetadataNotFound) || (appended_only && !p.is_empty());
    if hidden {
        return not_found();
    }
    if shared.has(Fault::MetadataServerError) {
        return server_error();
    }
    issuer_metadata(shared, request)
}

/// `GET /.well-known/oauth-authorization-server{prefix}` (RFC 8414), unless
/// a fault hides it or breaks it.
pub(super) fn authorization_server_metadata(shared: &Shared, request: &Request) -> Response {
    if shared.has(Fault::AsOpenidConfigurationOnly) {
        not_found()
    } else if shared.has(Fault::AsServerError) {
        server_error()
    } else {
        openid_configuration(shared, request)
    }
}

/// `GET {prefix}/.well-known/openid-configuration`: the same metadata.
pub(super) fn openid_configuration(shared: &Shared, request: &Request) -> Response {
    let metadata = metadata::authorization_server_metadata(shared);
    document(shared, request, "application/json", metadata.to_string())
}

/// `GET /.well-known/jwt-vc-issuer{path}`.
pub(super) fn jwt_vc_issuer(shared: &Shared, request: &Request) -> Response {
    let metadata = metadata::jwt_vc_issuer_metadata(shared);
    document(shared, request, "application/json", metadata.to_string())
}

/// A discovery document: `no-store` (as every answer), or, with
/// [`crate::IssuerBuilder::cache_max_age`], its `Cache-Control`, an `ETag`
/// (a hash of the body), and 304 without a body to a matching
/// `If-None-Match`.
fn document(shared: &Shared, request: &Request, content_type: &str, body: String) -> Response {
    let Some(cache_control) = &shared.settings.cache_control else {
        return respond(StatusCode::OK, content_type, body);
    };
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let matches = request
        .headers
        .get_all(axum::http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == etag || t.trim() == "*");
    let builder = Response::builder()
        .header(axum::http::header::CACHE_CONTROL, cache_control.as_str())
        .header(axum::http::header::ETAG, etag.as_str());
    if matches {
        shared.lock().count("not_modified");
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(axum::body::Body::empty())
            .unwrap_or_default();
    }
    builder
        .status(StatusCode::OK)
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap_or_default()
}

/// The did:web document, when the issuer is named by a did:web (`None`:
/// no such resource).
pub(super) fn did_document(shared: &Shared, request: &Request) -> Option<Response> {
    let issuer = shared
        .did
        .as_ref()
        .filter(|_| shared.settings.credential_signing == CredentialSigning::DidWeb)?;
    let document = did::did_document(&issuer.did, &issuer.document_jwk);
    Some(self::document(
        shared,
        request,
        "application/did+json",
        document.to_string(),
    ))
}

pub(super) fn issuer_metadata(shared: &Shared, request: &Request) -> Response {
    let mut metadata = metadata::issuer_metadata(shared);
    if shared.has(Fault::MetadataWrongContentType) {
        return respond(StatusCode::OK, "text/html", metadata.to_string());
    }
    if shared.settings.signed_metadata {
        let jwt = match signed_metadata(shared, &metadata) {
            Ok(jwt) => jwt,
            Err(e) => return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
        };
        // 1.0: content negotiation; draft 13: a parameter of the JSON.
        if shared.settings.spec.before_1_0() {
            metadata["signed_metadata"] = json!(jwt);
        } else if wants_jwt(request) {
            return document(shared, request, "application/jwt", jwt);
        }
    }
    document(shared, request, "application/json", metadata.to_string())
}

/// Whether the request's `Accept` lists `application/jwt` (before or
/// without `application/json`).
fn wants_jwt(request: &Request) -> bool {
    let accept = request
        .headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let position = |media: &str| accept.find(media);
    match (position("application/jwt"), position("application/json")) {
        (Some(_), None) => true,
        (Some(jwt), Some(json)) => jwt < json,
        _ => false,
    }
}

/// The metadata as an `openidvci-issuer-metadata+jwt` (OID4VCI 1.0 12.2.3):
/// its parameters as claims, `sub` the issuer, `iat`, `exp` a day on,
/// signed with the credential key and the `x5c` chain to the test root.
/// With [`Fault::SignedMetadataBadSignature`] one signature byte is flipped.
fn signed_metadata(shared: &Shared, metadata: &Value) -> Result<String, String> {
    let mut claims = metadata.clone();
    let now = credential::now_secs();
    claims["sub"] = json!(shared.issuer_id());
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + 86_400);
    let mut header = Map::new();
    header.insert("typ".into(), json!("openidvci-issuer-metadata+jwt"));
    let signer = CredentialSigner {
        key: SignKey::P256(shared.keys.signing_key()),
        header: KeyHeader::X5c(shared.pki()?.chain()),
    };
    let jwt = signer.sign(header, &claims);
    if !shared.has(Fault::SignedMetadataBadSignature) {
        return Ok(jwt);
    }
    let (input, signature) = jwt.rsplit_once('.').unwrap_or_default();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = b64.decode(signature).map_err(|e| e.to_string())?;
    if let Some(b) = bytes.first_mut() {
        *b ^= 0x01;
    }
    Ok(format!("{input}.{}", b64.encode(bytes)))
}
