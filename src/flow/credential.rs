//! Nonce, credential, deferred and notification endpoints (OID4VCI 1.0
//! sections 7, 8, 9 and 11), and the checks on what comes back.

use super::session::Authorized;
use super::{
    error_from_response, expect_json, parse_error_body, parse_json, EngineConfig, Exchange,
    Progress,
};
use crate::error::{
    display_url, sanitize, CredentialRejection, Endpoint, Error, ErrorCode, Result, ServerError,
};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::jwe::{self, ContentEncryption, ResponseEncryption};
use crate::jose::{ProofClaims, RandomSource, Signer};
use crate::types::{
    CredentialRequest, CredentialResponse, DeferredRequest, NonceResponse, NotificationEvent,
    NotificationRequest, Proofs, SpecVersion,
};
use crate::verify::jwt_vc::JwtVc;
use crate::verify::mdoc::{Mdoc, MdocValue};
use crate::verify::sd_jwt::SdJwt;
use crate::verify::Verification;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// How many times a credential request is re-sent with a fresh nonce after
/// `invalid_nonce`.
pub const MAX_NONCE_RETRIES: usize = 1;

/// The interval assumed when a deferred response gives none (draft 13's default).
pub const DEFAULT_DEFERRED_INTERVAL: Duration = Duration::from_secs(5);

/// Fetching a fresh `c_nonce` from the nonce endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceExchange {
    url: String,
}

impl NonceExchange {
    /// A nonce request to the given endpoint.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
        }
    }
}

impl Exchange for NonceExchange {
    type Output = String;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Nonce
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(HttpRequest {
            method: crate::http::Method::Post,
            url: self.url.clone(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
        })
    }

    fn handle_response(
        self,
        response: HttpResponse,
        _config: &EngineConfig,
    ) -> Result<Progress<Self, String>> {
        let nonce: NonceResponse = expect_json(Endpoint::Nonce, &self.url, &response)?;
        if nonce.c_nonce.is_empty() {
            return Err(Error::UnexpectedResponse {
                endpoint: Endpoint::Nonce,
                url: display_url(&self.url),
                status: response.status,
                problem: "field c_nonce: empty".into(),
            });
        }
        Ok(Progress::Done(nonce.c_nonce))
    }
}

/// What a credential request is for, worked out from the metadata and token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialPlan {
    /// The configuration.
    pub configuration_id: String,
    /// Sent instead of the configuration id when the token gave identifiers.
    pub credential_identifier: Option<String>,
    /// The credential format.
    pub format: String,
    /// The holder keys proofs are made with (empty for unbound credentials).
    pub holder_jwks: Vec<Value>,
    /// Request and response encryption, when the issuer offers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<PlannedEncryption>,
    /// The proofs carry a key attestation (`key_attestations_required`).
    #[serde(default)]
    pub key_attestation: bool,
    /// Which proof type the request uses.
    #[serde(default)]
    pub proof_type: ProofType,
}

/// The proof type of a credential request (`proof_types_supported`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofType {
    /// Proof JWTs signed by each key (with a `key_attestation` header when
    /// the issuer requires one). Preferred: it proves possession.
    #[default]
    Jwt,
    /// The key attestation itself, from the app's wallet provider, when the
    /// issuer accepts only that.
    Attestation,
}

impl CredentialPlan {
    /// Whether the request carries proofs.
    pub fn needs_proofs(&self) -> bool {
        !self.holder_jwks.is_empty()
    }

    /// Encrypts a credential or deferred request when the plan says so: adds
    /// `credential_response_encryption` to the JSON body and sends the whole
    /// body as a JWE to the issuer's key (`application/jwt`).
    pub fn seal_request(
        &self,
        request: HttpRequest,
        random: &dyn RandomSource,
    ) -> Result<HttpRequest> {
        let Some(plan) = &self.encryption else {
            return Ok(request);
        };
        let mut body: Value = serde_json::from_slice(&request.body)
            .map_err(|e| Error::InvalidState(format!("request body: {e}")))?;
        let parameter = plan
            .response
            .request_parameter()
            .map_err(Error::InvalidState)?;
        body["credential_response_encryption"] = parameter;
        let jwe = jwe::encrypt(
            &plan.issuer_key,
            plan.request_enc,
            body.to_string().as_bytes(),
            random,
        )
            .map_err(|e| {
                Error::InvalidState(format!(
                    "encrypting the request to the issuer's key (credential_request_encryption.jwks): {e}"
                ))
            })?;
        let mut sealed = HttpRequest {
            body: jwe.into_bytes(),
            ..request
        };
        sealed.headers.retain(|(name, _)| {
            !name.eq_ignore_ascii_case("content-type") && !name.eq_ignore_ascii_case("accept")
        });
        Ok(sealed
            .header("content-type", "application/jwt")
            .header("accept", "application/jwt"))
    }

    /// Decrypts a successful response when the plan asked for encryption;
    /// an unencrypted success is refused (errors are never encrypted).
    pub fn open_response(
        &self,
        endpoint: Endpoint,
        url: &str,
        response: HttpResponse,
    ) -> Result<HttpResponse> {
        let Some(plan) = &self.encryption else {
            return Ok(response);
        };
        if !response.is_success() {
            return Ok(response);
        }
        let bad = |problem: String| Error::UnexpectedResponse {
            endpoint,
            url: display_url(url),
            status: response.status,
            problem,
        };
        let media = response.media_type().unwrap_or_default();
        if media != "application/jwt" {
            return Err(bad(format!(
                "response encryption was requested, but the answer is not a JWE (content type {:?})",
                sanitize(&media, 64)
            )));
        }
        let text = std::str::from_utf8(&response.body)
            .map_err(|_| bad("the encrypted response is not UTF-8".into()))?;
        let plaintext = plan
            .response
            .decrypt(text)
            .map_err(|e| bad(format!("encrypted response: {e}")))?;
        let mut headers = response.headers.clone();
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        headers.push(("content-type".into(), "application/json".into()));
        Ok(HttpResponse {
            status: response.status,
            headers,
            body: plaintext,
        })
    }
}

/// How a credential request is encrypted (OID4VCI 1.0 section 10): the
/// issuer's key and `enc` for the request, and the wallet's fresh key for
/// the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedEncryption {
    /// The issuer's public key the request is encrypted to.
    pub issuer_key: Value,
    /// The request's content encryption.
    pub request_enc: ContentEncryption,
    /// The key (and `enc`) the issuer encrypts the response to.
    pub response: ResponseEncryption,
}

