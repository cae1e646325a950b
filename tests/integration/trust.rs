//! Trust in what the wallet receives, over real HTTP: an issuer key is
//! verified only through an `x5c` chain to the app's trust anchors (its leaf
//! naming the issuer) or the issuer's published metadata, never because the
//! credential brought it along.

use crate::common::*;
use oid4vci_issuer::{CredentialKey, CredentialSigning};
use oid4vci_wallet::{
    Error, Grant, Issuance, Signer, SoftwareSigner, Verification, VerifiedBy, Wallet,
};

fn wallet_with(anchor: Option<&str>, require_verified: bool) -> Wallet {
    let mut builder = Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .require_verified(require_verified);
    if let Some(pem) = anchor {
        builder = builder.trust_anchor(pem);
    }
    builder.build().expect("wallet builds")
}

/// Receives one PID from `issuer` with `wallet`.
async fn receive_pid(
    issuer: &RunningIssuer,
    wallet: &Wallet,
) -> oid4vci_wallet::Result<oid4vci_wallet::IssuedCredential> {
    receive_one(issuer, wallet, "pid_sd_jwt").await
}

async fn x5c_issuer(fault: Option<Fault>) -> RunningIssuer {
    let mut builder = Issuer::builder().credential_signing(CredentialSigning::X5cChain);
    if let Some(f) = fault {
        builder = builder.fault(f);
    }
    start(builder).await
}

#[tokio::test]
async fn an_x5c_chain_to_the_apps_anchor_is_verified_by_that_anchor() {
    let issuer = x5c_issuer(None).await;
    let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), true);
    let credential = receive_pid(&issuer, &wallet).await.unwrap();
    match &credential.verification {
        Verification::Verified {
            by: VerifiedBy::TrustAnchor { anchor },
        } => assert!(anchor.contains("CN="), "anchor subject {anchor}"),
        other => panic!("expected verified by the anchor, got {other:?}"),
    }
    assert!(credential.signature_verified);
    let sd = credential.sd_jwt().unwrap();
    assert!(sd.header().get("x5c").is_some() && sd.header().get("kid").is_none());
}

#[tokio::test]
async fn an_x5c_chain_without_anchors_is_unverified_and_refused_when_verified_is_required() {
    let issuer = x5c_issuer(None).await;
    let credential = receive_pid(&issuer, &wallet_with(None, false))
        .await
        .unwrap();
    match &credential.verification {
        Verification::Unverified { reason } => {
            assert!(reason.contains("trust anchors"), "{reason}")
        }
        other => panic!("expected unverified, got {other:?}"),
    }
    assert!(!credential.signature_verified);

    let err = receive_pid(&issuer, &wallet_with(None, true))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::CredentialCheck(m) if m.problem.contains("not verified")),
        "{err}"
    );
}

#[tokio::test]
async fn a_self_signed_x5c_forgery_is_never_verified() {
    let issuer = x5c_issuer(Some(Fault::X5cSelfSigned)).await;
    // Anchors configured, but the forgery's chain is its own certificate.
    let anchor = issuer.trust_anchor_pem();
    let credential = receive_pid(&issuer, &wallet_with(Some(&anchor), false))
        .await
        .unwrap();
    match &credential.verification {
        Verification::Unverified { reason } => {
            assert!(
                reason.contains("none of the app's trust anchors"),
                "{reason}"
            )
        }
        other => panic!("a self-signed x5c must not verify, got {other:?}"),
    }
    assert!(!credential.signature_verified);
    let err = receive_pid(&issuer, &wallet_with(Some(&anchor), true))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CredentialCheck(_)), "{err}");

    // The same forgery against a kid-signing issuer: still not verified.
    let issuer = start(Issuer::builder().fault(Fault::X5cSelfSigned)).await;
    let credential = receive_pid(
        &issuer,
        &wallet_with(Some(&issuer.trust_anchor_pem()), false),
    )
    .await
    .unwrap();
    assert!(!credential.verification.is_verified());
}

