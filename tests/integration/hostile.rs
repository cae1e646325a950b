//! Hostile and broken issuers over real HTTP: every misbehaviour ends in a
//! typed error that says what was wrong, within bounded time, with no request
//! after a fatal check and no unbounded or secret server text in the message.

use crate::common::*;
use oid4vci_issuer::{Canned, CannedBody, Endpoint};
use oid4vci_wallet::{
    DeferredPending, DeferredStatus, Error, ErrorCode, Grant, Issuance, IssuedCredential,
    NotificationEvent, SoftwareSigner, Wallet,
};
use oid4vci_wallet::{Document, TransportError};
use serde_json::json;
use std::time::{Duration, Instant};

/// A wallet with short timeouts, so slow-server cases end quickly.
fn impatient_wallet() -> Wallet {
    Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .timeouts(Duration::from_secs(2), Duration::from_secs(3))
        .build()
        .unwrap()
}

enum Outcome {
    Issued(Vec<IssuedCredential>),
    Deferred(Box<DeferredPending>),
}

/// Resolve, authorize and request `pid_sd_jwt` for a fresh offer.
async fn run(issuer: &RunningIssuer, wallet: &Wallet, deferred: bool) -> Result<Outcome, Error> {
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, deferred));
    let resolved = wallet.resolve_offer(&created.offer_url).await?;
    let Grant::PreAuthorized(step) = resolved.grant()? else {
        panic!("pre-authorized expected")
    };
    let mut authorized = step.authorize(wallet).await?;
    Ok(
        match authorized
            .request_credential(wallet, "pid_sd_jwt", &SoftwareSigner::generate())
            .await?
        {
            Issuance::Issued(list) => Outcome::Issued(list),
            Issuance::Deferred(p) => Outcome::Deferred(Box::new(p)),
        },
    )
}

async fn fails(issuer: &RunningIssuer) -> Error {
    match run(issuer, &wallet(), false).await {
        Err(e) => e,
        Ok(_) => panic!("expected a failure"),
    }
}

async fn with(canned: Canned) -> RunningIssuer {
    start(Issuer::builder().respond(canned)).await
}

fn assert_bounded(err: &Error) {
    let text = err.to_string();
    assert!(
        text.len() < 800,
        "error text too long ({}): {text}",
        text.len()
    );
    assert!(
        !text.chars().any(|c| c.is_control()),
        "control characters: {text:?}"
    );
}

// ---------------------------------------------------------------- offers

async fn offer_err(url: &str) -> Error {
    wallet().resolve_offer(url).await.unwrap_err()
}

#[tokio::test]
async fn malformed_offers_are_refused_before_any_request() {
    let issuer = default_issuer().await;
    let id = issuer.issuer_id();
    let good = json!({
        "credential_issuer": id,
        "credential_configuration_ids": ["pid_sd_jwt"],
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "c"}}
    });
    let encoded = |v: &serde_json::Value| {
        url::form_urlencoded::byte_serialize(v.to_string().as_bytes()).collect::<String>()
    };
    let mut no_issuer = good.clone();
    no_issuer
        .as_object_mut()
        .unwrap()
        .remove("credential_issuer");
    let mut with_query = good.clone();
    with_query["credential_issuer"] = json!(format!("{id}?x=1"));
    let mut empty_ids = good.clone();
    empty_ids["credential_configuration_ids"] = json!([]);
    let mut duplicate_ids = good.clone();
    duplicate_ids["credential_configuration_ids"] = json!(["pid_sd_jwt", "pid_sd_jwt"]);
    let mut wrong_type = good.clone();
    wrong_type["credential_configuration_ids"] = json!("pid_sd_jwt");
    let cases = [
        (
            format!(
                "openid-credential-offer://?credential_offer={}&credential_offer_uri={}",
                encoded(&good),
                url::form_urlencoded::byte_serialize(format!("{id}/offers/x").as_bytes())
                    .collect::<String>()
            ),
            "both",
        ),
        (
            "openid-credential-offer://?foo=bar".to_string(),
            "credential_offer",
        ),
        (
            "openid-credential-offer://?credential_offer=%7Bnot%20json".to_string(),
            "JSON",
        ),
        (by_value(&no_issuer), "credential_issuer"),
        (by_value(&with_query), "credential_issuer"),
        (by_value(&empty_ids), "credential_configuration_ids"),
        (by_value(&duplicate_ids), "credential_configuration_ids"),
        (by_value(&wrong_type), "credential_configuration_ids"),
    ];
    for (url, needle) in cases {
        let err = offer_err(&url).await;
        assert!(
            matches!(err, Error::InvalidOffer(ref m) if m.contains(needle)),
            "{url}: expected InvalidOffer naming {needle}, got {err}"
        );
        assert_bounded(&err);
    }
    assert!(issuer.stats().is_empty(), "{:?}", issuer.stats());
}

