#![no_main]
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::{Signer, SoftwareSigner};
#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut authorized = common::authorized();
    let key = SoftwareSigner::from_bytes(&[7u8; 32]).unwrap();
    let signers: [&dyn Signer; 1] = [&key];
    let id = if data.first().is_some_and(|b| b & 0x80 != 0) {
        "plain"
    } else {
        "pid"
    };
    let plan = authorized
        .plan_credential(id, &signers, &oid4vci_wallet::OsRandom, Default::default())
        .unwrap();
    let _ = authorized.handle_credential_response(&plan, common::response(data));
});