#[tokio::test]
async fn a_leaf_naming_another_host_fails_the_check() {
    let issuer = x5c_issuer(Some(Fault::X5cLeafForAnotherHost)).await;
    let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), false);
    let err = receive_pid(&issuer, &wallet).await.unwrap_err();
    match &err {
        Error::CredentialCheck(r) => {
            let m = &r.problem;
            assert!(m.contains("does not name the issuer"), "{m}");
            assert!(m.contains("other.example"), "{m}");
        }
        other => panic!("expected a failed check, got {other}"),
    }
}

#[tokio::test]
async fn an_expired_leaf_fails_the_check() {
    let issuer = x5c_issuer(Some(Fault::X5cExpiredLeaf)).await;
    let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), false);
    let err = receive_pid(&issuer, &wallet).await.unwrap_err();
    assert!(
        matches!(&err, Error::CredentialCheck(m) if m.problem.contains("expired")),
        "{err}"
    );
}

#[tokio::test]
async fn a_kid_signed_credential_is_verified_by_the_issuer_metadata() {
    let issuer = default_issuer().await;
    let credential = receive_pid(&issuer, &wallet_with(None, true))
        .await
        .unwrap();
    match &credential.verification {
        Verification::Verified {
            by: VerifiedBy::IssuerMetadata { url },
        } => assert!(url.contains("/.well-known/jwt-vc-issuer"), "{url}"),
        other => panic!("expected verified by the issuer metadata, got {other:?}"),
    }
}

#[tokio::test]
async fn trust_anchors_are_served_and_a_bad_anchor_is_a_configuration_error() {
    let issuer = x5c_issuer(None).await;
    let served = reqwest::get(format!("{}/test/trust", issuer.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, issuer.trust_anchor_pem());
    // The served PEM as DER works too.
    let b64: String = served.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    // Roots given as a list (e.g. an EU trusted list's), PEM and DER.
    let wallet = Wallet::builder()
        .dangerous_allow_http()
        .trust_anchors([served.clone().into_bytes(), der])
        .build()
        .unwrap();
    assert!(receive_pid(&issuer, &wallet)
        .await
        .unwrap()
        .verification
        .is_verified());

    let err = Wallet::builder()
        .trust_anchor("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("trust anchor")),
        "{err}"
    );
}

#[tokio::test]
async fn credentials_as_bare_strings_are_read_like_credential_objects() {
    let issuer = start(Issuer::builder().fault(Fault::CredentialsAsBareStrings)).await;
    let credential = receive_pid(&issuer, &wallet_with(None, true))
        .await
        .unwrap();
    assert!(credential.verification.is_verified());
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Erika");
}

#[tokio::test]
async fn a_failed_check_keeps_the_issued_credential_and_tells_the_issuer() {
    let issuer = x5c_issuer(Some(Fault::X5cLeafForAnotherHost)).await;
    let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), false);
    let err = receive_pid(&issuer, &wallet).await.unwrap_err();
    let Error::CredentialCheck(rejection) = &err else {
        panic!("expected a failed check, got {err}");
    };
    assert_eq!(rejection.raw_credentials.len(), 1);
    let raw = rejection.raw_credentials[0].as_str().unwrap();
    assert!(raw.contains('~'), "the SD-JWT as issued");
    let id = rejection.notification_id.clone().expect("notification_id");
    assert_eq!(
        issuer.notifications(),
        [(id, "credential_failure".to_string())]
    );
    // The Debug of the error does not carry the credential.
    assert!(!format!("{err:?}").contains(raw));

    // A check inside the response (the key binding) keeps it too.
    let issuer = start(Issuer::builder().fault(Fault::CredentialBoundToOtherKey)).await;
    let err = receive_pid(&issuer, &wallet_with(None, false))
        .await
        .unwrap_err();
    let Error::CredentialCheck(rejection) = &err else {
        panic!("expected a failed check, got {err}");
    };
    assert!(
        rejection.problem.contains("cnf.jwk"),
        "{}",
        rejection.problem
    );
    assert_eq!(rejection.raw_credentials.len(), 1);
    assert_eq!(issuer.notifications().len(), 1);
    assert_eq!(issuer.notifications()[0].1, "credential_failure");
}

