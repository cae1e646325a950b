//! DPoP (RFC 9449): proof checks, JWK thumbprints (RFC 7638), the server
//! nonces of the authorization server and of the credential issuer (two
//! separate namespaces), and the memory of seen `jti`s.

use crate::credential::{check_iat, verify_jws, VerifiedJws};
use crate::state::random_id;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// The `typ` of a DPoP proof.
pub(crate) const DPOP_TYP: &str = "dpop+jwt";
/// What `dpop_signing_alg_values_supported` advertises (and all that is
/// accepted).
pub(crate) const DPOP_ALGS: &[&str] = &["ES256"];
/// A server nonce is accepted this long after it was minted.
pub(crate) const DPOP_NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// A `jti` is remembered this long: proofs older than the `iat` leeway
/// (±300 s) are refused anyway.
const JTI_MEMORY: Duration = Duration::from_secs(600);
/// At most this many nonces per server are remembered (the oldest go first).
const MAX_NONCES: usize = 10_000;
/// At most this many `jti`s are remembered (the oldest go first).
const MAX_JTIS: usize = 100_000;
/// Longer `DPoP` headers are refused unread.
const MAX_PROOF_LEN: usize = 8 * 1024;
/// Longer `jti`s are refused (bounded memory).
const MAX_JTI_LEN: usize = 256;

/// The stats counter of `use_dpop_nonce` answers of the authorization server.
pub(crate) const NONCE_CHALLENGES_AS: &str = "dpop_nonce_challenges_as";
/// The stats counter of `use_dpop_nonce` answers of the credential issuer.
pub(crate) const NONCE_CHALLENGES_ISSUER: &str = "dpop_nonce_challenges_issuer";
/// The stats counter of `invalid_dpop_proof` answers (both servers).
pub(crate) const REJECTED: &str = "dpop_rejected";

/// The RFC 7638 SHA-256 thumbprint (base64url, no padding) of a public EC
/// JWK: the hash of `{"crv":..,"kty":..,"x":..,"y":..}` with no whitespace.
pub(crate) fn thumbprint(jwk: &Value) -> Option<String> {
    let member =
        |name: &str| -> Option<String> { serde_json::to_string(jwk.get(name)?.as_str()?).ok() };
    let canonical = format!(
        "{{\"crv\":{},\"kty\":{},\"x\":{},\"y\":{}}}",
        member("crv")?,
        member("kty")?,
        member("x")?,
        member("y")?
    );
    Some(B64.encode(Sha256::digest(canonical.as_bytes())))
}

/// `ath`: base64url(SHA-256(the access token's ASCII)).
pub(crate) fn ath(access_token: &str) -> String {
    B64.encode(Sha256::digest(access_token.as_bytes()))
}

/// Whether `value` looks like a SHA-256 JWK thumbprint (43 base64url
/// characters), as `dpop_jkt` must.
pub(crate) fn is_thumbprint(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a proof must match: the request as the client sent it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    /// `htm`: the request method.
    pub method: &'a str,
    /// `htu`: the public URL of the endpoint (query and fragment ignored).
    pub url: &'a str,
    /// The access token presented with the proof (resource requests); its
    /// hash must then be the proof's `ath`.
    pub access_token: Option<&'a str>,
}

/// A proof that passed the checks that need no memory.
#[derive(Debug, Clone)]
pub(crate) struct CheckedDpop {
    /// The RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    pub jti: String,
    pub nonce: Option<String>,
}

