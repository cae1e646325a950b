//! One call from an offer (or an issuer) to credentials: [`Wallet::receive`]
//! and [`Wallet::request`], with the app's [`Interaction`].

use super::{Issuance, Wallet};
use crate::error::{Error, Result};
use crate::flow::authorization::AuthorizationCodeStep;
use crate::flow::authorized::Authorized;
use crate::flow::issued::IssuedCredential;
use crate::flow::offer::Grant;
use crate::http::BoxFuture;
use crate::jose::Signer;
use crate::types::{TxCode, TxCodeSpec};
use std::time::Duration;

/// Options of [`Wallet::receive`].
#[derive(Debug, Clone)]
pub struct ReceiveOptions {
    /// Which offered configurations to request (default: all).
    pub credential_configuration_ids: Option<Vec<String>>,
    /// How long to wait for deferred credentials (default 5 minutes).
    pub deferred_deadline: Duration,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        Self {
            credential_configuration_ids: None,
            deferred_deadline: Duration::from_secs(300),
        }
    }
}

/// Configurations left out, with the reason.
type NotRequested = Vec<(String, String)>;

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
    /// needed, requests each credential with `signer`, and waits for deferred
    /// ones up to the options' deadline.
    pub async fn receive(
        &self,
        offer_url: &str,
        interaction: &dyn Interaction,
        signer: &dyn Signer,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        let offer = self.resolve_offer(offer_url).await?;
        let offered: Vec<String> = offer
            .credentials()
            .iter()
            .map(|c| c.id.to_string())
            .collect();
        let (ids, not_requested) = self.issuable(offer.context(), &offered, options)?;
        let authorized = match offer.grant()? {
            Grant::PreAuthorized(mut step) => {
                if let Some(spec) = step.tx_code_spec().cloned() {
                    step = step.with_tx_code(interaction.tx_code(&spec).await?);
                }
                step.authorize(self).await?
            }
            Grant::AuthorizationCode(step) => self.browser_round_trip(step, interaction).await?,
        };
        let mut received = self.collect(authorized, &ids, signer, options).await?;
        received.not_requested = not_requested;
        Ok(received)
    }

    /// What to request, decided before anything is spent (SPEC A16): the
    /// configurations named in `options`, each of which this wallet must be
    /// able to finish, or else every offered one it can finish (the others
    /// come back with the reason). An error when nothing can be finished.
    fn issuable(
        &self,
        context: &crate::flow::discovery::DiscoveredMetadata,
        offered: &[String],
        options: &ReceiveOptions,
    ) -> Result<(Vec<String>, NotRequested)> {
        let capabilities = self.capabilities();
        if let Some(named) = &options.credential_configuration_ids {
            for id in named {
                context.can_issue(id, capabilities)?;
            }
            return Ok((named.clone(), Vec::new()));
        }
        context.can_issue_any(offered, capabilities)?;
        let (mut ids, mut skipped) = (Vec::new(), Vec::new());
        for id in offered {
            match context.can_issue(id, capabilities) {
                Ok(()) => ids.push(id.clone()),
                Err(e) => skipped.push((id.clone(), e.to_string())),
            }
        }
        Ok((ids, skipped))
    }

    /// Requests the configurations `ids` and waits for deferred ones.
    async fn collect(
        &self,
        mut authorized: Authorized,
        ids: &[String],
        signer: &dyn Signer,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        let mut credentials = Vec::new();
        for id in ids {
            match authorized.request_credential(self, id, signer).await? {
                Issuance::Issued(list) => credentials.extend(list),
                Issuance::Deferred(mut pending) => credentials.extend(
                    pending
                        .poll_until_ready(self, options.deferred_deadline, None)
                        .await?,
                ),
            }
        }
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
        let step = self.start_issuance(issuer_id, configuration_ids).await?;
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
        let (ids, _) = self.issuable(&step.context, &[], &options)?;
        let authorized = self.browser_round_trip(step, interaction).await?;
        self.collect(authorized, &ids, signer, &options).await
    }

    /// Builds the authorization URL, lets `interaction` take the user through
    /// the browser, and completes with the redirect it returns.
    async fn browser_round_trip(
        &self,
        step: AuthorizationCodeStep,
        interaction: &dyn Interaction,
    ) -> Result<Authorized> {
        let redirect_uri = interaction.redirect_uri().ok_or_else(|| {
            Error::Config(
                "this offer needs the authorization code flow, and the Interaction gives no redirect_uri"
                    .into(),
            )
        })?;
        let pending = step.authorization_url(self, &redirect_uri).await?;
        let redirect = interaction.authorize(pending.url()).await?;
        pending.complete(self, &redirect).await
    }
}