impl PlannedEncryption {
    /// What to do for an issuer: encrypt whenever it offers request and
    /// response encryption this wallet speaks (ECDH-ES on P-256, A128GCM or
    /// A256GCM; the issuer's preference order); an error when it requires
    /// encryption the wallet cannot do; nothing otherwise. Draft-13 issuers
    /// are never sent encrypted requests.
    pub fn for_issuer(
        issuer: &crate::types::IssuerMetadata,
        random: &dyn RandomSource,
    ) -> Result<Option<Self>> {
        Ok(
            Self::choose(issuer)?.map(|(issuer_key, request_enc, response_enc)| Self {
                issuer_key,
                request_enc,
                response: ResponseEncryption::generate_with(response_enc, random),
            }),
        )
    }

    /// [`Self::for_issuer`] without drawing the response key: an error when
    /// the issuer requires encryption the wallet cannot do.
    pub fn check(issuer: &crate::types::IssuerMetadata) -> Result<()> {
        Self::choose(issuer).map(|_| ())
    }

    /// The issuer's key and the request and response `enc`, when the wallet
    /// can encrypt to this issuer.
    fn choose(
        issuer: &crate::types::IssuerMetadata,
    ) -> Result<Option<(Value, ContentEncryption, ContentEncryption)>> {
        let response = issuer.credential_response_encryption.as_ref();
        let request = issuer.credential_request_encryption.as_ref();
        let required = response.is_some_and(|r| r.encryption_required)
            || request.is_some_and(|r| r.encryption_required);
        let usable = || -> Option<(Value, ContentEncryption, ContentEncryption)> {
            if issuer.detected_version != SpecVersion::V1 {
                return None;
            }
            let (response, request) = (response?, request?);
            if !response
                .alg_values_supported
                .iter()
                .any(|a| a == jwe::ECDH_ES)
            {
                return None;
            }
            let first_enc = |list: &[String]| list.iter().find_map(|e| ContentEncryption::parse(e));
            let response_enc = first_enc(&response.enc_values_supported)?;
            let request_enc = first_enc(&request.enc_values_supported)?;
            let issuer_key = request.jwks.keys.iter().find(|k| {
                let member = |m: &str| k.get(m).and_then(Value::as_str);
                member("kty") == Some("EC")
                    && member("crv") == Some("P-256")
                    && member("alg").is_none_or(|a| a == jwe::ECDH_ES)
                    && member("use").is_none_or(|u| u == "enc")
                    && crate::jose::p256_public_key(k).is_ok()
            })?;
            Some((issuer_key.clone(), request_enc, response_enc))
        };
        match usable() {
            Some(plan) => Ok(Some(plan)),
            None if required => Err(Error::metadata(
                crate::error::Document::IssuerMetadata,
                &issuer.credential_issuer,
                "fields credential_response_encryption / credential_request_encryption: the issuer \
                 requires encryption this wallet cannot do (it speaks ECDH-ES on P-256 with A128GCM \
                 or A256GCM, and needs both objects with an EC P-256 key in jwks)",
            )),
            None => Ok(None),
        }
    }
}

/// How a credential request ended.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once, not stored in bulk
pub enum CredentialOutcome {
    /// Issued now.
    Issued(Vec<IssuedCredential>),
    /// The issuer will issue later: poll the deferred endpoint.
    Deferred(DeferredPending),
    /// The nonce was rejected; fetch a new one (or use the one given) and retry.
    InvalidNonce(Option<String>),
}

impl super::session::IssuerContext {
    /// Whether this wallet can finish an issuance of `configuration_id`,
    /// from the metadata alone (SPEC A16): a proof type it makes (`jwt`), no
    /// key attestation required (the wallet has no provider yet), a proof
    /// algorithm a signer can have, encryption it can do when required.
    /// Checked before anything is spent: the token request of the
    /// pre-authorized code, the authorization request (PAR or URL).
    pub fn can_issue(
        &self,
        configuration_id: &str,
        capabilities: super::Capabilities,
    ) -> Result<()> {
        let configuration = self.configuration(configuration_id)?;
        if let Some(types) = &configuration.proof_types_supported {
            let Some(jwt) = types.get("jwt") else {
                // The attestation proof type: the wallet provider's key
                // attestation is the proof.
                if types.contains_key("attestation") {
                    if capabilities.key_attestations {
                        return PlannedEncryption::check(&self.issuer);
                    }
                    return Err(Error::proof(
                        crate::error::ProofErrorKind::KeyAttestationRequired,
                        format!(
                            "{}: the issuer accepts only the attestation proof type (a key \
                             attestation), and the wallet has no key attestation provider \
                             (WalletBuilder::key_attestations)",
                            sanitize(configuration_id, 64)
                        ),
                    ));
                }
                return Err(Error::proof(
                    crate::error::ProofErrorKind::UnsupportedProofType,
                    format!(
                        "{}: the issuer accepts only proof types {:?}; this wallet makes jwt \
                         and attestation proofs",
                        sanitize(configuration_id, 64),
                        types.keys().map(|k| sanitize(k, 32)).collect::<Vec<_>>()
                    ),
                ));
            };
            if jwt.key_attestations_required.is_some() && !capabilities.key_attestations {
                return Err(Error::proof(
                    crate::error::ProofErrorKind::KeyAttestationRequired,
                    format!(
                        "{}: the issuer requires key attestations \
                     (proof_types_supported.jwt.key_attestations_required), and the wallet has \
                     no key attestation provider (WalletBuilder::key_attestations)",
                        sanitize(configuration_id, 64)
                    ),
                ));
            }
            let known = ["ES256", "ES384", "EdDSA"];
            if !jwt
                .proof_signing_alg_values_supported
                .iter()
                .any(|a| known.contains(&a.as_str()))
            {
                return Err(Error::proof(
                    crate::error::ProofErrorKind::NoUsableAlgorithm,
                    format!(
                    "{}: the issuer accepts proof algorithms {:?}, none of which a signer can use",
                    sanitize(configuration_id, 64),
                    jwt.proof_signing_alg_values_supported
                        .iter()
                        .map(|a| sanitize(a, 16))
                        .collect::<Vec<_>>()
                ),
                ));
            }
        }
        PlannedEncryption::check(&self.issuer)
    }

