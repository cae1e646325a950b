//! The credential endpoint: which configuration a request names, its
//! proofs (`jwt`, with or without a key attestation, and `attestation`),
//! request and response encryption (shared with the deferred endpoint),
//! and issuing in each format as the signing mode and the faults say.

use super::auth::session;
use super::nonce::take_nonce;
use super::{bad_request, json_response, oauth_error, respond, Request};
use crate::attestation::KeyAttestations;
use crate::credential::{
    self, check_proof, issue_jwt_vc, issue_sd_jwt, Configuration, CredentialSigner, Format,
    Issuance, KeyHeader, KeyPair, SignKey, Validity,
};
use crate::encryption::{
    Encryption, ResponseEncryption, ALG, ENCRYPTED_REQUESTS, ENCRYPTED_RESPONSES,
};
use crate::mdoc;
use crate::state::{random_id, Deferred, Fault, Grant, Inner, Shared, NONCE_LIFETIME};
use crate::trust::{CredentialSigning, X5C_FAULTS};
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

/// A credential error; draft-13 issuers (no nonce endpoint) attach a fresh
/// `c_nonce` to proof errors, draft-11 issuers call them
/// `invalid_or_missing_proof` (with a fresh `c_nonce`).
fn credential_error(shared: &Shared, inner: &mut Inner, code: &str, description: &str) -> Response {
    let proof_error = matches!(code, "invalid_nonce" | "invalid_proof");
    let code = if proof_error && shared.settings.draft11() {
        "invalid_or_missing_proof"
    } else {
        code
    };
    let mut body = json!({ "error": code, "error_description": description });
    if !shared.settings.advertises_nonce_endpoint() && proof_error {
        body["c_nonce"] = json!(shared.new_nonce(inner));
        body["c_nonce_expires_in"] = json!(NONCE_LIFETIME.as_secs());
    }
    json_response(StatusCode::BAD_REQUEST, &body)
}

/// The proofs of a credential request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Proofs {
    /// `proofs.jwt` (1.0) or `proof.jwt` (draft 13); empty when the request
    /// has none.
    Jwt(Vec<String>),
    /// `proofs.attestation` (OID4VCI 1.0 appendix F.3): one key attestation.
    Attestation(String),
    /// `proofs.<another type>` (its name, shortened).
    Unsupported(String),
}

/// The proofs of a request (`proofs` holds exactly one proof type), or why
/// the request is malformed (`invalid_credential_request`).
fn request_proofs(body: &Map<String, Value>) -> Result<Proofs, &'static str> {
    if body.contains_key("proofs") && body.contains_key("proof") {
        return Err("proof and proofs must not both be present");
    }
    if let Some(proofs) = body.get("proofs") {
        let proofs = proofs.as_object().ok_or("proofs must be an object")?;
        let strings = |list: &Value, error: &'static str| -> Result<Vec<String>, &'static str> {
            list.as_array()
                .ok_or(error)?
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or(error))
                .collect()
        };
        return match (proofs.get("jwt"), proofs.get("attestation")) {
            (Some(_), Some(_)) => Err("proofs must not mix jwt and attestation proofs"),
            _ if proofs.len() > 1 => Err("proofs must hold exactly one proof type"),
            (Some(list), None) => {
                strings(list, "proofs.jwt must be an array of strings").map(Proofs::Jwt)
            }
            (None, Some(list)) => {
                let mut list = strings(
                    list,
                    "proofs.attestation must be an array of one key attestation (a string)",
                )?;
                match (list.pop(), list.is_empty()) {
                    (Some(jwt), true) => Ok(Proofs::Attestation(jwt)),
                    _ => Err("proofs.attestation must hold exactly one key attestation"),
                }
            }
            (None, None) => match proofs.keys().next() {
                Some(other) => Ok(Proofs::Unsupported(other.chars().take(32).collect())),
                None => Err("proofs must name a proof type (jwt or attestation)"),
            },
        };
    }
    if let Some(proof) = body.get("proof") {
        if proof.get("proof_type").and_then(Value::as_str) != Some("jwt") {
            return Err("proof.proof_type must be jwt");
        }
        let jwt = proof
            .get("jwt")
            .and_then(Value::as_str)
            .ok_or("proof.jwt is missing")?;
        return Ok(Proofs::Jwt(vec![jwt.to_string()]));
    }
    Ok(Proofs::Jwt(Vec::new()))
}

