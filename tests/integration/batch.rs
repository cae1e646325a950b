//! Batches of fresh keys: `Wallet::receive_batch` asks a `KeySource` for a
//! new key per credential, as many as the issuer's `batch_size` allows up
//! to the app's cap, and gets each credential bound to its own key.

use crate::common::*;
use oid4vci_wallet::{
    Error, Interaction, IssuedCredential, KeySource, ProofErrorKind, ReceiveOptions, Signer,
    SignerError, SoftwareSigner, Wallet,
};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Fresh software keys, remembering the public key of each it made.
#[derive(Default)]
struct Keys {
    made: Mutex<Vec<Value>>,
}

impl Keys {
    fn made(&self) -> Vec<Value> {
        self.made.lock().unwrap().clone()
    }
}

impl KeySource for Keys {
    fn new_key(&self) -> Result<Arc<dyn Signer>, SignerError> {
        let signer = SoftwareSigner::generate();
        self.made.lock().unwrap().push(signer.public_jwk());
        Ok(Arc::new(signer))
    }
}

/// No transaction code, no browser.
struct Nobody;

impl Interaction for Nobody {
    fn tx_code<'a>(
        &'a self,
        _spec: &'a oid4vci_wallet::types::TxCodeSpec,
    ) -> oid4vci_wallet::BoxFuture<'a, oid4vci_wallet::Result<oid4vci_wallet::types::TxCode>> {
        Box::pin(async { panic!("no transaction code was expected") })
    }
}

/// The key a credential is bound to, read from the credential itself:
/// `cnf.jwk` of an SD-JWT, `deviceKey` of an mdoc.
fn bound_key(credential: &IssuedCredential) -> Value {
    match credential.format.as_str() {
        "mso_mdoc" => credential.mdoc().unwrap().device_jwk().clone(),
        _ => credential.sd_jwt().unwrap().holder_jwk().unwrap().clone(),
    }
}

fn same_key(a: &Value, b: &Value) -> bool {
    a["kty"] == b["kty"] && a["crv"] == b["crv"] && a["x"] == b["x"] && a["y"] == b["y"]
}

/// Every credential bound to a key the source made, no key twice.
fn assert_each_bound_to_its_own_key(credentials: &[IssuedCredential], made: &[Value]) {
    let mut used = vec![false; made.len()];
    for credential in credentials {
        let bound = bound_key(credential);
        let holder = credential
            .holder_jwk
            .as_ref()
            .expect("the holder key is named");
        assert!(same_key(&bound, holder), "{bound} is not {holder}");
        let slot = made
            .iter()
            .position(|k| same_key(k, &bound))
            .unwrap_or_else(|| panic!("{bound} is not a key the source made"));
        assert!(!used[slot], "two credentials bound to {bound}");
        used[slot] = true;
    }
}

async fn receive_batch(
    issuer: &RunningIssuer,
    wallet: &Wallet,
    ids: &[&str],
    keys: &Keys,
    options: &ReceiveOptions,
) -> oid4vci_wallet::Result<oid4vci_wallet::Received> {
    let created = issuer.create_offer(offer(ids, false, false, false));
    wallet
        .receive_batch(&created.offer_url, &Nobody, keys, options)
        .await
}

#[tokio::test]
async fn batch_size_3_gives_three_credentials_each_bound_to_its_own_fresh_key() {
    let issuer = default_issuer().await;
    let wallet = Wallet::builder()
        .dangerous_allow_http()
        .trust_anchor(issuer.trust_anchor_pem())
        .build()
        .unwrap();
    let keys = Keys::default();
    let received = receive_batch(
        &issuer,
        &wallet,
        &["pid_sd_jwt", "mdl_mdoc"],
        &keys,
        &ReceiveOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(keys.made().len(), 6, "three fresh keys per configuration");
    let ids: Vec<&str> = received
        .credentials
        .iter()
        .map(|c| c.configuration_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "pid_sd_jwt",
            "pid_sd_jwt",
            "pid_sd_jwt",
            "mdl_mdoc",
            "mdl_mdoc",
            "mdl_mdoc"
        ]
    );
    assert_each_bound_to_its_own_key(&received.credentials, &keys.made());
    for credential in &received.credentials {
        assert!(
            credential.signature_verified,
            "{:?}",
            credential.verification
        );
    }
    assert_eq!(
        received.credentials[0].claims.as_ref().unwrap()["given_name"],
        "Erika"
    );
    assert_eq!(
        count(&issuer, "/credential"),
        2,
        "one request per configuration"
    );
}

#[tokio::test]
async fn the_apps_cap_limits_the_batch_and_a_cap_of_1_asks_for_one() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    for (cap, expected) in [(1, 1), (2, 2), (10, 3)] {
        let keys = Keys::default();
        let options = ReceiveOptions {
            max_batch_size: cap,
            ..Default::default()
        };
        let received = receive_batch(&issuer, &wallet, &["pid_sd_jwt"], &keys, &options)
            .await
            .unwrap();
        assert_eq!(keys.made().len(), expected, "cap {cap}");
        assert_eq!(received.credentials.len(), expected, "cap {cap}");
        assert_each_bound_to_its_own_key(&received.credentials, &keys.made());
    }
}

#[tokio::test]
async fn an_issuer_without_batch_issuance_gets_one_fresh_key_per_configuration() {
    let issuer = start(Issuer::builder().batch_size(None)).await;
    let wallet = wallet();
    let keys = Keys::default();
    let received = receive_batch(
        &issuer,
        &wallet,
        &["pid_sd_jwt", "mdl_mdoc"],
        &keys,
        &ReceiveOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(keys.made().len(), 2);
    assert_eq!(received.credentials.len(), 2);
    assert_each_bound_to_its_own_key(&received.credentials, &keys.made());
}

#[tokio::test]
async fn a_deferred_batch_arrives_whole_each_bound_to_its_own_key() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet();
    let keys = Keys::default();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, true));
    let received = wallet
        .receive_batch(
            &created.offer_url,
            &Nobody,
            &keys,
            &ReceiveOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(received.credentials.len(), 3);
    assert_each_bound_to_its_own_key(&received.credentials, &keys.made());
}

#[tokio::test]
async fn a_key_source_that_repeats_a_key_or_fails_is_refused_before_the_request() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    let one: Arc<dyn Signer> = Arc::new(SoftwareSigner::generate());
    let same = move || -> Result<Arc<dyn Signer>, SignerError> { Ok(one.clone()) };
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let err = wallet
        .receive_batch(
            &created.offer_url,
            &Nobody,
            &same,
            &ReceiveOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Proof(p) if p.kind == ProofErrorKind::KeyUsedTwice),
        "{err}"
    );

    let broken = || -> Result<Arc<dyn Signer>, SignerError> {
        Err(SignerError("the key store is locked".into()))
    };
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let err = wallet
        .receive_batch(
            &created.offer_url,
            &Nobody,
            &broken,
            &ReceiveOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Proof(p) if p.kind == ProofErrorKind::SignerFailed),
        "{err}"
    );
    assert!(err.to_string().contains("the key store is locked"), "{err}");
    assert_eq!(count(&issuer, "/credential"), 0, "nothing was requested");
}

#[tokio::test]
async fn the_one_signer_receive_still_asks_for_one_credential() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    let signer = SoftwareSigner::generate();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let received = wallet
        .receive(
            &created.offer_url,
            &Nobody,
            &signer,
            &ReceiveOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(received.credentials.len(), 1);
    assert!(same_key(
        &bound_key(&received.credentials[0]),
        &signer.public_jwk()
    ));
}
