//! Credential request and response encryption (OID4VCI 1.0 section 10) over
//! real HTTP: the reference issuer (JWE by josekit) offers or requires it,
//! the wallet (JWE by RustCrypto) encrypts its requests to the issuer's key
//! and reads answers encrypted to a fresh key of its own, deferred polls
//! included after a restart; an issuer that answers in plain JSON anyway is
//! refused.

use crate::common::*;
use oid4vci_issuer::Encryption;
use oid4vci_wallet::{DeferredPending, DeferredStatus, Error, Grant, Issuance, SoftwareSigner};
use std::time::Duration;

async fn authorized(
    issuer: &RunningIssuer,
    wallet: &oid4vci_wallet::Wallet,
    deferred: bool,
) -> oid4vci_wallet::Authorized {
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, deferred));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("pre-authorized expected")
    };
    step.authorize(wallet).await.unwrap()
}

#[tokio::test]
async fn offered_encryption_is_used_for_the_request_and_the_response() {
    let issuer = start(Issuer::builder().encryption(Encryption::Offered)).await;
    let wallet = wallet();
    let mut authorized = authorized(&issuer, &wallet, false).await;
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Erika");
    assert!(credential.signature_verified);
    assert_eq!(
        count(&issuer, "encrypted_requests"),
        1,
        "{:?}",
        issuer.stats()
    );
    assert_eq!(count(&issuer, "encrypted_responses"), 1);

    // Without encryption on offer nothing is encrypted.
    let plain = default_issuer().await;
    let mut authorized = self::authorized(&plain, &wallet, false).await;
    one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(count(&plain, "encrypted_"), 0);
}

#[tokio::test]
async fn required_encryption_holds_across_a_restart_during_deferred_issuance() {
    let issuer = start(
        Issuer::builder()
            .encryption(Encryption::Required)
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let mut authorized = authorized(&issuer, &wallet, true).await;
    let Issuance::Deferred(pending) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!("expected deferred")
    };
    // The saved transaction keeps the key the issuer encrypts its answers to.
    let saved = pending.to_json().unwrap();
    drop(pending);
    let wallet = crate::common::wallet();
    let mut restored = DeferredPending::from_json(&saved).unwrap();
    let first = restored.poll(&wallet).await.unwrap();
    assert!(matches!(first, DeferredStatus::Pending { .. }), "{first:?}");
    let list = restored
        .poll_until_ready(&wallet, Duration::from_secs(20), None)
        .await
        .unwrap();
    assert_eq!(
        list[0].claims.as_ref().unwrap()["family_name"],
        "Mustermann"
    );
    // The credential request and both polls went encrypted both ways.
    assert_eq!(
        count(&issuer, "encrypted_requests"),
        3,
        "{:?}",
        issuer.stats()
    );
    assert_eq!(count(&issuer, "encrypted_responses"), 3);
}

#[tokio::test]
async fn a_plain_answer_to_an_encrypted_request_is_refused() {
    let issuer = start(
        Issuer::builder()
            .encryption(Encryption::Required)
            .fault(Fault::UnencryptedResponse),
    )
    .await;
    let wallet = wallet();
    let mut authorized = authorized(&issuer, &wallet, false).await;
    let err = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedResponse { status: 200, problem, .. } if problem.contains("not a JWE")),
        "{err}"
    );
    assert_eq!(count(&issuer, "encrypted_requests"), 1);
}
