//! Holding an access token: the session credential requests run in.

use super::credential::{CredentialExchange, Issuance};
use super::discovery::DiscoveredMetadata;
use super::driver::{run, run_at, Driver};
use super::notification::Notify;
use super::received::CheckReceived;
use super::saved::{restore_state, save_state, SavedKind};
use super::token::{TokenExchange, WithToken};
use crate::error::{Error, Result};
use crate::jose::{DpopState, Signer};
use crate::types::{
    AccessToken, AuthorizationDetail, NotificationEvent, RefreshToken, TokenResponse,
};
use serde::{Deserialize, Serialize};

/// The access token and what came with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenState {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type as sent (Bearer).
    pub token_type: String,
    /// When the token expires (seconds since the epoch), if the server said.
    pub expires_at: Option<u64>,
    /// The refresh token, if any.
    pub refresh_token: Option<RefreshToken>,
    /// Authorization details with credential identifiers.
    pub authorization_details: Vec<AuthorizationDetail>,
}

/// Holding an access token: ready to request credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorized {
    pub(crate) context: DiscoveredMetadata,
    pub(crate) offered: Vec<String>,
    pub(crate) token: TokenState,
    /// `iss` for proofs; `None` for anonymous access.
    pub(crate) client_id: Option<String>,
    /// A draft-13 `c_nonce` from the token or last credential response.
    pub(crate) c_nonce: Option<String>,
    /// The DPoP key and nonces, when the authorization server uses DPoP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dpop: Option<DpopState>,
    /// A nonce from the nonce endpoint fetched beside the token request,
    /// for the first credential request. Not saved: a restored session
    /// fetches a fresh one.
    #[serde(skip)]
    pub(crate) prefetched_nonce: Option<PrefetchedNonce>,
}

/// A nonce kept for the next proof; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PrefetchedNonce(pub(crate) String);

impl std::fmt::Debug for PrefetchedNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrefetchedNonce(<redacted>)")
    }
}

impl Authorized {
    pub(crate) fn new(
        context: DiscoveredMetadata,
        offered: Vec<String>,
        token: TokenResponse,
        client_id: Option<String>,
        now: u64,
    ) -> Self {
        Self {
            context,
            offered,
            token: TokenState {
                access_token: token.access_token,
                token_type: token.token_type,
                expires_at: token.expires_in.map(|s| now.saturating_add(s)),
                refresh_token: token.refresh_token,
                authorization_details: token.authorization_details.unwrap_or_default(),
            },
            client_id,
            c_nonce: token.c_nonce,
            dpop: None,
            prefetched_nonce: None,
        }
    }

    /// Keeps a nonce fetched from the nonce endpoint while the token was
    /// requested ([`PreAuthorizedStep::nonce_prefetch`](super::PreAuthorizedStep::nonce_prefetch)):
    /// the first credential request signs its proofs with it instead of
    /// asking for one (an `invalid_nonce` answer still gets a fresh one).
    pub fn with_prefetched_nonce(mut self, nonce: Option<String>) -> Self {
        self.prefetched_nonce = nonce.map(PrefetchedNonce);
        self
    }

    /// Attaches the DPoP key the token was requested with.
    /// Attaches the DPoP key (and nonces) the token was requested with: a
    /// driver of the engine that ran the token request with DPoP hands it
    /// over here, so that every later request proves the same key.
    pub fn with_dpop(mut self, dpop: Option<DpopState>) -> Self {
        self.dpop = dpop;
        self
    }

    /// Whether the access token is DPoP-bound (every request that presents
    /// it carries a DPoP proof of this session's key).
    pub fn uses_dpop(&self) -> bool {
        self.token.token_type.eq_ignore_ascii_case("dpop")
    }

    /// The issuer and authorization server metadata.
    pub fn context(&self) -> &DiscoveredMetadata {
        &self.context
    }

    /// The credential issuer identifier.
    pub fn issuer_id(&self) -> &str {
        self.context.issuer_id()
    }

    /// The configuration ids this authorization covers.
    pub fn credential_configuration_ids(&self) -> &[String] {
        &self.offered
    }

    /// The token and what came with it.
    pub fn token(&self) -> &TokenState {
        &self.token
    }

    /// Whether the access token has expired at `now` (seconds since the epoch).
    pub fn token_expired(&self, now: u64) -> bool {
        self.token.expires_at.is_some_and(|t| now >= t)
    }

    /// The `credential_identifier`s the token response gave for a configuration.
    pub fn credential_identifiers(&self, configuration_id: &str) -> Vec<String> {
        self.token
            .authorization_details
            .iter()
            .filter(|d| d.kind == "openid_credential")
            .filter(|d| d.credential_configuration_id.as_deref() == Some(configuration_id))
            .flat_map(|d| d.credential_identifiers.clone().unwrap_or_default())
            .collect()
    }

    /// The refresh request, when the server gave a refresh token.
    pub fn refresh_exchange(&self) -> Option<TokenExchange> {
        let refresh = self.token.refresh_token.as_ref()?;
        let endpoint = self
            .context
            .authorization_server
            .token_endpoint
            .as_deref()?;
        Some(
            TokenExchange::refresh(endpoint, refresh, self.client_id.as_deref())
                .with_dpop(self.dpop.is_some()),
        )
    }

