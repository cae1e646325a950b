//! OAuth 2.0 Attestation-Based Client Authentication
//! (draft-ietf-oauth-attestation-based-client-auth, as profiled by HAIP):
//! a trusted wallet provider that signs Wallet Attestations, the checks of
//! the `OAuth-Client-Attestation` and `OAuth-Client-Attestation-PoP` headers
//! at the PAR and token endpoints, and the authorization server's memory of
//! attestation challenges and seen PoP `jti`s. Also key attestations
//! (OID4VCI 1.0 appendix D) by the same wallet provider: how it makes them
//! (with deliberate defects for tests) and the checks that need no memory.

use crate::credential::{check_iat, now_secs, public_key, verify_jws_by};
use crate::dpop::Recent;
use crate::state::random_id;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// Whether the authorization server wants wallet attestations
/// (`attest_jwt_client_auth`) at its PAR and token endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WalletAttestation {
    /// No client authentication: the attestation headers are ignored.
    #[default]
    Off,
    /// Every PAR and token request (all grants) must carry a wallet
    /// attestation of the trusted wallet provider and a proof of possession
    /// of its `cnf` key.
    Required,
    /// As [`WalletAttestation::Required`], and the proof of possession must
    /// carry a `challenge` this server minted (single use, five minutes):
    /// from the advertised `challenge_endpoint`, or from the
    /// `OAuth-Client-Attestation-Challenge` header every PAR and token answer
    /// carries.
    RequiredWithChallenge,
}

/// The `typ` of a wallet (client) attestation.
pub(crate) const ATTESTATION_TYP: &str = "oauth-client-attestation+jwt";
/// The `typ` of its proof of possession.
pub(crate) const POP_TYP: &str = "oauth-client-attestation-pop+jwt";
/// The `token_endpoint_auth_methods_supported` value.
pub(crate) const AUTH_METHOD: &str = "attest_jwt_client_auth";
/// Request headers (lower case, as `http` keeps them).
pub(crate) const ATTESTATION_HEADER: &str = "oauth-client-attestation";
pub(crate) const POP_HEADER: &str = "oauth-client-attestation-pop";
/// The response header with a fresh challenge.
pub(crate) const CHALLENGE_HEADER: &str = "oauth-client-attestation-challenge";
/// A challenge is accepted this long after it was minted.
pub(crate) const CHALLENGE_LIFETIME: Duration = Duration::from_secs(300);
/// At most this many challenges are remembered (the oldest go first).
const MAX_CHALLENGES: usize = 10_000;
/// A PoP `jti` is remembered this long: PoPs outside the `iat` leeway
/// (±300 s) are refused anyway.
const JTI_MEMORY: Duration = Duration::from_secs(600);
/// At most this many PoP `jti`s are remembered (the oldest go first).
const MAX_JTIS: usize = 100_000;
/// Longer attestation or PoP headers are refused unread.
const MAX_JWT_LEN: usize = 16 * 1024;
/// Longer `jti`s are refused (bounded memory).
const MAX_JTI_LEN: usize = 256;

/// The stats counter of challenges handed out: challenge endpoint answers
/// and the headers of `use_attestation_challenge` answers.
pub(crate) const CHALLENGES_ISSUED: &str = "attestation_challenges_issued";
/// The stats counter of refused client attestations (every error code).
pub(crate) const REJECTED: &str = "attestation_rejected";

/// The trusted wallet provider: a P-256 key made at start that signs
/// wallet attestations.
pub(crate) struct WalletProvider {
    key: SigningKey,
    /// The attestations' `iss`: `<base URL>/wallet-provider`.
    pub iss: String,
}

impl WalletProvider {
    pub fn generate(iss: String) -> Self {
        WalletProvider {
            key: SigningKey::random(&mut rand::rngs::OsRng),
            iss,
        }
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `y`).
    pub fn public_jwk(&self) -> Value {
        let public = p256::PublicKey::from(self.key.verifying_key());
        serde_json::from_str(&public.to_jwk_string()).unwrap_or_else(|_| json!({}))
    }

