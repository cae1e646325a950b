//! Draft-11 mode over the real dispatcher (and one spawned issuer over
//! sockets): the `credentials_supported` array at the appended URL, offers
//! with `credentials` and `user_pin_required`, `user_pin` at the token
//! endpoint and `c_nonce` in its answer, credential requests by `format`
//! and type with a single `proof` (1.0 requests refused, and the other way
//! round), `{format, credential}` answers, `invalid_or_missing_proof`, and
//! deferred issuance by `acceptance_token`.

use crate::credential::now_secs;
use crate::credential::tests::{holder, proof};
use crate::mdoc::tests::{
    certificate_key, get as cbor_get, mismatched, parts, signature_verifies, verify_signer, x5chain,
};
use crate::mdoc::{MDL_DOCTYPE, PID_DOCTYPE};
use crate::routes::test_support::{
    at, authorization_params, authorize, call, code_body, form, get, holder_proof, jws_part,
    post_json, pre_authorized_code_of, s256, tenant_issuer, trust_anchor, Answer, AS_BASE,
    ISSUER_ID, PRE_AUTH, VERIFIER,
};
use crate::routes::Role;
use crate::state::{Settings, Shared, SpecVersion};
use crate::OfferRequest;
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ciborium::Value as Cbor;
use serde_json::{json, Value};

const PID_VCT: &str = "urn:eudi:pid:1";
const PID_JWT_VC_TYPES: [&str; 2] = ["VerifiableCredential", "PersonIdentificationData"];

/// A draft-11 issuer under `/tenant` with `settings` otherwise.
fn draft11_issuer(settings: Settings) -> Shared {
    tenant_issuer(Settings {
        spec: SpecVersion::Draft11,
        nonce_endpoint: false,
        batch_size: None,
        ..settings
    })
}

