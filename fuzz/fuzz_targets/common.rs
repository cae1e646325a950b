//! Shared by the fuzz targets: an HTTP response from fuzz bytes, and the
//! states the response handlers need.
#![allow(dead_code)]

use oid4vci_wallet::flow::DiscoveredMetadata;

use oid4vci_wallet::flow::ResolvedOffer;
use oid4vci_wallet::flow::EngineConfig;
use oid4vci_wallet::HttpResponse;
use oid4vci_wallet::{Authorized, Grant};
use serde_json::json;

pub const STATUSES: [u16; 8] = [200, 201, 202, 204, 400, 401, 404, 500];
pub const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/html",
    "application/jwt",
    "",
];

/// Byte 0 picks the status, byte 1 the content type; the rest is the body.
pub fn response(data: &[u8]) -> HttpResponse {
    let status = STATUSES[*data.first().unwrap_or(&0) as usize % STATUSES.len()];
    let ct = CONTENT_TYPES[*data.get(1).unwrap_or(&0) as usize % CONTENT_TYPES.len()];
    let mut headers = Vec::new();
    if !ct.is_empty() {
        headers.push(("content-type".to_string(), ct.to_string()));
    }
    HttpResponse {
        status,
        headers,
        body: data.get(2..).unwrap_or_default().to_vec(),
    }
}

pub fn config() -> EngineConfig {
    EngineConfig {
        allow_http: true,
        ..EngineConfig::default()
    }
}

pub fn context() -> DiscoveredMetadata {
    DiscoveredMetadata {
        issuer: serde_json::from_value(json!({
            "credential_issuer": "https://i.ex",
            "credential_endpoint": "https://i.ex/credential",
            "deferred_credential_endpoint": "https://i.ex/deferred",
            "notification_endpoint": "https://i.ex/notification",
            "batch_credential_issuance": {"batch_size": 2},
            "credential_configurations_supported": {
                "pid": {"format": "dc+sd-jwt", "vct": "urn:pid",
                        "cryptographic_binding_methods_supported": ["jwk"],
                        "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}}},
                "plain": {"format": "dc+sd-jwt", "vct": "urn:plain"}
            }
        }))
        .unwrap(),
        authorization_server: serde_json::from_value(json!({
            "issuer": "https://i.ex", "token_endpoint": "https://i.ex/token",
            "authorization_endpoint": "https://i.ex/authorize",
            "authorization_response_iss_parameter_supported": true
        }))
        .unwrap(),
    }
}

pub fn authorized() -> Authorized {
    let offer = serde_json::from_value(json!({
        "credential_issuer": "https://i.ex",
        "credential_configuration_ids": ["pid", "plain"],
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "c"}}
    }))
    .unwrap();
    let resolved = ResolvedOffer::new(offer, context()).unwrap();
    let Ok(Grant::PreAuthorized(step)) = resolved.grant() else {
        unreachable!()
    };
    let token =
        serde_json::from_value(json!({"access_token": "a", "token_type": "Bearer"})).unwrap();
    step.into_authorized(token, None, 1_700_000_000)
}
