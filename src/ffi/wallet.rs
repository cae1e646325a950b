//! The [`Wallet`] and its settings ([`WalletConfig`]): the constructors for
//! either HTTP client, with or without wallet attestation, the calls that
//! start an issuance, and [`Wallet::receive`], an offer's credentials in one
//! call (batches of fresh keys from a [`KeySource`], the user through the
//! app's [`Interaction`], progress to a [`ProgressObserver`]).

use super::cancel::{cancellable, Cancellation};
use super::http;
use super::keys::ForeignKeySource;
use super::progress::ForeignProgress;
use super::session::convert_credentials;
use super::signer::ForeignSigner;
use super::{
    AuthorizedSession, Credential, HttpClient, KeySource, PendingAuthorization, ProgressObserver,
    ResolvedOffer, Signer, TxCodeInfo, TxCodeInputMode, WalletError,
};
use crate::jose::Signer as CoreSigner;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Wallet settings.
#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletConfig {
    /// OAuth client id (optional; anonymous pre-authorized access without it).
    /// With wallet attestation (`Wallet.withAttestation`) leave it null: the
    /// attestation's `sub` is the client id (a different one here is a
    /// `WalletError::Configuration`).
    #[uniffi(default = None)]
    pub client_id: Option<String>,
    /// Preferred locales, best first (e.g. `["de-DE", "en"]`).
    #[uniffi(default = [])]
    pub locales: Vec<String>,
    /// Allow http to loopback hosts. Tests only.
    #[uniffi(default = false)]
    pub dangerous_allow_http: bool,
    /// Verify issuer signatures on SD-JWT credentials.
    #[uniffi(default = true)]
    pub verify_credential_signatures: bool,
    /// Whole-request timeout in milliseconds (0: the default, 30 s).
    #[uniffi(default = 0)]
    pub request_timeout_ms: u64,
    /// The largest response body accepted, in bytes (0: the default, 1 MiB).
    #[uniffi(default = 0)]
    pub max_response_bytes: u64,
    /// Extra root certificates to trust beside the platform's roots, each a
    /// PEM text (`-----BEGIN CERTIFICATE-----...`): a private CA, or a test
    /// server's self-signed certificate. For the built-in HTTP client only:
    /// `Wallet.withHttpClient` refuses a non-empty list (the app's own HTTP
    /// stack decides whom it trusts). An unparsable entry fails the `Wallet`
    /// constructor with `WalletError::Configuration`.
    #[uniffi(default = [])]
    pub root_certificates_pem: Vec<String>,
    /// X.509 trust anchors for credential issuers, each a PEM text (one or
    /// more `-----BEGIN CERTIFICATE-----` blocks), e.g. from a trusted list:
    /// an SD-JWT credential whose `x5c` chain is a valid path to one of them,
    /// its leaf naming the issuer, is `Verification::Verified` with method
    /// `TrustAnchor`. Kept apart from `root_certificates_pem` (TLS), and used
    /// with either HTTP client. Without anchors every `x5c` credential is
    /// unverified. An unparsable entry fails the `Wallet` constructor with
    /// `WalletError::Configuration`.
    #[uniffi(default = [])]
    pub trust_anchors_pem: Vec<String>,
    /// Refuse credentials whose issuer could not be verified: they fail
    /// with `WalletError::CredentialCheck` (which still carries them, as
    /// issued) instead of arriving with `Verification::Unverified`. Default
    /// false: the app decides what to do with an unverified credential.
    #[uniffi(default = false)]
    pub require_verified: bool,
}

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

impl WalletConfig {
    fn request_timeout(&self) -> Duration {
        match self.request_timeout_ms {
            0 => DEFAULT_REQUEST_TIMEOUT,
            ms => Duration::from_millis(ms),
        }
    }