/// Receives one credential of `configuration` from `issuer` with `wallet`.
async fn receive_one(
    issuer: &RunningIssuer,
    wallet: &Wallet,
    configuration: &str,
) -> oid4vci_wallet::Result<oid4vci_wallet::IssuedCredential> {
    let created = issuer.create_offer(offer(&[configuration], false, false, false));
    let resolved = wallet.resolve_offer(&created.offer_url).await?;
    let Grant::PreAuthorized(step) = resolved.grant()? else {
        panic!("expected the pre-authorized grant");
    };
    let mut authorized = step.authorize(wallet).await?;
    let signer = SoftwareSigner::generate();
    match authorized
        .request_credential(wallet, configuration, &signer)
        .await?
    {
        Issuance::Issued(mut list) => Ok(list.remove(0)),
        Issuance::Deferred(_) => panic!("expected immediate issuance"),
    }
}

async fn did_issuer(signing: CredentialSigning, key: CredentialKey) -> RunningIssuer {
    start(
        Issuer::builder()
            .credential_signing(signing)
            .credential_key(key),
    )
    .await
}

#[tokio::test]
async fn did_issuers_are_verified_by_their_did_with_p256_and_ed25519_keys() {
    for signing in [
        CredentialSigning::DidJwk,
        CredentialSigning::DidKey,
        CredentialSigning::DidWeb,
    ] {
        for key in [CredentialKey::P256, CredentialKey::Ed25519] {
            let issuer = did_issuer(signing, key).await;
            let did = issuer.credential_issuer_did().expect("a DID");
            for configuration in ["pid_sd_jwt", "pid_jwt_vc"] {
                let credential = receive_one(&issuer, &wallet_with(None, true), configuration)
                    .await
                    .unwrap_or_else(|e| panic!("{signing:?} {key:?} {configuration}: {e}"));
                match &credential.verification {
                    Verification::Verified {
                        by: VerifiedBy::Did { did: by },
                    } => assert_eq!(by, &did),
                    other => panic!("{signing:?} {key:?} {configuration}: {other:?}"),
                }
            }
        }
    }
}

#[tokio::test]
async fn a_did_web_document_with_another_key_fails_the_check() {
    let issuer = start(
        Issuer::builder()
            .credential_signing(CredentialSigning::DidWeb)
            .fault(Fault::DidWebWrongKey),
    )
    .await;
    let err = receive_pid(&issuer, &wallet_with(None, false))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::CredentialCheck(r) if r.problem.contains("signature")),
        "{err}"
    );
}

#[tokio::test]
async fn a_jwt_vc_json_credential_is_decoded_labelled_and_verified() {
    let issuer = default_issuer().await;
    let wallet = wallet_with(None, true);
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_jwt_vc"]).await;
    let signer = SoftwareSigner::generate();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_jwt_vc", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance");
    };
    let credential = &list[0];
    assert_eq!(credential.format, "jwt_vc_json");
    assert!(matches!(
        credential.verification,
        Verification::Verified {
            by: VerifiedBy::IssuerMetadata { .. }
        }
    ));
    assert_eq!(credential.holder_jwk.as_ref(), Some(&signer.public_jwk()));
    let configuration = authorized.context().configuration("pid_jwt_vc").unwrap();
    let labelled = credential.labelled_claims(configuration, &["de".to_string()]);
    assert!(
        labelled
            .iter()
            .any(|(label, value)| value == "Erika" && !label.contains('.')),
        "{labelled:?}"
    );
}

