//! Draft-11/12 issuers end to end over real HTTP: the reference issuer in
//! draft-11 mode serves `credentials_supported` only at the appended
//! well-known URL, takes the PIN as `user_pin`, answers `c_nonce` from the
//! token endpoint, and refuses 1.0 and draft-13 request shapes, so each
//! success shows the wallet chose the draft-11 shapes from the metadata.

use crate::common::*;
use oid4vci_wallet::types::SpecVersion;
use oid4vci_wallet::{
    DeferredPending, DeferredStatus, Error, ErrorCode, Grant, HttpClient, HttpRequest,
    HttpResponse, Issuance, ProofErrorKind, ReqwestClient, ReqwestConfig, SoftwareSigner, Wallet,
};
use serde_json::{json, Value};
use std::sync::Arc;

fn draft11() -> IssuerBuilder {
    Issuer::builder().path("/tenant").draft11(true)
}

/// A wallet that trusts the issuer's test root and takes only verified
/// credentials.
fn verifying_wallet(issuer: &RunningIssuer) -> Wallet {
    Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .trust_anchor(issuer.trust_anchor_pem())
        .require_verified(true)
        .build()
        .unwrap()
}

/// A change to a JSON answer.
type Rewrite = fn(&mut Value);

/// A wallet whose transport rewrites the JSON of each response whose URL
/// ends with `suffix` (the rest goes to the issuer as it is).
fn rewriting_wallet(suffix: &'static str, rewrite: Rewrite) -> Wallet {
    let real = Arc::new(
        ReqwestClient::new(ReqwestConfig {
            allow_http: true,
            ..ReqwestConfig::default()
        })
        .unwrap(),
    );
    Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .http_client(move |request: HttpRequest| {
            let real = real.clone();
            async move {
                let rewritten = request.url.ends_with(suffix);
                let mut response = real.send(request).await?;
                if rewritten && response.status == 200 {
                    let mut body: Value = serde_json::from_slice(&response.body).unwrap();
                    rewrite(&mut body);
                    response = HttpResponse {
                        body: serde_json::to_vec(&body).unwrap(),
                        ..response
                    };
                }
                Ok(response)
            }
        })
        .build()
        .unwrap()
}

/// The form fields of the token requests a wallet sent, by a transport
/// that records them.
type Seen = Arc<std::sync::Mutex<Vec<String>>>;

fn recording_wallet(issuer: &RunningIssuer) -> (Wallet, Seen) {
    let real = Arc::new(
        ReqwestClient::new(ReqwestConfig {
            allow_http: true,
            ..ReqwestConfig::default()
        })
        .unwrap(),
    );
    let seen: Seen = Arc::default();
    let wallet = Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .trust_anchor(issuer.trust_anchor_pem())
        .http_client({
            let seen = seen.clone();
            move |request: HttpRequest| {
                let (real, seen) = (real.clone(), seen.clone());
                async move {
                    if request.url.ends_with("/token") || request.url.ends_with("/credential") {
                        seen.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&request.body).into_owned());
                    }
                    real.send(request).await
                }
            }
        })
        .build()
        .unwrap();
    (wallet, seen)
}

#[tokio::test]
async fn pre_authorized_with_user_pin_against_a_draft11_issuer() {
    let issuer = start(draft11()).await;
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, true, false));
    let (wallet, seen) = recording_wallet(&issuer);
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    assert_eq!(resolved.spec_version(), SpecVersion::Draft11);
    // The 1.0 URL answered 404, then the appended one.
    assert_eq!(
        count(&issuer, "/.well-known/openid-credential-issuer/tenant"),
        1
    );
    assert_eq!(
        count(&issuer, "/tenant/.well-known/openid-credential-issuer"),
        1
    );
    // Display and claim labels from credentials_supported.
    let names: Vec<_> = resolved
        .credentials()
        .iter()
        .map(|c| c.name(&["de".to_string()]))
        .collect();
    assert_eq!(names, ["Personalausweis"]);

    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("expected the pre-authorized grant")
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
    let signer = SoftwareSigner::generate();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    let c = &list[0];
    assert!(c.verification.is_verified(), "{:?}", c.verification);
    assert!(c.signature_verified);
    assert_eq!(c.format, "vc+sd-jwt");
    assert_eq!(c.sd_jwt().unwrap().header()["typ"], "vc+sd-jwt");
    assert_eq!(
        c.holder_jwk.as_ref(),
        Some(&oid4vci_wallet::Signer::public_jwk(&signer))
    );
    let configuration = authorized.context().configuration("pid_sd_jwt").unwrap();
    let labelled = c.labelled_claims(configuration, &["de".to_string()]);
    assert!(
        labelled.iter().any(|(l, v)| l == "Vorname" && v == "Erika"),
        "{labelled:?}"
    );
    // c_nonce from the token response: there is no nonce endpoint.
    assert_eq!(count(&issuer, "/nonce"), 0);
    // A second credential uses the c_nonce of the first answer.
    let Issuance::Issued(again) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    assert_eq!(again.len(), 1);
    assert_eq!(count(&issuer, "/credential"), 2, "no retry was needed");

    // On the wire: the PIN as `user_pin`, requests by format and vct with
    // one `proof`.
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen[0].contains("user_pin=") && !seen[0].contains("tx_code"),
        "{}",
        seen[0]
    );
    let request: Value = serde_json::from_str(&seen[1]).unwrap();
    assert_eq!(request["format"], "vc+sd-jwt");
    assert_eq!(request["vct"], "urn:eudi:pid:1");
    assert_eq!(request["proof"]["proof_type"], "jwt");
    assert!(request.get("proofs").is_none() && request.get("credential_identifier").is_none());
}

