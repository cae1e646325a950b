//! DPoP over the real dispatcher (no sockets): the token, PAR, credential,
//! deferred, notification and nonce endpoints with `require_dpop` and
//! `dpop_nonce`, their error answers, and the stats counters.

use crate::credential::tests::holder;
use crate::dpop::tests::{dpop_proof, jkt_of};
use crate::routes::test_support::{
    authorization_params, authorize, c_nonce_answer, call, code_body, form, key_proof,
    pre_authorized_code, s256, tenant_issuer, Answer, AS_BASE, BASE, PRE_AUTH, VERIFIER,
};
use crate::routes::Role;
use crate::state::{Settings, Shared};
use axum::http::{Method, StatusCode};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};

fn issuer(require_dpop: bool, dpop_nonce: bool, separate_as: bool) -> Shared {
    tenant_issuer(Settings {
        require_dpop,
        dpop_nonce,
        separate_authorization_server: separate_as,
        ..Settings::default()
    })
}

async fn token_request(shared: &Shared, role: Role, body: String, dpop: Option<String>) -> Answer {
    let headers: Vec<(&str, String)> = dpop.into_iter().map(|d| ("dpop", d)).collect();
    let path = if role == Role::AuthorizationServer {
        "/token"
    } else {
        "/tenant/token"
    };
    call(shared, role, Method::POST, path, &headers, body).await
}

/// A resource request with `Authorization: <scheme> <token>` and a proof.
async fn resource(
    shared: &Shared,
    endpoint: &str,
    authorization: String,
    dpop: Option<String>,
    body: Value,
) -> Answer {
    let mut headers = vec![("authorization", authorization)];
    headers.extend(dpop.map(|d| ("dpop", d)));
    call(
        shared,
        Role::Both,
        Method::POST,
        &format!("/tenant/{endpoint}"),
        &headers,
        body.to_string(),
    )
    .await
}

fn assert_challenge(answer: &Answer, code: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_eq!(
        answer.header("www-authenticate"),
        Some(format!("DPoP error=\"{code}\"").as_str())
    );
    assert_eq!(answer.error(), code);
    assert!(answer.body["error_description"].is_string());
}

