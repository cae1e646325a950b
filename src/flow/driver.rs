//! What the engine's async steps ask of a driver: run a [`Flow`] to its end
//! (sending, and sleeping when the flow says so), sleep between deferred
//! polls, the time, and who the wallet is (client id, attestations). With
//! these the steps themselves ([`crate::PreAuthorizedStep::authorize`],
//! [`crate::Authorized::request_credentials`], ...) are the engine's: which
//! requests go out together, what follows an answer, when the issuer is told
//! of a failed check. [`crate::Wallet`] is one driver; a blocking one, a
//! wasm one or a test implements the same few methods.

use super::protection::{AttestationChallenges, Protected, Protection};
use super::{Capabilities, EngineConfig, Exchange, Flow};
use crate::error::{Error, Result};
use crate::jose::{ClientAttestation, DpopState, KeyAttestationProvider};
use crate::types::AuthorizationServerMetadata;
use std::future::Future;
use std::time::Duration;

/// Sends for the engine: a [`Flow`] to its end, and the pauses between
/// deferred polls. See the module docs of [`crate::flow`].
pub trait Driver: Sync {
    /// The engine's settings.
    fn config(&self) -> &EngineConfig;

    /// Now, in seconds since the Unix epoch (proofs, expiry).
    fn now(&self) -> u64;

    /// The time since a fixed point of the driver's choosing, on a clock
    /// that never goes back (for the caller's deadlines, e.g.
    /// [`crate::DeferredPending::poll_until_ready_with`]).
    fn monotonic(&self) -> Duration;

    /// Runs `flow` to its end: sends what it prepares (through a metadata
    /// cache where [`Flow::cacheable`] allows), sleeps for [`Flow::wait`],
    /// and hands it every response or transport failure.
    fn drive<F>(&self, flow: F) -> impl Future<Output = Result<F::Output>> + Send
    where
        F: Flow + Send,
        F::Output: Send;

    /// Waits `pause` (between deferred polls). A driver that can be
    /// cancelled ends the wait with [`Error::Cancelled`].
    fn sleep(&self, pause: Duration) -> impl Future<Output = Result<()>> + Send;

    /// The wallet's OAuth client id (default: none, anonymous pre-authorized
    /// access only).
    fn client_id(&self) -> Option<&str> {
        None
    }

    /// The wallet attestation sent to authorization servers, with the
    /// challenges kept for it (default: none).
    fn attestation(&self) -> Option<(&ClientAttestation, &AttestationChallenges)> {
        None
    }

    /// Where key attestations for proofs come from (default: none, so
    /// configurations that require them are refused before spending).
    fn key_attestations(&self) -> Option<&dyn KeyAttestationProvider> {
        None
    }
}

/// What `driver`'s wallet can do beyond the baseline, for the checks before
/// anything is spent.
pub(crate) fn capabilities<D: Driver>(driver: &D) -> Capabilities {
    Capabilities {
        key_attestations: driver.key_attestations().is_some(),
    }
}

/// The client id the authorization code flow needs.
pub(crate) fn require_client_id<D: Driver>(driver: &D) -> Result<&str> {
    driver.client_id().ok_or_else(|| {
        Error::Config(
            "the authorization code flow needs a client_id (WalletBuilder::client_id)".into(),
        )
    })
}

/// A DPoP key for a new authorization when `server` uses DPoP.
pub(crate) fn dpop_for<D: Driver>(
    driver: &D,
    server: &AuthorizationServerMetadata,
) -> Result<Option<DpopState>> {
    match DpopState::wanted_by(server) {
        true => driver.config().new_dpop_key().map(Some),
        false => Ok(None),
    }
}

/// Runs `exchange` to a PAR or token endpoint of `server`: DPoP when `dpop`
/// is given, and the wallet attestation when the driver has one.
pub(crate) async fn run_at<D: Driver, E>(
    driver: &D,
    exchange: E,
    server: &AuthorizationServerMetadata,
    dpop: Option<&mut DpopState>,
) -> Result<E::Output>
where
    E: Exchange + Send,
    E::Output: Send,
{
    let protection = Protection::authorization_server(server, dpop, driver.attestation());
    driver.drive(Protected::new(exchange, protection)).await
}

/// Runs `exchange` with no protection.
pub(crate) async fn run<D: Driver, E>(driver: &D, exchange: E) -> Result<E::Output>
where
    E: Exchange + Send,
    E::Output: Send,
{
    driver
        .drive(Protected::new(exchange, Protection::none()))
        .await
}