    fn max_response_bytes(&self) -> usize {
        match self.max_response_bytes {
            0 => DEFAULT_MAX_RESPONSE_BYTES,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }

    /// The builder for either HTTP client: everything but the transport.
    fn builder(&self) -> Result<crate::WalletBuilder, WalletError> {
        let mut builder = crate::Wallet::builder()
            .locales(self.locales.clone())
            .verify_credential_signatures(self.verify_credential_signatures)
            .require_verified(self.require_verified)
            .timeouts(Duration::from_secs(10), self.request_timeout())
            .max_response_bytes(self.max_response_bytes());
        if let Some(id) = &self.client_id {
            builder = builder.client_id(id.clone());
        }
        if self.dangerous_allow_http {
            builder = builder.dangerous_allow_http();
        }
        for (i, pem) in self.trust_anchors_pem.iter().enumerate() {
            // PEM only, as for the root certificates; parsed here too, so
            // that the error names the entry.
            let pem = pem.trim_start();
            if !pem.starts_with("-----BEGIN") {
                return Err(WalletError::Configuration {
                    details: format!(
                        "trust_anchors_pem[{i}] is not PEM (-----BEGIN CERTIFICATE-----)"
                    ),
                });
            }
            crate::verify::trust::TrustAnchors::new()
                .add(pem.as_bytes())
                .map_err(|e| WalletError::Configuration {
                    details: format!("trust_anchors_pem[{i}]: {e}"),
                })?;
            builder = builder.trust_anchor(pem);
        }
        Ok(builder)
    }

    /// The builder for the built-in HTTP client: [`Self::builder`] plus the
    /// extra root certificates.
    pub(super) fn builtin_client_builder(&self) -> Result<crate::WalletBuilder, WalletError> {
        let mut builder = self.builder()?;
        for (i, pem) in self.root_certificates_pem.iter().enumerate() {
            // Only PEM here: without the armour the core would take the bytes
            // for DER and a pasted base64 body would fail less clearly.
            if !pem.trim_start().starts_with("-----BEGIN") {
                return Err(WalletError::Configuration {
                    details: format!(
                        "root_certificates_pem[{i}] is not PEM (-----BEGIN CERTIFICATE-----)"
                    ),
                });
            }
            builder = builder.add_root_certificate(pem.trim_start().as_bytes().to_vec());
        }
        Ok(builder)
    }

    /// The builder for the app's own HTTP client: [`Self::builder`] with
    /// `http_client` behind the wallet's timeout and size cap; refuses
    /// root certificates (the app's stack decides whom it trusts).
    pub(super) fn foreign_client_builder(
        &self,
        http_client: Arc<dyn HttpClient>,
    ) -> Result<crate::WalletBuilder, WalletError> {
        if !self.root_certificates_pem.is_empty() {
            return Err(WalletError::Configuration {
                details: "root_certificates_pem applies to the built-in HTTP client only; \
                          configure trust in the app's HttpClient"
                    .into(),
            });
        }
        let adapter = http::ForeignHttpClient::new(
            http_client,
            self.request_timeout(),
            self.max_response_bytes(),
        );
        Ok(self.builder()?.http_client(adapter))
    }
}

/// The wallet: configuration and transport. Create one and share it.
#[derive(uniffi::Object)]
pub struct Wallet {
    pub(super) inner: crate::Wallet,
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Builds a wallet that sends its requests with the built-in HTTP client
    /// (rustls, platform-independent certificate roots, plus the config's
    /// `root_certificates_pem`). A certificate that does not parse fails with
    /// `WalletError::Configuration`; a server whose certificate chains to no
    /// trusted root fails each request with `WalletError::Network`.
    #[uniffi::constructor]
    pub fn new(config: WalletConfig) -> Result<Arc<Self>, WalletError> {
        Ok(Arc::new(Self {
            inner: config.builtin_client_builder()?.build()?,
        }))
    }

    /// Builds a wallet that sends every request through the app's own HTTP
    /// stack. The wallet still enforces its URL policy (https only, unless
    /// `dangerous_allow_http`), the whole-request timeout and the response
    /// size cap around `http_client`. TLS trust is the app's stack's: a
    /// config with `root_certificates_pem` fails with
    /// `WalletError::Configuration`.
    #[uniffi::constructor]
    pub fn with_http_client(
        config: WalletConfig,
        http_client: Arc<dyn HttpClient>,
    ) -> Result<Arc<Self>, WalletError> {
        Ok(Arc::new(Self {
            inner: config.foreign_client_builder(http_client)?.build()?,
        }))
    }

