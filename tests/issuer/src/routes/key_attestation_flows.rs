//! Key attestations (OID4VCI 1.0 appendix D) at the credential endpoint over
//! the real dispatcher (no sockets): the metadata, `jwt` proofs with a
//! `key_attestation` header in both modes, the `attestation` proof type
//! (appendix F.3) for every format, each defect of an attestation, nonce
//! use, the proof type refused with key attestations off, malformed
//! `proofs`, `POST /test/key-attestation` and its options, the builder and
//! the counters.

use crate::attestation::{KeyAttestationFault, KeyAttestationOptions, KeyAttestations};
use crate::credential::now_secs;
use crate::credential::tests::{holder, proof};
use crate::mdoc::tests::{get, parts};
use crate::routes::test_support::{
    access_token, c_nonce, call, credentials, jws_part, tenant_issuer, Answer, BASE, ISSUER_ID,
};
use crate::routes::Role;
use crate::state::{Settings, Shared};
use crate::{Issuer, OfferRequest};
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ciborium::Value as Cbor;
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn issuer(mode: KeyAttestations, batch_size: Option<u32>) -> Shared {
    tenant_issuer(Settings {
        key_attestations: mode,
        batch_size,
        ..Settings::default()
    })
}

/// An access token for a pre-authorized offer of `ids`.
async fn token(shared: &Shared, ids: &[&str]) -> String {
    let offer = OfferRequest {
        credential_configuration_ids: Some(ids.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    access_token(shared, offer).await
}

/// A credential request of configuration `id` with `proofs`.
async fn request(shared: &Shared, token: &str, id: &str, proofs: Value) -> Answer {
    let body = json!({"credential_configuration_id": id, "proofs": proofs});
    call(
        shared,
        Role::Both,
        Method::POST,
        "/tenant/credential",
        &[("authorization", format!("Bearer {token}"))],
        body.to_string(),
    )
    .await
}

/// A proof JWT by `key` for `nonce`, with a `key_attestation` header when
/// given.
fn jwt_proof(key: &SigningKey, jwk: &Value, nonce: &str, attestation: Option<&str>) -> String {
    let mut header = json!({"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": jwk});
    if let Some(a) = attestation {
        header["key_attestation"] = json!(a);
    }
    proof(
        key,
        header,
        json!({"aud": ISSUER_ID, "iat": now_secs(), "nonce": nonce}),
    )
}

/// A key attestation of the issuer's trusted wallet provider.
fn attest(shared: &Shared, keys: &[Value], nonce: Option<&str>) -> String {
    attest_with(shared, keys, nonce, KeyAttestationOptions::default())
}

fn attest_with(
    shared: &Shared,
    keys: &[Value],
    nonce: Option<&str>,
    options: KeyAttestationOptions,
) -> String {
    shared
        .wallet_provider
        .issue_key_attestation_with(keys, nonce, &options)
}

/// The credentials of a 200 answer.
#[track_caller]
fn issued(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    credentials(&answer.body)
}

/// Checks that `credential` (of configuration `id`) is bound to `jwk`:
/// `cnf.jwk` of an SD-JWT or a `jwt_vc_json`, `deviceKey` of an mdoc.
#[track_caller]
fn assert_bound(id: &str, credential: &str, jwk: &Value) {
    if id.ends_with("_mdoc") {
        let parts = parts(credential);
        let device_key = get(get(&parts.mso, "deviceKeyInfo"), "deviceKey");
        let map = device_key.as_map().unwrap();
        for (i, member) in [(2, "x"), (3, "y")] {
            let expected = B64.decode(jwk[member].as_str().unwrap()).unwrap();
            assert_eq!(map[i].1, Cbor::Bytes(expected), "{id}: deviceKey {member}");
        }
    } else {
        let jwt = credential.split('~').next().unwrap();
        let payload = jws_part(jwt, 1);
        assert_eq!(payload["cnf"]["jwk"], *jwk, "{id}: cnf.jwk");
    }
}

#[track_caller]
fn assert_refused(answer: &Answer, code: &str, needle: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(answer.error(), code, "{needle}: {}", answer.text);
    let description = answer.body["error_description"].as_str().unwrap();
    assert!(description.contains(needle), "{needle}: {description}");
}

fn counters(shared: &Shared) -> (u64, u64) {
    let stats = shared.stats();
    (
        stats["key_attestations_accepted"],
        stats["key_attestations_rejected"],
    )
}

fn levels(key_storage: &[&str], user_authentication: &[&str]) -> KeyAttestationOptions {
    KeyAttestationOptions {
        key_storage: key_storage.iter().map(|s| s.to_string()).collect(),
        user_authentication: user_authentication.iter().map(|s| s.to_string()).collect(),
        ..KeyAttestationOptions::default()
    }
}

fn faulty(fault: KeyAttestationFault) -> KeyAttestationOptions {
    KeyAttestationOptions {
        fault: Some(fault),
        ..KeyAttestationOptions::default()
    }
}

#[tokio::test]
async fn the_metadata_lists_both_proof_types_with_the_requirement() {
    for mode in [
        KeyAttestations::Required,
        KeyAttestations::RequiredWithNonce,
    ] {
        let shared = issuer(mode, Some(3));
        let answer = call(
            &shared,
            Role::Both,
            Method::GET,
            "/.well-known/openid-credential-issuer/tenant",
            &[],
            String::new(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let required = json!({
            "key_storage": ["iso_18045_high"],
            "user_authentication": ["iso_18045_high"],
        });
        let configurations = &answer.body["credential_configurations_supported"];
        for id in ["pid_sd_jwt", "pid_jwt_vc", "pid_mdoc", "mdl_mdoc"] {
            let types = &configurations[id]["proof_types_supported"];
            for proof_type in ["jwt", "attestation"] {
                assert_eq!(
                    types[proof_type],
                    json!({
                        "proof_signing_alg_values_supported": ["ES256"],
                        "key_attestations_required": required,
                    }),
                    "{id} {proof_type}"
                );
            }
        }
        assert!(configurations["membership_sd_jwt"]
            .get("proof_types_supported")
            .is_none());
    }
}

#[tokio::test]
async fn jwt_proofs_with_a_key_attestation_header_in_both_modes() {
    for mode in [
        KeyAttestations::Required,
        KeyAttestations::RequiredWithNonce,
    ] {
        let with_nonce = mode == KeyAttestations::RequiredWithNonce;
        let shared = issuer(mode, Some(3));
        let token = token(&shared, &["pid_sd_jwt"]).await;
        let (a, a_jwk) = holder();
        let (b, b_jwk) = holder();

        // No header.
        let nonce = c_nonce(&shared).await;
        let answer = request(
            &shared,
            &token,
            "pid_sd_jwt",
            json!({"jwt": [jwt_proof(&a, &a_jwk, &nonce, None)]}),
        )
        .await;
        assert_refused(&answer, "invalid_proof", "requires a key attestation");

        // A batch: one attestation of both keys, with the c_nonce, in both
        // proofs' headers.
        let attestation = attest(&shared, &[a_jwk.clone(), b_jwk.clone()], Some(&nonce));
        let proofs = json!({"jwt": [
            jwt_proof(&a, &a_jwk, &nonce, Some(&attestation)),
            jwt_proof(&b, &b_jwk, &nonce, Some(&attestation)),
        ]});
        let credentials = issued(&request(&shared, &token, "pid_sd_jwt", proofs).await);
        assert_eq!(credentials.len(), 2);
        assert_bound("pid_sd_jwt", &credentials[0], &a_jwk);
        assert_bound("pid_sd_jwt", &credentials[1], &b_jwk);

        // An attestation without nonce: fine when required, wrong when its
        // nonce is required too (and the refusal leaves the c_nonce usable).
        let nonce = c_nonce(&shared).await;
        let bare = attest(&shared, std::slice::from_ref(&a_jwk), None);
        let proofs = json!({"jwt": [jwt_proof(&a, &a_jwk, &nonce, Some(&bare))]});
        let answer = request(&shared, &token, "pid_sd_jwt", proofs).await;
        if with_nonce {
            assert_refused(&answer, "invalid_proof", "wrong nonce");
            let good = attest(&shared, std::slice::from_ref(&a_jwk), Some(&nonce));
            let proofs = json!({"jwt": [jwt_proof(&a, &a_jwk, &nonce, Some(&good))]});
            let credentials = issued(&request(&shared, &token, "pid_sd_jwt", proofs).await);
            assert_bound("pid_sd_jwt", &credentials[0], &a_jwk);
        } else {
            assert_bound("pid_sd_jwt", &issued(&answer)[0], &a_jwk);
        }

        // An attestation with another nonce than the proof's, in both modes:
        // a made-up one, or another c_nonce of this issuer.
        let nonce = c_nonce(&shared).await;
        let other = c_nonce(&shared).await;
        for wrong in ["made-up", other.as_str()] {
            let attestation = attest(&shared, std::slice::from_ref(&a_jwk), Some(wrong));
            let proofs = json!({"jwt": [jwt_proof(&a, &a_jwk, &nonce, Some(&attestation))]});
            let answer = request(&shared, &token, "pid_sd_jwt", proofs).await;
            assert_refused(&answer, "invalid_proof", "wrong nonce");
        }

        // Accepted: 2 (batch) + 1; rejected: no header, the mismatches (and
        // the bare one with the nonce required).
        let expected = if with_nonce { (3, 4) } else { (3, 3) };
        assert_eq!(counters(&shared), expected, "{mode:?}");
    }
}

#[tokio::test]
async fn the_attestation_proof_type_issues_one_credential_per_attested_key() {
    let ids = ["pid_sd_jwt", "pid_jwt_vc", "pid_mdoc", "mdl_mdoc"];
    for mode in [
        KeyAttestations::Required,
        KeyAttestations::RequiredWithNonce,
    ] {
        let shared = issuer(mode, Some(3));
        let token = token(&shared, &ids).await;
        for id in ids {
            for count in [1, 3] {
                let jwks: Vec<Value> = (0..count).map(|_| holder().1).collect();
                let nonce = c_nonce(&shared).await;
                let attestation = attest(&shared, &jwks, Some(&nonce));
                let answer =
                    request(&shared, &token, id, json!({"attestation": [attestation]})).await;
                let credentials = issued(&answer);
                assert_eq!(credentials.len(), count, "{id}");
                for (credential, jwk) in credentials.iter().zip(&jwks) {
                    assert_bound(id, credential, jwk);
                }
            }
        }
        // One per attestation.
        assert_eq!(counters(&shared), (8, 0), "{mode:?}");
    }

    // Without batch issuance: one key only.
    let shared = issuer(KeyAttestations::Required, None);
    let token = token(&shared, &["pid_sd_jwt"]).await;
    let jwks = [holder().1, holder().1];
    let nonce = c_nonce(&shared).await;
    let answer = request(
        &shared,
        &token,
        "pid_sd_jwt",
        json!({"attestation": [attest(&shared, &jwks, Some(&nonce))]}),
    )
    .await;
    assert_refused(&answer, "invalid_proof", "attests 2 keys");
    let answer = request(
        &shared,
        &token,
        "pid_sd_jwt",
        json!({"attestation": [attest(&shared, &jwks[..1], Some(&nonce))]}),
    )
    .await;
    assert_bound("pid_sd_jwt", &issued(&answer)[0], &jwks[0]);
}

#[tokio::test]
async fn each_key_attestation_defect_is_invalid_proof_naming_it() {
    let defects = [
        (faulty(KeyAttestationFault::Expired), "expired"),
        (
            faulty(KeyAttestationFault::UnknownProvider),
            "unknown wallet provider",
        ),
        (faulty(KeyAttestationFault::NoExp), "no exp"),
        (
            KeyAttestationOptions {
                lifetime: Duration::ZERO,
                ..KeyAttestationOptions::default()
            },
            "expired",
        ),
        (
            levels(&["iso_18045_basic"], &["iso_18045_high"]),
            "key_storage level too low",
        ),
        (
            levels(&["iso_18045_high"], &["iso_18045_moderate"]),
            "user_authentication level too low",
        ),
        (
            levels(&[], &["iso_18045_high"]),
            "key_storage level too low",
        ),
    ];
    for mode in [
        KeyAttestations::Required,
        KeyAttestations::RequiredWithNonce,
    ] {
        let shared = issuer(mode, Some(3));
        let token = token(&shared, &["pid_sd_jwt"]).await;
        let (key, jwk) = holder();
        let nonce = c_nonce(&shared).await;
        let rejected = std::cell::Cell::new(0);
        let refuse = |answer: Answer, needle: &str| {
            assert_refused(&answer, "invalid_proof", needle);
            rejected.set(rejected.get() + 1);
        };

        for (options, needle) in &defects {
            let bad = attest_with(
                &shared,
                std::slice::from_ref(&jwk),
                Some(&nonce),
                options.clone(),
            );
            // In a jwt proof's header.
            let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some(&bad))]});
            refuse(request(&shared, &token, "pid_sd_jwt", proofs).await, needle);
            // As the attestation proof.
            let proofs = json!({"attestation": [bad]});
            refuse(request(&shared, &token, "pid_sd_jwt", proofs).await, needle);
        }

        // The proof's key is not attested (another key is).
        let others = attest(&shared, &[holder().1], Some(&nonce));
        let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some(&others))]});
        refuse(
            request(&shared, &token, "pid_sd_jwt", proofs).await,
            "proof's key is not attested",
        );

        // Wrong nonces: a made-up one (both proof types), none (the
        // attestation proof type always needs one).
        let made_up = attest(&shared, std::slice::from_ref(&jwk), Some("made-up"));
        let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some(&made_up))]});
        refuse(
            request(&shared, &token, "pid_sd_jwt", proofs).await,
            "wrong nonce",
        );
        // As the attestation proof, a nonce that is not ours is stale:
        // invalid_nonce, so the wallet fetches a fresh one and retries.
        let answer = request(
            &shared,
            &token,
            "pid_sd_jwt",
            json!({"attestation": [made_up]}),
        )
        .await;
        assert_refused(&answer, "invalid_nonce", "wrong nonce");
        rejected.set(rejected.get() + 1);
        let without = attest(&shared, std::slice::from_ref(&jwk), None);
        refuse(
            request(
                &shared,
                &token,
                "pid_sd_jwt",
                json!({"attestation": [without]}),
            )
            .await,
            "wrong nonce",
        );

        // The attestation proof's keys: none, more than batch_size, a
        // private key, not P-256.
        for (keys, needle) in [
            (vec![], "attests 0 keys"),
            (
                (0..4).map(|_| holder().1).collect::<Vec<_>>(),
                "attests 4 keys",
            ),
            (
                vec![{
                    let mut private = jwk.clone();
                    private["d"] = json!(B64.encode(key.to_bytes()));
                    private
                }],
                "private key",
            ),
            (
                vec![json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"})],
                "not a P-256 public key",
            ),
        ] {
            let bad = attest(&shared, &keys, Some(&nonce));
            refuse(
                request(&shared, &token, "pid_sd_jwt", json!({"attestation": [bad]})).await,
                needle,
            );
        }

        // Not a key attestation at all: not a JWS, another typ.
        let not_jws = "garbage".to_string();
        let self_signed = proof(
            &key,
            json!({"typ": "JWT", "alg": "ES256"}),
            json!({"attested_keys": [jwk], "nonce": nonce}),
        );
        for (bad, needle) in [
            (not_jws, "compact JWS"),
            (self_signed, "typ must be key-attestation+jwt"),
        ] {
            let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some(&bad))]});
            refuse(request(&shared, &token, "pid_sd_jwt", proofs).await, needle);
            refuse(
                request(&shared, &token, "pid_sd_jwt", json!({"attestation": [bad]})).await,
                needle,
            );
        }

        // None of that used up the nonce.
        let good = attest(&shared, std::slice::from_ref(&jwk), Some(&nonce));
        let answer = request(
            &shared,
            &token,
            "pid_sd_jwt",
            json!({"attestation": [good]}),
        )
        .await;
        assert_bound("pid_sd_jwt", &issued(&answer)[0], &jwk);
        assert_eq!(counters(&shared), (1, rejected.get()), "{mode:?}");
    }
}

