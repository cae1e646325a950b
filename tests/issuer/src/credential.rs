//! Keys, proof JWT checks and SD-JWT VC issuance.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::state::random_id;

/// How far a proof's `iat` may be from the issuer's clock.
const IAT_LEEWAY_SECS: i64 = 300;

/// The issuer's signing key (P-256, fresh per instance).
pub(crate) struct IssuerKeys {
    key: SigningKey,
    kid: String,
}

impl IssuerKeys {
    pub fn generate() -> Self {
        IssuerKeys {
            key: SigningKey::random(&mut rand::rngs::OsRng),
            kid: random_id(8),
        }
    }

    /// The public key as a JWK with `kid`, `use` and `alg`.
    pub fn public_jwk(&self) -> Value {
        let public = p256::PublicKey::from(self.key.verifying_key());
        let mut jwk: Value =
            serde_json::from_str(&public.to_jwk_string()).unwrap_or_else(|_| json!({}));
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!("ES256");
        jwk
    }

    /// A compact JWS over `header` (with `alg` and `kid` added) and `payload`.
    pub fn sign_jwt(&self, header: Map<String, Value>, payload: &Value) -> String {
        self.signer().sign(header, payload)
    }

    /// Signs with this key and names it by `kid`.
    pub fn signer(&self) -> CredentialSigner<'_> {
        CredentialSigner {
            key: &self.key,
            header: KeyHeader::Kid(&self.kid),
        }
    }

    /// The private key (the test PKI certifies it).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

/// How a JWS header names the signing key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyHeader<'a> {
    /// `kid`.
    Kid(&'a str),
    /// `x5c`: DER certificates, leaf first, each as standard base64 with
    /// padding (RFC 7515, section 4.1.6; not base64url).
    X5c(&'a [Vec<u8>]),
}

/// A key that signs JWTs, and how their header names it.
pub(crate) struct CredentialSigner<'a> {
    pub key: &'a SigningKey,
    pub header: KeyHeader<'a>,
}

impl CredentialSigner<'_> {
    /// A compact ES256 JWS over `header` (with `alg` and `kid` or `x5c`
    /// added) and `payload`.
    pub fn sign(&self, mut header: Map<String, Value>, payload: &Value) -> String {
        header.insert("alg".into(), json!("ES256"));
        match self.header {
            KeyHeader::Kid(kid) => {
                header.insert("kid".into(), json!(kid));
            }
            KeyHeader::X5c(chain) => {
                let chain: Vec<String> = chain.iter().map(|der| STANDARD.encode(der)).collect();
                header.insert("x5c".into(), json!(chain));
            }
        }
        let input = format!(
            "{}.{}",
            B64.encode(Value::Object(header).to_string()),
            B64.encode(payload.to_string())
        );
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(signature.to_bytes()))
    }
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Why a proof was refused: the OAuth error code and a description.
#[derive(Debug)]
pub(crate) struct ProofRejected {
    pub code: &'static str,
    pub description: String,
}

fn rejected(description: impl Into<String>) -> ProofRejected {
    ProofRejected {
        code: "invalid_proof",
        description: description.into(),
    }
}

/// A proof JWT whose form and signature are valid; its nonce is still to be
/// checked against the issuer's memory.
#[derive(Debug)]
pub(crate) struct CheckedProof {
    pub holder_jwk: Value,
    pub nonce: Option<String>,
}

/// A compact JWS whose form, `typ`, ES256 `jwk` header and signature are
/// valid; its claims are still to be checked.
#[derive(Debug)]
pub(crate) struct VerifiedJws {
    pub payload: Value,
    /// The public `jwk` header, as sent.
    pub jwk: Value,
}

/// A compact JWS split up: its `typ` and `alg` (ES256) checked, its
/// signature decoded but not yet verified.
struct ParsedJws<'a> {
    header: Value,
    payload: Value,
    /// `header.payload` as sent: what the signature covers.
    signing_input: &'a str,
    signature: Signature,
}

