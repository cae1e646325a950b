//! The pre-authorized code flow end to end over real HTTP against the reference issuer.

use crate::common::*;
use oid4vci_wallet::types::InputMode;
use oid4vci_wallet::{
    Error, ErrorCode, Grant, Issuance, IssuedCredential, NotificationEvent, Signer, SoftwareSigner,
};
use oid4vci_wallet::{ProofErrorKind, TxCodeErrorKind};

fn pre_authorized(offer: &oid4vci_wallet::ResolvedOffer) -> oid4vci_wallet::PreAuthorizedStep {
    match offer.grant().expect("a grant") {
        Grant::PreAuthorized(step) => step,
        other => panic!("expected the pre-authorized grant, got {other:?}"),
    }
}

fn issued(issuance: Issuance) -> Vec<IssuedCredential> {
    match issuance {
        Issuance::Issued(list) => list,
        Issuance::Deferred(_) => panic!("expected immediate issuance"),
    }
}

#[tokio::test]
async fn by_reference_with_tx_code_issues_a_verified_bound_sd_jwt_in_six_requests() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let wallet = wallet();

    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    assert_eq!(resolved.issuer_id(), issuer.issuer_id());
    let names: Vec<_> = resolved
        .credentials()
        .iter()
        .map(|c| c.name(&["de".to_string()]))
        .collect();
    assert_eq!(names, ["Personalausweis"]);
    let step = pre_authorized(&resolved);
    let spec = step
        .tx_code_spec()
        .expect("the offer asks for a tx_code")
        .clone();
    assert_eq!(spec.mode(), InputMode::Numeric);
    assert_eq!(spec.length, Some(6));
    assert!(spec.description.is_some());

    let mut authorized = step
        .with_tx_code(created.tx_code.clone().unwrap())
        .authorize(&wallet)
        .await
        .unwrap();
    let signer = SoftwareSigner::generate();
    let credentials = issued(
        authorized
            .request_credential(&wallet, "pid_sd_jwt", &signer)
            .await
            .unwrap(),
    );
    assert_eq!(credentials.len(), 1);
    let c = &credentials[0];
    assert_eq!(c.format, "dc+sd-jwt");
    assert!(c.signature_verified);
    assert_eq!(c.holder_jwk.as_ref(), Some(&signer.public_jwk()));
    let claims = c.claims.as_ref().unwrap();
    assert_eq!(claims["given_name"], "Erika");
    assert_eq!(claims["family_name"], "Mustermann");
    assert_eq!(claims["address"]["locality"], "Berlin");
    let sd = c.sd_jwt().unwrap();
    assert_eq!(sd.vct(), Some("urn:eudi:pid:1"));
    assert_eq!(sd.holder_jwk(), Some(&signer.public_jwk()));
    assert!(c.notification_id.is_some());

    // Labels from the metadata, in the user's locale.
    let configuration = authorized.context().configuration("pid_sd_jwt").unwrap();
    let labelled = c.labelled_claims(configuration, &["de".to_string()]);
    assert!(
        labelled.iter().any(|(l, v)| l == "Vorname" && v == "Erika"),
        "{labelled:?}"
    );

    // Exactly: offer, issuer metadata, AS metadata, token, nonce, credential (+ jwt-vc-issuer).
    let stats = issuer.stats();
    let protocol: u64 = stats
        .iter()
        .filter(|(p, _)| !p.contains("jwt-vc-issuer"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(protocol, 6, "{stats:?}");
    assert!(count(&issuer, "jwt-vc-issuer") <= 1, "{stats:?}");
    for needle in [
        "/offers/",
        "openid-credential-issuer",
        "oauth-authorization-server",
        "/token",
        "/nonce",
        "/credential",
    ] {
        assert_eq!(count(&issuer, needle), 1, "{needle}: {stats:?}");
    }
}

#[tokio::test]
async fn by_value_without_tx_code_and_tenant_path() {
    let issuer = start(Issuer::builder().path("/tenant")).await;
    assert!(issuer.issuer_id().ends_with("/tenant"));
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    assert!(created.tx_code.is_none());
    assert!(created.offer_url.contains("credential_offer="));
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let step = pre_authorized(&resolved);
    assert!(step.tx_code_spec().is_none());
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let signer = SoftwareSigner::generate();
    let credentials = issued(
        authorized
            .request_credential(&wallet, "pid_sd_jwt", &signer)
            .await
            .unwrap(),
    );
    assert_eq!(
        credentials[0].claims.as_ref().unwrap()["birthdate"],
        "1964-08-12"
    );
    // The 1.0 path-inserted URL was used, never the draft-13 appended one.
    assert_eq!(
        count(&issuer, "/.well-known/openid-credential-issuer/tenant"),
        1,
        "{:?}",
        issuer.stats()
    );
    assert_eq!(
        count(&issuer, "/tenant/.well-known/"),
        0,
        "{:?}",
        issuer.stats()
    );
}

#[tokio::test]
async fn a_wrong_tx_code_is_rejected_and_the_right_one_still_works() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, false, false));
    let wallet = wallet();
    let step = pre_authorized(&wallet.resolve_offer(&created.offer_url).await.unwrap());
    let right = created.tx_code.unwrap();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let err = step
        .clone()
        .with_tx_code(wrong)
        .authorize(&wallet)
        .await
        .unwrap_err();
    // The reference issuer answers invalid_grant; the wallet sent a code, so
    // the code was refused.
    assert!(
        matches!(&err, Error::TxCode(e) if e.kind == TxCodeErrorKind::Rejected
            && e.problem.contains("invalid_grant")),
        "{err}"
    );
    assert!(
        !err.to_string().contains(wrong),
        "the error must not quote the code: {err}"
    );
    step.with_tx_code(right).authorize(&wallet).await.unwrap();
}

