//! The async methods on the engine's states: each builds the exchange, runs
//! it through [`Wallet`] with its protection, and moves the state on.

use super::{CancelToken, Issuance, Wallet};
use crate::error::{Error, Result};
use crate::flow::authorization::{
    AuthorizationBegin, AuthorizationCodeStep, AuthorizationSecrets, PendingAuthorization,
    RequestMode,
};
use crate::flow::authorized::Authorized;
use crate::flow::credential::CredentialExchange;
use crate::flow::deferred::DeferredPoll;
use crate::flow::deferred::{DeferredPending, DeferredStatus};
use crate::flow::issued::IssuedCredential;
use crate::flow::notification::Notify;
use crate::flow::pre_authorized::PreAuthorizedStep;
use crate::flow::receive::Observer;
use crate::flow::receive::ReceiveStage;
use crate::flow::token::WithToken;
use crate::flow::{CheckReceived, DpopUse, Protection};
use crate::jose::{DpopServer, DpopState, Signer};
use crate::types::{NotificationEvent, PkceVerifier};
use std::time::Duration;

pub use crate::flow::notification::NOTIFICATION_RETRY_DELAY;

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
        let random = &*wallet.inner.engine.random;
        let secrets = AuthorizationSecrets {
            verifier: PkceVerifier::new(crate::jose::random_token(random, 32)),
            state: crate::jose::random_token(random, 16),
            dpop: match DpopState::wanted_by(&self.context.authorization_server) {
                true => Some(wallet.inner.engine.new_dpop_key()?),
                false => None,
            },
        };
        let server = self.context.authorization_server.clone();
        let step = self.with_capabilities(wallet.capabilities());
        match step.begin(wallet.require_client_id()?, redirect_uri, mode, secrets)? {
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
        let mut dpop = match DpopState::wanted_by(&self.context.authorization_server) {
            true => Some(wallet.inner.engine.new_dpop_key()?),
            false => None,
        };
        let exchange = self
            .clone()
            .with_capabilities(wallet.capabilities())
            .token_exchange(wallet.client_id())?
            .with_dpop(dpop.is_some());
        // The nonce needs no token: it goes out with the token request. Its
        // DPoP nonce (if the issuer sends one) is read into a copy of the key
        // state and kept; a failed prefetch only means the credential
        // exchange asks for a nonce itself.
        let mut nonce_dpop = dpop.clone();
        let prefetch = async {
            let fetch = self.nonce_prefetch()?;
            let protect = Protection::issuer(
                nonce_dpop.as_mut(),
                DpopUse::Observe(DpopServer::CredentialIssuer),
            );
            wallet.run_with(fetch, protect).await.ok()
        };
        let protect = wallet.protect_at(&self.context.authorization_server, dpop.as_mut());
        let (token, nonce) = tokio::join!(wallet.run_with(exchange, protect), prefetch);
        let token = token?;
        if let (Some(dpop), Some(seen)) = (dpop.as_mut(), nonce_dpop.as_ref()) {
            dpop.adopt_issuer_nonce(seen);
        }
        Ok(self
            .clone()
            .into_authorized(token, wallet.client_id(), wallet.now())
            .with_dpop(dpop)
            .with_prefetched_nonce(nonce))
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
        let attestation = wallet.attestation();
        let issuer = self.context.issuer.credential_issuer.clone();
        // The issuer's keys need nothing from the answer: fetched beside the
        // credential request when the check will most likely need them (a
        // failed fetch only means the check fetches them itself).
        let prefetch = self
            .context
            .configuration(configuration_id)
            .ok()
            .and_then(|c| {
                CheckReceived::issuer_keys_prefetch(&issuer, &c.format, &wallet.inner.engine)
            });
        let exchange = CredentialExchange::new(
            self,
            configuration_id,
            signers,
            attestation,
            wallet.inner.key_attestations.as_deref(),
            &wallet.inner.engine,
            wallet.now(),
        )?;
        let keys = async {
            let fetch = prefetch?;
            let url = fetch.url().to_string();
            let keys = wallet.run_with(fetch, Protection::none()).await.ok()?;
            Some((url, keys))
        };
        let (issued, keys) = tokio::join!(wallet.drive(exchange), keys);
        match issued {
            Ok(Issuance::Issued(list)) => match wallet.check_received(&issuer, list, keys).await {
                Ok(list) => Ok(Issuance::Issued(list)),
                Err(e) => Err(self.report_failure(wallet, e).await),
            },
            Ok(deferred) => Ok(deferred),
            Err(e) => Err(self.report_failure(wallet, e).await),
        }
    }

    /// After a failed check of issued credentials: tells the issuer
    /// `credential_failure` (naming the check) when the response had a
    /// `notification_id` and the issuer a notification endpoint, best
    /// effort; returns the error as it was.
    async fn report_failure(&mut self, wallet: &Wallet, error: Error) -> Error {
        if let Some(notify) = Notify::for_failed_check(self, &error) {
            let attestation = wallet.attestation();
            let sent = wallet.drive(WithToken::new(notify, attestation, wallet.now()));
            if let Err(e) = sent.await {
                tracing::debug!(error = %e, "credential_failure notification not delivered");
            }
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
        let attestation = wallet.attestation();
        let notify = Notify::new(self, notification_id, event, description)?;
        wallet
            .drive(WithToken::new(notify, attestation, wallet.now()))
            .await
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
        let attestation = wallet.attestation();
        let poll = WithToken::new(DeferredPoll(self), attestation, wallet.now());
        let status = match wallet.drive(poll).await {
            Ok(status) => status,
            Err(e) => return Err(self.authorized.report_failure(wallet, e).await),
        };
        match status {
            DeferredStatus::Issued(list) => {
                let issuer = self.authorized.context.issuer.credential_issuer.clone();
                match wallet.check_received(&issuer, list, None).await {
                    Ok(list) => Ok(DeferredStatus::Issued(list)),
                    Err(e) => Err(self.authorized.report_failure(wallet, e).await),
                }
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
        self.poll_until_ready_observed(wallet, deadline, cancel, Observer::NONE)
            .await
    }

    /// [`Self::poll_until_ready`], telling `observer` each wait
    /// ([`ReceiveStage::Deferred`], with the time of the next poll).
    pub(super) async fn poll_until_ready_observed(
        &mut self,
        wallet: &Wallet,
        deadline: Duration,
        cancel: Option<&CancelToken>,
        observer: Observer<'_>,
    ) -> Result<Vec<IssuedCredential>> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let remaining = end.saturating_duration_since(tokio::time::Instant::now());
            let Some(wait) = self.next_wait(remaining) else {
                return Err(Error::DeadlineExceeded);
            };
            let wake = tokio::time::Instant::now() + wait;
            observer.emit(|| ReceiveStage::Deferred {
                configuration_id: self.configuration_id().to_string(),
                next_poll_in: wait,
                next_poll_at: wallet.now().saturating_add(wait.as_secs()),
            });
            match cancel {
                Some(token) => tokio::select! {
                    _ = tokio::time::sleep_until(wake) => {}
                    _ = token.cancelled() => return Err(Error::Cancelled),
                },
                None => tokio::time::sleep_until(wake).await,
            }
            // The poll in flight is abandoned too when the token fires (its
            // connection is closed; the transaction stays pollable).
            let status = match cancel {
                Some(token) => tokio::select! {
                    status = self.poll(wallet) => status?,
                    _ = token.cancelled() => return Err(Error::Cancelled),
                },
                None => self.poll(wallet).await?,
            };
            match status {
                DeferredStatus::Pending { .. } => continue,
                DeferredStatus::Issued(list) => return Ok(list),
                DeferredStatus::Failed(error) => return Err(self.ended_error(error)),
            }
        }
    }
}
