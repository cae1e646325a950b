//! Checking what was received (SPEC A18): the issuer signature of each
//! credential, with the key the wallet may trust, fetched when it must be.
//! A sans-IO [`Flow`]: it asks for the JWT VC issuer metadata or a `did:web`
//! document when a credential's key is there, and is done when every
//! credential carries its [`Verification`].
//!
//! - `x5c` (SD-JWT VC, JWT VC) and `x5chain` (mdoc): a chain to the app's
//!   trust anchors ([`TrustPolicy::anchors`]); a chain to none is
//!   unverified, even when the signature matches its leaf.
//! - a DID in `iss`: decoded locally (`did:jwk`, `did:key`) or its document
//!   fetched (`did:web`).
//! - else the keys at the issuer's `/.well-known/jwt-vc-issuer`.
//!
//! A failed check (a bad signature, a broken chain, a leaf naming another
//! issuer, an expired credential) is an [`Error::CredentialCheck`] that
//! carries every credential of the response as issued. A key that could not
//! be fetched leaves the credential unverified (with the reason), never
//! dropped; with [`TrustPolicy::require_verified`] an unverified credential
//! is a failed check.

use super::driver::Driver;
use super::issued::{is_sd_jwt, IssuedCredential};
use super::issuer_keys::{DidWebDocument, JwtVcIssuerKeys};
use super::{EngineConfig, Exchange, Flow, Progress};
use crate::error::{display_url, sanitize, Endpoint, Error, Result};
use crate::http::cache::served_from_cache;
use crate::http::{HttpRequest, HttpResponse};
use crate::verify::jwt_vc::JwtVc;
use crate::verify::mdoc::Mdoc;
use crate::verify::sd_jwt::SdJwt;
use crate::verify::trust::{check_x5c, check_x5chain, ChainOutcome, TrustAnchors};
use crate::verify::{did, IssuerSigned, Verification, VerifiedBy};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// What the wallet requires of issuer signatures.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// The X.509 roots trusted for credential issuers (`x5c`, mdoc IACA).
    pub anchors: TrustAnchors,
    /// Check issuer signatures at all (default true; off: every credential
    /// is unverified, still decoded and bound-checked).
    pub verify_signatures: bool,
    /// An unverified credential is a failed check (default false).
    pub require_verified: bool,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        Self {
            anchors: TrustAnchors::new(),
            verify_signatures: true,
            require_verified: false,
        }
    }
}

/// The key fetch a credential is waiting for: of `key` (an `iss` or a DID
/// document URL), first asked at `url`.
struct Fetch {
    key: String,
    url: String,
    exchange: Fetching,
    /// A response of this fetch came through a cache.
    cached: bool,
}

enum Fetching {
    Issuer(JwtVcIssuerKeys),
    Did(DidWebDocument),
}

/// Which cache a fetch's outcome goes to.
#[derive(Clone, Copy)]
enum FetchKind {
    Issuer,
    Did,
}

/// What one credential's check needs next.
enum Need {
    Done(Verification),
    /// The keys of an `iss`; again (past any cache) when `true`.
    IssuerKeys(String, bool),
    /// A DID document by URL; again (past any cache) when `true`.
    DidDocument(String, bool),
}

/// Keys fetched while checking one response: the JWT VC issuer metadata
/// (URL and keys, or why they could not be fetched) per `iss`, DID
/// documents (or why not) per URL.
#[derive(Default)]
struct KeyCache {
    issuers: HashMap<String, std::result::Result<(String, Vec<Value>), String>>,
    documents: HashMap<String, std::result::Result<Value, String>>,
    /// The keys (an `iss` or a URL) whose outcome came through a cache.
    cached: HashSet<String>,
    /// The keys fetched again because the cached ones did not verify.
    refetched: HashSet<String>,
}

impl KeyCache {
    /// Whether a failed signature with the keys of `key` may be a stale
    /// cache: they came through one, and were not fetched again yet.
    fn may_be_stale(&self, key: &str) -> bool {
        self.cached.contains(key) && !self.refetched.contains(key)
    }
}

/// Checks the issuer signature of every received credential (see the module
/// documentation). Start it with [`CheckReceived::start`].
pub struct CheckReceived {
    credential_issuer: String,
    credentials: Vec<IssuedCredential>,
    policy: TrustPolicy,
    allow_http: bool,
    /// The time the credentials are checked at.
    now: u64,
    next: usize,
    keys: KeyCache,
    fetch: Option<Fetch>,
}

