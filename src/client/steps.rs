//! The async methods on the engine's states: each builds the exchange, runs
//! it through [`Wallet`] with its protection, and moves the state on.

use super::drive::is_invalid_token;
use super::{CancelToken, Issuance, Wallet};
use crate::error::{display_url, Endpoint, Error, Result};
use crate::flow::authorization::{
    AuthorizationBegin, AuthorizationCodeStep, AuthorizationSecrets, PendingAuthorization,
    RequestMode,
};
use crate::flow::credential::{
    CredentialOutcome, DeferredPending, DeferredStatus, IssuedCredential, MAX_NONCE_RETRIES,
};
use crate::flow::protection::{DpopUse, Prepared, Protection};
use crate::flow::session::{Authorized, PreAuthorizedStep};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::{build_proof_jwt, DpopServer, DpopState, Signer};
use crate::types::{NotificationEvent, PkceVerifier};
use std::time::Duration;

/// The pause before the one retry of a notification that failed with a 5xx
/// or a transport error.
pub const NOTIFICATION_RETRY_DELAY: Duration = Duration::from_secs(1);

impl AuthorizationCodeStep {
    /// Builds the authorization request (PKCE S256, `state`, `issuer_state`,
    /// `scope` or `authorization_details` as the configurations allow), pushes
    /// it when the server offers PAR, and returns the pending authorization
    /// whose [`PendingAuthorization::url`] the app opens in the browser.
    pub async fn authorization_url(
        self,
        wallet: &Wallet,
        redirect_uri: &str,
    ) -> Result<PendingAuthorization> {
        self.authorization_url_with(wallet, redirect_uri, RequestMode::Auto)
            .await
    }

    /// [`Self::authorization_url`] choosing `scope` or `authorization_details`.
    pub async fn authorization_url_with(
        self,
        wallet: &Wallet,
        redirect_uri: &str,
        mode: RequestMode,
    ) -> Result<PendingAuthorization> {
        let secrets = AuthorizationSecrets {
            verifier: PkceVerifier::new(crate::jose::random_token(32)),
            state: crate::jose::random_token(16),
            dpop: DpopState::wanted_by(&self.context.authorization_server)
                .then(DpopState::generate),
        };
        let server = self.context.authorization_server.clone();
        match self.begin(wallet.require_client_id()?, redirect_uri, mode, secrets)? {
            AuthorizationBegin::Ready(pending) => Ok(pending),
            AuthorizationBegin::Pushed(mut par) => {
                let mut dpop = par.take_dpop();
                let protect = wallet.protect_at(&server, dpop.as_mut());
                let pending = wallet.run_with(par, protect).await?;
                Ok(pending.restore_dpop(dpop))
            }
        }
    }
}

impl PendingAuthorization {
    /// Checks the redirect URL the browser came back with (`state`, `iss`,
    /// `error`) and exchanges the code. Nothing is sent if a check fails.
    pub async fn complete(mut self, wallet: &Wallet, redirect_url: &str) -> Result<Authorized> {
        let exchange = self.callback(redirect_url)?;
        let protect = wallet.protect_at(&self.context.authorization_server, self.dpop.as_mut());
        let token = wallet.run_with(exchange, protect).await?;
        Ok(self.into_authorized(token, wallet.now()))
    }
}

impl PreAuthorizedStep {
    /// Sends the token request (with the transaction code, if the offer has one,
    /// and a DPoP proof of a fresh key when the authorization server uses DPoP).
    /// Keep a clone of the step to retry after a mistyped code.
    pub async fn authorize(&self, wallet: &Wallet) -> Result<Authorized> {
        let mut dpop =
            DpopState::wanted_by(&self.context.authorization_server).then(DpopState::generate);
        let exchange = self
            .token_exchange(wallet.client_id())?
            .with_dpop(dpop.is_some());
        let protect = wallet.protect_at(&self.context.authorization_server, dpop.as_mut());
        let token = wallet.run_with(exchange, protect).await?;
        Ok(self
            .clone()
            .into_authorized(token, wallet.client_id(), wallet.now())
            .with_dpop(dpop))
    }
}

impl Authorized {
    /// Requests one credential of `configuration_id`, bound to `signer`'s key
    /// when the configuration needs key binding (fresh nonce, proof JWT).
    pub async fn request_credential(
        &mut self,
        wallet: &Wallet,
        configuration_id: &str,
        signer: &dyn Signer,
    ) -> Result<Issuance> {
        self.request_credentials(wallet, configuration_id, &[signer])
            .await
    }