/// Checks a DPoP proof without the server's memory: `typ` `dpop+jwt`, ES256,
/// a public P-256 `jwk`, the signature, `htm`, `htu`, `iat` within five
/// minutes, a `jti`, and `ath` when an access token is presented.
pub(crate) fn check_proof(jwt: &str, expected: &Expected) -> Result<CheckedDpop, String> {
    if jwt.len() > MAX_PROOF_LEN {
        return Err("the DPoP proof is too long".into());
    }
    let VerifiedJws { payload, jwk } =
        verify_jws(jwt.trim(), DPOP_TYP).map_err(|e| format!("DPoP {e}"))?;
    let claim = |name: &str| payload.get(name).and_then(Value::as_str);
    if claim("htm") != Some(expected.method) {
        return Err(format!("htm must be {}", expected.method));
    }
    if !claim("htu").is_some_and(|htu| same_url(htu, expected.url)) {
        return Err(format!("htu must be {}", expected.url));
    }
    check_iat(&payload).map_err(|e| format!("DPoP proof {e}"))?;
    let jti = claim("jti")
        .filter(|j| !j.is_empty())
        .ok_or("the DPoP proof has no jti")?;
    if jti.len() > MAX_JTI_LEN {
        return Err("the DPoP proof's jti is too long".into());
    }
    if let Some(token) = expected.access_token {
        match claim("ath") {
            None => return Err("the DPoP proof has no ath (the access token's hash)".into()),
            Some(a) if a != ath(token) => {
                return Err("ath does not match the access token".into());
            }
            Some(_) => {}
        }
    }
    let jkt = thumbprint(&jwk).ok_or("the jwk header is not a P-256 public key")?;
    Ok(CheckedDpop {
        jkt,
        jti: jti.to_string(),
        nonce: claim("nonce").map(str::to_string),
    })
}

