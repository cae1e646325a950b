//! Keys, proof JWT checks, the credential configurations, and SD-JWT VC
//! and JWT VC (`jwt_vc_json`) issuance (mdocs: [`crate::mdoc`]).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::did::{did_jwk, CredentialKey};
use crate::mdoc;
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
            key: SignKey::P256(&self.key),
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

/// A private key that signs credentials: P-256 (`ES256`) or Ed25519
/// (`EdDSA`).
#[derive(Clone, Copy)]
pub(crate) enum SignKey<'a> {
    P256(&'a SigningKey),
    Ed25519(&'a ed25519_dalek::SigningKey),
}

impl SignKey<'_> {
    /// The JWS `alg`.
    pub fn alg(self) -> &'static str {
        match self {
            SignKey::P256(_) => "ES256",
            SignKey::Ed25519(_) => "EdDSA",
        }
    }

    /// The raw JWS signature over `input` (R||S for ES256, 64 bytes either
    /// way).
    pub fn sign(self, input: &[u8]) -> Vec<u8> {
        match self {
            SignKey::P256(key) => crate::es256::sign(key, input).to_bytes().to_vec(),
            SignKey::Ed25519(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(input).to_bytes().to_vec()
            }
        }
    }
}

/// An owned credential signing key of either type.
pub(crate) enum KeyPair {
    P256(SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl KeyPair {
    /// A fresh key of `kind`.
    pub fn generate(kind: CredentialKey) -> Self {
        match kind {
            CredentialKey::P256 => KeyPair::P256(SigningKey::random(&mut rand::rngs::OsRng)),
            CredentialKey::Ed25519 => {
                KeyPair::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
            }
        }
    }

    pub fn kind(&self) -> CredentialKey {
        match self {
            KeyPair::P256(_) => CredentialKey::P256,
            KeyPair::Ed25519(_) => CredentialKey::Ed25519,
        }
    }

    pub fn sign_key(&self) -> SignKey<'_> {
        match self {
            KeyPair::P256(key) => SignKey::P256(key),
            KeyPair::Ed25519(key) => SignKey::Ed25519(key),
        }
    }

    /// The public key as a JWK with only its public members, in
    /// lexicographic order (the RFC 7638 form): `{"crv":"P-256","kty":"EC",
    /// "x","y"}` or `{"crv":"Ed25519","kty":"OKP","x"}`.
    pub fn public_jwk(&self) -> Value {
        match self {
            KeyPair::P256(key) => {
                let jwk: Value = serde_json::from_str(
                    &p256::PublicKey::from(key.verifying_key()).to_jwk_string(),
                )
                .unwrap_or_else(|_| json!({}));
                json!({"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]})
            }
            KeyPair::Ed25519(key) => json!({
                "crv": "Ed25519",
                "kty": "OKP",
                "x": B64.encode(key.verifying_key().as_bytes()),
            }),
        }
    }
}

/// A key that signs JWTs, and how their header names it.
pub(crate) struct CredentialSigner<'a> {
    pub key: SignKey<'a>,
    pub header: KeyHeader<'a>,
}

impl CredentialSigner<'_> {
    /// A compact JWS (`ES256` or `EdDSA`, as the key is) over `header`
    /// (with `alg` and `kid` or `x5c` added) and `payload`.
    pub fn sign(&self, mut header: Map<String, Value>, payload: &Value) -> String {
        header.insert("alg".into(), json!(self.key.alg()));
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
        let signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(signature))
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
    if !crate::es256::verify(
        &VerifyingKey::from(public),
        parsed.signing_input.as_bytes(),
        &parsed.signature,
    ) {
        return Err("the signature does not verify with the jwk header".into());
    }
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
    if !crate::es256::verify(key, parsed.signing_input.as_bytes(), &parsed.signature) {
        return Err(format!("the signature does not verify with {signer}"));
    }
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

/// A configuration's credential format and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `dc+sd-jwt` (drafts 13 and 11: `vc+sd-jwt`) of this `vct`.
    SdJwt { vct: &'static str },
    /// `jwt_vc_json` (a W3C VC Data Model 1.1 JWT) of these
    /// `credential_definition.type`s.
    JwtVcJson { types: &'static [&'static str] },
    /// `mso_mdoc` (an ISO/IEC 18013-5 `IssuerSigned`) of this `doctype`,
    /// its data elements in one namespace.
    MsoMdoc {
        doctype: &'static str,
        namespace: &'static str,
    },
}

/// A credential configuration the issuer offers.
pub(crate) struct Configuration {
    pub id: &'static str,
    pub format: Format,
    pub scope: &'static str,
    /// Whether the credential is bound to a holder key (proofs required).
    pub bound: bool,
    /// (locale, name, description)
    pub display: &'static [(&'static str, &'static str, &'static str)],
    /// (claim path, [(locale, label)])
    pub claims: &'static [ClaimLabels],
    /// The default claim values (mdocs: a JSON view of the data elements,
    /// which [`crate::mdoc`] keeps as CBOR).
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

