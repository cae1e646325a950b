//! [`WalletBuilder`]: the wallet's options, their defaults, and the checks
//! that turn them into a [`Wallet`] (a trust anchor that does not parse, a
//! `client_id` that differs from the attestation's, no HTTP client in a build
//! without the built-in one). The wallet itself (the loop and its API) is
//! `client`.

use crate::client::{Clock, Parts, SystemClock, Wallet};
use crate::error::{Error, Result};
use crate::flow::EngineConfig;
use crate::http::cache::{InMemoryMetadataCache, MetadataCache};
#[cfg(feature = "builtin-http")]
use crate::http::ReqwestClient;
use crate::http::{HttpClient, ReqwestConfig};
use crate::jose::{ClientAttestation, KeyAttestationProvider, RandomSource};
#[allow(unused_imports)] // doc links
use crate::verify::Verification;
use std::sync::Arc;
use std::time::Duration;

/// Configures a [`Wallet`]. Defaults: no client id (anonymous pre-authorized
/// access), https only, locale `en`, 10 s connect / 30 s request timeouts,
/// 1 MiB response cap, credential signatures checked.
pub struct WalletBuilder {
    client_id: Option<String>,
    engine: EngineConfig,
    http: Option<Arc<dyn HttpClient>>,
    reqwest: ReqwestConfig,
    trust_anchor_error: Option<String>,
    clock: Arc<dyn Clock>,
    attestation: Option<ClientAttestation>,
    key_attestations: Option<Arc<dyn KeyAttestationProvider>>,
    cache: Option<Arc<dyn MetadataCache>>,
}

impl WalletBuilder {
    /// Where issuer metadata, authorization server metadata and issuer keys
    /// are cached, as the servers' `Cache-Control` and `ETag` allow (see
    /// [`MetadataCache`]). Default: an [`InMemoryMetadataCache`] per wallet;
    /// give your own to persist it across launches.
    pub fn metadata_cache(mut self, cache: Arc<dyn MetadataCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Fetches every document anew (no metadata cache).
    pub fn no_metadata_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// The OAuth client id of this wallet (sent when the authorization server
    /// does not allow anonymous pre-authorized access, and as proof `iss`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Allows plain http to loopback hosts (127.0.0.1, ::1, localhost). For
    /// tests and local development only.
    pub fn dangerous_allow_http(mut self) -> Self {
        self.engine.allow_http = true;
        self.reqwest.allow_http = true;
        self
    }

    /// Preferred locales for display metadata and `Accept-Language`, best first.
    pub fn locales<S: Into<String>>(mut self, locales: impl IntoIterator<Item = S>) -> Self {
        let list: Vec<String> = locales.into_iter().map(Into::into).collect();
        if !list.is_empty() {
            self.engine.locales = list;
        }
        self
    }

    /// Uses your own transport instead of the built-in reqwest client (the
    /// timeouts and size cap below then are yours to enforce). Required in a
    /// build without the feature `builtin-http`.
    pub fn http_client(mut self, client: impl HttpClient + 'static) -> Self {
        self.http = Some(Arc::new(client));
        self
    }

    /// Connect timeout (default 10 s) and whole-request timeout (default 30 s).
    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.reqwest.connect_timeout = connect;
        self.reqwest.timeout = request;
        self
    }

    /// Trusts this root certificate (PEM or DER) beside the platform's roots
    /// (a private CA, or a test server's self-signed certificate). Applies to
    /// the built-in HTTP client only.
    pub fn add_root_certificate(mut self, pem_or_der: impl Into<Vec<u8>>) -> Self {
        self.reqwest.extra_root_certificates.push(pem_or_der.into());
        self
    }

