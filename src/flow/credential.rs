//! The credential endpoint (OID4VCI 1.0 section 8): the request and its
//! response.
//!
//! The credential exchange of one request, as the protocol links it: refresh
//! an expired access token first, fetch a fresh `c_nonce` (nonce endpoint),
//! sign the proofs, send the (sealed) credential request with its DPoP proof,
//! and answer what comes back: `use_dpop_nonce` once, `invalid_nonce` with a
//! new nonce and new proofs at most [`MAX_NONCE_RETRIES`] times, and
//! `invalid_token` with one refresh. A [`Flow`]: any driver runs it.

use super::authorized::Authorized;
use super::deferred::{interval, DeferredPending};
use super::issued::{issued_credentials, IssuedCredential};
use super::nonce::NonceExchange;
use super::plan::{CredentialPlan, ProofType};
use super::protection::{AttestationChallenges, DpopUse, Guard, Protection, Verdict};
use super::token::{is_invalid_token, TokenExchange};
use super::{
    expect_json, parse_error_body, parse_value, EngineConfig, Exchange, Flow, Progress,
    MAX_EXCHANGE_ROUNDS,
};
use crate::error::{display_url, Endpoint, Error, ErrorCode, Result, ServerError};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::{
    build_proof_jwt_with, ClientAttestation, DpopServer, KeyAttestationProvider,
    KeyAttestationRequest, ProofClaims, Signer,
};
use crate::types::{AccessToken, CredentialRequest, CredentialResponse, Proofs, SpecVersion};
use serde_json::Value;

/// How many times a credential request is re-sent with a fresh nonce after
/// `invalid_nonce`.
pub const MAX_NONCE_RETRIES: usize = 1;

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
pub(super) enum Step {
    /// A token refresh, then the credential request from the start.
    Refresh(TokenExchange),
    /// A fresh `c_nonce` from the nonce endpoint.
    Nonce(super::nonce::NonceExchange),
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
        // A nonce fetched beside the token request serves the first request.
        if exchange.plan.needs_proofs() {
            exchange.nonce = exchange.authorized.prefetched_nonce.take().map(|n| n.0);
        }
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

    /// The error after the last retry: `invalid_nonce`, or the draft-11
    /// `invalid_or_missing_proof` the issuer still answered to a proof over
    /// its fresh `c_nonce` (as it said it).
    fn nonce_rejected(&self, status: u16, last: Option<ServerError>) -> Error {
        let error = match last {
            Some(e) if e.code == ErrorCode::InvalidOrMissingProof => e,
            _ => ServerError {
                code: ErrorCode::InvalidNonce,
                description: Some(format!("nonce rejected {} times", MAX_NONCE_RETRIES + 1)),
            },
        };
        Error::Server {
            endpoint: Endpoint::Credential,
            url: display_url(&self.authorized.context.issuer.credential_endpoint),
            status,
            error,
        }
    }
}

/// The protection of the step's requests, borrowed from the authorization
/// for one call.
pub(super) fn protection<'p>(
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
                let rejected = (status == 400)
                    .then(|| parse_error_body(&response))
                    .flatten();
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
                            return Err(self.nonce_rejected(status, rejected));
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

/// How a credential request ended.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once, not stored in bulk
pub enum CredentialOutcome {
    /// Issued now.
    Issued(Vec<IssuedCredential>),
    /// The issuer will issue later: poll the deferred endpoint.
    Deferred(DeferredPending),
    /// The nonce was rejected (`invalid_nonce`, or drafts 11/12's
    /// `invalid_or_missing_proof` with a fresh `c_nonce`); fetch a new one
    /// (or use the one given) and retry.
    InvalidNonce(Option<String>),
}

impl Authorized {
    /// The nonce exchange to run before a credential request, if the issuer has
    /// a nonce endpoint.
    pub fn nonce_exchange(&self) -> Option<NonceExchange> {
        self.context
            .issuer
            .nonce_endpoint
            .as_deref()
            .map(NonceExchange::new)
    }

    /// The claims for proofs made now with `nonce` (or the draft-13 `c_nonce`).
    pub fn proof_claims(&self, nonce: Option<String>, now: u64) -> ProofClaims {
        ProofClaims {
            issuer: self.client_id.clone(),
            audience: self.context.issuer_id().to_string(),
            issued_at: now,
            nonce: nonce.or_else(|| self.c_nonce.clone()),
        }
    }