pub(super) fn credential_endpoint(shared: &Shared, request: &Request) -> Response {
    let mut inner = shared.lock();
    let session = match session(shared, &mut inner, request) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let grant = session.grant.clone();
    let (body, response_encryption) = match open_request(shared, &mut inner, request) {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let Some(body) = body else {
        return bad_request(
            "invalid_credential_request",
            "the body is not a JSON object",
        );
    };
    // Which configuration: draft 11 by format and type; otherwise by
    // identifier when the token gave identifiers.
    let configuration_id = if shared.settings.draft11() {
        match draft11_configuration(&grant, &body) {
            Ok(id) => id,
            Err(response) => return response,
        }
    } else {
        match (
            body.get("credential_identifier").and_then(Value::as_str),
            body.get("credential_configuration_id")
                .and_then(Value::as_str),
        ) {
            (Some(_), Some(_)) => {
                return bad_request(
                    "invalid_credential_request",
                    "credential_identifier and credential_configuration_id are exclusive",
                )
            }
            (Some(identifier), None) => match session.identifiers.get(identifier) {
                Some(id) => id.clone(),
                None => {
                    return bad_request(
                        "unknown_credential_identifier",
                        "the credential_identifier was not issued with this token",
                    )
                }
            },
            (None, Some(_)) if shared.settings.draft13() => return bad_request(
                "invalid_credential_request",
                "draft 13: name the credential by format and vct (no credential_configuration_id)",
            ),
            (None, Some(id)) => {
                if !session.identifiers.is_empty() {
                    return bad_request(
                        "invalid_credential_request",
                        "the token response gave credential_identifiers: use one of them",
                    );
                }
                if !grant.configuration_ids.iter().any(|c| c == id) {
                    return bad_request(
                        "unknown_credential_configuration",
                        "this token does not cover that credential configuration",
                    );
                }
                id.to_string()
            }
            (None, None) if shared.settings.draft13() => {
                // Draft 13: the format and its type parameter name the
                // credential (`vct`, or `credential_definition.type`).
                let found = grant.configuration_ids.iter().find(|id| {
                    credential::configuration(id).is_some_and(|c| c.named_by_draft13_request(&body))
                });
                match found {
                    Some(id) if session.identifiers.is_empty() => id.clone(),
                    Some(_) => {
                        return bad_request(
                            "invalid_credential_request",
                            "the token response gave credential_identifiers: use one of them",
                        )
                    }
                    None => {
                        return bad_request(
                            "unsupported_credential_type",
                            "format vc+sd-jwt with the vct, jwt_vc_json with the \
                             credential_definition.type, or mso_mdoc with the doctype, of an \
                             offered credential is required",
                        )
                    }
                }
            }
            (None, None) => {
                return bad_request(
                    "invalid_credential_request",
                    "credential_identifier or credential_configuration_id is required",
                )
            }
        }
    };
    let Some(configuration) = credential::configuration(&configuration_id) else {
        return bad_request(
            "unknown_credential_configuration",
            "unknown credential configuration",
        );
    };
    let holder_keys = if configuration.bound {
        match checked_holder_keys(shared, &mut inner, &body, session.client_id.as_deref()) {
            Ok(keys) => keys.into_iter().map(Some).collect(),
            Err(response) => return response,
        }
    } else {
        vec![None]
    };
    let credentials = holder_keys
        .iter()
        .map(|key| issue(shared, configuration, &grant, key.as_ref()))
        .collect::<Result<Vec<String>, String>>();
    let credentials = match credentials {
        Ok(credentials) => credentials,
        Err(e) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                &format!("the credential cannot be signed: {e}"),
            )
        }
    };

    if grant.deferred && shared.settings.draft11() {
        // Draft 11: an acceptance token, the Bearer token of the deferred
        // request.
        let acceptance_token = random_id(24);
        inner.secrets.push(acceptance_token.clone());
        inner.deferred.insert(
            acceptance_token.clone(),
            Deferred {
                session_id: session.id.clone(),
                polls_left: shared.settings.deferred_pending_polls,
                credentials,
                format: configuration.draft13_format(),
            },
        );
        let body = json!({
            "acceptance_token": acceptance_token,
            "c_nonce": shared.new_nonce(&mut inner),
            "c_nonce_expires_in": NONCE_LIFETIME.as_secs(),
        });
        return json_response(StatusCode::OK, &body);
    }
    if grant.deferred {
        let transaction_id = random_id(16);
        inner.deferred.insert(
            transaction_id.clone(),
            Deferred {
                session_id: session.id.clone(),
                polls_left: shared.settings.deferred_pending_polls,
                credentials,
                format: configuration.draft13_format(),
            },
        );
        let mut body = json!({
            "transaction_id": transaction_id,
            "interval": shared.settings.deferred_interval,
        });
        if shared.settings.draft13() {
            body = json!({
                "transaction_id": transaction_id,
                "c_nonce": shared.new_nonce(&mut inner),
                "c_nonce_expires_in": NONCE_LIFETIME.as_secs(),
            });
        }
        return answer(
            shared,
            &mut inner,
            StatusCode::ACCEPTED,
            &body,
            response_encryption.as_ref(),
        );
    }
    let mut response = if shared.settings.draft11() {
        draft11_issued_body(configuration.draft13_format(), credentials)
    } else {
        issued_body(shared, &mut inner, session.id.clone(), credentials)
    };
    if !shared.settings.advertises_nonce_endpoint() {
        response["c_nonce"] = json!(shared.new_nonce(&mut inner));
        response["c_nonce_expires_in"] = json!(NONCE_LIFETIME.as_secs());
    }
    answer(
        shared,
        &mut inner,
        StatusCode::OK,
        &response,
        response_encryption.as_ref(),
    )
}

