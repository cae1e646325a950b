//! UniFFI exports for Kotlin and Swift (feature `uniffi`).
//!
//! The same flows as the Rust API, shaped for apps: objects for the wallet and
//! for each step, records for what the app shows, one [`WalletError`] (Kotlin:
//! `WalletException`) an app can branch on, and a foreign [`Signer`] so keys
//! stay in Android Keystore / Secure Enclave. A step that is consumed (e.g.
//! authorizing) fails with [`WalletError::InvalidState`] when used twice.
//! Every step saves to and restores from a JSON string (`toJson`, `fromJson`),
//! for the app's secure storage: the resolved offer ([`ResolvedOffer`], also
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
mod cache;
mod cancel;
mod deferred;
mod error;
mod http;
mod keys;
mod offer;
mod progress;
mod session;
mod signer;
#[cfg(test)]
mod tests;
mod wallet;

// The whole FFI surface in one list (what Kotlin and Swift see); not every
// name is used inside the crate.
#[allow(unused_imports)]
pub use authorization::PendingAuthorization;
#[allow(unused_imports)]
pub use builder::{DpopKeyStore, KeyAttestationProvider, KeyAttestationRequest, WalletBuilder};
#[allow(unused_imports)]
pub use cache::MetadataStore;
#[allow(unused_imports)]
pub use cancel::Cancellation;
#[allow(unused_imports)]
pub use deferred::{DeferredCredential, DeferredPoll};
#[allow(unused_imports)]
pub use error::{ProofErrorKind, RejectedCredentials, WalletError};
#[allow(unused_imports)]
pub use http::{HttpClient, HttpClientError, HttpHeader, HttpRequest, HttpResponse};
#[allow(unused_imports)]
pub use keys::KeySource;
#[allow(unused_imports)]
pub use offer::{
    DisplayInfo, GrantKind, OfferedCredential, ResolvedOffer, TxCodeInfo, TxCodeInputMode,
};
#[allow(unused_imports)]
pub use progress::{ProgressObserver, ReceiveStage};
#[allow(unused_imports)]
pub use session::{
    AuthorizedSession, Claim, ClaimKind, Credential, Issuance, NotificationEvent, Verification,
    VerificationMethod,
};
#[allow(unused_imports)]
pub use signer::{Signer, SoftwareSigner};
#[allow(unused_imports)]
pub use wallet::{Interaction, NotRequested, ReceiveOptions, ReceiveResult, Wallet, WalletConfig};