#[tokio::test]
async fn offer_uri_failures_are_typed_and_stop_there() {
    let cases: Vec<(Canned, &str)> = vec![
        (
            Canned::json(Endpoint::Offer, 404, json!({"error": "not_found"})),
            "404",
        ),
        (
            Canned::text(Endpoint::Offer, 410, "text/plain", "gone"),
            "410",
        ),
        (Canned::text(Endpoint::Offer, 500, "", ""), "500"),
        (
            Canned::text(Endpoint::Offer, 200, "text/html", "<html>hello</html>"),
            "text/html",
        ),
        (
            Canned::text(
                Endpoint::Offer,
                200,
                "application/jwt",
                "eyJhbGciOiJFUzI1NiJ9.e30.sig",
            ),
            "application/jwt",
        ),
        (
            Canned::json(Endpoint::Offer, 200, json!({"credential_issuer": 7})),
            "credential_issuer",
        ),
    ];
    for (canned, needle) in cases {
        let issuer = with(canned).await;
        let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, true, false));
        let started = Instant::now();
        let err = wallet()
            .resolve_offer(&created.offer_url)
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert!(
            matches!(
                err,
                Error::InvalidOffer(_)
                    | Error::OfferUnavailable { .. }
                    | Error::Server { .. }
                    | Error::UnexpectedResponse { .. }
            ),
            "{err}"
        );
        if matches!(needle, "404" | "410") {
            // Expired or already fetched: its own kind, so the app can say so.
            assert!(matches!(err, Error::OfferUnavailable { .. }), "{err}");
        }
        assert_bounded(&err);
        assert_eq!(count(&issuer, "openid-credential-issuer"), 0, "{needle}");
    }
}

// ------------------------------------------------------- issuer metadata

#[tokio::test]
async fn issuer_metadata_with_wrong_types_or_invalid_json_names_the_problem() {
    let issuer = with(Canned::json(
        Endpoint::IssuerMetadata,
        200,
        json!({"credential_issuer": "x", "credential_endpoint": 42,
               "credential_configurations_supported": {}}),
    ))
    .await;
    let err = fails(&issuer).await;
    match &err {
        Error::Metadata {
            document: Document::IssuerMetadata,
            problem,
            ..
        } => assert!(problem.contains("credential_endpoint"), "{problem}"),
        other => panic!("{other}"),
    }
    assert_eq!(count(&issuer, "oauth-authorization-server"), 0);

    let issuer = with(Canned::text(
        Endpoint::IssuerMetadata,
        200,
        "application/json",
        "{\"credential_issuer\": ",
    ))
    .await;
    let err = fails(&issuer).await;
    assert!(
        matches!(err, Error::Metadata { ref problem, .. } if problem.contains("JSON")),
        "{err}"
    );
}

#[tokio::test]
async fn a_50_mib_metadata_body_is_cut_off_at_the_cap() {
    let issuer = with(Canned::body(
        Endpoint::IssuerMetadata,
        200,
        CannedBody::Repeat {
            byte: b' ',
            len: 50 * 1024 * 1024,
        },
    ))
    .await;
    let started = Instant::now();
    let err = fails(&issuer).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        matches!(err, Error::Transport { kind: TransportError::BodyTooLarge { limit }, .. } if limit == 1024 * 1024),
        "{err}"
    );
}

