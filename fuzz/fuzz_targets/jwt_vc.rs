#![no_main]
//! A JWT VC (`jwt_vc_json`) as received: parsing, the claims, issuer and
//! holder key, and the checks that need no key never panic; a credential
//! that passes the checks has an issuer and an allowed algorithm.
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::verify::JwtVc;
use oid4vci_wallet::verify::ALLOWED_ALGORITHMS;

/// 2026-12-15T00:00:00Z.
const NOW: u64 = 1_797_292_800;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(vc) = JwtVc::parse(&text) else {
        return;
    };
    let claims = vc.claims();
    assert!(claims.len() <= 1);
    let _ = vc.holder_jwk();
    let issuer = vc.issuer();
    for now in [0, NOW, u64::MAX] {
        if vc.check(now).is_ok() {
            assert!(issuer.is_some_and(|i| !i.is_empty()), "checked without iss");
            let alg = vc.header().get("alg").and_then(|a| a.as_str());
            assert!(alg.is_some_and(|a| ALLOWED_ALGORITHMS.contains(&a)));
        }
    }
});