/// Splits and decodes a compact JWS, checking the header `typ` (equal to
/// `typ`) and `alg` (ES256 only, `none` neither), a 64-byte raw R||S
/// signature and a JSON object payload. `what` names the JWT in errors.
fn parse_jws<'a>(jwt: &'a str, typ: &str, what: &str) -> Result<ParsedJws<'a>, String> {
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("{what} is not a compact JWS"));
    };
    let decode = |part: &str, name: &str| -> Result<Value, String> {
        let bytes = B64
            .decode(part)
            .map_err(|_| format!("{what} {name} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("{what} {name} is not JSON"))
    };
    let header = decode(h, "header")?;
    let payload = decode(p, "payload")?;
    if header.get("typ").and_then(Value::as_str) != Some(typ) {
        return Err(format!("typ must be {typ}"));
    }
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err("alg must be ES256".into());
    }
    let signature = B64
        .decode(s)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or("the signature is not a 64-byte ES256 signature")?;
    if !payload.is_object() {
        return Err(format!("{what} payload is not a JSON object"));
    }
    Ok(ParsedJws {
        header,
        payload,
        signing_input: &jwt[..h.len() + 1 + p.len()],
        signature,
    })
}

/// Verifies a self-signed compact JWS (proof JWTs, DPoP proofs): header
/// `typ` equal to `typ`, `alg` ES256 (nothing else, `none` neither), a
/// public P-256 `jwk` header (no `d`), and an ES256 signature (raw R||S)
/// over `header.payload` by that key. Errors are descriptions.
pub(crate) fn verify_jws(jwt: &str, typ: &str) -> Result<VerifiedJws, String> {
    let parsed = parse_jws(jwt, typ, "proof")?;
    let jwk = parsed
        .header
        .get("jwk")
        .filter(|j| j.is_object())
        .ok_or("the jwk header is missing")?;
    if jwk.get("d").is_some() {
        return Err("the jwk header contains a private key".into());
    }
    let public = public_key(jwk).ok_or("the jwk header is not a P-256 public key")?;
    VerifyingKey::from(public)
        .verify(parsed.signing_input.as_bytes(), &parsed.signature)
        .map_err(|_| "the signature does not verify with the jwk header")?;
    Ok(VerifiedJws {
        jwk: jwk.clone(),
        payload: parsed.payload,
    })
}

/// Verifies a compact JWS signed by a known key (wallet attestations and
/// their proofs of possession): `typ` equal to `typ`, `alg` ES256, and an
/// ES256 signature by `key` (`signer` names it in the error). The payload
/// (a JSON object) is returned.
pub(crate) fn verify_jws_by(
    jwt: &str,
    typ: &str,
    key: &VerifyingKey,
    signer: &str,
) -> Result<Value, String> {
    let parsed = parse_jws(jwt, typ, "JWT")?;
    key.verify(parsed.signing_input.as_bytes(), &parsed.signature)
        .map_err(|_| format!("the signature does not verify with {signer}"))?;
    Ok(parsed.payload)
}

/// The payload's `iat`, when it is within five minutes of the clock.
pub(crate) fn check_iat(payload: &Value) -> Result<i64, String> {
    let iat = payload
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("iat is missing")?;
    if (iat - now_secs()).abs() > IAT_LEEWAY_SECS {
        return Err("iat is too far from the issuer's clock".into());
    }
    Ok(iat)
}

/// Checks an `openid4vci-proof+jwt`: `typ`, ES256, an EC `jwk` header (no
/// private part), the signature, `aud` equal to the issuer identifier, `iat`
/// within five minutes, and `iss` equal to the client id when one is expected.
pub(crate) fn check_proof(
    jwt: &str,
    audience: &str,
    expected_iss: Option<&str>,
) -> Result<CheckedProof, ProofRejected> {
    let VerifiedJws { payload, jwk } = verify_jws(jwt, "openid4vci-proof+jwt").map_err(rejected)?;
    let aud_ok = match payload.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(rejected("aud must be the credential issuer identifier"));
    }
    check_iat(&payload).map_err(rejected)?;
    if let Some(expected) = expected_iss {
        if payload.get("iss").and_then(Value::as_str) != Some(expected) {
            return Err(rejected("iss must be the client_id"));
        }
    }
    Ok(CheckedProof {
        holder_jwk: jwk,
        nonce: payload
            .get("nonce")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// A P-256 public key from a JWK; members other than `kty`, `crv`, `x`, `y`
/// are ignored (p256 refuses unknown members).
pub(crate) fn public_key(jwk: &Value) -> Option<p256::PublicKey> {
    let core: Map<String, Value> = ["kty", "crv", "x", "y"]
        .iter()
        .filter_map(|m| Some((m.to_string(), jwk.get(*m)?.clone())))
        .collect();
    p256::PublicKey::from_jwk_str(&Value::Object(core).to_string()).ok()
}

/// A claim path and its labels `(locale, label)`.
pub(crate) type ClaimLabels = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// A credential configuration the issuer offers.
pub(crate) struct Configuration {
    pub id: &'static str,
    pub vct: &'static str,
    pub scope: &'static str,
    /// Whether the credential is bound to a holder key (proofs required).
    pub bound: bool,
    /// (locale, name, description)
    pub display: &'static [(&'static str, &'static str, &'static str)],
    /// (claim path, [(locale, label)])
    pub claims: &'static [ClaimLabels],
    /// The default claim values.
    pub values: fn() -> Map<String, Value>,
}

