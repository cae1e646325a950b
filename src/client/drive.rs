//! The loop: sends a flow's requests (with their protection) until it is
//! done; and runs the check of what was received.

use super::Wallet;
use crate::error::{Endpoint, Error, Result};
use crate::flow::issued::IssuedCredential;
use crate::flow::protection::{Protected, Protection};
use crate::flow::received::CheckReceived;
use crate::flow::{Exchange, Flow, Progress};
use crate::http::cache;
use crate::http::{HttpRequest, HttpResponse, Method};

impl Wallet {
    /// Runs one exchange to completion (following its fallbacks and retries).
    pub async fn run<E: Exchange>(&self, step: E) -> Result<E::Output> {
        self.run_with(step, Protection::none()).await
    }

    /// [`Self::run`] with DPoP and client attestation as `protection` says:
    /// the loop that sends what [`Protected`] prepares until it is done.
    pub(crate) async fn run_with<E: Exchange>(
        &self,
        step: E,
        protection: Protection<'_>,
    ) -> Result<E::Output> {
        self.drive(Protected::new(step, protection)).await
    }

    /// The loop: sends what the flow prepares, sleeps when it says so, and
    /// hands it every response (or transport failure) until it is done.
    pub async fn drive<F: Flow>(&self, mut flow: F) -> Result<F::Output> {
        loop {
            if let Some(pause) = flow.wait() {
                tokio::time::sleep(pause).await;
            }
            let (endpoint, request) = flow.prepare_request(&self.inner.engine, self.now())?;
            let sent = if flow.cacheable() {
                self.send_cached(endpoint, request).await
            } else {
                self.send(endpoint, request).await
            };
            let progress = match sent {
                Ok(response) => flow.handle_response(response, &self.inner.engine, self.now())?,
                Err(e @ Error::Transport { .. }) => flow.handle_transport_error(e)?,
                Err(e) => return Err(e),
            };
            match progress {
                Progress::Done(out) => return Ok(out),
                Progress::Again(next) => flow = next,
            }
        }
    }

    /// The wallet attestation and the challenges kept for it, if the wallet
    /// has one.
    pub(crate) fn attestation(
        &self,
    ) -> Option<(
        &crate::jose::ClientAttestation,
        &crate::flow::protection::AttestationChallenges,
    )> {
        self.inner
            .attestation
            .as_ref()
            .map(|a| (a, &self.inner.challenges))
    }

    /// What this wallet can do beyond the baseline, for the checks before
    /// anything is spent.
    pub(crate) fn capabilities(&self) -> crate::flow::Capabilities {
        crate::flow::Capabilities {
            key_attestations: self.inner.key_attestations.is_some(),
        }
    }

    /// The protection of a PAR or token request to `server`: DPoP when
    /// `dpop` is given, and the wallet attestation when the wallet has one.
    pub(crate) fn protect_at<'a>(
        &'a self,
        server: &'a crate::types::AuthorizationServerMetadata,
        dpop: Option<&'a mut crate::jose::DpopState>,
    ) -> Protection<'a> {
        Protection::authorization_server(server, dpop, self.attestation())
    }

    /// Sends a request the flow marked cacheable, through the metadata cache
    /// (see [`crate::MetadataCache`] for the rules): a fresh entry answers
    /// without a request (marked with `Age`), a stale one is revalidated
    /// with `If-None-Match` (a `304` renews it), and a `200` is stored as
    /// its `Cache-Control` allows.
    async fn send_cached(&self, endpoint: Endpoint, request: HttpRequest) -> Result<HttpResponse> {
        let cache = match &self.inner.cache {
            Some(cache) if request.method == Method::Get => cache.clone(),
            _ => return self.send(endpoint, request).await,
        };
        match cache::lookup(&*cache, request, self.now()) {
            cache::Lookup::Hit(response) => {
                tracing::debug!(%endpoint, "answered from the metadata cache");
                Ok(response)
            }
            cache::Lookup::Send(pending) => {
                let sent = self.send(endpoint, pending.request()).await;
                pending.settle(&*cache, sent, self.now())
            }
        }
    }

    /// Sends one request, applying the URL policy and mapping transport errors.
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        request: HttpRequest,
    ) -> Result<HttpResponse> {
        let allow_http = self.inner.engine.allow_http;
        crate::http::trace::send(&*self.inner.http, endpoint, request, allow_http).await
    }

    /// Checks the issuer signature of received credentials
    /// ([`crate::flow::received::CheckReceived`]) and returns them with what
    /// it established; a failed check carries them all.
    pub(super) async fn check_received(
        &self,
        credential_issuer: &str,
        credentials: Vec<IssuedCredential>,
        prefetched_keys: Option<(String, Vec<serde_json::Value>)>,
    ) -> Result<Vec<IssuedCredential>> {
        match CheckReceived::start_with_issuer_keys(
            credential_issuer,
            credentials,
            &self.inner.engine,
            self.now(),
            prefetched_keys,
        )? {
            Progress::Done(checked) => Ok(checked),
            Progress::Again(flow) => self.drive(flow).await,
        }
    }
}
