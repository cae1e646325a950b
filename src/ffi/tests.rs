//! The exports end to end against the reference issuer: wallets, offers,
//! sessions and the credentials they receive.

use super::*;
use oid4vci_issuer::{Issuer, OfferRequest, RunningIssuer};
use std::sync::Arc;
use std::time::Duration;

fn config() -> WalletConfig {
    WalletConfig {
        client_id: None,
        locales: vec!["en".into()],
        dangerous_allow_http: false,
        verify_credential_signatures: true,
        request_timeout_ms: 0,
        max_response_bytes: 0,
        root_certificates_pem: vec![],
        trust_anchors_pem: vec![],
        require_verified: false,
    }
}

fn pid_offer(issuer: &RunningIssuer, tx_code: bool) -> oid4vci_issuer::CreatedOffer {
    issuer.create_offer(OfferRequest {
        credential_configuration_ids: Some(vec!["pid_sd_jwt".into()]),
        tx_code: Some(tx_code),
        ..Default::default()
    })
}

async fn issue_pid(wallet: &Arc<Wallet>, session: &AuthorizedSession) -> Vec<Credential> {
    let signer: Arc<dyn Signer> = SoftwareSigner::generate();
    match session
        .request_credential(wallet.clone(), "pid_sd_jwt".into(), signer, None)
        .await
        .unwrap()
    {
        Issuance::Issued { credentials } => credentials,
        Issuance::Deferred { .. } => panic!("deferred"),
    }
}

#[tokio::test]
async fn root_certificates_from_the_config_trust_an_https_issuer() {
    let issuer = Issuer::builder()
        .tls(true)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let pem = issuer.certificate_pem().expect("a TLS certificate");
    assert!(issuer.issuer_id().starts_with("https://"));

    // Not trusted: a transport error, nothing reaches the issuer.
    let untrusted = Wallet::new(config()).unwrap();
    let err = untrusted
        .resolve_offer(pid_offer(&issuer, false).offer_url, None)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, WalletError::Network { .. }), "{err}");

    let wallet = Wallet::new(WalletConfig {
        root_certificates_pem: vec![pem.clone()],
        ..config()
    })
    .unwrap();
    let offer = wallet
        .resolve_offer(pid_offer(&issuer, false).offer_url, None)
        .await
        .unwrap();
    let session = offer.authorize(wallet.clone(), None, None).await.unwrap();
    let credentials = issue_pid(&wallet, &session).await;
    assert!(credentials[0].signature_verified);

    // The app's HttpClient decides trust itself.
    struct Never;
    impl HttpClient for Never {
        fn send(&self, _: HttpRequest) -> Result<HttpResponse, HttpClientError> {
            Err(HttpClientError::Timeout)
        }
    }
    let err = Wallet::with_http_client(
        WalletConfig {
            root_certificates_pem: vec![pem],
            ..config()
        },
        Arc::new(Never),
    )
    .err()
    .unwrap();
    assert!(matches!(err, WalletError::Configuration { .. }), "{err}");
}

#[test]
fn an_unusable_root_certificate_is_a_configuration_error() {
    for bad in [
        "not a certificate",
        "MIIBszCCAVmgAwIBAgIU",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    ] {
        let err = Wallet::new(WalletConfig {
            root_certificates_pem: vec![bad.into()],
            ..config()
        })
        .err()
        .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(
            matches!(err, WalletError::Configuration { .. }),
            "{bad:?}: {err}"
        );
    }
}

/// A Wallet Attestation of `issuer`'s wallet provider for `signer`'s key.
fn attestation_for(issuer: &RunningIssuer, client_id: &str, signer: &dyn Signer) -> String {
    let jwk: serde_json::Value = serde_json::from_str(&signer.public_jwk()).unwrap();
    issuer.issue_wallet_attestation(client_id, &jwk, Duration::from_secs(3600))
}

