//! Wallet attestation (attestation-based client authentication) over the
//! real dispatcher (no sockets): the metadata, the PAR and token endpoints
//! with good and bad attestations and PoPs, the challenge endpoint and
//! header, expiry, the order of the DPoP, attestation and grant checks, the
//! code flow, attestation off, `/test/wallet-attestation`, and the counters.

use crate::attestation::tests::pop;
use crate::attestation::{WalletAttestation, WalletProvider, POP_TYP};
use crate::credential::now_secs;
use crate::credential::tests::{holder, proof};
use crate::dpop::tests::dpop_proof;
use crate::routes::test_support::{
    authorization_params, authorize, call, code_body, form, pre_authorized_code, s256,
    tenant_issuer, Answer, AS_BASE, BASE, PRE_AUTH, VERIFIER,
};
use crate::routes::Role;
use crate::state::{random_id, Settings, Shared};
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::time::Duration;

/// The AS issuer identifier on one origin (the PoP's `aud`).
const AS_ID: &str = "http://127.0.0.1:9/tenant";

fn issuer_with(mode: WalletAttestation, require_dpop: bool, separate_as: bool) -> Shared {
    tenant_issuer(Settings {
        wallet_attestation: mode,
        require_dpop,
        separate_authorization_server: separate_as,
        ..Settings::default()
    })
}

fn issuer(mode: WalletAttestation) -> Shared {
    issuer_with(mode, false, false)
}

/// A wallet instance: its key and an attestation for `client_id`.
struct Wallet {
    key: SigningKey,
    client_id: String,
    attestation: String,
}

impl Wallet {
    fn new(shared: &Shared, client_id: &str) -> Self {
        let (key, jwk) = holder();
        let attestation = shared
            .wallet_provider
            .issue(client_id, &jwk, Duration::from_secs(600));
        Wallet {
            key,
            client_id: client_id.into(),
            attestation,
        }
    }

    /// The two headers, the PoP for `aud` with `challenge`.
    fn headers(&self, aud: &str, challenge: Option<&str>) -> Vec<(&'static str, String)> {
        self.with_pop(pop(&self.key, &self.client_id, aud, challenge))
    }

    fn with_pop(&self, pop: String) -> Vec<(&'static str, String)> {
        vec![
            ("oauth-client-attestation", self.attestation.clone()),
            ("oauth-client-attestation-pop", pop),
        ]
    }
}

async fn post(shared: &Shared, path: &str, headers: &[(&str, String)], body: String) -> Answer {
    call(shared, Role::Both, Method::POST, path, headers, body).await
}

async fn token(shared: &Shared, headers: &[(&str, String)], body: String) -> Answer {
    post(shared, "/tenant/token", headers, body).await
}

async fn par(shared: &Shared, headers: &[(&str, String)], params: &[(&str, String)]) -> Answer {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post(shared, "/tenant/par", headers, form(&pairs)).await
}

fn pre_auth_body(shared: &Shared) -> String {
    let code = pre_authorized_code(shared);
    form(&[("grant_type", PRE_AUTH), ("pre-authorized_code", &code)])
}

async fn as_metadata(shared: &Shared) -> Value {
    let answer = call(
        shared,
        Role::Both,
        Method::GET,
        "/.well-known/oauth-authorization-server/tenant",
        &[],
        String::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.body
}

#[track_caller]
fn assert_refused(answer: &Answer, code: &str, needle: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.error(), code, "{}", answer.text);
    let description = answer.body["error_description"].as_str().unwrap();
    assert!(description.contains(needle), "{needle}: {description}");
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}

fn challenge_header(answer: &Answer) -> String {
    answer
        .header("oauth-client-attestation-challenge")
        .expect("an OAuth-Client-Attestation-Challenge header")
        .to_string()
}