fn offer_of(ids: &[&str]) -> OfferRequest {
    OfferRequest {
        credential_configuration_ids: Some(ids.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

/// The offer JSON of a by-value offer URL.
fn offer_json(offer_url: &str) -> Value {
    let url = url::Url::parse(offer_url).unwrap();
    let (_, json) = url
        .query_pairs()
        .find(|(k, _)| k == "credential_offer")
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

/// POSTs the form `pairs` to the token endpoint.
async fn token_request(shared: &Shared, pairs: &[(&str, &str)]) -> Answer {
    call(
        shared,
        Role::Both,
        Method::POST,
        &at(shared, "token"),
        &[],
        form(pairs),
    )
    .await
}

/// The token answer (200) for a fresh pre-authorized `offer`.
async fn token_for(shared: &Shared, offer: OfferRequest) -> Value {
    let code = pre_authorized_code_of(shared, offer);
    let answer = token_request(
        shared,
        &[("grant_type", PRE_AUTH), ("pre-authorized_code", &code)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body
}

fn access(token: &Value) -> &str {
    token["access_token"].as_str().unwrap()
}

fn single_proof(jwt: &str) -> Value {
    json!({"proof_type": "jwt", "jwt": jwt})
}

/// Checks an issued mdoc: `doctype`, bound to `jwk`, digests right, and
/// signed by a document signer that verifies to `root_pem`.
fn assert_good_mdoc(credential: &str, doctype: &str, jwk: &Value, root_pem: &str) {
    let parts = parts(credential);
    assert_eq!(cbor_get(&parts.mso, "docType"), &Cbor::Text(doctype.into()));
    assert_eq!(mismatched(&parts), Vec::<i128>::new());
    let device_key = cbor_get(cbor_get(&parts.mso, "deviceKeyInfo"), "deviceKey");
    let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
    assert_eq!(device_key.as_map().unwrap()[2].1, Cbor::Bytes(x));
    let certificate = x5chain(&parts.sign1);
    verify_signer(&certificate, root_pem).unwrap();
    assert!(signature_verifies(
        &parts.sign1,
        &certificate_key(&certificate)
    ));
}

/// Claims of the issuer-signed JWT of an SD-JWT (or of a JWT), and its header.
fn jwt_of(credential: &str) -> (Value, Value) {
    let jwt = credential.split('~').next().unwrap();
    (jws_part(jwt, 0), jws_part(jwt, 1))
}

#[tokio::test]
async fn the_metadata_lists_credentials_supported_at_the_appended_url() {
    let shared = draft11_issuer(Settings::default());
    assert_eq!(
        get(&shared, "/.well-known/openid-credential-issuer/tenant")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let answer = get(&shared, "/tenant/.well-known/openid-credential-issuer").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let metadata = answer.body;
    let mut keys: Vec<&str> = metadata
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "credential_endpoint",
            "credential_issuer",
            "credentials_supported",
            "deferred_credential_endpoint",
            "display",
        ]
    );
    assert_eq!(metadata["credential_issuer"], ISSUER_ID);
    assert_eq!(
        metadata["credential_endpoint"],
        format!("{ISSUER_ID}/credential")
    );
    let supported = metadata["credentials_supported"].as_array().unwrap();
    let ids: Vec<&str> = supported
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "pid_sd_jwt",
            "membership_sd_jwt",
            "pid_jwt_vc",
            "pid_mdoc",
            "mdl_mdoc"
        ]
    );
    let labels =
        |en: &str, de: &str| json!([{"name": en, "locale": "en"}, {"name": de, "locale": "de"}]);
    assert_eq!(
        supported[0],
        json!({
            "format": "vc+sd-jwt",
            "id": "pid_sd_jwt",
            "scope": "pid",
            "vct": PID_VCT,
            "cryptographic_binding_methods_supported": ["jwk"],
            "cryptographic_suites_supported": ["ES256"],
            "proof_types_supported": ["jwt"],
            "display": [
                {"name": "Person ID", "locale": "en",
                 "description": "An identity credential for tests"},
                {"name": "Personalausweis", "locale": "de",
                 "description": "Ein Identitätsnachweis für Tests"},
            ],
            "claims": {
                "given_name": {"display": labels("Given name", "Vorname")},
                "family_name": {"display": labels("Family name", "Nachname")},
                "birthdate": {"display": labels("Date of birth", "Geburtsdatum")},
                "address": {
                    "display": labels("Address", "Anschrift"),
                    "locality": {"display": labels("City", "Ort")},
                    "country": {"display": labels("Country", "Land")},
                },
            },
        })
    );
    // Unbound: no binding methods, no proof types.
    let membership = &supported[1];
    assert!(membership
        .get("cryptographic_binding_methods_supported")
        .is_none());
    assert!(membership.get("proof_types_supported").is_none());
    assert_eq!(membership["vct"], "https://credentials.example/membership");
    // jwt_vc_json: `types` and `credentialSubject` at the top.
    let jwt_vc = &supported[2];
    assert_eq!(jwt_vc["format"], "jwt_vc_json");
    assert_eq!(jwt_vc["types"], json!(PID_JWT_VC_TYPES));
    assert!(jwt_vc.get("credential_definition").is_none());
    assert_eq!(
        jwt_vc["credentialSubject"]["given_name"]["display"],
        labels("Given name", "Vorname")
    );
    assert_eq!(
        jwt_vc["cryptographic_binding_methods_supported"],
        json!(["jwk", "did:jwk"])
    );
    assert_eq!(
        jwt_vc["cryptographic_suites_supported"],
        json!(["ES256", "EdDSA"])
    );
    // mso_mdoc: `doctype`, claims by namespace.
    let mdoc = &supported[3];
    assert_eq!(mdoc["format"], "mso_mdoc");
    assert_eq!(mdoc["doctype"], PID_DOCTYPE);
    assert_eq!(
        mdoc["claims"][crate::mdoc::PID_NAMESPACE]["family_name"]["display"][0]["name"],
        "Family name"
    );
    assert_eq!(
        mdoc["cryptographic_binding_methods_supported"],
        json!(["cose_key"])
    );
    assert_eq!(mdoc["proof_types_supported"], json!(["jwt"]));
    for entry in supported {
        for member in [
            "credential_metadata",
            "credential_signing_alg_values_supported",
            "credential_definition",
        ] {
            assert!(entry.get(member).is_none(), "{member} in {entry}");
        }
    }

    // A separate AS: `authorization_server`, singular.
    let shared = draft11_issuer(Settings {
        separate_authorization_server: true,
        ..Settings::default()
    });
    let metadata = get(&shared, "/tenant/.well-known/openid-credential-issuer")
        .await
        .body;
    assert_eq!(metadata["authorization_server"], AS_BASE);
    assert!(metadata.get("authorization_servers").is_none());
}

#[tokio::test]
async fn offers_carry_credentials_and_user_pin_required() {
    let shared = draft11_issuer(Settings {
        separate_authorization_server: true,
        ..Settings::default()
    });
    let created = shared.create_offer(OfferRequest {
        tx_code: Some(true),
        ..offer_of(&["pid_sd_jwt", "pid_jwt_vc"])
    });
    assert!(created.tx_code.is_some());
    let offer = offer_json(&created.offer_url);
    assert_eq!(offer["credential_issuer"], ISSUER_ID);
    assert_eq!(offer["credentials"], json!(["pid_sd_jwt", "pid_jwt_vc"]));
    assert!(offer.get("credential_configuration_ids").is_none());
    let grant = &offer["grants"][PRE_AUTH];
    assert_eq!(grant["user_pin_required"], true);
    assert!(grant.get("tx_code").is_none());
    assert!(grant["pre-authorized_code"].is_string());

    let offer = offer_json(&shared.create_offer(offer_of(&["pid_mdoc"])).offer_url);
    assert_eq!(offer["grants"][PRE_AUTH]["user_pin_required"], false);

    // By format and type.
    let offer = offer_json(
        &shared
            .create_offer(OfferRequest {
                legacy_offer: Some(true),
                ..offer_of(&["pid_sd_jwt", "pid_jwt_vc", "mdl_mdoc"])
            })
            .offer_url,
    );
    assert_eq!(
        offer["credentials"],
        json!([
            {"format": "vc+sd-jwt", "vct": PID_VCT},
            {"format": "jwt_vc_json", "types": PID_JWT_VC_TYPES},
            {"format": "mso_mdoc", "doctype": MDL_DOCTYPE},
        ])
    );

    // The authorization code grant: the AS is named in the metadata only.
    let offer = offer_json(
        &shared
            .create_offer(OfferRequest {
                authorization_code: Some(true),
                ..Default::default()
            })
            .offer_url,
    );
    let grant = &offer["grants"]["authorization_code"];
    assert!(grant["issuer_state"].is_string());
    assert!(grant.get("authorization_server").is_none());
}

#[tokio::test]
async fn the_token_endpoint_takes_user_pin_and_answers_c_nonce() {
    let shared = draft11_issuer(Settings::default());
    let created = shared.create_offer(OfferRequest {
        tx_code: Some(true),
        ..Default::default()
    });
    let pin = created.tx_code.unwrap();
    let code = offer_json(&created.offer_url)["grants"][PRE_AUTH]["pre-authorized_code"]
        .as_str()
        .unwrap()
        .to_string();
    let send = |extra: Vec<(&'static str, String)>| {
        let shared = &shared;
        let code = code.clone();
        async move {
            let mut pairs: Vec<(&str, &str)> =
                vec![("grant_type", PRE_AUTH), ("pre-authorized_code", &code)];
            pairs.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            token_request(shared, &pairs).await
        }
    };
    // The 1.0 name is refused, and uses up no attempt.
    let answer = send(vec![("tx_code", pin.clone())]).await;
    assert_eq!(answer.error(), "invalid_request", "{}", answer.text);
    assert!(answer.text.contains("user_pin"), "{}", answer.text);
    let answer = send(vec![]).await;
    assert_eq!(answer.error(), "invalid_request");
    assert!(
        answer.text.contains("user_pin is required"),
        "{}",
        answer.text
    );
    let answer = send(vec![("user_pin", "000000x".into())]).await;
    assert_eq!(answer.error(), "invalid_grant");
    assert!(answer.text.contains("wrong PIN"), "{}", answer.text);
    // Right, even with authorization_details: no credential identifiers.
    let details = json!([{"type": "openid_credential", "format": "vc+sd-jwt", "vct": PID_VCT}]);
    let answer = send(vec![
        ("user_pin", pin.clone()),
        ("authorization_details", details.to_string()),
    ])
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert!(answer.body["c_nonce"].is_string());
    assert_eq!(answer.body["c_nonce_expires_in"], 300);
    assert!(answer.body.get("authorization_details").is_none());

    // An offer without a PIN refuses one.
    let code = pre_authorized_code_of(&shared, OfferRequest::default());
    let answer = token_request(
        &shared,
        &[
            ("grant_type", PRE_AUTH),
            ("pre-authorized_code", &code),
            ("user_pin", "123456"),
        ],
    )
    .await;
    assert_eq!(answer.error(), "invalid_request");
    assert!(answer.text.contains("no PIN"), "{}", answer.text);

    // A 1.0 issuer keeps its names: `user_pin` is not a transaction code.
    let v1 = tenant_issuer(Settings::default());
    let created = v1.create_offer(OfferRequest {
        tx_code: Some(true),
        ..Default::default()
    });
    let code = offer_json(&created.offer_url)["grants"][PRE_AUTH]["pre-authorized_code"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = token_request(
        &v1,
        &[
            ("grant_type", PRE_AUTH),
            ("pre-authorized_code", &code),
            ("user_pin", created.tx_code.as_deref().unwrap()),
        ],
    )
    .await;
    assert_eq!(answer.error(), "invalid_request");
    assert!(
        answer.text.contains("tx_code is required"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn each_format_is_issued_for_a_draft11_request_with_one_proof() {
    let shared = draft11_issuer(Settings::default());
    let root = trust_anchor(&shared).await;
    let token = token_for(
        &shared,
        offer_of(&["pid_sd_jwt", "membership_sd_jwt", "pid_jwt_vc", "pid_mdoc"]),
    )
    .await;
    let mut nonce = token["c_nonce"].as_str().unwrap().to_string();

    // vc+sd-jwt by vct.
    let (jwt, jwk) = holder_proof(ISSUER_ID, &nonce);
    let request = json!({"format": "vc+sd-jwt", "vct": PID_VCT, "proof": single_proof(&jwt)});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let mut keys: Vec<&str> = answer
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["c_nonce", "c_nonce_expires_in", "credential", "format"]
    );
    assert_eq!(answer.body["format"], "vc+sd-jwt");
    let (header, claims) = jwt_of(answer.body["credential"].as_str().unwrap());
    assert_eq!(header["typ"], "vc+sd-jwt");
    assert_eq!(claims["vct"], PID_VCT);
    assert_eq!(claims["cnf"]["jwk"], jwk);
    nonce = answer.body["c_nonce"].as_str().unwrap().to_string();

    // jwt_vc_json by draft 11's `types`, and by draft 12's
    // `credential_definition.type` (any order).
    for request in [
        json!({"format": "jwt_vc_json", "types": PID_JWT_VC_TYPES}),
        json!({"format": "jwt_vc_json",
               "credential_definition": {"type": ["PersonIdentificationData", "VerifiableCredential"]}}),
    ] {
        let (jwt, jwk) = holder_proof(ISSUER_ID, &nonce);
        let mut request = request;
        request["proof"] = single_proof(&jwt);
        let answer = post_json(&shared, "credential", access(&token), &request).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.body["format"], "jwt_vc_json");
        let (header, claims) = jwt_of(answer.body["credential"].as_str().unwrap());
        assert_eq!(header["typ"], "JWT");
        assert_eq!(claims["vc"]["type"], json!(PID_JWT_VC_TYPES));
        assert_eq!(claims["cnf"]["jwk"], jwk);
        nonce = answer.body["c_nonce"].as_str().unwrap().to_string();
    }

    // mso_mdoc by doctype.
    let (jwt, jwk) = holder_proof(ISSUER_ID, &nonce);
    let request =
        json!({"format": "mso_mdoc", "doctype": PID_DOCTYPE, "proof": single_proof(&jwt)});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["format"], "mso_mdoc");
    assert_good_mdoc(
        answer.body["credential"].as_str().unwrap(),
        PID_DOCTYPE,
        &jwk,
        &root,
    );

    // Unbound: no proof needed.
    let request = json!({"format": "vc+sd-jwt", "vct": "https://credentials.example/membership"});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let (header, claims) = jwt_of(answer.body["credential"].as_str().unwrap());
    assert_eq!(header["typ"], "vc+sd-jwt");
    assert!(claims.get("cnf").is_none());
}

#[tokio::test]
async fn requests_of_the_other_version_are_refused() {
    let shared = draft11_issuer(Settings::default());
    let token = token_for(&shared, offer_of(&["pid_sd_jwt", "pid_jwt_vc"])).await;
    let nonce = token["c_nonce"].as_str().unwrap().to_string();
    let (jwt, _) = holder_proof(ISSUER_ID, &nonce);
    for (request, code) in [
        // 1.0 shapes.
        (
            json!({"credential_configuration_id": "pid_sd_jwt", "proofs": {"jwt": [jwt]}}),
            "invalid_credential_request",
        ),
        (
            json!({"credential_identifier": "pid_sd_jwt:x", "proof": single_proof(&jwt)}),
            "invalid_credential_request",
        ),
        (
            json!({"format": "vc+sd-jwt", "vct": PID_VCT, "proofs": {"jwt": [jwt]}}),
            "invalid_credential_request",
        ),
        (
            json!({"format": "vc+sd-jwt", "vct": PID_VCT,
                   "credential_configuration_id": "pid_sd_jwt", "proof": single_proof(&jwt)}),
            "invalid_credential_request",
        ),
        (
            json!({"vct": PID_VCT, "proof": single_proof(&jwt)}),
            "invalid_credential_request",
        ),
        // A 1.0 format name, another type, a type not offered.
        (
            json!({"format": "dc+sd-jwt", "vct": PID_VCT, "proof": single_proof(&jwt)}),
            "unsupported_credential_format",
        ),
        (
            json!({"format": "ldp_vc", "proof": single_proof(&jwt)}),
            "unsupported_credential_format",
        ),
        (
            json!({"format": "vc+sd-jwt", "vct": "urn:other", "proof": single_proof(&jwt)}),
            "unsupported_credential_type",
        ),
        (
            json!({"format": "jwt_vc_json", "types": ["VerifiableCredential"],
                   "proof": single_proof(&jwt)}),
            "unsupported_credential_type",
        ),
        (
            json!({"format": "mso_mdoc", "doctype": PID_DOCTYPE, "proof": single_proof(&jwt)}),
            "unsupported_credential_type",
        ),
    ] {
        let answer = post_json(&shared, "credential", access(&token), &request).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{request}");
        assert_eq!(answer.error(), code, "{request}: {}", answer.text);
    }
    // None of those used up the nonce.
    let request = json!({"format": "vc+sd-jwt", "vct": PID_VCT, "proof": single_proof(&jwt)});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // A 1.0 issuer refuses the draft-11 request as it always did.
    let v1 = tenant_issuer(Settings::default());
    let token = token_for(&v1, offer_of(&["pid_jwt_vc"])).await;
    let nonce = crate::routes::test_support::c_nonce(&v1).await;
    let (jwt, _) = holder_proof(ISSUER_ID, &nonce);
    let request = json!({"format": "jwt_vc_json", "types": PID_JWT_VC_TYPES,
                         "proof": single_proof(&jwt)});
    let answer = post_json(&v1, "credential", access(&token), &request).await;
    assert_eq!(
        answer.error(),
        "invalid_credential_request",
        "{}",
        answer.text
    );

    // A draft-13 issuer knows no `types`.
    let draft13 = tenant_issuer(Settings {
        spec: SpecVersion::Draft13,
        nonce_endpoint: false,
        batch_size: None,
        ..Settings::default()
    });
    let token = token_for(&draft13, offer_of(&["pid_jwt_vc"])).await;
    let (jwt, _) = holder_proof(ISSUER_ID, token["c_nonce"].as_str().unwrap());
    let request = json!({"format": "jwt_vc_json", "types": PID_JWT_VC_TYPES,
                         "proof": single_proof(&jwt)});
    let answer = post_json(&draft13, "credential", access(&token), &request).await;
    assert_eq!(
        answer.error(),
        "unsupported_credential_type",
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn proof_errors_are_invalid_or_missing_proof_with_a_fresh_c_nonce() {
    let shared = draft11_issuer(Settings::default());
    let token = token_for(&shared, OfferRequest::default()).await;
    let nonce = token["c_nonce"].as_str().unwrap().to_string();

    let request = json!({"format": "vc+sd-jwt", "vct": PID_VCT});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(
        answer.error(),
        "invalid_or_missing_proof",
        "{}",
        answer.text
    );
    let fresh = answer.body["c_nonce"].as_str().unwrap().to_string();
    assert_ne!(fresh, nonce);
    assert_eq!(answer.body["c_nonce_expires_in"], 300);

    // A nonce the issuer never gave.
    let (jwt, _) = holder_proof(ISSUER_ID, "not-a-nonce");
    let request = json!({"format": "vc+sd-jwt", "vct": PID_VCT, "proof": single_proof(&jwt)});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(
        answer.error(),
        "invalid_or_missing_proof",
        "{}",
        answer.text
    );
    assert!(answer.body["c_nonce"].is_string());

    // The wrong audience.
    let (jwt, _) = holder_proof("https://other.example", &fresh);
    let request = json!({"format": "vc+sd-jwt", "vct": PID_VCT, "proof": single_proof(&jwt)});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(
        answer.error(),
        "invalid_or_missing_proof",
        "{}",
        answer.text
    );

    // A malformed proof object is a malformed request.
    let request = json!({"format": "vc+sd-jwt", "vct": PID_VCT,
                         "proof": {"proof_type": "cwt", "cwt": "x"}});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(
        answer.error(),
        "invalid_credential_request",
        "{}",
        answer.text
    );

    // The first nonce, unused, still works; then it is used up.
    let (jwt, _) = holder_proof(ISSUER_ID, &nonce);
    let request = json!({"format": "vc+sd-jwt", "vct": PID_VCT, "proof": single_proof(&jwt)});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(
        answer.error(),
        "invalid_or_missing_proof",
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn deferred_issuance_goes_by_acceptance_token() {
    let shared = draft11_issuer(Settings {
        deferred_pending_polls: 1,
        deferred_interval: 7,
        ..Settings::default()
    });
    let token = token_for(
        &shared,
        OfferRequest {
            deferred: Some(true),
            ..offer_of(&["pid_jwt_vc"])
        },
    )
    .await;
    let (jwt, jwk) = holder_proof(ISSUER_ID, token["c_nonce"].as_str().unwrap());
    let request = json!({"format": "jwt_vc_json", "types": PID_JWT_VC_TYPES,
                         "proof": single_proof(&jwt)});
    let answer = post_json(&shared, "credential", access(&token), &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let acceptance = answer.body["acceptance_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(answer.body["c_nonce"].is_string());
    assert!(answer.body.get("transaction_id").is_none());
    assert!(answer.body.get("credential").is_none());
    assert!(shared.lock().secrets.contains(&acceptance));

    let deferred = |bearer: String| {
        let shared = &shared;
        async move {
            call(
                shared,
                Role::Both,
                Method::POST,
                "/tenant/deferred",
                &[("authorization", format!("Bearer {bearer}"))],
                String::new(),
            )
            .await
        }
    };
    // The access token is not the acceptance token.
    let answer = deferred(access(&token).to_string()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    assert_eq!(answer.error(), "invalid_token");
    let answer = deferred(acceptance.clone()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.error(), "issuance_pending");
    assert_eq!(answer.body["interval"], 7);
    let answer = deferred(acceptance.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["format"], "jwt_vc_json");
    let (_, claims) = jwt_of(answer.body["credential"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jwk"], jwk);
    assert!(answer.body.get("notification_id").is_none());
    // Used up.
    let answer = deferred(acceptance).await;
    assert_eq!(answer.error(), "invalid_token");
}

#[tokio::test]
async fn the_code_flow_names_credentials_by_format_in_authorization_details() {
    let shared = draft11_issuer(Settings::default());
    let challenge = s256(VERIFIER);
    let mut query = authorization_params(&challenge);
    query.retain(|(k, _)| *k != "scope");
    // 1.0's configuration id is not draft 11.
    let v1_details =
        json!([{"type": "openid_credential", "credential_configuration_id": "pid_mdoc"}]);
    let mut refused = query.clone();
    refused.push(("authorization_details", v1_details.to_string()));
    let refused: Vec<(&str, &str)> = refused.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = call(
        &shared,
        Role::Both,
        Method::GET,
        &format!("/tenant/authorize?{}", form(&refused)),
        &[],
        String::new(),
    )
    .await;
    assert!(
        page.text.contains("invalid_authorization_details")
            || page
                .header("location")
                .is_some_and(|l| l.contains("invalid_authorization_details")),
        "{} {:?}",
        page.text,
        page.headers
    );

    let details =
        json!([{"type": "openid_credential", "format": "mso_mdoc", "doctype": MDL_DOCTYPE}]);
    query.push(("authorization_details", details.to_string()));
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let code = authorize(&shared, Role::Both, "/tenant", &query).await;
    let answer = call(
        &shared,
        Role::Both,
        Method::POST,
        "/tenant/token",
        &[],
        code_body(&code),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.body.get("authorization_details").is_none());
    let nonce = answer.body["c_nonce"].as_str().unwrap();
    // Proofs of the code flow carry the client id.
    let (key, jwk) = holder();
    let jwt = proof(
        &key,
        json!({"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": jwk}),
        json!({"iss": "wallet", "aud": ISSUER_ID, "iat": now_secs(), "nonce": nonce}),
    );
    let request =
        json!({"format": "mso_mdoc", "doctype": MDL_DOCTYPE, "proof": single_proof(&jwt)});
    let answer = post_json(&shared, "credential", access(&answer.body), &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let root = trust_anchor(&shared).await;
    assert_good_mdoc(
        answer.body["credential"].as_str().unwrap(),
        MDL_DOCTYPE,
        &jwk,
        &root,
    );
}

#[test]
fn the_builder_switches_versions() {
    let spec = |b: crate::IssuerBuilder| b.settings.spec;
    let builder = crate::Issuer::builder().draft11(true);
    assert_eq!(builder.settings.spec, SpecVersion::Draft11);
    assert!(!builder.settings.nonce_endpoint);
    assert_eq!(builder.settings.batch_size, None);
    assert_eq!(
        spec(crate::Issuer::builder().draft11(true).draft11(false)),
        SpecVersion::V1
    );
    // Turning one draft off leaves the other on.
    assert_eq!(
        spec(crate::Issuer::builder().draft13(true).draft11(false)),
        SpecVersion::Draft13
    );
    assert_eq!(
        spec(crate::Issuer::builder().draft11(true).draft13(false)),
        SpecVersion::Draft11
    );
    assert_eq!(
        spec(crate::Issuer::builder().draft13(true).draft11(true)),
        SpecVersion::Draft11
    );
    for version in [SpecVersion::V1, SpecVersion::Draft13, SpecVersion::Draft11] {
        assert_eq!(
            spec(crate::Issuer::builder().draft11(true).spec_version(version)),
            version
        );
    }
    assert_eq!(SpecVersion::default(), SpecVersion::V1);
}

/// One HTTP/1.1 request over a socket: the status and the JSON body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_spawned_draft11_issuer_serves_the_pre_authorized_flow_over_http() {
    let issuer = crate::Issuer::builder()
        .path("/tenant")
        .draft11(true)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let addr = issuer.addr();
    let issuer_id = issuer.issuer_id();
    let (status, metadata) = http(
        addr,
        "GET",
        "/tenant/.well-known/openid-credential-issuer",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(metadata["credentials_supported"].is_array());
    assert!(metadata.get("nonce_endpoint").is_none());

    let created = issuer.create_offer(OfferRequest {
        tx_code: Some(true),
        legacy_offer: Some(true),
        ..offer_of(&["pid_sd_jwt"])
    });
    let offer = offer_json(&created.offer_url);
    assert_eq!(offer["grants"][PRE_AUTH]["user_pin_required"], true);
    let code = offer["grants"][PRE_AUTH]["pre-authorized_code"]
        .as_str()
        .unwrap();
    let body = form(&[
        ("grant_type", PRE_AUTH),
        ("pre-authorized_code", code),
        ("user_pin", created.tx_code.as_deref().unwrap()),
    ]);
    let (status, token) = http(
        addr,
        "POST",
        "/tenant/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{token}");
    let (jwt, jwk) = holder_proof(&issuer_id, token["c_nonce"].as_str().unwrap());
    let request = json!({"format": "vc+sd-jwt", "vct": PID_VCT, "proof": single_proof(&jwt)});
    let authorization = format!("Bearer {}", access(&token));
    let (status, answer) = http(
        addr,
        "POST",
        "/tenant/credential",
        &[
            ("content-type", "application/json"),
            ("authorization", &authorization),
        ],
        &request.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["format"], "vc+sd-jwt");
    let (header, claims) = jwt_of(answer["credential"].as_str().unwrap());
    assert_eq!(header["typ"], "vc+sd-jwt");
    assert_eq!(claims["iss"], issuer_id.as_str());
    assert_eq!(claims["cnf"]["jwk"], jwk);
    assert!(answer["c_nonce"].is_string());
}
