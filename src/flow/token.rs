//! The token endpoint: the pre-authorized code grant (OID4VCI 1.0 section 6;
//! drafts 11 and 12 call the transaction code `user_pin`).

use super::authorized::Authorized;
use super::credential::{protection, Step};
use super::protection::AttestationChallenges;
use super::protection::{Guard, Verdict};
use super::{expect_json, EngineConfig, Exchange, Flow, Progress};
use crate::error::{display_url, sanitize, Endpoint, Error, Result};
use crate::error::{ErrorCode, TxCodeErrorKind};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::ClientAttestation;
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
    /// A transaction code is in `fields`: a refused grant is a refused code.
    tx_code_sent: bool,
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
            tx_code_sent: tx_code.is_some(),
        }
    }

    /// Drafts 11 and 12: the transaction code is sent as `user_pin` (their
    /// token endpoints know no `tx_code`).
    pub(crate) fn tx_code_as_user_pin(mut self) -> Self {
        for (name, _) in &mut self.fields {
            if *name == "tx_code" {
                *name = "user_pin";
            }
        }
        self
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
            tx_code_sent: false,
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
            tx_code_sent: false,
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
        let token: TokenResponse = match expect_json(Endpoint::Token, &self.url, &response) {
            // The authorization server decides; the wallet only names it: a
            // refused grant whose request carried the user's code is a
            // refused code (`invalid_tx_code`, or `invalid_grant` from
            // servers that do not distinguish the two).
            Err(Error::Server { status, error, .. })
                if self.tx_code_sent
                    && matches!(
                        error.code,
                        ErrorCode::InvalidTxCode | ErrorCode::InvalidGrant
                    ) =>
            {
                return Err(Error::tx_code(
                    TxCodeErrorKind::Rejected,
                    format!(
                        "the authorization server at {} refused the transaction code ({status} {error})",
                        display_url(&self.url)
                    ),
                ));
            }
            other => other?,
        };
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

/// An `invalid_token` answer (401) from a resource endpoint.
pub(crate) fn is_invalid_token(e: &Error) -> bool {
    matches!(e, Error::Server { status: 401, error, .. } if error.code == ErrorCode::InvalidToken)
}

/// A request that presents the access token, other than the credential
/// request: a deferred poll, a notification. [`WithToken`] runs it with the
/// token rules (refresh first when expired, once after `invalid_token`) and
/// the request's own retry.
pub trait TokenRequest {
    /// What it produces.
    type Output;
    /// Which endpoint it goes to.
    fn endpoint(&self) -> Endpoint;
    /// The authorization whose token it presents.
    fn authorized(&mut self) -> &mut Authorized;
    /// The request, without the token's DPoP proof (the flow adds it).
    fn prepare(&mut self, config: &EngineConfig) -> Result<HttpRequest>;
    /// Reads the response.
    fn handle(&mut self, response: HttpResponse) -> Result<Self::Output>;
    /// Whether `failure` is worth one more try, and after how long.
    fn retry_after(&self, failure: &Error) -> Option<std::time::Duration> {
        let _ = failure;
        None
    }
}

/// A [`TokenRequest`] run to its end.
pub struct WithToken<'a, R> {
    request: R,
    attestation: Option<(&'a ClientAttestation, &'a AttestationChallenges)>,
    refresh: Option<TokenExchange>,
    refreshed: bool,
    retried: bool,
    first_failure: Option<Error>,
    wait: Option<std::time::Duration>,
    guard: Guard,
}

impl<'a, R: TokenRequest> WithToken<'a, R> {
    /// Starts with a refresh when the token has expired (and can be
    /// refreshed).
    pub fn new(
        mut request: R,
        attestation: Option<(&'a ClientAttestation, &'a AttestationChallenges)>,
        now: u64,
    ) -> Self {
        let authorized = request.authorized();
        let refresh = authorized
            .refresh_exchange()
            .filter(|_| authorized.token_expired(now));
        Self {
            request,
            attestation,
            refresh,
            refreshed: false,
            retried: false,
            first_failure: None,
            wait: None,
            guard: Guard::default(),
        }
    }

    fn step(&self) -> Step {
        match &self.refresh {
            Some(refresh) => Step::Refresh(refresh.clone()),
            None => Step::Credential(None),
        }
    }

    fn failed(mut self, failure: Error) -> Result<Progress<Self, R::Output>> {
        if !self.retried {
            if let Some(pause) = self.request.retry_after(&failure) {
                tracing::debug!(endpoint = %self.request.endpoint(), "failed, retrying once");
                self.retried = true;
                self.wait = Some(pause);
                self.first_failure = Some(failure);
                self.guard.reset();
                return Ok(Progress::Again(self));
            }
        }
        Err(failure)
    }
}

impl<R: TokenRequest> Flow for WithToken<'_, R> {
    type Output = R::Output;

    fn prepare_request(
        &mut self,
        config: &EngineConfig,
        now: u64,
    ) -> Result<(Endpoint, HttpRequest)> {
        self.wait = None;
        let step = self.step();
        let endpoint = self.request.endpoint();
        let request = match &step {
            Step::Refresh(refresh) => refresh.prepare_request(config)?,
            _ => self.request.prepare(config)?,
        };
        let protection = protection(self.request.authorized(), &step, self.attestation);
        let endpoint = match step {
            Step::Refresh(_) => Endpoint::Token,
            _ => endpoint,
        };
        self.guard
            .prepare(&protection, endpoint, || Ok(request), config, now)
    }

    fn handle_response(
        mut self,
        response: HttpResponse,
        config: &EngineConfig,
        now: u64,
    ) -> Result<Progress<Self, R::Output>> {
        let step = self.step();
        let endpoint = match step {
            Step::Refresh(_) => Endpoint::Token,
            _ => self.request.endpoint(),
        };
        let mut protection = protection(self.request.authorized(), &step, self.attestation);
        let response = match self
            .guard
            .observe(&mut protection, endpoint, response, config)?
        {
            Verdict::Resend => return Ok(Progress::Again(self)),
            Verdict::Pass(response) => response,
        };
        if let Some(refresh) = self.refresh.take() {
            match refresh.handle_response(response, config)? {
                Progress::Done(token) => self.request.authorized().apply_refresh(token, now),
                Progress::Again(again) => self.refresh = Some(again),
            }
            self.guard.reset();
            return Ok(Progress::Again(self));
        }
        match self.request.handle(response) {
            Ok(output) => Ok(Progress::Done(output)),
            Err(e) if !self.refreshed && is_invalid_token(&e) => {
                match self.request.authorized().refresh_exchange() {
                    Some(refresh) => {
                        self.refreshed = true;
                        self.refresh = Some(refresh);
                        self.guard.reset();
                        Ok(Progress::Again(self))
                    }
                    None => Err(e),
                }
            }
            Err(e) => self.failed(e),
        }
    }

    fn handle_transport_error(mut self, error: Error) -> Result<Progress<Self, R::Output>> {
        match self.first_failure.take() {
            // The retry could not be sent either: the first failure says more.
            Some(first) => Err(first),
            None => self.failed(error),
        }
    }

    fn wait(&self) -> Option<std::time::Duration> {
        self.wait
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
        let draft11 = with.clone().tx_code_as_user_pin();
        let body = String::from_utf8(draft11.prepare_request(&cfg).unwrap().body).unwrap();
        assert!(
            body.ends_with("&pre-authorized_code=c0de&user_pin=1234") && !body.contains("tx_code"),
            "{body}"
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
