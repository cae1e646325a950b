//! Shared helpers: a reference issuer on a loopback port and a wallet for it.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use oid4vci_issuer::{CreatedOffer, Fault, Issuer, IssuerBuilder, OfferRequest, RunningIssuer};
use oid4vci_wallet::{
    AuthorizationCodeStep, Authorized, Grant, Issuance, IssuedCredential, ResolvedOffer,
    SoftwareSigner, Wallet,
};
use std::collections::HashMap;

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
        legacy_offer: None,
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

/// The value of the first `attr="..."` after `after` in an HTML page.
pub fn attribute(html: &str, after: &str, attr: &str) -> String {
    let start = html
        .find(after)
        .unwrap_or_else(|| panic!("{after} in {html}"));
    let rest = &html[start..];
    let key = format!("{attr}=\"");
    let at = rest.find(&key).unwrap() + key.len();
    let end = rest[at..].find('"').unwrap();
    rest[at..at + end].replace("&amp;", "&")
}

pub fn post_form(
    http: &reqwest::Client,
    url: &str,
    pairs: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

/// What a user does in the browser: opens the URL, signs in, answers the
/// consent question. Returns the redirect (the `Location` the AS sends).
pub async fn browser(url: &str, user: &str, password: &str, allow: bool) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200, "authorization page");
    let html = page.text().await.unwrap();
    let action = attribute(&html, "<form", "action");
    let txn = attribute(&html, "name=\"txn\"", "value");
    let consent = post_form(
        &http,
        &action,
        &[
            ("txn", &txn[..]),
            ("username", user),
            ("password", password),
        ],
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(consent.contains("id=\"allow\""), "{consent}");
    let action = attribute(&consent, "<form", "action");
    let decision = if allow { "allow" } else { "deny" };
    let redirect = post_form(&http, &action, &[("txn", &txn[..]), ("decision", decision)])
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 303);
    redirect.headers()["location"].to_str().unwrap().to_string()
}

/// The query parameters of a URL.
pub fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The authorization code grant of a resolved offer.
pub fn authorization_step(resolved: &ResolvedOffer) -> AuthorizationCodeStep {
    match resolved.grant().unwrap() {
        Grant::AuthorizationCode(step) => step,
        other => panic!("expected the authorization code grant, got {other:?}"),
    }
}

/// Requests one credential with a fresh key; it must be issued at once.
pub async fn one_credential(
    authorized: &mut Authorized,
    wallet: &Wallet,
    id: &str,
) -> IssuedCredential {
    match authorized
        .request_credential(wallet, id, &SoftwareSigner::generate())
        .await
        .unwrap()
    {
        Issuance::Issued(mut list) => list.remove(0),
        Issuance::Deferred(_) => panic!("expected immediate issuance"),
    }
}

/// The wallet-side fixture: offers `ids` at `issuer` (no tx_code, by
/// value, immediate), resolves the offer with `wallet` and redeems its
/// pre-authorized code. Returns the resolved offer and the session.
pub async fn pre_authorized_session(
    issuer: &RunningIssuer,
    wallet: &Wallet,
    ids: &[&str],
) -> (ResolvedOffer, Authorized) {
    let created = issuer.create_offer(offer(ids, false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let authorized = match resolved.grant().unwrap() {
        Grant::PreAuthorized(step) => step.authorize(wallet).await.unwrap(),
        other => panic!("expected the pre-authorized grant, got {other:?}"),
    };
    (resolved, authorized)
}