#[tokio::test]
async fn wrong_typ_expired_and_foreign_iss_fail_the_check() {
    for (fault, needle) in [
        (Fault::CredentialWrongTyp, "typ"),
        (Fault::CredentialExpired, "expired"),
        (Fault::CredentialIssMismatch, "another issuer"),
    ] {
        let issuer = start(Issuer::builder().fault(fault)).await;
        let err = receive_pid(&issuer, &wallet_with(None, false))
            .await
            .unwrap_err();
        match &err {
            Error::CredentialCheck(r) => {
                assert!(r.problem.contains(needle), "{fault:?}: {}", r.problem);
                assert_eq!(r.raw_credentials.len(), 1, "{fault:?}");
            }
            other => panic!("{fault:?}: expected a failed check, got {other}"),
        }
    }
    // The JWT VC's own expiry is checked too.
    let issuer = start(Issuer::builder().fault(Fault::CredentialExpired)).await;
    let err = receive_one(&issuer, &wallet_with(None, false), "pid_jwt_vc")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::CredentialCheck(r) if r.problem.contains("expired")),
        "{err}"
    );
}

/// A genuine x5c chain from the reference issuer, its root, and the issuer
/// identifier its leaf names, fetched once for the property below.
fn genuine_chain() -> &'static (serde_json::Value, String, String) {
    static CHAIN: std::sync::OnceLock<(serde_json::Value, String, String)> =
        std::sync::OnceLock::new();
    CHAIN.get_or_init(|| {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let issuer = x5c_issuer(None).await;
            let anchor = issuer.trust_anchor_pem();
            let credential = receive_pid(&issuer, &wallet_with(Some(&anchor), true))
                .await
                .unwrap();
            let x5c = credential.sd_jwt().unwrap().header()["x5c"].clone();
            (x5c, anchor, issuer.issuer_id())
        })
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// No mutation of a genuine chain (a flipped bit in the leaf or the
    /// intermediate, the leaf dropped, a certificate repeated) is trusted
    /// unless it still starts with the genuine leaf and intermediate, byte for
    /// byte; and without anchors nothing is ever trusted.
    #[test]
    fn no_chain_is_trusted_unless_it_is_the_genuine_one_to_a_configured_anchor(
        which in 0usize..2,
        at in 0usize..2048,
        bit in 0u8..8,
        drop_first in proptest::bool::ANY,
        repeat in proptest::bool::ANY,
    ) {
        use base64::Engine as _;
        use oid4vci_wallet::verify::{check_x5c, ChainOutcome, TrustAnchors};
        let b64 = base64::engine::general_purpose::STANDARD;
        let (x5c, anchor, issuer_id) = genuine_chain();
        let mut ders: Vec<Vec<u8>> = x5c
            .as_array()
            .unwrap()
            .iter()
            .map(|c| b64.decode(c.as_str().unwrap()).unwrap())
            .collect();
        let genuine = ders.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut anchors = TrustAnchors::new();
        anchors.add(anchor.as_bytes()).unwrap();
        // The genuine chain is trusted: the property below can fail.
        let untouched = check_x5c(x5c, &anchors, issuer_id, now);
        let genuine_trusted = matches!(untouched, Ok(ChainOutcome::Trusted { .. }));
        proptest::prop_assert!(genuine_trusted, "the genuine chain is trusted");
        let target = which.min(ders.len() - 1);
        let i = at % ders[target].len();
        ders[target][i] ^= 1 << bit;
        if drop_first {
            ders.remove(0);
        }
        if repeat {
            let last = ders.last().unwrap().clone();
            ders.push(last);
        }
        let mutated = serde_json::json!(ders.iter().map(|d| b64.encode(d)).collect::<Vec<_>>());
        if let Ok(ChainOutcome::Trusted { .. }) = check_x5c(&mutated, &anchors, issuer_id, now) {
            proptest::prop_assert_eq!(&ders[..2], &genuine[..2]);
        }
        let none = check_x5c(&mutated, &TrustAnchors::new(), issuer_id, now);
        let trusted_without_anchors = matches!(none, Ok(ChainOutcome::Trusted { .. }));
        proptest::prop_assert!(!trusted_without_anchors, "trusted without anchors");
    }
}

// ---- mso_mdoc (ISO 18013-5): decoded, labelled, bound and verified ----

const PID_NS: &str = "eu.europa.ec.eudi.pid.1";
const MDL_NS: &str = "org.iso.18013.5.1";

