//! UniFFI exports for Kotlin and Swift (feature `uniffi`).
//!
//! The same flows as the Rust API, shaped for apps: objects for the wallet and
//! for each step, records for what the app shows, one [`WalletError`] (Kotlin:
//! `WalletException`) an app can branch on, and a foreign [`Signer`] so keys
//! stay in Android Keystore / Secure Enclave. A step that is consumed (e.g.
//! authorizing) fails with [`WalletError::InvalidState`] when used twice.
//! Every step saves to and restores from a JSON string (`toJson`, `fromJson`),
//! for the app's secure storage: the resolved offer ([`CredentialOffer`], also
//! while the PIN screen is shown), the pending authorization, the authorized
//! session and the deferred transaction. A restored offer makes no request (an
//! offer by reference is single use); a JSON that is not the saved state asked
//! for fails with [`WalletError::InvalidState`] naming what is wrong.
//!
//! Requests go through the built-in reqwest client unless the app passes its
//! own [`HttpClient`] (OkHttp, URLSession) to [`Wallet::with_http_client`].
//! The built-in client trusts the platform's roots plus
//! [`WalletConfig::root_certificates_pem`].
//!
//! Every received credential says what the wallet established about its
//! issuer ([`Credential::verification`]): verified through an `x5c` chain to
//! one of [`WalletConfig::trust_anchors_pem`] or through the issuer's
//! published keys, or unverified and why. [`WalletConfig::require_verified`]
//! turns an unverified issuer into [`WalletError::CredentialCheck`], which
//! (like every failed check after issuance) still carries the credentials.
//!
//! DPoP (RFC 9449) needs nothing from the app: when the authorization server
//! advertises ES256 in `dpop_signing_alg_values_supported`, the wallet proves
//! a fresh key per issuance, saved with the session JSON; or, with
//! `WalletBuilder.dpopKeys(store)`, a key of the app's key store, of which the
//! session JSON keeps only the public key and the app's reference.
//! [`AuthorizedSession::uses_dpop`] and [`PendingAuthorization::uses_dpop`]
//! tell whether it does.
//!
//! Wallet attestation (OAuth attestation-based client authentication, as HAIP
//! asks) needs the Wallet Attestation JWT the app got from its wallet
//! provider and the [`Signer`] of the key it attests:
//! [`Wallet::with_attestation`] (or [`Wallet::with_http_client_and_attestation`]).
//! The wallet then sends the attestation and a fresh proof of possession to
//! every PAR and token request and answers the server's challenges itself.

mod authorization;
mod builder;
mod http;

pub use authorization::PendingAuthorization;
pub use builder::{DpopKeyStore, KeyAttestationProvider, KeyAttestationRequest, WalletBuilder};
pub use http::{HttpClient, HttpClientError, HttpHeader, HttpRequest, HttpResponse};

use crate::flow::session::Grant as CoreGrant;
use crate::jose::{Algorithm, Signer as CoreSigner, SignerError};
use crate::types::NotificationEvent as CoreEvent;
use crate::{Error as CoreError, ErrorCode};
use sha2::Digest as _;
use std::sync::Arc;
use std::time::Duration;

/// Errors apps see. Kotlin shows it as `WalletException`.
///
/// The text fields are called `details`, not `message`: a field named
/// `message` clashes with Kotlin's `Throwable.message` and the generated
/// Kotlin would not compile (uniffi-rs issue 1434).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum WalletError {
    /// The offer URL or offer JSON is malformed or violates the protocol.
    #[error("invalid offer: {details}")]
    InvalidOffer {
        /// What was wrong.
        details: String,
    },
    /// The offer was already used or has expired (the issuer does not know it).
    #[error("offer expired or already used: {details}")]
    OfferExpiredOrUsed {
        /// Details.
        details: String,
    },
    /// The offer needs a transaction code and none was given (or vice versa).
    #[error("transaction code: {details}")]
    TxCodeRequired {
        /// Details.
        details: String,
    },
    /// The issuer rejected the transaction code (`invalid_tx_code`, or
    /// `invalid_grant` from the pre-authorized token request).
    #[error("transaction code rejected: {details}")]
    TxCodeRejected {
        /// Details.
        details: String,
    },
    /// The browser round trip failed: wrong `state` or `iss`, the user denied
    /// access, or no code came back.
    #[error("authorization failed: {details}")]
    AuthorizationFailed {
        /// Details.
        details: String,
    },
    /// The issuer's metadata is missing or unusable.
    #[error("issuer metadata: {details}")]
    Metadata {
        /// Which document and field.
        details: String,
    },
    /// No connection, timeout, TLS failure, body too large.
    #[error("network: {details}")]
    Network {
        /// Details.
        details: String,
    },
    /// The server answered with an OAuth / OID4VCI error. `invalid_grant`
    /// from the authorization code exchange means the code was used, expired
    /// or not issued to this authorization: start a new one.
    ///
    /// With wallet attestation ([`Wallet::with_attestation`]), from PAR or the
    /// token endpoint: `use_fresh_attestation` means the authorization server
    /// no longer accepts the Wallet Attestation (it expired): fetch a fresh
    /// one from the wallet provider, build a new `Wallet` with it and start
    /// the step again. `invalid_client` (or `invalid_client_attestation`)
    /// means the server refused the client: no attestation where one is
    /// required, one from a provider it does not trust, or a proof of
    /// possession it rejected. (`use_attestation_challenge` is answered by
    /// the wallet itself, once; it reaches the app only if the server asks
    /// again.)
    #[error("server error {code}: {details}")]
    Server {
        /// The error code as sent (`invalid_grant`, `invalid_proof`, ...).
        code: String,
        /// `error_description`, sanitized (may be empty).
        description: String,
        /// HTTP status.
        status: u16,
        /// The whole message.
        details: String,
    },
    /// The server answered something the protocol does not allow.
    #[error("unexpected response: {details}")]
    UnexpectedResponse {
        /// Details.
        details: String,
    },
    /// A received credential failed a check (signature, digest, key
    /// binding, type, validity, a certificate chain), or its issuer could not
    /// be verified while `WalletConfig.require_verified` is on. When the
    /// issuer had already issued, the credentials it sent are kept here as
    /// issued (the offer's code is spent), so the app can still keep them,
    /// e.g. shown as unverified, or report the issuer; the wallet has told
    /// the issuer `credential_failure` where it could.
    #[error("credential check failed: {details}")]
    CredentialCheck {
        /// What failed, and in which credential (`credentials[i]`).
        details: String,
        /// What the issuer sent, kept for the app: an object, so that the
        /// exception's message (often logged) never contains a credential.
        rejected: Arc<RejectedCredentials>,
    },
    /// The app's signer (or key attestation provider) failed. Also what a
    /// foreign signer throws.
    #[error("signing: {details}")]
    Signing {
        /// Details.
        details: String,
    },
    /// The wallet cannot make the proofs this issuer requires (no proof type
    /// or algorithm in common, key attestations required, too many keys for
    /// its batch size, ...), raised before anything is spent where it can be.
    #[error("proof: {details}")]
    Proof {
        /// Which problem.
        kind: ProofErrorKind,
        /// Details.
        details: String,
    },
    /// The wallet's configuration does not allow this (e.g. the authorization
    /// code flow without a `client_id`, an http issuer without
    /// `dangerous_allow_http`), or an argument is unusable: among them a
    /// Wallet Attestation that is not one (not a compact JWS, wrong `typ`, no
    /// `sub` or `cnf.jwk`), whose `cnf.jwk` is not the signer's key, or whose
    /// `sub` differs from `WalletConfig.client_id`; and, before a PAR or
    /// token request, an attestation whose `exp` has passed (fetch a fresh
    /// one from the wallet provider).
    #[error("configuration: {details}")]
    Configuration {
        /// Details.
        details: String,
    },
    /// A step was used twice, a saved session did not parse, or similar.
    #[error("invalid state: {details}")]
    InvalidState {
        /// Details.
        details: String,
    },
    /// The deferred credential was not ready before the deadline.
    #[error("deferred credential not ready before the deadline")]
    DeadlineExceeded,
    /// Cancelled by the app.
    #[error("cancelled")]
    Cancelled,
}

