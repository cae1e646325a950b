//! SD-JWT (RFC 9901) / SD-JWT VC decoding and the checks a wallet can make:
//! disclosure digests, the issuer's ES256 signature, `vct`, and the `cnf` key.

use crate::jose::{b64, b64_decode, CompactJws};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The most disclosures an SD-JWT may carry.
pub const MAX_DISCLOSURES: usize = 1024;
/// The deepest nesting of `_sd` objects and arrays processed.
pub const MAX_DEPTH: usize = 32;

/// The largest difference tolerated between the issuer's clock and ours
/// when checking `iat`, `nbf` and `exp`.
pub const CLOCK_SKEW_SECS: u64 = 120;

/// The issuer signature algorithms accepted (asymmetric only; never `none`
/// or a MAC). Only ES256 signatures can be checked today; the others are
/// reported as unsupported when a key is found.
pub const ALLOWED_ALGORITHMS: [&str; 7] = [
    "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "PS256", "RS256",
];

/// The `typ` values of an SD-JWT VC's issuer-signed JWT (`vc+sd-jwt` is
/// the legacy one of drafts and draft-13 issuers).
pub const SD_JWT_VC_TYPES: [&str; 2] = ["dc+sd-jwt", "vc+sd-jwt"];

#[derive(Clone, Copy)]
enum SdAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl SdAlg {
    fn digest(self, input: &[u8]) -> String {
        match self {
            SdAlg::Sha256 => b64(crate::jose::sha256(input)),
            SdAlg::Sha384 => b64(crate::jose::digest(&aws_lc_rs::digest::SHA384, input)),
            SdAlg::Sha512 => b64(crate::jose::digest(&aws_lc_rs::digest::SHA512, input)),
        }
    }
}

/// A decoded SD-JWT: the issuer-signed JWT, its disclosures and the claims they
/// reveal.
#[derive(Debug, Clone, PartialEq)]
pub struct SdJwt {
    issuer_jwt: String,
    header: Map<String, Value>,
    payload: Map<String, Value>,
    signing_input_len: usize,
    signature: Vec<u8>,
    disclosures: Vec<String>,
    claims: Map<String, Value>,
    key_binding_jwt: Option<String>,
}

impl SdJwt {
    /// Parses `<issuer-jwt>~<disclosure>~...~[<kb-jwt>]`, checks every
    /// disclosure against the digests and builds the disclosed claims.
    pub fn parse(compact: &str) -> Result<Self, String> {
        let mut parts: Vec<&str> = compact.split('~').collect();
        if parts.len() < 2 {
            return Err("not an SD-JWT (no '~' separator)".into());
        }
        let issuer_jwt = parts.remove(0);
        let last = parts.pop().unwrap_or_default();
        let key_binding_jwt = (!last.is_empty()).then(|| last.to_string());
        if parts.len() > MAX_DISCLOSURES {
            return Err(format!("more than {MAX_DISCLOSURES} disclosures"));
        }
        let jws = CompactJws::parse(issuer_jwt).map_err(|e| format!("issuer-signed JWT: {e}"))?;
        let sd_alg = match jws.payload.get("_sd_alg") {
            None => SdAlg::Sha256,
            Some(Value::String(a)) if a == "sha-256" => SdAlg::Sha256,
            Some(Value::String(a)) if a == "sha-384" => SdAlg::Sha384,
            Some(Value::String(a)) if a == "sha-512" => SdAlg::Sha512,
            Some(other) => {
                return Err(format!(
                    "unsupported _sd_alg {}",
                    crate::error::sanitize(&other.to_string(), 40)
                ))
            }
        };
        let mut by_digest = HashMap::new();
        for (i, d) in parts.iter().enumerate() {
            let decoded =
                b64_decode(d).ok_or_else(|| format!("disclosure {i} is not base64url"))?;
            let array = match serde_json::from_slice(&decoded) {
                Ok(Value::Array(a)) if a.len() == 2 || a.len() == 3 => a,
                _ => {
                    return Err(format!(
                        "disclosure {i} is not a JSON array of 2 or 3 elements"
                    ))
                }
            };
            let digest = sd_alg.digest(d.as_bytes());
            if by_digest.insert(digest, (array, false)).is_some() {
                return Err(format!("disclosure {i} appears twice"));
            }
        }
        let mut payload = jws.payload.clone();
        payload.remove("_sd_alg");
        let claims = match reveal(Value::Object(payload), &mut by_digest, 0)? {
            Value::Object(m) => m,
            _ => unreachable!("an object stays an object"),
        };
        if by_digest.values().any(|(_, used)| !used) {
            return Err("a disclosure is not referenced by any digest in the SD-JWT".into());
        }
        Ok(Self {
            issuer_jwt: issuer_jwt.to_string(),
            signing_input_len: jws.signing_input.len(),
            header: jws.header,
            payload: jws.payload,
            signature: jws.signature,
            disclosures: parts.iter().map(|s| s.to_string()).collect(),
            claims,
            key_binding_jwt,
        })
    }