fn invalid_encryption(description: &str) -> Response {
    bad_request("invalid_encryption_parameters", description)
}

/// Whether the body is declared `application/jwt` (parameters ignored).
fn is_jwt(request: &Request) -> bool {
    request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/jwt"))
}

/// A credential or deferred request's JSON body (`None` when not a JSON
/// object) and how to encrypt the success answer (`None`: plain JSON).
type Opened = (Option<Map<String, Value>>, Option<ResponseEncryption>);

/// The JSON body of a credential or deferred request, and how to encrypt
/// the success answer. With encryption on: an `application/jwt` body is a
/// JWE to decrypt with the issuer's key; `credential_response_encryption`
/// is only accepted in an encrypted request; with encryption required, plain
/// requests and requests without `credential_response_encryption` are
/// refused. Off: the body as it is, `credential_response_encryption`
/// ignored. The body is `None` when it is not a JSON object.
pub(super) fn open_request(
    shared: &Shared,
    inner: &mut Inner,
    request: &Request,
) -> Result<Opened, Response> {
    let mode = shared.encryption();
    if mode == Encryption::Off {
        return Ok((request.json(), None));
    }
    let encrypted = is_jwt(request);
    let body: Option<Map<String, Value>> = if encrypted {
        let Some(key) = &shared.encryption_key else {
            return Err(oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the issuer has no encryption key",
            ));
        };
        let plaintext = key
            .decrypt(&request.body)
            .map_err(|e| invalid_encryption(&format!("the request cannot be decrypted: {e}")))?;
        inner.count(ENCRYPTED_REQUESTS);
        serde_json::from_slice(&plaintext).ok()
    } else if mode == Encryption::Required {
        return Err(invalid_encryption(&format!(
            "encryption required: send the request as a JWE (Content-Type: application/jwt, \
             alg {ALG}) to the key in credential_request_encryption.jwks"
        )));
    } else {
        request.json()
    };
    let params = body
        .as_ref()
        .and_then(|b| b.get("credential_response_encryption"));
    let response = match params {
        Some(_) if !encrypted => {
            return Err(invalid_encryption(
                "credential_response_encryption requires an encrypted request \
                 (Content-Type: application/jwt; see credential_request_encryption)",
            ))
        }
        Some(params) => {
            Some(ResponseEncryption::from_request(params).map_err(|e| invalid_encryption(&e))?)
        }
        None if mode == Encryption::Required && body.is_some() => {
            return Err(invalid_encryption(
                "encryption required: the request must carry credential_response_encryption",
            ))
        }
        None => None,
    };
    Ok((body, response))
}

