//! The deferred credential endpoint (OID4VCI 1.0 section 9): a transaction
//! polled at the issuer's `interval` until the credential is ready. Draft 11
//! polls with its `acceptance_token` as the Bearer token, and no body.

use super::authorized::Authorized;
use super::credential::credential_body;
use super::driver::Driver;
use super::issued::{issued_credentials, IssuedCredential};
use super::plan::CredentialPlan;
use super::receive::{Observer, ReceiveStage};
use super::received::CheckReceived;
use super::token::{TokenRequest, WithToken};
use super::{error_from_response, parse_error_body, EngineConfig};
use crate::error::{display_url, Endpoint, Error, ErrorCode, Result, ServerError};
use crate::http::{HttpRequest, HttpResponse, Method};
use crate::jose::RandomSource;
use crate::types::{AccessToken, DeferredRequest, NotificationEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// The shortest wait between two polls, whatever the issuer's interval says.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The interval assumed when a deferred response gives none (draft 13's default).
pub const DEFAULT_DEFERRED_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) fn interval(value: Option<i64>) -> std::result::Result<Duration, String> {
    match value {
        None => Ok(DEFAULT_DEFERRED_INTERVAL),
        Some(n) if n < 0 => Err(format!("field interval: negative ({n})")),
        Some(n) => Ok(Duration::from_secs(n as u64)),
    }
}

/// A credential the issuer will deliver later. Poll it with the same access
/// token; save it (JSON) to poll after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferredPending {
    pub(crate) authorized: Authorized,
    pub(crate) plan: CredentialPlan,
    pub(crate) transaction_id: String,
    /// Draft 11: the `acceptance_token`, sent as the Bearer token of the
    /// poll instead of the access token and a `transaction_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) acceptance_token: Option<AccessToken>,
    pub(crate) interval_secs: u64,
    pub(crate) completed: bool,
    /// The HTTP status of the answer that ended the transaction
    /// ([`DeferredStatus::Failed`]), for its error.
    #[serde(skip)]
    pub(crate) ended_status: u16,
}

/// What a deferred poll found.
#[derive(Debug)]
pub enum DeferredStatus {
    /// Not ready; wait at least `interval` before polling again.
    Pending {
        /// The issuer's requested wait.
        interval: Duration,
    },
    /// Issued.
    Issued(Vec<IssuedCredential>),
    /// The issuer ended the transaction (`invalid_transaction_id`,
    /// `credential_request_denied`): polling again is pointless.
    Failed(ServerError),
}

impl DeferredPending {
    /// The issuer's last requested wait before the next poll.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }

    /// How long to wait before the next poll: the issuer's interval, at
    /// least [`MIN_POLL_INTERVAL`]; `None` when the wait would end after
    /// `remaining` (the time left before the caller's deadline), so that
    /// the caller gives up now rather than at the deadline.
    pub fn next_wait(&self, remaining: Duration) -> Option<Duration> {
        let wait = self.interval().max(MIN_POLL_INTERVAL);
        (wait <= remaining).then_some(wait)
    }

    /// The error for a transaction the issuer ended
    /// ([`DeferredStatus::Failed`]): [`Error::Server`] at the deferred
    /// endpoint, with the status it answered.
    pub fn ended_error(&self, error: ServerError) -> Error {
        Error::Server {
            endpoint: Endpoint::Deferred,
            url: display_url(self.endpoint().unwrap_or("")),
            status: self.ended_status,
            error,
        }
    }

    /// The configuration being issued.
    pub fn configuration_id(&self) -> &str {
        &self.plan.configuration_id
    }

    /// The authorization this transaction polls with. After a refresh during
    /// polling it holds the newest tokens: notify through
    /// `DeferredPending::notify` (or take it back with `into_authorized`)
    /// rather than through an older copy.
    pub fn authorized(&self) -> &Authorized {
        &self.authorized
    }

    /// The poll request.
    pub fn poll_request(&self, random: &dyn RandomSource) -> Result<HttpRequest> {
        if self.completed {
            return Err(Error::InvalidState(
                "this deferred transaction already completed".into(),
            ));
        }
        let url = self.endpoint()?;
        if let Some(token) = &self.acceptance_token {
            // Draft 11: `POST` with the acceptance token, no body (draft 11
            // has no encryption to seal it with).
            return Ok(HttpRequest {
                method: Method::Post,
                url: url.to_string(),
                headers: Vec::new(),
                body: Vec::new(),
            }
            .header("authorization", format!("Bearer {}", token.secret()))
            .header("accept", "application/json"));
        }
        let body = DeferredRequest {
            transaction_id: self.transaction_id.clone(),
        };
        self.plan.seal_request(
            HttpRequest::post_json(url, &body)
                .header("authorization", self.authorized.authorization_header())
                .header("accept", "application/json"),
            random,
        )
    }

    fn endpoint(&self) -> Result<&str> {
        self.authorized
            .context
            .issuer
            .deferred_credential_endpoint
            .as_deref()
            .ok_or(Error::MissingEndpoint {
                document: crate::error::Document::IssuerMetadata,
                field: "deferred_credential_endpoint",
            })
    }