#[tokio::test]
async fn a_missing_tx_code_fails_before_any_token_request() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, false, false));
    let wallet = wallet();
    let step = pre_authorized(&wallet.resolve_offer(&created.offer_url).await.unwrap());
    let err = step.authorize(&wallet).await.unwrap_err();
    assert!(
        matches!(err, Error::TxCode(ref e) if e.kind == TxCodeErrorKind::Missing
            && e.problem.contains("6 characters")),
        "{err}"
    );
    assert_eq!(count(&issuer, "/token"), 0);
}

#[tokio::test]
async fn unbound_configuration_sends_no_proof_and_skips_the_nonce() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["membership_sd_jwt"], false, false, false));
    let wallet = wallet();
    let step = pre_authorized(&wallet.resolve_offer(&created.offer_url).await.unwrap());
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let credentials = issued(
        authorized
            .request_credential(&wallet, "membership_sd_jwt", &SoftwareSigner::generate())
            .await
            .unwrap(),
    );
    let c = &credentials[0];
    assert!(c.holder_jwk.is_none());
    assert!(c.sd_jwt().unwrap().holder_jwk().is_none());
    assert_eq!(c.claims.as_ref().unwrap()["level"], "gold");
    assert_eq!(count(&issuer, "/nonce"), 0);
}

