//! Progress: the `ReceiveOptions::progress` observer hears every stage of a
//! one-call issuance, in order (offer, metadata, the user, token, each
//! credential request, each deferred wait with the time of the next poll,
//! done).

use crate::common::*;
use oid4vci_wallet::{
    BoxFuture, Interaction, ReceiveOptions, ReceiveStage, Signer, SignerError, SoftwareSigner,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Types the transaction code, or logs in in the browser as Erika.
struct User {
    tx_code: Option<String>,
}

const REDIRECT_URI: &str = "https://wallet.example/callback";

impl Interaction for User {
    fn tx_code<'a>(
        &'a self,
        _spec: &'a oid4vci_wallet::types::TxCodeSpec,
    ) -> BoxFuture<'a, oid4vci_wallet::Result<oid4vci_wallet::types::TxCode>> {
        let code = self
            .tx_code
            .clone()
            .expect("a transaction code is asked for");
        Box::pin(async move { Ok(code.into()) })
    }

    fn redirect_uri(&self) -> Option<String> {
        Some(REDIRECT_URI.into())
    }

    fn authorize<'a>(&'a self, url: &'a str) -> BoxFuture<'a, oid4vci_wallet::Result<String>> {
        Box::pin(async move { Ok(browser(url, "erika", "erika-password", true).await) })
    }
}

/// Options whose observer records every stage.
fn recording() -> (ReceiveOptions, Arc<Mutex<Vec<ReceiveStage>>>) {
    let stages = Arc::new(Mutex::new(Vec::new()));
    let sink = stages.clone();
    let options = ReceiveOptions::default()
        .with_progress(move |stage: &ReceiveStage| sink.lock().unwrap().push(stage.clone()));
    (options, stages)
}

fn fresh_key() -> Result<Arc<dyn Signer>, SignerError> {
    Ok(Arc::new(SoftwareSigner::generate()))
}

#[tokio::test]
async fn pre_authorized_with_a_tx_code_and_deferred_reports_each_stage_in_order() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, true));
    let (options, stages) = recording();
    let started = wallet.now();
    let received = wallet
        .receive_batch(
            &created.offer_url,
            &User {
                tx_code: created.tx_code.clone(),
            },
            &fresh_key,
            &options,
        )
        .await
        .unwrap();
    assert_eq!(received.credentials.len(), 3);
    let stages = stages.lock().unwrap().clone();
    let deferred = |stage: &ReceiveStage| match stage {
        ReceiveStage::Deferred {
            configuration_id,
            next_poll_in,
            next_poll_at,
        } => {
            assert_eq!(configuration_id, "pid_sd_jwt");
            assert_eq!(*next_poll_in, Duration::from_secs(1));
            assert!(
                (started + 1..=started + 30).contains(next_poll_at),
                "next poll at {next_poll_at}, started at {started}"
            );
            true
        }
        _ => false,
    };
    // Wait before the first poll; pending once; wait again; issued.
    assert_eq!(stages.len(), 8, "{stages:#?}");
    assert_eq!(stages[0], ReceiveStage::ResolvingOffer);
    assert_eq!(
        stages[1],
        ReceiveStage::ReadingMetadata {
            credential_issuer: issuer.issuer_id().to_string()
        }
    );
    assert_eq!(stages[2], ReceiveStage::WaitingForTxCode);
    assert_eq!(stages[3], ReceiveStage::Token);
    assert_eq!(
        stages[4],
        ReceiveStage::Credential {
            configuration_id: "pid_sd_jwt".into(),
            index: 1,
            total: 1,
            batch_size: 3,
        }
    );
    assert!(deferred(&stages[5]), "{:?}", stages[5]);
    assert!(deferred(&stages[6]), "{:?}", stages[6]);
    assert_eq!(stages[7], ReceiveStage::Done { credentials: 3 });
}

#[tokio::test]
async fn two_configurations_are_credential_1_of_2_and_2_of_2() {
    let issuer = start(Issuer::builder().batch_size(None)).await;
    let wallet = wallet();
    let created = issuer.create_offer(offer(&["pid_sd_jwt", "mdl_mdoc"], false, false, false));
    let (options, stages) = recording();
    let signer = SoftwareSigner::generate();
    wallet
        .receive(
            &created.offer_url,
            &User { tx_code: None },
            &signer,
            &options,
        )
        .await
        .unwrap();
    let stages = stages.lock().unwrap().clone();
    assert_eq!(
        stages,
        [
            ReceiveStage::ResolvingOffer,
            ReceiveStage::ReadingMetadata {
                credential_issuer: issuer.issuer_id().to_string()
            },
            ReceiveStage::Token,
            ReceiveStage::Credential {
                configuration_id: "pid_sd_jwt".into(),
                index: 1,
                total: 2,
                batch_size: 1,
            },
            ReceiveStage::Credential {
                configuration_id: "mdl_mdoc".into(),
                index: 2,
                total: 2,
                batch_size: 1,
            },
            ReceiveStage::Done { credentials: 2 },
        ]
    );
}

#[tokio::test]
async fn the_authorization_code_flow_reports_the_browser_wait_with_its_url() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, false)
    });
    let (options, stages) = recording();
    let received = wallet
        .receive_batch(
            &created.offer_url,
            &User { tx_code: None },
            &fresh_key,
            &options,
        )
        .await
        .unwrap();
    assert_eq!(received.credentials.len(), 3);
    let stages = stages.lock().unwrap().clone();
    assert_eq!(stages.len(), 6, "{stages:#?}");
    assert_eq!(stages[0], ReceiveStage::ResolvingOffer);
    assert!(matches!(stages[1], ReceiveStage::ReadingMetadata { .. }));
    match &stages[2] {
        ReceiveStage::WaitingForBrowser { authorization_url } => assert!(
            authorization_url.starts_with(&format!("{}/authorize?", issuer.issuer_id())),
            "{authorization_url}"
        ),
        other => panic!("expected the browser wait, got {other:?}"),
    }
    assert_eq!(stages[3], ReceiveStage::Token);
    assert!(matches!(
        stages[4],
        ReceiveStage::Credential { batch_size: 3, .. }
    ));
    assert_eq!(stages[5], ReceiveStage::Done { credentials: 3 });
}

#[tokio::test]
async fn wallet_initiated_request_reports_metadata_browser_token_and_credential() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    let (options, stages) = recording();
    let received = wallet
        .request_batch(
            &issuer.issuer_id(),
            &["pid_sd_jwt"],
            &User { tx_code: None },
            &fresh_key,
            &ReceiveOptions {
                max_batch_size: 2,
                ..options
            },
        )
        .await
        .unwrap();
    assert_eq!(received.credentials.len(), 2);
    let stages = stages.lock().unwrap().clone();
    let names: Vec<&str> = stages
        .iter()
        .map(|s| match s {
            ReceiveStage::ReadingMetadata { .. } => "metadata",
            ReceiveStage::WaitingForBrowser { .. } => "browser",
            ReceiveStage::Token => "token",
            ReceiveStage::Credential { batch_size: 2, .. } => "credential x2",
            ReceiveStage::Done { credentials: 2 } => "done",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        ["metadata", "browser", "token", "credential x2", "done"]
    );
}
