//! The notification endpoint: an event for a notification id of the
//! access token's session, recorded; 204.

use super::auth::session;
use super::{bad_request, respond, Request};
use crate::state::Shared;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

pub(super) fn notification(shared: &Shared, request: &Request) -> Response {
    let mut inner = shared.lock();
    let session_id = match session(shared, &mut inner, request) {
        Ok(session) => session.id,
        Err(response) => return response,
    };
    let Some(body) = request.json() else {
        return bad_request(
            "invalid_notification_request",
            "the body is not a JSON object",
        );
    };
    let id = body.get("notification_id").and_then(Value::as_str);
    let event = body.get("event").and_then(Value::as_str);
    let (Some(id), Some(event)) = (id, event) else {
        return bad_request(
            "invalid_notification_request",
            "notification_id and event are required",
        );
    };
    if !matches!(
        event,
        "credential_accepted" | "credential_failure" | "credential_deleted"
    ) {
        return bad_request("invalid_notification_request", "unknown event");
    }
    if inner.notification_ids.get(id) != Some(&session_id) {
        return bad_request("invalid_notification_id", "unknown notification_id");
    }
    inner
        .notifications
        .push((id.to_string(), event.to_string()));
    respond(StatusCode::NO_CONTENT, "application/json", Body::empty())
}
