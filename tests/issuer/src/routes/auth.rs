//! Who is asking: at the authorization server (token and PAR endpoints)
//! the client's DPoP proof and wallet attestation, at the credential issuer
//! (credential, deferred and notification endpoints) the access token, as
//! Bearer or DPoP-bound with its proof; and the error answers of each.

use super::{
    bad_request, invalid_token, unauthorized, with_attestation_challenge, with_dpop_nonce, Request,
};
use crate::attestation::{self, ATTESTATION_HEADER, POP_HEADER};
use crate::dpop::{self, Rejection, Server};
use crate::state::{Inner, Session, Shared};
use axum::response::Response;
use std::time::Instant;

/// The authorization server's answer to a refused client attestation: 400
/// `invalid_client`, `use_fresh_attestation`, or `use_attestation_challenge`
/// with a fresh challenge in `OAuth-Client-Attestation-Challenge`.
fn as_attestation_rejection(inner: &mut Inner, rejection: attestation::Rejection) -> Response {
    inner.count(attestation::REJECTED);
    match rejection {
        attestation::Rejection::InvalidClient(description) => {
            bad_request("invalid_client", &description)
        }
        attestation::Rejection::UseFreshAttestation(description) => {
            bad_request("use_fresh_attestation", &description)
        }
        attestation::Rejection::UseChallenge(description) => {
            inner.count(attestation::CHALLENGES_ISSUED);
            let challenge = inner.attestation.new_challenge();
            with_attestation_challenge(
                bad_request("use_attestation_challenge", &description),
                &challenge,
            )
        }
    }
}

/// The authorization server's answer to a refused DPoP proof: 400
/// `invalid_dpop_proof`, or 400 `use_dpop_nonce` with a fresh nonce.
pub(crate) fn as_dpop_rejection(inner: &mut Inner, rejection: Rejection) -> Response {
    match rejection {
        Rejection::InvalidProof(description) => {
            inner.count(dpop::REJECTED);
            bad_request("invalid_dpop_proof", &description)
        }
        Rejection::UseNonce(description) => {
            inner.count(dpop::NONCE_CHALLENGES_AS);
            let nonce = inner.dpop.new_nonce(Server::AuthorizationServer);
            with_dpop_nonce(bad_request("use_dpop_nonce", &description), &nonce)
        }
    }
}

/// The credential issuer's answer to a refused DPoP proof: 401 with
/// `WWW-Authenticate: DPoP error="invalid_dpop_proof"`, or
/// `error="use_dpop_nonce"` with a fresh nonce.
pub(super) fn issuer_dpop_rejection(inner: &mut Inner, rejection: Rejection) -> Response {
    match rejection {
        Rejection::InvalidProof(description) => {
            inner.count(dpop::REJECTED);
            unauthorized("DPoP", "invalid_dpop_proof", &description)
        }
        Rejection::UseNonce(description) => {
            inner.count(dpop::NONCE_CHALLENGES_ISSUER);
            let nonce = inner.dpop.new_nonce(Server::Issuer);
            with_dpop_nonce(unauthorized("DPoP", "use_dpop_nonce", &description), &nonce)
        }
    }
}

/// With DPoP required, the proof at the token or PAR endpoint: its key's
/// thumbprint, `None` when there is no proof and none is `required`, or the
/// 400 to send.
pub(super) fn as_dpop_proof(
    shared: &Shared,
    request: &Request,
    required: bool,
) -> Result<Option<String>, Response> {
    let mut inner = shared.lock();
    let checked = match request.dpop() {
        Ok(None) if !required => return Ok(None),
        Ok(None) => Err(Rejection::InvalidProof(
            "a DPoP proof (DPoP header) is required".into(),
        )),
        Ok(Some(jwt)) => inner.dpop.verify(
            Server::AuthorizationServer,
            shared.settings.dpop_nonce,
            jwt,
            &request.expected(None),
        ),
        Err(rejection) => Err(rejection),
    };
    match checked {
        Ok(checked) => Ok(Some(checked.jkt)),
        Err(rejection) => Err(as_dpop_rejection(&mut inner, rejection)),
    }
}

