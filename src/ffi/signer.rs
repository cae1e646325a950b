//! Keys: the foreign [`Signer`] an app implements (Android Keystore, Secure
//! Enclave), its adapter to the core signer, and a software key.

use super::WalletError;
use crate::jose::{signature, Algorithm, Signer as CoreSigner, SignerError};
use std::sync::Arc;

/// A key held by the app (Android Keystore, Secure Enclave, or software).
///
/// The SDK calls [`Self::sign`] on a background thread of its own, never on
/// the thread that awaits the SDK's call (which waits for the signature: a
/// `sign` that needs the main thread, for a biometric prompt, works when the
/// SDK is not awaited on the main thread).
#[uniffi::export(with_foreign)]
pub trait Signer: Send + Sync {
    /// The JOSE algorithm: `ES256` (P-256) is what issuers accept everywhere;
    /// `ES384` (P-384), `ES512` (P-521) and `EdDSA` (Ed25519) also work.
    fn algorithm(&self) -> String;
    /// The public key as a JWK JSON string (no private members).
    fn public_jwk(&self) -> String;
    /// Whether [`Self::sign`] receives the digest of the signing input (for
    /// keys that sign prehashed data only: SHA-256 for ES256, SHA-384 for
    /// ES384, SHA-512 for ES512; not for EdDSA) instead of the input itself.
    fn signs_digest(&self) -> bool;
    /// Signs; returns the signature: raw R||S (64, 96 or 132 bytes for
    /// ES256, ES384, ES512) or the ASN.1 DER signature platforms return
    /// (converted); 64 bytes for EdDSA.
    fn sign(&self, data: Vec<u8>) -> Result<Vec<u8>, WalletError>;
}

/// Adapts a foreign signer to the core trait.
pub(super) struct ForeignSigner {
    inner: Arc<dyn Signer>,
    algorithm: Algorithm,
    jwk: serde_json::Value,
    signs_digest: bool,
}

impl ForeignSigner {
    pub(super) fn new(inner: Arc<dyn Signer>) -> Result<Self, WalletError> {
        let name = inner.algorithm();
        let algorithm = Algorithm::from_name(&name).ok_or_else(|| WalletError::Signing {
            details: format!(
                "unsupported algorithm {}",
                crate::error::sanitize(&name, 16)
            ),
        })?;
        let jwk: serde_json::Value =
            serde_json::from_str(&inner.public_jwk()).map_err(|e| WalletError::Signing {
                details: format!("public_jwk is not JSON: {e}"),
            })?;
        if !jwk.is_object() || jwk.get("d").is_some() {
            return Err(WalletError::Signing {
                details: "public_jwk must be a public JWK object".into(),
            });
        }
        let signs_digest = inner.signs_digest();
        if signs_digest {
            // Fails for algorithms a digest-only key cannot use (EdDSA).
            signature::digest_to_sign(algorithm, b"")
                .map_err(|e| WalletError::Signing { details: e.0 })?;
        }
        Ok(Self {
            inner,
            algorithm,
            jwk,
            signs_digest,
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
        let data = if self.signs_digest {
            signature::digest_to_sign(self.algorithm, signing_input)?
        } else {
            signing_input.to_vec()
        };
        let inner = self.inner.clone();
        let from_key = on_a_blocking_thread(move || inner.sign(data))?
            .map_err(|e| SignerError(e.to_string()))?;
        // Platforms often return DER (Android Keystore, Apple's SecKey).
        signature::jws_signature(self.algorithm, &from_key)
    }
}

/// Runs the app's `sign` on a thread of the runtime's blocking pool, as
/// [`super::http`] runs the app's HTTP client, and waits for it.
///
/// Where the FFI futures run: UniFFI's `async_runtime = "tokio"` wraps each
/// one in async-compat's `Compat` (0.2, built without its `multi-thread`
/// feature), that is a current-thread tokio runtime driven by a thread of its
/// own (`async-compat/tokio-1`: timers, sockets, spawned tasks), while the
/// future itself is polled by the foreign caller's thread (the Kotlin
/// coroutine's dispatcher, the Swift task's executor: often the main thread)
/// under a `Handle::enter` guard. The engine calls the synchronous core
/// [`CoreSigner::sign`] in the middle of that poll.
///
/// `tokio::task::block_in_place` does not fit: it needs tokio's
/// `rt-multi-thread`, which the FFI build does not have; it panics on a
/// current-thread runtime's own thread; and on a thread that only entered the
/// runtime, such as the foreign caller's, it runs the closure right there.
/// `spawn_blocking` does move the call: to the blocking pool of the runtime
/// the future runs under, never one of its workers whatever its flavor, so
/// the app's code (a biometric prompt, a Secure Enclave or StrictMode-checked
/// Keystore operation) never runs on the thread that awaits the SDK, and
/// the runtime's worker keeps driving timers and sockets. The pool's threads
/// are reused (a JNA thread is attached once). The polling thread still
/// waits for the result, since the core trait is synchronous; only an async
/// `sign` awaited by the engine would free it. Outside a runtime (a plain
/// thread of the app's) no async work can be held up: the call runs inline.
fn on_a_blocking_thread<T: Send + 'static>(
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SignerError> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Ok(call());
    };
    let (done, result) = std::sync::mpsc::sync_channel(1);
    // The handle is not needed: the result comes back on the channel, which
    // closes without one if the call panics or the runtime is shutting down.
    drop(runtime.spawn_blocking(move || {
        let _ = done.send(call());
    }));
    result.recv().map_err(|_| {
        SignerError("the app's signer panicked or the SDK's runtime is shutting down".into())
    })
}

#[cfg(test)]
#[path = "signer_tests.rs"]
mod tests;

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
