//! Properties: every message type that parses round-trips through serde to an
//! equal value; no parser panics on arbitrary or mutated input, and what they
//! refuse comes back as the right typed error with text safe to show.

use oid4vci_wallet::flow::parse_offer_url;
use oid4vci_wallet::flow::DiscoveredMetadata;
use oid4vci_wallet::flow::EngineConfig;
use oid4vci_wallet::flow::{AuthorizationBegin, AuthorizationSecrets, RequestMode};
use oid4vci_wallet::types::*;
use oid4vci_wallet::verify::SdJwt;
use oid4vci_wallet::AuthorizationCodeStep;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Valid documents of each kind, the seeds that mutations start from.
fn samples() -> Vec<Value> {
    vec![
        json!({
            "credential_issuer": "https://i.ex", "credential_endpoint": "https://i.ex/c",
            "nonce_endpoint": "https://i.ex/n", "authorization_servers": ["https://as.ex"],
            "batch_credential_issuance": {"batch_size": 3},
            "display": [{"name": "Issuer", "locale": "en", "logo": {"uri": "https://i.ex/l.png"}}],
            "credential_configurations_supported": {"pid": {
                "format": "dc+sd-jwt", "vct": "urn:pid", "scope": "pid",
                "cryptographic_binding_methods_supported": ["jwk"],
                "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
                "credential_metadata": {"display": [{"name": "PID", "locale": "de"}],
                    "claims": [{"path": ["address", "locality"], "mandatory": true,
                                "display": [{"name": "Ort", "locale": "de"}]}]}
            }}
        }),
        json!({"issuer": "https://as.ex", "token_endpoint": "https://as.ex/t",
               "authorization_endpoint": "https://as.ex/a",
               "pushed_authorization_request_endpoint": "https://as.ex/par",
               "code_challenge_methods_supported": ["S256"],
               "pre-authorized_grant_anonymous_access_supported": true}),
        json!({"credential_issuer": "https://i.ex", "credential_configuration_ids": ["pid"],
               "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                   "pre-authorized_code": "c", "tx_code": {"input_mode": "numeric", "length": 6}},
                   "authorization_code": {"issuer_state": "s"}}}),
        json!({"access_token": "a", "token_type": "Bearer", "expires_in": 60,
               "refresh_token": "r", "c_nonce": "n",
               "authorization_details": [{"type": "openid_credential",
                   "credential_configuration_id": "pid", "credential_identifiers": ["p1"]}]}),
        json!({"c_nonce": "n"}),
        json!({"credential_identifier": "p1", "proofs": {"jwt": ["a.b.c"]}}),
        json!({"credentials": [{"credential": "x~"}], "notification_id": "n1"}),
        json!({"transaction_id": "t", "interval": 5}),
        json!({"notification_id": "n", "event": "credential_accepted"}),
        json!({"error": "invalid_grant", "error_description": "no"}),
    ]
}

/// Small arbitrary JSON.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("https://i.ex"),
            Just("pid"),
            Just("jwt"),
            Just("Bearer"),
            Just("dc+sd-jwt"),
            Just("numeric"),
            Just("credential_accepted"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a pseudo-random place in `doc` with `with`.
fn mutate(doc: &mut Value, choice: usize, with: Value) {
    let len = match doc {
        Value::Object(map) => map.len(),
        Value::Array(list) => list.len(),
        _ => 0,
    };
    if len == 0 {
        *doc = with;
        return;
    }
    let rest = choice / len;
    let child = match doc {
        Value::Object(map) => map.values_mut().nth(choice % len),
        Value::Array(list) => list.get_mut(choice % len),
        _ => None,
    };
    match child {
        Some(child) if rest % 2 == 1 => mutate(child, rest / 2, with),
        Some(child) => *child = with,
        None => {}
    }
}

/// If `value` parses as `T`, its serialization parses back to an equal `T`.
fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &Value,
) -> Result<(), TestCaseError> {
    if let Ok(parsed) = serde_json::from_value::<T>(value.clone()) {
        let again = serde_json::from_value::<T>(serde_json::to_value(&parsed).unwrap());
        prop_assert!(again.is_ok(), "a serialized message does not parse again");
        prop_assert_eq!(parsed, again.unwrap());
    }
    Ok(())
}

/// [`round_trips`] for every message type.
fn every_type_round_trips(value: &Value) -> Result<(), TestCaseError> {
    round_trips::<IssuerMetadata>(value)?;
    round_trips::<AuthorizationServerMetadata>(value)?;
    round_trips::<CredentialOffer>(value)?;
    round_trips::<TokenResponse>(value)?;
    round_trips::<NonceResponse>(value)?;
    round_trips::<CredentialRequest>(value)?;
    round_trips::<CredentialResponse>(value)?;
    round_trips::<DeferredRequest>(value)?;
    round_trips::<NotificationRequest>(value)?;
    round_trips::<ErrorResponse>(value)
}

