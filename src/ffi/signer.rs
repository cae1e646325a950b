//! Keys: the foreign [`Signer`] an app implements (Android Keystore, Secure
//! Enclave), its adapter to the core signer, and a software key.

use super::WalletError;
use crate::jose::{Algorithm, Signer as CoreSigner, SignerError};
use sha2::Digest as _;
use std::sync::Arc;

/// A key held by the app (Android Keystore, Secure Enclave, or software).
#[uniffi::export(with_foreign)]
pub trait Signer: Send + Sync {
    /// The JOSE algorithm: `ES256` (P-256) is what issuers accept everywhere.
    fn algorithm(&self) -> String;
    /// The public key as a JWK JSON string (no private members).
    fn public_jwk(&self) -> String;
    /// Whether [`Self::sign`] receives the SHA-256 digest of the signing input
    /// (for keys that sign prehashed data only) instead of the input itself.
    fn signs_digest(&self) -> bool;
    /// Signs; returns the raw signature (R||S, 64 bytes for ES256; a DER
    /// signature is converted).
    fn sign(&self, data: Vec<u8>) -> Result<Vec<u8>, WalletError>;
}

/// Adapts a foreign signer to the core trait.
pub(super) struct ForeignSigner {
    inner: Arc<dyn Signer>,
    algorithm: Algorithm,
    jwk: serde_json::Value,
}

impl ForeignSigner {
    pub(super) fn new(inner: Arc<dyn Signer>) -> Result<Self, WalletError> {
        let algorithm = match inner.algorithm().as_str() {
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            "EdDSA" => Algorithm::EdDsa,
            other => {
                return Err(WalletError::Signing {
                    details: format!(
                        "unsupported algorithm {}",
                        crate::error::sanitize(other, 16)
                    ),
                })
            }
        };
        let jwk: serde_json::Value =
            serde_json::from_str(&inner.public_jwk()).map_err(|e| WalletError::Signing {
                details: format!("public_jwk is not JSON: {e}"),
            })?;
        if !jwk.is_object() || jwk.get("d").is_some() {
            return Err(WalletError::Signing {
                details: "public_jwk must be a public JWK object".into(),
            });
        }
        Ok(Self {
            inner,
            algorithm,
            jwk,
        })
    }
}

impl CoreSigner for ForeignSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn public_jwk(&self) -> serde_json::Value {
        self.jwk.clone()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignerError> {
        let data = if self.inner.signs_digest() {
            sha2::Sha256::digest(signing_input).to_vec()
        } else {
            signing_input.to_vec()
        };
        let signature = self
            .inner
            .sign(data)
            .map_err(|e| SignerError(e.to_string()))?;
        if self.algorithm == Algorithm::Es256 && signature.len() != 64 {
            // Platforms often return DER (Android, Apple's SecKey): convert.
            return p256::ecdsa::Signature::from_der(&signature)
                .map(|s| s.to_bytes().to_vec())
                .map_err(|_| SignerError("signature is neither raw R||S nor DER".into()));
        }
        Ok(signature)
    }
}

/// A software P-256 key (for tests and apps without hardware keys).
#[derive(uniffi::Object)]
pub struct SoftwareSigner {
    inner: crate::SoftwareSigner,
}

#[uniffi::export]
impl SoftwareSigner {
    /// A fresh random key.
    #[uniffi::constructor]
    pub fn generate() -> Arc<Self> {
        Arc::new(Self {
            inner: crate::SoftwareSigner::generate(),
        })
    }
}

#[uniffi::export]
impl Signer for SoftwareSigner {
    fn algorithm(&self) -> String {
        "ES256".into()
    }
    fn public_jwk(&self) -> String {
        self.inner.public_jwk().to_string()
    }
    fn signs_digest(&self) -> bool {
        false
    }
    fn sign(&self, data: Vec<u8>) -> Result<Vec<u8>, WalletError> {
        self.inner.sign(&data).map_err(|e| WalletError::Signing {
            details: e.to_string(),
        })
    }
}