    /// A wallet attestation for `client_id`'s instance key `instance_jwk`,
    /// valid for `lifetime` from now.
    pub fn issue(&self, client_id: &str, instance_jwk: &Value, lifetime: Duration) -> String {
        let iat = now_secs();
        let exp = iat.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
        let header = json!({ "typ": ATTESTATION_TYP, "alg": "ES256" });
        let payload = json!({
            "iss": self.iss,
            "sub": client_id,
            "iat": iat,
            "exp": exp,
            "cnf": { "jwk": instance_jwk },
        });
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.to_string())
        );
        let signature = crate::es256::sign(&self.key, input.as_bytes());
        format!("{input}.{}", B64.encode(signature.to_bytes()))
    }
}

/// The `typ` of a key attestation (OID4VCI 1.0 appendix D).
pub(crate) const KEY_ATTESTATION_TYP: &str = "key-attestation+jwt";
/// The level the issuer requires for `key_storage` and
/// `user_authentication` (as the EU PID issuers do).
pub(crate) const REQUIRED_LEVEL: &str = "iso_18045_high";

/// Whether the credential issuer wants key attestations (OID4VCI 1.0
/// appendix D) with the proofs of key-bound credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyAttestations {
    /// No key attestations: the `jwt` proof type only, a `key_attestation`
    /// header is ignored, the `attestation` proof type is refused.
    #[default]
    Off,
    /// Every key-bound configuration lists `key_attestations_required`
    /// (`key_storage` and `user_authentication` at `iso_18045_high`) on its
    /// `jwt` proof type and an `attestation` proof type. Every `jwt` proof
    /// must carry a `key_attestation` header of the trusted wallet provider
    /// attesting its key (with the proof's `nonce` when the attestation has
    /// a `nonce`); `attestation` proofs must carry a valid `c_nonce`.
    Required,
    /// As [`KeyAttestations::Required`], and the key attestation of a `jwt`
    /// proof must carry a `nonce` too: the proof's `c_nonce` (unexpired,
    /// unused).
    RequiredWithNonce,
}

/// A deliberate defect of a key attestation made by
/// [`crate::RunningIssuer::issue_key_attestation_with`] or `POST
/// /test/key-attestation` (`"fault"`), to check that the issuer (or a
/// wallet) refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAttestationFault {
    /// `exp` in the past (`"expired"`).
    Expired,
    /// Signed by a fresh key, not the trusted wallet provider's (the `iss`
    /// is still the trusted provider's) (`"unknown-provider"`).
    UnknownProvider,
    /// No `exp` claim (`"no-exp"`).
    NoExp,
}

impl KeyAttestationFault {
    /// Every fault.
    pub const ALL: [KeyAttestationFault; 3] = [
        KeyAttestationFault::Expired,
        KeyAttestationFault::UnknownProvider,
        KeyAttestationFault::NoExp,
    ];

    /// The kebab-case name `POST /test/key-attestation` takes.
    pub fn name(self) -> &'static str {
        match self {
            KeyAttestationFault::Expired => "expired",
            KeyAttestationFault::UnknownProvider => "unknown-provider",
            KeyAttestationFault::NoExp => "no-exp",
        }
    }

    /// Parses a kebab-case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// How [`crate::RunningIssuer::issue_key_attestation_with`] makes a key
/// attestation. The default is what the issuer accepts: both levels
/// `["iso_18045_high"]`, no fault, valid for an hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttestationOptions {
    /// The `key_storage` claim (default `["iso_18045_high"]`; the issuer
    /// wants `iso_18045_high` among them).
    pub key_storage: Vec<String>,
    /// The `user_authentication` claim (default `["iso_18045_high"]`; the
    /// issuer wants `iso_18045_high` among them).
    pub user_authentication: Vec<String>,
    /// A deliberate defect, if any.
    pub fault: Option<KeyAttestationFault>,
    /// `exp` - `iat` (default one hour). With
    /// [`KeyAttestationFault::Expired`] the attestation ended a minute ago
    /// after this lifetime.
    pub lifetime: Duration,
}

impl Default for KeyAttestationOptions {
    fn default() -> Self {
        KeyAttestationOptions {
            key_storage: vec![REQUIRED_LEVEL.to_string()],
            user_authentication: vec![REQUIRED_LEVEL.to_string()],
            fault: None,
            lifetime: Duration::from_secs(3600),
        }
    }
}

