//! The one-call issuance without IO: its options ([`ReceiveOptions`]), the
//! stages a driver tells as each begins ([`ReceiveStage`], heard by a
//! [`ProgressObserver`]), and what it got ([`Received`]). `Wallet::receive`
//! and the other one-call conveniences drive it; any other driver can tell
//! the same stages.

use super::authorized::Authorized;
use super::issued::IssuedCredential;
use std::sync::Arc;
use std::time::Duration;

/// The most credentials of one configuration `Wallet::receive_batch` asks
/// for by default ([`ReceiveOptions::max_batch_size`]).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 3;

/// Options of `Wallet::receive` and the other one-call conveniences.
#[derive(Clone)]
pub struct ReceiveOptions {
    /// Which offered configurations to request (default: all).
    pub credential_configuration_ids: Option<Vec<String>>,
    /// How long to wait for deferred credentials (default 5 minutes).
    pub deferred_deadline: Duration,
    /// With `Wallet::receive_batch` and `Wallet::request_batch`: the
    /// most credentials (each bound to its own fresh key) asked for per
    /// configuration, further capped by the issuer's
    /// `batch_credential_issuance.batch_size` (1 without one). Default
    /// [`DEFAULT_MAX_BATCH_SIZE`] (3); 1 (or 0) disables batching. The
    /// one-signer calls always ask for one.
    pub max_batch_size: usize,
    /// Told each stage of the issuance as it begins (default: none).
    pub progress: Option<Arc<dyn ProgressObserver>>,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        Self {
            credential_configuration_ids: None,
            deferred_deadline: Duration::from_secs(300),
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            progress: None,
        }
    }
}

impl ReceiveOptions {
    /// These options with `observer` told every [`ReceiveStage`].
    pub fn with_progress(mut self, observer: impl ProgressObserver + 'static) -> Self {
        self.progress = Some(Arc::new(observer));
        self
    }
}

impl std::fmt::Debug for ReceiveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiveOptions")
            .field(
                "credential_configuration_ids",
                &self.credential_configuration_ids,
            )
            .field("deferred_deadline", &self.deferred_deadline)
            .field("max_batch_size", &self.max_batch_size)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl ReceiveOptions {
    /// These options for a wallet-initiated request of `named`: the
    /// options' own `credential_configuration_ids` when they have some,
    /// else `named`.
    pub fn requesting(&self, named: &[&str]) -> Self {
        let ids = self
            .credential_configuration_ids
            .clone()
            .unwrap_or_else(|| named.iter().map(|s| s.to_string()).collect());
        Self {
            credential_configuration_ids: Some(ids),
            ..self.clone()
        }
    }
}

/// A stage of a one-call issuance (`Wallet::receive` and the others), in
/// the order they come; told to the [`ReceiveOptions::progress`] observer
/// as each begins.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiveStage {
    /// Reading the offer URL, fetching the offer when it is by reference.
    ResolvingOffer,
    /// Fetching and checking the issuer's and its authorization server's
    /// metadata.
    ReadingMetadata {
        /// The credential issuer identifier (as the offer gives it: escape
        /// it before a terminal shows it).
        credential_issuer: String,
    },
    /// Waiting for the user's transaction code (`Interaction::tx_code`).
    WaitingForTxCode,
    /// Waiting for the user in the browser (`Interaction::authorize`).
    WaitingForBrowser {
        /// The authorization URL the browser is sent to.
        authorization_url: String,
    },
    /// Requesting the access token.
    Token,
    /// Requesting the credentials of one configuration: the `index`-th
    /// (from 1) of `total` requests, asking for `batch_size` credentials
    /// (one per key).
    Credential {
        /// The configuration requested.
        configuration_id: String,
        /// Which request this is, from 1.
        index: usize,
        /// How many configurations are requested.
        total: usize,
        /// How many credentials this request asks for.
        batch_size: usize,
    },
    /// The issuer defers the credentials: waiting until the next poll.
    Deferred {
        /// The configuration being issued.
        configuration_id: String,
        /// How long until the next poll.
        next_poll_in: Duration,
        /// When the next poll is sent, in seconds since the Unix epoch (by
        /// the wallet's `Clock`).
        next_poll_at: u64,
    },
    /// Finished: every requested credential is received.
    Done {
        /// How many credentials were received.
        credentials: usize,
    },
}

/// Hears the [`ReceiveStage`]s of a one-call issuance (to show progress).
/// Called on the task that runs the issuance, in order: return quickly. A
/// closure `Fn(&ReceiveStage)` is one.
pub trait ProgressObserver: Send + Sync {
    /// A stage begins.
    fn on_stage(&self, stage: &ReceiveStage);
}

impl<F> ProgressObserver for F
where
    F: Fn(&ReceiveStage) + Send + Sync,
{
    fn on_stage(&self, stage: &ReceiveStage) {
        self(stage)
    }
}

/// The observer of one call, if any.
#[derive(Clone, Copy)]
pub(crate) struct Observer<'a>(Option<&'a dyn ProgressObserver>);

impl<'a> Observer<'a> {
    /// No one listens.
    pub(crate) const NONE: Observer<'static> = Observer(None);

    pub(crate) fn of(options: &'a ReceiveOptions) -> Self {
        Observer(options.progress.as_deref())
    }

    /// Tells the stage (built only when someone listens).
    pub(crate) fn emit(&self, stage: impl FnOnce() -> ReceiveStage) {
        if let Some(observer) = self.0 {
            observer.on_stage(&stage());
        }
    }
}

/// What `Wallet::receive` got.
#[derive(Debug)]
pub struct Received {
    /// The authorization, for notifications.
    pub authorized: Authorized,
    /// The credentials, in request order.
    pub credentials: Vec<IssuedCredential>,
    /// Offered configurations not requested because this wallet cannot
    /// finish them (configuration id, why), found before anything was spent.
    pub not_requested: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_asks_for_the_named_configurations_unless_the_options_name_their_own() {
        let named = ReceiveOptions::default().requesting(&["pid_sd_jwt", "mdl"]);
        assert_eq!(
            named.credential_configuration_ids.as_deref(),
            Some(&["pid_sd_jwt".to_string(), "mdl".to_string()][..])
        );
        let own = ReceiveOptions {
            credential_configuration_ids: Some(vec!["pid_mdoc".into()]),
            max_batch_size: 1,
            ..ReceiveOptions::default()
        }
        .requesting(&["pid_sd_jwt"]);
        assert_eq!(
            own.credential_configuration_ids.as_deref(),
            Some(&["pid_mdoc".to_string()][..])
        );
        assert_eq!(own.max_batch_size, 1, "the other options are kept");
    }
}
