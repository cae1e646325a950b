//! The protocol engine, without IO: every exchange with a server is a value that
//! prepares an [`HttpRequest`] and handles the [`HttpResponse`], returning
//! either its output or itself to be sent again (a fallback URL, a retry).
//! Time comes in as arguments; nothing here sleeps, reads a clock or opens a
//! socket: a [`Driver`] does. [`crate::Wallet`] drives these steps with an
//! [`crate::HttpClient`].
//!
//! Public on purpose, for drivers other than [`crate::Wallet`] (a blocking
//! one, a wasm one, a test): an [`Exchange`] is one request and its answer;
//! a [`Flow`] is a run of requests the protocol links, with every retry rule
//! in it once. In the order an issuance meets them:
//! - the offer: [`parse_offer_url`], [`OfferFetch`] (by reference);
//! - the metadata: [`OfferDiscovery`] for an offer's (the requests, then
//!   the offer checked against the issuer's metadata and its authorization
//!   server chosen), or [`IssuerMetadataDiscovery`], [`AsMetadataDiscovery`]
//!   and [`select_authorization_server`] by hand, giving
//!   [`DiscoveredMetadata`] (with
//!   [`DiscoveredMetadata::can_issue`] and
//!   [`DiscoveredMetadata::choose_configurations`]: refuse before spending,
//!   and [`DiscoveredMetadata::batch_keys`]);
//! - authorization: [`crate::PreAuthorizedStep::token_exchange`] or
//!   [`crate::AuthorizationCodeStep`] ([`ParExchange`], PKCE, the callback
//!   checks), each a [`TokenExchange`], wrapped in [`Protected`] for DPoP
//!   nonces and attestation challenges (the one-resend rule);
//! - credentials: [`CredentialExchange`] (refresh when expired, the nonce,
//!   the proofs, the sealed request, `invalid_nonce` once, `invalid_token`
//!   with one refresh), then [`CheckReceived`] (issuer keys, trust anchors);
//! - later: [`DeferredPoll`] and [`Notify`], run by [`WithToken`]
//!   ([`DeferredPending::next_wait`] for the wait between polls,
//!   [`Notify::for_failed_check`] for the issuer's `credential_failure`);
//! - one call from offer to credentials: [`ReceiveOptions`], the
//!   [`ReceiveStage`]s a driver tells a [`ProgressObserver`], and
//!   [`Received`].
//!
//! The steps themselves run over a [`Driver`] (a few methods: run a flow
//! to its end, sleep, the time, who the wallet is): [`resolve_offer`],
//! [`start_issuance`], [`crate::PreAuthorizedStep::authorize`],
//! [`AuthorizationCodeStep::authorization_url`],
//! [`PendingAuthorization::complete`], [`Authorized::request_credentials`]
//! (with the check of what was issued and the issuer told of a failed
//! one), [`Authorized::refresh`], [`Authorized::notify`],
//! [`DeferredPending::poll`] and [`DeferredPending::poll_until_ready_with`].
//! They decide which requests go out together; [`crate::Wallet`] is one
//! driver, and the test
//! `a_hand_written_driver_runs_the_engines_own_steps_without_a_wallet` has
//! another in sixty lines.
//!
//! Requests that do not depend on each other are named so a driver can send
//! them together: [`as_metadata_prefetch`] (beside the issuer metadata
//! request, when the offer names its authorization server),
//! [`crate::PreAuthorizedStep::nonce_prefetch`] (beside the token request)
//! and [`CheckReceived::issuer_keys_prefetch`] (beside the credential
//! request); [`Exchange::cacheable`] marks what a metadata cache
//! may answer. See the test
//! `the_public_engine_runs_attestation_dpop_and_deferred_without_a_wallet` for
//! a complete hand-written driver.

pub(crate) mod authorization;
pub(crate) mod authorized;
pub(crate) mod credential;
pub(crate) mod deferred;
pub(crate) mod discovery;
pub(crate) mod driver;
pub(crate) mod encryption;
pub(crate) mod issued;
pub(crate) mod issuer_keys;
pub(crate) mod nonce;
pub(crate) mod notification;
pub(crate) mod offer;
pub(crate) mod plan;
pub(crate) mod pre_authorized;
pub(crate) mod protection;
pub(crate) mod receive;
pub(crate) mod received;
pub(crate) mod saved;
pub(crate) mod token;

