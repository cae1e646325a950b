//! Draft-13 issuers (and draft-11/12 offers) end to end over real HTTP: the
//! reference issuer in draft-13 mode refuses 1.0 request shapes, so each
//! success shows the wallet chose the draft-13 shapes from the metadata alone.

use crate::common::*;
use oid4vci_wallet::types::SpecVersion;
use oid4vci_wallet::{DeferredStatus, Grant, Issuance, SoftwareSigner};

fn draft13() -> IssuerBuilder {
    Issuer::builder().path("/tenant").draft13(true)
}

#[tokio::test]
async fn pre_authorized_with_tx_code_against_a_draft13_issuer() {
    let issuer = start(draft13()).await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    assert_eq!(resolved.spec_version(), SpecVersion::Draft13);
    // Display and claim labels from the draft-13 places.
    let names: Vec<_> = resolved
        .credentials()
        .iter()
        .map(|c| c.name(&["de".to_string()]))
        .collect();
    assert_eq!(names, ["Personalausweis"]);
    // The 1.0 URL answered 404, then the appended one.
    assert_eq!(
        count(&issuer, "/.well-known/openid-credential-issuer/tenant"),
        1
    );
    assert_eq!(
        count(&issuer, "/tenant/.well-known/openid-credential-issuer"),
        1
    );

    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!()
    };
    let mut authorized = step
        .with_tx_code(created.tx_code.unwrap())
        .authorize(&wallet)
        .await
        .unwrap();
    let signer = SoftwareSigner::generate();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    let c = &list[0];
    assert!(c.signature_verified);
    assert_eq!(
        c.holder_jwk.as_ref(),
        Some(&oid4vci_wallet::Signer::public_jwk(&signer))
    );
    let configuration = authorized.context().configuration("pid_sd_jwt").unwrap();
    assert_eq!(configuration.format, "vc+sd-jwt");
    let labelled = c.labelled_claims(configuration, &["de".to_string()]);
    assert!(
        labelled.iter().any(|(l, v)| l == "Vorname" && v == "Erika"),
        "{labelled:?}"
    );
    // c_nonce from the token response: no nonce endpoint.
    assert_eq!(count(&issuer, "/nonce"), 0);
    // A second credential uses the c_nonce of the first response.
    let Issuance::Issued(again) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(again.len(), 1);
    assert_eq!(count(&issuer, "/credential"), 2, "no retry was needed");
}

#[tokio::test]
async fn deferred_with_issuance_pending_against_a_draft13_issuer() {
    let issuer = start(draft13().deferred_pending_polls(1)).await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, true));
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!()
    };
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let Issuance::Deferred(mut pending) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!("expected deferred")
    };
    // issuance_pending carries no interval: draft 13's default of 5 s.
    match pending.poll(&wallet).await.unwrap() {
        DeferredStatus::Pending { interval } => assert_eq!(interval.as_secs(), 5),
        other => panic!("{other:?}"),
    }
    let DeferredStatus::Issued(list) = pending.poll(&wallet).await.unwrap() else {
        panic!("expected issued")
    };
    assert_eq!(
        list[0].claims.as_ref().unwrap()["family_name"],
        "Mustermann"
    );
}

#[tokio::test]
async fn a_draft11_offer_with_credential_objects_and_a_pin() {
    let issuer = start(draft13()).await;
    let created = issuer.create_offer(OfferRequest {
        legacy_offer: Some(true),
        ..offer(&["pid_sd_jwt"], true, false, false)
    });
    assert!(created.offer_url.contains("user_pin_required"));
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    assert_eq!(
        resolved.offer().credential_configuration_ids,
        ["pid_sd_jwt"]
    );
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!()
    };
    assert!(
        step.tx_code_spec().is_some(),
        "user_pin_required becomes a tx_code"
    );
    let mut authorized = step
        .with_tx_code(created.tx_code.unwrap())
        .authorize(&wallet)
        .await
        .unwrap();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(list[0].signature_verified);
}

#[tokio::test]
async fn authorization_code_flow_against_a_draft13_issuer() {
    let issuer = start(draft13()).await;
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, false)
    });
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::AuthorizationCode(step) = resolved.grant().unwrap() else {
        panic!()
    };
    let pending = step
        .authorization_url(&wallet, "https://wallet.example/cb")
        .await
        .unwrap();
    let redirect = browser(pending.url(), "max", "max-password", true).await;
    let mut authorized = pending.complete(&wallet, &redirect).await.unwrap();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(list[0].claims.as_ref().unwrap()["given_name"], "Max");
}

#[tokio::test]
async fn a_1_0_issuer_is_detected_as_1_0() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let resolved = wallet().resolve_offer(&created.offer_url).await.unwrap();
    assert_eq!(resolved.spec_version(), SpecVersion::V1);
}