#[tokio::test]
async fn jwt_vc_json_by_types_against_a_draft11_issuer() {
    let issuer = start(draft11()).await;
    let (wallet, seen) = recording_wallet(&issuer);
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_jwt_vc"]).await;
    let configuration = authorized.context().configuration("pid_jwt_vc").unwrap();
    assert_eq!(configuration.format, "jwt_vc_json");
    assert_eq!(
        configuration.credential_definition,
        Some(json!({"type": ["VerifiableCredential", "PersonIdentificationData"]}))
    );
    let c = one_credential(&mut authorized, &wallet, "pid_jwt_vc").await;
    assert_eq!(c.format, "jwt_vc_json");
    assert!(c.verification.is_verified(), "{:?}", c.verification);
    assert!(c.holder_jwk.is_some());
    assert_eq!(
        c.claims.as_ref().unwrap()["credentialSubject"]["family_name"],
        "Mustermann"
    );
    // Labels of draft 11's top-level credentialSubject.
    let configuration = authorized.context().configuration("pid_jwt_vc").unwrap();
    let labelled = c.labelled_claims(configuration, &["de".to_string()]);
    assert!(
        labelled
            .iter()
            .any(|(l, v)| l == "Nachname" && v == "Mustermann"),
        "{labelled:?}"
    );
    // Draft 11's `types`, not draft 12's credential_definition.
    let request: Value = serde_json::from_str(seen.lock().unwrap().last().unwrap()).unwrap();
    assert_eq!(
        request["types"],
        json!(["VerifiableCredential", "PersonIdentificationData"])
    );
    assert!(request.get("credential_definition").is_none(), "{request}");
}

#[tokio::test]
async fn mso_mdoc_by_doctype_against_a_draft11_issuer() {
    let issuer = start(draft11()).await;
    let wallet = verifying_wallet(&issuer);
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_mdoc"]).await;
    let signer = SoftwareSigner::generate();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_mdoc", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    let c = &list[0];
    assert!(c.verification.is_verified(), "{:?}", c.verification);
    let mdoc = c.mdoc().unwrap();
    assert_eq!(mdoc.doc_type(), "eu.europa.ec.eudi.pid.1");
    assert_eq!(
        c.holder_jwk.as_ref(),
        Some(&oid4vci_wallet::Signer::public_jwk(&signer))
    );
    assert_eq!(
        c.claims.as_ref().unwrap()["eu.europa.ec.eudi.pid.1"]["family_name"],
        "Mustermann"
    );
}

#[tokio::test]
async fn authorization_code_flow_against_a_draft11_issuer() {
    let issuer = start(draft11()).await;
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, false)
    });
    let wallet = verifying_wallet(&issuer);
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    assert_eq!(resolved.spec_version(), SpecVersion::Draft11);
    let step = authorization_step(&resolved);
    let pending = step
        .authorization_url(&wallet, "https://wallet.example/cb")
        .await
        .unwrap();
    let redirect = browser(pending.url(), "max", "max-password", true).await;
    let mut authorized = pending.complete(&wallet, &redirect).await.unwrap();
    let c = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert!(c.verification.is_verified(), "{:?}", c.verification);
    assert_eq!(c.claims.as_ref().unwrap()["given_name"], "Max");
    assert_eq!(count(&issuer, "/nonce"), 0);
}

