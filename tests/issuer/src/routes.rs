//! HTTP: one dispatcher over method and path, so the issuer identifier's path
//! (and the faults) can shape every URL at run time.
// Handlers return the ready error response as their `Err`.
#![allow(clippy::result_large_err)]

use crate::attestation::{
    self, KeyAttestationFault, KeyAttestationOptions, KeyAttestations, ATTESTATION_HEADER,
    CHALLENGE_HEADER, POP_HEADER,
};
use crate::authorize;
use crate::canned::Endpoint;
use crate::credential::{
    self, check_proof, issue_jwt_vc, issue_sd_jwt, Configuration, CredentialSigner, Format,
    Issuance, KeyHeader, KeyPair, SignKey, Validity,
};
use crate::did;
use crate::dpop::{self, Expected, Rejection, Server};
use crate::encryption::{
    Encryption, ResponseEncryption, ALG, ENCRYPTED_REQUESTS, ENCRYPTED_RESPONSES,
};
use crate::mdoc;
use crate::metadata;
use crate::state::{
    random_id, Deferred, Fault, Grant, Inner, Refresh, Session, Shared, NONCE_LIFETIME,
    TOKEN_LIFETIME,
};
use crate::trust::{CredentialSigning, X5C_FAULTS};
use crate::OfferRequest;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

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

/// The authorization server's answer to a refused client attestation: 400
/// `invalid_client`, `use_fresh_attestation`, or `use_attestation_challenge`
/// with a fresh challenge in `OAuth-Client-Attestation-Challenge`.
fn as_attestation_rejection(inner: &mut Inner, rejection: attestation::Rejection) -> Response {
    inner.count(attestation::REJECTED);
    match rejection {
        attestation::Rejection::InvalidClient(description) => {
            bad_request("invalid_client", &description)
        }
        attestation::Rejection::UseFreshAttestation(description) => {
            bad_request("use_fresh_attestation", &description)
        }
        attestation::Rejection::UseChallenge(description) => {
            inner.count(attestation::CHALLENGES_ISSUED);
            let challenge = inner.attestation.new_challenge();
            with_attestation_challenge(
                bad_request("use_attestation_challenge", &description),
                &challenge,
            )
        }
    }
}

/// The authorization server's answer to a refused DPoP proof: 400
/// `invalid_dpop_proof`, or 400 `use_dpop_nonce` with a fresh nonce.
pub(crate) fn as_dpop_rejection(inner: &mut Inner, rejection: Rejection) -> Response {
    match rejection {
        Rejection::InvalidProof(description) => {
            inner.count(dpop::REJECTED);
            bad_request("invalid_dpop_proof", &description)
        }
        Rejection::UseNonce(description) => {
            inner.count(dpop::NONCE_CHALLENGES_AS);
            let nonce = inner.dpop.new_nonce(Server::AuthorizationServer);
            with_dpop_nonce(bad_request("use_dpop_nonce", &description), &nonce)
        }
    }
}

