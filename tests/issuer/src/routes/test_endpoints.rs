//! The business system's side, for tests and the binary (`/test/*`):
//! creating offers, wallet and key attestations of the trusted wallet
//! provider, the request counters and the test root CA. (The offer page is
//! in `offers`.)

use super::{bad_request, oauth_error, ok, respond, Request};
use crate::attestation::{KeyAttestationFault, KeyAttestationOptions};
use crate::credential;
use crate::state::Shared;
use crate::OfferRequest;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use std::time::Duration;

/// `POST /test/offers` with an [`OfferRequest`] (an empty body: the
/// default offer): the offer, its URL and codes.
pub(super) fn test_offers(shared: &Shared, request: &Request) -> Response {
    let offer: OfferRequest = if request.body.is_empty() {
        OfferRequest::default()
    } else {
        match serde_json::from_slice(&request.body) {
            Ok(offer) => offer,
            Err(e) => return bad_request("invalid_request", &format!("offer request: {e}")),
        }
    };
    if let Some(ids) = &offer.credential_configuration_ids {
        if let Some(unknown) = ids
            .iter()
            .find(|id| credential::configuration(id).is_none())
        {
            return bad_request(
                "invalid_request",
                &format!("unknown credential configuration {unknown}"),
            );
        }
    }
    ok(json!(shared.create_offer(offer)))
}

/// `GET /test/stats`: the per-endpoint request counts and the counters.
pub(super) fn test_stats(shared: &Shared) -> Response {
    ok(json!(shared.stats()))
}

/// `GET /test/trust`: the test root CA as PEM.
pub(super) fn test_trust(shared: &Shared) -> Response {
    match shared.pki() {
        Ok(pki) => respond(
            StatusCode::OK,
            "application/x-pem-file",
            pki.root_pem().to_string(),
        ),
        Err(e) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            &format!("no test PKI: {e}"),
        ),
    }
}

/// `POST /test/wallet-attestation` `{"client_id", "jwk", "lifetime_secs"?}`
/// (lifetime default one hour): `{"wallet_attestation": <JWT>}` of the
/// trusted wallet provider. The `jwk` goes into `cnf.jwk` as given.
pub(super) fn test_wallet_attestation(shared: &Shared, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return bad_request("invalid_request", "the body is not a JSON object");
    };
    let Some(client_id) = body.get("client_id").and_then(Value::as_str) else {
        return bad_request("invalid_request", "client_id (a string) is required");
    };
    let Some(jwk) = body.get("jwk").filter(|j| j.is_object()) else {
        return bad_request("invalid_request", "jwk (a JSON object) is required");
    };
    let lifetime = match body.get("lifetime_secs") {
        None | Some(Value::Null) => WALLET_ATTESTATION_LIFETIME,
        Some(v) => match v.as_u64() {
            Some(secs) => Duration::from_secs(secs),
            None => {
                return bad_request(
                    "invalid_request",
                    "lifetime_secs must be a non-negative integer",
                )
            }
        },
    };
    ok(json!({
        "wallet_attestation": shared.wallet_provider.issue(client_id, jwk, lifetime),
    }))
}

/// `POST /test/key-attestation {"keys": [jwk, ...], "nonce"?: text,
/// "key_storage"?: [text], "user_authentication"?: [text], "fault"?:
/// "expired" | "unknown-provider" | "no-exp", "lifetime_secs"?: n}`: a key
/// attestation of the trusted wallet provider for `keys` (what an app's
/// wallet provider would return): levels default `["iso_18045_high"]`,
/// valid for an hour by default, with the deliberate defect `fault`.
pub(super) fn test_key_attestation(shared: &Shared, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return bad_request("invalid_request", "the body is not a JSON object");
    };
    let Some(keys) = body
        .get("keys")
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty() && k.len() <= 16 && k.iter().all(Value::is_object))
    else {
        return bad_request(
            "invalid_request",
            "keys (an array of 1 to 16 JWK objects) is required",
        );
    };
    let nonce = match body.get("nonce") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.as_str()),
        Some(_) => return bad_request("invalid_request", "nonce must be a string"),
    };
    let mut options = KeyAttestationOptions {
        lifetime: WALLET_ATTESTATION_LIFETIME,
        ..KeyAttestationOptions::default()
    };
    for (name, levels) in [
        ("key_storage", &mut options.key_storage),
        ("user_authentication", &mut options.user_authentication),
    ] {
        match body.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) if list.len() <= 16 && list.iter().all(Value::is_string) => {
                *levels = list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
            }
            Some(_) => {
                return bad_request(
                    "invalid_request",
                    &format!("{name} must be an array of at most 16 strings"),
                )
            }
        }
    }
    options.fault = match body.get("fault") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().and_then(KeyAttestationFault::from_name) {
            Some(fault) => Some(fault),
            None => {
                return bad_request(
                    "invalid_request",
                    "fault must be expired, unknown-provider or no-exp",
                )
            }
        },
    };
    match body.get("lifetime_secs") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64() {
            Some(secs) => options.lifetime = Duration::from_secs(secs),
            None => {
                return bad_request(
                    "invalid_request",
                    "lifetime_secs must be a non-negative integer",
                )
            }
        },
    }
    ok(json!({
        "key_attestation": shared
            .wallet_provider
            .issue_key_attestation_with(keys, nonce, &options),
    }))
}

/// The default lifetime of attestations made by `/test/wallet-attestation`.
const WALLET_ATTESTATION_LIFETIME: Duration = Duration::from_secs(3600);
