//! The attestation challenge endpoint (`POST {prefix}/challenge`, with
//! attestation challenges on): a fresh challenge for a wallet attestation's
//! PoP.

use super::ok;
use crate::attestation;
use crate::state::Shared;
use axum::response::Response;
use serde_json::json;

pub(super) fn challenge(shared: &Shared) -> Response {
    let mut inner = shared.lock();
    inner.count(attestation::CHALLENGES_ISSUED);
    let challenge = inner.attestation.new_challenge();
    ok(json!({ "attestation_challenge": challenge }))
}
