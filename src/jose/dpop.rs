//! DPoP (RFC 9449): sender-constrained access tokens.
//!
//! When the authorization server advertises ES256 in
//! `dpop_signing_alg_values_supported`, the wallet draws a fresh P-256 key for
//! that authorization (one key per issuance, so issuers cannot link them),
//! proves possession of it at the PAR and token endpoints and with every
//! request that presents the access token, and keeps the latest `DPoP-Nonce`
//! of the authorization server and of the credential issuer apart. The key is
//! part of the saved session (like the access token it protects), so a
//! restored session goes on with the same key.
//!
//! An app that keeps every key in its secure element gives [`DpopKeys`]: a
//! new authorization then gets a key of the app's, the saved session holds
//! only its public JWK and the app's reference to it, and a restored session
//! asks the app for the signer by that reference.

use super::{b64, b64_decode, Signer, SignerError, SoftwareSigner};
use crate::error::{Error, Result};
use crate::http::{HttpRequest, HttpResponse};
use crate::types::{AccessToken, AuthorizationServerMetadata, DpopPrivateKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// The `typ` header of a DPoP proof.
pub(crate) const DPOP_JWT_TYP: &str = "dpop+jwt";

/// The longest `DPoP-Nonce` kept; a longer one is ignored.
const MAX_NONCE_CHARS: usize = 512;

/// Which server a DPoP nonce belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopServer {
    /// The authorization server (PAR and token endpoints).
    AuthorizationServer,
    /// The credential issuer (nonce, credential, deferred, notification).
    CredentialIssuer,
}

/// DPoP keys held by the app (e.g. in the secure element), used instead of
/// the software keys the SDK draws.
pub trait DpopKeys: Send + Sync {
    /// Creates a key for a new authorization and returns the app's
    /// reference to it (kept in the saved session).
    fn create(&self) -> std::result::Result<String, SignerError>;
    /// The signer of the key with this reference (ES256).
    fn signer(&self, reference: &str) -> std::result::Result<Arc<dyn Signer>, SignerError>;
}

/// An app-held DPoP key as saved: its public JWK and the app's reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AppKey {
    jwk: serde_json::Value,
    reference: String,
}

/// A DPoP key and the latest nonce of each server. Its `Debug` shows only the
/// key's thumbprint; it serializes with the private key of a software key
/// (store saved sessions securely), or only the public key and the app's
/// reference of an app-held key.
#[derive(Clone, Serialize, Deserialize)]
pub struct DpopState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<DpopPrivateKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_key: Option<AppKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    as_nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer_nonce: Option<String>,
    /// The signer and its public JWK: decoding a software key derives the
    /// public key (a scalar multiplication as dear as a signature), and an
    /// app key is looked up by reference, so each is done once.
    #[serde(skip)]
    decoded: OnceLock<(Arc<dyn Signer>, serde_json::Value)>,
}

impl PartialEq for DpopState {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.app_key == other.app_key
            && self.as_nonce == other.as_nonce
            && self.issuer_nonce == other.issuer_nonce
    }
}

impl std::fmt::Debug for DpopState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopState")
            .field("jkt", &self.thumbprint().unwrap_or_default())
            .field("app_key", &self.app_key.is_some())
            .finish_non_exhaustive()
    }
}

impl DpopState {
    /// A fresh random key from the OS.
    pub fn generate() -> Self {
        Self::generate_with(&super::OsRandom)
    }

    /// A fresh random key from `random`.
    pub fn generate_with(random: &dyn super::RandomSource) -> Self {
        let signer = SoftwareSigner::generate_with(random);
        let jwk = signer.public_jwk();
        Self {
            key: Some(DpopPrivateKey::new(b64(signer.to_bytes()))),
            app_key: None,
            as_nonce: None,
            issuer_nonce: None,
            decoded: OnceLock::from((Arc::new(signer) as Arc<dyn Signer>, jwk)),
        }
    }

