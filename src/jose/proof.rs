//! Proof-of-possession JWTs (`openid4vci-proof+jwt`, OID4VCI 1.0 appendix F.1).

use super::{b64, Signer};
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};

/// The `typ` header of a proof JWT.
pub(crate) const PROOF_JWT_TYP: &str = "openid4vci-proof+jwt";

/// The claims of a proof JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofClaims {
    /// `iss`: the client id; `None` for anonymous pre-authorized access.
    pub issuer: Option<String>,
    /// `aud`: the credential issuer identifier, exactly as in the metadata.
    pub audience: String,
    /// `iat`, seconds since the epoch.
    pub issued_at: u64,
    /// `nonce`: the `c_nonce`, when the issuer gave one.
    pub nonce: Option<String>,
}

/// Where the wallet gets key attestations (OID4VCI 1.0 appendix D, HAIP):
/// its wallet provider attests that the keys are held as it says (e.g. in
/// a secure element, `key_storage` / `user_authentication` levels). Called
/// when a configuration lists `key_attestations_required`, with the keys of
/// the proofs, the issuer's requirements and its `c_nonce`, right before the
/// proofs are signed; it may block (the app asks its provider).
pub trait KeyAttestationProvider: Send + Sync {
    /// A key attestation JWT (`typ: key-attestation+jwt`) whose
    /// `attested_keys` are `request.keys`, carrying `request.nonce` when
    /// given, at the levels the issuer requires.
    fn key_attestation(
        &self,
        request: &KeyAttestationRequest<'_>,
    ) -> std::result::Result<String, super::SignerError>;
}

/// What a key attestation must cover.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttestationRequest<'a> {
    /// The public keys (JWKs) of the proofs: the `attested_keys`.
    pub keys: &'a [Value],
    /// The issuer's `c_nonce`, for the attestation's `nonce`.
    pub nonce: Option<&'a str>,
    /// The credential issuer.
    pub credential_issuer: &'a str,
    /// `key_storage` levels the issuer accepts (any one suffices; empty:
    /// no requirement), e.g. `iso_18045_high`.
    pub key_storage: Vec<String>,
    /// `user_authentication` levels the issuer accepts (any one suffices).
    pub user_authentication: Vec<String>,
}

impl<'a> KeyAttestationRequest<'a> {
    /// The request for `keys` and `nonce` under an issuer's
    /// `key_attestations_required` object (kept as sent in the metadata).
    pub(crate) fn new(
        keys: &'a [Value],
        nonce: Option<&'a str>,
        credential_issuer: &'a str,
        required: Option<&Value>,
    ) -> Self {
        let levels = |name: &str| -> Vec<String> {
            required
                .and_then(|r| r.get(name))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .take(16)
                        .map(|s| crate::error::sanitize(s, 64))
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            keys,
            nonce,
            credential_issuer,
            key_storage: levels("key_storage"),
            user_authentication: levels("user_authentication"),
        }
    }
}

/// Builds and signs a proof JWT with the signer's key in the `jwk` header.
pub fn build_proof_jwt(signer: &dyn Signer, claims: &ProofClaims) -> Result<String> {
    build_proof_jwt_with(signer, claims, None)
}

/// [`build_proof_jwt`] with a key attestation in the `key_attestation`
/// header.
pub(crate) fn build_proof_jwt_with(
    signer: &dyn Signer,
    claims: &ProofClaims,
    key_attestation: Option<&str>,
) -> Result<String> {
    let jwk = signer.public_jwk();
    if jwk.get("d").is_some() {
        return Err(Error::proof(
            crate::error::ProofErrorKind::InvalidKey,
            "the signer's public JWK contains private key material",
        ));
    }
    let mut header = json!({
        "typ": PROOF_JWT_TYP,
        "alg": signer.algorithm().as_str(),
        "jwk": jwk,
    });
    if let Some(attestation) = key_attestation {
        header["key_attestation"] = Value::String(attestation.to_string());
    }
    let mut payload = Map::new();
    if let Some(iss) = &claims.issuer {
        payload.insert("iss".into(), Value::String(iss.clone()));
    }
    payload.insert("aud".into(), Value::String(claims.audience.clone()));
    payload.insert("iat".into(), Value::from(claims.issued_at));
    if let Some(nonce) = &claims.nonce {
        payload.insert("nonce".into(), Value::String(nonce.clone()));
    }
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string()),
        b64(Value::Object(payload).to_string())
    );
    let signature = signer
        .sign(signing_input.as_bytes())
        .map_err(|e| Error::proof(crate::error::ProofErrorKind::SignerFailed, e.to_string()))?;
    Ok(format!("{signing_input}.{}", b64(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{verify_es256, CompactJws, SoftwareSigner};

    #[test]
    fn proof_has_the_required_shape() {
        let signer = SoftwareSigner::generate();
        let jwt = build_proof_jwt(
            &signer,
            &ProofClaims {
                issuer: None,
                audience: "https://issuer.example/tenant/".into(),
                issued_at: 1_767_225_600,
                nonce: Some("n-1".into()),
            },
        )
        .unwrap();
        let jws = CompactJws::parse(&jwt).unwrap();
        assert_eq!(jws.header["typ"], PROOF_JWT_TYP);
        assert_eq!(jws.header["alg"], "ES256");
        assert_eq!(jws.header["jwk"], signer.public_jwk());
        assert!(jws.header.get("kid").is_none() && jws.header.get("x5c").is_none());
        assert_eq!(jws.payload["aud"], "https://issuer.example/tenant/");
        assert_eq!(jws.payload["nonce"], "n-1");
        assert_eq!(jws.payload["iat"], 1_767_225_600);
        assert!(jws.payload.get("iss").is_none());
        verify_es256(
            &signer.public_jwk(),
            jws.signing_input.as_bytes(),
            &jws.signature,
        )
        .unwrap();
    }
}
