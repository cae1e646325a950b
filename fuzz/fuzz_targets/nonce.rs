#![no_main]
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::flow::NonceExchange;
use oid4vci_wallet::flow::Exchange;
#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let step = NonceExchange::new("https://i.ex/nonce");
    let _ = step.handle_response(common::response(data), &common::config());
});