    /// The issuer-signed JWT's header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The issuer-signed JWT's payload as signed (digests, not claims).
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }

    /// The claims with every disclosure applied (`_sd` and `_sd_alg` removed).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The number of disclosures.
    pub fn disclosure_count(&self) -> usize {
        self.disclosures.len()
    }

    /// Whether a key-binding JWT is attached.
    pub fn has_key_binding_jwt(&self) -> bool {
        self.key_binding_jwt.is_some()
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.payload.get("iss").and_then(Value::as_str)
    }

    /// `vct`.
    pub fn vct(&self) -> Option<&str> {
        self.payload.get("vct").and_then(Value::as_str)
    }

    /// `cnf.jwk`: the holder key the credential is bound to.
    pub fn holder_jwk(&self) -> Option<&Value> {
        self.payload.get("cnf").and_then(|c| c.get("jwk"))
    }

    /// `kid` of the issuer signature.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The checks of the issuer-signed JWT that need no key (SD-JWT VC): `typ`
    /// (`dc+sd-jwt`, legacy `vc+sd-jwt`), `alg` in [`ALLOWED_ALGORITHMS`],
    /// `iss` present, and `iat`, `nbf`, `exp` against `now` (seconds since
    /// the epoch) with [`CLOCK_SKEW_SECS`].
    pub fn check_issuer_jwt(&self, now: u64) -> Result<(), String> {
        let show = |v: &str| crate::error::sanitize(v, 40);
        match self.header.get("typ").and_then(Value::as_str) {
            Some(t) if SD_JWT_VC_TYPES.iter().any(|k| k.eq_ignore_ascii_case(t)) => {}
            Some(t) => {
                return Err(format!(
                    "typ {:?} is not an SD-JWT VC type (dc+sd-jwt)",
                    show(t)
                ))
            }
            None => return Err("the issuer-signed JWT has no typ (dc+sd-jwt)".into()),
        }
        match self.header.get("alg").and_then(Value::as_str) {
            Some(a) if ALLOWED_ALGORITHMS.contains(&a) => {}
            Some(a) => {
                return Err(format!(
                    "issuer signature algorithm {:?} is not allowed",
                    show(a)
                ))
            }
            None => return Err("the issuer-signed JWT has no alg".into()),
        }
        match self.payload.get("iss") {
            Some(Value::String(i)) if !i.is_empty() => {}
            Some(_) => return Err("iss is not a non-empty string".into()),
            None => return Err("the credential has no iss".into()),
        }
        super::check_times(&self.payload, now)
    }

    /// Verifies the issuer's signature with a public JWK (the header's
    /// `alg`: ES256, ES384, ES512 or EdDSA).
    pub fn verify_signature(&self, jwk: &Value) -> Result<(), String> {
        self.issuer_signed().verify(jwk)
    }

    /// The issuer-signed JWT, for the key resolution shared by the formats.
    pub(crate) fn issuer_signed(&self) -> super::IssuerSigned<'_> {
        super::IssuerSigned {
            header: &self.header,
            input: &self.issuer_jwt.as_bytes()[..self.signing_input_len],
            signature: &self.signature,
        }
    }

    /// The `x5c` header's leaf certificate public key as a JWK, if present.
    pub fn x5c_leaf_jwk(&self) -> Option<Result<Value, String>> {
        let first = self.header.get("x5c")?.as_array()?.first()?.as_str()?;
        Some(leaf_jwk(first))
    }
}

fn leaf_jwk(b64_der: &str) -> Result<Value, String> {
    use base64::Engine as _;
    use x509_cert::der::Decode as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64_der)
        .map_err(|_| "x5c certificate is not base64".to_string())?;
    let cert =
        x509_cert::Certificate::from_der(&der).map_err(|e| format!("x5c certificate: {e}"))?;
    super::trust::public_jwk(&cert)
}

type Disclosures = HashMap<String, (Vec<Value>, bool)>;

