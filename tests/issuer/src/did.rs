//! DID-named issuers (`did:jwk`, `did:key`, `did:web`) for the SD-JWT VC
//! issuer key resolution tests of wallets: the encodings, the issuer's DID
//! and `kid`, and the did:web DID document.

use crate::credential::KeyPair;
use crate::trust::CredentialSigning;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

/// The type of the credential signing key in the `Did*` signing modes
/// ([`CredentialSigning::DidJwk`], [`CredentialSigning::DidKey`],
/// [`CredentialSigning::DidWeb`]). The `Kid` and `X5cChain` modes always sign
/// with the issuer's P-256 key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialKey {
    /// P-256, JWS `alg` `ES256`: the issuer's signing key (the one at
    /// `/.well-known/jwt-vc-issuer`). The default.
    #[default]
    P256,
    /// Ed25519, JWS `alg` `EdDSA`: a fresh key per issuer instance.
    Ed25519,
}

/// The multicodec `p256-pub` (0x1200) as an unsigned varint.
pub(crate) const P256_PUB: [u8; 2] = [0x80, 0x24];
/// The multicodec `ed25519-pub` (0xed) as an unsigned varint.
pub(crate) const ED25519_PUB: [u8; 2] = [0xed, 0x01];

/// A JWK with only its public members, in lexicographic order: EC
/// `crv,kty,x,y`, OKP `crv,kty,x`, RSA `e,kty,n`; other key types as they
/// are.
pub(crate) fn public_members(jwk: &Value) -> Value {
    let names: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        Some("RSA") => &["e", "kty", "n"],
        _ => return jwk.clone(),
    };
    Value::Object(
        names
            .iter()
            .filter_map(|n| Some((n.to_string(), jwk.get(*n)?.clone())))
            .collect(),
    )
}

/// `did:jwk:<base64url (no padding) of the JSON of the JWK's public members>`.
pub(crate) fn did_jwk(jwk: &Value) -> String {
    format!("did:jwk:{}", B64.encode(public_members(jwk).to_string()))
}

/// The `did:key` multibase value of a public key: `z` and the base58btc of
/// the multicodec varint and the key (P-256: the 33-byte compressed SEC1
/// point; Ed25519: the 32 bytes).
pub(crate) fn multibase(key: &KeyPair) -> String {
    let mut bytes = Vec::new();
    match key {
        KeyPair::P256(key) => {
            let point = key.verifying_key().to_encoded_point(true);
            bytes.extend(P256_PUB);
            bytes.extend(point.as_bytes());
        }
        KeyPair::Ed25519(key) => {
            bytes.extend(ED25519_PUB);
            bytes.extend(key.verifying_key().as_bytes());
        }
    }
    format!("z{}", bs58::encode(bytes).into_string())
}

/// Percent-encodes what is not a DID `idchar` (ALPHA, DIGIT, `.`, `-`, `_`;
/// `%` of an already percent-encoded URL path stays).
fn idchars(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'%') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `did:web` of an issuer identifier: `did:web:<host>`, `%3A<port>`
/// when the URL has a port, and `:<segment>` for each path segment
/// (`http://127.0.0.1:4567/pid` -> `did:web:127.0.0.1%3A4567:pid`).
pub(crate) fn did_web(issuer_id: &str) -> Option<String> {
    let url = url::Url::parse(issuer_id).ok()?;
    let mut did = format!("did:web:{}", idchars(url.host_str()?));
    if let Some(port) = url.port() {
        did.push_str(&format!("%3A{port}"));
    }
    for segment in url.path_segments().into_iter().flatten() {
        if !segment.is_empty() {
            did.push(':');
            did.push_str(&idchars(segment));
        }
    }
    Some(did)
}

/// Where a did:web issuer with `path` (`""` or `/tenant`) serves its DID
/// document: `/.well-known/did.json` without a path, `<path>/did.json` with
/// one.
pub(crate) fn did_document_path(path: &str) -> String {
    if path.is_empty() {
        "/.well-known/did.json".to_string()
    } else {
        format!("{path}/did.json")
    }
}

/// A DID document with one `JsonWebKey2020` verification method
/// `<did>#key-1` for `jwk`, listed in `assertionMethod`.
pub(crate) fn did_document(did: &str, jwk: &Value) -> Value {
    let method = format!("{did}#key-1");
    json!({
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "verificationMethod": [{
            "id": method,
            "type": "JsonWebKey2020",
            "controller": did,
            "publicKeyJwk": jwk,
        }],
        "assertionMethod": [method],
    })
}