/// A success answer of the credential or deferred endpoint: a JWE
/// (`application/jwt`) when the request asked for an encrypted response
/// (unless [`Fault::UnencryptedResponse`]), JSON otherwise.
pub(super) fn answer(
    shared: &Shared,
    inner: &mut Inner,
    status: StatusCode,
    body: &Value,
    encryption: Option<&ResponseEncryption>,
) -> Response {
    let Some(encryption) = encryption.filter(|_| !shared.has(Fault::UnencryptedResponse)) else {
        return json_response(status, body);
    };
    match encryption.encrypt(body) {
        Ok(jwe) => {
            inner.count(ENCRYPTED_RESPONSES);
            respond(status, "application/jwt", jwe)
        }
        Err(e) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            &format!("the response cannot be encrypted: {e}"),
        ),
    }
}

/// One credential, in the configuration's format, signed as the signing
/// mode and the faults say. Errors (the test PKI or a forged certificate
/// could not be made) are descriptions.
fn issue(
    shared: &Shared,
    configuration: &Configuration,
    grant: &Grant,
    holder: Option<&Value>,
) -> Result<String, String> {
    if let Format::MsoMdoc { .. } = configuration.format {
        // Always `x5chain` (the signing modes name JWT signing keys); only
        // the `Mdoc*` faults apply.
        let holder = holder.ok_or("an mdoc needs a holder key")?;
        return mdoc::issue_with_pki(
            shared.pki()?,
            configuration,
            holder,
            grant.claims.as_ref(),
            &shared.settings.faults,
        );
    }
    let sd_jwt = matches!(configuration.format, Format::SdJwt { .. });
    // The `X5c*` forgeries are SD-JWT VC issuer key mechanisms: SD-JWTs only.
    let forged = match X5C_FAULTS.into_iter().find(|f| sd_jwt && shared.has(*f)) {
        Some(fault) => shared
            .pki()?
            .forge(fault)
            .transpose()
            .map_err(|e| e.to_string())?,
        None => None,
    };
    let other_key = shared.has(Fault::CredentialSignedByOtherKey);
    let other_keys;
    let other_did_key;
    let signer = match (&forged, &shared.did) {
        (Some(forged), _) => forged.signer(),
        // A DID names the issuer: its kid, and its key (or another one of
        // the same type).
        (None, Some(issuer)) => {
            let key = if other_key {
                other_did_key = KeyPair::generate(issuer.key.kind());
                &other_did_key
            } else {
                &issuer.key
            };
            CredentialSigner {
                key: key.sign_key(),
                header: KeyHeader::Kid(&issuer.kid),
            }
        }
        (None, None) => {
            let keys = if other_key {
                other_keys = credential::IssuerKeys::generate();
                &other_keys
            } else {
                &shared.keys
            };
            match shared.settings.credential_signing {
                // With `CredentialSignedByOtherKey`: the real chain, another key.
                CredentialSigning::X5cChain if sd_jwt => CredentialSigner {
                    key: SignKey::P256(keys.signing_key()),
                    header: KeyHeader::X5c(shared.pki()?.chain()),
                },
                _ => keys.signer(),
            }
        }
    };
    let other_holder;
    let holder = match holder {
        Some(_) if shared.has(Fault::CredentialBoundToOtherKey) => {
            other_holder = credential::IssuerKeys::generate().public_jwk();
            Some(&other_holder)
        }
        h => h,
    };
    let iss = if sd_jwt && shared.has(Fault::CredentialIssMismatch) {
        "https://other.example".to_string()
    } else {
        shared.credential_iss()
    };
    let issuance = Issuance {
        iss: &iss,
        overrides: grant.claims.as_ref(),
        holder,
        validity: if shared.has(Fault::CredentialExpired) {
            Validity::expired()
        } else {
            Validity::fresh()
        },
    };
    Ok(match configuration.format {
        Format::SdJwt { .. } => {
            // SD-JWT VC drafts of the draft-11 era: `vc+sd-jwt`.
            let typ = if shared.has(Fault::CredentialWrongTyp) {
                "JWT"
            } else if shared.settings.draft11() {
                "vc+sd-jwt"
            } else {
                "dc+sd-jwt"
            };
            issue_sd_jwt(&signer, configuration, &issuance, typ)
        }
        Format::JwtVcJson { .. } => issue_jwt_vc(&signer, configuration, &issuance),
        Format::MsoMdoc { .. } => return Err("mdocs are issued above".into()),
    })
}

