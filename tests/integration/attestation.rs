//! Attestation-based client authentication (HAIP): the wallet sends its
//! Wallet Attestation and a fresh proof of possession to the reference
//! authorization server's PAR and token endpoints, with challenges from the
//! challenge endpoint or from the server's last response; combined with
//! DPoP nonces; expired attestations are caught before a request, and
//! refused by the server when the wallet's clock disagrees.

use crate::common::*;
use oid4vci_issuer::WalletAttestation;
use oid4vci_wallet::ClientAttestation;
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
    use oid4vci_wallet::{HttpClient, HttpRequest, HttpResponse, ReqwestClient, ReqwestConfig};
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

/// The public engine with a hand-written loop over a plain `HttpClient`, no
/// `Wallet`: wallet attestation with challenges, DPoP with nonce challenges
/// and a deferred credential, every protocol rule taken from the engine.
#[tokio::test]
async fn the_public_engine_runs_attestation_dpop_and_deferred_without_a_wallet() {
    use oid4vci_wallet::flow::DeferredPoll;
    use oid4vci_wallet::flow::DpopState;
    use oid4vci_wallet::flow::WithToken;
    use oid4vci_wallet::flow::{parse_offer_url, OfferDiscovery, OfferSource};
    use oid4vci_wallet::flow::{AttestationChallenges, Protected, Protection};
    use oid4vci_wallet::flow::{CredentialExchange, Issuance};
    use oid4vci_wallet::flow::{EngineConfig, Flow, Progress};
    use oid4vci_wallet::DeferredStatus;
    use oid4vci_wallet::{HttpClient, ReqwestClient, ReqwestConfig};

    async fn drive<F: Flow>(http: &ReqwestClient, config: &EngineConfig, mut flow: F) -> F::Output {
        loop {
            if let Some(pause) = flow.wait() {
                tokio::time::sleep(pause).await;
            }
            let (_, request) = flow.prepare_request(config, SystemClock.now()).unwrap();
            let response = http.send(request).await.expect("the issuer answers");
            match flow
                .handle_response(response, config, SystemClock.now())
                .unwrap()
            {
                Progress::Again(next) => flow = next,
                Progress::Done(output) => return output,
            }
        }
    }

    let (issuer, attestation) = haip_deferred_issuer("engine-wallet").await;
    let challenges = AttestationChallenges::default();
    let http = ReqwestClient::new(ReqwestConfig {
        allow_http: true,
        ..Default::default()
    })
    .unwrap();
    let config = EngineConfig {
        allow_http: true,
        ..EngineConfig::default()
    };

    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, true));
    let OfferSource::ByReference(fetch) = parse_offer_url(&created.offer_url, &config).unwrap()
    else {
        panic!("an offer by reference")
    };
    let offer = drive(&http, &config, Protected::new(fetch, Protection::none())).await;
    // The engine says which metadata to fetch (the AS's beside the
    // issuer's when the offer names it: this one does not), then checks the
    // offer against the issuer's and picks the authorization server.
    let discovery = OfferDiscovery::new(offer);
    let (issuer_fetch, as_prefetch) = discovery.requests(0).unwrap();
    assert!(
        as_prefetch.is_none(),
        "the offer names no authorization server"
    );
    let metadata = drive(
        &http,
        &config,
        Protected::new(issuer_fetch, Protection::none()),
    )
    .await;
    let known = discovery.with_issuer(metadata, &config).unwrap();
    let server = drive(
        &http,
        &config,
        Protected::new(known.as_discovery().unwrap(), Protection::none()),
    )
    .await;
    let resolved = known.finish(server.clone()).unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("pre-authorized expected")
    };
    let step = step.with_tx_code(created.tx_code.clone().unwrap());

    let mut dpop = DpopState::wanted_by(&server).then(DpopState::generate);
    assert!(dpop.is_some(), "the server advertises DPoP");
    let token_request = step
        .token_exchange(Some("engine-wallet"))
        .unwrap()
        .with_dpop(true);
    let protection =
        Protection::authorization_server(&server, dpop.as_mut(), Some((&attestation, &challenges)));
    let token = drive(&http, &config, Protected::new(token_request, protection)).await;
    let mut authorized = step
        .into_authorized(token, Some("engine-wallet"), SystemClock.now())
        .with_dpop(dpop);
    assert!(authorized.uses_dpop());

    let holder = SoftwareSigner::generate();
    let signers: [&dyn Signer; 1] = [&holder];
    let exchange = CredentialExchange::new(
        &mut authorized,
        "pid_sd_jwt",
        &signers,
        Some((&attestation, &challenges)),
        None,
        &config,
        SystemClock.now(),
    )
    .unwrap();
    let Issuance::Deferred(mut pending) = drive(&http, &config, exchange).await else {
        panic!("a deferred issuance")
    };
    let credentials = loop {
        tokio::time::sleep(pending.interval()).await;
        let poll = WithToken::new(DeferredPoll(&mut pending), None, SystemClock.now());
        match drive(&http, &config, poll).await {
            DeferredStatus::Pending { .. } => continue,
            DeferredStatus::Issued(list) => break list,
            DeferredStatus::Failed(e) => panic!("the transaction failed: {e}"),
        }
    };
    assert_eq!(credentials.len(), 1);
    assert_eq!(
        credentials[0].holder_jwk.as_ref(),
        Some(&holder.public_jwk())
    );
    assert_every_haip_rule_ran(&issuer);
}