/// The issuer as a DID: its identifier, the `kid` credentials carry and
/// the key that signs them.
pub(crate) struct IssuerDid {
    pub did: String,
    pub kid: String,
    pub key: KeyPair,
    /// The public JWK the did:web DID document publishes: `key`'s, or with
    /// [`crate::Fault::DidWebWrongKey`] another key's of the same type.
    pub document_jwk: Value,
}

impl IssuerDid {
    /// The DID of a `Did*` signing mode (`None` for the others) for a key of
    /// `kind` (P-256: `p256`, the issuer's key; Ed25519: a fresh one) and
    /// the issuer identifier `issuer_id`.
    pub fn new(
        mode: CredentialSigning,
        kind: CredentialKey,
        p256: &p256::ecdsa::SigningKey,
        issuer_id: &str,
    ) -> Option<Self> {
        if !mode.is_did() {
            return None;
        }
        let key = match kind {
            CredentialKey::P256 => KeyPair::P256(p256.clone()),
            CredentialKey::Ed25519 => KeyPair::generate(CredentialKey::Ed25519),
        };
        let (did, kid) = match mode {
            CredentialSigning::DidJwk => {
                let did = did_jwk(&key.public_jwk());
                let kid = format!("{did}#0");
                (did, kid)
            }
            CredentialSigning::DidKey => {
                let value = multibase(&key);
                (
                    format!("did:key:{value}"),
                    format!("did:key:{value}#{value}"),
                )
            }
            _ => {
                let did = did_web(issuer_id)?;
                let kid = format!("{did}#key-1");
                (did, kid)
            }
        };
        let document_jwk = key.public_jwk();
        Some(IssuerDid {
            did,
            kid,
            key,
            document_jwk,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;

    /// The public JWK of a `did:jwk`.
    pub(crate) fn decode_did_jwk(did: &str) -> Value {
        let encoded = did.strip_prefix("did:jwk:").expect("a did:jwk");
        serde_json::from_slice(&B64.decode(encoded).unwrap()).unwrap()
    }

    /// The public JWK of a P-256 or Ed25519 `did:key`.
    pub(crate) fn decode_did_key(did: &str) -> Value {
        let value = did.strip_prefix("did:key:z").expect("a did:key");
        let bytes = bs58::decode(value).into_vec().unwrap();
        match bytes.split_at(2) {
            (prefix, point) if prefix == P256_PUB => {
                assert_eq!(point.len(), 33);
                let key = p256::PublicKey::from_sec1_bytes(point).unwrap();
                let jwk: Value = serde_json::from_str(&key.to_jwk_string()).unwrap();
                public_members(&jwk)
            }
            (prefix, key) if prefix == ED25519_PUB => {
                assert_eq!(key.len(), 32);
                json!({"crv": "Ed25519", "kty": "OKP", "x": B64.encode(key)})
            }
            (prefix, _) => panic!("unknown multicodec {prefix:02x?}"),
        }
    }

    /// `z` and base58btc of the prefix and the compressed point of a public
    /// P-256 JWK.
    fn did_key_of_p256_jwk(x: &str, y: &str) -> String {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
        let key = p256::PublicKey::from_jwk_str(&jwk.to_string()).unwrap();
        let mut bytes = P256_PUB.to_vec();
        bytes.extend(key.to_encoded_point(true).as_bytes());
        format!("did:key:z{}", bs58::encode(bytes).into_string())
    }

    #[test]
    fn did_key_of_known_p256_keys() {
        // The P-256 test vectors of the did:key spec.
        let vectors = [
            (
                "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
                "fyNYMN0976ci7xqiSdag3buk-ZCwgXU4kz9XNkBlNUI",
                "hW2ojTNfH7Jbi8--CJUo3OCbH3y5n91g-IMA9MLMbTU",
            ),
            (
                "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv",
                "igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns",
                "efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM",
            ),
        ];
        for (did, x, y) in vectors {
            assert_eq!(did_key_of_p256_jwk(x, y), did);
            let jwk = decode_did_key(did);
            assert_eq!(jwk, json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}));
        }
        // And `multibase` of a real key agrees with the decoder.
        let key = KeyPair::generate(CredentialKey::P256);
        let value = multibase(&key);
        assert!(value.starts_with("zDn"), "{value}");
        assert_eq!(
            decode_did_key(&format!("did:key:{value}")),
            key.public_jwk()
        );
    }

    #[test]
    fn did_key_of_a_known_ed25519_key() {
        // A test vector of the did:key spec: the public key of the all-zero
        // seed (3b6a27bc... in RFC 8032 terms).
        let key = KeyPair::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[0u8; 32]));
        assert_eq!(
            key.public_jwk()["x"],
            "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"
        );
        let value = multibase(&key);
        assert_eq!(value, "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp");
        let bytes = bs58::decode(&value[1..]).into_vec().unwrap();
        assert_eq!(bytes.len(), 34);
        assert_eq!(&bytes[..2], &[0xed, 0x01]);
        assert_eq!(
            decode_did_key(&format!("did:key:{value}")),
            key.public_jwk()
        );

