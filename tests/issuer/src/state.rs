//! The issuer's memory: offers, codes, tokens, nonces, deferred transactions.

use crate::attestation::{KeyAttestations, WalletAttestation, WalletProvider};
use crate::credential::{IssuerKeys, KeyPair};
use crate::did::{CredentialKey, IssuerDid};
use crate::encryption::{Encryption, EncryptionKey};
use crate::trust::{CredentialSigning, TestPki};
use crate::{CreatedOffer, OfferRequest};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Deliberate misbehaviours, for tests of how a wallet copes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Issuer metadata names another `credential_issuer`.
    MetadataIssuerMismatch,
    /// Issuer metadata only at the draft-13 appended URL (404 at the 1.0 one).
    MetadataAppendedPathOnly,
    /// No issuer metadata anywhere (404).
    MetadataNotFound,
    /// Issuer metadata answers 500.
    MetadataServerError,
    /// Issuer metadata without `credential_endpoint`.
    MetadataMissingCredentialEndpoint,
    /// Issuer metadata served as `text/html`.
    MetadataWrongContentType,
    /// AS metadata names another `issuer`.
    AsIssuerMismatch,
    /// AS metadata only at `/.well-known/openid-configuration` (RFC 8414 URL 404).
    AsOpenidConfigurationOnly,
    /// AS metadata answers 500.
    AsServerError,
    /// AS metadata without `token_endpoint`.
    AsMissingTokenEndpoint,
    /// Offers by reference served as `text/plain`.
    OfferWrongContentType,
    /// Offers by reference served as a signed JWT (`application/jwt`).
    OfferAsJwt,
    /// Every proof is rejected with `invalid_nonce`.
    NonceAlwaysInvalid,
    /// The first credential request with a proof is rejected with `invalid_nonce`.
    NonceInvalidOnce,
    /// Token responses claim `expires_in` 3600 whatever the real lifetime, so
    /// a wallet learns of the expiry only from `invalid_token`.
    ExpiresInOverstated,
    /// The authorization redirect carries no `iss` although the metadata
    /// promises it (RFC 9207).
    RedirectWithoutIss,
    /// The issuer metadata names its credential endpoint with `http://`
    /// (a downgrade when the issuer is served over https).
    MetadataHttpEndpoint,
    /// Credentials are signed by a key other than the published one (with
    /// [`crate::CredentialSigning::X5cChain`]: the real `x5c` chain, whose
    /// leaf certifies the published key, but a signature by another key; in
    /// the `Did*` modes: the DID's `kid`, but a signature by a fresh key of
    /// the same type). JWT formats only (mdocs: the `Mdoc*` faults).
    CredentialSignedByOtherKey,
    /// Credentials are bound (`cnf.jwk`) to a key other than the proof's.
    /// JWT formats only (mdocs: [`Fault::MdocDeviceKeyNotOurs`]).
    CredentialBoundToOtherKey,
    /// With encryption on: successful credential and deferred answers come
    /// as plain JSON even though the request asked for an encrypted
    /// response (`credential_response_encryption`).
    UnencryptedResponse,
    /// Credentials are signed by a fresh key whose `x5c` header holds one
    /// self-signed certificate for it (naming the issuer correctly), and no
    /// `kid`: a forgery that brings its own key. In any signing mode
    /// (SD-JWT credentials only, as for the other `X5c*` faults).
    X5cSelfSigned,
    /// Credentials are signed by a fresh key whose leaf certificate, signed
    /// by the real intermediate CA (`x5c`: leaf, intermediate; no `kid`),
    /// names `other.example` (DNS SAN, URI SAN `https://other.example`)
    /// instead of the issuer. In any signing mode.
    X5cLeafForAnotherHost,
    /// Credentials are signed by a fresh key whose leaf certificate, signed
    /// by the real intermediate CA and naming the issuer (`x5c`: leaf,
    /// intermediate; no `kid`), expired yesterday (valid from 10 days ago
    /// to 1 day ago). In any signing mode.
    X5cExpiredLeaf,
    /// With signed metadata on: its JWT's signature has one byte flipped.
    SignedMetadataBadSignature,
    /// Credential and deferred answers list credentials as bare strings
    /// (`"credentials": ["<credential>"]`, the draft 14/15 shape some
    /// deployed issuers still send).
    CredentialsAsBareStrings,
    /// With [`crate::CredentialSigning::DidWeb`]: the DID document publishes
    /// another key (of the same type, made at start) than the one that signs
    /// credentials.
    DidWebWrongKey,
    /// The SD-JWT issuer-signed JWT's header `typ` is `JWT` instead of
    /// `dc+sd-jwt`.
    CredentialWrongTyp,
    /// SD-JWT and JWT VC credentials expired an hour ago (`exp`) and were
    /// issued two days ago (`iat`, and the JWT VC's `nbf` and
    /// `issuanceDate`). Not mdocs: [`Fault::MdocExpired`].
    CredentialExpired,
    /// The SD-JWT `iss` claim is `https://other.example`, whatever the
    /// signing mode.
    CredentialIssMismatch,
    /// `mso_mdoc` credentials: the MSO's `valueDigests` entry of one data
    /// element (`family_name`, the first) does not match its
    /// `IssuerSignedItemBytes` (one bit flipped). Everything else is valid.
    MdocWrongDigest,
    /// `mso_mdoc` credentials: the MSO's `docType` is `org.example.other`
    /// (the namespaces and the configuration's `doctype` are unchanged).
    MdocWrongDoctype,
    /// `mso_mdoc` credentials: the MSO was signed and is valid from 10 days
    /// ago until a day ago (`validityInfo`; the dates of issue and expiry
    /// of the data elements follow).
    MdocExpired,
    /// `mso_mdoc` credentials: the MSO's `deviceKeyInfo.deviceKey` is a
    /// fresh random P-256 key instead of the proof's key.
    MdocDeviceKeyNotOurs,
    /// `mso_mdoc` credentials: signed by a fresh document signer whose
    /// certificate (in `x5chain`, and otherwise well formed) is issued by a
    /// fresh root CA that is not the served trust anchor.
    MdocSignerOutsideAnchors,
}

