//! `WalletBuilder`: one way to assemble a wallet from its parts (the app's
//! HTTP client, a wallet attestation, a key attestation provider, a DPoP key
//! store), where the
//! `Wallet` constructors cover only the common pairs.

use super::cache::{ForeignMetadataCache, MetadataStore};
use super::signer::ForeignSigner;
use super::wallet::client_attestation;
use super::{HttpClient, Signer, Wallet, WalletConfig, WalletError};
use std::sync::{Arc, Mutex};

/// What the app's wallet provider attests about the keys: called when an
/// issuer lists `key_attestations_required` (the EU PID does), right before
/// the proofs are signed. It may block while the app asks its provider.
#[uniffi::export(with_foreign)]
pub trait KeyAttestationProvider: Send + Sync {
    /// A key attestation JWT (`typ: key-attestation+jwt`) whose
    /// `attested_keys` are `request.keys_jwk`, with `request.nonce` when
    /// given, at one of the levels the issuer accepts.
    fn key_attestation(&self, request: KeyAttestationRequest) -> Result<String, WalletError>;
}

/// What a key attestation must cover.
#[derive(Debug, Clone, uniffi::Record)]
pub struct KeyAttestationRequest {
    /// The proofs' public keys, each a JWK as JSON text.
    pub keys_jwk: Vec<String>,
    /// The issuer's `c_nonce`, for the attestation's `nonce`.
    pub nonce: Option<String>,
    /// The credential issuer.
    pub credential_issuer: String,
    /// `key_storage` levels the issuer accepts (any one; empty: none asked).
    pub key_storage: Vec<String>,
    /// `user_authentication` levels the issuer accepts (any one).
    pub user_authentication: Vec<String>,
}

/// Adapts a foreign provider to the core trait.
struct ForeignKeyAttestations(Arc<dyn KeyAttestationProvider>);

impl crate::jose::KeyAttestationProvider for ForeignKeyAttestations {
    fn key_attestation(
        &self,
        request: &crate::jose::KeyAttestationRequest<'_>,
    ) -> Result<String, crate::SignerError> {
        self.0
            .key_attestation(KeyAttestationRequest {
                keys_jwk: request.keys.iter().map(|k| k.to_string()).collect(),
                nonce: request.nonce.map(str::to_string),
                credential_issuer: request.credential_issuer.to_string(),
                key_storage: request.key_storage.clone(),
                user_authentication: request.user_authentication.clone(),
            })
            .map_err(|e| crate::SignerError(e.to_string()))
    }
}

struct Parts {
    config: WalletConfig,
    http_client: Option<Arc<dyn HttpClient>>,
    attestation: Option<(String, Arc<dyn Signer>)>,
    key_attestations: Option<Arc<dyn KeyAttestationProvider>>,
    dpop_keys: Option<Arc<dyn DpopKeyStore>>,
    metadata_store: Option<Arc<dyn MetadataStore>>,
}

/// Assembles a [`Wallet`]: `WalletBuilder(config).keyAttestations(p).build()`.
#[derive(uniffi::Object)]
pub struct WalletBuilder {
    parts: Mutex<Parts>,
}

impl WalletBuilder {
    fn with(self: Arc<Self>, change: impl FnOnce(&mut Parts)) -> Arc<Self> {
        change(&mut self.parts.lock().unwrap_or_else(|p| p.into_inner()));
        self
    }
}

#[uniffi::export]
impl WalletBuilder {
    /// Starts from `config` (the built-in HTTP client, no attestations).
    #[uniffi::constructor]
    pub fn new(config: WalletConfig) -> Arc<Self> {
        Arc::new(Self {
            parts: Mutex::new(Parts {
                config,
                http_client: None,
                attestation: None,
                key_attestations: None,
                dpop_keys: None,
                metadata_store: None,
            }),
        })
    }

    /// Sends every request through the app's own HTTP stack (see
    /// `Wallet.withHttpClient`).
    pub fn http_client(self: Arc<Self>, http_client: Arc<dyn HttpClient>) -> Arc<Self> {
        self.with(|p| p.http_client = Some(http_client))
    }

