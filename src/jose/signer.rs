//! The [`Signer`] trait and a software P-256 implementation.

use serde_json::Value;
use std::fmt;

/// JWS algorithms a signer may use.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// ECDSA P-521 with SHA-512.
    Es512,
    /// EdDSA (Ed25519).
    EdDsa,
}

impl Algorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The algorithm of a JOSE `alg` name, if the SDK signs with it.
    #[cfg_attr(not(feature = "uniffi"), allow(dead_code))]
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [
            Algorithm::Es256,
            Algorithm::Es384,
            Algorithm::Es512,
            Algorithm::EdDsa,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }
}

/// A signer failed (hardware key unavailable, user cancelled biometrics, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signer failed: {0}")]
pub struct SignerError(pub String);

/// A key that signs proofs. Implement it for hardware-backed keys (Android
/// Keystore, Secure Enclave); [`SoftwareSigner`] is an in-memory P-256 key.
pub trait Signer: Send + Sync {
    /// The JWS algorithm of this key.
    fn algorithm(&self) -> Algorithm;
    /// The public key as a JWK (never private members).
    fn public_jwk(&self) -> Value;
    /// Signs the JWS signing input; returns the JWS signature (raw R||S for
    /// ECDSA, each half the curve's size; 64 bytes for EdDSA).
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignerError>;
}

impl<S: Signer + ?Sized> Signer for &S {
    fn algorithm(&self) -> Algorithm {
        (**self).algorithm()
    }
    fn public_jwk(&self) -> Value {
        (**self).public_jwk()
    }
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignerError> {
        (**self).sign(signing_input)
    }
}

impl<S: Signer + ?Sized> Signer for std::sync::Arc<S> {
    fn algorithm(&self) -> Algorithm {
        (**self).algorithm()
    }
    fn public_jwk(&self) -> Value {
        (**self).public_jwk()
    }
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignerError> {
        (**self).sign(signing_input)
    }
}

/// Makes the holder keys of `Wallet::receive_batch`: one new key per
/// credential, so that no two credentials can be linked by their key. Each
/// call must return a key distinct from every other (a repeated key fails
/// with [`crate::ProofErrorKind::KeyUsedTwice`] before the request is sent). The
/// app keeps the keys (e.g. in its key store): each received credential
/// names its own in `IssuedCredential::holder_jwk`; a key whose request
/// failed, or that the issuer gave no credential for, can be deleted.
/// A closure `Fn() -> Result<Arc<dyn Signer>, SignerError>` is one.
pub trait KeySource: Send + Sync {
    /// A new key for one credential.
    fn new_key(&self) -> Result<std::sync::Arc<dyn Signer>, SignerError>;
}

impl<F> KeySource for F
where
    F: Fn() -> Result<std::sync::Arc<dyn Signer>, SignerError> + Send + Sync,
{
    fn new_key(&self) -> Result<std::sync::Arc<dyn Signer>, SignerError> {
        self()
    }
}

/// `count` fresh keys from `source`; a key it cannot make is a
/// [`crate::ProofErrorKind::SignerFailed`] proof error.
pub(crate) fn fresh_keys(
    source: &dyn KeySource,
    count: usize,
) -> crate::error::Result<Vec<std::sync::Arc<dyn Signer>>> {
    (0..count)
        .map(|_| {
            source.new_key().map_err(|e| {
                crate::error::Error::proof(
                    crate::error::ProofErrorKind::SignerFailed,
                    format!("the key source made no key: {e}"),
                )
            })
        })
        .collect()
}

/// An in-memory P-256 key (ES256), for tests, desktop apps and the CLI.
///
/// It signs with aws-lc-rs, whose ECDSA draws each signature's nonce from
/// its own OS-seeded generator: two signatures of the same input differ,
/// and the wallet's [`RandomSource`](super::RandomSource) does not decide
/// them. Give a deterministic signer (RFC 6979) where byte-identical runs
/// are needed.
#[derive(Clone)]
pub struct SoftwareSigner {
    key: std::sync::Arc<aws_lc_rs::signature::EcdsaKeyPair>,
    /// Wiped when the last clone is dropped.
    secret: std::sync::Arc<zeroize::Zeroizing<[u8; 32]>>,
    public: super::P256Point,
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("public_jwk", &self.public_jwk())
            .finish()
    }
}

impl SoftwareSigner {
    /// A fresh random key from the OS.
    pub fn generate() -> Self {
        Self::generate_with(&super::OsRandom)
    }

    /// A fresh random key from `random`.
    pub fn generate_with(random: &dyn super::RandomSource) -> Self {
        let scalar = zeroize::Zeroizing::new(super::random::p256_scalar(random));
        Self::from_bytes(scalar.as_slice()).expect("a valid P-256 scalar makes a key")
    }

    /// A key from its 32-byte private scalar.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, SignerError> {
        let invalid = || SignerError("not a valid P-256 private key".into());
        let secret: zeroize::Zeroizing<[u8; 32]> =
            zeroize::Zeroizing::new(secret.try_into().map_err(|_| invalid())?);
        let agreement = aws_lc_rs::agreement::PrivateKey::from_private_key(
            &aws_lc_rs::agreement::ECDH_P256,
            secret.as_slice(),
        )
        .map_err(|_| invalid())?;
        let point = agreement.compute_public_key().map_err(|_| invalid())?;
        let public = super::P256Point::from_sec1(point.as_ref()).map_err(|_| invalid())?;
        let key = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            secret.as_slice(),
            public.as_bytes(),
        )
        .map_err(|_| invalid())?;
        Ok(Self {
            key: std::sync::Arc::new(key),
            secret: std::sync::Arc::new(secret),
            public,
        })
    }

    /// The 32-byte private scalar (to store it; keep it secret).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.secret.to_vec()
    }
}

impl Signer for SoftwareSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Es256
    }

    fn public_jwk(&self) -> Value {
        self.public.to_jwk()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignerError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key
            .sign(&rng, signing_input)
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| SignerError("ES256 signing failed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_signer_round_trip() {
        let s = SoftwareSigner::generate();
        let jwk = s.public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert!(
            jwk.get("d").is_none(),
            "public JWK must not carry the private key"
        );
        let sig = s.sign(b"hello").unwrap();
        assert!(crate::jose::verify_es256(&jwk, b"hello", &sig).is_ok());
        assert!(crate::jose::verify_es256(&jwk, b"hellO", &sig).is_err());
        let again = SoftwareSigner::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(again.public_jwk(), jwk);
        assert!(!format!("{s:?}").contains("\"d\""));
    }

    #[test]
    fn algorithms_by_their_jose_names() {
        for name in ["ES256", "ES384", "ES512", "EdDSA"] {
            assert_eq!(Algorithm::from_name(name).unwrap().as_str(), name);
        }
        for name in ["es256", "RS256", "Ed25519", "none", ""] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
    }
}