#[tokio::test]
async fn required_attestation_at_token_and_par() {
    let shared = issuer(WalletAttestation::Required);
    let wallet = Wallet::new(&shared, "wallet");

    let metadata = as_metadata(&shared).await;
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none", "attest_jwt_client_auth"])
    );
    assert_eq!(
        metadata["pre-authorized_grant_anonymous_access_supported"],
        json!(false)
    );
    assert!(metadata.get("challenge_endpoint").is_none());
    assert_eq!(metadata["issuer"], AS_ID);

    // No headers, or only one: invalid_client, and the code survives.
    let body = pre_auth_body(&shared);
    assert_refused(
        &token(&shared, &[], body.clone()).await,
        "invalid_client",
        "OAuth-Client-Attestation",
    );
    let headers = wallet.headers(AS_ID, None);
    assert_refused(
        &token(&shared, &headers[..1], body.clone()).await,
        "invalid_client",
        "OAuth-Client-Attestation-PoP header is missing",
    );
    assert_refused(
        &token(&shared, &headers[1..], body.clone()).await,
        "invalid_client",
        "OAuth-Client-Attestation header is missing",
    );
    let answer = token(&shared, &headers, body.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert!(answer
        .header("oauth-client-attestation-challenge")
        .is_none());
    let refresh_token = answer.body["refresh_token"].as_str().unwrap().to_string();
    // The same PoP again: a replay.
    assert_refused(
        &token(&shared, &headers, pre_auth_body(&shared)).await,
        "invalid_client",
        "jti",
    );
    // A matching client_id parameter is fine.
    let with_client = format!("{}&client_id=wallet", pre_auth_body(&shared));
    let answer = token(&shared, &wallet.headers(AS_ID, None), with_client).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // Refresh: attestation required, and by the same client.
    let refresh = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token),
    ]);
    assert_refused(
        &token(&shared, &[], refresh.clone()).await,
        "invalid_client",
        "OAuth-Client-Attestation",
    );
    let answer = token(&shared, &wallet.headers(AS_ID, None), refresh).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let refresh_token = answer.body["refresh_token"].as_str().unwrap().to_string();
    let other = Wallet::new(&shared, "other-wallet");
    let refresh = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token),
    ]);
    let answer = token(&shared, &other.headers(AS_ID, None), refresh).await;
    assert_eq!(answer.error(), "invalid_grant", "{}", answer.text);

    // PAR.
    let params = authorization_params(&s256(VERIFIER));
    assert_refused(
        &par(&shared, &[], &params).await,
        "invalid_client",
        "OAuth-Client-Attestation",
    );
    let answer = par(&shared, &wallet.headers(AS_ID, None), &params).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert!(answer
        .header("oauth-client-attestation-challenge")
        .is_none());
    // client_id "wallet" at PAR, attestation of another client.
    assert_refused(
        &par(&shared, &other.headers(AS_ID, None), &params).await,
        "invalid_client",
        "client_id",
    );

    // No challenge endpoint without challenges.
    let answer = post(&shared, "/tenant/challenge", &[], String::new()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);

    let stats = shared.stats();
    assert_eq!(stats["attestation_rejected"], 7, "{stats:?}");
    assert_eq!(stats["attestation_challenges_issued"], 0, "{stats:?}");
}

