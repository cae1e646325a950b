#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(sd) = oid4vci_wallet::verify::SdJwt::parse(&text) {
        let _ = sd.claims();
        let _ = sd.x5c_leaf_jwk();
    }
});