#[tokio::test]
async fn two_offered_credentials_and_a_batch_with_distinct_keys() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(
        &["pid_sd_jwt", "membership_sd_jwt"],
        false,
        false,
        false,
    ));
    let wallet = wallet();
    let step = pre_authorized(&wallet.resolve_offer(&created.offer_url).await.unwrap());
    let mut authorized = step.authorize(&wallet).await.unwrap();
    assert_eq!(
        authorized.credential_configuration_ids(),
        ["pid_sd_jwt", "membership_sd_jwt"]
    );
    let keys = [
        SoftwareSigner::generate(),
        SoftwareSigner::generate(),
        SoftwareSigner::generate(),
    ];
    let signers: Vec<&dyn Signer> = keys.iter().map(|k| k as &dyn Signer).collect();
    let batch = issued(
        authorized
            .request_credentials(&wallet, "pid_sd_jwt", &signers)
            .await
            .unwrap(),
    );
    assert_eq!(batch.len(), 3);
    for key in &keys {
        assert_eq!(
            batch
                .iter()
                .filter(|c| c.holder_jwk.as_ref() == Some(&key.public_jwk()))
                .count(),
            1,
            "each key bound exactly once"
        );
    }
    let membership = issued(
        authorized
            .request_credential(&wallet, "membership_sd_jwt", &keys[0])
            .await
            .unwrap(),
    );
    assert_eq!(membership[0].configuration_id, "membership_sd_jwt");
    // Too many keys for the advertised batch_size (3) fails before any request.
    let four: Vec<SoftwareSigner> = (0..4).map(|_| SoftwareSigner::generate()).collect();
    let signers: Vec<&dyn Signer> = four.iter().map(|k| k as &dyn Signer).collect();
    let before = count(&issuer, "/credential");
    let err = authorized
        .request_credentials(&wallet, "pid_sd_jwt", &signers)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Proof(ref m) if m.kind == ProofErrorKind::TooManyKeys && m.problem.contains("at most 3")),
        "{err}"
    );
    assert_eq!(count(&issuer, "/credential"), before);
    // A configuration that was not offered.
    let err = authorized
        .request_credential(&wallet, "nope", &keys[0])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err}");
}

#[tokio::test]
async fn configuration_id_is_sent_when_the_token_has_no_identifiers() {
    let issuer = start(Issuer::builder().credential_identifiers(false)).await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let wallet = wallet();
    let step = pre_authorized(&wallet.resolve_offer(&created.offer_url).await.unwrap());
    let mut authorized = step.authorize(&wallet).await.unwrap();
    assert!(authorized.credential_identifiers("pid_sd_jwt").is_empty());
    let credentials = issued(
        authorized
            .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
            .await
            .unwrap(),
    );
    assert_eq!(credentials.len(), 1);
}

#[tokio::test]
async fn draft13_c_nonce_from_the_token_response_without_a_nonce_endpoint() {
    let issuer = start(Issuer::builder().nonce_endpoint(false)).await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    assert!(resolved.context().issuer.nonce_endpoint.is_none());
    let mut authorized = pre_authorized(&resolved).authorize(&wallet).await.unwrap();
    let credentials = issued(
        authorized
            .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
            .await
            .unwrap(),
    );
    assert!(credentials[0].signature_verified);
    assert_eq!(count(&issuer, "/nonce"), 0);
}

#[tokio::test]
async fn invalid_nonce_is_retried_once_with_a_fresh_nonce() {
    let issuer = start(Issuer::builder().fault(Fault::NonceInvalidOnce)).await;
    let wallet = wallet();
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_sd_jwt"]).await;
    issued(
        authorized
            .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
            .await
            .unwrap(),
    );
    assert_eq!(count(&issuer, "/nonce"), 2);
    assert_eq!(count(&issuer, "/credential"), 2);
}

#[tokio::test]
async fn invalid_nonce_every_time_ends_in_a_typed_error_after_bounded_retries() {
    let issuer = start(Issuer::builder().fault(Fault::NonceAlwaysInvalid)).await;
    let wallet = wallet();
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_sd_jwt"]).await;
    let err = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap_err();
    assert_eq!(
        err.server_error().map(|e| &e.code),
        Some(&ErrorCode::InvalidNonce),
        "{err}"
    );
    assert_eq!(count(&issuer, "/credential"), 2);
}

#[tokio::test]
async fn notification_is_delivered_and_unknown_ids_are_typed_errors() {
    let issuer = default_issuer().await;
    let wallet = wallet();
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_sd_jwt"]).await;
    let credentials = issued(
        authorized
            .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
            .await
            .unwrap(),
    );
    let id = credentials[0].notification_id.clone().unwrap();
    authorized
        .notify(&wallet, &id, NotificationEvent::CredentialAccepted)
        .await
        .unwrap();
    assert_eq!(
        issuer.notifications(),
        vec![(id.clone(), "credential_accepted".to_string())]
    );
    let err = authorized
        .notify(&wallet, "no-such-id", NotificationEvent::CredentialDeleted)
        .await
        .unwrap_err();
    assert_eq!(
        err.server_error().map(|e| &e.code),
        Some(&ErrorCode::InvalidNotificationId),
        "{err}"
    );
    let err = authorized
        .notify_with_description(
            &wallet,
            &id,
            NotificationEvent::CredentialFailure,
            Some("bad \"quote\""),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)));
}

