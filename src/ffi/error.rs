//! [`WalletError`], the one error apps see, mapped from the core error, with
//! what it carries: the kind of a proof problem and the credentials of a
//! refused response.

use super::session::credential_text;
#[cfg(doc)]
use super::Wallet;
use crate::{Error as CoreError, TxCodeErrorKind};
use std::sync::Arc;

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
            CoreError::TxCode(e) => match e.kind {
                TxCodeErrorKind::Rejected => WalletError::TxCodeRejected { details },
                _ => WalletError::TxCodeRequired { details },
            },
            CoreError::OfferUnavailable { .. } => WalletError::OfferExpiredOrUsed { details },
            CoreError::MissingEndpoint { .. } => WalletError::Metadata { details },
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
            CoreError::UnexpectedResponse { .. } => WalletError::UnexpectedResponse { details },
            CoreError::Server { status, error, .. } => WalletError::Server {
                code: error.code.as_str().to_string(),
                description: error.description.clone().unwrap_or_default(),
                status,
                details,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