/// `{credentials, notification_id}` (draft 13: one `credential`),
/// remembering which session the notification id belongs to.
pub(super) fn issued_body(
    shared: &Shared,
    inner: &mut Inner,
    session_id: String,
    credentials: Vec<String>,
) -> Value {
    let notification_id = random_id(12);
    inner
        .notification_ids
        .insert(notification_id.clone(), session_id);
    if shared.settings.draft13() && credentials.len() == 1 {
        let credential = credentials.into_iter().next().unwrap_or_default();
        return json!({ "credential": credential, "notification_id": notification_id });
    }
    let bare = shared.has(Fault::CredentialsAsBareStrings);
    let list: Vec<Value> = credentials
        .into_iter()
        .map(|c| {
            if bare {
                json!(c)
            } else {
                json!({ "credential": c })
            }
        })
        .collect();
    json!({ "credentials": list, "notification_id": notification_id })
}

/// A draft-11 answer: `{format, credential}` (a draft-11 request names one
/// credential: one proof, or none for an unbound configuration).
pub(super) fn draft11_issued_body(format: &str, credentials: Vec<String>) -> Value {
    let credential = credentials.into_iter().next().unwrap_or_default();
    json!({ "format": format, "credential": credential })
}

/// Members of 1.0 (and draft 13) credential requests a draft-11 issuer
/// refuses.
const NOT_DRAFT11: [&str; 3] = [
    "credential_identifier",
    "credential_configuration_id",
    "proofs",
];

/// The offered configuration a draft-11 credential request names (`format`
/// with `types` or draft 12's `credential_definition.type`, `vct`, or
/// `doctype`), or the refusal: `invalid_credential_request` for a 1.0
/// request or one without `format`, `unsupported_credential_format` for a
/// format this issuer does not issue, `unsupported_credential_type` for a
/// type it does not issue in that format or did not offer.
fn draft11_configuration(grant: &Grant, body: &Map<String, Value>) -> Result<String, Response> {
    if let Some(member) = NOT_DRAFT11.iter().find(|m| body.contains_key(**m)) {
        return Err(bad_request(
            "invalid_credential_request",
            &format!(
                "draft 11: {member} is not a draft-11 parameter; name the credential by format \
                 and types, vct or doctype, with a single proof"
            ),
        ));
    }
    let Some(format) = body.get("format").and_then(Value::as_str) else {
        return Err(bad_request(
            "invalid_credential_request",
            "draft 11: format is required",
        ));
    };
    let found = grant
        .configuration_ids
        .iter()
        .find(|id| credential::configuration(id).is_some_and(|c| c.named_by_draft11_request(body)));
    if let Some(id) = found {
        return Ok(id.clone());
    }
    if credential::CONFIGURATIONS
        .iter()
        .any(|c| c.draft13_format() == format)
    {
        Err(bad_request(
            "unsupported_credential_type",
            "vc+sd-jwt with the vct, jwt_vc_json with the types (or \
             credential_definition.type), or mso_mdoc with the doctype, of an offered \
             credential is required",
        ))
    } else {
        Err(bad_request(
            "unsupported_credential_format",
            "draft 11: the format must be vc+sd-jwt, jwt_vc_json or mso_mdoc",
        ))
    }
}