#[tokio::test]
async fn an_authorized_session_survives_a_restart() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let saved = {
        let wallet = wallet();
        let step = pre_authorized(&wallet.resolve_offer(&created.offer_url).await.unwrap());
        step.with_tx_code(created.tx_code.unwrap())
            .authorize(&wallet)
            .await
            .unwrap()
            .to_json()
            .unwrap()
    };
    let wallet = wallet();
    let mut restored = oid4vci_wallet::Authorized::from_json(&saved).unwrap();
    let credentials = issued(
        restored
            .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
            .await
            .unwrap(),
    );
    assert_eq!(credentials.len(), 1);
}

#[tokio::test]
async fn the_pre_authorized_code_is_single_use() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let wallet = wallet();
    let step = pre_authorized(&wallet.resolve_offer(&created.offer_url).await.unwrap());
    step.authorize(&wallet).await.unwrap();
    let err = step.authorize(&wallet).await.unwrap_err();
    assert_eq!(
        err.server_error().map(|e| &e.code),
        Some(&ErrorCode::InvalidGrant),
        "{err}"
    );
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output_and_errors() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, false, false));
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let step = pre_authorized(&resolved);
    let code = resolved
        .offer()
        .grants
        .as_ref()
        .unwrap()
        .pre_authorized_code
        .as_ref()
        .unwrap()
        .pre_authorized_code
        .secret()
        .to_string();
    let tx = created.tx_code.unwrap();
    let step = step.with_tx_code(tx.clone());
    let authorized = step.authorize(&wallet).await.unwrap();
    let token = authorized.token().access_token.secret().to_string();
    for text in [
        format!("{resolved:?}"),
        format!("{step:?}"),
        format!("{authorized:?}"),
        format!("{wallet:?}"),
    ] {
        for secret in [&code, &tx, &token] {
            assert!(!text.contains(secret.as_str()), "secret leaked into {text}");
        }
    }
}

/// SPEC A16: an issuance the wallet knows it cannot finish (here: key
/// attestations required, which it cannot attach yet) is refused right
/// after the metadata is read: the one-time code is not redeemed, no PAR is
/// pushed, the user is not sent to log in.
#[tokio::test]
async fn an_issuance_that_cannot_finish_is_refused_before_anything_is_spent() {
    let issuer = start(
        Issuer::builder()
            .key_attestations_required(true)
            .pushed_authorization(true),
    )
    .await;
    let wallet = wallet();

    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let step = pre_authorized(&resolved).with_tx_code(created.tx_code.clone().unwrap());
    let err = step.authorize(&wallet).await.unwrap_err();
    assert!(
        matches!(&err, Error::Proof(m) if m.kind == ProofErrorKind::KeyAttestationRequired),
        "{err}"
    );
    assert_eq!(count(&issuer, "/token"), 0, "the code was not redeemed");

    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, false)
    });
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::AuthorizationCode(step) = resolved.grant().unwrap() else {
        panic!("the authorization code grant")
    };
    let err = step
        .authorization_url(&wallet, "https://wallet.example/callback")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Proof(m) if m.kind == ProofErrorKind::KeyAttestationRequired),
        "{err}"
    );
    assert_eq!(count(&issuer, "/par"), 0, "nothing was pushed");
    assert_eq!(count(&issuer, "/token"), 0);

    // An issuer without the requirement issues: the check is not a blanket
    // refusal.
    let plain = default_issuer().await;
    let created = plain.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let mut authorized = pre_authorized(&resolved).authorize(&wallet).await.unwrap();
    assert!(authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .is_ok());
}

/// The wallet provider of a test: asks a reference issuer's trusted
/// provider for key attestations, recording what it was asked.
#[derive(Clone)]
struct Provider {
    issuer: std::sync::Arc<RunningIssuer>,
    asked: std::sync::Arc<std::sync::Mutex<Vec<Asked>>>,
}

