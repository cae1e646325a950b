//! A reference OpenID4VCI 1.0 credential issuer and authorization server.
//!
//! It serves real HTTP (axum) on a loopback port and issues real `dc+sd-jwt`,
//! `jwt_vc_json` and ISO/IEC 18013-5 `mso_mdoc` credentials, so wallets
//! (ours, and other teams' test suites) can run every flow against it. It does not depend on the wallet
//! SDK. It can misbehave on purpose ([`Fault`]) so tests can check how a
//! wallet copes.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use oid4vci_issuer::{Issuer, OfferRequest};
//! let issuer = Issuer::builder().path("/pid").spawn("127.0.0.1:0").await?;
//! let offer = issuer.create_offer(OfferRequest {
//!     tx_code: Some(true),
//!     ..Default::default()
//! });
//! println!("{} (PIN {:?})", offer.offer_url, offer.tx_code);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod attestation;
mod authorize;
mod canned;
mod credential;
mod did;
mod dpop;
mod encryption;
mod es256;
mod mdoc;
mod metadata;
mod offer_page;
mod routes;
mod state;
mod tls;
mod trust;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub use attestation::{
    KeyAttestationFault, KeyAttestationOptions, KeyAttestations, WalletAttestation,
};
pub use canned::{Canned, CannedBody, Endpoint};
pub use did::CredentialKey;
pub use encryption::Encryption;
pub use state::{Fault, SpecVersion};
use state::{Settings, Shared};
pub use trust::CredentialSigning;

/// Entry point: `Issuer::builder()`.
pub struct Issuer;

impl Issuer {
    /// A builder with the defaults described on each method.
    pub fn builder() -> IssuerBuilder {
        IssuerBuilder {
            settings: Settings::default(),
            tls: false,
        }
    }
}

/// Configures an issuer before it starts.
#[derive(Debug, Clone)]
pub struct IssuerBuilder {
    settings: Settings,
    tls: bool,
}

