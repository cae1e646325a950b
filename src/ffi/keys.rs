//! [`KeySource`]: the app makes a new key for each credential of a batch
//! (Android Keystore, Secure Enclave), for `Wallet.receive`.

use super::signer::ForeignSigner;
use super::{Signer, WalletError};
use std::sync::Arc;

/// Makes the holder keys of `Wallet.receive`: one new key per credential,
/// so that no two credentials can be linked by their key. Each call must
/// return a key distinct from every key before (a repeated key fails with
/// `WalletError::Proof`, kind `KeyUsedTwice`, before the request is sent).
/// The app keeps the keys: each received credential names its own in
/// `Credential.holder_jwk`; a key that no credential names can be deleted.
/// Called once per credential, right before the request, on the wallet's
/// worker thread (not the app's main thread): generating a key there is
/// fine; keep user interaction out of it.
#[uniffi::export(with_foreign)]
pub trait KeySource: Send + Sync {
    /// A new key for one credential.
    fn new_key(&self) -> Result<Arc<dyn Signer>, WalletError>;
}

/// Adapts a foreign key source to the core trait.
pub(super) struct ForeignKeySource(pub(super) Arc<dyn KeySource>);

impl crate::KeySource for ForeignKeySource {
    fn new_key(&self) -> Result<Arc<dyn crate::Signer>, crate::SignerError> {
        let signer = self
            .0
            .new_key()
            .map_err(|e| crate::SignerError(e.to_string()))?;
        ForeignSigner::new(signer)
            .map(|s| Arc::new(s) as Arc<dyn crate::Signer>)
            .map_err(|e| crate::SignerError(e.to_string()))
    }
}