/// Whether two absolute URLs are the same, ignoring query and fragment (and
/// the normalisation `url` does: scheme and host case, default ports).
fn same_url(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    match (strip(a), strip(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Which server's nonces: the authorization server's (token, PAR) or the
/// credential issuer's (credential, deferred, notification, nonce). A nonce
/// of one is never accepted by the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    AuthorizationServer,
    Issuer,
}

/// Strings seen recently, oldest first, bounded in age and number (also the
/// memory of wallet attestation challenges and PoP `jti`s).
#[derive(Debug, Default)]
pub(crate) struct Recent {
    order: VecDeque<(Instant, String)>,
    set: HashSet<String>,
}

impl Recent {
    fn prune(&mut self, now: Instant, lifetime: Duration, cap: usize) {
        while let Some((at, value)) = self.order.front() {
            if now.duration_since(*at) < lifetime && self.order.len() <= cap {
                break;
            }
            self.set.remove(value);
            self.order.pop_front();
        }
    }

    /// Remembers `value`; false when it was already remembered.
    pub(crate) fn insert(&mut self, value: &str, lifetime: Duration, cap: usize) -> bool {
        let now = Instant::now();
        self.prune(now, lifetime, cap);
        if !self.set.insert(value.to_string()) {
            return false;
        }
        self.order.push_back((now, value.to_string()));
        self.prune(now, lifetime, cap);
        true
    }

    pub(crate) fn contains(&mut self, value: &str, lifetime: Duration, cap: usize) -> bool {
        self.prune(Instant::now(), lifetime, cap);
        self.set.contains(value)
    }

    /// Forgets `value` (single use); false when it was not remembered (or
    /// is too old). Its queue entry stays until pruned: values taken are
    /// random and never inserted again.
    pub(crate) fn take(&mut self, value: &str, lifetime: Duration, cap: usize) -> bool {
        self.prune(Instant::now(), lifetime, cap);
        self.set.remove(value)
    }
}

/// Why a DPoP proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// `invalid_dpop_proof`, with a description.
    InvalidProof(String),
    /// `use_dpop_nonce`: the proof lacks a valid nonce of this server.
    UseNonce(String),
}

/// The servers' DPoP memory: nonces per server and seen `jti`s.
#[derive(Debug, Default)]
pub(crate) struct DpopState {
    as_nonces: Recent,
    issuer_nonces: Recent,
    jtis: Recent,
}

impl DpopState {
    fn nonces(&mut self, server: Server) -> &mut Recent {
        match server {
            Server::AuthorizationServer => &mut self.as_nonces,
            Server::Issuer => &mut self.issuer_nonces,
        }
    }

    /// A fresh nonce of `server`, accepted for five minutes.
    pub fn new_nonce(&mut self, server: Server) -> String {
        let nonce = random_id(16);
        self.nonces(server)
            .insert(&nonce, DPOP_NONCE_LIFETIME, MAX_NONCES);
        nonce
    }

    /// Every check of a proof presented to `server`: [`check_proof`], then
    /// (when `nonces` are on) a nonce this server minted in the last five
    /// minutes, then a `jti` not seen before (which is then remembered).
    pub fn verify(
        &mut self,
        server: Server,
        nonces: bool,
        jwt: &str,
        expected: &Expected,
    ) -> Result<CheckedDpop, Rejection> {
        let checked = check_proof(jwt, expected).map_err(Rejection::InvalidProof)?;
        if nonces {
            let known = checked.nonce.as_deref().is_some_and(|n| {
                self.nonces(server)
                    .contains(n, DPOP_NONCE_LIFETIME, MAX_NONCES)
            });
            if !known {
                let description = if checked.nonce.is_some() {
                    "the DPoP proof's nonce is unknown or expired: use the DPoP-Nonce header's"
                } else {
                    "this server requires a nonce in the DPoP proof: use the DPoP-Nonce header's"
                };
                return Err(Rejection::UseNonce(description.into()));
            }
        }
        if !self.jtis.insert(&checked.jti, JTI_MEMORY, MAX_JTIS) {
            return Err(Rejection::InvalidProof(
                "the DPoP proof was used before (jti replay)".into(),
            ));
        }
        Ok(checked)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::credential::now_secs;
    use crate::credential::tests::{holder, proof};
    use p256::ecdsa::SigningKey;
    use serde_json::json;

    const URL: &str = "http://127.0.0.1:8080/tenant/credential";

    /// A DPoP proof by `key` for `method` `url`, with `ath` for `token` and
    /// `nonce` when given.
    pub(crate) fn dpop_proof(
        key: &SigningKey,
        method: &str,
        url: &str,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let jwk: Value =
            serde_json::from_str(&p256::PublicKey::from(key.verifying_key()).to_jwk_string())
                .unwrap();
        let mut payload = json!({
            "jti": random_id(12), "htm": method, "htu": url, "iat": now_secs(),
        });
        if let Some(t) = token {
            payload["ath"] = json!(ath(t));
        }
        if let Some(n) = nonce {
            payload["nonce"] = json!(n);
        }
        proof(
            key,
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
            payload,
        )
    }

    /// The thumbprint of `key`'s public JWK.
    pub(crate) fn jkt_of(key: &SigningKey) -> String {
        let jwk: Value =
            serde_json::from_str(&p256::PublicKey::from(key.verifying_key()).to_jwk_string())
                .unwrap();
        thumbprint(&jwk).unwrap()
    }

    fn expected(token: Option<&str>) -> Expected<'_> {
        Expected {
            method: "POST",
            url: URL,
            access_token: token,
        }
    }

    fn invalid(result: Result<CheckedDpop, Rejection>, needle: &str) {
        match result {
            Err(Rejection::InvalidProof(d)) => assert!(d.contains(needle), "{d}"),
            other => panic!("expected invalid_dpop_proof ({needle}), got {other:?}"),
        }
    }

    #[test]
    fn rfc_9449_thumbprint_and_ath_examples() {
        // RFC 9449 section 4.1's key and section 6.1's jkt.
        let jwk = json!({"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"});
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        // RFC 9449 section 7.1.
        assert_eq!(
            ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
        assert!(is_thumbprint("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
        assert!(!is_thumbprint(
            "0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        ));
        assert!(!is_thumbprint("short"));
    }

    #[test]
    fn a_good_proof_passes_and_replays_fail() {
        let (key, _) = holder();
        let mut state = DpopState::default();
        let good = dpop_proof(&key, "POST", URL, Some("at"), None);
        let checked = state
            .verify(Server::Issuer, false, &good, &expected(Some("at")))
            .unwrap();
        assert_eq!(checked.jkt, jkt_of(&key));
        invalid(
            state.verify(Server::Issuer, false, &good, &expected(Some("at"))),
            "jti",
        );
        // htu compared without query and fragment; no ath needed at the AS.
        let with_query = dpop_proof(&key, "POST", &format!("{URL}?a=b#c"), None, None);
        state
            .verify(
                Server::AuthorizationServer,
                false,
                &with_query,
                &expected(None),
            )
            .unwrap();
    }

    #[test]
    fn each_defect_is_named() {
        let (key, jwk) = holder();
        let mut state = DpopState::default();
        let mut check = |jwt: &str, token: Option<&str>| {
            state.verify(Server::Issuer, false, jwt, &expected(token))
        };
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        let payload = |extra: Value| {
            let mut p = json!({"jti": random_id(12), "htm": "POST", "htu": URL, "iat": now_secs()});
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            p
        };

        let mut wrong_typ = header.clone();
        wrong_typ["typ"] = json!("JWT");
        invalid(
            check(&proof(&key, wrong_typ, payload(json!({}))), None),
            "typ",
        );

        // alg none: unsigned.
        let none = format!(
            "{}.{}.",
            B64.encode(json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}).to_string()),
            B64.encode(payload(json!({})).to_string())
        );
        invalid(check(&none, None), "alg");
        let mut hs = header.clone();
        hs["alg"] = json!("HS256");
        invalid(check(&proof(&key, hs, payload(json!({}))), None), "alg");

        let mut private = header.clone();
        private["jwk"]["d"] = json!(B64.encode(key.to_bytes()));
        invalid(
            check(&proof(&key, private, payload(json!({}))), None),
            "private",
        );

        let mut no_jwk = header.clone();
        no_jwk.as_object_mut().unwrap().remove("jwk");
        invalid(check(&proof(&key, no_jwk, payload(json!({}))), None), "jwk");

        let (other, _) = holder();
        invalid(
            check(&proof(&other, header.clone(), payload(json!({}))), None),
            "signature",
        );

        invalid(
            check(
                &proof(&key, header.clone(), payload(json!({"htm": "GET"}))),
                None,
            ),
            "htm",
        );
        invalid(
            check(
                &proof(
                    &key,
                    header.clone(),
                    payload(json!({"htu": "http://127.0.0.1:8080/tenant/deferred"})),
                ),
                None,
            ),
            "htu",
        );
        invalid(
            check(
                &proof(&key, header.clone(), payload(json!({"htu": "not a url"}))),
                None,
            ),
            "htu",
        );
        invalid(
            check(
                &proof(
                    &key,
                    header.clone(),
                    payload(json!({"iat": now_secs() - 3600})),
                ),
                None,
            ),
            "iat",
        );
        invalid(
            check(
                &proof(
                    &key,
                    header.clone(),
                    payload(json!({"iat": now_secs() + 3600})),
                ),
                None,
            ),
            "iat",
        );
        let mut no_jti = payload(json!({}));
        no_jti.as_object_mut().unwrap().remove("jti");
        invalid(check(&proof(&key, header.clone(), no_jti), None), "jti");

        // ath: required with a token, and must be that token's hash.
        invalid(
            check(&proof(&key, header.clone(), payload(json!({}))), Some("at")),
            "ath",
        );
        invalid(
            check(
                &proof(&key, header.clone(), payload(json!({"ath": ath("other")}))),
                Some("at"),
            ),
            "ath",
        );
        assert!(check(
            &proof(&key, header.clone(), payload(json!({"ath": ath("at")}))),
            Some("at")
        )
        .is_ok());

        invalid(check("a.b", None), "compact");
        invalid(check(&"x".repeat(MAX_PROOF_LEN + 1), None), "too long");
    }

    #[test]
    fn nonces_are_per_server_and_required_when_on() {
        let (key, _) = holder();
        let mut state = DpopState::default();
        let as_nonce = state.new_nonce(Server::AuthorizationServer);
        let issuer_nonce = state.new_nonce(Server::Issuer);
        let mut with = |nonce: Option<&str>| {
            let jwt = dpop_proof(&key, "POST", URL, None, nonce);
            state.verify(Server::Issuer, true, &jwt, &expected(None))
        };
        assert!(matches!(with(None), Err(Rejection::UseNonce(_))));
        assert!(matches!(with(Some("made-up")), Err(Rejection::UseNonce(_))));
        // The authorization server's nonce is foreign to the issuer.
        assert!(matches!(with(Some(&as_nonce)), Err(Rejection::UseNonce(_))));
        assert!(with(Some(&issuer_nonce)).is_ok());
        // Not single use: concurrent clients share it.
        assert!(with(Some(&issuer_nonce)).is_ok());
        // With nonces off, none is needed.
        let jwt = dpop_proof(&key, "POST", URL, None, None);
        assert!(state
            .verify(Server::Issuer, false, &jwt, &expected(None))
            .is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let mut recent = Recent::default();
        for i in 0..10 {
            assert!(recent.insert(&i.to_string(), Duration::from_secs(60), 4));
        }
        assert_eq!(recent.order.len(), 4);
        assert_eq!(recent.set.len(), 4);
        assert!(!recent.contains("0", Duration::from_secs(60), 4));
        assert!(recent.contains("9", Duration::from_secs(60), 4));
        assert!(!recent.contains("9", Duration::ZERO, 4));
        assert!(recent.set.is_empty());
    }
}