#[tokio::test]
async fn the_test_endpoint_makes_each_defect_and_the_issuer_names_it() {
    let shared = issuer(KeyAttestations::RequiredWithNonce, Some(3));
    let token = token(&shared, &["pid_sd_jwt"]).await;
    let (key, jwk) = holder();
    let nonce = c_nonce(&shared).await;
    let make = |extra: Value| {
        let shared = &shared;
        let mut body = json!({"keys": [jwk], "nonce": nonce});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        async move {
            let answer = call(
                shared,
                Role::Both,
                Method::POST,
                "/test/key-attestation",
                &[],
                body.to_string(),
            )
            .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            answer.body["key_attestation"].as_str().unwrap().to_string()
        }
    };
    for (extra, needle) in [
        (json!({"fault": "expired"}), "expired"),
        (
            json!({"fault": "unknown-provider"}),
            "unknown wallet provider",
        ),
        (json!({"fault": "no-exp"}), "no exp"),
        (json!({"lifetime_secs": 0}), "expired"),
        (
            json!({"key_storage": ["iso_18045_basic"]}),
            "key_storage level too low",
        ),
        (
            json!({"user_authentication": ["iso_18045_moderate"]}),
            "user_authentication level too low",
        ),
        (json!({"nonce": "made-up"}), "wrong nonce"),
        (json!({"nonce": null}), "wrong nonce"),
        (json!({"keys": [holder().1]}), "proof's key is not attested"),
    ] {
        let bad = make(extra).await;
        let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some(&bad))]});
        let answer = request(&shared, &token, "pid_sd_jwt", proofs).await;
        assert_refused(&answer, "invalid_proof", needle);
    }
    // The defaults, explicit: accepted.
    let good = make(json!({
        "key_storage": ["iso_18045_high"],
        "user_authentication": ["iso_18045_basic", "iso_18045_high"],
        "fault": null,
        "lifetime_secs": 120,
    }))
    .await;
    let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some(&good))]});
    assert_bound(
        "pid_sd_jwt",
        &issued(&request(&shared, &token, "pid_sd_jwt", proofs).await)[0],
        &jwk,
    );
    assert_eq!(counters(&shared), (1, 9));
}