impl From<CoreError> for WalletError {
    fn from(e: CoreError) -> Self {
        let details = e.to_string();
        match e {
            CoreError::InvalidOffer(_) => WalletError::InvalidOffer { details },
            CoreError::Metadata { .. } => WalletError::Metadata { details },
            CoreError::Config(_) => WalletError::Configuration { details },
            CoreError::Transport { .. } => WalletError::Network { details },
            CoreError::TxCode(_) => WalletError::TxCodeRequired { details },
            CoreError::Proof(proof) => match ProofErrorKind::from(proof.kind) {
                ProofErrorKind::SignerFailed => WalletError::Signing { details },
                kind => WalletError::Proof { kind, details },
            },
            CoreError::CredentialCheck(rejection) => WalletError::CredentialCheck {
                details,
                rejected: Arc::new(RejectedCredentials {
                    raw_credentials: rejection
                        .raw_credentials
                        .iter()
                        .map(credential_text)
                        .collect(),
                    notification_id: rejection.notification_id,
                }),
            },
            CoreError::InvalidState(_) => WalletError::InvalidState { details },
            CoreError::Callback(_) => WalletError::AuthorizationFailed { details },
            CoreError::DeadlineExceeded => WalletError::DeadlineExceeded,
            CoreError::Cancelled => WalletError::Cancelled,
            CoreError::UnexpectedResponse {
                endpoint, status, ..
            } if endpoint == crate::error::Endpoint::CredentialOffer
                && matches!(status, 404 | 410) =>
            {
                WalletError::OfferExpiredOrUsed { details }
            }
            CoreError::UnexpectedResponse { .. } => WalletError::UnexpectedResponse { details },
            CoreError::Server {
                endpoint,
                status,
                error,
                ..
            } => match (&error.code, endpoint) {
                (_, crate::error::Endpoint::CredentialOffer) if matches!(status, 404 | 410) => {
                    WalletError::OfferExpiredOrUsed { details }
                }
                (ErrorCode::InvalidTxCode, _) => WalletError::TxCodeRejected { details },
                // `invalid_grant` from the token endpoint is a rejected
                // transaction code only in the pre-authorized token request
                // (see `pre_authorized_token_error`); from the code exchange or
                // a refresh it stays a server error naming `invalid_grant`.
                _ => WalletError::Server {
                    code: error.code.as_str().to_string(),
                    description: error.description.clone().unwrap_or_default(),
                    status,
                    details,
                },
            },
            #[allow(unreachable_patterns)] // the core error is non_exhaustive
            _ => WalletError::InvalidState { details },
        }
    }
}

/// Why the wallet cannot make the proofs an issuer requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ProofErrorKind {
    /// The issuer accepts no proof type the wallet makes.
    UnsupportedProofType,
    /// None of the issuer's proof algorithms is the signer's.
    NoUsableAlgorithm,
    /// The issuer requires key attestations and the wallet has no provider.
    KeyAttestationRequired,
    /// The credential is key-bound and no signer was given.
    SignerRequired,
    /// More keys than the issuer's `batch_size`.
    TooManyKeys,
    /// The same key twice in one batch.
    KeyUsedTwice,
    /// The signer's public key is unusable.
    InvalidKey,
    /// The signer failed (reported as `WalletError::Signing`).
    SignerFailed,
}

