//! The authorization code flow over real HTTP against the reference issuer's
//! authorization server: PKCE, PAR, issuer_state, scope and
//! authorization_details, a separate AS, the login page, every callback
//! check, refresh, and resuming a saved pending authorization.

use crate::common::*;
use oid4vci_wallet::CallbackError;
use oid4vci_wallet::{
    DeferredStatus, Error, ErrorCode, Issuance, PendingAuthorization, RequestMode, SoftwareSigner,
    Wallet,
};
use std::time::Duration;

const REDIRECT_URI: &str = "https://wallet.example/callback";

fn code_offer(ids: &[&str], deferred: bool) -> OfferRequest {
    OfferRequest {
        authorization_code: Some(true),
        ..offer(ids, false, false, deferred)
    }
}

async fn pending_for_offer(issuer: &RunningIssuer, wallet: &Wallet) -> PendingAuthorization {
    let created = issuer.create_offer(code_offer(&["pid_sd_jwt"], false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    authorization_step(&resolved)
        .authorization_url(wallet, REDIRECT_URI)
        .await
        .unwrap()
}

#[tokio::test]
async fn offer_with_issuer_state_by_scope_without_par_issues_the_users_claims() {
    let issuer = start(Issuer::builder().pushed_authorization(false)).await;
    let wallet = wallet();
    let pending = pending_for_offer(&issuer, &wallet).await;
    let q = query(pending.url());
    assert!(pending
        .url()
        .starts_with(&format!("{}/authorize?", issuer.issuer_id())));
    assert_eq!(q["scope"], "pid");
    assert_eq!(q["client_id"], "test-wallet");
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 16);
    assert!(q.contains_key("issuer_state"));
    assert!(!q.contains_key("authorization_details"));

    let redirect = browser(pending.url(), "max", "max-password", true).await;
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    let mut authorized = pending.complete(&wallet, &redirect).await.unwrap();
    assert!(authorized.token().refresh_token.is_some());
    // Asked by scope: no credential_identifiers, so the configuration id is sent.
    assert!(authorized.credential_identifiers("pid_sd_jwt").is_empty());
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    let claims = credential.claims.as_ref().unwrap();
    assert_eq!(claims["given_name"], "Max");
    assert_eq!(claims["address"]["locality"], "Hamburg");
    assert!(credential.signature_verified);
    assert_eq!(count(&issuer, "/par"), 0);
}

#[tokio::test]
async fn wallet_initiated_with_required_par_authorization_details_and_a_separate_as() {
    let issuer = start(
        Issuer::builder()
            .separate_authorization_server(true)
            .require_par(true),
    )
    .await;
    assert_ne!(issuer.authorization_server(), issuer.issuer_id());
    let wallet = wallet();
    let step = wallet
        .start_issuance(&issuer.issuer_id(), &["pid_sd_jwt", "membership_sd_jwt"])
        .await
        .unwrap();
    let pending = step
        .authorization_url_with(&wallet, REDIRECT_URI, RequestMode::AuthorizationDetails)
        .await
        .unwrap();
    // Pushed: the browser URL carries only client_id and request_uri, at the AS.
    let q = query(pending.url());
    assert_eq!(q.len(), 2, "{q:?}");
    assert!(q["request_uri"].starts_with("urn:ietf:params:oauth:request_uri:"));
    assert!(pending
        .url()
        .starts_with(&format!("{}/authorize?", issuer.authorization_server())));
    assert_eq!(count(&issuer, "/par"), 1);

    let redirect = browser(pending.url(), "erika", "erika-password", true).await;
    assert_eq!(
        query(&redirect)["iss"],
        issuer.authorization_server(),
        "RFC 9207 iss"
    );
    let mut authorized = pending.complete(&wallet, &redirect).await.unwrap();
    assert_eq!(authorized.credential_identifiers("pid_sd_jwt").len(), 1);
    assert_eq!(
        authorized.credential_identifiers("membership_sd_jwt").len(),
        1
    );
    let pid = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(pid.claims.as_ref().unwrap()["given_name"], "Erika");
    let membership = one_credential(&mut authorized, &wallet, "membership_sd_jwt").await;
    assert_eq!(membership.claims.as_ref().unwrap()["member_id"], "M-1001");
}

#[tokio::test]
async fn scope_mode_and_the_client_id_requirement() {
    // A configuration set where one has no scope cannot be asked by scope;
    // every configuration here has one, so Scope works and Auto picks it.
    let issuer = start(Issuer::builder().pushed_authorization(false)).await;
    let wallet = wallet();
    let step = wallet
        .start_issuance(&issuer.issuer_id(), &["membership_sd_jwt"])
        .await
        .unwrap();
    let pending = step
        .authorization_url_with(&wallet, REDIRECT_URI, RequestMode::Scope)
        .await
        .unwrap();
    assert_eq!(query(pending.url())["scope"], "membership");
    assert!(!query(pending.url()).contains_key("issuer_state"));

    // The authorization code flow needs a client_id.
    let anonymous = Wallet::builder().dangerous_allow_http().build().unwrap();
    let step = anonymous
        .start_issuance(&issuer.issuer_id(), &["pid_sd_jwt"])
        .await
        .unwrap();
    let err = step
        .authorization_url(&anonymous, REDIRECT_URI)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("client_id")),
        "{err}"
    );
}