/// Counters of key attestations checked at the credential endpoint.
pub(crate) const KEY_ATTESTATIONS_ACCEPTED: &str = "key_attestations_accepted";
/// Proofs refused for a missing or bad key attestation.
pub(crate) const KEY_ATTESTATIONS_REJECTED: &str = "key_attestations_rejected";

/// The `key_attestation` header of a proof JWT, if any.
fn key_attestation(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let header = jwt.split('.').next()?;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("key_attestation")?.as_str().map(str::to_string)
}

/// The holder keys of a key-bound credential request: those of its `jwt`
/// proofs (all verified, their one nonce used up) or of its `attestation`
/// proof. Or the error answer.
fn checked_holder_keys(
    shared: &Shared,
    inner: &mut Inner,
    body: &Map<String, Value>,
    client_id: Option<&str>,
) -> Result<Vec<Value>, Response> {
    let proofs = request_proofs(body).map_err(|m| bad_request("invalid_credential_request", m))?;
    let jwts = match proofs {
        Proofs::Jwt(_)
            if shared.settings.attestation_proof_only && shared.key_attestations_on() =>
        {
            return Err(credential_error(
                shared,
                inner,
                "invalid_proof",
                "the jwt proof type is not supported (only attestation)",
            ))
        }
        Proofs::Jwt(jwts) => jwts,
        Proofs::Attestation(jwt) => return attested_holder_keys(shared, inner, &jwt),
        Proofs::Unsupported(name) => {
            return Err(credential_error(
                shared,
                inner,
                "invalid_proof",
                &format!("the {name} proof type is not supported"),
            ))
        }
    };
    if jwts.is_empty() {
        return Err(credential_error(
            shared,
            inner,
            "invalid_proof",
            "this credential is key-bound: a proof is required",
        ));
    }
    let limit = batch_limit(shared);
    if jwts.len() > limit {
        return Err(bad_request(
            "invalid_credential_request",
            &format!("at most {limit} proofs per request"),
        ));
    }
    nonce_fault(shared, inner)?;
    let audience = shared.issuer_id();
    let nonce_required = shared.settings.key_attestations == KeyAttestations::RequiredWithNonce;
    let mut keys = Vec::new();
    let mut nonce = None;
    for jwt in &jwts {
        let checked = check_proof(jwt, &audience, client_id)
            .map_err(|r| credential_error(shared, inner, r.code, &r.description))?;
        if shared.key_attestations_on() {
            let checked_attestation = match key_attestation(jwt) {
                None => Err(
                    "this configuration requires a key attestation (key_attestation header)"
                        .to_string(),
                ),
                Some(attestation) => shared.wallet_provider.check_key_attestation(
                    &attestation,
                    &checked.holder_jwk,
                    checked.nonce.as_deref(),
                    nonce_required,
                ),
            };
            if let Err(description) = checked_attestation {
                inner.count(KEY_ATTESTATIONS_REJECTED);
                return Err(credential_error(
                    shared,
                    inner,
                    "invalid_proof",
                    &description,
                ));
            }
            inner.count(KEY_ATTESTATIONS_ACCEPTED);
        }
        let Some(n) = checked.nonce else {
            return Err(credential_error(
                shared,
                inner,
                "invalid_nonce",
                "the proof has no nonce",
            ));
        };
        if nonce.get_or_insert_with(|| n.clone()) != &n {
            return Err(credential_error(
                shared,
                inner,
                "invalid_proof",
                "all proofs of one request must carry the same nonce",
            ));
        }
        keys.push(checked.holder_jwk);
    }
    let nonce = nonce.unwrap_or_default();
    if !take_nonce(inner, &nonce) {
        return Err(credential_error(
            shared,
            inner,
            "invalid_nonce",
            "the nonce is unknown, used or expired",
        ));
    }
    Ok(keys)
}

