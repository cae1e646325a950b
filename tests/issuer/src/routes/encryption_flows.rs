//! Credential request and response encryption over the real dispatcher (no
//! sockets), with a wallet simulated by `josekit`: the metadata, encrypted
//! credential and deferred requests and answers, the refusals
//! (`invalid_encryption_parameters`), encryption off, and
//! `Fault::UnencryptedResponse`.

use crate::encryption::tests::{encrypt_to, wallet_key};
use crate::encryption::Encryption;
use crate::routes::test_support::{
    access_token, c_nonce, call, jws_part, key_proof, post_bearer as post, post_json,
    tenant_issuer, Answer, BASE,
};
use crate::routes::Role;
use crate::state::{Fault, Settings, Shared};
use crate::OfferRequest;
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use josekit::jwe::alg::ecdh_es::EcdhEsJweDecrypter;
use serde_json::{json, Value};

fn issuer(encryption: Encryption) -> Shared {
    tenant_issuer(Settings {
        encryption,
        ..Settings::default()
    })
}

async fn metadata(shared: &Shared) -> Value {
    let answer = call(
        shared,
        Role::Both,
        Method::GET,
        "/.well-known/openid-credential-issuer/tenant",
        &[],
        String::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

/// A request encrypted to the issuer's published key, as a wallet sends it.
async fn post_sealed(shared: &Shared, endpoint: &str, token: &str, body: &Value) -> Answer {
    let jwk = issuer_jwk(shared);
    let jwe = encrypt_to(&jwk, "A128GCM", body.to_string().as_bytes());
    post(shared, endpoint, token, "application/jwt", jwe).await
}

fn issuer_jwk(shared: &Shared) -> Value {
    shared.encryption_key.as_ref().unwrap().public_jwk()
}

fn jwe_header(jwe: &str) -> Value {
    jws_part(jwe, 0)
}

/// An encrypted answer's JSON, decrypted with the wallet's key.
fn open(answer: &Answer, decrypter: &EcdhEsJweDecrypter) -> Value {
    assert_eq!(
        answer.header("content-type"),
        Some("application/jwt"),
        "{}",
        answer.text
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.body, Value::Null, "not JSON: {}", answer.text);
    let (plain, _) = josekit::jwe::deserialize_compact(&answer.text, decrypter).unwrap();
    serde_json::from_slice(&plain).unwrap()
}

fn assert_refused(answer: &Answer, needle: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(
        answer.error(),
        "invalid_encryption_parameters",
        "{}",
        answer.text
    );
    let description = answer.body["error_description"].as_str().unwrap();
    assert!(
        description.contains(needle),
        "{description:?} lacks {needle:?}"
    );
}

fn credential_request(c_nonce: &str, response_encryption: Option<Value>) -> Value {
    let mut request = json!({
        "credential_configuration_id": "pid_sd_jwt",
        "proofs": {"jwt": [key_proof(c_nonce)]},
    });
    if let Some(params) = response_encryption {
        request["credential_response_encryption"] = params;
    }
    request
}

fn counters(shared: &Shared) -> (u64, u64) {
    let stats = shared.stats();
    (stats["encrypted_requests"], stats["encrypted_responses"])
}

#[tokio::test]
async fn metadata_advertises_both_objects() {
    for (mode, required) in [(Encryption::Offered, false), (Encryption::Required, true)] {
        let shared = issuer(mode);
        let metadata = metadata(&shared).await;
        assert_eq!(
            metadata["credential_response_encryption"],
            json!({
                "alg_values_supported": ["ECDH-ES"],
                "enc_values_supported": ["A128GCM", "A256GCM"],
                "encryption_required": required,
            })
        );
        let jwk = issuer_jwk(&shared);
        assert_eq!(
            metadata["credential_request_encryption"],
            json!({
                "jwks": {"keys": [jwk]},
                "enc_values_supported": ["A128GCM", "A256GCM"],
                "encryption_required": required,
            })
        );
        let keys: Vec<&str> = {
            let mut k: Vec<&str> = jwk.as_object().unwrap().keys().map(|k| &**k).collect();
            k.sort();
            k
        };
        assert_eq!(keys, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert_eq!(jwk["use"], "enc");
        assert_eq!(jwk["alg"], "ECDH-ES");
        // Not the signing key.
        assert_ne!(jwk["x"], shared.keys.public_jwk()["x"]);
        assert_ne!(jwk["kid"], shared.keys.public_jwk()["kid"]);
        assert_eq!(counters(&shared), (0, 0));
    }
    // Off: nothing advertised, no key, no counters.
    let shared = issuer(Encryption::Off);
    let metadata = metadata(&shared).await;
    assert!(metadata.get("credential_response_encryption").is_none());
    assert!(metadata.get("credential_request_encryption").is_none());
    assert!(shared.encryption_key.is_none());
    assert!(!shared.stats().contains_key("encrypted_requests"));
    // Draft 13, whatever is set: the same.
    let draft13 = Shared::new(
        Settings {
            encryption: Encryption::Required,
            spec: crate::state::SpecVersion::Draft13,
            nonce_endpoint: false,
            batch_size: None,
            ..Settings::default()
        },
        BASE.into(),
        None,
    );
    assert_eq!(draft13.encryption(), Encryption::Off);
    assert!(draft13.encryption_key.is_none());
    let metadata = crate::metadata::issuer_metadata(&draft13);
    assert!(metadata.get("credential_response_encryption").is_none());
    assert!(metadata.get("credential_request_encryption").is_none());
}

#[tokio::test]
async fn an_encrypted_request_gets_encrypted_credentials() {
    let shared = issuer(Encryption::Offered);
    let token = access_token(&shared, OfferRequest::default()).await;
    let (decrypter, wallet_jwk) = wallet_key();
    let nonce = c_nonce(&shared).await;
    let request = credential_request(&nonce, Some(json!({"jwk": wallet_jwk, "enc": "A256GCM"})));
    // Content-Type parameters are ignored.
    let jwe = encrypt_to(
        &issuer_jwk(&shared),
        "A128GCM",
        request.to_string().as_bytes(),
    );
    let answer = post(
        &shared,
        "credential",
        &token,
        "application/jwt; charset=utf-8",
        jwe,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let header = jwe_header(&answer.text);
    assert_eq!(header["alg"], "ECDH-ES");
    assert_eq!(header["enc"], "A256GCM");
    assert_eq!(header["kid"], "wallet-enc-1");
    assert!(header.get("zip").is_none());
    let body = open(&answer, &decrypter);
    let credentials = body["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 1, "{body}");
    assert!(credentials[0]["credential"].as_str().unwrap().contains('~'));
    assert!(body["notification_id"].is_string());
    assert_eq!(counters(&shared), (1, 1));

    // Offered: an encrypted request without response encryption gets JSON,
    // a plain request is served as without encryption.
    let nonce = c_nonce(&shared).await;
    let answer = post_sealed(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.body["credentials"].as_array().unwrap().len(), 1);
    let nonce = c_nonce(&shared).await;
    let answer = post_json(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, None),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(counters(&shared), (2, 1));

    // Errors are never encrypted (here a used nonce).
    let answer = post_sealed(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, Some(json!({"jwk": wallet_jwk, "enc": "A128GCM"}))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.error(), "invalid_nonce");
    assert_eq!(counters(&shared), (3, 1));
}

#[tokio::test]
async fn deferred_answers_go_to_the_key_of_each_poll() {
    let shared = issuer(Encryption::Required);
    let offer = OfferRequest {
        deferred: Some(true),
        ..Default::default()
    };
    let token = access_token(&shared, offer).await;
    let (first_key, first_jwk) = wallet_key();
    let nonce = c_nonce(&shared).await;
    let request = credential_request(&nonce, Some(json!({"jwk": first_jwk, "enc": "A128GCM"})));
    let answer = post_sealed(&shared, "credential", &token, &request).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    let pending = open(&answer, &first_key);
    let transaction_id = pending["transaction_id"].as_str().unwrap().to_string();
    assert_eq!(pending["interval"], 1);

    // Refused polls (plain; encrypted without response encryption; response
    // encryption with an unsupported enc) use up no pending poll.
    let poll = json!({"transaction_id": transaction_id});
    let answer = post_json(&shared, "deferred", &token, &poll).await;
    assert_refused(&answer, "encryption required");
    let answer = post_sealed(&shared, "deferred", &token, &poll).await;
    assert_refused(&answer, "credential_response_encryption");
    let mut bad = poll.clone();
    bad["credential_response_encryption"] = json!({"jwk": first_jwk, "enc": "A192GCM"});
    let answer = post_sealed(&shared, "deferred", &token, &bad).await;
    assert_refused(&answer, "enc must be one of A128GCM, A256GCM");

    // Each poll names a new key; each answer is for that key only.
    for (i, expected) in [StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::OK]
        .into_iter()
        .enumerate()
    {
        let (key, jwk) = wallet_key();
        let enc = if i % 2 == 0 { "A256GCM" } else { "A128GCM" };
        let mut poll = poll.clone();
        poll["credential_response_encryption"] = json!({"jwk": jwk, "enc": enc});
        let answer = post_sealed(&shared, "deferred", &token, &poll).await;
        assert_eq!(answer.status, expected, "{}", answer.text);
        assert_eq!(jwe_header(&answer.text)["enc"], enc);
        assert!(josekit::jwe::deserialize_compact(&answer.text, &first_key).is_err());
        let body = open(&answer, &key);
        if expected == StatusCode::ACCEPTED {
            assert_eq!(
                body,
                json!({"transaction_id": transaction_id, "interval": 1})
            );
        } else {
            assert_eq!(body["credentials"].as_array().unwrap().len(), 1, "{body}");
            assert!(body["notification_id"].is_string());
        }
    }
    // 1 credential request, 2 refused-but-decrypted polls, 3 polls.
    assert_eq!(counters(&shared), (6, 4));
    // Done: the transaction is gone (a plain error, even when asked to encrypt).
    let (_, jwk) = wallet_key();
    let mut poll = poll.clone();
    poll["credential_response_encryption"] = json!({"jwk": jwk, "enc": "A128GCM"});
    let answer = post_sealed(&shared, "deferred", &token, &poll).await;
    assert_eq!(answer.error(), "invalid_transaction_id", "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn required_refuses_plain_requests_and_missing_response_encryption() {
    let shared = issuer(Encryption::Required);
    let token = access_token(&shared, OfferRequest::default()).await;
    let (key, jwk) = wallet_key();
    let nonce = c_nonce(&shared).await;
    let params = json!({"jwk": jwk, "enc": "A128GCM"});

    let answer = post_json(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, None),
    )
    .await;
    assert_refused(&answer, "encryption required");
    let answer = post_json(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, Some(params.clone())),
    )
    .await;
    assert_refused(&answer, "encryption required");
    let answer = post_sealed(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, None),
    )
    .await;
    assert_refused(
        &answer,
        "encryption required: the request must carry credential_response_encryption",
    );
    // Authentication comes first.
    let answer = post_json(&shared, "credential", "nope", &json!({})).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // The refusals consumed no nonce.
    let answer = post_sealed(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, Some(params)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        open(&answer, &key)["credentials"].as_array().unwrap().len(),
        1
    );
    assert_eq!(counters(&shared), (2, 1));
}

#[tokio::test]
async fn response_encryption_in_a_plain_request_is_refused() {
    let shared = issuer(Encryption::Offered);
    let token = access_token(&shared, OfferRequest::default()).await;
    let (_, jwk) = wallet_key();
    let nonce = c_nonce(&shared).await;
    let request = credential_request(&nonce, Some(json!({"jwk": jwk, "enc": "A128GCM"})));
    let answer = post_json(&shared, "credential", &token, &request).await;
    assert_refused(
        &answer,
        "credential_response_encryption requires an encrypted request",
    );
    let answer = post_json(
        &shared,
        "deferred",
        &token,
        &json!({"transaction_id": "x", "credential_response_encryption": {"jwk": jwk, "enc": "A128GCM"}}),
    )
    .await;
    assert_refused(
        &answer,
        "credential_response_encryption requires an encrypted request",
    );
    assert_eq!(counters(&shared), (0, 0));
}

#[tokio::test]
async fn bad_jwes_and_bad_parameters_are_refused() {
    let shared = issuer(Encryption::Offered);
    let token = access_token(&shared, OfferRequest::default()).await;
    let nonce = c_nonce(&shared).await;
    let request = credential_request(&nonce, None);
    let plain = request.to_string();
    let ours = issuer_jwk(&shared);

    // Not a JWE, or one the issuer cannot or must not decrypt.
    let other = crate::encryption::EncryptionKey::generate()
        .unwrap()
        .public_jwk();
    let mut other_no_kid = other.clone();
    other_no_kid.as_object_mut().unwrap().remove("kid");
    let good = encrypt_to(&ours, "A128GCM", plain.as_bytes());
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        let mut ct = B64.decode(&parts[3]).unwrap();
        ct[0] ^= 0x80;
        parts[3] = B64.encode(ct);
        parts.join(".")
    };
    for (body, needle) in [
        (plain.clone(), "five parts"),
        ("a.b.c.d.e".to_string(), "header"),
        (encrypt_to(&other, "A128GCM", plain.as_bytes()), "kid"),
        (
            encrypt_to(&other_no_kid, "A128GCM", plain.as_bytes()),
            "decrypt",
        ),
        (encrypt_to(&ours, "A192GCM", plain.as_bytes()), "enc"),
        (tampered, "decrypt"),
    ] {
        let answer = post(&shared, "credential", &token, "application/jwt", body).await;
        assert_refused(&answer, "the request cannot be decrypted");
        assert_refused(&answer, needle);
    }
    let answer = post(&shared, "deferred", &token, "application/jwt", "x".into()).await;
    assert_refused(&answer, "the request cannot be decrypted");

    // Decrypted, but the response encryption parameters are wrong.
    let (_, wallet_jwk) = wallet_key();
    let p384 = {
        let mut pair = josekit::jwk::Jwk::generate_ec_key(josekit::jwk::P_384).unwrap();
        pair.set_algorithm("ECDH-ES");
        Value::Object(pair.to_public_key().unwrap().into())
    };
    let mut no_alg = wallet_jwk.clone();
    no_alg.as_object_mut().unwrap().remove("alg");
    for (params, needle) in [
        (
            json!({"jwk": wallet_jwk, "enc": "A128CBC-HS256"}),
            "enc must be one of",
        ),
        (json!({"jwk": wallet_jwk}), "enc is missing"),
        (json!({"enc": "A128GCM"}), "jwk is missing"),
        (json!({"jwk": p384, "enc": "A128GCM"}), "P-256"),
        (json!({"jwk": no_alg, "enc": "A128GCM"}), "alg"),
        (
            json!({"jwk": wallet_jwk, "enc": "A128GCM", "zip": "DEF"}),
            "zip",
        ),
        (json!("A128GCM"), "object"),
    ] {
        let mut request = request.clone();
        request["credential_response_encryption"] = params;
        let answer = post_sealed(&shared, "credential", &token, &request).await;
        assert_refused(&answer, needle);
    }
    // Only the seven that decrypted count; no answer was encrypted.
    assert_eq!(counters(&shared), (7, 0));
    // The nonce survived every refusal.
    let answer = post_sealed(&shared, "credential", &token, &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn encryption_off_changes_nothing() {
    let shared = issuer(Encryption::Off);
    let token = access_token(&shared, OfferRequest::default()).await;
    let (_, jwk) = wallet_key();
    let nonce = c_nonce(&shared).await;
    // credential_response_encryption is ignored, even a bogus one.
    for params in [
        json!({"jwk": jwk, "enc": "A128GCM"}),
        json!({"enc": "nope"}),
    ] {
        let nonce = c_nonce(&shared).await;
        let request = credential_request(&nonce, Some(params));
        let answer = post_json(&shared, "credential", &token, &request).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.body["credentials"].as_array().unwrap().len(), 1);
    }
    // A JWE body is not understood: the usual answer to a non-JSON body.
    let someone = crate::encryption::EncryptionKey::generate()
        .unwrap()
        .public_jwk();
    let jwe = encrypt_to(
        &someone,
        "A128GCM",
        credential_request(&nonce, None).to_string().as_bytes(),
    );
    let answer = post(&shared, "credential", &token, "application/jwt", jwe).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "invalid_credential_request");
    let stats = shared.stats();
    assert!(!stats.contains_key("encrypted_requests"), "{stats:?}");
    assert!(!stats.contains_key("encrypted_responses"), "{stats:?}");
}

#[tokio::test]
async fn the_unencrypted_response_fault_answers_in_plain_json() {
    let mut settings = Settings {
        encryption: Encryption::Required,
        ..Settings::default()
    };
    settings.faults.insert(Fault::UnencryptedResponse);
    let shared = tenant_issuer(settings);
    let token = access_token(&shared, OfferRequest::default()).await;
    let (_, jwk) = wallet_key();
    let params = json!({"jwk": jwk, "enc": "A256GCM"});
    let nonce = c_nonce(&shared).await;
    let answer = post_sealed(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, Some(params.clone())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.body["credentials"].as_array().unwrap().len(), 1);

    // Deferred too.
    let offer = OfferRequest {
        deferred: Some(true),
        ..Default::default()
    };
    let token = access_token(&shared, offer).await;
    let nonce = c_nonce(&shared).await;
    let answer = post_sealed(
        &shared,
        "credential",
        &token,
        &credential_request(&nonce, Some(params.clone())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let poll = json!({
        "transaction_id": answer.body["transaction_id"],
        "credential_response_encryption": params,
    });
    let answer = post_sealed(&shared, "deferred", &token, &poll).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(counters(&shared), (3, 0));
}

#[tokio::test]
async fn the_builder_and_running_issuer_expose_encryption() {
    let issuer = crate::Issuer::builder()
        .encryption(Encryption::Required)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let jwk = issuer.encryption_jwk().unwrap();
    assert_eq!(jwk["alg"], "ECDH-ES");
    assert_eq!(issuer.stats()["encrypted_requests"], 0);
    assert_eq!(issuer.stats()["encrypted_responses"], 0);
    let off = crate::Issuer::builder().spawn("127.0.0.1:0").await.unwrap();
    assert!(off.encryption_jwk().is_none());
    assert_eq!(Encryption::default(), Encryption::Off);
    assert_eq!(
        Fault::from_name("unencrypted-response"),
        Some(Fault::UnencryptedResponse)
    );
}