// The states (also at the crate root).
pub use authorization::{AuthorizationCodeStep, PendingAuthorization, RequestMode};
pub use authorized::{Authorized, TokenState};
pub use deferred::{DeferredPending, DeferredStatus, DEFAULT_DEFERRED_INTERVAL, MIN_POLL_INTERVAL};
pub use issued::{ClaimKind, IssuedCredential, LabelledClaim};
pub use offer::{Grant, OfferedCredential, ResolvedOffer};
pub use pre_authorized::PreAuthorizedStep;
pub use receive::{
    ProgressObserver, ReceiveOptions, ReceiveStage, Received, DEFAULT_MAX_BATCH_SIZE,
};
pub use saved::SAVED_STATE_VERSION;
// The exchanges and flows, in the order an issuance meets them.
pub use crate::http::cache::served_from_cache;
pub use authorization::{AuthorizationBegin, AuthorizationSecrets, ParExchange};
pub use credential::{CredentialExchange, CredentialOutcome, Issuance, MAX_NONCE_RETRIES};
pub use deferred::DeferredPoll;
pub use discovery::{
    as_metadata_prefetch, offered_authorization_server, resolve_offer, select_authorization_server,
    start_issuance, AsMetadataDiscovery, DiscoveredMetadata, IssuerMetadataDiscovery,
    OfferDiscovery, OfferIssuerKnown,
};
pub use driver::Driver;
pub use encryption::PlannedEncryption;
pub use issuer_keys::{DidWebDocument, JwtVcIssuerKeys};
pub use nonce::NonceExchange;
pub use notification::{Notify, NOTIFICATION_RETRY_DELAY};
pub use offer::{
    parse_offer_url, validate_offer_against_metadata, OfferFetch, OfferSource, MAX_OFFER_URL_BYTES,
};
pub use plan::{ChosenConfigurations, CredentialPlan, ProofType};
pub use protection::{
    AttestationChallengeFetch, AttestationChallenges, DpopUse, Protected, Protection,
};
pub use received::{CheckReceived, TrustPolicy};
pub use token::{TokenExchange, TokenRequest, WithToken};
// What the engine signs and seals with.
pub use crate::jose::dpop::{DpopServer, DpopState};
pub use crate::jose::jwe::{ContentEncryption, ResponseEncryption};
pub use crate::jose::proof::{build_proof_jwt, ProofClaims};

use crate::error::{sanitize, Document, Endpoint, Error, Result};
pub(crate) use crate::http::response::{
    describe_body, error_from_response, expect_json, is_json, parse_error_body, parse_json,
    parse_value,
};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::{OsRandom, RandomSource};

/// Engine settings that shape requests and checks, and the randomness the
/// engine draws from (PKCE, `state`, `jti`s, DPoP and JWE keys, IVs).
#[derive(Clone)]
pub struct EngineConfig {
    /// Allow http URLs to loopback hosts (tests only).
    pub allow_http: bool,
    /// `Accept-Language` preference list.
    pub locales: Vec<String>,
    /// Where randomness comes from (default: the OS).
    pub random: std::sync::Arc<dyn RandomSource>,
    /// What the wallet requires of issuer signatures.
    pub trust: received::TrustPolicy,
    /// DPoP keys the app holds (default: fresh software keys per issuance).
    pub dpop_keys: Option<std::sync::Arc<dyn crate::jose::DpopKeys>>,
}

impl EngineConfig {
    /// A DPoP key for a new authorization: the app's ([`Self::dpop_keys`])
    /// or a fresh software key.
    pub fn new_dpop_key(&self) -> Result<crate::jose::DpopState> {
        crate::jose::DpopState::new_for(self.dpop_keys.as_deref(), &*self.random)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            locales: vec!["en".into()],
            random: std::sync::Arc::new(OsRandom),
            trust: received::TrustPolicy::default(),
            dpop_keys: None,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("allow_http", &self.allow_http)
            .field("locales", &self.locales)
            .field("trust", &self.trust)
            .field("dpop_keys", &self.dpop_keys.is_some())
            .finish_non_exhaustive()
    }
}