/// With wallet attestation on, the client attestation of a PAR or token
/// request: the attested `client_id` (the attestation's `sub`), `None` when
/// attestation is off, or the 400 to send.
pub(super) fn client_attestation(
    shared: &Shared,
    request: &Request,
) -> Result<Option<String>, Response> {
    if !shared.attestation_required() {
        return Ok(None);
    }
    let pairs = request.form_pairs();
    let client_ids: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "client_id")
        .map(|(_, v)| v.as_str())
        .collect();
    let audience = shared.as_id();
    let mut inner = shared.lock();
    let headers = (|| {
        let attestation = request.single_header(ATTESTATION_HEADER, "OAuth-Client-Attestation")?;
        let pop = request.single_header(POP_HEADER, "OAuth-Client-Attestation-PoP")?;
        match (attestation, pop) {
            (Some(a), Some(p)) => Ok((a, p)),
            (None, None) => Err(
                "client authentication is required: send a wallet attestation \
                 (OAuth-Client-Attestation and OAuth-Client-Attestation-PoP headers)"
                    .to_string(),
            ),
            (None, Some(_)) => Err("the OAuth-Client-Attestation header is missing".to_string()),
            (Some(_), None) => {
                Err("the OAuth-Client-Attestation-PoP header is missing".to_string())
            }
        }
    })();
    let checked = headers
        .map_err(attestation::Rejection::InvalidClient)
        .and_then(|(a, p)| {
            inner.attestation.verify(
                shared.attestation_challenges(),
                shared.wallet_provider.verifying_key(),
                a,
                p,
                &attestation::Expected {
                    audience: &audience,
                    client_ids: &client_ids,
                },
            )
        });
    match checked {
        Ok(client_id) => Ok(Some(client_id)),
        Err(rejection) => Err(as_attestation_rejection(&mut inner, rejection)),
    }
}

/// The access token's session, or the 401 to send.
pub(super) fn session(
    shared: &Shared,
    inner: &mut Inner,
    request: &Request,
) -> Result<Session, Response> {
    if shared.settings.require_dpop {
        return dpop_session(shared, inner, request);
    }
    let token = request
        .bearer()
        .ok_or_else(|| invalid_token("a Bearer access token is required"))?;
    let session = inner
        .sessions
        .get(token)
        .ok_or_else(|| invalid_token("the access token is unknown"))?;
    if session.expires <= Instant::now() {
        return Err(invalid_token("the access token has expired"));
    }
    Ok(session.clone())
}

/// With DPoP required: `Authorization: DPoP <token>` and a `DPoP` proof by
/// the token's key, with `ath` (and the issuer's nonce when nonces are on).
fn dpop_session(
    shared: &Shared,
    inner: &mut Inner,
    request: &Request,
) -> Result<Session, Response> {
    let invalid = |description: &str| unauthorized("DPoP", "invalid_token", description);
    let Some(token) = request.authorization("dpop") else {
        return Err(invalid(if request.bearer().is_some() {
            "the access token is DPoP-bound: send it as Authorization: DPoP, with a DPoP proof"
        } else {
            "a DPoP-bound access token is required (Authorization: DPoP)"
        }));
    };
    let checked = match request.dpop() {
        Ok(None) => return Err(invalid("a DPoP proof (DPoP header) is required")),
        Ok(Some(jwt)) => inner.dpop.verify(
            Server::Issuer,
            shared.settings.dpop_nonce,
            jwt,
            &request.expected(Some(token)),
        ),
        Err(rejection) => Err(rejection),
    };
    let checked = checked.map_err(|rejection| issuer_dpop_rejection(inner, rejection))?;
    let session = inner
        .sessions
        .get(token)
        .cloned()
        .ok_or_else(|| invalid("the access token is unknown"))?;
    if session.expires <= Instant::now() {
        return Err(invalid("the access token has expired"));
    }
    if session.dpop_jkt.as_deref() != Some(checked.jkt.as_str()) {
        return Err(issuer_dpop_rejection(
            inner,
            Rejection::InvalidProof(
                "the DPoP proof's key is not the one the access token is bound to".into(),
            ),
        ));
    }
    Ok(session)
}

#[cfg(test)]
#[path = "dpop_flows.rs"]
mod dpop_flows;

#[cfg(test)]
#[path = "attestation_flows.rs"]
mod attestation_flows;
