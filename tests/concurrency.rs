//! 1000 issuances at once from one process against one reference issuer:
//! all succeed, and each credential carries the claims of its own offer.

mod common;

use common::*;
use oid4vci_wallet::{Grant, Issuance, SoftwareSigner, Wallet};
use serde_json::json;
use std::sync::Arc;

const ISSUANCES: usize = 1000;

async fn issue(issuer: Arc<RunningIssuer>, wallet: Wallet, n: usize) -> (usize, String, String) {
    let mut request = offer(&["pid_sd_jwt"], n % 2 == 0, n % 3 == 0, false);
    let name = format!("Person-{n}");
    request.claims = Some(json!({"given_name": name}).as_object().unwrap().clone());
    let created = issuer.create_offer(request);
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(mut step) = resolved.grant().unwrap() else {
        panic!("pre-authorized expected")
    };
    if let Some(code) = created.tx_code {
        step = step.with_tx_code(code);
    }
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let signer = SoftwareSigner::generate();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    assert!(list[0].signature_verified);
    assert_eq!(
        list[0].holder_jwk.as_ref(),
        Some(&oid4vci_wallet::Signer::public_jwk(&signer))
    );
    let got = list[0].claims.as_ref().unwrap()["given_name"]
        .as_str()
        .unwrap()
        .to_string();
    (n, name, got)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_concurrent_issuances_do_not_mix_up_claims() {
    let issuer = Arc::new(default_issuer().await);
    let wallet = wallet();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..ISSUANCES {
        tasks.spawn(issue(issuer.clone(), wallet.clone(), n));
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        let (n, expected, got) = result.expect("issuance task");
        assert_eq!(got, expected, "issuance {n} got another offer's claims");
        done += 1;
    }
    assert_eq!(done, ISSUANCES);
    assert_eq!(count(&issuer, "/credential"), ISSUANCES as u64);
}