    /// [`Self::new`] (the built-in HTTP client) with wallet attestation:
    /// OAuth attestation-based client authentication, as HAIP asks.
    ///
    /// `attestation_jwt` is the Wallet Attestation
    /// (`oauth-client-attestation+jwt`) the app's wallet provider issued for
    /// this app instance; `signer` holds the key it attests (`cnf.jwk`), the
    /// platform key in Android Keystore / the Secure Enclave. The wallet's
    /// `client_id` becomes the attestation's `sub`: leave
    /// `WalletConfig.client_id` null or set it to the same value. The
    /// attestation and a fresh proof of possession signed by `signer` go to
    /// every pushed authorization request and every token request
    /// (pre-authorized code, authorization code, refresh), with the
    /// authorization server's challenge when it asks for one (its
    /// `challenge_endpoint`, its `OAuth-Client-Attestation-Challenge`
    /// header, or one `use_attestation_challenge` answer): nothing else for
    /// the app to do. DPoP works alongside as usual.
    ///
    /// Fails with `WalletError::Configuration` when `attestation_jwt` is not
    /// a Wallet Attestation (not a compact JWS, wrong `typ`, no `sub`, no
    /// `cnf.jwk`), when its `cnf.jwk` is not `signer`'s public key, or when
    /// `WalletConfig.client_id` differs from its `sub`; with
    /// `WalletError::Signing` when `signer`'s algorithm or public JWK is
    /// unusable. The wallet does not verify the provider's signature (the
    /// authorization server does).
    ///
    /// An attestation expires: a PAR or token request after its `exp` fails
    /// with `WalletError::Configuration` without being sent, and one the
    /// server finds stale fails with `WalletError::Server` whose `code` is
    /// `use_fresh_attestation`. Either way, fetch a fresh attestation from
    /// the wallet provider and build a new `Wallet` with it (saved sessions
    /// and pending authorizations stay usable with the new one).
    #[uniffi::constructor]
    pub fn with_attestation(
        config: WalletConfig,
        attestation_jwt: String,
        signer: Arc<dyn Signer>,
    ) -> Result<Arc<Self>, WalletError> {
        let attestation = client_attestation(attestation_jwt, signer)?;
        Ok(Arc::new(Self {
            inner: config
                .builtin_client_builder()?
                .client_attestation(attestation)
                .build()?,
        }))
    }

    /// [`Self::with_http_client`] (the app's own HTTP stack) with wallet
    /// attestation: as [`Self::with_attestation`], and fails as both do.
    #[uniffi::constructor]
    pub fn with_http_client_and_attestation(
        config: WalletConfig,
        http_client: Arc<dyn HttpClient>,
        attestation_jwt: String,
        signer: Arc<dyn Signer>,
    ) -> Result<Arc<Self>, WalletError> {
        let attestation = client_attestation(attestation_jwt, signer)?;
        Ok(Arc::new(Self {
            inner: config
                .foreign_client_builder(http_client)?
                .client_attestation(attestation)
                .build()?,
        }))
    }

    /// The OAuth `client_id` the wallet uses: `WalletConfig.client_id`, or
    /// the Wallet Attestation's `sub` with [`Self::with_attestation`]; null
    /// for an anonymous wallet.
    pub fn client_id(&self) -> Option<String> {
        self.inner.client_id().map(str::to_string)
    }

    /// Parses the offer URL, fetches the offer if by reference, and discovers
    /// the issuer.
    #[uniffi::method(default(cancel = None))]
    pub async fn resolve_offer(
        &self,
        offer_url: String,
        cancel: Option<Arc<Cancellation>>,
    ) -> Result<Arc<ResolvedOffer>, WalletError> {
        let resolved = cancellable(cancel, async {
            Ok(self.inner.resolve_offer(&offer_url).await?)
        })
        .await?;
        Ok(ResolvedOffer::wrap(resolved, self.inner.locales().to_vec()))
    }

    /// Wallet-initiated issuance (no offer): discovers the issuer and its
    /// authorization server and begins the authorization code flow for the
    /// given configurations. Needs `client_id` in the config.
    pub async fn start_issuance(
        &self,
        issuer_id: String,
        configuration_ids: Vec<String>,
        redirect_uri: String,
    ) -> Result<Arc<PendingAuthorization>, WalletError> {
        require_client_id(&self.inner)?;
        let ids: Vec<&str> = configuration_ids.iter().map(String::as_str).collect();
        let step = self.inner.start_issuance(&issuer_id, &ids).await?;
        let pending = step.authorization_url(&self.inner, &redirect_uri).await?;
        Ok(PendingAuthorization::wrap(
            pending,
            self.inner.locales().to_vec(),
        ))
    }

