//! The loop: sends a flow's requests until it is done (through the metadata
//! cache where the flow allows), sleeps when told, and stops when cancelled.
//! [`Wallet`] is the engine's [`Driver`].

use super::{CancelToken, Wallet};
use crate::error::{Endpoint, Error, Result};
use crate::flow::deferred::DeferredPending;
use crate::flow::issued::IssuedCredential;
use crate::flow::protection::{AttestationChallenges, Protected, Protection};
use crate::flow::{Driver, EngineConfig, Exchange, Flow, Progress};
use crate::http::cache;
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::jose::{ClientAttestation, KeyAttestationProvider};
use std::future::Future;
use std::time::Duration;

impl Wallet {
    /// Runs one exchange to completion (following its fallbacks and retries).
    pub async fn run<E: Exchange>(&self, step: E) -> Result<E::Output> {
        self.drive(Protected::new(step, Protection::none())).await
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
    async fn send(&self, endpoint: Endpoint, request: HttpRequest) -> Result<HttpResponse> {
        let allow_http = self.inner.engine.allow_http;
        crate::http::trace::send(&*self.inner.http, endpoint, request, allow_http).await
    }
}

impl Driver for Wallet {
    fn config(&self) -> &EngineConfig {
        &self.inner.engine
    }

    fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    fn monotonic(&self) -> Duration {
        self.inner.started.elapsed()
    }

    fn drive<F>(&self, flow: F) -> impl Future<Output = Result<F::Output>> + Send
    where
        F: Flow + Send,
        F::Output: Send,
    {
        Wallet::drive(self, flow)
    }

    async fn sleep(&self, pause: Duration) -> Result<()> {
        tokio::time::sleep(pause).await;
        Ok(())
    }

    fn client_id(&self) -> Option<&str> {
        self.inner.client_id.as_deref()
    }

    fn attestation(&self) -> Option<(&ClientAttestation, &AttestationChallenges)> {
        let attestation = self.inner.attestation.as_ref()?;
        Some((attestation, &self.inner.challenges))
    }

    fn key_attestations(&self) -> Option<&dyn KeyAttestationProvider> {
        self.inner.key_attestations.as_deref()
    }
}

impl DeferredPending {
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
        // Cancelling drops the wait or the poll in flight (its connection is
        // closed; the transaction stays pollable).
        let polls = self.poll_until_ready_with(wallet, deadline);
        match cancel {
            Some(token) => tokio::select! {
                done = polls => done,
                _ = token.cancelled() => Err(Error::Cancelled),
            },
            None => polls.await,
        }
    }
}
