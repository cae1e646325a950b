//! What a credential request will be, worked out before anything is sent:
//! whether the wallet can finish an issuance from the metadata alone
//! (refuse before spending, SPEC A16), and the plan of one request (proof
//! type and algorithm, batch size, key attestations, encryption).

use super::authorized::Authorized;
use super::discovery::DiscoveredMetadata;
use super::encryption::PlannedEncryption;
use crate::error::{display_url, sanitize, Endpoint, Error, Result};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::jwe::{self};
use crate::jose::{RandomSource, Signer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

impl DiscoveredMetadata {
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

    /// What to request from an offer, decided before anything is spent
    /// (SPEC A16): the configurations the app `named`, each of which this
    /// wallet must be able to finish (else the first that cannot is the
    /// error), or else every `offered` one it can finish, beside the reason
    /// for each it cannot. An error when none of them can be finished.
    pub fn choose_configurations(
        &self,
        offered: &[String],
        named: Option<&[String]>,
        capabilities: super::Capabilities,
    ) -> Result<ChosenConfigurations> {
        if let Some(named) = named {
            for id in named {
                self.can_issue(id, capabilities)?;
            }
            return Ok(ChosenConfigurations {
                request: named.to_vec(),
                not_requested: Vec::new(),
            });
        }
        self.can_issue_any(offered, capabilities)?;
        let mut chosen = ChosenConfigurations {
            request: Vec::new(),
            not_requested: Vec::new(),
        };
        for id in offered {
            match self.can_issue(id, capabilities) {
                Ok(()) => chosen.request.push(id.clone()),
                Err(e) => chosen.not_requested.push((id.clone(), e.to_string())),
            }
        }
        Ok(chosen)
    }

    /// How many fresh keys one request of `configuration_id` takes when the
    /// app allows up to `cap`: none for a configuration that is not key
    /// bound, else `cap` within the issuer's `batch_size` (1 when it
    /// declares none), and at least 1.
    pub fn batch_keys(&self, configuration_id: &str, cap: usize) -> Result<usize> {
        let configuration = self.configuration(configuration_id)?;
        let bound = configuration
            .proof_types_supported
            .as_ref()
            .is_some_and(|types| types.contains_key("jwt") || types.contains_key("attestation"));
        if !bound {
            return Ok(0);
        }
        let issuer = self
            .issuer
            .batch_credential_issuance
            .as_ref()
            .map_or(1, |b| b.batch_size as usize);
        Ok(cap.min(issuer).max(1))
    }
}

/// What [`DiscoveredMetadata::choose_configurations`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenConfigurations {
    /// The configuration ids to request, in order.
    pub request: Vec<String>,
    /// Offered configurations this wallet cannot finish, each with the reason.
    pub not_requested: Vec<(String, String)>,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Capabilities;
    use crate::jose::OsRandom;
    use serde_json::json;

    /// An issuer with `batch_size` 2 offering a key-bound configuration that
    /// needs key attestations, one that does not, and an unbound one.
    fn three_configurations() -> DiscoveredMetadata {
        serde_json::from_value(json!({
            "issuer": {
                "credential_issuer": "https://i.example",
                "credential_endpoint": "https://i.example/credential",
                "batch_credential_issuance": {"batch_size": 2},
                "credential_configurations_supported": {
                    "attested": {"format": "dc+sd-jwt", "vct": "urn:a",
                        "cryptographic_binding_methods_supported": ["jwk"],
                        "proof_types_supported": {"attestation": {
                            "proof_signing_alg_values_supported": ["ES256"]}}},
                    "bound": {"format": "dc+sd-jwt", "vct": "urn:b",
                        "cryptographic_binding_methods_supported": ["jwk"],
                        "proof_types_supported": {"jwt": {
                            "proof_signing_alg_values_supported": ["ES256"]}}},
                    "unbound": {"format": "dc+sd-jwt", "vct": "urn:u"}
                }
            },
            "authorization_server": {"issuer": "https://i.example", "token_endpoint": "https://i.example/token"}
        }))
        .unwrap()
    }

    #[test]
    fn what_to_request_is_chosen_before_spending_with_the_reason_for_the_rest() {
        let context = three_configurations();
        let offered: Vec<String> = ["attested", "bound", "unbound"].map(String::from).into();
        let none = Capabilities::default();
        let chosen = context.choose_configurations(&offered, None, none).unwrap();
        assert_eq!(chosen.request, ["bound", "unbound"]);
        assert_eq!(chosen.not_requested.len(), 1);
        assert_eq!(chosen.not_requested[0].0, "attested");
        assert!(
            chosen.not_requested[0].1.contains("key attestation"),
            "{chosen:?}"
        );

        // With a key attestation provider every one can be finished.
        let with = Capabilities {
            key_attestations: true,
        };
        let chosen = context.choose_configurations(&offered, None, with).unwrap();
        assert_eq!(chosen.request, offered);
        assert!(chosen.not_requested.is_empty());

        // A configuration the app named and the wallet cannot finish is the
        // error; none that can be finished is an error too.
        let named = ["bound".to_string(), "attested".to_string()];
        let err = context
            .choose_configurations(&offered, Some(&named), none)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Proof(p) if p.kind == crate::error::ProofErrorKind::KeyAttestationRequired),
            "{err:?}"
        );
        let err = context
            .choose_configurations(&["attested".to_string()], None, none)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Proof(p) if p.kind == crate::error::ProofErrorKind::KeyAttestationRequired),
            "{err:?}"
        );
    }

    #[test]
    fn a_batch_takes_the_apps_cap_within_the_issuers_batch_size() {
        let context = three_configurations();
        assert_eq!(context.batch_keys("bound", 3).unwrap(), 2);
        assert_eq!(context.batch_keys("bound", 1).unwrap(), 1);
        assert_eq!(context.batch_keys("bound", 0).unwrap(), 1);
        assert_eq!(context.batch_keys("attested", 3).unwrap(), 2);
        assert_eq!(context.batch_keys("unbound", 3).unwrap(), 0);
        assert!(context.batch_keys("unknown", 3).is_err());
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
}