fn pid_jwt_vc_values() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "given_name": "Erika",
        "family_name": "Mustermann",
        "birthdate": "1964-08-12",
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
        format: Format::SdJwt {
            vct: "urn:eudi:pid:1",
        },
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
        format: Format::SdJwt {
            vct: "https://credentials.example/membership",
        },
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
    Configuration {
        id: "pid_jwt_vc",
        format: Format::JwtVcJson {
            types: &["VerifiableCredential", "PersonIdentificationData"],
        },
        scope: "pid_jwt_vc",
        bound: true,
        display: &[
            (
                "en",
                "Person ID (JWT VC)",
                "An identity credential as a W3C VC JWT",
            ),
            (
                "de",
                "Personalausweis (JWT VC)",
                "Ein Identitätsnachweis als W3C-VC-JWT",
            ),
        ],
        claims: &[
            (
                &["credentialSubject", "given_name"],
                &[("en", "Given name"), ("de", "Vorname")],
            ),
            (
                &["credentialSubject", "family_name"],
                &[("en", "Family name"), ("de", "Nachname")],
            ),
            (
                &["credentialSubject", "birthdate"],
                &[("en", "Date of birth"), ("de", "Geburtsdatum")],
            ),
        ],
        values: pid_jwt_vc_values,
    },
    Configuration {
        id: "pid_mdoc",
        format: Format::MsoMdoc {
            doctype: mdoc::PID_DOCTYPE,
            namespace: mdoc::PID_NAMESPACE,
        },
        scope: "pid_mdoc",
        bound: true,
        display: &[
            (
                "en",
                "Person ID (mdoc)",
                "An identity credential as an ISO mdoc",
            ),
            (
                "de",
                "Personalausweis (mdoc)",
                "Ein Identitätsnachweis als ISO-mdoc",
            ),
        ],
        claims: &[
            (
                &[mdoc::PID_NAMESPACE, "family_name"],
                &[("en", "Family name"), ("de", "Nachname")],
            ),
            (
                &[mdoc::PID_NAMESPACE, "given_name"],
                &[("en", "Given name"), ("de", "Vorname")],
            ),
            (
                &[mdoc::PID_NAMESPACE, "birth_date"],
                &[("en", "Date of birth"), ("de", "Geburtsdatum")],
            ),
            (
                &[mdoc::PID_NAMESPACE, "age_over_18"],
                &[("en", "Over 18"), ("de", "Über 18")],
            ),
            (
                &[mdoc::PID_NAMESPACE, "issuing_country"],
                &[("en", "Issuing country"), ("de", "Ausstellungsland")],
            ),
            (
                &[mdoc::PID_NAMESPACE, "issuing_authority"],
                &[("en", "Issuing authority"), ("de", "Ausstellungsbehörde")],
            ),
            (
                &[mdoc::PID_NAMESPACE, "issuance_date"],
                &[("en", "Date of issue"), ("de", "Ausstellungsdatum")],
            ),
            (
                &[mdoc::PID_NAMESPACE, "expiry_date"],
                &[("en", "Date of expiry"), ("de", "Ablaufdatum")],
            ),
            (
                &[mdoc::PID_NAMESPACE, "nationality"],
                &[("en", "Nationality"), ("de", "Staatsangehörigkeit")],
            ),
        ],
        values: mdoc::pid_values,
    },
    Configuration {
        id: "mdl_mdoc",
        format: Format::MsoMdoc {
            doctype: mdoc::MDL_DOCTYPE,
            namespace: mdoc::MDL_NAMESPACE,
        },
        scope: "mdl_mdoc",
        bound: true,
        display: &[
            (
                "en",
                "Mobile driving licence",
                "A driving licence as an ISO 18013-5 mDL",
            ),
            (
                "de",
                "Mobiler Führerschein",
                "Ein Führerschein als ISO-18013-5-mDL",
            ),
        ],
        claims: &[
            (
                &[mdoc::MDL_NAMESPACE, "family_name"],
                &[("en", "Family name"), ("de", "Nachname")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "given_name"],
                &[("en", "Given name"), ("de", "Vorname")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "birth_date"],
                &[("en", "Date of birth"), ("de", "Geburtsdatum")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "issue_date"],
                &[("en", "Date of issue"), ("de", "Ausstellungsdatum")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "expiry_date"],
                &[("en", "Date of expiry"), ("de", "Ablaufdatum")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "issuing_country"],
                &[("en", "Issuing country"), ("de", "Ausstellungsland")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "issuing_authority"],
                &[("en", "Issuing authority"), ("de", "Ausstellungsbehörde")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "document_number"],
                &[("en", "Licence number"), ("de", "Führerscheinnummer")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "portrait"],
                &[("en", "Portrait"), ("de", "Lichtbild")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "driving_privileges"],
                &[("en", "Driving privileges"), ("de", "Fahrerlaubnisklassen")],
            ),
            (
                &[mdoc::MDL_NAMESPACE, "un_distinguishing_sign"],
                &[
                    ("en", "UN distinguishing sign"),
                    ("de", "Unterscheidungszeichen"),
                ],
            ),
        ],
        values: mdoc::mdl_values,
    },
];

