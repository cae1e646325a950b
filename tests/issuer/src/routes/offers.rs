//! Offers by reference (`GET {path}/offers/{id}`, used once) and the offer
//! page hook (`GET /test/offer-page/{id}`).

use super::{not_found, ok, respond};
use crate::state::{Fault, Shared};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map};

pub(super) fn offer_by_reference(shared: &Shared, id: &str) -> Response {
    let Some(offer) = shared.lock().offers.remove(id) else {
        return not_found();
    };
    if shared.has(Fault::OfferAsJwt) {
        let mut header = Map::new();
        header.insert("typ".into(), json!("JWT"));
        return respond(
            StatusCode::OK,
            "application/jwt",
            shared.keys.sign_jwt(header, &offer),
        );
    }
    if shared.has(Fault::OfferWrongContentType) {
        return respond(StatusCode::OK, "text/plain", offer.to_string());
    }
    ok(offer)
}

/// `GET /test/offer-page/{id}`: the HTML page of an offer made by
/// `POST /test/offers` (its `offer_page_url`), with the offer URL as a QR
/// code and a same-device link; 404 for an unknown id.
pub(super) fn offer_page(shared: &Shared, id: &str) -> Response {
    crate::offer_page::serve(shared, id).unwrap_or_else(not_found)
}
