//! One call from an offer (or an issuer) to credentials: [`Wallet::receive`]
//! and [`Wallet::request`] with one key, [`Wallet::receive_batch`] and
//! [`Wallet::request_batch`] with a fresh key per credential from a
//! [`KeySource`]; the app's [`Interaction`] (PIN screen, browser), and the
//! stages it may watch ([`ProgressObserver`], [`ReceiveStage`]).

use super::{Issuance, Wallet};
use crate::error::{Error, Result};
use crate::flow::authorization::AuthorizationCodeStep;
use crate::flow::authorized::Authorized;
use crate::flow::offer::Grant;
use crate::flow::receive::{Observer, ReceiveOptions, ReceiveStage, Received};
use crate::http::BoxFuture;
use crate::jose::{fresh_keys, KeySource, Signer};
use crate::types::{TxCode, TxCodeSpec};
use std::sync::Arc;

/// The keys of a one-call issuance: the app's one signer, or a fresh key
/// per credential.
#[derive(Clone, Copy)]
enum Keys<'a> {
    One(&'a dyn Signer),
    Fresh(&'a dyn KeySource),
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
    /// [`crate::IssuedCredential::holder_jwk`]. An issuer without
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
        let options = options.requesting(configuration_ids);
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