#[test]
fn every_sample_parses_as_its_type_and_round_trips() {
    let s = samples();
    fn exact<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &Value) {
        let parsed: T = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            serde_json::from_value::<T>(serde_json::to_value(&parsed).unwrap()).unwrap(),
            parsed
        );
    }
    exact::<IssuerMetadata>(&s[0]);
    exact::<AuthorizationServerMetadata>(&s[1]);
    exact::<CredentialOffer>(&s[2]);
    exact::<TokenResponse>(&s[3]);
    exact::<NonceResponse>(&s[4]);
    exact::<CredentialRequest>(&s[5]);
    exact::<CredentialResponse>(&s[6]);
    exact::<CredentialResponse>(&s[7]);
    exact::<NotificationRequest>(&s[8]);
    exact::<ErrorResponse>(&s[9]);
}

/// Error text an app may show: bounded and free of control characters.
fn safe_to_show(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        text.chars().count() <= 2000,
        "unbounded error text ({} chars)",
        text.len()
    );
    prop_assert!(
        !text.chars().any(char::is_control),
        "control characters in {text:?}"
    );
    Ok(())
}

fn pending() -> oid4vci_wallet::PendingAuthorization {
    let s = samples();
    let context = DiscoveredMetadata {
        issuer: serde_json::from_value(s[0].clone()).unwrap(),
        authorization_server: serde_json::from_value(json!({
            "issuer": "https://as.ex", "token_endpoint": "https://as.ex/t",
            "authorization_endpoint": "https://as.ex/a",
            "authorization_response_iss_parameter_supported": true
        }))
        .unwrap(),
    };
    let step = AuthorizationCodeStep::new(context, vec!["pid".into()], None).unwrap();
    let secrets = AuthorizationSecrets {
        verifier: PkceVerifier::new("v".repeat(43)),
        state: "s".into(),
        dpop: None,
    };
    match step
        .begin("w", "https://w.ex/cb", RequestMode::Auto, secrets)
        .unwrap()
    {
        AuthorizationBegin::Ready(p) => p,
        AuthorizationBegin::Pushed(_) => unreachable!("no PAR endpoint"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_documents_round_trip_when_they_parse(
        which in 0usize..10, choice in any::<usize>(), with in any_json()
    ) {
        let mut doc = samples()[which].clone();
        mutate(&mut doc, choice, with);
        every_type_round_trips(&doc)?;
    }

    #[test]
    fn arbitrary_json_round_trips_when_it_parses(value in any_json()) {
        every_type_round_trips(&value)?;
    }

    #[test]
    fn the_offer_url_parser_never_panics_and_its_errors_are_safe_to_show(
        text in ".{0,200}", doc in any_json(), scheme in 0usize..4
    ) {
        let config = EngineConfig { allow_http: true, ..EngineConfig::default() };
        let encoded: String =
            url::form_urlencoded::byte_serialize(doc.to_string().as_bytes()).collect();
        let prefix = ["openid-credential-offer://", "haip-vci://", "https://w.ex/o", "haip://"][scheme];
        for input in [
            text.clone(),
            format!("{prefix}?credential_offer={encoded}"),
            format!("{prefix}?credential_offer_uri={encoded}"),
        ] {
            if let Err(e) = parse_offer_url(&input, &config) {
                prop_assert!(
                    matches!(e, oid4vci_wallet::Error::InvalidOffer(_)),
                    "{input:?} gave {e:?}, not InvalidOffer"
                );
                safe_to_show(&e.to_string())?;
            }
        }
    }

    #[test]
    fn the_sd_jwt_decoder_never_panics_and_its_errors_are_safe_to_show(
        parts in prop::collection::vec("[A-Za-z0-9_=.~-]{0,40}", 0..6),
        doc in any_json()
    ) {
        use base64::Engine as _;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let header = b64(&json!({"alg": "ES256", "typ": "dc+sd-jwt"}));
        let disclosure = b64(&json!(["salt", "name", doc.clone()]));
        for input in [
            parts.join("~"),
            format!("{header}.{}.c2ln~{disclosure}~", b64(&doc)),
            format!("{header}.{}.c2ln~{disclosure}~", b64(&json!({"_sd": [doc]}))),
        ] {
            if let Err(e) = SdJwt::parse(&input) {
                safe_to_show(&e)?;
            }
        }
    }

    #[test]
    fn the_callback_parser_never_panics_and_accepts_only_the_right_state(
        query in ".{0,120}", path in "[a-z/]{0,10}"
    ) {
        let p = pending();
        for url in [
            format!("https://w.ex/cb?{query}"),
            format!("https://w.ex/{path}?{query}"),
            query.clone(),
        ] {
            match p.callback(&url) {
                // Only a redirect carrying our state (and the AS's iss) and a code passes.
                Ok(_) => {
                    let pairs: Vec<(String, String)> = url::Url::parse(&url)
                        .map(|u| u.query_pairs().into_owned().collect())
                        .unwrap_or_default();
                    let has = |k: &str, v: Option<&str>| {
                        pairs.iter().any(|(pk, pv)| pk == k && v.is_none_or(|v| pv == v))
                    };
                    prop_assert!(has("state", Some("s")) && has("iss", Some("https://as.ex")) && has("code", None), "{url:?} passed");
                }
                Err(e) => prop_assert!(
                    matches!(e, oid4vci_wallet::Error::Callback(_)),
                    "{url:?} gave {e:?}, not a callback error"
                ),
            }
        }
        let genuine = "https://w.ex/cb?code=c&state=s&iss=https%3A%2F%2Fas.ex";
        prop_assert!(p.callback(genuine).is_ok(), "a genuine redirect was refused");
    }
}