    /// Requests a batch: one credential per signer (distinct keys, at most the
    /// issuer's `batch_size`). Credentials are matched to keys by `cnf`, not by
    /// position.
    pub async fn request_credentials(
        &mut self,
        wallet: &Wallet,
        configuration_id: &str,
        signers: &[&dyn Signer],
    ) -> Result<Issuance> {
        let plan = self.plan_credential(configuration_id, signers)?;
        self.refresh_if_expired(wallet).await?;
        let mut given_nonce = None;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let mut proofs = Vec::new();
            if plan.needs_proofs() {
                let nonce = match (given_nonce.take(), self.nonce_exchange()) {
                    (Some(n), _) => Some(n),
                    (None, Some(exchange)) => {
                        let observe = DpopUse::Observe(DpopServer::CredentialIssuer);
                        let protect = Protection::issuer(self.dpop.as_mut(), observe);
                        Some(wallet.run_with(exchange, protect).await?)
                    }
                    (None, None) => None,
                };
                let claims = self.proof_claims(nonce, wallet.now());
                for signer in signers {
                    proofs.push(build_proof_jwt(*signer, &claims)?);
                }
            }
            let request = plan.seal_request(self.credential_request(&plan, proofs))?;
            let response = self
                .send_authorized(wallet, Endpoint::Credential, request)
                .await?;
            let outcome = match self.handle_credential_response(&plan, response) {
                Err(e)
                    if !refreshed && is_invalid_token(&e) && self.refresh_exchange().is_some() =>
                {
                    refreshed = true;
                    self.refresh(wallet).await?;
                    continue;
                }
                Err(e) => return Err(self.report_failure(wallet, e).await),
                Ok(outcome) => outcome,
            };
            match outcome {
                CredentialOutcome::Issued(mut list) => {
                    if let Err(e) = wallet.verify_signatures(&mut list).await {
                        return Err(self.report_failure(wallet, e).await);
                    }
                    return Ok(Issuance::Issued(list));
                }
                CredentialOutcome::Deferred(pending) => return Ok(Issuance::Deferred(pending)),
                CredentialOutcome::InvalidNonce(fresh) => {
                    if let Some(n) = &fresh {
                        self.c_nonce = Some(n.clone());
                    }
                    if attempt == MAX_NONCE_RETRIES
                        || (fresh.is_none() && self.nonce_exchange().is_none())
                    {
                        break;
                    }
                    attempt += 1;
                    given_nonce = fresh;
                }
            }
        }
        Err(Error::Server {
            endpoint: Endpoint::Credential,
            url: display_url(&self.context.issuer.credential_endpoint),
            status: 400,
            error: crate::error::ServerError {
                code: crate::error::ErrorCode::InvalidNonce,
                description: Some(format!("nonce rejected {} times", MAX_NONCE_RETRIES + 1)),
            },
        })
    }

    /// After a failed check of issued credentials: tells the issuer
    /// `credential_failure` (naming the check) when the response had a
    /// `notification_id` and the issuer a notification endpoint, best
    /// effort; returns the error as it was.
    async fn report_failure(&mut self, wallet: &Wallet, error: Error) -> Error {
        let Error::CredentialCheck(rejection) = &error else {
            return error;
        };
        let Some(id) = rejection.notification_id.clone() else {
            return error;
        };
        if self.context.issuer.notification_endpoint.is_none() {
            return error;
        }
        let description = event_description(&rejection.problem);
        if let Err(e) = self
            .notify_with_description(
                wallet,
                &id,
                NotificationEvent::CredentialFailure,
                Some(&description),
            )
            .await
        {
            tracing::debug!(error = %e, "credential_failure notification not delivered");
        }
        error
    }

    /// Refreshes the access token now (needs a refresh token).
    pub async fn refresh(&mut self, wallet: &Wallet) -> Result<()> {
        let exchange = self.refresh_exchange().ok_or_else(|| {
            Error::InvalidState("no refresh token to refresh the access token with".into())
        })?;
        let protect = wallet.protect_at(&self.context.authorization_server, self.dpop.as_mut());
        let token = wallet.run_with(exchange, protect).await?;
        self.apply_refresh(token, wallet.now());
        Ok(())
    }

    /// Sends a request that presents the access token: with a DPoP proof
    /// (`ath`, the issuer's nonce) when the token is DPoP-bound.
    async fn send_authorized(
        &mut self,
        wallet: &Wallet,
        endpoint: Endpoint,
        request: HttpRequest,
    ) -> Result<HttpResponse> {
        if !self.uses_dpop() {
            return wallet.send(endpoint, request).await;
        }
        let token = self.token.access_token.clone();
        let dpop = self.dpop.as_mut().ok_or_else(|| {
            Error::InvalidState(
                "the access token is DPoP-bound but the session has no DPoP key".into(),
            )
        })?;
        let how = DpopUse::Prove(DpopServer::CredentialIssuer, Some(&token));
        let protection = Protection::issuer(Some(dpop), how);
        wallet
            .run_with(Prepared::new(endpoint, request), protection)
            .await
    }

    async fn refresh_if_expired(&mut self, wallet: &Wallet) -> Result<()> {
        if self.token_expired(wallet.now()) && self.refresh_exchange().is_some() {
            self.refresh(wallet).await?;
        }
        Ok(())
    }

    /// Tells the issuer what became of a credential (`notification_id` from
    /// [`IssuedCredential::notification_id`]). Refreshes the access token
    /// first when it has expired (or once after `invalid_token`), and retries
    /// once after a 5xx or a transport failure.
    pub async fn notify(
        &mut self,
        wallet: &Wallet,
        notification_id: &str,
        event: NotificationEvent,
    ) -> Result<()> {
        self.notify_with_description(wallet, notification_id, event, None)
            .await
    }

    /// [`Self::notify`] with an `event_description` (printable ASCII).
    pub async fn notify_with_description(
        &mut self,
        wallet: &Wallet,
        notification_id: &str,
        event: NotificationEvent,
        description: Option<&str>,
    ) -> Result<()> {
        self.refresh_if_expired(wallet).await?;
        match self
            .send_notification(wallet, notification_id, event, description)
            .await
        {
            Err(e) if is_invalid_token(&e) && self.refresh_exchange().is_some() => {
                self.refresh(wallet).await?;
                self.send_notification(wallet, notification_id, event, description)
                    .await
            }
            other => other,
        }
    }

    async fn send_notification(
        &mut self,
        wallet: &Wallet,
        notification_id: &str,
        event: NotificationEvent,
        description: Option<&str>,
    ) -> Result<()> {
        let request = self.notification_request(notification_id, event, description)?;
        // A notification is safe to repeat: one retry after a 5xx or a
        // transport failure, a second later.
        let first = match self
            .send_authorized(wallet, Endpoint::Notification, request.clone())
            .await
        {
            Ok(response) if response.status < 500 => {
                return self.handle_notification_response(&response)
            }
            Ok(response) => self.handle_notification_response(&response),
            Err(e) => Err(e),
        };
        tracing::debug!("notification failed, retrying once");
        tokio::time::sleep(NOTIFICATION_RETRY_DELAY).await;
        match self
            .send_authorized(wallet, Endpoint::Notification, request)
            .await
        {
            Ok(response) => self.handle_notification_response(&response),
            Err(_) => first,
        }
    }
}

