//! # oid4vci-wallet
//!
//! The wallet side of OpenID for Verifiable Credential Issuance (OID4VCI 1.0,
//! with draft-13 shapes accepted): turn a credential offer into credentials
//! held by the app.
//!
//! ```no_run
//! use oid4vci_wallet::{Grant, Issuance, SoftwareSigner, Wallet};
//!
//! # async fn run(offer_url: &str) -> oid4vci_wallet::Result<()> {
//! let wallet = Wallet::builder().client_id("my-wallet").build()?;
//! let offer = wallet.resolve_offer(offer_url).await?;
//! let Grant::PreAuthorized(step) = offer.grant()? else { unimplemented!() };
//! let step = match step.tx_code_spec() {
//!     Some(spec) => step.clone().with_tx_code(ask_user(spec)),
//!     None => step,
//! };
//! let mut authorized = step.authorize(&wallet).await?;
//! let signer = SoftwareSigner::generate();
//! match authorized.request_credential(&wallet, "pid_sd_jwt", &signer).await? {
//!     Issuance::Issued(credentials) => println!("{:?}", credentials[0].claims),
//!     Issuance::Deferred(mut pending) => {
//!         let credentials = pending
//!             .poll_until_ready(&wallet, std::time::Duration::from_secs(600), None)
//!             .await?;
//!         println!("{} credential(s)", credentials.len());
//!     }
//! }
//! # Ok(()) }
//! # fn ask_user(_: &oid4vci_wallet::types::TxCodeSpec) -> String { String::new() }
//! ```
//!
//! ## Layout
//! - [`types`]: the protocol messages as serde types;
//! - [`flow`]: the protocol engine, without IO (each exchange prepares a request
//!   and handles the response); the states of an issuance live in
//!   [`flow::session`] and [`flow::credential`] and are all serializable;
//! - [`Wallet`]: the async driver that runs the engine over an [`HttpClient`];
//! - [`jose`]: the [`Signer`] trait, a software P-256 signer, proof JWTs,
//!   DPoP proofs ([`jose::DpopState`]: used whenever the authorization server
//!   advertises DPoP with ES256), JWE ([`jose::jwe`]: credential request
//!   and response encryption whenever the issuer offers it) and wallet
//!   attestation ([`jose::ClientAttestation`], given to
//!   [`WalletBuilder::client_attestation`]);
//! - [`verify`]: what the wallet checks in what it receives (SD-JWT decoding
//!   and checks, issuer keys).
//!
//! ## Limits
//! Everything an issuer sends is bounded in size and time. Configurable on
//! [`WalletBuilder`] (or per call):
//!
//! | limit | default | where |
//! |---|---|---|
//! | connect timeout | 10 s | [`WalletBuilder::timeouts`] |
//! | whole-request timeout (body included) | 30 s | [`WalletBuilder::timeouts`] |
//! | response body | 1 MiB | [`WalletBuilder::max_response_bytes`] |
//! | deferred wait | the caller's deadline ([`ReceiveOptions`]: 5 min) | [`DeferredPending::poll_until_ready`] |
//! | loopback redirect wait | the caller's timeout | `loopback::LoopbackRedirect::wait` |
//!
//! Fixed by design (protocol retries are never open-ended):
//!
//! | limit | value |
//! |---|---|
//! | offer URL | 64 KiB ([`flow::offer::MAX_OFFER_URL_BYTES`]) |
//! | retries after `invalid_nonce` | 1 ([`flow::credential::MAX_NONCE_RETRIES`]) |
//! | resends after a DPoP `use_dpop_nonce` challenge | 1 per request; a `DPoP-Nonce` longer than 512 characters is ignored |
//! | resends after `use_attestation_challenge` | 1 per request; a challenge longer than 512 characters is ignored |
//! | refreshes after `invalid_token` | 1 per request (with a refresh token) |
//! | notification retries after a 5xx or transport error | 1, after [`NOTIFICATION_RETRY_DELAY`] (1 s) |
//! | fallbacks per exchange (well-known URLs) | 3 rounds ([`flow::MAX_EXCHANGE_ROUNDS`]) |
//! | time between deferred polls | the issuer's `interval`, at least 1 s; 5 s when absent ([`flow::credential::DEFAULT_DEFERRED_INTERVAL`]) |
//! | SD-JWT disclosures / nesting | 1024 / 32 levels ([`verify::sd_jwt::MAX_DISCLOSURES`], [`verify::sd_jwt::MAX_DEPTH`]) |
//! | quoted server text in errors | 200 characters, control characters removed ([`error::MAX_QUOTED_CHARS`]) |
//! | loopback listener request head | 16 KiB, 10 s per connection |
//!
//! ## Security defaults
//! https only (loopback http only with [`WalletBuilder::dangerous_allow_http`]),
//! no redirects, identifiers compared exactly, secrets in newtypes whose `Debug`
//! is redacted, and no secret in any error or log line.

#![deny(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

mod client;
pub mod error;
#[cfg(feature = "uniffi")]
pub mod ffi;
pub mod flow;
pub mod http;
pub mod jose;
#[cfg(feature = "loopback")]
pub mod loopback;
pub mod types;
pub mod verify;

pub use client::{
    CancelToken, Clock, Interaction, Issuance, ReceiveOptions, Received, SystemClock, Wallet,
    WalletBuilder, NOTIFICATION_RETRY_DELAY,
};
pub use error::{Error, ErrorCode, Result, ServerError};
pub use flow::authorization::{AuthorizationCodeStep, PendingAuthorization, RequestMode};
pub use flow::authorized::Authorized;
pub use flow::deferred::{DeferredPending, DeferredStatus};
pub use flow::issued::{ClaimKind, IssuedCredential, LabelledClaim};
pub use flow::offer::{Grant, ResolvedOffer};
pub use flow::pre_authorized::PreAuthorizedStep;
pub use http::{HttpClient, HttpRequest, HttpResponse};
pub use jose::{OsRandom, RandomSource, Signer, SignerError, SoftwareSigner};
pub use types::NotificationEvent;
pub use verify::{Verification, VerifiedBy};
