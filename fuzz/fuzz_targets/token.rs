#![no_main]
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::flow::TokenExchange;
use oid4vci_wallet::flow::Exchange;
use oid4vci_wallet::types::PreAuthorizedCode;
#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let code = PreAuthorizedCode::new("c");
    let step = TokenExchange::pre_authorized("https://i.ex/token", &code, None, None);
    let _ = step.handle_response(common::response(data), &common::config());
});