    /// [`Self::can_issue`] for the configurations an issuance asks for: an
    /// error (the first one's reason) when none of them can be finished.
    pub fn can_issue_any(
        &self,
        configuration_ids: &[String],
        capabilities: super::Capabilities,
    ) -> Result<()> {
        let mut first = None;
        for id in configuration_ids {
            match self.can_issue(id, capabilities) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Authorized {
    /// Plans a request for `configuration_id` with the given keys: checks the
    /// configuration is covered, the proof algorithm, batch size and key
    /// distinctness. Unbound configurations ignore the signers.
    pub fn plan_credential(
        &self,
        configuration_id: &str,
        signers: &[&dyn Signer],
        random: &dyn RandomSource,
        capabilities: super::Capabilities,
    ) -> Result<CredentialPlan> {
        if !self.offered.iter().any(|id| id == configuration_id) {
            return Err(Error::InvalidState(format!(
                "credential configuration {:?} was not offered (offered: {})",
                sanitize(configuration_id, 64),
                self.offered.join(", ")
            )));
        }
        self.context.can_issue(configuration_id, capabilities)?;
        let configuration = self.context.configuration(configuration_id)?;
        let mut holder_jwks = Vec::new();
        let types = configuration.proof_types_supported.as_ref();
        let jwt = types.and_then(|types| types.get("jwt"));
        let proof_type = match (jwt, types.and_then(|t| t.get("attestation"))) {
            (None, Some(_)) => ProofType::Attestation,
            _ => ProofType::Jwt,
        };
        if let Some(proof) = jwt.or_else(|| types.and_then(|t| t.get("attestation"))) {
            if signers.is_empty() {
                return Err(Error::proof(
                    crate::error::ProofErrorKind::SignerRequired,
                    "this credential is key-bound: a signer is required",
                ));
            }
            let batch = self
                .context
                .issuer
                .batch_credential_issuance
                .as_ref()
                .map_or(1, |b| b.batch_size as usize);
            if signers.len() > batch {
                return Err(Error::proof(
                    crate::error::ProofErrorKind::TooManyKeys,
                    format!(
                        "{} keys given, but the issuer accepts at most {batch} proofs per request",
                        signers.len()
                    ),
                ));
            }
            for signer in signers {
                let alg = signer.algorithm().as_str();
                // With the attestation proof type the keys sign nothing: the
                // algorithms are the attestation's, the provider's concern.
                if proof_type == ProofType::Jwt
                    && !proof
                        .proof_signing_alg_values_supported
                        .iter()
                        .any(|a| a == alg)
                {
                    return Err(Error::proof(
                        crate::error::ProofErrorKind::NoUsableAlgorithm,
                        format!(
                            "the issuer accepts proof algorithms {:?}; the signer uses {alg}",
                            proof.proof_signing_alg_values_supported
                        ),
                    ));
                }
                let jwk = signer.public_jwk();
                if holder_jwks
                    .iter()
                    .any(|k| crate::jose::same_public_key(k, &jwk))
                {
                    return Err(Error::proof(
                        crate::error::ProofErrorKind::KeyUsedTwice,
                        "each credential in a batch needs a distinct key",
                    ));
                }
                holder_jwks.push(jwk);
            }
        }
        Ok(CredentialPlan {
            configuration_id: configuration_id.to_string(),
            credential_identifier: self
                .credential_identifiers(configuration_id)
                .into_iter()
                .next(),
            format: configuration.format.clone(),
            key_attestation: proof_type == ProofType::Attestation
                || jwt.is_some_and(|jwt| jwt.key_attestations_required.is_some()),
            proof_type,
            holder_jwks,
            encryption: PlannedEncryption::for_issuer(&self.context.issuer, random)?,
        })
    }

    /// The nonce exchange to run before a credential request, if the issuer has
    /// a nonce endpoint.
    pub fn nonce_exchange(&self) -> Option<NonceExchange> {
        self.context
            .issuer
            .nonce_endpoint
            .as_deref()
            .map(NonceExchange::new)
    }

    /// The claims for proofs made now with `nonce` (or the draft-13 `c_nonce`).
    pub fn proof_claims(&self, nonce: Option<String>, now: u64) -> ProofClaims {
        ProofClaims {
            issuer: self.client_id.clone(),
            audience: self.context.issuer_id().to_string(),
            issued_at: now,
            nonce: nonce.or_else(|| self.c_nonce.clone()),
        }
    }

    /// The credential request for a plan and its proofs, in the shape of the
    /// issuer's detected version.
    pub fn credential_request(&self, plan: &CredentialPlan, proofs: Vec<String>) -> HttpRequest {
        if self.context.issuer.detected_version == SpecVersion::Draft13 {
            return self.draft13_credential_request(plan, proofs);
        }
        let body = CredentialRequest {
            credential_configuration_id: match plan.credential_identifier {
                Some(_) => None,
                None => Some(plan.configuration_id.clone()),
            },
            credential_identifier: plan.credential_identifier.clone(),
            proofs: (!proofs.is_empty()).then(|| match plan.proof_type {
                ProofType::Attestation => Proofs {
                    attestation: proofs,
                    ..Proofs::default()
                },
                _ => Proofs {
                    jwt: proofs,
                    ..Proofs::default()
                },
            }),
        };
        HttpRequest::post_json(&self.context.issuer.credential_endpoint, &body)
            .header("authorization", self.authorization_header())
            .header("accept", "application/json")
    }

    /// Draft 13: `credential_identifier`, or `format` with the type parameters
    /// of the configuration; one proof as `proof`, several as `proofs`.
    fn draft13_credential_request(
        &self,
        plan: &CredentialPlan,
        proofs: Vec<String>,
    ) -> HttpRequest {
        let mut body = serde_json::Map::new();
        match &plan.credential_identifier {
            Some(id) => {
                body.insert("credential_identifier".into(), Value::from(id.clone()));
            }
            None => {
                body.insert("format".into(), Value::from(plan.format.clone()));
                if let Ok(c) = self.context.configuration(&plan.configuration_id) {
                    if let Some(vct) = &c.vct {
                        body.insert("vct".into(), Value::from(vct.clone()));
                    }
                    if let Some(doctype) = &c.doctype {
                        body.insert("doctype".into(), Value::from(doctype.clone()));
                    }
                    if let Some(definition) = &c.credential_definition {
                        body.insert("credential_definition".into(), definition.clone());
                    }
                }
            }
        }
        match proofs.len() {
            0 => {}
            1 => {
                let jwt = proofs.into_iter().next().unwrap_or_default();
                body.insert(
                    "proof".into(),
                    serde_json::json!({ "proof_type": "jwt", "jwt": jwt }),
                );
            }
            _ => {
                body.insert("proofs".into(), serde_json::json!({ "jwt": proofs }));
            }
        }
        HttpRequest::post_json(
            &self.context.issuer.credential_endpoint,
            &Value::Object(body),
        )
        .header("authorization", self.authorization_header())
        .header("accept", "application/json")
    }

    /// Reads the credential response.
    pub fn handle_credential_response(
        &mut self,
        plan: &CredentialPlan,
        response: HttpResponse,
    ) -> Result<CredentialOutcome> {
        let url = self.context.issuer.credential_endpoint.clone();
        let response = plan.open_response(Endpoint::Credential, &url, response)?;
        if response.status == 400 {
            if let Some(ServerError {
                code: ErrorCode::InvalidNonce,
                ..
            }) = parse_error_body(&response)
            {
                let fresh = serde_json::from_slice::<Value>(&response.body)
                    .ok()
                    .and_then(|v| v.get("c_nonce")?.as_str().map(str::to_string));
                return Ok(CredentialOutcome::InvalidNonce(fresh));
            }
        }
        let (body, c_nonce) = credential_body(Endpoint::Credential, &url, &response)?;
        if c_nonce.is_some() {
            self.c_nonce = c_nonce;
        }
        let bad = |problem: String| Error::UnexpectedResponse {
            endpoint: Endpoint::Credential,
            url: display_url(&url),
            status: response.status,
            problem,
        };
        // 1.0 answers 202; draft 13 answered 200 with a transaction_id.
        let deferred =
            response.status == 202 || (body.transaction_id.is_some() && body.credentials.is_none());
        if deferred {
            let transaction_id = body
                .transaction_id
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad("202 without transaction_id".into()))?;
            if self.context.issuer.deferred_credential_endpoint.is_none() {
                return Err(bad(
                    "deferred issuance, but the metadata has no deferred_credential_endpoint"
                        .into(),
                ));
            }
            let interval = interval(body.interval).map_err(bad)?;
            return Ok(CredentialOutcome::Deferred(DeferredPending {
                authorized: self.clone(),
                plan: plan.clone(),
                transaction_id,
                interval_secs: interval.as_secs(),
                completed: false,
            }));
        }
        let credentials =
            issued_credentials(self, plan, &body).map_err(|r| r.into_error(bad, &body))?;
        Ok(CredentialOutcome::Issued(credentials))
    }

    /// A notification request.
    pub fn notification_request(
        &self,
        notification_id: &str,
        event: NotificationEvent,
        description: Option<&str>,
    ) -> Result<HttpRequest> {
        let url = self
            .context
            .issuer
            .notification_endpoint
            .as_deref()
            .ok_or_else(|| Error::InvalidState("the issuer has no notification_endpoint".into()))?;
        if let Some(d) = description {
            if !d
                .chars()
                .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\')
            {
                return Err(Error::InvalidState(
                    "event_description must be printable ASCII without '\"' and '\\'".into(),
                ));
            }
        }
        let body = NotificationRequest {
            notification_id: notification_id.to_string(),
            event,
            event_description: description.map(str::to_string),
        };
        Ok(HttpRequest::post_json(url, &body).header("authorization", self.authorization_header()))
    }

    /// Reads a notification response (2xx, usually 204).
    pub fn handle_notification_response(&self, response: &HttpResponse) -> Result<()> {
        if response.is_success() {
            return Ok(());
        }
        let url = self
            .context
            .issuer
            .notification_endpoint
            .as_deref()
            .unwrap_or_default();
        Err(error_from_response(Endpoint::Notification, url, response))
    }
}

/// A credential or deferred response body, draft-13 shapes normalised, with
/// the draft-13 `c_nonce` it may carry for the next request.
fn credential_body(
    endpoint: Endpoint,
    url: &str,
    response: &HttpResponse,
) -> Result<(CredentialResponse, Option<String>)> {
    let mut raw: Value = expect_json(endpoint, url, response)?;
    crate::types::draft13::normalize_credential_response(&mut raw);
    let c_nonce = raw
        .get("c_nonce")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let body = parse_json(&serde_json::to_vec(&raw).unwrap_or_default()).map_err(|problem| {
        Error::UnexpectedResponse {
            endpoint,
            url: display_url(url),
            status: response.status,
            problem,
        }
    })?;
    Ok((body, c_nonce))
}

fn interval(value: Option<i64>) -> std::result::Result<Duration, String> {
    match value {
        None => Ok(DEFAULT_DEFERRED_INTERVAL),
        Some(n) if n < 0 => Err(format!("field interval: negative ({n})")),
        Some(n) => Ok(Duration::from_secs(n as u64)),
    }
}

/// A credential as received, with what the wallet checked and decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedCredential {
    /// The configuration it was requested for.
    pub configuration_id: String,
    /// Its format.
    pub format: String,
    /// The credential exactly as issued (a string for SD-JWT, mdoc and JWT
    /// formats; an object for `ldp_vc`).
    pub credential: Value,
    /// For the notification endpoint.
    pub notification_id: Option<String>,
    /// The holder key it is bound to (one of the keys the request used).
    pub holder_jwk: Option<Value>,
    /// The claims: SD-JWT's disclosed claims, a JWT VC's subject, an mdoc's
    /// namespace → element → value.
    pub claims: Option<serde_json::Map<String, Value>>,
    /// Whether the issuer's signature was verified with a trusted key
    /// (`verification.is_verified()`).
    pub signature_verified: bool,
    /// What the wallet established about the issuer's signature.
    #[serde(default = "not_checked")]
    pub verification: Verification,
}

fn not_checked() -> Verification {
    Verification::unverified("not checked")
}

impl IssuedCredential {
    /// The credential as a string (all formats but `ldp_vc`).
    pub fn as_str(&self) -> Option<&str> {
        self.credential.as_str()
    }