impl From<crate::error::ProofErrorKind> for ProofErrorKind {
    fn from(kind: crate::error::ProofErrorKind) -> Self {
        use crate::error::ProofErrorKind as K;
        match kind {
            K::UnsupportedProofType => ProofErrorKind::UnsupportedProofType,
            K::NoUsableAlgorithm => ProofErrorKind::NoUsableAlgorithm,
            K::KeyAttestationRequired => ProofErrorKind::KeyAttestationRequired,
            K::SignerRequired => ProofErrorKind::SignerRequired,
            K::TooManyKeys => ProofErrorKind::TooManyKeys,
            K::KeyUsedTwice => ProofErrorKind::KeyUsedTwice,
            K::InvalidKey => ProofErrorKind::InvalidKey,
            K::SignerFailed => ProofErrorKind::SignerFailed,
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for WalletError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        WalletError::Signing { details: e.reason }
    }
}

/// A key held by the app (Android Keystore, Secure Enclave, or software).
#[uniffi::export(with_foreign)]
pub trait Signer: Send + Sync {
    /// The JOSE algorithm: `ES256` (P-256) is what issuers accept everywhere.
    fn algorithm(&self) -> String;
    /// The public key as a JWK JSON string (no private members).
    fn public_jwk(&self) -> String;
    /// Whether [`Self::sign`] receives the SHA-256 digest of the signing input
    /// (for keys that sign prehashed data only) instead of the input itself.
    fn signs_digest(&self) -> bool;
    /// Signs; returns the raw signature (R||S, 64 bytes for ES256; a DER
    /// signature is converted).
    fn sign(&self, data: Vec<u8>) -> Result<Vec<u8>, WalletError>;
}

/// Adapts a foreign signer to the core trait.
struct ForeignSigner {
    inner: Arc<dyn Signer>,
    algorithm: Algorithm,
    jwk: serde_json::Value,
}

impl ForeignSigner {
    fn new(inner: Arc<dyn Signer>) -> Result<Self, WalletError> {
        let algorithm = match inner.algorithm().as_str() {
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            "EdDSA" => Algorithm::EdDsa,
            other => {
                return Err(WalletError::Signing {
                    details: format!(
                        "unsupported algorithm {}",
                        crate::error::sanitize(other, 16)
                    ),
                })
            }
        };
        let jwk: serde_json::Value =
            serde_json::from_str(&inner.public_jwk()).map_err(|e| WalletError::Signing {
                details: format!("public_jwk is not JSON: {e}"),
            })?;
        if !jwk.is_object() || jwk.get("d").is_some() {
            return Err(WalletError::Signing {
                details: "public_jwk must be a public JWK object".into(),
            });
        }
        Ok(Self {
            inner,
            algorithm,
            jwk,
        })
    }
}

impl CoreSigner for ForeignSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn public_jwk(&self) -> serde_json::Value {
        self.jwk.clone()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignerError> {
        let data = if self.inner.signs_digest() {
            sha2::Sha256::digest(signing_input).to_vec()
        } else {
            signing_input.to_vec()
        };
        let signature = self
            .inner
            .sign(data)
            .map_err(|e| SignerError(e.to_string()))?;
        if self.algorithm == Algorithm::Es256 && signature.len() != 64 {
            // Platforms often return DER (Android, Apple's SecKey): convert.
            return p256::ecdsa::Signature::from_der(&signature)
                .map(|s| s.to_bytes().to_vec())
                .map_err(|_| SignerError("signature is neither raw R||S nor DER".into()));
        }
        Ok(signature)
    }
}

/// A software P-256 key (for tests and apps without hardware keys).
#[derive(uniffi::Object)]
pub struct SoftwareSigner {
    inner: crate::SoftwareSigner,
}

#[uniffi::export]
impl SoftwareSigner {
    /// A fresh random key.
    #[uniffi::constructor]
    pub fn generate() -> Arc<Self> {
        Arc::new(Self {
            inner: crate::SoftwareSigner::generate(),
        })
    }
}

#[uniffi::export]
impl Signer for SoftwareSigner {
    fn algorithm(&self) -> String {
        "ES256".into()
    }
    fn public_jwk(&self) -> String {
        self.inner.public_jwk().to_string()
    }
    fn signs_digest(&self) -> bool {
        false
    }
    fn sign(&self, data: Vec<u8>) -> Result<Vec<u8>, WalletError> {
        self.inner.sign(&data).map_err(|e| WalletError::Signing {
            details: e.to_string(),
        })
    }
}

/// Wallet settings.
#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletConfig {
    /// OAuth client id (optional; anonymous pre-authorized access without it).
    /// With wallet attestation (`Wallet.withAttestation`) leave it null: the
    /// attestation's `sub` is the client id (a different one here is a
    /// `WalletError::Configuration`).
    #[uniffi(default = None)]
    pub client_id: Option<String>,
    /// Preferred locales, best first (e.g. `["de-DE", "en"]`).
    #[uniffi(default = [])]
    pub locales: Vec<String>,
    /// Allow http to loopback hosts. Tests only.
    #[uniffi(default = false)]
    pub dangerous_allow_http: bool,
    /// Verify issuer signatures on SD-JWT credentials.
    #[uniffi(default = true)]
    pub verify_credential_signatures: bool,
    /// Whole-request timeout in milliseconds (0: the default, 30 s).
    #[uniffi(default = 0)]
    pub request_timeout_ms: u64,
    /// The largest response body accepted, in bytes (0: the default, 1 MiB).
    #[uniffi(default = 0)]
    pub max_response_bytes: u64,
    /// Extra root certificates to trust beside the platform's roots, each a
    /// PEM text (`-----BEGIN CERTIFICATE-----...`): a private CA, or a test
    /// server's self-signed certificate. For the built-in HTTP client only:
    /// `Wallet.withHttpClient` refuses a non-empty list (the app's own HTTP
    /// stack decides whom it trusts). An unparsable entry fails the `Wallet`
    /// constructor with `WalletError::Configuration`.
    #[uniffi(default = [])]
    pub root_certificates_pem: Vec<String>,
    /// X.509 trust anchors for credential issuers, each a PEM text (one or
    /// more `-----BEGIN CERTIFICATE-----` blocks), e.g. from a trusted list:
    /// an SD-JWT credential whose `x5c` chain is a valid path to one of them,
    /// its leaf naming the issuer, is `Verification::Verified` with method
    /// `TrustAnchor`. Kept apart from `root_certificates_pem` (TLS), and used
    /// with either HTTP client. Without anchors every `x5c` credential is
    /// unverified. An unparsable entry fails the `Wallet` constructor with
    /// `WalletError::Configuration`.
    #[uniffi(default = [])]
    pub trust_anchors_pem: Vec<String>,
    /// Refuse credentials whose issuer could not be verified: they fail
    /// with `WalletError::CredentialCheck` (which still carries them, as
    /// issued) instead of arriving with `Verification::Unverified`. Default
    /// false: the app decides what to do with an unverified credential.
    #[uniffi(default = false)]
    pub require_verified: bool,
}

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

impl WalletConfig {
    fn request_timeout(&self) -> Duration {
        match self.request_timeout_ms {
            0 => DEFAULT_REQUEST_TIMEOUT,
            ms => Duration::from_millis(ms),
        }
    }

    fn max_response_bytes(&self) -> usize {
        match self.max_response_bytes {
            0 => DEFAULT_MAX_RESPONSE_BYTES,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }

    /// The builder for either HTTP client: everything but the transport.
    fn builder(&self) -> Result<crate::WalletBuilder, WalletError> {
        let mut builder = crate::Wallet::builder()
            .locales(self.locales.clone())
            .verify_credential_signatures(self.verify_credential_signatures)
            .require_verified(self.require_verified)
            .timeouts(Duration::from_secs(10), self.request_timeout())
            .max_response_bytes(self.max_response_bytes());
        if let Some(id) = &self.client_id {
            builder = builder.client_id(id.clone());
        }
        if self.dangerous_allow_http {
            builder = builder.dangerous_allow_http();
        }
        for (i, pem) in self.trust_anchors_pem.iter().enumerate() {
            // PEM only, as for the root certificates; parsed here too, so
            // that the error names the entry.
            let pem = pem.trim_start();
            if !pem.starts_with("-----BEGIN") {
                return Err(WalletError::Configuration {
                    details: format!(
                        "trust_anchors_pem[{i}] is not PEM (-----BEGIN CERTIFICATE-----)"
                    ),
                });
            }
            crate::verify::trust::TrustAnchors::new()
                .add(pem.as_bytes())
                .map_err(|e| WalletError::Configuration {
                    details: format!("trust_anchors_pem[{i}]: {e}"),
                })?;
            builder = builder.trust_anchor(pem);
        }
        Ok(builder)
    }

    /// The builder for the built-in HTTP client: [`Self::builder`] plus the
    /// extra root certificates.
    fn builtin_client_builder(&self) -> Result<crate::WalletBuilder, WalletError> {
        let mut builder = self.builder()?;
        for (i, pem) in self.root_certificates_pem.iter().enumerate() {
            // Only PEM here: without the armour the core would take the bytes
            // for DER and a pasted base64 body would fail less clearly.
            if !pem.trim_start().starts_with("-----BEGIN") {
                return Err(WalletError::Configuration {
                    details: format!(
                        "root_certificates_pem[{i}] is not PEM (-----BEGIN CERTIFICATE-----)"
                    ),
                });
            }
            builder = builder.add_root_certificate(pem.trim_start().as_bytes().to_vec());
        }
        Ok(builder)
    }

    /// The builder for the app's own HTTP client: [`Self::builder`] with
    /// `http_client` behind the wallet's timeout and size cap; refuses
    /// root certificates (the app's stack decides whom it trusts).
    fn foreign_client_builder(
        &self,
        http_client: Arc<dyn HttpClient>,
    ) -> Result<crate::WalletBuilder, WalletError> {
        if !self.root_certificates_pem.is_empty() {
            return Err(WalletError::Configuration {
                details: "root_certificates_pem applies to the built-in HTTP client only; \
                          configure trust in the app's HttpClient"
                    .into(),
            });
        }
        let adapter = http::ForeignHttpClient::new(
            http_client,
            self.request_timeout(),
            self.max_response_bytes(),
        );
        Ok(self.builder()?.http_client(adapter))
    }
}

/// The wallet: configuration and transport. Create one and share it.
#[derive(uniffi::Object)]
pub struct Wallet {
    inner: crate::Wallet,
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Builds a wallet that sends its requests with the built-in HTTP client
    /// (rustls, platform-independent certificate roots, plus the config's
    /// `root_certificates_pem`). A certificate that does not parse fails with
    /// `WalletError::Configuration`; a server whose certificate chains to no
    /// trusted root fails each request with `WalletError::Network`.
    #[uniffi::constructor]
    pub fn new(config: WalletConfig) -> Result<Arc<Self>, WalletError> {
        Ok(Arc::new(Self {
            inner: config.builtin_client_builder()?.build()?,
        }))
    }

