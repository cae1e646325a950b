//! The credential exchange of one request, as the protocol links it: refresh
//! an expired access token first, fetch a fresh `c_nonce` (nonce endpoint),
//! sign the proofs, send the (sealed) credential request with its DPoP proof,
//! and answer what comes back: `use_dpop_nonce` once, `invalid_nonce` with a
//! new nonce and new proofs at most [`MAX_NONCE_RETRIES`] times, and
//! `invalid_token` with one refresh. A [`Flow`]: any driver runs it.

use super::credential::{
    CredentialOutcome, CredentialPlan, DeferredPending, IssuedCredential, ProofType,
};
use super::protection::{AttestationChallenges, DpopUse, Guard, Protection, Verdict};
use super::session::Authorized;
use super::token::TokenExchange;
use super::{EngineConfig, Exchange, Flow, Progress, MAX_EXCHANGE_ROUNDS};
use crate::error::{display_url, Endpoint, Error, ErrorCode, Result, ServerError};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::{
    build_proof_jwt_with, ClientAttestation, DpopServer, KeyAttestationProvider,
    KeyAttestationRequest, Signer,
};

pub use super::credential::MAX_NONCE_RETRIES;

/// The result of a credential request.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once, not stored in bulk
pub enum Issuance {
    /// Issued now.
    Issued(Vec<IssuedCredential>),
    /// Issued later: poll it.
    Deferred(DeferredPending),
}

/// What the exchange is waiting for.
enum Step {
    /// A token refresh, then the credential request from the start.
    Refresh(TokenExchange),
    /// A fresh `c_nonce` from the nonce endpoint.
    Nonce(super::credential::NonceExchange),
    /// The credential request (built once per nonce, resent as it is after
    /// a DPoP nonce challenge).
    Credential(Option<HttpRequest>),
}

/// One credential request run to its end. Holds the authorization (its
/// tokens, nonce and DPoP state are updated as the exchange goes), the
/// signers of the proofs and the wallet attestation for refreshes.
pub struct CredentialExchange<'a> {
    authorized: &'a mut Authorized,
    plan: CredentialPlan,
    signers: &'a [&'a dyn Signer],
    attestation: Option<(&'a ClientAttestation, &'a AttestationChallenges)>,
    key_attestations: Option<&'a dyn KeyAttestationProvider>,
    step: Step,
    nonce: Option<String>,
    nonce_attempts: usize,
    refreshed: bool,
    guard: Guard,
    rounds: usize,
}

