//! DPoP (RFC 9449) over real HTTP against the reference issuer when it
//! requires DPoP: sender-constrained tokens in the pre-authorized and the
//! authorization code flows (with and without PAR), nonce challenges from the
//! authorization server and the credential issuer, refresh, a deferred
//! transaction saved and resumed, and a session whose key was swapped.

use crate::common::*;
use oid4vci_wallet::Signer as _;
use oid4vci_wallet::{
    Authorized, DeferredStatus, Error, ErrorCode, Grant, Issuance, PendingAuthorization,
    SoftwareSigner, Wallet,
};
use std::time::Duration;

const REDIRECT_URI: &str = "https://wallet.example/callback";

fn dpop_issuer() -> IssuerBuilder {
    Issuer::builder().require_dpop(true)
}

async fn pre_authorized(issuer: &RunningIssuer, wallet: &Wallet, ids: &[&str]) -> Authorized {
    let created = issuer.create_offer(offer(ids, true, true, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("pre-authorized expected")
    };
    step.with_tx_code(created.tx_code.clone().unwrap())
        .authorize(wallet)
        .await
        .unwrap()
}

async fn login(
    issuer: &RunningIssuer,
    wallet: &Wallet,
    deferred: bool,
) -> (PendingAuthorization, String) {
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, deferred)
    });
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let pending = authorization_step(&resolved)
        .authorization_url(wallet, REDIRECT_URI)
        .await
        .unwrap();
    let redirect = browser(pending.url(), "max", "max-password", true).await;
    (pending, redirect)
}

/// A notification sent after the access token expired refreshes first and
/// then presents the new token with a DPoP proof for it (`ath`). It once
/// sent the request it had built with the old token beside a proof for the
/// new one, which the issuer refuses (`invalid_dpop_proof`).
#[tokio::test]
async fn a_notification_after_the_token_expired_presents_the_refreshed_token() {
    let issuer = start(dpop_issuer().access_token_lifetime(Duration::from_secs(1))).await;
    let wallet = wallet();
    let mut authorized = pre_authorized(&issuer, &wallet, &["pid_sd_jwt"]).await;
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    let id = credential
        .notification_id
        .clone()
        .expect("a notification_id");
    let before = authorized.token().access_token.secret().to_string();
    // Past the token's one second, by the wallet's clock and the issuer's.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    authorized
        .notify(
            &wallet,
            &id,
            oid4vci_wallet::NotificationEvent::CredentialAccepted,
        )
        .await
        .expect("the notification goes out with the refreshed token");
    assert_ne!(
        authorized.token().access_token.secret(),
        before,
        "refreshed"
    );
}

#[tokio::test]
async fn pre_authorized_with_tx_code_gets_a_dpop_bound_token_and_a_credential() {
    let issuer = start(dpop_issuer()).await;
    let wallet = wallet();
    let mut authorized = pre_authorized(&issuer, &wallet, &["pid_sd_jwt"]).await;
    assert!(authorized.uses_dpop());
    assert_eq!(authorized.token().token_type, "DPoP");
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Erika");
    assert!(credential.signature_verified);
    assert_eq!(count(&issuer, "dpop_rejected"), 0, "{:?}", issuer.stats());

    // The same issuer without DPoP: plain bearer tokens, nothing else changes.
    let plain = default_issuer().await;
    let mut bearer = pre_authorized(&plain, &wallet, &["pid_sd_jwt"]).await;
    assert!(!bearer.uses_dpop());
    assert!(bearer.token().token_type.eq_ignore_ascii_case("bearer"));
    one_credential(&mut bearer, &wallet, "pid_sd_jwt").await;
}