fn same_key(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    ["kty", "crv", "x", "y"].iter().all(|m| a[m] == b[m])
}

#[tokio::test]
async fn an_mdoc_pid_is_decoded_labelled_bound_and_verified_by_the_iaca_anchor() {
    let issuer = default_issuer().await;
    let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), true);
    let (resolved, mut authorized) = pre_authorized_session(&issuer, &wallet, &["pid_mdoc"]).await;
    let signer = SoftwareSigner::generate();
    let Issuance::Issued(mut list) = authorized
        .request_credential(&wallet, "pid_mdoc", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance");
    };
    let credential = list.remove(0);
    assert_eq!(credential.format, "mso_mdoc");
    match &credential.verification {
        Verification::Verified {
            by: VerifiedBy::TrustAnchor { anchor },
        } => assert!(anchor.contains("CN="), "{anchor}"),
        other => panic!("expected verified by the anchor, got {other:?}"),
    }
    assert_eq!(credential.holder_jwk, Some(signer.public_jwk()));
    let mdoc = credential.mdoc().expect("an mdoc");
    assert_eq!(mdoc.doc_type(), PID_NS);
    assert!(same_key(mdoc.device_jwk(), &signer.public_jwk()));
    let claims = credential.claims.as_ref().unwrap();
    assert_eq!(claims[PID_NS]["family_name"], "Mustermann");
    assert_eq!(claims[PID_NS]["birth_date"], "1964-08-12");
    assert_eq!(claims[PID_NS]["age_over_18"], true);

    let configuration = resolved.context().configuration("pid_mdoc").unwrap();
    let labelled = credential.labelled(configuration, &["de".to_string()]);
    let birth = labelled
        .iter()
        .find(|c| c.path == [serde_json::json!(PID_NS), serde_json::json!("birth_date")])
        .expect("birth_date is labelled");
    assert_eq!(birth.kind, oid4vci_wallet::ClaimKind::Date);
    assert_eq!(birth.value, "1964-08-12");
    assert_ne!(
        birth.label, "birth_date",
        "a German label from the metadata"
    );
    // Every element the issuer signed is shown, described or not.
    assert_eq!(labelled.len(), mdoc.items().len());
}

#[tokio::test]
async fn an_mdl_keeps_its_portrait_as_bytes_and_is_unverified_without_anchors() {
    let issuer = default_issuer().await;
    let credential = receive_one(&issuer, &wallet_with(None, false), "mdl_mdoc")
        .await
        .unwrap();
    match &credential.verification {
        Verification::Unverified { reason } => {
            assert!(reason.contains("trust anchors"), "{reason}")
        }
        other => panic!("no anchors, so not verified: {other:?}"),
    }
    let mdoc = credential.mdoc().unwrap();
    assert_eq!(mdoc.doc_type(), "org.iso.18013.5.1.mDL");
    let portrait = mdoc
        .items()
        .iter()
        .find(|i| i.namespace == MDL_NS && i.identifier == "portrait")
        .expect("a portrait");
    assert!(matches!(
        &portrait.value,
        oid4vci_wallet::verify::MdocValue::Bytes(b) if !b.is_empty()
    ));
    let privileges = &credential.claims.as_ref().unwrap()[MDL_NS]["driving_privileges"];
    assert!(privileges.is_array(), "{privileges}");
}

#[tokio::test]
async fn a_batch_of_mdocs_over_dpop_and_encryption_is_matched_to_its_keys_by_device_key() {
    let issuer = start(
        Issuer::builder()
            .batch_size(Some(3))
            .require_dpop(true)
            .encryption(oid4vci_issuer::Encryption::Required),
    )
    .await;
    let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), true);
    let (_, mut authorized) = pre_authorized_session(&issuer, &wallet, &["mdl_mdoc"]).await;
    let signers: Vec<SoftwareSigner> = (0..3).map(|_| SoftwareSigner::generate()).collect();
    let refs: Vec<&dyn Signer> = signers.iter().map(|s| s as &dyn Signer).collect();
    let Issuance::Issued(list) = authorized
        .request_credentials(&wallet, "mdl_mdoc", &refs)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance");
    };
    assert_eq!(list.len(), 3);
    let mut keys = Vec::new();
    for credential in &list {
        assert!(credential.verification.is_verified());
        let mdoc = credential.mdoc().unwrap();
        let holder = credential.holder_jwk.clone().unwrap();
        assert!(same_key(mdoc.device_jwk(), &holder));
        keys.push(holder.to_string());
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "each mdoc is bound to its own key");
}