/// How many keys a provider was asked to attest, with which nonce, at which
/// key_storage levels, for which issuer.
type Asked = (usize, Option<String>, Vec<String>, String);

impl Provider {
    fn of(issuer: std::sync::Arc<RunningIssuer>) -> Self {
        Self {
            issuer,
            asked: Default::default(),
        }
    }

    fn wallet(&self) -> oid4vci_wallet::Wallet {
        oid4vci_wallet::Wallet::builder()
            .client_id("test-wallet")
            .dangerous_allow_http()
            .key_attestations(self.clone())
            .build()
            .unwrap()
    }
}

impl oid4vci_wallet::KeyAttestationProvider for Provider {
    fn key_attestation(
        &self,
        request: &oid4vci_wallet::KeyAttestationRequest<'_>,
    ) -> Result<String, oid4vci_wallet::SignerError> {
        self.asked.lock().unwrap().push((
            request.keys.len(),
            request.nonce.map(str::to_string),
            request.key_storage.clone(),
            request.credential_issuer.to_string(),
        ));
        Ok(self.issuer.issue_key_attestation(
            request.keys,
            request.nonce,
            std::time::Duration::from_secs(300),
        ))
    }
}

/// An EU-PID-style configuration (`key_attestations_required`) is received
/// once the app gives a key attestation provider: one attestation for the
/// batch's keys, with the issuer's c_nonce, in every proof's header.
#[tokio::test]
async fn key_attestations_from_the_wallet_provider_get_the_pid_issued() {
    let issuer = std::sync::Arc::new(
        start(
            Issuer::builder()
                .key_attestations_required(true)
                .batch_size(Some(2)),
        )
        .await,
    );
    let provider = Provider::of(issuer.clone());
    let wallet = provider.wallet();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let mut authorized = pre_authorized(&resolved).authorize(&wallet).await.unwrap();
    let (a, b) = (SoftwareSigner::generate(), SoftwareSigner::generate());
    let credentials = issued(
        authorized
            .request_credentials(&wallet, "pid_sd_jwt", &[&a, &b])
            .await
            .unwrap(),
    );
    assert_eq!(credentials.len(), 2);
    let asked = provider.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "one attestation for the batch");
    assert_eq!(asked[0].0, 2);
    assert!(asked[0].1.is_some(), "with the issuer's c_nonce");
    assert_eq!(
        asked[0].2,
        ["iso_18045_high"],
        "the issuer's key_storage levels"
    );
    let stats = issuer.stats();
    assert_eq!(stats["key_attestations_accepted"], 2, "{stats:?}");
    assert_eq!(stats["key_attestations_rejected"], 0, "{stats:?}");
}

/// A key attestation the issuer does not accept (another provider's) ends
/// in invalid_proof at the issuer, never in an issued credential.
#[tokio::test]
async fn a_key_attestation_from_an_untrusted_provider_is_refused() {
    let trusted = start(Issuer::builder().key_attestations_required(true)).await;
    let wallet = Provider::of(std::sync::Arc::new(default_issuer().await)).wallet();
    let created = trusted.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let mut authorized = pre_authorized(&resolved).authorize(&wallet).await.unwrap();
    let err = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap_err();
    assert_eq!(
        err.server_error().map(|e| e.code.clone()),
        Some(ErrorCode::InvalidProof),
        "{err}"
    );
    assert_eq!(trusted.stats()["key_attestations_rejected"], 1);
}

/// The user's side of `Wallet::receive`: the tx_code they were sent.
struct Typist(Option<String>);

impl oid4vci_wallet::Interaction for Typist {
    fn tx_code<'a>(
        &'a self,
        _spec: &'a oid4vci_wallet::types::TxCodeSpec,
    ) -> oid4vci_wallet::BoxFuture<'a, oid4vci_wallet::Result<oid4vci_wallet::types::TxCode>> {
        let code = self.0.clone().unwrap_or_default();
        Box::pin(async move { Ok(code.into()) })
    }
}