#[tokio::test]
async fn nonce_challenges_are_answered_once_and_nonces_are_kept_per_server() {
    // Without a nonce endpoint the first credential request meets the
    // issuer's challenge; the nonce of that answer (and of every later one)
    // is kept, so the second request goes through at once. The token request
    // meets the authorization server's challenge, whose nonce the issuer
    // must not be sent.
    let issuer = start(dpop_issuer().dpop_nonce(true).nonce_endpoint(false)).await;
    let wallet = wallet();
    let mut authorized =
        pre_authorized(&issuer, &wallet, &["pid_sd_jwt", "membership_sd_jwt"]).await;
    assert_eq!(count(&issuer, "dpop_nonce_challenges_as"), 1);
    assert_eq!(count(&issuer, "/token"), 2, "challenge, then the token");

    one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(count(&issuer, "dpop_nonce_challenges_issuer"), 1);
    one_credential(&mut authorized, &wallet, "membership_sd_jwt").await;
    assert_eq!(
        count(&issuer, "dpop_nonce_challenges_issuer"),
        1,
        "the nonce from the last 200 is used"
    );
    assert_eq!(count(&issuer, "/credential"), 3, "{:?}", issuer.stats());
    assert_eq!(count(&issuer, "dpop_rejected"), 0);
}

#[tokio::test]
async fn the_nonce_endpoints_dpop_nonce_spares_the_credential_challenge() {
    let issuer = start(dpop_issuer().dpop_nonce(true).nonce_endpoint(true)).await;
    let wallet = wallet();
    let mut authorized = pre_authorized(&issuer, &wallet, &["pid_sd_jwt"]).await;
    one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(count(&issuer, "dpop_nonce_challenges_issuer"), 0);
    assert_eq!(count(&issuer, "/credential"), 1);
}

#[tokio::test]
async fn authorization_code_without_par_binds_the_code_with_dpop_jkt() {
    let issuer = start(dpop_issuer().pushed_authorization(false)).await;
    let wallet = wallet();
    let (pending, redirect) = login(&issuer, &wallet, false).await;
    assert!(pending.uses_dpop());
    let jkt = &query(pending.url())["dpop_jkt"];
    assert_eq!(jkt.len(), 43, "base64url SHA-256 thumbprint");

    // The code is bound to this authorization's key: the same pending
    // authorization restored from JSON (same key) redeems it.
    let restored = PendingAuthorization::from_json(&pending.to_json().unwrap()).unwrap();
    let mut authorized = restored.complete(&wallet, &redirect).await.unwrap();
    assert!(authorized.uses_dpop());
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Max");
}

#[tokio::test]
async fn a_code_bound_to_another_key_is_refused() {
    let issuer = start(dpop_issuer().pushed_authorization(false)).await;
    let wallet = wallet();
    let (pending, redirect) = login(&issuer, &wallet, false).await;
    // Another authorization's pending state (another DPoP key) with this
    // code's state: the token endpoint refuses the proof.
    let mut saved: serde_json::Value = serde_json::from_str(&pending.to_json().unwrap()).unwrap();
    let (other, _) = login(&issuer, &wallet, false).await;
    let other: serde_json::Value = serde_json::from_str(&other.to_json().unwrap()).unwrap();
    saved["dpop"] = other["dpop"].clone();
    let swapped = PendingAuthorization::from_json(&saved.to_string()).unwrap();
    let err = swapped.complete(&wallet, &redirect).await.unwrap_err();
    assert_eq!(
        err.server_error().map(|e| &e.code),
        Some(&ErrorCode::InvalidDpopProof),
        "{err}"
    );
}