impl std::fmt::Debug for CheckReceived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckReceived")
            .field("credential_issuer", &self.credential_issuer)
            .field("credentials", &self.credentials.len())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl CheckReceived {
    /// Checks `credentials` (issued by `credential_issuer`) as far as it can
    /// without a request: done, or a flow that needs keys fetched.
    pub fn start(
        credential_issuer: &str,
        credentials: Vec<IssuedCredential>,
        config: &EngineConfig,
        now: u64,
    ) -> Result<Progress<Self, Vec<IssuedCredential>>> {
        Self::start_with_issuer_keys(credential_issuer, credentials, config, now, None)
    }

    /// As [`Self::start`], with the credential issuer's JWT VC issuer keys
    /// already fetched (`(url, keys)`, by [`Self::issuer_keys_prefetch`]
    /// beside the credential request). Keys that do not verify are fetched
    /// once more, as cached ones are.
    pub fn start_with_issuer_keys(
        credential_issuer: &str,
        credentials: Vec<IssuedCredential>,
        config: &EngineConfig,
        now: u64,
        prefetched: Option<(String, Vec<Value>)>,
    ) -> Result<Progress<Self, Vec<IssuedCredential>>> {
        let mut keys = KeyCache::default();
        if let Some(found) = prefetched {
            keys.issuers
                .insert(credential_issuer.to_string(), Ok(found));
            keys.cached.insert(credential_issuer.to_string());
        }
        Self {
            credential_issuer: credential_issuer.to_string(),
            credentials,
            policy: config.trust.clone(),
            allow_http: config.allow_http,
            now,
            next: 0,
            keys,
            fetch: None,
        }
        .advance()
    }

    /// The fetch of the credential issuer's JWT VC issuer keys that may go
    /// out beside a credential request of `format`: the credential will most
    /// likely need them (an SD-JWT VC or JWT VC, signatures checked, no trust
    /// anchors for an `x5c` chain), and they need nothing from the answer.
    pub fn issuer_keys_prefetch(
        credential_issuer: &str,
        format: &str,
        config: &EngineConfig,
    ) -> Option<JwtVcIssuerKeys> {
        let signed_jwt = is_sd_jwt(format) || format == "jwt_vc_json";
        let by_metadata = config.trust.verify_signatures && config.trust.anchors.is_empty();
        if !(signed_jwt && by_metadata) {
            return None;
        }
        JwtVcIssuerKeys::new(credential_issuer).ok()
    }

    /// Checks from `next` on until a key must be fetched or all are done.
    fn advance(mut self) -> Result<Progress<Self, Vec<IssuedCredential>>> {
        while self.next < self.credentials.len() {
            let i = self.next;
            match self.check(i) {
                Ok(Need::Done(verification)) => {
                    if let Err(e) = self.settle(i, verification) {
                        return Err(self.rejected(i, e));
                    }
                    self.next += 1;
                }
                Ok(Need::IssuerKeys(iss, again)) => {
                    let Ok(mut exchange) = JwtVcIssuerKeys::new(&iss) else {
                        let reason = format!(
                            "iss {} is not an issuer URL to find its keys at",
                            sanitize(&iss, 80)
                        );
                        return Err(self.rejected(i, reason));
                    };
                    if again {
                        // The cached keys did not verify: fetch them anew, once.
                        self.keys.refetched.insert(iss.clone());
                        exchange = exchange.refetching();
                    }
                    self.fetch = Some(Fetch {
                        url: exchange.url().to_string(),
                        key: iss,
                        exchange: Fetching::Issuer(exchange),
                        cached: false,
                    });
                    return Ok(Progress::Again(self));
                }
                Ok(Need::DidDocument(url, again)) => {
                    let mut exchange = DidWebDocument::new(&url);
                    if again {
                        self.keys.refetched.insert(url.clone());
                        exchange = exchange.refetching();
                    }
                    self.fetch = Some(Fetch {
                        exchange: Fetching::Did(exchange),
                        key: url.clone(),
                        url,
                        cached: false,
                    });
                    return Ok(Progress::Again(self));
                }
                Err(e) => return Err(self.rejected(i, e)),
            }
        }
        Ok(Progress::Done(self.credentials))
    }

    /// A failed check of credential `i`, carrying every credential.
    fn rejected(&self, i: usize, problem: String) -> Error {
        Error::CredentialCheck(
            crate::error::CredentialRejection::new(format!("credentials[{i}]: {problem}"))
                .with_credentials(
                    self.credentials
                        .iter()
                        .map(|c| c.credential.clone())
                        .collect(),
                    self.credentials
                        .iter()
                        .find_map(|c| c.notification_id.clone()),
                ),
        )
    }

    /// Records what was established; with `require_verified`, unverified
    /// is a failure.
    fn settle(&mut self, i: usize, verification: Verification) -> std::result::Result<(), String> {
        let credential = &mut self.credentials[i];
        credential.signature_verified = verification.is_verified();
        credential.verification = verification;
        match (self.policy.require_verified, &credential.verification) {
            (true, Verification::Unverified { reason }) => Err(format!(
                "the issuer is not verified ({reason}), and the wallet requires verified issuers"
            )),
            _ => Ok(()),
        }
    }

    /// Checks credential `i` with what is known so far.
    fn check(&self, i: usize) -> std::result::Result<Need, String> {
        let (credential, policy, now) = (&self.credentials[i], &self.policy, self.now);
        let text = credential.as_str().unwrap_or_default();
        let off = || {
            Need::Done(Verification::unverified(
                "issuer signature checks are turned off (verify_credential_signatures)",
            ))
        };
        if credential.format == "mso_mdoc" {
            let mdoc = Mdoc::parse(text)?;
            mdoc.check_validity(now)?;
            if !policy.verify_signatures {
                return Ok(off());
            }
            return verify_mdoc(&mdoc, &policy.anchors, now).map(Need::Done);
        }
        let (sd, vc);
        let (signed, iss) = if is_sd_jwt(&credential.format) {
            sd = SdJwt::parse(text)?;
            sd.check_issuer_jwt(now)?;
            (sd.issuer_signed(), sd.issuer())
        } else if credential.format == "jwt_vc_json" {
            vc = JwtVc::parse(text)?;
            vc.check(now)?;
            (vc.issuer_signed(), vc.issuer())
        } else {
            return Ok(Need::Done(credential.verification.clone()));
        };
        let iss = iss.ok_or("the credential has no iss")?;
        if !same_origin(iss, &self.credential_issuer) {
            return Err(format!(
                "iss {} is another issuer than the credential issuer {}",
                sanitize(iss, 80),
                sanitize(&self.credential_issuer, 80)
            ));
        }
        if !policy.verify_signatures {
            return Ok(off());
        }
        self.verify_issuer_signed(&signed, iss)
    }

    /// The key of `iss` and the signature checked with it: an `x5c` chain to
    /// the trust anchors, a DID, or the JWT VC issuer metadata.
    fn verify_issuer_signed(
        &self,
        signed: &IssuerSigned<'_>,
        iss: &str,
    ) -> std::result::Result<Need, String> {
        if let Some(x5c) = signed.header.get("x5c") {
            return Ok(Need::Done(
                match check_x5c(x5c, &self.policy.anchors, iss, self.now)? {
                    ChainOutcome::Trusted { anchor, leaf_jwk } => {
                        signed.verify(&leaf_jwk)?;
                        Verification::Verified {
                            by: VerifiedBy::TrustAnchor { anchor },
                        }
                    }
                    ChainOutcome::NoAnchor { reason, leaf_jwk } => {
                        // A signature that does not even match its own leaf
                        // is a broken credential, not merely an untrusted one.
                        signed.verify(&leaf_jwk)?;
                        Verification::unverified(reason)
                    }
                },
            ));
        }
        if did::method(iss).is_some() {
            if !did::kid_names(signed.kid(), iss) {
                return Err("the kid names another DID than iss".into());
            }
            let jwk = match did::resolve(iss, self.allow_http) {
                Ok(did::DidKey::Local(jwk)) => jwk,
                Ok(did::DidKey::Document(url)) => match self.keys.documents.get(&url) {
                    None => return Ok(Need::DidDocument(url, false)),
                    Some(Err(reason)) => {
                        return Ok(Need::Done(Verification::unverified(format!(
                            "the DID document of {} could not be fetched: {reason}",
                            sanitize(iss, 80)
                        ))))
                    }
                    Some(Ok(document)) => {
                        let verified = did::key_in_document(document, iss, signed.kid())
                            .map_err(|e| format!("{}: {e}", sanitize(iss, 80)))
                            .and_then(|jwk| signed.verify(&jwk).map_err(|e| e.to_string()));
                        match verified {
                            Ok(()) => {
                                return Ok(Need::Done(Verification::Verified {
                                    by: VerifiedBy::Did {
                                        did: sanitize(iss, crate::error::MAX_QUOTED_CHARS),
                                    },
                                }))
                            }
                            // A cached document may predate a key rotation.
                            Err(_) if self.keys.may_be_stale(&url) => {
                                return Ok(Need::DidDocument(url, true))
                            }
                            Err(e) => return Err(e),
                        }
                    }
                },
                Err(reason) => {
                    return Ok(Need::Done(Verification::unverified(format!(
                        "iss {}: {reason}",
                        sanitize(iss, 80)
                    ))))
                }
            };
            signed.verify(&jwk)?;
            return Ok(Need::Done(Verification::Verified {
                by: VerifiedBy::Did {
                    did: sanitize(iss, crate::error::MAX_QUOTED_CHARS),
                },
            }));
        }
        if !(iss.starts_with("https://") || iss.starts_with("http://")) {
            return Ok(Need::Done(Verification::unverified(format!(
                "no x5c, and iss {} is neither an https URL nor a DID",
                sanitize(iss, 80)
            ))));
        }
        match self.keys.issuers.get(iss) {
            None => Ok(Need::IssuerKeys(iss.to_string(), false)),
            Some(Err(reason)) => Ok(Need::Done(Verification::unverified(format!(
                "the issuer's keys could not be fetched: {reason}"
            )))),
            Some(Ok((url, keys))) => {
                match verify_with_any(signed, keys) {
                    Ok(()) => {}
                    // Cached keys may predate a key rotation: fetch anew, once.
                    Err(_) if self.keys.may_be_stale(iss) => {
                        return Ok(Need::IssuerKeys(iss.to_string(), true))
                    }
                    Err(e) => return Err(e),
                }
                Ok(Need::Done(Verification::Verified {
                    by: VerifiedBy::IssuerMetadata {
                        url: display_url(url),
                    },
                }))
            }
        }
    }

    /// The fetch goes on with a second request (the exchange asked for it).
    fn again(mut self, fetch: Fetch) -> Progress<Self, Vec<IssuedCredential>> {
        self.fetch = Some(fetch);
        Progress::Again(self)
    }

    /// Files what a fetch brought (or why it brought nothing) and goes on.
    fn fetched(
        self,
        fetch: Fetch,
        outcome: std::result::Result<Value, String>,
    ) -> Result<Progress<Self, Vec<IssuedCredential>>> {
        let Fetch {
            key,
            url,
            exchange,
            cached,
        } = fetch;
        let kind = match exchange {
            Fetching::Issuer(_) => FetchKind::Issuer,
            Fetching::Did(_) => FetchKind::Did,
        };
        self.file(kind, key, url, outcome, cached)
    }

    /// Files what a fetch of `key` brought (or why it brought nothing).
    fn file(
        mut self,
        kind: FetchKind,
        key: String,
        url: String,
        outcome: std::result::Result<Value, String>,
        cached: bool,
    ) -> Result<Progress<Self, Vec<IssuedCredential>>> {
        if cached {
            self.keys.cached.insert(key.clone());
        } else {
            self.keys.cached.remove(&key);
        }
        match kind {
            FetchKind::Issuer => {
                let keys = outcome.map(|v| match v {
                    Value::Array(keys) => (url, keys),
                    _ => (url, Vec::new()),
                });
                self.keys.issuers.insert(key, keys);
            }
            FetchKind::Did => {
                self.keys.documents.insert(key, outcome);
            }
        }
        self.advance()
    }
}