impl Configuration {
    /// The SD-JWT VC type, for SD-JWT configurations.
    pub fn vct(&self) -> Option<&'static str> {
        match self.format {
            Format::SdJwt { vct } => Some(vct),
            Format::JwtVcJson { .. } | Format::MsoMdoc { .. } => None,
        }
    }

    /// The draft-13 (and draft 11/12) `format` value.
    pub fn draft13_format(&self) -> &'static str {
        match self.format {
            Format::SdJwt { .. } => "vc+sd-jwt",
            Format::JwtVcJson { .. } => "jwt_vc_json",
            Format::MsoMdoc { .. } => "mso_mdoc",
        }
    }

    /// Whether a draft-13 credential request (`format` with `vct`,
    /// `credential_definition.type` in any order, or `doctype`) names this
    /// configuration.
    pub fn named_by_draft13_request(&self, body: &Map<String, Value>) -> bool {
        if body.get("format").and_then(Value::as_str) != Some(self.draft13_format()) {
            return false;
        }
        match self.format {
            Format::SdJwt { vct } => body.get("vct").and_then(Value::as_str) == Some(vct),
            Format::MsoMdoc { doctype, .. } => {
                body.get("doctype").and_then(Value::as_str) == Some(doctype)
            }
            Format::JwtVcJson { types } => body
                .get("credential_definition")
                .and_then(|d| d.get("type"))
                .is_some_and(|asked| same_types(types, asked)),
        }
    }

    /// Whether a draft-11 credential request (or authorization details
    /// entry) names this configuration: its draft-13 `format` with `vct`,
    /// `doctype`, or (`jwt_vc_json`) `types` as draft 11 has them, or
    /// `credential_definition.type` as draft 12 does, in any order.
    pub fn named_by_draft11_request(&self, body: &Map<String, Value>) -> bool {
        match self.format {
            Format::JwtVcJson { types } => {
                body.get("format").and_then(Value::as_str) == Some(self.draft13_format())
                    && body
                        .get("types")
                        .or_else(|| body.get("credential_definition")?.get("type"))
                        .is_some_and(|asked| same_types(types, asked))
            }
            Format::SdJwt { .. } | Format::MsoMdoc { .. } => self.named_by_draft13_request(body),
        }
    }

    /// The default values with `overrides` applied (claims the
    /// configuration does not have are ignored).
    fn values_with(&self, overrides: Option<&Map<String, Value>>) -> Map<String, Value> {
        let mut values = (self.values)();
        if let Some(overrides) = overrides {
            for (k, v) in overrides {
                if let Some(slot) = values.get_mut(k) {
                    *slot = v.clone();
                }
            }
        }
        values
    }
}

const DAY_SECS: i64 = 24 * 3600;
const YEAR_SECS: i64 = 365 * DAY_SECS;

/// When a credential was issued (`iat`, and `nbf` of a JWT VC) and when it
/// expires (`exp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    pub iat: i64,
    pub exp: i64,
}

impl Validity {
    /// From now for a year.
    pub fn fresh() -> Self {
        let now = now_secs();
        Validity {
            iat: now,
            exp: now + YEAR_SECS,
        }
    }

    /// [`crate::Fault::CredentialExpired`]: issued two days ago, expired an
    /// hour ago.
    pub fn expired() -> Self {
        let now = now_secs();
        Validity {
            iat: now - 2 * DAY_SECS,
            exp: now - 3600,
        }
    }
}

