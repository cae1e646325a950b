//! DID-named issuers and the `pid_jwt_vc` configuration over the real
//! dispatcher (no sockets): `iss` and `kid` in each `Did*` signing mode with
//! either key type, the signature checked with the key the DID resolves to
//! (the decoded `did:jwk` / `did:key`, the served did:web document), the
//! credential faults, and `jwt_vc_json` issuance (1.0 and draft 13, batch,
//! deferred, encrypted); and one spawned issuer serving its DID document.

use crate::credential::{now_secs, public_key, rfc3339};
use crate::did::tests::{decode_did_jwk, decode_did_key};
use crate::did::{did_jwk, public_members, CredentialKey};
use crate::encryption::tests::{encrypt_to, wallet_key};
use crate::encryption::Encryption;
use crate::routes::test_support::{
    self as support, c_nonce, call, form, get, jws_part, post_json, BASE, PRE_AUTH,
};
use crate::routes::Role;
use crate::state::{Fault, Settings, Shared};
use crate::trust::CredentialSigning;
use crate::OfferRequest;
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use serde_json::{json, Value};

const DID_MODES: [CredentialSigning; 3] = [
    CredentialSigning::DidJwk,
    CredentialSigning::DidKey,
    CredentialSigning::DidWeb,
];
const KEYS: [CredentialKey; 2] = [CredentialKey::P256, CredentialKey::Ed25519];

fn issuer_with(settings: Settings) -> Shared {
    Shared::new(settings, BASE.into(), None)
}

fn issuer(signing: CredentialSigning, key: CredentialKey, faults: &[Fault]) -> Shared {
    issuer_with(Settings {
        path: "/tenant".into(),
        credential_signing: signing,
        credential_key: key,
        faults: faults.iter().copied().collect(),
        ..Settings::default()
    })
}

/// An access token for a pre-authorized offer of `ids`.
async fn access_token(shared: &Shared, ids: &[&str], deferred: bool) -> String {
    let offer = OfferRequest {
        credential_configuration_ids: Some(ids.iter().map(|s| s.to_string()).collect()),
        deferred: Some(deferred),
        ..Default::default()
    };
    support::access_token(shared, offer).await
}

/// A proof for `nonce` by a fresh holder key, and that key's public JWK.
fn holder_proof(shared: &Shared, nonce: &str) -> (String, Value) {
    support::holder_proof(&shared.issuer_id(), nonce)
}

