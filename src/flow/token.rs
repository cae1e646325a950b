//! The token endpoint: the pre-authorized code grant (OID4VCI 1.0 section 6).

use super::{expect_json, EngineConfig, Exchange, Progress};
use crate::error::{display_url, sanitize, Endpoint, Error, Result};
use crate::http::{HttpRequest, HttpResponse};
use crate::types::{
    PkceVerifier, PreAuthorizedCode, RefreshToken, TokenResponse, TxCode, PRE_AUTHORIZED_GRANT_TYPE,
};

/// A token request. Holds secrets; its `Debug` shows only the URL and grant.
#[derive(Clone)]
pub struct TokenExchange {
    url: String,
    grant_type: &'static str,
    fields: Vec<(&'static str, String)>,
    dpop: bool,
}

impl std::fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchange")
            .field("url", &self.url)
            .field("grant_type", &self.grant_type)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl TokenExchange {
    /// A pre-authorized code token request. `tx_code` is sent if and only if
    /// given; `client_id` only for non-anonymous access.
    pub fn pre_authorized(
        token_endpoint: &str,
        code: &PreAuthorizedCode,
        tx_code: Option<&TxCode>,
        client_id: Option<&str>,
    ) -> Self {
        let mut fields = vec![("pre-authorized_code", code.secret().to_string())];
        if let Some(tx) = tx_code {
            fields.push(("tx_code", tx.secret().to_string()));
        }
        if let Some(id) = client_id {
            fields.push(("client_id", id.to_string()));
        }
        Self {
            url: token_endpoint.to_string(),
            grant_type: PRE_AUTHORIZED_GRANT_TYPE,
            fields,
            dpop: false,
        }
    }
}

impl TokenExchange {
    /// An authorization code token request with the PKCE verifier.
    pub fn authorization_code(
        token_endpoint: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &PkceVerifier,
        client_id: &str,
    ) -> Self {
        Self {
            url: token_endpoint.to_string(),
            grant_type: "authorization_code",
            fields: vec![
                ("code", code.to_string()),
                ("redirect_uri", redirect_uri.to_string()),
                ("code_verifier", verifier.secret().to_string()),
                ("client_id", client_id.to_string()),
            ],
            dpop: false,
        }
    }

    /// A refresh token request.
    pub fn refresh(
        token_endpoint: &str,
        refresh_token: &RefreshToken,
        client_id: Option<&str>,
    ) -> Self {
        let mut fields = vec![("refresh_token", refresh_token.secret().to_string())];
        if let Some(id) = client_id {
            fields.push(("client_id", id.to_string()));
        }
        Self {
            url: token_endpoint.to_string(),
            grant_type: "refresh_token",
            fields,
            dpop: false,
        }
    }

    /// Marks the request as sent with a DPoP proof, so a `DPoP` token type is
    /// accepted (without a proof it is refused: the token would be unusable).
    pub fn with_dpop(mut self, on: bool) -> Self {
        self.dpop = on;
        self
    }
}

impl Exchange for TokenExchange {
    type Output = TokenResponse;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Token
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        let mut form: Vec<(&str, &str)> = vec![("grant_type", self.grant_type)];
        form.extend(self.fields.iter().map(|(k, v)| (*k, v.as_str())));
        Ok(HttpRequest::post_form(&self.url, &form).header("accept", "application/json"))
    }

    fn handle_response(
        self,
        response: HttpResponse,
        _config: &EngineConfig,
    ) -> Result<Progress<Self, TokenResponse>> {
        let token: TokenResponse = expect_json(Endpoint::Token, &self.url, &response)?;
        let bad = |problem: String| Error::UnexpectedResponse {
            endpoint: Endpoint::Token,
            url: display_url(&self.url),
            status: response.status,
            problem,
        };
        if token.access_token.secret().is_empty() {
            return Err(bad("field access_token: empty".into()));
        }
        let dpop = token.token_type.eq_ignore_ascii_case("dpop");
        if !(token.token_type.eq_ignore_ascii_case("bearer") || dpop && self.dpop) {
            let what = if dpop {
                "DPoP-bound token, but the authorization server does not advertise DPoP with ES256 (dpop_signing_alg_values_supported), so no proof was sent".to_string()
            } else {
                format!("unknown token_type {:?}", sanitize(&token.token_type, 32))
            };
            return Err(bad(format!("field token_type: {what}")));
        }
        Ok(Progress::Done(token))
    }
}

