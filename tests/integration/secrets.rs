//! No secret the issuer hands out (pre-authorized and authorization codes,
//! transaction codes, access and refresh tokens, nonces, issuer_state), nor the
//! PKCE verifier, the DPoP and response decryption keys or the wallet's
//! private key, appears in any log line (TRACE),
//! any `Debug` output of a state, or any error text — across every flow.

use crate::common::*;
use base64::Engine as _;
use oid4vci_wallet::{
    DeferredStatus, Grant, Issuance, NotificationEvent, PendingAuthorization, SoftwareSigner,
};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_in_logs_debug_output_or_errors() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .without_time()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let issuer = start(
        Issuer::builder()
            .access_token_lifetime(Duration::from_secs(1))
            .require_dpop(true)
            .dpop_nonce(true)
            .encryption(oid4vci_issuer::Encryption::Required)
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let key_bytes = [0x5au8; 32];
    let signer = SoftwareSigner::from_bytes(&key_bytes).unwrap();
    let mut texts: Vec<String> = Vec::new();

    // Pre-authorized with a tx_code: a wrong code first, then deferred and notified.
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, true));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!()
    };
    let right = created.tx_code.clone().unwrap();
    let wrong = if right == "999999" {
        "888888"
    } else {
        "999999"
    };
    let err = step
        .clone()
        .with_tx_code(wrong)
        .authorize(&wallet)
        .await
        .unwrap_err();
    texts.push(err.to_string());
    texts.push(format!("{err:?}"));
    let step = step.with_tx_code(right);
    texts.push(format!("{resolved:?}"));
    texts.push(format!("{step:?}"));
    let mut authorized = step.authorize(&wallet).await.unwrap();
    texts.push(format!("{authorized:?}"));
    let mut dpop_keys = vec![dpop_key(&authorized.to_json().unwrap())];
    let Issuance::Deferred(mut pending) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    else {
        panic!("expected deferred")
    };
    texts.push(format!("{pending:?}"));
    let saved: serde_json::Value = serde_json::from_str(&pending.to_json().unwrap()).unwrap();
    let response_key = saved["plan"]["encryption"]["response"]["key"]
        .as_str()
        .expect("the response decryption key in the saved transaction")
        .to_string();
    let list = pending
        .poll_until_ready(&wallet, Duration::from_secs(20), None)
        .await
        .unwrap();
    texts.push(format!("{:?}", list[0].notification_id));
    let id = list[0].notification_id.clone().unwrap();
    // Through the transaction: it holds the tokens refreshed while polling.
    pending
        .notify(&wallet, &id, NotificationEvent::CredentialAccepted)
        .await
        .unwrap();
    texts.push(format!("{authorized:?}"));

    // Authorization code with PAR, a refresh after the token expired, and a
    // callback error.
    let created = issuer.create_offer(oid4vci_issuer::OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, true)
    });
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::AuthorizationCode(step) = resolved.grant().unwrap() else {
        panic!()
    };
    texts.push(format!("{step:?}"));
    let pending_auth = step
        .authorization_url(&wallet, "https://wallet.example/cb")
        .await
        .unwrap();
    texts.push(format!("{pending_auth:?}"));
    let saved: serde_json::Value = serde_json::from_str(&pending_auth.to_json().unwrap()).unwrap();
    let verifier = saved["verifier"]
        .as_str()
        .expect("the saved verifier")
        .to_string();
    dpop_keys.push(dpop_key(&pending_auth.to_json().unwrap()));
    let redirect = browser(pending_auth.url(), "erika", "erika-password", true).await;
    let err = PendingAuthorization::from_json(&pending_auth.to_json().unwrap())
        .unwrap()
        .complete(&wallet, &redirect.replace("state=", "state=x"))
        .await
        .unwrap_err();
    texts.push(err.to_string());
    let mut authorized = pending_auth.complete(&wallet, &redirect).await.unwrap();
    texts.push(format!("{authorized:?}"));
    let Issuance::Deferred(mut pending) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    else {
        panic!("expected deferred")
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    while let DeferredStatus::Pending { interval } = pending.poll(&wallet).await.unwrap() {
        tokio::time::sleep(interval).await;
    }
    texts.push(format!("{pending:?}"));
    texts.push(format!("{wallet:?}"));
    texts.push(format!("{signer:?}"));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("request") && logs.contains("/token"),
        "the subscriber captured the SDK's events: {logs}"
    );
    texts.push(logs);

    // wrong tx_code, right one, a refresh while polling, the code exchange,
    // another refresh: every kind of token went by.
    assert!(count(&issuer, "/token") >= 5, "{:?}", issuer.stats());
    let mut secrets = issuer.secrets_issued();
    assert!(secrets.len() >= 10, "{} secrets issued", secrets.len());
    secrets.push(verifier);
    secrets.push(hex(&key_bytes));
    secrets.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key_bytes));
    secrets.push(wrong.to_string());
    secrets.extend(dpop_keys);
    secrets.push(response_key);
    for secret in &secrets {
        for text in &texts {
            assert!(
                !text.contains(secret.as_str()),
                "secret {secret:?} leaked into: {text}"
            );
        }
    }
}

/// The DPoP private key in a saved session (the flows above run with DPoP).
fn dpop_key(saved: &str) -> String {
    let saved: serde_json::Value = serde_json::from_str(saved).unwrap();
    saved["dpop"]["key"]
        .as_str()
        .expect("a DPoP key in the saved session")
        .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