    /// Builds a wallet that sends every request through the app's own HTTP
    /// stack. The wallet still enforces its URL policy (https only, unless
    /// `dangerous_allow_http`), the whole-request timeout and the response
    /// size cap around `http_client`. TLS trust is the app's stack's: a
    /// config with `root_certificates_pem` fails with
    /// `WalletError::Configuration`.
    #[uniffi::constructor]
    pub fn with_http_client(
        config: WalletConfig,
        http_client: Arc<dyn HttpClient>,
    ) -> Result<Arc<Self>, WalletError> {
        Ok(Arc::new(Self {
            inner: config.foreign_client_builder(http_client)?.build()?,
        }))
    }

    /// [`Self::new`] (the built-in HTTP client) with wallet attestation:
    /// OAuth attestation-based client authentication, as HAIP asks.
    ///
    /// `attestation_jwt` is the Wallet Attestation
    /// (`oauth-client-attestation+jwt`) the app's wallet provider issued for
    /// this app instance; `signer` holds the key it attests (`cnf.jwk`), the
    /// platform key in Android Keystore / the Secure Enclave. The wallet's
    /// `client_id` becomes the attestation's `sub`: leave
    /// `WalletConfig.client_id` null or set it to the same value. The
    /// attestation and a fresh proof of possession signed by `signer` go to
    /// every pushed authorization request and every token request
    /// (pre-authorized code, authorization code, refresh), with the
    /// authorization server's challenge when it asks for one (its
    /// `challenge_endpoint`, its `OAuth-Client-Attestation-Challenge`
    /// header, or one `use_attestation_challenge` answer): nothing else for
    /// the app to do. DPoP works alongside as usual.
    ///
    /// Fails with `WalletError::Configuration` when `attestation_jwt` is not
    /// a Wallet Attestation (not a compact JWS, wrong `typ`, no `sub`, no
    /// `cnf.jwk`), when its `cnf.jwk` is not `signer`'s public key, or when
    /// `WalletConfig.client_id` differs from its `sub`; with
    /// `WalletError::Signing` when `signer`'s algorithm or public JWK is
    /// unusable. The wallet does not verify the provider's signature (the
    /// authorization server does).
    ///
    /// An attestation expires: a PAR or token request after its `exp` fails
    /// with `WalletError::Configuration` without being sent, and one the
    /// server finds stale fails with `WalletError::Server` whose `code` is
    /// `use_fresh_attestation`. Either way, fetch a fresh attestation from
    /// the wallet provider and build a new `Wallet` with it (saved sessions
    /// and pending authorizations stay usable with the new one).
    #[uniffi::constructor]
    pub fn with_attestation(
        config: WalletConfig,
        attestation_jwt: String,
        signer: Arc<dyn Signer>,
    ) -> Result<Arc<Self>, WalletError> {
        let attestation = client_attestation(attestation_jwt, signer)?;
        Ok(Arc::new(Self {
            inner: config
                .builtin_client_builder()?
                .client_attestation(attestation)
                .build()?,
        }))
    }

    /// [`Self::with_http_client`] (the app's own HTTP stack) with wallet
    /// attestation: as [`Self::with_attestation`], and fails as both do.
    #[uniffi::constructor]
    pub fn with_http_client_and_attestation(
        config: WalletConfig,
        http_client: Arc<dyn HttpClient>,
        attestation_jwt: String,
        signer: Arc<dyn Signer>,
    ) -> Result<Arc<Self>, WalletError> {
        let attestation = client_attestation(attestation_jwt, signer)?;
        Ok(Arc::new(Self {
            inner: config
                .foreign_client_builder(http_client)?
                .client_attestation(attestation)
                .build()?,
        }))
    }

    /// The OAuth `client_id` the wallet uses: `WalletConfig.client_id`, or
    /// the Wallet Attestation's `sub` with [`Self::with_attestation`]; null
    /// for an anonymous wallet.
    pub fn client_id(&self) -> Option<String> {
        self.inner.client_id().map(str::to_string)
    }

    /// Parses the offer URL, fetches the offer if by reference, and discovers
    /// the issuer.
    pub async fn resolve_offer(
        &self,
        offer_url: String,
    ) -> Result<Arc<CredentialOffer>, WalletError> {
        let resolved = self.inner.resolve_offer(&offer_url).await?;
        Ok(CredentialOffer::wrap(
            resolved,
            self.inner.locales().to_vec(),
        ))
    }

    /// Wallet-initiated issuance (no offer): discovers the issuer and its
    /// authorization server and begins the authorization code flow for the
    /// given configurations. Needs `client_id` in the config.
    pub async fn start_issuance(
        &self,
        issuer_id: String,
        configuration_ids: Vec<String>,
        redirect_uri: String,
    ) -> Result<Arc<PendingAuthorization>, WalletError> {
        require_client_id(&self.inner)?;
        let ids: Vec<&str> = configuration_ids.iter().map(String::as_str).collect();
        let step = self.inner.start_issuance(&issuer_id, &ids).await?;
        let pending = step.authorization_url(&self.inner, &redirect_uri).await?;
        Ok(PendingAuthorization::wrap(
            pending,
            self.inner.locales().to_vec(),
        ))
    }
}

/// A Wallet Attestation for the core, its key adapted from the app's signer.
fn client_attestation(
    attestation_jwt: String,
    signer: Arc<dyn Signer>,
) -> Result<crate::jose::ClientAttestation, WalletError> {
    let signer: Arc<dyn CoreSigner> = Arc::new(ForeignSigner::new(signer)?);
    Ok(crate::jose::ClientAttestation::new(
        attestation_jwt,
        signer,
    )?)
}

fn require_client_id(wallet: &crate::Wallet) -> Result<(), WalletError> {
    match wallet.client_id() {
        Some(_) => Ok(()),
        None => Err(WalletError::Configuration {
            details: "the authorization code flow needs a client_id in WalletConfig".into(),
        }),
    }
}

/// Display information in the wallet's locale.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DisplayInfo {
    /// Name, safe to show: controls become spaces, bidi and invisible format
    /// characters are removed (so one issuer's name cannot read as another's).
    pub name: Option<String>,
    /// Locale of this entry.
    pub locale: Option<String>,
    /// Logo URI (`https:` or `data:`).
    pub logo_uri: Option<String>,
    /// Description, safe to show like `name`.
    pub description: Option<String>,
    /// Background colour.
    pub background_color: Option<String>,
    /// Text colour.
    pub text_color: Option<String>,
}