/// The credential issuer's answer to a refused DPoP proof: 401 with
/// `WWW-Authenticate: DPoP error="invalid_dpop_proof"`, or
/// `error="use_dpop_nonce"` with a fresh nonce.
fn issuer_dpop_rejection(inner: &mut Inner, rejection: Rejection) -> Response {
    match rejection {
        Rejection::InvalidProof(description) => {
            inner.count(dpop::REJECTED);
            unauthorized("DPoP", "invalid_dpop_proof", &description)
        }
        Rejection::UseNonce(description) => {
            inner.count(dpop::NONCE_CHALLENGES_ISSUER);
            let nonce = inner.dpop.new_nonce(Server::Issuer);
            with_dpop_nonce(unauthorized("DPoP", "use_dpop_nonce", &description), &nonce)
        }
    }
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

/// With DPoP required, the proof at the token or PAR endpoint: its key's
/// thumbprint, `None` when there is no proof and none is `required`, or the
/// 400 to send.
fn as_dpop_proof(
    shared: &Shared,
    request: &Request,
    required: bool,
) -> Result<Option<String>, Response> {
    let mut inner = shared.lock();
    let checked = match request.dpop() {
        Ok(None) if !required => return Ok(None),
        Ok(None) => Err(Rejection::InvalidProof(
            "a DPoP proof (DPoP header) is required".into(),
        )),
        Ok(Some(jwt)) => inner.dpop.verify(
            Server::AuthorizationServer,
            shared.settings.dpop_nonce,
            jwt,
            &request.expected(None),
        ),
        Err(rejection) => Err(rejection),
    };
    match checked {
        Ok(checked) => Ok(Some(checked.jkt)),
        Err(rejection) => Err(as_dpop_rejection(&mut inner, rejection)),
    }
}

/// With wallet attestation on, the client attestation of a PAR or token
/// request: the attested `client_id` (the attestation's `sub`), `None` when
/// attestation is off, or the 400 to send.
fn client_attestation(shared: &Shared, request: &Request) -> Result<Option<String>, Response> {
    if !shared.attestation_required() {
        return Ok(None);
    }
    let pairs = request.form_pairs();
    let client_ids: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "client_id")
        .map(|(_, v)| v.as_str())
        .collect();
    let audience = shared.as_id();
    let mut inner = shared.lock();
    let headers = (|| {
        let attestation = request.single_header(ATTESTATION_HEADER, "OAuth-Client-Attestation")?;
        let pop = request.single_header(POP_HEADER, "OAuth-Client-Attestation-PoP")?;
        match (attestation, pop) {
            (Some(a), Some(p)) => Ok((a, p)),
            (None, None) => Err(
                "client authentication is required: send a wallet attestation \
                 (OAuth-Client-Attestation and OAuth-Client-Attestation-PoP headers)"
                    .to_string(),
            ),
            (None, Some(_)) => Err("the OAuth-Client-Attestation header is missing".to_string()),
            (Some(_), None) => {
                Err("the OAuth-Client-Attestation-PoP header is missing".to_string())
            }
        }
    })();
    let checked = headers
        .map_err(attestation::Rejection::InvalidClient)
        .and_then(|(a, p)| {
            inner.attestation.verify(
                shared.attestation_challenges(),
                shared.wallet_provider.verifying_key(),
                a,
                p,
                &attestation::Expected {
                    audience: &audience,
                    client_ids: &client_ids,
                },
            )
        });
    match checked {
        Ok(client_id) => Ok(Some(client_id)),
        Err(rejection) => Err(as_attestation_rejection(&mut inner, rejection)),
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
            if shared.has(Fault::AsOpenidConfigurationOnly) {
                not_found()
            } else if shared.has(Fault::AsServerError) {
                server_error()
            } else {
                ok(metadata::authorization_server_metadata(shared))
            }
        } else if get && is(".well-known/openid-configuration") {
            ok(metadata::authorization_server_metadata(shared))
        } else if get && is("authorize") {
            authorize::authorization_endpoint(shared, &request.query)
        } else if post && is("authorize/login") {
            authorize::login(shared, &request.form())
        } else if post && is("authorize/consent") {
            authorize::consent(shared, &request.form())
        } else if post && is("par") && shared.settings.offer_par {
            let proof_jkt = if shared.settings.require_dpop {
                match as_dpop_proof(shared, request, false) {
                    Ok(jkt) => jkt,
                    Err(response) => return Some(response),
                }
            } else {
                None
            };
            let attested = match client_attestation(shared, request) {
                Ok(client_id) => client_id,
                Err(response) => return Some(response),
            };
            authorize::par(shared, &request.form_pairs(), proof_jkt, attested)
        } else if post && is("token") {
            token(shared, request)
        } else if post && is("challenge") && shared.attestation_challenges() {
            let mut inner = shared.lock();
            inner.count(attestation::CHALLENGES_ISSUED);
            let challenge = inner.attestation.new_challenge();
            ok(json!({ "attestation_challenge": challenge }))
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
        // With an empty path the appended URL is this same URL.
        let appended_only = shared.has(Fault::MetadataAppendedPathOnly) || shared.settings.draft13;
        let hidden = shared.has(Fault::MetadataNotFound) || (appended_only && !p.is_empty());
        if hidden {
            return not_found();
        }
        if shared.has(Fault::MetadataServerError) {
            return server_error();
        }
        return issuer_metadata(shared, request);
    }
    if get
        && path == format!("{p}/.well-known/openid-credential-issuer")
        && (shared.has(Fault::MetadataAppendedPathOnly) || shared.settings.draft13)
    {
        return issuer_metadata(shared, request);
    }
    if get && path == format!("/.well-known/jwt-vc-issuer{p}") {
        return ok(metadata::jwt_vc_issuer_metadata(shared));
    }
    if get && path == did::did_document_path(p) {
        if let Some(issuer) = shared
            .did
            .as_ref()
            .filter(|_| shared.settings.credential_signing == CredentialSigning::DidWeb)
        {
            let document = did::did_document(&issuer.did, &issuer.document_jwk);
            return respond(StatusCode::OK, "application/did+json", document.to_string());
        }
    }

    // Protocol endpoints.
    if get {
        if let Some(id) = path.strip_prefix(&format!("{p}/offers/")) {
            return offer_by_reference(shared, id);
        }
    }
    if post && is("nonce") {
        let mut inner = shared.lock();
        let nonce = shared.new_nonce(&mut inner);
        return ok(json!({ "c_nonce": nonce }));
    }
    if post && is("credential") {
        return credential_endpoint(shared, request);
    }
    if post && is("deferred") {
        return deferred(shared, request);
    }
    if post && is("notification") {
        return notification(shared, request);
    }

    // The business system's side, for tests and the binary.
    if post && path == "/test/offers" {
        let offer: OfferRequest = if request.body.is_empty() {
            OfferRequest::default()
        } else {
            match serde_json::from_slice(&request.body) {
                Ok(offer) => offer,
                Err(e) => return bad_request("invalid_request", &format!("offer request: {e}")),
            }
        };
        if let Some(ids) = &offer.credential_configuration_ids {
            if let Some(unknown) = ids
                .iter()
                .find(|id| credential::configuration(id).is_none())
            {
                return bad_request(
                    "invalid_request",
                    &format!("unknown credential configuration {unknown}"),
                );
            }
        }
        return ok(json!(shared.create_offer(offer)));
    }
    if get {
        if let Some(id) = path.strip_prefix(crate::offer_page::PATH) {
            return offer_page(shared, id);
        }
    }
    if post && path == "/test/wallet-attestation" {
        return test_wallet_attestation(shared, request);
    }
    if post && path == "/test/key-attestation" {
        return test_key_attestation(shared, request);
    }
    if get && path == "/test/stats" {
        return ok(json!(shared.stats()));
    }
    if get && path == "/test/trust" {
        return match shared.pki() {
            Ok(pki) => respond(
                StatusCode::OK,
                "application/x-pem-file",
                pki.root_pem().to_string(),
            ),
            Err(e) => oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                &format!("no test PKI: {e}"),
            ),
        };
    }
    not_found()
}

/// `POST /test/wallet-attestation` `{"client_id", "jwk", "lifetime_secs"?}`
/// (lifetime default one hour): `{"wallet_attestation": <JWT>}` of the
/// trusted wallet provider. The `jwk` goes into `cnf.jwk` as given.
fn test_wallet_attestation(shared: &Shared, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return bad_request("invalid_request", "the body is not a JSON object");
    };
    let Some(client_id) = body.get("client_id").and_then(Value::as_str) else {
        return bad_request("invalid_request", "client_id (a string) is required");
    };
    let Some(jwk) = body.get("jwk").filter(|j| j.is_object()) else {
        return bad_request("invalid_request", "jwk (a JSON object) is required");
    };
    let lifetime = match body.get("lifetime_secs") {
        None | Some(Value::Null) => WALLET_ATTESTATION_LIFETIME,
        Some(v) => match v.as_u64() {
            Some(secs) => Duration::from_secs(secs),
            None => {
                return bad_request(
                    "invalid_request",
                    "lifetime_secs must be a non-negative integer",
                )
            }
        },
    };
    ok(json!({
        "wallet_attestation": shared.wallet_provider.issue(client_id, jwk, lifetime),
    }))
}

