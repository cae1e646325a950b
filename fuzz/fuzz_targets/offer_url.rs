#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let config = oid4vci_wallet::flow::EngineConfig {
        allow_http: true,
        ..Default::default()
    };
    let _ = oid4vci_wallet::flow::parse_offer_url(&text, &config);
});