#[tokio::test]
async fn a_trickling_metadata_body_hits_the_request_timeout() {
    let issuer = with(Canned::body(
        Endpoint::IssuerMetadata,
        200,
        CannedBody::Trickle {
            text: "{\"credential_issuer\": \"slowly, one byte a second\"}".into(),
            delay_ms: 1000,
        },
    ))
    .await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let started = Instant::now();
    let err = impatient_wallet()
        .resolve_offer(&created.offer_url)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportError::Timeout,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_metadata_redirect_to_another_host_is_not_followed() {
    let issuer = with(Canned::text(Endpoint::IssuerMetadata, 302, "", "").header(
        "location",
        "http://127.0.0.2:9/.well-known/openid-credential-issuer",
    ))
    .await;
    let err = fails(&issuer).await;
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportError::Redirect { status: 302 },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_connection_broken_off_mid_body_is_a_transport_error() {
    let issuer = with(Canned::body(
        Endpoint::IssuerMetadata,
        200,
        CannedBody::Truncated {
            text: "{\"credential_issuer\": \"this body never ends as announced\"}".into(),
            sent: 10,
        },
    ))
    .await;
    let err = fails(&issuer).await;
    assert!(matches!(err, Error::Transport { .. }), "{err}");
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = by_value(&json!({
        "credential_issuer": format!("http://127.0.0.1:{port}"),
        "credential_configuration_ids": ["pid_sd_jwt"],
    }));
    let started = Instant::now();
    let err = offer_err(&url).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportError::Connect(_),
                ..
            }
        ),
        "{err}"
    );
}

// ----------------------------------------------------------------- token

#[tokio::test]
async fn broken_token_responses_are_typed() {
    let cases: Vec<(Canned, &str)> = vec![
        (
            Canned::text(Endpoint::Token, 200, "text/html", "<html>login</html>"),
            "text/html",
        ),
        (
            Canned::json(Endpoint::Token, 200, json!({"token_type": "Bearer"})),
            "access_token",
        ),
        (
            Canned::json(
                Endpoint::Token,
                200,
                json!({"access_token": "t0k3n-v4lue", "token_type": "MAC"}),
            ),
            "token_type",
        ),
        (Canned::text(Endpoint::Token, 500, "", ""), "500"),
    ];
    for (canned, needle) in cases {
        let issuer = with(canned).await;
        let err = fails(&issuer).await;
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert!(!err.to_string().contains("t0k3n-v4lue"), "{err}");
        assert_bounded(&err);
        assert_eq!(count(&issuer, "/credential"), 0);
        // The nonce went out beside the token request; nothing after it.
        assert!(count(&issuer, "/nonce") <= 1);
    }
}

#[tokio::test]
async fn a_huge_error_description_full_of_control_characters_is_truncated() {
    // Just under the 1 MiB body cap once JSON-escaped (23 bytes per 10 chars).
    let description: String = "\u{1b}[31m\r\n\u{7}bad"
        .chars()
        .cycle()
        .take((1024 * 1024 - 200) / 23 * 10)
        .collect();
    let issuer = with(Canned::json(
        Endpoint::Token,
        400,
        json!({"error": "invalid_grant", "error_description": description}),
    ))
    .await;
    let err = fails(&issuer).await;
    let server = err.server_error().expect("a typed server error");
    assert_eq!(server.code, ErrorCode::InvalidGrant);
    assert!(server.description.as_ref().unwrap().chars().count() <= 201);
    assert_bounded(&err);
}

// ----------------------------------------------------------------- nonce

#[tokio::test]
async fn a_nonce_response_without_c_nonce_is_typed() {
    let issuer = with(Canned::json(Endpoint::Nonce, 200, json!({"nonce": "n"}))).await;
    let err = fails(&issuer).await;
    assert!(err.to_string().contains("c_nonce"), "{err}");
    assert_eq!(count(&issuer, "/credential"), 0);
}

// ------------------------------------------------------------ credential