/// A key attestation that passed the checks that need no memory: signed by
/// the trusted wallet provider, not expired, at the required levels.
#[derive(Debug, Clone)]
pub(crate) struct CheckedKeyAttestation {
    /// `attested_keys`, as sent (`None` when it is not an array).
    pub attested_keys: Option<Vec<Value>>,
    /// `nonce`, when it is a string.
    pub nonce: Option<String>,
}

/// Whether two JWKs name the same P-256 (or other EC) key.
fn same_key(a: &Value, b: &Value) -> bool {
    ["kty", "crv", "x", "y"]
        .iter()
        .all(|m| a.get(*m).is_some() && a.get(*m) == b.get(*m))
}

impl WalletProvider {
    /// A key attestation of `keys` (held at `iso_18045_high` for storage and
    /// user authentication), with `nonce` when given, valid for `lifetime`.
    pub fn issue_key_attestation(
        &self,
        keys: &[Value],
        nonce: Option<&str>,
        lifetime: Duration,
    ) -> String {
        self.issue_key_attestation_with(
            keys,
            nonce,
            &KeyAttestationOptions {
                lifetime,
                ..KeyAttestationOptions::default()
            },
        )
    }

    /// A key attestation of `keys`, with `nonce` when given, as `options`
    /// say (levels, lifetime, a deliberate defect).
    pub fn issue_key_attestation_with(
        &self,
        keys: &[Value],
        nonce: Option<&str>,
        options: &KeyAttestationOptions,
    ) -> String {
        let lifetime = i64::try_from(options.lifetime.as_secs()).unwrap_or(i64::MAX);
        let now = now_secs();
        let (iat, exp) = match options.fault {
            // Ended a minute ago.
            Some(KeyAttestationFault::Expired) => {
                let exp = now.saturating_sub(60);
                (exp.saturating_sub(lifetime), Some(exp))
            }
            Some(KeyAttestationFault::NoExp) => (now, None),
            _ => (now, Some(now.saturating_add(lifetime))),
        };
        let header = json!({ "typ": KEY_ATTESTATION_TYP, "alg": "ES256" });
        let mut payload = json!({
            "iss": self.iss,
            "iat": iat,
            "attested_keys": keys,
            "key_storage": options.key_storage,
            "user_authentication": options.user_authentication,
        });
        if let Some(exp) = exp {
            payload["exp"] = json!(exp);
        }
        if let Some(n) = nonce {
            payload["nonce"] = json!(n);
        }
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.to_string())
        );
        let key = match options.fault {
            Some(KeyAttestationFault::UnknownProvider) => {
                SigningKey::random(&mut rand::rngs::OsRng)
            }
            _ => self.key.clone(),
        };
        let signature = crate::es256::sign(&key, input.as_bytes());
        format!("{input}.{}", B64.encode(signature.to_bytes()))
    }

    /// The checks of a key attestation that need no memory: `typ`
    /// `key-attestation+jwt`, ES256, signed by this provider (else "unknown
    /// wallet provider"), an `exp` in the future, and `key_storage` and
    /// `user_authentication` that include `iso_18045_high`. Errors are
    /// descriptions starting with `key attestation:`.
    pub fn verify_key_attestation(&self, jwt: &str) -> Result<CheckedKeyAttestation, String> {
        if jwt.len() > MAX_JWT_LEN {
            return Err("key attestation: too long".into());
        }
        let payload = verify_jws_by(
            jwt.trim(),
            KEY_ATTESTATION_TYP,
            self.verifying_key(),
            "the trusted wallet provider's key",
        )
        .map_err(|e| {
            if e.starts_with("the signature does not verify") {
                format!("key attestation: unknown wallet provider: {e}")
            } else {
                format!("key attestation: {e}")
            }
        })?;
        let Some(exp) = payload.get("exp").and_then(Value::as_i64) else {
            return Err("key attestation: it has no exp".into());
        };
        if exp <= now_secs() {
            return Err(format!("key attestation: expired (exp {exp})"));
        }
        for level in ["key_storage", "user_authentication"] {
            let levels = payload.get(level);
            let ok = levels
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().any(|v| v == REQUIRED_LEVEL));
            if !ok {
                let given = levels.map_or_else(|| "none".to_string(), Value::to_string);
                return Err(format!(
                    "key attestation: {level} level too low ({given}; {REQUIRED_LEVEL} is \
                     required)"
                ));
            }
        }
        Ok(CheckedKeyAttestation {
            attested_keys: payload
                .get("attested_keys")
                .and_then(Value::as_array)
                .cloned(),
            nonce: payload
                .get("nonce")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// Checks a `jwt` proof's key attestation: [`Self::verify_key_attestation`],
    /// `holder_jwk` among `attested_keys`, and the attestation's `nonce`:
    /// when it has one it must be the proof's `nonce` (when the proof has
    /// one); with `nonce_required` it must have one.
    pub fn check_key_attestation(
        &self,
        jwt: &str,
        holder_jwk: &Value,
        proof_nonce: Option<&str>,
        nonce_required: bool,
    ) -> Result<(), String> {
        let checked = self.verify_key_attestation(jwt)?;
        let attested = checked
            .attested_keys
            .as_ref()
            .is_some_and(|keys| keys.iter().any(|k| same_key(k, holder_jwk)));
        if !attested {
            return Err(
                "key attestation: the proof's key is not attested (not among attested_keys)".into(),
            );
        }
        match (checked.nonce.as_deref(), proof_nonce) {
            (None, _) if nonce_required => Err(
                "key attestation: wrong nonce: it has none, and this issuer wants its c_nonce \
                 (the proof's nonce) in key attestations"
                    .into(),
            ),
            (Some(attested), Some(nonce)) if attested != nonce => {
                Err("key attestation: wrong nonce: it is not the proof's c_nonce".into())
            }
            _ => Ok(()),
        }
    }
}

/// Why a client attestation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// `invalid_client`, with a description.
    InvalidClient(String),
    /// `use_fresh_attestation`: the attestation has expired.
    UseFreshAttestation(String),
    /// `use_attestation_challenge`: the PoP lacks a valid challenge.
    UseChallenge(String),
}