/// `receive` of an offer with one configuration this wallet can finish and
/// one it cannot (key attestations required, no provider): it requests only
/// the first and says why not the other, instead of failing after the code
/// is spent; and naming the other explicitly is refused before the token
/// request.
#[tokio::test]
async fn receive_requests_only_what_it_can_finish_and_says_what_it_left() {
    let issuer = start(Issuer::builder().key_attestations_required(true)).await;
    let wallet = wallet();
    let signer = SoftwareSigner::generate();
    let created = issuer.create_offer(offer(
        &["pid_sd_jwt", "membership_sd_jwt"],
        true,
        false,
        false,
    ));
    let received = wallet
        .receive(
            &created.offer_url,
            &Typist(created.tx_code.clone()),
            &signer,
            &oid4vci_wallet::ReceiveOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(received.credentials.len(), 1);
    assert_eq!(
        received.credentials[0].configuration_id,
        "membership_sd_jwt"
    );
    assert_eq!(received.not_requested.len(), 1);
    assert_eq!(received.not_requested[0].0, "pid_sd_jwt");
    assert!(
        received.not_requested[0].1.contains("key attestation"),
        "{:?}",
        received.not_requested
    );

    issuer.reset_stats();
    let created = issuer.create_offer(offer(
        &["pid_sd_jwt", "membership_sd_jwt"],
        true,
        false,
        false,
    ));
    let options = oid4vci_wallet::ReceiveOptions {
        credential_configuration_ids: Some(vec!["pid_sd_jwt".into()]),
        ..Default::default()
    };
    let err = wallet
        .receive(
            &created.offer_url,
            &Typist(created.tx_code.clone()),
            &signer,
            &options,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Proof(p) if p.kind == ProofErrorKind::KeyAttestationRequired),
        "{err}"
    );
    assert_eq!(count(&issuer, "/token"), 0, "nothing spent");
}

/// An issuer that accepts only the `attestation` proof type: the wallet
/// sends its provider's key attestation (with the c_nonce) as the proof, one
/// for a batch of three keys, each credential bound to its key, SD-JWT and
/// mdoc alike; and the nonce is carried when the issuer requires it.
#[tokio::test]
async fn the_attestation_proof_type_carries_a_batch_under_one_key_attestation() {
    use oid4vci_issuer::KeyAttestations;
    let issuer = std::sync::Arc::new(
        start(
            Issuer::builder()
                .key_attestations(KeyAttestations::RequiredWithNonce)
                .attestation_proof_only(true)
                .batch_size(Some(3)),
        )
        .await,
    );
    let provider = Provider::of(issuer.clone());
    let wallet = provider.wallet();
    for configuration in ["pid_sd_jwt", "pid_mdoc"] {
        let created = issuer.create_offer(offer(&[configuration], false, false, false));
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        let mut authorized = pre_authorized(&resolved).authorize(&wallet).await.unwrap();
        let signers: Vec<SoftwareSigner> = (0..3).map(|_| SoftwareSigner::generate()).collect();
        let refs: Vec<&dyn Signer> = signers.iter().map(|s| s as &dyn Signer).collect();
        let credentials = issued(
            authorized
                .request_credentials(&wallet, configuration, &refs)
                .await
                .unwrap(),
        );
        assert_eq!(credentials.len(), 3, "{configuration}");
        let mut bound: Vec<String> = credentials
            .iter()
            .map(|c| c.holder_jwk.as_ref().unwrap()["x"].to_string())
            .collect();
        bound.sort();
        bound.dedup();
        assert_eq!(bound.len(), 3, "each credential bound to its own key");
    }
    let asked = provider.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2, "one attestation per request");
    assert!(asked.iter().all(|a| a.0 == 3 && a.1.is_some()), "{asked:?}");
    let stats = issuer.stats();
    assert_eq!(stats["key_attestations_accepted"], 2, "{stats:?}");
    assert_eq!(stats["key_attestations_rejected"], 0, "{stats:?}");

    // Without a provider: refused before the token request.
    issuer.reset_stats();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let plain = crate::common::wallet();
    let resolved = plain.resolve_offer(&created.offer_url).await.unwrap();
    let err = pre_authorized(&resolved)
        .authorize(&plain)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Proof(p) if p.kind == ProofErrorKind::KeyAttestationRequired),
        "{err}"
    );
    assert_eq!(count(&issuer, "/token"), 0);
}