    /// Authenticates with a wallet attestation (see `Wallet.withAttestation`).
    pub fn attestation(
        self: Arc<Self>,
        attestation_jwt: String,
        signer: Arc<dyn Signer>,
    ) -> Arc<Self> {
        self.with(|p| p.attestation = Some((attestation_jwt, signer)))
    }

    /// Gets key attestations from the app's wallet provider for issuers that
    /// require them.
    pub fn key_attestations(
        self: Arc<Self>,
        provider: Arc<dyn KeyAttestationProvider>,
    ) -> Arc<Self> {
        self.with(|p| p.key_attestations = Some(provider))
    }

    /// Keeps DPoP keys in the app's key store: every DPoP proof of a session
    /// is signed by the app's key, and the saved session holds only its
    /// public key and the app's reference (restore it with a wallet that has
    /// the same store).
    pub fn dpop_keys(self: Arc<Self>, store: Arc<dyn DpopKeyStore>) -> Arc<Self> {
        self.with(|p| p.dpop_keys = Some(store))
    }

    /// Persists the metadata cache in the app's store (by default it lives
    /// in memory, per wallet): a wallet built after a restart with the same
    /// store reads the issuer's metadata and keys from it while the servers'
    /// `Cache-Control` allows.
    pub fn metadata_store(self: Arc<Self>, store: Arc<dyn MetadataStore>) -> Arc<Self> {
        self.with(|p| p.metadata_store = Some(store))
    }

    /// The wallet. `WalletError::Configuration` for an unusable part (as
    /// the `Wallet` constructors say).
    pub fn build(&self) -> Result<Arc<Wallet>, WalletError> {
        let parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let mut builder = match &parts.http_client {
            Some(client) => parts.config.foreign_client_builder(client.clone())?,
            None => parts.config.builtin_client_builder()?,
        };
        if let Some((jwt, signer)) = &parts.attestation {
            builder = builder.client_attestation(client_attestation(jwt.clone(), signer.clone())?);
        }
        if let Some(provider) = &parts.key_attestations {
            builder = builder.key_attestations(ForeignKeyAttestations(provider.clone()));
        }
        if let Some(store) = &parts.dpop_keys {
            builder = builder.dpop_keys(ForeignDpopKeys(store.clone()));
        }
        if let Some(store) = &parts.metadata_store {
            builder = builder.metadata_cache(Arc::new(ForeignMetadataCache::new(store.clone())));
        }
        Ok(Arc::new(Wallet {
            inner: builder.build()?,
        }))
    }
}

/// DPoP keys held by the app (Android Keystore, Secure Enclave): a new
/// authorization asks for a new key, a restored session for the key by the
/// reference the app gave. Each must be an ES256 key.
#[uniffi::export(with_foreign)]
pub trait DpopKeyStore: Send + Sync {
    /// Creates a key for a new authorization; returns the app's reference
    /// to it (kept in the saved session).
    fn create_key(&self) -> Result<String, WalletError>;
    /// The signer of the key under `reference`.
    fn signer(&self, reference: String) -> Result<Arc<dyn Signer>, WalletError>;
}

/// Adapts a foreign key store to the core trait.
struct ForeignDpopKeys(Arc<dyn DpopKeyStore>);

impl crate::jose::DpopKeys for ForeignDpopKeys {
    fn create(&self) -> Result<String, crate::SignerError> {
        self.0
            .create_key()
            .map_err(|e| crate::SignerError(e.to_string()))
    }

    fn signer(&self, reference: &str) -> Result<Arc<dyn crate::Signer>, crate::SignerError> {
        let signer = self
            .0
            .signer(reference.to_string())
            .map_err(|e| crate::SignerError(e.to_string()))?;
        ForeignSigner::new(signer)
            .map(|s| Arc::new(s) as Arc<dyn crate::Signer>)
            .map_err(|e| crate::SignerError(e.to_string()))
    }
}
