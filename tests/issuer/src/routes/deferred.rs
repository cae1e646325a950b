//! The deferred endpoint: pending (`interval`, or draft 13's
//! `issuance_pending`) until the configured polls are spent, then the
//! credentials, encrypted as each poll asks; in draft 11 by the
//! `acceptance_token` as the Bearer token.

use super::auth::session;
use super::credential::{answer, draft11_issued_body, issued_body, open_request};
use super::{bad_request, invalid_token, json_response, ok, server_error, Request};
use crate::state::Shared;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

pub(super) fn deferred(shared: &Shared, request: &Request) -> Response {
    if shared.settings.draft11() {
        return draft11_deferred(shared, request);
    }
    let mut inner = shared.lock();
    let session_id = match session(shared, &mut inner, request) {
        Ok(session) => session.id,
        Err(response) => return response,
    };
    let (body, response_encryption) = match open_request(shared, &mut inner, request) {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let Some(transaction_id) =
        body.and_then(|b| b.get("transaction_id")?.as_str().map(str::to_string))
    else {
        return bad_request("invalid_credential_request", "transaction_id is required");
    };
    let Some(entry) = inner
        .deferred
        .get_mut(&transaction_id)
        .filter(|d| d.session_id == session_id)
    else {
        return bad_request("invalid_transaction_id", "unknown transaction_id");
    };
    if entry.polls_left > 0 && shared.settings.draft13() {
        entry.polls_left -= 1;
        return bad_request("issuance_pending", "not ready yet");
    }
    if entry.polls_left > 0 {
        entry.polls_left -= 1;
        let body = json!({
            "transaction_id": transaction_id,
            "interval": shared.settings.deferred_interval,
        });
        return answer(
            shared,
            &mut inner,
            StatusCode::ACCEPTED,
            &body,
            response_encryption.as_ref(),
        );
    }
    let Some(entry) = inner.deferred.remove(&transaction_id) else {
        return server_error();
    };
    let body = issued_body(shared, &mut inner, session_id, entry.credentials);
    answer(
        shared,
        &mut inner,
        StatusCode::OK,
        &body,
        response_encryption.as_ref(),
    )
}

/// Draft 11: the `acceptance_token` of the credential answer is the Bearer
/// token (no body); `issuance_pending` with `interval` until the polls are
/// spent, then `{format, credential}` (the token is used up).
fn draft11_deferred(shared: &Shared, request: &Request) -> Response {
    let mut inner = shared.lock();
    let Some(token) = request.bearer() else {
        return invalid_token("draft 11: send the acceptance_token as the Bearer token");
    };
    let Some(entry) = inner.deferred.get_mut(token) else {
        return invalid_token("the acceptance_token is unknown or used");
    };
    if entry.polls_left > 0 {
        entry.polls_left -= 1;
        let body = json!({
            "error": "issuance_pending",
            "error_description": "not ready yet",
            "interval": shared.settings.deferred_interval,
        });
        return json_response(StatusCode::BAD_REQUEST, &body);
    }
    let Some(entry) = inner.deferred.remove(token) else {
        return server_error();
    };
    ok(draft11_issued_body(entry.format, entry.credentials))
}