#[tokio::test]
async fn a_nonce_is_used_once() {
    let shared = issuer(KeyAttestations::RequiredWithNonce, Some(3));
    let token = token(&shared, &["pid_sd_jwt"]).await;
    let (key, jwk) = holder();

    // The attestation proof type: once.
    let nonce = c_nonce(&shared).await;
    let attestation = attest(&shared, std::slice::from_ref(&jwk), Some(&nonce));
    let proofs = json!({"attestation": [attestation]});
    issued(&request(&shared, &token, "pid_sd_jwt", proofs.clone()).await);
    let answer = request(&shared, &token, "pid_sd_jwt", proofs).await;
    assert_refused(&answer, "invalid_nonce", "wrong nonce");
    assert_refused(&answer, "invalid_nonce", "used");
    // Its nonce is used up for jwt proofs too.
    let header = attest(&shared, std::slice::from_ref(&jwk), Some(&nonce));
    let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some(&header))]});
    let answer = request(&shared, &token, "pid_sd_jwt", proofs).await;
    assert_refused(&answer, "invalid_nonce", "unknown, used or expired");

    // A jwt proof with its key attestation: once (the proof's nonce, the
    // attestation's too, is used up).
    let nonce = c_nonce(&shared).await;
    let header = attest(&shared, std::slice::from_ref(&jwk), Some(&nonce));
    let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some(&header))]});
    issued(&request(&shared, &token, "pid_sd_jwt", proofs.clone()).await);
    let answer = request(&shared, &token, "pid_sd_jwt", proofs).await;
    assert_refused(&answer, "invalid_nonce", "unknown, used or expired");
    let answer = request(
        &shared,
        &token,
        "pid_sd_jwt",
        json!({"attestation": [attest(&shared, std::slice::from_ref(&jwk), Some(&nonce))]}),
    )
    .await;
    assert_refused(&answer, "invalid_nonce", "wrong nonce");

    // An expired c_nonce.
    let stale = "stale-nonce".to_string();
    let long_ago = Instant::now()
        .checked_sub(Duration::from_secs(301))
        .expect("a monotonic clock older than five minutes");
    shared.lock().nonces.insert(stale.clone(), long_ago);
    let answer = request(
        &shared,
        &token,
        "pid_sd_jwt",
        json!({"attestation": [attest(&shared, std::slice::from_ref(&jwk), Some(&stale))]}),
    )
    .await;
    assert_refused(&answer, "invalid_nonce", "expired");
    // Each checked attestation counts, also when the proof's nonce then
    // fails: four accepted (two of them in requests refused for the used
    // nonce), three refused.
    assert_eq!(counters(&shared), (4, 3));
}