    /// Receives an offer's credentials in one call: resolves the offer,
    /// asks `interaction` for the transaction code (or takes the user
    /// through the browser, for the authorization code grant), requests
    /// every offered configuration this wallet can finish (or those in
    /// `options`), and waits for deferred ones up to
    /// `options.deferred_deadline_ms`.
    ///
    /// Each key-bound configuration gets as many credentials as the
    /// issuer's `batch_size` allows, up to `options.max_batch_size`
    /// (default 3; 1 disables batching), in one request: `keys` makes a new
    /// key per credential, and each credential is checked to be bound to
    /// its own (its `holder_jwk`). `progress` hears each stage
    /// ([`ReceiveStage`](super::ReceiveStage)). Without an `interaction`, an
    /// offer that needs a transaction code fails with
    /// `WalletError::TxCodeRequired` and one with only the authorization
    /// code grant with `WalletError::Configuration`, before anything is
    /// spent. A rejected transaction code is `WalletError::TxCodeRejected`
    /// (the code is spent: ask for a new offer); an error the
    /// `interaction` or `keys` throws comes back as thrown. The result's
    /// `session` is for notifications (`credential_accepted` once stored).
    #[uniffi::method(default(interaction = None, progress = None, cancel = None))]
    pub async fn receive(
        &self,
        offer_url: String,
        keys: Arc<dyn KeySource>,
        options: ReceiveOptions,
        interaction: Option<Arc<dyn Interaction>>,
        progress: Option<Arc<dyn ProgressObserver>>,
        cancel: Option<Arc<Cancellation>>,
    ) -> Result<ReceiveResult, WalletError> {
        let interaction = ForeignInteraction {
            inner: interaction,
            thrown: Mutex::new(None),
        };
        let core_options = crate::ReceiveOptions {
            credential_configuration_ids: options.configuration_ids,
            deferred_deadline: Duration::from_millis(options.deferred_deadline_ms),
            max_batch_size: usize::try_from(options.max_batch_size).unwrap_or(usize::MAX),
            progress: progress
                .map(|p| Arc::new(ForeignProgress(p)) as Arc<dyn crate::ProgressObserver>),
        };
        let received = cancellable(cancel, async {
            self.inner
                .receive_batch(
                    &offer_url,
                    &interaction,
                    &ForeignKeySource(keys),
                    &core_options,
                )
                .await
                .map_err(|e| interaction.error(e))
        })
        .await?;
        let locales = self.inner.locales().to_vec();
        let credentials = convert_credentials(
            received.credentials,
            received.authorized.context(),
            &locales,
        );
        Ok(ReceiveResult {
            session: AuthorizedSession::wrap(received.authorized, locales),
            credentials,
            not_requested: received
                .not_requested
                .into_iter()
                .map(|(configuration_id, reason)| NotRequested {
                    configuration_id,
                    reason,
                })
                .collect(),
        })
    }
}

/// Options of [`Wallet::receive`].
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReceiveOptions {
    /// Only these offered configurations (default: every one this wallet
    /// can finish).
    #[uniffi(default = None)]
    pub configuration_ids: Option<Vec<String>>,
    /// The most credentials per configuration, each bound to its own key
    /// (the issuer's `batch_size` caps it further; 1: no batch).
    #[uniffi(default = 3)]
    pub max_batch_size: u32,
    /// How long to wait for deferred credentials, in milliseconds.
    #[uniffi(default = 300000)]
    pub deferred_deadline_ms: u64,
}

/// An offered configuration [`Wallet::receive`] did not request, because
/// this wallet cannot finish it (found before anything was spent).
#[derive(Debug, Clone, uniffi::Record)]
pub struct NotRequested {
    /// The configuration id.
    pub configuration_id: String,
    /// Why not.
    pub reason: String,
}

/// What [`Wallet::receive`] got.
#[derive(uniffi::Record)]
pub struct ReceiveResult {
    /// The session (for notifications; save it like any other).
    pub session: Arc<AuthorizedSession>,
    /// The credentials, in request order (a batch's one after the other).
    pub credentials: Vec<Credential>,
    /// Offered configurations left out, with the reason.
    pub not_requested: Vec<NotRequested>,
}

/// What the app does for the user during [`Wallet::receive`]. Called on a
/// background thread: each call may block until the user is done.
#[uniffi::export(with_foreign)]
pub trait Interaction: Send + Sync {
    /// The transaction code the user enters (the PIN screen) for `info`.
    /// Throw (e.g. `WalletError::Cancelled`) when the user gives up.
    fn tx_code(&self, info: TxCodeInfo) -> Result<String, WalletError>;
    /// The redirect URI registered for the authorization code flow (an
    /// app link or private-use scheme), or null: then an offer with only
    /// that grant fails with `WalletError::Configuration`.
    fn redirect_uri(&self) -> Option<String>;
    /// Takes the user through `authorization_url` (Custom Tabs,
    /// `ASWebAuthenticationSession`) and returns the full URL the browser
    /// was redirected to.
    fn authorize(&self, authorization_url: String) -> Result<String, WalletError>;
}

/// Adapts the app's interaction (if any) to the core trait, on blocking
/// threads, keeping what the app threw.
struct ForeignInteraction {
    inner: Option<Arc<dyn Interaction>>,
    thrown: Mutex<Option<WalletError>>,
}

impl ForeignInteraction {
    /// Runs `call` on a blocking thread; an error the app threw is kept
    /// (and returned by [`Self::error`]), and becomes `core` here.
    async fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(Arc<dyn Interaction>) -> Result<T, WalletError> + Send + 'static,
        missing: crate::Error,
        core: impl FnOnce(String) -> crate::Error,
    ) -> crate::Result<T> {
        let Some(inner) = self.inner.clone() else {
            return Err(missing);
        };
        match tokio::task::spawn_blocking(move || call(inner)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(thrown)) => {
                let message = thrown.to_string();
                *self.thrown.lock().unwrap_or_else(|p| p.into_inner()) = Some(thrown);
                Err(core(message))
            }
            Err(e) => Err(core(format!("the interaction did not return: {e}"))),
        }
    }

    /// The error [`Wallet::receive`] throws for `error`: the app's own when
    /// the interaction threw, else as usual (a code the issuer refused is
    /// `TxCodeRejected`: the core decides).
    fn error(&self, error: crate::Error) -> WalletError {
        if let Some(thrown) = self.thrown.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return thrown;
        }
        error.into()
    }
}

