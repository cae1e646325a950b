//! The async driver: [`Wallet`] runs the engine's steps with an [`HttpClient`].
//! `drive` is the loop (send, sleep, cancel: the engine's [`Driver`]),
//! `receive` the one-call conveniences. The steps themselves (`authorize`,
//! `request_credentials`, `poll`...) are the engine's, over any [`Driver`];
//! the wallet's options and their checks are `builder`'s.

mod drive;
mod receive;

pub use crate::flow::credential::Issuance;
pub use crate::flow::notification::NOTIFICATION_RETRY_DELAY;
pub use crate::flow::receive::Interaction;

use crate::error::Result;
use crate::flow::authorization::AuthorizationCodeStep;
#[allow(unused_imports)] // doc links
use crate::flow::deferred::DeferredPending;
use crate::flow::offer::ResolvedOffer;
use crate::flow::protection::AttestationChallenges;
#[allow(unused_imports)] // doc links
use crate::flow::Driver;
use crate::flow::EngineConfig;
use crate::http::cache::MetadataCache;
use crate::http::HttpClient;
use crate::jose::{ClientAttestation, KeyAttestationProvider};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where the wallet gets the time (seconds since the Unix epoch). Replace it in
/// tests to make proofs and expiry deterministic.
pub trait Clock: Send + Sync {
    /// Now, in seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

pub(crate) struct Inner {
    client_id: Option<String>,
    engine: EngineConfig,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    attestation: Option<ClientAttestation>,
    key_attestations: Option<Arc<dyn KeyAttestationProvider>>,
    /// The latest attestation challenge of each authorization server (by
    /// issuer), taken by the next request to it.
    challenges: AttestationChallenges,
    /// Where metadata and issuer keys are cached (none: never).
    cache: Option<Arc<dyn MetadataCache>>,
    /// The fixed point of [`Driver::monotonic`].
    started: tokio::time::Instant,
}

/// The wallet's entry point: configuration plus transport. Cheap to clone;
/// holds no per-issuance state (that lives in the step values).
#[derive(Clone)]
pub struct Wallet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("client_id", &self.inner.client_id)
            .field("engine", &self.inner.engine)
            .finish_non_exhaustive()
    }
}

/// What a [`Wallet`] is made of, as [`crate::WalletBuilder::build`] checked it.
pub(crate) struct Parts {
    pub(crate) client_id: Option<String>,
    pub(crate) engine: EngineConfig,
    pub(crate) http: Arc<dyn HttpClient>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) attestation: Option<ClientAttestation>,
    pub(crate) key_attestations: Option<Arc<dyn KeyAttestationProvider>>,
    pub(crate) cache: Option<Arc<dyn MetadataCache>>,
}

impl Wallet {
    pub(crate) fn assemble(parts: Parts) -> Self {
        Wallet {
            inner: Arc::new(Inner {
                client_id: parts.client_id,
                engine: parts.engine,
                http: parts.http,
                clock: parts.clock,
                attestation: parts.attestation,
                key_attestations: parts.key_attestations,
                challenges: AttestationChallenges::default(),
                cache: parts.cache,
                started: tokio::time::Instant::now(),
            }),
        }
    }

    /// The configured client id.
    pub fn client_id(&self) -> Option<&str> {
        self.inner.client_id.as_deref()
    }

    /// The preferred locales.
    pub fn locales(&self) -> &[String] {
        &self.inner.engine.locales
    }

    /// Now, from the wallet's clock.
    pub fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// Parses an offer URL, fetches the offer if by reference, and discovers and
    /// checks the issuer's and authorization server's metadata.
    pub async fn resolve_offer(&self, offer_url: &str) -> Result<ResolvedOffer> {
        crate::flow::discovery::resolve_offer(self, offer_url).await
    }

    /// Wallet-initiated issuance: discovers the issuer (and its first
    /// authorization server) and starts the authorization code flow for the
    /// given configurations.
    pub async fn start_issuance(
        &self,
        issuer_id: &str,
        configuration_ids: &[&str],
    ) -> Result<AuthorizationCodeStep> {
        crate::flow::discovery::start_issuance(self, issuer_id, configuration_ids).await
    }
}

/// Cancels a running [`DeferredPending::poll_until_ready`].
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<(AtomicBool, tokio::sync::Notify)>,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every wait on this token.
    pub fn cancel(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.inner.1.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}
