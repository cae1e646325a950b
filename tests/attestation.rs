//! Attestation-based client authentication (HAIP): the wallet sends its
//! Wallet Attestation and a fresh proof of possession to the reference
//! authorization server's PAR and token endpoints, with challenges from the
//! challenge endpoint or from the server's last response; combined with
//! DPoP nonces; expired attestations are caught before a request, and
//! refused by the server when the wallet's clock disagrees.

mod common;

use common::*;
use oid4vci_issuer::WalletAttestation;
use oid4vci_wallet::jose::ClientAttestation;
use oid4vci_wallet::{Clock, Error, ErrorCode, Grant, Signer, SoftwareSigner, SystemClock, Wallet};
use std::sync::Arc;
use std::time::Duration;

const REDIRECT_URI: &str = "https://wallet.example/callback";

fn attested_wallet(issuer: &RunningIssuer, lifetime: Duration) -> Wallet {
    let key = Arc::new(SoftwareSigner::generate());
    let jwt = issuer.issue_wallet_attestation("attested-wallet", &key.public_jwk(), lifetime);
    let attestation = ClientAttestation::new(jwt, key).unwrap();
    Wallet::builder()
        .client_attestation(attestation)
        .dangerous_allow_http()
        .build()
        .unwrap()
}

async fn pre_authorized_step(
    issuer: &RunningIssuer,
    wallet: &Wallet,
) -> oid4vci_wallet::PreAuthorizedStep {
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("pre-authorized expected")
    };
    step
}

#[tokio::test]
async fn pre_authorized_token_requests_carry_the_attestation() {
    let issuer = start(Issuer::builder().wallet_attestation(WalletAttestation::Required)).await;
    let wallet = attested_wallet(&issuer, Duration::from_secs(3600));
    assert_eq!(wallet.client_id(), Some("attested-wallet"));
    let mut authorized = pre_authorized_step(&issuer, &wallet)
        .await
        .authorize(&wallet)
        .await
        .unwrap();
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Erika");
    assert_eq!(
        count(&issuer, "attestation_rejected"),
        0,
        "{:?}",
        issuer.stats()
    );

    // A wallet without an attestation is refused as a client.
    let anonymous = wallet_without_attestation();
    let err = pre_authorized_step(&issuer, &anonymous)
        .await
        .authorize(&anonymous)
        .await
        .unwrap_err();
    assert_eq!(
        err.server_error().map(|e| &e.code),
        Some(&ErrorCode::InvalidClient),
        "{err}"
    );

    // The attestation names the client: another client_id is a mistake.
    let key = Arc::new(SoftwareSigner::generate());
    let jwt = issuer.issue_wallet_attestation(
        "attested-wallet",
        &key.public_jwk(),
        Duration::from_secs(60),
    );
    let err = Wallet::builder()
        .client_id("someone-else")
        .client_attestation(ClientAttestation::new(jwt, key).unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

fn wallet_without_attestation() -> Wallet {
    Wallet::builder().dangerous_allow_http().build().unwrap()
}

#[tokio::test]
async fn challenges_par_token_and_refresh_with_dpop_nonces() {
    let issuer = start(
        Issuer::builder()
            .wallet_attestation(WalletAttestation::RequiredWithChallenge)
            .require_dpop(true)
            .dpop_nonce(true)
            .require_par(true)
            .access_token_lifetime(Duration::from_secs(1)),
    )
    .await;
    let wallet = attested_wallet(&issuer, Duration::from_secs(3600));
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, false)
    });
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let pending = authorization_step(&resolved)
        .authorization_url(&wallet, REDIRECT_URI)
        .await
        .unwrap();
    assert_eq!(query(pending.url())["client_id"], "attested-wallet");
    let redirect = browser(pending.url(), "max", "max-password", true).await;
    let mut authorized = pending.complete(&wallet, &redirect).await.unwrap();
    assert!(authorized.uses_dpop());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    authorized.refresh(&wallet).await.unwrap();
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Max");

    // One challenge from the endpoint for the PAR request; the token and
    // refresh requests used the challenges their predecessors' answers gave.
    assert_eq!(count(&issuer, "/challenge"), 1, "{:?}", issuer.stats());
    assert_eq!(count(&issuer, "attestation_rejected"), 0);
    assert_eq!(count(&issuer, "dpop_rejected"), 0);
}