#[tokio::test]
async fn a_saved_pending_authorization_completes_after_a_restart() {
    let issuer = default_issuer().await;
    let saved = {
        let wallet = wallet();
        pending_for_offer(&issuer, &wallet).await.to_json().unwrap()
        // the app is killed while the browser is open
    };
    assert!(!saved.is_empty());
    let restored = PendingAuthorization::from_json(&saved).unwrap();
    let redirect = browser(restored.url(), "erika", "erika-password", true).await;
    let wallet = wallet();
    let mut authorized = restored.complete(&wallet, &redirect).await.unwrap();
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(
        credential.claims.as_ref().unwrap()["family_name"],
        "Mustermann"
    );
}

fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    {
        let mut q = parsed.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    parsed.into()
}

fn callback_error(err: Error) -> CallbackError {
    match err {
        Error::Callback(e) => e,
        other => panic!("expected a callback error, got {other}"),
    }
}

#[tokio::test]
async fn each_callback_check_stops_the_flow_with_its_own_error() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    let pending = pending_for_offer(&issuer, &wallet).await;
    let redirect = browser(pending.url(), "erika", "erika-password", true).await;
    let tokens_before = count(&issuer, "/token");

    let cases = [
        (
            with_param(&redirect, "state", Some("forged")),
            CallbackError::StateMismatch,
        ),
        (
            with_param(&redirect, "state", None),
            CallbackError::StateMissing,
        ),
        (
            with_param(&redirect, "iss", Some("https://evil.example")),
            CallbackError::IssuerMismatch,
        ),
        // The AS advertises authorization_response_iss_parameter_supported.
        (
            with_param(&redirect, "iss", None),
            CallbackError::IssuerMissing,
        ),
        (
            redirect.replace(REDIRECT_URI, "https://evil.example/callback"),
            CallbackError::WrongRedirectUri,
        ),
    ];
    for (url, expected) in cases {
        let err = pending.clone().complete(&wallet, &url).await.unwrap_err();
        assert_eq!(callback_error(err), expected, "{url}");
    }
    assert_eq!(
        count(&issuer, "/token"),
        tokens_before,
        "no token request after a failed check"
    );

    // The genuine redirect works once; the code replayed is invalid_grant.
    pending.clone().complete(&wallet, &redirect).await.unwrap();
    let err = pending.complete(&wallet, &redirect).await.unwrap_err();
    assert_eq!(
        err.server_error().map(|e| &e.code),
        Some(&ErrorCode::InvalidGrant),
        "{err}"
    );
}