/// The engine's own steps (`resolve_offer`, `authorize`, `request_credential`,
/// `poll_until_ready_with`) over the smallest driver there is: a plain HTTP
/// client and the system clock, no `Wallet`, no cache. Everything a `Wallet`
/// does beyond sending (the nonce beside the token request, the DPoP and
/// attestation rules, the issuer-key fetch and the signature check, the
/// deferred interval) comes with the steps.
#[tokio::test]
async fn a_hand_written_driver_runs_the_engines_own_steps_without_a_wallet() {
    use oid4vci_wallet::flow::{self, AttestationChallenges, Driver, EngineConfig, Flow, Progress};
    use oid4vci_wallet::{HttpClient, Issuance, ReqwestClient, ReqwestConfig};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Plain {
        http: ReqwestClient,
        config: EngineConfig,
        attestation: ClientAttestation,
        challenges: AttestationChallenges,
        sent: AtomicUsize,
        started: std::time::Instant,
    }

    impl Driver for Plain {
        fn config(&self) -> &EngineConfig {
            &self.config
        }

        fn now(&self) -> u64 {
            SystemClock.now()
        }

        fn monotonic(&self) -> Duration {
            self.started.elapsed()
        }

        async fn drive<F>(&self, mut flow: F) -> oid4vci_wallet::Result<F::Output>
        where
            F: Flow + Send,
            F::Output: Send,
        {
            loop {
                if let Some(pause) = flow.wait() {
                    tokio::time::sleep(pause).await;
                }
                let (_, request) = flow.prepare_request(&self.config, self.now())?;
                self.sent.fetch_add(1, Ordering::SeqCst);
                let response = self.http.send(request).await.expect("the issuer answers");
                match flow.handle_response(response, &self.config, self.now())? {
                    Progress::Again(next) => flow = next,
                    Progress::Done(output) => return Ok(output),
                }
            }
        }

        async fn sleep(&self, pause: Duration) -> oid4vci_wallet::Result<()> {
            tokio::time::sleep(pause).await;
            Ok(())
        }

        fn client_id(&self) -> Option<&str> {
            Some(self.attestation.client_id())
        }

        fn attestation(&self) -> Option<(&ClientAttestation, &AttestationChallenges)> {
            Some((&self.attestation, &self.challenges))
        }
    }

    let (issuer, attestation) = haip_deferred_issuer("plain-driver").await;
    let driver = Plain {
        http: ReqwestClient::new(ReqwestConfig {
            allow_http: true,
            ..Default::default()
        })
        .unwrap(),
        config: EngineConfig {
            allow_http: true,
            ..EngineConfig::default()
        },
        attestation,
        challenges: AttestationChallenges::default(),
        sent: AtomicUsize::new(0),
        started: std::time::Instant::now(),
    };

    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, true));
    let resolved = flow::resolve_offer(&driver, &created.offer_url)
        .await
        .unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("pre-authorized expected")
    };
    let step = step.with_tx_code(created.tx_code.clone().unwrap());
    let mut authorized = step.authorize(&driver).await.unwrap();
    assert!(authorized.uses_dpop(), "the server advertises DPoP");
    let holder = SoftwareSigner::generate();
    let issuance = authorized
        .request_credential(&driver, "pid_sd_jwt", &holder)
        .await
        .unwrap();
    let Issuance::Deferred(mut pending) = issuance else {
        panic!("a deferred issuance")
    };
    let credentials = pending
        .poll_until_ready_with(&driver, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(credentials.len(), 1);
    assert_eq!(
        credentials[0].holder_jwk.as_ref(),
        Some(&holder.public_jwk())
    );
    assert!(
        credentials[0].verification.is_verified(),
        "checked with the issuer's published keys: {:?}",
        credentials[0].verification
    );
    assert_every_haip_rule_ran(&issuer);
    let nonces = issuer.stats()["/nonce"];
    assert_eq!(nonces, 1, "one nonce, fetched beside the token request");
    assert!(
        driver.sent.load(Ordering::SeqCst) >= 9,
        "every request went through the driver"
    );
}

/// A reference issuer that asks for everything HAIP has (a wallet
/// attestation with a challenge, DPoP with nonces) and defers the credential
/// by one poll, with a wallet attestation for `client_id`.
async fn haip_deferred_issuer(client_id: &str) -> (RunningIssuer, ClientAttestation) {
    let issuer = start(
        Issuer::builder()
            .wallet_attestation(WalletAttestation::RequiredWithChallenge)
            .require_dpop(true)
            .dpop_nonce(true)
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let key = Arc::new(SoftwareSigner::generate());
    let jwt =
        issuer.issue_wallet_attestation(client_id, &key.public_jwk(), Duration::from_secs(600));
    (issuer, ClientAttestation::new(jwt, key).unwrap())
}

/// Every rule ran: the authorization server's nonce challenge answered (the
/// issuer's nonce came with the nonce response, so it needed none), the
/// attestation challenge fetched, two deferred polls, nothing refused.
fn assert_every_haip_rule_ran(issuer: &RunningIssuer) {
    let stats = issuer.stats();
    let total = |needle: &str| -> u64 {
        stats
            .iter()
            .filter(|(k, _)| k.contains(needle))
            .map(|(_, v)| *v)
            .sum()
    };
    assert!(stats["dpop_nonce_challenges_as"] >= 1, "{stats:?}");
    assert_eq!(stats["/deferred"], 2, "{stats:?}");
    assert_eq!(stats["dpop_rejected"], 0, "{stats:?}");
    assert!(total("attestation_challenges") >= 1, "{stats:?}");
    assert_eq!(total("attestation_rejected"), 0, "{stats:?}");
}
