//! The authorization server's interactive part: the authorization endpoint
//! (with PAR, RFC 9126), an HTML login and consent step, the redirect with
//! `code`, `state` and `iss` (RFC 9207), and the `authorization_code` (PKCE
//! S256, RFC 7636) and `refresh_token` grants at the token endpoint.

use crate::credential::{self, CONFIGURATIONS};
use crate::dpop;
use crate::routes::{as_dpop_rejection, bad_request, json_response, ok, respond, token_response};
use crate::state::{
    random_id, AuthorizationRequest, Fault, Grant, Inner, IssuedCode, Pushed, Refresh, Session,
    Shared,
};
use axum::http::{header, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a browser may take from the first visit to consent.
const INTERACTION_LIFETIME: Duration = Duration::from_secs(600);
/// Authorization codes are short-lived (RFC 6749 recommends at most 10 min).
const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Pushed requests expire quickly.
const PAR_LIFETIME: Duration = Duration::from_secs(60);
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape(title)
    );
    let mut response = respond(status, "text/html; charset=utf-8", html);
    if let Ok(v) = "frame-ancestors 'none'".parse() {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// An error the browser shows: the redirect URI could not be trusted, so no
/// redirect happens.
fn error_page(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Authorization request rejected",
        &format!("<p id=\"error\">{}</p>", escape(message)),
    )
}

/// `redirect_uri` with the response parameters added (and `iss`).
fn redirect(shared: &Shared, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page("the redirect_uri is not a URL");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if !shared.has(Fault::RedirectWithoutIss) {
            query.append_pair("iss", &shared.as_id());
        }
    }
    let mut response = respond(StatusCode::SEE_OTHER, "text/plain", "");
    if let Ok(v) = url.as_str().parse() {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn redirect_error(
    shared: &Shared,
    redirect_uri: &str,
    state: Option<&str>,
    code: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", code), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    redirect(shared, redirect_uri, &params)
}

/// Redirect URIs a public client may use: https, loopback http (RFC 8252),
/// or a private-use scheme (`com.example.app:/cb`). No fragment.
fn acceptable_redirect_uri(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    if url.fragment().is_some() {
        return false;
    }
    match url.scheme() {
        "https" => true,
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")),
        "javascript" | "data" | "file" | "ftp" | "ws" | "wss" => false,
        _ => true,
    }
}

/// The parameters of a query or form, refusing repeated names (RFC 6749 3.1).
pub(crate) fn single_params(pairs: &[(String, String)]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v.clone()).is_some() {
            return Err(format!("parameter {k} appears more than once"));
        }
    }
    Ok(out)
}

/// `GET /authorize`
pub(crate) fn authorization_endpoint(shared: &Shared, query: &[(String, String)]) -> Response {
    let mut params = match single_params(query) {
        Ok(p) => p,
        Err(m) => return error_page(&m),
    };
    let mut inner = shared.lock();
    let now = Instant::now();
    inner.pushed.retain(|_, p| p.expires > now);
    inner.authorization_requests.retain(|_, r| r.expires > now);
    if let Some(request_uri) = params.get("request_uri").cloned() {
        let Some(pushed) = inner.pushed.remove(&request_uri) else {
            return error_page("the request_uri is unknown, used or expired");
        };
        if params.get("client_id") != pushed.params.get("client_id") {
            return error_page("client_id differs from the pushed request's");
        }
        params = pushed.params;
    } else if shared.settings.require_par {
        return error_page("this server requires pushed authorization requests (PAR)");
    }
    let Some(client_id) = params.get("client_id").filter(|c| !c.is_empty()).cloned() else {
        return error_page("client_id is required");
    };
    let Some(redirect_uri) = params.get("redirect_uri").cloned() else {
        return error_page("redirect_uri is required");
    };
    if !acceptable_redirect_uri(&redirect_uri) {
        return error_page("redirect_uri must be https, loopback http or a private-use scheme");
    }
    let state = params.get("state").cloned();
    let fail = |code: &str, description: &str| {
        redirect_error(shared, &redirect_uri, state.as_deref(), code, description)
    };
    match validate(shared, &mut inner, &params) {
        Err((code, description)) => fail(code, &description),
        Ok(checked) => {
            let request = AuthorizationRequest {
                client_id,
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
                code_challenge: checked.code_challenge,
                configuration_ids: checked.configuration_ids,
                with_details: checked.with_details,
                deferred: checked.deferred,
                user: None,
                expires: now + INTERACTION_LIFETIME,
                dpop_jkt: checked.dpop_jkt,
            };
            let txn = random_id(16);
            inner.authorization_requests.insert(txn.clone(), request);
            login_page(shared, &txn, None)
        }
    }
}