#[tokio::test]
async fn a_deferred_mdoc_is_checked_when_it_arrives() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), true);
    let created = issuer.create_offer(offer(&["pid_mdoc"], false, false, true));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("expected the pre-authorized grant");
    };
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let signer = SoftwareSigner::generate();
    let Issuance::Deferred(mut pending) = authorized
        .request_credential(&wallet, "pid_mdoc", &signer)
        .await
        .unwrap()
    else {
        panic!("expected deferred issuance");
    };
    let list = pending
        .poll_until_ready(&wallet, std::time::Duration::from_secs(20), None)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].verification.is_verified());
    assert_eq!(
        list[0].claims.as_ref().unwrap()[PID_NS]["given_name"],
        "Erika"
    );
}

#[tokio::test]
async fn each_mdoc_fault_fails_its_check_and_keeps_the_credential() {
    for (fault, expected) in [
        (Fault::MdocWrongDigest, "digest"),
        (Fault::MdocWrongDoctype, "docType"),
        (Fault::MdocExpired, "expired"),
        (Fault::MdocDeviceKeyNotOurs, "deviceKey"),
    ] {
        let issuer = start(Issuer::builder().fault(fault)).await;
        let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), false);
        let err = receive_one(&issuer, &wallet, "pid_mdoc").await.unwrap_err();
        let Error::CredentialCheck(rejection) = &err else {
            panic!("{fault:?}: expected a failed check, got {err}");
        };
        assert!(
            rejection.problem.contains(expected),
            "{fault:?}: {}",
            rejection.problem
        );
        assert_eq!(rejection.raw_credentials.len(), 1, "{fault:?}");
        assert_eq!(issuer.notifications().len(), 1, "{fault:?}");
        assert_eq!(issuer.notifications()[0].1, "credential_failure");
    }
    // A document signer under another root: a valid signature, but no chain
    // to the app's anchors, so unverified, and refused when verified is required.
    let issuer = start(Issuer::builder().fault(Fault::MdocSignerOutsideAnchors)).await;
    let anchor = issuer.trust_anchor_pem();
    let credential = receive_one(&issuer, &wallet_with(Some(&anchor), false), "pid_mdoc")
        .await
        .unwrap();
    match &credential.verification {
        Verification::Unverified { reason } => {
            assert!(
                reason.contains("none of the app's trust anchors"),
                "{reason}"
            )
        }
        other => panic!("a signer outside the anchors must not verify: {other:?}"),
    }
    let err = receive_one(&issuer, &wallet_with(Some(&anchor), true), "pid_mdoc")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CredentialCheck(_)), "{err}");
}