/// One credential of `id` through the pre-authorized flow, and the holder
/// key it was asked for.
async fn credential(shared: &Shared, id: &str) -> (String, Value) {
    let token = access_token(shared, &[id], false).await;
    let (jwt, jwk) = holder_proof(shared, &c_nonce(shared).await);
    let request = json!({"credential_configuration_id": id, "proofs": {"jwt": [jwt]}});
    let answer = post_json(shared, "credential", &token, &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let credential = answer.body["credentials"][0]["credential"]
        .as_str()
        .unwrap()
        .to_string();
    (credential, jwk)
}

/// The issuer-signed JWT of an SD-JWT (or a JWT as it is).
fn jwt_of(credential: &str) -> &str {
    credential.split('~').next().unwrap()
}

fn part(credential: &str, index: usize) -> Value {
    jws_part(jwt_of(credential), index)
}

fn header(credential: &str) -> Value {
    part(credential, 0)
}

fn payload(credential: &str) -> Value {
    part(credential, 1)
}

/// Whether the JWS signature verifies with a public P-256 or Ed25519 JWK
/// (by the JWK's key type, ES256 or EdDSA).
fn verifies(credential: &str, jwk: &Value) -> bool {
    let (input, signature) = jwt_of(credential).rsplit_once('.').unwrap();
    let signature = B64.decode(signature).unwrap();
    match jwk["kty"].as_str() {
        Some("EC") => {
            let key = p256::ecdsa::VerifyingKey::from(public_key(jwk).unwrap());
            let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
            key.verify(input.as_bytes(), &signature).is_ok()
        }
        Some("OKP") => {
            assert_eq!(jwk["crv"], "Ed25519");
            let x: [u8; 32] = B64
                .decode(jwk["x"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
            let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
            key.verify_strict(input.as_bytes(), &signature).is_ok()
        }
        other => panic!("unexpected kty {other:?}"),
    }
}

/// The public key `kid` names, resolved as a wallet does: decoding a
/// `did:jwk` or `did:key`, fetching a did:web document (at the URL the DID
/// says) and picking the verification method.
async fn resolve(shared: &Shared, kid: &str) -> Value {
    let (did, fragment) = kid.split_once('#').expect("a DID URL");
    if did.starts_with("did:jwk:") {
        assert_eq!(fragment, "0");
        return decode_did_jwk(did);
    }
    if let Some(value) = did.strip_prefix("did:key:") {
        assert_eq!(fragment, value);
        return decode_did_key(did);
    }
    let rest = did
        .strip_prefix("did:web:")
        .expect("did:jwk, did:key or did:web");
    let mut segments = rest.split(':');
    let host = segments.next().unwrap().replace("%3A", ":");
    assert_eq!(format!("http://{host}"), BASE);
    let path: Vec<&str> = segments.collect();
    let url_path = if path.is_empty() {
        "/.well-known/did.json".to_string()
    } else {
        format!("/{}/did.json", path.join("/"))
    };
    let answer = get(shared, &url_path).await;
    assert_eq!(answer.status, StatusCode::OK, "{url_path}: {}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/did+json"));
    let document = answer.body;
    assert_eq!(document["id"], did);
    assert_eq!(
        document["@context"],
        json!(["https://www.w3.org/ns/did/v1"])
    );
    assert_eq!(document["assertionMethod"], json!([kid]));
    let methods = document["verificationMethod"].as_array().unwrap();
    assert_eq!(methods.len(), 1);
    let method = &methods[0];
    assert_eq!(method["id"], kid);
    assert_eq!(method["type"], "JsonWebKey2020");
    assert_eq!(method["controller"], did);
    method["publicKeyJwk"].clone()
}

#[tokio::test]
async fn each_did_mode_names_the_issuer_and_signs_with_the_key_its_did_resolves_to() {
    for mode in DID_MODES {
        for key in KEYS {
            let shared = issuer(mode, key, &[]);
            let did = shared.did.as_ref().unwrap();
            let (sd_jwt, holder_jwk) = credential(&shared, "pid_sd_jwt").await;
            let header = header(&sd_jwt);
            let payload = payload(&sd_jwt);
            let alg = match key {
                CredentialKey::P256 => "ES256",
                CredentialKey::Ed25519 => "EdDSA",
            };
            assert_eq!(header["alg"], alg, "{mode:?} {key:?}");
            assert_eq!(header["typ"], "dc+sd-jwt");
            assert!(header.get("x5c").is_none(), "{header}");
            let iss = payload["iss"].as_str().unwrap();
            assert_eq!(iss, did.did);
            let kid = header["kid"].as_str().unwrap();
            match mode {
                CredentialSigning::DidJwk => {
                    assert!(iss.starts_with("did:jwk:"), "{iss}");
                    assert_eq!(kid, format!("{iss}#0"));
                }
                CredentialSigning::DidKey => {
                    let prefix = match key {
                        CredentialKey::P256 => "did:key:zDn",
                        CredentialKey::Ed25519 => "did:key:z6Mk",
                    };
                    assert!(iss.starts_with(prefix), "{iss}");
                    assert_eq!(kid, format!("{iss}#{}", &iss["did:key:".len()..]));
                }
                _ => {
                    assert_eq!(iss, "did:web:127.0.0.1%3A9:tenant");
                    assert_eq!(kid, "did:web:127.0.0.1%3A9:tenant#key-1");
                }
            }
            let published = resolve(&shared, kid).await;
            assert_eq!(published, did.key.public_jwk());
            assert!(verifies(&sd_jwt, &published), "{mode:?} {key:?}");
            // Everything else as in the kid mode.
            assert_eq!(payload["vct"], "urn:eudi:pid:1");
            assert_eq!(payload["cnf"]["jwk"], holder_jwk);
            let exp = payload["exp"].as_i64().unwrap();
            assert_eq!(exp - payload["iat"].as_i64().unwrap(), 365 * 24 * 3600);

            // P-256: the issuer's own key; Ed25519: a key of its own.
            let issuer_jwk = shared.keys.public_jwk();
            assert_eq!(
                key == CredentialKey::P256,
                public_members(&issuer_jwk) == published
            );
            // The JWT VC issuer metadata still serves the P-256 key.
            let metadata = get(&shared, "/.well-known/jwt-vc-issuer/tenant").await;
            assert_eq!(metadata.body["jwks"]["keys"], json!([issuer_jwk]));
            // The metadata advertises the algorithm in use.
            let metadata = get(&shared, "/.well-known/openid-credential-issuer/tenant").await;
            let configurations = &metadata.body["credential_configurations_supported"];
            assert_eq!(
                configurations["pid_sd_jwt"]["credential_signing_alg_values_supported"],
                json!([alg])
            );
            // Only a did:web issuer serves a DID document.
            let document = get(&shared, "/tenant/did.json").await;
            let expected = if mode == CredentialSigning::DidWeb {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(document.status, expected, "{mode:?}");
        }
    }
}

#[tokio::test]
async fn kid_and_x5c_modes_have_no_did_and_stay_p256() {
    for mode in [CredentialSigning::Kid, CredentialSigning::X5cChain] {
        let shared = issuer(mode, CredentialKey::Ed25519, &[]);
        assert!(shared.did.is_none());
        let (sd_jwt, _) = credential(&shared, "pid_sd_jwt").await;
        assert_eq!(header(&sd_jwt)["alg"], "ES256");
        assert_eq!(payload(&sd_jwt)["iss"], shared.issuer_id());
        assert!(verifies(&sd_jwt, &shared.keys.public_jwk()));
        assert_eq!(
            get(&shared, "/tenant/did.json").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&shared, "/.well-known/did.json").await.status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn a_did_web_issuer_without_a_path_serves_its_document_at_the_well_known_url() {
    let shared = issuer_with(Settings {
        credential_signing: CredentialSigning::DidWeb,
        credential_key: CredentialKey::Ed25519,
        ..Settings::default()
    });
    let (sd_jwt, _) = credential(&shared, "pid_sd_jwt").await;
    assert_eq!(payload(&sd_jwt)["iss"], "did:web:127.0.0.1%3A9");
    let kid = header(&sd_jwt)["kid"].as_str().unwrap().to_string();
    assert_eq!(kid, "did:web:127.0.0.1%3A9#key-1");
    let published = resolve(&shared, &kid).await;
    assert!(verifies(&sd_jwt, &published));
}

#[tokio::test]
async fn did_web_wrong_key_publishes_another_key_than_the_signing_one() {
    for key in KEYS {
        let shared = issuer(CredentialSigning::DidWeb, key, &[Fault::DidWebWrongKey]);
        let (sd_jwt, _) = credential(&shared, "pid_sd_jwt").await;
        let kid = header(&sd_jwt)["kid"].as_str().unwrap().to_string();
        let published = resolve(&shared, &kid).await;
        assert_eq!(
            published["kty"],
            shared.did.as_ref().unwrap().key.public_jwk()["kty"]
        );
        assert!(!verifies(&sd_jwt, &published), "{key:?}");
        assert!(verifies(
            &sd_jwt,
            &shared.did.as_ref().unwrap().key.public_jwk()
        ));
        // The same wrong key every time.
        assert_eq!(resolve(&shared, &kid).await, published);
    }
}

#[tokio::test]
async fn credential_signed_by_other_key_keeps_the_did_kid() {
    let shared = issuer(
        CredentialSigning::DidKey,
        CredentialKey::Ed25519,
        &[Fault::CredentialSignedByOtherKey],
    );
    let (sd_jwt, _) = credential(&shared, "pid_sd_jwt").await;
    let kid = header(&sd_jwt)["kid"].as_str().unwrap().to_string();
    assert_eq!(kid, shared.did.as_ref().unwrap().kid);
    assert_eq!(header(&sd_jwt)["alg"], "EdDSA");
    assert!(!verifies(&sd_jwt, &resolve(&shared, &kid).await));
}

#[tokio::test]
async fn the_credential_faults_change_typ_validity_and_iss() {
    let shared = issuer(
        CredentialSigning::Kid,
        CredentialKey::P256,
        &[Fault::CredentialWrongTyp],
    );
    let (sd_jwt, _) = credential(&shared, "pid_sd_jwt").await;
    assert_eq!(header(&sd_jwt)["typ"], "JWT");
    assert!(verifies(&sd_jwt, &shared.keys.public_jwk()));
    // The JWT VC's typ is JWT anyway.
    let (jwt, _) = credential(&shared, "pid_jwt_vc").await;
    assert_eq!(header(&jwt)["typ"], "JWT");

    let shared = issuer(
        CredentialSigning::DidJwk,
        CredentialKey::Ed25519,
        &[Fault::CredentialExpired],
    );
    let now = now_secs();
    for id in ["pid_sd_jwt", "pid_jwt_vc"] {
        let (credential, _) = credential(&shared, id).await;
        let payload = payload(&credential);
        let exp = payload["exp"].as_i64().unwrap();
        let iat = payload["iat"].as_i64().unwrap();
        assert!((now - 3600 - exp).abs() < 60, "{id}: exp {exp}, now {now}");
        assert!((now - 2 * 24 * 3600 - iat).abs() < 60, "{id}: iat {iat}");
        if id == "pid_jwt_vc" {
            assert_eq!(payload["nbf"], iat);
            assert_eq!(payload["vc"]["issuanceDate"], rfc3339(iat));
        }
        assert!(verifies(
            &credential,
            &decode_did_jwk(payload["iss"].as_str().unwrap())
        ));
    }

    for (mode, key) in [
        (CredentialSigning::Kid, CredentialKey::P256),
        (CredentialSigning::X5cChain, CredentialKey::P256),
        (CredentialSigning::DidWeb, CredentialKey::Ed25519),
    ] {
        let shared = issuer(mode, key, &[Fault::CredentialIssMismatch]);
        let (sd_jwt, _) = credential(&shared, "pid_sd_jwt").await;
        assert_eq!(payload(&sd_jwt)["iss"], "https://other.example", "{mode:?}");
        if let Some(did) = &shared.did {
            // The kid still names the DID, and its key signed.
            assert_eq!(header(&sd_jwt)["kid"], did.kid.as_str());
            assert!(verifies(&sd_jwt, &did.key.public_jwk()));
        }
        // Only the SD-JWT's.
        let (jwt, _) = credential(&shared, "pid_jwt_vc").await;
        assert_eq!(payload(&jwt)["iss"], shared.credential_iss());
    }
}

/// Checks a `pid_jwt_vc` credential's claims for `holder_jwk` and `iss`.
fn assert_jwt_vc(credential: &str, iss: &str, holder_jwk: &Value) {
    assert!(!credential.contains('~'), "a JWS, not an SD-JWT");
    assert_eq!(credential.split('.').count(), 3);
    let payload = payload(credential);
    assert_eq!(payload["iss"], iss);
    let sub = payload["sub"].as_str().unwrap();
    assert_eq!(sub, did_jwk(holder_jwk));
    assert_eq!(decode_did_jwk(sub), public_members(holder_jwk));
    assert_eq!(payload["cnf"], json!({"jwk": holder_jwk}));
    let iat = payload["iat"].as_i64().unwrap();
    assert!((iat - now_secs()).abs() < 60);
    assert_eq!(payload["nbf"], iat);
    assert_eq!(payload["exp"].as_i64().unwrap() - iat, 365 * 24 * 3600);
    let jti = payload["jti"].as_str().unwrap();
    let uuid = jti.strip_prefix("urn:uuid:").unwrap();
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{jti}");
    assert_eq!(&uuid[14..15], "4", "version 4: {jti}");
    assert_eq!(
        payload["vc"],
        json!({
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiableCredential", "PersonIdentificationData"],
            "issuanceDate": rfc3339(iat),
            "credentialSubject": {
                "id": sub,
                "given_name": "Erika",
                "family_name": "Mustermann",
                "birthdate": "1964-08-12",
            },
        })
    );
}

#[tokio::test]
async fn pid_jwt_vc_is_a_signed_vc_jwt_in_every_signing_mode() {
    // Kid and X5cChain: the kid-mode kid, P-256, no x5c.
    for mode in [CredentialSigning::Kid, CredentialSigning::X5cChain] {
        let shared = issuer(mode, CredentialKey::P256, &[]);
        let (jwt, holder_jwk) = credential(&shared, "pid_jwt_vc").await;
        assert_eq!(
            header(&jwt),
            json!({"alg": "ES256", "typ": "JWT", "kid": shared.keys.public_jwk()["kid"]})
        );
        assert!(verifies(&jwt, &shared.keys.public_jwk()));
        assert_jwt_vc(&jwt, &shared.issuer_id(), &holder_jwk);
    }
    // The DID modes: the DID as iss, its kid and key.
    for mode in DID_MODES {
        for key in KEYS {
            let shared = issuer(mode, key, &[]);
            let did = shared.did.as_ref().unwrap();
            let (jwt, holder_jwk) = credential(&shared, "pid_jwt_vc").await;
            let header = header(&jwt);
            assert_eq!(header["typ"], "JWT");
            assert_eq!(header["kid"], did.kid.as_str());
            assert_eq!(header["alg"], did.key.sign_key().alg());
            assert_eq!(header.as_object().unwrap().len(), 3);
            assert!(verifies(&jwt, &resolve(&shared, &did.kid).await));
            assert_jwt_vc(&jwt, &did.did, &holder_jwk);
        }
    }
}

#[tokio::test]
async fn pid_jwt_vc_in_the_metadata_in_1_0_and_draft_13() {
    let shared = issuer(CredentialSigning::Kid, CredentialKey::P256, &[]);
    let metadata = get(&shared, "/.well-known/openid-credential-issuer/tenant").await;
    let config = &metadata.body["credential_configurations_supported"]["pid_jwt_vc"];
    let labels =
        |en: &str, de: &str| json!([{"name": en, "locale": "en"}, {"name": de, "locale": "de"}]);
    assert_eq!(
        config,
        &json!({
            "format": "jwt_vc_json",
            "scope": "pid_jwt_vc",
            "credential_definition": {"type": ["VerifiableCredential", "PersonIdentificationData"]},
            "cryptographic_binding_methods_supported": ["jwk", "did:jwk"],
            "credential_signing_alg_values_supported": ["ES256", "EdDSA"],
            "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
            "credential_metadata": {
                "display": [
                    {"name": "Person ID (JWT VC)", "locale": "en",
                     "description": "An identity credential as a W3C VC JWT"},
                    {"name": "Personalausweis (JWT VC)", "locale": "de",
                     "description": "Ein Identitätsnachweis als W3C-VC-JWT"},
                ],
                "claims": [
                    {"path": ["credentialSubject", "given_name"], "display": labels("Given name", "Vorname")},
                    {"path": ["credentialSubject", "family_name"], "display": labels("Family name", "Nachname")},
                    {"path": ["credentialSubject", "birthdate"], "display": labels("Date of birth", "Geburtsdatum")},
                ],
            },
        })
    );
    let pid = &metadata.body["credential_configurations_supported"]["pid_sd_jwt"];
    assert_eq!(pid["format"], "dc+sd-jwt");
    assert_eq!(
        pid["cryptographic_binding_methods_supported"],
        json!(["jwk"])
    );
    // The AS knows the scope.
    let as_metadata = get(&shared, "/.well-known/oauth-authorization-server/tenant").await;
    assert!(as_metadata.body["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("pid_jwt_vc")));

    // Draft 13: display on the configuration, the claims nested in
    // credential_definition.credentialSubject.
    let shared = issuer_with(Settings {
        path: "/tenant".into(),
        spec: crate::state::SpecVersion::Draft13,
        nonce_endpoint: false,
        batch_size: None,
        ..Settings::default()
    });
    let metadata = get(&shared, "/tenant/.well-known/openid-credential-issuer").await;
    assert_eq!(metadata.status, StatusCode::OK, "{}", metadata.text);
    let config = &metadata.body["credential_configurations_supported"]["pid_jwt_vc"];
    assert_eq!(config["format"], "jwt_vc_json");
    assert!(config.get("credential_metadata").is_none());
    assert!(config.get("claims").is_none());
    assert_eq!(config["display"][1]["name"], "Personalausweis (JWT VC)");
    assert_eq!(
        config["credential_definition"],
        json!({
            "type": ["VerifiableCredential", "PersonIdentificationData"],
            "credentialSubject": {
                "given_name": {"display": labels("Given name", "Vorname")},
                "family_name": {"display": labels("Family name", "Nachname")},
                "birthdate": {"display": labels("Date of birth", "Geburtsdatum")},
            },
        })
    );
    // The SD-JWT configurations keep their draft-13 shape.
    let pid = &metadata.body["credential_configurations_supported"]["pid_sd_jwt"];
    assert_eq!(pid["format"], "vc+sd-jwt");
    assert_eq!(
        pid["claims"]["address"]["locality"]["display"][0]["name"],
        "City"
    );
}

#[tokio::test]
async fn pid_jwt_vc_offers_and_draft_13_requests() {
    let shared = issuer(CredentialSigning::Kid, CredentialKey::P256, &[]);
    // POST /test/offers takes it like any configuration.
    let answer = call(
        &shared,
        Role::Both,
        Method::POST,
        "/test/offers",
        &[("content-type", "application/json".to_string())],
        json!({"credential_configuration_ids": ["pid_jwt_vc"]}).to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let url = url::Url::parse(answer.body["offer_url"].as_str().unwrap()).unwrap();
    let (_, offer) = url
        .query_pairs()
        .find(|(k, _)| k == "credential_offer")
        .unwrap();
    let offer: Value = serde_json::from_str(&offer).unwrap();
    assert_eq!(offer["credential_configuration_ids"], json!(["pid_jwt_vc"]));
    // A draft 11/12 offer names it by format and type.
    let legacy = shared.create_offer(OfferRequest {
        credential_configuration_ids: Some(vec!["pid_jwt_vc".into()]),
        legacy_offer: Some(true),
        ..Default::default()
    });
    let url = url::Url::parse(&legacy.offer_url).unwrap();
    let (_, offer) = url
        .query_pairs()
        .find(|(k, _)| k == "credential_offer")
        .unwrap();
    let offer: Value = serde_json::from_str(&offer).unwrap();
    assert_eq!(
        offer["credentials"],
        json!([{"format": "jwt_vc_json", "credential_definition": {
            "type": ["VerifiableCredential", "PersonIdentificationData"]}}])
    );

    // Draft 13: a request by format and credential_definition.type (any
    // order); c_nonce comes from the token response.
    let shared = issuer_with(Settings {
        path: "/tenant".into(),
        spec: crate::state::SpecVersion::Draft13,
        nonce_endpoint: false,
        batch_size: None,
        credential_signing: CredentialSigning::DidJwk,
        credential_key: CredentialKey::Ed25519,
        ..Settings::default()
    });
    let offer = shared.create_offer(OfferRequest {
        credential_configuration_ids: Some(vec!["pid_sd_jwt".into(), "pid_jwt_vc".into()]),
        ..Default::default()
    });
    let url = url::Url::parse(&offer.offer_url).unwrap();
    let (_, offer) = url
        .query_pairs()
        .find(|(k, _)| k == "credential_offer")
        .unwrap();
    let offer: Value = serde_json::from_str(&offer).unwrap();
    let code = offer["grants"][PRE_AUTH]["pre-authorized_code"]
        .as_str()
        .unwrap();
    let body = form(&[("grant_type", PRE_AUTH), ("pre-authorized_code", code)]);
    let token = call(
        &shared,
        Role::Both,
        Method::POST,
        "/tenant/token",
        &[],
        body,
    )
    .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    let access = token.body["access_token"].as_str().unwrap();
    let nonce = token.body["c_nonce"].as_str().unwrap();

    let (jwt, _) = holder_proof(&shared, nonce);
    let wrong_type = json!({
        "format": "jwt_vc_json",
        "credential_definition": {"type": ["VerifiableCredential"]},
        "proof": {"proof_type": "jwt", "jwt": jwt},
    });
    let answer = post_json(&shared, "credential", access, &wrong_type).await;
    assert_eq!(
        answer.error(),
        "unsupported_credential_type",
        "{}",
        answer.text
    );

    let (jwt, holder_jwk) = holder_proof(&shared, nonce);
    let request = json!({
        "format": "jwt_vc_json",
        "credential_definition": {"type": ["PersonIdentificationData", "VerifiableCredential"]},
        "proof": {"proof_type": "jwt", "jwt": jwt},
    });
    let answer = post_json(&shared, "credential", access, &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let credential = answer.body["credential"].as_str().unwrap();
    let did = shared.did.as_ref().unwrap();
    assert_jwt_vc(credential, &did.did, &holder_jwk);
    assert_eq!(header(credential)["alg"], "EdDSA");
    assert!(verifies(credential, &decode_did_jwk(&did.did)));
}

#[tokio::test]
async fn pid_jwt_vc_batch_deferred_and_encrypted() {
    // A batch: one credential per proof, each bound to its key.
    let shared = issuer(CredentialSigning::DidKey, CredentialKey::P256, &[]);
    let token = access_token(&shared, &["pid_jwt_vc"], false).await;
    let nonce = c_nonce(&shared).await;
    let (first, first_jwk) = holder_proof(&shared, &nonce);
    let (second, second_jwk) = holder_proof(&shared, &nonce);
    let request = json!({
        "credential_configuration_id": "pid_jwt_vc",
        "proofs": {"jwt": [first, second]},
    });
    let answer = post_json(&shared, "credential", &token, &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let list = answer.body["credentials"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let did = shared.did.as_ref().unwrap();
    for (entry, jwk) in list.iter().zip([&first_jwk, &second_jwk]) {
        let credential = entry["credential"].as_str().unwrap();
        assert_jwt_vc(credential, &did.did, jwk);
        assert!(verifies(credential, &decode_did_key(&did.did)));
    }

    // Deferred: a transaction first, then the JWT.
    let shared = issuer_with(Settings {
        path: "/tenant".into(),
        deferred_pending_polls: 1,
        ..Settings::default()
    });
    let token = access_token(&shared, &["pid_jwt_vc"], true).await;
    let (jwt, holder_jwk) = holder_proof(&shared, &c_nonce(&shared).await);
    let request = json!({"credential_configuration_id": "pid_jwt_vc", "proofs": {"jwt": [jwt]}});
    let answer = post_json(&shared, "credential", &token, &request).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    let poll = json!({"transaction_id": answer.body["transaction_id"]});
    let pending = post_json(&shared, "deferred", &token, &poll).await;
    assert_eq!(pending.status, StatusCode::ACCEPTED, "{}", pending.text);
    let issued = post_json(&shared, "deferred", &token, &poll).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.text);
    let credential = issued.body["credentials"][0]["credential"]
        .as_str()
        .unwrap();
    assert_jwt_vc(credential, &shared.issuer_id(), &holder_jwk);

    // Encrypted: the answer is a JWE of the same JSON.
    let shared = issuer_with(Settings {
        path: "/tenant".into(),
        encryption: Encryption::Required,
        ..Settings::default()
    });
    let token = access_token(&shared, &["pid_jwt_vc"], false).await;
    let (jwt, holder_jwk) = holder_proof(&shared, &c_nonce(&shared).await);
    let (decrypter, wallet_jwk) = wallet_key();
    let request = json!({
        "credential_configuration_id": "pid_jwt_vc",
        "proofs": {"jwt": [jwt]},
        "credential_response_encryption": {"jwk": wallet_jwk, "enc": "A256GCM"},
    });
    let issuer_jwk = shared.encryption_key.as_ref().unwrap().public_jwk();
    let jwe = encrypt_to(&issuer_jwk, "A128GCM", request.to_string().as_bytes());
    let headers = [
        ("authorization", format!("Bearer {token}")),
        ("content-type", "application/jwt".to_string()),
    ];
    let answer = call(
        &shared,
        Role::Both,
        Method::POST,
        "/tenant/credential",
        &headers,
        jwe,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("content-type"), Some("application/jwt"));
    let (plain, _) = josekit::jwe::deserialize_compact(&answer.text, &decrypter).unwrap();
    let body: Value = serde_json::from_slice(&plain).unwrap();
    let credential = body["credentials"][0]["credential"].as_str().unwrap();
    assert_jwt_vc(credential, &shared.issuer_id(), &holder_jwk);
}

/// A plain HTTP/1.1 GET over a socket: the status line, the headers
/// (lower-case names) and the body.
async fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
) -> (String, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

#[tokio::test]
async fn a_spawned_did_web_issuer_names_its_port_and_serves_its_document() {
    let issuer = crate::Issuer::builder()
        .path("/pid")
        .credential_signing(CredentialSigning::DidWeb)
        .credential_key(CredentialKey::Ed25519)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let port = issuer.addr().port();
    let did = issuer.credential_issuer_did().unwrap();
    assert_eq!(did, format!("did:web:127.0.0.1%3A{port}:pid"));
    let (status, headers, body) = http_get(issuer.addr(), "/pid/did.json").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/did+json"));
    let document: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(document["id"], did.as_str());
    assert_eq!(
        document["verificationMethod"][0]["publicKeyJwk"]["crv"],
        "Ed25519"
    );
    // The issuer's P-256 key is not the signing key here.
    assert_ne!(
        document["verificationMethod"][0]["publicKeyJwk"]["x"],
        issuer.issuer_jwk()["x"]
    );

    let plain = crate::Issuer::builder().spawn("127.0.0.1:0").await.unwrap();
    assert_eq!(plain.credential_issuer_did(), None);
    let did_key = crate::Issuer::builder()
        .credential_signing(CredentialSigning::DidKey)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    assert!(did_key
        .credential_issuer_did()
        .unwrap()
        .starts_with("did:key:zDn"));
    assert_eq!(CredentialKey::default(), CredentialKey::P256);
}