impl<'a> CredentialExchange<'a> {
    /// Plans the request of `configuration_id` bound to `signers`' keys
    /// (see [`Authorized::plan_credential`]); nothing is sent yet.
    pub fn new(
        authorized: &'a mut Authorized,
        configuration_id: &str,
        signers: &'a [&'a dyn Signer],
        attestation: Option<(&'a ClientAttestation, &'a AttestationChallenges)>,
        key_attestations: Option<&'a dyn KeyAttestationProvider>,
        config: &EngineConfig,
        now: u64,
    ) -> Result<Self> {
        if authorized.uses_dpop() && authorized.dpop.is_none() {
            return Err(Error::InvalidState(
                "the access token is DPoP-bound but the session has no DPoP key".into(),
            ));
        }
        let capabilities = super::Capabilities {
            key_attestations: key_attestations.is_some(),
        };
        let plan =
            authorized.plan_credential(configuration_id, signers, &*config.random, capabilities)?;
        let mut exchange = Self {
            authorized,
            plan,
            signers,
            attestation,
            key_attestations,
            step: Step::Credential(None),
            nonce: None,
            nonce_attempts: 0,
            refreshed: false,
            guard: Guard::default(),
            rounds: 0,
        };
        exchange.step = match exchange.authorized.refresh_exchange() {
            Some(refresh) if exchange.authorized.token_expired(now) => Step::Refresh(refresh),
            _ => exchange.first_step(),
        };
        Ok(exchange)
    }

    /// The nonce endpoint when proofs need a fresh nonce and none was given,
    /// else the credential request.
    fn first_step(&self) -> Step {
        match self.authorized.nonce_exchange() {
            Some(fetch) if self.plan.needs_proofs() && self.nonce.is_none() => Step::Nonce(fetch),
            _ => Step::Credential(None),
        }
    }

    fn go(&mut self, step: Step) -> Result<()> {
        self.rounds += 1;
        // Each step of the exchange is bounded on its own; this bounds their
        // sequence (refresh, nonce, request, one refresh, nonce retries).
        if self.rounds > 4 * (MAX_NONCE_RETRIES + 2) * MAX_EXCHANGE_ROUNDS {
            return Err(Error::InvalidState(
                "credential exchange did not settle".into(),
            ));
        }
        self.step = step;
        self.guard.reset();
        Ok(())
    }

    /// The credential request with fresh proofs over the current nonce.
    fn build_request(&mut self, config: &EngineConfig, now: u64) -> Result<HttpRequest> {
        let mut proofs = Vec::new();
        if self.plan.needs_proofs() {
            let claims = self.authorized.proof_claims(self.nonce.take(), now);
            let key_attestation = match (self.plan.key_attestation, self.key_attestations) {
                (false, _) => None,
                (true, Some(provider)) => Some(
                    provider
                        .key_attestation(&KeyAttestationRequest::new(
                            &self.plan.holder_jwks,
                            claims.nonce.as_deref(),
                            self.authorized.issuer_id(),
                            self.authorized
                                .context()
                                .configuration(&self.plan.configuration_id)
                                .ok()
                                .and_then(|c| c.proof_types_supported.as_ref()?.get("jwt"))
                                .and_then(|jwt| jwt.key_attestations_required.as_ref()),
                        ))
                        .map_err(|e| {
                            Error::proof(
                                crate::error::ProofErrorKind::SignerFailed,
                                format!("key attestation: {e}"),
                            )
                        })?,
                ),
                (true, None) => {
                    return Err(Error::proof(
                        crate::error::ProofErrorKind::KeyAttestationRequired,
                        "the issuer requires key attestations and the wallet has no provider",
                    ))
                }
            };
            match (self.plan.proof_type, key_attestation) {
                // The attestation proof type: the key attestation (with the
                // c_nonce) is the proof of all the keys.
                (ProofType::Attestation, Some(attestation)) => proofs.push(attestation),
                (_, key_attestation) => {
                    for signer in self.signers {
                        proofs.push(build_proof_jwt_with(
                            *signer,
                            &claims,
                            key_attestation.as_deref(),
                        )?);
                    }
                }
            }
        }
        let request = self.authorized.credential_request(&self.plan, proofs);
        self.plan.seal_request(request, &*config.random)
    }

    fn nonce_rejected(&self, status: u16) -> Error {
        Error::Server {
            endpoint: Endpoint::Credential,
            url: display_url(&self.authorized.context.issuer.credential_endpoint),
            status,
            error: ServerError {
                code: ErrorCode::InvalidNonce,
                description: Some(format!("nonce rejected {} times", MAX_NONCE_RETRIES + 1)),
            },
        }
    }
}

/// The protection of the step's requests, borrowed from the authorization
/// for one call.
fn protection<'p>(
    authorized: &'p mut Authorized,
    step: &Step,
    attestation: Option<(&'p ClientAttestation, &'p AttestationChallenges)>,
) -> Protection<'p> {
    let Authorized {
        dpop,
        token,
        context,
        ..
    } = authorized;
    match step {
        Step::Refresh(_) => Protection::authorization_server(
            &context.authorization_server,
            dpop.as_mut(),
            attestation,
        ),
        Step::Nonce(_) => Protection::issuer(
            dpop.as_mut(),
            DpopUse::Observe(DpopServer::CredentialIssuer),
        ),
        Step::Credential(_) => {
            let bound = dpop
                .as_mut()
                .filter(|_| token.token_type.eq_ignore_ascii_case("dpop"));
            Protection::issuer(
                bound,
                DpopUse::Prove(DpopServer::CredentialIssuer, Some(&token.access_token)),
            )
        }
    }
}

