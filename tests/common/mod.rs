//! Shared helpers: a reference issuer on a loopback port and a wallet for it.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use oid4vci_issuer::{CreatedOffer, Fault, Issuer, IssuerBuilder, OfferRequest, RunningIssuer};
use oid4vci_wallet::Wallet;

pub async fn start(builder: IssuerBuilder) -> RunningIssuer {
    builder
        .spawn("127.0.0.1:0")
        .await
        .expect("reference issuer starts")
}

pub async fn default_issuer() -> RunningIssuer {
    start(Issuer::builder()).await
}

pub fn wallet() -> Wallet {
    Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .build()
        .expect("wallet builds")
}

pub fn offer(ids: &[&str], tx_code: bool, by_reference: bool, deferred: bool) -> OfferRequest {
    OfferRequest {
        credential_configuration_ids: Some(ids.iter().map(|s| s.to_string()).collect()),
        tx_code: Some(tx_code),
        by_reference: Some(by_reference),
        deferred: Some(deferred),
        claims: None,
        authorization_code: None,
    }
}

/// Requests to protocol endpoints, by path.
pub fn count(issuer: &RunningIssuer, needle: &str) -> u64 {
    issuer
        .stats()
        .iter()
        .filter(|(path, _)| path.contains(needle))
        .map(|(_, n)| *n)
        .sum()
}

/// An offer URL carrying the given JSON by value.
pub fn by_value(json: &serde_json::Value) -> String {
    format!(
        "openid-credential-offer://?credential_offer={}",
        url::form_urlencoded::byte_serialize(json.to_string().as_bytes()).collect::<String>()
    )
}
