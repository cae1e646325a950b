//! `mso_mdoc` credentials over the real dispatcher (no sockets): a batch
//! bound to each proof key and signed by the document signer of the served
//! root (in any signing mode), and the deferred, encrypted-response, DPoP
//! and draft-13 paths, which wrap mdoc issuance unchanged.

use crate::credential::tests::holder;
use crate::dpop::tests::dpop_proof;
use crate::encryption::tests::{encrypt_to, wallet_key};
use crate::encryption::Encryption;
use crate::mdoc::tests::{
    certificate_key, get, mismatched, parts, signature_verifies, verify_signer, x5chain,
};
use crate::mdoc::{MDL_DOCTYPE, PID_DOCTYPE};
use crate::routes::test_support::{
    self as support, c_nonce, call, credentials, form, pre_authorized_code_of, tenant_issuer,
    trust_anchor, Answer, BASE, ISSUER_ID, PRE_AUTH,
};
use crate::routes::Role;
use crate::state::{Fault, Settings, Shared};
use crate::trust::CredentialSigning;
use crate::OfferRequest;
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ciborium::Value as Cbor;
use josekit::jwe::alg::ecdh_es::EcdhEsJweDecrypter;
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};

/// The token answer for a pre-authorized offer of `ids`, with a DPoP proof
/// by `dpop` when given.
async fn token(shared: &Shared, ids: &[&str], deferred: bool, dpop: Option<&SigningKey>) -> Value {
    let offer = OfferRequest {
        credential_configuration_ids: Some(ids.iter().map(|s| s.to_string()).collect()),
        deferred: Some(deferred),
        ..Default::default()
    };
    let code = pre_authorized_code_of(shared, offer);
    let body = form(&[("grant_type", PRE_AUTH), ("pre-authorized_code", &code)]);
    let headers: Vec<(&str, String)> = dpop
        .map(|key| {
            let url = format!("{BASE}/tenant/token");
            ("dpop", dpop_proof(key, "POST", &url, None, None))
        })
        .into_iter()
        .collect();
    let answer = call(
        shared,
        Role::Both,
        Method::POST,
        "/tenant/token",
        &headers,
        body,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

/// A proof for `nonce` by a fresh holder key, and that key's public JWK.
fn holder_proof(nonce: &str) -> (String, Value) {
    support::holder_proof(ISSUER_ID, nonce)
}

async fn post(
    shared: &Shared,
    endpoint: &str,
    headers: &[(&str, String)],
    content_type: &str,
    body: String,
) -> Answer {
    let mut headers = headers.to_vec();
    headers.push(("content-type", content_type.to_string()));
    call(
        shared,
        Role::Both,
        Method::POST,
        &format!("/tenant/{endpoint}"),
        &headers,
        body,
    )
    .await
}

fn bearer(token: &Value) -> Vec<(&'static str, String)> {
    let token = token["access_token"].as_str().unwrap();
    vec![("authorization", format!("Bearer {token}"))]
}

/// Checks an issued mdoc: `doctype`, bound to `jwk`, digests right, and
/// signed by a document signer that verifies to `root_pem`.
fn assert_good_mdoc(credential: &str, doctype: &str, jwk: &Value, root_pem: &str) {
    let parts = parts(credential);
    assert_eq!(get(&parts.mso, "docType"), &Cbor::Text(doctype.into()));
    assert_eq!(mismatched(&parts), Vec::<i128>::new());
    let device_key = get(get(&parts.mso, "deviceKeyInfo"), "deviceKey");
    let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
    assert_eq!(device_key.as_map().unwrap()[2].1, Cbor::Bytes(x));
    let certificate = x5chain(&parts.sign1);
    verify_signer(&certificate, root_pem).unwrap();
    assert!(signature_verifies(
        &parts.sign1,
        &certificate_key(&certificate)
    ));
}

#[tokio::test]
async fn a_batch_of_mdocs_is_bound_to_each_proof_key_in_every_signing_mode() {
    for signing in [
        CredentialSigning::Kid,
        CredentialSigning::X5cChain,
        CredentialSigning::DidJwk,
    ] {
        let shared = tenant_issuer(Settings {
            credential_signing: signing,
            ..Settings::default()
        });
        let root = trust_anchor(&shared).await;
        let token = token(&shared, &["pid_mdoc", "mdl_mdoc"], false, None).await;
        for (id, doctype) in [("mdl_mdoc", MDL_DOCTYPE), ("pid_mdoc", PID_DOCTYPE)] {
            let nonce = c_nonce(&shared).await;
            let proofs: Vec<(String, Value)> = (0..3).map(|_| holder_proof(&nonce)).collect();
            let jwts: Vec<&String> = proofs.iter().map(|(jwt, _)| jwt).collect();
            let request = json!({"credential_configuration_id": id, "proofs": {"jwt": jwts}});
            let answer = post(
                &shared,
                "credential",
                &bearer(&token),
                "application/json",
                request.to_string(),
            )
            .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            let issued = credentials(&answer.body);
            assert_eq!(issued.len(), 3);
            for (credential, (_, jwk)) in issued.iter().zip(&proofs) {
                assert_good_mdoc(credential, doctype, jwk, &root);
                // The issuer's one document signer.
                let certificate = x5chain(&parts(credential).sign1);
                assert_eq!(
                    certificate,
                    shared.pki().unwrap().document_signer().unwrap().certificate
                );
            }
        }
    }
}

#[tokio::test]
async fn deferred_mdocs_come_encrypted_to_the_polls_key() {
    let shared = tenant_issuer(Settings {
        encryption: Encryption::Required,
        deferred_pending_polls: 1,
        ..Settings::default()
    });
    let root = trust_anchor(&shared).await;
    let token = token(&shared, &["pid_mdoc"], true, None).await;
    let issuer_jwk = shared.encryption_key.as_ref().unwrap().public_jwk();
    let sealed = |body: Value| encrypt_to(&issuer_jwk, "A128GCM", body.to_string().as_bytes());
    let open = |answer: &Answer, key: &EcdhEsJweDecrypter| -> Value {
        assert_eq!(answer.header("content-type"), Some("application/jwt"));
        let (plain, _) = josekit::jwe::deserialize_compact(&answer.text, key).unwrap();
        serde_json::from_slice(&plain).unwrap()
    };

    let (decrypter, wallet_jwk) = wallet_key();
    let (jwt, jwk) = holder_proof(&c_nonce(&shared).await);
    let request = json!({
        "credential_configuration_id": "pid_mdoc",
        "proofs": {"jwt": [jwt]},
        "credential_response_encryption": {"jwk": wallet_jwk, "enc": "A256GCM"},
    });
    let answer = post(
        &shared,
        "credential",
        &bearer(&token),
        "application/jwt",
        sealed(request),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    let transaction_id = open(&answer, &decrypter)["transaction_id"].clone();

    let mut results = Vec::new();
    for _ in 0..2 {
        let (decrypter, wallet_jwk) = wallet_key();
        let poll = json!({
            "transaction_id": transaction_id,
            "credential_response_encryption": {"jwk": wallet_jwk, "enc": "A128GCM"},
        });
        let answer = post(
            &shared,
            "deferred",
            &bearer(&token),
            "application/jwt",
            sealed(poll),
        )
        .await;
        results.push((answer.status, open(&answer, &decrypter)));
    }
    assert_eq!(results[0].0, StatusCode::ACCEPTED, "{:?}", results[0].1);
    assert_eq!(results[1].0, StatusCode::OK, "{:?}", results[1].1);
    let issued = credentials(&results[1].1);
    assert_eq!(issued.len(), 1);
    assert_good_mdoc(&issued[0], PID_DOCTYPE, &jwk, &root);
}

#[tokio::test]
async fn dpop_bound_tokens_get_mdocs() {
    let shared = tenant_issuer(Settings {
        require_dpop: true,
        ..Settings::default()
    });
    let root = trust_anchor(&shared).await;
    let (dpop_key, _) = holder();
    let token = token(&shared, &["mdl_mdoc"], false, Some(&dpop_key)).await;
    assert_eq!(token["token_type"], "DPoP");
    let access_token = token["access_token"].as_str().unwrap();
    let (jwt, jwk) = holder_proof(&c_nonce(&shared).await);
    let request = json!({"credential_configuration_id": "mdl_mdoc", "proofs": {"jwt": [jwt]}});
    let url = format!("{BASE}/tenant/credential");
    let headers = [
        ("authorization", format!("DPoP {access_token}")),
        (
            "dpop",
            dpop_proof(&dpop_key, "POST", &url, Some(access_token), None),
        ),
    ];
    let answer = post(
        &shared,
        "credential",
        &headers,
        "application/json",
        request.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let issued = credentials(&answer.body);
    assert_good_mdoc(&issued[0], MDL_DOCTYPE, &jwk, &root);
}

#[tokio::test]
async fn a_draft13_request_names_the_mdoc_by_format_and_doctype() {
    let shared = tenant_issuer(Settings {
        spec: crate::state::SpecVersion::Draft13,
        nonce_endpoint: false,
        batch_size: None,
        ..Settings::default()
    });
    let root = trust_anchor(&shared).await;
    let token = token(&shared, &["pid_sd_jwt", "pid_mdoc"], false, None).await;
    let nonce = token["c_nonce"].as_str().unwrap();
    let (jwt, jwk) = holder_proof(nonce);
    let mut request = json!({
        "format": "mso_mdoc",
        "doctype": MDL_DOCTYPE,
        "proof": {"proof_type": "jwt", "jwt": jwt},
    });
    // Not offered: the mDL.
    let answer = post(
        &shared,
        "credential",
        &bearer(&token),
        "application/json",
        request.to_string(),
    )
    .await;
    assert_eq!(
        answer.error(),
        "unsupported_credential_type",
        "{}",
        answer.text
    );
    request["doctype"] = json!(PID_DOCTYPE);
    let answer = post(
        &shared,
        "credential",
        &bearer(&token),
        "application/json",
        request.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let credential = answer.body["credential"].as_str().unwrap();
    assert_good_mdoc(credential, PID_DOCTYPE, &jwk, &root);

    // A draft 11/12 offer names it by format and doctype too.
    let offer = shared.create_offer(OfferRequest {
        credential_configuration_ids: Some(vec!["mdl_mdoc".into()]),
        legacy_offer: Some(true),
        ..Default::default()
    });
    let url = url::Url::parse(&offer.offer_url).unwrap();
    let (_, json) = url
        .query_pairs()
        .find(|(k, _)| k == "credential_offer")
        .unwrap();
    let offer: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        offer["credentials"],
        json!([{"format": "mso_mdoc", "doctype": MDL_DOCTYPE}])
    );
}

#[tokio::test]
async fn a_signer_outside_the_anchors_does_not_verify_to_the_served_root() {
    let shared = tenant_issuer(Settings {
        faults: [Fault::MdocSignerOutsideAnchors].into(),
        ..Settings::default()
    });
    let root = trust_anchor(&shared).await;
    let token = token(&shared, &["pid_mdoc"], false, None).await;
    let (jwt, _) = holder_proof(&c_nonce(&shared).await);
    let request = json!({"credential_configuration_id": "pid_mdoc", "proofs": {"jwt": [jwt]}});
    let answer = post(
        &shared,
        "credential",
        &bearer(&token),
        "application/json",
        request.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let parts = parts(&credentials(&answer.body)[0]);
    assert_eq!(mismatched(&parts), Vec::<i128>::new());
    let certificate = x5chain(&parts.sign1);
    assert!(signature_verifies(
        &parts.sign1,
        &certificate_key(&certificate)
    ));
    assert!(verify_signer(&certificate, &root).is_err());
}