    /// The decoded mdoc, for `mso_mdoc`: typed values (dates, byte strings).
    pub fn mdoc(&self) -> Option<Mdoc> {
        (self.format == "mso_mdoc").then(|| Mdoc::parse(self.as_str()?).ok())?
    }

    /// The decoded SD-JWT, for SD-JWT formats.
    pub fn sd_jwt(&self) -> Option<SdJwt> {
        is_sd_jwt(&self.format).then(|| SdJwt::parse(self.as_str()?).ok())?
    }

    /// The disclosed claims with labels from the issuer metadata for the
    /// locales: one entry per claim description whose path resolves, then the
    /// remaining top-level claims under their own names.
    pub fn labelled_claims(
        &self,
        configuration: &crate::types::CredentialConfiguration,
        locales: &[String],
    ) -> Vec<(String, Value)> {
        self.labelled(configuration, locales)
            .into_iter()
            .map(|c| (c.label, c.value))
            .collect()
    }

    /// [`Self::labelled_claims`] with each claim's path and the kind of its
    /// value. Labels are safe to show ([`crate::error::display_text`]);
    /// values are as issued. For an mdoc the paths are `[namespace, element]`, every element
    /// the metadata does not describe follows under its identifier, and the
    /// kinds keep what CBOR typed (dates, byte strings such as a portrait).
    pub fn labelled(
        &self,
        configuration: &crate::types::CredentialConfiguration,
        locales: &[String],
    ) -> Vec<LabelledClaim> {
        let Some(claims) = &self.claims else {
            return Vec::new();
        };
        let mdoc = self.mdoc();
        let kind_at = |path: &[Value], value: &Value| -> ClaimKind {
            let typed = mdoc.as_ref().and_then(|m| match path {
                [Value::String(ns), Value::String(element)] => m
                    .items()
                    .iter()
                    .find(|i| &i.namespace == ns && &i.identifier == element)
                    .map(|i| ClaimKind::of_mdoc(&i.value)),
                _ => None,
            });
            typed.unwrap_or_else(|| ClaimKind::of_json(value))
        };
        let root = Value::Object(claims.clone());
        let mut out = Vec::new();
        let mut covered = std::collections::HashSet::new();
        for description in configuration.claims() {
            let Some(value) = resolve_path(&root, &description.path) else {
                continue;
            };
            let key = match (&mdoc, description.path.as_slice()) {
                (Some(_), [first, second, ..]) => vec![first.clone(), second.clone()],
                (_, [first, ..]) => vec![first.clone()],
                _ => Vec::new(),
            };
            covered.insert(key);
            let label = description
                .label_for(locales)
                .map(|l| crate::error::display_text(l).into_owned())
                .unwrap_or_else(|| {
                    description
                        .path
                        .iter()
                        .map(|p| p.to_string().trim_matches('"').to_string())
                        .collect::<Vec<_>>()
                        .join(".")
                });
            out.push(LabelledClaim {
                kind: kind_at(&description.path, value),
                path: description.path.clone(),
                label,
                value: value.clone(),
            });
        }
        if let Some(mdoc) = &mdoc {
            for item in mdoc.items() {
                let path = vec![
                    Value::String(item.namespace.clone()),
                    Value::String(item.identifier.clone()),
                ];
                if !covered.contains(&path) {
                    out.push(LabelledClaim {
                        path,
                        label: crate::error::display_text(&item.identifier).into_owned(),
                        value: item.value.to_json(),
                        kind: ClaimKind::of_mdoc(&item.value),
                    });
                }
            }
            return out;
        }
        for (k, v) in claims {
            let technical = ["iss", "iat", "exp", "nbf", "vct", "cnf", "status", "sub"];
            let path = vec![Value::String(k.clone())];
            if !covered.contains(&path) && !technical.contains(&k.as_str()) {
                out.push(LabelledClaim {
                    kind: ClaimKind::of_json(v),
                    path,
                    label: crate::error::display_text(k).into_owned(),
                    value: v.clone(),
                });
            }
        }
        out
    }
}

/// A claim for display: where it is, its label in the user's locale, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledClaim {
    /// Its path in the credential (for an mdoc `[namespace, element]`).
    pub path: Vec<Value>,
    /// The label from the issuer metadata in the wallet's locale, or the
    /// claim's own name.
    pub label: String,
    /// The value as JSON (mdoc dates as their text, byte strings base64url).
    pub value: Value,
    /// What kind of value it is.
    pub kind: ClaimKind,
}