#[tokio::test]
async fn each_defect_is_refused_and_consumes_no_code() {
    let shared = issuer(WalletAttestation::Required);
    let wallet = Wallet::new(&shared, "wallet");
    let body = pre_auth_body(&shared);
    let refuse = |headers: Vec<(&'static str, String)>, body: String, needle: &'static str| {
        let shared = &shared;
        async move {
            assert_refused(
                &token(shared, &headers, body).await,
                "invalid_client",
                needle,
            );
        }
    };

    // The attestation: another provider, or not a JWT.
    let (_, jwk) = holder();
    let forged = Wallet {
        attestation: WalletProvider::generate(shared.wallet_provider.iss.clone()).issue(
            "wallet",
            &jwk,
            Duration::from_secs(600),
        ),
        ..Wallet::new(&shared, "wallet")
    };
    refuse(
        forged.headers(AS_ID, None),
        body.clone(),
        "trusted wallet provider",
    )
    .await;
    let garbage = Wallet {
        attestation: "garbage".into(),
        ..Wallet::new(&shared, "wallet")
    };
    refuse(garbage.headers(AS_ID, None), body.clone(), "compact JWS").await;
    // An attestation whose cnf.jwk is not the PoP's key.
    let (stranger, _) = holder();
    refuse(
        wallet.with_pop(pop(&stranger, "wallet", AS_ID, None)),
        body.clone(),
        "cnf.jwk",
    )
    .await;
    // A cnf.jwk that is not a P-256 key.
    let rsa = Wallet {
        attestation: shared.wallet_provider.issue(
            "wallet",
            &json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            Duration::from_secs(600),
        ),
        ..Wallet::new(&shared, "wallet")
    };
    refuse(rsa.headers(AS_ID, None), body.clone(), "P-256").await;

    // The PoP: typ, alg, iss, aud (the issuer without path, the AS's
    // token endpoint), jti, iat.
    let claims = |extra: Value| {
        let mut p = json!({"iss": "wallet", "aud": AS_ID, "jti": random_id(8), "iat": now_secs()});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                p.as_object_mut().unwrap().remove(k);
            } else {
                p[k] = v.clone();
            }
        }
        p
    };
    let header = json!({"typ": POP_TYP, "alg": "ES256"});
    refuse(
        wallet.with_pop(proof(
            &wallet.key,
            json!({"typ": "JWT", "alg": "ES256"}),
            claims(json!({})),
        )),
        body.clone(),
        "typ",
    )
    .await;
    let unsigned = format!(
        "{}.{}.",
        B64.encode(json!({"typ": POP_TYP, "alg": "none"}).to_string()),
        B64.encode(claims(json!({})).to_string())
    );
    refuse(wallet.with_pop(unsigned), body.clone(), "alg").await;
    for (extra, needle) in [
        (json!({"iss": "other"}), "iss"),
        (json!({"iss": null}), "iss"),
        (json!({"aud": BASE}), "aud"),
        (json!({"aud": format!("{AS_ID}/token")}), "aud"),
        (json!({"aud": null}), "aud"),
        (json!({"jti": null}), "jti"),
        (json!({"iat": now_secs() - 3600}), "iat"),
        (json!({"iat": null}), "iat"),
    ] {
        refuse(
            wallet.with_pop(proof(&wallet.key, header.clone(), claims(extra))),
            body.clone(),
            needle,
        )
        .await;
    }
    // A client_id parameter other than the attestation's sub.
    refuse(
        wallet.headers(AS_ID, None),
        format!("{body}&client_id=other"),
        "client_id",
    )
    .await;
    // Two attestation headers.
    let mut doubled = wallet.headers(AS_ID, None);
    doubled.push(("oauth-client-attestation", wallet.attestation.clone()));
    refuse(doubled, body.clone(), "more than one").await;

    // None of that consumed the code.
    let answer = token(&shared, &wallet.headers(AS_ID, None), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(shared.stats()["attestation_rejected"], 16);
}