impl From<&crate::types::Display> for DisplayInfo {
    fn from(d: &crate::types::Display) -> Self {
        Self {
            name: d
                .name
                .as_deref()
                .map(|n| crate::error::display_text(n).into_owned()),
            locale: d.locale.clone(),
            logo_uri: d.logo.as_ref().and_then(|l| l.uri.clone()),
            description: d
                .description
                .as_deref()
                .map(|n| crate::error::display_text(n).into_owned()),
            background_color: d.background_color.clone(),
            text_color: d.text_color.clone(),
        }
    }
}

/// One offered credential.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OfferedCredential {
    /// Configuration id (pass it to `request_credential`).
    pub configuration_id: String,
    /// Format (`dc+sd-jwt`, ...).
    pub format: String,
    /// Display in the wallet's locale.
    pub display: Option<DisplayInfo>,
}

/// Which kind of grant the offer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum GrantKind {
    /// Pre-authorized code (maybe with a transaction code).
    PreAuthorized,
    /// Authorization code (the user logs in in the browser).
    AuthorizationCode,
}

/// How the transaction code is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TxCodeInputMode {
    /// Digits only.
    Numeric,
    /// Any text.
    Text,
}

/// What to tell the user about the transaction code.
#[derive(Debug, Clone, uniffi::Record)]
pub struct TxCodeInfo {
    /// Numeric or text keyboard.
    pub input_mode: TxCodeInputMode,
    /// Expected length (a hint).
    pub length: Option<u32>,
    /// Guidance from the issuer.
    pub description: Option<String>,
}

/// A resolved credential offer: the offer with its issuer's checked
/// metadata, ready to show and to authorize.
///
/// It is also the pre-authorized step: with [`Self::tx_code`] not null the
/// app shows the PIN screen, then calls [`Self::authorize`] with the code.
/// Save it with [`Self::to_json`] before the PIN screen (or before the
/// browser, for the authorization code grant): the app may be killed there,
/// and an offer by reference is single use. [`Self::from_json`] restores it
/// in a new process without any request.
#[derive(uniffi::Object)]
pub struct CredentialOffer {
    resolved: crate::ResolvedOffer,
    locales: Vec<String>,
    authorized: tokio::sync::Mutex<bool>,
}

impl CredentialOffer {
    fn wrap(resolved: crate::ResolvedOffer, locales: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            resolved,
            locales,
            authorized: tokio::sync::Mutex::new(false),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl CredentialOffer {
    /// Restores an offer saved with [`Self::to_json`], without fetching
    /// anything (the offer and its issuer's metadata are in the JSON).
    /// Throws `WalletError::InvalidState`, naming what is wrong, for anything
    /// else (not JSON, another saved state, a newer format, a missing field).
    #[uniffi::constructor]
    pub fn from_json(json: String, locales: Vec<String>) -> Result<Arc<Self>, WalletError> {
        Ok(Self::wrap(crate::ResolvedOffer::from_json(&json)?, locales))
    }

    /// Saves the offer (the offer and its issuer's checked metadata) as
    /// JSON. It holds the pre-authorized code: use secure storage. Throws
    /// `WalletError::InvalidState` once [`Self::authorize`] succeeded (the
    /// code is spent: save the session instead), or if it cannot be saved.
    pub async fn to_json(&self) -> Result<String, WalletError> {
        if *self.authorized.lock().await {
            return Err(WalletError::InvalidState {
                details: "this offer was already authorized; its code is spent: save the \
                          AuthorizedSession instead"
                    .into(),
            });
        }
        Ok(self.resolved.to_json()?)
    }

    /// The credential issuer identifier.
    pub fn issuer_id(&self) -> String {
        self.resolved.issuer_id().to_string()
    }

    /// The issuer's display entry in the wallet's locale.
    pub fn issuer_display(&self) -> Option<DisplayInfo> {
        self.resolved.issuer_display(&self.locales).map(Into::into)
    }

    /// The offered credentials.
    pub fn credentials(&self) -> Vec<OfferedCredential> {
        self.resolved
            .credentials()
            .iter()
            .map(|c| OfferedCredential {
                configuration_id: c.id.to_string(),
                format: c.configuration.format.clone(),
                display: c.configuration.display_for(&self.locales).map(Into::into),
            })
            .collect()
    }

    /// The grants the offer allows, pre-authorized first.
    pub fn grants(&self) -> Vec<GrantKind> {
        self.resolved
            .grants()
            .iter()
            .filter_map(|g| match g {
                CoreGrant::PreAuthorized(_) => Some(GrantKind::PreAuthorized),
                CoreGrant::AuthorizationCode(_) => Some(GrantKind::AuthorizationCode),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .collect()
    }

    /// The transaction code the pre-authorized grant needs, if any.
    pub fn tx_code(&self) -> Option<TxCodeInfo> {
        self.pre_authorized()
            .ok()?
            .tx_code()
            .map(|spec| TxCodeInfo {
                input_mode: match spec.mode() {
                    crate::types::InputMode::Numeric => TxCodeInputMode::Numeric,
                    crate::types::InputMode::Text => TxCodeInputMode::Text,
                },
                length: spec.length,
                description: spec.description.clone(),
            })
    }

    /// Runs the pre-authorized token request (with the user's transaction code
    /// when [`Self::tx_code`] is not null). May be called again after a
    /// rejected code, as far as the issuer allows.
    pub async fn authorize(
        &self,
        wallet: Arc<Wallet>,
        tx_code: Option<String>,
    ) -> Result<Arc<AuthorizedSession>, WalletError> {
        let mut authorized = self.authorized.lock().await;
        if *authorized {
            return Err(WalletError::InvalidState {
                details: "this offer was already authorized; its code is single use".into(),
            });
        }
        let mut step = self.pre_authorized()?;
        if let Some(code) = tx_code {
            step = step.with_tx_code(code);
        }
        let session = step
            .authorize(&wallet.inner)
            .await
            .map_err(pre_authorized_token_error)?;
        *authorized = true;
        Ok(AuthorizedSession::wrap(session, self.locales.clone()))
    }

    /// Begins the offer's authorization code grant: builds the authorization
    /// request (PKCE, `state`, the offer's `issuer_state`; pushed when the
    /// server offers PAR) for the redirect URI the app registered. Open the
    /// returned authorization's URL in the browser. Needs `client_id`.
    pub async fn begin_authorization(
        &self,
        wallet: Arc<Wallet>,
        redirect_uri: String,
    ) -> Result<Arc<PendingAuthorization>, WalletError> {
        require_client_id(&wallet.inner)?;
        let step = self
            .resolved
            .grants()
            .into_iter()
            .find_map(|g| match g {
                CoreGrant::AuthorizationCode(step) => Some(step),
                _ => None,
            })
            .ok_or_else(|| WalletError::InvalidState {
                details: "the offer has no authorization code grant".into(),
            })?;
        let pending = step.authorization_url(&wallet.inner, &redirect_uri).await?;
        Ok(PendingAuthorization::wrap(pending, self.locales.clone()))
    }
}

/// Maps an error of the pre-authorized token request: there (and only there)
/// `invalid_grant` means the transaction code or the pre-authorized code was
/// refused, so it becomes [`WalletError::TxCodeRejected`]. Everything else maps
/// as usual.
fn pre_authorized_token_error(e: CoreError) -> WalletError {
    match &e {
        CoreError::Server {
            endpoint: crate::error::Endpoint::Token,
            error,
            ..
        } if error.code == ErrorCode::InvalidGrant => WalletError::TxCodeRejected {
            details: e.to_string(),
        },
        _ => e.into(),
    }
}

impl CredentialOffer {
    fn pre_authorized(&self) -> Result<crate::PreAuthorizedStep, WalletError> {
        self.resolved
            .grants()
            .into_iter()
            .find_map(|g| match g {
                CoreGrant::PreAuthorized(step) => Some(step),
                _ => None,
            })
            .ok_or_else(|| WalletError::InvalidState {
                details: "the offer has no pre-authorized code grant".into(),
            })
    }
}

/// A labelled claim for display.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Claim {
    /// Label in the wallet's locale (or the claim name).
    pub label: String,
    /// The value as JSON text (strings are quoted; mdoc dates are their
    /// text, byte strings base64url).
    pub value_json: String,
    /// Where the claim is: for an mdoc `[namespace, element]`, for SD-JWT
    /// the claim path as the metadata gives it (array indexes as decimal
    /// text, `null` for "every element" as the text `null`).
    pub path: Vec<String>,
    /// What kind of value it is (a date, bytes such as a portrait, ...).
    pub kind: ClaimKind,
}

/// The kind of a claim's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ClaimKind {
    /// `null`.
    Null,
    /// A boolean.
    Bool,
    /// An integer.
    Integer,
    /// A number with a fraction.
    Number,
    /// Text.
    Text,
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// A point in time (RFC 3339).
    DateTime,
    /// Bytes (base64url without padding in `value_json`), e.g. a portrait.
    Bytes,
    /// An array.
    Array,
    /// An object or map.
    Object,
}

impl From<crate::ClaimKind> for ClaimKind {
    fn from(kind: crate::ClaimKind) -> Self {
        use crate::ClaimKind as K;
        match kind {
            K::Null => ClaimKind::Null,
            K::Bool => ClaimKind::Bool,
            K::Integer => ClaimKind::Integer,
            K::Number => ClaimKind::Number,
            K::Text => ClaimKind::Text,
            K::Date => ClaimKind::Date,
            K::DateTime => ClaimKind::DateTime,
            K::Bytes => ClaimKind::Bytes,
            K::Array => ClaimKind::Array,
            K::Object => ClaimKind::Object,
        }
    }
}

/// A received credential.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Credential {
    /// The configuration id.
    pub configuration_id: String,
    /// The format.
    pub format: String,
    /// The credential as issued (JSON text for `ldp_vc` objects).
    pub credential: String,
    /// The claims, labelled (SD-JWT disclosures, a JWT VC's subject, an
    /// mdoc's elements).
    pub claims: Vec<Claim>,
    /// The claims as a JSON object (an mdoc's as namespace → element →
    /// value), or null.
    pub claims_json: Option<String>,
    /// For notifications.
    pub notification_id: Option<String>,
    /// Whether the issuer signature was verified with a trusted key
    /// (`verification` is `Verified`).
    pub signature_verified: bool,
    /// The holder key (JWK JSON) it is bound to.
    pub holder_jwk: Option<String>,
    /// What the wallet established about the issuer's signature: verified,
    /// and through what, or unverified, and why.
    pub verification: Verification,
}

/// The credentials of a response whose check failed, exactly as issued:
/// the issuer has issued them, so the app can still keep them. Its
/// `toString` / description shows only how many there are.
#[derive(uniffi::Object)]
pub struct RejectedCredentials {
    raw_credentials: Vec<String>,
    notification_id: Option<String>,
}

impl std::fmt::Debug for RejectedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RejectedCredentials({} credentials)",
            self.raw_credentials.len()
        )
    }
}