struct Checked {
    code_challenge: String,
    configuration_ids: Vec<String>,
    with_details: bool,
    deferred: bool,
    /// With DPoP required: the `dpop_jkt` the code is to be bound to.
    dpop_jkt: Option<String>,
}

fn validate(
    shared: &Shared,
    inner: &mut Inner,
    params: &HashMap<String, String>,
) -> Result<Checked, (&'static str, String)> {
    let get = |k: &str| params.get(k).map(String::as_str);
    if get("response_type") != Some("code") {
        return Err((
            "unsupported_response_type",
            "response_type must be code".into(),
        ));
    }
    if get("code_challenge_method") != Some("S256") {
        return Err((
            "invalid_request",
            "PKCE with code_challenge_method S256 is required".into(),
        ));
    }
    let challenge = get("code_challenge").unwrap_or_default();
    if challenge.len() != 43 {
        return Err((
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)".into(),
        ));
    }
    let mut ids: Vec<String> = Vec::new();
    let mut with_details = false;
    if let Some(scope) = get("scope") {
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            if let Some(c) = CONFIGURATIONS.iter().find(|c| c.scope == s) {
                if !ids.iter().any(|i| i == c.id) {
                    ids.push(c.id.to_string());
                }
            }
        }
        if ids.is_empty() {
            return Err(("invalid_scope", "no known credential scope".into()));
        }
    }
    if let Some(details) = get("authorization_details") {
        with_details = true;
        let list: Vec<Value> = serde_json::from_str(details).map_err(|_| {
            (
                "invalid_authorization_details",
                "authorization_details is not a JSON array".to_string(),
            )
        })?;
        for d in &list {
            if d.get("type").and_then(Value::as_str) != Some("openid_credential") {
                return Err((
                    "invalid_authorization_details",
                    "type must be openid_credential".into(),
                ));
            }
            // Draft 11 names the credential by format and type.
            let named = d
                .as_object()
                .filter(|_| shared.settings.draft11())
                .map(|d| {
                    CONFIGURATIONS
                        .iter()
                        .find(|c| c.named_by_draft11_request(d))
                        .map(|c| c.id)
                        .ok_or((
                            "invalid_authorization_details",
                            "draft 11: name the credential by format and types, vct or doctype \
                             of a credentials_supported entry"
                                .to_string(),
                        ))
                })
                .transpose()?;
            let Some(id) = named.or(d.get("credential_configuration_id").and_then(Value::as_str))
            else {
                return Err((
                    "invalid_authorization_details",
                    "credential_configuration_id is required".into(),
                ));
            };
            if credential::configuration(id).is_none() {
                return Err((
                    "invalid_authorization_details",
                    format!("unknown credential_configuration_id {id}"),
                ));
            }
            if shared.as_base_url.is_some() {
                let issuer = shared.issuer_id();
                let named = d
                    .get("locations")
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(issuer.as_str())));
                if !named {
                    return Err((
                        "invalid_authorization_details",
                        "locations must name the credential issuer".into(),
                    ));
                }
            }
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    }
    if ids.is_empty() {
        return Err((
            "invalid_request",
            "scope or authorization_details is required".into(),
        ));
    }
    let dpop_jkt = match get("dpop_jkt") {
        Some(jkt) if shared.settings.require_dpop => {
            if !dpop::is_thumbprint(jkt) {
                return Err((
                    "invalid_request",
                    "dpop_jkt must be a base64url SHA-256 JWK thumbprint".into(),
                ));
            }
            Some(jkt.to_string())
        }
        _ => None,
    };
    let mut deferred = false;
    if let Some(issuer_state) = get("issuer_state") {
        let Some(grant) = inner.issuer_states.remove(issuer_state) else {
            return Err(("invalid_request", "issuer_state is unknown or used".into()));
        };
        if let Some(extra) = ids.iter().find(|i| !grant.configuration_ids.contains(i)) {
            return Err((
                "invalid_request",
                format!("{extra} was not offered with this issuer_state"),
            ));
        }
        deferred = grant.deferred;
    }
    Ok(Checked {
        code_challenge: challenge.to_string(),
        configuration_ids: ids,
        with_details,
        deferred,
        dpop_jkt,
    })
}

fn login_page(shared: &Shared, txn: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p id=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Sign in to the Reference Issuer",
        &format!(
            "{error}<form method=\"post\" action=\"{action}\">\n\
             <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\n\
             <label>User <input id=\"username\" name=\"username\" autocomplete=\"username\"></label>\n\
             <label>Password <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n\
             <button id=\"login\" type=\"submit\">Sign in</button>\n</form>",
            txn = escape(txn),
            action = escape(&shared.as_endpoint("authorize/login")),
        ),
    )
}