impl Fault {
    /// Every fault, for listings.
    pub const ALL: [Fault; 34] = [
        Fault::MetadataIssuerMismatch,
        Fault::MetadataAppendedPathOnly,
        Fault::MetadataNotFound,
        Fault::MetadataServerError,
        Fault::MetadataMissingCredentialEndpoint,
        Fault::MetadataWrongContentType,
        Fault::AsIssuerMismatch,
        Fault::AsOpenidConfigurationOnly,
        Fault::AsServerError,
        Fault::AsMissingTokenEndpoint,
        Fault::OfferWrongContentType,
        Fault::OfferAsJwt,
        Fault::NonceAlwaysInvalid,
        Fault::NonceInvalidOnce,
        Fault::ExpiresInOverstated,
        Fault::RedirectWithoutIss,
        Fault::MetadataHttpEndpoint,
        Fault::CredentialSignedByOtherKey,
        Fault::CredentialBoundToOtherKey,
        Fault::UnencryptedResponse,
        Fault::X5cSelfSigned,
        Fault::X5cLeafForAnotherHost,
        Fault::X5cExpiredLeaf,
        Fault::CredentialsAsBareStrings,
        Fault::DidWebWrongKey,
        Fault::CredentialWrongTyp,
        Fault::CredentialExpired,
        Fault::CredentialIssMismatch,
        Fault::MdocWrongDigest,
        Fault::MdocWrongDoctype,
        Fault::MdocExpired,
        Fault::MdocDeviceKeyNotOurs,
        Fault::MdocSignerOutsideAnchors,
        Fault::SignedMetadataBadSignature,
    ];