impl Flow for CredentialExchange<'_> {
    type Output = Issuance;

    fn prepare_request(
        &mut self,
        config: &EngineConfig,
        now: u64,
    ) -> Result<(Endpoint, HttpRequest)> {
        if let Step::Credential(None) = self.step {
            let request = self.build_request(config, now)?;
            self.step = Step::Credential(Some(request));
        }
        let protection = protection(self.authorized, &self.step, self.attestation);
        match &self.step {
            Step::Refresh(refresh) => self.guard.prepare(
                &protection,
                Endpoint::Token,
                || refresh.prepare_request(config),
                config,
                now,
            ),
            Step::Nonce(fetch) => self.guard.prepare(
                &protection,
                Endpoint::Nonce,
                || fetch.prepare_request(config),
                config,
                now,
            ),
            Step::Credential(request) => {
                let request = request.clone().ok_or_else(|| {
                    Error::InvalidState("the credential request was not built".into())
                })?;
                self.guard.prepare(
                    &protection,
                    Endpoint::Credential,
                    || Ok(request),
                    config,
                    now,
                )
            }
        }
    }

    fn handle_response(
        mut self,
        response: HttpResponse,
        config: &EngineConfig,
        now: u64,
    ) -> Result<Progress<Self, Issuance>> {
        let endpoint = match self.step {
            Step::Refresh(_) => Endpoint::Token,
            Step::Nonce(_) => Endpoint::Nonce,
            Step::Credential(_) => Endpoint::Credential,
        };
        let mut protection = protection(self.authorized, &self.step, self.attestation);
        let response = match self
            .guard
            .observe(&mut protection, endpoint, response, config)?
        {
            Verdict::Resend => return Ok(Progress::Again(self)),
            Verdict::Pass(response) => response,
        };
        match std::mem::replace(&mut self.step, Step::Credential(None)) {
            Step::Refresh(refresh) => match refresh.handle_response(response, config)? {
                Progress::Done(token) => {
                    self.authorized.apply_refresh(token, now);
                    let next = self.first_step();
                    self.go(next)?;
                }
                Progress::Again(again) => self.go(Step::Refresh(again))?,
            },
            Step::Nonce(fetch) => match fetch.handle_response(response, config)? {
                Progress::Done(nonce) => {
                    self.nonce = Some(nonce);
                    self.go(Step::Credential(None))?;
                }
                Progress::Again(again) => self.go(Step::Nonce(again))?,
            },
            Step::Credential(_) => {
                let status = response.status;
                match self
                    .authorized
                    .handle_credential_response(&self.plan, response)
                {
                    Err(e) if !self.refreshed && is_invalid_token(&e) => {
                        let Some(refresh) = self.authorized.refresh_exchange() else {
                            return Err(e);
                        };
                        self.refreshed = true;
                        self.go(Step::Refresh(refresh))?;
                    }
                    Err(e) => return Err(e),
                    Ok(CredentialOutcome::Issued(list)) => {
                        return Ok(Progress::Done(Issuance::Issued(list)))
                    }
                    Ok(CredentialOutcome::Deferred(pending)) => {
                        return Ok(Progress::Done(Issuance::Deferred(pending)))
                    }
                    Ok(CredentialOutcome::InvalidNonce(fresh)) => {
                        if let Some(n) = &fresh {
                            self.authorized.c_nonce = Some(n.clone());
                        }
                        if self.nonce_attempts == MAX_NONCE_RETRIES
                            || (fresh.is_none() && self.authorized.nonce_exchange().is_none())
                        {
                            return Err(self.nonce_rejected(status));
                        }
                        self.nonce_attempts += 1;
                        self.nonce = fresh;
                        let next = self.first_step();
                        self.go(next)?;
                    }
                }
            }
        }
        Ok(Progress::Again(self))
    }
}