#[tokio::test]
async fn pre_authorized_flow_with_dpop_and_nonces() {
    let shared = issuer(true, true, false);
    let (key, _) = holder();
    let (other, _) = holder();
    let token_url = format!("{BASE}/tenant/token");
    let credential_url = format!("{BASE}/tenant/credential");

    let metadata = call(
        &shared,
        Role::Both,
        Method::GET,
        "/.well-known/oauth-authorization-server/tenant",
        &[],
        String::new(),
    )
    .await;
    assert_eq!(
        metadata.body["dpop_signing_alg_values_supported"],
        json!(["ES256"])
    );

    let code = pre_authorized_code(&shared);
    let body = form(&[("grant_type", PRE_AUTH), ("pre-authorized_code", &code)]);

    // No proof.
    let answer = token_request(&shared, Role::Both, body.clone(), None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_dpop_proof");
    answer.nonce(); // every answer rotates the nonce
                    // A proof without a nonce.
    let no_nonce = dpop_proof(&key, "POST", &token_url, None, None);
    let answer = token_request(&shared, Role::Both, body.clone(), Some(no_nonce)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "use_dpop_nonce");
    let as_nonce = answer.nonce();
    // The issuer's nonce is foreign to the AS (same origin, other namespace).
    let (c, nonce_answer) = c_nonce_answer(&shared).await;
    let issuer_nonce = nonce_answer.nonce();
    let foreign = dpop_proof(&key, "POST", &token_url, None, Some(&issuer_nonce));
    let answer = token_request(&shared, Role::Both, body.clone(), Some(foreign)).await;
    assert_eq!(answer.error(), "use_dpop_nonce");
    // The right nonce; the refused attempts did not consume the code.
    let good = dpop_proof(&key, "POST", &token_url, None, Some(&as_nonce));
    let answer = token_request(&shared, Role::Both, body.clone(), Some(good.clone())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "DPoP");
    let rotated = answer.nonce();
    assert_ne!(rotated, as_nonce);
    let access_token = answer.body["access_token"].as_str().unwrap().to_string();
    let refresh_token = answer.body["refresh_token"].as_str().unwrap().to_string();
    // The same proof again is a replay (its nonce is still good).
    let answer = token_request(&shared, Role::Both, body.clone(), Some(good)).await;
    assert_eq!(answer.error(), "invalid_dpop_proof");

    let request = json!({
        "credential_configuration_id": "pid_sd_jwt",
        "proofs": {"jwt": [key_proof(&c)]},
    });
    let dpop_auth = format!("DPoP {access_token}");
    let at = Some(access_token.as_str());
    // Bearer scheme, or no proof: invalid_token.
    let answer = resource(
        &shared,
        "credential",
        format!("Bearer {access_token}"),
        Some(dpop_proof(
            &key,
            "POST",
            &credential_url,
            at,
            Some(&issuer_nonce),
        )),
        request.clone(),
    )
    .await;
    assert_challenge(&answer, "invalid_token");
    answer.nonce();
    let answer = resource(
        &shared,
        "credential",
        dpop_auth.clone(),
        None,
        request.clone(),
    )
    .await;
    assert_challenge(&answer, "invalid_token");
    // No nonce, or the AS's: use_dpop_nonce with a fresh one.
    for nonce in [None, Some(rotated.as_str())] {
        let proof = dpop_proof(&key, "POST", &credential_url, at, nonce);
        let answer = resource(
            &shared,
            "credential",
            dpop_auth.clone(),
            Some(proof),
            request.clone(),
        )
        .await;
        assert_challenge(&answer, "use_dpop_nonce");
        answer.nonce();
    }
    // Another key, no ath, or ath of another token: invalid_dpop_proof.
    for proof in [
        dpop_proof(&other, "POST", &credential_url, at, Some(&issuer_nonce)),
        dpop_proof(&key, "POST", &credential_url, None, Some(&issuer_nonce)),
        dpop_proof(
            &key,
            "POST",
            &credential_url,
            Some("other"),
            Some(&issuer_nonce),
        ),
    ] {
        let answer = resource(
            &shared,
            "credential",
            dpop_auth.clone(),
            Some(proof),
            request.clone(),
        )
        .await;
        assert_challenge(&answer, "invalid_dpop_proof");
    }
    // The right key and nonce.
    let good = dpop_proof(&key, "POST", &credential_url, at, Some(&issuer_nonce));
    let answer = resource(
        &shared,
        "credential",
        dpop_auth.clone(),
        Some(good.clone()),
        request.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let next_nonce = answer.nonce();
    let notification_id = answer.body["notification_id"].as_str().unwrap().to_string();
    // Replayed proof.
    let answer = resource(
        &shared,
        "credential",
        dpop_auth.clone(),
        Some(good),
        request,
    )
    .await;
    assert_challenge(&answer, "invalid_dpop_proof");
    // Notification and deferred take the same scheme.
    let proof = dpop_proof(
        &key,
        "POST",
        &format!("{BASE}/tenant/notification"),
        at,
        Some(&next_nonce),
    );
    let answer = resource(
        &shared,
        "notification",
        dpop_auth.clone(),
        Some(proof),
        json!({"notification_id": notification_id, "event": "credential_accepted"}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    answer.nonce();
    let proof = dpop_proof(
        &key,
        "POST",
        &format!("{BASE}/tenant/deferred"),
        at,
        Some(&next_nonce),
    );
    let answer = resource(
        &shared,
        "deferred",
        dpop_auth.clone(),
        Some(proof),
        json!({"transaction_id": "nope"}),
    )
    .await;
    assert_eq!(answer.error(), "invalid_transaction_id", "{}", answer.text);
    // A proof for the deferred endpoint is refused at the credential endpoint (htu).
    let proof = dpop_proof(
        &key,
        "POST",
        &format!("{BASE}/tenant/deferred"),
        at,
        Some(&next_nonce),
    );
    let answer = resource(&shared, "credential", dpop_auth, Some(proof), json!({})).await;
    assert_challenge(&answer, "invalid_dpop_proof");

    // Refresh: bound to the same key; another key does not consume it.
    let refresh = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token),
    ]);
    let proof = dpop_proof(&other, "POST", &token_url, None, Some(&rotated));
    let answer = token_request(&shared, Role::Both, refresh.clone(), Some(proof)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_dpop_proof");
    let proof = dpop_proof(&key, "POST", &token_url, None, Some(&rotated));
    let answer = token_request(&shared, Role::Both, refresh, Some(proof)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "DPoP");

    let stats = shared.stats();
    assert_eq!(stats["/tenant/token"], 7, "{stats:?}");
    assert_eq!(stats["/tenant/credential"], 10, "{stats:?}");
    assert_eq!(stats["dpop_nonce_challenges_as"], 2, "{stats:?}");
    assert_eq!(stats["dpop_nonce_challenges_issuer"], 2, "{stats:?}");
    // token: none, replay, other key; credential: 3 bad, replay, wrong htu.
    assert_eq!(stats["dpop_rejected"], 8, "{stats:?}");
}

#[tokio::test]
async fn without_require_dpop_nothing_changes() {
    let shared = issuer(false, true, false);
    let metadata = call(
        &shared,
        Role::Both,
        Method::GET,
        "/tenant/.well-known/openid-configuration",
        &[],
        String::new(),
    )
    .await;
    assert!(metadata
        .body
        .get("dpop_signing_alg_values_supported")
        .is_none());
    let code = pre_authorized_code(&shared);
    let body = form(&[("grant_type", PRE_AUTH), ("pre-authorized_code", &code)]);
    let answer = token_request(&shared, Role::Both, body, Some("garbage".into())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert!(answer.header("dpop-nonce").is_none());
    let token = answer.body["access_token"].as_str().unwrap();
    let answer = resource(
        &shared,
        "deferred",
        format!("Bearer {token}"),
        Some("garbage".into()),
        json!({"transaction_id": "nope"}),
    )
    .await;
    assert_eq!(answer.error(), "invalid_transaction_id", "{}", answer.text);
    let answer = resource(
        &shared,
        "deferred",
        format!("DPoP {token}"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    assert!(shared.stats().keys().all(|k| k.starts_with('/')));
}

/// PAR with an optional DPoP proof and extra parameters; the code.
async fn par_code(
    shared: &Shared,
    role: Role,
    prefix: &str,
    base: &str,
    key: Option<&SigningKey>,
    extra: &[(&'static str, String)],
) -> Result<String, Answer> {
    let mut params = authorization_params(&s256(VERIFIER));
    params.extend(extra.iter().cloned());
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let headers: Vec<(&str, String)> = key
        .map(|k| {
            (
                "dpop",
                dpop_proof(k, "POST", &format!("{base}{prefix}/par"), None, None),
            )
        })
        .into_iter()
        .collect();
    let answer = call(
        shared,
        role,
        Method::POST,
        &format!("{prefix}/par"),
        &headers,
        form(&pairs),
    )
    .await;
    if answer.status != StatusCode::CREATED {
        return Err(answer);
    }
    let request_uri = answer.body["request_uri"].as_str().unwrap().to_string();
    Ok(authorize(
        shared,
        role,
        prefix,
        &[("client_id", "wallet"), ("request_uri", &request_uri)],
    )
    .await)
}

#[tokio::test]
async fn authorization_codes_are_bound_by_par_proofs_and_dpop_jkt() {
    let shared = issuer(true, false, false);
    let (key, _) = holder();
    let (other, _) = holder();
    let token_url = format!("{BASE}/tenant/token");
    let token = |code: String, k: &SigningKey| {
        let proof = dpop_proof(k, "POST", &token_url, None, None);
        let shared = &shared;
        async move { token_request(shared, Role::Both, code_body(&code), Some(proof)).await }
    };

    // A DPoP proof at PAR binds the code.
    let code = par_code(&shared, Role::Both, "/tenant", BASE, Some(&key), &[])
        .await
        .unwrap();
    let answer = token(code, &other).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_dpop_proof");
    let code = par_code(&shared, Role::Both, "/tenant", BASE, Some(&key), &[])
        .await
        .unwrap();
    let answer = token(code, &key).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "DPoP");

    // dpop_jkt at PAR (no proof) binds it too.
    let jkt = ("dpop_jkt", jkt_of(&key));
    let code = par_code(
        &shared,
        Role::Both,
        "/tenant",
        BASE,
        None,
        std::slice::from_ref(&jkt),
    )
    .await
    .unwrap();
    assert_eq!(token(code, &other).await.error(), "invalid_dpop_proof");
    // A proof and a dpop_jkt of different keys.
    let answer = par_code(
        &shared,
        Role::Both,
        "/tenant",
        BASE,
        Some(&other),
        std::slice::from_ref(&jkt),
    )
    .await
    .unwrap_err();
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_dpop_proof");
    // A malformed dpop_jkt.
    let answer = par_code(
        &shared,
        Role::Both,
        "/tenant",
        BASE,
        None,
        &[("dpop_jkt", "short".into())],
    )
    .await
    .unwrap_err();
    assert_eq!(answer.error(), "invalid_request");

    // dpop_jkt at the authorization endpoint.
    let mut params = authorization_params(&s256(VERIFIER));
    params.push(jkt);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let code = authorize(&shared, Role::Both, "/tenant", &pairs).await;
    assert_eq!(token(code, &other).await.error(), "invalid_dpop_proof");
    let code = authorize(&shared, Role::Both, "/tenant", &pairs).await;
    assert_eq!(token(code, &key).await.body["token_type"], "DPoP");

    // No binding at all: any key proves the token request.
    let code = par_code(&shared, Role::Both, "/tenant", BASE, None, &[])
        .await
        .unwrap();
    assert_eq!(token(code, &other).await.status, StatusCode::OK);
    // No nonce needed with dpop_nonce off, and none sent.
    assert!(shared.stats()["dpop_nonce_challenges_as"] == 0);
}

#[tokio::test]
async fn a_separate_authorization_server_checks_its_own_urls_and_nonces() {
    let shared = issuer(true, true, true);
    let (key, _) = holder();
    let metadata = call(
        &shared,
        Role::AuthorizationServer,
        Method::GET,
        "/.well-known/oauth-authorization-server",
        &[],
        String::new(),
    )
    .await;
    assert_eq!(
        metadata.body["dpop_signing_alg_values_supported"],
        json!(["ES256"])
    );

    // PAR without a proof is fine (binding is optional there) and rotates the nonce.
    let params = authorization_params(&s256(VERIFIER));
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = call(
        &shared,
        Role::AuthorizationServer,
        Method::POST,
        "/par",
        &[],
        form(&pairs),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let nonce = answer.nonce();
    // A proof at PAR without a nonce is challenged.
    let proof = dpop_proof(&key, "POST", &format!("{AS_BASE}/par"), None, None);
    let answer = call(
        &shared,
        Role::AuthorizationServer,
        Method::POST,
        "/par",
        &[("dpop", proof)],
        form(&pairs),
    )
    .await;
    assert_eq!(answer.error(), "use_dpop_nonce");

    let code = pre_authorized_code(&shared);
    let body = form(&[("grant_type", PRE_AUTH), ("pre-authorized_code", &code)]);
    // htu must be the AS's URL, not the issuer's.
    let wrong = dpop_proof(&key, "POST", &format!("{BASE}/token"), None, Some(&nonce));
    let answer = token_request(
        &shared,
        Role::AuthorizationServer,
        body.clone(),
        Some(wrong),
    )
    .await;
    assert_eq!(answer.error(), "invalid_dpop_proof");
    let good = dpop_proof(
        &key,
        "POST",
        &format!("{AS_BASE}/token"),
        None,
        Some(&nonce),
    );
    let answer = token_request(&shared, Role::AuthorizationServer, body, Some(good)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let as_nonce = answer.nonce();
    let token = answer.body["access_token"].as_str().unwrap().to_string();

    // The issuer refuses the AS's nonce and answers with its own.
    let url = format!("{BASE}/tenant/deferred");
    let proof = dpop_proof(&key, "POST", &url, Some(&token), Some(&as_nonce));
    let body = json!({"transaction_id": "nope"});
    let call_issuer = |proof: String| {
        let shared = &shared;
        let token = token.clone();
        let body = body.to_string();
        async move {
            call(
                shared,
                Role::Issuer,
                Method::POST,
                "/tenant/deferred",
                &[("authorization", format!("dpop {token}")), ("dpop", proof)],
                body,
            )
            .await
        }
    };
    let answer = call_issuer(proof).await;
    assert_challenge(&answer, "use_dpop_nonce");
    let proof = dpop_proof(&key, "POST", &url, Some(&token), Some(&answer.nonce()));
    let answer = call_issuer(proof).await;
    assert_eq!(answer.error(), "invalid_transaction_id", "{}", answer.text);
    answer.nonce();
}