    /// The kebab-case name the binary's `--fault` flag takes.
    pub fn name(self) -> String {
        let debug = format!("{self:?}");
        let mut out = String::new();
        for (i, c) in debug.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('-');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Parses a kebab-case name.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Which OpenID4VCI version the issuer speaks on the wire (see
/// [`crate::IssuerBuilder::spec_version`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecVersion {
    /// OpenID4VCI 1.0 (the default).
    #[default]
    V1,
    /// Draft 13 (see [`crate::IssuerBuilder::draft13`]).
    Draft13,
    /// Draft 11 (see [`crate::IssuerBuilder::draft11`]).
    Draft11,
}

impl SpecVersion {
    /// A draft before 1.0: metadata at the appended well-known URL, no
    /// encryption, a single `proof`, a single `credential` in answers.
    pub(crate) fn before_1_0(self) -> bool {
        self != SpecVersion::V1
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub path: String,
    pub deferred_pending_polls: u32,
    pub deferred_interval: u64,
    pub nonce_endpoint: bool,
    pub credential_identifiers: bool,
    pub batch_size: Option<u32>,
    pub tx_code_attempts: u32,
    pub faults: BTreeSet<Fault>,
    pub users: Vec<User>,
    pub offer_par: bool,
    pub require_par: bool,
    pub separate_authorization_server: bool,
    pub access_token_lifetime: Duration,
    pub canned: Vec<crate::Canned>,
    pub spec: SpecVersion,
    pub require_dpop: bool,
    pub dpop_nonce: bool,
    pub encryption: Encryption,
    pub wallet_attestation: WalletAttestation,
    pub credential_signing: CredentialSigning,
    pub credential_key: CredentialKey,
    pub key_attestations: KeyAttestations,
    /// With key attestations on, list only the `attestation` proof type
    /// (no `jwt`), as some issuers do.
    pub attestation_proof_only: bool,
    /// Serve signed metadata (`application/jwt` on request; draft 13: the
    /// `signed_metadata` parameter), signed with the `x5c` chain.
    pub signed_metadata: bool,
    /// How long every answer waits (a phone network's round trip).
    pub latency: std::time::Duration,
    /// The `Cache-Control` of the discovery documents (metadata, keys, DID
    /// document), which then carry an `ETag` and answer a matching
    /// `If-None-Match` with 304. `None`: `no-store` like every answer.
    pub cache_control: Option<String>,
}

impl Settings {
    /// Whether the issuer has a nonce endpoint (`c_nonce` otherwise comes
    /// in token, credential and proof error answers). Never in draft 11,
    /// which has none.
    pub fn advertises_nonce_endpoint(&self) -> bool {
        self.nonce_endpoint && self.spec != SpecVersion::Draft11
    }

    pub fn draft11(&self) -> bool {
        self.spec == SpecVersion::Draft11
    }

    pub fn draft13(&self) -> bool {
        self.spec == SpecVersion::Draft13
    }
}

/// A user of the authorization server's login page.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub name: String,
    pub password: String,
    pub claims: Map<String, Value>,
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The users every issuer starts with.
pub(crate) fn default_users() -> Vec<User> {
    vec![
        User {
            name: "erika".into(),
            password: "erika-password".into(),
            claims: object(json!({
                "given_name": "Erika", "family_name": "Mustermann",
                "birthdate": "1964-08-12",
                "address": {"locality": "Berlin", "country": "DE"},
                "member_id": "M-1001", "level": "gold",
            })),
        },
        User {
            name: "max".into(),
            password: "max-password".into(),
            claims: object(json!({
                "given_name": "Max", "family_name": "Meier",
                "birthdate": "1980-02-29",
                "address": {"locality": "Hamburg", "country": "DE"},
                "member_id": "M-2002", "level": "silver",
            })),
        },
    ]
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            path: String::new(),
            deferred_pending_polls: 2,
            deferred_interval: 1,
            nonce_endpoint: true,
            credential_identifiers: true,
            batch_size: Some(3),
            tx_code_attempts: 3,
            faults: BTreeSet::new(),
            users: default_users(),
            offer_par: true,
            require_par: false,
            separate_authorization_server: false,
            access_token_lifetime: TOKEN_LIFETIME,
            canned: Vec::new(),
            spec: SpecVersion::V1,
            require_dpop: false,
            dpop_nonce: false,
            encryption: Encryption::Off,
            wallet_attestation: WalletAttestation::Off,
            credential_signing: CredentialSigning::Kid,
            credential_key: CredentialKey::P256,
            key_attestations: KeyAttestations::Off,
            attestation_proof_only: false,
            signed_metadata: false,
            latency: std::time::Duration::ZERO,
            cache_control: None,
        }
    }
}

/// What an offer grants, carried from the offer to the token and credentials.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub configuration_ids: Vec<String>,
    pub deferred: bool,
    pub claims: Option<Map<String, Value>>,
}