#[tokio::test]
async fn deferred_by_acceptance_token_against_a_draft11_issuer() {
    let issuer = start(draft11().deferred_pending_polls(1).deferred_interval(7)).await;
    let created = issuer.create_offer(offer(&["pid_jwt_vc"], false, false, true));
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("expected the pre-authorized grant")
    };
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let signer = SoftwareSigner::generate();
    let Issuance::Deferred(pending) = authorized
        .request_credential(&wallet, "pid_jwt_vc", &signer)
        .await
        .unwrap()
    else {
        panic!("expected deferred issuance")
    };
    // The acceptance token is a secret: never in Debug, kept in the saved
    // state (to poll after a restart).
    let debug = format!("{pending:?}");
    assert!(
        debug.contains("acceptance_token: Some(AccessToken(<redacted>))"),
        "{debug}"
    );
    let mut pending = DeferredPending::from_json(&pending.to_json().unwrap()).unwrap();
    // issuance_pending with the issuer's interval.
    match pending.poll(&wallet).await.unwrap() {
        DeferredStatus::Pending { interval } => assert_eq!(interval.as_secs(), 7),
        other => panic!("{other:?}"),
    }
    let DeferredStatus::Issued(list) = pending.poll(&wallet).await.unwrap() else {
        panic!("expected issued")
    };
    assert_eq!(list[0].format, "jwt_vc_json");
    assert_eq!(
        list[0].holder_jwk.as_ref(),
        Some(&oid4vci_wallet::Signer::public_jwk(&signer))
    );
    assert_eq!(
        list[0].claims.as_ref().unwrap()["credentialSubject"]["family_name"],
        "Mustermann"
    );
    assert_eq!(count(&issuer, "/deferred"), 2);
    // Used up: polling again is an error of the state, not a request.
    assert!(matches!(
        pending.poll(&wallet).await,
        Err(Error::InvalidState(_))
    ));
    assert_eq!(count(&issuer, "/deferred"), 2);
}

#[tokio::test]
async fn invalid_or_missing_proof_is_retried_once_with_its_fresh_c_nonce() {
    let issuer = start(draft11()).await;
    // The token response loses its c_nonce: the first proof has no nonce,
    // which a draft-11 issuer answers with invalid_or_missing_proof and a
    // fresh c_nonce.
    let wallet = rewriting_wallet("/token", |token| {
        token.as_object_mut().unwrap().remove("c_nonce");
    });
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_mdoc"]).await;
    let c = one_credential(&mut authorized, &wallet, "pid_mdoc").await;
    assert_eq!(c.format, "mso_mdoc");
    assert_eq!(count(&issuer, "/credential"), 2, "one retry");
}

#[tokio::test]
async fn a_proof_the_issuer_keeps_refusing_ends_with_its_error() {
    let issuer = start(draft11()).await;
    let wallet = wallet();
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_sd_jwt"]).await;
    // A session whose proofs name another issuer as their audience: the
    // issuer refuses them even over its fresh c_nonce.
    let mut tampered: Value = serde_json::from_str(&authorized.to_json().unwrap()).unwrap();
    tampered["context"]["issuer"]["credential_issuer"] = json!("https://someone-else.example");
    let mut wrong = oid4vci_wallet::Authorized::from_json(&tampered.to_string()).unwrap();
    let err = wrong
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap_err();
    match &err {
        Error::Server { error, .. } => {
            assert_eq!(error.code, ErrorCode::InvalidOrMissingProof, "{err}")
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        count(&issuer, "/credential"),
        2,
        "one retry, then the error"
    );
    // The untouched session still works.
    let c = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert!(c.signature_verified);
}

#[tokio::test]
async fn what_the_wallet_cannot_do_is_refused_before_the_pin_is_spent() {
    let issuer = start(draft11()).await;
    let cases: [(Rewrite, ProofErrorKind); 2] = [
        // Only an algorithm no signer has.
        (
            |metadata| {
                for entry in metadata["credentials_supported"].as_array_mut().unwrap() {
                    entry["cryptographic_suites_supported"] = json!(["ES256K"]);
                }
            },
            ProofErrorKind::NoUsableAlgorithm,
        ),
        // Only a proof type the wallet does not make.
        (
            |metadata| {
                for entry in metadata["credentials_supported"].as_array_mut().unwrap() {
                    if entry.get("proof_types_supported").is_some() {
                        entry["proof_types_supported"] = json!(["cwt"]);
                    }
                }
            },
            ProofErrorKind::UnsupportedProofType,
        ),
    ];
    for (rewrite, kind) in cases {
        let wallet = rewriting_wallet("/tenant/.well-known/openid-credential-issuer", rewrite);
        let created = issuer.create_offer(offer(&["pid_sd_jwt"], true, false, false));
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        assert_eq!(resolved.spec_version(), SpecVersion::Draft11);
        let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
            panic!("expected the pre-authorized grant")
        };
        let err = step
            .with_tx_code(created.tx_code.unwrap())
            .authorize(&wallet)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Proof(p) if p.kind == kind),
            "{kind:?}: {err}"
        );
        assert_eq!(count(&issuer, "/token"), 0, "{kind:?}");
    }
}

#[tokio::test]
async fn a_draft11_document_the_wallet_cannot_read_names_its_field() {
    let issuer = start(draft11()).await;
    let wallet = rewriting_wallet("/tenant/.well-known/openid-credential-issuer", |metadata| {
        metadata["credentials_supported"][0]
            .as_object_mut()
            .unwrap()
            .remove("vct");
    });
    let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
    let err = wallet.resolve_offer(&created.offer_url).await.unwrap_err();
    match &err {
        Error::Metadata { problem, .. } => {
            assert!(
                problem.contains("pid_sd_jwt") && problem.contains("vct"),
                "{problem}"
            )
        }
        other => panic!("{other}"),
    }
    assert_eq!(count(&issuer, "/token"), 0);
}