impl Flow for CheckReceived {
    type Output = Vec<IssuedCredential>;

    fn prepare_request(
        &mut self,
        config: &EngineConfig,
        _now: u64,
    ) -> Result<(Endpoint, HttpRequest)> {
        match self.fetch.as_ref().map(|f| &f.exchange) {
            Some(Fetching::Issuer(exchange)) => {
                Ok((exchange.endpoint(), exchange.prepare_request(config)?))
            }
            Some(Fetching::Did(exchange)) => {
                Ok((exchange.endpoint(), exchange.prepare_request(config)?))
            }
            None => Err(Error::InvalidState(
                "the credential check has no key to fetch".into(),
            )),
        }
    }

    fn handle_response(
        mut self,
        response: HttpResponse,
        config: &EngineConfig,
        _now: u64,
    ) -> Result<Progress<Self, Self::Output>> {
        let fetch = self.fetch.take().ok_or_else(|| {
            Error::InvalidState("a response, but the credential check fetched nothing".into())
        })?;
        // Each exchange may ask for a second request (jwks_uri); else what it
        // found, or why it found nothing, is filed under the fetch's key.
        let Fetch {
            key,
            url,
            exchange,
            cached,
        } = fetch;
        let cached = cached || served_from_cache(&response);
        let (kind, outcome) = match exchange {
            Fetching::Issuer(ex) => match ex.handle_response(response, config) {
                Ok(Progress::Again(ex)) => {
                    let exchange = Fetching::Issuer(ex);
                    return Ok(self.again(Fetch {
                        key,
                        url,
                        exchange,
                        cached,
                    }));
                }
                Ok(Progress::Done(keys)) => (FetchKind::Issuer, Ok(Value::Array(keys))),
                Err(e) => (FetchKind::Issuer, Err(e.to_string())),
            },
            Fetching::Did(ex) => match ex.handle_response(response, config) {
                Ok(Progress::Again(ex)) => {
                    let exchange = Fetching::Did(ex);
                    return Ok(self.again(Fetch {
                        key,
                        url,
                        exchange,
                        cached,
                    }));
                }
                Ok(Progress::Done(document)) => (FetchKind::Did, Ok(document)),
                Err(e) => (FetchKind::Did, Err(e.to_string())),
            },
        };
        self.file(kind, key, url, outcome, cached)
    }