impl DeferredPending {
    /// The authorization, with the newest tokens, for further requests.
    pub fn into_authorized(self) -> Authorized {
        self.authorized
    }

    /// [`Authorized::notify`] with this transaction's (newest) tokens.
    pub async fn notify(
        &mut self,
        wallet: &Wallet,
        notification_id: &str,
        event: NotificationEvent,
    ) -> Result<()> {
        self.authorized.notify(wallet, notification_id, event).await
    }

    /// Polls once (refreshing the access token first when it has expired, or
    /// once after an `invalid_token` answer, when there is a refresh token).
    pub async fn poll(&mut self, wallet: &Wallet) -> Result<DeferredStatus> {
        self.authorized.refresh_if_expired(wallet).await?;
        let mut refreshed = false;
        let status = loop {
            let request = self.poll_request()?;
            let response = self
                .authorized
                .send_authorized(wallet, Endpoint::Deferred, request)
                .await?;
            match self.handle_poll_response(response) {
                Err(e)
                    if !refreshed
                        && is_invalid_token(&e)
                        && self.authorized.refresh_exchange().is_some() =>
                {
                    refreshed = true;
                    self.authorized.refresh(wallet).await?;
                }
                Err(e) => return Err(self.authorized.report_failure(wallet, e).await),
                Ok(status) => break status,
            }
        };
        match status {
            DeferredStatus::Issued(mut list) => {
                if let Err(e) = wallet.verify_signatures(&mut list).await {
                    return Err(self.authorized.report_failure(wallet, e).await);
                }
                Ok(DeferredStatus::Issued(list))
            }
            other => Ok(other),
        }
    }

    /// Waits the issuer's interval (at least one second), polls, and repeats
    /// until issued, failed, past `deadline` from now, or cancelled. Returns
    /// [`Error::DeadlineExceeded`] without waiting when the next interval would
    /// end past the deadline.
    pub async fn poll_until_ready(
        &mut self,
        wallet: &Wallet,
        deadline: Duration,
        cancel: Option<&CancelToken>,
    ) -> Result<Vec<IssuedCredential>> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let wait = self.interval().max(Duration::from_secs(1));
            let wake = tokio::time::Instant::now()
                .checked_add(wait)
                .filter(|w| *w <= end);
            let Some(wake) = wake else {
                return Err(Error::DeadlineExceeded);
            };
            match cancel {
                Some(token) => tokio::select! {
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = token.cancelled() => return Err(Error::Cancelled),
                },
                None => tokio::time::sleep_until(wake).await,
            }
            match self.poll(wallet).await? {
                DeferredStatus::Pending { .. } => continue,
                DeferredStatus::Issued(list) => return Ok(list),
                DeferredStatus::Failed(error) => {
                    return Err(Error::Server {
                        endpoint: Endpoint::Deferred,
                        url: display_url(
                            self.authorized
                                .context
                                .issuer
                                .deferred_credential_endpoint
                                .as_deref()
                                .unwrap_or_default(),
                        ),
                        status: 400,
                        error,
                    })
                }
            }
        }
    }
}

/// An `event_description` for a failed check: printable ASCII without `"`
/// and `\`, at most 200 characters.
fn event_description(problem: &str) -> String {
    let text: String = problem
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .take(200)
        .collect();
    format!("wallet check failed: {text}")
}