#[derive(Debug)]
pub(crate) struct PreAuthorized {
    pub grant: Grant,
    pub tx_code: Option<String>,
    pub attempts_left: u32,
}

/// What an access token (and the refresh tokens of its line) grants.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Stays the same across refreshes; deferred transactions and
    /// notification ids belong to it.
    pub id: String,
    pub grant: Grant,
    /// credential_identifier -> configuration id
    pub identifiers: HashMap<String, String>,
    /// The client of an authorization code grant (proofs then carry it as `iss`).
    pub client_id: Option<String>,
    pub expires: Instant,
    /// The RFC 7638 thumbprint of the DPoP key the tokens are bound to.
    pub dpop_jkt: Option<String>,
    /// With wallet attestation on: the attested client (the attestation's
    /// `sub`) the refresh tokens are bound to.
    pub attested_client: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Deferred {
    pub session_id: String,
    pub polls_left: u32,
    pub credentials: Vec<String>,
    /// The configuration's draft-13/11 `format` (draft 11 answers name it).
    pub format: &'static str,
}

/// An authorization request between the browser's first visit and consent.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub configuration_ids: Vec<String>,
    /// Asked with `authorization_details` (the token response then has them).
    pub with_details: bool,
    /// From the offer's `issuer_state`.
    pub deferred: bool,
    pub user: Option<String>,
    pub expires: Instant,
    /// The DPoP key thumbprint the code is bound to (`dpop_jkt`, or the
    /// PAR request's DPoP proof).
    pub dpop_jkt: Option<String>,
}

/// An authorization code, single use.
#[derive(Debug, Clone)]
pub(crate) struct IssuedCode {
    pub request: AuthorizationRequest,
    pub grant: Grant,
    pub expires: Instant,
}

/// A pushed authorization request's parameters.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    pub params: HashMap<String, String>,
    pub expires: Instant,
}

/// A refresh token's line.
#[derive(Debug, Clone)]
pub(crate) struct Refresh {
    pub session: Session,
    pub with_details: bool,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub offers: HashMap<String, Value>,
    /// page id -> what `GET /test/offer-page/{id}` shows
    pub offer_pages: HashMap<String, crate::offer_page::OfferPage>,
    pub pre_authorized: HashMap<String, PreAuthorized>,
    pub sessions: HashMap<String, Session>,
    pub nonces: HashMap<String, Instant>,
    pub deferred: HashMap<String, Deferred>,
    /// notification_id -> the session it belongs to
    pub notification_ids: HashMap<String, String>,
    /// issuer_state -> what the offer grants
    pub issuer_states: HashMap<String, Grant>,
    /// transaction id -> the authorization request shown in the browser
    pub authorization_requests: HashMap<String, AuthorizationRequest>,
    /// request_uri -> pushed parameters
    pub pushed: HashMap<String, Pushed>,
    pub codes: HashMap<String, IssuedCode>,
    pub refresh_tokens: HashMap<String, Refresh>,
    pub notifications: Vec<(String, String)>,
    pub stats: BTreeMap<String, u64>,
    pub invalid_nonce_sent: bool,
    /// How often each canned answer (by index) was served.
    pub canned_served: HashMap<usize, u32>,
    /// Every secret handed out (codes, tokens, nonces, issuer_states), for
    /// tests that check a wallet never leaks one.
    pub secrets: Vec<String>,
    /// DPoP nonces (per server) and seen proof `jti`s.
    pub dpop: crate::dpop::DpopState,
    /// Wallet attestation challenges and seen PoP `jti`s.
    pub attestation: crate::attestation::AttestationState,
}

impl Inner {
    /// Adds one to a stats counter.
    pub fn count(&mut self, key: &str) {
        *self.stats.entry(key.to_string()).or_default() += 1;
    }
}