#[tokio::test]
async fn broken_credential_responses_are_typed() {
    let cases: Vec<(Canned, &str)> = vec![
        (
            Canned::json(Endpoint::Credential, 200, json!({"credentials": []})),
            "credentials",
        ),
        (
            Canned::json(
                Endpoint::Credential,
                200,
                json!({"credentials": [{"credential": 42}]}),
            ),
            "credential",
        ),
        (
            Canned::json(Endpoint::Credential, 202, json!({"interval": 5})),
            "transaction_id",
        ),
        (
            Canned::json(
                Endpoint::Credential,
                202,
                json!({"transaction_id": "t", "interval": -5}),
            ),
            "interval",
        ),
    ];
    for (canned, needle) in cases {
        let issuer = with(canned).await;
        let err = fails(&issuer).await;
        assert!(
            matches!(
                err,
                Error::UnexpectedResponse { .. } | Error::CredentialCheck(_)
            ),
            "{needle}: {err}"
        );
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert_bounded(&err);
    }
}

#[tokio::test]
async fn credential_error_codes_are_typed_and_unknown_ones_kept() {
    // invalid_token: one refresh (the token response has a refresh token)
    // and one retry, then the typed error; the others are final at once.
    let cases = [
        (401, "invalid_token", ErrorCode::InvalidToken, 2),
        (
            400,
            "credential_request_denied",
            ErrorCode::CredentialRequestDenied,
            1,
        ),
        (
            400,
            "brand_new_code",
            ErrorCode::Other("brand_new_code".into()),
            1,
        ),
    ];
    for (status, code, expected, requests) in cases {
        let issuer = with(Canned::json(
            Endpoint::Credential,
            status,
            json!({"error": code, "error_description": "no"}),
        ))
        .await;
        let err = fails(&issuer).await;
        assert_eq!(
            err.server_error().map(|e| &e.code),
            Some(&expected),
            "{err}"
        );
        assert_eq!(count(&issuer, "/credential"), requests, "{code}");
    }
}

#[tokio::test]
async fn credentials_signed_by_another_key_or_bound_to_another_key_are_refused() {
    for fault in [
        Fault::CredentialSignedByOtherKey,
        Fault::CredentialBoundToOtherKey,
    ] {
        let issuer = start(Issuer::builder().fault(fault)).await;
        let err = fails(&issuer).await;
        assert!(matches!(err, Error::CredentialCheck(_)), "{fault:?}: {err}");
    }
    // Without the SDK's signature check (the app resolves keys itself), the
    // wrongly signed credential comes through, marked as not verified.
    let issuer = start(Issuer::builder().fault(Fault::CredentialSignedByOtherKey)).await;
    let lenient = Wallet::builder()
        .dangerous_allow_http()
        .verify_credential_signatures(false)
        .build()
        .unwrap();
    let Ok(Outcome::Issued(list)) = run(&issuer, &lenient, false).await else {
        panic!("expected issuance without the signature check")
    };
    assert!(!list[0].signature_verified);
}

// -------------------------------------------------------------- deferred

async fn deferred_with(canned: Canned) -> (RunningIssuer, Box<DeferredPending>) {
    let issuer = start(Issuer::builder().deferred_interval(1).respond(canned)).await;
    let Ok(Outcome::Deferred(pending)) = run(&issuer, &wallet(), true).await else {
        panic!("expected deferred issuance")
    };
    (issuer, pending)
}

#[tokio::test]
async fn a_zero_interval_does_not_make_the_wallet_hammer_the_issuer() {
    let (issuer, mut pending) = deferred_with(Canned::json(
        Endpoint::Deferred,
        202,
        json!({"transaction_id": "t", "interval": 0}),
    ))
    .await;
    let err = pending
        .poll_until_ready(&wallet(), Duration::from_millis(2500), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded), "{err}");
    assert!(count(&issuer, "/deferred") <= 2, "{:?}", issuer.stats());
}