/// The kind of a claim's value, so an app can show a date as a date and a
/// portrait as an image.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// `null`.
    Null,
    /// A boolean.
    Bool,
    /// An integer.
    Integer,
    /// A number with a fraction.
    Number,
    /// Text.
    Text,
    /// A calendar date (`YYYY-MM-DD`; mdoc `full-date`).
    Date,
    /// A point in time (RFC 3339; mdoc `tdate`).
    DateTime,
    /// Bytes, shown base64url without padding in JSON (e.g. an mdoc portrait).
    Bytes,
    /// An array.
    Array,
    /// An object or map.
    Object,
}

impl ClaimKind {
    fn of_json(value: &Value) -> Self {
        match value {
            Value::Null => ClaimKind::Null,
            Value::Bool(_) => ClaimKind::Bool,
            Value::Number(n) if n.is_i64() || n.is_u64() => ClaimKind::Integer,
            Value::Number(_) => ClaimKind::Number,
            Value::String(_) => ClaimKind::Text,
            Value::Array(_) => ClaimKind::Array,
            Value::Object(_) => ClaimKind::Object,
        }
    }

    fn of_mdoc(value: &MdocValue) -> Self {
        match value {
            MdocValue::Bool(_) => ClaimKind::Bool,
            MdocValue::Integer(_) => ClaimKind::Integer,
            MdocValue::Float(_) => ClaimKind::Number,
            MdocValue::Text(_) => ClaimKind::Text,
            MdocValue::Bytes(_) => ClaimKind::Bytes,
            MdocValue::Date(_) => ClaimKind::Date,
            MdocValue::DateTime(_) => ClaimKind::DateTime,
            MdocValue::Array(_) => ClaimKind::Array,
            MdocValue::Map(_) => ClaimKind::Object,
            _ => ClaimKind::Null,
        }
    }
}

fn resolve_path<'a>(root: &'a Value, path: &[Value]) -> Option<&'a Value> {
    let mut cur = root;
    for step in path {
        cur = match step {
            Value::String(k) => cur.get(k)?,
            Value::Number(n) => cur.get(usize::try_from(n.as_u64()?).ok()?)?,
            _ => return Some(cur), // null (all elements): show the array itself
        };
    }
    Some(cur)
}

