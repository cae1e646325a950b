#![no_main]
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::flow::{AuthorizationBegin, AuthorizationCodeStep, AuthorizationSecrets, RequestMode};
use oid4vci_wallet::types::PkceVerifier;
#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let step = AuthorizationCodeStep::new(common::context(), vec!["pid".into()], None).unwrap();
    let secrets = AuthorizationSecrets {
        verifier: PkceVerifier::new("v".repeat(43)),
        state: "s".into(),
        dpop: None,
    };
    let Ok(AuthorizationBegin::Ready(pending)) =
        step.begin("w", "https://w.ex/cb", RequestMode::Auto, secrets)
    else {
        unreachable!()
    };
    let text = String::from_utf8_lossy(data);
    let _ = pending.callback(&text);
    let _ = pending.callback(&format!("https://w.ex/cb?{text}"));
});