impl IssuerBuilder {
    /// A path under the host for the issuer identifier (e.g. `/tenant`), to
    /// exercise path-aware well-known URLs. Default: none.
    pub fn path(mut self, path: &str) -> Self {
        let trimmed = path.trim_end_matches('/');
        self.settings.path = if trimmed.is_empty() || trimmed.starts_with('/') {
            trimmed.to_string()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// How many times the deferred endpoint answers "pending" before it
    /// issues. Default 2.
    pub fn deferred_pending_polls(mut self, n: u32) -> Self {
        self.settings.deferred_pending_polls = n;
        self
    }

    /// The `interval` (seconds) sent with deferred answers. Default 1.
    pub fn deferred_interval(mut self, secs: u64) -> Self {
        self.settings.deferred_interval = secs;
        self
    }

    /// Whether a nonce endpoint is advertised. `false` behaves like a
    /// draft-13 issuer: `c_nonce` comes in the token and credential responses.
    /// Default true.
    pub fn nonce_endpoint(mut self, on: bool) -> Self {
        self.settings.nonce_endpoint = on;
        self
    }

    /// Whether the token response carries `authorization_details` with
    /// `credential_identifiers` when the wallet asked with
    /// `authorization_details` (authorization request, or the pre-authorized
    /// token request). Default true.
    pub fn credential_identifiers(mut self, on: bool) -> Self {
        self.settings.credential_identifiers = on;
        self
    }

    /// `batch_credential_issuance.batch_size`; `None` advertises no batch
    /// issuance (one proof per request). Default `Some(3)`.
    pub fn batch_size(mut self, size: Option<u32>) -> Self {
        self.settings.batch_size = size;
        self
    }

    /// Wrong tx_code attempts allowed before the pre-authorized code is
    /// revoked. Default 3.
    pub fn require_tx_code_attempts(mut self, n: u32) -> Self {
        self.settings.tx_code_attempts = n;
        self
    }

    /// Adds a user to the login page (the default users are `erika` /
    /// `erika-password` and `max` / `max-password`). Their claims replace the
    /// configuration's default values in credentials issued after their login.
    pub fn user(
        mut self,
        name: &str,
        password: &str,
        claims: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.settings.users.push(state::User {
            name: name.to_string(),
            password: password.to_string(),
            claims,
        });
        self
    }

    /// Whether the authorization server offers PAR (RFC 9126) at all. With
    /// `false` the metadata has no `pushed_authorization_request_endpoint`.
    /// Default true.
    pub fn pushed_authorization(mut self, on: bool) -> Self {
        self.settings.offer_par = on;
        self
    }

    /// Requires pushed authorization requests (RFC 9126): the authorization
    /// endpoint then accepts only a `request_uri`. Default false (PAR is
    /// offered but optional).
    pub fn require_par(mut self, on: bool) -> Self {
        self.settings.require_par = on;
        self
    }

    /// Runs the authorization server on its own base URL (a second port),
    /// named in the issuer metadata's `authorization_servers`. Default false.
    pub fn separate_authorization_server(mut self, on: bool) -> Self {
        self.settings.separate_authorization_server = on;
        self
    }

    /// Delays every response by `latency` (default none), as a phone's
    /// network would, so benches and tests can see round trips.
    pub fn latency(mut self, latency: std::time::Duration) -> Self {
        self.settings.latency = latency;
        self
    }

    /// How long access tokens live. Default one hour.
    pub fn access_token_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.settings.access_token_lifetime = lifetime;
        self
    }

    /// Makes an endpoint answer with a canned response (the first matching
    /// one whose `times` are not used up).
    pub fn respond(mut self, canned: Canned) -> Self {
        self.settings.canned.push(canned);
        self
    }

    /// Speaks draft 13 end to end: metadata only at the appended well-known
    /// URL, `vc+sd-jwt` configurations with `display` and nested `claims`
    /// maps, no nonce endpoint (`c_nonce` in token, credential and error
    /// responses), credential requests by `format` and `vct` with a `proof`,
    /// a single `credential` in responses, and `issuance_pending` while a
    /// deferred credential is not ready. `false` goes back to 1.0 if the
    /// issuer spoke draft 13. Default false.
    pub fn draft13(mut self, on: bool) -> Self {
        if on {
            self.settings.spec = SpecVersion::Draft13;
            self.settings.nonce_endpoint = false;
            self.settings.batch_size = None;
        } else if self.settings.spec == SpecVersion::Draft13 {
            self.settings.spec = SpecVersion::V1;
        }
        self
    }

    /// Speaks draft 11 end to end (the shapes deployed draft-11/12 issuers
    /// still use):
    ///
    /// - metadata only at the appended well-known URL, with
    ///   `credentials_supported` as an array of objects (`format`, `id`,
    ///   `scope`, `cryptographic_binding_methods_supported`,
    ///   `cryptographic_suites_supported`, `proof_types_supported: ["jwt"]`,
    ///   `display`, and `vct` plus a nested `claims` map for `vc+sd-jwt`,
    ///   `types` plus `credentialSubject` for `jwt_vc_json`, `doctype` plus
    ///   `claims` for `mso_mdoc`), `authorization_server` (singular, with a
    ///   separate AS), and no nonce, notification or batch parameters;
    /// - offers with `credentials` (the `id`s; objects by format and type
    ///   with [`OfferRequest::legacy_offer`]) and `user_pin_required`;
    /// - the PIN in the token request as `user_pin` (`tx_code` is refused),
    ///   `c_nonce` and `c_nonce_expires_in` in the token response, and no
    ///   `authorization_details` (`credential_identifiers`) in it;
    /// - credential requests by `format` with `types` (or draft 12's
    ///   `credential_definition.type`), `vct` or `doctype` and a single
    ///   `proof`; 1.0 requests (`credential_identifier`,
    ///   `credential_configuration_id`, `proofs`) are refused with
    ///   `invalid_credential_request`; proof errors are
    ///   `invalid_or_missing_proof` with a fresh `c_nonce`;
    /// - answers `{"format", "credential", "c_nonce", "c_nonce_expires_in"}`,
    ///   SD-JWTs with header `typ` `vc+sd-jwt`;
    /// - deferred issuance by `acceptance_token`: the credential endpoint
    ///   answers `{"acceptance_token", "c_nonce", ...}`, the deferred
    ///   endpoint takes it as the Bearer token, answers `issuance_pending`
    ///   (with `interval`) while not ready, then `{"format", "credential"}`;
    /// - authorization requests by `scope`, or `authorization_details` by
    ///   `format` and type (not `credential_configuration_id`).
    ///
    /// Encryption is off. `false` goes back to 1.0 if the issuer spoke draft
    /// 11. Default false.
    pub fn draft11(mut self, on: bool) -> Self {
        if on {
            self.settings.spec = SpecVersion::Draft11;
            self.settings.nonce_endpoint = false;
            self.settings.batch_size = None;
        } else if self.settings.spec == SpecVersion::Draft11 {
            self.settings.spec = SpecVersion::V1;
        }
        self
    }

    /// The version spoken: [`SpecVersion::V1`] (default),
    /// [`SpecVersion::Draft13`] (as [`IssuerBuilder::draft13`]) or
    /// [`SpecVersion::Draft11`] (as [`IssuerBuilder::draft11`]).
    pub fn spec_version(self, version: SpecVersion) -> Self {
        match version {
            SpecVersion::Draft13 => self.draft13(true),
            SpecVersion::Draft11 => self.draft11(true),
            _ => self.draft13(false).draft11(false),
        }
    }

    /// Serves https with a fresh self-signed certificate for 127.0.0.1 and
    /// localhost ([`RunningIssuer::certificate_pem`] gives it to the wallet
    /// to trust). The issuer identifier is then `https://127.0.0.1:PORT`.
    /// Default false (http).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Requires DPoP (RFC 9449, ES256 only): the AS metadata advertises
    /// `dpop_signing_alg_values_supported`, the token endpoint (every grant)
    /// wants a `DPoP` proof and answers `token_type` `DPoP` with tokens bound
    /// to the proof's key, authorization codes are bound by a DPoP proof at
    /// PAR or by `dpop_jkt`, and the credential, deferred and notification
    /// endpoints want `Authorization: DPoP <token>` plus a proof with `ath`
    /// by the same key. Off, a `DPoP` header is ignored. Default false.
    pub fn require_dpop(mut self, on: bool) -> Self {
        self.settings.require_dpop = on;
        self
    }

    /// With [`IssuerBuilder::require_dpop`]: DPoP proofs must carry a server
    /// nonce (`use_dpop_nonce` answers otherwise). The authorization server
    /// and the credential issuer mint their own nonces (neither accepts the
    /// other's), send a fresh one in a `DPoP-Nonce` header with every answer
    /// of the token, PAR, credential, deferred, notification and nonce
    /// endpoints, and accept any of theirs up to five minutes old. Default
    /// false.
    pub fn dpop_nonce(mut self, on: bool) -> Self {
        self.settings.dpop_nonce = on;
        self
    }

    /// OID4VCI 1.0 credential request and response encryption (JWE:
    /// `ECDH-ES` on P-256, `A128GCM` or `A256GCM`, no `zip`). When not
    /// [`Encryption::Off`] the issuer metadata advertises
    /// `credential_response_encryption` and `credential_request_encryption`
    /// (with the issuer's own P-256 encryption key, made at start), the
    /// credential and deferred endpoints decrypt `application/jwt` bodies and
    /// encrypt successful answers to the `credential_response_encryption.jwk`
    /// of the request. [`Encryption::Required`] refuses plain requests and
    /// requests without `credential_response_encryption`. Ignored by a
    /// draft-13 or draft-11 issuer. Default [`Encryption::Off`].
    pub fn encryption(mut self, encryption: Encryption) -> Self {
        self.settings.encryption = encryption;
        self
    }

    /// OAuth 2.0 Attestation-Based Client Authentication
    /// (draft-ietf-oauth-attestation-based-client-auth, as profiled by HAIP).
    /// When not [`WalletAttestation::Off`] the AS metadata adds
    /// `attest_jwt_client_auth` to `token_endpoint_auth_methods_supported`,
    /// and every PAR and token request (all grants) must carry
    /// `OAuth-Client-Attestation` (a wallet attestation signed by the
    /// issuer's trusted wallet provider, see
    /// [`RunningIssuer::issue_wallet_attestation`]) and
    /// `OAuth-Client-Attestation-PoP` (signed by the attestation's
    /// `cnf.jwk`, `aud` the AS issuer identifier); a `client_id` parameter
    /// must be the attestation's `sub`. [`WalletAttestation::RequiredWithChallenge`]
    /// also advertises `challenge_endpoint` and wants a single-use
    /// `challenge` of this server in the PoP. Default
    /// [`WalletAttestation::Off`] (the headers are ignored).
    pub fn wallet_attestation(mut self, mode: WalletAttestation) -> Self {
        self.settings.wallet_attestation = mode;
        self
    }

    /// How credentials name their signing key: a JOSE `kid` of the key at
    /// `/.well-known/jwt-vc-issuer` ([`CredentialSigning::Kid`]), an
    /// `x5c` chain (leaf, intermediate) to the issuer's test root CA
    /// ([`CredentialSigning::X5cChain`]; the root is
    /// [`RunningIssuer::trust_anchor_pem`] and `GET /test/trust`), or a DID
    /// as `iss` and a DID URL as `kid` ([`CredentialSigning::DidJwk`],
    /// [`CredentialSigning::DidKey`], [`CredentialSigning::DidWeb`]; see
    /// [`RunningIssuer::credential_issuer_did`] and
    /// [`IssuerBuilder::credential_key`]). The test PKI is made at start in
    /// every mode. Default [`CredentialSigning::Kid`]. `mso_mdoc`
    /// credentials ignore the mode: they always carry their document signer
    /// certificate (issued by the root CA) in `x5chain`.
    pub fn credential_signing(mut self, signing: CredentialSigning) -> Self {
        self.settings.credential_signing = signing;
        self
    }

    /// The type of the credential signing key in the `Did*` signing modes:
    /// [`CredentialKey::P256`] (`ES256`, the issuer's key, as at
    /// `/.well-known/jwt-vc-issuer`) or [`CredentialKey::Ed25519`] (`EdDSA`,
    /// a fresh key per issuer instance). Ignored by the `Kid` and `X5cChain`
    /// modes, which always sign with P-256. Default [`CredentialKey::P256`].
    pub fn credential_key(mut self, key: CredentialKey) -> Self {
        self.settings.credential_key = key;
        self
    }

    /// Key attestations (OID4VCI 1.0 appendix D) for key-bound credentials.
    /// When not [`KeyAttestations::Off`] every key-bound configuration lists
    /// `key_attestations_required` (`key_storage` and `user_authentication`
    /// at `iso_18045_high`, as the EU PID issuer does) on its `jwt` proof
    /// type and an `attestation` proof type with the same requirement:
    ///
    /// - `jwt` proofs must carry a `key_attestation` header: a
    ///   `key-attestation+jwt` of the issuer's trusted wallet provider (see
    ///   [`RunningIssuer::issue_key_attestation`]), not expired, at those
    ///   levels, whose `attested_keys` hold the proof's key, and whose
    ///   `nonce`, when it has one, is the proof's; with
    ///   [`KeyAttestations::RequiredWithNonce`] it must have one.
    /// - `"proofs": {"attestation": [<key attestation>]}` (one element)
    ///   gets one credential per attested key (1 to `batch_size` of them),
    ///   bound to it; the attestation must carry a valid `c_nonce` of this
    ///   issuer (unexpired, unused; it is used up).
    ///
    /// Anything else is `invalid_proof`. Off, the `attestation` proof type is
    /// refused (`invalid_proof`) and `key_attestation` headers are ignored.
    /// Default [`KeyAttestations::Off`].
    pub fn key_attestations(mut self, mode: KeyAttestations) -> Self {
        self.settings.key_attestations = mode;
        self
    }

    /// Serves signed metadata (OID4VCI 1.0 12.2.3): an
    /// `openidvci-issuer-metadata+jwt` signed with the `x5c` chain to the
    /// test root, answered when the request's `Accept` prefers
    /// `application/jwt` (JSON otherwise); in draft-13 (and draft-11) mode
    /// the JSON's `signed_metadata` parameter.
    pub fn signed_metadata(mut self, on: bool) -> Self {
        self.settings.signed_metadata = on;
        self
    }

    /// Lets wallets cache the discovery documents (issuer and authorization
    /// server metadata, `jwt-vc-issuer`, did:web document) for `seconds`:
    /// `Cache-Control: max-age=N`, an `ETag`, and 304 to a matching
    /// `If-None-Match` (counted in the stats as `not_modified`). Default:
    /// `no-store`, like every other answer.
    pub fn cache_max_age(self, seconds: u64) -> Self {
        self.cache_control(&format!("max-age={seconds}"))
    }

    /// [`Self::cache_max_age`] with any `Cache-Control` value (`no-cache`,
    /// `no-store`...), still with an `ETag`.
    pub fn cache_control(mut self, value: &str) -> Self {
        self.settings.cache_control = Some(value.to_string());
        self
    }

    /// With key attestations on: list only the `attestation` proof type
    /// (no `jwt`), so a wallet must send the key attestation as the proof.
    pub fn attestation_proof_only(mut self, on: bool) -> Self {
        self.settings.attestation_proof_only = on;
        self
    }

    /// `true`: [`KeyAttestations::Required`]; `false`:
    /// [`KeyAttestations::Off`] (see [`IssuerBuilder::key_attestations`]).
    pub fn key_attestations_required(self, on: bool) -> Self {
        self.key_attestations(if on {
            KeyAttestations::Required
        } else {
            KeyAttestations::Off
        })
    }

    /// Adds a deliberate misbehaviour.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.settings.faults.insert(fault);
        self
    }