    /// The largest response body accepted (default 1 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.reqwest.max_response_bytes = bytes;
        self
    }

    /// Whether to verify the issuer's signature on SD-JWT credentials (default
    /// true). Turn it off only when the app resolves issuer keys itself.
    pub fn verify_credential_signatures(mut self, on: bool) -> Self {
        self.engine.trust.verify_signatures = on;
        self
    }

    /// Trusts these X.509 roots (a PEM text with one or more certificates,
    /// or one DER certificate) for the issuers of credentials: an SD-JWT
    /// whose `x5c` chain is a valid path to one of them, with a leaf naming
    /// its `iss`, is [`Verification::Verified`]. Kept apart from the TLS roots
    /// ([`Self::add_root_certificate`]). Without anchors every `x5c`
    /// credential is unverified.
    pub fn trust_anchor(mut self, pem_or_der: impl AsRef<[u8]>) -> Self {
        if let Err(e) = self.engine.trust.anchors.add(pem_or_der.as_ref()) {
            self.trust_anchor_error.get_or_insert(e);
        }
        self
    }

    /// [`Self::trust_anchor`] for each of `roots` (e.g. the certificates of
    /// an EU trusted list).
    pub fn trust_anchors<R: AsRef<[u8]>>(self, roots: impl IntoIterator<Item = R>) -> Self {
        roots
            .into_iter()
            .fold(self, |builder, root| builder.trust_anchor(root))
    }

    /// Keeps DPoP keys in the app's key store (e.g. the secure element)
    /// instead of drawing a software key per issuance: every DPoP proof of
    /// a session is signed by the app's key, and the saved session holds only
    /// its public key and the app's reference (a wallet that restores it
    /// needs the same store).
    pub fn dpop_keys(mut self, keys: impl crate::jose::DpopKeys + 'static) -> Self {
        self.engine.dpop_keys = Some(Arc::new(keys));
        self
    }

    /// Whether a credential whose issuer could not be verified is an error
    /// (default false: it is returned with [`Verification::Unverified`] and
    /// the reason, so that the app decides, e.g. for test issuers or issuers
    /// whose key method the SDK does not resolve yet; the issuer has issued
    /// it, and dropping it would lose it). A check that fails is always an
    /// error.
    pub fn require_verified(mut self, on: bool) -> Self {
        self.engine.trust.require_verified = on;
        self
    }

    /// Authenticates the wallet to authorization servers with a Wallet
    /// Attestation (OAuth attestation-based client authentication, as HAIP
    /// asks): the attestation and a fresh proof of possession of its key go
    /// to every PAR and token request, with the server's challenge when it
    /// has a `challenge_endpoint` or answers `use_attestation_challenge`.
    /// The wallet's `client_id` is the attestation's `sub` (a different
    /// [`Self::client_id`] is a configuration error).
    pub fn client_attestation(mut self, attestation: ClientAttestation) -> Self {
        self.attestation = Some(attestation);
        self
    }

    /// Attaches key attestations from the app's wallet provider to the
    /// proofs of configurations that list `key_attestations_required` (the
    /// EU PID issuers do, HAIP): the provider is asked, right before the
    /// proofs are signed, for an attestation of their keys with the issuer's
    /// `c_nonce`. Without one, such configurations are refused before the
    /// token or authorization request.
    pub fn key_attestations(mut self, provider: impl KeyAttestationProvider + 'static) -> Self {
        self.key_attestations = Some(Arc::new(provider));
        self
    }

    /// Replaces the source of randomness (PKCE verifiers, `state`, the `jti`
    /// of DPoP proofs and attestation PoPs, DPoP keys, JWE keys and IVs;
    /// default: the OS). With a seeded source, a fixed [`Clock`] and
    /// signers that sign deterministically (RFC 6979; [`Self::dpop_keys`]
    /// for DPoP, since the SDK's own [`SoftwareSigner`](crate::SoftwareSigner)
    /// draws its ECDSA nonces inside aws-lc-rs), two runs send
    /// byte-identical requests. Never use a predictable source outside
    /// tests.
    pub fn random(mut self, random: impl RandomSource + 'static) -> Self {
        self.engine.random = Arc::new(random);
        self
    }

    /// Replaces the clock.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the wallet.
    pub fn build(self) -> Result<Wallet> {
        if let Some(e) = self.trust_anchor_error {
            return Err(Error::Config(format!("trust anchor: {e}")));
        }
        let http = match self.http {
            Some(h) => h,
            #[cfg(feature = "builtin-http")]
            None => Arc::new(
                ReqwestClient::new(self.reqwest).map_err(|e| Error::Config(e.to_string()))?,
            ),
            #[cfg(not(feature = "builtin-http"))]
            None => {
                return Err(Error::Config(
                    "this build has no built-in HTTP client (feature builtin-http): give \
                     the app's own (WalletBuilder::http_client; Wallet.withHttpClient in \
                     Kotlin and Swift)"
                        .into(),
                ))
            }
        };
        let client_id = match (&self.attestation, self.client_id) {
            (Some(a), Some(id)) if id != a.client_id() => {
                return Err(Error::Config(format!(
                    "client_id {id:?} differs from the wallet attestation's sub {:?}",
                    a.client_id()
                )))
            }
            (Some(a), _) => Some(a.client_id().to_string()),
            (None, id) => id,
        };
        Ok(Wallet::assemble(Parts {
            client_id,
            engine: self.engine,
            http,
            clock: self.clock,
            attestation: self.attestation,
            key_attestations: self.key_attestations,
            cache: self.cache,
        }))
    }
}

impl Wallet {
    /// A builder with the defaults.
    pub fn builder() -> WalletBuilder {
        WalletBuilder {
            client_id: None,
            engine: EngineConfig::default(),
            http: None,
            reqwest: ReqwestConfig::default(),
            trust_anchor_error: None,
            clock: Arc::new(SystemClock),
            attestation: None,
            key_attestations: None,
            cache: Some(Arc::new(InMemoryMetadataCache::default())),
        }
    }
}
