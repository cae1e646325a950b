//! An [`AuthorizedSession`] (request credentials, notify) and what a request
//! returns: each [`Credential`] with its claims and its [`Verification`].

use super::cancel::{cancellable, Cancellation};
use super::signer::ForeignSigner;
use super::{DeferredCredential, Signer, Wallet, WalletError};
use crate::jose::Signer as CoreSigner;
use crate::types::NotificationEvent as CoreEvent;
use std::sync::Arc;

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

pub use crate::ClaimKind;

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
pub(super) fn credential_text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string())
}

pub(super) fn convert_credentials(
    list: Vec<crate::IssuedCredential>,
    context: &crate::flow::discovery::DiscoveredMetadata,
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
                    kind: claim.kind,
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
#[allow(clippy::enum_variant_names)] // the protocol's event names
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
    pub(super) fn wrap(authorized: crate::Authorized, locales: Vec<String>) -> Arc<Self> {
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
    #[uniffi::method(default(cancel = None))]
    pub async fn request_credential(
        &self,
        wallet: Arc<Wallet>,
        configuration_id: String,
        signer: Arc<dyn Signer>,
        cancel: Option<Arc<Cancellation>>,
    ) -> Result<Issuance, WalletError> {
        self.request_credentials(wallet, configuration_id, vec![signer], cancel)
            .await
    }

    /// Requests a batch: one credential per signer (distinct keys).
    #[uniffi::method(default(cancel = None))]
    pub async fn request_credentials(
        &self,
        wallet: Arc<Wallet>,
        configuration_id: String,
        signers: Vec<Arc<dyn Signer>>,
        cancel: Option<Arc<Cancellation>>,
    ) -> Result<Issuance, WalletError> {
        let adapted = signers
            .into_iter()
            .map(ForeignSigner::new)
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&dyn CoreSigner> = adapted.iter().map(|s| s as &dyn CoreSigner).collect();
        let mut authorized = self.inner.lock().await;
        let issuance = cancellable(cancel, async {
            Ok(authorized
                .request_credentials(&wallet.inner, &configuration_id, &refs)
                .await?)
        })
        .await?;
        match issuance {
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