    /// The credential request for a plan and its proofs, in the shape of the
    /// issuer's detected version.
    pub fn credential_request(&self, plan: &CredentialPlan, proofs: Vec<String>) -> HttpRequest {
        match self.context.issuer.detected_version {
            SpecVersion::Draft13 => return self.draft13_credential_request(plan, proofs),
            v if v.is_draft11_or_12() => return self.draft11_credential_request(plan, proofs, v),
            _ => {}
        }
        let body = CredentialRequest {
            credential_configuration_id: match plan.credential_identifier {
                Some(_) => None,
                None => Some(plan.configuration_id.clone()),
            },
            credential_identifier: plan.credential_identifier.clone(),
            proofs: (!proofs.is_empty()).then(|| match plan.proof_type {
                ProofType::Attestation => Proofs {
                    attestation: proofs,
                    ..Proofs::default()
                },
                _ => Proofs {
                    jwt: proofs,
                    ..Proofs::default()
                },
            }),
        };
        HttpRequest::post_json(&self.context.issuer.credential_endpoint, &body)
            .header("authorization", self.authorization_header())
            .header("accept", "application/json")
    }

    /// Draft 13: `credential_identifier`, or `format` with the type parameters
    /// of the configuration; one proof as `proof`, several as `proofs`.
    fn draft13_credential_request(
        &self,
        plan: &CredentialPlan,
        proofs: Vec<String>,
    ) -> HttpRequest {
        let mut body = serde_json::Map::new();
        match &plan.credential_identifier {
            Some(id) => {
                body.insert("credential_identifier".into(), Value::from(id.clone()));
            }
            None => {
                body.insert("format".into(), Value::from(plan.format.clone()));
                if let Ok(c) = self.context.configuration(&plan.configuration_id) {
                    if let Some(vct) = &c.vct {
                        body.insert("vct".into(), Value::from(vct.clone()));
                    }
                    if let Some(doctype) = &c.doctype {
                        body.insert("doctype".into(), Value::from(doctype.clone()));
                    }
                    if let Some(definition) = &c.credential_definition {
                        body.insert("credential_definition".into(), definition.clone());
                    }
                }
            }
        }
        match proofs.len() {
            0 => {}
            1 => {
                let jwt = proofs.into_iter().next().unwrap_or_default();
                body.insert(
                    "proof".into(),
                    serde_json::json!({ "proof_type": "jwt", "jwt": jwt }),
                );
            }
            _ => {
                body.insert("proofs".into(), serde_json::json!({ "jwt": proofs }));
            }
        }
        HttpRequest::post_json(
            &self.context.issuer.credential_endpoint,
            &Value::Object(body),
        )
        .header("authorization", self.authorization_header())
        .header("accept", "application/json")
    }

    /// Drafts 11 and 12: `format` with the configuration's type parameter
    /// (draft 11 `types`, draft 12 `credential_definition`; `vct`,
    /// `doctype`), or draft 12's `credential_identifier`; one `proof` (the
    /// plan allows one key: these drafts have no batch in the credential
    /// request).
    fn draft11_credential_request(
        &self,
        plan: &CredentialPlan,
        proofs: Vec<String>,
        version: SpecVersion,
    ) -> HttpRequest {
        use crate::types::draft11::{Draft11CredentialRequest, Draft11Proof};
        let proof = proofs.into_iter().next().map(Draft11Proof::jwt);
        let body = match (
            &plan.credential_identifier,
            self.context.configuration(&plan.configuration_id),
        ) {
            (Some(id), _) => Draft11CredentialRequest::for_identifier(id, proof),
            (None, Ok(configuration)) => {
                Draft11CredentialRequest::for_configuration(configuration, version, proof)
            }
            // The plan was made from this metadata: not reached.
            (None, Err(_)) => Draft11CredentialRequest {
                format: Some(plan.format.clone()),
                proof,
                ..Default::default()
            },
        };
        HttpRequest::post_json(&self.context.issuer.credential_endpoint, &body)
            .header("authorization", self.authorization_header())
            .header("accept", "application/json")
    }