#[tokio::test]
async fn an_issuing_country_other_than_the_document_signers_fails_the_check() {
    let issuer = default_issuer().await;
    let wallet = wallet_with(Some(&issuer.trust_anchor_pem()), false);
    let mut request = offer(&["pid_mdoc"], false, false, false);
    request.claims = Some(
        serde_json::json!({"issuing_country": "FR"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let created = issuer.create_offer(request);
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = resolved.grant().unwrap() else {
        panic!("expected the pre-authorized grant");
    };
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let err = authorized
        .request_credential(&wallet, "pid_mdoc", &SoftwareSigner::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::CredentialCheck(r) if r.problem.contains("issuing_country FR is not the document signer's country DE")),
        "{err}"
    );
}

#[tokio::test]
async fn a_key_that_cannot_be_fetched_leaves_the_credential_unverified_never_dropped() {
    use oid4vci_issuer::{Canned, Endpoint};
    let issuer = start(Issuer::builder().respond(Canned::text(
        Endpoint::JwtVcIssuer,
        503,
        "text/plain",
        "down",
    )))
    .await;
    let credential = receive_pid(&issuer, &wallet_with(None, false))
        .await
        .unwrap();
    match &credential.verification {
        Verification::Unverified { reason } => {
            assert!(reason.contains("could not be fetched"), "{reason}")
        }
        other => panic!("expected unverified, got {other:?}"),
    }
    assert!(credential.claims.is_some(), "decoded all the same");
    // Required verified: an error that carries the credential.
    let err = receive_pid(&issuer, &wallet_with(None, true))
        .await
        .unwrap_err();
    let Error::CredentialCheck(rejection) = &err else {
        panic!("expected a failed check, got {err}");
    };
    assert_eq!(rejection.raw_credentials.len(), 1);
}

/// The check of what was received is a flow of the engine: an app that
/// drives the engine itself gets the same verification, fetching the
/// issuer's keys when the flow asks.
#[tokio::test]
async fn the_engine_checks_received_credentials_without_a_wallet() {
    use oid4vci_wallet::flow::CheckReceived;
    use oid4vci_wallet::flow::{EngineConfig, Flow, Progress};
    use oid4vci_wallet::HttpClient as _;
    let issuer = default_issuer().await;
    // Unchecked credentials, as an engine-driving app has them.
    let unchecked = Wallet::builder()
        .client_id("test-wallet")
        .dangerous_allow_http()
        .verify_credential_signatures(false)
        .build()
        .unwrap();
    let received = receive_pid(&issuer, &unchecked).await.unwrap();
    assert!(!received.verification.is_verified());

    let mut config = EngineConfig {
        allow_http: true,
        ..EngineConfig::default()
    };
    config.trust.require_verified = true;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let http = oid4vci_wallet::ReqwestClient::new(oid4vci_wallet::ReqwestConfig {
        allow_http: true,
        ..Default::default()
    })
    .unwrap();
    // The check runs on its own: turn the wallet's off, so this one counts.
    config.trust.verify_signatures = true;
    let mut progress =
        CheckReceived::start(&issuer.issuer_id(), vec![received], &config, now).unwrap();
    let mut requests = 0;
    let checked = loop {
        match progress {
            Progress::Done(list) => break list,
            Progress::Again(mut flow) => {
                let (_, request) = flow.prepare_request(&config, now).unwrap();
                requests += 1;
                let response = http.send(request).await.unwrap();
                progress = flow.handle_response(response, &config, now).unwrap();
            }
        }
    };
    assert_eq!(requests, 1, "the issuer's JWT VC issuer metadata, once");
    assert!(matches!(
        &checked[0].verification,
        Verification::Verified {
            by: VerifiedBy::IssuerMetadata { .. }
        }
    ));
}

/// A genuine PID mdoc of the reference issuer (the CBOR of its
/// `IssuerSigned`) and its root, made once for the property below.
fn genuine_mdoc() -> &'static (Vec<u8>, String) {
    static MDOC: std::sync::OnceLock<(Vec<u8>, String)> = std::sync::OnceLock::new();
    MDOC.get_or_init(|| {
        use base64::Engine as _;
        let holder = SoftwareSigner::generate().public_jwk();
        let sample = oid4vci_issuer::sample_mdoc("pid_mdoc", &holder).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&sample.credential)
            .unwrap();
        (bytes, sample.trust_anchor_pem)
    })
}

