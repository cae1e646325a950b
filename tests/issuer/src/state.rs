//! The issuer's memory: offers, codes, tokens, nonces, deferred transactions.

use crate::credential::IssuerKeys;
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
}

impl Fault {
    /// Every fault, for listings.
    pub const ALL: [Fault; 14] = [
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

#[derive(Debug)]
pub(crate) struct Session {
    pub grant: Grant,
    /// credential_identifier -> configuration id
    pub identifiers: HashMap<String, String>,
    pub expires: Instant,
}

#[derive(Debug)]
pub(crate) struct Deferred {
    pub token: String,
    pub polls_left: u32,
    pub credentials: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub offers: HashMap<String, Value>,
    pub pre_authorized: HashMap<String, PreAuthorized>,
    pub sessions: HashMap<String, Session>,
    pub nonces: HashMap<String, Instant>,
    pub deferred: HashMap<String, Deferred>,
    /// notification_id -> access token it belongs to
    pub notification_ids: HashMap<String, String>,
    pub notifications: Vec<(String, String)>,
    pub stats: BTreeMap<String, u64>,
    pub invalid_nonce_sent: bool,
}

pub(crate) struct Shared {
    pub settings: Settings,
    pub base_url: String,
    pub keys: IssuerKeys,
    pub inner: Mutex<Inner>,
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
    pub fn new(settings: Settings, base_url: String) -> Self {
        Shared {
            settings,
            base_url,
            keys: IssuerKeys::generate(),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.settings.faults.contains(&fault)
    }

    pub fn issuer_id(&self) -> String {
        format!("{}{}", self.base_url, self.settings.path)
    }

    /// An endpoint under the issuer identifier.
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/{name}", self.issuer_id())
    }

    pub fn create_offer(&self, request: OfferRequest) -> CreatedOffer {
        let ids = request
            .credential_configuration_ids
            .unwrap_or_else(|| vec!["pid_sd_jwt".to_string()]);
        let tx_code = request.tx_code.unwrap_or(false).then(|| {
            use rand::Rng as _;
            format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32))
        });
        let code = random_id(24);
        let mut pre_auth = json!({ "pre-authorized_code": code });
        if tx_code.is_some() {
            pre_auth["tx_code"] = json!({
                "input_mode": "numeric",
                "length": 6,
                "description": "Enter the 6-digit code we sent to your e-mail address"
            });
        }
        let offer = json!({
            "credential_issuer": self.issuer_id(),
            "credential_configuration_ids": ids,
            "grants": { "urn:ietf:params:oauth:grant-type:pre-authorized_code": pre_auth },
        });
        let grant = Grant {
            configuration_ids: ids,
            deferred: request.deferred.unwrap_or(false),
            claims: request.claims,
        };
        let mut inner = self.lock();
        inner.pre_authorized.insert(
            code,
            PreAuthorized {
                grant,
                tx_code: tx_code.clone(),
                attempts_left: self.settings.tx_code_attempts.max(1),
            },
        );
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
        CreatedOffer { offer_url, tx_code }
    }

    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.lock().stats.clone()
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
        assert_eq!(Fault::from_name("nope"), None);
    }
}
