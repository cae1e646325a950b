#![no_main]
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::flow::OfferFetch;
use oid4vci_wallet::flow::Exchange;
#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let fetch = OfferFetch {
        uri: "https://i.ex/offers/1".into(),
    };
    let _ = fetch.handle_response(common::response(data), &common::config());
});
