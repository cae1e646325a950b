#![no_main]
//! An encrypted credential response: whatever the issuer sends as a compact
//! JWE, decryption fails with an error or yields bytes; it never panics.
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::flow::{ContentEncryption, ResponseEncryption};
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static KEY: OnceLock<ResponseEncryption> = OnceLock::new();
    let key = KEY.get_or_init(|| ResponseEncryption::generate(ContentEncryption::A128Gcm));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = key.decrypt(text);
    }
});