#[tokio::test]
async fn par_with_nonces_at_a_separate_as_then_refresh_during_deferred_polling() {
    let issuer = start(
        dpop_issuer()
            .dpop_nonce(true)
            .separate_authorization_server(true)
            .require_par(true)
            .access_token_lifetime(Duration::from_secs(1))
            .deferred_pending_polls(0)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let (pending, redirect) = login(&issuer, &wallet, true).await;
    assert!(pending.uses_dpop());
    assert_eq!(query(pending.url()).len(), 2, "client_id and request_uri");
    // PAR met the challenge; the token request reused the PAR answer's nonce.
    let mut authorized = pending.complete(&wallet, &redirect).await.unwrap();
    assert_eq!(count(&issuer, "dpop_nonce_challenges_as"), 1);
    let Issuance::Deferred(pending) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!("expected deferred")
    };

    // The app is killed; the saved transaction (with its DPoP key) resumes
    // in a new wallet after the access token expired: refresh, then poll.
    let saved = pending.to_json().unwrap();
    drop(pending);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let wallet = crate::common::wallet();
    let mut restored = oid4vci_wallet::DeferredPending::from_json(&saved).unwrap();
    let DeferredStatus::Issued(list) = restored.poll(&wallet).await.unwrap() else {
        panic!("expected issued")
    };
    assert_eq!(list[0].claims.as_ref().unwrap()["given_name"], "Max");
    assert_eq!(count(&issuer, "dpop_rejected"), 0, "{:?}", issuer.stats());
    // The code exchange and the refresh both went out once (the AS nonce
    // was kept in the saved session).
    assert_eq!(count(&issuer, "dpop_nonce_challenges_as"), 1);
}

#[tokio::test]
async fn a_session_whose_dpop_key_was_swapped_is_refused_and_secrets_stay_hidden() {
    let issuer = start(dpop_issuer()).await;
    let wallet = wallet();
    let authorized = pre_authorized(&issuer, &wallet, &["pid_sd_jwt"]).await;
    let mut saved: serde_json::Value =
        serde_json::from_str(&authorized.to_json().unwrap()).unwrap();
    let key = saved["dpop"]["key"].as_str().unwrap().to_string();
    assert!(
        !format!("{authorized:?}").contains(&key),
        "Debug hides the DPoP key"
    );

    let other = pre_authorized(&issuer, &wallet, &["pid_sd_jwt"]).await;
    let other: serde_json::Value = serde_json::from_str(&other.to_json().unwrap()).unwrap();
    saved["dpop"] = other["dpop"].clone();
    let mut swapped = Authorized::from_json(&saved.to_string()).unwrap();
    let err = swapped
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Server { status: 401, error, .. } if error.code == ErrorCode::InvalidDpopProof),
        "{err}"
    );
    let text = err.to_string();
    assert!(!text.contains(&key) && !text.contains(authorized.token().access_token.secret()));
}

/// A predictable generator (splitmix64), for the determinism test only.
struct Seeded(std::sync::Mutex<u64>);