/// Fetching an attestation challenge from the authorization server's
/// `challenge_endpoint` (POST, empty body, `{"attestation_challenge": ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeExchange {
    url: String,
}

impl ChallengeExchange {
    /// A challenge request to `url`.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
        }
    }
}

#[derive(serde::Deserialize)]
struct ChallengeResponse {
    attestation_challenge: String,
}

impl Exchange for ChallengeExchange {
    type Output = String;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Challenge
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(
            HttpRequest::post(&self.url, "application/x-www-form-urlencoded", Vec::new())
                .header("accept", "application/json"),
        )
    }

    fn handle_response(
        self,
        response: HttpResponse,
        _config: &EngineConfig,
    ) -> Result<Progress<Self, String>> {
        let body: ChallengeResponse = expect_json(Endpoint::Challenge, &self.url, &response)?;
        let challenge = crate::jose::attestation::valid_challenge(&body.attestation_challenge)
            .ok_or_else(|| Error::UnexpectedResponse {
                endpoint: Endpoint::Challenge,
                url: display_url(&self.url),
                status: response.status,
                problem: "field attestation_challenge: empty, too long or not printable ASCII"
                    .into(),
            })?;
        Ok(Progress::Done(challenge))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_has_exactly_the_right_fields() {
        let cfg = EngineConfig::default();
        let code = PreAuthorizedCode::new("c0de");
        let with = TokenExchange::pre_authorized(
            "https://as/token",
            &code,
            Some(&TxCode::new("1234")),
            None,
        );
        let body = String::from_utf8(with.prepare_request(&cfg).unwrap().body).unwrap();
        assert_eq!(
            body,
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code&pre-authorized_code=c0de&tx_code=1234"
        );
        let without = TokenExchange::pre_authorized("https://as/token", &code, None, Some("w"));
        let body = String::from_utf8(without.prepare_request(&cfg).unwrap().body).unwrap();
        assert!(!body.contains("tx_code") && body.ends_with("client_id=w"));
        assert!(!format!("{without:?}").contains("c0de"));
    }

    #[test]
    fn token_type_is_case_insensitive_and_checked() {
        let cfg = EngineConfig::default();
        let step = || {
            TokenExchange::pre_authorized(
                "https://as/token",
                &PreAuthorizedCode::new("c"),
                None,
                None,
            )
        };
        let ok = step().handle_response(
            HttpResponse::json(200, &json!({"access_token":"a","token_type":"bEaReR"})),
            &cfg,
        );
        assert!(matches!(ok, Ok(Progress::Done(t)) if t.expires_in.is_none()));
        let weird = step().handle_response(
            HttpResponse::json(200, &json!({"access_token":"a","token_type":"mac"})),
            &cfg,
        );
        assert!(
            matches!(weird, Err(Error::UnexpectedResponse { problem, .. }) if problem.contains("token_type"))
        );
        let dpop_token =
            || HttpResponse::json(200, &json!({"access_token":"a","token_type":"DPoP"}));
        let unproven = step().handle_response(dpop_token(), &cfg);
        assert!(
            matches!(unproven, Err(Error::UnexpectedResponse { problem, .. }) if problem.contains("DPoP"))
        );
        let proven = step().with_dpop(true).handle_response(dpop_token(), &cfg);
        assert!(matches!(proven, Ok(Progress::Done(t)) if t.token_type == "DPoP"));
        let err = step().handle_response(
            HttpResponse::json(400, &json!({"error":"invalid_grant"})),
            &cfg,
        );
        assert!(
            matches!(err, Err(Error::Server { error, .. }) if error.code == crate::error::ErrorCode::InvalidGrant)
        );
    }
}
