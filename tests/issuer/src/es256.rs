//! ES256 (ECDSA P-256 with SHA-256) signatures made and checked with
//! OpenSSL: the signatures of credentials (SD-JWT, JWT VC, mdoc), signed
//! offers and metadata, and attestations, and the checks of the wallet's
//! proof JWTs, DPoP proofs and attestations.
//!
//! Keys stay `p256` types (generation, JWK and SEC1 forms, certificates);
//! only the arithmetic is OpenSSL's, about 4x faster than `p256` on the
//! machines we test on, so a side-by-side bench times the clients more than
//! the issuer. It is another implementation than the wallet SDK's
//! (`aws-lc-rs`), and the issuer's own unit tests check it against `p256`
//! both ways. OpenSSL is in the issuer's tree already (`josekit`).

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use std::sync::OnceLock;

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;

fn group() -> Option<&'static EcGroup> {
    static GROUP: OnceLock<Option<EcGroup>> = OnceLock::new();
    GROUP
        .get_or_init(|| EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).ok())
        .as_ref()
}

/// The point of `key` as an OpenSSL point.
fn point(group: &EcGroup, key: &VerifyingKey) -> Option<EcPoint> {
    let mut ctx = BigNumContext::new().ok()?;
    EcPoint::from_bytes(group, key.to_encoded_point(false).as_bytes(), &mut ctx).ok()
}

fn openssl_sign(key: &SigningKey, input: &[u8]) -> Option<Signature> {
    let group = group()?;
    let d = BigNum::from_slice(&key.to_bytes()).ok()?;
    let public = point(group, key.verifying_key())?;
    let private = EcKey::from_private_components(group, &d, &public).ok()?;
    let signature = EcdsaSig::sign(&openssl::sha::sha256(input), &private).ok()?;
    let mut raw = signature.r().to_vec_padded(32).ok()?;
    raw.extend(signature.s().to_vec_padded(32).ok()?);
    Signature::from_slice(&raw).ok()
}

fn openssl_verify(key: &VerifyingKey, input: &[u8], signature: &Signature) -> Option<bool> {
    let group = group()?;
    let point = point(group, key)?;
    let public = EcKey::from_public_key(group, &point).ok()?;
    let (r, s) = signature.split_bytes();
    let signature = EcdsaSig::from_private_components(
        BigNum::from_slice(&r).ok()?,
        BigNum::from_slice(&s).ok()?,
    )
    .ok()?;
    signature.verify(&openssl::sha::sha256(input), &public).ok()
}

/// An ES256 signature over `input` (OpenSSL's; `p256`'s should OpenSSL
/// fail, which a valid key does not make it).
pub(crate) fn sign(key: &SigningKey, input: &[u8]) -> Signature {
    openssl_sign(key, input).unwrap_or_else(|| {
        tracing::warn!("OpenSSL could not sign; signing with p256");
        key.sign(input)
    })
}

/// Whether `signature` over `input` verifies with `key` (OpenSSL; `p256`
/// should OpenSSL fail to take the key).
pub(crate) fn verify(key: &VerifyingKey, input: &[u8], signature: &Signature) -> bool {
    openssl_verify(key, input, signature).unwrap_or_else(|| {
        tracing::warn!("OpenSSL could not take the key; verifying with p256");
        key.verify(input, signature).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_p256_both_ways() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let other = SigningKey::random(&mut rand::rngs::OsRng);
        for input in [&b""[..], b"header.payload", &[0xa5; 1000]] {
            // Ours, checked by p256 and by ours.
            let ours = openssl_sign(&key, input).expect("OpenSSL signs");
            assert!(key.verifying_key().verify(input, &ours).is_ok());
            assert_eq!(
                openssl_verify(key.verifying_key(), input, &ours),
                Some(true)
            );
            // p256's, checked by ours.
            let theirs: Signature = key.sign(input);
            assert_eq!(
                openssl_verify(key.verifying_key(), input, &theirs),
                Some(true)
            );
            // Another key, another input, a flipped bit: refused.
            assert_eq!(
                openssl_verify(other.verifying_key(), input, &ours),
                Some(false)
            );
            assert_eq!(
                openssl_verify(key.verifying_key(), b"other", &ours),
                Some(false)
            );
            let mut bytes = ours.to_bytes();
            bytes[40] ^= 1;
            let flipped = Signature::from_slice(&bytes).unwrap();
            assert!(!verify(key.verifying_key(), input, &flipped));
        }
    }
}