    fn cacheable(&self) -> bool {
        self.fetch.is_some()
    }

    fn handle_transport_error(mut self, error: Error) -> Result<Progress<Self, Self::Output>> {
        // Without its key a credential is unverified, never dropped.
        match self.fetch.take() {
            Some(fetch) => self.fetched(fetch, Err(error.to_string())),
            None => Err(error),
        }
    }
}

/// An mdoc's `issuerAuth`: the signer's country against `issuing_country`,
/// its `x5chain` to the (IACA) anchors, the COSE signature with the
/// document signer's key. A signature that does not match its own
/// certificate is an error; a chain to no anchor is unverified.
fn verify_mdoc(
    mdoc: &Mdoc,
    anchors: &TrustAnchors,
    now: u64,
) -> std::result::Result<Verification, String> {
    if mdoc.x5chain().is_empty() {
        return Ok(Verification::unverified(
            "the mdoc's issuerAuth has no x5chain, so no key to check it with",
        ));
    }
    mdoc.check_issuing_country(&mdoc.x5chain()[0])?;
    Ok(match check_x5chain(mdoc.x5chain(), anchors, now)? {
        ChainOutcome::Trusted { anchor, leaf_jwk } => {
            mdoc.verify_signature(&leaf_jwk)?;
            Verification::Verified {
                by: VerifiedBy::TrustAnchor { anchor },
            }
        }
        ChainOutcome::NoAnchor { reason, leaf_jwk } => {
            mdoc.verify_signature(&leaf_jwk)?;
            Verification::unverified(reason.replace("x5c chain", "x5chain"))
        }
    })
}