fn pid_values() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "given_name": "Erika",
        "family_name": "Mustermann",
        "birthdate": "1964-08-12",
        "address": { "locality": "Berlin", "country": "DE" },
    }) else {
        unreachable!("a literal object")
    };
    map
}

fn membership_values() -> Map<String, Value> {
    let Value::Object(map) = json!({ "member_id": "M-1001", "level": "gold" }) else {
        unreachable!("a literal object")
    };
    map
}

/// Everything this issuer can issue.
pub(crate) const CONFIGURATIONS: &[Configuration] = &[
    Configuration {
        id: "pid_sd_jwt",
        vct: "urn:eudi:pid:1",
        scope: "pid",
        bound: true,
        display: &[
            ("en", "Person ID", "An identity credential for tests"),
            ("de", "Personalausweis", "Ein Identitätsnachweis für Tests"),
        ],
        claims: &[
            (&["given_name"], &[("en", "Given name"), ("de", "Vorname")]),
            (
                &["family_name"],
                &[("en", "Family name"), ("de", "Nachname")],
            ),
            (
                &["birthdate"],
                &[("en", "Date of birth"), ("de", "Geburtsdatum")],
            ),
            (&["address"], &[("en", "Address"), ("de", "Anschrift")]),
            (&["address", "locality"], &[("en", "City"), ("de", "Ort")]),
            (
                &["address", "country"],
                &[("en", "Country"), ("de", "Land")],
            ),
        ],
        values: pid_values,
    },
    Configuration {
        id: "membership_sd_jwt",
        vct: "https://credentials.example/membership",
        scope: "membership",
        bound: false,
        display: &[
            ("en", "Membership card", "Club membership"),
            ("de", "Mitgliedsausweis", "Vereinsmitgliedschaft"),
        ],
        claims: &[
            (
                &["member_id"],
                &[("en", "Member number"), ("de", "Mitgliedsnummer")],
            ),
            (&["level"], &[("en", "Level"), ("de", "Stufe")]),
        ],
        values: membership_values,
    },
];

/// The configuration with this id.
pub(crate) fn configuration(id: &str) -> Option<&'static Configuration> {
    CONFIGURATIONS.iter().find(|c| c.id == id)
}

/// One disclosure: its encoded form and its digest.
fn disclose(name: Option<&str>, value: Value, disclosures: &mut Vec<String>) -> String {
    let salt = random_id(16);
    let array = match name {
        Some(name) => json!([salt, name, value]),
        None => json!([salt, value]),
    };
    let encoded = B64.encode(array.to_string());
    let digest = B64.encode(Sha256::digest(encoded.as_bytes()));
    disclosures.push(encoded);
    digest
}

/// Makes every member of `object` selectively disclosable; nested objects
/// get their own `_sd` arrays (recursive disclosures).
fn conceal(object: Map<String, Value>, disclosures: &mut Vec<String>) -> Map<String, Value> {
    let mut digests = Vec::new();
    for (name, value) in object {
        let value = match value {
            Value::Object(inner) => Value::Object(conceal(inner, disclosures)),
            other => other,
        };
        digests.push(disclose(Some(&name), value, disclosures));
    }
    digests.sort();
    let mut out = Map::new();
    out.insert("_sd".into(), json!(digests));
    out
}