    /// Binds `addr` (e.g. `127.0.0.1:0`) and serves in a background task of
    /// the current tokio runtime until the returned handle is dropped.
    pub async fn spawn(self, addr: &str) -> std::io::Result<RunningIssuer> {
        let addr = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")
        })?;
        let listener = bind(addr)?;
        let local = listener.local_addr()?;
        let tls = if self.tls {
            Some(tls::Tls::generate()?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{local}");
        let as_listener = if self.settings.separate_authorization_server {
            Some(bind(SocketAddr::new(local.ip(), 0))?)
        } else {
            None
        };
        let as_base_url = match &as_listener {
            Some(l) => Some(format!("{scheme}://{}", l.local_addr()?)),
            None => None,
        };
        let shared = Arc::new(Shared::new(self.settings, base_url, as_base_url));
        if shared.encryption() != Encryption::Off && shared.encryption_key.is_none() {
            return Err(std::io::Error::other(
                "cannot make the issuer's encryption key (OpenSSL)",
            ));
        }
        let trust_anchor_pem = match shared.pki() {
            Ok(pki) => pki.root_pem().to_string(),
            Err(e) => {
                return Err(std::io::Error::other(format!(
                    "cannot make the issuer's test PKI: {e}"
                )))
            }
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut servers = vec![(
            listener,
            routes::router(shared.clone(), as_listener.is_none()),
        )];
        if let Some(l) = as_listener {
            servers.push((l, routes::authorization_server_router(shared.clone())));
        }
        for (listener, app) in servers {
            let mut stopped = stopped.clone();
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            match &tls {
                Some(t) => {
                    let listener = tls::TlsListener {
                        inner: listener,
                        acceptor: t.acceptor.clone(),
                    };
                    tokio::spawn(async move {
                        let _ = axum::serve(listener, app)
                            .with_graceful_shutdown(shutdown)
                            .await;
                    });
                }
                None => {
                    tokio::spawn(async move {
                        let _ = axum::serve(listener, app)
                            .with_graceful_shutdown(shutdown)
                            .await;
                    });
                }
            }
        }
        Ok(RunningIssuer {
            shared,
            addr: local,
            certificate_pem: tls.map(|t| t.certificate_pem),
            trust_anchor_pem,
            _stop: stop,
        })
    }
}

/// Listens on `addr` with a deep accept queue: a test suite that opens a
/// thousand connections at once (tests/concurrency.rs) overflows tokio's
/// default backlog of 1024 on a busy machine, and the kernel then drops and
/// resets connections.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// What the issuer's business system asks for: `POST /test/offers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OfferRequest {
    /// Configurations to offer (`pid_sd_jwt`, `membership_sd_jwt`,
    /// `pid_jwt_vc`, and the `mso_mdoc` ones `pid_mdoc` and `mdl_mdoc`);
    /// default `["pid_sd_jwt"]`.
    #[serde(default)]
    pub credential_configuration_ids: Option<Vec<String>>,
    /// Require a 6-digit transaction code. Default false.
    #[serde(default)]
    pub tx_code: Option<bool>,
    /// Offer by reference (`credential_offer_uri`). Default false.
    #[serde(default)]
    pub by_reference: Option<bool>,
    /// Issue through the deferred endpoint. Default false.
    #[serde(default)]
    pub deferred: Option<bool>,
    /// Claim values that replace the defaults in every credential of this
    /// offer (only claims the configuration has). In mdocs they replace data
    /// elements by identifier: strings, booleans, numbers, arrays and
    /// objects become CBOR text, booleans, numbers, arrays and maps; a
    /// string for a date element stays a tagged date, and one for a byte
    /// string element (`portrait`) is read as base64url.
    #[serde(default)]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// Offer the authorization code grant (with an `issuer_state`) instead of
    /// the pre-authorized code. Default false.
    #[serde(default)]
    pub authorization_code: Option<bool>,
    /// A draft 11/12 offer: `credentials` objects (format and `vct`,
    /// `doctype`, or `credential_definition.type`; in draft-11 mode `types`)
    /// instead of `credential_configuration_ids`, and `user_pin_required`
    /// instead of a `tx_code` object. A draft-11 issuer
    /// ([`IssuerBuilder::draft11`]) always sends `credentials` and
    /// `user_pin_required`: the configuration ids, or with this the objects.
    /// Default false.
    #[serde(default)]
    pub legacy_offer: Option<bool>,
}