#[tokio::test]
async fn an_absurd_interval_ends_at_the_deadline_without_waiting() {
    let issuer = with(Canned::json(
        Endpoint::Credential,
        202,
        json!({"transaction_id": "t", "interval": 1_000_000_000_000i64}),
    ))
    .await;
    let Ok(Outcome::Deferred(mut pending)) = run(&issuer, &wallet(), false).await else {
        panic!("expected deferred")
    };
    let started = Instant::now();
    let err = pending
        .poll_until_ready(&wallet(), Duration::from_secs(60), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(count(&issuer, "/deferred"), 0);
}

#[tokio::test]
async fn a_transaction_the_issuer_ends_is_a_server_error_with_the_status_it_answered() {
    let (issuer, mut pending) = deferred_with(Canned::json(
        Endpoint::Deferred,
        403,
        json!({"error": "credential_request_denied"}),
    ))
    .await;
    let err = pending
        .poll_until_ready(&wallet(), Duration::from_secs(10), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Server { endpoint: oid4vci_wallet::Endpoint::Deferred, status: 403, error, .. }
                if error.code == ErrorCode::CredentialRequestDenied
        ),
        "{err:?}"
    );
    assert_eq!(count(&issuer, "/deferred"), 1);
}

#[tokio::test]
async fn invalid_transaction_id_fails_the_transaction() {
    let (issuer, mut pending) = deferred_with(Canned::json(
        Endpoint::Deferred,
        400,
        json!({"error": "invalid_transaction_id"}),
    ))
    .await;
    match pending.poll(&wallet()).await.unwrap() {
        DeferredStatus::Failed(e) => assert_eq!(e.code, ErrorCode::InvalidTransactionId),
        other => panic!("{other:?}"),
    }
    // Ended: never polled again.
    assert!(matches!(
        pending.poll(&wallet()).await,
        Err(Error::InvalidState(_))
    ));
    assert_eq!(count(&issuer, "/deferred"), 1);
}

// ---------------------------------------------------------- notification

#[tokio::test]
async fn a_notification_answered_500_once_is_retried_once() {
    let issuer = start(
        Issuer::builder().respond(Canned::text(Endpoint::Notification, 500, "", "").times(1)),
    )
    .await;
    let wallet = wallet();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!()
    };
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!()
    };
    let id = list[0].notification_id.clone().unwrap();
    authorized
        .notify(&wallet, &id, NotificationEvent::CredentialAccepted)
        .await
        .unwrap();
    assert_eq!(count(&issuer, "/notification"), 2);
    assert_eq!(issuer.notifications().len(), 1);
}

// ------------------------------------------------------------------ https

async fn https_issuer(builder: IssuerBuilder) -> (RunningIssuer, String) {
    let issuer = start(builder.tls(true)).await;
    let pem = issuer.certificate_pem().expect("a TLS certificate");
    (issuer, pem)
}

#[tokio::test]
async fn a_full_issuance_over_https_with_the_issuers_certificate_trusted() {
    let (issuer, pem) = https_issuer(Issuer::builder()).await;
    assert!(issuer.issuer_id().starts_with("https://127.0.0.1:"));
    // No dangerous_allow_http: https only.
    let wallet = Wallet::builder().add_root_certificate(pem).build().unwrap();
    let Ok(Outcome::Issued(list)) = run(&issuer, &wallet, false).await else {
        panic!("expected issuance over https")
    };
    assert!(list[0].signature_verified);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_transport_error() {
    let (issuer, _) = https_issuer(Issuer::builder()).await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let started = Instant::now();
    let err = Wallet::builder()
        .build()
        .unwrap()
        .resolve_offer(&created.offer_url)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(
        err.to_string().contains("not trusted") && err.to_string().contains("root certificate"),
        "a hint: {err}"
    );
    assert_eq!(
        count(&issuer, "openid-credential-issuer"),
        0,
        "no request got through"
    );
}

#[tokio::test]
async fn an_http_endpoint_in_https_metadata_is_refused_even_with_http_allowed() {
    let (issuer, pem) = https_issuer(Issuer::builder().fault(Fault::MetadataHttpEndpoint)).await;
    let wallet = Wallet::builder()
        .add_root_certificate(pem)
        .dangerous_allow_http()
        .build()
        .unwrap();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let err = wallet.resolve_offer(&created.offer_url).await.unwrap_err();
    match &err {
        Error::Metadata {
            document: Document::IssuerMetadata,
            problem,
            ..
        } => assert!(
            problem.contains("credential_endpoint: expected an https URL, got http://127.0.0.1:"),
            "{problem}"
        ),
        other => panic!("{other}"),
    }
    assert_eq!(count(&issuer, "oauth-authorization-server"), 0);
}
