#![no_main]
//! An `x5c` header, as JSON (the input itself when it parses) or as raw DER
//! certificates (byte 0 picks the issuer, the clock and the anchors; then
//! certificates of a 2-byte big-endian length each, base64-encoded into the
//! array), checked against a fixed trust anchor: the reference issuer's test
//! root (`data/x5c_root.pem`), which issued the chain of
//! `corpus/x5c_chain/seed-chain`. It never panics, and a chain is `Trusted`
//! only when its leaf is that seed leaf: the leaf certificate's signed part
//! (TBSCertificate) is the seed leaf's and its key is the seed leaf's key.
//! No other end-entity certificate under that root exists, so anything else
//! called trusted would be a forgery accepted.
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::verify::{check_x5c, ChainOutcome, TrustAnchors};
use serde_json::Value;
use std::sync::OnceLock;

const ROOT_PEM: &[u8] = include_bytes!("data/x5c_root.pem");
const SEED_CHAIN: &[u8] = include_bytes!("../corpus/x5c_chain/seed-chain");
/// The issuer the seed leaf names (URI SAN; also IP SAN 127.0.0.1).
const ISSUER: &str = "http://127.0.0.1:44453";
/// 2026-12-15T00:00:00Z, inside the seed chain's validity.
const NOW: u64 = 1_797_292_800;

const ISSUERS: [&str; 6] = [
    ISSUER,
    "https://127.0.0.1/tenant",
    "http://127.0.0.1:1",
    "https://other.example",
    "did:web:127.0.0.1",
    "",
];
const CLOCKS: [u64; 4] = [NOW, 0, u64::MAX, NOW + 10 * 365 * 86_400];

struct Fixture {
    anchors: TrustAnchors,
    empty: TrustAnchors,
    /// The seed leaf's TBSCertificate (DER).
    leaf_tbs: Vec<u8>,
    leaf_jwk: Value,
}

/// The header and content lengths of the DER element at the start of `der`.
fn der_element(der: &[u8]) -> Option<(usize, usize)> {
    let first = *der.get(1)?;
    if first < 0x80 {
        return Some((2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for b in der.get(2..2 + n)? {
        len = len << 8 | *b as usize;
    }
    Some((2 + n, len))
}

/// A certificate's TBSCertificate: the first element inside its SEQUENCE.
fn tbs(cert: &[u8]) -> Option<&[u8]> {
    let (h, _) = der_element(cert)?;
    let inner = cert.get(h..)?;
    let (th, tl) = der_element(inner)?;
    inner.get(..th + tl)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut anchors = TrustAnchors::new();
        assert_eq!(anchors.add(ROOT_PEM), Ok(1));
        let chain: Value = serde_json::from_slice(SEED_CHAIN).unwrap();
        let leaf = base64::engine::general_purpose::STANDARD
            .decode(chain[0].as_str().unwrap())
            .unwrap();
        let leaf_tbs = tbs(&leaf).unwrap().to_vec();
        // The fixture is sound only if the seed chain is trusted.
        let Ok(ChainOutcome::Trusted { leaf_jwk, .. }) = check_x5c(&chain, &anchors, ISSUER, NOW)
        else {
            panic!("the seed chain is not trusted under the seed root");
        };
        Fixture {
            anchors,
            empty: TrustAnchors::new(),
            leaf_tbs,
            leaf_jwk,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let (x5c, issuer, now, anchors) = match serde_json::from_slice::<Value>(data) {
        Ok(json) => (json, ISSUER, NOW, &f.anchors),
        Err(_) => {
            let selector = *data.first().unwrap_or(&0) as usize;
            let mut rest = data.get(1..).unwrap_or_default();
            let mut certs = Vec::new();
            while rest.len() >= 2 {
                let len = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
                certs.push(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(&rest[2..2 + len]),
                ));
                rest = &rest[2 + len..];
            }
            let anchors = if selector & 0x80 == 0 {
                &f.anchors
            } else {
                &f.empty
            };
            (
                Value::Array(certs),
                ISSUERS[selector % ISSUERS.len()],
                CLOCKS[(selector >> 3) % CLOCKS.len()],
                anchors,
            )
        }
    };
    if let Ok(ChainOutcome::Trusted { anchor, leaf_jwk }) = check_x5c(&x5c, anchors, issuer, now) {
        assert!(!anchors.is_empty(), "trusted without anchors");
        assert!(anchor.contains("test root CA"), "trusted by {anchor}");
        let leaf = x5c[0]
            .as_str()
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
            .expect("a trusted leaf is base64");
        assert_eq!(
            tbs(&leaf),
            Some(f.leaf_tbs.as_slice()),
            "a leaf other than the seed leaf is trusted"
        );
        assert_eq!(leaf_jwk, f.leaf_jwk, "trusted with another key");
    }
});