/// An `ldp_vc` credential's claims for display: `{"credentialSubject":
/// {...}}`, so the metadata's `["credentialSubject", name]` paths resolve.
fn ldp_vc_claims(credential: &Value) -> Option<serde_json::Map<String, Value>> {
    let subject = credential.get("credentialSubject")?;
    let subject = match subject {
        // A list of subjects: the first is the holder's.
        Value::Array(list) => list.first()?.clone(),
        other => other.clone(),
    };
    subject.is_object().then(|| {
        let mut claims = serde_json::Map::new();
        claims.insert("credentialSubject".into(), subject);
        claims
    })
}

pub(crate) fn is_sd_jwt(format: &str) -> bool {
    format == "dc+sd-jwt" || format == "vc+sd-jwt"
}

/// Checks the credentials of a 200 response and decodes SD-JWTs: shape per
/// format, count, `vct`, and the `cnf` key being one of ours (matched by key,
/// not by position: issuers may reorder a batch).
/// Why a credential response was refused: its shape (the issuer broke the
/// protocol) or a check of a credential itself.
enum Rejected {
    Shape(String),
    Check(String),
}

impl Rejected {
    fn into_error(self, bad: impl FnOnce(String) -> Error, issued: &CredentialResponse) -> Error {
        match self {
            Rejected::Shape(m) => bad(m),
            Rejected::Check(m) => Error::CredentialCheck(
                CredentialRejection::new(m).with_credentials(
                    issued
                        .credentials
                        .iter()
                        .flatten()
                        .map(|c| c.credential.clone())
                        .collect(),
                    issued.notification_id.clone(),
                ),
            ),
        }
    }
}

fn issued_credentials(
    authorized: &Authorized,
    plan: &CredentialPlan,
    body: &CredentialResponse,
) -> std::result::Result<Vec<IssuedCredential>, Rejected> {
    let list = body
        .credentials
        .as_ref()
        .ok_or_else(|| Rejected::Shape("neither credentials nor transaction_id".into()))?;
    if list.is_empty() {
        return Err(Rejected::Shape("field credentials: empty array".into()));
    }
    let expected = plan.holder_jwks.len().max(1);
    if list.len() > expected {
        return Err(Rejected::Shape(format!(
            "{} credentials for {expected} requested",
            list.len()
        )));
    }
    let configuration = authorized
        .context
        .configuration(&plan.configuration_id)
        .map_err(|e| Rejected::Shape(e.to_string()))?;
    let mut used_keys = vec![false; plan.holder_jwks.len()];
    let mut out = Vec::with_capacity(list.len());
    for (i, object) in list.iter().enumerate() {
        let value = object.credential.clone();
        let string_format = plan.format != "ldp_vc";
        if string_format && value.as_str().is_none_or(str::is_empty) {
            return Err(Rejected::Shape(format!(
                "credentials[{i}].credential: expected a non-empty string for format {}",
                plan.format
            )));
        }
        if !string_format && !value.is_object() {
            return Err(Rejected::Shape(format!(
                "credentials[{i}].credential: expected a JSON object for ldp_vc"
            )));
        }
        let mut issued = IssuedCredential {
            configuration_id: plan.configuration_id.clone(),
            format: plan.format.clone(),
            credential: value,
            notification_id: body.notification_id.clone(),
            holder_jwk: None,
            claims: None,
            signature_verified: false,
            verification: not_checked(),
        };
        if is_sd_jwt(&plan.format) {
            let sd = SdJwt::parse(issued.as_str().unwrap_or_default())
                .map_err(|e| Rejected::Check(format!("credentials[{i}]: {e}")))?;
            if let Some(vct) = &configuration.vct {
                if sd.vct() != Some(vct.as_str()) {
                    return Err(Rejected::Check(format!(
                        "credentials[{i}]: vct {:?} is not the configured {vct:?}",
                        sd.vct().map(|v| sanitize(v, 100))
                    )));
                }
            }
            if plan.needs_proofs() {
                let cnf = sd.holder_jwk().ok_or_else(|| {
                    Rejected::Check(format!(
                        "credentials[{i}]: no cnf.jwk (not bound to our key)"
                    ))
                })?;
                let slot = plan
                    .holder_jwks
                    .iter()
                    .enumerate()
                    .position(|(k, jwk)| !used_keys[k] && crate::jose::same_public_key(jwk, cnf))
                    .ok_or_else(|| {
                        Rejected::Check(format!(
                            "credentials[{i}]: cnf.jwk is not one of the wallet's keys"
                        ))
                    })?;
                used_keys[slot] = true;
                issued.holder_jwk = Some(plan.holder_jwks[slot].clone());
            }
            issued.claims = Some(sd.claims().clone());
        } else if plan.format == "jwt_vc_json" {
            let vc = JwtVc::parse(issued.as_str().unwrap_or_default())
                .map_err(|e| Rejected::Check(format!("credentials[{i}]: {e}")))?;
            match (vc.holder_jwk(), plan.needs_proofs()) {
                (Some(holder), true) => {
                    let slot = plan
                        .holder_jwks
                        .iter()
                        .enumerate()
                        .position(|(k, jwk)| {
                            !used_keys[k] && crate::jose::same_public_key(jwk, &holder)
                        })
                        .ok_or_else(|| {
                            Rejected::Check(format!(
                                "credentials[{i}]: the holder key (cnf.jwk or credentialSubject.id) is not one of the wallet's keys"
                            ))
                        })?;
                    used_keys[slot] = true;
                    issued.holder_jwk = Some(plan.holder_jwks[slot].clone());
                }
                _ if plan.holder_jwks.len() == 1 => {
                    issued.holder_jwk = plan.holder_jwks.first().cloned();
                }
                _ => {}
            }
            issued.claims = Some(vc.claims());
        } else if plan.format == "mso_mdoc" {
            let mdoc = Mdoc::parse(issued.as_str().unwrap_or_default())
                .map_err(|e| Rejected::Check(format!("credentials[{i}]: {e}")))?;
            if let Some(doctype) = &configuration.doctype {
                if mdoc.doc_type() != doctype {
                    return Err(Rejected::Check(format!(
                        "credentials[{i}]: docType {:?} is not the configured {doctype:?}",
                        sanitize(mdoc.doc_type(), 100)
                    )));
                }
            }
            if plan.needs_proofs() {
                let slot = plan
                    .holder_jwks
                    .iter()
                    .enumerate()
                    .position(|(k, jwk)| {
                        !used_keys[k] && crate::jose::same_public_key(jwk, mdoc.device_jwk())
                    })
                    .ok_or_else(|| {
                        Rejected::Check(format!(
                            "credentials[{i}]: deviceKey is not one of the wallet's keys"
                        ))
                    })?;
                used_keys[slot] = true;
                issued.holder_jwk = Some(plan.holder_jwks[slot].clone());
            }
            issued.claims = Some(mdoc.claims());
        } else {
            if plan.holder_jwks.len() == 1 {
                issued.holder_jwk = plan.holder_jwks.first().cloned();
            }
            if plan.format == "ldp_vc" {
                // Shown, not checked: its Data Integrity proof is reported
                // unverified (no well-kept Rust crate for its suites yet).
                issued.claims = ldp_vc_claims(&issued.credential);
                issued.verification = Verification::unverified(
                    "ldp_vc: Data Integrity proofs are not checked by this wallet",
                );
            }
        }
        out.push(issued);
    }
    Ok(out)
}