/// `POST /authorize/login`
pub(crate) fn login(shared: &Shared, form: &HashMap<String, String>) -> Response {
    let txn = form.get("txn").cloned().unwrap_or_default();
    let mut inner = shared.lock();
    let Some(request) = inner
        .authorization_requests
        .get_mut(&txn)
        .filter(|r| r.expires > Instant::now())
    else {
        return error_page("this sign-in has expired; start again from the wallet");
    };
    let name = form.get("username").map(String::as_str).unwrap_or("");
    let password = form.get("password").map(String::as_str).unwrap_or("");
    let known = shared
        .settings
        .users
        .iter()
        .any(|u| u.name == name && u.password == password);
    if !known {
        return login_page(shared, &txn, Some("Wrong user name or password."));
    }
    request.user = Some(name.to_string());
    let items: String = request
        .configuration_ids
        .iter()
        .filter_map(|id| credential::configuration(id))
        .map(|c| {
            let name = c.display.first().map(|d| d.1).unwrap_or(c.id);
            format!("<li>{}</li>", escape(name))
        })
        .collect();
    page(
        StatusCode::OK,
        "Share your data with the wallet?",
        &format!(
            "<p>Signed in as {user}. The wallet asks for:</p>\n<ul id=\"credentials\">{items}</ul>\n\
             <form method=\"post\" action=\"{action}\">\n\
             <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\n\
             <button id=\"allow\" name=\"decision\" value=\"allow\" type=\"submit\">Allow</button>\n\
             <button id=\"deny\" name=\"decision\" value=\"deny\" type=\"submit\">Deny</button>\n</form>",
            user = escape(name),
            txn = escape(&txn),
            action = escape(&shared.as_endpoint("authorize/consent")),
        ),
    )
}