    /// Reads the credential response.
    pub fn handle_credential_response(
        &mut self,
        plan: &CredentialPlan,
        response: HttpResponse,
    ) -> Result<CredentialOutcome> {
        let url = self.context.issuer.credential_endpoint.clone();
        let response = plan.open_response(Endpoint::Credential, &url, response)?;
        if response.status == 400 {
            let fresh = || {
                serde_json::from_slice::<Value>(&response.body)
                    .ok()
                    .and_then(|v| v.get("c_nonce")?.as_str().map(str::to_string))
                    .filter(|n| !n.is_empty())
            };
            match parse_error_body(&response) {
                Some(ServerError {
                    code: ErrorCode::InvalidNonce,
                    ..
                }) => return Ok(CredentialOutcome::InvalidNonce(fresh())),
                // Drafts 11/12: any proof error, with the nonce to use.
                Some(ServerError {
                    code: ErrorCode::InvalidOrMissingProof,
                    ..
                }) => {
                    if let Some(nonce) = fresh() {
                        return Ok(CredentialOutcome::InvalidNonce(Some(nonce)));
                    }
                }
                _ => {}
            }
        }
        let (body, c_nonce) = credential_body(Endpoint::Credential, &url, &response)?;
        if c_nonce.is_some() {
            self.c_nonce = c_nonce;
        }
        let bad = |problem: String| Error::UnexpectedResponse {
            endpoint: Endpoint::Credential,
            url: display_url(&url),
            status: response.status,
            problem,
        };
        // Draft 11: an acceptance_token, the Bearer token of the deferred
        // request.
        if let Some(token) = acceptance_token(&response)
            .filter(|_| body.credentials.is_none() && body.transaction_id.is_none())
        {
            if self.context.issuer.deferred_credential_endpoint.is_none() {
                return Err(bad(
                    "deferred issuance, but the metadata has no deferred_credential_endpoint"
                        .into(),
                ));
            }
            let interval = interval(body.interval).map_err(bad)?;
            return Ok(CredentialOutcome::Deferred(DeferredPending {
                authorized: self.clone(),
                plan: plan.clone(),
                transaction_id: String::new(),
                acceptance_token: Some(token),
                interval_secs: interval.as_secs(),
                completed: false,
                ended_status: 0,
            }));
        }
        // 1.0 answers 202; draft 13 answered 200 with a transaction_id.
        let deferred =
            response.status == 202 || (body.transaction_id.is_some() && body.credentials.is_none());
        if deferred {
            let transaction_id = body
                .transaction_id
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad("202 without transaction_id".into()))?;
            if self.context.issuer.deferred_credential_endpoint.is_none() {
                return Err(bad(
                    "deferred issuance, but the metadata has no deferred_credential_endpoint"
                        .into(),
                ));
            }
            let interval = interval(body.interval).map_err(bad)?;
            return Ok(CredentialOutcome::Deferred(DeferredPending {
                authorized: self.clone(),
                plan: plan.clone(),
                transaction_id,
                acceptance_token: None,
                interval_secs: interval.as_secs(),
                completed: false,
                ended_status: 0,
            }));
        }
        let credentials =
            issued_credentials(self, plan, &body).map_err(|r| r.into_error(bad, &body))?;
        Ok(CredentialOutcome::Issued(credentials))
    }
}

/// Draft 11: the `acceptance_token` of a deferred answer (a secret: the
/// Bearer token of the deferred request).
fn acceptance_token(response: &HttpResponse) -> Option<AccessToken> {
    serde_json::from_slice::<Value>(&response.body)
        .ok()?
        .get("acceptance_token")?
        .as_str()
        .filter(|t| !t.is_empty())
        .map(AccessToken::new)
}

/// A credential or deferred response body, draft-13 shapes normalised, with
/// the draft-13 `c_nonce` it may carry for the next request.
pub(crate) fn credential_body(
    endpoint: Endpoint,
    url: &str,
    response: &HttpResponse,
) -> Result<(CredentialResponse, Option<String>)> {
    let mut raw: Value = expect_json(endpoint, url, response)?;
    crate::types::draft13::normalize_credential_response(&mut raw);
    let c_nonce = raw
        .get("c_nonce")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let body = parse_value(raw).map_err(|problem| Error::UnexpectedResponse {
        endpoint,
        url: display_url(url),
        status: response.status,
        problem,
    })?;
    Ok((body, c_nonce))
}