#[tokio::test]
async fn the_user_declining_is_access_denied() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    let pending = pending_for_offer(&issuer, &wallet).await;
    let redirect = browser(pending.url(), "erika", "erika-password", false).await;
    let err = pending.complete(&wallet, &redirect).await.unwrap_err();
    match callback_error(err) {
        CallbackError::Denied(e) => assert_eq!(e.code, ErrorCode::AccessDenied),
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&issuer, "/token"), 0);
}

#[tokio::test]
async fn a_missing_iss_the_server_promised_is_refused() {
    let issuer = start(Issuer::builder().fault(Fault::RedirectWithoutIss)).await;
    let wallet = wallet();
    let pending = pending_for_offer(&issuer, &wallet).await;
    let redirect = browser(pending.url(), "erika", "erika-password", true).await;
    assert!(!query(&redirect).contains_key("iss"));
    let err = pending.complete(&wallet, &redirect).await.unwrap_err();
    assert_eq!(callback_error(err), CallbackError::IssuerMissing);
}

#[tokio::test]
async fn the_login_page_refuses_a_wrong_password() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    let pending = pending_for_offer(&issuer, &wallet).await;
    let http = reqwest::Client::new();
    let html = http
        .get(pending.url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = attribute(&html, "<form", "action");
    let txn = attribute(&html, "name=\"txn\"", "value");
    let again = post_form(
        &http,
        &action,
        &[
            ("txn", &txn[..]),
            ("username", "erika"),
            ("password", "wrong"),
        ],
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(again.contains("Wrong user name or password"), "{again}");
    assert!(!again.contains("id=\"allow\""));
}

async fn deferred_after_login(
    issuer: &RunningIssuer,
    wallet: &Wallet,
) -> oid4vci_wallet::DeferredPending {
    let created = issuer.create_offer(code_offer(&["pid_sd_jwt"], true));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let pending = authorization_step(&resolved)
        .authorization_url(wallet, REDIRECT_URI)
        .await
        .unwrap();
    let redirect = browser(pending.url(), "max", "max-password", true).await;
    let mut authorized = pending.complete(wallet, &redirect).await.unwrap();
    match authorized
        .request_credential(wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    {
        Issuance::Deferred(p) => p,
        Issuance::Issued(_) => panic!("expected deferred"),
    }
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_before_a_deferred_poll() {
    let issuer = start(
        Issuer::builder()
            .access_token_lifetime(Duration::from_secs(1))
            .deferred_pending_polls(0)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let mut pending = deferred_after_login(&issuer, &wallet).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let DeferredStatus::Issued(list) = pending.poll(&wallet).await.unwrap() else {
        panic!("expected issued")
    };
    assert_eq!(list[0].claims.as_ref().unwrap()["given_name"], "Max");
    // code exchange + one refresh; the poll itself went out once.
    assert_eq!(count(&issuer, "/token"), 2, "{:?}", issuer.stats());
    assert_eq!(count(&issuer, "/deferred"), 1);
}

#[tokio::test]
async fn invalid_token_on_a_deferred_poll_triggers_one_refresh_and_a_retry() {
    // expires_in says an hour, the token really lives one second: the wallet
    // learns of the expiry only from the 401.
    let issuer = start(
        Issuer::builder()
            .access_token_lifetime(Duration::from_secs(1))
            .fault(Fault::ExpiresInOverstated)
            .deferred_pending_polls(0)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let mut pending = deferred_after_login(&issuer, &wallet).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = pending.poll(&wallet).await.unwrap();
    assert!(matches!(status, DeferredStatus::Issued(_)), "{status:?}");
    assert_eq!(count(&issuer, "/token"), 2, "{:?}", issuer.stats());
    assert_eq!(count(&issuer, "/deferred"), 2, "401, then the retry");
}
