//! What the endpoint tests (`*_flows.rs`) share: an issuer under `/tenant`
//! at [`BASE`], requests through the real dispatcher (no sockets) and their
//! [`Answer`]s, and the steps most flows start with (a pre-authorized code,
//! an access token, a c_nonce, a proof, the code flow's browser part).

use super::{dispatch, Role};
use crate::credential::now_secs;
use crate::credential::tests::{holder, proof};
use crate::state::{Settings, Shared};
use crate::OfferRequest;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub(super) const BASE: &str = "http://127.0.0.1:9";
pub(super) const AS_BASE: &str = "http://127.0.0.1:10";
/// The issuer identifier of a [`tenant_issuer`] (a proof's `aud`).
pub(super) const ISSUER_ID: &str = "http://127.0.0.1:9/tenant";
pub(super) const PRE_AUTH: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
pub(super) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-dBjft";

/// An issuer at [`BASE`] with the path `/tenant` and `settings`; with
/// `separate_authorization_server`, its authorization server at [`AS_BASE`].
pub(super) fn tenant_issuer(settings: Settings) -> Shared {
    let settings = Settings {
        path: "/tenant".into(),
        ..settings
    };
    let as_base = settings
        .separate_authorization_server
        .then(|| AS_BASE.into());
    Shared::new(settings, BASE.into(), as_base)
}

#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Value,
    pub(super) text: String,
}

impl Answer {
    pub(super) fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub(super) fn nonce(&self) -> String {
        self.header("dpop-nonce")
            .expect("a DPoP-Nonce header")
            .into()
    }
}

