//! HTTP: one dispatcher over method and path, so the issuer identifier's path
//! (and the faults) can shape every URL at run time. Here: the routers, the
//! dispatch (canned answers, rotating nonces and challenges), the request
//! and the responses every endpoint shares; each endpoint in its own file,
//! its tests beside it.
// Handlers return the ready error response as their `Err`.
#![allow(clippy::result_large_err)]

mod auth;
mod challenge;
mod credential;
mod deferred;
mod discovery;
#[cfg(test)]
mod draft11_flows;
mod nonce;
mod notification;
mod offers;
mod par;
mod test_endpoints;
#[cfg(test)]
mod test_support;
mod token;

pub(crate) use auth::as_dpop_rejection;
pub(crate) use credential::{KEY_ATTESTATIONS_ACCEPTED, KEY_ATTESTATIONS_REJECTED};
pub(crate) use token::token_response;

use crate::attestation::CHALLENGE_HEADER;
use crate::authorize;
use crate::canned::Endpoint;
use crate::did;
use crate::dpop::{Expected, Rejection, Server};
use crate::state::{Fault, Shared};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Which parts of the server a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Credential issuer and authorization server on one origin.
    Both,
    /// The credential issuer only (the AS runs separately).
    Issuer,
    /// The separate authorization server.
    AuthorizationServer,
}

/// The issuer's router; `with_as` when it is its own authorization server.
pub(crate) fn router(shared: Arc<Shared>, with_as: bool) -> Router {
    make_router(shared, if with_as { Role::Both } else { Role::Issuer })
}

/// The separate authorization server's router.
pub(crate) fn authorization_server_router(shared: Arc<Shared>) -> Router {
    make_router(shared, Role::AuthorizationServer)
}

fn make_router(shared: Arc<Shared>, role: Role) -> Router {
    Router::new()
        .fallback(
            move |State(shared): State<Arc<Shared>>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Bytes| async move {
                // A phone's network: every answer waits, so round trips show.
                let latency = shared.settings.latency;
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                dispatch(&shared, role, method, uri, headers, body)
            },
        )
        .with_state(shared)
}

pub(crate) fn respond(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(body.into())
        .unwrap_or_default()
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    respond(status, "application/json", value.to_string())
}

pub(crate) fn ok(value: Value) -> Response {
    json_response(StatusCode::OK, &value)
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({ "error": code, "error_description": description }),
    )
}

pub(crate) fn bad_request(code: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, code, description)
}