#[tokio::test]
async fn the_attestation_proof_type_is_refused_when_key_attestations_are_off() {
    let shared = issuer(KeyAttestations::Off, Some(3));
    let answer = call(
        &shared,
        Role::Both,
        Method::GET,
        "/.well-known/openid-credential-issuer/tenant",
        &[],
        String::new(),
    )
    .await;
    assert_eq!(
        answer.body["credential_configurations_supported"]["pid_sd_jwt"]["proof_types_supported"],
        json!({"jwt": {"proof_signing_alg_values_supported": ["ES256"]}})
    );
    let token = token(&shared, &["pid_sd_jwt", "pid_mdoc"]).await;
    let (key, jwk) = holder();
    let nonce = c_nonce(&shared).await;
    for id in ["pid_sd_jwt", "pid_mdoc"] {
        let attestation = attest(&shared, std::slice::from_ref(&jwk), Some(&nonce));
        let answer = request(&shared, &token, id, json!({"attestation": [attestation]})).await;
        assert_refused(
            &answer,
            "invalid_proof",
            "the attestation proof type is not supported",
        );
    }
    // jwt proofs need no attestation, and a header (even garbage) is ignored.
    let proofs = json!({"jwt": [jwt_proof(&key, &jwk, &nonce, Some("garbage"))]});
    assert_bound(
        "pid_sd_jwt",
        &issued(&request(&shared, &token, "pid_sd_jwt", proofs).await)[0],
        &jwk,
    );
    assert!(shared
        .stats()
        .keys()
        .all(|k| !k.starts_with("key_attestations")));
}