    /// A new key of the app's, from `keys` (ES256).
    pub fn from_app(keys: &dyn DpopKeys) -> Result<Self> {
        let failed = |e: SignerError| {
            Error::proof(
                crate::error::ProofErrorKind::SignerFailed,
                format!("DPoP key of the app: {e}"),
            )
        };
        let reference = keys.create().map_err(failed)?;
        let signer = keys.signer(&reference).map_err(failed)?;
        if signer.algorithm() != super::Algorithm::Es256 {
            return Err(Error::proof(
                crate::error::ProofErrorKind::NoUsableAlgorithm,
                "the app's DPoP key must be an ES256 (P-256) key",
            ));
        }
        let jwk = signer.public_jwk();
        if jwk.get("d").is_some() {
            return Err(Error::proof(
                crate::error::ProofErrorKind::InvalidKey,
                "the app's DPoP key's public JWK contains private key material",
            ));
        }
        Ok(Self {
            key: None,
            app_key: Some(AppKey {
                jwk: jwk.clone(),
                reference,
            }),
            as_nonce: None,
            issuer_nonce: None,
            decoded: OnceLock::from((signer, jwk)),
        })
    }

    /// A new key for an authorization: the app's when it gives [`DpopKeys`],
    /// else a software key from `random`.
    pub fn new_for(keys: Option<&dyn DpopKeys>, random: &dyn super::RandomSource) -> Result<Self> {
        match keys {
            Some(keys) => Self::from_app(keys),
            None => Ok(Self::generate_with(random)),
        }
    }

    /// Whether the key is the app's (only its reference is saved).
    pub fn is_app_key(&self) -> bool {
        self.app_key.is_some()
    }

    /// Whether DPoP is to be used with this authorization server: it
    /// advertises `dpop_signing_alg_values_supported` with ES256, the
    /// algorithm of the wallet's DPoP keys. (A server listing only other
    /// algorithms gets plain bearer requests.)
    pub fn wanted_by(server: &AuthorizationServerMetadata) -> bool {
        server
            .dpop_signing_alg_values_supported
            .as_ref()
            .is_some_and(|algs| algs.iter().any(|a| a == "ES256"))
    }

    /// The signer and its public JWK; an app key is looked up in `keys` by
    /// its reference (after a restore) and must still be the saved key.
    fn signer(&self, keys: Option<&dyn DpopKeys>) -> Result<&(Arc<dyn Signer>, serde_json::Value)> {
        if let Some(decoded) = self.decoded.get() {
            return Ok(decoded);
        }
        if let Some(app) = &self.app_key {
            let keys = keys.ok_or_else(|| {
                Error::InvalidState(
                    "the session's DPoP key is the app's: the wallet needs the app's DPoP key \
                     store (WalletBuilder::dpop_keys; in Kotlin and Swift WalletBuilder.dpopKeys) to go on"
                        .into(),
                )
            })?;
            let signer = keys.signer(&app.reference).map_err(|e| {
                Error::proof(
                    crate::error::ProofErrorKind::SignerFailed,
                    format!("DPoP key of the app: {e}"),
                )
            })?;
            if !super::same_public_key(&signer.public_jwk(), &app.jwk) {
                return Err(Error::InvalidState(
                    "the app's DPoP key under the saved reference is another key".into(),
                ));
            }
            return Ok(self.decoded.get_or_init(|| (signer, app.jwk.clone())));
        }
        let signer = self
            .key
            .as_ref()
            .and_then(|k| b64_decode(k.secret()))
            .and_then(|bytes| SoftwareSigner::from_bytes(&bytes).ok())
            .ok_or_else(|| Error::InvalidState("saved DPoP key is not a P-256 key".into()))?;
        let jwk = signer.public_jwk();
        Ok(self
            .decoded
            .get_or_init(|| (Arc::new(signer) as Arc<dyn Signer>, jwk)))
    }

    /// The key's JWK SHA-256 thumbprint (RFC 7638), as sent in `dpop_jkt`.
    pub fn thumbprint(&self) -> Result<String> {
        if let Some(app) = &self.app_key {
            return Ok(jwk_thumbprint(&app.jwk));
        }
        Ok(jwk_thumbprint(&self.signer(None)?.1))
    }

    fn nonce(&self, server: DpopServer) -> Option<&str> {
        match server {
            DpopServer::AuthorizationServer => self.as_nonce.as_deref(),
            DpopServer::CredentialIssuer => self.issuer_nonce.as_deref(),
        }
    }