/// A credential the issuer will deliver later. Poll it with the same access
/// token; save it (JSON) to poll after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferredPending {
    pub(crate) authorized: Authorized,
    pub(crate) plan: CredentialPlan,
    pub(crate) transaction_id: String,
    pub(crate) interval_secs: u64,
    pub(crate) completed: bool,
}

/// What a deferred poll found.
#[derive(Debug)]
pub enum DeferredStatus {
    /// Not ready; wait at least `interval` before polling again.
    Pending {
        /// The issuer's requested wait.
        interval: Duration,
    },
    /// Issued.
    Issued(Vec<IssuedCredential>),
    /// The issuer ended the transaction (`invalid_transaction_id`,
    /// `credential_request_denied`): polling again is pointless.
    Failed(ServerError),
}

impl DeferredPending {
    /// The issuer's last requested wait before the next poll.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }

    /// The configuration being issued.
    pub fn configuration_id(&self) -> &str {
        &self.plan.configuration_id
    }

    /// The authorization this transaction polls with. After a refresh during
    /// polling it holds the newest tokens: notify through
    /// `DeferredPending::notify` (or take it back with `into_authorized`)
    /// rather than through an older copy.
    pub fn authorized(&self) -> &Authorized {
        &self.authorized
    }

    /// The poll request.
    pub fn poll_request(&self, random: &dyn RandomSource) -> Result<HttpRequest> {
        if self.completed {
            return Err(Error::InvalidState(
                "this deferred transaction already completed".into(),
            ));
        }
        let url = self.endpoint()?;
        let body = DeferredRequest {
            transaction_id: self.transaction_id.clone(),
        };
        self.plan.seal_request(
            HttpRequest::post_json(url, &body)
                .header("authorization", self.authorized.authorization_header())
                .header("accept", "application/json"),
            random,
        )
    }

    fn endpoint(&self) -> Result<&str> {
        self.authorized
            .context
            .issuer
            .deferred_credential_endpoint
            .as_deref()
            .ok_or_else(|| {
                Error::InvalidState("the issuer has no deferred_credential_endpoint".into())
            })
    }

    /// Reads a poll response.
    pub fn handle_poll_response(&mut self, response: HttpResponse) -> Result<DeferredStatus> {
        let url = self.endpoint()?.to_string();
        let response = self
            .plan
            .open_response(Endpoint::Deferred, &url, response)?;
        if !response.is_success() {
            return match parse_error_body(&response) {
                // Draft 13: still pending, with an optional interval.
                Some(e) if e.code == ErrorCode::IssuancePending => {
                    let interval = serde_json::from_slice::<Value>(&response.body)
                        .ok()
                        .and_then(|v| v.get("interval")?.as_i64())
                        .filter(|n| *n >= 0)
                        .map(|n| Duration::from_secs(n as u64))
                        .unwrap_or(DEFAULT_DEFERRED_INTERVAL);
                    self.interval_secs = interval.as_secs();
                    Ok(DeferredStatus::Pending { interval })
                }
                Some(e)
                    if matches!(
                        e.code,
                        ErrorCode::InvalidTransactionId | ErrorCode::CredentialRequestDenied
                    ) =>
                {
                    self.completed = true;
                    Ok(DeferredStatus::Failed(e))
                }
                _ => Err(error_from_response(Endpoint::Deferred, &url, &response)),
            };
        }
        let (body, _) = credential_body(Endpoint::Deferred, &url, &response)?;
        let bad = |problem: String| Error::UnexpectedResponse {
            endpoint: Endpoint::Deferred,
            url: display_url(&url),
            status: response.status,
            problem,
        };
        if response.status == 202 {
            let interval = interval(body.interval).map_err(bad)?;
            self.interval_secs = interval.as_secs();
            return Ok(DeferredStatus::Pending { interval });
        }
        let credentials = issued_credentials(&self.authorized, &self.plan, &body)
            .map_err(|r| r.into_error(bad, &body))?;
        self.completed = true;
        Ok(DeferredStatus::Issued(credentials))
    }

    /// Saves the state as JSON (it contains the access token: store it securely).
    pub fn to_json(&self) -> Result<String> {
        super::session::save_state(super::session::SavedKind::DeferredPending, self)
    }