/// `POST /authorize/consent`
pub(crate) fn consent(shared: &Shared, form: &HashMap<String, String>) -> Response {
    let txn = form.get("txn").cloned().unwrap_or_default();
    let mut inner = shared.lock();
    let Some(request) = inner
        .authorization_requests
        .remove(&txn)
        .filter(|r| r.expires > Instant::now())
    else {
        return error_page("this sign-in has expired; start again from the wallet");
    };
    let Some(user) = request.user.clone() else {
        return error_page("sign in first");
    };
    let state = request.state.clone();
    if form.get("decision").map(String::as_str) != Some("allow") {
        return redirect_error(
            shared,
            &request.redirect_uri,
            state.as_deref(),
            "access_denied",
            "the user declined",
        );
    }
    let claims = shared
        .settings
        .users
        .iter()
        .find(|u| u.name == user)
        .map(|u| u.claims.clone());
    let grant = Grant {
        configuration_ids: request.configuration_ids.clone(),
        deferred: request.deferred,
        claims,
    };
    let code = random_id(24);
    inner.secrets.push(code.clone());
    let redirect_uri = request.redirect_uri.clone();
    inner.codes.insert(
        code.clone(),
        IssuedCode {
            request,
            grant,
            expires: Instant::now() + CODE_LIFETIME,
        },
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = state.as_deref() {
        params.push(("state", s));
    }
    redirect(shared, &redirect_uri, &params)
}

/// `POST /par`; `proof_jkt` is the key thumbprint of a valid DPoP proof
/// sent along (the code gets bound to it), `attested` the client
/// authenticated by a wallet attestation (it stands in for a missing
/// `client_id`).
pub(crate) fn par(
    shared: &Shared,
    pairs: &[(String, String)],
    proof_jkt: Option<String>,
    attested: Option<String>,
) -> Response {
    let mut params = match single_params(pairs) {
        Ok(p) => p,
        Err(m) => return bad_request("invalid_request", &m),
    };
    if let Some(client_id) = attested {
        params.entry("client_id".into()).or_insert(client_id);
    }
    if params.contains_key("request_uri") {
        return bad_request("invalid_request", "request_uri must not be pushed");
    }
    if params.get("client_id").is_none_or(|c| c.is_empty()) {
        return bad_request("invalid_request", "client_id is required");
    }
    if !params
        .get("redirect_uri")
        .is_some_and(|r| acceptable_redirect_uri(r))
    {
        return bad_request(
            "invalid_request",
            "redirect_uri is missing or not acceptable",
        );
    }
    let mut inner = shared.lock();
    if let Some(jkt) = proof_jkt {
        // RFC 9449 section 10.1: dpop_jkt and the proof's key must agree.
        if params.get("dpop_jkt").is_some_and(|given| *given != jkt) {
            return as_dpop_rejection(
                &mut inner,
                dpop::Rejection::InvalidProof(
                    "dpop_jkt is not the thumbprint of the DPoP proof's key".into(),
                ),
            );
        }
        params.insert("dpop_jkt".into(), jkt);
    }
    // Check now what can be checked without consuming the issuer_state.
    let mut probe = params.clone();
    probe.remove("issuer_state");
    if let Err((code, description)) = validate(shared, &mut inner, &probe) {
        return bad_request(code, &description);
    }
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_id(16));
    inner.pushed.insert(
        request_uri.clone(),
        Pushed {
            params,
            expires: Instant::now() + PAR_LIFETIME,
        },
    );
    json_response(
        StatusCode::CREATED,
        &json!({ "request_uri": request_uri, "expires_in": PAR_LIFETIME.as_secs() }),
    )
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The `authorization_code` grant; `proof_jkt` is the thumbprint of the
/// request's DPoP proof (when DPoP is required), `attested` the client
/// authenticated by a wallet attestation (it stands in for a missing
/// `client_id`; a present one equals it).
pub(crate) fn code_grant(
    shared: &Shared,
    form: &HashMap<String, String>,
    proof_jkt: Option<String>,
    attested: Option<String>,
) -> Response {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let client_id = form
        .get("client_id")
        .or(attested.as_ref())
        .map(String::as_str)
        .unwrap_or("");
    let mut inner = shared.lock();
    // Single use: removed before any check, so a replay always fails.
    let Some(issued) = inner.codes.remove(get("code")) else {
        return bad_request(
            "invalid_grant",
            "the authorization code is unknown, used or expired",
        );
    };
    if issued.expires <= Instant::now() {
        return bad_request("invalid_grant", "the authorization code has expired");
    }
    let request = &issued.request;
    if client_id != request.client_id {
        return bad_request("invalid_grant", "the code was issued to another client_id");
    }
    if get("redirect_uri") != request.redirect_uri {
        return bad_request(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        );
    }
    let verifier = get("code_verifier");
    if !(43..=128).contains(&verifier.len()) || s256(verifier) != request.code_challenge {
        return bad_request("invalid_grant", "the PKCE code_verifier does not match");
    }
    if let Some(bound) = &request.dpop_jkt {
        if proof_jkt.as_ref() != Some(bound) {
            return as_dpop_rejection(
                &mut inner,
                dpop::Rejection::InvalidProof(
                    "the authorization code is bound to another DPoP key".into(),
                ),
            );
        }
    }
    let with_details = request.with_details && shared.settings.credential_identifiers;
    let session = Session {
        id: random_id(12),
        grant: issued.grant.clone(),
        identifiers: HashMap::new(),
        client_id: Some(request.client_id.clone()),
        expires: Instant::now(),
        dpop_jkt: proof_jkt,
        attested_client: attested,
    };
    ok(token_response(
        shared,
        &mut inner,
        session,
        with_details,
        true,
    ))
}

/// The `refresh_token` grant (the refresh token rotates); `proof_jkt` is
/// the thumbprint of the request's DPoP proof (when DPoP is required),
/// `attested` the client authenticated by a wallet attestation.
pub(crate) fn refresh_grant(
    shared: &Shared,
    form: &HashMap<String, String>,
    proof_jkt: Option<String>,
    attested: Option<String>,
) -> Response {
    let mut inner = shared.lock();
    let token = form.get("refresh_token").cloned().unwrap_or_default();
    // A DPoP-bound refresh token needs a proof by its key; checked before it
    // is consumed, so a thief without the key cannot burn it.
    let bound = inner
        .refresh_tokens
        .get(&token)
        .and_then(|r| r.session.dpop_jkt.clone());
    if bound.is_some() && bound != proof_jkt {
        return as_dpop_rejection(
            &mut inner,
            dpop::Rejection::InvalidProof("the refresh token is bound to another DPoP key".into()),
        );
    }
    let Some(refresh) = inner.refresh_tokens.remove(&token) else {
        return bad_request(
            "invalid_grant",
            "the refresh token is unknown or was already used",
        );
    };
    // A public client's refresh token is bound to its client_id (anonymous
    // pre-authorized access has none), and to the attested client when the
    // token was obtained with a wallet attestation.
    let client_id = form.get("client_id").or(attested.as_ref());
    let bound = refresh.session.client_id.as_ref();
    if bound.is_some() && client_id != bound {
        return bad_request(
            "invalid_grant",
            "the refresh token was issued to another client_id",
        );
    }
    let attested_bound = refresh.session.attested_client.as_ref();
    if attested_bound.is_some() && attested.as_ref() != attested_bound {
        return bad_request(
            "invalid_grant",
            "the refresh token was issued to another client (wallet attestation sub)",
        );
    }
    let Refresh {
        session,
        with_details,
    } = refresh;
    // The old access tokens of this line stop working.
    inner.sessions.retain(|_, s| s.id != session.id);
    ok(token_response(
        shared,
        &mut inner,
        session,
        with_details,
        true,
    ))
}