/// An `invalid_token` answer (401) from a resource endpoint.
pub(crate) fn is_invalid_token(e: &Error) -> bool {
    matches!(e, Error::Server { status: 401, error, .. } if error.code == ErrorCode::InvalidToken)
}

/// A request that presents the access token, other than the credential
/// request: a deferred poll, a notification. [`WithToken`] runs it with the
/// token rules (refresh first when expired, once after `invalid_token`) and
/// the request's own retry.
pub trait TokenRequest {
    /// What it produces.
    type Output;
    /// Which endpoint it goes to.
    fn endpoint(&self) -> Endpoint;
    /// The authorization whose token it presents.
    fn authorized(&mut self) -> &mut Authorized;
    /// The request, without the token's DPoP proof (the flow adds it).
    fn prepare(&mut self, config: &EngineConfig) -> Result<HttpRequest>;
    /// Reads the response.
    fn handle(&mut self, response: HttpResponse) -> Result<Self::Output>;
    /// Whether `failure` is worth one more try, and after how long.
    fn retry_after(&self, failure: &Error) -> Option<std::time::Duration> {
        let _ = failure;
        None
    }
}

/// A [`TokenRequest`] run to its end.
pub struct WithToken<'a, R> {
    request: R,
    attestation: Option<(&'a ClientAttestation, &'a AttestationChallenges)>,
    refresh: Option<TokenExchange>,
    refreshed: bool,
    retried: bool,
    first_failure: Option<Error>,
    wait: Option<std::time::Duration>,
    guard: Guard,
}

impl<'a, R: TokenRequest> WithToken<'a, R> {
    /// Starts with a refresh when the token has expired (and can be
    /// refreshed).
    pub fn new(
        mut request: R,
        attestation: Option<(&'a ClientAttestation, &'a AttestationChallenges)>,
        now: u64,
    ) -> Self {
        let authorized = request.authorized();
        let refresh = authorized
            .refresh_exchange()
            .filter(|_| authorized.token_expired(now));
        Self {
            request,
            attestation,
            refresh,
            refreshed: false,
            retried: false,
            first_failure: None,
            wait: None,
            guard: Guard::default(),
        }
    }

    fn step(&self) -> Step {
        match &self.refresh {
            Some(refresh) => Step::Refresh(refresh.clone()),
            None => Step::Credential(None),
        }
    }

    fn failed(mut self, failure: Error) -> Result<Progress<Self, R::Output>> {
        if !self.retried {
            if let Some(pause) = self.request.retry_after(&failure) {
                tracing::debug!(endpoint = %self.request.endpoint(), "failed, retrying once");
                self.retried = true;
                self.wait = Some(pause);
                self.first_failure = Some(failure);
                self.guard.reset();
                return Ok(Progress::Again(self));
            }
        }
        Err(failure)
    }
}