#[tokio::test]
async fn malformed_proofs_are_invalid_credential_requests() {
    let shared = issuer(KeyAttestations::Required, Some(3));
    let token = token(&shared, &["pid_sd_jwt"]).await;
    let (key, jwk) = holder();
    let nonce = c_nonce(&shared).await;
    let attestation = attest(&shared, std::slice::from_ref(&jwk), Some(&nonce));
    let jwt = jwt_proof(&key, &jwk, &nonce, Some(&attestation));
    for (proofs, needle) in [
        (
            json!({"jwt": [jwt], "attestation": [attestation]}),
            "must not mix jwt and attestation",
        ),
        (
            json!({"jwt": [], "attestation": [attestation]}),
            "must not mix jwt and attestation",
        ),
        (json!({"attestation": []}), "exactly one key attestation"),
        (
            json!({"attestation": [attestation, attestation]}),
            "exactly one key attestation",
        ),
        (json!({"attestation": [1]}), "proofs.attestation"),
        (json!({"attestation": attestation}), "proofs.attestation"),
        (json!({"jwt": [1]}), "proofs.jwt"),
        (json!({}), "proof type"),
        (json!([jwt]), "proofs must be an object"),
        (
            json!({"jwt": [jwt], "di_vp": [{}]}),
            "exactly one proof type",
        ),
    ] {
        let answer = request(&shared, &token, "pid_sd_jwt", proofs).await;
        assert_refused(&answer, "invalid_credential_request", needle);
    }
    let answer = request(&shared, &token, "pid_sd_jwt", json!({"di_vp": [{}]})).await;
    assert_refused(
        &answer,
        "invalid_proof",
        "the di_vp proof type is not supported",
    );
    // The nonce was not used: the attestation proof alone is fine.
    let answer = request(
        &shared,
        &token,
        "pid_sd_jwt",
        json!({"attestation": [attestation]}),
    )
    .await;
    assert_bound("pid_sd_jwt", &issued(&answer)[0], &jwk);
    // Nothing but that one was checked.
    assert_eq!(counters(&shared), (1, 0));
}

