//! The nonce endpoint (`POST {path}/nonce`): a fresh c_nonce; and using one
//! up, as the credential endpoint's proofs do.

use super::ok;
use crate::state::{Inner, Shared, NONCE_LIFETIME};
use axum::response::Response;
use serde_json::json;

pub(super) fn nonce(shared: &Shared) -> Response {
    let mut inner = shared.lock();
    let nonce = shared.new_nonce(&mut inner);
    ok(json!({ "c_nonce": nonce }))
}

/// Uses up `nonce` if it is a c_nonce of this issuer, unused and unexpired.
pub(super) fn take_nonce(inner: &mut Inner, nonce: &str) -> bool {
    inner
        .nonces
        .remove(nonce)
        .is_some_and(|issued| issued.elapsed() < NONCE_LIFETIME)
}