impl std::fmt::Display for RejectedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} credential(s) as issued", self.raw_credentials.len())
    }
}

#[uniffi::export]
impl RejectedCredentials {
    /// Every credential of the response: the string itself (an SD-JWT),
    /// JSON text for an object (`ldp_vc`). Empty when the check ran before
    /// anything was issued. Personal data: do not log.
    pub fn raw_credentials(&self) -> Vec<String> {
        self.raw_credentials.clone()
    }

    /// The response's `notification_id`, if any.
    pub fn notification_id(&self) -> Option<String> {
        self.notification_id.clone()
    }

    /// How many credentials there are.
    pub fn count(&self) -> u32 {
        u32::try_from(self.raw_credentials.len()).unwrap_or(u32::MAX)
    }
}

/// Where the trust in a credential's issuer key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VerificationMethod {
    /// An `x5c` certificate chain to one of `WalletConfig.trust_anchors_pem`,
    /// its leaf naming the issuer. The `detail` is the anchor's subject.
    TrustAnchor,
    /// The keys the issuer publishes in its JWT VC issuer metadata
    /// (`/.well-known/jwt-vc-issuer`, over https: trust from the web PKI).
    /// The `detail` is that URL.
    IssuerMetadata,
    /// A DID in the credential's `iss` (`did:jwk`, `did:key` decoded
    /// locally, `did:web` fetched): the key is bound to that identifier;
    /// whether to trust the DID is the app's decision. The `detail` is the
    /// DID.
    Did,
}

/// What the wallet established about a credential's issuer signature. A
/// check that failed (a bad signature, a broken chain, a leaf naming
/// another issuer) is never a `Verification` but a
/// `WalletError::CredentialCheck`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Verification {
    /// The issuer's signature was checked with a key the wallet trusts.
    Verified {
        /// Where the trust in the key comes from.
        method: VerificationMethod,
        /// The anchor's subject (`TrustAnchor`), the metadata URL
        /// (`IssuerMetadata`) or the DID (`Did`).
        detail: String,
    },
    /// The signature was not, or could not be, checked with a trusted key
    /// (no trust anchor reached, no key found, checks turned off).
    Unverified {
        /// Why not.
        reason: String,
    },
}

impl From<&crate::Verification> for Verification {
    // The core enums are non_exhaustive: an outcome these bindings do not
    // know is not claimed as verified.
    #[allow(unreachable_patterns)]
    fn from(v: &crate::Verification) -> Self {
        use crate::{Verification as Core, VerifiedBy};
        let verified = |method, detail: &String| Verification::Verified {
            method,
            detail: detail.clone(),
        };
        match v {
            Core::Verified {
                by: VerifiedBy::TrustAnchor { anchor },
            } => verified(VerificationMethod::TrustAnchor, anchor),
            Core::Verified {
                by: VerifiedBy::IssuerMetadata { url },
            } => verified(VerificationMethod::IssuerMetadata, url),
            Core::Verified {
                by: VerifiedBy::Did { did },
            } => verified(VerificationMethod::Did, did),
            Core::Unverified { reason } => Verification::Unverified {
                reason: reason.clone(),
            },
            Core::Verified { .. } => Verification::Unverified {
                reason: "verified by a method these bindings do not know".into(),
            },
            _ => Verification::Unverified {
                reason: "a verification outcome these bindings do not know".into(),
            },
        }
    }
}

/// A credential value as the app gets it: a string as itself, anything else
/// (an `ldp_vc` object) as JSON text.
fn credential_text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string())
}