pub(crate) struct Shared {
    pub settings: Settings,
    pub base_url: String,
    /// The authorization server's own base URL, when it is separate.
    pub as_base_url: Option<String>,
    pub keys: IssuerKeys,
    /// The request-decryption key, when encryption is on (`None` also if
    /// OpenSSL could not make one; `spawn` then fails).
    pub encryption_key: Option<EncryptionKey>,
    /// The trusted wallet provider (its key is made at start, whatever the
    /// wallet attestation setting).
    pub wallet_provider: WalletProvider,
    /// The test PKI certifying `keys` for `x5c` credentials (made at start,
    /// whatever the signing mode; an error here makes `spawn` fail).
    pub pki: Result<TestPki, String>,
    /// The issuer's DID, `kid` and signing key in the `Did*` signing modes.
    pub did: Option<IssuerDid>,
    pub inner: Mutex<Inner>,
}

/// Draft 13 has no request encryption and another response-encryption
/// shape, draft 11 none: a draft-13 or draft-11 issuer advertises none.
fn effective_encryption(settings: &Settings) -> Encryption {
    if settings.spec.before_1_0() {
        Encryption::Off
    } else {
        settings.encryption
    }
}

/// A draft 11/12 offer's object for `configuration`: its `format` and
/// `vct`, `doctype`, or (`jwt_vc_json`) `types` in draft-11 mode and
/// `credential_definition.type` otherwise.
fn legacy_offer_object(configuration: &crate::credential::Configuration, draft11: bool) -> Value {
    use crate::credential::Format;
    match configuration.format {
        Format::SdJwt { vct } => json!({ "format": "vc+sd-jwt", "vct": vct }),
        Format::JwtVcJson { types } if draft11 => {
            json!({ "format": "jwt_vc_json", "types": types })
        }
        Format::JwtVcJson { types } => json!({
            "format": "jwt_vc_json",
            "credential_definition": { "type": types },
        }),
        Format::MsoMdoc { doctype, .. } => json!({ "format": "mso_mdoc", "doctype": doctype }),
    }
}

pub(crate) const NONCE_LIFETIME: Duration = Duration::from_secs(300);
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// A random URL-safe string of `bytes` random bytes.
pub(crate) fn random_id(bytes: usize) -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

impl Shared {
    pub fn new(settings: Settings, base_url: String, as_base_url: Option<String>) -> Self {
        let encryption_key = if effective_encryption(&settings) == Encryption::Off {
            None
        } else {
            EncryptionKey::generate().ok()
        };
        let wallet_provider = WalletProvider::generate(format!("{base_url}/wallet-provider"));
        let keys = IssuerKeys::generate();
        let issuer_id = format!("{base_url}{}", settings.path);
        let pki = TestPki::generate(&issuer_id, keys.signing_key()).map_err(|e| e.to_string());
        let mut did = IssuerDid::new(
            settings.credential_signing,
            settings.credential_key,
            keys.signing_key(),
            &issuer_id,
        );
        if let Some(did) = did.as_mut() {
            if settings.faults.contains(&Fault::DidWebWrongKey) {
                did.document_jwk = KeyPair::generate(did.key.kind()).public_jwk();
            }
        }
        Shared {
            settings,
            base_url,
            as_base_url,
            keys,
            encryption_key,
            wallet_provider,
            pki,
            did,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The `iss` of credentials: the DID in the `Did*` signing modes, the
    /// credential issuer identifier otherwise.
    pub fn credential_iss(&self) -> String {
        match &self.did {
            Some(did) => did.did.clone(),
            None => self.issuer_id(),
        }
    }

    /// The JWS `alg` credentials are signed with (`X5c*` faults aside).
    pub fn credential_alg(&self) -> &'static str {
        match &self.did {
            Some(did) => did.key.sign_key().alg(),
            None => "ES256",
        }
    }

    /// Whether PAR and token requests need a wallet attestation.
    pub fn attestation_required(&self) -> bool {
        self.settings.wallet_attestation != WalletAttestation::Off
    }

    /// Whether attestation PoPs must carry a challenge of this server.
    pub fn attestation_challenges(&self) -> bool {
        self.settings.wallet_attestation == WalletAttestation::RequiredWithChallenge
    }

    /// Whether key-bound configurations want key attestations (and the
    /// `attestation` proof type is accepted).
    pub fn key_attestations_on(&self) -> bool {
        self.settings.key_attestations != KeyAttestations::Off
    }

    /// The encryption mode in force: always `Off` for a draft-13 or
    /// draft-11 issuer.
    pub fn encryption(&self) -> Encryption {
        effective_encryption(&self.settings)
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.settings.faults.contains(&fault)
    }

    /// The test PKI, or why it could not be made.
    pub fn pki(&self) -> Result<&TestPki, String> {
        self.pki.as_ref().map_err(Clone::clone)
    }

    pub fn issuer_id(&self) -> String {
        format!("{}{}", self.base_url, self.settings.path)
    }

    /// The authorization server's identifier: the issuer's own, or the
    /// separate server's base URL.
    pub fn as_id(&self) -> String {
        self.as_base_url.clone().unwrap_or_else(|| self.issuer_id())
    }

    /// An endpoint of the authorization server.
    pub fn as_endpoint(&self, name: &str) -> String {
        format!("{}/{name}", self.as_id())
    }

    /// An endpoint under the issuer identifier.
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/{name}", self.issuer_id())
    }