    /// Reads a poll response.
    pub fn handle_poll_response(&mut self, response: HttpResponse) -> Result<DeferredStatus> {
        let url = self.endpoint()?.to_string();
        let response = self
            .plan
            .open_response(Endpoint::Deferred, &url, response)?;
        if !response.is_success() {
            return match parse_error_body(&response) {
                // Drafts 11 and 13: still pending, with an optional interval.
                Some(e) if e.code == ErrorCode::IssuancePending => {
                    let interval = serde_json::from_slice::<Value>(&response.body)
                        .ok()
                        .and_then(|v| v.get("interval")?.as_i64())
                        .filter(|n| *n >= 0)
                        .map(|n| Duration::from_secs(n as u64))
                        .unwrap_or(DEFAULT_DEFERRED_INTERVAL);
                    self.interval_secs = interval.as_secs();
                    Ok(DeferredStatus::Pending { interval })
                }
                Some(e)
                    if matches!(
                        e.code,
                        ErrorCode::InvalidTransactionId | ErrorCode::CredentialRequestDenied
                    ) =>
                {
                    self.completed = true;
                    self.ended_status = response.status;
                    Ok(DeferredStatus::Failed(e))
                }
                _ => Err(error_from_response(Endpoint::Deferred, &url, &response)),
            };
        }
        let (body, _) = credential_body(Endpoint::Deferred, &url, &response)?;
        let bad = |problem: String| Error::UnexpectedResponse {
            endpoint: Endpoint::Deferred,
            url: display_url(&url),
            status: response.status,
            problem,
        };
        if response.status == 202 {
            let interval = interval(body.interval).map_err(bad)?;
            self.interval_secs = interval.as_secs();
            return Ok(DeferredStatus::Pending { interval });
        }
        let credentials = issued_credentials(&self.authorized, &self.plan, &body)
            .map_err(|r| r.into_error(bad, &body))?;
        self.completed = true;
        Ok(DeferredStatus::Issued(credentials))
    }

    /// Saves the state as JSON (it contains the access token: store it securely).
    pub fn to_json(&self) -> Result<String> {
        super::saved::save_state(super::saved::SavedKind::DeferredPending, self)
    }

    /// Restores a state saved with [`Self::to_json`]. Fails with
    /// [`Error::InvalidState`] naming what is wrong when the JSON is not a
    /// saved deferred transaction.
    pub fn from_json(json: &str) -> Result<Self> {
        super::saved::restore_state(super::saved::SavedKind::DeferredPending, json)
    }
}

/// One poll of a deferred transaction.
pub struct DeferredPoll<'p>(pub &'p mut DeferredPending);

impl TokenRequest for DeferredPoll<'_> {
    type Output = DeferredStatus;

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

impl DeferredPending {
    /// The authorization, with the newest tokens, for further requests.
    pub fn into_authorized(self) -> Authorized {
        self.authorized
    }

    /// [`Authorized::notify`] with this transaction's (newest) tokens.
    pub async fn notify<D: Driver>(
        &mut self,
        driver: &D,
        notification_id: &str,
        event: NotificationEvent,
    ) -> Result<()> {
        self.authorized.notify(driver, notification_id, event).await
    }

    /// Polls once (refreshing the access token first when it has expired, or
    /// once after an `invalid_token` answer, when there is a refresh token),
    /// and checks what is issued as [`Authorized::request_credentials`] does.
    pub async fn poll<D: Driver>(&mut self, driver: &D) -> Result<DeferredStatus> {
        let poll = WithToken::new(DeferredPoll(self), driver.attestation(), driver.now());
        let status = match driver.drive(poll).await {
            Ok(status) => status,
            Err(e) => return Err(self.authorized.report_failure(driver, e).await),
        };
        match status {
            DeferredStatus::Issued(list) => {
                let issuer = self.authorized.context.issuer.credential_issuer.clone();
                match CheckReceived::run(driver, &issuer, list, None).await {
                    Ok(list) => Ok(DeferredStatus::Issued(list)),
                    Err(e) => Err(self.authorized.report_failure(driver, e).await),
                }
            }
            other => Ok(other),
        }
    }

    /// Waits the issuer's interval (at least [`MIN_POLL_INTERVAL`]) with
    /// [`Driver::sleep`], polls, and repeats until issued, failed, or past
    /// `deadline` from now (on [`Driver::monotonic`]). Returns
    /// [`Error::DeadlineExceeded`] without waiting when the next interval
    /// would end past the deadline. A driver that is cancelled ends it with
    /// [`Error::Cancelled`].
    pub async fn poll_until_ready_with<D: Driver>(
        &mut self,
        driver: &D,
        deadline: Duration,
    ) -> Result<Vec<IssuedCredential>> {
        self.poll_until_ready_observed(driver, deadline, Observer::NONE)
            .await
    }

    /// [`Self::poll_until_ready_with`], telling `observer` each wait
    /// ([`ReceiveStage::Deferred`], with the time of the next poll).
    pub(crate) async fn poll_until_ready_observed<D: Driver>(
        &mut self,
        driver: &D,
        deadline: Duration,
        observer: Observer<'_>,
    ) -> Result<Vec<IssuedCredential>> {
        let end = driver.monotonic().saturating_add(deadline);
        loop {
            let Some(wait) = self.next_wait(end.saturating_sub(driver.monotonic())) else {
                return Err(Error::DeadlineExceeded);
            };
            observer.emit(|| ReceiveStage::Deferred {
                configuration_id: self.configuration_id().to_string(),
                next_poll_in: wait,
                next_poll_at: driver.now().saturating_add(wait.as_secs()),
            });
            driver.sleep(wait).await?;
            match self.poll(driver).await? {
                DeferredStatus::Pending { .. } => continue,
                DeferredStatus::Issued(list) => return Ok(list),
                DeferredStatus::Failed(error) => return Err(self.ended_error(error)),
            }
        }
    }
}