#[tokio::test]
async fn the_test_endpoint_takes_levels_faults_and_lifetimes() {
    let shared = issuer(KeyAttestations::Off, Some(3));
    let (_, jwk) = holder();
    let make = |extra: Value| {
        let shared = &shared;
        let mut body = json!({"keys": [jwk]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        async move {
            call(
                shared,
                Role::Both,
                Method::POST,
                "/test/key-attestation",
                &[],
                body.to_string(),
            )
            .await
        }
    };
    let jwt_of = |answer: &Answer| -> String {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.body["key_attestation"].as_str().unwrap().to_string()
    };

    let jwt = jwt_of(&make(json!({})).await);
    assert_eq!(
        jws_part(&jwt, 0),
        json!({"typ": "key-attestation+jwt", "alg": "ES256"})
    );
    let claims = jws_part(&jwt, 1);
    assert_eq!(claims["iss"], format!("{BASE}/wallet-provider"));
    assert_eq!(claims["attested_keys"], json!([jwk]));
    assert_eq!(claims["key_storage"], json!(["iso_18045_high"]));
    assert_eq!(claims["user_authentication"], json!(["iso_18045_high"]));
    assert!(claims.get("nonce").is_none());
    let lifetime = |c: &Value| c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert_eq!(lifetime(&claims), 3600);
    assert!(shared.wallet_provider.verify_key_attestation(&jwt).is_ok());

    let claims = jws_part(
        &jwt_of(
            &make(json!({
                "key_storage": ["iso_18045_basic"],
                "user_authentication": [],
                "lifetime_secs": 60,
                "nonce": "n-1",
            }))
            .await,
        ),
        1,
    );
    assert_eq!(claims["key_storage"], json!(["iso_18045_basic"]));
    assert_eq!(claims["user_authentication"], json!([]));
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(lifetime(&claims), 60);

    let claims = jws_part(&jwt_of(&make(json!({"fault": "expired"})).await), 1);
    assert!(claims["exp"].as_i64().unwrap() < now_secs());
    assert_eq!(lifetime(&claims), 3600);
    let claims = jws_part(&jwt_of(&make(json!({"fault": "no-exp"})).await), 1);
    assert!(claims.get("exp").is_none());
    assert!(claims["iat"].is_i64());
    let forged = jwt_of(&make(json!({"fault": "unknown-provider"})).await);
    assert_eq!(
        jws_part(&forged, 1)["iss"],
        format!("{BASE}/wallet-provider")
    );
    let refused = shared
        .wallet_provider
        .verify_key_attestation(&forged)
        .unwrap_err();
    assert!(refused.contains("unknown wallet provider"), "{refused}");

    for bad in [
        json!({"key_storage": "iso_18045_high"}),
        json!({"key_storage": [1]}),
        json!({"user_authentication": {}}),
        json!({"fault": "nope"}),
        json!({"fault": 1}),
        json!({"lifetime_secs": -1}),
        json!({"lifetime_secs": "60"}),
    ] {
        let answer = make(bad.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.error(), "invalid_request", "{bad}");
    }
}

#[test]
fn fault_names_round_trip() {
    for fault in KeyAttestationFault::ALL {
        assert_eq!(KeyAttestationFault::from_name(fault.name()), Some(fault));
        assert_eq!(
            serde_json::to_value(fault).unwrap(),
            json!(fault.name()),
            "serde agrees"
        );
    }
    assert_eq!(
        KeyAttestationFault::UnknownProvider.name(),
        "unknown-provider"
    );
    assert_eq!(KeyAttestationFault::from_name("nope"), None);
}

#[test]
fn the_builder_takes_a_mode_and_the_old_bool() {
    let mode = |b: crate::IssuerBuilder| b.settings.key_attestations;
    assert_eq!(mode(Issuer::builder()), KeyAttestations::Off);
    assert_eq!(
        mode(Issuer::builder().key_attestations_required(true)),
        KeyAttestations::Required
    );
    assert_eq!(
        mode(
            Issuer::builder()
                .key_attestations(KeyAttestations::RequiredWithNonce)
                .key_attestations_required(false)
        ),
        KeyAttestations::Off
    );
    assert_eq!(
        mode(Issuer::builder().key_attestations(KeyAttestations::RequiredWithNonce)),
        KeyAttestations::RequiredWithNonce
    );
}

#[tokio::test]
async fn a_running_issuer_hands_out_attestations_with_options() {
    let issuer = Issuer::builder()
        .key_attestations(KeyAttestations::RequiredWithNonce)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let (_, jwk) = holder();
    let jwt = issuer.issue_key_attestation_with(
        std::slice::from_ref(&jwk),
        Some("n-1"),
        KeyAttestationOptions {
            key_storage: vec!["iso_18045_enhanced-basic".into()],
            user_authentication: vec!["iso_18045_high".into()],
            fault: Some(KeyAttestationFault::NoExp),
            lifetime: Duration::from_secs(30),
        },
    );
    let claims = jws_part(&jwt, 1);
    assert_eq!(
        claims["iss"],
        format!("{}/wallet-provider", issuer.base_url())
    );
    assert_eq!(claims["attested_keys"], json!([jwk]));
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["key_storage"], json!(["iso_18045_enhanced-basic"]));
    assert!(claims.get("exp").is_none());
    let plain = jws_part(
        &issuer.issue_key_attestation(&[jwk], None, Duration::from_secs(30)),
        1,
    );
    assert_eq!(
        plain["exp"].as_i64().unwrap() - plain["iat"].as_i64().unwrap(),
        30
    );
    assert_eq!(plain["key_storage"], json!(["iso_18045_high"]));
    let stats = issuer.stats();
    assert_eq!(stats["key_attestations_accepted"], 0, "{stats:?}");
    assert_eq!(stats["key_attestations_rejected"], 0, "{stats:?}");
}