fn invalid(description: impl Into<String>) -> Rejection {
    Rejection::InvalidClient(description.into())
}

/// What the request must match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    /// The authorization server's issuer identifier (the PoP's `aud`).
    pub audience: &'a str,
    /// The `client_id` form parameters of the request (each must be the
    /// attestation's `sub`).
    pub client_ids: &'a [&'a str],
}

/// An attestation and PoP that passed the checks that need no memory.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The attestation's `sub`: the authenticated `client_id`.
    pub client_id: String,
    pub jti: String,
    pub challenge: Option<String>,
}

/// Checks a wallet attestation and its PoP without the server's memory.
///
/// Attestation: `typ` `oauth-client-attestation+jwt`, ES256, signed by the
/// trusted wallet provider, `iss` and `sub` strings, `exp` in the future
/// (else `use_fresh_attestation`), `cnf.jwk` a public P-256 key. PoP: `typ`
/// `oauth-client-attestation-pop+jwt`, ES256, signed by `cnf.jwk`, `iss` =
/// the attestation's `sub`, `aud` = the AS issuer identifier, a `jti`, `iat`
/// within ±300 s. Every `client_id` parameter must be the `sub`.
pub(crate) fn check(
    provider: &VerifyingKey,
    attestation: &str,
    pop: &str,
    expected: &Expected,
) -> Result<Checked, Rejection> {
    if attestation.len() > MAX_JWT_LEN {
        return Err(invalid("the client attestation is too long"));
    }
    if pop.len() > MAX_JWT_LEN {
        return Err(invalid("the client attestation PoP is too long"));
    }
    let claims = verify_jws_by(
        attestation.trim(),
        ATTESTATION_TYP,
        provider,
        "the trusted wallet provider's key",
    )
    .map_err(|e| invalid(format!("client attestation: {e}")))?;
    let string = |payload: &Value, name: &str| -> Option<String> {
        payload
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if string(&claims, "iss").is_none() {
        return Err(invalid("the client attestation has no iss"));
    }
    let Some(sub) = string(&claims, "sub") else {
        return Err(invalid("the client attestation has no sub (the client_id)"));
    };
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(invalid("the client attestation has no exp"));
    };
    if exp <= now_secs() {
        return Err(Rejection::UseFreshAttestation(
            "the client attestation has expired: get a fresh one from the wallet provider".into(),
        ));
    }
    let jwk = claims
        .get("cnf")
        .and_then(|c| c.get("jwk"))
        .filter(|j| j.is_object())
        .ok_or_else(|| invalid("the client attestation has no cnf.jwk"))?;
    if jwk.get("d").is_some() {
        return Err(invalid(
            "the client attestation's cnf.jwk contains a private key",
        ));
    }
    let instance = public_key(jwk)
        .ok_or_else(|| invalid("the client attestation's cnf.jwk is not a P-256 public key"))?;

    let proof = verify_jws_by(
        pop.trim(),
        POP_TYP,
        &VerifyingKey::from(instance),
        "the attestation's cnf.jwk",
    )
    .map_err(|e| invalid(format!("client attestation PoP: {e}")))?;
    if string(&proof, "iss").as_deref() != Some(sub.as_str()) {
        return Err(invalid(
            "the client attestation PoP's iss must be the attestation's sub",
        ));
    }
    let aud_ok = match proof.get("aud") {
        Some(Value::String(a)) => a == expected.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid(format!(
            "the client attestation PoP's aud must be the authorization server's issuer \
             identifier {}",
            expected.audience
        )));
    }
    let Some(jti) = string(&proof, "jti") else {
        return Err(invalid("the client attestation PoP has no jti"));
    };
    if jti.len() > MAX_JTI_LEN {
        return Err(invalid("the client attestation PoP's jti is too long"));
    }
    check_iat(&proof).map_err(|e| invalid(format!("client attestation PoP: {e}")))?;
    if expected.client_ids.iter().any(|c| *c != sub) {
        return Err(invalid(
            "client_id differs from the client attestation's sub",
        ));
    }
    Ok(Checked {
        client_id: sub,
        jti,
        challenge: proof
            .get("challenge")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The authorization server's attestation memory: challenges it minted
/// (single use) and PoP `jti`s seen.
#[derive(Debug, Default)]
pub(crate) struct AttestationState {
    challenges: Recent,
    jtis: Recent,
}

impl AttestationState {
    /// A fresh challenge, accepted once within five minutes.
    pub fn new_challenge(&mut self) -> String {
        let challenge = random_id(16);
        self.challenges
            .insert(&challenge, CHALLENGE_LIFETIME, MAX_CHALLENGES);
        challenge
    }

    /// Every check: [`check`], then a `jti` not seen before, then (when
    /// `challenges` are on) a challenge this server minted, unused and
    /// unexpired. Only an accepted PoP uses up its challenge and its `jti`.
    /// The authenticated `client_id` (the attestation's `sub`).
    pub fn verify(
        &mut self,
        challenges: bool,
        provider: &VerifyingKey,
        attestation: &str,
        pop: &str,
        expected: &Expected,
    ) -> Result<String, Rejection> {
        let checked = check(provider, attestation, pop, expected)?;
        if self.jtis.contains(&checked.jti, JTI_MEMORY, MAX_JTIS) {
            return Err(invalid(
                "the client attestation PoP was used before (jti replay)",
            ));
        }
        if challenges {
            let Some(challenge) = checked.challenge.as_deref() else {
                return Err(Rejection::UseChallenge(
                    "this server requires a challenge in the client attestation PoP: use the \
                     OAuth-Client-Attestation-Challenge header's"
                        .into(),
                ));
            };
            if !self
                .challenges
                .take(challenge, CHALLENGE_LIFETIME, MAX_CHALLENGES)
            {
                return Err(Rejection::UseChallenge(
                    "the client attestation PoP's challenge is unknown, used or expired: use \
                     the OAuth-Client-Attestation-Challenge header's"
                        .into(),
                ));
            }
        }
        self.jtis.insert(&checked.jti, JTI_MEMORY, MAX_JTIS);
        Ok(checked.client_id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::credential::tests::{holder, proof};
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::Signature;

    const AS: &str = "http://127.0.0.1:9/tenant";

    /// A PoP by `key` for client `client_id` at `aud`, with `challenge`.
    pub(crate) fn pop(
        key: &SigningKey,
        client_id: &str,
        aud: &str,
        challenge: Option<&str>,
    ) -> String {
        let mut payload = json!({
            "iss": client_id, "aud": aud, "jti": random_id(12), "iat": now_secs(),
        });
        if let Some(c) = challenge {
            payload["challenge"] = json!(c);
        }
        proof(key, json!({"typ": POP_TYP, "alg": "ES256"}), payload)
    }

    fn rejected(result: Result<String, Rejection>, needle: &str) {
        match result {
            Err(Rejection::InvalidClient(d)) => assert!(d.contains(needle), "{d}"),
            other => panic!("expected invalid_client ({needle}), got {other:?}"),
        }
    }

    #[test]
    fn a_good_attestation_passes_once_and_each_defect_is_named() {
        let provider = WalletProvider::generate("http://127.0.0.1:9/wallet-provider".into());
        let vk = *provider.verifying_key();
        let (key, jwk) = holder();
        let attestation = provider.issue("wallet", &jwk, Duration::from_secs(60));
        let mut state = AttestationState::default();
        let expected = Expected {
            audience: AS,
            client_ids: &[],
        };
        let good = pop(&key, "wallet", AS, None);
        assert_eq!(
            state.verify(false, &vk, &attestation, &good, &expected),
            Ok("wallet".to_string())
        );
        rejected(
            state.verify(false, &vk, &attestation, &good, &expected),
            "jti",
        );
        let mut check = |att: &str, p: &str| state.verify(false, &vk, att, p, &expected);

        // The attestation.
        let other_provider = WalletProvider::generate(provider.iss.clone());
        let forged = other_provider.issue("wallet", &jwk, Duration::from_secs(60));
        rejected(
            check(&forged, &pop(&key, "wallet", AS, None)),
            "trusted wallet provider",
        );
        let claims = json!({"iss": "p", "sub": "wallet", "exp": now_secs() + 60,
            "cnf": {"jwk": jwk}});
        let signed = |header: Value, claims: Value| {
            let input = format!(
                "{}.{}",
                B64.encode(header.to_string()),
                B64.encode(claims.to_string())
            );
            let s: Signature = provider.key.sign(input.as_bytes());
            format!("{input}.{}", B64.encode(s.to_bytes()))
        };
        let header = json!({"typ": ATTESTATION_TYP, "alg": "ES256"});
        let with = |name: &str, value: Value| {
            let mut c = claims.clone();
            if value.is_null() {
                c.as_object_mut().unwrap().remove(name);
            } else {
                c[name] = value;
            }
            signed(header.clone(), c)
        };
        assert!(check(
            &signed(header.clone(), claims.clone()),
            &pop(&key, "wallet", AS, None)
        )
        .is_ok());
        rejected(
            check(
                &signed(json!({"typ": "JWT", "alg": "ES256"}), claims.clone()),
                &pop(&key, "wallet", AS, None),
            ),
            "typ",
        );
        let none = format!(
            "{}.{}.",
            B64.encode(json!({"typ": ATTESTATION_TYP, "alg": "none"}).to_string()),
            B64.encode(claims.to_string())
        );
        rejected(check(&none, &pop(&key, "wallet", AS, None)), "alg");
        rejected(
            check(&with("iss", Value::Null), &pop(&key, "wallet", AS, None)),
            "iss",
        );
        rejected(
            check(&with("sub", Value::Null), &pop(&key, "wallet", AS, None)),
            "sub",
        );
        rejected(
            check(&with("exp", Value::Null), &pop(&key, "wallet", AS, None)),
            "exp",
        );
        assert!(matches!(
            check(
                &with("exp", json!(now_secs() - 1)),
                &pop(&key, "wallet", AS, None)
            ),
            Err(Rejection::UseFreshAttestation(_))
        ));
        rejected(
            check(&with("cnf", json!({})), &pop(&key, "wallet", AS, None)),
            "cnf.jwk",
        );
        let mut private = jwk.clone();
        private["d"] = json!(B64.encode(key.to_bytes()));
        rejected(
            check(
                &with("cnf", json!({"jwk": private})),
                &pop(&key, "wallet", AS, None),
            ),
            "private",
        );
        rejected(
            check(
                &with(
                    "cnf",
                    json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AA"}}),
                ),
                &pop(&key, "wallet", AS, None),
            ),
            "P-256",
        );
        rejected(check("a.b", &pop(&key, "wallet", AS, None)), "compact");
        rejected(
            check(&"x".repeat(MAX_JWT_LEN + 1), &pop(&key, "wallet", AS, None)),
            "too long",
        );

        // The PoP.
        let (other, _) = holder();
        rejected(
            check(&attestation, &pop(&other, "wallet", AS, None)),
            "cnf.jwk",
        );
        rejected(check(&attestation, &pop(&key, "someone", AS, None)), "iss");
        rejected(
            check(
                &attestation,
                &pop(&key, "wallet", "http://127.0.0.1:9", None),
            ),
            "aud",
        );
        let payload = |extra: Value| {
            let mut p = json!({"iss": "wallet", "aud": AS, "jti": random_id(8),
                "iat": now_secs()});
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() {
                    p.as_object_mut().unwrap().remove(k);
                } else {
                    p[k] = v.clone();
                }
            }
            p
        };
        let pop_header = json!({"typ": POP_TYP, "alg": "ES256"});
        rejected(
            check(
                &attestation,
                &proof(
                    &key,
                    json!({"typ": "JWT", "alg": "ES256"}),
                    payload(json!({})),
                ),
            ),
            "typ",
        );
        rejected(
            check(
                &attestation,
                &proof(&key, pop_header.clone(), payload(json!({"jti": null}))),
            ),
            "jti",
        );
        for iat in [now_secs() - 3600, now_secs() + 3600] {
            rejected(
                check(
                    &attestation,
                    &proof(&key, pop_header.clone(), payload(json!({"iat": iat}))),
                ),
                "iat",
            );
        }
        // An aud array naming the AS is fine.
        assert!(check(
            &attestation,
            &proof(&key, pop_header.clone(), payload(json!({"aud": ["x", AS]}))),
        )
        .is_ok());
        // client_id parameters must all be the sub.
        let mismatch = Expected {
            audience: AS,
            client_ids: &["wallet", "other"],
        };
        rejected(
            state.verify(
                false,
                &vk,
                &attestation,
                &pop(&key, "wallet", AS, None),
                &mismatch,
            ),
            "client_id",
        );
    }

    #[test]
    fn challenges_are_single_use_and_refusals_keep_the_jti() {
        let provider = WalletProvider::generate("p".into());
        let vk = *provider.verifying_key();
        let (key, jwk) = holder();
        let attestation = provider.issue("wallet", &jwk, Duration::from_secs(60));
        let expected = Expected {
            audience: AS,
            client_ids: &["wallet"],
        };
        let mut state = AttestationState::default();
        let no_challenge = pop(&key, "wallet", AS, None);
        assert!(matches!(
            state.verify(true, &vk, &attestation, &no_challenge, &expected),
            Err(Rejection::UseChallenge(_))
        ));
        assert!(matches!(
            state.verify(
                true,
                &vk,
                &attestation,
                &pop(&key, "wallet", AS, Some("made-up")),
                &expected
            ),
            Err(Rejection::UseChallenge(_))
        ));
        let challenge = state.new_challenge();
        let good = pop(&key, "wallet", AS, Some(&challenge));
        assert!(state
            .verify(true, &vk, &attestation, &good, &expected)
            .is_ok());
        // Used: another PoP with it is challenged; the same PoP is a replay.
        assert!(matches!(
            state.verify(
                true,
                &vk,
                &attestation,
                &pop(&key, "wallet", AS, Some(&challenge)),
                &expected
            ),
            Err(Rejection::UseChallenge(_))
        ));
        rejected(
            state.verify(true, &vk, &attestation, &good, &expected),
            "jti",
        );
        // The PoP refused for its missing challenge did not burn its jti:
        // with challenges off it passes.
        assert!(state
            .verify(false, &vk, &attestation, &no_challenge, &expected)
            .is_ok());
    }

    #[test]
    fn issued_attestations_have_the_agreed_shape() {
        let provider = WalletProvider::generate("http://127.0.0.1:9/wallet-provider".into());
        let (_, jwk) = holder();
        let jwt = provider.issue("client-1", &jwk, Duration::from_secs(90));
        let parts: Vec<Value> = jwt
            .split('.')
            .take(2)
            .map(|p| serde_json::from_slice(&B64.decode(p).unwrap()).unwrap())
            .collect();
        assert_eq!(
            parts[0],
            json!({"typ": "oauth-client-attestation+jwt", "alg": "ES256"})
        );
        let claims = &parts[1];
        assert_eq!(claims["iss"], "http://127.0.0.1:9/wallet-provider");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            90
        );
        assert_eq!(claims["cnf"]["jwk"], jwk);
    }
}