fn not_found() -> Response {
    oauth_error(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

fn server_error() -> Response {
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the server is misbehaving on purpose",
    )
}

/// A 401 with `WWW-Authenticate: <scheme> error="<code>"` and the JSON error.
fn unauthorized(scheme: &str, code: &str, description: &str) -> Response {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, code, description);
    if let Ok(value) = format!("{scheme} error=\"{code}\"").parse() {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn invalid_token(description: &str) -> Response {
    unauthorized("Bearer", "invalid_token", description)
}

const DPOP_NONCE: &str = "dpop-nonce";

/// Sets the `DPoP-Nonce` header.
fn with_dpop_nonce(mut response: Response, nonce: &str) -> Response {
    if let Ok(value) = nonce.parse() {
        response.headers_mut().insert(DPOP_NONCE, value);
    }
    response
}

/// Sets the `OAuth-Client-Attestation-Challenge` header.
fn with_attestation_challenge(mut response: Response, challenge: &str) -> Response {
    if let Ok(value) = challenge.parse() {
        response.headers_mut().insert(CHALLENGE_HEADER, value);
    }
    response
}

struct Request {
    method: Method,
    /// The URL as the client sees it (public base URL plus path), for `htu`.
    url: String,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Bytes,
}

impl Request {
    fn form_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    fn form(&self) -> HashMap<String, String> {
        self.form_pairs().into_iter().collect()
    }

    fn json(&self) -> Option<Map<String, Value>> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The token of an `Authorization: <scheme> <token>` header (the scheme
    /// compared case-insensitively).
    fn authorization(&self, scheme: &str) -> Option<&str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (given, token) = value.split_once(' ')?;
        given.eq_ignore_ascii_case(scheme).then_some(token.trim())
    }

    fn bearer(&self) -> Option<&str> {
        self.authorization("bearer")
    }

    /// The `DPoP` header: none, one, or an error (several, or not ASCII).
    fn dpop(&self) -> Result<Option<&str>, Rejection> {
        let mut all = self.headers.get_all("dpop").iter();
        let Some(first) = all.next() else {
            return Ok(None);
        };
        if all.next().is_some() {
            return Err(Rejection::InvalidProof("more than one DPoP header".into()));
        }
        first
            .to_str()
            .map(Some)
            .map_err(|_| Rejection::InvalidProof("the DPoP header is not ASCII".into()))
    }

    /// A header that may appear once: none, its value, or a description of
    /// why it is unusable (several, or not ASCII). `display` names it.
    fn single_header(&self, name: &str, display: &str) -> Result<Option<&str>, String> {
        let mut all = self.headers.get_all(name).iter();
        let Some(first) = all.next() else {
            return Ok(None);
        };
        if all.next().is_some() {
            return Err(format!("more than one {display} header"));
        }
        first
            .to_str()
            .map(Some)
            .map_err(|_| format!("the {display} header is not ASCII"))
    }

    fn expected<'a>(&'a self, access_token: Option<&'a str>) -> Expected<'a> {
        Expected {
            method: self.method.as_str(),
            url: &self.url,
            access_token,
        }
    }
}

fn dispatch(
    shared: &Shared,
    role: Role,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if !path.starts_with("/test/") {
        shared.lock().count(&path);
    }
    let base = match (role, &shared.as_base_url) {
        (Role::AuthorizationServer, Some(as_base)) => as_base,
        _ => &shared.base_url,
    };
    let request = Request {
        method,
        url: format!("{base}{path}"),
        headers,
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        body,
    };
    let as_prefix = match role {
        Role::Both => Some(shared.settings.path.as_str()),
        Role::AuthorizationServer => Some(""),
        Role::Issuer => None,
    };
    let endpoint = classify(shared, role, as_prefix, &path);
    if let Some(endpoint) = endpoint {
        if let Some(response) = canned(shared, endpoint) {
            return response;
        }
    }
    let response = if let Some(response) =
        as_prefix.and_then(|prefix| route_authorization_server(shared, prefix, &path, &request))
    {
        response
    } else if role == Role::AuthorizationServer {
        not_found()
    } else {
        route(shared, &path, &request)
    };
    let response = rotate_dpop_nonce(shared, endpoint, response);
    rotate_attestation_challenge(shared, endpoint, response)
}

/// With attestation challenges on, every answer of the token and PAR
/// endpoints carries a fresh challenge (unless it already has one, as
/// `use_attestation_challenge` answers do).
fn rotate_attestation_challenge(
    shared: &Shared,
    endpoint: Option<Endpoint>,
    response: Response,
) -> Response {
    if !shared.attestation_challenges()
        || !matches!(endpoint, Some(Endpoint::Token | Endpoint::Par))
        || response.headers().contains_key(CHALLENGE_HEADER)
    {
        return response;
    }
    let challenge = shared.lock().attestation.new_challenge();
    with_attestation_challenge(response, &challenge)
}

/// With DPoP nonces on, every answer of the token and PAR endpoints carries
/// a fresh nonce of the authorization server, and every answer of the
/// credential, deferred, notification and nonce endpoints one of the issuer
/// (unless the answer already has one, as `use_dpop_nonce` answers do).
fn rotate_dpop_nonce(shared: &Shared, endpoint: Option<Endpoint>, response: Response) -> Response {
    if !(shared.settings.require_dpop && shared.settings.dpop_nonce)
        || response.headers().contains_key(DPOP_NONCE)
    {
        return response;
    }
    let server = match endpoint {
        Some(Endpoint::Token | Endpoint::Par) => Server::AuthorizationServer,
        Some(
            Endpoint::Credential | Endpoint::Deferred | Endpoint::Notification | Endpoint::Nonce,
        ) => Server::Issuer,
        _ => return response,
    };
    let nonce = shared.lock().dpop.new_nonce(server);
    with_dpop_nonce(response, &nonce)
}

/// Which endpoint a path is, for canned answers.
fn classify(shared: &Shared, role: Role, as_prefix: Option<&str>, path: &str) -> Option<Endpoint> {
    if let Some(a) = as_prefix {
        let found = if path == format!("/.well-known/oauth-authorization-server{a}")
            || path == format!("{a}/.well-known/openid-configuration")
        {
            Some(Endpoint::AsMetadata)
        } else if path == format!("{a}/authorize") {
            Some(Endpoint::Authorize)
        } else if path == format!("{a}/par") {
            Some(Endpoint::Par)
        } else if path == format!("{a}/token") {
            Some(Endpoint::Token)
        } else if path == format!("{a}/challenge") {
            Some(Endpoint::Challenge)
        } else {
            None
        };
        if found.is_some() || role == Role::AuthorizationServer {
            return found;
        }
    }
    let p = shared.settings.path.as_str();
    let is = |suffix: &str| path == format!("{p}/{suffix}");
    if path == format!("/.well-known/openid-credential-issuer{p}")
        || path == format!("{p}/.well-known/openid-credential-issuer")
    {
        Some(Endpoint::IssuerMetadata)
    } else if path == format!("/.well-known/jwt-vc-issuer{p}") {
        Some(Endpoint::JwtVcIssuer)
    } else if path.starts_with(&format!("{p}/offers/")) {
        Some(Endpoint::Offer)
    } else if is("nonce") {
        Some(Endpoint::Nonce)
    } else if is("credential") {
        Some(Endpoint::Credential)
    } else if is("deferred") {
        Some(Endpoint::Deferred)
    } else if is("notification") {
        Some(Endpoint::Notification)
    } else if path == did::did_document_path(p) {
        Some(Endpoint::DidDocument)
    } else {
        None
    }
}

/// The first canned answer for `endpoint` that still applies.
fn canned(shared: &Shared, endpoint: Endpoint) -> Option<Response> {
    let mut inner = shared.lock();
    for (i, c) in shared.settings.canned.iter().enumerate() {
        if c.endpoint != endpoint {
            continue;
        }
        let served = inner.canned_served.entry(i).or_default();
        if c.times.is_some_and(|t| *served >= t) {
            continue;
        }
        *served += 1;
        return Some(c.response());
    }
    None
}

/// The authorization server's endpoints under `prefix`.
fn route_authorization_server(
    shared: &Shared,
    prefix: &str,
    path: &str,
    request: &Request,
) -> Option<Response> {
    let post = request.method == Method::POST;
    let get = request.method == Method::GET;
    let is = |suffix: &str| path == format!("{prefix}/{suffix}");
    Some(
        if get && path == format!("/.well-known/oauth-authorization-server{prefix}") {
            discovery::authorization_server_metadata(shared, request)
        } else if get && is(".well-known/openid-configuration") {
            discovery::openid_configuration(shared, request)
        } else if get && is("authorize") {
            authorize::authorization_endpoint(shared, &request.query)
        } else if post && is("authorize/login") {
            authorize::login(shared, &request.form())
        } else if post && is("authorize/consent") {
            authorize::consent(shared, &request.form())
        } else if post && is("par") && shared.settings.offer_par {
            par::par(shared, request)
        } else if post && is("token") {
            token::token(shared, request)
        } else if post && is("challenge") && shared.attestation_challenges() {
            challenge::challenge(shared)
        } else {
            return None;
        },
    )
}

fn route(shared: &Shared, path: &str, request: &Request) -> Response {
    let p = shared.settings.path.as_str();
    let is = |suffix: &str| path == format!("{p}/{suffix}");
    let post = request.method == Method::POST;
    let get = request.method == Method::GET;

    // Discovery documents.
    if get && path == format!("/.well-known/openid-credential-issuer{p}") {
        return discovery::inserted_issuer_metadata(shared, request);
    }
    if get
        && path == format!("{p}/.well-known/openid-credential-issuer")
        && (shared.has(Fault::MetadataAppendedPathOnly) || shared.settings.spec.before_1_0())
    {
        return discovery::issuer_metadata(shared, request);
    }
    if get && path == format!("/.well-known/jwt-vc-issuer{p}") {
        return discovery::jwt_vc_issuer(shared, request);
    }
    if get && path == did::did_document_path(p) {
        if let Some(response) = discovery::did_document(shared, request) {
            return response;
        }
    }

    // Protocol endpoints.
    if get {
        if let Some(id) = path.strip_prefix(&format!("{p}/offers/")) {
            return offers::offer_by_reference(shared, id);
        }
    }
    if post && is("nonce") {
        return nonce::nonce(shared);
    }
    if post && is("credential") {
        return credential::credential_endpoint(shared, request);
    }
    if post && is("deferred") {
        return deferred::deferred(shared, request);
    }
    if post && is("notification") {
        return notification::notification(shared, request);
    }

    // The business system's side, for tests and the binary.
    if post && path == "/test/offers" {
        return test_endpoints::test_offers(shared, request);
    }
    if get {
        if let Some(id) = path.strip_prefix(crate::offer_page::PATH) {
            return offers::offer_page(shared, id);
        }
    }
    if post && path == "/test/wallet-attestation" {
        return test_endpoints::test_wallet_attestation(shared, request);
    }
    if post && path == "/test/key-attestation" {
        return test_endpoints::test_key_attestation(shared, request);
    }
    if get && path == "/test/stats" {
        return test_endpoints::test_stats(shared);
    }
    if get && path == "/test/trust" {
        return test_endpoints::test_trust(shared);
    }
    not_found()
}