pub(super) async fn call(
    shared: &Shared,
    role: Role,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: String,
) -> Answer {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let uri: Uri = path.parse().unwrap();
    let response = dispatch(shared, role, method, uri, map, Bytes::from(body));
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

pub(super) async fn get(shared: &Shared, path: &str) -> Answer {
    call(shared, Role::Both, Method::GET, path, &[], String::new()).await
}

pub(super) fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `path` under the issuer identifier (`/tenant/token`, or `/token`).
pub(super) fn at(shared: &Shared, path: &str) -> String {
    format!("{}/{path}", shared.settings.path)
}

/// The pre-authorized code of a fresh default offer.
pub(super) fn pre_authorized_code(shared: &Shared) -> String {
    pre_authorized_code_of(shared, OfferRequest::default())
}

/// The pre-authorized code of a fresh `offer` (by value).
pub(super) fn pre_authorized_code_of(shared: &Shared, offer: OfferRequest) -> String {
    let offer = shared.create_offer(offer);
    let url = url::Url::parse(&offer.offer_url).unwrap();
    let (_, json) = url
        .query_pairs()
        .find(|(k, _)| k == "credential_offer")
        .unwrap();
    let offer: Value = serde_json::from_str(&json).unwrap();
    offer["grants"][PRE_AUTH]["pre-authorized_code"]
        .as_str()
        .unwrap()
        .into()
}

/// A Bearer access token for a fresh pre-authorized `offer`.
pub(super) async fn access_token(shared: &Shared, offer: OfferRequest) -> String {
    let code = pre_authorized_code_of(shared, offer);
    let body = form(&[("grant_type", PRE_AUTH), ("pre-authorized_code", &code)]);
    let answer = call(
        shared,
        Role::Both,
        Method::POST,
        &at(shared, "token"),
        &[],
        body,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["access_token"].as_str().unwrap().into()
}

/// A fresh c_nonce from the nonce endpoint, and the whole answer.
pub(super) async fn c_nonce_answer(shared: &Shared) -> (String, Answer) {
    let answer = call(
        shared,
        Role::Both,
        Method::POST,
        &at(shared, "nonce"),
        &[],
        String::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    (answer.body["c_nonce"].as_str().unwrap().into(), answer)
}

/// A fresh c_nonce from the nonce endpoint.
pub(super) async fn c_nonce(shared: &Shared) -> String {
    c_nonce_answer(shared).await.0
}

/// An `openid4vci-proof+jwt` for `aud` and `nonce` by a fresh holder key,
/// and that key's public JWK.
pub(super) fn holder_proof(aud: &str, nonce: &str) -> (String, Value) {
    let (key, jwk) = holder();
    let jwt = proof(
        &key,
        json!({"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": jwk}),
        json!({"aud": aud, "iat": now_secs(), "nonce": nonce}),
    );
    (jwt, jwk)
}

/// An `openid4vci-proof+jwt` for the pre-authorized flow.
pub(super) fn key_proof(c_nonce: &str) -> String {
    holder_proof(ISSUER_ID, c_nonce).0
}

/// POSTs `body` as `content_type` with the Bearer `token` to `endpoint`
/// (the credential or deferred endpoint, say) under the issuer identifier.
pub(super) async fn post_bearer(
    shared: &Shared,
    endpoint: &str,
    token: &str,
    content_type: &str,
    body: String,
) -> Answer {
    let headers = [
        ("authorization", format!("Bearer {token}")),
        ("content-type", content_type.to_string()),
    ];
    call(
        shared,
        Role::Both,
        Method::POST,
        &at(shared, endpoint),
        &headers,
        body,
    )
    .await
}

/// POSTs a JSON body with the Bearer `token` to `endpoint`.
pub(super) async fn post_json(
    shared: &Shared,
    endpoint: &str,
    token: &str,
    body: &Value,
) -> Answer {
    post_bearer(
        shared,
        endpoint,
        token,
        "application/json",
        body.to_string(),
    )
    .await
}

/// `GET /test/trust`: the root CA as PEM.
pub(super) async fn trust_anchor(shared: &Shared) -> String {
    let answer = get(shared, "/test/trust").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.header("content-type"),
        Some("application/x-pem-file")
    );
    assert!(
        answer.text.starts_with("-----BEGIN CERTIFICATE-----"),
        "{}",
        answer.text
    );
    answer.text
}

/// The credentials of a credential (or deferred) answer's body.
pub(super) fn credentials(body: &Value) -> Vec<String> {
    body["credentials"]
        .as_array()
        .unwrap_or_else(|| panic!("no credentials: {body}"))
        .iter()
        .map(|c| c["credential"].as_str().unwrap().to_string())
        .collect()
}

/// The decoded JSON of `part` (0 the header, 1 the payload) of a compact
/// JWS or JWE.
pub(super) fn jws_part(jwt: &str, part: usize) -> Value {
    serde_json::from_slice(&B64.decode(jwt.split('.').nth(part).unwrap()).unwrap()).unwrap()
}

pub(super) fn s256(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// Runs the browser part: `query` at the authorization endpoint, login and
/// consent; the code.
pub(super) async fn authorize(
    shared: &Shared,
    role: Role,
    prefix: &str,
    query: &[(&str, &str)],
) -> String {
    let page = call(
        shared,
        role,
        Method::GET,
        &format!("{prefix}/authorize?{}", form(query)),
        &[],
        String::new(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let txn = page
        .text
        .split("name=\"txn\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let login = form(&[
        ("txn", &txn),
        ("username", "erika"),
        ("password", "erika-password"),
    ]);
    let answer = call(
        shared,
        role,
        Method::POST,
        &format!("{prefix}/authorize/login"),
        &[],
        login,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let consent = form(&[("txn", &txn), ("decision", "allow")]);
    let answer = call(
        shared,
        role,
        Method::POST,
        &format!("{prefix}/authorize/consent"),
        &[],
        consent,
    )
    .await;
    let location = url::Url::parse(answer.header("location").unwrap()).unwrap();
    let (_, code) = location.query_pairs().find(|(k, _)| k == "code").unwrap();
    code.into_owned()
}

pub(super) fn authorization_params(challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", "wallet".into()),
        ("redirect_uri", "http://127.0.0.1/cb".into()),
        ("scope", "pid".into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

pub(super) fn code_body(code: &str) -> String {
    form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", "wallet"),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_verifier", VERIFIER),
    ])
}