impl oid4vci_wallet::RandomSource for Seeded {
    fn fill(&self, dest: &mut [u8]) {
        let mut state = self.0.lock().unwrap();
        for chunk in dest.chunks_mut(8) {
            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// An ES256 key whose signatures are deterministic (RFC 6979, p256), as a
/// reproducible run needs: the SDK's own `SoftwareSigner` signs with
/// aws-lc-rs, which draws each ECDSA nonce itself.
struct Rfc6979Signer(p256::ecdsa::SigningKey);

impl Rfc6979Signer {
    fn from_seed(seed: u8) -> Self {
        Self(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
    }
}

impl oid4vci_wallet::Signer for Rfc6979Signer {
    fn algorithm(&self) -> oid4vci_wallet::Algorithm {
        oid4vci_wallet::Algorithm::Es256
    }

    fn public_jwk(&self) -> serde_json::Value {
        let jwk = p256::PublicKey::from(self.0.verifying_key()).to_jwk_string();
        serde_json::from_str(&jwk).unwrap()
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, oid4vci_wallet::SignerError> {
        use p256::ecdsa::signature::Signer as _;
        let signature: p256::ecdsa::Signature = self.0.sign(input);
        Ok(signature.to_bytes().to_vec())
    }
}

/// DPoP keys of the app that sign deterministically (one key per
/// authorization, the same in every run).
struct DeterministicDpopKeys;

impl oid4vci_wallet::DpopKeys for DeterministicDpopKeys {
    fn create(&self) -> Result<String, oid4vci_wallet::SignerError> {
        Ok("dpop-23".into())
    }

    fn signer(
        &self,
        reference: &str,
    ) -> Result<std::sync::Arc<dyn oid4vci_wallet::Signer>, oid4vci_wallet::SignerError> {
        assert_eq!(reference, "dpop-23");
        Ok(std::sync::Arc::new(Rfc6979Signer::from_seed(23)))
    }
}

struct FixedClock(u64);

impl oid4vci_wallet::Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}

type Exchange = (oid4vci_wallet::HttpRequest, oid4vci_wallet::HttpResponse);

/// One issuance (offer by value, tx_code, DPoP with nonces, encrypted
/// request and response) through `http`, with seeded randomness and a fixed
/// clock.
async fn seeded_issuance(
    offer_url: &str,
    tx_code: &str,
    http: impl oid4vci_wallet::HttpClient + 'static,
    now: u64,
) {
    let wallet = Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .random(Seeded(std::sync::Mutex::new(7)))
        .clock(FixedClock(now))
        .dpop_keys(DeterministicDpopKeys)
        .http_client(http)
        .build()
        .unwrap();
    let holder = Rfc6979Signer::from_seed(11);
    let resolved = wallet.resolve_offer(offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("pre-authorized expected")
    };
    let mut authorized = step
        .with_tx_code(tx_code.to_string())
        .authorize(&wallet)
        .await
        .unwrap();
    assert!(authorized.uses_dpop());
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &holder)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn the_same_seed_and_clock_send_byte_identical_requests() {
    let issuer = start(
        dpop_issuer()
            .dpop_nonce(true)
            .encryption(oid4vci_issuer::Encryption::Offered),
    )
    .await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, false, false));
    let tx_code = created.tx_code.clone().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // First run against the issuer, recording every exchange.
    let recorded: std::sync::Arc<std::sync::Mutex<Vec<Exchange>>> = Default::default();
    let real = std::sync::Arc::new(
        oid4vci_wallet::ReqwestClient::new(oid4vci_wallet::ReqwestConfig {
            allow_http: true,
            ..Default::default()
        })
        .unwrap(),
    );
    let log = recorded.clone();
    seeded_issuance(
        &created.offer_url,
        &tx_code,
        move |request: oid4vci_wallet::HttpRequest| {
            let (real, log) = (real.clone(), log.clone());
            async move {
                use oid4vci_wallet::HttpClient as _;
                let response = real.send(request.clone()).await?;
                log.lock().unwrap().push((request, response.clone()));
                Ok(response)
            }
        },
        now,
    )
    .await;
    let first = recorded.lock().unwrap().clone();
    assert!(first.len() >= 6, "{} exchanges", first.len());
    assert!(first
        .iter()
        .any(|(r, _)| r.headers.iter().any(|(h, _)| h == "dpop")));

    // Second run: the same answers replayed; the requests must not differ
    // by a byte (PKCE-free here, but jtis, JWE keys and IVs come from the
    // seeded source, and the app's DPoP and holder keys sign by RFC 6979).
    // Requests sent together (the nonce beside the token request) are
    // answered in any order, so each is answered with the recorded answer
    // to the identical request.
    let replay = std::sync::Arc::new(std::sync::Mutex::new(first.clone()));
    let sent: std::sync::Arc<std::sync::Mutex<Vec<oid4vci_wallet::HttpRequest>>> =
        Default::default();
    let log = sent.clone();
    seeded_issuance(
        &created.offer_url,
        &tx_code,
        move |request: oid4vci_wallet::HttpRequest| {
            let (replay, log) = (replay.clone(), log.clone());
            async move {
                log.lock().unwrap().push(request.clone());
                let mut replay = replay.lock().unwrap();
                let Some(i) = replay.iter().position(|(r, _)| *r == request) else {
                    panic!(
                        "{} {} differs from every request of the first run",
                        request.method.as_str(),
                        request.url
                    );
                };
                Ok(replay.remove(i).1)
            }
        },
        now,
    )
    .await;
    let second = sent.lock().unwrap().clone();
    assert_eq!(second.len(), first.len());
    for (a, _) in &first {
        assert!(
            second.contains(a),
            "{} {} was not sent again",
            a.method.as_str(),
            a.url
        );
    }
}

/// One key of the app's store: its reference and the key.
type AppKey = (String, std::sync::Arc<SoftwareSigner>);

/// The app's key store: keys it keeps (in a real app, in the secure
/// element), found by reference; counts what it was asked.
#[derive(Clone, Default)]
struct AppKeys {
    keys: std::sync::Arc<std::sync::Mutex<Vec<AppKey>>>,
}

impl oid4vci_wallet::DpopKeys for AppKeys {
    fn create(&self) -> Result<String, oid4vci_wallet::SignerError> {
        let mut keys = self.keys.lock().unwrap();
        let reference = format!("secure-element-key-{}", keys.len());
        keys.push((
            reference.clone(),
            std::sync::Arc::new(SoftwareSigner::generate()),
        ));
        Ok(reference)
    }

    fn signer(
        &self,
        reference: &str,
    ) -> Result<std::sync::Arc<dyn oid4vci_wallet::Signer>, oid4vci_wallet::SignerError> {
        self.keys
            .lock()
            .unwrap()
            .iter()
            .find(|(r, _)| r == reference)
            .map(|(_, k)| k.clone() as std::sync::Arc<dyn oid4vci_wallet::Signer>)
            .ok_or_else(|| oid4vci_wallet::SignerError(format!("no key {reference}")))
    }
}

fn wallet_with_keys(keys: &AppKeys) -> Wallet {
    Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .dpop_keys(keys.clone())
        .build()
        .unwrap()
}

/// HAIP wallets keep DPoP keys in hardware: with the app's key store, every
/// DPoP proof (token, nonce, credential, refresh, deferred) is signed by
/// the app's key, the saved session holds only its public key and the
/// reference, and a restored session in a new wallet goes on with it; a
/// wallet without the store cannot, and says why.
#[tokio::test]
async fn dpop_with_the_apps_key_across_a_save_and_restore() {
    let issuer = start(
        dpop_issuer()
            .dpop_nonce(true)
            .access_token_lifetime(Duration::from_secs(1))
            .deferred_pending_polls(0)
            .deferred_interval(1),
    )
    .await;
    let keys = AppKeys::default();
    let wallet = wallet_with_keys(&keys);
    // Pre-authorized, immediate.
    let mut authorized = pre_authorized(&issuer, &wallet, &["pid_sd_jwt"]).await;
    assert!(authorized.uses_dpop());
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Erika");
    assert_eq!(
        keys.keys.lock().unwrap().len(),
        1,
        "one app key per issuance"
    );
    let saved = authorized.to_json().unwrap();
    let app_key = keys.keys.lock().unwrap()[0].1.public_jwk();
    assert!(saved.contains("secure-element-key-0"), "{saved}");
    assert!(saved.contains(app_key["x"].as_str().unwrap()));
    assert!(!saved.contains("\"d\""), "no private key in the session");

    // The authorization code flow, deferred; the app is killed while waiting.
    let (pending, redirect) = login(&issuer, &wallet, true).await;
    let mut authorized = pending.complete(&wallet, &redirect).await.unwrap();
    let Issuance::Deferred(pending) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!("expected deferred")
    };
    let saved = pending.to_json().unwrap();
    assert!(saved.contains("secure-element-key-1"), "{saved}");
    drop(pending);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // A wallet without the app's store cannot sign for the session.
    let mut restored = oid4vci_wallet::DeferredPending::from_json(&saved).unwrap();
    let err = restored.poll(&crate::common::wallet()).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidState(m) if m.contains("dpop_keys")),
        "{err}"
    );
    // A new wallet with the store: refresh and poll, signed by the app's key.
    let mut restored = oid4vci_wallet::DeferredPending::from_json(&saved).unwrap();
    let DeferredStatus::Issued(list) = restored.poll(&wallet_with_keys(&keys)).await.unwrap()
    else {
        panic!("expected issued")
    };
    assert_eq!(list[0].claims.as_ref().unwrap()["given_name"], "Max");
    assert_eq!(count(&issuer, "dpop_rejected"), 0, "{:?}", issuer.stats());
}
