//! OID4VCI 1.0 credential request and response encryption (JWE, compact
//! serialization) with `josekit`, an implementation independent of the
//! wallet's: key agreement `ECDH-ES` (direct) on P-256, content encryption
//! `A128GCM` or `A256GCM`, no compression.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use josekit::jwe::alg::ecdh_es::{EcdhEsJweDecrypter, EcdhEsJweEncrypter};
use josekit::jwe::{JweHeader, ECDH_ES};
use josekit::jwk::Jwk;
use serde_json::{json, Map, Value};

use crate::state::random_id;

/// Whether the issuer offers or requires encrypted credential requests and
/// responses (OID4VCI 1.0 `credential_request_encryption` and
/// `credential_response_encryption`). A draft-13 or draft-11 issuer never
/// advertises encryption, whatever is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encryption {
    /// No encryption: nothing advertised, `credential_response_encryption`
    /// in requests ignored, JWE request bodies not understood.
    #[default]
    Off,
    /// Advertised with `encryption_required: false`: plain JSON requests are
    /// still accepted.
    Offered,
    /// Advertised with `encryption_required: true`: every credential and
    /// deferred request must be a JWE and ask for an encrypted response.
    Required,
}

/// The only key management algorithm.
pub(crate) const ALG: &str = "ECDH-ES";
/// The content encryption algorithms, as advertised.
pub(crate) const ENC_VALUES: [&str; 2] = ["A128GCM", "A256GCM"];

/// Counters in `stats()`.
pub(crate) const ENCRYPTED_REQUESTS: &str = "encrypted_requests";
pub(crate) const ENCRYPTED_RESPONSES: &str = "encrypted_responses";

/// The issuer's request-decryption key pair (P-256, fresh per instance,
/// distinct from the signing key).
pub(crate) struct EncryptionKey {
    decrypter: EcdhEsJweDecrypter,
    public_jwk: Value,
    kid: String,
}

impl EncryptionKey {
    pub fn generate() -> Result<Self, String> {
        let kid = format!("enc-{}", random_id(8));
        let mut pair = Jwk::generate_ec_key(josekit::jwk::P_256).map_err(|e| e.to_string())?;
        pair.set_key_id(&kid);
        pair.set_key_use("enc");
        pair.set_algorithm(ALG);
        let mut decrypter = ECDH_ES
            .decrypter_from_jwk(&pair)
            .map_err(|e| e.to_string())?;
        // josekit would then demand a `kid` header; `decrypt` checks it
        // only when present.
        decrypter.remove_key_id();
        let public = pair.to_public_key().map_err(|e| e.to_string())?;
        let mut public_jwk = Value::Object(public.into());
        // `to_public_key` keeps only some members: name them all.
        public_jwk["kid"] = json!(kid);
        public_jwk["use"] = json!("enc");
        public_jwk["alg"] = json!(ALG);
        Ok(EncryptionKey {
            decrypter,
            public_jwk,
            kid,
        })
    }