/// A wallet provider whose key attestations have a defect.
struct FaultyProvider {
    issuer: std::sync::Arc<RunningIssuer>,
    options: oid4vci_issuer::KeyAttestationOptions,
    /// Attest another key than the proof's.
    other_key: bool,
}

impl oid4vci_wallet::KeyAttestationProvider for FaultyProvider {
    fn key_attestation(
        &self,
        request: &oid4vci_wallet::KeyAttestationRequest<'_>,
    ) -> Result<String, oid4vci_wallet::SignerError> {
        let other = [SoftwareSigner::generate().public_jwk()];
        let keys = if self.other_key {
            &other[..]
        } else {
            request.keys
        };
        Ok(self
            .issuer
            .issue_key_attestation_with(keys, request.nonce, self.options.clone()))
    }
}

/// Each defect of a key attestation, as the issuer sees it, reaches the app
/// as a typed server error (`invalid_proof`) naming it; a provider that
/// fails is the wallet's own Proof error (SignerFailed).
#[tokio::test]
async fn each_key_attestation_defect_is_a_typed_error_naming_it() {
    use oid4vci_issuer::{KeyAttestationFault, KeyAttestationOptions, KeyAttestations};
    let issuer = std::sync::Arc::new(
        start(Issuer::builder().key_attestations(KeyAttestations::RequiredWithNonce)).await,
    );
    let base = KeyAttestationOptions::default();
    let cases = [
        (
            KeyAttestationOptions {
                fault: Some(KeyAttestationFault::Expired),
                ..base.clone()
            },
            false,
            "expired",
        ),
        (
            KeyAttestationOptions {
                fault: Some(KeyAttestationFault::UnknownProvider),
                ..base.clone()
            },
            false,
            "unknown wallet provider",
        ),
        (
            KeyAttestationOptions {
                key_storage: vec!["iso_18045_basic".into()],
                ..base.clone()
            },
            false,
            "level too low",
        ),
        (base.clone(), true, "not attested"),
    ];
    for (options, other_key, needle) in cases {
        let wallet = oid4vci_wallet::Wallet::builder()
            .client_id("test-wallet")
            .dangerous_allow_http()
            .key_attestations(FaultyProvider {
                issuer: issuer.clone(),
                options,
                other_key,
            })
            .build()
            .unwrap();
        let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        let mut authorized = pre_authorized(&resolved).authorize(&wallet).await.unwrap();
        let err = authorized
            .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
            .await
            .unwrap_err();
        let server = err
            .server_error()
            .unwrap_or_else(|| panic!("{needle}: {err}"));
        assert_eq!(server.code, ErrorCode::InvalidProof, "{needle}: {err}");
        assert!(
            server
                .description
                .as_deref()
                .unwrap_or_default()
                .contains(needle),
            "{needle}: {err}"
        );
    }

    // The provider itself fails: the wallet's Proof error, nothing sent.
    struct Failing;
    impl oid4vci_wallet::KeyAttestationProvider for Failing {
        fn key_attestation(
            &self,
            _: &oid4vci_wallet::KeyAttestationRequest<'_>,
        ) -> Result<String, oid4vci_wallet::SignerError> {
            Err(oid4vci_wallet::SignerError(
                "the wallet provider is offline".into(),
            ))
        }
    }
    let wallet = oid4vci_wallet::Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .key_attestations(Failing)
        .build()
        .unwrap();
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let mut authorized = pre_authorized(&resolved).authorize(&wallet).await.unwrap();
    issuer.reset_stats();
    let err = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Proof(p) if p.kind == ProofErrorKind::SignerFailed
            && p.problem.contains("offline")),
        "{err}"
    );
    assert_eq!(count(&issuer, "/credential"), 0);
}