/// The offer to hand to the wallet, and the PIN sent out of band.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedOffer {
    /// `openid-credential-offer://?...`
    pub offer_url: String,
    /// The transaction code, when one was requested.
    pub tx_code: Option<String>,
    /// `http://HOST:PORT/test/offer-page/{id}`: an HTML page as issuers'
    /// portals show, with `offer_url` as a QR code (an inline PNG,
    /// `<img id="offer-qr">`, for a wallet on another device), as a link
    /// (`<a id="offer-link">`, for a wallet on the same device), and the
    /// transaction code hint when the offer needs one
    /// (`<p id="tx-code-hint">`; never the code). Showing the page does not
    /// use up an offer by reference.
    pub offer_page_url: String,
}

/// A started issuer. Dropping it stops the server.
pub struct RunningIssuer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    certificate_pem: Option<String>,
    trust_anchor_pem: String,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl RunningIssuer {
    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The self-signed TLS certificate (PEM) when serving https.
    pub fn certificate_pem(&self) -> Option<String> {
        self.certificate_pem.clone()
    }

    /// The issuer's test root CA certificate (PEM, P-256, self-signed), the
    /// trust anchor of the `x5c` chains of [`CredentialSigning::X5cChain`]
    /// credentials and of the document signer certificate of `mso_mdoc`
    /// credentials; `GET /test/trust` serves it too.
    pub fn trust_anchor_pem(&self) -> String {
        self.trust_anchor_pem.clone()
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The authorization server's identifier (the issuer's, unless it runs
    /// separately).
    pub fn authorization_server(&self) -> String {
        self.shared.as_id()
    }

    /// The credential issuer identifier (base URL plus path).
    pub fn issuer_id(&self) -> String {
        self.shared.issuer_id()
    }

    /// The issuer's DID, the `iss` of its credentials, in the `Did*`
    /// signing modes (`did:jwk:...`, `did:key:z...`, or
    /// `did:web:127.0.0.1%3A<port>[:<path segment>]...`); `None` otherwise.
    pub fn credential_issuer_did(&self) -> Option<String> {
        self.shared.did.as_ref().map(|d| d.did.clone())
    }

    /// Creates an offer, as `POST /test/offers` does.
    pub fn create_offer(&self, request: OfferRequest) -> CreatedOffer {
        self.shared.create_offer(request)
    }

    /// Requests per path to the protocol endpoints (not `/test/*`), rejected
    /// ones included. With [`IssuerBuilder::require_dpop`] also the counters
    /// `dpop_nonce_challenges_as` and `dpop_nonce_challenges_issuer`
    /// (`use_dpop_nonce` answers of each server) and `dpop_rejected`
    /// (`invalid_dpop_proof` answers of both). With
    /// [`IssuerBuilder::encryption`] on also `encrypted_requests` (credential
    /// and deferred requests received as a JWE that decrypted) and
    /// `encrypted_responses` (answers sent as a JWE). With
    /// [`IssuerBuilder::wallet_attestation`] on also
    /// `attestation_challenges_issued` (challenge endpoint answers and the
    /// challenges of `use_attestation_challenge` answers) and
    /// `attestation_rejected` (every refused client attestation). With
    /// [`IssuerBuilder::key_attestations`] on also
    /// `key_attestations_accepted` and `key_attestations_rejected` (one per
    /// key attestation checked at the credential endpoint: the header of
    /// each `jwt` proof, or the `attestation` proof; a missing header counts
    /// as rejected).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.shared.stats()
    }

    /// Forgets the request counts.
    pub fn reset_stats(&self) {
        self.shared.reset_stats()
    }

    /// The issuer's public P-256 signing key as a JWK (with `kid`), as at
    /// `/.well-known/jwt-vc-issuer`. It signs credentials in every signing
    /// mode except the `Did*` modes with [`CredentialKey::Ed25519`].
    pub fn issuer_jwk(&self) -> serde_json::Value {
        self.shared.keys.public_jwk()
    }

    /// The issuer's public request-encryption key as a JWK (`kid`, `use`
    /// `enc`, `alg` `ECDH-ES`), as in the metadata's
    /// `credential_request_encryption.jwks`; `None` when encryption is off.
    pub fn encryption_jwk(&self) -> Option<serde_json::Value> {
        self.shared.encryption_key.as_ref().map(|k| k.public_jwk())
    }

    /// A Wallet Attestation JWT of the issuer's trusted wallet provider, as
    /// `POST /test/wallet-attestation` makes: header
    /// `{"typ":"oauth-client-attestation+jwt","alg":"ES256"}`, claims `iss`
    /// (`<base URL>/wallet-provider`), `sub` (`client_id`), `iat`, `exp`
    /// (`iat` + `lifetime`) and `cnf.jwk` (`instance_jwk`, as given).
    pub fn issue_wallet_attestation(
        &self,
        client_id: &str,
        instance_jwk: &serde_json::Value,
        lifetime: std::time::Duration,
    ) -> String {
        self.shared
            .wallet_provider
            .issue(client_id, instance_jwk, lifetime)
    }

    /// A key attestation from the trusted wallet provider (`typ:
    /// key-attestation+jwt`, `attested_keys`, `key_storage` and
    /// `user_authentication` at `iso_18045_high`, `nonce` when given), as a
    /// wallet's provider would hand it out; the issuer accepts exactly these
    /// when [`IssuerBuilder::key_attestations`] is on.
    pub fn issue_key_attestation(
        &self,
        keys: &[serde_json::Value],
        nonce: Option<&str>,
        lifetime: std::time::Duration,
    ) -> String {
        self.shared
            .wallet_provider
            .issue_key_attestation(keys, nonce, lifetime)
    }

    /// A key attestation of `keys` (as given, in `attested_keys`) from the
    /// trusted wallet provider, with `nonce` when given, its levels,
    /// lifetime and a deliberate defect ([`KeyAttestationFault`]) as
    /// `options` say; `POST /test/key-attestation` takes the same options.
    /// Header `{"typ":"key-attestation+jwt","alg":"ES256"}`, claims `iss`
    /// (`<base URL>/wallet-provider`), `iat`, `exp` (`iat` + lifetime),
    /// `attested_keys`, `key_storage`, `user_authentication`, `nonce`.
    pub fn issue_key_attestation_with(
        &self,
        keys: &[serde_json::Value],
        nonce: Option<&str>,
        options: KeyAttestationOptions,
    ) -> String {
        self.shared
            .wallet_provider
            .issue_key_attestation_with(keys, nonce, &options)
    }

    /// The trusted wallet provider's public key as a JWK.
    pub fn wallet_provider_jwk(&self) -> serde_json::Value {
        self.shared.wallet_provider.public_jwk()
    }

    /// Every secret the issuer handed out so far (pre-authorized and
    /// authorization codes, access and refresh tokens, nonces,
    /// `issuer_state`s, draft 11's `acceptance_token`s), for tests that
    /// check a wallet never leaks one.
    pub fn secrets_issued(&self) -> Vec<String> {
        self.shared.lock().secrets.clone()
    }

    /// Notifications received so far: `(notification_id, event)`.
    pub fn notifications(&self) -> Vec<(String, String)> {
        self.shared.notifications()
    }
}