/// The CBOR of `issuer_signed` with one byte of the inner bytes of item
/// `which` (of all namespaces, in order) XORed with `mask`.
fn with_item_byte_changed(issuer_signed: &[u8], which: usize, at: usize, mask: u8) -> Vec<u8> {
    use ciborium::Value as Cbor;
    let mut value: Cbor = ciborium::de::from_reader(issuer_signed).unwrap();
    let Cbor::Map(top) = &mut value else {
        panic!("IssuerSigned is a map")
    };
    let (_, name_spaces) = top
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some("nameSpaces"))
        .unwrap();
    let mut items: Vec<&mut Vec<u8>> = Vec::new();
    for (_, list) in name_spaces.as_map_mut().unwrap() {
        for item in list.as_array_mut().unwrap() {
            let Cbor::Tag(24, inner) = item else {
                panic!("a tag-24 item")
            };
            items.push(inner.as_bytes_mut().unwrap());
        }
    }
    let count = items.len();
    let bytes = &mut items[which % count];
    let at = at % bytes.len();
    bytes[at] ^= mask;
    let mut out = Vec::new();
    ciborium::ser::into_writer(&value, &mut out).unwrap();
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Changing any one byte of any issuer-signed item of a genuine mdoc
    /// (its digestID, random, identifier or value) makes it fail: the wallet
    /// never shows an element its issuer did not sign.
    #[test]
    fn one_changed_byte_in_a_signed_mdoc_item_fails_verification(
        which in 0usize..64,
        at in 0usize..4096,
        mask in 1u8..=255,
    ) {
        use oid4vci_wallet::verify::Mdoc;
        use oid4vci_wallet::verify::{check_x5chain, ChainOutcome, TrustAnchors};
        let (genuine, root) = genuine_mdoc();
        let mut anchors = TrustAnchors::new();
        anchors.add(root.as_bytes()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // The genuine one passes every check, so a failure below is the change's.
        let mdoc = Mdoc::from_cbor(genuine).unwrap();
        let Ok(ChainOutcome::Trusted { leaf_jwk, .. }) = check_x5chain(mdoc.x5chain(), &anchors, now)
        else {
            panic!("the genuine x5chain is not trusted")
        };
        proptest::prop_assert!(mdoc.verify_signature(&leaf_jwk).is_ok());

        let changed = with_item_byte_changed(genuine, which, at, mask);
        let outcome = Mdoc::from_cbor(&changed)
            .and_then(|m| m.verify_signature(&leaf_jwk).map(|()| m));
        proptest::prop_assert!(outcome.is_err(), "a changed item passed: {:?}", outcome.map(|m| m.claims()));
    }
}

// ---- signed issuer metadata (OID4VCI 1.0 12.2.3; draft 13 signed_metadata) ----

#[tokio::test]
async fn signed_metadata_is_verified_against_the_anchors_and_a_bad_one_is_refused() {
    for draft13 in [false, true] {
        let issuer = start(Issuer::builder().signed_metadata(true).draft13(draft13)).await;
        let anchor = issuer.trust_anchor_pem();
        // Verified: the issuance goes on with the signed document.
        let credential = receive_pid(&issuer, &wallet_with(Some(&anchor), false))
            .await
            .unwrap();
        assert!(credential.claims.is_some(), "draft13 {draft13}");

        // Signed by a chain to no anchor of the app's: refused.
        let other = start(Issuer::builder()).await.trust_anchor_pem();
        let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
        let err = wallet_with(Some(&other), false)
            .resolve_offer(&created.offer_url)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Metadata { problem, .. } if problem.contains("signed metadata")),
            "draft13 {draft13}: {err}"
        );
    }

    // A bad signature: refused by a wallet with anchors; a wallet without
    // anchors asks for (or reads) plain JSON and goes on unaffected.
    for draft13 in [false, true] {
        let issuer = start(
            Issuer::builder()
                .signed_metadata(true)
                .draft13(draft13)
                .fault(Fault::SignedMetadataBadSignature),
        )
        .await;
        let created = issuer.create_offer(offer(&["pid_sd_jwt"], false, false, false));
        let err = wallet_with(Some(&issuer.trust_anchor_pem()), false)
            .resolve_offer(&created.offer_url)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Metadata { problem, .. } if problem.contains("signature")),
            "draft13 {draft13}: {err}"
        );
        let credential = receive_pid(&issuer, &wallet_with(None, false))
            .await
            .unwrap();
        assert!(credential.claims.is_some());
    }
}