/// `POST /test/key-attestation {"keys": [jwk, ...], "nonce"?: text,
/// "key_storage"?: [text], "user_authentication"?: [text], "fault"?:
/// "expired" | "unknown-provider" | "no-exp", "lifetime_secs"?: n}`: a key
/// attestation of the trusted wallet provider for `keys` (what an app's
/// wallet provider would return): levels default `["iso_18045_high"]`,
/// valid for an hour by default, with the deliberate defect `fault`.
fn test_key_attestation(shared: &Shared, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return bad_request("invalid_request", "the body is not a JSON object");
    };
    let Some(keys) = body
        .get("keys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty() && k.len() <= 16 && k.iter().all(Value::is_object))
    else {
        return bad_request(
            "invalid_request",
            "keys (an array of 1 to 16 JWK objects) is required",
        );
    };
    let nonce = match body.get("nonce") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.as_str()),
        Some(_) => return bad_request("invalid_request", "nonce must be a string"),
    };
    let mut options = KeyAttestationOptions {
        lifetime: WALLET_ATTESTATION_LIFETIME,
        ..KeyAttestationOptions::default()
    };
    for (name, levels) in [
        ("key_storage", &mut options.key_storage),
        ("user_authentication", &mut options.user_authentication),
    ] {
        match body.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) if list.len() <= 16 && list.iter().all(Value::is_string) => {
                *levels = list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
            }
            Some(_) => {
                return bad_request(
                    "invalid_request",
                    &format!("{name} must be an array of at most 16 strings"),
                )
            }
        }
    }
    options.fault = match body.get("fault") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().and_then(KeyAttestationFault::from_name) {
            Some(fault) => Some(fault),
            None => {
                return bad_request(
                    "invalid_request",
                    "fault must be expired, unknown-provider or no-exp",
                )
            }
        },
    };
    match body.get("lifetime_secs") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64() {
            Some(secs) => options.lifetime = Duration::from_secs(secs),
            None => {
                return bad_request(
                    "invalid_request",
                    "lifetime_secs must be a non-negative integer",
                )
            }
        },
    }
    ok(json!({
        "key_attestation": shared
            .wallet_provider
            .issue_key_attestation_with(keys, nonce, &options),
    }))
}

/// `GET /test/offer-page/{id}`: the HTML page of an offer made by
/// `POST /test/offers` (its `offer_page_url`), with the offer URL as a QR
/// code and a same-device link; 404 for an unknown id.
fn offer_page(shared: &Shared, id: &str) -> Response {
    crate::offer_page::serve(shared, id).unwrap_or_else(not_found)
}

/// The default lifetime of attestations made by `/test/wallet-attestation`.
const WALLET_ATTESTATION_LIFETIME: Duration = Duration::from_secs(3600);

fn issuer_metadata(shared: &Shared, request: &Request) -> Response {
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
        if shared.settings.draft13 {
            metadata["signed_metadata"] = json!(jwt);
        } else if wants_jwt(request) {
            return respond(StatusCode::OK, "application/jwt", jwt);
        }
    }
    respond(StatusCode::OK, "application/json", metadata.to_string())
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

fn offer_by_reference(shared: &Shared, id: &str) -> Response {
    let Some(offer) = shared.lock().offers.remove(id) else {
        return not_found();
    };
    if shared.has(Fault::OfferAsJwt) {
        let mut header = Map::new();
        header.insert("typ".into(), json!("JWT"));
        return respond(
            StatusCode::OK,
            "application/jwt",
            shared.keys.sign_jwt(header, &offer),
        );
    }
    if shared.has(Fault::OfferWrongContentType) {
        return respond(StatusCode::OK, "text/plain", offer.to_string());
    }
    ok(offer)
}

fn token(shared: &Shared, request: &Request) -> Response {
    let form = match authorize::single_params(&request.form_pairs()) {
        Ok(form) => form,
        Err(m) => return bad_request("invalid_request", &m),
    };
    // The proof first: a refused one consumes no code.
    let proof_jkt = if shared.settings.require_dpop {
        match as_dpop_proof(shared, request, true) {
            Ok(jkt) => jkt,
            Err(response) => return response,
        }
    } else {
        None
    };
    // Then the client: a refused attestation consumes no code either.
    let attested = match client_attestation(shared, request) {
        Ok(client_id) => client_id,
        Err(response) => return response,
    };
    match form.get("grant_type").map(String::as_str).unwrap_or("") {
        PRE_AUTHORIZED_GRANT => {}
        "authorization_code" => return authorize::code_grant(shared, &form, proof_jkt, attested),
        "refresh_token" => return authorize::refresh_grant(shared, &form, proof_jkt, attested),
        _ => {
            return bad_request(
                "unsupported_grant_type",
                "grant_type must be pre-authorized_code, authorization_code or refresh_token",
            )
        }
    }
    let Some(code) = form.get("pre-authorized_code") else {
        return bad_request("invalid_request", "pre-authorized_code is missing");
    };
    let mut inner = shared.lock();
    let Some(entry) = inner.pre_authorized.get_mut(code) else {
        return bad_request(
            "invalid_grant",
            "the pre-authorized code is unknown, used or revoked",
        );
    };
    match (&entry.tx_code, form.get("tx_code")) {
        (Some(_), None) => return bad_request("invalid_request", "tx_code is required"),
        (None, Some(_)) => {
            return bad_request("invalid_request", "this offer has no transaction code")
        }
        (Some(expected), Some(given)) if expected != given => {
            entry.attempts_left = entry.attempts_left.saturating_sub(1);
            if entry.attempts_left == 0 {
                inner.pre_authorized.remove(code);
                return bad_request(
                    "invalid_grant",
                    "wrong transaction code; the offer is now revoked",
                );
            }
            return bad_request("invalid_grant", "wrong transaction code");
        }
        _ => {}
    }
    let Some(entry) = inner.pre_authorized.remove(code) else {
        return server_error();
    };
    let session = Session {
        id: random_id(12),
        grant: entry.grant,
        identifiers: HashMap::new(),
        client_id: None,
        expires: Instant::now(),
        dpop_jkt: proof_jkt,
        attested_client: attested,
    };
    // Identifiers only when the wallet asked with authorization_details
    // (OID4VCI 1.0 section 6.1): wallets that never read them (and send
    // credential_configuration_id) keep working.
    let with_details =
        shared.settings.credential_identifiers && form.contains_key("authorization_details");
    // A refresh token too, so deferred polling survives a short-lived token.
    ok(token_response(
        shared,
        &mut inner,
        session,
        with_details,
        true,
    ))
}