    /// The public JWK (`kty`, `crv`, `x`, `y`, `kid`, `use` `enc`, `alg`
    /// `ECDH-ES`), as published in `credential_request_encryption.jwks`.
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    /// Decrypts a compact JWE request body. The header must have `alg`
    /// `ECDH-ES`, an advertised `enc`, no `zip`, and (when present) this key's
    /// `kid`; the encrypted key must be empty, the IV 96 bits and the tag 128
    /// bits. Errors are descriptions.
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(body).map_err(|_| "the body is not ASCII".to_string())?;
        let text = text.trim();
        let parts: Vec<&str> = text.split('.').collect();
        let [header, encrypted_key, iv, _ciphertext, tag] = parts[..] else {
            return Err("the body is not a compact JWE (five parts)".into());
        };
        let header: Map<String, Value> = B64
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or("the JWE header is not base64url JSON")?;
        let alg = header.get("alg").and_then(Value::as_str);
        if alg != Some(ALG) {
            return Err(format!("the JWE alg must be {ALG}, not {alg:?}"));
        }
        let enc = header.get("enc").and_then(Value::as_str).unwrap_or("");
        if !ENC_VALUES.contains(&enc) {
            return Err(format!(
                "the JWE enc must be one of {}, not {enc:?}",
                ENC_VALUES.join(", ")
            ));
        }
        if header.contains_key("zip") {
            return Err("zip is not supported (no zip_values_supported)".into());
        }
        match header.get("kid") {
            None => {}
            Some(Value::String(kid)) if *kid == self.kid => {}
            Some(kid) => {
                return Err(format!(
                    "the JWE kid {kid} is not the issuer's encryption key {}",
                    self.kid
                ))
            }
        }
        if !header.get("epk").is_some_and(Value::is_object) {
            return Err("the JWE header has no epk".into());
        }
        if !encrypted_key.is_empty() {
            return Err("with ECDH-ES (direct) the JWE encrypted key must be empty".into());
        }
        if B64.decode(iv).map(|v| v.len()).ok() != Some(12) {
            return Err("the JWE IV must be 96 bits (base64url)".into());
        }
        if B64.decode(tag).map(|v| v.len()).ok() != Some(16) {
            return Err("the JWE authentication tag must be 128 bits (base64url)".into());
        }
        let (plaintext, _) = josekit::jwe::deserialize_compact(text, &self.decrypter)
            .map_err(|e| format!("the JWE does not decrypt with the issuer's key: {e}"))?;
        Ok(plaintext)
    }
}

/// A validated `credential_response_encryption` request parameter: how to
/// encrypt the answers to this request.
#[derive(Clone)]
pub(crate) struct ResponseEncryption {
    encrypter: EcdhEsJweEncrypter,
    enc: String,
    kid: Option<String>,
}