impl<R: TokenRequest> Flow for WithToken<'_, R> {
    type Output = R::Output;

    fn prepare_request(
        &mut self,
        config: &EngineConfig,
        now: u64,
    ) -> Result<(Endpoint, HttpRequest)> {
        self.wait = None;
        let step = self.step();
        let endpoint = self.request.endpoint();
        let request = match &step {
            Step::Refresh(refresh) => refresh.prepare_request(config)?,
            _ => self.request.prepare(config)?,
        };
        let protection = protection(self.request.authorized(), &step, self.attestation);
        let endpoint = match step {
            Step::Refresh(_) => Endpoint::Token,
            _ => endpoint,
        };
        self.guard
            .prepare(&protection, endpoint, || Ok(request), config, now)
    }

    fn handle_response(
        mut self,
        response: HttpResponse,
        config: &EngineConfig,
        now: u64,
    ) -> Result<Progress<Self, R::Output>> {
        let step = self.step();
        let endpoint = match step {
            Step::Refresh(_) => Endpoint::Token,
            _ => self.request.endpoint(),
        };
        let mut protection = protection(self.request.authorized(), &step, self.attestation);
        let response = match self
            .guard
            .observe(&mut protection, endpoint, response, config)?
        {
            Verdict::Resend => return Ok(Progress::Again(self)),
            Verdict::Pass(response) => response,
        };
        if let Some(refresh) = self.refresh.take() {
            match refresh.handle_response(response, config)? {
                Progress::Done(token) => self.request.authorized().apply_refresh(token, now),
                Progress::Again(again) => self.refresh = Some(again),
            }
            self.guard.reset();
            return Ok(Progress::Again(self));
        }
        match self.request.handle(response) {
            Ok(output) => Ok(Progress::Done(output)),
            Err(e) if !self.refreshed && is_invalid_token(&e) => {
                match self.request.authorized().refresh_exchange() {
                    Some(refresh) => {
                        self.refreshed = true;
                        self.refresh = Some(refresh);
                        self.guard.reset();
                        Ok(Progress::Again(self))
                    }
                    None => Err(e),
                }
            }
            Err(e) => self.failed(e),
        }
    }

    fn handle_transport_error(mut self, error: Error) -> Result<Progress<Self, R::Output>> {
        match self.first_failure.take() {
            // The retry could not be sent either: the first failure says more.
            Some(first) => Err(first),
            None => self.failed(error),
        }
    }

    fn wait(&self) -> Option<std::time::Duration> {
        self.wait
    }
}

/// One poll of a deferred transaction.
pub struct DeferredPoll<'p>(pub &'p mut DeferredPending);

impl TokenRequest for DeferredPoll<'_> {
    type Output = super::credential::DeferredStatus;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Deferred
    }

    fn authorized(&mut self) -> &mut Authorized {
        &mut self.0.authorized
    }

    fn prepare(&mut self, config: &EngineConfig) -> Result<HttpRequest> {
        self.0.poll_request(&*config.random)
    }

    fn handle(&mut self, response: HttpResponse) -> Result<Self::Output> {
        self.0.handle_poll_response(response)
    }
}

/// The pause before the one retry of a notification that failed with a 5xx
/// or a transport error.
pub const NOTIFICATION_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// A notification (`credential_accepted`, `credential_failure`,
/// `credential_deleted`): safe to repeat, so retried once after a 5xx or a
/// transport failure, [`NOTIFICATION_RETRY_DELAY`] later.
pub struct Notify<'p> {
    authorized: &'p mut Authorized,
    request: HttpRequest,
}

impl<'p> Notify<'p> {
    /// The notification of `event` for `notification_id`.
    pub fn new(
        authorized: &'p mut Authorized,
        notification_id: &str,
        event: crate::types::NotificationEvent,
        description: Option<&str>,
    ) -> Result<Self> {
        let request = authorized.notification_request(notification_id, event, description)?;
        Ok(Self {
            authorized,
            request,
        })
    }
}

impl TokenRequest for Notify<'_> {
    type Output = ();

    fn endpoint(&self) -> Endpoint {
        Endpoint::Notification
    }

    fn authorized(&mut self) -> &mut Authorized {
        self.authorized
    }

    fn prepare(&mut self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(self.request.clone())
    }

    fn handle(&mut self, response: HttpResponse) -> Result<()> {
        self.authorized.handle_notification_response(&response)
    }

    fn retry_after(&self, failure: &Error) -> Option<std::time::Duration> {
        let retry = match failure {
            Error::Transport { .. } => true,
            Error::Server { status, .. } | Error::UnexpectedResponse { status, .. } => {
                *status >= 500
            }
            _ => false,
        };
        retry.then_some(NOTIFICATION_RETRY_DELAY)
    }
}
