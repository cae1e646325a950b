//! The token endpoint: the pre-authorized code grant here (the code and
//! refresh grants in `authorize`; draft 11's PIN is `user_pin`), after the
//! client's DPoP proof and wallet attestation; and the token response every
//! grant answers with.

use super::auth::{as_dpop_proof, client_attestation};
use super::{bad_request, ok, server_error, Request};
use crate::authorize;
use crate::state::{
    random_id, Fault, Inner, Refresh, Session, Shared, NONCE_LIFETIME, TOKEN_LIFETIME,
};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

pub(super) fn token(shared: &Shared, request: &Request) -> Response {
    let form = match authorize::single_params(&request.form_pairs()) {
        Ok(form) => form,
        Err(m) => return bad_request("invalid_request", &m),
    };
    // The proof first: a refused one consumes no code.
    let proof_jkt = if shared.settings.require_dpop {
        match as_dpop_proof(shared, request, true) {
            Ok(jkt) => jkt,
            Err(response) => return response,
        }
    } else {
        None
    };
    // Then the client: a refused attestation consumes no code either.
    let attested = match client_attestation(shared, request) {
        Ok(client_id) => client_id,
        Err(response) => return response,
    };
    match form.get("grant_type").map(String::as_str).unwrap_or("") {
        PRE_AUTHORIZED_GRANT => {}
        "authorization_code" => return authorize::code_grant(shared, &form, proof_jkt, attested),
        "refresh_token" => return authorize::refresh_grant(shared, &form, proof_jkt, attested),
        _ => {
            return bad_request(
                "unsupported_grant_type",
                "grant_type must be pre-authorized_code, authorization_code or refresh_token",
            )
        }
    }
    let Some(code) = form.get("pre-authorized_code") else {
        return bad_request("invalid_request", "pre-authorized_code is missing");
    };
    let mut inner = shared.lock();
    let Some(entry) = inner.pre_authorized.get_mut(code) else {
        return bad_request(
            "invalid_grant",
            "the pre-authorized code is unknown, used or revoked",
        );
    };
    // Draft 11 calls the transaction code a PIN, sent as `user_pin`.
    let (param, what) = if shared.settings.draft11() {
        ("user_pin", "PIN")
    } else {
        ("tx_code", "transaction code")
    };
    if shared.settings.draft11() && form.contains_key("tx_code") {
        return bad_request(
            "invalid_request",
            "draft 11: send the PIN as user_pin (tx_code is OpenID4VCI 1.0)",
        );
    }
    match (&entry.tx_code, form.get(param)) {
        (Some(_), None) => return bad_request("invalid_request", &format!("{param} is required")),
        (None, Some(_)) => {
            return bad_request("invalid_request", &format!("this offer has no {what}"))
        }
        (Some(expected), Some(given)) if expected != given => {
            entry.attempts_left = entry.attempts_left.saturating_sub(1);
            if entry.attempts_left == 0 {
                inner.pre_authorized.remove(code);
                return bad_request(
                    "invalid_grant",
                    &format!("wrong {what}; the offer is now revoked"),
                );
            }
            return bad_request("invalid_grant", &format!("wrong {what}"));
        }
        _ => {}
    }
    let Some(entry) = inner.pre_authorized.remove(code) else {
        return server_error();
    };
    let session = Session {
        id: random_id(12),
        grant: entry.grant,
        identifiers: HashMap::new(),
        client_id: None,
        expires: Instant::now(),
        dpop_jkt: proof_jkt,
        attested_client: attested,
    };
    // Identifiers only when the wallet asked with authorization_details
    // (OID4VCI 1.0 section 6.1): wallets that never read them (and send
    // credential_configuration_id) keep working.
    let with_details =
        shared.settings.credential_identifiers && form.contains_key("authorization_details");
    // A refresh token too, so deferred polling survives a short-lived token.
    ok(token_response(
        shared,
        &mut inner,
        session,
        with_details,
        true,
    ))
}

/// Issues an access token (and a refresh token when `refresh`) for
/// `session` and returns the token response.
pub(crate) fn token_response(
    shared: &Shared,
    inner: &mut Inner,
    mut session: Session,
    with_details: bool,
    refresh: bool,
) -> Value {
    // Draft 11 has no credential identifiers (nor authorization_details in
    // the token response).
    let with_details = with_details && !shared.settings.draft11();
    if with_details && session.identifiers.is_empty() {
        for id in &session.grant.configuration_ids {
            session
                .identifiers
                .insert(format!("{id}:{}", random_id(6)), id.clone());
        }
    }
    let details: Vec<Value> = session
        .grant
        .configuration_ids
        .iter()
        .map(|id| {
            let mut ids: Vec<&String> = session
                .identifiers
                .iter()
                .filter(|(_, c)| *c == id)
                .map(|(i, _)| i)
                .collect();
            ids.sort();
            json!({
                "type": "openid_credential",
                "credential_configuration_id": id,
                "credential_identifiers": ids,
            })
        })
        .collect();
    let lifetime = shared.settings.access_token_lifetime;
    let token = random_id(32);
    inner.secrets.push(token.clone());
    let mut response = json!({
        "access_token": token,
        "token_type": if session.dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": if shared.has(Fault::ExpiresInOverstated) {
            TOKEN_LIFETIME.as_secs()
        } else {
            lifetime.as_secs()
        },
    });
    if with_details {
        response["authorization_details"] = json!(details);
    }
    if !shared.settings.advertises_nonce_endpoint() {
        response["c_nonce"] = json!(shared.new_nonce(inner));
        response["c_nonce_expires_in"] = json!(NONCE_LIFETIME.as_secs());
    }
    session.expires = Instant::now() + lifetime;
    if refresh {
        let refresh_token = random_id(32);
        inner.secrets.push(refresh_token.clone());
        response["refresh_token"] = json!(refresh_token);
        inner.refresh_tokens.insert(
            refresh_token,
            Refresh {
                session: session.clone(),
                with_details,
            },
        );
    }
    inner.sessions.insert(token, session);
    response
}
