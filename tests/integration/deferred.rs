//! Deferred issuance: step-by-step polling, poll_until_ready, deadline,
//! cancellation, and resuming a saved transaction after a restart.

use crate::common::*;
use oid4vci_wallet::{
    CancelToken, DeferredPending, DeferredStatus, Error, Grant, Issuance, SoftwareSigner, Wallet,
};
use std::time::Duration;

async fn deferred(
    issuer: &RunningIssuer,
    wallet: &Wallet,
    signer: &SoftwareSigner,
) -> DeferredPending {
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, true));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("pre-authorized expected")
    };
    let mut authorized = step.authorize(wallet).await.unwrap();
    match authorized
        .request_credential(wallet, "pid_sd_jwt", signer)
        .await
        .unwrap()
    {
        Issuance::Deferred(pending) => pending,
        Issuance::Issued(_) => panic!("expected deferred issuance"),
    }
}

#[tokio::test]
async fn pending_twice_then_issued_polled_step_by_step() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(2)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let signer = SoftwareSigner::generate();
    let mut pending = deferred(&issuer, &wallet, &signer).await;
    assert_eq!(pending.interval(), Duration::from_secs(1));
    for _ in 0..2 {
        match pending.poll(&wallet).await.unwrap() {
            DeferredStatus::Pending { interval } => assert_eq!(interval, Duration::from_secs(1)),
            other => panic!("expected pending, got {other:?}"),
        }
    }
    let DeferredStatus::Issued(credentials) = pending.poll(&wallet).await.unwrap() else {
        panic!("expected issued on the third poll")
    };
    assert_eq!(credentials.len(), 1);
    assert!(credentials[0].signature_verified);
    assert_eq!(
        credentials[0].claims.as_ref().unwrap()["given_name"],
        "Erika"
    );
    assert_eq!(count(&issuer, "/deferred"), 3);
    // A completed transaction is never polled again.
    let before = count(&issuer, "/deferred");
    assert!(matches!(
        pending.poll(&wallet).await,
        Err(Error::InvalidState(_))
    ));
    assert_eq!(count(&issuer, "/deferred"), before);
}

#[tokio::test]
async fn a_saved_deferred_transaction_completes_in_a_new_wallet() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let signer = SoftwareSigner::generate();
    let saved = {
        let wallet = wallet();
        let mut pending = deferred(&issuer, &wallet, &signer).await;
        assert!(matches!(
            pending.poll(&wallet).await.unwrap(),
            DeferredStatus::Pending { .. }
        ));
        pending.to_json().unwrap()
        // the wallet and every state are dropped here: the app was killed
    };
    let wallet = wallet();
    let mut restored = DeferredPending::from_json(&saved).unwrap();
    let credentials = restored
        .poll_until_ready(&wallet, Duration::from_secs(20), None)
        .await
        .unwrap();
    assert_eq!(
        credentials[0].holder_jwk.as_ref(),
        Some(&oid4vci_wallet::Signer::public_jwk(&signer))
    );
}

#[tokio::test]
async fn poll_until_ready_stops_at_the_deadline_and_on_cancel() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1000)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let signer = SoftwareSigner::generate();
    let mut pending = deferred(&issuer, &wallet, &signer).await;
    let err = pending
        .poll_until_ready(&wallet, Duration::from_millis(2500), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded), "{err}");
    assert!(count(&issuer, "/deferred") >= 1);

    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let err = pending
        .poll_until_ready(&wallet, Duration::from_secs(60), Some(&cancel))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}