fn convert_credentials(
    list: Vec<crate::IssuedCredential>,
    context: &crate::flow::session::IssuerContext,
    locales: &[String],
) -> Vec<Credential> {
    list.into_iter()
        .map(|c| {
            let claims = context
                .configuration(&c.configuration_id)
                .map(|cfg| c.labelled(cfg, locales))
                .unwrap_or_default()
                .into_iter()
                .map(|claim| Claim {
                    label: claim.label,
                    value_json: claim.value.to_string(),
                    path: claim
                        .path
                        .iter()
                        .map(|p| match p {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect(),
                    kind: claim.kind.into(),
                })
                .collect();
            let verification = Verification::from(&c.verification);
            Credential {
                credential: credential_text(&c.credential),
                signature_verified: matches!(verification, Verification::Verified { .. }),
                verification,
                claims,
                claims_json: c
                    .claims
                    .as_ref()
                    .map(|m| serde_json::Value::Object(m.clone()).to_string()),
                notification_id: c.notification_id,
                holder_jwk: c.holder_jwk.map(|j| j.to_string()),
                configuration_id: c.configuration_id,
                format: c.format,
            }
        })
        .collect()
}

/// The result of a credential request.
#[derive(uniffi::Enum)]
pub enum Issuance {
    /// Issued now.
    Issued {
        /// The credentials.
        credentials: Vec<Credential>,
    },
    /// Issued later: poll it (and save it, to poll after a restart).
    Deferred {
        /// The pending transaction.
        pending: Arc<DeferredCredential>,
    },
}

/// Notification events.
#[derive(Debug, Clone, Copy, uniffi::Enum)]
pub enum NotificationEvent {
    /// Stored.
    CredentialAccepted,
    /// Deleted or declined by the user.
    CredentialDeleted,
    /// Something else failed.
    CredentialFailure,
}

/// Holding an access token: request credentials, notify.
#[derive(uniffi::Object)]
pub struct AuthorizedSession {
    inner: tokio::sync::Mutex<crate::Authorized>,
    locales: Vec<String>,
}

impl AuthorizedSession {
    fn wrap(authorized: crate::Authorized, locales: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            inner: tokio::sync::Mutex::new(authorized),
            locales,
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl AuthorizedSession {
    /// Restores a session saved with [`Self::to_json`]. Throws
    /// `WalletError::InvalidState`, naming what is wrong, for anything else
    /// (not JSON, another saved state, a newer format, a missing field).
    #[uniffi::constructor]
    pub fn from_json(json: String, locales: Vec<String>) -> Result<Arc<Self>, WalletError> {
        Ok(Self::wrap(crate::Authorized::from_json(&json)?, locales))
    }

    /// Saves the session (it holds the access token: use secure storage).
    /// Throws `WalletError::InvalidState` if it cannot be saved.
    pub async fn to_json(&self) -> Result<String, WalletError> {
        Ok(self.inner.lock().await.to_json()?)
    }

    /// The credential issuer identifier.
    pub async fn issuer_id(&self) -> String {
        self.inner.lock().await.issuer_id().to_string()
    }

    /// The configuration ids this session may request.
    pub async fn credential_configuration_ids(&self) -> Vec<String> {
        self.inner
            .lock()
            .await
            .credential_configuration_ids()
            .to_vec()
    }

    /// Whether the access token is DPoP-bound (RFC 9449; `token_type`
    /// `DPoP`). The wallet uses DPoP by itself whenever the authorization
    /// server advertises ES256 in `dpop_signing_alg_values_supported`: a fresh
    /// key per issuance, kept in [`Self::to_json`] (so a restored session goes
    /// on proving it), or the app's key from `WalletBuilder.dpopKeys` (only its
    /// public key and reference kept), and a proof with every request that
    /// presents the token. This is for display and diagnostics.
    pub async fn uses_dpop(&self) -> bool {
        self.inner.lock().await.uses_dpop()
    }

    /// Requests one credential bound to `signer`'s key.
    pub async fn request_credential(
        &self,
        wallet: Arc<Wallet>,
        configuration_id: String,
        signer: Arc<dyn Signer>,
    ) -> Result<Issuance, WalletError> {
        self.request_credentials(wallet, configuration_id, vec![signer])
            .await
    }

    /// Requests a batch: one credential per signer (distinct keys).
    pub async fn request_credentials(
        &self,
        wallet: Arc<Wallet>,
        configuration_id: String,
        signers: Vec<Arc<dyn Signer>>,
    ) -> Result<Issuance, WalletError> {
        let adapted = signers
            .into_iter()
            .map(ForeignSigner::new)
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&dyn CoreSigner> = adapted.iter().map(|s| s as &dyn CoreSigner).collect();
        let mut authorized = self.inner.lock().await;
        match authorized
            .request_credentials(&wallet.inner, &configuration_id, &refs)
            .await?
        {
            crate::Issuance::Issued(list) => Ok(Issuance::Issued {
                credentials: convert_credentials(list, authorized.context(), &self.locales),
            }),
            crate::Issuance::Deferred(pending) => Ok(Issuance::Deferred {
                pending: DeferredCredential::wrap(pending, self.locales.clone()),
            }),
        }
    }

    /// Tells the issuer what became of a credential.
    pub async fn notify(
        &self,
        wallet: Arc<Wallet>,
        notification_id: String,
        event: NotificationEvent,
    ) -> Result<(), WalletError> {
        let event = match event {
            NotificationEvent::CredentialAccepted => CoreEvent::CredentialAccepted,
            NotificationEvent::CredentialDeleted => CoreEvent::CredentialDeleted,
            NotificationEvent::CredentialFailure => CoreEvent::CredentialFailure,
        };
        // In place: a refresh during the notification keeps the new tokens.
        let mut authorized = self.inner.lock().await;
        Ok(authorized
            .notify(&wallet.inner, &notification_id, event)
            .await?)
    }
}

/// What a deferred poll found.
#[derive(uniffi::Enum)]
pub enum DeferredPoll {
    /// Not ready: wait at least this long.
    Pending {
        /// Milliseconds.
        interval_ms: u64,
    },
    /// Issued.
    Issued {
        /// The credentials.
        credentials: Vec<Credential>,
    },
}

/// A credential the issuer delivers later.
#[derive(uniffi::Object)]
pub struct DeferredCredential {
    inner: tokio::sync::Mutex<crate::DeferredPending>,
    locales: Vec<String>,
    cancel: crate::CancelToken,
}

impl DeferredCredential {
    fn wrap(pending: crate::DeferredPending, locales: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            inner: tokio::sync::Mutex::new(pending),
            locales,
            cancel: crate::CancelToken::new(),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl DeferredCredential {
    /// Restores a transaction saved with [`Self::to_json`]. Throws
    /// `WalletError::InvalidState`, naming what is wrong, for anything else
    /// (not JSON, another saved state, a newer format, a missing field).
    #[uniffi::constructor]
    pub fn from_json(json: String, locales: Vec<String>) -> Result<Arc<Self>, WalletError> {
        Ok(Self::wrap(
            crate::DeferredPending::from_json(&json)?,
            locales,
        ))
    }

    /// Saves the transaction (it holds the access token: use secure storage).
    /// Throws `WalletError::InvalidState` if it cannot be saved.
    pub async fn to_json(&self) -> Result<String, WalletError> {
        Ok(self.inner.lock().await.to_json()?)
    }

    /// The issuer's requested wait before the next poll, in milliseconds.
    pub async fn interval_ms(&self) -> u64 {
        self.inner.lock().await.interval().as_millis() as u64
    }

    /// Polls once.
    pub async fn poll(&self, wallet: Arc<Wallet>) -> Result<DeferredPoll, WalletError> {
        let mut pending = self.inner.lock().await;
        match pending.poll(&wallet.inner).await? {
            crate::DeferredStatus::Pending { interval } => Ok(DeferredPoll::Pending {
                interval_ms: interval.as_millis() as u64,
            }),
            crate::DeferredStatus::Issued(list) => Ok(DeferredPoll::Issued {
                credentials: convert_credentials(
                    list,
                    pending.authorized().context(),
                    &self.locales,
                ),
            }),
            crate::DeferredStatus::Failed(error) => Err(WalletError::Server {
                code: error.code.as_str().to_string(),
                description: error.description.clone().unwrap_or_default(),
                status: 400,
                details: format!("deferred issuance failed: {error}"),
            }),
        }
    }

    /// Polls at the issuer's interval until issued, failed, the deadline
    /// passes, or [`Self::cancel`] is called.
    pub async fn poll_until_ready(
        &self,
        wallet: Arc<Wallet>,
        deadline_ms: u64,
    ) -> Result<Vec<Credential>, WalletError> {
        let mut pending = self.inner.lock().await;
        let list = pending
            .poll_until_ready(
                &wallet.inner,
                Duration::from_millis(deadline_ms),
                Some(&self.cancel),
            )
            .await?;
        Ok(convert_credentials(
            list,
            pending.authorized().context(),
            &self.locales,
        ))
    }

    /// Cancels a running [`Self::poll_until_ready`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The session this transaction belongs to (for notifications).
    pub async fn session(&self) -> Arc<AuthorizedSession> {
        AuthorizedSession::wrap(
            self.inner.lock().await.authorized().clone(),
            self.locales.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oid4vci_issuer::{Issuer, OfferRequest, RunningIssuer};

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
            .request_credential(wallet.clone(), "pid_sd_jwt".into(), signer)
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
            .resolve_offer(pid_offer(&issuer, false).offer_url)
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
            .resolve_offer(pid_offer(&issuer, false).offer_url)
            .await
            .unwrap();
        let session = offer.authorize(wallet.clone(), None).await.unwrap();
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
        let offer = wallet.resolve_offer(created.offer_url).await.unwrap();
        let session = offer
            .authorize(wallet.clone(), created.tx_code)
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
        let offer = anonymous.resolve_offer(created.offer_url).await.unwrap();
        let err = offer
            .authorize(anonymous.clone(), created.tx_code)
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
        let offer = wallet.resolve_offer(created.offer_url).await.unwrap();
        let err = offer.authorize(wallet.clone(), None).await.err().unwrap();
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

    #[test]
    fn attestation_server_codes_stay_server_errors() {
        for code in ["use_fresh_attestation", "invalid_client"] {
            let core = CoreError::Server {
                endpoint: crate::error::Endpoint::Token,
                url: "https://as.example/token".into(),
                status: 400,
                error: crate::error::ServerError {
                    code: ErrorCode::parse(code),
                    description: Some("refused".into()),
                },
            };
            let mapped = pre_authorized_token_error(core);
            assert!(
                matches!(&mapped, WalletError::Server { code: c, status: 400, .. } if c == code),
                "{mapped}"
            );
        }
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
        let offer = wallet.resolve_offer(created.offer_url).await.unwrap();
        let session = offer
            .authorize(wallet.clone(), created.tx_code)
            .await
            .unwrap();
        assert!(session.uses_dpop().await);
        let restored =
            AuthorizedSession::from_json(session.to_json().await.unwrap(), vec!["en".into()])
                .unwrap();
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
            let offer = wallet.resolve_offer(created.offer_url).await.unwrap();
            assert!(offer.tx_code().is_some());
            offer.to_json().await.unwrap()
            // the app is killed on the PIN screen
        };
        let offer = CredentialOffer::from_json(saved, vec!["de".into()]).unwrap();
        assert_eq!(offer.issuer_id(), issuer.issuer_id());
        assert_eq!(offer.tx_code().unwrap().length, Some(6));
        let wallet = Wallet::new(http).unwrap();
        let session = offer
            .authorize(wallet.clone(), created.tx_code)
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
            let err = CredentialOffer::from_json(garbage.into(), vec![])
                .err()
                .unwrap();
            assert!(
                matches!(&err, WalletError::InvalidState { details } if details.contains("saved resolved offer")),
                "{garbage:?}: {err}"
            );
        }
        // Another state's JSON is not an offer.
        let json = session.to_json().await.unwrap();
        let err = CredentialOffer::from_json(json, vec![]).err().unwrap();
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
            .resolve_offer(pid_offer(issuer, false).offer_url)
            .await?;
        let session = offer.authorize(wallet.clone(), None).await?;
        let signer: Arc<dyn Signer> = SoftwareSigner::generate();
        match session
            .request_credential(wallet.clone(), "pid_sd_jwt".into(), signer)
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
    fn a_rejection_maps_with_its_credentials_as_text() {
        let rejection = crate::error::CredentialRejection::new("credentials[1]: bad digest")
            .with_credentials(
                vec![
                    json_value("\"eyJ.x.y~\""),
                    json_value(r#"{"type":["VerifiableCredential"]}"#),
                ],
                Some("n-1".into()),
            );
        match WalletError::from(CoreError::CredentialCheck(rejection)) {
            WalletError::CredentialCheck { details, rejected } => {
                let (raw_credentials, notification_id) =
                    (rejected.raw_credentials(), rejected.notification_id());
                assert!(details.contains("bad digest"), "{details}");
                assert_eq!(
                    raw_credentials,
                    ["eyJ.x.y~", r#"{"type":["VerifiableCredential"]}"#]
                );
                assert_eq!(notification_id.as_deref(), Some("n-1"));
            }
            other => panic!("{other}"),
        }
        // Refused before issuance: nothing to keep.
        match WalletError::from(CoreError::CredentialCheck(
            crate::error::CredentialRejection::new("no credential"),
        )) {
            WalletError::CredentialCheck { rejected, .. } => {
                assert!(
                    rejected.raw_credentials().is_empty() && rejected.notification_id().is_none()
                )
            }
            other => panic!("{other}"),
        }
    }

    fn json_value(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
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

    #[tokio::test]
    async fn trust_anchors_apply_with_the_apps_http_client_too() {
        let issuer = x5c_issuer(None).await;
        struct Never;
        impl HttpClient for Never {
            fn send(&self, _: HttpRequest) -> Result<HttpResponse, HttpClientError> {
                Err(HttpClientError::Timeout)
            }
        }
        // Anchors are not TLS roots: the app's HttpClient takes them.
        let config = WalletConfig {
            trust_anchors_pem: vec![issuer.trust_anchor_pem()],
            ..config()
        };
        assert!(Wallet::with_http_client(config, Arc::new(Never)).is_ok());
    }
}