/// Issues an access token (and a refresh token when `refresh`) for
/// `session` and returns the token response.
pub(crate) fn token_response(
    shared: &Shared,
    inner: &mut Inner,
    mut session: Session,
    with_details: bool,
    refresh: bool,
) -> Value {
    if with_details && session.identifiers.is_empty() {
        for id in &session.grant.configuration_ids {
            session
                .identifiers
                .insert(format!("{id}:{}", random_id(6)), id.clone());
        }
    }
    let details: Vec<Value> = session
        .grant
        .configuration_ids
        .iter()
        .map(|id| {
            let mut ids: Vec<&String> = session
                .identifiers
                .iter()
                .filter(|(_, c)| *c == id)
                .map(|(i, _)| i)
                .collect();
            ids.sort();
            json!({
                "type": "openid_credential",
                "credential_configuration_id": id,
                "credential_identifiers": ids,
            })
        })
        .collect();
    let lifetime = shared.settings.access_token_lifetime;
    let token = random_id(32);
    inner.secrets.push(token.clone());
    let mut response = json!({
        "access_token": token,
        "token_type": if session.dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": if shared.has(Fault::ExpiresInOverstated) {
            TOKEN_LIFETIME.as_secs()
        } else {
            lifetime.as_secs()
        },
    });
    if with_details {
        response["authorization_details"] = json!(details);
    }
    if !shared.settings.nonce_endpoint {
        response["c_nonce"] = json!(shared.new_nonce(inner));
        response["c_nonce_expires_in"] = json!(NONCE_LIFETIME.as_secs());
    }
    session.expires = Instant::now() + lifetime;
    if refresh {
        let refresh_token = random_id(32);
        inner.secrets.push(refresh_token.clone());
        response["refresh_token"] = json!(refresh_token);
        inner.refresh_tokens.insert(
            refresh_token,
            Refresh {
                session: session.clone(),
                with_details,
            },
        );
    }
    inner.sessions.insert(token, session);
    response
}

/// A credential error; draft-13 issuers (no nonce endpoint) attach a fresh
/// `c_nonce` to it.
fn credential_error(shared: &Shared, inner: &mut Inner, code: &str, description: &str) -> Response {
    let mut body = json!({ "error": code, "error_description": description });
    if !shared.settings.nonce_endpoint && matches!(code, "invalid_nonce" | "invalid_proof") {
        body["c_nonce"] = json!(shared.new_nonce(inner));
        body["c_nonce_expires_in"] = json!(NONCE_LIFETIME.as_secs());
    }
    json_response(StatusCode::BAD_REQUEST, &body)
}

/// The access token's session, or the 401 to send.
fn session(shared: &Shared, inner: &mut Inner, request: &Request) -> Result<Session, Response> {
    if shared.settings.require_dpop {
        return dpop_session(shared, inner, request);
    }
    let token = request
        .bearer()
        .ok_or_else(|| invalid_token("a Bearer access token is required"))?;
    let session = inner
        .sessions
        .get(token)
        .ok_or_else(|| invalid_token("the access token is unknown"))?;
    if session.expires <= Instant::now() {
        return Err(invalid_token("the access token has expired"));
    }
    Ok(session.clone())
}

/// With DPoP required: `Authorization: DPoP <token>` and a `DPoP` proof by
/// the token's key, with `ath` (and the issuer's nonce when nonces are on).
fn dpop_session(
    shared: &Shared,
    inner: &mut Inner,
    request: &Request,
) -> Result<Session, Response> {
    let invalid = |description: &str| unauthorized("DPoP", "invalid_token", description);
    let Some(token) = request.authorization("dpop") else {
        return Err(invalid(if request.bearer().is_some() {
            "the access token is DPoP-bound: send it as Authorization: DPoP, with a DPoP proof"
        } else {
            "a DPoP-bound access token is required (Authorization: DPoP)"
        }));
    };
    let checked = match request.dpop() {
        Ok(None) => return Err(invalid("a DPoP proof (DPoP header) is required")),
        Ok(Some(jwt)) => inner.dpop.verify(
            Server::Issuer,
            shared.settings.dpop_nonce,
            jwt,
            &request.expected(Some(token)),
        ),
        Err(rejection) => Err(rejection),
    };
    let checked = checked.map_err(|rejection| issuer_dpop_rejection(inner, rejection))?;
    let session = inner
        .sessions
        .get(token)
        .cloned()
        .ok_or_else(|| invalid("the access token is unknown"))?;
    if session.expires <= Instant::now() {
        return Err(invalid("the access token has expired"));
    }
    if session.dpop_jkt.as_deref() != Some(checked.jkt.as_str()) {
        return Err(issuer_dpop_rejection(
            inner,
            Rejection::InvalidProof(
                "the DPoP proof's key is not the one the access token is bound to".into(),
            ),
        ));
    }
    Ok(session)
}

/// The proofs of a credential request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Proofs {
    /// `proofs.jwt` (1.0) or `proof.jwt` (draft 13); empty when the request
    /// has none.
    Jwt(Vec<String>),
    /// `proofs.attestation` (OID4VCI 1.0 appendix F.3): one key attestation.
    Attestation(String),
    /// `proofs.<another type>` (its name, shortened).
    Unsupported(String),
}