/// Whether an `iss` that is a URL has the credential issuer's origin
/// (scheme, host, port). DIDs and other identifiers are not URLs of an
/// issuer: their keys decide.
fn same_origin(iss: &str, credential_issuer: &str) -> bool {
    if !(iss.starts_with("https://") || iss.starts_with("http://")) {
        return true;
    }
    match (url::Url::parse(iss), url::Url::parse(credential_issuer)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn verify_with_any(signed: &IssuerSigned<'_>, keys: &[Value]) -> std::result::Result<(), String> {
    let candidates: Vec<&Value> = match signed.kid() {
        Some(kid)
            if keys
                .iter()
                .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid)) =>
        {
            keys.iter()
                .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                .collect()
        }
        _ => keys.iter().collect(),
    };
    let mut last = "the issuer publishes no usable key".to_string();
    for key in candidates {
        match signed.verify(key) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl CheckReceived {
    /// Checks `credentials` through `driver` ([`Self::start_with_issuer_keys`]
    /// then the key fetches it asks for), returning them with what was
    /// established; a failed check carries them all.
    pub async fn run<D: Driver>(
        driver: &D,
        credential_issuer: &str,
        credentials: Vec<IssuedCredential>,
        prefetched_keys: Option<(String, Vec<Value>)>,
    ) -> Result<Vec<IssuedCredential>> {
        let config = driver.config();
        let start = Self::start_with_issuer_keys;
        match start(
            credential_issuer,
            credentials,
            config,
            driver.now(),
            prefetched_keys,
        )? {
            Progress::Done(checked) => Ok(checked),
            Progress::Again(flow) => driver.drive(flow).await,
        }
    }
}