#[tokio::test]
async fn wallet_attestation_with_challenges_and_dpop_nonces() {
    let issuer = Issuer::builder()
        .wallet_attestation(oid4vci_issuer::WalletAttestation::RequiredWithChallenge)
        .require_dpop(true)
        .dpop_nonce(true)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let http = WalletConfig {
        dangerous_allow_http: true,
        ..config()
    };
    // The app's platform key, through the foreign Signer interface.
    let key: Arc<dyn Signer> = SoftwareSigner::generate();
    let jwt = attestation_for(&issuer, "ffi-wallet", key.as_ref());
    let wallet = Wallet::with_attestation(http.clone(), jwt.clone(), key.clone()).unwrap();
    assert_eq!(wallet.client_id().as_deref(), Some("ffi-wallet"));
    let created = pid_offer(&issuer, true);
    let offer = wallet.resolve_offer(created.offer_url, None).await.unwrap();
    let session = offer
        .authorize(wallet.clone(), created.tx_code, None)
        .await
        .unwrap();
    assert!(session.uses_dpop().await);
    let credentials = issue_pid(&wallet, &session).await;
    assert!(credentials[0].signature_verified);
    let stats = issuer.stats();
    assert_eq!(stats["attestation_rejected"], 0, "{stats:?}");
    assert!(stats["attestation_challenges_issued"] >= 1, "{stats:?}");

    // Without the attestation: refused as a client, a Server error.
    let anonymous = Wallet::new(http.clone()).unwrap();
    let created = pid_offer(&issuer, true);
    let offer = anonymous
        .resolve_offer(created.offer_url, None)
        .await
        .unwrap();
    let err = offer
        .authorize(anonymous.clone(), created.tx_code, None)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, WalletError::Server { code, .. } if code == "invalid_client"),
        "{err}"
    );

    // Configuration errors: another key, a client_id that is not the
    // sub, something that is not an attestation.
    let other: Arc<dyn Signer> = SoftwareSigner::generate();
    let mismatched = WalletConfig {
        client_id: Some("someone-else".into()),
        ..http.clone()
    };
    for err in [
        Wallet::with_attestation(http.clone(), jwt.clone(), other).err(),
        Wallet::with_attestation(mismatched, jwt.clone(), key.clone()).err(),
        Wallet::with_attestation(http.clone(), "not.a.jwt".into(), key.clone()).err(),
    ] {
        let err = err.expect("accepted");
        assert!(matches!(err, WalletError::Configuration { .. }), "{err}");
    }
    // The same client_id as the sub is fine.
    let same = WalletConfig {
        client_id: Some("ffi-wallet".into()),
        ..http.clone()
    };
    assert!(Wallet::with_attestation(same, jwt.clone(), key.clone()).is_ok());
}

#[tokio::test]
async fn an_expired_attestation_fails_before_sending_and_the_http_client_variant_builds() {
    let issuer = Issuer::builder()
        .wallet_attestation(oid4vci_issuer::WalletAttestation::Required)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    struct Never;
    impl HttpClient for Never {
        fn send(&self, _: HttpRequest) -> Result<HttpResponse, HttpClientError> {
            Err(HttpClientError::Timeout)
        }
    }
    let key: Arc<dyn Signer> = SoftwareSigner::generate();
    let jwk: serde_json::Value = serde_json::from_str(&key.public_jwk()).unwrap();
    // Expired already: the wallet catches it before sending.
    let jwt = issuer.issue_wallet_attestation("ffi-wallet", &jwk, Duration::ZERO);
    let http = WalletConfig {
        dangerous_allow_http: true,
        ..config()
    };
    let wallet = Wallet::with_attestation(http.clone(), jwt.clone(), key.clone()).unwrap();
    let created = pid_offer(&issuer, false);
    let offer = wallet.resolve_offer(created.offer_url, None).await.unwrap();
    let err = offer
        .authorize(wallet.clone(), None, None)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, WalletError::Configuration { details } if details.contains("expired")),
        "{err}"
    );
    assert_eq!(issuer.stats().get("/token").copied().unwrap_or(0), 0);
    // The HttpClient variant builds the same way (and refuses root certificates).
    let with_client = Wallet::with_http_client_and_attestation(
        http.clone(),
        Arc::new(Never),
        jwt.clone(),
        key.clone(),
    )
    .unwrap();
    assert_eq!(with_client.client_id().as_deref(), Some("ffi-wallet"));
    let err = Wallet::with_http_client_and_attestation(
        WalletConfig {
            root_certificates_pem: vec!["-----BEGIN CERTIFICATE-----".into()],
            ..http
        },
        Arc::new(Never),
        jwt,
        key,
    )
    .err()
    .unwrap();
    assert!(matches!(err, WalletError::Configuration { .. }), "{err}");
}