/// The proofs of a request (`proofs` holds exactly one proof type), or why
/// the request is malformed (`invalid_credential_request`).
fn request_proofs(body: &Map<String, Value>) -> Result<Proofs, &'static str> {
    if body.contains_key("proofs") && body.contains_key("proof") {
        return Err("proof and proofs must not both be present");
    }
    if let Some(proofs) = body.get("proofs") {
        let proofs = proofs.as_object().ok_or("proofs must be an object")?;
        let strings = |list: &Value, error: &'static str| -> Result<Vec<String>, &'static str> {
            list.as_array()
                .ok_or(error)?
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or(error))
                .collect()
        };
        return match (proofs.get("jwt"), proofs.get("attestation")) {
            (Some(_), Some(_)) => Err("proofs must not mix jwt and attestation proofs"),
            _ if proofs.len() > 1 => Err("proofs must hold exactly one proof type"),
            (Some(list), None) => {
                strings(list, "proofs.jwt must be an array of strings").map(Proofs::Jwt)
            }
            (None, Some(list)) => {
                let mut list = strings(
                    list,
                    "proofs.attestation must be an array of one key attestation (a string)",
                )?;
                match (list.pop(), list.is_empty()) {
                    (Some(jwt), true) => Ok(Proofs::Attestation(jwt)),
                    _ => Err("proofs.attestation must hold exactly one key attestation"),
                }
            }
            (None, None) => match proofs.keys().next() {
                Some(other) => Ok(Proofs::Unsupported(other.chars().take(32).collect())),
                None => Err("proofs must name a proof type (jwt or attestation)"),
            },
        };
    }
    if let Some(proof) = body.get("proof") {
        if proof.get("proof_type").and_then(Value::as_str) != Some("jwt") {
            return Err("proof.proof_type must be jwt");
        }
        let jwt = proof
            .get("jwt")
            .and_then(Value::as_str)
            .ok_or("proof.jwt is missing")?;
        return Ok(Proofs::Jwt(vec![jwt.to_string()]));
    }
    Ok(Proofs::Jwt(Vec::new()))
}

fn credential_endpoint(shared: &Shared, request: &Request) -> Response {
    let mut inner = shared.lock();
    let session = match session(shared, &mut inner, request) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let grant = session.grant.clone();
    let (body, response_encryption) = match open_request(shared, &mut inner, request) {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let Some(body) = body else {
        return bad_request(
            "invalid_credential_request",
            "the body is not a JSON object",
        );
    };
    // Which configuration: by identifier when the token gave identifiers.
    let configuration_id =
        match (
            body.get("credential_identifier").and_then(Value::as_str),
            body.get("credential_configuration_id")
                .and_then(Value::as_str),
        ) {
            (Some(_), Some(_)) => {
                return bad_request(
                    "invalid_credential_request",
                    "credential_identifier and credential_configuration_id are exclusive",
                )
            }
            (Some(identifier), None) => match session.identifiers.get(identifier) {
                Some(id) => id.clone(),
                None => {
                    return bad_request(
                        "unknown_credential_identifier",
                        "the credential_identifier was not issued with this token",
                    )
                }
            },
            (None, Some(_)) if shared.settings.draft13 => return bad_request(
                "invalid_credential_request",
                "draft 13: name the credential by format and vct (no credential_configuration_id)",
            ),
            (None, Some(id)) => {
                if !session.identifiers.is_empty() {
                    return bad_request(
                        "invalid_credential_request",
                        "the token response gave credential_identifiers: use one of them",
                    );
                }
                if !grant.configuration_ids.iter().any(|c| c == id) {
                    return bad_request(
                        "unknown_credential_configuration",
                        "this token does not cover that credential configuration",
                    );
                }
                id.to_string()
            }
            (None, None) if shared.settings.draft13 => {
                // Draft 13: the format and its type parameter name the
                // credential (`vct`, or `credential_definition.type`).
                let found = grant.configuration_ids.iter().find(|id| {
                    credential::configuration(id).is_some_and(|c| c.named_by_draft13_request(&body))
                });
                match found {
                    Some(id) if session.identifiers.is_empty() => id.clone(),
                    Some(_) => {
                        return bad_request(
                            "invalid_credential_request",
                            "the token response gave credential_identifiers: use one of them",
                        )
                    }
                    None => {
                        return bad_request(
                            "unsupported_credential_type",
                            "format vc+sd-jwt with the vct, jwt_vc_json with the \
                             credential_definition.type, or mso_mdoc with the doctype, of an \
                             offered credential is required",
                        )
                    }
                }
            }
            (None, None) => {
                return bad_request(
                    "invalid_credential_request",
                    "credential_identifier or credential_configuration_id is required",
                )
            }
        };
    let Some(configuration) = credential::configuration(&configuration_id) else {
        return bad_request(
            "unknown_credential_configuration",
            "unknown credential configuration",
        );
    };
    let holder_keys = if configuration.bound {
        match checked_holder_keys(shared, &mut inner, &body, session.client_id.as_deref()) {
            Ok(keys) => keys.into_iter().map(Some).collect(),
            Err(response) => return response,
        }
    } else {
        vec![None]
    };
    let credentials = holder_keys
        .iter()
        .map(|key| issue(shared, configuration, &grant, key.as_ref()))
        .collect::<Result<Vec<String>, String>>();
    let credentials = match credentials {
        Ok(credentials) => credentials,
        Err(e) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                &format!("the credential cannot be signed: {e}"),
            )
        }
    };

    if grant.deferred {
        let transaction_id = random_id(16);
        inner.deferred.insert(
            transaction_id.clone(),
            Deferred {
                session_id: session.id.clone(),
                polls_left: shared.settings.deferred_pending_polls,
                credentials,
            },
        );
        let mut body = json!({
            "transaction_id": transaction_id,
            "interval": shared.settings.deferred_interval,
        });
        if shared.settings.draft13 {
            body = json!({
                "transaction_id": transaction_id,
                "c_nonce": shared.new_nonce(&mut inner),
                "c_nonce_expires_in": NONCE_LIFETIME.as_secs(),
            });
        }
        return answer(
            shared,
            &mut inner,
            StatusCode::ACCEPTED,
            &body,
            response_encryption.as_ref(),
        );
    }
    let mut response = issued_body(shared, &mut inner, session.id.clone(), credentials);
    if !shared.settings.nonce_endpoint {
        response["c_nonce"] = json!(shared.new_nonce(&mut inner));
        response["c_nonce_expires_in"] = json!(NONCE_LIFETIME.as_secs());
    }
    answer(
        shared,
        &mut inner,
        StatusCode::OK,
        &response,
        response_encryption.as_ref(),
    )
}

fn invalid_encryption(description: &str) -> Response {
    bad_request("invalid_encryption_parameters", description)
}

