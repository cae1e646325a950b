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
//! ## What is public
//! The modules inside the crate are private; what an app uses is re-exported
//! here, in one deliberate list:
//! - at the crate root: the driver ([`Wallet`], [`WalletBuilder`],
//!   [`ReceiveOptions`]), the states of an issuance, each named for what
//!   comes next and all serializable ([`ResolvedOffer`], [`PreAuthorizedStep`],
//!   [`AuthorizationCodeStep`], [`PendingAuthorization`], [`Authorized`],
//!   [`DeferredPending`]) with what they produce ([`IssuedCredential`],
//!   [`Verification`]), the errors ([`Error`] and its kinds), the HTTP
//!   transport an app may replace ([`HttpClient`], [`ReqwestClient`]), the
//!   metadata cache ([`MetadataCache`], [`InMemoryMetadataCache`]), and
//!   what the app provides: keys ([`Signer`], [`SoftwareSigner`], [`DpopKeys`]),
//!   randomness ([`RandomSource`]), attestations ([`ClientAttestation`],
//!   [`KeyAttestationProvider`]);
//! - [`flow`]: the protocol engine, public on purpose for other drivers: no
//!   IO, each exchange prepares a request and handles the response, and every
//!   retry rule of the protocol lives there once; the steps of an issuance
//!   run over any [`flow::Driver`] ([`Wallet`] is one);
//! - [`types`]: the protocol messages as serde types;
//! - [`verify`]: what the wallet checks in what it receives (SD-JWT, mdoc,
//!   JWT VC, `x5c` chains to the app's trust anchors, DIDs), usable on its own.
//!
//! ## Features
//! - `builtin-http` (default): the built-in [`ReqwestClient`] (reqwest on
//!   rustls). Without it (`default-features = false`, e.g. for a phone whose
//!   app sends through OkHttp or URLSession) the library is about a third
//!   smaller, and [`WalletBuilder::build`] needs [`WalletBuilder::http_client`].
//! - `uniffi`: the Kotlin and Swift bindings; `loopback`: a loopback
//!   redirect listener for desktop wallets; `cli`: the `oid4vci` command.
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
//! | offer URL | 64 KiB ([`flow::MAX_OFFER_URL_BYTES`]) |
//! | retries after `invalid_nonce` | 1 ([`flow::MAX_NONCE_RETRIES`]) |
//! | resends after a DPoP `use_dpop_nonce` challenge | 1 per request; a `DPoP-Nonce` longer than 512 characters is ignored |
//! | resends after `use_attestation_challenge` | 1 per request; a challenge longer than 512 characters is ignored |
//! | refreshes after `invalid_token` | 1 per request (with a refresh token) |
//! | notification retries after a 5xx or transport error | 1, after [`NOTIFICATION_RETRY_DELAY`] (1 s) |
//! | fallbacks per exchange (well-known URLs) | 3 rounds ([`flow::MAX_EXCHANGE_ROUNDS`]) |
//! | time between deferred polls | the issuer's `interval`, at least 1 s; 5 s when absent ([`flow::DEFAULT_DEFERRED_INTERVAL`]) |
//! | SD-JWT disclosures / nesting | 1024 / 32 levels ([`verify::MAX_DISCLOSURES`], [`verify::MAX_DEPTH`]) |
//! | quoted server text in errors | 200 characters, control characters removed ([`MAX_QUOTED_CHARS`]) |
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

mod builder;
mod client;
mod error;
#[cfg(feature = "uniffi")]
#[allow(unreachable_pub)] // exported to Kotlin and Swift, not to Rust
mod ffi;
pub mod flow;
mod http;
mod jose;
#[cfg(feature = "loopback")]
mod loopback;
pub mod types;
pub mod verify;

// The driver and its settings.
pub use builder::WalletBuilder;
pub use client::{
    CancelToken, Clock, Interaction, Issuance, SystemClock, Wallet, NOTIFICATION_RETRY_DELAY,
};
// One-call issuance: its options, batches of fresh keys, and its stages.
pub use flow::{ProgressObserver, ReceiveOptions, ReceiveStage, Received, DEFAULT_MAX_BATCH_SIZE};
pub use jose::signer::KeySource;
// The states of an issuance, each named for what comes next.
pub use flow::{AuthorizationCodeStep, RequestMode};
pub use flow::{
    Authorized, ClaimKind, DeferredPending, DeferredStatus, Grant, IssuedCredential, LabelledClaim,
    OfferedCredential, PendingAuthorization, PreAuthorizedStep, ResolvedOffer,
};
// Errors.
pub use error::{
    display_text, escape_text, is_unsafe_text_char, CallbackError, CredentialRejection, Document,
    Endpoint, Error, ErrorCode, ProofError, ProofErrorKind, Result, ServerError, TransportError,
    TxCodeError, TxCodeErrorKind, MAX_QUOTED_CHARS,
};
// HTTP: the transport the app may replace, and the wire trace.
#[cfg(feature = "builtin-http")]
pub use http::reqwest_client::ReqwestClient;
pub use http::reqwest_client::ReqwestConfig;
pub use http::trace::WIRE_TARGET;
pub use http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, Method};
// The metadata cache (issuer and authorization server metadata, issuer keys).
pub use http::cache::{CacheEntry, InMemoryMetadataCache, MetadataCache, MAX_FRESHNESS};
// Keys, signing, randomness and attestations the app provides.
pub use jose::attestation::ClientAttestation;
pub use jose::dpop::DpopKeys;
pub use jose::proof::{KeyAttestationProvider, KeyAttestationRequest};
pub use jose::random::{OsRandom, RandomSource};
pub use jose::signer::{Algorithm, Signer, SignerError, SoftwareSigner};
#[cfg(feature = "loopback")]
pub use loopback::LoopbackRedirect;
pub use types::NotificationEvent;
pub use verify::{Verification, VerifiedBy};
