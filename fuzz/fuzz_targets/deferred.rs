#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::flow::{CredentialOutcome, DeferredPending};
use oid4vci_wallet::HttpResponse;
use oid4vci_wallet::{Signer, SoftwareSigner};
#[path = "common.rs"]
mod common;

/// The deferred transaction, made once (planning signs a proof JWT, which
/// cost more than the poll handling under test); each input polls a clone.
fn pending() -> &'static DeferredPending {
    static PENDING: OnceLock<DeferredPending> = OnceLock::new();
    PENDING.get_or_init(|| {
        let mut authorized = common::authorized();
        let key = SoftwareSigner::from_bytes(&[7u8; 32]).unwrap();
        let signers: [&dyn Signer; 1] = [&key];
        let plan = authorized
            .plan_credential("pid", &signers, &oid4vci_wallet::OsRandom, Default::default())
            .unwrap();
        let accepted = HttpResponse::json(
            202,
            &serde_json::json!({"transaction_id": "t", "interval": 1}),
        );
        let Ok(CredentialOutcome::Deferred(pending)) =
            authorized.handle_credential_response(&plan, accepted)
        else {
            unreachable!("a well-formed 202 is deferred")
        };
        pending
    })
}

fuzz_target!(|data: &[u8]| {
    let mut pending = pending().clone();
    let _ = pending.handle_poll_response(common::response(data));
});