    /// Takes in a refreshed token (keeping the refresh token and
    /// authorization details when the response repeats neither).
    pub fn apply_refresh(&mut self, token: TokenResponse, now: u64) {
        self.token.access_token = token.access_token;
        self.token.token_type = token.token_type;
        self.token.expires_at = token.expires_in.map(|s| now.saturating_add(s));
        if token.refresh_token.is_some() {
            self.token.refresh_token = token.refresh_token;
        }
        if let Some(details) = token.authorization_details {
            self.token.authorization_details = details;
        }
        if token.c_nonce.is_some() {
            self.c_nonce = token.c_nonce;
        }
    }

    /// The `Authorization` header value: `DPoP <token>` for a DPoP-bound
    /// token, else `Bearer <token>`.
    pub(crate) fn authorization_header(&self) -> String {
        let scheme = if self.uses_dpop() { "DPoP" } else { "Bearer" };
        format!("{scheme} {}", self.token.access_token.secret())
    }

    /// Saves the state as JSON (it contains the access token: store it securely).
    pub fn to_json(&self) -> Result<String> {
        save_state(SavedKind::Authorized, self)
    }

    /// Restores a state saved with [`Self::to_json`]. Fails with
    /// [`crate::Error::InvalidState`] naming what is wrong when the JSON is not a
    /// saved authorized session.
    pub fn from_json(json: &str) -> Result<Self> {
        restore_state(SavedKind::Authorized, json)
    }
}

impl Authorized {
    /// Requests one credential of `configuration_id`, bound to `signer`'s key
    /// when the configuration needs key binding (fresh nonce, proof JWT).
    pub async fn request_credential<D: Driver>(
        &mut self,
        driver: &D,
        configuration_id: &str,
        signer: &dyn Signer,
    ) -> Result<Issuance> {
        self.request_credentials(driver, configuration_id, &[signer])
            .await
    }

    /// Requests a batch: one credential per signer (distinct keys, at most the
    /// issuer's `batch_size`). Credentials are matched to keys by `cnf`, not by
    /// position. What is issued is checked ([`CheckReceived`]); a failed check
    /// is told to the issuer ([`Notify::for_failed_check`]).
    pub async fn request_credentials<D: Driver>(
        &mut self,
        driver: &D,
        configuration_id: &str,
        signers: &[&dyn Signer],
    ) -> Result<Issuance> {
        let config = driver.config();
        let issuer = self.context.issuer.credential_issuer.clone();
        // The issuer's keys need nothing from the answer: fetched beside the
        // credential request when the check will most likely need them (a
        // failed fetch only means the check fetches them itself).
        let prefetch = self
            .context
            .configuration(configuration_id)
            .ok()
            .and_then(|c| CheckReceived::issuer_keys_prefetch(&issuer, &c.format, config));
        let exchange = CredentialExchange::new(
            self,
            configuration_id,
            signers,
            driver.attestation(),
            driver.key_attestations(),
            config,
            driver.now(),
        )?;
        let keys = async {
            let fetch = prefetch?;
            let url = fetch.url().to_string();
            Some((url, run(driver, fetch).await.ok()?))
        };
        let (issued, keys) = tokio::join!(driver.drive(exchange), keys);
        match issued {
            Ok(Issuance::Issued(list)) => {
                match CheckReceived::run(driver, &issuer, list, keys).await {
                    Ok(list) => Ok(Issuance::Issued(list)),
                    Err(e) => Err(self.report_failure(driver, e).await),
                }
            }
            Ok(deferred) => Ok(deferred),
            Err(e) => Err(self.report_failure(driver, e).await),
        }
    }

    /// After a failed check of issued credentials: tells the issuer
    /// `credential_failure` (naming the check) when the response had a
    /// `notification_id` and the issuer a notification endpoint, best
    /// effort; returns the error as it was.
    pub(crate) async fn report_failure<D: Driver>(&mut self, driver: &D, error: Error) -> Error {
        if let Some(notify) = Notify::for_failed_check(self, &error) {
            let sent = driver.drive(WithToken::new(notify, driver.attestation(), driver.now()));
            if let Err(e) = sent.await {
                tracing::debug!(error = %e, "credential_failure notification not delivered");
            }
        }
        error
    }

    /// Refreshes the access token now (needs a refresh token).
    pub async fn refresh<D: Driver>(&mut self, driver: &D) -> Result<()> {
        let exchange = self.refresh_exchange().ok_or_else(|| {
            Error::InvalidState("no refresh token to refresh the access token with".into())
        })?;
        let server = &self.context.authorization_server;
        let token = run_at(driver, exchange, server, self.dpop.as_mut()).await?;
        self.apply_refresh(token, driver.now());
        Ok(())
    }

    /// Tells the issuer what became of a credential (`notification_id` from
    /// [`IssuedCredential::notification_id`](super::IssuedCredential::notification_id)).
    /// Refreshes the access token
    /// first when it has expired (or once after `invalid_token`), and retries
    /// once after a 5xx or a transport failure.
    pub async fn notify<D: Driver>(
        &mut self,
        driver: &D,
        notification_id: &str,
        event: NotificationEvent,
    ) -> Result<()> {
        self.notify_with_description(driver, notification_id, event, None)
            .await
    }

    /// [`Self::notify`] with an `event_description` (printable ASCII).
    pub async fn notify_with_description<D: Driver>(
        &mut self,
        driver: &D,
        notification_id: &str,
        event: NotificationEvent,
        description: Option<&str>,
    ) -> Result<()> {
        let notify = Notify::new(self, notification_id, event, description)?;
        let attestation = driver.attestation();
        driver
            .drive(WithToken::new(notify, attestation, driver.now()))
            .await
    }
}
