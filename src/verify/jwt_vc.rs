//! W3C Verifiable Credentials as JWTs (`jwt_vc_json`, VC Data Model 1.1 JWT
//! encoding): the `vc` claim decoded, its `credentialSubject` as claims, the
//! holder key (`cnf.jwk`, or a `did:jwk` in `credentialSubject.id` / `sub`),
//! and the checks that need no key (algorithm allow-list, `iat`/`nbf`/`exp`).

use super::sd_jwt::ALLOWED_ALGORITHMS;
use super::IssuerSigned;
use crate::error::sanitize;
use crate::jose::CompactJws;
use serde_json::{Map, Value};

/// A decoded JWT VC.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtVc {
    jwt: String,
    header: Map<String, Value>,
    payload: Map<String, Value>,
    signing_input_len: usize,
    signature: Vec<u8>,
}

impl JwtVc {
    /// Parses a compact JWT whose payload has a `vc` object with a
    /// `credentialSubject` object.
    pub fn parse(jwt: &str) -> Result<Self, String> {
        let jws = CompactJws::parse(jwt)?;
        let vc = jws
            .payload
            .get("vc")
            .and_then(Value::as_object)
            .ok_or("the JWT has no vc object")?;
        if !vc.get("credentialSubject").is_some_and(Value::is_object) {
            return Err("vc.credentialSubject is not an object".into());
        }
        Ok(Self {
            jwt: jwt.to_string(),
            signing_input_len: jws.signing_input.len(),
            header: jws.header,
            payload: jws.payload,
            signature: jws.signature,
        })
    }

    /// The JWT's header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The JWT's payload.
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }

    /// The claims for display: `{"credentialSubject": {...}}`, so that the
    /// metadata's `["credentialSubject", name]` paths resolve.
    pub fn claims(&self) -> Map<String, Value> {
        let mut out = Map::new();
        if let Some(subject) = self.vc().get("credentialSubject") {
            out.insert("credentialSubject".into(), subject.clone());
        }
        out
    }

    fn vc(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.payload
            .get("vc")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// The issuer: `iss`, else `vc.issuer` (a string or `{id}`).
    pub fn issuer(&self) -> Option<&str> {
        self.payload.get("iss").and_then(Value::as_str).or_else(|| {
            match self.vc().get("issuer")? {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("id").and_then(Value::as_str),
                _ => None,
            }
        })
    }

    /// The holder key: `cnf.jwk`, else the key of a `did:jwk` in
    /// `credentialSubject.id` or `sub`. `None` when the credential names no
    /// holder key (or one the wallet cannot decode).
    pub fn holder_jwk(&self) -> Option<Value> {
        if let Some(jwk) = self.payload.get("cnf").and_then(|c| c.get("jwk")) {
            return Some(jwk.clone());
        }
        let subject_id = self
            .vc()
            .get("credentialSubject")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .or_else(|| self.payload.get("sub").and_then(Value::as_str))?;
        match super::did::resolve(subject_id, false) {
            Ok(super::did::DidKey::Local(jwk)) => Some(jwk),
            _ => None,
        }
    }

    /// The checks that need no key: `alg` in the allow-list, an issuer,
    /// and `iat`, `nbf`, `exp` against `now`.
    pub fn check(&self, now: u64) -> Result<(), String> {
        match self.header.get("alg").and_then(Value::as_str) {
            Some(a) if ALLOWED_ALGORITHMS.contains(&a) => {}
            Some(a) => {
                return Err(format!(
                    "issuer signature algorithm {:?} is not allowed",
                    sanitize(a, 40)
                ))
            }
            None => return Err("the JWT has no alg".into()),
        }
        if self.issuer().is_none_or(str::is_empty) {
            return Err("the credential has no iss".into());
        }
        super::check_times(&self.payload, now)
    }

    /// The issuer-signed JWT.
    pub(crate) fn issuer_signed(&self) -> IssuerSigned<'_> {
        IssuerSigned {
            header: &self.header,
            input: &self.jwt.as_bytes()[..self.signing_input_len],
            signature: &self.signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{b64, Signer, SoftwareSigner};
    use serde_json::json;

    fn jwt(header: Value, payload: Value) -> String {
        let signer = SoftwareSigner::generate();
        let input = format!("{}.{}", b64(header.to_string()), b64(payload.to_string()));
        let sig = signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig))
    }

    #[test]
    fn claims_issuer_and_holder_come_from_the_vc() {
        let holder = SoftwareSigner::generate().public_jwk();
        let did = format!("did:jwk:{}", b64(holder.to_string()));
        let text = jwt(
            json!({"alg": "ES256", "typ": "JWT"}),
            json!({"iss": "https://i.example", "nbf": 10, "exp": 1000, "sub": did,
                   "vc": {"type": ["VerifiableCredential"], "credentialSubject": {"id": did, "given_name": "Erika"}}}),
        );
        let vc = JwtVc::parse(&text).unwrap();
        assert_eq!(vc.issuer(), Some("https://i.example"));
        assert_eq!(vc.claims()["credentialSubject"]["given_name"], "Erika");
        assert_eq!(vc.holder_jwk(), Some(holder));
        assert!(vc.check(500).is_ok());
        assert!(vc.check(5000).unwrap_err().contains("expired"));
        assert!(vc.check(0).is_ok(), "within the skew of nbf");
    }

    #[test]
    fn malformed_vcs_are_refused() {
        let none = jwt(
            json!({"alg": "none"}),
            json!({"iss": "x", "vc": {"credentialSubject": {}}}),
        );
        assert!(JwtVc::parse(&none).unwrap().check(0).is_err());
        let no_vc = jwt(json!({"alg": "ES256"}), json!({"iss": "x"}));
        assert!(JwtVc::parse(&no_vc).is_err());
        let no_subject = jwt(
            json!({"alg": "ES256"}),
            json!({"vc": {"credentialSubject": 3}}),
        );
        assert!(JwtVc::parse(&no_subject).is_err());
        let issuer_in_vc = jwt(
            json!({"alg": "ES256"}),
            json!({"vc": {"issuer": {"id": "did:web:x"}, "credentialSubject": {}}}),
        );
        assert_eq!(
            JwtVc::parse(&issuer_in_vc).unwrap().issuer(),
            Some("did:web:x")
        );
    }
}