#[tokio::test]
async fn an_expired_attestation_is_caught_locally_and_refused_by_the_server() {
    let issuer = start(Issuer::builder().wallet_attestation(WalletAttestation::Required)).await;
    let key = Arc::new(SoftwareSigner::generate());
    let jwt = issuer.issue_wallet_attestation(
        "attested-wallet",
        &key.public_jwk(),
        Duration::from_secs(1),
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // The wallet sees the expiry itself and sends nothing.
    let wallet = Wallet::builder()
        .client_attestation(ClientAttestation::new(jwt.clone(), key.clone()).unwrap())
        .dangerous_allow_http()
        .build()
        .unwrap();
    let step = pre_authorized_step(&issuer, &wallet).await;
    let tokens = count(&issuer, "/token");
    let err = step.authorize(&wallet).await.unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("expired")),
        "{err}"
    );
    assert_eq!(count(&issuer, "/token"), tokens);

    // A wallet whose clock runs behind sends it; the server asks for a fresh one.
    struct Behind;
    impl Clock for Behind {
        fn now(&self) -> u64 {
            SystemClock.now() - 5
        }
    }
    let wallet = Wallet::builder()
        .client_attestation(ClientAttestation::new(jwt, key).unwrap())
        .clock(Behind)
        .dangerous_allow_http()
        .build()
        .unwrap();
    let err = step.authorize(&wallet).await.unwrap_err();
    assert_eq!(
        err.server_error().map(|e| &e.code),
        Some(&ErrorCode::UseFreshAttestation),
        "{err}"
    );
}

#[tokio::test]
async fn use_attestation_challenge_is_answered_once_with_the_challenge_it_brings() {
    use oid4vci_wallet::http::{
        HttpClient, HttpRequest, HttpResponse, ReqwestClient, ReqwestConfig,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};

    let issuer =
        start(Issuer::builder().wallet_attestation(WalletAttestation::RequiredWithChallenge)).await;
    // In front of the real server: the first token request is answered
    // `use_attestation_challenge` with a real challenge of the server's.
    let real = Arc::new(
        ReqwestClient::new(ReqwestConfig {
            allow_http: true,
            ..Default::default()
        })
        .unwrap(),
    );
    let intercepted = Arc::new(AtomicUsize::new(0));
    let challenge_url = format!("{}/challenge", issuer.authorization_server());
    let transport = {
        let (real, intercepted) = (real.clone(), intercepted.clone());
        move |request: HttpRequest| {
            let (real, intercepted, challenge_url) =
                (real.clone(), intercepted.clone(), challenge_url.clone());
            async move {
                if request.url.ends_with("/token")
                    && intercepted.fetch_add(1, Ordering::SeqCst) == 0
                {
                    let fresh = real
                        .send(HttpRequest::post(
                            &challenge_url,
                            "application/x-www-form-urlencoded",
                            vec![],
                        ))
                        .await?;
                    let fresh: serde_json::Value = serde_json::from_slice(&fresh.body).unwrap();
                    let mut answer = HttpResponse::json(
                        400,
                        &serde_json::json!({"error": "use_attestation_challenge"}),
                    );
                    answer.headers.push((
                        "OAuth-Client-Attestation-Challenge".into(),
                        fresh["attestation_challenge"].as_str().unwrap().into(),
                    ));
                    return Ok(answer);
                }
                real.send(request).await
            }
        }
    };
    let key = Arc::new(SoftwareSigner::generate());
    let jwt = issuer.issue_wallet_attestation(
        "attested-wallet",
        &key.public_jwk(),
        Duration::from_secs(600),
    );
    let wallet = Wallet::builder()
        .client_attestation(ClientAttestation::new(jwt, key).unwrap())
        .http_client(transport)
        .dangerous_allow_http()
        .build()
        .unwrap();
    let mut authorized = pre_authorized_step(&issuer, &wallet)
        .await
        .authorize(&wallet)
        .await
        .unwrap();
    one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(
        intercepted.load(Ordering::SeqCst),
        2,
        "the refused request and its retry"
    );
    assert_eq!(count(&issuer, "/token"), 1, "the retry reached the server");
    assert_eq!(
        count(&issuer, "attestation_rejected"),
        0,
        "{:?}",
        issuer.stats()
    );
}