    /// Restores a state saved with [`Self::to_json`]. Fails with
    /// [`Error::InvalidState`] naming what is wrong when the JSON is not a
    /// saved deferred transaction.
    pub fn from_json(json: &str) -> Result<Self> {
        super::session::restore_state(super::session::SavedKind::DeferredPending, json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::OsRandom;
    use serde_json::json;

    fn issuer(response: Value, request: Value) -> crate::types::IssuerMetadata {
        let mut md = json!({
            "credential_issuer": "https://i.example",
            "credential_endpoint": "https://i.example/credential",
            "credential_configurations_supported": {}
        });
        if !response.is_null() {
            md["credential_response_encryption"] = response;
        }
        if !request.is_null() {
            md["credential_request_encryption"] = request;
        }
        serde_json::from_value(md).unwrap()
    }

    fn issuer_key() -> Value {
        let key = ResponseEncryption::generate(ContentEncryption::A128Gcm);
        let mut jwk = key.request_parameter().unwrap()["jwk"].clone();
        jwk["kid"] = json!("enc-1");
        jwk
    }

    #[test]
    fn encryption_is_used_when_offered_and_refused_only_when_required_and_impossible() {
        let response = |algs: Value, required: bool| json!({"alg_values_supported": algs, "enc_values_supported": ["A256GCM", "A128GCM"], "encryption_required": required});
        let request = |keys: Value| json!({"jwks": {"keys": keys}, "enc_values_supported": ["A128GCM"], "encryption_required": false});
        // Offered and speakable: used, with the issuer's first enc.
        let plan = PlannedEncryption::for_issuer(
            &issuer(
                response(json!(["ECDH-ES"]), false),
                request(json!([issuer_key()])),
            ),
            &OsRandom,
        )
        .unwrap()
        .unwrap();
        assert_eq!(plan.response.enc(), ContentEncryption::A256Gcm);
        assert_eq!(plan.request_enc, ContentEncryption::A128Gcm);
        assert_eq!(plan.issuer_key["kid"], "enc-1");

        // Not offered, or offered with algorithms the wallet lacks: plain.
        assert!(
            PlannedEncryption::for_issuer(&issuer(Value::Null, Value::Null), &OsRandom)
                .unwrap()
                .is_none()
        );
        assert!(PlannedEncryption::for_issuer(
            &issuer(
                response(json!(["ECDH-ES+A256KW"]), false),
                request(json!([issuer_key()])),
            ),
            &OsRandom
        )
        .unwrap()
        .is_none());
        // An RSA issuer key only: nothing to encrypt the request to.
        let rsa = json!([{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]);
        assert!(PlannedEncryption::for_issuer(
            &issuer(response(json!(["ECDH-ES"]), false), request(rsa.clone())),
            &OsRandom
        )
        .unwrap()
        .is_none());

        // Required but impossible: a metadata error naming the fields.
        let err = PlannedEncryption::for_issuer(
            &issuer(response(json!(["ECDH-ES"]), true), request(rsa)),
            &OsRandom,
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Metadata { problem, .. } if problem.contains("credential_response_encryption")),
            "{err}"
        );
    }

    #[test]
    fn key_attestations_required_is_refused_before_any_request() {
        let authorized: Authorized = serde_json::from_value(json!({
            "context": {
                "issuer": {
                    "credential_issuer": "https://i.example",
                    "credential_endpoint": "https://i.example/credential",
                    "credential_configurations_supported": {
                        "pid": {
                            "format": "dc+sd-jwt",
                            "vct": "urn:pid",
                            "cryptographic_binding_methods_supported": ["jwk"],
                            "proof_types_supported": {"jwt": {
                                "proof_signing_alg_values_supported": ["ES256"],
                                "key_attestations_required": {"key_storage": ["iso_18045_high"]}
                            }}
                        }
                    }
                },
                "authorization_server": {"issuer": "https://i.example", "token_endpoint": "https://i.example/token"}
            },
            "offered": ["pid"],
            "token": {"access_token": "at", "token_type": "Bearer", "expires_at": null,
                      "refresh_token": null, "authorization_details": []},
            "client_id": null,
            "c_nonce": null
        }))
        .unwrap();
        let signer = crate::jose::SoftwareSigner::generate();
        let err = authorized
            .plan_credential(
                "pid",
                &[&signer],
                &OsRandom,
                crate::flow::Capabilities::default(),
            )
            .unwrap_err();
        assert!(
            matches!(&err, Error::Proof(m) if m.kind == crate::error::ProofErrorKind::KeyAttestationRequired),
            "{err}"
        );
    }

    #[test]
    fn ldp_vc_subjects_are_shown_as_credential_subject_claims() {
        let vc = serde_json::json!({
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiableCredential"],
            "credentialSubject": [{"id": "did:example:1", "given_name": "Erika"}, {"id": "x"}],
            "proof": {"type": "DataIntegrityProof"}
        });
        let claims = ldp_vc_claims(&vc).unwrap();
        assert_eq!(claims["credentialSubject"]["given_name"], "Erika");
        assert!(ldp_vc_claims(&serde_json::json!({"credentialSubject": "x"})).is_none());
        assert!(ldp_vc_claims(&serde_json::json!({})).is_none());
    }

    #[test]
    fn sealed_requests_and_opened_responses() {
        let server_key = ResponseEncryption::generate(ContentEncryption::A128Gcm);
        let plan = CredentialPlan {
            configuration_id: "pid".into(),
            credential_identifier: None,
            format: "dc+sd-jwt".into(),
            holder_jwks: vec![],
            encryption: Some(PlannedEncryption {
                issuer_key: server_key.request_parameter().unwrap()["jwk"].clone(),
                request_enc: ContentEncryption::A128Gcm,
                response: ResponseEncryption::generate(ContentEncryption::A256Gcm),
            }),
            key_attestation: false,
            proof_type: ProofType::Jwt,
        };
        let request = plan
            .seal_request(
                HttpRequest::post_json("https://i.example/credential", &json!({"a": 1}))
                    .header("authorization", "Bearer t"),
                &OsRandom,
            )
            .unwrap();
        let header = |name: &str| {
            request
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(header("content-type"), ["application/jwt"]);
        assert_eq!(header("authorization"), ["Bearer t"]);
        let inner: Value = serde_json::from_slice(
            &server_key
                .decrypt(std::str::from_utf8(&request.body).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(inner["a"], 1);
        let wallet_jwk = &inner["credential_response_encryption"]["jwk"];
        assert_eq!(inner["credential_response_encryption"]["enc"], "A256GCM");

        // The issuer's encrypted answer opens; a plain 200 is refused; an
        // error passes through untouched.
        let jwe = jwe::encrypt(
            wallet_jwk,
            ContentEncryption::A256Gcm,
            br#"{"ok":true}"#,
            &OsRandom,
        )
        .unwrap();
        let answer = HttpResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "application/jwt".into())],
            body: jwe.into_bytes(),
        };
        let opened = plan
            .open_response(Endpoint::Credential, "https://i.example/credential", answer)
            .unwrap();
        assert_eq!(opened.body, br#"{"ok":true}"#);
        let plain = HttpResponse::json(200, &json!({"credentials": []}));
        let err = plan
            .open_response(Endpoint::Credential, "https://i.example/credential", plain)
            .unwrap_err();
        assert!(err.to_string().contains("not a JWE"), "{err}");
        let error = HttpResponse::json(400, &json!({"error": "invalid_proof"}));
        assert_eq!(
            plan.open_response(Endpoint::Credential, "u", error.clone())
                .unwrap(),
            error
        );
    }
}