    pub fn create_offer(&self, request: OfferRequest) -> CreatedOffer {
        let ids = request
            .credential_configuration_ids
            .unwrap_or_else(|| vec!["pid_sd_jwt".to_string()]);
        let grant = Grant {
            configuration_ids: ids.clone(),
            deferred: request.deferred.unwrap_or(false),
            claims: request.claims,
        };
        let legacy = request.legacy_offer.unwrap_or(false);
        let draft11 = self.settings.draft11();
        let mut inner = self.lock();
        let mut tx_code = None;
        let grants = if request.authorization_code.unwrap_or(false) {
            let issuer_state = random_id(16);
            inner.secrets.push(issuer_state.clone());
            inner.issuer_states.insert(issuer_state.clone(), grant);
            let mut g = json!({ "issuer_state": issuer_state });
            // Draft 11 names the AS in the metadata only.
            if let Some(as_url) = self.as_base_url.as_ref().filter(|_| !draft11) {
                g["authorization_server"] = json!(as_url);
            }
            json!({ "authorization_code": g })
        } else {
            tx_code = request.tx_code.unwrap_or(false).then(|| {
                use rand::Rng as _;
                format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32))
            });
            let code = random_id(24);
            inner.secrets.push(code.clone());
            inner.secrets.extend(tx_code.clone());
            let mut pre_auth = json!({ "pre-authorized_code": code });
            if draft11 {
                // Draft 11: a PIN flag (the PIN comes back as `user_pin`).
                pre_auth["user_pin_required"] = json!(tx_code.is_some());
            } else if tx_code.is_some() {
                pre_auth["tx_code"] = json!({
                    "input_mode": "numeric",
                    "length": 6,
                    "description": "Enter the 6-digit code we sent to your e-mail address"
                });
            }
            inner.pre_authorized.insert(
                code,
                PreAuthorized {
                    grant,
                    tx_code: tx_code.clone(),
                    attempts_left: self.settings.tx_code_attempts.max(1),
                },
            );
            json!({ "urn:ietf:params:oauth:grant-type:pre-authorized_code": pre_auth })
        };
        let mut offer = json!({
            "credential_issuer": self.issuer_id(),
            "credential_configuration_ids": ids,
            "grants": grants,
        });
        if draft11 || legacy {
            // Draft 11/12: `credentials`, by format and type (draft-11 mode:
            // the ids of `credentials_supported` unless `legacy_offer`).
            let credentials: Vec<Value> = if draft11 && !legacy {
                ids.iter().map(|id| json!(id)).collect()
            } else {
                ids.iter()
                    .filter_map(|id| crate::credential::configuration(id))
                    .map(|c| legacy_offer_object(c, draft11))
                    .collect()
            };
            if let Some(o) = offer.as_object_mut() {
                o.remove("credential_configuration_ids");
                o.insert("credentials".into(), Value::Array(credentials));
            }
            let pre = &mut offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"];
            if let Some(p) = pre.as_object_mut() {
                if p.remove("tx_code").is_some() {
                    p.insert("user_pin_required".into(), json!(true));
                }
            }
        }
        let tx_code_hint = crate::offer_page::tx_code_hint(&offer);
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let offer_url = if request.by_reference.unwrap_or(false) {
            let id = random_id(12);
            inner.offers.insert(id.clone(), offer);
            let uri = self.endpoint(&format!("offers/{id}"));
            format!(
                "openid-credential-offer://?credential_offer_uri={}",
                encode(&uri)
            )
        } else {
            format!(
                "openid-credential-offer://?credential_offer={}",
                encode(&offer.to_string())
            )
        };
        let offer_page_url =
            crate::offer_page::register(self, &mut inner, &offer_url, tx_code_hint);
        CreatedOffer {
            offer_url,
            tx_code,
            offer_page_url,
        }
    }

    pub fn stats(&self) -> BTreeMap<String, u64> {
        let mut stats = self.lock().stats.clone();
        if self.settings.require_dpop {
            use crate::dpop::{NONCE_CHALLENGES_AS, NONCE_CHALLENGES_ISSUER, REJECTED};
            for counter in [NONCE_CHALLENGES_AS, NONCE_CHALLENGES_ISSUER, REJECTED] {
                stats.entry(counter.to_string()).or_default();
            }
        }
        if self.attestation_required() {
            use crate::attestation::{CHALLENGES_ISSUED, REJECTED};
            for counter in [CHALLENGES_ISSUED, REJECTED] {
                stats.entry(counter.to_string()).or_default();
            }
        }
        if self.key_attestations_on() {
            use crate::routes::{KEY_ATTESTATIONS_ACCEPTED, KEY_ATTESTATIONS_REJECTED};
            for counter in [KEY_ATTESTATIONS_ACCEPTED, KEY_ATTESTATIONS_REJECTED] {
                stats.entry(counter.to_string()).or_default();
            }
        }
        if self.encryption() != Encryption::Off {
            use crate::encryption::{ENCRYPTED_REQUESTS, ENCRYPTED_RESPONSES};
            for counter in [ENCRYPTED_REQUESTS, ENCRYPTED_RESPONSES] {
                stats.entry(counter.to_string()).or_default();
            }
        }
        stats
    }

    pub fn reset_stats(&self) {
        self.lock().stats.clear()
    }

    pub fn notifications(&self) -> Vec<(String, String)> {
        self.lock().notifications.clone()
    }

    /// A fresh nonce, remembered until used or expired.
    pub fn new_nonce(&self, inner: &mut Inner) -> String {
        let now = Instant::now();
        inner
            .nonces
            .retain(|_, issued| now.duration_since(*issued) < NONCE_LIFETIME);
        let nonce = random_id(16);
        inner.nonces.insert(nonce.clone(), now);
        inner.secrets.push(nonce.clone());
        nonce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_name(&f.name()), Some(f));
        }
        assert_eq!(Fault::MetadataNotFound.name(), "metadata-not-found");
        assert_eq!(Fault::X5cSelfSigned.name(), "x5c-self-signed");
        assert_eq!(
            Fault::from_name("x5c-leaf-for-another-host"),
            Some(Fault::X5cLeafForAnotherHost)
        );
        assert_eq!(Fault::X5cExpiredLeaf.name(), "x5c-expired-leaf");
        assert_eq!(Fault::DidWebWrongKey.name(), "did-web-wrong-key");
        assert_eq!(Fault::CredentialWrongTyp.name(), "credential-wrong-typ");
        assert_eq!(Fault::CredentialExpired.name(), "credential-expired");
        assert_eq!(
            Fault::from_name("credential-iss-mismatch"),
            Some(Fault::CredentialIssMismatch)
        );
        assert_eq!(Fault::MdocWrongDigest.name(), "mdoc-wrong-digest");
        assert_eq!(Fault::MdocWrongDoctype.name(), "mdoc-wrong-doctype");
        assert_eq!(Fault::MdocExpired.name(), "mdoc-expired");
        assert_eq!(
            Fault::from_name("mdoc-device-key-not-ours"),
            Some(Fault::MdocDeviceKeyNotOurs)
        );
        assert_eq!(
            Fault::from_name("mdoc-signer-outside-anchors"),
            Some(Fault::MdocSignerOutsideAnchors)
        );
        assert_eq!(Fault::from_name("nope"), None);
    }
}
