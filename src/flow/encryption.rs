//! Credential request and response encryption (OID4VCI 1.0 section 10):
//! what the issuer offers or requires, and the keys the wallet uses.

use crate::error::{Error, Result};
use crate::jose::jwe::{self, ContentEncryption, ResponseEncryption};
use crate::jose::RandomSource;
use crate::types::SpecVersion;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Endpoint;
    use crate::flow::plan::{CredentialPlan, ProofType};
    use crate::http::{HttpRequest, HttpResponse};
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