/// Whether the body is declared `application/jwt` (parameters ignored).
fn is_jwt(request: &Request) -> bool {
    request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/jwt"))
}

/// A credential or deferred request's JSON body (`None` when not a JSON
/// object) and how to encrypt the success answer (`None`: plain JSON).
type Opened = (Option<Map<String, Value>>, Option<ResponseEncryption>);

/// The JSON body of a credential or deferred request, and how to encrypt
/// the success answer. With encryption on: an `application/jwt` body is a
/// JWE to decrypt with the issuer's key; `credential_response_encryption`
/// is only accepted in an encrypted request; with encryption required, plain
/// requests and requests without `credential_response_encryption` are
/// refused. Off: the body as it is, `credential_response_encryption`
/// ignored. The body is `None` when it is not a JSON object.
fn open_request(shared: &Shared, inner: &mut Inner, request: &Request) -> Result<Opened, Response> {
    let mode = shared.encryption();
    if mode == Encryption::Off {
        return Ok((request.json(), None));
    }
    let encrypted = is_jwt(request);
    let body: Option<Map<String, Value>> = if encrypted {
        let Some(key) = &shared.encryption_key else {
            return Err(oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the issuer has no encryption key",
            ));
        };
        let plaintext = key
            .decrypt(&request.body)
            .map_err(|e| invalid_encryption(&format!("the request cannot be decrypted: {e}")))?;
        inner.count(ENCRYPTED_REQUESTS);
        serde_json::from_slice(&plaintext).ok()
    } else if mode == Encryption::Required {
        return Err(invalid_encryption(&format!(
            "encryption required: send the request as a JWE (Content-Type: application/jwt, \
             alg {ALG}) to the key in credential_request_encryption.jwks"
        )));
    } else {
        request.json()
    };
    let params = body
        .as_ref()
        .and_then(|b| b.get("credential_response_encryption"));
    let response = match params {
        Some(_) if !encrypted => {
            return Err(invalid_encryption(
                "credential_response_encryption requires an encrypted request \
                 (Content-Type: application/jwt; see credential_request_encryption)",
            ))
        }
        Some(params) => {
            Some(ResponseEncryption::from_request(params).map_err(|e| invalid_encryption(&e))?)
        }
        None if mode == Encryption::Required && body.is_some() => {
            return Err(invalid_encryption(
                "encryption required: the request must carry credential_response_encryption",
            ))
        }
        None => None,
    };
    Ok((body, response))
}

/// A success answer of the credential or deferred endpoint: a JWE
/// (`application/jwt`) when the request asked for an encrypted response
/// (unless [`Fault::UnencryptedResponse`]), JSON otherwise.
fn answer(
    shared: &Shared,
    inner: &mut Inner,
    status: StatusCode,
    body: &Value,
    encryption: Option<&ResponseEncryption>,
) -> Response {
    let Some(encryption) = encryption.filter(|_| !shared.has(Fault::UnencryptedResponse)) else {
        return json_response(status, body);
    };
    match encryption.encrypt(body) {
        Ok(jwe) => {
            inner.count(ENCRYPTED_RESPONSES);
            respond(status, "application/jwt", jwe)
        }
        Err(e) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            &format!("the response cannot be encrypted: {e}"),
        ),
    }
}

/// One credential, in the configuration's format, signed as the signing
/// mode and the faults say. Errors (the test PKI or a forged certificate
/// could not be made) are descriptions.
fn issue(
    shared: &Shared,
    configuration: &Configuration,
    grant: &Grant,
    holder: Option<&Value>,
) -> Result<String, String> {
    if let Format::MsoMdoc { .. } = configuration.format {
        // Always `x5chain` (the signing modes name JWT signing keys); only
        // the `Mdoc*` faults apply.
        let holder = holder.ok_or("an mdoc needs a holder key")?;
        return mdoc::issue_with_pki(
            shared.pki()?,
            configuration,
            holder,
            grant.claims.as_ref(),
            &shared.settings.faults,
        );
    }
    let sd_jwt = matches!(configuration.format, Format::SdJwt { .. });
    // The `X5c*` forgeries are SD-JWT VC issuer key mechanisms: SD-JWTs only.
    let forged = match X5C_FAULTS.into_iter().find(|f| sd_jwt && shared.has(*f)) {
        Some(fault) => shared
            .pki()?
            .forge(fault)
            .transpose()
            .map_err(|e| e.to_string())?,
        None => None,
    };
    let other_key = shared.has(Fault::CredentialSignedByOtherKey);
    let other_keys;
    let other_did_key;
    let signer = match (&forged, &shared.did) {
        (Some(forged), _) => forged.signer(),
        // A DID names the issuer: its kid, and its key (or another one of
        // the same type).
        (None, Some(issuer)) => {
            let key = if other_key {
                other_did_key = KeyPair::generate(issuer.key.kind());
                &other_did_key
            } else {
                &issuer.key
            };
            CredentialSigner {
                key: key.sign_key(),
                header: KeyHeader::Kid(&issuer.kid),
            }
        }
        (None, None) => {
            let keys = if other_key {
                other_keys = credential::IssuerKeys::generate();
                &other_keys
            } else {
                &shared.keys
            };
            match shared.settings.credential_signing {
                // With `CredentialSignedByOtherKey`: the real chain, another key.
                CredentialSigning::X5cChain if sd_jwt => CredentialSigner {
                    key: SignKey::P256(keys.signing_key()),
                    header: KeyHeader::X5c(shared.pki()?.chain()),
                },
                _ => keys.signer(),
            }
        }
    };
    let other_holder;
    let holder = match holder {
        Some(_) if shared.has(Fault::CredentialBoundToOtherKey) => {
            other_holder = credential::IssuerKeys::generate().public_jwk();
            Some(&other_holder)
        }
        h => h,
    };
    let iss = if sd_jwt && shared.has(Fault::CredentialIssMismatch) {
        "https://other.example".to_string()
    } else {
        shared.credential_iss()
    };
    let issuance = Issuance {
        iss: &iss,
        overrides: grant.claims.as_ref(),
        holder,
        validity: if shared.has(Fault::CredentialExpired) {
            Validity::expired()
        } else {
            Validity::fresh()
        },
    };
    Ok(match configuration.format {
        Format::SdJwt { .. } => {
            let typ = if shared.has(Fault::CredentialWrongTyp) {
                "JWT"
            } else {
                "dc+sd-jwt"
            };
            issue_sd_jwt(&signer, configuration, &issuance, typ)
        }
        Format::JwtVcJson { .. } => issue_jwt_vc(&signer, configuration, &issuance),
        Format::MsoMdoc { .. } => return Err("mdocs are issued above".into()),
    })
}