/// Issues a `dc+sd-jwt` credential with every claim selectively disclosable,
/// signed by `signer` (`kid` or `x5c` in the header). `overrides` replace
/// the configuration's default values (claims the configuration does not
/// have are ignored).
pub(crate) fn issue_sd_jwt(
    signer: &CredentialSigner<'_>,
    issuer_id: &str,
    configuration: &Configuration,
    overrides: Option<&Map<String, Value>>,
    holder_jwk: Option<&Value>,
) -> String {
    let mut values = (configuration.values)();
    if let Some(overrides) = overrides {
        for (k, v) in overrides {
            if let Some(slot) = values.get_mut(k) {
                *slot = v.clone();
            }
        }
    }
    let mut disclosures = Vec::new();
    let mut payload = conceal(values, &mut disclosures);
    let now = now_secs();
    payload.insert("iss".into(), json!(issuer_id));
    payload.insert("iat".into(), json!(now));
    payload.insert("exp".into(), json!(now + 365 * 24 * 3600));
    payload.insert("vct".into(), json!(configuration.vct));
    payload.insert("_sd_alg".into(), json!("sha-256"));
    if let Some(jwk) = holder_jwk {
        payload.insert("cnf".into(), json!({ "jwk": jwk }));
    }
    let mut header = Map::new();
    header.insert("typ".into(), json!("dc+sd-jwt"));
    let jwt = signer.sign(header, &Value::Object(payload));
    let mut out = jwt;
    for d in disclosures {
        out.push('~');
        out.push_str(&d);
    }
    out.push('~');
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A compact ES256 JWS over `header` and `payload` (for tests).
    pub(crate) fn proof(key: &SigningKey, header: Value, payload: Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.to_string())
        );
        let sig: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.to_bytes()))
    }

    /// A fresh P-256 key and its public JWK (for tests).
    pub(crate) fn holder() -> (SigningKey, Value) {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let jwk: Value =
            serde_json::from_str(&p256::PublicKey::from(key.verifying_key()).to_jwk_string())
                .unwrap();
        (key, jwk)
    }

    #[test]
    fn a_good_proof_passes_and_each_defect_is_named() {
        let (key, jwk) = holder();
        let header = json!({"typ":"openid4vci-proof+jwt","alg":"ES256","jwk":jwk});
        let payload = json!({"aud":"https://i.example","iat":now_secs(),"nonce":"n1"});
        let good = proof(&key, header.clone(), payload.clone());
        let checked = check_proof(&good, "https://i.example", None).unwrap();
        assert_eq!(checked.nonce.as_deref(), Some("n1"));
        assert_eq!(checked.holder_jwk, jwk);

        let err = check_proof(&good, "https://other.example", None).unwrap_err();
        assert!(err.description.contains("aud"), "{err:?}");

        let mut wrong_typ = header.clone();
        wrong_typ["typ"] = json!("JWT");
        let err = check_proof(
            &proof(&key, wrong_typ, payload.clone()),
            "https://i.example",
            None,
        )
        .unwrap_err();
        assert!(err.description.contains("typ"), "{err:?}");

        let (other, _) = holder();
        let forged = proof(&other, header.clone(), payload.clone());
        let err = check_proof(&forged, "https://i.example", None).unwrap_err();
        assert!(err.description.contains("signature"), "{err:?}");

        let mut old = payload.clone();
        old["iat"] = json!(now_secs() - 3600);
        let err =
            check_proof(&proof(&key, header.clone(), old), "https://i.example", None).unwrap_err();
        assert!(err.description.contains("iat"), "{err:?}");

        let err = check_proof(&good, "https://i.example", Some("wallet")).unwrap_err();
        assert!(err.description.contains("iss"), "{err:?}");
        assert!(check_proof("a.b", "x", None).is_err());
    }

    #[test]
    fn issued_sd_jwt_digests_match_its_disclosures() {
        let keys = IssuerKeys::generate();
        let pid = configuration("pid_sd_jwt").unwrap();
        let sd = issue_sd_jwt(&keys.signer(), "https://i.example", pid, None, None);
        assert!(sd.ends_with('~'));
        let mut parts = sd.trim_end_matches('~').split('~');
        let jwt = parts.next().unwrap();
        let disclosures: Vec<&str> = parts.collect();
        // 4 top-level claims + 2 address members.
        assert_eq!(disclosures.len(), 6);
        let payload: Value =
            serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(payload["_sd"].as_array().unwrap().len(), 4);
        assert_eq!(payload["vct"], "urn:eudi:pid:1");
        assert!(payload.get("cnf").is_none());
        // Every disclosure's digest is listed once: in the payload or in the
        // address disclosure's nested `_sd`.
        let mut listed = payload.to_string();
        for d in &disclosures {
            listed.push_str(&String::from_utf8(B64.decode(d).unwrap()).unwrap());
        }
        for d in &disclosures {
            let digest = B64.encode(Sha256::digest(d.as_bytes()));
            assert_eq!(listed.matches(&digest).count(), 1, "{d}");
        }
        // The signature verifies with the published key.
        let jwk = keys.public_jwk();
        let public = public_key(&jwk).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let sig = Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
        VerifyingKey::from(public)
            .verify(input.as_bytes(), &sig)
            .unwrap();
    }
}
