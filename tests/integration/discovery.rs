//! Offer and metadata validation (SPEC A1-A3), each failure over real HTTP
//! against a reference issuer that misbehaves on purpose.

use crate::common::*;
use oid4vci_wallet::Document;
use oid4vci_wallet::{Error, Wallet};
use serde_json::json;

async fn resolve_err(issuer: &RunningIssuer, req: OfferRequest) -> Error {
    let created = issuer.create_offer(req);
    wallet()
        .resolve_offer(&created.offer_url)
        .await
        .unwrap_err()
}

fn pid(by_reference: bool) -> OfferRequest {
    offer(&["pid_sd_jwt"], false, by_reference, false)
}

#[tokio::test]
async fn by_reference_offer_must_be_json() {
    let issuer = start(Issuer::builder().fault(Fault::OfferWrongContentType)).await;
    let err = resolve_err(&issuer, pid(true)).await;
    assert!(
        matches!(err, Error::InvalidOffer(ref m) if m.contains("application/json")),
        "{err}"
    );
    assert_eq!(
        count(&issuer, "openid-credential-issuer"),
        0,
        "nothing follows a failed check"
    );

    let issuer = start(Issuer::builder().fault(Fault::OfferAsJwt)).await;
    let err = resolve_err(&issuer, pid(true)).await;
    assert!(
        matches!(err, Error::InvalidOffer(ref m) if m.contains("application/jwt")),
        "{err}"
    );
}

#[tokio::test]
async fn a_by_reference_offer_is_fetched_once_and_is_single_use() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(pid(true));
    let wallet = wallet();
    wallet.resolve_offer(&created.offer_url).await.unwrap();
    let err = wallet.resolve_offer(&created.offer_url).await.unwrap_err();
    assert!(
        matches!(err, Error::OfferUnavailable { status: 404, .. }),
        "{err}"
    );
    assert_eq!(count(&issuer, "/offers/"), 2);
}

#[tokio::test]
async fn offered_ids_must_exist_in_the_metadata() {
    let issuer = default_issuer().await;
    let url = by_value(&json!({
        "credential_issuer": issuer.issuer_id(),
        "credential_configuration_ids": ["pid_sd_jwt", "no_such_config"],
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "x"}}
    }));
    let err = wallet().resolve_offer(&url).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidOffer(ref m) if m.contains("no_such_config")),
        "{err}"
    );
    assert_eq!(count(&issuer, "oauth-authorization-server"), 0);
}

#[tokio::test]
async fn an_authorization_server_hint_matching_none_aborts() {
    let issuer = default_issuer().await;
    let url = by_value(&json!({
        "credential_issuer": issuer.issuer_id(),
        "credential_configuration_ids": ["pid_sd_jwt"],
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {
            "pre-authorized_code": "x", "authorization_server": "https://elsewhere.example"}}
    }));
    let err = wallet().resolve_offer(&url).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidOffer(ref m) if m.contains("authorization_server")),
        "{err}"
    );
    assert_eq!(count(&issuer, "oauth-authorization-server"), 0);
}

#[tokio::test]
async fn http_issuers_need_the_explicit_opt_in() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(pid(false));
    let strict = Wallet::builder().build().unwrap();
    let err = strict.resolve_offer(&created.offer_url).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidOffer(ref m) if m.contains("credential_issuer")),
        "{err}"
    );
    assert!(
        issuer.stats().is_empty(),
        "no request to an http issuer: {:?}",
        issuer.stats()
    );
}

#[tokio::test]
async fn issuer_metadata_identifier_must_match_exactly() {
    let issuer = start(Issuer::builder().fault(Fault::MetadataIssuerMismatch)).await;
    let err = resolve_err(&issuer, pid(false)).await;
    match err {
        Error::Metadata {
            document: Document::IssuerMetadata,
            ref problem,
            ..
        } => {
            assert!(problem.contains("credential_issuer"), "{problem}")
        }
        other => panic!("{other}"),
    }
    assert_eq!(count(&issuer, "oauth-authorization-server"), 0);
}

#[tokio::test]
async fn issuer_metadata_falls_back_to_the_appended_url_only_after_404() {
    let issuer = start(
        Issuer::builder()
            .path("/tenant")
            .fault(Fault::MetadataAppendedPathOnly),
    )
    .await;
    let created = issuer.create_offer(pid(false));
    wallet().resolve_offer(&created.offer_url).await.unwrap();
    assert_eq!(
        count(&issuer, "/.well-known/openid-credential-issuer/tenant"),
        1
    );
    assert_eq!(
        count(&issuer, "/tenant/.well-known/openid-credential-issuer"),
        1
    );

    let issuer = start(
        Issuer::builder()
            .path("/tenant")
            .fault(Fault::MetadataServerError),
    )
    .await;
    let err = resolve_err(&issuer, pid(false)).await;
    assert!(
        matches!(err, Error::Metadata { ref problem, .. } if problem.contains("500")),
        "{err}"
    );
    assert_eq!(
        count(&issuer, "/tenant/.well-known/openid-credential-issuer"),
        0,
        "no fallback after a 500"
    );

    let issuer = start(Issuer::builder().fault(Fault::MetadataNotFound)).await;
    let err = resolve_err(&issuer, pid(false)).await;
    assert!(
        matches!(err, Error::Metadata { ref problem, .. } if problem.contains("404")),
        "{err}"
    );
}

#[tokio::test]
async fn issuer_metadata_missing_fields_and_wrong_types_name_the_field() {
    let issuer = start(Issuer::builder().fault(Fault::MetadataMissingCredentialEndpoint)).await;
    let err = resolve_err(&issuer, pid(false)).await;
    assert!(
        matches!(err, Error::Metadata { ref problem, .. } if problem.contains("credential_endpoint")),
        "{err}"
    );

    let issuer = start(Issuer::builder().fault(Fault::MetadataWrongContentType)).await;
    let err = resolve_err(&issuer, pid(false)).await;
    assert!(
        matches!(err, Error::Metadata { ref problem, .. } if problem.contains("application/json")),
        "{err}"
    );
}

#[tokio::test]
async fn authorization_server_metadata_is_checked() {
    let issuer = start(Issuer::builder().fault(Fault::AsIssuerMismatch)).await;
    let err = resolve_err(&issuer, pid(false)).await;
    assert!(
        matches!(err, Error::Metadata { document: Document::AuthorizationServerMetadata, ref problem, .. } if problem.contains("issuer")),
        "{err}"
    );

    let issuer = start(Issuer::builder().fault(Fault::AsMissingTokenEndpoint)).await;
    let err = resolve_err(&issuer, pid(false)).await;
    assert!(
        matches!(err, Error::Metadata { ref problem, .. } if problem.contains("token_endpoint")),
        "{err}"
    );
}

#[tokio::test]
async fn authorization_server_metadata_falls_back_to_openid_configuration_only_after_404() {
    let issuer = start(Issuer::builder().fault(Fault::AsOpenidConfigurationOnly)).await;
    let created = issuer.create_offer(pid(false));
    let wallet = wallet();
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    assert!(resolved
        .context()
        .authorization_server
        .token_endpoint
        .is_some());
    assert_eq!(count(&issuer, "oauth-authorization-server"), 1);
    assert_eq!(count(&issuer, "openid-configuration"), 1);

    let issuer = start(Issuer::builder().fault(Fault::AsServerError)).await;
    let err = resolve_err(&issuer, pid(false)).await;
    assert!(
        matches!(err, Error::Metadata { ref problem, .. } if problem.contains("500")),
        "{err}"
    );
    assert_eq!(count(&issuer, "openid-configuration"), 0);
}
