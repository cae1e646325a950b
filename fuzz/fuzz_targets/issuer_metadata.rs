#![no_main]
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::flow::IssuerMetadataDiscovery;
use oid4vci_wallet::flow::Exchange;
#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let step = IssuerMetadataDiscovery::new("https://i.ex/tenant").unwrap();
    let _ = step.handle_response(common::response(data), &common::config());
});
