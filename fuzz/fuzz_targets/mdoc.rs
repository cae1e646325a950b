#![no_main]
//! An mso_mdoc `IssuerSigned`, as raw CBOR (the seed is a real PID mdoc of
//! the reference issuer, `corpus/mdoc/seed-pid`, its document signer's key
//! in `data/mdoc_signer.json`). It never panics, and whatever decodes and
//! verifies with the seed signer's key is the seed's content: the same
//! docType, the same device key, and only elements the seed signed, with
//! the seed's values. Anything else would be a forged claim accepted.
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::verify::Mdoc;
use serde_json::Value;
use std::sync::OnceLock;

const SEED: &[u8] = include_bytes!("../corpus/mdoc/seed-pid");
const SIGNER: &[u8] = include_bytes!("data/mdoc_signer.json");

struct Fixture {
    signer: Value,
    seed: Mdoc,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let signer: Value = serde_json::from_slice(SIGNER).unwrap();
        let seed = Mdoc::from_cbor(SEED).expect("the seed decodes");
        // The fixture is sound only if the seed verifies with the key.
        seed.verify_signature(&signer).expect("the seed verifies");
        Fixture { signer, seed }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(mdoc) = Mdoc::from_cbor(data) else {
        return;
    };
    let _ = mdoc.claims();
    let _ = mdoc.check_validity(1_797_292_800);
    if mdoc.verify_signature(&f.signer).is_ok() {
        assert_eq!(mdoc.doc_type(), f.seed.doc_type(), "another docType signed");
        assert_eq!(mdoc.device_jwk(), f.seed.device_jwk(), "another device key");
        for item in mdoc.items() {
            assert!(
                f.seed.items().iter().any(|s| s.namespace == item.namespace
                    && s.identifier == item.identifier
                    && s.value == item.value),
                "an element the seed did not sign: {item:?}"
            );
        }
    }
});