/// What goes into a credential besides its configuration's claims.
pub(crate) struct Issuance<'a> {
    /// The `iss` claim.
    pub iss: &'a str,
    /// Claim values replacing the defaults.
    pub overrides: Option<&'a Map<String, Value>>,
    /// The holder key (`cnf.jwk`) of a key-bound credential.
    pub holder: Option<&'a Value>,
    pub validity: Validity,
}

impl<'a> Issuance<'a> {
    /// By `iss`, unbound, default values, valid from now for a year.
    #[cfg(test)]
    pub fn new(iss: &'a str) -> Self {
        Issuance {
            iss,
            overrides: None,
            holder: None,
            validity: Validity::fresh(),
        }
    }
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub(crate) fn rfc3339(secs: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let days = secs.div_euclid(DAY_SECS);
    let rem = secs.rem_euclid(DAY_SECS);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A random `urn:uuid:` (version 4).
fn urn_uuid() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whether `asked` (a JSON array) holds exactly the `types`, in any order.
fn same_types(types: &[&str], asked: &Value) -> bool {
    let Some(asked) = asked.as_array() else {
        return false;
    };
    asked.len() == types.len()
        && types
            .iter()
            .all(|t| asked.iter().any(|a| a.as_str() == Some(t)))
}

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
/// signed by `signer` (`kid` or `x5c` in the header), with header `typ`
/// `typ` (`dc+sd-jwt` unless a fault says otherwise).
pub(crate) fn issue_sd_jwt(
    signer: &CredentialSigner<'_>,
    configuration: &Configuration,
    issuance: &Issuance<'_>,
    typ: &str,
) -> String {
    let values = configuration.values_with(issuance.overrides);
    let mut disclosures = Vec::new();
    let mut payload = conceal(values, &mut disclosures);
    payload.insert("iss".into(), json!(issuance.iss));
    payload.insert("iat".into(), json!(issuance.validity.iat));
    payload.insert("exp".into(), json!(issuance.validity.exp));
    if let Some(vct) = configuration.vct() {
        payload.insert("vct".into(), json!(vct));
    }
    payload.insert("_sd_alg".into(), json!("sha-256"));
    if let Some(jwk) = issuance.holder {
        payload.insert("cnf".into(), json!({ "jwk": jwk }));
    }
    let mut header = Map::new();
    header.insert("typ".into(), json!(typ));
    let jwt = signer.sign(header, &Value::Object(payload));
    let mut out = jwt;
    for d in disclosures {
        out.push('~');
        out.push_str(&d);
    }
    out.push('~');
    out
}

/// Issues a `jwt_vc_json` credential: a compact JWS with header
/// `{"typ":"JWT","alg","kid"}` and the VC Data Model 1.1 JWT claims `iss`,
/// `sub` (the holder's `did:jwk`), `iat`, `nbf` (= `iat`), `exp`, `jti`
/// (`urn:uuid:`), `cnf.jwk` and `vc` (`@context`, `type`, `issuanceDate`,
/// `credentialSubject` with `id` = `sub` and the claims).
pub(crate) fn issue_jwt_vc(
    signer: &CredentialSigner<'_>,
    configuration: &Configuration,
    issuance: &Issuance<'_>,
) -> String {
    let types: &[&str] = match configuration.format {
        Format::JwtVcJson { types } => types,
        Format::SdJwt { .. } | Format::MsoMdoc { .. } => &["VerifiableCredential"],
    };
    let holder_did = issuance.holder.map(did_jwk);
    let mut subject = Map::new();
    if let Some(did) = &holder_did {
        subject.insert("id".into(), json!(did));
    }
    subject.extend(configuration.values_with(issuance.overrides));
    let Validity { iat, exp } = issuance.validity;
    let mut payload = json!({
        "iss": issuance.iss,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "jti": urn_uuid(),
        "vc": {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": types,
            "issuanceDate": rfc3339(iat),
            "credentialSubject": subject,
        },
    });
    if let (Some(did), Some(jwk)) = (holder_did, issuance.holder) {
        payload["sub"] = json!(did);
        payload["cnf"] = json!({ "jwk": jwk });
    }
    let mut header = Map::new();
    header.insert("typ".into(), json!("JWT"));
    signer.sign(header, &payload)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use p256::ecdsa::signature::{Signer as _, Verifier as _};

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
    fn rfc3339_of_known_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn issued_sd_jwt_digests_match_its_disclosures() {
        let keys = IssuerKeys::generate();
        let pid = configuration("pid_sd_jwt").unwrap();
        let sd = issue_sd_jwt(
            &keys.signer(),
            pid,
            &Issuance::new("https://i.example"),
            "dc+sd-jwt",
        );
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