impl std::fmt::Debug for ResponseEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseEncryption")
            .field("enc", &self.enc)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl ResponseEncryption {
    /// Checks the 1.0 shape `{"jwk": {P-256 public key with "alg":
    /// "ECDH-ES"}, "enc": "A128GCM"|"A256GCM"}` (no `zip`). Errors are
    /// descriptions.
    pub fn from_request(params: &Value) -> Result<Self, String> {
        const P: &str = "credential_response_encryption";
        let params = params
            .as_object()
            .ok_or(format!("{P} must be a JSON object"))?;
        let jwk = params
            .get("jwk")
            .ok_or(format!("{P}.jwk is missing"))?
            .as_object()
            .ok_or(format!("{P}.jwk must be a JSON object"))?;
        let enc = params
            .get("enc")
            .ok_or(format!("{P}.enc is missing"))?
            .as_str()
            .filter(|e| ENC_VALUES.contains(e))
            .ok_or(format!(
                "{P}.enc must be one of {} (enc_values_supported)",
                ENC_VALUES.join(", ")
            ))?;
        if params.contains_key("zip") {
            return Err(format!(
                "{P}.zip is not supported (no zip_values_supported)"
            ));
        }
        if jwk.get("kty").and_then(Value::as_str) != Some("EC")
            || jwk.get("crv").and_then(Value::as_str) != Some("P-256")
        {
            return Err(format!("{P}.jwk must be a P-256 key (kty EC, crv P-256)"));
        }
        if jwk.contains_key("d") {
            return Err(format!("{P}.jwk contains a private key"));
        }
        if crate::credential::public_key(&Value::Object(jwk.clone())).is_none() {
            return Err(format!("{P}.jwk is not a valid P-256 public key"));
        }
        match jwk.get("alg").and_then(Value::as_str) {
            Some(ALG) => {}
            Some(other) => {
                return Err(format!(
                    "{P}.jwk.alg must be {ALG} (alg_values_supported), not {other}"
                ))
            }
            None => return Err(format!("{P}.jwk must carry alg ({ALG})")),
        }
        if jwk.get("use").is_some_and(|u| u != "enc") {
            return Err(format!("{P}.jwk.use must be enc when present"));
        }
        let kid = match jwk.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(format!("{P}.jwk.kid must be a string")),
        };
        let parsed = Jwk::from_map(jwk.clone()).map_err(|e| format!("{P}.jwk: {e}"))?;
        let encrypter = ECDH_ES
            .encrypter_from_jwk(&parsed)
            .map_err(|e| format!("{P}.jwk: {e}"))?;
        Ok(ResponseEncryption {
            encrypter,
            enc: enc.to_string(),
            kid,
        })
    }

    /// A compact JWE of `body` (its JSON text): `alg` `ECDH-ES`, the asked
    /// `enc`, the wallet key's `kid` when it had one.
    pub fn encrypt(&self, body: &Value) -> Result<String, String> {
        let mut header = JweHeader::new();
        header.set_content_encryption(&self.enc);
        if let Some(kid) = &self.kid {
            header.set_key_id(kid);
        }
        josekit::jwe::serialize_compact(body.to_string().as_bytes(), &header, &self.encrypter)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A wallet's response-encryption key: the decrypter and the public JWK
    /// (with `kid` and `alg`) to send.
    pub(crate) fn wallet_key() -> (EcdhEsJweDecrypter, Value) {
        let mut pair = Jwk::generate_ec_key(josekit::jwk::P_256).unwrap();
        pair.set_key_id("wallet-enc-1");
        pair.set_algorithm(ALG);
        let decrypter = ECDH_ES.decrypter_from_jwk(&pair).unwrap();
        let mut public = Value::Object(pair.to_public_key().unwrap().into());
        public["kid"] = json!("wallet-enc-1");
        public["alg"] = json!(ALG);
        (decrypter, public)
    }

    /// Encrypts `plaintext` to a published issuer JWK, as a wallet does.
    pub(crate) fn encrypt_to(jwk: &Value, enc: &str, plaintext: &[u8]) -> String {
        let map = jwk.as_object().unwrap().clone();
        let encrypter = ECDH_ES
            .encrypter_from_jwk(&Jwk::from_map(map).unwrap())
            .unwrap();
        let mut header = JweHeader::new();
        header.set_content_encryption(enc);
        if let Some(kid) = jwk["kid"].as_str() {
            header.set_key_id(kid);
        }
        josekit::jwe::serialize_compact(plaintext, &header, &encrypter).unwrap()
    }

    fn header_of(jwe: &str) -> Value {
        let h = jwe.split('.').next().unwrap();
        serde_json::from_slice(&B64.decode(h).unwrap()).unwrap()
    }

    #[test]
    fn the_published_key_is_an_enc_key_and_requests_round_trip() {
        let key = EncryptionKey::generate().unwrap();
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["use"], "enc");
        assert_eq!(jwk["alg"], "ECDH-ES");
        assert!(jwk["kid"].as_str().unwrap().starts_with("enc-"));
        assert!(jwk.get("d").is_none());
        for enc in ENC_VALUES {
            let jwe = encrypt_to(&jwk, enc, br#"{"a":1}"#);
            assert_eq!(header_of(&jwe)["kid"], jwk["kid"]);
            assert_eq!(key.decrypt(jwe.as_bytes()).unwrap(), br#"{"a":1}"#);
        }
        // Without a kid, too.
        let mut no_kid = jwk.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        let jwe = encrypt_to(&no_kid, "A128GCM", b"{}");
        assert!(header_of(&jwe).get("kid").is_none());
        assert_eq!(key.decrypt(jwe.as_bytes()).unwrap(), b"{}");
    }

    #[test]
    fn request_defects_are_named() {
        let key = EncryptionKey::generate().unwrap();
        let jwk = key.public_jwk();
        let other = EncryptionKey::generate().unwrap().public_jwk();
        let err = |body: &str| key.decrypt(body.as_bytes()).unwrap_err();

        assert!(err("not a jwe").contains("five parts"));
        assert!(err(&encrypt_to(&jwk, "A192GCM", b"{}")).contains("enc"));
        // Another key's kid, or the right kid on another key.
        assert!(err(&encrypt_to(&other, "A128GCM", b"{}")).contains("kid"));
        let mut other_with_our_kid = other.clone();
        other_with_our_kid["kid"] = jwk["kid"].clone();
        assert!(err(&encrypt_to(&other_with_our_kid, "A128GCM", b"{}")).contains("decrypt"));
        // A flipped ciphertext bit, a truncated tag.
        let good = encrypt_to(&jwk, "A256GCM", b"{\"x\":true}");
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        let mut ct = B64.decode(&parts[3]).unwrap();
        ct[0] ^= 1;
        parts[3] = B64.encode(ct);
        assert!(err(&parts.join(".")).contains("decrypt"));
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        let tag = B64.decode(&parts[4]).unwrap();
        parts[4] = B64.encode(&tag[..8]);
        assert!(err(&parts.join(".")).contains("tag"));
        // Another alg in the header.
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        let mut header = header_of(&good);
        header["alg"] = json!("ECDH-ES+A128KW");
        parts[0] = B64.encode(header.to_string());
        assert!(err(&parts.join(".")).contains("alg"));
        // zip.
        header["alg"] = json!("ECDH-ES");
        header["zip"] = json!("DEF");
        parts[0] = B64.encode(header.to_string());
        assert!(err(&parts.join(".")).contains("zip"));
    }

    #[test]
    fn response_parameters_are_checked_and_responses_decrypt() {
        let (decrypter, jwk) = wallet_key();
        for enc in ENC_VALUES {
            let params =
                ResponseEncryption::from_request(&json!({"jwk": jwk, "enc": enc})).unwrap();
            let jwe = params.encrypt(&json!({"credentials": []})).unwrap();
            let header = header_of(&jwe);
            assert_eq!(header["alg"], "ECDH-ES");
            assert_eq!(header["enc"], enc);
            assert_eq!(header["kid"], "wallet-enc-1");
            assert_eq!(header["epk"]["crv"], "P-256");
            let (plain, _) = josekit::jwe::deserialize_compact(&jwe, &decrypter).unwrap();
            assert_eq!(
                serde_json::from_slice::<Value>(&plain).unwrap(),
                json!({"credentials": []})
            );
        }
        let bad = |params: Value| ResponseEncryption::from_request(&params).unwrap_err();
        assert!(bad(json!({"enc": "A128GCM"})).contains("jwk is missing"));
        assert!(bad(json!({"jwk": jwk})).contains("enc is missing"));
        assert!(bad(json!({"jwk": jwk, "enc": "A128CBC-HS256"})).contains("enc must be"));
        assert!(bad(json!({"jwk": jwk, "enc": "A128GCM", "zip": "DEF"})).contains("zip"));
        let mut no_alg = jwk.clone();
        no_alg.as_object_mut().unwrap().remove("alg");
        assert!(bad(json!({"jwk": no_alg, "enc": "A128GCM"})).contains("alg"));
        let mut p384 = jwk.clone();
        p384["crv"] = json!("P-384");
        assert!(bad(json!({"jwk": p384, "enc": "A128GCM"})).contains("P-256"));
        let mut off_curve = jwk.clone();
        off_curve["y"] = off_curve["x"].clone();
        assert!(bad(json!({"jwk": off_curve, "enc": "A128GCM"})).contains("valid"));
        let mut private = jwk.clone();
        private["d"] = json!("AAAA");
        assert!(bad(json!({"jwk": private, "enc": "A128GCM"})).contains("private"));
        let mut rsa = jwk.clone();
        rsa["kty"] = json!("RSA");
        assert!(bad(json!({"jwk": rsa, "enc": "A128GCM"})).contains("P-256"));
    }
}
