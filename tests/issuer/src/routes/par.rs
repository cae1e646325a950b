//! The pushed authorization request endpoint (`POST {prefix}/par`, when
//! offered): the client's DPoP proof and wallet attestation checked here,
//! the request itself in `authorize`.

use super::auth::{as_dpop_proof, client_attestation};
use super::Request;
use crate::authorize;
use crate::state::Shared;
use axum::response::Response;

pub(super) fn par(shared: &Shared, request: &Request) -> Response {
    let proof_jkt = if shared.settings.require_dpop {
        match as_dpop_proof(shared, request, false) {
            Ok(jkt) => jkt,
            Err(response) => return response,
        }
    } else {
        None
    };
    let attested = match client_attestation(shared, request) {
        Ok(client_id) => client_id,
        Err(response) => return response,
    };
    authorize::par(shared, &request.form_pairs(), proof_jkt, attested)
}
