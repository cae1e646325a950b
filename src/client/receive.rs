//! One call from an offer (or an issuer) to credentials: [`Wallet::receive`]
//! and [`Wallet::request`] with one key, [`Wallet::receive_batch`] and
//! [`Wallet::request_batch`] with a fresh key per credential from a
//! [`KeySource`]; the app's [`Interaction`] (PIN screen, browser), and the
//! stages it may watch ([`ProgressObserver`], [`ReceiveStage`]).

use super::{Issuance, Wallet};
use crate::error::{Error, ProofErrorKind, Result};
use crate::flow::authorization::AuthorizationCodeStep;
use crate::flow::authorized::Authorized;
use crate::flow::issued::IssuedCredential;
use crate::flow::offer::Grant;
use crate::http::BoxFuture;
use crate::jose::{Signer, SignerError};
use crate::types::{TxCode, TxCodeSpec};
use std::sync::Arc;
use std::time::Duration;

/// The most credentials of one configuration [`Wallet::receive_batch`] asks
/// for by default ([`ReceiveOptions::max_batch_size`]).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 3;

/// Options of [`Wallet::receive`] and the other one-call conveniences.
#[derive(Clone)]
pub struct ReceiveOptions {
    /// Which offered configurations to request (default: all).
    pub credential_configuration_ids: Option<Vec<String>>,
    /// How long to wait for deferred credentials (default 5 minutes).
    pub deferred_deadline: Duration,
    /// With [`Wallet::receive_batch`] and [`Wallet::request_batch`]: the
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

/// Makes the holder keys of [`Wallet::receive_batch`]: one new key per
/// credential, so that no two credentials can be linked by their key. Each
/// call must return a key distinct from every other (a repeated key fails
/// with [`ProofErrorKind::KeyUsedTwice`] before the request is sent). The
/// app keeps the keys (e.g. in its key store): each received credential
/// names its own in [`IssuedCredential::holder_jwk`]; a key whose request
/// failed, or that the issuer gave no credential for, can be deleted.
/// A closure `Fn() -> Result<Arc<dyn Signer>, SignerError>` is one.
pub trait KeySource: Send + Sync {
    /// A new key for one credential.
    fn new_key(&self) -> std::result::Result<Arc<dyn Signer>, SignerError>;
}

impl<F> KeySource for F
where
    F: Fn() -> std::result::Result<Arc<dyn Signer>, SignerError> + Send + Sync,
{
    fn new_key(&self) -> std::result::Result<Arc<dyn Signer>, SignerError> {
        self()
    }
}

/// A stage of a one-call issuance ([`Wallet::receive`] and the others), in
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
    /// Waiting for the user's transaction code ([`Interaction::tx_code`]).
    WaitingForTxCode,
    /// Waiting for the user in the browser ([`Interaction::authorize`]).
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
        /// the wallet's [`super::Clock`]).
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
pub(super) struct Observer<'a>(Option<&'a dyn ProgressObserver>);

impl<'a> Observer<'a> {
    /// No one listens.
    pub(super) const NONE: Observer<'static> = Observer(None);

    fn of(options: &'a ReceiveOptions) -> Self {
        Observer(options.progress.as_deref())
    }

    /// Tells the stage (built only when someone listens).
    pub(super) fn emit(&self, stage: impl FnOnce() -> ReceiveStage) {
        if let Some(observer) = self.0 {
            observer.on_stage(&stage());
        }
    }
}

