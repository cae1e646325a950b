//! OAuth 2.0 Attestation-Based Client Authentication (as HAIP profiles it):
//! the app's wallet provider issues a Wallet Attestation JWT naming the
//! wallet's `client_id` (`sub`) and an instance key (`cnf.jwk`); the SDK
//! sends it with a fresh proof of possession of that key
//! (`OAuth-Client-Attestation` and `OAuth-Client-Attestation-PoP` headers) to
//! the authorization server's PAR and token endpoints, with the server's
//! challenge when it asks for one.

use super::{b64, CompactJws, Signer};
use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::sync::Arc;

/// The `typ` of a Wallet Attestation.
pub(crate) const ATTESTATION_TYP: &str = "oauth-client-attestation+jwt";
/// The `typ` of its proof of possession.
pub(crate) const ATTESTATION_POP_TYP: &str = "oauth-client-attestation-pop+jwt";
/// The request header carrying the attestation.
pub(crate) const ATTESTATION_HEADER: &str = "OAuth-Client-Attestation";
/// The request header carrying the proof of possession.
pub(crate) const ATTESTATION_POP_HEADER: &str = "OAuth-Client-Attestation-PoP";
/// The response header carrying a fresh challenge.
pub(crate) const CHALLENGE_HEADER: &str = "OAuth-Client-Attestation-Challenge";
/// The longest challenge kept; a longer one is ignored.
const MAX_CHALLENGE_CHARS: usize = 512;

/// A Wallet Attestation and the instance key it names. Give it to
/// [`crate::WalletBuilder::client_attestation`]. Its `Debug` shows only the
/// client id; the attestation never appears in logs or errors.
#[derive(Clone)]
pub struct ClientAttestation {
    jwt: String,
    client_id: String,
    expires_at: Option<u64>,
    signer: Arc<dyn Signer>,
}

impl std::fmt::Debug for ClientAttestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAttestation")
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl ClientAttestation {
    /// Takes the attestation JWT the wallet provider issued and the key it
    /// attests (`cnf.jwk`), e.g. a hardware key. Checks the shape: `typ`,
    /// a `sub` (the wallet's `client_id`), and `cnf.jwk` equal to the
    /// signer's public key. (The authorization server verifies the
    /// provider's signature; the wallet has no reason to.)
    pub fn new(attestation_jwt: impl Into<String>, signer: Arc<dyn Signer>) -> Result<Self> {
        let jwt = attestation_jwt.into();
        let bad = |problem: &str| Error::Config(format!("wallet attestation: {problem}"));
        let jws = CompactJws::parse(&jwt).map_err(|e| bad(&e))?;
        if jws.header.get("typ").and_then(Value::as_str) != Some(ATTESTATION_TYP) {
            return Err(bad(&format!("typ must be {ATTESTATION_TYP}")));
        }
        let client_id = jws
            .payload
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no sub (the wallet's client_id)"))?
            .to_string();
        let cnf = jws
            .payload
            .get("cnf")
            .and_then(|c| c.get("jwk"))
            .ok_or_else(|| bad("no cnf.jwk"))?;
        if !super::same_public_key(cnf, &signer.public_jwk()) {
            return Err(bad("cnf.jwk is not the signer's public key"));
        }
        let expires_at = jws.payload.get("exp").and_then(Value::as_u64);
        Ok(Self {
            jwt,
            client_id,
            expires_at,
            signer,
        })
    }

    /// The wallet's `client_id`: the attestation's `sub`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether the attestation has expired at `now` (ask the wallet provider
    /// for a fresh one).
    pub fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|exp| now >= exp)
    }

    /// The attestation JWT, for the request header.
    pub(crate) fn jwt(&self) -> &str {
        &self.jwt
    }

    /// A fresh proof of possession for `audience` (the authorization
    /// server's issuer identifier), with the server's challenge if any.
    pub(crate) fn pop(
        &self,
        audience: &str,
        challenge: Option<&str>,
        now: u64,
        random: &dyn super::RandomSource,
    ) -> Result<String> {
        let mut claims = json!({
            "iss": self.client_id,
            "aud": audience,
            "jti": super::random_token(random, 16),
            "iat": now,
        });
        if let Some(c) = challenge {
            claims["challenge"] = json!(c);
        }
        let header = json!({"typ": ATTESTATION_POP_TYP, "alg": self.signer.algorithm().as_str()});
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature = self.signer.sign(input.as_bytes()).map_err(|e| {
            Error::proof(
                crate::error::ProofErrorKind::SignerFailed,
                format!("wallet attestation PoP: {e}"),
            )
        })?;
        Ok(format!("{input}.{}", b64(signature)))
    }
}

/// A challenge from a response header or the challenge endpoint, if it is a
/// sane token (printable ASCII, bounded).
pub(crate) fn valid_challenge(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()
        && value.len() <= MAX_CHALLENGE_CHARS
        && value.bytes().all(|b| (0x21..=0x7e).contains(&b)))
    .then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{verify_es256, SoftwareSigner};

    fn attestation_for(jwk: &Value, typ: &str) -> String {
        let header = json!({"typ": typ, "alg": "ES256"});
        let claims = json!({"iss": "https://provider.example", "sub": "wallet-1", "exp": 2_000_000_000u64, "cnf": {"jwk": jwk}});
        format!(
            "{}.{}.sig",
            b64(header.to_string()),
            b64(claims.to_string())
        )
    }

    #[test]
    fn pop_shape_and_attestation_checks() {
        let key = Arc::new(SoftwareSigner::generate());
        let attestation = ClientAttestation::new(
            attestation_for(&key.public_jwk(), ATTESTATION_TYP),
            key.clone(),
        )
        .unwrap();
        assert_eq!(attestation.client_id(), "wallet-1");
        assert!(!attestation.expired(1_900_000_000));
        assert!(attestation.expired(2_000_000_000));
        assert!(!format!("{attestation:?}").contains(attestation.jwt()));

        let pop = attestation
            .pop(
                "https://as.example",
                Some("ch-1"),
                1_767_225_600,
                &crate::jose::OsRandom,
            )
            .unwrap();
        let jws = CompactJws::parse(&pop).unwrap();
        assert_eq!(jws.header["typ"], ATTESTATION_POP_TYP);
        assert_eq!(jws.payload["iss"], "wallet-1");
        assert_eq!(jws.payload["aud"], "https://as.example");
        assert_eq!(jws.payload["challenge"], "ch-1");
        verify_es256(
            &key.public_jwk(),
            jws.signing_input.as_bytes(),
            &jws.signature,
        )
        .unwrap();
        let again = attestation
            .pop("https://as.example", None, 1, &crate::jose::OsRandom)
            .unwrap();
        let again = CompactJws::parse(&again).unwrap();
        assert_ne!(again.payload["jti"], jws.payload["jti"]);
        assert!(again.payload.get("challenge").is_none());

        // Another key, or a wrong typ: refused when configured.
        let other = Arc::new(SoftwareSigner::generate());
        let err =
            ClientAttestation::new(attestation_for(&key.public_jwk(), ATTESTATION_TYP), other)
                .unwrap_err();
        assert!(err.to_string().contains("cnf.jwk"), "{err}");
        let err =
            ClientAttestation::new(attestation_for(&key.public_jwk(), "JWT"), key).unwrap_err();
        assert!(err.to_string().contains("typ"), "{err}");

        assert_eq!(valid_challenge(" abc "), Some("abc".into()));
        assert_eq!(valid_challenge("a b"), None);
        assert_eq!(valid_challenge(&"x".repeat(600)), None);
    }
}
