//! Issuer keys from DIDs (the SD-JWT VC "DID" issuer key mechanism):
//! `did:jwk` and `did:key` (P-256, Ed25519) decode locally; `did:web` names
//! a `did.json` document that the engine fetches
//! ([`crate::flow::issuer_keys::DidWebDocument`]) and [`key_in_document`] reads.

use crate::error::sanitize;
use crate::jose::{b64, b64_decode};
use serde_json::{json, Value};

/// The longest DID accepted.
pub const MAX_DID_CHARS: usize = 4096;

/// How the key of a DID is found.
#[derive(Debug, Clone, PartialEq)]
pub enum DidKey {
    /// Decoded from the DID itself (`did:jwk`, `did:key`).
    Local(Value),
    /// In the DID document at this URL (`did:web`).
    Document(String),
}

/// The method of a DID (`jwk`, `key`, `web`, ...), if `text` is a DID.
pub fn method(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("did:")?;
    let end = rest.find(':')?;
    let method = &rest[..end];
    (!method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    .then_some(method)
}

/// Where the key of `did` comes from. `allow_http` (tests on loopback)
/// maps a `did:web` on a loopback host to http.
pub fn resolve(did: &str, allow_http: bool) -> Result<DidKey, String> {
    if did.len() > MAX_DID_CHARS {
        return Err(format!("the DID is longer than {MAX_DID_CHARS} characters"));
    }
    match method(did) {
        Some("jwk") => did_jwk(did).map(DidKey::Local),
        Some("key") => did_key(did).map(DidKey::Local),
        Some("web") => did_web_url(did, allow_http).map(DidKey::Document),
        Some(other) => Err(format!(
            "the DID method {} is not supported (did:jwk, did:key, did:web are)",
            sanitize(other, 20)
        )),
        None => Err("not a DID".into()),
    }
}

/// `did:jwk:<base64url JWK>` (a `#0` fragment allowed).
fn did_jwk(did: &str) -> Result<Value, String> {
    let encoded = did["did:jwk:".len()..]
        .split('#')
        .next()
        .unwrap_or_default();
    let bytes = b64_decode(encoded).ok_or("did:jwk is not base64url")?;
    let jwk: Value = serde_json::from_slice(&bytes).map_err(|_| "did:jwk is not a JSON JWK")?;
    if !jwk.is_object() || jwk.get("d").is_some() {
        return Err("did:jwk is not a public JWK".into());
    }
    Ok(jwk)
}

/// `did:key:z<base58btc(multicodec + key)>`: P-256 (`0x1200`, compressed
/// point) and Ed25519 (`0xed`).
fn did_key(did: &str) -> Result<Value, String> {
    let value = did["did:key:".len()..]
        .split('#')
        .next()
        .unwrap_or_default();
    multibase_key(value).map_err(|e| format!("did:key: {e}"))
}

/// A multibase (`z`, base58btc) multicodec public key as a JWK.
pub(crate) fn multibase_key(value: &str) -> Result<Value, String> {
    let encoded = value
        .strip_prefix('z')
        .ok_or("not base58btc multibase (no z prefix)")?;
    let bytes = bs58::decode(encoded)
        .into_vec()
        .map_err(|_| "not base58btc")?;
    match bytes.as_slice() {
        [0x80, 0x24, point @ ..] => Ok(crate::jose::P256Point::from_sec1(point)?.to_jwk()),
        [0xed, 0x01, key @ ..] if key.len() == 32 => {
            Ok(json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key)}))
        }
        _ => Err("a key type other than P-256 and Ed25519".into()),
    }
}

/// The `did.json` URL of a `did:web` (W3C did:web method, section 3.2).
fn did_web_url(did: &str, allow_http: bool) -> Result<String, String> {
    let specific = did["did:web:".len()..]
        .split('#')
        .next()
        .unwrap_or_default();
    let mut parts = specific.split(':');
    let host = parts
        .next()
        .filter(|h| !h.is_empty())
        .ok_or("did:web has no host")?
        .replace("%3A", ":")
        .replace("%3a", ":");
    let path: Vec<&str> = parts.collect();
    if host.contains(['/', '?', '@', '%']) || path.iter().any(|p| p.is_empty() || p.contains('/')) {
        return Err("did:web is not a host with path segments".into());
    }
    let hostname = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    let loopback = matches!(hostname, "127.0.0.1" | "localhost" | "[::1]");
    let scheme = if allow_http && loopback {
        "http"
    } else {
        "https"
    };
    let url = if path.is_empty() {
        format!("{scheme}://{host}/.well-known/did.json")
    } else {
        format!("{scheme}://{host}/{}/did.json", path.join("/"))
    };
    url::Url::parse(&url).map_err(|_| "did:web does not name a URL".to_string())?;
    Ok(url)
}