/// `{credentials, notification_id}` (draft 13: one `credential`),
/// remembering which session the notification id belongs to.
fn issued_body(
    shared: &Shared,
    inner: &mut Inner,
    session_id: String,
    credentials: Vec<String>,
) -> Value {
    let notification_id = random_id(12);
    inner
        .notification_ids
        .insert(notification_id.clone(), session_id);
    if shared.settings.draft13 && credentials.len() == 1 {
        let credential = credentials.into_iter().next().unwrap_or_default();
        return json!({ "credential": credential, "notification_id": notification_id });
    }
    let bare = shared.has(Fault::CredentialsAsBareStrings);
    let list: Vec<Value> = credentials
        .into_iter()
        .map(|c| {
            if bare {
                json!(c)
            } else {
                json!({ "credential": c })
            }
        })
        .collect();
    json!({ "credentials": list, "notification_id": notification_id })
}

/// Counters of key attestations checked at the credential endpoint.
pub(crate) const KEY_ATTESTATIONS_ACCEPTED: &str = "key_attestations_accepted";
/// Proofs refused for a missing or bad key attestation.
pub(crate) const KEY_ATTESTATIONS_REJECTED: &str = "key_attestations_rejected";

/// The `key_attestation` header of a proof JWT, if any.
fn key_attestation(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let header = jwt.split('.').next()?;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("key_attestation")?.as_str().map(str::to_string)
}

/// The holder keys of a key-bound credential request: those of its `jwt`
/// proofs (all verified, their one nonce used up) or of its `attestation`
/// proof. Or the error answer.
fn checked_holder_keys(
    shared: &Shared,
    inner: &mut Inner,
    body: &Map<String, Value>,
    client_id: Option<&str>,
) -> Result<Vec<Value>, Response> {
    let proofs = request_proofs(body).map_err(|m| bad_request("invalid_credential_request", m))?;
    let jwts = match proofs {
        Proofs::Jwt(_)
            if shared.settings.attestation_proof_only && shared.key_attestations_on() =>
        {
            return Err(credential_error(
                shared,
                inner,
                "invalid_proof",
                "the jwt proof type is not supported (only attestation)",
            ))
        }
        Proofs::Jwt(jwts) => jwts,
        Proofs::Attestation(jwt) => return attested_holder_keys(shared, inner, &jwt),
        Proofs::Unsupported(name) => {
            return Err(credential_error(
                shared,
                inner,
                "invalid_proof",
                &format!("the {name} proof type is not supported"),
            ))
        }
    };
    if jwts.is_empty() {
        return Err(credential_error(
            shared,
            inner,
            "invalid_proof",
            "this credential is key-bound: a proof is required",
        ));
    }
    let limit = batch_limit(shared);
    if jwts.len() > limit {
        return Err(bad_request(
            "invalid_credential_request",
            &format!("at most {limit} proofs per request"),
        ));
    }
    nonce_fault(shared, inner)?;
    let audience = shared.issuer_id();
    let nonce_required = shared.settings.key_attestations == KeyAttestations::RequiredWithNonce;
    let mut keys = Vec::new();
    let mut nonce = None;
    for jwt in &jwts {
        let checked = check_proof(jwt, &audience, client_id)
            .map_err(|r| credential_error(shared, inner, r.code, &r.description))?;
        if shared.key_attestations_on() {
            let checked_attestation = match key_attestation(jwt) {
                None => Err(
                    "this configuration requires a key attestation (key_attestation header)"
                        .to_string(),
                ),
                Some(attestation) => shared.wallet_provider.check_key_attestation(
                    &attestation,
                    &checked.holder_jwk,
                    checked.nonce.as_deref(),
                    nonce_required,
                ),
            };
            if let Err(description) = checked_attestation {
                inner.count(KEY_ATTESTATIONS_REJECTED);
                return Err(credential_error(
                    shared,
                    inner,
                    "invalid_proof",
                    &description,
                ));
            }
            inner.count(KEY_ATTESTATIONS_ACCEPTED);
        }
        let Some(n) = checked.nonce else {
            return Err(credential_error(
                shared,
                inner,
                "invalid_nonce",
                "the proof has no nonce",
            ));
        };
        if nonce.get_or_insert_with(|| n.clone()) != &n {
            return Err(credential_error(
                shared,
                inner,
                "invalid_proof",
                "all proofs of one request must carry the same nonce",
            ));
        }
        keys.push(checked.holder_jwk);
    }
    let nonce = nonce.unwrap_or_default();
    if !take_nonce(inner, &nonce) {
        return Err(credential_error(
            shared,
            inner,
            "invalid_nonce",
            "the nonce is unknown, used or expired",
        ));
    }
    Ok(keys)
}

/// How many credentials one request may ask for (`batch_size`, else 1).
fn batch_limit(shared: &Shared) -> usize {
    shared.settings.batch_size.unwrap_or(1).max(1) as usize
}

/// Uses up `nonce` if it is a c_nonce of this issuer, unused and unexpired.
fn take_nonce(inner: &mut Inner, nonce: &str) -> bool {
    inner
        .nonces
        .remove(nonce)
        .is_some_and(|issued| issued.elapsed() < NONCE_LIFETIME)
}

/// The `invalid_nonce` answer of the nonce faults, when one applies.
fn nonce_fault(shared: &Shared, inner: &mut Inner) -> Result<(), Response> {
    if shared.has(Fault::NonceAlwaysInvalid)
        || (shared.has(Fault::NonceInvalidOnce) && !inner.invalid_nonce_sent)
    {
        inner.invalid_nonce_sent = true;
        return Err(credential_error(
            shared,
            inner,
            "invalid_nonce",
            "the nonce is not valid (deliberate fault)",
        ));
    }
    Ok(())
}