/// The keys of a one-call issuance: the app's one signer, or a fresh key
/// per credential.
#[derive(Clone, Copy)]
enum Keys<'a> {
    One(&'a dyn Signer),
    Fresh(&'a dyn KeySource),
}

/// What [`Wallet::receive`] got.
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

/// What the app does for the user during [`Wallet::receive`] and
/// [`Wallet::request`].
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

impl Wallet {
    /// Receives every offered credential (or those named in `options`) in one
    /// call: resolves the offer, asks `interaction` for a transaction code when
    /// needed, requests each credential with `signer` (one credential per
    /// configuration), and waits for deferred ones up to the options' deadline.
    pub async fn receive(
        &self,
        offer_url: &str,
        interaction: &dyn Interaction,
        signer: &dyn Signer,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        self.receive_with(offer_url, interaction, Keys::One(signer), options)
            .await
    }

    /// [`Self::receive`] with a fresh key per credential: for each
    /// key-bound configuration it asks `keys` for as many keys as the
    /// issuer's `batch_size` allows, up to [`ReceiveOptions::max_batch_size`]
    /// (default 3), and requests that many credentials in one request, one
    /// proof per key. Each credential is checked to be bound to its own key
    /// (`cnf.jwk`, an mdoc's `deviceKey`), which it names in
    /// [`IssuedCredential::holder_jwk`]. An issuer without
    /// `batch_credential_issuance` gets one request per configuration with
    /// one fresh key; an unbound configuration uses no key.
    pub async fn receive_batch(
        &self,
        offer_url: &str,
        interaction: &dyn Interaction,
        keys: &dyn KeySource,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        self.receive_with(offer_url, interaction, Keys::Fresh(keys), options)
            .await
    }

    async fn receive_with(
        &self,
        offer_url: &str,
        interaction: &dyn Interaction,
        keys: Keys<'_>,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        let observer = Observer::of(options);
        let offer = self.resolve_offer_observed(offer_url, observer).await?;
        let offered: Vec<String> = offer
            .credentials()
            .iter()
            .map(|c| c.id.to_string())
            .collect();
        let chosen = offer.context().choose_configurations(
            &offered,
            options.credential_configuration_ids.as_deref(),
            self.capabilities(),
        )?;
        let authorized = match offer.grant()? {
            Grant::PreAuthorized(mut step) => {
                if let Some(spec) = step.tx_code_spec().cloned() {
                    observer.emit(|| ReceiveStage::WaitingForTxCode);
                    step = step.with_tx_code(interaction.tx_code(&spec).await?);
                }
                observer.emit(|| ReceiveStage::Token);
                step.authorize(self).await?
            }
            Grant::AuthorizationCode(step) => {
                self.browser_round_trip(step, interaction, observer).await?
            }
        };
        let mut received = self
            .collect(authorized, &chosen.request, keys, options)
            .await?;
        received.not_requested = chosen.not_requested;
        Ok(received)
    }

    /// Requests the configurations `ids` (a batch each with fresh keys) and
    /// waits for deferred ones.
    async fn collect(
        &self,
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
                    made = (0..count)
                        .map(|_| {
                            source.new_key().map_err(|e| {
                                Error::proof(
                                    ProofErrorKind::SignerFailed,
                                    format!("the key source made no key: {e}"),
                                )
                            })
                        })
                        .collect::<Result<_>>()?;
                    made.iter().map(|k| &**k as &dyn Signer).collect()
                }
            };
            observer.emit(|| ReceiveStage::Credential {
                configuration_id: id.clone(),
                index: index + 1,
                total: ids.len(),
                batch_size: signers.len().max(1),
            });
            match authorized.request_credentials(self, id, &signers).await? {
                Issuance::Issued(list) => credentials.extend(list),
                Issuance::Deferred(mut pending) => {
                    credentials.extend(
                        pending
                            .poll_until_ready_observed(
                                self,
                                options.deferred_deadline,
                                None,
                                observer,
                            )
                            .await?,
                    );
                    // The transaction's tokens are the newest (a refresh
                    // while polling): go on with them.
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

    /// Wallet-initiated issuance in one call: discovers the issuer, runs the
    /// authorization code flow through `interaction` (browser and redirect),
    /// then requests the configurations like [`Self::receive`].
    pub async fn request(
        &self,
        issuer_id: &str,
        configuration_ids: &[&str],
        interaction: &dyn Interaction,
        signer: &dyn Signer,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        self.request_with(
            issuer_id,
            configuration_ids,
            interaction,
            Keys::One(signer),
            options,
        )
        .await
    }

    /// [`Self::request`] with a fresh key per credential, in batches as
    /// [`Self::receive_batch`] asks for them.
    pub async fn request_batch(
        &self,
        issuer_id: &str,
        configuration_ids: &[&str],
        interaction: &dyn Interaction,
        keys: &dyn KeySource,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        self.request_with(
            issuer_id,
            configuration_ids,
            interaction,
            Keys::Fresh(keys),
            options,
        )
        .await
    }

    async fn request_with(
        &self,
        issuer_id: &str,
        configuration_ids: &[&str],
        interaction: &dyn Interaction,
        keys: Keys<'_>,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        let observer = Observer::of(options);
        let step = self
            .start_issuance_observed(issuer_id, configuration_ids, observer)
            .await?;
        let named: Vec<String> = configuration_ids.iter().map(|s| s.to_string()).collect();
        let options = ReceiveOptions {
            credential_configuration_ids: Some(
                options
                    .credential_configuration_ids
                    .clone()
                    .unwrap_or(named),
            ),
            ..options.clone()
        };
        let ids = step
            .context
            .choose_configurations(
                &[],
                options.credential_configuration_ids.as_deref(),
                self.capabilities(),
            )?
            .request;
        let authorized = self.browser_round_trip(step, interaction, observer).await?;
        self.collect(authorized, &ids, keys, &options).await
    }

    /// Builds the authorization URL, lets `interaction` take the user through
    /// the browser, and completes with the redirect it returns.
    async fn browser_round_trip(
        &self,
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
        let pending = step.authorization_url(self, &redirect_uri).await?;
        observer.emit(|| ReceiveStage::WaitingForBrowser {
            authorization_url: pending.url().to_string(),
        });
        let redirect = interaction.authorize(pending.url()).await?;
        observer.emit(|| ReceiveStage::Token);
        pending.complete(self, &redirect).await
    }
}
