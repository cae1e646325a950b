#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::flow::CredentialPlan;
use oid4vci_wallet::{Authorized, Signer, SoftwareSigner};
#[path = "common.rs"]
mod common;

/// The session and the planned request for each configuration, made once:
/// planning signs a proof JWT, which cost more than the response handling
/// under test (about 1,400 inputs a second when it ran per input). Each
/// input gets a clone, so no input sees another's state.
fn planned() -> &'static [(Authorized, CredentialPlan); 2] {
    static PLANNED: OnceLock<[(Authorized, CredentialPlan); 2]> = OnceLock::new();
    PLANNED.get_or_init(|| {
        let key = SoftwareSigner::from_bytes(&[7u8; 32]).unwrap();
        let signers: [&dyn Signer; 1] = [&key];
        ["pid", "plain"].map(|id| {
            let authorized = common::authorized();
            let plan = authorized
                .plan_credential(id, &signers, &oid4vci_wallet::OsRandom, Default::default())
                .unwrap();
            (authorized, plan)
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let which = usize::from(data.first().is_some_and(|b| b & 0x80 != 0));
    let (authorized, plan) = &planned()[which];
    let mut authorized = authorized.clone();
    let _ = authorized.handle_credential_response(plan, common::response(data));
});
