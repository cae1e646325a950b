//! The main job: start the reference issuer in this process, receive a PID
//! (SD-JWT VC) and a mobile driving licence (ISO 18013-5 mdoc) with a
//! transaction code through the pre-authorized code flow, and print what the
//! wallet now holds and how it verified each.
//!
//! Run: `cargo run --example issue`

use oid4vci_issuer::{Issuer, OfferRequest};
use oid4vci_wallet::{
    ClaimKind, Grant, Issuance, NotificationEvent, SoftwareSigner, Verification, Wallet,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The issuer's side: a real HTTP issuer on a loopback port, and an offer
    // with a transaction code (the PIN the user would get by e-mail).
    let issuer = Issuer::builder().path("/pid").spawn("127.0.0.1:0").await?;
    let created = issuer.create_offer(OfferRequest {
        credential_configuration_ids: Some(vec!["pid_sd_jwt".into(), "mdl_mdoc".into()]),
        tx_code: Some(true),
        by_reference: Some(true),
        ..Default::default()
    });
    println!("issuer:  {}", issuer.issuer_id());
    println!("offer:   {}", created.offer_url);

    // The wallet's side.
    let wallet = Wallet::builder()
        .client_id("example-wallet")
        .locales(["en"])
        .dangerous_allow_http() // the reference issuer runs on http://127.0.0.1
        // The roots the app trusts for issuers (an EU trusted list, IACA
        // roots for mdocs): here the reference issuer's test root.
        .trust_anchor(issuer.trust_anchor_pem())
        .build()?;
    let offer = wallet.resolve_offer(&created.offer_url).await?;
    let issuer_name = offer
        .issuer_display(wallet.locales())
        .and_then(|d| d.name.clone())
        .unwrap_or_default();
    for credential in offer.credentials() {
        println!(
            "offered: {} from {issuer_name}",
            credential.name(wallet.locales())
        );
    }
    let Grant::PreAuthorized(step) = offer.grant()? else {
        return Err("expected a pre-authorized offer".into());
    };
    let step = match step.tx_code_spec() {
        Some(spec) => {
            println!(
                "tx_code: {} ({} digits) -> the user types it",
                spec.description.as_deref().unwrap_or("enter the code"),
                spec.length.unwrap_or(0)
            );
            step.clone()
                .with_tx_code(created.tx_code.clone().ok_or("no tx_code")?)
        }
        None => step,
    };
    let mut authorized = step.authorize(&wallet).await?;

    let key = SoftwareSigner::generate(); // on a phone: a hardware-backed key
    for id in authorized.credential_configuration_ids().to_vec() {
        let credentials = match authorized.request_credential(&wallet, &id, &key).await? {
            Issuance::Issued(list) => list,
            Issuance::Deferred(mut pending) => {
                pending
                    .poll_until_ready(&wallet, std::time::Duration::from_secs(60), None)
                    .await?
            }
        };
        let configuration = authorized.context().configuration(&id)?.clone();
        for credential in &credentials {
            println!(
                "\nreceived {} ({}), bound to our key: {}\n  issuer: {}",
                credential.configuration_id,
                credential.format,
                credential.holder_jwk.is_some(),
                match &credential.verification {
                    Verification::Verified { by } => format!("verified ({by:?})"),
                    other => format!("NOT verified ({other:?})"),
                }
            );
            for claim in credential.labelled(&configuration, wallet.locales()) {
                let value = match (claim.kind, claim.value.as_str()) {
                    (ClaimKind::Bytes, _) => "<bytes>".to_string(),
                    (_, Some(text)) => text.to_string(),
                    _ => claim.value.to_string(),
                };
                println!("  {}: {value}", claim.label);
            }
            if let Some(id) = &credential.notification_id {
                authorized
                    .notify(&wallet, id, NotificationEvent::CredentialAccepted)
                    .await?;
            }
        }
    }
    println!("\nrequests the issuer saw: {:?}", issuer.stats());
    Ok(())
}