#[tokio::test]
async fn pre_authorized_over_dpop_with_nonces_survives_save_and_restore() {
    let issuer = Issuer::builder()
        .require_dpop(true)
        .dpop_nonce(true)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let wallet = Wallet::new(WalletConfig {
        dangerous_allow_http: true,
        ..config()
    })
    .unwrap();
    let created = pid_offer(&issuer, true);
    let offer = wallet.resolve_offer(created.offer_url, None).await.unwrap();
    let session = offer
        .authorize(wallet.clone(), created.tx_code, None)
        .await
        .unwrap();
    assert!(session.uses_dpop().await);
    let restored =
        AuthorizedSession::from_json(session.to_json().await.unwrap(), vec!["en".into()]).unwrap();
    drop(session);
    assert!(restored.uses_dpop().await);
    let fresh = Wallet::new(WalletConfig {
        dangerous_allow_http: true,
        ..config()
    })
    .unwrap();
    let credentials = issue_pid(&fresh, &restored).await;
    let claims: serde_json::Value =
        serde_json::from_str(credentials[0].claims_json.as_deref().unwrap()).unwrap();
    assert_eq!(claims["given_name"], "Erika");
    assert!(credentials[0].signature_verified);
}

#[tokio::test]
async fn an_offer_by_reference_saved_on_the_pin_screen_resumes_in_a_new_wallet() {
    let issuer = Issuer::builder().spawn("127.0.0.1:0").await.unwrap();
    let http = WalletConfig {
        dangerous_allow_http: true,
        ..config()
    };
    let created = issuer.create_offer(OfferRequest {
        credential_configuration_ids: Some(vec!["pid_sd_jwt".into()]),
        tx_code: Some(true),
        by_reference: Some(true),
        ..Default::default()
    });
    let saved = {
        let wallet = Wallet::new(http.clone()).unwrap();
        let offer = wallet.resolve_offer(created.offer_url, None).await.unwrap();
        assert!(offer.tx_code_spec().is_some());
        offer.to_json().await.unwrap()
        // the app is killed on the PIN screen
    };
    let offer = ResolvedOffer::from_json(saved, vec!["de".into()]).unwrap();
    assert_eq!(offer.issuer_id(), issuer.issuer_id());
    assert_eq!(offer.tx_code_spec().unwrap().length, Some(6));
    let wallet = Wallet::new(http).unwrap();
    let session = offer
        .authorize(wallet.clone(), created.tx_code, None)
        .await
        .unwrap();
    let credentials = issue_pid(&wallet, &session).await;
    assert!(credentials[0].signature_verified);
    let offers: u64 = issuer
        .stats()
        .iter()
        .filter(|(path, _)| path.contains("/offers/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(offers, 1, "{:?}", issuer.stats());
    // Spent: saving it again is refused; garbage is refused, typed.
    let err = offer.to_json().await.unwrap_err();
    assert!(matches!(err, WalletError::InvalidState { .. }), "{err}");
    for garbage in ["", "{not json", "{}", "[]"] {
        let err = ResolvedOffer::from_json(garbage.into(), vec![])
            .err()
            .unwrap();
        assert!(
            matches!(&err, WalletError::InvalidState { details } if details.contains("saved resolved offer")),
            "{garbage:?}: {err}"
        );
    }
    // Another state's JSON is not an offer.
    let json = session.to_json().await.unwrap();
    let err = ResolvedOffer::from_json(json, vec![]).err().unwrap();
    assert!(
        matches!(&err, WalletError::InvalidState { details } if details.contains("authorized session")),
        "{err}"
    );
}

async fn x5c_issuer(fault: Option<oid4vci_issuer::Fault>) -> RunningIssuer {
    let mut builder =
        Issuer::builder().credential_signing(oid4vci_issuer::CredentialSigning::X5cChain);
    if let Some(fault) = fault {
        builder = builder.fault(fault);
    }
    builder.spawn("127.0.0.1:0").await.unwrap()
}

/// A pre-authorized PID from `issuer` with a wallet of `config` (http allowed).
async fn receive_pid(
    issuer: &RunningIssuer,
    config: WalletConfig,
) -> Result<Vec<Credential>, WalletError> {
    let wallet = Wallet::new(WalletConfig {
        dangerous_allow_http: true,
        ..config
    })?;
    let offer = wallet
        .resolve_offer(pid_offer(issuer, false).offer_url, None)
        .await?;
    let session = offer.authorize(wallet.clone(), None, None).await?;
    let signer: Arc<dyn Signer> = SoftwareSigner::generate();
    match session
        .request_credential(wallet.clone(), "pid_sd_jwt".into(), signer, None)
        .await?
    {
        Issuance::Issued { credentials } => Ok(credentials),
        Issuance::Deferred { .. } => panic!("deferred"),
    }
}

#[tokio::test]
async fn credentials_say_how_their_issuer_was_verified() {
    let issuer = x5c_issuer(None).await;
    let anchored = WalletConfig {
        trust_anchors_pem: vec![issuer.trust_anchor_pem()],
        require_verified: true,
        ..config()
    };
    let credentials = receive_pid(&issuer, anchored).await.unwrap();
    match &credentials[0].verification {
        Verification::Verified {
            method: VerificationMethod::TrustAnchor,
            detail,
        } => assert!(detail.contains("CN="), "{detail}"),
        other => panic!("expected verified by the anchor, got {other:?}"),
    }
    assert!(credentials[0].signature_verified);

    // No anchors: delivered, unverified, with the reason.
    let credentials = receive_pid(&issuer, config()).await.unwrap();
    assert!(
        matches!(&credentials[0].verification, Verification::Unverified { reason } if reason.contains("trust anchors")),
        "{:?}",
        credentials[0].verification
    );
    assert!(!credentials[0].signature_verified);

    // kid signing: the issuer's published keys.
    let issuer = Issuer::builder().spawn("127.0.0.1:0").await.unwrap();
    let required = WalletConfig {
        require_verified: true,
        ..config()
    };
    let credentials = receive_pid(&issuer, required).await.unwrap();
    match &credentials[0].verification {
        Verification::Verified {
            method: VerificationMethod::IssuerMetadata,
            detail,
        } => assert!(detail.contains("/.well-known/jwt-vc-issuer"), "{detail}"),
        other => panic!("expected verified by the issuer metadata, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_credential_comes_with_the_credentials_as_issued() {
    let issuer = x5c_issuer(Some(oid4vci_issuer::Fault::X5cSelfSigned)).await;
    let config = WalletConfig {
        trust_anchors_pem: vec![issuer.trust_anchor_pem()],
        ..config()
    };
    // Delivered unverified unless verified issuers are required.
    let credentials = receive_pid(&issuer, config.clone()).await.unwrap();
    assert!(
        matches!(credentials[0].verification, Verification::Unverified { .. }),
        "{:?}",
        credentials[0].verification
    );
    let err = receive_pid(
        &issuer,
        WalletConfig {
            require_verified: true,
            ..config
        },
    )
    .await
    .err()
    .unwrap();
    match &err {
        WalletError::CredentialCheck { details, rejected } => {
            let (raw_credentials, notification_id) =
                (rejected.raw_credentials(), rejected.notification_id());
            assert!(details.contains("not verified"), "{details}");
            assert_eq!(raw_credentials.len(), 1);
            // The message (what apps log) carries no credential.
            assert!(!err.to_string().contains(&raw_credentials[0]));
            assert!(!format!("{err:?}").contains(&raw_credentials[0]));
            // The SD-JWT itself, not a JSON string literal.
            assert!(
                raw_credentials[0].starts_with("ey"),
                "{}",
                raw_credentials[0]
            );
            assert!(raw_credentials[0].contains('~'));
            assert!(notification_id.is_some());
        }
        other => panic!("expected CredentialCheck, got {other}"),
    }
}

#[test]
fn an_unusable_trust_anchor_is_a_configuration_error() {
    struct Never;
    impl HttpClient for Never {
        fn send(&self, _: HttpRequest) -> Result<HttpResponse, HttpClientError> {
            Err(HttpClientError::Timeout)
        }
    }
    for bad in [
        "not a certificate",
        "MIIBszCCAVmgAwIBAgIU",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
    ] {
        let config = WalletConfig {
            trust_anchors_pem: vec![bad.into()],
            ..config()
        };
        for err in [
            Wallet::new(config.clone()).err(),
            Wallet::with_http_client(config, Arc::new(Never)).err(),
        ] {
            let err = err.unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(
                matches!(&err, WalletError::Configuration { details } if details.contains("trust_anchors_pem[0]")),
                "{bad:?}: {err}"
            );
        }
    }
}

/// An app HttpClient that forwards to the network with the core client (on
/// a runtime of its own: the wallet calls it on a blocking thread).
struct Forwarding;

impl HttpClient for Forwarding {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpClientError> {
        use crate::http::HttpClient as _;
        let core = crate::http::HttpRequest {
            method: if request.method == "POST" {
                crate::http::Method::Post
            } else {
                crate::http::Method::Get
            },
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: request.body,
        };
        let client = crate::http::ReqwestClient::new(crate::http::ReqwestConfig {
            allow_http: true,
            ..Default::default()
        })
        .map_err(|e| HttpClientError::Other {
            details: format!("{e:?}"),
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HttpClientError::Other {
                details: e.to_string(),
            })?;
        let response =
            runtime
                .block_on(client.send(core))
                .map_err(|e| HttpClientError::Connect {
                    details: format!("{e:?}"),
                })?;
        Ok(HttpResponse {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: response.body,
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_anchors_apply_with_the_apps_http_client_too() {
    let issuer = x5c_issuer(None).await;
    // Anchors are not TLS roots: a wallet on the app's HttpClient takes them,
    // and a credential whose x5c chain reaches one is verified by it.
    let wallet = Wallet::with_http_client(
        WalletConfig {
            trust_anchors_pem: vec![issuer.trust_anchor_pem()],
            require_verified: true,
            dangerous_allow_http: true,
            ..config()
        },
        Arc::new(Forwarding),
    )
    .unwrap();
    let offer = wallet
        .resolve_offer(pid_offer(&issuer, false).offer_url, None)
        .await
        .unwrap();
    let session = offer.authorize(wallet.clone(), None, None).await.unwrap();
    let signer: Arc<dyn Signer> = SoftwareSigner::generate();
    let Issuance::Issued { credentials } = session
        .request_credential(wallet.clone(), "pid_sd_jwt".into(), signer, None)
        .await
        .unwrap()
    else {
        panic!("deferred")
    };
    assert!(
        matches!(
            &credentials[0].verification,
            Verification::Verified {
                method: VerificationMethod::TrustAnchor,
                ..
            }
        ),
        "{:?}",
        credentials[0].verification
    );
}

/// The app's metadata store: a map it could write to a file.
#[derive(Default)]
struct MapStore(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl MetadataStore for MapStore {
    fn load(&self, url: String) -> Option<String> {
        self.0.lock().unwrap().get(&url).cloned()
    }
    fn store(&self, url: String, entry: String) {
        self.0.lock().unwrap().insert(url, entry);
    }
    fn remove(&self, url: String) {
        self.0.lock().unwrap().remove(&url);
    }
}

#[tokio::test]
async fn a_metadata_store_outlives_the_wallet_and_spares_the_next_its_requests() {
    let issuer = Issuer::builder()
        .cache_max_age(3600)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let store = Arc::new(MapStore::default());
    let build = || {
        let mut config = config();
        config.dangerous_allow_http = true;
        WalletBuilder::new(config)
            .metadata_store(store.clone())
            .build()
            .unwrap()
    };
    let issue = |wallet: Arc<Wallet>| {
        let offer = pid_offer(&issuer, false).offer_url;
        async move {
            let resolved = wallet.resolve_offer(offer, None).await.unwrap();
            let session = resolved
                .authorize(wallet.clone(), None, None)
                .await
                .unwrap();
            let credentials = issue_pid(&wallet, &session).await;
            assert!(credentials[0].signature_verified);
        }
    };
    let well_known = |issuer: &RunningIssuer| -> u64 {
        issuer
            .stats()
            .iter()
            .filter(|(path, _)| path.contains(".well-known"))
            .map(|(_, n)| n)
            .sum()
    };

    issue(build()).await;
    let first = well_known(&issuer);
    assert_eq!(first, 3, "{:?}", issuer.stats());
    assert!(
        store.0.lock().unwrap().len() >= 3,
        "the app's store holds the documents"
    );

    // A new wallet (the app restarted) with the same store: no well-known
    // request at all.
    issue(build()).await;
    assert_eq!(well_known(&issuer), first, "{:?}", issuer.stats());

    // What the store gives back is input: a damaged entry is no entry.
    for entry in store.0.lock().unwrap().values_mut() {
        *entry = "{not json".into();
    }
    issue(build()).await;
    assert_eq!(well_known(&issuer), 2 * first, "{:?}", issuer.stats());
}
