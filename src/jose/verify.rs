//! Checking a JWS signature with a public JWK, for the algorithms issuers
//! sign credentials with: ES256, ES384, ES512 (raw R||S) and EdDSA
//! (Ed25519). The arithmetic is aws-lc-rs's, which rustls already links.

use super::b64_decode;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::Value;

/// Verifies `signature` over `input` made with `alg` by the key `jwk`.
/// The key's type and curve must fit the algorithm.
pub(crate) fn verify_jws_signature(
    alg: &str,
    jwk: &Value,
    input: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let (algorithm, curve, coordinate): (&'static dyn VerificationAlgorithm, &str, usize) =
        match alg {
            "ES256" => (&signature::ECDSA_P256_SHA256_FIXED, "P-256", 32),
            "ES384" => (&signature::ECDSA_P384_SHA384_FIXED, "P-384", 48),
            "ES512" => (&signature::ECDSA_P521_SHA512_FIXED, "P-521", 66),
            "EdDSA" | "Ed25519" => (&signature::ED25519, "Ed25519", 32),
            other => {
                return Err(format!(
                    "signature algorithm {} cannot be checked",
                    crate::error::sanitize(other, 16)
                ))
            }
        };
    if member("crv") != Some(curve) {
        return Err(format!("the key is not a {curve} key, as {alg} needs"));
    }
    let coordinate_bytes = |name: &str| -> Result<Vec<u8>, String> {
        let bytes = member(name)
            .and_then(b64_decode)
            .ok_or_else(|| format!("the key's {name} is missing or not base64url"))?;
        if bytes.len() != coordinate {
            return Err(format!("the key's {name} is not {coordinate} bytes"));
        }
        Ok(bytes)
    };
    let public = if curve == "Ed25519" {
        if member("kty") != Some("OKP") {
            return Err("an Ed25519 key must have kty OKP".into());
        }
        coordinate_bytes("x")?
    } else {
        if member("kty") != Some("EC") {
            return Err(format!("a {curve} key must have kty EC"));
        }
        let mut point = vec![0x04];
        point.extend(coordinate_bytes("x")?);
        point.extend(coordinate_bytes("y")?);
        point
    };
    UnparsedPublicKey::new(algorithm, public)
        .verify(input, signature)
        .map_err(|_| "signature does not verify".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{b64, Signer, SoftwareSigner};
    use aws_lc_rs::signature::KeyPair as _;

    #[test]
    fn es256_signatures_of_our_signer_verify_and_tampering_fails() {
        let signer = SoftwareSigner::generate();
        let signature = signer.sign(b"input").unwrap();
        let jwk = signer.public_jwk();
        assert!(verify_jws_signature("ES256", &jwk, b"input", &signature).is_ok());
        assert!(verify_jws_signature("ES256", &jwk, b"inpuT", &signature).is_err());
        assert!(verify_jws_signature("ES384", &jwk, b"input", &signature).is_err());
        assert!(verify_jws_signature("none", &jwk, b"input", &signature).is_err());
    }

    #[test]
    fn ed25519_signatures_verify() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())
        });
        let sig = pair.sign(b"message");
        assert!(verify_jws_signature("EdDSA", &jwk, b"message", sig.as_ref()).is_ok());
        assert!(verify_jws_signature("EdDSA", &jwk, b"massage", sig.as_ref()).is_err());
        let mut wrong = jwk.clone();
        wrong["kty"] = "EC".into();
        assert!(verify_jws_signature("EdDSA", &wrong, b"message", sig.as_ref()).is_err());
    }
}
