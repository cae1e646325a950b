//! The async driver: [`Wallet`] runs the engine's steps with an [`HttpClient`],
//! and the high-level methods on the states (`authorize`, `request_credential`,
//! `poll_until_ready`, `notify`) live here.

use crate::error::{display_url, Endpoint, Error, Result};
use crate::flow::authorization::{
    AuthorizationBegin, AuthorizationCodeStep, AuthorizationSecrets, PendingAuthorization,
    RequestMode,
};
use crate::flow::credential::{
    is_sd_jwt, CredentialOutcome, DeferredPending, DeferredStatus, IssuedCredential,
    MAX_NONCE_RETRIES,
};
use crate::flow::discovery::{
    select_authorization_server, AsMetadataDiscovery, IssuerMetadataDiscovery, JwtVcIssuerKeys,
};
use crate::flow::offer::{parse_offer_url, validate_offer_against_metadata, OfferSource};
use crate::flow::session::{Authorized, Grant, IssuerContext, PreAuthorizedStep, ResolvedOffer};
use crate::flow::token::ChallengeExchange;
use crate::flow::{EngineConfig, Exchange, Progress, MAX_EXCHANGE_ROUNDS};
use crate::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, ReqwestClient, ReqwestConfig};
use crate::jose::attestation::{
    valid_challenge, ATTESTATION_HEADER, ATTESTATION_POP_HEADER, CHALLENGE_HEADER,
};
use crate::jose::{build_proof_jwt, ClientAttestation, DpopServer, DpopState, Signer};
use crate::sd_jwt::SdJwt;
use crate::types::{
    AccessToken, AuthorizationServerMetadata, NotificationEvent, PkceVerifier, TxCode, TxCodeSpec,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where the wallet gets the time (seconds since the Unix epoch). Replace it in
/// tests to make proofs and expiry deterministic.
pub trait Clock: Send + Sync {
    /// Now, in seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// Configures a [`Wallet`]. Defaults: no client id (anonymous pre-authorized
/// access), https only, locale `en`, 10 s connect / 30 s request timeouts,
/// 1 MiB response cap, credential signatures checked.
pub struct WalletBuilder {
    client_id: Option<String>,
    engine: EngineConfig,
    http: Option<Arc<dyn HttpClient>>,
    reqwest: ReqwestConfig,
    verify_signatures: bool,
    clock: Arc<dyn Clock>,
    attestation: Option<ClientAttestation>,
}

impl WalletBuilder {
    /// The OAuth client id of this wallet (sent when the authorization server
    /// does not allow anonymous pre-authorized access, and as proof `iss`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Allows plain http to loopback hosts (127.0.0.1, ::1, localhost). For
    /// tests and local development only.
    pub fn dangerous_allow_http(mut self) -> Self {
        self.engine.allow_http = true;
        self.reqwest.allow_http = true;
        self
    }

    /// Preferred locales for display metadata and `Accept-Language`, best first.
    pub fn locales<S: Into<String>>(mut self, locales: impl IntoIterator<Item = S>) -> Self {
        let list: Vec<String> = locales.into_iter().map(Into::into).collect();
        if !list.is_empty() {
            self.engine.locales = list;
        }
        self
    }

    /// Uses your own transport instead of the built-in reqwest client (the
    /// timeouts and size cap below then are yours to enforce).
    pub fn http_client(mut self, client: impl HttpClient + 'static) -> Self {
        self.http = Some(Arc::new(client));
        self
    }

    /// Connect timeout (default 10 s) and whole-request timeout (default 30 s).
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.reqwest.connect_timeout = connect;
        self.reqwest.timeout = request;
        self
    }

    /// Trusts this root certificate (PEM or DER) beside the platform's roots
    /// (a private CA, or a test server's self-signed certificate). Applies to
    /// the built-in HTTP client only.
    pub fn add_root_certificate(mut self, pem_or_der: impl Into<Vec<u8>>) -> Self {
        self.reqwest.extra_root_certificates.push(pem_or_der.into());
        self
    }

    /// The largest response body accepted (default 1 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.reqwest.max_response_bytes = bytes;
        self
    }

    /// Whether to verify the issuer's signature on SD-JWT credentials (default
    /// true). Turn it off only when the app resolves issuer keys itself.
    pub fn verify_credential_signatures(mut self, on: bool) -> Self {
        self.verify_signatures = on;
        self
    }

    /// Authenticates the wallet to authorization servers with a Wallet
    /// Attestation (OAuth attestation-based client authentication, as HAIP
    /// asks): the attestation and a fresh proof of possession of its key go
    /// to every PAR and token request, with the server's challenge when it
    /// has a `challenge_endpoint` or answers `use_attestation_challenge`.
    /// The wallet's `client_id` is the attestation's `sub` (a different
    /// [`Self::client_id`] is a configuration error).
    pub fn client_attestation(mut self, attestation: ClientAttestation) -> Self {
        self.attestation = Some(attestation);
        self
    }

    /// Replaces the clock.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the wallet.
    pub fn build(self) -> Result<Wallet> {
        let http = match self.http {
            Some(h) => h,
            None => Arc::new(
                ReqwestClient::new(self.reqwest).map_err(|e| Error::Config(e.to_string()))?,
            ),
        };
        let client_id = match (&self.attestation, self.client_id) {
            (Some(a), Some(id)) if id != a.client_id() => {
                return Err(Error::Config(format!(
                    "client_id {id:?} differs from the wallet attestation's sub {:?}",
                    a.client_id()
                )))
            }
            (Some(a), _) => Some(a.client_id().to_string()),
            (None, id) => id,
        };
        Ok(Wallet {
            inner: Arc::new(Inner {
                client_id,
                engine: self.engine,
                http,
                verify_signatures: self.verify_signatures,
                clock: self.clock,
                attestation: self.attestation,
                challenges: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }
}

struct Inner {
    client_id: Option<String>,
    engine: EngineConfig,
    http: Arc<dyn HttpClient>,
    verify_signatures: bool,
    clock: Arc<dyn Clock>,
    attestation: Option<ClientAttestation>,
    /// The latest attestation challenge of each authorization server (by
    /// issuer), taken by the next request to it.
    challenges: std::sync::Mutex<HashMap<String, String>>,
}

/// The wallet's entry point: configuration plus transport. Cheap to clone;
/// holds no per-issuance state (that lives in the step values).
#[derive(Clone)]
pub struct Wallet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("client_id", &self.inner.client_id)
            .field("engine", &self.inner.engine)
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// A builder with the defaults.
    pub fn builder() -> WalletBuilder {
        WalletBuilder {
            client_id: None,
            engine: EngineConfig::default(),
            http: None,
            reqwest: ReqwestConfig::default(),
            verify_signatures: true,
            clock: Arc::new(SystemClock),
            attestation: None,
        }
    }

    /// The configured client id.
    pub fn client_id(&self) -> Option<&str> {
        self.inner.client_id.as_deref()
    }

    /// The preferred locales.
    pub fn locales(&self) -> &[String] {
        &self.inner.engine.locales
    }

    /// Now, from the wallet's clock.
    pub fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// Parses an offer URL, fetches the offer if by reference, and discovers and
    /// checks the issuer's and authorization server's metadata.
    pub async fn resolve_offer(&self, offer_url: &str) -> Result<ResolvedOffer> {
        let mut offer = match parse_offer_url(offer_url, &self.inner.engine)? {
            OfferSource::ByValue(offer) => offer,
            OfferSource::ByReference(fetch) => self.run(fetch).await?,
        };
        let issuer = self
            .run(IssuerMetadataDiscovery::new(&offer.credential_issuer)?)
            .await?;
        if let Some(objects) = offer.legacy_credentials.take() {
            // Draft 11/12: credentials named by format and type.
            let ids = crate::types::draft13::resolve_legacy_offer_ids(
                &objects,
                &issuer.credential_configurations_supported,
            )
            .map_err(Error::InvalidOffer)?;
            offer.credential_configuration_ids.extend(ids);
            crate::flow::offer::validate_offer(&offer, &self.inner.engine)?;
        }
        validate_offer_against_metadata(&offer, &issuer)?;
        let grants = offer.grants.clone().unwrap_or_default();
        let hint = grants
            .pre_authorized_code
            .as_ref()
            .and_then(|g| g.authorization_server.as_deref())
            .or(grants
                .authorization_code
                .as_ref()
                .and_then(|g| g.authorization_server.as_deref()));
        let as_id = select_authorization_server(&issuer, hint)?;
        let authorization_server = self.run(AsMetadataDiscovery::new(&as_id)?).await?;
        ResolvedOffer::new(
            offer,
            IssuerContext {
                issuer,
                authorization_server,
            },
        )
    }

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
        let authorized = match offer.grant()? {
            Grant::PreAuthorized(mut step) => {
                if let Some(spec) = step.tx_code().cloned() {
                    step = step.with_tx_code(interaction.tx_code(&spec).await?);
                }
                step.authorize(self).await?
            }
            Grant::AuthorizationCode(step) => self.browser_round_trip(step, interaction).await?,
        };
        self.collect(authorized, signer, options).await
    }

    /// Requests every configuration of `options` (default: all authorized
    /// ones) and waits for deferred ones.
    async fn collect(
        &self,
        mut authorized: Authorized,
        signer: &dyn Signer,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        let ids = match &options.credential_configuration_ids {
            Some(ids) => ids.clone(),
            None => authorized.credential_configuration_ids().to_vec(),
        };
        let mut credentials = Vec::new();
        for id in &ids {
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
        let authorized = self.browser_round_trip(step, interaction).await?;
        self.collect(authorized, signer, options).await
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

    /// Wallet-initiated issuance: discovers the issuer (and its first
    /// authorization server) and starts the authorization code flow for the
    /// given configurations.
    pub async fn start_issuance(
        &self,
        issuer_id: &str,
        configuration_ids: &[&str],
    ) -> Result<AuthorizationCodeStep> {
        crate::flow::offer::check_issuer_identifier(issuer_id, &self.inner.engine)
            .map_err(|e| Error::Config(format!("issuer identifier: {e}")))?;
        let issuer = self.run(IssuerMetadataDiscovery::new(issuer_id)?).await?;
        let as_id = select_authorization_server(&issuer, None)?;
        let authorization_server = self.run(AsMetadataDiscovery::new(&as_id)?).await?;
        let ids = configuration_ids.iter().map(|s| s.to_string()).collect();
        AuthorizationCodeStep::new(
            IssuerContext {
                issuer,
                authorization_server,
            },
            ids,
            None,
        )
    }

    fn require_client_id(&self) -> Result<&str> {
        self.client_id().ok_or_else(|| {
            Error::Config(
                "the authorization code flow needs a client_id (WalletBuilder::client_id)".into(),
            )
        })
    }

    /// Runs one exchange to completion (following its fallbacks and retries).
    pub async fn run<E: Exchange>(&self, step: E) -> Result<E::Output> {
        self.run_with(step, Protect::default()).await
    }

    /// [`Self::run`] with DPoP and client attestation as `protect` says.
    pub(crate) async fn run_with<E: Exchange>(
        &self,
        mut step: E,
        mut protect: Protect<'_>,
    ) -> Result<E::Output> {
        for _ in 0..MAX_EXCHANGE_ROUNDS {
            let request = step.prepare_request(&self.inner.engine)?;
            let response = self
                .send_protected(step.endpoint(), request, &mut protect)
                .await?;
            match step.handle_response(response, &self.inner.engine)? {
                Progress::Done(out) => return Ok(out),
                Progress::Again(next) => step = next,
            }
        }
        Err(Error::InvalidState(format!(
            "{} exchange did not settle",
            step.endpoint()
        )))
    }

    /// Sends one request, applying the URL policy and mapping transport errors.
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        request: HttpRequest,
    ) -> Result<HttpResponse> {
        let url = display_url(&request.url);
        crate::http::check_url(&request.url, self.inner.engine.allow_http).map_err(|kind| {
            Error::Transport {
                endpoint,
                url: url.clone(),
                kind,
            }
        })?;
        tracing::debug!(%endpoint, %url, method = request.method.as_str(), "request");
        let response = self
            .inner
            .http
            .send(request)
            .await
            .map_err(|kind| Error::Transport {
                endpoint,
                url: url.clone(),
                kind,
            })?;
        tracing::debug!(%endpoint, %url, status = response.status, bytes = response.body.len(), "response");
        Ok(response)
    }

    /// Sends a request with what `protect` asks for: a fresh DPoP proof
    /// (keeping the server's `DPoP-Nonce`), and the wallet attestation with a
    /// fresh proof of possession (keeping the server's challenge). Sends once
    /// more when the server answers `use_dpop_nonce` or
    /// `use_attestation_challenge` (each at most once).
    pub(crate) async fn send_protected(
        &self,
        endpoint: Endpoint,
        request: HttpRequest,
        protect: &mut Protect<'_>,
    ) -> Result<HttpResponse> {
        let attest = protect.attest_to.zip(self.inner.attestation.as_ref());
        if let Some((_, attestation)) = attest {
            if attestation.expired(self.now()) {
                return Err(Error::Config(
                    "the wallet attestation has expired: get a fresh one from the wallet provider"
                        .into(),
                ));
            }
        }
        let (mut dpop_retried, mut challenge_retried) = (false, false);
        loop {
            let mut request = request.clone();
            if let Some((state, DpopUse::Prove(server, token))) = protect.dpop.as_mut() {
                let proof = state.proof(
                    *server,
                    request.method.as_str(),
                    &request.url,
                    *token,
                    self.now(),
                )?;
                request = request.header("dpop", proof);
            }
            if let Some((server, attestation)) = attest {
                let challenge = self.attestation_challenge(server).await?;
                let pop = attestation.pop(&server.issuer, challenge.as_deref(), self.now())?;
                request = request
                    .header(ATTESTATION_HEADER, attestation.jwt())
                    .header(ATTESTATION_POP_HEADER, pop);
            }
            let response = self.send(endpoint, request).await?;
            let nonce_challenge = match protect.dpop.as_mut() {
                Some((state, how)) => {
                    state.observe(how.server(), &response) && matches!(how, DpopUse::Prove(..))
                }
                None => false,
            };
            if let Some((server, _)) = attest {
                if let Some(c) = response.header(CHALLENGE_HEADER).and_then(valid_challenge) {
                    self.keep_challenge(server, c);
                }
            }
            if nonce_challenge && !dpop_retried {
                tracing::debug!(%endpoint, "DPoP nonce challenge, sending again with the nonce");
                dpop_retried = true;
                continue;
            }
            if attest.is_some() && !challenge_retried && response.status == 400 {
                let code = crate::flow::parse_error_body(&response).map(|e| e.code);
                if code == Some(crate::error::ErrorCode::UseAttestationChallenge) {
                    tracing::debug!(%endpoint, "attestation challenge asked, sending again with one");
                    challenge_retried = true;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// The challenge for the next attestation PoP to `server`: the one its
    /// last response gave, else a fresh one from its `challenge_endpoint`,
    /// else none.
    async fn attestation_challenge(
        &self,
        server: &AuthorizationServerMetadata,
    ) -> Result<Option<String>> {
        let kept = self
            .inner
            .challenges
            .lock()
            .ok()
            .and_then(|mut c| c.remove(&server.issuer));
        if kept.is_some() {
            return Ok(kept);
        }
        match &server.challenge_endpoint {
            Some(url) => {
                // One plain round (not `run`, which would come back here).
                let step = ChallengeExchange::new(url);
                let request = step.prepare_request(&self.inner.engine)?;
                let response = self.send(Endpoint::Challenge, request).await?;
                match step.handle_response(response, &self.inner.engine)? {
                    Progress::Done(challenge) => Ok(Some(challenge)),
                    Progress::Again(_) => Ok(None),
                }
            }
            None => Ok(None),
        }
    }

    fn keep_challenge(&self, server: &AuthorizationServerMetadata, challenge: String) {
        if let Ok(mut challenges) = self.inner.challenges.lock() {
            challenges.insert(server.issuer.clone(), challenge);
        }
    }

    /// Verifies the issuer signature of SD-JWT credentials (x5c leaf key, else
    /// the keys at the issuer's `/.well-known/jwt-vc-issuer`).
    async fn verify_signatures(&self, credentials: &mut [IssuedCredential]) -> Result<()> {
        if !self.inner.verify_signatures {
            return Ok(());
        }
        let mut keys_by_issuer: HashMap<String, Vec<Value>> = HashMap::new();
        for credential in credentials.iter_mut().filter(|c| is_sd_jwt(&c.format)) {
            let sd = credential
                .sd_jwt()
                .ok_or_else(|| Error::CredentialCheck("SD-JWT did not parse".into()))?;
            let keys = match sd.x5c_leaf_jwk() {
                Some(jwk) => vec![jwk.map_err(Error::CredentialCheck)?],
                None => {
                    let iss = sd
                        .issuer()
                        .ok_or_else(|| {
                            Error::CredentialCheck("SD-JWT has no iss to find its key".into())
                        })?
                        .to_string();
                    if !keys_by_issuer.contains_key(&iss) {
                        let keys = self.run(JwtVcIssuerKeys::new(&iss)?).await?;
                        keys_by_issuer.insert(iss.clone(), keys);
                    }
                    keys_by_issuer[&iss].clone()
                }
            };
            verify_with_any(&sd, &keys)?;
            credential.signature_verified = true;
        }
        Ok(())
    }
}

/// How [`Wallet::send_protected`] uses DPoP for one request.
#[derive(Clone, Copy)]
pub(crate) enum DpopUse<'a> {
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

/// What protects a request beyond TLS: DPoP, and client attestation (PAR
/// and token requests to this authorization server).
#[derive(Default)]
pub(crate) struct Protect<'a> {
    dpop: Option<(&'a mut DpopState, DpopUse<'a>)>,
    attest_to: Option<&'a AuthorizationServerMetadata>,
}

impl<'a> Protect<'a> {
    /// A PAR or token request to `server`: a DPoP proof when `dpop` is
    /// given, and the wallet attestation when the wallet has one.
    fn authorization_server(
        server: &'a AuthorizationServerMetadata,
        dpop: Option<&'a mut DpopState>,
    ) -> Self {
        Self {
            dpop: dpop.map(|d| (d, DpopUse::Prove(DpopServer::AuthorizationServer, None))),
            attest_to: Some(server),
        }
    }

    /// A request to the credential issuer with DPoP as `how` says.
    fn issuer(dpop: Option<&'a mut DpopState>, how: DpopUse<'a>) -> Self {
        Self {
            dpop: dpop.map(|d| (d, how)),
            attest_to: None,
        }
    }
}

fn is_invalid_token(e: &Error) -> bool {
    matches!(e, Error::Server { status: 401, error, .. } if error.code == crate::error::ErrorCode::InvalidToken)
}

fn verify_with_any(sd: &SdJwt, keys: &[Value]) -> Result<()> {
    let candidates: Vec<&Value> = match sd.kid() {
        Some(kid)
            if keys
                .iter()
                .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid)) =>
        {
            keys.iter()
                .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                .collect()
        }
        _ => keys.iter().collect(),
    };
    let mut last = "the issuer publishes no usable key".to_string();
    for key in candidates {
        match sd.verify_signature(key) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(Error::CredentialCheck(last))
}

/// The pause before the one retry of a notification that failed with a 5xx
/// or a transport error.
pub const NOTIFICATION_RETRY_DELAY: Duration = Duration::from_secs(1);

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

/// What [`Wallet::receive`] got.
#[derive(Debug)]
pub struct Received {
    /// The authorization, for notifications.
    pub authorized: Authorized,
    /// The credentials, in request order.
    pub credentials: Vec<IssuedCredential>,
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

/// The result of a credential request.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once, not stored in bulk
pub enum Issuance {
    /// Issued now.
    Issued(Vec<IssuedCredential>),
    /// Issued later: poll it.
    Deferred(DeferredPending),
}

/// Cancels a running [`DeferredPending::poll_until_ready`].
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<(AtomicBool, tokio::sync::Notify)>,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every wait on this token.
    pub fn cancel(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    async fn cancelled(&self) {
        loop {
            let notified = self.inner.1.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

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
                let protect = Protect::authorization_server(&server, dpop.as_mut());
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
        let protect =
            Protect::authorization_server(&self.context.authorization_server, self.dpop.as_mut());
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
        let protect =
            Protect::authorization_server(&self.context.authorization_server, dpop.as_mut());
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
                        let protect = Protect::issuer(self.dpop.as_mut(), observe);
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
                other => other?,
            };
            match outcome {
                CredentialOutcome::Issued(mut list) => {
                    wallet.verify_signatures(&mut list).await?;
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

    /// Refreshes the access token now (needs a refresh token).
    pub async fn refresh(&mut self, wallet: &Wallet) -> Result<()> {
        let exchange = self.refresh_exchange().ok_or_else(|| {
            Error::InvalidState("no refresh token to refresh the access token with".into())
        })?;
        let protect =
            Protect::authorization_server(&self.context.authorization_server, self.dpop.as_mut());
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
        let mut protect = Protect::issuer(Some(dpop), how);
        wallet.send_protected(endpoint, request, &mut protect).await
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
                other => break other?,
            }
        };
        match status {
            DeferredStatus::Issued(mut list) => {
                wallet.verify_signatures(&mut list).await?;
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