#[tokio::test]
async fn an_expired_attestation_asks_for_a_fresh_one() {
    let shared = issuer(WalletAttestation::Required);
    let (key, jwk) = holder();
    let expired = Wallet {
        key,
        client_id: "wallet".into(),
        attestation: shared.wallet_provider.issue("wallet", &jwk, Duration::ZERO),
    };
    let body = pre_auth_body(&shared);
    assert_refused(
        &token(&shared, &expired.headers(AS_ID, None), body.clone()).await,
        "use_fresh_attestation",
        "expired",
    );
    assert_refused(
        &par(
            &shared,
            &expired.headers(AS_ID, None),
            &authorization_params(&s256(VERIFIER)),
        )
        .await,
        "use_fresh_attestation",
        "expired",
    );
    // A fresh one for the same key works; the code was not consumed.
    let fresh = Wallet {
        attestation: shared
            .wallet_provider
            .issue("wallet", &jwk, Duration::from_secs(60)),
        ..expired
    };
    let answer = token(&shared, &fresh.headers(AS_ID, None), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(shared.stats()["attestation_rejected"], 2);
}

#[tokio::test]
async fn challenges_from_the_endpoint_and_from_headers() {
    let shared = issuer(WalletAttestation::RequiredWithChallenge);
    let wallet = Wallet::new(&shared, "wallet");
    let metadata = as_metadata(&shared).await;
    assert_eq!(
        metadata["challenge_endpoint"],
        json!(format!("{AS_ID}/challenge"))
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none", "attest_jwt_client_auth"])
    );

    // The challenge endpoint.
    let answer = post(&shared, "/tenant/challenge", &[], String::new()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let from_endpoint = answer.body["attestation_challenge"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = post(&shared, "/tenant/challenge", &[], String::new()).await;
    assert_ne!(answer.body["attestation_challenge"], json!(from_endpoint));
    // GET is not the challenge endpoint.
    let answer = call(
        &shared,
        Role::Both,
        Method::GET,
        "/tenant/challenge",
        &[],
        String::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);

    // No challenge in the PoP: use_attestation_challenge with one.
    let body = pre_auth_body(&shared);
    let answer = token(&shared, &wallet.headers(AS_ID, None), body.clone()).await;
    assert_refused(&answer, "use_attestation_challenge", "challenge");
    let from_header = challenge_header(&answer);
    // A made-up one: the same.
    let answer = token(
        &shared,
        &wallet.headers(AS_ID, Some("made-up")),
        body.clone(),
    )
    .await;
    assert_refused(&answer, "use_attestation_challenge", "unknown");
    challenge_header(&answer);
    // Other refusals carry a fresh challenge too.
    let answer = token(&shared, &[], body.clone()).await;
    assert_refused(&answer, "invalid_client", "OAuth-Client-Attestation");
    challenge_header(&answer);

    // The header's challenge works, and the answer brings the next one.
    let answer = token(
        &shared,
        &wallet.headers(AS_ID, Some(&from_header)),
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let next = challenge_header(&answer);
    assert_ne!(next, from_header);
    // Used: refused (the code of a refused request stays usable).
    let body = pre_auth_body(&shared);
    let answer = token(
        &shared,
        &wallet.headers(AS_ID, Some(&from_header)),
        body.clone(),
    )
    .await;
    assert_refused(&answer, "use_attestation_challenge", "used");
    // The endpoint's challenge, at PAR; the rotated one at the token endpoint.
    let answer = par(
        &shared,
        &wallet.headers(AS_ID, Some(&from_endpoint)),
        &authorization_params(&s256(VERIFIER)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    challenge_header(&answer);
    let answer = token(&shared, &wallet.headers(AS_ID, Some(&next)), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    let stats = shared.stats();
    // Two endpoint answers, three use_attestation_challenge answers.
    assert_eq!(stats["attestation_challenges_issued"], 5, "{stats:?}");
    assert_eq!(stats["attestation_rejected"], 4, "{stats:?}");
}

#[tokio::test]
async fn the_code_flow_binds_codes_to_the_attested_client() {
    let shared = issuer(WalletAttestation::Required);
    let wallet = Wallet::new(&shared, "wallet");
    let other = Wallet::new(&shared, "other-wallet");
    let params = authorization_params(&s256(VERIFIER));
    let code = |params: Vec<(&'static str, String)>| {
        let shared = &shared;
        let wallet = &wallet;
        async move {
            let answer = par(shared, &wallet.headers(AS_ID, None), &params).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
            let request_uri = answer.body["request_uri"].as_str().unwrap().to_string();
            authorize(
                shared,
                Role::Both,
                "/tenant",
                &[("client_id", "wallet"), ("request_uri", &request_uri)],
            )
            .await
        }
    };

    // The usual flow, client_id everywhere.
    let c = code(params.clone()).await;
    let answer = token(&shared, &wallet.headers(AS_ID, None), code_body(&c)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let refresh_token = answer.body["refresh_token"].as_str().unwrap().to_string();
    let refresh = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token),
        ("client_id", "wallet"),
    ]);
    let answer = token(&shared, &wallet.headers(AS_ID, None), refresh).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // Without client_id at PAR and at the token endpoint: the attestation's
    // sub stands in.
    let without: Vec<(&'static str, String)> = params
        .iter()
        .filter(|(k, _)| *k != "client_id")
        .cloned()
        .collect();
    let c = code(without).await;
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &c),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_verifier", VERIFIER),
    ]);
    let answer = token(&shared, &wallet.headers(AS_ID, None), body.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // A code of "wallet" redeemed by another client's attestation.
    let c = code(params.clone()).await;
    assert_refused(
        &token(&shared, &other.headers(AS_ID, None), code_body(&c)).await,
        "invalid_client",
        "client_id",
    );
    // (refused before the grant: the code is still good)
    let answer = token(&shared, &wallet.headers(AS_ID, None), code_body(&c)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let c = code(params).await;
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &c),
        ("redirect_uri", "http://127.0.0.1/cb"),
        ("code_verifier", VERIFIER),
    ]);
    let answer = token(&shared, &other.headers(AS_ID, None), body).await;
    assert_eq!(answer.error(), "invalid_grant", "{}", answer.text);
}

#[tokio::test]
async fn dpop_first_then_the_attestation_then_the_grant() {
    let shared = issuer_with(WalletAttestation::Required, true, false);
    let wallet = Wallet::new(&shared, "wallet");
    let (key, _) = holder();
    let url = format!("{AS_ID}/token");
    let body = pre_auth_body(&shared);
    let with_dpop = |dpop: Option<String>, attestation: bool| {
        let mut headers = if attestation {
            wallet.headers(AS_ID, None)
        } else {
            Vec::new()
        };
        headers.extend(dpop.map(|d| ("dpop", d)));
        headers
    };
    // Neither: the DPoP refusal comes first.
    let answer = token(&shared, &with_dpop(None, false), body.clone()).await;
    assert_eq!(answer.error(), "invalid_dpop_proof", "{}", answer.text);
    // A good proof, no attestation.
    let proof = dpop_proof(&key, "POST", &url, None, None);
    let answer = token(&shared, &with_dpop(Some(proof), false), body.clone()).await;
    assert_refused(&answer, "invalid_client", "OAuth-Client-Attestation");
    // Both good: the code was not consumed.
    let proof = dpop_proof(&key, "POST", &url, None, None);
    let answer = token(&shared, &with_dpop(Some(proof), true), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "DPoP");
    let stats = shared.stats();
    assert_eq!(stats["dpop_rejected"], 1, "{stats:?}");
    assert_eq!(stats["attestation_rejected"], 1, "{stats:?}");
}

#[tokio::test]
async fn a_separate_authorization_server_is_the_audience() {
    let shared = issuer_with(WalletAttestation::RequiredWithChallenge, false, true);
    let wallet = Wallet::new(&shared, "wallet");
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
        metadata.body["challenge_endpoint"],
        json!(format!("{AS_BASE}/challenge"))
    );
    let answer = call(
        &shared,
        Role::AuthorizationServer,
        Method::POST,
        "/challenge",
        &[],
        String::new(),
    )
    .await;
    let challenge = answer.body["attestation_challenge"]
        .as_str()
        .unwrap()
        .to_string();
    let body = pre_auth_body(&shared);
    let at_as = |headers: Vec<(&'static str, String)>, body: String| {
        let shared = &shared;
        async move {
            call(
                shared,
                Role::AuthorizationServer,
                Method::POST,
                "/token",
                &headers,
                body,
            )
            .await
        }
    };
    // aud: the credential issuer is not the AS.
    let answer = at_as(wallet.headers(AS_ID, Some(&challenge)), body.clone()).await;
    assert_refused(&answer, "invalid_client", "aud");
    let answer = at_as(wallet.headers(AS_BASE, Some(&challenge)), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    challenge_header(&answer);
}

#[tokio::test]
async fn off_changes_nothing() {
    let shared = issuer(WalletAttestation::Off);
    let metadata = as_metadata(&shared).await;
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    assert_eq!(
        metadata["pre-authorized_grant_anonymous_access_supported"],
        json!(true)
    );
    assert!(metadata.get("challenge_endpoint").is_none());
    // Garbage headers are ignored; no challenge headers.
    let garbage = vec![
        ("oauth-client-attestation", "garbage".to_string()),
        ("oauth-client-attestation-pop", "garbage".to_string()),
    ];
    let answer = token(&shared, &garbage, pre_auth_body(&shared)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer
        .header("oauth-client-attestation-challenge")
        .is_none());
    let answer = par(&shared, &garbage, &authorization_params(&s256(VERIFIER))).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let answer = post(&shared, "/tenant/challenge", &[], String::new()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(shared.stats().keys().all(|k| k.starts_with('/')));
}

#[tokio::test]
async fn the_test_endpoint_makes_attestations() {
    let shared = issuer(WalletAttestation::Required);
    let (key, jwk) = holder();
    let answer = post(
        &shared,
        "/test/wallet-attestation",
        &[],
        json!({"client_id": "wallet", "jwk": jwk}).to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let attestation = answer.body["wallet_attestation"]
        .as_str()
        .unwrap()
        .to_string();
    let parts: Vec<Value> = attestation
        .split('.')
        .take(2)
        .map(|p| serde_json::from_slice(&B64.decode(p).unwrap()).unwrap())
        .collect();
    assert_eq!(
        parts[0],
        json!({"typ": "oauth-client-attestation+jwt", "alg": "ES256"})
    );
    assert_eq!(parts[1]["iss"], format!("{BASE}/wallet-provider"));
    assert_eq!(parts[1]["sub"], "wallet");
    assert_eq!(parts[1]["cnf"]["jwk"], jwk);
    let lifetime = parts[1]["exp"].as_i64().unwrap() - parts[1]["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 3600);
    // It is accepted at the token endpoint.
    let wallet = Wallet {
        key,
        client_id: "wallet".into(),
        attestation,
    };
    let answer = token(
        &shared,
        &wallet.headers(AS_ID, None),
        pre_auth_body(&shared),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // lifetime_secs; 0 makes an expired one.
    let answer = post(
        &shared,
        "/test/wallet-attestation",
        &[],
        json!({"client_id": "w", "jwk": jwk, "lifetime_secs": 0}).to_string(),
    )
    .await;
    let expired = Wallet {
        attestation: answer.body["wallet_attestation"]
            .as_str()
            .unwrap()
            .to_string(),
        ..wallet
    };
    let answer = token(
        &shared,
        &expired.headers(AS_ID, None),
        pre_auth_body(&shared),
    )
    .await;
    assert_eq!(answer.error(), "use_fresh_attestation", "{}", answer.text);
    // Bad requests.
    for bad in [
        json!({"jwk": jwk}),
        json!({"client_id": "w"}),
        json!({"client_id": "w", "jwk": jwk, "lifetime_secs": -1}),
    ] {
        let answer = post(&shared, "/test/wallet-attestation", &[], bad.to_string()).await;
        assert_eq!(answer.error(), "invalid_request", "{}", answer.text);
    }
    // Also when attestation is off.
    let off = issuer(WalletAttestation::Off);
    let answer = post(
        &off,
        "/test/wallet-attestation",
        &[],
        json!({"client_id": "w", "jwk": jwk}).to_string(),
    )
    .await;
    assert!(answer.body["wallet_attestation"].is_string());
}

#[tokio::test]
async fn the_test_wallet_provider_hands_out_key_attestations_for_the_keys_it_is_given() {
    let shared = issuer(WalletAttestation::Off);
    let (_, jwk) = holder();
    let body = json!({"keys": [jwk], "nonce": "n-1"}).to_string();
    let answer = post(&shared, "/test/key-attestation", &[], body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let jwt = answer.body["key_attestation"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwt.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["attested_keys"], json!([jwk]));
    assert_eq!(payload["nonce"], "n-1");
    for bad in [
        json!({}),
        json!({"keys": []}),
        json!({"keys": ["x"]}),
        json!({"keys": [{}], "nonce": 1}),
    ] {
        let answer = post(&shared, "/test/key-attestation", &[], bad.to_string()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}