impl crate::Interaction for ForeignInteraction {
    fn tx_code<'a>(
        &'a self,
        spec: &'a crate::types::TxCodeSpec,
    ) -> crate::BoxFuture<'a, crate::Result<crate::types::TxCode>> {
        let info = TxCodeInfo {
            input_mode: match spec.mode() {
                crate::types::InputMode::Numeric => TxCodeInputMode::Numeric,
                crate::types::InputMode::Text => TxCodeInputMode::Text,
            },
            length: spec.length,
            description: spec.description.clone(),
        };
        Box::pin(async move {
            let code = self
                .call(
                    move |app| app.tx_code(info),
                    crate::Error::tx_code(
                        crate::TxCodeErrorKind::Missing,
                        "the offer needs a transaction code: pass an Interaction to receive",
                    ),
                    |problem| crate::Error::tx_code(crate::TxCodeErrorKind::Missing, problem),
                )
                .await?;
            Ok(crate::types::TxCode::new(code))
        })
    }

    fn redirect_uri(&self) -> Option<String> {
        self.inner.as_ref()?.redirect_uri()
    }

    fn authorize<'a>(
        &'a self,
        authorization_url: &'a str,
    ) -> crate::BoxFuture<'a, crate::Result<String>> {
        let url = authorization_url.to_string();
        Box::pin(async move {
            self.call(
                move |app| app.authorize(url),
                crate::Error::Config(
                    "the offer needs the browser: pass an Interaction to receive".into(),
                ),
                crate::Error::Config,
            )
            .await
        })
    }
}

/// A Wallet Attestation for the core, its key adapted from the app's signer.
pub(super) fn client_attestation(
    attestation_jwt: String,
    signer: Arc<dyn Signer>,
) -> Result<crate::jose::ClientAttestation, WalletError> {
    let signer: Arc<dyn CoreSigner> = Arc::new(ForeignSigner::new(signer)?);
    Ok(crate::jose::ClientAttestation::new(
        attestation_jwt,
        signer,
    )?)
}

pub(super) fn require_client_id(wallet: &crate::Wallet) -> Result<(), WalletError> {
    match wallet.client_id() {
        Some(_) => Ok(()),
        None => Err(WalletError::Configuration {
            details: "the authorization code flow needs a client_id in WalletConfig".into(),
        }),
    }
}