/// How many credentials one request may ask for (`batch_size`, else 1).
fn batch_limit(shared: &Shared) -> usize {
    shared.settings.batch_size.unwrap_or(1).max(1) as usize
}

/// The `invalid_nonce` answer of the nonce faults, when one applies.
fn nonce_fault(shared: &Shared, inner: &mut Inner) -> Result<(), Response> {
    if shared.has(Fault::NonceAlwaysInvalid)
        || (shared.has(Fault::NonceInvalidOnce) && !inner.invalid_nonce_sent)
    {
        inner.invalid_nonce_sent = true;
        return Err(credential_error(
            shared,
            inner,
            "invalid_nonce",
            "the nonce is not valid (deliberate fault)",
        ));
    }
    Ok(())
}

/// The `attestation` proof type (OID4VCI 1.0 appendix F.3), with key
/// attestations on: the attested keys, one credential each. Counted as one
/// accepted or rejected key attestation.
fn attested_holder_keys(
    shared: &Shared,
    inner: &mut Inner,
    jwt: &str,
) -> Result<Vec<Value>, Response> {
    if !shared.key_attestations_on() {
        return Err(credential_error(
            shared,
            inner,
            "invalid_proof",
            "the attestation proof type is not supported",
        ));
    }
    nonce_fault(shared, inner)?;
    match check_attestation_proof(shared, inner, jwt) {
        Ok(keys) => {
            inner.count(KEY_ATTESTATIONS_ACCEPTED);
            Ok(keys)
        }
        Err((code, description)) => {
            inner.count(KEY_ATTESTATIONS_REJECTED);
            Err(credential_error(shared, inner, code, &description))
        }
    }
}

/// Checks an `attestation` proof: the wallet provider's checks, a `nonce`,
/// 1 to `batch_size` P-256 public keys in `attested_keys`, and last the
/// nonce (a c_nonce of this issuer, unused, unexpired: now used up).
/// Refused with the error code and its description: `invalid_nonce` for a
/// nonce that is not (or no longer) ours, so the wallet fetches a fresh one
/// and asks its provider again; `invalid_proof` for anything else.
fn check_attestation_proof(
    shared: &Shared,
    inner: &mut Inner,
    jwt: &str,
) -> Result<Vec<Value>, (&'static str, String)> {
    let bad = |description: String| ("invalid_proof", description);
    let checked = shared
        .wallet_provider
        .verify_key_attestation(jwt)
        .map_err(bad)?;
    let Some(nonce) = checked.nonce else {
        return Err(bad(
            "key attestation: wrong nonce: it has none, and the attestation proof type needs a c_nonce of this issuer"
                .into(),
        ));
    };
    let Some(keys) = checked.attested_keys else {
        return Err(bad(
            "key attestation: attested_keys is missing or not an array".into(),
        ));
    };
    let limit = batch_limit(shared);
    if keys.is_empty() || keys.len() > limit {
        return Err(bad(format!(
            "key attestation: it attests {} keys; this issuer issues 1 to {limit} credentials per request (batch_size)",
            keys.len()
        )));
    }
    for (i, key) in keys.iter().enumerate() {
        if key.get("d").is_some() {
            return Err(bad(format!(
                "key attestation: attested_keys[{i}] contains a private key"
            )));
        }
        if credential::public_key(key).is_none() {
            return Err(bad(format!(
                "key attestation: attested_keys[{i}] is not a P-256 public key"
            )));
        }
    }
    if !take_nonce(inner, &nonce) {
        return Err((
            "invalid_nonce",
            "key attestation: wrong nonce: it is not a c_nonce of this issuer, or it was used or has expired"
                .into(),
        ));
    }
    Ok(keys)
}

#[cfg(test)]
#[path = "encryption_flows.rs"]
mod encryption_flows;

#[cfg(test)]
#[path = "key_attestation_flows.rs"]
mod key_attestation_flows;

#[cfg(test)]
#[path = "x5c_flows.rs"]
mod x5c_flows;

#[cfg(test)]
#[path = "did_flows.rs"]
mod did_flows;

#[cfg(test)]
#[path = "mdoc_flows.rs"]
mod mdoc_flows;