fn reveal(value: Value, disclosures: &mut Disclosures, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("claims nested deeper than {MAX_DEPTH}"));
    }
    match value {
        Value::Object(mut map) => {
            let digests = match map.remove("_sd") {
                None => Vec::new(),
                Some(Value::Array(d)) => d,
                Some(_) => return Err("_sd is not an array".into()),
            };
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k, reveal(v, disclosures, depth + 1)?);
            }
            for digest in digests {
                let digest = digest.as_str().ok_or("_sd holds a non-string digest")?;
                let Some((array, used)) = disclosures.get_mut(digest) else {
                    continue; // a decoy, or a claim not disclosed
                };
                if std::mem::replace(used, true) {
                    return Err("a digest is referenced twice".into());
                }
                if array.len() != 3 {
                    return Err("an object digest points at an array-element disclosure".into());
                }
                let name = array[1]
                    .as_str()
                    .ok_or("disclosure claim name is not a string")?
                    .to_string();
                if name == "_sd" || name == "..." {
                    return Err(format!("disclosure uses the reserved name {name}"));
                }
                let value = array[2].take();
                if out.contains_key(&name) {
                    return Err(format!("disclosed claim {name} already exists"));
                }
                let value = reveal(value, disclosures, depth + 1)?;
                out.insert(name, value);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Value::Object(m) = &item {
                    if m.len() == 1 {
                        if let Some(d) = m.get("...") {
                            let digest = d.as_str().ok_or("array digest is not a string")?;
                            if let Some((array, used)) = disclosures.get_mut(digest) {
                                if std::mem::replace(used, true) {
                                    return Err("a digest is referenced twice".into());
                                }
                                if array.len() != 2 {
                                    return Err(
                                        "an array digest points at an object-property disclosure"
                                            .into(),
                                    );
                                }
                                let v = array[1].take();
                                out.push(reveal(v, disclosures, depth + 1)?);
                            }
                            continue;
                        }
                    }
                }
                out.push(reveal(item, disclosures, depth + 1)?);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::jose::{Signer, SoftwareSigner};
    use serde_json::json;

    /// Builds an SD-JWT the way an issuer would (for tests).
    pub(crate) fn issue(
        signer: &SoftwareSigner,
        mut payload: Map<String, Value>,
        sd: &[(&str, Value)],
    ) -> String {
        let mut digests = Vec::new();
        let mut disclosures = Vec::new();
        for (i, (name, value)) in sd.iter().enumerate() {
            let d = b64(json!([format!("salt{i}"), name, value]).to_string());
            digests.push(Value::String(b64(crate::jose::sha256(d.as_bytes()))));
            disclosures.push(d);
        }
        payload.insert("_sd".into(), Value::Array(digests));
        payload.insert("_sd_alg".into(), json!("sha-256"));
        let header = json!({"alg":"ES256","typ":"dc+sd-jwt","kid":"k1"});
        let input = format!(
            "{}.{}",
            b64(header.to_string()),
            b64(Value::Object(payload).to_string())
        );
        let sig = signer.sign(input.as_bytes()).unwrap();
        let mut out = format!("{input}.{}~", b64(sig));
        for d in disclosures {
            out.push_str(&d);
            out.push('~');
        }
        out
    }

    fn payload() -> Map<String, Value> {
        json!({"iss":"https://i.example","vct":"urn:x","cnf":{"jwk":{"kty":"EC"}}})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn decodes_and_verifies() {
        let issuer = SoftwareSigner::generate();
        let sd = issue(
            &issuer,
            payload(),
            &[
                ("given_name", json!("Erika")),
                ("address", json!({"locality":"Berlin"})),
            ],
        );
        let parsed = SdJwt::parse(&sd).unwrap();
        assert_eq!(parsed.claims()["given_name"], "Erika");
        assert_eq!(parsed.claims()["address"]["locality"], "Berlin");
        assert!(parsed.claims().get("_sd").is_none());
        assert_eq!(parsed.vct(), Some("urn:x"));
        parsed.verify_signature(&issuer.public_jwk()).unwrap();
        assert!(parsed
            .verify_signature(&SoftwareSigner::generate().public_jwk())
            .is_err());
    }

    #[test]
    fn rejects_tampered_disclosures() {
        let issuer = SoftwareSigner::generate();
        let sd = issue(&issuer, payload(), &[("given_name", json!("Erika"))]);
        let forged = b64(json!(["salt0", "given_name", "Mallory"]).to_string());
        let parts: Vec<&str> = sd.split('~').collect();
        let tampered = format!("{}~{}~", parts[0], forged);
        assert!(SdJwt::parse(&tampered)
            .unwrap_err()
            .contains("not referenced"));
        let doubled = format!("{}~{}~{}~", parts[0], parts[1], parts[1]);
        assert!(SdJwt::parse(&doubled).is_err());
        assert!(SdJwt::parse("abc").is_err());
        assert!(SdJwt::parse("a.b.c~").is_err());
    }
}