/// The `attestation` proof type (OID4VCI 1.0 appendix F.3), with key
/// attestations on: the attested keys, one credential each. Counted as one
/// accepted or rejected key attestation.
fn attested_holder_keys(
    shared: &Shared,
    inner: &mut Inner,
    jwt: &str,
) -> Result<Vec<Value>, Response> {
    if !shared.key_attestations_on() {
        return Err(credential_error(
            shared,
            inner,
            "invalid_proof",
            "the attestation proof type is not supported",
        ));
    }
    nonce_fault(shared, inner)?;
    match check_attestation_proof(shared, inner, jwt) {
        Ok(keys) => {
            inner.count(KEY_ATTESTATIONS_ACCEPTED);
            Ok(keys)
        }
        Err(description) => {
            inner.count(KEY_ATTESTATIONS_REJECTED);
            // A nonce that is not (or no longer) ours: invalid_nonce, so the
            // wallet fetches a fresh one and asks its provider again.
            let code = if description.starts_with(STALE_NONCE) {
                "invalid_nonce"
            } else {
                "invalid_proof"
            };
            Err(credential_error(shared, inner, code, &description))
        }
    }
}

/// Checks an `attestation` proof: the wallet provider's checks, a `nonce`,
/// 1 to `batch_size` P-256 public keys in `attested_keys`, and last the
/// nonce (a c_nonce of this issuer, unused, unexpired: now used up).
fn check_attestation_proof(
    shared: &Shared,
    inner: &mut Inner,
    jwt: &str,
) -> Result<Vec<Value>, String> {
    let checked = shared.wallet_provider.verify_key_attestation(jwt)?;
    let Some(nonce) = checked.nonce else {
        return Err(
            "key attestation: wrong nonce: it has none, and the attestation proof type needs a c_nonce of this issuer"
                .into(),
        );
    };
    let Some(keys) = checked.attested_keys else {
        return Err("key attestation: attested_keys is missing or not an array".into());
    };
    let limit = batch_limit(shared);
    if keys.is_empty() || keys.len() > limit {
        return Err(format!(
            "key attestation: it attests {} keys; this issuer issues 1 to {limit} credentials per request (batch_size)",
            keys.len()
        ));
    }
    for (i, key) in keys.iter().enumerate() {
        if key.get("d").is_some() {
            return Err(format!(
                "key attestation: attested_keys[{i}] contains a private key"
            ));
        }
        if credential::public_key(key).is_none() {
            return Err(format!(
                "key attestation: attested_keys[{i}] is not a P-256 public key"
            ));
        }
    }
    if !take_nonce(inner, &nonce) {
        return Err(format!("{STALE_NONCE}, or it was used or has expired"));
    }
    Ok(keys)
}

/// How an attestation proof with a stale (unknown, used, expired) nonce is
/// described: answered `invalid_nonce`.
const STALE_NONCE: &str = "key attestation: wrong nonce: it is not a c_nonce of this issuer";

fn deferred(shared: &Shared, request: &Request) -> Response {
    let mut inner = shared.lock();
    let session_id = match session(shared, &mut inner, request) {
        Ok(session) => session.id,
        Err(response) => return response,
    };
    let (body, response_encryption) = match open_request(shared, &mut inner, request) {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let Some(transaction_id) =
        body.and_then(|b| b.get("transaction_id")?.as_str().map(str::to_string))
    else {
        return bad_request("invalid_credential_request", "transaction_id is required");
    };
    let Some(entry) = inner
        .deferred
        .get_mut(&transaction_id)
        .filter(|d| d.session_id == session_id)
    else {
        return bad_request("invalid_transaction_id", "unknown transaction_id");
    };
    if entry.polls_left > 0 && shared.settings.draft13 {
        entry.polls_left -= 1;
        return bad_request("issuance_pending", "not ready yet");
    }
    if entry.polls_left > 0 {
        entry.polls_left -= 1;
        let body = json!({
            "transaction_id": transaction_id,
            "interval": shared.settings.deferred_interval,
        });
        return answer(
            shared,
            &mut inner,
            StatusCode::ACCEPTED,
            &body,
            response_encryption.as_ref(),
        );
    }
    let Some(entry) = inner.deferred.remove(&transaction_id) else {
        return server_error();
    };
    let body = issued_body(shared, &mut inner, session_id, entry.credentials);
    answer(
        shared,
        &mut inner,
        StatusCode::OK,
        &body,
        response_encryption.as_ref(),
    )
}

fn notification(shared: &Shared, request: &Request) -> Response {
    let mut inner = shared.lock();
    let session_id = match session(shared, &mut inner, request) {
        Ok(session) => session.id,
        Err(response) => return response,
    };
    let Some(body) = request.json() else {
        return bad_request(
            "invalid_notification_request",
            "the body is not a JSON object",
        );
    };
    let id = body.get("notification_id").and_then(Value::as_str);
    let event = body.get("event").and_then(Value::as_str);
    let (Some(id), Some(event)) = (id, event) else {
        return bad_request(
            "invalid_notification_request",
            "notification_id and event are required",
        );
    };
    if !matches!(
        event,
        "credential_accepted" | "credential_failure" | "credential_deleted"
    ) {
        return bad_request("invalid_notification_request", "unknown event");
    }
    if inner.notification_ids.get(id) != Some(&session_id) {
        return bad_request("invalid_notification_id", "unknown notification_id");
    }
    inner
        .notifications
        .push((id.to_string(), event.to_string()));
    respond(StatusCode::NO_CONTENT, "application/json", Body::empty())
}

#[cfg(test)]
#[path = "dpop_flows.rs"]
mod dpop_flows;

#[cfg(test)]
#[path = "encryption_flows.rs"]
mod encryption_flows;

#[cfg(test)]
#[path = "attestation_flows.rs"]
mod attestation_flows;

#[cfg(test)]
#[path = "key_attestation_flows.rs"]
mod key_attestation_flows;

#[cfg(test)]
#[path = "x5c_flows.rs"]
mod x5c_flows;

#[cfg(test)]
#[path = "did_flows.rs"]
mod did_flows;

#[cfg(test)]
#[path = "mdoc_flows.rs"]
mod mdoc_flows;