/// An `mso_mdoc` credential and the root CA it verifies to, made by
/// [`sample_mdoc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleMdoc {
    /// The credential as the credential endpoint sends it: the base64url
    /// (no padding) CBOR of an ISO/IEC 18013-5 `IssuerSigned`.
    pub credential: String,
    /// The root CA certificate (PEM) that issued the document signer
    /// certificate in the credential's `x5chain`.
    pub trust_anchor_pem: String,
}

/// An `mso_mdoc` credential of `configuration_id` (`pid_mdoc` or
/// `mdl_mdoc`, default data elements) bound to `holder_jwk` (a public P-256
/// JWK), exactly as the running issuer would issue it, without HTTP: for
/// benches, fuzz seeds and property tests. Each call makes a fresh root CA
/// and document signer. Errors (not an mdoc configuration, not a P-256 key)
/// are descriptions.
pub fn sample_mdoc(
    configuration_id: &str,
    holder_jwk: &serde_json::Value,
) -> Result<SampleMdoc, String> {
    let configuration = credential::configuration(configuration_id)
        .ok_or_else(|| format!("unknown credential configuration {configuration_id}"))?;
    let (signer, trust_anchor_pem) = trust::document_signer_under_fresh_root(trust::ROOT_NAME)
        .map_err(|e| format!("cannot make the test PKI: {e}"))?;
    let credential = mdoc::issue_mdoc(
        &signer,
        configuration,
        holder_jwk,
        None,
        &std::collections::BTreeSet::new(),
    )?;
    Ok(SampleMdoc {
        credential,
        trust_anchor_pem,
    })
}
