//! What protects a request beyond TLS, and the one-resend rule: DPoP proofs
//! (RFC 9449) with each server's latest nonce, and the wallet attestation with
//! a fresh proof of possession and the authorization server's challenge
//! (attestation-based client authentication).
//!
//! [`Protected`] wraps any [`Exchange`]: it adds the headers to every request,
//! keeps the nonces and challenges each response carries, fetches a challenge
//! first when the server has a `challenge_endpoint` and none is kept, and asks
//! to be sent again (at most once each per request) when the server answers
//! `use_dpop_nonce` or `use_attestation_challenge`. Any driver that runs its
//! exchanges through [`Protected`] gets the same protocol as [`crate::Wallet`].
//!
//! ```no_run
//! # use oid4vci_wallet::flow::{EngineConfig, Exchange, Flow, Progress};
//! # use oid4vci_wallet::flow::{Protected, Protection};
//! # async fn drive<E: Exchange>(step: E, send: impl Fn(oid4vci_wallet::HttpRequest) -> oid4vci_wallet::HttpResponse, now: u64) -> oid4vci_wallet::Result<E::Output> {
//! let config = EngineConfig::default();
//! let mut exchange = Protected::new(step, Protection::none());
//! loop {
//!     let (_endpoint, request) = exchange.prepare_request(&config, now)?;
//!     match exchange.handle_response(send(request), &config, now)? {
//!         Progress::Again(next) => exchange = next,
//!         Progress::Done(output) => return Ok(output),
//!     }
//! }
//! # }
//! ```

use super::{expect_json, EngineConfig, Exchange, Flow, Progress, MAX_EXCHANGE_ROUNDS};
use crate::error::display_url;
use crate::error::{Endpoint, Error, ErrorCode, Result};
use crate::http::response::parse_error_body;
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::attestation::{
    valid_challenge, ATTESTATION_HEADER, ATTESTATION_POP_HEADER, CHALLENGE_HEADER,
};
use crate::jose::{ClientAttestation, DpopServer, DpopState};
use crate::types::{AccessToken, AuthorizationServerMetadata};
use std::collections::HashMap;
use std::sync::Mutex;

/// How DPoP applies to one request.
#[derive(Debug, Clone, Copy)]
pub enum DpopUse<'a> {
    /// Add a proof for this server (with `ath` when a token is presented).
    Prove(DpopServer, Option<&'a AccessToken>),
    /// Send no proof; only keep the server's nonce from the response.
    Observe(DpopServer),
}

impl DpopUse<'_> {
    fn server(&self) -> DpopServer {
        match self {
            DpopUse::Prove(server, _) | DpopUse::Observe(server) => *server,
        }
    }
}

/// The latest attestation challenge of each authorization server (by its
/// issuer identifier), taken by the next request to it. One per wallet,
/// shared by all its issuances.
#[derive(Debug, Default)]
pub struct AttestationChallenges(Mutex<HashMap<String, String>>);

impl AttestationChallenges {
    fn take(&self, server: &str) -> Option<String> {
        self.0.lock().ok().and_then(|mut c| c.remove(server))
    }

    fn keep(&self, server: &str, challenge: String) {
        if let Ok(mut c) = self.0.lock() {
            c.insert(server.to_string(), challenge);
        }
    }
}

/// The wallet attestation, sent to one authorization server.
#[derive(Clone, Copy)]
struct Attest<'a> {
    attestation: &'a ClientAttestation,
    server: &'a AuthorizationServerMetadata,
    challenges: &'a AttestationChallenges,
}

/// What protects the requests of one exchange: DPoP, and the wallet
/// attestation (PAR and token requests to an authorization server).
#[derive(Default)]
pub struct Protection<'a> {
    dpop: Option<(&'a mut DpopState, DpopUse<'a>)>,
    attest: Option<Attest<'a>>,
}

impl<'a> Protection<'a> {
    /// Nothing beyond TLS.
    pub fn none() -> Self {
        Self::default()
    }

    /// A PAR or token request to `server`: a DPoP proof when `dpop` is
    /// given, and the wallet attestation when there is one.
    pub fn authorization_server(
        server: &'a AuthorizationServerMetadata,
        dpop: Option<&'a mut DpopState>,
        attestation: Option<(&'a ClientAttestation, &'a AttestationChallenges)>,
    ) -> Self {
        Self {
            dpop: dpop.map(|d| (d, DpopUse::Prove(DpopServer::AuthorizationServer, None))),
            attest: attestation.map(|(attestation, challenges)| Attest {
                attestation,
                server,
                challenges,
            }),
        }
    }

