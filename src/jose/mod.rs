//! JOSE pieces the wallet needs: the [`Signer`] trait (software or hardware keys),
//! a software P-256 signer, proof JWTs, and ES256 verification of issuer
//! signatures.

pub(crate) mod attestation;
pub(crate) mod dpop;
pub(crate) mod jwe;
pub(crate) mod proof;
pub(crate) mod random;
pub(crate) mod signature;
pub(crate) mod signer;
pub(crate) mod verify;

pub(crate) use attestation::ClientAttestation;
pub(crate) use dpop::{DpopKeys, DpopServer, DpopState};

pub(crate) use proof::{
    build_proof_jwt_with, KeyAttestationProvider, KeyAttestationRequest, ProofClaims,
};
pub(crate) use random::{OsRandom, RandomSource};
pub(crate) use signer::{fresh_keys, Algorithm, KeySource, Signer, SignerError, SoftwareSigner};
pub(crate) use verify::verify_jws_signature;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

/// base64url without padding.
pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `bytes` fresh random bytes from `random`, base64url-encoded (PKCE
/// verifiers, `state`, `jti`s).
pub(crate) fn random_token(random: &dyn RandomSource, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    random.fill(&mut buf);
    b64(buf)
}

/// Decodes base64url (padding tolerated).
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// A compact JWS split into its parts, header and payload parsed as JSON objects.
pub(crate) struct CompactJws<'a> {
    pub header: serde_json::Map<String, Value>,
    pub payload: serde_json::Map<String, Value>,
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Splits and decodes `header.payload.signature`.
    pub(crate) fn parse(jws: &'a str) -> Result<Self, String> {
        let mut parts = jws.split('.');
        let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => return Err("not a compact JWS (expected three dot-separated parts)".into()),
        };
        let object = |part: &str, what: &str| -> Result<serde_json::Map<String, Value>, String> {
            let bytes = b64_decode(part).ok_or_else(|| format!("{what} is not base64url"))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(format!("{what} is not a JSON object")),
            }
        };
        Ok(Self {
            header: object(h, "JWS header")?,
            payload: object(p, "JWS payload")?,
            signing_input: &jws[..h.len() + 1 + p.len()],
            signature: b64_decode(s).ok_or("JWS signature is not base64url")?,
        })
    }
}

/// Verifies an ES256 signature (raw R||S) over `input` with a P-256 public
/// JWK, with p256: an implementation apart from aws-lc-rs, for tests.
#[cfg(test)]
pub(crate) fn verify_es256(jwk: &Value, input: &[u8], signature: &[u8]) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier as _;
    let point = p256_public_key(jwk)?;
    let key = p256::PublicKey::from_sec1_bytes(point.as_bytes())
        .map_err(|_| "not a P-256 point".to_string())?;
    let sig = p256::ecdsa::Signature::from_slice(signature)
        .map_err(|_| "signature is not a 64-byte ES256 signature".to_string())?;
    p256::ecdsa::VerifyingKey::from(key)
        .verify(input, &sig)
        .map_err(|_| "signature does not verify".to_string())
}

/// A P-256 public key checked to be a point on the curve, as its
/// uncompressed SEC1 encoding (`04 || x || y`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct P256Point([u8; 65]);

impl P256Point {
    /// Checks a SEC1 point (uncompressed or compressed) with aws-lc-rs.
    pub(crate) fn from_sec1(bytes: &[u8]) -> Result<Self, String> {
        use aws_lc_rs::encoding::AsDer as _;
        let parsed = aws_lc_rs::signature::ParsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            bytes,
        )
        .map_err(|_| "not a P-256 public key".to_string())?;
        if let Ok(point) = <[u8; 65]>::try_from(bytes) {
            return Ok(Self(point));
        }
        // A compressed point: its SubjectPublicKeyInfo holds the
        // uncompressed form, as the last 65 bytes.
        let der = parsed
            .as_der()
            .map_err(|_| "not a P-256 public key".to_string())?;
        let der = der.as_ref();
        der.get(der.len().saturating_sub(65)..)
            .and_then(|tail| <[u8; 65]>::try_from(tail).ok())
            .filter(|point| point[0] == 4)
            .map(Self)
            .ok_or_else(|| "not a P-256 public key".to_string())
    }

    /// The uncompressed SEC1 encoding.
    pub(crate) fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// The public JWK (`kty`, `crv`, `x`, `y`).
    pub(crate) fn to_jwk(self) -> Value {
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64(&self.0[1..33]),
            "y": b64(&self.0[33..]),
        })
    }
}

/// Parses a P-256 public JWK and checks its point is on the curve. Members
/// other than `kty`, `crv`, `x` and `y` (`kid`, `use`, `alg`, ...) are
/// ignored.
pub(crate) fn p256_public_key(jwk: &Value) -> Result<P256Point, String> {
    const INVALID: &str = "not a valid P-256 public JWK";
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if member("kty") != Some("EC") || member("crv") != Some("P-256") {
        return Err(INVALID.into());
    }
    let coordinate = |name: &str| {
        member(name)
            .and_then(b64_decode)
            .filter(|c| c.len() == 32)
            .ok_or_else(|| INVALID.to_string())
    };
    let mut point = vec![4u8];
    point.extend(coordinate("x")?);
    point.extend(coordinate("y")?);
    P256Point::from_sec1(&point).map_err(|_| INVALID.into())
}

/// The SHA-256 digest of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The digest of `data` with `algorithm` (`aws_lc_rs::digest::SHA384`, ...).
pub(crate) fn digest(algorithm: &'static aws_lc_rs::digest::Algorithm, data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(algorithm, data).as_ref().to_vec()
}

/// Whether two public JWKs denote the same key (compares kty/crv/x/y or kty/n/e).
pub(crate) fn same_public_key(a: &Value, b: &Value) -> bool {
    let members = ["kty", "crv", "x", "y", "n", "e"];
    members.iter().all(|m| a.get(m) == b.get(m)) && a.get("kty").is_some()
}
