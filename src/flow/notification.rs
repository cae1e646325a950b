//! The notification endpoint (OID4VCI 1.0 section 11): `credential_accepted`,
//! `credential_failure`, `credential_deleted`, with one retry.

use super::authorized::Authorized;
use super::token::TokenRequest;
use super::{error_from_response, EngineConfig};
use crate::error::{Endpoint, Error, Result};
use crate::http::{HttpRequest, HttpResponse};
use crate::types::{NotificationEvent, NotificationRequest};

/// or a transport error.
pub const NOTIFICATION_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// A notification (`credential_accepted`, `credential_failure`,
/// `credential_deleted`): safe to repeat, so retried once after a 5xx or a
/// transport failure, [`NOTIFICATION_RETRY_DELAY`] later.
pub struct Notify<'p> {
    authorized: &'p mut Authorized,
    notification_id: String,
    event: NotificationEvent,
    description: Option<String>,
}

impl<'p> Notify<'p> {
    /// The notification of `event` for `notification_id`.
    pub fn new(
        authorized: &'p mut Authorized,
        notification_id: &str,
        event: NotificationEvent,
        description: Option<&str>,
    ) -> Result<Self> {
        // Checked now, so a bad description fails before anything is sent;
        // each send builds the request again, with the token of the moment
        // (a refresh may come first, or after an `invalid_token`).
        authorized.notification_request(notification_id, event, description)?;
        Ok(Self {
            authorized,
            notification_id: notification_id.to_string(),
            event,
            description: description.map(str::to_string),
        })
    }
}

impl<'p> Notify<'p> {
    /// The `credential_failure` notification the issuer gets when a check
    /// of what it issued fails ([`Error::CredentialCheck`]) and the issuer
    /// gave a `notification_id` and has a notification endpoint: best
    /// effort, naming the check in the `event_description`. `None` for
    /// any other error, or when there is no one to tell.
    pub fn for_failed_check(authorized: &'p mut Authorized, error: &Error) -> Option<Self> {
        let Error::CredentialCheck(rejection) = error else {
            return None;
        };
        let id = rejection.notification_id.as_deref()?;
        authorized.context().issuer.notification_endpoint.as_ref()?;
        let description = event_description(&rejection.problem);
        Self::new(
            authorized,
            id,
            NotificationEvent::CredentialFailure,
            Some(&description),
        )
        .ok()
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

impl TokenRequest for Notify<'_> {
    type Output = ();

    fn endpoint(&self) -> Endpoint {
        Endpoint::Notification
    }

    fn authorized(&mut self) -> &mut Authorized {
        self.authorized
    }

    fn prepare(&mut self, _config: &EngineConfig) -> Result<HttpRequest> {
        self.authorized.notification_request(
            &self.notification_id,
            self.event,
            self.description.as_deref(),
        )
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

impl Authorized {
    /// A notification request.
    pub fn notification_request(
        &self,
        notification_id: &str,
        event: NotificationEvent,
        description: Option<&str>,
    ) -> Result<HttpRequest> {
        let url =
            self.context
                .issuer
                .notification_endpoint
                .as_deref()
                .ok_or(Error::MissingEndpoint {
                    document: crate::error::Document::IssuerMetadata,
                    field: "notification_endpoint",
                })?;
        if let Some(d) = description {
            if !d
                .chars()
                .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\')
            {
                return Err(Error::InvalidState(
                    "event_description must be printable ASCII without '\"' and '\\'".into(),
                ));
            }
        }
        let body = NotificationRequest {
            notification_id: notification_id.to_string(),
            event,
            event_description: description.map(str::to_string),
        };
        Ok(HttpRequest::post_json(url, &body).header("authorization", self.authorization_header()))
    }

    /// Reads a notification response (2xx, usually 204).
    pub fn handle_notification_response(&self, response: &HttpResponse) -> Result<()> {
        if response.is_success() {
            return Ok(());
        }
        let url = self
            .context
            .issuer
            .notification_endpoint
            .as_deref()
            .unwrap_or_default();
        Err(error_from_response(Endpoint::Notification, url, response))
    }
}
