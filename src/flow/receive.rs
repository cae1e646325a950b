//! The one-call issuance without IO: its options ([`ReceiveOptions`]), the
//! stages a driver tells as each begins ([`ReceiveStage`], heard by a
//! [`ProgressObserver`]), and what it got ([`Received`]); the app's part
//! ([`Interaction`]: the PIN screen, the browser), and the run itself, from
//! an offer or an issuer to checked credentials, over any [`Driver`].
//! `Wallet::receive` and the other one-call conveniences call it.

use super::authorization::AuthorizationCodeStep;
use super::authorized::Authorized;
use super::credential::Issuance;
use super::discovery::{resolve_offer_observed, start_issuance_observed};
use super::driver::{capabilities, Driver};
use super::issued::IssuedCredential;
use super::offer::Grant;
use crate::error::{Error, Result};
use crate::http::BoxFuture;
use crate::jose::{fresh_keys, KeySource, Signer};
use crate::types::{TxCode, TxCodeSpec};
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

/// What the app does for the user during a one-call issuance
/// (`Wallet::receive`, `Wallet::request`).
pub trait Interaction: Send + Sync {
    /// Asks the user for the transaction code described by `spec`.
    fn tx_code<'a>(&'a self, spec: &'a TxCodeSpec) -> BoxFuture<'a, Result<TxCode>>;

    /// The redirect URI the browser comes back to (a loopback URL such as
    /// `loopback::LoopbackRedirect::redirect_uri` (feature `loopback`), an app link, or a
    /// private-use scheme). `None`, the default, means this interaction cannot
    /// run the authorization code flow.
    fn redirect_uri(&self) -> Option<String> {
        None
    }

    /// Takes the user through `authorization_url` (opens the browser) and
    /// returns the full URL the browser was redirected to.
    fn authorize<'a>(&'a self, authorization_url: &'a str) -> BoxFuture<'a, Result<String>> {
        let _ = authorization_url;
        Box::pin(async {
            Err(Error::Config(
                "this interaction cannot open a browser for the authorization code flow".into(),
            ))
        })
    }
}

/// The keys of a one-call issuance: the app's one signer, or a fresh key
/// per credential (as many as the issuer's `batch_size` and
/// [`ReceiveOptions::max_batch_size`] allow, one request per configuration).
#[derive(Clone, Copy)]
pub(crate) enum Keys<'a> {
    One(&'a dyn Signer),
    Fresh(&'a dyn KeySource),
}

/// From an offer URL to credentials: resolves the offer, asks `interaction`
/// for a transaction code (or takes the user through the browser), requests
/// each chosen configuration with `keys`, and waits for deferred ones up to
/// the options' deadline.
pub(crate) async fn receive_offer<D: Driver>(
    driver: &D,
    offer_url: &str,
    interaction: &dyn Interaction,
    keys: Keys<'_>,
    options: &ReceiveOptions,
) -> Result<Received> {
    let observer = Observer::of(options);
    let offer = resolve_offer_observed(driver, offer_url, observer).await?;
    let offered: Vec<String> = offer
        .credentials()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    let chosen = offer.context().choose_configurations(
        &offered,
        options.credential_configuration_ids.as_deref(),
        capabilities(driver),
    )?;
    let authorized = match offer.grant()? {
        Grant::PreAuthorized(mut step) => {
            if let Some(spec) = step.tx_code_spec().cloned() {
                observer.emit(|| ReceiveStage::WaitingForTxCode);
                step = step.with_tx_code(interaction.tx_code(&spec).await?);
            }
            observer.emit(|| ReceiveStage::Token);
            step.authorize(driver).await?
        }
        Grant::AuthorizationCode(step) => {
            browser_round_trip(driver, step, interaction, observer).await?
        }
    };
    let mut received = collect(driver, authorized, &chosen.request, keys, options).await?;
    received.not_requested = chosen.not_requested;
    Ok(received)
}

/// Wallet-initiated issuance in one call: discovers the issuer, runs the
/// authorization code flow through `interaction`, then requests the
/// configurations as [`receive_offer`] does.
pub(crate) async fn request_issuance<D: Driver>(
    driver: &D,
    issuer_id: &str,
    configuration_ids: &[&str],
    interaction: &dyn Interaction,
    keys: Keys<'_>,
    options: &ReceiveOptions,
) -> Result<Received> {
    let observer = Observer::of(options);
    let step = start_issuance_observed(driver, issuer_id, configuration_ids, observer).await?;
    let options = options.requesting(configuration_ids);
    let wanted = options.credential_configuration_ids.as_deref();
    let ids = step
        .context
        .choose_configurations(&[], wanted, capabilities(driver))?
        .request;
    let authorized = browser_round_trip(driver, step, interaction, observer).await?;
    collect(driver, authorized, &ids, keys, &options).await
}

/// Requests the configurations `ids` (a batch each with fresh keys) and
/// waits for deferred ones.
async fn collect<D: Driver>(
    driver: &D,
    mut authorized: Authorized,
    ids: &[String],
    keys: Keys<'_>,
    options: &ReceiveOptions,
) -> Result<Received> {
    let observer = Observer::of(options);
    let mut credentials = Vec::new();
    for (index, id) in ids.iter().enumerate() {
        let made: Vec<Arc<dyn Signer>>;
        let signers: Vec<&dyn Signer> = match keys {
            Keys::One(signer) => vec![signer],
            Keys::Fresh(source) => {
                let count = authorized
                    .context()
                    .batch_keys(id, options.max_batch_size)?;
                made = fresh_keys(source, count)?;
                made.iter().map(|k| &**k as &dyn Signer).collect()
            }
        };
        observer.emit(|| ReceiveStage::Credential {
            configuration_id: id.clone(),
            index: index + 1,
            total: ids.len(),
            batch_size: signers.len().max(1),
        });
        match authorized.request_credentials(driver, id, &signers).await? {
            Issuance::Issued(list) => credentials.extend(list),
            Issuance::Deferred(mut pending) => {
                let deadline = options.deferred_deadline;
                let wait = pending.poll_until_ready_observed(driver, deadline, observer);
                credentials.extend(wait.await?);
                // The transaction's tokens are the newest (a refresh while
                // polling): go on with them.
                authorized = pending.into_authorized();
            }
        }
    }
    observer.emit(|| ReceiveStage::Done {
        credentials: credentials.len(),
    });
    Ok(Received {
        authorized,
        credentials,
        not_requested: Vec::new(),
    })
}

/// Builds the authorization URL, lets `interaction` take the user through
/// the browser, and completes with the redirect it returns.
async fn browser_round_trip<D: Driver>(
    driver: &D,
    step: AuthorizationCodeStep,
    interaction: &dyn Interaction,
    observer: Observer<'_>,
) -> Result<Authorized> {
    let redirect_uri = interaction.redirect_uri().ok_or_else(|| {
        Error::Config(
            "this offer needs the authorization code flow, and the Interaction gives no redirect_uri"
                .into(),
        )
    })?;
    let pending = step.authorization_url(driver, &redirect_uri).await?;
    observer.emit(|| ReceiveStage::WaitingForBrowser {
        authorization_url: pending.url().to_string(),
    });
    let redirect = interaction.authorize(pending.url()).await?;
    observer.emit(|| ReceiveStage::Token);
    pending.complete(driver, &redirect).await
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