        let fresh = KeyPair::generate(CredentialKey::Ed25519);
        let value = multibase(&fresh);
        assert!(value.starts_with("z6Mk"), "{value}");
        let bytes = bs58::decode(&value[1..]).into_vec().unwrap();
        assert_eq!(&bytes[..2], &ED25519_PUB);
        let KeyPair::Ed25519(k) = &fresh else {
            unreachable!()
        };
        assert_eq!(&bytes[2..], k.verifying_key().as_bytes());
    }

    #[test]
    fn did_jwk_holds_only_the_public_members() {
        let key = KeyPair::generate(CredentialKey::P256);
        let mut jwk = key.public_jwk();
        jwk["kid"] = json!("k1");
        jwk["use"] = json!("sig");
        let did = did_jwk(&jwk);
        assert!(did.starts_with("did:jwk:eyJ"), "{did}");
        assert!(!did.contains('='));
        assert_eq!(decode_did_jwk(&did), key.public_jwk());
        let decoded = decode_did_jwk(&did);
        assert_eq!(decoded.as_object().unwrap().len(), 4);

        let key = KeyPair::generate(CredentialKey::Ed25519);
        let decoded = decode_did_jwk(&did_jwk(&key.public_jwk()));
        assert_eq!(decoded, key.public_jwk());
        assert_eq!(decoded["kty"], "OKP");
        assert_eq!(decoded["crv"], "Ed25519");
        assert_eq!(decoded.as_object().unwrap().len(), 3);
    }

    #[test]
    fn did_web_follows_the_url_rules() {
        assert_eq!(
            did_web("http://127.0.0.1:4567/pid").as_deref(),
            Some("did:web:127.0.0.1%3A4567:pid")
        );
        assert_eq!(
            did_web("https://127.0.0.1:4567").as_deref(),
            Some("did:web:127.0.0.1%3A4567")
        );
        assert_eq!(
            did_web("https://issuer.example/a/b").as_deref(),
            Some("did:web:issuer.example:a:b")
        );
        assert_eq!(did_document_path(""), "/.well-known/did.json");
        assert_eq!(did_document_path("/pid"), "/pid/did.json");
        assert_eq!(did_document_path("/a/b"), "/a/b/did.json");
    }

    #[test]
    fn issuer_dids_and_kids_per_mode() {
        let p256 = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let id = "http://127.0.0.1:9/tenant";
        assert!(IssuerDid::new(CredentialSigning::Kid, CredentialKey::P256, &p256, id).is_none());
        assert!(IssuerDid::new(
            CredentialSigning::X5cChain,
            CredentialKey::Ed25519,
            &p256,
            id
        )
        .is_none());

        let did =
            IssuerDid::new(CredentialSigning::DidJwk, CredentialKey::P256, &p256, id).unwrap();
        assert_eq!(did.kid, format!("{}#0", did.did));
        assert_eq!(
            decode_did_jwk(&did.did),
            KeyPair::P256(p256.clone()).public_jwk()
        );

        let did =
            IssuerDid::new(CredentialSigning::DidKey, CredentialKey::Ed25519, &p256, id).unwrap();
        let value = did.did.strip_prefix("did:key:").unwrap();
        assert_eq!(did.kid, format!("{}#{value}", did.did));
        assert_eq!(decode_did_key(&did.did), did.key.public_jwk());
        assert_eq!(did.key.kind(), CredentialKey::Ed25519);

        let did =
            IssuerDid::new(CredentialSigning::DidWeb, CredentialKey::P256, &p256, id).unwrap();
        assert_eq!(did.did, "did:web:127.0.0.1%3A9:tenant");
        assert_eq!(did.kid, "did:web:127.0.0.1%3A9:tenant#key-1");
        let document = did_document(&did.did, &did.key.public_jwk());
        assert_eq!(document["verificationMethod"][0]["id"], did.kid.as_str());
        assert_eq!(document["assertionMethod"], json!([did.kid]));
    }
}