    /// A request to the credential issuer with DPoP as `how` says.
    pub fn issuer(dpop: Option<&'a mut DpopState>, how: DpopUse<'a>) -> Self {
        Self {
            dpop: dpop.map(|d| (d, how)),
            attest: None,
        }
    }
}

/// The resend bookkeeping of one protected request: the attestation
/// challenge fetched or kept for it, and whether the one resend after
/// `use_dpop_nonce` and after `use_attestation_challenge` was used. Flows
/// that own their state (the credential exchange) keep a `Guard` and build
/// the [`Protection`] per call.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    /// The challenge for the next attestation PoP, once fetched or kept.
    challenge: Option<String>,
    /// The challenge source was consulted for the current request.
    challenge_looked_up: bool,
    /// The last request went to the challenge endpoint.
    awaiting_challenge: Option<AttestationChallengeFetch>,
    dpop_resent: bool,
    challenge_resent: bool,
}

/// What a response to a protected request means.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Send the same request again (a challenge was answered or fetched).
    Resend,
    /// The response is for the request itself.
    Pass(HttpResponse),
}

impl Guard {
    /// Forgets the current request (the next one starts afresh).
    pub(crate) fn reset(&mut self) {
        *self = Guard::default();
    }

    /// The request to send: the challenge endpoint first when an
    /// attestation challenge is needed and none is kept, else `request()`
    /// with the protection headers (fresh proofs, `iat` = `now`).
    pub(crate) fn prepare(
        &mut self,
        protection: &Protection<'_>,
        endpoint: Endpoint,
        request: impl FnOnce() -> Result<HttpRequest>,
        config: &EngineConfig,
        now: u64,
    ) -> Result<(Endpoint, HttpRequest)> {
        if let Some(attest) = protection.attest {
            if attest.attestation.expired(now) {
                return Err(Error::Config(
                    "the wallet attestation has expired: get a fresh one from the wallet provider"
                        .into(),
                ));
            }
            if !self.challenge_looked_up {
                self.challenge_looked_up = true;
                self.challenge = attest.challenges.take(&attest.server.issuer);
                if self.challenge.is_none() {
                    if let Some(url) = &attest.server.challenge_endpoint {
                        let fetch = AttestationChallengeFetch::new(url);
                        let request = fetch.prepare_request(config)?;
                        self.awaiting_challenge = Some(fetch);
                        return Ok((Endpoint::Challenge, request));
                    }
                }
            }
        }
        let mut request = request()?;
        if let Some((state, DpopUse::Prove(server, token))) = protection.dpop.as_ref() {
            let proof = state.proof(
                *server,
                &request,
                *token,
                now,
                &*config.random,
                config.dpop_keys.as_deref(),
            )?;
            request = request.header("dpop", proof);
        }
        if let Some(attest) = protection.attest {
            let pop = attest.attestation.pop(
                &attest.server.issuer,
                self.challenge.as_deref(),
                now,
                &*config.random,
            )?;
            request = request
                .header(ATTESTATION_HEADER, attest.attestation.jwt())
                .header(ATTESTATION_POP_HEADER, pop);
        }
        Ok((endpoint, request))
    }

    /// Reads the response to the last prepared request: keeps the nonces
    /// and challenges it carries, and tells whether to send again.
    pub(crate) fn observe(
        &mut self,
        protection: &mut Protection<'_>,
        endpoint: Endpoint,
        response: HttpResponse,
        config: &EngineConfig,
    ) -> Result<Verdict> {
        if let Some(fetch) = self.awaiting_challenge.take() {
            // A challenge endpoint that answers nothing usable is an error,
            // as the attestation would be refused without one.
            if let Progress::Done(challenge) = fetch.handle_response(response, config)? {
                self.challenge = Some(challenge);
            }
            return Ok(Verdict::Resend);
        }
        let nonce_challenge = match protection.dpop.as_mut() {
            Some((state, how)) => {
                state.observe(how.server(), &response) && matches!(how, DpopUse::Prove(..))
            }
            None => false,
        };
        if let Some(attest) = protection.attest {
            if let Some(c) = response.header(CHALLENGE_HEADER).and_then(valid_challenge) {
                attest.challenges.keep(&attest.server.issuer, c);
            }
        }
        if nonce_challenge && !self.dpop_resent {
            tracing::debug!(%endpoint, "DPoP nonce challenge, sending again with the nonce");
            self.dpop_resent = true;
            self.challenge_looked_up = false;
            return Ok(Verdict::Resend);
        }
        if protection.attest.is_some() && !self.challenge_resent && response.status == 400 {
            let code = parse_error_body(&response).map(|e| e.code);
            if code == Some(ErrorCode::UseAttestationChallenge) {
                tracing::debug!(%endpoint, "attestation challenge asked, sending again with one");
                self.challenge_resent = true;
                self.challenge_looked_up = false;
                return Ok(Verdict::Resend);
            }
        }
        Ok(Verdict::Pass(response))
    }
}