    /// A fresh proof for one request: `htm`, `htu` (the URL without query and
    /// fragment), `iat`, a unique `jti`, `ath` when an access token is
    /// presented, and the server's latest nonce when it gave one.
    pub fn proof(
        &self,
        server: DpopServer,
        request: &HttpRequest,
        access_token: Option<&AccessToken>,
        now: u64,
        random: &dyn super::RandomSource,
        keys: Option<&dyn DpopKeys>,
    ) -> Result<String> {
        let (method, url) = (request.method.as_str(), request.url.as_str());
        let (signer, jwk) = self.signer(keys)?;
        let mut htu = url::Url::parse(url)
            .map_err(|_| Error::InvalidState(format!("DPoP: {url:?} is not a URL")))?;
        htu.set_query(None);
        htu.set_fragment(None);
        let mut claims = json!({
            "jti": super::random_token(random, 16),
            "htm": method,
            "htu": htu.as_str(),
            "iat": now,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(b64(crate::jose::sha256(token.secret().as_bytes())));
        }
        if let Some(nonce) = self.nonce(server) {
            claims["nonce"] = json!(nonce);
        }
        let header = json!({
            "typ": DPOP_JWT_TYP,
            "alg": signer.algorithm().as_str(),
            "jwk": jwk,
        });
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature = signer.sign(input.as_bytes()).map_err(|e| {
            Error::proof(
                crate::error::ProofErrorKind::SignerFailed,
                format!("DPoP: {e}"),
            )
        })?;
        Ok(format!("{input}.{}", b64(signature)))
    }

    /// Takes the credential issuer's nonce `other` has seen (a request sent
    /// beside this state's own, with a copy of it), if any.
    pub(crate) fn adopt_issuer_nonce(&mut self, other: &DpopState) {
        if other.issuer_nonce.is_some() {
            self.issuer_nonce = other.issuer_nonce.clone();
        }
    }

    /// Reads a response of `server`: keeps its `DPoP-Nonce` (from any
    /// response, successes included) and tells whether the response asks for
    /// the request again with that nonce (`use_dpop_nonce`, as a 400 error
    /// body from an authorization server or a 401 `WWW-Authenticate`
    /// challenge from a resource server).
    pub fn observe(&mut self, server: DpopServer, response: &HttpResponse) -> bool {
        let Some(nonce) = response
            .header("dpop-nonce")
            .map(str::trim)
            .filter(|n| valid_nonce(n))
        else {
            return false;
        };
        let slot = match server {
            DpopServer::AuthorizationServer => &mut self.as_nonce,
            DpopServer::CredentialIssuer => &mut self.issuer_nonce,
        };
        *slot = Some(nonce.to_string());
        is_nonce_challenge(response)
    }
}

/// RFC 9449 nonces are `1*NQCHAR`: printable ASCII without `"` and `\`.
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_CHARS
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

fn is_nonce_challenge(response: &HttpResponse) -> bool {
    match response.status {
        400 => crate::http::response::parse_error_body(response)
            .is_some_and(|e| e.code == crate::error::ErrorCode::UseDpopNonce),
        401 => response.header("www-authenticate").is_some_and(|h| {
            h.len() <= 4096 && h.to_ascii_lowercase().contains("error=\"use_dpop_nonce\"")
        }),
        _ => false,
    }
}

/// The RFC 7638 SHA-256 thumbprint of an EC public JWK.
pub(crate) fn jwk_thumbprint(jwk: &serde_json::Value) -> String {
    let member = |m: &str| jwk.get(m).and_then(|v| v.as_str()).unwrap_or_default();
    // Required members only, in lexicographic order, no whitespace.
    let canonical = format!(
        r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
        member("crv"),
        member("kty"),
        member("x"),
        member("y")
    );
    b64(crate::jose::sha256(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{verify_es256, CompactJws};

    #[test]
    fn proof_has_the_rfc_9449_shape() {
        let mut dpop = DpopState::generate();
        let token = AccessToken::new("at-123");
        let jwt = dpop
            .proof(
                DpopServer::CredentialIssuer,
                &HttpRequest::post(
                    "https://issuer.example/credential?x=1#f",
                    "application/json",
                    vec![],
                ),
                Some(&token),
                1_767_225_600,
                &crate::jose::OsRandom,
                None,
            )
            .unwrap();
        let jws = CompactJws::parse(&jwt).unwrap();
        assert_eq!(jws.header["typ"], "dpop+jwt");
        assert_eq!(jws.header["alg"], "ES256");
        assert!(jws.header["jwk"].get("d").is_none());
        assert_eq!(jws.payload["htm"], "POST");
        assert_eq!(jws.payload["htu"], "https://issuer.example/credential");
        assert_eq!(jws.payload["iat"], 1_767_225_600);
        assert_eq!(
            jws.payload["ath"],
            b64(crate::jose::sha256(b"at-123")),
            "ath is the hash of the access token"
        );
        assert!(jws.payload.get("nonce").is_none());
        verify_es256(
            &jws.header["jwk"],
            jws.signing_input.as_bytes(),
            &jws.signature,
        )
        .unwrap();
        assert_eq!(
            dpop.thumbprint().unwrap(),
            jwk_thumbprint(&jws.header["jwk"])
        );

        // jti is fresh each time.
        let again = dpop
            .proof(
                DpopServer::CredentialIssuer,
                &HttpRequest::post("https://i.example/c", "application/json", vec![]),
                None,
                1,
                &crate::jose::OsRandom,
                None,
            )
            .unwrap();
        let again = CompactJws::parse(&again).unwrap();
        assert_ne!(again.payload["jti"], jws.payload["jti"]);
        assert!(again.payload.get("ath").is_none());

        // Nonces are kept per server.
        let challenge = HttpResponse {
            status: 401,
            headers: vec![
                (
                    "WWW-Authenticate".into(),
                    "DPoP error=\"use_dpop_nonce\"".into(),
                ),
                ("DPoP-Nonce".into(), "n-issuer".into()),
            ],
            body: vec![],
        };
        assert!(dpop.observe(DpopServer::CredentialIssuer, &challenge));
        let as_challenge = HttpResponse {
            status: 400,
            headers: vec![("dpop-nonce".into(), "n-as".into())],
            body: br#"{"error":"use_dpop_nonce"}"#.to_vec(),
        };
        assert!(dpop.observe(DpopServer::AuthorizationServer, &as_challenge));
        let ok = HttpResponse {
            status: 200,
            headers: vec![("DPoP-Nonce".into(), "n-issuer-2".into())],
            body: vec![],
        };
        assert!(!dpop.observe(DpopServer::CredentialIssuer, &ok));
        let nonce_of = |dpop: &DpopState, server| {
            let jwt = dpop
                .proof(
                    server,
                    &HttpRequest::get("https://x.example/"),
                    None,
                    1,
                    &crate::jose::OsRandom,
                    None,
                )
                .unwrap();
            CompactJws::parse(&jwt).unwrap().payload["nonce"].clone()
        };
        assert_eq!(nonce_of(&dpop, DpopServer::CredentialIssuer), "n-issuer-2");
        assert_eq!(nonce_of(&dpop, DpopServer::AuthorizationServer), "n-as");

        // A malformed nonce is ignored; a challenge without one is not retried.
        let bad = HttpResponse {
            status: 400,
            headers: vec![("dpop-nonce".into(), "has \"quote\"".into())],
            body: br#"{"error":"use_dpop_nonce"}"#.to_vec(),
        };
        assert!(!dpop.observe(DpopServer::AuthorizationServer, &bad));
        assert_eq!(nonce_of(&dpop, DpopServer::AuthorizationServer), "n-as");
    }

    #[test]
    fn saved_state_keeps_the_key_and_debug_hides_it() {
        let dpop = DpopState::generate();
        let json = serde_json::to_string(&dpop).unwrap();
        let back: DpopState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.thumbprint().unwrap(), dpop.thumbprint().unwrap());
        let debug = format!("{dpop:?}");
        assert!(
            !debug.contains(dpop.key.as_ref().unwrap().secret()),
            "{debug}"
        );
        assert!(debug.contains(&dpop.thumbprint().unwrap()));
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example_shape() {
        // RFC 7638 section 3.1 uses an RSA key; this checks the EC member
        // order against a hand-built canonical form.
        let jwk = json!({"kty":"EC","crv":"P-256","x":"AAA","y":"BBB","kid":"ignored"});
        assert_eq!(
            jwk_thumbprint(&jwk),
            b64(crate::jose::sha256(
                br#"{"crv":"P-256","kty":"EC","x":"AAA","y":"BBB"}"#
            ))
        );
    }
}
