#![no_main]
//! A DID document (the input as JSON) searched for keys with a few DIDs and
//! `kid`s (fixed ones, and the document's own `id` and first method `id`),
//! and the input as a DID to resolve. It never panics; a key found is a
//! public JWK object (no `d`) of a document whose `id` is the DID; a
//! resolved key is a public JWK; a did:web URL is https, or http only to a
//! loopback host when http is allowed.
use libfuzzer_sys::fuzz_target;
use oid4vci_wallet::verify::{did_key_in_document as key_in_document, did_kid_names as kid_names, did_method as method, resolve_did as resolve, DidKey};
use serde_json::Value;

/// The DID of `corpus/did_document/seed-did-web-p256.json`.
const SEED_DID: &str = "did:web:127.0.0.1%3A39281";
const DIDS: [&str; 3] = [
    SEED_DID,
    "did:web:example.com",
    "did:key:z6MkemJLLVkh9xkjHMaZqDhYmzBcuP8HaaYtMXVe8mx48Wem",
];

fn public_jwk(jwk: &Value) {
    assert!(jwk.is_object(), "a key that is not a JWK object: {jwk}");
    assert!(jwk.get("d").is_none(), "a private key accepted: {jwk}");
}

fn check_resolve(text: &str) {
    let _ = method(text);
    for allow_http in [false, true] {
        match resolve(text, allow_http) {
            Ok(DidKey::Local(jwk)) => public_jwk(&jwk),
            Ok(DidKey::Document(u)) => {
                let url = url::Url::parse(&u).expect("a did:web URL parses");
                match url.scheme() {
                    "https" => {}
                    "http" => {
                        assert!(allow_http, "http without allow_http: {u}");
                        let loopback = match url.host() {
                            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                            Some(url::Host::Domain(d)) => d == "localhost",
                            None => false,
                        };
                        assert!(loopback, "http to a host that is not loopback: {u}");
                    }
                    other => panic!("a did:web URL with scheme {other}: {u}"),
                }
            }
            Err(_) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_resolve(&text);
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Some(s) = document.as_str() {
        check_resolve(s);
    }
    let own_id = document.get("id").and_then(Value::as_str);
    let first_method = document
        .get("verificationMethod")
        .and_then(|m| m.get(0))
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str);
    let mut dids: Vec<&str> = DIDS.to_vec();
    dids.extend(own_id);
    for did in dids {
        let full = format!("{did}#key-1");
        let kids = [
            None,
            Some("#key-1"),
            Some(full.as_str()),
            first_method,
            Some(""),
            Some("#"),
            Some(did),
        ];
        for kid in kids {
            if let Ok(jwk) = key_in_document(&document, did, kid) {
                public_jwk(&jwk);
                assert_eq!(own_id, Some(did), "a key of a document for another DID");
            }
            let _ = kid_names(kid, did);
        }
    }
});