/// An exchange sent with its [`Protection`]. Every resend it asks for is
/// bounded: one after `use_dpop_nonce`, one after `use_attestation_challenge`,
/// per request, and at most [`MAX_EXCHANGE_ROUNDS`] rounds of the inner
/// exchange.
pub struct Protected<'a, E> {
    inner: E,
    protection: Protection<'a>,
    guard: Guard,
    rounds: usize,
}

impl<'a, E: Exchange> Protected<'a, E> {
    /// Wraps `inner`.
    pub fn new(inner: E, protection: Protection<'a>) -> Self {
        Self {
            inner,
            protection,
            guard: Guard::default(),
            rounds: 1,
        }
    }
}

impl<E: Exchange> Flow for Protected<'_, E> {
    type Output = E::Output;

    fn prepare_request(
        &mut self,
        config: &EngineConfig,
        now: u64,
    ) -> Result<(Endpoint, HttpRequest)> {
        let inner = &self.inner;
        self.guard.prepare(
            &self.protection,
            inner.endpoint(),
            || inner.prepare_request(config),
            config,
            now,
        )
    }

    fn handle_response(
        mut self,
        response: HttpResponse,
        config: &EngineConfig,
        _now: u64,
    ) -> Result<Progress<Self, E::Output>> {
        let endpoint = self.inner.endpoint();
        let response = match self
            .guard
            .observe(&mut self.protection, endpoint, response, config)?
        {
            Verdict::Resend => return Ok(Progress::Again(self)),
            Verdict::Pass(response) => response,
        };
        match self.inner.handle_response(response, config)? {
            Progress::Done(output) => Ok(Progress::Done(output)),
            Progress::Again(next) => {
                if self.rounds >= MAX_EXCHANGE_ROUNDS {
                    return Err(Error::InvalidState(format!(
                        "{endpoint} exchange did not settle"
                    )));
                }
                self.rounds += 1;
                self.inner = next;
                self.guard.reset();
                Ok(Progress::Again(self))
            }
        }
    }
    fn cacheable(&self) -> bool {
        // Only an unprotected request (discovery) is answered from a cache.
        self.protection.dpop.is_none() && self.protection.attest.is_none() && self.inner.cacheable()
    }
}

/// Fetching an attestation challenge from the authorization server's
/// `challenge_endpoint` (POST, empty body, `{"attestation_challenge": ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationChallengeFetch {
    url: String,
}

impl AttestationChallengeFetch {
    /// A challenge request to `url`.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
        }
    }
}

#[derive(serde::Deserialize)]
struct ChallengeResponse {
    attestation_challenge: String,
}

impl Exchange for AttestationChallengeFetch {
    type Output = String;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Challenge
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(
            HttpRequest::post(&self.url, "application/x-www-form-urlencoded", Vec::new())
                .header("accept", "application/json"),
        )
    }

    fn handle_response(
        self,
        response: HttpResponse,
        _config: &EngineConfig,
    ) -> Result<Progress<Self, String>> {
        let body: ChallengeResponse = expect_json(Endpoint::Challenge, &self.url, &response)?;
        let challenge = crate::jose::attestation::valid_challenge(&body.attestation_challenge)
            .ok_or_else(|| Error::UnexpectedResponse {
                endpoint: Endpoint::Challenge,
                url: display_url(&self.url),
                status: response.status,
                problem: "field attestation_challenge: empty, too long or not printable ASCII"
                    .into(),
            })?;
        Ok(Progress::Done(challenge))
    }
}