/// The public JWK in a DID document for `kid` (a DID URL, or a bare
/// `#fragment`), or its only verification method when `kid` is absent.
/// The document's `id` must be `did`.
pub fn key_in_document(document: &Value, did: &str, kid: Option<&str>) -> Result<Value, String> {
    if document.get("id").and_then(Value::as_str) != Some(did) {
        return Err("the DID document's id is not the DID".into());
    }
    let methods = document
        .get("verificationMethod")
        .and_then(Value::as_array)
        .ok_or("the DID document has no verificationMethod")?;
    let matches = |m: &&Value| {
        let id = m.get("id").and_then(Value::as_str).unwrap_or_default();
        match kid {
            Some(kid) if kid.starts_with('#') => id == kid || id == format!("{did}{kid}"),
            Some(kid) => id == kid || format!("{did}{id}") == kid,
            None => true,
        }
    };
    let found: Vec<&Value> = methods.iter().filter(matches).take(2).collect();
    let method = match (found.as_slice(), kid) {
        ([one], _) => *one,
        ([], Some(_)) => return Err("the DID document has no key with the credential's kid".into()),
        ([], None) => return Err("the DID document lists no key".into()),
        (_, None) => {
            return Err(
                "the DID document lists several keys and the credential names none (kid)".into(),
            )
        }
        (_, Some(_)) => return Err("the DID document lists the kid twice".into()),
    };
    if let Some(jwk) = method.get("publicKeyJwk") {
        if !jwk.is_object() || jwk.get("d").is_some() {
            return Err("publicKeyJwk is not a public JWK".into());
        }
        return Ok(jwk.clone());
    }
    if let Some(multibase) = method.get("publicKeyMultibase").and_then(Value::as_str) {
        return multibase_key(multibase).map_err(|e| format!("publicKeyMultibase: {e}"));
    }
    Err("the DID document's key is neither publicKeyJwk nor publicKeyMultibase".into())
}

/// Whether `kid` (when it is a DID URL) names `did`: a credential whose
/// `kid` points at another DID than its `iss` is refused.
pub fn kid_names(kid: Option<&str>, did: &str) -> bool {
    match kid {
        Some(kid) if kid.starts_with("did:") => kid.split('#').next() == Some(did),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_key_test_vectors_decode() {
        // The did:key specification's Ed25519 example and its P-256 example.
        let ed = did_key("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK").unwrap();
        assert_eq!(ed["kty"], "OKP");
        assert_eq!(ed["crv"], "Ed25519");
        let p = did_key("did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169").unwrap();
        assert_eq!(p["crv"], "P-256");
        assert!(did_key("did:key:z6Mk").is_err());
        assert!(did_key("did:key:abc").is_err());
    }

    #[test]
    fn did_jwk_round_trips_and_refuses_private_keys() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"});
        let did = format!("did:jwk:{}", b64(jwk.to_string()));
        assert_eq!(resolve(&did, false).unwrap(), DidKey::Local(jwk.clone()));
        assert_eq!(
            resolve(&format!("{did}#0"), false).unwrap(),
            DidKey::Local(jwk)
        );
        let private = format!("did:jwk:{}", b64(r#"{"kty":"EC","d":"x"}"#));
        assert!(resolve(&private, false).is_err());
    }

    #[test]
    fn did_web_urls_follow_the_method() {
        let url = |d: &str, h: bool| match resolve(d, h) {
            Ok(DidKey::Document(u)) => u,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            url("did:web:example.com", false),
            "https://example.com/.well-known/did.json"
        );
        assert_eq!(
            url("did:web:example.com:user:alice", false),
            "https://example.com/user/alice/did.json"
        );
        assert_eq!(
            url("did:web:127.0.0.1%3A8080:pid", true),
            "http://127.0.0.1:8080/pid/did.json"
        );
        assert_eq!(
            url("did:web:127.0.0.1%3A8080", false),
            "https://127.0.0.1:8080/.well-known/did.json"
        );
        assert_eq!(
            url("did:web:example.com", true),
            "https://example.com/.well-known/did.json"
        );
        assert!(resolve("did:web:", false).is_err());
        assert!(resolve("did:web:a.com::x", false).is_err());
        assert!(resolve("did:example:123", false).is_err());
        assert!(resolve("https://x", false).is_err());
    }

    #[test]
    fn keys_are_found_in_documents_by_kid() {
        let did = "did:web:example.com";
        let doc = json!({"id": did, "verificationMethod": [
            {"id": "did:web:example.com#a", "publicKeyJwk": {"kty": "EC", "crv": "P-256", "x": "1", "y": "1"}},
            {"id": "#b", "publicKeyMultibase": "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}]});
        assert_eq!(
            key_in_document(&doc, did, Some("did:web:example.com#a")).unwrap()["x"],
            "1"
        );
        assert_eq!(key_in_document(&doc, did, Some("#a")).unwrap()["x"], "1");
        assert_eq!(
            key_in_document(&doc, did, Some("did:web:example.com#b")).unwrap()["crv"],
            "Ed25519"
        );
        assert!(key_in_document(&doc, did, Some("#c")).is_err());
        assert!(key_in_document(&doc, did, None).is_err());
        assert!(key_in_document(&doc, "did:web:other.com", Some("#a")).is_err());
        assert!(kid_names(Some("did:web:example.com#a"), did));
        assert!(!kid_names(Some("did:web:evil.com#a"), did));
    }
}