/// What the wallet can do beyond the baseline, for the checks made before
/// anything is spent ([`DiscoveredMetadata::can_issue`]). The
/// [`crate::Wallet`] sets it from its configuration; another driver of the
/// engine sets it on the steps (`with_capabilities`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capabilities {
    /// Key attestations can be attached to proofs (a
    /// [`crate::jose::KeyAttestationProvider`] is configured).
    #[serde(default)]
    pub key_attestations: bool,
}

/// What handling a response led to.
#[derive(Debug)]
pub enum Progress<S, T> {
    /// Send this step's (new) request.
    Again(S),
    /// The exchange is complete.
    Done(T),
}

/// One request/response exchange with a server.
pub trait Exchange: Sized {
    /// What the exchange produces.
    type Output;
    /// Which endpoint it talks to (for errors).
    fn endpoint(&self) -> Endpoint;
    /// The request to send now.
    fn prepare_request(&self, config: &EngineConfig) -> Result<HttpRequest>;
    /// Reads the response.
    fn handle_response(
        self,
        response: HttpResponse,
        config: &EngineConfig,
    ) -> Result<Progress<Self, Self::Output>>;

    /// Whether the request may be answered from the wallet's metadata cache
    /// (a GET of a document whose `Cache-Control` governs it: metadata and
    /// issuer keys). Default: no.
    fn cacheable(&self) -> bool {
        false
    }
}

/// A run of requests the protocol links together (an [`Exchange`] with its
/// protection, the credential exchange with its nonce, refresh and retries,
/// a notification with its retry): the engine decides every next request,
/// every resend and every pause; a driver sends, sleeps when told, and stops
/// when cancelled.
pub trait Flow: Sized {
    /// What the flow produces.
    type Output;

    /// The next request, and the endpoint it goes to (`now` for proofs).
    fn prepare_request(
        &mut self,
        config: &EngineConfig,
        now: u64,
    ) -> Result<(Endpoint, HttpRequest)>;

    /// Reads the response to the last prepared request.
    fn handle_response(
        self,
        response: HttpResponse,
        config: &EngineConfig,
        now: u64,
    ) -> Result<Progress<Self, Self::Output>>;

    /// The request could not be sent (`error` is the transport failure):
    /// the flow may ask to try again (after [`Self::wait`]). Default: fail.
    fn handle_transport_error(self, error: Error) -> Result<Progress<Self, Self::Output>> {
        Err(error)
    }

    /// How long the driver waits before the next request (a retry's pause).
    fn wait(&self) -> Option<std::time::Duration> {
        None
    }

    /// Whether the request just prepared may be answered from the wallet's
    /// metadata cache ([`crate::MetadataCache`]). Default: no.
    fn cacheable(&self) -> bool {
        false
    }
}

/// The most times one exchange may ask to be sent again (fallbacks, retries).
pub const MAX_EXCHANGE_ROUNDS: usize = 3;

/// Checks that a URL taken from a document is usable (https, or loopback http
/// when allowed), naming the document and field otherwise.
pub(crate) fn check_endpoint(
    document: Document,
    doc_url: &str,
    field: &str,
    value: &str,
    config: &EngineConfig,
) -> Result<()> {
    // No downgrade: a document fetched over https names only https endpoints,
    // even when loopback http is allowed.
    if doc_url.starts_with("https://") && !value.starts_with("https://") {
        return Err(Error::metadata(
            document,
            doc_url,
            format!(
                "field {field}: expected an https URL, got {} (http endpoint in https metadata)",
                sanitize(value, crate::error::MAX_QUOTED_CHARS)
            ),
        ));
    }
    crate::http::check_url(value, config.allow_http)
        .map(|_| ())
        .map_err(|e| {
            Error::metadata(
                document,
                doc_url,
                format!(
                    "field {field}: expected an https URL, got {} ({e})",
                    sanitize(value, crate::error::MAX_QUOTED_CHARS)
                ),
            )
        })
}

/// The `Accept-Language` value for the configured locales.
pub(crate) fn accept_language(config: &EngineConfig) -> String {
    config
        .locales
        .iter()
        .enumerate()
        .map(|(i, l)| match i {
            0 => l.clone(),
            _ => format!("{l};q={:.1}", (10 - i.min(9)) as f32 / 10.0),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
